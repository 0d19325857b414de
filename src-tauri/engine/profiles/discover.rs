//! From SSH addresses to a deployment profile: `breakglass init`. The console connects to
//! each host (first contact asks, as `trust` does), looks — read-only — at its Docker
//! containers, their compose projects and `.env` files, the database and Redis the `.env`
//! names, backup folders, and the live schema; then writes a commented profile, each
//! guess marked as one. Never a secret: variables are read by name, the `.env` values
//! only to find where the database and Redis are (host, port, database name), and none of
//! them is written or printed.
//!
//! Not for: changing anything on a host, or keeping the profile up to date by itself
//! (running `init` again shows the differences; adding it is the user's decision).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::app::AppProfile;
use crate::engine::envfile::EnvFile;
use crate::engine::ssh::output::{display_safe, shell_quote};
use crate::engine::{Engine, Error, Result};

/// One `--host` as typed: `[user@]address[:port]`, named after the address unless a name
/// is given (`name=[user@]address[:port]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSpec {
    pub name: String,
    pub user: Option<String>,
    pub address: String,
    pub port: Option<u16>,
    pub docker_socket: Option<String>,
}

impl HostSpec {
    pub fn parse(text: &str) -> Result<HostSpec> {
        let bad = |why: &str| Error::BadArgument {
            message: format!(
                "--host takes [name=][user@]address[:port], found {:?}: {why}",
                display_safe(text.as_bytes())
            ),
        };
        let (name, rest) = match text.split_once('=') {
            Some((n, r)) => (Some(n.to_owned()), r),
            None => (None, text),
        };
        let (user, rest) = match rest.split_once('@') {
            Some((u, r)) => (Some(u.to_owned()), r),
            None => (None, rest),
        };
        // `[::1]:22` or `host:22` or `host`.
        let (address, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (a, p) = v6
                .split_once(']')
                .ok_or_else(|| bad("an IPv6 address needs its closing ]"))?;
            (a.to_owned(), p.strip_prefix(':'))
        } else {
            match rest.rsplit_once(':') {
                Some((a, p)) if !a.contains(':') => (a.to_owned(), Some(p)),
                _ => (rest.to_owned(), None),
            }
        };
        let port = match port {
            Some(p) => Some(
                p.parse::<u16>()
                    .map_err(|_| bad("the port is not a number from 1 to 65535"))?,
            ),
            None => None,
        };
        let ok_text =
            |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "._-:".contains(c));
        if !ok_text(&address) {
            return Err(bad("the address is a host name or an IP address"));
        }
        if user.as_deref().is_some_and(|u| !ok_text(u)) {
            return Err(bad("the user is a login name"));
        }
        let name = name.unwrap_or_else(|| {
            address
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_lowercase()
                    } else {
                        '-'
                    }
                })
                .collect::<String>()
                .trim_matches('-')
                .to_owned()
        });
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            return Err(bad("a host's name is letters, digits, '.', '_' and '-'"));
        }
        Ok(HostSpec {
            name,
            user,
            address,
            port,
            docker_socket: None,
        })
    }
}

/// How the console logs in while it looks (written into the profile as found).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitAuth {
    Agent,
    KeyFile(String),
}

/// The profile to connect with before anything is known: the hosts, and nothing else.
pub fn provisional_profile(name: &str, hosts: &[HostSpec], auth: &InitAuth) -> String {
    let mut t = format!("name = {}\napp_profile = \"homechat\"\n\n[ssh]\n", toml_str(name));
    t += &format!("auth = {}\n", auth_toml(auth));
    for h in hosts {
        t += &host_toml(h, &[], None, None);
    }
    t
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

fn auth_toml(auth: &InitAuth) -> String {
    match auth {
        InitAuth::Agent => "{ method = \"agent\" }".into(),
        InitAuth::KeyFile(p) => format!("{{ method = \"key-file\", path = {} }}", toml_str(p)),
    }
}

fn host_toml(h: &HostSpec, roles: &[&str], pin: Option<&str>, env_file: Option<&str>) -> String {
    let mut t = format!(
        "\n[[hosts]]\nname = {}\naddress = {}\n",
        toml_str(&h.name),
        toml_str(&h.address)
    );
    if let Some(p) = h.port {
        t += &format!("port = {p}\n");
    }
    if let Some(u) = &h.user {
        t += &format!("user = {}\n", toml_str(u));
    }
    if !roles.is_empty() {
        let r: Vec<String> = roles.iter().map(|r| toml_str(r)).collect();
        t += &format!("roles = [{}]\n", r.join(", "));
    }
    if let Some(pin) = pin {
        t += &format!("host_key = {}\n", toml_str(pin));
    }
    if let Some(e) = env_file {
        t += &format!("env_file = {}\n", toml_str(e));
    }
    if let Some(s) = &h.docker_socket {
        t += &format!("docker_socket = {}\n", toml_str(s));
    }
    t
}

/// A compose service as found on the hosts.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ServiceFinding {
    pub name: String,
    pub containers: Vec<String>,
    /// The Swarm service it is, and the Docker secrets (names) it mounts.
    pub swarm_service: Option<String>,
    pub docker_secrets: Vec<String>,
    /// The `.env` variables its containers have (by name).
    pub env: Vec<String>,
    pub health_path: Option<String>,
}

/// What one host showed.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct HostFinding {
    pub name: String,
    pub roles: Vec<String>,
    pub pin: Option<String>,
    pub env_file: Option<String>,
    /// `600 deploy:deploy`, as `stat` printed it.
    pub env_file_mode: Option<String>,
    pub docker: bool,
}

/// A compose project or a Swarm stack running on a host.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ProjectFinding {
    pub host: String,
    pub name: String,
    /// `compose` or `stack`.
    pub kind: String,
}

/// Everything `init` found, and what it could not find.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Discovery {
    pub hosts: Vec<HostFinding>,
    /// Every compose project and Swarm stack seen, also those `--project` left out: when
    /// a host runs several, the person chooses which one this deployment is.
    pub projects: Vec<ProjectFinding>,
    pub services: Vec<ServiceFinding>,
    /// `(via_host, address, port, database name, tls)`.
    pub database: Option<(String, String, u16, String, String)>,
    /// A PostgreSQL container seen: `(host, container name)`.
    pub db_container: Option<(String, String)>,
    /// `(via_host, address, port, password variable, database number)`.
    pub redis: Option<(String, String, u16, Option<String>, u16)>,
    pub backups: Option<(String, String)>,
    /// `https://<host>`, and where it was read (a proxy's labels or configuration file).
    pub public_url: Option<(String, String)>,
    /// Where a pgBackRest configuration was found (`host:path`).
    pub pgbackrest: Option<String>,
    /// The built-in app profile whose tables and columns all exist, if one does.
    pub app_profile: Option<String>,
    /// Why each other built-in profile did not fit, or why none could be checked.
    pub app_profile_notes: Vec<String>,
    /// Whatever could not be discovered, said plainly.
    pub notes: Vec<String>,
}

/// A compose file is never read beyond this.
const MAX_COMPOSE_FILE: usize = 1024 * 1024;

/// The `env_file:` entries of every service of a compose file (a string, a list of
/// strings, or a list of `{path: …}`), also those a service takes from an anchored
/// mapping through a merge key (`<<: *common`), as absolute paths (relative ones are
/// relative to the project's folder). A file that is not YAML names none. Read from the
/// parser's events, not a loaded document: aliases are never expanded (an anchor's env
/// files are remembered, at most [`MAX_ENV_FILES`] of them), so a hostile file (an alias
/// bomb) costs what its size costs and no more.
pub fn compose_env_files(yaml: &str, dir: &str) -> Vec<String> {
    use std::collections::{HashMap, HashSet};
    use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
    use yaml_rust2::scanner::Marker;

    /// A mapping or a sequence being read, the key it is the value of, its anchor, and
    /// (for a service or an anchored mapping) the env files it names itself and those a
    /// merge key brings: its own win, as keys written beside `<<` do.
    struct Frame {
        map: bool,
        under: String,
        key: Option<String>,
        anchor: usize,
        own: Files,
        merged: Files,
        /// The anchors already merged here (merging one twice adds nothing).
        merged_ids: HashSet<usize>,
    }
    /// Env file names in order, without repeats, at most [`MAX_ENV_FILES`].
    #[derive(Default, Clone)]
    struct Files {
        list: Vec<String>,
        seen: HashSet<String>,
    }
    impl Files {
        fn add(&mut self, v: &str) {
            if self.list.len() < MAX_ENV_FILES && self.seen.insert(v.to_owned()) {
                self.list.push(v.to_owned());
            }
        }
    }
    struct Walk {
        stack: Vec<Frame>,
        found: Files,
        /// The env files each anchored mapping names (by anchor id).
        anchors: HashMap<usize, Vec<String>>,
    }
    impl Walk {
        /// Whether the open nodes from `base` on are `extra` (`*` matches any key).
        fn from(&self, base: usize, extra: &[&str]) -> bool {
            self.stack.len() == base + extra.len()
                && self.stack[base..]
                    .iter()
                    .zip(extra)
                    .all(|(f, n)| *n == "*" || f.under == *n)
        }
        /// Whether the frame at `i` is a service (a mapping under `services`).
        fn service_at(&self, i: usize) -> bool {
            i == 2
                && self.stack.len() > 2
                && self.stack[1].under == "services"
                && self.stack[0].under.is_empty()
        }
        /// Where an entry that names env files starts: each service, and each open
        /// anchored mapping (as the depth just below it).
        fn bases(&self) -> Vec<usize> {
            (0..self.stack.len())
                .filter(|&i| self.stack[i].map && (self.service_at(i) || self.stack[i].anchor != 0))
                .map(|i| i + 1)
                .collect()
        }
        fn value(&mut self, v: &str) {
            let key = self.stack.last().and_then(|f| f.key.clone());
            let kind = (self.stack.last().map(|f| f.map), key.as_deref());
            for base in self.bases() {
                let hit = match kind {
                    (Some(true), Some("env_file")) => self.from(base, &[]),
                    (Some(false), _) => self.from(base, &["env_file"]),
                    (Some(true), Some("path")) => self.from(base, &["env_file", "[]"]),
                    _ => false,
                };
                if hit {
                    self.stack[base - 1].own.add(v);
                }
            }
        }
        /// `<<: *anchor` (or `<<: [*a, *b]`): the anchor's env files count here too.
        fn merge(&mut self, id: usize) {
            let Some(files) = self.anchors.get(&id) else {
                return;
            };
            let files = files.clone();
            let key = self.stack.last().and_then(|f| f.key.clone());
            let map = self.stack.last().is_some_and(|f| f.map);
            for base in self.bases() {
                let hit = (map && key.as_deref() == Some("<<") && self.from(base, &[]))
                    || (!map && self.from(base, &["<<"]));
                let frame = &mut self.stack[base - 1];
                if hit && frame.merged_ids.insert(id) {
                    for f in &files {
                        frame.merged.add(f);
                    }
                }
            }
        }
    }
    impl MarkedEventReceiver for Walk {
        fn on_event(&mut self, ev: Event, _mark: Marker) {
            match ev {
                Event::MappingStart(anchor, _) | Event::SequenceStart(anchor, _) => {
                    let map = matches!(ev, Event::MappingStart(..));
                    let under = match self.stack.last_mut() {
                        Some(f) if f.map => f.key.take().unwrap_or_default(),
                        Some(_) => "[]".to_owned(),
                        None => String::new(),
                    };
                    self.stack.push(Frame {
                        map,
                        under,
                        key: None,
                        anchor,
                        own: Files::default(),
                        merged: Files::default(),
                        merged_ids: HashSet::new(),
                    });
                }
                Event::MappingEnd | Event::SequenceEnd => {
                    let service = self.service_at(self.stack.len().saturating_sub(1));
                    if let Some(f) = self.stack.pop() {
                        let files = if f.own.list.is_empty() {
                            f.merged.list
                        } else {
                            f.own.list
                        };
                        if service {
                            for file in &files {
                                self.found.add(file);
                            }
                        }
                        if f.anchor != 0 && !files.is_empty() {
                            self.anchors.insert(f.anchor, files);
                        }
                    }
                }
                Event::Scalar(v, ..) => match self.stack.last_mut() {
                    Some(f) if f.map && f.key.is_none() => f.key = Some(v),
                    Some(_) => {
                        self.value(&v);
                        if let Some(f) = self.stack.last_mut()
                            && f.map
                        {
                            f.key = None;
                        }
                    }
                    None => {}
                },
                // An alias stands for a node written elsewhere: never expanded; a merge
                // key's alias brings the anchor's env files.
                Event::Alias(id) => {
                    self.merge(id);
                    if let Some(f) = self.stack.last_mut()
                        && f.map
                    {
                        f.key = if f.key.is_none() {
                            Some(String::new())
                        } else {
                            None
                        };
                    }
                }
                _ => {}
            }
        }
    }

    let mut walk = Walk {
        stack: Vec::new(),
        found: Files::default(),
        anchors: HashMap::new(),
    };
    if Parser::new_from_str(yaml).load(&mut walk, true).is_err() {
        return Vec::new();
    }
    walk.found
        .list
        .into_iter()
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty() && !p.chars().any(char::is_control))
        .map(|p| {
            if p.starts_with('/') {
                p
            } else {
                format!("{}/{}", dir.trim_end_matches('/'), p.trim_start_matches("./"))
            }
        })
        .collect()
}

/// At most this many env files are taken from one compose file (or one anchor).
pub const MAX_ENV_FILES: usize = 64;

/// A proxy configuration file is never read beyond this, nor more than this many files.
const MAX_PROXY_CONFIG: usize = 256 * 1024;
const MAX_PROXY_FILES: usize = 20;

/// The first public host a proxy configuration under `paths` (files or folders) serves,
/// as `https://…`, with the file it was read from.
async fn public_url_from_configs(
    session: &crate::engine::ssh::Session,
    paths: &[String],
) -> Result<Option<(String, String)>> {
    for path in paths {
        if !path.starts_with('/') || path.chars().any(char::is_control) {
            continue;
        }
        let list = session
            .exec_capped(
                &format!(
                    "find -L {} -maxdepth 2 -type f 2>/dev/null | head -n {MAX_PROXY_FILES}",
                    shell_quote(path)
                ),
                None,
                64 * 1024,
            )
            .await?;
        let files = String::from_utf8_lossy(&list.stdout).into_owned();
        for file in files.lines().filter(|f| {
            let name = f.rsplit('/').next().unwrap_or_default();
            name.starts_with("Caddyfile")
                || name.ends_with(".conf")
                || name.ends_with(".caddy")
                || f.contains("/sites-enabled/")
        }) {
            let out = session
                .exec_capped(
                    &format!("cat -- {}", shell_quote(file)),
                    None,
                    MAX_PROXY_CONFIG + 1,
                )
                .await?;
            if !out.success() || out.stdout.len() > MAX_PROXY_CONFIG {
                continue;
            }
            let text = String::from_utf8_lossy(&out.stdout);
            if let Some(h) = super::proxy::hosts_in(file, &text).first() {
                return Ok(Some((
                    format!("https://{h}"),
                    format!("the proxy configuration {}", display_safe(file.as_bytes())),
                )));
            }
        }
    }
    Ok(None)
}

fn role_of(service: &str, image: &str) -> Option<&'static str> {
    let s = service.to_ascii_lowercase();
    let i = image.to_ascii_lowercase();
    if ["postgres", "postgis", "timescale"].iter().any(|k| i.contains(k)) {
        Some("db")
    } else if ["caddy", "nginx", "traefik", "haproxy"]
        .iter()
        .any(|k| i.contains(k) || s.contains(k))
    {
        Some("proxy")
    } else if ["worker", "sidekiq", "celery", "jobs", "queue"]
        .iter()
        .any(|k| s.contains(k))
    {
        Some("worker")
    } else if ["web", "app", "api", "backend", "frontend", "rails", "server"]
        .iter()
        .any(|k| s.contains(k))
    {
        Some("web")
    } else {
        None
    }
}

/// A health check's URL path (`curl -f http://localhost:3000/up` → `/up`).
fn health_path(test: &[String]) -> Option<String> {
    test.iter().flat_map(|a| a.split_whitespace()).find_map(|w| {
        let rest = w.split_once("://").map(|(_, r)| r)?;
        let path = rest.find('/').map(|i| &rest[i..])?;
        (!path.is_empty() && path.chars().all(|c| c.is_ascii_graphic())).then(|| path.to_owned())
    })
}

impl Engine {
    /// Looks at a deployment that so far names only its hosts (see
    /// [`provisional_profile`]): read-only.
    pub async fn discover(&self, deployment: &str, project: Option<&str>) -> Result<Discovery> {
        let profile = self.profile(deployment).await?;
        let mut d = Discovery {
            hosts: Vec::new(),
            projects: Vec::new(),
            services: Vec::new(),
            database: None,
            db_container: None,
            redis: None,
            backups: None,
            public_url: None,
            pgbackrest: None,
            app_profile: None,
            app_profile_notes: Vec::new(),
            notes: Vec::new(),
        };
        let mut services: BTreeMap<String, ServiceFinding> = BTreeMap::new();
        let mut envs: Vec<(String, String, EnvFile)> = Vec::new();
        // Swarm services: their variables are set by the stack file, which no label names.
        let mut swarm_envs: Vec<String> = Vec::new();
        for h in &profile.hosts {
            let host = h.name.get_ref().clone();
            let pin = crate::engine::connect::pin_for(self.state(), &profile, &host).await?;
            let mut finding = HostFinding {
                name: host.clone(),
                roles: Vec::new(),
                pin,
                env_file: None,
                env_file_mode: None,
                docker: true,
            };
            let mut roles = BTreeSet::new();
            let engine = match self.docker(deployment, &host).await {
                Ok(docker) => Some(docker),
                Err(e) => {
                    finding.docker = false;
                    d.notes.push(format!(
                        "{host}: no Docker Engine answered ({e}); the host is written with docker = false"
                    ));
                    None
                }
            };
            let mut containers = Vec::new();
            // A swarm manager's services (a worker's tasks are named, not grouped).
            let mut swarm = None;
            if let Some(docker) = &engine {
                match docker.containers().await {
                    Ok(list) => containers = list.into_iter().map(|c| (docker.clone(), c)).collect(),
                    Err(e) => d
                        .notes
                        .push(format!("{host}: the Docker Engine did not list containers: {e}")),
                }
                swarm = docker.swarm_services().await.unwrap_or_else(|e| {
                    d.notes
                        .push(format!("{host}: the Swarm services could not be listed: {e}"));
                    None
                });
            }
            let mut dirs = BTreeSet::new();
            let mut config_files: BTreeSet<String> = BTreeSet::new();
            // Where a proxy container's configuration is, on the host (bind mounts).
            let mut proxy_configs: Vec<String> = Vec::new();
            let mut projects: BTreeSet<String> = BTreeSet::new();
            for (name, kind) in containers
                .iter()
                .filter_map(|(_, c)| c.compose_project.clone().map(|p| (p, "compose")))
                .chain(
                    swarm
                        .iter()
                        .flatten()
                        .filter_map(|s| s.stack.clone().map(|p| (p, "stack"))),
                )
            {
                if projects.insert(name.clone()) {
                    d.projects.push(ProjectFinding {
                        host: host.clone(),
                        name,
                        kind: kind.into(),
                    });
                }
            }
            if let Some(p) = project
                && !projects.is_empty()
                && !projects.contains(p)
            {
                d.notes.push(format!(
                    "{host}: no compose project {p:?} (it runs {})",
                    projects
                        .iter()
                        .map(|p| display_safe(p.as_bytes()))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            for (docker, c) in &containers {
                if let (Some(want), Some(has)) = (project, &c.compose_project)
                    && want != has
                {
                    continue;
                }
                if c.swarm_service.is_some() {
                    // A task of a Swarm service: the service is read from the manager.
                    if swarm.is_none() {
                        d.notes.push(format!(
                            "{host}: container {} is a task of Swarm service {}, and this engine is not a swarm manager: add the manager's host to see the service",
                            display_safe(c.name.as_bytes()),
                            display_safe(c.swarm_service.as_deref().unwrap_or_default().as_bytes())
                        ));
                    }
                    continue;
                }
                let Some(service) = c.compose_service.clone() else {
                    d.notes.push(format!(
                        "{host}: container {} has no compose labels: not grouped into a service",
                        display_safe(c.name.as_bytes())
                    ));
                    continue;
                };
                if let Some(r) = role_of(&service, &c.image) {
                    roles.insert(r);
                    if r == "db" && d.db_container.is_none() {
                        d.db_container = Some((host.clone(), c.name.clone()));
                    }
                }
                let details = docker.compose_details(&c.name).await.unwrap_or_default();
                if d.public_url.is_none()
                    && let Some(h) = details.public_hosts.first()
                {
                    d.public_url = Some((
                        format!("https://{h}"),
                        format!("the proxy labels of {}", display_safe(c.name.as_bytes())),
                    ));
                }
                if role_of(&service, &c.image) == Some("proxy") {
                    proxy_configs.extend(
                        details
                            .binds
                            .iter()
                            .filter(|(_, inside)| {
                                inside.starts_with("/etc/caddy")
                                    || inside.starts_with("/etc/nginx")
                                    || inside.ends_with("Caddyfile")
                            })
                            .map(|(host_path, _)| host_path.clone()),
                    );
                }
                if let Some(wd) = details.working_dir {
                    dirs.insert(wd);
                }
                if let Some(files) = &details.config_files {
                    config_files.extend(
                        files
                            .split(',')
                            .map(|f| f.trim().to_owned())
                            .filter(|f| f.starts_with('/')),
                    );
                }
                let s = services.entry(service.clone()).or_insert_with(|| ServiceFinding {
                    name: service.clone(),
                    containers: Vec::new(),
                    swarm_service: None,
                    docker_secrets: Vec::new(),
                    env: Vec::new(),
                    health_path: None,
                });
                s.containers.push(c.name.clone());
                let mut names: Vec<String> = c.env_names.clone();
                names.sort();
                s.env.extend(names);
                if s.health_path.is_none() {
                    s.health_path = health_path(&details.health_test);
                }
            }
            for svc in swarm.iter().flatten() {
                if let Some(want) = project
                    && svc.stack.as_deref() != Some(want)
                {
                    continue;
                }
                if let Some(r) = role_of(&svc.name, &svc.image) {
                    roles.insert(r);
                }
                if d.public_url.is_none()
                    && let Some(h) = svc.public_hosts.first()
                {
                    d.public_url = Some((
                        format!("https://{h}"),
                        format!(
                            "the proxy labels of Swarm service {}",
                            display_safe(svc.name.as_bytes())
                        ),
                    ));
                }
                // A profile's service name is lower case; the Swarm name is kept as is.
                let name: String = svc
                    .name
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                            c.to_ascii_lowercase()
                        } else {
                            '-'
                        }
                    })
                    .collect();
                let mut secrets: Vec<String> = svc.secrets.iter().map(|(s, _)| s.clone()).collect();
                secrets.sort();
                secrets.dedup();
                services.insert(
                    name.clone(),
                    ServiceFinding {
                        name,
                        containers: Vec::new(),
                        swarm_service: Some(svc.name.clone()),
                        docker_secrets: secrets,
                        env: svc.env_names.clone(),
                        health_path: health_path(&svc.health_test),
                    },
                );
                swarm_envs.push(svc.name.clone());
            }
            if dirs.len() > 1 {
                d.notes.push(format!(
                    "{host}: several compose projects ({}) in {}: the first one's .env is used; name the one to look at (`--project`)",
                    projects.iter().map(|p| display_safe(p.as_bytes())).collect::<Vec<_>>().join(", "),
                    dirs.iter().map(|p| display_safe(p.as_bytes())).collect::<Vec<_>>().join(", ")
                ));
            }
            if let Some(dir) = dirs.iter().next() {
                let session = self.session(deployment, &host).await?;
                // The env files the compose files name (`env_file:`), then the project's
                // `.env`: the first that exists is the host's env_file; every one read
                // tells which variables the services have.
                let mut candidates = Vec::new();
                for file in &config_files {
                    let out = session
                        .exec_capped(
                            &format!("cat -- {}", shell_quote(file)),
                            None,
                            MAX_COMPOSE_FILE + 1,
                        )
                        .await?;
                    if out.success() && out.stdout.len() <= MAX_COMPOSE_FILE {
                        candidates.extend(compose_env_files(&String::from_utf8_lossy(&out.stdout), dir));
                    } else {
                        d.notes.push(format!(
                            "{host}: the compose file {} could not be read",
                            display_safe(file.as_bytes())
                        ));
                    }
                }
                candidates.push(format!("{}/.env", dir.trim_end_matches('/')));
                let mut seen = BTreeSet::new();
                candidates.retain(|c| seen.insert(c.clone()));
                for path in candidates {
                    let q = shell_quote(&path);
                    let stat = session.exec(&format!("stat -c '%a %U:%G' -- {q}"), None).await?;
                    if !stat.success() {
                        continue;
                    }
                    let out = session
                        .exec_capped(
                            &format!("cat -- {q}"),
                            None,
                            crate::engine::envfile::MAX_ENV_FILE + 1,
                        )
                        .await?;
                    match out.success().then(|| EnvFile::parse_owned(out.stdout)) {
                        Some(Ok(env)) => {
                            if finding.env_file.is_none() {
                                finding.env_file = Some(path.clone());
                                finding.env_file_mode = Some(display_safe(&stat.stdout).trim().to_owned());
                            }
                            envs.push((host.clone(), path, env));
                        }
                        Some(Err(e)) => d
                            .notes
                            .push(format!("{host}: {path} is not a readable .env: {e}")),
                        None => d.notes.push(format!("{host}: {path} could not be read")),
                    }
                }
                if finding.env_file.is_none() {
                    d.notes.push(format!(
                        "{host}: no .env (nor an env_file the compose files name) in {}",
                        display_safe(dir.as_bytes())
                    ));
                }
                // Backups: beside the project, or where people usually keep them.
                let parent = std::path::Path::new(dir)
                    .parent()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default();
                let candidates = [
                    format!("{parent}/backups"),
                    format!("{}/backups", dir.trim_end_matches('/')),
                    "/var/backups/postgres".into(),
                    "/var/backups/postgresql".into(),
                    "/backups".into(),
                ];
                if d.backups.is_none() {
                    for c in candidates {
                        let found = session
                            .exec(&format!("test -d {}", shell_quote(&c)), None)
                            .await?;
                        if found.success() {
                            d.backups = Some((host.clone(), c));
                            break;
                        }
                    }
                }
            }
            if d.public_url.is_none() {
                // No label names it: the proxy's own configuration, mounted into its
                // container or installed on the host.
                proxy_configs.extend(
                    [
                        "/etc/caddy/Caddyfile",
                        "/etc/nginx/sites-enabled",
                        "/etc/nginx/conf.d",
                    ]
                    .map(str::to_owned),
                );
                let session = self.session(deployment, &host).await?;
                if let Some((url, from)) = public_url_from_configs(&session, &proxy_configs).await? {
                    d.public_url = Some((url, format!("{from} on {host}")));
                }
            }
            if d.pgbackrest.is_none() {
                let session = self.session(deployment, &host).await?;
                for conf in ["/etc/pgbackrest/pgbackrest.conf", "/etc/pgbackrest.conf"] {
                    if session.exec(&format!("test -f {conf}"), None).await?.success() {
                        d.pgbackrest = Some(format!("{host}:{conf}"));
                        break;
                    }
                }
            }
            finding.roles = roles.into_iter().map(str::to_owned).collect();
            d.hosts.push(finding);
        }

        // Which of a service's variables come from the .env: those the .env defines.
        let env_keys: BTreeSet<String> = envs
            .iter()
            .flat_map(|(_, _, e)| e.keys().map(str::to_owned))
            .collect();
        if !swarm_envs.is_empty() {
            d.notes.push(format!(
                "Swarm services ({}): their variables come from the stack file, which no label names; each lists every variable its task template sets",
                swarm_envs.iter().map(|n| display_safe(n.as_bytes())).collect::<Vec<_>>().join(", ")
            ));
        }
        for s in services.values_mut() {
            s.containers.sort();
            s.containers.dedup();
            if s.swarm_service.is_some() {
                continue;
            }
            s.env.retain(|v| env_keys.contains(v));
            s.env.sort();
            s.env.dedup();
        }
        d.services = services.into_values().collect();

        // The database and Redis the .env names (where, never the credentials).
        for (host, _, env) in &envs {
            let get = |k: &str| env.get(k).map(|v| v.expose().clone());
            if d.database.is_none() {
                let from_url = get("DATABASE_URL").and_then(|u| reqwest::Url::parse(&u).ok());
                let (address, port, name, tls) = match &from_url {
                    Some(u) if matches!(u.scheme(), "postgres" | "postgresql") => (
                        u.host_str().unwrap_or("127.0.0.1").to_owned(),
                        u.port().unwrap_or(5432),
                        u.path().trim_start_matches('/').to_owned(),
                        u.query_pairs()
                            .find(|(k, _)| k == "sslmode")
                            .map(|(_, v)| v.into_owned())
                            .filter(|m| m == "require" || m == "verify-full")
                            .unwrap_or_else(|| "disable".into()),
                    ),
                    _ => (
                        get("POSTGRES_HOST").unwrap_or_else(|| "127.0.0.1".into()),
                        get("POSTGRES_PORT").and_then(|p| p.parse().ok()).unwrap_or(5432),
                        get("POSTGRES_DB").unwrap_or_default(),
                        "disable".into(),
                    ),
                };
                if !name.is_empty() && (get("POSTGRES_PASSWORD").is_some() || from_url.is_some()) {
                    d.database = Some((host.clone(), address, port, name, tls));
                }
            }
            if d.redis.is_none()
                && let Some(u) = get("REDIS_URL").and_then(|u| reqwest::Url::parse(&u).ok())
                && matches!(u.scheme(), "redis" | "rediss")
            {
                let db = u.path().trim_start_matches('/').parse().unwrap_or(0);
                let password = get("REDIS_PASSWORD").map(|_| "REDIS_PASSWORD".to_owned());
                d.redis = Some((
                    host.clone(),
                    u.host_str().unwrap_or("127.0.0.1").to_owned(),
                    u.port().unwrap_or(6379),
                    password,
                    db,
                ));
            }
        }
        if d.database.is_none() {
            d.notes
                .push("no database found in any .env (DATABASE_URL or POSTGRES_*)".into());
        }
        Ok(d)
    }

    /// Which built-in app profile the live schema fits: tried on a deployment whose
    /// profile has the discovered `[database]`.
    pub async fn match_app_profile(&self, deployment: &str) -> Result<(Option<String>, Vec<String>)> {
        let db = self.database(deployment).await?;
        // The profile that fits with the most columns (a schema that serves a richer
        // profile also "fits" one that names less of it).
        let mut best: Option<(usize, String)> = None;
        let mut notes = Vec::new();
        for name in AppProfile::builtin_names() {
            let Some(p) = AppProfile::builtin(name) else {
                continue;
            };
            let check = super::catalog::check_against(&db, &p, deployment).await?;
            let missing: Vec<String> = check
                .items
                .iter()
                .filter(|i| !i.ok)
                .map(|i| i.names.clone())
                .collect();
            if missing.is_empty() && !check.items.is_empty() {
                if best.as_ref().is_none_or(|(n, _)| check.items.len() > *n) {
                    best = Some((check.items.len(), name.to_owned()));
                }
                notes.push(format!(
                    "{name}: all {} of its tables and columns found",
                    check.items.len()
                ));
            } else {
                notes.push(format!(
                    "{name}: {} missing ({})",
                    missing.len(),
                    missing.join(", ")
                ));
            }
        }
        Ok((best.map(|(_, name)| name), notes))
    }
}

/// What `init` is asked to look at.
#[derive(Debug, Clone)]
pub struct InitRequest {
    pub name: String,
    pub hosts: Vec<HostSpec>,
    pub auth: InitAuth,
    /// Pin the hosts from this OpenSSH known_hosts file instead of asking.
    pub known_hosts: Option<std::path::PathBuf>,
    /// The compose project to look at when a host runs several.
    pub project: Option<String>,
}

impl InitRequest {
    /// From text as typed: `[name=][user@]address[:port]` per host, `HOST=PATH` per
    /// Docker socket that is not the default.
    pub fn parse(
        name: &str,
        hosts: &[String],
        key: Option<&str>,
        docker_sockets: &[String],
        known_hosts: Option<std::path::PathBuf>,
    ) -> Result<InitRequest> {
        let mut specs = hosts
            .iter()
            .map(|h| HostSpec::parse(h))
            .collect::<Result<Vec<_>>>()?;
        if specs.is_empty() {
            return Err(Error::BadArgument {
                message: "init needs at least one host".into(),
            });
        }
        for ds in docker_sockets {
            let (host, path) = ds.split_once('=').ok_or_else(|| Error::BadArgument {
                message: format!(
                    "a Docker socket is given as HOST=PATH, found {:?}",
                    display_safe(ds.as_bytes())
                ),
            })?;
            let spec = specs
                .iter_mut()
                .find(|s| s.name == host)
                .ok_or_else(|| Error::BadArgument {
                    message: format!("a Docker socket names {host:?}, which is not one of the hosts"),
                })?;
            spec.docker_socket = Some(path.to_owned());
        }
        Ok(InitRequest {
            name: name.to_owned(),
            hosts: specs,
            auth: match key {
                Some(k) => InitAuth::KeyFile(k.to_owned()),
                None => InitAuth::Agent,
            },
            known_hosts,
            project: None,
        })
    }
}

/// Where `init` stands: a host key a person must confirm first, or what it found.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum InitStep {
    /// First contact: compare the key out of band, trust it, and ask again.
    NeedsTrust {
        host: String,
        fingerprint: String,
        key_type: String,
    },
    Found(Box<InitFound>),
}

/// What `init` found and the profile it wrote from it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct InitFound {
    pub profile_text: String,
    pub discovery: Discovery,
    /// For a deployment the console knew already: the lines that differ (`- …`, `+ …`)
    /// from the profile it has, comments aside.
    pub changes: Option<Vec<String>>,
}

impl Engine {
    /// Looks at the hosts of `req` and writes a profile, read-only. A deployment the
    /// console does not know is added with its hosts only while it is looked at (keep it
    /// with [`Engine::init_finish`], or drop it with [`Engine::init_abandon`]); a known
    /// one is looked at as its profile says, and the differences are listed.
    pub async fn init_discover(&self, req: &InitRequest) -> Result<InitStep> {
        // Known before `init` (a profile of the user's), or only added by an earlier
        // look of this same `init` (its staged profile), which is looked at afresh.
        let staged = self
            .state()
            .path()
            .with_file_name(format!("init-{}.toml", req.name));
        let known = match self.state().deployment_profile(&req.name).await {
            Ok((path, _)) if path != staged => self.profile(&req.name).await.ok(),
            _ => None,
        };
        if known.is_none() {
            let text = provisional_profile(&req.name, &req.hosts, &req.auth);
            self.stage_profile(&req.name, &text).await?;
        }
        let result = self.init_look(req, known.is_none()).await;
        if result.is_err() && known.is_none() {
            let _ = self.init_abandon(&req.name).await;
        }
        let mut step = result?;
        if let (InitStep::Found(found), Some(old)) = (&mut step, &known) {
            let (_, old_text) = self.state().deployment_profile(old.name()).await?;
            found.changes = Some(line_changes(&old_text, &found.profile_text));
        }
        Ok(step)
    }

    async fn init_look(&self, req: &InitRequest, provisional: bool) -> Result<InitStep> {
        let name = req.name.as_str();
        if let Some(kh) = &req.known_hosts {
            self.import_known_hosts(name, kh).await?;
        }
        let profile = self.profile(name).await?;
        for h in &profile.hosts {
            let host = h.name.get_ref();
            if crate::engine::connect::pin_for(self.state(), &profile, host)
                .await?
                .is_none()
                && let crate::engine::HostKeyProbe::Unknown {
                    fingerprint,
                    key_type,
                } = self.probe_host_key(name, host).await?
            {
                return Ok(InitStep::NeedsTrust {
                    host: host.clone(),
                    fingerprint,
                    key_type,
                });
            }
        }
        let mut found = self.discover(name, req.project.as_deref()).await?;
        if found.database.is_some() {
            // The schema, through the database the .env names: which app profile fits.
            // A new deployment is given the database found in its provisional profile.
            if provisional {
                self.stage_profile(name, &render(name, &req.auth, &req.hosts, &found))
                    .await?;
            }
            match self.match_app_profile(name).await {
                Ok((best, notes)) => {
                    found.app_profile = best;
                    found.app_profile_notes = notes;
                }
                Err(e) => found.notes.push(format!("the schema could not be checked: {e}")),
            }
        }
        let text = render(name, &req.auth, &req.hosts, &found);
        super::DeploymentProfile::parse(&text)?;
        Ok(InitStep::Found(Box::new(InitFound {
            profile_text: text,
            discovery: found,
            changes: None,
        })))
    }

    /// The profile of a deployment being looked at, kept beside the local database.
    async fn stage_profile(&self, name: &str, text: &str) -> Result<()> {
        let path = self.state().path().with_file_name(format!("init-{name}.toml"));
        std::fs::write(&path, text).map_err(|source| Error::ReadFile {
            path: path.clone(),
            source,
        })?;
        self.add_deployment(&path).await.map(|_| ())
    }

    /// Writes the profile `init` made to `out` (default: `<data dir>/deployments/<name>.toml`)
    /// and adds the deployment from it.
    pub async fn init_finish(
        &self,
        name: &str,
        text: &str,
        out: Option<&std::path::Path>,
    ) -> Result<crate::engine::state::KnownDeployment> {
        let out = match out {
            Some(p) => p.to_owned(),
            None => {
                let dir = self.state().path().with_file_name("deployments");
                std::fs::create_dir_all(&dir).map_err(|source| Error::ReadFile {
                    path: dir.clone(),
                    source,
                })?;
                dir.join(format!("{name}.toml"))
            }
        };
        std::fs::write(&out, text).map_err(|source| Error::ReadFile {
            path: out.clone(),
            source,
        })?;
        let added = self.add_deployment(&out).await?;
        let _ = std::fs::remove_file(self.state().path().with_file_name(format!("init-{name}.toml")));
        Ok(added)
    }

    /// Drops a deployment `init` added only to look at it (never a deployment that was
    /// known before: its staged profile is what says so).
    pub async fn init_abandon(&self, name: &str) -> Result<()> {
        let staged = self.state().path().with_file_name(format!("init-{name}.toml"));
        let ours = self
            .state()
            .deployment_profile(name)
            .await
            .map(|(path, _)| path == staged)
            .unwrap_or(false);
        if ours {
            self.remove_deployment(name).await?;
        }
        let _ = std::fs::remove_file(staged);
        Ok(())
    }
}

/// `- line` / `+ line` for what differs between two profiles, comments aside.
fn line_changes(old: &str, new: &str) -> Vec<String> {
    let content = |t: &str| -> BTreeSet<String> {
        t.lines()
            .map(|l| l.split("   #").next().unwrap_or(l).trim_end().to_owned())
            .filter(|l| !l.trim_start().starts_with('#') && !l.is_empty())
            .collect()
    };
    let (was, now) = (content(old), content(new));
    was.difference(&now)
        .map(|l| format!("- {l}"))
        .chain(now.difference(&was).map(|l| format!("+ {l}")))
        .collect()
}

/// The profile `init` writes: every finding, guesses marked as such, no secret.
pub fn render(name: &str, auth: &InitAuth, specs: &[HostSpec], d: &Discovery) -> String {
    let mut t = format!(
        "# Breakglass deployment profile, written by `breakglass init` from what the hosts showed.\n\
         # It holds no secret. Lines marked \"guess\" are worth a look before you add it.\n\
         name = {}\n",
        toml_str(name)
    );
    match &d.app_profile {
        Some(p) => {
            t += &format!(
                "app_profile = {}   # the live schema has every table and column it names\n",
                toml_str(p)
            )
        }
        None => {
            t += "app_profile = \"homechat\"   # guess: no built-in app profile fits the live schema; write your own (`breakglass app check`)\n";
        }
    }
    match &d.public_url {
        Some((url, from)) => {
            t += &format!(
                "public_url = {}   # guess: from {}\n",
                toml_str(url),
                display_safe(from.as_bytes())
            );
        }
        None => {
            t += "# public_url = \"https://…\"   # not found: set it to enable /health checks and app probes\n";
        }
    }
    t += &format!("\n[ssh]\nauth = {}\n", auth_toml(auth));
    for spec in specs {
        let Some(h) = d.hosts.iter().find(|h| h.name == spec.name) else {
            continue;
        };
        let roles: Vec<&str> = h.roles.iter().map(String::as_str).collect();
        let mut block = host_toml(spec, &roles, h.pin.as_deref(), h.env_file.as_deref());
        if !h.docker {
            block += "docker = false\n";
        }
        if let Some(mode) = &h.env_file_mode {
            let flag = if mode.starts_with("600") || mode.starts_with("400") {
                ""
            } else {
                "  (should be 600: `chmod 600` it)"
            };
            block = block.replacen(
                "\nenv_file = ",
                &format!("\n# .env mode and owner: {mode}{flag}\nenv_file = "),
                1,
            );
        }
        if roles.is_empty() {
            block +=
                "# roles: none recognised from the container names and images (web, worker, db, proxy)\n";
        }
        t += &block;
    }
    if let Some((via, address, port, dbname, tls)) = &d.database {
        t += &format!(
            "\n[database]\nvia_host = {}\naddress = {}\nport = {port}\nname = {}\ncredentials = \"env\"   # read from the .env of via_host at the moment of use\ntls = {}\n",
            toml_str(via),
            toml_str(address),
            toml_str(dbname),
            toml_str(tls)
        );
        if let Some((host, name)) = &d.db_container
            && host == via
        {
            t += &format!(
                "container = {}   # guess: PostgreSQL runs in this container, so restore tests use a throwaway container of its image\n",
                toml_str(name)
            );
        }
    }
    if let Some((via, address, port, password, db)) = &d.redis {
        t += &format!(
            "\n[redis]\nvia_host = {}\naddress = {}\nport = {port}\n",
            toml_str(via),
            toml_str(address)
        );
        if let Some(p) = password {
            t += &format!("password_env = {}\n", toml_str(p));
        }
        if *db != 0 {
            t += &format!("database = {db}\n");
        }
    }
    if let Some((host, path)) = &d.backups {
        t += &format!(
            "\n[backups]   # guess: the first backup folder found\nhost = {}\npath = {}\n",
            toml_str(host),
            toml_str(path)
        );
    }
    for s in &d.services {
        t += &format!("\n[[services]]\nname = {}\n", toml_str(&s.name));
        if let Some(swarm) = &s.swarm_service {
            t += &format!("swarm_service = {}\n", toml_str(swarm));
            if !s.docker_secrets.is_empty() {
                let secrets: Vec<String> = s.docker_secrets.iter().map(|c| toml_str(c)).collect();
                t += &format!("docker_secrets = [{}]\n", secrets.join(", "));
            }
        }
        if !s.containers.is_empty() || s.swarm_service.is_none() {
            let c: Vec<String> = s.containers.iter().map(|c| toml_str(c)).collect();
            t += &format!("containers = [{}]\n", c.join(", "));
        }
        let e: Vec<String> = s.env.iter().map(|v| toml_str(v)).collect();
        t += &format!("env = [{}]\n", e.join(", "));
        if let Some(p) = &s.health_path {
            t += &format!("health_path = {}\n", toml_str(p));
        }
    }
    if let Some(conf) = &d.pgbackrest {
        t += &format!(
            "\n# A pgBackRest configuration is at {}: its repository holds backups too.\n",
            display_safe(conf.as_bytes())
        );
    }
    if !d.notes.is_empty() || !d.app_profile_notes.is_empty() {
        t += "\n# What init noticed:\n";
        for n in d.notes.iter().chain(&d.app_profile_notes) {
            for line in display_safe(n.as_bytes()).lines() {
                t += &format!("#   {line}\n");
            }
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_specs_are_read_as_ssh_writes_them() {
        let h = HostSpec::parse("deploy@web1.example.com:2222").unwrap();
        assert_eq!(
            (h.name.as_str(), h.user.as_deref(), h.address.as_str(), h.port),
            ("web1-example-com", Some("deploy"), "web1.example.com", Some(2222))
        );
        let h = HostSpec::parse("app1=root@127.0.0.1:22201").unwrap();
        assert_eq!((h.name.as_str(), h.port), ("app1", Some(22201)));
        let h = HostSpec::parse("[::1]:22").unwrap();
        assert_eq!((h.address.as_str(), h.port), ("::1", Some(22)));
        for bad in ["", "a b", "host:99999", "u;rm@h", "h:x", "[::1", "=h", "x\u{1b}"] {
            assert_eq!(
                HostSpec::parse(bad).unwrap_err().code(),
                "argument.invalid",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn env_files_are_read_from_compose_files_in_every_form() {
        let yaml = "services:\n  web:\n    env_file: ./app.env\n  worker:\n    env_file:\n      - shared.env\n      - /etc/app/extra.env\n  db:\n    env_file:\n      - path: ./db.env\n        required: false\n  cache:\n    image: redis\n";
        assert_eq!(
            compose_env_files(yaml, "/srv/shop/"),
            [
                "/srv/shop/app.env",
                "/srv/shop/shared.env",
                "/etc/app/extra.env",
                "/srv/shop/db.env"
            ]
        );
        for garbage in [
            "",
            "services: [",
            "services: 3",
            "- a\n- b",
            "\u{0}",
            "env_file: top.env",
        ] {
            assert!(compose_env_files(garbage, "/x").is_empty(), "{garbage:?}");
        }
        // Anchors and merge keys, as real compose files use them.
        // Anchors and merge keys: a service's own env_file wins over a merged one, as
        // YAML's merge does; chains and lists of merges are followed.
        let anchored = "x-common: &common\n  env_file: common.env\nservices:\n  web:\n    <<: *common\n    env_file: web.env\n  worker:\n    <<: *common\n    image: w\n";
        assert_eq!(compose_env_files(anchored, "/p"), ["/p/web.env", "/p/common.env"]);
        let chain = "x-a: &a\n  env_file: [a.env, shared.env]\nx-b: &b\n  <<: *a\n  image: b\nx-c: &c\n  env_file:\n    - path: c.env\nservices:\n  api:\n    <<: [*b, *c]\n";
        assert_eq!(
            compose_env_files(chain, "/p"),
            ["/p/a.env", "/p/shared.env", "/p/c.env"]
        );
        // An alias that is not under a merge key, or an anchor that names none: nothing.
        let other = "x-e: &e\n  image: x\nservices:\n  api:\n    <<: *e\n    environment: *e\n";
        assert!(compose_env_files(other, "/p").is_empty());
    }

    #[test]
    fn an_alias_bomb_costs_its_size_and_no_more() {
        // "Billion laughs": nine levels of ten references each, expanded it is 10^9 nodes.
        let mut y = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for i in 1..9 {
            let p = i - 1;
            y += &format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            );
        }
        y += "services:\n  web:\n    env_file: x.env\n    extra: *a8\n";
        let t = std::time::Instant::now();
        assert_eq!(compose_env_files(&y, "/d"), ["/d/x.env"]);
        assert!(
            t.elapsed() < std::time::Duration::from_secs(5),
            "{:?}",
            t.elapsed()
        );
        // The same through merge keys: each anchor merges all before it, and every
        // service merges every anchor; an anchor's list is kept, never re-expanded.
        let mut y = String::new();
        for i in 0..200 {
            let files: Vec<String> = (0..100).map(|f| format!("f{}.env", (i + f) % 150)).collect();
            y += &format!("x-{i}: &a{i}\n  env_file: [{}]\n", files.join(", "));
            if i > 0 {
                let prev: Vec<String> = (0..i).map(|p| format!("*a{p}")).collect();
                y += &format!("  <<: [{}]\n", prev.join(", "));
            }
        }
        y += "services:\n";
        let all: Vec<String> = (0..200).map(|p| format!("*a{p}")).collect();
        for s in 0..200 {
            y += &format!("  s{s}:\n    <<: [{}]\n", all.join(", "));
        }
        let t = std::time::Instant::now();
        let files = compose_env_files(&y, "/d");
        assert_eq!(files.len(), MAX_ENV_FILES);
        assert!(
            t.elapsed() < std::time::Duration::from_secs(5),
            "{:?}",
            t.elapsed()
        );
    }

    #[test]
    fn roles_and_health_paths_are_read_from_what_containers_say() {
        assert_eq!(role_of("web", "ghcr.io/acme/app:1"), Some("web"));
        assert_eq!(role_of("sidekiq", "acme/app"), Some("worker"));
        assert_eq!(role_of("db", "postgres:16"), Some("db"));
        assert_eq!(role_of("proxy", "caddy:2"), Some("proxy"));
        assert_eq!(role_of("misc", "busybox"), None);
        let t = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            health_path(&t(&["CMD-SHELL", "curl -f http://localhost:3000/up || exit 1"])).as_deref(),
            Some("/up")
        );
        assert_eq!(health_path(&t(&["CMD", "/app/bin", "healthcheck"])), None);
    }

    #[test]
    fn the_rendered_profile_parses_and_holds_what_was_found() {
        let specs = vec![HostSpec::parse("app1=root@127.0.0.1:22201").unwrap()];
        let d = Discovery {
            hosts: vec![HostFinding {
                name: "app1".into(),
                roles: vec!["web".into()],
                pin: Some("SHA256:oniwVBZW2J8SW5HTT+1yMdWplE0t/CkX/2uofOgHQus".into()),
                env_file: Some("/srv/app/.env".into()),
                env_file_mode: Some("644 root:root".into()),
                docker: true,
            }],
            projects: Vec::new(),
            services: vec![
                ServiceFinding {
                    name: "web".into(),
                    containers: vec!["web1".into()],
                    swarm_service: None,
                    docker_secrets: Vec::new(),
                    env: vec!["SECRET_KEY_BASE".into()],
                    health_path: Some("/up".into()),
                },
                ServiceFinding {
                    name: "shop_api".into(),
                    containers: Vec::new(),
                    swarm_service: Some("shop_api".into()),
                    docker_secrets: vec!["shop_key_v1".into()],
                    env: vec!["RAILS_ENV".into()],
                    health_path: None,
                },
            ],
            database: Some((
                "app1".into(),
                "127.0.0.1".into(),
                5432,
                "app".into(),
                "disable".into(),
            )),
            db_container: Some(("app1".into(), "shop-db-1".into())),
            redis: Some((
                "app1".into(),
                "127.0.0.1".into(),
                6379,
                Some("REDIS_PASSWORD".into()),
                2,
            )),
            backups: Some(("app1".into(), "/srv/backups".into())),
            public_url: Some((
                "https://chat.example.com".into(),
                "the proxy labels of web1".into(),
            )),
            pgbackrest: Some("app1:/etc/pgbackrest/pgbackrest.conf".into()),
            app_profile: Some("homechat".into()),
            app_profile_notes: vec!["harmonic: 1 missing (x)".into()],
            notes: vec!["app1: a note with \u{1b}[31m an escape".into()],
        };
        let text = render("prod", &InitAuth::Agent, &specs, &d);
        let p = crate::engine::profiles::DeploymentProfile::parse(&text)
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(p.name(), "prod");
        assert_eq!(p.services[0].env[0].get_ref(), "SECRET_KEY_BASE");
        assert_eq!(p.redis.as_ref().unwrap().database, 2);
        let db = p.database.as_ref().unwrap();
        assert_eq!(db.container.as_ref().unwrap().get_ref(), "shop-db-1");
        assert!(p.backups.as_ref().unwrap().into_container(db), "{text}");
        let api = &p.services[1];
        assert!(api.containers.is_empty(), "{text}");
        assert_eq!(api.swarm_service.as_ref().unwrap().get_ref(), "shop_api");
        assert_eq!(api.docker_secrets[0].get_ref(), "shop_key_v1");
        assert_eq!(
            p.public_url.as_ref().unwrap().get_ref(),
            "https://chat.example.com"
        );
        assert!(text.contains("pgBackRest configuration is at app1:/etc/pgbackrest/pgbackrest.conf"));
        assert!(text.contains("(should be 600"), "{text}");
        assert!(!text.contains('\u{1b}'), "{text}");
    }
}
