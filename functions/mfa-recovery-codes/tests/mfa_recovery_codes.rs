//! `POST /mfa/recovery-codes`, against the local DynamoDB-compatible server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use shared::testing::{assert_one_notice, give_verified};

use lambda_http::{Body, Request, Response};
use mfa_recovery_codes::Deps;
use serde_json::json;
use shared::account::proof_of;
use shared::store::{MfaProof, SessionStore};
use shared::testing::{
    Event, Fixture, SignedIn, account_deps, assert_recovery_codes, body_json, call, code_works,
    recovery_codes_of, signed_in, signed_in_with_mfa, stored, wrong_code,
};

async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    call(mfa_recovery_codes::handle, deps, req).await
}

fn regenerate(user: &SignedIn, code: &str) -> Request {
    user.event("mfa-recovery-codes")
        .json(json!({ "code": code }))
        .request()
}

#[tokio::test]
async fn a_totp_code_gives_ten_new_codes_and_the_old_ones_stop_working() {
    let f = Fixture::local().await;
    let (me, mfa) = signed_in_with_mfa(f.store(), f.now()).await;

    let response = handle(&account_deps(&f), regenerate(&me, &mfa.code(f.now()))).await;

    assert_eq!(response.status(), 200, "{:?}", response.body());
    assert_eq!(response.headers()["cache-control"], "no-store");
    let codes = recovery_codes_of(&body_json(&response));
    assert_eq!(codes.len(), 10);
    assert!(codes.iter().all(|c| !mfa.recovery_codes.contains(c)));
    let user = stored(f.store().as_ref(), &me.name).await;
    assert_recovery_codes(&user, &codes, "only the new set is stored");
    for old in &mfa.recovery_codes {
        assert!(!code_works(&user, old, f.now()), "{old} no longer works");
    }
    for new in &codes {
        assert!(matches!(
            proof_of(&f.mfa_key(), &user, new, f.now()).unwrap(),
            Some((MfaProof::RecoveryCode(_), _))
        ));
    }
    assert_eq!(user.mfa.last_step, f.now() / 30, "the code's step is spent");
}

#[tokio::test]
async fn the_same_code_twice_is_400_invalid_code_the_second_time() {
    let f = Fixture::local().await;
    let deps = account_deps(&f);
    let (me, mfa) = signed_in_with_mfa(f.store(), f.now()).await;
    let code = mfa.code(f.now());
    let first = handle(&deps, regenerate(&me, &code)).await;
    assert_eq!(first.status(), 200);
    let kept = stored(f.store().as_ref(), &me.name).await.mfa.recovery;

    let replay = handle(&deps, regenerate(&me, &code)).await;

    assert_eq!(replay.status(), 400);
    assert_eq!(
        body_json(&replay),
        json!({"msg": "Invalid code", "error": "invalid_code"})
    );
    let after = stored(f.store().as_ref(), &me.name).await.mfa.recovery;
    assert_eq!(after, kept, "the first call's codes stay");
    // The next step's code works.
    let next = handle(&deps, regenerate(&me, &mfa.code(f.now() + 30))).await;
    assert_eq!(next.status(), 200);
}

#[tokio::test]
async fn of_two_concurrent_requests_with_one_code_exactly_one_gets_codes() {
    let f = Fixture::local().await;
    let deps = account_deps(&f);
    let (me, mfa) = signed_in_with_mfa(f.store(), f.now()).await;
    let code = mfa.code(f.now());

    let (a, b) = tokio::join!(
        handle(&deps, regenerate(&me, &code)),
        handle(&deps, regenerate(&me, &code)),
    );

    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 400]);
    let winner = if a.status() == 200 { &a } else { &b };
    let codes = recovery_codes_of(&body_json(winner));
    let user = stored(f.store().as_ref(), &me.name).await;
    assert!(code_works(&user, &codes[0], f.now()));
}

#[tokio::test]
async fn a_recovery_code_cannot_make_new_codes_and_is_not_used_up() {
    let f = Fixture::local().await;
    let deps = account_deps(&f);
    let (me, mfa) = signed_in_with_mfa(f.store(), f.now()).await;

    let response = handle(&deps, regenerate(&me, &mfa.recovery_codes[0])).await;

    assert_eq!(response.status(), 400);
    let body = body_json(&response);
    assert_eq!(body["error"], "validation_error");
    assert!(body["details"]["code"].is_array(), "{body}");
    let user = stored(f.store().as_ref(), &me.name).await;
    assert_eq!(user.mfa.recovery.len(), 10);
}

#[tokio::test]
async fn a_wrong_code_is_400_and_counts_against_the_login_user_limit() {
    let f = Fixture::local().await.with("LOGIN_USER_LIMIT", "2");
    let deps = account_deps(&f);
    let (me, mfa) = signed_in_with_mfa(f.store(), f.now()).await;
    let wrong = wrong_code(&mfa.secret, f.now());

    for attempt in 0..2 {
        let response = handle(&deps, regenerate(&me, &wrong)).await;
        assert_eq!(response.status(), 400, "attempt {attempt}");
        assert_eq!(body_json(&response)["error"], "invalid_code");
    }
    let response = handle(&deps, regenerate(&me, &mfa.code(f.now()))).await;
    assert_eq!(response.status(), 429, "limited even with the right code");
    assert_eq!(body_json(&response)["error"], "rate_limited");
    let user = stored(f.store().as_ref(), &me.name).await;
    assert_recovery_codes(&user, &mfa.recovery_codes, "nothing replaced");
}

#[tokio::test]
async fn without_mfa_it_is_409_mfa_not_enabled() {
    let f = Fixture::local().await;
    let me = signed_in(f.store(), f.now()).await;

    let response = handle(&account_deps(&f), regenerate(&me, "123456")).await;

    assert_eq!(response.status(), 409);
    assert_eq!(
        body_json(&response),
        json!({"msg": "Two-factor authentication is not on", "error": "mfa_not_enabled"})
    );
}

#[tokio::test]
async fn the_sample_without_a_real_token_is_401_and_a_revoked_session_too() {
    let f = Fixture::local().await;
    let deps = account_deps(&f);
    let response = handle(&deps, Event::load("mfa-recovery-codes").request()).await;
    assert_eq!(response.status(), 401);
    assert_eq!(body_json(&response)["error"], "invalid_token");

    let (me, mfa) = signed_in_with_mfa(f.store(), f.now()).await;
    f.store().revoke(&me.sid, f.now()).await.unwrap();
    let response = handle(&deps, regenerate(&me, &mfa.code(f.now()))).await;
    assert_eq!(response.status(), 401);
    assert_eq!(body_json(&response)["error"], "invalid_token");
}

#[tokio::test]
async fn with_a_verified_address_new_codes_mail_a_notice_without_them() {
    shared::testing::local_mailer().await;
    let f = Fixture::local().await;
    let (me, mfa) = signed_in_with_mfa(f.store(), f.now()).await;
    let address = give_verified(&f, &me.name).await;

    let response = handle(&account_deps(&f), regenerate(&me, &mfa.code(f.now()))).await;

    assert_eq!(response.status(), 200, "{:?}", response.body());
    assert_one_notice(&address, "New recovery codes").await;
    let mail = &shared::testing::mails_to(&address).await[0];
    for code in recovery_codes_of(&body_json(&response)) {
        assert!(!mail.body.contains(&code), "no recovery code in the mail");
    }
}
