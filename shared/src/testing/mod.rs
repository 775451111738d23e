//! Test helpers: sample events, [`call`] to run a handler and record its response for the
//! contract check, response bodies, the test keys and hand-made tokens (feature `test-tokens`),
//! and with feature `test-util` the `Fixture` a function with a store is assembled from, the
//! local and unreachable stores, users and sessions, their second factor, and the fault proxy
//! (`faults`).
//!
//! `test-tokens` brings no aws-lc, no AWS SDK and no HTTP server: the verify-only functions
//! (`protected`, `jwks`) test the build they deploy, whose token checks run on RustCrypto. Its
//! keys are fixed test-only documents (`test-only-keys/`) and its tokens are signed through
//! jsonwebtoken directly, so neither needs a signing key set, which needs aws-lc.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use lambda_http::{Body, Request, Response};
use serde_json::Value;

use crate::config::Vars;

#[cfg(feature = "test-util")]
pub mod faults;
#[cfg(feature = "test-util")]
mod mail;
#[cfg(feature = "test-util")]
mod mfa;
mod signing;
#[cfg(feature = "test-util")]
mod store;

#[cfg(feature = "test-util")]
pub use mail::*;
#[cfg(feature = "test-util")]
pub use mfa::*;
pub use signing::*;
#[cfg(feature = "test-util")]
pub use store::*;

/// The variables every fixture starts from. Limits are generous (no test reaches them unless it
/// sets its own), argon2 is at its cheapest (the production parameters are covered by the
/// password module's own tests), and tokens carry the test issuer of [`token_config`].
pub fn test_vars() -> Vars {
    let mut vars = Vars::from_pairs([
        ("JWT_ISSUER", "auth-api-test"),
        ("JWT_AUDIENCE", "auth-api-test"),
        ("AUTH_REALM", "auth-api-test"),
        ("ARGON2_MEMORY_KIB", "64"),
        ("ARGON2_ALLOW_WEAK_FOR_TESTS", "true"),
        ("ARGON2_ITERATIONS", "1"),
        ("ARGON2_PARALLELISM", "1"),
        ("SESSION_TTL_SECONDS", "3600"),
        ("LOGIN_IP_LIMIT", "1000"),
        ("LOGIN_USER_LIMIT", "1000"),
        ("LOGIN_USER_MEDIUM_LIMIT", "1000"),
        ("LOGIN_USER_LONG_LIMIT", "1000"),
        ("LOGIN_USER_SOURCE_LIMIT", "1000"),
        ("REGISTER_IP_LIMIT", "1000"),
        ("REFRESH_IP_LIMIT", "1000"),
    ]);
    // The local server's table names, when `make test` set them (functions without a table
    // need none).
    let env = Vars::env();
    for name in ["USERS_TABLE", "RATE_LIMIT_TABLE", "SESSIONS_TABLE"] {
        if let Some(value) = env.get(name) {
            vars.set(name, &value);
        }
    }
    vars
}

/// Runs `handle` on one request and records the response for the OpenAPI contract check (see
/// [`record`]), so every test's responses are checked against `openapi.yaml`.
pub async fn call<'d, D, F, Fut>(handle: F, deps: &'d D, request: Request) -> Response<Body>
where
    F: FnOnce(&'d D, Request) -> Fut,
    Fut: Future<Output = Response<Body>>,
{
    let (method, path) = route_of(&request);
    let response = handle(deps, request).await;
    record(&method, &path, &response);
    response
}

/// The workspace's `events/` folder.
pub fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events")
}

/// A sample API Gateway HTTP API (payload 2.0) event from `events/`, to tweak and send.
#[derive(Debug, Clone)]
pub struct Event(pub Value);

impl Event {
    /// Loads `events/<name>.json`, and notes in the contract records that a test used it (the
    /// contract check fails on a sample no test loads).
    pub fn load(name: &str) -> Self {
        let event = Self::read(name);
        append_record(&serde_json::json!({"event": name}));
        event
    }

    /// Reads `events/<name>.json` without counting it as used (for checks over all samples).
    pub fn read(name: &str) -> Self {
        let path = events_dir().join(format!("{name}.json"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        Self(serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}")))
    }

    /// Replaces the body with this JSON value.
    pub fn json(self, body: Value) -> Self {
        self.raw_body(&body.to_string())
    }

    /// Replaces the body with this text.
    pub fn raw_body(mut self, body: &str) -> Self {
        self.0["body"] = Value::String(body.to_owned());
        self.0["isBase64Encoded"] = Value::Bool(false);
        self
    }

    /// Sets (or with `None`, removes) a header.
    pub fn header(mut self, name: &str, value: Option<&str>) -> Self {
        let headers = self.0["headers"]
            .as_object_mut()
            .expect("event has headers");
        match value {
            Some(v) => headers.insert(name.to_ascii_lowercase(), Value::String(v.to_owned())),
            None => headers.remove(&name.to_ascii_lowercase()),
        };
        self
    }

    /// Sets `requestContext.http.sourceIp`.
    pub fn source_ip(mut self, ip: &str) -> Self {
        self.0["requestContext"]["http"]["sourceIp"] = Value::String(ip.to_owned());
        self
    }

    /// Sets the method and path, as API Gateway would for another route.
    pub fn route(mut self, method: &str, path: &str) -> Self {
        self.0["rawPath"] = Value::String(path.to_owned());
        self.0["routeKey"] = Value::String(format!("{method} {path}"));
        self.0["requestContext"]["http"]["method"] = Value::String(method.to_owned());
        self.0["requestContext"]["http"]["path"] = Value::String(path.to_owned());
        self
    }

    /// The body, as a handler would receive it.
    pub fn body_text(&self) -> Option<&str> {
        self.0["body"].as_str()
    }

    /// Parses the event exactly as the Lambda runtime does.
    pub fn request(&self) -> Request {
        lambda_http::request::from_str(&self.0.to_string())
            .expect("event parses as an HTTP API request")
    }
}

/// The response body as JSON.
pub fn body_json(response: &Response<Body>) -> Value {
    serde_json::from_slice(response.body().as_ref()).expect("response body is JSON")
}

/// Asserts that `response` is `400 validation_error` naming `field` in its details; `context`
/// (the request's body, say) goes in the messages.
#[track_caller]
pub fn assert_invalid(response: &Response<Body>, field: &str, context: &str) {
    assert_eq!(response.status(), 400, "{context}");
    let answer = body_json(response);
    assert_eq!(answer["error"], "validation_error", "{context}");
    assert!(answer["details"][field].is_array(), "{context}: {answer}");
}

/// A name unique within this test run and across runs (tests share one local server).
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let run = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}{}{n}", &run[..8])
}

/// A random private IPv4 address, so tests sharing the local server do not share IP limits.
pub fn unique_ip() -> String {
    let b = uuid::Uuid::new_v4().into_bytes();
    format!("10.{}.{}.{}", b[0], b[1], b[2])
}

/// Every sample event's name (file stem), for checks that each one is exercised.
pub fn event_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(events_dir())
        .unwrap()
        .filter_map(|e| {
            let path = e.ok()?.path();
            (path.extension()? == "json").then(|| path.file_stem()?.to_str().map(str::to_owned))?
        })
        .collect();
    names.sort();
    names
}

/// Appends one handler response to the JSONL file named by `CONTRACT_RECORDS` (set by
/// `make test`), so `scripts/contract_check.py` can check every response the tests saw against
/// `openapi.yaml`. Does nothing when the variable is unset.
pub fn record(method: &str, path: &str, response: &Response<Body>) {
    let headers: serde_json::Map<String, Value> = response
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                Value::String(v.to_str().unwrap_or("").to_owned()),
            )
        })
        .collect();
    let line = serde_json::json!({
        "method": method,
        "path": path,
        "status": response.status().as_u16(),
        "headers": headers,
        "body": String::from_utf8_lossy(response.body().as_ref()),
    });
    append_record(&line);
}

/// Appends one JSON line to the `CONTRACT_RECORDS` file, if `make test` named one.
fn append_record(line: &Value) {
    use std::io::Write;
    let Ok(file) = std::env::var("CONTRACT_RECORDS") else {
        return;
    };
    let mut text = line.to_string();
    text.push('\n');
    // One write per line on an O_APPEND file: lines from parallel tests do not interleave.
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// The method and path of a request, taken before the handler consumes it.
pub fn route_of(req: &Request) -> (String, String) {
    (
        req.method().as_str().to_owned(),
        req.uri().path().to_owned(),
    )
}
