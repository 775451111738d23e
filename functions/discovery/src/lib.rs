//! `GET /.well-known/openid-configuration`: the discovery document (OpenID Connect Discovery 1.0
//! section 3, RFC 8414) of the token issuer, as API Gateway's built-in JWT authorizer and other
//! verifiers fetch it: `issuer` (equal to the tokens' `iss`), `jwks_uri`, and the signing
//! algorithm. Only fields that are true of this API are listed: it has no authorization or token
//! endpoint of OAuth's shape, so `authorization_endpoint`, `token_endpoint`,
//! `response_types_supported` and the like are deliberately absent (see docs/api.md). No keys
//! and no AWS client: nothing to fetch at cold start.

use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use shared::config::{self, ConfigError, KeyAlg, Vars};
use shared::http::{json_response, require_method};
use shared::{ApiError, RequestMeta};

/// The path of the JWK Set, relative to the deployment's base URL.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// What this function reads from its environment.
pub struct Settings {
    /// `JWT_ISSUER`: the tokens' `iss`. A deployment's issuer is its public base URL, so that
    /// `{iss}/.well-known/openid-configuration` resolves.
    pub issuer: String,
    /// `JWKS_MAX_AGE_SECONDS`: the document is cached like the JWKS.
    pub max_age_seconds: u64,
    /// `JWT_ALG`: the algorithm advertised.
    pub alg: KeyAlg,
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&Vars::env())
    }

    /// Reads these variables.
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let token = shared::config::TokenConfig::from_vars(vars)?;
        Ok(Self {
            issuer: token.issuer,
            max_age_seconds: config::jwks_max_age(vars)?,
            alg: token.alg,
        })
    }
}

/// The document's fixed parts and its caching header.
pub struct Deps {
    issuer: String,
    alg: &'static str,
    /// `Some` when the issuer is a URL: the JWKS lives under it.
    jwks_uri: Option<String>,
    cache_control: HeaderValue,
}

impl Deps {
    /// What `main` calls.
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::build(Settings::from_env()?)
    }

    /// Assembles the handler's dependencies; `main` and every test call this.
    pub fn build(settings: Settings) -> Result<Self, ConfigError> {
        let issuer = settings.issuer;
        let is_url = issuer.starts_with("https://") || issuer.starts_with("http://");
        let jwks_uri = is_url.then(|| format!("{}{JWKS_PATH}", issuer.trim_end_matches('/')));
        let cache_control =
            HeaderValue::from_str(&format!("public, max-age={}", settings.max_age_seconds))
                .map_err(|e| ConfigError::Invalid {
                    name: "JWKS_MAX_AGE_SECONDS",
                    reason: e.to_string(),
                })?;
        Ok(Self {
            issuer,
            alg: match settings.alg {
                KeyAlg::EdDsa => "EdDSA",
                KeyAlg::Rs256 => "RS256",
            },
            jwks_uri,
            cache_control,
        })
    }
}

#[derive(Serialize)]
struct Discovery<'a> {
    issuer: &'a str,
    jwks_uri: String,
    id_token_signing_alg_values_supported: [&'static str; 1],
    subject_types_supported: [&'static str; 1],
    claims_supported: [&'static str; 11],
}

/// Handles one request.
pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    let meta = RequestMeta::of(&req);
    discovery(deps, &req).unwrap_or_else(|e: ApiError| e.into_response(&meta))
}

/// The base URL the request came to: API Gateway's domain name (always HTTPS), or locally the
/// `Host` header over plain HTTP.
fn base_url(req: &Request) -> Option<String> {
    if let Some(RequestContext::ApiGatewayV2(ctx)) = req.request_context_ref()
        && let Some(domain) = ctx.domain_name.as_deref().filter(|d| !d.is_empty())
        && !domain.starts_with("localhost")
        && !domain.starts_with("127.0.0.1")
    {
        return Some(format!("https://{domain}"));
    }
    let host = req.headers().get(header::HOST)?.to_str().ok()?;
    Some(format!("http://{host}"))
}

fn discovery(deps: &Deps, req: &Request) -> Result<Response<Body>, ApiError> {
    require_method(req, Method::GET)?;
    // An issuer that is not a URL (the template's default) still gets an absolute `jwks_uri`,
    // the one of the deployment that answered.
    let jwks_uri = match (&deps.jwks_uri, base_url(req)) {
        (Some(uri), _) => uri.clone(),
        (None, Some(base)) => format!("{base}{JWKS_PATH}"),
        (None, None) => return Err(ApiError::Internal("no base URL for jwks_uri".into())),
    };
    let document = Discovery {
        issuer: &deps.issuer,
        jwks_uri,
        id_token_signing_alg_values_supported: [deps.alg],
        subject_types_supported: ["public"],
        claims_supported: [
            "sub",
            "preferred_username",
            "sid",
            "scope",
            "roles",
            "iss",
            "aud",
            "exp",
            "nbf",
            "iat",
            "jti",
        ],
    };
    let mut response = json_response(StatusCode::OK, &document);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, deps.cache_control.clone());
    Ok(response)
}
