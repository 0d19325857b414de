//! What a restored database is compared with: production's tables and columns, its row
//! counts (within what the backup's age explains), the app profile's invariants, and the
//! newest row. Each comparison is a check with its evidence.

use std::collections::BTreeMap;

use super::{CheckStatus, RestoreCheck};
use crate::engine::Result;
use crate::engine::actions::sql::query_err;
use crate::engine::db::RemoteDb;
use crate::engine::profiles::app::AppProfile;

/// No more tables than this are compared (counted) one by one.
const MAX_TABLES: usize = 200;
/// No more timestamp columns than this are read for the newest row.
const MAX_TIME_COLUMNS: usize = 40;

/// `"a""b"`: any identifier the catalog gives, quoted.
fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// `schema.table` (as the app profile writes it) quoted part by part.
fn quote_path(path: &str) -> String {
    path.split('.').map(quote).collect::<Vec<_>>().join(".")
}

type Columns = BTreeMap<String, BTreeMap<String, String>>;

/// The tables of `schema` and their columns with types.
async fn columns(db: &RemoteDb, schema: &str) -> Result<Columns> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT c.relname::text, a.attname::text, pg_catalog.format_type(a.atttypid, a.atttypmod) \
         FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid \
         WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped",
    )
    .bind(schema)
    .fetch_all(&db.pool)
    .await
    .map_err(query_err)?;
    let mut out = Columns::new();
    for (t, c, ty) in rows {
        out.entry(t).or_default().insert(c, ty);
    }
    Ok(out)
}

async fn count(db: &RemoteDb, sql: &str) -> Result<i64> {
    sqlx::query_scalar::<_, i64>(crate::engine::actions::sql::audited(sql))
        .fetch_one(&db.pool)
        .await
        .map_err(query_err)
}

fn list(items: &[String]) -> String {
    let mut s = items.iter().take(10).cloned().collect::<Vec<_>>().join(", ");
    if items.len() > 10 {
        s += &format!(" and {} more", items.len() - 10);
    }
    s
}

/// The row difference a backup `age_secs` old explains, as a fraction of production's
/// rows: 5 %, and 1 % more per hour of age, at most half.
pub fn tolerance(age_secs: u64) -> f64 {
    (0.05 + 0.01 * (age_secs as f64 / 3600.0)).min(0.5)
}

/// Judges one table's restored row count against production's.
pub fn judge_rows(production: i64, restored: i64, age_secs: u64) -> CheckStatus {
    if production > 0 && restored == 0 {
        return CheckStatus::Fail;
    }
    let allowed = (production as f64 * tolerance(age_secs)).max(10.0);
    let diff = (production - restored).abs() as f64;
    if restored < production / 2 {
        CheckStatus::Fail
    } else if diff > allowed {
        CheckStatus::Warn
    } else {
        CheckStatus::Pass
    }
}

/// Schema, rows and invariants of `restored` against `production`.
pub async fn compare(
    production: &RemoteDb,
    restored: &RemoteDb,
    app: &AppProfile,
    age_secs: u64,
) -> Result<Vec<RestoreCheck>> {
    let mut checks = Vec::new();
    let check = |name: &str, status, detail: String| RestoreCheck {
        name: name.into(),
        status,
        detail,
    };
    // Both sides at once: each is its own server connection.
    let (want, have) = tokio::try_join!(columns(production, &app.schema), columns(restored, &app.schema))?;
    let mut missing_tables = Vec::new();
    let mut missing_columns = Vec::new();
    let mut other_types = Vec::new();
    for (t, cols) in &want {
        let Some(got) = have.get(t) else {
            missing_tables.push(t.clone());
            continue;
        };
        for (c, ty) in cols {
            match got.get(c) {
                None => missing_columns.push(format!("{t}.{c}")),
                Some(g) if g != ty => other_types.push(format!("{t}.{c} ({g}, production {ty})")),
                Some(_) => {}
            }
        }
    }
    let schema_status = if want.is_empty() {
        CheckStatus::Warn
    } else if !missing_tables.is_empty() || !missing_columns.is_empty() {
        CheckStatus::Fail
    } else if !other_types.is_empty() {
        CheckStatus::Warn
    } else {
        CheckStatus::Pass
    };
    let mut detail = if want.is_empty() {
        format!(
            "production has no table in schema {}: nothing to compare",
            app.schema
        )
    } else {
        format!(
            "{} of production's {} tables restored",
            want.len() - missing_tables.len(),
            want.len()
        )
    };
    if !missing_tables.is_empty() {
        detail += &format!("; missing tables: {}", list(&missing_tables));
    }
    if !missing_columns.is_empty() {
        detail += &format!("; missing columns: {}", list(&missing_columns));
    }
    if !other_types.is_empty() {
        detail += &format!("; other types: {}", list(&other_types));
    }
    checks.push(check("schema", schema_status, detail));

    // Row counts of the tables both have.
    let mut worst = CheckStatus::Pass;
    let mut lines = Vec::new();
    for t in want.keys().filter(|t| have.contains_key(*t)).take(MAX_TABLES) {
        let sql = format!("SELECT count(*) FROM {}.{}", quote(&app.schema), quote(t));
        let (p, r) = tokio::try_join!(count(production, &sql), count(restored, &sql))?;
        let s = judge_rows(p, r, age_secs);
        if s != CheckStatus::Pass {
            lines.push(format!("{t}: {r} restored, {p} in production"));
        }
        worst = match (worst, s) {
            (CheckStatus::Fail, _) | (_, CheckStatus::Fail) => CheckStatus::Fail,
            (CheckStatus::Warn, _) | (_, CheckStatus::Warn) => CheckStatus::Warn,
            _ => CheckStatus::Pass,
        };
    }
    let compared = want
        .keys()
        .filter(|t| have.contains_key(*t))
        .count()
        .min(MAX_TABLES);
    checks.push(check(
        "rows",
        if compared == 0 { CheckStatus::Fail } else { worst },
        if compared == 0 {
            "no table to count: none of production's tables was restored".into()
        } else if lines.is_empty() {
            format!(
                "{compared} tables: every count within {:.0} % of production's (what the backup's age explains)",
                tolerance(age_secs) * 100.0
            )
        } else {
            format!(
                "{compared} tables; outside {:.0} % of production's: {}",
                tolerance(age_secs) * 100.0,
                list(&lines)
            )
        },
    ));

    // The app profile's invariants, in the restored data.
    let mut facts = Vec::new();
    let mut broken = Vec::new();
    if let Some(u) = &app.users
        && have.contains_key(u.table.rsplit('.').next().unwrap_or_default())
    {
        let sql = format!(
            "SELECT count(*) FROM {} WHERE {}::text = ANY($1)",
            quote_path(&u.table),
            quote(&u.role)
        );
        let admins: i64 = sqlx::query_scalar(crate::engine::actions::sql::audited(&sql))
            .bind(&u.admin_roles)
            .fetch_one(&restored.pool)
            .await
            .map_err(query_err)?;
        if admins == 0 {
            broken.push("no admin user (nobody could log in to administer the app)".to_owned());
        } else {
            facts.push(format!("{admins} admin user(s)"));
        }
        if let Some(tk) = &app.tokens
            && have.contains_key(tk.table.rsplit('.').next().unwrap_or_default())
        {
            let sql = format!(
                "SELECT count(*) FROM {} t WHERE NOT EXISTS (SELECT 1 FROM {} u WHERE u.{} = t.{})",
                quote_path(&tk.table),
                quote_path(&u.table),
                quote(&u.id),
                quote(&tk.user_id)
            );
            let orphans = count(restored, &sql).await?;
            if orphans > 0 {
                broken.push(format!("{orphans} token(s) without their user"));
            } else {
                facts.push("every token has its user".into());
            }
        }
    }
    if facts.is_empty() && broken.is_empty() {
        checks.push(check(
            "invariants",
            CheckStatus::Warn,
            "the app profile's tables were not restored, or it names no invariant to check".into(),
        ));
    } else {
        checks.push(check(
            "invariants",
            if broken.is_empty() {
                CheckStatus::Pass
            } else {
                CheckStatus::Fail
            },
            facts.into_iter().chain(broken).collect::<Vec<_>>().join("; "),
        ));
    }
    Ok(checks)
}

/// The newest timestamp in the restored data (ignoring any in the future), its age in
/// seconds, and where it was found: the app profile's `created_at` columns and every
/// `created_at`/`updated_at`/`inserted_at` column of the schema.
pub async fn newest_row(restored: &RemoteDb, app: &AppProfile) -> Result<Option<(String, u64, String)>> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.relname::text, a.attname::text \
         FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid \
         WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped \
           AND a.atttypid IN ('pg_catalog.timestamptz'::pg_catalog.regtype, 'pg_catalog.timestamp'::pg_catalog.regtype) \
           AND a.attname IN ('created_at', 'updated_at', 'inserted_at') \
         ORDER BY 1, 2",
    )
    .bind(&app.schema)
    .fetch_all(&restored.pool)
    .await
    .map_err(query_err)?;
    let mut best: Option<(f64, String)> = None;
    for (t, c) in rows.into_iter().take(MAX_TIME_COLUMNS) {
        let sql = format!(
            "SELECT pg_catalog.date_part('epoch', max({col}))::float8 FROM {}.{} \
             WHERE {col} <= pg_catalog.now() + interval '5 minutes'",
            quote(&app.schema),
            quote(&t),
            col = quote(&c)
        );
        let v: Option<f64> = sqlx::query_scalar(crate::engine::actions::sql::audited(&sql))
            .fetch_one(&restored.pool)
            .await
            .map_err(query_err)?;
        if let Some(v) = v
            && best.as_ref().is_none_or(|(b, _)| v > *b)
        {
            best = Some((v, format!("{t}.{c}")));
        }
    }
    Ok(best.map(|(epoch, column)| {
        let at = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs_f64(epoch.max(0.0));
        let age = std::time::SystemTime::now()
            .duration_since(at)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        (humantime::format_rfc3339_seconds(at).to_string(), age, column)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_counts_are_judged_with_what_the_backups_age_explains() {
        assert_eq!(judge_rows(1000, 1000, 0), CheckStatus::Pass);
        assert_eq!(judge_rows(1000, 960, 0), CheckStatus::Pass);
        assert_eq!(judge_rows(1000, 900, 0), CheckStatus::Warn);
        assert_eq!(judge_rows(1000, 900, 6 * 3600), CheckStatus::Pass);
        assert_eq!(judge_rows(1000, 400, 48 * 3600), CheckStatus::Fail);
        assert_eq!(judge_rows(5, 0, 0), CheckStatus::Fail);
        assert_eq!(judge_rows(0, 0, 0), CheckStatus::Pass);
        assert_eq!(judge_rows(3, 9, 0), CheckStatus::Pass);
        assert!((tolerance(1000 * 3600) - 0.5).abs() < f64::EPSILON);
    }

    #[test]
    fn identifiers_from_the_catalog_are_quoted_whatever_they_hold() {
        assert_eq!(quote("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_path("public.users"), "\"public\".\"users\"");
    }
}
