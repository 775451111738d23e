//! The tests that drive several functions, against the real local DynamoDB-compatible server
//! (`make test` starts it): fault injection, accounts and authorization across functions, the
//! audit trail and logs, least privilege, the deployed environment and the sliding-log limits.
//! One test binary, each file a module, so the AWS SDK and every function are linked once.
//!
//! The audit and log tests capture what a subscriber writes: each installs its own for its
//! thread only (`helpers::set_default`, which says why it is more than `tracing`'s), so the tests
//! beside them in this process neither write into their capture nor see their subscriber.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod accounts;
mod audit;
mod authorization;
mod deployed_env;
mod email_store;
mod faults;
mod helpers;
mod iam;
mod logs;
mod metrics;
mod mfa_store;
mod sliding_log;
// The template as CloudFormation deploys it for a choice of parameters: the one evaluator,
// shared with `shared`'s template tests (which use the rest of it).
#[allow(dead_code)]
#[path = "../../../../shared/tests/consistency/stack.rs"]
mod stack;
