//! The OS keychain: every credential the console needs (an SSH key's passphrase, an SSH
//! password, a database password that is not in `.env`, object-storage keys) lives here,
//! never in a file of ours. Service `breakglass`, one entry per deployment and name
//! (`<deployment>/<name>`). Linux uses the Secret Service (gnome-keyring, KeePassXC…),
//! macOS the Keychain, Windows the Credential Manager.
//!
//! A stored value can be set, replaced, deleted and tested for; it is never shown again.
//! The backend is blocking D-Bus on Linux, so every call runs on the blocking pool.

use crate::engine::error::ErrorCode;
use crate::engine::secret::Sensitive;

pub const SERVICE: &str = "breakglass";

/// Well-known entry names.
pub const SSH_KEY_PASSPHRASE: &str = "ssh-key-passphrase";
pub fn ssh_password(host: &str) -> String {
    format!("ssh-password:{host}")
}
pub const DB_PASSWORD: &str = "db-password";
/// The password of the idle one of `[database] alternating_users`.
pub const DB_STANDBY_PASSWORD: &str = "db-standby-password";
/// The password of the deployment's canary account (profile `[probe]`).
pub const PROBE_PASSWORD: &str = "probe-password";
/// An API token of the deployment's canary account.
pub const PROBE_TOKEN: &str = "probe-token";
/// The password of the role a restore test creates its scratch database with
/// (profile `backups.restore_user`).
pub const RESTORE_PASSWORD: &str = "restore-password";
/// The key of encrypted backups: an age identity, or a gpg passphrase.
pub const BACKUP_KEY: &str = "backup-key";
/// The access key (id) of the backups' S3 bucket (profile `[backups.s3]`).
pub const S3_ACCESS_KEY: &str = "s3-access-key";
/// Its secret key.
pub const S3_SECRET_KEY: &str = "s3-secret-key";

/// A keychain entry a deployment uses, and whether it is set. Never the value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct SecretEntry {
    pub name: String,
    /// What the entry is for, in a person's words.
    pub purpose: String,
    pub set: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum KeychainError {
    #[error(
        "no keychain service is running ({detail}). On Linux, start a Secret Service \
         (gnome-keyring-daemon or KeePassXC with Secret Service enabled) in your desktop session"
    )]
    Unavailable { detail: String },
    #[error(
        "the keychain is locked or has no default collection ({detail}). Unlock it (or create \
         a default keyring, e.g. in Seahorse) and try again"
    )]
    NoStorage { detail: String },
    #[error(
        "no {name:?} is stored in the keychain for deployment {deployment:?}; set it with `breakglass secret set {deployment} {name}`"
    )]
    NotSet { deployment: String, name: String },
    #[error("keychain entry name {name:?}: {reason}")]
    InvalidName { name: String, reason: String },
    #[error("the keychain rejected the value: {detail}")]
    Rejected { detail: String },
    #[error("the keychain task failed: {0}")]
    Task(String),
}

impl KeychainError {
    pub fn code(&self) -> ErrorCode {
        match self {
            KeychainError::Unavailable { .. } => ErrorCode::KeychainUnavailable,
            KeychainError::NoStorage { .. } => ErrorCode::KeychainLocked,
            KeychainError::NotSet { .. } => ErrorCode::KeychainNotSet,
            KeychainError::InvalidName { .. } => ErrorCode::KeychainInvalidName,
            KeychainError::Rejected { .. } => ErrorCode::KeychainRejected,
            KeychainError::Task(_) => ErrorCode::KeychainTask,
        }
    }
}

/// The keychain of one user, for one deployment's entries.
#[derive(Debug, Clone, Default)]
pub struct Keychain;

fn check_part(what: &str, s: &str) -> Result<(), KeychainError> {
    let ok = !s.is_empty()
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    if ok {
        Ok(())
    } else {
        Err(KeychainError::InvalidName {
            name: s.to_owned(),
            reason: format!("a {what} is 1 to 128 letters, digits, '-', '_', '.' or ':'"),
        })
    }
}

fn entry(deployment: &str, name: &str) -> Result<keyring::Entry, KeychainError> {
    check_part("deployment", deployment)?;
    check_part("name", name)?;
    keyring::Entry::new(SERVICE, &format!("{deployment}/{name}")).map_err(map_err)
}

/// Turns the backend's errors into ones that say what to do. Backend messages carry
/// D-Bus details, never the secret.
fn map_err(e: keyring::Error) -> KeychainError {
    match e {
        // Writing to a locked collection fails as a plain D-Bus error, not as "no access".
        keyring::Error::PlatformFailure(d) if d.to_string().to_lowercase().contains("locked") => {
            KeychainError::NoStorage {
                detail: d.to_string(),
            }
        }
        keyring::Error::PlatformFailure(d) => KeychainError::Unavailable {
            detail: d.to_string(),
        },
        keyring::Error::NoStorageAccess(d) => KeychainError::NoStorage {
            detail: d.to_string(),
        },
        keyring::Error::TooLong(what, max) => KeychainError::Rejected {
            detail: format!("{what} is longer than {max}"),
        },
        keyring::Error::Invalid(what, why) => KeychainError::Rejected {
            detail: format!("{what}: {why}"),
        },
        keyring::Error::BadEncoding(_) => KeychainError::Rejected {
            detail: "the stored value is not UTF-8".into(),
        },
        other => KeychainError::Rejected {
            detail: other.to_string(),
        },
    }
}

/// What storing a value did: `replaced` when one was already set. Never the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Stored {
    pub replaced: bool,
}

/// One keychain call at a time per process. The Secret Service backend opens a D-Bus
/// session per call, and status asks for a secret for every host at once; nothing says
/// concurrent sessions from one process are safe, and calls are rare, so they queue.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, KeychainError> + Send + 'static,
) -> Result<T, KeychainError> {
    let _turn = ONE_AT_A_TIME.lock().await;
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| KeychainError::Task(e.to_string()))?
}

impl Keychain {
    /// Stores (or replaces) a value.
    pub async fn set(
        &self,
        deployment: &str,
        name: &str,
        value: Sensitive<String>,
    ) -> Result<(), KeychainError> {
        let e = entry(deployment, name)?;
        blocking(move || e.set_password(value.expose()).map_err(map_err)).await
    }

    /// Stores a value and says whether it replaced one (for the person who typed it).
    pub async fn store(
        &self,
        deployment: &str,
        name: &str,
        value: Sensitive<String>,
    ) -> Result<Stored, KeychainError> {
        let replaced = self.is_set(deployment, name).await?;
        self.set(deployment, name, value).await?;
        Ok(Stored { replaced })
    }

    /// Reads a value at the moment of use.
    pub async fn get(&self, deployment: &str, name: &str) -> Result<Sensitive<String>, KeychainError> {
        let e = entry(deployment, name)?;
        let (d, n) = (deployment.to_owned(), name.to_owned());
        blocking(move || match e.get_password() {
            Ok(v) => Ok(Sensitive::new(v)),
            Err(keyring::Error::NoEntry) => Err(KeychainError::NotSet {
                deployment: d,
                name: n,
            }),
            Err(other) => Err(map_err(other)),
        })
        .await
    }

    /// Whether a value is stored (without reading it out).
    pub async fn is_set(&self, deployment: &str, name: &str) -> Result<bool, KeychainError> {
        match self.get(deployment, name).await {
            Ok(_) => Ok(true),
            Err(KeychainError::NotSet { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Deletes a value; `false` when there was none.
    pub async fn delete(&self, deployment: &str, name: &str) -> Result<bool, KeychainError> {
        let e = entry(deployment, name)?;
        blocking(move || match e.delete_credential() {
            Ok(()) => Ok(true),
            Err(keyring::Error::NoEntry) => Ok(false),
            Err(other) => Err(map_err(other)),
        })
        .await
    }
}
