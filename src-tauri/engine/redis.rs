//! A deployment's Redis, through a `direct-tcpip` channel of the SSH connection to the
//! profile's `via_host`: just the commands the actions need (AUTH, PING, SCAN, UNLINK),
//! spoken in RESP2. The password is read from the remote `.env` at the moment of use and
//! sent once, as a protocol field.

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
    pub fn code(&self) -> &'static str {
        match self {
            RedisError::Io(..) => "redis.io",
            RedisError::Refused { .. } => "redis.refused",
            RedisError::Protocol(_) => "redis.protocol",
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

type Stream = BufReader<russh::ChannelStream<russh::client::Msg>>;

pub struct Redis {
    stream: Stream,
    host: String,
}

/// Replies larger than this are refused: a hostile server must not exhaust memory.
const MAX_BULK: usize = 64 * 1024 * 1024;
const MAX_ARRAY: usize = 1_000_000;

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
        let mut r = Redis {
            stream: BufReader::new(ch.into_stream()),
            host,
        };
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

    fn io(&self) -> impl Fn(std::io::Error) -> RedisError + '_ {
        |e| RedisError::Io(e.to_string(), self.host.clone())
    }

    pub async fn call(&mut self, command: &'static str, args: &[&[u8]]) -> Result<Value, RedisError> {
        let mut buf = format!("*{}\r\n${}\r\n{command}\r\n", args.len() + 1, command.len()).into_bytes();
        for a in args {
            buf.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            buf.extend_from_slice(a);
            buf.extend_from_slice(b"\r\n");
        }
        self.stream.get_mut().write_all(&buf).await.map_err(self.io())?;
        self.stream.get_mut().flush().await.map_err(self.io())?;
        self.read().await
    }

    fn read(&mut self) -> std::pin::Pin<Box<dyn Future<Output = Result<Value, RedisError>> + Send + '_>> {
        Box::pin(async move {
            let mut line = String::new();
            let n = self.stream.read_line(&mut line).await.map_err(self.io())?;
            if n == 0 || !line.ends_with("\r\n") || line.len() > 64 * 1024 {
                return Err(RedisError::Protocol("truncated or overlong reply line".into()));
            }
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
                        items.push(self.read().await?);
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
        loop {
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
            cursor = next;
        }
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
