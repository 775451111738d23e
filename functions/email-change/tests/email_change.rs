//! `POST /email`, against the local DynamoDB-compatible server and its SES v2: a new address
//! waits for its link (opened through `POST /email/verify`) while the old one stays in force and
//! is told; a wrong password counts like a failed login; a failing or missing mail provider is a
//! 503.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use email_change::Deps;
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use shared::account::Contact;
use shared::store::{PendingEmail, UserStore, VerifyOutcome};
use shared::testing::{
    Event, Fixture, SignedIn, TEST_PUBLIC_BASE_URL, account_deps, assert_invalid, body_json, call,
    local_mailer, mails_to, signed_in, signed_in_with_mfa, stored, unique, unreachable_contact,
    user_id_of, wrong_code,
};

const PASSWORD: &str = "correct horse battery";

async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    call(email_change::handle, deps, req).await
}

fn change(user: &SignedIn, email: &str, password: &str) -> Request {
    user.event("email-change")
        .json(json!({"email": email, "password": password}))
        .request()
}

fn address() -> String {
    format!("{}@Example.com", unique("x"))
}

/// The account dependencies with `contact` as the contact channel.
fn deps_with(f: &Fixture, contact: Option<Contact>) -> Deps {
    let settings = shared::account::Settings::from_vars(f.vars()).unwrap();
    let deps = Deps::build(settings, f.store(), f.keys(), f.clock()).unwrap();
    match contact {
        Some(contact) => deps.with_contact(contact),
        None => deps,
    }
}

/// The token of the newest verification link mailed to `address`.
async fn link_token(address: &str) -> String {
    let link = format!("{TEST_PUBLIC_BASE_URL}/verify-email#token=");
    let mails = mails_to(address).await;
    let mail = mails
        .iter()
        .rev()
        .find(|m| m.subject == "Confirm your email address")
        .unwrap_or_else(|| panic!("a verification mail to {address}: {mails:?}"));
    let (_, rest) = mail.body.split_once(&link).unwrap();
    rest.split_whitespace().next().unwrap().to_owned()
}

async fn verify(f: &Fixture, token: &str) -> Response<Body> {
    let deps = email_verify::Deps::build(
        email_verify::Settings::from_vars(f.vars()).unwrap(),
        f.store(),
        f.clock(),
    );
    let event = Event::load("email-verify").json(json!({ "token": token }));
    call(email_verify::handle, &deps, event.request()).await
}

/// Gives the user `name` the verified address `address`, straight in the store.
async fn give_verified(f: &Fixture, name: &str, address: &str) {
    let key = name.to_lowercase();
    let (_, hash) = shared::keyed_token::new(&key).unwrap();
    let pending = PendingEmail {
        address: address.to_owned(),
        token: hash.clone(),
        expires_at: f.now() + 600,
    };
    let store = f.store();
    assert!(
        store
            .set_pending_email(&key, &user_id_of(name), &pending)
            .await
            .unwrap()
    );
    let user = stored(store.as_ref(), name).await;
    let outcome = store.verify_email(&key, &user, &hash, f.now()).await;
    assert_eq!(
        outcome.unwrap(),
        VerifyOutcome::Verified(address.to_owned())
    );
}

#[tokio::test]
async fn the_sample_leaves_the_address_pending_and_mails_a_link_that_verifies_it() {
    local_mailer().await;
    let f = Fixture::local().await;
    let deps = account_deps(&f);
    let me = signed_in(f.store(), f.now()).await;
    let wanted = address();
    let event = me.event("email-change");
    let mut body: Value = serde_json::from_str(event.body_text().unwrap()).unwrap();
    body["email"] = Value::String(wanted.clone());

    let response = handle(&deps, event.json(body).request()).await;

    assert_eq!(response.status(), 202, "{:?}", response.body());
    assert_eq!(
        body_json(&response),
        json!({"msg": "Check your inbox: open the link we sent to confirm the new address"})
    );
    let email = stored(f.store().as_ref(), &me.name).await.email;
    assert_eq!(email.pending.as_deref(), Some(wanted.as_str()));
    assert_eq!(email.verified, None);
    let verified = verify(&f, &link_token(&wanted).await).await;
    assert_eq!(verified.status(), 200, "{:?}", verified.body());
    let email = stored(f.store().as_ref(), &me.name).await.email;
    assert_eq!(email.verified.as_deref(), Some(wanted.as_str()));
}

#[tokio::test]
async fn the_old_address_stays_until_the_new_one_is_verified_and_is_told_of_the_change() {
    local_mailer().await;
    let f = Fixture::local().await;
    let deps = account_deps(&f);
    let me = signed_in(f.store(), f.now()).await;
    let (old, new) = (address(), address());
    give_verified(&f, &me.name, &old).await;

    let response = handle(&deps, change(&me, &new, PASSWORD)).await;

    assert_eq!(response.status(), 202, "{:?}", response.body());
    let email = stored(f.store().as_ref(), &me.name).await.email;
    assert_eq!(
        email.verified.as_deref(),
        Some(old.as_str()),
        "still in force"
    );
    assert_eq!(email.pending.as_deref(), Some(new.as_str()));
    let notices = mails_to(&old).await;
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(notices[0].subject, "A new email address was given");
    assert!(
        !notices[0].body.contains("#token="),
        "the old address gets no link"
    );
    assert_eq!(verify(&f, &link_token(&new).await).await.status(), 200);
    let email = stored(f.store().as_ref(), &me.name).await.email;
    assert_eq!(email.verified.as_deref(), Some(new.as_str()));
    assert_eq!(f.store().email_owner(&old).await.unwrap(), None, "released");
}

#[tokio::test]
async fn without_a_verified_address_no_notice_is_sent() {
    local_mailer().await;
    let f = Fixture::local().await;
    let me = signed_in(f.store(), f.now()).await;
    let first = address();
    assert_eq!(
        handle(&account_deps(&f), change(&me, &first, PASSWORD))
            .await
            .status(),
        202
    );

    let second = address();
    let response = handle(&account_deps(&f), change(&me, &second, PASSWORD)).await;

    assert_eq!(response.status(), 202);
    let first_mails = mails_to(&first).await;
    assert_eq!(first_mails.len(), 1, "its link, no notice: {first_mails:?}");
    let email = stored(f.store().as_ref(), &me.name).await.email;
    assert_eq!(email.pending.as_deref(), Some(second.as_str()));
    // The replaced address's link no longer works.
    let refused = verify(&f, &link_token(&first).await).await;
    assert_eq!(refused.status(), 400);
}

#[tokio::test]
async fn a_wrong_password_is_401_changes_nothing_and_counts_like_a_failed_login() {
    let f = Fixture::local().await.with("LOGIN_USER_LIMIT", "2");
    let deps = account_deps(&f);
    let me = signed_in(f.store(), f.now()).await;
    let wanted = address();

    for attempt in 0..2 {
        let response = handle(&deps, change(&me, &wanted, "not my password")).await;
        assert_eq!(response.status(), 401, "attempt {attempt}");
        assert_eq!(
            body_json(&response),
            json!({"msg": "Bad username or password", "error": "invalid_credentials"})
        );
    }
    let response = handle(&deps, change(&me, &wanted, PASSWORD)).await;
    assert_eq!(response.status(), 429, "limited even with the right one");
    assert_eq!(
        stored(f.store().as_ref(), &me.name).await.email.pending,
        None
    );
    assert!(mails_to(&wanted).await.is_empty());
}

#[tokio::test]
async fn bad_bodies_are_400s_naming_the_field() {
    let f = Fixture::local().await;
    let deps = account_deps(&f);
    let me = signed_in(f.store(), f.now()).await;
    let cases = [
        (json!({"password": PASSWORD}), "email", "no email"),
        (
            json!({"email": "nope", "password": PASSWORD}),
            "email",
            "not an address",
        ),
        (
            json!({"email": 7, "password": PASSWORD}),
            "email",
            "a number",
        ),
        (json!({"email": address()}), "password", "no password"),
        (
            json!({"email": address(), "password": PASSWORD, "username": "x"}),
            "username",
            "an unknown field",
        ),
    ];
    for (body, field, case) in cases {
        let response = handle(&deps, me.event("email-change").json(body).request()).await;
        assert_invalid(&response, field, case);
    }
    assert_eq!(
        stored(f.store().as_ref(), &me.name).await.email.pending,
        None
    );
}

#[tokio::test]
async fn no_token_is_401_and_another_method_405() {
    let deps = account_deps(&Fixture::local().await);
    let event = Event::load("email-change").header("authorization", None);
    let response = handle(&deps, event.request()).await;
    assert_eq!(response.status(), 401);
    assert_eq!(body_json(&response)["error"], "missing_token");
    let sample = Event::load("email-change").route("GET", "/email");
    let response = handle(&deps, sample.request()).await;
    assert_eq!(response.status(), 405);
}

#[tokio::test]
async fn a_failing_mail_provider_is_503_and_the_address_stays_pending() {
    let f = Fixture::local().await;
    let deps = deps_with(&f, Some(unreachable_contact()));
    let me = signed_in(f.store(), f.now()).await;
    let wanted = address();

    let response = handle(&deps, change(&me, &wanted, PASSWORD)).await;

    assert_eq!(response.status(), 503);
    let body = body_json(&response);
    assert_eq!(body["error"], "service_unavailable");
    assert!(response.headers().contains_key("retry-after"));
    let email = stored(f.store().as_ref(), &me.name).await.email;
    assert_eq!(
        email.pending.as_deref(),
        Some(wanted.as_str()),
        "a resend sends it"
    );
}

#[tokio::test]
async fn a_stack_without_mail_answers_503_before_checking_the_password() {
    let f = Fixture::local().await.with("LOGIN_USER_LIMIT", "1");
    let deps = deps_with(&f, None);
    let me = signed_in(f.store(), f.now()).await;

    for _ in 0..2 {
        let response = handle(&deps, change(&me, &address(), "not my password")).await;
        assert_eq!(response.status(), 503, "no attempt counted");
    }
    assert_eq!(
        stored(f.store().as_ref(), &me.name).await.email.pending,
        None
    );
}

// The step-up of a user with MFA: a stolen access token and the password must not be enough
// to move where reset links go.

fn change_with_code(user: &SignedIn, email: &str, code: &str) -> Request {
    user.event("email-change")
        .json(json!({"email": email, "password": PASSWORD, "code": code}))
        .request()
}

#[tokio::test]
async fn with_mfa_no_code_is_403_and_a_wrong_one_400_and_neither_leaves_an_address() {
    local_mailer().await;
    let f = Fixture::local().await;
    let deps = account_deps(&f);
    let (me, mfa) = signed_in_with_mfa(f.store(), f.now()).await;
    let wanted = address();

    let without = handle(&deps, change(&me, &wanted, PASSWORD)).await;
    let wrong = handle(
        &deps,
        change_with_code(&me, &wanted, &wrong_code(&mfa.secret, f.now())),
    )
    .await;

    assert_eq!(without.status(), 403);
    assert_eq!(body_json(&without)["error"], "mfa_required");
    assert_eq!(wrong.status(), 400);
    assert_eq!(body_json(&wrong)["error"], "invalid_code");
    assert_eq!(
        stored(f.store().as_ref(), &me.name).await.email.pending,
        None
    );
    assert!(mails_to(&wanted).await.is_empty(), "no link was mailed");
}

#[tokio::test]
async fn with_mfa_a_right_code_leaves_the_address_pending_once() {
    local_mailer().await;
    let f = Fixture::local().await;
    let deps = account_deps(&f);
    let (me, mfa) = signed_in_with_mfa(f.store(), f.now()).await;
    let (wanted, code) = (address(), mfa.code(f.now()));

    let response = handle(&deps, change_with_code(&me, &wanted, &code)).await;

    assert_eq!(response.status(), 202, "{:?}", response.body());
    let after = stored(f.store().as_ref(), &me.name).await;
    assert_eq!(after.email.pending.as_deref(), Some(wanted.as_str()));
    assert_eq!(
        after.mfa.last_step,
        f.now() / 30,
        "the code's step is spent"
    );
    let replay = handle(&deps, change_with_code(&me, &address(), &code)).await;
    assert_eq!(replay.status(), 400);
    assert_eq!(body_json(&replay)["error"], "invalid_code");
}
