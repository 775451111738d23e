//! `GET /admin/users/{username}` (scope `admin`): one user's id, name, roles, state and
//! registration time.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use shared::admin::UserView;
use shared::audit::Action;
use shared::http::{json_response, require_method};
use shared::{ApiError, RequestMeta};

pub use shared::admin::{Deps, Settings};

/// Handles one request; every outcome, error or not, is a response.
pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    let meta = RequestMeta::of(&req);
    show(deps, &req, &meta)
        .await
        .unwrap_or_else(|e| e.into_response(&meta))
}

async fn show(deps: &Deps, req: &Request, meta: &RequestMeta) -> Result<Response<Body>, ApiError> {
    require_method(req, Method::GET)?;
    let (actor, target) = deps
        .caller_and_target(req, meta, Action::AdminShowUser)
        .await?;
    let (_, user) = target?;
    deps.audit.record_admin(
        meta,
        Action::AdminShowUser,
        &actor,
        user.user_id.as_deref().unwrap_or_default(),
        "{}",
        &user.username,
    );
    Ok(json_response(StatusCode::OK, &UserView::from(user)))
}
