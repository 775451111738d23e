//! AWS SDK configuration shared by the DynamoDB store and the Secrets Manager key loader, read
//! from the variables Lambda sets.
//!
//! A function runs with everything the SDK needs in its environment: `AWS_REGION` and the
//! execution role's `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`. So the
//! configuration is built from those variables through the SDK's own `SdkConfig` builder, and
//! `aws-config`'s loader is not linked into the functions. That loader would find the same
//! values (its chains try the environment first), but it brings the profile-file parser, an STS
//! client and the SSO, web-identity, container and instance-metadata providers: 0.8 MB of
//! every function's binary that is never used in Lambda, about a tenth of an SDK function's cold
//! start (`docs/performance.md`). The variables of `aws-config` that can matter to a function
//! are read here too ([`sdk_config`]); see `docs/configuration.md`.

use std::time::Duration;

use aws_credential_types::Credentials;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_runtime_api::client::behavior_version::BehaviorVersion;
use aws_types::SdkConfig;
use aws_types::region::Region;
use aws_types::sdk_config::{
    RetryConfig, SharedCredentialsProvider, SharedHttpClient, TimeoutConfig,
};
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};

use crate::config::{ConfigError, Vars};

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

/// The Amazon Trust Services roots as a trust store.
fn amazon_roots() -> TrustStore {
    let mut store = TrustStore::empty();
    for pem in AMAZON_TRUST_SERVICES.split_inclusive("-----END CERTIFICATE-----\n") {
        if pem.contains("BEGIN CERTIFICATE") {
            store.add_pem_certificate(pem.as_bytes());
        }
    }
    store
}

/// The HTTPS client: rustls on aws-lc, trusting the Amazon Trust Services roots only.
///
/// The SDK's default client loads the platform trust store when it is built: on a Lambda-like
/// file system that is over a hundred certificate files read and parsed in every cold start,
/// measured at ~2.5 ms of a ~5 ms init (`make bench`). Trusting exactly the roots AWS endpoints
/// chain to costs microseconds and narrows what is trusted. `AWS_USE_NATIVE_ROOTS=true` goes
/// back to the platform store (for an HTTPS test endpoint with its own CA, say).
fn https_client(vars: &Vars) -> Result<SharedHttpClient, ConfigError> {
    if vars.parsed("AWS_USE_NATIVE_ROOTS", false)? {
        return Ok(aws_smithy_http_client::Builder::new()
            .tls_provider(tls_provider())
            .build_https());
    }
    bundled_roots_client()
}

/// rustls on aws-lc, the SDK's default TLS stack.
fn tls_provider() -> tls::Provider {
    tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc)
}

/// The SDK's HTTPS client trusting the bundled roots.
fn bundled_roots_client() -> Result<SharedHttpClient, ConfigError> {
    let context = TlsContext::builder()
        .with_trust_store(amazon_roots())
        .build()
        .map_err(|e| ConfigError::Invalid {
            name: "AWS_USE_NATIVE_ROOTS",
            reason: format!("the bundled trust roots do not load: {e}"),
        })?;
    Ok(aws_smithy_http_client::Builder::new()
        .tls_provider(tls_provider())
        .tls_context(context)
        .build_https())
}

/// The execution role's credentials, as Lambda puts them in the environment (they do not change
/// for the life of an execution environment). `AWS_ACCOUNT_ID`, when set, lets DynamoDB use its
/// account-based endpoints, as with `aws-config`.
fn credentials(vars: &Vars) -> Result<Credentials, ConfigError> {
    let mut builder = Credentials::builder()
        .access_key_id(vars.required("AWS_ACCESS_KEY_ID")?)
        .secret_access_key(vars.required("AWS_SECRET_ACCESS_KEY")?)
        .provider_name("Environment");
    builder.set_session_token(vars.get("AWS_SESSION_TOKEN"));
    builder.set_account_id(vars.get("AWS_ACCOUNT_ID").map(Into::into));
    Ok(builder.build())
}

/// Endpoint URLs from the environment, as `aws-config` reads them: `AWS_ENDPOINT_URL_<SERVICE>`
/// (`AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL_SECRETS_MANAGER`), else `AWS_ENDPOINT_URL`;
/// neither with `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true`. Local runs point the SDK at the
/// local server this way; deployed functions set none.
#[derive(Debug)]
struct EndpointUrls {
    vars: Vars,
    ignored: bool,
}

impl EndpointUrls {
    fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        Ok(Self {
            vars: vars.clone(),
            ignored: vars.parsed("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", false)?,
        })
    }
}

impl LoadServiceConfig for EndpointUrls {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        if self.ignored || key.env() != "AWS_ENDPOINT_URL" {
            return None;
        }
        let service = key.service_id().to_uppercase().replace(' ', "_");
        self.vars
            .get(&format!("AWS_ENDPOINT_URL_{service}"))
            .or_else(|| self.vars.get("AWS_ENDPOINT_URL"))
    }
}

/// The SDK configuration of these variables: region (`AWS_REGION`, else `AWS_DEFAULT_REGION`),
/// credentials (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), endpoint URLs
/// ([`EndpointUrls`]), `AWS_USE_FIPS_ENDPOINT` and `AWS_USE_DUALSTACK_ENDPOINT`, the HTTPS
/// client and [`sdk_settings`]. A missing region or credentials stop the function at start,
/// rather than failing every request. Does no I/O.
pub fn sdk_config_from(vars: &Vars) -> Result<SdkConfig, ConfigError> {
    let region = vars
        .get("AWS_REGION")
        .or_else(|| vars.get("AWS_DEFAULT_REGION"))
        .ok_or(ConfigError::Missing("AWS_REGION"))?;
    let (retry, timeout) = sdk_settings();
    let mut builder = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region))
        .credentials_provider(SharedCredentialsProvider::new(credentials(vars)?))
        .http_client(https_client(vars)?)
        .retry_config(retry)
        .timeout_config(timeout)
        .service_config(EndpointUrls::from_vars(vars)?);
    builder.set_use_fips(vars.parsed("AWS_USE_FIPS_ENDPOINT", false)?.then_some(true));
    builder.set_use_dual_stack(
        vars.parsed("AWS_USE_DUALSTACK_ENDPOINT", false)?
            .then_some(true),
    );
    Ok(builder.build())
}

/// [`sdk_config_from`] the process environment.
pub fn sdk_config() -> Result<SdkConfig, ConfigError> {
    sdk_config_from(&Vars::env())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    use aws_credential_types::provider::ProvideCredentials;
    use aws_smithy_runtime_api::client::http::HttpClient as _;
    use aws_smithy_runtime_api::client::runtime_components::RuntimeComponentsBuilder;
    use aws_smithy_types::config_bag::ConfigBag;

    /// What Lambda sets, and the local server's endpoint as `make test` sets it.
    const LAMBDA: [(&str, &str); 5] = [
        ("AWS_REGION", "eu-west-1"),
        ("AWS_ACCESS_KEY_ID", "ASIAEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
        ("AWS_SESSION_TOKEN", "token"),
        ("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000"),
    ];

    fn vars(set: &[(&str, &str)]) -> Vars {
        Vars::from_pairs(set.iter().copied())
    }

    fn with(extra: &[(&'static str, &'static str)]) -> Vars {
        let mut v = vars(&LAMBDA);
        for (k, value) in extra {
            v.set(k, value);
        }
        v
    }

    fn endpoint(sdk: &SdkConfig, service_id: &str) -> Option<String> {
        let key = ServiceConfigKey::builder()
            .service_id(service_id)
            .env("AWS_ENDPOINT_URL")
            .profile("endpoint_url")
            .build()
            .unwrap();
        sdk.service_config().unwrap().load_config(key)
    }

    #[tokio::test]
    async fn the_configuration_is_lambdas_region_credentials_and_endpoints() {
        let sdk = sdk_config_from(&vars(&LAMBDA)).unwrap();
        assert_eq!(sdk.region().map(|r| r.as_ref()), Some("eu-west-1"));
        let creds = sdk
            .credentials_provider()
            .unwrap()
            .provide_credentials()
            .await
            .unwrap();
        assert_eq!(creds.access_key_id(), "ASIAEXAMPLE");
        assert_eq!(creds.secret_access_key(), "secret");
        assert_eq!(creds.session_token(), Some("token"));
        assert_eq!(
            endpoint(&sdk, "DynamoDB").as_deref(),
            Some("http://127.0.0.1:8000")
        );
        assert_eq!(endpoint(&sdk, "Secrets Manager"), None);
        assert_eq!(sdk.use_fips(), None);
        assert_eq!(sdk.use_dual_stack(), None);
        assert!(sdk.http_client().is_some());
        let (retry, timeout) = sdk_settings();
        assert_eq!(sdk.retry_config(), Some(&retry));
        assert_eq!(sdk.timeout_config(), Some(&timeout));
        // The clients accept it as it is.
        let _ = aws_sdk_dynamodb::Client::new(&sdk);
    }

    #[test]
    fn without_a_region_or_credentials_the_function_does_not_start() {
        for missing in ["AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
            let without: Vec<_> = LAMBDA
                .iter()
                .copied()
                .filter(|(k, _)| *k != missing)
                .collect();
            let err = sdk_config_from(&vars(&without)).unwrap_err();
            assert!(
                matches!(err, ConfigError::Missing(name) if name == missing),
                "without {missing}: {err}"
            );
            // Empty counts as unset, as everywhere in the configuration.
            let empty: Vec<_> = LAMBDA
                .iter()
                .map(|&(k, v)| if k == missing { (k, "") } else { (k, v) })
                .collect();
            let err = sdk_config_from(&vars(&empty)).unwrap_err();
            assert!(
                matches!(err, ConfigError::Missing(name) if name == missing),
                "{missing} empty: {err}"
            );
        }
        // The region may also come from AWS_DEFAULT_REGION, and the session token is optional.
        let local: Vec<_> = LAMBDA
            .iter()
            .copied()
            .filter(|(k, _)| !matches!(*k, "AWS_REGION" | "AWS_SESSION_TOKEN"))
            .chain([("AWS_DEFAULT_REGION", "us-east-2")])
            .collect();
        let sdk = sdk_config_from(&vars(&local)).unwrap();
        assert_eq!(sdk.region().map(|r| r.as_ref()), Some("us-east-2"));
    }

    #[test]
    fn endpoint_urls_follow_aws_configs_precedence() {
        let global = [("AWS_ENDPOINT_URL", "http://global:1")];
        let sdk = sdk_config_from(&with(&global)).unwrap();
        assert_eq!(
            endpoint(&sdk, "DynamoDB").as_deref(),
            Some("http://127.0.0.1:8000"),
            "the service's own variable wins"
        );
        assert_eq!(
            endpoint(&sdk, "Secrets Manager").as_deref(),
            Some("http://global:1")
        );
        let secrets = [("AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://secrets:2")];
        let sdk = sdk_config_from(&with(&secrets)).unwrap();
        assert_eq!(
            endpoint(&sdk, "Secrets Manager").as_deref(),
            Some("http://secrets:2")
        );
        let ignored = [
            ("AWS_ENDPOINT_URL", "http://global:1"),
            ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"),
        ];
        let sdk = sdk_config_from(&with(&ignored)).unwrap();
        assert_eq!(endpoint(&sdk, "DynamoDB"), None);
        assert_eq!(endpoint(&sdk, "Secrets Manager"), None);
    }

    #[test]
    fn fips_and_dual_stack_endpoints_are_taken_from_their_variables_and_a_bad_flag_stops_the_start()
    {
        let sdk = sdk_config_from(&with(&[
            ("AWS_USE_FIPS_ENDPOINT", "true"),
            ("AWS_USE_DUALSTACK_ENDPOINT", "true"),
        ]))
        .unwrap();
        assert_eq!(sdk.use_fips(), Some(true));
        assert_eq!(sdk.use_dual_stack(), Some(true));
        for name in [
            "AWS_USE_FIPS_ENDPOINT",
            "AWS_USE_DUALSTACK_ENDPOINT",
            "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
            "AWS_USE_NATIVE_ROOTS",
        ] {
            let err = sdk_config_from(&with(&[(name, "yes")])).unwrap_err();
            assert!(
                matches!(err, ConfigError::Invalid { name: n, .. } if n == name),
                "{name}: {err}"
            );
        }
    }

    #[test]
    fn the_bundled_roots_parse_into_a_tls_connector() {
        assert_eq!(
            AMAZON_TRUST_SERVICES.matches("BEGIN CERTIFICATE").count(),
            5
        );
        let (components, cfg) = (RuntimeComponentsBuilder::new("test"), ConfigBag::base());
        // The SDK's own check at client build: it parses every bundled root into rustls's
        // store (the SDK panics on one that does not parse) and builds the TLS configuration.
        let client = https_client(&vars(&[])).unwrap();
        assert!(
            client
                .validate_base_client_config(&components, &cfg)
                .is_ok()
        );
    }
}
