//! `POST /email/resend` (no body, or `{}`): a fresh verification link for the caller's pending
//! address (`409 no_pending_email` without one). The new link replaces the old one, so older
//! links stop working.
//!
//! At most `EMAIL_RESEND_LIMIT` mails per `EMAIL_RESEND_WINDOW_SECONDS` per account (default
//! 3 per hour; `429 rate_limited` beyond), so the route cannot be used to flood an address. A
//! request that sends nothing (a failed write, SES failing: `503`) gives its attempt back.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::json;
use shared::account::{Caller, Contact, only_fields};
use shared::audit::{Action, Outcome, Who};
use shared::config::{ConfigError, Limit, Vars};
use shared::email::verification_mail;
use shared::http::response::admitted_headers;
use shared::http::{json_response, read_json_object, require_method};
use shared::keys::KeySet;
use shared::store::{PendingEmail, Store};
use shared::{ApiError, Clock, RequestMeta, keyed_token};

/// What this function reads from its environment: the account routes' settings and the
/// `email-resend` limit.
pub struct Settings {
    /// The account routes' settings (tables, token checks, realm, audit).
    pub account: shared::account::Settings,
    /// `EMAIL_RESEND_LIMIT` per `EMAIL_RESEND_WINDOW_SECONDS`.
    pub limit: Limit,
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&Vars::env())
    }

    /// Reads these variables.
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        Ok(Self {
            account: shared::account::Settings::from_vars(vars)?,
            limit: Limit::email_resend(vars)?,
        })
    }
}

/// What the handler needs, built once per cold start: the account routes' dependencies (the
/// caller, the users, the limiter, the contact channel) and the resend limit.
pub struct Deps {
    /// The account routes' dependencies.
    pub account: shared::account::Deps,
    /// The `email-resend` policy.
    pub limit: Limit,
}

impl Deps {
    /// What `main` calls: the account dependencies as every account function loads them (with
    /// the contact channel when mail is configured), and the limit from the environment.
    pub async fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            account: shared::account::Deps::from_env().await?,
            limit: Limit::email_resend(&Vars::env())?,
        })
    }

    /// Assembles the handler's dependencies; tests call this as `main` would.
    pub fn build(
        settings: Settings,
        store: std::sync::Arc<dyn Store>,
        keys: std::sync::Arc<KeySet>,
        clock: Clock,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            account: shared::account::Deps::build(settings.account, store, keys, clock)?,
            limit: settings.limit,
        })
    }

    /// These dependencies with a contact channel.
    pub fn with_contact(mut self, contact: Contact) -> Self {
        self.account = self.account.with_contact(contact);
        self
    }
}

/// Handles one request; every outcome, error or not, is a response.
pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    let meta = RequestMeta::of(&req);
    resend(deps, &req, &meta)
        .await
        .unwrap_or_else(|e| e.into_response(&meta))
}

async fn resend(
    deps: &Deps,
    req: &Request,
    meta: &RequestMeta,
) -> Result<Response<Body>, ApiError> {
    let account = &deps.account;
    require_method(req, Method::POST)?;
    let caller = account.caller(req).await?;
    no_fields(req)?;
    let contact = account.contact()?;
    let who = Who::of(&caller.claims);
    let user = account.users.find(&caller.key()).await?;
    let user = account.active_user(&caller, user).inspect_err(|error| {
        account.audit.record(
            meta,
            Action::EmailResend,
            Outcome::Refused,
            error.code(),
            who,
        );
    })?;
    let Some(address) = user.email.pending else {
        return Err(failure(account, meta, who, ApiError::NoPendingEmail));
    };
    let now = (account.clock)();
    // Counted by the user's id: a name registered again is another account.
    let slot = account
        .limiter
        .take(&deps.limit, &caller.claims.sub, now)
        .await
        .map_err(|e| account.audit.limited(meta, Action::EmailResend, e, who))?;
    match send(account, contact, &caller, address, now).await {
        Ok(()) => account.limiter.settle(&slot).await,
        Err(error) => {
            // Nothing was sent: the attempt does not count.
            if let Err(e) = account.limiter.give_back(&slot).await {
                tracing::warn!(error = %e, "could not give a resend attempt back");
            }
            if error.status().is_client_error() {
                return Err(failure(account, meta, who, error));
            }
            return Err(error);
        }
    }
    account.audit.record(
        meta,
        Action::EmailResend,
        Outcome::Success,
        "email_link_sent",
        who,
    );
    let mut response = json_response(
        StatusCode::ACCEPTED,
        &json!({"msg": "Check your inbox: a new link to confirm the address is on its way"}),
    );
    admitted_headers(&slot, &deps.limit, response.headers_mut());
    Ok(response)
}

/// Records `error` as the caller's failed request and returns it.
fn failure(
    account: &shared::account::Deps,
    meta: &RequestMeta,
    who: Who<'_>,
    error: ApiError,
) -> ApiError {
    account.audit.record(
        meta,
        Action::EmailResend,
        Outcome::Failure,
        error.code(),
        who,
    );
    error
}

/// Makes a new link the only one of the pending `address` (written only while the caller is
/// still the user) and mails it.
async fn send(
    account: &shared::account::Deps,
    contact: &Contact,
    caller: &Caller,
    address: String,
    now: u64,
) -> Result<(), ApiError> {
    let key = caller.key();
    let (token, hash) = keyed_token::new(&key)?;
    let pending = PendingEmail {
        address,
        token: hash,
        expires_at: now + contact.settings.verify_ttl_seconds,
    };
    let written = account
        .users
        .set_pending_email(&key, &caller.claims.sub, &pending)
        .await?;
    if !written {
        // The user is gone (or is another one now) since it was read.
        return Err(account.invalid_token());
    }
    let mail = verification_mail(&contact.settings, &pending.address, &token);
    contact
        .mailer
        .send(&mail)
        .await
        .map_err(|e| ApiError::Unavailable(Box::new(e)))
}

/// The body is optional: none, or an empty object.
fn no_fields(req: &Request) -> Result<(), ApiError> {
    let bytes: &[u8] = match req.body() {
        Body::Empty => &[],
        other => other.as_ref(),
    };
    if bytes.is_empty() {
        return Ok(());
    }
    only_fields(&read_json_object(req)?, &[])
}
