//! SQL helpers shared by the database actions: quoted identifiers (already validated by
//! the app profile) and bound values.

use sqlx::postgres::PgArguments;
use sqlx::{Arguments, Postgres};

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
