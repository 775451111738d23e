//! `POST /password/reset` against the local server (`make test` starts it), moto's SES v2
//! included. One test binary for the crate, each file a module, so the AWS SDK is linked once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod handler;
mod helpers;
mod links;
