//! `POST /login/mfa` `{"mfa_token", "code"}` or `{"mfa_token", "recovery_code"}`: the second
//! factor of a password login that answered `403 mfa_required`.
//!
//! Two sequential round trips on success and no argon2 hash: the first wave reads the
//! challenge, the user and the failure slots at once (`shared::lockout`, the limits that protect
//! passwords, so a million-code space cannot be walked); the second is one transaction that
//! spends the challenge, consumes the code (the TOTP step advances, or the recovery code is used
//! up), stores the session and makes the source familiar, beside giving the slots back and the
//! session cap's count (past the cap, a third ends the least recently used sessions). A code is
//! accepted once: of concurrent logins with one code, one wins. A wrong code counts against the
//! account's failure limits and the `mfa_token`, which dies after five.

use std::sync::Arc;

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::{Map, Value};
use shared::account::{code_field, only_fields, proof_of};
use shared::audit::{Action, Audit, Notice, Outcome, Who};
use shared::config::{ConfigError, LoginLimits, SessionConfig, Table, Tables, TokenConfig, Vars};
use shared::http::response::admitted_headers;
use shared::http::{json_response, read_json_object, require_method, session_origin};
use shared::keys::{self, KeySet};
use shared::lockout::Lockout;
use shared::mfa::{self, MfaKey};
use shared::rate_limit::{RateLimiter, source_subject};
use shared::refresh::Sessions;
use shared::roles::RoleScopes;
use shared::store::dynamo::DynamoStore;
use shared::store::{ChallengeOutcome, ChallengeStore, CounterStore, Store, UserStore};
use shared::token::{Subject, TokenResponse, Tokens};
use shared::{ApiError, Clock, RequestMeta, system_clock};

/// What this function reads from its environment.
pub struct Settings {
    /// `USERS_TABLE`, `RATE_LIMIT_TABLE`, `SESSIONS_TABLE`.
    pub tables: Tables,
    /// `LOGIN_IP_*`, `LOGIN_USER_*`: the limits of `POST /login`, shared.
    pub limits: LoginLimits,
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
            token: TokenConfig::from_vars(vars)?,
            session: SessionConfig::from_vars(vars)?,
            audit: Audit::from_vars(vars)?,
            roles: RoleScopes::from_vars(vars)?,
        })
    }
}

/// What the handler needs, built once per cold start.
pub struct Deps {
    /// The users.
    pub users: Arc<dyn UserStore>,
    /// The logins waiting for their second factor.
    pub challenges: Arc<dyn ChallengeStore>,
    /// Per-IP and per-user counters.
    pub limiter: RateLimiter,
    /// The same counters, for the familiar-source marks.
    pub counters: Arc<dyn CounterStore>,
    /// The login policies.
    pub limits: LoginLimits,
    /// The access-token signer.
    pub tokens: Tokens,
    /// Where sessions start.
    pub sessions: Sessions,
    /// Opens the TOTP secrets.
    pub mfa_key: Arc<MfaKey>,
    /// The audit trail.
    pub audit: Audit,
    /// Which roles grant which scopes.
    pub roles: RoleScopes,
    /// Now.
    pub clock: Clock,
}

impl Deps {
    /// What `main` calls: settings, the signing keys and the TOTP sealing key from the
    /// environment, the DynamoDB store, the real clock.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let settings = Settings::from_env()?;
        let store = DynamoStore::connect(settings.tables.clone())?;
        let vars = Vars::env();
        let keys = Arc::new(keys::load(&vars).await?);
        let mfa_key = Arc::new(MfaKey::load(&vars).await?);
        Self::build(settings, store, keys, mfa_key, system_clock())
    }

    /// Assembles the handler's dependencies; `main` and every test call this.
    pub fn build(
        settings: Settings,
        store: Arc<dyn Store>,
        keys: Arc<KeySet>,
        mfa_key: Arc<MfaKey>,
        clock: Clock,
    ) -> Result<Self, ConfigError> {
        keys.require_signing_alg(settings.token.alg)?;
        Ok(Self {
            users: store.clone(),
            challenges: store.clone(),
            limiter: RateLimiter::new(store.clone()),
            counters: store.clone(),
            limits: settings.limits,
            sessions: Sessions::new(store, &keys, settings.session)?,
            tokens: Tokens::new(&settings.token, keys),
            mfa_key,
            audit: settings.audit,
            roles: settings.roles,
            clock,
        })
    }
}

/// Handles one request; every outcome, error or not, is a response.
pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    let meta = RequestMeta::of(&req);
    login_mfa(deps, &req, &meta)
        .await
        .unwrap_or_else(|e| e.into_response(&meta))
}

/// The body: the `mfa_token` and exactly one of `code` and `recovery_code`.
fn parse(body: &Map<String, Value>) -> Result<(&str, &str), ApiError> {
    only_fields(body, &["mfa_token", "code", "recovery_code"])?;
    let token = match body.get("mfa_token") {
        Some(Value::String(t)) if !t.is_empty() && t.len() <= mfa::MAX_MFA_TOKEN_CHARS => t,
        Some(_) => return Err(ApiError::invalid("mfa_token", "is not an mfa_token")),
        None => return Err(ApiError::invalid("mfa_token", "is required")),
    };
    match (
        code_field(body, "code")?,
        code_field(body, "recovery_code")?,
    ) {
        (Some(code), None) if shared::account::is_totp_code(code) => Ok((token, code)),
        // Six digits only: a recovery code sent as `code` is no TOTP code.
        (Some(_), None) => Err(ApiError::invalid("code", "must be 6 digits")),
        (None, Some(code)) if !shared::account::is_totp_code(code) => Ok((token, code)),
        (None, Some(_)) => Err(ApiError::invalid(
            "recovery_code",
            "is a TOTP code: send it as code",
        )),
        _ => Err(ApiError::invalid(
            "code",
            "send exactly one of code and recovery_code",
        )),
    }
}

async fn login_mfa(
    deps: &Deps,
    req: &Request,
    meta: &RequestMeta,
) -> Result<Response<Body>, ApiError> {
    require_method(req, Method::POST)?;
    let body = read_json_object(req)?;
    let (token, code) = parse(&body)?;
    let now = (deps.clock)();
    let action = Action::LoginMfa;
    let Some((key, id)) = mfa::parse_mfa_token(token) else {
        deps.audit
            .refused(meta, action, "invalid_mfa_token", Who::default());
        return Err(ApiError::InvalidMfaToken);
    };
    let limiter = &deps.limiter;

    // First wave: the per-IP slot, the challenge, the account's failure slots (and the
    // source's familiarity) and the user, all at once.
    let source = source_subject(&meta.source_ip);
    let lockout = Lockout::new(limiter, deps.counters.as_ref(), &deps.limits);
    let (ip_slot, challenge, (attempt, user)) = tokio::join!(
        limiter.take(&deps.limits.per_ip, &source, now),
        deps.challenges.challenge(&id),
        lockout.begin(&key, &meta.source_ip, now, deps.users.find(&key)),
    );
    let ip_slot = match ip_slot {
        Ok(slot) => slot,
        Err(e) => {
            if let Ok(attempt) = attempt {
                lockout.abandoned(attempt).await;
            }
            return Err(deps.audit.limited(meta, action, e, Who::default()));
        }
    };
    let (challenge, user) = match (challenge, user) {
        (Ok(challenge), Ok(user)) => (challenge, user),
        (Err(e), _) | (_, Err(e)) => {
            if let Ok(attempt) = attempt {
                lockout.abandoned(attempt).await;
            }
            return Err(e.into());
        }
    };
    let challenge = challenge.filter(|c| c.key == key && c.is_live(now, mfa::MFA_TOKEN_MAX_WRONG));
    let attempt = attempt.map_err(|e| {
        let who = Who::user(challenge.as_ref().map(|c| c.user_id.as_str()), "");
        deps.audit.limited(meta, action, e, who)
    })?;
    // The user the challenge was given to, as they are now: still enabled, MFA still on.
    let user = user.filter(|u| {
        challenge
            .as_ref()
            .is_some_and(|c| u.user_id.as_deref() == Some(c.user_id.as_str()))
            && !u.disabled
            && u.mfa.enabled()
    });
    let (Some(challenge), Some(user)) = (challenge, user) else {
        tokio::join!(lockout.abandoned(attempt), limiter.settle(&ip_slot));
        deps.audit.record(
            meta,
            action,
            Outcome::Failure,
            "invalid_mfa_token",
            Who::default(),
        );
        return Err(ApiError::InvalidMfaToken);
    };
    let who = Who::user(Some(&challenge.user_id), &user.username);

    let Some((proof, amr)) = proof_of(&deps.mfa_key, &user, code, now)? else {
        // Second wave of a wrong code: it counts against the account and the mfa_token.
        let (counted, (), ()) = tokio::join!(
            deps.challenges
                .challenge_failed(&challenge.id, mfa::MFA_TOKEN_MAX_WRONG, now),
            lockout.failed(attempt),
            limiter.settle(&ip_slot),
        );
        counted?;
        deps.audit
            .record(meta, action, Outcome::Failure, "invalid_code", who);
        return Err(ApiError::InvalidLoginCode);
    };

    // Second wave: one transaction spends the challenge, consumes the code, stores the session
    // and makes the source familiar; the slots go back and the per-IP log is trimmed beside it.
    // (A code accepted meanwhile by another request is then no counted failure: it was the
    // right code, not a guess; it still counts against the mfa_token below.)
    let origin = session_origin(req, meta);
    let amr = mfa::amr(amr);
    let (session, started) =
        deps.sessions
            .prepare(&challenge.user_id, &user.username, &origin, &amr, now)?;
    let mark = lockout.familiar_mark(&attempt, now);
    // Beside the transaction, the session cap's look at the user's other sessions.
    let (outcome, survey, (), ()) = tokio::join!(
        deps.challenges.finish_login(
            &challenge,
            mfa::MFA_TOKEN_MAX_WRONG,
            now,
            &proof,
            &session,
            mark.as_ref(),
        ),
        deps.sessions.survey(&session, now),
        limiter.settle(&ip_slot),
        lockout.abandoned(attempt),
    );
    match outcome? {
        ChallengeOutcome::Done => {
            // The user's least recently used sessions past the cap end now, this one stored.
            for evicted in deps.sessions.enforce_cap(&session, survey, now).await {
                let who = Who::session(&challenge.user_id, &evicted, &user.username);
                deps.audit
                    .record(meta, action, Outcome::Success, "session_cap", who);
            }
        }
        ChallengeOutcome::ChallengeSpent => {
            deps.audit
                .record(meta, action, Outcome::Failure, "invalid_mfa_token", who);
            return Err(ApiError::InvalidMfaToken);
        }
        ChallengeOutcome::ProofSpent => {
            // A code accepted meanwhile (a replay, or a concurrent login with the same code).
            deps.challenges
                .challenge_failed(&challenge.id, mfa::MFA_TOKEN_MAX_WRONG, now)
                .await?;
            deps.audit
                .record(meta, action, Outcome::Failure, "code_replayed", who);
            return Err(ApiError::InvalidLoginCode);
        }
    }

    let grant = deps.roles.grant(&user.roles);
    let subject = Subject {
        user_id: &challenge.user_id,
        username: &user.username,
        grant: &grant,
        amr: &session.amr,
    };
    let issued = deps
        .tokens
        .issue_until(&subject, &started.sid, now, started.expires_at)?;
    let by = if shared::account::is_totp_code(code) {
        "totp"
    } else {
        "recovery_code"
    };
    let who = Who::session(&challenge.user_id, &started.sid, &user.username);
    deps.audit.record(meta, action, Outcome::Success, by, who);
    if by == "recovery_code" {
        deps.audit.notify(meta, Notice::RecoveryCodeUsed, who);
    }
    let mut response = json_response(
        StatusCode::OK,
        &TokenResponse::new(issued, started.refresh_token),
    );
    admitted_headers(&ip_slot, &deps.limits.per_ip, response.headers_mut());
    Ok(response)
}
