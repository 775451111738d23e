//! `GET /.well-known/jwks.json`: the public keys that verify access tokens, as an RFC 7517 JWK
//! Set. Built once per cold start from the key set with its private parts dropped.

use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use std::sync::Arc;

use shared::config::{self, ConfigError, Vars};
use shared::http::{json_response, require_method};
use shared::jsonwebtoken::Algorithm;
use shared::keys::{self, KeySet};
use shared::{ApiError, RequestMeta};

/// What this function reads from its environment.
pub struct Settings {
    /// `JWKS_MAX_AGE_SECONDS`.
    pub max_age_seconds: u64,
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&Vars::env())
    }

    /// Reads these variables.
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        Ok(Self {
            max_age_seconds: config::jwks_max_age(vars)?,
        })
    }
}

/// One public key: `OKP`/`Ed25519` with `x`, or `RSA` with `n` and `e` (RFC 7517, 7518, 8037).
#[derive(Serialize)]
#[serde(tag = "kty")]
enum Jwk<'a> {
    #[serde(rename = "OKP")]
    Okp {
        crv: &'static str,
        kid: &'a str,
        #[serde(rename = "use")]
        use_: &'static str,
        alg: &'static str,
        x: &'a str,
    },
    #[serde(rename = "RSA")]
    Rsa {
        kid: &'a str,
        #[serde(rename = "use")]
        use_: &'static str,
        alg: &'static str,
        n: &'a str,
        e: &'a str,
    },
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
    /// What `main` calls: settings and the public keys from the environment.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let keys = Arc::new(keys::load_public(&Vars::env()).await?);
        Self::build(Settings::from_env()?, keys)
    }

    /// Renders the document once; `main` and every test call this.
    pub fn build(settings: Settings, keys: Arc<KeySet>) -> Result<Self, ConfigError> {
        let max_age_seconds = settings.max_age_seconds;
        let set = JwkSet {
            keys: keys
                .public_keys()
                .iter()
                .map(|k| match k.alg {
                    Algorithm::RS256 => Jwk::Rsa {
                        kid: &k.kid,
                        use_: "sig",
                        alg: "RS256",
                        n: &k.n,
                        e: &k.e,
                    },
                    _ => Jwk::Okp {
                        crv: "Ed25519",
                        kid: &k.kid,
                        use_: "sig",
                        alg: "EdDSA",
                        x: &k.x,
                    },
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
}

/// The function's life: logging, the dependencies once, then one request after another.
pub async fn serve() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let deps = Deps::from_env().await?;
    let deps = &deps;
    lambda_http::run(lambda_http::service_fn(move |req| async move {
        Ok::<_, lambda_http::Error>(handle(deps, req).await)
    }))
    .await
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
