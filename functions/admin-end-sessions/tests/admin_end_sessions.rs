//! `DELETE /admin/users/{username}/sessions` against the real local DynamoDB-compatible server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use admin_end_sessions::{Deps, Settings};
use lambda_http::{Body, Response};
use serde_json::json;
use shared::store::SessionStore;
use shared::testing::{
    Event, Fixture, admin_caller, body_json, call, unique, user_bearer, user_id_of,
    user_with_session,
};

fn deps_from(f: &Fixture) -> Deps {
    let settings = Settings::from_vars(f.vars()).unwrap();
    Deps::build(settings, f.store(), f.keys(), f.clock()).unwrap()
}

fn delete(name: &str, authorization: &str) -> Event {
    Event::load("admin-end-sessions")
        .route("DELETE", &format!("/admin/users/{name}/sessions"))
        .header("authorization", Some(authorization))
}

async fn send(deps: &Deps, event: Event) -> Response<Body> {
    call(admin_end_sessions::handle, deps, event.request()).await
}

fn sessions(f: &Fixture) -> shared::refresh::Sessions {
    let config = shared::config::SessionConfig::from_vars(f.vars()).unwrap();
    shared::refresh::Sessions::new(f.store(), &f.keys(), config).unwrap()
}

#[tokio::test]
async fn every_session_of_the_user_is_revoked_and_others_are_not() {
    let f = Fixture::local().await;
    let (_, admin) = admin_caller(f.store()).await;
    let sessions = sessions(&f);
    let (name, first, _) = user_with_session(&sessions, f.store().as_ref(), f.now()).await;
    let (second, _) = sessions
        .start(&user_id_of(&name), &name, f.now())
        .await
        .unwrap();
    let (_, bystander, _) = user_with_session(&sessions, f.store().as_ref(), f.now()).await;

    let response = send(&deps_from(&f), delete(&name, &admin)).await;

    assert_eq!(response.status(), 204);
    assert!(response.body().is_empty());
    for sid in [&first, &second] {
        assert!(f.store().get(sid).await.unwrap().unwrap().revoked, "{sid}");
    }
    assert!(!f.store().get(&bystander).await.unwrap().unwrap().revoked);
    // Idempotent.
    assert_eq!(
        send(&deps_from(&f), delete(&name, &admin)).await.status(),
        204
    );
}

#[tokio::test]
async fn the_sample_for_an_unknown_user_is_404_and_a_user_token_403() {
    let f = Fixture::local().await;
    let (_, admin) = admin_caller(f.store()).await;
    let unknown = Event::load("admin-end-sessions-unknown").header("authorization", Some(&admin));
    let response = send(&deps_from(&f), unknown).await;
    assert_eq!(response.status(), 404);
    assert_eq!(
        body_json(&response),
        json!({"msg": "User not found", "error": "user_not_found"})
    );

    let name = unique("plain_");
    let response = send(&deps_from(&f), delete(&name, &user_bearer(&name))).await;
    assert_eq!(response.status(), 403);
    assert_eq!(body_json(&response)["error"], "insufficient_scope");
}

#[tokio::test]
async fn the_sample_without_a_real_token_is_401_and_wrong_method_405() {
    let f = Fixture::local().await;
    let response = send(&deps_from(&f), Event::load("admin-end-sessions")).await;
    assert_eq!(response.status(), 401);
    let event = Event::load("admin-end-sessions").route("GET", "/admin/users/alice/sessions");
    let response = send(&deps_from(&f), event).await;
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "DELETE");
}
