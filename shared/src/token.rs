//! Access tokens: EdDSA (Ed25519) JWTs with a `kid`, issued at login and refresh, verified
//! strictly against the configured key set.

use std::sync::{Arc, OnceLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
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
        }
    }
}

/// Signs and verifies access tokens; built once per cold start.
pub struct Tokens {
    keys: Arc<KeySet>,
    /// `jsonwebtoken`'s settings for EdDSA and RS256, built at the first
    /// [`Tokens::verify_with_jsonwebtoken`] (tests and the bench): serving never needs them.
    validations: OnceLock<[Validation; 2]>,
    issuer: String,
    audience: String,
    leeway_seconds: u64,
    ttl_seconds: u64,
}

impl Tokens {
    /// A signer and verifier for these settings and keys. The check is strict and pinned: only
    /// the algorithm of the token's key (so `alg: none`, HS256 with a public key as the secret,
    /// or any other algorithm confusion cannot apply), issuer and audience must match, and
    /// `exp`, `nbf`, `iss`, `aud` and `sub` must be present at all.
    pub fn new(config: &TokenConfig, keys: Arc<KeySet>) -> Self {
        Self {
            keys,
            validations: OnceLock::new(),
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            leeway_seconds: config.leeway_seconds,
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

    /// Verifies type, algorithm, key id, signature, `exp`, `nbf`, `iss` and `aud`.
    ///
    /// Written out rather than `decode_header` then `jsonwebtoken::decode`, which together
    /// base64-decode and parse the header four times and the claims twice, and (on RustCrypto)
    /// decompress the public key at every check: in-process, a quarter of the whole check
    /// (docs/performance.md). The pieces are still `jsonwebtoken`'s (its `Header`, its signature
    /// check) or the same crates it uses (base64's URL_SAFE_NO_PAD, serde_json, ed25519-dalek's
    /// `Verifier`), taken in `decode`'s order, so every token gets the answer `decode` gives and
    /// the same reason: `agreement::agrees_with_jsonwebtoken_decode` holds it to that over
    /// valid and broken tokens of every kind.
    pub fn verify(&self, token: &str) -> Result<Claims, Rejection> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(Rejection::TooLong);
        }
        // `decode` splits from the right: anything before the last two dots is the header
        // (and fails to decode if it holds a dot).
        let (message, signature) = token.rsplit_once('.').ok_or(Rejection::Malformed)?;
        let (header, payload) = message.rsplit_once('.').ok_or(Rejection::Malformed)?;
        let key = self.key_for(&part(header)?)?;
        check_signature(key, message.as_bytes(), signature)?;
        let claims: Claims = part(payload)?;
        // `jsonwebtoken`'s checks, in its order (`validation::validate`), with the settings
        // `Tokens::new` had given it: every claim it requires is a field `Claims` cannot lack.
        let now = jsonwebtoken::get_current_timestamp();
        if claims.exp < now.saturating_sub(self.leeway_seconds) {
            return Err(Rejection::Expired);
        }
        if claims.nbf > now.saturating_add(self.leeway_seconds) {
            return Err(Rejection::NotYetValid);
        }
        if claims.iss != self.issuer {
            return Err(Rejection::WrongIssuer);
        }
        if claims.aud != self.audience {
            return Err(Rejection::WrongAudience);
        }
        Ok(claims)
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
        let kid = header.kid.as_deref().ok_or(Rejection::NoKeyId)?;
        let key = self.keys.verifier(kid).ok_or(Rejection::UnknownKeyId)?;
        // The key decides the algorithm, never the token: an RS256 header on an Ed25519 key's
        // kid (or the other way round) is refused before any cryptography.
        if header.alg != key.alg {
            return Err(Rejection::AlgorithmNotAllowed);
        }
        Ok(key)
    }

    /// The same check as `jsonwebtoken` makes it: `decode_header`, then `jsonwebtoken::decode`
    /// with a pinned `Validation`, which is what [`Tokens::verify`] did before it was written
    /// out. Not used to serve requests: it is the reference `verify` is tested against
    /// (`agreement::agrees_with_jsonwebtoken_decode`) and the bench's yardstick of one
    /// verification (`floor-verify`, `make bench`).
    pub fn verify_with_jsonwebtoken(&self, token: &str) -> Result<Claims, Rejection> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(Rejection::TooLong);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|e| reason(e.kind()))?;
        let key = self.key_for(&header)?;
        let [eddsa, rs256] = self.validations.get_or_init(|| {
            [Algorithm::EdDSA, Algorithm::RS256].map(|alg| {
                let mut validation = Validation::new(alg);
                validation.set_issuer(&[&self.issuer]);
                validation.set_audience(&[&self.audience]);
                validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
                validation.validate_exp = true;
                validation.validate_nbf = true;
                validation.leeway = self.leeway_seconds;
                validation
            })
        });
        let validation = if key.alg == Algorithm::RS256 {
            rs256
        } else {
            eddsa
        };
        jsonwebtoken::decode::<Claims>(token, &key.decoding, validation)
            .map(|data| data.claims)
            .map_err(|e| reason(e.kind()))
    }
}

/// One part of a compact JWT, base64url without padding, as JSON: how `jsonwebtoken` reads the
/// header and the claims.
fn part<T: serde::de::DeserializeOwned>(encoded: &str) -> Result<T, Rejection> {
    let json = B64.decode(encoded).map_err(|_| Rejection::Malformed)?;
    serde_json::from_slice(&json).map_err(|_| Rejection::Malformed)
}

/// The signature (the JWT's third part) over header.payload, by `key`.
fn check_signature(key: &PublicKey, message: &[u8], signature: &str) -> Result<(), Rejection> {
    #[cfg(feature = "rust-crypto")]
    if let Some(verifying) = &key.ed25519 {
        return check_ed25519(verifying, message, signature);
    }
    check_with_jsonwebtoken(key, message, signature)
}

/// `jsonwebtoken`'s own signature check, through the build's backend.
fn check_with_jsonwebtoken(
    key: &PublicKey,
    message: &[u8],
    signature: &str,
) -> Result<(), Rejection> {
    match jsonwebtoken::crypto::verify(signature, message, &key.decoding, key.alg) {
        Ok(true) => Ok(()),
        Ok(false) => Err(Rejection::BadSignature),
        Err(e) => Err(reason(e.kind())),
    }
}

/// What `jsonwebtoken`'s RustCrypto verifier does with an Ed25519 key (ed25519-dalek's
/// `Verifier`, the same refusals), with the key decompressed once at load rather than at every
/// check.
#[cfg(feature = "rust-crypto")]
fn check_ed25519(
    key: &ed25519_dalek::VerifyingKey,
    message: &[u8],
    signature: &str,
) -> Result<(), Rejection> {
    use ed25519_dalek::Verifier as _;
    let signature = B64.decode(signature).map_err(|_| Rejection::Malformed)?;
    let signature =
        ed25519_dalek::Signature::from_slice(&signature).map_err(|_| Rejection::BadSignature)?;
    key.verify(message, &signature)
        .map_err(|_| Rejection::BadSignature)
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
        let pkcs1 = B64.decode(rsa.d.as_ref().unwrap()).unwrap();
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

/// `Tokens::verify` is written out for speed; here it is held to `jsonwebtoken::decode`, the
/// check it replaced, over valid and broken tokens of both algorithms.
#[cfg(test)]
mod agreement {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::config::KeyAlg;
    use crate::keys::{KeySetDocument, generate_document_with, stage_key};
    use jsonwebtoken::EncodingKey;

    fn config(alg: KeyAlg) -> TokenConfig {
        TokenConfig {
            issuer: "iss-test".into(),
            audience: "aud-test".into(),
            ttl_seconds: 900,
            leeway_seconds: 30,
            alg,
        }
    }

    /// A key set that verifies with an Ed25519 key ("ed", signing) and an RSA key ("rsa").
    fn document() -> KeySetDocument {
        let ed = generate_document_with("ed", KeyAlg::EdDsa).unwrap();
        let rsa = generate_document_with("rsa", KeyAlg::Rs256).unwrap();
        let mut doc = stage_key(&ed, "spare").unwrap();
        doc.keys.push(rsa.keys[0].clone());
        doc
    }

    fn sign(doc: &KeySetDocument, kid: &str, claims: &serde_json::Value) -> String {
        crate::keys::install_crypto_provider();
        let key = doc.keys.iter().find(|k| k.kid == kid).unwrap();
        let (alg, encoding) = match key.kty.as_str() {
            "RSA" => (
                Algorithm::RS256,
                EncodingKey::from_rsa_der(&B64.decode(key.d.as_ref().unwrap()).unwrap()),
            ),
            _ => {
                let pair = aws_lc_rs::signature::Ed25519KeyPair::from_seed_and_public_key(
                    &B64.decode(key.d.as_ref().unwrap()).unwrap(),
                    &B64.decode(&key.x).unwrap(),
                )
                .unwrap();
                (
                    Algorithm::EdDSA,
                    EncodingKey::from_ed_der(pair.to_pkcs8().unwrap().as_ref()),
                )
            }
        };
        let mut header = Header::new(alg);
        header.kid = Some(kid.into());
        header.typ = Some(ACCESS_TOKEN_TYPE.into());
        encode(&header, claims, &encoding).unwrap()
    }

    /// Both checks' answers for each token, and the tokens where they differ. A token read
    /// across a change of second is read again, so the clock cannot make them differ.
    fn disagreements(doc: &KeySetDocument, tokens: &[String]) -> Vec<String> {
        let verifier = verifier(doc);
        let mut out = Vec::new();
        for token in tokens {
            let (ours, theirs) = loop {
                let before = jsonwebtoken::get_current_timestamp();
                let answers = (
                    verifier.verify(token),
                    verifier.verify_with_jsonwebtoken(token),
                );
                if jsonwebtoken::get_current_timestamp() == before {
                    break answers;
                }
            };
            if ours != theirs {
                out.push(format!("{token}: ours {ours:?}, decode's {theirs:?}"));
            }
        }
        out
    }

    fn verifier(doc: &KeySetDocument) -> Tokens {
        let keys = KeySet::parse(&serde_json::to_string(doc).unwrap()).unwrap();
        Tokens::new(&config(KeyAlg::EdDsa), Arc::new(keys))
    }

    fn claims(now: u64) -> serde_json::Value {
        crate::bad_tokens::claims("iss-test", "aud-test", "alice", now)
    }

    #[test]
    fn agrees_with_jsonwebtoken_decode() {
        let doc = document();
        let now = jsonwebtoken::get_current_timestamp();
        let mut tokens: Vec<String> = crate::bad_tokens::table(&doc, "iss-test", "aud-test", now)
            .into_iter()
            .map(|bad| bad.token)
            .collect();
        let good = [
            sign(&doc, "ed", &claims(now)),
            sign(&doc, "rsa", &claims(now)),
        ];
        tokens.extend(good.iter().cloned());
        // The edges of every time check, the leeway (30 s) included, and the other claims.
        let edges: [(&str, serde_json::Value); 14] = [
            ("exp", (now - 31).into()),
            ("exp", (now - 30).into()),
            ("exp", (now - 29).into()),
            ("exp", 0.into()),
            ("exp", (now as f64 + 900.5).into()),
            ("exp", "soon".into()),
            ("nbf", (now + 29).into()),
            ("nbf", (now + 30).into()),
            ("nbf", (now + 31).into()),
            ("iss", "iss-Test".into()),
            ("iss", serde_json::json!(["iss-test"])),
            ("aud", serde_json::json!(["aud-test"])),
            ("aud", "aud-test ".into()),
            ("sub", serde_json::Value::Null),
        ];
        for (name, value) in edges {
            let mut c = claims(now);
            c[name] = value;
            for kid in ["ed", "rsa"] {
                tokens.push(sign(&doc, kid, &c));
            }
        }
        for name in ["exp", "nbf", "iss", "aud", "sub", "sid", "jti"] {
            let mut c = claims(now);
            c.as_object_mut().unwrap().remove(name);
            tokens.push(sign(&doc, "ed", &c));
        }
        // A token signed by a key the set holds but does not sign with ("spare").
        tokens.push(sign(&doc, "spare", &claims(now)));
        // Every byte of the Ed25519 token replaced in turn (header, claims, signature, dots),
        // and cut short at every length.
        let ed = &good[0];
        for i in 0..ed.len() {
            for c in ['A', 'a', '_', '.', '='] {
                let mut t = ed.clone();
                t.replace_range(i..=i, &c.to_string());
                if t != *ed {
                    tokens.push(t);
                }
            }
            tokens.push(ed[..i].to_owned());
        }
        for extra in [".", "..", "=", "A", ".e30"] {
            tokens.push(format!("{ed}{extra}"));
            tokens.push(format!("{extra}{ed}"));
        }
        let wrong = disagreements(&doc, &tokens);
        assert!(
            wrong.is_empty(),
            "{} of {}: {wrong:#?}",
            wrong.len(),
            tokens.len()
        );
        // The checks above did run both ways: the good tokens pass, most of the rest do not.
        let fast = verifier(&doc);
        assert!(good.iter().all(|t| fast.verify(t).is_ok()));
        let refused = tokens.iter().filter(|t| fast.verify(t).is_err()).count();
        assert!(
            refused > tokens.len() * 9 / 10,
            "{refused} of {}",
            tokens.len()
        );
    }

    /// The leeway's edges, read within one second so that they stay edges: `verify` accepts
    /// exactly what `jsonwebtoken` does at 30 s of leeway.
    #[test]
    fn the_leeway_edges_fall_where_jsonwebtoken_puts_them() {
        let doc = document();
        let tokens = verifier(&doc);
        loop {
            let now = jsonwebtoken::get_current_timestamp();
            let answers: Vec<_> = [
                ("exp", now - 31, Err(Rejection::Expired)),
                ("exp", now - 30, Ok(())),
                ("nbf", now + 30, Ok(())),
                ("nbf", now + 31, Err(Rejection::NotYetValid)),
            ]
            .into_iter()
            .map(|(name, at, want)| {
                let mut c = claims(now);
                c[name] = at.into();
                let token = sign(&doc, "ed", &c);
                (
                    name,
                    at as i64 - now as i64,
                    want,
                    tokens.verify(&token).map(drop),
                )
            })
            .collect();
            if jsonwebtoken::get_current_timestamp() == now {
                for (name, offset, want, got) in answers {
                    assert_eq!(got, want, "{name} at now {offset:+}");
                }
                return;
            }
        }
    }

    /// The decompressed-once Ed25519 check (RustCrypto builds) and `jsonwebtoken`'s own give
    /// the same answer for every signature, and the key set builds the first for Ed25519 keys.
    #[cfg(feature = "rust-crypto")]
    #[test]
    fn the_ed25519_shortcut_answers_as_jsonwebtoken_does() {
        let doc = document();
        let keys = KeySet::parse(&serde_json::to_string(&doc).unwrap()).unwrap();
        let key = keys.verifier("ed").unwrap();
        let verifying = key
            .ed25519
            .as_ref()
            .expect("an Ed25519 key is decompressed at load");
        assert!(keys.verifier("rsa").unwrap().ed25519.is_none());
        let token = sign(&doc, "ed", &claims(jsonwebtoken::get_current_timestamp()));
        let (message, signature) = token.rsplit_once('.').unwrap();
        let mut cases: Vec<(String, String)> = vec![(message.into(), signature.into())];
        for i in 0..signature.len() {
            let mut s = signature.to_owned();
            s.replace_range(i..=i, if &s[i..=i] == "A" { "B" } else { "A" });
            cases.push((message.into(), s));
            cases.push((message.into(), signature[..i].to_owned()));
        }
        // s + the group order: the same signature in a malleated form, with the scalar's top
        // bits still clear, which only the canonical-scalar check refuses.
        const ORDER: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut malleated = B64.decode(signature).unwrap();
        let mut carry = 0u16;
        for (byte, order) in malleated[32..].iter_mut().zip(ORDER) {
            let sum = u16::from(*byte) + u16::from(order) + carry;
            *byte = sum as u8;
            carry = sum >> 8;
        }
        assert_eq!((carry, malleated[63] & 0xe0), (0, 0));
        let malleated = B64.encode(&malleated);
        assert_eq!(
            check_ed25519(verifying, message.as_bytes(), &malleated),
            Err(Rejection::BadSignature)
        );
        cases.push((message.into(), malleated));
        // Another message; s with its top bits set; a signature of 65 bytes.
        cases.push((format!("{message}x"), signature.into()));
        let mut raw = B64.decode(signature).unwrap();
        raw[63] |= 0xf0;
        cases.push((message.into(), B64.encode(&raw)));
        raw.push(0);
        cases.push((message.into(), B64.encode(&raw)));
        // jsonwebtoken's RustCrypto verifier itself, what `protected` used before (in this
        // build `check_with_jsonwebtoken` goes through aws-lc).
        let rust_crypto = |message: &str, signature: &str| {
            let Ok(signature) = B64.decode(signature) else {
                return false;
            };
            let verifier = (jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.verifier_factory)(
                &Algorithm::EdDSA,
                &key.decoding,
            )
            .unwrap();
            jsonwebtoken::signature::Verifier::verify(&*verifier, message.as_bytes(), &signature)
                .is_ok()
        };
        for (message, signature) in &cases {
            let ours = check_ed25519(verifying, message.as_bytes(), signature);
            assert_eq!(
                ours,
                check_with_jsonwebtoken(key, message.as_bytes(), signature),
                "{message}.{signature}"
            );
            assert_eq!(
                ours.is_ok(),
                rust_crypto(message, signature),
                "{message}.{signature}"
            );
        }
        assert_eq!(
            check_ed25519(verifying, message.as_bytes(), signature),
            Ok(())
        );
    }
}
