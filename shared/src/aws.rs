//! AWS SDK configuration shared by the DynamoDB store and the Secrets Manager key loader.

use std::time::Duration;

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader, Region, SdkConfig};
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};

use crate::config::Vars;

/// The roots of the Amazon Trust Services chain that every AWS endpoint presents (Amazon Root
/// CA 1 to 4, and the Starfield Services G2 root that cross-signs them), as shipped by Debian's
/// ca-certificates. Public certificates, not secrets.
const AMAZON_TRUST_SERVICES: &str = include_str!("../data/amazon-trust-services.pem");

/// SDK retry and timeout settings, explicit rather than SDK defaults so the worst case fits
/// well inside the 10 s Lambda timeout: 3 attempts with exponential backoff, each attempt at
/// most 1 s, the whole call at most 3 s, connecting at most 1 s.
pub fn sdk_settings() -> (RetryConfig, TimeoutConfig) {
    let retry = RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(25));
    let timeout = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(1))
        .operation_attempt_timeout(Duration::from_secs(1))
        .operation_timeout(Duration::from_secs(3))
        .build();
    (retry, timeout)
}

/// An HTTPS client that trusts the Amazon Trust Services roots only.
///
/// The SDK's default client loads the platform trust store when it is built: on a Lambda-like
/// file system that is over a hundred certificate files read and parsed in every cold start,
/// measured at ~2.5 ms of a ~5 ms init (`make bench`). Trusting exactly the roots AWS endpoints
/// chain to costs microseconds and narrows what is trusted. Set `AWS_USE_NATIVE_ROOTS=true` to
/// go back to the platform store (for an HTTPS test endpoint with its own CA, say).
fn trust_amazon_roots_only(loader: ConfigLoader) -> ConfigLoader {
    if std::env::var("AWS_USE_NATIVE_ROOTS").is_ok_and(|v| v == "true") {
        return loader;
    }
    let mut store = TrustStore::empty();
    for pem in AMAZON_TRUST_SERVICES.split_inclusive("-----END CERTIFICATE-----\n") {
        if pem.contains("BEGIN CERTIFICATE") {
            store.add_pem_certificate(pem.as_bytes());
        }
    }
    let Ok(context) = TlsContext::builder().with_trust_store(store).build() else {
        // Cannot happen with the bundled PEMs (a test proves they load); the default client
        // still verifies certificates, so falling back is safe.
        return loader;
    };
    loader.http_client(
        aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::AwsLc,
            ))
            .tls_context(context)
            .build_https(),
    )
}

/// The region, when the environment holds what Lambda always sets: `AWS_REGION` and the
/// execution role's `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (with `AWS_SESSION_TOKEN`).
///
/// The SDK's default chains try those variables first (`Environment` heads both the credentials
/// and the region chain in `aws-config`), so with all three set they resolve to exactly them.
/// Building the rest of the chains anyway (a profile-file provider, SSO, web identity with an STS
/// client of its own, the container and instance-metadata providers) is ~0.6 ms of every cold
/// start that is never used (`docs/performance.md`). Without all three, or with `AWS_PROFILE`
/// set, the full default chains are built as before.
fn lambda_environment(vars: &Vars) -> Option<String> {
    if vars.get("AWS_PROFILE").is_some()
        || vars.get("AWS_ACCESS_KEY_ID").is_none()
        || vars.get("AWS_SECRET_ACCESS_KEY").is_none()
    {
        return None;
    }
    vars.get("AWS_REGION")
}

/// The region and credential providers: those of the environment Lambda sets when it holds
/// them ([`lambda_environment`]), else the SDK's default chains.
fn lambda_credentials(loader: ConfigLoader) -> ConfigLoader {
    match lambda_environment(&Vars::env()) {
        Some(region) => loader
            .region(Region::new(region))
            .credentials_provider(EnvironmentVariableCredentialsProvider::new()),
        None => loader,
    }
}

/// Loads the SDK configuration from the environment (region, credentials and, for local runs,
/// `AWS_ENDPOINT_URL_DYNAMODB`). Does no network I/O: credentials resolve lazily.
pub async fn load_sdk_config() -> SdkConfig {
    let (retry, timeout) = sdk_settings();
    let loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(retry)
        .timeout_config(timeout);
    trust_amazon_roots_only(lambda_credentials(loader))
        .load()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(set: &[(&str, &str)]) -> Vars {
        Vars::from_pairs(set.iter().copied())
    }

    #[test]
    fn lambdas_environment_skips_the_default_chains() {
        let lambda = [
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "ASIA"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
            ("AWS_SESSION_TOKEN", "t"),
        ];
        assert_eq!(
            lambda_environment(&vars(&lambda)).as_deref(),
            Some("eu-west-1")
        );
    }

    #[test]
    fn anything_short_of_lambdas_environment_builds_the_default_chains() {
        let full = [
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "ASIA"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
        ];
        for missing in ["AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
            let without: Vec<_> = full
                .iter()
                .copied()
                .filter(|(k, _)| *k != missing)
                .collect();
            assert_eq!(
                lambda_environment(&vars(&without)),
                None,
                "without {missing}"
            );
            let empty: Vec<_> = full
                .iter()
                .map(|&(k, v)| if k == missing { (k, "") } else { (k, v) })
                .collect();
            assert_eq!(lambda_environment(&vars(&empty)), None, "{missing} empty");
        }
        let profile: Vec<_> = full
            .iter()
            .copied()
            .chain([("AWS_PROFILE", "dev")])
            .collect();
        assert_eq!(lambda_environment(&vars(&profile)), None);
    }

    #[test]
    fn the_bundled_roots_load_as_a_trust_store() {
        assert_eq!(
            AMAZON_TRUST_SERVICES.matches("BEGIN CERTIFICATE").count(),
            5
        );
        let mut store = TrustStore::empty();
        for pem in AMAZON_TRUST_SERVICES.split_inclusive("-----END CERTIFICATE-----\n") {
            if pem.contains("BEGIN CERTIFICATE") {
                store.add_pem_certificate(pem.as_bytes());
            }
        }
        assert!(
            TlsContext::builder()
                .with_trust_store(store)
                .build()
                .is_ok()
        );
    }
}
