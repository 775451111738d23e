//! The HTTP API's `$default` route: a JSON 404 for unknown paths and a JSON 405 with `Allow` for
//! known paths called with the wrong method, instead of API Gateway's `{"message":"Not Found"}`.

use lambda_http::{Body, Request, Response};
use shared::routes::allowed_methods;
use shared::{ApiError, RequestMeta};

/// Nothing to build: the route table is static.
pub struct Deps;

/// Handles one request.
pub async fn handle(_deps: &Deps, req: Request) -> Response<Body> {
    let meta = RequestMeta::of(&req);
    let error = match allowed_methods(req.uri().path()) {
        Some(allow) => ApiError::MethodNotAllowed { allow },
        None => ApiError::NotFound,
    };
    error.into_response(&meta)
}
