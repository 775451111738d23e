//! The account routes' common part (`POST /password`, `DELETE /account`, `GET /sessions`,
//! `DELETE /sessions`, `DELETE /sessions/{sid}`): their settings and dependencies (the five
//! functions share them), the caller (a valid access token whose session is still live), the
//! password check (limited like login), and the JSON view of a session.

use std::sync::Arc;

use lambda_http::Request;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::Clock;
use crate::audit::{Action, Audit, Outcome, Who};
use crate::config::{
    self, Argon2Config, ConfigError, LoginLimits, PasswordPolicy, Table, Tables, TokenConfig, Vars,
};
use crate::error::{ApiError, FieldErrors};
use crate::http::{RequestMeta, authenticate};
use crate::keys::KeySet;
use crate::lockout::Lockout;
use crate::password::Passwords;
use crate::rate_limit::RateLimiter;
use crate::store::{Session, SessionStore, Store, UserRecord, UserStore, live_session};
use crate::token::{Claims, Tokens};
use crate::validation::{Credentials, Password, Purpose};

/// What the account functions read from their environment.
pub struct Settings {
    /// `USERS_TABLE`, `SESSIONS_TABLE`, `RATE_LIMIT_TABLE`.
    pub tables: Tables,
    /// `JWT_ISSUER`, `JWT_AUDIENCE`, `JWT_LEEWAY_SECONDS`.
    pub token: TokenConfig,
    /// `AUTH_REALM`.
    pub realm: String,
    /// `LOGIN_USER_*`: a wrong password here counts like a failed login.
    pub limits: LoginLimits,
    /// `ARGON2_*`.
    pub argon2: Argon2Config,
    /// `PASSWORD_MIN_LENGTH`, `SERVICE_NAME`: a new password meets the registration rules.
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
            tables: Tables::from_vars(vars, &[Table::Users, Table::Sessions, Table::RateLimits])?,
            token: TokenConfig::from_vars(vars)?,
            realm: config::realm(vars),
            limits: LoginLimits::from_vars(vars)?,
            argon2: Argon2Config::from_vars(vars)?,
            policy: PasswordPolicy::from_vars(vars)?,
            audit: Audit::from_vars(vars)?,
        })
    }
}

/// What an account handler needs, built once per cold start: the verifier (public keys only),
/// the users and their sessions, the failure limits and the password hasher.
pub struct Deps {
    /// The users.
    pub users: Arc<dyn UserStore>,
    /// Their sessions.
    pub sessions: Arc<dyn SessionStore>,
    /// The access-token verifier.
    pub tokens: Tokens,
    /// The realm of 401 challenges.
    pub realm: String,
    /// The login failure counters.
    pub limiter: RateLimiter,
    /// The same counters, for the familiar-source marks.
    pub counters: Arc<dyn crate::store::CounterStore>,
    /// The login failure policies (`shared::lockout`), shared with login.
    pub limits: LoginLimits,
    /// The password hasher.
    pub passwords: Passwords,
    /// The registration rules for a new password.
    pub policy: PasswordPolicy,
    /// The audit trail.
    pub audit: Audit,
    /// Now.
    pub clock: Clock,
}

/// The caller of an account route: a valid access token whose session is still live.
#[derive(Debug)]
pub struct Caller {
    /// The token's claims.
    pub claims: Claims,
    /// Its session, as stored now.
    pub session: Session,
}

impl Caller {
    /// The key of the caller's user item (the lower-cased username).
    pub fn key(&self) -> String {
        self.claims.preferred_username.to_ascii_lowercase()
    }
}

impl Deps {
    /// What `main` calls: settings and the public keys from the environment, the DynamoDB
    /// store, the real clock.
    #[cfg(feature = "dynamo")]
    pub async fn from_env() -> Result<Self, ConfigError> {
        let settings = Settings::from_env()?;
        let store = crate::store::dynamo::DynamoStore::connect(settings.tables.clone())?;
        let keys = Arc::new(crate::keys::load_public(&Vars::env()).await?);
        Self::build(settings, store, keys, crate::system_clock())
    }

    /// Assembles an account handler's dependencies; `main` and every test call this.
    pub fn build(
        settings: Settings,
        store: Arc<dyn Store>,
        keys: Arc<KeySet>,
        clock: Clock,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            users: store.clone(),
            sessions: store.clone(),
            limiter: RateLimiter::new(store.clone()),
            counters: store,
            tokens: Tokens::new(&settings.token, keys),
            realm: settings.realm,
            limits: settings.limits,
            passwords: Passwords::new(settings.argon2)?,
            policy: settings.policy,
            audit: settings.audit,
            clock,
        })
    }

    /// The caller, when the bearer token is valid and its session live (one consistent read):
    /// a token of a revoked, expired or deleted session is `401 invalid_token`, like a bad one.
    pub async fn caller(&self, req: &Request) -> Result<Caller, ApiError> {
        let claims = authenticate(req, &self.tokens, &self.realm)?;
        let now = (self.clock)();
        match live_session(self.sessions.as_ref(), &claims.sid, &claims.sub, now).await? {
            Some(session) => Ok(Caller { claims, session }),
            None => {
                tracing::info!(reason = "session_not_live", "token refused");
                Err(ApiError::InvalidToken {
                    realm: self.realm.clone(),
                })
            }
        }
    }

    /// The caller's user as stored now, if `password` is theirs. Limited like login, before any
    /// hashing (`shared::lockout`: the account-wide `login-user` tiers, or `login-user-source`
    /// from a familiar source; a 429 once spent): a wrong password counts as a failure, the
    /// right one gives the slots back. `Gone` (after one hash, like a wrong password) when the
    /// user is gone.
    pub async fn check_password(
        &self,
        caller: &Caller,
        password: &Password,
        action: Action,
        meta: &RequestMeta,
    ) -> Result<Checked, ApiError> {
        let now = (self.clock)();
        let key = caller.key();
        let lockout = Lockout::new(&self.limiter, self.counters.as_ref(), &self.limits);
        let (attempt, user) = lockout
            .begin(&key, &meta.source_ip, now, self.users.find(&key))
            .await;
        let attempt =
            attempt.map_err(|e| self.audit.limited(meta, action, e, Who::of(&caller.claims)))?;
        // A new user of the same name is not the caller.
        let user = user?.filter(|u| u.user_id.as_deref() == Some(caller.claims.sub.as_str()));
        let stored = user.as_ref().map(|u| u.password_hash.as_str());
        let matched = self.passwords.verify(password, stored).await?;
        match user {
            // Disabling revokes every session; a token of one still live (a disable that
            // failed midway, or a store changed by hand) acts no more than the user could.
            Some(user) if matched && user.disabled => {
                lockout.abandoned(attempt).await;
                tracing::info!(reason = "user_disabled", "token refused");
                let error = ApiError::InvalidToken {
                    realm: self.realm.clone(),
                };
                self.audit
                    .refused(meta, action, error.code(), Who::of(&caller.claims));
                Err(error)
            }
            Some(user) if matched => {
                lockout.succeeded(attempt, now).await;
                Ok(Checked::Matched(user))
            }
            Some(user) => {
                lockout.failed(attempt).await;
                Ok(Checked::Wrong(user))
            }
            None => {
                lockout.failed(attempt).await;
                Ok(Checked::Gone)
            }
        }
    }

    /// Records a refused password and returns its `401`.
    pub fn wrong_password(&self, meta: &RequestMeta, action: Action, caller: &Caller) -> ApiError {
        self.audit.record(
            meta,
            action,
            Outcome::Failure,
            "invalid_credentials",
            Who::of(&caller.claims),
        );
        ApiError::InvalidCredentials
    }
}

/// What [`Deps::check_password`] found.
#[derive(Debug)]
pub enum Checked {
    /// The password is right.
    Matched(UserRecord),
    /// The password is wrong (the failure is counted).
    Wrong(UserRecord),
    /// The caller's user no longer exists.
    Gone,
}

/// A password field of a body, bounded like login's before it reaches argon2: `400` naming
/// `field` otherwise.
pub fn password_field(
    body: &Map<String, Value>,
    field: &str,
    username: &str,
) -> Result<Password, ApiError> {
    parse_password(body, field, username, Purpose::Login)
}

/// A new password, held to the registration rules (length, blocklist, context words, NFKC):
/// `400` naming `field` otherwise.
pub fn new_password_field(
    body: &Map<String, Value>,
    field: &str,
    username: &str,
    policy: &PasswordPolicy,
) -> Result<Password, ApiError> {
    parse_password(body, field, username, Purpose::Register(policy))
}

/// Runs the one credentials validator on `{username, password: body[field]}`, so a password is
/// checked here exactly as at registration or login, and renames its field in the `details`.
fn parse_password(
    body: &Map<String, Value>,
    field: &str,
    username: &str,
    purpose: Purpose<'_>,
) -> Result<Password, ApiError> {
    let mut input = Map::new();
    input.insert("username".into(), Value::String(username.to_owned()));
    if let Some(value) = body.get(field) {
        input.insert("password".into(), value.clone());
    }
    match Credentials::parse(&input, purpose) {
        Ok(credentials) => Ok(credentials.password),
        Err(ApiError::Validation(mut details)) => {
            // The token's username was valid at registration; only the password's messages
            // are about this request.
            let messages = details
                .remove("password")
                .unwrap_or_else(|| vec!["is invalid".into()]);
            let mut out = FieldErrors::new();
            out.insert(field.to_owned(), messages);
            Err(ApiError::Validation(out))
        }
        Err(other) => Err(other),
    }
}

/// Refuses a body field that is not one of `allowed` (400, naming it).
pub fn only_fields(body: &Map<String, Value>, allowed: &[&str]) -> Result<(), ApiError> {
    let mut details = FieldErrors::new();
    for name in body.keys().filter(|k| !allowed.contains(&k.as_str())) {
        details.insert(name.clone(), vec!["is not a field of this request".into()]);
    }
    if details.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(details))
    }
}

/// A session as `GET /sessions` shows it.
#[derive(Debug, Serialize)]
pub struct SessionView {
    /// The session id.
    pub sid: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// RFC 3339, UTC: the last refresh (its start, until then).
    pub last_used_at: String,
    /// RFC 3339, UTC: the absolute end.
    pub expires_at: String,
    /// The login's source IP.
    pub source_ip: String,
    /// The login's `User-Agent` (at most 256 characters).
    pub user_agent: String,
    /// Whether it is the session of the token that asked.
    pub current: bool,
}

impl SessionView {
    /// The view of `session`, `current` when it is the caller's.
    pub fn of(session: Session, current_sid: &str) -> Self {
        Self {
            current: session.id == current_sid,
            sid: session.id,
            created_at: rfc3339(session.created_at),
            last_used_at: rfc3339(session.last_used_at),
            expires_at: rfc3339(session.expires_at),
            source_ip: session.source_ip,
            user_agent: session.user_agent,
        }
    }
}

fn rfc3339(epoch: u64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(epoch);
    humantime::format_rfc3339_seconds(at).to_string()
}
