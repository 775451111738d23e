//! Metrics (CloudWatch Embedded Metric Format, `shared::metrics`), read back from what the
//! functions' own subscriber writes while the handlers run against the local server: each
//! counted outcome is a well-formed EMF document on a line of its own, every audit event is
//! counted once, a `503` is counted by its dependency, and no document names anyone.

use serde_json::{Value, json};
use shared::testing::{
    Event, Fixture, body_json, call, create_user, enable_mfa, unique, unique_ip,
};

use crate::helpers::{self, Capture};

const PASSWORD: &str = "a quite unguessable passphrase 42";

/// The functions' subscriber (`shared::telemetry`), writing into `captured`.
fn subscriber(captured: &Capture) -> impl tracing::Subscriber + Send + Sync {
    shared::telemetry::subscriber(None, captured.clone())
}

/// The EMF documents among the lines written, each checked against the specification: a
/// timestamp, one directive with the namespace, dimension sets whose every name is a string
/// at the top level, metrics with a unit whose every name is a number at the top level, and
/// nothing else beside `_aws`.
fn documents(captured: &Capture) -> Vec<Value> {
    let docs: Vec<Value> = captured
        .text()
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|line| line.get("_aws").is_some())
        .collect();
    for doc in &docs {
        assert!(doc["_aws"]["Timestamp"].is_u64(), "{doc}");
        let directives = doc["_aws"]["CloudWatchMetrics"].as_array().unwrap();
        assert_eq!(directives.len(), 1, "{doc}");
        let directive = &directives[0];
        assert_eq!(directive["Namespace"], shared::metrics::DEFAULT_NAMESPACE);
        let mut keys = vec!["_aws".to_owned()];
        for set in directive["Dimensions"].as_array().unwrap() {
            for name in set.as_array().unwrap() {
                let name = name.as_str().unwrap();
                assert!(doc[name].is_string(), "{name} in {doc}");
                keys.push(name.to_owned());
            }
        }
        for metric in directive["Metrics"].as_array().unwrap() {
            let name = metric["Name"].as_str().unwrap();
            assert_eq!(metric["Unit"], "Count", "{doc}");
            assert_eq!(doc[name], 1, "{doc}");
            keys.push(name.to_owned());
        }
        for key in doc.as_object().unwrap().keys() {
            assert!(keys.contains(key), "{key} is no dimension or metric: {doc}");
        }
    }
    docs
}

/// `(metric, [dimension = value, ...])` of each document, the dimensions in name order.
fn counted(docs: &[Value]) -> Vec<(String, Vec<String>)> {
    docs.iter()
        .map(|doc| {
            let metric = doc["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"]
                .as_str()
                .unwrap()
                .to_owned();
            let mut dims: Vec<String> = doc
                .as_object()
                .unwrap()
                .iter()
                .filter(|(k, _)| *k != "_aws" && **k != metric)
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap()))
                .collect();
            dims.sort();
            (metric, dims)
        })
        .collect()
}

fn events(action: &str, outcome: &str, reason: &str) -> (String, Vec<String>) {
    (
        "Events".to_owned(),
        vec![
            format!("Action={action}"),
            format!("Outcome={outcome}"),
            format!("Reason={reason}"),
        ],
    )
}

fn login_from(name: &str, password: &str, ip: &str) -> lambda_http::Request {
    Event::load("login")
        .json(json!({"username": name, "password": password}))
        .source_ip(ip)
        .request()
}

#[tokio::test(flavor = "current_thread")]
async fn logins_are_counted_by_outcome_and_refusals_by_policy() {
    let captured = Capture::default();
    let _guard = helpers::set_default(subscriber(&captured));
    let f = Fixture::local().await.with("LOGIN_IP_LIMIT", "3");
    let login = helpers::login(&f);
    let (name, with_mfa) = (unique("counted_"), unique("counted_mfa_"));
    create_user(f.store().as_ref(), &name, PASSWORD, &[]).await;
    create_user(f.store().as_ref(), &with_mfa, PASSWORD, &[]).await;
    enable_mfa(f.store().as_ref(), &with_mfa).await;
    let ip = unique_ip();

    let answers = [
        call(login::handle, &login, login_from(&name, PASSWORD, &ip)).await,
        call(
            login::handle,
            &login,
            login_from(&name, "not it at all", &ip),
        )
        .await,
        call(login::handle, &login, login_from(&with_mfa, PASSWORD, &ip)).await,
        call(login::handle, &login, login_from(&name, PASSWORD, &ip)).await,
    ];

    let statuses: Vec<u16> = answers.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(statuses, [200, 401, 403, 429]);
    assert_eq!(
        counted(&documents(&captured)),
        [
            events("login", "success", "authenticated"),
            events("login", "failure", "invalid_credentials"),
            events("login", "success", "mfa_required"),
            ("RateLimited".to_owned(), vec!["Policy=login_ip".to_owned()]),
            events("login", "refused", "login_ip"),
        ]
    );
}

#[tokio::test(flavor = "current_thread")]
async fn registrations_and_refreshes_are_counted_reuse_included() {
    let captured = Capture::default();
    let _guard = helpers::set_default(subscriber(&captured));
    let f = Fixture::local().await;
    let register = helpers::register(&f);
    let refresh = helpers::refresh(&f);
    let name = unique("counted_reg_");
    let created = call(
        register::handle,
        &register,
        Event::load("register")
            .json(json!({"username": name, "password": PASSWORD}))
            .source_ip(&unique_ip())
            .request(),
    )
    .await;
    assert_eq!(created.status(), 201);
    let me = shared::testing::signed_in(f.store(), f.now()).await;
    let send = |token: &str| helpers::token_event("refresh", token).request();

    let rotated = call(refresh::handle, &refresh, send(&me.refresh_token)).await;
    let reused = call(refresh::handle, &refresh, send(&me.refresh_token)).await;
    let unknown = call(refresh::handle, &refresh, send("not-a-refresh-token")).await;

    assert_eq!(
        [rotated.status(), reused.status(), unknown.status()].map(|s| s.as_u16()),
        [200, 401, 401]
    );
    let counted = counted(&documents(&captured));
    assert_eq!(counted[0].0, "Events");
    assert!(
        counted[0].1.contains(&"Action=register".to_owned())
            && counted[0].1.contains(&"Outcome=success".to_owned()),
        "{counted:?}"
    );
    assert_eq!(
        counted[1..],
        [
            events("refresh", "success", "rotated"),
            events("refresh", "failure", "reuse_detected_session_revoked"),
            events("refresh", "failure", "malformed_or_forged"),
        ]
    );
}

#[tokio::test(flavor = "current_thread")]
async fn every_audit_event_is_counted_once_and_no_document_names_anyone() {
    let captured = Capture::default();
    let _guard = helpers::set_default(subscriber(&captured));
    let f = Fixture::local().await.with("AUDIT_LOG_USERNAMES", "true");
    let name = unique("counted_all_");
    create_user(f.store().as_ref(), &name, PASSWORD, &[]).await;
    let ip = unique_ip();
    let ok = helpers::send_login(&f, &name, PASSWORD).await;
    let tokens = body_json(&ok);
    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    let failed = call(
        login::handle,
        &helpers::login(&f),
        login_from(&name, "wrong wrong wrong", &ip),
    )
    .await;
    let rotated = helpers::send_refresh(&f, refresh_token).await;
    let logout = helpers::logout(&f);
    let next = body_json(&rotated)["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let ended = call(
        logout::handle,
        &logout,
        helpers::token_event("logout", &next).request(),
    )
    .await;
    assert_eq!(
        [
            ok.status(),
            failed.status(),
            rotated.status(),
            ended.status()
        ]
        .map(|s| s.as_u16()),
        [200, 401, 200, 204]
    );

    let audited: Vec<(String, Vec<String>)> = captured
        .audit_events()
        .iter()
        .map(|e| {
            events(
                e["action"].as_str().unwrap(),
                e["outcome"].as_str().unwrap(),
                &shared::metrics::dimension_value(e["reason"].as_str().unwrap()),
            )
        })
        .collect();
    let docs = documents(&captured);
    assert_eq!(audited.len(), 4, "{audited:?}");
    assert_eq!(counted(&docs), audited);
    let text = serde_json::to_string(&docs).unwrap();
    let user_id = shared::testing::user_id_of(&name);
    for who in [
        name.as_str(),
        name.to_lowercase().as_str(),
        user_id.as_str(),
        ip.as_str(),
        PASSWORD,
        refresh_token,
        next.as_str(),
        tokens["access_token"].as_str().unwrap(),
    ] {
        assert!(!text.contains(who), "a metric names {who}: {text}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn an_unreachable_dynamodb_is_counted_as_a_dependency_failure() {
    let captured = Capture::default();
    let _guard = helpers::set_default(subscriber(&captured));
    let f = Fixture::unreachable().await;

    let answer = helpers::send_login(&f, &unique("nobody_"), PASSWORD).await;

    helpers::assert_unavailable(&answer, "unreachable");
    assert_eq!(
        counted(&documents(&captured)),
        [(
            "DependencyFailures".to_owned(),
            vec!["Dependency=dynamodb".to_owned()]
        )]
    );
}
