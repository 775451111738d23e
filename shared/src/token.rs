//! Access tokens: EdDSA (Ed25519) JWTs with a `kid`, issued at login and refresh, verified
//! strictly against the configured key set.

use std::sync::Arc;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Header, Validation, encode};
use serde::{Deserialize, Serialize};

use crate::config::TokenConfig;
use crate::error::ApiError;
use crate::keys::{KeySet, PublicKey};
use crate::roles::Grant;

/// The JWT `typ` of access tokens (RFC 9068), so that no other JWT can pass for one.
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// Largest bearer token looked at; longer ones are rejected without decoding.
pub const MAX_TOKEN_BYTES: usize = 4 * 1024;

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// The user's stable, opaque id.
    pub sub: String,
    /// The username, as registered (OpenID Connect `preferred_username`).
    #[serde(default)]
    pub preferred_username: String,
    /// The session (refresh-token family) this token belongs to.
    pub sid: String,
    /// The scopes granted, sorted and space-separated (RFC 9068 section 2.2.3).
    #[serde(default)]
    pub scope: String,
    /// The user's roles, the implicit `user` included, sorted (RFC 9068 section 2.2.3.1).
    #[serde(default)]
    pub roles: Vec<String>,
    /// How the user authenticated (RFC 8176): `["pwd"]` after a password alone, `["mfa",
    /// "otp", "pwd"]` after a TOTP code, `["mfa", "pwd"]` after a recovery code. A refresh
    /// keeps its session's.
    #[serde(default)]
    pub amr: Vec<String>,
    /// Issued at (epoch seconds).
    pub iat: u64,
    /// Not before.
    pub nbf: u64,
    /// Expires at.
    pub exp: u64,
    /// A unique id per token, for audit and future revocation lists.
    pub jti: String,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
}

impl Claims {
    /// True when the token was granted `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope.split(' ').any(|s| s == scope)
    }

    /// True when the user signed in with a second factor (`mfa` in `amr`).
    pub fn has_mfa(&self) -> bool {
        self.amr.iter().any(|m| m == "mfa")
    }
}

/// Whom a token is issued to, and what it grants.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// The stable user id (`sub`).
    pub user_id: &'a str,
    /// The username as registered (`preferred_username`).
    pub username: &'a str,
    /// Roles and scopes, computed from the current user item.
    pub grant: &'a Grant,
    /// How the user authenticated at login (`amr`).
    pub amr: &'a [String],
}

/// A freshly signed token and its lifetime in seconds.
#[derive(Debug)]
pub struct Issued {
    /// The compact JWT.
    pub token: String,
    /// Seconds until it expires.
    pub expires_in: u64,
}

/// The body of a successful login or refresh (RFC 6749 section 5.1). Both build it here, so the
/// two bodies cannot drift apart.
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    /// The access token.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The session's current refresh token.
    pub refresh_token: String,
}

impl TokenResponse {
    /// The body for an access token and the refresh token that goes with it.
    pub fn new(issued: Issued, refresh_token: String) -> Self {
        Self {
            access_token: issued.token,
            token_type: "Bearer",
            expires_in: issued.expires_in,
            refresh_token,
        }
    }
}

/// Why a token was refused. Every reason answers the same 401 `invalid_token`; the reason only
/// goes to the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// Longer than [`MAX_TOKEN_BYTES`]: not decoded at all.
    #[error("too long")]
    TooLong,
    /// Not a JWT, or claims of the wrong shape.
    #[error("malformed")]
    Malformed,
    /// A header `alg` other than the pinned one.
    #[error("algorithm not allowed")]
    AlgorithmNotAllowed,
    /// A header `typ` other than `at+jwt`.
    #[error("not an access token")]
    NotAnAccessToken,
    /// No `kid` in the header.
    #[error("no key id")]
    NoKeyId,
    /// A `kid` the key set does not have.
    #[error("unknown key id")]
    UnknownKeyId,
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// `exp` has passed (beyond the leeway).
    #[error("expired")]
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    #[error("not yet valid")]
    NotYetValid,
    /// `iss` is not ours.
    #[error("wrong issuer")]
    WrongIssuer,
    /// `aud` is not ours.
    #[error("wrong audience")]
    WrongAudience,
    /// A required claim is absent.
    #[error("missing claim")]
    MissingClaim,
    /// A `crit` header (RFC 7515 section 4.1.11): it names extensions the verifier must
    /// understand, and this one understands none.
    #[error("critical header")]
    CriticalHeader,
}

impl Rejection {
    /// The `reason` logged for a refused token (the same text as `Display`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TooLong => "too long",
            Self::Malformed => "malformed",
            Self::AlgorithmNotAllowed => "algorithm not allowed",
            Self::NotAnAccessToken => "not an access token",
            Self::NoKeyId => "no key id",
            Self::UnknownKeyId => "unknown key id",
            Self::BadSignature => "bad signature",
            Self::Expired => "expired",
            Self::NotYetValid => "not yet valid",
            Self::WrongIssuer => "wrong issuer",
            Self::WrongAudience => "wrong audience",
            Self::MissingClaim => "missing claim",
            Self::CriticalHeader => "critical header",
        }
    }
}

/// Signs and verifies access tokens; built once per cold start.
pub struct Tokens {
    keys: Arc<KeySet>,
    /// `jsonwebtoken`'s checks for tokens of an EdDSA key and of an RS256 key, built once.
    eddsa: Validation,
    rs256: Validation,
    issuer: String,
    audience: String,
    ttl_seconds: u64,
}

impl Tokens {
    /// A signer and verifier for these settings and keys. The check is strict and pinned: only
    /// the algorithm of the token's key (so `alg: none`, HS256 with a public key as the secret,
    /// or any other algorithm confusion cannot apply), issuer and audience must match, and
    /// `exp`, `nbf`, `iss`, `aud` and `sub` must be present at all.
    pub fn new(config: &TokenConfig, keys: Arc<KeySet>) -> Self {
        let validation = |alg| {
            let mut validation = Validation::new(alg);
            validation.set_issuer(&[&config.issuer]);
            validation.set_audience(&[&config.audience]);
            validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
            validation.validate_exp = true;
            validation.validate_nbf = true;
            validation.leeway = config.leeway_seconds;
            validation
        };
        Self {
            keys,
            eddsa: validation(Algorithm::EdDSA),
            rs256: validation(Algorithm::RS256),
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
    pub fn issue(&self, subject: &Subject<'_>, sid: &str, now: u64) -> Result<Issued, ApiError> {
        self.issue_until(subject, sid, now, u64::MAX)
    }

    /// Signs an access token that expires after the configured lifetime, or at `not_after`
    /// (its session's end) if that is sooner: an access token never outlives its session.
    pub fn issue_until(
        &self,
        subject: &Subject<'_>,
        sid: &str,
        now: u64,
        not_after: u64,
    ) -> Result<Issued, ApiError> {
        let exp = now.saturating_add(self.ttl_seconds).min(not_after).max(now);
        let signing = self
            .keys
            .signing
            .as_ref()
            .ok_or_else(|| ApiError::Internal("this function holds no signing key".into()))?;
        let claims = Claims {
            sub: subject.user_id.to_owned(),
            preferred_username: subject.username.to_owned(),
            sid: sid.to_owned(),
            scope: subject.grant.scope.clone(),
            roles: subject.grant.roles.clone(),
            amr: subject.amr.to_vec(),
            iat: now,
            nbf: now,
            exp,
            jti: uuid::Uuid::new_v4().to_string(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
        };
        let mut header = Header::new(signing.alg);
        header.kid = Some(signing.kid.clone());
        header.typ = Some(ACCESS_TOKEN_TYPE.to_owned());
        let token = encode(&header, &claims, &signing.encoding)
            .map_err(|e| ApiError::Internal(format!("signing token: {e}").into()))?;
        Ok(Issued {
            token,
            expires_in: exp - now,
        })
    }

    /// Verifies type, algorithm, key id, signature, `exp`, `nbf`, `iss` and `aud`: the header
    /// is read first to pick the key (ours to pin), then `jsonwebtoken::decode` checks the
    /// signature and the claims with the key's own algorithm.
    pub fn verify(&self, token: &str) -> Result<Claims, Rejection> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(Rejection::TooLong);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|e| reason(e.kind()))?;
        let key = self.key_for(&header)?;
        let validation = if key.alg == Algorithm::RS256 {
            &self.rs256
        } else {
            &self.eddsa
        };
        jsonwebtoken::decode::<Claims>(token, &key.decoding, validation)
            .map(|data| data.claims)
            .map_err(|e| reason(e.kind()))
    }

    /// The key a token's header names, once the header passes: an allowed algorithm, the
    /// access-token type, a key id the set has, and that key's own algorithm.
    fn key_for(&self, header: &Header) -> Result<&PublicKey, Rejection> {
        if !matches!(header.alg, Algorithm::EdDSA | Algorithm::RS256) {
            return Err(Rejection::AlgorithmNotAllowed);
        }
        let typ = header.typ.as_deref().unwrap_or_default();
        if !typ.eq_ignore_ascii_case(ACCESS_TOKEN_TYPE)
            && !typ.eq_ignore_ascii_case("application/at+jwt")
        {
            return Err(Rejection::NotAnAccessToken);
        }
        // jsonwebtoken reads `crit` but does not act on it.
        if header.crit.is_some() {
            return Err(Rejection::CriticalHeader);
        }
        let kid = header.kid.as_deref().ok_or(Rejection::NoKeyId)?;
        let key = self.keys.verifier(kid).ok_or(Rejection::UnknownKeyId)?;
        // The key decides the algorithm, never the token: an RS256 header on an Ed25519 key's
        // kid (or the other way round) is refused before any cryptography.
        if header.alg != key.alg {
            return Err(Rejection::AlgorithmNotAllowed);
        }
        Ok(key)
    }
}

fn reason(kind: &ErrorKind) -> Rejection {
    match kind {
        ErrorKind::ExpiredSignature => Rejection::Expired,
        ErrorKind::ImmatureSignature => Rejection::NotYetValid,
        ErrorKind::InvalidIssuer => Rejection::WrongIssuer,
        ErrorKind::InvalidAudience => Rejection::WrongAudience,
        ErrorKind::InvalidSignature => Rejection::BadSignature,
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            Rejection::AlgorithmNotAllowed
        }
        ErrorKind::MissingRequiredClaim(_) => Rejection::MissingClaim,
        _ => Rejection::Malformed,
    }
}

/// The `amr` of a password alone (RFC 8176).
pub const AMR_PASSWORD: &[&str] = &["pwd"];
/// The `amr` after a password and a TOTP code.
pub const AMR_TOTP: &[&str] = &["mfa", "otp", "pwd"];
/// The `amr` after a password and a recovery code.
pub const AMR_RECOVERY_CODE: &[&str] = &["mfa", "pwd"];

/// The `amr` values as owned strings.
pub fn amr(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{KeySet, generate_document, rotate_document};
    use jsonwebtoken::decode_header;

    fn config() -> TokenConfig {
        TokenConfig {
            issuer: "iss-test".into(),
            audience: "aud-test".into(),
            ttl_seconds: 900,
            leeway_seconds: 30,
            alg: crate::config::KeyAlg::EdDsa,
        }
    }

    /// A token for `name` (id `id-<name>`) with the roles `admin` and `user`.
    fn issue(tokens: &Tokens, name: &str, sid: &str, now: u64) -> Result<Issued, ApiError> {
        let grant = Grant {
            roles: vec!["admin".into(), "user".into()],
            scope: "admin profile".into(),
        };
        let user_id = format!("id-{name}");
        let subject = Subject {
            user_id: &user_id,
            username: name,
            grant: &grant,
            amr: &[],
        };
        tokens.issue(&subject, sid, now)
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

    #[test]
    fn issued_token_round_trips_with_all_claims_and_header() {
        let doc = generate_document("k1").unwrap();
        let tokens = Tokens::new(&config(), key_set(&doc));
        let t = now();
        let issued = issue(&tokens, "Alice", "sess-1", t).unwrap();
        assert_eq!(issued.expires_in, 900);
        let header = decode_header(&issued.token).unwrap();
        assert_eq!(
            (header.alg, header.kid.as_deref(), header.typ.as_deref()),
            (Algorithm::EdDSA, Some("k1"), Some("at+jwt"))
        );
        let claims = tokens.verify(&issued.token).unwrap();
        assert_eq!(
            (
                claims.sub.as_str(),
                claims.preferred_username.as_str(),
                claims.sid.as_str()
            ),
            ("id-Alice", "Alice", "sess-1")
        );
        assert_eq!(
            (claims.scope.as_str(), claims.roles.as_slice()),
            (
                "admin profile",
                ["admin".to_owned(), "user".to_owned()].as_slice()
            )
        );
        assert!(claims.has_scope("admin") && claims.has_scope("profile"));
        assert!(!claims.has_scope("admi") && !claims.has_scope(""));
        assert_eq!((claims.iat, claims.nbf, claims.exp), (t, t, t + 900));
        assert_eq!(
            (claims.iss.as_str(), claims.aud.as_str()),
            ("iss-test", "aud-test")
        );
        assert_eq!(claims.jti.len(), 36);
        assert_ne!(
            tokens
                .verify(&issue(&tokens, "Alice", "sess-1", t).unwrap().token)
                .unwrap()
                .jti,
            claims.jti
        );
    }

    #[test]
    fn a_master_secrets_tokens_verify_against_its_public_document() {
        // The signing key built from the pair the derivation just made (not derived twice).
        let full = Arc::new(KeySet::parse("a-master-secret-of-more-than-32-bytes-xyz").unwrap());
        let public = serde_json::to_string(&full.public_document()).unwrap();
        let public = Arc::new(KeySet::parse_public_document(&public).unwrap());
        let issued = issue(&Tokens::new(&config(), full), "Alice", "sess-1", now()).unwrap();
        let claims = Tokens::new(&config(), public)
            .verify(&issued.token)
            .unwrap();
        assert_eq!(claims.sub, "id-Alice");
    }

    #[test]
    fn a_valid_hand_made_token_verifies() {
        // Guards the rejection table below: the same construction with nothing changed passes.
        let doc = generate_document("k1").unwrap();
        let token = crate::bad_tokens::sign(&doc, &claims_at(now()), Some("k1"), Some("at+jwt"));
        assert!(Tokens::new(&config(), key_set(&doc)).verify(&token).is_ok());
    }

    #[test]
    fn bad_tokens_are_rejected_for_their_reason() {
        let doc = generate_document("k1").unwrap();
        let tokens = Tokens::new(&config(), key_set(&doc));
        let table = crate::bad_tokens::table(&doc, "iss-test", "aud-test", now());
        assert!(table.len() >= 25, "{}", table.len());
        let wrong: Vec<_> = table
            .iter()
            .map(|bad| (bad.case, bad.rejection, tokens.verify(&bad.token).err()))
            .filter(|(_, want, got)| *got != Some(*want))
            .collect();
        assert!(wrong.is_empty(), "(case, wanted, got): {wrong:?}");
    }

    #[test]
    fn expiry_within_leeway_is_tolerated() {
        let doc = generate_document("k1").unwrap();
        let t = now();
        let mut c = claims_at(t);
        c["exp"] = (t - 10).into();
        let token = crate::bad_tokens::sign(&doc, &c, Some("k1"), Some("at+jwt"));
        assert!(Tokens::new(&config(), key_set(&doc)).verify(&token).is_ok());
    }

    /// The leeway's edges, read within one second so that they stay edges: 30 s either side
    /// of `exp` and `nbf` is tolerated, 31 s is not.
    #[test]
    fn the_leeway_edges_fall_at_thirty_seconds() {
        let doc = generate_document("k1").unwrap();
        let tokens = Tokens::new(&config(), key_set(&doc));
        loop {
            let t = now();
            let answers: Vec<_> = [
                ("exp", t - 31, Err(Rejection::Expired)),
                ("exp", t - 30, Ok(())),
                ("nbf", t + 30, Ok(())),
                ("nbf", t + 31, Err(Rejection::NotYetValid)),
            ]
            .into_iter()
            .map(|(name, at, want)| {
                let mut c = claims_at(t);
                c[name] = at.into();
                let token = crate::bad_tokens::sign(&doc, &c, Some("k1"), Some("at+jwt"));
                (
                    name,
                    at as i64 - t as i64,
                    want,
                    tokens.verify(&token).map(drop),
                )
            })
            .collect();
            if now() == t {
                for (name, offset, want, got) in answers {
                    assert_eq!(got, want, "{name} at now {offset:+}");
                }
                return;
            }
        }
    }

    #[test]
    fn rotation_keeps_old_tokens_valid_until_the_old_key_is_removed() {
        let old = generate_document("old").unwrap();
        let old_token = issue(&Tokens::new(&config(), key_set(&old)), "alice", "s", now())
            .unwrap()
            .token;
        let rotated = rotate_document(&old, "new").unwrap();
        let tokens = Tokens::new(&config(), key_set(&rotated));
        let new_token = issue(&tokens, "alice", "s", now()).unwrap().token;
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
            issue(&Tokens::new(&config(), set), "a", "s", now())
                .unwrap_err()
                .code(),
            "internal"
        );
    }
}

#[cfg(test)]
mod rsa_tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::config::KeyAlg;
    use crate::keys::{KeySetDocument, generate_document_with, generate_key_with};
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use jsonwebtoken::{EncodingKey, decode_header};

    fn config() -> TokenConfig {
        TokenConfig {
            issuer: "iss-test".into(),
            audience: "aud-test".into(),
            ttl_seconds: 900,
            leeway_seconds: 30,
            alg: KeyAlg::Rs256,
        }
    }

    fn tokens(doc: &KeySetDocument) -> Tokens {
        Tokens::new(
            &config(),
            Arc::new(KeySet::parse(&serde_json::to_string(doc).unwrap()).unwrap()),
        )
    }

    fn issue(tokens: &Tokens) -> String {
        let grant = Grant {
            roles: vec!["user".into()],
            scope: "profile".into(),
        };
        let subject = Subject {
            user_id: "id-1",
            username: "alice",
            grant: &grant,
            amr: &[],
        };
        tokens
            .issue(&subject, "s1", crate::unix_now())
            .unwrap()
            .token
    }

    /// An RSA signing key with an Ed25519 key beside it (verify-only), as after a family change.
    fn mixed() -> KeySetDocument {
        let mut doc = generate_document_with("rsa", KeyAlg::Rs256).unwrap();
        let mut ed = generate_key_with("ed", KeyAlg::EdDsa).unwrap();
        ed.d = None;
        doc.keys.push(ed);
        doc
    }

    #[test]
    fn an_rsa_key_set_signs_rs256_that_verifies() {
        let doc = generate_document_with("r1", KeyAlg::Rs256).unwrap();
        let tokens = tokens(&doc);
        let token = issue(&tokens);
        let header = decode_header(&token).unwrap();
        assert_eq!(
            (header.alg, header.kid.as_deref()),
            (Algorithm::RS256, Some("r1"))
        );
        assert_eq!(tokens.verify(&token).unwrap().preferred_username, "alice");
        let set = KeySet::parse(&serde_json::to_string(&doc).unwrap()).unwrap();
        assert!(set.require_signing_alg(KeyAlg::Rs256).is_ok());
        assert!(set.require_signing_alg(KeyAlg::EdDsa).is_err());
    }

    #[test]
    fn the_key_not_the_token_decides_the_algorithm() {
        let doc = mixed();
        let tokens = tokens(&doc);
        let good = issue(&tokens);
        let payload = good.split('.').nth(1).unwrap().to_owned();
        // An RS256-signed token whose header points at the Ed25519 key.
        let rsa = doc.keys.iter().find(|k| k.kid == "rsa").unwrap();
        let pkcs1 = rsa.rsa_private_der().unwrap().unwrap();
        let mut h = Header::new(Algorithm::RS256);
        h.kid = Some("ed".into());
        h.typ = Some("at+jwt".into());
        let claims: serde_json::Value =
            serde_json::from_slice(&B64.decode(&payload).unwrap()).unwrap();
        let rs_on_ed = encode(&h, &claims, &EncodingKey::from_rsa_der(&pkcs1)).unwrap();
        // An EdDSA header on the RSA key's kid.
        let ed_header = B64.encode(br#"{"alg":"EdDSA","typ":"at+jwt","kid":"rsa"}"#);
        let sig = good.split('.').nth(2).unwrap();
        let ed_on_rsa = format!("{ed_header}.{payload}.{sig}");
        // HS256 keyed with the RSA public key (modulus bytes, and the encoded modulus).
        let mut hs = Header::new(Algorithm::HS256);
        hs.kid = Some("rsa".into());
        hs.typ = Some("at+jwt".into());
        let hs_n = encode(
            &hs,
            &claims,
            &EncodingKey::from_secret(&B64.decode(&rsa.n).unwrap()),
        )
        .unwrap();
        let hs_text = encode(&hs, &claims, &EncodingKey::from_secret(rsa.n.as_bytes())).unwrap();
        for (token, case) in [
            (rs_on_ed, "RS256 on an Ed25519 kid"),
            (ed_on_rsa, "EdDSA on an RSA kid"),
            (hs_n, "HS256 keyed with the RSA modulus"),
            (hs_text, "HS256 keyed with the encoded modulus"),
        ] {
            assert_eq!(
                tokens.verify(&token).err(),
                Some(Rejection::AlgorithmNotAllowed),
                "{case}"
            );
        }
        assert!(tokens.verify(&good).is_ok(), "control");
    }
}
