//! The reset handler: a link sets a new password once, revokes every session and tells the
//! user; the requests refused for their token or their password, and what each leaves as it was.

use serde_json::json;
use shared::testing::{
    Event, Fixture, assert_invalid, body_json, mails_to, session_revoked, set_disabled, sign_in,
    stored,
};

use crate::helpers::{
    NEW_PASSWORD, OLD_PASSWORD, deps_from, handle, link, password_is, reset, reset_with,
    with_verified_address,
};

#[tokio::test]
async fn a_link_sets_the_new_password_once_and_returns_no_token() {
    let f = Fixture::local().await;
    let deps = deps_from(&f).await;
    let (name, _) = with_verified_address(&f).await;
    let token = link(&f, &name, 1800).await;

    let response = handle(&deps, reset(&token, NEW_PASSWORD)).await;

    assert_eq!(response.status(), 200);
    assert_eq!(
        body_json(&response),
        json!({"msg": "Password has been reset"}),
        "only the message: the user logs in again"
    );
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert!(password_is(&deps, &f, &name, NEW_PASSWORD).await);
    assert!(!password_is(&deps, &f, &name, OLD_PASSWORD).await);
    assert_eq!(
        stored(f.store().as_ref(), &name).await.email.reset_token,
        None
    );

    let again = handle(&deps, reset(&token, "yet another long passphrase")).await;

    assert_eq!(again.status(), 400);
    assert_eq!(
        body_json(&again),
        json!({"msg": "Invalid or expired link: ask for a new one", "error": "invalid_token"})
    );
    assert!(
        password_is(&deps, &f, &name, NEW_PASSWORD).await,
        "used once"
    );
}

#[tokio::test]
async fn a_reset_revokes_every_session_of_the_user() {
    let f = Fixture::local().await;
    let deps = deps_from(&f).await;
    let (name, _) = with_verified_address(&f).await;
    let phone = sign_in(f.store(), &name, f.now()).await;
    let laptop = sign_in(f.store(), &name, f.now()).await;
    let token = link(&f, &name, 1800).await;

    let response = handle(&deps, reset(&token, NEW_PASSWORD)).await;

    assert_eq!(response.status(), 200);
    for session in [&phone, &laptop] {
        assert!(session_revoked(f.store().as_ref(), &session.sid).await);
    }
}

#[tokio::test]
async fn a_reset_tells_the_verified_address_that_the_password_changed() {
    let f = Fixture::local().await;
    let deps = deps_from(&f).await;
    let (name, address) = with_verified_address(&f).await;
    let token = link(&f, &name, 1800).await;

    let response = handle(&deps, reset(&token, NEW_PASSWORD)).await;

    assert_eq!(response.status(), 200);
    let mails = mails_to(&address).await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0].to, vec![address.clone()]);
    assert_eq!(mails[0].subject, "Your password was changed");
    assert!(!mails[0].body.contains(NEW_PASSWORD));
    assert!(!mails[0].body.contains("#token="), "no link in a notice");
}

#[tokio::test]
async fn a_refused_new_password_is_400_and_leaves_the_link_working() {
    let f = Fixture::local().await;
    let deps = deps_from(&f).await;
    let (name, _) = with_verified_address(&f).await;
    let token = link(&f, &name, 1800).await;
    let with_name = format!("{name}-horse-battery");
    let cases = [
        ("short", "must be at least 8 characters".to_owned()),
        (
            "password1234",
            "is too common: choose a password that is not on lists of leaked passwords".to_owned(),
        ),
        (
            with_name.as_str(),
            "must not contain the username".to_owned(),
        ),
    ];
    for (password, message) in cases {
        let response = handle(&deps, reset(&token, password)).await;
        assert_invalid(&response, "new_password", password);
        assert_eq!(
            body_json(&response)["details"]["new_password"],
            json!([message]),
            "{password}"
        );
    }
    let missing = handle(&deps, reset_with(json!({"token": token}))).await;
    assert_invalid(&missing, "new_password", "missing");
    assert!(password_is(&deps, &f, &name, OLD_PASSWORD).await);

    let response = handle(&deps, reset(&token, NEW_PASSWORD)).await;

    assert_eq!(response.status(), 200, "the link still works");
    assert!(password_is(&deps, &f, &name, NEW_PASSWORD).await);
}

#[tokio::test]
async fn tokens_that_are_no_current_link_are_400_invalid_token_before_any_hashing() {
    let f = Fixture::local().await;
    let deps = deps_from(&f).await;
    let (name, _) = with_verified_address(&f).await;
    let _current = link(&f, &name, 1800).await;
    let (no_such_user, _) = shared::keyed_token::new("no_such_user_here").unwrap();
    let (never_issued, _) = shared::keyed_token::new(&name.to_lowercase()).unwrap();
    let cases = [
        (Event::load("password-reset").request(), "the sample's"),
        (reset("not-a-token", NEW_PASSWORD), "not a keyed token"),
        (
            reset("YWxpY2U.c2hvcnQ", NEW_PASSWORD),
            "too little randomness",
        ),
        (reset(&no_such_user, NEW_PASSWORD), "no such user"),
        (reset(&never_issued, NEW_PASSWORD), "never issued"),
        (reset(&never_issued, "short"), "never issued, weak password"),
    ];
    for (request, case) in cases {
        let response = handle(&deps, request).await;
        assert_eq!(response.status(), 400, "{case}");
        assert_eq!(body_json(&response)["error"], "invalid_token", "{case}");
    }
    assert_eq!(deps.passwords.computations(), 0, "nothing hashed");
    assert!(password_is(&deps, &f, &name, OLD_PASSWORD).await);
}

#[tokio::test]
async fn a_missing_or_malformed_token_field_and_other_fields_are_400_validation_error() {
    let deps = deps_from(&Fixture::local().await).await;
    let cases = [
        (json!({"new_password": NEW_PASSWORD}), "token", "no token"),
        (
            json!({"token": "", "new_password": NEW_PASSWORD}),
            "token",
            "empty",
        ),
        (
            json!({"token": 42, "new_password": NEW_PASSWORD}),
            "token",
            "a number",
        ),
        (
            json!({"token": "a".repeat(513), "new_password": NEW_PASSWORD}),
            "token",
            "too long",
        ),
        (
            json!({"token": "a.b", "new_password": NEW_PASSWORD, "username": "x"}),
            "username",
            "another field",
        ),
    ];
    for (body, field, case) in cases {
        assert_invalid(&handle(&deps, reset_with(body)).await, field, case);
    }
    assert_eq!(deps.passwords.computations(), 0);
}

#[tokio::test]
async fn a_disabled_users_link_is_refused() {
    let f = Fixture::local().await;
    let deps = deps_from(&f).await;
    let (name, _) = with_verified_address(&f).await;
    let token = link(&f, &name, 1800).await;
    set_disabled(f.store().as_ref(), &name, true).await;

    let response = handle(&deps, reset(&token, NEW_PASSWORD)).await;

    assert_eq!(response.status(), 400);
    assert_eq!(body_json(&response)["error"], "invalid_token");
    assert!(password_is(&deps, &f, &name, OLD_PASSWORD).await);
}

#[tokio::test]
async fn another_method_is_405_with_allow_post() {
    let deps = deps_from(&Fixture::local().await).await;
    let event = Event::load("password-reset").route("GET", "/password/reset");

    let response = handle(&deps, event.request()).await;

    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
}

#[tokio::test]
async fn an_unreachable_dynamodb_is_503() {
    let f = Fixture::unreachable().await;
    let deps = deps_from(&f).await;
    let (token, _) = shared::keyed_token::new("someone").unwrap();

    let response = handle(&deps, reset(&token, NEW_PASSWORD)).await;

    assert_eq!(response.status(), 503);
    assert_eq!(body_json(&response)["error"], "service_unavailable");
}
