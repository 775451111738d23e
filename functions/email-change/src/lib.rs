//! `POST /email` `{"email", "password"}` (and `"code"` for a user with MFA): a new contact
//! address for the caller. A verification
//! link is mailed to it, and the address becomes the account's only once that link is opened
//! (`POST /email/verify`): until then the verified address, if any, stays in force, and it is
//! told of the change (a notice, so that a stolen session cannot move the account's mail away
//! unseen).
//!
//! The password is checked like a login (limited by the account's failure limits, a wrong one
//! counted as a failed login), and a user with a second factor also gives a TOTP or recovery
//! code (a step-up, as for `POST /password`): a stolen access token, even with the password,
//! cannot change where reset links go.
//! The new link replaces any earlier pending address and its link. A verification mail that
//! cannot be sent is a `503`; the address stays pending and `POST /email/resend` sends a new
//! link. A stack with no mail configured answers `503` before any check.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::{Map, Value, json};
use shared::account::{Checked, code_field, only_fields, password_field};
use shared::audit::{Action, Notice, Outcome, Who};
use shared::email::verification_mail;
use shared::http::json_response;
use shared::store::PendingEmail;
use shared::validation::Email;
use shared::{ApiError, RequestMeta, keyed_token};

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
    only_fields(&body, &["email", "password", "code"])?;
    let username = caller.claims.preferred_username.as_str();
    let (email, password, code) = match (
        email_field(&body),
        password_field(&body, "password", username),
        code_field(&body, "code"),
    ) {
        (Ok(email), Ok(password), Ok(code)) => (email, password, code),
        (email, password, code) => {
            return Err(ApiError::all_of(
                [email.err(), password.err(), code.err()]
                    .into_iter()
                    .flatten(),
            ));
        }
    };
    let contact = deps.contact()?;

    let who = Who::of(&caller.claims);
    let user = match deps
        .check_password_and_code(&caller, &password, code, Action::EmailChange, meta)
        .await?
    {
        Checked::Matched(user) => user,
        // Counted as a failed login by the check; recorded like `Deps::wrong_password` does.
        Checked::Wrong(_) | Checked::Gone => {
            return Err(failure(deps, meta, who, ApiError::InvalidCredentials));
        }
    };
    let key = caller.key();
    let (token, hash) = keyed_token::new(&key)?;
    let pending = PendingEmail {
        address: email.as_ref().to_owned(),
        token: hash,
        expires_at: (deps.clock)() + contact.settings.verify_ttl_seconds,
    };
    let written = deps
        .users
        .set_pending_email(&key, &caller.claims.sub, &pending)
        .await?;
    if !written {
        // The user is gone (or is another one now) since the check.
        return Err(failure(deps, meta, who, deps.invalid_token()));
    }
    let mail = verification_mail(&contact.settings, &pending.address, &token);
    let sent = contact.mailer.send(&mail).await;
    // The old address hears of the change whether or not the new one's link went out: the
    // pending address is stored either way, and a resend needs no password.
    if user.email.verified.is_some() {
        deps.notifier()
            .notify(meta, &user, Notice::EmailChangeRequested, who)
            .await;
    }
    sent.map_err(|e| ApiError::Unavailable(Box::new(e)))?;
    deps.audit.record(
        meta,
        Action::EmailChange,
        Outcome::Success,
        "email_pending",
        who,
    );
    Ok(json_response(
        StatusCode::ACCEPTED,
        &json!({"msg": "Check your inbox: open the link we sent to confirm the new address"}),
    ))
}

/// Records `error` as the caller's failed request and returns it.
fn failure(deps: &Deps, meta: &RequestMeta, who: Who<'_>, error: ApiError) -> ApiError {
    deps.audit.record(
        meta,
        Action::EmailChange,
        Outcome::Failure,
        error.code(),
        who,
    );
    error
}

/// The `email` of the body: a 400 naming the field when it is missing or not an address.
fn email_field(body: &Map<String, Value>) -> Result<Email, ApiError> {
    match body.get("email") {
        Some(Value::String(raw)) => {
            Email::parse(raw).map_err(|reason| ApiError::invalid("email", reason))
        }
        Some(_) => Err(ApiError::invalid("email", "must be a string")),
        None => Err(ApiError::invalid("email", "is required")),
    }
}
