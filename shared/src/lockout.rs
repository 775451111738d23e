//! Password-guessing limits that bound guessing without letting anyone lock the owner out (the
//! idea of Azure AD's smart lockout): failed password checks of one account count
//!
//! - against three account-wide tiers (`login-user`: 5 per minute, 10 per 15 minutes, 100 per
//!   day by default) when they come from a source that is not familiar, and
//! - against `login-user-source` (5 per minute and 100 per day) alone when they come from a
//!   *familiar* source: an address (IPv6 by /64) that logged in to the account successfully in
//!   the last 30 days, as the user it is now (a mark names the user's stable id and is forgotten
//!   by a password change, "log out everywhere" and a disable; a re-registered name inherits
//!   none).
//!
//! So an attacker elsewhere exhausting the account-wide tiers cannot block the owner's usual
//! network, and the owner's own typos do not use up the account-wide budget. Login, `POST
//! /password` and `DELETE /account` share these limits.
//!
//! Every slot is taken (and the familiar mark read) in one wave, before any hashing; which of
//! them count is decided from the mark, and the others are given back in the next wave, beside
//! the work that wave does anyway (the kept ones drop their logs' stale entries there too). So
//! a check costs no extra sequential round trip.

use crate::config::LoginLimits;
use crate::rate_limit::{RateLimiter, Slot, TakeError, source_subject};
use std::future::Future;

use crate::store::{CounterStore, FamiliarMark, StoreError, UserRecord};

/// One attempt's slots, taken before the password is checked.
#[derive(Debug)]
pub struct Attempt {
    /// The source logged in to this account before (within `FAMILIAR_SOURCE_DAYS`).
    pub familiar: bool,
    /// The slots a failure counts against (the source's if familiar, the tiers' otherwise).
    counted: Vec<Slot>,
    /// The slots taken that a failure does not count against.
    uncounted: Vec<Slot>,
    /// The key of the familiar mark.
    mark: String,
    /// What the mark is to hold on success: the user as they are now.
    tag: Option<String>,
}

impl Attempt {
    /// Every slot taken, counted or not.
    fn into_slots(self) -> Vec<Slot> {
        let mut all = self.counted;
        all.extend(self.uncounted);
        all
    }
}

/// The account's failure limits on the counter store.
pub struct Lockout<'a> {
    limiter: &'a RateLimiter,
    marks: &'a dyn CounterStore,
    limits: &'a LoginLimits,
}

impl<'a> Lockout<'a> {
    /// The limits `limits` on these counters.
    pub fn new(
        limiter: &'a RateLimiter,
        marks: &'a dyn CounterStore,
        limits: &'a LoginLimits,
    ) -> Self {
        Self {
            limiter,
            marks,
            limits,
        }
    }

    /// Takes a failure slot of every policy for `account` (the lower-cased username) from
    /// `source_ip`, reads the source's familiar mark, and reads the user (`user`, the caller's
    /// read of the account), all at once. The source is familiar when its mark names this user
    /// as they are now ([`UserRecord::familiar_tag`]): a re-registered name, or a user whose
    /// password changed, who logged out everywhere or was disabled since, inherits no mark.
    /// Refused when a policy that applies is spent (its slots are then given back); a store
    /// failure refuses too (fail closed). The user read comes back beside the attempt.
    pub async fn begin<F>(
        &self,
        account: &str,
        source_ip: &str,
        now: u64,
        user: F,
    ) -> (
        Result<Attempt, TakeError>,
        Result<Option<UserRecord>, StoreError>,
    )
    where
        F: Future<Output = Result<Option<UserRecord>, StoreError>>,
    {
        let source = source_subject(source_ip);
        let pair = format!("{account}@{source}");
        let mark = format!("familiar#{pair}");
        let [short, medium, long] = self.limits.account_tiers();
        let [by_source, by_source_day] = self.limits.source_tiers();
        let (owner, user, by_source, by_source_day, short, medium, long) = tokio::join!(
            self.marks.marked(&mark, now),
            user,
            self.limiter.take(by_source, &pair, now),
            self.limiter.take(by_source_day, &pair, now),
            self.limiter.take(short, account, now),
            self.limiter.take(medium, account, now),
            self.limiter.take(long, account, now),
        );
        let slots = [by_source, by_source_day, short, medium, long];
        let owner = match owner {
            Ok(owner) => owner,
            Err(e) => {
                self.release(slots.into_iter().filter_map(Result::ok).collect())
                    .await;
                return (Err(e.into()), user);
            }
        };
        let tag = user
            .as_ref()
            .ok()
            .and_then(Option::as_ref)
            .and_then(UserRecord::familiar_tag);
        let familiar = owner.is_some() && owner == tag;
        (self.split(slots, familiar, mark, tag).await, user)
    }

    /// Which slots count: a familiar source's failures against its own tiers only, any other
    /// source's against the account-wide tiers only.
    async fn split(
        &self,
        [by_source, by_source_day, short, medium, long]: [Result<Slot, TakeError>; 5],
        familiar: bool,
        mark: String,
        tag: Option<String>,
    ) -> Result<Attempt, TakeError> {
        let results = [
            (familiar, by_source),
            (familiar, by_source_day),
            (!familiar, short),
            (!familiar, medium),
            (!familiar, long),
        ];
        let (mut counted, mut uncounted, mut error) = (Vec::new(), Vec::new(), None);
        for (counts, result) in results {
            match result {
                Ok(slot) if counts => counted.push(slot),
                Ok(slot) => uncounted.push(slot),
                // A spent policy that does not apply to this source refuses nothing.
                Err(TakeError::Refused(_)) if !counts => {}
                Err(e) => {
                    error.get_or_insert(e);
                }
            }
        }
        if let Some(error) = error {
            counted.append(&mut uncounted);
            self.release(counted).await;
            return Err(error);
        }
        Ok(Attempt {
            familiar,
            counted,
            uncounted,
            mark,
            tag,
        })
    }

    /// The password was wrong: only the slots that count stay taken.
    pub async fn failed(&self, attempt: Attempt) {
        let settled = attempt.counted.iter().map(|s| self.limiter.settle(s));
        tokio::join!(
            self.release(attempt.uncounted),
            futures_util::future::join_all(settled)
        );
    }

    /// The password was right: no slot counts, and the source becomes (or stays) familiar for
    /// `FAMILIAR_SOURCE_DAYS`.
    pub async fn succeeded(&self, attempt: Attempt, now: u64) {
        let expires = now + self.limits.familiar_seconds;
        let (mark, tag) = (attempt.mark.clone(), attempt.tag.clone());
        let marking = async {
            match &tag {
                Some(tag) => self.marks.mark(&mark, tag, expires).await,
                // A user stored before ids existed: made familiar once it has one.
                None => Ok(()),
            }
        };
        let (_, marked) = tokio::join!(self.release(attempt.into_slots()), marking);
        if let Err(e) = marked {
            // Best effort: the next login from here is then counted as unfamiliar.
            tracing::warn!(error = %e, "could not mark the login's source as familiar");
        }
    }

    /// The familiar mark [`Lockout::succeeded`] would write, for a login that writes it together
    /// with its other writes (`POST /login/mfa`'s one transaction) and gives the slots back with
    /// [`Lockout::abandoned`] beside it: `None` for a user stored before ids existed.
    pub fn familiar_mark(&self, attempt: &Attempt, now: u64) -> Option<FamiliarMark> {
        attempt.tag.as_ref().map(|owner| FamiliarMark {
            key: attempt.mark.clone(),
            owner: owner.clone(),
            expires_at: now + self.limits.familiar_seconds,
        })
    }

    /// The right password, but the login goes no further (a disabled account): nothing counts,
    /// and the source is not made familiar.
    pub async fn abandoned(&self, attempt: Attempt) {
        self.release(attempt.into_slots()).await;
    }

    /// Gives back `slots` at once. Best effort: an unreturned slot only makes its limit a
    /// little stricter for the rest of its window.
    async fn release(&self, slots: Vec<Slot>) {
        let results =
            futures_util::future::join_all(slots.iter().map(|s| self.limiter.give_back(s))).await;
        if let Some(Err(e)) = results.into_iter().find(Result::is_err) {
            tracing::warn!(error = %e, "could not give back a rate-limit slot");
        }
    }
}
