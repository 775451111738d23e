//! The floor plus one token check: `floor`'s fixed answer, after checking the request's bearer
//! token exactly as `protected` does (`shared::http::authenticate`, through RustCrypto), and
//! nothing else: no logging, no answer of its own. A refused token is a 401, so a bench run
//! that checked nothing would show. `make bench` invokes it in alternation with `floor-bearer`,
//! like `protected`, so what one verification costs inside a warm invocation shows beside the
//! in-process figure (`docs/performance.md`). Not deployed.

use std::sync::Arc;

use lambda_http::http::StatusCode;
use lambda_http::{Error, Response, run, service_fn};
use shared::config::{TokenConfig, Vars};
use shared::http::authenticate;
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
        if authenticate(&req, tokens, "floor").is_err() {
            return Ok(Response::builder()
                .status(StatusCode::UNAUTHORIZED)
                .body(lambda_http::Body::Empty)?);
        }
        floor::handle(req).await
    }))
    .await
}
