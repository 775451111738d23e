//! `POST /register`: creates a user with an argon2id password hash.

use std::sync::Arc;

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::json;
use shared::audit::{Action, Audit, Outcome, Who};
use shared::config::{Argon2Config, ConfigError, Limit, PasswordPolicy, Table, Tables, Vars};
use shared::http::{json_response, read_json_object, require_method};
use shared::password::Passwords;
use shared::rate_limit::{RateLimiter, source_subject};
use shared::store::dynamo::DynamoStore;
use shared::store::{CreateUserError, NewUser, Store, UserStore};
use shared::validation::{Credentials, Purpose};
use shared::{ApiError, Clock, RequestMeta, system_clock};

/// What this function reads from its environment.
pub struct Settings {
    /// `USERS_TABLE`, `RATE_LIMIT_TABLE`.
    pub tables: Tables,
    /// `ARGON2_*`.
    pub argon2: Argon2Config,
    /// `PASSWORD_MIN_LENGTH`, `SERVICE_NAME`.
    pub policy: PasswordPolicy,
    /// `REGISTER_IP_*`.
    pub limit: Limit,
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
            tables: Tables::from_vars(vars, &[Table::Users, Table::RateLimits])?,
            argon2: Argon2Config::from_vars(vars)?,
            policy: PasswordPolicy::from_vars(vars)?,
            limit: Limit::register(vars)?,
            audit: Audit::from_vars(vars)?,
        })
    }
}

/// What the handler needs, built once per cold start.
pub struct Deps {
    /// Where users are created.
    pub users: Arc<dyn UserStore>,
    /// The password hasher.
    pub passwords: Passwords,
    /// What a new password must meet.
    pub policy: PasswordPolicy,
    /// The audit trail.
    pub audit: Audit,
    /// Registrations per source IP (`register-ip`).
    pub limiter: RateLimiter,
    /// The `register-ip` policy.
    pub limit: Limit,
    /// Now.
    pub clock: Clock,
}

impl Deps {
    /// What `main` calls: settings from the environment, the DynamoDB store, the real clock.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let settings = Settings::from_env()?;
        let store = DynamoStore::connect(settings.tables.clone())?;
        Self::build(settings, store, system_clock())
    }

    /// Assembles the handler's dependencies; `main` and every test call this.
    pub fn build(
        settings: Settings,
        store: Arc<dyn Store>,
        clock: Clock,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            users: store.clone(),
            passwords: Passwords::new(settings.argon2)?,
            policy: settings.policy,
            audit: settings.audit,
            limiter: RateLimiter::new(store),
            limit: settings.limit,
            clock,
        })
    }
}

/// Handles one request; every outcome, error or not, is a response.
pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    let meta = RequestMeta::of(&req);
    register(deps, &req, &meta)
        .await
        .unwrap_or_else(|e| e.into_response(&meta))
}

async fn register(
    deps: &Deps,
    req: &Request,
    meta: &RequestMeta,
) -> Result<Response<Body>, ApiError> {
    require_method(req, Method::POST)?;
    let body = read_json_object(req)?;
    let credentials = Credentials::parse(&body, Purpose::Register(&deps.policy))?;
    let now = (deps.clock)();
    // Before the hash, the only expensive step: valid requests count against the source IP.
    let slot = deps
        .limiter
        .take(&deps.limit, &source_subject(&meta.source_ip), now)
        .await
        .map_err(|e| {
            deps.audit
                .limited(meta, Action::Register, e, Who::default())
        })?;
    let password_hash = deps.passwords.hash(&credentials.password).await?;
    let username = credentials.username.as_ref();
    let user = NewUser {
        key: credentials.username.key(),
        // Random, never derived from the name: a name registered again is another user.
        user_id: uuid::Uuid::new_v4().to_string(),
        username: username.to_owned(),
        password_hash,
        created_at: now,
        pending_email: None,
    };
    // The per-IP log drops its stale entries beside the write.
    let (created, ()) = tokio::join!(deps.users.create(&user), deps.limiter.settle(&slot));
    let (outcome, reason, result) = match created {
        Ok(()) => (Outcome::Success, "created", Ok(())),
        Err(CreateUserError::AlreadyExists) => {
            (Outcome::Failure, "user_exists", Err(ApiError::UserExists))
        }
        Err(CreateUserError::Store(e)) => return Err(e.into()),
    };
    // The new user's id; none for a name that was taken (the other user is not named).
    let sub = (outcome == Outcome::Success).then_some(user.user_id.as_str());
    deps.audit.record(
        meta,
        Action::Register,
        outcome,
        reason,
        Who::user(sub, username),
    );
    result?;
    Ok(json_response(
        StatusCode::CREATED,
        &json!({"msg": "User registered successfully"}),
    ))
}
