//! `POST /register` `{"username", "password", "email"?}`: creates a user with an argon2id
//! password hash.
//!
//! With `email` (required when `REQUIRE_EMAIL=true`), the address is stored with the user as
//! waiting for its verification link (one write), and the link is mailed to it. The answer is the
//! same `201` whether or not the address belongs to someone else, and whether or not the mail
//! went out: a mail that could not be sent (SES failing, or a stack with no mail configured) is
//! logged, and `POST /email/resend` sends a new link. The account exists either way.

use std::sync::Arc;

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::{Map, Value, json};
use shared::account::Contact;
use shared::audit::{Action, Audit, Outcome, Who};
use shared::config::{Argon2Config, ConfigError, Limit, PasswordPolicy, Table, Tables, Vars};
use shared::email::{self, VERIFY_TTL_DEFAULT};
use shared::http::{json_response, read_json_object, require_method};
use shared::password::Passwords;
use shared::rate_limit::{RateLimiter, source_subject};
use shared::store::dynamo::DynamoStore;
use shared::store::{CreateUserError, NewUser, PendingEmail, Store, UserStore};
use shared::validation::{Credentials, Email, Purpose};
use shared::{ApiError, Clock, RequestMeta, keyed_token, system_clock};

/// What this function reads from its environment.
pub struct Settings {
    /// `USERS_TABLE`, `RATE_LIMIT_TABLE`.
    pub tables: Tables,
    /// `ARGON2_*`.
    pub argon2: Argon2Config,
    /// `PASSWORD_MIN_LENGTH`, `SERVICE_NAME`.
    pub policy: PasswordPolicy,
    /// `REGISTER_IP_*`.
    pub limit: Limit,
    /// `AUDIT_LOG_USERNAMES`.
    pub audit: Audit,
    /// `REQUIRE_EMAIL`: a registration must give an address (default `false`). Read here, not
    /// from the contact channel, so that a stack that requires addresses requires them even
    /// while it has no mail configured.
    pub require_email: bool,
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&Vars::env())
    }

    /// Reads these variables.
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        Ok(Self {
            tables: Tables::from_vars(vars, &[Table::Users, Table::RateLimits])?,
            argon2: Argon2Config::from_vars(vars)?,
            policy: PasswordPolicy::from_vars(vars)?,
            limit: Limit::register(vars)?,
            audit: Audit::from_vars(vars)?,
            require_email: require_email(vars)?,
        })
    }
}

/// `REQUIRE_EMAIL`: `true` or `false`, `false` when unset.
fn require_email(vars: &Vars) -> Result<bool, ConfigError> {
    vars.get("REQUIRE_EMAIL").map_or(Ok(false), |raw| {
        raw.trim().parse().map_err(|_| ConfigError::Invalid {
            name: "REQUIRE_EMAIL",
            reason: "must be true or false".into(),
        })
    })
}

/// What the handler needs, built once per cold start.
pub struct Deps {
    /// Where users are created.
    pub users: Arc<dyn UserStore>,
    /// The password hasher.
    pub passwords: Passwords,
    /// What a new password must meet.
    pub policy: PasswordPolicy,
    /// The audit trail.
    pub audit: Audit,
    /// Registrations per source IP (`register-ip`).
    pub limiter: RateLimiter,
    /// The `register-ip` policy.
    pub limit: Limit,
    /// Whether a registration must give an address.
    pub require_email: bool,
    /// The contact channel (`PUBLIC_BASE_URL`, `MAIL_FROM`, SES); `None` while the stack
    /// configures no mail (an address is then stored, and its link sent by a later resend).
    pub contact: Option<Contact>,
    /// Now.
    pub clock: Clock,
}

impl Deps {
    /// What `main` calls: settings from the environment, the DynamoDB store, the real clock.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let settings = Settings::from_env()?;
        let store = DynamoStore::connect(settings.tables.clone())?;
        let deps = Self::build(settings, store, system_clock())?;
        Ok(match Contact::from_env()? {
            Some(contact) => deps.with_contact(contact),
            None => deps,
        })
    }

    /// These dependencies with a contact channel.
    pub fn with_contact(mut self, contact: Contact) -> Self {
        self.contact = Some(contact);
        self
    }

    /// Assembles the handler's dependencies; `main` and every test call this.
    pub fn build(
        settings: Settings,
        store: Arc<dyn Store>,
        clock: Clock,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            users: store.clone(),
            passwords: Passwords::new(settings.argon2)?,
            policy: settings.policy,
            audit: settings.audit,
            limiter: RateLimiter::new(store),
            limit: settings.limit,
            require_email: settings.require_email,
            contact: None,
            clock,
        })
    }
}

/// Handles one request; every outcome, error or not, is a response.
pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    let meta = RequestMeta::of(&req);
    register(deps, &req, &meta)
        .await
        .unwrap_or_else(|e| e.into_response(&meta))
}

async fn register(
    deps: &Deps,
    req: &Request,
    meta: &RequestMeta,
) -> Result<Response<Body>, ApiError> {
    require_method(req, Method::POST)?;
    let body = read_json_object(req)?;
    // Every problem at once: the credentials' and the address's.
    let (credentials, email) = match (
        Credentials::parse(&body, Purpose::Register(&deps.policy)),
        email_field(&body, deps.require_email),
    ) {
        (Ok(credentials), Ok(email)) => (credentials, email),
        (credentials, email) => {
            return Err(ApiError::all_of(
                [credentials.err(), email.err()].into_iter().flatten(),
            ));
        }
    };
    let now = (deps.clock)();
    // Before the hash, the only expensive step: valid requests count against the source IP.
    let slot = deps
        .limiter
        .take(&deps.limit, &source_subject(&meta.source_ip), now)
        .await
        .map_err(|e| {
            deps.audit
                .limited(meta, Action::Register, e, Who::default())
        })?;
    let password_hash = deps.passwords.hash(&credentials.password).await?;
    let username = credentials.username.as_ref();
    let key = credentials.username.key();
    // The link's token: only its hash is stored, with the user, in the same write.
    let link = match &email {
        Some(address) => {
            let (token, hash) = keyed_token::new(&key)?;
            let ttl = deps
                .contact
                .as_ref()
                .map_or(VERIFY_TTL_DEFAULT, |c| c.settings.verify_ttl_seconds);
            let pending = PendingEmail {
                address: address.as_ref().to_owned(),
                token: hash,
                expires_at: now + ttl,
            };
            Some((token, pending))
        }
        None => None,
    };
    let user = NewUser {
        key,
        // Random, never derived from the name: a name registered again is another user.
        user_id: uuid::Uuid::new_v4().to_string(),
        username: username.to_owned(),
        password_hash,
        created_at: now,
        pending_email: link.as_ref().map(|(_, pending)| pending.clone()),
    };
    // The per-IP log drops its stale entries beside the write.
    let (created, ()) = tokio::join!(deps.users.create(&user), deps.limiter.settle(&slot));
    let (outcome, reason, result) = match created {
        Ok(()) => (Outcome::Success, "created", Ok(())),
        Err(CreateUserError::AlreadyExists) => {
            (Outcome::Failure, "user_exists", Err(ApiError::UserExists))
        }
        Err(CreateUserError::Store(e)) => return Err(e.into()),
    };
    // The new user's id; none for a name that was taken (the other user is not named).
    let sub = (outcome == Outcome::Success).then_some(user.user_id.as_str());
    deps.audit.record(
        meta,
        Action::Register,
        outcome,
        reason,
        Who::user(sub, username),
    );
    result?;
    if let Some((token, pending)) = &link {
        send_link(deps, &pending.address, token).await;
    }
    Ok(json_response(
        StatusCode::CREATED,
        &json!({"msg": "User registered successfully"}),
    ))
}

/// The optional `email` of a registration (`is required` with `REQUIRE_EMAIL`): a 400 naming
/// the field when it is not an address.
fn email_field(body: &Map<String, Value>, required: bool) -> Result<Option<Email>, ApiError> {
    match body.get("email") {
        None if required => Err(ApiError::invalid("email", "is required")),
        None => Ok(None),
        Some(Value::String(raw)) => Email::parse(raw)
            .map(Some)
            .map_err(|reason| ApiError::invalid("email", reason)),
        Some(_) => Err(ApiError::invalid("email", "must be a string")),
    }
}

/// Mails the verification link for the new user's address. A failure is logged (never the
/// link) and does not fail the registration: the account exists, and `POST /email/resend`
/// sends a new link.
async fn send_link(deps: &Deps, address: &str, token: &str) {
    let Some(contact) = &deps.contact else {
        tracing::warn!("no mail is configured (MAIL_FROM): the verification mail was not sent");
        return;
    };
    let mail = email::verification_mail(&contact.settings, address, token);
    if let Err(e) = contact.mailer.send(&mail).await {
        tracing::warn!(error = %e, "could not send the verification mail; a resend sends it again");
    }
}
