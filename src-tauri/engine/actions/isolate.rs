//! Isolate a container — stop it, pause it, or disconnect it from its networks — and
//! undo that. Through the host's Docker Engine over SSH. A container on the host's
//! network cannot be disconnected: the plan says so and offers stop or pause.

use serde::{Deserialize, Serialize};

use super::{Ctx, Events, Plan, Ran, step};
use crate::engine::docker::RemoteDocker;
use crate::engine::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IsolateMode {
    Stop,
    Pause,
    Disconnect,
}

struct Seen {
    state: String,
    networks: Vec<String>,
}

async fn look(ctx: &Ctx<'_>, host: &str, container: &str) -> Result<(RemoteDocker, Seen)> {
    let docker = ctx.engine.docker(ctx.deployment(), host).await?;
    let c = docker
        .client()
        .inspect_container(
            container,
            None::<bollard::query_parameters::InspectContainerOptions>,
        )
        .await
        .map_err(docker.error_for(container))?;
    let state = c
        .state
        .and_then(|s| s.status)
        .map(|s| s.to_string())
        .unwrap_or_default();
    let mode = c.host_config.and_then(|h| h.network_mode).unwrap_or_default();
    let mut networks: Vec<String> = c
        .network_settings
        .and_then(|n| n.networks)
        .map(|n| n.into_keys().collect())
        .unwrap_or_default();
    if mode == "host" || mode == "none" {
        networks.clear();
        networks.push(format!("({mode} network mode)"));
    }
    networks.sort();
    Ok((docker, Seen { state, networks }))
}

fn host_mode(seen: &Seen) -> bool {
    seen.networks.iter().any(|n| n.starts_with('('))
}

pub async fn plan(ctx: &Ctx<'_>, host: &str, container: &str, mode: IsolateMode) -> Result<Plan> {
    let (_, seen) = look(ctx, host, container).await?;
    let (todo, step) = match mode {
        IsolateMode::Stop => (
            seen.state == "running" || seen.state == "paused",
            format!("stop {container} on {host} (10 s grace, then kill)"),
        ),
        IsolateMode::Pause => (
            seen.state == "running",
            format!("pause {container} on {host} (processes frozen, memory kept for forensics)"),
        ),
        IsolateMode::Disconnect => {
            if host_mode(&seen) {
                return Err(Error::ActionUnavailable {
                    reason: format!(
                        "{container} uses {}: it cannot be disconnected; stop or pause it",
                        seen.networks.join(", ")
                    ),
                });
            }
            (
                !seen.networks.is_empty(),
                format!("disconnect {container} from {}", seen.networks.join(", ")),
            )
        }
    };
    Ok(Plan {
        action: "isolate".into(),
        deployment: ctx.deployment().to_owned(),
        summary: format!("{mode:?} {container} on {host} (now {})", seen.state).to_lowercase(),
        count: i64::from(todo),
        sample: if mode == IsolateMode::Disconnect {
            seen.networks
        } else {
            vec![format!("{host}/{container}: {}", seen.state)]
        },
        steps: vec![step],
        destructive: true,
    })
}

pub async fn run(
    ctx: &Ctx<'_>,
    host: &str,
    container: &str,
    mode: IsolateMode,
    plan: &Plan,
    events: &Events,
) -> Result<Ran> {
    let description = plan.steps.first().cloned().unwrap_or_default();
    let (_, outcome) = step(events, 1, &description, async {
        let (docker, _) = look(ctx, host, container).await?;
        let api = docker.error_for(container);
        let c = docker.client();
        match mode {
            IsolateMode::Stop => {
                let opts = bollard::query_parameters::StopContainerOptionsBuilder::default()
                    .t(10)
                    .build();
                c.stop_container(container, Some(opts)).await.map_err(&api)?;
            }
            IsolateMode::Pause => c.pause_container(container).await.map_err(api)?,
            IsolateMode::Disconnect => {
                for net in &plan.sample {
                    let req = bollard::models::NetworkDisconnectRequest {
                        container: container.to_owned(),
                        force: Some(true),
                    };
                    c.disconnect_network(net, req).await.map_err(&api)?;
                }
            }
        }
        Ok((
            (),
            format!(
                "{container} {}",
                match mode {
                    IsolateMode::Stop => "stopped",
                    IsolateMode::Pause => "paused",
                    IsolateMode::Disconnect => "disconnected",
                }
            ),
        ))
    })
    .await?;
    Ok(Ran {
        changed: 1,
        steps: vec![(description, outcome)],
    })
}

pub async fn verify(
    ctx: &Ctx<'_>,
    host: &str,
    container: &str,
    mode: IsolateMode,
    _plan: &Plan,
) -> Result<(bool, String)> {
    let (_, seen) = look(ctx, host, container).await?;
    let ok = match mode {
        IsolateMode::Stop => seen.state == "exited",
        IsolateMode::Pause => seen.state == "paused",
        IsolateMode::Disconnect => seen.networks.is_empty(),
    };
    Ok((ok, format!("{container} is {} on {host}", seen.state)))
}

pub async fn plan_restore(
    ctx: &Ctx<'_>,
    host: &str,
    container: &str,
    mode: IsolateMode,
    networks: &[String],
) -> Result<Plan> {
    let (_, seen) = look(ctx, host, container).await?;
    let found;
    let networks = if mode == IsolateMode::Disconnect && networks.is_empty() {
        found = ctx
            .engine
            .journal()
            .await?
            .disconnected_networks(ctx.deployment(), host, container)
            .await?
            .ok_or_else(|| Error::ActionUnavailable {
                reason: format!(
                    "no network named, and this console's journal holds no disconnect of {container} \
                     on {host}: name the networks to reconnect it to"
                ),
            })?;
        found.as_slice()
    } else {
        networks
    };
    let (todo, step) = match mode {
        IsolateMode::Stop => (
            seen.state == "exited" || seen.state == "created",
            format!("start {container} on {host}"),
        ),
        IsolateMode::Pause => (seen.state == "paused", format!("unpause {container} on {host}")),
        IsolateMode::Disconnect => {
            let missing: Vec<String> = networks
                .iter()
                .filter(|n| !seen.networks.contains(n))
                .cloned()
                .collect();
            (
                !missing.is_empty(),
                format!("reconnect {container} to {}", missing.join(", ")),
            )
        }
    };
    Ok(Plan {
        action: "restore".into(),
        deployment: ctx.deployment().to_owned(),
        summary: format!("undo {mode:?} of {container} on {host} (now {})", seen.state).to_lowercase(),
        count: i64::from(todo),
        sample: networks.to_vec(),
        steps: vec![step],
        destructive: true,
    })
}

pub async fn run_restore(
    ctx: &Ctx<'_>,
    host: &str,
    container: &str,
    mode: IsolateMode,
    networks: &[String],
    events: &Events,
) -> Result<Ran> {
    let description = format!("restore {container} on {host}");
    let (_, outcome) = step(events, 1, &description, async {
        let (docker, seen) = look(ctx, host, container).await?;
        let api = docker.error_for(container);
        let c = docker.client();
        match mode {
            IsolateMode::Stop => c
                .start_container(
                    container,
                    None::<bollard::query_parameters::StartContainerOptions>,
                )
                .await
                .map_err(api)?,
            IsolateMode::Pause => c.unpause_container(container).await.map_err(api)?,
            IsolateMode::Disconnect => {
                for net in networks.iter().filter(|n| !seen.networks.contains(n)) {
                    let req = bollard::models::NetworkConnectRequest {
                        container: container.to_owned(),
                        ..Default::default()
                    };
                    c.connect_network(net, req).await.map_err(&api)?;
                }
            }
        }
        Ok(((), format!("{container} restored")))
    })
    .await?;
    Ok(Ran {
        changed: 1,
        steps: vec![(description, outcome)],
    })
}

pub async fn verify_restore(
    ctx: &Ctx<'_>,
    host: &str,
    container: &str,
    mode: IsolateMode,
    networks: &[String],
) -> Result<(bool, String)> {
    let (_, seen) = look(ctx, host, container).await?;
    let missing: Vec<&String> = networks.iter().filter(|n| !seen.networks.contains(n)).collect();
    if mode == IsolateMode::Disconnect && !missing.is_empty() {
        return Ok((
            false,
            format!(
                "{container} on {host} is still not on {}",
                missing.iter().map(|n| n.as_str()).collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    Ok((
        seen.state == "running",
        format!(
            "{container} is {} on {host}, on {}",
            seen.state,
            seen.networks.join(", ")
        ),
    ))
}
