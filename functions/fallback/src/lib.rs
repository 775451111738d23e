//! The HTTP API's `$default` route: a JSON 404 for unknown paths and a JSON 405 with `Allow` for
//! known paths called with the wrong method, instead of API Gateway's `{"message":"Not Found"}`.
//! Both come from the route table, `shared::routes::ROUTES`.

use lambda_http::{Body, Request, Response};
use shared::config::{ConfigError, Vars};
use shared::routes::allowed_methods;
use shared::{ApiError, RequestMeta};

/// What this function reads from its environment: nothing, the route table is static.
pub struct Settings;

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&Vars::env())
    }

    /// Reads these variables.
    pub fn from_vars(_vars: &Vars) -> Result<Self, ConfigError> {
        Ok(Self)
    }
}

/// Nothing to build: the route table is static.
pub struct Deps;

impl Deps {
    /// What `main` calls.
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::build(Settings::from_env()?)
    }

    /// Assembles the handler's dependencies; `main` and every test call this.
    pub fn build(_settings: Settings) -> Result<Self, ConfigError> {
        Ok(Self)
    }
}

/// Handles one request.
pub async fn handle(_deps: &Deps, req: Request) -> Response<Body> {
    let meta = RequestMeta::of(&req);
    let error = match allowed_methods(req.uri().path()) {
        Some(allow) => ApiError::MethodNotAllowed { allow },
        None => ApiError::NotFound,
    };
    error.into_response(&meta)
}
