//! The engine's one error type. Every variant has a stable code (asserted in tests and
//! shown by the window) and a message that says what happened and what to do. Messages
//! never contain secret values: variants carry names, paths and positions, not data.

use std::path::PathBuf;

use serde::Serialize;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Profile(#[from] crate::engine::profiles::ProfileError),

    #[error("{0}")]
    Keychain(#[from] crate::engine::keychain::KeychainError),

    #[error("no deployment named {name:?} is known; add its profile with `breakglass deployment add FILE`")]
    UnknownDeployment { name: String },

    #[error("cannot read {path}: {source}")]
    ReadFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("local state in {path}: {source}")]
    State {
        path: PathBuf,
        #[source]
        source: sqlx::Error,
    },

    #[error("local state migration failed in {path}: {source}")]
    Migrate {
        path: PathBuf,
        #[source]
        source: sqlx::migrate::MigrateError,
    },

    #[error("cannot find a per-user data directory; set BREAKGLASS_DATA_DIR")]
    NoDataDir,
}

impl Error {
    /// A stable, machine-readable code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Profile(e) => e.code(),
            Error::Keychain(e) => e.code(),
            Error::UnknownDeployment { .. } => "deployment.unknown",
            Error::ReadFile { .. } => "io.read",
            Error::State { .. } => "state.database",
            Error::Migrate { .. } => "state.migration",
            Error::NoDataDir => "state.no_data_dir",
        }
    }
}

/// How an error crosses to the window and to `--json` output: `{code, message}`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ErrorReport {
    pub code: String,
    pub message: String,
}

impl From<&Error> for ErrorReport {
    fn from(e: &Error) -> Self {
        ErrorReport {
            code: e.code().to_owned(),
            message: e.to_string(),
        }
    }
}

impl From<Error> for ErrorReport {
    fn from(e: Error) -> Self {
        ErrorReport::from(&e)
    }
}
