//! `PATCH /admin/users/{username}` (scope `admin`): replaces a user's explicit roles and/or
//! disables or enables them. The write is conditional (the same user must still exist); disabling
//! also revokes every session of the user. An admin cannot disable themselves or remove their own
//! `admin` role.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::json;
use shared::admin::{UserView, parse_change, refuse_self_lockout};
use shared::audit::Action;
use shared::http::{json_response, read_json_object, require_method};
use shared::{ApiError, RequestMeta};

pub use shared::admin::{Deps, Settings};

/// Handles one request; every outcome, error or not, is a response.
pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    let meta = RequestMeta::of(&req);
    update(deps, &req, &meta)
        .await
        .unwrap_or_else(|e| e.into_response(&meta))
}

async fn update(
    deps: &Deps,
    req: &Request,
    meta: &RequestMeta,
) -> Result<Response<Body>, ApiError> {
    require_method(req, Method::PATCH)?;
    let actor = deps.authorize(req)?;
    let body = read_json_object(req)?;
    let change = parse_change(&body, &deps.roles)?;
    let (key, target) = deps.target(req).await?;
    refuse_self_lockout(&actor, &target, &change)?;
    // Conditional on the same user: one deleted (or replaced under the same name) meanwhile is
    // a 404, and nothing is created.
    let updated = deps
        .users
        .update_access(&key, target.user_id.as_deref(), &change)
        .await?
        .ok_or(ApiError::UserNotFound)?;
    let user_id = updated.user_id.clone().unwrap_or_default();
    if change.disabled == Some(true) && !user_id.is_empty() {
        // A failure here is a 503; the user is already disabled (their refreshes fail), and
        // the same PATCH again revokes the rest.
        deps.sessions
            .revoke_all(&user_id, None, (deps.clock)())
            .await?;
    }
    let change_text = json!({"roles": change.roles, "disabled": change.disabled}).to_string();
    deps.audit.record_admin(
        meta,
        Action::AdminUpdateUser,
        &actor.sub,
        &user_id,
        &change_text,
        &updated.username,
    );
    Ok(json_response(StatusCode::OK, &UserView::from(updated)))
}
