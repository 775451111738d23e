//! The floor with the AWS SDK: `floor`'s fixed 200 answer, after the set-up every function that
//! links the SDK makes at init (the JSON log subscriber, and the DynamoDB client as
//! `shared::store::dynamo::DynamoStore::connect` builds it), and nothing else. `make bench`
//! prints the SDK functions' init beside it, so what the SDK costs can be told apart from what a
//! function adds. Not deployed.

use lambda_http::{Error, run, service_fn};
use shared::config::{Table, Tables, Vars};
use shared::store::dynamo::DynamoStore;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let tables = Tables::from_vars(&Vars::env(), &[Table::Users])?;
    // Built and kept, unused, for as long as the runtime serves.
    let _store = DynamoStore::connect(tables)?;
    run(service_fn(floor::handle)).await
}
