//! The account routes' common part (`POST /password`, `DELETE /account`, `GET /sessions`,
//! `DELETE /sessions`, `DELETE /sessions/{sid}`, `GET /account` and the `/mfa` routes): their
//! settings and dependencies (the functions share them), the caller (a valid access token whose
//! session is still live), the password and code checks (one attempt each, limited like login),
//! the bodies they read, and the JSON view of a session.

use std::sync::Arc;

use lambda_http::Request;
use lambda_http::http::Method;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::Clock;
use crate::audit::{Action, Audit, Outcome, Who};
use crate::config::{
    self, Argon2Config, ConfigError, LoginLimits, PasswordPolicy, Table, Tables, TokenConfig, Vars,
};
use crate::error::{ApiError, FieldErrors};
use crate::http::{RequestMeta, authenticate, read_json_object, require_method};
use crate::keys::KeySet;
use crate::lockout::Lockout;
use crate::password::Passwords;
use crate::rate_limit::RateLimiter;
use crate::store::{Session, SessionStore, Store, UserRecord, UserStore, live_session};
use crate::token::{Claims, Tokens};
use crate::validation::{Credentials, Password, Purpose};

/// What the account functions read from their environment.
pub struct Settings {
    /// `USERS_TABLE`, `SESSIONS_TABLE`, `RATE_LIMIT_TABLE`.
    pub tables: Tables,
    /// `JWT_ISSUER`, `JWT_AUDIENCE`, `JWT_LEEWAY_SECONDS`.
    pub token: TokenConfig,
    /// `AUTH_REALM`.
    pub realm: String,
    /// `LOGIN_USER_*`: a wrong password here counts like a failed login.
    pub limits: LoginLimits,
    /// `ARGON2_*`.
    pub argon2: Argon2Config,
    /// `PASSWORD_MIN_LENGTH`, `SERVICE_NAME`: a new password meets the registration rules.
    pub policy: PasswordPolicy,
    /// `AUDIT_LOG_USERNAMES`.
    pub audit: Audit,
    /// `MFA_ISSUER` (default: `AUTH_REALM`).
    pub mfa_issuer: String,
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&Vars::env())
    }

    /// Reads these variables.
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        Ok(Self {
            tables: Tables::from_vars(vars, &[Table::Users, Table::Sessions, Table::RateLimits])?,
            token: TokenConfig::from_vars(vars)?,
            realm: config::realm(vars),
            limits: LoginLimits::from_vars(vars)?,
            argon2: Argon2Config::from_vars(vars)?,
            policy: PasswordPolicy::from_vars(vars)?,
            audit: Audit::from_vars(vars)?,
            mfa_issuer: config::mfa_issuer(vars)?,
        })
    }
}

/// What an account handler needs, built once per cold start: the verifier (public keys only),
/// the users and their sessions, the failure limits and the password hasher.
pub struct Deps {
    /// The users.
    pub users: Arc<dyn UserStore>,
    /// Their sessions.
    pub sessions: Arc<dyn SessionStore>,
    /// The access-token verifier.
    pub tokens: Tokens,
    /// The realm of 401 challenges.
    pub realm: String,
    /// The login failure counters.
    pub limiter: RateLimiter,
    /// The same counters, for the familiar-source marks.
    pub counters: Arc<dyn crate::store::CounterStore>,
    /// The login failure policies (`shared::lockout`), shared with login.
    pub limits: LoginLimits,
    /// The password hasher.
    pub passwords: Passwords,
    /// The registration rules for a new password.
    pub policy: PasswordPolicy,
    /// The audit trail.
    pub audit: Audit,
    /// Now.
    pub clock: Clock,
    /// The key that opens TOTP secrets (`MFA_KEY*`): loaded by the functions built with the
    /// `mfa` feature (the step-up routes and the MFA routes), `None` elsewhere.
    #[cfg(feature = "mfa")]
    pub mfa_key: Option<Arc<crate::mfa::MfaKey>>,
    /// `MFA_ISSUER`: the issuer an authenticator app shows (the realm by default).
    pub mfa_issuer: String,
    /// The contact channel (`PUBLIC_BASE_URL`, `MAIL_FROM`, SES): loaded by the functions built
    /// with the `mail` feature, `None` elsewhere (their notices are then audit events only).
    #[cfg(feature = "mail")]
    pub contact: Option<Contact>,
}

/// The contact channel of a function that sends mail: its settings and the SES mailer.
#[cfg(feature = "mail")]
#[derive(Debug, Clone)]
pub struct Contact {
    /// `PUBLIC_BASE_URL`, `MAIL_FROM`, link lifetimes, `REQUIRE_EMAIL`.
    pub settings: crate::email::EmailSettings,
    /// The sender.
    pub mailer: crate::mail::Mailer,
}

#[cfg(feature = "mail")]
impl Contact {
    /// The channel of a deployed function: settings from the environment, SES from the SDK
    /// configuration. `None` while the stack configures no mail (`MAIL_FROM` unset): notices
    /// are then audit events only, and what needs a mail says so (503).
    pub fn from_env() -> Result<Option<Self>, ConfigError> {
        let vars = Vars::env();
        if vars.get("MAIL_FROM").is_none() {
            return Ok(None);
        }
        let settings = crate::email::EmailSettings::from_vars(&vars)?;
        let mailer = crate::mail::Mailer::connect(settings.mail_from.clone())?;
        Ok(Some(Self { settings, mailer }))
    }
}

/// The caller of an account route: a valid access token whose session is still live.
#[derive(Debug)]
pub struct Caller {
    /// The token's claims.
    pub claims: Claims,
    /// Its session, as stored now.
    pub session: Session,
}

impl Caller {
    /// The key of the caller's user item (the lower-cased username).
    pub fn key(&self) -> String {
        self.claims.preferred_username.to_ascii_lowercase()
    }
}

impl Deps {
    /// What `main` calls: settings and the public keys from the environment, the DynamoDB
    /// store, the real clock.
    #[cfg(feature = "dynamo")]
    pub async fn from_env() -> Result<Self, ConfigError> {
        let settings = Settings::from_env()?;
        let store = crate::store::dynamo::DynamoStore::connect(settings.tables.clone())?;
        let keys = Arc::new(crate::keys::load_public(&Vars::env()).await?);
        let deps = Self::build(settings, store, keys, crate::system_clock())?;
        #[cfg(feature = "mfa")]
        let deps = deps.with_mfa_key(Arc::new(crate::mfa::MfaKey::load(&Vars::env()).await?));
        #[cfg(feature = "mail")]
        let deps = match Contact::from_env()? {
            Some(contact) => deps.with_contact(contact),
            None => deps,
        };
        Ok(deps)
    }

    /// These dependencies with a contact channel.
    #[cfg(feature = "mail")]
    pub fn with_contact(mut self, contact: Contact) -> Self {
        self.contact = Some(contact);
        self
    }

    /// Where security notices go: an audit event, and a mail to the verified address when
    /// this function has a contact channel.
    #[cfg(feature = "mail")]
    pub fn notifier(&self) -> crate::email::Notifier {
        crate::email::Notifier::new(self.audit, self.contact.as_ref().map(|c| c.mailer.clone()))
    }

    /// The contact channel, or a 503 when the stack configures no mail (`MAIL_FROM`).
    #[cfg(feature = "mail")]
    pub fn contact(&self) -> Result<&Contact, ApiError> {
        self.contact
            .as_ref()
            .ok_or_else(|| ApiError::Unavailable("no mail is configured (MAIL_FROM)".into()))
    }

    /// These dependencies with the key that opens TOTP secrets.
    #[cfg(feature = "mfa")]
    pub fn with_mfa_key(mut self, key: Arc<crate::mfa::MfaKey>) -> Self {
        self.mfa_key = Some(key);
        self
    }

    /// Assembles an account handler's dependencies; `main` and every test call this.
    pub fn build(
        settings: Settings,
        store: Arc<dyn Store>,
        keys: Arc<KeySet>,
        clock: Clock,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            users: store.clone(),
            sessions: store.clone(),
            limiter: RateLimiter::new(store.clone()),
            counters: store,
            tokens: Tokens::new(&settings.token, keys),
            realm: settings.realm,
            limits: settings.limits,
            passwords: Passwords::new(settings.argon2)?,
            policy: settings.policy,
            audit: settings.audit,
            clock,
            #[cfg(feature = "mfa")]
            mfa_key: None,
            mfa_issuer: settings.mfa_issuer,
            #[cfg(feature = "mail")]
            contact: None,
        })
    }

    /// The caller, when the bearer token is valid and its session live (one consistent read):
    /// a token of a revoked, expired or deleted session is `401 invalid_token`, like a bad one.
    pub async fn caller(&self, req: &Request) -> Result<Caller, ApiError> {
        let claims = authenticate(req, &self.tokens, &self.realm)?;
        let now = (self.clock)();
        match live_session(self.sessions.as_ref(), &claims.sid, &claims.sub, now).await? {
            Some(session) => Ok(Caller { claims, session }),
            None => {
                tracing::info!(reason = "session_not_live", "token refused");
                Err(self.invalid_token())
            }
        }
    }

    /// The caller of a route that takes a JSON object body, and that body: the method is checked
    /// first (`405`), then the token and its session (`401`), then the body (`400`).
    pub async fn caller_and_body(
        &self,
        req: &Request,
        method: Method,
    ) -> Result<(Caller, Map<String, Value>), ApiError> {
        require_method(req, method)?;
        let caller = self.caller(req).await?;
        let body = read_json_object(req)?;
        Ok((caller, body))
    }

    /// `user` (the caller's, as read), when it is still the caller and may act: a user gone,
    /// another one of the same name or a disabled one is `401 invalid_token`, like a revoked
    /// session (disabling revokes every session; a token of one still live, after a disable
    /// that failed midway, acts no more than the user could).
    pub fn active_user(
        &self,
        caller: &Caller,
        user: Option<UserRecord>,
    ) -> Result<UserRecord, ApiError> {
        match user.filter(|u| is_caller(caller, u) && !u.disabled) {
            Some(user) => Ok(user),
            None => {
                tracing::info!(reason = "user_gone_or_disabled", "token refused");
                Err(self.invalid_token())
            }
        }
    }

    /// `401 invalid_token`, with this realm's challenge.
    pub fn invalid_token(&self) -> ApiError {
        ApiError::InvalidToken {
            realm: self.realm.clone(),
        }
    }

    /// The caller's user as stored now, if `password` is theirs. Limited like login, before any
    /// hashing (`shared::lockout`: the account-wide `login-user` tiers, or `login-user-source`
    /// from a familiar source; a 429 once spent): a wrong password counts as a failure, the
    /// right one gives the slots back. `Gone` (after one hash, like a wrong password) when the
    /// user is gone.
    pub async fn check_password(
        &self,
        caller: &Caller,
        password: &Password,
        action: Action,
        meta: &RequestMeta,
    ) -> Result<Checked, ApiError> {
        self.attempt(caller, action, meta, async |user, _| {
            let checked = self.verify(caller, password, user, action, meta).await?;
            Ok((checked.settle(), checked))
        })
        .await
    }

    /// [`Deps::check_password`] for a route that also needs the second factor of a user who has
    /// one (a step-up: `POST /password`, `DELETE /account`, `DELETE /mfa/totp`), in the same
    /// limited attempt: with the right password, a missing `code` is `403 mfa_required` (no
    /// failure counted), a wrong, replayed or used-up one `400 invalid_code` (counted like a
    /// wrong password, so codes cannot be walked with a known password), and a right one is
    /// consumed before this returns (one conditional write: a code works once).
    #[cfg(feature = "mfa")]
    pub async fn check_password_and_code(
        &self,
        caller: &Caller,
        password: &Password,
        code: Option<&str>,
        action: Action,
        meta: &RequestMeta,
    ) -> Result<Checked, ApiError> {
        self.attempt(caller, action, meta, async |user, now| {
            let checked = self.verify(caller, password, user, action, meta).await?;
            if let Checked::Matched(user) = &checked
                && user.mfa.enabled()
            {
                self.step_up(caller, user, code, action, meta, now).await?;
            }
            Ok((checked.settle(), checked))
        })
        .await
    }

    /// A code check on the caller's account (`POST /mfa/totp/confirm`, `POST
    /// /mfa/recovery-codes`): `work` runs on the caller's user (an [`Deps::active_user`]) and
    /// `now`, as one attempt limited like a login. Its `400 invalid_code` counts as a failed
    /// login; anything else gives the slots back, a success too, which makes no source familiar
    /// (a right code alone is no login). A refusal on the request's merits (a 4xx) is recorded
    /// in the audit trail; a success is the caller's to record.
    pub async fn check_code<T>(
        &self,
        caller: &Caller,
        action: Action,
        meta: &RequestMeta,
        work: impl AsyncFnOnce(UserRecord, u64) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        self.attempt(caller, action, meta, async |user, now| {
            let result = match self.active_user(caller, user) {
                Ok(user) => work(user, now).await,
                Err(error) => Err(error),
            };
            match result {
                Ok(value) => Ok((Settle::Abandoned, value)),
                Err(error) if error.status().is_client_error() => {
                    Err(self.failure(meta, action, caller, error))
                }
                Err(error) => Err(error),
            }
        })
        .await
    }

    /// Runs `work` as one attempt on the caller's account, limited like a login
    /// (`shared::lockout`): the failure slots are taken, with one read of the caller's user,
    /// before any work (`429 rate_limited` once a policy is spent). `work` gets that user (`None`
    /// when gone or another one of the same name) and `now`; its answer says what becomes of the
    /// slots ([`Settle`]). Of its errors, `400 invalid_code` counts as a failure (a wrong code
    /// is a wrong password); any other, and a failed read, gives them back.
    async fn attempt<T>(
        &self,
        caller: &Caller,
        action: Action,
        meta: &RequestMeta,
        work: impl AsyncFnOnce(Option<UserRecord>, u64) -> Result<(Settle, T), ApiError>,
    ) -> Result<T, ApiError> {
        let now = (self.clock)();
        let key = caller.key();
        let lockout = Lockout::new(&self.limiter, self.counters.as_ref(), &self.limits);
        let (attempt, user) = lockout
            .begin(&key, &meta.source_ip, now, self.users.find(&key))
            .await;
        let attempt =
            attempt.map_err(|e| self.audit.limited(meta, action, e, Who::of(&caller.claims)))?;
        let result = match user {
            Ok(user) => work(user.filter(|u| is_caller(caller, u)), now).await,
            Err(e) => Err(e.into()),
        };
        match &result {
            Ok((Settle::Succeeded, _)) => lockout.succeeded(attempt, now).await,
            Ok((Settle::Failed, _)) | Err(ApiError::InvalidCode) => lockout.failed(attempt).await,
            Ok((Settle::Abandoned, _)) | Err(_) => lockout.abandoned(attempt).await,
        }
        result.map(|(_, value)| value)
    }

    /// The password step of a check, on `user` as read by [`Deps::attempt`]: `Gone` or `Wrong`
    /// after one hash, `Matched` when `password` is theirs, and `401 invalid_token` (recorded)
    /// when it is but the user is disabled.
    async fn verify(
        &self,
        caller: &Caller,
        password: &Password,
        user: Option<UserRecord>,
        action: Action,
        meta: &RequestMeta,
    ) -> Result<Checked, ApiError> {
        let stored = user.as_ref().map(|u| u.password_hash.as_str());
        let matched = self.passwords.verify(password, stored).await?;
        match user {
            // Disabling revokes every session; a token of one still live (a disable that
            // failed midway, or a store changed by hand) acts no more than the user could.
            Some(user) if matched && user.disabled => {
                tracing::info!(reason = "user_disabled", "token refused");
                let error = self.invalid_token();
                self.audit
                    .refused(meta, action, error.code(), Who::of(&caller.claims));
                Err(error)
            }
            Some(user) if matched => Ok(Checked::Matched(user)),
            Some(user) => Ok(Checked::Wrong(user)),
            None => Ok(Checked::Gone),
        }
    }

    /// The second factor of a step-up for `user`, whose password was right: `code` consumed, or
    /// `403 mfa_required` without one, `400 invalid_code` (recorded) when it does not pass.
    #[cfg(feature = "mfa")]
    async fn step_up(
        &self,
        caller: &Caller,
        user: &UserRecord,
        code: Option<&str>,
        action: Action,
        meta: &RequestMeta,
        now: u64,
    ) -> Result<(), ApiError> {
        let who = Who::of(&caller.claims);
        let Some(code) = code else {
            self.audit.refused(meta, action, "mfa_required", who);
            return Err(ApiError::MfaRequired);
        };
        let consumed = match self.proof(user, code, now)? {
            Some((proof, _)) => {
                self.users
                    .update_mfa(
                        &caller.key(),
                        &caller.claims.sub,
                        &proof,
                        &crate::store::MfaChange::Consume,
                    )
                    .await?
            }
            None => false,
        };
        if !consumed {
            return Err(self.failure(meta, action, caller, ApiError::InvalidCode));
        }
        if let Some(notice) = recovery_notice(code) {
            self.audit.notify(meta, notice, who);
        }
        Ok(())
    }

    /// The key that opens TOTP secrets: a `500` in a function built without one (a wiring
    /// mistake: `main` of every function with the `mfa` feature loads it).
    #[cfg(feature = "mfa")]
    pub fn mfa_key(&self) -> Result<&crate::mfa::MfaKey, ApiError> {
        self.mfa_key
            .as_deref()
            .ok_or_else(|| ApiError::Internal("this function holds no mfa key".into()))
    }

    /// The proof `code` gives for `user`'s second factor (six digits: a TOTP code, else a
    /// recovery code) and the `amr` it earns; `None` when it is wrong, already accepted or used
    /// up (as far as `user` shows: the conditional write that consumes it decides).
    #[cfg(feature = "mfa")]
    pub fn proof(
        &self,
        user: &UserRecord,
        code: &str,
        now: u64,
    ) -> Result<Option<(crate::store::MfaProof, &'static [&'static str])>, ApiError> {
        proof_of(self.mfa_key()?, user, code, now)
    }

    /// Records a refused password and returns its `401`.
    pub fn wrong_password(&self, meta: &RequestMeta, action: Action, caller: &Caller) -> ApiError {
        self.failure(meta, action, caller, ApiError::InvalidCredentials)
    }

    /// Records `error` as the caller's failed request (`Outcome::Failure`, its code) and
    /// returns it.
    pub fn failure(
        &self,
        meta: &RequestMeta,
        action: Action,
        caller: &Caller,
        error: ApiError,
    ) -> ApiError {
        self.audit.record(
            meta,
            action,
            Outcome::Failure,
            error.code(),
            Who::of(&caller.claims),
        );
        error
    }
}

/// Whether `user` is the caller's user: a new user of the same name is not.
fn is_caller(caller: &Caller, user: &UserRecord) -> bool {
    user.user_id.as_deref() == Some(caller.claims.sub.as_str())
}

/// What an attempt's outcome does to its failure slots (`shared::lockout`).
enum Settle {
    /// A right password: given back, and the source becomes familiar.
    Succeeded,
    /// A wrong password: the slots that count stay taken.
    Failed,
    /// No login either way: given back, nothing made familiar.
    Abandoned,
}

/// The proof `code` gives for `user`'s second factor under `key`: see [`Deps::proof`].
#[cfg(feature = "mfa")]
pub fn proof_of(
    key: &crate::mfa::MfaKey,
    user: &UserRecord,
    code: &str,
    now: u64,
) -> Result<Option<(crate::store::MfaProof, &'static [&'static str])>, ApiError> {
    use crate::mfa;
    use crate::store::MfaProof;
    let (Some(user_id), Some(sealed)) = (user.user_id.as_deref(), user.mfa.totp.as_deref()) else {
        return Ok(None);
    };
    if is_totp_code(code) {
        let secret = key.open(user_id, sealed)?;
        return Ok(mfa::check_totp(&secret, code, now)
            .filter(|step| *step > user.mfa.last_step)
            .map(|step| (MfaProof::Step(step), mfa::AMR_TOTP)));
    }
    Ok(mfa::recovery_code_hash(user_id, code)
        .filter(|hash| user.mfa.recovery.contains(hash))
        .map(|hash| (MfaProof::RecoveryCode(hash), mfa::AMR_RECOVERY_CODE)))
}

/// Six ASCII digits: a TOTP code (a recovery code has 16 characters).
#[cfg(feature = "mfa")]
pub fn is_totp_code(code: &str) -> bool {
    code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit())
}

/// The notification a used `code` calls for: a recovery code's use is told to the user.
#[cfg(feature = "mfa")]
fn recovery_notice(code: &str) -> Option<crate::audit::Notice> {
    (!is_totp_code(code)).then_some(crate::audit::Notice::RecoveryCodeUsed)
}

/// A code field of a body (`code`, `recovery_code`): absent is `None`; present, a string of at
/// most [`crate::mfa::MAX_CODE_CHARS`] characters, else `400` naming it.
pub fn code_field<'b>(
    body: &'b Map<String, Value>,
    field: &str,
) -> Result<Option<&'b str>, ApiError> {
    const MAX: usize = 64;
    match body.get(field) {
        None => Ok(None),
        Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= MAX => Ok(Some(s)),
        Some(Value::String(_)) => Err(ApiError::invalid(field, "must be 1 to 64 characters")),
        Some(_) => Err(ApiError::invalid(field, "must be a string")),
    }
}

/// The body of a route that takes nothing but a TOTP code, `{"code"}`: six digits, else `400`
/// naming the field (`not_six_digits` is the message for a code of another form).
#[cfg(feature = "mfa")]
pub fn totp_code_body<'b>(
    body: &'b Map<String, Value>,
    not_six_digits: &str,
) -> Result<&'b str, ApiError> {
    only_fields(body, &["code"])?;
    match code_field(body, "code")? {
        Some(code) if is_totp_code(code) => Ok(code),
        Some(_) => Err(ApiError::invalid("code", not_six_digits)),
        None => Err(ApiError::invalid("code", "is required")),
    }
}

/// The body of a step-up route, `{"password", "code"}` (the code only for a user with MFA):
/// the password bounded like login's ([`password_field`]) and the code ([`code_field`]).
pub fn password_and_code<'b>(
    body: &'b Map<String, Value>,
    username: &str,
) -> Result<(Password, Option<&'b str>), ApiError> {
    only_fields(body, &["password", "code"])?;
    let password = password_field(body, "password", username)?;
    Ok((password, code_field(body, "code")?))
}

/// What [`Deps::check_password`] found.
#[derive(Debug)]
pub enum Checked {
    /// The password is right.
    Matched(UserRecord),
    /// The password is wrong (the failure is counted).
    Wrong(UserRecord),
    /// The caller's user no longer exists.
    Gone,
}

impl Checked {
    /// A right password is a login's success; anything else counts as a failure.
    fn settle(&self) -> Settle {
        match self {
            Checked::Matched(_) => Settle::Succeeded,
            Checked::Wrong(_) | Checked::Gone => Settle::Failed,
        }
    }
}

/// A password field of a body, bounded like login's before it reaches argon2: `400` naming
/// `field` otherwise.
pub fn password_field(
    body: &Map<String, Value>,
    field: &str,
    username: &str,
) -> Result<Password, ApiError> {
    parse_password(body, field, username, Purpose::Login)
}

/// A new password, held to the registration rules (length, blocklist, context words, NFKC):
/// `400` naming `field` otherwise.
pub fn new_password_field(
    body: &Map<String, Value>,
    field: &str,
    username: &str,
    policy: &PasswordPolicy,
) -> Result<Password, ApiError> {
    parse_password(body, field, username, Purpose::Register(policy))
}

/// Runs the one credentials validator on `{username, password: body[field]}`, so a password is
/// checked here exactly as at registration or login, and renames its field in the `details`.
fn parse_password(
    body: &Map<String, Value>,
    field: &str,
    username: &str,
    purpose: Purpose<'_>,
) -> Result<Password, ApiError> {
    let mut input = Map::new();
    input.insert("username".into(), Value::String(username.to_owned()));
    if let Some(value) = body.get(field) {
        input.insert("password".into(), value.clone());
    }
    match Credentials::parse(&input, purpose) {
        Ok(credentials) => Ok(credentials.password),
        Err(ApiError::Validation(mut details)) => {
            // The token's username was valid at registration; only the password's messages
            // are about this request.
            let messages = details
                .remove("password")
                .unwrap_or_else(|| vec!["is invalid".into()]);
            let mut out = FieldErrors::new();
            out.insert(field.to_owned(), messages);
            Err(ApiError::Validation(out))
        }
        Err(other) => Err(other),
    }
}

/// Refuses a body field that is not one of `allowed` (400, naming it).
pub fn only_fields(body: &Map<String, Value>, allowed: &[&str]) -> Result<(), ApiError> {
    let mut details = FieldErrors::new();
    for name in body.keys().filter(|k| !allowed.contains(&k.as_str())) {
        details.insert(name.clone(), vec!["is not a field of this request".into()]);
    }
    if details.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(details))
    }
}

/// A session as `GET /sessions` shows it.
#[derive(Debug, Serialize)]
pub struct SessionView {
    /// The session id.
    pub sid: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// RFC 3339, UTC: the last refresh (its start, until then).
    pub last_used_at: String,
    /// RFC 3339, UTC: the absolute end.
    pub expires_at: String,
    /// The login's source IP.
    pub source_ip: String,
    /// The login's `User-Agent` (at most 256 characters).
    pub user_agent: String,
    /// Whether it is the session of the token that asked.
    pub current: bool,
}

impl SessionView {
    /// The view of `session`, `current` when it is the caller's.
    pub fn of(session: Session, current_sid: &str) -> Self {
        Self {
            current: session.id == current_sid,
            sid: session.id,
            created_at: rfc3339(session.created_at),
            last_used_at: rfc3339(session.last_used_at),
            expires_at: rfc3339(session.expires_at),
            source_ip: session.source_ip,
            user_agent: session.user_agent,
        }
    }
}

fn rfc3339(epoch: u64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(epoch);
    humantime::format_rfc3339_seconds(at).to_string()
}
