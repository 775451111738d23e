//! `GET /sessions`, against the local DynamoDB-compatible server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use list_sessions::Deps;
use serde_json::{Value, json};
use shared::refresh::Origin;
use shared::store::SessionStore;
use shared::testing::{
    Event, Fixture, SignedIn, account_deps, assert_invalid, body_json, call, sessions_on, sign_in,
    signed_in, user_id_of,
};

async fn handle(
    deps: &Deps,
    req: lambda_http::Request,
) -> lambda_http::Response<lambda_http::Body> {
    call(list_sessions::handle, deps, req).await
}

#[tokio::test]
async fn the_sample_lists_live_sessions_newest_first_and_marks_the_current_one() {
    let f = Fixture::local().await;
    let deps = account_deps(&f);
    let first = signed_in(f.store(), f.now() - 20).await;
    let second = sign_in(f.store(), &first.name, f.now() - 10).await;
    let revoked = sign_in(f.store(), &first.name, f.now() - 5).await;
    f.store().revoke(&revoked.sid, f.now()).await.unwrap();
    // SESSION_TTL_SECONDS is 3600 in the tests: this one has just ended.
    let expired = sign_in(f.store(), &first.name, f.now() - 3600).await;
    let someone_else = signed_in(f.store(), f.now()).await;

    let event = Event::load("list-sessions").header("authorization", Some(&first.bearer));
    let response = handle(&deps, event.request()).await;

    assert_eq!(response.status(), 200);
    let body = body_json(&response);
    let sessions = body["sessions"].as_array().unwrap();
    let sids: Vec<&str> = sessions
        .iter()
        .map(|s| s["sid"].as_str().unwrap())
        .collect();
    assert_eq!(sids, [second.sid.as_str(), first.sid.as_str()], "{body}");
    assert!(!sids.contains(&someone_else.sid.as_str()));
    assert!(!sids.contains(&expired.sid.as_str()));
    assert_eq!(body["next"], Value::Null, "one page holds them all");
    assert_eq!(sessions[0]["current"], false);
    assert_eq!(sessions[1]["current"], true);
    assert_eq!(sessions[1]["source_ip"], "203.0.113.10");
    assert_eq!(sessions[1]["user_agent"], "test-agent/1.0");
    for field in ["created_at", "last_used_at", "expires_at"] {
        let text = sessions[1][field].as_str().unwrap();
        assert!(humantime::parse_rfc3339(text).is_ok(), "{field}: {text}");
    }
}

#[tokio::test]
async fn a_long_user_agent_is_cut_at_256_characters() {
    let f = Fixture::local().await;
    let me = signed_in(f.store(), f.now()).await;
    let origin = Origin {
        source_ip: "2001:db8::1".into(),
        user_agent: "é".repeat(300),
    };
    sessions_on(f.store())
        .start_from(&user_id_of(&me.name), &me.name, &origin, f.now() + 1)
        .await
        .unwrap();

    let event = Event::load("list-sessions").header("authorization", Some(&me.bearer));
    let body = body_json(&handle(&account_deps(&f), event.request()).await);

    let agent = body["sessions"][0]["user_agent"].as_str().unwrap();
    assert_eq!(agent.chars().count(), 256);
}

#[tokio::test]
async fn the_sample_without_a_token_is_401() {
    let f = Fixture::local().await;
    let response = handle(
        &account_deps(&f),
        Event::load("list-sessions-no-token").request(),
    )
    .await;
    assert_eq!(response.status(), 401);
    assert_eq!(body_json(&response)["error"], "missing_token");
}

/// `GET /sessions?<query>` as `who`.
fn page_event(who: &SignedIn, query: &str) -> Event {
    let mut event = who.event("list-sessions");
    event.0["rawQueryString"] = Value::String(query.to_owned());
    event
}

/// One page as `who`: its session ids and its `next` cursor.
async fn page(deps: &Deps, who: &SignedIn, query: &str) -> (Vec<String>, Option<String>) {
    let response = handle(deps, page_event(who, query).request()).await;
    let body = body_json(&response);
    assert_eq!(response.status(), 200, "{query}: {body}");
    let sids = body["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["sid"].as_str().unwrap().to_owned())
        .collect();
    let next = body["next"].as_str().map(str::to_owned);
    (sids, next)
}

/// A user with `live` live sessions started ten seconds apart, and ended ones (revoked,
/// expired) in between, which no page shows; signed in with the newest session (its access
/// token still valid). The live session ids come newest first.
async fn user_with_sessions(f: &Fixture, live: usize) -> (SignedIn, Vec<String>) {
    let start = f.now() - 10 * live as u64;
    let first = signed_in(f.store(), start).await;
    let mut sids = vec![first.sid.clone()];
    for i in 1..live as u64 {
        let at = start + 10 * i;
        if i % 3 == 0 {
            let revoked = sign_in(f.store(), &first.name, at - 1).await;
            f.store().revoke(&revoked.sid, f.now()).await.unwrap();
        }
        sids.push(sign_in(f.store(), &first.name, at).await.sid);
    }
    // Started more than SESSION_TTL_SECONDS (3600 in the tests) ago: expired, not yet swept.
    sign_in(f.store(), &first.name, f.now() - 4000).await;
    let me = sign_in(f.store(), &first.name, f.now()).await;
    sids.push(me.sid.clone());
    sids.reverse();
    (me, sids)
}

#[tokio::test]
async fn limit_and_next_walk_every_live_session_exactly_once_newest_first() {
    let f = Fixture::local().await;
    let deps = account_deps(&f);
    let (me, live) = user_with_sessions(&f, 7).await;

    let mut pages = Vec::new();
    let mut seen = Vec::new();
    let mut query = "limit=3".to_owned();
    loop {
        let (sids, next) = page(&deps, &me, &query).await;
        pages.push(sids.len());
        seen.extend(sids);
        match next {
            Some(cursor) => query = format!("limit=3&next={cursor}"),
            None => break,
        }
        assert!(pages.len() < 10, "the walk ends");
    }

    assert_eq!(pages, [3, 3, 2], "full pages, then the rest, no empty page");
    assert_eq!(seen, live, "every live session once, newest first");
}

#[tokio::test]
async fn without_a_limit_a_page_holds_100_sessions() {
    let f = Fixture::local().await;
    let deps = account_deps(&f);
    let me = signed_in(f.store(), f.now() - 200).await;
    for i in 0..100 {
        sign_in(f.store(), &me.name, f.now() - 199 + i).await;
    }

    let (first, next) = page(&deps, &me, "").await;
    let (second, last) = page(&deps, &me, &format!("next={}", next.unwrap())).await;

    assert_eq!((first.len(), second.len()), (100, 1));
    assert_eq!(
        second,
        std::slice::from_ref(&me.sid),
        "the oldest comes last"
    );
    assert_eq!(last, None);
    let (exactly, none) = page(&deps, &me, "limit=100").await;
    assert_eq!(exactly, first);
    assert!(none.is_some(), "a 101st session follows");
}

#[tokio::test]
async fn a_limit_outside_1_to_100_or_not_a_whole_number_is_400() {
    let f = Fixture::local().await;
    let deps = account_deps(&f);
    let me = signed_in(f.store(), f.now()).await;
    for query in [
        "limit=0",
        "limit=101",
        "limit=-1",
        "limit=%2B5",
        "limit=2.5",
        "limit=ten",
        "limit=",
        "limit=1&limit=2",
    ] {
        let response = handle(&deps, page_event(&me, query).request()).await;
        assert_invalid(&response, "limit", query);
        assert!(body_json(&response)["details"]["next"].is_null(), "{query}");
    }
    // Both wrong: both named.
    let response = handle(&deps, page_event(&me, "limit=0&next=%25").request()).await;
    assert_invalid(&response, "limit", "both");
    assert_invalid(&response, "next", "both");
}

#[tokio::test]
async fn a_malformed_or_tampered_cursor_is_400() {
    let f = Fixture::local().await;
    let deps = account_deps(&f);
    let (me, _) = user_with_sessions(&f, 3).await;
    let (_, next) = page(&deps, &me, "limit=1").await;
    let cursor = next.unwrap();
    let mut flipped = cursor.clone().into_bytes();
    flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    let json = |v: Value| B64.encode(v.to_string());
    let user_id = user_id_of(&me.name);

    for (bad, case) in [
        (flipped, "first character changed"),
        (cursor[..cursor.len() - 3].to_owned(), "cut short"),
        (format!("{cursor}="), "padded"),
        (format!("{cursor}AAAA"), "bytes added"),
        ("%25%25".to_owned(), "not base64url"),
        (String::new(), "empty"),
        ("A".repeat(600), "too long"),
        (
            json(json!({"pk": "abc", "user_id": user_id})),
            "no start time",
        ),
        (
            json(json!({"pk": "abc", "user_id": user_id, "created_at": 1, "extra": 1})),
            "a field too many",
        ),
        (
            json(json!({"pk": "a b", "user_id": user_id, "created_at": 1})),
            "not a session id",
        ),
        (json(json!(["pk", "user_id"])), "not an object"),
    ] {
        let query = format!("limit=1&next={bad}");
        let response = handle(&deps, page_event(&me, &query).request()).await;
        assert_invalid(&response, "next", case);
    }
    let twice = format!("next={cursor}&next={cursor}");
    assert_invalid(
        &handle(&deps, page_event(&me, &twice).request()).await,
        "next",
        "given twice",
    );
}

#[tokio::test]
async fn another_users_cursor_is_400_and_no_cursor_reaches_their_sessions() {
    let f = Fixture::local().await;
    let deps = account_deps(&f);
    let (me, mine) = user_with_sessions(&f, 2).await;
    let (them, theirs) = user_with_sessions(&f, 3).await;
    let (_, next) = page(&deps, &them, "limit=1").await;
    let their_cursor = next.unwrap();

    // Their cursor, sent by me.
    let query = format!("next={their_cursor}");
    let response = handle(&deps, page_event(&me, &query).request()).await;
    assert_invalid(&response, "next", "their cursor");

    // Their cursor made over in my name: it can only move within my own sessions.
    let mut key: Value = serde_json::from_slice(&B64.decode(&their_cursor).unwrap()).unwrap();
    key["user_id"] = Value::String(user_id_of(&me.name));
    let forged = B64.encode(key.to_string());
    let (sids, _) = page(&deps, &me, &format!("next={forged}")).await;
    // Mine only; all that started before their page's end (the newest one started in the
    // same second as theirs, so it may sort on either side of it).
    assert!(sids.iter().all(|sid| mine.contains(sid)), "{sids:?}");
    assert!(mine[1..].iter().all(|sid| sids.contains(sid)), "{sids:?}");
    assert!(!sids.iter().any(|sid| theirs.contains(sid)));
}
