//! The audit trail: one structured log event per security-relevant outcome.
//!
//! Every event has `audit=true`, an `action`, an `outcome`, a `reason` code, the source IP and the
//! request id, so CloudWatch Logs Insights can answer "who is brute-forcing us" with
//! `filter audit and action = "login" and outcome = "failure" | stats count(*) by source_ip`.
//! The username is included only when the operator enables `AUDIT_LOG_USERNAMES`.

use crate::error::ApiError;
use crate::http::RequestMeta;
use crate::rate_limit::Refusal;

#[derive(Debug, Clone, Copy)]
pub struct Audit {
    pub log_usernames: bool,
}

impl Audit {
    /// Records a rate-limit refusal of `action` and turns it into the `429` to send.
    pub fn refused(
        &self,
        meta: &RequestMeta,
        action: &str,
        refusal: Refusal,
        username: &str,
    ) -> ApiError {
        self.record(meta, action, "refused", refusal.policy.name, username);
        ApiError::RateLimited(refusal)
    }

    /// Records one event. `outcome` is `success`, `failure` or `refused`.
    pub fn record(
        &self,
        meta: &RequestMeta,
        action: &str,
        outcome: &str,
        reason: &str,
        username: &str,
    ) {
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
