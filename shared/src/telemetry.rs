//! Logging: JSON lines on stdout, which Lambda ships to CloudWatch Logs.

use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber once per cold start. `RUST_LOG` filters (default `info`).
/// Calling it twice is harmless (tests do).
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(true)
        .try_init();
}
