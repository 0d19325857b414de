//! PostgreSQL of a deployment, reached through the SSH connection of the profile's
//! `via_host`: sqlx connects to a local endpoint that the engine pipes into a
//! `direct-tcpip` (or `direct-streamlocal`) channel. The local endpoint is a Unix socket
//! in a private 0700 folder, so no other local user can use the tunnel. When the profile
//! asks for TLS (a managed database, `sslmode=require` or `verify-full`), the tunnel runs
//! rustls end to end to the server, checking the server's real name (`tls`).
//!
//! Credentials come from the remote `.env` (or the keychain) at the moment of use and are
//! dropped with the pool.

mod tls;
mod tunnel;

use crate::engine::error::ErrorCode;
use std::sync::Arc;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgSslMode};

use crate::engine::envfile::EnvFile;
use crate::engine::profiles::Database;
use crate::engine::secret::Sensitive;
use crate::engine::ssh::Session;
pub use tunnel::Tunnel;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(
        "the database credentials are not in {env_file}: expected DATABASE_URL, or POSTGRES_USER and POSTGRES_PASSWORD"
    )]
    NoCredentials { env_file: String },
    #[error("DATABASE_URL in {env_file} is not a postgres:// URL")]
    BadUrl { env_file: String },
    #[error("cannot open the tunnel to the database: {0}")]
    Tunnel(String),
    #[error("TLS to the database server {server}: {detail}")]
    Tls { server: String, detail: String },
    #[error("database {name} through {via}: {source}")]
    Connect {
        name: String,
        via: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("database query failed: {0}")]
    Query(#[source] sqlx::Error),
}

impl DbError {
    pub fn code(&self) -> ErrorCode {
        match self {
            DbError::NoCredentials { .. } => ErrorCode::DbNoCredentials,
            DbError::BadUrl { .. } => ErrorCode::DbBadUrl,
            DbError::Tunnel(_) => ErrorCode::DbTunnel,
            DbError::Tls { .. } => ErrorCode::DbTls,
            DbError::Connect { .. } => ErrorCode::DbConnect,
            DbError::Query(_) => ErrorCode::DbQuery,
        }
    }
}

/// User and password for the database.
pub struct DbCredentials {
    pub user: String,
    pub password: Sensitive<String>,
}

impl DbCredentials {
    /// From a `.env`: `POSTGRES_USER`/`POSTGRES_PASSWORD`, else `DATABASE_URL`.
    pub fn from_env(env: &EnvFile, env_file: &str) -> Result<Self, DbError> {
        if let (Some(user), Some(pw)) = (env.get("POSTGRES_USER"), env.get("POSTGRES_PASSWORD")) {
            return Ok(DbCredentials {
                user: user.expose().clone(),
                password: pw.clone(),
            });
        }
        let url = env.get("DATABASE_URL").ok_or_else(|| DbError::NoCredentials {
            env_file: env_file.into(),
        })?;
        let parsed = reqwest::Url::parse(url.expose()).map_err(|_| DbError::BadUrl {
            env_file: env_file.into(),
        })?;
        if !matches!(parsed.scheme(), "postgres" | "postgresql") || parsed.username().is_empty() {
            return Err(DbError::BadUrl {
                env_file: env_file.into(),
            });
        }
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        Ok(DbCredentials {
            user: decode(parsed.username()),
            password: Sensitive::new(decode(parsed.password().unwrap_or(""))),
        })
    }
}

/// The `search_path` of every console session: the system catalog first, nothing an app
/// role can create objects in.
const PINNED_SEARCH_PATH: &str = "pg_catalog, pg_temp";

/// Run on every new connection, after the server applied the role's and the database's
/// own settings: the catalog first in `search_path`; row security off, so that a policy
/// hiding rows from this role fails a query instead of making it count 0; writes
/// allowed (an action must not fail half way on a read-only default); bounded waits.
const PIN_SESSION: &str = "SET search_path = pg_catalog, pg_temp; \
     SET row_security = off; \
     SET default_transaction_read_only = off; \
     SET statement_timeout = '300s'; \
     SET lock_timeout = '30s'; \
     SET idle_in_transaction_session_timeout = '300s'";

/// A pool of connections through a tunnel; dropping it closes both.
pub struct RemoteDb {
    pub pool: PgPool,
    /// What reading the credentials found that a plan should show (duplicated keys).
    pub notes: Vec<String>,
    _tunnel: Tunnel,
}

impl RemoteDb {
    pub async fn connect(
        session: Arc<Session>,
        db: &Database,
        creds: DbCredentials,
    ) -> Result<Self, DbError> {
        let target = match &db.socket {
            Some(sock) => tunnel::Target::Unix(format!(
                "{}/.s.PGSQL.{}",
                sock.get_ref().trim_end_matches('/'),
                db.port
            )),
            None => tunnel::Target::Tcp(db.address.clone(), db.port),
        };
        let tls = tls::TlsSetup::for_profile(db)?;
        let tunnel = Tunnel::open(session.clone(), target, tls).await?;
        let local = tunnel.local();
        // TLS, when asked for, is the tunnel's (see `tls`): sqlx speaks to the private
        // socket, in this process, in clear.
        let opts = PgConnectOptions::new()
            .username(&creds.user)
            .password(creds.password.expose())
            .database(&db.name)
            .application_name("breakglass")
            .socket(&local.dir)
            .port(local.port)
            .ssl_mode(PgSslMode::Disable);
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(std::time::Duration::from_secs(15))
            // Whoever holds the app's credentials can attach settings to its role or
            // database (`ALTER ROLE … SET search_path = decoy, public`). Every connection
            // pins the ones the console's SQL depends on, after the role's own settings
            // were applied, and checks they took.
            .after_connect(|conn, _meta| {
                Box::pin(async move {
                    sqlx::raw_sql(PIN_SESSION).execute(&mut *conn).await?;
                    let path: String = sqlx::query_scalar("SELECT pg_catalog.current_setting('search_path')")
                        .fetch_one(&mut *conn)
                        .await?;
                    if path != PINNED_SEARCH_PATH {
                        return Err(sqlx::Error::Protocol(format!(
                            "the server kept search_path = {:?} after it was pinned",
                            crate::engine::ssh::output::display_safe(path.as_bytes())
                        )));
                    }
                    Ok(())
                })
            })
            .connect_with(opts)
            .await
            .map_err(|source| DbError::Connect {
                name: db.name.clone(),
                via: session.host().to_owned(),
                source,
            })?;
        Ok(RemoteDb {
            pool,
            notes: Vec::new(),
            _tunnel: tunnel,
        })
    }

    /// The settings the role or the database carries (`ALTER ROLE/DATABASE … SET`), as
    /// `role chat in every database: search_path=decoy, public`. The console pins what
    /// its own SQL depends on, but a setting there changes how the app behaves too, and
    /// may be the attacker's: a plan shows them. Values are shown only for the settings
    /// that change how statements behave; any other (PostgREST keeps `app.jwt_secret`
    /// there) is named without its value. The text is the server's: print it safely.
    pub async fn role_settings(&self) -> Result<Vec<String>, DbError> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT CASE WHEN s.setrole = 0 THEN 'every role' \
                         ELSE 'role ' || pg_catalog.quote_ident(r.rolname) END \
                 || CASE WHEN s.setdatabase = 0 THEN ' in every database' ELSE ' in this database' END, \
                    c.cfg \
             FROM pg_catalog.pg_db_role_setting s \
             LEFT JOIN pg_catalog.pg_roles r ON r.oid = s.setrole \
             CROSS JOIN LATERAL pg_catalog.unnest(s.setconfig) AS c(cfg) \
             WHERE s.setrole IN (0, (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = CURRENT_USER)) \
               AND s.setdatabase IN (0, (SELECT oid FROM pg_catalog.pg_database \
                                         WHERE datname = pg_catalog.current_database())) \
             ORDER BY 1, 2",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(DbError::Query)?;
        Ok(rows
            .into_iter()
            .map(|(scope, cfg)| format!("{scope}: {}", shown_setting(&cfg)))
            .collect())
    }

    /// What makes a table of the app profile behave otherwise than its rows say: not an
    /// ordinary table (a view in its place), triggers, rules, row security. An app may
    /// have triggers of its own, but whoever holds its credentials can add one that
    /// undoes an UPDATE: a plan names them. `table` is `schema.table`. Names are the
    /// server's text: print them safely.
    pub async fn table_oddities(&self, table: &str) -> Result<Vec<String>, DbError> {
        let (schema, name) = table.split_once('.').unwrap_or(("public", table));
        let row: Option<(String, Vec<String>, i64, bool, bool)> = sqlx::query_as(
            "SELECT c.relkind::text, \
                    ARRAY(SELECT t.tgname::text FROM pg_catalog.pg_trigger t \
                          WHERE t.tgrelid = c.oid AND NOT t.tgisinternal ORDER BY 1), \
                    (SELECT pg_catalog.count(*) FROM pg_catalog.pg_rewrite r \
                     WHERE r.ev_class = c.oid AND r.rulename <> '_RETURN'), \
                    c.relrowsecurity, c.relforcerowsecurity \
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname = $2",
        )
        .bind(schema)
        .bind(name)
        .fetch_optional(&self.pool)
        .await
        .map_err(DbError::Query)?;
        let Some((kind, triggers, rules, rls, forced)) = row else {
            return Ok(vec![format!("{table} does not exist")]);
        };
        let mut out = Vec::new();
        if kind != "r" && kind != "p" {
            out.push(format!(
                "{table} is not an ordinary table (kind {kind:?}: a view or another object stands in its place)"
            ));
        }
        if !triggers.is_empty() {
            out.push(format!(
                "{table} has trigger(s) {}: a trigger can change or undo what an action writes",
                triggers.join(", ")
            ));
        }
        if rules > 0 {
            out.push(format!(
                "{table} has {rules} rewrite rule(s): a rule can replace what an action writes"
            ));
        }
        if rls || forced {
            out.push(format!(
                "{table} has row-level security{}: the console runs with row_security off, so a policy that hides rows makes its queries fail instead",
                if forced { " (forced)" } else { "" }
            ));
        }
        Ok(out)
    }

    /// `(version, round-trip)` of a trivial query.
    pub async fn ping(&self) -> Result<(String, std::time::Duration), DbError> {
        let t = std::time::Instant::now();
        let v: String = sqlx::query_scalar("SELECT pg_catalog.current_setting('server_version')")
            .fetch_one(&self.pool)
            .await
            .map_err(DbError::Query)?;
        Ok((v, t.elapsed()))
    }
}

/// Settings that change how statements behave: shown with their values in a plan.
const BEHAVIOUR_SETTINGS: &[&str] = &[
    "search_path",
    "default_transaction_read_only",
    "default_transaction_isolation",
    "default_transaction_deferrable",
    "statement_timeout",
    "lock_timeout",
    "idle_in_transaction_session_timeout",
    "row_security",
    "session_replication_role",
    "role",
    "session_authorization",
    "default_table_access_method",
    "check_function_bodies",
    "transaction_read_only",
];

/// `name=value` for a behaviour setting, `name=(value not shown)` for any other.
fn shown_setting(cfg: &str) -> String {
    let (name, _) = cfg.split_once('=').unwrap_or((cfg, ""));
    if BEHAVIOUR_SETTINGS.contains(&name.trim().to_ascii_lowercase().as_str()) {
        cfg.to_owned()
    } else {
        format!("{name}=(value not shown)")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_behaviour_settings_show_their_values() {
        assert_eq!(
            super::shown_setting("search_path=decoy, public"),
            "search_path=decoy, public"
        );
        assert_eq!(
            super::shown_setting("app.jwt_secret=hunter2hunter2"),
            "app.jwt_secret=(value not shown)"
        );
        assert_eq!(super::shown_setting("Statement_Timeout=1"), "Statement_Timeout=1");
        assert_eq!(super::shown_setting("odd"), "odd=(value not shown)");
    }
}
