//! Redis replies (RESP2) from a server that may be hostile: a command and a SCAN end in a
//! value or a clear error, with bounded memory, never a panic.
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Replies from the fuzzer's bytes; requests go nowhere.
struct Script(std::io::Cursor<Vec<u8>>);

impl AsyncRead for Script {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Script {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        Poll::Ready(Ok(data.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    afl::fuzz!(|data: &[u8]| {
        use breakglass::engine::redis::Redis;
        rt.block_on(async {
            let script = Box::new(Script(std::io::Cursor::new(data.to_vec())));
            let mut r = Redis::over(script, "fuzz").with_bounds(std::time::Duration::from_millis(200), 64);
            let _ = r.call("PING", &[]).await;
            let script = Box::new(Script(std::io::Cursor::new(data.to_vec())));
            let mut r = Redis::over(script, "fuzz").with_bounds(std::time::Duration::from_millis(200), 64);
            let _ = r.scan("session:*").await;
        });
    });
}
