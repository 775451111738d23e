//! `POST /password`, against the local DynamoDB-compatible server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use shared::testing::{assert_one_notice, give_verified};

use change_password::Deps;
use serde_json::{Value, json};
use shared::store::{SessionStore, UserStore};
use shared::testing::{
    Event, Fixture, SignedIn, account_deps, after_a_failed_user_read, assert_invalid, body_json,
    call, refresh_now, sessions_on, sign_in, signed_in, signed_in_with_mfa, stored, wrong_code,
};

const PASSWORD: &str = "correct horse battery";
const NEW: &str = "a different long passphrase";

async fn handle(
    deps: &Deps,
    req: lambda_http::Request,
) -> lambda_http::Response<lambda_http::Body> {
    call(change_password::handle, deps, req).await
}

fn change(user: &SignedIn, current: &str, new: &str) -> lambda_http::Request {
    user.event("change-password")
        .json(json!({"current_password": current, "new_password": new}))
        .request()
}

#[tokio::test]
async fn the_sample_changes_the_password_and_revokes_only_the_other_sessions() {
    let f = Fixture::local().await;
    let deps = account_deps(&f);
    let me = signed_in(f.store(), f.now()).await;
    let other = sign_in(f.store(), &me.name, f.now()).await;
    let before = stored(f.store().as_ref(), &me.name).await.password_hash;

    let response = handle(&deps, me.event("change-password").request()).await;

    assert_eq!(response.status(), 204, "{:?}", response.body());
    let after = f.store().find(&me.name).await.unwrap().unwrap();
    assert_ne!(after.password_hash, before);
    assert_eq!(after.password_changed_by.as_deref(), Some(me.sid.as_str()));
    let sessions = sessions_on(f.store());
    let store = f.store();
    assert!(
        refresh_now(&sessions, store.as_ref(), &other.refresh_token, f.now())
            .await
            .is_err(),
        "the other session is revoked"
    );
    assert!(
        refresh_now(&sessions, store.as_ref(), &me.refresh_token, f.now())
            .await
            .is_ok(),
        "the calling session stays valid"
    );
    // The old password no longer works; the new one does.
    let response = handle(&deps, change(&me, PASSWORD, "yet another passphrase")).await;
    assert_eq!(response.status(), 401);
    let response = handle(&deps, change(&me, NEW, "yet another passphrase")).await;
    assert_eq!(response.status(), 204);
}

#[tokio::test]
async fn the_invalid_sample_is_a_400_about_the_new_password() {
    let f = Fixture::local().await;
    let me = signed_in(f.store(), f.now()).await;
    let event = me.event("change-password-invalid");

    let response = handle(&account_deps(&f), event.request()).await;

    assert_eq!(response.status(), 400);
    let body = body_json(&response);
    assert_eq!(body["error"], "validation_error");
    assert!(body["details"]["new_password"].is_array(), "{body}");
}

#[tokio::test]
async fn a_new_password_is_held_to_the_registration_rules_and_must_differ() {
    let f = Fixture::local().await;
    let deps = account_deps(&f);
    let me = signed_in(f.store(), f.now()).await;
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"current_password": PASSWORD, "new_password": PASSWORD}),
            "new_password",
        ),
        (
            json!({"current_password": PASSWORD, "new_password": "password123"}),
            "new_password",
        ),
        (
            json!({"current_password": PASSWORD, "new_password": format!("{}-pass", me.name)}),
            "new_password",
        ),
        (
            json!({"current_password": PASSWORD, "new_password": "x".repeat(129)}),
            "new_password",
        ),
        (json!({"current_password": PASSWORD}), "new_password"),
        (json!({"new_password": NEW}), "current_password"),
        (
            json!({"current_password": PASSWORD, "new_password": NEW, "username": "x"}),
            "username",
        ),
    ];
    for (body, field) in cases {
        let event = me.event("change-password").json(body.clone());
        let response = handle(&deps, event.request()).await;
        assert_invalid(&response, field, &body.to_string());
    }
    let still = f.store().find(&me.name).await.unwrap().unwrap();
    assert!(still.password_changed_by.is_none(), "nothing was changed");
}

#[tokio::test]
async fn a_wrong_current_password_is_401_and_counts_against_the_login_user_limit() {
    let f = Fixture::local().await.with("LOGIN_USER_LIMIT", "2");
    let deps = account_deps(&f);
    let me = signed_in(f.store(), f.now()).await;

    for attempt in 0..2 {
        let response = handle(&deps, change(&me, "not my password", NEW)).await;
        assert_eq!(response.status(), 401, "attempt {attempt}");
        assert_eq!(
            body_json(&response),
            json!({"msg": "Bad username or password", "error": "invalid_credentials"})
        );
    }
    // Limited before any hashing, even with the right password now.
    let response = handle(&deps, change(&me, PASSWORD, NEW)).await;
    assert_eq!(response.status(), 429);
    assert_eq!(body_json(&response)["error"], "rate_limited");
}

#[tokio::test]
async fn of_two_concurrent_changes_exactly_one_wins() {
    let f = Fixture::local().await;
    let deps = account_deps(&f);
    let me = signed_in(f.store(), f.now()).await;

    let (a, b) = tokio::join!(
        handle(&deps, change(&me, PASSWORD, "first new passphrase")),
        handle(&deps, change(&me, PASSWORD, "second new passphrase")),
    );

    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses[0], 204, "{statuses:?}");
    assert_ne!(statuses[1], 204, "{statuses:?}");
    let loser = if a.status() == 204 { &b } else { &a };
    let code = body_json(loser)["error"].clone();
    assert!(
        code == "password_changed" || code == "invalid_credentials",
        "{code}"
    );
}

#[tokio::test]
async fn a_retry_of_a_change_whose_write_landed_completes_it_from_the_same_session_only() {
    let f = Fixture::local().await;
    let deps = account_deps(&f);
    let me = signed_in(f.store(), f.now()).await;
    let other = sign_in(f.store(), &me.name, f.now()).await;
    // The hash was replaced by this session's change, and its revocation never ran.
    let user = f.store().find(&me.name).await.unwrap().unwrap();
    let hash = {
        let settings = shared::config::Argon2Config::from_vars(f.vars()).unwrap();
        let passwords = shared::password::Passwords::new(settings).unwrap();
        let body = json!({"username": me.name, "password": NEW});
        let new = shared::validation::Credentials::parse(
            body.as_object().unwrap(),
            shared::validation::Purpose::Login,
        )
        .unwrap()
        .password;
        passwords.hash(&new).await.unwrap()
    };
    let user_id = user.user_id.clone().unwrap();
    assert!(
        f.store()
            .change_password(&me.name, &user_id, &user.password_hash, &hash, &me.sid)
            .await
            .unwrap()
    );

    let from_other = handle(&deps, change(&other, PASSWORD, NEW)).await;
    assert_eq!(
        from_other.status(),
        401,
        "another session cannot complete it"
    );
    let retry = handle(&deps, change(&me, PASSWORD, NEW)).await;
    assert_eq!(retry.status(), 204, "the same session's retry completes it");
    assert!(
        !f.store()
            .get(&other.sid)
            .await
            .unwrap()
            .unwrap()
            .is_live(f.now())
    );
    assert!(
        f.store()
            .get(&me.sid)
            .await
            .unwrap()
            .unwrap()
            .is_live(f.now())
    );
}

#[tokio::test]
async fn a_token_of_a_revoked_session_or_none_is_401() {
    let f = Fixture::local().await;
    let deps = account_deps(&f);
    let me = signed_in(f.store(), f.now()).await;
    f.store().revoke(&me.sid, f.now()).await.unwrap();

    let response = handle(&deps, change(&me, PASSWORD, NEW)).await;
    assert_eq!(response.status(), 401);
    assert_eq!(body_json(&response)["error"], "invalid_token");

    let no_token = Event::load("change-password").header("authorization", None);
    let response = handle(&deps, no_token.request()).await;
    assert_eq!(response.status(), 401);
    assert_eq!(body_json(&response)["error"], "missing_token");
}

#[tokio::test]
async fn a_disabled_user_is_401_even_with_the_right_password_and_nothing_changes() {
    let f = Fixture::local().await;
    let me = signed_in(f.store(), f.now()).await;
    let before = stored(f.store().as_ref(), &me.name).await.password_hash;
    // Disabled in the store with the session left live (a disable that failed midway).
    shared::testing::set_disabled(f.store().as_ref(), &me.name, true).await;

    let response = handle(&account_deps(&f), change(&me, PASSWORD, NEW)).await;

    assert_eq!(response.status(), 401);
    assert_eq!(body_json(&response)["error"], "invalid_token");
    let after = stored(f.store().as_ref(), &me.name).await.password_hash;
    assert_eq!(before, after);
}

#[tokio::test]
async fn a_password_change_forgets_the_familiar_sources() {
    let f = Fixture::local().await;
    let me = signed_in(f.store(), f.now()).await;
    let before = stored(f.store().as_ref(), &me.name).await.sources_epoch;

    let response = handle(&account_deps(&f), change(&me, PASSWORD, NEW)).await;

    assert_eq!(response.status(), 204, "{}", body_json(&response));
    let after = stored(f.store().as_ref(), &me.name).await.sources_epoch;
    assert_eq!(after, before + 1);
}

// The step-up of a user with MFA.

fn change_with_code(user: &SignedIn, current: &str, new: &str, code: &str) -> lambda_http::Request {
    user.event("change-password")
        .json(json!({"current_password": current, "new_password": new, "code": code}))
        .request()
}

#[tokio::test]
async fn with_mfa_and_no_code_it_is_403_mfa_required_and_nothing_changes() {
    let f = Fixture::local().await;
    let (me, _) = signed_in_with_mfa(f.store(), f.now()).await;
    let before = stored(f.store().as_ref(), &me.name).await.password_hash;

    let response = handle(&account_deps(&f), change(&me, PASSWORD, NEW)).await;

    assert_eq!(response.status(), 403);
    assert_eq!(
        body_json(&response),
        json!({"msg": "A second factor is required: send a code", "error": "mfa_required"})
    );
    assert_eq!(
        stored(f.store().as_ref(), &me.name).await.password_hash,
        before
    );
}

#[tokio::test]
async fn with_mfa_a_wrong_code_is_400_invalid_code_and_counts_against_the_limit() {
    let f = Fixture::local().await.with("LOGIN_USER_LIMIT", "2");
    let deps = account_deps(&f);
    let (me, mfa) = signed_in_with_mfa(f.store(), f.now()).await;
    let wrong = wrong_code(&mfa.secret, f.now());

    for attempt in 0..2 {
        let response = handle(&deps, change_with_code(&me, PASSWORD, NEW, &wrong)).await;
        assert_eq!(response.status(), 400, "attempt {attempt}");
        assert_eq!(
            body_json(&response),
            json!({"msg": "Invalid code", "error": "invalid_code"})
        );
    }
    let response = handle(
        &deps,
        change_with_code(&me, PASSWORD, NEW, &mfa.code(f.now())),
    )
    .await;
    assert_eq!(response.status(), 429, "limited even with the right code");
}

#[tokio::test]
async fn with_mfa_a_right_totp_code_changes_the_password_once() {
    let f = Fixture::local().await;
    let deps = account_deps(&f);
    let (me, mfa) = signed_in_with_mfa(f.store(), f.now()).await;
    let before = stored(f.store().as_ref(), &me.name).await.password_hash;
    let code = mfa.code(f.now());

    let response = handle(&deps, change_with_code(&me, PASSWORD, NEW, &code)).await;

    assert_eq!(response.status(), 204, "{:?}", response.body());
    let after = stored(f.store().as_ref(), &me.name).await;
    assert_ne!(after.password_hash, before);
    assert_eq!(
        after.mfa.last_step,
        f.now() / 30,
        "the code's step is spent"
    );
    let replay = handle(
        &deps,
        change_with_code(&me, NEW, "third long passphrase", &code),
    )
    .await;
    assert_eq!(replay.status(), 400);
    assert_eq!(body_json(&replay)["error"], "invalid_code");
}

#[tokio::test]
async fn with_mfa_a_recovery_code_works_once() {
    let f = Fixture::local().await;
    let deps = account_deps(&f);
    let (me, mfa) = signed_in_with_mfa(f.store(), f.now()).await;
    let code = &mfa.recovery_codes[0];

    let first = handle(&deps, change_with_code(&me, PASSWORD, NEW, code)).await;
    assert_eq!(first.status(), 204, "{:?}", first.body());
    assert_eq!(
        stored(f.store().as_ref(), &me.name)
            .await
            .mfa
            .recovery
            .len(),
        9
    );

    let second = handle(
        &deps,
        change_with_code(&me, NEW, "third long passphrase", code),
    )
    .await;
    assert_eq!(second.status(), 400);
    assert_eq!(body_json(&second)["error"], "invalid_code");
}

#[tokio::test]
async fn without_mfa_a_code_is_not_needed_and_a_bad_one_is_a_400_about_code() {
    let f = Fixture::local().await;
    let deps = account_deps(&f);
    let me = signed_in(f.store(), f.now()).await;

    let response = handle(
        &deps,
        change_with_code(&me, PASSWORD, "x", "1".repeat(65).as_str()),
    )
    .await;
    assert_eq!(response.status(), 400);
    let body = body_json(&response);
    assert!(body["details"]["code"].is_array(), "{body}");
    assert!(
        body["details"]["new_password"].is_array(),
        "every field at once: {body}"
    );

    // A user without MFA is not asked for one; a code sent anyway is ignored.
    let response = handle(&deps, change_with_code(&me, PASSWORD, NEW, "123456")).await;
    assert_eq!(response.status(), 204, "{:?}", response.body());
}

#[tokio::test]
async fn a_failed_user_read_is_a_503_that_gives_the_failure_slot_back() {
    let (failed, retried) =
        after_a_failed_user_read(async |deps, me| handle(deps, change(me, PASSWORD, NEW)).await)
            .await;

    assert_eq!(failed.status(), 503);
    // With the limit at 1, a slot kept by the failed read would refuse this one (429).
    assert_eq!(retried.status(), 204, "{}", body_json(&retried));
}

#[tokio::test]
async fn with_a_verified_address_a_change_mails_your_password_was_changed() {
    shared::testing::local_mailer().await;
    let f = Fixture::local().await;
    let me = signed_in(f.store(), f.now()).await;
    let address = give_verified(&f, &me.name).await;

    let response = handle(&account_deps(&f), change(&me, PASSWORD, NEW)).await;

    assert_eq!(response.status(), 204, "{:?}", response.body());
    assert_one_notice(&address, "Your password was changed").await;
    // A refused change tells nothing.
    let refused = handle(
        &account_deps(&f),
        change(&me, PASSWORD, "yet another passphrase"),
    )
    .await;
    assert_eq!(refused.status(), 401);
    assert_one_notice(&address, "Your password was changed").await;
}
