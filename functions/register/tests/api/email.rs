//! Registering with an address: the same 201, the address stored as pending, a mail whose link
//! verifies it (through `POST /email/verify`), `REQUIRE_EMAIL`, invalid addresses, an address
//! someone else verified, and a mail provider that fails or is not configured.

use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use shared::store::UserStore;
use shared::testing::{
    Event, Fixture, assert_invalid, body_json, call, local_mailer, mails_to, stored, unique,
    unreachable_contact,
};

use crate::helpers::{deps_from, deps_with_mail, handle, link_token};

fn address() -> String {
    format!("{}@Example.com", unique("x"))
}

/// The sample with a body of these fields.
fn register(username: &str, email: Option<&str>) -> Request {
    let mut body = json!({"username": username, "password": "correct horse battery"});
    if let Some(email) = email {
        body["email"] = Value::String(email.to_owned());
    }
    Event::load("register-email").json(body).request()
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

#[track_caller]
fn assert_registered(response: &Response<Body>) {
    assert_eq!(response.status(), 201, "{:?}", response.body());
    assert_eq!(
        body_json(response),
        json!({"msg": "User registered successfully"})
    );
}

#[tokio::test]
async fn the_sample_with_an_address_registers_and_mails_a_link_that_verifies_it() {
    local_mailer().await;
    let f = Fixture::local().await;
    let deps = deps_with_mail(&f);
    let event = Event::load("register-email");
    let mut body: Value = serde_json::from_str(event.body_text().unwrap()).unwrap();
    let (name, wanted) = (unique("mail_"), address());
    body["username"] = Value::String(name.clone());
    body["email"] = Value::String(wanted.clone());

    assert_registered(&handle(&deps, event.json(body).request()).await);

    let user = stored(f.store().as_ref(), &name).await;
    assert_eq!(user.email.pending.as_deref(), Some(wanted.as_str()));
    assert_eq!(user.email.verified, None, "not before the link is opened");
    let token = link_token(&wanted).await;
    assert!(
        !user.email.token.as_deref().unwrap().contains(&token),
        "only a hash is stored"
    );
    let verified = verify(&f, &token).await;
    assert_eq!(verified.status(), 200, "{:?}", verified.body());
    assert_eq!(body_json(&verified)["email"], wanted.as_str());
    let user = stored(f.store().as_ref(), &name).await;
    assert_eq!(user.email.verified.as_deref(), Some(wanted.as_str()));
}

#[tokio::test]
async fn without_an_address_no_mail_is_sent_and_none_is_stored() {
    let f = Fixture::local().await;
    let name = unique("nomail_");

    assert_registered(&handle(&deps_with_mail(&f), register(&name, None)).await);

    let email = stored(f.store().as_ref(), &name).await.email;
    assert_eq!(
        (email.verified, email.pending, email.token),
        (None, None, None)
    );
}

#[tokio::test]
async fn an_invalid_address_is_a_400_naming_email_and_creates_no_user() {
    let f = Fixture::local().await;
    let deps = deps_with_mail(&f);
    let long = format!("{}@example.com", "a".repeat(250));
    let cases: [(Value, &str); 9] = [
        (json!("no-at-sign.example.com"), "no @"),
        (json!("someone@localhost"), "no dot in the domain"),
        (json!("two@@example.com"), "two @"),
        (json!("some one@example.com"), "a space"),
        (json!("someone@example.com\n"), "a control character"),
        (json!(""), "empty"),
        (json!(long), "over 254 octets"),
        (json!(42), "a number"),
        (Value::Null, "null"),
    ];
    for (email, case) in cases {
        let name = unique("bad_");
        let body = json!({"username": name, "password": "correct horse battery", "email": email});
        let response = handle(&deps, Event::load("register-email").json(body).request()).await;
        assert_invalid(&response, "email", case);
        assert!(
            f.store()
                .find(&name.to_lowercase())
                .await
                .unwrap()
                .is_none(),
            "{case}: no user"
        );
    }
}

#[tokio::test]
async fn a_bad_address_and_a_bad_password_are_reported_together() {
    let body = json!({"username": unique("both_"), "password": "short", "email": "nope"});
    let response = handle(
        &deps_with_mail(&Fixture::local().await),
        Event::load("register-email").json(body).request(),
    )
    .await;

    assert_eq!(response.status(), 400);
    let details = &body_json(&response)["details"];
    assert_eq!(details["email"], json!(["must be an email address"]));
    assert_eq!(
        details["password"],
        json!(["must be at least 8 characters"])
    );
}

#[tokio::test]
async fn require_email_makes_a_missing_address_a_400() {
    let f = Fixture::local().await.with("REQUIRE_EMAIL", "true");
    let deps = deps_with_mail(&f);
    let name = unique("req_");

    let response = handle(&deps, register(&name, None)).await;

    assert_eq!(response.status(), 400);
    let body = body_json(&response);
    assert_eq!(body["error"], "validation_error");
    assert_eq!(body["details"]["email"], json!(["is required"]));
    assert!(
        f.store()
            .find(&name.to_lowercase())
            .await
            .unwrap()
            .is_none()
    );
    assert_registered(&handle(&deps, register(&name, Some(&address()))).await);
    // Off by default, and a value that is not a boolean is refused at start.
    let off = Fixture::local().await;
    assert_registered(&handle(&deps_from(&off), register(&unique("opt_"), None)).await);
    let bad = Fixture::local().await.with("REQUIRE_EMAIL", "sometimes");
    assert!(register::Settings::from_vars(bad.vars()).is_err());
}

#[tokio::test]
async fn an_address_another_account_verified_gets_the_same_201_and_its_link_409() {
    local_mailer().await;
    let f = Fixture::local().await;
    let deps = deps_with_mail(&f);
    let taken = address();
    let first = unique("first_");
    assert_registered(&handle(&deps, register(&first, Some(&taken))).await);
    assert_eq!(verify(&f, &link_token(&taken).await).await.status(), 200);

    let second = unique("second_");
    let response = handle(&deps, register(&second, Some(&taken.to_lowercase()))).await;

    assert_registered(&response);
    // The second mail went to the same address: only its owner could open it, and it cannot
    // take the address from the first account.
    let mails = mails_to(&taken).await;
    assert_eq!(mails.len(), 2, "{mails:?}");
    let tokens: Vec<String> = mails
        .iter()
        .map(|m| crate::helpers::token_in(&m.body))
        .collect();
    let newest = tokens
        .iter()
        .find(|t| shared::keyed_token::parse(t, 512).unwrap().0 == second.to_lowercase())
        .unwrap();
    let refused = verify(&f, newest).await;
    assert_eq!(refused.status(), 409);
    assert_eq!(body_json(&refused)["error"], "email_taken");
    assert_eq!(
        f.store().email_owner(&taken).await.unwrap(),
        Some(first.to_lowercase())
    );
}

#[tokio::test]
async fn a_failing_or_missing_mail_provider_still_registers_with_the_address_pending() {
    let f = Fixture::local().await;
    for (deps, case) in [
        (
            deps_from(&f).with_contact(unreachable_contact()),
            "SES down",
        ),
        (deps_from(&f), "no mail configured"),
    ] {
        let (name, wanted) = (unique("down_"), address());

        assert_registered(&handle(&deps, register(&name, Some(&wanted))).await);

        let email = stored(f.store().as_ref(), &name).await.email;
        assert_eq!(email.pending.as_deref(), Some(wanted.as_str()), "{case}");
        assert!(email.token.is_some(), "{case}: a resend replaces the link");
        assert!(mails_to(&wanted).await.is_empty(), "{case}");
    }
}
