//! Faults: a failing, throttled, hanging or unreachable SES never changes the answer; a
//! DynamoDB failure before the cases are told apart is the same 503 for every address, and one
//! after it changes nothing.

use shared::account::Contact;
use shared::config::Vars;
use shared::mail::Mailer;
use shared::testing::faults::{Action, FaultProxy};
use shared::testing::{
    Fixture, TEST_MAIL_FROM, body_json, local_endpoint, mails_to, tables, test_contact, unique_ip,
};

use crate::helpers::{
    Parts, address, deps_from, deps_with, forgot, handle, parts, user, with_pending_address,
    with_verified_address,
};

/// An SES v2 client on `endpoint`, with the SDK settings the functions use.
fn ses_at(endpoint: &str) -> aws_sdk_sesv2::Client {
    let mut vars = Vars::from_pairs(std::env::vars().filter(|(k, _)| k.starts_with("AWS_")));
    vars.set("AWS_ENDPOINT_URL_SESV2", endpoint);
    aws_sdk_sesv2::Client::new(&shared::aws::sdk_config_from(&vars).unwrap())
}

/// The test contact channel, its mail sent through `client` as `from`.
fn contact_on(client: aws_sdk_sesv2::Client, from: &str) -> Contact {
    Contact {
        mailer: Mailer::new(client, from.to_owned()),
        ..test_contact()
    }
}

/// The forgot answers for a verified address through `contact` and for an unknown address
/// through the working local SES: they must be the same, and no mail may arrive.
async fn assert_same_answer_and_no_mail(contact: Contact, what: &str) {
    let f = Fixture::local().await;
    let failing = deps_with(&f, contact);
    let working = deps_from(&f).await;
    let (owner, verified) = with_verified_address(&f).await;

    let answer = parts(&handle(&failing, forgot(&verified, &unique_ip())).await);

    assert_eq!(answer.0, 202, "{what}");
    let unknown = parts(&handle(&working, forgot(&address(), &unique_ip())).await);
    assert_eq!(
        answer, unknown,
        "{what}: the same answer as for an unknown address"
    );
    assert_eq!(mails_to(&verified).await.len(), 0, "{what}");
    assert!(
        user(&f, &owner).await.email.reset_token.is_some(),
        "{what}: the link was made; only its mail failed"
    );
}

fn closed_port_endpoint() -> String {
    let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", socket.local_addr().unwrap())
}

#[tokio::test]
async fn an_unreachable_ses_does_not_change_the_answer() {
    let contact = contact_on(ses_at(&closed_port_endpoint()), TEST_MAIL_FROM);
    assert_same_answer_and_no_mail(contact, "connection refused").await;
}

#[tokio::test]
async fn a_throttling_or_failing_ses_does_not_change_the_answer() {
    for (action, what) in [
        (Action::Throttle, "throttled"),
        (Action::ServerError, "500"),
    ] {
        let proxy = FaultProxy::start(&local_endpoint()).await;
        proxy.always(action);
        let contact = contact_on(ses_at(&proxy.endpoint), TEST_MAIL_FROM);
        assert_same_answer_and_no_mail(contact, what).await;
    }
}

#[tokio::test]
async fn an_ses_that_never_answers_does_not_change_the_answer() {
    // The SDK's own timeouts end the call (3 s at most, `shared::aws::sdk_settings`).
    let proxy = FaultProxy::start(&local_endpoint()).await;
    proxy.always(Action::Hang);
    let contact = contact_on(ses_at(&proxy.endpoint), TEST_MAIL_FROM);
    assert_same_answer_and_no_mail(contact, "hanging").await;
}

#[tokio::test]
async fn ses_refusing_the_sender_does_not_change_the_answer() {
    // An identity never verified on the local SES: `MessageRejected`, as in SES's sandbox.
    let contact = contact_on(ses_at(&local_endpoint()), "unverified-sender@auth-api.test");
    assert_same_answer_and_no_mail(contact, "sender rejected").await;
}

/// The three answers (verified, unverified, unknown) of a function on the local tables behind
/// a fault proxy that `fault` sets up once the users exist.
async fn answers_behind(fault: impl FnOnce(&FaultProxy)) -> Vec<Parts> {
    let proxy = FaultProxy::start(&local_endpoint()).await;
    let f = Fixture::behind(&proxy.endpoint).await;
    let deps = deps_from(&f).await;
    let (_, verified) = with_verified_address(&f).await;
    let (_, unverified) = with_pending_address(&f).await;
    fault(&proxy);
    let mut answers = Vec::new();
    for address in [&verified, &unverified, &address()] {
        answers.push(parts(&handle(&deps, forgot(address, &unique_ip())).await));
    }
    assert_eq!(mails_to(&verified).await.len(), 0);
    answers
}

#[tokio::test]
async fn failing_reads_of_the_users_table_are_the_same_503_for_every_address() {
    let answers = answers_behind(|proxy| proxy.fail_reads_of(&tables().users)).await;

    assert_eq!(answers[0].0, 503);
    let body: serde_json::Value = serde_json::from_slice(&answers[0].2).unwrap();
    assert_eq!(body["error"], "service_unavailable");
    assert_eq!(answers[0], answers[1], "verified vs unverified");
    assert_eq!(answers[0], answers[2], "verified vs unknown");
}

#[tokio::test]
async fn failing_link_writes_change_nothing_in_the_answer() {
    let answers = answers_behind(|proxy| {
        let users = tables().users;
        proxy.plan_calls(move |_, operation, calls| {
            if operation == "UpdateItem" && calls.iter().any(|c| c.table == users) {
                Action::ServerError
            } else {
                Action::Forward
            }
        });
    })
    .await;

    assert_eq!(answers[0].0, 202);
    assert_eq!(answers[0], answers[1], "verified vs unverified");
    assert_eq!(answers[0], answers[2], "verified vs unknown");
}

#[tokio::test]
async fn an_unreachable_dynamodb_is_503() {
    let f = Fixture::unreachable().await;
    let deps = deps_from(&f).await;

    let response = handle(&deps, forgot(&address(), &unique_ip())).await;

    assert_eq!(response.status(), 503);
    assert_eq!(body_json(&response)["error"], "service_unavailable");
    assert!(response.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn every_address_makes_the_same_store_calls() {
    let proxy = FaultProxy::start(&local_endpoint()).await;
    let f = Fixture::behind(&proxy.endpoint).await;
    let deps = deps_from(&f).await;
    let (_, verified) = with_verified_address(&f).await;
    let (_, unverified) = with_pending_address(&f).await;

    let mut seen = Vec::new();
    for address in [&verified, &unverified, &address()] {
        proxy.take_calls();
        let response = handle(&deps, forgot(address, &unique_ip())).await;
        assert_eq!(response.status(), 202);
        let mut calls = proxy.take_calls();
        calls.sort();
        seen.push(calls);
    }

    let operations: Vec<&str> = seen[0].iter().map(|c| c.operation.as_str()).collect();
    assert_eq!(
        operations,
        [
            "GetItem",
            "GetItem",
            "UpdateItem",
            "UpdateItem",
            "UpdateItem"
        ],
        "the claim, the user, the link and both limits: {:?}",
        seen[0]
    );
    assert_eq!(seen[0], seen[1], "verified vs unverified");
    assert_eq!(seen[0], seen[2], "verified vs unknown");
    assert_eq!(
        mails_to(&verified).await.len(),
        1,
        "the verified one was mailed"
    );
}
