//! `GET /protected` from the sample events: the handler, the token attack suite and property
//! tests. One test binary for the crate, each file a module.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod attacks;
mod handler;
mod properties;
