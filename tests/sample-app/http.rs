//! The HTTP side of `sample-app serve`: routing, the three endpoints, security
//! headers, CORS, the login limit, the plain-HTTP redirect and the one-line access log.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, AUTHORIZATION, CONTENT_SECURITY_POLICY, CONTENT_TYPE, COOKIE, HOST,
    HeaderMap, HeaderName, HeaderValue, InvalidHeaderValue, LOCATION, ORIGIN, REFERRER_POLICY, RETRY_AFTER,
    SET_COOKIE, STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use hyper::http::uri::Authority;
use hyper::{Method, Request, Response, StatusCode, Uri};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::auth::{self, Claims, Keys, SESSION_COOKIE};
use crate::limit::LoginLimiter;
use crate::redis::{Redis, RedisError};

/// Largest request body accepted; more is answered with 413.
const MAX_BODY: usize = 64 * 1024;
/// Lifetime of a session (cookie) and of a JWT.
const SESSION_SECS: u64 = 86_400;
const JWT_SECS: i64 = 3_600;

pub type Resp = Response<Full<Bytes>>;

#[derive(Clone, Copy, Debug)]
pub enum SessionStore {
    Db,
    Redis,
}

/// Everything a request handler needs.
pub struct App {
    pub node: String,
    pub node_header: HeaderValue,
    pub db: PgPool,
    pub redis: Redis,
    pub keys: Keys,
    pub sessions: SessionStore,
    pub posture: Posture,
    /// `LOGIN_LIMIT`: failed logins allowed per client address and window.
    pub limiter: Option<LoginLimiter>,
}

/// How carefully the app answers (the testbed's postures make it weak on purpose).
pub struct Posture {
    /// The security headers (HSTS, X-Frame-Options, nosniff, Referrer-Policy, CSP);
    /// `SECURITY_HEADERS=none` sends none of them.
    pub security_headers: bool,
    /// `CORS=echo`: any `Origin` is allowed, with credentials.
    pub cors_echo: bool,
    /// The session cookie's attributes after its value.
    pub cookie_attributes: &'static str,
}

impl Posture {
    /// The session cookie's attributes: `HttpOnly; SameSite=Lax` (and `Secure` over
    /// HTTPS), or none of the three (`COOKIE_FLAGS=none`).
    pub fn cookie_attributes(tls: bool, flags: bool) -> &'static str {
        match (flags, tls) {
            (false, _) => "Path=/",
            (true, false) => "HttpOnly; SameSite=Lax; Path=/",
            (true, true) => "Secure; HttpOnly; SameSite=Lax; Path=/",
        }
    }
}

/// A failure that ends in a 500. Logged (never sent) and never carries a secret.
#[derive(Debug, thiserror::Error)]
enum Error {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("{0}")]
    Redis(#[from] RedisError),
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    #[error("header: {0}")]
    Header(#[from] InvalidHeaderValue),
}

/// The hyper service: route, add the security headers, log one line.
pub async fn handle(app: Arc<App>, peer: SocketAddr, req: Request<Incoming>) -> Result<Resp, Infallible> {
    let started = Instant::now();
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let origin = req.headers().get(ORIGIN).cloned();
    let result = match (&method, path.as_str()) {
        (&Method::OPTIONS, _) if app.posture.cors_echo && origin.is_some() => Ok(preflight(req.headers())),
        (&Method::GET, "/health") => Ok(health(&app).await),
        (&Method::POST, "/login") => login(&app, peer, req).await,
        (&Method::GET, "/me") => me(&app, req.headers()).await,
        (_, "/health" | "/login" | "/me") => Ok(error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")),
        _ => Ok(error(StatusCode::NOT_FOUND, "not found")),
    };
    let mut resp = result.unwrap_or_else(|err| {
        eprintln!("{} {method} {path} failed: {err}", app.node);
        error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    });
    let headers = resp.headers_mut();
    if app.posture.security_headers {
        for (name, value) in [
            (X_FRAME_OPTIONS, "SAMEORIGIN"),
            (X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (REFERRER_POLICY, "strict-origin-when-cross-origin"),
            (CONTENT_SECURITY_POLICY, "default-src 'self'"),
            (STRICT_TRANSPORT_SECURITY, "max-age=63072000"),
        ] {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
    if let Some(origin) = origin.filter(|_| app.posture.cors_echo) {
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
    }
    headers.insert(HeaderName::from_static("x-app-node"), app.node_header.clone());
    let (status, ms) = (resp.status().as_u16(), started.elapsed().as_millis());
    eprintln!("{} {method} {path} {status} {ms}ms", app.node);
    Ok(resp)
}

/// `CORS=echo`: a preflight is allowed whatever it asks (the origin is added by `handle`).
fn preflight(request: &HeaderMap) -> Resp {
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = StatusCode::NO_CONTENT;
    let headers = resp.headers_mut();
    let methods = HeaderValue::from_static("GET, POST, OPTIONS");
    headers.insert(ACCESS_CONTROL_ALLOW_METHODS, methods);
    if let Some(asked) = request.get("access-control-request-headers") {
        headers.insert(ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
    }
    resp
}

/// `HTTP_REDIRECT_PORT`: every request on plain HTTP is sent to HTTPS, same host and path.
pub async fn redirect(
    node: Arc<str>,
    https_port: Option<u16>,
    local: SocketAddr,
    req: Request<Incoming>,
) -> Result<Resp, Infallible> {
    let host = req.headers().get(HOST).and_then(|h| h.to_str().ok());
    let target = redirect_target(host, req.uri(), local, https_port);
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = StatusCode::PERMANENT_REDIRECT;
    if let Ok(location) = HeaderValue::try_from(target) {
        resp.headers_mut().insert(LOCATION, location);
    } else {
        *resp.status_mut() = StatusCode::BAD_REQUEST;
    }
    eprintln!(
        "{node} {} {} {} (redirect)",
        req.method(),
        req.uri().path(),
        resp.status().as_u16()
    );
    Ok(resp)
}

/// `https://<the Host header's host, else the address asked><:https_port>` and the path
/// and query of the request.
fn redirect_target(host: Option<&str>, uri: &Uri, local: SocketAddr, https_port: Option<u16>) -> String {
    let asked = host
        .and_then(|h| h.parse::<Authority>().ok())
        .or_else(|| uri.authority().cloned());
    let host = match &asked {
        Some(authority) if !authority.host().is_empty() => authority.host().to_owned(),
        _ => match local.ip().to_canonical() {
            IpAddr::V4(ip) => ip.to_string(),
            IpAddr::V6(ip) => format!("[{ip}]"),
        },
    };
    let port = https_port.map(|p| format!(":{p}")).unwrap_or_default();
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    format!("https://{host}{port}{path}")
}

fn json_response(status: StatusCode, body: &Value) -> Resp {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    let content_type = HeaderValue::from_static("application/json");
    resp.headers_mut().insert(CONTENT_TYPE, content_type);
    resp
}

fn error(status: StatusCode, message: &str) -> Resp {
    json_response(status, &json!({ "error": message }))
}

/// `GET /health`: `SELECT 1` and `PING`, concurrently, each bounded in time.
async fn health(app: &App) -> Resp {
    let db = async {
        let query = sqlx::query("SELECT 1").execute(&app.db);
        match tokio::time::timeout(Duration::from_secs(2), query).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(err)) => Err(err.to_string()),
            Err(_) => Err("timed out".to_owned()),
        }
    };
    let redis = async { app.redis.ping().await.map_err(|err| err.to_string()) };
    let (db, redis) = tokio::join!(db, redis);
    let mut healthy = true;
    let mut part = |name: &str, result: Result<(), String>| match result {
        Ok(()) => "ok",
        Err(err) => {
            eprintln!("{} health: {name}: {err}", app.node);
            healthy = false;
            "error"
        }
    };
    let (db, redis) = (part("db", db), part("redis", redis));
    let (status, word) = if healthy {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "error")
    };
    json_response(
        status,
        &json!({ "status": word, "node": app.node, "db": db, "redis": redis }),
    )
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: i64,
    role: String,
    salt: String,
    digest: String,
    locked: bool,
}

#[derive(Deserialize)]
struct LoginRequest {
    username: String,
    password: String,
}

/// The first `X-Forwarded-For` entry if it is an IP address, else the peer.
fn client_ip(headers: &HeaderMap, peer: SocketAddr) -> IpAddr {
    let forwarded = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
    let first = forwarded.and_then(|v| v.split(',').next());
    first
        .and_then(|ip| ip.trim().parse().ok())
        .unwrap_or(peer.ip().to_canonical())
}

async fn read_body(req: Request<Incoming>) -> Result<Bytes, Resp> {
    match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(body) => Ok(body.to_bytes()),
        Err(err) if err.is::<LengthLimitError>() => {
            Err(error(StatusCode::PAYLOAD_TOO_LARGE, "request body too large"))
        }
        Err(_) => Err(error(StatusCode::BAD_REQUEST, "could not read request body")),
    }
}

/// `POST /login`: check the password, audit the attempt, open a session.
async fn login(app: &App, peer: SocketAddr, req: Request<Incoming>) -> Result<Resp, Error> {
    let ip = client_ip(req.headers(), peer);
    // LOGIN_LIMIT counts by the connection's address: X-Forwarded-For is the client's
    // to choose. Checked before anything touches the database.
    let limited = peer.ip().to_canonical();
    if let Some(limiter) = &app.limiter
        && let Err(wait) = limiter.begin(limited, Instant::now())
    {
        return Ok(throttled(app, ip, wait).await);
    }
    let resp = login_attempt(app, ip, req).await;
    if let (Some(limiter), Ok(resp)) = (&app.limiter, &resp)
        && resp.status() == StatusCode::OK
    {
        limiter.succeeded(limited);
    }
    resp
}

/// 429 with `Retry-After`, audited as `login.throttled` when the database answers: with
/// a live connection idle in the pool, before answering; else by a task, best-effort
/// (an unreachable database does not slow the 429 down).
async fn throttled(app: &App, ip: IpAddr, wait: Duration) -> Resp {
    let metadata = json!({ "node": app.node, "limit": app.limiter.as_ref().map(LoginLimiter::describe) });
    let insert = sqlx::query(
        "INSERT INTO audit_logs (user_id, action, ip_address, metadata) \
         VALUES (NULL, 'login.throttled', $1::inet, $2::jsonb)",
    )
    .bind(ip.to_string())
    .bind(metadata.to_string());
    let db = app.db.clone();
    let audit = async move {
        let _ = tokio::time::timeout(Duration::from_secs(2), insert.execute(&db)).await;
    };
    if app.db.num_idle() > 0 {
        audit.await;
    } else {
        tokio::spawn(audit);
    }
    let mut resp = error(
        StatusCode::TOO_MANY_REQUESTS,
        "too many failed logins, try again later",
    );
    resp.headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(wait.as_secs()));
    resp
}

async fn login_attempt(app: &App, ip: IpAddr, req: Request<Incoming>) -> Result<Resp, Error> {
    let body = match read_body(req).await {
        Ok(body) => body,
        Err(resp) => return Ok(resp),
    };
    let creds = match serde_json::from_slice::<LoginRequest>(&body) {
        // PostgreSQL text cannot hold NUL, so such a name could never be stored.
        Ok(creds) if !creds.username.contains('\0') => creds,
        _ => {
            return Ok(error(
                StatusCode::BAD_REQUEST,
                "expected JSON {username, password}",
            ));
        }
    };

    let user: Option<UserRow> = sqlx::query_as(
        "SELECT id, role, COALESCE(password_salt, '') AS salt, \
         COALESCE(password_digest, '') AS digest, \
         COALESCE(locked_until > now(), false) AS locked FROM users WHERE username = $1",
    )
    .bind(&creds.username)
    .fetch_optional(&app.db)
    .await?;
    let (action, user_id) = match &user {
        None => ("login.failure", None),
        Some(user) if user.locked => ("login.locked", Some(user.id)),
        Some(user) => {
            let computed = auth::sha256_hex(&[user.salt.as_bytes(), creds.password.as_bytes()]);
            let stored = user.digest.to_ascii_lowercase();
            let ok = auth::constant_time_eq(computed.as_bytes(), stored.as_bytes());
            let action = if ok { "login.success" } else { "login.failure" };
            (action, Some(user.id))
        }
    };

    let metadata = json!({ "username": creds.username, "node": app.node });
    sqlx::query(
        "INSERT INTO audit_logs (user_id, action, ip_address, metadata) \
         VALUES ($1, $2, $3::inet, $4::jsonb)",
    )
    .bind(user_id)
    .bind(action)
    .bind(ip.to_string())
    .bind(metadata.to_string())
    .execute(&app.db)
    .await?;

    let (Some(UserRow { id, role, .. }), "login.success") = (user, action) else {
        return Ok(match action {
            "login.locked" => error(StatusCode::LOCKED, "account locked"),
            _ => error(StatusCode::UNAUTHORIZED, "invalid credentials"),
        });
    };
    let key = auth::new_session_key();
    match app.sessions {
        SessionStore::Db => {
            sqlx::query(
                "INSERT INTO sessions (session_key, user_id, created_at, expires_at) \
                 VALUES ($1, $2, now(), now() + interval '1 day')",
            )
            .bind(&key)
            .bind(id)
            .execute(&app.db)
            .await?;
        }
        SessionStore::Redis => {
            let redis_key = format!("session:{key}");
            app.redis
                .set_ex(&redis_key, &id.to_string(), SESSION_SECS)
                .await?;
        }
    }
    let claims = Claims {
        sub: creds.username,
        uid: id,
        role,
        exp: auth::unix_now() + JWT_SECS,
    };
    let jwt = auth::jwt_encode(&app.keys, &claims)?;
    let cookie = format!(
        "{SESSION_COOKIE}={}; {}",
        auth::sign_session(&app.keys, &key),
        app.posture.cookie_attributes
    );
    let body = json!({ "user": claims.sub, "role": claims.role, "jwt": jwt });
    let mut resp = json_response(StatusCode::OK, &body);
    resp.headers_mut()
        .insert(SET_COOKIE, HeaderValue::try_from(cookie)?);
    Ok(resp)
}

/// `GET /me`: who the presented credential belongs to.
async fn me(app: &App, headers: &HeaderMap) -> Result<Resp, Error> {
    let Some((uid, via)) = authenticate(app, headers).await? else {
        return Ok(error(StatusCode::UNAUTHORIZED, "unauthorized"));
    };
    let user: Option<(String, String, bool)> = sqlx::query_as(
        "SELECT username, role, COALESCE(locked_until > now(), false) FROM users WHERE id = $1",
    )
    .bind(uid)
    .fetch_optional(&app.db)
    .await?;
    Ok(match user {
        None => error(StatusCode::UNAUTHORIZED, "unauthorized"),
        Some((_, _, true)) => error(StatusCode::LOCKED, "account locked"),
        Some((username, role, false)) => json_response(
            StatusCode::OK,
            &json!({ "user": username, "role": role, "via": via }),
        ),
    })
}

/// The user id behind the request's credential and how it was presented. An
/// `Authorization` header, when present, is the only credential considered.
async fn authenticate(app: &App, headers: &HeaderMap) -> Result<Option<(i64, &'static str)>, Error> {
    if let Some(value) = headers.get(AUTHORIZATION) {
        let (scheme, credential) = value
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .unwrap_or_default();
        let credential = credential.trim();
        if scheme.eq_ignore_ascii_case("bearer") {
            let claims = auth::jwt_verify(&app.keys, credential, auth::unix_now());
            return Ok(claims.map(|claims| (claims.uid, "jwt")));
        }
        if scheme.eq_ignore_ascii_case("token") && !credential.is_empty() {
            let uid: Option<i64> = sqlx::query_scalar(
                "UPDATE api_tokens SET last_used_at = now() \
                 WHERE token_digest = $1 AND active AND user_id IS NOT NULL RETURNING user_id",
            )
            .bind(auth::sha256_hex(&[credential.as_bytes()]))
            .fetch_optional(&app.db)
            .await?;
            return Ok(uid.map(|uid| (uid, "api_token")));
        }
        return Ok(None);
    }

    let cookie = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find_map(|(name, value)| (name == SESSION_COOKIE).then_some(value));
    let Some(key) = cookie.and_then(|value| auth::verify_session(&app.keys, value)) else {
        return Ok(None);
    };
    let uid: Option<i64> = match app.sessions {
        SessionStore::Db => {
            sqlx::query_scalar(
                "SELECT user_id FROM sessions \
                 WHERE session_key = $1 AND expires_at > now() AND user_id IS NOT NULL",
            )
            .bind(key)
            .fetch_optional(&app.db)
            .await?
        }
        SessionStore::Redis => {
            let value = app.redis.get(&format!("session:{key}")).await?;
            value.and_then(|v| String::from_utf8(v).ok()?.trim().parse().ok())
        }
    };
    Ok(uid.map(|uid| (uid, "cookie")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_redirect_keeps_host_and_path_and_names_the_public_https_port() {
        let local: SocketAddr = "172.18.0.2:8080".parse().unwrap();
        let uri: Uri = "/x/y?z=1".parse().unwrap();
        let to = |host, port| redirect_target(host, &uri, local, port);
        assert_eq!(
            to(Some("localhost:18480"), Some(18443)),
            "https://localhost:18443/x/y?z=1"
        );
        assert_eq!(to(Some("example.com"), None), "https://example.com/x/y?z=1");
        assert_eq!(to(Some("[::1]:80"), Some(443)), "https://[::1]:443/x/y?z=1");
        // No usable Host: the address the request came to.
        assert_eq!(to(None, Some(18443)), "https://172.18.0.2:18443/x/y?z=1");
        assert_eq!(to(Some("a b"), None), "https://172.18.0.2/x/y?z=1");
        let absolute: Uri = "http://127.0.0.1:18480/health".parse().unwrap();
        assert_eq!(
            redirect_target(None, &absolute, local, Some(18443)),
            "https://127.0.0.1:18443/health"
        );
    }

    #[test]
    fn cookie_attributes_follow_the_posture() {
        assert_eq!(
            Posture::cookie_attributes(false, true),
            "HttpOnly; SameSite=Lax; Path=/"
        );
        assert_eq!(
            Posture::cookie_attributes(true, true),
            "Secure; HttpOnly; SameSite=Lax; Path=/"
        );
        assert_eq!(Posture::cookie_attributes(true, false), "Path=/");
    }
}
