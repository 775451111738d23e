//! `POST /password/forgot` `{"email"}`: mails a password-reset link to the address, if it is an
//! account's verified one. The answer is the same `202` whatever the address is (verified,
//! unverified, unknown), and whether or not a mail could be sent.
//!
//! The work is kept alike for every well-formed address, so neither the answer nor its timing
//! tells the cases apart: the source IP's slot (`forgot-ip`, the only refusal a client sees) and
//! the address's (`forgot-address`, spent silently) are taken, the address's claim is read, a
//! user is read (under a key no user can have when no one claims the address) and one reset
//! link is written (to that same impossible key, where its condition fails, when no mail is to
//! go out). A store failure up to that point is a `503` for every address alike; after it,
//! nothing changes the answer. What still differs: a verified address's request also calls SES
//! (one `SendEmail`, tens of milliseconds, which the answer waits for), its user read returns an
//! item, and its link write succeeds where the others' condition fails. A request that mails
//! nothing waits instead as long as this container's recent sends took ([`pace`]), so the
//! times match too (`make bench` compares the medians of the three cases).

use std::sync::Arc;

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::{Map, Value, json};
use shared::account::{Contact, only_fields};
use shared::audit::{Action, Audit, Who};
use shared::config::{ConfigError, Limit, Table, Tables, Vars};
use shared::http::{json_response, read_json_object, require_method};
use shared::rate_limit::{RateLimiter, Slot, TakeError, source_subject};
use shared::store::dynamo::DynamoStore;
use shared::store::{Store, UserRecord, UserStore};
use shared::validation::Email;
use shared::{ApiError, Clock, RequestMeta, system_clock};

mod link;
pub mod pace;

/// The one answer of this route.
pub const ANSWER: &str = "If that address belongs to an account, a reset link is on its way";

/// A key no user can have (a username is `[A-Za-z0-9_.-]`, lower-cased) and no other item of the
/// users table has (`email#...` claims): the user read and the link write of an address no one
/// claims. No `#` in it: the store answers a key with one without reading, and this read must
/// happen.
const NO_USER: &str = "!no-user";

/// What this function reads from its environment.
pub struct Settings {
    /// `USERS_TABLE`, `RATE_LIMIT_TABLE`.
    pub tables: Tables,
    /// `FORGOT_IP_*`.
    pub ip_limit: Limit,
    /// `FORGOT_ADDRESS_*`.
    pub address_limit: Limit,
    /// `AUDIT_LOG_USERNAMES`.
    pub audit: Audit,
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
            ip_limit: Limit::forgot_ip(vars)?,
            address_limit: Limit::forgot_address(vars)?,
            audit: Audit::from_vars(vars)?,
        })
    }
}

/// What the handler needs, built once per cold start.
pub struct Deps {
    /// Where addresses' claims and users are read, and reset links written.
    pub users: Arc<dyn UserStore>,
    /// The `forgot-ip` and `forgot-address` logs.
    pub limiter: RateLimiter,
    /// The `forgot-ip` policy (a 429 when spent).
    pub ip_limit: Limit,
    /// The `forgot-address` policy (no mail when spent, the same 202).
    pub address_limit: Limit,
    /// The audit trail.
    pub audit: Audit,
    /// Now.
    pub clock: Clock,
    /// Where links point and how mail goes out; `None` while the stack configures no mail
    /// (`MAIL_FROM`): then no link is made, and the answer is the same.
    pub contact: Option<Contact>,
    /// How long sending takes here: what a request that sends nothing waits.
    pub pace: pace::Pace,
}

impl Deps {
    /// What `main` calls: settings from the environment, the DynamoDB store, SES, the real
    /// clock.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let settings = Settings::from_env()?;
        let store = DynamoStore::connect(settings.tables.clone())?;
        let deps = Self::build(settings, store, system_clock())?;
        Ok(match Contact::from_env()? {
            Some(contact) => deps.with_contact(contact),
            None => deps,
        })
    }

    /// Assembles the handler's dependencies (without mail); `main` and every test call this.
    pub fn build(
        settings: Settings,
        store: Arc<dyn Store>,
        clock: Clock,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            users: store.clone(),
            limiter: RateLimiter::new(store),
            ip_limit: settings.ip_limit,
            address_limit: settings.address_limit,
            audit: settings.audit,
            clock,
            contact: None,
            pace: pace::Pace::default(),
        })
    }

    /// These dependencies with a contact channel.
    pub fn with_contact(mut self, contact: Contact) -> Self {
        self.contact = Some(contact);
        self
    }
}

/// Handles one request; every outcome, error or not, is a response.
pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    let meta = RequestMeta::of(&req);
    forgot(deps, &req, &meta)
        .await
        .unwrap_or_else(|e| e.into_response(&meta))
}

async fn forgot(
    deps: &Deps,
    req: &Request,
    meta: &RequestMeta,
) -> Result<Response<Body>, ApiError> {
    require_method(req, Method::POST)?;
    let body = read_json_object(req)?;
    only_fields(&body, &["email"])?;
    // A malformed address is refused as such: that tells nothing about any account.
    let email = email_field(&body)?;
    let now = (deps.clock)();
    let ip_slot = deps
        .limiter
        .take(&deps.ip_limit, &source_subject(&meta.source_ip), now)
        .await
        .map_err(|e| {
            deps.audit
                .limited(meta, Action::PasswordForgot, e, Who::default())
        })?;

    // Every well-formed address: its slot, its claim, a user. A failure here is a 503 whatever
    // the address is, since nothing has told the cases apart yet.
    let address_key = email.key();
    let (address_slot, owner) = tokio::join!(
        deps.limiter.take(&deps.address_limit, &address_key, now),
        deps.users.email_owner(email.as_ref()),
    );
    let address_slot = match address_slot {
        Ok(slot) => Some(slot),
        Err(TakeError::Refused(_)) => None,
        Err(TakeError::Store(e)) => return Err(e.into()),
    };
    let owner = owner?;
    let user = deps.users.find(owner.as_deref().unwrap_or(NO_USER)).await?;

    // From here on the cases differ, and nothing may change the answer.
    let recipient = owner
        .zip(user)
        .filter(|(_, user)| holds_verified(user, &email));
    tokio::join!(
        link::send(deps, meta, recipient, address_slot.is_some(), now),
        settle(deps, &ip_slot, address_slot.as_ref()),
    );
    Ok(json_response(StatusCode::ACCEPTED, &json!({"msg": ANSWER})))
}

/// The `email` field: a well-formed address, else `400` naming it.
fn email_field(body: &Map<String, Value>) -> Result<Email, ApiError> {
    match body.get("email") {
        Some(Value::String(raw)) => Email::parse(raw).map_err(|m| ApiError::invalid("email", m)),
        Some(_) => Err(ApiError::invalid("email", "must be a string")),
        None => Err(ApiError::invalid("email", "is required")),
    }
}

/// Whether `user` may get a reset link at `email`: enabled, with an id, and `email` is their
/// verified address (compared case-insensitively).
fn holds_verified(user: &UserRecord, email: &Email) -> bool {
    !user.disabled
        && user.user_id.is_some()
        && user
            .email
            .verified
            .as_deref()
            .is_some_and(|verified| verified.to_lowercase() == email.key())
}

/// Lets both logs drop their stale entries (best effort, like every settle).
async fn settle(deps: &Deps, ip_slot: &Slot, address_slot: Option<&Slot>) {
    let address = async {
        if let Some(slot) = address_slot {
            deps.limiter.settle(slot).await;
        }
    };
    tokio::join!(deps.limiter.settle(ip_slot), address);
}
