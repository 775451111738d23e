//! The floor `make bench` measures every function against: a `lambda_http` handler that returns
//! a fixed 200 JSON body and does nothing else. Not deployed.

use lambda_http::{Error, run, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    run(service_fn(floor::handle)).await
}
