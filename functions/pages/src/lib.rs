//! `GET /verify-email`, `GET /reset-password`, `GET /pages/app.js`, `GET /pages/app.css`: the
//! two small pages a mail's link opens, their one script and their style, served by the API
//! itself. The token is in the link's fragment, which the browser keeps to itself: the script
//! reads it there and posts it to `POST /email/verify` or `POST /password/reset`.
//!
//! Every asset is compiled in (`assets/`), with a Content-Security-Policy that lets the pages
//! load nothing but this script and this style and call nothing but this API: no inline script
//! or style, no third party, no form submitted by the browser itself, no framing.

use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, Response};
use shared::config::{ConfigError, Vars};
use shared::http::{empty_response, require_method};
use shared::{ApiError, RequestMeta};

/// The policy of every asset.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; \
     base-uri 'none'";

/// One file served.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// The request path.
    pub path: &'static str,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its text.
    pub text: &'static str,
}

const HTML: &str = "text/html; charset=utf-8";

/// Every file this function serves.
pub const ASSETS: &[Asset] = &[
    Asset {
        path: "/verify-email",
        content_type: HTML,
        text: include_str!("../assets/verify-email.html"),
    },
    Asset {
        path: "/reset-password",
        content_type: HTML,
        text: include_str!("../assets/reset-password.html"),
    },
    Asset {
        path: "/pages/app.js",
        content_type: "text/javascript; charset=utf-8",
        text: include_str!("../assets/app.js"),
    },
    Asset {
        path: "/pages/app.css",
        content_type: "text/css; charset=utf-8",
        text: include_str!("../assets/app.css"),
    },
];

/// What this function reads from its environment: nothing, the pages are compiled in.
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

/// Nothing to build: the pages are compiled in.
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

/// Handles one request: the asset at its path, a JSON 404 for any other path, and a JSON 405
/// for a method other than `GET`.
pub async fn handle(_deps: &Deps, req: Request) -> Response<Body> {
    let meta = RequestMeta::of(&req);
    serve(&req).unwrap_or_else(|e| e.into_response(&meta))
}

fn serve(req: &Request) -> Result<Response<Body>, ApiError> {
    let asset = ASSETS
        .iter()
        .find(|a| a.path == req.uri().path())
        .ok_or(ApiError::NotFound)?;
    require_method(req, Method::GET)?;
    // The headers every answer carries (no-store, nosniff, HSTS, no-referrer), and the policy.
    let mut response = empty_response(StatusCode::OK);
    *response.body_mut() = Body::Text(asset.text.to_owned());
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    Ok(response)
}
