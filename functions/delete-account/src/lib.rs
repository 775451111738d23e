//! `DELETE /account` `{"password"}` (and `"code"` for a user with MFA): deletes the caller's
//! user item and every session of theirs. The name can then be registered again, as a new user
//! with a new `sub`.
//!
//! The password is checked like a login (limited by the user's `login-user` failures); a user
//! with MFA also gives a TOTP or recovery code (a step-up: none is `403 mfa_required`, a wrong
//! one `400 invalid_code`, counted like a wrong password; a right one is consumed). Nothing
//! is left half-deleted or usable: every other session is revoked first, then the user is
//! deleted (a conditional delete: only this user, not a new one of the same name), then the
//! session items, the calling one among them. A failure midway is a 503, and a retry with the
//! same token completes the job (its session is still live until the last step); a retry that
//! finds the user already gone only deletes the sessions that are left. Like every account
//! route, a token of a revoked session or of a disabled user is refused (401).
//!
//! Once the user item is deleted, the user is told (`Notice::AccountDeleted`: a mail to the
//! verified address as read before the deletion, if there was one). A retry that finds the user
//! gone sends nothing again.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use shared::account::{Checked, password_and_code};
use shared::audit::{Action, Notice, Outcome, Who};
use shared::http::empty_response;
use shared::{ApiError, RequestMeta};

pub use shared::account::{Deps, Settings};

/// Handles one request; every outcome, error or not, is a response.
pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    let meta = RequestMeta::of(&req);
    delete(deps, &req, &meta)
        .await
        .unwrap_or_else(|e| e.into_response(&meta))
}

async fn delete(
    deps: &Deps,
    req: &Request,
    meta: &RequestMeta,
) -> Result<Response<Body>, ApiError> {
    let (caller, body) = deps.caller_and_body(req, Method::DELETE).await?;
    let (password, code) = password_and_code(&body, &caller.claims.preferred_username)?;

    let action = Action::DeleteAccount;
    let user_id = caller.claims.sub.as_str();
    let who = Who::of(&caller.claims);
    match deps
        .check_password_and_code(&caller, &password, code, action, meta)
        .await?
    {
        Checked::Matched(user) => {
            // Every other session first, so none stays usable whatever happens next; the
            // calling one stays live until the sessions are deleted, so that a retry after a
            // failure midway gets through with the same token.
            deps.sessions
                .revoke_all(user_id, Some(&caller.session.id), (deps.clock)())
                .await?;
            deps.users.delete_user(&caller.key(), user_id).await?;
            deps.notifier()
                .notify(meta, &user, Notice::AccountDeleted, who)
                .await;
        }
        // A retry after the user was deleted but not every session: only sessions are left.
        Checked::Gone => {}
        Checked::Wrong(_) => return Err(deps.wrong_password(meta, action, &caller)),
    }
    deps.sessions.delete_all(user_id, None).await?;
    deps.audit
        .record(meta, action, Outcome::Success, "account_deleted", who);
    Ok(empty_response(StatusCode::NO_CONTENT))
}
