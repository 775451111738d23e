//! The API's routes, in one place: the single source of truth for which function serves which
//! method and path. `template.yaml`, `openapi.yaml` and the `cargo lambda watch` router in
//! `Cargo.toml` must say the same, and `shared/tests/consistency/routes.rs` fails when they do not. The
//! fallback function answers 404 or 405 from this table, and handlers take their `Allow` header
//! from it.

use http::Method;

/// One route: a method and a path template (`{name}` matches one path segment, as in API
/// Gateway and `matchit`), served by one function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The HTTP method.
    pub method: Method,
    /// The path template.
    pub path: &'static str,
    /// The function (crate under `functions/`) that serves it.
    pub function: &'static str,
}

const fn route(method: Method, path: &'static str, function: &'static str) -> Route {
    Route {
        method,
        path,
        function,
    }
}

/// Every route the API serves, apart from the `$default` catch-all served by `fallback`.
pub const ROUTES: &[Route] = &[
    route(Method::POST, "/register", "register"),
    route(Method::POST, "/login", "login"),
    route(Method::GET, "/protected", "protected"),
    route(Method::POST, "/refresh", "refresh"),
    route(Method::POST, "/logout", "logout"),
    route(Method::GET, "/.well-known/jwks.json", "jwks"),
    route(
        Method::GET,
        "/.well-known/openid-configuration",
        "discovery",
    ),
    route(Method::GET, "/me", "me"),
    route(Method::GET, ADMIN_USER, "admin-get-user"),
    route(Method::PATCH, ADMIN_USER, "admin-update-user"),
    route(Method::DELETE, ADMIN_USER_SESSIONS, "admin-end-sessions"),
    route(Method::POST, "/password", "change-password"),
    route(Method::DELETE, "/account", "delete-account"),
    route(Method::GET, "/sessions", "list-sessions"),
    route(Method::DELETE, "/sessions", "end-all-sessions"),
    route(Method::DELETE, SESSION, "end-session"),
    route(Method::POST, "/login/mfa", "login-mfa"),
    route(Method::GET, "/account", "account"),
    route(Method::POST, "/mfa/totp", "mfa-enroll"),
    route(Method::POST, "/mfa/totp/confirm", "mfa-confirm"),
    route(Method::DELETE, "/mfa/totp", "mfa-disable"),
    route(Method::POST, "/mfa/recovery-codes", "mfa-recovery-codes"),
    route(Method::DELETE, ADMIN_USER_MFA, "admin-remove-mfa"),
    route(Method::POST, "/email", "email-change"),
    route(Method::POST, "/email/verify", "email-verify"),
    route(Method::POST, "/email/resend", "email-resend"),
    route(Method::POST, "/password/forgot", "password-forgot"),
    route(Method::POST, "/password/reset", "password-reset"),
    route(Method::GET, "/verify-email", "pages"),
    route(Method::GET, "/reset-password", "pages"),
    route(Method::GET, "/pages/app.js", "pages"),
    route(Method::GET, "/pages/app.css", "pages"),
];

/// One of the caller's sessions.
pub const SESSION: &str = "/sessions/{sid}";

/// One user, for the admin API.
pub const ADMIN_USER: &str = "/admin/users/{username}";

/// One user's sessions, for the admin API.
pub const ADMIN_USER_SESSIONS: &str = "/admin/users/{username}/sessions";

/// One user's second factor, for the admin API.
pub const ADMIN_USER_MFA: &str = "/admin/users/{username}/mfa";

/// The function that answers every request no route matches (API Gateway's `$default`).
pub const FALLBACK_FUNCTION: &str = "fallback";

/// True when `path` matches the template: same number of segments, literal segments equal,
/// `{name}` segments non-empty. API Gateway passes the raw path; a trailing slash is a different
/// route there too.
pub fn matches(template: &str, path: &str) -> bool {
    let mut want = template.split('/');
    let mut got = path.split('/');
    loop {
        match (want.next(), got.next()) {
            (None, None) => return true,
            (Some(w), Some(g)) => {
                let param = w.starts_with('{') && w.ends_with('}');
                if (param && g.is_empty()) || (!param && w != g) {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

/// The value of the `{name}` segment of `path` under `template`, when `path` matches it.
pub fn capture<'p>(template: &str, path: &'p str, name: &str) -> Option<&'p str> {
    if !matches(template, path) {
        return None;
    }
    let want = format!("{{{name}}}");
    template
        .split('/')
        .zip(path.split('/'))
        .find(|(w, _)| *w == want)
        .map(|(_, g)| g)
}

/// The `Allow` header value for `path` (its methods in table order, comma-separated), or `None`
/// when no route has that path.
pub fn allowed_methods(path: &str) -> Option<String> {
    let methods: Vec<&str> = ROUTES
        .iter()
        .filter(|r| matches(r.path, path))
        .map(|r| r.method.as_str())
        .collect();
    (!methods.is_empty()).then(|| methods.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_paths_list_their_methods_and_unknown_paths_none() {
        assert_eq!(allowed_methods("/register").as_deref(), Some("POST"));
        assert_eq!(allowed_methods("/protected").as_deref(), Some("GET"));
        assert_eq!(allowed_methods("/nope"), None);
        assert_eq!(allowed_methods("/login/"), None);
        assert_eq!(allowed_methods(""), None);
    }

    #[test]
    fn captures_read_the_named_segment() {
        assert_eq!(
            capture(ADMIN_USER, "/admin/users/Alice", "username"),
            Some("Alice")
        );
        assert_eq!(
            capture(ADMIN_USER_SESSIONS, "/admin/users/bob/sessions", "username"),
            Some("bob")
        );
        assert_eq!(capture(ADMIN_USER, "/admin/users/", "username"), None);
        assert_eq!(capture(ADMIN_USER, "/admin/users/a", "other"), None);
        assert_eq!(
            allowed_methods("/admin/users/x").as_deref(),
            Some("GET, PATCH")
        );
        assert_eq!(
            allowed_methods("/admin/users/x/sessions").as_deref(),
            Some("DELETE")
        );
    }

    #[test]
    fn templates_match_one_non_empty_segment_per_parameter() {
        let cases = [
            ("/users/{name}", "/users/alice", true),
            ("/users/{name}", "/users/", false),
            ("/users/{name}", "/users", false),
            ("/users/{name}", "/users/alice/x", false),
            ("/users/{name}/sessions", "/users/bob/sessions", true),
            ("/users/{name}/sessions", "/users/bob/session", false),
            ("/me", "/me", true),
            ("/me", "/Me", false),
        ];
        for (template, path, want) in cases {
            assert_eq!(matches(template, path), want, "{template} vs {path}");
        }
    }

    #[test]
    fn every_route_is_unique_and_well_formed() {
        for (i, r) in ROUTES.iter().enumerate() {
            assert!(r.path.starts_with('/'), "{r:?}");
            assert!(!r.function.is_empty() && r.function != FALLBACK_FUNCTION);
            assert!(
                ROUTES[i + 1..]
                    .iter()
                    .all(|o| (o.method.clone(), o.path) != (r.method.clone(), r.path)),
                "{r:?} twice"
            );
        }
    }
}
