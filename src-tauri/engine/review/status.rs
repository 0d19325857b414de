//! `status`: the whole deployment at a glance, every host in parallel. Per host: is it
//! reachable, how long a round trip takes, the Docker Engine's version and every
//! container with its health; then the database and the application's `/health`.
//! One failing part never hides the others: each carries its own error.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::engine::docker::ContainerInfo;
use crate::engine::ssh::SshError;
use crate::engine::{Engine, ErrorReport};

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct DeploymentStatus {
    pub deployment: String,
    pub checked_at: String,
    pub hosts: Vec<HostStatus>,
    pub database: Option<Check>,
    pub app_health: Option<Check>,
    /// Milliseconds the whole status took.
    pub took_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct HostStatus {
    pub name: String,
    pub address: String,
    pub roles: Vec<String>,
    pub reachable: bool,
    /// Time to connect and authenticate, when this status opened the connection.
    pub connect_ms: Option<f64>,
    /// One SSH round trip over the held connection (no remote process is started).
    pub latency_ms: Option<f64>,
    pub host_key: Option<String>,
    /// Set when the host key is not trusted yet, or has changed: what to show a person.
    pub host_key_problem: Option<HostKeyProblem>,
    pub error: Option<ErrorReport>,
    pub docker_version: Option<String>,
    pub docker_error: Option<ErrorReport>,
    /// The deployment's containers on this host: those its profile's services name (or the
    /// task containers of its Swarm services); every container when the profile names none.
    pub containers: Vec<ContainerInfo>,
    /// Whatever else runs on the host: shown, never judged (another project's unhealthy
    /// container does not make this deployment degraded).
    pub other_containers: Vec<ContainerInfo>,
}

/// A host key that stops the connection.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HostKeyProblem {
    /// First contact: the key needs an explicit trust.
    Unknown { fingerprint: String, key_type: String },
    /// The key differs from the pin: refused, no override.
    Changed { pinned: String, seen: String },
}

/// The outcome of one check.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Check {
    pub ok: bool,
    pub latency_ms: Option<f64>,
    pub detail: String,
    pub error: Option<ErrorReport>,
}

impl DeploymentStatus {
    /// Every host reachable, every Docker Engine answering, every container of the
    /// deployment that has a health check healthy, the database and the app's health answering. What `status`
    /// exits 0 for; anything less exits 1.
    pub fn all_good(&self) -> bool {
        self.hosts.iter().all(|h| {
            h.reachable
                && h.error.is_none()
                && h.docker_error.is_none()
                && h.containers.iter().all(|c| c.health != "unhealthy")
        }) && self.database.as_ref().is_none_or(|c| c.ok)
            && self.app_health.as_ref().is_none_or(|c| c.ok)
    }
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 100_000.0).round() / 100.0
}

impl Engine {
    pub async fn status(&self, deployment: &str) -> crate::engine::Result<DeploymentStatus> {
        let started = Instant::now();
        let profile = self.profile(deployment).await?;
        let summary = profile.summary();
        let ours = Ours::of(&profile);
        let hosts = summary
            .hosts
            .iter()
            .map(|h| self.host_status(deployment, h, &ours));
        let db = async {
            let db = profile.database.as_ref()?;
            let t = Instant::now();
            Some(match self.database(deployment).await {
                Ok(remote) => match remote.ping().await {
                    Ok((version, rtt)) => Check {
                        ok: true,
                        latency_ms: Some(ms(rtt)),
                        detail: format!("PostgreSQL {version}, {} via {}", db.name, db.via_host.get_ref()),
                        error: None,
                    },
                    Err(e) => failed(t, crate::engine::Error::from(e)),
                },
                Err(e) => failed(t, e),
            })
        };
        let health = async {
            let url = profile.public_url.as_ref()?.get_ref().clone();
            let path = profile
                .services
                .iter()
                .find_map(|s| s.health_path.clone())
                .unwrap_or_else(|| "/health".into());
            let ca = profile.public_url_ca.as_ref().map(|c| c.get_ref().clone());
            Some(crate::engine::http::check_health(&url, &path, ca.as_deref()).await)
        };
        let (hosts, database, app_health) = tokio::join!(futures_util::future::join_all(hosts), db, health);
        Ok(DeploymentStatus {
            deployment: deployment.to_owned(),
            checked_at: crate::engine::state::now_rfc3339(),
            hosts,
            database,
            app_health,
            took_ms: ms(started.elapsed()),
        })
    }

    async fn host_status(
        &self,
        deployment: &str,
        h: &crate::engine::profiles::HostSummary,
        ours: &Ours,
    ) -> HostStatus {
        let mut st = HostStatus {
            name: h.name.clone(),
            address: match &h.jump {
                Some(j) => format!("{}:{} via {j}", h.address, h.port),
                None => format!("{}:{}", h.address, h.port),
            },
            roles: h.roles.clone(),
            reachable: false,
            connect_ms: None,
            latency_ms: None,
            host_key: None,
            host_key_problem: None,
            error: None,
            docker_version: None,
            docker_error: None,
            containers: Vec::new(),
            other_containers: Vec::new(),
        };
        let session = match self.session(deployment, &h.name).await {
            Ok(s) => s,
            Err(e) => {
                st.host_key_problem = key_problem(&e, &h.name);
                st.error = Some(e.into());
                return st;
            }
        };
        // A held connection may have died since the last look: replace it once.
        let (session, rtt) = match session.ping().await {
            Err(SshError::Disconnected { .. }) => match self.session(deployment, &h.name).await {
                Ok(again) => {
                    let rtt = again.ping().await;
                    (again, rtt)
                }
                Err(e) => {
                    st.host_key_problem = key_problem(&e, &h.name);
                    st.error = Some(e.into());
                    return st;
                }
            },
            other => (session, other),
        };
        st.host_key = Some(session.host_key().fingerprint.clone());
        match rtt {
            Ok(rtt) => {
                st.reachable = true;
                st.latency_ms = Some(ms(rtt));
                st.connect_ms = Some(ms(session.connected_in()));
            }
            Err(e) => {
                st.error = Some(crate::engine::Error::from(e).into());
                return st;
            }
        }
        if !h.docker {
            return st;
        }
        match self.docker(deployment, &h.name).await {
            Ok(docker) => {
                let (version, containers) = tokio::join!(docker.version(), docker.containers());
                st.docker_version = version.ok();
                match containers {
                    Ok(all) => {
                        (st.containers, st.other_containers) =
                            all.into_iter().partition(|c| ours.contains(&c.name))
                    }
                    Err(e) => st.docker_error = Some(crate::engine::Error::from(e).into()),
                }
            }
            Err(e) => st.docker_error = Some(e.into()),
        }
        st
    }
}

/// Which containers are the deployment's: the names its services list, and the task
/// containers (`<service>.<slot>.<id>`) of its Swarm services. A profile that names none
/// claims every container on its hosts.
struct Ours {
    names: std::collections::HashSet<String>,
    swarm: Vec<String>,
}

impl Ours {
    fn of(profile: &crate::engine::profiles::DeploymentProfile) -> Self {
        let names = profile
            .services
            .iter()
            .flat_map(|s| s.containers.iter().map(|c| c.get_ref().clone()))
            .collect();
        let swarm = profile
            .services
            .iter()
            .filter_map(|s| s.swarm_service.as_ref().map(|n| format!("{}.", n.get_ref())))
            .collect();
        Self { names, swarm }
    }

    fn contains(&self, container: &str) -> bool {
        (self.names.is_empty() && self.swarm.is_empty())
            || self.names.contains(container)
            || self
                .swarm
                .iter()
                .any(|prefix| container.starts_with(prefix.as_str()))
    }
}

/// The host-key decision an error asks of a person, when it is about `host` itself. An
/// error of its jump host names the jump host (whose own row asks for the decision): the
/// fingerprint must never be offered for trust under another host's name.
fn key_problem(e: &crate::engine::Error, host: &str) -> Option<HostKeyProblem> {
    let crate::engine::Error::Ssh(ssh) = e else {
        return None;
    };
    match ssh.as_ref() {
        SshError::HostKeyUnknown {
            host: h,
            fingerprint,
            key_type,
            ..
        } if h == host => Some(HostKeyProblem::Unknown {
            fingerprint: fingerprint.clone(),
            key_type: key_type.clone(),
        }),
        SshError::HostKeyChanged {
            host: h,
            pinned,
            seen,
        } if h == host => Some(HostKeyProblem::Changed {
            pinned: pinned.clone(),
            seen: seen.clone(),
        }),
        _ => None,
    }
}

fn failed(t: Instant, e: crate::engine::Error) -> Check {
    Check {
        ok: false,
        latency_ms: Some(ms(t.elapsed())),
        detail: String::new(),
        error: Some(e.into()),
    }
}
