//! `GET /protected`: bearer-token verification, from the sample events. The session check
//! (`SESSION_CHECK=true`, which reads DynamoDB) is tested with the build that has it, in
//! `protected-session`.

use protected::{Deps, Settings};
use serde_json::json;
use shared::testing::{Event, bad_tokens, body_json, call, claims_at, key_document, key_set};
use shared::testing::{access_token, sign_claims, test_vars};
use shared::unix_now;

/// The handler under test; every response is also recorded for the OpenAPI contract check.
async fn handle(
    deps: &Deps,
    req: lambda_http::Request,
) -> lambda_http::Response<lambda_http::Body> {
    call(protected::handle, deps, req).await
}

/// The function assembled as `main` assembles it, with the test settings and keys.
fn deps() -> Deps {
    Deps::build(Settings::from_vars(&test_vars()).unwrap(), key_set()).unwrap()
}

fn with_token(token: &str) -> Event {
    Event::load("protected").header("authorization", Some(&format!("Bearer {token}")))
}

/// Signed with the test key set's signing key, as login would.
fn sign(claims: serde_json::Value) -> String {
    sign_claims(&claims, Some(&key_document().signing_kid), Some("at+jwt"))
}

const INVALID_CHALLENGE: &str = "Bearer realm=\"auth-api-test\", error=\"invalid_token\"";

#[tokio::test]
async fn sample_event_with_a_valid_token_returns_200() {
    let event = Event::load("protected");
    assert!(
        event.0["headers"]["authorization"]
            .as_str()
            .unwrap()
            .starts_with("Bearer ")
    );
    let token = access_token("Alice", "session-1", unix_now(), &[]);

    let response = handle(&deps(), with_token(&token).request()).await;

    assert_eq!(response.status(), 200);
    assert_eq!(
        body_json(&response),
        json!({"msg": "This is a protected route", "logged_in_as": "Alice"})
    );
}

#[tokio::test]
async fn sample_event_placeholder_token_is_rejected() {
    let response = handle(&deps(), Event::load("protected").request()).await;
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], INVALID_CHALLENGE);
}

#[tokio::test]
async fn missing_or_empty_header_returns_401_missing_token() {
    let empty = Event::load("protected").header("authorization", Some(""));
    for event in [Event::load("protected-no-token"), empty] {
        let response = handle(&deps(), event.request()).await;
        assert_eq!(response.status(), 401);
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer realm=\"auth-api-test\""
        );
        assert_eq!(
            body_json(&response),
            json!({"msg": "Missing Authorization header with a Bearer token", "error": "missing_token"})
        );
    }
}

#[tokio::test]
async fn every_bad_token_returns_401_invalid_token_with_challenge() {
    let now = unix_now();
    assert_eq!(
        handle(
            &deps(),
            with_token(&sign(claims_at("alice", now))).request()
        )
        .await
        .status(),
        200,
        "control"
    );
    for bad in bad_tokens(now) {
        let response = handle(&deps(), with_token(&bad.token).request()).await;
        assert_eq!(response.status(), 401, "{}", bad.case);
        assert_eq!(
            response.headers()["www-authenticate"],
            INVALID_CHALLENGE,
            "{}",
            bad.case
        );
        assert_eq!(
            body_json(&response),
            json!({"msg": "Invalid or expired token", "error": "invalid_token"}),
            "{}",
            bad.case
        );
    }
}

#[tokio::test]
async fn wrong_method_returns_405_with_allow() {
    let event = Event::load("protected").route("POST", "/protected");
    let response = handle(&deps(), event.request()).await;
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "GET");
}
