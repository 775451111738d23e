//! `POST /login/mfa` against the local DynamoDB-compatible server: codes from a fixed clock,
//! replay under concurrency, the `mfa_token`'s life, the failure limits, faults.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use login_mfa::{Deps, Settings};
use serde_json::{Value, json};
use shared::mfa::{self, new_mfa_token};
use shared::store::{AccessChange, Challenge, ChallengeStore, SessionStore, UserStore};
use shared::testing::faults::{Action, FaultProxy};
use shared::testing::{
    Event, Fixture, Mfa, body_json, call, create_user, enable_mfa, local_endpoint, refresh_now,
    stored, tokens, unique, unique_ip, user_id_of,
};

const PASSWORD: &str = "correct horse battery";

/// The twenty-at-once tests (and the fault test, whose SDK retries wait on the server) run
/// alone, the others together: twenty logins of about eight calls at once are what the local
/// single-threaded server answers within the SDK's 1 s timeouts, not more.
static BURST: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// The function on a store whose SDK waits longer than the deployed 1 s per attempt: twenty
/// logins of one account at once contend on that account's failure logs (conditional appends,
/// retried), which the local single-threaded server answers too slowly for 1 s. What these
/// tests check is which of the twenty win, not how fast the local server is.
fn patient_deps(f: &Fixture) -> Deps {
    use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
    let sdk = shared::aws::sdk_config().unwrap();
    let patient = TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_secs(20))
        .operation_attempt_timeout(std::time::Duration::from_secs(20))
        .operation_timeout(std::time::Duration::from_secs(60))
        .build();
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .timeout_config(patient)
        .build();
    let store = shared::store::dynamo::DynamoStore::new(
        aws_sdk_dynamodb::Client::from_conf(config),
        shared::testing::tables(),
    );
    Deps::build(
        Settings::from_vars(f.vars()).unwrap(),
        Arc::new(store),
        f.keys(),
        f.mfa_key(),
        f.clock(),
    )
    .unwrap()
}

fn deps_from(f: &Fixture) -> Deps {
    Deps::build(
        Settings::from_vars(f.vars()).unwrap(),
        f.store(),
        f.keys(),
        f.mfa_key(),
        f.clock(),
    )
    .unwrap()
}

async fn handle(
    deps: &Deps,
    req: lambda_http::Request,
) -> lambda_http::Response<lambda_http::Body> {
    call(login_mfa::handle, deps, req).await
}

/// A user with MFA on.
async fn mfa_user(f: &Fixture) -> (String, Mfa) {
    let name = unique("mfa_");
    create_user(f.store().as_ref(), &name, PASSWORD, &[]).await;
    let mfa = enable_mfa(f.store().as_ref(), &name).await;
    (name, mfa)
}

/// What `POST /login` stores for a right password: a challenge, and its `mfa_token`.
async fn challenge(f: &Fixture, name: &str) -> String {
    let key = name.to_lowercase();
    let (token, id) = new_mfa_token(&key).unwrap();
    f.store()
        .create_challenge(&Challenge {
            id,
            key,
            user_id: user_id_of(name),
            expires_at: f.now() + mfa::MFA_TOKEN_TTL_SECONDS,
            wrong: 0,
            used: false,
        })
        .await
        .unwrap();
    token
}

fn event(body: Value) -> Event {
    Event::load("login-mfa").json(body).source_ip(&unique_ip())
}

async fn send(deps: &Deps, body: Value) -> lambda_http::Response<lambda_http::Body> {
    handle(deps, event(body).request()).await
}

fn error_of(response: &lambda_http::Response<lambda_http::Body>) -> String {
    body_json(response)["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_right_totp_code_logs_in_with_amr_mfa_otp_pwd_and_a_refresh_keeps_it() {
    let _turn = BURST.read().await;
    let f = Fixture::local().await;
    let deps = deps_from(&f);
    let (name, mfa) = mfa_user(&f).await;
    let token = challenge(&f, &name).await;

    let response = send(
        &deps,
        json!({"mfa_token": token, "code": mfa.code(f.now())}),
    )
    .await;

    assert_eq!(response.status(), 200, "{:?}", body_json(&response));
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body = body_json(&response);
    assert_eq!(body["token_type"], "Bearer");
    let claims = tokens()
        .verify(body["access_token"].as_str().unwrap())
        .unwrap();
    assert_eq!(claims.sub, user_id_of(&name));
    assert_eq!(claims.amr, ["mfa", "otp", "pwd"]);
    let session = f.store().get(&claims.sid).await.unwrap().unwrap();
    assert_eq!(session.amr, ["mfa", "otp", "pwd"]);
    let refreshed = refresh_now(
        &deps.sessions,
        deps.users.as_ref(),
        body["refresh_token"].as_str().unwrap(),
        f.now(),
    )
    .await
    .unwrap();
    assert_eq!(refreshed.amr, ["mfa", "otp", "pwd"], "a refresh keeps amr");
    // The step is stored: that code is spent.
    assert_eq!(
        stored(f.store().as_ref(), &name).await.mfa.last_step,
        f.now() / 30
    );
}

#[tokio::test]
async fn a_totp_code_works_once_and_a_neighbouring_step_is_accepted() {
    let _turn = BURST.read().await;
    let f = Fixture::local().await;
    let deps = deps_from(&f);
    let (name, mfa) = mfa_user(&f).await;
    // The previous step's code (the phone's clock a little behind) is accepted...
    let previous = mfa.code(f.now() - 30);
    let first = send(
        &deps,
        json!({"mfa_token": challenge(&f, &name).await, "code": previous}),
    )
    .await;
    assert_eq!(first.status(), 200);
    // ...once.
    let again = send(
        &deps,
        json!({"mfa_token": challenge(&f, &name).await, "code": previous}),
    )
    .await;
    assert_eq!(again.status(), 401);
    assert_eq!(error_of(&again), "invalid_code");
    // A code of the current step is still good, then spent too; and one of a step before the
    // last accepted one is refused.
    let current = mfa.code(f.now());
    let token = challenge(&f, &name).await;
    assert_eq!(
        send(&deps, json!({"mfa_token": token, "code": current}))
            .await
            .status(),
        200
    );
    let older = mfa.code(f.now() - 30);
    let token = challenge(&f, &name).await;
    assert_eq!(
        send(&deps, json!({"mfa_token": token, "code": older}))
            .await
            .status(),
        401
    );
    // Two steps away is no code at all.
    let far = mfa.code(f.now() + 90);
    let token = challenge(&f, &name).await;
    assert_eq!(
        error_of(&send(&deps, json!({"mfa_token": token, "code": far})).await),
        "invalid_code"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_logins_with_one_code_give_exactly_one_session() {
    let _turn = BURST.write().await;
    let f = Fixture::local().await;
    let deps = Arc::new(patient_deps(&f));
    let (name, mfa) = mfa_user(&f).await;
    let code = mfa.code(f.now());
    let mut tokens_ = Vec::new();
    for _ in 0..20 {
        tokens_.push(challenge(&f, &name).await);
    }
    let answers = futures_util::future::join_all(tokens_.into_iter().map(|token| {
        let deps = deps.clone();
        let code = code.clone();
        async move {
            send(&deps, json!({"mfa_token": token, "code": code}))
                .await
                .status()
                .as_u16()
        }
    }))
    .await;
    assert_eq!(
        answers.iter().filter(|s| **s == 200).count(),
        1,
        "{answers:?}"
    );
    assert_eq!(
        answers.iter().filter(|s| **s == 401).count(),
        19,
        "{answers:?}"
    );
    let sessions = f
        .store()
        .list(&user_id_of(&name), Some(f.now()))
        .await
        .unwrap();
    assert_eq!(sessions.len(), 1, "one session started");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_recovery_code_works_once_even_under_twenty_concurrent_logins() {
    let _turn = BURST.write().await;
    let f = Fixture::local().await;
    let deps = Arc::new(patient_deps(&f));
    let (name, mfa) = mfa_user(&f).await;
    // Any case, without dashes.
    let code = mfa.recovery_codes[3].replace('-', "").to_lowercase();
    let mut tokens_ = Vec::new();
    for _ in 0..20 {
        tokens_.push(challenge(&f, &name).await);
    }
    let answers = futures_util::future::join_all(tokens_.into_iter().map(|token| {
        let deps = deps.clone();
        let code = code.clone();
        async move {
            let response = send(&deps, json!({"mfa_token": token, "recovery_code": code})).await;
            let status = response.status().as_u16();
            let body = body_json(&response);
            (status, body)
        }
    }))
    .await;
    let winners: Vec<&Value> = answers
        .iter()
        .filter(|(s, _)| *s == 200)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(winners.len(), 1, "{answers:?}");
    let claims = tokens()
        .verify(winners[0]["access_token"].as_str().unwrap())
        .unwrap();
    assert_eq!(claims.amr, ["mfa", "pwd"], "a recovery code is no otp");
    assert!(
        answers
            .iter()
            .all(|(s, b)| *s == 200 || b["error"] == "invalid_code")
    );
    let left = stored(f.store().as_ref(), &name).await.mfa.recovery;
    assert_eq!(left.len(), 9, "the code is used up, the others are not");
    // The others still work.
    let token = challenge(&f, &name).await;
    let other = send(
        &deps,
        json!({"mfa_token": token, "recovery_code": mfa.recovery_codes[4]}),
    )
    .await;
    assert_eq!(other.status(), 200);
}

#[tokio::test]
async fn an_mfa_token_is_single_use_expires_and_dies_after_five_wrong_codes() {
    let _turn = BURST.read().await;
    let f = Fixture::local().await;
    let deps = deps_from(&f);
    let (name, mfa) = mfa_user(&f).await;

    // Single use.
    let token = challenge(&f, &name).await;
    let ok = send(
        &deps,
        json!({"mfa_token": token, "code": mfa.code(f.now() - 30)}),
    )
    .await;
    assert_eq!(ok.status(), 200);
    let reused = send(
        &deps,
        json!({"mfa_token": token, "code": mfa.code(f.now())}),
    )
    .await;
    assert_eq!(
        (reused.status().as_u16(), error_of(&reused)),
        (401, "invalid_mfa_token".into())
    );

    // Expired: the same request 300 s later.
    let token = challenge(&f, &name).await;
    let later = deps_from(&f.clone().at(f.now() + mfa::MFA_TOKEN_TTL_SECONDS));
    let code = mfa.code(f.now() + mfa::MFA_TOKEN_TTL_SECONDS);
    let expired = send(&later, json!({"mfa_token": token, "code": code})).await;
    assert_eq!(error_of(&expired), "invalid_mfa_token");

    // Five wrong codes, then even the right one is refused.
    let token = challenge(&f, &name).await;
    for _ in 0..5 {
        let wrong = send(&deps, json!({"mfa_token": token, "code": "000000"})).await;
        assert_eq!(error_of(&wrong), "invalid_code");
    }
    let dead = send(
        &deps,
        json!({"mfa_token": token, "code": mfa.code(f.now())}),
    )
    .await;
    assert_eq!(error_of(&dead), "invalid_mfa_token");
    // The right code was not consumed by the refused request.
    let token = challenge(&f, &name).await;
    assert_eq!(
        send(
            &deps,
            json!({"mfa_token": token, "code": mfa.code(f.now())})
        )
        .await
        .status(),
        200
    );
}

#[tokio::test]
async fn an_mfa_token_is_bound_to_its_user() {
    let _turn = BURST.read().await;
    let f = Fixture::local().await;
    let deps = deps_from(&f);
    let (alice, _) = mfa_user(&f).await;
    let (bob, bob_mfa) = mfa_user(&f).await;
    let token = challenge(&f, &alice).await;
    // Bob's code on Alice's token: wrong for her secret.
    let crossed = send(
        &deps,
        json!({"mfa_token": token, "code": bob_mfa.code(f.now())}),
    )
    .await;
    assert_eq!(error_of(&crossed), "invalid_code");
    // Alice's token relabelled with Bob's name: no such challenge.
    let random = token.split_once('.').unwrap().1;
    use base64::Engine;
    let relabelled = format!(
        "{}.{random}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bob.to_lowercase())
    );
    let response = send(
        &deps,
        json!({"mfa_token": relabelled, "code": bob_mfa.code(f.now())}),
    )
    .await;
    assert_eq!(error_of(&response), "invalid_mfa_token");
    for garbage in ["", "nodot", "a.b", &"x".repeat(200)] {
        let response = send(&deps, json!({"mfa_token": garbage, "code": "123456"})).await;
        assert!(
            matches!(
                error_of(&response).as_str(),
                "invalid_mfa_token" | "validation_error"
            ),
            "{garbage}"
        );
    }
}

#[tokio::test]
async fn a_disabled_users_mfa_token_is_refused() {
    let _turn = BURST.read().await;
    let f = Fixture::local().await;
    let deps = deps_from(&f);
    let (name, mfa) = mfa_user(&f).await;
    let token = challenge(&f, &name).await;
    let disable = AccessChange {
        roles: None,
        disabled: Some(true),
    };
    assert!(
        f.store()
            .update_access(&name.to_lowercase(), Some(&user_id_of(&name)), &disable)
            .await
            .unwrap()
    );
    let response = send(
        &deps,
        json!({"mfa_token": token, "code": mfa.code(f.now())}),
    )
    .await;
    assert_eq!(error_of(&response), "invalid_mfa_token");
    assert_eq!(
        stored(f.store().as_ref(), &name).await.mfa.last_step,
        0,
        "no code consumed"
    );
}

#[tokio::test]
async fn bodies_are_bounded_and_need_exactly_one_code() {
    let _turn = BURST.read().await;
    let f = Fixture::local().await;
    let deps = deps_from(&f);
    let (name, mfa) = mfa_user(&f).await;
    let token = challenge(&f, &name).await;
    for body in [
        json!({"mfa_token": token}),
        json!({"code": "123456"}),
        json!({"mfa_token": token, "code": "123456", "recovery_code": mfa.recovery_codes[0]}),
        json!({"mfa_token": token, "code": "x".repeat(100)}),
        json!({"mfa_token": token, "code": 123456}),
        json!({"mfa_token": token, "code": mfa.recovery_codes[0]}),
        json!({"mfa_token": token, "code": "123456", "extra": true}),
    ] {
        let response = send(&deps, body.clone()).await;
        assert_eq!(response.status(), 400, "{body}");
        assert_eq!(error_of(&response), "validation_error", "{body}");
    }
    // None of them spent the token or a code.
    let response = send(
        &deps,
        json!({"mfa_token": token, "code": mfa.code(f.now())}),
    )
    .await;
    assert_eq!(response.status(), 200);
}

/// The failure limits that protect passwords protect codes too: with the account-wide daily
/// tier at 7, seven wrong codes (across fresh mfa_tokens, as an attacker with the password
/// would get them) spend it, and the eighth attempt is refused before its code is looked at.
/// At the default limits (100 a day account-wide, a familiar source's own 100) a million-code
/// space takes thousands of days to walk.
#[tokio::test]
async fn wrong_codes_spend_the_accounts_failure_limits() {
    let _turn = BURST.read().await;
    let f = Fixture::local()
        .await
        .with("LOGIN_USER_LONG_LIMIT", "7")
        .with("LOGIN_IP_LIMIT", "1000");
    let deps = deps_from(&f);
    let (name, mfa) = mfa_user(&f).await;
    for i in 0..7 {
        let token = challenge(&f, &name).await;
        let wrong = send(
            &deps,
            json!({"mfa_token": token, "code": format!("{:06}", i)}),
        )
        .await;
        // A wrong guess that happens to be right is no failure: skip the (one in 10^5) case.
        if wrong.status() == 200 {
            return;
        }
        assert_eq!(error_of(&wrong), "invalid_code");
    }
    let token = challenge(&f, &name).await;
    let refused = send(
        &deps,
        json!({"mfa_token": token, "code": mfa.code(f.now())}),
    )
    .await;
    assert_eq!(refused.status(), 429);
    assert_eq!(error_of(&refused), "rate_limited");
    assert_eq!(
        stored(f.store().as_ref(), &name).await.mfa.last_step,
        0,
        "nothing consumed"
    );
}

/// Throttling, a server error or a lost answer on the transaction that spends the challenge,
/// consumes the code and starts the session: 503, and nothing half done (the code is neither
/// refused for good nor consumed without a session).
#[tokio::test]
async fn a_failed_finishing_write_is_a_503_and_changes_nothing() {
    let _turn = BURST.write().await;
    let proxy = FaultProxy::start(&local_endpoint()).await;
    let f = Fixture::local().await;
    for fault in [Action::Throttle, Action::ServerError] {
        let (name, mfa) = mfa_user(&f).await;
        let token = challenge(&f, &name).await;
        proxy.plan(move |_, op| {
            if op == "TransactWriteItems" {
                fault
            } else {
                Action::Forward
            }
        });
        let deps = deps_from(&Fixture::behind(&proxy.endpoint).await);
        let code = mfa.code(f.now());
        let response = send(&deps, json!({"mfa_token": token, "code": code})).await;
        assert_eq!(response.status(), 503, "{fault:?}");
        assert_eq!(
            stored(f.store().as_ref(), &name).await.mfa.last_step,
            0,
            "{fault:?}"
        );
        assert!(
            f.store()
                .list(&user_id_of(&name), None)
                .await
                .unwrap()
                .is_empty()
        );
        let challenge_left = f
            .store()
            .challenge(&shared::mfa::parse_mfa_token(&token).unwrap().1)
            .await
            .unwrap()
            .unwrap();
        assert!(!challenge_left.used, "{fault:?}");
        // The same token and code go through once the store is back.
        proxy.always(Action::Forward);
        let retry = send(&deps, json!({"mfa_token": token, "code": code})).await;
        assert_eq!(retry.status(), 200, "{fault:?}");
    }
}

#[tokio::test]
async fn a_wrong_code_counted_on_a_failing_store_is_a_503() {
    let _turn = BURST.read().await;
    let f = Fixture::unreachable().await;
    let deps = deps_from(&f);
    let response = send(
        &deps,
        json!({"mfa_token": new_mfa_token("someone").unwrap().0, "code": "123456"}),
    )
    .await;
    assert_eq!(response.status(), 503);
}

#[tokio::test]
async fn the_sample_event_is_refused_as_an_unknown_mfa_token() {
    let _turn = BURST.read().await;
    let f = Fixture::local().await;
    let deps = deps_from(&f);
    let response = handle(&deps, Event::load("login-mfa").request()).await;
    assert_eq!(response.status(), 401);
    assert_eq!(error_of(&response), "invalid_mfa_token");
}

/// A dump of the users table alone yields no usable secret: after enrollment, no item holds
/// the TOTP secret (raw, base32 or base64) or any recovery code (as shown, bare or any case).
#[tokio::test]
async fn the_users_table_holds_no_plaintext_secret_or_recovery_code() {
    let _turn = BURST.read().await;
    let f = Fixture::local().await;
    let (name, mfa) = mfa_user(&f).await;
    use base64::Engine;
    let engines = [
        base64::engine::general_purpose::STANDARD_NO_PAD,
        base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ];
    let mut needles = vec![
        totp_rs::Secret::from(mfa.secret.clone()).to_base32(),
        mfa.secret
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
    ];
    needles.extend(engines.iter().map(|e| e.encode(&mfa.secret)));
    for code in &mfa.recovery_codes {
        needles.push(code.clone());
        needles.push(code.replace('-', ""));
    }
    let sdk = shared::aws::sdk_config().unwrap();
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let items = client
        .scan()
        .table_name(shared::testing::tables().users)
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default();
    let mine = items
        .iter()
        .find(|i| i.get("pk").and_then(|v| v.as_s().ok()) == Some(&name.to_lowercase()))
        .expect("the user's item");
    assert!(mine.contains_key("totp_secret") && mine.contains_key("recovery_codes"));
    for item in &items {
        let text = format!("{item:?}").to_lowercase();
        for needle in &needles {
            assert!(
                !text.contains(&needle.to_lowercase()),
                "a secret in the table"
            );
        }
    }
}

/// The second factor completes the login: its source becomes familiar (in the same
/// transaction), as a password login's does; the `mfa_required` answer alone marks nothing.
#[tokio::test]
async fn a_login_with_the_second_factor_makes_its_source_familiar() {
    use shared::store::CounterStore;
    let _turn = BURST.read().await;
    let f = Fixture::local().await;
    let deps = deps_from(&f);
    let (name, mfa) = mfa_user(&f).await;
    let ip = unique_ip();
    let mark = format!(
        "familiar#{}@{}",
        name.to_lowercase(),
        shared::rate_limit::source_subject(&ip)
    );
    assert_eq!(f.store().marked(&mark, f.now()).await.unwrap(), None);
    let token = challenge(&f, &name).await;
    let event = Event::load("login-mfa")
        .json(json!({"mfa_token": token, "code": mfa.code(f.now())}))
        .source_ip(&ip);
    assert_eq!(handle(&deps, event.request()).await.status(), 200);
    let tag = stored(f.store().as_ref(), &name).await.familiar_tag();
    assert_eq!(f.store().marked(&mark, f.now()).await.unwrap(), tag);
}

#[tokio::test]
async fn a_login_past_the_session_cap_ends_the_least_recently_used_session_and_a_refused_one_none()
{
    let _turn = BURST.read().await;
    let f = Fixture::local().await.with("SESSION_CAP", "3");
    let deps = deps_from(&f);
    let (name, mfa) = mfa_user(&f).await;
    let mut earlier = Vec::new();
    for ago in [30, 20, 10] {
        earlier.push(
            shared::testing::sign_in(f.store(), &name, f.now() - ago)
                .await
                .sid,
        );
    }
    let live = |f: &Fixture| {
        let store = f.store();
        let (id, now) = (user_id_of(&name), f.now());
        async move {
            let mut sids: Vec<String> = store
                .list(&id, Some(now))
                .await
                .unwrap()
                .into_iter()
                .map(|s| s.id)
                .collect();
            sids.sort();
            sids
        }
    };
    let token = challenge(&f, &name).await;

    let response = send(
        &deps,
        json!({"mfa_token": token, "code": mfa.code(f.now())}),
    )
    .await;

    assert_eq!(response.status(), 200, "{:?}", body_json(&response));
    let sid = tokens()
        .verify(body_json(&response)["access_token"].as_str().unwrap())
        .unwrap()
        .sid;
    let mut expected = vec![earlier[1].clone(), earlier[2].clone(), sid];
    expected.sort();
    assert_eq!(live(&f).await, expected, "the oldest ended, the cap kept");

    // The spent token again: refused, and nothing more ends.
    let again = send(
        &deps,
        json!({"mfa_token": token, "code": mfa.code(f.now())}),
    )
    .await;
    assert_eq!(again.status(), 401, "{:?}", body_json(&again));
    assert_eq!(live(&f).await, expected);
}
