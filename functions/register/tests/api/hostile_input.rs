//! Hostile input: whatever the body, the answer is a 4xx with the standard error body, never a
//! 5xx and never a panic, and oversized input is refused before any hashing.

use base64::Engine;
use lambda_http::{Body, Response};
use register::Deps;
use serde_json::{Value, json};
use shared::store::UserStore;
use shared::testing::{Event, Fixture, body_json, unique};

use crate::helpers::{deps_from, handle};

/// The function with production-strength hashing: the size checks must win long before it
/// would run.
async fn deps() -> Deps {
    let f = Fixture::local()
        .await
        .with("ARGON2_MEMORY_KIB", "19456")
        .with("ARGON2_ITERATIONS", "2");
    deps_from(&f)
}

async fn send(event: Event) -> Response<Body> {
    handle(&deps().await, event.request()).await
}

fn assert_client_error(response: &Response<Body>, status: u16, field: &str) {
    assert_eq!(response.status(), status);
    let body = body_json(response);
    assert!(body["msg"].is_string());
    if status == 400 {
        assert_eq!(body["error"], "validation_error");
        assert!(body["details"][field].is_array(), "{body}");
    }
}

#[tokio::test]
async fn non_utf8_bytes_are_a_400() {
    let mut event = Event::load("register");
    event.0["body"] = Value::String(
        base64::engine::general_purpose::STANDARD.encode([0x7b, 0xff, 0xfe, 0x22, 0x7d]),
    );
    event.0["isBase64Encoded"] = Value::Bool(true);
    assert_client_error(&send(event).await, 400, "body");
}

#[tokio::test]
async fn invalid_json_an_array_and_null_are_400s() {
    for raw in [
        "{\"username\":",
        "[\"alice\",\"pw\"]",
        "null",
        "42",
        "\"text\"",
        "{'single':'quotes'}",
    ] {
        assert_client_error(
            &send(Event::load("register").raw_body(raw)).await,
            400,
            "body",
        );
    }
}

#[tokio::test]
async fn numbers_or_objects_where_strings_are_expected_are_400s() {
    for body in [
        json!({"username": 12345, "password": "correct horse battery"}),
        json!({"username": {"$ne": null}, "password": "correct horse battery"}),
        json!({"username": "alice", "password": ["a", "b"]}),
        json!({"username": "alice", "password": true}),
    ] {
        let response = send(Event::load("register").json(body.clone())).await;
        assert_eq!(response.status(), 400, "{body}");
    }
}

#[tokio::test]
async fn nul_control_and_non_ascii_characters_in_usernames_are_400s() {
    for name in [
        "ali\u{0}ce",
        "ali\nce",
        "ali\u{7f}ce",
        "\u{202e}ecila",
        "álice",
        "аlice",
        "ali ce",
        "<script>",
    ] {
        let body = json!({"username": name, "password": "correct horse battery"});
        assert_client_error(
            &send(Event::load("register").json(body)).await,
            400,
            "username",
        );
    }
}

#[tokio::test]
async fn a_1_mb_password_is_refused_by_size_before_parsing() {
    // 413 comes from the body-size check, which runs before the body is even parsed, so no
    // hashing can happen (`make bench` times it: see the README).
    let name = unique("big_");
    let body = json!({"username": name, "password": "p".repeat(1024 * 1024)});
    let response = send(Event::load("register").json(body)).await;
    assert_eq!(response.status(), 413);
    assert_eq!(body_json(&response)["error"], "payload_too_large");
    assert!(
        Fixture::local()
            .await
            .store()
            .find(&name.to_lowercase())
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_password_just_over_128_characters_is_refused_without_hashing() {
    let deps = deps().await;
    let phrase = "correct horse battery staple ".repeat(5);
    let at_limit = json!({"username": unique("long_"), "password": &phrase[..128]});
    let over = json!({"username": unique("long_"), "password": &phrase[..129]});

    let refused = handle(&deps, Event::load("register").json(over).request()).await;
    assert_client_error(&refused, 400, "password");
    assert_eq!(
        deps.passwords.computations(),
        0,
        "no hash for 129 characters"
    );

    // The same request one character shorter is hashed: the counter does count.
    let admitted = handle(&deps, Event::load("register").json(at_limit).request()).await;
    assert_eq!(admitted.status(), 201);
    assert_eq!(deps.passwords.computations(), 1);
}

#[tokio::test]
async fn a_1_mb_body_is_a_413() {
    let raw = format!("{{\"padding\":\"{}\"}}", "x".repeat(1024 * 1024));
    assert_client_error(
        &send(Event::load("register").raw_body(&raw)).await,
        413,
        "body",
    );
}

#[tokio::test]
async fn deeply_nested_json_is_a_400() {
    let raw = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    assert_client_error(
        &send(Event::load("register").raw_body(&raw)).await,
        400,
        "body",
    );
    let raw = format!(
        "{{\"username\":{}1{}}}",
        "{\"a\":".repeat(500),
        "}".repeat(500)
    );
    assert_client_error(
        &send(Event::load("register").raw_body(&raw)).await,
        400,
        "body",
    );
}

#[tokio::test]
async fn duplicate_keys_are_a_400() {
    let raw = r#"{"username":"dupe_keys","password":"correct horse battery","password":"x"}"#;
    let response = send(Event::load("register").raw_body(raw)).await;
    assert_client_error(&response, 400, "body");
    assert_eq!(
        body_json(&response)["details"]["body"][0],
        "must not repeat a key"
    );
}
