//! `GET /protected`: bearer-token verification, from the sample events.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use protected::{Deps, handle};
use serde_json::json;
use shared::testing::{Event, body_json, token_config};
use shared::token::Tokens;
use shared::unix_now;

fn deps() -> Deps {
    Deps {
        tokens: Tokens::new(&token_config()),
        realm: "auth-api-test".into(),
    }
}

fn with_token(token: &str) -> Event {
    Event::load("protected").header("authorization", Some(&format!("Bearer {token}")))
}

fn sign(claims: serde_json::Value, alg: Algorithm, secret: &[u8]) -> String {
    encode(
        &Header::new(alg),
        &claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

fn claims(now: u64) -> serde_json::Value {
    json!({"sub": "alice", "iat": now, "nbf": now, "exp": now + 900, "jti": "j",
           "iss": "auth-api-test", "aud": "auth-api-test"})
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
    let token = Tokens::new(&token_config())
        .issue("Alice", unix_now())
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
    let secret = b"test-only-secret-0123456789abcdef0123";
    let good = sign(claims(now), Algorithm::HS256, secret);
    let tampered = {
        let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
        parts[1] = parts[1].replacen('e', "f", 1);
        parts.join(".")
    };
    let mut c = claims(now);
    c["exp"] = json!(now - 3600);
    let expired = sign(c, Algorithm::HS256, secret);
    let mut c = claims(now);
    c["nbf"] = json!(now + 3600);
    let not_yet = sign(c, Algorithm::HS256, secret);
    let mut c = claims(now);
    c["iss"] = json!("someone-else");
    let wrong_iss = sign(c, Algorithm::HS256, secret);
    let mut c = claims(now);
    c["aud"] = json!("another-api");
    let wrong_aud = sign(c, Algorithm::HS256, secret);
    let alg_none = format!(
        "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.",
        good.split('.').nth(1).unwrap()
    );
    let cases = [
        ("garbage".to_owned(), "garbage"),
        (tampered, "tampered"),
        (
            sign(
                claims(now),
                Algorithm::HS256,
                b"a-different-secret-of-32-bytes-000",
            ),
            "wrong signature",
        ),
        (alg_none, "alg none"),
        (expired, "expired"),
        (not_yet, "not yet valid"),
        (wrong_iss, "wrong iss"),
        (wrong_aud, "wrong aud"),
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
