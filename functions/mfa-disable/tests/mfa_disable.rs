//! `DELETE /mfa/totp`, against the local DynamoDB-compatible server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use shared::testing::{assert_one_notice, give_verified};

use lambda_http::{Body, Request, Response};
use mfa_disable::Deps;
use serde_json::{Value, json};
use shared::store::MfaState;
use shared::testing::{
    Event, Fixture, SignedIn, account_deps, assert_invalid, body_json, call, code_works,
    session_revoked, signed_in, signed_in_with_mfa, spend_step, stored, use_recovery_code,
    wrong_code,
};

const PASSWORD: &str = "correct horse battery";

async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    call(mfa_disable::handle, deps, req).await
}

fn disable(user: &SignedIn, body: Value) -> Request {
    user.event("mfa-disable").json(body).request()
}

#[tokio::test]
async fn the_password_and_a_totp_code_turn_mfa_off_entirely() {
    let f = Fixture::local().await;
    let (me, mfa) = signed_in_with_mfa(f.store(), f.now()).await;

    let response = handle(
        &account_deps(&f),
        disable(
            &me,
            json!({"password": PASSWORD, "code": mfa.code(f.now())}),
        ),
    )
    .await;

    assert_eq!(response.status(), 204, "{:?}", response.body());
    assert!(response.body().is_empty());
    assert_eq!(
        stored(f.store().as_ref(), &me.name).await.mfa,
        MfaState::default(),
        "secret, pending secret, step and recovery codes are all gone"
    );
    assert!(
        !session_revoked(f.store().as_ref(), &me.sid).await,
        "the session stays"
    );
}

#[tokio::test]
async fn a_recovery_code_turns_mfa_off_and_a_used_one_does_not() {
    let f = Fixture::local().await;
    let deps = account_deps(&f);
    let (me, mfa) = signed_in_with_mfa(f.store(), f.now()).await;
    // The first code was used before (at a login, say).
    let used = &mfa.recovery_codes[0];
    use_recovery_code(f.store().as_ref(), &me.name, used).await;

    let refused = handle(
        &deps,
        disable(&me, json!({"password": PASSWORD, "code": used})),
    )
    .await;
    assert_eq!(refused.status(), 400);
    assert_eq!(
        body_json(&refused),
        json!({"msg": "Invalid code", "error": "invalid_code"})
    );
    assert!(stored(f.store().as_ref(), &me.name).await.mfa.enabled());

    // Any form of an unused one: lower case, no dashes.
    let unused = mfa.recovery_codes[1].replace('-', "").to_lowercase();
    let response = handle(
        &deps,
        disable(&me, json!({"password": PASSWORD, "code": unused})),
    )
    .await;
    assert_eq!(response.status(), 204, "{}", body_json(&response));
    assert!(!stored(f.store().as_ref(), &me.name).await.mfa.enabled());
}

#[tokio::test]
async fn of_two_concurrent_disables_with_one_recovery_code_exactly_one_succeeds() {
    let f = Fixture::local().await;
    let deps = account_deps(&f);
    let (me, mfa) = signed_in_with_mfa(f.store(), f.now()).await;
    let body = json!({"password": PASSWORD, "code": mfa.recovery_codes[0]});

    let (a, b) = tokio::join!(
        handle(&deps, disable(&me, body.clone())),
        handle(&deps, disable(&me, body.clone())),
    );

    let statuses = [a.status().as_u16(), b.status().as_u16()];
    assert_eq!(
        statuses.iter().filter(|s| **s == 204).count(),
        1,
        "{statuses:?}"
    );
    let loser = if a.status() == 204 { &b } else { &a };
    let code = body_json(loser)["error"].clone();
    // Refused by the conditional write, or read after the first turned MFA off.
    assert!(
        code == "invalid_code" || code == "mfa_not_enabled",
        "{code}"
    );
}

#[tokio::test]
async fn without_a_code_it_is_403_mfa_required_and_a_wrong_one_400() {
    let f = Fixture::local().await;
    let deps = account_deps(&f);
    let (me, mfa) = signed_in_with_mfa(f.store(), f.now()).await;

    let response = handle(&deps, disable(&me, json!({"password": PASSWORD}))).await;
    assert_eq!(response.status(), 403);
    assert_eq!(
        body_json(&response),
        json!({"msg": "A second factor is required: send a code", "error": "mfa_required"})
    );

    let wrong = wrong_code(&mfa.secret, f.now());
    let response = handle(
        &deps,
        disable(&me, json!({"password": PASSWORD, "code": wrong})),
    )
    .await;
    assert_eq!(response.status(), 400);
    assert_eq!(body_json(&response)["error"], "invalid_code");

    let bad_recovery = "0000-0000-0000-0000";
    let response = handle(
        &deps,
        disable(&me, json!({"password": PASSWORD, "code": bad_recovery})),
    )
    .await;
    assert_eq!(response.status(), 400);
    assert!(stored(f.store().as_ref(), &me.name).await.mfa.enabled());
}

#[tokio::test]
async fn a_totp_code_used_before_is_refused() {
    let f = Fixture::local().await;
    let deps = account_deps(&f);
    let (me, mfa) = signed_in_with_mfa(f.store(), f.now()).await;
    let code = mfa.code(f.now());
    // Accepted before (at a login, say): its step is spent.
    spend_step(f.store().as_ref(), &me.name, f.now() / 30).await;

    let response = handle(
        &deps,
        disable(&me, json!({"password": PASSWORD, "code": code})),
    )
    .await;

    assert_eq!(response.status(), 400);
    assert_eq!(body_json(&response)["error"], "invalid_code");
    assert!(stored(f.store().as_ref(), &me.name).await.mfa.enabled());
}

#[tokio::test]
async fn a_wrong_password_is_401_and_leaves_the_code_unspent() {
    let f = Fixture::local().await;
    let (me, mfa) = signed_in_with_mfa(f.store(), f.now()).await;
    let code = mfa.code(f.now());

    let response = handle(
        &account_deps(&f),
        disable(&me, json!({"password": "not my password", "code": code})),
    )
    .await;

    assert_eq!(response.status(), 401);
    assert_eq!(
        body_json(&response),
        json!({"msg": "Bad username or password", "error": "invalid_credentials"})
    );
    let user = stored(f.store().as_ref(), &me.name).await;
    assert!(user.mfa.enabled());
    assert!(code_works(&user, &code, f.now()));
}

#[tokio::test]
async fn without_mfa_it_is_409_after_the_password() {
    let f = Fixture::local().await;
    let deps = account_deps(&f);
    let me = signed_in(f.store(), f.now()).await;

    let wrong = handle(&deps, disable(&me, json!({"password": "not my password"}))).await;
    let right = handle(
        &deps,
        disable(&me, json!({"password": PASSWORD, "code": "123456"})),
    )
    .await;

    assert_eq!(wrong.status(), 401, "the password first");
    assert_eq!(right.status(), 409);
    assert_eq!(
        body_json(&right),
        json!({"msg": "Two-factor authentication is not on", "error": "mfa_not_enabled"})
    );
}

#[tokio::test]
async fn the_sample_without_a_real_token_is_401_and_a_bad_body_400() {
    let f = Fixture::local().await;
    let deps = account_deps(&f);
    let response = handle(&deps, Event::load("mfa-disable").request()).await;
    assert_eq!(response.status(), 401);
    assert_eq!(body_json(&response)["error"], "invalid_token");

    let me = signed_in(f.store(), f.now()).await;
    let cases: Vec<(Value, &str)> = vec![
        (json!({"code": "123456"}), "password"),
        (json!({"password": PASSWORD, "code": 123456}), "code"),
        (json!({"password": PASSWORD, "code": ""}), "code"),
        (
            json!({"password": PASSWORD, "code": "1".repeat(65)}),
            "code",
        ),
        (
            json!({"password": PASSWORD, "recovery_code": "x"}),
            "recovery_code",
        ),
    ];
    for (body, field) in cases {
        let response = handle(&deps, disable(&me, body.clone())).await;
        assert_invalid(&response, field, &body.to_string());
    }
}

#[tokio::test]
async fn with_a_verified_address_turning_mfa_off_mails_a_notice() {
    shared::testing::local_mailer().await;
    let f = Fixture::local().await;
    let (me, mfa) = signed_in_with_mfa(f.store(), f.now()).await;
    let address = give_verified(&f, &me.name).await;

    let response = handle(
        &account_deps(&f),
        disable(
            &me,
            json!({"password": PASSWORD, "code": mfa.code(f.now())}),
        ),
    )
    .await;

    assert_eq!(response.status(), 204, "{:?}", response.body());
    assert_one_notice(&address, "Two-factor authentication is off").await;
}
