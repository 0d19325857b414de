//! The engine's one error type. Every variant has a stable code (asserted in tests and
//! shown by the window) and a message that says what happened and what to do. Messages
//! never contain secret values: variants carry names, paths and positions, not data.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every error code, once. The page gets the same list as a TypeScript union
/// (`ui/bindings.d.ts`, generated from this type), so a code the page tests for and the
/// engine no longer raises fails the page's type check.
macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident = $code:literal,)*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[cfg_attr(test, derive(ts_rs::TS))]
        pub enum ErrorCode {
            $($(#[$doc])* #[serde(rename = $code)] $variant,)*
        }

        impl ErrorCode {
            pub const ALL: &[ErrorCode] = &[$(ErrorCode::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)*
                }
            }
        }
    };
}

error_codes! {
    // Actions
    ActionAborted = "action.aborted",
    ActionCancelled = "action.cancelled",
    ActionConfirmationRequired = "action.confirmation_required",
    ActionPlanChanged = "action.plan_changed",
    ActionUnavailable = "action.unavailable",
    ActionVerifyFailed = "action.verify_failed",
    LockFailed = "lock.failed",
    LockTimeout = "lock.timeout",
    // The restore test
    Restore = "restore",
    // Input and profiles
    ArgumentInvalid = "argument.invalid",
    AppProfileUnknown = "app_profile.unknown",
    ProfileInvalid = "profile.invalid",
    RunbookInvalid = "runbook.invalid",
    ProfileSyntax = "profile.syntax",
    DeploymentNoDatabase = "deployment.no_database",
    DeploymentNoEnvFile = "deployment.no_env_file",
    DeploymentUnknown = "deployment.unknown",
    DeploymentUnknownHost = "deployment.unknown_host",
    // Reaching the deployment
    SshAgent = "ssh.agent",
    SshAuthRejected = "ssh.auth_rejected",
    SshBadFingerprint = "ssh.bad_fingerprint",
    SshChannel = "ssh.channel",
    SshConfig = "ssh.config",
    SshDisconnected = "ssh.disconnected",
    SshHostKeyChanged = "ssh.host_key_changed",
    SshHostKeyUnknown = "ssh.host_key_unknown",
    SshJump = "ssh.jump",
    SshKey = "ssh.key",
    SshNotTrusted = "ssh.not_trusted",
    SshPinConflict = "ssh.pin_conflict",
    SshProtocol = "ssh.protocol",
    SshTimeout = "ssh.timeout",
    SshUnreachable = "ssh.unreachable",
    DbBadUrl = "db.bad_url",
    DbConnect = "db.connect",
    DbNoCredentials = "db.no_credentials",
    DbQuery = "db.query",
    DbTls = "db.tls",
    DbTunnel = "db.tunnel",
    DockerApi = "docker.api",
    DockerExitStatus = "docker.exit_status",
    DockerNoSuchContainer = "docker.no_such_container",
    DockerBadName = "docker.bad_name",
    RedisIo = "redis.io",
    RedisProtocol = "redis.protocol",
    RedisRefused = "redis.refused",
    HttpUnreachable = "http.unreachable",
    RemoteEnvFile = "remote.env_file",
    RemoteExitStatus = "remote.exit_status",
    RemoteRead = "remote.read",
    // This console's own state
    IncidentUnknown = "incident.unknown",
    Journal = "journal",
    JournalHead = "journal.head",
    JournalTampered = "journal.tampered",
    KeychainInvalidName = "keychain.invalid_name",
    KeychainLocked = "keychain.locked",
    KeychainNotSet = "keychain.not_set",
    KeychainRejected = "keychain.rejected",
    KeychainTask = "keychain.task",
    KeychainUnavailable = "keychain.unavailable",
    SecretEmpty = "secret.empty",
    StateDatabase = "state.database",
    StateMigration = "state.migration",
    StateNoDataDir = "state.no_data_dir",
    IoRead = "io.read",
    IoWrite = "io.write",
    IoStdin = "io.stdin",
    OutputJson = "output.json",
    /// Raised by the page itself (a script error), never by the engine.
    UiError = "ui.error",
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

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

    /// A restore test that could not start (no backups folder, no backup, no role that
    /// may create its scratch database). A test that ran and failed is a report, not this.
    #[error("restore test: {message}")]
    Restore { message: String },

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

    #[error("cannot write {path}: {source}")]
    WriteFile {
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

    #[error("{detail}")]
    Runbook { detail: String },

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

    #[error(
        "REFUSED: the profile of {d} pins {h} to {p}, but this console trusted {l} ({by}, {at}). \
         One of them is wrong: compare with `ssh-keygen -lf` on the server, then fix the profile \
         or `breakglass forget {d} {h}`",
        d = .0.deployment, h = .0.host, p = .0.profile_pin, l = .0.local_pin, by = .0.trusted_by, at = .0.trusted_at
    )]
    PinConflict(Box<PinConflict>),
}

/// A profile's pin and a local trust decision that disagree (see [`Error::PinConflict`]).
#[derive(Debug)]
pub struct PinConflict {
    pub deployment: String,
    pub host: String,
    pub profile_pin: String,
    pub local_pin: String,
    pub trusted_by: String,
    pub trusted_at: String,
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
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Profile(e) => e.code(),
            Error::Keychain(e) => e.code(),
            Error::Ssh(e) => e.code(),
            Error::Docker(e) => e.code(),
            Error::UnknownDeployment { .. } => ErrorCode::DeploymentUnknown,
            Error::UnknownHost { .. } => ErrorCode::DeploymentUnknownHost,
            Error::BadFingerprint { .. } => ErrorCode::SshBadFingerprint,
            Error::SshConfig { .. } => ErrorCode::SshConfig,
            Error::Journal { .. } => ErrorCode::Journal,
            Error::UnknownAppProfile { .. } => ErrorCode::AppProfileUnknown,
            Error::ActionUnavailable { .. } => ErrorCode::ActionUnavailable,
            Error::Restore { .. } => ErrorCode::Restore,
            Error::ConfirmationRequired { .. } => ErrorCode::ActionConfirmationRequired,
            Error::Cancelled => ErrorCode::ActionCancelled,
            Error::Aborted { .. } => ErrorCode::ActionAborted,
            Error::LockTimeout { .. } => ErrorCode::LockTimeout,
            Error::Lock { .. } => ErrorCode::LockFailed,
            Error::Partial { source, .. } => source.code(),
            Error::PlanChanged { .. } => ErrorCode::ActionPlanChanged,
            Error::BadArgument { .. } => ErrorCode::ArgumentInvalid,
            Error::Redis(e) => e.code(),
            Error::NoEnvFile { .. } => ErrorCode::DeploymentNoEnvFile,
            Error::NoDatabase { .. } => ErrorCode::DeploymentNoDatabase,
            Error::RemoteRead { .. } => ErrorCode::RemoteRead,
            Error::EnvFile { .. } => ErrorCode::RemoteEnvFile,
            Error::Db(e) => e.code(),
            Error::ReadFile { .. } => ErrorCode::IoRead,
            Error::WriteFile { .. } => ErrorCode::IoWrite,
            Error::State { .. } => ErrorCode::StateDatabase,
            Error::Migrate { .. } => ErrorCode::StateMigration,
            Error::NoDataDir => ErrorCode::StateNoDataDir,
            Error::Stdin { .. } => ErrorCode::IoStdin,
            Error::Output { .. } => ErrorCode::OutputJson,
            Error::ExitStatus { .. } => ErrorCode::RemoteExitStatus,
            Error::ContainerExitStatus { .. } => ErrorCode::DockerExitStatus,
            Error::VerifyFailed { .. } => ErrorCode::ActionVerifyFailed,
            Error::JournalTampered { .. } => ErrorCode::JournalTampered,
            Error::UnknownIncident { .. } => ErrorCode::IncidentUnknown,
            Error::Runbook { .. } => ErrorCode::RunbookInvalid,
            Error::EmptySecret => ErrorCode::SecretEmpty,
            Error::HostKeyNotConfirmed { .. } => ErrorCode::SshHostKeyUnknown,
            Error::NotTrusted => ErrorCode::SshNotTrusted,
            Error::BadPastedHead => ErrorCode::JournalHead,
            Error::PinConflict(_) => ErrorCode::SshPinConflict,
        }
    }
}

impl Error {
    /// What a person reads in the window: the same facts as [`Display`](std::fmt::Display),
    /// worded without the command line's commands and flags. `Display` is for logs and
    /// the terminal.
    pub fn user_message(&self) -> String {
        match self {
            Error::UnknownDeployment { name } => {
                format!("no deployment named {name:?} is known: add its profile first")
            }
            Error::ConfirmationRequired { deployment } => {
                format!("this changes {deployment:?}: type the deployment's name to confirm")
            }
            Error::LockTimeout {
                deployment,
                holder,
                waited_secs,
                stale,
            } => format!(
                "{deployment} is locked by another responder: {holder}. Waited {waited_secs} s. {}",
                if *stale {
                    "The lock is stale: if that console is gone, break the lock (it is journaled)"
                } else {
                    "Try again when they are done"
                }
            ),
            Error::HostKeyNotConfirmed { host, fingerprint } => {
                format!("{host} presents an unknown key {fingerprint}: check it out of band, then trust it")
            }
            Error::Keychain(e) => match e.as_ref() {
                crate::engine::keychain::KeychainError::NotSet { deployment, name } => format!(
                    "no {name:?} is stored in the keychain for deployment {deployment:?}: set it under Secrets"
                ),
                _ => self.to_string(),
            },
            Error::Partial { done, source } => format!("{} ({done})", source.user_message()),
            _ => self.to_string(),
        }
    }
}

/// How an error crosses to the window and to `--json` output: a stable code, the
/// message for a person, and the full text for logs and the terminal.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ErrorReport {
    pub code: ErrorCode,
    pub message: String,
    pub detail: String,
}

impl ErrorReport {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let message = message.into();
        ErrorReport {
            code,
            detail: message.clone(),
            message,
        }
    }
}

impl From<&Error> for ErrorReport {
    fn from(e: &Error) -> Self {
        ErrorReport {
            code: e.code(),
            message: e.user_message(),
            detail: e.to_string(),
        }
    }
}

impl<E: Into<Error>> From<E> for ErrorReport {
    fn from(e: E) -> Self {
        ErrorReport::from(&e.into())
    }
}
