//! `POST /login`: rate-limited password check that starts a session and returns an access
//! token and a refresh token.

use std::sync::Arc;

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use shared::audit::{Action, Audit, Outcome, Who};
use shared::config::{
    Argon2Config, ConfigError, LoginLimits, SessionConfig, Table, Tables, TokenConfig, Vars,
};
use shared::http::response::admitted_headers;
use shared::http::{json_response, read_json_object, require_method, session_origin};
use shared::keys::{self, KeySet};
use shared::lockout::Lockout;
use shared::mfa_token;
use shared::password::Passwords;
use shared::rate_limit::{RateLimiter, TakeError, source_subject};
use shared::refresh::Sessions;
use shared::roles::RoleScopes;
use shared::store::dynamo::DynamoStore;
use shared::store::{Challenge, ChallengeStore, CounterStore, Store, UserRecord, UserStore};
use shared::token::{AMR_PASSWORD, amr};
use shared::token::{Subject, TokenResponse, Tokens};
use shared::validation::{Credentials, Purpose};
use shared::{ApiError, Clock, RequestMeta, system_clock};

/// What this function reads from its environment.
pub struct Settings {
    /// `USERS_TABLE`, `RATE_LIMIT_TABLE`, `SESSIONS_TABLE`.
    pub tables: Tables,
    /// `LOGIN_IP_*`, `LOGIN_USER_*`.
    pub limits: LoginLimits,
    /// `ARGON2_*`.
    pub argon2: Argon2Config,
    /// `JWT_ISSUER`, `JWT_AUDIENCE`, `ACCESS_TOKEN_TTL_SECONDS`, `JWT_LEEWAY_SECONDS`.
    pub token: TokenConfig,
    /// `SESSION_TTL_SECONDS`, `REFRESH_GRACE_SECONDS`.
    pub session: SessionConfig,
    /// `AUDIT_LOG_USERNAMES`.
    pub audit: Audit,
    /// `ROLE_SCOPES`.
    pub roles: RoleScopes,
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&Vars::env())
    }

    /// Reads these variables.
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        Ok(Self {
            tables: Tables::from_vars(vars, &[Table::Users, Table::RateLimits, Table::Sessions])?,
            limits: LoginLimits::from_vars(vars)?,
            argon2: Argon2Config::from_vars(vars)?,
            token: TokenConfig::from_vars(vars)?,
            session: SessionConfig::from_vars(vars)?,
            audit: Audit::from_vars(vars)?,
            roles: RoleScopes::from_vars(vars)?,
        })
    }
}

/// What the handler needs, built once per cold start.
pub struct Deps {
    /// Where users are read (and rehashed).
    pub users: Arc<dyn UserStore>,
    /// Per-IP and per-user counters.
    pub limiter: RateLimiter,
    /// The same counters, for the familiar-source marks.
    pub counters: Arc<dyn CounterStore>,
    /// Where a login owing its second factor waits (`mfa_token`).
    pub challenges: Arc<dyn ChallengeStore>,
    /// The login policies.
    pub limits: LoginLimits,
    /// The password hasher.
    pub passwords: Passwords,
    /// The access-token signer.
    pub tokens: Tokens,
    /// Where sessions start.
    pub sessions: Sessions,
    /// The audit trail.
    pub audit: Audit,
    /// Which roles grant which scopes.
    pub roles: RoleScopes,
    /// Now.
    pub clock: Clock,
}

impl Deps {
    /// What `main` calls: settings and keys from the environment, the DynamoDB store, the real
    /// clock.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let settings = Settings::from_env()?;
        let store = DynamoStore::connect(settings.tables.clone())?;
        let keys = Arc::new(keys::load(&Vars::env()).await?);
        Self::build(settings, store, keys, system_clock())
    }

    /// Assembles the handler's dependencies; `main` and every test call this.
    pub fn build(
        settings: Settings,
        store: Arc<dyn Store>,
        keys: Arc<KeySet>,
        clock: Clock,
    ) -> Result<Self, ConfigError> {
        keys.require_signing_alg(settings.token.alg)?;
        Ok(Self {
            users: store.clone(),
            limiter: RateLimiter::new(store.clone()),
            counters: store.clone(),
            challenges: store.clone(),
            limits: settings.limits,
            passwords: Passwords::new(settings.argon2)?,
            sessions: Sessions::new(store, &keys, settings.session)?,
            tokens: Tokens::new(&settings.token, keys),
            audit: settings.audit,
            roles: settings.roles,
            clock,
        })
    }
}

/// Handles one request; every outcome, error or not, is a response.
pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    let meta = RequestMeta::of(&req);
    login(deps, &req, &meta)
        .await
        .unwrap_or_else(|e| e.into_response(&meta))
}

fn limited(deps: &Deps, meta: &RequestMeta, error: TakeError, username: &str) -> ApiError {
    deps.audit
        .limited(meta, Action::Login, error, Who::named(username))
}

async fn login(deps: &Deps, req: &Request, meta: &RequestMeta) -> Result<Response<Body>, ApiError> {
    require_method(req, Method::POST)?;
    let body = read_json_object(req)?;
    let now = (deps.clock)();

    let credentials = Credentials::parse(&body, Purpose::Login)?;
    let username = credentials.username.as_ref();
    let key = credentials.username.key();
    let limiter = &deps.limiter;

    // First wave, all at once and finished before any hashing: every attempt counts against
    // the source IP; a failure slot of each account policy is taken (so concurrent guesses
    // cannot overshoot a limit) and the source's familiarity read (`shared::lockout`); the
    // user is read.
    let source = source_subject(&meta.source_ip);
    let lockout = Lockout::new(limiter, deps.counters.as_ref(), &deps.limits);
    let (ip_slot, (attempt, user)) = tokio::join!(
        limiter.take(&deps.limits.per_ip, &source, now),
        lockout.begin(&key, &meta.source_ip, now, deps.users.find(&key)),
    );
    let ip_slot = match ip_slot {
        Ok(slot) => slot,
        Err(e) => {
            // Refused before any guess was checked: that is no failed guess for the account.
            if let Ok(attempt) = attempt {
                lockout.abandoned(attempt).await;
            }
            return Err(limited(deps, meta, e, username));
        }
    };
    let attempt = attempt.map_err(|e| limited(deps, meta, e, username))?;
    let user = user?;

    // One argon2 verification whether or not the user exists (a dummy hash otherwise), so both
    // failures cost the same and answer the same bytes.
    let stored = user.as_ref().map(|u| u.password_hash.as_str());
    let matched = deps.passwords.verify(&credentials.password, stored).await?;
    // Whose password was guessed, when the name is a user's (the audit trail only).
    let guessed = user.as_ref().and_then(|u| u.user_id.clone());
    let Some(user) = user.filter(|_| matched) else {
        // Second wave of a failure: the slots that do not count go back.
        tokio::join!(lockout.failed(attempt), limiter.settle(&ip_slot));
        deps.audit.record(
            meta,
            Action::Login,
            Outcome::Failure,
            "invalid_credentials",
            Who::user(guessed.as_deref(), username),
        );
        return Err(ApiError::InvalidCredentials);
    };

    // Only someone who knows the password learns that the account is disabled; the right
    // password is no failed guess, so the slots go back.
    if user.disabled {
        tokio::join!(lockout.abandoned(attempt), limiter.settle(&ip_slot));
        deps.audit.record(
            meta,
            Action::Login,
            Outcome::Failure,
            "account_disabled",
            Who::user(user.user_id.as_deref(), &user.username),
        );
        return Err(ApiError::AccountDisabled);
    }

    if let Some(user_id) = user.user_id.as_deref().filter(|_| user.mfa.enabled()) {
        // The password was right, but no failure slot is given back as a success: the source
        // becomes familiar only once the second factor is given (`POST /login/mfa`).
        let (token, id) = mfa_token::new_mfa_token(&key)?;
        let challenge = Challenge {
            id,
            key: key.clone(),
            user_id: user_id.to_owned(),
            expires_at: now + mfa_token::MFA_TOKEN_TTL_SECONDS,
            wrong: 0,
            used: false,
        };
        let (created, (), ()) = tokio::join!(
            deps.challenges.create_challenge(&challenge),
            lockout.abandoned(attempt),
            limiter.settle(&ip_slot),
        );
        created?;
        return Ok(mfa_required(deps, meta, &user, user_id, &token, &ip_slot));
    }

    // Second wave: start the session, give back the failure slots, trim the per-IP log and
    // mark the source familiar together (and give a user stored before ids existed its id).
    let user_id = user
        .user_id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let origin = session_origin(req, meta);
    let (session, (), (), assigned) = tokio::join!(
        deps.sessions
            .start_from(&user_id, &user.username, &origin, now),
        lockout.succeeded(attempt, now),
        limiter.settle(&ip_slot),
        async {
            match user.user_id {
                Some(_) => Ok(Some(user_id.clone())),
                None => deps.users.assign_id(&key, &user_id).await,
            }
        },
    );
    let started = session?;
    // The user's least recently used sessions that this one ended, to stay within the cap.
    for evicted in &started.evicted {
        deps.audit.record(
            meta,
            Action::Login,
            Outcome::Success,
            "session_cap",
            Who::session(&user_id, evicted, &user.username),
        );
    }
    if assigned?.as_deref() != Some(user_id.as_str()) {
        // A concurrent first login gave the user another id (or the user was deleted): this
        // session names the wrong one, and a retry succeeds.
        return Err(ApiError::Unavailable(
            "user id assigned concurrently".into(),
        ));
    }
    if deps.passwords.needs_rehash(&user.password_hash) {
        rehash(deps, &key, &user.password_hash, &credentials.password).await;
    }
    let grant = deps.roles.grant(&user.roles);
    let pwd = amr(AMR_PASSWORD);
    let subject = Subject {
        user_id: &user_id,
        username: &user.username,
        grant: &grant,
        amr: &pwd,
    };
    let issued = deps
        .tokens
        .issue_until(&subject, &started.sid, now, started.expires_at)?;
    deps.audit.record(
        meta,
        Action::Login,
        Outcome::Success,
        "authenticated",
        Who::session(&user_id, &started.sid, &user.username),
    );
    let mut response = json_response(
        StatusCode::OK,
        &TokenResponse::new(issued, started.refresh_token),
    );
    admitted_headers(&ip_slot, &deps.limits.per_ip, response.headers_mut());
    Ok(response)
}

/// `403 mfa_required` with the `mfa_token` that `POST /login/mfa` takes (Auth0's shape): the
/// password was right, and no token is issued until the second factor is given.
fn mfa_required(
    deps: &Deps,
    meta: &RequestMeta,
    user: &UserRecord,
    user_id: &str,
    token: &str,
    ip_slot: &shared::rate_limit::Slot,
) -> Response<Body> {
    deps.audit.record(
        meta,
        Action::Login,
        Outcome::Success,
        "mfa_required",
        Who::user(Some(user_id), &user.username),
    );
    let error = ApiError::MfaRequired;
    let body = serde_json::json!({
        "msg": error.message(),
        "error": error.code(),
        "mfa_token": token,
        "expires_in": mfa_token::MFA_TOKEN_TTL_SECONDS,
    });
    let mut response = json_response(StatusCode::FORBIDDEN, &body);
    admitted_headers(ip_slot, &deps.limits.per_ip, response.headers_mut());
    response
}

/// Upgrades a hash made with weaker parameters than the configured ones, now that the password
/// is known to be right. Best effort: a failure leaves the old hash, which still verifies.
async fn rehash(deps: &Deps, key: &str, old: &str, password: &shared::validation::Password) {
    let result = match deps.passwords.hash(password).await {
        Ok(new) => deps
            .users
            .replace_hash(key, old, &new)
            .await
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => tracing::info!("password hash upgraded to the configured parameters"),
        Err(e) => tracing::warn!(error = %e, "could not upgrade the password hash"),
    }
}
