//! Login limits that bound guessing and resist lockout (`shared::lockout`), against the local
//! server: account-wide tiers for unfamiliar sources, a limit of its own for a familiar one.

use std::sync::Arc;

use login::Deps;
use shared::store::UserStore;
use shared::testing::{Fixture, body_json, create_user, unique, unique_ip};

use crate::helpers::{PASSWORD, deps_from, handle, login_event};

/// Login with these limits; the per-IP limit out of the way unless a test sets it.
async fn deps_with(vars: &[(&str, &str)]) -> (Fixture, Deps) {
    let mut f = Fixture::local().await.with("LOGIN_IP_LIMIT", "1000");
    for (name, value) in vars {
        f = f.with(name, value);
    }
    let deps = deps_from(&f);
    (f, deps)
}

async fn attempt(
    deps: &Deps,
    name: &str,
    password: &str,
    ip: &str,
) -> lambda_http::Response<lambda_http::Body> {
    handle(deps, login_event(name, password, ip).request()).await
}

async fn user(f: &Fixture) -> String {
    let name = unique("owner_");
    create_user(f.store().as_ref(), &name, PASSWORD, &[]).await;
    name
}

fn policy(response: &lambda_http::Response<lambda_http::Body>) -> String {
    response.headers()["ratelimit-policy"]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn an_attacker_elsewhere_cannot_lock_the_owner_out_of_their_familiar_source() {
    let (f, deps) = deps_with(&[("LOGIN_USER_LIMIT", "5")]).await;
    let owner = user(&f).await;
    let home = unique_ip();
    assert_eq!(
        attempt(&deps, &owner, PASSWORD, &home).await.status(),
        200,
        "home becomes familiar"
    );

    for i in 0..5 {
        let guess = attempt(&deps, &owner, &format!("guess {i}"), &unique_ip()).await;
        assert_eq!(guess.status(), 401, "guess {i}");
    }
    let blocked = attempt(&deps, &owner, PASSWORD, &unique_ip()).await;
    assert_eq!(blocked.status(), 429, "the account-wide tier is spent");
    assert_eq!(policy(&blocked), "\"login-user\";q=5;w=60");

    assert_eq!(
        attempt(&deps, &owner, PASSWORD, &home).await.status(),
        200,
        "the owner at home"
    );
}

#[tokio::test]
async fn the_owners_typos_at_home_have_their_own_limit_and_spend_no_account_budget() {
    let (f, deps) = deps_with(&[("LOGIN_USER_LIMIT", "5"), ("LOGIN_USER_SOURCE_LIMIT", "3")]).await;
    let owner = user(&f).await;
    let home = unique_ip();
    assert_eq!(attempt(&deps, &owner, PASSWORD, &home).await.status(), 200);

    for i in 0..3 {
        assert_eq!(
            attempt(&deps, &owner, &format!("typo {i}"), &home)
                .await
                .status(),
            401
        );
    }
    let fourth = attempt(&deps, &owner, "typo 4", &home).await;
    assert_eq!(fourth.status(), 429);
    assert_eq!(policy(&fourth), "\"login-user-source\";q=3;w=60");
    assert_eq!(body_json(&fourth)["error"], "rate_limited");

    // Elsewhere the account-wide budget is whole: five failures, then the sixth is refused.
    for i in 0..5 {
        let guess = attempt(&deps, &owner, &format!("guess {i}"), &unique_ip()).await;
        assert_eq!(
            guess.status(),
            401,
            "guess {i}: the typos did not count here"
        );
    }
    assert_eq!(
        attempt(&deps, &owner, "guess 6", &unique_ip())
            .await
            .status(),
        429
    );
}

#[tokio::test]
async fn a_familiar_ipv6_source_is_its_whole_64() {
    let (f, deps) = deps_with(&[("LOGIN_USER_LIMIT", "2")]).await;
    let owner = user(&f).await;
    let b = uuid::Uuid::new_v4().into_bytes();
    let net = format!(
        "2001:db8:{:x}:{:x}",
        u16::from_be_bytes([b[0], b[1]]),
        u16::from_be_bytes([b[2], b[3]])
    );
    assert_eq!(
        attempt(&deps, &owner, PASSWORD, &format!("{net}::1"))
            .await
            .status(),
        200
    );
    for i in 0..2 {
        attempt(&deps, &owner, &format!("guess {i}"), &unique_ip()).await;
    }
    assert_eq!(
        attempt(&deps, &owner, PASSWORD, &unique_ip())
            .await
            .status(),
        429,
        "spent elsewhere"
    );
    let same_network = format!("{net}:abcd:ef01:2345:6789");
    assert_eq!(
        attempt(&deps, &owner, PASSWORD, &same_network)
            .await
            .status(),
        200,
        "another address of the /64"
    );
}

#[tokio::test]
async fn the_longer_tiers_bound_failures_from_unfamiliar_sources() {
    for (vars, q, w) in [
        (
            vec![
                ("LOGIN_USER_LIMIT", "1000"),
                ("LOGIN_USER_MEDIUM_LIMIT", "3"),
            ],
            3,
            900,
        ),
        (
            vec![
                ("LOGIN_USER_LIMIT", "1000"),
                ("LOGIN_USER_MEDIUM_LIMIT", "1000"),
                ("LOGIN_USER_LONG_LIMIT", "4"),
            ],
            4,
            86_400,
        ),
    ] {
        let (f, deps) = deps_with(&vars).await;
        let owner = user(&f).await;
        for i in 0..q {
            assert_eq!(
                attempt(&deps, &owner, &format!("guess {i}"), &unique_ip())
                    .await
                    .status(),
                401
            );
        }
        let refused = attempt(&deps, &owner, "one more", &unique_ip()).await;
        assert_eq!(refused.status(), 429, "tier of {w} s");
        assert_eq!(policy(&refused), format!("\"login-user\";q={q};w={w}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_failures_admit_exactly_each_tiers_limit() {
    for (vars, familiar, limit) in [
        (vec![("LOGIN_USER_LIMIT", "5")], false, 5),
        (
            vec![
                ("LOGIN_USER_LIMIT", "1000"),
                ("LOGIN_USER_MEDIUM_LIMIT", "7"),
            ],
            false,
            7,
        ),
        (
            vec![("LOGIN_USER_LIMIT", "1000"), ("LOGIN_USER_LONG_LIMIT", "6")],
            false,
            6,
        ),
        (vec![("LOGIN_USER_SOURCE_LIMIT", "4")], true, 4),
    ] {
        let (f, deps) = deps_with(&vars).await;
        let deps = Arc::new(deps);
        let owner = user(&f).await;
        let home = unique_ip();
        if familiar {
            assert_eq!(attempt(&deps, &owner, PASSWORD, &home).await.status(), 200);
        }
        let tries = (0..20).map(|i| {
            let (deps, owner) = (deps.clone(), owner.clone());
            let ip = if familiar { home.clone() } else { unique_ip() };
            tokio::spawn(async move {
                attempt(&deps, &owner, &format!("guess {i}"), &ip)
                    .await
                    .status()
                    .as_u16()
            })
        });
        let mut statuses = Vec::new();
        for t in tries {
            statuses.push(t.await.unwrap());
        }
        let checked = statuses.iter().filter(|s| **s == 401).count();
        assert_eq!(checked, limit, "{vars:?}: {statuses:?}");
        assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 20 - limit);
    }
}

/// Failures elsewhere until the account-wide tier (`LOGIN_USER_LIMIT`, set to 2 by the tests
/// below) is spent: only a familiar source gets in after that.
async fn spend_the_account_tiers_elsewhere(deps: &Deps, owner: &str) {
    for i in 0..2 {
        let guess = attempt(deps, owner, &format!("guess {i}"), &unique_ip()).await;
        assert_eq!(guess.status(), 401, "guess {i}");
    }
    assert_eq!(
        attempt(deps, owner, PASSWORD, &unique_ip()).await.status(),
        429,
        "spent elsewhere"
    );
}

#[tokio::test]
async fn a_familiar_source_is_bounded_per_day_too() {
    let now = Arc::new(std::sync::atomic::AtomicU64::new(shared::unix_now()));
    let clock = {
        let now = now.clone();
        Arc::new(move || now.load(std::sync::atomic::Ordering::SeqCst))
    };
    let mut f = Fixture::local().await.with_clock(clock);
    for (name, value) in [
        ("LOGIN_IP_LIMIT", "1000"),
        ("LOGIN_USER_SOURCE_LIMIT", "3"),
        ("LOGIN_USER_SOURCE_DAY_LIMIT", "5"),
    ] {
        f = f.with(name, value);
    }
    let deps = deps_from(&f);
    let owner = user(&f).await;
    let home = unique_ip();
    assert_eq!(attempt(&deps, &owner, PASSWORD, &home).await.status(), 200);

    // Three typos a minute from home, then the next minute's: five in the day in all.
    let mut statuses = Vec::new();
    for minute in 0..3u64 {
        now.store(f.now() + minute * 61, std::sync::atomic::Ordering::SeqCst);
        for i in 0..3 {
            let typo = attempt(&deps, &owner, &format!("typo {minute}.{i}"), &home).await;
            statuses.push((minute, typo.status().as_u16(), policy_or_none(&typo)));
        }
    }
    let failures = statuses.iter().filter(|(_, s, _)| *s == 401).count();
    assert_eq!(failures, 5, "the day's budget and no more: {statuses:?}");
    let last = statuses.last().unwrap();
    assert_eq!(
        (last.1, last.2.as_str()),
        (429, "\"login-user-source\";q=5;w=86400"),
        "{statuses:?}"
    );
    // Even the right password waits for the day's window now, from home as from anywhere.
    now.store(f.now() + 4 * 61, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(attempt(&deps, &owner, PASSWORD, &home).await.status(), 429);
}

fn policy_or_none(response: &lambda_http::Response<lambda_http::Body>) -> String {
    response
        .headers()
        .get("ratelimit-policy")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_re_registered_name_inherits_no_familiar_source() {
    let (f, deps) = deps_with(&[("LOGIN_USER_LIMIT", "2")]).await;
    let owner = user(&f).await;
    let home = unique_ip();
    assert_eq!(attempt(&deps, &owner, PASSWORD, &home).await.status(), 200);
    // The account is deleted and the name registered again: another user, another id.
    let key = owner.to_lowercase();
    let old = f.store().find(&key).await.unwrap().unwrap();
    UserStore::delete_user(f.store().as_ref(), &key, old.user_id.as_deref().unwrap())
        .await
        .unwrap();
    UserStore::create(
        f.store().as_ref(),
        &shared::store::NewUser {
            key: key.clone(),
            user_id: uuid::Uuid::new_v4().to_string(),
            username: owner.clone(),
            password_hash: old.password_hash.clone(),
            created_at: f.now(),
            pending_email: None,
        },
    )
    .await
    .unwrap();
    let new = f.store().find(&key).await.unwrap().unwrap();
    assert_ne!(new.user_id, old.user_id);

    spend_the_account_tiers_elsewhere(&deps, &owner).await;

    assert_eq!(
        attempt(&deps, &owner, PASSWORD, &home).await.status(),
        429,
        "the old owner's home is a stranger to the new one"
    );
}

#[tokio::test]
async fn a_password_change_logging_out_everywhere_and_a_disable_forget_familiar_sources() {
    for case in [
        "password change",
        "log out everywhere",
        "disable, then enable",
    ] {
        let (f, deps) = deps_with(&[("LOGIN_USER_LIMIT", "2")]).await;
        let owner = user(&f).await;
        let home = unique_ip();
        assert_eq!(attempt(&deps, &owner, PASSWORD, &home).await.status(), 200);
        let key = owner.to_lowercase();
        let stored = f.store().find(&key).await.unwrap().unwrap();
        let id = stored.user_id.clone().unwrap();
        let store = f.store();
        match case {
            // The same hash again: the change itself is what forgets.
            "password change" => assert!(
                store
                    .change_password(&key, &id, &stored.password_hash, &stored.password_hash, "s")
                    .await
                    .unwrap()
            ),
            "log out everywhere" => store.forget_sources(&key, &id).await.unwrap(),
            _ => {
                shared::testing::set_disabled(store.as_ref(), &key, true).await;
                shared::testing::set_disabled(store.as_ref(), &key, false).await;
            }
        }

        spend_the_account_tiers_elsewhere(&deps, &owner).await;

        assert_eq!(
            attempt(&deps, &owner, PASSWORD, &home).await.status(),
            429,
            "{case}: home is a stranger again"
        );
    }
}
