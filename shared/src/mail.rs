//! Mail through Amazon SES v2 (feature `mail`), one code path deployed and local: locally the
//! same client talks to moto's SES v2 on the local server (`AWS_ENDPOINT_URL_SESV2`), which
//! keeps every message it accepts for the tests to read back.
//!
//! A mail holds at most the one link it is for; no password, code or secret is ever put in one,
//! and no mail's content is logged.

use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};

use crate::config::{ConfigError, Vars};

/// One plain-text mail.
#[derive(Clone, PartialEq, Eq)]
pub struct Mail {
    /// The recipient's address.
    pub to: String,
    /// The subject line.
    pub subject: String,
    /// The body, plain text.
    pub text: String,
}

impl std::fmt::Debug for Mail {
    // A body may hold a link with a token: never in a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mail")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// Why a mail was not sent. Every failure is worth retrying later (throttling, a timeout, an
/// unverified identity being fixed): the caller decides whether that is a 503 or nothing the
/// client should see.
#[derive(Debug, thiserror::Error)]
#[error("sending mail failed")]
pub struct MailError(#[source] pub crate::store::BoxError);

/// The sender: an SES v2 client and the configured identity (`MAIL_FROM`).
#[derive(Clone, Debug)]
pub struct Mailer {
    client: aws_sdk_sesv2::Client,
    from: String,
}

impl Mailer {
    /// The mailer of a deployed function: the SDK configured from the environment (the same
    /// settings as the DynamoDB client, `crate::aws::sdk_config`), sending as `from`.
    pub fn connect(from: String) -> Result<Self, ConfigError> {
        let sdk = crate::aws::sdk_config()?;
        Ok(Self::new(aws_sdk_sesv2::Client::new(&sdk), from))
    }

    /// A mailer on `client`.
    pub fn new(client: aws_sdk_sesv2::Client, from: String) -> Self {
        Self { client, from }
    }

    /// The address mail is sent from.
    pub fn from(&self) -> &str {
        &self.from
    }

    /// Sends `mail` (one `SendEmail` call; the SDK retries throttling within its timeouts).
    #[tracing::instrument(name = "mail.send", skip_all)]
    pub async fn send(&self, mail: &Mail) -> Result<(), MailError> {
        let content = |text: &str| {
            Content::builder()
                .data(text)
                .charset("UTF-8")
                .build()
                .map_err(|e| MailError(Box::new(e)))
        };
        let message = Message::builder()
            .subject(content(&mail.subject)?)
            .body(Body::builder().text(content(&mail.text)?).build())
            .build();
        self.client
            .send_email()
            .from_email_address(&self.from)
            .destination(Destination::builder().to_addresses(&mail.to).build())
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| MailError(Box::new(e)))
    }
}

/// `MAIL_FROM`: the verified SES identity mail is sent as.
pub fn mail_from(vars: &Vars) -> Result<String, ConfigError> {
    let from = vars
        .get("MAIL_FROM")
        .ok_or(ConfigError::Missing("MAIL_FROM"))?;
    if !from.contains('@') || from.chars().any(char::is_whitespace) {
        return Err(ConfigError::Invalid {
            name: "MAIL_FROM",
            reason: "must be an email address".into(),
        });
    }
    Ok(from)
}
