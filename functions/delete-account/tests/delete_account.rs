//! `DELETE /account`, against the local DynamoDB-compatible server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use shared::testing::{assert_one_notice, give_verified};

use delete_account::Deps;
use serde_json::json;
use shared::store::{SessionStore, UserStore};
use shared::testing::{
    Event, Fixture, SignedIn, account_deps, body_json, call, refresh_now, sessions_on, sign_in,
    signed_in, signed_in_with_mfa, use_recovery_code, user_id_of, wrong_code,
};

const PASSWORD: &str = "correct horse battery";

async fn handle(
    deps: &Deps,
    req: lambda_http::Request,
) -> lambda_http::Response<lambda_http::Body> {
    call(delete_account::handle, deps, req).await
}

fn delete(user: &SignedIn, password: &str) -> lambda_http::Request {
    user.event("delete-account")
        .json(json!({ "password": password }))
        .request()
}

#[tokio::test]
async fn the_sample_deletes_the_user_and_every_session() {
    let f = Fixture::local().await;
    let deps = account_deps(&f);
    let me = signed_in(f.store(), f.now()).await;
    let other = sign_in(f.store(), &me.name, f.now()).await;

    // The sample's body is base64-encoded, as API Gateway may send it.
    let event = me.event("delete-account");
    assert_eq!(event.0["isBase64Encoded"], true);
    let response = handle(&deps, event.request()).await;

    assert_eq!(response.status(), 204, "{:?}", response.body());
    assert!(f.store().find(&me.name).await.unwrap().is_none());
    assert!(
        f.store()
            .list(&user_id_of(&me.name), None)
            .await
            .unwrap()
            .is_empty()
    );
    let sessions = sessions_on(f.store());
    let store = f.store();
    for token in [&me.refresh_token, &other.refresh_token] {
        assert!(
            refresh_now(&sessions, store.as_ref(), token, f.now())
                .await
                .is_err()
        );
    }
    // The deleted session's access token no longer authenticates.
    assert_eq!(handle(&deps, delete(&me, PASSWORD)).await.status(), 401);
}

#[tokio::test]
async fn a_wrong_password_is_401_and_deletes_nothing() {
    let f = Fixture::local().await;
    let deps = account_deps(&f);
    let me = signed_in(f.store(), f.now()).await;

    let response = handle(&deps, delete(&me, "not my password")).await;

    assert_eq!(response.status(), 401);
    assert_eq!(body_json(&response)["error"], "invalid_credentials");
    assert!(f.store().find(&me.name).await.unwrap().is_some());
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
async fn wrong_passwords_count_against_the_login_user_limit_and_then_even_the_right_one_is_429() {
    let f = Fixture::local().await.with("LOGIN_USER_LIMIT", "2");
    let deps = account_deps(&f);
    let me = signed_in(f.store(), f.now()).await;

    for attempt in 0..2 {
        let response = handle(&deps, delete(&me, "not my password")).await;
        assert_eq!(response.status(), 401, "attempt {attempt}");
        assert_eq!(body_json(&response)["error"], "invalid_credentials");
    }
    // Limited before any hashing, even with the right password now, and nothing is deleted.
    let response = handle(&deps, delete(&me, PASSWORD)).await;
    assert_eq!(response.status(), 429);
    assert_eq!(body_json(&response)["error"], "rate_limited");
    assert!(f.store().find(&me.name).await.unwrap().is_some());
}

#[tokio::test]
async fn the_sample_without_a_token_is_401() {
    let f = Fixture::local().await;
    let response = handle(
        &account_deps(&f),
        Event::load("delete-account-no-token").request(),
    )
    .await;
    assert_eq!(response.status(), 401);
    assert_eq!(body_json(&response)["error"], "missing_token");
}

#[tokio::test]
async fn a_retry_after_a_failure_midway_completes_the_deletion() {
    let f = Fixture::local().await;
    let deps = account_deps(&f);
    let me = signed_in(f.store(), f.now()).await;
    let other = sign_in(f.store(), &me.name, f.now()).await;
    // The user item went, the sessions did not (a failure after the user was deleted).
    f.store()
        .delete_user(&me.name, &user_id_of(&me.name))
        .await
        .unwrap();

    let response = handle(&deps, delete(&me, "whatever was typed")).await;

    assert_eq!(response.status(), 204);
    assert!(f.store().get(&other.sid).await.unwrap().is_none());
    assert!(f.store().get(&me.sid).await.unwrap().is_none());
}

#[tokio::test]
async fn a_new_user_of_the_same_name_is_not_deleted_by_an_old_token() {
    let f = Fixture::local().await;
    let me = signed_in(f.store(), f.now()).await;
    // The name now belongs to someone else (the store is keyed by name, the id differs).
    f.store()
        .delete_user(&me.name, &user_id_of(&me.name))
        .await
        .unwrap();
    UserStore::create(
        f.store().as_ref(),
        &shared::store::NewUser {
            key: me.name.to_lowercase(),
            user_id: "someone-else".into(),
            username: me.name.clone(),
            password_hash: "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".into(),
            created_at: f.now(),
            pending_email: None,
        },
    )
    .await
    .unwrap();

    let response = handle(&account_deps(&f), delete(&me, PASSWORD)).await;

    assert_eq!(
        response.status(),
        204,
        "the old account's leftovers are cleaned up"
    );
    let still = f.store().find(&me.name).await.unwrap().unwrap();
    assert_eq!(still.user_id.as_deref(), Some("someone-else"));
}

#[tokio::test]
async fn a_token_of_a_revoked_session_is_401_and_deletes_nothing() {
    let f = Fixture::local().await;
    let me = signed_in(f.store(), f.now()).await;
    let other = sign_in(f.store(), &me.name, f.now()).await;
    f.store().revoke(&me.sid, f.now()).await.unwrap();

    let response = handle(&account_deps(&f), delete(&me, PASSWORD)).await;

    assert_eq!(response.status(), 401);
    assert_eq!(body_json(&response)["error"], "invalid_token");
    assert!(f.store().find(&me.name).await.unwrap().is_some());
    assert!(!f.store().get(&other.sid).await.unwrap().unwrap().revoked);
}

#[tokio::test]
async fn a_disabled_user_is_401_even_with_the_right_password_and_deletes_nothing() {
    let f = Fixture::local().await;
    let me = signed_in(f.store(), f.now()).await;
    // Disabled in the store with the session left live (a disable that failed midway).
    shared::testing::set_disabled(f.store().as_ref(), &me.name, true).await;

    let response = handle(&account_deps(&f), delete(&me, PASSWORD)).await;

    assert_eq!(response.status(), 401);
    assert_eq!(body_json(&response)["error"], "invalid_token");
    assert!(f.store().find(&me.name).await.unwrap().is_some());
    assert!(!f.store().get(&me.sid).await.unwrap().unwrap().revoked);
}

#[tokio::test]
async fn a_retry_with_the_same_token_after_the_user_item_could_not_be_deleted_completes() {
    let f = Fixture::local().await;
    let deps = account_deps(&f);
    let me = signed_in(f.store(), f.now()).await;
    let other = sign_in(f.store(), &me.name, f.now()).await;
    // The first step done (every other session revoked), the user item not yet deleted.
    f.store()
        .revoke_all(&user_id_of(&me.name), Some(&me.sid), f.now())
        .await
        .unwrap();

    let response = handle(&deps, delete(&me, PASSWORD)).await;

    assert_eq!(response.status(), 204, "{:?}", response.body());
    assert!(f.store().find(&me.name).await.unwrap().is_none());
    assert!(f.store().get(&other.sid).await.unwrap().is_none());
    assert!(f.store().get(&me.sid).await.unwrap().is_none());
}

// The step-up of a user with MFA.

fn delete_with_code(user: &SignedIn, password: &str, code: &str) -> lambda_http::Request {
    user.event("delete-account")
        .json(json!({ "password": password, "code": code }))
        .request()
}

#[tokio::test]
async fn with_mfa_and_no_code_it_is_403_mfa_required_and_deletes_nothing() {
    let f = Fixture::local().await;
    let (me, _) = signed_in_with_mfa(f.store(), f.now()).await;
    let other = sign_in(f.store(), &me.name, f.now()).await;

    let response = handle(&account_deps(&f), delete(&me, PASSWORD)).await;

    assert_eq!(response.status(), 403);
    assert_eq!(
        body_json(&response),
        json!({"msg": "A second factor is required: send a code", "error": "mfa_required"})
    );
    assert!(f.store().find(&me.name).await.unwrap().is_some());
    assert!(!f.store().get(&other.sid).await.unwrap().unwrap().revoked);
}

#[tokio::test]
async fn with_mfa_a_wrong_code_is_400_invalid_code_and_deletes_nothing() {
    let f = Fixture::local().await;
    let (me, mfa) = signed_in_with_mfa(f.store(), f.now()).await;

    let response = handle(
        &account_deps(&f),
        delete_with_code(&me, PASSWORD, &wrong_code(&mfa.secret, f.now())),
    )
    .await;

    assert_eq!(response.status(), 400);
    assert_eq!(
        body_json(&response),
        json!({"msg": "Invalid code", "error": "invalid_code"})
    );
    assert!(f.store().find(&me.name).await.unwrap().is_some());
}

#[tokio::test]
async fn with_mfa_a_right_totp_code_deletes_the_account() {
    let f = Fixture::local().await;
    let (me, mfa) = signed_in_with_mfa(f.store(), f.now()).await;

    let response = handle(
        &account_deps(&f),
        delete_with_code(&me, PASSWORD, &mfa.code(f.now())),
    )
    .await;

    assert_eq!(response.status(), 204, "{:?}", response.body());
    assert!(f.store().find(&me.name).await.unwrap().is_none());
    assert!(f.store().get(&me.sid).await.unwrap().is_none());
}

#[tokio::test]
async fn with_mfa_a_used_recovery_code_is_refused_and_an_unused_one_deletes() {
    let f = Fixture::local().await;
    let deps = account_deps(&f);
    let (me, mfa) = signed_in_with_mfa(f.store(), f.now()).await;
    // The first code was used before (at a login, say).
    let used = &mfa.recovery_codes[0];
    use_recovery_code(f.store().as_ref(), &me.name, used).await;

    let refused = handle(&deps, delete_with_code(&me, PASSWORD, used)).await;
    assert_eq!(refused.status(), 400);
    assert_eq!(body_json(&refused)["error"], "invalid_code");
    assert!(f.store().find(&me.name).await.unwrap().is_some());

    let response = handle(
        &deps,
        delete_with_code(&me, PASSWORD, &mfa.recovery_codes[1]),
    )
    .await;
    assert_eq!(response.status(), 204, "{:?}", response.body());
    assert!(f.store().find(&me.name).await.unwrap().is_none());
}

#[tokio::test]
async fn without_mfa_a_code_is_not_needed_and_a_malformed_one_is_400() {
    let f = Fixture::local().await;
    let deps = account_deps(&f);
    let me = signed_in(f.store(), f.now()).await;
    let bad = me
        .event("delete-account")
        .json(json!({"password": PASSWORD, "code": 123456}));
    let response = handle(&deps, bad.request()).await;
    assert_eq!(response.status(), 400);
    assert!(body_json(&response)["details"]["code"].is_array());

    let response = handle(&deps, delete_with_code(&me, PASSWORD, "123456")).await;
    assert_eq!(response.status(), 204, "{:?}", response.body());
    assert!(f.store().find(&me.name).await.unwrap().is_none());
}

#[tokio::test]
async fn with_a_verified_address_a_deletion_mails_your_account_was_deleted() {
    shared::testing::local_mailer().await;
    let f = Fixture::local().await;
    let me = signed_in(f.store(), f.now()).await;
    let address = give_verified(&f, &me.name).await;

    let response = handle(&account_deps(&f), delete(&me, PASSWORD)).await;

    assert_eq!(response.status(), 204, "{:?}", response.body());
    assert!(f.store().find(&me.name).await.unwrap().is_none());
    assert_one_notice(&address, "Your account was deleted").await;
}
