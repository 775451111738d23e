//! Metrics as CloudWatch Embedded Metric Format (EMF): one JSON document per counted event,
//! written as a line of its own to stdout, which CloudWatch Logs turns into metrics (no API
//! call, no latency). `docs/operations.md` lists them, and the alarms of `template.yaml` use
//! them.
//!
//! Every document counts one event under the namespace `METRICS_NAMESPACE` (template parameter
//! `MetricsNamespace`, default `AuthApi`). The dimensions are a few fixed names whose values
//! come from fixed sets: an action, an outcome, a short reason code, a rate-limit policy, a
//! dependency. Never a username, an address, an id or a token: every value is a `&'static str`
//! of the code (a reason is normalised, see [`dimension_value`]), so the number of metrics
//! stays bounded whatever the traffic.
//!
//! - [`EVENTS`] (`Action`, `Outcome`; and with `Reason`): every audit event
//!   ([`crate::audit`]), such as a login's `success`/`authenticated`, `success`/
//!   `mfa_required`, `failure`/`invalid_credentials` or a refresh's `failure`/
//!   `reuse_detected_session_revoked`.
//! - [`RATE_LIMITED`] (`Policy`): every refusal by a rate limit.
//! - [`DEPENDENCY_FAILURES`] (`Dependency`: `dynamodb`, `ses`, `other`): every `503`.
//!
//! The documents go through `tracing` under the target [`TARGET`]; the subscriber of
//! [`crate::telemetry`] writes each one as it is, on its own line, and keeps it out of the
//! JSON log lines. Written by hand rather than with `metrics_cloudwatch_embedded`: that crate is
//! a global recorder of the `metrics` facade, flushed after each invocation by its own runtime
//! wrapper and straight to stdout; a document here is one `serde_json` value at the place the
//! event is decided, and going through `tracing` lets the tests read it back from the handler
//! the way they read the audit trail (a thread-local subscriber) and lets the log-leak check see it.

use serde_json::{Value, json};

/// The `tracing` target of EMF documents.
pub const TARGET: &str = "emf";

/// The namespace when `METRICS_NAMESPACE` is not set.
pub const DEFAULT_NAMESPACE: &str = "AuthApi";

/// Every audit event: dimensions `Action`, `Outcome` (and with `Reason`).
pub const EVENTS: &str = "Events";
/// Every refusal by a rate limit: dimension `Policy`.
pub const RATE_LIMITED: &str = "RateLimited";
/// Every `503`: dimension `Dependency`.
pub const DEPENDENCY_FAILURES: &str = "DependencyFailures";

/// Each metric with the dimension sets it is published under (CloudWatch keeps one metric
/// per set and value combination): what the template's alarms may refer to.
pub const EMITTED: &[(&str, &[&[&str]])] = &[
    (
        EVENTS,
        &[&["Action", "Outcome"], &["Action", "Outcome", "Reason"]],
    ),
    (RATE_LIMITED, &[&["Policy"]]),
    (DEPENDENCY_FAILURES, &[&["Dependency"]]),
];

/// The namespace documents are published under: `METRICS_NAMESPACE`, read once.
fn namespace() -> &'static str {
    static NAMESPACE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAMESPACE.get_or_init(|| {
        std::env::var("METRICS_NAMESPACE")
            .ok()
            .filter(|ns| !ns.is_empty())
            .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned())
    })
}

/// A reason code as a dimension value: lower case, each run of characters other than ASCII
/// letters and digits one `_` (`reuse detected, session revoked` is
/// `reuse_detected_session_revoked`; `login-ip` is `login_ip`).
pub fn dimension_value(reason: &str) -> String {
    let mut out = String::with_capacity(reason.len());
    for c in reason.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}

/// One audit event counted: `action`, `outcome` and `reason` as the audit trail names them.
pub fn event(action: &'static str, outcome: &'static str, reason: &'static str) {
    emit(
        EVENTS,
        &[
            ("Action", action.to_owned()),
            ("Outcome", outcome.to_owned()),
            ("Reason", dimension_value(reason)),
        ],
    );
}

/// One refusal by the rate-limit policy `policy`.
pub fn rate_limited(policy: &'static str) {
    emit(RATE_LIMITED, &[("Policy", dimension_value(policy))]);
}

/// One `503`, caused by `dependency` (`dynamodb`, `ses`, `other`).
pub fn dependency_failure(dependency: &'static str) {
    emit(
        DEPENDENCY_FAILURES,
        &[("Dependency", dependency.to_owned())],
    );
}

/// Writes the document counting one `metric` with these dimension values.
fn emit(metric: &'static str, values: &[(&'static str, String)]) {
    let sets = EMITTED
        .iter()
        .find(|(name, _)| *name == metric)
        .map_or(&[][..], |(_, sets)| *sets);
    let doc = document(namespace(), metric, sets, values, crate::unix_now_millis());
    tracing::info!(target: TARGET, emf = %doc);
}

/// The EMF document: `_aws` (timestamp, namespace, dimension sets, the metric and its unit),
/// the dimension values and the count, all at the top level as the specification asks.
fn document(
    namespace: &str,
    metric: &str,
    sets: &[&[&str]],
    values: &[(&str, String)],
    timestamp_ms: u64,
) -> Value {
    let mut doc = json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": sets,
                "Metrics": [{"Name": metric, "Unit": "Count"}],
            }],
        },
        metric: 1,
    });
    for (name, value) in values {
        doc[*name] = Value::String(value.clone());
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_become_short_lower_case_codes() {
        for (reason, value) in [
            ("invalid_credentials", "invalid_credentials"),
            (
                "reuse detected, session revoked",
                "reuse_detected_session_revoked",
            ),
            ("login-ip", "login_ip"),
            ("Login-User-Long", "login_user_long"),
            (" -x- ", "x"),
        ] {
            assert_eq!(dimension_value(reason), value);
        }
    }

    #[test]
    fn a_document_names_every_dimension_it_declares_and_counts_one() {
        let values = [
            ("Action", "login".to_owned()),
            ("Outcome", "failure".to_owned()),
            ("Reason", "invalid_credentials".to_owned()),
        ];
        let sets: &[&[&str]] = &[&["Action", "Outcome"], &["Action", "Outcome", "Reason"]];
        let doc = document("AuthApi", EVENTS, sets, &values, 1_700_000_000_000);

        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(doc["_aws"]["Timestamp"], 1_700_000_000_000u64);
        assert_eq!(directive["Namespace"], "AuthApi");
        assert_eq!(directive["Metrics"][0]["Name"], EVENTS);
        assert_eq!(directive["Metrics"][0]["Unit"], "Count");
        assert_eq!(doc[EVENTS], 1);
        for set in directive["Dimensions"].as_array().unwrap() {
            for name in set.as_array().unwrap() {
                assert!(doc[name.as_str().unwrap()].is_string(), "{name} in {doc}");
            }
        }
    }
}
