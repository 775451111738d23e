//! `POST /refresh` against the real local DynamoDB-compatible server (`make test` starts it):
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! rotation, reuse detection, the grace window and concurrency.

use std::sync::Arc;

use refresh::{Deps, Settings};
use serde_json::{Value, json};
use shared::store::SessionStore;
use shared::store::dynamo::DynamoStore;
use shared::testing::{
    Event, Fixture, body_json, tokens, unique_ip, user_id_of, user_with_session,
};
use shared::unix_now;

/// The handler under test; every response is also recorded for the OpenAPI contract check.
async fn handle(
    deps: &Deps,
    req: lambda_http::Request,
) -> lambda_http::Response<lambda_http::Body> {
    shared::testing::call(refresh::handle, deps, req).await
}

/// The function assembled as `main` assembles it, and the fixture it came from.
struct Harness {
    deps: Deps,
    store: Arc<DynamoStore>,
    fixture: Fixture,
}

async fn harness(grace_seconds: u64, now: u64) -> Harness {
    harness_on(Fixture::local().await, grace_seconds, now)
}

/// The same function on `fixture`'s store, with this grace window and this time.
fn harness_on(fixture: Fixture, grace_seconds: u64, now: u64) -> Harness {
    let fixture = fixture
        .with("REFRESH_GRACE_SECONDS", &grace_seconds.to_string())
        .at(now);
    let deps = Deps::build(
        Settings::from_vars(fixture.vars()).unwrap(),
        fixture.store(),
        fixture.keys(),
        fixture.clock(),
    )
    .unwrap();
    Harness {
        deps,
        store: fixture.store(),
        fixture,
    }
}

/// A new user and a session as login starts it: the username, session id and first refresh
/// token.
async fn login(h: &Harness, now: u64) -> (String, String, String) {
    user_with_session(&h.deps.sessions, h.store.as_ref(), now).await
}

fn refresh_event(token: &str) -> Event {
    Event::load("refresh")
        .json(json!({"refresh_token": token}))
        .source_ip(&unique_ip())
}

async fn refresh_with(deps: &Deps, token: &str) -> (u16, Value) {
    let response = handle(deps, refresh_event(token).request()).await;
    let status = response.status().as_u16();
    (status, body_json(&response))
}

async fn generation(store: &DynamoStore, sid: &str) -> (u64, bool) {
    let s = store.get(sid).await.unwrap().unwrap();
    (s.generation, s.revoked)
}

#[tokio::test]
async fn refresh_rotates_to_a_new_access_and_refresh_token() {
    let now = unix_now();
    let h = harness(0, now).await;
    let (user, sid, first) = login(&h, now).await;

    let response = handle(&h.deps, refresh_event(&first).request()).await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body = body_json(&response);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    let second = body["refresh_token"].as_str().unwrap();
    assert_ne!(second, first);
    let claims = tokens()
        .verify(body["access_token"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        (
            claims.sub.as_str(),
            claims.preferred_username.as_str(),
            claims.sid.as_str()
        ),
        (user_id_of(&user).as_str(), user.as_str(), sid.as_str())
    );
    assert_eq!(generation(&h.store, &sid).await, (1, false));
    // The new token rotates again.
    assert_eq!(refresh_with(&h.deps, second).await.0, 200);
    assert_eq!(generation(&h.store, &sid).await, (2, false));
}

#[tokio::test]
async fn reusing_a_rotated_token_revokes_the_whole_family() {
    let now = unix_now();
    let h = harness(0, now).await;
    let (_, sid, first) = login(&h, now).await;
    let (_, body) = refresh_with(&h.deps, &first).await;
    let second = body["refresh_token"].as_str().unwrap().to_owned();

    let (status, body) = refresh_with(&h.deps, &first).await;

    assert_eq!(status, 401);
    assert_eq!(
        body,
        json!({"msg": "Invalid, expired or revoked refresh token", "error": "invalid_grant"})
    );
    assert_eq!(generation(&h.store, &sid).await, (1, true));
    assert_eq!(
        refresh_with(&h.deps, &second).await.0,
        401,
        "later tokens die with the family"
    );
}

#[tokio::test]
async fn within_the_grace_window_the_previous_token_gets_the_current_generation() {
    let now = unix_now();
    let h = harness(10, now).await;
    let (_, sid, first) = login(&h, now).await;
    let (_, rotated) = refresh_with(&h.deps, &first).await;
    let current = rotated["refresh_token"].as_str().unwrap().to_owned();

    let (status, again) = refresh_with(&h.deps, &first).await;

    assert_eq!(status, 200);
    assert_eq!(
        again["refresh_token"],
        current.as_str(),
        "the same generation, not a branch"
    );
    assert_eq!(generation(&h.store, &sid).await, (1, false));
    assert_eq!(
        refresh_with(&h.deps, &current).await.0,
        200,
        "the current token still rotates"
    );
}

#[tokio::test]
async fn after_the_grace_window_reuse_revokes() {
    let now = unix_now();
    let h = harness(10, now).await;
    let (_, sid, first) = login(&h, now).await;
    assert_eq!(refresh_with(&h.deps, &first).await.0, 200);

    let later = harness_on(h.fixture.clone(), 10, now + 11);
    let (status, _) = refresh_with(&later.deps, &first).await;

    assert_eq!(status, 401);
    assert_eq!(generation(&h.store, &sid).await, (1, true));
}

async fn race(h: &Arc<Harness>, token: &str) -> Vec<(u16, Value)> {
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (h, token) = (h.clone(), token.to_owned());
            tokio::spawn(async move { refresh_with(&h.deps, &token).await })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_refreshes_without_grace_mint_one_generation_then_revoke() {
    let now = unix_now();
    let h = Arc::new(harness(0, now).await);
    let (_, sid, first) = login(&h, now).await;

    let results = race(&h, &first).await;

    let winners: Vec<_> = results.iter().filter(|(s, _)| *s == 200).collect();
    assert_eq!(
        winners.len(),
        1,
        "{:?}",
        results.iter().map(|r| r.0).collect::<Vec<_>>()
    );
    assert!(results.iter().all(|(s, _)| *s == 200 || *s == 401));
    // Exactly one new generation was minted, and the reuse revoked the family.
    assert_eq!(generation(&h.store, &sid).await, (1, true));
    let winner_token = winners[0].1["refresh_token"].as_str().unwrap();
    assert_eq!(refresh_with(&h.deps, winner_token).await.0, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_refreshes_with_grace_all_get_the_same_generation() {
    let now = unix_now();
    let h = Arc::new(harness(30, now).await);
    let (_, sid, first) = login(&h, now).await;

    let results = race(&h, &first).await;

    assert!(
        results.iter().all(|(s, _)| *s == 200),
        "{:?}",
        results.iter().map(|r| r.0).collect::<Vec<_>>()
    );
    let tokens: std::collections::HashSet<_> = results
        .iter()
        .map(|(_, b)| b["refresh_token"].to_string())
        .collect();
    assert_eq!(tokens.len(), 1, "never two live branches");
    assert_eq!(generation(&h.store, &sid).await, (1, false));
}

#[tokio::test]
async fn expired_sessions_are_refused() {
    let now = unix_now();
    let h = harness(0, now).await;
    let (_, _, first) = login(&h, now).await;

    let much_later = harness_on(h.fixture.clone(), 0, now + 3601);
    assert_eq!(refresh_with(&much_later.deps, &first).await.0, 401);
}

#[tokio::test]
async fn unknown_forged_and_wrong_kind_tokens_get_the_same_401() {
    let now = unix_now();
    let h = harness(0, now).await;
    let access = shared::testing::access_token("alice", "s", now, &[]);
    let (_, _, genuine) = login(&h, now).await;
    // One character inside the MAC tag changed (a middle character always changes 6 bits).
    let forged = {
        let mut chars: Vec<char> = genuine.chars().collect();
        let i = chars.len() - 10;
        chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
        chars.into_iter().collect::<String>()
    };
    let sample = Event::load("refresh");
    let placeholder: Value = serde_json::from_str(sample.body_text().unwrap()).unwrap();
    let placeholder = placeholder["refresh_token"].as_str().unwrap().to_owned();
    let other_key = {
        let doc = shared::keys::generate_document("other").unwrap();
        let set = shared::keys::KeySet::parse(&serde_json::to_string(&doc).unwrap()).unwrap();
        let t = shared::refresh::RefreshTokens::new(&set).unwrap();
        t.mint(&shared::refresh::new_session_id().unwrap(), 0)
            .unwrap()
    };
    let mut bodies = Vec::new();
    for (token, case) in [
        (placeholder.as_str(), "sample placeholder"),
        ("garbage", "garbage"),
        (access.as_str(), "an access token"),
        (forged.as_str(), "forged tag"),
        (other_key.as_str(), "minted with another key"),
    ] {
        let (status, body) = refresh_with(&h.deps, token).await;
        assert_eq!(status, 401, "{case}");
        bodies.push(body);
    }
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "one body for every refusal"
    );
}

#[tokio::test]
async fn malformed_bodies_return_400() {
    let h = harness(0, unix_now()).await;
    for body in [
        json!({}),
        json!({"refresh_token": 5}),
        json!({"refresh_token": null}),
    ] {
        let event = Event::load("refresh")
            .json(body.clone())
            .source_ip(&unique_ip());
        let response = handle(&h.deps, event.request()).await;
        assert_eq!(response.status(), 400, "{body}");
        assert!(body_json(&response)["details"]["refresh_token"].is_array());
    }
}

#[tokio::test]
async fn refresh_is_rate_limited_per_ip() {
    let now = unix_now();
    let h = harness_on(Fixture::local().await.with("REFRESH_IP_LIMIT", "3"), 0, now);
    let ip = unique_ip();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let event = Event::load("refresh")
            .json(json!({"refresh_token": "x"}))
            .source_ip(&ip);
        statuses.push(handle(&h.deps, event.request()).await);
    }
    assert_eq!(
        statuses
            .iter()
            .map(|r| r.status().as_u16())
            .collect::<Vec<_>>(),
        vec![401, 401, 401, 429]
    );
    assert_eq!(
        statuses[3].headers()["ratelimit-policy"],
        "\"refresh-ip\";q=3;w=60"
    );
}

#[tokio::test]
async fn unreachable_dynamodb_returns_503() {
    let h = harness_on(Fixture::unreachable().await, 0, unix_now());
    let response = handle(&h.deps, refresh_event("rt1_x").request()).await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
}

#[tokio::test]
async fn the_grace_paths_confirming_write_holds_only_for_a_live_session_at_that_generation() {
    let now = unix_now();
    let h = harness(10, now).await;
    let (_, sid, _) = login(&h, now).await;
    assert!(h.store.advance(&sid, 0, now).await.unwrap());

    assert!(
        h.store.confirm(&sid, 1, now + 3).await.unwrap(),
        "live at 1"
    );
    assert_eq!(
        h.store.get(&sid).await.unwrap().unwrap().last_used_at,
        now + 3
    );
    assert!(
        !h.store.confirm(&sid, 0, now + 3).await.unwrap(),
        "rotated past 0"
    );
    assert!(
        !h.store.confirm("no-such-session", 0, now).await.unwrap(),
        "unknown"
    );
    h.store.revoke(&sid, now + 4).await.unwrap();
    assert!(!h.store.confirm(&sid, 1, now + 5).await.unwrap(), "revoked");
    let (_, ended, _) = login(&h, now - 3600).await;
    assert!(!h.store.confirm(&ended, 0, now).await.unwrap(), "expired");
}
