//! The forgot handler: one answer for every address, a mail only to a verified one, the silent
//! per-address cap, the per-IP 429, and the requests refused for their form.

use serde_json::json;
use shared::testing::{
    Event, Fixture, TEST_PUBLIC_BASE_URL, assert_invalid, body_json, mails_to, set_disabled,
    unique_ip,
};

use crate::helpers::{
    address, ask, assert_nothing_under_the_impossible_key, deps_from, deps_without_mail, forgot,
    handle, is_current_link, mailed_tokens, parts, user, with_pending_address,
    with_verified_address,
};

const ANSWER: &str = "If that address belongs to an account, a reset link is on its way";

#[tokio::test]
async fn the_sample_event_answers_202_with_the_one_message_and_the_usual_headers() {
    let deps = deps_from(&Fixture::local().await).await;
    let event = Event::load("password-forgot").source_ip(&unique_ip());

    let response = handle(&deps, event.request()).await;

    assert_eq!(response.status(), 202);
    assert_eq!(body_json(&response), json!({"msg": ANSWER}));
    let headers = response.headers();
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert!(headers.get("ratelimit").is_none(), "no count to compare");
}

#[tokio::test]
async fn verified_unverified_and_unknown_addresses_get_byte_identical_answers_and_one_mail() {
    let f = Fixture::local().await;
    let deps = deps_from(&f).await;
    let (owner, verified) = with_verified_address(&f).await;
    let (pending_owner, unverified) = with_pending_address(&f).await;
    let unknown = address();
    let ip = unique_ip();

    let mut answers = Vec::new();
    for address in [&verified, &unverified, &unknown] {
        answers.push(parts(&handle(&deps, forgot(address, &ip)).await));
    }

    assert_eq!(answers[0].0, 202);
    assert_eq!(answers[0], answers[1], "verified vs unverified");
    assert_eq!(answers[0], answers[2], "verified vs unknown");
    assert_eq!(
        mails_to(&unverified).await.len(),
        0,
        "no mail to a pending address"
    );
    assert_eq!(mails_to(&unknown).await.len(), 0);
    let mails = mails_to(&verified).await;
    assert_eq!(mails.len(), 1, "one mail to the verified address");
    assert_eq!(mails[0].subject, "Reset your password");
    assert!(
        mails[0]
            .body
            .contains(&format!("{TEST_PUBLIC_BASE_URL}/reset-password#token=")),
        "a link to the configured base, the token in the fragment: {}",
        mails[0].body
    );
    let token = &mailed_tokens(&verified).await[0];
    assert!(is_current_link(&user(&f, &owner).await, token, f.now()));
    let pending = user(&f, &pending_owner).await.email;
    assert_eq!(pending.reset_token, None, "no link for a pending address");
    assert_nothing_under_the_impossible_key(&f).await;
}

#[tokio::test]
async fn an_address_in_another_case_is_the_same_address_and_the_mail_goes_to_it_as_verified() {
    let f = Fixture::local().await;
    let deps = deps_from(&f).await;
    let (_, verified) = with_verified_address(&f).await;

    let response = ask(&deps, &verified.to_uppercase()).await;

    assert_eq!(response.status(), 202);
    let mails = mails_to(&verified).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(
        mails[0].to,
        vec![verified.clone()],
        "as verified, not as asked"
    );
}

#[tokio::test]
async fn a_fourth_request_for_one_address_within_the_hour_is_the_same_202_without_a_mail() {
    let f = Fixture::local().await;
    let deps = deps_from(&f).await;
    let (owner, verified) = with_verified_address(&f).await;

    let mut answers = Vec::new();
    for _ in 0..4 {
        answers.push(parts(&ask(&deps, &verified).await));
    }

    assert!(answers.iter().all(|a| *a == answers[0]), "one answer");
    assert_eq!(answers[0].0, 202);
    let tokens = mailed_tokens(&verified).await;
    assert_eq!(tokens.len(), 3, "at most 3 mails an hour (forgot-address)");
    let stored = user(&f, &owner).await;
    let current: Vec<_> = tokens
        .iter()
        .filter(|t| is_current_link(&stored, t, f.now()))
        .collect();
    assert_eq!(
        current.len(),
        1,
        "the third mail's link is current: the fourth wrote none"
    );
}

#[tokio::test]
async fn the_sixth_request_from_one_source_within_15_minutes_is_429_whatever_the_address() {
    let f = Fixture::local().await;
    let deps = deps_from(&f).await;
    let (_, verified) = with_verified_address(&f).await;
    let ip = unique_ip();
    for n in 0..5 {
        let response = handle(&deps, forgot(&address(), &ip)).await;
        assert_eq!(response.status(), 202, "request {n}");
    }

    let response = handle(&deps, forgot(&verified, &ip)).await;

    assert_eq!(response.status(), 429);
    assert_eq!(body_json(&response)["error"], "rate_limited");
    let headers = response.headers();
    assert_eq!(headers["ratelimit-policy"], "\"forgot-ip\";q=5;w=900");
    assert!(
        headers["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 0
    );
    assert_eq!(
        mails_to(&verified).await.len(),
        0,
        "nothing sent when refused"
    );
    let other_source = handle(&deps, forgot(&verified, &unique_ip())).await;
    assert_eq!(other_source.status(), 202, "per source");
}

#[tokio::test]
async fn a_disabled_users_address_gets_the_same_answer_and_no_mail() {
    let f = Fixture::local().await;
    let deps = deps_from(&f).await;
    let (owner, verified) = with_verified_address(&f).await;
    set_disabled(f.store().as_ref(), &owner, true).await;

    let answer = parts(&ask(&deps, &verified).await);

    assert_eq!(answer, parts(&ask(&deps, &address()).await));
    assert_eq!(mails_to(&verified).await.len(), 0);
    assert_eq!(user(&f, &owner).await.email.reset_token, None);
}

#[tokio::test]
async fn without_mail_configured_the_answer_is_the_same_and_no_link_is_made() {
    let f = Fixture::local().await;
    let with_mail = deps_from(&f).await;
    let without = deps_without_mail(&f);
    let (owner, verified) = with_verified_address(&f).await;

    let answer = parts(&ask(&without, &verified).await);

    assert_eq!(answer, parts(&ask(&with_mail, &address()).await));
    assert_eq!(mails_to(&verified).await.len(), 0);
    assert_eq!(user(&f, &owner).await.email.reset_token, None);
}

#[tokio::test]
async fn a_malformed_address_or_body_is_400_validation_error_naming_the_field() {
    let deps = deps_from(&Fixture::local().await).await;
    let cases = [
        (json!({"email": "not-an-address"}), "email", "no @"),
        (
            json!({"email": "a@localhost"}),
            "email",
            "no dot in the domain",
        ),
        (json!({"email": "two@@example.com"}), "email", "two @"),
        (json!({"email": " a@example.com"}), "email", "a space"),
        (json!({"email": ""}), "email", "empty"),
        (json!({"email": 42}), "email", "not a string"),
        (json!({"email": null}), "email", "null"),
        (json!({}), "email", "missing"),
        (
            json!({"email": "a@example.com", "username": "alice"}),
            "username",
            "another field",
        ),
    ];
    for (body, field, case) in cases {
        let event = Event::load("password-forgot")
            .json(body.clone())
            .source_ip(&unique_ip());
        let response = handle(&deps, event.request()).await;
        assert_invalid(&response, field, case);
    }
    let not_json = Event::load("password-forgot").raw_body("email=a@example.com");
    assert_invalid(&handle(&deps, not_json.request()).await, "body", "not JSON");
}

#[tokio::test]
async fn another_method_is_405_with_allow_post() {
    let deps = deps_from(&Fixture::local().await).await;
    let event = Event::load("password-forgot").route("GET", "/password/forgot");

    let response = handle(&deps, event.request()).await;

    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
    assert_eq!(body_json(&response)["error"], "method_not_allowed");
}
