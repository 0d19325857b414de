//! A tiny RESP2 client: just enough Redis for the sample app (AUTH, SELECT, PING,
//! SET .. EX, GET, EXISTS) over one TCP connection that is re-opened after an error.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

/// How long one connect or one command may take.
const TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    /// Wrong or missing password: retrying will not help.
    #[error("redis authentication failed: {0}")]
    Auth(String),
    #[error("redis i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("redis timed out")]
    Timeout,
    #[error("redis error reply: {0}")]
    Server(String),
    #[error("redis protocol error: {0}")]
    Protocol(&'static str),
}

/// A parsed `redis://[user]:[password]@IP[:PORT][/DB]` URL.
pub struct RedisUrl {
    addr: SocketAddr,
    user: Option<String>,
    password: Option<String>,
    db: u32,
}

impl RedisUrl {
    /// Parses the URL. Errors never repeat the URL, since it holds the password.
    pub fn parse(url: &str) -> Result<Self, &'static str> {
        let rest = url.strip_prefix("redis://").ok_or("must start with redis://")?;
        let (authority, db) = rest.split_once('/').unwrap_or((rest, ""));
        let (userinfo, host) = authority.rsplit_once('@').unwrap_or(("", authority));
        let (user, password) = userinfo.split_once(':').unwrap_or(("", userinfo));
        let non_empty = |s: String| (!s.is_empty()).then_some(s);
        let addr = host.parse::<SocketAddr>().or_else(|_| {
            let ip = host.trim_start_matches('[').trim_end_matches(']');
            ip.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 6379))
        });
        Ok(Self {
            addr: addr.map_err(|_| "host must be an IP address, with an optional port")?,
            user: non_empty(percent_decode(user)?),
            password: non_empty(percent_decode(password)?),
            db: match db.split('?').next().unwrap_or("") {
                "" => 0,
                db => db.parse().map_err(|_| "bad database number")?,
            },
        })
    }
}

fn percent_decode(s: &str) -> Result<String, &'static str> {
    let (mut out, mut rest) = (Vec::new(), s.as_bytes());
    while let Some((&byte, tail)) = rest.split_first() {
        rest = tail;
        if byte != b'%' {
            out.push(byte);
            continue;
        }
        let hex = tail.get(..2).and_then(|hex| std::str::from_utf8(hex).ok());
        out.push(
            hex.and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .ok_or("bad %-escape")?,
        );
        rest = tail.get(2..).unwrap_or_default();
    }
    String::from_utf8(out).map_err(|_| "credentials are not UTF-8")
}

/// One reply. Arrays are not needed by the commands used here.
pub enum Reply {
    Status(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
}

struct Conn(BufReader<TcpStream>);

impl Conn {
    async fn open(url: &RedisUrl) -> Result<Self, RedisError> {
        let stream = tokio::time::timeout(TIMEOUT, TcpStream::connect(url.addr))
            .await
            .map_err(|_| RedisError::Timeout)??;
        stream.set_nodelay(true)?;
        let mut conn = Conn(BufReader::new(stream));
        if let Some(password) = &url.password {
            let reply = match &url.user {
                Some(user) => conn.call(&["AUTH", user, password]).await,
                None => conn.call(&["AUTH", password]).await,
            };
            reply.map_err(|err| match err {
                RedisError::Server(msg) => RedisError::Auth(msg),
                err => err,
            })?;
        }
        if url.db != 0 {
            conn.call(&["SELECT", &url.db.to_string()]).await?;
        }
        Ok(conn)
    }

    async fn call(&mut self, args: &[&str]) -> Result<Reply, RedisError> {
        tokio::time::timeout(TIMEOUT, self.roundtrip(args))
            .await
            .map_err(|_| RedisError::Timeout)?
    }

    async fn roundtrip(&mut self, args: &[&str]) -> Result<Reply, RedisError> {
        let mut out = format!("*{}\r\n", args.len());
        for arg in args {
            out += &format!("${}\r\n{arg}\r\n", arg.len());
        }
        self.0.get_mut().write_all(out.as_bytes()).await?;

        let mut line = Vec::new();
        self.0.read_until(b'\n', &mut line).await?;
        let line = line
            .strip_suffix(b"\r\n")
            .ok_or(RedisError::Protocol("connection closed"))?;
        let (kind, text) = line.split_first().ok_or(RedisError::Protocol("empty line"))?;
        let text = String::from_utf8_lossy(text).into_owned();
        let bad = || RedisError::Protocol("bad number");
        match kind {
            b'+' => Ok(Reply::Status(text)),
            b'-' if text.starts_with("NOAUTH") || text.starts_with("WRONGPASS") => {
                Err(RedisError::Auth(text))
            }
            b'-' => Err(RedisError::Server(text)),
            b':' => text.parse().map(Reply::Int).map_err(|_| bad()),
            b'$' => match usize::try_from(text.parse::<i64>().map_err(|_| bad())?) {
                Err(_) => Ok(Reply::Bulk(None)), // $-1: no such key
                Ok(len) => {
                    let mut data = vec![0; len + 2];
                    self.0.read_exact(&mut data).await?;
                    data.truncate(len);
                    Ok(Reply::Bulk(Some(data)))
                }
            },
            _ => Err(RedisError::Protocol("unsupported reply type")),
        }
    }
}

/// A shared client holding at most one connection, opened on first use and
/// dropped after any error so the next command reconnects.
pub struct Redis {
    url: RedisUrl,
    conn: Mutex<Option<Conn>>,
}

impl Redis {
    pub fn new(url: RedisUrl) -> Self {
        Self {
            url,
            conn: Mutex::new(None),
        }
    }

    /// Runs one command. If a reused connection turns out to be closed (Redis
    /// restarted, idle timeout), the command is retried once on a fresh one.
    pub async fn call(&self, args: &[&str]) -> Result<Reply, RedisError> {
        let mut guard = self.conn.lock().await;
        if let Some(conn) = guard.as_mut() {
            match conn.call(args).await {
                Err(RedisError::Io(_) | RedisError::Protocol(_)) => *guard = None,
                Err(RedisError::Server(msg)) => return Err(RedisError::Server(msg)),
                Err(err) => {
                    *guard = None;
                    return Err(err);
                }
                Ok(reply) => return Ok(reply),
            }
        }
        let conn = guard.insert(Conn::open(&self.url).await?);
        let result = conn.call(args).await;
        if matches!(&result, Err(err) if !matches!(err, RedisError::Server(_))) {
            *guard = None;
        }
        result
    }

    pub async fn ping(&self) -> Result<(), RedisError> {
        match self.call(&["PING"]).await? {
            Reply::Status(s) if s == "PONG" => Ok(()),
            _ => Err(RedisError::Protocol("unexpected PING reply")),
        }
    }

    pub async fn set_ex(&self, key: &str, value: &str, secs: u64) -> Result<(), RedisError> {
        self.call(&["SET", key, value, "EX", &secs.to_string()])
            .await
            .map(drop)
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, RedisError> {
        match self.call(&["GET", key]).await? {
            Reply::Bulk(value) => Ok(value),
            _ => Err(RedisError::Protocol("unexpected GET reply")),
        }
    }

    pub async fn exists(&self, key: &str) -> Result<bool, RedisError> {
        match self.call(&["EXISTS", key]).await? {
            Reply::Int(n) => Ok(n > 0),
            _ => Err(RedisError::Protocol("unexpected EXISTS reply")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let url = RedisUrl::parse("redis://:p%40ss%3Aw@127.0.0.1:26379/2").unwrap();
        assert_eq!((url.addr, url.db), ("127.0.0.1:26379".parse().unwrap(), 2));
        assert_eq!((url.user, url.password.as_deref()), (None, Some("p@ss:w")));
        let url = RedisUrl::parse("redis://default:pw@[::1]").unwrap();
        assert_eq!(url.addr, "[::1]:6379".parse().unwrap());
        assert_eq!(url.user.as_deref(), Some("default"));
        assert!(RedisUrl::parse("redis://localhost:6379/0").is_err());
        assert!(RedisUrl::parse("redis://:%zz@127.0.0.1").is_err());
    }
}
