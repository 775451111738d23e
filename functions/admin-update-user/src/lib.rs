//! `PATCH /admin/users/{username}` (scope `admin`): replaces a user's explicit roles and/or
//! disables or enables them. The write is conditional (the same user must still exist); disabling
//! also revokes every session of the user. An admin cannot disable themselves or remove their own
//! `admin` role.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::json;
use shared::admin::{ADMIN_SCOPE, UserView, grants_admin, parse_change, refuse_self_lockout};
use shared::audit::{Action, Who};
use shared::http::{json_response, read_json_object, require_method};
use shared::roles::RoleScopes;
use shared::store::{AccessChange, GuardedChange, RemainingAdmin, UserRecord};
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
    let (actor, target) = deps
        .caller_and_target(req, meta, Action::AdminUpdateUser)
        .await?;
    let body = read_json_object(req)?;
    let change = parse_change(&body, &deps.roles)?;
    let (key, target) = target?;
    refuse_self_lockout(&actor, &target, &change, &deps.roles)?;
    let updated = if takes_admin_away(&deps.roles, &target, &change) {
        // Written only while the caller is still an enabled admin: so of two admins demoting
        // each other at once, one stays, and no change ever leaves none.
        let admin_roles = deps.roles.granting(ADMIN_SCOPE);
        let caller_key = actor.preferred_username.to_ascii_lowercase();
        let remaining = RemainingAdmin {
            key: &caller_key,
            user_id: &actor.sub,
            admin_roles: &admin_roles,
        };
        match deps
            .users
            .update_access_keeping_admin(&key, target.user_id.as_deref(), &change, &remaining)
            .await?
        {
            GuardedChange::Updated => change.applied_to(target),
            GuardedChange::Gone => return Err(ApiError::UserNotFound),
            GuardedChange::NoAdminWouldRemain => {
                deps.audit
                    .refused(meta, Action::AdminUpdateUser, "last_admin", Who::of(&actor));
                return Err(ApiError::LastAdmin);
            }
        }
    } else {
        // Conditional on the same user: one deleted (or replaced under the same name)
        // meanwhile is a 404, and nothing is created.
        if !deps
            .users
            .update_access(&key, target.user_id.as_deref(), &change)
            .await?
        {
            return Err(ApiError::UserNotFound);
        }
        change.applied_to(target)
    };
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
        &actor,
        &user_id,
        &change_text,
        &updated.username,
    );
    Ok(json_response(StatusCode::OK, &UserView::from(updated)))
}

/// Whether `change` takes the `admin` scope from `target`, an enabled admin now: by disabling
/// them, or by roles none of which grants it.
fn takes_admin_away(roles: &RoleScopes, target: &UserRecord, change: &AccessChange) -> bool {
    let is_admin = !target.disabled && grants_admin(roles, &target.roles);
    let disables = change.disabled == Some(true);
    let demotes = change
        .roles
        .as_ref()
        .is_some_and(|new| !grants_admin(roles, new));
    is_admin && (disables || demotes)
}
