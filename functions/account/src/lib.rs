//! `GET /account`: the caller's id, username, roles and second-factor state, read from the
//! store (not the token, which may predate a change):
//! `{"sub", "username", "roles", "mfa": {"totp", "recovery_codes_left"}, "email",
//! "email_verified", "pending_email"}`.
//!
//! `roles` are those the caller's next token will carry: the explicit roles and the implicit
//! `user`, sorted (as `RoleScopes::grant` lists them; a stored role no longer configured is
//! still named there too).
//!
//! `email` is the verified contact address (or `null`), `email_verified` whether there is one,
//! and `pending_email` an address waiting for its verification link (or `null`); both as the
//! user typed them.

use std::collections::BTreeSet;

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::json;
use shared::audit::{Action, Who};
use shared::http::{json_response, require_method};
use shared::roles::IMPLICIT_ROLE;
use shared::{ApiError, RequestMeta};

pub use shared::account::{Deps, Settings};

/// Handles one request; every outcome, error or not, is a response.
pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    let meta = RequestMeta::of(&req);
    show(deps, &req, &meta)
        .await
        .unwrap_or_else(|e| e.into_response(&meta))
}

async fn show(deps: &Deps, req: &Request, meta: &RequestMeta) -> Result<Response<Body>, ApiError> {
    require_method(req, Method::GET)?;
    let caller = deps.caller(req).await?;
    let user_id = caller.claims.sub.as_str();
    let user = deps.users.find(&caller.key()).await?;
    let user = deps.active_user(&caller, user).inspect_err(|error| {
        deps.audit.refused(
            meta,
            Action::ShowAccount,
            error.code(),
            Who::of(&caller.claims),
        );
    })?;
    let roles: BTreeSet<&str> = user
        .roles
        .iter()
        .map(String::as_str)
        .chain([IMPLICIT_ROLE])
        .collect();
    let recovery_codes_left = if user.mfa.enabled() {
        user.mfa.recovery.len()
    } else {
        0
    };
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "sub": user_id,
            "username": user.username,
            "roles": roles,
            "mfa": {
                "totp": user.mfa.enabled(),
                "recovery_codes_left": recovery_codes_left,
            },
            "email": user.email.verified,
            "email_verified": user.email.verified.is_some(),
            "pending_email": user.email.pending,
        }),
    ))
}
