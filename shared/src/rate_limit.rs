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

/// The subject a per-IP policy counts a client address under: an IPv4 address as it is, an
/// IPv6 address by its /64 network (one client is usually given a whole /64, and could rotate
/// through it for fresh limits), an IPv4-mapped IPv6 address as its IPv4 address. Anything that
/// is not an address (API Gateway always sends one) is counted as it is.
pub fn source_subject(source_ip: &str) -> String {
    match source_ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let network = u128::from(v6) & !((1u128 << 64) - 1);
                format!("{}/64", std::net::Ipv6Addr::from(network))
            }
        },
        Ok(std::net::IpAddr::V4(v4)) => v4.to_string(),
        Err(_) => source_ip.to_owned(),
    }
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
        // The window's length is part of the key: the account-wide tiers share one name.
        let key = format!("{}#{}#{}#{}", policy.name, window, subject, start);
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

#[cfg(test)]
mod tests {
    use super::source_subject;

    #[test]
    fn ipv6_clients_are_counted_by_their_64_and_ipv4_by_the_address() {
        let cases = [
            ("203.0.113.10", "203.0.113.10"),
            ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
            ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
            ("2001:DB8:1:2:a:b:c:d", "2001:db8:1:2::/64"),
            ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
            ("::ffff:203.0.113.10", "203.0.113.10"),
            ("unknown", "unknown"),
        ];
        for (ip, subject) in cases {
            assert_eq!(source_subject(ip), subject, "{ip}");
        }
    }
}
