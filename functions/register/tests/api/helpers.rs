//! What the register tests share: the handler, and the function assembled as `main` assembles
//! it.

use register::{Deps, Settings};
use shared::testing::{Fixture, call};

/// The handler under test; every response is also recorded for the OpenAPI contract check.
pub async fn handle(
    deps: &Deps,
    req: lambda_http::Request,
) -> lambda_http::Response<lambda_http::Body> {
    call(register::handle, deps, req).await
}

/// The function assembled as `main` assembles it, from the fixture's parts.
pub fn deps_from(f: &Fixture) -> Deps {
    Deps::build(Settings::from_vars(f.vars()).unwrap(), f.store(), f.clock()).unwrap()
}
