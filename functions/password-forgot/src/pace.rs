//! Keeps a forgot request that mails nothing as long as one that mails a link.
//!
//! Only a verified address's request waits for SES (one `SendEmail`, tens of milliseconds
//! deployed): without this, `/password/forgot`'s time would tell a verified address from the
//! others. A request that sends nothing waits instead for as long as this container's recent
//! successful sends took (the median of the last [`KEPT`]), or [`FIRST_GUESS`] before it has
//! sent any. A failed or throttled send is not a sample: an outage of SES must not slow every
//! answer down to the SDK's timeout.
//!
//! Sending through an outbox (a queue and a mailer function) would take SES out of every
//! answer's time instead; `docs/architecture.md` says why the function sends itself for now.
//! No maintained crate paces answers like this: it is a median and a sleep.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many recent sends the estimate is the median of.
const KEPT: usize = 15;

/// The wait before this container has sent anything: about an in-region `SendEmail`.
pub const FIRST_GUESS: Duration = Duration::from_millis(50);

/// One sample's ceiling: a send slowed by the SDK's retries counts as this long.
const LONGEST: Duration = Duration::from_secs(1);

/// The recent durations of successful sends, and how late the recent waits ended.
#[derive(Debug, Default)]
pub struct Pace {
    sends: Recent,
    /// Tokio's timer fires on a whole millisecond after a deadline: a wait ends up to about
    /// a millisecond late, a quarter of a local send. Each wait is shortened by how late the
    /// recent ones were.
    lateness: Recent,
}

/// The last [`KEPT`] durations of something, and their median.
#[derive(Debug, Default)]
struct Recent(Mutex<VecDeque<Duration>>);

impl Recent {
    fn note(&self, took: Duration) {
        let mut recent = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() == KEPT {
            recent.pop_front();
        }
        recent.push_back(took.min(LONGEST));
    }

    fn median(&self) -> Option<Duration> {
        let recent = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut sorted: Vec<Duration> = recent.iter().copied().collect();
        sorted.sort_unstable();
        sorted.get(sorted.len() / 2).copied()
    }
}

impl Pace {
    /// Notes how long a successful send took.
    pub fn sent(&self, took: Duration) {
        self.sends.note(took);
    }

    /// How long a request that sends nothing waits: the median of the recent sends.
    pub fn estimate(&self) -> Duration {
        self.sends.median().unwrap_or(FIRST_GUESS)
    }

    /// Waits for what is left of a send's time once `spent` has passed (a send that failed
    /// fast waits out the rest).
    pub async fn wait_rest(&self, spent: Duration) {
        let wanted = self.estimate().saturating_sub(spent);
        let asked = wanted.saturating_sub(self.lateness.median().unwrap_or_default());
        let started = Instant::now();
        tokio::time::sleep(asked).await;
        self.lateness.note(started.elapsed().saturating_sub(asked));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estimate_is_the_first_guess_then_the_median_of_the_recent_capped_sends() {
        let pace = Pace::default();
        assert_eq!(pace.estimate(), FIRST_GUESS);

        for ms in [30, 10, 20] {
            pace.sent(Duration::from_millis(ms));
        }
        assert_eq!(pace.estimate(), Duration::from_millis(20));

        // Only the last KEPT count: fifteen slow sends push the fast ones out.
        for _ in 0..KEPT {
            pace.sent(Duration::from_secs(5));
        }
        assert_eq!(pace.estimate(), LONGEST);
    }
}
