//! The session cap (`SESSION_CAP`): a login past it ends the user's least recently used live
//! sessions, audited, and never its own; concurrent logins at the cap stay within a stated bound.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use login::Deps;
use shared::store::{Eviction, SessionStore, SessionUse};
use shared::testing::{Fixture, body_json, tokens, unique, unique_ip, user_id_of};
use tracing::field::{Field, Visit};
use tracing::{Event, Metadata, Subscriber, span};

use crate::helpers::{PASSWORD, create_user, deps_from, handle, login_event};

const CAP: usize = 3;

/// A fixture with `SESSION_CAP` = [`CAP`] and a clock the test moves forward (from a little in
/// the past, so the tokens it issues are valid now).
async fn fixture() -> (Fixture, Arc<AtomicU64>) {
    let now = Arc::new(AtomicU64::new(shared::unix_now() - 100));
    let clock = now.clone();
    let f = Fixture::local()
        .await
        .with("SESSION_CAP", &CAP.to_string())
        .with("AUDIT_LOG_USERNAMES", "true")
        .with_clock(Arc::new(move || clock.load(Ordering::SeqCst)));
    (f, now)
}

/// Logs `name` in and returns the new session's id.
async fn log_in(deps: &Deps, name: &str) -> String {
    let response = handle(deps, login_event(name, PASSWORD, &unique_ip()).request()).await;
    let body = body_json(&response);
    assert_eq!(response.status(), 200, "{body}");
    let token = body["access_token"].as_str().unwrap();
    tokens().verify(token).unwrap().sid
}

/// The user's live session ids at `now`.
async fn live(f: &Fixture, name: &str, now: u64) -> Vec<String> {
    let mut sids: Vec<String> = f
        .store()
        .list(&user_id_of(name), Some(now))
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    sids.sort();
    sids
}

fn sorted(mut sids: Vec<String>) -> Vec<String> {
    sids.sort();
    sids
}

#[tokio::test]
async fn a_login_past_the_cap_ends_the_least_recently_used_session_and_audits_it() {
    let (f, now) = fixture().await;
    let deps = deps_from(&f);
    let name = unique("capped_");
    create_user(&deps, &name).await;
    let t0 = now.load(Ordering::SeqCst);
    let mut sids = Vec::new();
    for i in 0..CAP as u64 {
        now.store(t0 + 10 * i, Ordering::SeqCst);
        sids.push(log_in(&deps, &name).await);
    }
    assert_eq!(
        live(&f, &name, t0 + 20).await,
        sorted(sids.clone()),
        "at the cap"
    );
    // The oldest session was refreshed since: the second is the least recently used now.
    assert!(f.store().advance(&sids[0], 0, t0 + 25).await.unwrap());

    now.store(t0 + 30, Ordering::SeqCst);
    let audits = Audits::capture();
    let newest = log_in(&deps, &name).await;
    let events = audits.events();
    drop(audits);

    let expected = sorted(vec![sids[0].clone(), sids[2].clone(), newest.clone()]);
    assert_eq!(
        live(&f, &name, t0 + 30).await,
        expected,
        "the cap, its own included"
    );
    let ended = f.store().get(&sids[1]).await.unwrap();
    assert!(
        ended.is_none(),
        "the least recently used one ended: {ended:?}"
    );
    let capped: Vec<_> = events
        .iter()
        .filter(|e| e.get("reason").map(String::as_str) == Some("session_cap"))
        .collect();
    assert_eq!(capped.len(), 1, "{events:?}");
    let event = capped[0];
    for (field, value) in [
        ("action", "login"),
        ("outcome", "success"),
        ("sid", sids[1].as_str()),
        ("sub", user_id_of(&name).as_str()),
        ("username", name.as_str()),
    ] {
        assert_eq!(event.get(field).map(String::as_str), Some(value), "{field}");
    }

    // Next in line: the third (last used at its login), not the refreshed first.
    now.store(t0 + 40, Ordering::SeqCst);
    let fifth = log_in(&deps, &name).await;
    let expected = sorted(vec![sids[0].clone(), newest, fifth]);
    assert_eq!(live(&f, &name, t0 + 40).await, expected);
}

#[tokio::test]
async fn below_the_cap_a_login_ends_nothing() {
    let (f, now) = fixture().await;
    let deps = deps_from(&f);
    let name = unique("uncapped_");
    create_user(&deps, &name).await;
    let t0 = now.load(Ordering::SeqCst);
    let mut sids = Vec::new();
    for i in 0..CAP as u64 {
        now.store(t0 + i, Ordering::SeqCst);
        let audits = Audits::capture();
        sids.push(log_in(&deps, &name).await);
        let events = audits.events();
        assert!(
            !events
                .iter()
                .any(|e| e.get("reason").map(String::as_str) == Some("session_cap")),
            "{events:?}"
        );
    }
    assert_eq!(live(&f, &name, t0 + CAP as u64).await, sorted(sids));
}

/// What is guaranteed when logins of one user run at once, `k` of them at the cap: none ends
/// its own session or another's started in the same second, so all `k` sessions stay live and
/// the user holds at most `cap + k - 1` live sessions (each login ends enough older ones to fit
/// beside the sessions it saw); the next login brings the user back to exactly the cap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_logins_at_the_cap_keep_their_own_sessions_and_stay_within_cap_plus_k_minus_1() {
    // More logins than the cap: each may see enough of the others' sessions to want to end
    // some of them too.
    const K: usize = 5;
    let (f, now) = fixture().await;
    let deps = Arc::new(deps_from(&f));
    let name = unique("racing_");
    create_user(&deps, &name).await;
    let t0 = now.load(Ordering::SeqCst);
    let mut old = Vec::new();
    for i in 0..CAP as u64 {
        now.store(t0 + i, Ordering::SeqCst);
        old.push(log_in(&deps, &name).await);
    }

    now.store(t0 + 10, Ordering::SeqCst);
    let logins: Vec<_> = (0..K)
        .map(|_| {
            let (deps, name) = (deps.clone(), name.clone());
            tokio::spawn(async move { log_in(&deps, &name).await })
        })
        .collect();
    let mut racing = Vec::new();
    for login in logins {
        racing.push(login.await.unwrap());
    }

    let after = live(&f, &name, t0 + 10).await;
    for sid in &racing {
        assert!(
            after.contains(sid),
            "a racing login's own session is live: {after:?}"
        );
    }
    let bound = CAP + K - 1;
    assert!(after.len() <= bound, "{} live: {after:?}", after.len());
    let old_left = old.iter().filter(|sid| after.contains(sid)).count();
    assert!(
        old_left < CAP,
        "each racing login ended at least one older session"
    );

    now.store(t0 + 20, Ordering::SeqCst);
    let next = log_in(&deps, &name).await;
    let settled = live(&f, &name, t0 + 20).await;
    assert_eq!(settled.len(), CAP, "{settled:?}");
    assert!(settled.contains(&next));
}

#[tokio::test]
async fn an_eviction_is_one_conditional_write_that_spares_a_session_used_since_it_was_read() {
    let (f, now) = fixture().await;
    let t0 = now.load(Ordering::SeqCst);
    let me = shared::testing::signed_in(f.store(), t0).await;
    let store = f.store();
    let user_id = user_id_of(&me.name);
    let seen = SessionUse {
        id: me.sid.clone(),
        created_at: t0,
        last_used_at: t0,
    };

    // Refreshed after the cap read it: no longer the least recently used, left alone.
    assert!(store.advance(&me.sid, 0, t0 + 5).await.unwrap());
    assert_eq!(
        store.evict(&user_id, &seen, t0 + 6).await.unwrap(),
        Eviction::Used
    );
    assert!(!store.get(&me.sid).await.unwrap().unwrap().revoked);
    // Another user's name on it: not theirs to end.
    let fresh = SessionUse {
        last_used_at: t0 + 5,
        ..seen.clone()
    };
    assert_eq!(
        store.evict("someone-else", &fresh, t0 + 6).await.unwrap(),
        Eviction::Gone
    );
    assert!(!store.get(&me.sid).await.unwrap().unwrap().revoked);
    // Ended meanwhile (a logout): gone, and left as it is.
    let other = shared::testing::sign_in(f.store(), &me.name, t0).await;
    store.revoke(&other.sid, t0 + 1).await.unwrap();
    let revoked = SessionUse {
        id: other.sid.clone(),
        ..seen.clone()
    };
    assert_eq!(
        store.evict(&user_id, &revoked, t0 + 6).await.unwrap(),
        Eviction::Gone
    );
    assert!(store.get(&other.sid).await.unwrap().unwrap().revoked);
    // As read: ended (its item deleted); once ended, gone.
    assert_eq!(
        store.evict(&user_id, &fresh, t0 + 6).await.unwrap(),
        Eviction::Ended
    );
    assert!(store.get(&me.sid).await.unwrap().is_none());
    assert_eq!(
        store.evict(&user_id, &fresh, t0 + 7).await.unwrap(),
        Eviction::Gone
    );
}

/// The audit events (target `audit`) written on this thread while it is held, each as its
/// fields' text.
#[derive(Clone, Default)]
struct Audits {
    events: Arc<Mutex<Vec<BTreeMap<String, String>>>>,
}

struct Capturing {
    audits: Audits,
    _guard: tracing::subscriber::DefaultGuard,
}

impl Audits {
    fn capture() -> Capturing {
        // With one dispatcher only, tracing-core caches a callsite's interest from whichever
        // thread hits it first (another test's, with none): a second, process-wide one that
        // enables nothing keeps every interest asked of every dispatcher.
        static BESIDE: OnceLock<tracing::Dispatch> = OnceLock::new();
        BESIDE.get_or_init(|| tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default()));
        let audits = Audits::default();
        let guard = tracing::subscriber::set_default(audits.clone());
        Capturing {
            audits,
            _guard: guard,
        }
    }
}

impl Capturing {
    fn events(&self) -> Vec<BTreeMap<String, String>> {
        self.audits.events.lock().unwrap().clone()
    }
}

struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl Subscriber for Audits {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target() == "audit"
    }
    fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(1)
    }
    fn record(&self, _: &span::Id, _: &span::Record<'_>) {}
    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields(BTreeMap::new());
        event.record(&mut fields);
        self.events.lock().unwrap().push(fields.0);
    }
    fn enter(&self, _: &span::Id) {}
    fn exit(&self, _: &span::Id) {}
}
