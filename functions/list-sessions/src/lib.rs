//! `GET /sessions`: the caller's live sessions (not revoked, not expired), newest first, with
//! the calling one marked `current`. One `Query` of the sessions table's `by-user` index.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::json;
use shared::account::SessionView;
use shared::http::{json_response, require_method};
use shared::{ApiError, RequestMeta};

pub use shared::account::{Deps, Settings};

/// Handles one request; every outcome, error or not, is a response.
pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    let meta = RequestMeta::of(&req);
    list(deps, &req)
        .await
        .unwrap_or_else(|e| e.into_response(&meta))
}

async fn list(deps: &Deps, req: &Request) -> Result<Response<Body>, ApiError> {
    require_method(req, Method::GET)?;
    let caller = deps.caller(req).await?;
    let now = (deps.clock)();
    let sessions: Vec<SessionView> = deps
        .sessions
        .list(&caller.claims.sub, Some(now))
        .await?
        .into_iter()
        .map(|s| SessionView::of(s, &caller.session.id))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({ "sessions": sessions }),
    ))
}
