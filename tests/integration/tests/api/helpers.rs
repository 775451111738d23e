//! What the cross-function tests share: each function assembled as its `main` assembles it,
//! from the fixture's parts (the one place these tests build a `Deps`), the requests they send,
//! the faults they inject, and a writer that captures a subscriber's output.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use lambda_http::{Body, Response};
use serde_json::{Value, json};
use serde_norway::Value as Yaml;
use shared::testing::faults::Action;
use shared::testing::{Event, Fixture, body_json, call, unique_ip};
use tracing_subscriber::fmt::MakeWriter;

pub fn register(f: &Fixture) -> register::Deps {
    let settings = register::Settings::from_vars(f.vars()).unwrap();
    register::Deps::build(settings, f.store(), f.clock()).unwrap()
}

pub fn login(f: &Fixture) -> login::Deps {
    let settings = login::Settings::from_vars(f.vars()).unwrap();
    login::Deps::build(settings, f.store(), f.keys(), f.clock()).unwrap()
}

pub fn refresh(f: &Fixture) -> refresh::Deps {
    let settings = refresh::Settings::from_vars(f.vars()).unwrap();
    refresh::Deps::build(settings, f.store(), f.keys(), f.clock()).unwrap()
}

pub fn logout(f: &Fixture) -> logout::Deps {
    let settings = logout::Settings::from_vars(f.vars()).unwrap();
    logout::Deps::build(settings, f.store(), f.keys(), f.clock()).unwrap()
}

/// A login with these credentials, from an address of its own (so no test meets another's
/// per-IP limit).
pub fn login_event(name: &str, password: &str) -> Event {
    Event::load("login")
        .json(json!({"username": name, "password": password}))
        .source_ip(&unique_ip())
}

/// A `refresh` or `logout` request with this refresh token, from an address of its own.
pub fn token_event(route: &str, token: &str) -> Event {
    Event::load(route)
        .json(json!({ "refresh_token": token }))
        .source_ip(&unique_ip())
}

/// Sends a login to the login function built from `f`.
pub async fn send_login(f: &Fixture, name: &str, password: &str) -> Response<Body> {
    call(
        login::handle,
        &login(f),
        login_event(name, password).request(),
    )
    .await
}

/// Sends a refresh to the refresh function built from `f`.
pub async fn send_refresh(f: &Fixture, token: &str) -> Response<Body> {
    call(
        refresh::handle,
        &refresh(f),
        token_event("refresh", token).request(),
    )
    .await
}

/// The faults every endpoint must survive, with a name for messages.
pub const FAULTS: [(Action, &str); 3] = [
    (Action::Throttle, "throttling"),
    (Action::ServerError, "server error"),
    (Action::Hang, "timeout"),
];

/// A plan that forwards the first `n` requests of operation `wanted` and answers every later
/// one (the SDK's retries included) with `fault`; other operations are forwarded.
pub fn from_nth(
    wanted: &'static str,
    n: usize,
    fault: Action,
) -> impl FnMut(usize, &str) -> Action + Send + 'static {
    let mut seen = 0;
    move |_, op| {
        if op != wanted {
            return Action::Forward;
        }
        seen += 1;
        if seen > n { fault } else { Action::Forward }
    }
}

/// A plan that answers every request of operation `wanted` (the SDK's retries included) with
/// `fault`, and forwards the others.
pub fn failing(
    wanted: &'static str,
    fault: Action,
) -> impl FnMut(usize, &str) -> Action + Send + 'static {
    from_nth(wanted, 0, fault)
}

/// The answer to a store that failed: 503 `service_unavailable` with `Retry-After` and a
/// request id.
pub fn assert_unavailable(response: &Response<Body>, case: &str) {
    assert_eq!(response.status(), 503, "{case}: {:?}", response.body());
    assert_eq!(response.headers()["retry-after"], "1", "{case}");
    let body = body_json(response);
    assert_eq!(body["error"], "service_unavailable", "{case}");
    assert!(body["request_id"].is_string(), "{case}");
}

/// Installs `subscriber` for this thread until the guard drops, as `tracing`'s `set_default`
/// does, for a test that captures what is written while the other tests of this binary run
/// beside it with no subscriber.
///
/// While exactly one dispatcher exists, tracing-core takes a shortcut: a callsite hit for the
/// first time gets its interest from the default dispatcher of the thread that hit it. Hit
/// first by a test beside this one, a callsite (the register handler's audit event, say) would
/// be cached as never enabled, and its events lost to the capture too. A second dispatcher,
/// registered for the whole process and enabling nothing, keeps tracing-core off that shortcut:
/// every interest is then asked of every live dispatcher.
pub fn set_default<S>(subscriber: S) -> tracing::subscriber::DefaultGuard
where
    S: tracing::Subscriber + Send + Sync + 'static,
{
    static BESIDE: OnceLock<tracing::Dispatch> = OnceLock::new();
    BESIDE.get_or_init(|| tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default()));
    tracing::subscriber::set_default(subscriber)
}

/// Everything a subscriber writes, kept for the assertions.
#[derive(Clone, Default)]
pub struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'w> MakeWriter<'w> for Capture {
    type Writer = Capture;
    fn make_writer(&'w self) -> Self::Writer {
        self.clone()
    }
}

impl Capture {
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }

    /// The audit events among the JSON lines written.
    pub fn audit_events(&self) -> Vec<Value> {
        self.text()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["audit"] == true)
            .collect()
    }
}

/// The SAM template the stack deploys.
pub fn template() -> Yaml {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml");
    serde_norway::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Each function resource of `template`, with the name of the binary it runs.
pub fn functions(template: &Yaml) -> impl Iterator<Item = (&str, &Yaml)> {
    template["Resources"]
        .as_mapping()
        .unwrap()
        .values()
        .filter(|r| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .map(|r| {
            let binary = r["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap();
            (binary, r)
        })
}
