//! The Docker Engine API of a remote host, with bollard, over the host's SSH connection:
//! every request opens a `direct-streamlocal` channel to the remote Docker socket. Never
//! an exposed TCP daemon, never the system `ssh` binary. The API version is negotiated
//! (a Debian 12 engine speaks 1.41).
//!
//! What leaves this module is a summary written for people: `inspect` reports the names
//! of a container's environment variables, never their values (they are secrets).

pub mod recreate;
mod transport;

use crate::engine::error::ErrorCode;
use std::collections::BTreeMap;
use std::sync::Arc;

use bollard::Docker;
use bollard::query_parameters::{InspectContainerOptions, ListContainersOptionsBuilder, LogsOptionsBuilder};
use futures_util::StreamExt;
use serde::Serialize;

use crate::engine::ssh::Session;
use crate::engine::ssh::output::{Capped, display_safe};

#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("{host}: Docker Engine at {socket}: {source}")]
    Api {
        host: String,
        socket: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("{host}: no container named {name:?}")]
    NoSuchContainer { host: String, name: String },
    /// A name that is not a Docker name: it would change the API path it goes into.
    #[error(
        "{what} {name:?} is not a Docker name (letters, digits, '_', '.', '-', starting with a letter or digit)"
    )]
    BadName { what: &'static str, name: String },
}

/// Checks a container or network name (or id) before it goes into an API path: Docker's
/// own rule, `[a-zA-Z0-9][a-zA-Z0-9_.-]*` (a container's may start with `/`), at most
/// 255 bytes. `../`, `?`, `#`, `%` and spaces never reach a URL.
pub fn check_name(what: &'static str, name: &str) -> Result<(), DockerError> {
    let bare = name.strip_prefix('/').unwrap_or(name);
    let ok = !bare.is_empty()
        && bare.len() <= 255
        && bare.starts_with(|c: char| c.is_ascii_alphanumeric())
        && bare
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(DockerError::BadName {
            what,
            name: display_safe(name.as_bytes()),
        })
    }
}

impl DockerError {
    pub fn code(&self) -> ErrorCode {
        match self {
            DockerError::Api { .. } => ErrorCode::DockerApi,
            DockerError::NoSuchContainer { .. } => ErrorCode::DockerNoSuchContainer,
            DockerError::BadName { .. } => ErrorCode::DockerBadName,
        }
    }
}

/// One host's Docker Engine.
#[derive(Clone)]
pub struct RemoteDocker {
    host: String,
    socket: String,
    docker: Docker,
    /// The same transport, for requests whose JSON must not go through bollard's models
    /// (see [`RemoteDocker::raw_json`]).
    raw: Arc<transport::SshSocketTransport>,
}

/// A container as the console lists it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ContainerInfo {
    pub host: String,
    pub name: String,
    pub id: String,
    pub image: String,
    pub state: String,
    pub status: String,
    /// `healthy`, `unhealthy`, `starting`, or `none` when it has no health check.
    pub health: String,
    pub compose_project: Option<String>,
    pub compose_service: Option<String>,
    /// The Swarm service this container is a task of (`com.docker.swarm.service.name`).
    pub swarm_service: Option<String>,
    pub user: String,
    pub ports: Vec<String>,
    pub restart_count: i64,
    /// The names of its labels. Values are not passed on: compose fills labels from
    /// `.env` and proxies keep credentials in them (Traefik's basic-auth users).
    pub label_names: Vec<String>,
    /// The names of the variables in its environment; values are never read out.
    pub env_names: Vec<String>,
}

/// A container's compose project and health check (see [`RemoteDocker::compose_details`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComposeDetails {
    /// Host names a proxy's labels route to this container.
    pub public_hosts: Vec<String>,
    pub working_dir: Option<String>,
    pub config_files: Option<String>,
    pub health_test: Vec<String>,
    /// Its bind mounts, `(path on the host, path in the container)`.
    pub binds: Vec<(String, String)>,
}

/// A Swarm service as its manager describes it: names only, never a value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SwarmServiceInfo {
    pub name: String,
    /// The stack it was deployed with (`com.docker.stack.namespace`), if any.
    pub stack: Option<String>,
    pub image: String,
    /// The names of the variables in its task template.
    pub env_names: Vec<String>,
    /// The Docker secrets it mounts, each `(secret name, target file name)`.
    pub secrets: Vec<(String, String)>,
    pub health_test: Vec<String>,
    /// Host names a proxy's labels (on the service or its containers) route to it.
    pub public_hosts: Vec<String>,
}

/// The host names a proxy routes to, from labels: Traefik's router rules
/// (`Host(`shop.example.com`)`) and caddy-docker-proxy's `caddy` label. Only these label
/// values are read (others may hold credentials), and only what is a host name is kept.
fn public_hosts_of<'a>(labels: impl Iterator<Item = (&'a String, &'a String)>) -> Vec<String> {
    let mut public_hosts = Vec::new();
    for (k, v) in labels {
        let candidates: Vec<&str> = if k.starts_with("traefik.http.routers.") && k.ends_with(".rule") {
            v.split("Host(")
                .skip(1)
                .filter_map(|rest| rest.split(')').next())
                .collect()
        } else if k == "caddy" {
            v.split([',', ' ']).collect()
        } else {
            continue;
        };
        for c in candidates {
            let host = c.trim().trim_matches(|ch| ch == '`' || ch == '"' || ch == '\'');
            let host = host
                .strip_prefix("https://")
                .or_else(|| host.strip_prefix("http://"))
                .unwrap_or(host);
            if is_host_name(host) {
                public_hosts.push(host.to_ascii_lowercase());
            }
        }
    }
    public_hosts.sort();
    public_hosts.dedup();
    public_hosts
}

/// A DNS name with at least one dot: what a public URL's host can be.
pub fn is_host_name(host: &str) -> bool {
    host.contains('.')
        && host.len() <= 253
        && !host.starts_with(['.', '-'])
        && !host.ends_with(['.', '-'])
        && host
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '.' || ch == '-')
}

/// The result of `exec` in a container.
#[derive(Debug, Clone, Serialize)]
pub struct ContainerExec {
    pub exit_code: Option<i64>,
    /// Display-safe (escape sequences made visible), capped.
    pub output: String,
    pub truncated: bool,
}

impl RemoteDocker {
    /// Connects to the Docker socket at `socket` on the host behind `session`.
    pub async fn connect(
        session: Arc<Session>,
        socket: &str,
        timeout_secs: u64,
    ) -> Result<Self, DockerError> {
        let host = session.host().to_owned();
        let api = |source| DockerError::Api {
            host: host.clone(),
            socket: socket.to_owned(),
            source,
        };
        let raw = Arc::new(transport::SshSocketTransport::new(
            session.clone(),
            socket.to_owned(),
        ));
        let transport = transport::SshSocketTransport::new(session.clone(), socket.to_owned()).into_fn();
        let docker = Docker::connect_with_custom_transport(
            transport,
            Some("http://docker.sock"),
            timeout_secs,
            bollard::API_DEFAULT_VERSION,
        )
        .map_err(api)?;
        let docker = docker.negotiate_version().await.map_err(api)?;
        Ok(RemoteDocker {
            host: host.clone(),
            socket: socket.to_owned(),
            docker,
            raw,
        })
    }

    /// A request at the negotiated API version whose body and answer are JSON exactly as
    /// the engine spells it. For what goes back to the engine unchanged, like a service's
    /// spec: bollard's models drop what they name otherwise (they call a task's health
    /// check `HealthCheck`, the engine `Healthcheck`), and an update sent from them would
    /// silently remove it. `path` must be made of checked names.
    pub async fn raw_json(
        &self,
        method: hyper::Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value, DockerError> {
        let api = self.api();
        let io = |e: &dyn std::fmt::Display| {
            api(bollard::errors::Error::IOError {
                err: std::io::Error::other(e.to_string()),
            })
        };
        let v = self.docker.client_version();
        let bytes = match body {
            Some(b) => serde_json::to_vec(b).map_err(|e| io(&e))?,
            None => Vec::new(),
        };
        let request = hyper::Request::builder()
            .method(method)
            .uri(format!("/v{}.{}{path}", v.major_version, v.minor_version))
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(bollard::body_full(bytes.into()))
            .map_err(|e| io(&e))?;
        let response = self.raw.send(request).await.map_err(&api)?;
        let status = response.status();
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .map_err(|e| io(&e))?
            .to_bytes();
        if !status.is_success() {
            // The engine's own message, as bollard reports one.
            let message = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
                .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
            return Err(api(bollard::errors::Error::DockerResponseServerError {
                status_code: status.as_u16(),
                message: display_safe(message.as_bytes()),
            }));
        }
        if body.is_empty() {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_slice(&body).map_err(|e| io(&e))
    }

    /// An API error of this host's engine, naming host and socket.
    pub fn api(&self) -> impl Fn(bollard::errors::Error) -> DockerError + '_ {
        |source| DockerError::Api {
            host: self.host.clone(),
            socket: self.socket.clone(),
            source,
        }
    }

    /// The error of a call about container `name`: 404 means no such container on this
    /// host, anything else is an API error.
    pub fn error_for<'a>(&'a self, name: &'a str) -> impl Fn(bollard::errors::Error) -> DockerError + 'a {
        move |e| match e {
            bollard::errors::Error::DockerResponseServerError { status_code: 404, .. } => {
                DockerError::NoSuchContainer {
                    host: self.host.clone(),
                    name: name.to_owned(),
                }
            }
            e => (self.api())(e),
        }
    }

    pub fn client(&self) -> &Docker {
        &self.docker
    }

    /// The engine's version string.
    pub async fn version(&self) -> Result<String, DockerError> {
        let v = self.docker.version().await.map_err(self.api())?;
        Ok(format!(
            "{} (API {})",
            v.version.unwrap_or_else(|| "?".into()),
            v.api_version.unwrap_or_else(|| "?".into())
        ))
    }

    /// Every container on the host, running or not, with its health and restart count.
    pub async fn containers(&self) -> Result<Vec<ContainerInfo>, DockerError> {
        let opts = ListContainersOptionsBuilder::default().all(true).build();
        let list = self
            .docker
            .list_containers(Some(opts))
            .await
            .map_err(self.api())?;
        let inspections = list.iter().map(|c| async move {
            match &c.id {
                Some(id) => self.inspect(id).await.ok(),
                None => None,
            }
        });
        let mut out: Vec<ContainerInfo> = futures_util::future::join_all(inspections)
            .await
            .into_iter()
            .flatten()
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// What discovery needs of a container beyond [`ContainerInfo`]: its compose
    /// project's working directory and config files (paths, not secrets: the only label
    /// values read), and its health check's command.
    pub async fn compose_details(&self, name: &str) -> Result<ComposeDetails, DockerError> {
        check_name("container", name)?;
        let c = self
            .docker
            .inspect_container(name, None::<bollard::query_parameters::InspectContainerOptions>)
            .await
            .map_err(self.error_for(name))?;
        let config = c.config.unwrap_or_default();
        let label = |k: &str| config.labels.as_ref().and_then(|l| l.get(k)).cloned();
        let public_hosts = public_hosts_of(config.labels.iter().flatten());
        let binds = c
            .mounts
            .unwrap_or_default()
            .into_iter()
            .filter(|m| m.typ.as_deref() == Some("bind"))
            .filter_map(|m| Some((m.source?, m.destination?)))
            .collect();
        Ok(ComposeDetails {
            public_hosts,
            working_dir: label("com.docker.compose.project.working_dir"),
            config_files: label("com.docker.compose.project.config_files"),
            health_test: config.healthcheck.and_then(|h| h.test).unwrap_or_default(),
            binds,
        })
    }

    /// The Swarm services, when this engine is a swarm manager; `None` when it is not in
    /// a swarm or cannot answer for it (a worker).
    pub async fn swarm_services(&self) -> Result<Option<Vec<SwarmServiceInfo>>, DockerError> {
        let info = self.docker.info().await.map_err(self.api())?;
        let manager = info
            .swarm
            .as_ref()
            .and_then(|s| s.control_available)
            .unwrap_or(false);
        if !manager {
            return Ok(None);
        }
        let list = self
            .docker
            .list_services(None::<bollard::query_parameters::ListServicesOptions>)
            .await
            .map_err(self.api())?;
        let mut out: Vec<SwarmServiceInfo> = list
            .into_iter()
            .filter_map(|svc| {
                let spec = svc.spec?;
                let name = spec.name?;
                let labels = spec.labels.unwrap_or_default();
                let container = spec
                    .task_template
                    .and_then(|t| t.container_spec)
                    .unwrap_or_default();
                let container_labels = container.labels.unwrap_or_default();
                let mut env_names: Vec<String> = container
                    .env
                    .unwrap_or_default()
                    .iter()
                    .map(|kv| kv.split_once('=').map(|(k, _)| k).unwrap_or(kv).to_owned())
                    .collect();
                env_names.sort();
                env_names.dedup();
                let secrets = container
                    .secrets
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|s| {
                        let secret = s.secret_name?;
                        let target = s.file.and_then(|f| f.name).unwrap_or_else(|| secret.clone());
                        Some((secret, target))
                    })
                    .collect();
                Some(SwarmServiceInfo {
                    stack: labels.get("com.docker.stack.namespace").cloned(),
                    public_hosts: public_hosts_of(labels.iter().chain(container_labels.iter())),
                    image: container
                        .image
                        .unwrap_or_default()
                        .split('@')
                        .next()
                        .unwrap_or_default()
                        .to_owned(),
                    env_names,
                    secrets,
                    health_test: container.health_check.and_then(|h| h.test).unwrap_or_default(),
                    name,
                })
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Some(out))
    }

    /// One container, by name or id.
    pub async fn inspect(&self, name: &str) -> Result<ContainerInfo, DockerError> {
        check_name("container", name)?;
        let c = self
            .docker
            .inspect_container(name, None::<InspectContainerOptions>)
            .await
            .map_err(self.error_for(name))?;
        let state = c.state.clone().unwrap_or_default();
        let config = c.config.clone().unwrap_or_default();
        let labels: BTreeMap<String, String> =
            config.labels.clone().unwrap_or_default().into_iter().collect();
        let health = state
            .health
            .as_ref()
            .and_then(|h| h.status)
            .map(|s| s.to_string())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "none".into());
        let status = state.status.map(|s| s.to_string()).unwrap_or_default();
        let ports = c
            .network_settings
            .as_ref()
            .and_then(|n| n.ports.clone())
            .map(|p| {
                p.into_iter()
                    .flat_map(|(port, binds)| {
                        binds.unwrap_or_default().into_iter().map(move |b| {
                            format!(
                                "{}:{}->{}",
                                b.host_ip.unwrap_or_default(),
                                b.host_port.unwrap_or_default(),
                                port
                            )
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(ContainerInfo {
            host: self.host.clone(),
            name: c
                .name
                .clone()
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_owned(),
            id: c.id.clone().unwrap_or_default().chars().take(12).collect(),
            image: config.image.clone().unwrap_or_default(),
            state: status.clone(),
            status: describe_state(&status, state.exit_code, state.started_at.as_deref()),
            health,
            compose_project: labels.get("com.docker.compose.project").cloned(),
            compose_service: labels.get("com.docker.compose.service").cloned(),
            swarm_service: labels.get("com.docker.swarm.service.name").cloned(),
            user: config
                .user
                .clone()
                .filter(|u| !u.is_empty())
                .unwrap_or_else(|| "root (default)".into()),
            ports,
            restart_count: c.restart_count.unwrap_or(0),
            env_names: config
                .env
                .unwrap_or_default()
                .iter()
                .map(|kv| kv.split_once('=').map(|(k, _)| k).unwrap_or(kv).to_owned())
                .collect(),
            label_names: labels.into_keys().collect(),
        })
    }

    /// The last `tail` lines of a container's logs, display-safe and capped.
    pub async fn logs(&self, name: &str, tail: usize, cap: usize) -> Result<(String, bool), DockerError> {
        check_name("container", name)?;
        let opts = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .tail(&tail.to_string())
            .build();
        let mut stream = self.docker.logs(name, Some(opts));
        let mut buf = Capped::new(cap);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(self.api())?;
            buf.push(&chunk.into_bytes());
            if buf.truncated {
                break;
            }
        }
        Ok((display_safe(&buf.bytes), buf.truncated))
    }

    /// Follows a container's logs, calling `line` for each display-safe chunk until it
    /// returns false or the stream ends.
    pub async fn follow_logs(
        &self,
        name: &str,
        mut line: impl FnMut(String) -> bool,
    ) -> Result<(), DockerError> {
        check_name("container", name)?;
        let opts = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .follow(true)
            .tail("0")
            .build();
        let mut stream = self.docker.logs(name, Some(opts));
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(self.api())?;
            if !line(display_safe(&chunk.into_bytes())) {
                break;
            }
        }
        Ok(())
    }

    /// Runs a command in a container (argv, no shell) and collects its output.
    pub async fn exec(&self, name: &str, argv: &[&str], cap: usize) -> Result<ContainerExec, DockerError> {
        check_name("container", name)?;
        use bollard::exec::{CreateExecOptions, StartExecResults};
        let created = self
            .docker
            .create_exec(
                name,
                CreateExecOptions {
                    cmd: Some(argv.iter().map(|s| s.to_string()).collect()),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await
            .map_err(self.error_for(name))?;
        let mut buf = Capped::new(cap);
        if let StartExecResults::Attached { mut output, .. } = self
            .docker
            .start_exec(&created.id, None)
            .await
            .map_err(self.api())?
        {
            while let Some(chunk) = output.next().await {
                buf.push(&chunk.map_err(self.api())?.into_bytes());
            }
        }
        let inspected = self.docker.inspect_exec(&created.id).await.map_err(self.api())?;
        Ok(ContainerExec {
            exit_code: inspected.exit_code,
            output: display_safe(&buf.bytes),
            truncated: buf.truncated,
        })
    }
}

fn describe_state(status: &str, exit_code: Option<i64>, started: Option<&str>) -> String {
    match (status, exit_code) {
        ("running", _) => format!("running since {}", started.unwrap_or("?")),
        ("exited", Some(code)) => format!("exited with code {code}"),
        (s, _) => s.to_owned(),
    }
}

#[cfg(test)]
mod name_tests {
    use super::check_name;

    #[test]
    fn only_docker_names_reach_an_api_path() {
        for ok in [
            "web1",
            "/web1",
            "app_web.1",
            "a-b",
            "0123456789ab",
            "sandbox_default",
        ] {
            assert!(check_name("container", ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/",
            "../../containers/x",
            "web1?force=true",
            "web1#x",
            "web 1",
            "%2e%2e",
            "-web",
            ".hidden",
            "web1/../x",
            "\u{1b}[31m",
            &"a".repeat(256),
        ] {
            let e = check_name("network", bad).unwrap_err();
            assert_eq!(e.code(), "docker.bad_name", "{bad:?}");
            assert!(!e.to_string().contains('\u{1b}'), "{e}");
        }
    }
}
