//! The test keys and the tokens signed with them. Nothing here builds a signing key set: tokens
//! are signed through jsonwebtoken from the fixed documents' private parts, so these helpers work
//! in a verify-only build (RustCrypto, no aws-lc) as in a signing one.

use std::sync::{Arc, OnceLock};

use serde_json::Value;

use crate::keys::{KeySet, KeySetDocument};

/// Token settings for tests.
pub fn token_config() -> crate::config::TokenConfig {
    crate::config::TokenConfig {
        issuer: "auth-api-test".into(),
        audience: "auth-api-test".into(),
        ttl_seconds: 900,
        leeway_seconds: 30,
        alg: crate::config::KeyAlg::EdDsa,
    }
}

/// The test key set: a fixed test-only document (`test-only-keys/test-key.json`, never a deployed
/// key), with its signing key's private part and a refresh secret.
pub fn key_document() -> &'static KeySetDocument {
    static DOC: OnceLock<KeySetDocument> = OnceLock::new();
    DOC.get_or_init(|| serde_json::from_str(include_str!("test-only-keys/test-key.json")).unwrap())
}

/// A fixed test-only RS256 key set (RSA 2048, `test-only-keys/test-rsa.json`).
pub fn rsa_document() -> KeySetDocument {
    serde_json::from_str(include_str!("test-only-keys/test-rsa.json")).unwrap()
}

/// A key set whose one key, under `kid`, is trusted by no test key set: a forger's key.
pub fn stranger_document(kid: &str) -> KeySetDocument {
    crate::bad_tokens::stranger(kid)
}

/// `doc` with a second fixed key (`test-only-keys/staged.json`) added under `kid`, which verifies
/// but does not sign: what `keys::stage_key` makes with a generated key. With
/// [`crate::keys::promote_key`] after it, a rotation.
pub fn with_staged_key(doc: &KeySetDocument, kid: &str) -> KeySetDocument {
    let staged: KeySetDocument =
        serde_json::from_str(include_str!("test-only-keys/staged.json")).unwrap();
    assert!(
        doc.keys.iter().all(|k| k.kid != kid),
        "{kid} is already in the set"
    );
    let mut key = staged.keys[0].clone();
    key.kid = kid.to_owned();
    let mut next = doc.clone();
    next.keys.insert(0, key);
    next
}

/// The key set of `doc` as this build can hold it: every part when it has aws-lc (what the
/// signing functions' fixtures need), only the public keys otherwise, as a verify-only function
/// holds them.
pub fn key_set_of(doc: &KeySetDocument) -> Arc<KeySet> {
    let text = serde_json::to_string(doc).unwrap();
    #[cfg(feature = "aws-lc")]
    let set = KeySet::parse(&text);
    #[cfg(not(feature = "aws-lc"))]
    let set = KeySet::parse_public(&text);
    Arc::new(set.unwrap())
}

/// The key set of [`key_document`] (see [`key_set_of`]).
pub fn key_set() -> Arc<KeySet> {
    key_set_of(key_document())
}

/// The id the test helpers give `username` (stable per name, unlike a registered user's).
pub fn user_id_of(username: &str) -> String {
    format!("uid-{}", username.to_lowercase())
}

/// An access token for `username` in session `sid` at `now`, with the default roles (`user`,
/// scope `profile`) or these explicit ones, signed with [`key_document`]'s signing key: the
/// claims and header `Tokens::issue` gives, signed here because a verify-only build holds no
/// signing key.
pub fn access_token(username: &str, sid: &str, now: u64, roles: &[&str]) -> String {
    access_token_with_amr(username, sid, now, roles, &["pwd"])
}

/// [`access_token`] with these `amr` values (`["mfa", "otp", "pwd"]`: a login with a TOTP code).
pub fn access_token_with_amr(
    username: &str,
    sid: &str,
    now: u64,
    roles: &[&str],
    amr: &[&str],
) -> String {
    let roles: Vec<String> = roles.iter().map(|r| (*r).to_owned()).collect();
    let grant = crate::roles::RoleScopes::parse(crate::roles::DEFAULT_ROLE_SCOPES)
        .unwrap()
        .grant(&roles);
    let config = token_config();
    let claims = crate::token::Claims {
        sub: user_id_of(username),
        preferred_username: username.to_owned(),
        sid: sid.to_owned(),
        scope: grant.scope,
        roles: grant.roles,
        amr: amr.iter().map(|m| (*m).to_owned()).collect(),
        iat: now,
        nbf: now,
        exp: now + config.ttl_seconds,
        jti: uuid::Uuid::new_v4().to_string(),
        iss: config.issuer,
        aud: config.audience,
    };
    sign_claims(
        &serde_json::to_value(claims).unwrap(),
        Some(&key_document().signing_kid),
        Some(crate::token::ACCESS_TOKEN_TYPE),
    )
}

/// A plain user's `Authorization` header value (scope `profile` only).
pub fn user_bearer(name: &str) -> String {
    format!(
        "Bearer {}",
        access_token(name, "user-session", crate::unix_now(), &[])
    )
}

/// The access-token verifier of [`key_set`] and the test settings (it also issues in a build
/// with aws-lc, whose key set holds the signing key).
pub fn tokens() -> crate::token::Tokens {
    crate::token::Tokens::new(&token_config(), key_set())
}

/// Signs `claims` with the test key set's signing key as an EdDSA JWT with the given `kid` and
/// `typ` header values, for hand-made good and bad tokens.
pub fn sign_claims(claims: &Value, kid: Option<&str>, typ: Option<&str>) -> String {
    crate::bad_tokens::sign(key_document(), claims, kid, typ)
}

/// Valid access-token claims for `sub` at `now`, matching [`token_config`].
pub fn claims_at(sub: &str, now: u64) -> Value {
    crate::bad_tokens::claims("auth-api-test", "auth-api-test", sub, now)
}

/// The bad-token table ([`crate::bad_tokens`]) against the test key set and settings.
pub fn bad_tokens(now: u64) -> Vec<crate::bad_tokens::BadToken> {
    crate::bad_tokens::table(key_document(), "auth-api-test", "auth-api-test", now)
}
