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
/// The function assembled as `main` assembles it, with the test settings and the real clock.
fn deps() -> Deps {
    let settings = Settings::from_vars(&shared::testing::test_vars()).unwrap();
    Deps::build(settings, shared::system_clock()).unwrap()
}

#[tokio::test]
async fn returns_the_identity_from_the_authorizer_context() {
    let event = Event::load("me");
    let context = event.0["requestContext"]["authorizer"]["lambda"].clone();

    let response = handle(&deps(), event.request()).await;

    assert_eq!(response.status(), 200);
    assert_eq!(
        body_json(&response),
        json!({
            "sub": context["sub"], "username": "alice", "sid": context["sid"],
            "scope": "profile", "roles": "user", "exp": context["exp"],
            "authorized_by": "lambda-authorizer"
        })
    );
}

#[tokio::test]
async fn a_cached_allow_whose_token_has_expired_is_refused() {
    let mut event = Event::load("me");
    let now = shared::unix_now();
    for (exp, status) in [(now + 60, 200), (now, 401), (now - 1, 401)] {
        event.0["requestContext"]["authorizer"]["lambda"]["exp"] = json!(exp);
        let response = handle(&deps(), event.request()).await;
        assert_eq!(response.status(), status, "exp {exp} at {now}");
        if status == 401 {
            assert_eq!(body_json(&response)["error"], "invalid_token");
            assert_eq!(
                response.headers()["www-authenticate"],
                "Bearer realm=\"auth-api-test\", error=\"invalid_token\""
            );
        }
    }
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

#[tokio::test]
async fn behind_the_gateway_jwt_authorizer_it_returns_the_verified_claims() {
    let event = Event::load("me-jwt");
    let claims = event.0["requestContext"]["authorizer"]["jwt"]["claims"].clone();

    let response = handle(&deps(), event.request()).await;

    assert_eq!(response.status(), 200);
    assert_eq!(
        body_json(&response),
        json!({
            "sub": claims["sub"], "username": "alice", "sid": claims["sid"],
            "scope": "admin profile", "roles": "admin user",
            "exp": claims["exp"].as_str().unwrap().parse::<u64>().unwrap(),
            "authorized_by": "jwt-authorizer"
        })
    );
}

#[tokio::test]
async fn gateway_jwt_claims_without_sid_or_a_numeric_exp_are_refused() {
    let now = shared::unix_now();
    let cases = [
        ("sid", json!(null), 401, "missing_token"),
        ("exp", json!("soon"), 401, "missing_token"),
        ("exp", json!(now.to_string()), 401, "invalid_token"),
        ("exp", json!((now + 60).to_string()), 200, ""),
    ];
    for (claim, value, status, code) in cases {
        let mut event = Event::load("me-jwt");
        let claims = &mut event.0["requestContext"]["authorizer"]["jwt"]["claims"];
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(claim);
        } else {
            claims[claim] = value.clone();
        }
        let response = handle(&deps(), event.request()).await;
        assert_eq!(response.status(), status, "{claim} = {value}");
        if status == 401 {
            assert_eq!(body_json(&response)["error"], code, "{claim} = {value}");
        }
    }
}
