//! Building blocks shared by every function of the auth API.
//!
//! A request's way through `POST /login`: [`http::read_json_object`] bounds and parses the body,
//! [`validation::Credentials::parse`] turns it into typed input, [`rate_limit::RateLimiter`] spends
//! the attempt, [`store::UserStore::find`] loads the user, [`password::Passwords::verify`] checks the
//! password off the async thread and [`token::Tokens::issue`] signs the access token. Every failure is
//! an [`ApiError`], which the handler turns into a JSON response in one place.

pub mod audit;
#[cfg(any(feature = "dynamo", feature = "secrets"))]
pub mod aws;
pub mod blocklist;
pub mod config;
pub mod error;
pub mod http;
pub mod keys;
pub mod password;
pub mod rate_limit;
pub mod refresh;
pub mod routes;
pub mod store;
pub mod telemetry;
pub mod token;
pub mod validation;

#[cfg(feature = "test-util")]
pub mod testing;

pub use error::ApiError;
pub use http::RequestMeta;

/// A source of "now" in epoch seconds. Handlers read it once per request; tests pin it so that a
/// rate-limit window cannot roll over in the middle of an assertion.
pub type Clock = std::sync::Arc<dyn Fn() -> u64 + Send + Sync>;

/// The real clock.
pub fn system_clock() -> Clock {
    std::sync::Arc::new(unix_now)
}

/// Seconds since the Unix epoch. Everything time-based (tokens, rate-limit windows) takes `now`
/// as an argument so tests can move the clock; handlers read it here once per request.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
