//! Roles and the scopes they grant.
//!
//! A user holds explicit roles (stored on the user item) and the implicit role `user`.
//! `ROLE_SCOPES` maps each role to RFC 6749 scope tokens; an access token carries the sorted
//! roles and the sorted, de-duplicated union of their scopes (RFC 9068 `scope`, `roles`).

use std::collections::{BTreeMap, BTreeSet};

use crate::config::{ConfigError, Vars};

/// The role every user holds without it being stored.
pub const IMPLICIT_ROLE: &str = "user";

/// The most explicit roles one user may hold.
pub const MAX_ROLES: usize = 16;

/// The default `ROLE_SCOPES`.
pub const DEFAULT_ROLE_SCOPES: &str = r#"{"user":["profile"],"admin":["profile","admin"]}"#;

/// True for a role name: `^[a-z][a-z0-9_-]{0,31}$`.
pub fn is_role_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 32
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// True for an RFC 6749 scope-token: `1*( %x21 / %x23-5B / %x5D-7E )`, at most 64 characters.
pub fn is_scope_token(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= 64
        && token
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

/// What a set of roles grants, as it goes into an access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Every role, the implicit one included, sorted.
    pub roles: Vec<String>,
    /// The union of their scopes, sorted, space-separated.
    pub scope: String,
}

/// `ROLE_SCOPES`: role → scopes, read once per cold start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleScopes(BTreeMap<String, BTreeSet<String>>);

impl RoleScopes {
    /// Reads `ROLE_SCOPES` (default [`DEFAULT_ROLE_SCOPES`]); anything but a JSON object of
    /// role names to arrays of scope tokens stops the function at start.
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let text = vars
            .get("ROLE_SCOPES")
            .unwrap_or_else(|| DEFAULT_ROLE_SCOPES.into());
        Self::parse(&text)
    }

    /// Parses a `ROLE_SCOPES` document.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let invalid = |reason: String| ConfigError::Invalid {
            name: "ROLE_SCOPES",
            reason,
        };
        let map: BTreeMap<String, Vec<String>> = serde_json::from_str(text)
            .map_err(|e| invalid(format!("not a JSON object of role -> [scope, ...]: {e}")))?;
        let mut out = BTreeMap::new();
        for (role, scopes) in map {
            if !is_role_name(&role) {
                return Err(invalid(format!(
                    "{role:?} is not a role name (^[a-z][a-z0-9_-]{{0,31}}$)"
                )));
            }
            if let Some(bad) = scopes.iter().find(|s| !is_scope_token(s)) {
                return Err(invalid(format!(
                    "role {role}: {bad:?} is not an RFC 6749 scope token"
                )));
            }
            out.insert(role, scopes.into_iter().collect());
        }
        Ok(Self(out))
    }

    /// The configured roles that grant `scope`, sorted.
    pub fn granting(&self, scope: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(_, scopes)| scopes.contains(scope))
            .map(|(role, _)| role.clone())
            .collect()
    }

    /// True when `role` is configured (only configured roles can be granted).
    pub fn knows(&self, role: &str) -> bool {
        self.0.contains_key(role)
    }

    /// The roles and scopes of a user holding `explicit` roles (plus the implicit one). A stored
    /// role that is no longer configured grants nothing but is still named.
    pub fn grant(&self, explicit: &[String]) -> Grant {
        let roles: BTreeSet<&str> = explicit
            .iter()
            .map(String::as_str)
            .chain([IMPLICIT_ROLE])
            .collect();
        let scopes: BTreeSet<&str> = roles
            .iter()
            .filter_map(|r| self.0.get(*r))
            .flatten()
            .map(String::as_str)
            .collect();
        Grant {
            roles: roles.into_iter().map(str::to_owned).collect(),
            scope: scopes.into_iter().collect::<Vec<_>>().join(" "),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn role_names_follow_the_pattern() {
        for ok in ["admin", "a", "support-2", "read_only", &"a".repeat(32)] {
            assert!(is_role_name(ok), "{ok}");
        }
        for bad in ["", "Admin", "2fa", "-x", "a b", "é", &"a".repeat(33)] {
            assert!(!is_role_name(bad), "{bad}");
        }
    }

    #[test]
    fn the_default_grants_profile_to_users_and_admin_to_admins() {
        let rs = RoleScopes::from_vars(&Vars::from_pairs::<&str, &str>([])).unwrap();
        assert_eq!(
            rs.grant(&[]),
            Grant {
                roles: vec!["user".into()],
                scope: "profile".into()
            }
        );
        let admin = rs.grant(&["admin".into()]);
        assert_eq!(admin.roles, vec!["admin", "user"]);
        assert_eq!(admin.scope, "admin profile", "sorted, no duplicates");
        assert!(rs.knows("admin") && !rs.knows("root"));
    }

    #[test]
    fn an_unconfigured_stored_role_is_named_but_grants_nothing() {
        let rs = RoleScopes::parse(r#"{"user":["profile"]}"#).unwrap();
        let g = rs.grant(&["ghost".into(), "user".into()]);
        assert_eq!(
            (g.roles, g.scope.as_str()),
            (vec!["ghost".into(), "user".into()], "profile")
        );
    }

    #[test]
    fn invalid_config_is_refused_with_a_reason() {
        for (text, why) in [
            ("[]", "not a JSON object"),
            (r#"{"user":"profile"}"#, "not a JSON object"),
            (r#"{"Admin":["x"]}"#, "not a role name"),
            (r#"{"user":["a b"]}"#, "not an RFC 6749 scope token"),
            (r#"{"user":["quote\""]}"#, "not an RFC 6749 scope token"),
            (r#"{"user":[""]}"#, "not an RFC 6749 scope token"),
        ] {
            match RoleScopes::parse(text) {
                Err(ConfigError::Invalid { name, reason }) => {
                    assert_eq!(name, "ROLE_SCOPES");
                    assert!(reason.contains(why), "{text}: {reason}");
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }
}
