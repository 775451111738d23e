//! `GET /protected`: answers only to a valid access token.

use std::sync::Arc;

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::json;
use shared::config::{self, ConfigError, TokenConfig, Vars};
use shared::http::{authenticate, json_response, require_method};
use shared::keys::{self, KeySet};
use shared::token::Tokens;
use shared::{ApiError, RequestMeta};

/// What this function reads from its environment.
pub struct Settings {
    /// `JWT_ISSUER`, `JWT_AUDIENCE`, `JWT_LEEWAY_SECONDS`.
    pub token: TokenConfig,
    /// `AUTH_REALM`.
    pub realm: String,
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&Vars::env())
    }

    /// Reads these variables.
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        Ok(Self {
            token: TokenConfig::from_vars(vars)?,
            realm: config::realm(vars),
        })
    }
}

/// What the handler needs, built once per cold start: no store, only the verifier.
pub struct Deps {
    /// The access-token verifier.
    pub tokens: Tokens,
    /// The realm of 401 challenges.
    pub realm: String,
}

impl Deps {
    /// What `main` calls: settings and the public keys from the environment.
    pub async fn from_env() -> Result<Self, ConfigError> {
        // Verify-only: the private parts of the key set are never built.
        let keys = Arc::new(keys::load_public(&Vars::env()).await?);
        Self::build(Settings::from_env()?, keys)
    }

    /// Assembles the handler's dependencies; `main` and every test call this.
    pub fn build(settings: Settings, keys: Arc<KeySet>) -> Result<Self, ConfigError> {
        Ok(Self {
            tokens: Tokens::new(&settings.token, keys),
            realm: settings.realm,
        })
    }
}

/// Handles one request; every outcome, error or not, is a response.
pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    let meta = RequestMeta::of(&req);
    protected(deps, &req).unwrap_or_else(|e| e.into_response(&meta))
}

fn protected(deps: &Deps, req: &Request) -> Result<Response<Body>, ApiError> {
    require_method(req, Method::GET)?;
    let claims = authenticate(req, &deps.tokens, &deps.realm)?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"msg": "This is a protected route", "logged_in_as": claims.preferred_username}),
    ))
}
