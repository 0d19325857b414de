//! A local endpoint whose every accepted connection is piped into a new channel of the
//! host's SSH connection.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, UnixListener};
use tokio::task::JoinHandle;

use super::DbError;
use crate::engine::ssh::Session;

/// Where the tunnel leads, as seen from the host.
pub enum Target {
    Tcp(String, u16),
    Unix(String),
}

/// Where the tunnel starts, on this machine.
pub enum Local {
    /// A socket named `.s.PGSQL.<port>` in `dir`, as libpq and sqlx expect.
    Unix {
        dir: PathBuf,
        port: u16,
    },
    Tcp(SocketAddr),
}

pub struct Tunnel {
    local: Local,
    task: JoinHandle<()>,
    _dir: Option<tempfile::TempDir>,
}

impl Tunnel {
    pub async fn open(session: Arc<Session>, target: Target, tcp: bool) -> Result<Tunnel, DbError> {
        let err = |e: std::io::Error| DbError::Tunnel(e.to_string());
        let target = Arc::new(target);
        if tcp {
            let listener = TcpListener::bind("127.0.0.1:0").await.map_err(err)?;
            let addr = listener.local_addr().map_err(err)?;
            let task = tokio::spawn(async move {
                while let Ok((sock, _)) = listener.accept().await {
                    pipe(sock, session.clone(), target.clone());
                }
            });
            return Ok(Tunnel {
                local: Local::Tcp(addr),
                task,
                _dir: None,
            });
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
                pipe(sock, session.clone(), target.clone());
            }
        });
        Ok(Tunnel {
            local: Local::Unix {
                dir: dir.path().to_owned(),
                port,
            },
            task,
            _dir: Some(dir),
        })
    }

    pub fn local(&self) -> &Local {
        &self.local
    }
}

/// Pipes one accepted local connection into a new channel to the target.
fn pipe<S>(mut sock: S, session: Arc<Session>, target: Arc<Target>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        if let Ok(ch) = open(&session, &target).await {
            let mut stream = ch.into_stream();
            let _ = copy_bidirectional(&mut sock, &mut stream).await;
        }
    });
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
