//! App profiles: the data an action needs about one application — which table and
//! columns hold users, tokens, sessions and the audit trail, which roles are admins,
//! where sessions live. Data, not code: built-in profiles model the seed stacks, and
//! users write their own in the same TOML. Identifiers are validated here (a plain
//! `[a-z_][a-z0-9_]*`, optionally `schema.table`), so an action can splice them into SQL
//! safely; every value goes in as a bound parameter.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::error::{ProfileError, ProfileErrorKind};

const BUILTIN: &[(&str, &str)] = &[
    ("homechat", include_str!("apps/homechat.toml")),
    ("harmonic", include_str!("apps/harmonic.toml")),
    ("rails-jwt", include_str!("apps/rails-jwt.toml")),
    ("crucible", include_str!("apps/crucible.toml")),
];

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AppProfile {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// The `.env` variables that are this app's secrets.
    #[serde(default)]
    pub secrets: Vec<String>,
    pub users: Option<Users>,
    pub tokens: Option<Tokens>,
    pub sessions: Option<Sessions>,
    pub audit: Option<Audit>,
    /// Why an action does not apply, by area (`tokens`, `users`, `sessions`).
    #[serde(default)]
    pub unavailable: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Users {
    pub table: String,
    pub id: String,
    pub username: String,
    pub role: String,
    pub admin_roles: Vec<String>,
    pub locked_until: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Tokens {
    pub table: String,
    pub id: String,
    pub user_id: String,
    pub active: String,
    pub created_at: String,
    pub label: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SessionMeans {
    Table,
    Redis,
    Cookie,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Sessions {
    pub means: SessionMeans,
    pub table: Option<String>,
    pub user_id: Option<String>,
    pub redis_pattern: Option<String>,
    pub cookie_secret: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Audit {
    pub table: String,
    pub action: String,
    pub ip: String,
    pub created_at: String,
    pub user_id: String,
    pub login_failed: Vec<String>,
    pub login_succeeded: Vec<String>,
    pub admin_prefix: String,
    pub token_created: Vec<String>,
}

/// `[a-z_][a-z0-9_]*`, or two of them joined by a dot (schema.table).
pub fn is_identifier(s: &str) -> bool {
    let part = |p: &str| {
        !p.is_empty()
            && p.len() <= 63
            && p.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && p.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() <= 2 && parts.iter().all(|p| part(p))
}

impl AppProfile {
    /// A built-in profile by name.
    pub fn builtin(name: &str) -> Option<AppProfile> {
        BUILTIN
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, text)| AppProfile::parse(text).ok())
    }

    pub fn builtin_names() -> impl Iterator<Item = &'static str> {
        BUILTIN.iter().map(|(n, _)| *n)
    }

    pub fn parse(text: &str) -> Result<AppProfile, ProfileError> {
        let p: AppProfile = toml::from_str(text).map_err(|e| ProfileError::toml(text, &e))?;
        let invalid = |m: String| ProfileError::at(text, None, ProfileErrorKind::Invalid, m);
        let mut idents: Vec<(&str, &str)> = Vec::new();
        if let Some(u) = &p.users {
            idents.extend([
                ("users.table", u.table.as_str()),
                ("users.id", &u.id),
                ("users.username", &u.username),
                ("users.role", &u.role),
                ("users.locked_until", &u.locked_until),
            ]);
        }
        if let Some(t) = &p.tokens {
            idents.extend([
                ("tokens.table", t.table.as_str()),
                ("tokens.id", &t.id),
                ("tokens.user_id", &t.user_id),
                ("tokens.active", &t.active),
                ("tokens.created_at", &t.created_at),
                ("tokens.label", &t.label),
            ]);
        }
        if let Some(a) = &p.audit {
            idents.extend([
                ("audit.table", a.table.as_str()),
                ("audit.action", &a.action),
                ("audit.ip", &a.ip),
                ("audit.created_at", &a.created_at),
                ("audit.user_id", &a.user_id),
            ]);
        }
        if let Some(s) = &p.sessions {
            match s.means {
                SessionMeans::Table => {
                    let (Some(t), Some(u)) = (&s.table, &s.user_id) else {
                        return Err(invalid(
                            "sessions: means = \"table\" needs `table` and `user_id`".into(),
                        ));
                    };
                    idents.extend([("sessions.table", t.as_str()), ("sessions.user_id", u.as_str())]);
                }
                SessionMeans::Redis => {
                    let pat = s.redis_pattern.as_deref().unwrap_or("");
                    if pat.is_empty()
                        || pat == "*"
                        || pat.chars().any(|c| c.is_whitespace() || c.is_control())
                    {
                        return Err(invalid("sessions.redis_pattern: expected a specific key pattern like \"session:*\" (never \"*\")".into()));
                    }
                }
                SessionMeans::Cookie => {
                    if s.cookie_secret
                        .as_deref()
                        .is_none_or(|v| !crate::engine::envfile::is_var_name(v))
                    {
                        return Err(invalid("sessions: means = \"cookie\" needs `cookie_secret`, the .env variable that signs them".into()));
                    }
                }
            }
        }
        for (what, id) in idents {
            if !is_identifier(id) {
                return Err(invalid(format!(
                    "{what}: expected an SQL identifier like users or public.users, found {id:?}"
                )));
            }
        }
        Ok(p)
    }

    /// The table for an area, or why the action does not apply.
    pub fn require<'a, T>(&'a self, area: &str, section: &'a Option<T>) -> Result<&'a T, String> {
        section.as_ref().ok_or_else(|| {
            self.unavailable
                .get(area)
                .cloned()
                .unwrap_or_else(|| format!("the app profile {:?} describes no {area}", self.name))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_profile_parses() {
        for name in AppProfile::builtin_names() {
            let (_, text) = BUILTIN.iter().find(|(n, _)| *n == name).unwrap();
            let p = AppProfile::parse(text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(p.name, name);
        }
        let crucible = AppProfile::builtin("crucible").unwrap();
        assert!(
            crucible
                .require("tokens", &crucible.tokens)
                .unwrap_err()
                .contains("ROUNDTABLE_JWT_SECRET")
        );
    }

    #[test]
    fn identifiers_are_validated() {
        assert!(is_identifier("users") && is_identifier("public.users") && is_identifier("_x1"));
        for bad in [
            "",
            "Users",
            "users; drop table x",
            "a.b.c",
            "1users",
            "users\"",
            "u-sers",
        ] {
            assert!(!is_identifier(bad), "{bad}");
        }
        let text = include_str!("apps/homechat.toml").replace(
            "table = \"api_tokens\"",
            "table = \"api_tokens; DROP TABLE users\"",
        );
        let e = AppProfile::parse(&text).unwrap_err();
        assert!(e.message.contains("tokens.table"), "{e}");
        let text = include_str!("apps/rails-jwt.toml").replace("session:*", "*");
        assert!(AppProfile::parse(&text).is_err());
    }
}
