//! Access tokens: EdDSA (Ed25519) JWTs with a `kid`, issued at login and refresh, verified
//! strictly against the configured key set.

use std::sync::Arc;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Header, Validation, decode, decode_header, encode};
use serde::{Deserialize, Serialize};

use crate::config::TokenConfig;
use crate::error::ApiError;
use crate::http::MAX_TOKEN_BYTES;
use crate::keys::KeySet;

/// The JWT `typ` of access tokens (RFC 9068), so that no other JWT can pass for one.
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// The username, as registered.
    pub sub: String,
    /// The session (refresh-token family) this token belongs to.
    pub sid: String,
    pub iat: u64,
    pub nbf: u64,
    pub exp: u64,
    /// A unique id per token, for audit and future revocation lists.
    pub jti: String,
    pub iss: String,
    pub aud: String,
}

/// A freshly signed token and its lifetime in seconds.
#[derive(Debug)]
pub struct Issued {
    pub token: String,
    pub expires_in: u64,
}

/// Why a token was refused. Every reason answers the same 401 `invalid_token`; the reason only
/// goes to the log.
#[derive(Debug, thiserror::Error)]
#[error("token rejected: {0}")]
pub struct TokenRejected(pub &'static str);

/// Signs and verifies access tokens; built once per cold start.
pub struct Tokens {
    keys: Arc<KeySet>,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl_seconds: u64,
}

impl Tokens {
    pub fn new(config: &TokenConfig, keys: Arc<KeySet>) -> Self {
        // Strict and pinned: only EdDSA (so `alg: none`, HS256 with a public key as the secret,
        // or any other algorithm confusion cannot apply), issuer and audience must match, and
        // these claims must be present at all.
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = config.leeway_seconds;
        Self {
            keys,
            validation,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            ttl_seconds: config.ttl_seconds,
        }
    }

    /// The access-token lifetime in seconds.
    pub fn ttl_seconds(&self) -> u64 {
        self.ttl_seconds
    }

    /// Signs an access token for `subject` in session `sid`, valid from `now`.
    pub fn issue(&self, subject: &str, sid: &str, now: u64) -> Result<Issued, ApiError> {
        let signing = self
            .keys
            .signing
            .as_ref()
            .ok_or_else(|| ApiError::Internal("this function holds no signing key".into()))?;
        let claims = Claims {
            sub: subject.to_owned(),
            sid: sid.to_owned(),
            iat: now,
            nbf: now,
            exp: now + self.ttl_seconds,
            jti: uuid::Uuid::new_v4().to_string(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(signing.kid.clone());
        header.typ = Some(ACCESS_TOKEN_TYPE.to_owned());
        let token = encode(&header, &claims, &signing.encoding)
            .map_err(|e| ApiError::Internal(format!("signing token: {e}").into()))?;
        Ok(Issued {
            token,
            expires_in: self.ttl_seconds,
        })
    }

    /// Verifies type, algorithm, key id, signature, `exp`, `nbf`, `iss` and `aud`.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenRejected> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenRejected("too long"));
        }
        let header = decode_header(token).map_err(|_| TokenRejected("malformed"))?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenRejected("algorithm not allowed"));
        }
        let typ = header.typ.as_deref().unwrap_or_default();
        if !typ.eq_ignore_ascii_case(ACCESS_TOKEN_TYPE)
            && !typ.eq_ignore_ascii_case("application/at+jwt")
        {
            return Err(TokenRejected("not an access token"));
        }
        let kid = header.kid.as_deref().ok_or(TokenRejected("no key id"))?;
        let key = self
            .keys
            .verifier(kid)
            .ok_or(TokenRejected("unknown key id"))?;
        decode::<Claims>(token, key, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| TokenRejected(reason(e.kind())))
    }
}

fn reason(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::ExpiredSignature => "expired",
        ErrorKind::ImmatureSignature => "not yet valid",
        ErrorKind::InvalidIssuer => "wrong issuer",
        ErrorKind::InvalidAudience => "wrong audience",
        ErrorKind::InvalidSignature => "bad signature",
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => "algorithm not allowed",
        ErrorKind::MissingRequiredClaim(_) => "missing claim",
        _ => "malformed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{KeySet, generate_document, rotate_document};
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use jsonwebtoken::EncodingKey;

    fn config() -> TokenConfig {
        TokenConfig {
            issuer: "iss-test".into(),
            audience: "aud-test".into(),
            ttl_seconds: 900,
            leeway_seconds: 30,
        }
    }

    fn key_set(doc: &crate::keys::KeySetDocument) -> Arc<KeySet> {
        Arc::new(KeySet::parse(&serde_json::to_string(doc).unwrap()).unwrap())
    }

    fn now() -> u64 {
        crate::unix_now()
    }

    fn claims_at(iat: u64) -> serde_json::Value {
        serde_json::json!({
            "sub": "alice", "sid": "s1", "iat": iat, "nbf": iat, "exp": iat + 900,
            "jti": "j", "iss": "iss-test", "aud": "aud-test"
        })
    }

    fn part(v: &serde_json::Value) -> String {
        B64.encode(serde_json::to_vec(v).unwrap())
    }

    /// Signs `claims` with the document's signing key, with header tweaks.
    fn sign_with(
        doc: &crate::keys::KeySetDocument,
        claims: &serde_json::Value,
        kid: Option<&str>,
        typ: Option<&str>,
    ) -> String {
        let key = doc.keys.iter().find(|k| k.kid == doc.signing_kid).unwrap();
        let pair = aws_lc_rs::signature::Ed25519KeyPair::from_seed_and_public_key(
            &B64.decode(key.d.as_ref().unwrap()).unwrap(),
            &B64.decode(&key.x).unwrap(),
        )
        .unwrap();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = kid.map(str::to_owned);
        header.typ = typ.map(str::to_owned);
        encode(
            &header,
            claims,
            &EncodingKey::from_ed_der(pair.to_pkcs8().unwrap().as_ref()),
        )
        .unwrap()
    }

    #[test]
    fn issued_token_round_trips_with_all_claims_and_header() {
        let doc = generate_document("k1").unwrap();
        let tokens = Tokens::new(&config(), key_set(&doc));
        let t = now();
        let issued = tokens.issue("Alice", "sess-1", t).unwrap();
        assert_eq!(issued.expires_in, 900);
        let header = decode_header(&issued.token).unwrap();
        assert_eq!(
            (header.alg, header.kid.as_deref(), header.typ.as_deref()),
            (Algorithm::EdDSA, Some("k1"), Some("at+jwt"))
        );
        let claims = tokens.verify(&issued.token).unwrap();
        assert_eq!(
            (claims.sub.as_str(), claims.sid.as_str()),
            ("Alice", "sess-1")
        );
        assert_eq!((claims.iat, claims.nbf, claims.exp), (t, t, t + 900));
        assert_eq!(
            (claims.iss.as_str(), claims.aud.as_str()),
            ("iss-test", "aud-test")
        );
        assert_eq!(claims.jti.len(), 36);
        assert_ne!(
            tokens
                .verify(&tokens.issue("Alice", "sess-1", t).unwrap().token)
                .unwrap()
                .jti,
            claims.jti
        );
    }

    #[test]
    fn a_valid_hand_made_token_verifies() {
        // Guards the rejection table below: the same construction with nothing changed passes.
        let doc = generate_document("k1").unwrap();
        let token = sign_with(&doc, &claims_at(now()), Some("k1"), Some("at+jwt"));
        assert!(Tokens::new(&config(), key_set(&doc)).verify(&token).is_ok());
    }

    #[test]
    fn bad_tokens_are_rejected() {
        let doc = generate_document("k1").unwrap();
        let tokens = Tokens::new(&config(), key_set(&doc));
        let t = now();
        let good = tokens.issue("alice", "s1", t).unwrap().token;
        let parts: Vec<&str> = good.split('.').collect();
        let mut forged_claims = claims_at(t);
        forged_claims["sub"] = "admin".into();
        let tampered = format!("{}.{}.{}", parts[0], part(&forged_claims), parts[2]);
        let alg_none = format!(
            "{}.{}.",
            part(&serde_json::json!({"alg": "none", "typ": "at+jwt", "kid": "k1"})),
            parts[1]
        );
        let stripped = format!("{}.{}.", parts[0], parts[1]);
        // HS256 signed with the public key bytes as the HMAC secret: the classic key confusion.
        let public = B64.decode(&doc.keys[0].x).unwrap();
        let mut hs = Header::new(Algorithm::HS256);
        hs.kid = Some("k1".into());
        hs.typ = Some("at+jwt".into());
        let hs256_public = encode(&hs, &claims_at(t), &EncodingKey::from_secret(&public)).unwrap();
        let hs256_x = encode(
            &hs,
            &claims_at(t),
            &EncodingKey::from_secret(doc.keys[0].x.as_bytes()),
        )
        .unwrap();
        let stranger = generate_document("k1").unwrap();
        let with = |f: &dyn Fn(&mut serde_json::Value)| {
            let mut c = claims_at(t);
            f(&mut c);
            sign_with(&doc, &c, Some("k1"), Some("at+jwt"))
        };
        let cases: Vec<(String, &str)> = vec![
            ("garbage".into(), "garbage"),
            ("a.b.c".into(), "three garbage parts"),
            (tampered, "tampered payload"),
            (alg_none, "alg none"),
            (stripped, "signature stripped"),
            (hs256_public, "HS256 with the public key as secret"),
            (hs256_x, "HS256 with the encoded public key as secret"),
            (
                sign_with(&stranger, &claims_at(t), Some("k1"), Some("at+jwt")),
                "key not in the set, same kid",
            ),
            (
                sign_with(&doc, &claims_at(t), Some("unknown"), Some("at+jwt")),
                "unknown kid",
            ),
            (
                sign_with(&doc, &claims_at(t), None, Some("at+jwt")),
                "no kid",
            ),
            (
                sign_with(&doc, &claims_at(t), Some("k1"), Some("JWT")),
                "not an access token type",
            ),
            (sign_with(&doc, &claims_at(t), Some("k1"), None), "no typ"),
            (
                with(&|c| c["exp"] = (t - 120).into()),
                "expired beyond leeway",
            ),
            (with(&|c| c["nbf"] = (t + 120).into()), "not yet valid"),
            (with(&|c| c["iss"] = "evil".into()), "wrong issuer"),
            (with(&|c| c["aud"] = "evil".into()), "wrong audience"),
            (
                with(&|c| {
                    c.as_object_mut().unwrap().remove("sub");
                }),
                "missing sub",
            ),
            (
                with(&|c| {
                    c.as_object_mut().unwrap().remove("exp");
                }),
                "missing exp",
            ),
            (
                with(&|c| {
                    c.as_object_mut().unwrap().remove("iss");
                }),
                "missing iss",
            ),
            (
                with(&|c| {
                    c.as_object_mut().unwrap().remove("aud");
                }),
                "missing aud",
            ),
            ("x".repeat(MAX_TOKEN_BYTES + 1), "too long"),
        ];
        for (token, case) in cases {
            assert!(tokens.verify(&token).is_err(), "{case} was accepted");
        }
    }

    #[test]
    fn expiry_within_leeway_is_tolerated() {
        let doc = generate_document("k1").unwrap();
        let t = now();
        let mut c = claims_at(t);
        c["exp"] = (t - 10).into();
        let token = sign_with(&doc, &c, Some("k1"), Some("at+jwt"));
        assert!(Tokens::new(&config(), key_set(&doc)).verify(&token).is_ok());
    }

    #[test]
    fn rotation_keeps_old_tokens_valid_until_the_old_key_is_removed() {
        let old = generate_document("old").unwrap();
        let old_token = Tokens::new(&config(), key_set(&old))
            .issue("alice", "s", now())
            .unwrap()
            .token;
        let rotated = rotate_document(&old, "new").unwrap();
        let tokens = Tokens::new(&config(), key_set(&rotated));
        let new_token = tokens.issue("alice", "s", now()).unwrap().token;
        assert_eq!(
            decode_header(&new_token).unwrap().kid.as_deref(),
            Some("new")
        );
        assert!(tokens.verify(&old_token).is_ok(), "old key still verifies");
        assert!(tokens.verify(&new_token).is_ok());

        let mut retired = rotated.clone();
        retired.keys.retain(|k| k.kid != "old");
        let after = Tokens::new(&config(), key_set(&retired));
        assert!(
            after.verify(&old_token).is_err(),
            "removed key no longer verifies"
        );
        assert!(after.verify(&new_token).is_ok());
    }

    #[test]
    fn verify_only_sets_cannot_sign() {
        let doc = generate_document("k1").unwrap();
        let set = Arc::new(
            KeySet::parse(&serde_json::to_string(&doc).unwrap())
                .unwrap()
                .public_only(),
        );
        assert_eq!(
            Tokens::new(&config(), set)
                .issue("a", "s", now())
                .unwrap_err()
                .code(),
            "internal"
        );
    }
}
