//! Review the audit trail: failed logins by IP in a window, successful logins that
//! follow failures from the same IP (a guessed password), admin actions, new tokens, and
//! an hourly timeline for the chart. Read-only; the table and column names come from the
//! app profile, every value is bound.

use serde::Serialize;

use crate::engine::actions::{self, audited};
use crate::engine::profiles::app::Audit;
use crate::engine::{Engine, Error, Result};

/// What the review shows for a row whose IP column is NULL.
pub const NO_IP: &str = "(no IP recorded)";

#[derive(Debug, Clone, Serialize, PartialEq, Eq, sqlx::FromRow)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct FailedByIp {
    pub ip: String,
    pub failures: i64,
    pub first: String,
    pub last: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, sqlx::FromRow)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct SuccessAfterFailures {
    pub ip: String,
    pub at: String,
    pub user: String,
    pub failures_before: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, sqlx::FromRow)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Event {
    pub at: String,
    pub action: String,
    pub user: String,
    pub ip: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, sqlx::FromRow)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Bucket {
    pub hour: String,
    pub failures: i64,
    pub successes: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct AuditReview {
    pub deployment: String,
    pub since: String,
    pub failed_by_ip: Vec<FailedByIp>,
    pub success_after_failures: Vec<SuccessAfterFailures>,
    pub admin_actions: Vec<Event>,
    pub new_tokens: Vec<Event>,
    pub timeline: Vec<Bucket>,
}

fn q(s: &str) -> String {
    actions::quote_ident(s)
}

/// One part of the review: rows of `sql`, whose columns are named as `T`'s fields, with
/// the window in seconds as `$1` and `lists` as `$2`, `$3`…
async fn part<T>(pool: &sqlx::PgPool, sql: &str, since_secs: i64, lists: &[&[String]]) -> Result<Vec<T>>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    let mut query = sqlx::query_as::<_, T>(audited(sql)).bind(since_secs as f64);
    for list in lists {
        query = query.bind(*list);
    }
    query
        .fetch_all(pool)
        .await
        .map_err(|e| crate::engine::db::DbError::Query(e).into())
}

impl Engine {
    /// The audit trail since `since_secs` ago.
    pub async fn audit_review(&self, deployment: &str, since_secs: u64) -> Result<AuditReview> {
        let app = self.app_profile(deployment).await?;
        let a: &Audit = app
            .require("audit", &app.audit)
            .map_err(|reason| Error::ActionUnavailable { reason })?;
        let users = app.users.as_ref();
        let db = self.database(deployment).await?;
        let since_secs = i64::try_from(since_secs).unwrap_or(i64::MAX / 2);
        let err = |e: sqlx::Error| Error::from(crate::engine::db::DbError::Query(e));
        let (t, act, ip, at, uid) = (
            q(&a.table),
            q(&a.action),
            q(&a.ip),
            q(&a.created_at),
            q(&a.user_id),
        );
        // A row with no IP (NULL) is reported as such, never dropped and never an abort.
        let ip_text =
            |alias: &str| format!("coalesce(pg_catalog.split_part({alias}.{ip}::text, '/', 1), '{NO_IP}')");
        let user_name = |alias: &str| match users {
            Some(u) => format!(
                "coalesce((SELECT x.{}::text FROM {} x WHERE x.{} = {alias}.{uid}), '#' || {alias}.{uid}::text, '?')",
                q(&u.username),
                q(&u.table),
                q(&u.id)
            ),
            None => format!("coalesce('#' || {alias}.{uid}::text, '?')"),
        };
        let since = "pg_catalog.now() - pg_catalog.make_interval(secs => $1)";

        // The parts are independent: they run at once, each on its own connection of the
        // pool (PostgreSQL works on them in parallel).
        let (failed, succeeded) = (a.login_failed.as_slice(), a.login_succeeded.as_slice());
        let (only_failed, both) = ([failed], [failed, succeeded]);
        let failed_by_ip_sql = format!(
            "SELECT {ipt} AS ip, count(*) AS failures, min(a.{at})::text AS first, max(a.{at})::text AS last
             FROM {t} a WHERE a.{act} = ANY($2) AND a.{at} >= {since} GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 50",
            ipt = ip_text("a")
        );
        let success_sql = format!(
            // One join of the window's successes with its failures (a hash join on the IP),
            // not a probe per success: on a million-row trail with 860,000 successes in the
            // window this is 0.2 s instead of 2 s (docs/performance.md). Grouped by the
            // row itself (`ctid`): two successes alike in IP, time and user stay two.
            "SELECT {ipt} AS ip, s.{at}::text AS at, {who} AS user, count(*) AS failures_before
             FROM {t} s JOIN {t} f ON f.{ip} = s.{ip} AND f.{at} BETWEEN s.{at} - interval '1 hour' AND s.{at}
             WHERE s.{act} = ANY($3) AND s.{at} >= {since}
               AND f.{act} = ANY($2) AND f.{at} >= {since} - interval '1 hour'
             GROUP BY s.ctid, s.{ip}, s.{at}, s.{uid}
             ORDER BY failures_before DESC, s.{at} DESC LIMIT 50",
            ipt = ip_text("s"),
            who = user_name("s")
        );
        // Admin actions and new tokens: the same listing, filtered by action name.
        let events_sql = |filter: &str| {
            format!(
                "SELECT e.{at}::text AS at, e.{act}::text AS action, {who} AS user, {ipt} AS ip
                 FROM {t} e WHERE e.{act} {filter} AND e.{at} >= {since} ORDER BY e.{at} DESC LIMIT 100",
                who = user_name("e"),
                ipt = ip_text("e")
            )
        };
        let admin_prefix = a
            .admin_prefix
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let admin_pattern = [format!("{admin_prefix}%")];
        let (admin_sql, tokens_sql) = (events_sql("LIKE ANY($2)"), events_sql("= ANY($2)"));
        let timeline_sql = format!(
            "SELECT to_char(date_trunc('hour', a.{at}), 'YYYY-MM-DD\"T\"HH24:00') AS hour,
                    count(*) FILTER (WHERE a.{act} = ANY($2)) AS failures,
                    count(*) FILTER (WHERE a.{act} = ANY($3)) AS successes
             FROM {t} a WHERE a.{at} >= {since} GROUP BY 1 ORDER BY 1"
        );
        let pool = &db.pool;
        // Four at once at most, the pool's size: the two short listings share one.
        let listings = async {
            let admin = part::<Event>(pool, &admin_sql, since_secs, &[&admin_pattern]).await?;
            Ok::<_, Error>((
                admin,
                part(pool, &tokens_sql, since_secs, &[&a.token_created]).await?,
            ))
        };
        let (failed_by_ip, success_after_failures, (admin_actions, new_tokens), timeline) = tokio::try_join!(
            part(pool, &failed_by_ip_sql, since_secs, &only_failed),
            part(pool, &success_sql, since_secs, &both),
            listings,
            part(pool, &timeline_sql, since_secs, &both),
        )?;

        let since_text: String = sqlx::query_scalar(audited(&format!("SELECT ({since})::text")))
            .bind(since_secs as f64)
            .fetch_one(&db.pool)
            .await
            .map_err(err)?;
        Ok(AuditReview {
            deployment: deployment.to_owned(),
            since: since_text,
            failed_by_ip,
            success_after_failures,
            admin_actions,
            new_tokens,
            timeline,
        })
    }
}
