//! Test helpers (feature `test-util`): the [`Fixture`] every test assembles a function from,
//! [`call`] to run a handler and record its response for the contract check, sample events,
//! response bodies, and hand-made tokens.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use lambda_http::{Body, Request, Response};
use serde_json::Value;

use crate::config::{Table, Tables, Vars};
use crate::keys::KeySet;
use crate::store::dynamo::DynamoStore;
use crate::{Clock, unix_now};

pub mod faults;

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

/// The variables every fixture starts from. Limits are generous (no test reaches them unless it
/// sets its own), argon2 is at its cheapest (the production parameters are covered by the
/// password module's own tests), and tokens carry the test issuer of [`token_config`].
pub fn test_vars() -> Vars {
    let mut vars = Vars::from_pairs([
        ("JWT_ISSUER", "auth-api-test"),
        ("JWT_AUDIENCE", "auth-api-test"),
        ("AUTH_REALM", "auth-api-test"),
        ("ARGON2_MEMORY_KIB", "64"),
        ("ARGON2_ALLOW_WEAK_FOR_TESTS", "true"),
        ("ARGON2_ITERATIONS", "1"),
        ("ARGON2_PARALLELISM", "1"),
        ("SESSION_TTL_SECONDS", "3600"),
        ("LOGIN_IP_LIMIT", "1000"),
        ("LOGIN_USER_LIMIT", "1000"),
        ("LOGIN_USER_MEDIUM_LIMIT", "1000"),
        ("LOGIN_USER_LONG_LIMIT", "1000"),
        ("LOGIN_USER_SOURCE_LIMIT", "1000"),
        ("REGISTER_IP_LIMIT", "1000"),
        ("REFRESH_IP_LIMIT", "1000"),
    ]);
    // The local server's table names, when `make test` set them (functions without a table
    // need none).
    let env = Vars::env();
    for name in ["USERS_TABLE", "RATE_LIMIT_TABLE", "SESSIONS_TABLE"] {
        if let Some(value) = env.get(name) {
            vars.set(name, &value);
        }
    }
    vars
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

    /// On the local tables through `endpoint` (a [`faults::FaultProxy`]).
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
}

/// Runs `handle` on one request and records the response for the OpenAPI contract check (see
/// [`record`]), so every test's responses are checked against `openapi.yaml`.
pub async fn call<'d, D, F, Fut>(handle: F, deps: &'d D, request: Request) -> Response<Body>
where
    F: FnOnce(&'d D, Request) -> Fut,
    Fut: Future<Output = Response<Body>>,
{
    let (method, path) = route_of(&request);
    let response = handle(deps, request).await;
    record(&method, &path, &response);
    response
}

/// The workspace's `events/` folder.
pub fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events")
}

/// A sample API Gateway HTTP API (payload 2.0) event from `events/`, to tweak and send.
#[derive(Debug, Clone)]
pub struct Event(pub Value);

impl Event {
    /// Loads `events/<name>.json`, and notes in the contract records that a test used it (the
    /// contract check fails on a sample no test loads).
    pub fn load(name: &str) -> Self {
        let event = Self::read(name);
        append_record(&serde_json::json!({"event": name}));
        event
    }

    /// Reads `events/<name>.json` without counting it as used (for checks over all samples).
    pub fn read(name: &str) -> Self {
        let path = events_dir().join(format!("{name}.json"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        Self(serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}")))
    }

    /// Replaces the body with this JSON value.
    pub fn json(self, body: Value) -> Self {
        self.raw_body(&body.to_string())
    }

    /// Replaces the body with this text.
    pub fn raw_body(mut self, body: &str) -> Self {
        self.0["body"] = Value::String(body.to_owned());
        self.0["isBase64Encoded"] = Value::Bool(false);
        self
    }

    /// Sets (or with `None`, removes) a header.
    pub fn header(mut self, name: &str, value: Option<&str>) -> Self {
        let headers = self.0["headers"]
            .as_object_mut()
            .expect("event has headers");
        match value {
            Some(v) => headers.insert(name.to_ascii_lowercase(), Value::String(v.to_owned())),
            None => headers.remove(&name.to_ascii_lowercase()),
        };
        self
    }

    /// Sets `requestContext.http.sourceIp`.
    pub fn source_ip(mut self, ip: &str) -> Self {
        self.0["requestContext"]["http"]["sourceIp"] = Value::String(ip.to_owned());
        self
    }

    /// Sets the method and path, as API Gateway would for another route.
    pub fn route(mut self, method: &str, path: &str) -> Self {
        self.0["rawPath"] = Value::String(path.to_owned());
        self.0["routeKey"] = Value::String(format!("{method} {path}"));
        self.0["requestContext"]["http"]["method"] = Value::String(method.to_owned());
        self.0["requestContext"]["http"]["path"] = Value::String(path.to_owned());
        self
    }

    /// The body, as a handler would receive it.
    pub fn body_text(&self) -> Option<&str> {
        self.0["body"].as_str()
    }

    /// Parses the event exactly as the Lambda runtime does.
    pub fn request(&self) -> Request {
        lambda_http::request::from_str(&self.0.to_string())
            .expect("event parses as an HTTP API request")
    }
}

/// The response body as JSON.
pub fn body_json(response: &Response<Body>) -> Value {
    serde_json::from_slice(response.body().as_ref()).expect("response body is JSON")
}

/// A name unique within this test run and across runs (tests share one local server).
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let run = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}{}{n}", &run[..8])
}

/// A random private IPv4 address, so tests sharing the local server do not share IP limits.
pub fn unique_ip() -> String {
    let b = uuid::Uuid::new_v4().into_bytes();
    format!("10.{}.{}.{}", b[0], b[1], b[2])
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

/// A store on the local tables through `endpoint` (a [`faults::FaultProxy`]), with timeouts
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

/// Token settings for tests.
pub fn token_config() -> crate::config::TokenConfig {
    crate::config::TokenConfig {
        issuer: "auth-api-test".into(),
        audience: "auth-api-test".into(),
        ttl_seconds: 900,
        leeway_seconds: 30,
        alg: crate::config::KeyAlg::EdDsa,
    }
}

/// One key-set document per test process (generated, never a deployed key).
pub fn key_document() -> &'static crate::keys::KeySetDocument {
    static DOC: std::sync::OnceLock<crate::keys::KeySetDocument> = std::sync::OnceLock::new();
    DOC.get_or_init(|| crate::keys::generate_document("test-key").unwrap())
}

/// The key set of [`key_document`].
pub fn key_set() -> std::sync::Arc<crate::keys::KeySet> {
    std::sync::Arc::new(
        crate::keys::KeySet::parse(&serde_json::to_string(key_document()).unwrap()).unwrap(),
    )
}

/// The id the test helpers give `username` (stable per name, unlike a registered user's).
pub fn user_id_of(username: &str) -> String {
    format!("uid-{}", username.to_lowercase())
}

/// An access token for `username` in session `sid` at `now`, with the default roles (`user`,
/// scope `profile`) or these explicit ones, signed with [`key_set`].
pub fn access_token(username: &str, sid: &str, now: u64, roles: &[&str]) -> String {
    let roles: Vec<String> = roles.iter().map(|r| (*r).to_owned()).collect();
    let grant = crate::roles::RoleScopes::parse(crate::roles::DEFAULT_ROLE_SCOPES)
        .unwrap()
        .grant(&roles);
    let user_id = user_id_of(username);
    let subject = crate::token::Subject {
        user_id: &user_id,
        username,
        grant: &grant,
    };
    tokens().issue(&subject, sid, now).unwrap().token
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
        })
        .await
        .unwrap();
    if !roles.is_empty() {
        set_roles(store, username, roles).await;
    }
}

/// An admin (a user created on `users` with the `admin` role) and an access token of theirs,
/// scope `admin profile`: (username, `Authorization` header value).
pub async fn admin_caller(users: &dyn crate::store::UserStore) -> (String, String) {
    let name = unique("admin_");
    create_user(users, &name, "correct horse battery", &["admin"]).await;
    let token = access_token(&name, "admin-session", unix_now(), &["admin"]);
    (name, format!("Bearer {token}"))
}

/// A plain user's `Authorization` header value (scope `profile` only).
pub fn user_bearer(name: &str) -> String {
    format!(
        "Bearer {}",
        access_token(name, "user-session", unix_now(), &[])
    )
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

/// The account functions' dependencies (`POST /password`, `DELETE /account`, the session
/// routes), assembled as their `main` does, on the fixture's store, keys and clock.
pub fn account_deps(f: &Fixture) -> crate::account::Deps {
    let settings = crate::account::Settings::from_vars(f.vars()).unwrap();
    crate::account::Deps::build(settings, f.store(), f.keys(), f.clock()).unwrap()
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
    let origin = crate::refresh::Origin {
        source_ip: "203.0.113.10".into(),
        user_agent: "test-agent/1.0".into(),
    };
    let started = sessions_on(store)
        .start_from(&user_id_of(name), name, &origin, now)
        .await
        .unwrap();
    SignedIn {
        name: name.to_owned(),
        bearer: format!("Bearer {}", access_token(name, &started.sid, now, &[])),
        sid: started.sid,
        refresh_token: started.refresh_token,
    }
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
    assert!(updated.is_some(), "{username} exists");
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
    assert!(updated.is_some(), "{username} exists");
}

/// Access tokens signed and verified with [`key_set`].
pub fn tokens() -> crate::token::Tokens {
    crate::token::Tokens::new(&token_config(), key_set())
}

/// Every sample event's name (file stem), for checks that each one is exercised.
pub fn event_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(events_dir())
        .unwrap()
        .filter_map(|e| {
            let path = e.ok()?.path();
            (path.extension()? == "json").then(|| path.file_stem()?.to_str().map(str::to_owned))?
        })
        .collect();
    names.sort();
    names
}

/// Signs `claims` with the test key set's signing key as an EdDSA JWT with the given `kid` and
/// `typ` header values, for hand-made good and bad tokens.
pub fn sign_claims(claims: &Value, kid: Option<&str>, typ: Option<&str>) -> String {
    crate::bad_tokens::sign(key_document(), claims, kid, typ)
}

/// Valid access-token claims for `sub` at `now`, matching [`token_config`].
pub fn claims_at(sub: &str, now: u64) -> Value {
    crate::bad_tokens::claims("auth-api-test", "auth-api-test", sub, now)
}

/// The bad-token table ([`crate::bad_tokens`]) against the test key set and settings.
pub fn bad_tokens(now: u64) -> Vec<crate::bad_tokens::BadToken> {
    crate::bad_tokens::table(key_document(), "auth-api-test", "auth-api-test", now)
}

/// Appends one handler response to the JSONL file named by `CONTRACT_RECORDS` (set by
/// `make test`), so `scripts/contract_check.py` can check every response the tests saw against
/// `openapi.yaml`. Does nothing when the variable is unset.
pub fn record(method: &str, path: &str, response: &Response<Body>) {
    let headers: serde_json::Map<String, Value> = response
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                Value::String(v.to_str().unwrap_or("").to_owned()),
            )
        })
        .collect();
    let line = serde_json::json!({
        "method": method,
        "path": path,
        "status": response.status().as_u16(),
        "headers": headers,
        "body": String::from_utf8_lossy(response.body().as_ref()),
    });
    append_record(&line);
}

/// Appends one JSON line to the `CONTRACT_RECORDS` file, if `make test` named one.
fn append_record(line: &Value) {
    use std::io::Write;
    let Ok(file) = std::env::var("CONTRACT_RECORDS") else {
        return;
    };
    let mut text = line.to_string();
    text.push('\n');
    // One write per line on an O_APPEND file: lines from parallel tests do not interleave.
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// The method and path of a request, taken before the handler consumes it.
pub fn route_of(req: &Request) -> (String, String) {
    (
        req.method().as_str().to_owned(),
        req.uri().path().to_owned(),
    )
}
