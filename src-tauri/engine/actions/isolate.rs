//! Isolate a container — stop it, pause it, or disconnect it from its networks — and
//! undo that. Through the host's Docker Engine over SSH. A container on the host's
//! network cannot be disconnected: the plan says so and offers stop or pause.

use serde::{Deserialize, Serialize};

use futures_util::future::BoxFuture;

use super::{Action, ActionSpec, Ctx, Plan, Planned, Step, StepDone, Vantage, Verdict};
use crate::engine::docker::{RemoteDocker, check_name};
use crate::engine::{Error, Result};

/// The request: cut a container off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Isolate {
    pub host: String,
    pub container: String,
    pub mode: IsolateMode,
}

/// The request: undo an isolation — start, unpause, or reconnect the named networks
/// (none named: those this console's journal recorded for the disconnect).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Restore {
    pub host: String,
    pub container: String,
    pub mode: IsolateMode,
    pub networks: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "kebab-case")]
pub enum IsolateMode {
    Stop,
    Pause,
    Disconnect,
}

struct Seen {
    state: String,
    networks: Vec<String>,
    /// The container whose network namespace this one shares (`network_mode:
    /// container:X`, compose `service:X`): it has X's network, none of its own.
    shares: Option<String>,
    /// The containers that share this one's network namespace.
    sharers: Vec<String>,
}

async fn look(ctx: &Ctx<'_>, host: &str, container: &str) -> Result<(RemoteDocker, Seen)> {
    check_name("container", container)?;
    let docker = ctx.engine.docker(ctx.deployment(), host).await?;
    let inspect = |name: String| {
        let docker = &docker;
        async move {
            docker
                .client()
                .inspect_container(&name, None::<bollard::query_parameters::InspectContainerOptions>)
                .await
                .map_err(docker.error_for(&name))
        }
    };
    let c = inspect(container.to_owned()).await?;
    let state = c
        .state
        .and_then(|s| s.status)
        .map(|s| s.to_string())
        .unwrap_or_default();
    let id = c.id.unwrap_or_default();
    let name = c.name.unwrap_or_default().trim_start_matches('/').to_owned();
    let mode = c.host_config.and_then(|h| h.network_mode).unwrap_or_default();
    let mut networks: Vec<String> = c
        .network_settings
        .and_then(|n| n.networks)
        .map(|n| n.into_keys().collect())
        .unwrap_or_default();
    let mut shares = None;
    if mode == "host" || mode == "none" {
        networks.clear();
        networks.push(format!("({mode} network mode)"));
    } else if let Some(owner) = mode.strip_prefix("container:") {
        // By id or by name: named as a person knows it.
        let owner_name = futures_util::future::OptionFuture::from(
            check_name("container", owner)
                .is_ok()
                .then(|| inspect(owner.to_owned())),
        )
        .await
        .and_then(Result::ok)
        .and_then(|o| o.name)
        .map(|n| n.trim_start_matches('/').to_owned())
        .unwrap_or_else(|| owner.to_owned());
        shares = Some(owner_name);
    }
    networks.sort();
    for n in &networks {
        if !n.starts_with('(') {
            check_name("network", n)?;
        }
    }
    // Who shares this container's namespace: every container on the host whose network
    // mode names it (by id, short id or name).
    let all = docker
        .client()
        .list_containers(Some(
            bollard::query_parameters::ListContainersOptionsBuilder::default()
                .all(true)
                .build(),
        ))
        .await
        .map_err(docker.error_for(container))?;
    let mut sharers: Vec<String> = all
        .into_iter()
        .filter(|s| {
            s.host_config
                .as_ref()
                .and_then(|h| h.network_mode.as_deref())
                .and_then(|m| m.strip_prefix("container:"))
                .is_some_and(|target| {
                    target == name || (!target.is_empty() && target.len() >= 12 && id.starts_with(target))
                })
        })
        .filter_map(|s| s.names.and_then(|n| n.into_iter().next()))
        .map(|n| n.trim_start_matches('/').to_owned())
        .collect();
    sharers.sort();
    Ok((
        docker,
        Seen {
            state,
            networks,
            shares,
            sharers,
        },
    ))
}

fn host_mode(seen: &Seen) -> bool {
    seen.networks.iter().any(|n| n.starts_with('('))
}

impl Action for Isolate {
    fn plan<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, Result<Planned>> {
        Box::pin(plan(ctx, self))
    }

    fn verify<'a>(&'a self, ctx: &'a Ctx<'_>, _plan: &'a Plan) -> BoxFuture<'a, Result<Verdict>> {
        Box::pin(async move {
            let (_, seen) = look(ctx, &self.host, &self.container).await?;
            let ok = match self.mode {
                IsolateMode::Stop => seen.state == "exited" || seen.state == "dead",
                IsolateMode::Pause => seen.state == "paused",
                IsolateMode::Disconnect => seen.networks.is_empty() && seen.shares.is_none(),
            };
            let shared = match &seen.shares {
                Some(owner) => format!(", sharing the network of {owner}"),
                None => String::new(),
            };
            Ok(Verdict::new(
                ok,
                format!("{} is {} on {}{shared}", self.container, seen.state, self.host),
            )
            .by(Vantage::Docker))
        })
    }
}

async fn plan(ctx: &Ctx<'_>, req: &Isolate) -> Result<Planned> {
    let (host, container, mode) = (req.host.as_str(), req.container.as_str(), req.mode);
    let (_, seen) = look(ctx, host, container).await?;
    let change = |change: Change| -> Box<dyn Step> {
        Box::new(Docker {
            host: host.to_owned(),
            container: container.to_owned(),
            change,
        })
    };
    let mut warnings = Vec::new();
    if !seen.sharers.is_empty() {
        warnings.push(format!(
            "{} share the network namespace of {container}: isolating it cuts them off too",
            seen.sharers.join(", ")
        ));
    }
    let (todo, steps): (bool, Vec<Box<dyn Step>>) = match mode {
        // A restarting container is running now and then: it is not stopped.
        IsolateMode::Stop => (
            matches!(seen.state.as_str(), "running" | "paused" | "restarting"),
            vec![change(Change::Stop)],
        ),
        IsolateMode::Pause if seen.state == "restarting" => {
            return Err(Error::ActionUnavailable {
                reason: format!(
                    "{container} on {host} is restarting: Docker cannot pause it between restarts; stop it"
                ),
            });
        }
        IsolateMode::Pause => (seen.state == "running", vec![change(Change::Pause)]),
        IsolateMode::Disconnect if seen.shares.is_some() => {
            let owner = seen.shares.as_deref().unwrap_or_default();
            return Err(Error::ActionUnavailable {
                reason: format!(
                    "{container} shares the network namespace of {owner} (network_mode container:{owner}): \
                     it has no network of its own to disconnect and keeps all of {owner}'s network access. \
                     Isolate {owner} (that cuts off every container sharing it), or stop or pause {container}"
                ),
            });
        }
        IsolateMode::Disconnect => {
            if host_mode(&seen) {
                return Err(Error::ActionUnavailable {
                    reason: format!(
                        "{container} uses {}: it cannot be disconnected; stop or pause it",
                        seen.networks.join(", ")
                    ),
                });
            }
            // One step per network, each undone by reconnecting that network.
            let steps = seen
                .networks
                .iter()
                .map(|n| change(Change::Disconnect(n.clone())))
                .collect();
            (!seen.networks.is_empty(), steps)
        }
    };
    Ok(Planned::new(
        Plan {
            action: "isolate".into(),
            deployment: ctx.deployment().to_owned(),
            summary: format!("{mode:?} {container} on {host} (now {})", seen.state).to_lowercase(),
            count: i64::from(todo),
            sample: if mode == IsolateMode::Disconnect {
                seen.networks
            } else {
                vec![format!("{host}/{container}: {}", seen.state)]
            },
            steps: vec![],
            reversible: vec![],
            destructive: true,
            warnings,
            digest: String::new(),
        },
        if todo { steps } else { vec![] },
    ))
}

/// One change to one container through its host's Docker Engine.
enum Change {
    Stop,
    Pause,
    Disconnect(String),
    Start,
    Unpause,
    Connect(String),
}

struct Docker {
    host: String,
    container: String,
    change: Change,
}

impl Step for Docker {
    fn description(&self) -> String {
        let (c, h) = (&self.container, &self.host);
        match &self.change {
            Change::Stop => format!("stop {c} on {h} (10 s grace, then kill)"),
            Change::Pause => format!("pause {c} on {h} (processes frozen, memory kept for forensics)"),
            Change::Disconnect(n) => format!("disconnect {c} on {h} from {n}"),
            Change::Start => format!("start {c} on {h}"),
            Change::Unpause => format!("unpause {c} on {h}"),
            Change::Connect(n) => format!("reconnect {c} on {h} to {n}"),
        }
    }

    fn run<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, Result<StepDone>> {
        Box::pin(async move {
            check_name("container", &self.container)?;
            if let Change::Disconnect(n) | Change::Connect(n) = &self.change {
                check_name("network", n)?;
            }
            let docker = ctx.engine.docker(ctx.deployment(), &self.host).await?;
            let api = docker.error_for(&self.container);
            let c = docker.client();
            let container = self.container.as_str();
            let done = match &self.change {
                Change::Stop => {
                    let opts = bollard::query_parameters::StopContainerOptionsBuilder::default()
                        .t(10)
                        .build();
                    c.stop_container(container, Some(opts)).await.map_err(&api)?;
                    "stopped".to_owned()
                }
                Change::Pause => {
                    c.pause_container(container).await.map_err(&api)?;
                    "paused".to_owned()
                }
                Change::Disconnect(net) => {
                    let req = bollard::models::NetworkDisconnectRequest {
                        container: container.to_owned(),
                        force: Some(true),
                    };
                    c.disconnect_network(net, req).await.map_err(&api)?;
                    format!("disconnected from {net}")
                }
                Change::Start => {
                    c.start_container(
                        container,
                        None::<bollard::query_parameters::StartContainerOptions>,
                    )
                    .await
                    .map_err(&api)?;
                    "started".to_owned()
                }
                Change::Unpause => {
                    c.unpause_container(container).await.map_err(&api)?;
                    "unpaused".to_owned()
                }
                Change::Connect(net) => {
                    let req = bollard::models::NetworkConnectRequest {
                        container: container.to_owned(),
                        ..Default::default()
                    };
                    c.connect_network(net, req).await.map_err(&api)?;
                    format!("reconnected to {net}")
                }
            };
            Ok(StepDone {
                detail: format!("{container} {done}"),
                changed: 1,
            })
        })
    }

    fn undo(&self) -> Option<ActionSpec> {
        let restore = |mode, networks| {
            Some(ActionSpec::Restore(Restore {
                host: self.host.clone(),
                container: self.container.clone(),
                mode,
                networks,
            }))
        };
        match &self.change {
            Change::Stop => restore(IsolateMode::Stop, vec![]),
            Change::Pause => restore(IsolateMode::Pause, vec![]),
            Change::Disconnect(n) => restore(IsolateMode::Disconnect, vec![n.clone()]),
            Change::Start | Change::Unpause | Change::Connect(_) => None,
        }
    }
}

impl Action for Restore {
    fn plan<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, Result<Planned>> {
        Box::pin(plan_restore(ctx, self))
    }

    fn verify<'a>(&'a self, ctx: &'a Ctx<'_>, plan: &'a Plan) -> BoxFuture<'a, Result<Verdict>> {
        Box::pin(async move {
            // The plan's networks: those named, or found in the journal.
            let (host, container, networks) = (&self.host, &self.container, &plan.sample);
            let (_, seen) = look(ctx, host, container).await?;
            let missing: Vec<&String> = networks.iter().filter(|n| !seen.networks.contains(n)).collect();
            if self.mode == IsolateMode::Disconnect && !missing.is_empty() {
                return Ok(Verdict::new(
                    false,
                    format!(
                        "{container} on {host} is still not on {}",
                        missing.iter().map(|n| n.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                )
                .by(Vantage::Docker));
            }
            Ok(Verdict::new(
                seen.state == "running",
                format!(
                    "{container} is {} on {host}, on {}",
                    seen.state,
                    seen.networks.join(", ")
                ),
            )
            .by(Vantage::Docker))
        })
    }
}

async fn plan_restore(ctx: &Ctx<'_>, req: &Restore) -> Result<Planned> {
    let (host, container, mode) = (req.host.as_str(), req.container.as_str(), req.mode);
    let (_, seen) = look(ctx, host, container).await?;
    let networks = if mode == IsolateMode::Disconnect && req.networks.is_empty() {
        ctx.engine
            .journal()
            .await?
            .disconnected_networks(ctx.deployment(), host, container)
            .await?
            .ok_or_else(|| Error::ActionUnavailable {
                reason: format!(
                    "no network named, and this console's journal holds no disconnect of {container} \
                     on {host}: name the networks to reconnect it to"
                ),
            })?
    } else {
        req.networks.clone()
    };
    let change = |change: Change| -> Box<dyn Step> {
        Box::new(Docker {
            host: host.to_owned(),
            container: container.to_owned(),
            change,
        })
    };
    let steps: Vec<Box<dyn Step>> = match mode {
        IsolateMode::Stop if seen.state == "exited" || seen.state == "created" => vec![change(Change::Start)],
        IsolateMode::Pause if seen.state == "paused" => vec![change(Change::Unpause)],
        IsolateMode::Disconnect => networks
            .iter()
            .filter(|n| !seen.networks.contains(n))
            .map(|n| change(Change::Connect(n.clone())))
            .collect(),
        _ => vec![],
    };
    Ok(Planned::new(
        Plan {
            action: "restore".into(),
            deployment: ctx.deployment().to_owned(),
            summary: format!("undo {mode:?} of {container} on {host} (now {})", seen.state).to_lowercase(),
            count: i64::from(!steps.is_empty()),
            sample: networks,
            steps: vec![],
            reversible: vec![],
            destructive: true,
            warnings: vec![],
            digest: String::new(),
        },
        steps,
    ))
}
