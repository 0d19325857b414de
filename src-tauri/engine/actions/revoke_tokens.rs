//! Revoke API tokens: all of them, one user's, one by id, or those created since a time.
//! A revoked token is refused by the application at once (it checks `active`).

use serde::{Deserialize, Serialize};

use futures_util::future::BoxFuture;

use super::sql::{Statement, Val, count, q, sample};
use super::{Action, Ctx, Plan, Planned, Verdict};
use crate::engine::probe::Evidence;
use crate::engine::when::Since;
use crate::engine::{Error, Result};

/// The request: which tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct RevokeTokens {
    pub scope: TokenScope,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(tag = "kind", content = "value", rename_all = "kebab-case")]
pub enum TokenScope {
    All,
    User(String),
    Id(i64),
    /// A duration back from now (`2h`) or a time with its zone (`2026-11-22T03:00:00Z`).
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
        TokenScope::CreatedSince(since) => match Since::parse(since)? {
            // Back from the database's now: the same text plans the same way.
            Since::Ago(d) => (
                format!(
                    "{base} AND t.{} >= pg_catalog.now() - pg_catalog.make_interval(secs => $1)",
                    q(&t.created_at)
                ),
                vec![Val::Int(i64::try_from(d.as_secs()).unwrap_or(i64::MAX))],
            ),
            Since::At(text, _) => (
                format!("{base} AND t.{} >= $1::timestamptz", q(&t.created_at)),
                vec![Val::Text(text)],
            ),
        },
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
            let verdict = Verdict::new(left == 0, format!("{left} active token(s) left in scope"));
            // The app itself, asked with the canary's token: it must be refused.
            let evidence = match ctx.prober().await {
                Err(why) => Evidence::None(why),
                Ok(p) if !canary_in_scope(&self.scope, p.user()) => Evidence::None(format!(
                    "the canary account {} has no token in this scope",
                    p.user()
                )),
                Ok(p) => {
                    let before = ctx.with_before(|b| b.token.clone());
                    Evidence::judge("the canary's API token", before.as_ref(), p.token().await)
                }
            };
            Ok(verdict.with_evidence(evidence))
        })
    }

    fn probe_before<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if let Ok(p) = ctx.prober().await
                && canary_in_scope(&self.scope, p.user())
            {
                let answer = p.token().await;
                ctx.with_before(|b| b.token = answer);
            }
        })
    }
}

/// Whether the canary's token is among those this scope revokes: all of them, or its
/// user's. (A token id or a creation time says nothing about whose token it is.)
fn canary_in_scope(scope: &TokenScope, canary: &str) -> bool {
    match scope {
        TokenScope::All => true,
        TokenScope::User(u) => u == canary,
        TokenScope::Id(_) | TokenScope::CreatedSince(_) => false,
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
            warnings: vec![],
            digest: String::new(),
        },
        vec![Box::new(step)],
    ))
}
