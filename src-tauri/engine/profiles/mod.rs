//! Deployment profiles: the TOML file that describes one deployment (hosts, how to reach
//! them, pinned host keys, where the `.env` lives, how to reach the database, which
//! containers use which variables). A profile holds no secret, so teams keep it in git.
//!
//! Parsing is strict: unknown keys, wrong types, dangling host references and malformed
//! fingerprints are errors that name the file, line and column and say what was expected.
//! The format is documented in `docs/profiles.md`.

pub mod app;
pub mod catalog;
mod deployment;
pub mod discover;
mod error;
pub mod proxy;
pub mod rotation;
pub mod ssh_config;

pub use deployment::*;
pub use error::ProfileError;
