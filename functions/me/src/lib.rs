//! `GET /me`: an example of a route protected by the gateway authorizer. It does no token work
//! of its own; it returns the identity the authorizer put in `requestContext.authorizer.lambda`.
//! Deployed, API Gateway never invokes it without a successful authorizer decision; invoked
//! any other way (locally, `cargo lambda watch` cannot run authorizers) it answers 401.

use lambda_http::http::{Method, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::json;
use shared::config::{self, ConfigError, Vars};
use shared::http::{json_response, require_method};
use shared::{ApiError, Clock, RequestMeta, system_clock};

/// What this function reads from its environment.
pub struct Settings {
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
            realm: config::realm(vars),
        })
    }
}

/// The realm for the 401 challenge and a clock to hold `exp` against.
pub struct Deps {
    /// The realm of 401 challenges.
    pub realm: String,
    /// Now.
    pub clock: Clock,
}

impl Deps {
    /// What `main` calls.
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::build(Settings::from_env()?, system_clock())
    }

    /// Assembles the handler's dependencies; `main` and every test call this.
    pub fn build(settings: Settings, clock: Clock) -> Result<Self, ConfigError> {
        Ok(Self {
            realm: settings.realm,
            clock,
        })
    }
}

/// Handles one request.
pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    let meta = RequestMeta::of(&req);
    me(deps, &req).unwrap_or_else(|e| e.into_response(&meta))
}

fn me(deps: &Deps, req: &Request) -> Result<Response<Body>, ApiError> {
    require_method(req, Method::GET)?;
    let context = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.authorizer.as_ref().map(|a| &a.fields),
        _ => None,
    };
    let field = |name: &str| context.and_then(|c| c.get(name)).and_then(|v| v.as_str());
    let exp = context.and_then(|c| c.get("exp")).and_then(|v| v.as_u64());
    let (Some(sub), Some(sid), Some(exp)) = (field("sub"), field("sid"), exp) else {
        return Err(ApiError::MissingToken {
            realm: deps.realm.clone(),
        });
    };
    // API Gateway caches an allow for the authorizer's TTL, whatever the token's `exp`: a
    // cached decision never outlives the token here.
    if (deps.clock)() >= exp {
        return Err(ApiError::InvalidToken {
            realm: deps.realm.clone(),
        });
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "sub": sub,
            "username": field("username").unwrap_or_default(),
            "sid": sid,
            "scope": field("scope").unwrap_or_default(),
            "roles": field("roles").unwrap_or_default(),
            "exp": exp,
            "authorized_by": "lambda-authorizer",
        }),
    ))
}
