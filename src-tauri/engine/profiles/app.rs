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
    /// The schema of every table named without one (default `public`). Tables are always
    /// named with their schema in the SQL the console runs, and the session's
    /// `search_path` is pinned: a same-named table in another schema (put first in the
    /// role's `search_path` by whoever holds the leaked credentials) is never used.
    #[serde(default = "default_schema")]
    pub schema: String,
    /// The `.env` variables that are this app's secrets.
    #[serde(default)]
    pub secrets: Vec<String>,
    pub users: Option<Users>,
    pub tokens: Option<Tokens>,
    pub sessions: Option<Sessions>,
    pub audit: Option<Audit>,
    /// How to ask the app itself whether an action took (see `engine::probe`).
    #[serde(default)]
    pub probes: Option<Probes>,
    /// Why an action does not apply, by area (`tokens`, `users`, `sessions`).
    #[serde(default)]
    pub unavailable: BTreeMap<String, String>,
    /// How its secrets are rotated (`[rotate]`, see `profiles::rotation`).
    #[serde(default)]
    pub rotate: super::rotation::RotateRules,
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

fn default_schema() -> String {
    "public".to_owned()
}

/// Requests a client makes, with the deployment's canary account, to see from the app's
/// side whether an action took: a revoked token, a locked account or an expired session
/// must be refused. The database an attacker can shape is then not the only witness.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Probes {
    /// `GET` this path with the canary's API token: a revoked token is refused.
    pub token_path: Option<String>,
    /// The header that carries the token (`Authorization`)…
    #[serde(default = "default_token_header")]
    pub token_header: String,
    /// …after this prefix (`Token `, `Bearer `).
    #[serde(default)]
    pub token_prefix: String,
    /// `POST` `{username_field: user, password_field: password}` as JSON to log in: a
    /// locked account is refused; a login that works sets the session cookie.
    pub login_path: Option<String>,
    #[serde(default = "default_username_field")]
    pub username_field: String,
    #[serde(default = "default_password_field")]
    pub password_field: String,
    /// `GET` this path with the cookies a login set: an expired session is refused.
    pub session_path: Option<String>,
    /// The top-level field of a login's JSON answer that holds a JWT (`jwt`,
    /// `access_token`): after its signing secret is rotated, a JWT from before must be
    /// refused.
    pub jwt_field: Option<String>,
    /// `GET` this path with that JWT in `token_header`, after `jwt_prefix`.
    pub jwt_path: Option<String>,
    #[serde(default = "default_jwt_prefix")]
    pub jwt_prefix: String,
    /// The statuses that mean "refused" (default 401, 403, 423).
    #[serde(default = "default_refused")]
    pub refused: Vec<u16>,
}

fn default_token_header() -> String {
    "Authorization".to_owned()
}
fn default_jwt_prefix() -> String {
    "Bearer ".to_owned()
}
fn default_username_field() -> String {
    "username".to_owned()
}
fn default_password_field() -> String {
    "password".to_owned()
}
fn default_refused() -> Vec<u16> {
    vec![401, 403, 423]
}

impl Probes {
    fn validate(&self) -> Result<(), String> {
        for (what, path) in [
            ("token_path", &self.token_path),
            ("login_path", &self.login_path),
            ("session_path", &self.session_path),
            ("jwt_path", &self.jwt_path),
        ] {
            if let Some(p) = path
                && (!p.starts_with('/')
                    || p.starts_with("//")
                    || p.chars().any(|c| c.is_whitespace() || c.is_control()))
            {
                return Err(format!("probes.{what}: expected a path like /me, found {p:?}"));
            }
        }
        if self.token_header.is_empty()
            || !self
                .token_header
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(format!(
                "probes.token_header: expected a header name like Authorization, found {:?}",
                self.token_header
            ));
        }
        if self.token_prefix.chars().any(|c| c.is_control())
            || self.jwt_prefix.chars().any(|c| c.is_control())
        {
            return Err("probes.token_prefix, jwt_prefix: control characters are not allowed".into());
        }
        if self.jwt_path.is_some() != self.jwt_field.is_some()
            || (self.jwt_path.is_some() && self.login_path.is_none())
        {
            return Err(
                "probes.jwt_path and probes.jwt_field go together, with probes.login_path (the JWT comes from a login)".into(),
            );
        }
        if let Some(f) = &self.jwt_field
            && (f.is_empty() || f.len() > 64 || f.chars().any(|c| c.is_control() || c.is_whitespace()))
        {
            return Err(format!(
                "probes.jwt_field: expected a JSON field name like jwt, found {f:?}"
            ));
        }
        if self.session_path.is_some() && self.login_path.is_none() {
            return Err("probes.session_path needs probes.login_path (a session comes from a login)".into());
        }
        if self.refused.is_empty() || self.refused.iter().any(|c| !(400..=599).contains(c)) {
            return Err(
                "probes.refused: expected HTTP error statuses (400-599), like [401, 403, 423]".into(),
            );
        }
        Ok(())
    }
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
        let mut p: AppProfile = toml::from_str(text).map_err(|e| ProfileError::toml(text, &e))?;
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
        if let Some(probes) = &p.probes {
            probes.validate().map_err(invalid)?;
        }
        p.rotate.validate().map_err(invalid)?;
        idents.push(("schema", p.schema.as_str()));
        for (what, id) in idents {
            if !is_identifier(id) || (what == "schema" && id.contains('.')) {
                return Err(invalid(format!(
                    "{what}: expected an SQL identifier like users or public.users, found {id:?}"
                )));
            }
        }
        p.qualify_tables();
        Ok(p)
    }

    /// Names every table with its schema (`api_tokens` → `public.api_tokens`).
    fn qualify_tables(&mut self) {
        let schema = self.schema.clone();
        let qualify = |t: &mut String| {
            if !t.contains('.') {
                *t = format!("{schema}.{t}");
            }
        };
        if let Some(u) = &mut self.users {
            qualify(&mut u.table);
        }
        if let Some(t) = &mut self.tokens {
            qualify(&mut t.table);
        }
        if let Some(a) = &mut self.audit {
            qualify(&mut a.table);
        }
        if let Some(s) = &mut self.sessions
            && let Some(t) = &mut s.table
        {
            qualify(t);
        }
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

    /// The whole app profiles in docs/profiles.md (```toml app-profile blocks that start
    /// with a name) parse: the worked example cannot rot.
    #[test]
    fn the_app_profiles_in_the_docs_parse() {
        let doc = include_str!("../../../docs/profiles.md");
        let blocks: Vec<&str> = doc
            .split("```toml app-profile\n")
            .skip(1)
            .filter_map(|b| b.split("```").next())
            .filter(|b| b.starts_with("name = "))
            .collect();
        let names: Vec<String> = blocks
            .iter()
            .map(|b| {
                let p = AppProfile::parse(b).unwrap_or_else(|e| panic!("{e}\n{b}"));
                match p.name.as_str() {
                    "ourapp" => assert_eq!(p.tokens.unwrap().table, "auth.personal_tokens"),
                    "rails-jwt-example" => {
                        assert!(p.rotate.is_pasted("GOOGLE_CLIENT_SECRET"));
                        assert_eq!(p.rotate.form("SECRET_KEY_BASE").to_string(), "hex-64");
                    }
                    _ => {}
                }
                p.name
            })
            .collect();
        assert!(names.contains(&"ourapp".to_owned()) && names.contains(&"rails-jwt-example".to_owned()));
    }

    #[test]
    fn every_table_is_named_with_its_schema() {
        let p = AppProfile::builtin("homechat").unwrap();
        assert_eq!(p.tokens.unwrap().table, "public.api_tokens");
        assert_eq!(p.users.unwrap().table, "public.users");
        let text = format!("schema = \"chat\"\n{}", include_str!("apps/homechat.toml"));
        let p = AppProfile::parse(&text).unwrap();
        assert_eq!(p.tokens.unwrap().table, "chat.api_tokens");
        assert_eq!(p.audit.unwrap().table, "chat.audit_logs");
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
        let text = format!("schema = \"a.b\"\n{}", include_str!("apps/homechat.toml"));
        assert!(AppProfile::parse(&text).is_err());
        let text = include_str!("apps/rails-jwt.toml").replace("session:*", "*");
        assert!(AppProfile::parse(&text).is_err());
    }
}
