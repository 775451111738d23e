//! Where a function's key set comes from: the environment, a file, or AWS Secrets Manager.

use super::KeySet;
use crate::config::{ConfigError, Vars};

/// Loads the key set from, in order: `JWT_KEYS` (the document inline), `JWT_KEYS_FILE` (a path),
/// or `JWT_KEYS_SECRET_ARN` (AWS Secrets Manager, read once per cold start). Without any of
/// them the function refuses to start.
#[cfg(feature = "aws-lc")]
pub async fn load(vars: &Vars) -> Result<KeySet, ConfigError> {
    KeySet::parse(&read_key_text(vars).await?)
}

/// [`load`] for functions that check refresh tokens and issue none (`logout`): the same
/// sources, without the signing key ([`KeySet::parse_for_refresh`]).
#[cfg(feature = "aws-lc")]
pub async fn load_for_refresh(vars: &Vars) -> Result<KeySet, ConfigError> {
    KeySet::parse_for_refresh(&read_key_text(vars).await?)
}

/// [`load`] for functions that only verify: only the public keys are built. `JWT_PUBLIC_KEYS`
/// (a public-only document, `keygen public`'s output) wins over every other source: with it the
/// function reads no secret at all, and needs no permission to.
pub async fn load_public(vars: &Vars) -> Result<KeySet, ConfigError> {
    if let Some(public) = vars.get("JWT_PUBLIC_KEYS") {
        return KeySet::parse_public_document(&public);
    }
    KeySet::parse_public(&read_key_text(vars).await?)
}

async fn read_key_text(vars: &Vars) -> Result<String, ConfigError> {
    let var = |name| vars.get(name);
    if let Some(inline) = var("JWT_KEYS") {
        return Ok(inline);
    }
    if let Some(path) = var("JWT_KEYS_FILE") {
        return std::fs::read_to_string(&path).map_err(|e| ConfigError::Invalid {
            name: "JWT_KEYS_FILE",
            reason: format!("cannot read {path}: {e}"),
        });
    }
    if let Some(arn) = var("JWT_KEYS_SECRET_ARN") {
        return read_secret("JWT_KEYS_SECRET_ARN", &arn).await;
    }
    Err(ConfigError::Missing(
        "JWT_KEYS_SECRET_ARN (or JWT_KEYS_FILE / JWT_KEYS)",
    ))
}

/// The `SecretString` of the secret `arn`, named by the variable `name` in errors.
#[cfg(feature = "secrets")]
pub async fn read_secret(name: &'static str, arn: &str) -> Result<String, ConfigError> {
    // The same configuration as the DynamoDB client: Amazon Trust Services roots, explicit
    // retries and timeouts.
    let client = aws_sdk_secretsmanager::Client::new(&crate::aws::sdk_config()?);
    let output = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| ConfigError::Invalid {
            name,
            reason: format!(
                "cannot read the secret: {}",
                aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
            ),
        })?;
    output.secret_string.ok_or(ConfigError::Invalid {
        name,
        reason: "the secret has no SecretString".into(),
    })
}

/// Without the `secrets` feature: an error naming the variable.
#[cfg(not(feature = "secrets"))]
pub async fn read_secret(name: &'static str, _arn: &str) -> Result<String, ConfigError> {
    Err(ConfigError::Invalid {
        name,
        reason: "this function was built without the `secrets` feature".into(),
    })
}
