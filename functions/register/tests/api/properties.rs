//! Property tests: any request body gets a documented answer (never a 5xx, never a panic),
//! against the real local DynamoDB-compatible server.

use proptest::prelude::*;
use serde_json::{Map, Value};
use shared::testing::{Event, Fixture};

use crate::helpers::{deps_from, handle};

fn status_for(body: &str) -> u16 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let f = Fixture::local().await;
        let request = Event::load("register").raw_body(body).request();
        handle(&deps_from(&f), request).await.status().as_u16()
    })
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "\\PC{0,40}".prop_map(Value::String),
        "[A-Za-z0-9_.-]{3,32}".prop_map(Value::String),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("username".to_string()),
                    Just("password".to_string()),
                    "[a-z]{1,8}"
                ],
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn random_json_bodies_get_a_documented_status(body in json_value()) {
        let status = status_for(&body.to_string());
        prop_assert!([201, 400, 409].contains(&status), "status {status} for {body}");
    }

    #[test]
    fn random_text_bodies_get_a_documented_status(body in "\\PC{0,200}") {
        let status = status_for(&body);
        prop_assert!([201, 400, 409].contains(&status), "status {status} for {body:?}");
    }

    #[test]
    fn credential_shaped_bodies_get_a_documented_status(
        username in "\\PC{0,40}",
        password in "\\PC{0,140}",
    ) {
        let body = serde_json::json!({"username": username, "password": password}).to_string();
        let status = status_for(&body);
        prop_assert!([201, 400, 409].contains(&status), "status {status}");
    }
}
