//! Configuration read from the environment once per cold start.
//!
//! Every setting has a safe default except the table names and the JWT secret, without which a
//! function refuses to start (a missing secret must never fall back to something guessable).

use std::str::FromStr;

use secrecy::{ExposeSecret, SecretString};

/// A setting that is missing or cannot be used. Returned from `main`, so the function fails its
/// init phase instead of serving requests with a broken configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required but not set")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// Reads a variable; empty counts as unset.
fn var(name: &'static str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn required(name: &'static str) -> Result<String, ConfigError> {
    var(name).ok_or(ConfigError::Missing(name))
}

fn parsed<T: FromStr>(name: &'static str, default: T) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match var(name) {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse()
            .map_err(|e: T::Err| ConfigError::Invalid {
                name,
                reason: e.to_string(),
            }),
    }
}

fn in_range<T: PartialOrd + std::fmt::Display + Copy>(
    name: &'static str,
    value: T,
    min: T,
    max: T,
) -> Result<T, ConfigError> {
    if value < min || value > max {
        return Err(ConfigError::Invalid {
            name,
            reason: format!("{value} is outside {min}..={max}"),
        });
    }
    Ok(value)
}

/// DynamoDB table names (`USERS_TABLE`, `RATE_LIMIT_TABLE`).
#[derive(Debug, Clone)]
pub struct Tables {
    pub users: String,
    pub rate_limits: String,
}

impl Tables {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            users: required("USERS_TABLE")?,
            rate_limits: required("RATE_LIMIT_TABLE")?,
        })
    }
}

/// Minimum bytes of an HS256 secret (RFC 7518 section 3.2: at least the hash output size).
pub const MIN_SECRET_BYTES: usize = 32;

/// Access-token settings.
#[derive(Clone)]
pub struct TokenConfig {
    pub secret: SecretString,
    pub issuer: String,
    pub audience: String,
    pub ttl_seconds: u64,
    pub leeway_seconds: u64,
}

impl std::fmt::Debug for TokenConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenConfig")
            .field("secret", &"[redacted]")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("ttl_seconds", &self.ttl_seconds)
            .field("leeway_seconds", &self.leeway_seconds)
            .finish()
    }
}

impl TokenConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let secret = SecretString::from(required("JWT_SECRET")?);
        let config = Self {
            secret,
            issuer: var("JWT_ISSUER").unwrap_or_else(|| "auth-api".into()),
            audience: var("JWT_AUDIENCE").unwrap_or_else(|| "auth-api".into()),
            ttl_seconds: in_range(
                "ACCESS_TOKEN_TTL_SECONDS",
                parsed("ACCESS_TOKEN_TTL_SECONDS", 900)?,
                60,
                86_400,
            )?,
            leeway_seconds: in_range(
                "JWT_LEEWAY_SECONDS",
                parsed("JWT_LEEWAY_SECONDS", 30)?,
                0,
                30,
            )?,
        };
        config.check_secret("JWT_SECRET")?;
        Ok(config)
    }

    /// Refuses secrets too short to resist brute force.
    pub fn check_secret(&self, name: &'static str) -> Result<(), ConfigError> {
        if self.secret.expose_secret().len() < MIN_SECRET_BYTES {
            return Err(ConfigError::Invalid {
                name,
                reason: format!("must be at least {MIN_SECRET_BYTES} bytes"),
            });
        }
        Ok(())
    }
}

/// Password rules applied at registration (`PASSWORD_MIN_LENGTH`, 8 by default).
#[derive(Debug, Clone, Copy)]
pub struct PasswordPolicy {
    pub min_chars: usize,
}

/// Passwords longer than this are refused before any hashing (bounds the work per request).
pub const PASSWORD_MAX_CHARS: usize = 128;

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self { min_chars: 8 }
    }
}

impl PasswordPolicy {
    pub fn from_env() -> Result<Self, ConfigError> {
        let min_chars = parsed("PASSWORD_MIN_LENGTH", 8)?;
        Ok(Self {
            min_chars: in_range("PASSWORD_MIN_LENGTH", min_chars, 8, PASSWORD_MAX_CHARS)?,
        })
    }
}

/// argon2id cost parameters (OWASP defaults: m = 19456 KiB, t = 2, p = 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Config {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Argon2Config {
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

impl Argon2Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        let d = Self::default();
        Ok(Self {
            memory_kib: in_range(
                "ARGON2_MEMORY_KIB",
                parsed("ARGON2_MEMORY_KIB", d.memory_kib)?,
                8,
                1 << 21,
            )?,
            iterations: in_range(
                "ARGON2_ITERATIONS",
                parsed("ARGON2_ITERATIONS", d.iterations)?,
                1,
                16,
            )?,
            parallelism: in_range(
                "ARGON2_PARALLELISM",
                parsed("ARGON2_PARALLELISM", d.parallelism)?,
                1,
                16,
            )?,
        })
    }
}

/// One rate-limit policy: at most `limit` hits per fixed window of `window_seconds`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    /// Name used in counter keys and in the `RateLimit-Policy` header.
    pub name: &'static str,
    pub limit: u32,
    pub window_seconds: u64,
}

impl Limit {
    fn from_env(
        name: &'static str,
        limit_var: &'static str,
        window_var: &'static str,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            name,
            limit: in_range(limit_var, parsed(limit_var, 5)?, 1, 1_000_000)?,
            window_seconds: in_range(window_var, parsed(window_var, 60)?, 1, 86_400)?,
        })
    }
}

/// Login limits: every attempt per source IP, failed attempts per username.
#[derive(Debug, Clone)]
pub struct LoginLimits {
    pub per_ip: Limit,
    pub per_user: Limit,
}

impl LoginLimits {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            per_ip: Limit::from_env("login-ip", "LOGIN_IP_LIMIT", "LOGIN_IP_WINDOW_SECONDS")?,
            per_user: Limit::from_env(
                "login-user",
                "LOGIN_USER_LIMIT",
                "LOGIN_USER_WINDOW_SECONDS",
            )?,
        })
    }
}

/// `AUDIT_LOG_USERNAMES`: whether audit events carry the username (off by default: usernames
/// are personal data in many jurisdictions).
pub fn audit_log_usernames() -> Result<bool, ConfigError> {
    parsed("AUDIT_LOG_USERNAMES", false)
}

/// `AUTH_REALM`: the realm named in `WWW-Authenticate` challenges.
pub fn realm() -> String {
    var("AUTH_REALM").unwrap_or_else(|| "auth-api".into())
}
