//! The one error type of the API and its mapping to status, headers and JSON body.
//!
//! Client errors say what to fix. Server errors say nothing specific: they carry the request id,
//! and their cause chain goes to the log, never into the response.

use std::collections::BTreeMap;

use http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};
use serde::Serialize;

use crate::http::{RequestMeta, json_response};
use crate::rate_limit::Refusal;

/// A boxed cause, kept for the log.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Field name → messages, as returned in `details` of a 400.
pub type FieldErrors = BTreeMap<String, Vec<String>>;

/// Seconds a client should wait before retrying after a 503.
pub const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 1;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("request failed validation")]
    Validation(FieldErrors),
    #[error("user already exists")]
    UserExists,
    #[error("bad username or password")]
    InvalidCredentials,
    #[error("rate limited by {}", .0.policy.name)]
    RateLimited(Refusal),
    #[error("no bearer token")]
    MissingToken { realm: String },
    #[error("invalid bearer token")]
    InvalidToken { realm: String },
    #[error("malformed or repeated bearer credentials")]
    InvalidRequest { realm: String },
    #[error("refresh token refused")]
    InvalidGrant,
    #[error("no such route")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed { allow: &'static str },
    #[error("body larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("a dependency is unavailable")]
    Unavailable(#[source] BoxError),
    #[error("internal error")]
    Internal(#[source] BoxError),
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

impl ApiError {
    /// A 400 with one message for one field.
    pub fn invalid(field: &str, message: &str) -> Self {
        let mut details = FieldErrors::new();
        details.insert(field.to_owned(), vec![message.to_owned()]);
        Self::Validation(details)
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Validation(_) | Self::InvalidRequest { .. } => StatusCode::BAD_REQUEST,
            Self::UserExists => StatusCode::CONFLICT,
            Self::InvalidCredentials
            | Self::MissingToken { .. }
            | Self::InvalidToken { .. }
            | Self::InvalidGrant => StatusCode::UNAUTHORIZED,
            Self::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code in the body's `error` field.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Validation(_) => "validation_error",
            Self::UserExists => "user_exists",
            Self::InvalidCredentials => "invalid_credentials",
            Self::RateLimited(_) => "rate_limited",
            Self::MissingToken { .. } => "missing_token",
            Self::InvalidToken { .. } => "invalid_token",
            Self::InvalidRequest { .. } => "invalid_request",
            Self::InvalidGrant => "invalid_grant",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::Unavailable(_) => "service_unavailable",
            Self::Internal(_) => "internal",
        }
    }

    fn message(&self) -> &'static str {
        match self {
            Self::Validation(_) => "Invalid request",
            Self::UserExists => "User already exists",
            Self::InvalidCredentials => "Bad username or password",
            Self::RateLimited(_) => "Too many attempts, try again later",
            Self::MissingToken { .. } => "Missing Authorization header with a Bearer token",
            Self::InvalidToken { .. } => "Invalid or expired token",
            Self::InvalidRequest { .. } => "Malformed Authorization header: send one Bearer token",
            Self::InvalidGrant => "Invalid, expired or revoked refresh token",
            Self::NotFound => "Not found",
            Self::MethodNotAllowed { .. } => "Method not allowed",
            Self::PayloadTooLarge { .. } => "Request body too large",
            Self::Unavailable(_) => "Service temporarily unavailable, try again shortly",
            Self::Internal(_) => "Internal server error",
        }
    }

    /// Turns the error into the response the client sees. 5xx causes are logged here, once.
    pub fn into_response(self, meta: &RequestMeta) -> Response<Body> {
        let status = self.status();
        let server_side = status.is_server_error();
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
            Self::MethodNotAllowed { allow } => insert(headers, header::ALLOW, allow),
            Self::RateLimited(refusal) => refusal.write_headers(headers),
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

/// Inserts a header whose value we built ourselves; a value that is somehow not a valid header
/// (for example a realm with a newline from a bad config) is dropped rather than panicking.
pub(crate) fn insert(headers: &mut http::HeaderMap, name: header::HeaderName, value: &str) {
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
    fn each_error_maps_to_its_status_and_code() {
        let cases: Vec<(ApiError, u16, &str)> = vec![
            (ApiError::invalid("username", "x"), 400, "validation_error"),
            (ApiError::UserExists, 409, "user_exists"),
            (ApiError::InvalidCredentials, 401, "invalid_credentials"),
            (
                ApiError::MissingToken { realm: "r".into() },
                401,
                "missing_token",
            ),
            (
                ApiError::InvalidToken { realm: "r".into() },
                401,
                "invalid_token",
            ),
            (ApiError::InvalidGrant, 401, "invalid_grant"),
            (
                ApiError::InvalidRequest { realm: "r".into() },
                400,
                "invalid_request",
            ),
            (ApiError::NotFound, 404, "not_found"),
            (
                ApiError::MethodNotAllowed { allow: "POST" },
                405,
                "method_not_allowed",
            ),
            (
                ApiError::PayloadTooLarge { limit: 1 },
                413,
                "payload_too_large",
            ),
            (
                ApiError::Unavailable("down".into()),
                503,
                "service_unavailable",
            ),
            (ApiError::Internal("boom".into()), 500, "internal"),
        ];
        for (error, status, code) in cases {
            let response = error.into_response(&meta());
            assert_eq!(response.status().as_u16(), status, "status of {code}");
            let b = body(&response);
            assert_eq!(b["error"], code);
            assert!(b["msg"].is_string(), "msg of {code}");
            assert_eq!(
                response.headers()["content-type"],
                "application/json",
                "content type of {code}"
            );
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
        let missing = ApiError::MissingToken {
            realm: "api".into(),
        }
        .into_response(&meta());
        assert_eq!(
            missing.headers()["www-authenticate"],
            "Bearer realm=\"api\""
        );
        let invalid = ApiError::InvalidToken {
            realm: "api".into(),
        }
        .into_response(&meta());
        assert_eq!(
            invalid.headers()["www-authenticate"],
            "Bearer realm=\"api\", error=\"invalid_token\""
        );
    }

    #[test]
    fn method_not_allowed_lists_allowed_methods() {
        let r = ApiError::MethodNotAllowed { allow: "POST" }.into_response(&meta());
        assert_eq!(r.headers()["allow"], "POST");
    }
}
