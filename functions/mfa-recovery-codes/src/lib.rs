//! `POST /mfa/recovery-codes` `{"code"}`: a new set of ten recovery codes for a TOTP code (a
//! recovery code cannot make more of itself). The old set stops working at once: the new hashes
//! replace the old ones in the same conditional write that accepts the code's time step, so a
//! code works once and two concurrent requests with one code give one new set.
//!
//! A wrong code counts against the account's login failure limits (`shared::lockout`, taken
//! before any work, `429 rate_limited` once spent), as at `POST /mfa/totp/confirm`.

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
    regenerate(deps, &req, &meta)
        .await
        .unwrap_or_else(|e| e.into_response(&meta))
}

/// The body's `code`: six digits (a TOTP code).
fn parse(body: &Map<String, Value>) -> Result<&str, ApiError> {
    only_fields(body, &["code"])?;
    match code_field(body, "code")? {
        Some(code) if is_totp_code(code) => Ok(code),
        Some(_) => Err(ApiError::invalid(
            "code",
            "must be the 6 digits of the authenticator app",
        )),
        None => Err(ApiError::invalid("code", "is required")),
    }
}

async fn regenerate(
    deps: &Deps,
    req: &Request,
    meta: &RequestMeta,
) -> Result<Response<Body>, ApiError> {
    require_method(req, Method::POST)?;
    let caller = deps.caller(req).await?;
    let body = read_json_object(req)?;
    let code = parse(&body)?;

    let action = Action::MfaRecoveryCodes;
    let who = Who::of(&caller.claims);
    let now = (deps.clock)();
    let key = caller.key();
    let lockout = Lockout::new(&deps.limiter, deps.counters.as_ref(), &deps.limits);
    let (attempt, user) = lockout
        .begin(&key, &meta.source_ip, now, deps.users.find(&key))
        .await;
    let attempt = attempt.map_err(|e| deps.audit.limited(meta, action, e, who))?;
    let result = replace_codes(deps, &caller, user, code, now).await;
    // A wrong (or replayed) code counts like a wrong password; anything else gives the slots
    // back, and makes no source familiar (it is no login).
    if matches!(result, Err(ApiError::InvalidCode)) {
        lockout.failed(attempt).await;
    } else {
        lockout.abandoned(attempt).await;
    }
    match result {
        Ok(codes) => {
            deps.audit.record(
                meta,
                action,
                Outcome::Success,
                "recovery_codes_replaced",
                who,
            );
            deps.audit
                .notify(meta, Notice::RecoveryCodesRegenerated, who);
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

/// Accepts `code` (a TOTP code of a step after the last accepted one) and stores a new set of
/// recovery codes in its place: the new codes.
async fn replace_codes(
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
    if !user.mfa.enabled() {
        return Err(ApiError::MfaNotEnabled);
    }
    let step = match deps.proof(&user, code, now)? {
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
