//! Fixed-window rate limiting on atomic counters.
//!
//! Each (policy, subject, window) has one counter, incremented by a conditional write that is
//! refused once the limit is reached, so N concurrent attempts admit exactly `limit`. Window
//! keys embed the window's start, so an old window never needs deleting to be ignored: TTL only
//! saves storage.

use std::sync::Arc;

use http::{HeaderMap, header};

use crate::config::Limit;
use crate::error::insert;
use crate::store::{CounterStore, StoreError, Take};

/// Extra lifetime of a counter after its window ends, before TTL may delete it.
const EXPIRY_GRACE_SECONDS: u64 = 60;

/// A unit taken from a window; give it back with [`RateLimiter::give_back`].
#[derive(Debug, Clone)]
pub struct Slot {
    key: String,
    pub remaining: u32,
    pub reset_in: u64,
}

/// A refused attempt: which policy, and how long until its window ends.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub policy: Limit,
    pub retry_after: u64,
}

impl Slot {
    /// The IETF rate-limit headers for an admitted request: how many attempts are left in this
    /// window and when it resets.
    pub fn write_headers(&self, policy: &Limit, headers: &mut HeaderMap) {
        write_policy(policy, headers);
        insert(
            headers,
            header::HeaderName::from_static("ratelimit"),
            &format!(
                "\"{}\";r={};t={}",
                policy.name, self.remaining, self.reset_in
            ),
        );
    }
}

fn write_policy(p: &Limit, headers: &mut HeaderMap) {
    insert(
        headers,
        header::HeaderName::from_static("ratelimit-policy"),
        &format!("\"{}\";q={};w={}", p.name, p.limit, p.window_seconds),
    );
}

impl Refusal {
    /// `Retry-After` plus the IETF rate-limit headers (draft-ietf-httpapi-ratelimit-headers):
    /// `RateLimit-Policy: "login-ip";q=5;w=60` and `RateLimit: "login-ip";r=0;t=42`.
    pub fn write_headers(&self, headers: &mut HeaderMap) {
        let p = &self.policy;
        insert(headers, header::RETRY_AFTER, &self.retry_after.to_string());
        write_policy(p, headers);
        insert(
            headers,
            header::HeaderName::from_static("ratelimit"),
            &format!("\"{}\";r=0;t={}", p.name, self.retry_after),
        );
    }
}

pub struct RateLimiter {
    store: Arc<dyn CounterStore>,
}

impl RateLimiter {
    pub fn new(store: Arc<dyn CounterStore>) -> Self {
        Self { store }
    }

    /// Spends one attempt of `subject` under `policy` at time `now`.
    pub async fn take(
        &self,
        policy: &Limit,
        subject: &str,
        now: u64,
    ) -> Result<Result<Slot, Refusal>, StoreError> {
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
            Take::Taken { count } => Ok(Ok(Slot {
                key,
                remaining: policy.limit.saturating_sub(count),
                reset_in,
            })),
            Take::Refused => Ok(Err(Refusal {
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
