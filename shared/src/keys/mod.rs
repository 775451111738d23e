//! The signing key set: Ed25519 keys for access tokens and the MAC key for refresh tokens.
//!
//! One key signs; any number of others only verify, so a key can be rotated with an overlap of
//! at least the access-token lifetime. The set is a JSON document (a JWK-style list) kept in AWS
//! Secrets Manager when deployed and in `.dev/jwt-keys.json` locally:
//!
//! ```json
//! { "signing_kid": "2026-11-a",
//!   "refresh_secret": "<base64url, 32+ random bytes>",
//!   "keys": [ {"kid": "2026-11-a", "kty": "OKP", "crv": "Ed25519", "x": "<public>", "d": "<seed>"},
//!             {"kid": "2026-08-z", "kty": "OKP", "crv": "Ed25519", "x": "<public>"} ] }
//! ```
//!
//! A secret that is not JSON (such as the random string CloudFormation generates for a fresh
//! stack) is a master secret: one signing key and the refresh key are derived from it with HKDF,
//! so a deployment works with no set-up; rotation with overlap needs the JSON form.

//! Signing, refresh-token MACs, key generation and master secrets need aws-lc (the `aws-lc`
//! feature). Without it, a verify-only build reads key-set documents and builds only their
//! public keys, and the token checks run on RustCrypto (`rust-crypto`).
//!
//! The module by concern: [`parse`](KeySet::parse) and the other readers of a document or a
//! master secret (`set`), new keys and rotation (`generate`), and the sources a function loads
//! its set from (`load`).

mod generate;
mod load;
mod set;
#[cfg(test)]
mod tests;

#[cfg(feature = "aws-lc")]
use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use serde::{Deserialize, Serialize};

use crate::config::ConfigError;
pub use crate::config::KeyAlg;
pub use generate::promote_key;
#[cfg(feature = "aws-lc")]
pub use generate::{
    generate_document, generate_document_with, generate_key, generate_key_with, rotate_document,
    stage_key,
};
pub use load::load_public;
pub use load::read_secret;
#[cfg(feature = "aws-lc")]
pub use load::{load, load_for_refresh};

/// The key set as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeySetDocument {
    /// The `kid` of the key that signs new tokens.
    pub signing_kid: String,
    /// base64url of the secret that keys refresh-token MACs (empty in a public-only document).
    #[serde(default)]
    pub refresh_secret: String,
    /// Every key that verifies, the signing key among them.
    pub keys: Vec<KeyDocument>,
}

/// One key in JWK form (RFC 7517, 7518, 8037): an Ed25519 key (`kty: OKP`, `crv`, `x`; it signs
/// `EdDSA`) or an RSA key of 2048 bits or more (`kty: RSA`, `n`, `e`; it signs `RS256`). Only a
/// key that may sign has private parts: `d`, the Ed25519 seed, or for RSA the private exponent
/// with `p`, `q`, `dp`, `dq` and `qi` (RFC 7518 section 6.3.2), so any JOSE library reads them.
/// An RSA `d` without `p` is the older form of this project's key sets, the PKCS#1
/// `RSAPrivateKey` DER, still read so that existing secrets load.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct KeyDocument {
    /// Key id (JWT header `kid`).
    pub kid: String,
    /// JWK key type: `OKP` or `RSA`.
    pub kty: String,
    /// JWK curve (`Ed25519`), for `OKP`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub crv: String,
    /// base64url public key, for `OKP`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub x: String,
    /// base64url modulus, for `RSA`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub n: String,
    /// base64url public exponent, for `RSA`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub e: String,
    /// base64url private part, only on a key that may sign.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub d: Option<String>,
    /// RSA: the first prime factor (RFC 7518 section 6.3.2.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p: Option<String>,
    /// RSA: the second prime factor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    /// RSA: the first factor CRT exponent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dp: Option<String>,
    /// RSA: the second factor CRT exponent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dq: Option<String>,
    /// RSA: the first CRT coefficient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qi: Option<String>,
}

impl KeyDocument {
    /// Whether any private part is present.
    pub fn has_private_parts(&self) -> bool {
        [&self.d, &self.p, &self.q, &self.dp, &self.dq, &self.qi]
            .iter()
            .any(|part| part.is_some())
    }

    /// The key without its private parts: what verifies and what may be published.
    pub fn without_private_parts(&self) -> Self {
        Self {
            kid: self.kid.clone(),
            kty: self.kty.clone(),
            crv: self.crv.clone(),
            x: self.x.clone(),
            n: self.n.clone(),
            e: self.e.clone(),
            ..Self::default()
        }
    }

    /// An RSA key's private key as PKCS#1 `RSAPrivateKey` DER (what `jsonwebtoken` and aws-lc
    /// take), from either form of `d`; `None` for a key without one. Written with the `pkcs1`
    /// crate: the components are taken as they are, and aws-lc checks them when it loads the
    /// pair.
    pub fn rsa_private_der(&self) -> Result<Option<Vec<u8>>, ConfigError> {
        let Some(d) = &self.d else {
            return Ok(None);
        };
        let kid = &self.kid;
        let Some(p) = &self.p else {
            // The older form: `d` is the DER itself.
            return b64("d", d).map(Some);
        };
        let part = |name: &str, value: &Option<String>| {
            value
                .as_deref()
                .ok_or_else(|| invalid(format!("key {kid}: an RSA private key needs {name}")))
                .and_then(|v| b64(name, v))
        };
        let (n, e, d, p) = (
            b64("n", &self.n)?,
            b64("e", &self.e)?,
            b64("d", d)?,
            b64("p", p)?,
        );
        let (q, dp, dq, qi) = (
            part("q", &self.q)?,
            part("dp", &self.dp)?,
            part("dq", &self.dq)?,
            part("qi", &self.qi)?,
        );
        fn uint<'b>(kid: &str, bytes: &'b [u8]) -> Result<pkcs1::UintRef<'b>, ConfigError> {
            pkcs1::UintRef::new(strip_leading_zeros(bytes))
                .map_err(|_| invalid(format!("key {kid}: a malformed RSA component")))
        }
        let key = pkcs1::RsaPrivateKey {
            modulus: uint(kid, &n)?,
            public_exponent: uint(kid, &e)?,
            private_exponent: uint(kid, &d)?,
            prime1: uint(kid, &p)?,
            prime2: uint(kid, &q)?,
            exponent1: uint(kid, &dp)?,
            exponent2: uint(kid, &dq)?,
            coefficient: uint(kid, &qi)?,
            other_prime_infos: None,
        };
        pkcs1::der::Encode::to_der(&key)
            .map(Some)
            .map_err(|_| invalid(format!("key {kid}: the RSA key does not encode")))
    }
}

/// A public key, as verifiers and the JWKS endpoint see it.
pub struct PublicKey {
    /// Key id.
    pub kid: String,
    /// The one algorithm this key verifies: `EdDSA` for Ed25519, `RS256` for RSA. A token whose
    /// header names another is refused, so the two families can never be confused.
    pub alg: Algorithm,
    /// base64url of the 32-byte Ed25519 public key (JWK `x`); empty for RSA.
    pub x: String,
    /// base64url RSA modulus and exponent (JWK `n`, `e`); empty for Ed25519.
    pub n: String,
    /// See `n`.
    pub e: String,
    pub(crate) decoding: DecodingKey,
}

#[cfg_attr(not(feature = "aws-lc"), allow(dead_code))]
pub(crate) struct SigningKey {
    pub(crate) kid: String,
    pub(crate) alg: Algorithm,
    pub(crate) encoding: EncodingKey,
}

/// The smallest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;

/// The loaded key set. Private parts are dropped by [`KeySet::public_only`] in functions that
/// only verify.
pub struct KeySet {
    pub(crate) signing: Option<SigningKey>,
    public: Vec<PublicKey>,
    #[cfg(feature = "aws-lc")]
    refresh_key: Option<hmac::Key>,
}

fn invalid(reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        name: "JWT_KEYS",
        reason: reason.into(),
    }
}

fn b64(name: &str, value: &str) -> Result<Vec<u8>, ConfigError> {
    B64.decode(value.trim_end_matches('='))
        .map_err(|_| invalid(format!("{name} is not base64url")))
}

/// Picks jsonwebtoken's crypto backend for this process, once: aws-lc when the build has it (it
/// is linked for TLS anyway), RustCrypto otherwise. jsonwebtoken would pick by its own features,
/// but panics at the first token when a workspace-wide build turns on both.
pub(crate) fn install_crypto_provider() {
    #[cfg(feature = "aws-lc")]
    let provider = &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER;
    #[cfg(all(feature = "rust-crypto", not(feature = "aws-lc")))]
    let provider = &jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER;
    #[cfg(any(feature = "aws-lc", feature = "rust-crypto"))]
    // An error means a provider is installed already: this same one, by an earlier key set.
    let _ = provider.install_default();
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}
