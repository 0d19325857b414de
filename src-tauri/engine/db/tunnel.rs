//! A local endpoint whose every accepted connection is piped into a new channel of the
//! host's SSH connection, through TLS to the server when the profile asks for it.

use std::path::PathBuf;
use std::sync::Arc;

use russh::ChannelStream;
use russh::client::Msg;
use tokio::io::copy_bidirectional;
use tokio::net::UnixListener;
use tokio::task::JoinHandle;

use super::DbError;
use super::tls::TlsSetup;
use crate::engine::ssh::Session;

/// Where the tunnel leads, as seen from the host.
pub enum Target {
    Tcp(String, u16),
    Unix(String),
}

/// Where the tunnel starts, on this machine: a socket named `.s.PGSQL.<port>` in a
/// private (0700) folder, as libpq and sqlx expect; no other local user can use it.
pub struct Local {
    pub dir: PathBuf,
    pub port: u16,
}

/// How long opening the channel, the server's answer to the TLS request and the
/// handshake may take together.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// The first TLS stream, opened while the tunnel was set up (so that a TLS failure is
/// reported then, with its reason), waiting for the first local connection.
type Ready = Arc<std::sync::Mutex<Option<tokio_rustls::client::TlsStream<ChannelStream<Msg>>>>>;

pub struct Tunnel {
    local: Local,
    task: JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Tunnel {
    pub async fn open(
        session: Arc<Session>,
        target: Target,
        tls: Option<Arc<TlsSetup>>,
    ) -> Result<Tunnel, DbError> {
        let err = |e: std::io::Error| DbError::Tunnel(e.to_string());
        let target = Arc::new(target);
        let ready: Ready = Arc::default();
        if let Some(tls) = &tls {
            let stream = tokio::time::timeout(HANDSHAKE_TIMEOUT, secure(&session, &target, tls))
                .await
                .map_err(|_| {
                    DbError::Tunnel(format!(
                        "no answer from the database server within {} s",
                        HANDSHAKE_TIMEOUT.as_secs()
                    ))
                })??;
            if let Ok(mut r) = ready.lock() {
                *r = Some(stream);
            }
        }
        let dir = tempfile::Builder::new()
            .prefix("breakglass-db-")
            .tempdir()
            .map_err(err)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).map_err(err)?;
        }
        let port = 5432;
        let listener = UnixListener::bind(dir.path().join(format!(".s.PGSQL.{port}"))).map_err(err)?;
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                pipe(sock, session.clone(), target.clone(), tls.clone(), ready.clone());
            }
        });
        Ok(Tunnel {
            local: Local {
                dir: dir.path().to_owned(),
                port,
            },
            task,
            _dir: dir,
        })
    }

    pub fn local(&self) -> &Local {
        &self.local
    }
}

/// Pipes one accepted local connection into a new channel to the target (through TLS
/// when the profile asks for it). A failure closes the local connection; sqlx reports it.
fn pipe<S>(mut sock: S, session: Arc<Session>, target: Arc<Target>, tls: Option<Arc<TlsSetup>>, ready: Ready)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        match tls {
            None => {
                let Ok(ch) = open(&session, &target).await else {
                    return;
                };
                let _ = copy_bidirectional(&mut sock, &mut ch.into_stream()).await;
            }
            Some(tls) => {
                let first = ready.lock().ok().and_then(|mut r| r.take());
                let mut secured = match first {
                    Some(s) => s,
                    None => {
                        match tokio::time::timeout(HANDSHAKE_TIMEOUT, secure(&session, &target, &tls)).await {
                            Ok(Ok(s)) => s,
                            // The local connection closes and sqlx reports that; the reason
                            // (which holds no secret) goes to the log.
                            Ok(Err(e)) => {
                                tracing::warn!("a new database connection failed: {e}");
                                return;
                            }
                            Err(_) => {
                                tracing::warn!(
                                    "a new database connection failed: no answer within {} s",
                                    HANDSHAKE_TIMEOUT.as_secs()
                                );
                                return;
                            }
                        }
                    }
                };
                let _ = copy_bidirectional(&mut sock, &mut secured).await;
            }
        }
    });
}

/// A channel to the server, then TLS on it.
async fn secure(
    session: &Session,
    target: &Target,
    tls: &TlsSetup,
) -> Result<tokio_rustls::client::TlsStream<ChannelStream<Msg>>, DbError> {
    let ch = open(session, target)
        .await
        .map_err(|e| DbError::Tunnel(e.to_string()))?;
    tls.handshake(ch.into_stream()).await
}

async fn open(
    session: &Session,
    target: &Target,
) -> Result<russh::Channel<russh::client::Msg>, crate::engine::ssh::SshError> {
    match target {
        Target::Tcp(addr, port) => session.open_tcp(addr, *port).await,
        Target::Unix(path) => session.open_unix_socket(path).await,
    }
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        self.task.abort();
    }
}
