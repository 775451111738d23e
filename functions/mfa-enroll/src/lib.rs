//! `POST /mfa/totp` `{"password"}`: starts a TOTP enrollment for the caller. A new secret is
//! kept pending (sealed under the MFA key and bound to the user's id) and shown once, in base32
//! and as an `otpauth://` URI; `POST /mfa/totp/confirm` with its first code turns MFA on. Asking
//! again replaces the pending secret, so only the latest one can be confirmed.
//!
//! The password is checked like a login (limited by the account's failure limits, a wrong one
//! counted), so a stolen access token alone cannot bind an attacker's authenticator. A user
//! whose MFA is already on gets `409 mfa_already_enabled`, after the password: before it, the
//! answer tells a token holder nothing.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use shared::account::{Checked, only_fields, password_field};
use shared::audit::{Action, Outcome, Who};
use shared::http::json_response;
use shared::mfa;
use shared::store::{MfaChange, MfaProof};
use shared::{ApiError, RequestMeta};

pub use shared::account::{Deps, Settings};

/// Handles one request; every outcome, error or not, is a response.
pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    let meta = RequestMeta::of(&req);
    enroll(deps, &req, &meta)
        .await
        .unwrap_or_else(|e| e.into_response(&meta))
}

async fn enroll(
    deps: &Deps,
    req: &Request,
    meta: &RequestMeta,
) -> Result<Response<Body>, ApiError> {
    let (caller, body) = deps.caller_and_body(req, Method::POST).await?;
    only_fields(&body, &["password"])?;
    let password = password_field(&body, "password", &caller.claims.preferred_username)?;

    let action = Action::MfaEnroll;
    let user = match deps
        .check_password(&caller, &password, action, meta)
        .await?
    {
        Checked::Matched(user) => user,
        Checked::Wrong(_) | Checked::Gone => {
            return Err(deps.wrong_password(meta, action, &caller));
        }
    };
    if user.mfa.enabled() {
        return Err(deps.failure(meta, action, &caller, ApiError::MfaAlreadyEnabled));
    }
    let mfa_key = deps.mfa_key()?;
    let key = caller.key();
    let user_id = caller.claims.sub.as_str();
    let secret = mfa::new_secret()?;
    let pending = MfaChange::Pending(mfa_key.seal(user_id, &secret)?);
    let written = deps
        .users
        .update_mfa(&key, user_id, &MfaProof::Nothing, &pending)
        .await?;
    if !written {
        // Turned on by a concurrent confirmation, or the user is gone (or is another one now).
        let now = deps.users.find(&key).await?;
        let error = match now {
            Some(u) if u.user_id.as_deref() == Some(user_id) && u.mfa.enabled() => {
                ApiError::MfaAlreadyEnabled
            }
            _ => deps.invalid_token(),
        };
        return Err(deps.failure(meta, action, &caller, error));
    }
    let enrollment = mfa::enrollment(&secret, &deps.mfa_issuer, &user.username)?;
    deps.audit.record(
        meta,
        action,
        Outcome::Success,
        "mfa_pending",
        Who::of(&caller.claims),
    );
    Ok(json_response(StatusCode::OK, &enrollment))
}
