//! `POST /email/verify`, against the local DynamoDB-compatible server: a link verifies its
//! address once, while current and unexpired; garbage, foreign, used, superseded and expired
//! tokens are `400 invalid_token`; an address goes to the first account that verifies it; twenty
//! concurrent uses of one link verify once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use email_verify::{Deps, Settings};
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use shared::store::{PendingEmail, UserStore};
use shared::testing::{
    Event, Fixture, assert_invalid, body_json, call, create_user, stored, unique, user_id_of,
};

/// base64url without padding, as a link token names its account.
fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn deps(f: &Fixture) -> Deps {
    Deps::build(Settings::from_vars(f.vars()).unwrap(), f.store(), f.clock())
}

async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    call(email_verify::handle, deps, req).await
}

fn verify(token: &str) -> Request {
    Event::load("email-verify")
        .json(json!({ "token": token }))
        .request()
}

fn address() -> String {
    format!("{}@Example.com", unique("x"))
}

async fn user(f: &Fixture) -> String {
    let name = unique("verify_");
    create_user(f.store().as_ref(), &name, "correct horse battery", &[]).await;
    name
}

/// Gives `name` the pending address `address` with a link valid for `ttl` seconds, as
/// `POST /email` would: the link's token.
async fn pending(f: &Fixture, name: &str, address: &str, ttl: u64) -> String {
    let key = name.to_lowercase();
    let (token, hash) = shared::keyed_token::new(&key).unwrap();
    let pending = PendingEmail {
        address: address.to_owned(),
        token: hash,
        expires_at: f.now() + ttl,
    };
    let written = f
        .store()
        .set_pending_email(&key, &user_id_of(name), &pending)
        .await
        .unwrap();
    assert!(written);
    token
}

#[track_caller]
fn assert_invalid_token(response: &Response<Body>, case: &str) {
    assert_eq!(response.status(), 400, "{case}: {:?}", response.body());
    assert_eq!(
        body_json(response),
        json!({"msg": "Invalid or expired link: ask for a new one", "error": "invalid_token"}),
        "{case}"
    );
}

#[tokio::test]
async fn a_link_verifies_its_address_once_and_answers_it() {
    let f = Fixture::local().await;
    let deps = deps(&f);
    let name = user(&f).await;
    let wanted = address();
    let token = pending(&f, &name, &wanted, 600).await;

    let response = handle(&deps, verify(&token)).await;

    assert_eq!(response.status(), 200, "{:?}", response.body());
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(
        body_json(&response),
        json!({"msg": "Email verified", "email": wanted})
    );
    let email = stored(f.store().as_ref(), &name).await.email;
    assert_eq!(email.verified.as_deref(), Some(wanted.as_str()), "as typed");
    assert_eq!(email.pending, None);
    assert_invalid_token(&handle(&deps, verify(&token)).await, "used");
}

#[tokio::test]
async fn the_sample_garbage_and_foreign_tokens_are_400_invalid_token() {
    let f = Fixture::local().await;
    let deps = deps(&f);
    let (alice, bob) = (user(&f).await, user(&f).await);
    let alices = pending(&f, &alice, &address(), 600).await;
    pending(&f, &bob, &address(), 600).await;
    let random = alices.split_once('.').unwrap().1;
    // A claimed address shares the users table: a token naming its item reads no such thing.
    let claimed = address();
    let claimer = user(&f).await;
    let claim = pending(&f, &claimer, &claimed, 600).await;
    assert_eq!(handle(&deps, verify(&claim)).await.status(), 200);
    let cases = [
        ("nodot".to_owned(), "no dot"),
        ("a.b".to_owned(), "short random part"),
        (
            format!("{}.{random}", b64(b"nobody_here_at_all")),
            "unknown user",
        ),
        (
            format!("{}.{random}", b64(bob.to_lowercase().as_bytes())),
            "alice's random part on bob's key",
        ),
        (
            format!(
                "{}.{random}",
                b64(format!("email#{}", claimed.to_lowercase()).as_bytes())
            ),
            "an address claim's key",
        ),
        (
            format!("{}.{random}", b64(alice.to_uppercase().as_bytes())),
            "not a key: upper case",
        ),
        (format!("{alices}x"), "one character more"),
    ];
    for (token, case) in cases {
        assert_invalid_token(&handle(&deps, verify(&token)).await, case);
    }
    assert_invalid_token(
        &handle(&deps, Event::load("email-verify").request()).await,
        "the sample's placeholder",
    );
    assert!(
        stored(f.store().as_ref(), &bob)
            .await
            .email
            .verified
            .is_none()
    );
    // Alice's own link still works after all that.
    assert_eq!(handle(&deps, verify(&alices)).await.status(), 200);
}

#[tokio::test]
async fn a_missing_or_malformed_token_field_is_400_validation_error() {
    let deps = deps(&Fixture::local().await);
    let cases = [
        (json!({}), "missing"),
        (json!({"token": 42}), "a number"),
        (json!({"token": ""}), "empty"),
        (
            json!({"token": "x".repeat(513)}),
            "longer than a link token",
        ),
    ];
    for (body, case) in cases {
        let event = Event::load("email-verify").json(body);
        assert_invalid(&handle(&deps, event.request()).await, "token", case);
    }
    let not_json = Event::load("email-verify").raw_body("token=abc");
    assert_invalid(&handle(&deps, not_json.request()).await, "body", "not JSON");
}

#[tokio::test]
async fn a_superseded_or_expired_link_is_400_and_the_newest_one_works() {
    let f = Fixture::local().await;
    let name = user(&f).await;
    let wanted = address();
    let older = pending(&f, &name, &wanted, 600).await;
    let newer = pending(&f, &name, &wanted, 600).await;

    assert_invalid_token(&handle(&deps(&f), verify(&older)).await, "superseded");
    let later = f.clone().at(f.now() + 600);
    assert_invalid_token(&handle(&deps(&later), verify(&newer)).await, "expired");
    assert!(
        stored(f.store().as_ref(), &name)
            .await
            .email
            .verified
            .is_none()
    );
    let response = handle(&deps(&f), verify(&newer)).await;
    assert_eq!(response.status(), 200, "still current before it expires");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_two_accounts_verifying_one_address_one_gets_200_the_other_409() {
    let f = Fixture::local().await;
    let deps = deps(&f);
    let shared_address = address();
    let (a, b) = (user(&f).await, user(&f).await);
    let (ta, tb) = (
        pending(&f, &a, &shared_address, 600).await,
        pending(&f, &b, &shared_address.to_uppercase(), 600).await,
    );

    let (ra, rb) = tokio::join!(handle(&deps, verify(&ta)), handle(&deps, verify(&tb)));

    let mut statuses = [ra.status().as_u16(), rb.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409]);
    let taken = if ra.status() == 409 { &ra } else { &rb };
    assert_eq!(
        body_json(taken),
        json!({"msg": "That address belongs to another account", "error": "email_taken"})
    );
    let owner = f
        .store()
        .email_owner(&shared_address)
        .await
        .unwrap()
        .unwrap();
    let loser = if owner == a.to_lowercase() { &b } else { &a };
    assert!(
        stored(f.store().as_ref(), loser)
            .await
            .email
            .verified
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_uses_of_one_link_give_exactly_one_200() {
    let f = Fixture::local().await;
    let deps = Arc::new(deps(&f));
    let name = user(&f).await;
    let token = pending(&f, &name, &address(), 600).await;

    let statuses = futures_util::future::join_all((0..20).map(|_| {
        let (deps, token) = (deps.clone(), token.clone());
        async move { handle(&deps, verify(&token)).await.status().as_u16() }
    }))
    .await;

    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| [200, 400].contains(s)),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn another_method_is_405_and_an_unreachable_store_503() {
    let event = Event::load("email-verify").route("GET", "/email/verify");
    let response = handle(&deps(&Fixture::local().await), event.request()).await;
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");

    let (token, _) = shared::keyed_token::new("someone").unwrap();
    let response = handle(&deps(&Fixture::unreachable().await), verify(&token)).await;
    assert_eq!(response.status(), 503);
    let body: Value = body_json(&response);
    assert_eq!(body["error"], "service_unavailable");
}
