//! The HTTP edge: what a request carries (metadata, a bounded JSON body, bearer credentials, the
//! method), and in [`response`] everything a response is made of.

use http::{Method, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt};
use serde::Deserialize;
use serde::de::{Deserializer, Error as _, MapAccess, Visitor};
use serde_json::{Map, Value};

use crate::error::ApiError;
pub use crate::token::MAX_TOKEN_BYTES;
use crate::token::{Claims, Tokens};

pub mod response;

pub use response::{empty_response, json_response};

/// Where a session is started from, as `GET /sessions` shows it: the request's source address
/// and `User-Agent`.
#[cfg(feature = "aws-lc")]
pub fn session_origin(req: &Request, meta: &RequestMeta) -> crate::refresh::Origin {
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    crate::refresh::Origin {
        source_ip: meta.source_ip.clone(),
        user_agent: user_agent.to_owned(),
    }
}

/// Largest request body accepted (64 KiB); larger is 413 before any parsing.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What every response and log line needs to know about the request.
#[derive(Debug, Clone)]
pub struct RequestMeta {
    /// The Lambda request id (or API Gateway's, when run outside Lambda).
    pub request_id: String,
    /// `requestContext.http.sourceIp`: the address API Gateway saw. Client-supplied headers such
    /// as `X-Forwarded-For` are never trusted for this.
    pub source_ip: String,
}

impl RequestMeta {
    /// The metadata of `req`.
    pub fn of(req: &Request) -> Self {
        let apigw = match req.request_context_ref() {
            Some(RequestContext::ApiGatewayV2(ctx)) => Some(ctx),
            _ => None,
        };
        let request_id = req
            .lambda_context_ref()
            .map(|c| c.request_id.clone())
            .filter(|id| !id.is_empty())
            .or_else(|| apigw.and_then(|c| c.request_id.clone()))
            .unwrap_or_else(|| "unknown".into());
        let source_ip = apigw
            .and_then(|c| c.http.source_ip.clone())
            .unwrap_or_else(|| "unknown".into());
        Self {
            request_id,
            source_ip,
        }
    }
}

/// The verified claims of the request's bearer token: `missing_token`, `invalid_request` or
/// `invalid_token` (with the RFC 6750 challenge for `realm`) otherwise. The rejection reason goes
/// to the log only.
pub fn authenticate(req: &Request, tokens: &Tokens, realm: &str) -> Result<Claims, ApiError> {
    let token = bearer_token(req, realm)?;
    tokens.verify(token).map_err(|rejected| {
        tracing::info!(reason = rejected.as_str(), "bearer token rejected");
        ApiError::InvalidToken {
            realm: realm.to_owned(),
        }
    })
}

/// [`authenticate`], then `403 insufficient_scope` (RFC 6750 section 3.1) unless the token was
/// granted `scope`.
pub fn authorize(
    req: &Request,
    tokens: &Tokens,
    realm: &str,
    scope: &'static str,
) -> Result<Claims, ApiError> {
    let claims = authenticate(req, tokens, realm)?;
    if !claims.has_scope(scope) {
        return Err(ApiError::InsufficientScope {
            realm: realm.to_owned(),
            scope,
        });
    }
    Ok(claims)
}

/// Refuses any method but `allowed` with 405 and an `Allow` header listing the methods the
/// route table has for the request's path. Deployed, API Gateway routes only `allowed` here; a
/// local router that routes by path alone (`cargo lambda watch`) relies on this.
pub fn require_method(req: &Request, allowed: Method) -> Result<(), ApiError> {
    if req.method() == allowed {
        return Ok(());
    }
    Err(ApiError::MethodNotAllowed {
        allow: crate::routes::allowed_methods(req.uri().path())
            .unwrap_or_else(|| allowed.as_str().to_owned()),
    })
}

/// Bounds, then parses the body as a JSON object.
pub fn read_json_object(req: &Request) -> Result<Map<String, Value>, ApiError> {
    let bytes: &[u8] = match req.body() {
        Body::Empty => &[],
        other => other.as_ref(),
    };
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge {
            limit: MAX_BODY_BYTES,
        });
    }
    // One strict parse on the way in: serde_json refuses invalid UTF-8 and nesting deeper than
    // 128 levels, and `{"password":"a","password":"b"}` is refused too, since parsers differ on
    // which copy wins. Only a refused body is parsed again, to say what was wrong with it.
    serde_json::from_slice::<UniqueKeys>(bytes)
        .map(|u| u.0)
        .map_err(|_| match serde_json::from_slice::<Value>(bytes) {
            Ok(Value::Object(_)) => ApiError::invalid("body", "must not repeat a key"),
            Ok(_) => ApiError::invalid("body", "must be a JSON object"),
            Err(_) => ApiError::invalid("body", "must be valid JSON"),
        })
}

/// A JSON object whose top-level keys are all distinct.
struct UniqueKeys(Map<String, Value>);

impl<'de> Deserialize<'de> for UniqueKeys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Keys;
        impl<'de> Visitor<'de> for Keys {
            type Value = UniqueKeys;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object with distinct keys")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<UniqueKeys, A::Error> {
                let mut map = Map::new();
                while let Some(key) = access.next_key::<String>()? {
                    let value: Value = access.next_value()?;
                    if map.insert(key, value).is_some() {
                        return Err(A::Error::custom("repeated key"));
                    }
                }
                Ok(UniqueKeys(map))
            }
        }
        deserializer.deserialize_map(Keys)
    }
}

/// The bearer token of the `Authorization` header.
///
/// No header, an empty one, or another scheme: `missing_token` (RFC 6750 section 3.1: no error
/// code when the request has no bearer credentials). The scheme is matched case-insensitively, as
/// RFC 9110 section 11.1 requires. A present but unusable token: `invalid_token`.
pub fn bearer_token<'r>(req: &'r Request, realm: &str) -> Result<&'r str, ApiError> {
    bearer_from_headers(req.headers(), realm)
}

/// [`bearer_token`] for a bare header map (the gateway authorizer's event has no `Request`).
pub fn bearer_from_headers<'h>(
    headers: &'h http::HeaderMap,
    realm: &str,
) -> Result<&'h str, ApiError> {
    let missing = || ApiError::MissingToken {
        realm: realm.to_owned(),
    };
    let invalid = || ApiError::InvalidToken {
        realm: realm.to_owned(),
    };
    let invalid_request = || ApiError::InvalidRequest {
        realm: realm.to_owned(),
    };
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(missing());
    };
    // RFC 6750 section 3.1: credentials given more than once are an `invalid_request`.
    if values.next().is_some() {
        return Err(invalid_request());
    }
    let value = value.to_str().map_err(|_| invalid())?.trim();
    if value.is_empty() {
        return Err(missing());
    }
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(missing());
    }
    // Extra spaces between scheme and token are tolerated (RFC 9110 allows 1*SP).
    let token = token.trim();
    if token.is_empty() || token.len() > MAX_TOKEN_BYTES {
        return Err(invalid());
    }
    // A token never holds spaces or commas; API Gateway joins repeated headers with a comma,
    // so this is also how two Authorization headers arrive there.
    if token.contains(|c: char| c.is_whitespace() || c == ',') {
        return Err(invalid_request());
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn request(auth: Option<&str>, body: &str) -> Request {
        let mut builder = http::Request::builder().method("POST").uri("/login");
        if let Some(a) = auth {
            builder = builder.header("authorization", a);
        }
        builder.body(Body::from(body)).unwrap()
    }

    #[test]
    fn bearer_token_accepts_any_scheme_case() {
        for header in ["Bearer abc", "bearer abc", "BEARER   abc  "] {
            assert_eq!(
                bearer_token(&request(Some(header), ""), "r").unwrap(),
                "abc"
            );
        }
    }

    #[test]
    fn bearer_token_without_credentials_is_missing() {
        for header in [None, Some(""), Some("   "), Some("Basic dXNlcjpwYXNz")] {
            let err = bearer_token(&request(header, ""), "r").unwrap_err();
            assert_eq!(err.code(), "missing_token", "{header:?}");
        }
    }

    #[test]
    fn bearer_token_empty_or_huge_is_invalid() {
        let huge = format!("Bearer {}", "a".repeat(MAX_TOKEN_BYTES + 1));
        for header in ["Bearer", "Bearer    ", huge.as_str()] {
            let err = bearer_token(&request(Some(header), ""), "r").unwrap_err();
            assert_eq!(err.code(), "invalid_token", "{header:.20}");
        }
    }

    #[test]
    fn json_object_bodies_are_bounded_and_each_refusal_says_what_was_wrong() {
        assert!(read_json_object(&request(None, r#"{"a":1}"#)).is_ok());
        let cases = [
            ("", "must be valid JSON"),
            ("not json", "must be valid JSON"),
            ("{\"a\":", "must be valid JSON"),
            ("[1,2]", "must be a JSON object"),
            ("null", "must be a JSON object"),
            ("\"str\"", "must be a JSON object"),
            ("42", "must be a JSON object"),
            (r#"{"a":1,"a":2}"#, "must not repeat a key"),
        ];
        for (body, message) in cases {
            match read_json_object(&request(None, body)) {
                Err(ApiError::Validation(details)) => {
                    assert_eq!(details["body"], vec![message.to_owned()], "body {body:?}")
                }
                other => panic!("body {body:?}: {other:?}"),
            }
        }
        let big = format!(r#"{{"a":"{}"}}"#, "x".repeat(MAX_BODY_BYTES));
        assert_eq!(
            read_json_object(&request(None, &big)).unwrap_err().code(),
            "payload_too_large"
        );
    }
}
