//! Building blocks shared by every function of the auth API.
//!
//! A request's way through `POST /login`: [`http::read_json_object`] bounds and parses the body,
//! [`validation::Credentials::parse`] turns it into typed input, [`rate_limit::RateLimiter`] spends
//! the attempt, [`store::UserStore::find`] loads the user, [`password::Passwords::verify`] checks the
//! password off the async thread and [`token::Tokens::issue`] signs the access token. Every failure is
//! an [`ApiError`], which the handler turns into a JSON response in one place
//! ([`ApiError::into_response`], in [`http::response`]).
//!
//! # Layers
//!
//! Every dependency between modules points one way, down this list (a module uses only modules
//! on lines below its own; `shared/tests/consistency/layering.rs` fails on an import that points up):
//!
//! | layer | modules | what it knows |
//! |---|---|---|
//! | 9 | `testing`, `bad_tokens` | everything (tests only, feature `test-util`) |
//! | 8 | [`admin`], [`account`], `email` | the admin API's and the account routes' common parts: settings, the target user or the caller, views; the contact channel's links, mails and notices |
//! | 7 | [`audit`] | the audit trail: actions, outcomes, request metadata |
//! | 6 | [`http`] (with [`http::response`]) | requests and responses: bodies, bearer credentials, headers, rendering an [`ApiError`] |
//! | 5 | [`validation`], [`password`], [`token`], [`refresh`], `mfa`, `mfa_token`, `keyed_token` | the domain: credentials, hashes, access tokens, sessions, the second factor (and the `mfa_token`), tokens that name their account |
//! | 4 | [`error`] | the error vocabulary: status, code, message; nothing of responses |
//! | 3 | [`rate_limit`], [`lockout`] | limits on the counter store (the login failure limits with familiar sources); nothing of HTTP |
//! | 2 | [`store`] (with `store::dynamo`), [`keys`], `mail` | storage behind traits, key material, mail through SES; nothing of HTTP or the API error |
//! | 1 | `aws` | the AWS SDK settings (features `dynamo`, `secrets`) |
//! | 0 | [`config`], [`roles`], [`routes`], [`blocklist`], [`telemetry`], [`metrics`] | settings, roles and their scopes, the route table, the password blocklist, logging, metrics (EMF) |
//!
//! Within a layer a module may use another of the same layer, as long as no cycle forms.
//! The crate root holds only the [`Clock`].
#![warn(missing_docs)]

// The tests sign tokens and build full key sets; a workspace-wide run (`make test`) turns the
// feature on through the functions that need it.
#[cfg(all(test, not(feature = "aws-lc")))]
compile_error!("shared's tests need its aws-lc feature: cargo test -p shared --features aws-lc");

pub mod account;
pub mod admin;
pub mod audit;
#[cfg(feature = "aws")]
pub mod aws;
pub mod blocklist;
pub mod config;
#[cfg(feature = "mail")]
pub mod email;
pub mod error;
pub mod http;
#[cfg(feature = "aws-lc")]
pub mod keyed_token;
pub mod keys;
pub mod lockout;
#[cfg(feature = "mail")]
pub mod mail;
pub mod metrics;
#[cfg(feature = "mfa")]
pub mod mfa;
#[cfg(feature = "aws-lc")]
pub mod mfa_token;
pub mod password;
pub mod rate_limit;
#[cfg(feature = "aws-lc")]
pub mod refresh;
pub mod roles;
pub mod routes;
pub mod store;
pub mod telemetry;
pub mod token;
pub mod validation;

// Beside the other test helpers, but also in shared's own unit tests, which run without them.
#[cfg(any(test, feature = "test-tokens"))]
#[path = "testing/bad_tokens.rs"]
pub mod bad_tokens;
#[cfg(feature = "test-tokens")]
pub mod testing;

pub use error::ApiError;
pub use http::RequestMeta;
/// The JWT library, for the algorithm names in [`keys::PublicKey::alg`].
pub use jsonwebtoken;

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

/// Now in epoch milliseconds (the timestamp of a metric document).
pub fn unix_now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
