//! The audit trail and log hygiene, across a whole session's life against the real local
//! DynamoDB-compatible server: every registration, login success, login failure, rate-limit
//! refusal, refresh and logout is one structured event with its outcome, reason, source IP and
//! request id (the username only where enabled), and no log line ever holds a password, a
//! token or a password hash.

use serde_json::{Value, json};
use shared::store::UserStore;
use shared::testing::{Event, Fixture, body_json, call, unique, unique_ip};

use crate::helpers::{self, Capture};

/// The same JSON subscriber the functions install, writing into `captured`, at the default
/// `info` level.
fn subscriber(captured: &Capture) -> impl tracing::Subscriber + Send + Sync {
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_max_level(tracing::Level::INFO)
        .with_writer(captured.clone())
        .finish()
}

#[tokio::test(flavor = "current_thread")]
async fn a_session_life_is_audited_and_no_secret_reaches_the_log() {
    let captured = Capture::default();
    let _guard = helpers::set_default(subscriber(&captured));
    // Two logins per IP: the third attempt is refused, so the trail shows a refusal too.
    let f = Fixture::local()
        .await
        .with("AUDIT_LOG_USERNAMES", "true")
        .with("LOGIN_IP_LIMIT", "2");
    let store = f.store();
    let username = unique("audited_");
    let password = "a quite unguessable passphrase 42";
    let ip = unique_ip();
    let (register, login) = (helpers::register(&f), helpers::login(&f));
    let credentials = |p: &str| json!({"username": username, "password": p});
    let login_event = |p: &str| Event::load("login").json(credentials(p)).source_ip(&ip);

    let created = call(
        register::handle,
        &register,
        Event::load("register")
            .json(credentials(password))
            .source_ip(&ip)
            .request(),
    )
    .await;
    assert_eq!(created.status(), 201);
    let ok = call(login::handle, &login, login_event(password).request()).await;
    assert_eq!(ok.status(), 200);
    let tokens_issued = body_json(&ok);
    let failed = call(
        login::handle,
        &login,
        login_event("the wrong passphrase").request(),
    )
    .await;
    assert_eq!(failed.status(), 401);
    let refused = call(login::handle, &login, login_event(password).request()).await;
    assert_eq!(refused.status(), 429);
    let refresh_deps = helpers::refresh(&f);
    let refresh_token = tokens_issued["refresh_token"].as_str().unwrap();
    let rotated = call(
        refresh::handle,
        &refresh_deps,
        Event::load("refresh")
            .json(json!({"refresh_token": refresh_token}))
            .source_ip(&ip)
            .request(),
    )
    .await;
    assert_eq!(rotated.status(), 200);
    let rotated = body_json(&rotated);
    let logout_deps = helpers::logout(&f);
    let next = rotated["refresh_token"].as_str().unwrap();
    let ended = call(
        logout::handle,
        &logout_deps,
        Event::load("logout")
            .json(json!({"refresh_token": next}))
            .source_ip(&ip)
            .request(),
    )
    .await;
    assert_eq!(ended.status(), 204);

    // One event per outcome, with the fields an investigation needs.
    let events = captured.audit_events();
    let seen: Vec<(String, String, String)> = events
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().into(),
                e["outcome"].as_str().unwrap().into(),
                e["reason"].as_str().unwrap().into(),
            )
        })
        .collect();
    let expected = [
        ("register", "success", "created"),
        ("login", "success", "authenticated"),
        ("login", "failure", "invalid_credentials"),
        ("login", "refused", "login-ip"),
        ("refresh", "success", "rotated"),
        ("logout", "success", "revoked"),
    ];
    let expected: Vec<(String, String, String)> = expected
        .iter()
        .map(|(a, b, c)| ((*a).into(), (*b).into(), (*c).into()))
        .collect();
    assert_eq!(seen, expected);
    for e in &events {
        assert_eq!(e["source_ip"], ip.as_str(), "{e}");
        assert!(
            e["request_id"].as_str().is_some_and(|id| !id.is_empty()),
            "{e}"
        );
    }
    assert_eq!(
        events[0]["username"],
        username.as_str(),
        "usernames are logged when enabled"
    );

    // Nothing secret anywhere in the log, audit or not.
    let stored_hash = store
        .find(&username.to_lowercase())
        .await
        .unwrap()
        .unwrap()
        .password_hash;
    let log = captured.text();
    for (secret, what) in [
        (password, "the password"),
        ("the wrong passphrase", "a wrong password"),
        (
            tokens_issued["access_token"].as_str().unwrap(),
            "an access token",
        ),
        (refresh_token, "a refresh token"),
        (
            rotated["access_token"].as_str().unwrap(),
            "a rotated access token",
        ),
        (next, "a rotated refresh token"),
        (stored_hash.as_str(), "the password hash"),
        (stored_hash.rsplit('$').next().unwrap(), "the hash output"),
    ] {
        assert!(!log.contains(secret), "{what} reached the log");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn usernames_stay_out_of_audit_events_unless_enabled() {
    let captured = Capture::default();
    let _guard = helpers::set_default(subscriber(&captured));
    let register = helpers::register(&Fixture::local().await.with("AUDIT_LOG_USERNAMES", "false"));
    let username = unique("private_");

    let response = call(
        register::handle,
        &register,
        Event::load("register")
            .json(json!({"username": username, "password": "correct horse battery"}))
            .request(),
    )
    .await;

    assert_eq!(response.status(), 201);
    let events = captured.audit_events();
    assert_eq!(events.len(), 1);
    assert!(events[0].get("username").is_none(), "{}", events[0]);
    assert!(!captured.text().contains(&username));
}

#[tokio::test(flavor = "current_thread")]
async fn an_admin_change_is_one_event_naming_actor_target_and_change() {
    let captured = Capture::default();
    let _guard = helpers::set_default(subscriber(&captured));
    let f = Fixture::local().await;
    let (admin, bearer) = shared::testing::admin_caller(f.store()).await;
    let target = unique("audited_target_");
    shared::testing::create_user(f.store().as_ref(), &target, "correct horse battery", &[]).await;
    let settings = admin_update_user::Settings::from_vars(f.vars()).unwrap();
    let deps = admin_update_user::Deps::build(settings, f.store(), f.keys(), f.clock()).unwrap();

    let response = call(
        admin_update_user::handle,
        &deps,
        Event::load("admin-update-user")
            .route("PATCH", &format!("/admin/users/{target}"))
            .header("authorization", Some(&bearer))
            .json(json!({"roles": ["admin"]}))
            .request(),
    )
    .await;

    assert_eq!(response.status(), 200);
    let events = captured.audit_events();
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!(e["action"], "admin.update_user");
    assert_eq!(e["actor"], shared::testing::user_id_of(&admin).as_str());
    assert_eq!(
        e["target_user"],
        shared::testing::user_id_of(&target).as_str()
    );
    let change: Value = serde_json::from_str(e["change"].as_str().unwrap()).unwrap();
    assert_eq!(change, json!({"roles": ["admin"], "disabled": null}));
    assert!(e.get("username").is_none(), "usernames only when enabled");
    assert!(
        !captured
            .text()
            .contains(bearer.trim_start_matches("Bearer ")),
        "no token in the log"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn refresh_token_reuse_names_the_session_and_its_user() {
    let captured = Capture::default();
    let _guard = helpers::set_default(subscriber(&captured));
    let f = Fixture::local().await;
    let me = shared::testing::signed_in(f.store(), f.now()).await;
    let deps = helpers::refresh(&f);
    let send = |token: String| {
        Event::load("refresh")
            .json(json!({"refresh_token": token}))
            .source_ip(&unique_ip())
            .request()
    };

    let rotated = call(refresh::handle, &deps, send(me.refresh_token.clone())).await;
    let reused = call(refresh::handle, &deps, send(me.refresh_token.clone())).await;

    assert_eq!(
        (rotated.status().as_u16(), reused.status().as_u16()),
        (200, 401)
    );
    let events = captured.audit_events();
    let reuse = events
        .iter()
        .find(|e| e["reason"] == "reuse detected, session revoked")
        .unwrap_or_else(|| panic!("no reuse event: {events:?}"));
    assert_eq!(reuse["sid"], me.sid.as_str(), "{reuse}");
    assert_eq!(
        reuse["sub"],
        shared::testing::user_id_of(&me.name).as_str(),
        "{reuse}"
    );
    // The success names them too.
    assert_eq!(events[0]["sid"], me.sid.as_str(), "{}", events[0]);
}

#[tokio::test(flavor = "current_thread")]
async fn refused_admin_calls_are_audit_events_naming_the_caller() {
    let captured = Capture::default();
    let _guard = helpers::set_default(subscriber(&captured));
    let f = Fixture::local().await;
    let settings = admin_get_user::Settings::from_vars(f.vars()).unwrap();
    let deps = admin_get_user::Deps::build(settings, f.store(), f.keys(), f.clock()).unwrap();
    let (admin, bearer) = shared::testing::admin_caller(f.store()).await;
    let plain = shared::testing::signed_in(f.store(), f.now()).await;
    let show = |authorization: &str| {
        Event::load("admin-get-user")
            .route("GET", &format!("/admin/users/{admin}"))
            .header("authorization", Some(authorization))
            .request()
    };

    // A plain user's token (403), then the admin demoted after their token was issued (403).
    let user = call(admin_get_user::handle, &deps, show(&plain.bearer)).await;
    shared::testing::set_roles(f.store().as_ref(), &admin, &[]).await;
    let demoted = call(admin_get_user::handle, &deps, show(&bearer)).await;

    assert_eq!(
        (user.status().as_u16(), demoted.status().as_u16()),
        (403, 403)
    );
    let events = captured.audit_events();
    assert_eq!(events.len(), 2, "{events:?}");
    for e in &events {
        assert_eq!(
            (&e["action"], &e["outcome"]),
            (&json!("admin.show_user"), &json!("refused"))
        );
        assert_eq!(e["reason"], "insufficient_scope", "{e}");
    }
    // The demoted admin's token was good enough to name them: their id and session.
    assert_eq!(
        events[1]["sub"],
        shared::testing::user_id_of(&admin).as_str()
    );
    assert!(events[1]["sid"].is_string(), "{}", events[1]);
}
