//! `GET /protected`: bearer-token verification, from the sample events.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use protected::Deps;
use serde_json::json;
use shared::testing::{Event, body_json, claims_at, key_document, sign_claims, tokens};
use shared::unix_now;

/// The handler under test; every response is also recorded for the OpenAPI contract check.
async fn handle(
    deps: &Deps,
    req: lambda_http::Request,
) -> lambda_http::Response<lambda_http::Body> {
    let (method, path) = shared::testing::route_of(&req);
    let response = protected::handle(deps, req).await;
    shared::testing::record(&method, &path, &response);
    response
}

fn deps() -> Deps {
    Deps {
        tokens: tokens(),
        realm: "auth-api-test".into(),
    }
}

fn with_token(token: &str) -> Event {
    Event::load("protected").header("authorization", Some(&format!("Bearer {token}")))
}

/// Signed with the test key set's signing key, as login would.
fn sign(claims: serde_json::Value) -> String {
    sign_claims(&claims, Some(&key_document().signing_kid), Some("at+jwt"))
}

fn changed(now: u64, field: &str, value: serde_json::Value) -> String {
    let mut c = claims_at("alice", now);
    c[field] = value;
    sign(c)
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
    let token = tokens()
        .issue("Alice", "session-1", unix_now())
        .unwrap()
        .token;

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
async fn bad_tokens_return_401_invalid_token_with_challenge() {
    let now = unix_now();
    let good = sign(claims_at("alice", now));
    let parts: Vec<&str> = good.split('.').collect();
    let tampered = format!("{}.{}x.{}", parts[0], parts[1], parts[2]);
    let alg_none = format!("eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0.{}.", parts[1]);
    // HS256 keyed with the public key: the classic algorithm-confusion attack.
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some(key_document().signing_kid.clone());
    hs.typ = Some("at+jwt".into());
    let public_x = key_document().keys[0].x.clone();
    let hs256 = encode(
        &hs,
        &claims_at("alice", now),
        &EncodingKey::from_secret(public_x.as_bytes()),
    )
    .unwrap();
    let refresh_like = format!("rt1_{}", "A".repeat(75));
    let cases = [
        ("garbage".to_owned(), "garbage"),
        (tampered, "tampered payload"),
        (
            format!(
                "{}.{}.{}",
                parts[0],
                parts[1],
                &parts[2][..parts[2].len() - 4]
            ),
            "truncated signature",
        ),
        (alg_none, "alg none"),
        (hs256, "HS256 keyed with the public key"),
        (
            sign_claims(
                &claims_at("alice", now),
                Some("no-such-key"),
                Some("at+jwt"),
            ),
            "unknown kid",
        ),
        (changed(now, "exp", json!(now - 3600)), "expired"),
        (changed(now, "nbf", json!(now + 3600)), "not yet valid"),
        (changed(now, "iss", json!("someone-else")), "wrong iss"),
        (changed(now, "aud", json!("another-api")), "wrong aud"),
        (refresh_like, "a refresh token"),
    ];
    assert_eq!(
        handle(&deps(), with_token(&good).request()).await.status(),
        200,
        "control"
    );
    for (token, case) in cases {
        let response = handle(&deps(), with_token(&token).request()).await;
        assert_eq!(response.status(), 401, "{case}");
        assert_eq!(
            response.headers()["www-authenticate"],
            INVALID_CHALLENGE,
            "{case}"
        );
        assert_eq!(
            body_json(&response),
            json!({"msg": "Invalid or expired token", "error": "invalid_token"}),
            "{case}"
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
