//! `POST /refresh`: exchanges a refresh token for a new access token and the next refresh
//! token (rotation), detecting reuse of rotated tokens.

use std::sync::Arc;

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use shared::audit::{Action, Audit, Outcome, Who};
use shared::config::{ConfigError, Limit, SessionConfig, Table, Tables, TokenConfig, Vars};
use shared::http::{json_response, read_json_object, require_method};
use shared::keys::{self, KeySet};
use shared::rate_limit::{RateLimiter, source_subject};
use shared::refresh::{GrantError, Sessions};
use shared::roles::RoleScopes;
use shared::store::dynamo::DynamoStore;
use shared::store::{Store, UserStore};
use shared::token::{Subject, TokenResponse, Tokens};
use shared::validation::required_string;
use shared::{ApiError, Clock, RequestMeta, system_clock};

/// What this function reads from its environment.
pub struct Settings {
    /// `USERS_TABLE`, `RATE_LIMIT_TABLE`, `SESSIONS_TABLE`.
    pub tables: Tables,
    /// `SESSION_TTL_SECONDS`, `REFRESH_GRACE_SECONDS`.
    pub session: SessionConfig,
    /// `JWT_ISSUER`, `JWT_AUDIENCE`, `ACCESS_TOKEN_TTL_SECONDS`, `JWT_LEEWAY_SECONDS`.
    pub token: TokenConfig,
    /// `REFRESH_IP_*`.
    pub limit: Limit,
    /// `AUDIT_LOG_USERNAMES`.
    pub audit: Audit,
    /// `ROLE_SCOPES`.
    pub roles: RoleScopes,
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&Vars::env())
    }

    /// Reads these variables.
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        Ok(Self {
            tables: Tables::from_vars(vars, &[Table::Users, Table::RateLimits, Table::Sessions])?,
            session: SessionConfig::from_vars(vars)?,
            token: TokenConfig::from_vars(vars)?,
            limit: Limit::refresh(vars)?,
            audit: Audit::from_vars(vars)?,
            roles: RoleScopes::from_vars(vars)?,
        })
    }
}

/// What the handler needs, built once per cold start.
pub struct Deps {
    /// Session rotation.
    pub sessions: Sessions,
    /// The users whose sessions rotate (re-read at every refresh).
    pub users: Arc<dyn UserStore>,
    /// Which roles grant which scopes.
    pub roles: RoleScopes,
    /// The access-token signer.
    pub tokens: Tokens,
    /// Per-IP counters.
    pub limiter: RateLimiter,
    /// The `refresh-ip` policy.
    pub limit: Limit,
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
        let keys = Arc::new(keys::load(&Vars::env()).await?);
        Self::build(settings, store, keys, system_clock())
    }

    /// Assembles the handler's dependencies; `main` and every test call this.
    pub fn build(
        settings: Settings,
        store: Arc<dyn Store>,
        keys: Arc<KeySet>,
        clock: Clock,
    ) -> Result<Self, ConfigError> {
        keys.require_signing_alg(settings.token.alg)?;
        Ok(Self {
            sessions: Sessions::new(store.clone(), &keys, settings.session)?,
            users: store.clone(),
            roles: settings.roles,
            tokens: Tokens::new(&settings.token, keys),
            limiter: RateLimiter::new(store),
            limit: settings.limit,
            audit: settings.audit,
            clock,
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
    let presented = required_string(&body, "refresh_token")?;
    // Every attempt counts against the source IP; the limit is taken while the session is read,
    // and its log trimmed beside the rotation.
    let admit = async {
        let slot = deps
            .limiter
            .take(&deps.limit, &source_subject(&meta.source_ip), now)
            .await
            .map_err(|e| deps.audit.limited(meta, Action::Refresh, e, Who::default()))?;
        Ok(async move { deps.limiter.settle(&slot).await })
    };
    let refreshed = match deps
        .sessions
        .refresh(&presented, now, admit, deps.users.as_ref())
        .await
    {
        Ok(r) => r,
        Err(GrantError::Refused(reason, holder)) => {
            let who = Who {
                sub: holder.user_id.as_deref(),
                sid: holder.sid.as_deref(),
                username: "",
            };
            deps.audit.record(
                meta,
                Action::Refresh,
                Outcome::Failure,
                reason.as_str(),
                who,
            );
            return Err(ApiError::InvalidGrant);
        }
        Err(GrantError::Failed(e)) => return Err(e),
    };
    let reason = if refreshed.from_grace {
        "grace"
    } else {
        "rotated"
    };
    deps.audit.record(
        meta,
        Action::Refresh,
        Outcome::Success,
        reason,
        Who::session(&refreshed.user_id, &refreshed.sid, &refreshed.username),
    );
    // Roles and scopes from the user item as it is now: a role change shows here.
    let grant = deps.roles.grant(&refreshed.user.roles);
    let subject = Subject {
        user_id: &refreshed.user_id,
        username: &refreshed.user.username,
        grant: &grant,
        amr: &refreshed.amr,
    };
    let issued =
        deps.tokens
            .issue_until(&subject, &refreshed.sid, now, refreshed.session_expires_at)?;
    Ok(json_response(
        StatusCode::OK,
        &TokenResponse::new(issued, refreshed.refresh_token),
    ))
}
