//! The API's routes, in one place: the fallback function answers 404 or 405 from this table, and
//! each handler names its `Allow` header from it. Keep it in step with `template.yaml`.

use http::Method;

/// `(path, method)` of every route the API serves.
pub const ROUTES: &[(&str, Method)] = &[
    ("/register", Method::POST),
    ("/login", Method::POST),
    ("/protected", Method::GET),
    ("/refresh", Method::POST),
    ("/logout", Method::POST),
    ("/.well-known/jwks.json", Method::GET),
    ("/me", Method::GET),
];

/// The `Allow` header value for a route served with `method`.
pub fn allow_header(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        _ => "",
    }
}

/// The methods allowed on `path`, or `None` when no route has that path.
pub fn allowed_methods(path: &str) -> Option<&'static str> {
    // API Gateway passes the raw path; a trailing slash is a different route there too.
    ROUTES
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, m)| allow_header(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_paths_list_their_method_and_unknown_paths_none() {
        assert_eq!(allowed_methods("/register"), Some("POST"));
        assert_eq!(allowed_methods("/protected"), Some("GET"));
        assert_eq!(allowed_methods("/nope"), None);
        assert_eq!(allowed_methods("/login/"), None);
    }
}
