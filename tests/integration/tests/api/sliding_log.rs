//! The exact sliding logs of `shared::rate_limit`, against the local DynamoDB-compatible
//! server: no interval of one window's length admits more than the limit at any alignment, a
//! burst of `limit` is admitted, concurrent attempts admit exactly the room left, and
//! `Retry-After` is truthful.

use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use shared::config::Limit;
use shared::rate_limit::{RateLimiter, Slot, TakeError};
use shared::store::StoreError;
use shared::testing::{local_store, unique, unreachable_store};

const WINDOW: u64 = 60;

fn policy(limit: u32) -> Limit {
    Limit {
        name: "test-policy",
        limit,
        window_seconds: WINDOW,
    }
}

async fn limiter() -> RateLimiter {
    RateLimiter::new(Arc::new(local_store().await))
}

/// `Ok(slot)` or the refusal's `Retry-After`.
async fn take(limiter: &RateLimiter, limit: u32, subject: &str, now: u64) -> Result<Slot, u64> {
    match limiter.take(&policy(limit), subject, now).await {
        Ok(slot) => Ok(slot),
        Err(TakeError::Refused(refusal)) => Err(refusal.retry_after),
        Err(TakeError::Store(e)) => panic!("store failed: {e}"),
    }
}

/// The entries of `subject`'s log as stored.
async fn stored_log(subject: &str, limit: u32) -> Vec<u64> {
    let sdk = shared::aws::sdk_config().unwrap();
    let item = aws_sdk_dynamodb::Client::new(&sdk)
        .get_item()
        .table_name(shared::testing::tables().rate_limits)
        .key(
            "pk",
            AttributeValue::S(format!("{}#{WINDOW}#{subject}", policy(limit).name)),
        )
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap_or_default();
    match item.get("log") {
        Some(AttributeValue::L(entries)) => entries
            .iter()
            .map(|e| e.as_n().unwrap().parse().unwrap())
            .collect(),
        _ => Vec::new(),
    }
}

/// A time just before a fixed one-minute window boundary.
fn before_a_boundary() -> u64 {
    let now = shared::unix_now();
    now - now % WINDOW + WINDOW - 1
}

#[tokio::test]
async fn the_limit_just_before_a_fixed_window_boundary_leaves_nothing_for_just_after() {
    let limiter = limiter().await;
    let subject = unique("boundary_");
    let t = before_a_boundary();

    for i in 0..5 {
        assert!(take(&limiter, 5, &subject, t).await.is_ok(), "burst {i}");
    }
    // A fixed window would start afresh at t + 1 and admit five more.
    for i in 0..5 {
        let retry_after = take(&limiter, 5, &subject, t + 2).await.err();
        assert!(
            retry_after.is_some(),
            "just after the boundary, attempt {i}"
        );
    }
    assert!(
        take(&limiter, 5, &subject, t + WINDOW).await.is_err(),
        "59 s later"
    );
    assert!(
        take(&limiter, 5, &subject, t + WINDOW + 1).await.is_ok(),
        "a window later"
    );
}

#[tokio::test]
async fn no_window_at_any_alignment_admits_more_than_the_limit() {
    let limiter = limiter().await;
    let subject = unique("sweep_");
    let start = before_a_boundary();
    // Three attempts a second for four windows: every admission is recorded.
    let mut admitted = Vec::new();
    for second in 0..4 * WINDOW {
        for _ in 0..3 {
            if take(&limiter, 5, &subject, start + second).await.is_ok() {
                admitted.push(start + second);
            }
        }
    }
    for from in start..start + 4 * WINDOW {
        let within = admitted
            .iter()
            .filter(|&&t| t >= from && t < from + WINDOW)
            .count();
        assert!(
            within <= 5,
            "{within} admitted in [{from}, {from}+{WINDOW})"
        );
    }
    // And no stricter than needed: a burst of five each time the last one's entries (stamped in
    // whole seconds) are a window and a second old, so four bursts in four windows.
    assert_eq!(admitted.len(), 20, "{admitted:?}");
    let first_burst = [start, start, start, start + 1, start + 1];
    assert_eq!(
        admitted[..5],
        first_burst,
        "the first five attempts are admitted"
    );
    let log = stored_log(&subject, 5).await;
    assert!(log.len() <= 5 + 3, "the log stays short: {log:?}");
}

#[tokio::test]
async fn retry_after_names_the_first_second_an_attempt_is_admitted_again() {
    let limiter = limiter().await;
    let subject = unique("retry_");
    let t = before_a_boundary();
    for offset in [0, 10, 10, 20, 30] {
        take(&limiter, 5, &subject, t + offset).await.unwrap();
    }
    let retry_after = take(&limiter, 5, &subject, t + 40).await.unwrap_err();
    assert_eq!(retry_after, WINDOW + 1 - 40, "the oldest entry leaves then");
    let again = t + 40 + retry_after;
    assert!(
        take(&limiter, 5, &subject, again - 1).await.is_err(),
        "one second early"
    );
    let slot = take(&limiter, 5, &subject, again).await.unwrap();
    assert_eq!(slot.remaining, 0, "the other four still count");
    assert_eq!(
        slot.reset_in,
        10 + WINDOW + 1 - (40 + retry_after),
        "the next leaves at t+10"
    );
}

#[tokio::test]
async fn twenty_concurrent_attempts_admit_exactly_the_room_left() {
    let limiter = limiter().await;
    let fresh = unique("burst_");
    let results = futures_util::future::join_all(
        (0..20).map(|_| take(&limiter, 5, &fresh, before_a_boundary())),
    )
    .await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        5,
        "an empty log"
    );

    // Four old entries and two counting ones: the first attempts step over the old entries,
    // then the log is replaced (only at the version it was read at) by one attempt at a time.
    let mixed = unique("mixed_");
    let t = before_a_boundary();
    for at in [t, t, t, t, t + 100, t + 100] {
        let _ = take(&limiter, 6, &mixed, at).await;
    }
    let now = t + 120;
    let results =
        futures_util::future::join_all((0..20).map(|_| take(&limiter, 6, &mixed, now))).await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        4,
        "room for four"
    );
    let counting = stored_log(&mixed, 6)
        .await
        .into_iter()
        .filter(|&e| e > now - WINDOW - 1);
    assert_eq!(counting.count(), 6);
}

#[tokio::test]
async fn a_given_back_attempt_frees_its_place_and_settling_trims_stale_entries() {
    let limiter = limiter().await;
    let subject = unique("give_back_");
    let t = before_a_boundary();
    let mut slots = Vec::new();
    for _ in 0..3 {
        slots.push(take(&limiter, 3, &subject, t).await.unwrap());
    }
    assert!(take(&limiter, 3, &subject, t).await.is_err(), "full");
    limiter.give_back(&slots[0]).await.unwrap();
    assert_eq!(stored_log(&subject, 3).await, [t, t]);
    let slot = take(&limiter, 3, &subject, t).await.unwrap();
    assert_eq!(slot.remaining, 0);

    // A window later, the three old entries are stale: the next attempt steps over them, and
    // settling it drops them.
    let later = take(&limiter, 3, &subject, t + WINDOW + 1).await.unwrap();
    assert_eq!(later.remaining, 2);
    limiter.settle(&later).await;
    assert_eq!(stored_log(&subject, 3).await, [t + WINDOW + 1]);
}

#[tokio::test]
async fn an_unreachable_store_refuses_every_attempt() {
    let limiter = RateLimiter::new(Arc::new(unreachable_store().await));
    let result = limiter.take(&policy(5), &unique("down_"), 1_000).await;
    assert!(
        matches!(
            result,
            Err(TakeError::Store(StoreError::Unavailable { .. }))
        ),
        "fails closed: {result:?}"
    );
}
