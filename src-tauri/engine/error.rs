//! The engine's one error type. Every variant has a stable code (asserted in tests and
//! shown by the window) and a message that says what happened and what to do. Messages
//! never contain secret values: variants carry names, paths and positions, not data.

use std::path::PathBuf;

use serde::Serialize;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Profile(Box<crate::engine::profiles::ProfileError>),

    #[error("{0}")]
    Ssh(Box<crate::engine::ssh::SshError>),

    #[error("{0}")]
    Docker(Box<crate::engine::docker::DockerError>),

    #[error("{0}")]
    Keychain(Box<crate::engine::keychain::KeychainError>),

    #[error("no deployment named {name:?} is known; add its profile with `breakglass deployment add FILE`")]
    UnknownDeployment { name: String },

    #[error("deployment {deployment:?} has no host named {host:?}")]
    UnknownHost { deployment: String, host: String },

    #[error("host {host:?} has no env_file in its profile")]
    NoEnvFile { host: String },

    #[error("deployment {deployment:?} has no [database] in its profile")]
    NoDatabase { deployment: String },

    #[error("{host}: cannot read {path}: {detail}")]
    RemoteRead {
        host: String,
        path: String,
        detail: String,
    },

    #[error("{host}:{path}: {source}")]
    EnvFile {
        host: String,
        path: String,
        #[source]
        source: Box<crate::engine::envfile::EnvFileError>,
    },

    #[error("{message}")]
    SshConfig { message: String },

    #[error("journal: {message}")]
    Journal { message: String },

    #[error(
        "unknown app profile {name:?}: not built in (homechat, harmonic, rails-jwt, crucible) and not at {looked}"
    )]
    UnknownAppProfile { name: String, looked: String },

    #[error("not available: {reason}")]
    ActionUnavailable { reason: String },

    #[error(
        "this changes {deployment:?}: type the deployment's name to confirm (CLI: --confirm {deployment})"
    )]
    ConfirmationRequired { deployment: String },

    #[error(
        "cancelled: no further step ran, and the steps already done were undone (the journal lists each)"
    )]
    Cancelled,

    #[error(
        "aborted during step {step}: that step may or may not have taken effect, nothing was undone; the journal records where it stopped"
    )]
    Aborted { step: usize },

    #[error(
        "{deployment} is locked by another responder: {holder}. Waited {waited_secs} s.{}",
        if *stale { " The lock is stale: if that console is gone, break it with `breakglass lock-break DEPLOYMENT --confirm DEPLOYMENT`" } else { " Try again when they are done" }
    )]
    LockTimeout {
        deployment: String,
        holder: String,
        waited_secs: u64,
        stale: bool,
    },

    /// A step that failed part-way, and what it had done by then.
    #[error("{source} ({done})")]
    Partial { done: String, source: Box<Error> },

    #[error("deployment lock: {message}")]
    Lock { message: String },

    #[error("the live plan differs from the one confirmed: {}. Review the new plan and confirm again", plan.summary)]
    PlanChanged { plan: Box<crate::engine::actions::Plan> },

    #[error("{message}")]
    BadArgument { message: String },

    #[error("{0}")]
    Redis(Box<crate::engine::redis::RedisError>),

    #[error("{reason}")]
    BadFingerprint { reason: String },

    #[error("{0}")]
    Db(Box<crate::engine::db::DbError>),

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

    #[error("cannot read the terminal or standard input: {source}")]
    Stdin {
        #[source]
        source: std::io::Error,
    },

    #[error("cannot write JSON output: {source}")]
    Output {
        #[source]
        source: serde_json::Error,
    },

    #[error("{what} exited with {status}")]
    ExitStatus { what: String, status: String },

    #[error("in the container, the command exited with {status}")]
    ContainerExitStatus { status: String },

    #[error("the action ran, but verification failed: {detail}")]
    VerifyFailed { detail: String },

    #[error("{problems} problem(s) in the journal: it was altered (each is listed above)")]
    JournalTampered { problems: usize },

    #[error("no incident {id} in this console's journal")]
    UnknownIncident { id: i64 },

    #[error("the value is empty: nothing stored")]
    EmptySecret,

    #[error(
        "{host} presents an unknown key {fingerprint}; not a terminal: pass --fingerprint {fingerprint} after checking it out of band"
    )]
    HostKeyNotConfirmed { host: String, fingerprint: String },

    #[error("not trusted; nothing changed")]
    NotTrusted,

    #[error("--expect takes SEQ:HASH or the line `breakglass journal head` printed")]
    BadPastedHead,
}

/// The large error types are boxed so that `Result<T>` stays small on the happy path.
macro_rules! boxed_from {
    ($($variant:ident($ty:ty)),*) => {$(
        impl From<$ty> for Error {
            fn from(e: $ty) -> Self {
                Error::$variant(Box::new(e))
            }
        }
    )*};
}

boxed_from!(
    Profile(crate::engine::profiles::ProfileError),
    Ssh(crate::engine::ssh::SshError),
    Docker(crate::engine::docker::DockerError),
    Db(crate::engine::db::DbError),
    Keychain(crate::engine::keychain::KeychainError),
    Redis(crate::engine::redis::RedisError)
);

impl Error {
    /// A stable, machine-readable code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Profile(e) => e.code(),
            Error::Keychain(e) => e.code(),
            Error::Ssh(e) => e.code(),
            Error::Docker(e) => e.code(),
            Error::UnknownDeployment { .. } => "deployment.unknown",
            Error::UnknownHost { .. } => "deployment.unknown_host",
            Error::BadFingerprint { .. } => "ssh.bad_fingerprint",
            Error::SshConfig { .. } => "ssh.config",
            Error::Journal { .. } => "journal",
            Error::UnknownAppProfile { .. } => "app_profile.unknown",
            Error::ActionUnavailable { .. } => "action.unavailable",
            Error::ConfirmationRequired { .. } => "action.confirmation_required",
            Error::Cancelled => "action.cancelled",
            Error::Aborted { .. } => "action.aborted",
            Error::LockTimeout { .. } => "lock.timeout",
            Error::Lock { .. } => "lock.failed",
            Error::Partial { source, .. } => source.code(),
            Error::PlanChanged { .. } => "action.plan_changed",
            Error::BadArgument { .. } => "argument.invalid",
            Error::Redis(e) => e.code(),
            Error::NoEnvFile { .. } => "deployment.no_env_file",
            Error::NoDatabase { .. } => "deployment.no_database",
            Error::RemoteRead { .. } => "remote.read",
            Error::EnvFile { .. } => "remote.env_file",
            Error::Db(e) => e.code(),
            Error::ReadFile { .. } => "io.read",
            Error::State { .. } => "state.database",
            Error::Migrate { .. } => "state.migration",
            Error::NoDataDir => "state.no_data_dir",
            Error::Stdin { .. } => "io.stdin",
            Error::Output { .. } => "output.json",
            Error::ExitStatus { .. } => "remote.exit_status",
            Error::ContainerExitStatus { .. } => "docker.exit_status",
            Error::VerifyFailed { .. } => "action.verify_failed",
            Error::JournalTampered { .. } => "journal.tampered",
            Error::UnknownIncident { .. } => "incident.unknown",
            Error::EmptySecret => "secret.empty",
            Error::HostKeyNotConfirmed { .. } => "ssh.host_key_unknown",
            Error::NotTrusted => "ssh.not_trusted",
            Error::BadPastedHead => "journal.head",
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

impl<E: Into<Error>> From<E> for ErrorReport {
    fn from(e: E) -> Self {
        ErrorReport::from(&e.into())
    }
}
