//! Checks that read the repository rather than run a function: the module layers of `shared`,
//! the route table against the files that repeat it, what `template.yaml` must never do, and its
//! alarms and dashboard against the metrics the code emits.
//! One test binary for the crate, each file a module.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod alarms;
mod helpers;
mod layering;
mod routes;
mod stack;
mod template;
