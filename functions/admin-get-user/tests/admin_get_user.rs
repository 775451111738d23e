//! `GET /admin/users/{username}` against the real local DynamoDB-compatible server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use admin_get_user::{Deps, Settings};
use lambda_http::{Body, Response};
use serde_json::json;
use shared::testing::{
    Event, Fixture, admin_caller, body_json, call, create_user, unique, user_bearer, user_id_of,
};

fn deps_from(f: &Fixture) -> Deps {
    let settings = Settings::from_vars(f.vars()).unwrap();
    Deps::build(settings, f.store(), f.keys(), f.clock()).unwrap()
}

/// `GET /admin/users/<name>` from the sample event, with this `Authorization` header.
fn get(name: &str, authorization: Option<&str>) -> Event {
    Event::load("admin-get-user")
        .route("GET", &format!("/admin/users/{name}"))
        .header("authorization", authorization)
}

async fn send(deps: &Deps, event: Event) -> Response<Body> {
    call(admin_get_user::handle, deps, event.request()).await
}

#[tokio::test]
async fn an_admin_sees_the_user_with_roles_state_and_registration_time() {
    let f = Fixture::local().await;
    let deps = deps_from(&f);
    let (_, admin) = admin_caller(f.store()).await;
    let name = unique("Target_");
    create_user(
        f.store().as_ref(),
        &name,
        "correct horse battery",
        &["support", "admin"],
    )
    .await;

    // Matched case-insensitively, like login.
    let response = send(&deps, get(&name.to_lowercase(), Some(&admin))).await;

    assert_eq!(response.status(), 200);
    let body = body_json(&response);
    let created = body["created_at"].as_str().unwrap().to_owned();
    assert_eq!(
        body,
        json!({
            "user_id": user_id_of(&name), "username": name, "roles": ["admin", "support"],
            "disabled": false, "created_at": created
        })
    );
    assert!(
        created.len() == 20 && created.ends_with('Z') && created.as_bytes()[10] == b'T',
        "RFC 3339 in UTC: {created}"
    );
}

#[tokio::test]
async fn the_sample_event_for_an_unknown_user_is_404() {
    let f = Fixture::local().await;
    let (_, admin) = admin_caller(f.store()).await;
    let event = Event::load("admin-get-user-unknown").header("authorization", Some(&admin));

    let response = send(&deps_from(&f), event).await;

    assert_eq!(response.status(), 404);
    assert_eq!(
        body_json(&response),
        json!({"msg": "User not found", "error": "user_not_found"})
    );
}

#[tokio::test]
async fn a_name_that_cannot_be_a_user_is_404_too() {
    let f = Fixture::local().await;
    let (_, admin) = admin_caller(f.store()).await;
    for name in ["ab", "bad%20name", "x".repeat(40).as_str()] {
        let response = send(&deps_from(&f), get(name, Some(&admin))).await;
        assert_eq!(response.status(), 404, "{name}");
    }
}

#[tokio::test]
async fn a_user_token_is_403_insufficient_scope_with_the_rfc_6750_challenge() {
    let f = Fixture::local().await;
    let name = unique("plain_");
    create_user(f.store().as_ref(), &name, "correct horse battery", &[]).await;

    let response = send(&deps_from(&f), get(&name, Some(&user_bearer(&name)))).await;

    assert_eq!(response.status(), 403);
    assert_eq!(
        body_json(&response),
        json!({"msg": "Insufficient scope", "error": "insufficient_scope"})
    );
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer realm=\"auth-api-test\", error=\"insufficient_scope\", scope=\"admin\""
    );
}

#[tokio::test]
async fn missing_or_invalid_tokens_keep_their_401s() {
    let f = Fixture::local().await;
    let deps = deps_from(&f);
    let missing = send(&deps, get("alice", None)).await;
    assert_eq!(missing.status(), 401);
    assert_eq!(body_json(&missing)["error"], "missing_token");
    let sample = send(&deps, Event::load("admin-get-user")).await;
    assert_eq!(sample.status(), 401);
    assert_eq!(body_json(&sample)["error"], "invalid_token");
}

#[tokio::test]
async fn wrong_method_is_405_with_both_methods_of_the_path() {
    let f = Fixture::local().await;
    let event = get("alice", None).route("POST", "/admin/users/alice");
    let response = send(&deps_from(&f), event).await;
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "GET, PATCH");
}

#[tokio::test]
async fn an_unreachable_store_is_503() {
    let f = Fixture::unreachable().await;
    let admin = format!(
        "Bearer {}",
        shared::testing::access_token("someone", "s", shared::unix_now(), &["admin"])
    );
    let response = send(&deps_from(&f), get("alice", Some(&admin))).await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
}

#[tokio::test]
async fn a_user_token_with_scope_edited_in_is_401_not_admin() {
    let f = Fixture::local().await;
    let bad = shared::bad_tokens::named(
        &shared::testing::bad_tokens(shared::unix_now()),
        "scope claim edited, signature kept",
    );
    let response = send(
        &deps_from(&f),
        get("alice", Some(&format!("Bearer {}", bad.token))),
    )
    .await;
    assert_eq!(response.status(), 401);
    assert_eq!(body_json(&response)["error"], "invalid_token");
}
