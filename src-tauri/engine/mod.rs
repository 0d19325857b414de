//! The engine: everything Breakglass does, with no knowledge of how it is shown.
//! The window (`desktop/`) and the command line (`cli/`) are thin layers over [`Engine`].
//!
//! One folder per concern: `profiles/` (deployment files), `state/` (the local database),
//! `actions/` (what changes a deployment), `review/` (what only looks at one);
//! small shared pieces: `secret` (values that must not be printed), `envfile` (`.env`).

pub mod actions;
pub mod connect;
pub mod db;
pub mod docker;
pub mod envfile;
pub mod error;
pub mod exec;
pub mod http;
pub mod journal;
pub mod keychain;
pub mod probe;
pub mod profiles;
pub mod redis;
pub mod review;
pub mod runbooks;
pub mod secret;
pub mod ssh;
pub mod state;
pub mod when;

use std::path::Path;
use std::sync::Arc;

pub use error::{Error, ErrorReport, Result};
use profiles::DeploymentProfile;
use state::{KnownDeployment, State, TrustedKey};

/// What a host presented when probed (see [`Engine::probe_host_key`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum HostKeyProbe {
    /// Already pinned, and the server presented the pinned key.
    Pinned { fingerprint: String },
    /// Not pinned yet: a person compares this fingerprint out of band, then trusts it.
    Unknown { fingerprint: String, key_type: String },
}

/// The console's engine: local state, the keychain, the held connections, and the
/// operations on deployments. Cheap to clone; clones share connections.
#[derive(Clone)]
pub struct Engine {
    state: State,
    keychain: keychain::Keychain,
    conns: Arc<connect::Connections>,
    /// The journal's authentication key, read from the keychain once per process.
    journal_key: Arc<tokio::sync::OnceCell<journal::JournalKey>>,
}

impl Engine {
    /// Opens the engine on the per-user data directory (or `BREAKGLASS_DATA_DIR`).
    pub async fn open_default() -> Result<Self> {
        Self::open(&state::data_dir()?).await
    }

    pub async fn open(data_dir: &Path) -> Result<Self> {
        Ok(Engine {
            state: State::open(data_dir).await?,
            keychain: keychain::Keychain,
            conns: Arc::default(),
            journal_key: Arc::default(),
        })
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    /// Validates a profile file and adds (or refreshes) its deployment.
    pub async fn add_deployment(&self, path: &Path) -> Result<KnownDeployment> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::ReadFile {
            path: path.to_owned(),
            source,
        })?;
        let profile = DeploymentProfile::parse(&text).map_err(|e| e.with_path(path))?;
        let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
        self.state.upsert_deployment(&abs, &text, &profile).await?;
        let name = profile.name().to_owned();
        self.deployments()
            .await?
            .into_iter()
            .find(|d| d.summary.name == name)
            .ok_or(Error::UnknownDeployment { name })
    }

    pub async fn deployments(&self) -> Result<Vec<KnownDeployment>> {
        self.state.deployments().await
    }

    /// The deployment's profile as stored when it was added or last refreshed.
    pub async fn profile(&self, name: &str) -> Result<DeploymentProfile> {
        let (path, text) = self.state.deployment_profile(name).await?;
        DeploymentProfile::parse(&text).map_err(|e| e.with_path(path).into())
    }

    pub async fn remove_deployment(&self, name: &str) -> Result<()> {
        self.conns.drop_deployment(name);
        self.state.remove_deployment(name).await
    }

    /// Opens an incident on a known deployment, as this console's operator.
    pub async fn open_incident(&self, deployment: &str, title: &str) -> Result<journal::Incident> {
        self.state.deployment_profile(deployment).await?;
        self.journal()
            .await?
            .open_incident(deployment, title, &journal::operator())
            .await
    }

    /// The open incident of `deployment`, with its timeline; `None` when there is none.
    pub async fn current_incident(
        &self,
        deployment: &str,
    ) -> Result<Option<journal::incident::IncidentView>> {
        let journal = self.journal().await?;
        // The incident found is the one viewed: its entries, not a second read of the
        // incidents table.
        match journal.open_incident_of(deployment).await? {
            Some(i) => {
                let entries = journal.entries(Some(i.id)).await?;
                Ok(Some(journal::incident::view(&i, &entries)))
            }
            None => Ok(None),
        }
    }

    /// A note on an open incident, as this console's operator; the incident as it is now.
    pub async fn note_incident(&self, id: i64, text: &str) -> Result<journal::incident::IncidentView> {
        let journal = self.journal().await?;
        journal.note(id, text, &journal::operator()).await?;
        journal.incident(id).await
    }

    /// Closes an incident, as this console's operator; the incident as it is now.
    pub async fn close_incident(&self, id: i64) -> Result<journal::incident::IncidentView> {
        let journal = self.journal().await?;
        journal.close_incident(id, &journal::operator()).await?;
        journal.incident(id).await
    }

    /// The action journal: entries in the local database, authenticated with a key kept
    /// in the OS keychain (made on first use), its head also kept outside the database.
    pub async fn journal(&self) -> Result<journal::Journal> {
        let key = self
            .journal_key
            .get_or_try_init(|| async {
                // Two consoles starting at once must not both make a key: one creates it
                // while holding this machine-wide lock, the other then reads it.
                let guard = std::fs::File::create(std::env::temp_dir().join("breakglass-journal-key.lock"))
                    .and_then(|f| f.lock().map(|()| f));
                let key = journal::JournalKey::from_keychain(&self.keychain).await;
                drop(guard);
                key
            })
            .await?;
        Ok(journal::Journal::new(
            self.state.pool().clone(),
            journal::head_path(self.state.path()),
            key.clone(),
        ))
    }

    pub fn keychain(&self) -> &keychain::Keychain {
        &self.keychain
    }

    /// The keychain entries the profile refers to (SSH passphrase or passwords, a
    /// database password), each with whether it is set.
    pub async fn secret_entries(&self, deployment: &str) -> Result<Vec<keychain::SecretEntry>> {
        let profile = self.profile(deployment).await?;
        let mut wanted: Vec<(String, String)> = Vec::new();
        for t in profile.targets() {
            match t.auth {
                profiles::Auth::KeyFile {
                    path,
                    passphrase: profiles::Passphrase::Keychain,
                } => wanted.push((
                    keychain::SSH_KEY_PASSPHRASE.into(),
                    format!("passphrase of the SSH key {path}"),
                )),
                profiles::Auth::Password => wanted.push((
                    keychain::ssh_password(&t.name),
                    format!("SSH password of {}@{}", t.user, t.name),
                )),
                _ => {}
            }
        }
        if profile
            .database
            .as_ref()
            .is_some_and(|d| d.credentials == profiles::DbCredentials::Keychain)
        {
            wanted.push((keychain::DB_PASSWORD.into(), "database password".into()));
        }
        if profile
            .database
            .as_ref()
            .is_some_and(|d| !d.alternating_users.is_empty())
        {
            wanted.push((
                keychain::DB_STANDBY_PASSWORD.into(),
                "password of the idle one of the alternating database roles".into(),
            ));
        }
        if let Some(b) = &profile.backups {
            if let Some(user) = &b.restore_user {
                wanted.push((
                    keychain::RESTORE_PASSWORD.into(),
                    format!(
                        "password of {} (the restore test's scratch databases)",
                        user.get_ref()
                    ),
                ));
            }
            wanted.push((
                keychain::BACKUP_KEY.into(),
                "key of encrypted backups (an age identity or a gpg passphrase), when they are encrypted"
                    .into(),
            ));
            if let Some(s3) = &b.s3 {
                wanted.push((
                    keychain::S3_ACCESS_KEY.into(),
                    format!("access key of the S3 bucket {}", s3.bucket.get_ref()),
                ));
                wanted.push((
                    keychain::S3_SECRET_KEY.into(),
                    format!("secret key of the S3 bucket {}", s3.bucket.get_ref()),
                ));
            }
        }
        if let Some(probe) = &profile.probe {
            let user = probe.user.get_ref();
            wanted.push((
                keychain::PROBE_PASSWORD.into(),
                format!("password of the canary account {user} (app probes)"),
            ));
            wanted.push((
                keychain::PROBE_TOKEN.into(),
                format!("an API token of the canary account {user} (app probes)"),
            ));
        }
        wanted.sort();
        wanted.dedup_by(|a, b| a.0 == b.0);
        let mut out = Vec::new();
        for (name, purpose) in wanted {
            let set = self.keychain.is_set(deployment, &name).await?;
            out.push(keychain::SecretEntry { name, purpose, set });
        }
        Ok(out)
    }

    /// The held SSH connection to one host of a deployment (opened on first use).
    pub async fn session(&self, deployment: &str, host: &str) -> Result<Arc<ssh::Session>> {
        let profile = self.profile(deployment).await?;
        connect::session(&self.conns, &self.state, &self.keychain, &profile, host).await
    }

    /// A new connection, not shared (for benchmarks and for checking a host afresh).
    pub async fn connect_fresh(&self, deployment: &str, host: &str) -> Result<ssh::Session> {
        let profile = self.profile(deployment).await?;
        connect::connect_fresh(&self.state, &self.keychain, &profile, host).await
    }

    /// A new connection (not shared) that authenticates with `cred` rather than the
    /// profile's credential (see [`connect::connect_with`]).
    pub async fn connect_with(
        &self,
        deployment: &str,
        host: &str,
        cred: ssh::Credential,
    ) -> Result<ssh::Session> {
        let profile = self.profile(deployment).await?;
        connect::connect_with(&self.conns, &self.state, &self.keychain, &profile, host, cred).await
    }

    /// Forgets the held connections of a deployment: the next use connects afresh, with
    /// the credential the profile names as it is then (a rotated key file).
    pub fn reconnect_all(&self, deployment: &str) {
        self.conns.drop_deployment(deployment);
    }

    /// What a host presents on a fresh connection, for a first-contact decision: the
    /// key it is already pinned to, or the unknown key a person must compare out of band
    /// before [`Engine::trust_host`]. A changed key is an error (never a choice).
    pub async fn probe_host_key(&self, deployment: &str, host: &str) -> Result<HostKeyProbe> {
        match self.connect_fresh(deployment, host).await {
            Ok(s) => {
                s.close().await;
                Ok(HostKeyProbe::Pinned {
                    fingerprint: s.host_key().fingerprint.clone(),
                })
            }
            Err(Error::Ssh(e)) => match *e {
                ssh::SshError::HostKeyUnknown {
                    fingerprint,
                    key_type,
                    ..
                } => Ok(HostKeyProbe::Unknown {
                    fingerprint,
                    key_type,
                }),
                other => Err(other.into()),
            },
            Err(e) => Err(e),
        }
    }

    /// Every container of the deployment's hosts (or of one), all hosts at once.
    pub async fn containers(
        &self,
        deployment: &str,
        host: Option<&str>,
    ) -> Result<Vec<docker::ContainerInfo>> {
        let hosts: Vec<String> = match host {
            Some(h) => vec![h.to_owned()],
            None => self
                .profile(deployment)
                .await?
                .hosts
                .iter()
                .map(|h| h.name.get_ref().clone())
                .collect(),
        };
        let lists =
            futures_util::future::join_all(hosts.iter().map(|h| async move {
                Ok::<_, Error>(self.docker(deployment, h).await?.containers().await?)
            }))
            .await;
        let mut all = Vec::new();
        for list in lists {
            all.extend(list?);
        }
        Ok(all)
    }

    /// Trusts a host key explicitly (after checking the server presents it).
    pub async fn trust_host(&self, deployment: &str, host: &str, fingerprint: &str) -> Result<TrustedKey> {
        let profile = self.profile(deployment).await?;
        connect::trust(
            &self.state,
            &self.keychain,
            &profile,
            host,
            fingerprint,
            &connect::operator(),
        )
        .await
    }

    /// Imports pins from an OpenSSH `known_hosts` file for hosts that have none.
    pub async fn import_known_hosts(
        &self,
        deployment: &str,
        known_hosts: &Path,
    ) -> Result<Vec<(String, String)>> {
        let profile = self.profile(deployment).await?;
        connect::import_known_hosts(&self.state, &profile, known_hosts, &connect::operator()).await
    }

    /// Forgets a local trust decision, so the next connection asks again.
    pub async fn forget_host(&self, deployment: &str, host: &str) -> Result<bool> {
        self.conns.drop_deployment(deployment);
        self.state.forget_key(deployment, host).await
    }

    /// Runs a command on a host over the held connection. If that connection turns out
    /// to be dead before a channel for the command could even be opened, it is replaced
    /// and the command sent once more: it was never sent, so this cannot run it twice.
    /// Any later failure (the command may have started) is returned as it is.
    pub async fn exec(&self, deployment: &str, host: &str, command: &str) -> Result<ssh::ExecOutput> {
        let session = self.session(deployment, host).await?;
        match session.exec(command, None).await {
            Err(ssh::SshError::ChannelOpen { .. }) if session.is_closed() => {
                Ok(self.session(deployment, host).await?.exec(command, None).await?)
            }
            other => Ok(other?),
        }
    }

    /// The Docker Engine of a host, over its SSH connection.
    pub async fn docker(&self, deployment: &str, host: &str) -> Result<docker::RemoteDocker> {
        let profile = self.profile(deployment).await?;
        let socket = profile
            .host(host)
            .map(|h| h.docker_socket.get_ref().clone())
            .ok_or_else(|| Error::UnknownHost {
                deployment: deployment.to_owned(),
                host: host.to_owned(),
            })?;
        let session = connect::session(&self.conns, &self.state, &self.keychain, &profile, host).await?;
        let timeout = profile.ssh.command_timeout_secs.max(1);
        Ok(docker::RemoteDocker::connect(session, &socket, timeout).await?)
    }

    /// Reads a host's `.env` at the moment of use. Values stay [`secret::Sensitive`].
    pub async fn read_env(&self, deployment: &str, host: &str) -> Result<(String, envfile::EnvFile)> {
        let profile = self.profile(deployment).await?;
        let path = profile
            .host(host)
            .ok_or_else(|| Error::UnknownHost {
                deployment: deployment.to_owned(),
                host: host.to_owned(),
            })?
            .env_file
            .as_ref()
            .map(|p| p.get_ref().clone())
            .ok_or_else(|| Error::NoEnvFile {
                host: host.to_owned(),
            })?;
        let session = connect::session(&self.conns, &self.state, &self.keychain, &profile, host).await?;
        let cmd = format!("cat -- {}", ssh::output::shell_quote(&path));
        let out = session.exec_capped(&cmd, None, envfile::MAX_ENV_FILE + 1).await?;
        if !out.success() {
            return Err(Error::RemoteRead {
                host: host.to_owned(),
                path,
                detail: ssh::output::display_safe(&out.stderr).trim().to_owned(),
            });
        }
        // `parse_owned` zeroes the raw bytes (every secret of the file) once parsed.
        let env = envfile::EnvFile::parse_owned(out.stdout).map_err(|source| Error::EnvFile {
            host: host.to_owned(),
            path: path.clone(),
            source: Box::new(source),
        })?;
        Ok((path, env))
    }

    /// The deployment's Redis (profile `[redis]`), over its `via_host`'s SSH connection,
    /// with the password read from that host's `.env` at this moment.
    pub async fn redis(&self, deployment: &str) -> Result<redis::Redis> {
        let profile = self.profile(deployment).await?;
        let r = profile.redis.as_ref().ok_or_else(|| Error::ActionUnavailable {
            reason: "sessions live in Redis, but the deployment profile has no [redis]".into(),
        })?;
        let via = r.via_host.get_ref();
        let password = match &r.password_env {
            Some(var) => {
                let (_, env) = self.read_env(deployment, via).await?;
                Some(env.get(var).cloned().ok_or_else(|| Error::ActionUnavailable {
                    reason: format!("{var} is not in the .env of {via}"),
                })?)
            }
            None => None,
        };
        let session = connect::session(&self.conns, &self.state, &self.keychain, &profile, via).await?;
        Ok(redis::Redis::connect(&session, &r.address, r.port, password, r.database).await?)
    }

    /// The deployment's database, through an SSH tunnel from its `via_host`, with
    /// credentials read at this moment (and dropped with the returned pool).
    pub async fn database(&self, deployment: &str) -> Result<db::RemoteDb> {
        let profile = self.profile(deployment).await?;
        let dbp = profile.database.clone().ok_or_else(|| Error::NoDatabase {
            deployment: deployment.to_owned(),
        })?;
        let via = dbp.via_host.get_ref().clone();
        let (creds, path, env) = self.db_credentials(deployment, &dbp).await?;
        let session = connect::session(&self.conns, &self.state, &self.keychain, &profile, &via).await?;
        let mut remote = db::RemoteDb::connect(session, &dbp, creds).await?;
        // A key set twice: the last one wins (as Docker Compose reads it), and a person
        // confirming a plan should know which file did that.
        remote.notes.extend(env.duplicates().iter().map(|k| {
            format!(
                "{k} is set more than once in {path} on {via}: the last one is used, as Docker Compose does"
            )
        }));
        Ok(remote)
    }

    /// The database credentials the profile names, read at this moment, with the `.env`
    /// of `via_host` they came from (or that holds the user name).
    pub async fn db_credentials(
        &self,
        deployment: &str,
        dbp: &profiles::Database,
    ) -> Result<(db::DbCredentials, String, envfile::EnvFile)> {
        let via = dbp.via_host.get_ref().clone();
        let (path, env) = self.read_env(deployment, &via).await?;
        let creds = match dbp.credentials {
            profiles::DbCredentials::Env => db::DbCredentials::from_env(&env, &path)?,
            profiles::DbCredentials::Keychain => {
                let user = env.get("POSTGRES_USER").map(|u| u.expose().clone()).ok_or(
                    db::DbError::NoCredentials {
                        env_file: path.clone(),
                    },
                )?;
                db::DbCredentials {
                    user,
                    password: self.keychain.get(deployment, keychain::DB_PASSWORD).await?,
                }
            }
        };
        Ok((creds, path, env))
    }
}
