//! Property tests: any token string, in any header shape, gets a documented answer and never
//! a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use protected::Deps;
use shared::testing::{Event, tokens};

fn status_for(header: &str) -> Option<u16> {
    let event = Event::load("protected").header("authorization", Some(header));
    // Header values that are not valid HTTP never reach a function; skip those.
    let request = lambda_http::request::from_str(&event.0.to_string()).ok()?;
    let (method, path) = shared::testing::route_of(&request);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let deps = Deps {
        tokens: tokens(),
        realm: "auth-api-test".into(),
    };
    let response = runtime.block_on(protected::handle(&deps, request));
    shared::testing::record(&method, &path, &response);
    Some(response.status().as_u16())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bearer_tokens_get_401_or_400(token in "[ -~]{0,400}") {
        if let Some(status) = status_for(&format!("Bearer {token}")) {
            prop_assert!(status == 401 || status == 400, "status {status}");
        }
    }

    #[test]
    fn random_jwt_shaped_tokens_get_401_or_400(a in "[A-Za-z0-9_-]{0,80}", b in "[A-Za-z0-9_-]{0,200}", c in "[A-Za-z0-9_=+/-]{0,120}") {
        if let Some(status) = status_for(&format!("Bearer {a}.{b}.{c}")) {
            prop_assert!(status == 401 || status == 400, "status {status}");
        }
    }

    #[test]
    fn random_authorization_headers_get_a_documented_status(header in "[ -~]{0,300}") {
        if let Some(status) = status_for(&header) {
            prop_assert!([400, 401].contains(&status), "status {status}");
        }
    }
}
