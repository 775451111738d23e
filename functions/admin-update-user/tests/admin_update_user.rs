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
    let (_, admin) = admin_caller(f.store().as_ref()).await;
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
    let (_, admin) = admin_caller(f.store().as_ref()).await;
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
    let (_, admin) = admin_caller(f.store().as_ref()).await;
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
    let (_, admin) = admin_caller(f.store().as_ref()).await;
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
    let (me, admin) = admin_caller(f.store().as_ref()).await;
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

    let (_, admin) = admin_caller(f.store().as_ref()).await;
    let unknown = send(
        &deps_from(&f),
        patch(&unique("ghost_"), &admin, json!({"disabled": true})),
    )
    .await;
    assert_eq!(unknown.status(), 404);
    assert_eq!(body_json(&unknown)["error"], "user_not_found");
}
