//! `POST /logout` against the real local DynamoDB-compatible server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use logout::{Deps, Settings};
use serde_json::json;
use shared::refresh::{GrantError, GrantRefused};
use shared::store::dynamo::DynamoStore;
use shared::testing::{Event, Fixture, body_json, call, refresh_now, user_with_session};
use shared::unix_now;

/// The handler under test; every response is also recorded for the OpenAPI contract check.
async fn handle(
    deps: &Deps,
    req: lambda_http::Request,
) -> lambda_http::Response<lambda_http::Body> {
    call(logout::handle, deps, req).await
}

/// The function assembled as `main` assembles it, from the fixture's parts.
fn deps_from(f: &Fixture) -> Deps {
    Deps::build(
        Settings::from_vars(f.vars()).unwrap(),
        f.store(),
        f.keys(),
        f.clock(),
    )
    .unwrap()
}

async fn deps() -> Deps {
    deps_from(&Fixture::local().await)
}

/// The users of the local server.
async fn users() -> std::sync::Arc<DynamoStore> {
    Fixture::local().await.store()
}

/// True when `result` is the refusal of a revoked session.
fn revoked<T>(result: Result<T, GrantError>) -> bool {
    matches!(result, Err(GrantError::Refused(GrantRefused::Revoked, _)))
}

fn logout_event(token: &str) -> Event {
    Event::load("logout").json(json!({"refresh_token": token}))
}

#[tokio::test]
async fn logout_revokes_the_session_and_answers_204() {
    let deps = deps().await;
    let now = unix_now();
    let users = users().await;
    let (_, _, token) = user_with_session(&deps.sessions, users.as_ref(), now).await;

    let response = handle(&deps, logout_event(&token).request()).await;

    assert_eq!(response.status(), 204);
    assert!(response.body().is_empty());
    assert_eq!(response.headers()["cache-control"], "no-store");
    let after = refresh_now(&deps.sessions, users.as_ref(), &token, now).await;
    assert!(revoked(after), "the refresh token is dead after logout");
}

#[tokio::test]
async fn logout_kills_every_generation_of_the_family() {
    let deps = deps().await;
    let now = unix_now();
    let users = users().await;
    let (_, _, first) = user_with_session(&deps.sessions, users.as_ref(), now).await;
    let second = refresh_now(&deps.sessions, users.as_ref(), &first, now)
        .await
        .unwrap()
        .refresh_token;

    assert_eq!(
        handle(&deps, logout_event(&second).request())
            .await
            .status(),
        204
    );

    let users = users.as_ref();
    assert!(revoked(
        refresh_now(&deps.sessions, users, &second, now).await
    ));
    assert!(revoked(
        refresh_now(&deps.sessions, users, &first, now).await
    ));
}

#[tokio::test]
async fn logout_is_idempotent() {
    let deps = deps().await;
    let (_, _, token) = user_with_session(&deps.sessions, users().await.as_ref(), unix_now()).await;
    assert_eq!(
        handle(&deps, logout_event(&token).request()).await.status(),
        204
    );
    assert_eq!(
        handle(&deps, logout_event(&token).request()).await.status(),
        204
    );
}

#[tokio::test]
async fn sample_event_placeholder_token_is_invalid_grant() {
    let response = handle(&deps().await, Event::load("logout").request()).await;
    assert_eq!(response.status(), 401);
    assert_eq!(body_json(&response)["error"], "invalid_grant");
}

#[tokio::test]
async fn missing_field_is_400_and_wrong_method_405() {
    let deps = deps().await;
    let response = handle(&deps, Event::load("logout").json(json!({})).request()).await;
    assert_eq!(response.status(), 400);
    let response = handle(
        &deps,
        Event::load("logout").route("GET", "/logout").request(),
    )
    .await;
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
}

#[tokio::test]
async fn unreachable_dynamodb_returns_503() {
    let now = unix_now();
    let healthy = deps().await;
    let (_, _, token) = user_with_session(&healthy.sessions, users().await.as_ref(), now).await;
    let down = deps_from(&Fixture::unreachable().await);
    let response = handle(&down, logout_event(&token).request()).await;
    assert_eq!(response.status(), 503);
    assert_eq!(body_json(&response)["error"], "service_unavailable");
}
