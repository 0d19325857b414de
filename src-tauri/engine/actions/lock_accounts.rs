//! Lock accounts (every non-admin for a while, or one user), and unlock them. A locked
//! account cannot log in: the application checks `locked_until > now()` on every login
//! and every request.

use serde::{Deserialize, Serialize};

use futures_util::future::BoxFuture;

use super::sql::{Statement, Val, count, q, sample};
use super::{Action, Ctx, Plan, Planned, Verdict};
use crate::engine::{Error, Result};

/// The request: lock accounts for `duration_secs` (absent: until unlocked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockAccounts {
    pub scope: LockScope,
    pub duration_secs: Option<u64>,
}

/// The request: unlock accounts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnlockAccounts {
    pub scope: LockScope,
}

impl Action for LockAccounts {
    fn plan<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, Result<Planned>> {
        Box::pin(plan_with(ctx, &self.scope, true, self.duration_secs))
    }
    fn verify<'a>(&'a self, ctx: &'a Ctx<'_>, _plan: &'a Plan) -> BoxFuture<'a, Result<Verdict>> {
        Box::pin(verify(ctx, &self.scope, true))
    }
}

impl Action for UnlockAccounts {
    fn plan<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, Result<Planned>> {
        Box::pin(plan_with(ctx, &self.scope, false, None))
    }
    fn verify<'a>(&'a self, ctx: &'a Ctx<'_>, _plan: &'a Plan) -> BoxFuture<'a, Result<Verdict>> {
        Box::pin(verify(ctx, &self.scope, false))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "kebab-case")]
pub enum LockScope {
    /// Every account whose role is not an admin role.
    AllNonAdmin,
    User(String),
}

/// `FROM users u WHERE <scope>` and its values.
fn scope_sql(ctx: &Ctx<'_>, scope: &LockScope) -> Result<(String, Vec<Val>, String)> {
    let u = ctx
        .app
        .require("users", &ctx.app.users)
        .map_err(|reason| Error::ActionUnavailable { reason })?;
    Ok(match scope {
        LockScope::AllNonAdmin => (
            format!("FROM {} u WHERE u.{} <> ALL($1::text[])", q(&u.table), q(&u.role)),
            vec![Val::TextArray(u.admin_roles.clone())],
            format!("every account whose role is not {}", u.admin_roles.join(" or ")),
        ),
        LockScope::User(name) => (
            format!("FROM {} u WHERE u.{} = $1", q(&u.table), q(&u.username)),
            vec![Val::Text(name.clone())],
            format!("the account {name:?}"),
        ),
    })
}

fn locked_now(ctx: &Ctx<'_>) -> Result<String> {
    let u = ctx
        .app
        .require("users", &ctx.app.users)
        .map_err(|reason| Error::ActionUnavailable { reason })?;
    Ok(format!(
        "(u.{lu} IS NOT NULL AND u.{lu} > now())",
        lu = q(&u.locked_until)
    ))
}

async fn plan_with(ctx: &Ctx<'_>, scope: &LockScope, lock: bool, duration: Option<u64>) -> Result<Planned> {
    let (from, mut vals, who) = scope_sql(ctx, scope)?;
    let u = ctx
        .app
        .require("users", &ctx.app.users)
        .map_err(|reason| Error::ActionUnavailable { reason })?;
    let cond = if lock {
        format!("NOT {}", locked_now(ctx)?)
    } else {
        locked_now(ctx)?
    };
    let db = ctx.db().await?;
    let n = count(db, &format!("SELECT count(*) {from} AND {cond}"), &vals).await?;
    let names = sample(
        db,
        &format!(
            "SELECT u.{}::text {from} AND {cond} ORDER BY u.{} LIMIT 5",
            q(&u.username),
            q(&u.id)
        ),
        &vals,
    )
    .await?;
    let until = match duration {
        Some(s) => format!(
            "for {}",
            humantime::format_duration(std::time::Duration::from_secs(s))
        ),
        None => "until unlocked".to_owned(),
    };
    let (verb, already) = if lock {
        (format!("lock {until}"), "not locked now")
    } else {
        ("unlock".to_owned(), "locked now")
    };
    let value = match (lock, duration) {
        (true, Some(secs)) => {
            vals.push(Val::Int(i64::try_from(secs).unwrap_or(i64::MAX)));
            format!("now() + make_interval(secs => ${})", vals.len())
        }
        (true, None) => "'infinity'::timestamptz".to_owned(),
        (false, _) => "NULL".to_owned(),
    };
    let target = from.replacen("FROM ", "", 1).replacen(
        " WHERE ",
        &format!(" SET {} = {value} WHERE ", q(&u.locked_until)),
        1,
    );
    let step = Statement {
        description: format!(
            "set {} on {n} row(s) of {}, in one transaction",
            u.locked_until, u.table
        ),
        sql: format!("WITH r AS (UPDATE {target} AND {cond} RETURNING 1) SELECT count(*) FROM r"),
        vals,
        outcome: if lock {
            "account(s) locked"
        } else {
            "account(s) unlocked"
        },
    };
    Ok(Planned::new(
        Plan {
            action: if lock { "lock-accounts" } else { "unlock-accounts" }.into(),
            deployment: ctx.deployment().to_owned(),
            summary: format!("{verb}: {who}, {already}: {n} account(s)"),
            count: n,
            sample: names,
            steps: vec![],
            reversible: vec![],
            destructive: true,
            digest: String::new(),
        },
        vec![Box::new(step)],
    ))
}

/// After a lock, no account in scope may still log in; after an unlock, none may still
/// be locked.
async fn verify(ctx: &Ctx<'_>, scope: &LockScope, lock: bool) -> Result<Verdict> {
    let (from, vals, _) = scope_sql(ctx, scope)?;
    let db = ctx.db().await?;
    let not = if lock { "NOT " } else { "" };
    let left = count(
        db,
        &format!("SELECT count(*) {from} AND {not}{}", locked_now(ctx)?),
        &vals,
    )
    .await?;
    let what = if lock { "can still log in" } else { "still locked" };
    Ok(Verdict::new(
        left == 0,
        format!("{left} account(s) in scope {what}"),
    ))
}
