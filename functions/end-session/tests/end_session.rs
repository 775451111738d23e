//! `DELETE /sessions/{sid}`, against the local DynamoDB-compatible server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use end_session::Deps;
use serde_json::json;
use shared::testing::{
    Event, Fixture, SignedIn, account_deps, body_json, call, refresh_now, sessions_on, sign_in,
    signed_in,
};

async fn handle(
    deps: &Deps,
    req: lambda_http::Request,
) -> lambda_http::Response<lambda_http::Body> {
    call(end_session::handle, deps, req).await
}

fn end(caller: &SignedIn, sid: &str) -> lambda_http::Request {
    Event::load("end-session")
        .route("DELETE", &format!("/sessions/{sid}"))
        .header("authorization", Some(&caller.bearer))
        .request()
}

#[tokio::test]
async fn one_of_the_callers_sessions_is_revoked() {
    let f = Fixture::local().await;
    let deps = account_deps(&f);
    let me = signed_in(f.store(), f.now()).await;
    let laptop = sign_in(f.store(), &me.name, f.now()).await;

    let response = handle(&deps, end(&me, &laptop.sid)).await;

    assert_eq!(response.status(), 204);
    let sessions = sessions_on(f.store());
    let store = f.store();
    assert!(
        refresh_now(&sessions, store.as_ref(), &laptop.refresh_token, f.now())
            .await
            .is_err()
    );
    assert!(
        refresh_now(&sessions, store.as_ref(), &me.refresh_token, f.now())
            .await
            .is_ok()
    );
    // Ended already: not a live session of the caller any more.
    assert_eq!(handle(&deps, end(&me, &laptop.sid)).await.status(), 404);
}

#[tokio::test]
async fn an_unknown_sid_and_another_users_sid_are_the_same_404() {
    let f = Fixture::local().await;
    let deps = account_deps(&f);
    let me = signed_in(f.store(), f.now()).await;
    let stranger = signed_in(f.store(), f.now()).await;

    let unknown = Event::load("end-session-unknown").header("authorization", Some(&me.bearer));
    let unknown = handle(&deps, unknown.request()).await;
    let foreign = handle(&deps, end(&me, &stranger.sid)).await;
    let huge = handle(&deps, end(&me, &"A".repeat(65))).await;

    let expected = json!({"msg": "Session not found", "error": "session_not_found"});
    for response in [&unknown, &foreign, &huge] {
        assert_eq!(response.status(), 404);
        assert_eq!(body_json(response), expected);
    }
    let sessions = sessions_on(f.store());
    let store = f.store();
    assert!(
        refresh_now(&sessions, store.as_ref(), &stranger.refresh_token, f.now())
            .await
            .is_ok(),
        "the other user's session still refreshes"
    );
}

#[tokio::test]
async fn the_sample_without_a_live_session_is_401() {
    let f = Fixture::local().await;
    let event = Event::load("end-session");
    let response = handle(&account_deps(&f), event.request()).await;
    assert_eq!(response.status(), 401, "the sample's placeholder token");
}
