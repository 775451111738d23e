//! A user with a second factor: the right password answers `403 mfa_required` with an
//! `mfa_token` and no token; a wrong one is the same 401 as for anyone.

use serde_json::json;
use shared::mfa::parse_mfa_token;
use shared::store::ChallengeStore;
use shared::testing::{Fixture, body_json, enable_mfa, unique, unique_ip, user_id_of};

use crate::helpers::{PASSWORD, create_user, deps_from, handle, login_event};

#[tokio::test]
async fn the_right_password_of_an_mfa_user_answers_mfa_required_with_an_mfa_token() {
    let f = Fixture::local().await;
    let deps = deps_from(&f);
    let name = unique("mfa_");
    create_user(&deps, &name).await;
    enable_mfa(deps.users.as_ref(), &name).await;

    let response = handle(&deps, login_event(&name, PASSWORD, &unique_ip()).request()).await;

    assert_eq!(response.status(), 403);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body = body_json(&response);
    assert_eq!(body["error"], "mfa_required");
    assert_eq!(body["expires_in"], 300);
    assert!(body.get("access_token").is_none() && body.get("refresh_token").is_none());
    let token = body["mfa_token"].as_str().unwrap();
    let (key, id) = parse_mfa_token(token).unwrap();
    assert_eq!(key, name.to_lowercase());
    // Stored as a hash, bound to the user, live for 300 s.
    let challenge = f.store().challenge(&id).await.unwrap().unwrap();
    assert_eq!(challenge.user_id, user_id_of(&name));
    assert_eq!(challenge.expires_at, f.now() + 300);
    assert!(!id.contains(token) && !token.contains(&id));
}

#[tokio::test]
async fn a_wrong_password_is_the_same_401_with_or_without_mfa() {
    let f = Fixture::local().await;
    let deps = deps_from(&f);
    let with = unique("mfa_");
    let without = unique("plain_");
    create_user(&deps, &with).await;
    create_user(&deps, &without).await;
    enable_mfa(deps.users.as_ref(), &with).await;

    let a = handle(
        &deps,
        login_event(&with, "not the password", &unique_ip()).request(),
    )
    .await;
    let b = handle(
        &deps,
        login_event(&without, "not the password", &unique_ip()).request(),
    )
    .await;

    assert_eq!(a.status(), 401);
    assert_eq!(a.body().as_ref(), b.body().as_ref());
    assert_eq!(
        body_json(&a),
        json!({"msg": "Bad username or password", "error": "invalid_credentials"})
    );
}
