//! `POST /mfa/totp/confirm`, against the local DynamoDB-compatible server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use shared::testing::{assert_one_notice, give_verified};

use aws_sdk_dynamodb::types::AttributeValue;
use lambda_http::{Body, Request, Response};
use mfa_confirm::Deps;
use serde_json::{Value, json};
use shared::store::SessionStore;
use shared::testing::{
    Event, Fixture, SignedIn, account_deps, after_a_failed_user_read, assert_invalid,
    assert_recovery_codes, body_json, call, code_works, enable_mfa, enroll_pending,
    recovery_codes_of, session_revoked, sign_in, signed_in, stored, tables, totp_code, user_id_of,
    wrong_code,
};

async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    call(mfa_confirm::handle, deps, req).await
}

fn confirm(user: &SignedIn, code: &str) -> Request {
    user.event("mfa-confirm")
        .json(json!({ "code": code }))
        .request()
}

/// The user item exactly as DynamoDB holds it, every attribute, as text.
async fn raw_user_item(name: &str) -> String {
    let sdk = shared::aws::sdk_config().unwrap();
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let item = client
        .get_item()
        .table_name(tables().users)
        .key("pk", AttributeValue::S(name.to_lowercase()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .expect("the user item");
    format!("{item:?}")
}

#[tokio::test]
async fn the_right_code_turns_mfa_on_answers_ten_codes_and_revokes_only_the_other_sessions() {
    let f = Fixture::local().await;
    let me = signed_in(f.store(), f.now()).await;
    let other = sign_in(f.store(), &me.name, f.now()).await;
    let bystander = signed_in(f.store(), f.now()).await;
    let secret = enroll_pending(f.store().as_ref(), &me.name).await;

    let response = handle(
        &account_deps(&f),
        confirm(&me, &totp_code(&secret, f.now())),
    )
    .await;

    assert_eq!(response.status(), 200, "{:?}", response.body());
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body = body_json(&response);
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    let codes = recovery_codes_of(&body);
    assert_eq!(codes.len(), 10);
    let mut distinct = codes.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 10, "{codes:?}");
    for code in &codes {
        let groups: Vec<&str> = code.split('-').collect();
        assert!(
            groups.len() == 4 && groups.iter().all(|g| g.len() == 4),
            "{code}"
        );
    }
    let user = stored(f.store().as_ref(), &me.name).await;
    let user_id = user_id_of(&me.name);
    assert!(user.mfa.enabled());
    assert!(user.mfa.pending.is_none(), "the pending secret is gone");
    assert_eq!(
        f.mfa_key()
            .open(&user_id, user.mfa.totp.as_deref().unwrap())
            .unwrap(),
        secret
    );
    assert_eq!(user.mfa.last_step, f.now() / 30, "the code's step is spent");
    assert_recovery_codes(&user, &codes, "the codes are stored as their 10 hashes");
    let sessions = f.store();
    assert!(session_revoked(sessions.as_ref(), &other.sid).await);
    assert!(!session_revoked(sessions.as_ref(), &me.sid).await);
    assert!(!session_revoked(sessions.as_ref(), &bystander.sid).await);
}

#[tokio::test]
async fn neither_the_secret_nor_a_recovery_code_is_stored_or_shown_in_the_clear() {
    let f = Fixture::local().await;
    let me = signed_in(f.store(), f.now()).await;
    let secret = enroll_pending(f.store().as_ref(), &me.name).await;
    let response = handle(
        &account_deps(&f),
        confirm(&me, &totp_code(&secret, f.now())),
    )
    .await;
    assert_eq!(response.status(), 200);
    let codes = recovery_codes_of(&body_json(&response));

    let base32 = base32_of(&secret);
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    let user = stored(f.store().as_ref(), &me.name).await;
    let debug = format!("{user:?}");
    let raw = raw_user_item(&me.name).await;
    let sealed = user.mfa.totp.clone().unwrap();
    assert!(raw.contains(&sealed), "the raw item is the one read");
    for text in [&debug, &raw, &sealed] {
        for needle in [&base32, &base32.to_lowercase(), &hex] {
            assert!(!text.contains(needle.as_str()), "the secret in {text}");
        }
        for code in &codes {
            let compact = code.replace('-', "");
            assert!(!text.contains(code.as_str()), "{code} in {text}");
            assert!(!text.contains(&compact), "{compact} in {text}");
        }
    }
    assert!(
        !debug.contains(&sealed),
        "Debug hides even the sealed value"
    );
}

fn base32_of(secret: &[u8]) -> String {
    base32::encode(base32::Alphabet::Rfc4648 { padding: false }, secret)
}

#[tokio::test]
async fn the_confirming_code_cannot_serve_again() {
    let f = Fixture::local().await;
    let deps = account_deps(&f);
    let me = signed_in(f.store(), f.now()).await;
    let secret = enroll_pending(f.store().as_ref(), &me.name).await;
    let code = totp_code(&secret, f.now());
    assert_eq!(handle(&deps, confirm(&me, &code)).await.status(), 200);

    let again = handle(&deps, confirm(&me, &code)).await;

    assert_eq!(again.status(), 409);
    assert_eq!(body_json(&again)["error"], "mfa_already_enabled");
    let user = stored(f.store().as_ref(), &me.name).await;
    assert!(
        !code_works(&user, &code, f.now()),
        "its step is spent: no step-up can use it"
    );
    let next = totp_code(&secret, f.now() + 30);
    assert!(
        code_works(&user, &next, f.now()),
        "the next step's code is good"
    );
}

#[tokio::test]
async fn a_wrong_code_is_400_invalid_code_and_counts_against_the_login_user_limit() {
    let f = Fixture::local().await.with("LOGIN_USER_LIMIT", "2");
    let deps = account_deps(&f);
    let me = signed_in(f.store(), f.now()).await;
    let secret = enroll_pending(f.store().as_ref(), &me.name).await;
    let wrong = wrong_code(&secret, f.now());

    for attempt in 0..2 {
        let response = handle(&deps, confirm(&me, &wrong)).await;
        assert_eq!(response.status(), 400, "attempt {attempt}");
        assert_eq!(
            body_json(&response),
            json!({"msg": "Invalid code", "error": "invalid_code"})
        );
    }
    let response = handle(&deps, confirm(&me, &totp_code(&secret, f.now()))).await;
    assert_eq!(response.status(), 429, "limited even with the right code");
    assert_eq!(body_json(&response)["error"], "rate_limited");
    let user = stored(f.store().as_ref(), &me.name).await;
    assert!(!user.mfa.enabled());
    assert!(user.mfa.pending.is_some(), "still pending");
}

#[tokio::test]
async fn a_right_code_gives_its_failure_slot_back() {
    let f = Fixture::local().await.with("LOGIN_USER_LIMIT", "1");
    let deps = account_deps(&f);
    let me = signed_in(f.store(), f.now()).await;
    let secret = enroll_pending(f.store().as_ref(), &me.name).await;

    let first = handle(&deps, confirm(&me, &totp_code(&secret, f.now()))).await;
    assert_eq!(first.status(), 200);
    // With the limit at 1, a slot kept by the success would refuse this one before its check.
    let second = handle(&deps, confirm(&me, &totp_code(&secret, f.now() + 30))).await;
    assert_eq!(second.status(), 409, "{}", body_json(&second));
}

#[tokio::test]
async fn without_a_pending_enrollment_or_with_mfa_on_it_is_409() {
    let f = Fixture::local().await;
    let deps = account_deps(&f);
    let plain = signed_in(f.store(), f.now()).await;
    let on = signed_in(f.store(), f.now()).await;
    let mfa = enable_mfa(f.store().as_ref(), &on.name).await;

    let response = handle(&deps, confirm(&plain, "123456")).await;
    assert_eq!(response.status(), 409);
    assert_eq!(
        body_json(&response),
        json!({
            "msg": "No pending enrollment: start with POST /mfa/totp",
            "error": "no_pending_enrollment"
        })
    );
    let response = handle(&deps, confirm(&on, &mfa.code(f.now()))).await;
    assert_eq!(response.status(), 409);
    assert_eq!(body_json(&response)["error"], "mfa_already_enabled");
}

#[tokio::test]
async fn a_body_without_a_six_digit_code_is_400_naming_code() {
    let f = Fixture::local().await;
    let deps = account_deps(&f);
    let me = signed_in(f.store(), f.now()).await;
    let cases: Vec<(Value, &str)> = vec![
        (json!({}), "code"),
        (json!({"code": "12345"}), "code"),
        (json!({"code": "abcdef"}), "code"),
        (json!({"code": 123456}), "code"),
        (json!({"code": "ABCD-EFGH-JKMN-PQRS"}), "code"),
        (json!({"code": "123456", "password": "x"}), "password"),
    ];
    for (body, field) in cases {
        let response = handle(&deps, me.event("mfa-confirm").json(body.clone()).request()).await;
        assert_invalid(&response, field, &body.to_string());
    }
}

#[tokio::test]
async fn the_sample_without_a_real_token_is_401_and_a_revoked_session_too() {
    let f = Fixture::local().await;
    let deps = account_deps(&f);
    let response = handle(&deps, Event::load("mfa-confirm").request()).await;
    assert_eq!(response.status(), 401);
    assert_eq!(body_json(&response)["error"], "invalid_token");

    let me = signed_in(f.store(), f.now()).await;
    let secret = enroll_pending(f.store().as_ref(), &me.name).await;
    f.store().revoke(&me.sid, f.now()).await.unwrap();
    let response = handle(&deps, confirm(&me, &totp_code(&secret, f.now()))).await;
    assert_eq!(response.status(), 401);
    assert!(!stored(f.store().as_ref(), &me.name).await.mfa.enabled());
}

#[tokio::test]
async fn a_failed_user_read_is_a_503_that_gives_the_failure_slot_back() {
    let (failed, retried) =
        after_a_failed_user_read(async |deps, me| handle(deps, confirm(me, "123456")).await).await;

    assert_eq!(failed.status(), 503);
    // With the limit at 1, a slot kept by the failed read would refuse this one (429) before
    // it finds no pending enrollment.
    assert_eq!(retried.status(), 409, "{}", body_json(&retried));
}

#[tokio::test]
async fn with_a_verified_address_turning_mfa_on_mails_a_notice() {
    shared::testing::local_mailer().await;
    let f = Fixture::local().await;
    let me = signed_in(f.store(), f.now()).await;
    let address = give_verified(&f, &me.name).await;
    let secret = enroll_pending(f.store().as_ref(), &me.name).await;

    let response = handle(
        &account_deps(&f),
        confirm(&me, &totp_code(&secret, f.now())),
    )
    .await;

    assert_eq!(response.status(), 200, "{:?}", response.body());
    assert_one_notice(&address, "Two-factor authentication is on").await;
}
