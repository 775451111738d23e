//! `protected` is served through `shared::http::lean`, which reads only the method, path and
//! `Authorization` header of the event. Each case here goes through both doors, that one and
//! `lambda_http`'s (which every test elsewhere uses), and the JSON each sends back to API Gateway
//! must be the same.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use lambda_http::RequestExt;
use lambda_http::lambda_runtime::{Context, LambdaEvent};
use lambda_http::request::{LambdaRequest, RequestContext};
use lambda_http::tower::Service;
use lambda_http::{Adapter, service_fn};
use protected::{Deps, Settings};
use serde_json::{Value, json};
use shared::http::lean::{BearerEvent, answer};
use shared::testing::{Event, access_token, bad_tokens, key_set, test_vars};
use shared::unix_now;

fn deps() -> Deps {
    Deps::build(Settings::from_vars(&test_vars()).unwrap(), key_set()).unwrap()
}

/// An `Authorization` value with a fresh access token of `name` in session `sid`.
fn bearer(name: &str, sid: &str) -> String {
    format!("Bearer {}", access_token(name, sid, unix_now(), &[]))
}

/// The Lambda invocation's context, with this request id.
fn context_with(request_id: &str) -> Context {
    let mut context = Context::default();
    context.request_id = request_id.into();
    context
}

fn context() -> Context {
    context_with("lambda-request-id")
}

/// What `lambda_http::run` sends back for `event`.
async fn through_lambda_http(deps: &Deps, event: &str) -> Value {
    let request: LambdaRequest = serde_json::from_str(event).unwrap();
    let mut adapter = Adapter::from(service_fn(|req| async {
        Ok::<_, lambda_http::Error>(protected::handle(deps, req).await)
    }));
    let response = adapter
        .call(LambdaEvent::new(request, context()))
        .await
        .unwrap();
    serde_json::to_value(response).unwrap()
}

/// What `shared::http::lean::run` sends back for `event`.
async fn through_lean(deps: &Deps, event: &str) -> Value {
    // Read from bytes, as the runtime reads it.
    let event: BearerEvent = serde_json::from_slice(event.as_bytes()).unwrap();
    let response = protected::handle(deps, event.into_request(context())).await;
    serde_json::to_value(answer(response).await).unwrap()
}

/// The request each door hands the handler, in the parts a bearer-only route may read.
fn request_parts(request: &lambda_http::Request) -> Value {
    let meta = shared::RequestMeta::of(request);
    let stage = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.stage.clone(),
        _ => None,
    };
    let authorization: Vec<_> = request
        .headers()
        .get_all("authorization")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    json!({
        "method": request.method().as_str(),
        "path": request.uri().path(),
        "authorization": authorization,
        "request_id": meta.request_id,
        "source_ip": meta.source_ip,
        "stage": stage,
    })
}

/// Both doors must hand the handler the same parts and send back the same JSON.
async fn assert_same(deps: &Deps, case: &str, event: &str) -> Value {
    // Without a Lambda request id, the request context's is used: both must carry it.
    for lambda_id in ["lambda-request-id", ""] {
        let from_lambda_http = lambda_http::request::from_str(event)
            .unwrap()
            .with_lambda_context(context_with(lambda_id));
        let lean: BearerEvent = serde_json::from_str(event).unwrap();
        assert_eq!(
            request_parts(&lean.into_request(context_with(lambda_id))),
            request_parts(&from_lambda_http),
            "{case}, Lambda request id {lambda_id:?}"
        );
    }
    let expected = through_lambda_http(deps, event).await;
    let actual = through_lean(deps, event).await;
    assert_eq!(actual, expected, "{case}");
    expected
}

/// The sample event with this `headers` JSON text, key order kept.
fn with_headers(headers: &str) -> String {
    let event = Event::read("protected").0.to_string();
    let at = event.find("\"headers\":").unwrap();
    let end = at + event[at..].find('}').unwrap() + 1;
    format!("{}\"headers\":{headers}{}", &event[..at], &event[end..])
}

#[tokio::test]
async fn every_sample_event_gets_the_same_answer_through_both_doors() {
    let deps = deps();
    for (name, challenge) in [
        // The sample's token is a placeholder.
        (
            "protected",
            "Bearer realm=\"auth-api-test\", error=\"invalid_token\"",
        ),
        ("protected-no-token", "Bearer realm=\"auth-api-test\""),
    ] {
        let answer = assert_same(&deps, name, &Event::load(name).0.to_string()).await;
        assert_eq!(answer["statusCode"], 401, "{name}: {answer}");
        assert_eq!(answer["headers"]["www-authenticate"], challenge, "{name}");
    }
}

#[tokio::test]
async fn valid_bad_and_missing_tokens_get_the_same_answer() {
    let deps = deps();
    let now = unix_now();
    let good = access_token("Alice", "session-1", now, &[]);
    let answer = assert_same(
        &deps,
        "valid token",
        &Event::read("protected")
            .header("authorization", Some(&format!("Bearer {good}")))
            .0
            .to_string(),
    )
    .await;
    assert_eq!(answer["statusCode"], 200, "{answer}");
    assert_eq!(
        serde_json::from_str::<Value>(answer["body"].as_str().unwrap()).unwrap(),
        json!({"msg": "This is a protected route", "logged_in_as": "Alice"})
    );
    for bad in bad_tokens(now) {
        let event = Event::read("protected")
            .header("authorization", Some(&format!("Bearer {}", bad.token)))
            .0
            .to_string();
        let answer = assert_same(&deps, bad.case, &event).await;
        assert_eq!(answer["statusCode"], 401, "{}", bad.case);
    }
    for (value, status) in [
        ("", 401),
        ("   ", 401),
        ("Basic abc", 401),
        ("bearer", 401),
        ("Bearer a b", 400),
        ("Bearer a,Bearer b", 400),
    ] {
        let event = Event::read("protected")
            .header("authorization", Some(value))
            .0
            .to_string();
        let answer = assert_same(&deps, value, &event).await;
        assert_eq!(answer["statusCode"], status, "{value:?}: {answer}");
    }
}

#[tokio::test]
async fn header_names_in_any_case_arrays_repeats_and_null_are_read_alike() {
    let deps = deps();
    let good = bearer("Bob", "session-2");
    let cases = [
        (
            "capitalised name",
            format!(r#"{{"Authorization": "{good}"}}"#),
        ),
        (
            "upper-case name",
            format!(r#"{{"accept": "*/*", "AUTHORIZATION": "{good}"}}"#),
        ),
        (
            "an array of one",
            format!(r#"{{"authorization": ["{good}"]}}"#),
        ),
        (
            "an array of two",
            format!(r#"{{"authorization": ["{good}", "{good}"]}}"#),
        ),
        ("an empty array", r#"{"authorization": []}"#.to_owned()),
        // A plain string replaces what came before; an array appends to it.
        (
            "a string after an array",
            format!(r#"{{"authorization": ["Bearer x"], "Authorization": "{good}"}}"#),
        ),
        (
            "an array after a string",
            format!(r#"{{"Authorization": "{good}", "authorization": ["{good}"]}}"#),
        ),
        (
            "other headers of every shape",
            format!(r#"{{"x-a": ["1", "2"], "authorization": "{good}", "x-b": "3"}}"#),
        ),
        ("no headers", "{}".to_owned()),
        ("null headers", "null".to_owned()),
    ];
    let mut statuses = Vec::new();
    for (case, headers) in cases {
        let answer = assert_same(&deps, case, &with_headers(&headers)).await;
        statuses.push((case, answer["statusCode"].clone()));
    }
    // What each case comes to, so that both doors agreeing on a wrong reading would fail too.
    let expected = [200, 200, 200, 400, 401, 200, 400, 200, 401, 401];
    let got: Vec<_> = statuses.iter().map(|(_, s)| s.as_u64().unwrap()).collect();
    assert_eq!(got, expected, "{statuses:?}");
}

#[tokio::test]
async fn other_methods_paths_and_stages_get_the_same_answer() {
    let deps = deps();
    let good = bearer("Carol", "session-3");
    for (method, path, stage) in [
        ("POST", "/protected", "$default"),
        ("DELETE", "/protected", "$default"),
        ("GET", "/protected", "prod"),
        ("POST", "/protected", "prod"),
        ("POST", "/prod/protected", "prod"),
        ("PUT", "/sessions/abc", "$default"),
        ("PATCH", "/unknown/route", "$default"),
        // An empty method is GET to both.
        ("", "/protected", "$default"),
    ] {
        let mut event = Event::read("protected")
            .route(method, path)
            .header("authorization", Some(&good))
            .0;
        event["requestContext"]["stage"] = json!(stage);
        let case = format!("{method} {path} at stage {stage}");
        let answer = assert_same(&deps, &case, &event.to_string()).await;
        let expected = if method == "GET" || method.is_empty() {
            200
        } else {
            405
        };
        assert_eq!(answer["statusCode"], expected, "{case}: {answer}");
    }
}

#[tokio::test]
async fn an_event_that_is_not_an_http_api_event_is_refused_by_both() {
    for event in [
        "{}".to_owned(),
        r#"{"rawPath": "/protected", "headers": {}}"#.to_owned(),
        r#"{"requestContext": {"http": {"method": "NOT A METHOD"}}}"#.to_owned(),
        with_headers(r#"{"authorization": "Bearer \u0007"}"#),
        with_headers(r#"{"authorization": 7}"#),
    ] {
        assert!(
            serde_json::from_str::<LambdaRequest>(&event).is_err(),
            "lambda_http accepts {event}"
        );
        assert!(
            serde_json::from_str::<BearerEvent>(&event).is_err(),
            "the lean door accepts {event}"
        );
    }
}

#[tokio::test]
async fn an_event_without_a_raw_path_gets_the_stage_as_its_path_through_both() {
    let deps = deps();
    let mut event = Event::read("protected")
        .header("authorization", Some(&bearer("Dan", "session-4")))
        .0;
    event.as_object_mut().unwrap().remove("rawPath");
    event["requestContext"]["stage"] = json!("prod");
    let answer = assert_same(&deps, "no rawPath", &event.to_string()).await;
    assert_eq!(answer["statusCode"], 200, "{answer}");
}

/// The difference documented in `shared::http::lean`: a header the route does not read is not
/// parsed, so a value `http` refuses (a control character) does not refuse the event.
#[tokio::test]
async fn another_headers_malformed_value_is_refused_by_lambda_http_and_served_by_the_lean_door() {
    let deps = deps();
    let good = bearer("Erin", "session-5");
    let event = with_headers(&format!(
        r#"{{"x-note": "a\u0001b", "x-city": "Zürich", "authorization": "{good}"}}"#
    ));
    assert!(serde_json::from_str::<LambdaRequest>(&event).is_err());
    let answer = through_lean(&deps, &event).await;
    assert_eq!(answer["statusCode"], 200, "{answer}");
}
