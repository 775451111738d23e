//! `POST /password/reset` `{"token", "new_password"}`: sets a new password through the link of
//! a reset mail (`POST /password/forgot`), revokes every session of the user and tells them.
//! No token is returned: the user logs in again, with their second factor if they have one.
//!
//! The link is checked against the user's stored one (its hash, and that it has not expired)
//! before anything is hashed, and the new password against the registration rules before the
//! link is spent, so a refused password leaves the link working. The link is then spent by the
//! one conditional write that stores the new hash (of twenty concurrent uses, one succeeds).
//! Sessions are revoked before that write too, so a store failure there is a 503 that leaves
//! the link working for a retry; and once more after it, for a session started with the old
//! password in between.

use std::sync::Arc;

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::json;
use shared::account::{Contact, new_password_field, only_fields};
use shared::audit::{Action, Audit, Notice, Outcome, Who};
use shared::config::{Argon2Config, ConfigError, PasswordPolicy, Table, Tables, Vars};
use shared::email::{MAX_LINK_TOKEN_CHARS, Notifier, token_field};
use shared::http::{json_response, read_json_object, require_method};
use shared::mail::Mailer;
use shared::password::Passwords;
use shared::store::dynamo::DynamoStore;
use shared::store::{SessionStore, Store, UserStore};
use shared::{ApiError, Clock, RequestMeta, keyed_token, system_clock};

/// The action of this route's audit events.
const ACTION: Action = Action::PasswordReset;

/// What this function reads from its environment.
pub struct Settings {
    /// `USERS_TABLE`, `SESSIONS_TABLE`.
    pub tables: Tables,
    /// `ARGON2_*`.
    pub argon2: Argon2Config,
    /// `PASSWORD_MIN_LENGTH`, `SERVICE_NAME`: the new password meets the registration rules.
    pub policy: PasswordPolicy,
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
            tables: Tables::from_vars(vars, &[Table::Users, Table::Sessions])?,
            argon2: Argon2Config::from_vars(vars)?,
            policy: PasswordPolicy::from_vars(vars)?,
            audit: Audit::from_vars(vars)?,
        })
    }
}

/// What the handler needs, built once per cold start.
pub struct Deps {
    /// Where the user is read and the password replaced.
    pub users: Arc<dyn UserStore>,
    /// The user's sessions, revoked by a reset.
    pub sessions: Arc<dyn SessionStore>,
    /// The password hasher.
    pub passwords: Passwords,
    /// The registration rules for the new password.
    pub policy: PasswordPolicy,
    /// The audit trail.
    pub audit: Audit,
    /// Now.
    pub clock: Clock,
    /// Where the "password changed" notice is mailed; `None` while the stack configures no
    /// mail (the notice is then an audit event only).
    pub mailer: Option<Mailer>,
}

impl Deps {
    /// What `main` calls: settings from the environment, the DynamoDB store, SES, the real
    /// clock.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let settings = Settings::from_env()?;
        let store = DynamoStore::connect(settings.tables.clone())?;
        let deps = Self::build(settings, store, system_clock())?;
        Ok(match Contact::from_env()? {
            Some(contact) => deps.with_contact(contact),
            None => deps,
        })
    }

    /// Assembles the handler's dependencies (without mail); `main` and every test call this.
    pub fn build(
        settings: Settings,
        store: Arc<dyn Store>,
        clock: Clock,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            users: store.clone(),
            sessions: store,
            passwords: Passwords::new(settings.argon2)?,
            policy: settings.policy,
            audit: settings.audit,
            clock,
            mailer: None,
        })
    }

    /// These dependencies with a contact channel (its mailer sends the notice).
    pub fn with_contact(mut self, contact: Contact) -> Self {
        self.mailer = Some(contact.mailer);
        self
    }
}

/// Handles one request; every outcome, error or not, is a response.
pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    let meta = RequestMeta::of(&req);
    reset(deps, &req, &meta)
        .await
        .unwrap_or_else(|e| e.into_response(&meta))
}

async fn reset(deps: &Deps, req: &Request, meta: &RequestMeta) -> Result<Response<Body>, ApiError> {
    require_method(req, Method::POST)?;
    let body = read_json_object(req)?;
    only_fields(&body, &["token", "new_password"])?;
    let token = token_field(&body)?;
    let refused = |reason, who| {
        deps.audit
            .record(meta, ACTION, Outcome::Failure, reason, who);
        ApiError::InvalidLinkToken
    };
    let Some((key, hash)) = keyed_token::parse(token, MAX_LINK_TOKEN_CHARS) else {
        return Err(refused("malformed_token", Who::default()));
    };
    let Some(user) = deps.users.find(&key).await? else {
        return Err(refused("unknown_user", Who::default()));
    };
    let Some(user_id) = user.user_id.clone() else {
        return Err(refused("no_reset_link", Who::named(&user.username)));
    };
    let who = Who::user(Some(&user_id), &user.username);
    let now = (deps.clock)();
    // Nothing is hashed for a link that is not the user's current one.
    if user.email.reset_token.as_deref() != Some(hash.as_str()) {
        return Err(refused("not_current_link", who));
    }
    if user.email.reset_expires_at <= now {
        return Err(refused("expired_link", who));
    }
    if user.disabled {
        return Err(refused("user_disabled", who));
    }
    // A refused password leaves the link as it is: the user fixes it and submits again.
    let new = match new_password_field(&body, "new_password", &user.username, &deps.policy) {
        Ok(new) => new,
        Err(error) => {
            deps.audit
                .record(meta, ACTION, Outcome::Failure, error.code(), who);
            return Err(error);
        }
    };

    let new_hash = deps.passwords.hash(&new).await?;
    deps.sessions.revoke_all(&user_id, None, now).await?;
    if !deps
        .users
        .reset_password(&key, &hash, now, &new_hash)
        .await?
    {
        // Spent meanwhile (a concurrent use of the link, or a newer link or password change).
        return Err(refused("link_spent", who));
    }
    // The reset is done: a failure here is logged, not answered (every session that existed
    // before the request is revoked already).
    if let Err(e) = deps.sessions.revoke_all(&user_id, None, now).await {
        tracing::error!(error = %e, "could not revoke the sessions started during a reset");
    }
    deps.audit
        .record(meta, ACTION, Outcome::Success, "password_reset", who);
    Notifier::new(deps.audit, deps.mailer.clone())
        .notify(meta, &user, Notice::PasswordChanged, who)
        .await;
    Ok(json_response(
        StatusCode::OK,
        &json!({"msg": "Password has been reset"}),
    ))
}
