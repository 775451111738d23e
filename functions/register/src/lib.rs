//! `POST /register`: creates a user with an argon2id password hash.

use std::sync::Arc;

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::json;
use shared::audit::Audit;
use shared::config::{self, Argon2Config, ConfigError, PasswordPolicy, Table, Tables};
use shared::http::{json_response, read_json_object, require_method};
use shared::password::Passwords;
use shared::store::dynamo::DynamoStore;
use shared::store::{CreateUserError, NewUser, UserStore};
use shared::validation::{Credentials, Purpose};
use shared::{ApiError, RequestMeta, unix_now};

/// What the handler needs, built once per cold start.
pub struct Deps {
    pub users: Arc<dyn UserStore>,
    pub passwords: Passwords,
    pub policy: PasswordPolicy,
    pub audit: Audit,
}

impl Deps {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let store = DynamoStore::from_env(Tables::from_env(&[Table::Users])?).await;
        Ok(Self {
            users: Arc::new(store),
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
    let password_hash = deps.passwords.hash(&credentials.password).await?;
    let username = credentials.username.as_ref();
    let user = NewUser {
        key: credentials.username.key(),
        username: username.to_owned(),
        password_hash,
        created_at: unix_now(),
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
