//! Property tests: any token string, in any header shape, gets a documented answer and never
//! a panic.

use proptest::prelude::*;
use protected::{Deps, Settings};
use shared::testing::{Event, call, key_set, test_vars};

/// The request for this `Authorization` header, or `None` when the value is not valid HTTP (such
/// a header never reaches a function).
fn request_with(header: &str) -> Option<lambda_http::Request> {
    let event = Event::load("protected").header("authorization", Some(header));
    lambda_http::request::from_str(&event.0.to_string()).ok()
}

fn status_of(request: lambda_http::Request) -> u16 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let deps = Deps::build(Settings::from_vars(&test_vars()).unwrap(), key_set()).unwrap();
    runtime
        .block_on(call(protected::handle, &deps, request))
        .status()
        .as_u16()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bearer_tokens_get_401_or_400(token in "[ -~]{0,400}") {
        // Printable ASCII is always a valid header value: every case must reach the handler.
        let request = request_with(&format!("Bearer {token}"));
        prop_assert!(request.is_some(), "printable ASCII header refused by the event parser");
        let status = status_of(request.unwrap());
        prop_assert!(status == 401 || status == 400, "status {status}");
    }

    #[test]
    fn random_jwt_shaped_tokens_get_401_or_400(a in "[A-Za-z0-9_-]{0,80}", b in "[A-Za-z0-9_-]{0,200}", c in "[A-Za-z0-9_=+/-]{0,120}") {
        let request = request_with(&format!("Bearer {a}.{b}.{c}"));
        prop_assert!(request.is_some());
        let status = status_of(request.unwrap());
        prop_assert!(status == 401 || status == 400, "status {status}");
    }

    #[test]
    fn random_authorization_headers_get_a_documented_status(header in "\\PC{0,300}") {
        // Any Unicode: values that are not valid HTTP are not a function's concern.
        let request = request_with(&header);
        prop_assume!(request.is_some());
        let status = status_of(request.unwrap());
        prop_assert!([400, 401].contains(&status), "status {status}");
    }
}
