//! `GET /protected`: answers only to a valid access token.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::json;
use std::sync::Arc;

use shared::config::{self, ConfigError, TokenConfig};
use shared::http::{bearer_token, json_response, require_method};
use shared::keys;
use shared::token::Tokens;
use shared::{ApiError, RequestMeta};

/// What the handler needs, built once per cold start: no store, only the verifier.
pub struct Deps {
    pub tokens: Tokens,
    pub realm: String,
}

impl Deps {
    pub async fn from_env() -> Result<Self, ConfigError> {
        // Verify-only: the private parts of the key set are dropped at once.
        let keys = Arc::new(keys::load_public_from_env().await?);
        Ok(Self {
            tokens: Tokens::new(&TokenConfig::from_env()?, keys),
            realm: config::realm(),
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
    let token = bearer_token(req, &deps.realm)?;
    let claims = deps.tokens.verify(token).map_err(|rejected| {
        tracing::info!(reason = rejected.0, "bearer token rejected");
        ApiError::InvalidToken {
            realm: deps.realm.clone(),
        }
    })?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"msg": "This is a protected route", "logged_in_as": claims.sub}),
    ))
}
