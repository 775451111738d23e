//! `POST /password/forgot` against the local server (`make test` starts it), moto's SES v2
//! included. One test binary for the crate, each file a module, so the AWS SDK is linked once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod faults;
mod handler;
mod helpers;
