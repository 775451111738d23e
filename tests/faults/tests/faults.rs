//! Fault injection against the real local DynamoDB-compatible server, through a proxy that
//! throttles, fails, hangs or loses answers on chosen requests (`shared::testing::faults`):
//! every function that talks to DynamoDB answers 503 `service_unavailable` with `Retry-After`,
//! leaves no partial state behind, and a write whose answer was lost is neither reported as a
//! conflict nor lost.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use lambda_http::{Body, Response};
use serde_json::json;
use shared::audit::Audit;
use shared::config::{Limit, LoginLimits, PasswordPolicy};
use shared::password::Passwords;
use shared::rate_limit::RateLimiter;
use shared::store::dynamo::DynamoStore;
use shared::store::{SessionStore, UserStore};
use shared::testing::faults::{Action, FaultProxy};
use shared::testing::{
    Event, body_json, cheap_argon2, generous_limit, local_endpoint, local_store, sessions,
    store_at, tokens, unique, unique_ip, unreachable_store,
};
use shared::unix_now;

const PASSWORD: &str = "correct horse battery staple";

/// The faults every endpoint must survive, with a name for messages.
const FAULTS: [(Action, &str); 3] = [
    (Action::Throttle, "throttling"),
    (Action::ServerError, "server error"),
    (Action::Hang, "timeout"),
];

fn audit() -> Audit {
    Audit {
        log_usernames: false,
    }
}

fn fixed_clock() -> shared::Clock {
    let now = unix_now();
    Arc::new(move || now)
}

fn register_deps(store: DynamoStore) -> register::Deps {
    let (limiter, limit) = generous_limit(&store, "register-ip");
    register::Deps {
        users: Arc::new(store),
        passwords: Passwords::new(cheap_argon2()).unwrap(),
        policy: PasswordPolicy::default(),
        audit: audit(),
        limiter,
        limit,
        clock: fixed_clock(),
    }
}

fn login_deps(store: DynamoStore) -> login::Deps {
    let limit = |name| Limit {
        name,
        limit: 1000,
        window_seconds: 60,
    };
    login::Deps {
        users: Arc::new(store.clone()),
        limiter: RateLimiter::new(Arc::new(store.clone())),
        limits: LoginLimits {
            per_ip: limit("login-ip"),
            per_user: limit("login-user"),
        },
        passwords: Passwords::new(cheap_argon2()).unwrap(),
        tokens: tokens(),
        sessions: sessions(store, 0),
        audit: audit(),
        clock: fixed_clock(),
    }
}

fn refresh_deps(store: DynamoStore) -> refresh::Deps {
    refresh::Deps {
        sessions: sessions(store.clone(), 0),
        tokens: tokens(),
        limiter: RateLimiter::new(Arc::new(store)),
        limit: Limit {
            name: "refresh-ip",
            limit: 1000,
            window_seconds: 60,
        },
        audit: audit(),
        clock: fixed_clock(),
    }
}

fn logout_deps(store: DynamoStore) -> logout::Deps {
    logout::Deps {
        sessions: sessions(store, 0),
        audit: audit(),
        clock: fixed_clock(),
    }
}

fn assert_unavailable(response: &Response<Body>, case: &str) {
    assert_eq!(response.status(), 503, "{case}");
    assert_eq!(response.headers()["retry-after"], "1", "{case}");
    let body = body_json(response);
    assert_eq!(body["error"], "service_unavailable", "{case}");
    assert!(body["request_id"].is_string(), "{case}");
}

fn register_event(name: &str) -> Event {
    Event::load("register").json(json!({"username": name, "password": PASSWORD}))
}

fn login_event(name: &str) -> Event {
    Event::load("login")
        .json(json!({"username": name, "password": PASSWORD}))
        .source_ip(&unique_ip())
}

fn token_event(route: &str, token: &str) -> Event {
    Event::load(route)
        .json(json!({"refresh_token": token}))
        .source_ip(&unique_ip())
}

/// A registered user, written straight to the local server.
async fn registered_user() -> String {
    let name = unique("faulty_");
    let healthy = register_deps(local_store().await);
    assert_eq!(
        register::handle(&healthy, register_event(&name).request())
            .await
            .status(),
        201
    );
    name
}

#[tokio::test]
async fn register_answers_503_on_every_fault_and_creates_no_user() {
    let proxy = FaultProxy::start(&local_endpoint()).await;
    let healthy = local_store().await;
    for (fault, case) in FAULTS {
        proxy.always(fault);
        let name = unique("never_");
        let deps = register_deps(store_at(&proxy.endpoint).await);
        assert_unavailable(
            &register::handle(&deps, register_event(&name).request()).await,
            case,
        );
        assert!(
            healthy.find(&name.to_lowercase()).await.unwrap().is_none(),
            "{case}: no user"
        );
    }
    let deps = register_deps(unreachable_store().await);
    let name = unique("never_");
    assert_unavailable(
        &register::handle(&deps, register_event(&name).request()).await,
        "refused",
    );
    assert!(
        healthy.find(&name.to_lowercase()).await.unwrap().is_none(),
        "refused: no user"
    );
}

#[tokio::test]
async fn login_answers_503_on_every_fault_in_either_wave() {
    let name = registered_user().await;
    let proxy = FaultProxy::start(&local_endpoint()).await;
    for (fault, case) in FAULTS {
        // First wave: rate-limit counters and the user read. Failing closed: no password check.
        proxy.always(fault);
        let deps = login_deps(store_at(&proxy.endpoint).await);
        assert_unavailable(
            &login::handle(&deps, login_event(&name).request()).await,
            case,
        );
        // Second wave: the session write after a correct password.
        proxy.plan(move |_, op| {
            if op == "PutItem" {
                fault
            } else {
                Action::Forward
            }
        });
        assert_unavailable(
            &login::handle(&deps, login_event(&name).request()).await,
            case,
        );
    }
    let deps = login_deps(unreachable_store().await);
    assert_unavailable(
        &login::handle(&deps, login_event(&name).request()).await,
        "refused",
    );
}

#[tokio::test]
async fn refresh_answers_503_on_every_fault_and_leaves_the_session_unrotated() {
    let healthy = local_store().await;
    let proxy = FaultProxy::start(&local_endpoint()).await;
    for (fault, case) in FAULTS {
        let (sid, token) = sessions(healthy.clone(), 0)
            .start("someone", unix_now())
            .await
            .unwrap();
        // Requests: rate-limit UpdateItem, session GetItem, then the rotation UpdateItem (#2)
        // and the SDK's retries of it.
        proxy.plan(move |n, _| if n >= 2 { fault } else { Action::Forward });
        let deps = refresh_deps(store_at(&proxy.endpoint).await);
        assert_unavailable(
            &refresh::handle(&deps, token_event("refresh", &token).request()).await,
            case,
        );
        let session = healthy.get(&sid).await.unwrap().unwrap();
        assert_eq!(
            (session.generation, session.revoked),
            (0, false),
            "{case}: not rotated"
        );
        let again = refresh_deps(healthy.clone());
        let response = refresh::handle(&again, token_event("refresh", &token).request()).await;
        assert_eq!(response.status(), 200, "{case}: the same token still works");
    }
    let deps = refresh_deps(unreachable_store().await);
    assert_unavailable(
        &refresh::handle(&deps, token_event("refresh", "rt1_x").request()).await,
        "refused",
    );
}

#[tokio::test]
async fn logout_answers_503_on_every_fault_and_leaves_the_session_live() {
    let healthy = local_store().await;
    let proxy = FaultProxy::start(&local_endpoint()).await;
    for (fault, case) in FAULTS {
        let (sid, token) = sessions(healthy.clone(), 0)
            .start("someone", unix_now())
            .await
            .unwrap();
        proxy.always(fault);
        let deps = logout_deps(store_at(&proxy.endpoint).await);
        assert_unavailable(
            &logout::handle(&deps, token_event("logout", &token).request()).await,
            case,
        );
        assert!(
            !healthy.get(&sid).await.unwrap().unwrap().revoked,
            "{case}: still live"
        );
    }
}

#[tokio::test]
async fn a_registration_whose_answer_was_lost_is_not_a_conflict() {
    let proxy = FaultProxy::start(&local_endpoint()).await;
    proxy.plan(|n, op| {
        if n == 0 && op == "PutItem" {
            Action::ForwardThenFail
        } else {
            Action::Forward
        }
    });
    let deps = register_deps(store_at(&proxy.endpoint).await);
    let name = unique("lost_");

    let response = register::handle(&deps, register_event(&name).request()).await;

    assert_eq!(response.status(), 201, "{}", body_json(&response));
    assert!(
        local_store()
            .await
            .find(&name.to_lowercase())
            .await
            .unwrap()
            .is_some()
    );
    // And a real second registration is still a conflict.
    proxy.always(Action::Forward);
    assert_eq!(
        register::handle(&deps, register_event(&name).request())
            .await
            .status(),
        409
    );
}

#[tokio::test]
async fn a_rotation_whose_answer_was_lost_is_neither_lost_nor_taken_for_reuse() {
    let healthy = local_store().await;
    let (sid, token) = sessions(healthy.clone(), 0)
        .start("someone", unix_now())
        .await
        .unwrap();
    let proxy = FaultProxy::start(&local_endpoint()).await;
    proxy.plan(|n, _| {
        if n == 2 {
            Action::ForwardThenFail
        } else {
            Action::Forward
        }
    });
    let deps = refresh_deps(store_at(&proxy.endpoint).await);

    let response = refresh::handle(&deps, token_event("refresh", &token).request()).await;

    assert_eq!(response.status(), 200, "{}", body_json(&response));
    let session = healthy.get(&sid).await.unwrap().unwrap();
    assert_eq!((session.generation, session.revoked), (1, false));
    let next = body_json(&response)["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let again = refresh::handle(
        &refresh_deps(healthy),
        token_event("refresh", &next).request(),
    )
    .await;
    assert_eq!(again.status(), 200, "the minted generation is the live one");
}

#[tokio::test]
async fn a_login_whose_session_write_answer_was_lost_still_succeeds() {
    let name = registered_user().await;
    let proxy = FaultProxy::start(&local_endpoint()).await;
    let mut lost = false;
    proxy.plan(move |_, op| {
        if op == "PutItem" && !lost {
            lost = true;
            return Action::ForwardThenFail;
        }
        Action::Forward
    });
    let deps = login_deps(store_at(&proxy.endpoint).await);

    let response = login::handle(&deps, login_event(&name).request()).await;

    assert_eq!(response.status(), 200, "{}", body_json(&response));
    let refresh_token = body_json(&response)["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let rotated = refresh::handle(
        &refresh_deps(local_store().await),
        token_event("refresh", &refresh_token).request(),
    )
    .await;
    assert_eq!(rotated.status(), 200, "the session really exists");
}
