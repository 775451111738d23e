//! The floor's handler: a fixed 200 JSON body and nothing else. `floor` serves it alone;
//! `floor-sdk` serves it after the SDK set-up.

use lambda_http::http::{StatusCode, header};
use lambda_http::{Body, Error, Request, Response};

/// The fixed answer.
pub async fn handle(_req: Request) -> Result<Response<Body>, Error> {
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"ok":true}"#))?)
}
