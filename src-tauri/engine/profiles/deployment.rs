//! The deployment profile format and its validation.

use std::collections::HashSet;
use std::ops::Range;
use std::path::Path;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::error::{ProfileError, ProfileErrorKind};

/// One deployment, as its TOML file describes it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentProfile {
    /// Short name, typed to confirm destructive actions: `[a-z0-9][a-z0-9._-]*`.
    pub name: Spanned<String>,
    /// The app profile (the SQL and key names of the application): `homechat`, ….
    pub app_profile: Spanned<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// The application's public URL; `/health` is checked there.
    #[serde(default)]
    pub public_url: Option<Spanned<String>>,
    /// A private CA (PEM file) that signed `public_url`'s certificate: trusted, beside the
    /// system's roots, by every request to `public_url` (status, probes, the audit).
    #[serde(default)]
    pub public_url_ca: Option<Spanned<String>>,
    #[serde(default)]
    pub ssh: SshDefaults,
    pub hosts: Vec<Host>,
    #[serde(default)]
    pub database: Option<Database>,
    #[serde(default)]
    pub redis: Option<Redis>,
    #[serde(default)]
    pub backups: Option<Backups>,
    #[serde(default)]
    pub services: Vec<Service>,
    /// The canary account that verify uses to ask the app itself (the app profile's
    /// `[probes]`).
    #[serde(default)]
    pub probe: Option<ProbeAccount>,
    /// Settings of the hardening audit (`breakglass harden`).
    #[serde(default)]
    pub harden: Option<HardenSettings>,
}

/// What the hardening audit needs to know beyond the rest of the profile.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HardenSettings {
    /// Where plain HTTP is served, that must redirect to HTTPS (default: `public_url`
    /// with `http://` and no port, when it is https:// without a port).
    #[serde(default)]
    pub http_url: Option<Spanned<String>>,
    /// How many bad logins the rate-limit check may send at most (default 10, 3 to 30);
    /// none when 0.
    #[serde(default)]
    pub login_burst: Option<Spanned<u32>>,
    /// Other deployments (staging…) whose `.env` secrets must differ from this one's.
    #[serde(default)]
    pub compare_with: Vec<Spanned<String>>,
}

impl HardenSettings {
    pub fn login_burst(&self) -> u32 {
        self.login_burst.as_ref().map_or(10, |b| *b.get_ref())
    }
}

/// A non-admin account of the app kept only for probes: its password (`probe-password`)
/// and an API token (`probe-token`) are in the keychain. The console logs in as it and
/// presents its token to see, as a client would, that an action took. Actions that cover
/// it (revoke all, lock all non-admin, expire all) cut it off too: give it a new token and
/// unlock it when the incident is over.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeAccount {
    pub user: Spanned<String>,
}

/// SSH settings shared by every host unless a host overrides them.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SshDefaults {
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub auth: Option<Auth>,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: u64,
    #[serde(default = "default_command_timeout")]
    pub command_timeout_secs: u64,
    #[serde(default = "default_keepalive")]
    pub keepalive_secs: u64,
    /// The OpenSSH client config that `ssh_alias` refers to (default `~/.ssh/config`).
    #[serde(default)]
    pub config: Option<String>,
}

impl Default for SshDefaults {
    fn default() -> Self {
        SshDefaults {
            user: None,
            port: None,
            auth: None,
            connect_timeout_secs: default_connect_timeout(),
            command_timeout_secs: default_command_timeout(),
            keepalive_secs: default_keepalive(),
            config: None,
        }
    }
}

fn default_connect_timeout() -> u64 {
    10
}
fn default_command_timeout() -> u64 {
    60
}
fn default_keepalive() -> u64 {
    15
}

/// How to authenticate to a host.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(tag = "method", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Auth {
    /// Keys held by the running ssh-agent (`SSH_AUTH_SOCK`).
    Agent,
    /// A private key file; its passphrase, if any, is read from the keychain.
    KeyFile {
        path: String,
        #[serde(default)]
        passphrase: Passphrase,
    },
    /// A password, read from the keychain (entry `ssh-password:<host>`).
    Password,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Passphrase {
    /// The key is not encrypted.
    #[default]
    None,
    /// The passphrase is in the keychain, entry `ssh-key-passphrase`.
    Keychain,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Web,
    Worker,
    Db,
    Proxy,
}

/// One server of the deployment.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Host {
    pub name: Spanned<String>,
    /// A host name or IP address. May be left out when `ssh_alias` gives one.
    #[serde(default)]
    pub address: Option<Spanned<String>>,
    /// A `Host` alias of `~/.ssh/config` (or `[ssh] config`): its HostName, User, Port and
    /// IdentityFile fill what this table leaves out.
    #[serde(default)]
    pub ssh_alias: Option<Spanned<String>>,
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub auth: Option<Auth>,
    #[serde(default)]
    pub roles: Vec<Role>,
    /// The pinned host key, `SHA256:<base64>` as `ssh-keygen -l` prints it. Absent: the
    /// first connection shows the key and asks for explicit trust.
    #[serde(default)]
    pub host_key: Option<Spanned<String>>,
    #[serde(default)]
    pub env_file: Option<Spanned<String>>,
    #[serde(default = "default_docker_socket")]
    pub docker_socket: Spanned<String>,
    /// Whether the host runs a Docker Engine (default yes). A bastion or a database
    /// server says `docker = false`: status then does not ask, and shows no Docker error.
    #[serde(default = "default_true")]
    pub docker: bool,
    /// Reach this host through another host of the profile (a bastion, OpenSSH's
    /// ProxyJump): SSH to `jump`, then a `direct-tcpip` channel from there to this host's
    /// address and port. Both host keys are pinned and checked.
    #[serde(default)]
    pub jump: Option<Spanned<String>>,
    /// The app on this host as the proxy reaches it (`http://10.0.0.5:3000`): after a
    /// rotation recreates this host's containers, the service's `health_path` must answer
    /// 200 here too before the next host is touched.
    #[serde(default)]
    pub app_url: Option<Spanned<String>>,
}

/// An app profile's name: `[a-z0-9][a-z0-9_-]*`, at most 64 bytes. It names a file
/// (`<data dir>/apps/<name>.toml`), so nothing in it may lead elsewhere (`../`, `/`).
pub fn is_app_profile_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

fn default_true() -> bool {
    true
}

fn default_docker_socket() -> Spanned<String> {
    Spanned::new(0..0, "/var/run/docker.sock".to_owned())
}

/// How to reach PostgreSQL: through an SSH tunnel from `via_host`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Database {
    pub via_host: Spanned<String>,
    #[serde(default = "default_db_address")]
    pub address: String,
    #[serde(default = "default_db_port")]
    pub port: u16,
    /// A Unix socket on `via_host` instead of address and port.
    #[serde(default)]
    pub socket: Option<Spanned<String>>,
    /// The container production's PostgreSQL runs in on `via_host`, when it runs in
    /// Docker: restore tests then use a throwaway container of its image by default.
    #[serde(default)]
    pub container: Option<Spanned<String>>,
    pub name: String,
    #[serde(default)]
    pub credentials: DbCredentials,
    #[serde(default)]
    pub tls: DbTls,
    /// With `tls = "verify-full"`: a PEM file of the CA certificates to trust (a managed
    /// database's own CA, such as DigitalOcean's `ca-certificate.crt`). Without it the
    /// operating system's roots are used.
    #[serde(default)]
    pub ca_file: Option<Spanned<String>>,
    /// With `tls = "verify-full"`: the name the server's certificate must carry, when
    /// it is not `address` (a database reached by IP whose certificate names its host).
    #[serde(default)]
    pub server_name: Option<Spanned<String>>,
    /// Two login roles with the same privileges that the app's `.env` alternates between
    /// (AWS's "alternating users"): a rotation gives the idle one a new password, moves
    /// every host onto it while the other still works, then retires the other. The idle
    /// role's password is in the keychain (`db-standby-password`).
    #[serde(default)]
    pub alternating_users: Vec<Spanned<String>>,
}

fn default_db_address() -> String {
    "127.0.0.1".to_owned()
}
fn default_db_port() -> u16 {
    5432
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DbCredentials {
    /// `DATABASE_URL` or `POSTGRES_USER` / `POSTGRES_PASSWORD` from the host's `.env`,
    /// read at the moment of use.
    #[default]
    Env,
    /// User in the profile (`POSTGRES_USER` of `.env` otherwise), password in the keychain.
    Keychain,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DbTls {
    #[default]
    Disable,
    Require,
    VerifyFull,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Redis {
    pub via_host: Spanned<String>,
    #[serde(default = "default_db_address")]
    pub address: String,
    #[serde(default = "default_redis_port")]
    pub port: u16,
    /// The `.env` variable that holds the password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// The logical database (`SELECT n`), as in `redis://…/n`; default 0.
    #[serde(default)]
    pub database: u16,
}

fn default_redis_port() -> u16 {
    6379
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Backups {
    /// The host the backups are restored from: it holds the folder and the pgBackRest
    /// repository, and fetches the objects of an S3 bucket.
    pub host: Spanned<String>,
    /// The folder that holds the backup files (each file one backup). At least one of
    /// `path`, `s3` and `pgbackrest` is set.
    #[serde(default)]
    pub path: Option<Spanned<String>>,
    /// Which files of the folder (and which objects of the bucket, by the last part of
    /// their key) are backups (a shell glob, `*.dump`); default every file.
    #[serde(default)]
    pub pattern: Option<Spanned<String>>,
    /// The recovery point objective: the newest good backup older than this is a failure
    /// (`26h`, `7d`). Default 26 hours (a daily backup, with slack).
    #[serde(default)]
    pub rpo: Option<Spanned<String>>,
    /// The role a restore test creates its scratch database with (it needs CREATEDB), its
    /// password in the keychain (`restore-password`). Default: the database credentials.
    #[serde(default)]
    pub restore_user: Option<Spanned<String>>,
    /// A pgBackRest repository on `host` holds backups too (physical ones).
    #[serde(default)]
    pub pgbackrest: Option<PgBackRest>,
    /// An S3-compatible bucket holds backups too (listed from this machine, fetched by
    /// `host` with a presigned URL that reaches it on stdin).
    #[serde(default)]
    pub s3: Option<S3Bucket>,
    /// Where a backup is restored for the test: `database` (a scratch database on the
    /// deployment's PostgreSQL) or `container` (a throwaway PostgreSQL container on
    /// `host`, through the Docker API, so that the production server is not touched).
    /// Default: `container` when `[database] container` says production's PostgreSQL
    /// runs in Docker, else `database`.
    #[serde(default)]
    pub restore_into: Option<Spanned<String>>,
    /// The throwaway container's image and limits.
    #[serde(default)]
    pub container: Option<RestoreContainer>,
}

/// The throwaway PostgreSQL container of a restore test.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreContainer {
    /// An image with the official `postgres` image's contract (`POSTGRES_PASSWORD`,
    /// `PGDATA`…), present on `host`. Default: the image of `[database] container`.
    #[serde(default)]
    pub image: Option<Spanned<String>>,
    /// Its memory limit (`512m`, `2g`); default 2 GiB.
    #[serde(default)]
    pub memory: Option<Spanned<String>>,
    /// Its CPU limit (`1.5`); default 2.
    #[serde(default)]
    pub cpus: Option<f64>,
}

/// A size as Docker writes it (`512m`, `2g`, `1.5GiB`, bytes), in bytes.
pub fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim().to_ascii_lowercase();
    let t = t.strip_suffix("ib").or_else(|| t.strip_suffix('b')).unwrap_or(&t);
    let (num, unit) = match t.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => t.split_at(i),
        None => (t, ""),
    };
    let mult: u64 = match unit {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => return None,
    };
    let n: f64 = num.trim().parse().ok()?;
    (n.is_finite() && n > 0.0 && n * (mult as f64) < 1e15).then_some((n * mult as f64) as u64)
}

impl Backups {
    /// Whether the test restores into a throwaway container (else a scratch database).
    pub fn into_container(&self, db: &Database) -> bool {
        match self.restore_into.as_ref().map(|r| r.get_ref().as_str()) {
            Some("container") => true,
            Some(_) => false,
            None => db.container.is_some(),
        }
    }
}

/// An S3-compatible bucket (AWS S3, MinIO, Garage, Ceph RGW…). Its access key and secret
/// key are in the keychain (`s3-access-key`, `s3-secret-key`), never in the profile.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct S3Bucket {
    /// `https://s3.eu-central-1.amazonaws.com`, `http://127.0.0.1:9000`: the same address
    /// for this machine and for the backups' host.
    pub endpoint: Spanned<String>,
    pub bucket: Spanned<String>,
    /// Only keys that start with this (`sandbox/`); default the whole bucket.
    #[serde(default)]
    pub prefix: Option<Spanned<String>>,
    /// Default `us-east-1`.
    #[serde(default)]
    pub region: Option<Spanned<String>>,
    /// `path` (`endpoint/bucket/key`) or `virtual` (`bucket.endpoint/key`); default
    /// `virtual` for an amazonaws.com endpoint, `path` for any other.
    #[serde(default)]
    pub url_style: Option<Spanned<String>>,
}

impl S3Bucket {
    pub fn region(&self) -> &str {
        self.region.as_ref().map_or("us-east-1", |r| r.get_ref().as_str())
    }
    pub fn prefix(&self) -> &str {
        self.prefix.as_ref().map_or("", |p| p.get_ref().as_str())
    }
    /// Path style unless asked otherwise, or the endpoint is AWS's.
    pub fn path_style(&self) -> bool {
        match self.url_style.as_ref().map(|s| s.get_ref().as_str()) {
            Some("virtual") => false,
            Some(_) => true,
            None => !self.endpoint.get_ref().contains(".amazonaws.com"),
        }
    }
}

/// How to reach a pgBackRest repository: its stanza, its configuration file, and the OS
/// user its commands run as on the backups' host (`postgres`; through `runuser` when the
/// console logs in as root, `sudo -n` otherwise).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PgBackRest {
    pub stanza: Spanned<String>,
    #[serde(default)]
    pub config: Option<Spanned<String>>,
    #[serde(default = "default_os_user")]
    pub os_user: String,
}

fn default_os_user() -> String {
    "postgres".into()
}

impl Backups {
    /// Where the backups are, in a person's words: `app1:/srv/backups`,
    /// `s3://bucket/prefix`, `pgBackRest stanza main`, joined by " and ".
    pub fn place(&self) -> String {
        let mut places = Vec::new();
        if let Some(p) = &self.path {
            places.push(format!("{}:{}", self.host.get_ref(), p.get_ref()));
        }
        if let Some(s3) = &self.s3 {
            places.push(format!("s3://{}/{}", s3.bucket.get_ref(), s3.prefix()));
        }
        if let Some(pb) = &self.pgbackrest {
            places.push(format!(
                "pgBackRest stanza {} on {}",
                pb.stanza.get_ref(),
                self.host.get_ref()
            ));
        }
        places.join(" and ")
    }

    /// The RPO target (default 26 hours).
    pub fn rpo(&self) -> std::time::Duration {
        self.rpo
            .as_ref()
            .and_then(|r| crate::engine::when::parse_duration(r.get_ref()).ok())
            .unwrap_or(std::time::Duration::from_secs(26 * 3600))
    }
}

/// A group of containers running the same thing, and the `.env` variables they use.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub name: Spanned<String>,
    /// Its containers by name (compose or `docker run`); none for a Swarm service, whose
    /// task containers are named anew at every update.
    #[serde(default)]
    pub containers: Vec<Spanned<String>>,
    /// The Swarm service it is (`stack_service`), run by the swarm manager on its host.
    #[serde(default)]
    pub swarm_service: Option<Spanned<String>>,
    /// The Docker secrets (names) a Swarm service mounts.
    #[serde(default)]
    pub docker_secrets: Vec<Spanned<String>>,
    #[serde(default)]
    pub env: Vec<Spanned<String>>,
    #[serde(default)]
    pub health_path: Option<String>,
}

/// A host with every default applied: what a connection needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostTarget {
    pub name: String,
    pub address: String,
    /// Set when `~/.ssh/config` should fill the gaps (see `engine::connect`).
    pub ssh_alias: Option<String>,
    /// Which of port, user and auth the profile itself set (an alias must not override them).
    pub explicit: Explicit,
    pub port: u16,
    pub user: String,
    pub auth: Auth,
    pub host_key: Option<String>,
    /// The profile host to go through (`jump`), if any.
    pub jump: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Explicit {
    pub port: bool,
    pub user: bool,
    pub auth: bool,
}

/// Summary shown in lists: no secret, nothing that needs a connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct DeploymentSummary {
    pub name: String,
    pub app_profile: String,
    pub description: Option<String>,
    pub public_url: Option<String>,
    pub hosts: Vec<HostSummary>,
    pub services: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct HostSummary {
    pub name: String,
    pub address: String,
    pub port: u16,
    pub roles: Vec<String>,
    pub host_key: Option<String>,
    /// The host it is reached through, if any.
    pub jump: Option<String>,
    /// Whether it runs a Docker Engine.
    pub docker: bool,
}

impl DeploymentProfile {
    /// Reads and validates a profile file.
    pub fn load(path: &Path) -> Result<Self, crate::engine::Error> {
        let text = std::fs::read_to_string(path).map_err(|source| crate::engine::Error::ReadFile {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text).map_err(|e| e.with_path(path).into())
    }

    /// Parses and validates profile text.
    pub fn parse(text: &str) -> Result<Self, ProfileError> {
        let profile: DeploymentProfile = toml::from_str(text).map_err(|e| ProfileError::toml(text, &e))?;
        profile.validate(text)?;
        Ok(profile)
    }

    fn validate(&self, text: &str) -> Result<(), ProfileError> {
        let invalid = |span: Range<usize>, msg: String| {
            let span = (span != (0..0)).then_some(span);
            ProfileError::at(text, span, ProfileErrorKind::Invalid, msg)
        };

        check_name(self.name.get_ref())
            .map_err(|m| invalid(self.name.span(), format!("deployment name: {m}")))?;
        if !is_app_profile_name(self.app_profile.get_ref()) {
            return Err(invalid(
                self.app_profile.span(),
                "app_profile: expected the name of an app profile, such as \"homechat\" \
                 (lowercase letters, digits, '-' and '_'; never a path)"
                    .into(),
            ));
        }
        if let Some(probe) = &self.probe {
            let user = probe.user.get_ref();
            if user.is_empty() || user.len() > 200 || user.chars().any(|c| c.is_control()) {
                return Err(invalid(
                    probe.user.span(),
                    "probe.user: expected the name of the app's canary account".into(),
                ));
            }
            if self.public_url.is_none() {
                return Err(invalid(
                    probe.user.span(),
                    "probe: the app is probed at public_url, which this profile does not set".into(),
                ));
            }
        }
        if let Some(ca) = &self.public_url_ca {
            if !ca.get_ref().starts_with('/') || ca.get_ref().chars().any(char::is_control) {
                return Err(invalid(
                    ca.span(),
                    "public_url_ca: expected an absolute path to a PEM file".into(),
                ));
            }
            if self.public_url.is_none() {
                return Err(invalid(ca.span(), "public_url_ca: set public_url too".into()));
            }
        }
        if let Some(h) = &self.harden {
            if let Some(url) = &h.http_url
                && !reqwest::Url::parse(url.get_ref()).is_ok_and(|u| u.scheme() == "http")
            {
                return Err(invalid(
                    url.span(),
                    format!(
                        "harden.http_url: expected an http:// URL, found {:?}",
                        url.get_ref()
                    ),
                ));
            }
            if let Some(b) = &h.login_burst
                && !(*b.get_ref() == 0 || (3..=30).contains(b.get_ref()))
            {
                return Err(invalid(
                    b.span(),
                    "harden.login_burst: expected 3 to 30 bad logins (0: no rate-limit check)".into(),
                ));
            }
            for d in &h.compare_with {
                if check_name(d.get_ref()).is_err() || d.get_ref() == self.name.get_ref() {
                    return Err(invalid(
                        d.span(),
                        format!(
                            "harden.compare_with: expected the name of another deployment, found {:?}",
                            d.get_ref()
                        ),
                    ));
                }
            }
        }
        if let Some(url) = &self.public_url {
            match reqwest::Url::parse(url.get_ref()) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => {}
                _ => {
                    return Err(invalid(
                        url.span(),
                        format!(
                            "public_url: expected an http:// or https:// URL, found {:?}",
                            url.get_ref()
                        ),
                    ));
                }
            }
        }
        if self.hosts.is_empty() {
            return Err(ProfileError::at(
                text,
                None,
                ProfileErrorKind::Invalid,
                "expected at least one [[hosts]] table",
            ));
        }

        for host in &self.hosts {
            if let Some(url) = &host.app_url
                && !reqwest::Url::parse(url.get_ref())
                    .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            {
                return Err(invalid(
                    url.span(),
                    format!(
                        "hosts.app_url: expected an http:// or https:// URL, found {:?}",
                        url.get_ref()
                    ),
                ));
            }
        }
        let mut names = HashSet::new();
        for host in &self.hosts {
            check_name(host.name.get_ref())
                .map_err(|m| invalid(host.name.span(), format!("host name: {m}")))?;
            if !names.insert(host.name.get_ref().as_str()) {
                return Err(invalid(
                    host.name.span(),
                    format!("host {:?} is defined twice", host.name.get_ref()),
                ));
            }
            for (what, value) in [("address", &host.address), ("ssh_alias", &host.ssh_alias)] {
                let Some(value) = value else { continue };
                let addr = value.get_ref();
                let bad = |c: char| c.is_whitespace() || c.is_control() || c == '@' || c == '/';
                if addr.is_empty() || addr.len() > 253 || addr.chars().any(bad) {
                    return Err(invalid(
                        value.span(),
                        format!("{what}: expected a host name or IP address, found {addr:?}"),
                    ));
                }
            }
            if host.address.is_none() && host.ssh_alias.is_none() {
                return Err(invalid(
                    host.name.span(),
                    format!(
                        "host {:?}: expected `address` or `ssh_alias`",
                        host.name.get_ref()
                    ),
                ));
            }
            if host.port == Some(0) || (host.port.is_none() && self.ssh.port == Some(0)) {
                return Err(invalid(
                    host.name.span(),
                    "port: expected 1 to 65535, found 0".into(),
                ));
            }
            if let Some(fp) = &host.host_key {
                check_fingerprint(fp.get_ref()).map_err(|m| invalid(fp.span(), format!("host_key: {m}")))?;
            }
            if let Some(env) = &host.env_file {
                check_abs_path(env.get_ref()).map_err(|m| invalid(env.span(), format!("env_file: {m}")))?;
            }
            check_abs_path(host.docker_socket.get_ref())
                .map_err(|m| invalid(host.docker_socket.span(), format!("docker_socket: {m}")))?;
            if host.user.is_none() && self.ssh.user.is_none() && host.ssh_alias.is_none() {
                return Err(invalid(
                    host.name.span(),
                    format!(
                        "host {:?} has no SSH user: set `user` here or in [ssh]",
                        host.name.get_ref()
                    ),
                ));
            }
        }

        let known = |r: &Spanned<String>, what: &str| -> Result<(), ProfileError> {
            if names.contains(r.get_ref().as_str()) {
                Ok(())
            } else {
                Err(invalid(
                    r.span(),
                    format!(
                        "{what}: expected the name of a host in [[hosts]], found {:?}",
                        r.get_ref()
                    ),
                ))
            }
        };
        for host in &self.hosts {
            let Some(jump) = &host.jump else { continue };
            known(jump, "jump")?;
            // A chain of jumps must end at a host reached directly.
            let mut seen = vec![host.name.get_ref().as_str()];
            let mut next = Some(jump);
            while let Some(j) = next {
                if seen.contains(&j.get_ref().as_str()) {
                    return Err(invalid(
                        jump.span(),
                        format!(
                            "jump: the jump hosts from {} lead in a circle ({} → {})",
                            host.name.get_ref(),
                            seen.join(" → "),
                            j.get_ref()
                        ),
                    ));
                }
                seen.push(j.get_ref().as_str());
                next = self.host(j.get_ref()).and_then(|h| h.jump.as_ref());
            }
        }
        if let Some(db) = &self.database {
            known(&db.via_host, "database.via_host")?;
            if let Some(c) = &db.container {
                check_name(c.get_ref()).map_err(|m| invalid(c.span(), format!("database.container: {m}")))?;
            }
            if let Some(sock) = &db.socket {
                check_abs_path(sock.get_ref())
                    .map_err(|m| invalid(sock.span(), format!("database.socket: {m}")))?;
            }
            if db.port == 0 {
                return Err(invalid(
                    db.via_host.span(),
                    "database.port: expected 1 to 65535, found 0".into(),
                ));
            }
            if let (Some(sock), true) = (&db.socket, db.tls != DbTls::Disable) {
                return Err(invalid(
                    sock.span(),
                    "database.socket: PostgreSQL does not use TLS over a Unix socket; \
                     give address and port instead, or tls = \"disable\""
                        .into(),
                ));
            }
            for (field, value) in [("ca_file", &db.ca_file), ("server_name", &db.server_name)] {
                let Some(v) = value else { continue };
                if db.tls != DbTls::VerifyFull {
                    return Err(invalid(
                        v.span(),
                        format!("database.{field}: only used with tls = \"verify-full\""),
                    ));
                }
                if v.get_ref().trim().is_empty() {
                    return Err(invalid(v.span(), format!("database.{field}: expected a value")));
                }
            }
            if let Some(ca) = &db.ca_file {
                let path = ca.get_ref();
                if !(path.starts_with('/') || path.starts_with("~/")) {
                    return Err(invalid(
                        ca.span(),
                        format!("database.ca_file: expected an absolute path or ~/…, found {path:?}"),
                    ));
                }
            }
            if !db.alternating_users.is_empty() {
                let names: Vec<&String> = db.alternating_users.iter().map(|u| u.get_ref()).collect();
                let ok_name = |n: &str| {
                    !n.is_empty() && n.len() <= 63 && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                };
                if names.len() != 2 || names[0] == names[1] || !names.iter().all(|n| ok_name(n)) {
                    return Err(invalid(
                        db.alternating_users[0].span(),
                        "database.alternating_users: expected two different role names (letters, digits, _), like [\"app_blue\", \"app_green\"]".into(),
                    ));
                }
                if db.credentials != DbCredentials::Env {
                    return Err(invalid(
                        db.alternating_users[0].span(),
                        "database.alternating_users: the console reads which role is current from the .env (credentials = \"env\")".into(),
                    ));
                }
            }
            if let Some(name) = &db.server_name {
                rustls::pki_types::ServerName::try_from(name.get_ref().as_str()).map_err(|_| {
                    invalid(
                        name.span(),
                        format!(
                            "database.server_name: expected a DNS name or an IP address, found {:?}",
                            name.get_ref()
                        ),
                    )
                })?;
            }
        }
        if let Some(redis) = &self.redis {
            known(&redis.via_host, "redis.via_host")?;
        }
        if let Some(b) = &self.backups {
            known(&b.host, "backups.host")?;
            if b.path.is_none() && b.s3.is_none() && b.pgbackrest.is_none() {
                return Err(invalid(
                    b.host.span(),
                    "backups: say where the backups are: a folder on the host (path), an S3 bucket ([backups.s3]) or a pgBackRest repository ([backups.pgbackrest])".into(),
                ));
            }
            if let Some(path) = &b.path {
                check_abs_path(path.get_ref())
                    .map_err(|m| invalid(path.span(), format!("backups.path: {m}")))?;
            }
            if let Some(s3) = &b.s3 {
                check_s3(s3).map_err(|(span, m)| invalid(span, m))?;
            }
            if let Some(r) = &b.restore_into
                && !matches!(r.get_ref().as_str(), "database" | "container")
            {
                return Err(invalid(
                    r.span(),
                    format!(
                        "backups.restore_into: expected \"database\" or \"container\", found {:?}",
                        r.get_ref()
                    ),
                ));
            }
            if let Some(c) = &b.container {
                if let Some(m) = &c.memory
                    && parse_size(m.get_ref()).is_none_or(|n| n < 64 << 20)
                {
                    return Err(invalid(
                        m.span(),
                        format!(
                            "backups.container.memory: expected a size of at least 64m, like \"2g\", found {:?}",
                            m.get_ref()
                        ),
                    ));
                }
                if let Some(i) = &c.image
                    && (i.get_ref().is_empty()
                        || i.get_ref().len() > 255
                        || !i
                            .get_ref()
                            .chars()
                            .all(|ch| ch.is_ascii_alphanumeric() || "._-/:@".contains(ch)))
                {
                    return Err(invalid(
                        i.span(),
                        format!(
                            "backups.container.image: expected an image reference like \"postgres:16\", found {:?}",
                            i.get_ref()
                        ),
                    ));
                }
                if c.cpus.is_some_and(|n| !(0.1..=256.0).contains(&n)) {
                    return Err(invalid(
                        b.host.span(),
                        "backups.container.cpus: expected a number of CPUs between 0.1 and 256".into(),
                    ));
                }
            }
            let wants_container = b
                .restore_into
                .as_ref()
                .is_some_and(|r| r.get_ref() == "container");
            let has_image = b.container.as_ref().is_some_and(|c| c.image.is_some())
                || self.database.as_ref().is_some_and(|d| d.container.is_some());
            if wants_container && !has_image {
                return Err(invalid(
                    b.host.span(),
                    "backups.restore_into = \"container\": name its image (backups.container.image = \"postgres:16\") or production's PostgreSQL container ([database] container)".into(),
                ));
            }
            if let Some(p) = &b.pattern {
                let ok = !p.get_ref().is_empty()
                    && p.get_ref().len() <= 128
                    && !p.get_ref().contains('/')
                    && p.get_ref()
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "*?[]._-".contains(c));
                if !ok {
                    return Err(invalid(
                        p.span(),
                        format!(
                            "backups.pattern: expected a file name pattern like \"*.dump\" (letters, digits, * ? [ ] . _ -), found {:?}",
                            p.get_ref()
                        ),
                    ));
                }
            }
            if let Some(r) = &b.rpo {
                crate::engine::when::parse_duration(r.get_ref())
                    .map_err(|e| invalid(r.span(), format!("backups.rpo: {e}")))?;
            }
            if let Some(pb) = &b.pgbackrest {
                let word = |v: &str| {
                    !v.is_empty()
                        && v.len() <= 64
                        && v.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
                };
                if !word(pb.stanza.get_ref()) {
                    return Err(invalid(
                        pb.stanza.span(),
                        format!(
                            "backups.pgbackrest.stanza: expected a stanza name, found {:?}",
                            pb.stanza.get_ref()
                        ),
                    ));
                }
                if let Some(c) = &pb.config {
                    check_abs_path(c.get_ref())
                        .map_err(|m| invalid(c.span(), format!("backups.pgbackrest.config: {m}")))?;
                }
                if !word(&pb.os_user) {
                    return Err(invalid(
                        pb.stanza.span(),
                        format!(
                            "backups.pgbackrest.os_user: expected a user name, found {:?}",
                            pb.os_user
                        ),
                    ));
                }
            }
            if let Some(u) = &b.restore_user {
                let ok = !u.get_ref().is_empty()
                    && u.get_ref().len() <= 63
                    && u.get_ref()
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                if !ok {
                    return Err(invalid(
                        u.span(),
                        format!(
                            "backups.restore_user: expected a PostgreSQL role name, found {:?}",
                            u.get_ref()
                        ),
                    ));
                }
            }
        }
        let mut service_names = HashSet::new();
        for svc in &self.services {
            check_name(svc.name.get_ref())
                .map_err(|m| invalid(svc.name.span(), format!("service name: {m}")))?;
            if !service_names.insert(svc.name.get_ref().as_str()) {
                return Err(invalid(
                    svc.name.span(),
                    format!("service {:?} is defined twice", svc.name.get_ref()),
                ));
            }
            for c in &svc.containers {
                check_name(c.get_ref()).map_err(|m| invalid(c.span(), format!("container name: {m}")))?;
            }
            for n in svc.swarm_service.iter().chain(&svc.docker_secrets) {
                crate::engine::docker::check_name("Swarm name", n.get_ref())
                    .map_err(|e| invalid(n.span(), e.to_string()))?;
            }
            if svc.containers.is_empty() && svc.swarm_service.is_none() {
                return Err(invalid(
                    svc.name.span(),
                    format!(
                        "service {:?}: name its containers (`containers = [\"web1\"]`) or its Swarm service (`swarm_service = \"shop_web\"`)",
                        svc.name.get_ref()
                    ),
                ));
            }
            for var in &svc.env {
                let v = var.get_ref();
                let ok = !v.is_empty()
                    && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && !v.starts_with(|c: char| c.is_ascii_digit());
                if !ok {
                    return Err(invalid(
                        var.span(),
                        format!(
                            "env: expected an environment variable name like SECRET_KEY_BASE, found {v:?}"
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    pub fn name(&self) -> &str {
        self.name.get_ref()
    }

    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts.iter().find(|h| h.name.get_ref() == name)
    }

    /// Every host with the `[ssh]` defaults applied.
    pub fn targets(&self) -> Vec<HostTarget> {
        self.hosts.iter().map(|h| self.target(h)).collect()
    }

    pub fn target(&self, h: &Host) -> HostTarget {
        HostTarget {
            name: h.name.get_ref().clone(),
            address: host_address(h),
            ssh_alias: h.ssh_alias.as_ref().map(|a| a.get_ref().clone()),
            explicit: Explicit {
                port: h.port.or(self.ssh.port).is_some(),
                user: h.user.is_some() || self.ssh.user.is_some(),
                auth: h.auth.is_some() || self.ssh.auth.is_some(),
            },
            port: h.port.or(self.ssh.port).unwrap_or(22),
            // validate() guarantees one of the two is set.
            user: h
                .user
                .clone()
                .or_else(|| self.ssh.user.clone())
                .unwrap_or_default(),
            auth: h
                .auth
                .clone()
                .or_else(|| self.ssh.auth.clone())
                .unwrap_or(Auth::Agent),
            host_key: h.host_key.as_ref().map(|k| k.get_ref().clone()),
            jump: h.jump.as_ref().map(|j| j.get_ref().clone()),
        }
    }

    pub fn summary(&self) -> DeploymentSummary {
        DeploymentSummary {
            name: self.name.get_ref().clone(),
            app_profile: self.app_profile.get_ref().clone(),
            description: self.description.clone(),
            public_url: self.public_url.as_ref().map(|u| u.get_ref().clone()),
            hosts: self
                .hosts
                .iter()
                .map(|h| HostSummary {
                    name: h.name.get_ref().clone(),
                    address: host_address(h),
                    port: h.port.or(self.ssh.port).unwrap_or(22),
                    roles: h.roles.iter().map(|r| role_name(*r).to_owned()).collect(),
                    host_key: h.host_key.as_ref().map(|k| k.get_ref().clone()),
                    jump: h.jump.as_ref().map(|j| j.get_ref().clone()),
                    docker: h.docker,
                })
                .collect(),
            services: self.services.iter().map(|s| s.name.get_ref().clone()).collect(),
        }
    }
}

/// The address, or the alias standing for it (OpenSSH uses the alias as the host name
/// when the config gives no HostName).
fn host_address(h: &Host) -> String {
    h.address
        .as_ref()
        .or(h.ssh_alias.as_ref())
        .map(|a| a.get_ref().clone())
        .unwrap_or_default()
}

pub fn role_name(r: Role) -> &'static str {
    match r {
        Role::Web => "web",
        Role::Worker => "worker",
        Role::Db => "db",
        Role::Proxy => "proxy",
    }
}

/// Names are typed by people and end up in commands and file names: keep them plain.
fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    if !first_ok
        || name.len() > 63
        || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(format!(
            "expected 1 to 63 letters, digits, '-', '_' or '.', starting with a letter or digit, found {name:?}"
        ));
    }
    Ok(())
}

/// `SHA256:` followed by 43 characters of unpadded base64, as `ssh-keygen -l` prints.
pub fn check_fingerprint(fp: &str) -> Result<(), String> {
    let Some(b64) = fp.strip_prefix("SHA256:") else {
        return Err(format!(
            "expected a SHA256 fingerprint like \"SHA256:…\" (as `ssh-keygen -lf KEY` prints it), found {fp:?}"
        ));
    };
    use base64::Engine as _;
    match base64::engine::general_purpose::STANDARD_NO_PAD.decode(b64) {
        Ok(bytes) if bytes.len() == 32 => Ok(()),
        _ => Err(format!(
            "expected 43 base64 characters after \"SHA256:\", found {b64:?}"
        )),
    }
}

/// An S3 bucket's fields: an http(s) endpoint without credentials, a bucket name S3
/// accepts, a printable prefix, a region name, a known URL style.
fn check_s3(s3: &S3Bucket) -> Result<(), (Range<usize>, String)> {
    let e = s3.endpoint.get_ref();
    let rest = e.strip_prefix("https://").or_else(|| e.strip_prefix("http://"));
    match rest {
        Some(r)
            if !r.is_empty()
                && !r.contains(['@', '?', '#'])
                && !r.chars().any(|c| c.is_control() || c == ' ') => {}
        _ => {
            return Err((
                s3.endpoint.span(),
                format!(
                    "backups.s3.endpoint: expected an http(s) address without credentials, like \"https://s3.eu-central-1.amazonaws.com\", found {e:?}"
                ),
            ));
        }
    }
    let b = s3.bucket.get_ref();
    let ok = (3..=63).contains(&b.len())
        && b.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && b.starts_with(|c: char| c.is_ascii_alphanumeric())
        && b.ends_with(|c: char| c.is_ascii_alphanumeric());
    if !ok {
        return Err((
            s3.bucket.span(),
            format!("backups.s3.bucket: expected a bucket name (3 to 63 of a-z 0-9 . -), found {b:?}"),
        ));
    }
    if let Some(p) = &s3.prefix
        && (p.get_ref().len() > 512 || p.get_ref().chars().any(char::is_control))
    {
        return Err((
            p.span(),
            format!(
                "backups.s3.prefix: expected a key prefix like \"db/\", found {:?}",
                p.get_ref()
            ),
        ));
    }
    if let Some(r) = &s3.region
        && (r.get_ref().is_empty()
            || r.get_ref().len() > 32
            || !r.get_ref().chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
    {
        return Err((
            r.span(),
            format!(
                "backups.s3.region: expected a region like \"eu-central-1\", found {:?}",
                r.get_ref()
            ),
        ));
    }
    if let Some(u) = &s3.url_style
        && !matches!(u.get_ref().as_str(), "path" | "virtual")
    {
        return Err((
            u.span(),
            format!(
                "backups.s3.url_style: expected \"path\" or \"virtual\", found {:?}",
                u.get_ref()
            ),
        ));
    }
    Ok(())
}

fn check_abs_path(p: &str) -> Result<(), String> {
    if !p.starts_with('/') || p.chars().any(|c| c.is_control()) {
        return Err(format!("expected an absolute path on the host, found {p:?}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "prod"
app_profile = "homechat"
public_url = "https://chat.example.com"

[ssh]
user = "deploy"
auth = { method = "key-file", path = "~/.ssh/id_ed25519", passphrase = "keychain" }

[[hosts]]
name = "web1"
address = "10.0.0.11"
roles = ["web", "worker"]
host_key = "SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8"
env_file = "/srv/app/.env"

[[hosts]]
name = "db1"
address = "10.0.0.20"
port = 2222
roles = ["db"]

[database]
via_host = "db1"
name = "homechat_production"
"#;

    #[test]
    fn a_good_profile_parses_with_defaults_applied() {
        let p = DeploymentProfile::parse(GOOD).unwrap();
        assert_eq!(p.name(), "prod");
        let t = p.targets();
        assert_eq!(t[0].port, 22);
        assert_eq!(t[1].port, 2222);
        assert_eq!(t[0].user, "deploy");
        assert_eq!(
            t[0].auth,
            Auth::KeyFile {
                path: "~/.ssh/id_ed25519".into(),
                passphrase: Passphrase::Keychain
            }
        );
        assert_eq!(p.hosts[0].docker_socket.get_ref(), "/var/run/docker.sock");
        let db = p.database.as_ref().unwrap();
        assert_eq!(
            (db.port, db.credentials, db.tls),
            (5432, DbCredentials::Env, DbTls::Disable)
        );
        assert_eq!(p.summary().hosts[0].roles, vec!["web", "worker"]);
    }

    fn err(text: &str) -> ProfileError {
        DeploymentProfile::parse(text).unwrap_err()
    }

    #[test]
    fn a_typo_in_a_key_is_located() {
        let e = err(&GOOD.replace("roles = [\"db\"]", "rolse = [\"db\"]"));
        assert_eq!(e.code(), "profile.syntax");
        assert_eq!(e.line, 21, "{e}");
        assert!(e.message.contains("rolse"), "{e}");
    }

    #[test]
    fn an_unknown_role_says_what_is_expected() {
        let e = err(&GOOD.replace("[\"db\"]", "[\"database\"]"));
        assert_eq!(e.line, 21);
        assert!(e.message.contains("web") && e.message.contains("proxy"), "{e}");
    }

    #[test]
    fn a_dangling_host_reference_is_located() {
        let e = err(&GOOD.replace("via_host = \"db1\"", "via_host = \"db2\""));
        assert_eq!(e.code(), "profile.invalid");
        assert_eq!((e.line, e.column), (24, 12), "{e}");
        assert!(e.message.contains("db2"));
    }

    #[test]
    fn database_tls_settings_are_checked_where_they_are_written() {
        let with = |extra: &str| {
            GOOD.replace(
                "name = \"homechat_production\"",
                &format!("name = \"homechat_production\"\n{extra}"),
            )
        };
        let ok = DeploymentProfile::parse(&with(
            "tls = \"verify-full\"\nca_file = \"~/ca.pem\"\nserver_name = \"db.internal\"",
        ))
        .unwrap();
        let db = ok.database.unwrap();
        assert_eq!(db.tls, DbTls::VerifyFull);
        assert_eq!(db.server_name.unwrap().into_inner(), "db.internal");

        let e = err(&with("ca_file = \"/etc/ca.pem\""));
        assert_eq!((e.code().as_str(), e.line), ("profile.invalid", 26), "{e}");
        assert!(e.message.contains("only used with tls = \"verify-full\""), "{e}");
        let e = err(&with("tls = \"require\"\nserver_name = \"db.internal\""));
        assert_eq!(e.line, 27, "{e}");
        let e = err(&with("tls = \"verify-full\"\nca_file = \"ca.pem\""));
        assert!(e.message.contains("absolute path"), "{e}");
        let e = err(&with("tls = \"verify-full\"\nserver_name = \"not a name!\""));
        assert!(e.message.contains("DNS name or an IP address"), "{e}");
        let e = err(&with("tls = \"require\"\nsocket = \"/var/run/postgresql\""));
        assert!(e.message.contains("Unix socket"), "{e}");
        let e = err(&with("tls = \"verify-ca\""));
        assert_eq!(e.code(), "profile.syntax", "{e}");
    }

    #[test]
    fn jump_hosts_must_exist_and_not_lead_in_a_circle() {
        let jump = |from: &str, to: &str, text: &str| {
            text.replacen(
                &format!("name = \"{from}\"\n"),
                &format!("name = \"{from}\"\njump = \"{to}\"\n"),
                1,
            )
        };
        let ok = DeploymentProfile::parse(&jump("web1", "db1", GOOD)).unwrap();
        assert_eq!(ok.targets()[0].jump.as_deref(), Some("db1"));
        assert_eq!(ok.summary().hosts[0].jump.as_deref(), Some("db1"));
        let e = err(&jump("web1", "nowhere", GOOD));
        assert_eq!(
            (e.code().as_str(), e.line, e.column),
            ("profile.invalid", 12, 8),
            "{e}"
        );
        assert!(e.message.contains("nowhere"), "{e}");
        let e = err(&jump("db1", "web1", &jump("web1", "db1", GOOD)));
        assert!(e.message.contains("lead in a circle"), "{e}");
        let e = err(&jump("web1", "web1", GOOD));
        assert!(e.message.contains("lead in a circle"), "{e}");
    }

    #[test]
    fn an_app_profile_name_is_never_a_path() {
        for bad in [
            "../../etc/x",
            "/etc/passwd",
            "a/b",
            "..",
            "Homechat",
            "",
            "a.b",
            "x y",
        ] {
            let text = GOOD.replacen("app_profile = \"homechat\"", &format!("app_profile = {bad:?}"), 1);
            let e = DeploymentProfile::parse(&text).unwrap_err();
            assert!(e.message.contains("app_profile"), "{bad:?}: {e}");
        }
        assert!(is_app_profile_name("my-app_2"));
    }

    #[test]
    fn malformed_fingerprints_are_refused() {
        for bad in [
            "nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8",
            "SHA256:short",
            "MD5:aa:bb",
            "SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8=",
        ] {
            let e = err(&GOOD.replace("SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8", bad));
            assert_eq!((e.code().as_str(), e.line), ("profile.invalid", 14), "{bad}: {e}");
        }
    }

    #[test]
    fn hostile_and_broken_input_gets_errors_not_panics() {
        let cases = [
            "",
            "name = ",
            "name = \"prod\"\napp_profile = \"x\"\nhosts = []\n",
            "name = \"../etc\"\napp_profile = \"x\"\n[[hosts]]\nname=\"a\"\naddress=\"h\"\n",
            "name = \"p\"\napp_profile = \"x\"\n[ssh]\nuser=\"u\"\n[[hosts]]\nname=\"a\"\naddress=\"h; rm -rf /\"\n",
            "name = \"p\"\napp_profile = \"x\"\n[ssh]\nuser=\"u\"\n[[hosts]]\nname=\"a\"\naddress=\"h\"\nport = 70000\n",
            "name = \"p\"\napp_profile = \"x\"\n[ssh]\nuser=\"u\"\n[[hosts]]\nname=\"a\"\naddress=\"h\"\n[[hosts]]\nname=\"a\"\naddress=\"h2\"\n",
            "name = \"p\"\napp_profile = \"x\"\n[[hosts]]\nname=\"a\"\naddress=\"h\"\n",
            "name = \"p\"\napp_profile = \"x\"\npublic_url = \"javascript:alert(1)\"\n[ssh]\nuser=\"u\"\n[[hosts]]\nname=\"a\"\naddress=\"h\"\n",
            "name = \"p\"\napp_profile = \"x\"\n[ssh]\nuser=\"u\"\n[[hosts]]\nname=\"a\"\naddress=\"h\"\nenv_file = \"relative/.env\"\n",
            "\u{0}\u{1}\u{2}",
            "[[[",
        ];
        for c in cases {
            let e = err(c);
            assert!(!e.message.is_empty(), "{c:?}");
        }
    }

    #[test]
    fn sizes_are_read_as_docker_writes_them() {
        assert_eq!(parse_size("2g"), Some(2 << 30));
        assert_eq!(parse_size("512m"), Some(512 << 20));
        assert_eq!(parse_size("1.5GiB"), Some(3 << 29));
        assert_eq!(parse_size("4096"), Some(4096));
        for bad in ["", "g", "-1g", "2x", "1e30g", "NaNm"] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_database_in_docker_restores_into_a_container_unless_told_otherwise() {
        let with = |db: &str, backups: &str| {
            let text = GOOD.replace(
                "name = \"homechat_production\"",
                &format!("name = \"homechat_production\"\n{db}"),
            );
            DeploymentProfile::parse(&format!(
                "{text}\n[backups]\nhost = \"web1\"\npath = \"/b\"\n{backups}\n"
            ))
        };
        let p = with("container = \"db\"", "").unwrap();
        assert!(
            p.backups
                .as_ref()
                .unwrap()
                .into_container(p.database.as_ref().unwrap())
        );
        let p = with("container = \"db\"", "restore_into = \"database\"").unwrap();
        assert!(
            !p.backups
                .as_ref()
                .unwrap()
                .into_container(p.database.as_ref().unwrap())
        );
        let p = with("", "").unwrap();
        assert!(
            !p.backups
                .as_ref()
                .unwrap()
                .into_container(p.database.as_ref().unwrap())
        );
        for (db, backups, says) in [
            ("", "restore_into = \"container\"", "name its image"),
            ("", "restore_into = \"vm\"", "backups.restore_into"),
            (
                "",
                "container = { image = \"postgres:16; rm -rf /\" }",
                "backups.container.image",
            ),
            (
                "",
                "container = { image = \"postgres:16\", memory = \"1k\" }",
                "backups.container.memory",
            ),
            (
                "",
                "container = { image = \"postgres:16\", cpus = 0.0 }",
                "backups.container.cpus",
            ),
            ("container = \"../db\"", "", "database.container"),
        ] {
            let e = with(db, backups).unwrap_err();
            assert!(e.to_string().contains(says), "{db} {backups}: {e}");
        }
    }

    #[test]
    fn backups_say_where_they_are_and_an_s3_bucket_is_checked() {
        let with = |backups: &str| format!("{GOOD}\n[backups]\nhost = \"web1\"\n{backups}\n");
        let p = DeploymentProfile::parse(&with(
            "s3 = { endpoint = \"https://s3.eu-central-1.amazonaws.com\", bucket = \"shop-backups\", prefix = \"db/\", region = \"eu-central-1\" }",
        ))
        .unwrap();
        let b = p.backups.unwrap();
        let s3 = b.s3.as_ref().unwrap();
        assert!(b.path.is_none());
        assert_eq!(
            (s3.region(), s3.prefix(), s3.path_style()),
            ("eu-central-1", "db/", false)
        );
        assert_eq!(b.place(), "s3://shop-backups/db/");
        let minio = DeploymentProfile::parse(&with(
            "path = \"/srv/b\"\ns3 = { endpoint = \"http://10.0.0.5:9000\", bucket = \"b1b\" }",
        ))
        .unwrap();
        let b = minio.backups.unwrap();
        assert!(b.s3.as_ref().unwrap().path_style());
        assert_eq!(b.s3.as_ref().unwrap().region(), "us-east-1");
        assert_eq!(b.place(), "web1:/srv/b and s3://b1b/");

        for (bad, says) in [
            ("rpo = \"1d\"", "say where the backups are"),
            (
                "s3 = { endpoint = \"ftp://h\", bucket = \"abc\" }",
                "backups.s3.endpoint",
            ),
            (
                "s3 = { endpoint = \"https://key:secret@h\", bucket = \"abc\" }",
                "without credentials",
            ),
            (
                "s3 = { endpoint = \"https://h\", bucket = \"Not_A_Bucket\" }",
                "backups.s3.bucket",
            ),
            (
                "s3 = { endpoint = \"https://h\", bucket = \"abc\", region = \"eu central\" }",
                "backups.s3.region",
            ),
            (
                "s3 = { endpoint = \"https://h\", bucket = \"abc\", url_style = \"dns\" }",
                "backups.s3.url_style",
            ),
            (
                "s3 = { endpoint = \"https://h\", bucket = \"abc\", prefix = \"a\\u0007\" }",
                "backups.s3.prefix",
            ),
            (
                "s3 = { endpoint = \"https://h\", bucket = \"abc\", secret_key = \"x\" }",
                "secret_key",
            ),
        ] {
            let e = err(&with(bad));
            assert!(e.to_string().contains(says), "{bad}: {e}");
        }
    }
}

#[cfg(test)]
mod doc_examples {
    use super::*;

    /// Every ```toml block of docs/profiles.md is a valid profile: the doc cannot rot.
    #[test]
    fn every_example_in_the_docs_parses() {
        let doc = include_str!("../../../docs/profiles.md");
        let blocks: Vec<&str> = doc
            .split("```toml\n")
            .skip(1)
            .filter_map(|b| b.split("```").next())
            .collect();
        assert_eq!(blocks.len(), 5, "the sandbox and one per seed stack");
        for b in blocks {
            let p = DeploymentProfile::parse(b).unwrap_or_else(|e| panic!("{e}\n{b}"));
            assert!(!p.hosts.is_empty());
        }
    }
}
