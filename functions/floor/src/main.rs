//! The floor `make bench` measures every function against: a `lambda_http` handler that returns
//! a fixed 200 JSON body and does nothing else. Not deployed.

use lambda_http::http::{StatusCode, header};
use lambda_http::{Body, Error, Request, Response, run, service_fn};

async fn handle(_req: Request) -> Result<Response<Body>, Error> {
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"ok":true}"#))?)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    run(service_fn(handle)).await
}
