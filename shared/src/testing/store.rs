//! The store-backed helpers (feature `test-util`: DynamoDB, aws-lc): the [`Fixture`] a function
//! with a store is assembled from, the local, unreachable and fault-injected stores, and users
//! and sessions written straight to a store (their second factor: `super::mfa`).

use std::sync::Arc;

use super::{Event, access_token_with_amr, key_set, mfa_key, test_vars, unique, user_id_of};
use crate::config::{Table, Tables, Vars};
use crate::keys::KeySet;
use crate::store::dynamo::DynamoStore;
use crate::{Clock, unix_now};

/// The parts a function is assembled from in a test, built the way `main` builds them:
/// settings read from a set of variables (test values: cheap argon2, generous limits, the test
/// issuer), a store on the local server (or an unreachable one, or one behind the fault proxy),
/// the test key set and a clock pinned at the fixture's creation.
///
/// ```ignore
/// let f = Fixture::local().await.with("LOGIN_USER_LIMIT", "5");
/// let deps = login::Deps::build(login::Settings::from_vars(f.vars())?, f.store(), f.keys(), f.clock())?;
/// ```
#[derive(Clone)]
pub struct Fixture {
    vars: Vars,
    store: Arc<DynamoStore>,
    keys: Arc<KeySet>,
    clock: Clock,
    now: u64,
}

impl Fixture {
    fn new(store: DynamoStore) -> Self {
        Self::with_store(Arc::new(store))
    }

    fn with_store(store: Arc<DynamoStore>) -> Self {
        let now = unix_now();
        Self {
            vars: test_vars(),
            store,
            keys: key_set(),
            clock: Arc::new(move || now),
            now,
        }
    }

    /// On the local server started by `make test`.
    pub async fn local() -> Self {
        Self::new(local_store().await)
    }

    /// On a store whose endpoint refuses connections, like an unreachable DynamoDB.
    pub async fn unreachable() -> Self {
        Self::new(unreachable_store().await)
    }

    /// For functions that use no table: the store is the unreachable one, so a handler that
    /// touched it anyway would fail loudly.
    pub async fn offline() -> Self {
        Self::unreachable().await
    }

    /// On the local tables through `endpoint` (a [`super::faults::FaultProxy`]).
    pub async fn behind(endpoint: &str) -> Self {
        Self::new(store_at(endpoint).await)
    }

    /// Sets one variable (a limit, a window, `AUDIT_LOG_USERNAMES`, ...).
    pub fn with(mut self, name: &str, value: &str) -> Self {
        self.vars.set(name, value);
        self
    }

    /// Pins the clock at `now` instead.
    pub fn at(mut self, now: u64) -> Self {
        self.now = now;
        self.clock = Arc::new(move || now);
        self
    }

    /// Uses this clock instead (for tests that move time).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.now = clock();
        self.clock = clock;
        self
    }

    /// The variables to read settings from.
    pub fn vars(&self) -> &Vars {
        &self.vars
    }

    /// The store, shared by every function assembled from this fixture.
    pub fn store(&self) -> Arc<DynamoStore> {
        self.store.clone()
    }

    /// The test key set (with its signing key and refresh secret).
    pub fn keys(&self) -> Arc<KeySet> {
        self.keys.clone()
    }

    /// The clock.
    pub fn clock(&self) -> Clock {
        self.clock.clone()
    }

    /// What the clock said when the fixture was made (or was pinned).
    pub fn now(&self) -> u64 {
        self.now
    }

    /// The test-only key that seals TOTP secrets.
    pub fn mfa_key(&self) -> Arc<crate::mfa::MfaKey> {
        mfa_key()
    }
}

/// The table names `make test` created on the local DynamoDB-compatible server.
pub fn tables() -> Tables {
    Tables::from_vars(
        &Vars::env(),
        &[Table::Users, Table::RateLimits, Table::Sessions],
    )
    .unwrap_or_else(|e| {
        panic!("{e}: run the integration tests through `make test`, which starts the local server")
    })
}

/// A store on the local server started by `make test`.
pub async fn local_store() -> DynamoStore {
    assert!(
        std::env::var("AWS_ENDPOINT_URL_DYNAMODB").is_ok(),
        "AWS_ENDPOINT_URL_DYNAMODB is not set: run the tests through `make test`"
    );
    let sdk = crate::aws::sdk_config().unwrap();
    DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), tables())
}

/// A store whose endpoint refuses connections: every call fails like an unreachable DynamoDB.
pub async fn unreachable_store() -> DynamoStore {
    let closed_port = {
        let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        socket.local_addr().unwrap().port()
    };
    let sdk = crate::aws::sdk_config().unwrap();
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .endpoint_url(format!("http://127.0.0.1:{closed_port}"))
        .build();
    DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(config), tables())
}

/// A store on the local tables through `endpoint` (a [`super::faults::FaultProxy`]), with timeouts
/// short enough that a hanging server fails a test in about a second, not three.
pub async fn store_at(endpoint: &str) -> DynamoStore {
    use aws_sdk_dynamodb::config::retry::RetryConfig;
    use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
    let sdk = crate::aws::sdk_config().unwrap();
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .endpoint_url(endpoint)
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(std::time::Duration::from_millis(5)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(std::time::Duration::from_millis(300))
                .operation_timeout(std::time::Duration::from_secs(1))
                .build(),
        )
        .build();
    DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(config), tables())
}

/// The local server's endpoint (`AWS_ENDPOINT_URL_DYNAMODB`, set by `make test`).
pub fn local_endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL_DYNAMODB")
        .expect("AWS_ENDPOINT_URL_DYNAMODB: run through `make test`")
}

/// A user written straight to `store` with `password` hashed at the cheapest argon2 cost, its
/// id from [`user_id_of`] and these explicit roles.
pub async fn create_user(
    store: &dyn crate::store::UserStore,
    username: &str,
    password: &str,
    roles: &[&str],
) {
    use argon2::password_hash::PasswordHasher;
    let params = argon2::Params::new(64, 1, 1, None).unwrap();
    let hash = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password(password.as_bytes())
        .unwrap()
        .to_string();
    store
        .create(&crate::store::NewUser {
            key: username.to_lowercase(),
            user_id: user_id_of(username),
            username: username.to_owned(),
            password_hash: hash,
            created_at: unix_now(),
            pending_email: None,
        })
        .await
        .unwrap();
    if !roles.is_empty() {
        set_roles(store, username, roles).await;
    }
}

/// An admin (a user created on `store` with the `admin` role), signed in for real (the admin
/// routes check the caller's session and current roles), and an access token of that session,
/// scope `admin profile`: (username, `Authorization` header value).
pub async fn admin_caller(store: Arc<dyn crate::store::Store>) -> (String, String) {
    let name = unique("admin_");
    create_user(store.as_ref(), &name, "correct horse battery", &["admin"]).await;
    let session = sign_in_with_amr(store, &name, unix_now(), &["admin"], &["pwd"]).await;
    (name, session.bearer)
}

/// A new user on `users` and a session of theirs: (username, session id, refresh token).
pub async fn user_with_session(
    sessions: &crate::refresh::Sessions,
    users: &dyn crate::store::UserStore,
    now: u64,
) -> (String, String, String) {
    let name = unique("user_");
    create_user(users, &name, "correct horse battery", &[]).await;
    let (sid, token) = sessions
        .start(&user_id_of(&name), &name, now)
        .await
        .unwrap();
    (name, sid, token)
}

/// Sends one account request twice for a new user (see [`signed_in`]), on the local tables
/// behind a fault proxy with `LOGIN_USER_LIMIT` at 1: first while every read of the users table
/// fails, then with the store back. The two responses: a route that keeps the failure slot it
/// took before the failed read answers the second one `429`.
pub async fn after_a_failed_user_read(
    send: impl AsyncFn(&crate::account::Deps, &SignedIn) -> lambda_http::Response<lambda_http::Body>,
) -> (
    lambda_http::Response<lambda_http::Body>,
    lambda_http::Response<lambda_http::Body>,
) {
    use super::faults::{Action, FaultProxy};
    let proxy = FaultProxy::start(&local_endpoint()).await;
    let f = Fixture::behind(&proxy.endpoint)
        .await
        .with("LOGIN_USER_LIMIT", "1");
    let deps = account_deps(&f);
    let me = signed_in(f.store(), f.now()).await;
    proxy.fail_reads_of(&tables().users);
    let failed = send(&deps, &me).await;
    proxy.always(Action::Forward);
    (failed, send(&deps, &me).await)
}

/// The account functions' dependencies (`POST /password`, `DELETE /account`, the session
/// routes), assembled as their `main` does, on the fixture's store, keys and clock.
pub fn account_deps(f: &Fixture) -> crate::account::Deps {
    let settings = crate::account::Settings::from_vars(f.vars()).unwrap();
    crate::account::Deps::build(settings, f.store(), f.keys(), f.clock())
        .unwrap()
        .with_mfa_key(f.mfa_key())
        .with_contact(super::test_contact())
}

/// A user with a live session, as after a login.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The username.
    pub name: String,
    /// The session id.
    pub sid: String,
    /// An access token of the session, as an `Authorization` value.
    pub bearer: String,
    /// The session's refresh token.
    pub refresh_token: String,
}

impl SignedIn {
    /// The sample event `name` (`events/<name>.json`) with this user's access token.
    pub fn event(&self, name: &str) -> Event {
        Event::load(name).header("authorization", Some(&self.bearer))
    }
}

/// The sessions of `store`, as login starts them (test settings and keys).
pub fn sessions_on(store: Arc<dyn crate::store::Store>) -> crate::refresh::Sessions {
    let config = crate::config::SessionConfig::from_vars(&test_vars()).unwrap();
    crate::refresh::Sessions::new(store, &key_set(), config).unwrap()
}

/// A new user (password `correct horse battery`) signed in on `store` at `now`.
pub async fn signed_in(store: Arc<dyn crate::store::Store>, now: u64) -> SignedIn {
    let name = unique("user_");
    create_user(store.as_ref(), &name, "correct horse battery", &[]).await;
    sign_in(store, &name, now).await
}

/// Another session of the existing user `name` (made by the helpers), and a token of it.
pub async fn sign_in(store: Arc<dyn crate::store::Store>, name: &str, now: u64) -> SignedIn {
    sign_in_with_amr(store, name, now, &[], &["pwd"]).await
}

/// [`sign_in`] as after a login with these `amr` values (`["mfa", "otp", "pwd"]`: with a TOTP
/// code), with a token of these explicit `roles` (the user's stored roles are the caller's to
/// set: [`create_user`]): the session keeps the `amr` and the token carries both.
pub async fn sign_in_with_amr(
    store: Arc<dyn crate::store::Store>,
    name: &str,
    now: u64,
    roles: &[&str],
    amr: &[&str],
) -> SignedIn {
    let origin = crate::refresh::Origin {
        source_ip: "203.0.113.10".into(),
        user_agent: "test-agent/1.0".into(),
    };
    let amr_owned: Vec<String> = amr.iter().map(|m| (*m).to_owned()).collect();
    let (session, started) = sessions_on(store.clone())
        .prepare(&user_id_of(name), name, &origin, &amr_owned, now)
        .unwrap();
    crate::store::SessionStore::create(store.as_ref(), &session)
        .await
        .unwrap();
    SignedIn {
        name: name.to_owned(),
        bearer: format!(
            "Bearer {}",
            access_token_with_amr(name, &started.sid, now, roles, amr)
        ),
        sid: started.sid,
        refresh_token: started.refresh_token,
    }
}

/// Whether the session `sid` (which must exist) is revoked.
pub async fn session_revoked(store: &dyn crate::store::SessionStore, sid: &str) -> bool {
    store
        .get(sid)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("session {sid} exists"))
        .revoked
}

/// Refreshes `token` with no rate limit in front, to look at a session's state.
pub async fn refresh_now(
    sessions: &crate::refresh::Sessions,
    users: &dyn crate::store::UserStore,
    token: &str,
    now: u64,
) -> Result<crate::refresh::Refreshed, crate::refresh::GrantError> {
    sessions
        .refresh(token, now, async { Ok(async {}) }, users)
        .await
}

/// The user `username` as stored now (it must exist).
pub async fn stored(
    store: &dyn crate::store::UserStore,
    username: &str,
) -> crate::store::UserRecord {
    store
        .find(&username.to_lowercase())
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{username} is stored"))
}

/// Sets a user's explicit roles (what `authctl grant` does).
pub async fn set_roles(store: &dyn crate::store::UserStore, username: &str, roles: &[&str]) {
    let change = crate::store::AccessChange {
        roles: Some(roles.iter().map(|r| (*r).to_owned()).collect()),
        disabled: None,
    };
    let updated = store
        .update_access(&username.to_lowercase(), None, &change)
        .await
        .unwrap();
    assert!(updated, "{username} exists");
}

/// Disables (or enables) a user.
pub async fn set_disabled(store: &dyn crate::store::UserStore, username: &str, disabled: bool) {
    let change = crate::store::AccessChange {
        roles: None,
        disabled: Some(disabled),
    };
    let updated = store
        .update_access(&username.to_lowercase(), None, &change)
        .await
        .unwrap();
    assert!(updated, "{username} exists");
}
