//! The gateway authorizer, from its sample payload-2.0 event.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use authorizer::{Context, Decision, Deps, Settings, handle};
use lambda_http::aws_lambda_events::apigw::ApiGatewayV2CustomAuthorizerV2Request;
use serde_json::{Value, json};
use shared::testing::{Event, bad_tokens, key_set, test_vars, tokens};
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
fn a_valid_token_is_allowed_with_sub_and_sid_in_the_context() {
    let token = tokens().issue("alice", "sess-9", unix_now()).unwrap().token;

    let decision = handle(&deps(), &event_with(Some(&format!("Bearer {token}"))));

    assert_eq!(
        decision,
        Decision {
            is_authorized: true,
            context: Some(Context {
                sub: "alice".into(),
                sid: "sess-9".into()
            })
        }
    );
    assert_eq!(
        serde_json::to_value(&decision).unwrap(),
        json!({"isAuthorized": true, "context": {"sub": "alice", "sid": "sess-9"}})
    );
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
