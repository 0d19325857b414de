//! A deployment's Redis, through a `direct-tcpip` channel of the SSH connection to the
//! profile's `via_host`: just the commands the actions need (AUTH, PING, SCAN, UNLINK),
//! spoken in RESP2. The password is read from the remote `.env` at the moment of use and
//! sent once, as a protocol field.

use crate::engine::error::ErrorCode;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::engine::secret::Sensitive;
use crate::engine::ssh::Session;

#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    #[error("Redis through {host}: {0}", host = .1)]
    Io(String, String),
    #[error("Redis refused {command}: {message}")]
    Refused { command: &'static str, message: String },
    #[error("Redis sent something that is not RESP: {0}")]
    Protocol(String),
}

impl RedisError {
    pub fn code(&self) -> ErrorCode {
        match self {
            RedisError::Io(..) => ErrorCode::RedisIo,
            RedisError::Refused { .. } => ErrorCode::RedisRefused,
            RedisError::Protocol(_) => ErrorCode::RedisProtocol,
        }
    }
}

/// A RESP2 value, as far as these commands need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Vec<Value>),
}

/// What Redis is spoken over: an SSH channel in use, a TCP socket in tests.
pub trait Duplex: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Duplex for T {}

type Stream = BufReader<Box<dyn Duplex>>;

pub struct Redis {
    stream: Stream,
    host: String,
    reply_timeout: std::time::Duration,
    scan_rounds: usize,
}

// Bounds against a hostile or broken server (whoever holds the leaked `.env` can run
// one, or shape what the real one answers): memory, time and rounds all stay bounded.
/// One reply line (`+…`, `-…`, `:…`, a length header).
const MAX_LINE: usize = 64 * 1024;
/// One bulk value.
const MAX_BULK: usize = 64 * 1024 * 1024;
/// Items in one array.
const MAX_ARRAY: usize = 1_000_000;
/// Arrays inside arrays (SCAN's reply is two deep).
const MAX_DEPTH: usize = 4;
/// How long one command may wait for its whole reply.
const REPLY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// SCAN rounds before giving up: COUNT 1000 a round covers a billion keys.
const MAX_SCAN_ROUNDS: usize = 1_000_000;
/// Keys one SCAN may collect.
const MAX_SCAN_KEYS: usize = 10_000_000;

impl Redis {
    pub async fn connect(
        session: &Session,
        address: &str,
        port: u16,
        password: Option<Sensitive<String>>,
        database: u16,
    ) -> Result<Redis, RedisError> {
        let host = session.host().to_owned();
        let ch = session
            .open_tcp(address, port)
            .await
            .map_err(|e| RedisError::Io(e.to_string(), host.clone()))?;
        let mut r = Redis::over(Box::new(ch.into_stream()), host);
        if let Some(pw) = password {
            match r.call("AUTH", &[pw.expose().as_bytes()]).await? {
                Value::Simple(_) => {}
                Value::Error(m) => {
                    return Err(RedisError::Refused {
                        command: "AUTH",
                        message: m,
                    });
                }
                other => return Err(RedisError::Protocol(format!("{other:?}"))),
            }
        }
        if database != 0 {
            match r.call("SELECT", &[database.to_string().as_bytes()]).await? {
                Value::Simple(_) => {}
                Value::Error(m) => {
                    return Err(RedisError::Refused {
                        command: "SELECT",
                        message: m,
                    });
                }
                other => return Err(RedisError::Protocol(format!("{other:?}"))),
            }
        }
        match r.call("PING", &[]).await? {
            Value::Simple(s) if s == "PONG" => Ok(r),
            Value::Error(m) => Err(RedisError::Refused {
                command: "PING",
                message: m,
            }),
            other => Err(RedisError::Protocol(format!("{other:?}"))),
        }
    }

    /// Redis over any stream (an SSH channel; a socket in tests), not yet authenticated.
    pub fn over(stream: Box<dyn Duplex>, host: impl Into<String>) -> Redis {
        Redis {
            stream: BufReader::new(stream),
            host: host.into(),
            reply_timeout: REPLY_TIMEOUT,
            scan_rounds: MAX_SCAN_ROUNDS,
        }
    }

    /// Tighter bounds (tests use them to meet a hostile server's limits quickly).
    pub fn with_bounds(mut self, reply_timeout: std::time::Duration, scan_rounds: usize) -> Redis {
        self.reply_timeout = reply_timeout.min(REPLY_TIMEOUT);
        self.scan_rounds = scan_rounds.min(MAX_SCAN_ROUNDS);
        self
    }

    fn io(&self) -> impl Fn(std::io::Error) -> RedisError + '_ {
        |e| RedisError::Io(e.to_string(), self.host.clone())
    }

    pub async fn call(&mut self, command: &'static str, args: &[&[u8]]) -> Result<Value, RedisError> {
        // Zeroed when dropped: AUTH's argument is the password.
        let mut buf = zeroize::Zeroizing::new(
            format!("*{}\r\n${}\r\n{command}\r\n", args.len() + 1, command.len()).into_bytes(),
        );
        for a in args {
            buf.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            buf.extend_from_slice(a);
            buf.extend_from_slice(b"\r\n");
        }
        let host = self.host.clone();
        let limit = self.reply_timeout;
        let exchange = async {
            self.stream.get_mut().write_all(&buf).await.map_err(self.io())?;
            self.stream.get_mut().flush().await.map_err(self.io())?;
            self.read(0).await
        };
        match tokio::time::timeout(limit, exchange).await {
            Ok(reply) => reply,
            Err(_) => Err(RedisError::Io(
                format!("no whole reply to {command} within {:.1} s", limit.as_secs_f64()),
                host,
            )),
        }
    }

    fn read(
        &mut self,
        depth: usize,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<Value, RedisError>> + Send + '_>> {
        Box::pin(async move {
            if depth > MAX_DEPTH {
                return Err(RedisError::Protocol(format!(
                    "arrays nested deeper than {MAX_DEPTH}"
                )));
            }
            // Never more than MAX_LINE bytes for one line, however long the server's is.
            let mut raw = Vec::new();
            let n = (&mut self.stream)
                .take(MAX_LINE as u64 + 1)
                .read_until(b'\n', &mut raw)
                .await
                .map_err(self.io())?;
            if n > MAX_LINE {
                return Err(RedisError::Protocol(format!(
                    "a reply line longer than {} KiB",
                    MAX_LINE / 1024
                )));
            }
            if n == 0 || !raw.ends_with(b"\r\n") {
                return Err(RedisError::Protocol("a truncated reply line".into()));
            }
            let line = String::from_utf8_lossy(&raw).into_owned();
            let body = line.get(1..line.len() - 2).unwrap_or("").to_owned();
            let num = |s: &str| {
                s.parse::<i64>()
                    .map_err(|_| RedisError::Protocol(format!("bad number {s:?}")))
            };
            match line.as_bytes().first() {
                Some(b'+') => Ok(Value::Simple(body)),
                Some(b'-') => Ok(Value::Error(body)),
                Some(b':') => Ok(Value::Int(num(&body)?)),
                Some(b'$') => {
                    let len = num(&body)?;
                    if len < 0 {
                        return Ok(Value::Bulk(None));
                    }
                    let len = usize::try_from(len).map_err(|_| RedisError::Protocol("bad length".into()))?;
                    if len > MAX_BULK {
                        return Err(RedisError::Protocol(format!(
                            "a {len}-byte value is larger than allowed"
                        )));
                    }
                    let mut data = vec![0; len + 2];
                    self.stream.read_exact(&mut data).await.map_err(self.io())?;
                    data.truncate(len);
                    Ok(Value::Bulk(Some(data)))
                }
                Some(b'*') => {
                    let len = num(&body)?;
                    if len < 0 {
                        return Ok(Value::Array(Vec::new()));
                    }
                    let len = usize::try_from(len).map_err(|_| RedisError::Protocol("bad length".into()))?;
                    if len > MAX_ARRAY {
                        return Err(RedisError::Protocol(format!(
                            "an array of {len} items is larger than allowed"
                        )));
                    }
                    let mut items = Vec::with_capacity(len.min(1024));
                    for _ in 0..len {
                        items.push(self.read(depth + 1).await?);
                    }
                    Ok(Value::Array(items))
                }
                _ => Err(RedisError::Protocol("unknown reply type".into())),
            }
        })
    }

    /// Every key matching `pattern`, with SCAN (never KEYS, which blocks the server),
    /// each once: SCAN may return a key twice while the server resizes its table.
    pub async fn scan(&mut self, pattern: &str) -> Result<Vec<Vec<u8>>, RedisError> {
        let mut cursor = b"0".to_vec();
        let mut keys = std::collections::BTreeSet::new();
        for _ in 0..self.scan_rounds {
            let reply = self
                .call(
                    "SCAN",
                    &[&cursor, b"MATCH", pattern.as_bytes(), b"COUNT", b"1000"],
                )
                .await?;
            let Value::Array(parts) = reply else {
                return Err(RedisError::Protocol("SCAN did not answer an array".into()));
            };
            let mut it = parts.into_iter();
            let (Some(Value::Bulk(Some(next))), Some(Value::Array(found))) = (it.next(), it.next()) else {
                return Err(RedisError::Protocol("SCAN answered an unexpected shape".into()));
            };
            keys.extend(found.into_iter().filter_map(|v| match v {
                Value::Bulk(Some(k)) => Some(k),
                _ => None,
            }));
            if next == b"0" {
                return Ok(keys.into_iter().collect());
            }
            if keys.len() > MAX_SCAN_KEYS {
                return Err(RedisError::Protocol(format!(
                    "SCAN found more than {MAX_SCAN_KEYS} keys matching {pattern:?} and went on"
                )));
            }
            if next.len() > 64 || !next.iter().all(u8::is_ascii_digit) {
                return Err(RedisError::Protocol(
                    "SCAN answered a cursor that is not a number".into(),
                ));
            }
            cursor = next;
        }
        Err(RedisError::Protocol(format!(
            "SCAN did not end after {} rounds: the server keeps answering a new cursor",
            self.scan_rounds
        )))
    }

    /// Removes keys in batches with UNLINK (freed in the background); returns how many existed.
    pub async fn unlink(&mut self, keys: &[Vec<u8>]) -> Result<i64, RedisError> {
        let mut removed = 0;
        for chunk in keys.chunks(500) {
            let args: Vec<&[u8]> = chunk.iter().map(Vec::as_slice).collect();
            match self.call("UNLINK", &args).await? {
                Value::Int(n) => removed += n,
                Value::Error(m) => {
                    return Err(RedisError::Refused {
                        command: "UNLINK",
                        message: m,
                    });
                }
                other => return Err(RedisError::Protocol(format!("{other:?}"))),
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    //! Against hostile fake servers on loopback: every reply shape that could exhaust
    //! memory or time ends in a clear error instead.
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::{Redis, RedisError};

    /// A server that answers every connection with `reply(round)` after each command.
    async fn fake(reply: impl Fn(usize) -> Vec<u8> + Send + Sync + 'static) -> Redis {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let mut round = 0;
            while let Ok(n) = sock.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                if sock.write_all(&reply(round)).await.is_err() {
                    break;
                }
                round += 1;
            }
        });
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        Redis::over(Box::new(stream), "fake").with_bounds(Duration::from_millis(500), 50)
    }

    #[tokio::test]
    async fn an_endless_line_is_cut_off_at_its_bound() {
        // 8 MiB of one simple-string line with no end: read at most 64 KiB of it.
        let mut r = fake(|_| {
            let mut v = b"+".to_vec();
            v.resize(8 * 1024 * 1024, b'a');
            v
        })
        .await;
        let e = r.call("PING", &[]).await.unwrap_err();
        assert!(
            matches!(e, RedisError::Protocol(ref m) if m.contains("longer than 64 KiB")),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_silent_server_times_out() {
        let mut r = fake(|_| Vec::new()).await;
        let e = r.call("PING", &[]).await.unwrap_err();
        assert!(e.to_string().contains("no whole reply to PING"), "{e}");
    }

    #[tokio::test]
    async fn a_cursor_that_never_ends_stops_after_the_round_limit() {
        let mut r = fake(|round| {
            let cursor = (round + 1).to_string();
            format!(
                "*2\r\n${}\r\n{cursor}\r\n*1\r\n$9\r\nsession:{}\r\n",
                cursor.len(),
                round % 10
            )
            .into_bytes()
        })
        .await;
        let e = r.scan("session:*").await.unwrap_err();
        assert!(e.to_string().contains("did not end after 50 rounds"), "{e}");
    }

    #[tokio::test]
    async fn huge_lengths_and_deep_nesting_are_refused_before_allocating() {
        let mut r = fake(|_| b"$99999999999\r\n".to_vec()).await;
        let e = r.call("GET", &[b"k"]).await.unwrap_err();
        assert!(e.to_string().contains("larger than allowed"), "{e}");
        let mut r = fake(|_| b"*2000000000\r\n".to_vec()).await;
        let e = r.call("SCAN", &[b"0"]).await.unwrap_err();
        assert!(e.to_string().contains("larger than allowed"), "{e}");
        let mut r = fake(|_| b"*1\r\n".repeat(100)).await;
        let e = r.call("SCAN", &[b"0"]).await.unwrap_err();
        assert!(e.to_string().contains("nested deeper"), "{e}");
        let mut r = fake(|_| b"*2\r\n$3\r\nabc\r\n*0\r\n".to_vec()).await;
        let e = r.scan("s:*").await.unwrap_err();
        assert!(e.to_string().contains("not a number"), "{e}");
    }
}
