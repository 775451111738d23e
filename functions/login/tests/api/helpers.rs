//! What the login tests share: the handler, the function assembled as `main` assembles it, and
//! the requests and users they send it.

use login::{Deps, Settings};
use serde_json::json;
use shared::testing::{Event, Fixture, call};

/// The password of every user these tests create.
pub const PASSWORD: &str = "correct horse battery";

/// The handler under test; every response is also recorded for the OpenAPI contract check.
pub async fn handle(
    deps: &Deps,
    req: lambda_http::Request,
) -> lambda_http::Response<lambda_http::Body> {
    call(login::handle, deps, req).await
}

/// The function assembled as `main` assembles it, from the fixture's parts.
pub fn deps_from(f: &Fixture) -> Deps {
    Deps::build(
        Settings::from_vars(f.vars()).unwrap(),
        f.store(),
        f.keys(),
        f.clock(),
    )
    .unwrap()
}

/// The sample login event with these credentials, from `ip`.
pub fn login_event(username: &str, password: &str, ip: &str) -> Event {
    Event::load("login")
        .json(json!({"username": username, "password": password}))
        .source_ip(ip)
}

/// Registers `username` with [`PASSWORD`] straight through the function's user store.
pub async fn create_user(deps: &Deps, username: &str) {
    shared::testing::create_user(deps.users.as_ref(), username, PASSWORD, &[]).await;
}
