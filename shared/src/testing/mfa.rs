//! The second-factor helpers (feature `test-util`): the test-only sealing key, TOTP codes right
//! and wrong, a user's MFA left pending or turned on straight in a store (as `POST /mfa/totp` and
//! its confirmation would), codes spent as a login would spend them, and checks of what a user
//! holds.

use std::sync::Arc;

use serde_json::Value;

use super::{SignedIn, signed_in, user_id_of};
use crate::mfa::MfaKey;
use crate::store::{MfaChange, MfaProof, Store, UserRecord, UserStore};

/// The test-only key that seals TOTP secrets (never deployed: deployed functions read theirs
/// from Secrets Manager).
pub fn mfa_key() -> Arc<MfaKey> {
    Arc::new(
        MfaKey::from_material(b"test-only mfa sealing key material, never deployed")
            .expect("32 bytes or more"),
    )
}

/// A user's second factor, as the helpers turned it on: the TOTP secret and the recovery codes.
#[derive(Debug, Clone)]
pub struct Mfa {
    /// The TOTP secret.
    pub secret: Vec<u8>,
    /// The recovery codes, as shown at confirmation.
    pub recovery_codes: Vec<String>,
}

impl Mfa {
    /// The TOTP code of time `at` (what an authenticator app shows then), from `totp-rs`.
    pub fn code(&self, at: u64) -> String {
        totp_code(&self.secret, at)
    }
}

/// The TOTP code of `secret` at time `at` (RFC 6238: SHA-1, 6 digits, 30 s), from `totp-rs`.
pub fn totp_code(secret: &[u8], at: u64) -> String {
    totp_rs::Builder::new()
        .with_secret(secret.to_vec())
        .build_noncompliant()
        .generate(at)
        .to_string()
}

/// A six-digit code that is not `secret`'s at `now` or one step either side.
pub fn wrong_code(secret: &[u8], now: u64) -> String {
    let near: Vec<String> = [now - 30, now, now + 30]
        .iter()
        .map(|t| totp_code(secret, *t))
        .collect();
    ["000000", "111111", "222222", "333333"]
        .into_iter()
        .find(|c| !near.iter().any(|n| n == c))
        .unwrap()
        .to_owned()
}

/// A new TOTP secret left pending for the existing user `name`, as `POST /mfa/totp` leaves it
/// (sealed with [`mfa_key`]): the secret, and its sealed form as stored.
async fn pend(store: &dyn UserStore, name: &str) -> (Vec<u8>, String) {
    let secret = crate::mfa::new_secret().unwrap();
    let sealed = mfa_key().seal(&user_id_of(name), &secret).unwrap();
    write(
        store,
        name,
        MfaProof::Nothing,
        MfaChange::Pending(sealed.clone()),
    )
    .await;
    (secret, sealed)
}

/// A TOTP enrollment left pending for the existing user `name`, as `POST /mfa/totp` leaves it
/// (sealed with [`mfa_key`]): its secret.
pub async fn enroll_pending(store: &dyn UserStore, name: &str) -> Vec<u8> {
    pend(store, name).await.0
}

/// Turns MFA on for the existing user `name` straight in the store, as `POST /mfa/totp` and
/// its confirmation would (sealed with [`mfa_key`], confirmed with no step accepted yet).
pub async fn enable_mfa(store: &dyn UserStore, name: &str) -> Mfa {
    let (secret, sealed) = pend(store, name).await;
    let recovery_codes = crate::mfa::new_recovery_codes().unwrap();
    let recovery = crate::mfa::recovery_code_hashes(&user_id_of(name), &recovery_codes).unwrap();
    let confirm = MfaChange::Confirm {
        pending: sealed,
        recovery,
    };
    write(store, name, MfaProof::Nothing, confirm).await;
    Mfa {
        secret,
        recovery_codes,
    }
}

/// A new user signed in on `store` at `now` (see [`signed_in`]) whose MFA is then turned on
/// ([`enable_mfa`]).
pub async fn signed_in_with_mfa(store: Arc<dyn Store>, now: u64) -> (SignedIn, Mfa) {
    let user = signed_in(store.clone(), now).await;
    let mfa = enable_mfa(store.as_ref(), &user.name).await;
    (user, mfa)
}

/// Spends the recovery code `code` of the user `name`, as a login with it would.
pub async fn use_recovery_code(store: &dyn UserStore, name: &str, code: &str) {
    let hash = crate::mfa::recovery_code_hash(&user_id_of(name), code).unwrap();
    write(
        store,
        name,
        MfaProof::RecoveryCode(hash),
        MfaChange::Consume,
    )
    .await;
}

/// Accepts the TOTP time step `step` of the user `name`, as a login with its code would.
pub async fn spend_step(store: &dyn UserStore, name: &str, step: u64) {
    write(store, name, MfaProof::Step(step), MfaChange::Consume).await;
}

/// One second-factor write for the user `name`, which must land.
async fn write(store: &dyn UserStore, name: &str, proof: MfaProof, change: MfaChange) {
    let written = store
        .update_mfa(&name.to_lowercase(), &user_id_of(name), &proof, &change)
        .await
        .unwrap();
    assert!(written, "the second-factor write for {name} landed");
}

/// Whether `code` (a TOTP or recovery code) would pass now for `user` as stored: right, and not
/// yet accepted or used.
pub fn code_works(user: &UserRecord, code: &str, now: u64) -> bool {
    crate::account::proof_of(&mfa_key(), user, code, now)
        .unwrap()
        .is_some()
}

/// The `recovery_codes` of a response body.
pub fn recovery_codes_of(body: &Value) -> Vec<String> {
    body["recovery_codes"]
        .as_array()
        .unwrap_or_else(|| panic!("recovery_codes: {body}"))
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect()
}

/// Asserts that `user` holds exactly the hashes of `codes` as recovery codes (in any order).
#[track_caller]
pub fn assert_recovery_codes(user: &UserRecord, codes: &[String], message: &str) {
    let user_id = user.user_id.as_deref().expect("a user with an id");
    let mut expected = crate::mfa::recovery_code_hashes(user_id, codes).unwrap();
    let mut held = user.mfa.recovery.clone();
    expected.sort();
    held.sort();
    assert_eq!(held, expected, "{message}");
}
