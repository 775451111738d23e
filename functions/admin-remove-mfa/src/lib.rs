//! `DELETE /admin/users/{username}/mfa` (scope `admin`): removes the user's second factor (for
//! a user who lost their authenticator and their recovery codes) and revokes every session of
//! theirs, so the next login is with the password alone and nothing opened before stays usable.
//! Idempotent: a user without MFA gets the same `204` (and the revocation again), so a retry
//! after a failure midway completes the job. The user is told (`Audit::notify`).

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use shared::audit::{Action, Notice, Who};
use shared::http::{empty_response, require_method};
use shared::store::{MfaChange, MfaProof};
use shared::{ApiError, RequestMeta};

pub use shared::admin::{Deps, Settings};

/// Handles one request; every outcome, error or not, is a response.
pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    let meta = RequestMeta::of(&req);
    remove_mfa(deps, &req, &meta)
        .await
        .unwrap_or_else(|e| e.into_response(&meta))
}

async fn remove_mfa(
    deps: &Deps,
    req: &Request,
    meta: &RequestMeta,
) -> Result<Response<Body>, ApiError> {
    require_method(req, Method::DELETE)?;
    let action = Action::AdminRemoveMfa;
    let (actor, target) = deps.caller_and_target(req, meta, action).await?;
    let (key, user) = target?;
    // A user stored before ids existed has never enrolled (enrollment is bound to the id).
    let Some(user_id) = user.user_id.as_deref() else {
        deps.audit
            .record_admin(meta, action, &actor, "", "{\"revoked\":0}", &user.username);
        return Ok(empty_response(StatusCode::NO_CONTENT));
    };
    let had_mfa = user.mfa.enabled();
    let removed = deps
        .users
        .update_mfa(&key, user_id, &MfaProof::Nothing, &MfaChange::Remove)
        .await?;
    if !removed {
        // Deleted (or re-registered as another user) since it was read.
        return Err(ApiError::UserNotFound);
    }
    let revoked = deps
        .sessions
        .revoke_all(user_id, None, (deps.clock)())
        .await?;
    deps.audit.record_admin(
        meta,
        action,
        &actor,
        user_id,
        &format!("{{\"had_mfa\":{had_mfa},\"revoked\":{revoked}}}"),
        &user.username,
    );
    if had_mfa {
        deps.audit.notify(
            meta,
            Notice::MfaRemovedByAdmin,
            Who::user(Some(user_id), &user.username),
        );
    }
    Ok(empty_response(StatusCode::NO_CONTENT))
}
