//! `POST /mfa/totp`, against the local DynamoDB-compatible server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use lambda_http::{Body, Request, Response};
use mfa_enroll::Deps;
use serde_json::{Value, json};
use shared::store::SessionStore;
use shared::testing::{
    Event, Fixture, SignedIn, account_deps, after_a_failed_user_read, assert_invalid, body_json,
    call, enable_mfa, signed_in, stored, user_id_of,
};

const PASSWORD: &str = "correct horse battery";

async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    call(mfa_enroll::handle, deps, req).await
}

fn enroll(user: &SignedIn, password: &str) -> Request {
    user.event("mfa-enroll")
        .json(json!({ "password": password }))
        .request()
}

/// The secret's bytes, from its base32 (RFC 4648, no padding).
fn secret_bytes(body: &Value) -> Vec<u8> {
    let text = body["secret"].as_str().unwrap();
    base32::decode(base32::Alphabet::Rfc4648 { padding: false }, text)
        .unwrap_or_else(|| panic!("{text} is base32"))
}

#[tokio::test]
async fn the_sample_answers_a_160_bit_secret_and_its_otpauth_uri_and_keeps_it_pending_sealed() {
    let f = Fixture::local().await;
    let me = signed_in(f.store(), f.now()).await;
    let response = handle(&account_deps(&f), me.event("mfa-enroll").request()).await;

    assert_eq!(response.status(), 200, "{:?}", response.body());
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body = body_json(&response);
    let secret = body["secret"].as_str().unwrap();
    assert!(
        secret.len() >= 32
            && secret
                .bytes()
                .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)),
        "base32 of at least 160 bits: {secret}"
    );
    let bytes = secret_bytes(&body);
    assert!(bytes.len() >= 20, "{} bytes", bytes.len());
    assert_eq!(
        body["otpauth_uri"],
        format!(
            "otpauth://totp/auth-api-test:{}?secret={secret}&issuer=auth-api-test\
             &algorithm=SHA1&digits=6&period=30",
            me.name
        )
    );
    assert_eq!(body.as_object().unwrap().len(), 2, "{body}");
    // Pending, not on, and stored only sealed for this user.
    let user = stored(f.store().as_ref(), &me.name).await;
    assert!(!user.mfa.enabled());
    let sealed = user.mfa.pending.clone().expect("a pending secret");
    assert_eq!(
        f.mfa_key().open(&user_id_of(&me.name), &sealed).unwrap(),
        bytes
    );
    assert!(!sealed.contains(secret));
    assert!(!format!("{user:?}").contains(secret));
}

#[tokio::test]
async fn the_issuer_comes_from_mfa_issuer_and_is_percent_encoded() {
    let f = Fixture::local().await.with("MFA_ISSUER", "Example Auth");
    let me = signed_in(f.store(), f.now()).await;

    let response = handle(&account_deps(&f), enroll(&me, PASSWORD)).await;

    assert_eq!(response.status(), 200);
    let uri = body_json(&response)["otpauth_uri"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        uri.starts_with(&format!("otpauth://totp/Example%20Auth:{}?", me.name)),
        "{uri}"
    );
    assert!(uri.contains("&issuer=Example%20Auth"), "{uri}");
}

#[tokio::test]
async fn enrolling_again_replaces_the_pending_secret() {
    let f = Fixture::local().await;
    let deps = account_deps(&f);
    let me = signed_in(f.store(), f.now()).await;

    let first = body_json(&handle(&deps, enroll(&me, PASSWORD)).await);
    let second = body_json(&handle(&deps, enroll(&me, PASSWORD)).await);

    assert_ne!(first["secret"], second["secret"]);
    let sealed = stored(f.store().as_ref(), &me.name)
        .await
        .mfa
        .pending
        .unwrap();
    assert_eq!(
        f.mfa_key().open(&user_id_of(&me.name), &sealed).unwrap(),
        secret_bytes(&second),
        "only the latest secret is pending"
    );
}

#[tokio::test]
async fn a_wrong_password_is_401_counts_against_the_login_user_limit_and_stores_nothing() {
    let f = Fixture::local().await.with("LOGIN_USER_LIMIT", "2");
    let deps = account_deps(&f);
    let me = signed_in(f.store(), f.now()).await;

    for attempt in 0..2 {
        let response = handle(&deps, enroll(&me, "not my password")).await;
        assert_eq!(response.status(), 401, "attempt {attempt}");
        assert_eq!(
            body_json(&response),
            json!({"msg": "Bad username or password", "error": "invalid_credentials"})
        );
    }
    let response = handle(&deps, enroll(&me, PASSWORD)).await;
    assert_eq!(
        response.status(),
        429,
        "limited even with the right password"
    );
    assert_eq!(body_json(&response)["error"], "rate_limited");
    let pending = stored(f.store().as_ref(), &me.name).await.mfa.pending;
    assert!(pending.is_none(), "nothing is left pending");
}

#[tokio::test]
async fn a_user_with_mfa_on_gets_409_after_the_password_and_nothing_changes() {
    let f = Fixture::local().await;
    let deps = account_deps(&f);
    let me = signed_in(f.store(), f.now()).await;
    enable_mfa(f.store().as_ref(), &me.name).await;
    let before = stored(f.store().as_ref(), &me.name).await.mfa;

    let wrong = handle(&deps, enroll(&me, "not my password")).await;
    let right = handle(&deps, enroll(&me, PASSWORD)).await;

    assert_eq!(wrong.status(), 401, "the password first");
    assert_eq!(right.status(), 409);
    assert_eq!(
        body_json(&right),
        json!({"msg": "Two-factor authentication is already on", "error": "mfa_already_enabled"})
    );
    assert_eq!(stored(f.store().as_ref(), &me.name).await.mfa, before);
}

#[tokio::test]
async fn a_bad_body_is_400_naming_the_field() {
    let f = Fixture::local().await;
    let deps = account_deps(&f);
    let me = signed_in(f.store(), f.now()).await;
    let cases: Vec<(Value, &str)> = vec![
        (json!({}), "password"),
        (json!({"password": 42}), "password"),
        (json!({"password": PASSWORD, "code": "123456"}), "code"),
    ];
    for (body, field) in cases {
        let response = handle(&deps, me.event("mfa-enroll").json(body.clone()).request()).await;
        assert_invalid(&response, field, &body.to_string());
    }
}

#[tokio::test]
async fn no_token_or_a_revoked_session_is_401_and_another_method_405() {
    let f = Fixture::local().await;
    let deps = account_deps(&f);
    let me = signed_in(f.store(), f.now()).await;

    let no_token = Event::load("mfa-enroll").header("authorization", None);
    let response = handle(&deps, no_token.request()).await;
    assert_eq!(response.status(), 401);
    assert_eq!(body_json(&response)["error"], "missing_token");
    assert!(response.headers().contains_key("www-authenticate"));

    let get = me.event("mfa-enroll").route("GET", "/mfa/totp");
    let response = handle(&deps, get.request()).await;
    assert_eq!(response.status(), 405);

    f.store().revoke(&me.sid, f.now()).await.unwrap();
    let response = handle(&deps, enroll(&me, PASSWORD)).await;
    assert_eq!(response.status(), 401);
    assert_eq!(body_json(&response)["error"], "invalid_token");
    let pending = stored(f.store().as_ref(), &me.name).await.mfa.pending;
    assert!(pending.is_none(), "nothing is left pending");
}

#[tokio::test]
async fn a_failed_user_read_is_a_503_that_gives_the_failure_slot_back() {
    let (failed, retried) =
        after_a_failed_user_read(async |deps, me| handle(deps, enroll(me, PASSWORD)).await).await;

    assert_eq!(failed.status(), 503);
    // With the limit at 1, a slot kept by the failed read would refuse this one (429).
    assert_eq!(retried.status(), 200, "{}", body_json(&retried));
}
