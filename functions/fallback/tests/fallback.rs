//! The `$default` route: JSON 404s and 405s from the route table, plus a check that every sample
//! event parses as the runtime parses it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use fallback::{Deps, Settings};
use serde_json::json;
use shared::routes::ROUTES;
use shared::testing::{Event, body_json, call, event_names, test_vars};

/// The handler under test; every response is also recorded for the OpenAPI contract check.
async fn handle(req: lambda_http::Request) -> lambda_http::Response<lambda_http::Body> {
    let deps = Deps::build(Settings::from_vars(&test_vars()).unwrap()).unwrap();
    call(fallback::handle, &deps, req).await
}

/// A concrete path for a route's template (`{name}` segments filled in).
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|s| if s.starts_with('{') { "sample" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn unknown_path_returns_404_json() {
    let response = handle(Event::load("fallback-not-found").request()).await;

    assert_eq!(response.status(), 404);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(
        body_json(&response),
        json!({"msg": "Not found", "error": "not_found"})
    );
}

#[tokio::test]
async fn known_path_with_wrong_method_returns_405_with_allow() {
    let response = handle(Event::load("fallback-wrong-method").request()).await;

    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
    assert_eq!(
        body_json(&response),
        json!({"msg": "Method not allowed", "error": "method_not_allowed"})
    );
}

#[tokio::test]
async fn every_route_answers_405_for_other_methods_with_its_allow_list() {
    assert!(ROUTES.len() >= 7);
    for route in ROUTES {
        let path = concrete(route.path);
        let allowed: Vec<&str> = ROUTES
            .iter()
            .filter(|r| r.path == route.path)
            .map(|r| r.method.as_str())
            .collect();
        let other = ["GET", "POST", "PUT", "PATCH", "DELETE"]
            .into_iter()
            .find(|m| !allowed.contains(m))
            .unwrap();
        let event = Event::load("fallback-not-found").route(other, &path);
        let response = handle(event.request()).await;
        assert_eq!(response.status(), 405, "{other} {path}");
        assert_eq!(
            response.headers()["allow"],
            allowed.join(", ").as_str(),
            "{other} {path}"
        );
        assert_eq!(body_json(&response)["error"], "method_not_allowed");
    }
}

#[tokio::test]
async fn near_misses_of_routes_are_404s() {
    for path in ["/login/", "/LOGIN", "/protected/x", "/.well-known", ""] {
        let event = Event::load("fallback-not-found").route("GET", path);
        let response = handle(event.request()).await;
        assert_eq!(response.status(), 404, "{path:?}");
    }
}

/// Every `events/*.json` parses as the Lambda runtime parses it (HTTP API requests as requests,
/// authorizer events as the authorizer's event type), so a sample that drifts from what the
/// handlers accept fails here. That every sample is also *used* by some test is checked by the
/// contract check (`scripts/contract_check.py`), from the names [`Event::load`] records.
#[test]
fn every_sample_event_parses_as_the_runtime_parses_it() {
    use lambda_http::aws_lambda_events::apigw::ApiGatewayV2CustomAuthorizerV2Request;
    let names = event_names();
    assert!(names.len() >= 8, "{names:?}");
    for name in names {
        let event = Event::read(&name);
        if event.0["type"] == "REQUEST" {
            serde_json::from_value::<ApiGatewayV2CustomAuthorizerV2Request>(event.0.clone())
                .unwrap_or_else(|e| panic!("events/{name}.json: {e}"));
        } else {
            lambda_http::request::from_str(&event.0.to_string())
                .unwrap_or_else(|e| panic!("events/{name}.json: {e}"));
        }
    }
}
