//! The sandbox's sample application: a small web app with a login, sessions, API
//! tokens and an audit log, backed by PostgreSQL and Redis. It exists only so the
//! testbed (`tests/testbed/`, see `docs/testbed.md`) and the demo have a real
//! service for Breakglass to inspect, break and repair; it is never shipped.
//!
//! It runs in `FROM scratch` containers, so it needs no shell, no `/etc` files and
//! no DNS: every address is an IP literal.
//!
//! ```text
//! sample-app serve                   # HTTP (or HTTPS) on ${BIND:-127.0.0.1}:$PORT
//! sample-app worker                  # Redis heartbeat + DB check every 2 s
//! sample-app healthcheck [--url URL] # exit 0 iff GET /health answers 200 (http:// only)
//! sample-app healthcheck --worker    # exit 0 iff this node's heartbeat exists
//! ```
//!
//! Environment: `APP_NODE`, `DATABASE_URL` (`postgres://user:pass@IP:PORT/db`),
//! `REDIS_URL` (`redis://:pass@IP:PORT/db`), and for `serve` also `PORT`, `BIND`
//! (the IP to listen on), `SECRET_KEY_BASE` (cookie signing), `JWT_SECRET`,
//! `API_KEY_ENCRYPTION_KEY` (at least 32 characters) and `SESSION_STORE`
//! (`db`, the default, or `redis`). Endpoints: `GET /health`, `POST /login`,
//! `GET /me` (see `http.rs`).
//!
//! Optional, for the testbed's postures (`tests/testbed/posture`); unset, the app
//! behaves as it always did:
//! - `TLS_CERT`, `TLS_KEY` (PEM files): `serve` speaks HTTPS (TLS 1.2 and 1.3) on
//!   PORT instead of HTTP, and the session cookie is `Secure`.
//! - `HTTP_REDIRECT_PORT=N` (with TLS only): plain HTTP on BIND:N too, every request
//!   answered `308` to `https://<Host's host><:PUBLIC_HTTPS_PORT>/<path>`;
//!   `PUBLIC_HTTPS_PORT` is the HTTPS port clients see (Docker may publish PORT on
//!   another), none when unset.
//! - `SECURITY_HEADERS=none`: no HSTS, X-Frame-Options, X-Content-Type-Options,
//!   Referrer-Policy or Content-Security-Policy.
//! - `CORS=echo`: any `Origin` is answered `Access-Control-Allow-Origin: <it>` with
//!   `Access-Control-Allow-Credentials: true` (and preflights are allowed).
//! - `COOKIE_FLAGS=none`: the session cookie without Secure, HttpOnly and SameSite.
//! - `LOGIN_LIMIT=N/S`: at most N failed logins per client address (the connection's,
//!   not X-Forwarded-For) in a window of S seconds; further attempts in the window
//!   get `429` with `Retry-After`, before any database lookup, audited as
//!   `login.throttled` when the database answers (best-effort).
//! - `BACKENDS=lazy`: `serve` starts without waiting for PostgreSQL and Redis (a lazy
//!   pool); `/health` answers 503 while they are unreachable.
//!
//! Exit codes: 0 done, 1 failure (unhealthy, service unreachable, wrong
//! password), 2 bad usage or configuration. Errors name variables, never values.

mod auth;
mod http;
mod limit;
mod redis;

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Empty;
use hyper::header::{HOST, HeaderValue};
use hyper::{Request, StatusCode, Uri};
use hyper_util::rt::{TokioIo, TokioTimer};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::http::{App, Posture, SessionStore};
use crate::limit::LoginLimiter;
use crate::redis::{Redis, RedisError, RedisUrl};

/// How long `serve` waits for PostgreSQL and Redis at startup.
const STARTUP_WAIT: Duration = Duration::from_secs(20);

const USAGE: &str = "usage: sample-app serve | worker | healthcheck [--url URL | --worker]";

#[derive(Debug, thiserror::Error)]
enum Fatal {
    /// Bad arguments or environment: exit 2.
    #[error("{0}")]
    Usage(String),
    /// Anything else: exit 1.
    #[error("{0}")]
    Failed(String),
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("serve") => serve().await,
        Some("worker") => worker().await,
        Some("healthcheck") => healthcheck(&args[1..]).await,
        _ => Err(usage(USAGE)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("sample-app: {err}");
            ExitCode::from(if matches!(err, Fatal::Usage(_)) { 2 } else { 1 })
        }
    }
}

fn usage(message: impl Into<String>) -> Fatal {
    Fatal::Usage(message.into())
}

/// Reads environment variables, collecting every missing one for one error.
#[derive(Default)]
struct Env {
    missing: Vec<&'static str>,
}

impl Env {
    fn optional(name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|value| !value.is_empty())
    }

    fn required(&mut self, name: &'static str) -> String {
        Self::optional(name).unwrap_or_else(|| {
            self.missing.push(name);
            String::new()
        })
    }

    fn check(self) -> Result<(), Fatal> {
        match self.missing.as_slice() {
            [] => Ok(()),
            names => Err(usage(format!(
                "missing required environment variable(s): {}",
                names.join(", ")
            ))),
        }
    }
}

fn database_options(url: &str) -> Result<PgConnectOptions, Fatal> {
    // The parser's error may quote the URL, and so the password: not shown.
    let invalid = || usage("DATABASE_URL is not a valid postgres:// URL");
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(invalid());
    }
    url.parse().map_err(|_| invalid())
}

fn redis_url(url: &str) -> Result<RedisUrl, Fatal> {
    RedisUrl::parse(url).map_err(|why| usage(format!("REDIS_URL is invalid: {why}")))
}

/// Wrong credentials (SQLSTATE class 28): retrying will not help.
fn is_db_auth_error(err: &sqlx::Error) -> bool {
    let code = err.as_database_error().and_then(|e| e.code());
    code.is_some_and(|code| code.starts_with("28"))
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {}
                () = ctrl_c => {}
            }
            return;
        }
    }
    ctrl_c.await;
}

/// `serve`: check the environment, wait for the services, answer HTTP.
async fn serve() -> Result<(), Fatal> {
    let mut env = Env::default();
    let port = env.required("PORT");
    let node = env.required("APP_NODE");
    let database_url = env.required("DATABASE_URL");
    let redis_url_text = env.required("REDIS_URL");
    let secret_key_base = env.required("SECRET_KEY_BASE");
    let jwt_secret = env.required("JWT_SECRET");
    let api_key = env.required("API_KEY_ENCRYPTION_KEY");
    env.check()?;

    if api_key.chars().count() < 32 {
        return Err(usage(
            "API_KEY_ENCRYPTION_KEY must be at least 32 characters long",
        ));
    }
    let sessions = match Env::optional("SESSION_STORE").as_deref() {
        None | Some("db") => SessionStore::Db,
        Some("redis") => SessionStore::Redis,
        Some(_) => return Err(usage("SESSION_STORE must be `db` or `redis`")),
    };
    let ip = Env::optional("BIND").unwrap_or_else(|| "127.0.0.1".to_owned());
    let ip = ip
        .parse::<IpAddr>()
        .map_err(|_| usage("BIND must be an IP address"))?;
    let port = port
        .parse::<u16>()
        .map_err(|_| usage("PORT must be a port number"))?;
    let addr = SocketAddr::new(ip, port);
    let node_header = HeaderValue::from_str(&node).map_err(|_| usage("APP_NODE must be printable ASCII"))?;
    let keys = auth::Keys::new(&secret_key_base, &jwt_secret)
        .ok_or_else(|| usage("SECRET_KEY_BASE or JWT_SECRET unusable"))?;
    let db_options = database_options(&database_url)?;
    let redis = Redis::new(redis_url(&redis_url_text)?);
    let options = ServeOptions::from_env()?;

    let db = if options.lazy_backends {
        PgPoolOptions::new()
            .max_connections(5)
            .acquire_timeout(Duration::from_secs(1))
            .connect_lazy_with(db_options)
    } else {
        let deadline = Instant::now() + STARTUP_WAIT;
        let db = wait_for_database(db_options, deadline).await?;
        wait_for_redis(&redis, deadline).await?;
        db
    };
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|err| Fatal::Failed(format!("cannot listen on {addr}: {err}")))?;
    let redirects = match options.redirect_port {
        Some(port) => {
            let addr = SocketAddr::new(ip, port);
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|err| Fatal::Failed(format!("cannot listen on {addr}: {err}")))?;
            eprintln!("{node}: redirecting http://{addr} to https");
            Some(listener)
        }
        None => None,
    };
    let scheme = if options.tls.is_some() { "https" } else { "http" };
    eprintln!("{node}: listening on {scheme}://{addr} (sessions in {sessions:?})");

    let app = Arc::new(App {
        node,
        node_header,
        db,
        redis,
        keys,
        sessions,
        posture: Posture {
            security_headers: options.security_headers,
            cors_echo: options.cors_echo,
            cookie_attributes: Posture::cookie_attributes(options.tls.is_some(), options.cookie_flags),
        },
        limiter: options.limiter,
    });
    let tls = options.tls;
    let serve_app = async {
        loop {
            let (stream, peer) = accept(&listener, &app.node).await;
            let (app, tls) = (Arc::clone(&app), tls.clone());
            tokio::spawn(async move {
                let Some(acceptor) = tls else {
                    return serve_connection(app, peer, stream).await;
                };
                // A client that never finishes its handshake is dropped.
                if let Ok(Ok(stream)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
                {
                    serve_connection(app, peer, stream).await;
                }
            });
        }
    };
    let https_port = options.public_https_port;
    let node: Arc<str> = Arc::from(app.node.as_str());
    let serve_redirects = async {
        let Some(listener) = &redirects else {
            return std::future::pending::<()>().await;
        };
        loop {
            let (stream, _) = accept(listener, &node).await;
            let Ok(local) = stream.local_addr() else { continue };
            let node = Arc::clone(&node);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    http::redirect(Arc::clone(&node), https_port, local, req)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(10))
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    };
    tokio::select! {
        () = serve_app => {}
        () = serve_redirects => {}
        () = shutdown_signal() => eprintln!("{}: shutting down", app.node),
    }
    Ok(())
}

/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The next connection; an error (out of file descriptors…) is logged and retried.
async fn accept(listener: &TcpListener, node: &str) -> (TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok(accepted) => return accepted,
            Err(err) => {
                eprintln!("{node}: accept failed: {err}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// One HTTP/1.1 connection (plain or TLS) of the app.
async fn serve_connection<S>(app: Arc<App>, peer: SocketAddr, stream: S)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| http::handle(Arc::clone(&app), peer, req));
    // Errors here are clients going away mid-request: nothing to do.
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(10))
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

/// The optional settings of `serve` (see the top of this file).
struct ServeOptions {
    tls: Option<TlsAcceptor>,
    redirect_port: Option<u16>,
    public_https_port: Option<u16>,
    security_headers: bool,
    cors_echo: bool,
    cookie_flags: bool,
    limiter: Option<LoginLimiter>,
    lazy_backends: bool,
}

impl ServeOptions {
    fn from_env() -> Result<Self, Fatal> {
        let tls = match (Env::optional("TLS_CERT"), Env::optional("TLS_KEY")) {
            (Some(cert), Some(key)) => Some(tls_acceptor(&cert, &key)?),
            (None, None) => None,
            _ => return Err(usage("TLS_CERT and TLS_KEY must be set together")),
        };
        let port = |name: &str| -> Result<Option<u16>, Fatal> {
            Env::optional(name)
                .map(|p| p.parse::<u16>().ok().filter(|p| *p > 0))
                .map(|p| p.ok_or_else(|| usage(format!("{name} must be a port number"))))
                .transpose()
        };
        let redirect_port = port("HTTP_REDIRECT_PORT")?;
        if redirect_port.is_some() && tls.is_none() {
            return Err(usage("HTTP_REDIRECT_PORT needs TLS_CERT and TLS_KEY"));
        }
        let switch = |name: &str, off: &str| -> Result<bool, Fatal> {
            match Env::optional(name) {
                None => Ok(false),
                Some(v) if v == off => Ok(true),
                Some(_) => Err(usage(format!("{name} must be `{off}` or unset"))),
            }
        };
        let limiter = match Env::optional("LOGIN_LIMIT") {
            None => None,
            Some(text) => Some(
                LoginLimiter::parse(&text)
                    .ok_or_else(|| usage("LOGIN_LIMIT must be N/S: N failed logins per S seconds (5/20)"))?,
            ),
        };
        Ok(Self {
            tls,
            redirect_port,
            public_https_port: port("PUBLIC_HTTPS_PORT")?,
            security_headers: !switch("SECURITY_HEADERS", "none")?,
            cors_echo: switch("CORS", "echo")?,
            cookie_flags: !switch("COOKIE_FLAGS", "none")?,
            limiter,
            lazy_backends: switch("BACKENDS", "lazy")?,
        })
    }
}

/// A TLS 1.2/1.3 server configuration from a PEM certificate chain and its key.
fn tls_acceptor(cert: &str, key: &str) -> Result<TlsAcceptor, Fatal> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|err| usage(format!("TLS_CERT: not a readable PEM certificate file: {err}")))?;
    if certs.is_empty() {
        return Err(usage("TLS_CERT: no certificate in the file"));
    }
    // The parser's error never holds the key itself.
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|err| usage(format!("TLS_KEY: not a readable PEM private key file: {err}")))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|err| usage(format!("TLS: {err}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|err| usage(format!("TLS_CERT and TLS_KEY do not make a usable pair: {err}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

async fn wait_for_database(options: PgConnectOptions, deadline: Instant) -> Result<PgPool, Fatal> {
    loop {
        let pool = PgPoolOptions::new()
            .max_connections(5)
            .acquire_timeout(Duration::from_secs(3))
            .connect_with(options.clone())
            .await;
        match pool {
            Ok(pool) => return Ok(pool),
            Err(err) if is_db_auth_error(&err) || Instant::now() >= deadline => {
                return Err(Fatal::Failed(format!("cannot connect to the database: {err}")));
            }
            Err(err) => eprintln!("waiting for the database: {err}"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn wait_for_redis(redis: &Redis, deadline: Instant) -> Result<(), Fatal> {
    loop {
        match redis.ping().await {
            Ok(()) => return Ok(()),
            Err(err) if matches!(err, RedisError::Auth(_)) || Instant::now() >= deadline => {
                return Err(Fatal::Failed(format!("cannot connect to redis: {err}")));
            }
            Err(err) => eprintln!("waiting for redis: {err}"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// `worker`: every 2 s, `SET worker:heartbeat:<node> <unix time> EX 30` and
/// `SELECT 1`. Logs each failure; exits 1 on a wrong password.
async fn worker() -> Result<(), Fatal> {
    let mut env = Env::default();
    let node = env.required("APP_NODE");
    let database_url = env.required("DATABASE_URL");
    let redis_url_text = env.required("REDIS_URL");
    env.check()?;
    let db = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(3))
        .connect_lazy_with(database_options(&database_url)?);
    let redis = Redis::new(redis_url(&redis_url_text)?);
    let key = format!("worker:heartbeat:{node}");
    eprintln!("{node}: worker started, heartbeat in {key}");

    let beat = async {
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match redis.set_ex(&key, &auth::unix_now().to_string(), 30).await {
                Err(err @ RedisError::Auth(_)) => return Fatal::Failed(err.to_string()),
                Err(err) => eprintln!("{node}: heartbeat failed: {err}"),
                Ok(()) => {}
            }
            match sqlx::query("SELECT 1").execute(&db).await {
                Err(err) if is_db_auth_error(&err) => {
                    return Fatal::Failed(format!("database authentication failed: {err}"));
                }
                Err(err) => eprintln!("{node}: database check failed: {err}"),
                Ok(_) => {}
            }
        }
    };
    tokio::select! {
        err = beat => Err(err),
        () = shutdown_signal() => Ok(()),
    }
}

/// `healthcheck`: the container HEALTHCHECK, for web (`/health`) or worker
/// (heartbeat key) containers.
async fn healthcheck(args: &[String]) -> Result<(), Fatal> {
    let (mut url, mut worker) = (None, false);
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--worker" => worker = true,
            "--url" => url = Some(args.next().ok_or_else(|| usage(USAGE))?.clone()),
            _ => return Err(usage(USAGE)),
        }
    }
    if worker {
        let mut env = Env::default();
        let node = env.required("APP_NODE");
        let redis_url_text = env.required("REDIS_URL");
        env.check()?;
        let redis = Redis::new(redis_url(&redis_url_text)?);
        let key = format!("worker:heartbeat:{node}");
        return match redis.exists(&key).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(Fatal::Failed(format!("unhealthy: no {key} in redis"))),
            Err(err) => Err(Fatal::Failed(format!("unhealthy: {err}"))),
        };
    }
    let url = match url {
        Some(url) => url,
        None => {
            let mut env = Env::default();
            let port = env.required("PORT");
            env.check()?;
            format!("http://127.0.0.1:{port}/health")
        }
    };
    let uri: Uri = url.parse().map_err(|_| usage(format!("invalid URL {url}")))?;
    match tokio::time::timeout(Duration::from_secs(5), http_get(&uri)).await {
        Ok(Ok(StatusCode::OK)) => Ok(()),
        Ok(Ok(status)) => Err(Fatal::Failed(format!("unhealthy: {url} answered {status}"))),
        Ok(Err(err)) => Err(Fatal::Failed(format!("unhealthy: {url}: {err}"))),
        Err(_) => Err(Fatal::Failed(format!("unhealthy: {url} timed out"))),
    }
}

/// A one-shot HTTP/1.1 GET to an `http://IP[:PORT]/path` URL; returns the status.
async fn http_get(uri: &Uri) -> Result<StatusCode, Box<dyn std::error::Error + Send + Sync>> {
    if uri.scheme_str() != Some("http") {
        return Err("only http:// URLs are supported".into());
    }
    let host = uri
        .host()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let ip: IpAddr = host.parse().map_err(|_| "the URL's host must be an IP address")?;
    let stream = TcpStream::connect((ip, uri.port_u16().unwrap_or(80))).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let authority = uri.authority().map_or(host, |a| a.as_str());
    let req = Request::get(path)
        .header(HOST, authority)
        .body(Empty::<Bytes>::new())?;
    Ok(sender.send_request(req).await?.status())
}
