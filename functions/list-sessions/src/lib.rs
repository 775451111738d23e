//! `GET /sessions[?limit=N&next=CURSOR]`: the caller's live sessions (not revoked, not
//! expired), newest first, a page at a time, with the calling one marked `current`. One `Query`
//! of the sessions table's `by-user` index per page (a few more only past a long run of ended
//! sessions), reading about `limit` index items, however many sessions the user has.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::json;
use shared::account::SessionView;
use shared::http::{json_response, require_method};
use shared::{ApiError, RequestMeta};

mod query;

use query::PageQuery;

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
    // The cursor is checked against the caller, so it comes after the token.
    let query = PageQuery::parse(req, &caller.claims.sub)?;
    let now = (deps.clock)();
    let page = deps
        .sessions
        .page(&caller.claims.sub, now, query.limit, query.after.as_ref())
        .await?;
    let sessions: Vec<SessionView> = page
        .sessions
        .into_iter()
        .map(|s| SessionView::of(s, &caller.session.id))
        .collect();
    let next = page.next.map(|cursor| cursor.encode());
    Ok(json_response(
        StatusCode::OK,
        &json!({ "sessions": sessions, "next": next }),
    ))
}
