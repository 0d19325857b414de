//! Expire sessions, by the app profile's means: delete the rows of a sessions table, or
//! the Redis keys of a pattern (SCAN + UNLINK, never KEYS). Sessions kept in signed
//! cookies cannot be deleted: only rotating the signing secret ends them, and the plan
//! says so.

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::sql::{Statement, Val, count, q, sample};
use super::{Action, Ctx, Plan, Planned, Step, StepDone, Vantage, Verdict};
use crate::engine::probe::{Answer, Evidence};
use crate::engine::profiles::app::{SessionMeans, Sessions};
use crate::engine::{Error, Result};

/// The request: expire sessions, all or one user's (table-backed sessions only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ExpireSessions {
    pub user: Option<String>,
}

impl Action for ExpireSessions {
    fn plan<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, Result<Planned>> {
        Box::pin(plan(ctx, self.user.as_deref()))
    }
    fn verify<'a>(&'a self, ctx: &'a Ctx<'_>, _plan: &'a Plan) -> BoxFuture<'a, Result<Verdict>> {
        Box::pin(async move {
            let verdict = verify(ctx, self.user.as_deref()).await?;
            // The app itself: a session the canary opened before the run must be refused.
            let evidence = match ctx.prober().await {
                Err(why) => Evidence::None(why),
                Ok(p) if !canary_in_scope(self.user.as_deref(), p.user()) => {
                    Evidence::None(format!("the canary account {} is not in this scope", p.user()))
                }
                Ok(p) => match ctx.with_before(|b| (b.cookies.clone(), b.session.clone())) {
                    (Some(cookies), before) => Evidence::judge(
                        "a session the canary opened before the run",
                        before.as_ref(),
                        p.session(&cookies).await,
                    ),
                    (None, _) => Evidence::None(
                        "the canary could not open a session before the run (no login, or no cookie set)"
                            .into(),
                    ),
                },
            };
            Ok(verdict.with_evidence(evidence))
        })
    }

    fn probe_before<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let Ok(p) = ctx.prober().await else { return };
            if !canary_in_scope(self.user.as_deref(), p.user()) {
                return;
            }
            if let Some((Answer::Accepted(_), Some(cookies))) = p.login().await {
                let session = p.session(&cookies).await;
                ctx.with_before(|b| {
                    b.cookies = Some(cookies);
                    b.session = session;
                });
            }
        })
    }
}

fn canary_in_scope(user: Option<&str>, canary: &str) -> bool {
    user.is_none_or(|u| u == canary)
}

fn sessions<'a>(ctx: &'a Ctx<'_>) -> Result<&'a Sessions> {
    let s = ctx
        .app
        .require("sessions", &ctx.app.sessions)
        .map_err(|reason| Error::ActionUnavailable { reason })?;
    if s.means == SessionMeans::Cookie {
        let secret = s.cookie_secret.clone().unwrap_or_default();
        return Err(Error::ActionUnavailable {
            reason: format!(
                "sessions of {:?} live in cookies signed with {secret}: they end only when {secret} is rotated \
                 (on every web host at once), which secret rotation will do",
                ctx.app.name
            ),
        });
    }
    Ok(s)
}

fn table_sql(ctx: &Ctx<'_>, s: &Sessions, user: Option<&str>) -> Result<(String, Vec<Val>)> {
    let (Some(table), Some(user_id)) = (&s.table, &s.user_id) else {
        return Err(Error::ActionUnavailable {
            reason: "the app profile names no sessions table".into(),
        });
    };
    Ok(match user {
        None => (format!("FROM {} s", q(table)), vec![]),
        Some(name) => {
            let u = ctx
                .app
                .require("users", &ctx.app.users)
                .map_err(|reason| Error::ActionUnavailable { reason })?;
            (
                format!(
                    "FROM {} s WHERE s.{} IN (SELECT u.{} FROM {} u WHERE u.{} = $1)",
                    q(table),
                    q(user_id),
                    q(&u.id),
                    q(&u.table),
                    q(&u.username)
                ),
                vec![Val::Text(name.to_owned())],
            )
        }
    })
}

fn pattern(s: &Sessions) -> &str {
    s.redis_pattern.as_deref().unwrap_or("session:*")
}

async fn plan(ctx: &Ctx<'_>, user: Option<&str>) -> Result<Planned> {
    let s = sessions(ctx)?;
    let deployment = ctx.deployment().to_owned();
    match s.means {
        SessionMeans::Redis => {
            if user.is_some() {
                return Err(Error::ActionUnavailable {
                    reason:
                        "Redis session keys do not say whose they are: expire all of them, or lock the user"
                            .into(),
                });
            }
            let keys = ctx.redis().await?.scan(pattern(s)).await?;
            let n = i64::try_from(keys.len()).unwrap_or(i64::MAX);
            let step = Unlink {
                pattern: pattern(s).to_owned(),
            };
            Ok(Planned::new(
                Plan {
                    action: "expire-sessions".into(),
                    deployment,
                    summary: format!("expire every session: {n} Redis key(s) matching {}", pattern(s)),
                    count: n,
                    // A session key often holds the session id itself: show its start only,
                    // so the plan (and the journal) never carries a usable session id.
                    sample: keys.iter().take(5).map(|k| redacted_key(pattern(s), k)).collect(),
                    steps: vec![],
                    reversible: vec![],
                    destructive: true,
                    warnings: vec![],
                    digest: String::new(),
                },
                vec![Box::new(step)],
            ))
        }
        _ => {
            let (from, vals) = table_sql(ctx, s, user)?;
            let db = ctx.db().await?;
            let n = count(db, &format!("SELECT count(*) {from}"), &vals).await?;
            let table = s.table.clone().unwrap_or_default();
            let user_col = q(s.user_id.as_deref().unwrap_or("user_id"));
            let sample = sample(
                db,
                &format!("SELECT 'a session of user #' || s.{user_col}::text {from} LIMIT 5"),
                &vals,
            )
            .await?;
            let target = from.replacen("FROM ", "", 1);
            let step = Statement {
                description: format!("delete {n} row(s) of {table}, in one transaction"),
                sql: format!("WITH r AS (DELETE FROM {target} RETURNING 1) SELECT count(*) FROM r"),
                vals,
                outcome: "session(s) deleted",
            };
            Ok(Planned::new(
                Plan {
                    action: "expire-sessions".into(),
                    deployment,
                    summary: match user {
                        Some(u) => format!("expire the sessions of {u:?}: {n} row(s) of {table}"),
                        None => format!("expire every session: {n} row(s) of {table}"),
                    },
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
    }
}

/// SCAN and UNLINK in batches. Cannot be undone (a deleted session is gone); a failure
/// part-way says how many keys went before it.
struct Unlink {
    pattern: String,
}

impl Step for Unlink {
    fn description(&self) -> String {
        format!(
            "SCAN {} and UNLINK what it finds, in batches of 500",
            self.pattern
        )
    }

    fn run<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, Result<StepDone>> {
        Box::pin(async move {
            let mut r = ctx.redis().await?;
            let keys = r.scan(&self.pattern).await?;
            let mut n = 0;
            for batch in keys.chunks(500) {
                n += r.unlink(batch).await.map_err(|e| Error::Partial {
                    done: format!("{n} key(s) unlinked before it"),
                    source: Box::new(e.into()),
                })?;
            }
            Ok(StepDone {
                detail: format!("{n} key(s) unlinked"),
                changed: n,
            })
        })
    }
}

async fn verify(ctx: &Ctx<'_>, user: Option<&str>) -> Result<Verdict> {
    let s = sessions(ctx)?;
    let left = if s.means == SessionMeans::Redis {
        i64::try_from(ctx.redis().await?.scan(pattern(s)).await?.len()).unwrap_or(i64::MAX)
    } else {
        let (from, vals) = table_sql(ctx, s, user)?;
        let db = ctx.db().await?;
        count(db, &format!("SELECT count(*) {from}"), &vals).await?
    };
    let verdict = Verdict::new(left == 0, format!("{left} session(s) left"));
    Ok(if s.means == SessionMeans::Redis {
        verdict.by(Vantage::Redis)
    } else {
        verdict
    })
}

/// `session:…(40 bytes)`: the pattern's literal prefix and the key's length, never any
/// byte of what follows (often the session id itself, usable as a cookie).
fn redacted_key(pattern: &str, key: &[u8]) -> String {
    let literal = pattern
        .find(['*', '?', '[', '\\'])
        .map_or(pattern, |i| &pattern[..i]);
    let prefix = if key.starts_with(literal.as_bytes()) {
        literal
    } else {
        ""
    };
    format!(
        "{}…({} bytes)",
        crate::engine::ssh::output::display_safe(prefix.as_bytes()),
        key.len()
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn session_ids_are_not_shown_whole() {
        let key = b"session:0123456789abcdef0123456789abcdef";
        let shown = super::redacted_key("session:*", key);
        assert_eq!(shown, "session:…(40 bytes)");
        // A short prefix shows no byte of the id either.
        assert_eq!(super::redacted_key("s:*", b"s:1"), "s:…(3 bytes)");
        assert_eq!(super::redacted_key("*", b"abc"), "…(3 bytes)");
    }
}
