//! The audit trail: one structured log event per security-relevant outcome.
//!
//! Every event has `audit=true`, an `action`, an `outcome`, a `reason` code, the source IP and the
//! request id, so CloudWatch Logs Insights can answer "who is brute-forcing us" with
//! `filter audit and action = "login" and outcome = "failure" | stats count(*) by source_ip`.
//! Every event about a user names them by their stable id (`sub`), and the session (`sid`)
//! where there is one, so a trail can be followed across a rename or a re-registered name. The
//! username is included only when the operator enables `AUDIT_LOG_USERNAMES`. Audit events are
//! written whatever `RUST_LOG` says ([`crate::telemetry::filter`]).

use crate::config::{self, ConfigError, Vars};
use crate::error::ApiError;
use crate::http::RequestMeta;
use crate::rate_limit::TakeError;
use crate::token::Claims;

/// Whom an event is about: the user's stable id and session where they are known, and the
/// username (logged only with `AUDIT_LOG_USERNAMES`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Who<'a> {
    /// The user's stable id (`sub`).
    pub sub: Option<&'a str>,
    /// The session id.
    pub sid: Option<&'a str>,
    /// The username, as given or as registered.
    pub username: &'a str,
}

impl<'a> Who<'a> {
    /// Only a name is known (a request refused before any user was read).
    pub fn named(username: &'a str) -> Self {
        Self {
            username,
            ..Self::default()
        }
    }

    /// A user, no session.
    pub fn user(sub: Option<&'a str>, username: &'a str) -> Self {
        Self {
            sub,
            sid: None,
            username,
        }
    }

    /// A user's session.
    pub fn session(sub: &'a str, sid: &'a str, username: &'a str) -> Self {
        Self {
            sub: Some(sub).filter(|s| !s.is_empty()),
            sid: Some(sid),
            username,
        }
    }

    /// The holder of an access token: its user and session.
    pub fn of(claims: &'a Claims) -> Self {
        Self::session(&claims.sub, &claims.sid, &claims.preferred_username)
    }
}

/// What was attempted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `POST /register`.
    Register,
    /// `POST /login`.
    Login,
    /// `POST /refresh`.
    Refresh,
    /// `POST /logout`.
    Logout,
    /// `GET /admin/users/{username}`.
    AdminShowUser,
    /// `PATCH /admin/users/{username}`.
    AdminUpdateUser,
    /// `DELETE /admin/users/{username}/sessions`.
    AdminEndSessions,
    /// `POST /password`.
    ChangePassword,
    /// `DELETE /account`.
    DeleteAccount,
    /// `DELETE /sessions/{sid}`.
    EndSession,
    /// `DELETE /sessions`.
    EndAllSessions,
    /// `POST /login/mfa`.
    LoginMfa,
    /// `POST /mfa/totp`.
    MfaEnroll,
    /// `POST /mfa/totp/confirm`.
    MfaConfirm,
    /// `POST /mfa/recovery-codes`.
    MfaRecoveryCodes,
    /// `DELETE /mfa/totp`.
    MfaDisable,
    /// `GET /account`.
    ShowAccount,
    /// `DELETE /admin/users/{username}/mfa`.
    AdminRemoveMfa,
    /// `POST /email`.
    EmailChange,
    /// `POST /email/verify`.
    EmailVerify,
    /// `POST /email/resend`.
    EmailResend,
    /// `POST /password/forgot`.
    PasswordForgot,
    /// `POST /password/reset`.
    PasswordReset,
}

impl Action {
    /// The `action` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::Login => "login",
            Self::Refresh => "refresh",
            Self::Logout => "logout",
            Self::AdminShowUser => "admin.show_user",
            Self::AdminUpdateUser => "admin.update_user",
            Self::AdminEndSessions => "admin.end_sessions",
            Self::ChangePassword => "change_password",
            Self::DeleteAccount => "delete_account",
            Self::EndSession => "end_session",
            Self::EndAllSessions => "end_all_sessions",
            Self::LoginMfa => "login_mfa",
            Self::MfaEnroll => "mfa.enroll",
            Self::MfaConfirm => "mfa.confirm",
            Self::MfaRecoveryCodes => "mfa.recovery_codes",
            Self::MfaDisable => "mfa.disable",
            Self::ShowAccount => "show_account",
            Self::AdminRemoveMfa => "admin.remove_mfa",
            Self::EmailChange => "email.change",
            Self::EmailVerify => "email.verify",
            Self::EmailResend => "email.resend",
            Self::PasswordForgot => "password.forgot",
            Self::PasswordReset => "password.reset",
        }
    }
}

/// What a security notification tells the user ([`Audit::notify`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// Two-factor authentication was turned on.
    MfaEnabled,
    /// Two-factor authentication was turned off (by the user).
    MfaDisabled,
    /// An admin removed the second factor.
    MfaRemovedByAdmin,
    /// A recovery code was used.
    RecoveryCodeUsed,
    /// A new set of recovery codes replaced the old one.
    RecoveryCodesRegenerated,
    /// The password was changed (by a change or a reset).
    PasswordChanged,
    /// A new address was given (told to the old one).
    EmailChangeRequested,
    /// The account was deleted.
    AccountDeleted,
}

impl Notice {
    /// The notice's code.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MfaEnabled => "mfa_enabled",
            Self::MfaDisabled => "mfa_disabled",
            Self::MfaRemovedByAdmin => "mfa_removed_by_admin",
            Self::RecoveryCodeUsed => "recovery_code_used",
            Self::RecoveryCodesRegenerated => "recovery_codes_regenerated",
            Self::PasswordChanged => "password_changed",
            Self::EmailChangeRequested => "email_change_requested",
            Self::AccountDeleted => "account_deleted",
        }
    }
}

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It did what was asked.
    Success,
    /// It was refused on its merits (bad password, revoked token, taken name).
    Failure,
    /// It was refused unseen, by a rate limit.
    Refused,
}

impl Outcome {
    /// The `outcome` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Refused => "refused",
        }
    }
}

/// Writes audit events.
#[derive(Debug, Clone, Copy)]
pub struct Audit {
    /// Whether events carry the username.
    pub log_usernames: bool,
}

impl Audit {
    /// `AUDIT_LOG_USERNAMES` (off by default).
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        Ok(Self {
            log_usernames: config::audit_log_usernames(vars)?,
        })
    }

    /// Turns a rate limiter's "no" into the error to send: a refusal is recorded and becomes a
    /// 429; a store failure is a 503 (the limiter fails closed) and is no audit event.
    pub fn limited(
        &self,
        meta: &RequestMeta,
        action: Action,
        error: TakeError,
        who: Who<'_>,
    ) -> ApiError {
        match error {
            TakeError::Refused(refusal) => {
                crate::metrics::rate_limited(refusal.policy.name);
                self.record(meta, action, Outcome::Refused, refusal.policy.name, who);
                ApiError::RateLimited(refusal)
            }
            TakeError::Store(e) => e.into(),
        }
    }

    /// Records one admin action: who (`actor`, the caller's token: user id and session), on
    /// whom (`target`, the target's user id) and what changed (`change`, a short JSON text). Ids
    /// are pseudonymous, so they are always logged; the target's username only with
    /// `AUDIT_LOG_USERNAMES`.
    pub fn record_admin(
        &self,
        meta: &RequestMeta,
        action: Action,
        actor: &Claims,
        target: &str,
        change: &str,
        username: &str,
    ) {
        tracing::info!(
            target: "audit",
            audit = true,
            action = action.as_str(),
            outcome = "success",
            reason = "admin",
            actor = actor.sub.as_str(),
            sub = actor.sub.as_str(),
            sid = actor.sid.as_str(),
            target_user = target,
            change,
            source_ip = %meta.source_ip,
            request_id = %meta.request_id,
            username = self.username(username),
            "audit"
        );
        crate::metrics::event(action.as_str(), "success", "admin");
    }

    /// Records a refused caller of a protected route, named as far as the token could be
    /// trusted to name them; `reason` is the error code sent.
    pub fn refused(&self, meta: &RequestMeta, action: Action, reason: &'static str, who: Who<'_>) {
        self.record(meta, action, Outcome::Refused, reason, who);
    }

    /// Records one event, and counts it ([`crate::metrics::event`]); `reason` is a short code
    /// of the code's own (`authenticated`, `invalid_credentials`, a rate-limit policy name, a
    /// refresh refusal), never request data: it is also a metric's dimension.
    pub fn record(
        &self,
        meta: &RequestMeta,
        action: Action,
        outcome: Outcome,
        reason: &'static str,
        who: Who<'_>,
    ) {
        tracing::info!(
            target: "audit",
            audit = true,
            action = action.as_str(),
            outcome = outcome.as_str(),
            reason,
            sub = who.sub,
            sid = who.sid,
            source_ip = %meta.source_ip,
            request_id = %meta.request_id,
            username = self.username(who.username),
            "audit"
        );
        crate::metrics::event(action.as_str(), outcome.as_str(), reason);
    }

    /// The audit event of a security notification (`notify`): `shared::email::Notifier` records it
    /// for every notice and also mails the user's verified address when the function has a
    /// contact channel; functions without one (admin-remove-mfa, login-mfa) record it alone.
    pub fn notify(&self, meta: &RequestMeta, notice: Notice, who: Who<'_>) {
        tracing::info!(
            target: "audit",
            audit = true,
            action = "notify",
            outcome = "success",
            reason = notice.as_str(),
            sub = who.sub,
            sid = who.sid,
            source_ip = %meta.source_ip,
            request_id = %meta.request_id,
            username = self.username(who.username),
            "audit"
        );
        crate::metrics::event("notify", "success", notice.as_str());
    }

    /// The `username` field: tracing records nothing for `None`, so without
    /// `AUDIT_LOG_USERNAMES` the JSON line has no `username` key (not a null one).
    fn username<'a>(&self, username: &'a str) -> Option<&'a str> {
        self.log_usernames
            .then_some(username)
            .filter(|name| !name.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::sync::{Arc, Mutex};

    /// The JSON log lines the functions' subscriber writes while `emit` runs (no metric).
    fn events(emit: impl FnOnce()) -> Vec<Value> {
        let (logs, _) = written(emit);
        logs
    }

    /// The log lines and the metric (EMF) documents written while `emit` runs.
    fn written(emit: impl FnOnce()) -> (Vec<Value>, Vec<Value>) {
        #[derive(Clone, Default)]
        struct Capture(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Capture {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let capture = Capture::default();
        let writer = capture.clone();
        let subscriber = crate::telemetry::subscriber(None, move || writer.clone());
        tracing::subscriber::with_default(subscriber, emit);
        let text = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|line| serde_json::from_str::<Value>(line).unwrap())
            .partition(|line| line.get("_aws").is_none())
    }

    /// Each metric document's metric name and dimension values.
    fn counted(docs: &[Value]) -> Vec<(String, Vec<(String, String)>)> {
        docs.iter()
            .map(|doc| {
                let directive = &doc["_aws"]["CloudWatchMetrics"][0];
                let metric = directive["Metrics"][0]["Name"].as_str().unwrap().to_owned();
                assert_eq!(doc[&metric], 1, "{doc}");
                let mut names: Vec<&str> = directive["Dimensions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .flat_map(|set| set.as_array().unwrap())
                    .map(|name| name.as_str().unwrap())
                    .collect();
                names.sort_unstable();
                names.dedup();
                let values = names
                    .into_iter()
                    .map(|n| (n.to_owned(), doc[n].as_str().unwrap().to_owned()))
                    .collect();
                (metric, values)
            })
            .collect()
    }

    fn pairs(values: &[(&str, &str)]) -> Vec<(String, String)> {
        values
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn every_kind_of_event_is_counted_once_and_names_no_one() {
        let audit = Audit {
            log_usernames: true,
        };
        let refusal = crate::rate_limit::Refusal {
            policy: crate::config::Limit {
                name: "login-ip",
                limit: 1,
                window_seconds: 60,
            },
            retry_after: 1,
        };
        let (logs, docs) = written(|| {
            audit.record(
                &meta(),
                Action::Refresh,
                Outcome::Failure,
                "reuse detected, session revoked",
                Who::session("user-id", "session-id", "alice"),
            );
            audit.record_admin(
                &meta(),
                Action::AdminUpdateUser,
                &actor(),
                "target-id",
                "{}",
                "bob",
            );
            audit.notify(
                &meta(),
                Notice::PasswordChanged,
                Who::user(Some("user-id"), "alice"),
            );
            let _ = audit.limited(
                &meta(),
                Action::Login,
                TakeError::Refused(refusal),
                Who::named("alice"),
            );
        });

        assert_eq!(logs.len(), 4, "{logs:?}");
        let events = |action, outcome, reason| {
            (
                "Events".to_owned(),
                pairs(&[("Action", action), ("Outcome", outcome), ("Reason", reason)]),
            )
        };
        assert_eq!(
            counted(&docs),
            [
                events("refresh", "failure", "reuse_detected_session_revoked"),
                events("admin.update_user", "success", "admin"),
                events("notify", "success", "password_changed"),
                ("RateLimited".to_owned(), pairs(&[("Policy", "login_ip")])),
                events("login", "refused", "login_ip"),
            ]
        );
        let text = serde_json::to_string(&docs).unwrap();
        for who in [
            "alice",
            "bob",
            "user-id",
            "session-id",
            "actor-id",
            "target-id",
            "203.0.113.7",
            "req-1",
        ] {
            assert!(!text.contains(who), "{who} in a metric: {text}");
        }
    }

    fn meta() -> RequestMeta {
        RequestMeta {
            request_id: "req-1".into(),
            source_ip: "203.0.113.7".into(),
        }
    }

    fn record(log_usernames: bool) -> Value {
        let audit = Audit { log_usernames };
        let mut events = events(|| {
            audit.record(
                &meta(),
                Action::Login,
                Outcome::Failure,
                "invalid_credentials",
                Who::session("user-id", "session-id", "alice"),
            )
        });
        assert_eq!(events.len(), 1, "{events:?}");
        events.remove(0)
    }

    fn actor() -> Claims {
        Claims {
            sub: "actor-id".into(),
            preferred_username: "root".into(),
            sid: "actor-session".into(),
            scope: "admin".into(),
            roles: vec!["admin".into()],
            amr: vec!["pwd".into()],
            iat: 0,
            nbf: 0,
            exp: 0,
            jti: "j".into(),
            iss: "i".into(),
            aud: "a".into(),
        }
    }

    fn record_admin(log_usernames: bool) -> Value {
        let audit = Audit { log_usernames };
        let mut events = events(|| {
            audit.record_admin(
                &meta(),
                Action::AdminUpdateUser,
                &actor(),
                "target-id",
                r#"{"disabled":true}"#,
                "alice",
            )
        });
        assert_eq!(events.len(), 1, "{events:?}");
        events.remove(0)
    }

    #[test]
    fn an_event_carries_its_fields_and_the_username_when_enabled() {
        let event = record(true);
        assert_eq!(event["target"], "audit");
        assert_eq!(event["audit"], true);
        assert_eq!(event["action"], "login");
        assert_eq!(event["outcome"], "failure");
        assert_eq!(event["reason"], "invalid_credentials");
        assert_eq!(event["source_ip"], "203.0.113.7");
        assert_eq!(event["request_id"], "req-1");
        assert_eq!(event["username"], "alice");
        assert_eq!(
            (&event["sub"], &event["sid"]),
            (&"user-id".into(), &"session-id".into())
        );
    }

    #[test]
    fn an_event_about_no_known_user_has_no_sub_sid_or_empty_username() {
        let audit = Audit {
            log_usernames: true,
        };
        let event = events(|| {
            audit.record(
                &meta(),
                Action::Refresh,
                Outcome::Failure,
                "forged",
                Who::default(),
            )
        })
        .remove(0);
        for key in ["sub", "sid", "username"] {
            assert!(event.get(key).is_none(), "{key}: {event}");
        }
    }

    #[test]
    fn an_event_has_no_username_key_unless_enabled() {
        // Timestamps differ between two lines; every other key must be the same.
        let keys_but = |mut event: Value, drop: &[&str]| {
            let fields = event.as_object_mut().unwrap();
            for key in drop {
                fields.remove(*key);
            }
            event
        };
        let without = record(false);
        assert!(without.get("username").is_none(), "{without}");
        assert!(!without.to_string().contains("alice"), "{without}");
        assert_eq!(
            keys_but(without, &["timestamp"]),
            keys_but(record(true), &["timestamp", "username"])
        );
    }

    #[test]
    fn an_admin_event_names_actor_target_and_change_and_the_username_only_when_enabled() {
        let event = record_admin(true);
        assert_eq!(event["action"], "admin.update_user");
        assert_eq!(event["outcome"], "success");
        assert_eq!(event["reason"], "admin");
        assert_eq!(event["actor"], "actor-id");
        assert_eq!(
            (&event["sub"], &event["sid"]),
            (&"actor-id".into(), &"actor-session".into())
        );
        assert_eq!(event["target_user"], "target-id");
        assert_eq!(event["change"], r#"{"disabled":true}"#);
        assert_eq!(event["username"], "alice");
        let event = record_admin(false);
        assert!(event.get("username").is_none(), "{event}");
        assert_eq!(event["actor"], "actor-id");
    }
}
