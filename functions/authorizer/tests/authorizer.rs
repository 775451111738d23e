//! The gateway authorizer, from its sample payload-2.0 event.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use authorizer::{Context, Decision, Deps, handle};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use lambda_http::aws_lambda_events::apigw::ApiGatewayV2CustomAuthorizerV2Request;
use serde_json::{Value, json};
use shared::testing::{Event, claims_at, key_document, tokens};
use shared::unix_now;

fn deps() -> Deps {
    Deps { tokens: tokens() }
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
    let now = unix_now();
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some(key_document().signing_kid.clone());
    hs.typ = Some("at+jwt".into());
    let hs256 = encode(
        &hs,
        &claims_at("alice", now),
        &EncodingKey::from_secret(key_document().keys[0].x.as_bytes()),
    )
    .unwrap();
    let sample = Event::load("authorizer");
    let placeholder = sample.0["headers"]["authorization"]
        .as_str()
        .unwrap()
        .to_owned();
    for (header, case) in [
        (None, "no header".to_owned()),
        (
            Some(placeholder.clone()),
            "the sample's placeholder".to_owned(),
        ),
        (Some("Bearer garbage".to_owned()), "garbage".to_owned()),
        (
            Some(format!("Bearer {hs256}")),
            "HS256 keyed with the public key".to_owned(),
        ),
        (
            Some(format!("Bearer rt1_{}", "A".repeat(75))),
            "a refresh token".to_owned(),
        ),
    ] {
        let decision = handle(&deps(), &event_with(header.as_deref()));
        assert!(!decision.is_authorized, "{case}");
        assert_eq!(
            serde_json::to_value(&decision).unwrap(),
            json!({"isAuthorized": false}),
            "{case}"
        );
    }
}
