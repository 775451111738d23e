//! `POST /register`: creates a user with an argon2id password hash.

use std::sync::Arc;

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::json;
use shared::audit::Audit;
use shared::config::{self, Argon2Config, ConfigError, Limit, PasswordPolicy, Table, Tables};
use shared::http::{json_response, read_json_object, require_method};
use shared::password::Passwords;
use shared::rate_limit::RateLimiter;
use shared::store::dynamo::DynamoStore;
use shared::store::{CreateUserError, NewUser, UserStore};
use shared::validation::{Credentials, Purpose};
use shared::{ApiError, Clock, RequestMeta, system_clock};

/// What the handler needs, built once per cold start.
pub struct Deps {
    pub users: Arc<dyn UserStore>,
    pub passwords: Passwords,
    pub policy: PasswordPolicy,
    pub audit: Audit,
    /// Registrations per source IP (`register-ip`).
    pub limiter: RateLimiter,
    pub limit: Limit,
    pub clock: Clock,
}

impl Deps {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let tables = Tables::from_env(&[Table::Users, Table::RateLimits])?;
        let store = Arc::new(DynamoStore::from_env(tables).await);
        Ok(Self {
            users: store.clone(),
            limiter: RateLimiter::new(store),
            limit: config::register_limit()?,
            clock: system_clock(),
            passwords: Passwords::new(Argon2Config::from_env()?)?,
            policy: PasswordPolicy::from_env()?,
            audit: Audit {
                log_usernames: config::audit_log_usernames()?,
            },
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
    deps.limiter
        .take(&deps.limit, &meta.source_ip, now)
        .await?
        .map_err(|refusal| deps.audit.refused(meta, "register", refusal, ""))?;
    let password_hash = deps.passwords.hash(&credentials.password).await?;
    let username = credentials.username.as_ref();
    let user = NewUser {
        key: credentials.username.key(),
        username: username.to_owned(),
        password_hash,
        created_at: now,
    };
    match deps.users.create(&user).await {
        Ok(()) => {
            deps.audit
                .record(meta, "register", "success", "created", username);
            Ok(json_response(
                StatusCode::CREATED,
                &json!({"msg": "User registered successfully"}),
            ))
        }
        Err(CreateUserError::AlreadyExists) => {
            deps.audit
                .record(meta, "register", "failure", "user_exists", username);
            Err(ApiError::UserExists)
        }
        Err(CreateUserError::Store(e)) => Err(e.into()),
    }
}
