//! `GET /me`: an example of a route protected by a gateway authorizer. It does no token work
//! of its own; it returns the identity the authorizer passed along: the Lambda authorizer's
//! `requestContext.authorizer.lambda`, or with `GatewayAuthorizer=jwt` the claims API Gateway's
//! own JWT authorizer verified, `requestContext.authorizer.jwt.claims`.
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

/// The identity a gateway authorizer passed along, whichever kind it was.
struct Identity<'a> {
    sub: &'a str,
    username: &'a str,
    sid: &'a str,
    scope: String,
    roles: String,
    exp: u64,
    authorized_by: &'static str,
}

/// Reads the Lambda authorizer's context (`requestContext.authorizer.lambda`), or else the
/// claims API Gateway's own JWT authorizer verified (`requestContext.authorizer.jwt.claims`,
/// every value a string: numbers as digits, arrays as `[a b]`).
fn identity(req: &Request) -> Option<Identity<'_>> {
    let Some(RequestContext::ApiGatewayV2(ctx)) = req.request_context_ref() else {
        return None;
    };
    let authorizer = ctx.authorizer.as_ref()?;
    if let Some(jwt) = authorizer.jwt.as_ref() {
        let claim = |name: &str| jwt.claims.get(name).map(String::as_str);
        return Some(Identity {
            sub: claim("sub")?,
            username: claim("preferred_username").unwrap_or_default(),
            sid: claim("sid")?,
            scope: claim("scope").unwrap_or_default().to_owned(),
            roles: gateway_array(claim("roles").unwrap_or_default()),
            exp: claim("exp")?.parse().ok()?,
            authorized_by: "jwt-authorizer",
        });
    }
    let fields = &authorizer.fields;
    let field = |name: &str| fields.get(name).and_then(|v| v.as_str());
    Some(Identity {
        sub: field("sub")?,
        username: field("username").unwrap_or_default(),
        sid: field("sid")?,
        scope: field("scope").unwrap_or_default().to_owned(),
        roles: field("roles").unwrap_or_default().to_owned(),
        exp: fields.get("exp").and_then(|v| v.as_u64())?,
        authorized_by: "lambda-authorizer",
    })
}

/// API Gateway's JWT authorizer hands an array claim on as `[a b]`: space-joined, like the
/// Lambda authorizer's `roles`.
fn gateway_array(value: &str) -> String {
    let inner = value
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .unwrap_or(value);
    inner.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn me(deps: &Deps, req: &Request) -> Result<Response<Body>, ApiError> {
    require_method(req, Method::GET)?;
    let Some(id) = identity(req) else {
        return Err(ApiError::MissingToken {
            realm: deps.realm.clone(),
        });
    };
    // API Gateway caches a Lambda authorizer's allow for its TTL, whatever the token's `exp`:
    // a cached decision never outlives the token here.
    if (deps.clock)() >= id.exp {
        return Err(ApiError::InvalidToken {
            realm: deps.realm.clone(),
        });
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "sub": id.sub,
            "username": id.username,
            "sid": id.sid,
            "scope": id.scope,
            "roles": id.roles,
            "exp": id.exp,
            "authorized_by": id.authorized_by,
        }),
    ))
}
