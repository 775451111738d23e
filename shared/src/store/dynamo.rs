//! The DynamoDB implementation of the store traits.
//!
//! Every write that decides something is conditional: a user is put only if its key is absent,
//! an entry is appended to a rate-limit log only while it has room (see [`counters`]). DynamoDB
//! evaluates the condition and the write as one atomic step, which is what makes concurrent
//! registrations and logins exact.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use futures_util::{StreamExt, stream};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use crate::config::{ConfigError, Tables};

use crate::store::{
    AccessChange, Admission, BoxError, Challenge, ChallengeOutcome, ChallengeStore, Claim,
    CounterStore, CreateUserError, EmailState, Eviction, FamiliarMark, GuardedChange, MfaChange,
    MfaProof, MfaState, NewUser, PendingEmail, RemainingAdmin, Session, SessionCursor, SessionPage,
    SessionStore, SessionUse, StoreError, UserRecord, UserStore, VerifyOutcome,
};

use crate::aws::sdk_config;

mod counters;
mod sessions;

/// The sessions table's index by user id (see `template.yaml`).
pub const SESSIONS_BY_USER: &str = "by-user";

/// Session writes in flight at once when one request ends many sessions (ending every session,
/// a password change, deleting an account): a user can hold any number of sessions, and one
/// request per session all at once would open as many connections from one Lambda and burst
/// against the table (on the local server, a single-threaded one, the last of 200 such writes
/// waited past the SDK's 1 s attempt timeout).
pub const SESSION_WRITES_IN_FLIGHT: usize = 16;

/// Runs every one of `writes`, [`SESSION_WRITES_IN_FLIGHT`] at a time (a few round trips of
/// latency for a user with many sessions, never one request per session at once), and fails if
/// any failed. Each write is idempotent, so a retry of the whole request completes the job.
async fn all_session_writes<F>(writes: Vec<F>) -> Result<(), StoreError>
where
    F: std::future::Future<Output = Result<(), StoreError>>,
{
    let results: Vec<_> = stream::iter(writes)
        .buffer_unordered(SESSION_WRITES_IN_FLIGHT)
        .collect()
        .await;
    results.into_iter().collect()
}

/// Users and counters in DynamoDB.
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    tables: Tables,
}

impl DynamoStore {
    /// Whether a conditional write of the password hash `new` on `key` was done: yes on
    /// success; on a refused condition, yes only if the stored hash is `new` (our own write
    /// retried by the SDK after its answer was lost: a new hash, with its random salt, is ours
    /// alone), no otherwise.
    async fn hash_written<E>(
        &self,
        result: Result<
            E,
            SdkError<
                aws_sdk_dynamodb::operation::update_item::UpdateItemError,
                aws_sdk_dynamodb::config::http::HttpResponse,
            >,
        >,
        key: &str,
        new: &str,
        op: &'static str,
    ) -> Result<bool, StoreError> {
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(self
                .find(key)
                .await?
                .is_some_and(|u| u.password_hash == new)),
            Err(e) => Err(classify(op, e)),
        }
    }

    /// A store on `client` with these table names.
    pub fn new(client: Client, tables: Tables) -> Self {
        Self { client, tables }
    }

    /// The store a deployed function uses: the SDK configured from the environment (region,
    /// credentials, `AWS_ENDPOINT_URL_DYNAMODB` for local runs; see [`sdk_config`]), shared by
    /// every view a function's `Deps` keeps of it.
    pub fn connect(tables: Tables) -> Result<std::sync::Arc<Self>, ConfigError> {
        Ok(std::sync::Arc::new(Self::new(
            Client::new(&sdk_config()?),
            tables,
        )))
    }
}

/// The user item. The key `pk` is the lower-cased username.
#[derive(Serialize, Deserialize)]
struct UserItem {
    pk: String,
    /// Absent on users stored before ids existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user_id: Option<String>,
    username: String,
    password_hash: String,
    created_at: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    roles: Vec<String>,
    // Absent while false: registration writes no `disabled` (nor `roles`), so its IAM policy
    // can leave both out.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    disabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    password_changed_by: Option<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    sources_epoch: u64,
    // The second factor (`MfaState`), absent while off. Written only by `update_mfa`, which
    // writes `recovery_codes` as a string set, so a code is used up by deleting its element.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    totp_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    totp_pending: Option<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    totp_step: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    recovery_codes: Vec<String>,
    /// A random id written by each second-factor change, so a retried write (its first answer
    /// lost) can recognise its own change instead of refusing a code it consumed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mfa_write: Option<String>,
    // The contact address (`EmailState`), absent until given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    email_pending: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    email_token: Option<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    email_token_expires: u64,
    /// A random id written by each verification, so its retried transaction (first answer lost)
    /// recognises its own write, and no other use of the link does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    email_write: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reset_token: Option<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    reset_expires: u64,
}

/// The item that claims a verified address for one user, in the users table under
/// `email#<lower-cased address>` (a username never holds `#`, so no user key collides).
#[derive(Serialize, Deserialize)]
struct EmailClaimItem {
    pk: String,
    user_id: String,
    user_key: String,
}

fn email_claim_key(address: &str) -> String {
    format!("email#{}", address.to_lowercase())
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl UserItem {
    fn into_record(self) -> UserRecord {
        UserRecord {
            user_id: self.user_id,
            username: self.username,
            password_hash: self.password_hash,
            roles: self.roles,
            disabled: self.disabled,
            created_at: self.created_at,
            password_changed_by: self.password_changed_by,
            sources_epoch: self.sources_epoch,
            mfa: MfaState {
                totp: self.totp_secret,
                pending: self.totp_pending,
                last_step: self.totp_step,
                recovery: self.recovery_codes,
            },
            email: EmailState {
                verified: self.email,
                pending: self.email_pending,
                token: self.email_token,
                token_expires_at: self.email_token_expires,
                reset_token: self.reset_token,
                reset_expires_at: self.reset_expires,
            },
        }
    }
}

/// A second-factor change as an update of a user item (see [`UserStore::update_mfa`]).
struct MfaWrite {
    update: String,
    condition: String,
    values: HashMap<String, AttributeValue>,
}

impl MfaWrite {
    /// The update; `write_id` (when given) is stored in `mfa_write` beside the change.
    fn new(user_id: &str, proof: &MfaProof, change: &MfaChange, write_id: Option<&str>) -> Self {
        let mut set = Vec::new();
        let mut remove = Vec::new();
        let mut delete = Vec::new();
        let mut conditions = vec!["user_id = :id".to_owned()];
        let mut values = HashMap::from([(":id".to_owned(), AttributeValue::S(user_id.to_owned()))]);
        if let Some(id) = write_id {
            values.insert(":write".into(), AttributeValue::S(id.to_owned()));
            set.push("mfa_write = :write");
        }
        // A change that removes or replaces an attribute the proof would write takes over
        // that write; the proof's condition stays.
        let removing = matches!(change, MfaChange::Remove);
        let confirming = matches!(change, MfaChange::Confirm { .. });
        let replacing_codes = matches!(change, MfaChange::RecoveryCodes(_));
        match proof {
            MfaProof::Nothing => {}
            MfaProof::Step(step) => {
                values.insert(":step".into(), n(step));
                if confirming {
                    // The first code of a new secret: no step of it was accepted before.
                } else {
                    conditions.push(
                        "attribute_exists(totp_secret) AND                          (attribute_not_exists(totp_step) OR totp_step < :step)"
                            .into(),
                    );
                }
                if !removing {
                    set.push("totp_step = :step");
                }
            }
            MfaProof::RecoveryCode(hash) => {
                values.insert(":code".into(), AttributeValue::S(hash.clone()));
                conditions.push("contains(recovery_codes, :code)".into());
                if !removing && !replacing_codes {
                    values.insert(":codes_used".into(), AttributeValue::Ss(vec![hash.clone()]));
                    delete.push("recovery_codes :codes_used");
                }
            }
        }
        match change {
            MfaChange::Consume => {}
            MfaChange::Pending(sealed) => {
                values.insert(":pending".into(), AttributeValue::S(sealed.clone()));
                set.push("totp_pending = :pending");
                conditions.push("attribute_not_exists(totp_secret)".into());
            }
            MfaChange::Confirm { pending, recovery } => {
                values.insert(":pending".into(), AttributeValue::S(pending.clone()));
                values.insert(":codes".into(), AttributeValue::Ss(recovery.clone()));
                set.push("totp_secret = :pending");
                set.push("recovery_codes = :codes");
                remove.push("totp_pending");
                conditions
                    .push("totp_pending = :pending AND attribute_not_exists(totp_secret)".into());
            }
            MfaChange::RecoveryCodes(recovery) => {
                values.insert(":codes".into(), AttributeValue::Ss(recovery.clone()));
                set.push("recovery_codes = :codes");
                conditions.push("attribute_exists(totp_secret)".into());
            }
            MfaChange::Remove => {
                remove.extend([
                    "totp_secret",
                    "totp_pending",
                    "totp_step",
                    "recovery_codes",
                    "mfa_write",
                ]);
            }
        }
        let mut update = Vec::new();
        if !set.is_empty() {
            update.push(format!("SET {}", set.join(", ")));
        }
        if !remove.is_empty() {
            update.push(format!("REMOVE {}", remove.join(", ")));
        }
        if !delete.is_empty() {
            update.push(format!("DELETE {}", delete.join(", ")));
        }
        Self {
            update: update.join(" "),
            condition: conditions.join(" AND "),
            values,
        }
    }
}

/// A login's challenge in the rate-limit table, under `mfa#<id>`.
#[derive(Serialize, Deserialize)]
struct ChallengeItem {
    pk: String,
    user_key: String,
    user_id: String,
    expires_at: u64,
    #[serde(default)]
    wrong: u32,
    #[serde(default)]
    used: bool,
}

fn challenge_key(id: &str) -> String {
    format!("mfa#{id}")
}

/// The condition under which a challenge is live (`Challenge::is_live`).
const CHALLENGE_LIVE: &str =
    "attribute_exists(pk) AND used = :unused AND expires_at > :now AND wrong < :max";

fn challenge_live_values(max_wrong: u32, now: u64) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (":unused".to_owned(), AttributeValue::Bool(false)),
        (":now".to_owned(), n(now)),
        (":max".to_owned(), n(max_wrong)),
    ])
}

/// The session item. The key `pk` is the session id; `expires_at` is the TTL attribute.
#[derive(Serialize, Deserialize)]
struct SessionItem {
    pk: String,
    /// Absent on sessions started before ids existed (and never written empty: it is the key
    /// of the `by-user` index, which takes no empty string).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    user_id: String,
    username: String,
    created_at: u64,
    expires_at: u64,
    generation: u64,
    rotated_at: u64,
    revoked: bool,
    /// Absent on sessions started before it was kept: `rotated_at` stands in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_used_at: Option<u64>,
    #[serde(default)]
    source_ip: String,
    #[serde(default)]
    user_agent: String,
    /// A random id written by each rotation, so a retried rotation can recognise its own write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rotation_id: Option<String>,
    /// How the user authenticated at login (absent on sessions started before it was kept).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    amr: Vec<String>,
}

/// A conditional write's answer: whether it was written (false when its condition failed).
fn written<T, E>(
    result: Result<T, SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>>,
    op: &'static str,
) -> Result<bool, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(true),
        Err(e) if is_condition_failure(&e) => Ok(false),
        Err(e) => Err(classify(op, e)),
    }
}

/// For a cancelled transaction, which of its items' conditions failed (in the order of the
/// items); `None` for any other error.
fn failed_conditions(
    error: &SdkError<
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError,
        aws_sdk_dynamodb::config::http::HttpResponse,
    >,
) -> Option<Vec<bool>> {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    match error.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(c)) => Some(
            c.cancellation_reasons()
                .iter()
                .map(|r| r.code() == Some("ConditionalCheckFailed"))
                .collect(),
        ),
        _ => None,
    }
}

/// Sorts an SDK error into "retry later" (503) or "something is wrong" (500).
fn classify<E>(
    op: &'static str,
    err: SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let unavailable = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(e) => {
            e.raw().status().is_server_error()
                || matches!(
                    e.err().code(),
                    Some(
                        "ThrottlingException"
                            | "ProvisionedThroughputExceededException"
                            | "RequestLimitExceeded"
                            | "LimitExceededException"
                            | "InternalServerError"
                            | "ServiceUnavailable"
                    )
                )
        }
        _ => false,
    };
    let source: BoxError = Box::new(err);
    if unavailable {
        StoreError::Unavailable { op, source }
    } else {
        StoreError::Failed { op, source }
    }
}

fn decode_failed(op: &'static str, e: serde_dynamo::Error) -> StoreError {
    StoreError::Failed {
        op,
        source: Box::new(e),
    }
}

fn is_condition_failure<E>(e: &SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>) -> bool
where
    E: ProvideErrorMetadata,
{
    e.as_service_error()
        .and_then(|s| s.code())
        .is_some_and(|c| c == "ConditionalCheckFailedException")
}

/// One access change as an update of a user item: the expression, the condition (the user
/// exists, and with `user_id` is still that user) and their names and values. `None` when the
/// change changes nothing.
struct AccessWrite {
    update: String,
    condition: String,
    names: Option<HashMap<String, String>>,
    values: HashMap<String, AttributeValue>,
}

impl AccessWrite {
    fn new(user_id: Option<&str>, change: &AccessChange) -> Option<Self> {
        let mut sets = Vec::new();
        let mut names = None;
        let mut values = HashMap::new();
        if let Some(roles) = &change.roles {
            sets.push("#roles = :roles");
            names = Some(HashMap::from([("#roles".to_owned(), "roles".to_owned())]));
            let list = roles.iter().map(|r| AttributeValue::S(r.clone())).collect();
            values.insert(":roles".to_owned(), AttributeValue::L(list));
        }
        if let Some(disabled) = change.disabled {
            sets.push("disabled = :disabled");
            values.insert(":disabled".to_owned(), AttributeValue::Bool(disabled));
        }
        if sets.is_empty() {
            return None;
        }
        let mut update = format!("SET {}", sets.join(", "));
        if change.disabled == Some(true) {
            // A disabled user's familiar sources are forgotten (see `forget_sources`).
            update.push_str(" ADD sources_epoch :one");
            values.insert(":one".to_owned(), n(1));
        }
        let mut condition = "attribute_exists(pk)".to_owned();
        if let Some(id) = user_id {
            condition.push_str(" AND user_id = :id");
            values.insert(":id".to_owned(), AttributeValue::S(id.to_owned()));
        }
        Some(Self {
            update,
            condition,
            names,
            values,
        })
    }
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

#[async_trait]
impl UserStore for DynamoStore {
    #[tracing::instrument(name = "users.create", skip_all)]
    async fn create(&self, user: &NewUser) -> Result<(), CreateUserError> {
        let item = UserItem {
            pk: user.key.clone(),
            user_id: Some(user.user_id.clone()),
            username: user.username.clone(),
            password_hash: user.password_hash.clone(),
            created_at: user.created_at,
            roles: Vec::new(),
            disabled: false,
            password_changed_by: None,
            sources_epoch: 0,
            totp_secret: None,
            totp_pending: None,
            totp_step: 0,
            recovery_codes: Vec::new(),
            mfa_write: None,
            email: None,
            email_pending: user.pending_email.as_ref().map(|p| p.address.clone()),
            email_token: user.pending_email.as_ref().map(|p| p.token.clone()),
            email_token_expires: user.pending_email.as_ref().map_or(0, |p| p.expires_at),
            email_write: None,
            reset_token: None,
            reset_expires: 0,
        };
        if self
            .put_new(&self.tables.users, item, "creating user")
            .await?
        {
            return Ok(());
        }
        // The key was taken. The SDK retries a request whose answer was lost; if the first try
        // was written, the retry fails its condition against our own item. The hash (with its
        // random salt) tells ours from someone else's, so that is no false 409.
        match self.find(&user.key).await? {
            Some(found) if found.password_hash == user.password_hash => Ok(()),
            _ => Err(CreateUserError::AlreadyExists),
        }
    }

    #[tracing::instrument(name = "users.find", skip_all)]
    async fn find(&self, key: &str) -> Result<Option<UserRecord>, StoreError> {
        // A user's key is a username, which never holds `#`: the users table's other items
        // (`email#<address>` claims) are no user, whatever key a forged token names.
        if key.contains('#') {
            return Ok(None);
        }
        let user: Option<UserItem> = self.get(&self.tables.users, key, "reading user").await?;
        Ok(user.map(UserItem::into_record))
    }

    #[tracing::instrument(name = "users.replace_hash", skip_all)]
    async fn replace_hash(&self, key: &str, old: &str, new: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.users)
            .key("pk", AttributeValue::S(key.to_owned()))
            .update_expression("SET password_hash = :new")
            .condition_expression("password_hash = :old")
            .expression_attribute_values(":new", AttributeValue::S(new.to_owned()))
            .expression_attribute_values(":old", AttributeValue::S(old.to_owned()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Changed meanwhile (another login rehashed it first): keep that one.
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(classify("replacing password hash", e)),
        }
    }

    #[tracing::instrument(name = "users.update_access", skip_all)]
    async fn update_access(
        &self,
        key: &str,
        user_id: Option<&str>,
        change: &AccessChange,
    ) -> Result<bool, StoreError> {
        const OP: &str = "updating user access";
        let Some(write) = AccessWrite::new(user_id, change) else {
            return Ok(self.find(key).await?.is_some());
        };
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.users)
            .key("pk", AttributeValue::S(key.to_owned()))
            .update_expression(write.update)
            .condition_expression(write.condition)
            .set_expression_attribute_names(write.names)
            .set_expression_attribute_values(Some(write.values))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            // Gone (or replaced by a new user of the same name): nothing is created.
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(classify(OP, e)),
        }
    }

    #[tracing::instrument(name = "users.update_access_keeping_admin", skip_all)]
    async fn update_access_keeping_admin(
        &self,
        key: &str,
        user_id: Option<&str>,
        change: &AccessChange,
        remaining: &RemainingAdmin<'_>,
    ) -> Result<GuardedChange, StoreError> {
        const OP: &str = "updating user access (keeping an admin)";
        let Some(write) = AccessWrite::new(user_id, change) else {
            return Ok(GuardedChange::Updated);
        };
        let invalid = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Failed {
            op: OP,
            source: Box::new(e),
        };
        let update = aws_sdk_dynamodb::types::Update::builder()
            .table_name(&self.tables.users)
            .key("pk", AttributeValue::S(key.to_owned()))
            .update_expression(write.update)
            .condition_expression(write.condition)
            .set_expression_attribute_names(write.names)
            .set_expression_attribute_values(Some(write.values))
            .build()
            .map_err(invalid)?;
        // The admin who remains: the same user, enabled, holding a role that grants `admin`.
        let mut values = HashMap::from([
            (
                ":id".to_owned(),
                AttributeValue::S(remaining.user_id.to_owned()),
            ),
            (":enabled".to_owned(), AttributeValue::Bool(false)),
        ]);
        let mut holds = Vec::new();
        for (i, role) in remaining.admin_roles.iter().enumerate() {
            values.insert(format!(":r{i}"), AttributeValue::S(role.clone()));
            holds.push(format!("contains(#roles, :r{i})"));
        }
        if holds.is_empty() {
            return Ok(GuardedChange::NoAdminWouldRemain);
        }
        let check = aws_sdk_dynamodb::types::ConditionCheck::builder()
            .table_name(&self.tables.users)
            .key("pk", AttributeValue::S(remaining.key.to_owned()))
            .condition_expression(format!(
                "user_id = :id AND (attribute_not_exists(disabled) OR disabled = :enabled) \
                 AND ({})",
                holds.join(" OR ")
            ))
            .expression_attribute_names("#roles", "roles")
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(invalid)?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(
                aws_sdk_dynamodb::types::TransactWriteItem::builder()
                    .update(update)
                    .build(),
            )
            .transact_items(
                aws_sdk_dynamodb::types::TransactWriteItem::builder()
                    .condition_check(check)
                    .build(),
            )
            .send()
            .await;
        let error = match result {
            Ok(_) => return Ok(GuardedChange::Updated),
            Err(e) => e,
        };
        let Some(failed) = failed_conditions(&error) else {
            return Err(classify(OP, error));
        };
        match failed.as_slice() {
            [true, ..] => Ok(GuardedChange::Gone),
            [_, true] => Ok(GuardedChange::NoAdminWouldRemain),
            // Cancelled for another reason (a conflicting transaction): a retry may succeed, so
            // it is a 503 (classify would call the 400 it came as a 500).
            _ => Err(StoreError::Unavailable {
                op: OP,
                source: Box::new(error),
            }),
        }
    }

    #[tracing::instrument(name = "users.forget_sources", skip_all)]
    async fn forget_sources(&self, key: &str, user_id: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.users)
            .key("pk", AttributeValue::S(key.to_owned()))
            .update_expression("ADD sources_epoch :one")
            .condition_expression("user_id = :id")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":id", AttributeValue::S(user_id.to_owned()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Gone, or another user of that name now: nothing of theirs to forget.
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(classify("forgetting familiar sources", e)),
        }
    }

    #[tracing::instrument(name = "users.assign_id", skip_all)]
    async fn assign_id(&self, key: &str, proposed: &str) -> Result<Option<String>, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.users)
            .key("pk", AttributeValue::S(key.to_owned()))
            .update_expression("SET user_id = :id")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(user_id)")
            .expression_attribute_values(":id", AttributeValue::S(proposed.to_owned()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Some(proposed.to_owned())),
            // Gone, or given an id meanwhile (by a concurrent login, or by our own retried
            // write whose answer was lost): the stored id is the one.
            Err(e) if is_condition_failure(&e) => Ok(self.find(key).await?.and_then(|u| u.user_id)),
            Err(e) => Err(classify("assigning user id", e)),
        }
    }

    #[tracing::instrument(name = "users.change_password", skip_all)]
    async fn change_password(
        &self,
        key: &str,
        user_id: &str,
        old: &str,
        new: &str,
        by: &str,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.users)
            .key("pk", AttributeValue::S(key.to_owned()))
            // A new password forgets the familiar sources too (see `forget_sources`).
            // ... and ends any reset link (a newer password makes older reset links fail).
            .update_expression(
                "SET password_hash = :new, password_changed_by = :by ADD sources_epoch :one \
                 REMOVE reset_token, reset_expires",
            )
            .expression_attribute_values(":one", n(1))
            .condition_expression("user_id = :id AND password_hash = :old")
            .expression_attribute_values(":new", AttributeValue::S(new.to_owned()))
            .expression_attribute_values(":old", AttributeValue::S(old.to_owned()))
            .expression_attribute_values(":id", AttributeValue::S(user_id.to_owned()))
            .expression_attribute_values(":by", AttributeValue::S(by.to_owned()))
            .send()
            .await;
        // Changed meanwhile, or our own write retried by the SDK after a lost answer.
        self.hash_written(result, key, new, "changing password")
            .await
    }

    #[tracing::instrument(name = "users.delete", skip_all)]
    async fn delete_user(&self, key: &str, user_id: &str) -> Result<(), StoreError> {
        use aws_sdk_dynamodb::types::{Delete, TransactWriteItem};
        const OP: &str = "deleting user";
        // A user with a verified address gives its claim back in the same transaction, so the
        // address can be verified again by anyone (the deleted account never holds it).
        let verified = self
            .find(key)
            .await?
            .filter(|u| u.user_id.as_deref() == Some(user_id))
            .and_then(|u| u.email.verified);
        let id = AttributeValue::S(user_id.to_owned());
        let Some(address) = verified else {
            let result = self
                .client
                .delete_item()
                .table_name(&self.tables.users)
                .key("pk", AttributeValue::S(key.to_owned()))
                .condition_expression("user_id = :id")
                .expression_attribute_values(":id", id)
                .send()
                .await;
            // Gone already, or the name belongs to a new user now: not ours to delete.
            return written(result, OP).map(drop);
        };
        let invalid = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Failed {
            op: OP,
            source: Box::new(e),
        };
        let user = Delete::builder()
            .table_name(&self.tables.users)
            .key("pk", AttributeValue::S(key.to_owned()))
            .condition_expression("user_id = :id")
            .expression_attribute_values(":id", id.clone())
            .build()
            .map_err(invalid)?;
        let claim = Delete::builder()
            .table_name(&self.tables.users)
            .key("pk", AttributeValue::S(email_claim_key(&address)))
            .condition_expression("attribute_not_exists(pk) OR user_id = :id")
            .expression_attribute_values(":id", id)
            .build()
            .map_err(invalid)?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().delete(user).build())
            .transact_items(TransactWriteItem::builder().delete(claim).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // The user changed meanwhile (gone, or a new user of the name): not ours.
            Err(e) if failed_conditions(&e).is_some_and(|f| f.iter().any(|c| *c)) => Ok(()),
            Err(e) => Err(classify(OP, e)),
        }
    }

    #[tracing::instrument(name = "users.update_mfa", skip_all)]
    async fn update_mfa(
        &self,
        key: &str,
        user_id: &str,
        proof: &MfaProof,
        change: &MfaChange,
    ) -> Result<bool, StoreError> {
        // A removal leaves nothing to recognise it by but its effect; every other change writes
        // an id of its own.
        let removing = matches!(change, MfaChange::Remove);
        let write_id = uuid::Uuid::new_v4().to_string();
        let write = MfaWrite::new(
            user_id,
            proof,
            change,
            (!removing).then_some(write_id.as_str()),
        );
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.users)
            .key("pk", AttributeValue::S(key.to_owned()))
            .update_expression(write.update)
            .condition_expression(write.condition)
            .set_expression_attribute_values(Some(write.values))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            // The proof was spent (or the state moved on, or the user changed) meanwhile, or
            // this is the SDK's retry of our own write whose first answer was lost: the stored
            // item tells which, so a code this call consumed is never refused.
            Err(e) if is_condition_failure(&e) => {
                let item: Option<UserItem> = self
                    .get(&self.tables.users, key, "reading user after an mfa write")
                    .await?;
                Ok(item.is_some_and(|u| {
                    u.user_id.as_deref() == Some(user_id)
                        && if removing {
                            u.totp_secret.is_none() && u.totp_pending.is_none()
                        } else {
                            u.mfa_write.as_deref() == Some(write_id.as_str())
                        }
                }))
            }
            Err(e) => Err(classify("updating mfa", e)),
        }
    }

    #[tracing::instrument(name = "users.set_pending_email", skip_all)]
    async fn set_pending_email(
        &self,
        key: &str,
        user_id: &str,
        pending: &PendingEmail,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.users)
            .key("pk", AttributeValue::S(key.to_owned()))
            .update_expression(
                "SET email_pending = :address, email_token = :token, \
                 email_token_expires = :expires",
            )
            .condition_expression("user_id = :id")
            .expression_attribute_values(":address", AttributeValue::S(pending.address.clone()))
            .expression_attribute_values(":token", AttributeValue::S(pending.token.clone()))
            .expression_attribute_values(":expires", n(pending.expires_at))
            .expression_attribute_values(":id", AttributeValue::S(user_id.to_owned()))
            .send()
            .await;
        // Gone, or another user of that name now. (A retried write of ours whose answer was
        // lost succeeds again: the write is the same.)
        written(result, "setting a pending email")
    }

    #[tracing::instrument(name = "users.verify_email", skip_all)]
    async fn verify_email(
        &self,
        key: &str,
        user: &UserRecord,
        token: &str,
        now: u64,
    ) -> Result<VerifyOutcome, StoreError> {
        use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem, Update};
        const OP: &str = "verifying an email address";
        let (Some(user_id), Some(address)) =
            (user.user_id.as_deref(), user.email.pending.as_deref())
        else {
            return Ok(VerifyOutcome::Invalid);
        };
        let invalid = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Failed {
            op: OP,
            source: Box::new(e),
        };
        let id = AttributeValue::S(user_id.to_owned());
        let write_id = uuid::Uuid::new_v4().to_string();
        let verify = Update::builder()
            .table_name(&self.tables.users)
            .key("pk", AttributeValue::S(key.to_owned()))
            // A reset link mailed to the address this one replaces dies with it: whoever
            // keeps the old mailbox cannot reset the password any more.
            .update_expression(
                "SET email = :address, email_write = :write \
                 REMOVE email_pending, email_token, email_token_expires, reset_token, \
                 reset_expires",
            )
            .expression_attribute_values(":write", AttributeValue::S(write_id.clone()))
            .condition_expression(
                "user_id = :id AND email_pending = :address AND email_token = :token \
                 AND email_token_expires > :now",
            )
            .expression_attribute_values(":address", AttributeValue::S(address.to_owned()))
            .expression_attribute_values(":token", AttributeValue::S(token.to_owned()))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":id", id.clone())
            .build()
            .map_err(invalid)?;
        let claim: HashMap<String, AttributeValue> = serde_dynamo::to_item(EmailClaimItem {
            pk: email_claim_key(address),
            user_id: user_id.to_owned(),
            user_key: key.to_owned(),
        })
        .map_err(|e| decode_failed(OP, e))?;
        let claim = Put::builder()
            .table_name(&self.tables.users)
            .set_item(Some(claim))
            .condition_expression("attribute_not_exists(pk) OR user_id = :id")
            .expression_attribute_values(":id", id.clone())
            .build()
            .map_err(invalid)?;
        let mut items = vec![
            TransactWriteItem::builder().update(verify).build(),
            TransactWriteItem::builder().put(claim).build(),
        ];
        // The address this one replaces is released (only if this user holds it).
        if let Some(old) = user
            .email
            .verified
            .as_deref()
            .filter(|old| old.to_lowercase() != address.to_lowercase())
        {
            let release = Delete::builder()
                .table_name(&self.tables.users)
                .key("pk", AttributeValue::S(email_claim_key(old)))
                .condition_expression("attribute_not_exists(pk) OR user_id = :id")
                .expression_attribute_values(":id", id)
                .build()
                .map_err(invalid)?;
            items.push(TransactWriteItem::builder().delete(release).build());
        }
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        let error = match result {
            Ok(_) => return Ok(VerifyOutcome::Verified(address.to_owned())),
            Err(e) => e,
        };
        let Some(failed) = failed_conditions(&error) else {
            return Err(classify(OP, error));
        };
        match failed.as_slice() {
            [true, ..] => {
                // Our own transaction, retried after its answer was lost, finds its link used:
                // its write id tells it from another use of the same link.
                let stored: Option<UserItem> = self
                    .get(&self.tables.users, key, "reading user after a verification")
                    .await?;
                Ok(
                    if stored.is_some_and(|u| u.email_write.as_deref() == Some(write_id.as_str())) {
                        VerifyOutcome::Verified(address.to_owned())
                    } else {
                        VerifyOutcome::Invalid
                    },
                )
            }
            [_, true, ..] => Ok(VerifyOutcome::Taken),
            _ => Err(StoreError::Unavailable {
                op: OP,
                source: Box::new(error),
            }),
        }
    }

    #[tracing::instrument(name = "users.set_reset", skip_all)]
    async fn set_reset(
        &self,
        key: &str,
        user_id: &str,
        token: &str,
        expires_at: u64,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.users)
            .key("pk", AttributeValue::S(key.to_owned()))
            .update_expression("SET reset_token = :token, reset_expires = :expires")
            .condition_expression("user_id = :id")
            .expression_attribute_values(":token", AttributeValue::S(token.to_owned()))
            .expression_attribute_values(":expires", n(expires_at))
            .expression_attribute_values(":id", AttributeValue::S(user_id.to_owned()))
            .send()
            .await;
        written(result, "setting a reset link")
    }

    #[tracing::instrument(name = "users.reset_password", skip_all)]
    async fn reset_password(
        &self,
        key: &str,
        token: &str,
        now: u64,
        new: &str,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.users)
            .key("pk", AttributeValue::S(key.to_owned()))
            .update_expression(
                "SET password_hash = :new ADD sources_epoch :one \
                 REMOVE reset_token, reset_expires, password_changed_by",
            )
            .condition_expression("reset_token = :token AND reset_expires > :now")
            .expression_attribute_values(":new", AttributeValue::S(new.to_owned()))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":token", AttributeValue::S(token.to_owned()))
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        // Used, superseded, expired or unknown; or our own write retried after a lost answer.
        self.hash_written(result, key, new, "resetting a password")
            .await
    }

    #[tracing::instrument(name = "users.email_owner", skip_all)]
    async fn email_owner(&self, address: &str) -> Result<Option<String>, StoreError> {
        let claim: Option<EmailClaimItem> = self
            .get(
                &self.tables.users,
                &email_claim_key(address),
                "reading an email claim",
            )
            .await?;
        Ok(claim.map(|c| c.user_key))
    }
}

#[async_trait]
impl ChallengeStore for DynamoStore {
    #[tracing::instrument(name = "challenges.create", skip_all)]
    async fn create_challenge(&self, challenge: &Challenge) -> Result<(), StoreError> {
        const OP: &str = "creating mfa challenge";
        let item = ChallengeItem {
            pk: challenge_key(&challenge.id),
            user_key: challenge.key.clone(),
            user_id: challenge.user_id.clone(),
            expires_at: challenge.expires_at,
            wrong: challenge.wrong,
            used: challenge.used,
        };
        // 256 random bits: a taken id is our own retried write.
        self.put_new(&self.tables.rate_limits, item, OP).await?;
        Ok(())
    }

    #[tracing::instrument(name = "challenges.get", skip_all)]
    async fn challenge(&self, id: &str) -> Result<Option<Challenge>, StoreError> {
        let item: Option<ChallengeItem> = self
            .get(
                &self.tables.rate_limits,
                &challenge_key(id),
                "reading mfa challenge",
            )
            .await?;
        Ok(item.map(|i| Challenge {
            id: id.to_owned(),
            key: i.user_key,
            user_id: i.user_id,
            expires_at: i.expires_at,
            wrong: i.wrong,
            used: i.used,
        }))
    }

    #[tracing::instrument(name = "challenges.failed", skip_all)]
    async fn challenge_failed(
        &self,
        id: &str,
        max_wrong: u32,
        now: u64,
    ) -> Result<bool, StoreError> {
        let mut values = challenge_live_values(max_wrong, now);
        values.insert(":one".into(), n(1));
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.rate_limits)
            .key("pk", AttributeValue::S(challenge_key(id)))
            .update_expression("ADD wrong :one")
            .condition_expression(CHALLENGE_LIVE)
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        written(result, "counting a wrong mfa code")
    }

    #[tracing::instrument(name = "challenges.finish_login", skip_all)]
    async fn finish_login(
        &self,
        challenge: &Challenge,
        max_wrong: u32,
        now: u64,
        proof: &MfaProof,
        session: &Session,
        mark: Option<&FamiliarMark>,
    ) -> Result<ChallengeOutcome, StoreError> {
        use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
        const OP: &str = "finishing an mfa login";
        let invalid = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Failed {
            op: OP,
            source: Box::new(e),
        };
        let mut values = challenge_live_values(max_wrong, now);
        values.insert(":used".into(), AttributeValue::Bool(true));
        let spend = Update::builder()
            .table_name(&self.tables.rate_limits)
            .key("pk", AttributeValue::S(challenge_key(&challenge.id)))
            .update_expression("SET used = :used")
            .condition_expression(CHALLENGE_LIVE)
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(invalid)?;
        let write = MfaWrite::new(&challenge.user_id, proof, &MfaChange::Consume, None);
        let consume = Update::builder()
            .table_name(&self.tables.users)
            .key("pk", AttributeValue::S(challenge.key.clone()))
            .update_expression(write.update)
            .condition_expression(write.condition)
            .set_expression_attribute_values(Some(write.values))
            .build()
            .map_err(invalid)?;
        let item: HashMap<String, AttributeValue> =
            serde_dynamo::to_item(SessionItem::of(session)).map_err(|e| decode_failed(OP, e))?;
        let start = Put::builder()
            .table_name(&self.tables.sessions)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(invalid)?;
        // The mark as `CounterStore::mark` writes it.
        let familiar = match mark {
            Some(mark) => Some(
                Update::builder()
                    .table_name(&self.tables.rate_limits)
                    .key("pk", AttributeValue::S(mark.key.clone()))
                    .update_expression("SET #expires = :expires, #owner = :owner")
                    .expression_attribute_names("#expires", "expires_at")
                    .expression_attribute_names("#owner", "owner")
                    .expression_attribute_values(":expires", n(mark.expires_at))
                    .expression_attribute_values(":owner", AttributeValue::S(mark.owner.clone()))
                    .build()
                    .map_err(invalid)?,
            ),
            None => None,
        };
        let mut items = vec![
            TransactWriteItem::builder().update(spend).build(),
            TransactWriteItem::builder().update(consume).build(),
            TransactWriteItem::builder().put(start).build(),
        ];
        items.extend(familiar.map(|u| TransactWriteItem::builder().update(u).build()));
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            // The SDK retries a transaction whose answer was lost with the same token, and
            // DynamoDB answers such a retry as the first call's success (idempotent for 10
            // minutes), so a lost answer never turns a login into a refused replay.
            .client_request_token(&session.id)
            .send()
            .await;
        let error = match result {
            Ok(_) => return Ok(ChallengeOutcome::Done),
            Err(e) => e,
        };
        let Some(failed) = failed_conditions(&error) else {
            return Err(classify(OP, error));
        };
        if failed.iter().any(|f| *f) && self.read_session(&session.id).await?.is_some() {
            // Our own transaction, retried after its answer was lost (where the retry is not
            // answered as the first call's success): the session it stored is there.
            return Ok(ChallengeOutcome::Done);
        }
        match failed.as_slice() {
            [true, ..] => Ok(ChallengeOutcome::ChallengeSpent),
            [_, true, ..] => Ok(ChallengeOutcome::ProofSpent),
            // Cancelled for another reason (a conflicting transaction, a taken session id): a
            // retry may succeed, so it is a 503 (classify would call the 400 it came as a 500).
            _ => Err(StoreError::Unavailable {
                op: OP,
                source: Box::new(error),
            }),
        }
    }
}

#[async_trait]
impl CounterStore for DynamoStore {
    #[tracing::instrument(name = "counters.admit", skip_all)]
    async fn admit(&self, key: &str, claim: &Claim) -> Result<Admission, StoreError> {
        counters::admit(self, key, claim).await
    }

    #[tracing::instrument(name = "counters.trim", skip_all)]
    async fn trim(
        &self,
        key: &str,
        seen: &[u64],
        stale_upto: u64,
        give_back: Option<u64>,
    ) -> Result<(), StoreError> {
        counters::trim(self, key, seen, stale_upto, give_back).await
    }

    #[tracing::instrument(name = "counters.mark", skip_all)]
    async fn mark(&self, key: &str, owner: &str, expires_at: u64) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.tables.rate_limits)
            .key("pk", AttributeValue::S(key.to_owned()))
            .update_expression("SET #expires = :expires, #owner = :owner")
            .expression_attribute_names("#expires", "expires_at")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":expires", n(expires_at))
            .expression_attribute_values(":owner", AttributeValue::S(owner.to_owned()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("marking", e))
    }

    #[tracing::instrument(name = "counters.marked", skip_all)]
    async fn marked(&self, key: &str, now: u64) -> Result<Option<String>, StoreError> {
        #[derive(Deserialize)]
        struct Mark {
            expires_at: u64,
            #[serde(default)]
            owner: String,
        }
        let mark: Option<Mark> = self
            .get(&self.tables.rate_limits, key, "reading mark")
            .await?;
        Ok(mark.filter(|m| m.expires_at > now).map(|m| m.owner))
    }
}

#[async_trait]
impl SessionStore for DynamoStore {
    #[tracing::instrument(name = "sessions.create", skip_all)]
    async fn create(&self, session: &Session) -> Result<(), StoreError> {
        const OP: &str = "creating session";
        let item = SessionItem::of(session);
        // 128 random bits never collide in practice; the condition makes sure of it.
        if self.put_new(&self.tables.sessions, item, OP).await? {
            return Ok(());
        }
        // A retry of a write whose answer was lost finds our own session: that is success.
        match self.read_session(&session.id).await? {
            Some((found, _)) if found == *session => Ok(()),
            _ => Err(StoreError::Failed {
                op: OP,
                source: "session id already taken".into(),
            }),
        }
    }

    #[tracing::instrument(name = "sessions.get", skip_all)]
    async fn get(&self, id: &str) -> Result<Option<Session>, StoreError> {
        Ok(self.read_session(id).await?.map(|(s, _)| s))
    }

    #[tracing::instrument(name = "sessions.advance", skip_all)]
    async fn advance(&self, id: &str, from: u64, now: u64) -> Result<bool, StoreError> {
        // Only needs to be unique per rotation, not secret.
        let rotation_id = uuid::Uuid::new_v4().simple().to_string();
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.sessions)
            .key("pk", AttributeValue::S(id.to_owned()))
            .update_expression(
                "SET #gen = :next, rotated_at = :now, last_used_at = :now, rotation_id = :rid",
            )
            .condition_expression("#gen = :from AND revoked = :false AND expires_at > :now")
            .expression_attribute_names("#gen", "generation")
            .expression_attribute_values(":from", n(from))
            .expression_attribute_values(":next", n(from + 1))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":rid", AttributeValue::S(rotation_id.clone()))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            // Lost the race, or a retry of our own rotation whose answer was lost: the rotation
            // id written with the new generation tells which, so a lost answer neither loses
            // the rotation nor looks like reuse.
            Err(e) if is_condition_failure(&e) => {
                let current = self.read_session(id).await?;
                Ok(current.is_some_and(|(s, rid)| {
                    s.generation == from + 1 && rid.as_deref() == Some(rotation_id.as_str())
                }))
            }
            Err(e) => Err(classify("rotating session", e)),
        }
    }

    #[tracing::instrument(name = "sessions.confirm", skip_all)]
    async fn confirm(&self, id: &str, generation: u64, now: u64) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.sessions)
            .key("pk", AttributeValue::S(id.to_owned()))
            .update_expression("SET last_used_at = :now")
            .condition_expression("#gen = :gen AND revoked = :false AND expires_at > :now")
            .expression_attribute_names("#gen", "generation")
            .expression_attribute_values(":gen", n(generation))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .send()
            .await;
        written(result, "confirming session")
    }

    #[tracing::instrument(name = "sessions.revoke", skip_all)]
    async fn revoke(&self, id: &str, now: u64) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.sessions)
            .key("pk", AttributeValue::S(id.to_owned()))
            .update_expression("SET revoked = :true, revoked_at = if_not_exists(revoked_at, :now)")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(classify("revoking session", e)),
        }
    }

    #[tracing::instrument(name = "sessions.revoke_all", skip_all)]
    async fn revoke_all(
        &self,
        user_id: &str,
        except: Option<&str>,
        now: u64,
    ) -> Result<u32, StoreError> {
        let live: Vec<String> = self
            .list(user_id, Some(now))
            .await?
            .into_iter()
            .filter(|s| Some(s.id.as_str()) != except)
            .map(|s| s.id)
            .collect();
        // Collected first: a lazy `map` inside the stream trips the `Send` check of the
        // `async_trait` future (the compiler cannot see that the closure works for any borrow).
        let writes: Vec<_> = live.iter().map(|id| self.revoke(id, now)).collect();
        all_session_writes(writes).await?;
        Ok(u32::try_from(live.len()).unwrap_or(u32::MAX))
    }

    #[tracing::instrument(name = "sessions.list", skip_all)]
    async fn list(&self, user_id: &str, live_at: Option<u64>) -> Result<Vec<Session>, StoreError> {
        const OP: &str = "listing a user's sessions";
        let mut sessions = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.tables.sessions)
                .index_name(SESSIONS_BY_USER)
                .key_condition_expression("user_id = :id")
                .expression_attribute_values(":id", AttributeValue::S(user_id.to_owned()))
                // Newest first: the index's sort key is created_at.
                .scan_index_forward(false)
                .set_exclusive_start_key(start.take());
            if let Some(now) = live_at {
                query = query
                    .filter_expression("revoked = :false AND expires_at > :now")
                    .expression_attribute_values(":false", AttributeValue::Bool(false))
                    .expression_attribute_values(":now", n(now));
            }
            let page = query.send().await.map_err(|e| classify(OP, e))?;
            for item in page.items() {
                let item: SessionItem =
                    serde_dynamo::from_item(item.clone()).map_err(|e| decode_failed(OP, e))?;
                sessions.push(item.into_session().0);
            }
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(sessions),
            }
        }
    }

    #[tracing::instrument(name = "sessions.end_owned", skip_all)]
    async fn end_owned(&self, id: &str, user_id: &str, now: u64) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.sessions)
            .key("pk", AttributeValue::S(id.to_owned()))
            .update_expression("SET revoked = :true, revoked_at = :now")
            .condition_expression("user_id = :uid AND revoked = :false AND expires_at > :now")
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .expression_attribute_values(":uid", AttributeValue::S(user_id.to_owned()))
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        written(result, "ending session")
    }

    #[tracing::instrument(name = "sessions.delete_all", skip_all)]
    async fn delete_all(&self, user_id: &str, except: Option<&str>) -> Result<(), StoreError> {
        let ids: Vec<String> = self
            .list(user_id, None)
            .await?
            .into_iter()
            .map(|s| s.id)
            .filter(|id| Some(id.as_str()) != except)
            .collect();
        let writes: Vec<_> = ids.iter().map(|id| self.delete_session(id)).collect();
        all_session_writes(writes).await
    }

    #[tracing::instrument(name = "sessions.delete", skip_all)]
    async fn delete_session(&self, id: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.tables.sessions)
            .key("pk", AttributeValue::S(id.to_owned()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("deleting session", e))
    }

    #[tracing::instrument(name = "sessions.live_uses", skip_all)]
    async fn live_uses(
        &self,
        user_id: &str,
        except: &str,
        now: u64,
    ) -> Result<Vec<SessionUse>, StoreError> {
        sessions::live_uses(self, user_id, except, now).await
    }

    #[tracing::instrument(name = "sessions.evict", skip_all)]
    async fn evict(
        &self,
        user_id: &str,
        victim: &SessionUse,
        now: u64,
    ) -> Result<Eviction, StoreError> {
        sessions::evict(self, user_id, victim, now).await
    }

    #[tracing::instrument(name = "sessions.page", skip_all)]
    async fn page(
        &self,
        user_id: &str,
        now: u64,
        limit: usize,
        after: Option<&SessionCursor>,
    ) -> Result<SessionPage, StoreError> {
        sessions::page(self, user_id, now, limit, after).await
    }
}

impl DynamoStore {
    /// Puts `item` unless an item with its key exists: true when written, false when the key
    /// was taken.
    async fn put_new(
        &self,
        table: &str,
        item: impl Serialize,
        op: &'static str,
    ) -> Result<bool, StoreError> {
        let item: HashMap<String, AttributeValue> =
            serde_dynamo::to_item(item).map_err(|e| decode_failed(op, e))?;
        let result = self
            .client
            .put_item()
            .table_name(table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(classify(op, e)),
        }
    }

    /// The item stored under `key`, read consistently.
    async fn get<T: DeserializeOwned>(
        &self,
        table: &str,
        key: &str,
        op: &'static str,
    ) -> Result<Option<T>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(table)
            .key("pk", AttributeValue::S(key.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify(op, e))?;
        output
            .item
            .map(|item| serde_dynamo::from_item(item).map_err(|e| decode_failed(op, e)))
            .transpose()
    }

    /// A session and the id of its last rotation, read consistently.
    async fn read_session(
        &self,
        id: &str,
    ) -> Result<Option<(Session, Option<String>)>, StoreError> {
        let item: Option<SessionItem> = self
            .get(&self.tables.sessions, id, "reading session")
            .await?;
        Ok(item.map(SessionItem::into_session))
    }
}

impl SessionItem {
    /// The item of a new session.
    fn of(session: &Session) -> Self {
        Self {
            pk: session.id.clone(),
            user_id: session.user_id.clone(),
            username: session.username.clone(),
            created_at: session.created_at,
            expires_at: session.expires_at,
            generation: session.generation,
            rotated_at: session.rotated_at,
            revoked: session.revoked,
            last_used_at: Some(session.last_used_at),
            source_ip: session.source_ip.clone(),
            user_agent: session.user_agent.clone(),
            rotation_id: None,
            amr: session.amr.clone(),
        }
    }

    /// The session and the id of its last rotation.
    fn into_session(self) -> (Session, Option<String>) {
        let session = Session {
            id: self.pk,
            user_id: self.user_id,
            username: self.username,
            created_at: self.created_at,
            expires_at: self.expires_at,
            generation: self.generation,
            last_used_at: self.last_used_at.unwrap_or(self.rotated_at),
            rotated_at: self.rotated_at,
            revoked: self.revoked,
            source_ip: self.source_ip,
            user_agent: self.user_agent,
            amr: self.amr,
        };
        (session, self.rotation_id)
    }
}
