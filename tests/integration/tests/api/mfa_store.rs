//! The second factor's writes against faults: a code consumed by a write whose answer was lost
//! is not refused (the SDK's retry recognises its own write), and a login transaction whose
//! answer was lost still logs in.

use shared::store::{MfaChange, MfaProof, UserStore};
use shared::testing::faults::{Action, FaultProxy};
use shared::testing::{
    Fixture, create_user, enable_mfa, local_endpoint, stored, unique, user_id_of,
};

/// The first `op` request is applied by the server and its answer replaced by a 500.
fn lose_first(proxy: &FaultProxy, op: &'static str) {
    let mut lost = false;
    proxy.plan(move |_, seen| {
        if seen == op && !lost {
            lost = true;
            return Action::ForwardThenFail;
        }
        Action::Forward
    });
}

#[tokio::test]
async fn a_consumed_code_whose_answer_was_lost_is_not_refused() {
    let proxy = FaultProxy::start(&local_endpoint()).await;
    let f = Fixture::local().await;
    let name = unique("lost_mfa_");
    create_user(f.store().as_ref(), &name, "correct horse battery", &[]).await;
    let mfa = enable_mfa(f.store().as_ref(), &name).await;
    let behind = Fixture::behind(&proxy.endpoint).await;
    let (key, id) = (name.to_lowercase(), user_id_of(&name));
    let step = f.now() / 30;

    lose_first(&proxy, "UpdateItem");
    let consumed = behind
        .store()
        .update_mfa(&key, &id, &MfaProof::Step(step), &MfaChange::Consume)
        .await
        .unwrap();
    assert!(consumed, "the retry recognised its own write");
    assert_eq!(stored(f.store().as_ref(), &name).await.mfa.last_step, step);
    // The same step again is refused: it really was consumed, once.
    proxy.always(Action::Forward);
    let again = behind
        .store()
        .update_mfa(&key, &id, &MfaProof::Step(step), &MfaChange::Consume)
        .await
        .unwrap();
    assert!(!again);

    // A recovery code's use, and a removal, likewise.
    let hash = shared::mfa::recovery_code_hash(&id, &mfa.recovery_codes[0]).unwrap();
    lose_first(&proxy, "UpdateItem");
    let used = behind
        .store()
        .update_mfa(
            &key,
            &id,
            &MfaProof::RecoveryCode(hash.clone()),
            &MfaChange::Consume,
        )
        .await
        .unwrap();
    assert!(used);
    assert!(
        !stored(f.store().as_ref(), &name)
            .await
            .mfa
            .recovery
            .contains(&hash)
    );
    lose_first(&proxy, "UpdateItem");
    let removed = behind
        .store()
        .update_mfa(&key, &id, &MfaProof::Nothing, &MfaChange::Remove)
        .await
        .unwrap();
    assert!(removed);
    assert!(!stored(f.store().as_ref(), &name).await.mfa.enabled());
}

#[tokio::test]
async fn a_replayed_code_is_still_refused_when_the_first_use_is_someone_elses() {
    let f = Fixture::local().await;
    let name = unique("replay_");
    create_user(f.store().as_ref(), &name, "correct horse battery", &[]).await;
    enable_mfa(f.store().as_ref(), &name).await;
    let (key, id) = (name.to_lowercase(), user_id_of(&name));
    let step = f.now() / 30;
    let store = f.store();
    assert!(
        store
            .update_mfa(&key, &id, &MfaProof::Step(step), &MfaChange::Consume)
            .await
            .unwrap()
    );
    // A second, separate use of the step (not a retry of the first): refused.
    assert!(
        !store
            .update_mfa(&key, &id, &MfaProof::Step(step), &MfaChange::Consume)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn a_login_transaction_whose_answer_was_lost_still_logs_in() {
    use shared::store::{Challenge, ChallengeOutcome, ChallengeStore, SessionStore};
    let proxy = FaultProxy::start(&local_endpoint()).await;
    let f = Fixture::local().await;
    let name = unique("lost_login_");
    create_user(f.store().as_ref(), &name, "correct horse battery", &[]).await;
    enable_mfa(f.store().as_ref(), &name).await;
    let (key, id) = (name.to_lowercase(), user_id_of(&name));
    let (_, challenge_id) = shared::mfa::new_mfa_token(&key).unwrap();
    let challenge = Challenge {
        id: challenge_id,
        key: key.clone(),
        user_id: id.clone(),
        expires_at: f.now() + 300,
        wrong: 0,
        used: false,
    };
    f.store().create_challenge(&challenge).await.unwrap();
    let amr = shared::mfa::amr(shared::mfa::AMR_TOTP);
    let (session, _) = shared::testing::sessions_on(f.store())
        .prepare(&id, &name, &Default::default(), &amr, f.now())
        .unwrap();
    let behind = Fixture::behind(&proxy.endpoint).await;

    lose_first(&proxy, "TransactWriteItems");
    let outcome = behind
        .store()
        .finish_login(
            &challenge,
            5,
            f.now(),
            &MfaProof::Step(f.now() / 30),
            &session,
            None,
        )
        .await
        .unwrap();

    assert_eq!(outcome, ChallengeOutcome::Done);
    assert!(f.store().get(&session.id).await.unwrap().is_some());
    assert_eq!(
        stored(f.store().as_ref(), &name).await.mfa.last_step,
        f.now() / 30
    );
}

/// A step-up whose code-consuming write is throttled or fails on every attempt: 503, the code
/// not consumed and the password unchanged; the same code then works.
#[tokio::test]
async fn a_step_up_whose_code_write_fails_is_a_503_that_consumes_nothing() {
    use serde_json::json;
    use shared::testing::{Event, account_deps, call, signed_in_with_mfa};
    let proxy = FaultProxy::start(&local_endpoint()).await;
    let f = Fixture::local().await;
    let users = shared::testing::tables().users;
    for fault in [Action::Throttle, Action::ServerError] {
        let (me, mfa) = signed_in_with_mfa(f.store(), f.now()).await;
        let users = users.clone();
        proxy.plan_calls(move |_, op, calls| {
            if op == "UpdateItem" && calls.iter().any(|c| c.table == users) {
                fault
            } else {
                Action::Forward
            }
        });
        let deps = account_deps(&Fixture::behind(&proxy.endpoint).await);
        let body = json!({
            "current_password": "correct horse battery",
            "new_password": "an entirely new passphrase",
            "code": mfa.code(f.now()),
        });
        let change = || {
            Event::load("change-password")
                .header("authorization", Some(&me.bearer))
                .json(body.clone())
                .request()
        };
        let response = call(change_password::handle, &deps, change()).await;
        assert_eq!(response.status(), 503, "{fault:?}");
        let user = stored(f.store().as_ref(), &me.name).await;
        assert_eq!(user.mfa.last_step, 0, "{fault:?}: the code is not consumed");
        let before = user.password_hash.clone();
        proxy.always(Action::Forward);
        let retried = call(change_password::handle, &deps, change()).await;
        assert_eq!(retried.status(), 204, "{fault:?}: the same code works");
        assert_ne!(
            stored(f.store().as_ref(), &me.name).await.password_hash,
            before
        );
    }
}
