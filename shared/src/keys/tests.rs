//! The key set's tests: documents, master secrets, rotation, RSA, and both backends.

#[cfg(feature = "aws-lc")]
mod documents {
    use crate::config::Vars;
    use crate::keys::*;

    #[test]
    fn the_public_document_of_a_master_secret_is_a_valid_public_only_set() {
        let master = "a generated master secret of more than thirty-two bytes";
        let full = KeySet::parse(master).unwrap();
        let doc = full.public_document();
        let text = serde_json::to_string(&doc).unwrap();
        assert!(
            !text.contains("\"d\"") && doc.refresh_secret.is_empty(),
            "{text}"
        );
        let public = KeySet::parse_public_document(&text).unwrap();
        let kids = |set: &KeySet| -> Vec<(String, String)> {
            set.public_keys()
                .iter()
                .map(|k| (k.kid.clone(), k.x.clone()))
                .collect()
        };
        assert_eq!(kids(&public), kids(&full));
        assert!(public.signing_kid().is_none(), "it signs nothing");
        assert!(
            KeySet::parse(&text).is_err(),
            "a signing function refuses it"
        );
    }

    #[test]
    fn the_public_document_of_an_rsa_set_keeps_its_modulus() {
        let doc = generate_document_with("r1", KeyAlg::Rs256).unwrap();
        let full = KeySet::parse(&serde_json::to_string(&doc).unwrap()).unwrap();
        let public = full.public_document();
        assert_eq!(public.keys[0].kty, "RSA");
        assert_eq!(public.keys[0].n, doc.keys[0].n);
        assert!(public.keys[0].d.is_none());
        KeySet::parse_public_document(&serde_json::to_string(&public).unwrap()).unwrap();
    }

    #[test]
    fn generated_document_round_trips() {
        let doc = generate_document("k1").unwrap();
        let set = KeySet::parse(&serde_json::to_string(&doc).unwrap()).unwrap();
        assert_eq!(set.signing_kid(), Some("k1"));
        assert_eq!(set.public_keys().len(), 1);
        assert!(set.refresh_key().is_some());
    }

    #[test]
    fn rotation_keeps_old_keys_verify_only() {
        let old = generate_document("old").unwrap();
        let new = rotate_document(&old, "new").unwrap();
        assert_eq!(new.signing_kid, "new");
        assert!(
            new.keys
                .iter()
                .find(|k| k.kid == "old")
                .unwrap()
                .d
                .is_none()
        );
        let set = KeySet::parse(&serde_json::to_string(&new).unwrap()).unwrap();
        assert_eq!(set.public_keys().len(), 2);
        assert_eq!(new.refresh_secret, old.refresh_secret);
    }

    #[test]
    fn staged_keys_verify_before_they_sign() {
        let old = generate_document("old").unwrap();
        let staged = stage_key(&old, "new").unwrap();
        let set = KeySet::parse(&serde_json::to_string(&staged).unwrap()).unwrap();
        assert_eq!(
            set.signing_kid(),
            Some("old"),
            "staging does not switch signing"
        );
        assert_eq!(set.public_keys().len(), 2);
        assert!(stage_key(&staged, "new").is_err(), "kid already present");

        let promoted = promote_key(&staged, "new").unwrap();
        let set = KeySet::parse(&serde_json::to_string(&promoted).unwrap()).unwrap();
        assert_eq!(set.signing_kid(), Some("new"));
        assert!(
            promoted
                .keys
                .iter()
                .find(|k| k.kid == "old")
                .unwrap()
                .d
                .is_none()
        );
        assert!(
            promote_key(&promoted, "old").is_err(),
            "a key without d cannot sign"
        );
    }

    #[test]
    fn master_secret_derives_a_stable_key_set() {
        let a = KeySet::parse("a-master-secret-of-more-than-32-bytes-xyz").unwrap();
        let b = KeySet::parse("a-master-secret-of-more-than-32-bytes-xyz").unwrap();
        assert_eq!(a.signing_kid(), b.signing_kid());
        assert_eq!(a.public_keys()[0].x, b.public_keys()[0].x);
        let c = KeySet::parse("another-master-secret-of-32-bytes-or-more").unwrap();
        assert_ne!(a.public_keys()[0].x, c.public_keys()[0].x);
    }

    #[test]
    fn broken_documents_are_refused() {
        let good = generate_document("k1").unwrap();
        let other = generate_key("k2").unwrap();
        let mut mismatched = good.clone();
        mismatched.keys[0].x = other.x.clone();
        let mut no_private = good.clone();
        no_private.keys[0] = no_private.keys[0].without_private_parts();
        let mut wrong_kid = good.clone();
        wrong_kid.signing_kid = "nope".into();
        let mut short_refresh = good.clone();
        short_refresh.refresh_secret = B64.encode([0u8; 8]);
        let mut duplicate = good.clone();
        duplicate.keys.push(duplicate.keys[0].clone());
        let mut wrong_curve = good.clone();
        wrong_curve.keys[0].crv = "P-256".into();
        let reason = |text: &str| match KeySet::parse(text) {
            Err(ConfigError::Invalid { reason, .. }) => reason,
            Err(other) => panic!("{other}"),
            Ok(_) => "accepted".into(),
        };
        let json = |doc: &KeySetDocument| serde_json::to_string(doc).unwrap();
        for (text, case, why) in [
            (
                json(&mismatched),
                "x not matching d",
                "do not form a key pair",
            ),
            (
                json(&no_private),
                "signing key without d",
                "has no private part",
            ),
            (json(&wrong_kid), "signing kid missing", "names no key"),
            (
                json(&short_refresh),
                "short refresh secret",
                "at least 32 bytes",
            ),
            (json(&duplicate), "duplicate kid", "empty or repeated"),
            (
                json(&wrong_curve),
                "not Ed25519",
                "neither an Ed25519 OKP key nor an RSA key",
            ),
            ("short".into(), "short master secret", "at least 32 bytes"),
            ("{not json".into(), "bad json", "not a key set"),
        ] {
            let got = reason(&text);
            assert!(got.contains(why), "{case}: {got}");
        }
    }

    #[test]
    fn a_public_only_document_verifies_and_one_with_private_parts_is_refused_as_public() {
        for alg in [KeyAlg::EdDsa, KeyAlg::Rs256] {
            let doc = generate_document_with("k1", alg).unwrap();
            let mut public = doc.clone();
            public
                .keys
                .iter_mut()
                .for_each(|k| *k = k.without_private_parts());
            public.refresh_secret = String::new();
            let text = serde_json::to_string(&public).unwrap();

            let set = KeySet::parse_public_document(&text).unwrap();
            assert_eq!(set.public_keys().len(), 1);
            assert!(set.signing_alg().is_none() && set.refresh_key().is_none());
            // A signing function refuses it.
            assert!(KeySet::parse(&text).is_err(), "{alg:?}: parse");

            let full = serde_json::to_string(&doc).unwrap();
            assert!(
                KeySet::parse_public_document(&full).is_err(),
                "private parts"
            );
            let mut half = public.clone();
            half.refresh_secret = doc.refresh_secret.clone();
            let half = serde_json::to_string(&half).unwrap();
            assert!(
                KeySet::parse_public_document(&half).is_err(),
                "a refresh secret"
            );
        }
        assert!(KeySet::parse_public_document("a master secret of enough bytes here!").is_err());
    }

    #[tokio::test]
    async fn jwt_public_keys_wins_for_verifying_functions() {
        let doc = generate_document("k9").unwrap();
        let mut public = doc.clone();
        public
            .keys
            .iter_mut()
            .for_each(|k| *k = k.without_private_parts());
        public.refresh_secret = String::new();
        let vars = Vars::from_pairs([
            ("JWT_PUBLIC_KEYS", serde_json::to_string(&public).unwrap()),
            (
                "JWT_KEYS_SECRET_ARN",
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:never-read".to_owned(),
            ),
        ]);
        let set = load_public(&vars).await.unwrap();
        assert_eq!(
            set.public_keys()[0].kid,
            "k9",
            "read without touching the secret"
        );
    }

    #[test]
    fn a_malformed_document_never_echoes_its_content() {
        let secret = "SeCrEt-d-value-0123456789abcdefghijklmnopqrstuvwxyz";
        for text in [
            format!(r#"{{"keys": "{secret}"}}"#),
            format!(r#"{{"keys": [{{"kid": 1, "d": "{secret}"}}]}}"#),
            format!(r#"{{"signing_kid": {{"x": "{secret}"}}, "keys": []}}"#),
            format!(r#"{{"keys": [], "refresh_secret": "{secret}"#),
            format!(r#"{{"keys": [], "refresh_secret": {secret}}}"#),
        ] {
            let message = match KeySet::parse(&text) {
                Err(e) => e.to_string(),
                Ok(_) => panic!("{text} parsed"),
            };
            assert!(!message.contains("SeCrEt"), "{message}");
            assert!(message.contains("not a key set"), "{message}");
        }
    }

    #[test]
    fn parse_for_refresh_builds_the_refresh_key_but_no_signing_key() {
        let doc = generate_document("k").unwrap();
        let text = serde_json::to_string(&doc).unwrap();
        let set = KeySet::parse_for_refresh(&text).unwrap();
        assert!(set.signing_kid().is_none(), "it signs nothing");
        let full = KeySet::parse(&text).unwrap();
        // The same MAC key as the signing functions': a tag made with one checks with the other.
        let tag = hmac::sign(full.refresh_key().unwrap(), b"sid");
        assert!(hmac::verify(set.refresh_key().unwrap(), b"sid", tag.as_ref()).is_ok());
        assert_eq!(set.public_keys()[0].x, doc.keys[0].x);
        // Still a whole document: one without a refresh secret or signing key is refused.
        let mut broken = doc.clone();
        broken.refresh_secret = String::new();
        assert!(KeySet::parse_for_refresh(&serde_json::to_string(&broken).unwrap()).is_err());
        let mut broken = doc;
        broken.keys[0] = broken.keys[0].without_private_parts();
        assert!(KeySet::parse_for_refresh(&serde_json::to_string(&broken).unwrap()).is_err());
        // From a master secret: the MAC key the signing functions derive, and nothing else.
        let master = "a-master-secret-of-more-than-32-bytes-xyz";
        let (set, full) = (
            KeySet::parse_for_refresh(master).unwrap(),
            KeySet::parse(master).unwrap(),
        );
        assert!(set.signing_kid().is_none());
        assert!(set.public_keys().is_empty());
        let tag = hmac::sign(full.refresh_key().unwrap(), b"sid");
        assert!(hmac::verify(set.refresh_key().unwrap(), b"sid", tag.as_ref()).is_ok());
        assert!(KeySet::parse_for_refresh("too short").is_err());
    }

    #[test]
    fn parse_public_builds_no_private_parts_but_validates_the_same() {
        let doc = generate_document("k").unwrap();
        let text = serde_json::to_string(&doc).unwrap();
        let set = KeySet::parse_public(&text).unwrap();
        assert!(set.signing_kid().is_none());
        assert!(set.refresh_key().is_none());
        assert_eq!(set.public_keys()[0].x, doc.keys[0].x);
        let mut broken = doc.clone();
        broken.signing_kid = "nope".into();
        assert!(KeySet::parse_public(&serde_json::to_string(&broken).unwrap()).is_err());
        let derived = KeySet::parse_public("a-master-secret-of-more-than-32-bytes-xyz").unwrap();
        let full = KeySet::parse("a-master-secret-of-more-than-32-bytes-xyz").unwrap();
        assert_eq!(derived.public_keys()[0].x, full.public_keys()[0].x);
    }

    #[test]
    fn public_only_drops_private_parts() {
        let set = KeySet::parse(&serde_json::to_string(&generate_document("k").unwrap()).unwrap())
            .unwrap()
            .public_only();
        assert!(set.signing_kid().is_none());
        assert!(set.refresh_key().is_none());
        assert_eq!(set.public_keys().len(), 1);
    }
}

#[cfg(feature = "aws-lc")]
mod rsa {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use crate::keys::*;

    fn reason(doc: &KeySetDocument) -> String {
        match KeySet::parse(&serde_json::to_string(doc).unwrap()) {
            Err(ConfigError::Invalid { reason, .. }) => reason,
            Err(other) => panic!("{other}"),
            Ok(_) => "accepted".into(),
        }
    }

    #[test]
    fn rsa_documents_parse_and_broken_ones_say_why() {
        let good = generate_document_with("r1", KeyAlg::Rs256).unwrap();
        let set = KeySet::parse(&serde_json::to_string(&good).unwrap()).unwrap();
        assert_eq!(set.signing_alg(), Some(Algorithm::RS256));
        assert_eq!(set.public_keys()[0].alg, Algorithm::RS256);
        assert_eq!(
            B64.decode(&set.public_keys()[0].n).unwrap().len(),
            256,
            "2048 bits"
        );

        let other = generate_key_with("r2", KeyAlg::Rs256).unwrap();
        let mut mismatched = good.clone();
        mismatched.keys[0].n = other.n.clone();
        // The components no longer fit together: the private key does not load at all.
        assert!(
            reason(&mismatched).contains("does not load"),
            "{}",
            reason(&mismatched)
        );
        // In the older form (d is the DER), a DER that is not the pair of n and e is refused.
        let mut legacy: KeySetDocument =
            serde_json::from_str(include_str!("../testing/test-only-keys/test-rsa.json")).unwrap();
        legacy.keys[0].n = other.n.clone();
        assert!(
            reason(&legacy).contains("do not form a key pair"),
            "{}",
            reason(&legacy)
        );
        let mut short = good.clone();
        short.keys[0].n = B64.encode([0xffu8; 128]);
        short.keys[0] = short.keys[0].without_private_parts();
        short.signing_kid = "none".into();
        assert!(reason(&short).contains("at least 2048 bits"));
        // 256 bytes, but the top byte's high bit clear: 2047 bits, which a count of bytes passes.
        let mut top_bit_clear = [0xffu8; 256];
        top_bit_clear[0] = 0x7f;
        short.keys[0].n = B64.encode(top_bit_clear);
        assert!(reason(&short).contains("at least 2048 bits"));
        for (e, case) in [
            (vec![1u8], "e = 1"),
            (vec![0x01, 0x00, 0x00], "even"),
            (vec![0x01, 0x00, 0x00, 0x00, 0x01], "over 32 bits"),
            (vec![0u8], "zero"),
        ] {
            let mut weak = good.clone();
            weak.keys[0].e = B64.encode(&e);
            weak.keys[0] = weak.keys[0].without_private_parts();
            weak.signing_kid = "none".into();
            assert!(
                reason(&weak).contains("exponent"),
                "{case}: {}",
                reason(&weak)
            );
        }
        let mut bad_private = good.clone();
        bad_private.keys[0].d = Some(B64.encode(b"not a key"));
        assert!(
            reason(&bad_private).contains("does not load"),
            "{}",
            reason(&bad_private)
        );
        let mut missing = good.clone();
        missing.keys[0].qi = None;
        assert!(
            reason(&missing).contains("needs qi"),
            "{}",
            reason(&missing)
        );
    }

    /// Signs with the set's signing key and checks the signature with its public key, through
    /// jsonwebtoken as the functions do.
    fn signs_and_verifies(doc: &KeySetDocument) {
        let set = KeySet::parse(&serde_json::to_string(doc).unwrap()).unwrap();
        let signing = set.signing.as_ref().unwrap();
        assert_eq!(signing.alg, Algorithm::RS256);
        let header = jsonwebtoken::Header::new(Algorithm::RS256);
        let claims = serde_json::json!({"sub": "id"});
        let token = jsonwebtoken::encode(&header, &claims, &signing.encoding).unwrap();
        let mut validation = jsonwebtoken::Validation::new(Algorithm::RS256);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        let key = &set.verifier(&signing.kid).unwrap().decoding;
        let checked = jsonwebtoken::decode::<serde_json::Value>(&token, key, &validation).unwrap();
        assert_eq!(checked.claims["sub"], "id");
    }

    #[test]
    fn keygen_writes_a_standard_private_jwk_and_a_jose_librarys_key_loads_here() {
        // keygen's form (RFC 7518 section 6.3.2): the private exponent and the CRT parts.
        let ours = generate_document_with("r1", KeyAlg::Rs256).unwrap();
        let key = &ours.keys[0];
        for (name, part) in [
            ("d", &key.d),
            ("p", &key.p),
            ("q", &key.q),
            ("dp", &key.dp),
            ("dq", &key.dq),
            ("qi", &key.qi),
        ] {
            let bytes = B64.decode(part.as_deref().unwrap()).unwrap();
            // About half the modulus (the CRT parts) or all of it (d); a leading zero byte
            // is dropped, so a few bytes less now and then.
            assert!(
                (120..=256).contains(&bytes.len()),
                "{name}: {} bytes",
                bytes.len()
            );
        }
        // The exponent, not the older form's DER (a SEQUENCE of ~1,200 bytes).
        let d = B64.decode(key.d.as_deref().unwrap()).unwrap();
        assert!(d.len() <= 256 && d.len() > 240, "d: {} bytes", d.len());
        signs_and_verifies(&ours);
        // A key PyJWT wrote (RSAAlgorithm.to_jwk), and this project's older form (d = DER).
        for fixture in [
            include_str!("../testing/test-only-keys/pyjwt-rsa.json"),
            include_str!("../testing/test-only-keys/test-rsa.json"),
        ] {
            signs_and_verifies(&serde_json::from_str(fixture).unwrap());
        }
        // Published or demoted, an RSA key keeps none of its private parts.
        let public = KeySet::parse(&serde_json::to_string(&ours).unwrap())
            .unwrap()
            .public_document();
        assert!(!public.keys[0].has_private_parts());
        let rotated = rotate_document(&ours, "r2").unwrap();
        let old = rotated.keys.iter().find(|k| k.kid == "r1").unwrap();
        assert!(!old.has_private_parts(), "{old:?}");
    }

    #[test]
    fn public_only_rsa_sets_build_no_signer_and_rotation_keeps_the_family() {
        let doc = generate_document_with("r1", KeyAlg::Rs256).unwrap();
        let public = KeySet::parse_public(&serde_json::to_string(&doc).unwrap()).unwrap();
        assert!(public.signing_alg().is_none() && public.refresh_key().is_none());
        let rotated = rotate_document(&doc, "r2").unwrap();
        let signing = rotated.keys.iter().find(|k| k.kid == "r2").unwrap();
        assert_eq!(signing.kty, "RSA");
        assert!(
            rotated
                .keys
                .iter()
                .find(|k| k.kid == "r1")
                .unwrap()
                .d
                .is_none()
        );
        assert!(KeySet::parse(&serde_json::to_string(&rotated).unwrap()).is_ok());
    }
}

/// `protected` and `jwks`, built alone, check tokens through RustCrypto while every signer signs
/// through aws-lc: the keys as this module builds them must mean the same to both backends.
#[cfg(all(feature = "aws-lc", feature = "rust-crypto"))]
mod backends {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use crate::keys::*;
    use jsonwebtoken::crypto::{aws_lc, rust_crypto};

    /// A JWS signed by the set's signing key through aws-lc: its signing input and signature.
    fn signed(set: &KeySet, alg: Algorithm) -> (Vec<u8>, Vec<u8>) {
        let signing = set.signing.as_ref().unwrap();
        let message = b"eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0".to_vec();
        let signer = (aws_lc::DEFAULT_PROVIDER.signer_factory)(&alg, &signing.encoding).unwrap();
        let signature = signature::Signer::try_sign(&*signer, &message).unwrap();
        (message, signature)
    }

    fn rust_crypto_accepts(set: &KeySet, alg: Algorithm, message: &[u8], sig: &[u8]) -> bool {
        let key = &set.public_keys()[0].decoding;
        let verifier = (rust_crypto::DEFAULT_PROVIDER.verifier_factory)(&alg, key).unwrap();
        signature::Verifier::verify(&*verifier, message, &sig.to_vec()).is_ok()
    }

    #[test]
    fn rust_crypto_verifies_what_aws_lc_signs_and_nothing_else() {
        for (alg, key_alg) in [
            (Algorithm::EdDSA, KeyAlg::EdDsa),
            (Algorithm::RS256, KeyAlg::Rs256),
        ] {
            let doc = generate_document_with("k", key_alg).unwrap();
            let set = KeySet::parse(&serde_json::to_string(&doc).unwrap()).unwrap();
            let (message, sig) = signed(&set, alg);
            assert!(rust_crypto_accepts(&set, alg, &message, &sig), "{alg:?}");

            let mut tampered = message.clone();
            *tampered.last_mut().unwrap() ^= 1;
            assert!(!rust_crypto_accepts(&set, alg, &tampered, &sig), "{alg:?}");
            let mut forged = sig.clone();
            forged[0] ^= 1;
            assert!(
                !rust_crypto_accepts(&set, alg, &message, &forged),
                "{alg:?}"
            );
            // Another key of the same family does not verify it.
            let other = generate_document_with("k", key_alg).unwrap();
            let other = KeySet::parse(&serde_json::to_string(&other).unwrap()).unwrap();
            assert!(!rust_crypto_accepts(&other, alg, &message, &sig), "{alg:?}");
        }
    }
}
