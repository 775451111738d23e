//! API Gateway HTTP API Lambda authorizer (payload 2.0, simple responses): verifies the bearer
//! access token with the same code as `protected` and passes `sub` and `sid` to the route in
//! `requestContext.authorizer.lambda`. The HTTP API's built-in JWT authorizer cannot be used
//! because it only verifies RSA keys, and access tokens are signed with Ed25519.

use std::sync::Arc;

use lambda_http::aws_lambda_events::apigw::ApiGatewayV2CustomAuthorizerV2Request;
use serde::Serialize;
use shared::config::{ConfigError, TokenConfig};
use shared::http::bearer_from_headers;
use shared::keys;
use shared::token::Tokens;

/// What the authorizer needs: only the public keys.
pub struct Deps {
    pub tokens: Tokens,
}

impl Deps {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let keys = Arc::new(keys::load_public_from_env().await?);
        Ok(Self {
            tokens: Tokens::new(&TokenConfig::from_env()?, keys),
        })
    }
}

/// The context handed to the route when the token is good.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Context {
    pub sub: String,
    pub sid: String,
}

/// The simple response format of HTTP API Lambda authorizers.
#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    pub is_authorized: bool,
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
            tracing::info!(reason = rejected.0, "authorizer denied a token");
            deny
        }
    }
}
