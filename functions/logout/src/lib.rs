//! `POST /logout`: revokes the session of a refresh token. Access tokens already issued stay
//! valid until their (short) `exp`.

use std::sync::Arc;

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use shared::audit::{Action, Audit, Outcome, Who};
use shared::config::{ConfigError, SessionConfig, Table, Tables, Vars};
use shared::http::{empty_response, read_json_object, require_method};
use shared::keys::{self, KeySet};
use shared::refresh::{GrantError, Sessions};
use shared::store::Store;
use shared::store::dynamo::DynamoStore;
use shared::validation::required_string;
use shared::{ApiError, Clock, RequestMeta, system_clock};

/// What this function reads from its environment.
pub struct Settings {
    /// `SESSIONS_TABLE`.
    pub tables: Tables,
    /// `SESSION_TTL_SECONDS`, `REFRESH_GRACE_SECONDS`.
    pub session: SessionConfig,
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
            tables: Tables::from_vars(vars, &[Table::Sessions])?,
            session: SessionConfig::from_vars(vars)?,
            audit: Audit::from_vars(vars)?,
        })
    }
}

/// What the handler needs, built once per cold start.
pub struct Deps {
    /// Session revocation.
    pub sessions: Sessions,
    /// The audit trail.
    pub audit: Audit,
    /// Now.
    pub clock: Clock,
}

impl Deps {
    /// What `main` calls: settings and keys from the environment, the DynamoDB store, the real
    /// clock.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let settings = Settings::from_env()?;
        let store = DynamoStore::connect(settings.tables.clone())?;
        // It checks refresh tokens and issues none: no signing key.
        let keys = Arc::new(keys::load_for_refresh(&Vars::env()).await?);
        Self::build(settings, store, keys, system_clock())
    }

    /// Assembles the handler's dependencies; `main` and every test call this.
    pub fn build(
        settings: Settings,
        store: Arc<dyn Store>,
        keys: Arc<KeySet>,
        clock: Clock,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            sessions: Sessions::new(store, &keys, settings.session)?,
            audit: settings.audit,
            clock,
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
    match deps.sessions.end(&presented, (deps.clock)()).await {
        Ok(sid) => {
            let who = Who {
                sid: Some(&sid),
                ..Who::default()
            };
            deps.audit
                .record(meta, Action::Logout, Outcome::Success, "revoked", who);
            Ok(empty_response(StatusCode::NO_CONTENT))
        }
        Err(GrantError::Refused(reason, _)) => {
            deps.audit.record(
                meta,
                Action::Logout,
                Outcome::Failure,
                reason.as_str(),
                Who::default(),
            );
            Err(ApiError::InvalidGrant)
        }
        Err(GrantError::Failed(e)) => Err(e),
    }
}
