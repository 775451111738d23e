//! `POST /mfa/recovery-codes`, against the local DynamoDB-compatible server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use lambda_http::{Body, Request, Response};
use mfa_recovery_codes::Deps;
use serde_json::{Value, json};
use shared::account::proof_of;
use shared::store::{MfaProof, SessionStore};
use shared::testing::{
    Event, Fixture, SignedIn, account_deps, body_json, call, enable_mfa, signed_in, stored,
    totp_code, user_id_of,
};

async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    call(mfa_recovery_codes::handle, deps, req).await
}

fn regenerate(user: &SignedIn, code: &str) -> Request {
    Event::load("mfa-recovery-codes")
        .header("authorization", Some(&user.bearer))
        .json(json!({ "code": code }))
        .request()
}

fn codes_of(body: &Value) -> Vec<String> {
    body["recovery_codes"]
        .as_array()
        .unwrap_or_else(|| panic!("recovery_codes: {body}"))
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect()
}

/// A six-digit code that is not `secret`'s at `now` or one step either side.
fn wrong_code(secret: &[u8], now: u64) -> String {
    let near: Vec<String> = [now - 30, now, now + 30]
        .iter()
        .map(|t| totp_code(secret, *t))
        .collect();
    ["000000", "111111", "222222", "333333"]
        .into_iter()
        .find(|c| !near.iter().any(|n| n == c))
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_totp_code_gives_ten_new_codes_and_the_old_ones_stop_working() {
    let f = Fixture::local().await;
    let me = signed_in(f.store(), f.now()).await;
    let mfa = enable_mfa(f.store().as_ref(), &me.name).await;

    let response = handle(&account_deps(&f), regenerate(&me, &mfa.code(f.now()))).await;

    assert_eq!(response.status(), 200, "{:?}", response.body());
    assert_eq!(response.headers()["cache-control"], "no-store");
    let codes = codes_of(&body_json(&response));
    assert_eq!(codes.len(), 10);
    assert!(codes.iter().all(|c| !mfa.recovery_codes.contains(c)));
    let user = stored(f.store().as_ref(), &me.name).await;
    let mut hashes = shared::mfa::recovery_code_hashes(&user_id_of(&me.name), &codes).unwrap();
    let mut kept = user.mfa.recovery.clone();
    hashes.sort();
    kept.sort();
    assert_eq!(kept, hashes, "only the new set is stored");
    let key = f.mfa_key();
    for old in &mfa.recovery_codes {
        assert!(
            proof_of(&key, &user, old, f.now()).unwrap().is_none(),
            "{old} no longer works"
        );
    }
    for new in &codes {
        assert!(matches!(
            proof_of(&key, &user, new, f.now()).unwrap(),
            Some((MfaProof::RecoveryCode(_), _))
        ));
    }
    assert_eq!(user.mfa.last_step, f.now() / 30, "the code's step is spent");
}

#[tokio::test]
async fn the_same_code_twice_is_400_invalid_code_the_second_time() {
    let f = Fixture::local().await;
    let deps = account_deps(&f);
    let me = signed_in(f.store(), f.now()).await;
    let mfa = enable_mfa(f.store().as_ref(), &me.name).await;
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
    let me = signed_in(f.store(), f.now()).await;
    let mfa = enable_mfa(f.store().as_ref(), &me.name).await;
    let code = mfa.code(f.now());

    let (a, b) = tokio::join!(
        handle(&deps, regenerate(&me, &code)),
        handle(&deps, regenerate(&me, &code)),
    );

    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 400]);
    let winner = if a.status() == 200 { &a } else { &b };
    let codes = codes_of(&body_json(winner));
    let user = stored(f.store().as_ref(), &me.name).await;
    assert!(
        proof_of(&f.mfa_key(), &user, &codes[0], f.now())
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn a_recovery_code_cannot_make_new_codes_and_is_not_used_up() {
    let f = Fixture::local().await;
    let deps = account_deps(&f);
    let me = signed_in(f.store(), f.now()).await;
    let mfa = enable_mfa(f.store().as_ref(), &me.name).await;

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
    let me = signed_in(f.store(), f.now()).await;
    let mfa = enable_mfa(f.store().as_ref(), &me.name).await;
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
    let mut kept = user.mfa.recovery.clone();
    let mut old =
        shared::mfa::recovery_code_hashes(&user_id_of(&me.name), &mfa.recovery_codes).unwrap();
    kept.sort();
    old.sort();
    assert_eq!(kept, old, "nothing replaced");
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

    let me = signed_in(f.store(), f.now()).await;
    let mfa = enable_mfa(f.store().as_ref(), &me.name).await;
    f.store().revoke(&me.sid, f.now()).await.unwrap();
    let response = handle(&deps, regenerate(&me, &mfa.code(f.now()))).await;
    assert_eq!(response.status(), 401);
    assert_eq!(body_json(&response)["error"], "invalid_token");
}
