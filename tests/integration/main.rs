//! Integration tests against the real testbed (`tests/testbed/up`): real sshd, dockerd,
//! PostgreSQL, Redis and the Secret Service. One module per feature; each reads like
//! the runbook step it checks. Run them with `./dev test`.

// Test code: a failed unwrap is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod testbed;

mod rotation_setup;

mod actions;
mod database;
mod docker;
mod env_write;
mod exec;
mod harden;
mod init;
mod keychain;
mod local_state;
mod restore;
mod smoke;
mod ssh;
mod status;
