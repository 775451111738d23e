//! The account routes across functions and under faults, against the local server: a password
//! change seen by login and refresh, an account deleted and its name registered again, and
//! every new write path under throttling, 5xx, timeouts and refused connections: 503 with
//! `Retry-After`, and no half state (a refused password change leaves the old password
//! working; a deleted user's sessions are never left usable; a retry completes the job).

use serde_json::json;
use shared::store::{SessionStore, UserStore};
use shared::testing::faults::{Action, FaultProxy};
use shared::testing::{
    Event, Fixture, SignedIn, account_deps, body_json, call, local_endpoint, sign_in, signed_in,
    unique_ip,
};

use crate::helpers::{
    self, FAULTS, assert_unavailable, failing, from_nth, send_login, send_refresh,
};

const PASSWORD: &str = "correct horse battery";
const NEW: &str = "a different long passphrase";

fn change(user: &SignedIn, current: &str, new: &str) -> lambda_http::Request {
    Event::load("change-password")
        .header("authorization", Some(&user.bearer))
        .json(json!({"current_password": current, "new_password": new}))
        .request()
}

fn delete(user: &SignedIn, password: &str) -> lambda_http::Request {
    Event::load("delete-account")
        .header("authorization", Some(&user.bearer))
        .json(json!({ "password": password }))
        .request()
}

#[tokio::test]
async fn after_a_password_change_login_and_refresh_see_it() {
    let f = Fixture::local().await;
    let me = signed_in(f.store(), f.now()).await;
    let other = sign_in(f.store(), &me.name, f.now()).await;

    let response = call(
        change_password::handle,
        &account_deps(&f),
        change(&me, PASSWORD, NEW),
    )
    .await;
    assert_eq!(response.status(), 204);

    assert_eq!(
        send_login(&f, &me.name, PASSWORD).await.status(),
        401,
        "old password"
    );
    assert_eq!(
        send_login(&f, &me.name, NEW).await.status(),
        200,
        "new password"
    );
    assert_eq!(
        send_refresh(&f, &other.refresh_token).await.status(),
        401,
        "other session"
    );
    assert_eq!(
        send_refresh(&f, &me.refresh_token).await.status(),
        200,
        "calling session"
    );
}

#[tokio::test]
async fn a_deleted_accounts_name_registers_again_as_a_new_user() {
    let f = Fixture::local().await;
    let name = shared::testing::unique("gone_");
    let register = |name: &str| {
        Event::load("register")
            .json(json!({"username": name, "password": PASSWORD}))
            .source_ip(&unique_ip())
            .request()
    };
    let registered = call(register::handle, &helpers::register(&f), register(&name)).await;
    assert_eq!(registered.status(), 201);
    let logged_in = body_json(&send_login(&f, &name, PASSWORD).await);
    let access = logged_in["access_token"].as_str().unwrap().to_owned();
    let old_refresh = logged_in["refresh_token"].as_str().unwrap().to_owned();
    let old_sub = f
        .store()
        .find(&name.to_lowercase())
        .await
        .unwrap()
        .unwrap()
        .user_id;
    let me = SignedIn {
        name: name.clone(),
        sid: String::new(),
        bearer: format!("Bearer {access}"),
        refresh_token: old_refresh.clone(),
    };

    let response = call(
        delete_account::handle,
        &account_deps(&f),
        delete(&me, PASSWORD),
    )
    .await;
    assert_eq!(response.status(), 204);

    assert_eq!(
        send_login(&f, &name, PASSWORD).await.status(),
        401,
        "login after deletion"
    );
    assert_eq!(
        send_refresh(&f, &old_refresh).await.status(),
        401,
        "old refresh token"
    );
    let again = call(register::handle, &helpers::register(&f), register(&name)).await;
    assert_eq!(again.status(), 201, "the name is free again");
    let new_sub = f
        .store()
        .find(&name.to_lowercase())
        .await
        .unwrap()
        .unwrap()
        .user_id;
    assert!(new_sub.is_some());
    assert_ne!(new_sub, old_sub, "a new user has a new sub");
}

#[tokio::test]
async fn refresh_records_last_use_and_no_access_token_outlives_its_session() {
    // Sessions of 300 s, access tokens of 900 s: the token is cut to the session's end.
    let f = Fixture::local()
        .await
        .with("SESSION_TTL_SECONDS", "300")
        .with("ACCESS_TOKEN_TTL_SECONDS", "900");
    let me = signed_in(f.store(), f.now()).await;
    let logged_in = body_json(&send_login(&f, &me.name, PASSWORD).await);
    assert_eq!(logged_in["expires_in"], 300, "{logged_in}");
    let claims = shared::testing::tokens()
        .verify(logged_in["access_token"].as_str().unwrap())
        .unwrap();
    let session = f.store().get(&claims.sid).await.unwrap().unwrap();
    assert!(claims.exp <= session.expires_at);

    let later = Fixture::local()
        .await
        .with("SESSION_TTL_SECONDS", "300")
        .at(f.now() + 100);
    let refreshed = send_refresh(&later, logged_in["refresh_token"].as_str().unwrap()).await;
    assert_eq!(refreshed.status(), 200);
    let body = body_json(&refreshed);
    assert!(body["expires_in"].as_u64().unwrap() <= 200, "{body}");
    let session = f.store().get(&claims.sid).await.unwrap().unwrap();
    assert_eq!(session.last_used_at, f.now() + 100);
}

#[tokio::test]
async fn a_password_change_refused_by_the_store_leaves_the_old_password_working() {
    let proxy = FaultProxy::start(&local_endpoint()).await;
    let f = Fixture::local().await;
    let me = signed_in(f.store(), f.now()).await;
    for (fault, case) in FAULTS {
        // UpdateItem 0 takes the failure slot, 1 gives it back, 2 (and its retries) is the
        // conditional hash write.
        proxy.plan(from_nth("UpdateItem", 2, fault));
        let deps = account_deps(&Fixture::behind(&proxy.endpoint).await);
        assert_unavailable(
            &call(change_password::handle, &deps, change(&me, PASSWORD, NEW)).await,
            case,
        );
        proxy.always(Action::Forward);
        assert_eq!(
            send_login(&f, &me.name, PASSWORD).await.status(),
            200,
            "{case}: old password"
        );
    }
    let deps = account_deps(&Fixture::unreachable().await);
    assert_unavailable(
        &call(change_password::handle, &deps, change(&me, PASSWORD, NEW)).await,
        "refused",
    );
}

#[tokio::test]
async fn a_password_change_whose_revocation_failed_is_completed_by_a_retry() {
    let proxy = FaultProxy::start(&local_endpoint()).await;
    let f = Fixture::local().await;
    for (fault, case) in FAULTS {
        let me = signed_in(f.store(), f.now()).await;
        let other = sign_in(f.store(), &me.name, f.now()).await;
        proxy.plan(failing("Query", fault));
        let deps = account_deps(&Fixture::behind(&proxy.endpoint).await);
        assert_unavailable(
            &call(change_password::handle, &deps, change(&me, PASSWORD, NEW)).await,
            case,
        );

        proxy.always(Action::Forward);
        let retry = call(change_password::handle, &deps, change(&me, PASSWORD, NEW)).await;
        assert_eq!(retry.status(), 204, "{case}: the retry completes it");
        assert_eq!(
            send_refresh(&f, &other.refresh_token).await.status(),
            401,
            "{case}"
        );
        assert_eq!(send_login(&f, &me.name, NEW).await.status(), 200, "{case}");
    }
}

#[tokio::test]
async fn a_deletion_that_fails_midway_leaves_no_other_usable_session_and_a_retry_completes_it() {
    let proxy = FaultProxy::start(&local_endpoint()).await;
    let f = Fixture::local().await;
    for (fault, case) in FAULTS {
        let me = signed_in(f.store(), f.now()).await;
        let other = sign_in(f.store(), &me.name, f.now()).await;
        // Every other session is revoked, then deleting the user fails.
        proxy.plan(failing("DeleteItem", fault));
        let deps = account_deps(&Fixture::behind(&proxy.endpoint).await);
        assert_unavailable(
            &call(delete_account::handle, &deps, delete(&me, PASSWORD)).await,
            case,
        );
        assert_eq!(
            send_refresh(&f, &other.refresh_token).await.status(),
            401,
            "{case}: revoked"
        );
        // The calling session alone stays live, so the same token can retry (a revoked
        // session's token is refused here, as on every account route).
        assert!(
            !f.store().get(&me.sid).await.unwrap().unwrap().revoked,
            "{case}: the caller's session is live"
        );
        assert!(
            f.store().find(&me.name).await.unwrap().is_some(),
            "{case}: not yet deleted"
        );

        proxy.always(Action::Forward);
        let retry = call(delete_account::handle, &deps, delete(&me, PASSWORD)).await;
        assert_eq!(retry.status(), 204, "{case}: the retry completes it");
        assert!(f.store().find(&me.name).await.unwrap().is_none(), "{case}");
        assert!(f.store().get(&other.sid).await.unwrap().is_none(), "{case}");
    }
    let me = signed_in(f.store(), f.now()).await;
    let deps = account_deps(&Fixture::unreachable().await);
    assert_unavailable(
        &call(delete_account::handle, &deps, delete(&me, PASSWORD)).await,
        "refused",
    );
    assert!(f.store().find(&me.name).await.unwrap().is_some());
}

#[tokio::test]
async fn the_session_routes_answer_503_on_every_fault_and_change_nothing() {
    let proxy = FaultProxy::start(&local_endpoint()).await;
    let f = Fixture::local().await;
    for (fault, case) in FAULTS {
        let me = signed_in(f.store(), f.now()).await;
        let laptop = sign_in(f.store(), &me.name, f.now()).await;
        let deps = account_deps(&Fixture::behind(&proxy.endpoint).await);
        let with = |name: &str| Event::load(name).header("authorization", Some(&me.bearer));

        proxy.always(fault);
        let list = call(
            list_sessions::handle,
            &deps,
            with("list-sessions").request(),
        )
        .await;
        assert_unavailable(&list, case);

        proxy.plan(failing("UpdateItem", fault));
        let one = with("end-session").route("DELETE", &format!("/sessions/{}", laptop.sid));
        assert_unavailable(&call(end_session::handle, &deps, one.request()).await, case);

        proxy.plan(failing("Query", fault));
        let all = call(
            end_all_sessions::handle,
            &deps,
            with("end-all-sessions").request(),
        )
        .await;
        assert_unavailable(&all, case);

        proxy.always(Action::Forward);
        assert_eq!(
            send_refresh(&f, &laptop.refresh_token).await.status(),
            200,
            "{case}: still live"
        );
    }
}

#[tokio::test]
async fn a_disable_whose_revocation_fails_is_a_503_and_a_retry_revokes_the_sessions() {
    let proxy = FaultProxy::start(&local_endpoint()).await;
    let f = Fixture::local().await;
    let (_, admin) = shared::testing::admin_caller(f.store()).await;
    for (fault, case) in FAULTS {
        let target = signed_in(f.store(), f.now()).await;
        let second = sign_in(f.store(), &target.name, f.now()).await;
        let behind = Fixture::behind(&proxy.endpoint).await;
        let settings = shared::admin::Settings::from_vars(behind.vars()).unwrap();
        let deps =
            shared::admin::Deps::build(settings, behind.store(), behind.keys(), behind.clock())
                .unwrap();
        let disable = || {
            Event::load("admin-update-user")
                .route("PATCH", &format!("/admin/users/{}", target.name))
                .header("authorization", Some(&admin))
                .json(json!({"disabled": true}))
                .request()
        };
        // The user is disabled, then listing their sessions fails.
        proxy.plan(failing("Query", fault));
        assert_unavailable(
            &call(admin_update_user::handle, &deps, disable()).await,
            case,
        );
        proxy.always(Action::Forward);
        assert_eq!(
            send_refresh(&f, &target.refresh_token).await.status(),
            401,
            "{case}: a disabled user's session refreshes no more"
        );
        assert!(
            !f.store().get(&second.sid).await.unwrap().unwrap().revoked,
            "{case}: the revocation did not run"
        );
        let retry = call(admin_update_user::handle, &deps, disable()).await;
        assert_eq!(retry.status(), 200, "{case}");
        assert!(
            f.store().get(&second.sid).await.unwrap().unwrap().revoked,
            "{case}: the retry revoked it"
        );
    }
}
