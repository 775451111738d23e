//! Which links work: a newer link, a password change and the link's lifetime end one; twenty
//! concurrent uses of one give one reset; a failed revocation leaves it working for a retry.

use std::sync::Arc;

use shared::store::UserStore;
use shared::testing::faults::{Action, FaultProxy};
use shared::testing::{Fixture, body_json, local_endpoint, stored, tables, user_id_of};

use crate::helpers::{
    NEW_PASSWORD, OLD_PASSWORD, deps_from, handle, link, password_is, reset, with_verified_address,
};

#[tokio::test]
async fn a_newer_link_supersedes_an_older_one() {
    let f = Fixture::local().await;
    let deps = deps_from(&f).await;
    let (name, _) = with_verified_address(&f).await;
    let older = link(&f, &name, 1800).await;
    let newer = link(&f, &name, 1800).await;

    let refused = handle(&deps, reset(&older, NEW_PASSWORD)).await;

    assert_eq!(refused.status(), 400);
    assert_eq!(body_json(&refused)["error"], "invalid_token");
    assert_eq!(deps.passwords.computations(), 0, "refused before hashing");
    let response = handle(&deps, reset(&newer, NEW_PASSWORD)).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_link_expires_with_its_lifetime() {
    let f = Fixture::local().await;
    let (name, _) = with_verified_address(&f).await;
    let token = link(&f, &name, 1800).await;
    let expired = deps_from(&f.clone().at(f.now() + 1800)).await;

    let response = handle(&expired, reset(&token, NEW_PASSWORD)).await;

    assert_eq!(response.status(), 400);
    assert_eq!(body_json(&response)["error"], "invalid_token");
    assert_eq!(
        expired.passwords.computations(),
        0,
        "refused before hashing"
    );
    let in_time = deps_from(&f.clone().at(f.now() + 1799)).await;
    let response = handle(&in_time, reset(&token, NEW_PASSWORD)).await;
    assert_eq!(response.status(), 200, "a second earlier it worked");
}

#[tokio::test]
async fn a_password_change_ends_the_link() {
    let f = Fixture::local().await;
    let deps = deps_from(&f).await;
    let (name, _) = with_verified_address(&f).await;
    let token = link(&f, &name, 1800).await;
    let old_hash = stored(f.store().as_ref(), &name).await.password_hash;
    let changed = f
        .store()
        .change_password(
            &name.to_lowercase(),
            &user_id_of(&name),
            &old_hash,
            "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
            "a-session",
        )
        .await
        .unwrap();
    assert!(changed);

    let response = handle(&deps, reset(&token, NEW_PASSWORD)).await;

    assert_eq!(response.status(), 400);
    assert_eq!(body_json(&response)["error"], "invalid_token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_uses_of_one_link_give_exactly_one_reset() {
    let f = Fixture::local().await;
    let deps = Arc::new(deps_from(&f).await);
    let (name, _) = with_verified_address(&f).await;
    let token = link(&f, &name, 1800).await;

    let tasks: Vec<_> = (0..20)
        .map(|n| {
            let (deps, token) = (deps.clone(), token.clone());
            tokio::spawn(async move {
                let password = format!("{NEW_PASSWORD} number {n}");
                let response = handle(&deps, reset(&token, &password)).await;
                (response.status().as_u16(), body_json(&response), password)
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }

    let winners: Vec<_> = answers.iter().filter(|(s, _, _)| *s == 200).collect();
    assert_eq!(winners.len(), 1, "{answers:?}");
    for (status, body, _) in answers.iter().filter(|(s, _, _)| *s != 200) {
        assert_eq!((*status, &body["error"]), (400, &"invalid_token".into()));
    }
    assert!(
        password_is(&deps, &f, &name, &winners[0].2).await,
        "the winner's password"
    );
}

#[tokio::test]
async fn a_failed_revocation_is_503_and_leaves_the_link_working() {
    let proxy = FaultProxy::start(&local_endpoint()).await;
    let f = Fixture::behind(&proxy.endpoint).await;
    let deps = deps_from(&f).await;
    let (name, _) = with_verified_address(&f).await;
    let token = link(&f, &name, 1800).await;
    let sessions = tables().sessions;
    proxy.plan_calls(move |_, operation, calls| {
        if operation == "Query" && calls.iter().any(|c| c.table == sessions) {
            Action::ServerError
        } else {
            Action::Forward
        }
    });

    let failed = handle(&deps, reset(&token, NEW_PASSWORD)).await;

    assert_eq!(failed.status(), 503);
    assert!(
        password_is(&deps, &f, &name, OLD_PASSWORD).await,
        "nothing changed"
    );
    proxy.always(Action::Forward);
    let retried = handle(&deps, reset(&token, NEW_PASSWORD)).await;
    assert_eq!(retried.status(), 200, "the link still works");
    assert!(password_is(&deps, &f, &name, NEW_PASSWORD).await);
}

#[tokio::test]
async fn a_user_read_failing_is_503_and_leaves_the_link_working() {
    let proxy = FaultProxy::start(&local_endpoint()).await;
    let f = Fixture::behind(&proxy.endpoint).await;
    let deps = deps_from(&f).await;
    let (name, _) = with_verified_address(&f).await;
    let token = link(&f, &name, 1800).await;
    proxy.fail_reads_of(&tables().users);

    let failed = handle(&deps, reset(&token, NEW_PASSWORD)).await;

    assert_eq!(failed.status(), 503);
    proxy.always(Action::Forward);
    assert_eq!(
        handle(&deps, reset(&token, NEW_PASSWORD)).await.status(),
        200
    );
    assert!(
        f.store()
            .find(&name.to_lowercase())
            .await
            .unwrap()
            .is_some()
    );
}
