//! One command on many hosts at once, over the held connections (what pssh does, with
//! pinned keys), journaled: who ran what where, each host's exit status and a digest of
//! its output — never the output itself, which may hold anything.
//!
//! Not for: actions (they plan, confirm and verify: `actions/`), nor commands the engine
//! runs for itself (those go through `Session::exec` directly).

use std::time::Instant;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::engine::profiles::DeploymentProfile;
use crate::engine::{Engine, Error, ErrorReport, Result};

/// Which hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Targets {
    All,
    /// Hosts with this role (`web`, `worker`, `db`, `proxy`).
    Role(String),
    Hosts(Vec<String>),
}

impl Targets {
    /// The profile's host names this selects, in profile order; an unknown name or a role
    /// no host has is an error (a typo must not silently run on nothing).
    pub fn resolve(&self, profile: &DeploymentProfile) -> Result<Vec<String>> {
        let names = |f: &dyn Fn(&crate::engine::profiles::Host) -> bool| -> Vec<String> {
            profile
                .hosts
                .iter()
                .filter(|h| f(h))
                .map(|h| h.name.get_ref().clone())
                .collect()
        };
        let picked = match self {
            Targets::All => names(&|_| true),
            Targets::Role(role) => {
                let picked = names(&|h| {
                    h.roles.iter().any(|r| {
                        serde_json::to_value(r)
                            .ok()
                            .and_then(|v| v.as_str().map(|s| s.eq_ignore_ascii_case(role)))
                            .unwrap_or(false)
                    })
                });
                if picked.is_empty() {
                    return Err(Error::BadArgument {
                        message: format!("no host of {} has the role {role:?}", profile.name()),
                    });
                }
                picked
            }
            Targets::Hosts(hosts) => {
                for h in hosts {
                    if profile.host(h).is_none() {
                        return Err(Error::UnknownHost {
                            deployment: profile.name().to_owned(),
                            host: h.clone(),
                        });
                    }
                }
                let mut hosts = hosts.clone();
                hosts.dedup();
                hosts
            }
        };
        Ok(picked)
    }
}

/// What one host did.
#[derive(Debug, Clone, Serialize)]
pub struct HostRun {
    pub host: String,
    pub status: Option<u32>,
    pub signal: Option<String>,
    /// Raw bytes: print only through `ssh::output::display_safe`.
    #[serde(skip)]
    pub stdout: Vec<u8>,
    #[serde(skip)]
    pub stderr: Vec<u8>,
    /// The same, made safe for a terminal (for `--json`).
    pub stdout_text: String,
    pub stderr_text: String,
    pub truncated: bool,
    /// Could not run at all (connection, key, timeout).
    pub error: Option<ErrorReport>,
    pub took_ms: f64,
}

impl HostRun {
    pub fn ok(&self) -> bool {
        self.error.is_none() && self.status == Some(0)
    }
}

fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// One run's journal entries: the start before anything runs, the end after.
struct Record {
    journal: crate::engine::journal::Journal,
    operator: String,
    run_id: String,
}

impl Record {
    async fn start(engine: &Engine, deployment: &str, kind: &str, body: serde_json::Value) -> Result<Self> {
        let r = Record {
            journal: engine.journal().await?,
            operator: crate::engine::journal::operator(),
            run_id: hex::encode(rand::random::<[u8; 8]>()),
        };
        r.journal
            .append(deployment, &r.run_id, &r.operator, kind, body)
            .await?;
        Ok(r)
    }

    async fn finish(&self, deployment: &str, kind: &str, body: serde_json::Value) -> Result<()> {
        self.journal
            .append(deployment, &self.run_id, &self.operator, kind, body)
            .await
            .map(|_| ())
    }
}

impl Engine {
    /// Runs `command` on every selected host in parallel; journaled before and after.
    pub async fn exec_on(&self, deployment: &str, targets: &Targets, command: &str) -> Result<Vec<HostRun>> {
        let profile = self.profile(deployment).await?;
        let hosts = targets.resolve(&profile)?;
        let record = Record::start(
            self,
            deployment,
            "exec.started",
            serde_json::json!({ "hosts": hosts, "command": command }),
        )
        .await?;
        let runs = futures_util::future::join_all(hosts.iter().map(|host| async move {
            let started = Instant::now();
            let result = self.exec(deployment, host, command).await;
            let took_ms = started.elapsed().as_secs_f64() * 1000.0;
            match result {
                Ok(out) => HostRun {
                    host: host.clone(),
                    status: out.status,
                    signal: out.signal,
                    stdout_text: crate::engine::ssh::output::display_safe(&out.stdout),
                    stderr_text: crate::engine::ssh::output::display_safe(&out.stderr),
                    stdout: out.stdout,
                    stderr: out.stderr,
                    truncated: out.truncated,
                    error: None,
                    took_ms,
                },
                Err(e) => HostRun {
                    host: host.clone(),
                    status: None,
                    signal: None,
                    stdout: vec![],
                    stderr: vec![],
                    stdout_text: String::new(),
                    stderr_text: String::new(),
                    truncated: false,
                    error: Some(ErrorReport::from(&e)),
                    took_ms,
                },
            }
        }))
        .await;
        let summary: Vec<serde_json::Value> = runs
            .iter()
            .map(|r| {
                serde_json::json!({
                    "host": r.host,
                    "status": r.status,
                    "signal": r.signal,
                    "error": r.error.as_ref().map(|e| e.code),
                    "stdout_sha256": digest(&r.stdout),
                    "stdout_bytes": r.stdout.len(),
                    "stderr_sha256": digest(&r.stderr),
                    "stderr_bytes": r.stderr.len(),
                })
            })
            .collect();
        record
            .finish(
                deployment,
                "exec.finished",
                serde_json::json!({ "hosts": summary }),
            )
            .await?;
        Ok(runs)
    }
}

impl Engine {
    /// Runs `argv` (no shell) in a container, journaled like [`Engine::exec_on`].
    pub async fn docker_exec(
        &self,
        deployment: &str,
        host: &str,
        container: &str,
        argv: &[&str],
    ) -> Result<crate::engine::docker::ContainerExec> {
        let docker = self.docker(deployment, host).await?;
        let record = Record::start(
            self,
            deployment,
            "docker_exec.started",
            serde_json::json!({ "host": host, "container": container, "argv": argv }),
        )
        .await?;
        let result = docker.exec(container, argv, 4 * 1024 * 1024).await;
        let body = match &result {
            Ok(out) => serde_json::json!({
                "exit_code": out.exit_code,
                "output_sha256": digest(out.output.as_bytes()),
                "output_bytes": out.output.len(),
            }),
            Err(e) => serde_json::json!({ "error": e.code() }),
        };
        record.finish(deployment, "docker_exec.finished", body).await?;
        Ok(result?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROFILE: &str = r#"
name = "prod"
app_profile = "homechat"
[ssh]
user = "deploy"
[[hosts]]
name = "web1"
address = "192.0.2.1"
roles = ["web"]
[[hosts]]
name = "web2"
address = "192.0.2.2"
roles = ["web", "worker"]
[[hosts]]
name = "db1"
address = "192.0.2.3"
roles = ["db"]
"#;

    #[test]
    fn targets_pick_hosts_by_all_role_and_name_and_refuse_typos() {
        let p = DeploymentProfile::parse(PROFILE).unwrap();
        assert_eq!(Targets::All.resolve(&p).unwrap(), ["web1", "web2", "db1"]);
        assert_eq!(Targets::Role("web".into()).resolve(&p).unwrap(), ["web1", "web2"]);
        assert_eq!(Targets::Role("worker".into()).resolve(&p).unwrap(), ["web2"]);
        assert_eq!(
            Targets::Role("proxy".into()).resolve(&p).unwrap_err().code(),
            "argument.invalid"
        );
        assert_eq!(
            Targets::Hosts(vec!["db1".into(), "web1".into()])
                .resolve(&p)
                .unwrap(),
            ["db1", "web1"]
        );
        assert_eq!(
            Targets::Hosts(vec!["web3".into()])
                .resolve(&p)
                .unwrap_err()
                .code(),
            "deployment.unknown_host"
        );
    }
}
