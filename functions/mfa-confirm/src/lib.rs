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
use serde_json::{Map, Value, json};
use shared::account::{Caller, code_field, is_totp_code, only_fields};
use shared::audit::{Action, Notice, Outcome, Who};
use shared::http::{json_response, read_json_object, require_method};
use shared::lockout::Lockout;
use shared::mfa;
use shared::store::{MfaChange, MfaProof, StoreError, UserRecord};
use shared::{ApiError, RequestMeta};

pub use shared::account::{Deps, Settings};

/// Handles one request; every outcome, error or not, is a response.
pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    let meta = RequestMeta::of(&req);
    confirm(deps, &req, &meta)
        .await
        .unwrap_or_else(|e| e.into_response(&meta))
}

/// The body's `code`: six digits.
fn parse(body: &Map<String, Value>) -> Result<&str, ApiError> {
    only_fields(body, &["code"])?;
    match code_field(body, "code")? {
        Some(code) if is_totp_code(code) => Ok(code),
        Some(_) => Err(ApiError::invalid("code", "must be 6 digits")),
        None => Err(ApiError::invalid("code", "is required")),
    }
}

async fn confirm(
    deps: &Deps,
    req: &Request,
    meta: &RequestMeta,
) -> Result<Response<Body>, ApiError> {
    require_method(req, Method::POST)?;
    let caller = deps.caller(req).await?;
    let body = read_json_object(req)?;
    let code = parse(&body)?;

    let action = Action::MfaConfirm;
    let who = Who::of(&caller.claims);
    let now = (deps.clock)();
    let key = caller.key();
    let lockout = Lockout::new(&deps.limiter, deps.counters.as_ref(), &deps.limits);
    let (attempt, user) = lockout
        .begin(&key, &meta.source_ip, now, deps.users.find(&key))
        .await;
    let attempt = attempt.map_err(|e| deps.audit.limited(meta, action, e, who))?;
    let result = turn_on(deps, &caller, user, code, now).await;
    // A wrong code counts like a wrong password. Anything else gives the slots back; a right
    // code makes no source familiar, as it is no login.
    if matches!(result, Err(ApiError::InvalidCode)) {
        lockout.failed(attempt).await;
    } else {
        lockout.abandoned(attempt).await;
    }
    match result {
        Ok(codes) => {
            deps.audit
                .record(meta, action, Outcome::Success, "mfa_enabled", who);
            deps.audit.notify(meta, Notice::MfaEnabled, who);
            Ok(json_response(
                StatusCode::OK,
                &json!({ "recovery_codes": codes }),
            ))
        }
        Err(error) => {
            if error.status().is_client_error() {
                deps.audit
                    .record(meta, action, Outcome::Failure, error.code(), who);
            }
            Err(error)
        }
    }
}

/// Checks `code` against the caller's pending secret and, when right, turns MFA on with a new
/// set of recovery codes (returned) and revokes the caller's other sessions.
async fn turn_on(
    deps: &Deps,
    caller: &Caller,
    user: Result<Option<UserRecord>, StoreError>,
    code: &str,
    now: u64,
) -> Result<Vec<String>, ApiError> {
    let user_id = caller.claims.sub.as_str();
    // A new user of the same name is not the caller; a disabled one acts no more.
    let Some(user) = user?.filter(|u| u.user_id.as_deref() == Some(user_id) && !u.disabled) else {
        tracing::info!(reason = "user_gone_or_disabled", "token refused");
        return Err(ApiError::InvalidToken {
            realm: deps.realm.clone(),
        });
    };
    if user.mfa.enabled() {
        return Err(ApiError::MfaAlreadyEnabled);
    }
    let Some(pending) = user.mfa.pending else {
        return Err(ApiError::NoPendingEnrollment);
    };
    let mfa_key = deps
        .mfa_key
        .as_deref()
        .ok_or_else(|| ApiError::Internal("this function holds no mfa key".into()))?;
    let secret = mfa_key.open(user_id, &pending)?;
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
