//! One SSH connection to one host (russh), with a pinned host key, reused for every
//! channel: remote commands, the Docker socket (`direct-streamlocal`) and database
//! tunnels (`direct-tcpip`).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use russh::ChannelMsg;
use russh::client::{self, Handle, Msg};
use russh::keys::{HashAlg, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use tokio::net::TcpStream;

use super::error::SshError;
use super::output::Capped;
use crate::engine::secret::Sensitive;

/// Timeouts and keepalive of a connection.
#[derive(Debug, Clone, Copy)]
pub struct ConnectOptions {
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
    pub keepalive: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            connect_timeout: Duration::from_secs(10),
            command_timeout: Duration::from_secs(60),
            keepalive: Duration::from_secs(15),
        }
    }
}

/// How to prove who we are, with any secret already read from the keychain.
pub enum Credential {
    KeyFile {
        path: String,
        passphrase: Option<Sensitive<String>>,
    },
    Agent,
    Password(Sensitive<String>),
    /// A private key held in memory (the console's new key before it is written to its
    /// file, or an old one being proven refused). Zeroed when the last holder drops it.
    Key(Arc<russh::keys::PrivateKey>),
}

/// Where to connect and what key to expect.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub host: String,
    pub address: String,
    pub port: u16,
    pub user: String,
    /// The pinned `SHA256:…` fingerprint. `None`: the connection fails with
    /// [`SshError::HostKeyUnknown`], showing the key for a person to trust.
    pub pin: Option<String>,
}

/// The key a server presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenKey {
    pub fingerprint: String,
    pub key_type: String,
}

struct Client {
    pin: Option<String>,
    seen: Arc<Mutex<Option<SeenKey>>>,
}

impl client::Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(&mut self, key: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        let public = key.public_key();
        let seen = SeenKey {
            fingerprint: public.fingerprint(HashAlg::Sha256).to_string(),
            key_type: public.algorithm().to_string(),
        };
        let ok = self.pin.as_deref() == Some(seen.fingerprint.as_str());
        if let Ok(mut slot) = self.seen.lock() {
            *slot = Some(seen);
        }
        Ok(ok)
    }
}

/// The result of a remote command. `stdout`/`stderr` are raw bytes: show them only
/// through [`super::output::display_safe`].
#[derive(Debug)]
pub struct ExecOutput {
    pub status: Option<u32>,
    pub signal: Option<String>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Some output was dropped because it exceeded the cap.
    pub truncated: bool,
}

impl ExecOutput {
    pub fn success(&self) -> bool {
        self.status == Some(0)
    }
}

/// Default cap on what one command may print (per stream).
pub const DEFAULT_OUTPUT_CAP: usize = 4 * 1024 * 1024;

/// An authenticated connection to one host.
pub struct Session {
    host: String,
    handle: Handle<Client>,
    key: SeenKey,
    opts: ConnectOptions,
    connected_in: Duration,
    /// The jump host's connection, kept open as long as this one (it carries it).
    via: Option<Arc<Session>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("host", &self.host)
            .field("host_key", &self.key.fingerprint)
            .finish()
    }
}

impl Session {
    /// Connects, checks the host key against the pin, and authenticates.
    pub async fn connect(ep: &Endpoint, cred: Credential, opts: ConnectOptions) -> Result<Session, SshError> {
        let started = Instant::now();
        let tcp = tokio::time::timeout(
            opts.connect_timeout,
            TcpStream::connect((ep.address.as_str(), ep.port)),
        )
        .await
        .map_err(|_| SshError::Timeout {
            host: ep.host.clone(),
            what: "connecting",
            secs: opts.connect_timeout.as_secs(),
        })?
        .map_err(|source| SshError::Connect {
            host: ep.host.clone(),
            addr: format!("{}:{}", ep.address, ep.port),
            source,
        })?;
        let _ = tcp.set_nodelay(true);
        Self::handshake(ep, cred, opts, tcp, started, None).await
    }

    /// Connects through another host's connection (a bastion, OpenSSH's ProxyJump): a
    /// `direct-tcpip` channel from `via` to this host's address and port carries the whole
    /// SSH session, end to end encrypted; `via` sees only ciphertext. This host's key is
    /// checked against its own pin, exactly as for a direct connection.
    pub async fn connect_via(
        ep: &Endpoint,
        cred: Credential,
        opts: ConnectOptions,
        via: Arc<Session>,
    ) -> Result<Session, SshError> {
        let started = Instant::now();
        let channel = tokio::time::timeout(opts.connect_timeout, via.open_tcp(&ep.address, ep.port))
            .await
            .map_err(|_| SshError::Timeout {
                host: ep.host.clone(),
                what: "the jump host's channel",
                secs: opts.connect_timeout.as_secs(),
            })?
            .map_err(|e| SshError::Jump {
                host: ep.host.clone(),
                via: via.host().to_owned(),
                detail: e.to_string(),
            })?;
        Self::handshake(ep, cred, opts, channel.into_stream(), started, Some(via)).await
    }

    async fn handshake<S>(
        ep: &Endpoint,
        cred: Credential,
        opts: ConnectOptions,
        stream: S,
        started: Instant,
        via: Option<Arc<Session>>,
    ) -> Result<Session, SshError>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let host = ep.host.clone();
        let secs = opts.connect_timeout.as_secs();
        let timeout = |what| SshError::Timeout {
            host: host.clone(),
            what,
            secs,
        };
        let config = Arc::new(client::Config {
            keepalive_interval: Some(opts.keepalive),
            keepalive_max: 3,
            nodelay: true,
            ..Default::default()
        });
        let seen = Arc::new(Mutex::new(None));
        let handler = Client {
            pin: ep.pin.clone(),
            seen: seen.clone(),
        };
        let connected = tokio::time::timeout(
            opts.connect_timeout,
            client::connect_stream(config, stream, handler),
        )
        .await
        .map_err(|_| timeout("the SSH handshake"))?;
        let seen_key = seen.lock().ok().and_then(|s| s.clone());
        let mut handle = match (connected, seen_key.clone(), ep.pin.clone()) {
            (Ok(h), _, _) => h,
            (Err(_), Some(seen), Some(pinned)) if seen.fingerprint != pinned => {
                return Err(SshError::HostKeyChanged {
                    host,
                    pinned,
                    seen: seen.fingerprint,
                });
            }
            (Err(_), Some(seen), None) => {
                let short = seen.key_type.trim_start_matches("ssh-").to_owned();
                return Err(SshError::HostKeyUnknown {
                    host,
                    fingerprint: seen.fingerprint,
                    key_type: seen.key_type,
                    short,
                });
            }
            (Err(source), _, _) => return Err(SshError::Protocol { host, source }),
        };
        let key = seen_key.ok_or_else(|| SshError::Disconnected { host: host.clone() })?;

        tokio::time::timeout(
            opts.connect_timeout,
            authenticate(&mut handle, &host, &ep.user, cred),
        )
        .await
        .map_err(|_| timeout("authentication"))??;

        Ok(Session {
            host,
            handle,
            key,
            opts,
            connected_in: started.elapsed(),
            via,
        })
    }

    /// The connection this one runs through, when the host is reached via a jump host.
    pub fn via(&self) -> Option<&Arc<Session>> {
        self.via.as_ref()
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// The host key this connection verified.
    pub fn host_key(&self) -> &SeenKey {
        &self.key
    }

    /// How long connecting and authenticating took.
    pub fn connected_in(&self) -> Duration {
        self.connected_in
    }

    pub fn is_closed(&self) -> bool {
        self.handle.is_closed()
    }

    /// One SSH-level round trip (a `keepalive@openssh.com` request, which the server
    /// answers without starting anything): proves the connection is alive and measures
    /// its latency. A command (`exec`) costs a process on the server, about 100 ms of
    /// sshd's time per call; this costs one packet each way.
    pub async fn ping(&self) -> Result<Duration, SshError> {
        let started = Instant::now();
        let sent = tokio::time::timeout(self.opts.command_timeout, self.handle.send_ping()).await;
        // russh answers Ok(()) when the connection ends before the reply: check, after
        // letting its session task finish closing.
        tokio::task::yield_now().await;
        if self.is_closed() {
            return Err(SshError::Disconnected {
                host: self.host.clone(),
            });
        }
        match sent {
            Err(_) => Err(SshError::Timeout {
                host: self.host.clone(),
                what: "a round trip",
                secs: self.opts.command_timeout.as_secs(),
            }),
            Ok(Err(source)) => Err(SshError::Channel {
                host: self.host.clone(),
                what: "a round trip".into(),
                source,
            }),
            Ok(Ok(())) => Ok(started.elapsed()),
        }
    }

    fn channel_err(&self, what: impl Into<String>) -> impl FnOnce(russh::Error) -> SshError {
        let (host, what) = (self.host.clone(), what.into());
        move |source| SshError::Channel { host, what, source }
    }

    /// Runs a command. `stdin` is the only way a secret may reach the remote side: it
    /// never appears in argv (visible in `ps`) or in a shell history.
    pub async fn exec(&self, command: &str, stdin: Option<&[u8]>) -> Result<ExecOutput, SshError> {
        self.exec_capped(command, stdin, DEFAULT_OUTPUT_CAP).await
    }

    pub async fn exec_capped(
        &self,
        command: &str,
        stdin: Option<&[u8]>,
        cap: usize,
    ) -> Result<ExecOutput, SshError> {
        self.exec_within(command, stdin, cap, self.opts.command_timeout)
            .await
    }

    /// [`Session::exec_capped`] with a time limit of its own, for work that takes as long
    /// as it takes (a restore): the profile's command timeout is for quick commands.
    pub async fn exec_within(
        &self,
        command: &str,
        stdin: Option<&[u8]>,
        cap: usize,
        limit: Duration,
    ) -> Result<ExecOutput, SshError> {
        let secs = limit.as_secs();
        let work = async {
            let host = self.host.clone();
            let mut ch = self
                .handle
                .channel_open_session()
                .await
                .map_err(|source| SshError::ChannelOpen { host, source })?;
            // From here on the command may have reached the host: no error below is
            // one after which it could be sent again.
            ch.exec(true, command)
                .await
                .map_err(self.channel_err("a command"))?;
            if let Some(input) = stdin {
                ch.data_bytes(bytes::Bytes::copy_from_slice(input))
                    .await
                    .map_err(self.channel_err("stdin"))?;
            }
            ch.eof().await.map_err(self.channel_err("stdin"))?;
            let (mut out, mut err) = (Capped::new(cap), Capped::new(cap));
            let (mut status, mut signal) = (None, None);
            while let Some(msg) = ch.wait().await {
                match msg {
                    ChannelMsg::Data { data } => out.push(&data),
                    ChannelMsg::ExtendedData { data, ext: 1 } => err.push(&data),
                    ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
                    ChannelMsg::ExitSignal { signal_name, .. } => signal = Some(format!("{signal_name:?}")),
                    ChannelMsg::Close => break,
                    _ => {}
                }
            }
            if status.is_none() && signal.is_none() && self.is_closed() {
                return Err(SshError::Disconnected {
                    host: self.host.clone(),
                });
            }
            Ok(ExecOutput {
                status,
                signal,
                truncated: out.truncated || err.truncated,
                stdout: out.bytes,
                stderr: err.bytes,
            })
        };
        tokio::time::timeout(limit, work)
            .await
            .map_err(|_| SshError::Timeout {
                host: self.host.clone(),
                what: "a remote command",
                secs,
            })?
    }

    /// A channel to a Unix socket on the host (such as `/var/run/docker.sock`).
    pub async fn open_unix_socket(&self, path: &str) -> Result<russh::Channel<Msg>, SshError> {
        self.handle
            .channel_open_direct_streamlocal(path)
            .await
            .map_err(self.channel_err(format!("the socket {path}")))
    }

    /// A channel to a TCP port as seen from the host (such as PostgreSQL on 127.0.0.1:5432).
    pub async fn open_tcp(&self, address: &str, port: u16) -> Result<russh::Channel<Msg>, SshError> {
        self.handle
            .channel_open_direct_tcpip(address, u32::from(port), "127.0.0.1", 0)
            .await
            .map_err(self.channel_err(format!("{address}:{port}")))
    }

    /// Closes the connection politely.
    pub async fn close(&self) {
        let _ = self
            .handle
            .disconnect(russh::Disconnect::ByApplication, "", "en")
            .await;
    }
}

async fn authenticate(
    handle: &mut Handle<Client>,
    host: &str,
    user: &str,
    cred: Credential,
) -> Result<(), SshError> {
    let proto = |source| SshError::Protocol {
        host: host.to_owned(),
        source,
    };
    let rejected = |method| SshError::AuthRejected {
        host: host.to_owned(),
        user: user.to_owned(),
        method,
    };
    match cred {
        Credential::KeyFile { path, passphrase } => {
            let expanded = expand_home(&path);
            let key =
                russh::keys::load_secret_key(&expanded, passphrase.as_ref().map(|p| p.expose().as_str()))
                    .map_err(|e| key_error(&path, e, passphrase.is_some()))?;
            let hash = if key.algorithm().is_rsa() {
                handle.best_supported_rsa_hash().await.map_err(proto)?.flatten()
            } else {
                None
            };
            let res = handle
                .authenticate_publickey(user, PrivateKeyWithHashAlg::new(Arc::new(key), hash))
                .await
                .map_err(proto)?;
            if res.success() {
                Ok(())
            } else {
                Err(rejected("public key"))
            }
        }
        Credential::Key(key) => {
            let hash = if key.algorithm().is_rsa() {
                handle.best_supported_rsa_hash().await.map_err(proto)?.flatten()
            } else {
                None
            };
            let res = handle
                .authenticate_publickey(user, PrivateKeyWithHashAlg::new(key, hash))
                .await
                .map_err(proto)?;
            if res.success() {
                Ok(())
            } else {
                Err(rejected("public key"))
            }
        }
        Credential::Password(pw) => {
            let res = handle
                .authenticate_password(user, pw.expose().as_str())
                .await
                .map_err(proto)?;
            if res.success() {
                Ok(())
            } else {
                Err(rejected("password"))
            }
        }
        Credential::Agent => {
            let agent_err = |e: russh::keys::Error| SshError::Agent {
                reason: e.to_string(),
            };
            let mut agent = russh::keys::agent::client::AgentClient::connect_env()
                .await
                .map_err(|e| SshError::Agent {
                    reason: format!(
                        "cannot reach the agent through SSH_AUTH_SOCK ({e}); start ssh-agent and add your key"
                    ),
                })?;
            let identities = agent.request_identities().await.map_err(agent_err)?;
            if identities.is_empty() {
                return Err(SshError::Agent {
                    reason: "the agent holds no key; add one with ssh-add".into(),
                });
            }
            for id in identities {
                let russh::keys::agent::AgentIdentity::PublicKey { key, .. } = id else {
                    continue;
                };
                let hash = if key.algorithm().is_rsa() {
                    handle.best_supported_rsa_hash().await.map_err(proto)?.flatten()
                } else {
                    None
                };
                let res = handle
                    .authenticate_publickey_with(user, key, hash, &mut agent)
                    .await
                    .map_err(|e| SshError::Agent {
                        reason: e.to_string(),
                    })?;
                if res.success() {
                    return Ok(());
                }
            }
            Err(rejected("agent key"))
        }
    }
}

fn key_error(path: &str, e: russh::keys::Error, had_passphrase: bool) -> SshError {
    let reason = match e {
        russh::keys::Error::KeyIsEncrypted if !had_passphrase => {
            "is encrypted: store its passphrase in the keychain (`breakglass secret set DEPLOYMENT ssh-key-passphrase`) and set `passphrase = \"keychain\"` in the profile".to_owned()
        }
        russh::keys::Error::KeyIsEncrypted | russh::keys::Error::KeyIsCorrupt => {
            "cannot be decrypted: the passphrase in the keychain is wrong, or the key is damaged".to_owned()
        }
        russh::keys::Error::IO(io) => format!("cannot be read: {io}"),
        russh::keys::Error::SshKey(k) if had_passphrase => {
            format!("cannot be decrypted ({k}): the passphrase in the keychain is probably wrong")
        }
        other => format!("is not a usable private key: {other}"),
    };
    SshError::Key {
        path: path.to_owned(),
        reason,
    }
}

/// `~/x` → `$HOME/x`.
pub fn expand_home(path: &str) -> std::path::PathBuf {
    match (path.strip_prefix("~/"), dirs::home_dir()) {
        (Some(rest), Some(home)) => home.join(rest),
        _ => Path::new(path).to_owned(),
    }
}
