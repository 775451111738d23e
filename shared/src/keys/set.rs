//! Reading a key set: a document (full, for refresh checks, or public only) or a master
//! secret, into the keys a function keeps.

#[cfg(feature = "aws-lc")]
use aws_lc_rs::digest::{SHA256, digest};
#[cfg(feature = "aws-lc")]
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
#[cfg(feature = "aws-lc")]
use aws_lc_rs::{hkdf, hmac};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
#[cfg(feature = "aws-lc")]
use jsonwebtoken::EncodingKey;
use jsonwebtoken::{Algorithm, DecodingKey};

use super::{
    KeyAlg, KeyDocument, KeySet, KeySetDocument, MIN_RSA_BITS, PublicKey, SigningKey, b64,
    install_crypto_provider, invalid, strip_leading_zeros,
};
use crate::config::ConfigError;

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
                && (doc.keys.iter().any(KeyDocument::has_private_parts)
                    || !doc.refresh_secret.is_empty())
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
                // An RSA key's private part as PKCS#1 DER, from its JWK components (or the
                // older form's DER); an Ed25519 key's, its seed.
                (true, Some(_)) if part == Part::All && key.kty == "RSA" => {
                    key.rsa_private_der()?
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
                d: Some(B64.encode(seed)),
                ..KeyDocument::default()
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
                    ..KeyDocument::default()
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
    if bits(n) < MIN_RSA_BITS {
        return Err(invalid(format!(
            "key {kid}: an RSA modulus of at least {MIN_RSA_BITS} bits is required"
        )));
    }
    // A public exponent RSA can use: odd, at least 3, and at most 32 bits (65537 in practice;
    // e = 1 would make every signature its own message).
    let exponent = strip_leading_zeros(&e);
    let odd = exponent.last().is_some_and(|b| b & 1 == 1);
    if !odd || exponent.len() > 4 || exponent == [1] {
        return Err(invalid(format!(
            "key {kid}: the RSA exponent e must be odd, at least 3 and at most 32 bits"
        )));
    }
    let signer = match private {
        None => None,
        #[cfg(not(feature = "aws-lc"))]
        Some(_) => return Err(no_signing()),
        #[cfg(feature = "aws-lc")]
        Some(der) => {
            let pair = aws_lc_rs::rsa::KeyPair::from_der(der)
                .map_err(|_| invalid(format!("key {kid}: the RSA private key does not load")))?;
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
    };
    Ok((verifier, signer))
}

/// Signing in a build without aws-lc (unreachable: such a build never asks for the private
/// parts).
#[cfg(not(feature = "aws-lc"))]
fn no_signing() -> ConfigError {
    invalid("signing keys need a build with the aws-lc feature")
}

/// The length in bits of a big-endian number without leading zero bytes.
fn bits(n: &[u8]) -> usize {
    n.first()
        .map_or(0, |top| n.len() * 8 - top.leading_zeros() as usize)
}
