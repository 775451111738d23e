//! The `$default` route, plus a guard that every sample event is used by some test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use fallback::Deps;
use serde_json::json;
use shared::testing::{Event, body_json, event_names, events_dir};

/// The handler under test; every response is also recorded for the OpenAPI contract check.
async fn handle(
    deps: &Deps,
    req: lambda_http::Request,
) -> lambda_http::Response<lambda_http::Body> {
    let (method, path) = shared::testing::route_of(&req);
    let response = fallback::handle(deps, req).await;
    shared::testing::record(&method, &path, &response);
    response
}

#[tokio::test]
async fn unknown_path_returns_404_json() {
    let response = handle(&Deps, Event::load("fallback-not-found").request()).await;

    assert_eq!(response.status(), 404);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(
        body_json(&response),
        json!({"msg": "Not found", "error": "not_found"})
    );
}

#[tokio::test]
async fn known_path_with_wrong_method_returns_405_with_allow() {
    let response = handle(&Deps, Event::load("fallback-wrong-method").request()).await;

    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
    assert_eq!(
        body_json(&response),
        json!({"msg": "Method not allowed", "error": "method_not_allowed"})
    );
}

#[tokio::test]
async fn every_route_answers_405_for_other_methods() {
    for (path, method, allow) in [
        ("/register", "GET", "POST"),
        ("/login", "DELETE", "POST"),
        ("/protected", "POST", "GET"),
    ] {
        let event = Event::load("fallback-not-found").route(method, path);
        let response = handle(&Deps, event.request()).await;
        assert_eq!(response.status(), 405, "{method} {path}");
        assert_eq!(response.headers()["allow"], allow, "{method} {path}");
    }
}

/// Every `events/*.json` parses as an HTTP API request and is loaded by name in some test, so a
/// sample that drifts from what the handlers accept, or is never exercised, fails CI.
#[test]
fn every_sample_event_parses_and_is_used_by_a_test() {
    let functions = events_dir().join("../functions");
    let mut sources = String::new();
    for f in std::fs::read_dir(&functions).unwrap() {
        let tests = f.unwrap().path().join("tests");
        for file in std::fs::read_dir(tests).into_iter().flatten() {
            sources.push_str(&std::fs::read_to_string(file.unwrap().path()).unwrap());
        }
    }
    let names = event_names();
    assert!(names.len() >= 8, "{names:?}");
    for name in names {
        let event = Event::load(&name);
        // Authorizer events (payload 2.0 `type: REQUEST`) are not HTTP requests; the authorizer's
        // own tests parse them as its event type.
        if event.0["type"] != "REQUEST" {
            event.request();
        }
        assert!(
            sources.contains(&format!("Event::load(\"{name}\")")),
            "events/{name}.json is not used by any test"
        );
    }
}
