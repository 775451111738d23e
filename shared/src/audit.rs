//! The audit trail: one structured log event per security-relevant outcome.
//!
//! Every event has `audit=true`, an `action`, an `outcome`, a `reason` code, the source IP and the
//! request id, so CloudWatch Logs Insights can answer "who is brute-forcing us" with
//! `filter audit and action = "login" and outcome = "failure" | stats count(*) by source_ip`.
//! The username is included only when the operator enables `AUDIT_LOG_USERNAMES`.

use crate::config::{self, ConfigError, Vars};
use crate::error::ApiError;
use crate::http::RequestMeta;
use crate::rate_limit::TakeError;

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
        username: &str,
    ) -> ApiError {
        match error {
            TakeError::Refused(refusal) => {
                self.record(
                    meta,
                    action,
                    Outcome::Refused,
                    refusal.policy.name,
                    username,
                );
                ApiError::RateLimited(refusal)
            }
            TakeError::Store(e) => e.into(),
        }
    }

    /// Records one admin action: who (`actor`, the caller's user id), on whom (`target`, the
    /// target's user id) and what changed (`change`, a short JSON text). Ids are pseudonymous, so
    /// they are always logged; the target's username only with `AUDIT_LOG_USERNAMES`.
    pub fn record_admin(
        &self,
        meta: &RequestMeta,
        action: Action,
        actor: &str,
        target: &str,
        change: &str,
        username: &str,
    ) {
        let action = action.as_str();
        if self.log_usernames {
            tracing::info!(
                target: "audit",
                audit = true,
                action,
                outcome = "success",
                reason = "admin",
                actor,
                target_user = target,
                change,
                source_ip = %meta.source_ip,
                request_id = %meta.request_id,
                username,
                "audit"
            );
        } else {
            tracing::info!(
                target: "audit",
                audit = true,
                action,
                outcome = "success",
                reason = "admin",
                actor,
                target_user = target,
                change,
                source_ip = %meta.source_ip,
                request_id = %meta.request_id,
                "audit"
            );
        }
    }

    /// Records one event; `reason` is a short code (`authenticated`, `invalid_credentials`,
    /// a rate-limit policy name, a refresh refusal).
    pub fn record(
        &self,
        meta: &RequestMeta,
        action: Action,
        outcome: Outcome,
        reason: &str,
        username: &str,
    ) {
        let (action, outcome) = (action.as_str(), outcome.as_str());
        if self.log_usernames {
            tracing::info!(
                target: "audit",
                audit = true,
                action,
                outcome,
                reason,
                source_ip = %meta.source_ip,
                request_id = %meta.request_id,
                username,
                "audit"
            );
        } else {
            tracing::info!(
                target: "audit",
                audit = true,
                action,
                outcome,
                reason,
                source_ip = %meta.source_ip,
                request_id = %meta.request_id,
                "audit"
            );
        }
    }
}
