//! SQL helpers shared by the database actions: quoted identifiers (already validated by
//! the app profile), bound values, and the per-deployment advisory lock.

use sqlx::postgres::PgArguments;
use sqlx::{Arguments, Postgres};

use super::{ActionEvent, Events};
use crate::engine::db::RemoteDb;
use crate::engine::{Error, Result};

/// `"public"."users"`: a validated identifier, quoted so reserved words work too.
pub fn q(ident: &str) -> String {
    ident
        .split('.')
        .map(|p| format!("\"{p}\""))
        .collect::<Vec<_>>()
        .join(".")
}

/// SQL built by the actions: fixed text, identifiers validated by the app profile (and
/// quoted by [`q`]), and `$n` placeholders. Values are never spliced in; they are bound.
/// This is the one place that vouches for that to sqlx.
pub fn audited(sql: &str) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(sql.to_owned())
}

/// A value to bind.
#[derive(Debug, Clone)]
pub enum Val {
    Text(String),
    Int(i64),
    TextArray(Vec<String>),
}

pub fn args(vals: &[Val]) -> Result<PgArguments> {
    let mut a = PgArguments::default();
    for v in vals {
        let r = match v {
            Val::Text(s) => a.add(s.clone()),
            Val::Int(i) => a.add(*i),
            Val::TextArray(xs) => a.add(xs.clone()),
        };
        r.map_err(|e| {
            Error::Db(Box::new(crate::engine::db::DbError::Query(sqlx::Error::Encode(
                e,
            ))))
        })?;
    }
    Ok(a)
}

pub fn query_err(e: sqlx::Error) -> Error {
    crate::engine::db::DbError::Query(e).into()
}

/// `count(*)` of a query with bound values.
pub async fn count(db: &RemoteDb, sql: &str, vals: &[Val]) -> Result<i64> {
    sqlx::query_scalar_with::<Postgres, i64, _>(audited(sql), args(vals)?)
        .fetch_one(&db.pool)
        .await
        .map_err(query_err)
}

/// First column of up to `n` rows, as text.
pub async fn sample(db: &RemoteDb, sql: &str, vals: &[Val]) -> Result<Vec<String>> {
    sqlx::query_scalar_with::<Postgres, String, _>(audited(sql), args(vals)?)
        .fetch_all(&db.pool)
        .await
        .map_err(query_err)
}

/// One deployment, one responder: a session-level advisory lock on the deployment's own
/// database, held on a dedicated connection named after the operator, so a second
/// responder sees who holds it (in `pg_stat_activity`) and waits.
pub struct DeploymentLock {
    conn: sqlx::pool::PoolConnection<Postgres>,
    key: String,
    /// Whether another responder held it first (this run waited).
    pub waited: bool,
}

impl DeploymentLock {
    pub async fn acquire(
        db: &RemoteDb,
        deployment: &str,
        operator: &str,
        run_id: &str,
        events: &Events,
    ) -> Result<Self> {
        let mut conn = db.pool.acquire().await.map_err(query_err)?;
        let key = format!("breakglass:{deployment}");
        let me = format!("breakglass {operator} run {run_id}");
        sqlx::query("SELECT set_config('application_name', $1, false)")
            .bind(&me)
            .execute(&mut *conn)
            .await
            .map_err(query_err)?;
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext($1))")
            .bind(&key)
            .fetch_one(&mut *conn)
            .await
            .map_err(query_err)?;
        if !got {
            let holder: Option<String> = sqlx::query_scalar(
                "SELECT coalesce(nullif(a.application_name, ''), 'another session of ' || coalesce(a.usename::text, '?'))
                        || coalesce(' since ' || to_char(a.backend_start, 'HH24:MI:SS'), '')
                 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                 WHERE l.locktype = 'advisory' AND l.granted AND l.objid = hashtext($1)::oid
                 LIMIT 1",
            )
            .bind(&key)
            .fetch_optional(&mut *conn)
            .await
            .map_err(query_err)?;
            events(ActionEvent::Waiting {
                holder: holder.unwrap_or_else(|| "another responder".into()),
            });
            sqlx::query("SELECT pg_advisory_lock(hashtext($1))")
                .bind(&key)
                .execute(&mut *conn)
                .await
                .map_err(query_err)?;
        }
        Ok(DeploymentLock {
            conn,
            key,
            waited: !got,
        })
    }

    pub async fn release(mut self) {
        let _ = sqlx::query("SELECT pg_advisory_unlock(hashtext($1))")
            .bind(&self.key)
            .execute(&mut *self.conn)
            .await;
        // The connection is closed, not returned: nothing of the session survives.
        let _ = self.conn.close().await;
    }
}
