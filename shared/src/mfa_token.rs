//! The `mfa_token` a login with a second factor is given (`403 mfa_required`) and
//! `POST /login/mfa` takes back: a [`crate::keyed_token`] naming the user, kept apart from
//! [`crate::mfa`] so that `login`, which only hands one out, links no TOTP code.

use crate::error::ApiError;

/// How long an `mfa_token` lives (seconds).
pub const MFA_TOKEN_TTL_SECONDS: u64 = 300;
/// Wrong codes after which an `mfa_token` is dead.
pub const MFA_TOKEN_MAX_WRONG: u32 = 5;
/// The longest `mfa_token` read from a body.
pub const MAX_MFA_TOKEN_CHARS: usize = 128;

/// A new `mfa_token` for the user `key`: the token (given to the client once) and its id (the
/// hash kept in the store), a [`crate::keyed_token`].
pub fn new_mfa_token(key: &str) -> Result<(String, String), ApiError> {
    crate::keyed_token::new(key)
}

/// The user key an `mfa_token` names and its id: `None` when it is not one.
pub fn parse_mfa_token(token: &str) -> Option<(String, String)> {
    crate::keyed_token::parse(token, MAX_MFA_TOKEN_CHARS)
}
