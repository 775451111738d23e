//! A lean front door for a route that reads nothing of its request but the method, the path and
//! the `Authorization` header (`protected`): the API Gateway HTTP API (v2) event is read into
//! those fields alone, and the handler gets the same [`Request`] type every other function gets.
//!
//! Why not `lambda_http::run`, which every other function uses: it reads the whole event (every
//! header into a `HeaderMap`, the request context with its authorizer, the query string), then
//! builds an absolute URI through `url::Url::parse` with IDNA on the host, all before the
//! handler runs. With the caches as a warm invocation finds them that is about 0.02 ms, a third
//! of what `protected` adds to an empty function (docs/performance.md). This reader skips every
//! other field unparsed.
//!
//! What the handler sees is what `lambda_http` would give it for the parts it reads: the method
//! (`requestContext.http.method`), the path (`rawPath`, with the stage prefixed as `lambda_http`
//! does), the `Authorization` values (a string replaces earlier values, an array appends, as
//! `aws_lambda_events` reads headers), the Lambda context, and a request context carrying the
//! request id, stage, method and source address. Its answer is written as `lambda_http` writes
//! one for API Gateway v2, body encoding included. `functions/protected/tests/lean.rs` runs every
//! sample event and variants of them through both doors and compares the JSON each sends back.
//!
//! The differences, none of which changes what `protected` answers to API Gateway:
//! - another header's name or value is never looked at: an event whose other header holds a
//!   value `http` refuses (a control character) is served, where `lambda_http` refuses the
//!   whole event and API Gateway answers 500;
//! - the URI is the path alone, not normalised by `url::Url` (`..`, `\\`, percent-encoding).
//!   Only the `Allow` header of a 405 reads it, and API Gateway routes nothing but
//!   `GET /protected` here; under `cargo lambda watch` an odd path can get another `Allow`.

use std::future::Future;

use http::{HeaderValue, Method, Response, header};
use lambda_http::aws_lambda_events::apigw::{
    ApiGatewayV2httpRequestContext, ApiGatewayV2httpResponse,
};
use lambda_http::lambda_runtime::{self, LambdaEvent};
use lambda_http::request::RequestContext;
use lambda_http::{Body, IntoResponse, Request, RequestExt};
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// The parts of an HTTP API (v2) event a bearer-only route reads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BearerEvent {
    #[serde(default, alias = "path")]
    raw_path: Option<String>,
    /// The `Authorization` header's values, in order.
    #[serde(default, deserialize_with = "authorization_values")]
    headers: Vec<HeaderValue>,
    request_context: EventContext,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventContext {
    #[serde(default)]
    stage: Option<String>,
    #[serde(default)]
    request_id: Option<String>,
    http: EventHttp,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventHttp {
    #[serde(deserialize_with = "method")]
    method: Method,
    #[serde(default)]
    source_ip: Option<String>,
}

impl BearerEvent {
    /// The request a handler gets, with `context` (the Lambda invocation's) attached.
    pub fn into_request(self, context: lambda_runtime::Context) -> Request {
        let EventContext {
            stage,
            request_id,
            http: EventHttp { method, source_ip },
        } = self.request_context;
        let path = path_with_stage(
            stage.as_deref(),
            self.raw_path.as_deref().unwrap_or_default(),
            // Read only for a named stage: the `$default` stage reads no variable per request.
            || std::env::var("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH").is_ok(),
        );
        let mut request = Request::new(Body::Empty);
        *request.method_mut() = method.clone();
        // Only the 405's `Allow` reads the URI (see the module's differences). A path `http`
        // will not take (a space, say; `lambda_http` would percent-encode it) becomes "/", as
        // does an empty one.
        *request.uri_mut() = path.parse().unwrap_or_else(|_| http::Uri::from_static("/"));
        let headers = request.headers_mut();
        for value in self.headers {
            headers.append(header::AUTHORIZATION, value);
        }
        let mut apigw = ApiGatewayV2httpRequestContext::default();
        apigw.stage = stage;
        apigw.request_id = request_id;
        apigw.http.method = method;
        apigw.http.source_ip = source_ip;
        request
            .with_request_context(RequestContext::ApiGatewayV2(apigw))
            .with_lambda_context(context)
    }
}

/// `rawPath` as `lambda_http` reports it: prefixed with a named stage that it does not already
/// start with, unless `AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH` is set (`ignore_stage`).
fn path_with_stage(stage: Option<&str>, path: &str, ignore_stage: impl FnOnce() -> bool) -> String {
    match stage {
        Some(stage)
            if stage != "$default"
                && !path.starts_with(&format!("/{stage}/"))
                && !ignore_stage() =>
        {
            format!("/{stage}{path}")
        }
        _ => path.to_owned(),
    }
}

/// A response (its body already re-encoded by `lambda_http`'s `IntoResponse`) as `lambda_http`
/// writes it for API Gateway v2: `Set-Cookie` values in `cookies`, every other header in
/// `headers` (whose serialiser writes the first value of a repeated one), a binary body
/// base64-encoded. Its own version is crate-private, hence this copy, which `tests` compares
/// with it.
fn v2_response(response: Response<Body>) -> ApiGatewayV2httpResponse {
    let (mut parts, body) = response.into_parts();
    let (is_base64_encoded, body) = match body {
        Body::Empty => (false, None),
        text @ Body::Text(_) => (false, Some(text)),
        binary @ Body::Binary(_) => (true, Some(binary)),
        _ => (false, None),
    };
    let cookies = parts
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap_or_default().to_owned())
        .collect();
    parts.headers.remove(header::SET_COOKIE);
    let mut out = ApiGatewayV2httpResponse::default();
    out.status_code = i64::from(parts.status.as_u16());
    out.headers = parts.headers;
    out.cookies = cookies;
    out.body = body;
    out.is_base64_encoded = is_base64_encoded;
    out
}

/// Runs `handler` for each invocation, reading the event as a [`BearerEvent`]. An event that is
/// not an HTTP API event is an invocation error, as under `lambda_http::run`.
pub async fn run<F, Fut>(handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(Request) -> Fut,
    Fut: Future<Output = Response<Body>>,
{
    lambda_runtime::run(lambda_runtime::service_fn(
        |event: LambdaEvent<BearerEvent>| {
            let response = handler(event.payload.into_request(event.context));
            async move { Ok::<_, lambda_http::Error>(answer(response.await).await) }
        },
    ))
    .await
}

/// What [`run`] sends back for `response`: the body re-encoded by its content type as
/// `lambda_http` does it (its own `IntoResponse`), then written for API Gateway v2.
///
/// Every answer of ours is a text body typed exactly `application/json`, which that re-encoding
/// leaves as it is (it decodes the text's UTF-8 bytes as UTF-8, dropping only a leading byte
/// order mark, which serde_json never writes): such an answer skips it, which saves parsing the
/// type and copying the body at each call.
pub async fn answer(response: Response<Body>) -> ApiGatewayV2httpResponse {
    let headers = response.headers();
    let unchanged = matches!(response.body(), Body::Text(text) if !text.starts_with('\u{feff}'))
        && headers.get(header::CONTENT_ENCODING).is_none()
        && headers
            .get(header::CONTENT_TYPE)
            .is_some_and(|t| t == "application/json");
    if unchanged {
        return v2_response(response);
    }
    v2_response(response.into_response().await)
}

fn method<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Method, D::Error> {
    struct MethodName;
    impl Visitor<'_> for MethodName {
        type Value = Method;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an HTTP method")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Method, E> {
            // An empty method is GET, as `aws_lambda_events` reads it.
            if v.is_empty() {
                return Ok(Method::GET);
            }
            v.parse()
                .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
        }
    }
    deserializer.deserialize_str(MethodName)
}

/// The values of the `Authorization` header (any case) in the event's `headers` object; every
/// other entry is skipped without being parsed. `null` is no headers.
fn authorization_values<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<HeaderValue>, D::Error> {
    struct Headers;
    impl<'de> Visitor<'de> for Headers {
        type Value = Vec<HeaderValue>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a map of header names to values")
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            d.deserialize_map(self)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut values = Vec::new();
            while let Some(is_authorization) = map.next_key_seed(IsAuthorization)? {
                if !is_authorization {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
                match map.next_value_seed(HeaderValues)? {
                    // One string replaces what came before, as `HeaderMap::insert` does there.
                    OneOrMore::One(value) => values = vec![value],
                    OneOrMore::More(more) => values.extend(more),
                }
            }
            Ok(values)
        }
    }
    deserializer.deserialize_option(Headers)
}

/// A header name: whether it is `Authorization`, in any case.
struct IsAuthorization;

impl<'de> DeserializeSeed<'de> for IsAuthorization {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for IsAuthorization {
    type Value = bool;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a header name")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        Ok(v.eq_ignore_ascii_case(header::AUTHORIZATION.as_str()))
    }
}

enum OneOrMore {
    One(HeaderValue),
    More(Vec<HeaderValue>),
}

/// A header's value: a string, or an array of strings.
struct HeaderValues;

impl<'de> DeserializeSeed<'de> for HeaderValues {
    type Value = OneOrMore;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<OneOrMore, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for HeaderValues {
    type Value = OneOrMore;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a header value or an array of them")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<OneOrMore, E> {
        header_value(v).map(OneOrMore::One)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OneOrMore, A::Error> {
        let mut values = Vec::new();
        while let Some(value) = seq.next_element::<std::borrow::Cow<'_, str>>()? {
            values.push(header_value(&value)?);
        }
        Ok(OneOrMore::More(values))
    }
}

fn header_value<E: de::Error>(v: &str) -> Result<HeaderValue, E> {
    HeaderValue::from_str(v)
        .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &"a header value"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use http::StatusCode;
    use lambda_http::request::LambdaRequest;
    use lambda_http::tower::Service;
    use lambda_http::{Adapter, service_fn};

    /// `lambda_http::run`'s answer to any request with `response`.
    async fn lambda_http_answer(response: Response<Body>) -> serde_json::Value {
        let event = r#"{"rawPath": "/", "requestContext": {"http": {"method": "GET"}}}"#;
        let request: LambdaRequest = serde_json::from_str(event).unwrap();
        let mut adapter = Adapter::from(service_fn(move |_req: Request| {
            let response = clone(&response);
            async move { Ok::<_, lambda_http::Error>(response) }
        }));
        let answer = adapter
            .call(LambdaEvent::new(
                request,
                lambda_runtime::Context::default(),
            ))
            .await
            .unwrap();
        serde_json::to_value(answer).unwrap()
    }

    fn clone(response: &Response<Body>) -> Response<Body> {
        let mut copy = Response::new(response.body().clone());
        *copy.status_mut() = response.status();
        *copy.headers_mut() = response.headers().clone();
        copy
    }

    fn response(body: Body, headers: &[(&str, &str)]) -> Response<Body> {
        let mut response = Response::new(body);
        *response.status_mut() = StatusCode::CREATED;
        for (name, value) in headers {
            response.headers_mut().append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        response
    }

    #[tokio::test]
    async fn answers_are_written_as_lambda_http_writes_them() {
        let cases = [
            response(Body::Empty, &[]),
            response(
                Body::Text("{}".into()),
                &[("content-type", "application/json")],
            ),
            response(
                Body::Text(r#"{"a":"é"}"#.into()),
                &[("content-type", "application/json")],
            ),
            response(
                Body::Text("\u{feff}{}".into()),
                &[("content-type", "application/json")],
            ),
            response(Body::Empty, &[("content-type", "application/json")]),
            response(
                Body::Text("{}".into()),
                &[
                    ("content-type", "application/json"),
                    ("content-encoding", "br"),
                ],
            ),
            response(
                Body::Text("{}".into()),
                &[("content-type", "application/json"), ("set-cookie", "c=3")],
            ),
            response(
                Body::Text("héllo".into()),
                &[("content-type", "text/plain; charset=utf-8")],
            ),
            response(Body::Text("plain, no type".into()), &[]),
            response(
                Body::Binary(vec![0, 159, 146, 150]),
                &[("content-type", "image/png")],
            ),
            response(Body::Text("zipped".into()), &[("content-encoding", "gzip")]),
            response(
                Body::Text("{}".into()),
                &[
                    ("set-cookie", "a=1; Secure"),
                    ("set-cookie", "b=2; HttpOnly"),
                    ("x-many", "1"),
                    ("x-many", "2"),
                    ("content-type", "application/problem+json"),
                ],
            ),
        ];
        for case in cases {
            let expected = lambda_http_answer(clone(&case)).await;
            let actual = serde_json::to_value(answer(case).await).unwrap();
            assert_eq!(actual, expected);
        }
    }

    #[test]
    fn a_named_stage_prefixes_the_path_unless_it_is_there_or_ignored() {
        for (stage, path, ignore, expected) in [
            (None, "/protected", false, "/protected"),
            (Some("$default"), "/protected", false, "/protected"),
            (Some("prod"), "/protected", false, "/prod/protected"),
            (Some("prod"), "/prod/protected", false, "/prod/protected"),
            (Some("prod"), "/production", false, "/prod/production"),
            (Some("prod"), "", false, "/prod"),
            (Some("prod"), "/protected", true, "/protected"),
        ] {
            assert_eq!(
                path_with_stage(stage, path, || ignore),
                expected,
                "{stage:?} {path} {ignore}"
            );
        }
    }
}
