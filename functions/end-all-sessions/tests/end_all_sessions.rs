//! `DELETE /sessions`, against the local DynamoDB-compatible server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use end_all_sessions::Deps;
use shared::testing::{
    Event, Fixture, account_deps, body_json, call, refresh_now, sessions_on, sign_in, signed_in,
};

async fn handle(
    deps: &Deps,
    req: lambda_http::Request,
) -> lambda_http::Response<lambda_http::Body> {
    call(end_all_sessions::handle, deps, req).await
}

#[tokio::test]
async fn the_sample_revokes_every_session_of_the_caller_the_current_one_included() {
    let f = Fixture::local().await;
    let deps = account_deps(&f);
    let me = signed_in(f.store(), f.now()).await;
    let phone = sign_in(f.store(), &me.name, f.now()).await;
    let stranger = signed_in(f.store(), f.now()).await;

    let event = Event::load("end-all-sessions").header("authorization", Some(&me.bearer));
    let response = handle(&deps, event.request()).await;

    assert_eq!(response.status(), 204);
    let sessions = sessions_on(f.store());
    let store = f.store();
    for token in [&me.refresh_token, &phone.refresh_token] {
        assert!(
            refresh_now(&sessions, store.as_ref(), token, f.now())
                .await
                .is_err()
        );
    }
    assert!(
        refresh_now(&sessions, store.as_ref(), &stranger.refresh_token, f.now())
            .await
            .is_ok()
    );
    // The caller's own access token is refused from now on.
    let again = Event::load("end-all-sessions").header("authorization", Some(&me.bearer));
    let response = handle(&deps, again.request()).await;
    assert_eq!(response.status(), 401);
    assert_eq!(body_json(&response)["error"], "invalid_token");
}

#[tokio::test]
async fn the_sample_without_a_token_is_401() {
    let f = Fixture::local().await;
    let event = Event::load("end-all-sessions-no-token");
    let response = handle(&account_deps(&f), event.request()).await;
    assert_eq!(response.status(), 401);
    assert_eq!(body_json(&response)["error"], "missing_token");
}

#[tokio::test]
async fn more_sessions_than_are_ended_at_once_all_end() {
    use shared::store::SessionStore;
    use shared::store::dynamo::SESSION_WRITES_IN_FLIGHT;
    let f = Fixture::local().await;
    let me = signed_in(f.store(), f.now()).await;
    for _ in 1..SESSION_WRITES_IN_FLIGHT * 2 + 3 {
        sign_in(f.store(), &me.name, f.now()).await;
    }
    let user_id = shared::testing::user_id_of(&me.name);
    let live = f.store().list(&user_id, Some(f.now())).await.unwrap();
    assert_eq!(live.len(), SESSION_WRITES_IN_FLIGHT * 2 + 3);

    let event = Event::load("end-all-sessions").header("authorization", Some(&me.bearer));
    let response = handle(&account_deps(&f), event.request()).await;

    assert_eq!(response.status(), 204);
    let live = f.store().list(&user_id, Some(f.now())).await.unwrap();
    assert!(live.is_empty(), "{} sessions still live", live.len());
}

#[tokio::test]
async fn logging_out_everywhere_forgets_the_familiar_sources_of_the_caller_only() {
    let f = Fixture::local().await;
    let me = signed_in(f.store(), f.now()).await;
    let stranger = signed_in(f.store(), f.now()).await;
    let epoch = |name: String| {
        let store = f.store();
        async move {
            shared::testing::stored(store.as_ref(), &name)
                .await
                .sources_epoch
        }
    };
    let (mine, theirs) = (
        epoch(me.name.clone()).await,
        epoch(stranger.name.clone()).await,
    );

    let event = Event::load("end-all-sessions").header("authorization", Some(&me.bearer));
    assert_eq!(
        handle(&account_deps(&f), event.request()).await.status(),
        204
    );

    assert_eq!(epoch(me.name.clone()).await, mine + 1);
    assert_eq!(epoch(stranger.name.clone()).await, theirs);
}
