//! `GET /.well-known/jwks.json`: public keys only, verifiable with a JWK parser.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
use std::sync::Arc;

use jwks::{Deps, Settings};
use shared::config::Vars;
use shared::keys::{KeySet, promote_key};
use shared::testing::{
    Event, access_token, body_json, claims_at, key_document, key_set, key_set_of, rsa_document,
    with_staged_key,
};
use shared::token::Claims;

/// The handler under test; every response is also recorded for the OpenAPI contract check.
async fn handle(
    deps: &Deps,
    req: lambda_http::Request,
) -> lambda_http::Response<lambda_http::Body> {
    shared::testing::call(jwks::handle, deps, req).await
}

/// The function assembled as `main` assembles it, with this cache lifetime and these keys.
fn deps_with(keys: Arc<KeySet>, max_age: u64) -> Deps {
    let vars = Vars::from_pairs([("JWKS_MAX_AGE_SECONDS", max_age.to_string())]);
    Deps::build(Settings::from_vars(&vars).unwrap(), keys).unwrap()
}

#[tokio::test]
async fn sample_event_serves_the_public_keys_with_caching() {
    let deps = deps_with(key_set(), 300);

    let response = handle(&deps, Event::load("jwks").request()).await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "public, max-age=300");
    assert_eq!(response.headers()["content-type"], "application/json");
    let body = body_json(&response);
    let keys = body["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let key = &keys[0];
    assert_eq!(key["kty"], "OKP");
    assert_eq!(key["crv"], "Ed25519");
    assert_eq!(key["use"], "sig");
    assert_eq!(key["alg"], "EdDSA");
    assert_eq!(key["kid"], key_document().signing_kid.as_str());
    assert_eq!(key["x"], key_document().keys[0].x.as_str());
}

#[tokio::test]
async fn never_serves_private_parts() {
    // A rotation: a new signing key staged and promoted, the old one kept to verify.
    let doc = promote_key(&with_staged_key(key_document(), "new"), "new").unwrap();
    let response = handle(
        &deps_with(key_set_of(&doc), 60),
        Event::load("jwks").request(),
    )
    .await;
    let text = String::from_utf8(response.body().to_vec()).unwrap();
    assert_eq!(body_json(&response)["keys"].as_array().unwrap().len(), 2);
    assert!(!text.contains("\"d\""), "{text}");
    assert!(!text.contains("refresh"), "{text}");
    for k in &doc.keys {
        if let Some(d) = &k.d {
            assert!(!text.contains(d.as_str()));
        }
    }
    assert!(!text.contains(&doc.refresh_secret));
}

#[tokio::test]
async fn an_issued_token_verifies_against_the_served_jwk_set() {
    let deps = deps_with(key_set(), 300);
    let response = handle(&deps, Event::load("jwks").request()).await;
    let set: JwkSet = serde_json::from_slice(response.body()).unwrap();
    let token = access_token("alice", "s1", shared::unix_now(), &[]);

    let kid = jsonwebtoken::decode_header(&token).unwrap().kid.unwrap();
    let jwk = set.find(&kid).expect("token's kid is in the set");
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_audience(&["auth-api-test"]);
    let claims = decode::<Claims>(&token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
        .unwrap()
        .claims;
    assert_eq!(claims.preferred_username, "alice");
}

#[tokio::test]
async fn wrong_method_returns_405() {
    let deps = deps_with(key_set(), 300);
    let response = handle(
        &deps,
        Event::load("jwks")
            .route("POST", "/.well-known/jwks.json")
            .request(),
    )
    .await;
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "GET");
}

#[tokio::test]
async fn rsa_keys_are_served_as_rs256_jwks_that_verify_a_token() {
    let doc = rsa_document();
    let kid = doc.signing_kid.as_str();
    let response = handle(
        &deps_with(key_set_of(&doc), 300),
        Event::load("jwks").request(),
    )
    .await;
    let body = body_json(&response);
    let key = &body["keys"][0];
    assert_eq!(
        (
            key["kty"].as_str(),
            key["alg"].as_str(),
            key["use"].as_str()
        ),
        (Some("RSA"), Some("RS256"), Some("sig"))
    );
    assert_eq!(key["n"], doc.keys[0].n.as_str());
    assert_eq!(key["e"], "AQAB");
    assert!(key.get("d").is_none() && key.get("x").is_none(), "{key}");

    // A token signed with that set's key (RS256) verifies with the served JWK alone
    // (jsonwebtoken's own JWK parsing, pinned to RS256).
    let claims = claims_at("alice", shared::unix_now());
    let token = shared::bad_tokens::sign(&doc, &claims, Some(kid), Some("at+jwt"));
    assert_eq!(
        jsonwebtoken::decode_header(&token).unwrap().alg,
        Algorithm::RS256
    );
    let jwks: JwkSet = serde_json::from_slice(response.body()).unwrap();
    let jwk = jwks.find(kid).unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&["auth-api-test"]);
    validation.set_audience(&["auth-api-test"]);
    let claims = decode::<Claims>(&token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
        .unwrap()
        .claims;
    assert_eq!(claims.preferred_username, "alice");
}
