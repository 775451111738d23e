//! `GET /account`, against the local DynamoDB-compatible server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use account::Deps;
use lambda_http::{Body, Request, Response};
use serde_json::json;
use shared::store::{PendingEmail, SessionStore, UserStore, VerifyOutcome};
use shared::testing::{
    Event, Fixture, SignedIn, account_deps, body_json, call, enroll_pending, set_disabled,
    set_roles, signed_in, signed_in_with_mfa, unique, use_recovery_code, user_id_of,
};

async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    call(account::handle, deps, req).await
}

fn show(user: &SignedIn) -> Request {
    user.event("account").request()
}

#[tokio::test]
async fn the_sample_shows_id_name_roles_with_the_implicit_one_and_mfa_off() {
    let f = Fixture::local().await;
    let me = signed_in(f.store(), f.now()).await;
    set_roles(f.store().as_ref(), &me.name, &["support", "admin"]).await;

    let response = handle(&account_deps(&f), show(&me)).await;

    assert_eq!(response.status(), 200, "{:?}", response.body());
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(
        body_json(&response),
        json!({
            "sub": user_id_of(&me.name),
            "username": me.name,
            "roles": ["admin", "support", "user"],
            "mfa": {"totp": false, "recovery_codes_left": 0},
            "email": null,
            "email_verified": false,
            "pending_email": null,
        })
    );
}

/// Gives the user `name` the pending address `address`, as `POST /email` would: the link's
/// token hash.
async fn pend(f: &Fixture, name: &str, address: &str) -> String {
    let key = name.to_lowercase();
    let (_, hash) = shared::keyed_token::new(&key).unwrap();
    let pending = PendingEmail {
        address: address.to_owned(),
        token: hash.clone(),
        expires_at: f.now() + 600,
    };
    let written = f
        .store()
        .set_pending_email(&key, &user_id_of(name), &pending)
        .await
        .unwrap();
    assert!(written);
    hash
}

#[tokio::test]
async fn it_shows_the_verified_and_the_pending_address_as_typed() {
    let f = Fixture::local().await;
    let deps = account_deps(&f);
    let me = signed_in(f.store(), f.now()).await;
    let (old, new) = (
        format!("{}@Example.com", unique("Old.")),
        format!("{}@Example.com", unique("New.")),
    );
    let email_of = |body: &serde_json::Value| {
        json!([body["email"], body["email_verified"], body["pending_email"]])
    };

    let hash = pend(&f, &me.name, &old).await;
    let body = body_json(&handle(&deps, show(&me)).await);
    assert_eq!(email_of(&body), json!([null, false, old]), "pending only");

    let user = f
        .store()
        .find(&me.name.to_lowercase())
        .await
        .unwrap()
        .unwrap();
    let outcome = f
        .store()
        .verify_email(&me.name.to_lowercase(), &user, &hash, f.now())
        .await
        .unwrap();
    assert_eq!(outcome, VerifyOutcome::Verified(old.clone()));
    let body = body_json(&handle(&deps, show(&me)).await);
    assert_eq!(email_of(&body), json!([old, true, null]), "verified");

    pend(&f, &me.name, &new).await;
    let body = body_json(&handle(&deps, show(&me)).await);
    assert_eq!(email_of(&body), json!([old, true, new]), "a change waiting");
}

#[tokio::test]
async fn a_stored_user_role_is_listed_once() {
    let f = Fixture::local().await;
    let me = signed_in(f.store(), f.now()).await;
    set_roles(f.store().as_ref(), &me.name, &["user"]).await;

    let body = body_json(&handle(&account_deps(&f), show(&me)).await);

    assert_eq!(body["roles"], json!(["user"]));
}

#[tokio::test]
async fn with_mfa_on_it_counts_the_recovery_codes_left() {
    let f = Fixture::local().await;
    let deps = account_deps(&f);
    let (me, mfa) = signed_in_with_mfa(f.store(), f.now()).await;

    let body = body_json(&handle(&deps, show(&me)).await);
    assert_eq!(
        body["mfa"],
        json!({"totp": true, "recovery_codes_left": 10})
    );
    assert_eq!(body["roles"], json!(["user"]));

    use_recovery_code(f.store().as_ref(), &me.name, &mfa.recovery_codes[3]).await;
    let body = body_json(&handle(&deps, show(&me)).await);
    assert_eq!(body["mfa"], json!({"totp": true, "recovery_codes_left": 9}));
}

#[tokio::test]
async fn a_pending_enrollment_is_not_mfa() {
    let f = Fixture::local().await;
    let me = signed_in(f.store(), f.now()).await;
    enroll_pending(f.store().as_ref(), &me.name).await;

    let body = body_json(&handle(&account_deps(&f), show(&me)).await);

    assert_eq!(
        body["mfa"],
        json!({"totp": false, "recovery_codes_left": 0})
    );
}

#[tokio::test]
async fn a_token_of_a_deleted_or_disabled_user_is_401() {
    let f = Fixture::local().await;
    let deps = account_deps(&f);
    let gone = signed_in(f.store(), f.now()).await;
    let off = signed_in(f.store(), f.now()).await;
    // Their sessions left live: a deletion or disable that failed midway.
    f.store()
        .delete_user(&gone.name.to_lowercase(), &user_id_of(&gone.name))
        .await
        .unwrap();
    set_disabled(f.store().as_ref(), &off.name, true).await;

    for user in [&gone, &off] {
        let response = handle(&deps, show(user)).await;
        assert_eq!(response.status(), 401, "{}", user.name);
        assert_eq!(body_json(&response)["error"], "invalid_token");
        assert!(response.headers().contains_key("www-authenticate"));
    }
}

#[tokio::test]
async fn no_token_a_revoked_session_or_the_sample_token_is_401_and_post_405() {
    let f = Fixture::local().await;
    let deps = account_deps(&f);
    let response = handle(&deps, Event::load("account").request()).await;
    assert_eq!(response.status(), 401);
    assert_eq!(body_json(&response)["error"], "invalid_token");

    let no_token = Event::load("account").header("authorization", None);
    let response = handle(&deps, no_token.request()).await;
    assert_eq!(response.status(), 401);
    assert_eq!(body_json(&response)["error"], "missing_token");

    let me = signed_in(f.store(), f.now()).await;
    f.store().revoke(&me.sid, f.now()).await.unwrap();
    let response = handle(&deps, show(&me)).await;
    assert_eq!(response.status(), 401);
    assert_eq!(body_json(&response)["error"], "invalid_token");

    let post = me.event("account").route("POST", "/account");
    let response = handle(&deps, post.request()).await;
    assert_eq!(response.status(), 405);
    let allow = response.headers()["allow"].to_str().unwrap().to_owned();
    assert!(allow.contains("GET") && allow.contains("DELETE"), "{allow}");
}
