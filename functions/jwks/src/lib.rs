//! `GET /.well-known/jwks.json`: the public keys that verify access tokens, as an RFC 7517 JWK
//! Set. Built once per cold start from the key set with its private parts dropped.

use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use shared::config::ConfigError;
use shared::http::{json_response, require_method};
use shared::keys::{self, KeySet};
use shared::{ApiError, RequestMeta};

/// Default `Cache-Control: max-age` (`JWKS_MAX_AGE_SECONDS`). Publish a new key at least this
/// long before signing with it, so cached copies know it.
pub const DEFAULT_MAX_AGE_SECONDS: u64 = 300;

#[derive(Serialize)]
struct Jwk<'a> {
    kty: &'static str,
    crv: &'static str,
    kid: &'a str,
    #[serde(rename = "use")]
    use_: &'static str,
    alg: &'static str,
    x: &'a str,
}

#[derive(Serialize)]
struct JwkSet<'a> {
    keys: Vec<Jwk<'a>>,
}

/// The JWK Set document and its caching header, ready to send.
pub struct Deps {
    document: serde_json::Value,
    cache_control: HeaderValue,
}

impl Deps {
    pub fn new(keys: &KeySet, max_age_seconds: u64) -> Result<Self, ConfigError> {
        let set = JwkSet {
            keys: keys
                .public_keys()
                .iter()
                .map(|k| Jwk {
                    kty: "OKP",
                    crv: "Ed25519",
                    kid: &k.kid,
                    use_: "sig",
                    alg: "EdDSA",
                    x: &k.x,
                })
                .collect(),
        };
        let document = serde_json::to_value(&set).map_err(|e| ConfigError::Invalid {
            name: "JWT_KEYS",
            reason: e.to_string(),
        })?;
        let cache_control = HeaderValue::from_str(&format!("public, max-age={max_age_seconds}"))
            .map_err(|e| ConfigError::Invalid {
                name: "JWKS_MAX_AGE_SECONDS",
                reason: e.to_string(),
            })?;
        Ok(Self {
            document,
            cache_control,
        })
    }

    pub async fn from_env() -> Result<Self, ConfigError> {
        let keys = keys::load_from_env().await?.public_only();
        let max_age = match std::env::var("JWKS_MAX_AGE_SECONDS") {
            Ok(v) if !v.trim().is_empty() => {
                v.trim().parse().map_err(|_| ConfigError::Invalid {
                    name: "JWKS_MAX_AGE_SECONDS",
                    reason: "not a whole number of seconds".into(),
                })?
            }
            _ => DEFAULT_MAX_AGE_SECONDS,
        };
        Self::new(&keys, max_age)
    }
}

/// Handles one request.
pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    let meta = RequestMeta::of(&req);
    jwks(deps, &req).unwrap_or_else(|e: ApiError| e.into_response(&meta))
}

fn jwks(deps: &Deps, req: &Request) -> Result<Response<Body>, ApiError> {
    require_method(req, Method::GET)?;
    let mut response = json_response(StatusCode::OK, &deps.document);
    // Public keys are meant to be cached (unlike every other response of this API).
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, deps.cache_control.clone());
    Ok(response)
}
