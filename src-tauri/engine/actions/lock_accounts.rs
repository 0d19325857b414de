//! Lock accounts (every non-admin for a while, or one user), and unlock them. A locked
//! account cannot log in: the application checks `locked_until > now()` on every login
//! and every request.

use serde::{Deserialize, Serialize};

use futures_util::future::BoxFuture;

use super::sql::{Statement, Val, count, q, sample};
use super::{Action, Ctx, Plan, Planned, Verdict};
use crate::engine::probe::Evidence;
use crate::engine::{Error, Result};

/// The request: lock accounts for `duration_secs` (absent: until unlocked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct LockAccounts {
    pub scope: LockScope,
    pub duration_secs: Option<u64>,
}

/// The request: unlock accounts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct UnlockAccounts {
    pub scope: LockScope,
}

impl Action for LockAccounts {
    fn plan<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, Result<Planned>> {
        Box::pin(plan_with(ctx, &self.scope, true, self.duration_secs))
    }
    fn verify<'a>(&'a self, ctx: &'a Ctx<'_>, _plan: &'a Plan) -> BoxFuture<'a, Result<Verdict>> {
        Box::pin(async move {
            let verdict = verify(ctx, &self.scope, Some(self.duration_secs)).await?;
            // The app itself: the canary's login must be refused.
            let evidence = match ctx.prober().await {
                Err(why) => Evidence::None(why),
                Ok(p) => match canary_in_scope(ctx, &self.scope, p.user()).await? {
                    Err(why) => Evidence::None(why),
                    Ok(()) => {
                        let before = ctx.with_before(|b| b.login.clone());
                        let after = p.login().await.map(|(answer, _)| answer);
                        Evidence::judge("the canary's login", before.as_ref(), after)
                    }
                },
            };
            Ok(verdict.with_evidence(evidence))
        })
    }

    fn probe_before<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if let Ok(p) = ctx.prober().await
                && let Ok(Ok(())) = canary_in_scope(ctx, &self.scope, p.user()).await
            {
                let answer = p.login().await.map(|(answer, _)| answer);
                ctx.with_before(|b| b.login = answer);
            }
        })
    }
}

/// Whether the canary account is one this lock covers, or why not. For every non-admin
/// account the database is asked for its role: an admin canary is never locked.
async fn canary_in_scope(
    ctx: &Ctx<'_>,
    scope: &LockScope,
    canary: &str,
) -> Result<std::result::Result<(), String>> {
    match scope {
        LockScope::User(u) if u == canary => Ok(Ok(())),
        LockScope::User(_) => Ok(Err(format!("the canary account {canary} is not in this scope"))),
        LockScope::AllNonAdmin => {
            let u = ctx
                .app
                .require("users", &ctx.app.users)
                .map_err(|reason| Error::ActionUnavailable { reason })?;
            let (from, mut vals, _) = scope_sql(ctx, scope)?;
            vals.push(Val::Text(canary.to_owned()));
            let n = count(
                ctx.db().await?,
                &format!(
                    "SELECT count(*) {from} AND u.{} = ${}",
                    q(&u.username),
                    vals.len()
                ),
                &vals,
            )
            .await?;
            Ok(if n > 0 {
                Ok(())
            } else {
                Err(format!(
                    "the canary account {canary} is not a non-admin account of the users table"
                ))
            })
        }
    }
}

impl Action for UnlockAccounts {
    fn plan<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, Result<Planned>> {
        Box::pin(plan_with(ctx, &self.scope, false, None))
    }
    fn verify<'a>(&'a self, ctx: &'a Ctx<'_>, _plan: &'a Plan) -> BoxFuture<'a, Result<Verdict>> {
        Box::pin(verify(ctx, &self.scope, None))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
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
        // A NULL or empty role is not an admin role: `role <> ALL(…)` would be NULL for
        // it and leave the account out.
        LockScope::AllNonAdmin => (
            format!(
                "FROM {} u WHERE NOT coalesce(u.{} = ANY($1::text[]), false)",
                q(&u.table),
                q(&u.role)
            ),
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
        "coalesce(u.{lu} > pg_catalog.now(), false)",
        lu = q(&u.locked_until)
    ))
}

/// True for an account already locked at least as long as asked: until the lock's end
/// (`$n` seconds from now, less `slack`), or for ever. An account under a one-minute
/// brute-force lockout is not "already locked" for `--for 2h`.
fn locked_long_enough(ctx: &Ctx<'_>, duration: Option<&str>, slack: &str) -> Result<String> {
    let u = ctx
        .app
        .require("users", &ctx.app.users)
        .map_err(|reason| Error::ActionUnavailable { reason })?;
    let lu = q(&u.locked_until);
    Ok(match duration {
        Some(param) => format!(
            "coalesce(u.{lu} >= pg_catalog.now() + pg_catalog.make_interval(secs => {param}) - interval '{slack}', false)"
        ),
        None => format!("coalesce(u.{lu} = 'infinity'::timestamptz, false)"),
    })
}

/// How far an existing lock may fall short of the one asked for and still count as it:
/// the time between a run's statement and verify's, or between two runs of the same
/// lock (a tenth of the duration, 1 s to 5 min). A one-minute lockout is not a 2 h lock.
fn verify_slack(duration_secs: u64) -> String {
    format!("{} seconds", (duration_secs / 10).clamp(1, 300))
}

async fn plan_with(ctx: &Ctx<'_>, scope: &LockScope, lock: bool, duration: Option<u64>) -> Result<Planned> {
    let (from, mut vals, who) = scope_sql(ctx, scope)?;
    let u = ctx
        .app
        .require("users", &ctx.app.users)
        .map_err(|reason| Error::ActionUnavailable { reason })?;
    let duration_param = duration.map(|secs| {
        vals.push(Val::Int(i64::try_from(secs).unwrap_or(i64::MAX)));
        format!("${}", vals.len())
    });
    // Within the slack, a lock is as long as asked: running the same lock again seconds
    // later has nothing to do (it would only push the end by those seconds).
    let slack = verify_slack(duration.unwrap_or(0));
    let cond = if lock {
        format!(
            "NOT {}",
            locked_long_enough(ctx, duration_param.as_deref(), &slack)?
        )
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
        (format!("lock {until}"), "not already locked that long")
    } else {
        ("unlock".to_owned(), "locked now")
    };
    let value = match (lock, &duration_param) {
        (true, Some(param)) => format!("pg_catalog.now() + pg_catalog.make_interval(secs => {param})"),
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
            warnings: vec![],
            digest: String::new(),
        },
        vec![Box::new(step)],
    ))
}

/// After a lock, no account in scope may still log in before the lock asked for ends;
/// after an unlock, none may still be locked. `lock`: the lock's duration (`Some(None)`:
/// until unlocked), `None` for an unlock.
async fn verify(ctx: &Ctx<'_>, scope: &LockScope, lock: Option<Option<u64>>) -> Result<Verdict> {
    let (from, mut vals, _) = scope_sql(ctx, scope)?;
    let db = ctx.db().await?;
    let cond = match lock {
        Some(duration) => {
            let param = duration.map(|secs| {
                vals.push(Val::Int(i64::try_from(secs).unwrap_or(i64::MAX)));
                format!("${}", vals.len())
            });
            let slack = verify_slack(duration.unwrap_or(0));
            format!("NOT {}", locked_long_enough(ctx, param.as_deref(), &slack)?)
        }
        None => locked_now(ctx)?,
    };
    let left = count(db, &format!("SELECT count(*) {from} AND {cond}"), &vals).await?;
    let unlock_note = if lock.is_none() {
        "; an unlock is checked in the database"
    } else {
        ""
    };
    let what = if lock.is_some() {
        "are not locked for as long as asked"
    } else {
        "still locked"
    };
    Ok(Verdict::new(
        left == 0,
        format!("{left} account(s) in scope {what}{unlock_note}"),
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn verify_slack_is_a_tenth_within_bounds() {
        assert_eq!(super::verify_slack(0), "1 seconds");
        assert_eq!(super::verify_slack(7200), "300 seconds");
        assert_eq!(super::verify_slack(600), "60 seconds");
    }
}
