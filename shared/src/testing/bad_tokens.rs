//! The bad-token table (tests only): every known way of getting a forged, stale or foreign access
//! token accepted, each with the reason the verifier must give. The token module's unit tests,
//! `protected`'s handler and attack tests and the authorizer's tests all run this one table, so a
//! new attack added here is tried everywhere at once.
//!
//! It signs through jsonwebtoken alone, from the key documents' private parts, and its foreign key
//! is a fixed test-only one (`test-only-keys/`): no key is generated, so the table runs on either
//! crypto backend, in the verify-only functions' tests as they are deployed (RustCrypto) too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

use crate::keys::KeySetDocument;
use crate::token::{MAX_TOKEN_BYTES, Rejection};

/// One attack: a name, the bearer token, and the rejection it must meet.
#[derive(Debug, Clone)]
pub struct BadToken {
    pub case: &'static str,
    pub token: String,
    pub rejection: Rejection,
}

/// Valid access-token claims for `sub` at `now` with this issuer and audience.
pub fn claims(issuer: &str, audience: &str, sub: &str, now: u64) -> Value {
    json!({
        "sub": sub, "preferred_username": sub, "sid": "test-session",
        "scope": "profile", "roles": ["user"],
        "iat": now, "nbf": now, "exp": now + 900,
        "jti": "test-jti", "iss": issuer, "aud": audience
    })
}

/// A key set whose one key, under `kid`, is a fixed test-only Ed25519 key that no other test key
/// set holds: a forger's key.
pub fn stranger(kid: &str) -> KeySetDocument {
    let mut doc: KeySetDocument =
        serde_json::from_str(include_str!("test-only-keys/stranger.json")).unwrap();
    doc.signing_kid = kid.to_owned();
    doc.keys[0].kid = kid.to_owned();
    doc
}

/// Signs `claims` with the document's signing key (EdDSA for an Ed25519 key, RS256 for an RSA
/// key) with these `kid` and `typ` header values.
pub fn sign(doc: &KeySetDocument, claims: &Value, kid: Option<&str>, typ: Option<&str>) -> String {
    let mut header = Header::new(signing_key(doc).0);
    header.kid = kid.map(str::to_owned);
    header.typ = typ.map(str::to_owned);
    sign_with_header(doc, claims, header)
}

/// Signs `claims` with the document's signing key under this header.
pub fn sign_with_header(doc: &KeySetDocument, claims: &Value, header: Header) -> String {
    // A test that signs before it loads any key set would find no backend picked yet.
    crate::keys::install_crypto_provider();
    encode(&header, claims, &signing_key(doc).1).unwrap()
}

/// The PKCS#8 v1 encoding of an Ed25519 private key (RFC 8410 section 7) up to the 32-byte seed:
/// SEQUENCE, version 0, the Ed25519 algorithm id, the seed as an OCTET STRING in an OCTET STRING.
/// Both backends read it, so no backend is needed to build it.
const ED25519_PKCS8_V1_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// The algorithm and the jsonwebtoken key of the document's signing key, from its private part
/// (an Ed25519 seed, or an RSA key's components or PKCS#1 DER).
fn signing_key(doc: &KeySetDocument) -> (Algorithm, EncodingKey) {
    let key = doc.keys.iter().find(|k| k.kid == doc.signing_kid).unwrap();
    if key.kty == "RSA" {
        let der = key.rsa_private_der().unwrap().unwrap();
        return (Algorithm::RS256, EncodingKey::from_rsa_der(&der));
    }
    let private = B64.decode(key.d.as_ref().unwrap()).unwrap();
    assert_eq!(private.len(), 32, "an Ed25519 seed is 32 bytes");
    let pkcs8 = [&ED25519_PKCS8_V1_PREFIX[..], &private].concat();
    (Algorithm::EdDSA, EncodingKey::from_ed_der(&pkcs8))
}

fn part(v: &Value) -> String {
    B64.encode(serde_json::to_vec(v).unwrap())
}

/// Every attack on a verifier that trusts `doc` and expects `issuer` / `audience`, at `now`.
pub fn table(doc: &KeySetDocument, issuer: &str, audience: &str, now: u64) -> Vec<BadToken> {
    use Rejection::*;
    let kid = doc.signing_kid.as_str();
    let good_claims = claims(issuer, audience, "alice", now);
    let good = sign(doc, &good_claims, Some(kid), Some("at+jwt"));
    let parts: Vec<&str> = good.split('.').collect();
    let (header, payload, signature) = (parts[0], parts[1], parts[2]);
    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = good_claims.clone();
        f(&mut c);
        sign(doc, &c, Some(kid), Some("at+jwt"))
    };
    // A claim the `Claims` type requires is missing: refused when the claims are decoded, which
    // the verifier reports as malformed.
    let without = |claim: &str| {
        with(&|c| {
            c.as_object_mut().unwrap().remove(claim);
        })
    };
    let hs256 = |secret: &[u8]| {
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some(kid.to_owned());
        h.typ = Some("at+jwt".into());
        encode(&h, &good_claims, &EncodingKey::from_secret(secret)).unwrap()
    };
    let public = &doc.keys.iter().find(|k| k.kid == kid).unwrap().x;
    let mut forged_claims = good_claims.clone();
    forged_claims["sub"] = "admin".into();
    let mut more_scope = good_claims.clone();
    more_scope["scope"] = "admin profile".into();
    let mut more_roles = good_claims.clone();
    more_roles["roles"] = json!(["admin", "user"]);
    let alg_none = part(&json!({"alg": "none", "typ": "at+jwt", "kid": kid}));
    let foreign = stranger(kid);
    // A header extension the signer says must be understood (RFC 7515 section 4.1.11): the
    // verifier understands none, so it must refuse the token rather than ignore the extension.
    let critical = |names: &[&str]| {
        let mut h = Header::new(Algorithm::EdDSA);
        h.kid = Some(kid.to_owned());
        h.typ = Some("at+jwt".into());
        h.crit = Some(names.iter().map(|n| (*n).to_owned()).collect());
        if let Some(name) = names.first() {
            h.extras.insert(*name, true);
        }
        sign_with_header(doc, &good_claims, h)
    };
    let bad = |case, token: String, rejection| BadToken {
        case,
        token,
        rejection,
    };
    vec![
        bad("garbage", "garbage".into(), Malformed),
        bad("three garbage parts", "a.b.c".into(), Malformed),
        bad(
            "tampered payload, signature kept",
            format!("{header}.{}.{signature}", part(&forged_claims)),
            BadSignature,
        ),
        bad(
            "scope claim edited, signature kept",
            format!("{header}.{}.{signature}", part(&more_scope)),
            BadSignature,
        ),
        bad(
            "roles claim edited, signature kept",
            format!("{header}.{}.{signature}", part(&more_roles)),
            BadSignature,
        ),
        bad(
            "alg none, no signature",
            format!("{alg_none}.{payload}."),
            Malformed,
        ),
        bad(
            "alg none, signature kept",
            format!("{alg_none}.{payload}.{signature}"),
            Malformed,
        ),
        bad(
            "signature stripped",
            format!("{header}.{payload}."),
            BadSignature,
        ),
        bad(
            "signature and its dot stripped",
            format!("{header}.{payload}"),
            Malformed,
        ),
        bad(
            "signature truncated",
            // Six characters less is whole base64 quanta (86 -> 80: 60 bytes), so it always
            // decodes and fails as a signature; four less would leave trailing bits that make it
            // malformed or not depending on the signature's last byte.
            format!("{header}.{payload}.{}", &signature[..signature.len() - 6]),
            BadSignature,
        ),
        bad(
            "HS256 keyed with the raw public key",
            hs256(&B64.decode(public).unwrap()),
            AlgorithmNotAllowed,
        ),
        bad(
            "HS256 keyed with the encoded public key",
            hs256(public.as_bytes()),
            AlgorithmNotAllowed,
        ),
        bad(
            "HS256 keyed with a guessed secret",
            hs256(b"secret"),
            AlgorithmNotAllowed,
        ),
        bad(
            "another key under the same kid",
            sign(&foreign, &good_claims, Some(kid), Some("at+jwt")),
            BadSignature,
        ),
        bad(
            "unknown kid",
            sign(doc, &good_claims, Some("no-such-key"), Some("at+jwt")),
            UnknownKeyId,
        ),
        bad(
            "kid pointing at a path",
            sign(
                doc,
                &good_claims,
                Some("../../../../etc/passwd"),
                Some("at+jwt"),
            ),
            UnknownKeyId,
        ),
        bad(
            "no kid",
            sign(doc, &good_claims, None, Some("at+jwt")),
            NoKeyId,
        ),
        bad(
            "typ of an ID token",
            sign(doc, &good_claims, Some(kid), Some("JWT")),
            NotAnAccessToken,
        ),
        bad(
            "no typ",
            sign(doc, &good_claims, Some(kid), None),
            NotAnAccessToken,
        ),
        bad(
            "expired beyond the leeway",
            with(&|c| c["exp"] = (now - 3600).into()),
            Expired,
        ),
        bad(
            "not yet valid",
            with(&|c| c["nbf"] = (now + 3600).into()),
            NotYetValid,
        ),
        bad(
            "wrong issuer",
            with(&|c| c["iss"] = "https://evil.example".into()),
            WrongIssuer,
        ),
        bad(
            "wrong audience",
            with(&|c| c["aud"] = "another-api".into()),
            WrongAudience,
        ),
        bad("no sub", without("sub"), Malformed),
        bad("no exp", without("exp"), Malformed),
        bad("no iss", without("iss"), Malformed),
        bad("no aud", without("aud"), Malformed),
        bad(
            "a refresh token",
            format!("rt1_{}", "A".repeat(75)),
            Malformed,
        ),
        bad(
            "malformed base64 in the payload",
            format!("{header}.{payload}!!.{signature}"),
            BadSignature,
        ),
        bad(
            "malformed base64 in the header",
            format!("%%%.{payload}.{signature}"),
            Malformed,
        ),
        bad("too long", "x".repeat(MAX_TOKEN_BYTES + 1), TooLong),
        bad(
            "a critical header extension",
            critical(&["b64"]),
            CriticalHeader,
        ),
        bad("an empty crit list", critical(&[]), CriticalHeader),
    ]
}

/// The entry named `case` (panics on a name the table does not have).
pub fn named(table: &[BadToken], case: &str) -> BadToken {
    table
        .iter()
        .find(|b| b.case == case)
        .unwrap_or_else(|| panic!("no bad token named {case:?}"))
        .clone()
}
