//! `GET /sessions`, against the local DynamoDB-compatible server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use list_sessions::Deps;
use shared::refresh::Origin;
use shared::store::SessionStore;
use shared::testing::{
    Event, Fixture, account_deps, body_json, call, sessions_on, sign_in, signed_in, user_id_of,
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
