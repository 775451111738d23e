//! The admin API's common part: its settings and dependencies (the three admin functions share
//! them), the target user named in the path, the JSON view of a user, and the validated body of
//! `PATCH /admin/users/{username}`. Every admin route requires the `admin` scope.

use std::sync::Arc;

use lambda_http::Request;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::Clock;
use crate::audit::{Action, Audit, Who};
use crate::config::{self, ConfigError, Table, Tables, TokenConfig, Vars};
use crate::error::{ApiError, FieldErrors};
use crate::http::{RequestMeta, authorize};
use crate::keys::KeySet;
use crate::roles::{IMPLICIT_ROLE, MAX_ROLES, RoleScopes};
use crate::routes::{self, ADMIN_USER, ADMIN_USER_MFA, ADMIN_USER_SESSIONS};
use crate::store::{AccessChange, SessionStore, Store, UserRecord, UserStore, live_session};
use crate::token::{Claims, Tokens};
use crate::validation::Username;

/// The scope every admin route requires.
pub const ADMIN_SCOPE: &str = "admin";

/// What the admin functions read from their environment.
pub struct Settings {
    /// `USERS_TABLE`, `SESSIONS_TABLE`.
    pub tables: Tables,
    /// `JWT_ISSUER`, `JWT_AUDIENCE`, `JWT_LEEWAY_SECONDS`.
    pub token: TokenConfig,
    /// `AUTH_REALM`.
    pub realm: String,
    /// `ROLE_SCOPES`: only configured roles can be granted.
    pub roles: RoleScopes,
    /// `AUDIT_LOG_USERNAMES`.
    pub audit: Audit,
    /// `ADMIN_REQUIRE_MFA`.
    pub require_mfa: bool,
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&Vars::env())
    }

    /// Reads these variables.
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        Ok(Self {
            tables: Tables::from_vars(vars, &[Table::Users, Table::Sessions])?,
            token: TokenConfig::from_vars(vars)?,
            realm: config::realm(vars),
            roles: RoleScopes::from_vars(vars)?,
            audit: Audit::from_vars(vars)?,
            require_mfa: config::admin_require_mfa(vars)?,
        })
    }
}

/// What an admin handler needs, built once per cold start: the verifier (public keys only),
/// the users and their sessions.
pub struct Deps {
    /// The users.
    pub users: Arc<dyn UserStore>,
    /// Their sessions.
    pub sessions: Arc<dyn SessionStore>,
    /// The access-token verifier.
    pub tokens: Tokens,
    /// The realm of 401 and 403 challenges.
    pub realm: String,
    /// Which roles exist.
    pub roles: RoleScopes,
    /// The audit trail.
    pub audit: Audit,
    /// Now.
    pub clock: Clock,
    /// Refuse a token without `mfa` in its `amr` (`ADMIN_REQUIRE_MFA`).
    pub require_mfa: bool,
}

impl Deps {
    /// What `main` calls: settings and the public keys from the environment, the DynamoDB
    /// store, the real clock.
    #[cfg(feature = "dynamo")]
    pub async fn from_env() -> Result<Self, ConfigError> {
        let settings = Settings::from_env()?;
        let store = crate::store::dynamo::DynamoStore::connect(settings.tables.clone())?;
        let keys = Arc::new(crate::keys::load_public(&Vars::env()).await?);
        Self::build(settings, store, keys, crate::system_clock())
    }

    /// Assembles an admin handler's dependencies; `main` and every test call this.
    pub fn build(
        settings: Settings,
        store: Arc<dyn Store>,
        keys: Arc<KeySet>,
        clock: Clock,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            users: store.clone(),
            sessions: store,
            tokens: Tokens::new(&settings.token, keys),
            realm: settings.realm,
            roles: settings.roles,
            audit: settings.audit,
            clock,
            require_mfa: settings.require_mfa,
        })
    }

    /// The caller, as they stand now, and the user named in the path, read in one wave (the
    /// caller's session, the caller's user and the target at once: no round trip more than the
    /// target alone). A token is only as good as its session and its user's current state: a
    /// revoked or expired session, or a caller who is gone or disabled, is `401 invalid_token`;
    /// a caller whose current roles no longer grant the `admin` scope is `403
    /// insufficient_scope`, whatever the token still says. Every refusal is an audit event.
    /// The target comes back as read, so that a caller may check its body first: a user that
    /// does not exist is `404 user_not_found` only for a request that is otherwise valid.
    pub async fn caller_and_target(
        &self,
        req: &Request,
        meta: &RequestMeta,
        action: Action,
    ) -> Result<(Claims, Target), ApiError> {
        let claims = authorize(req, &self.tokens, &self.realm, ADMIN_SCOPE).inspect_err(|e| {
            self.audit.refused(meta, action, e.code(), Who::default());
        })?;
        if self.require_mfa && !claims.has_mfa() {
            // RFC 9470: the client learns to log in again with the second factor.
            let error = ApiError::InsufficientUserAuthentication {
                realm: self.realm.clone(),
            };
            self.audit
                .refused(meta, action, error.code(), Who::of(&claims));
            return Err(error);
        }
        let now = (self.clock)();
        let caller_key = claims.preferred_username.to_ascii_lowercase();
        let (session, caller, target) = tokio::join!(
            live_session(self.sessions.as_ref(), &claims.sid, &claims.sub, now),
            self.users.find(&caller_key),
            self.target(req),
        );
        let refuse = |reason: &'static str, error: ApiError| {
            tracing::info!(reason, "token refused");
            self.audit
                .refused(meta, action, error.code(), Who::of(&claims));
            error
        };
        let invalid = || ApiError::InvalidToken {
            realm: self.realm.clone(),
        };
        if session?.is_none() {
            return Err(refuse("session_not_live", invalid()));
        }
        // A new user of the same name is not the caller.
        let caller = caller?.filter(|u| u.user_id.as_deref() == Some(claims.sub.as_str()));
        let Some(caller) = caller.filter(|u| !u.disabled) else {
            return Err(refuse("caller_gone_or_disabled", invalid()));
        };
        if !grants_admin(&self.roles, &caller.roles) {
            return Err(refuse(
                "caller_no_longer_admin",
                ApiError::InsufficientScope {
                    realm: self.realm.clone(),
                    scope: ADMIN_SCOPE,
                },
            ));
        }
        Ok((claims, target))
    }

    /// The user named in the path (`{username}`, matched case-insensitively, like login):
    /// `404 user_not_found` when there is none, or the name could not be one.
    async fn target(&self, req: &Request) -> Result<(String, UserRecord), ApiError> {
        let path = req.uri().path();
        let raw = routes::capture(ADMIN_USER, path, "username")
            .or_else(|| routes::capture(ADMIN_USER_SESSIONS, path, "username"))
            .or_else(|| routes::capture(ADMIN_USER_MFA, path, "username"))
            .ok_or(ApiError::UserNotFound)?;
        let key = Username::parse(raw)
            .map_err(|_| ApiError::UserNotFound)?
            .key();
        let user = self.users.find(&key).await?.ok_or(ApiError::UserNotFound)?;
        Ok((key, user))
    }
}

/// The user named in the path, as read: its key and record, or `404 user_not_found`.
pub type Target = Result<(String, UserRecord), ApiError>;

/// A user as the admin API shows it.
#[derive(Debug, Serialize)]
pub struct UserView {
    /// The stable id (`null` for a user stored before ids existed who has not logged in since).
    pub user_id: Option<String>,
    /// The username as registered.
    pub username: String,
    /// Explicit roles, sorted (the implicit `user` role is not listed).
    pub roles: Vec<String>,
    /// Whether the user is disabled.
    pub disabled: bool,
    /// When the user registered, RFC 3339 in UTC.
    pub created_at: String,
}

impl From<UserRecord> for UserView {
    fn from(mut u: UserRecord) -> Self {
        u.roles.sort();
        let created = std::time::UNIX_EPOCH + std::time::Duration::from_secs(u.created_at);
        Self {
            user_id: u.user_id,
            username: u.username,
            roles: u.roles,
            disabled: u.disabled,
            created_at: humantime::format_rfc3339_seconds(created).to_string(),
        }
    }
}

/// The body of `PATCH /admin/users/{username}`: `roles` (replacing the explicit roles; each a
/// role of `ROLE_SCOPES`) and/or `disabled`. Anything else, or neither, is a `400`.
pub fn parse_change(
    body: &Map<String, Value>,
    known: &RoleScopes,
) -> Result<AccessChange, ApiError> {
    let mut errors = FieldErrors::new();
    let add = |errors: &mut FieldErrors, field: &str, message: String| {
        errors.entry(field.to_owned()).or_default().push(message);
    };
    for field in body.keys().filter(|k| *k != "roles" && *k != "disabled") {
        add(&mut errors, field, "is not a field of this request".into());
    }
    let mut change = AccessChange::default();
    match body.get("roles") {
        None => {}
        Some(Value::Array(items)) => {
            let mut roles = Vec::new();
            for item in items {
                match item.as_str() {
                    Some(role) if known.knows(role) => roles.push(role.to_owned()),
                    Some(role) => add(
                        &mut errors,
                        "roles",
                        format!("{role:?} is not a configured role"),
                    ),
                    None => add(&mut errors, "roles", "must hold only strings".into()),
                }
            }
            // The implicit role is never stored; duplicates are one role.
            roles.retain(|r| r != IMPLICIT_ROLE);
            roles.sort();
            roles.dedup();
            if roles.len() > MAX_ROLES {
                add(&mut errors, "roles", format!("at most {MAX_ROLES} roles"));
            }
            change.roles = Some(roles);
        }
        Some(_) => add(
            &mut errors,
            "roles",
            "must be an array of role names".into(),
        ),
    }
    match body.get("disabled") {
        None => {}
        Some(Value::Bool(b)) => change.disabled = Some(*b),
        Some(_) => add(&mut errors, "disabled", "must be true or false".into()),
    }
    if change == AccessChange::default() && errors.is_empty() {
        add(&mut errors, "body", "give roles and/or disabled".into());
    }
    if errors.is_empty() {
        Ok(change)
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// Whether these explicit roles grant the `admin` scope the admin routes require (under any
/// role name `ROLE_SCOPES` gives it to).
pub fn grants_admin(roles: &RoleScopes, explicit: &[String]) -> bool {
    roles
        .grant(explicit)
        .scope
        .split(' ')
        .any(|scope| scope == ADMIN_SCOPE)
}

/// Refuses a change by which an admin would lock themselves out: disabling themselves, or
/// giving up the roles that grant them the `admin` scope.
pub fn refuse_self_lockout(
    actor: &Claims,
    target: &UserRecord,
    change: &AccessChange,
    roles: &RoleScopes,
) -> Result<(), ApiError> {
    if target.user_id.as_deref() != Some(actor.sub.as_str()) {
        return Ok(());
    }
    if change.disabled == Some(true) {
        return Err(ApiError::invalid(
            "disabled",
            "an admin cannot disable themselves",
        ));
    }
    let keeps_admin = change
        .roles
        .as_ref()
        .is_none_or(|new| grants_admin(roles, new));
    if !keeps_admin && grants_admin(roles, &target.roles) {
        return Err(ApiError::invalid(
            "roles",
            "an admin cannot give up their own admin scope",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn known() -> RoleScopes {
        RoleScopes::parse(r#"{"user":["profile"],"admin":["admin"],"support":["tickets"]}"#)
            .unwrap()
    }

    fn parse(body: Value) -> Result<AccessChange, FieldErrors> {
        match parse_change(body.as_object().unwrap(), &known()) {
            Ok(c) => Ok(c),
            Err(ApiError::Validation(e)) => Err(e),
            Err(other) => panic!("{other:?}"),
        }
    }

    #[test]
    fn roles_are_sorted_deduplicated_and_the_implicit_role_dropped() {
        let change = parse(serde_json::json!({"roles": ["support", "admin", "user", "admin"]}));
        assert_eq!(
            change.unwrap().roles,
            Some(vec!["admin".into(), "support".into()])
        );
        let change = parse(serde_json::json!({"disabled": true, "roles": []})).unwrap();
        assert_eq!((change.roles, change.disabled), (Some(vec![]), Some(true)));
    }

    #[test]
    fn anything_else_is_a_400_that_says_which_field() {
        for (body, field) in [
            (serde_json::json!({}), "body"),
            (serde_json::json!({"roles": ["root"]}), "roles"),
            (serde_json::json!({"roles": "admin"}), "roles"),
            (serde_json::json!({"roles": [1]}), "roles"),
            (serde_json::json!({"disabled": "yes"}), "disabled"),
            (
                serde_json::json!({"disabled": true, "password": "x"}),
                "password",
            ),
        ] {
            let errors = parse(body.clone()).unwrap_err();
            assert!(errors.contains_key(field), "{body}: {errors:?}");
        }
    }
}
