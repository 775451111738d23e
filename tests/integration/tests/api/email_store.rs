//! The contact address's store writes (issue 27's groundwork) against the local server: a
//! verification link works once, only while current and unexpired; an address belongs to one
//! user once verified, also when two verify it at once; twenty uses of one link give one
//! verification; a lost answer is recognised. And mail through the local server's SES v2.

use std::sync::Arc;

use shared::store::{PendingEmail, UserStore, VerifyOutcome};
use shared::testing::faults::{Action, FaultProxy};
use shared::testing::{
    Fixture, create_user, local_endpoint, local_mailer, mails_to, stored, unique, user_id_of,
};

async fn user(f: &Fixture) -> String {
    let name = unique("mail_");
    create_user(f.store().as_ref(), &name, "correct horse battery", &[]).await;
    name
}

/// Gives `name` the pending address `address` and a link valid for `ttl` seconds: its token.
async fn pending(f: &Fixture, name: &str, address: &str, ttl: u64) -> String {
    let key = name.to_lowercase();
    let (token, hash) = shared::keyed_token::new(&key).unwrap();
    let written = f
        .store()
        .set_pending_email(
            &key,
            &user_id_of(name),
            &PendingEmail {
                address: address.to_owned(),
                token: hash,
                expires_at: f.now() + ttl,
            },
        )
        .await
        .unwrap();
    assert!(written);
    token
}

async fn verify(f: &Fixture, token: &str, now: u64) -> VerifyOutcome {
    let (key, hash) = shared::keyed_token::parse(token, 200).unwrap();
    let user = f.store().find(&key).await.unwrap().unwrap();
    f.store()
        .verify_email(&key, &user, &hash, now)
        .await
        .unwrap()
}

fn address() -> String {
    format!("{}@Example.com", unique("Someone."))
}

#[tokio::test]
async fn a_link_verifies_its_address_once_while_current_and_unexpired() {
    let f = Fixture::local().await;
    let name = user(&f).await;
    let first = address();
    let token = pending(&f, &name, &first, 600).await;
    assert_eq!(
        verify(&f, &token, f.now()).await,
        VerifyOutcome::Verified(first.clone())
    );
    let email = stored(f.store().as_ref(), &name).await.email;
    assert_eq!(email.verified.as_deref(), Some(first.as_str()), "as typed");
    assert_eq!((email.pending, email.token), (None, None));
    assert_eq!(
        f.store().email_owner(&first.to_uppercase()).await.unwrap(),
        Some(name.to_lowercase()),
        "claimed, compared case-insensitively"
    );
    // Used.
    assert_eq!(verify(&f, &token, f.now()).await, VerifyOutcome::Invalid);

    // Superseded by a newer link, and expired.
    let second = address();
    let older = pending(&f, &name, &second, 600).await;
    let newer = pending(&f, &name, &second, 600).await;
    assert_eq!(verify(&f, &older, f.now()).await, VerifyOutcome::Invalid);
    assert_eq!(
        verify(&f, &newer, f.now() + 600).await,
        VerifyOutcome::Invalid
    );
    assert_eq!(
        stored(f.store().as_ref(), &name)
            .await
            .email
            .verified
            .as_deref(),
        Some(first.as_str()),
        "the old address stays in force"
    );
    // The newer one in time: the address changes, and the old one is released.
    assert_eq!(
        verify(&f, &newer, f.now()).await,
        VerifyOutcome::Verified(second.clone())
    );
    assert_eq!(f.store().email_owner(&first).await.unwrap(), None);
    assert_eq!(
        f.store().email_owner(&second).await.unwrap(),
        Some(name.to_lowercase())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_address_belongs_to_the_first_user_who_verifies_it() {
    let f = Fixture::local().await;
    let shared_address = address();
    let (a, b) = (user(&f).await, user(&f).await);
    let (ta, tb) = (
        pending(&f, &a, &shared_address, 600).await,
        pending(&f, &b, &shared_address.to_lowercase(), 600).await,
    );
    let (ra, rb) = tokio::join!(verify(&f, &ta, f.now()), verify(&f, &tb, f.now()));
    let mut outcomes = [ra, rb]
        .iter()
        .map(|o| match o {
            VerifyOutcome::Verified(_) => "verified",
            VerifyOutcome::Taken => "taken",
            VerifyOutcome::Invalid => "invalid",
        })
        .collect::<Vec<_>>();
    outcomes.sort();
    assert_eq!(outcomes, ["taken", "verified"]);
    let owner = f
        .store()
        .email_owner(&shared_address)
        .await
        .unwrap()
        .unwrap();
    let loser = if owner == a.to_lowercase() { &b } else { &a };
    let email = stored(f.store().as_ref(), loser).await.email;
    assert_eq!(email.verified, None, "nothing written for the second");
    assert!(email.pending.is_some(), "its link is not spent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_uses_of_one_link_verify_once() {
    let f = Arc::new(Fixture::local().await);
    let name = user(&f).await;
    let token = pending(&f, &name, &address(), 600).await;
    let outcomes = futures_util::future::join_all((0..20).map(|_| {
        let (f, token) = (f.clone(), token.clone());
        async move { verify(&f, &token, f.now()).await }
    }))
    .await;
    let verified = outcomes
        .iter()
        .filter(|o| matches!(o, VerifyOutcome::Verified(_)))
        .count();
    assert_eq!(verified, 1, "{outcomes:?}");
}

#[tokio::test]
async fn a_verification_whose_answer_was_lost_is_recognised() {
    let proxy = FaultProxy::start(&local_endpoint()).await;
    let f = Fixture::local().await;
    let name = user(&f).await;
    let wanted = address();
    let token = pending(&f, &name, &wanted, 600).await;
    let mut lost = false;
    proxy.plan(move |_, op| {
        if op == "TransactWriteItems" && !lost {
            lost = true;
            return Action::ForwardThenFail;
        }
        Action::Forward
    });
    let behind = Fixture::behind(&proxy.endpoint).await;
    let (key, hash) = shared::keyed_token::parse(&token, 200).unwrap();
    let user = f.store().find(&key).await.unwrap().unwrap();
    let outcome = behind
        .store()
        .verify_email(&key, &user, &hash, f.now())
        .await
        .unwrap();
    assert_eq!(outcome, VerifyOutcome::Verified(wanted));
}

#[tokio::test]
async fn a_mail_sent_through_ses_is_read_back_from_the_local_server() {
    let mailer = local_mailer().await;
    let to = address();
    let mail = shared::mail::Mail {
        to: to.clone(),
        subject: "Confirm your address".into(),
        text: "Open https://auth.example.com/verify-email#token=abc to confirm.".into(),
    };
    mailer.send(&mail).await.unwrap();
    let sent = mails_to(&to).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].subject, "Confirm your address");
    assert!(sent[0].body.contains("#token=abc"), "{:?}", sent[0].body);
    assert!(
        !format!("{mail:?}").contains("token"),
        "a mail's Debug shows no link"
    );
}

#[tokio::test]
async fn a_deleted_account_gives_its_address_back() {
    let f = Fixture::local().await;
    let name = user(&f).await;
    let address = address();
    let token = pending(&f, &name, &address, 600).await;
    assert_eq!(
        verify(&f, &token, f.now()).await,
        VerifyOutcome::Verified(address.clone())
    );
    assert!(f.store().email_owner(&address).await.unwrap().is_some());

    f.store()
        .delete_user(&name.to_lowercase(), &user_id_of(&name))
        .await
        .unwrap();

    assert_eq!(f.store().email_owner(&address).await.unwrap(), None);
    // Another account can verify it now.
    let other = user(&f).await;
    let token = pending(&f, &other, &address, 600).await;
    assert_eq!(
        verify(&f, &token, f.now()).await,
        VerifyOutcome::Verified(address)
    );
}

#[tokio::test]
async fn a_reset_link_mailed_to_the_old_address_dies_when_a_new_one_is_verified() {
    // Whoever holds the old mailbox (a recycled address, a former employer's domain) must not
    // be able to reset the password once the user has moved to a new address.
    let f = Fixture::local().await;
    let name = user(&f).await;
    let key = name.to_lowercase();
    let old = pending(&f, &name, &address(), 600).await;
    assert!(matches!(
        verify(&f, &old, f.now()).await,
        VerifyOutcome::Verified(_)
    ));
    let (_, reset) = shared::keyed_token::new(&key).unwrap();
    assert!(
        f.store()
            .set_reset(&key, &user_id_of(&name), &reset, f.now() + 600)
            .await
            .unwrap()
    );
    let new = pending(&f, &name, &address(), 600).await;

    assert!(matches!(
        verify(&f, &new, f.now()).await,
        VerifyOutcome::Verified(_)
    ));

    let used = f
        .store()
        .reset_password(&key, &reset, f.now(), "$argon2id$not-a-real-hash")
        .await
        .unwrap();
    assert!(!used, "the old address's reset link still worked");
    assert!(
        stored(f.store().as_ref(), &name)
            .await
            .email
            .reset_token
            .is_none()
    );
}
