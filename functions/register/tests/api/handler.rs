//! The register handler: the sample events, bad bodies, duplicates and races, the 503 when
//! DynamoDB is down, and the per-IP limit.

use std::sync::Arc;

use register::Deps;
use serde_json::{Value, json};
use shared::testing::{Event, Fixture, body_json, unique, unique_ip};

use crate::helpers::{deps_from, handle};

async fn deps() -> Deps {
    deps_from(&Fixture::local().await)
}

fn register_event(username: &str) -> Event {
    Event::load("register").json(json!({"username": username, "password": "correct horse battery"}))
}

#[tokio::test]
async fn sample_event_registers_the_user_with_201() {
    let deps = deps().await;
    let event = Event::load("register");
    // The sample's body, with a fresh username so reruns against one server still create a user.
    let mut body: Value = serde_json::from_str(event.body_text().unwrap()).unwrap();
    let username = unique("sample_");
    body["username"] = Value::String(username.clone());

    let response = handle(&deps, event.json(body).request()).await;

    assert_eq!(response.status(), 201);
    assert_eq!(
        body_json(&response),
        json!({"msg": "User registered successfully"})
    );
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    let stored = deps
        .users
        .find(&username.to_lowercase())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.username, username);
    assert!(
        stored.password_hash.starts_with("$argon2id$v=19$"),
        "stored as a PHC string"
    );
    assert!(!stored.password_hash.contains("correct horse"));
}

#[tokio::test]
async fn invalid_sample_event_returns_400_with_details_per_field() {
    let response = handle(&deps().await, Event::load("register-invalid").request()).await;

    assert_eq!(response.status(), 400);
    let body = body_json(&response);
    assert_eq!(body["error"], "validation_error");
    assert!(body["msg"].is_string());
    assert_eq!(
        body["details"]["username"],
        json!([
            "must be 3 to 32 characters",
            "may only contain letters A-Z, digits, '_', '.' and '-'"
        ])
    );
    assert_eq!(
        body["details"]["password"],
        json!(["must be at least 8 characters"])
    );
}

#[tokio::test]
async fn malformed_bodies_return_400_validation_error() {
    let deps = deps().await;
    let cases = [
        ("not json", "body", "malformed JSON"),
        ("[1,2]", "body", "array"),
        ("null", "body", "null"),
        ("", "body", "empty"),
        (r#"{"username":"bob_ok"}"#, "password", "missing password"),
        (
            r#"{"username":1,"password":"longenough"}"#,
            "username",
            "number username",
        ),
    ];
    for (raw, field, case) in cases {
        let response = handle(&deps, Event::load("register").raw_body(raw).request()).await;
        assert_eq!(response.status(), 400, "{case}");
        let body = body_json(&response);
        assert_eq!(body["error"], "validation_error", "{case}");
        assert!(body["details"][field].is_array(), "{case}: {body}");
    }
}

#[tokio::test]
async fn duplicate_registration_returns_409() {
    let deps = deps().await;
    let name = unique("dup_");
    assert_eq!(
        handle(&deps, register_event(&name).request())
            .await
            .status(),
        201
    );

    let response = handle(&deps, register_event(&name).request()).await;

    assert_eq!(response.status(), 409);
    assert_eq!(
        body_json(&response),
        json!({"msg": "User already exists", "error": "user_exists"})
    );
}

#[tokio::test]
async fn usernames_are_unique_regardless_of_case() {
    let deps = deps().await;
    let name = unique("case_");
    assert_eq!(
        handle(&deps, register_event(&name).request())
            .await
            .status(),
        201
    );

    let response = handle(&deps, register_event(&name.to_uppercase()).request()).await;

    assert_eq!(response.status(), 409);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_registrations_of_one_name_create_exactly_one_user() {
    let deps = Arc::new(deps().await);
    let name = unique("race_");
    let attempts = (0..50).map(|i| {
        let deps = deps.clone();
        // Mixed case, so the race also goes through the case-insensitive key.
        let spelled = if i % 2 == 0 {
            name.clone()
        } else {
            name.to_uppercase()
        };
        tokio::spawn(async move {
            handle(&deps, register_event(&spelled).request())
                .await
                .status()
                .as_u16()
        })
    });
    let mut statuses = Vec::new();
    for a in attempts {
        statuses.push(a.await.unwrap());
    }

    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        49,
        "{statuses:?}"
    );
    assert!(
        deps.users
            .find(&name.to_lowercase())
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn body_over_64_kib_returns_413() {
    let big = json!({"username": "big_body", "password": "x".repeat(70 * 1024)});
    let response = handle(&deps().await, Event::load("register").json(big).request()).await;

    assert_eq!(response.status(), 413);
    assert_eq!(body_json(&response)["error"], "payload_too_large");
}

#[tokio::test]
async fn wrong_method_returns_405_with_allow() {
    let event = Event::load("register").route("GET", "/register");
    let response = handle(&deps().await, event.request()).await;

    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
    assert_eq!(body_json(&response)["error"], "method_not_allowed");
}

#[tokio::test]
async fn unreachable_dynamodb_returns_503_json_with_retry_after() {
    let deps = deps_from(&Fixture::unreachable().await);

    let response = handle(&deps, register_event(&unique("down_")).request()).await;

    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    let body = body_json(&response);
    assert_eq!(body["error"], "service_unavailable");
    assert!(body["request_id"].is_string());
    let text = body.to_string();
    assert!(
        !text.contains("127.0.0.1") && !text.to_lowercase().contains("dispatch"),
        "{text}"
    );
}

#[tokio::test]
async fn registrations_are_rate_limited_per_source_ip() {
    let fixture = Fixture::local()
        .await
        .with("REGISTER_IP_LIMIT", "3")
        .with("REGISTER_IP_WINDOW_SECONDS", "60");
    let deps = deps_from(&fixture);
    let ip = unique_ip();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let event = register_event(&unique("many_")).source_ip(&ip);
        statuses.push(handle(&deps, event.request()).await);
    }

    let codes: Vec<u16> = statuses.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(codes, vec![201, 201, 201, 429]);
    let limited = &statuses[3];
    assert_eq!(body_json(limited)["error"], "rate_limited");
    assert_eq!(
        limited.headers()["ratelimit-policy"],
        "\"register-ip\";q=3;w=60"
    );
    assert!(limited.headers().contains_key("retry-after"));
    // Another address is not affected.
    let elsewhere = register_event(&unique("other_")).source_ip(&unique_ip());
    assert_eq!(handle(&deps, elsewhere.request()).await.status(), 201);
}

#[tokio::test]
async fn invalid_registrations_do_not_use_up_the_limit() {
    let deps = deps_from(&Fixture::local().await.with("REGISTER_IP_LIMIT", "1"));
    let ip = unique_ip();
    for _ in 0..3 {
        let event = Event::load("register-invalid").source_ip(&ip);
        assert_eq!(handle(&deps, event.request()).await.status(), 400);
    }
    let valid = register_event(&unique("after_")).source_ip(&ip);
    assert_eq!(handle(&deps, valid.request()).await.status(), 201);
}
