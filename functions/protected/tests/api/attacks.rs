//! The token attack suite: each known way of getting a forged, stale or foreign token accepted
//! is one test, and each must end in a 401 `invalid_token` with the RFC 6750 challenge (or a
//! 400 `invalid_request` where RFC 6750 says so).

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use lambda_http::{Body, Response};
use protected::{Deps, Settings};
use shared::keys::KeySet;
use shared::testing::{
    Event, access_token, bad_tokens, body_json, call, claims_at, key_document, key_set, key_set_of,
    sign_claims, stranger_document, test_vars, with_staged_key,
};
use shared::unix_now;

const REALM: &str = "auth-api-test";

/// The function assembled as `main` assembles it, trusting `keys`.
fn deps_with(keys: Arc<KeySet>) -> Deps {
    Deps::build(Settings::from_vars(&test_vars()).unwrap(), keys).unwrap()
}

fn deps() -> Deps {
    deps_with(key_set())
}

async fn call_with(deps: &Deps, event: Event) -> Response<Body> {
    call(protected::handle, deps, event.request()).await
}

async fn bearer(token: &str) -> Response<Body> {
    let event = Event::load("protected").header("authorization", Some(&format!("Bearer {token}")));
    call_with(&deps(), event).await
}

/// Sends the attack named `case` from the shared bad-token table and expects the 401.
async fn attack(case: &str) {
    let bad = shared::bad_tokens::named(&bad_tokens(unix_now()), case);
    assert_invalid_token(&bearer(&bad.token).await);
}

fn assert_invalid_token(response: &Response<Body>) {
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["www-authenticate"],
        format!("Bearer realm=\"{REALM}\", error=\"invalid_token\"").as_str()
    );
    assert_eq!(body_json(response)["error"], "invalid_token");
}

fn good_token() -> String {
    access_token("alice", "s1", unix_now(), &[])
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

#[tokio::test]
async fn a_genuine_token_is_accepted() {
    // The control for every test below: the same path with nothing tampered answers 200.
    assert_eq!(bearer(&good_token()).await.status(), 200);
}

#[tokio::test]
async fn alg_none_without_a_signature_is_rejected() {
    attack("alg none, no signature").await;
}

#[tokio::test]
async fn alg_none_with_a_signature_is_rejected() {
    attack("alg none, signature kept").await;
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_is_rejected() {
    attack("HS256 keyed with the raw public key").await;
    attack("HS256 keyed with the encoded public key").await;
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
    attack("signature stripped").await;
    attack("signature and its dot stripped").await;
}

#[tokio::test]
async fn a_tampered_payload_with_the_signature_kept_is_rejected() {
    attack("tampered payload, signature kept").await;
}

#[tokio::test]
async fn a_kid_pointing_at_nothing_is_rejected() {
    attack("unknown kid").await;
    attack("no kid").await;
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
    let staged = with_staged_key(key_document(), "verify-only");
    let deps = deps_with(key_set_of(&staged));
    let attacker = stranger_document("verify-only");
    let forged = shared::bad_tokens::sign(
        &attacker,
        &claims_at("alice", unix_now()),
        Some("verify-only"),
        Some("at+jwt"),
    );
    let event = Event::load("protected").header("authorization", Some(&format!("Bearer {forged}")));
    assert_invalid_token(&call_with(&deps, event).await);
}

#[tokio::test]
async fn an_expired_token_is_rejected() {
    attack("expired beyond the leeway").await;
}

#[tokio::test]
async fn a_token_not_yet_valid_is_rejected() {
    attack("not yet valid").await;
}

#[tokio::test]
async fn a_wrong_issuer_is_rejected() {
    attack("wrong issuer").await;
}

#[tokio::test]
async fn a_wrong_audience_is_rejected() {
    attack("wrong audience").await;
}

#[tokio::test]
async fn a_missing_subject_is_rejected() {
    attack("no sub").await;
}

#[tokio::test]
async fn a_refresh_token_as_bearer_is_rejected() {
    // The refresh function's shape: `rt1_` + base64url(session id (16 bytes), generation (8),
    // HMAC tag (32)). This function holds no refresh key, so any tag makes an equal case.
    let raw = [&[0x5a; 16][..], &0_u64.to_be_bytes(), &[0xa5; 32]].concat();
    let token = format!("rt1_{}", B64.encode(raw));
    assert_eq!(token.len(), 79);
    assert_invalid_token(&bearer(&token).await);
}

#[tokio::test]
async fn a_100_kb_token_is_rejected_unparsed() {
    assert_invalid_token(&bearer(&"a".repeat(100 * 1024)).await);
}

#[tokio::test]
async fn malformed_base64_is_rejected() {
    attack("malformed base64 in the payload").await;
    attack("malformed base64 in the header").await;
    let good = good_token();
    assert_invalid_token(&bearer(&format!("{good}==")).await);
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

#[tokio::test]
async fn scope_or_roles_edited_into_a_token_are_rejected() {
    attack("scope claim edited, signature kept").await;
    attack("roles claim edited, signature kept").await;
}
