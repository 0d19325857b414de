//! The console's own local state: an embedded SQLite database in the per-user data
//! directory (`$XDG_DATA_HOME/breakglass/state.db` on Linux; `BREAKGLASS_DATA_DIR`
//! overrides the directory). It holds known deployments, pinned host keys and the action
//! journal. It never holds a secret: those stay in the OS keychain.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::Row;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

use crate::engine::profiles::{DeploymentProfile, DeploymentSummary};
use crate::engine::{Error, Result};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("src-tauri/engine/state/migrations");

/// The local database.
#[derive(Clone)]
pub struct State {
    pool: SqlitePool,
    path: PathBuf,
}

/// A deployment the console knows: where its profile is and what it said when added.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct KnownDeployment {
    pub profile_path: String,
    pub added_at: String,
    pub updated_at: String,
    #[serde(flatten)]
    pub summary: DeploymentSummary,
}

/// A host key an operator trusted for one host of one deployment.
/// One past hardening audit: when, its score, and each finding's verdict.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditRecord {
    pub checked_at: String,
    pub score: u8,
    pub verdicts: Vec<crate::engine::review::harden::report::Seen>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct TrustedKey {
    pub host: String,
    pub address: String,
    pub port: u16,
    pub fingerprint: String,
    pub key_type: String,
    pub trusted_at: String,
    pub trusted_by: String,
}

/// The data directory: `BREAKGLASS_DATA_DIR`, or the OS's per-user data dir.
pub fn data_dir() -> Result<PathBuf> {
    if let Some(d) = std::env::var_os("BREAKGLASS_DATA_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d));
    }
    dirs::data_dir()
        .map(|d| d.join("breakglass"))
        .ok_or(Error::NoDataDir)
}

pub(crate) fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

impl State {
    /// Opens (creating if needed) the database in `dir` and applies pending migrations.
    pub async fn open(dir: &Path) -> Result<Self> {
        let path = dir.join("state.db");
        let db_err = |source| Error::State {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(|e| db_err(sqlx::Error::Io(e)))?;
        restrict_dir(dir);
        let opts = SqliteConnectOptions::from_str("sqlite:")
            .map_err(db_err)?
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(std::time::Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await
            .map_err(db_err)?;
        MIGRATOR.run(&pool).await.map_err(|source| Error::Migrate {
            path: path.clone(),
            source,
        })?;
        Ok(State { pool, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self) -> impl Fn(sqlx::Error) -> Error + '_ {
        |source| Error::State {
            path: self.path.clone(),
            source,
        }
    }

    /// Adds a deployment, or refreshes it if one of that name exists.
    pub async fn upsert_deployment(
        &self,
        profile_path: &Path,
        toml_text: &str,
        profile: &DeploymentProfile,
    ) -> Result<()> {
        let summary = serde_json::to_string(&profile.summary())
            .map_err(|e| (self.err())(sqlx::Error::Decode(Box::new(e))))?;
        let now = now_rfc3339();
        sqlx::query(
            "INSERT INTO deployments (name, profile_path, profile_toml, summary_json, added_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5)
             ON CONFLICT(name) DO UPDATE SET profile_path = excluded.profile_path,
               profile_toml = excluded.profile_toml, summary_json = excluded.summary_json,
               updated_at = excluded.updated_at",
        )
        .bind(profile.name())
        .bind(profile_path.to_string_lossy())
        .bind(toml_text)
        .bind(summary)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(self.err())?;
        Ok(())
    }

    pub async fn deployments(&self) -> Result<Vec<KnownDeployment>> {
        let rows = sqlx::query(
            "SELECT profile_path, summary_json, added_at, updated_at FROM deployments ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(self.err())?;
        rows.iter().map(|r| self.known_from_row(r)).collect()
    }

    fn known_from_row(&self, r: &sqlx::sqlite::SqliteRow) -> Result<KnownDeployment> {
        let summary: String = r.try_get("summary_json").map_err(self.err())?;
        let summary =
            serde_json::from_str(&summary).map_err(|e| (self.err())(sqlx::Error::Decode(Box::new(e))))?;
        Ok(KnownDeployment {
            profile_path: r.try_get("profile_path").map_err(self.err())?,
            added_at: r.try_get("added_at").map_err(self.err())?,
            updated_at: r.try_get("updated_at").map_err(self.err())?,
            summary,
        })
    }

    /// The profile text stored for a deployment, and where it came from.
    pub async fn deployment_profile(&self, name: &str) -> Result<(PathBuf, String)> {
        let row = sqlx::query("SELECT profile_path, profile_toml FROM deployments WHERE name = ?1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.err())?
            .ok_or_else(|| Error::UnknownDeployment {
                name: name.to_owned(),
            })?;
        let path: String = row.try_get("profile_path").map_err(self.err())?;
        Ok((
            PathBuf::from(path),
            row.try_get("profile_toml").map_err(self.err())?,
        ))
    }

    pub async fn remove_deployment(&self, name: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM deployments WHERE name = ?1")
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(self.err())?;
        if done.rows_affected() == 0 {
            return Err(Error::UnknownDeployment {
                name: name.to_owned(),
            });
        }
        Ok(())
    }

    /// The key an operator trusted for a host, if any.
    pub async fn trusted_key(&self, deployment: &str, host: &str) -> Result<Option<TrustedKey>> {
        let row = sqlx::query(
            "SELECT host, address, port, fingerprint, key_type, trusted_at, trusted_by
             FROM host_keys WHERE deployment = ?1 AND host = ?2",
        )
        .bind(deployment)
        .bind(host)
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err())?;
        row.map(|r| -> Result<TrustedKey> {
            let port: i64 = r.try_get("port").map_err(self.err())?;
            Ok(TrustedKey {
                host: r.try_get("host").map_err(self.err())?,
                address: r.try_get("address").map_err(self.err())?,
                port: u16::try_from(port).unwrap_or(0),
                fingerprint: r.try_get("fingerprint").map_err(self.err())?,
                key_type: r.try_get("key_type").map_err(self.err())?,
                trusted_at: r.try_get("trusted_at").map_err(self.err())?,
                trusted_by: r.try_get("trusted_by").map_err(self.err())?,
            })
        })
        .transpose()
    }

    /// Records an explicit trust decision. Replacing a pin is a separate, explicit call
    /// (`forget_key`), so a changed key can never be overwritten by accident.
    pub async fn trust_key(&self, deployment: &str, key: &TrustedKey) -> Result<()> {
        sqlx::query(
            "INSERT INTO host_keys (deployment, host, address, port, fingerprint, key_type, trusted_at, trusted_by)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .bind(deployment)
        .bind(&key.host)
        .bind(&key.address)
        .bind(i64::from(key.port))
        .bind(&key.fingerprint)
        .bind(&key.key_type)
        .bind(&key.trusted_at)
        .bind(&key.trusted_by)
        .execute(&self.pool)
        .await
        .map_err(self.err())?;
        Ok(())
    }

    /// Records (or replaces) the acceptance of one finding of the hardening audit.
    pub async fn accept_finding(
        &self,
        deployment: &str,
        a: &crate::engine::review::harden::Acceptance,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO accepted_findings (deployment, check_name, host, subject, reason, until, accepted_at, accepted_by)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (deployment, check_name, host, subject) DO UPDATE SET
               reason = excluded.reason, until = excluded.until,
               accepted_at = excluded.accepted_at, accepted_by = excluded.accepted_by",
        )
        .bind(deployment)
        .bind(&a.check)
        .bind(a.host.as_deref().unwrap_or(""))
        .bind(a.subject.as_deref().unwrap_or(""))
        .bind(&a.reason)
        .bind(&a.until)
        .bind(&a.at)
        .bind(&a.by)
        .execute(&self.pool)
        .await
        .map_err(self.err())?;
        Ok(())
    }

    /// Every acceptance of a deployment's findings, expired ones too.
    pub async fn accepted_findings(
        &self,
        deployment: &str,
    ) -> Result<Vec<crate::engine::review::harden::Acceptance>> {
        let rows = sqlx::query(
            "SELECT check_name, host, subject, reason, until, accepted_at, accepted_by
             FROM accepted_findings WHERE deployment = ?1",
        )
        .bind(deployment)
        .fetch_all(&self.pool)
        .await
        .map_err(self.err())?;
        rows.into_iter()
            .map(|r| {
                let opt = |s: String| (!s.is_empty()).then_some(s);
                Ok(crate::engine::review::harden::Acceptance {
                    check: r.try_get("check_name").map_err(self.err())?,
                    host: opt(r.try_get("host").map_err(self.err())?),
                    subject: opt(r.try_get("subject").map_err(self.err())?),
                    reason: r.try_get("reason").map_err(self.err())?,
                    until: r.try_get("until").map_err(self.err())?,
                    at: r.try_get("accepted_at").map_err(self.err())?,
                    by: r.try_get("accepted_by").map_err(self.err())?,
                })
            })
            .collect()
    }

    /// Records an audit's score and verdicts; returns the one before it, if any.
    pub async fn record_audit(
        &self,
        deployment: &str,
        checked_at: &str,
        score: u8,
        verdicts: &[crate::engine::review::harden::report::Seen],
    ) -> Result<Option<AuditRecord>> {
        let previous = self.audits(deployment, 1).await?.into_iter().next();
        let json = serde_json::to_string(verdicts).unwrap_or_else(|_| "[]".into());
        sqlx::query(
            "INSERT INTO harden_audits (deployment, checked_at, score, verdicts) VALUES (?1, ?2, ?3, ?4)",
        )
        .bind(deployment)
        .bind(checked_at)
        .bind(i64::from(score))
        .bind(json)
        .execute(&self.pool)
        .await
        .map_err(self.err())?;
        Ok(previous)
    }

    /// The newest `limit` audits of a deployment, newest first.
    pub async fn audits(&self, deployment: &str, limit: u32) -> Result<Vec<AuditRecord>> {
        let rows = sqlx::query(
            "SELECT checked_at, score, verdicts FROM harden_audits WHERE deployment = ?1
             ORDER BY id DESC LIMIT ?2",
        )
        .bind(deployment)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(self.err())?;
        rows.into_iter()
            .map(|r| {
                let verdicts: String = r.try_get("verdicts").map_err(self.err())?;
                let score: i64 = r.try_get("score").map_err(self.err())?;
                Ok(AuditRecord {
                    checked_at: r.try_get("checked_at").map_err(self.err())?,
                    score: u8::try_from(score.clamp(0, 100)).unwrap_or(0),
                    // A row this console did not write is read as no verdicts, not an error.
                    verdicts: serde_json::from_str(&verdicts).unwrap_or_default(),
                })
            })
            .collect()
    }

    pub async fn forget_key(&self, deployment: &str, host: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM host_keys WHERE deployment = ?1 AND host = ?2")
            .bind(deployment)
            .bind(host)
            .execute(&self.pool)
            .await
            .map_err(self.err())?;
        Ok(done.rows_affected() > 0)
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// The state directory is the user's alone.
fn restrict_dir(dir: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
}
