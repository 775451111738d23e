//! The one error type of the API: the vocabulary of failures, each with its HTTP status, its
//! stable `error` code and its message. Turning an error into a response (body, headers, the
//! log line of a 5xx) is [`crate::http::response`]'s job, one layer up.
//!
//! Client errors say what to fix. Server errors say nothing specific: they carry the request id,
//! and their cause chain goes to the log, never into the response.

use std::collections::BTreeMap;

use http::StatusCode;

use crate::rate_limit::Refusal;
use crate::store::StoreError;

pub use crate::store::BoxError;

/// Field name → messages, as returned in `details` of a 400.
pub type FieldErrors = BTreeMap<String, Vec<String>>;

/// Every way a request can fail.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 `validation_error`, with a message per field.
    #[error("request failed validation")]
    Validation(FieldErrors),
    /// 409 `user_exists`.
    #[error("user already exists")]
    UserExists,
    /// 401 `invalid_credentials`: unknown user and wrong password alike.
    #[error("bad username or password")]
    InvalidCredentials,
    /// 429 `rate_limited`.
    #[error("rate limited by {}", .0.policy.name)]
    RateLimited(Refusal),
    /// 401 `missing_token`, with a `WWW-Authenticate` challenge for `realm`.
    #[error("no bearer token")]
    MissingToken {
        /// The realm of the challenge.
        realm: String,
    },
    /// 401 `invalid_token`.
    #[error("invalid bearer token")]
    InvalidToken {
        /// The realm of the challenge.
        realm: String,
    },
    /// 400 `invalid_request`: credentials sent twice or malformed.
    #[error("malformed or repeated bearer credentials")]
    InvalidRequest {
        /// The realm of the challenge.
        realm: String,
    },
    /// 403 `account_disabled`: the right password for a disabled user.
    #[error("account disabled")]
    AccountDisabled,
    /// 403 `insufficient_scope`: a valid token without the scope the route requires.
    #[error("token lacks scope {scope}")]
    InsufficientScope {
        /// The realm of the challenge.
        realm: String,
        /// The scope the route requires.
        scope: &'static str,
    },
    /// 404 `user_not_found` (admin API).
    #[error("user not found")]
    UserNotFound,
    /// 404 `session_not_found`: not one of the caller's live sessions (unknown and another
    /// user's alike).
    #[error("session not found")]
    SessionNotFound,
    /// 409 `password_changed`: the password was changed by a concurrent request first.
    #[error("password changed concurrently")]
    PasswordChanged,
    /// 409 `last_admin`: the change would take the `admin` scope from a user while the admin
    /// making it is no longer an enabled admin, so none might remain.
    #[error("no enabled admin would remain")]
    LastAdmin,
    /// 403 `mfa_required`: the user has a second factor and the request did not give a code
    /// (the step-up routes; login answers its own 403 with an `mfa_token`).
    #[error("second factor required")]
    MfaRequired,
    /// 400 `invalid_code`: a wrong, replayed or used-up TOTP or recovery code.
    #[error("invalid code")]
    InvalidCode,
    /// 401 `invalid_code`: [`ApiError::InvalidCode`] at `POST /login/mfa`, where no bearer
    /// token says who is asking.
    #[error("invalid code at login")]
    InvalidLoginCode,
    /// 401 `invalid_mfa_token`: unknown, expired, used, spent by wrong codes, or its user
    /// is disabled or gone.
    #[error("invalid mfa token")]
    InvalidMfaToken,
    /// 409 `mfa_already_enabled`.
    #[error("mfa already enabled")]
    MfaAlreadyEnabled,
    /// 409 `mfa_not_enabled`.
    #[error("mfa not enabled")]
    MfaNotEnabled,
    /// 409 `no_pending_enrollment`.
    #[error("no pending enrollment")]
    NoPendingEnrollment,
    /// 403 `insufficient_user_authentication` (RFC 9470): a valid token whose `amr` lacks `mfa`
    /// on a route that requires it.
    #[error("token lacks mfa")]
    InsufficientUserAuthentication {
        /// The realm of the challenge.
        realm: String,
    },
    /// 400 `invalid_token`: a link token (verification, reset) that is unknown, expired, used
    /// or superseded. (A bearer token's refusal is the 401 [`ApiError::InvalidToken`].)
    #[error("invalid link token")]
    InvalidLinkToken,
    /// 409 `email_taken`: another account verified that address first.
    #[error("email taken")]
    EmailTaken,
    /// 409 `no_pending_email`: no address waits for verification.
    #[error("no pending email")]
    NoPendingEmail,
    /// 401 `invalid_grant`: every refused refresh token.
    #[error("refresh token refused")]
    InvalidGrant,
    /// 404 `not_found`.
    #[error("no such route")]
    NotFound,
    /// 405 `method_not_allowed`, with an `Allow` header.
    #[error("method not allowed")]
    MethodNotAllowed {
        /// The `Allow` header value.
        allow: String,
    },
    /// 413 `payload_too_large`.
    #[error("body larger than {limit} bytes")]
    PayloadTooLarge {
        /// The largest body accepted, in bytes.
        limit: usize,
    },
    /// 503 `service_unavailable`, with `Retry-After`: a dependency failed in a way worth
    /// retrying.
    #[error("a dependency is unavailable")]
    Unavailable(#[source] BoxError),
    /// 500 `internal`.
    #[error("internal error")]
    Internal(#[source] BoxError),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable { .. } => ApiError::Unavailable(Box::new(e)),
            StoreError::Failed { .. } => ApiError::Internal(Box::new(e)),
        }
    }
}

impl ApiError {
    /// A 400 with one message for one field.
    pub fn invalid(field: &str, message: &str) -> Self {
        let mut details = FieldErrors::new();
        details.insert(field.to_owned(), vec![message.to_owned()]);
        Self::Validation(details)
    }

    /// The one answer to several fields' problems: every field's messages in one `400`
    /// (so that a client sees them all at once), unless one of them is not about a field,
    /// which is then the answer.
    pub fn all_of(errors: impl IntoIterator<Item = ApiError>) -> Self {
        let mut details = FieldErrors::new();
        for error in errors {
            match error {
                Self::Validation(d) => details.extend(d),
                other => return other,
            }
        }
        Self::Validation(details)
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Validation(_) | Self::InvalidRequest { .. } => StatusCode::BAD_REQUEST,
            Self::UserExists
            | Self::PasswordChanged
            | Self::LastAdmin
            | Self::MfaAlreadyEnabled
            | Self::MfaNotEnabled
            | Self::NoPendingEnrollment
            | Self::EmailTaken
            | Self::NoPendingEmail => StatusCode::CONFLICT,
            Self::InvalidCode | Self::InvalidLinkToken => StatusCode::BAD_REQUEST,
            Self::InvalidLoginCode | Self::InvalidMfaToken => StatusCode::UNAUTHORIZED,
            Self::MfaRequired | Self::InsufficientUserAuthentication { .. } => {
                StatusCode::FORBIDDEN
            }
            Self::InvalidCredentials
            | Self::MissingToken { .. }
            | Self::InvalidToken { .. }
            | Self::InvalidGrant => StatusCode::UNAUTHORIZED,
            Self::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::AccountDisabled | Self::InsufficientScope { .. } => StatusCode::FORBIDDEN,
            Self::UserNotFound | Self::SessionNotFound => StatusCode::NOT_FOUND,
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
            Self::AccountDisabled => "account_disabled",
            Self::InsufficientScope { .. } => "insufficient_scope",
            Self::UserNotFound => "user_not_found",
            Self::SessionNotFound => "session_not_found",
            Self::PasswordChanged => "password_changed",
            Self::LastAdmin => "last_admin",
            Self::MfaRequired => "mfa_required",
            Self::InvalidCode | Self::InvalidLoginCode => "invalid_code",
            Self::InvalidMfaToken => "invalid_mfa_token",
            Self::MfaAlreadyEnabled => "mfa_already_enabled",
            Self::MfaNotEnabled => "mfa_not_enabled",
            Self::NoPendingEnrollment => "no_pending_enrollment",
            Self::InvalidLinkToken => "invalid_token",
            Self::EmailTaken => "email_taken",
            Self::NoPendingEmail => "no_pending_email",
            Self::InsufficientUserAuthentication { .. } => "insufficient_user_authentication",
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

    /// The human-readable `msg` of the body: what to fix, never an internal detail.
    pub fn message(&self) -> &'static str {
        match self {
            Self::Validation(_) => "Invalid request",
            Self::UserExists => "User already exists",
            Self::InvalidCredentials => "Bad username or password",
            Self::RateLimited(_) => "Too many attempts, try again later",
            Self::AccountDisabled => "Account disabled",
            Self::InsufficientScope { .. } => "Insufficient scope",
            Self::UserNotFound => "User not found",
            Self::SessionNotFound => "Session not found",
            Self::PasswordChanged => "The password was changed by another request",
            Self::LastAdmin => "No enabled admin would remain",
            Self::MfaRequired => "A second factor is required: send a code",
            Self::InvalidCode | Self::InvalidLoginCode => "Invalid code",
            Self::InvalidMfaToken => "Invalid or expired mfa_token: log in again",
            Self::MfaAlreadyEnabled => "Two-factor authentication is already on",
            Self::MfaNotEnabled => "Two-factor authentication is not on",
            Self::NoPendingEnrollment => "No pending enrollment: start with POST /mfa/totp",
            Self::InvalidLinkToken => "Invalid or expired link: ask for a new one",
            Self::EmailTaken => "That address belongs to another account",
            Self::NoPendingEmail => "No address is waiting for verification",
            Self::InsufficientUserAuthentication { .. } => {
                "This route needs a login with a second factor"
            }
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
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn all_of_gathers_every_fields_messages_unless_one_error_is_not_about_a_field() {
        let both = ApiError::all_of([
            ApiError::invalid("email", "is required"),
            ApiError::invalid("password", "is too short"),
        ]);
        let ApiError::Validation(details) = both else {
            panic!("{both:?}")
        };
        assert_eq!(details.len(), 2, "{details:?}");
        let other = ApiError::all_of([
            ApiError::invalid("email", "is required"),
            ApiError::PayloadTooLarge { limit: 1 },
        ]);
        assert_eq!(other.code(), "payload_too_large");
    }

    #[test]
    fn each_error_maps_to_its_status_and_code() {
        let cases: Vec<(ApiError, u16, &str)> = vec![
            (ApiError::invalid("username", "x"), 400, "validation_error"),
            (ApiError::UserExists, 409, "user_exists"),
            (ApiError::LastAdmin, 409, "last_admin"),
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
            (ApiError::MfaRequired, 403, "mfa_required"),
            (ApiError::InvalidCode, 400, "invalid_code"),
            (ApiError::InvalidLoginCode, 401, "invalid_code"),
            (ApiError::InvalidMfaToken, 401, "invalid_mfa_token"),
            (ApiError::MfaAlreadyEnabled, 409, "mfa_already_enabled"),
            (ApiError::MfaNotEnabled, 409, "mfa_not_enabled"),
            (ApiError::NoPendingEnrollment, 409, "no_pending_enrollment"),
            (ApiError::InvalidLinkToken, 400, "invalid_token"),
            (ApiError::EmailTaken, 409, "email_taken"),
            (ApiError::NoPendingEmail, 409, "no_pending_email"),
            (
                ApiError::InsufficientUserAuthentication { realm: "r".into() },
                403,
                "insufficient_user_authentication",
            ),
            (ApiError::SessionNotFound, 404, "session_not_found"),
            (ApiError::PasswordChanged, 409, "password_changed"),
            (ApiError::AccountDisabled, 403, "account_disabled"),
            (
                ApiError::InsufficientScope {
                    realm: "r".into(),
                    scope: "admin",
                },
                403,
                "insufficient_scope",
            ),
            (ApiError::UserNotFound, 404, "user_not_found"),
            (
                ApiError::InvalidRequest { realm: "r".into() },
                400,
                "invalid_request",
            ),
            (ApiError::NotFound, 404, "not_found"),
            (
                ApiError::MethodNotAllowed {
                    allow: "POST".into(),
                },
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
            assert_eq!(error.status().as_u16(), status, "status of {code}");
            assert_eq!(error.code(), code);
            assert!(!error.message().is_empty(), "msg of {code}");
        }
    }

    #[test]
    fn store_failures_are_503_when_retryable_and_500_otherwise() {
        let unavailable = StoreError::Unavailable {
            op: "users.get",
            source: "throttled".into(),
        };
        let failed = StoreError::Failed {
            op: "users.get",
            source: "validation".into(),
        };
        assert_eq!(ApiError::from(unavailable).status(), 503);
        assert_eq!(ApiError::from(failed).status(), 500);
    }
}
