//! Breakglass: an incident-response console for self-hosted web applications.
//!
//! The crate has three layers, each in its own folder:
//! - [`engine`]: everything that does the work (profiles, local state, SSH, Docker,
//!   PostgreSQL, the keychain, actions, the journal). It never imports Tauri, so the
//!   command-line console and the tests use it without WebKit.
//! - `cli/`: the `breakglass` binary, a thin layer of argument parsing over the engine.
//! - `desktop` (feature `desktop`): the Tauri v2 window, a thin layer of commands and
//!   events over the same engine.

pub mod engine;

#[cfg(feature = "desktop")]
pub mod desktop;
