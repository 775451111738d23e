//! Everything a response is made of: the JSON and empty responses with the headers every response
//! carries, the rendering of an [`ApiError`] (body, challenge and retry headers, the log line of
//! a 5xx), and the rate-limit headers.

use http::{HeaderMap, HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};
use serde::Serialize;

use crate::config::Limit;
use crate::error::{ApiError, FieldErrors};
use crate::http::RequestMeta;
use crate::rate_limit::{Refusal, Slot};

/// Seconds a client should wait before retrying after a 503.
pub const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 1;

/// A JSON response with the headers every response of this API carries.
///
/// `no-store` everywhere: responses of an auth API are per-user or carry tokens, and none is
/// worth caching. `nosniff` keeps browsers from reinterpreting JSON as anything else.
pub fn json_response(status: StatusCode, body: &impl Serialize) -> Response<Body> {
    // Serialising our own plain structs cannot fail; if it ever did, an empty object is still JSON.
    let text = serde_json::to_string(body).unwrap_or_else(|_| "{}".to_owned());
    let mut response = empty_response(status);
    // Text, not binary: `lambda_http` would base64-encode a binary body for API Gateway, which
    // decodes it again; JSON is text.
    *response.body_mut() = Body::Text(text);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A response with no body (for 204), with the same security headers as [`json_response`].
pub fn empty_response(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // HTTPS only, for a year, on every subdomain too; and no Referer from any page that
    // renders an answer (a token or a link in a URL never leaks to a third party through it).
    headers.insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000; includeSubDomains"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    msg: &'a str,
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<&'a FieldErrors>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
}

// Defined here, not in `error`, so that the error vocabulary knows nothing of responses.
impl ApiError {
    /// Turns the error into the response the client sees. 5xx causes are logged here, once.
    pub fn into_response(self, meta: &RequestMeta) -> Response<Body> {
        let status = self.status();
        let server_side = status.is_server_error();
        if let Self::Unavailable(cause) = &self {
            crate::metrics::dependency_failure(dependency(cause.as_ref()));
        }
        if server_side {
            tracing::error!(
                error.code = self.code(),
                error.cause = %cause_chain(&self),
                request_id = %meta.request_id,
                "request failed"
            );
        }
        let details = match &self {
            Self::Validation(d) => Some(d),
            _ => None,
        };
        let body = ErrorBody {
            msg: self.message(),
            error: self.code(),
            details,
            request_id: server_side.then_some(meta.request_id.as_str()),
        };
        let mut response = json_response(status, &body);
        let headers = response.headers_mut();
        match &self {
            Self::MissingToken { realm } => {
                insert(
                    headers,
                    header::WWW_AUTHENTICATE,
                    &format!("Bearer realm=\"{realm}\""),
                );
            }
            Self::InvalidToken { realm } => {
                insert(
                    headers,
                    header::WWW_AUTHENTICATE,
                    &format!("Bearer realm=\"{realm}\", error=\"invalid_token\""),
                );
            }
            Self::InvalidRequest { realm } => {
                insert(
                    headers,
                    header::WWW_AUTHENTICATE,
                    &format!("Bearer realm=\"{realm}\", error=\"invalid_request\""),
                );
            }
            Self::InsufficientScope { realm, scope } => {
                insert(
                    headers,
                    header::WWW_AUTHENTICATE,
                    &format!(
                        "Bearer realm=\"{realm}\", error=\"insufficient_scope\", scope=\"{scope}\""
                    ),
                );
            }
            Self::InsufficientUserAuthentication { realm } => {
                // RFC 9470 section 3.
                insert(
                    headers,
                    header::WWW_AUTHENTICATE,
                    &format!(
                        "Bearer realm=\"{realm}\", error=\"insufficient_user_authentication\", \
                         error_description=\"A second factor is required\""
                    ),
                );
            }
            Self::MethodNotAllowed { allow } => insert(headers, header::ALLOW, allow),
            Self::RateLimited(refusal) => refused_headers(refusal, headers),
            Self::Unavailable(_) => insert(
                headers,
                header::RETRY_AFTER,
                &UNAVAILABLE_RETRY_AFTER_SECS.to_string(),
            ),
            _ => {}
        }
        response
    }
}

/// The IETF rate-limit headers (draft-ietf-httpapi-ratelimit-headers) for an admitted request:
/// `RateLimit-Policy: "login-ip";q=5;w=60` and `RateLimit: "login-ip";r=4;t=42`, how many
/// attempts are left in this window and when it resets.
pub fn admitted_headers(slot: &Slot, policy: &Limit, headers: &mut HeaderMap) {
    policy_header(policy, headers);
    remaining_header(policy, slot.remaining, slot.reset_in, headers);
}

/// `Retry-After` plus the rate-limit headers of a refused request (`r=0`).
fn refused_headers(refusal: &Refusal, headers: &mut HeaderMap) {
    insert(
        headers,
        header::RETRY_AFTER,
        &refusal.retry_after.to_string(),
    );
    policy_header(&refusal.policy, headers);
    remaining_header(&refusal.policy, 0, refusal.retry_after, headers);
}

fn policy_header(p: &Limit, headers: &mut HeaderMap) {
    insert(
        headers,
        header::HeaderName::from_static("ratelimit-policy"),
        &format!("\"{}\";q={};w={}", p.name, p.limit, p.window_seconds),
    );
}

fn remaining_header(p: &Limit, remaining: u32, reset_in: u64, headers: &mut HeaderMap) {
    insert(
        headers,
        header::HeaderName::from_static("ratelimit"),
        &format!("\"{}\";r={remaining};t={reset_in}", p.name),
    );
}

/// Inserts a header whose value we built ourselves; a value that is somehow not a valid header
/// (for example a realm with a newline from a bad config) is dropped rather than panicking.
fn insert(headers: &mut HeaderMap, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}

/// `outer: inner: innermost`, for the log.
fn cause_chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

/// Which dependency a `503`'s cause is (the `Dependency` of its metric): DynamoDB behind the
/// store, SES behind the mailer, else `other` (a stack without mail, say).
fn dependency(cause: &(dyn std::error::Error + 'static)) -> &'static str {
    if cause.is::<crate::store::StoreError>() {
        return "dynamodb";
    }
    #[cfg(feature = "mail")]
    if cause.is::<crate::mail::MailError>() {
        return "ses";
    }
    "other"
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn meta() -> RequestMeta {
        RequestMeta {
            request_id: "req-1".into(),
            source_ip: "203.0.113.9".into(),
        }
    }

    fn body(r: &Response<Body>) -> serde_json::Value {
        serde_json::from_slice(r.body().as_ref()).unwrap()
    }

    #[test]
    fn every_error_renders_as_json_with_its_status_code_and_message() {
        for error in [
            ApiError::invalid("username", "x"),
            ApiError::UserExists,
            ApiError::InvalidGrant,
            ApiError::NotFound,
            ApiError::Internal("boom".into()),
        ] {
            let (status, code, msg) = (error.status(), error.code(), error.message());
            let response = error.into_response(&meta());
            assert_eq!(response.status(), status, "{code}");
            let b = body(&response);
            assert_eq!(
                (b["error"].as_str(), b["msg"].as_str()),
                (Some(code), Some(msg))
            );
            assert_eq!(response.headers()["content-type"], "application/json");
            assert_eq!(response.headers()["cache-control"], "no-store");
            assert_eq!(response.headers()["x-content-type-options"], "nosniff");
            assert_eq!(
                response.headers()["strict-transport-security"],
                "max-age=31536000; includeSubDomains"
            );
            assert_eq!(response.headers()["referrer-policy"], "no-referrer");
            // A text body goes to API Gateway as it is; a binary one would be base64-encoded.
            assert!(matches!(response.body(), Body::Text(_)), "{code}");
        }
    }

    #[test]
    fn validation_error_carries_details() {
        let b = body(&ApiError::invalid("password", "too short").into_response(&meta()));
        assert_eq!(b["details"]["password"][0], "too short");
    }

    #[test]
    fn server_errors_carry_request_id_but_not_the_cause() {
        let r = ApiError::Internal("secret table name leaked".into()).into_response(&meta());
        let text = String::from_utf8(r.body().as_ref().to_vec()).unwrap();
        assert!(!text.contains("secret table name"), "{text}");
        assert_eq!(body(&r)["request_id"], "req-1");
    }

    #[test]
    fn client_errors_carry_no_request_id() {
        let b = body(&ApiError::NotFound.into_response(&meta()));
        assert!(b.get("request_id").is_none());
    }

    #[test]
    fn unavailable_says_when_to_retry() {
        let r = ApiError::Unavailable("throttled".into()).into_response(&meta());
        assert_eq!(r.headers()["retry-after"], "1");
    }

    #[test]
    fn token_errors_carry_rfc6750_challenges() {
        let cases = [
            (
                ApiError::MissingToken {
                    realm: "api".into(),
                },
                "Bearer realm=\"api\"",
            ),
            (
                ApiError::InvalidToken {
                    realm: "api".into(),
                },
                "Bearer realm=\"api\", error=\"invalid_token\"",
            ),
            (
                ApiError::InvalidRequest {
                    realm: "api".into(),
                },
                "Bearer realm=\"api\", error=\"invalid_request\"",
            ),
            (
                ApiError::InsufficientScope {
                    realm: "api".into(),
                    scope: "admin",
                },
                "Bearer realm=\"api\", error=\"insufficient_scope\", scope=\"admin\"",
            ),
        ];
        for (error, challenge) in cases {
            let r = error.into_response(&meta());
            assert_eq!(r.headers()["www-authenticate"], challenge);
        }
    }

    #[test]
    fn method_not_allowed_lists_allowed_methods() {
        let r = ApiError::MethodNotAllowed {
            allow: "GET, PATCH".into(),
        }
        .into_response(&meta());
        assert_eq!(r.headers()["allow"], "GET, PATCH");
    }

    #[test]
    fn rate_limit_headers_say_the_policy_what_is_left_and_when_it_resets() {
        let policy = Limit {
            name: "login-ip",
            limit: 5,
            window_seconds: 60,
        };
        let refused = ApiError::RateLimited(Refusal {
            policy: policy.clone(),
            retry_after: 42,
        })
        .into_response(&meta());
        let h = refused.headers();
        assert_eq!(h["retry-after"], "42");
        assert_eq!(h["ratelimit-policy"], "\"login-ip\";q=5;w=60");
        assert_eq!(h["ratelimit"], "\"login-ip\";r=0;t=42");
    }

    #[test]
    fn a_header_value_that_is_not_valid_is_dropped_not_a_panic() {
        let r = ApiError::MissingToken {
            realm: "bad\nrealm".into(),
        }
        .into_response(&meta());
        assert!(r.headers().get("www-authenticate").is_none());
        assert_eq!(r.status(), 401);
    }
}
