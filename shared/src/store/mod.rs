//! Storage behind small domain-shaped traits, so handlers do not know about DynamoDB and the
//! conditional-write rules live in one implementation (`dynamo`, feature `dynamo`) proven against a real server.

use async_trait::async_trait;

#[cfg(feature = "dynamo")]
pub mod dynamo;

/// A boxed cause, kept for the log.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A failed storage call. `Unavailable` covers throttling, timeouts, refused connections and
/// 5xx answers: the client may retry (503). `Failed` is anything else (500).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Worth retrying later.
    #[error("{op}: store unavailable")]
    Unavailable {
        /// The store operation, for the log.
        op: &'static str,
        /// The SDK's error.
        #[source]
        source: BoxError,
    },
    /// Anything else.
    #[error("{op}: store call failed")]
    Failed {
        /// The store operation, for the log.
        op: &'static str,
        /// The SDK's (or decoder's) error.
        #[source]
        source: BoxError,
    },
}

/// A user to create.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Lower-cased username: the uniqueness key.
    pub key: String,
    /// The stable, opaque id (a random UUID): the `sub` of the user's tokens. Never reused,
    /// not derived from the name.
    pub user_id: String,
    /// The username as the user typed it.
    pub username: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Seconds since the epoch.
    pub created_at: u64,
    /// An address given at registration, waiting for its verification link.
    pub pending_email: Option<PendingEmail>,
}

/// A stored user, as login needs it.
#[derive(Clone)]
pub struct UserRecord {
    /// The stable id; `None` only for a user stored before ids existed (login assigns one).
    pub user_id: Option<String>,
    /// The username as registered.
    pub username: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Explicit roles, sorted (the implicit `user` role is not stored).
    pub roles: Vec<String>,
    /// A disabled user cannot log in or refresh.
    pub disabled: bool,
    /// Seconds since the epoch.
    pub created_at: u64,
    /// The session that last changed the password (`POST /password`), so that a retry of that
    /// change, whose write landed but whose answer was lost, can complete.
    pub password_changed_by: Option<String>,
    /// Advanced by every change that must make the user's familiar sources strangers again (a
    /// password change, "log out everywhere", a disable): a familiar mark names the user and
    /// the value this had when it was made.
    pub sources_epoch: u64,
    /// The second factor: absent parts are `None` or empty.
    pub mfa: MfaState,
    /// The contact address: verified, and one waiting for its link.
    pub email: EmailState,
}

/// A user's contact address as stored. An address belongs to at most one user, and only once
/// verified: its lower-cased form is then claimed by an item of its own (`email#<address>`).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct EmailState {
    /// The verified address, as the user typed it.
    pub verified: Option<String>,
    /// An address waiting for its verification link, as typed.
    pub pending: Option<String>,
    /// The hash of the pending address's current link token: a newer link supersedes it.
    pub token: Option<String>,
    /// When that link expires (epoch seconds).
    pub token_expires_at: u64,
    /// The hash of the current password-reset link's token: a newer link, a reset or a
    /// password change ends it.
    pub reset_token: Option<String>,
    /// When that link expires (epoch seconds).
    pub reset_expires_at: u64,
}

impl std::fmt::Debug for EmailState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailState")
            .field("verified", &self.verified)
            .field("pending", &self.pending)
            .field("token", &self.token.as_ref().map(|_| "[hash]"))
            .field("token_expires_at", &self.token_expires_at)
            .field("reset_token", &self.reset_token.as_ref().map(|_| "[hash]"))
            .field("reset_expires_at", &self.reset_expires_at)
            .finish()
    }
}

/// An address waiting for its verification link, as a write stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEmail {
    /// The address as typed.
    pub address: String,
    /// The hash of the link's token.
    pub token: String,
    /// When the link expires (epoch seconds).
    pub expires_at: u64,
}

/// What [`UserStore::verify_email`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyOutcome {
    /// The pending address is the user's verified one now (and claimed for them).
    Verified(String),
    /// The token is not the user's current, unexpired link (unknown, used, expired or
    /// superseded), or the user changed: nothing written.
    Invalid,
    /// Another user verified that address first: nothing written.
    Taken,
}

/// A user's second factor as stored: the TOTP secret only sealed (`shared::mfa::MfaKey`), the
/// recovery codes only as hashes.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct MfaState {
    /// The sealed TOTP secret, once enrollment is confirmed: MFA is on.
    pub totp: Option<String>,
    /// A sealed secret waiting for its first code (`POST /mfa/totp/confirm`).
    pub pending: Option<String>,
    /// The last TOTP time step accepted: a code of this step or an earlier one is refused.
    pub last_step: u64,
    /// The hashes of the recovery codes not used yet.
    pub recovery: Vec<String>,
}

impl MfaState {
    /// MFA is on.
    pub fn enabled(&self) -> bool {
        self.totp.is_some()
    }
}

impl std::fmt::Debug for MfaState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MfaState")
            .field("totp", &self.totp.as_ref().map(|_| "[sealed]"))
            .field("pending", &self.pending.as_ref().map(|_| "[sealed]"))
            .field("last_step", &self.last_step)
            .field("recovery", &self.recovery.len())
            .finish()
    }
}

/// What proves a second-factor change: the code it consumes, as one conditional write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MfaProof {
    /// Nothing (an admin's removal, the password alone at enrollment).
    Nothing,
    /// A TOTP code of this time step: written only while the last accepted step is earlier.
    Step(u64),
    /// A recovery code with this hash: written only while it is unused, and it is used up.
    RecoveryCode(String),
}

/// A change of a user's second factor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MfaChange {
    /// Only consume the proof (a step-up, a login).
    Consume,
    /// Keep a sealed secret pending (replacing any pending one), only while MFA is off.
    Pending(String),
    /// Turn MFA on with the pending secret `pending` (only while it is still the pending one
    /// and MFA is off), with these recovery-code hashes.
    Confirm {
        /// The sealed secret as read.
        pending: String,
        /// The recovery-code hashes.
        recovery: Vec<String>,
    },
    /// Replace the recovery codes (only while MFA is on).
    RecoveryCodes(Vec<String>),
    /// Turn MFA off: secret, pending secret, last step and recovery codes removed.
    Remove,
}

impl UserRecord {
    /// What a familiar-source mark of this user holds: their stable id and
    /// [`UserRecord::sources_epoch`]. `None` for a user stored before ids existed.
    pub fn familiar_tag(&self) -> Option<String> {
        let id = self.user_id.as_deref()?;
        Some(format!("{id}#{}", self.sources_epoch))
    }
}

impl std::fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRecord")
            .field("user_id", &self.user_id)
            .field("username", &self.username)
            .field("password_hash", &"[redacted]")
            .field("roles", &self.roles)
            .field("disabled", &self.disabled)
            .field("created_at", &self.created_at)
            .field("password_changed_by", &self.password_changed_by)
            .field("sources_epoch", &self.sources_epoch)
            .field("mfa", &self.mfa)
            .field("email", &self.email)
            .finish()
    }
}

/// A change of what a user may do; `None` leaves that part as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessChange {
    /// The new explicit roles (replacing the old ones), sorted.
    pub roles: Option<Vec<String>>,
    /// Disable or enable.
    pub disabled: Option<bool>,
}

impl AccessChange {
    /// `user` as it is once this change is written.
    pub fn applied_to(&self, mut user: UserRecord) -> UserRecord {
        if let Some(roles) = &self.roles {
            user.roles = roles.clone();
        }
        if let Some(disabled) = self.disabled {
            user.disabled = disabled;
        }
        user
    }
}

/// The admin who makes an access change by which its target stops being an enabled admin: the
/// change is written only while this admin still is one, so no such change can leave the
/// service without an enabled admin (the last one cannot lose it to anyone but themselves, and
/// the admin API refuses that as a lockout).
#[derive(Debug, Clone, Copy)]
pub struct RemainingAdmin<'a> {
    /// The admin's user key.
    pub key: &'a str,
    /// The admin's stable id: still this user, not a new one of the same name.
    pub user_id: &'a str,
    /// The roles that grant the `admin` scope: the admin must still hold one of them.
    pub admin_roles: &'a [String],
}

/// What [`UserStore::update_access_keeping_admin`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuardedChange {
    /// Written.
    Updated,
    /// The target is gone (or is another user now): nothing written.
    Gone,
    /// The admin making the change no longer is an enabled admin: nothing written.
    NoAdminWouldRemain,
}

/// Why a user was not created.
#[derive(Debug, thiserror::Error)]
pub enum CreateUserError {
    /// The name is taken (case-insensitively).
    #[error("a user with this key already exists")]
    AlreadyExists,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Users, keyed by lower-cased username.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Creates the user unless one with the same key exists; atomic, so concurrent calls with one
    /// key create exactly one user.
    async fn create(&self, user: &NewUser) -> Result<(), CreateUserError>;
    /// The user stored under `key` (lower-cased username), if any.
    async fn find(&self, key: &str) -> Result<Option<UserRecord>, StoreError>;
    /// Replaces the password hash, only if it is still `old` (a concurrent change wins).
    async fn replace_hash(&self, key: &str, old: &str, new: &str) -> Result<(), StoreError>;
    /// Changes a user's explicit roles and/or disabled flag as one conditional write that
    /// succeeds only while the user exists (with `user_id`, only while it is still that user,
    /// not a new one under the same name): whether it was written (false when gone). Nothing
    /// is read back, so that the write's IAM policy can name the attributes it may touch
    /// (returning the whole item would read the others); [`AccessChange::applied_to`] gives the
    /// user as stored afterwards.
    async fn update_access(
        &self,
        key: &str,
        user_id: Option<&str>,
        change: &AccessChange,
    ) -> Result<bool, StoreError>;
    /// [`UserStore::update_access`] for a change that takes the `admin` scope away from its
    /// target (demoted or disabled): one transaction that writes the change only while the
    /// target is still `user_id` and `remaining` is still an enabled admin.
    async fn update_access_keeping_admin(
        &self,
        key: &str,
        user_id: Option<&str>,
        change: &AccessChange,
        remaining: &RemainingAdmin<'_>,
    ) -> Result<GuardedChange, StoreError>;
    /// Makes every familiar source of the user `user_id` a stranger again (advances
    /// [`UserRecord::sources_epoch`]); nothing when the user is gone or is another user now.
    async fn forget_sources(&self, key: &str, user_id: &str) -> Result<(), StoreError>;
    /// Gives a user stored before ids existed the id `proposed`, unless it has one by now: the
    /// user's id either way. `None` when the user is gone.
    async fn assign_id(&self, key: &str, proposed: &str) -> Result<Option<String>, StoreError>;
    /// Replaces the password hash as one conditional write that succeeds only while the user is
    /// still `user_id` and its hash is still `old` (so of two concurrent changes one wins), and
    /// notes the session `by` that made the change: true when this call's change is stored.
    async fn change_password(
        &self,
        key: &str,
        user_id: &str,
        old: &str,
        new: &str,
        by: &str,
    ) -> Result<bool, StoreError>;
    /// Deletes the user, only while it is still `user_id` (not a new user of the same name).
    /// Idempotent: a user already gone is no error.
    async fn delete_user(&self, key: &str, user_id: &str) -> Result<(), StoreError>;
    /// Applies `change` to the user's second factor as one conditional write that also
    /// consumes `proof`: written only while the user is still `user_id` and the proof is
    /// unspent (so of two concurrent uses of one code, one wins). False when not written.
    async fn update_mfa(
        &self,
        key: &str,
        user_id: &str,
        proof: &MfaProof,
        change: &MfaChange,
    ) -> Result<bool, StoreError>;
    /// Makes `pending` the user's address waiting for verification (replacing an earlier one
    /// and its link), only while the user is still `user_id`: whether it was written.
    async fn set_pending_email(
        &self,
        key: &str,
        user_id: &str,
        pending: &PendingEmail,
    ) -> Result<bool, StoreError>;
    /// Verifies `user`'s pending address with the link token hashed `token` at `now`, as one
    /// transaction: the address becomes the verified one (only while `token` is the current,
    /// unexpired link of that pending address and the user is still theirs), its lower-cased
    /// form is claimed for the user (only while no other user holds it, so of two users
    /// verifying one address concurrently one wins), and the address it replaces is released,
    /// ending any reset link mailed to it.
    async fn verify_email(
        &self,
        key: &str,
        user: &UserRecord,
        token: &str,
        now: u64,
    ) -> Result<VerifyOutcome, StoreError>;
    /// The key of the user who verified `address` (compared lower-cased), if any.
    async fn email_owner(&self, address: &str) -> Result<Option<String>, StoreError>;
    /// Makes the reset link hashed `token` the user's only one (an older link stops working),
    /// valid until `expires_at`, only while the user is still `user_id`.
    async fn set_reset(
        &self,
        key: &str,
        user_id: &str,
        token: &str,
        expires_at: u64,
    ) -> Result<bool, StoreError>;
    /// Replaces the password hash with `new` through the reset link hashed `token`, as one
    /// conditional write (only while it is the user's current link and unexpired at `now`),
    /// ending the link and forgetting the familiar sources, as a password change does: whether
    /// it was written (a lost answer of our own write is recognised by the new hash).
    async fn reset_password(
        &self,
        key: &str,
        token: &str,
        now: u64,
        new: &str,
    ) -> Result<bool, StoreError>;
}

/// A login waiting for its second factor (`POST /login` gave its `mfa_token`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The hash of the `mfa_token` (the token itself is never stored).
    pub id: String,
    /// The user it was given to: their key (lower-cased username) and stable id.
    pub key: String,
    /// The user's stable id.
    pub user_id: String,
    /// Dead after this (epoch seconds; also the TTL attribute).
    pub expires_at: u64,
    /// Wrong codes so far.
    pub wrong: u32,
    /// Spent by a login.
    pub used: bool,
}

impl Challenge {
    /// Still usable at `now` with at most `max_wrong` wrong codes.
    pub fn is_live(&self, now: u64, max_wrong: u32) -> bool {
        !self.used && now < self.expires_at && self.wrong < max_wrong
    }
}

/// What [`ChallengeStore::finish_login`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChallengeOutcome {
    /// The challenge is spent, the proof consumed and the session stored, all at once.
    Done,
    /// The challenge was no longer live (used, expired or spent by wrong codes): nothing written.
    ChallengeSpent,
    /// The proof was spent meanwhile (a replayed code) or the user changed: nothing written.
    ProofSpent,
}

/// A familiar-source mark to write ([`CounterStore::mark`]'s arguments), for a write that makes
/// it together with others ([`ChallengeStore::finish_login`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FamiliarMark {
    /// The mark's key.
    pub key: String,
    /// Whom it names (the user as they are now).
    pub owner: String,
    /// Until when (epoch seconds).
    pub expires_at: u64,
}

/// Logins waiting for a second factor, in the rate-limit table (short-lived security state).
#[async_trait]
pub trait ChallengeStore: Send + Sync {
    /// Stores a new challenge.
    async fn create_challenge(&self, challenge: &Challenge) -> Result<(), StoreError>;
    /// The challenge, read consistently.
    async fn challenge(&self, id: &str) -> Result<Option<Challenge>, StoreError>;
    /// Counts one wrong code against the challenge, only while it is live: false when it was
    /// not (so its wrong codes never exceed `max_wrong`).
    async fn challenge_failed(
        &self,
        id: &str,
        max_wrong: u32,
        now: u64,
    ) -> Result<bool, StoreError>;
    /// One transaction: spends the challenge (only while live), consumes `proof` on its user
    /// (only while unspent, and the user still the challenge's), stores `session` (a new id)
    /// and writes `mark` (the login's source becomes familiar). So a code is never both refused
    /// and consumed, and a login never half done.
    async fn finish_login(
        &self,
        challenge: &Challenge,
        max_wrong: u32,
        now: u64,
        proof: &MfaProof,
        session: &Session,
        mark: Option<&FamiliarMark>,
    ) -> Result<ChallengeOutcome, StoreError>;
}

/// One claim on a sliding log: see [`CounterStore::admit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    /// The entry to append: the attempt's time (epoch seconds).
    pub at: u64,
    /// How many entries that still count the log may hold.
    pub limit: u32,
    /// Entries at or before this time no longer count.
    pub stale_upto: u64,
    /// When the log item may be deleted by TTL (epoch seconds).
    pub expires_at: u64,
}

/// What [`CounterStore::admit`] did, with the log it saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Appended: the log just after the append (the new entry last).
    Admitted(Vec<u64>),
    /// Not appended: the log as found, holding `limit` entries that count (or contended
    /// beyond a few rounds, which is refused too).
    Refused(Vec<u64>),
}

/// Sliding logs with a ceiling, for rate limits: each log holds the times of the attempts it
/// admitted.
#[async_trait]
pub trait CounterStore: Send + Sync {
    /// Appends `claim.at` to the log `key` unless the log already holds `claim.limit` entries
    /// newer than `claim.stale_upto`. Every write is conditional on the state it was computed
    /// from, so N concurrent claims admit exactly the room left.
    async fn admit(&self, key: &str, claim: &Claim) -> Result<Admission, StoreError>;
    /// Removes from the log `key` its entries at or before `stale_upto` and, with
    /// `give_back`, one entry equal to it. `seen` is the log as [`CounterStore::admit`]
    /// returned it, so no read is needed. Best effort under contention, and it never removes
    /// any other entry that still counts.
    async fn trim(
        &self,
        key: &str,
        seen: &[u64],
        stale_upto: u64,
        give_back: Option<u64>,
    ) -> Result<(), StoreError>;
    /// Records the mark `key`, holding `owner`, until `expires_at` (epoch seconds); marking
    /// again extends it (and takes the new owner).
    async fn mark(&self, key: &str, owner: &str, expires_at: u64) -> Result<(), StoreError>;
    /// The owner of the mark `key` if it is set at `now` (expired marks are ignored, TTL or
    /// not; a mark made before owners existed has an empty one).
    async fn marked(&self, key: &str, now: u64) -> Result<Option<String>, StoreError>;
}

/// A refresh-token family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Random 128-bit id, base64url.
    pub id: String,
    /// The user's stable id (empty for a session started before ids existed).
    pub user_id: String,
    /// The user it belongs to, as registered (the key of the user item, lower-cased).
    pub username: String,
    /// When it was started (epoch seconds).
    pub created_at: u64,
    /// Absolute end (epoch seconds), also the TTL attribute.
    pub expires_at: u64,
    /// The generation whose refresh token is current.
    pub generation: u64,
    /// When the current generation was minted.
    pub rotated_at: u64,
    /// Revoked sessions refresh no more.
    pub revoked: bool,
    /// When it was last refreshed (its start, until then).
    pub last_used_at: u64,
    /// Where it was started from (the login's source IP).
    pub source_ip: String,
    /// The login's `User-Agent`, at most [`USER_AGENT_MAX_CHARS`] characters.
    pub user_agent: String,
    /// How the user authenticated at login (RFC 8176 `amr` values, sorted): refreshes keep it.
    /// Empty for sessions started before it was kept, which stands for `["pwd"]`.
    pub amr: Vec<String>,
}

/// How much of a `User-Agent` a session keeps.
pub const USER_AGENT_MAX_CHARS: usize = 256;

impl Session {
    /// Live: neither revoked nor expired at `now`.
    pub fn is_live(&self, now: u64) -> bool {
        !self.revoked && now < self.expires_at
    }
}

/// A live session as the session cap weighs it ([`SessionStore::live_uses`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionUse {
    /// The session id.
    pub id: String,
    /// When it was started (epoch seconds).
    pub created_at: u64,
    /// When it was last refreshed (its start, until then): the least recently used goes first.
    pub last_used_at: u64,
}

/// What [`SessionStore::evict`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eviction {
    /// This call ended (deleted) the session.
    Ended,
    /// The session was no longer live (ended or expired meanwhile, or gone): nothing written.
    Gone,
    /// The session was refreshed since it was read, so it is no longer the least recently used
    /// one: nothing written.
    Used,
}

/// Where a page of a user's live sessions ended ([`SessionStore::page`]): the `by-user` index
/// key of its last session (the user, the start time, the session id: what DynamoDB returns as
/// `LastEvaluatedKey`), carried by the client as opaque base64url text. It names its user, and
/// [`SessionCursor::decode`] takes only the caller's, so no cursor reaches another user's
/// sessions (one made up for the caller only moves within the caller's own).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionCursor {
    #[serde(rename = "pk")]
    pub(crate) sid: String,
    pub(crate) user_id: String,
    pub(crate) created_at: u64,
}

impl SessionCursor {
    /// The longest cursor text [`SessionCursor::decode`] looks at.
    pub const MAX_CHARS: usize = 512;

    /// The cursor of a page that ends with `session` (one in the `by-user` index).
    pub fn after(session: &Session) -> Self {
        Self {
            sid: session.id.clone(),
            user_id: session.user_id.clone(),
            created_at: session.created_at,
        }
    }

    /// The text handed to the client: base64url (no padding) of the key as JSON.
    pub fn encode(&self) -> String {
        use base64::Engine;
        // Serialising three plain fields cannot fail.
        let json = serde_json::to_vec(self).unwrap_or_default();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    /// The cursor `text` stands for, if it is one of `user_id`'s: `None` for anything
    /// malformed, and for another user's cursor.
    pub fn decode(text: &str, user_id: &str) -> Option<Self> {
        use base64::Engine;
        if text.is_empty() || text.len() > Self::MAX_CHARS {
            return None;
        }
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .ok()?;
        let cursor: Self = serde_json::from_slice(&json).ok()?;
        let sid_ok = !cursor.sid.is_empty()
            && cursor.sid.len() <= 64
            && cursor
                .sid
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        (sid_ok && !user_id.is_empty() && cursor.user_id == user_id).then_some(cursor)
    }
}

/// One page of a user's live sessions ([`SessionStore::page`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionPage {
    /// Newest first.
    pub sessions: Vec<Session>,
    /// Where the next page starts; `None` once nothing more can follow.
    pub next: Option<SessionCursor>,
}

/// Everything a function may need of the store, as one object: `main` builds one
/// `dynamo::DynamoStore` and hands it to `Deps::build`, which keeps the views it uses.
pub trait Store: UserStore + CounterStore + SessionStore + ChallengeStore {}

impl<T: UserStore + CounterStore + SessionStore + ChallengeStore> Store for T {}

/// Refresh-token sessions, keyed by session id.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Stores a new session (its id must be new).
    async fn create(&self, session: &Session) -> Result<(), StoreError>;
    /// The session, read consistently.
    async fn get(&self, id: &str) -> Result<Option<Session>, StoreError>;
    /// Moves the session from generation `from` to `from + 1`, as one conditional write that
    /// succeeds only if `from` is still current and the session is live. False when it was not.
    async fn advance(&self, id: &str, from: u64, now: u64) -> Result<bool, StoreError>;
    /// Proves the session is still live and at `generation`, as one conditional write (it
    /// records the use in `last_used_at`): false when it is not. The refresh grace path hands
    /// out a token only after this.
    async fn confirm(&self, id: &str, generation: u64, now: u64) -> Result<bool, StoreError>;
    /// Marks the session revoked (idempotent; a missing session is left missing).
    async fn revoke(&self, id: &str, now: u64) -> Result<(), StoreError>;
    /// Revokes every live session of the user (found through the sessions table's `by-user`
    /// index, never a scan) but `except`, a bounded number of writes at a time: how many were
    /// live. Idempotent, so a retry after a failure midway completes the job.
    async fn revoke_all(
        &self,
        user_id: &str,
        except: Option<&str>,
        now: u64,
    ) -> Result<u32, StoreError>;
    /// The sessions of the user, newest first (one `Query` of the `by-user` index, more only
    /// when a page is full): with `live_at`, only those live then (the store filters them, so
    /// revoked and expired sessions are not sent back); without, every one.
    async fn list(&self, user_id: &str, live_at: Option<u64>) -> Result<Vec<Session>, StoreError>;
    /// Revokes the session only if it belongs to `user_id` and is live at `now`: false when it
    /// is not (unknown, another user's, already revoked or expired).
    async fn end_owned(&self, id: &str, user_id: &str, now: u64) -> Result<bool, StoreError>;
    /// Deletes every session of the user but `except` (idempotent).
    async fn delete_all(&self, user_id: &str, except: Option<&str>) -> Result<(), StoreError>;
    /// Deletes one session (idempotent).
    async fn delete_session(&self, id: &str) -> Result<(), StoreError>;

    /// The user's sessions live at `now` but `except` (the one being started), as the session
    /// cap weighs them: one `Query` of the `by-user` index that sends back only ids and times.
    async fn live_uses(
        &self,
        user_id: &str,
        except: &str,
        now: u64,
    ) -> Result<Vec<SessionUse>, StoreError>;
    /// Ends `victim`, a session of `user_id` past the cap, by deleting it, only while it is
    /// live at `now` and still last used when `victim` says (a session refreshed since it was
    /// read is no longer the least recently used one, and is left alone): one conditional
    /// write. Deleted rather than marked revoked, so the user's sessions in the index stay
    /// bounded by the cap; its refresh token is then refused like any unknown session's.
    async fn evict(
        &self,
        user_id: &str,
        victim: &SessionUse,
        now: u64,
    ) -> Result<Eviction, StoreError>;
    /// At most `limit` of the user's sessions live at `now`, newest first, starting after
    /// `after` (the cursor of the page before); `next` is set while more may follow. About
    /// `limit` index items are read per page, not all of the user's.
    async fn page(
        &self,
        user_id: &str,
        now: u64,
        limit: usize,
        after: Option<&SessionCursor>,
    ) -> Result<SessionPage, StoreError>;
}

/// The session `sid` of the user `user_id` when it is live at `now`: what the Lambda authorizer
/// and the account routes check before they trust an access token (one consistent read).
pub async fn live_session(
    sessions: &dyn SessionStore,
    sid: &str,
    user_id: &str,
    now: u64,
) -> Result<Option<Session>, StoreError> {
    let session = sessions.get(sid).await?;
    Ok(session.filter(|s| {
        // A session started before user ids existed has none to compare.
        s.is_live(now) && (s.user_id.is_empty() || s.user_id == user_id)
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::SessionCursor;

    fn cursor() -> SessionCursor {
        SessionCursor {
            sid: "AbC-_123AbC-_123AbC-_1".into(),
            user_id: "user-1".into(),
            created_at: 1_795_809_600,
        }
    }

    #[test]
    fn a_cursor_decodes_for_its_own_user_only() {
        let text = cursor().encode();
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{text}"
        );
        assert!(text.len() <= SessionCursor::MAX_CHARS);
        assert_eq!(SessionCursor::decode(&text, "user-1"), Some(cursor()));
        assert_eq!(
            SessionCursor::decode(&text, "user-2"),
            None,
            "another user's"
        );
        assert_eq!(SessionCursor::decode(&text, ""), None);
    }

    #[test]
    fn a_malformed_cursor_decodes_to_nothing() {
        let text = cursor().encode();
        for (bad, case) in [
            (String::new(), "empty"),
            (format!("{text}="), "padding"),
            (text[1..].to_owned(), "first character cut"),
            ("not base64!".to_owned(), "not base64url"),
            ("A".repeat(SessionCursor::MAX_CHARS + 1), "too long"),
        ] {
            assert_eq!(SessionCursor::decode(&bad, "user-1"), None, "{case}");
        }
    }
}
