//! Access tokens: HS256 JWTs, issued at login and verified strictly.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use crate::config::TokenConfig;
use crate::error::ApiError;

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// The username, as registered.
    pub sub: String,
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

/// Signs and verifies tokens with one key; built once per cold start.
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl_seconds: u64,
}

impl Tokens {
    pub fn new(config: &TokenConfig) -> Self {
        let secret = config.secret.expose_secret().as_bytes();
        // Strict and pinned: only HS256 (so `alg: none` or an RSA/EC confusion cannot apply),
        // issuer and audience must match, and these claims must be present at all.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = config.leeway_seconds;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            ttl_seconds: config.ttl_seconds,
        }
    }

    /// Signs an access token for `subject`, valid from `now` for the configured lifetime.
    pub fn issue(&self, subject: &str, now: u64) -> Result<Issued, ApiError> {
        let claims = Claims {
            sub: subject.to_owned(),
            iat: now,
            nbf: now,
            exp: now + self.ttl_seconds,
            jti: uuid::Uuid::new_v4().to_string(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
        };
        let token = encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| ApiError::Internal(format!("signing token: {e}").into()))?;
        Ok(Issued {
            token,
            expires_in: self.ttl_seconds,
        })
    }

    /// Verifies signature, algorithm, `exp`, `nbf`, `iss` and `aud` and returns the claims.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenRejected> {
        decode::<Claims>(token, &self.decoding, &self.validation)
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
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use secrecy::SecretString;

    const SECRET: &str = "0123456789abcdef0123456789abcdef-test";

    fn config() -> TokenConfig {
        TokenConfig {
            secret: SecretString::from(SECRET),
            issuer: "iss-test".into(),
            audience: "aud-test".into(),
            ttl_seconds: 900,
            leeway_seconds: 30,
        }
    }

    fn now() -> u64 {
        crate::unix_now()
    }

    fn sign(claims: &serde_json::Value, alg: Algorithm, secret: &str) -> String {
        encode(
            &Header::new(alg),
            claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    fn claims_at(iat: u64) -> serde_json::Value {
        serde_json::json!({
            "sub": "alice", "iat": iat, "nbf": iat, "exp": iat + 900,
            "jti": "j", "iss": "iss-test", "aud": "aud-test"
        })
    }

    #[test]
    fn issued_token_round_trips_with_all_claims() {
        let tokens = Tokens::new(&config());
        let t = now();
        let issued = tokens.issue("Alice", t).unwrap();
        assert_eq!(issued.expires_in, 900);
        let claims = tokens.verify(&issued.token).unwrap();
        assert_eq!(claims.sub, "Alice");
        assert_eq!((claims.iat, claims.nbf, claims.exp), (t, t, t + 900));
        assert_eq!(
            (claims.iss.as_str(), claims.aud.as_str()),
            ("iss-test", "aud-test")
        );
        assert_eq!(claims.jti.len(), 36);
        let other = tokens.issue("Alice", t).unwrap();
        assert_ne!(tokens.verify(&other.token).unwrap().jti, claims.jti);
    }

    #[test]
    fn a_valid_hand_made_token_verifies() {
        // Guards the rejection table below: the same construction with nothing changed passes.
        let token = sign(&claims_at(now()), Algorithm::HS256, SECRET);
        assert!(Tokens::new(&config()).verify(&token).is_ok());
    }

    #[test]
    fn bad_tokens_are_rejected() {
        let tokens = Tokens::new(&config());
        let t = now();
        let good = tokens.issue("alice", t).unwrap().token;
        let mut parts: Vec<&str> = good.split('.').collect();
        let tampered_payload = {
            use base64_like::encode_json;
            encode_json(&serde_json::json!({
                "sub": "admin", "iat": t, "nbf": t, "exp": t + 900,
                "jti": "j", "iss": "iss-test", "aud": "aud-test"
            }))
        };
        parts[1] = &tampered_payload;
        let tampered = parts.join(".");
        let none_header =
            base64_like::encode_json(&serde_json::json!({"alg": "none", "typ": "JWT"}));
        let none_payload = base64_like::encode_json(&claims_at(t));
        let alg_none = format!("{none_header}.{none_payload}.");
        let with = |f: &dyn Fn(&mut serde_json::Value)| {
            let mut c = claims_at(t);
            f(&mut c);
            sign(&c, Algorithm::HS256, SECRET)
        };
        let cases: Vec<(String, &str)> = vec![
            ("garbage".into(), "garbage"),
            ("a.b.c".into(), "three garbage parts"),
            (tampered, "tampered payload"),
            (alg_none, "alg none"),
            (
                sign(
                    &claims_at(t),
                    Algorithm::HS256,
                    "another-secret-of-enough-length-000",
                ),
                "wrong key",
            ),
            (
                sign(&claims_at(t), Algorithm::HS512, SECRET),
                "other HMAC algorithm",
            ),
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
        ];
        for (token, case) in cases {
            assert!(tokens.verify(&token).is_err(), "{case} was accepted");
        }
    }

    #[test]
    fn expiry_within_leeway_is_tolerated() {
        let t = now();
        let mut c = claims_at(t);
        c["exp"] = (t - 10).into();
        assert!(
            Tokens::new(&config())
                .verify(&sign(&c, Algorithm::HS256, SECRET))
                .is_ok()
        );
    }

    /// Unpadded base64url of JSON, to hand-craft tokens.
    mod base64_like {
        use base64::Engine;
        pub fn encode_json(v: &serde_json::Value) -> String {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
        }
    }
}
