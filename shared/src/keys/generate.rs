//! New keys and key sets (`keygen`), and rotation with an overlap.

#[cfg(feature = "aws-lc")]
use aws_lc_rs::rand;
#[cfg(feature = "aws-lc")]
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
#[cfg(feature = "aws-lc")]
use base64::Engine;
#[cfg(feature = "aws-lc")]
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

#[cfg(feature = "aws-lc")]
use super::{KeyAlg, KeyDocument};
use super::{KeySetDocument, invalid};
use crate::config::ConfigError;

#[cfg(feature = "aws-lc")]
/// A new key of `alg` (with its private part) under `kid`.
pub fn generate_key_with(kid: &str, alg: KeyAlg) -> Result<KeyDocument, ConfigError> {
    match alg {
        KeyAlg::EdDsa => generate_key(kid),
        KeyAlg::Rs256 => {
            use aws_lc_rs::encoding::AsDer;
            let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                .map_err(|_| invalid("RSA key generation failed"))?;
            let pkcs8 = pair
                .as_der()
                .map_err(|_| invalid("RSA key encoding failed"))?;
            // The PKCS#1 key inside the PKCS#8 wrapper, written out as a standard private JWK.
            let info = pkcs8::PrivateKeyInfo::try_from(pkcs8.as_ref())
                .map_err(|_| invalid("RSA key encoding failed"))?;
            let key = pkcs1::RsaPrivateKey::try_from(info.private_key)
                .map_err(|_| invalid("RSA key encoding failed"))?;
            let b64 = |u: pkcs1::UintRef<'_>| B64.encode(u.as_bytes());
            Ok(KeyDocument {
                kid: kid.to_owned(),
                kty: "RSA".into(),
                n: b64(key.modulus),
                e: b64(key.public_exponent),
                d: Some(b64(key.private_exponent)),
                p: Some(b64(key.prime1)),
                q: Some(b64(key.prime2)),
                dp: Some(b64(key.exponent1)),
                dq: Some(b64(key.exponent2)),
                qi: Some(b64(key.coefficient)),
                ..KeyDocument::default()
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
        d: Some(B64.encode(seed)),
        ..KeyDocument::default()
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
        *k = k.without_private_parts();
    }
    Ok(next)
}

#[cfg(feature = "aws-lc")]
/// Both rotation steps at once: adds a new signing key `new_kid` and keeps every old key for verification
/// only (their private parts are removed). The refresh secret is kept, so sessions survive.
pub fn rotate_document(doc: &KeySetDocument, new_kid: &str) -> Result<KeySetDocument, ConfigError> {
    promote_key(&stage_key(doc, new_kid)?, new_kid)
}
