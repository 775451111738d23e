//! `DELETE /admin/users/{username}/mfa` against the real local DynamoDB-compatible server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use admin_remove_mfa::{Deps, Settings};
use lambda_http::{Body, Response};
use serde_json::json;
use shared::store::MfaState;
use shared::testing::{
    Event, Fixture, admin_caller, body_json, call, create_user, enable_mfa, session_revoked,
    sign_in, sign_in_with_amr, signed_in, stored, unique, user_bearer,
};

fn deps_from(f: &Fixture) -> Deps {
    let settings = Settings::from_vars(f.vars()).unwrap();
    Deps::build(settings, f.store(), f.keys(), f.clock()).unwrap()
}

fn remove(name: &str, authorization: Option<&str>) -> Event {
    Event::load("admin-remove-mfa")
        .route("DELETE", &format!("/admin/users/{name}/mfa"))
        .header("authorization", authorization)
}

async fn send(deps: &Deps, event: Event) -> Response<Body> {
    call(admin_remove_mfa::handle, deps, event.request()).await
}

/// An admin signed in with a TOTP code (`amr` `["mfa", "otp", "pwd"]`): the `Authorization`
/// value of an admin token of that session.
async fn admin_with_mfa(f: &Fixture) -> String {
    let name = unique("admin_");
    create_user(
        f.store().as_ref(),
        &name,
        "correct horse battery",
        &["admin"],
    )
    .await;
    let amr = shared::mfa::AMR_TOTP;
    sign_in_with_amr(f.store(), &name, f.now(), &["admin"], amr)
        .await
        .bearer
}

#[tokio::test]
async fn an_admin_removes_the_second_factor_and_revokes_every_session_of_the_user() {
    let f = Fixture::local().await;
    let (_, admin) = admin_caller(f.store()).await;
    let target = signed_in(f.store(), f.now()).await;
    let second = sign_in(f.store(), &target.name, f.now()).await;
    let bystander = signed_in(f.store(), f.now()).await;
    enable_mfa(f.store().as_ref(), &target.name).await;
    enable_mfa(f.store().as_ref(), &bystander.name).await;

    // Matched case-insensitively, like login.
    let response = send(
        &deps_from(&f),
        remove(&target.name.to_uppercase(), Some(&admin)),
    )
    .await;

    assert_eq!(response.status(), 204, "{:?}", response.body());
    assert!(response.body().is_empty());
    assert_eq!(
        stored(f.store().as_ref(), &target.name).await.mfa,
        MfaState::default()
    );
    for sid in [&target.sid, &second.sid] {
        assert!(session_revoked(f.store().as_ref(), sid).await, "{sid}");
    }
    assert!(!session_revoked(f.store().as_ref(), &bystander.sid).await);
    assert!(
        stored(f.store().as_ref(), &bystander.name)
            .await
            .mfa
            .enabled()
    );
    // Idempotent.
    let again = send(&deps_from(&f), remove(&target.name, Some(&admin))).await;
    assert_eq!(again.status(), 204);
}

#[tokio::test]
async fn an_unknown_user_is_404_and_a_user_token_403() {
    let f = Fixture::local().await;
    let (_, admin) = admin_caller(f.store()).await;

    let response = send(&deps_from(&f), remove(&unique("nobody_"), Some(&admin))).await;
    assert_eq!(response.status(), 404);
    assert_eq!(
        body_json(&response),
        json!({"msg": "User not found", "error": "user_not_found"})
    );

    let target = signed_in(f.store(), f.now()).await;
    enable_mfa(f.store().as_ref(), &target.name).await;
    let response = send(
        &deps_from(&f),
        remove(&target.name, Some(&user_bearer(&target.name))),
    )
    .await;
    assert_eq!(response.status(), 403);
    assert_eq!(body_json(&response)["error"], "insufficient_scope");
    assert!(stored(f.store().as_ref(), &target.name).await.mfa.enabled());
}

#[tokio::test]
async fn with_admin_require_mfa_only_an_admin_token_with_mfa_passes() {
    let f = Fixture::local().await.with("ADMIN_REQUIRE_MFA", "true");
    let deps = deps_from(&f);
    let (_, password_only) = admin_caller(f.store()).await;
    let target = signed_in(f.store(), f.now()).await;
    enable_mfa(f.store().as_ref(), &target.name).await;

    let response = send(&deps, remove(&target.name, Some(&password_only))).await;

    assert_eq!(response.status(), 403);
    assert_eq!(
        body_json(&response)["error"],
        "insufficient_user_authentication"
    );
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains("insufficient_user_authentication"),
        "{challenge}"
    );
    assert!(stored(f.store().as_ref(), &target.name).await.mfa.enabled());
    assert!(!session_revoked(f.store().as_ref(), &target.sid).await);

    let with_mfa = admin_with_mfa(&f).await;
    let response = send(&deps, remove(&target.name, Some(&with_mfa))).await;
    assert_eq!(response.status(), 204, "{:?}", response.body());
    assert!(!stored(f.store().as_ref(), &target.name).await.mfa.enabled());
}

#[tokio::test]
async fn the_sample_without_a_real_token_is_401_and_another_method_405() {
    let f = Fixture::local().await;
    let response = send(&deps_from(&f), Event::load("admin-remove-mfa")).await;
    assert_eq!(response.status(), 401);
    assert_eq!(body_json(&response)["error"], "invalid_token");

    let event = Event::load("admin-remove-mfa").route("GET", "/admin/users/alice/mfa");
    let response = send(&deps_from(&f), event).await;
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "DELETE");
}
