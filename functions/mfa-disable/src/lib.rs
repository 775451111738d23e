//! `DELETE /mfa/totp` `{"password", "code"}`: turns the caller's MFA off (the secret, any
//! pending one, the last accepted step and the recovery codes are removed). `code` is a TOTP
//! code or a recovery code.
//!
//! The password and the code are checked as one limited attempt
//! (`Deps::check_password_and_code`, like login): a wrong password is `401
//! invalid_credentials`, no code `403 mfa_required`, a wrong, replayed or used-up one `400
//! invalid_code` (counted), and a right one is consumed before anything else happens. A user
//! whose MFA is off gets `409 mfa_not_enabled`, after the password.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use shared::account::{Checked, password_and_code};
use shared::audit::{Action, Notice, Outcome, Who};
use shared::http::empty_response;
use shared::store::{MfaChange, MfaProof};
use shared::{ApiError, RequestMeta};

pub use shared::account::{Deps, Settings};

/// Handles one request; every outcome, error or not, is a response.
pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    let meta = RequestMeta::of(&req);
    disable(deps, &req, &meta)
        .await
        .unwrap_or_else(|e| e.into_response(&meta))
}

async fn disable(
    deps: &Deps,
    req: &Request,
    meta: &RequestMeta,
) -> Result<Response<Body>, ApiError> {
    let (caller, body) = deps.caller_and_body(req, Method::DELETE).await?;
    let (password, code) = password_and_code(&body, &caller.claims.preferred_username)?;

    let action = Action::MfaDisable;
    let who = Who::of(&caller.claims);
    let user = match deps
        .check_password_and_code(&caller, &password, code, action, meta)
        .await?
    {
        Checked::Matched(user) => user,
        Checked::Wrong(_) | Checked::Gone => {
            return Err(deps.wrong_password(meta, action, &caller));
        }
    };
    if !user.mfa.enabled() {
        return Err(deps.failure(meta, action, &caller, ApiError::MfaNotEnabled));
    }
    let user_id = caller.claims.sub.as_str();
    let removed = deps
        .users
        .update_mfa(
            &caller.key(),
            user_id,
            &MfaProof::Nothing,
            &MfaChange::Remove,
        )
        .await?;
    if !removed {
        // The user is gone (or is another one now) since the check.
        return Err(deps.failure(meta, action, &caller, deps.invalid_token()));
    }
    deps.audit
        .record(meta, action, Outcome::Success, "mfa_disabled", who);
    deps.notifier()
        .notify(meta, &user, Notice::MfaDisabled, who)
        .await;
    Ok(empty_response(StatusCode::NO_CONTENT))
}
