//! The floor plus one signature verification: `floor`'s fixed answer, after checking the
//! request's bearer token as `jsonwebtoken` checks it (`decode_header`, then `decode` with the
//! settings `protected` checks by, through RustCrypto, `protected`'s backend:
//! `Tokens::verify_with_jsonwebtoken`), and nothing else: no logging, no answer of its own. A
//! refused token is a 401, so a bench run that checked nothing would show. It is the yardstick
//! of `protected`'s warm target: `make bench` invokes `floor-bearer`, this and `protected` in
//! turn, so what one verification costs inside a warm invocation shows beside the in-process
//! figure (`docs/performance.md`). It checks through the library rather than `protected`'s
//! faster `Tokens::verify`, so that the yardstick does not move with the function it measures.
//! Not deployed.

use std::sync::Arc;

use lambda_http::http::StatusCode;
use lambda_http::{Error, Response, run, service_fn};
use shared::config::{TokenConfig, Vars};
use shared::http::bearer_token;
use shared::keys;
use shared::token::Tokens;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let vars = Vars::env();
    let tokens = Tokens::new(
        &TokenConfig::from_vars(&vars)?,
        Arc::new(keys::load_public(&vars).await?),
    );
    let tokens = &tokens;
    run(service_fn(move |req| async move {
        let verified = bearer_token(&req, "floor")
            .ok()
            .and_then(|token| tokens.verify_with_jsonwebtoken(token).ok());
        if verified.is_none() {
            return Ok(Response::builder()
                .status(StatusCode::UNAUTHORIZED)
                .body(lambda_http::Body::Empty)?);
        }
        floor::handle(req).await
    }))
    .await
}
