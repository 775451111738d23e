//! Configuration read from the environment once per cold start.
//!
//! Every setting has a safe default except the table names and the JWT secret, without which a
//! function refuses to start (a missing secret must never fall back to something guessable).

use std::str::FromStr;

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

/// DynamoDB table names (`USERS_TABLE`, `RATE_LIMIT_TABLE`, `SESSIONS_TABLE`). Each function
/// requires the ones it uses; the others stay empty and are never called.
#[derive(Debug, Clone, Default)]
pub struct Tables {
    pub users: String,
    pub rate_limits: String,
    pub sessions: String,
}

/// One of the tables.
#[derive(Debug, Clone, Copy)]
pub enum Table {
    Users,
    RateLimits,
    Sessions,
}

impl Tables {
    /// Reads the names of `needed` tables; refuses to start if one is missing.
    pub fn from_env(needed: &[Table]) -> Result<Self, ConfigError> {
        let mut tables = Self::default();
        for table in needed {
            match table {
                Table::Users => tables.users = required("USERS_TABLE")?,
                Table::RateLimits => tables.rate_limits = required("RATE_LIMIT_TABLE")?,
                Table::Sessions => tables.sessions = required("SESSIONS_TABLE")?,
            }
        }
        Ok(tables)
    }
}

/// Access-token settings. The keys themselves come from [`crate::keys`].
#[derive(Debug, Clone)]
pub struct TokenConfig {
    pub issuer: String,
    pub audience: String,
    pub ttl_seconds: u64,
    pub leeway_seconds: u64,
}

impl TokenConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
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
        })
    }
}

/// Refresh sessions: absolute lifetime and the optional reuse grace window.
#[derive(Debug, Clone, Copy)]
pub struct SessionConfig {
    /// `SESSION_TTL_SECONDS`: a session ends this long after login, however often it refreshes.
    pub ttl_seconds: u64,
    /// `REFRESH_GRACE_SECONDS` (0 = off, at most 60): how long the previous refresh token may
    /// still fetch the current generation instead of counting as reuse.
    pub grace_seconds: u64,
}

impl SessionConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            ttl_seconds: in_range(
                "SESSION_TTL_SECONDS",
                parsed("SESSION_TTL_SECONDS", 30 * 86_400)?,
                300,
                365 * 86_400,
            )?,
            grace_seconds: in_range(
                "REFRESH_GRACE_SECONDS",
                parsed("REFRESH_GRACE_SECONDS", 0)?,
                0,
                60,
            )?,
        })
    }
}

/// Password rules applied at registration: `PASSWORD_MIN_LENGTH` (8 by default) and
/// `SERVICE_NAME` (a context word passwords may not contain; `auth-api` by default).
#[derive(Debug, Clone)]
pub struct PasswordPolicy {
    pub min_chars: usize,
    pub service_name: std::borrow::Cow<'static, str>,
}

/// Passwords longer than this are refused before any hashing (bounds the work per request).
pub const PASSWORD_MAX_CHARS: usize = 128;

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_chars: 8,
            service_name: "auth-api".into(),
        }
    }
}

impl PasswordPolicy {
    pub fn from_env() -> Result<Self, ConfigError> {
        let min_chars = parsed("PASSWORD_MIN_LENGTH", 8)?;
        Ok(Self {
            min_chars: in_range("PASSWORD_MIN_LENGTH", min_chars, 8, PASSWORD_MAX_CHARS)?,
            service_name: var("SERVICE_NAME")
                .unwrap_or_else(|| "auth-api".into())
                .into(),
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

/// `REGISTER_IP_LIMIT` per `REGISTER_IP_WINDOW_SECONDS` (default 10 per hour): registrations
/// per source IP. Each one costs a full password hash, so an unbounded stream from one address
/// would be a cheap way to burn CPU and fill the users table.
pub fn register_limit() -> Result<Limit, ConfigError> {
    Ok(Limit {
        name: "register-ip",
        limit: in_range(
            "REGISTER_IP_LIMIT",
            parsed("REGISTER_IP_LIMIT", 10)?,
            1,
            1_000_000,
        )?,
        window_seconds: in_range(
            "REGISTER_IP_WINDOW_SECONDS",
            parsed("REGISTER_IP_WINDOW_SECONDS", 3600)?,
            1,
            86_400,
        )?,
    })
}

/// `REFRESH_IP_LIMIT` per `REFRESH_IP_WINDOW_SECONDS` (default 30 per 60 s): every refresh
/// attempt counts against the source IP.
pub fn refresh_limit() -> Result<Limit, ConfigError> {
    Ok(Limit {
        name: "refresh-ip",
        limit: in_range(
            "REFRESH_IP_LIMIT",
            parsed("REFRESH_IP_LIMIT", 30)?,
            1,
            1_000_000,
        )?,
        window_seconds: in_range(
            "REFRESH_IP_WINDOW_SECONDS",
            parsed("REFRESH_IP_WINDOW_SECONDS", 60)?,
            1,
            86_400,
        )?,
    })
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

/// `JWKS_MAX_AGE_SECONDS` (default 300, at most a day): how long clients may cache the JWKS.
/// Publish a new key at least this long before signing with it, so cached copies know it.
pub fn jwks_max_age() -> Result<u64, ConfigError> {
    in_range(
        "JWKS_MAX_AGE_SECONDS",
        parsed("JWKS_MAX_AGE_SECONDS", 300)?,
        0,
        86_400,
    )
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
