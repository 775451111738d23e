//! What each function is fed: a sample event from `events/`, made valid for the run (fresh
//! usernames, real tokens and sessions), and what a correct answer looks like.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};
use shared::config::{Argon2Config, SessionConfig, Table, Tables, TokenConfig, Vars};
use shared::keys::{KeySet, generate_document};
use shared::password::Passwords;
use shared::refresh::Sessions;
use shared::roles::{DEFAULT_ROLE_SCOPES, RoleScopes};
use shared::store::dynamo::DynamoStore;
use shared::store::{NewUser, UserStore};
use shared::token::{Subject, Tokens};
use shared::validation::{Credentials, Purpose};

use crate::proxy::{self, Counters};

const PASSWORD: &str = "correct horse battery staple";
const ISSUER: &str = "auth-api-bench";
/// The most live sessions a user may hold, the largest allowed: the bench's login user
/// collects a few hundred sessions over the rows (every login, logout and end-session row
/// starts ones), and its long-lived session, which the protected rows check, must not be
/// ended as the least recently used. A login at the cap makes one more round trip, which the
/// login rows do not measure.
const BENCH_SESSION_CAP: u32 = 1000;

/// The TOTP sealing key material of the bench (local, never deployed).
const MFA_KEY: &str = "bench-only mfa sealing key material, never deployed anywhere";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Floor,
    Protected,
    Jwks,
    Fallback,
    Me,
    Authorizer,
    Register,
    Login,
    /// Login with a wrong password for the existing user (the enumeration comparison).
    LoginWrongPassword,
    /// Login as a user that does not exist.
    LoginUnknownUser,
    /// The two above, alternating (even calls a wrong password, odd ones an unknown user), so
    /// that the machine's drift over a run touches both alike: the timing-parity check.
    LoginRefusedAlternating,
    Refresh,
    Logout,
    Discovery,
    /// `GET /admin/users/{username}` with an admin token, for the bench user.
    AdminGetUser,
    /// `PATCH /admin/users/{username}` for the bench user (roles set to none).
    AdminUpdateUser,
    /// `GET /protected` with `SESSION_CHECK=true`: one consistent read of the session.
    ProtectedSessionCheck,
    /// `GET /sessions` for the account user.
    ListSessions,
    /// `DELETE /sessions/{sid}`: a session of the account user, started for each call.
    EndSession,
    /// `DELETE /sessions`: a user with one session, made for each call.
    EndAllSessions,
    /// `POST /password`: a user with one session, made for each call (argon2 verify + hash).
    ChangePassword,
    /// `DELETE /account`: a user with one session, made for each call.
    DeleteAccount,
    /// `DELETE /admin/users/{username}/sessions` for the bench user (runs last: it revokes the
    /// sessions the refresh and logout rows use).
    AdminEndSessions,
    /// `POST /login/mfa` with a right TOTP code: a user with MFA on and a challenge, made for
    /// each call (a code is accepted once per step, so each call needs its own user).
    LoginMfa,
    /// `POST /password/forgot` for a verified address, an unverified one and an unknown one
    /// in turn (invocation `i % 3`), each address fresh: the timing-parity check of the
    /// enumeration-safe answer (only the first mails a link).
    ForgotAlternating,
}

/// What a `POST /password/forgot` of the alternating row is about (invocation `i % 3`).
pub const FORGOT_CASES: [&str; 3] = ["verified", "unverified", "unknown"];

pub struct Scenario {
    /// The binary to run.
    pub name: &'static str,
    /// The row's name in the table (the binary's, unless one binary runs several scenarios).
    pub label: &'static str,
    memory_mb: u32,
    kind: Kind,
    expect: u16,
    chained_refresh: Option<String>,
    /// The token of the user the row acts on every call (`list-sessions`: a user at the cap).
    held_token: Option<String>,
}

/// Every function, the floor first.
pub fn all() -> Vec<Scenario> {
    let s = |name, kind, memory_mb, expect| Scenario {
        name,
        label: name,
        memory_mb,
        kind,
        expect,
        chained_refresh: None,
        held_token: None,
    };
    vec![
        s("floor", Kind::Floor, 128, 200),
        s("floor-sdk", Kind::Floor, 128, 200),
        s("protected", Kind::Protected, 128, 200),
        s("jwks", Kind::Jwks, 128, 200),
        s("fallback", Kind::Fallback, 128, 404),
        s("me", Kind::Me, 128, 200),
        s("authorizer", Kind::Authorizer, 128, 0),
        s("register", Kind::Register, 1024, 201),
        s("login", Kind::Login, 1024, 200),
        s("login", Kind::LoginWrongPassword, 1024, 401).labelled("login-wrong"),
        s("login", Kind::LoginUnknownUser, 1024, 401).labelled("login-unknown"),
        s("login", Kind::LoginRefusedAlternating, 1024, 401).labelled("login-401s"),
        s("login-mfa", Kind::LoginMfa, 128, 200),
        s("password-forgot", Kind::ForgotAlternating, 128, 202).labelled("forgot-3"),
        s("refresh", Kind::Refresh, 128, 200),
        s("logout", Kind::Logout, 128, 204),
        s("discovery", Kind::Discovery, 128, 200),
        s("admin-get-user", Kind::AdminGetUser, 128, 200),
        s("admin-update-user", Kind::AdminUpdateUser, 128, 200),
        s("protected-session", Kind::ProtectedSessionCheck, 128, 200),
        s("list-sessions", Kind::ListSessions, 128, 200),
        s("end-session", Kind::EndSession, 128, 204),
        s("end-all-sessions", Kind::EndAllSessions, 128, 204),
        s("change-password", Kind::ChangePassword, 1024, 204),
        s("delete-account", Kind::DeleteAccount, 1024, 204),
        s("admin-end-sessions", Kind::AdminEndSessions, 128, 204),
    ]
}

/// Median time of `samples` hashes with `config`, in microseconds.
pub async fn argon2_hash_us(config: Argon2Config, samples: usize) -> Result<u64, String> {
    let passwords = Passwords::new(config).map_err(|e| e.to_string())?;
    let body = json!({"username": "bench", "password": PASSWORD});
    let p = Credentials::parse(body.as_object().ok_or("body")?, Purpose::Login)
        .map_err(|e| e.to_string())?
        .password;
    let mut v = Vec::with_capacity(samples);
    for _ in 0..samples.max(1) {
        let t = Instant::now();
        passwords.hash(&p).await.map_err(|e| e.to_string())?;
        v.push(t.elapsed().as_micros() as u64);
    }
    v.sort_unstable();
    Ok(v[v.len() / 2])
}

/// Shared set-up: the counting proxy, a key set, a user to log in, direct store access.
pub struct Prep {
    pub counters: Arc<Counters>,
    pub proxy_addr: String,
    pub argon2: Argon2Config,
    sessions: Sessions,
    tokens: Tokens,
    passwords: Passwords,
    key_file: PathBuf,
    tables: Tables,
    login_user: String,
    login_user_id: String,
    /// A live session of the login user, for the token of every row that checks sessions.
    live_sid: String,
    /// An admin (role `admin`) with a live session, as the admin routes require of a caller.
    admin: (String, String, String),
    /// The hash of PASSWORD, for users made per call.
    password_hash: String,
    /// The key set in the local server's Secrets Manager, as `JWT_KEYS_SECRET_ARN` names it.
    secret_arn: String,
    /// Its public part, as `make deploy` gives the verify-only functions (`JWT_PUBLIC_KEYS`).
    public_keys: String,
    store: Arc<DynamoStore>,
    run_id: String,
}

/// In-process costs of one access token of `alg`, medians in microseconds.
pub struct Signing {
    pub alg: &'static str,
    pub sign_us: u64,
    /// The whole check as the functions make it (`Tokens::verify`).
    pub verify_us: u64,
}

/// The functions `template.yaml` gives `JWT_PUBLIC_KEYS` (with `PublicKeySet`).
const VERIFY_ONLY: &[&str] = &[
    "jwks",
    "protected",
    "protected-session",
    "authorizer",
    "admin-get-user",
    "admin-update-user",
    "admin-end-sessions",
    "change-password",
    "delete-account",
    "list-sessions",
    "end-session",
    "end-all-sessions",
];

/// Stores the key set `text` as a secret on the local server (moto serves Secrets Manager on
/// the same port as DynamoDB); its ARN.
async fn create_key_secret(endpoint: &str, run_id: &str, text: &str) -> Result<String, String> {
    let sdk = shared::aws::sdk_config().map_err(|e| e.to_string())?;
    let config = aws_sdk_secretsmanager::config::Builder::from(&sdk)
        .endpoint_url(endpoint)
        .build();
    aws_sdk_secretsmanager::Client::from_conf(config)
        .create_secret()
        .name(format!("bench-keys-{run_id}"))
        .secret_string(text)
        .send()
        .await
        .map_err(|e| {
            format!(
                "creating the key secret on the local server: {}",
                aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
            )
        })?
        .arn
        .ok_or_else(|| "the local server returned no secret ARN".to_owned())
}

fn load_event(name: &str) -> Result<Value, String> {
    let path = format!("events/{name}.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("{path}: {e} (run from the repository root)"))?;
    serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))
}

fn with_body(mut event: Value, body: Value) -> Vec<u8> {
    event["body"] = Value::String(body.to_string());
    event.to_string().into_bytes()
}

/// The event from a source address of its own (198.18.0.0/15, the benchmarking range).
fn from_stranger(mut event: Value, i: usize) -> Value {
    let ip = format!("198.18.{}.{}", (i / 250) % 250, i % 250 + 1);
    event["requestContext"]["http"]["sourceIp"] = Value::String(ip);
    event
}

fn with_bearer_and_body(mut event: Value, token: &str, body: Value) -> Vec<u8> {
    event["body"] = Value::String(body.to_string());
    event["isBase64Encoded"] = Value::Bool(false);
    with_bearer(event, token)
}

fn with_bearer(mut event: Value, token: &str) -> Vec<u8> {
    event["headers"]["authorization"] = Value::String(format!("Bearer {token}"));
    event.to_string().into_bytes()
}

impl Prep {
    pub async fn new() -> Result<Self, String> {
        let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB")
            .map_err(|_| "AWS_ENDPOINT_URL_DYNAMODB is not set: run `make bench`".to_string())?;
        let target = endpoint
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let (addr, counters) = proxy::start(target).await.map_err(|e| e.to_string())?;
        let tables = Tables::from_vars(
            &Vars::env(),
            &[Table::Users, Table::RateLimits, Table::Sessions],
        )
        .map_err(|e| e.to_string())?;
        let store = DynamoStore::connect(tables.clone()).map_err(|e| e.to_string())?;

        let run_id = format!("{}", shared::unix_now() % 1_000_000_000);
        let dir = std::env::temp_dir().join(format!("lambda-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let key_file = dir.join("keys.json");
        let doc = generate_document("bench-key").map_err(|e| e.to_string())?;
        let text = serde_json::to_string(&doc).map_err(|e| e.to_string())?;
        std::fs::write(&key_file, &text).map_err(|e| e.to_string())?;
        let keys = Arc::new(KeySet::parse(&text).map_err(|e| e.to_string())?);
        let public_keys =
            serde_json::to_string(&keys.public_document()).map_err(|e| e.to_string())?;
        let secret_arn = create_key_secret(&endpoint, &run_id, &text).await?;

        let argon2 = Argon2Config::default();
        let passwords = Passwords::new(argon2).map_err(|e| e.to_string())?;
        let token_config = TokenConfig {
            issuer: ISSUER.into(),
            audience: ISSUER.into(),
            ttl_seconds: 900,
            leeway_seconds: 30,
            alg: shared::config::KeyAlg::EdDsa,
        };
        let sessions = Sessions::new(
            store.clone(),
            &keys,
            SessionConfig {
                ttl_seconds: 3600,
                grace_seconds: 0,
                cap: BENCH_SESSION_CAP,
            },
        )
        .map_err(|e| e.to_string())?;
        let login_user = format!("bench_{run_id}");
        let login_user_id = format!("bench-id-{run_id}");
        let body = json!({"username": login_user, "password": PASSWORD});
        let credentials = Credentials::parse(body.as_object().ok_or("body")?, Purpose::Login)
            .map_err(|e| e.to_string())?;
        let password_hash = passwords
            .hash(&credentials.password)
            .await
            .map_err(|e| e.to_string())?;
        store
            .create(&NewUser {
                key: login_user.to_lowercase(),
                user_id: login_user_id.clone(),
                username: login_user.clone(),
                password_hash: password_hash.clone(),
                created_at: shared::unix_now(),
                pending_email: None,
            })
            .await
            .map_err(|e| e.to_string())?;
        let (live_sid, _) = sessions
            .start(&login_user_id, &login_user, shared::unix_now())
            .await
            .map_err(|e| e.to_string())?;
        let admin = (
            format!("bench-admin-{run_id}"),
            format!("bench-admin-id-{run_id}"),
        );
        store
            .create(&NewUser {
                key: admin.0.to_lowercase(),
                user_id: admin.1.clone(),
                username: admin.0.clone(),
                password_hash: password_hash.clone(),
                created_at: shared::unix_now(),
                pending_email: None,
            })
            .await
            .map_err(|e| e.to_string())?;
        let roles = shared::store::AccessChange {
            roles: Some(vec!["admin".to_owned()]),
            disabled: None,
        };
        store
            .update_access(&admin.0.to_lowercase(), Some(&admin.1), &roles)
            .await
            .map_err(|e| e.to_string())?;
        let (admin_sid, _) = sessions
            .start(&admin.1, &admin.0, shared::unix_now())
            .await
            .map_err(|e| e.to_string())?;
        Ok(Self {
            counters,
            proxy_addr: addr.to_string(),
            argon2,
            sessions,
            tokens: Tokens::new(&token_config, keys),
            passwords,
            key_file,
            tables,
            login_user,
            login_user_id,
            live_sid,
            admin: (admin.0, admin.1, admin_sid),
            password_hash,
            secret_arn,
            public_keys,
            store,
            run_id,
        })
    }

    /// A new user (password PASSWORD) with one session, and an access token of it: what the
    /// rows that end sessions or accounts act on, made before each call, outside the timing.
    async fn fresh_user(&self, prefix: &str, i: usize) -> Result<(String, String, String), String> {
        let name = format!("{prefix}{}_{i}", self.run_id);
        let user_id = format!("{name}-id");
        UserStore::create(
            self.store.as_ref(),
            &NewUser {
                key: name.to_lowercase(),
                user_id: user_id.clone(),
                username: name.clone(),
                password_hash: self.password_hash.clone(),
                created_at: shared::unix_now(),
                pending_email: None,
            },
        )
        .await
        .map_err(|e| e.to_string())?;
        let (sid, _) = self
            .sessions
            .start(&user_id, &name, shared::unix_now())
            .await
            .map_err(|e| e.to_string())?;
        let token = self.user_token(&user_id, &name, &sid)?;
        Ok((name, sid, token))
    }

    /// A fresh user holding `SESSION_CAP`'s default number of live sessions: an access token
    /// of one of them.
    async fn user_at_the_cap(&self) -> Result<String, String> {
        let (name, _, token) = self.fresh_user("ls", 0).await?;
        let user_id = format!("{name}-id");
        for _ in 1..shared::config::SESSION_CAP_DEFAULT {
            self.sessions
                .start(&user_id, &name, shared::unix_now())
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(token)
    }

    /// A fresh user with MFA on, a login challenge of theirs and the TOTP code of now: what
    /// `POST /login/mfa` is sent after a right password.
    async fn mfa_challenge(&self, i: usize) -> Result<(String, String), String> {
        use shared::store::{Challenge, ChallengeStore, MfaChange, MfaProof};
        let (name, _, _) = self.fresh_user("mf", i).await?;
        let user_id = format!("{name}-id");
        let key = name.to_lowercase();
        let e = |e: shared::ApiError| e.to_string();
        let sealing =
            shared::mfa::MfaKey::from_material(MFA_KEY.as_bytes()).map_err(|e| e.to_string())?;
        let secret = shared::mfa::new_secret().map_err(e)?;
        let sealed = sealing.seal(&user_id, &secret).map_err(e)?;
        let codes = shared::mfa::new_recovery_codes().map_err(e)?;
        let recovery = shared::mfa::recovery_code_hashes(&user_id, &codes).map_err(e)?;
        for change in [
            MfaChange::Pending(sealed.clone()),
            MfaChange::Confirm {
                pending: sealed,
                recovery,
            },
        ] {
            let written = self
                .store
                .update_mfa(&key, &user_id, &MfaProof::Nothing, &change)
                .await
                .map_err(|e| e.to_string())?;
            if !written {
                return Err(format!("turning MFA on for {name}"));
            }
        }
        let now = shared::unix_now();
        let (token, id) = shared::mfa::new_mfa_token(&key).map_err(e)?;
        let challenge = Challenge {
            id,
            key,
            user_id,
            expires_at: now + shared::mfa::MFA_TOKEN_TTL_SECONDS,
            wrong: 0,
            used: false,
        };
        self.store
            .create_challenge(&challenge)
            .await
            .map_err(|e| e.to_string())?;
        let code = totp_rs::Builder::new()
            .with_secret(secret)
            .build_noncompliant()
            .generate(now)
            .to_string();
        Ok((token, code))
    }

    /// The address of invocation `i` of the forgot row: a fresh user's verified address, a
    /// fresh user's pending one, or one no one gave (`FORGOT_CASES[i % 3]`).
    async fn forgot_address(&self, i: usize) -> Result<String, String> {
        use shared::store::PendingEmail;
        let address = format!("Forgot.{}.{i}@Bench.example", self.run_id);
        if i % 3 == 2 {
            return Ok(address);
        }
        let (name, _, _) = self.fresh_user("fg", i).await?;
        let key = name.to_lowercase();
        let user_id = format!("{name}-id");
        let (token, hash) = shared::keyed_token::new(&key).map_err(|e| e.to_string())?;
        let pending = PendingEmail {
            address: address.clone(),
            token: hash,
            expires_at: shared::unix_now() + 600,
        };
        let e = |e: shared::store::StoreError| e.to_string();
        if !self
            .store
            .set_pending_email(&key, &user_id, &pending)
            .await
            .map_err(e)?
        {
            return Err(format!("no pending address for {name}"));
        }
        if i.is_multiple_of(3) {
            let user = self
                .store
                .find(&key)
                .await
                .map_err(e)?
                .ok_or(format!("{name} vanished"))?;
            let (_, hash) = shared::keyed_token::parse(&token, 512).ok_or("token")?;
            let outcome = self
                .store
                .verify_email(&key, &user, &hash, shared::unix_now())
                .await
                .map_err(e)?;
            if !matches!(outcome, shared::store::VerifyOutcome::Verified(_)) {
                return Err(format!("verifying {address}: {outcome:?}"));
            }
        }
        Ok(address)
    }

    /// An access token (role `user`) of `sid`.
    fn user_token(&self, user_id: &str, name: &str, sid: &str) -> Result<String, String> {
        let grant = RoleScopes::parse(DEFAULT_ROLE_SCOPES)
            .map_err(|e| e.to_string())?
            .grant(&[]);
        let subject = Subject {
            user_id,
            username: name,
            grant: &grant,
            amr: &[],
        };
        self.tokens
            .issue(&subject, sid, shared::unix_now())
            .map(|t| t.token)
            .map_err(|e| e.to_string())
    }

    /// Median in-process time to sign and to verify one access token, with a fresh Ed25519 and
    /// a fresh RSA-2048 key: `[(alg, sign µs, verify µs)]`.
    pub fn signing_us(&self) -> Result<Vec<Signing>, String> {
        use shared::config::KeyAlg;
        let mut out = Vec::new();
        for (name, alg) in [("EdDSA", KeyAlg::EdDsa), ("RS256", KeyAlg::Rs256)] {
            let doc = shared::keys::generate_document_with("sign-bench", alg)
                .map_err(|e| e.to_string())?;
            let text = serde_json::to_string(&doc).map_err(|e| e.to_string())?;
            let keys = Arc::new(KeySet::parse(&text).map_err(|e| e.to_string())?);
            let config = TokenConfig {
                issuer: ISSUER.into(),
                audience: ISSUER.into(),
                ttl_seconds: 900,
                leeway_seconds: 30,
                alg,
            };
            let tokens = Tokens::new(&config, keys);
            let grant = RoleScopes::parse(DEFAULT_ROLE_SCOPES)
                .map_err(|e| e.to_string())?
                .grant(&[]);
            let subject = Subject {
                user_id: "bench-id",
                username: "bench",
                grant: &grant,
                amr: &[],
            };
            let (mut sign, mut verify) = (Vec::new(), Vec::new());
            for _ in 0..201 {
                let now = shared::unix_now();
                let t = Instant::now();
                let token = tokens
                    .issue(&subject, "bench-session", now)
                    .map_err(|e| e.to_string())?
                    .token;
                sign.push(t.elapsed().as_micros() as u64);
                let t = Instant::now();
                tokens.verify(&token).map_err(|e| e.as_str().to_owned())?;
                verify.push(t.elapsed().as_micros() as u64);
            }
            let median = |v: &mut Vec<u64>| {
                v.sort_unstable();
                v[v.len() / 2]
            };
            out.push(Signing {
                alg: name,
                sign_us: median(&mut sign),
                verify_us: median(&mut verify),
            });
        }
        Ok(out)
    }

    /// Median of a few in-process hashes at the configured parameters.
    pub async fn argon2_hash_us(&self) -> Result<u64, String> {
        let body = json!({"username": "bench", "password": PASSWORD});
        let p = Credentials::parse(body.as_object().ok_or("body")?, Purpose::Login)
            .map_err(|e| e.to_string())?
            .password;
        let mut v = Vec::new();
        for _ in 0..7 {
            let t = Instant::now();
            self.passwords.hash(&p).await.map_err(|e| e.to_string())?;
            v.push(t.elapsed().as_micros() as u64);
        }
        v.sort_unstable();
        Ok(v[v.len() / 2])
    }

    /// [`Prep::lambda_env`] with the keys read as deployed: the signing functions fetch the key
    /// set from (the local server's) Secrets Manager at init, through the counting proxy; the
    /// verify-only ones get only its public part in `JWT_PUBLIC_KEYS`, as `make deploy` sets it,
    /// and fetch nothing.
    pub fn deployed_env(
        &self,
        s: &Scenario,
        runtime_api: &str,
        proxy: &str,
    ) -> Vec<(String, String)> {
        let mut env = self.lambda_env(s, runtime_api, proxy);
        env.retain(|(k, _)| k != "JWT_KEYS_FILE");
        if VERIFY_ONLY.contains(&s.name) {
            env.push(("JWT_PUBLIC_KEYS".into(), self.public_keys.clone()));
        } else {
            env.push(("JWT_KEYS_SECRET_ARN".into(), self.secret_arn.clone()));
            env.push((
                "AWS_ENDPOINT_URL_SECRETS_MANAGER".into(),
                format!("http://{proxy}"),
            ));
        }
        env
    }

    /// The environment a Lambda sandbox gives the function, plus the function's configuration.
    pub fn lambda_env(
        &self,
        s: &Scenario,
        runtime_api: &str,
        proxy: &str,
    ) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = [
            ("AWS_LAMBDA_RUNTIME_API", runtime_api.to_owned()),
            ("AWS_LAMBDA_FUNCTION_NAME", s.name.to_owned()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", s.memory_mb.to_string()),
            (
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", s.name),
            ),
            (
                "AWS_LAMBDA_LOG_STREAM_NAME",
                "2026/11/27/[$LATEST]bench".to_owned(),
            ),
            ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".to_owned()),
            ("AWS_EXECUTION_ENV", "AWS_Lambda_rust".to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_DEFAULT_REGION", "us-east-1".to_owned()),
            ("AWS_ACCESS_KEY_ID", "bench".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "bench".to_owned()),
            ("AWS_SESSION_TOKEN", "bench".to_owned()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
            ("_HANDLER", "bootstrap".to_owned()),
            ("LAMBDA_TASK_ROOT", "/var/task".to_owned()),
            ("TZ", ":UTC".to_owned()),
            ("AWS_ENDPOINT_URL_DYNAMODB", format!("http://{proxy}")),
            ("USERS_TABLE", self.tables.users.clone()),
            ("RATE_LIMIT_TABLE", self.tables.rate_limits.clone()),
            ("SESSIONS_TABLE", self.tables.sessions.clone()),
            ("JWT_KEYS_FILE", self.key_file.display().to_string()),
            ("MFA_KEY", MFA_KEY.to_owned()),
            ("JWT_ISSUER", ISSUER.to_owned()),
            ("JWT_AUDIENCE", ISSUER.to_owned()),
            // Limits out of the way (the largest allowed, above any row's calls from one
            // source): the bench measures the admitted path.
            ("LOGIN_IP_LIMIT", "1000".to_owned()),
            ("LOGIN_USER_LIMIT", "1000".to_owned()),
            ("LOGIN_USER_MEDIUM_LIMIT", "1000".to_owned()),
            ("LOGIN_USER_LONG_LIMIT", "1000".to_owned()),
            ("LOGIN_USER_SOURCE_LIMIT", "1000".to_owned()),
            ("REFRESH_IP_LIMIT", "1000".to_owned()),
            ("REGISTER_IP_LIMIT", "1000".to_owned()),
            ("SESSION_CAP", BENCH_SESSION_CAP.to_string()),
            ("RUST_LOG", "info".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        env.push(("AUDIT_LOG_USERNAMES".into(), "false".into()));
        if s.kind == Kind::ForgotAlternating {
            // Mail through the local SES (scripts/bench.sh starts it, dev.env names it and
            // its verified sender), straight: the proxy counts DynamoDB requests only.
            for name in ["AWS_ENDPOINT_URL_SESV2", "MAIL_FROM", "PUBLIC_BASE_URL"] {
                if let Ok(value) = std::env::var(name) {
                    env.push((name.into(), value));
                }
            }
        }
        if s.kind == Kind::ProtectedSessionCheck {
            env.push(("SESSION_CHECK".into(), "true".into()));
        }
        env
    }
}

impl Scenario {
    fn labelled(mut self, label: &'static str) -> Self {
        self.label = label;
        self
    }

    /// Whether the row is a yardstick (`floor`, `floor-sdk`) rather than a deployed function.
    pub fn is_reference(name: &str) -> bool {
        matches!(name, "floor" | "floor-sdk")
    }

    /// Whether the binary links an AWS SDK client (DynamoDB or Secrets Manager), which sets its
    /// size target. `protected` and `jwks` don't (`protected-session` does).
    pub fn uses_sdk(&self) -> bool {
        !matches!(
            self.name,
            "floor" | "fallback" | "me" | "discovery" | "protected" | "jwks"
        )
    }

    /// The event of invocation `i`; any set-up it needs happens here, outside the timing.
    pub async fn event(&mut self, prep: &Prep, i: usize) -> Result<Vec<u8>, String> {
        let now = shared::unix_now();
        let grant = RoleScopes::parse(DEFAULT_ROLE_SCOPES)
            .map_err(|e| e.to_string())?
            .grant(&[]);
        let subject = Subject {
            user_id: &prep.login_user_id,
            username: &prep.login_user,
            grant: &grant,
            amr: &[],
        };
        let token = || {
            prep.tokens
                .issue(&subject, &prep.live_sid, now)
                .map(|t| t.token)
                .map_err(|e| e.to_string())
        };
        Ok(match self.kind {
            Kind::Floor | Kind::Jwks => load_event("jwks")?.to_string().into_bytes(),
            Kind::Discovery => load_event("discovery")?.to_string().into_bytes(),
            Kind::AdminGetUser | Kind::AdminUpdateUser | Kind::AdminEndSessions => {
                let (name, path) = match self.kind {
                    Kind::AdminGetUser => (
                        "admin-get-user",
                        format!("/admin/users/{}", prep.login_user),
                    ),
                    Kind::AdminUpdateUser => (
                        "admin-update-user",
                        format!("/admin/users/{}", prep.login_user),
                    ),
                    _ => (
                        "admin-end-sessions",
                        format!("/admin/users/{}/sessions", prep.login_user),
                    ),
                };
                let mut event = load_event(name)?;
                event["rawPath"] = Value::String(path.clone());
                event["requestContext"]["http"]["path"] = Value::String(path);
                let admin = RoleScopes::parse(DEFAULT_ROLE_SCOPES)
                    .map_err(|e| e.to_string())?
                    .grant(&["admin".to_owned()]);
                let (admin_name, admin_id, admin_sid) = &prep.admin;
                let admin_subject = Subject {
                    user_id: admin_id,
                    username: admin_name,
                    grant: &admin,
                    amr: &[],
                };
                let token = prep
                    .tokens
                    .issue(&admin_subject, admin_sid, now)
                    .map_err(|e| e.to_string())?
                    .token;
                if self.kind == Kind::AdminUpdateUser {
                    event["body"] = Value::String(json!({"roles": []}).to_string());
                    event["isBase64Encoded"] = Value::Bool(false);
                }
                with_bearer(event, &token)
            }
            Kind::Fallback => load_event("fallback-not-found")?.to_string().into_bytes(),
            Kind::Me => load_event("me")?.to_string().into_bytes(),
            Kind::Protected | Kind::ProtectedSessionCheck => {
                with_bearer(load_event("protected")?, &token()?)
            }
            // A user holding as many live sessions as a production stack allows
            // (`SESSION_CAP`'s default), made once: a full first page. (The bench's login user
            // holds hundreds, most of them ended by the logout and end-session rows, which a
            // page reads past in more queries.)
            Kind::ListSessions => {
                let token = match &self.held_token {
                    Some(token) => token.clone(),
                    None => {
                        let token = prep.user_at_the_cap().await?;
                        self.held_token = Some(token.clone());
                        token
                    }
                };
                with_bearer(load_event("list-sessions")?, &token)
            }
            Kind::EndSession => {
                let (sid, _) = prep
                    .sessions
                    .start(&prep.login_user_id, &prep.login_user, now)
                    .await
                    .map_err(|e| e.to_string())?;
                let path = format!("/sessions/{sid}");
                let mut event = load_event("end-session")?;
                event["rawPath"] = Value::String(path.clone());
                event["requestContext"]["http"]["path"] = Value::String(path);
                event["pathParameters"] = json!({ "sid": sid });
                with_bearer(event, &token()?)
            }
            Kind::EndAllSessions => {
                let (_, _, t) = prep.fresh_user("ea", i).await?;
                with_bearer(load_event("end-all-sessions")?, &t)
            }
            Kind::ChangePassword => {
                let (_, _, t) = prep.fresh_user("cp", i).await?;
                let event = load_event("change-password")?;
                let body = json!({"current_password": PASSWORD, "new_password": "a different bench passphrase"});
                with_bearer_and_body(event, &t, body)
            }
            Kind::DeleteAccount => {
                let (_, _, t) = prep.fresh_user("da", i).await?;
                let event = load_event("delete-account")?;
                with_bearer_and_body(event, &t, json!({ "password": PASSWORD }))
            }
            Kind::Authorizer => with_bearer(load_event("authorizer")?, &token()?),
            Kind::LoginMfa => {
                let (token, code) = prep.mfa_challenge(i).await?;
                with_body(
                    load_event("login-mfa")?,
                    json!({"mfa_token": token, "code": code}),
                )
            }
            // Each from an address of its own: `forgot-ip` admits 5 per 15 minutes.
            Kind::ForgotAlternating => with_body(
                from_stranger(load_event("password-forgot")?, i),
                json!({"email": prep.forgot_address(i).await?}),
            ),
            Kind::Register => with_body(
                load_event("register")?,
                json!({"username": format!("r{}_{i}", prep.run_id), "password": PASSWORD}),
            ),
            Kind::Login => with_body(
                load_event("login")?,
                json!({"username": prep.login_user, "password": PASSWORD}),
            ),
            // Both from an address the account has never logged in from, as an enumeration
            // attempt comes: a familiar source's failures are counted differently (and only a
            // source that logged in to the account is familiar, so it learns nothing new).
            Kind::LoginRefusedAlternating if i % 2 == 1 => with_body(
                from_stranger(load_event("login")?, i),
                json!({"username": format!("ghost_a{}_{i}", prep.run_id), "password": "not the right password"}),
            ),
            // A fresh existing account each time, as the unknown names are fresh: repeating one
            // account would grow its three failure logs by one entry per call up to the
            // bench's raised limits (hundreds, where production caps them at 5, 10 and 100),
            // and the row would time the harness's logs rather than the answer.
            Kind::LoginWrongPassword | Kind::LoginRefusedAlternating => {
                let prefix = if self.kind == Kind::LoginWrongPassword {
                    "wp"
                } else {
                    "wa"
                };
                let (name, _, _) = prep.fresh_user(prefix, i).await?;
                with_body(
                    from_stranger(load_event("login")?, i),
                    json!({"username": name, "password": "not the right password"}),
                )
            }
            // A fresh unknown name each time, as an enumeration attempt would send.
            Kind::LoginUnknownUser => with_body(
                from_stranger(load_event("login")?, i),
                json!({"username": format!("ghost_{}_{i}", prep.run_id), "password": "not the right password"}),
            ),
            Kind::Refresh => {
                let current = match self.chained_refresh.take() {
                    Some(t) => t,
                    None => {
                        prep.sessions
                            .start(&prep.login_user_id, &prep.login_user, now)
                            .await
                            .map_err(|e| e.to_string())?
                            .1
                    }
                };
                with_body(load_event("refresh")?, json!({"refresh_token": current}))
            }
            Kind::Logout => {
                let (_, t) = prep
                    .sessions
                    .start(&prep.login_user_id, &prep.login_user, now)
                    .await
                    .map_err(|e| e.to_string())?;
                with_body(load_event("logout")?, json!({"refresh_token": t}))
            }
        })
    }

    /// Fails on an answer that is not the success path (the bench must not time error paths).
    pub fn check_response(&mut self, body: &[u8]) -> Result<(), String> {
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| format!("{}: answer is not JSON: {e}", self.name))?;
        if self.kind == Kind::Authorizer {
            return if v["isAuthorized"] == true {
                Ok(())
            } else {
                Err(format!("authorizer denied: {v}"))
            };
        }
        if v["statusCode"] != self.expect {
            return Err(format!("{}: expected {}, got {v}", self.name, self.expect));
        }
        if self.kind == Kind::Refresh {
            let inner: Value =
                serde_json::from_str(v["body"].as_str().unwrap_or("{}")).unwrap_or_default();
            self.chained_refresh = inner["refresh_token"].as_str().map(str::to_owned);
        }
        Ok(())
    }
}
