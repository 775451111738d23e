//! Logging: JSON lines on stdout, which Lambda ships to CloudWatch Logs.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Installs the JSON subscriber once per cold start. `RUST_LOG` filters (default `info`):
/// a level, or `target=level` directives such as `info,shared=debug`. Parsed by
/// `tracing_subscriber`'s `Targets`, which needs no regex engine (unlike `EnvFilter`): a
/// smaller binary and less work at cold start. Calling it twice is harmless (tests do).
pub fn init() {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|spec| spec.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO));
    let json = tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(true);
    let _ = tracing_subscriber::registry()
        .with(json)
        .with(filter)
        .try_init();
}
