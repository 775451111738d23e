//! `POST /email/verify` `{"token"}`: confirms the address a link was mailed to. No bearer token:
//! the link token names its account and proves the mail was read.
//!
//! The token is one of the user's pending address (`POST /register`, `POST /email`, `POST
//! /email/resend` make them); only its hash is stored. It works once, while it is the current
//! link and unexpired: the store verifies it in one transaction that also claims the address
//! for the user (an address belongs to one account, so of two accounts verifying one address
//! the second gets `409 email_taken`) and releases the address it replaces. Anything else —
//! garbage, another user's, used, superseded, expired — is `400 invalid_token`, with nothing
//! written, and twenty concurrent uses of one link give one `200`.

use std::sync::Arc;

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::json;
use shared::audit::{Action, Audit, Outcome, Who};
use shared::config::{ConfigError, Table, Tables, Vars};
use shared::email::{MAX_LINK_TOKEN_CHARS, token_field};
use shared::http::{json_response, read_json_object, require_method};
use shared::store::dynamo::DynamoStore;
use shared::store::{Store, UserRecord, UserStore, VerifyOutcome};
use shared::validation::Username;
use shared::{ApiError, Clock, RequestMeta, keyed_token, system_clock};

/// What this function reads from its environment.
pub struct Settings {
    /// `USERS_TABLE`.
    pub tables: Tables,
    /// `AUDIT_LOG_USERNAMES`.
    pub audit: Audit,
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&Vars::env())
    }

    /// Reads these variables.
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        Ok(Self {
            tables: Tables::from_vars(vars, &[Table::Users])?,
            audit: Audit::from_vars(vars)?,
        })
    }
}

/// What the handler needs, built once per cold start.
pub struct Deps {
    /// The users, whose pending addresses are verified.
    pub users: Arc<dyn UserStore>,
    /// The audit trail.
    pub audit: Audit,
    /// Now.
    pub clock: Clock,
}

impl Deps {
    /// What `main` calls: settings from the environment, the DynamoDB store, the real clock.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let settings = Settings::from_env()?;
        let store = DynamoStore::connect(settings.tables.clone())?;
        Ok(Self::build(settings, store, system_clock()))
    }

    /// Assembles the handler's dependencies; `main` and every test call this.
    pub fn build(settings: Settings, store: Arc<dyn Store>, clock: Clock) -> Self {
        Self {
            users: store,
            audit: settings.audit,
            clock,
        }
    }
}

/// Handles one request; every outcome, error or not, is a response.
pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    let meta = RequestMeta::of(&req);
    verify(deps, &req, &meta)
        .await
        .unwrap_or_else(|e| e.into_response(&meta))
}

async fn verify(
    deps: &Deps,
    req: &Request,
    meta: &RequestMeta,
) -> Result<Response<Body>, ApiError> {
    require_method(req, Method::POST)?;
    let body = read_json_object(req)?;
    let token = token_field(&body)?;
    let Some((key, hash)) = keyed_token::parse(token, MAX_LINK_TOKEN_CHARS) else {
        return Err(refused(deps, meta, None));
    };
    // A token names its account by key; only a username's key is read (the users table also
    // holds the address claims, which a forged token could otherwise name).
    if Username::parse(&key).map(|u| u.key()).ok().as_deref() != Some(key.as_str()) {
        return Err(refused(deps, meta, None));
    }
    let Some(user) = deps.users.find(&key).await? else {
        return Err(refused(deps, meta, None));
    };
    let now = (deps.clock)();
    match deps.users.verify_email(&key, &user, &hash, now).await? {
        VerifyOutcome::Verified(address) => {
            deps.audit.record(
                meta,
                Action::EmailVerify,
                Outcome::Success,
                "email_verified",
                who(&user),
            );
            Ok(json_response(
                StatusCode::OK,
                &json!({"msg": "Email verified", "email": address}),
            ))
        }
        VerifyOutcome::Invalid => Err(refused(deps, meta, Some(&user))),
        VerifyOutcome::Taken => {
            let error = ApiError::EmailTaken;
            deps.audit.record(
                meta,
                Action::EmailVerify,
                Outcome::Failure,
                error.code(),
                who(&user),
            );
            Err(error)
        }
    }
}

/// Records a refused link token (`user`: the account it named, when there is one) and returns
/// its `400 invalid_token`.
fn refused(deps: &Deps, meta: &RequestMeta, user: Option<&UserRecord>) -> ApiError {
    let error = ApiError::InvalidLinkToken;
    let who = user.map(who).unwrap_or_default();
    deps.audit.record(
        meta,
        Action::EmailVerify,
        Outcome::Failure,
        error.code(),
        who,
    );
    error
}

/// The user an event is about.
fn who(user: &UserRecord) -> Who<'_> {
    Who::user(user.user_id.as_deref(), &user.username)
}
