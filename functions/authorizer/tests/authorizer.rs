//! The gateway authorizer, from its sample payload-2.0 event.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use authorizer::{Context, Decision, Deps, Settings, handle};
use lambda_http::aws_lambda_events::apigw::ApiGatewayV2CustomAuthorizerV2Request;
use serde_json::{Value, json};
use shared::testing::{Event, access_token, bad_tokens, key_set, test_vars, user_id_of};
use shared::unix_now;

/// The authorizer assembled as `main` assembles it, with the test settings and keys.
fn deps() -> Deps {
    Deps::build(Settings::from_vars(&test_vars()).unwrap(), key_set()).unwrap()
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

#[test]
fn a_valid_token_is_allowed_with_the_identity_in_the_context() {
    let now = unix_now();
    let token = access_token("alice", "sess-9", now, &["admin"]);

    let decision = handle(&deps(), &event_with(Some(&format!("Bearer {token}"))));

    let context = Context {
        sub: user_id_of("alice"),
        sid: "sess-9".into(),
        username: "alice".into(),
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
            "sub": user_id_of("alice"), "sid": "sess-9", "username": "alice",
            "scope": "admin profile", "roles": "admin user", "exp": now + 900
        }})
    );
}

#[test]
fn a_route_that_requires_a_scope_the_token_lacks_is_denied() {
    let mut vars = test_vars();
    vars.set(
        "AUTHORIZER_ROUTE_SCOPES",
        r#"{"GET /me":["profile"],"GET /admin":["admin"]}"#,
    );
    let deps = Deps::build(Settings::from_vars(&vars).unwrap(), key_set()).unwrap();
    let now = unix_now();
    let user = format!("Bearer {}", access_token("bob", "s", now, &[]));
    let admin = format!("Bearer {}", access_token("ann", "s", now, &["admin"]));
    let on = |route: &str, header: &str| {
        let mut event = event_with(Some(header));
        event.route_key = Some(route.to_owned());
        handle(&deps, &event).is_authorized
    };
    assert!(on("GET /me", &user), "profile is enough for /me");
    assert!(!on("GET /admin", &user), "a user token lacks admin");
    assert!(on("GET /admin", &admin));
    assert!(
        on("GET /other", &user),
        "a route not listed needs a valid token only"
    );
}

#[test]
fn invalid_route_scopes_stop_the_authorizer_at_start() {
    for bad in ["[]", r#"{"/me":["profile"]}"#, r#"{"GET /me":["a b"]}"#] {
        let mut vars = test_vars();
        vars.set("AUTHORIZER_ROUTE_SCOPES", bad);
        assert!(Settings::from_vars(&vars).is_err(), "{bad}");
    }
}

#[test]
fn bad_or_missing_tokens_are_denied() {
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
        let decision = handle(&deps(), &event_with(header.as_deref()));
        assert!(!decision.is_authorized, "{case}");
        assert_eq!(
            serde_json::to_value(&decision).unwrap(),
            json!({"isAuthorized": false}),
            "{case}"
        );
    }
}
