//! `DELETE /sessions`: "log out everywhere". Revokes every session of the caller, the calling
//! one included; their refresh tokens stop at once, and their access tokens on every route that
//! checks the session (the Lambda authorizer, the account routes, `SESSION_CHECK=true`). The
//! user's familiar sources are forgotten too (`shared::lockout`).

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use shared::audit::{Action, Outcome, Who};
use shared::http::{empty_response, require_method};
use shared::{ApiError, RequestMeta};

pub use shared::account::{Deps, Settings};

/// Handles one request; every outcome, error or not, is a response.
pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    let meta = RequestMeta::of(&req);
    end_all(deps, &req, &meta)
        .await
        .unwrap_or_else(|e| e.into_response(&meta))
}

async fn end_all(
    deps: &Deps,
    req: &Request,
    meta: &RequestMeta,
) -> Result<Response<Body>, ApiError> {
    require_method(req, Method::DELETE)?;
    let caller = deps.caller(req).await?;
    // Beside the revocation: every familiar source of the user becomes a stranger again, so a
    // place that was trusted before "log out everywhere" is not trusted after it.
    let key = caller.key();
    let (revoked, forgotten) = tokio::join!(
        deps.sessions
            .revoke_all(&caller.claims.sub, None, (deps.clock)()),
        deps.users.forget_sources(&key, &caller.claims.sub),
    );
    revoked?;
    forgotten?;
    deps.audit.record(
        meta,
        Action::EndAllSessions,
        Outcome::Success,
        "sessions_revoked",
        Who::of(&caller.claims),
    );
    Ok(empty_response(StatusCode::NO_CONTENT))
}
