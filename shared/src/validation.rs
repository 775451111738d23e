//! Validated input as types: a [`Username`] or [`Password`] exists only once it has passed the
//! rules, so stores and tokens never see raw request text.

use std::borrow::Cow;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use unicode_normalization::UnicodeNormalization;
use validator::{Validate, ValidationError, ValidationErrors};

use crate::blocklist;
use crate::config::{PASSWORD_MAX_CHARS, PasswordPolicy};
use crate::error::{ApiError, FieldErrors};

/// A username as the user typed it: 3..=32 characters of `[A-Za-z0-9_.-]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    /// A bare username (from a path or a command line), with the rules of registration:
    /// 3 to 32 characters of `[A-Za-z0-9_.-]`. The message says what is wrong.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        if !(3..=32).contains(&raw.len()) {
            return Err("must be 3 to 32 characters");
        }
        if username_charset(raw).is_err() {
            return Err("may only contain letters A-Z, digits, '_', '.' and '-'");
        }
        Ok(Self(raw.to_owned()))
    }

    /// The key users are stored under: uniqueness is case-insensitive, so `Alice` and `alice`
    /// are one account. The charset is ASCII, so ASCII lower-casing is exact.
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl AsRef<str> for Username {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// An email address as the user typed it (kept for display), checked by `validator`'s HTML5
/// rule and ours: at most 254 octets, exactly one `@`, a domain with a dot, no whitespace or
/// control characters. [`Email::key`] is its lower-cased form, which uniqueness uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

/// The longest address accepted, in octets (RFC 5321's path limit less its brackets).
pub const EMAIL_MAX_OCTETS: usize = 254;

impl Email {
    /// The address, or what is wrong with it.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        use validator::ValidateEmail;
        if raw.is_empty() || raw.len() > EMAIL_MAX_OCTETS {
            return Err("must be an address of at most 254 octets");
        }
        if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("must not contain spaces or control characters");
        }
        let Some((local, domain)) = raw.split_once('@') else {
            return Err("must be an email address");
        };
        if local.is_empty() || domain.contains('@') || !domain.contains('.') {
            return Err("must be an email address");
        }
        if domain.starts_with('.') || domain.ends_with('.') || !raw.validate_email() {
            return Err("must be an email address");
        }
        Ok(Self(raw.to_owned()))
    }

    /// The key an address is unique under: lower-cased (addresses are compared
    /// case-insensitively).
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A password; its `Debug` is redacted and it is only exposed to the hasher.
#[derive(Clone)]
pub struct Password(SecretString);

impl Password {
    /// The password itself, for the one call that hashes or verifies it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password([redacted])")
    }
}

/// Which rules the password must meet: registration applies the policy's minimum length; login
/// only bounds the length so that no attacker-sized input reaches argon2.
#[derive(Debug, Clone, Copy)]
pub enum Purpose<'a> {
    /// Registration: the full policy.
    Register(&'a PasswordPolicy),
    /// Login: length bounds only.
    Login,
}

/// `username` and `password` from a request body.
#[derive(Debug)]
pub struct Credentials {
    /// The validated username.
    pub username: Username,
    /// The validated password (NFKC-normalised).
    pub password: Password,
}

/// `validator` takes lengths as `u64`.
const PASSWORD_MAX: u64 = PASSWORD_MAX_CHARS as u64;

#[derive(Validate)]
struct CredentialsInput {
    #[validate(
        length(min = 3, max = 32, message = "must be 3 to 32 characters"),
        custom(function = "username_charset")
    )]
    username: String,
    #[validate(length(max = "PASSWORD_MAX", message = "must be at most 128 characters"))]
    password: String,
}

fn username_charset(value: &str) -> Result<(), ValidationError> {
    if value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        return Ok(());
    }
    Err(ValidationError::new("charset").with_message(Cow::Borrowed(
        "may only contain letters A-Z, digits, '_', '.' and '-'",
    )))
}

impl Credentials {
    /// Validates a body's `username` and `password`, reporting every problem at once.
    pub fn parse(body: &Map<String, Value>, purpose: Purpose<'_>) -> Result<Self, ApiError> {
        let mut details = FieldErrors::new();
        let username = string_field(body, "username", &mut details);
        let password = string_field(body, "password", &mut details);
        let (Some(username), Some(password)) = (username, password) else {
            return Err(ApiError::Validation(details));
        };
        // The same Unicode password typed on two systems can arrive in different forms (a
        // precomposed "é" or "e" + combining accent); NFKC makes them one, at register and login
        // alike. Nothing else is changed: no trimming, no case folding, no truncation. Inputs
        // are already bounded by the 64 KiB body limit, so this is cheap.
        let password: String = password.nfkc().collect();
        let input = CredentialsInput { username, password };
        if let Err(errors) = input.validate() {
            collect(&errors, &mut details);
        }
        let min_chars = match purpose {
            Purpose::Register(policy) => policy.min_chars,
            Purpose::Login => 1,
        };
        if input.password.chars().count() < min_chars && !details.contains_key("password") {
            let message = match purpose {
                Purpose::Register(_) => format!("must be at least {min_chars} characters"),
                Purpose::Login => "must not be empty".to_owned(),
            };
            details.insert("password".into(), vec![message]);
        }
        if let (Purpose::Register(policy), false) = (purpose, details.contains_key("password")) {
            let name = if details.contains_key("username") {
                ""
            } else {
                input.username.as_str()
            };
            if let Some(reason) = blocklist::screen(&input.password, name, &policy.service_name) {
                details.insert("password".into(), vec![reason.to_owned()]);
            }
        }
        if !details.is_empty() {
            return Err(ApiError::Validation(details));
        }
        Ok(Self {
            username: Username(input.username),
            password: Password(SecretString::from(input.password)),
        })
    }
}

/// A required string field, or a 400 naming it.
pub fn required_string(body: &Map<String, Value>, name: &str) -> Result<String, ApiError> {
    let mut details = FieldErrors::new();
    string_field(body, name, &mut details).ok_or(ApiError::Validation(details))
}

fn string_field(
    body: &Map<String, Value>,
    name: &str,
    details: &mut FieldErrors,
) -> Option<String> {
    match body.get(name) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            details.insert(name.into(), vec!["must be a string".into()]);
            None
        }
        None => {
            details.insert(name.into(), vec!["is required".into()]);
            None
        }
    }
}

fn collect(errors: &ValidationErrors, details: &mut FieldErrors) {
    for (field, list) in errors.field_errors() {
        let messages = details.entry(field.to_string()).or_default();
        for e in list {
            messages.push(
                e.message
                    .as_deref()
                    .map_or_else(|| e.code.to_string(), str::to_owned),
            );
        }
    }
}

#[cfg(test)]
mod username_tests {
    #![allow(clippy::unwrap_used)]
    use super::Username;

    #[test]
    fn a_bare_username_follows_the_registration_rules() {
        assert_eq!(Username::parse("Alice_1").unwrap().key(), "alice_1");
        for bad in ["ab", "a b c", "ali%20ce", &"x".repeat(33), "álice"] {
            assert!(Username::parse(bad).is_err(), "{bad}");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use serde_json::json;

    fn parse(body: Value, purpose: Purpose) -> Result<Credentials, FieldErrors> {
        let Value::Object(map) = body else {
            panic!("test bodies are objects")
        };
        Credentials::parse(&map, purpose).map_err(|e| match e {
            ApiError::Validation(d) => d,
            other => panic!("unexpected {other:?}"),
        })
    }

    static POLICY: PasswordPolicy = PasswordPolicy {
        min_chars: 8,
        service_name: std::borrow::Cow::Borrowed("auth-api"),
    };
    const REGISTER: Purpose<'static> = Purpose::Register(&POLICY);

    #[test]
    fn valid_credentials_parse() {
        let c = parse(
            json!({"username": "Alice.B-1_x", "password": "correct horse"}),
            REGISTER,
        )
        .unwrap();
        assert_eq!(c.username.as_ref(), "Alice.B-1_x");
        assert_eq!(c.username.key(), "alice.b-1_x");
        assert_eq!(c.password.expose(), "correct horse");
    }

    #[test]
    fn invalid_credentials_are_rejected_with_field_messages() {
        let long_pw = "p".repeat(129);
        let cases: Vec<(Value, &str, &str, &str)> = vec![
            (
                json!({"password": "longenough"}),
                "username",
                "is required",
                "missing username",
            ),
            (
                json!({"username": "alice"}),
                "password",
                "is required",
                "missing password",
            ),
            (
                json!({"username": 42, "password": "longenough"}),
                "username",
                "must be a string",
                "number username",
            ),
            (
                json!({"username": "alice", "password": null}),
                "password",
                "must be a string",
                "null password",
            ),
            (
                json!({"username": ["a"], "password": "longenough"}),
                "username",
                "must be a string",
                "array username",
            ),
            (
                json!({"username": "ab", "password": "longenough"}),
                "username",
                "must be 3 to 32 characters",
                "too short",
            ),
            (
                json!({"username": "a".repeat(33), "password": "longenough"}),
                "username",
                "must be 3 to 32 characters",
                "too long",
            ),
            (
                json!({"username": "al ice", "password": "longenough"}),
                "username",
                "may only contain letters A-Z, digits, '_', '.' and '-'",
                "space",
            ),
            (
                json!({"username": "alicé", "password": "longenough"}),
                "username",
                "may only contain letters A-Z, digits, '_', '.' and '-'",
                "non-ascii",
            ),
            (
                json!({"username": "al\u{0}ce", "password": "longenough"}),
                "username",
                "may only contain letters A-Z, digits, '_', '.' and '-'",
                "nul byte",
            ),
            (
                json!({"username": "alice", "password": "short"}),
                "password",
                "must be at least 8 characters",
                "short password",
            ),
            (
                json!({"username": "alice", "password": long_pw}),
                "password",
                "must be at most 128 characters",
                "long password",
            ),
        ];
        for (body, field, message, case) in cases {
            let details = parse(body, REGISTER).expect_err(case);
            assert_eq!(details[field], vec![message.to_string()], "{case}");
        }
    }

    #[test]
    fn both_fields_are_reported_together() {
        let details = parse(json!({}), REGISTER).unwrap_err();
        assert_eq!(details.len(), 2);
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        // 128 four-byte characters: 512 bytes, but exactly the maximum length.
        let pw = "😀".repeat(128);
        assert!(parse(json!({"username": "alice", "password": pw}), REGISTER).is_ok());
    }

    #[test]
    fn minimum_length_is_configurable() {
        let strict_policy = PasswordPolicy {
            min_chars: 12,
            ..PasswordPolicy::default()
        };
        let strict = Purpose::Register(&strict_policy);
        let details = parse(
            json!({"username": "alice", "password": "elevenchars"}),
            strict,
        )
        .unwrap_err();
        assert_eq!(details["password"], vec!["must be at least 12 characters"]);
    }

    #[test]
    fn login_skips_the_minimum_but_keeps_the_bound() {
        assert!(
            parse(
                json!({"username": "alice", "password": "short"}),
                Purpose::Login
            )
            .is_ok()
        );
        let long = "p".repeat(129);
        assert!(
            parse(
                json!({"username": "alice", "password": long}),
                Purpose::Login
            )
            .is_err()
        );
    }

    #[test]
    fn empty_login_password_is_reported_as_empty() {
        let details =
            parse(json!({"username": "alice", "password": ""}), Purpose::Login).unwrap_err();
        assert_eq!(details["password"], vec!["must not be empty"]);
    }

    #[test]
    fn common_and_context_passwords_are_refused_at_registration_only() {
        for (password, message) in [
            (
                "password1234",
                "is too common: choose a password that is not on lists of leaked passwords",
            ),
            ("Alice2026!!", "must not contain the username"),
            (
                "my-auth-api-pass",
                "must not contain the name of this service",
            ),
        ] {
            let details =
                parse(json!({"username": "alice", "password": password}), REGISTER).unwrap_err();
            assert_eq!(details["password"], vec![message], "{password}");
            assert!(
                parse(
                    json!({"username": "alice", "password": password}),
                    Purpose::Login
                )
                .is_ok()
            );
        }
    }

    #[test]
    fn passwords_are_nfkc_normalised_and_otherwise_untouched() {
        let composed = parse(
            json!({"username": "alice", "password": "caf\u{e9} au lait!"}),
            Purpose::Login,
        )
        .unwrap();
        let decomposed = parse(
            json!({"username": "alice", "password": "cafe\u{301} au lait!"}),
            Purpose::Login,
        )
        .unwrap();
        assert_eq!(composed.password.expose(), decomposed.password.expose());
        let spaced = parse(
            json!({"username": "alice", "password": "  Keep My Spaces  "}),
            Purpose::Login,
        )
        .unwrap();
        assert_eq!(
            spaced.password.expose(),
            "  Keep My Spaces  ",
            "no trimming or case folding"
        );
    }

    #[test]
    fn password_debug_is_redacted() {
        let c = parse(
            json!({"username": "alice", "password": "hunter2hunter2"}),
            REGISTER,
        )
        .unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn email_addresses_follow_the_rules() {
        for good in ["alice@example.com", "A.Bob+tag@Sub.Example.org", "x@y.co"] {
            assert!(Email::parse(good).is_ok(), "{good}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        for bad in [
            "",
            "alice",
            "alice@localhost",
            "@example.com",
            "alice@@example.com",
            "a@b@example.com",
            "alice @example.com",
            "alice@exa mple.com",
            "alice@example.com\n",
            "alice@.example.com",
            "alice@example.com.",
            long.as_str(),
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
        let typed = Email::parse("Alice@Example.COM").unwrap();
        assert_eq!(typed.key(), "alice@example.com");
        assert_eq!(typed.as_ref(), "Alice@Example.COM");
    }
}
