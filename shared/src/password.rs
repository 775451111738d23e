//! argon2id password hashing, always off the async thread.

use argon2::password_hash::generate_salt;
use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{ARGON2ID_IDENT, Algorithm, Argon2, Block, Params, Version};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::config::{Argon2Config, ConfigError};
use crate::error::ApiError;
use crate::validation::Password;

/// Hashes and verifies passwords with one set of argon2id parameters.
#[derive(Clone)]
pub struct Passwords {
    params: Params,
    /// A PHC string with the configured parameters that matches no password. Unknown users are
    /// verified against it, so they cost exactly as much as a wrong password.
    dummy_hash: String,
    /// argon2 computations started (hashes and verifications), for tests that must prove a
    /// request was refused before any hashing. One relaxed atomic add per computation.
    computations: Arc<AtomicU64>,
    /// argon2's working memory (m KiB), allocated once per execution environment and reused by
    /// every computation. Without it each hash allocates its m KiB afresh on whichever blocking
    /// thread runs it, and the allocator keeps freed blocks per thread: `login` peaked at
    /// 122 MiB and `register` at 216 MiB for a 19 MiB hash. A Lambda instance serves one
    /// request at a time, so nothing waits on this lock there; concurrent computations in one
    /// process (the tests) take turns. The argon2 crate's own `hash_password_into` allocates
    /// per call, hence `hash_password_into_with_memory` and the PHC string built here.
    memory: Arc<Mutex<Vec<Block>>>,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passwords")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

fn invalid(reason: impl std::fmt::Display) -> ConfigError {
    ConfigError::Invalid {
        name: "ARGON2_*",
        reason: reason.to_string(),
    }
}

impl Passwords {
    /// Hashing with these parameters; parameters argon2 refuses stop the function at start.
    pub fn new(config: Argon2Config) -> Result<Self, ConfigError> {
        let params = Params::new(
            config.memory_kib,
            config.iterations,
            config.parallelism,
            Some(Params::DEFAULT_OUTPUT_LEN),
        )
        .map_err(invalid)?;
        // Built, not computed: verification cost depends only on the parameters in the string,
        // so a random salt and an all-zero output give a full-price check without paying for a
        // hash at cold start. No password hashes to all zeros in practice.
        let dummy = PasswordHash {
            algorithm: ARGON2ID_IDENT,
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&params).map_err(invalid)?,
            salt: Some(Salt::new(&generate_salt()).map_err(invalid)?),
            hash: Some(Output::new(&[0u8; Params::DEFAULT_OUTPUT_LEN]).map_err(invalid)?),
        };
        Ok(Self {
            params,
            dummy_hash: dummy.to_string(),
            computations: Arc::default(),
            memory: Arc::default(),
        })
    }

    /// How many argon2 computations this instance (and its clones) has started.
    pub fn computations(&self) -> u64 {
        self.computations.load(Ordering::Relaxed)
    }

    /// Hashes `password` into a PHC string with a fresh random salt.
    pub async fn hash(&self, password: &Password) -> Result<String, ApiError> {
        let password = password.clone();
        let params = self.params.clone();
        let memory = self.memory.clone();
        self.computations.fetch_add(1, Ordering::Relaxed);
        blocking(move || {
            let failed = |e: &dyn std::fmt::Display| {
                ApiError::Internal(format!("hashing password: {e}").into())
            };
            let salt = generate_salt();
            let output = compute(
                &memory,
                Algorithm::Argon2id,
                Version::V0x13,
                params.clone(),
                password.expose().as_bytes(),
                &salt,
            )
            .map_err(|e| failed(&e))?;
            let hash = PasswordHash {
                algorithm: ARGON2ID_IDENT,
                version: Some(Version::V0x13.into()),
                params: ParamsString::try_from(&params).map_err(|e| failed(&e))?,
                salt: Some(Salt::new(&salt).map_err(|e| failed(&e))?),
                hash: Some(Output::new(&output).map_err(|e| failed(&e))?),
            };
            Ok(hash.to_string())
        })
        .await
    }

    /// True when `stored` is not what the configured parameters make, so a successful login
    /// should replace it: another algorithm or version, less memory (m) or fewer iterations
    /// (t) than configured (more is kept), another parallelism (p) or another output length.
    /// Unreadable: false (the verification itself reports it).
    pub fn needs_rehash(&self, stored: &str) -> bool {
        let Ok(hash) = PasswordHash::new(stored) else {
            return false;
        };
        let Ok(params) = Params::try_from(&hash) else {
            return false;
        };
        let output_len = hash.hash.map(|h| h.len());
        hash.algorithm != ARGON2ID_IDENT
            || hash.version != Some(Version::V0x13.into())
            || params.m_cost() < self.params.m_cost()
            || params.t_cost() < self.params.t_cost()
            || params.p_cost() != self.params.p_cost()
            || output_len
                != Some(
                    self.params
                        .output_len()
                        .unwrap_or(Params::DEFAULT_OUTPUT_LEN),
                )
    }

    /// Verifies `password` against `stored`, or against the dummy hash when there is no user, so
    /// that both cases cost one full argon2 computation. True only for a real match.
    pub async fn verify(
        &self,
        password: &Password,
        stored: Option<&str>,
    ) -> Result<bool, ApiError> {
        let password = password.clone();
        let is_real = stored.is_some();
        let phc = stored.unwrap_or(&self.dummy_hash).to_owned();
        let memory = self.memory.clone();
        self.computations.fetch_add(1, Ordering::Relaxed);
        let matched = blocking(move || {
            let unreadable = |e: &dyn std::fmt::Display| {
                ApiError::Internal(format!("stored hash unreadable: {e}").into())
            };
            let parsed = PasswordHash::new(&phc).map_err(|e| unreadable(&e))?;
            let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
                return Err(unreadable(&"no salt or no hash"));
            };
            // The hash's own algorithm and parameters apply, so older hashes keep verifying
            // after a change (and are rehashed at the next login).
            let algorithm = Algorithm::new(parsed.algorithm).map_err(|e| unreadable(&e))?;
            let version = match parsed.version {
                Some(v) => Version::try_from(v).map_err(|e| unreadable(&e))?,
                // As the argon2 crate's own verifier does: the version it was built with.
                None => Version::V0x13,
            };
            let params = Params::try_from(&parsed).map_err(|e| unreadable(&e))?;
            let output = compute(
                &memory,
                algorithm,
                version,
                params,
                password.expose().as_bytes(),
                salt,
            )
            .map_err(|e| unreadable(&e))?;
            // `Output`'s equality is constant-time.
            Ok(Output::new(&output).is_ok_and(|computed| computed == *expected))
        })
        .await?;
        Ok(matched && is_real)
    }
}

/// One argon2 computation in the shared working memory (grown if these parameters need more):
/// the raw output, of the length `params` asks for.
fn compute(
    memory: &Mutex<Vec<Block>>,
    algorithm: Algorithm,
    version: Version,
    params: Params,
    password: &[u8],
    salt: &[u8],
) -> Result<Vec<u8>, argon2::Error> {
    let mut output = vec![0u8; params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)];
    let needed = params.block_count();
    // A panic mid-computation leaves only scratch memory behind, which the next one overwrites.
    let mut blocks = memory.lock().unwrap_or_else(PoisonError::into_inner);
    if blocks.len() < needed {
        blocks.resize(needed, Block::new());
    }
    Argon2::new(algorithm, version, params).hash_password_into_with_memory(
        password,
        salt,
        &mut output,
        &mut blocks[..needed],
    )?;
    Ok(output)
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::Internal(format!("password task failed: {e}").into()))?
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::validation::{Credentials, Purpose};
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    fn password(p: &str) -> Password {
        let body = serde_json::json!({"username": "alice", "password": p});
        Credentials::parse(body.as_object().unwrap(), Purpose::Login)
            .unwrap()
            .password
    }

    fn cheap() -> Passwords {
        Passwords::new(Argon2Config {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        })
        .unwrap()
    }

    #[tokio::test]
    async fn hash_is_argon2id_phc_and_verifies() {
        let p = cheap();
        let hash = p.hash(&password("correct horse")).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{hash}");
        assert!(
            p.verify(&password("correct horse"), Some(&hash))
                .await
                .unwrap()
        );
        assert!(
            !p.verify(&password("wrong horse"), Some(&hash))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn hashes_in_reused_memory_agree_with_the_argon2_crates_own() {
        let p = Passwords::new(Argon2Config {
            memory_kib: 256,
            iterations: 2,
            parallelism: 1,
        })
        .unwrap();
        let own = Argon2::new(Algorithm::Argon2id, Version::V0x13, p.params.clone());
        // The memory is dirty from the first computation on: every later one must not care.
        for i in 0..3 {
            let secret = format!("correct horse {i}");
            let ours = p.hash(&password(&secret)).await.unwrap();
            let parsed = PasswordHash::new(&ours).unwrap();
            own.verify_password(secret.as_bytes(), &parsed).unwrap();
            let theirs = own.hash_password(secret.as_bytes()).unwrap().to_string();
            assert!(p.verify(&password(&secret), Some(&theirs)).await.unwrap());
            assert!(!p.verify(&password("wrong"), Some(&theirs)).await.unwrap());
        }
        // A hash with other (older) parameters verifies too, growing the memory.
        let bigger = Params::new(512, 1, 1, None).unwrap();
        let older = Argon2::new(Algorithm::Argon2id, Version::V0x13, bigger)
            .hash_password(b"an older hash")
            .unwrap()
            .to_string();
        assert!(
            p.verify(&password("an older hash"), Some(&older))
                .await
                .unwrap()
        );
        assert_eq!(p.memory.lock().unwrap().len(), 512);
    }

    #[tokio::test]
    async fn unknown_user_never_verifies() {
        let p = cheap();
        assert!(!p.verify(&password("x"), None).await.unwrap());
        assert!(!p.verify(&password("anything"), None).await.unwrap());
    }

    #[test]
    fn dummy_hash_has_the_configured_parameters() {
        let p = Passwords::new(Argon2Config::default()).unwrap();
        assert!(
            p.dummy_hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{}",
            p.dummy_hash
        );
        assert!(PasswordHash::new(&p.dummy_hash).is_ok());
    }

    #[tokio::test]
    async fn weaker_hashes_need_a_rehash_and_current_ones_do_not() {
        let weak = cheap().hash(&password("correct horse")).await.unwrap();
        let strong = Passwords::new(Argon2Config {
            memory_kib: 128,
            iterations: 2,
            parallelism: 1,
        })
        .unwrap();
        assert!(strong.needs_rehash(&weak), "fewer KiB and iterations");
        let current = strong.hash(&password("correct horse")).await.unwrap();
        assert!(!strong.needs_rehash(&current));
        assert!(
            !cheap().needs_rehash(&current),
            "stronger than configured is kept"
        );
    }

    #[tokio::test]
    async fn another_version_parallelism_or_output_length_needs_a_rehash() {
        let p = cheap();
        let current = p.hash(&password("correct horse")).await.unwrap();
        assert!(!p.needs_rehash(&current));
        let other = |params: Params, version: Version| {
            Argon2::new(Algorithm::Argon2id, version, params)
                .hash_password(b"correct horse")
                .unwrap()
                .to_string()
        };
        let cases = [
            (
                other(Params::new(64, 1, 1, Some(32)).unwrap(), Version::V0x10),
                "version 0x10",
            ),
            (
                other(Params::new(64, 1, 2, Some(32)).unwrap(), Version::V0x13),
                "p=2",
            ),
            (
                other(Params::new(64, 1, 1, Some(16)).unwrap(), Version::V0x13),
                "16-byte output",
            ),
            (
                other(Params::new(64, 1, 1, Some(64)).unwrap(), Version::V0x13),
                "64-byte output",
            ),
        ];
        for (hash, case) in cases {
            assert!(p.needs_rehash(&hash), "{case}: {hash}");
        }
        let argon2i = Argon2::new(
            Algorithm::Argon2i,
            Version::V0x13,
            Params::new(64, 1, 1, None).unwrap(),
        )
        .hash_password(b"correct horse")
        .unwrap()
        .to_string();
        assert!(p.needs_rehash(&argon2i), "argon2i");
    }

    #[tokio::test]
    async fn unreadable_stored_hash_is_internal_error() {
        let err = cheap()
            .verify(&password("x"), Some("not a phc"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "internal");
    }
}
