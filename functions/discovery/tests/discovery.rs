//! `GET /.well-known/openid-configuration`, from the sample events.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use discovery::{Deps, Settings};
use serde_json::json;
use shared::config::Vars;
use shared::testing::{Event, body_json, call, test_vars};

fn deps_with(vars: &Vars) -> Deps {
    Deps::build(Settings::from_vars(vars).unwrap()).unwrap()
}

async fn handle(deps: &Deps, event: Event) -> lambda_http::Response<lambda_http::Body> {
    call(discovery::handle, deps, event.request()).await
}

#[tokio::test]
async fn an_issuer_url_gets_its_jwks_uri_under_it_and_the_document_is_cached_like_the_jwks() {
    let mut vars = test_vars();
    vars.set("JWT_ISSUER", "https://auth.example.com/");
    vars.set("JWKS_MAX_AGE_SECONDS", "600");

    let response = handle(&deps_with(&vars), Event::load("discovery")).await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "public, max-age=600");
    assert_eq!(
        body_json(&response),
        json!({
            "issuer": "https://auth.example.com/",
            "jwks_uri": "https://auth.example.com/.well-known/jwks.json",
            "id_token_signing_alg_values_supported": ["EdDSA"],
            "subject_types_supported": ["public"],
            "claims_supported": ["sub", "preferred_username", "sid", "scope", "roles", "iss",
                                 "aud", "exp", "nbf", "iat", "jti"]
        })
    );
}

#[tokio::test]
async fn the_issuer_is_the_tokens_iss_and_a_plain_name_gets_the_deployments_jwks_uri() {
    // The test issuer is not a URL: the `jwks_uri` is the JWKS of the API that answered.
    let response = handle(&deps_with(&test_vars()), Event::load("discovery")).await;

    let body = body_json(&response);
    assert_eq!(body["issuer"], shared::testing::token_config().issuer);
    assert_eq!(
        body["jwks_uri"],
        "https://abc123.execute-api.us-east-1.amazonaws.com/.well-known/jwks.json"
    );
    let local = Event::load("discovery")
        .header("host", Some("127.0.0.1:9000"))
        .request();
    let mut local = local;
    // Locally there is no API Gateway domain name: the Host header is the base URL.
    if let Some(lambda_http::request::RequestContext::ApiGatewayV2(ctx)) =
        lambda_http::RequestExt::request_context_ref(&local).cloned()
    {
        let mut ctx = ctx;
        ctx.domain_name = None;
        local = lambda_http::RequestExt::with_request_context(
            local,
            lambda_http::request::RequestContext::ApiGatewayV2(ctx),
        );
    }
    let body = body_json(&call(discovery::handle, &deps_with(&test_vars()), local).await);
    assert_eq!(
        body["jwks_uri"],
        "http://127.0.0.1:9000/.well-known/jwks.json"
    );
}

#[tokio::test]
async fn wrong_method_is_405() {
    let response = handle(
        &deps_with(&test_vars()),
        Event::load("discovery-wrong-method"),
    )
    .await;
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "GET");
}

#[tokio::test]
async fn with_jwt_alg_rs256_the_document_advertises_rs256() {
    let mut vars = test_vars();
    vars.set("JWT_ALG", "RS256");
    let body = body_json(&handle(&deps_with(&vars), Event::load("discovery")).await);
    assert_eq!(
        body["id_token_signing_alg_values_supported"],
        json!(["RS256"])
    );
    vars.set("JWT_ALG", "HS256");
    assert!(Settings::from_vars(&vars).is_err(), "only EdDSA and RS256");
}
