//! bollard's custom transport: each HTTP request to the Docker API travels over a fresh
//! `direct-streamlocal` channel of the host's one SSH connection, to the remote socket.
//! Opening a channel costs one round trip and no new handshake.

use std::sync::Arc;

use bollard::BollardRequest;
use hyper::Response;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

use crate::engine::ssh::Session;

pub struct SshSocketTransport {
    session: Arc<Session>,
    socket: String,
}

impl SshSocketTransport {
    pub fn new(session: Arc<Session>, socket: String) -> Self {
        SshSocketTransport { session, socket }
    }
}

fn io_err(e: impl std::fmt::Display) -> bollard::errors::Error {
    bollard::errors::Error::IOError {
        err: std::io::Error::other(e.to_string()),
    }
}

type ResponseFuture =
    std::pin::Pin<Box<dyn Future<Output = Result<Response<Incoming>, bollard::errors::Error>> + Send>>;

impl SshSocketTransport {
    /// The transport as bollard takes it: a function from request to response future.
    pub fn into_fn(self) -> impl Fn(BollardRequest) -> ResponseFuture + Send + Sync + 'static {
        let this = Arc::new(self);
        move |request| {
            let this = this.clone();
            Box::pin(async move { this.send(request).await }) as ResponseFuture
        }
    }

    async fn send(&self, request: BollardRequest) -> Result<Response<Incoming>, bollard::errors::Error> {
        let channel = self
            .session
            .open_unix_socket(&self.socket)
            .await
            .map_err(io_err)?;
        let io = TokioIo::new(channel.into_stream());
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await?;
        tokio::spawn(async move {
            // `docker exec` and attach upgrade the connection to a raw stream.
            let _ = conn.with_upgrades().await;
        });
        // Origin-form request target; the socket needs no host name.
        let (mut parts, body) = request.into_parts();
        let path = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "/".into());
        parts.uri = path.parse().map_err(io_err)?;
        parts.headers.insert(
            hyper::header::HOST,
            hyper::header::HeaderValue::from_static("docker"),
        );
        Ok(sender
            .send_request(hyper::Request::from_parts(parts, body))
            .await?)
    }
}
