//! `POST /email/resend`, against the local DynamoDB-compatible server and its SES v2: a fresh
//! link that supersedes the old one, `409` without a pending address, three per account then
//! `429`, and a failing mail provider that costs no attempt.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use email_resend::{Deps, Settings};
use lambda_http::{Body, Request, Response};
use serde_json::json;
use shared::account::Contact;
use shared::store::{PendingEmail, UserStore};
use shared::testing::{
    Event, Fixture, SignedIn, TEST_PUBLIC_BASE_URL, assert_invalid, body_json, call, local_mailer,
    mails_to, set_disabled, signed_in, stored, test_contact, unique, unreachable_contact,
    user_id_of,
};

fn deps_with(f: &Fixture, contact: Contact) -> Deps {
    Deps::build(
        Settings::from_vars(f.vars()).unwrap(),
        f.store(),
        f.keys(),
        f.clock(),
    )
    .unwrap()
    .with_contact(contact)
}

fn deps(f: &Fixture) -> Deps {
    deps_with(f, test_contact())
}

async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    call(email_resend::handle, deps, req).await
}

fn resend(user: &SignedIn) -> Request {
    user.event("email-resend").request()
}

fn address() -> String {
    format!("{}@Example.com", unique("x"))
}

/// Gives `user` the pending address `address` with a link, as `POST /email` would: its token.
async fn pending(f: &Fixture, user: &SignedIn, address: &str) -> String {
    let key = user.name.to_lowercase();
    let (token, hash) = shared::keyed_token::new(&key).unwrap();
    let pending = PendingEmail {
        address: address.to_owned(),
        token: hash,
        expires_at: f.now() + 600,
    };
    let written = f
        .store()
        .set_pending_email(&key, &user_id_of(&user.name), &pending)
        .await
        .unwrap();
    assert!(written);
    token
}

/// The tokens of the verification links mailed to `address`, in the order the server lists them.
async fn link_tokens(address: &str) -> Vec<String> {
    let link = format!("{TEST_PUBLIC_BASE_URL}/verify-email#token=");
    mails_to(address)
        .await
        .iter()
        .map(|m| {
            assert_eq!(m.subject, "Confirm your email address");
            let (_, rest) = m.body.split_once(&link).unwrap();
            rest.split_whitespace().next().unwrap().to_owned()
        })
        .collect()
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

#[tokio::test]
async fn the_sample_mails_a_fresh_link_and_the_older_one_stops_working() {
    local_mailer().await;
    let f = Fixture::local().await;
    let me = signed_in(f.store(), f.now()).await;
    let wanted = address();
    let older = pending(&f, &me, &wanted).await;

    let response = handle(&deps(&f), resend(&me)).await;

    assert_eq!(response.status(), 202, "{:?}", response.body());
    assert_eq!(
        body_json(&response),
        json!({"msg": "Check your inbox: a new link to confirm the address is on its way"})
    );
    assert_eq!(
        response.headers()["ratelimit-policy"],
        "\"email-resend\";q=3;w=3600"
    );
    let tokens = link_tokens(&wanted).await;
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    let refused = verify(&f, &older).await;
    assert_eq!(refused.status(), 400, "superseded");
    assert_eq!(body_json(&refused)["error"], "invalid_token");
    let verified = verify(&f, &tokens[0]).await;
    assert_eq!(verified.status(), 200, "{:?}", verified.body());
    assert_eq!(
        stored(f.store().as_ref(), &me.name)
            .await
            .email
            .verified
            .as_deref(),
        Some(wanted.as_str())
    );
}

#[tokio::test]
async fn without_a_pending_address_it_is_409_no_pending_email() {
    let f = Fixture::local().await;
    let deps = deps(&f);
    let me = signed_in(f.store(), f.now()).await;

    let response = handle(&deps, resend(&me)).await;

    assert_eq!(response.status(), 409);
    assert_eq!(
        body_json(&response),
        json!({"msg": "No address is waiting for verification", "error": "no_pending_email"})
    );
    // Nor once the pending address is verified.
    let token = pending(&f, &me, &address()).await;
    assert_eq!(verify(&f, &token).await.status(), 200);
    assert_eq!(handle(&deps, resend(&me)).await.status(), 409);
}

#[tokio::test]
async fn three_resends_per_account_then_429() {
    local_mailer().await;
    let f = Fixture::local().await;
    let deps = deps(&f);
    let me = signed_in(f.store(), f.now()).await;
    let wanted = address();
    pending(&f, &me, &wanted).await;

    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(handle(&deps, resend(&me)).await);
    }

    let codes: Vec<u16> = statuses.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(codes, [202, 202, 202, 429]);
    let limited = &statuses[3];
    assert_eq!(body_json(limited)["error"], "rate_limited");
    assert_eq!(
        limited.headers()["ratelimit-policy"],
        "\"email-resend\";q=3;w=3600"
    );
    assert!(limited.headers().contains_key("retry-after"));
    assert_eq!(link_tokens(&wanted).await.len(), 3, "no fourth mail");
    // Another account has its own.
    let other = signed_in(f.store(), f.now()).await;
    pending(&f, &other, &address()).await;
    assert_eq!(handle(&deps, resend(&other)).await.status(), 202);
}

#[tokio::test]
async fn a_failing_mail_provider_is_503_and_costs_no_attempt() {
    local_mailer().await;
    let f = Fixture::local().await.with("EMAIL_RESEND_LIMIT", "1");
    let me = signed_in(f.store(), f.now()).await;
    let wanted = address();
    pending(&f, &me, &wanted).await;
    let down = deps_with(&f, unreachable_contact());

    for attempt in 0..2 {
        let response = handle(&down, resend(&me)).await;
        assert_eq!(response.status(), 503, "attempt {attempt}");
        assert_eq!(body_json(&response)["error"], "service_unavailable");
    }

    let response = handle(&deps(&f), resend(&me)).await;
    assert_eq!(response.status(), 202, "the one attempt is still there");
    let tokens = link_tokens(&wanted).await;
    assert_eq!(tokens.len(), 1);
    assert_eq!(verify(&f, &tokens[0]).await.status(), 200);
}

#[tokio::test]
async fn the_body_is_nothing_or_an_empty_object() {
    let f = Fixture::local().await;
    let deps = deps(&f);
    let me = signed_in(f.store(), f.now()).await;

    let empty = me.event("email-resend").json(json!({}));
    assert_eq!(handle(&deps, empty.request()).await.status(), 409);
    let field = me.event("email-resend").json(json!({"email": address()}));
    assert_invalid(&handle(&deps, field.request()).await, "email", "a field");
    let not_json = me.event("email-resend").raw_body("resend");
    assert_invalid(&handle(&deps, not_json.request()).await, "body", "not JSON");
}

#[tokio::test]
async fn no_token_a_disabled_user_and_no_mail_configured_are_refused() {
    let f = Fixture::local().await;
    let deps = deps(&f);
    let no_token = Event::load("email-resend");
    let response = handle(&deps, no_token.request()).await;
    assert_eq!(response.status(), 401, "the sample's placeholder token");
    assert_eq!(
        handle(
            &deps,
            Event::load("email-resend")
                .route("GET", "/email/resend")
                .request()
        )
        .await
        .status(),
        405
    );

    let me = signed_in(f.store(), f.now()).await;
    pending(&f, &me, &address()).await;
    let without_mail = Deps::build(
        Settings::from_vars(f.vars()).unwrap(),
        f.store(),
        f.keys(),
        f.clock(),
    )
    .unwrap();
    assert_eq!(handle(&without_mail, resend(&me)).await.status(), 503);

    set_disabled(f.store().as_ref(), &me.name, true).await;
    let response = handle(&deps, resend(&me)).await;
    assert_eq!(response.status(), 401);
    assert_eq!(body_json(&response)["error"], "invalid_token");
}
