//! Rotate application secrets: new random values for `.env` variables (session keys,
//! JWT secrets, signing salts), written to the `.env` of every host that has them, and
//! every container that uses them recreated, one host at a time, each healthy before the
//! next host is touched. The same value goes to every host (a cookie signed on one web
//! host must be read on the others).
//!
//! Each host's `.env` is replaced atomically (`envfile::replace`): compare-and-swap on
//! what the plan read, a mode-600 backup, values on stdin. Each container is recreated
//! through the Docker API (`docker::recreate`), the old one parked until the last step
//! removes it. A failure or a cancel undoes what was done in reverse: containers back,
//! then the `.env` from its backup, host by host; each undo is journaled with a request
//! (`rotate-undo`) that holds paths and names, never a value.
//!
//! `POSTGRES_PASSWORD` changes the role's password on the server too (`db.rs`), and
//! `DATABASE_URL`'s password follows it; Redis's password (`redis.rs`) is added beside
//! the old one before the roll and the old one removed after, `REDIS_URL` following.
//! Not yet (refused with the reason): encryption keys of stored data
//! (`API_KEY_ENCRYPTION_KEY`), which need a re-encryption step.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

mod db;
mod redis;
pub mod ssh_key;
pub(crate) mod swarm;
pub mod values;

use super::{Action, ActionSpec, Ctx, Plan, Planned, Step, StepDone, Vantage, Verdict};
use crate::engine::docker::recreate::{self, Parked};
use crate::engine::envfile::{self, EnvFile, replace::replace};
use crate::engine::probe::{Answer, Evidence};
use crate::engine::profiles::rotation::RotateRules;
use crate::engine::secret::Sensitive;
use crate::engine::ssh::output::shell_quote;
use crate::engine::{Error, Result};

/// The request: new values for these variables, everywhere they are used.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct RotateSecrets {
    pub vars: Vec<String>,
    /// Groups of the app profile's `[rotate]` to rotate as well (`--group sessions`).
    #[serde(default)]
    pub groups: Vec<String>,
    /// Every secret the app profile names that some `.env` holds (`--all`), less the
    /// keys of stored data and the third parties' secrets no value was pasted for (the
    /// plan names what it leaves out).
    #[serde(default)]
    pub all: bool,
    /// New values the user pasted (third parties' secrets), by variable. Never
    /// serialized: not journaled, not in the bindings.
    #[serde(skip)]
    #[cfg_attr(test, ts(skip))]
    pub pasted: values::Pasted,
}

/// The request that undoes one step of a rotation: a host's `.env` back from its backup
/// (if it still holds what the rotation wrote), or a container back (the new one
/// removed, the parked old one renamed and started). Paths and names only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct RotateUndo {
    pub host: String,
    pub env: Option<EnvBack>,
    pub container: Option<ParkedRef>,
    /// The database role's password back to the one in `host`'s `.env` (restored by
    /// then: undo runs in reverse).
    #[serde(default)]
    pub db_password_from_env: bool,
}

impl RotateUndo {
    /// The journaled undo of a step whose own revert does the work during the run (or
    /// that changed nothing): planned from the journal later, it finds nothing to undo.
    pub(crate) fn nothing(host: &str) -> ActionSpec {
        ActionSpec::RotateUndo(RotateUndo {
            host: host.to_owned(),
            env: None,
            container: None,
            db_password_from_env: false,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct EnvBack {
    /// The file written (a symlink's target).
    pub path: String,
    pub backup: String,
    /// SHA-256 of what the rotation wrote: the undo writes only over that.
    pub rotated_sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ParkedRef {
    pub name: String,
    pub parked_as: String,
    pub old_id: String,
    pub new_id: String,
    pub was_running: bool,
}

impl From<&Parked> for ParkedRef {
    fn from(p: &Parked) -> Self {
        ParkedRef {
            name: p.name.clone(),
            parked_as: p.parked_as.clone(),
            old_id: p.old_id.clone(),
            new_id: p.new_id.clone(),
            was_running: p.was_running,
        }
    }
}

impl From<&ParkedRef> for Parked {
    fn from(p: &ParkedRef) -> Self {
        Parked {
            name: p.name.clone(),
            parked_as: p.parked_as.clone(),
            old_id: p.old_id.clone(),
            new_id: p.new_id.clone(),
            was_running: p.was_running,
        }
    }
}

/// How long a recreated container has to become healthy.
const HEALTHY_WITHIN: Duration = Duration::from_secs(60);

/// What rotating a variable ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ends {
    /// Every JWT signed with the old value.
    Jwts,
    /// Every cookie session.
    Sessions,
}

/// What rotating `var` ends: the app profile's `[rotate]` says, else the name does.
fn ends(rules: &RotateRules, var: &str) -> Option<Ends> {
    if rules.ends_jwts.iter().any(|v| v == var) {
        return Some(Ends::Jwts);
    }
    if rules.ends_sessions.iter().any(|v| v == var) {
        return Some(Ends::Sessions);
    }
    let v = var.to_ascii_uppercase();
    if v.contains("JWT") {
        Some(Ends::Jwts)
    } else if v.contains("SECRET_KEY_BASE") || v.contains("SESSION") || v.contains("COOKIE") {
        Some(Ends::Sessions)
    } else {
        None
    }
}

/// The plan's words for it.
fn effect(rules: &RotateRules, var: &str) -> Option<&'static str> {
    ends(rules, var).map(|e| match e {
        Ends::Jwts => "every JWT signed with the old value stops working: API clients log in again",
        Ends::Sessions => "every cookie session ends: every user logs in again",
    })
}

/// Why a variable is not rotated by this action (yet), if it is not.
fn refused(ctx: &Ctx<'_>, var: &str) -> Option<String> {
    let p = ctx.profile;
    let redis_var = p.redis.as_ref().and_then(|r| r.password_env.clone());
    if p.database.is_some() && (var == "DATABASE_URL" || var == "POSTGRES_USER") {
        return Some(format!(
            "{var} is not rotated on its own: rotate POSTGRES_PASSWORD, and the password in DATABASE_URL follows it"
        ));
    }
    if p.redis.is_some() && var == "REDIS_URL" && redis_var.is_some() {
        return Some(format!(
            "REDIS_URL is not rotated on its own: rotate {}, and the password in REDIS_URL follows it",
            redis_var.as_deref().unwrap_or_default()
        ));
    }
    if ctx.app.rotate.is_encryption_key(var) || var.to_ascii_uppercase().contains("ENCRYPTION_KEY") {
        return Some(format!(
            "{var} encrypts stored data: a new value makes what it encrypted unreadable unless the data is re-encrypted first; rotate it with the app's re-encryption procedure"
        ));
    }
    None
}

/// A keyed digest of a value (the key lives for one plan or verify): two values can be
/// compared without either being kept or shown.
fn fingerprint(key: &[u8; 32], value: &str) -> [u8; 32] {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return [0; 32];
    };
    mac.update(value.as_bytes());
    mac.finalize().into_bytes().into()
}

/// A host's `.env` as it is now: its raw text (secret) and SHA-256.
async fn read_raw(ctx: &Ctx<'_>, host: &str, path: &str) -> Result<(Sensitive<String>, String)> {
    let session = ctx.engine.session(ctx.deployment(), host).await?;
    let out = session
        .exec_capped(
            &format!("cat -- {}", shell_quote(path)),
            None,
            envfile::MAX_ENV_FILE + 1,
        )
        .await?;
    if !out.success() {
        return Err(Error::RemoteRead {
            host: host.to_owned(),
            path: path.to_owned(),
            detail: crate::engine::ssh::output::display_safe(&out.stderr)
                .trim()
                .to_owned(),
        });
    }
    let sha = hex::encode(Sha256::digest(&out.stdout));
    let text = String::from_utf8(out.stdout).map_err(|e| {
        zeroize::Zeroize::zeroize(&mut e.into_bytes());
        Error::EnvFile {
            host: host.to_owned(),
            path: path.to_owned(),
            source: Box::new(envfile::EnvFileError::NotText),
        }
    })?;
    Ok((Sensitive::new(text), sha))
}

/// The values of `vars` in a container's environment.
fn container_env(env: &[String], vars: &[String]) -> BTreeMap<String, Sensitive<String>> {
    env.iter()
        .filter_map(|e| e.split_once('='))
        .filter(|(k, _)| vars.iter().any(|v| v == k))
        .map(|(k, v)| (k.to_owned(), Sensitive::new(v.to_owned())))
        .collect()
}

/// A container that uses some of the rotated variables.
struct Consumer {
    name: String,
    id: String,
    /// The values it runs, of the rotated variables.
    env: BTreeMap<String, Sensitive<String>>,
    running: bool,
}

/// The containers of the profile's services on `host` that have any of `vars` in their
/// environment, with the values they run, and whether they are running.
async fn consumers(ctx: &Ctx<'_>, host: &str, vars: &[String]) -> Result<Vec<Consumer>> {
    let names: Vec<String> = ctx
        .profile
        .services
        .iter()
        .flat_map(|s| s.containers.iter().map(|c| c.get_ref().clone()))
        .collect();
    if names.is_empty() || ctx.profile.host(host).is_some_and(|h| !h.docker) {
        return Ok(Vec::new());
    }
    let docker = ctx.engine.docker(ctx.deployment(), host).await?;
    let mut out = Vec::new();
    for c in docker.containers().await? {
        if !names.contains(&c.name) {
            continue;
        }
        let i = docker
            .client()
            .inspect_container(
                &c.name,
                None::<bollard::query_parameters::InspectContainerOptions>,
            )
            .await
            .map_err(docker.error_for(&c.name))?;
        let env = container_env(&i.config.and_then(|c| c.env).unwrap_or_default(), vars);
        if !env.is_empty() {
            out.push(Consumer {
                name: c.name.clone(),
                id: i.id.unwrap_or_default(),
                env,
                running: c.state == "running",
            });
        }
    }
    Ok(out)
}

/// The variables of `vars` this `.env` has; with the database's password (`db_user`),
/// also a DATABASE_URL of that user, and with Redis's (`redis_var` among `vars`), a
/// REDIS_URL with a password: their passwords follow.
fn touched(env: &EnvFile, vars: &[String], db_user: Option<&str>, redis_var: Option<&str>) -> Vec<String> {
    let mut here: Vec<String> = vars.iter().filter(|v| env.get(v).is_some()).cloned().collect();
    if let Some(rv) = redis_var
        && vars.iter().any(|v| v == rv)
        && rv != "REDIS_URL"
        && let Some(url) = env.get("REDIS_URL")
        && url::Url::parse(url.expose()).is_ok_and(|u| u.password().is_some())
    {
        here.push("REDIS_URL".into());
    }
    if let Some(user) = db_user
        && let Some(url) = env.get("DATABASE_URL")
        && url::Url::parse(url.expose()).is_ok_and(|u| {
            percent_encoding::percent_decode_str(u.username()).decode_utf8_lossy() == user
                && u.password().is_some()
        })
    {
        here.push("DATABASE_URL".into());
    }
    here
}

/// With `[database] alternating_users`: the idle role and its password (the keychain's
/// `db-standby-password`, which must let it in), when `current` is one of the two.
async fn alternate(
    ctx: &Ctx<'_>,
    db: &crate::engine::profiles::Database,
    current: &str,
) -> Result<Option<(String, Sensitive<String>)>> {
    let users: Vec<&String> = db.alternating_users.iter().map(|u| u.get_ref()).collect();
    if users.is_empty() {
        return Ok(None);
    }
    let other = match users.iter().position(|u| *u == current) {
        Some(0) => users[1].clone(),
        Some(_) => users[0].clone(),
        None => {
            return Err(Error::ActionUnavailable {
                reason: format!(
                    "the .env's role {current} is neither of [database] alternating_users ({}): put one of them in the .env first",
                    users.iter().map(|u| u.as_str()).collect::<Vec<_>>().join(", ")
                ),
            });
        }
    };
    let key = crate::engine::keychain::DB_STANDBY_PASSWORD;
    let pw = match ctx.engine.keychain().get(ctx.deployment(), key).await {
        Ok(pw) => pw,
        Err(crate::engine::keychain::KeychainError::NotSet { .. }) => {
            return Err(Error::ActionUnavailable {
                reason: format!(
                    "the idle role {other}'s password is not in the keychain: set one (ALTER ROLE {other} PASSWORD …) and store it with `breakglass secret set {} {key}`",
                    ctx.deployment()
                ),
            });
        }
        Err(e) => return Err(e.into()),
    };
    if !db::accepts(ctx, &other, &pw).await? {
        return Err(Error::ActionUnavailable {
            reason: format!(
                "PostgreSQL refuses the keychain's {key} for the idle role {other}: set it again (ALTER ROLE {other} PASSWORD …, then `breakglass secret set {} {key}`)",
                ctx.deployment()
            ),
        });
    }
    Ok(Some((other, pw)))
}

impl RotateSecrets {
    /// The variables to rotate: those named, pasted, in the named groups, and with
    /// `--all` every secret the app profile names that a `.env` holds (with what was
    /// left out of `--all`, and why). Every variable named explicitly must be rotatable.
    fn resolve(&self, ctx: &Ctx<'_>, envs: &[&EnvFile]) -> Result<(Vec<String>, Vec<String>)> {
        let bad = |message: String| Error::BadArgument { message };
        let rules = &ctx.app.rotate;
        let mut asked: Vec<String> = self.vars.clone();
        asked.extend(self.pasted.0.keys().cloned());
        for g in &self.groups {
            let Some(members) = rules.groups.get(g) else {
                let known: Vec<&str> = rules.groups.keys().map(String::as_str).collect();
                return Err(bad(format!(
                    "the app profile {:?} has no rotation group {:?} (it has: {})",
                    ctx.app.name,
                    crate::engine::ssh::output::display_safe(g.as_bytes()),
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                )));
            };
            asked.extend(members.iter().cloned());
        }
        for v in &asked {
            if !envfile::is_var_name(v) {
                return Err(bad(format!(
                    "{:?} is not a variable name",
                    crate::engine::ssh::output::display_safe(v.as_bytes())
                )));
            }
            if let Some(reason) = refused(ctx, v) {
                return Err(Error::ActionUnavailable { reason });
            }
        }
        let mut left_out = Vec::new();
        if self.all {
            let mut candidates: Vec<String> = ctx.app.secrets.iter().chain(rules.named()).cloned().collect();
            if ctx
                .profile
                .database
                .as_ref()
                .is_some_and(|d| d.credentials == crate::engine::profiles::DbCredentials::Env)
            {
                candidates.push("POSTGRES_PASSWORD".into());
            }
            if let Some(r) = ctx.profile.redis.as_ref().and_then(|r| r.password_env.clone()) {
                candidates.push(r);
            }
            candidates.sort();
            candidates.dedup();
            for v in candidates {
                if asked.contains(&v) || !envs.iter().any(|e| e.get(&v).is_some()) {
                    continue;
                }
                if let Some(reason) = refused(ctx, &v) {
                    left_out.push(format!("{v} ({reason})"));
                } else if rules.is_pasted(&v) {
                    left_out.push(format!(
                        "{v} (a third party's secret: rotate it where it is issued, then paste the new value with --paste {v})"
                    ));
                } else {
                    asked.push(v);
                }
            }
        }
        asked.sort();
        asked.dedup();
        if asked.is_empty() {
            return Err(bad(if self.all {
                "--all found no secret of the app profile that can be rotated in any host's .env".into()
            } else {
                "name the variables to rotate, a --group, or --all".into()
            }));
        }
        if asked.len() > 32 {
            return Err(bad(format!(
                "{} variables: rotate at most 32 at once",
                asked.len()
            )));
        }
        Ok((asked, left_out))
    }
}

/// What each host's `.env` holds once this run wrote it, by host: the containers are
/// recreated from it without reading the file again (one command less per host).
type Written = Arc<Mutex<BTreeMap<String, Sensitive<String>>>>;

/// The new values of one run, shared by its steps (never journaled, never shown).
type Values = Arc<BTreeMap<String, Sensitive<String>>>;

impl Action for RotateSecrets {
    fn plan<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, Result<Planned>> {
        Box::pin(async move {
            let bad = |message: String| Error::BadArgument { message };
            // Every host's .env as it is now (each write checks it is still this file).
            let mut files = Vec::new();
            for h in &ctx.profile.hosts {
                let host = h.name.get_ref().clone();
                let Some(path) = h.env_file.as_ref().map(|p| p.get_ref().clone()) else {
                    continue;
                };
                let (text, sha) = read_raw(ctx, &host, &path).await?;
                let env = EnvFile::parse(text.expose()).map_err(|source| Error::EnvFile {
                    host: host.clone(),
                    path: path.clone(),
                    source: Box::new(source),
                })?;
                files.push((host, path, sha, env, text));
            }
            let envs: Vec<&EnvFile> = files.iter().map(|f| &f.3).collect();
            let (vars, left_out) = self.resolve(ctx, &envs)?;
            let rules = &ctx.app.rotate;
            let mut values = BTreeMap::new();
            for v in &vars {
                let value = match self.pasted.0.get(v) {
                    Some(p) => {
                        values::check_pasted(v, p)?;
                        if envs.iter().any(|e| e.get(v) == Some(p)) {
                            return Err(bad(format!(
                                "the value pasted for {v} is the one a .env holds now: rotate it where it is issued first, then paste the new one"
                            )));
                        }
                        p.clone()
                    }
                    None if rules.is_pasted(v) => {
                        return Err(Error::ActionUnavailable {
                            reason: format!(
                                "{v} is a third party's secret (app profile {:?}): it is never generated; rotate it where it is issued, then paste the new value (--paste {v})",
                                ctx.app.name
                            ),
                        });
                    }
                    None => values::generate(rules.form(v))?,
                };
                values.insert(v.clone(), value);
            }
            // The database's password: its role and current password, from via_host's
            // .env as the console reads them.
            let db_rotation = match (
                vars.iter().any(|v| v == "POSTGRES_PASSWORD"),
                &ctx.profile.database,
            ) {
                (false, _) => None,
                (true, None) => return Err(bad("POSTGRES_PASSWORD: the profile has no [database]".into())),
                (true, Some(db)) => {
                    let via = db.via_host.get_ref().clone();
                    // The .env's, or the keychain's (`credentials = "keychain"`).
                    let (creds, _, _) = ctx.engine.db_credentials(ctx.deployment(), db).await?;
                    let new = values
                        .get("POSTGRES_PASSWORD")
                        .cloned()
                        .ok_or_else(|| bad("no new value".into()))?;
                    let standby = alternate(ctx, db, &creds.user).await?;
                    if let Some((other, _)) = &standby {
                        // Every .env moves to the other role.
                        values.insert("POSTGRES_USER".into(), Sensitive::new(other.clone()));
                    }
                    Some((via, creds.user, creds.password, new, standby))
                }
            };
            let values: Values = Arc::new(values);
            let db_user = db_rotation.as_ref().map(|(_, u, ..)| u.clone());
            // Redis's password (the variable the profile's [redis] names).
            let redis_var = ctx.profile.redis.as_ref().and_then(|r| r.password_env.clone());
            let redis_rotation = match (&ctx.profile.redis, &redis_var) {
                (Some(r), Some(var)) if vars.contains(var) => {
                    let via = r.via_host.get_ref().clone();
                    let (_, env) = ctx.engine.read_env(ctx.deployment(), &via).await?;
                    let old = env
                        .get(var)
                        .cloned()
                        .ok_or_else(|| bad(format!("{var} is not in {via}'s .env")))?;
                    if let Some(url) = env.get("REDIS_URL")
                        && url::Url::parse(url.expose())
                            .is_ok_and(|u| !u.username().is_empty() && u.username() != "default")
                    {
                        return Err(Error::ActionUnavailable {
                            reason: "REDIS_URL names an ACL user other than default: rotating its password is not done yet".into(),
                        });
                    }
                    let new = values
                        .get(var)
                        .cloned()
                        .ok_or_else(|| bad("no new value".into()))?;
                    Some((via, old, new))
                }
                _ => None,
            };
            let key: [u8; 32] = rand::random();
            let parked: Arc<Mutex<Vec<(String, Parked)>>> = Arc::default();
            let mut steps: Vec<Box<dyn Step>> = Vec::new();
            let (mut sample, mut warnings) = (Vec::new(), Vec::new());
            let mut found: BTreeMap<String, usize> = BTreeMap::new();
            let (mut hosts, mut containers) = (0usize, 0usize);
            let mut before: BTreeMap<&str, Vec<[u8; 32]>> = BTreeMap::new();
            let written: Written = Arc::default();
            for (host, path, sha, env, text) in &files {
                let (host, path, sha) = (host.clone(), path.clone(), sha.clone());
                let mut here = touched(env, &vars, db_user.as_deref(), redis_var.as_deref());
                // Alternating roles: the user name changes with the password.
                if values.contains_key("POSTGRES_USER")
                    && env.get("POSTGRES_USER").is_some()
                    && here
                        .iter()
                        .any(|v| v == "POSTGRES_PASSWORD" || v == "DATABASE_URL")
                {
                    here.push("POSTGRES_USER".into());
                }
                for v in &vars {
                    if let Some(x) = env.get(v) {
                        before.entry(v).or_default().push(fingerprint(&key, x.expose()));
                    }
                }
                if here.is_empty() {
                    continue;
                }
                for v in &here {
                    let v = match v.as_str() {
                        "DATABASE_URL" | "POSTGRES_USER" => "POSTGRES_PASSWORD",
                        "REDIS_URL" => redis_var.as_deref().unwrap_or("REDIS_URL"),
                        v => v,
                    };
                    *found.entry(v.to_owned()).or_default() += 1;
                }
                let twice: Vec<&String> = env.duplicates().iter().filter(|d| here.contains(d)).collect();
                if !twice.is_empty() {
                    warnings.push(format!(
                        "{host}: {} assigned more than once in {path}; the last assignment (the one Compose reads) is rewritten",
                        twice.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                    ));
                }
                hosts += 1;
                sample.push(format!("{host}: {path} ({})", here.join(", ")));
                steps.push(Box::new(WriteEnv {
                    host: host.clone(),
                    path: path.clone(),
                    sha,
                    text: text.clone(),
                    vars: here.clone(),
                    values: values.clone(),
                    redis_var: redis_var.clone(),
                    written: written.clone(),
                    done: Mutex::default(),
                }));
                for Consumer {
                    name,
                    id,
                    env: running,
                    running: up,
                } in consumers(ctx, &host, &here).await?
                {
                    // Does it run what the file says now? (keyed digests, never values)
                    for (k, v) in &running {
                        let file = env.get(k).map(|f| fingerprint(&key, f.expose()));
                        if file != Some(fingerprint(&key, v.expose())) {
                            warnings.push(format!(
                                "{host}: {name} does not run the .env's current {k} (it was out of date before this rotation)"
                            ));
                        }
                    }
                    containers += 1;
                    sample.push(format!("{host}: recreate {name}"));
                    // The app on this host as the proxy reaches it, when the profile says.
                    let app_health =
                        ctx.profile
                            .host(&host)
                            .and_then(|h| h.app_url.as_ref())
                            .and_then(|url| {
                                let path = ctx
                                    .profile
                                    .services
                                    .iter()
                                    .find(|s| s.containers.iter().any(|c| *c.get_ref() == name))
                                    .and_then(|s| s.health_path.clone())?;
                                Some(format!("{}{path}", url.get_ref().trim_end_matches('/')))
                            });
                    if let Some(url) = &app_health {
                        sample.push(format!("{host}: {name} must answer 200 at {url}"));
                    }
                    steps.push(Box::new(Recreate {
                        host: host.clone(),
                        app_health,
                        parked_as: recreate::parked_name(&name),
                        old_id: id,
                        was_running: up,
                        container: name,
                        vars: here.clone(),
                        path: path.clone(),
                        written: written.clone(),
                        parked: parked.clone(),
                        done: Mutex::default(),
                    }));
                }
            }
            let keychain_db = ctx
                .profile
                .database
                .as_ref()
                .is_some_and(|d| d.credentials == crate::engine::profiles::DbCredentials::Keychain);
            let missing: Vec<&String> = vars
                .iter()
                // The keychain holds the console's copy of the database's password.
                .filter(|v| !(found.contains_key(v.as_str()) || keychain_db && *v == "POSTGRES_PASSWORD"))
                .collect();
            if !missing.is_empty() {
                return Err(bad(format!(
                    "{} is in no host's .env",
                    missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                )));
            }
            for v in &vars {
                if let Some(e) = effect(rules, v) {
                    warnings.push(format!("{v}: {e}"));
                }
                if before
                    .get(v.as_str())
                    .is_some_and(|f| f.iter().any(|x| *x != f[0]))
                {
                    warnings.push(format!(
                        "{v} was not the same on every host before this rotation (the hosts disagreed, e.g. a cookie signed on one was refused by another); afterwards one value is on every host"
                    ));
                }
                if self.pasted.0.contains_key(v) {
                    warnings.push(format!(
                        "{v}: the value you pasted (it is not shown again); the old one must be revoked where it was issued"
                    ));
                }
            }
            for l in left_out {
                warnings.push(format!("left out: {l}"));
            }
            if let Some((via, user, old, new, standby)) = &db_rotation {
                match standby {
                    Some((other, standby_pw)) => {
                        steps.insert(
                            0,
                            Box::new(db::SetStandbyPassword {
                                user: other.clone(),
                                standby: standby_pw.clone(),
                                new: new.clone(),
                                via_host: via.clone(),
                            }),
                        );
                        steps.push(Box::new(db::RetireRole {
                            user: user.clone(),
                            old: old.clone(),
                            retired: values::generate(Default::default())?,
                            standby_before: standby_pw.clone(),
                            via_host: via.clone(),
                        }));
                    }
                    None => steps.insert(
                        0,
                        Box::new(db::SetDbPassword {
                            user: user.clone(),
                            old: old.clone(),
                            new: new.clone(),
                            via_host: via.clone(),
                        }),
                    ),
                }
                if keychain_db {
                    steps.insert(
                        1,
                        Box::new(db::StoreDbPassword {
                            old: old.clone(),
                            new: new.clone(),
                            via_host: via.clone(),
                        }),
                    );
                    if !found.contains_key("POSTGRES_PASSWORD") {
                        warnings.push(format!(
                            "no host's .env holds {user}'s password: the console's keychain is the only holder this profile knows; any other client of the role is refused from step 1"
                        ));
                    }
                }
                steps.push(Box::new(db::ProveDb {
                    user: user.clone(),
                    new_user: standby.as_ref().map_or_else(|| user.clone(), |(o, _)| o.clone()),
                    old: old.clone(),
                    new: new.clone(),
                    via_host: via.clone(),
                }));
                let db = ctx.db().await?;
                let rows: Vec<(String, i64)> = sqlx::query_as(
                    "SELECT coalesce(pg_catalog.host(client_addr), 'the local socket'), count(*)::int8 \
                     FROM pg_catalog.pg_stat_activity WHERE usename = $1 GROUP BY 1 ORDER BY 2 DESC",
                )
                .bind(user)
                .fetch_all(&db.pool)
                .await
                .unwrap_or_default();
                let total: i64 = rows.iter().map(|(_, n)| n).sum();
                warnings.push(format!(
                    "the role {user} has {total} open connection(s) now ({}): they stay open; every new one needs the new password",
                    rows.iter().map(|(a, n)| format!("{n} from {a}")).collect::<Vec<_>>().join(", ")
                ));
                warnings.push(match standby {
                    None => format!(
                        "cut-over: PostgreSQL holds one password per role, so from step 1 until a host's containers are recreated, their new connections to the database are refused; the {hosts} host(s) follow one another without pause"
                    ),
                    Some((other, _)) => format!(
                        "alternating roles, no cut-over: {other} gets the new password and every host moves to it while {user} keeps working; once all have moved, {user} gets a password no .env holds (kept in the keychain for the next rotation, which moves back to it)"
                    ),
                });
            }
            if let Some((via, old, new)) = &redis_rotation {
                let first = usize::from(db_rotation.is_some());
                steps.insert(
                    first,
                    Box::new(redis::AddRedisPassword {
                        old: old.clone(),
                        new: new.clone(),
                        via_host: via.clone(),
                    }),
                );
                steps.push(Box::new(redis::RemoveRedisPassword {
                    old: old.clone(),
                    new: new.clone(),
                    via_host: via.clone(),
                }));
                steps.push(Box::new(redis::ProveRedis {
                    old: old.clone(),
                    new: new.clone(),
                    via_host: via.clone(),
                }));
                warnings.push(
                    "redis: the old and the new password are both accepted while the hosts roll; the old one is refused once every consumer runs the new".into(),
                );
                warnings.push(match redis::clients_now(ctx, old).await {
                    Ok(line) => line,
                    Err(e) => format!("redis: who is connected now could not be read ({e})"),
                });
            }
            if containers > 0 {
                steps.push(Box::new(Discard {
                    parked: parked.clone(),
                }));
            } else {
                warnings.push(
                    "no container of the profile's services uses these variables: the new values take effect when the app is next recreated".into(),
                );
            }
            let plan = Plan {
                action: "rotate-secrets".into(),
                deployment: ctx.deployment().to_owned(),
                summary: format!(
                    "new values for {} in {hosts} host(s)' .env ({}), then {containers} container(s) recreated host by host, each healthy before the next host",
                    vars.join(", "),
                    if self.pasted.0.is_empty() {
                        "random".to_owned()
                    } else {
                        format!(
                            "pasted: {}; the others random",
                            self.pasted
                                .0
                                .keys()
                                .map(String::as_str)
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    }
                ),
                count: i64::try_from(hosts + containers).unwrap_or(i64::MAX),
                sample,
                steps: Vec::new(),
                reversible: Vec::new(),
                destructive: true,
                warnings,
                digest: String::new(),
            };
            Ok(Planned::new(plan, steps))
        })
    }

    fn verify<'a>(&'a self, ctx: &'a Ctx<'_>, _plan: &'a Plan) -> BoxFuture<'a, Result<Verdict>> {
        Box::pin(async move {
            // Every .env holds one value per variable, the same on every host, and every
            // consumer runs it: compared by keyed digest.
            let key: [u8; 32] = rand::random();
            let mut files = Vec::new();
            for h in &ctx.profile.hosts {
                let host = h.name.get_ref().clone();
                let Some(path) = h.env_file.as_ref().map(|p| p.get_ref().clone()) else {
                    continue;
                };
                let (text, _) = read_raw(ctx, &host, &path).await?;
                let env = EnvFile::parse(text.expose()).map_err(|source| Error::EnvFile {
                    host: host.clone(),
                    path: path.clone(),
                    source: Box::new(source),
                })?;
                files.push((host, path, env));
            }
            let envs: Vec<&EnvFile> = files.iter().map(|f| &f.2).collect();
            let (vars, _) = self.resolve(ctx, &envs)?;
            let mut seen: BTreeMap<String, [u8; 32]> = BTreeMap::new();
            let mut problems = Vec::new();
            let mut checked = 0;
            for (host, path, env) in &files {
                let db_user = if vars.iter().any(|v| v == "POSTGRES_PASSWORD") {
                    crate::engine::db::DbCredentials::from_env(env, path)
                        .ok()
                        .map(|c| c.user)
                } else {
                    None
                };
                let redis_var = ctx.profile.redis.as_ref().and_then(|r| r.password_env.clone());
                let here = touched(env, &vars, db_user.as_deref(), redis_var.as_deref());
                // The same value on every host: the rotated variables (a DATABASE_URL
                // may name another address on each host).
                for v in here.iter().filter(|v| vars.contains(v)) {
                    let f = env
                        .get(v)
                        .map(|x| fingerprint(&key, x.expose()))
                        .unwrap_or_default();
                    match seen.get(v) {
                        Some(other) if *other != f => {
                            problems.push(format!("{host}'s .env has another {v} than the other hosts"))
                        }
                        _ => {
                            seen.insert(v.clone(), f);
                        }
                    }
                }
                if here.is_empty() {
                    continue;
                }
                let docker = ctx.engine.docker(ctx.deployment(), host).await?;
                for Consumer {
                    name,
                    env: running,
                    running: up,
                    ..
                } in consumers(ctx, host, &here).await?
                {
                    checked += 1;
                    for (k, v) in &running {
                        if env.get(k).map(|f| fingerprint(&key, f.expose()))
                            != Some(fingerprint(&key, v.expose()))
                        {
                            problems.push(format!("{host}: {name} does not run the new {k}"));
                        }
                    }
                    if !up {
                        continue;
                    }
                    if let Err(why) = recreate::wait_healthy(&docker, &name, Duration::from_secs(1)).await {
                        problems.push(format!("{host}: {name} is not healthy: {why}"));
                    }
                }
            }
            // The console's own copy (`credentials = "keychain"`): PostgreSQL takes it.
            if vars.iter().any(|v| v == "POSTGRES_PASSWORD")
                && let Some(db) = ctx
                    .profile
                    .database
                    .as_ref()
                    .filter(|d| d.credentials == crate::engine::profiles::DbCredentials::Keychain)
            {
                match ctx.engine.db_credentials(ctx.deployment(), db).await {
                    Ok((c, ..)) if db::accepts(ctx, &c.user, &c.password).await? => {}
                    Ok((c, ..)) => problems.push(format!(
                        "PostgreSQL refuses the password the keychain holds for {}",
                        c.user
                    )),
                    Err(e) => problems.push(format!("the keychain's database password: {e}")),
                }
            }
            let mut verdict = if problems.is_empty() {
                Verdict::new(
                    true,
                    format!(
                        "every .env holds the new {} (the same on every host) and the {checked} container(s) using them run it and are healthy; the old values are in no .env and no container",
                        vars.join(", ")
                    ),
                )
                .by(Vantage::Docker)
            } else {
                Verdict::new(false, problems.join("; ")).by(Vantage::Docker)
            };
            // The app itself: what the canary held before must now be refused, and a new
            // login must work (the app runs with the new values).
            let rules = &ctx.app.rotate;
            let ended: Vec<Ends> = vars.iter().filter_map(|v| ends(rules, v)).collect();
            if ended.is_empty() {
                return Ok(verdict);
            }
            let p = match ctx.prober().await {
                Ok(p) => p,
                Err(why) => return Ok(verdict.with_evidence(Evidence::None(why))),
            };
            let (cookies, session_before, jwt, jwt_before) = ctx.with_before(|b| {
                (
                    b.cookies.clone(),
                    b.session.clone(),
                    b.jwt.clone(),
                    b.jwt_answer.clone(),
                )
            });
            if ended.contains(&Ends::Sessions) {
                verdict = verdict.with_evidence(match cookies {
                    Some(c) => Evidence::judge(
                        "a session cookie the canary got before the rotation",
                        session_before.as_ref(),
                        p.session(&c).await,
                    ),
                    None => Evidence::None(
                        "the canary could not open a session before the rotation (no login probe, or no cookie set)".into(),
                    ),
                });
            }
            if ended.contains(&Ends::Jwts) {
                verdict = verdict.with_evidence(match jwt {
                    Some(j) => Evidence::judge(
                        "a JWT the canary got before the rotation",
                        jwt_before.as_ref(),
                        p.jwt(&j).await,
                    ),
                    None => Evidence::None(
                        "the canary got no JWT before the rotation (no login probe, or the app profile's [probes] has no jwt_field)".into(),
                    ),
                });
            }
            match p.login().await {
                Some((Answer::Accepted(_), _)) => {
                    verdict.detail = format!("{}; a new login works", verdict.detail);
                }
                Some((answer, _)) => {
                    verdict.ok = false;
                    verdict.detail = format!(
                        "{}; the canary's login after the rotation: {answer}: the app may not run with the new values",
                        verdict.detail
                    );
                }
                None => {}
            }
            Ok(verdict)
        })
    }

    fn probe_before<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let rules = &ctx.app.rotate;
            let asked: Vec<&String> = self.vars.iter().chain(self.pasted.0.keys()).collect();
            let may_end =
                self.all || !self.groups.is_empty() || asked.iter().any(|v| ends(rules, v).is_some());
            if !may_end {
                return;
            }
            let Ok(p) = ctx.prober().await else { return };
            if let Some((Answer::Accepted(_), cookies, jwt)) = p.login_with_jwt().await {
                let session = match &cookies {
                    Some(c) => p.session(c).await,
                    None => None,
                };
                let jwt_answer = match &jwt {
                    Some(j) => p.jwt(j).await,
                    None => None,
                };
                ctx.with_before(|b| {
                    b.cookies = cookies;
                    b.session = session;
                    b.jwt = jwt;
                    b.jwt_answer = jwt_answer;
                });
            }
        })
    }
}

/// One host's `.env` rewritten with the new values.
struct WriteEnv {
    host: String,
    path: String,
    /// The file as the plan read it: its SHA-256 and text. The write replaces it only if
    /// the host's file still has that SHA-256 (compare-and-swap on the host).
    sha: String,
    text: Sensitive<String>,
    vars: Vec<String>,
    values: Values,
    /// The variable of Redis's password, which REDIS_URL's password follows.
    redis_var: Option<String>,
    written: Written,
    done: Mutex<Option<EnvBack>>,
}

impl Step for WriteEnv {
    fn description(&self) -> String {
        format!("{}: write {} in {}", self.host, self.vars.join(", "), self.path)
    }

    fn run<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, Result<StepDone>> {
        Box::pin(async move {
            let mut new = self.text.clone();
            for v in &self.vars {
                let derived;
                let source = match v.as_str() {
                    "DATABASE_URL" => Some("POSTGRES_PASSWORD"),
                    // Alternating roles: the other role's name.
                    "POSTGRES_USER" => None,
                    "REDIS_URL" => self.redis_var.as_deref(),
                    _ => None,
                };
                let value = if let Some(source) = source {
                    // The password in the URL follows its variable's new value.
                    let (Some(url), Some(pw)) = (
                        EnvFile::parse(new.expose()).ok().and_then(|e| e.get(v).cloned()),
                        self.values.get(source),
                    ) else {
                        continue;
                    };
                    let mut parsed = url::Url::parse(url.expose()).map_err(|_| Error::ActionUnavailable {
                        reason: format!("{}: {v} in {} is not a URL", self.host, self.path),
                    })?;
                    if parsed.set_password(Some(pw.expose())).is_err() {
                        continue;
                    }
                    if v == "DATABASE_URL"
                        && let Some(user) = self.values.get("POSTGRES_USER")
                        && parsed.set_username(user.expose()).is_err()
                    {
                        continue;
                    }
                    derived = Sensitive::new(parsed.to_string());
                    &derived
                } else {
                    let Some(value) = self.values.get(v) else { continue };
                    value
                };
                new = envfile::replace_value(new.expose(), v, value.expose()).map_err(|source| {
                    Error::EnvFile {
                        host: self.host.clone(),
                        path: self.path.clone(),
                        source: Box::new(source),
                    }
                })?;
            }
            let session = ctx.engine.session(ctx.deployment(), &self.host).await?;
            let replaced = replace(&session, &self.path, &self.sha, new.expose().as_bytes())
                .await
                .map_err(|e| Error::ActionUnavailable {
                    reason: format!("{}: {e}", self.host),
                })?;
            let back = EnvBack {
                path: replaced.target.clone(),
                backup: replaced.backup.clone(),
                rotated_sha256: hex::encode(Sha256::digest(new.expose().as_bytes())),
            };
            if let Ok(mut w) = self.written.lock() {
                w.insert(self.host.clone(), new.clone());
            }
            if let Ok(mut d) = self.done.lock() {
                *d = Some(back);
            }
            Ok(StepDone {
                detail: format!(
                    "{}: {} rewritten ({} value(s)); the old file kept as {}",
                    self.host,
                    replaced.target,
                    self.vars.len(),
                    replaced.backup
                ),
                changed: i64::try_from(self.vars.len()).unwrap_or(0),
            })
        })
    }

    fn undo(&self) -> Option<ActionSpec> {
        let env = self.done.lock().ok().and_then(|d| d.clone()).unwrap_or(EnvBack {
            path: self.path.clone(),
            backup: String::new(),
            rotated_sha256: String::new(),
        });
        Some(ActionSpec::RotateUndo(RotateUndo {
            host: self.host.clone(),
            env: Some(env),
            container: None,
            db_password_from_env: false,
        }))
    }
}

/// One container recreated with the `.env`'s new values.
struct Recreate {
    host: String,
    container: String,
    /// The host's `app_url` and the service's `health_path`: must answer 200 before the
    /// next host is touched.
    app_health: Option<String>,
    /// Chosen at plan time: what a lost connection leaves behind can then be found.
    parked_as: String,
    /// The container as the plan saw it.
    old_id: String,
    was_running: bool,
    vars: Vec<String>,
    path: String,
    written: Written,
    parked: Arc<Mutex<Vec<(String, Parked)>>>,
    done: Mutex<Option<ParkedRef>>,
}

impl Step for Recreate {
    fn description(&self) -> String {
        format!(
            "{}: recreate {} with the new {} and wait until it is healthy{}",
            self.host,
            self.container,
            self.vars.join(", "),
            match &self.app_health {
                Some(url) => format!(" and {url} answers 200"),
                None => String::new(),
            }
        )
    }

    fn run<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, Result<StepDone>> {
        Box::pin(async move {
            // The values from the .env as this run wrote it (else as it is now).
            let known = self.written.lock().ok().and_then(|w| w.get(&self.host).cloned());
            let text = match known {
                Some(t) => t,
                None => read_raw(ctx, &self.host, &self.path).await?.0,
            };
            let env = EnvFile::parse(text.expose()).map_err(|source| Error::EnvFile {
                host: self.host.clone(),
                path: self.path.clone(),
                source: Box::new(source),
            })?;
            let changes: Vec<(String, Sensitive<String>)> = self
                .vars
                .iter()
                .filter_map(|v| env.get(v).map(|x| (v.clone(), x.clone())))
                .collect();
            let docker = ctx.engine.docker(ctx.deployment(), &self.host).await?;
            let parked = recreate::recreate_as(
                &docker,
                &self.container,
                &self.parked_as,
                &changes,
                HEALTHY_WITHIN,
            )
            .await
            .map_err(|e| Error::ActionUnavailable {
                reason: format!("{}: {e}", self.host),
            })?;
            // Healthy for Docker; and for the proxy, where the profile says how to ask.
            if let Some(url) = &self.app_health
                && let Err(why) = app_answers(ctx, url).await
            {
                let back = match recreate::rollback(&docker, &parked).await {
                    Ok(()) => "the old container is back".to_owned(),
                    Err(e) => format!("the old container could NOT be put back ({e})"),
                };
                return Err(Error::ActionUnavailable {
                    reason: format!(
                        "{}: {} is healthy for Docker but {url} does not answer 200 ({why}); {back}",
                        self.host, self.container
                    ),
                });
            }
            if let Ok(mut d) = self.done.lock() {
                *d = Some(ParkedRef::from(&parked));
            }
            if let Ok(mut all) = self.parked.lock() {
                all.push((self.host.clone(), parked.clone()));
            }
            Ok(StepDone {
                detail: format!(
                    "{}: {} recreated and healthy; the old one parked as {}",
                    self.host, self.container, parked.parked_as
                ),
                changed: 1,
            })
        })
    }

    fn undo(&self) -> Option<ActionSpec> {
        Some(ActionSpec::RotateUndo(RotateUndo {
            host: self.host.clone(),
            env: None,
            container: self.done.lock().ok().and_then(|d| d.clone()),
            db_password_from_env: false,
        }))
    }

    /// The connection lost half way (the old container parked, its successor perhaps
    /// created): the old one back, whatever holds its name removed. Plans as nothing when
    /// nothing is parked (the step failed before, or put the old one back itself).
    fn undo_after_failure(&self) -> Option<ActionSpec> {
        Some(ActionSpec::RotateUndo(RotateUndo {
            host: self.host.clone(),
            env: None,
            container: Some(ParkedRef {
                name: self.container.clone(),
                parked_as: self.parked_as.clone(),
                old_id: self.old_id.clone(),
                new_id: String::new(),
                was_running: self.was_running,
            }),
            db_password_from_env: false,
        }))
    }

    fn revert<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, Result<String>> {
        Box::pin(async move {
            // No longer to be discarded at the end.
            let mine = self.done.lock().ok().and_then(|d| d.clone()).map(|d| d.parked_as);
            if let (Some(mine), Ok(mut all)) = (mine, self.parked.lock()) {
                all.retain(|(_, p)| p.parked_as != mine);
            }
            match self.undo() {
                Some(spec) => super::runner::run_undo(ctx, &spec).await,
                None => Ok(String::new()),
            }
        })
    }
}

/// How long a recreated container's app has to answer 200 at the host's `app_url`.
const APP_ANSWERS_WITHIN: Duration = Duration::from_secs(30);

/// Whether `url` answers 200 within [`APP_ANSWERS_WITHIN`] (asked every 250 ms); if not,
/// what it last answered.
async fn app_answers(ctx: &Ctx<'_>, url: &str) -> std::result::Result<(), String> {
    let ca = ctx.profile.public_url_ca.as_ref().map(|c| c.get_ref().clone());
    let client = crate::engine::http::client_for(
        concat!("breakglass-rotate/", env!("CARGO_PKG_VERSION")),
        ca.as_deref(),
    )?;
    let started = std::time::Instant::now();
    loop {
        let last = match client.get(url).send().await {
            Ok(r) if r.status() == reqwest::StatusCode::OK => return Ok(()),
            Ok(r) => format!("it answered {}", r.status().as_u16()),
            // reqwest's error names the URL, never a header or a body.
            Err(e) => format!("no answer: {e}"),
        };
        if started.elapsed() >= APP_ANSWERS_WITHIN {
            return Err(format!("after {} s, {last}", APP_ANSWERS_WITHIN.as_secs()));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The last step: the parked old containers removed (they hold the old values).
struct Discard {
    parked: Arc<Mutex<Vec<(String, Parked)>>>,
}

/// The last step's description: `undo` of a run that did it is refused.
pub(crate) const DISCARD_STEP: &str = "remove the old containers (after this the rotation cannot be undone)";

impl Step for Discard {
    fn description(&self) -> String {
        DISCARD_STEP.into()
    }

    fn run<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, Result<StepDone>> {
        Box::pin(async move {
            // The rotation is complete when this step starts: a container that cannot be
            // removed is said, not a reason to undo the rotation.
            let all = self.parked.lock().map(|p| p.clone()).unwrap_or_default();
            let (mut removed, mut left) = (0, Vec::new());
            for (host, p) in &all {
                let gone = match ctx.engine.docker(ctx.deployment(), host).await {
                    Ok(docker) => recreate::discard_old(&docker, p).await.map_err(Error::from),
                    Err(e) => Err(e),
                };
                match gone {
                    Ok(()) => removed += 1,
                    Err(e) => left.push(format!(
                        "{host}: {} ({e}; remove it with `docker rm -f {}`)",
                        p.parked_as, p.parked_as
                    )),
                }
            }
            Ok(StepDone {
                detail: if left.is_empty() {
                    format!("{removed} old container(s) removed")
                } else {
                    format!(
                        "{removed} old container(s) removed; NOT removed, holding the old values: {}",
                        left.join("; ")
                    )
                },
                changed: removed,
            })
        })
    }
}

impl Action for RotateUndo {
    fn plan<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, Result<Planned>> {
        Box::pin(async move {
            let mut steps: Vec<Box<dyn Step>> = Vec::new();
            let mut sample = Vec::new();
            if let Some(env) = &self.env
                && !env.backup.is_empty()
            {
                let (_, sha) = read_raw(ctx, &self.host, &env.path).await?;
                if sha == env.rotated_sha256 {
                    sample.push(format!("{}: {} back from {}", self.host, env.path, env.backup));
                    steps.push(Box::new(RestoreEnv {
                        host: self.host.clone(),
                        back: env.clone(),
                    }));
                }
            }
            if let Some(c) = &self.container {
                check_name(&c.parked_as)?;
                let docker = ctx.engine.docker(ctx.deployment(), &self.host).await?;
                let parked_exists = docker
                    .client()
                    .inspect_container(
                        &c.parked_as,
                        None::<bollard::query_parameters::InspectContainerOptions>,
                    )
                    .await
                    .is_ok();
                if parked_exists {
                    sample.push(format!("{}: {} back (the new one removed)", self.host, c.name));
                    steps.push(Box::new(RollbackContainer {
                        host: self.host.clone(),
                        parked: c.clone(),
                    }));
                }
            }
            if self.db_password_from_env
                && let Some(db) = &ctx.profile.database
            {
                let (path, env) = ctx
                    .engine
                    .read_env(ctx.deployment(), db.via_host.get_ref())
                    .await?;
                let creds = crate::engine::db::DbCredentials::from_env(&env, &path)?;
                if !db::accepts(ctx, &creds.user, &creds.password).await? {
                    return Err(Error::ActionUnavailable {
                        reason: format!(
                            "the role {}'s password is not the one in {}'s .env any more, and this console holds no password PostgreSQL accepts for it: as a superuser, set the .env's value again (ALTER ROLE … PASSWORD)",
                            creds.user,
                            db.via_host.get_ref()
                        ),
                    });
                }
            }
            let plan = Plan {
                action: "rotate-undo".into(),
                deployment: ctx.deployment().to_owned(),
                summary: if steps.is_empty() {
                    format!("{}: nothing of the rotation left to undo", self.host)
                } else {
                    format!("{}: undo the rotation's change", self.host)
                },
                count: i64::try_from(steps.len()).unwrap_or(0),
                sample,
                steps: Vec::new(),
                reversible: Vec::new(),
                destructive: true,
                warnings: Vec::new(),
                digest: String::new(),
            };
            Ok(Planned::new(plan, steps))
        })
    }

    fn verify<'a>(&'a self, ctx: &'a Ctx<'_>, _plan: &'a Plan) -> BoxFuture<'a, Result<Verdict>> {
        Box::pin(async move {
            let mut problems = Vec::new();
            if let Some(env) = &self.env
                && !env.backup.is_empty()
            {
                let (_, sha) = read_raw(ctx, &self.host, &env.path).await?;
                if sha == env.rotated_sha256 {
                    problems.push(format!("{} still holds the rotated values", env.path));
                }
            }
            if let Some(c) = &self.container {
                let docker = ctx.engine.docker(ctx.deployment(), &self.host).await?;
                let i = docker
                    .client()
                    .inspect_container(
                        &c.name,
                        None::<bollard::query_parameters::InspectContainerOptions>,
                    )
                    .await;
                if !matches!(&i, Ok(i) if i.id.as_deref() == Some(c.old_id.as_str())) {
                    problems.push(format!("{} is not the old container", c.name));
                }
            }
            Ok(Verdict::new(
                problems.is_empty(),
                if problems.is_empty() {
                    "undone".to_owned()
                } else {
                    problems.join("; ")
                },
            )
            .by(Vantage::Docker))
        })
    }
}

fn check_name(name: &str) -> Result<()> {
    crate::engine::docker::check_name("container", name).map_err(Error::from)
}

struct RestoreEnv {
    host: String,
    back: EnvBack,
}

impl Step for RestoreEnv {
    fn description(&self) -> String {
        format!("{}: {} back from {}", self.host, self.back.path, self.back.backup)
    }

    fn run<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, Result<StepDone>> {
        Box::pin(async move {
            let session = ctx.engine.session(ctx.deployment(), &self.host).await?;
            let out = session
                .exec_capped(
                    &format!("cat -- {}", shell_quote(&self.back.backup)),
                    None,
                    envfile::MAX_ENV_FILE + 1,
                )
                .await?;
            if !out.success() {
                return Err(Error::RemoteRead {
                    host: self.host.clone(),
                    path: self.back.backup.clone(),
                    detail: crate::engine::ssh::output::display_safe(&out.stderr)
                        .trim()
                        .to_owned(),
                });
            }
            let old = zeroize::Zeroizing::new(out.stdout);
            replace(&session, &self.back.path, &self.back.rotated_sha256, &old)
                .await
                .map_err(|e| Error::ActionUnavailable {
                    reason: format!("{}: {e}", self.host),
                })?;
            Ok(StepDone {
                detail: format!("{}: {} holds its old values again", self.host, self.back.path),
                changed: 1,
            })
        })
    }
}

struct RollbackContainer {
    host: String,
    parked: ParkedRef,
}

impl Step for RollbackContainer {
    fn description(&self) -> String {
        format!("{}: {} back (the new one removed)", self.host, self.parked.name)
    }

    fn run<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, Result<StepDone>> {
        Box::pin(async move {
            let docker = ctx.engine.docker(ctx.deployment(), &self.host).await?;
            recreate::rollback(&docker, &Parked::from(&self.parked)).await?;
            Ok(StepDone {
                detail: format!("{}: the old {} runs again", self.host, self.parked.name),
                changed: 1,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_compare_without_the_value() {
        let k = [7u8; 32];
        assert_eq!(fingerprint(&k, "a"), fingerprint(&k, "a"));
        assert_ne!(fingerprint(&k, "a"), fingerprint(&k, "b"));
        assert_ne!(fingerprint(&k, "a"), fingerprint(&[8u8; 32], "a"));
    }

    #[test]
    fn effects_are_named() {
        let none = RotateRules::default();
        assert!(effect(&none, "JWT_SECRET").is_some_and(|e| e.contains("JWT")));
        assert!(effect(&none, "SECRET_KEY_BASE").is_some_and(|e| e.contains("session")));
        assert!(effect(&none, "WEBHOOK_SIGNING_SALT").is_none());
        // The app profile says what a name does not.
        let rules: RotateRules = toml::from_str(r#"ends_sessions = ["ROUNDTABLE_REFRESH"]"#).unwrap();
        assert!(effect(&rules, "ROUNDTABLE_REFRESH").is_some_and(|e| e.contains("session")));
    }
}
