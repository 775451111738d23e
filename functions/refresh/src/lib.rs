//! `POST /refresh`: exchanges a refresh token for a new access token and the next refresh
//! token (rotation), detecting reuse of rotated tokens.

use std::sync::Arc;

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::json;
use shared::audit::Audit;
use shared::config::{self, ConfigError, Limit, SessionConfig, Table, Tables, TokenConfig};
use shared::http::{json_response, read_json_object, require_method};
use shared::keys;
use shared::rate_limit::RateLimiter;
use shared::refresh::{RefreshTokens, Sessions};
use shared::store::dynamo::DynamoStore;
use shared::token::Tokens;
use shared::validation::required_string;
use shared::{ApiError, Clock, RequestMeta, system_clock};

/// What the handler needs, built once per cold start.
pub struct Deps {
    pub sessions: Sessions,
    pub tokens: Tokens,
    pub limiter: RateLimiter,
    pub limit: Limit,
    pub audit: Audit,
    pub clock: Clock,
}

impl Deps {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let tables = Tables::from_env(&[Table::RateLimits, Table::Sessions])?;
        let store = Arc::new(DynamoStore::from_env(tables).await);
        let keys = Arc::new(keys::load_from_env().await?);
        Ok(Self {
            sessions: Sessions::new(
                store.clone(),
                RefreshTokens::new(&keys)?,
                SessionConfig::from_env()?,
            ),
            tokens: Tokens::new(&TokenConfig::from_env()?, keys),
            limiter: RateLimiter::new(store),
            limit: config::refresh_limit()?,
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
    refresh(deps, &req, &meta)
        .await
        .unwrap_or_else(|e| e.into_response(&meta))
}

async fn refresh(
    deps: &Deps,
    req: &Request,
    meta: &RequestMeta,
) -> Result<Response<Body>, ApiError> {
    require_method(req, Method::POST)?;
    let body = read_json_object(req)?;
    let now = (deps.clock)();
    deps.limiter
        .take(&deps.limit, &meta.source_ip, now)
        .await?
        .map_err(|refusal| deps.audit.refused(meta, "refresh", refusal, ""))?;
    let presented = required_string(&body, "refresh_token")?;
    let refreshed = match deps.sessions.refresh(&presented, now).await? {
        Ok(r) => r,
        Err(reason) => {
            deps.audit.record(meta, "refresh", "failure", reason, "");
            return Err(ApiError::InvalidGrant);
        }
    };
    let reason = if refreshed.from_grace {
        "grace"
    } else {
        "rotated"
    };
    deps.audit
        .record(meta, "refresh", "success", reason, &refreshed.username);
    let issued = deps
        .tokens
        .issue(&refreshed.username, &refreshed.sid, now)?;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "access_token": issued.token,
            "token_type": "Bearer",
            "expires_in": issued.expires_in,
            "refresh_token": refreshed.refresh_token,
        }),
    ))
}
