//! `POST /login`: rate-limited password check that starts a session and returns an access
//! token and a refresh token.

use std::sync::Arc;

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::json;
use shared::audit::Audit;
use shared::config::{
    self, Argon2Config, ConfigError, LoginLimits, SessionConfig, Table, Tables, TokenConfig,
};
use shared::http::{json_response, read_json_object, require_method};
use shared::keys;
use shared::password::Passwords;
use shared::rate_limit::{RateLimiter, Refusal, Slot};
use shared::refresh::{RefreshTokens, Sessions};
use shared::store::UserStore;
use shared::store::dynamo::DynamoStore;
use shared::token::Tokens;
use shared::validation::{Credentials, Purpose};
use shared::{ApiError, Clock, RequestMeta, system_clock};

/// What the handler needs, built once per cold start.
pub struct Deps {
    pub users: Arc<dyn UserStore>,
    pub limiter: RateLimiter,
    pub limits: LoginLimits,
    pub passwords: Passwords,
    pub tokens: Tokens,
    pub sessions: Sessions,
    pub audit: Audit,
    pub clock: Clock,
}

impl Deps {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let tables = Tables::from_env(&[Table::Users, Table::RateLimits, Table::Sessions])?;
        let store = Arc::new(DynamoStore::from_env(tables).await);
        let keys = Arc::new(keys::load_from_env().await?);
        Ok(Self {
            users: store.clone(),
            limiter: RateLimiter::new(store.clone()),
            limits: LoginLimits::from_env()?,
            passwords: Passwords::new(Argon2Config::from_env()?)?,
            tokens: Tokens::new(&TokenConfig::from_env()?, keys.clone()),
            sessions: Sessions::new(
                store,
                RefreshTokens::new(&keys)?,
                SessionConfig::from_env()?,
            ),
            audit: Audit {
                log_usernames: config::audit_log_usernames()?,
            },
            clock: system_clock(),
        })
    }
}

/// Handles one request; every outcome, error or not, is a response.
pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    let meta = RequestMeta::of(&req);
    login(deps, &req, &meta)
        .await
        .unwrap_or_else(|e| e.into_response(&meta))
}

fn refused(deps: &Deps, meta: &RequestMeta, refusal: Refusal, username: &str) -> ApiError {
    deps.audit.refused(meta, "login", refusal, username)
}

async fn login(deps: &Deps, req: &Request, meta: &RequestMeta) -> Result<Response<Body>, ApiError> {
    require_method(req, Method::POST)?;
    let body = read_json_object(req)?;
    let now = (deps.clock)();

    let credentials = Credentials::parse(&body, Purpose::Login)?;
    let username = credentials.username.as_ref();
    let key = credentials.username.key();
    let limiter = &deps.limiter;

    // First wave, three independent requests at once, all finished before any hashing: every
    // attempt counts against the source IP; failures count against the username (a slot is
    // taken now, so concurrent guesses cannot overshoot the limit, and given back if the
    // password is right); and the user is read.
    let (ip_slot, user_slot, user) = tokio::try_join!(
        async {
            let taken = limiter
                .take(&deps.limits.per_ip, &meta.source_ip, now)
                .await;
            taken.map_err(ApiError::from)
        },
        async {
            let taken = limiter.take(&deps.limits.per_user, &key, now).await;
            taken.map_err(ApiError::from)
        },
        async { deps.users.find(&key).await.map_err(ApiError::from) },
    )?;
    let ip_slot = match ip_slot {
        Ok(slot) => slot,
        Err(refusal) => {
            // Refused before any guess was checked: that is no failed guess for the username.
            if let Ok(slot) = &user_slot {
                give_back(limiter, slot).await;
            }
            return Err(refused(deps, meta, refusal, username));
        }
    };
    let user_slot = user_slot.map_err(|r| refused(deps, meta, r, username))?;

    // One argon2 verification whether or not the user exists (a dummy hash otherwise), so both
    // failures cost the same and answer the same bytes.
    let stored = user.as_ref().map(|u| u.password_hash.as_str());
    let matched = deps.passwords.verify(&credentials.password, stored).await?;
    let Some(user) = user.filter(|_| matched) else {
        deps.audit
            .record(meta, "login", "failure", "invalid_credentials", username);
        return Err(ApiError::InvalidCredentials);
    };

    // Second wave: start the session and give back the per-user slot together.
    let (session, ()) = tokio::join!(
        deps.sessions.start(&user.username, now),
        give_back(limiter, &user_slot)
    );
    let (sid, refresh_token) = session?;
    if deps.passwords.needs_rehash(&user.password_hash) {
        rehash(deps, &key, &user.password_hash, &credentials.password).await;
    }
    let issued = deps.tokens.issue(&user.username, &sid, now)?;
    deps.audit
        .record(meta, "login", "success", "authenticated", &user.username);
    let mut response = json_response(
        StatusCode::OK,
        &json!({
            "access_token": issued.token,
            "token_type": "Bearer",
            "expires_in": issued.expires_in,
            "refresh_token": refresh_token,
        }),
    );
    ip_slot.write_headers(&deps.limits.per_ip, response.headers_mut());
    Ok(response)
}

/// Returns a per-user slot. Best effort: an unreturned slot only makes the limit a little
/// stricter for the rest of its window.
async fn give_back(limiter: &RateLimiter, slot: &Slot) {
    if let Err(e) = limiter.give_back(slot).await {
        tracing::warn!(error = %e, "could not give back the per-user rate-limit slot");
    }
}

/// Upgrades a hash made with weaker parameters than the configured ones, now that the password
/// is known to be right. Best effort: a failure leaves the old hash, which still verifies.
async fn rehash(deps: &Deps, key: &str, old: &str, password: &shared::validation::Password) {
    let result = match deps.passwords.hash(password).await {
        Ok(new) => deps
            .users
            .replace_hash(key, old, &new)
            .await
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => tracing::info!("password hash upgraded to the configured parameters"),
        Err(e) => tracing::warn!(error = %e, "could not upgrade the password hash"),
    }
}
