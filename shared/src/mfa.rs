//! The second factor's parts (feature `mfa`): TOTP through `totp-rs` (RFC 6238: SHA-1, 6 digits,
//! 30 s, one step either side), its secret sealed with AES-256-GCM (aws-lc-rs) under a key kept
//! in Secrets Manager beside the signing keys, recovery codes stored only as hashes, and the
//! `mfa_token` a password login hands out while the second factor is owed.
//!
//! What `totp-rs` does not do is ours: a code is accepted at most once per user (the store keeps
//! the last accepted time step and advances it with a conditional write, `UserStore::update_mfa`),
//! and the recovery codes (generated, normalised, hashed here; used up by a conditional write).

use aws_lc_rs::{aead, digest, hkdf, rand};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

// Login hands out `mfa_token`s and `amr` values without linking TOTP: they live apart.
pub use crate::mfa_token::{
    MAX_MFA_TOKEN_CHARS, MFA_TOKEN_MAX_WRONG, MFA_TOKEN_TTL_SECONDS, new_mfa_token, parse_mfa_token,
};
pub use crate::token::{AMR_PASSWORD, AMR_RECOVERY_CODE, AMR_TOTP, amr};

use crate::config::{ConfigError, Vars};
use crate::error::ApiError;

/// TOTP secret length: 160 bits (RFC 4226 section 4 recommends it).
pub const SECRET_BYTES: usize = 20;
/// Recovery codes per set.
pub const RECOVERY_CODES: usize = 10;
/// Random bytes per recovery code: 80 bits, 16 Crockford base32 characters.
const RECOVERY_CODE_BYTES: usize = 10;
/// The longest code or token read from a body: anything longer is refused before any work.
pub const MAX_CODE_CHARS: usize = 64;

/// The minimum length of the key material (a master secret, as for the signing keys).
const MIN_KEY_MATERIAL: usize = 32;

fn unavailable(what: &'static str) -> ApiError {
    ApiError::Internal(what.into())
}

/// The key that seals TOTP secrets at rest: AES-256-GCM, derived with HKDF-SHA256 from the
/// material in `MFA_KEY` / `MFA_KEY_FILE` / `MFA_KEY_SECRET_ARN`. A dump of the users table alone
/// yields no usable secret; the sealed value is bound to its user's id (the AAD), so it cannot
/// be moved to another user.
pub struct MfaKey {
    key: aead::LessSafeKey,
}

impl std::fmt::Debug for MfaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MfaKey([redacted])")
    }
}

impl MfaKey {
    /// The key derived from `material` (at least 32 bytes).
    pub fn from_material(material: &[u8]) -> Result<Self, ConfigError> {
        if material.len() < MIN_KEY_MATERIAL {
            return Err(ConfigError::Invalid {
                name: "MFA_KEY",
                reason: format!("must be at least {MIN_KEY_MATERIAL} bytes"),
            });
        }
        let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, b"auth-api mfa");
        let prk = salt.extract(material);
        let okm = prk
            .expand(&[b"totp secret sealing key"], &aead::AES_256_GCM)
            .map_err(|_| ConfigError::Invalid {
                name: "MFA_KEY",
                reason: "cannot derive the sealing key".into(),
            })?;
        let key = aead::UnboundKey::from(okm);
        Ok(Self {
            key: aead::LessSafeKey::new(key),
        })
    }

    /// Loads the key material from, in order: `MFA_KEY` (inline), `MFA_KEY_FILE` (a path) or
    /// `MFA_KEY_SECRET_ARN` (Secrets Manager, once per cold start). Without any, the function
    /// refuses to start.
    pub async fn load(vars: &Vars) -> Result<Self, ConfigError> {
        if let Some(inline) = vars.get("MFA_KEY") {
            return Self::from_material(inline.as_bytes());
        }
        if let Some(path) = vars.get("MFA_KEY_FILE") {
            let text = std::fs::read_to_string(&path).map_err(|e| ConfigError::Invalid {
                name: "MFA_KEY_FILE",
                reason: format!("cannot read {path}: {e}"),
            })?;
            return Self::from_material(text.trim().as_bytes());
        }
        if let Some(arn) = vars.get("MFA_KEY_SECRET_ARN") {
            let text = crate::keys::read_secret("MFA_KEY_SECRET_ARN", &arn).await?;
            return Self::from_material(text.as_bytes());
        }
        Err(ConfigError::Missing(
            "MFA_KEY_SECRET_ARN (or MFA_KEY_FILE / MFA_KEY)",
        ))
    }

    /// `secret` sealed for the user `user_id`: base64url of nonce, ciphertext and tag.
    pub fn seal(&self, user_id: &str, secret: &[u8]) -> Result<String, ApiError> {
        let mut nonce = [0u8; aead::NONCE_LEN];
        rand::fill(&mut nonce).map_err(|_| unavailable("no randomness"))?;
        let mut sealed = secret.to_vec();
        self.key
            .seal_in_place_append_tag(
                aead::Nonce::assume_unique_for_key(nonce),
                aead::Aad::from(user_id.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| unavailable("sealing a totp secret"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(URL_SAFE_NO_PAD.encode(out))
    }

    /// The secret `sealed` holds for `user_id`; an error (500) when it was sealed under another
    /// key or for another user, or was altered.
    pub fn open(&self, user_id: &str, sealed: &str) -> Result<Vec<u8>, ApiError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(sealed)
            .map_err(|_| unavailable("a sealed totp secret that is not base64url"))?;
        if bytes.len() < aead::NONCE_LEN {
            return Err(unavailable("a sealed totp secret too short"));
        }
        let (nonce, rest) = bytes.split_at(aead::NONCE_LEN);
        let nonce = aead::Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| unavailable("a sealed totp secret's nonce"))?;
        let mut in_out = rest.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, aead::Aad::from(user_id.as_bytes()), &mut in_out)
            .map_err(|_| unavailable("a sealed totp secret that does not open"))?;
        Ok(plain.to_vec())
    }
}

/// A new TOTP secret from the CSPRNG.
pub fn new_secret() -> Result<Vec<u8>, ApiError> {
    let mut secret = vec![0u8; SECRET_BYTES];
    rand::fill(&mut secret).map_err(|_| unavailable("no randomness"))?;
    Ok(secret)
}

fn totp(secret: &[u8], issuer: &str, username: &str) -> Result<totp_rs::Totp, ApiError> {
    totp_rs::Builder::new()
        .with_algorithm(totp_rs::Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(secret.to_vec())
        .with_issuer(Some(issuer))
        .with_account_name(username)
        .build()
        .map_err(|e| ApiError::Internal(format!("totp: {e}").into()))
}

/// What an authenticator app is given at enrollment.
#[derive(Debug, serde::Serialize)]
pub struct Enrollment {
    /// The secret in base32 (RFC 4648, no padding), to type in by hand.
    pub secret: String,
    /// The `otpauth://` URI (as a QR code, usually).
    pub otpauth_uri: String,
}

/// The enrollment of `secret` for `username`, issued by `issuer`.
pub fn enrollment(secret: &[u8], issuer: &str, username: &str) -> Result<Enrollment, ApiError> {
    let totp = totp(secret, issuer, username)?;
    let uri = totp
        .to_url()
        .map_err(|e| ApiError::Internal(format!("totp uri: {e}").into()))?;
    // totp-rs leaves out parameters at their defaults; some authenticator apps assume other
    // defaults, so they are written out.
    Ok(Enrollment {
        secret: totp.secret().to_base32(),
        otpauth_uri: format!("{uri}&algorithm=SHA1&digits=6&period=30"),
    })
}

/// The time step of `code` when it is right for `secret` at `now` (one step either side), as
/// `totp-rs` checks it. Accepting a step once only is the store's job.
pub fn check_totp(secret: &[u8], code: &str, now: u64) -> Option<u64> {
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    totp(secret, "x", "x").ok()?.check(code, now)
}

/// A fresh set of recovery codes, as shown once: `xxxx-xxxx-xxxx-xxxx` in Crockford base32.
pub fn new_recovery_codes() -> Result<Vec<String>, ApiError> {
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut bytes = [0u8; RECOVERY_CODE_BYTES];
            rand::fill(&mut bytes).map_err(|_| unavailable("no randomness"))?;
            let text = base32::encode(base32::Alphabet::Crockford, &bytes);
            let groups: Vec<&str> = (0..4).map(|i| &text[i * 4..i * 4 + 4]).collect();
            Ok(groups.join("-"))
        })
        .collect()
}

/// The stored form of a recovery code of the user `user_id`: SHA-256 over the user's id and
/// the code's bytes, hex. At 80 random bits a code needs no slow hash. Any case, with or
/// without dashes or spaces, and Crockford's look-alikes (`I`, `L` for `1`, `O` for `0`) give
/// the same hash; `None` when `input` is no recovery code at all.
pub fn recovery_code_hash(user_id: &str, input: &str) -> Option<String> {
    if input.len() > MAX_CODE_CHARS {
        return None;
    }
    let compact: String = input
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .collect();
    if compact.len() != RECOVERY_CODE_BYTES * 8 / 5 {
        return None;
    }
    let bytes = base32::decode(base32::Alphabet::Crockford, &compact)?;
    if bytes.len() != RECOVERY_CODE_BYTES {
        return None;
    }
    let mut context = digest::Context::new(&digest::SHA256);
    context.update(b"recovery-code\0");
    context.update(user_id.as_bytes());
    context.update(b"\0");
    context.update(&bytes);
    Some(crate::keyed_token::hex(context.finish().as_ref()))
}

/// The hashes of `codes` (as [`new_recovery_codes`] made them).
pub fn recovery_code_hashes(user_id: &str, codes: &[String]) -> Result<Vec<String>, ApiError> {
    codes
        .iter()
        .map(|c| recovery_code_hash(user_id, c).ok_or_else(|| unavailable("a recovery code")))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_for_its_user_and_key() {
        let key = MfaKey::from_material(&[7u8; 32]).unwrap();
        let secret = new_secret().unwrap();
        let sealed = key.seal("user-1", &secret).unwrap();
        assert_eq!(key.open("user-1", &sealed).unwrap(), secret);
        assert!(key.open("user-2", &sealed).is_err(), "bound to its user");
        let other = MfaKey::from_material(&[8u8; 32]).unwrap();
        assert!(other.open("user-1", &sealed).is_err(), "bound to its key");
        assert!(!sealed.contains(&totp_rs::Secret::from(secret.clone()).to_base32()));
        assert!(MfaKey::from_material(&[1u8; 31]).is_err());
    }

    #[test]
    fn codes_are_checked_one_step_either_side_and_say_which_step() {
        let secret = new_secret().unwrap();
        let t = totp(&secret, "i", "u").unwrap();
        let now = 1_800_000_000;
        let code = t.generate(now).to_string();
        let code = code.as_str();
        assert_eq!(check_totp(&secret, code, now), Some(now / 30));
        assert_eq!(check_totp(&secret, code, now + 30), Some(now / 30));
        assert_eq!(check_totp(&secret, code, now - 30), Some(now / 30));
        assert_eq!(check_totp(&secret, code, now + 90), None);
        assert_eq!(check_totp(&secret, "12345", now), None);
        assert_eq!(check_totp(&secret, "abcdef", now), None);
    }

    #[test]
    fn the_enrollment_uri_names_issuer_account_and_parameters() {
        let secret = new_secret().unwrap();
        let e = enrollment(&secret, "Auth", "alice").unwrap();
        assert!(
            e.otpauth_uri
                .starts_with("otpauth://totp/Auth:alice?secret=")
        );
        for part in ["issuer=Auth", "algorithm=SHA1", "digits=6", "period=30"] {
            assert!(e.otpauth_uri.contains(part), "{}", e.otpauth_uri);
        }
        assert_eq!(e.secret.len(), 32, "160 bits in base32");
    }

    #[test]
    fn recovery_codes_are_80_bits_and_read_in_any_form() {
        let codes = new_recovery_codes().unwrap();
        assert_eq!(codes.len(), 10);
        let mut distinct = codes.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 10);
        let code = &codes[0];
        assert_eq!(code.len(), 19);
        let hash = recovery_code_hash("u", code).unwrap();
        let bare = code.replace('-', "").to_lowercase();
        assert_eq!(recovery_code_hash("u", &bare).unwrap(), hash);
        assert_ne!(recovery_code_hash("v", code).unwrap(), hash, "per user");
        assert_eq!(recovery_code_hash("u", "too-short"), None);
        assert_eq!(recovery_code_hash("u", &"x".repeat(100)), None);
        // Crockford's look-alikes.
        assert_eq!(
            recovery_code_hash("u", "0000-1111-0000-1111"),
            recovery_code_hash("u", "oooo-iiii-OOOO-LLLL")
        );
    }

    #[test]
    fn an_mfa_token_names_its_user_and_is_stored_as_a_hash() {
        let (token, id) = new_mfa_token("alice").unwrap();
        assert_eq!(parse_mfa_token(&token), Some(("alice".into(), id.clone())));
        assert!(!id.contains(token.split('.').nth(1).unwrap()));
        assert_eq!(parse_mfa_token("alice.short"), None);
        assert_eq!(parse_mfa_token("nodot"), None);
        assert_eq!(parse_mfa_token(&"a".repeat(500)), None);
    }
}
