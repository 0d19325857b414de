//! SSH, with russh: one connection per host, reused for every channel; pinned host keys
//! (an unknown key needs explicit trust, a changed one is refused showing both
//! fingerprints); commands with capped output and secrets on stdin only.
//!
//! Not here: which credential or pin to use for a deployment's host (that is
//! `engine::connect`, which reads the profile, the local state and the keychain).

mod error;
pub mod output;
mod session;

pub use error::SshError;
pub use session::{
    ConnectOptions, Credential, DEFAULT_OUTPUT_CAP, Endpoint, ExecOutput, SeenKey, Session, expand_home,
};
