//! `GET /.well-known/jwks.json` as `jwks`, built with the Secrets Manager client: it serves
//! while no `PublicKeySet` is given, reading the public keys from the signing-keys secret. The
//! handler is `jwks`'s own.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    jwks::serve().await
}
