//! Logging: JSON lines on stdout, which Lambda ships to CloudWatch Logs.
//!
//! Whatever `RUST_LOG` says, the crates that print raw events, request and response bodies or
//! signing details at `debug`/`trace` (the Lambda runtime, the HTTP stack, the AWS SDK) are
//! capped at `info`: with `RUST_LOG=trace` they would put passwords, tokens and hashes in
//! CloudWatch. Our own code logs none of those at any level.

use std::io::Write;

use tracing_subscriber::filter::{LevelFilter, Targets, filter_fn};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

/// Targets capped at `info`, and everything under them (`Targets` matches by prefix at `::`).
pub const CAPPED_TARGETS: &[&str] = &[
    "lambda_runtime",
    "lambda_runtime_api_client",
    "lambda_http",
    "aws_lambda_events",
    "aws_config",
    "aws_credential_types",
    "aws_runtime",
    "aws_sigv4",
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_smithy_http",
    "aws_smithy_http_client",
    "aws_smithy_types",
    "aws_smithy_json",
    "aws_sdk_dynamodb",
    "aws_sdk_secretsmanager",
    "aws_sdk_sts",
    "aws_sdk_sso",
    "aws_sdk_ssooidc",
    "hyper",
    "hyper_util",
    "h2",
    "http_body_util",
    "rustls",
    "tower",
];

/// The filter for a `RUST_LOG` value (default `info`): a level, or `target=level` directives such
/// as `info,shared=debug`, parsed by `tracing_subscriber`'s `Targets`, which needs no regex
/// engine (unlike `EnvFilter`): a smaller binary and less work at cold start. Then every
/// [`CAPPED_TARGETS`] entry, and every module under one, is held at `info` or quieter. A value
/// that does not parse, or that holds a field filter (`target[{field}]=level`), is `info`.
pub fn filter(spec: Option<&str>) -> Targets {
    // Audit events are a record, not diagnostics: `RUST_LOG=warn` (or `off`, or
    // `audit=off`) silences the logs, never the audit trail.
    verbosity(spec)
        .with_target(AUDIT_TARGET, LevelFilter::INFO)
        .with_target(crate::metrics::TARGET, LevelFilter::INFO)
}

/// The target every audit event is written under ([`crate::audit`]).
pub const AUDIT_TARGET: &str = "audit";

/// [`filter`] before the audit target is added.
fn verbosity(spec: Option<&str>) -> Targets {
    // A field filter is refused: `would_enable` below does not see one, so `hyper[{message}]=
    // trace` would enable `hyper`'s events past its cap.
    let mut filter = spec
        .filter(|s| !s.contains('['))
        .and_then(|s| s.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO));
    // A bare level at `info` or quieter (the template's default) already holds every capped
    // target there: the filter stays one directive, which is also the quickest to build at each
    // cold start (the loop below takes about 0.01 ms) and to consult at each callsite.
    let verbose = filter
        .default_level()
        .is_some_and(|l| l > LevelFilter::INFO);
    if filter.iter().next().is_none() && !verbose {
        return filter;
    }
    // A directive for a module under a capped crate (`hyper::proto=trace`) is more specific than
    // the crate's cap, so it would win over it: it is capped in its own right.
    let under_capped: Vec<String> = filter
        .iter()
        .filter(|(target, level)| {
            *level > LevelFilter::INFO && CAPPED_TARGETS.iter().any(|c| target.starts_with(c))
        })
        .map(|(target, _)| target.to_owned())
        .collect();
    for target in under_capped {
        filter = filter.with_target(target, LevelFilter::INFO);
    }
    for target in CAPPED_TARGETS {
        let enabled = [
            tracing::Level::TRACE,
            tracing::Level::DEBUG,
            tracing::Level::INFO,
            tracing::Level::WARN,
            tracing::Level::ERROR,
        ]
        .into_iter()
        .find(|level| filter.would_enable(target, level))
        .map_or(LevelFilter::OFF, LevelFilter::from_level);
        filter = filter.with_target(*target, enabled.min(LevelFilter::INFO));
    }
    filter
}

/// The JSON subscriber, writing to `writer`, filtered by [`filter`] of `spec`; metric documents
/// ([`crate::metrics`]) are written as they are, each on a line of its own, and are no log line.
pub fn subscriber<W>(spec: Option<&str>, writer: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Clone + Send + Sync + 'static,
{
    let json = tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(true)
        .with_writer(writer.clone())
        .with_filter(filter_fn(|meta| meta.target() != crate::metrics::TARGET));
    tracing_subscriber::registry()
        .with(json)
        .with(Emf { writer })
        .with(filter(spec))
}

/// Writes each metric document as it is: EMF is a JSON object at the top of its line, which
/// the JSON formatter, nesting fields under its own keys, cannot write.
struct Emf<W> {
    writer: W,
}

impl<S, W> Layer<S> for Emf<W>
where
    S: tracing::Subscriber,
    W: for<'w> MakeWriter<'w> + 'static,
{
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() != crate::metrics::TARGET {
            return;
        }
        let mut doc = Document(String::new());
        event.record(&mut doc);
        if doc.0.is_empty() {
            return;
        }
        doc.0.push('\n');
        // One write: a line is never interleaved with another.
        let _ = self.writer.make_writer().write_all(doc.0.as_bytes());
    }
}

/// The `emf` field of a metric event.
struct Document(String);

impl tracing::field::Visit for Document {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "emf" {
            // `emf = %doc` arrives as its `Display`: the JSON text.
            self.0 = format!("{value:?}");
        }
    }
}

/// Installs the JSON subscriber on stdout once per cold start, filtered by `RUST_LOG`. Calling
/// it twice is harmless (tests do).
pub fn init() {
    let spec = std::env::var("RUST_LOG").ok();
    let _ = subscriber(spec.as_deref(), std::io::stdout).try_init();
    // Shows in the log that a verbose `RUST_LOG` reached the function (the trace-log check in
    // `make test` looks for it).
    tracing::debug!(
        rust_log = spec.as_deref().unwrap_or("info"),
        "logging configured"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// What a subscriber made by [`subscriber`] for `spec` writes while `emit` runs.
    fn written(spec: &str, emit: fn()) -> String {
        #[derive(Clone)]
        struct Capture(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Capture {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let capture = Capture(Arc::default());
        let writer = capture.clone();
        tracing::subscriber::with_default(subscriber(Some(spec), move || writer.clone()), emit);
        String::from_utf8(capture.0.lock().unwrap().clone()).unwrap()
    }

    /// Debug and trace events of modules deep inside capped crates.
    fn capped_debug_and_trace() {
        use tracing::Level;
        tracing::event!(target: "hyper::proto::h1::io", Level::TRACE, leak = "h1", "body");
        tracing::event!(target: "hyper::proto::h1::io", Level::DEBUG, leak = "h1", "body");
        tracing::event!(target: "aws_smithy_runtime::client::orchestrator", Level::TRACE, leak = "sdk", "x");
        tracing::event!(target: "aws_smithy_runtime::client::orchestrator", Level::DEBUG, leak = "sdk", "x");
        tracing::event!(target: "lambda_runtime::layers::api_client", Level::TRACE, leak = "rt", "x");
        tracing::event!(target: "lambda_runtime::layers::api_client", Level::DEBUG, leak = "rt", "x");
        tracing::event!(target: "hyper_util::client::legacy", Level::DEBUG, leak = "util", "x");
    }

    #[test]
    fn no_directive_opens_a_module_under_a_capped_crate() {
        for spec in [
            "hyper::proto=trace",
            "hyper::proto::h1::io=debug",
            "aws_smithy_runtime::client::orchestrator=debug",
            "info,hyper::proto::h1=trace,shared=debug",
            "trace,lambda_runtime::layers=trace,hyper_util::client=trace",
            "hyper[{message}]=trace",
            "lambda_runtime[{leak}]=trace",
            "[{leak}]=trace",
            "info,hyper::proto[{leak}]=trace",
            "hype=trace",
            "h=trace,a=trace,l=trace",
        ] {
            let out = written(spec, capped_debug_and_trace);
            assert!(!out.contains("leak"), "{spec}: {out}");
        }
        // The capture works: the same events at info, and our own debug events when asked for.
        let out = written("info,shared=debug", || {
            tracing::info!(target: "hyper::proto::h1::io", leak = "info", "x");
            tracing::debug!(target: "shared::keys", mine = "debug", "x");
        });
        assert!(out.contains(r#""leak":"info""#), "{out}");
        assert!(out.contains(r#""mine":"debug""#), "{out}");
    }

    #[test]
    fn audit_events_are_written_whatever_rust_log_says() {
        for spec in [
            None,
            Some("off"),
            Some("error"),
            Some("warn"),
            Some("audit=off"),
            Some("warn,audit=error"),
            Some("trace"),
            Some("not a filter"),
        ] {
            let f = filter(spec);
            assert!(
                f.would_enable(AUDIT_TARGET, &tracing::Level::INFO),
                "{spec:?}"
            );
        }
        // And the events themselves reach the output at `off`, beside nothing else.
        let out = written("off", || {
            tracing::info!(target: "audit", audit = true, action = "login", "audit");
            tracing::warn!(target: "shared::store", "not an audit event");
        });
        assert!(out.contains(r#""action":"login""#), "{out}");
        assert!(!out.contains("not an audit event"), "{out}");
    }

    #[test]
    fn the_runtime_http_and_sdk_crates_stay_at_info_whatever_rust_log_says() {
        for spec in [
            "trace",
            "debug",
            "trace,aws_smithy_runtime=trace",
            "info,lambda_runtime=trace",
            "info,hyper=trace,aws_sigv4=debug",
        ] {
            let f = filter(Some(spec));
            for target in [
                "lambda_runtime",
                "aws_smithy_runtime::client",
                "hyper",
                "aws_sigv4",
            ] {
                assert!(
                    !f.would_enable(target, &tracing::Level::DEBUG),
                    "{spec}: {target} at debug"
                );
                assert!(
                    f.would_enable(target, &tracing::Level::INFO),
                    "{spec}: {target}"
                );
            }
            if spec.starts_with("trace") {
                assert!(
                    f.would_enable("shared", &tracing::Level::TRACE),
                    "{spec}: ours"
                );
            }
        }
        // Quieter than info stays quieter.
        for spec in ["warn", "error", "info", "off", "", "not a filter"] {
            let f = filter(Some(spec));
            for target in CAPPED_TARGETS.iter().chain(&["shared", "login"]) {
                for level in [tracing::Level::DEBUG, tracing::Level::TRACE] {
                    assert!(
                        !f.would_enable(target, &level),
                        "{spec:?}: {target} at {level}"
                    );
                }
            }
        }
        let f = filter(Some("info"));
        assert!(f.would_enable("shared", &tracing::Level::INFO));
        assert!(f.would_enable("aws_smithy_runtime", &tracing::Level::INFO));
        let f = filter(None);
        assert!(f.would_enable("hyper", &tracing::Level::INFO));
        assert!(!f.would_enable("hyper", &tracing::Level::DEBUG));
        let f = filter(Some("warn"));
        assert!(!f.would_enable("aws_smithy_runtime", &tracing::Level::INFO));
        assert!(f.would_enable("aws_smithy_runtime", &tracing::Level::WARN));
        let f = filter(Some("off"));
        assert!(!f.would_enable("hyper", &tracing::Level::ERROR));
    }
}
