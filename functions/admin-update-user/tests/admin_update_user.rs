//! `PATCH /admin/users/{username}` against the real local DynamoDB-compatible server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use admin_update_user::{Deps, Settings};
use lambda_http::{Body, Response};
use serde_json::{Value, json};
use shared::store::{SessionStore, UserStore};
use shared::testing::{
    Event, Fixture, admin_caller, body_json, call, create_user, unique, user_bearer,
    user_with_session,
};

fn deps_from(f: &Fixture) -> Deps {
    let settings = Settings::from_vars(f.vars()).unwrap();
    Deps::build(settings, f.store(), f.keys(), f.clock()).unwrap()
}

fn patch(name: &str, authorization: &str, body: Value) -> Event {
    Event::load("admin-update-user")
        .route("PATCH", &format!("/admin/users/{name}"))
        .header("authorization", Some(authorization))
        .json(body)
}

async fn send(deps: &Deps, event: Event) -> Response<Body> {
    call(admin_update_user::handle, deps, event.request()).await
}

async fn new_user(f: &Fixture) -> String {
    let name = unique("managed_");
    create_user(f.store().as_ref(), &name, "correct horse battery", &[]).await;
    name
}

#[tokio::test]
async fn an_admin_replaces_the_roles_and_gets_the_updated_user() {
    let f = Fixture::local().await;
    let (_, admin) = admin_caller(f.store()).await;
    let name = new_user(&f).await;
    let event = Event::load("admin-update-user")
        .route("PATCH", &format!("/admin/users/{}", name.to_uppercase()))
        .header("authorization", Some(&admin));

    let response = send(&deps_from(&f), event).await;

    assert_eq!(response.status(), 200, "{}", body_json(&response));
    let body = body_json(&response);
    assert_eq!(
        (body["username"].as_str(), &body["roles"]),
        (Some(name.as_str()), &json!(["admin"]))
    );
    assert_eq!(body["disabled"], false);
    let stored = f.store().find(&name.to_lowercase()).await.unwrap().unwrap();
    assert_eq!(stored.roles, vec!["admin"]);
}

#[tokio::test]
async fn disabling_a_user_revokes_every_session_of_theirs() {
    let f = Fixture::local().await;
    let deps = deps_from(&f);
    let (_, admin) = admin_caller(f.store()).await;
    let sessions = shared::refresh::Sessions::new(
        f.store(),
        &f.keys(),
        shared::config::SessionConfig::from_vars(f.vars()).unwrap(),
    )
    .unwrap();
    let (name, first, _) = user_with_session(&sessions, f.store().as_ref(), f.now()).await;
    let user_id = shared::testing::user_id_of(&name);
    let (second, _) = sessions.start(&user_id, &name, f.now()).await.unwrap();

    let response = send(&deps, patch(&name, &admin, json!({"disabled": true}))).await;

    assert_eq!(response.status(), 200);
    assert_eq!(body_json(&response)["disabled"], true);
    for sid in [first, second] {
        assert!(f.store().get(&sid).await.unwrap().unwrap().revoked, "{sid}");
    }
    // And enabling again is a plain write.
    let response = send(&deps, patch(&name, &admin, json!({"disabled": false}))).await;
    assert_eq!(body_json(&response)["disabled"], false);
}

#[tokio::test]
async fn the_invalid_sample_is_a_400_naming_each_field() {
    let f = Fixture::local().await;
    let (_, admin) = admin_caller(f.store()).await;
    let event = Event::load("admin-update-user-invalid").header("authorization", Some(&admin));

    let response = send(&deps_from(&f), event).await;

    assert_eq!(response.status(), 400);
    let body = body_json(&response);
    assert_eq!(body["error"], "validation_error");
    assert!(
        body["details"]["roles"].is_array() && body["details"]["password"].is_array(),
        "{body}"
    );
}

#[tokio::test]
async fn an_empty_change_or_a_wrong_type_is_a_400() {
    let f = Fixture::local().await;
    let (_, admin) = admin_caller(f.store()).await;
    let name = new_user(&f).await;
    for (body, field) in [
        (json!({}), "body"),
        (json!({"disabled": "yes"}), "disabled"),
        (json!({"roles": "admin"}), "roles"),
        (json!({"roles": ["no-such-role"]}), "roles"),
    ] {
        let response = send(&deps_from(&f), patch(&name, &admin, body.clone())).await;
        assert_eq!(response.status(), 400, "{body}");
        assert!(body_json(&response)["details"][field].is_array(), "{body}");
    }
}

#[tokio::test]
async fn an_admin_cannot_disable_themselves_or_drop_their_own_admin_role() {
    let f = Fixture::local().await;
    let (me, admin) = admin_caller(f.store()).await;
    for (body, field) in [
        (json!({"disabled": true}), "disabled"),
        (json!({"roles": []}), "roles"),
    ] {
        let response = send(&deps_from(&f), patch(&me, &admin, body.clone())).await;
        assert_eq!(response.status(), 400, "{body}");
        assert!(body_json(&response)["details"][field].is_array(), "{body}");
    }
    let stored = f.store().find(&me.to_lowercase()).await.unwrap().unwrap();
    assert!(
        !stored.disabled && stored.roles == vec!["admin"],
        "unchanged"
    );
    // Keeping admin while changing other roles is fine.
    let ok = send(
        &deps_from(&f),
        patch(&me, &admin, json!({"roles": ["admin", "user"]})),
    )
    .await;
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn a_user_token_is_403_and_an_unknown_user_404() {
    let f = Fixture::local().await;
    let name = new_user(&f).await;
    let forbidden = send(
        &deps_from(&f),
        patch(&name, &user_bearer(&name), json!({"roles": ["admin"]})),
    )
    .await;
    assert_eq!(forbidden.status(), 403);
    assert_eq!(body_json(&forbidden)["error"], "insufficient_scope");
    assert!(
        f.store()
            .find(&name.to_lowercase())
            .await
            .unwrap()
            .unwrap()
            .roles
            .is_empty()
    );

    let (_, admin) = admin_caller(f.store()).await;
    let unknown = send(
        &deps_from(&f),
        patch(&unique("ghost_"), &admin, json!({"disabled": true})),
    )
    .await;
    assert_eq!(unknown.status(), 404);
    assert_eq!(body_json(&unknown)["error"], "user_not_found");
}

/// An admin signed in for real (a live session), and a second one to act on them.
async fn two_admins(f: &Fixture) -> (shared::testing::SignedIn, String) {
    let (me, _) = admin_caller(f.store()).await;
    let me = shared::testing::sign_in(f.store(), &me, f.now()).await;
    let me = shared::testing::SignedIn {
        bearer: format!(
            "Bearer {}",
            shared::testing::access_token(&me.name, &me.sid, f.now(), &["admin"])
        ),
        ..me
    };
    let (other, _) = admin_caller(f.store()).await;
    (me, other)
}

/// Within its token's lifetime, an admin whose standing changed tries to promote a backdoor
/// account: the token still says `admin`, the store no longer does.
async fn promote_backdoor(f: &Fixture, me: &shared::testing::SignedIn) -> (Response<Body>, String) {
    let backdoor = new_user(f).await;
    let response = send(
        &deps_from(f),
        patch(&backdoor, &me.bearer, json!({"roles": ["admin"]})),
    )
    .await;
    (response, backdoor)
}

async fn roles_of(f: &Fixture, name: &str) -> Vec<String> {
    shared::testing::stored(f.store().as_ref(), name)
        .await
        .roles
}

#[tokio::test]
async fn an_admin_whose_session_was_revoked_can_no_longer_act() {
    let f = Fixture::local().await;
    let (me, _) = two_admins(&f).await;
    f.store()
        .revoke_all(&shared::testing::user_id_of(&me.name), None, f.now())
        .await
        .unwrap();

    let (response, backdoor) = promote_backdoor(&f, &me).await;
    let again = send(
        &deps_from(&f),
        patch(&me.name, &me.bearer, json!({"roles": ["admin"]})),
    )
    .await;

    assert_eq!(response.status(), 401, "{}", body_json(&response));
    assert_eq!(body_json(&response)["error"], "invalid_token");
    assert_eq!(again.status(), 401);
    assert!(roles_of(&f, &backdoor).await.is_empty(), "nothing granted");
}

#[tokio::test]
async fn a_disabled_admin_can_no_longer_act_or_re_enable_themselves() {
    let f = Fixture::local().await;
    let (me, _) = two_admins(&f).await;
    // Disabled straight in the store, the session left live: the user's state alone refuses.
    shared::testing::set_disabled(f.store().as_ref(), &me.name, true).await;

    let (response, backdoor) = promote_backdoor(&f, &me).await;
    let enable = send(
        &deps_from(&f),
        patch(&me.name, &me.bearer, json!({"disabled": false})),
    )
    .await;

    assert_eq!(response.status(), 401, "{}", body_json(&response));
    assert_eq!(body_json(&response)["error"], "invalid_token");
    assert_eq!(enable.status(), 401);
    assert!(roles_of(&f, &backdoor).await.is_empty(), "nothing granted");
    assert!(
        shared::testing::stored(f.store().as_ref(), &me.name)
            .await
            .disabled
    );
}

#[tokio::test]
async fn a_demoted_admin_can_no_longer_act_or_re_promote_themselves() {
    let f = Fixture::local().await;
    let (me, _) = two_admins(&f).await;
    shared::testing::set_roles(f.store().as_ref(), &me.name, &[]).await;

    let (response, backdoor) = promote_backdoor(&f, &me).await;
    let again = send(
        &deps_from(&f),
        patch(&me.name, &me.bearer, json!({"roles": ["admin"]})),
    )
    .await;

    assert_eq!(response.status(), 403, "{}", body_json(&response));
    assert_eq!(body_json(&response)["error"], "insufficient_scope");
    assert_eq!(again.status(), 403);
    assert!(roles_of(&f, &backdoor).await.is_empty(), "nothing granted");
    assert!(roles_of(&f, &me.name).await.is_empty(), "still demoted");
}

#[tokio::test]
async fn the_self_lockout_guard_follows_the_admin_scope_not_the_role_name() {
    let f = Fixture::local().await;
    let mut vars = f.vars().clone();
    vars.set(
        "ROLE_SCOPES",
        r#"{"user":["profile"],"admin":["admin"],"operator":["admin","profile"],"support":["tickets"]}"#,
    );
    let deps = Deps::build(
        Settings::from_vars(&vars).unwrap(),
        f.store(),
        f.keys(),
        f.clock(),
    )
    .unwrap();
    let (me, _) = two_admins(&f).await;

    // Trading `admin` for another role that grants the admin scope keeps them an admin: fine.
    let swap = send(
        &deps,
        patch(&me.name, &me.bearer, json!({"roles": ["operator"]})),
    )
    .await;
    // Giving up every role that grants it is a lockout, whatever the roles are named.
    let drop = send(
        &deps,
        patch(&me.name, &me.bearer, json!({"roles": ["support"]})),
    )
    .await;

    assert_eq!(swap.status(), 200, "{}", body_json(&swap));
    assert_eq!(drop.status(), 400, "{}", body_json(&drop));
    assert!(body_json(&drop)["details"]["roles"].is_array());
    assert_eq!(roles_of(&f, &me.name).await, vec!["operator"]);
}

#[tokio::test]
async fn an_admin_demotes_or_disables_another_and_the_last_one_standing_cannot_be() {
    let f = Fixture::local().await;
    let (me, other) = two_admins(&f).await;

    let demoted = send(
        &deps_from(&f),
        patch(&other, &me.bearer, json!({"roles": []})),
    )
    .await;

    assert_eq!(demoted.status(), 200, "{}", body_json(&demoted));
    assert!(roles_of(&f, &other).await.is_empty());
    // The one admin left can neither demote nor disable themselves.
    for body in [json!({"roles": []}), json!({"disabled": true})] {
        let response = send(&deps_from(&f), patch(&me.name, &me.bearer, body.clone())).await;
        assert_eq!(response.status(), 400, "{body}: {}", body_json(&response));
    }
    assert_eq!(roles_of(&f, &me.name).await, vec!["admin"]);
}

#[tokio::test]
async fn two_admins_demoting_each_other_at_once_leave_one_admin() {
    let f = Fixture::local().await;
    let (me, other) = two_admins(&f).await;
    let other = shared::testing::sign_in(f.store(), &other, f.now()).await;
    let other_bearer = format!(
        "Bearer {}",
        shared::testing::access_token(&other.name, &other.sid, f.now(), &["admin"])
    );
    let deps = deps_from(&f);

    for _ in 0..5 {
        // Both admins again, then each takes the other's admin role at the same moment.
        shared::testing::set_roles(f.store().as_ref(), &me.name, &["admin"]).await;
        shared::testing::set_roles(f.store().as_ref(), &other.name, &["admin"]).await;
        let (a, b) = tokio::join!(
            send(&deps, patch(&other.name, &me.bearer, json!({"roles": []}))),
            send(&deps, patch(&me.name, &other_bearer, json!({"roles": []}))),
        );
        let statuses = [a.status().as_u16(), b.status().as_u16()];
        let me_admin = roles_of(&f, &me.name).await == vec!["admin"];
        let other_admin = roles_of(&f, &other.name).await == vec!["admin"];
        assert!(me_admin || other_admin, "no admin left: {statuses:?}");
        assert!(statuses.contains(&200), "{statuses:?}");
        for (status, response) in [(statuses[0], &a), (statuses[1], &b)] {
            if status != 200 {
                // Refused as the last admin, or because the caller was demoted first.
                let code = body_json(response)["error"].clone();
                assert!(
                    code == "last_admin" || code == "insufficient_scope" || code == "invalid_token",
                    "{status}: {code}"
                );
            }
        }
    }
}

#[tokio::test]
async fn disabling_a_user_forgets_their_familiar_sources_and_enabling_does_not() {
    let f = Fixture::local().await;
    let (_, admin) = admin_caller(f.store()).await;
    let name = new_user(&f).await;
    let epoch = || async {
        shared::testing::stored(f.store().as_ref(), &name)
            .await
            .sources_epoch
    };
    let before = epoch().await;

    let off = send(
        &deps_from(&f),
        patch(&name, &admin, json!({"disabled": true})),
    )
    .await;
    let on = send(
        &deps_from(&f),
        patch(&name, &admin, json!({"disabled": false})),
    )
    .await;

    assert_eq!((off.status().as_u16(), on.status().as_u16()), (200, 200));
    assert_eq!(epoch().await, before + 1);
}
