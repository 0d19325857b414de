//! Revoke API tokens: all of them, one user's, one by id, or those created since a time.
//! A revoked token is refused by the application at once (it checks `active`).

use serde::{Deserialize, Serialize};

use futures_util::future::BoxFuture;

use super::sql::{Statement, Val, count, q, sample};
use super::{Action, Ctx, Plan, Planned, Verdict};
use crate::engine::{Error, Result};

/// The request: which tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokeTokens {
    pub scope: TokenScope,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "kebab-case")]
pub enum TokenScope {
    All,
    User(String),
    Id(i64),
    /// An RFC 3339 time (`2026-11-22T03:00:00Z`).
    CreatedSince(String),
}

/// `FROM tokens t WHERE t.active AND <scope>`, with its bound values.
fn scope_sql(ctx: &Ctx<'_>, scope: &TokenScope) -> Result<(String, Vec<Val>)> {
    let t = ctx
        .app
        .require("tokens", &ctx.app.tokens)
        .map_err(|reason| Error::ActionUnavailable { reason })?;
    let base = format!("FROM {} t WHERE t.{}", q(&t.table), q(&t.active));
    Ok(match scope {
        TokenScope::All => (base, vec![]),
        TokenScope::Id(id) => (format!("{base} AND t.{} = $1", q(&t.id)), vec![Val::Int(*id)]),
        TokenScope::CreatedSince(since) => {
            humantime::parse_rfc3339_weak(since).map_err(|_| Error::BadArgument {
                message: format!("expected a time like 2026-11-22T03:00:00Z, found {since:?}"),
            })?;
            (
                format!("{base} AND t.{} >= $1::timestamptz", q(&t.created_at)),
                vec![Val::Text(since.clone())],
            )
        }
        TokenScope::User(name) => {
            let u = ctx
                .app
                .require("users", &ctx.app.users)
                .map_err(|reason| Error::ActionUnavailable { reason })?;
            (
                format!(
                    "{base} AND t.{} IN (SELECT u.{} FROM {} u WHERE u.{} = $1)",
                    q(&t.user_id),
                    q(&u.id),
                    q(&u.table),
                    q(&u.username)
                ),
                vec![Val::Text(name.clone())],
            )
        }
    })
}

impl Action for RevokeTokens {
    fn plan<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, Result<Planned>> {
        Box::pin(plan(ctx, &self.scope))
    }

    fn verify<'a>(&'a self, ctx: &'a Ctx<'_>, _plan: &'a Plan) -> BoxFuture<'a, Result<Verdict>> {
        Box::pin(async move {
            let (from, vals) = scope_sql(ctx, &self.scope)?;
            let left = count(ctx.db().await?, &format!("SELECT count(*) {from}"), &vals).await?;
            Ok(Verdict::new(
                left == 0,
                format!("{left} active token(s) left in scope"),
            ))
        })
    }
}

async fn plan(ctx: &Ctx<'_>, scope: &TokenScope) -> Result<Planned> {
    let (from, vals) = scope_sql(ctx, scope)?;
    let t = ctx
        .app
        .require("tokens", &ctx.app.tokens)
        .map_err(|reason| Error::ActionUnavailable { reason })?;
    let db = ctx.db().await?;
    let n = count(db, &format!("SELECT count(*) {from}"), &vals).await?;
    let label = format!(
        "'#' || t.{}::text || ' ' || coalesce(t.{}::text, '')",
        q(&t.id),
        q(&t.label)
    );
    let sample = sample(
        db,
        &format!("SELECT {label} {from} ORDER BY t.{} LIMIT 5", q(&t.id)),
        &vals,
    )
    .await?;
    let what = match scope {
        TokenScope::All => "every active API token".to_owned(),
        TokenScope::User(u) => format!("the active API tokens of user {u:?}"),
        TokenScope::Id(id) => format!("API token #{id}"),
        TokenScope::CreatedSince(s) => format!("the active API tokens created since {s}"),
    };
    // Same WHERE as the plan: what changes is what was shown. `from` is
    // "FROM <table> t WHERE …": the UPDATE reuses the plan's WHERE as is.
    let target = from.replacen("FROM ", "", 1).replacen(
        " WHERE ",
        &format!(" SET {} = false WHERE ", q(&t.active)),
        1,
    );
    // Not undoable on purpose: re-activating leaked tokens is never what a responder
    // wants, and a failure rolls the one transaction back whole.
    let step = Statement {
        description: format!(
            "set {} = false on {n} row(s) of {}, in one transaction",
            t.active, t.table
        ),
        sql: format!("WITH r AS (UPDATE {target} RETURNING 1) SELECT count(*) FROM r"),
        vals,
        outcome: "token(s) revoked",
    };
    Ok(Planned::new(
        Plan {
            action: "revoke-tokens".into(),
            deployment: ctx.deployment().to_owned(),
            summary: format!("revoke {what}: {n} token(s) in {}", t.table),
            count: n,
            sample,
            steps: vec![],
            reversible: vec![],
            destructive: true,
            digest: String::new(),
        },
        vec![Box::new(step)],
    ))
}
