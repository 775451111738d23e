//! Logs cannot leak secrets at any level: register, login, refresh and a password change run
//! with `RUST_LOG=trace` through the production subscriber (`shared::telemetry`), and nothing
//! captured holds the password, the tokens, the stored hash or the key material. The same run
//! with the caps lifted shows that the test can fail: the SDK then prints the hash it sends.

use serde_json::json;
use shared::store::UserStore;
use shared::testing::{Event, Fixture, body_json, call, key_document, unique, unique_ip};

use crate::helpers::{self, Capture, send_login, send_refresh};

const PASSWORD: &str = "correct horse battery staple";
const NEW_PASSWORD: &str = "another long passphrase";

/// Registers, logs in, refreshes and changes the password: the secrets that went by.
async fn flow(f: &Fixture) -> Vec<String> {
    let name = unique("quiet_");
    let body = json!({"username": name, "password": PASSWORD});
    let register = Event::load("register").json(body).source_ip(&unique_ip());
    let response = call(register::handle, &helpers::register(f), register.request()).await;
    assert_eq!(response.status(), 201);
    let tokens = body_json(&send_login(f, &name, PASSWORD).await);
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();
    let refreshed = body_json(&send_refresh(f, &refresh_token).await);
    let access = refreshed["access_token"].as_str().unwrap().to_owned();
    let change = Event::load("change-password")
        .header("authorization", Some(&format!("Bearer {access}")))
        .json(json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}));
    let deps = shared::testing::account_deps(f);
    let response = call(change_password::handle, &deps, change.request()).await;
    assert_eq!(response.status(), 204);
    let hash = f.store().find(&name).await.unwrap().unwrap().password_hash;

    let keys = key_document();
    let mut secrets = vec![
        PASSWORD.to_owned(),
        NEW_PASSWORD.to_owned(),
        tokens["access_token"].as_str().unwrap().to_owned(),
        refresh_token,
        refreshed["refresh_token"].as_str().unwrap().to_owned(),
        access,
        hash,
        keys.refresh_secret.clone(),
    ];
    secrets.extend(keys.keys.iter().filter_map(|k| k.d.clone()));
    secrets
}

fn leaked<'s>(log: &str, secrets: &'s [String]) -> Vec<&'s str> {
    secrets
        .iter()
        .map(String::as_str)
        .filter(|s| {
            // A hash's salt and digest are what matter; a JWT's signature is its last part.
            let needle = s.rsplit(['$', '.']).next().unwrap_or(s);
            log.contains(needle)
        })
        .collect()
}

#[tokio::test]
async fn at_rust_log_trace_no_password_token_hash_or_key_is_logged() {
    let capture = Capture::default();
    let subscriber = shared::telemetry::subscriber(Some("trace"), capture.clone());
    let f = Fixture::local().await;
    let secrets = {
        let _guard = helpers::set_default(subscriber);
        flow(&f).await
    };
    let log = capture.text();
    assert!(
        log.contains("\"level\":\"TRACE\"")
            || log.contains("\"level\":\"DEBUG\"")
            || log.contains("\"level\":\"INFO\""),
        "something was logged: {log}"
    );
    assert!(
        leaked(&log, &secrets).is_empty(),
        "leaked: {:?}",
        leaked(&log, &secrets)
    );
}

#[tokio::test]
async fn the_same_run_without_the_caps_does_leak_so_the_test_can_fail() {
    use tracing_subscriber::layer::SubscriberExt;
    let capture = Capture::default();
    let uncapped = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_writer(capture.clone()),
        )
        .with(
            "trace"
                .parse::<tracing_subscriber::filter::Targets>()
                .unwrap(),
        );
    let f = Fixture::local().await;
    let secrets = {
        let _guard = helpers::set_default(uncapped);
        flow(&f).await
    };
    assert!(
        !leaked(&capture.text(), &secrets).is_empty(),
        "the SDK at trace prints request bodies, which hold the hash"
    );
}
