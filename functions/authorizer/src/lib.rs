//! API Gateway HTTP API Lambda authorizer (payload 2.0, simple responses): verifies the bearer
//! access token with the same code as `protected` and passes `sub` and `sid` to the route in
//! `requestContext.authorizer.lambda`. The HTTP API's built-in JWT authorizer cannot be used
//! because it only verifies RSA keys, and access tokens are signed with Ed25519.

use std::sync::Arc;

use lambda_http::aws_lambda_events::apigw::ApiGatewayV2CustomAuthorizerV2Request;
use serde::Serialize;
use shared::config::{ConfigError, TokenConfig, Vars};
use shared::http::bearer_from_headers;
use shared::keys::{self, KeySet};
use shared::token::Tokens;

/// What this function reads from its environment.
pub struct Settings {
    /// `JWT_ISSUER`, `JWT_AUDIENCE`, `JWT_LEEWAY_SECONDS`.
    pub token: TokenConfig,
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
        })
    }
}

/// What the authorizer needs: only the public keys.
pub struct Deps {
    /// The access-token verifier.
    pub tokens: Tokens,
}

impl Deps {
    /// What `main` calls: settings and the public keys from the environment.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let keys = Arc::new(keys::load_public(&Vars::env()).await?);
        Self::build(Settings::from_env()?, keys)
    }

    /// Assembles the authorizer's dependencies; `main` and every test call this.
    pub fn build(settings: Settings, keys: Arc<KeySet>) -> Result<Self, ConfigError> {
        Ok(Self {
            tokens: Tokens::new(&settings.token, keys),
        })
    }
}

/// The context handed to the route when the token is good.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Context {
    /// The token's subject.
    pub sub: String,
    /// The token's session.
    pub sid: String,
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

/// Decides one request. A bad or missing token is a deny (API Gateway answers 403), never an
/// error (which API Gateway would turn into a 500).
pub fn handle(deps: &Deps, event: &ApiGatewayV2CustomAuthorizerV2Request) -> Decision {
    let deny = Decision {
        is_authorized: false,
        context: None,
    };
    let Ok(token) = bearer_from_headers(&event.headers, "") else {
        return deny;
    };
    match deps.tokens.verify(token) {
        Ok(claims) => Decision {
            is_authorized: true,
            context: Some(Context {
                sub: claims.sub,
                sid: claims.sid,
            }),
        },
        Err(rejected) => {
            tracing::info!(reason = rejected.as_str(), "authorizer denied a token");
            deny
        }
    }
}
