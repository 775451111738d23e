//! `GET /protected` as `protected`, built with the session check (`SESSION_CHECK=true`): the
//! handler is `protected`'s own.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    protected::serve().await
}
