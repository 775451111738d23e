//! Refresh tokens and sessions (refresh-token families).
//!
//! A refresh token is `rt1_` + base64url(session id ‖ generation ‖ HMAC-SHA256 tag), the tag
//! keyed by a server secret. Nothing about the token is stored: the session row holds only the
//! current generation, and any generation's token can be re-derived, which is what makes the
//! optional grace window possible. The session id is 128 bits from the CSPRNG; the tag makes
//! tokens unforgeable. A refresh token has no dots, so it can never parse as a JWT.

use std::future::Future;
use std::sync::Arc;

use aws_lc_rs::{hmac, rand};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use futures_util::StreamExt;

use crate::config::{ConfigError, SessionConfig};
use crate::error::ApiError;
use crate::keys::KeySet;
use crate::store::{
    Eviction, Session, SessionStore, SessionUse, StoreError, USER_AGENT_MAX_CHARS, UserRecord,
    UserStore,
};

const PREFIX: &str = "rt1_";
const SID_BYTES: usize = 16;
const TAG_BYTES: usize = 32;
const TOKEN_BYTES: usize = SID_BYTES + 8 + TAG_BYTES;
const MAC_CONTEXT: &[u8] = b"auth-api refresh token v1\0";

/// Mints and opens refresh tokens.
pub struct RefreshTokens {
    key: hmac::Key,
}

impl RefreshTokens {
    /// The minter keyed by the key set's refresh secret; a key set without one (public-only)
    /// cannot start a function that needs it.
    pub fn new(keys: &KeySet) -> Result<Self, ConfigError> {
        let key = keys.refresh_key().cloned().ok_or(ConfigError::Invalid {
            name: "JWT_KEYS",
            reason: "the key set has no refresh secret".into(),
        })?;
        Ok(Self { key })
    }

    fn tag(&self, sid: &[u8], generation: u64) -> hmac::Tag {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(MAC_CONTEXT);
        ctx.update(sid);
        ctx.update(&generation.to_be_bytes());
        ctx.sign()
    }

    /// The refresh token of `generation` in session `sid` (a session id from [`new_session_id`]).
    pub fn mint(&self, sid: &str, generation: u64) -> Result<String, ApiError> {
        let sid_bytes = B64
            .decode(sid)
            .ok()
            .filter(|b| b.len() == SID_BYTES)
            .ok_or_else(|| ApiError::Internal("malformed session id".into()))?;
        let mut raw = Vec::with_capacity(TOKEN_BYTES);
        raw.extend_from_slice(&sid_bytes);
        raw.extend_from_slice(&generation.to_be_bytes());
        raw.extend_from_slice(self.tag(&sid_bytes, generation).as_ref());
        Ok(format!("{PREFIX}{}", B64.encode(raw)))
    }

    /// The session id and generation of a genuine token; `None` for anything else.
    pub fn open(&self, token: &str) -> Option<(String, u64)> {
        let body = token.strip_prefix(PREFIX)?;
        if body.len() > 128 {
            return None;
        }
        let raw = B64.decode(body).ok().filter(|r| r.len() == TOKEN_BYTES)?;
        let (sid, rest) = raw.split_at(SID_BYTES);
        let (generation, tag) = rest.split_at(8);
        let generation = u64::from_be_bytes(generation.try_into().ok()?);
        // Constant-time comparison of the tag.
        let mut ctx = Vec::with_capacity(MAC_CONTEXT.len() + SID_BYTES + 8);
        ctx.extend_from_slice(MAC_CONTEXT);
        ctx.extend_from_slice(sid);
        ctx.extend_from_slice(&generation.to_be_bytes());
        hmac::verify(&self.key, &ctx, tag).ok()?;
        Some((B64.encode(sid), generation))
    }
}

/// A new random session id (128 bits, base64url).
pub fn new_session_id() -> Result<String, ApiError> {
    let mut sid = [0u8; SID_BYTES];
    rand::fill(&mut sid)
        .map_err(|_| ApiError::Internal("no randomness for a session id".into()))?;
    Ok(B64.encode(sid))
}

/// A successful refresh.
#[derive(Debug)]
pub struct Refreshed {
    /// The session's user, as stored now (roles and all).
    pub user: UserRecord,
    /// The user's stable id.
    pub user_id: String,
    /// The session's user.
    pub username: String,
    /// The session id.
    pub sid: String,
    /// The refresh token to hand out now.
    pub refresh_token: String,
    /// True when the grace window handed back the current generation instead of rotating.
    pub from_grace: bool,
    /// The session's absolute end: no access token of it may outlive this.
    pub session_expires_at: u64,
    /// How the user authenticated when the session started (`amr`): its tokens keep it.
    pub amr: Vec<String>,
}

/// Why a refresh token was refused. All answer the same 401 `invalid_grant`; the reason goes to
/// the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GrantRefused {
    /// Not a refresh token of ours.
    #[error("malformed or forged")]
    Forged,
    /// No session with that id.
    #[error("unknown session")]
    UnknownSession,
    /// The session was revoked (logout, reuse).
    #[error("session revoked")]
    Revoked,
    /// The session's absolute lifetime has passed.
    #[error("session expired")]
    Expired,
    /// An older generation was presented: the session has just been revoked.
    #[error("reuse detected, session revoked")]
    Reused,
    /// A generation the session never reached.
    #[error("unknown generation")]
    UnknownGeneration,
    /// Concurrent rotations kept winning the race.
    #[error("rotation contention")]
    Contention,
    /// The user was deleted (or the name now belongs to another user): the session is revoked.
    #[error("user gone, session revoked")]
    UserGone,
    /// The user is disabled: the session is revoked.
    #[error("account disabled, session revoked")]
    AccountDisabled,
}

impl GrantRefused {
    /// The `reason` of the audit event (the same text as `Display`; audit queries match it).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Forged => "malformed or forged",
            Self::UnknownSession => "unknown session",
            Self::Revoked => "session revoked",
            Self::Expired => "session expired",
            Self::Reused => "reuse detected, session revoked",
            Self::UnknownGeneration => "unknown generation",
            Self::Contention => "rotation contention",
            Self::UserGone => "user gone, session revoked",
            Self::AccountDisabled => "account disabled, session revoked",
        }
    }
}

/// The session a refused refresh token belongs to, as far as it could be read: for the audit
/// trail (refresh-token reuse names the session and its user).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holder {
    /// The session id, once the token is one of ours.
    pub sid: Option<String>,
    /// The session's user, once the session was read.
    pub user_id: Option<String>,
}

impl Holder {
    fn of(session: &Session) -> Self {
        Self {
            sid: Some(session.id.clone()),
            user_id: Some(session.user_id.clone()).filter(|id| !id.is_empty()),
        }
    }
}

/// Why a refresh or logout did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    /// The token was refused (401 `invalid_grant`), and whose it was as far as known.
    #[error("refresh token refused: {0}")]
    Refused(GrantRefused, Holder),
    /// The store or signing failed.
    #[error(transparent)]
    Failed(#[from] ApiError),
}

impl From<StoreError> for GrantError {
    fn from(e: StoreError) -> Self {
        Self::Failed(e.into())
    }
}

/// Where a session was started from.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    /// The client's address.
    pub source_ip: String,
    /// Its `User-Agent` (cut to [`USER_AGENT_MAX_CHARS`] characters when stored).
    pub user_agent: String,
}

/// A session just started.
#[derive(Debug)]
pub struct Started {
    /// Its id.
    pub sid: String,
    /// Its first refresh token.
    pub refresh_token: String,
    /// Its absolute end: no access token of it may outlive this.
    pub expires_at: u64,
    /// The sessions of the user that starting this one ended to keep within the cap (see
    /// [`Sessions::enforce_cap`]), for the caller's audit trail.
    pub evicted: Vec<String>,
}

/// What the session cap saw of the user's other live sessions while a new one was being
/// stored ([`Sessions::survey`]); nothing when that look failed.
#[derive(Debug)]
pub struct Survey(Option<Vec<SessionUse>>);

/// Evictions written at once when a login ends sessions past the cap (many only after the
/// cap was lowered).
const EVICTIONS_IN_FLIGHT: usize = 16;
/// Rounds of evictions: a session refreshed meanwhile is skipped, and the next one in line is
/// tried in the following round.
const EVICTION_ROUNDS: usize = 3;

/// Session lifecycle: start at login, rotate on refresh, revoke on reuse or logout.
pub struct Sessions {
    store: Arc<dyn SessionStore>,
    tokens: RefreshTokens,
    config: SessionConfig,
}

impl Sessions {
    /// Sessions on `store`, with refresh tokens keyed by the key set's refresh secret.
    pub fn new(
        store: Arc<dyn SessionStore>,
        keys: &KeySet,
        config: SessionConfig,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            store,
            tokens: RefreshTokens::new(keys)?,
            config,
        })
    }

    /// Creates a session for the user and returns its id and first refresh token, keeping the
    /// user within the cap as [`Sessions::start_from`] does (what it ended is not reported).
    pub async fn start(
        &self,
        user_id: &str,
        username: &str,
        now: u64,
    ) -> Result<(String, String), ApiError> {
        let started = self
            .start_from(user_id, username, &Origin::default(), now)
            .await?;
        Ok((started.sid, started.refresh_token))
    }

    /// Creates a session for the user, noting where it was started from (shown by
    /// `GET /sessions`), after a password alone (`amr` `["pwd"]`), and keeps the user within
    /// the cap: the look at their other sessions runs beside the write, so a login below the
    /// cap takes no extra round trip, and one at the cap one more (the evictions).
    pub async fn start_from(
        &self,
        user_id: &str,
        username: &str,
        origin: &Origin,
        now: u64,
    ) -> Result<Started, ApiError> {
        let pwd = vec!["pwd".to_owned()];
        let (session, mut started) = self.prepare(user_id, username, origin, &pwd, now)?;
        let (created, survey) =
            tokio::join!(self.store.create(&session), self.survey(&session, now));
        created?;
        started.evicted = self.enforce_cap(&session, survey, now).await;
        Ok(started)
    }

    /// The session cap's look at the user's other live sessions, to run beside the write that
    /// stores `session` (one `Query` of the `by-user` index, sending back ids and times only).
    /// A failure is logged, not returned: the cap is bookkeeping, and the next login of the
    /// user, which ends every session past the cap, catches up.
    pub async fn survey(&self, session: &Session, now: u64) -> Survey {
        if session.user_id.is_empty() {
            return Survey(None);
        }
        match self
            .store
            .live_uses(&session.user_id, &session.id, now)
            .await
        {
            Ok(others) => Survey(Some(others)),
            Err(e) => {
                tracing::warn!(error = %e, "could not count the user's sessions for the cap");
                Survey(None)
            }
        }
    }

    /// Once `session` is stored: ends the least recently used of the user's other live
    /// sessions (as `survey` saw them) until the user holds at most `SESSION_CAP`, and returns
    /// the ids this call ended. Each end is a conditional delete ([`SessionStore::evict`]):
    /// only while the session is live and unused since the survey, so one refreshed meanwhile
    /// is passed over for the next in line, and one that a concurrent login (or a logout)
    /// ended meanwhile counts as ended. Never `session` itself, nor any session started in the
    /// same second or later: that may be a concurrent login's, which must not end this one's
    /// in return. So k logins of one user at once leave at most `cap + k - 1` live sessions
    /// (each sees the others' only if their writes came first), and the next login brings the
    /// user back to the cap. Failures are logged, as in [`Sessions::survey`].
    pub async fn enforce_cap(&self, session: &Session, survey: Survey, now: u64) -> Vec<String> {
        let Some(others) = survey.0 else {
            return Vec::new();
        };
        let (mut needed, mut line) = past_cap(others, session, self.config.cap);
        let mut ended = Vec::new();
        for _ in 0..EVICTION_ROUNDS {
            if needed == 0 || line.is_empty() {
                break;
            }
            let round: Vec<SessionUse> = line.drain(..needed.min(line.len())).collect();
            // Collected first: the writes borrow `round`, which outlives them.
            let writes: Vec<_> = round
                .iter()
                .map(|victim| self.store.evict(&session.user_id, victim, now))
                .collect();
            let results: Vec<_> = futures_util::stream::iter(writes)
                .buffered(EVICTIONS_IN_FLIGHT)
                .collect()
                .await;
            for (victim, result) in round.into_iter().zip(results) {
                match result {
                    Ok(Eviction::Ended) => {
                        needed -= 1;
                        ended.push(victim.id);
                    }
                    Ok(Eviction::Gone) => needed -= 1,
                    Ok(Eviction::Used) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "could not end a session past the cap");
                        return ended;
                    }
                }
            }
        }
        ended
    }

    /// A new session for the user, not yet stored (a login that stores it with other writes,
    /// in one transaction), and what its holder is given once it is.
    pub fn prepare(
        &self,
        user_id: &str,
        username: &str,
        origin: &Origin,
        amr: &[String],
        now: u64,
    ) -> Result<(Session, Started), ApiError> {
        let mut amr = amr.to_vec();
        amr.sort();
        let session = Session {
            id: new_session_id()?,
            user_id: user_id.to_owned(),
            username: username.to_owned(),
            created_at: now,
            expires_at: now + self.config.ttl_seconds,
            generation: 0,
            rotated_at: now,
            revoked: false,
            last_used_at: now,
            source_ip: origin.source_ip.clone(),
            user_agent: origin
                .user_agent
                .chars()
                .take(USER_AGENT_MAX_CHARS)
                .collect(),
            amr,
        };
        let started = Started {
            refresh_token: self.tokens.mint(&session.id, 0)?,
            sid: session.id.clone(),
            expires_at: session.expires_at,
            evicted: Vec::new(),
        };
        Ok((session, started))
    }

    /// Exchanges a refresh token for the next generation. Rotation is one conditional write, so
    /// of concurrent refreshes with one token exactly one advances the session; presenting an
    /// older generation (outside the grace window) revokes the whole session.
    ///
    /// Two sequential round trips: `admit` (the caller's rate limit) runs while the session is
    /// read, and the user is re-read while the session rotates, so a role change shows in the
    /// next token and a deleted or disabled user's session is revoked. What `admit` hands back
    /// (the rate limit's clean-up) runs beside the rotation.
    pub async fn refresh<F: Future<Output = ()>>(
        &self,
        presented: &str,
        now: u64,
        admit: impl Future<Output = Result<F, ApiError>>,
        users: &dyn UserStore,
    ) -> Result<Refreshed, GrantError> {
        use GrantRefused::*;
        let refused = |r, holder| Err(GrantError::Refused(r, holder));
        let Some((sid, generation)) = self.tokens.open(presented) else {
            // A forged token still counts against the caller's limit.
            admit.await?;
            return refused(Forged, Holder::default());
        };
        let (admitted, first) = tokio::join!(admit, self.store.get(&sid));
        let mut beside = Some(admitted?);
        let mut read = Some(first);
        // Two rounds at most: a lost rotation race is looked at once more with fresh state.
        for _ in 0..2 {
            let fresh = match read.take() {
                Some(first) => first,
                None => self.store.get(&sid).await,
            };
            let Some(session) = fresh? else {
                return refused(
                    UnknownSession,
                    Holder {
                        sid: Some(sid),
                        user_id: None,
                    },
                );
            };
            if session.revoked {
                return refused(Revoked, Holder::of(&session));
            }
            if now >= session.expires_at {
                return refused(Expired, Holder::of(&session));
            }
            let key = session.username.to_lowercase();
            if generation == session.generation {
                let beside = beside.take();
                let (advanced, user, ()) = tokio::join!(
                    self.store.advance(&sid, generation, now),
                    users.find(&key),
                    async move {
                        if let Some(beside) = beside {
                            beside.await;
                        }
                    }
                );
                if advanced? {
                    let user = self.current_user(&session, user?, now).await?;
                    let amr = session_amr(&session);
                    return Ok(Refreshed {
                        user_id: user.user_id.clone().unwrap_or_default(),
                        user,
                        username: session.username,
                        refresh_token: self.tokens.mint(&sid, generation + 1)?,
                        sid,
                        from_grace: false,
                        session_expires_at: session.expires_at,
                        amr,
                    });
                }
                continue;
            }
            let grace = self.config.grace_seconds;
            if generation + 1 == session.generation
                && grace > 0
                && now <= session.rotated_at + grace
            {
                // Only after a write that proves the session is still live at this generation:
                // revoked or rotated since the read, it hands out nothing.
                let beside = beside.take();
                let (confirmed, user, ()) = tokio::join!(
                    self.store.confirm(&sid, session.generation, now),
                    users.find(&key),
                    async move {
                        if let Some(beside) = beside {
                            beside.await;
                        }
                    }
                );
                if !confirmed? {
                    continue;
                }
                let user = self.current_user(&session, user?, now).await?;
                let amr = session_amr(&session);
                return Ok(Refreshed {
                    user_id: user.user_id.clone().unwrap_or_default(),
                    user,
                    username: session.username,
                    refresh_token: self.tokens.mint(&sid, session.generation)?,
                    sid,
                    from_grace: true,
                    session_expires_at: session.expires_at,
                    amr,
                });
            }
            if generation < session.generation {
                self.store.revoke(&sid, now).await?;
                return refused(Reused, Holder::of(&session));
            }
            return refused(UnknownGeneration, Holder::of(&session));
        }
        refused(
            Contention,
            Holder {
                sid: Some(sid),
                user_id: None,
            },
        )
    }

    /// The session's user as stored now; a deleted user (or a name that now belongs to another
    /// user) or a disabled one revokes the session instead.
    async fn current_user(
        &self,
        session: &Session,
        user: Option<UserRecord>,
        now: u64,
    ) -> Result<UserRecord, GrantError> {
        let reason = match &user {
            None => Some(GrantRefused::UserGone),
            // A session started before ids existed has none to compare.
            Some(u)
                if !session.user_id.is_empty()
                    && u.user_id.as_deref() != Some(session.user_id.as_str()) =>
            {
                Some(GrantRefused::UserGone)
            }
            Some(u) if u.disabled => Some(GrantRefused::AccountDisabled),
            Some(_) => None,
        };
        match (reason, user) {
            (None, Some(user)) => Ok(user),
            (reason, _) => {
                self.store.revoke(&session.id, now).await?;
                Err(GrantError::Refused(
                    reason.unwrap_or(GrantRefused::UserGone),
                    Holder::of(session),
                ))
            }
        }
    }

    /// Revokes the session of a genuine refresh token (idempotent): its id.
    pub async fn end(&self, presented: &str, now: u64) -> Result<String, GrantError> {
        let Some((sid, _)) = self.tokens.open(presented) else {
            return Err(GrantError::Refused(GrantRefused::Forged, Holder::default()));
        };
        self.store.revoke(&sid, now).await?;
        Ok(sid)
    }
}

/// How many of the user's other live sessions must end for `new` to fit within `cap`, and the
/// ones that may, least recently used first: never one started in the same second as `new` or
/// later (see [`Sessions::enforce_cap`]).
fn past_cap(mut others: Vec<SessionUse>, new: &Session, cap: u32) -> (usize, Vec<SessionUse>) {
    let cap = usize::try_from(cap).unwrap_or(usize::MAX);
    let needed = (others.len() + 1).saturating_sub(cap);
    others.retain(|s| s.created_at < new.created_at && s.id != new.id);
    others.sort_by(|a, b| {
        (a.last_used_at, a.created_at, &a.id).cmp(&(b.last_used_at, b.created_at, &b.id))
    });
    (needed, others)
}

/// A session's `amr`: `["pwd"]` for one started before it was kept.
fn session_amr(session: &Session) -> Vec<String> {
    if session.amr.is_empty() {
        vec!["pwd".to_owned()]
    } else {
        session.amr.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::generate_document;

    fn tokens() -> RefreshTokens {
        let doc = generate_document("k").unwrap();
        RefreshTokens::new(&KeySet::parse(&serde_json::to_string(&doc).unwrap()).unwrap()).unwrap()
    }

    #[test]
    fn minted_tokens_open_to_their_session_and_generation() {
        let t = tokens();
        let sid = new_session_id().unwrap();
        let token = t.mint(&sid, 7).unwrap();
        assert!(token.starts_with("rt1_") && !token.contains('.'), "{token}");
        assert_eq!(t.open(&token), Some((sid.clone(), 7)));
        assert_ne!(t.mint(&sid, 8).unwrap(), token);
        assert_eq!(t.mint(&sid, 7).unwrap(), token, "re-derivable");
    }

    #[test]
    fn session_ids_are_random_128_bit() {
        let a = new_session_id().unwrap();
        assert_eq!(B64.decode(&a).unwrap().len(), 16);
        assert_ne!(a, new_session_id().unwrap());
    }

    fn used(id: &str, created_at: u64, last_used_at: u64) -> SessionUse {
        SessionUse {
            id: id.into(),
            created_at,
            last_used_at,
        }
    }

    fn new_session(created_at: u64) -> Session {
        Session {
            id: "new".into(),
            user_id: "u".into(),
            username: "name".into(),
            created_at,
            expires_at: created_at + 3600,
            generation: 0,
            rotated_at: created_at,
            revoked: false,
            last_used_at: created_at,
            source_ip: String::new(),
            user_agent: String::new(),
            amr: vec!["pwd".into()],
        }
    }

    #[test]
    fn below_the_cap_nothing_ends() {
        let others = vec![used("a", 10, 10), used("b", 20, 20)];
        assert_eq!(past_cap(others.clone(), &new_session(100), 3).0, 0);
        assert_eq!(past_cap(others, &new_session(100), 100).0, 0);
    }

    #[test]
    fn past_the_cap_the_least_recently_used_end_first() {
        // Started in this order, but `a` was refreshed last.
        let others = vec![used("a", 10, 90), used("b", 20, 20), used("c", 30, 50)];
        let (needed, line) = past_cap(others, &new_session(100), 2);
        assert_eq!(needed, 2, "3 others and the new one, 2 allowed");
        let ids: Vec<&str> = line.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["b", "c", "a"]);
    }

    #[test]
    fn sessions_started_in_the_same_second_or_later_are_never_in_line() {
        // `x` and `y` may be concurrent logins' sessions: ending them could end each other's.
        let others = vec![
            used("x", 100, 100),
            used("old", 10, 10),
            used("y", 101, 101),
        ];
        let (needed, line) = past_cap(others, &new_session(100), 1);
        assert_eq!(needed, 3);
        let ids: Vec<&str> = line.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["old"]);
    }

    #[test]
    fn forged_or_foreign_tokens_do_not_open() {
        let t = tokens();
        let sid = new_session_id().unwrap();
        let token = t.mint(&sid, 1).unwrap();
        let mut raw = B64.decode(&token[4..]).unwrap();
        raw[SID_BYTES + 7] ^= 1; // generation bumped without the key
        let bumped = format!("rt1_{}", B64.encode(&raw));
        for (bad, case) in [
            (bumped, "generation changed"),
            (tokens().mint(&sid, 1).unwrap(), "other key"),
            (token[4..].to_string(), "no prefix"),
            (format!("{token}AA"), "extra bytes"),
            ("rt1_".to_string(), "empty"),
            (format!("rt1_{}", "A".repeat(500)), "huge"),
            ("eyJhbGciOiJFZERTQSJ9.e30.sig".to_string(), "a JWT"),
        ] {
            assert!(t.open(&bad).is_none(), "{case}");
        }
    }
}
