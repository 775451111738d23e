//! `GET /protected` with `SESSION_CHECK=true`: a token is accepted only while its session is
//! live, read from the local DynamoDB-compatible server (`make test`). The token checks
//! themselves are `protected`'s tests, run as `protected` is deployed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use protected::{Deps, Settings};
use shared::store::SessionStore;
use shared::testing::{
    Event, Fixture, access_token, body_json, call, key_set, signed_in, test_vars,
};
use shared::unix_now;

/// The handler under test; every response is also recorded for the OpenAPI contract check.
async fn handle(
    deps: &Deps,
    req: lambda_http::Request,
) -> lambda_http::Response<lambda_http::Body> {
    call(protected::handle, deps, req).await
}

/// The stateless function (no session check), assembled as `main` assembles it.
fn stateless() -> Deps {
    Deps::build(Settings::from_vars(&test_vars()).unwrap(), key_set()).unwrap()
}

const INVALID_CHALLENGE: &str = "Bearer realm=\"auth-api-test\", error=\"invalid_token\"";

#[tokio::test]
async fn with_session_check_a_revoked_sessions_token_is_refused_and_without_it_is_not() {
    let f = Fixture::local().await.with("SESSION_CHECK", "true");
    let settings = Settings::from_vars(f.vars()).unwrap();
    assert!(settings.session_check.is_some());
    let checking = Deps::build(settings, f.keys())
        .unwrap()
        .checking_sessions(f.store(), f.clock());
    let user = signed_in(f.store(), f.now()).await;
    let request = || {
        Event::load("protected")
            .header("authorization", Some(&user.bearer))
            .request()
    };

    assert_eq!(handle(&checking, request()).await.status(), 200, "live");
    f.store().revoke(&user.sid, f.now()).await.unwrap();

    let response = handle(&checking, request()).await;
    assert_eq!(response.status(), 401, "revoked");
    assert_eq!(body_json(&response)["error"], "invalid_token");
    assert_eq!(response.headers()["www-authenticate"], INVALID_CHALLENGE);
    // The default is stateless: the same token still passes until its exp.
    assert_eq!(
        handle(&stateless(), request()).await.status(),
        200,
        "stateless"
    );
}

#[tokio::test]
async fn with_session_check_a_failed_session_read_is_a_503() {
    let f = Fixture::unreachable().await.with("SESSION_CHECK", "true");
    let checking = Deps::build(Settings::from_vars(f.vars()).unwrap(), f.keys())
        .unwrap()
        .checking_sessions(f.store(), f.clock());
    let token = access_token("amy", "s-1", unix_now(), &[]);
    let event = Event::load("protected").header("authorization", Some(&format!("Bearer {token}")));
    let response = handle(&checking, event.request()).await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
}
