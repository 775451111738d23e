//! `POST /logout`: revokes the session of a refresh token. Access tokens already issued stay
//! valid until their (short) `exp`.

use std::sync::Arc;

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use shared::audit::Audit;
use shared::config::{self, ConfigError, SessionConfig, Table, Tables};
use shared::http::{empty_response, read_json_object, require_method};
use shared::keys;
use shared::refresh::{RefreshTokens, Sessions};
use shared::store::dynamo::DynamoStore;
use shared::validation::required_string;
use shared::{ApiError, Clock, RequestMeta, system_clock};

/// What the handler needs, built once per cold start.
pub struct Deps {
    pub sessions: Sessions,
    pub audit: Audit,
    pub clock: Clock,
}

impl Deps {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let store = Arc::new(DynamoStore::from_env(Tables::from_env(&[Table::Sessions])?).await);
        let keys = keys::load_from_env().await?;
        Ok(Self {
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
    logout(deps, &req, &meta)
        .await
        .unwrap_or_else(|e| e.into_response(&meta))
}

async fn logout(
    deps: &Deps,
    req: &Request,
    meta: &RequestMeta,
) -> Result<Response<Body>, ApiError> {
    require_method(req, Method::POST)?;
    let body = read_json_object(req)?;
    let presented = required_string(&body, "refresh_token")?;
    match deps.sessions.end(&presented, (deps.clock)()).await? {
        Ok(()) => {
            deps.audit.record(meta, "logout", "success", "revoked", "");
            Ok(empty_response(StatusCode::NO_CONTENT))
        }
        Err(reason) => {
            deps.audit.record(meta, "logout", "failure", reason, "");
            Err(ApiError::InvalidGrant)
        }
    }
}
