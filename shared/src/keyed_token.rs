//! Opaque single-purpose tokens that name the account they are for (an `mfa_token`, a link in
//! a mail): `base64url(user key) "." base64url(256 random bits)`. The account is read with the
//! token's own record in one wave; only a SHA-256 of the whole token is ever stored, so a dump
//! of the tables yields no usable token.

use aws_lc_rs::{digest, rand};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::ApiError;

/// Random bytes per token (256 bits).
const RANDOM_BYTES: usize = 32;

/// A new token for the account `key`, and the hash to store.
pub fn new(key: &str) -> Result<(String, String), ApiError> {
    let mut random = [0u8; RANDOM_BYTES];
    rand::fill(&mut random).map_err(|_| ApiError::Internal("no randomness".into()))?;
    let token = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(key),
        URL_SAFE_NO_PAD.encode(random)
    );
    let hash = hash(&token);
    Ok((token, hash))
}

/// The account key a token names and the hash it is stored under: `None` when it is no such
/// token or is longer than `max_chars`.
pub fn parse(token: &str, max_chars: usize) -> Option<(String, String)> {
    if token.len() > max_chars {
        return None;
    }
    let (key, random) = token.split_once('.')?;
    let key = String::from_utf8(URL_SAFE_NO_PAD.decode(key).ok()?).ok()?;
    if key.is_empty() || URL_SAFE_NO_PAD.decode(random).ok()?.len() != RANDOM_BYTES {
        return None;
    }
    Some((key, hash(token)))
}

/// The stored form of a token: SHA-256, hex.
fn hash(token: &str) -> String {
    hex(digest::digest(&digest::SHA256, token.as_bytes()).as_ref())
}

/// Lower-case hex of `bytes` (the stored form of every hash here and in `mfa`).
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn a_token_names_its_account_and_is_stored_as_a_hash() {
        let (token, hash) = new("alice").unwrap();
        assert_eq!(parse(&token, 128), Some(("alice".into(), hash.clone())));
        assert_eq!(hash.len(), 64);
        assert!(!hash.contains(token.split('.').nth(1).unwrap()));
        assert_ne!(new("alice").unwrap().0, token, "random");
        assert_eq!(parse("alice.short", 128), None);
        assert_eq!(parse("nodot", 128), None);
        assert_eq!(parse(&token, 20), None, "too long");
    }
}
