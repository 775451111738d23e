//! The login handler: the sample events, the rate limits, bad bodies, the 503 when DynamoDB is
//! down, and the rehash of a weaker password hash.

use std::sync::Arc;

use login::Deps;
use serde_json::{Value, json};
use shared::store::dynamo::DynamoStore;
use shared::testing::{Event, Fixture, body_json, tokens, unique, unique_ip};

use crate::helpers::{PASSWORD, create_user, deps_from, handle, login_event};

/// The seed's limits (5 attempts per IP, 5 failures per user, per 60 s), on the local server;
/// the clock is pinned for the whole test, since a window rolling over mid-test would double the
/// limit.
async fn fixture() -> Fixture {
    Fixture::local()
        .await
        .with("LOGIN_IP_LIMIT", "5")
        .with("LOGIN_USER_LIMIT", "5")
        .with("AUDIT_LOG_USERNAMES", "true")
}

async fn deps() -> Deps {
    deps_from(&fixture().await)
}

async fn status_of(deps: &Deps, event: Event) -> u16 {
    handle(deps, event.request()).await.status().as_u16()
}

#[tokio::test]
async fn sample_event_logs_in_with_a_bearer_token() {
    let deps = deps().await;
    let event = Event::load("login").source_ip(&unique_ip());
    let sample: Value = serde_json::from_str(event.body_text().unwrap()).unwrap();
    let username = unique("sample_");
    create_user(&deps, &username).await;
    assert_eq!(
        sample["password"], PASSWORD,
        "the sample's password is the one registered here"
    );
    let event = event.json(json!({"username": username, "password": sample["password"]}));

    let response = handle(&deps, event.request()).await;

    assert_eq!(response.status(), 200);
    let headers = response.headers();
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["ratelimit-policy"], "\"login-ip\";q=5;w=60");
    assert!(
        headers["ratelimit"]
            .to_str()
            .unwrap()
            .starts_with("\"login-ip\";r=4;t=")
    );
    let body = body_json(&response);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body.as_object().unwrap().len(), 4, "{body}");
    let claims = tokens()
        .verify(body["access_token"].as_str().unwrap())
        .unwrap();
    // `sub` is the stable id, the name is `preferred_username`, and the default roles apply.
    assert_eq!(claims.sub, shared::testing::user_id_of(&username));
    assert_eq!(claims.preferred_username, username);
    assert_eq!(
        (claims.scope.as_str(), claims.roles.as_slice()),
        ("profile", ["user".to_owned()].as_slice())
    );
    // The refresh token is opaque, belongs to the access token's session, and is not a JWT.
    let refresh = body["refresh_token"].as_str().unwrap();
    assert!(
        refresh.starts_with("rt1_") && !refresh.contains('.'),
        "{refresh}"
    );
    let rotated = shared::testing::refresh_now(
        &deps.sessions,
        deps.users.as_ref(),
        refresh,
        shared::unix_now(),
    )
    .await
    .unwrap();
    assert_eq!(rotated.sid, claims.sid);
    assert_eq!(rotated.username, username);
}

#[tokio::test]
async fn login_is_case_insensitive_and_reports_the_registered_name() {
    let deps = deps().await;
    let username = unique("Mixed_");
    create_user(&deps, &username).await;

    let response = handle(
        &deps,
        login_event(&username.to_uppercase(), PASSWORD, &unique_ip()).request(),
    )
    .await;

    assert_eq!(response.status(), 200);
    let token = body_json(&response)["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let claims = tokens().verify(&token).unwrap();
    assert_eq!(
        claims.preferred_username, username,
        "the name as registered"
    );
    assert_eq!(claims.sub, shared::testing::user_id_of(&username));
}

#[tokio::test]
async fn unknown_user_and_wrong_password_get_byte_identical_401s() {
    let deps = deps().await;
    let username = unique("known_");
    create_user(&deps, &username).await;

    let wrong = handle(
        &deps,
        Event::load("login-wrong-password")
            .json(json!({"username": username, "password": "not the password"}))
            .source_ip(&unique_ip())
            .request(),
    )
    .await;
    let unknown = handle(
        &deps,
        login_event(&unique("ghost_"), "not the password", &unique_ip()).request(),
    )
    .await;

    for response in [&wrong, &unknown] {
        assert_eq!(response.status(), 401);
        assert_eq!(
            body_json(response),
            json!({"msg": "Bad username or password", "error": "invalid_credentials"})
        );
    }
    assert_eq!(wrong.body().as_ref(), unknown.body().as_ref());
    let names = |r: &lambda_http::Response<lambda_http::Body>| {
        let mut v: Vec<String> = r.headers().keys().map(|k| k.to_string()).collect();
        v.sort();
        v
    };
    assert_eq!(names(&wrong), names(&unknown));
}

#[tokio::test]
async fn wrong_password_sample_event_returns_401() {
    let deps = deps().await;
    let event = Event::load("login-wrong-password").source_ip(&unique_ip());
    let response = handle(&deps, event.request()).await;
    assert_eq!(response.status(), 401);
    assert_eq!(body_json(&response)["error"], "invalid_credentials");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_logins_from_one_ip_admit_exactly_five() {
    let deps = Arc::new(deps().await);
    let username = unique("burst_");
    create_user(&deps, &username).await;
    let ip = unique_ip();
    let attempts = (0..20).map(|_| {
        let (deps, event) = (deps.clone(), login_event(&username, PASSWORD, &ip));
        tokio::spawn(async move { handle(&deps, event.request()).await })
    });
    let mut responses = Vec::new();
    for a in attempts {
        responses.push(a.await.unwrap());
    }

    let limited: Vec<_> = responses.iter().filter(|r| r.status() == 429).collect();
    assert_eq!(responses.len() - limited.len(), 5, "admitted");
    assert!(
        responses
            .iter()
            .filter(|r| r.status() != 429)
            .all(|r| r.status() == 200)
    );
    for r in limited {
        assert_eq!(body_json(r)["error"], "rate_limited");
        let retry: u64 = r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        // Entries are whole seconds, so one counts for the window and one second more.
        assert!((1..=61).contains(&retry), "retry-after {retry}");
        assert_eq!(r.headers()["ratelimit-policy"], "\"login-ip\";q=5;w=60");
        assert_eq!(
            r.headers()["ratelimit"],
            format!("\"login-ip\";r=0;t={retry}").as_str()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_wrong_passwords_for_one_user_admit_exactly_five_guesses() {
    let deps = Arc::new(deps().await);
    let username = unique("target_");
    create_user(&deps, &username).await;
    // Each guess from its own IP: only the per-user limit applies.
    let attempts = (0..20).map(|i| {
        let (deps, event) = (
            deps.clone(),
            login_event(&username, &format!("guess number {i}"), &unique_ip()),
        );
        tokio::spawn(async move { status_of(&deps, event).await })
    });
    let mut statuses = Vec::new();
    for a in attempts {
        statuses.push(a.await.unwrap());
    }

    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        15,
        "{statuses:?}"
    );
    // Once locked, even the right password waits for the window.
    assert_eq!(
        status_of(&deps, login_event(&username, PASSWORD, &unique_ip())).await,
        429
    );
}

#[tokio::test]
async fn successful_logins_do_not_use_up_the_per_user_limit() {
    let deps = deps().await;
    let username = unique("regular_");
    create_user(&deps, &username).await;

    for i in 0..8 {
        let status = status_of(&deps, login_event(&username, PASSWORD, &unique_ip())).await;
        assert_eq!(status, 200, "login {i}");
    }
}

#[tokio::test]
async fn unknown_usernames_are_limited_like_known_ones() {
    let deps = deps().await;
    let ghost = unique("ghost_");
    for _ in 0..5 {
        assert_eq!(
            status_of(&deps, login_event(&ghost, "whatever1", &unique_ip())).await,
            401
        );
    }
    assert_eq!(
        status_of(&deps, login_event(&ghost, "whatever1", &unique_ip())).await,
        429
    );
}

#[tokio::test]
async fn invalid_bodies_return_400_and_oversized_413() {
    let deps = deps().await;
    let cases = [
        (json!({"username": "alice"}), "password"),
        (json!({"username": "a", "password": "x"}), "username"),
        (
            json!({"username": "alice", "password": "p".repeat(129)}),
            "password",
        ),
        (json!({"username": ["alice"], "password": "x"}), "username"),
    ];
    for (body, field) in cases {
        let event = Event::load("login")
            .json(body.clone())
            .source_ip(&unique_ip());
        let response = handle(&deps, event.request()).await;
        assert_eq!(response.status(), 400, "{body}");
        assert!(body_json(&response)["details"][field].is_array(), "{body}");
    }
    let big = json!({"username": "alice", "password": "x".repeat(70 * 1024)});
    let response = handle(
        &deps,
        Event::load("login")
            .json(big)
            .source_ip(&unique_ip())
            .request(),
    )
    .await;
    assert_eq!(response.status(), 413);
}

#[tokio::test]
async fn wrong_method_returns_405_with_allow() {
    let event = Event::load("login").route("GET", "/login");
    let response = handle(&deps().await, event.request()).await;
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
}

#[tokio::test]
async fn unreachable_dynamodb_returns_503_json_and_fails_closed() {
    let deps = deps_from(&Fixture::unreachable().await);

    let response = handle(
        &deps,
        login_event("alice", PASSWORD, &unique_ip()).request(),
    )
    .await;

    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    assert_eq!(body_json(&response)["error"], "service_unavailable");
}

/// The password hash stored for `username`.
async fn stored_hash(store: &DynamoStore, username: &str) -> String {
    use shared::store::UserStore;
    let user = store.find(&username.to_lowercase()).await.unwrap();
    user.unwrap().password_hash
}

/// The same fixture with argon2 parameters stronger than the cheap ones users are created with.
fn stronger(f: &Fixture) -> Deps {
    deps_from(
        &f.clone()
            .with("ARGON2_MEMORY_KIB", "256")
            .with("ARGON2_ITERATIONS", "2"),
    )
}

#[tokio::test]
async fn a_hash_with_weaker_parameters_is_upgraded_on_successful_login() {
    let f = fixture().await;
    let store = f.store();
    let username = unique("legacy_");
    create_user(&deps_from(&f), &username).await; // hashed with the cheap test parameters
    let before = stored_hash(&store, &username).await;
    let deps = stronger(&f);
    assert!(deps.passwords.needs_rehash(&before));

    let response = handle(
        &deps,
        login_event(&username, PASSWORD, &unique_ip()).request(),
    )
    .await;

    assert_eq!(response.status(), 200);
    let after = stored_hash(&store, &username).await;
    assert_ne!(after, before);
    assert!(
        after.starts_with("$argon2id$v=19$m=256,t=2,p=1$"),
        "{after}"
    );
    assert!(!deps.passwords.needs_rehash(&after));
    // The new hash verifies the same password.
    let again = handle(
        &deps,
        login_event(&username, PASSWORD, &unique_ip()).request(),
    )
    .await;
    assert_eq!(again.status(), 200);
}

#[tokio::test]
async fn a_failed_login_never_rehashes() {
    let f = fixture().await;
    let store = f.store();
    let username = unique("legacy_");
    create_user(&deps_from(&f), &username).await;
    let before = stored_hash(&store, &username).await;
    let deps = stronger(&f);

    let response = handle(
        &deps,
        login_event(&username, "wrong password!", &unique_ip()).request(),
    )
    .await;

    assert_eq!(response.status(), 401);
    let after = stored_hash(&store, &username).await;
    assert_eq!(after, before);
}

#[tokio::test]
async fn addresses_of_one_ipv6_64_share_the_login_ip_limit_and_another_64_does_not() {
    let deps = deps().await;
    let username = unique("v6_");
    create_user(&deps, &username).await;
    let b = uuid::Uuid::new_v4().into_bytes();
    let network = format!(
        "2001:db8:{:x}:{:x}",
        u16::from_be_bytes([b[0], b[1]]),
        u16::from_be_bytes([b[2], b[3]])
    );
    // Five attempts, each from another address of the same /64 (as a client rotating through
    // its network would send them), spend the limit of all of them.
    for i in 1..=5 {
        let ip = format!("{network}::{i:x}");
        let response = handle(&deps, login_event(&username, PASSWORD, &ip).request()).await;
        assert_eq!(response.status(), 200, "attempt {i} from {ip}");
    }
    let sixth = format!("{network}:ffff:ffff:ffff:ffff");
    let response = handle(&deps, login_event(&username, PASSWORD, &sixth).request()).await;
    assert_eq!(response.status(), 429, "a sixth address of the same /64");
    let neighbour = format!(
        "2001:db8:{:x}:{:x}::1",
        u16::from_be_bytes([b[0], b[1]]),
        u16::from_be_bytes([b[2], b[3]]) ^ 1
    );
    let response = handle(
        &deps,
        login_event(&username, PASSWORD, &neighbour).request(),
    )
    .await;
    assert_eq!(response.status(), 200, "the next /64 has its own limit");
}

#[tokio::test]
async fn five_logins_just_before_a_fixed_window_boundary_leave_none_for_just_after() {
    let now = shared::unix_now();
    let boundary = now - now % 60 + 60;
    let at = |t: u64| async move { deps_from(&fixture().await.at(t)) };
    let (before, after, a_window_later) = (
        at(boundary - 1).await,
        at(boundary + 1).await,
        at(boundary + 60).await,
    );
    let username = unique("boundary_");
    create_user(&before, &username).await;
    let ip = unique_ip();

    for i in 0..5 {
        let event = login_event(&username, PASSWORD, &ip);
        assert_eq!(status_of(&before, event).await, 200, "login {i} at 0:59");
    }
    // A fixed window would start again at 1:00 and admit five more.
    let refused = handle(&after, login_event(&username, PASSWORD, &ip).request()).await;
    assert_eq!(refused.status(), 429, "at 1:01");
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        boundary + 1 + retry_after,
        boundary + 60,
        "truthful Retry-After"
    );
    assert_eq!(
        refused.headers()["ratelimit"].to_str().unwrap(),
        format!("\"login-ip\";r=0;t={retry_after}")
    );
    let event = login_event(&username, PASSWORD, &ip);
    assert_eq!(
        status_of(&a_window_later, event).await,
        200,
        "once they have aged out"
    );
}
