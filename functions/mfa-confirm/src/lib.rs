//! `POST /mfa/totp/confirm` `{"code"}`: turns MFA on with the first code of the secret that
//! `POST /mfa/totp` left pending, answers the ten recovery codes (shown this once; only their
//! hashes are stored), and revokes every other session of the caller, so that a session opened
//! with the password alone does not outlive the change. The calling session stays valid.
//!
//! A wrong code counts against the account's login failure limits (`shared::lockout`, taken
//! before any work, `429 rate_limited` once spent), so the million codes cannot be walked with
//! a stolen access token. The code's time step is stored as the last one accepted, so the same
//! code cannot serve a step-up later. The change is one conditional write on the pending secret
//! as read: of two concurrent confirmations one wins, the other is `409 no_pending_enrollment`.
//!
//! If the revocation fails after the write (a 503), MFA is on but the codes were not seen: a
//! retry answers `409 mfa_already_enabled`; `POST /mfa/recovery-codes` gives a new set and
//! `DELETE /sessions` completes the revocation.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::json;
use shared::account::{Caller, totp_code_body};
use shared::audit::{Action, Notice, Outcome, Who};
use shared::http::json_response;
use shared::mfa;
use shared::store::{MfaChange, MfaProof, UserRecord};
use shared::{ApiError, RequestMeta};

pub use shared::account::{Deps, Settings};

/// Handles one request; every outcome, error or not, is a response.
pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    let meta = RequestMeta::of(&req);
    confirm(deps, &req, &meta)
        .await
        .unwrap_or_else(|e| e.into_response(&meta))
}

async fn confirm(
    deps: &Deps,
    req: &Request,
    meta: &RequestMeta,
) -> Result<Response<Body>, ApiError> {
    let (caller, body) = deps.caller_and_body(req, Method::POST).await?;
    let code = totp_code_body(&body, "must be 6 digits")?;

    let action = Action::MfaConfirm;
    let (codes, user) = deps
        .check_code(&caller, action, meta, async |user, now| {
            let codes = turn_on(deps, &caller, &user, code, now).await?;
            Ok((codes, user))
        })
        .await?;
    let who = Who::of(&caller.claims);
    deps.audit
        .record(meta, action, Outcome::Success, "mfa_enabled", who);
    deps.notifier()
        .notify(meta, &user, Notice::MfaEnabled, who)
        .await;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "recovery_codes": codes }),
    ))
}

/// Checks `code` against the pending secret of `user` (the caller's) and, when right, turns MFA
/// on with a new set of recovery codes (returned) and revokes the caller's other sessions.
async fn turn_on(
    deps: &Deps,
    caller: &Caller,
    user: &UserRecord,
    code: &str,
    now: u64,
) -> Result<Vec<String>, ApiError> {
    if user.mfa.enabled() {
        return Err(ApiError::MfaAlreadyEnabled);
    }
    let Some(pending) = user.mfa.pending.clone() else {
        return Err(ApiError::NoPendingEnrollment);
    };
    let user_id = caller.claims.sub.as_str();
    let secret = deps.mfa_key()?.open(user_id, &pending)?;
    let step = mfa::check_totp(&secret, code, now).ok_or(ApiError::InvalidCode)?;
    let codes = mfa::new_recovery_codes()?;
    let change = MfaChange::Confirm {
        pending,
        recovery: mfa::recovery_code_hashes(user_id, &codes)?,
    };
    let written = deps
        .users
        .update_mfa(&caller.key(), user_id, &MfaProof::Step(step), &change)
        .await?;
    if !written {
        // Confirmed, replaced or removed by a concurrent request since it was read.
        return Err(ApiError::NoPendingEnrollment);
    }
    deps.sessions
        .revoke_all(user_id, Some(&caller.session.id), now)
        .await?;
    Ok(codes)
}
