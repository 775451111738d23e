//! `DELETE /sessions/{sid}`: revokes one of the caller's live sessions. An unknown sid and
//! another user's sid are the same `404 session_not_found`, so the route tells nothing about
//! sessions that are not the caller's.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use shared::audit::{Action, Outcome, Who};
use shared::http::{empty_response, require_method};
use shared::routes::{self, SESSION};
use shared::{ApiError, RequestMeta};

pub use shared::account::{Deps, Settings};

/// Longer than any session id (22 base64url characters); no store read for such a path.
const MAX_SID_CHARS: usize = 64;

/// Handles one request; every outcome, error or not, is a response.
pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    let meta = RequestMeta::of(&req);
    end(deps, &req, &meta)
        .await
        .unwrap_or_else(|e| e.into_response(&meta))
}

async fn end(deps: &Deps, req: &Request, meta: &RequestMeta) -> Result<Response<Body>, ApiError> {
    require_method(req, Method::DELETE)?;
    let caller = deps.caller(req).await?;
    let sid = routes::capture(SESSION, req.uri().path(), "sid")
        .filter(|sid| sid.len() <= MAX_SID_CHARS)
        .ok_or(ApiError::SessionNotFound)?;
    let ended = deps
        .sessions
        .end_owned(sid, &caller.claims.sub, (deps.clock)())
        .await?;
    if !ended {
        return Err(ApiError::SessionNotFound);
    }
    deps.audit.record(
        meta,
        Action::EndSession,
        Outcome::Success,
        "session_revoked",
        Who::of(&caller.claims),
    );
    Ok(empty_response(StatusCode::NO_CONTENT))
}
