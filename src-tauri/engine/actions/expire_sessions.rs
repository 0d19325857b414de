//! Expire sessions, by the app profile's means: delete the rows of a sessions table, or
//! the Redis keys of a pattern (SCAN + UNLINK, never KEYS). Sessions kept in signed
//! cookies cannot be deleted: only rotating the signing secret ends them, and the plan
//! says so.

use super::sql::{Val, args, count, q, query_err, sample};
use super::{Ctx, Events, Plan, Ran, step};
use crate::engine::profiles::app::{SessionMeans, Sessions};
use crate::engine::{Error, Result};

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

pub async fn plan(ctx: &Ctx<'_>, user: Option<&str>) -> Result<Plan> {
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
            Ok(Plan {
                action: "expire-sessions".into(),
                deployment,
                summary: format!("expire every session: {n} Redis key(s) matching {}", pattern(s)),
                count: n,
                // A session key often holds the session id itself: show its start only, so
                // the plan (and the journal) never carries a usable session id.
                sample: keys.iter().take(5).map(|k| redacted_key(pattern(s), k)).collect(),
                steps: vec![format!(
                    "SCAN {} and UNLINK what it finds, in batches of 500",
                    pattern(s)
                )],
                destructive: true,
            })
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
            Ok(Plan {
                action: "expire-sessions".into(),
                deployment,
                summary: match user {
                    Some(u) => format!("expire the sessions of {u:?}: {n} row(s) of {table}"),
                    None => format!("expire every session: {n} row(s) of {table}"),
                },
                count: n,
                sample,
                steps: vec![format!("delete {n} row(s) of {table}, in one transaction")],
                destructive: true,
            })
        }
    }
}

pub async fn run(ctx: &Ctx<'_>, user: Option<&str>, events: &Events) -> Result<Ran> {
    let s = sessions(ctx)?;
    if s.means == SessionMeans::Redis {
        let description = format!("unlink Redis keys matching {}", pattern(s));
        let (changed, outcome) = step(events, 1, &description, async {
            let mut r = ctx.redis().await?;
            let keys = r.scan(pattern(s)).await?;
            let n = r.unlink(&keys).await?;
            Ok((n, format!("{n} key(s) unlinked")))
        })
        .await?;
        return Ok(Ran {
            changed,
            steps: vec![(description, outcome)],
        });
    }
    let (from, vals) = table_sql(ctx, s, user)?;
    let description = format!("delete sessions from {}", s.table.clone().unwrap_or_default());
    let (changed, outcome) = step(events, 1, &description, async {
        let db = ctx.db().await?;
        let mut tx = db.pool.begin().await.map_err(query_err)?;
        let target = from.replacen("FROM ", "", 1);
        let sql = format!("WITH r AS (DELETE FROM {target} RETURNING 1) SELECT count(*) FROM r");
        let n: i64 = sqlx::query_scalar_with(super::sql::audited(&sql), args(&vals)?)
            .fetch_one(&mut *tx)
            .await
            .map_err(query_err)?;
        tx.commit().await.map_err(query_err)?;
        Ok((n, format!("{n} session(s) deleted")))
    })
    .await?;
    Ok(Ran {
        changed,
        steps: vec![(description, outcome)],
    })
}

pub async fn verify(ctx: &Ctx<'_>, user: Option<&str>) -> Result<(bool, String)> {
    let s = sessions(ctx)?;
    let left = if s.means == SessionMeans::Redis {
        i64::try_from(ctx.redis().await?.scan(pattern(s)).await?.len()).unwrap_or(i64::MAX)
    } else {
        let (from, vals) = table_sql(ctx, s, user)?;
        let db = ctx.db().await?;
        count(db, &format!("SELECT count(*) {from}"), &vals).await?
    };
    Ok((left == 0, format!("{left} session(s) left")))
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
