//! `GET /me`: returns what the gateway authorizer put in the request context.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use me::{Deps, Settings};
use serde_json::json;
use shared::testing::{Event, body_json};

/// The handler under test; every response is also recorded for the OpenAPI contract check.
async fn handle(
    deps: &Deps,
    req: lambda_http::Request,
) -> lambda_http::Response<lambda_http::Body> {
    shared::testing::call(me::handle, deps, req).await
}

/// The function assembled as `main` assembles it, with the test settings.
fn deps() -> Deps {
    Deps::build(Settings::from_vars(&shared::testing::test_vars()).unwrap()).unwrap()
}

#[tokio::test]
async fn returns_the_identity_from_the_authorizer_context() {
    let event = Event::load("me");
    let sid = event.0["requestContext"]["authorizer"]["lambda"]["sid"].clone();

    let response = handle(&deps(), event.request()).await;

    assert_eq!(response.status(), 200);
    assert_eq!(
        body_json(&response),
        json!({"sub": "alice", "sid": sid, "authorized_by": "lambda-authorizer"})
    );
}

#[tokio::test]
async fn without_an_authorizer_context_it_answers_401() {
    let response = handle(&deps(), Event::load("me-no-authorizer").request()).await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer realm=\"auth-api-test\""
    );
    assert_eq!(body_json(&response)["error"], "missing_token");
}
