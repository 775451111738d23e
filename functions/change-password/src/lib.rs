//! `POST /password` `{"current_password","new_password"}` (and `"code"` for a user with MFA):
//! changes the caller's password and revokes every other session of theirs; the calling session
//! stays valid.
//!
//! The current password is checked like a login (limited by the user's `login-user` failures,
//! before any hashing); the new one meets the registration rules and must differ. A user with
//! MFA also gives a TOTP or recovery code (a step-up: none is `403 mfa_required`, a wrong one
//! `400 invalid_code`, counted like a wrong password; a right one is consumed). The hash is
//! replaced by one conditional write on the old hash, so of two concurrent changes one wins
//! (the other is `409 password_changed`). The write comes before the revocation: a failure
//! before it leaves the old password working, and a retry after a failed revocation (the new
//! hash stored, noted as this session's change) completes it. Once done, the user is told
//! (`Notice::PasswordChanged`: a mail to their verified address, if they have one).

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use shared::account::{Checked, code_field, new_password_field, only_fields, password_field};
use shared::audit::{Action, Notice, Outcome, Who};
use shared::http::empty_response;
use shared::{ApiError, RequestMeta};

pub use shared::account::{Deps, Settings};

/// Handles one request; every outcome, error or not, is a response.
pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    let meta = RequestMeta::of(&req);
    change(deps, &req, &meta)
        .await
        .unwrap_or_else(|e| e.into_response(&meta))
}

async fn change(
    deps: &Deps,
    req: &Request,
    meta: &RequestMeta,
) -> Result<Response<Body>, ApiError> {
    let (caller, body) = deps.caller_and_body(req, Method::POST).await?;
    only_fields(&body, &["current_password", "new_password", "code"])?;
    let username = caller.claims.preferred_username.as_str();
    let current = password_field(&body, "current_password", username);
    let new = new_password_field(&body, "new_password", username, &deps.policy);
    let code = code_field(&body, "code");
    let (current, new, code) = match (current, new, code) {
        (Ok(current), Ok(new), Ok(code)) => (current, new, code),
        (current, new, code) => {
            return Err(ApiError::all_of(
                [current.err(), new.err(), code.err()].into_iter().flatten(),
            ));
        }
    };
    if current.expose() == new.expose() {
        return Err(ApiError::invalid(
            "new_password",
            "must differ from the current password",
        ));
    }

    let action = Action::ChangePassword;
    let key = caller.key();
    let user_id = caller.claims.sub.as_str();
    let user = match deps
        .check_password_and_code(&caller, &current, code, action, meta)
        .await?
    {
        Checked::Matched(user) => {
            let hash = deps.passwords.hash(&new).await?;
            let changed = deps
                .users
                .change_password(
                    &key,
                    user_id,
                    &user.password_hash,
                    &hash,
                    &caller.session.id,
                )
                .await?;
            if !changed {
                return Err(ApiError::PasswordChanged);
            }
            user
        }
        // This session's own change, stored by an earlier try whose revocation failed: the
        // new password proves it, and the revocation is completed below.
        Checked::Wrong(user)
            if user.password_changed_by.as_deref() == Some(caller.session.id.as_str())
                && deps
                    .passwords
                    .verify(&new, Some(&user.password_hash))
                    .await? =>
        {
            user
        }
        Checked::Wrong(_) | Checked::Gone => {
            return Err(deps.wrong_password(meta, action, &caller));
        }
    };
    deps.sessions
        .revoke_all(user_id, Some(&caller.session.id), (deps.clock)())
        .await?;
    let who = Who::of(&caller.claims);
    deps.audit
        .record(meta, action, Outcome::Success, "password_changed", who);
    deps.notifier()
        .notify(meta, &user, Notice::PasswordChanged, who)
        .await;
    Ok(empty_response(StatusCode::NO_CONTENT))
}
