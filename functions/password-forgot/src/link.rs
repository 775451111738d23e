//! The part of a forgot request after the cases are told apart: a reset link written (to the
//! owner of a verified address, or to [`NO_USER`], where its condition fails) and mailed, and the
//! audit event. Nothing here changes the answer, and a request that mails nothing waits as
//! long as a send would ([`crate::pace`]).

use std::time::{Duration, Instant};

use shared::RequestMeta;
use shared::account::Contact;
use shared::audit::{Action, Outcome, Who};
use shared::email::{RESET_TTL_DEFAULT, reset_mail};
use shared::store::UserRecord;
use shared::{ApiError, keyed_token};

use crate::{Deps, NO_USER};

/// Who gets a link: the owner of a verified address, when the address's slot was admitted and
/// mail is configured; else why not (the audit event's outcome and reason).
enum Plan<'a> {
    Send {
        key: &'a str,
        user_id: &'a str,
        /// The address as the user verified it (the request's may differ in case).
        address: &'a str,
        contact: &'a Contact,
    },
    Skip(Outcome, &'static str),
}

fn plan<'a>(
    deps: &'a Deps,
    recipient: Option<&'a (String, UserRecord)>,
    admitted: bool,
) -> Plan<'a> {
    let Some((key, user)) = recipient else {
        return Plan::Skip(Outcome::Failure, "no_verified_account");
    };
    let (Some(user_id), Some(address)) = (&user.user_id, &user.email.verified) else {
        return Plan::Skip(Outcome::Failure, "no_verified_account");
    };
    if !admitted {
        return Plan::Skip(Outcome::Refused, deps.address_limit.name);
    }
    match &deps.contact {
        Some(contact) => Plan::Send {
            key,
            user_id,
            address,
            contact,
        },
        None => Plan::Skip(Outcome::Failure, "no_mail_configured"),
    }
}

/// Writes a reset link and mails it when the [`plan`] says so; otherwise writes one to
/// [`NO_USER`] (its condition fails: nothing is stored), so that every request makes the same
/// write. Never fails: whatever goes wrong is logged and audited, and the answer stays the same.
pub async fn send(
    deps: &Deps,
    meta: &RequestMeta,
    recipient: Option<(String, UserRecord)>,
    admitted: bool,
    now: u64,
) {
    let who = recipient.as_ref().map_or_else(Who::default, |(_, u)| {
        Who::user(u.user_id.as_deref(), &u.username)
    });
    let plan = plan(deps, recipient.as_ref(), admitted);
    let (key, user_id) = match &plan {
        Plan::Send { key, user_id, .. } => (*key, *user_id),
        Plan::Skip(..) => (NO_USER, NO_USER),
    };
    let stored = store_link(deps, key, user_id, now).await;
    let (outcome, reason) = match (plan, stored) {
        (
            Plan::Send {
                address, contact, ..
            },
            Ok(Some(token)),
        ) => {
            let mail = reset_mail(&contact.settings, address, &token);
            let started = Instant::now();
            match contact.mailer.send(&mail).await {
                Ok(()) => {
                    deps.pace.sent(started.elapsed());
                    (Outcome::Success, "reset_link_sent")
                }
                Err(e) => {
                    // Stored but unsent: the user asks again, and the new link supersedes it.
                    tracing::warn!(error = %e, "could not send a reset mail");
                    deps.pace.wait_rest(started.elapsed()).await;
                    (Outcome::Failure, "mail_failed")
                }
            }
        }
        (plan, stored) => {
            // Without mail configured no request sends, and none needs to wait.
            if deps.contact.is_some() {
                deps.pace.wait_rest(Duration::ZERO).await;
            }
            match (plan, stored) {
                (Plan::Skip(outcome, reason), _) => (outcome, reason),
                (_, Err(e)) => {
                    tracing::warn!(error = %e, "could not store a reset link");
                    (Outcome::Failure, "store_failed")
                }
                (_, Ok(_)) => (Outcome::Failure, "user_changed"),
            }
        }
    };
    deps.audit
        .record(meta, Action::PasswordForgot, outcome, reason, who);
}

/// A new reset link for `key`, stored unless the user is no longer `user_id`: its token when
/// stored.
async fn store_link(
    deps: &Deps,
    key: &str,
    user_id: &str,
    now: u64,
) -> Result<Option<String>, ApiError> {
    let ttl = deps
        .contact
        .as_ref()
        .map_or(RESET_TTL_DEFAULT, |c| c.settings.reset_ttl_seconds);
    let (token, hash) = keyed_token::new(key)?;
    let written = deps.users.set_reset(key, user_id, &hash, now + ttl).await?;
    Ok(written.then_some(token))
}
