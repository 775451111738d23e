//! `POST /login` against the real local DynamoDB-compatible server (`make test` starts it). One
//! test binary for the crate, each file a module, so the AWS SDK is linked once, not per file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cap;
mod handler;
mod helpers;
mod lockout;
mod mfa;
