use lambda_http::{Error, run, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let deps = email_resend::Deps::from_env().await?;
    let deps = &deps;
    run(service_fn(move |req| async move {
        Ok::<_, Error>(email_resend::handle(deps, req).await)
    }))
    .await
}
