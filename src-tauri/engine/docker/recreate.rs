//! Recreating a container with a changed environment, for rotation: a new environment
//! needs a new container, not a restart. The old one is stopped and kept under another
//! name (parked) until the caller discards it or rolls back to it; the new one gets the
//! same name, image (by ID), command, labels (compose's too), mounts, networks with their
//! aliases, restart policy, limits and every other setting, and must become healthy (its
//! health check, or running for a while when it has none) before it counts. A new
//! container that fails is removed and the old one comes back, by itself.

use std::time::{Duration, Instant};

use bollard::models::{ContainerCreateBody, EndpointSettings, NetworkingConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, InspectContainerOptions, RemoveContainerOptionsBuilder,
    RenameContainerOptionsBuilder, StartContainerOptions, StopContainerOptionsBuilder,
};

use super::{DockerError, RemoteDocker, check_name};
use crate::engine::secret::Sensitive;
use crate::engine::ssh::output::display_safe;

/// A container replaced by a new one; the old one kept, stopped, as `parked_as`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parked {
    pub name: String,
    pub parked_as: String,
    pub old_id: String,
    pub new_id: String,
    pub was_running: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RecreateError {
    #[error(transparent)]
    Docker(#[from] DockerError),
    /// The new container did not become healthy; the old one is back (or not: `restored`).
    #[error("the new {name} did not become healthy ({why}); {}", if *restored { "the old container runs again" } else { "the old one could NOT be brought back: it is parked as the detail says" })]
    Unhealthy {
        name: String,
        why: String,
        restored: bool,
        parked_as: String,
    },
}

/// The environment `env` with the values of `changes` in place of the old ones; only
/// variables it already has change. Returns how many did.
pub fn replace_env(env: &mut [String], changes: &[(String, Sensitive<String>)]) -> usize {
    let mut n = 0;
    for entry in env.iter_mut() {
        let key = entry
            .split_once('=')
            .map_or(entry.as_str(), |(k, _)| k)
            .to_owned();
        if let Some((_, v)) = changes.iter().find(|(k, _)| *k == key) {
            *entry = format!("{key}={}", v.expose());
            n += 1;
        }
    }
    n
}

/// The name the old container of `name` is parked under while its successor proves
/// healthy (random, so that a parked container is never mistaken for another run's).
pub fn parked_name(name: &str) -> String {
    format!("{name}-bg-old-{}", hex::encode(rand::random::<[u8; 3]>()))
}

/// The container `name` again, with `changes` in its environment.
pub async fn recreate(
    docker: &RemoteDocker,
    name: &str,
    changes: &[(String, Sensitive<String>)],
    healthy_within: Duration,
) -> Result<Parked, RecreateError> {
    recreate_as(docker, name, &parked_name(name), changes, healthy_within).await
}

/// [`recreate`], the old container parked as `parked_as` (chosen by the caller, who can
/// then undo a recreation it lost the connection in the middle of).
pub async fn recreate_as(
    docker: &RemoteDocker,
    name: &str,
    parked_as: &str,
    changes: &[(String, Sensitive<String>)],
    healthy_within: Duration,
) -> Result<Parked, RecreateError> {
    check_name("container", name)?;
    check_name("container", parked_as)?;
    let c = docker.client();
    let api = docker.error_for(name);
    let old = c
        .inspect_container(name, None::<InspectContainerOptions>)
        .await
        .map_err(&api)?;
    let old_id = old.id.clone().unwrap_or_default();
    let mut config = old.config.clone().unwrap_or_default();
    let mut env = config.env.take().unwrap_or_default();
    replace_env(&mut env, changes);
    // A hostname Docker made from the ID is not a setting: the new container makes its own.
    let hostname = config
        .hostname
        .take()
        .filter(|h| !(old_id.starts_with(h.as_str()) && h.len() == 12));
    let host_config = old.host_config.clone();
    let mode = host_config
        .as_ref()
        .and_then(|h| h.network_mode.clone())
        .unwrap_or_default();
    // User-defined networks, with the settings a person gave (aliases, links, a fixed
    // address), not the ones Docker filled in.
    let endpoints = old
        .network_settings
        .as_ref()
        .and_then(|n| n.networks.clone())
        .map(|nets| {
            nets.into_iter()
                .filter(|(net, _)| !matches!(net.as_str(), "host" | "none" | "bridge") || *net == mode)
                .map(|(net, e)| {
                    let aliases = e.aliases.map(|a| {
                        a.into_iter()
                            .filter(|x| !old_id.starts_with(x.as_str()))
                            .collect::<Vec<_>>()
                    });
                    (
                        net,
                        EndpointSettings {
                            aliases,
                            links: e.links,
                            ipam_config: e.ipam_config,
                            driver_opts: e.driver_opts,
                            gw_priority: e.gw_priority,
                            ..Default::default()
                        },
                    )
                })
                .collect::<std::collections::HashMap<_, _>>()
        })
        .filter(|m| !m.is_empty() && !matches!(mode.as_str(), "host" | "none"));
    let body = ContainerCreateBody {
        hostname,
        domainname: config.domainname,
        user: config.user,
        attach_stdin: config.attach_stdin,
        attach_stdout: config.attach_stdout,
        attach_stderr: config.attach_stderr,
        exposed_ports: config.exposed_ports,
        tty: config.tty,
        open_stdin: config.open_stdin,
        stdin_once: config.stdin_once,
        env: Some(env),
        cmd: config.cmd,
        healthcheck: config.healthcheck,
        args_escaped: config.args_escaped,
        // The image it ran, by ID: a tag moved since is not a rotation's business.
        image: old.image.clone().or(config.image),
        volumes: config.volumes,
        working_dir: config.working_dir,
        entrypoint: config.entrypoint,
        network_disabled: config.network_disabled,
        on_build: config.on_build,
        labels: config.labels,
        stop_signal: config.stop_signal,
        stop_timeout: config.stop_timeout,
        shell: config.shell,
        host_config,
        networking_config: endpoints.map(|e| NetworkingConfig {
            endpoints_config: Some(e),
        }),
    };
    let was_running = old.state.as_ref().and_then(|s| s.running).unwrap_or(false);
    let parked_as = parked_as.to_owned();

    // Park the old one: stopped (its ports and name free), kept.
    c.stop_container(name, Some(StopContainerOptionsBuilder::default().t(10).build()))
        .await
        .or_else(not_modified)
        .map_err(&api)?;
    if let Err(e) = c
        .rename_container(
            name,
            RenameContainerOptionsBuilder::default().name(&parked_as).build(),
        )
        .await
    {
        if was_running {
            let _ = c.start_container(name, None::<StartContainerOptions>).await;
        }
        return Err(api(e).into());
    }
    let parked = |new_id: String| Parked {
        name: name.to_owned(),
        parked_as: parked_as.clone(),
        old_id: old_id.clone(),
        new_id,
        was_running,
    };
    let created = c
        .create_container(
            Some(CreateContainerOptionsBuilder::default().name(name).build()),
            body,
        )
        .await;
    let new_id = match created {
        Ok(r) => r.id,
        Err(e) => {
            let restored = rollback(docker, &parked(String::new())).await.is_ok();
            return Err(RecreateError::Unhealthy {
                name: name.to_owned(),
                why: format!("it could not be created: {}", api(e)),
                restored,
                parked_as,
            });
        }
    };
    // A container that was stopped stays stopped: it gets the new values for when it
    // starts again.
    if !was_running {
        return Ok(parked(new_id));
    }
    let started = c.start_container(name, None::<StartContainerOptions>).await;
    let health = match started {
        Ok(()) => wait_healthy(docker, name, healthy_within).await,
        Err(e) => Err(format!("it did not start: {}", api(e))),
    };
    match health {
        Ok(()) => Ok(parked(new_id)),
        Err(why) => {
            let restored = rollback(docker, &parked(new_id)).await.is_ok();
            Err(RecreateError::Unhealthy {
                name: name.to_owned(),
                why,
                restored,
                parked_as,
            })
        }
    }
}

/// A 304 (already stopped) is not an error.
fn not_modified(e: bollard::errors::Error) -> Result<(), bollard::errors::Error> {
    match e {
        bollard::errors::Error::DockerResponseServerError { status_code: 304, .. } => Ok(()),
        e => Err(e),
    }
}

/// Healthy: its health check says so, or (without one) it still runs after a few
/// seconds. Fails at once when it exits or its check says unhealthy.
pub async fn wait_healthy(docker: &RemoteDocker, name: &str, within: Duration) -> Result<(), String> {
    let started = Instant::now();
    let settle = Duration::from_secs(3).min(within);
    loop {
        let i = docker
            .client()
            .inspect_container(name, None::<InspectContainerOptions>)
            .await
            .map_err(|e| docker.error_for(name)(e).to_string())?;
        let state = i.state.unwrap_or_default();
        if state.running != Some(true) {
            // Not its logs: an app may print its configuration, new secrets included.
            return Err(format!(
                "it exited (code {}); its output: `docker logs {}`",
                state.exit_code.unwrap_or(-1),
                display_safe(name.as_bytes())
            ));
        }
        match state.health.and_then(|h| h.status) {
            Some(bollard::models::HealthStatusEnum::HEALTHY) => return Ok(()),
            Some(bollard::models::HealthStatusEnum::UNHEALTHY) => {
                return Err("its health check says unhealthy".into());
            }
            Some(bollard::models::HealthStatusEnum::STARTING) => {}
            _ if started.elapsed() >= settle => return Ok(()),
            _ => {}
        }
        if started.elapsed() >= within {
            return Err(format!("not healthy after {} s", within.as_secs()));
        }
        // An inspect is one API call on an open channel (no shell): cheap to repeat.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Back to the old container: the new one removed, the old one renamed back and started
/// (if it was running).
pub async fn rollback(docker: &RemoteDocker, p: &Parked) -> Result<(), DockerError> {
    let c = docker.client();
    let api = docker.error_for(&p.name);
    let remove = RemoveContainerOptionsBuilder::default().force(true).build();
    // The new one, by ID when it was made (the name may already be the old one's again);
    // when its ID was never learned (the connection was lost after it was created),
    // whatever holds the name and is not the old container.
    let target = if !p.new_id.is_empty() {
        Some(p.new_id.clone())
    } else if p.old_id.is_empty() {
        None
    } else {
        match c
            .inspect_container(&p.name, None::<InspectContainerOptions>)
            .await
        {
            Ok(i) => i.id.filter(|id| *id != p.old_id),
            Err(_) => None,
        }
    };
    let target = target.as_deref();
    if let Some(id) = target {
        match c.remove_container(id, Some(remove)).await {
            Ok(()) | Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => {}
            Err(e) => return Err(api(e)),
        }
    }
    c.rename_container(
        &p.parked_as,
        RenameContainerOptionsBuilder::default().name(&p.name).build(),
    )
    .await
    .map_err(&api)?;
    if p.was_running {
        c.start_container(&p.name, None::<StartContainerOptions>)
            .await
            .or_else(not_modified)
            .map_err(&api)?;
    }
    Ok(())
}

/// The rotation is over: the parked old container is removed.
pub async fn discard_old(docker: &RemoteDocker, p: &Parked) -> Result<(), DockerError> {
    let remove = RemoveContainerOptionsBuilder::default().force(true).build();
    match docker.client().remove_container(&p.parked_as, Some(remove)).await {
        Ok(()) | Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(()),
        Err(e) => Err(docker.error_for(&p.parked_as)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_variables_it_has_change() {
        let mut env = vec![
            "A=1".to_owned(),
            "SECRET=old".to_owned(),
            "B".to_owned(),
            "SECRET_2=x=y".to_owned(),
        ];
        let n = replace_env(
            &mut env,
            &[
                ("SECRET".into(), Sensitive::new("new".into())),
                ("MISSING".into(), Sensitive::new("z".into())),
            ],
        );
        assert_eq!(n, 1);
        assert_eq!(env, ["A=1", "SECRET=new", "B", "SECRET_2=x=y"]);
    }
}
