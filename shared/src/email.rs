//! The contact channel's domain (feature `mail`): its settings, the links mails carry and the
//! mails themselves, and [`Notifier`], the one place a security notice is sent.
//!
//! Links carry their token in the URL **fragment** (`#token=...`): a browser never sends it to a
//! server, so it reaches no access log and no `Referer`. The base URL is configured
//! (`PUBLIC_BASE_URL`), never taken from the request's `Host`.

use crate::audit::{Audit, Notice, Who};
use crate::config::{ConfigError, Vars};
use crate::error::ApiError;
use crate::http::RequestMeta;
use crate::mail::{Mail, Mailer};
use crate::store::UserRecord;

/// The verification link's lifetime by default (24 h).
pub const VERIFY_TTL_DEFAULT: u64 = 24 * 3600;
/// The reset link's lifetime by default (30 min).
pub const RESET_TTL_DEFAULT: u64 = 30 * 60;
/// The longest link token read from a body.
pub const MAX_LINK_TOKEN_CHARS: usize = 512;

/// What the contact channel reads from the environment.
#[derive(Debug, Clone)]
pub struct EmailSettings {
    /// `PUBLIC_BASE_URL`: where the pages the links open are served (`https://…`, no trailing
    /// slash; `http://` only for a loopback address).
    pub public_base_url: String,
    /// `MAIL_FROM`: the verified SES identity mail is sent as.
    pub mail_from: String,
    /// `EMAIL_VERIFY_TTL_SECONDS` (1 h to 7 days; default 24 h).
    pub verify_ttl_seconds: u64,
    /// `RESET_TTL_SECONDS` (5 min to 2 h; default 30 min).
    pub reset_ttl_seconds: u64,
    /// `REQUIRE_EMAIL`: registration needs an address (default `false`).
    pub require_email: bool,
}

impl EmailSettings {
    /// Reads these variables.
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let public_base_url = vars
            .get("PUBLIC_BASE_URL")
            .ok_or(ConfigError::Missing("PUBLIC_BASE_URL"))?
            .trim_end_matches('/')
            .to_owned();
        let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
            .iter()
            .any(|p| public_base_url.starts_with(p));
        if !(public_base_url.starts_with("https://") || loopback) {
            return Err(ConfigError::Invalid {
                name: "PUBLIC_BASE_URL",
                reason: "must be an https:// URL (http:// only for a loopback address)".into(),
            });
        }
        let bounded = |name: &'static str, default: u64, min: u64, max: u64| {
            let value: u64 = vars.parsed(name, default)?;
            if !(min..=max).contains(&value) {
                return Err(ConfigError::Invalid {
                    name,
                    reason: format!("must be {min} to {max} seconds"),
                });
            }
            Ok(value)
        };
        Ok(Self {
            public_base_url,
            mail_from: crate::mail::mail_from(vars)?,
            verify_ttl_seconds: bounded(
                "EMAIL_VERIFY_TTL_SECONDS",
                VERIFY_TTL_DEFAULT,
                3600,
                7 * 24 * 3600,
            )?,
            reset_ttl_seconds: bounded("RESET_TTL_SECONDS", RESET_TTL_DEFAULT, 300, 7200)?,
            require_email: vars.parsed("REQUIRE_EMAIL", false)?,
        })
    }

    /// The link to `page` (`verify-email`, `reset-password`) carrying `token` in its fragment.
    pub fn link(&self, page: &str, token: &str) -> String {
        format!("{}/{page}#token={token}", self.public_base_url)
    }
}

/// The verification mail for `address`, with its link.
pub fn verification_mail(settings: &EmailSettings, address: &str, token: &str) -> Mail {
    let link = settings.link("verify-email", token);
    Mail {
        to: address.to_owned(),
        subject: "Confirm your email address".into(),
        text: format!(
            "Open this link to confirm that this address is yours:\n\n{link}\n\n\
             It works once, for {} hours. If you did not ask for this, ignore this mail.\n",
            settings.verify_ttl_seconds / 3600
        ),
    }
}

/// The reset mail for `address`, with its link.
pub fn reset_mail(settings: &EmailSettings, address: &str, token: &str) -> Mail {
    let link = settings.link("reset-password", token);
    Mail {
        to: address.to_owned(),
        subject: "Reset your password".into(),
        text: format!(
            "Open this link to choose a new password:\n\n{link}\n\n\
             It works once, for {} minutes. If you did not ask for this, ignore this mail: \
             your password stays as it is.\n",
            settings.reset_ttl_seconds / 60
        ),
    }
}

/// What a notice tells the user, in words.
fn notice_text(notice: Notice) -> (&'static str, &'static str) {
    match notice {
        Notice::MfaEnabled => (
            "Two-factor authentication is on",
            "Two-factor authentication was turned on for your account.",
        ),
        Notice::MfaDisabled => (
            "Two-factor authentication is off",
            "Two-factor authentication was turned off for your account.",
        ),
        Notice::MfaRemovedByAdmin => (
            "Two-factor authentication was removed",
            "An administrator removed two-factor authentication from your account.",
        ),
        Notice::RecoveryCodeUsed => (
            "A recovery code was used",
            "One of your recovery codes was used to sign in.",
        ),
        Notice::RecoveryCodesRegenerated => (
            "New recovery codes",
            "A new set of recovery codes was made for your account; the old ones no longer work.",
        ),
        Notice::PasswordChanged => (
            "Your password was changed",
            "The password of your account was changed, and every other session was ended.",
        ),
        Notice::EmailChangeRequested => (
            "A new email address was given",
            "A new email address was given for your account. This address stays in force until \
             the new one is confirmed.",
        ),
        Notice::AccountDeleted => (
            "Your account was deleted",
            "Your account was deleted, with every session of it.",
        ),
    }
}

/// The one place a security notice goes out: an audit event (`notify`) always, and a mail to
/// the user's verified address when they have one and this function can send mail.
#[derive(Clone, Debug)]
pub struct Notifier {
    audit: Audit,
    mailer: Option<Mailer>,
}

impl Notifier {
    /// Notices through `mailer` (none: audit events only).
    pub fn new(audit: Audit, mailer: Option<Mailer>) -> Self {
        Self { audit, mailer }
    }

    /// Tells `user` about `notice`. A mail that cannot be sent is logged, never an error: the
    /// change it tells of is done.
    pub async fn notify(
        &self,
        meta: &RequestMeta,
        user: &UserRecord,
        notice: Notice,
        who: Who<'_>,
    ) {
        self.audit.notify(meta, notice, who);
        let (Some(mailer), Some(address)) = (&self.mailer, user.email.verified.as_deref()) else {
            return;
        };
        let (subject, text) = notice_text(notice);
        let mail = Mail {
            to: address.to_owned(),
            subject: subject.into(),
            text: format!(
                "{text}\n\nIf this was not you, reset your password and contact support.\n"
            ),
        };
        if let Err(e) = mailer.send(&mail).await {
            tracing::warn!(error = %e, notice = notice.as_str(), "could not send a notice");
        }
    }
}

/// A link token from a body field (`token`): a string of at most [`MAX_LINK_TOKEN_CHARS`].
pub fn token_field(body: &serde_json::Map<String, serde_json::Value>) -> Result<&str, ApiError> {
    match body.get("token") {
        Some(serde_json::Value::String(t)) if !t.is_empty() && t.len() <= MAX_LINK_TOKEN_CHARS => {
            Ok(t)
        }
        Some(_) => Err(ApiError::invalid("token", "must be a link token")),
        None => Err(ApiError::invalid("token", "is required")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn vars(base: &str) -> Vars {
        Vars::from_pairs([
            ("PUBLIC_BASE_URL", base),
            ("MAIL_FROM", "no-reply@example.com"),
        ])
    }

    #[test]
    fn links_carry_the_token_in_the_fragment_of_the_configured_base() {
        let s = EmailSettings::from_vars(&vars("https://auth.example.com/")).unwrap();
        assert_eq!(
            s.link("reset-password", "abc"),
            "https://auth.example.com/reset-password#token=abc"
        );
        let mail = reset_mail(&s, "a@example.com", "abc");
        assert!(mail.text.contains("/reset-password#token=abc"));
        assert!(EmailSettings::from_vars(&vars("http://127.0.0.1:9000")).is_ok());
        assert!(EmailSettings::from_vars(&vars("http://auth.example.com")).is_err());
        let mut short = vars("https://a.example.com");
        short.set("RESET_TTL_SECONDS", "10");
        assert!(EmailSettings::from_vars(&short).is_err());
    }
}
