//! Rate limiting on exact sliding logs.
//!
//! Each (policy, subject) has one log of the times of the attempts it admitted; an attempt is
//! admitted only while fewer than `limit` of them are younger than the window, by a
//! conditional write (see `store::dynamo::counters`), so no interval of one window's length
//! ever admits more than `limit`, at any alignment, and N concurrent attempts admit exactly the
//! room left, while a burst of `limit` quick attempts is still admitted. Times are whole
//! seconds: an entry stamped `t` may be from as late as `t + 1`, so it counts until `t + W + 1`
//! (a window at least W long, at most a second more). Old logs never need deleting to be
//! ignored: TTL only saves storage. The headers that tell a client about its limits are
//! written by [`crate::http::response`].

use std::sync::Arc;

use crate::config::Limit;
use crate::store::{Admission, Claim, CounterStore, StoreError};

/// Extra lifetime of a log after its newest entry stops counting, before TTL may delete it.
const EXPIRY_GRACE_SECONDS: u64 = 60;

/// An admitted attempt's place in its log; give it back with [`RateLimiter::give_back`], or
/// let the log drop its stale entries with [`RateLimiter::settle`].
#[derive(Debug, Clone)]
pub struct Slot {
    key: String,
    /// The log just after this attempt was appended.
    seen: Vec<u64>,
    /// This attempt's entry.
    at: u64,
    /// Entries at or before this no longer count.
    stale_upto: u64,
    /// Attempts left in the window after this one.
    pub remaining: u32,
    /// Seconds until the oldest counting attempt leaves the window (one more is admitted).
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
        let stale_upto = now.saturating_sub(window + 1);
        // The window's length is part of the key: the account-wide tiers share one name.
        let key = format!("{}#{}#{}", policy.name, window, subject);
        let claim = Claim {
            at: now,
            limit: policy.limit,
            stale_upto,
            expires_at: now + window + 1 + EXPIRY_GRACE_SECONDS,
        };
        // The counting entries, oldest first, and when one of them stops counting.
        let counting = |log: &[u64]| {
            let mut counting: Vec<u64> = log.iter().copied().filter(|&t| t > stale_upto).collect();
            counting.sort_unstable();
            counting
        };
        let leaves_in = |t: u64| (t + window + 1).saturating_sub(now).max(1);
        match self.store.admit(&key, &claim).await? {
            Admission::Admitted(log) => {
                let counting = counting(&log);
                let used = u32::try_from(counting.len()).unwrap_or(u32::MAX);
                Ok(Slot {
                    remaining: policy.limit.saturating_sub(used),
                    reset_in: counting.first().map_or(window, |&t| leaves_in(t)),
                    key,
                    seen: log,
                    at: now,
                    stale_upto,
                })
            }
            Admission::Refused(log) => {
                // A place frees up when the oldest of the newest `limit` entries leaves; a
                // refusal under contention (room left) is worth retrying at once.
                let counting = counting(&log);
                let retry_after = counting
                    .len()
                    .checked_sub(policy.limit as usize)
                    .and_then(|i| counting.get(i))
                    .map_or(1, |&t| leaves_in(t));
                Err(TakeError::Refused(Refusal {
                    policy: policy.clone(),
                    retry_after,
                }))
            }
        }
    }

    /// Returns an attempt that turned out not to count (a successful login, for the per-user
    /// limit on failures), and drops the log's stale entries in the same write.
    pub async fn give_back(&self, slot: &Slot) -> Result<(), StoreError> {
        self.store
            .trim(&slot.key, &slot.seen, slot.stale_upto, Some(slot.at))
            .await
    }

    /// Keeps the attempt, and drops the log's stale entries if it had any (no request
    /// otherwise), so the next claim stays one write. Best effort: a failure only leaves them
    /// for later, and is logged.
    pub async fn settle(&self, slot: &Slot) {
        if !slot.seen.iter().any(|&t| t <= slot.stale_upto) {
            return;
        }
        if let Err(e) = self
            .store
            .trim(&slot.key, &slot.seen, slot.stale_upto, None)
            .await
        {
            tracing::warn!(error = %e, "could not trim a rate-limit log");
        }
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
