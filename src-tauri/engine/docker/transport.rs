//! bollard's custom transport: each HTTP request to the Docker API travels over a fresh
//! `direct-streamlocal` channel of the host's one SSH connection, to the remote socket.
//! Opening a channel costs one round trip and no new handshake.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bollard::BollardRequest;
use hyper::Response;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

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

    pub(super) async fn send(
        &self,
        request: BollardRequest,
    ) -> Result<Response<Incoming>, bollard::errors::Error> {
        let channel = self
            .session
            .open_unix_socket(&self.socket)
            .await
            .map_err(io_err)?;
        // One channel carries one request: a cap on what the channel may deliver is a
        // cap on the response. Streams that are meant to go on (logs that follow, exec,
        // attach, events) are bounded by their readers instead.
        let path = request.uri().path();
        let streaming = path.ends_with("/logs")
            || path.ends_with("/attach")
            || path.contains("/exec/") && path.ends_with("/start")
            || path.ends_with("/events");
        let cap = if streaming { u64::MAX } else { MAX_RESPONSE };
        let io = TokioIo::new(Capped::new(channel.into_stream(), cap));
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

/// The most one Docker API response may be (an inspect, a list of every container):
/// past this a hostile or broken daemon gets an error, not our memory.
pub const MAX_RESPONSE: u64 = 32 * 1024 * 1024;

/// A stream that delivers at most `left` bytes, then fails reads with a clear error.
pub struct Capped<S> {
    inner: S,
    left: u64,
    cap: u64,
}

impl<S> Capped<S> {
    pub fn new(inner: S, cap: u64) -> Self {
        Capped {
            inner,
            left: cap,
            cap,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Capped<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if this.left == 0 {
            return Poll::Ready(Err(std::io::Error::other(format!(
                "the Docker Engine sent more than {} MiB for one response",
                this.cap / (1024 * 1024)
            ))));
        }
        // Through a small buffer of our own: no unsafe `assume_init` on the caller's.
        let mut tmp = [0u8; 16 * 1024];
        let room = usize::try_from(this.left)
            .unwrap_or(usize::MAX)
            .min(buf.remaining())
            .min(tmp.len());
        let mut limited = ReadBuf::new(tmp.get_mut(..room).unwrap_or_default());
        let poll = Pin::new(&mut this.inner).poll_read(cx, &mut limited);
        if let Poll::Ready(Ok(())) = poll {
            let got = limited.filled();
            buf.put_slice(got);
            this.left -= got.len() as u64;
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Capped<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, data)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::Capped;

    #[tokio::test]
    async fn a_response_past_the_cap_is_an_error_and_memory_stays_bounded() {
        let (mut server, client) = tokio::io::duplex(64 * 1024);
        // A "daemon" that sends without end.
        tokio::spawn(async move {
            let chunk = vec![b'x'; 64 * 1024];
            while server.write_all(&chunk).await.is_ok() {}
        });
        let mut capped = Capped::new(client, 1024 * 1024);
        let mut got = Vec::new();
        let e = capped.read_to_end(&mut got).await.unwrap_err();
        assert_eq!(got.len(), 1024 * 1024, "exactly the cap was delivered");
        assert!(e.to_string().contains("more than 1 MiB"), "{e}");
    }

    #[tokio::test]
    async fn hyper_over_a_capped_stream_refuses_a_huge_json_body() {
        let (mut server, client) = tokio::io::duplex(64 * 1024);
        tokio::spawn(async move {
            let mut req = [0u8; 1024];
            let _ = server.read(&mut req).await;
            let _ = server
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
                .await;
            let chunk = format!("{:x}\r\n{}\r\n", 60_000, "[".repeat(60_000));
            while server.write_all(chunk.as_bytes()).await.is_ok() {}
        });
        let io = hyper_util::rt::TokioIo::new(Capped::new(client, 2 * 1024 * 1024));
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
        tokio::spawn(conn);
        let req = hyper::Request::get("/containers/json")
            .header("host", "docker")
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap();
        let resp = sender.send_request(req).await.unwrap();
        let e = http_body_util::BodyExt::collect(resp.into_body())
            .await
            .unwrap_err();
        let text = format!("{e:?}");
        assert!(text.contains("more than 2 MiB"), "{text}");
    }
}
