//! API Gateway HTTP API Lambda authorizer (payload 2.0, simple responses): verifies the bearer
//! access token with the same code as `protected`, checks that the token's session is still
//! live (one consistent read: a revoked, expired or deleted session is a deny), and passes the
//! identity to the route in `requestContext.authorizer.lambda`. The HTTP API's built-in JWT
//! authorizer verifies RSA keys only (the template's `GatewayAuthorizer=jwt` uses it for RS256
//! tokens) and cannot see sessions.

use std::collections::BTreeMap;
use std::sync::Arc;

use lambda_http::aws_lambda_events::apigw::ApiGatewayV2CustomAuthorizerV2Request;
use serde::Serialize;
use shared::Clock;
use shared::config::{ConfigError, Table, Tables, TokenConfig, Vars};
use shared::http::bearer_from_headers;
use shared::keys::{self, KeySet};
use shared::roles::is_scope_token;
use shared::store::{SessionStore, live_session};
use shared::token::{Claims, Tokens};

/// What this function reads from its environment.
pub struct Settings {
    /// `SESSIONS_TABLE`.
    pub tables: Tables,
    /// `JWT_ISSUER`, `JWT_AUDIENCE`, `JWT_LEEWAY_SECONDS`.
    pub token: TokenConfig,
    /// `AUTHORIZER_ROUTE_SCOPES`.
    pub route_scopes: RouteScopes,
}

/// `AUTHORIZER_ROUTE_SCOPES`: route key (`"GET /me"`) → the scopes a token needs on it, as a
/// JSON object (default `{}`: a valid token is enough everywhere).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteScopes(BTreeMap<String, Vec<String>>);

impl RouteScopes {
    /// Reads `AUTHORIZER_ROUTE_SCOPES`; anything but an object of route keys to arrays of
    /// scope tokens stops the function at start.
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let invalid = |reason: String| ConfigError::Invalid {
            name: "AUTHORIZER_ROUTE_SCOPES",
            reason,
        };
        let Some(text) = vars.get("AUTHORIZER_ROUTE_SCOPES") else {
            return Ok(Self::default());
        };
        let map: BTreeMap<String, Vec<String>> = serde_json::from_str(&text)
            .map_err(|e| invalid(format!("not a JSON object of route -> [scope, ...]: {e}")))?;
        for (route, scopes) in &map {
            if !route.contains(' ') {
                return Err(invalid(format!(
                    "{route:?} is not a route key like \"GET /me\""
                )));
            }
            if let Some(bad) = scopes.iter().find(|s| !is_scope_token(s)) {
                return Err(invalid(format!("{route}: {bad:?} is not a scope token")));
            }
        }
        Ok(Self(map))
    }

    /// The first scope `route` requires that `claims` lack.
    fn missing<'a>(&'a self, route: &str, claims: &Claims) -> Option<&'a str> {
        self.0
            .get(route)
            .into_iter()
            .flatten()
            .find(|s| !claims.has_scope(s))
            .map(String::as_str)
    }
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
            token: TokenConfig::from_vars(vars)?,
            route_scopes: RouteScopes::from_vars(vars)?,
        })
    }
}

/// What the authorizer needs: the public keys and the sessions.
pub struct Deps {
    /// The access-token verifier.
    pub tokens: Tokens,
    /// The scopes each route requires.
    pub route_scopes: RouteScopes,
    /// Where a token's session is checked.
    pub sessions: Arc<dyn SessionStore>,
    /// Now.
    pub clock: Clock,
}

impl Deps {
    /// What `main` calls: settings and the public keys from the environment, the DynamoDB
    /// store, the real clock.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let settings = Settings::from_env()?;
        let store = shared::store::dynamo::DynamoStore::connect(settings.tables.clone())?;
        let keys = Arc::new(keys::load_public(&Vars::env()).await?);
        Self::build(settings, store, keys, shared::system_clock())
    }

    /// Assembles the authorizer's dependencies; `main` and every test call this.
    pub fn build(
        settings: Settings,
        sessions: Arc<dyn SessionStore>,
        keys: Arc<KeySet>,
        clock: Clock,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            tokens: Tokens::new(&settings.token, keys),
            route_scopes: settings.route_scopes,
            sessions,
            clock,
        })
    }
}

/// The context handed to the route when the token is good.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Context {
    /// The user's stable id.
    pub sub: String,
    /// The token's session.
    pub sid: String,
    /// The username as registered.
    pub username: String,
    /// The granted scopes, space-separated.
    pub scope: String,
    /// The roles, space-separated.
    pub roles: String,
    /// When the token expires (epoch seconds): routes refuse a cached allow past it.
    pub exp: u64,
}

/// The simple response format of HTTP API Lambda authorizers.
#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    /// Allow or deny.
    pub is_authorized: bool,
    /// What the route sees in `requestContext.authorizer.lambda` (on allow only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<Context>,
}

/// Decides one request. A bad or missing token, or one whose session is no longer live, is a
/// deny (API Gateway answers 403), never an error (which API Gateway would turn into a 500); a
/// failed session read is a deny too (fail closed).
pub async fn handle(deps: &Deps, event: &ApiGatewayV2CustomAuthorizerV2Request) -> Decision {
    let deny = Decision {
        is_authorized: false,
        context: None,
    };
    let Ok(token) = bearer_from_headers(&event.headers, "") else {
        return deny;
    };
    match deps.tokens.verify(token) {
        Ok(claims) => {
            let route = event.route_key.as_deref().unwrap_or_default();
            if let Some(scope) = deps.route_scopes.missing(route, &claims) {
                tracing::info!(scope, route, "authorizer denied: scope missing");
                return deny;
            }
            let now = (deps.clock)();
            match live_session(deps.sessions.as_ref(), &claims.sid, &claims.sub, now).await {
                Ok(Some(_)) => {}
                Ok(None) => {
                    tracing::info!(reason = "session_not_live", "authorizer denied a token");
                    return deny;
                }
                Err(e) => {
                    tracing::error!(error = %e, "authorizer denied: session check failed");
                    return deny;
                }
            }
            Decision {
                is_authorized: true,
                context: Some(Context {
                    roles: claims.roles.join(" "),
                    sub: claims.sub,
                    sid: claims.sid,
                    username: claims.preferred_username,
                    scope: claims.scope,
                    exp: claims.exp,
                }),
            }
        }
        Err(rejected) => {
            tracing::info!(reason = rejected.as_str(), "authorizer denied a token");
            deny
        }
    }
}
