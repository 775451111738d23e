//! The token attack suite: each known way of getting a forged, stale or foreign token accepted
//! is one test, and each must end in a 401 `invalid_token` with the RFC 6750 challenge (or a
//! 400 `invalid_request` where RFC 6750 says so).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use lambda_http::{Body, Response};
use protected::Deps;
use serde_json::{Value, json};
use shared::keys::{KeySet, generate_document, stage_key};
use shared::testing::{Event, body_json, claims_at, key_document, sign_claims, tokens};
use shared::token::Tokens;
use shared::unix_now;

const REALM: &str = "auth-api-test";

fn deps() -> Deps {
    Deps {
        tokens: tokens(),
        realm: REALM.into(),
    }
}

async fn call_with(deps: &Deps, event: Event) -> Response<Body> {
    let (method, path) = shared::testing::route_of(&event.request());
    let response = protected::handle(deps, event.request()).await;
    shared::testing::record(&method, &path, &response);
    response
}

async fn bearer(token: &str) -> Response<Body> {
    let event = Event::load("protected").header("authorization", Some(&format!("Bearer {token}")));
    call_with(&deps(), event).await
}

fn assert_invalid_token(response: &Response<Body>) {
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["www-authenticate"],
        format!("Bearer realm=\"{REALM}\", error=\"invalid_token\"").as_str()
    );
    assert_eq!(body_json(response)["error"], "invalid_token");
}

fn part(v: &Value) -> String {
    B64.encode(serde_json::to_vec(v).unwrap())
}

fn good_token() -> String {
    tokens().issue("alice", "s1", unix_now()).unwrap().token
}

fn kid() -> String {
    key_document().signing_kid.clone()
}

fn hs256(secret: &[u8]) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid());
    header.typ = Some("at+jwt".into());
    encode(
        &header,
        &claims_at("alice", unix_now()),
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

fn with_claim(field: &str, value: Value) -> String {
    let mut claims = claims_at("alice", unix_now());
    claims[field] = value;
    sign_claims(&claims, Some(&kid()), Some("at+jwt"))
}

#[tokio::test]
async fn a_genuine_token_is_accepted() {
    // The control for every test below: the same path with nothing tampered answers 200.
    assert_eq!(bearer(&good_token()).await.status(), 200);
}

#[tokio::test]
async fn alg_none_without_a_signature_is_rejected() {
    let payload = good_token().split('.').nth(1).unwrap().to_owned();
    let header = part(&json!({"alg": "none", "typ": "at+jwt", "kid": kid()}));
    assert_invalid_token(&bearer(&format!("{header}.{payload}.")).await);
}

#[tokio::test]
async fn alg_none_with_a_signature_is_rejected() {
    let good = good_token();
    let parts: Vec<&str> = good.split('.').collect();
    let header = part(&json!({"alg": "none", "typ": "at+jwt", "kid": kid()}));
    assert_invalid_token(&bearer(&format!("{header}.{}.{}", parts[1], parts[2])).await);
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_is_rejected() {
    let x = &key_document().keys[0].x;
    assert_invalid_token(&bearer(&hs256(&B64.decode(x).unwrap())).await);
    assert_invalid_token(&bearer(&hs256(x.as_bytes())).await);
}

#[tokio::test]
async fn hs256_signed_with_guessed_secrets_is_rejected() {
    for secret in [
        &b"secret"[..],
        b"your_jwt_secret_key",
        b"",
        b"auth-api",
        b"changeme",
    ] {
        assert_invalid_token(&bearer(&hs256(secret)).await);
    }
}

#[tokio::test]
async fn a_stripped_signature_is_rejected() {
    let good = good_token();
    let (signed, _) = good.rsplit_once('.').unwrap();
    assert_invalid_token(&bearer(&format!("{signed}.")).await);
    assert_invalid_token(&bearer(signed).await);
}

#[tokio::test]
async fn a_tampered_payload_with_the_signature_kept_is_rejected() {
    let good = good_token();
    let parts: Vec<&str> = good.split('.').collect();
    let mut claims = claims_at("admin", unix_now());
    claims["sid"] = json!("s1");
    assert_invalid_token(&bearer(&format!("{}.{}.{}", parts[0], part(&claims), parts[2])).await);
}

#[tokio::test]
async fn a_kid_pointing_at_nothing_is_rejected() {
    let claims = claims_at("alice", unix_now());
    assert_invalid_token(&bearer(&sign_claims(&claims, Some("no-such-key"), Some("at+jwt"))).await);
    assert_invalid_token(&bearer(&sign_claims(&claims, None, Some("at+jwt"))).await);
}

#[tokio::test]
async fn a_kid_pointing_at_a_path_is_rejected() {
    let claims = claims_at("alice", unix_now());
    for kid in [
        "../../../../etc/passwd",
        "/dev/null",
        "file:///etc/shadow",
        "https://evil.example/jwks.json",
    ] {
        assert_invalid_token(&bearer(&sign_claims(&claims, Some(kid), Some("at+jwt"))).await);
    }
}

#[tokio::test]
async fn a_forged_signature_under_a_verify_only_kid_is_rejected() {
    // The deployed set trusts a staged verify-only key; an attacker signs with a key of their
    // own under that kid.
    let staged = stage_key(key_document(), "verify-only").unwrap();
    let set = KeySet::parse(&serde_json::to_string(&staged).unwrap()).unwrap();
    let deps = Deps {
        tokens: Tokens::new(&shared::testing::token_config(), std::sync::Arc::new(set)),
        realm: REALM.into(),
    };
    let attacker = generate_document("verify-only").unwrap();
    let set = KeySet::parse(&serde_json::to_string(&attacker).unwrap()).unwrap();
    let forged = Tokens::new(&shared::testing::token_config(), std::sync::Arc::new(set))
        .issue("alice", "s1", unix_now())
        .unwrap()
        .token;
    let event = Event::load("protected").header("authorization", Some(&format!("Bearer {forged}")));
    assert_invalid_token(&call_with(&deps, event).await);
}

#[tokio::test]
async fn an_expired_token_is_rejected() {
    assert_invalid_token(&bearer(&with_claim("exp", json!(unix_now() - 3600))).await);
}

#[tokio::test]
async fn a_token_not_yet_valid_is_rejected() {
    assert_invalid_token(&bearer(&with_claim("nbf", json!(unix_now() + 3600))).await);
}

#[tokio::test]
async fn a_wrong_issuer_is_rejected() {
    assert_invalid_token(&bearer(&with_claim("iss", json!("https://evil.example"))).await);
}

#[tokio::test]
async fn a_wrong_audience_is_rejected() {
    assert_invalid_token(&bearer(&with_claim("aud", json!("another-api"))).await);
}

#[tokio::test]
async fn a_missing_subject_is_rejected() {
    let mut claims = claims_at("alice", unix_now());
    claims.as_object_mut().unwrap().remove("sub");
    assert_invalid_token(&bearer(&sign_claims(&claims, Some(&kid()), Some("at+jwt"))).await);
}

#[tokio::test]
async fn a_refresh_token_as_bearer_is_rejected() {
    let set = shared::testing::key_set();
    let refresh = shared::refresh::RefreshTokens::new(&set).unwrap();
    let token = refresh
        .mint(&shared::refresh::new_session_id().unwrap(), 0)
        .unwrap();
    assert_invalid_token(&bearer(&token).await);
}

#[tokio::test]
async fn a_100_kb_token_is_rejected_unparsed() {
    assert_invalid_token(&bearer(&"a".repeat(100 * 1024)).await);
}

#[tokio::test]
async fn malformed_base64_is_rejected() {
    let good = good_token();
    let parts: Vec<&str> = good.split('.').collect();
    for token in [
        format!("{}.{}!!.{}", parts[0], parts[1], parts[2]),
        format!("%%%.{}.{}", parts[1], parts[2]),
        format!("{}.{}.{}==", parts[0], parts[1], parts[2]),
    ] {
        assert_invalid_token(&bearer(&token).await);
    }
}

#[tokio::test]
async fn two_authorization_headers_are_an_invalid_request() {
    // API Gateway joins repeated headers with a comma; a multi-value header arrives the same way.
    let joined = format!("Bearer {},Bearer {}", good_token(), good_token());
    let event = Event::load("protected").header("authorization", Some(&joined));
    let response = call_with(&deps(), event).await;
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.headers()["www-authenticate"],
        format!("Bearer realm=\"{REALM}\", error=\"invalid_request\"").as_str()
    );
    assert_eq!(body_json(&response)["error"], "invalid_request");
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive_and_tolerates_extra_spaces() {
    // Decided and documented: RFC 9110 makes auth schemes case-insensitive, and 1*SP allows
    // several spaces; anything else about the header is strict.
    for header in [
        "bearer {t}",
        "BEARER {t}",
        "Bearer    {t}",
        "  Bearer {t}  ",
    ] {
        let value = header.replace("{t}", &good_token());
        let event = Event::load("protected").header("authorization", Some(&value));
        assert_eq!(call_with(&deps(), event).await.status(), 200, "{header}");
    }
}
