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

/// A step that is one SQL statement (`WITH r AS (… RETURNING 1) SELECT count(*) FROM r`)
/// in one transaction: a failure rolls it back whole, so it never needs an undo for
/// itself. `outcome` names what the count counts (`token(s) revoked`).
pub struct Statement {
    pub description: String,
    pub sql: String,
    pub vals: Vec<Val>,
    pub outcome: &'static str,
}

impl super::Step for Statement {
    fn description(&self) -> String {
        self.description.clone()
    }

    fn run<'a>(
        &'a self,
        ctx: &'a super::Ctx<'_>,
    ) -> futures_util::future::BoxFuture<'a, Result<super::StepDone>> {
        Box::pin(async move {
            let db = ctx.db().await?;
            let mut tx = db.pool.begin().await.map_err(query_err)?;
            let n: i64 = sqlx::query_scalar_with(audited(&self.sql), args(&self.vals)?)
                .fetch_one(&mut *tx)
                .await
                .map_err(query_err)?;
            tx.commit().await.map_err(query_err)?;
            Ok(super::StepDone {
                detail: format!("{n} {}", self.outcome),
                changed: n,
            })
        })
    }
}
