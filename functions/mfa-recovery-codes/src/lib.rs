//! `POST /mfa/recovery-codes` `{"code"}`: a new set of ten recovery codes for a TOTP code (a
//! recovery code cannot make more of itself). The old set stops working at once: the new hashes
//! replace the old ones in the same conditional write that accepts the code's time step, so a
//! code works once and two concurrent requests with one code give one new set.
//!
//! A wrong code counts against the account's login failure limits (`shared::lockout`, taken
//! before any work, `429 rate_limited` once spent), as at `POST /mfa/totp/confirm`.

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
    regenerate(deps, &req, &meta)
        .await
        .unwrap_or_else(|e| e.into_response(&meta))
}

async fn regenerate(
    deps: &Deps,
    req: &Request,
    meta: &RequestMeta,
) -> Result<Response<Body>, ApiError> {
    let (caller, body) = deps.caller_and_body(req, Method::POST).await?;
    let code = totp_code_body(&body, "must be the 6 digits of the authenticator app")?;

    let action = Action::MfaRecoveryCodes;
    let (codes, user) = deps
        .check_code(&caller, action, meta, async |user, now| {
            let codes = replace_codes(deps, &caller, &user, code, now).await?;
            Ok((codes, user))
        })
        .await?;
    let who = Who::of(&caller.claims);
    deps.audit.record(
        meta,
        action,
        Outcome::Success,
        "recovery_codes_replaced",
        who,
    );
    deps.notifier()
        .notify(meta, &user, Notice::RecoveryCodesRegenerated, who)
        .await;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "recovery_codes": codes }),
    ))
}

/// Accepts `code` (a TOTP code of a step after the last accepted one) for `user` (the
/// caller's) and stores a new set of recovery codes in its place: the new codes. A replayed
/// code is `400 invalid_code`, counted like a wrong one.
async fn replace_codes(
    deps: &Deps,
    caller: &Caller,
    user: &UserRecord,
    code: &str,
    now: u64,
) -> Result<Vec<String>, ApiError> {
    if !user.mfa.enabled() {
        return Err(ApiError::MfaNotEnabled);
    }
    let user_id = caller.claims.sub.as_str();
    let step = match deps.proof(user, code, now)? {
        Some((MfaProof::Step(step), _)) => step,
        _ => return Err(ApiError::InvalidCode),
    };
    let codes = mfa::new_recovery_codes()?;
    let change = MfaChange::RecoveryCodes(mfa::recovery_code_hashes(user_id, &codes)?);
    let written = deps
        .users
        .update_mfa(&caller.key(), user_id, &MfaProof::Step(step), &change)
        .await?;
    if !written {
        // The step was accepted meanwhile (a replay), or MFA went off or the user changed.
        return Err(ApiError::InvalidCode);
    }
    Ok(codes)
}
