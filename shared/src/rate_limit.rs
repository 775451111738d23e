//! Fixed-window rate limiting on atomic counters.
//!
//! Each (policy, subject, window) has one counter, incremented by a conditional write that is
//! refused once the limit is reached, so N concurrent attempts admit exactly `limit`. Window
//! keys embed the window's start, so an old window never needs deleting to be ignored: TTL only
//! saves storage. The headers that tell a client about its limits are written by
//! [`crate::http::response`].

use std::sync::Arc;

use crate::config::Limit;
use crate::store::{CounterStore, StoreError, Take};

/// Extra lifetime of a counter after its window ends, before TTL may delete it.
const EXPIRY_GRACE_SECONDS: u64 = 60;

/// A unit taken from a window; give it back with [`RateLimiter::give_back`].
#[derive(Debug, Clone)]
pub struct Slot {
    key: String,
    /// Attempts left in this window after this one.
    pub remaining: u32,
    /// Seconds until the window ends.
    pub reset_in: u64,
}

/// A refused attempt: which policy, and how long until its window ends.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// The policy that refused.
    pub policy: Limit,
    /// Seconds until an attempt can be admitted again.
    pub retry_after: u64,
}

/// Why an attempt was not admitted.
#[derive(Debug, thiserror::Error)]
pub enum TakeError {
    /// The limit was reached.
    #[error("rate limited by {}", .0.policy.name)]
    Refused(Refusal),
    /// The counter could not be read or written: the attempt is not admitted (fail closed).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Takes and gives back attempts on the counter store.
pub struct RateLimiter {
    store: Arc<dyn CounterStore>,
}

impl RateLimiter {
    /// A limiter on these counters.
    pub fn new(store: Arc<dyn CounterStore>) -> Self {
        Self { store }
    }

    /// Spends one attempt of `subject` under `policy` at time `now`.
    pub async fn take(&self, policy: &Limit, subject: &str, now: u64) -> Result<Slot, TakeError> {
        let window = policy.window_seconds;
        let start = now - now % window;
        let end = start + window;
        let reset_in = (end - now).max(1);
        let key = format!("{}#{}#{}", policy.name, subject, start);
        match self
            .store
            .take(&key, policy.limit, end + EXPIRY_GRACE_SECONDS)
            .await?
        {
            Take::Taken { count } => Ok(Slot {
                key,
                remaining: policy.limit.saturating_sub(count),
                reset_in,
            }),
            Take::Refused => Err(TakeError::Refused(Refusal {
                policy: policy.clone(),
                retry_after: reset_in,
            })),
        }
    }

    /// Returns an attempt that turned out not to count (a successful login, for the per-user
    /// limit on failures).
    pub async fn give_back(&self, slot: &Slot) -> Result<(), StoreError> {
        self.store.give_back(&slot.key).await
    }
}
