//! The local server's SES v2, as the tests use it: the sender identity verified (SES refuses an
//! unverified sender, as its sandbox does), a mailer on it, and the messages it accepted, read
//! back from moto's own record of them (`/moto-api/data.json`, loopback only).

use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use super::store::local_endpoint;
use crate::mail::Mailer;

/// The sender of every test mail.
pub const TEST_MAIL_FROM: &str = "no-reply@auth-api.test";

/// The test base URL of the pages links open.
pub const TEST_PUBLIC_BASE_URL: &str = "http://127.0.0.1:9000";

/// A client of the local server's SES v2 (the DynamoDB endpoint, unless
/// `AWS_ENDPOINT_URL_SESV2` names another).
fn local_ses() -> aws_sdk_sesv2::Client {
    // (`Vars::set` on the environment would keep only the one variable: copy what the SDK
    // reads.)
    let mut vars =
        crate::config::Vars::from_pairs(std::env::vars().filter(|(k, _)| k.starts_with("AWS_")));
    if vars.get("AWS_ENDPOINT_URL_SESV2").is_none() {
        vars.set("AWS_ENDPOINT_URL_SESV2", &local_endpoint());
    }
    aws_sdk_sesv2::Client::new(&crate::aws::sdk_config_from(&vars).unwrap())
}

/// The contact channel of a test function: the test base URL and sender on the local SES v2
/// (whose sender identity [`local_mailer`] verifies; `make test`'s server verifies it at start).
pub fn test_contact() -> crate::account::Contact {
    let settings = crate::email::EmailSettings::from_vars(&crate::config::Vars::from_pairs([
        ("PUBLIC_BASE_URL", TEST_PUBLIC_BASE_URL),
        ("MAIL_FROM", TEST_MAIL_FROM),
    ]))
    .unwrap();
    crate::account::Contact {
        settings,
        mailer: Mailer::new(local_ses(), TEST_MAIL_FROM.to_owned()),
    }
}

/// [`test_contact`] with an SES endpoint that refuses connections and no retries: an SES that
/// is down, failing at once.
pub fn unreachable_contact() -> crate::account::Contact {
    use aws_sdk_sesv2::config::retry::RetryConfig;
    let sdk = crate::aws::sdk_config().unwrap();
    let config = aws_sdk_sesv2::config::Builder::from(&sdk)
        .endpoint_url("http://127.0.0.1:1")
        .retry_config(RetryConfig::disabled())
        .build();
    let mut contact = test_contact();
    contact.mailer = Mailer::new(
        aws_sdk_sesv2::Client::from_conf(config),
        contact.settings.mail_from.clone(),
    );
    contact
}

/// A mailer on the local server's SES v2, its sender identity verified there.
pub async fn local_mailer() -> Mailer {
    let client = local_ses();
    // Idempotent on moto: creating an identity that exists is refused, which is fine here.
    let _ = client
        .create_email_identity()
        .email_identity(TEST_MAIL_FROM)
        .send()
        .await;
    Mailer::new(client, TEST_MAIL_FROM.to_owned())
}

/// A message the local server accepted.
#[derive(Debug, Clone)]
pub struct SentMail {
    /// Its recipients.
    pub to: Vec<String>,
    /// Its subject.
    pub subject: String,
    /// Its body.
    pub body: String,
}

/// Every message the local server has accepted so far.
pub async fn sent_mails() -> Vec<SentMail> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<bytes::Bytes>>();
    let url = format!(
        "{}/moto-api/data.json",
        std::env::var("AWS_ENDPOINT_URL_SESV2")
            .unwrap_or_else(|_| local_endpoint())
            .trim_end_matches('/')
    );
    let response = client.get(url.parse().unwrap()).await.unwrap();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let data: Value = serde_json::from_slice(&bytes).unwrap();
    let mut out = Vec::new();
    // moto keeps SES v2's messages with SES's: `ses.Message`, keyed by account and region.
    let mut stack = vec![&data["ses"]["Message"]];
    while let Some(value) = stack.pop() {
        match value {
            Value::Object(map) if map.contains_key("destinations") => {
                let to = map["destinations"]["ToAddresses"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                out.push(SentMail {
                    to,
                    subject: map["subject"].as_str().unwrap_or_default().to_owned(),
                    body: map["body"].as_str().unwrap_or_default().to_owned(),
                });
            }
            Value::Object(map) => stack.extend(map.values()),
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    out
}

/// The messages sent to `address` so far, oldest first as far as the server keeps an order.
pub async fn mails_to(address: &str) -> Vec<SentMail> {
    sent_mails()
        .await
        .into_iter()
        .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(address)))
        .collect()
}

/// Gives the user `name` a verified address straight in the store, as `POST /email` and its link
/// would: the address.
pub async fn give_verified(f: &super::Fixture, name: &str) -> String {
    use crate::store::{PendingEmail, UserStore, VerifyOutcome};
    let address = format!("{}@example.com", super::unique("x"));
    let key = name.to_lowercase();
    let (_, hash) = crate::keyed_token::new(&key).unwrap();
    let pending = PendingEmail {
        address: address.clone(),
        token: hash.clone(),
        expires_at: f.now() + 600,
    };
    let store = f.store();
    let user_id = super::user_id_of(name);
    assert!(
        store
            .set_pending_email(&key, &user_id, &pending)
            .await
            .unwrap()
    );
    let user = store.find(&key).await.unwrap().unwrap();
    let outcome = store
        .verify_email(&key, &user, &hash, f.now())
        .await
        .unwrap();
    assert_eq!(outcome, VerifyOutcome::Verified(address.clone()));
    address
}

/// The one mail sent to `address`, which must be the notice `subject` (and hold no link).
pub async fn assert_one_notice(address: &str, subject: &str) {
    let mails = mails_to(address).await;
    assert_eq!(mails.len(), 1, "one mail, {subject:?}: {mails:?}");
    assert_eq!(mails[0].subject, subject);
    assert!(
        mails[0].body.contains("If this was not you"),
        "{:?}",
        mails[0].body
    );
    assert!(
        !mails[0].body.contains("token"),
        "no link or secret: {:?}",
        mails[0].body
    );
}
