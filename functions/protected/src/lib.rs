//! `GET /protected`: answers only to a valid access token. Stateless by default (no DynamoDB:
//! the fast path); with `SESSION_CHECK=true` it also checks, like the Lambda authorizer, that
//! the token's session is still live (one consistent read), so a revoked session's access
//! token is refused at once.

use std::sync::Arc;

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::json;
use shared::config::{self, ConfigError, Table, Tables, TokenConfig, Vars};
use shared::http::{authenticate, json_response, require_method};
use shared::keys::{self, KeySet};
use shared::store::{SessionStore, live_session};
use shared::token::Tokens;
use shared::{ApiError, Clock, RequestMeta};

/// What this function reads from its environment.
pub struct Settings {
    /// `JWT_ISSUER`, `JWT_AUDIENCE`, `JWT_LEEWAY_SECONDS`.
    pub token: TokenConfig,
    /// `AUTH_REALM`.
    pub realm: String,
    /// `SESSION_CHECK` (default false): with it, `SESSIONS_TABLE`.
    pub session_check: Option<Tables>,
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&Vars::env())
    }

    /// Reads these variables.
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let session_check = if config::session_check(vars)? {
            Some(Tables::from_vars(vars, &[Table::Sessions])?)
        } else {
            None
        };
        Ok(Self {
            token: TokenConfig::from_vars(vars)?,
            realm: config::realm(vars),
            session_check,
        })
    }
}

/// What the handler needs, built once per cold start: the verifier, and the sessions only with
/// `SESSION_CHECK=true`.
pub struct Deps {
    /// The access-token verifier.
    pub tokens: Tokens,
    /// The realm of 401 challenges.
    pub realm: String,
    /// Where a token's session is checked (`SESSION_CHECK=true`), with the clock to check it by.
    pub sessions: Option<(Arc<dyn SessionStore>, Clock)>,
}

impl Deps {
    /// What `main` calls: settings and the public keys from the environment, and the DynamoDB
    /// client only with `SESSION_CHECK=true` (the default path opens no connection).
    pub async fn from_env() -> Result<Self, ConfigError> {
        let settings = Settings::from_env()?;
        let tables = settings.session_check.clone();
        // Verify-only: the private parts of the key set are never built.
        let keys = Arc::new(keys::load_public(&Vars::env()).await?);
        let deps = Self::build(settings, keys)?;
        Ok(match tables {
            Some(tables) => deps.checking_sessions(connect(tables).await?, shared::system_clock()),
            None => deps,
        })
    }

    /// The same function, checking each token's session in `sessions` (`SESSION_CHECK=true`).
    pub fn checking_sessions(mut self, sessions: Arc<dyn SessionStore>, clock: Clock) -> Self {
        self.sessions = Some((sessions, clock));
        self
    }

    /// Assembles the handler's dependencies; `main` and every test call this.
    pub fn build(settings: Settings, keys: Arc<KeySet>) -> Result<Self, ConfigError> {
        Ok(Self {
            tokens: Tokens::new(&settings.token, keys),
            realm: settings.realm,
            sessions: None,
        })
    }
}

#[cfg(feature = "session-check")]
async fn connect(tables: Tables) -> Result<Arc<dyn SessionStore>, ConfigError> {
    Ok(shared::store::dynamo::DynamoStore::connect(tables)?)
}

/// Built without DynamoDB (`protected` alone): `SESSION_CHECK=true` belongs to the
/// `protected-session` binary, which `template.yaml` deploys for it.
#[cfg(not(feature = "session-check"))]
async fn connect(_tables: Tables) -> Result<Arc<dyn SessionStore>, ConfigError> {
    Err(ConfigError::Invalid {
        name: "SESSION_CHECK",
        reason: "this build checks no sessions: SESSION_CHECK=true needs the protected-session \
                 binary"
            .into(),
    })
}

/// The function's life: logging, the dependencies once, then one request after another. Both
/// builds of this handler (`protected` and `protected-session`) run it from `main`.
pub async fn serve() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let deps = Deps::from_env().await?;
    let deps = &deps;
    lambda_http::run(lambda_http::service_fn(move |req| async move {
        Ok::<_, lambda_http::Error>(handle(deps, req).await)
    }))
    .await
}

/// Handles one request; every outcome, error or not, is a response.
pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    let meta = RequestMeta::of(&req);
    protected(deps, &req)
        .await
        .unwrap_or_else(|e| e.into_response(&meta))
}

async fn protected(deps: &Deps, req: &Request) -> Result<Response<Body>, ApiError> {
    require_method(req, Method::GET)?;
    let claims = authenticate(req, &deps.tokens, &deps.realm)?;
    if let Some((sessions, clock)) = &deps.sessions {
        let live = live_session(sessions.as_ref(), &claims.sid, &claims.sub, clock()).await?;
        if live.is_none() {
            tracing::info!(reason = "session_not_live", "token refused");
            return Err(ApiError::InvalidToken {
                realm: deps.realm.clone(),
            });
        }
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({"msg": "This is a protected route", "logged_in_as": claims.preferred_username}),
    ))
}
