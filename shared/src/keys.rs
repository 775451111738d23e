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

#[cfg(feature = "aws-lc")]
use aws_lc_rs::digest::{SHA256, digest};
#[cfg(feature = "aws-lc")]
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
#[cfg(feature = "aws-lc")]
use aws_lc_rs::{hkdf, hmac, rand};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use serde::{Deserialize, Serialize};

pub use crate::config::KeyAlg;
use crate::config::{ConfigError, Vars};

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

/// One key in JWK form: an Ed25519 key (`kty: OKP`, `crv`, `x`; it signs `EdDSA`) or an RSA key
/// of 2048 bits or more (`kty: RSA`, `n`, `e`; it signs `RS256`). `d`, only on a key that may
/// sign, is the private part: the Ed25519 seed, or for RSA the PKCS#1 `RSAPrivateKey` DER (not
/// JWK's private exponent), both base64url.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
    /// The Ed25519 key decompressed once, for a build with RustCrypto (`protected`, built alone):
    /// `jsonwebtoken`'s RustCrypto verifier decompresses it again at every check, a square root
    /// in the field and about a tenth of the check. `None` for RSA, and for an `x` that is not a
    /// point, which then takes `jsonwebtoken`'s path and is refused there as before.
    #[cfg(feature = "rust-crypto")]
    pub(crate) ed25519: Option<ed25519_dalek::VerifyingKey>,
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

/// Which parts of a key set to build.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    /// A full document; every part built.
    #[cfg_attr(not(feature = "aws-lc"), allow(dead_code))]
    All,
    /// A full document; only the public keys built.
    Public,
    /// A full document; the public keys and the refresh MAC key built, never the signing key
    /// (a function that checks refresh tokens but issues none: `logout`).
    #[cfg_attr(not(feature = "aws-lc"), allow(dead_code))]
    Refresh,
    /// A public-only document (`keygen public`): no private part anywhere, no refresh secret.
    PublicOnly,
}

/// Minimum bytes of the refresh MAC key and of a master secret.
const MIN_SECRET_BYTES: usize = 32;

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

impl KeySet {
    /// Parses a key-set document, or derives a key set from a non-JSON master secret.
    #[cfg(feature = "aws-lc")]
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        Self::parse_as(text, Part::All)
    }

    /// Like [`KeySet::parse`], without the signing key, for a function that checks refresh
    /// tokens and issues no token (`logout`): from a key-set document, its public keys (the
    /// document is validated as [`KeySet::parse`] does) and the refresh MAC key; from a master
    /// secret, the refresh MAC key alone, without expanding the signing seed. It holds no
    /// signing key, and its cold start derives and checks no Ed25519 key pair.
    #[cfg(feature = "aws-lc")]
    pub fn parse_for_refresh(text: &str) -> Result<Self, ConfigError> {
        Self::parse_as(text, Part::Refresh)
    }

    /// Like [`KeySet::parse`], keeping only the public keys: verify-only functions never build
    /// the signing key or the refresh key at all (the same result as `parse(..).public_only()`
    /// without the cold-start work).
    pub fn parse_public(text: &str) -> Result<Self, ConfigError> {
        Self::parse_as(text, Part::Public)
    }

    /// A public-only document (`keygen public`'s output): what verify-only functions read from
    /// `JWT_PUBLIC_KEYS`, so that they need no access to the private secret. A document that
    /// holds any private part (a `d`, a refresh secret) is refused: it does not belong there.
    pub fn parse_public_document(text: &str) -> Result<Self, ConfigError> {
        if !text.trim().starts_with('{') {
            return Err(invalid(
                "JWT_PUBLIC_KEYS must be a key-set document (keygen public)",
            ));
        }
        Self::parse_as(text, Part::PublicOnly)
    }

    fn parse_as(text: &str, part: Part) -> Result<Self, ConfigError> {
        let text = text.trim();
        if text.starts_with('{') {
            // serde's own message can quote the offending value ("invalid type: string
            // \"...\""), which here may be key material: say only where and what kind.
            let doc: KeySetDocument = serde_json::from_str(text).map_err(|e| {
                let kind = match e.classify() {
                    serde_json::error::Category::Syntax => "not valid JSON",
                    serde_json::error::Category::Eof => "cut short",
                    serde_json::error::Category::Data | serde_json::error::Category::Io => {
                        "not of the key-set shape"
                    }
                };
                invalid(format!(
                    "not a key set: {kind} at line {} column {}",
                    e.line(),
                    e.column()
                ))
            })?;
            if part == Part::PublicOnly
                && (doc.keys.iter().any(|k| k.d.is_some()) || !doc.refresh_secret.is_empty())
            {
                return Err(invalid(
                    "a public-only document holds private parts: give keygen public's output",
                ));
            }
            Self::from_document(&doc, part, None)
        } else {
            Self::derive(text.as_bytes(), part)
        }
    }

    /// `derived_pkcs8`: the signing key's PKCS#8 document, when the caller has just derived the
    /// pair from its seed (a master secret), so `d` and `x` match by construction and are not
    /// derived and compared a second time.
    fn from_document(
        doc: &KeySetDocument,
        part: Part,
        derived_pkcs8: Option<&[u8]>,
    ) -> Result<Self, ConfigError> {
        // A key set is for checking tokens, which needs a crypto backend: without one,
        // jsonwebtoken would panic at the first token, so such a build stops at start instead.
        if cfg!(not(any(feature = "aws-lc", feature = "rust-crypto"))) {
            return Err(invalid(
                "this build has no crypto backend: it needs the shared crate's rust-crypto or \
                 aws-lc feature",
            ));
        }
        let mut public = Vec::new();
        let mut signing = None;
        let mut names_signing_key = false;
        for key in &doc.keys {
            if key.kid.is_empty() || public.iter().any(|p: &PublicKey| p.kid == key.kid) {
                return Err(invalid(format!(
                    "key id {:?} is empty or repeated",
                    key.kid
                )));
            }
            let is_signing = key.kid == doc.signing_kid;
            let private = match (is_signing, key.d.as_deref()) {
                (true, None) if part != Part::PublicOnly => {
                    return Err(invalid("the signing key has no private part (d)"));
                }
                (true, Some(d)) if part == Part::All => Some(b64("d", d)?),
                _ => None,
            };
            names_signing_key |= is_signing;
            let (verifier, signer) = match (key.kty.as_str(), key.crv.as_str()) {
                ("OKP", "Ed25519") => ed25519_key(key, private.as_deref(), derived_pkcs8)?,
                ("RSA", _) => rsa_key(key, private.as_deref())?,
                _ => {
                    return Err(invalid(format!(
                        "key {} is neither an Ed25519 OKP key nor an RSA key",
                        key.kid
                    )));
                }
            };
            signing = signing.or(signer);
            public.push(verifier);
        }
        if !names_signing_key {
            return Err(invalid(format!(
                "signing_kid {:?} names no key",
                doc.signing_kid
            )));
        }
        let refresh = if part == Part::PublicOnly {
            Vec::new()
        } else {
            let refresh = b64("refresh_secret", &doc.refresh_secret)?;
            if refresh.len() < MIN_SECRET_BYTES {
                return Err(invalid("refresh_secret must be at least 32 bytes"));
            }
            refresh
        };
        #[cfg(feature = "aws-lc")]
        let refresh_key = matches!(part, Part::All | Part::Refresh)
            .then(|| hmac::Key::new(hmac::HMAC_SHA256, &refresh));
        #[cfg(not(feature = "aws-lc"))]
        let _ = refresh;
        install_crypto_provider();
        Ok(Self {
            signing,
            public,
            #[cfg(feature = "aws-lc")]
            refresh_key,
        })
    }

    #[cfg(not(feature = "aws-lc"))]
    fn derive(_master: &[u8], _part: Part) -> Result<Self, ConfigError> {
        Err(invalid(
            "this function reads only key-set documents (JWT_PUBLIC_KEYS): a master secret \
             needs a build with the aws-lc feature",
        ))
    }

    #[cfg(feature = "aws-lc")]
    fn derive(master: &[u8], part: Part) -> Result<Self, ConfigError> {
        if master.len() < MIN_SECRET_BYTES {
            return Err(invalid("a master secret must be at least 32 bytes"));
        }
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"auth-api key set v1").extract(master);
        let expand = |info: &[u8]| -> Result<[u8; 32], ConfigError> {
            let mut out = [0u8; 32];
            prk.expand(&[info], hkdf::HKDF_SHA256)
                .and_then(|okm| okm.fill(&mut out))
                .map_err(|_| invalid("key derivation failed"))?;
            Ok(out)
        };
        let refresh = expand(b"refresh token mac")?;
        if part == Part::Refresh {
            // The MAC key alone: the signing seed is never expanded, and no key pair derived.
            install_crypto_provider();
            return Ok(Self {
                signing: None,
                public: Vec::new(),
                refresh_key: Some(hmac::Key::new(hmac::HMAC_SHA256, &refresh)),
            });
        }
        let seed = expand(b"ed25519 signing seed")?;
        let pair = Ed25519KeyPair::from_seed_unchecked(&seed)
            .map_err(|_| invalid("derived seed rejected"))?;
        let x = pair.public_key().as_ref().to_vec();
        // Only a signing function builds the signing key from it.
        let pkcs8 = match part {
            Part::All => Some(
                pair.to_pkcs8()
                    .map_err(|_| invalid("derived key: cannot encode"))?,
            ),
            _ => None,
        };
        let kid = format!(
            "derived-{}",
            &B64.encode(digest(&SHA256, &x).as_ref())[..12]
        );
        let doc = KeySetDocument {
            signing_kid: kid.clone(),
            refresh_secret: B64.encode(refresh),
            keys: vec![KeyDocument {
                kid,
                kty: "OKP".into(),
                crv: "Ed25519".into(),
                x: B64.encode(&x),
                n: String::new(),
                e: String::new(),
                d: Some(B64.encode(seed)),
            }],
        };
        Self::from_document(&doc, part, pkcs8.as_ref().map(AsRef::as_ref))
    }

    /// Drops the signing key and the refresh key: what verify-only functions keep.
    pub fn public_only(self) -> Self {
        Self {
            signing: None,
            #[cfg(feature = "aws-lc")]
            refresh_key: None,
            public: self.public,
        }
    }

    /// This set as a public-only document (`keygen public`, what `JWT_PUBLIC_KEYS` takes): every
    /// public key, the signing key's id, no private part and no refresh secret. It works for a
    /// set derived from a master secret too (the stack-generated secret), whose document has
    /// never existed.
    pub fn public_document(&self) -> KeySetDocument {
        let keys = self
            .public
            .iter()
            .map(|k| {
                let (kty, crv) = match k.alg {
                    Algorithm::EdDSA => ("OKP", "Ed25519"),
                    _ => ("RSA", ""),
                };
                KeyDocument {
                    kid: k.kid.clone(),
                    kty: kty.to_owned(),
                    crv: crv.to_owned(),
                    x: k.x.clone(),
                    n: k.n.clone(),
                    e: k.e.clone(),
                    d: None,
                }
            })
            .collect();
        KeySetDocument {
            signing_kid: self.signing_kid().unwrap_or_default().to_owned(),
            refresh_secret: String::new(),
            keys,
        }
    }

    /// The public keys, signing key included, in document order.
    pub fn public_keys(&self) -> &[PublicKey] {
        &self.public
    }

    /// The key `kid` verifies with, and the one algorithm it verifies.
    pub(crate) fn verifier(&self, kid: &str) -> Option<&PublicKey> {
        self.public.iter().find(|k| k.kid == kid)
    }

    /// The algorithm the signing key signs with, if this set kept it.
    pub fn signing_alg(&self) -> Option<Algorithm> {
        self.signing.as_ref().map(|s| s.alg)
    }

    /// Refuses to start a signing function whose key set signs another algorithm than
    /// `JWT_ALG` says.
    pub fn require_signing_alg(&self, alg: KeyAlg) -> Result<(), ConfigError> {
        match self.signing_alg() {
            Some(a) if a == alg.algorithm() => Ok(()),
            other => Err(ConfigError::Invalid {
                name: "JWT_ALG",
                reason: format!("JWT_ALG is {alg:?} but the key set's signing key signs {other:?}"),
            }),
        }
    }

    /// The refresh-token MAC key, if this set kept it.
    #[cfg(feature = "aws-lc")]
    pub fn refresh_key(&self) -> Option<&hmac::Key> {
        self.refresh_key.as_ref()
    }

    /// The id of the signing key, if this set kept it.
    pub fn signing_kid(&self) -> Option<&str> {
        self.signing.as_ref().map(|s| s.kid.as_str())
    }
}

/// An Ed25519 key's verifier and, given its seed, its signer.
fn ed25519_key(
    key: &KeyDocument,
    seed: Option<&[u8]>,
    #[cfg_attr(not(feature = "aws-lc"), allow(unused_variables))] derived_pkcs8: Option<&[u8]>,
) -> Result<(PublicKey, Option<SigningKey>), ConfigError> {
    let kid = &key.kid;
    let x = b64("x", &key.x)?;
    if x.len() != 32 {
        return Err(invalid(format!("key {kid} has a malformed public key")));
    }
    let signer = match seed {
        None => None,
        #[cfg(not(feature = "aws-lc"))]
        Some(_) => return Err(no_signing()),
        #[cfg(feature = "aws-lc")]
        Some(seed) => {
            let checked;
            let pkcs8 = match derived_pkcs8 {
                // Just derived from its seed (a master secret): `x` is its public half by
                // construction.
                Some(pkcs8) => pkcs8,
                None => {
                    // Checks that `x` really is the public half of `d`.
                    let pair =
                        Ed25519KeyPair::from_seed_and_public_key(seed, &x).map_err(|_| {
                            invalid(format!("key {kid}: d and x do not form a key pair"))
                        })?;
                    checked = pair
                        .to_pkcs8()
                        .map_err(|_| invalid(format!("key {kid}: cannot encode")))?;
                    checked.as_ref()
                }
            };
            Some(SigningKey {
                kid: kid.clone(),
                alg: Algorithm::EdDSA,
                encoding: EncodingKey::from_ed_der(pkcs8),
            })
        }
    };
    let verifier = PublicKey {
        kid: kid.clone(),
        alg: Algorithm::EdDSA,
        x: B64.encode(&x),
        n: String::new(),
        e: String::new(),
        decoding: DecodingKey::from_ed_der(&x),
        #[cfg(feature = "rust-crypto")]
        ed25519: <[u8; 32]>::try_from(x.as_slice())
            .ok()
            .and_then(|x| ed25519_dalek::VerifyingKey::from_bytes(&x).ok()),
    };
    Ok((verifier, signer))
}

/// An RSA key's verifier (2048 bits or more) and, given its PKCS#1 private key, its signer.
fn rsa_key(
    key: &KeyDocument,
    private: Option<&[u8]>,
) -> Result<(PublicKey, Option<SigningKey>), ConfigError> {
    let kid = &key.kid;
    let (n, e) = (b64("n", &key.n)?, b64("e", &key.e)?);
    let n = strip_leading_zeros(&n);
    if n.len() * 8 < MIN_RSA_BITS || e.is_empty() {
        return Err(invalid(format!(
            "key {kid}: an RSA modulus of at least {MIN_RSA_BITS} bits is required"
        )));
    }
    let signer = match private {
        None => None,
        #[cfg(not(feature = "aws-lc"))]
        Some(_) => return Err(no_signing()),
        #[cfg(feature = "aws-lc")]
        Some(der) => {
            let pair = aws_lc_rs::rsa::KeyPair::from_der(der)
                .map_err(|_| invalid(format!("key {kid}: d is not a PKCS#1 RSA private key")))?;
            let public = pair.public_key();
            if public.modulus().big_endian_without_leading_zero() != n
                || public.exponent().big_endian_without_leading_zero() != strip_leading_zeros(&e)
            {
                return Err(invalid(format!(
                    "key {kid}: d and n, e do not form a key pair"
                )));
            }
            Some(SigningKey {
                kid: kid.clone(),
                alg: Algorithm::RS256,
                encoding: EncodingKey::from_rsa_der(der),
            })
        }
    };
    let verifier = PublicKey {
        kid: kid.clone(),
        alg: Algorithm::RS256,
        x: String::new(),
        n: B64.encode(n),
        e: B64.encode(strip_leading_zeros(&e)),
        decoding: DecodingKey::from_rsa_raw_components(n, &e),
        #[cfg(feature = "rust-crypto")]
        ed25519: None,
    };
    Ok((verifier, signer))
}

/// Signing in a build without aws-lc (unreachable: such a build never asks for the private
/// parts).
#[cfg(not(feature = "aws-lc"))]
fn no_signing() -> ConfigError {
    invalid("signing keys need a build with the aws-lc feature")
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

#[cfg(feature = "aws-lc")]
/// A new key of `alg` (with its private part) under `kid`.
pub fn generate_key_with(kid: &str, alg: KeyAlg) -> Result<KeyDocument, ConfigError> {
    match alg {
        KeyAlg::EdDsa => generate_key(kid),
        KeyAlg::Rs256 => {
            use aws_lc_rs::encoding::AsDer;
            use aws_lc_rs::signature::KeyPair as _;
            let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                .map_err(|_| invalid("RSA key generation failed"))?;
            let pkcs8 = pair
                .as_der()
                .map_err(|_| invalid("RSA key encoding failed"))?;
            // jsonwebtoken's RSA signer takes the PKCS#1 key inside the PKCS#8 wrapper.
            let info = pkcs8::PrivateKeyInfo::try_from(pkcs8.as_ref())
                .map_err(|_| invalid("RSA key encoding failed"))?;
            let public = pair.public_key();
            Ok(KeyDocument {
                kid: kid.to_owned(),
                kty: "RSA".into(),
                crv: String::new(),
                x: String::new(),
                n: B64.encode(public.modulus().big_endian_without_leading_zero()),
                e: B64.encode(public.exponent().big_endian_without_leading_zero()),
                d: Some(B64.encode(info.private_key)),
            })
        }
    }
}

#[cfg(feature = "aws-lc")]
/// A new Ed25519 key (with its private part) under `kid`.
pub fn generate_key(kid: &str) -> Result<KeyDocument, ConfigError> {
    let mut seed = [0u8; 32];
    rand::fill(&mut seed).map_err(|_| invalid("no randomness"))?;
    let pair =
        Ed25519KeyPair::from_seed_unchecked(&seed).map_err(|_| invalid("key generation failed"))?;
    Ok(KeyDocument {
        kid: kid.to_owned(),
        kty: "OKP".into(),
        crv: "Ed25519".into(),
        x: B64.encode(pair.public_key().as_ref()),
        n: String::new(),
        e: String::new(),
        d: Some(B64.encode(seed)),
    })
}

#[cfg(feature = "aws-lc")]
/// A fresh key set with one Ed25519 signing key `kid` and a random refresh secret.
pub fn generate_document(kid: &str) -> Result<KeySetDocument, ConfigError> {
    generate_document_with(kid, KeyAlg::EdDsa)
}

#[cfg(feature = "aws-lc")]
/// A fresh key set with one signing key of `alg` under `kid` and a random refresh secret.
pub fn generate_document_with(kid: &str, alg: KeyAlg) -> Result<KeySetDocument, ConfigError> {
    let mut refresh = [0u8; 32];
    rand::fill(&mut refresh).map_err(|_| invalid("no randomness"))?;
    Ok(KeySetDocument {
        signing_kid: kid.to_owned(),
        refresh_secret: B64.encode(refresh),
        keys: vec![generate_key_with(kid, alg)?],
    })
}

#[cfg(feature = "aws-lc")]
/// Rotation, step 1 of 2: adds a new key `new_kid` (with its private part) that verifies but
/// does not sign yet, so every verifier and JWKS cache can learn it before any token uses it.
pub fn stage_key(doc: &KeySetDocument, new_kid: &str) -> Result<KeySetDocument, ConfigError> {
    if doc.keys.iter().any(|k| k.kid == new_kid) {
        return Err(invalid(format!("key id {new_kid} is already in the set")));
    }
    // The new key is of the signing key's family, so a rotation keeps the algorithm.
    let alg = match doc.keys.iter().find(|k| k.kid == doc.signing_kid) {
        Some(k) if k.kty == "RSA" => KeyAlg::Rs256,
        _ => KeyAlg::EdDsa,
    };
    let mut next = doc.clone();
    next.keys.insert(0, generate_key_with(new_kid, alg)?);
    Ok(next)
}

/// Rotation, step 2 of 2: makes the staged key `kid` the signing key; every other key keeps
/// verifying but loses its private part.
pub fn promote_key(doc: &KeySetDocument, kid: &str) -> Result<KeySetDocument, ConfigError> {
    let key = doc
        .keys
        .iter()
        .find(|k| k.kid == kid)
        .ok_or_else(|| invalid(format!("no key {kid} in the set")))?;
    if key.d.is_none() {
        return Err(invalid(format!(
            "key {kid} has no private part and cannot sign"
        )));
    }
    let mut next = doc.clone();
    next.signing_kid = kid.to_owned();
    for k in next.keys.iter_mut().filter(|k| k.kid != kid) {
        k.d = None;
    }
    Ok(next)
}

#[cfg(feature = "aws-lc")]
/// Both rotation steps at once: adds a new signing key `new_kid` and keeps every old key for verification
/// only (their private parts are removed). The refresh secret is kept, so sessions survive.
pub fn rotate_document(doc: &KeySetDocument, new_kid: &str) -> Result<KeySetDocument, ConfigError> {
    promote_key(&stage_key(doc, new_kid)?, new_kid)
}

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
        return read_secret(&arn).await;
    }
    Err(ConfigError::Missing(
        "JWT_KEYS_SECRET_ARN (or JWT_KEYS_FILE / JWT_KEYS)",
    ))
}

#[cfg(feature = "secrets")]
async fn read_secret(arn: &str) -> Result<String, ConfigError> {
    // The same configuration as the DynamoDB client: Amazon Trust Services roots, explicit
    // retries and timeouts.
    let client = aws_sdk_secretsmanager::Client::new(&crate::aws::sdk_config()?);
    let output = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| ConfigError::Invalid {
            name: "JWT_KEYS_SECRET_ARN",
            reason: format!(
                "cannot read the secret: {}",
                aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
            ),
        })?;
    output.secret_string.ok_or(ConfigError::Invalid {
        name: "JWT_KEYS_SECRET_ARN",
        reason: "the secret has no SecretString".into(),
    })
}

#[cfg(not(feature = "secrets"))]
async fn read_secret(_arn: &str) -> Result<String, ConfigError> {
    Err(ConfigError::Invalid {
        name: "JWT_KEYS_SECRET_ARN",
        reason: "this function was built without the `secrets` feature".into(),
    })
}

#[cfg(all(test, feature = "aws-lc"))]
mod tests {
    use super::*;

    #[test]
    fn the_public_document_of_a_master_secret_is_a_valid_public_only_set() {
        let master = "a generated master secret of more than thirty-two bytes";
        let full = KeySet::parse(master).unwrap();
        let doc = full.public_document();
        let text = serde_json::to_string(&doc).unwrap();
        assert!(
            !text.contains("\"d\"") && doc.refresh_secret.is_empty(),
            "{text}"
        );
        let public = KeySet::parse_public_document(&text).unwrap();
        let kids = |set: &KeySet| -> Vec<(String, String)> {
            set.public_keys()
                .iter()
                .map(|k| (k.kid.clone(), k.x.clone()))
                .collect()
        };
        assert_eq!(kids(&public), kids(&full));
        assert!(public.signing_kid().is_none(), "it signs nothing");
        assert!(
            KeySet::parse(&text).is_err(),
            "a signing function refuses it"
        );
    }

    #[test]
    fn the_public_document_of_an_rsa_set_keeps_its_modulus() {
        let doc = generate_document_with("r1", KeyAlg::Rs256).unwrap();
        let full = KeySet::parse(&serde_json::to_string(&doc).unwrap()).unwrap();
        let public = full.public_document();
        assert_eq!(public.keys[0].kty, "RSA");
        assert_eq!(public.keys[0].n, doc.keys[0].n);
        assert!(public.keys[0].d.is_none());
        KeySet::parse_public_document(&serde_json::to_string(&public).unwrap()).unwrap();
    }

    #[test]
    fn generated_document_round_trips() {
        let doc = generate_document("k1").unwrap();
        let set = KeySet::parse(&serde_json::to_string(&doc).unwrap()).unwrap();
        assert_eq!(set.signing_kid(), Some("k1"));
        assert_eq!(set.public_keys().len(), 1);
        assert!(set.refresh_key().is_some());
    }

    #[test]
    fn rotation_keeps_old_keys_verify_only() {
        let old = generate_document("old").unwrap();
        let new = rotate_document(&old, "new").unwrap();
        assert_eq!(new.signing_kid, "new");
        assert!(
            new.keys
                .iter()
                .find(|k| k.kid == "old")
                .unwrap()
                .d
                .is_none()
        );
        let set = KeySet::parse(&serde_json::to_string(&new).unwrap()).unwrap();
        assert_eq!(set.public_keys().len(), 2);
        assert_eq!(new.refresh_secret, old.refresh_secret);
    }

    #[test]
    fn staged_keys_verify_before_they_sign() {
        let old = generate_document("old").unwrap();
        let staged = stage_key(&old, "new").unwrap();
        let set = KeySet::parse(&serde_json::to_string(&staged).unwrap()).unwrap();
        assert_eq!(
            set.signing_kid(),
            Some("old"),
            "staging does not switch signing"
        );
        assert_eq!(set.public_keys().len(), 2);
        assert!(stage_key(&staged, "new").is_err(), "kid already present");

        let promoted = promote_key(&staged, "new").unwrap();
        let set = KeySet::parse(&serde_json::to_string(&promoted).unwrap()).unwrap();
        assert_eq!(set.signing_kid(), Some("new"));
        assert!(
            promoted
                .keys
                .iter()
                .find(|k| k.kid == "old")
                .unwrap()
                .d
                .is_none()
        );
        assert!(
            promote_key(&promoted, "old").is_err(),
            "a key without d cannot sign"
        );
    }

    #[test]
    fn master_secret_derives_a_stable_key_set() {
        let a = KeySet::parse("a-master-secret-of-more-than-32-bytes-xyz").unwrap();
        let b = KeySet::parse("a-master-secret-of-more-than-32-bytes-xyz").unwrap();
        assert_eq!(a.signing_kid(), b.signing_kid());
        assert_eq!(a.public_keys()[0].x, b.public_keys()[0].x);
        let c = KeySet::parse("another-master-secret-of-32-bytes-or-more").unwrap();
        assert_ne!(a.public_keys()[0].x, c.public_keys()[0].x);
    }

    #[test]
    fn broken_documents_are_refused() {
        let good = generate_document("k1").unwrap();
        let other = generate_key("k2").unwrap();
        let mut mismatched = good.clone();
        mismatched.keys[0].x = other.x.clone();
        let mut no_private = good.clone();
        no_private.keys[0].d = None;
        let mut wrong_kid = good.clone();
        wrong_kid.signing_kid = "nope".into();
        let mut short_refresh = good.clone();
        short_refresh.refresh_secret = B64.encode([0u8; 8]);
        let mut duplicate = good.clone();
        duplicate.keys.push(duplicate.keys[0].clone());
        let mut wrong_curve = good.clone();
        wrong_curve.keys[0].crv = "P-256".into();
        let reason = |text: &str| match KeySet::parse(text) {
            Err(ConfigError::Invalid { reason, .. }) => reason,
            Err(other) => panic!("{other}"),
            Ok(_) => "accepted".into(),
        };
        let json = |doc: &KeySetDocument| serde_json::to_string(doc).unwrap();
        for (text, case, why) in [
            (
                json(&mismatched),
                "x not matching d",
                "do not form a key pair",
            ),
            (
                json(&no_private),
                "signing key without d",
                "has no private part",
            ),
            (json(&wrong_kid), "signing kid missing", "names no key"),
            (
                json(&short_refresh),
                "short refresh secret",
                "at least 32 bytes",
            ),
            (json(&duplicate), "duplicate kid", "empty or repeated"),
            (
                json(&wrong_curve),
                "not Ed25519",
                "neither an Ed25519 OKP key nor an RSA key",
            ),
            ("short".into(), "short master secret", "at least 32 bytes"),
            ("{not json".into(), "bad json", "not a key set"),
        ] {
            let got = reason(&text);
            assert!(got.contains(why), "{case}: {got}");
        }
    }

    #[test]
    fn a_public_only_document_verifies_and_one_with_private_parts_is_refused_as_public() {
        for alg in [KeyAlg::EdDsa, KeyAlg::Rs256] {
            let doc = generate_document_with("k1", alg).unwrap();
            let mut public = doc.clone();
            public.keys.iter_mut().for_each(|k| k.d = None);
            public.refresh_secret = String::new();
            let text = serde_json::to_string(&public).unwrap();

            let set = KeySet::parse_public_document(&text).unwrap();
            assert_eq!(set.public_keys().len(), 1);
            assert!(set.signing_alg().is_none() && set.refresh_key().is_none());
            // A signing function refuses it.
            assert!(KeySet::parse(&text).is_err(), "{alg:?}: parse");

            let full = serde_json::to_string(&doc).unwrap();
            assert!(
                KeySet::parse_public_document(&full).is_err(),
                "private parts"
            );
            let mut half = public.clone();
            half.refresh_secret = doc.refresh_secret.clone();
            let half = serde_json::to_string(&half).unwrap();
            assert!(
                KeySet::parse_public_document(&half).is_err(),
                "a refresh secret"
            );
        }
        assert!(KeySet::parse_public_document("a master secret of enough bytes here!").is_err());
    }

    #[tokio::test]
    async fn jwt_public_keys_wins_for_verifying_functions() {
        let doc = generate_document("k9").unwrap();
        let mut public = doc.clone();
        public.keys.iter_mut().for_each(|k| k.d = None);
        public.refresh_secret = String::new();
        let vars = Vars::from_pairs([
            ("JWT_PUBLIC_KEYS", serde_json::to_string(&public).unwrap()),
            (
                "JWT_KEYS_SECRET_ARN",
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:never-read".to_owned(),
            ),
        ]);
        let set = load_public(&vars).await.unwrap();
        assert_eq!(
            set.public_keys()[0].kid,
            "k9",
            "read without touching the secret"
        );
    }

    #[test]
    fn a_malformed_document_never_echoes_its_content() {
        let secret = "SeCrEt-d-value-0123456789abcdefghijklmnopqrstuvwxyz";
        for text in [
            format!(r#"{{"keys": "{secret}"}}"#),
            format!(r#"{{"keys": [{{"kid": 1, "d": "{secret}"}}]}}"#),
            format!(r#"{{"signing_kid": {{"x": "{secret}"}}, "keys": []}}"#),
            format!(r#"{{"keys": [], "refresh_secret": "{secret}"#),
            format!(r#"{{"keys": [], "refresh_secret": {secret}}}"#),
        ] {
            let message = match KeySet::parse(&text) {
                Err(e) => e.to_string(),
                Ok(_) => panic!("{text} parsed"),
            };
            assert!(!message.contains("SeCrEt"), "{message}");
            assert!(message.contains("not a key set"), "{message}");
        }
    }

    #[test]
    fn parse_for_refresh_builds_the_refresh_key_but_no_signing_key() {
        let doc = generate_document("k").unwrap();
        let text = serde_json::to_string(&doc).unwrap();
        let set = KeySet::parse_for_refresh(&text).unwrap();
        assert!(set.signing_kid().is_none(), "it signs nothing");
        let full = KeySet::parse(&text).unwrap();
        // The same MAC key as the signing functions': a tag made with one checks with the other.
        let tag = hmac::sign(full.refresh_key().unwrap(), b"sid");
        assert!(hmac::verify(set.refresh_key().unwrap(), b"sid", tag.as_ref()).is_ok());
        assert_eq!(set.public_keys()[0].x, doc.keys[0].x);
        // Still a whole document: one without a refresh secret or signing key is refused.
        let mut broken = doc.clone();
        broken.refresh_secret = String::new();
        assert!(KeySet::parse_for_refresh(&serde_json::to_string(&broken).unwrap()).is_err());
        let mut broken = doc;
        broken.keys[0].d = None;
        assert!(KeySet::parse_for_refresh(&serde_json::to_string(&broken).unwrap()).is_err());
        // From a master secret: the MAC key the signing functions derive, and nothing else.
        let master = "a-master-secret-of-more-than-32-bytes-xyz";
        let (set, full) = (
            KeySet::parse_for_refresh(master).unwrap(),
            KeySet::parse(master).unwrap(),
        );
        assert!(set.signing_kid().is_none());
        assert!(set.public_keys().is_empty());
        let tag = hmac::sign(full.refresh_key().unwrap(), b"sid");
        assert!(hmac::verify(set.refresh_key().unwrap(), b"sid", tag.as_ref()).is_ok());
        assert!(KeySet::parse_for_refresh("too short").is_err());
    }

    #[test]
    fn parse_public_builds_no_private_parts_but_validates_the_same() {
        let doc = generate_document("k").unwrap();
        let text = serde_json::to_string(&doc).unwrap();
        let set = KeySet::parse_public(&text).unwrap();
        assert!(set.signing_kid().is_none());
        assert!(set.refresh_key().is_none());
        assert_eq!(set.public_keys()[0].x, doc.keys[0].x);
        let mut broken = doc.clone();
        broken.signing_kid = "nope".into();
        assert!(KeySet::parse_public(&serde_json::to_string(&broken).unwrap()).is_err());
        let derived = KeySet::parse_public("a-master-secret-of-more-than-32-bytes-xyz").unwrap();
        let full = KeySet::parse("a-master-secret-of-more-than-32-bytes-xyz").unwrap();
        assert_eq!(derived.public_keys()[0].x, full.public_keys()[0].x);
    }

    #[test]
    fn public_only_drops_private_parts() {
        let set = KeySet::parse(&serde_json::to_string(&generate_document("k").unwrap()).unwrap())
            .unwrap()
            .public_only();
        assert!(set.signing_kid().is_none());
        assert!(set.refresh_key().is_none());
        assert_eq!(set.public_keys().len(), 1);
    }
}

#[cfg(all(test, feature = "aws-lc"))]
mod rsa_tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn reason(doc: &KeySetDocument) -> String {
        match KeySet::parse(&serde_json::to_string(doc).unwrap()) {
            Err(ConfigError::Invalid { reason, .. }) => reason,
            Err(other) => panic!("{other}"),
            Ok(_) => "accepted".into(),
        }
    }

    #[test]
    fn rsa_documents_parse_and_broken_ones_say_why() {
        let good = generate_document_with("r1", KeyAlg::Rs256).unwrap();
        let set = KeySet::parse(&serde_json::to_string(&good).unwrap()).unwrap();
        assert_eq!(set.signing_alg(), Some(Algorithm::RS256));
        assert_eq!(set.public_keys()[0].alg, Algorithm::RS256);
        assert_eq!(
            B64.decode(&set.public_keys()[0].n).unwrap().len(),
            256,
            "2048 bits"
        );

        let other = generate_key_with("r2", KeyAlg::Rs256).unwrap();
        let mut mismatched = good.clone();
        mismatched.keys[0].n = other.n.clone();
        assert!(reason(&mismatched).contains("do not form a key pair"));
        let mut short = good.clone();
        short.keys[0].n = B64.encode([0xffu8; 128]);
        short.keys[0].d = None;
        short.signing_kid = "none".into();
        assert!(reason(&short).contains("at least 2048 bits"));
        let mut bad_private = good.clone();
        bad_private.keys[0].d = Some(B64.encode(b"not a key"));
        assert!(reason(&bad_private).contains("not a PKCS#1"));
    }

    #[test]
    fn public_only_rsa_sets_build_no_signer_and_rotation_keeps_the_family() {
        let doc = generate_document_with("r1", KeyAlg::Rs256).unwrap();
        let public = KeySet::parse_public(&serde_json::to_string(&doc).unwrap()).unwrap();
        assert!(public.signing_alg().is_none() && public.refresh_key().is_none());
        let rotated = rotate_document(&doc, "r2").unwrap();
        let signing = rotated.keys.iter().find(|k| k.kid == "r2").unwrap();
        assert_eq!(signing.kty, "RSA");
        assert!(
            rotated
                .keys
                .iter()
                .find(|k| k.kid == "r1")
                .unwrap()
                .d
                .is_none()
        );
        assert!(KeySet::parse(&serde_json::to_string(&rotated).unwrap()).is_ok());
    }
}

/// `protected` and `jwks`, built alone, check tokens through RustCrypto while every signer signs
/// through aws-lc: the keys as this module builds them must mean the same to both backends.
#[cfg(all(test, feature = "aws-lc", feature = "rust-crypto"))]
mod backend_tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use jsonwebtoken::crypto::{aws_lc, rust_crypto};

    /// A JWS signed by the set's signing key through aws-lc: its signing input and signature.
    fn signed(set: &KeySet, alg: Algorithm) -> (Vec<u8>, Vec<u8>) {
        let signing = set.signing.as_ref().unwrap();
        let message = b"eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0".to_vec();
        let signer = (aws_lc::DEFAULT_PROVIDER.signer_factory)(&alg, &signing.encoding).unwrap();
        let signature = signature::Signer::try_sign(&*signer, &message).unwrap();
        (message, signature)
    }

    fn rust_crypto_accepts(set: &KeySet, alg: Algorithm, message: &[u8], sig: &[u8]) -> bool {
        let key = &set.public_keys()[0].decoding;
        let verifier = (rust_crypto::DEFAULT_PROVIDER.verifier_factory)(&alg, key).unwrap();
        signature::Verifier::verify(&*verifier, message, &sig.to_vec()).is_ok()
    }

    #[test]
    fn rust_crypto_verifies_what_aws_lc_signs_and_nothing_else() {
        for (alg, key_alg) in [
            (Algorithm::EdDSA, KeyAlg::EdDsa),
            (Algorithm::RS256, KeyAlg::Rs256),
        ] {
            let doc = generate_document_with("k", key_alg).unwrap();
            let set = KeySet::parse(&serde_json::to_string(&doc).unwrap()).unwrap();
            let (message, sig) = signed(&set, alg);
            assert!(rust_crypto_accepts(&set, alg, &message, &sig), "{alg:?}");

            let mut tampered = message.clone();
            *tampered.last_mut().unwrap() ^= 1;
            assert!(!rust_crypto_accepts(&set, alg, &tampered, &sig), "{alg:?}");
            let mut forged = sig.clone();
            forged[0] ^= 1;
            assert!(
                !rust_crypto_accepts(&set, alg, &message, &forged),
                "{alg:?}"
            );
            // Another key of the same family does not verify it.
            let other = generate_document_with("k", key_alg).unwrap();
            let other = KeySet::parse(&serde_json::to_string(&other).unwrap()).unwrap();
            assert!(!rust_crypto_accepts(&other, alg, &message, &sig), "{alg:?}");
        }
    }
}
