//! Configuration, read once per cold start from a [`Vars`]: the process environment in a
//! deployed function ([`Vars::env`]), a fixed set of variables in tests ([`Vars::from_pairs`]).
//! Reading through one source means a test assembles a function with the same parsing and the
//! same defaults as `main` does.
//!
//! Every setting has a safe default except the table names and the signing keys, without which
//! a function refuses to start (a missing secret must never fall back to something guessable).

use std::collections::BTreeMap;
use std::str::FromStr;

/// A setting that is missing or cannot be used. Returned from `main`, so the function fails its
/// init phase instead of serving requests with a broken configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is not set.
    #[error("environment variable {0} is required but not set")]
    Missing(&'static str),
    /// A variable is set to something that cannot be used.
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// What is wrong with it (never its value when that could be a secret).
        reason: String,
    },
}

/// Where settings come from: the process environment, or a fixed map (tests).
#[derive(Debug, Clone, Default)]
pub struct Vars {
    fixed: Option<BTreeMap<String, String>>,
}

impl Vars {
    /// The process environment.
    pub fn env() -> Self {
        Self { fixed: None }
    }

    /// Exactly these variables, nothing from the environment.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            fixed: Some(
                pairs
                    .into_iter()
                    .map(|(k, v)| (k.into(), v.into()))
                    .collect(),
            ),
        }
    }

    /// Sets one variable (only on a fixed set; the environment is never written).
    pub fn set(&mut self, name: &str, value: &str) {
        self.fixed
            .get_or_insert_with(BTreeMap::new)
            .insert(name.to_owned(), value.to_owned());
    }

    /// Reads a variable; empty counts as unset.
    pub fn get(&self, name: &str) -> Option<String> {
        let value = match &self.fixed {
            Some(map) => map.get(name).cloned(),
            None => std::env::var(name).ok(),
        };
        value.filter(|v| !v.trim().is_empty())
    }

    pub(crate) fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.get(name).ok_or(ConfigError::Missing(name))
    }

    pub(crate) fn parsed<T: FromStr>(
        &self,
        name: &'static str,
        default: T,
    ) -> Result<T, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        match self.get(name) {
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

    /// A number in `min..=max`, `default` when unset.
    fn ranged<T>(&self, name: &'static str, default: T, min: T, max: T) -> Result<T, ConfigError>
    where
        T: FromStr + PartialOrd + std::fmt::Display + Copy,
        T::Err: std::fmt::Display,
    {
        in_range(name, self.parsed(name, default)?, min, max)
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
    /// `USERS_TABLE`.
    pub users: String,
    /// `RATE_LIMIT_TABLE`.
    pub rate_limits: String,
    /// `SESSIONS_TABLE`.
    pub sessions: String,
}

/// One of the tables.
#[derive(Debug, Clone, Copy)]
pub enum Table {
    /// Users, keyed by lower-cased username.
    Users,
    /// Rate-limit counters.
    RateLimits,
    /// Refresh-token sessions.
    Sessions,
}

impl Tables {
    /// Reads the names of `needed` tables; refuses to start if one is missing.
    pub fn from_vars(vars: &Vars, needed: &[Table]) -> Result<Self, ConfigError> {
        let mut tables = Self::default();
        for table in needed {
            match table {
                Table::Users => tables.users = vars.required("USERS_TABLE")?,
                Table::RateLimits => tables.rate_limits = vars.required("RATE_LIMIT_TABLE")?,
                Table::Sessions => tables.sessions = vars.required("SESSIONS_TABLE")?,
            }
        }
        Ok(tables)
    }
}

/// Which kind of signing key, and so which JWT `alg`: `JWT_ALG`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlg {
    /// Ed25519, signing `EdDSA` (the default).
    EdDsa,
    /// RSA 2048, signing `RS256` (what API Gateway's built-in JWT authorizer verifies).
    Rs256,
}

impl KeyAlg {
    /// `EdDSA` or `RS256`, as `JWT_ALG` and `keygen new --alg` spell them.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "EdDSA" => Some(Self::EdDsa),
            "RS256" => Some(Self::Rs256),
            _ => None,
        }
    }

    /// The JWT `alg` this kind of key signs.
    pub fn algorithm(self) -> jsonwebtoken::Algorithm {
        match self {
            Self::EdDsa => jsonwebtoken::Algorithm::EdDSA,
            Self::Rs256 => jsonwebtoken::Algorithm::RS256,
        }
    }
}

/// Access-token settings. The keys themselves come from [`crate::keys`].
#[derive(Debug, Clone)]
pub struct TokenConfig {
    /// `JWT_ISSUER` (default `auth-api`): the `iss` of issued tokens, required of verified ones.
    pub issuer: String,
    /// `JWT_AUDIENCE` (default `auth-api`): the `aud`, likewise.
    pub audience: String,
    /// `ACCESS_TOKEN_TTL_SECONDS` (default 900, 60..=86400).
    pub ttl_seconds: u64,
    /// `JWT_LEEWAY_SECONDS` (default 30, 0..=30): clock skew tolerated on `exp` and `nbf`.
    pub leeway_seconds: u64,
    /// `JWT_ALG` (`EdDSA` by default, or `RS256`): what the signing key must sign, and what the
    /// discovery document advertises.
    pub alg: KeyAlg,
}

impl TokenConfig {
    /// Reads the token settings.
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        Ok(Self {
            issuer: vars.get("JWT_ISSUER").unwrap_or_else(|| "auth-api".into()),
            audience: vars
                .get("JWT_AUDIENCE")
                .unwrap_or_else(|| "auth-api".into()),
            ttl_seconds: vars.ranged("ACCESS_TOKEN_TTL_SECONDS", 900, 60, 86_400)?,
            leeway_seconds: vars.ranged("JWT_LEEWAY_SECONDS", 30, 0, 30)?,
            alg: match vars.get("JWT_ALG") {
                None => KeyAlg::EdDsa,
                Some(name) => KeyAlg::parse(name.trim()).ok_or(ConfigError::Invalid {
                    name: "JWT_ALG",
                    reason: "must be EdDSA or RS256".into(),
                })?,
            },
        })
    }
}

/// Refresh sessions: absolute lifetime, the optional reuse grace window and how many one user
/// may hold.
#[derive(Debug, Clone, Copy)]
pub struct SessionConfig {
    /// `SESSION_TTL_SECONDS`: a session ends this long after login, however often it refreshes.
    pub ttl_seconds: u64,
    /// `REFRESH_GRACE_SECONDS` (0 = off, at most 60): how long the previous refresh token may
    /// still fetch the current generation instead of counting as reuse.
    pub grace_seconds: u64,
    /// `SESSION_CAP` (1..=1000): the live sessions one user may hold; a login past it ends the
    /// least recently used ones (`shared::refresh::Sessions::enforce_cap`).
    pub cap: u32,
}

/// The default of `SESSION_CAP`.
pub const SESSION_CAP_DEFAULT: u32 = 100;

impl Default for SessionConfig {
    /// The settings of an empty environment.
    fn default() -> Self {
        Self {
            ttl_seconds: 30 * 86_400,
            grace_seconds: 0,
            cap: SESSION_CAP_DEFAULT,
        }
    }
}

impl SessionConfig {
    /// Reads the session settings.
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let default = Self::default();
        Ok(Self {
            ttl_seconds: vars.ranged(
                "SESSION_TTL_SECONDS",
                default.ttl_seconds,
                300,
                365 * 86_400,
            )?,
            grace_seconds: vars.ranged("REFRESH_GRACE_SECONDS", default.grace_seconds, 0, 60)?,
            cap: vars.ranged("SESSION_CAP", default.cap, 1, 1000)?,
        })
    }
}

/// Password rules applied at registration: `PASSWORD_MIN_LENGTH` (8 by default) and
/// `SERVICE_NAME` (a context word passwords may not contain; `auth-api` by default).
#[derive(Debug, Clone)]
pub struct PasswordPolicy {
    /// Fewest characters (after NFKC normalisation).
    pub min_chars: usize,
    /// A word no password may contain.
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
    /// Reads the password rules.
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        Ok(Self {
            min_chars: vars.ranged("PASSWORD_MIN_LENGTH", 8, 8, PASSWORD_MAX_CHARS)?,
            service_name: vars
                .get("SERVICE_NAME")
                .unwrap_or_else(|| "auth-api".into())
                .into(),
        })
    }
}

/// argon2id cost parameters (OWASP defaults: m = 19456 KiB, t = 2, p = 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Config {
    /// `ARGON2_MEMORY_KIB` (m).
    pub memory_kib: u32,
    /// `ARGON2_ITERATIONS` (t).
    pub iterations: u32,
    /// `ARGON2_PARALLELISM` (p).
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

/// The least memory (KiB) OWASP's Password Storage Cheat Sheet accepts for argon2id at `t`
/// iterations (its published pairs for p=1: 46 MiB/t=1, 19 MiB/t=2, 12 MiB/t=3, 9 MiB/t=4,
/// 7 MiB/t=5).
pub fn owasp_min_memory_kib(iterations: u32) -> u32 {
    match iterations {
        0 | 1 => 47_104,
        2 => 19_456,
        3 => 12_288,
        4 => 9_216,
        _ => 7_168,
    }
}

impl Argon2Config {
    /// Reads the argon2id parameters. Settings weaker than OWASP's published (m, t) pairs stop
    /// the function at start, unless `ARGON2_ALLOW_WEAK_FOR_TESTS=true` (the test suites' cheap
    /// hashes; `template.yaml` never sets it, and a test checks that).
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let d = Self::default();
        let config = Self {
            memory_kib: vars.ranged("ARGON2_MEMORY_KIB", d.memory_kib, 8, 1 << 21)?,
            iterations: vars.ranged("ARGON2_ITERATIONS", d.iterations, 1, 16)?,
            parallelism: vars.ranged("ARGON2_PARALLELISM", d.parallelism, 1, 16)?,
        };
        let floor = owasp_min_memory_kib(config.iterations);
        if config.memory_kib < floor && !vars.parsed("ARGON2_ALLOW_WEAK_FOR_TESTS", false)? {
            return Err(ConfigError::Invalid {
                name: "ARGON2_MEMORY_KIB",
                reason: format!(
                    "{} KiB at t={} is weaker than OWASP's minimum ({floor} KiB at t={})",
                    config.memory_kib, config.iterations, config.iterations
                ),
            });
        }
        Ok(config)
    }
}

/// The largest limit a policy may have (about 7 KB of log).
pub const MAX_LIMIT: u32 = 1_000;

/// One rate-limit policy: at most `limit` hits per fixed window of `window_seconds`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    /// Name used in counter keys and in the `RateLimit-Policy` header.
    pub name: &'static str,
    /// Hits admitted per window.
    pub limit: u32,
    /// The window's length.
    pub window_seconds: u64,
}

impl Limit {
    /// Reads `limit_var` per `window_var`, with these defaults.
    fn from_vars(
        vars: &Vars,
        name: &'static str,
        (limit_var, default_limit): (&'static str, u32),
        (window_var, default_window): (&'static str, u64),
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            name,
            // Each limit is a log of one entry per admitted attempt (`rate_limit`): its item, and
            // the write units of every claim, grow with it.
            limit: vars.ranged(limit_var, default_limit, 1, MAX_LIMIT)?,
            window_seconds: vars.ranged(window_var, default_window, 1, 86_400)?,
        })
    }

    /// `REGISTER_IP_LIMIT` per `REGISTER_IP_WINDOW_SECONDS` (default 10 per hour):
    /// registrations per source IP. Each one costs a full password hash, so an unbounded stream
    /// from one address would be a cheap way to burn CPU and fill the users table.
    pub fn register(vars: &Vars) -> Result<Self, ConfigError> {
        Self::from_vars(
            vars,
            "register-ip",
            ("REGISTER_IP_LIMIT", 10),
            ("REGISTER_IP_WINDOW_SECONDS", 3600),
        )
    }

    /// `FORGOT_IP_LIMIT` per `FORGOT_IP_WINDOW_SECONDS` (default 5 per 15 min): every
    /// `POST /password/forgot` counts against the source IP (a 429 when spent).
    pub fn forgot_ip(vars: &Vars) -> Result<Self, ConfigError> {
        Self::from_vars(
            vars,
            "forgot-ip",
            ("FORGOT_IP_LIMIT", 5),
            ("FORGOT_IP_WINDOW_SECONDS", 900),
        )
    }

    /// `FORGOT_ADDRESS_LIMIT` per `FORGOT_ADDRESS_WINDOW_SECONDS` (default 3 per hour): reset
    /// mails per address. Spent silently: the answer stays the same 202, no mail goes out.
    pub fn forgot_address(vars: &Vars) -> Result<Self, ConfigError> {
        Self::from_vars(
            vars,
            "forgot-address",
            ("FORGOT_ADDRESS_LIMIT", 3),
            ("FORGOT_ADDRESS_WINDOW_SECONDS", 3600),
        )
    }

    /// `EMAIL_RESEND_LIMIT` per `EMAIL_RESEND_WINDOW_SECONDS` (default 3 per hour): verification
    /// mails sent again per account (`POST /email/resend`; a 429 when spent).
    pub fn email_resend(vars: &Vars) -> Result<Self, ConfigError> {
        Self::from_vars(
            vars,
            "email-resend",
            ("EMAIL_RESEND_LIMIT", 3),
            ("EMAIL_RESEND_WINDOW_SECONDS", 3600),
        )
    }

    /// `REFRESH_IP_LIMIT` per `REFRESH_IP_WINDOW_SECONDS` (default 30 per 60 s): every refresh
    /// attempt counts against the source IP.
    pub fn refresh(vars: &Vars) -> Result<Self, ConfigError> {
        Self::from_vars(
            vars,
            "refresh-ip",
            ("REFRESH_IP_LIMIT", 30),
            ("REFRESH_IP_WINDOW_SECONDS", 60),
        )
    }
}

/// Login limits: every attempt per source IP; failed attempts per account, in three tiers,
/// from sources that are not familiar; failed attempts per account and familiar source.
#[derive(Debug, Clone)]
pub struct LoginLimits {
    /// `LOGIN_IP_LIMIT` per `LOGIN_IP_WINDOW_SECONDS` (default 5 per 60 s): every attempt.
    pub per_ip: Limit,
    /// `LOGIN_USER_LIMIT` per `LOGIN_USER_WINDOW_SECONDS` (default 5 per 60 s): failures from
    /// unfamiliar sources.
    pub per_user: Limit,
    /// `LOGIN_USER_MEDIUM_LIMIT` per `LOGIN_USER_MEDIUM_WINDOW_SECONDS` (default 10 per 15 min).
    pub per_user_medium: Limit,
    /// `LOGIN_USER_LONG_LIMIT` per `LOGIN_USER_LONG_WINDOW_SECONDS` (default 100 per 24 h).
    pub per_user_long: Limit,
    /// `LOGIN_USER_SOURCE_LIMIT` per `LOGIN_USER_SOURCE_WINDOW_SECONDS` (default 5 per 60 s):
    /// failures from one familiar source, which the account-wide tiers do not block.
    pub per_user_source: Limit,
    /// `LOGIN_USER_SOURCE_DAY_LIMIT` per `LOGIN_USER_SOURCE_DAY_WINDOW_SECONDS` (default 100
    /// per 24 h): a familiar source's failures are bounded per day too, so that no source
    /// reaches NIST SP 800-63B's 100 consecutive failures a day.
    pub per_user_source_day: Limit,
    /// `FAMILIAR_SOURCE_DAYS` (default 30): how long a successful login makes its source (an
    /// address, IPv6 by /64) familiar to the account.
    pub familiar_seconds: u64,
}

impl LoginLimits {
    /// The account-wide failure tiers, shortest first.
    pub fn account_tiers(&self) -> [&Limit; 3] {
        [&self.per_user, &self.per_user_medium, &self.per_user_long]
    }

    /// A familiar source's failure tiers, shortest first.
    pub fn source_tiers(&self) -> [&Limit; 2] {
        [&self.per_user_source, &self.per_user_source_day]
    }
}

impl LoginLimits {
    /// Reads both login limits.
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        Ok(Self {
            per_ip: Limit::from_vars(
                vars,
                "login-ip",
                ("LOGIN_IP_LIMIT", 5),
                ("LOGIN_IP_WINDOW_SECONDS", 60),
            )?,
            per_user: Limit::from_vars(
                vars,
                "login-user",
                ("LOGIN_USER_LIMIT", 5),
                ("LOGIN_USER_WINDOW_SECONDS", 60),
            )?,
            per_user_medium: Limit::from_vars(
                vars,
                "login-user",
                ("LOGIN_USER_MEDIUM_LIMIT", 10),
                ("LOGIN_USER_MEDIUM_WINDOW_SECONDS", 900),
            )?,
            per_user_long: Limit::from_vars(
                vars,
                "login-user",
                ("LOGIN_USER_LONG_LIMIT", 100),
                ("LOGIN_USER_LONG_WINDOW_SECONDS", 86_400),
            )?,
            per_user_source: Limit::from_vars(
                vars,
                "login-user-source",
                ("LOGIN_USER_SOURCE_LIMIT", 5),
                ("LOGIN_USER_SOURCE_WINDOW_SECONDS", 60),
            )?,
            per_user_source_day: Limit::from_vars(
                vars,
                "login-user-source",
                ("LOGIN_USER_SOURCE_DAY_LIMIT", 100),
                ("LOGIN_USER_SOURCE_DAY_WINDOW_SECONDS", 86_400),
            )?,
            familiar_seconds: vars.ranged("FAMILIAR_SOURCE_DAYS", 30, 1, 365)? * 86_400,
        })
    }
}

/// `JWKS_MAX_AGE_SECONDS` (default 300, at most a day): how long clients may cache the JWKS.
/// Publish a new key at least this long before signing with it, so cached copies know it.
pub fn jwks_max_age(vars: &Vars) -> Result<u64, ConfigError> {
    vars.ranged("JWKS_MAX_AGE_SECONDS", 300, 0, 86_400)
}

/// `AUDIT_LOG_USERNAMES`: whether audit events carry the username (off by default: usernames
/// are personal data in many jurisdictions).
pub fn audit_log_usernames(vars: &Vars) -> Result<bool, ConfigError> {
    vars.parsed("AUDIT_LOG_USERNAMES", false)
}

/// `SESSION_CHECK`: whether `protected` checks each token's session (off by default: the
/// stateless fast path).
pub fn session_check(vars: &Vars) -> Result<bool, ConfigError> {
    vars.parsed("SESSION_CHECK", false)
}

/// `AUTH_REALM`: the realm named in `WWW-Authenticate` challenges (default `auth-api`).
pub fn realm(vars: &Vars) -> String {
    vars.get("AUTH_REALM").unwrap_or_else(|| "auth-api".into())
}

/// `MFA_ISSUER`: the issuer an authenticator app shows beside the username (default: the realm):
/// 1 to 64 characters, no `:` (it separates issuer and account in an `otpauth` URI).
pub fn mfa_issuer(vars: &Vars) -> Result<String, ConfigError> {
    let issuer = vars.get("MFA_ISSUER").unwrap_or_else(|| realm(vars));
    if issuer.is_empty() || issuer.chars().count() > 64 || issuer.contains(':') {
        return Err(ConfigError::Invalid {
            name: "MFA_ISSUER",
            reason: "must be 1 to 64 characters without ':'".into(),
        });
    }
    Ok(issuer)
}

/// `ADMIN_REQUIRE_MFA`: whether the admin API refuses a token without `mfa` in its `amr`
/// (off by default, so existing stacks keep working; the docs recommend it on).
pub fn admin_require_mfa(vars: &Vars) -> Result<bool, ConfigError> {
    vars.parsed("ADMIN_REQUIRE_MFA", false)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn argon2_settings_weaker_than_owasps_pairs_stop_the_function_unless_tests_allow_them() {
        for (m, t, ok) in [
            ("47104", "1", true),
            ("47103", "1", false),
            ("19456", "2", true),
            ("19455", "2", false),
            ("12288", "3", true),
            ("9216", "4", true),
            ("9215", "4", false),
            ("7168", "5", true),
            ("7168", "16", true),
            ("7167", "9", false),
            ("64", "1", false),
        ] {
            let vars = Vars::from_pairs([("ARGON2_MEMORY_KIB", m), ("ARGON2_ITERATIONS", t)]);
            assert_eq!(Argon2Config::from_vars(&vars).is_ok(), ok, "m={m} t={t}");
            let mut allowed = vars.clone();
            allowed.set("ARGON2_ALLOW_WEAK_FOR_TESTS", "true");
            assert!(
                Argon2Config::from_vars(&allowed).is_ok(),
                "m={m} t={t} allowed"
            );
        }
    }

    #[test]
    fn unset_variables_take_their_defaults() {
        let vars = Vars::from_pairs([("JWT_ISSUER", "  ")]);
        let tokens = TokenConfig::from_vars(&vars).unwrap();
        assert_eq!(tokens.issuer, "auth-api", "blank counts as unset");
        assert_eq!((tokens.ttl_seconds, tokens.leeway_seconds), (900, 30));
        let limits = LoginLimits::from_vars(&vars).unwrap();
        assert_eq!((limits.per_ip.limit, limits.per_ip.window_seconds), (5, 60));
        assert_eq!(Limit::register(&vars).unwrap().window_seconds, 3600);
        assert_eq!(Limit::refresh(&vars).unwrap().limit, 30);
        assert_eq!(
            Argon2Config::from_vars(&vars).unwrap(),
            Argon2Config::default()
        );
        let session = SessionConfig::from_vars(&vars).unwrap();
        assert_eq!(
            (session.ttl_seconds, session.grace_seconds, session.cap),
            (2_592_000, 0, 100)
        );
    }

    #[test]
    fn values_outside_their_range_or_unparsable_are_refused_by_name() {
        for (name, value) in [
            ("ACCESS_TOKEN_TTL_SECONDS", "59"),
            ("JWT_LEEWAY_SECONDS", "31"),
            ("ACCESS_TOKEN_TTL_SECONDS", "soon"),
        ] {
            let err = TokenConfig::from_vars(&Vars::from_pairs([(name, value)])).unwrap_err();
            assert!(
                matches!(err, ConfigError::Invalid { name: n, .. } if n == name),
                "{name}={value}: {err}"
            );
        }
        for value in ["0", "1001", "-1", "many"] {
            let err = SessionConfig::from_vars(&Vars::from_pairs([("SESSION_CAP", value)]));
            assert!(
                matches!(
                    err,
                    Err(ConfigError::Invalid {
                        name: "SESSION_CAP",
                        ..
                    })
                ),
                "SESSION_CAP={value}"
            );
        }
        for (value, cap) in [("1", 1), ("1000", 1000)] {
            let vars = Vars::from_pairs([("SESSION_CAP", value)]);
            assert_eq!(SessionConfig::from_vars(&vars).unwrap().cap, cap);
        }
        let err = LoginLimits::from_vars(&Vars::from_pairs([("LOGIN_USER_LIMIT", "0")]));
        assert!(matches!(
            err,
            Err(ConfigError::Invalid {
                name: "LOGIN_USER_LIMIT",
                ..
            })
        ));
    }

    #[test]
    fn a_missing_table_stops_the_function() {
        let vars = Vars::from_pairs([("USERS_TABLE", "u")]);
        assert_eq!(
            Tables::from_vars(&vars, &[Table::Users]).unwrap().users,
            "u"
        );
        assert!(matches!(
            Tables::from_vars(&vars, &[Table::Users, Table::Sessions]),
            Err(ConfigError::Missing("SESSIONS_TABLE"))
        ));
    }

    #[test]
    fn a_fixed_set_never_reads_the_environment() {
        // PATH is set in every test process; a fixed set must not see it.
        assert!(Vars::env().get("PATH").is_some());
        assert!(Vars::from_pairs::<&str, &str>([]).get("PATH").is_none());
    }
}
