//! App profiles as files a user writes, checks and installs: the built-in ones, those
//! installed in `<data dir>/apps/<name>.toml`, and a check of one against a live database
//! (every table and column it names exists, with a type the actions can use). Parsing
//! and validation of the format itself live in `app`; this is where profiles are found.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::app::AppProfile;
use super::deployment::is_app_profile_name;
use crate::engine::{Engine, Error, Result};

/// An app profile the console can use, and where it comes from.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AppProfileEntry {
    pub name: String,
    pub description: String,
    /// `built-in`, or the installed file.
    pub source: String,
}

/// One thing `app check` looked at.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AppCheckItem {
    /// `tokens.active` (the profile's key).
    pub key: String,
    /// `public.api_tokens.active` (what it names).
    pub names: String,
    pub ok: bool,
    /// The type found, or what is wrong.
    pub detail: String,
}

/// The result of checking an app profile against a deployment's database.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AppCheck {
    pub profile: String,
    pub deployment: String,
    pub items: Vec<AppCheckItem>,
}

impl AppCheck {
    pub fn ok(&self) -> bool {
        self.items.iter().all(|i| i.ok)
    }
}

/// What a column must be for the SQL the actions write. PostgreSQL's type categories
/// (`pg_type.typcategory`): S string, D date/time, B boolean, N numeric, I network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Text,
    Time,
    Bool,
    /// A token id is bound as a 64-bit integer.
    Integer,
    /// An IP: `inet`/`cidr`, or text.
    Ip,
    /// Compared only with columns of the same table family (ids, foreign keys): any type.
    Any,
}

impl Want {
    fn accepts(self, category: &str, ty: &str) -> bool {
        match self {
            Want::Text => category == "S",
            Want::Time => category == "D" && ty.starts_with("timestamp"),
            Want::Bool => category == "B",
            Want::Integer => matches!(ty, "smallint" | "integer" | "bigint"),
            Want::Ip => category == "I" || category == "S",
            Want::Any => true,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Want::Text => "text",
            Want::Time => "a timestamp",
            Want::Bool => "a boolean",
            Want::Integer => "an integer",
            Want::Ip => "inet or text",
            Want::Any => "any type",
        }
    }
}

/// `(key, table, column, what it must be)` for every column the profile names.
fn wanted(p: &AppProfile) -> Vec<(String, String, String, Want)> {
    let mut out = Vec::new();
    let mut add = |area: &str, table: &str, cols: &[(&str, &str, Want)]| {
        for (key, col, want) in cols {
            out.push((
                format!("{area}.{key}"),
                table.to_owned(),
                (*col).to_owned(),
                *want,
            ));
        }
    };
    if let Some(u) = &p.users {
        add(
            "users",
            &u.table,
            &[
                ("id", &u.id, Want::Any),
                ("username", &u.username, Want::Text),
                ("role", &u.role, Want::Text),
                ("locked_until", &u.locked_until, Want::Time),
            ],
        );
    }
    if let Some(t) = &p.tokens {
        add(
            "tokens",
            &t.table,
            &[
                ("id", &t.id, Want::Integer),
                ("user_id", &t.user_id, Want::Any),
                ("active", &t.active, Want::Bool),
                ("created_at", &t.created_at, Want::Time),
                ("label", &t.label, Want::Any),
            ],
        );
    }
    if let Some(s) = &p.sessions
        && let (Some(table), Some(user_id)) = (&s.table, &s.user_id)
    {
        add("sessions", table, &[("user_id", user_id, Want::Any)]);
    }
    if let Some(a) = &p.audit {
        add(
            "audit",
            &a.table,
            &[
                ("action", &a.action, Want::Text),
                ("ip", &a.ip, Want::Ip),
                ("created_at", &a.created_at, Want::Time),
                ("user_id", &a.user_id, Want::Any),
            ],
        );
    }
    out
}

fn apps_dir(engine: &Engine) -> PathBuf {
    engine.state().path().with_file_name("apps")
}

fn read_profile(path: &Path) -> Result<AppProfile> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::ReadFile {
        path: path.to_owned(),
        source,
    })?;
    AppProfile::parse(&text).map_err(|e| e.with_path(path).into())
}

impl Engine {
    /// The built-in app profiles, then those installed, by name.
    pub fn app_profiles(&self) -> Result<Vec<AppProfileEntry>> {
        let mut out: Vec<AppProfileEntry> = AppProfile::builtin_names()
            .filter_map(AppProfile::builtin)
            .map(|p| AppProfileEntry {
                name: p.name,
                description: p.description,
                source: "built-in".into(),
            })
            .collect();
        let dir = apps_dir(self);
        let mut installed = Vec::new();
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                let path = e.path();
                if path.extension().is_some_and(|x| x == "toml") {
                    // A file that no longer parses is listed with its error, not hidden.
                    let entry = match read_profile(&path) {
                        Ok(p) => AppProfileEntry {
                            name: p.name,
                            description: p.description,
                            source: path.display().to_string(),
                        },
                        Err(e) => AppProfileEntry {
                            name: path
                                .file_stem()
                                .map(|s| s.to_string_lossy().into_owned())
                                .unwrap_or_default(),
                            description: format!("INVALID: {e}"),
                            source: path.display().to_string(),
                        },
                    };
                    installed.push(entry);
                }
            }
        }
        installed.sort_by(|a, b| a.name.cmp(&b.name));
        out.extend(installed);
        Ok(out)
    }

    /// Validates an app profile file and installs it as `<data dir>/apps/<name>.toml`
    /// (replacing an installed one of the same name; never a built-in). Returns the entry
    /// and whether it replaced one.
    pub fn add_app_profile(&self, path: &Path) -> Result<(AppProfileEntry, bool)> {
        let profile = read_profile(path)?;
        let name = profile.name.clone();
        if !is_app_profile_name(&name) {
            return Err(Error::BadArgument {
                message: format!(
                    "an app profile's name is lowercase letters, digits, '-' and '_', found {:?}",
                    crate::engine::ssh::output::display_safe(name.as_bytes())
                ),
            });
        }
        if AppProfile::builtin(&name).is_some() {
            return Err(Error::BadArgument {
                message: format!("{name:?} is a built-in app profile: give yours another name"),
            });
        }
        let dir = apps_dir(self);
        std::fs::create_dir_all(&dir).map_err(|source| Error::ReadFile {
            path: dir.clone(),
            source,
        })?;
        let target = dir.join(format!("{name}.toml"));
        let replaced = target.exists();
        let text = std::fs::read(path).map_err(|source| Error::ReadFile {
            path: path.to_owned(),
            source,
        })?;
        // Atomically: a half-written profile is never what an action reads.
        let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(|source| Error::ReadFile {
            path: dir.clone(),
            source,
        })?;
        let io = |source| Error::ReadFile {
            path: target.clone(),
            source,
        };
        std::io::Write::write_all(&mut tmp, &text).map_err(io)?;
        tmp.as_file().sync_all().map_err(io)?;
        tmp.persist(&target).map_err(|e| io(e.error))?;
        Ok((
            AppProfileEntry {
                name,
                description: profile.description,
                source: target.display().to_string(),
            },
            replaced,
        ))
    }

    /// Checks an app profile file against a deployment's live database: every table and
    /// column it names exists, with a type the actions can use. Read-only.
    pub async fn check_app_profile(&self, deployment: &str, path: &Path) -> Result<AppCheck> {
        let profile = read_profile(path)?;
        let db = self.database(deployment).await?;
        check_against(&db, &profile, deployment).await
    }
}

/// Every column `profile` names, looked up in `db`.
pub(crate) async fn check_against(
    db: &crate::engine::db::RemoteDb,
    profile: &AppProfile,
    deployment: &str,
) -> Result<AppCheck> {
    let mut items = Vec::new();
    for (key, table, column, want) in wanted(profile) {
        let (schema, rel) = table.split_once('.').unwrap_or(("public", table.as_str()));
        let names = format!("{table}.{column}");
        let found: Option<(String, String)> = sqlx::query_as(
            "SELECT t.typcategory::text, pg_catalog.format_type(a.atttypid, a.atttypmod) \
                 FROM pg_catalog.pg_attribute a \
                 JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                 JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
                 WHERE n.nspname = $1 AND c.relname = $2 AND a.attname = $3 \
                   AND a.attnum > 0 AND NOT a.attisdropped",
        )
        .bind(schema)
        .bind(rel)
        .bind(&column)
        .fetch_optional(&db.pool)
        .await
        .map_err(|e| Error::from(crate::engine::db::DbError::Query(e)))?;
        let table_exists = found.is_some() || {
            let n: i64 = sqlx::query_scalar(
                "SELECT pg_catalog.count(*) FROM pg_catalog.pg_class c \
                     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                     WHERE n.nspname = $1 AND c.relname = $2",
            )
            .bind(schema)
            .bind(rel)
            .fetch_one(&db.pool)
            .await
            .map_err(|e| Error::from(crate::engine::db::DbError::Query(e)))?;
            n > 0
        };
        let (ok, detail) = match found {
            Some((category, ty)) if want.accepts(&category, &ty) => (true, ty),
            Some((_, ty)) => (false, format!("is {ty}; it must be {}", want.describe())),
            None if table_exists => (false, format!("no column {column} in {table}")),
            None => (false, format!("no table {table}")),
        };
        items.push(AppCheckItem {
            key,
            names,
            ok,
            detail,
        });
    }
    Ok(AppCheck {
        profile: profile.name.clone(),
        deployment: deployment.to_owned(),
        items,
    })
}

#[cfg(test)]
mod tests {
    use super::Want;

    #[test]
    fn column_types_are_judged_by_what_the_actions_do_with_them() {
        assert!(Want::Text.accepts("S", "character varying(255)"));
        assert!(!Want::Text.accepts("N", "integer"));
        assert!(Want::Time.accepts("D", "timestamp with time zone"));
        assert!(
            !Want::Time.accepts("D", "date"),
            "a date cannot hold a lock's end"
        );
        assert!(Want::Bool.accepts("B", "boolean"));
        assert!(!Want::Bool.accepts("S", "text"));
        assert!(Want::Integer.accepts("N", "bigint") && !Want::Integer.accepts("N", "numeric"));
        assert!(Want::Ip.accepts("I", "inet") && Want::Ip.accepts("S", "text"));
        assert!(Want::Any.accepts("U", "uuid"));
    }
}
