//! The gateway authorizer, from its sample payload-2.0 event.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use authorizer::{Context, Decision, Deps, Settings, handle};
use lambda_http::aws_lambda_events::apigw::ApiGatewayV2CustomAuthorizerV2Request;
use serde_json::{Value, json};
use shared::store::SessionStore;
use shared::testing::{Event, Fixture, SignedIn, access_token, bad_tokens, signed_in, user_id_of};
use shared::unix_now;

/// The authorizer assembled as `main` assembles it, with the test settings, keys and store.
fn deps_on(f: &Fixture) -> Deps {
    Deps::build(
        Settings::from_vars(f.vars()).unwrap(),
        f.store(),
        f.keys(),
        f.clock(),
    )
    .unwrap()
}

async fn fixture() -> (Fixture, Deps) {
    let f = Fixture::local().await;
    let deps = deps_on(&f);
    (f, deps)
}

fn bearer_of(name: &str, sid: &str, now: u64, roles: &[&str]) -> String {
    format!("Bearer {}", access_token(name, sid, now, roles))
}

fn event_with(authorization: Option<&str>) -> ApiGatewayV2CustomAuthorizerV2Request {
    let mut event = Event::load("authorizer");
    match authorization {
        Some(a) => event.0["headers"]["authorization"] = Value::String(a.to_owned()),
        None => {
            event.0["headers"]
                .as_object_mut()
                .unwrap()
                .remove("authorization");
        }
    }
    serde_json::from_value(event.0).unwrap()
}

#[tokio::test]
async fn a_valid_token_of_a_live_session_is_allowed_with_the_identity_in_the_context() {
    let (f, deps) = fixture().await;
    let now = unix_now();
    let SignedIn { name, sid, .. } = signed_in(f.store(), now).await;
    let token = access_token(&name, &sid, now, &["admin"]);

    let decision = handle(&deps, &event_with(Some(&format!("Bearer {token}")))).await;

    let context = Context {
        sub: user_id_of(&name),
        sid: sid.clone(),
        username: name.clone(),
        scope: "admin profile".into(),
        roles: "admin user".into(),
        exp: now + 900,
    };
    assert_eq!(
        decision,
        Decision {
            is_authorized: true,
            context: Some(context)
        }
    );
    assert_eq!(
        serde_json::to_value(&decision).unwrap(),
        json!({"isAuthorized": true, "context": {
            "sub": user_id_of(&name), "sid": sid, "username": name,
            "scope": "admin profile", "roles": "admin user", "exp": now + 900
        }})
    );
}

#[tokio::test]
async fn a_route_that_requires_a_scope_the_token_lacks_is_denied() {
    let f = Fixture::local().await.with(
        "AUTHORIZER_ROUTE_SCOPES",
        r#"{"GET /me":["profile"],"GET /admin":["admin"]}"#,
    );
    let deps = deps_on(&f);
    let now = unix_now();
    let bob = signed_in(f.store(), now).await;
    let ann = signed_in(f.store(), now).await;
    let user = bearer_of(&bob.name, &bob.sid, now, &[]);
    let admin = bearer_of(&ann.name, &ann.sid, now, &["admin"]);
    let on = |route: &str, header: &str| {
        let mut event = event_with(Some(header));
        event.route_key = Some(route.to_owned());
        let deps = &deps;
        async move { handle(deps, &event).await.is_authorized }
    };
    assert!(on("GET /me", &user).await, "profile is enough for /me");
    assert!(!on("GET /admin", &user).await, "a user token lacks admin");
    assert!(on("GET /admin", &admin).await);
    assert!(
        on("GET /other", &user).await,
        "a route not listed needs a valid token only"
    );
}

#[tokio::test]
async fn a_token_whose_session_was_revoked_expired_or_deleted_is_denied() {
    let (f, deps) = fixture().await;
    let now = unix_now();
    let allowed = |bearer: String| {
        let deps = &deps;
        async move { handle(deps, &event_with(Some(&bearer))).await.is_authorized }
    };

    let revoked = signed_in(f.store(), now).await;
    assert!(allowed(revoked.bearer.clone()).await, "live at first");
    f.store().revoke(&revoked.sid, now).await.unwrap();
    assert!(!allowed(revoked.bearer).await, "revoked");

    let deleted = signed_in(f.store(), now).await;
    SessionStore::delete_session(f.store().as_ref(), &deleted.sid)
        .await
        .unwrap();
    assert!(!allowed(deleted.bearer).await, "deleted");

    assert!(
        !allowed(bearer_of("nobody", "no-such-session", now, &[])).await,
        "never existed"
    );

    // The session ends (SESSION_TTL_SECONDS=3600 in the tests) before the token: a token
    // signed later than the session started, by the clock of a deps an hour on.
    let ended = signed_in(f.store(), now - 3600).await;
    let token = bearer_of(&ended.name, &ended.sid, now, &[]);
    assert!(!allowed(token).await, "session expired");

    // Another user's session id in a token of one's own.
    let other = signed_in(f.store(), now).await;
    let mine = signed_in(f.store(), now).await;
    let forged = bearer_of(&mine.name, &other.sid, now, &[]);
    assert!(!allowed(forged).await, "someone else's session");
}

#[tokio::test]
async fn a_failed_session_read_is_a_deny() {
    let f = Fixture::unreachable().await;
    let deps = deps_on(&f);
    let now = unix_now();
    let decision = handle(&deps, &event_with(Some(&bearer_of("amy", "s-1", now, &[])))).await;
    assert!(!decision.is_authorized, "fail closed");
}

#[test]
fn invalid_route_scopes_stop_the_authorizer_at_start() {
    for bad in ["[]", r#"{"/me":["profile"]}"#, r#"{"GET /me":["a b"]}"#] {
        let mut vars = shared::testing::test_vars();
        vars.set("AUTHORIZER_ROUTE_SCOPES", bad);
        assert!(Settings::from_vars(&vars).is_err(), "{bad}");
    }
}

#[tokio::test]
async fn bad_or_missing_tokens_are_denied() {
    let (_f, deps) = fixture().await;
    let sample = Event::load("authorizer");
    let placeholder = sample.0["headers"]["authorization"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut cases = vec![
        (None, "no header".to_owned()),
        (Some(placeholder), "the sample's placeholder".to_owned()),
    ];
    for bad in bad_tokens(unix_now()) {
        cases.push((Some(format!("Bearer {}", bad.token)), bad.case.to_owned()));
    }
    for (header, case) in cases {
        let decision = handle(&deps, &event_with(header.as_deref())).await;
        assert!(!decision.is_authorized, "{case}");
        assert_eq!(
            serde_json::to_value(&decision).unwrap(),
            json!({"isAuthorized": false}),
            "{case}"
        );
    }
}
