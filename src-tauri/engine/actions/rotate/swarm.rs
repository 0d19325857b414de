//! Rotate a Docker Swarm secret: a new versioned secret (`shop_key_v1` → `shop_key_v2`)
//! with a value from the operating system's CSPRNG, every service that mounts the old one
//! rolled onto the new one at the same target (start-first, rolled back by Docker on a
//! failure), then the old secret removed.
//!
//! Never a moment without a working credential: the new secret exists before any
//! service names it; each service's new task is running (healthy, where it has a health
//! check) before its old one is stopped; the old secret goes only when no service mounts
//! it. A failure or a cancel undoes what was done in reverse: each service back onto the
//! old secret (the same way), then the new secret removed. Each undo is journaled as a
//! `rotate-docker-secret-undo` request holding names and IDs, never a value.
//!
//! Docker never gives a secret's value back, so nothing here compares values: verify
//! compares secret IDs (the services' specs and their running tasks' specs).
//!
//! The value travels once, base64 in the body of `POST /secrets/create` over the SSH
//! channel to the manager's socket: not in a command line, the journal, the plan or an
//! error.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bollard::models::{
    EndpointPortConfigPublishModeEnum, ServiceSpec, TaskSpecContainerSpecSecrets, TaskState,
};
use bollard::query_parameters::{
    InspectServiceOptions, ListSecretsOptions, ListServicesOptionsBuilder, ListTasksOptionsBuilder,
};
use futures_util::future::BoxFuture;
use hyper::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::super::{Action, ActionSpec, Ctx, Plan, Planned, Step, StepDone, Vantage, Verdict};
use crate::engine::docker::RemoteDocker;
use crate::engine::secret::Sensitive;
use crate::engine::ssh::output::display_safe;
use crate::engine::{Error, Result};

/// The request: a new value for this Docker secret (by name), and every service that
/// mounts it rolled onto it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct RotateDockerSecret {
    pub secret: String,
}

/// The request that undoes one step of a Swarm secret rotation: a service back onto the
/// old secret, or the new secret removed. Names and IDs only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct RotateDockerSecretUndo {
    /// The profile's host whose engine is the swarm manager.
    pub host: String,
    /// The secret the rotation created: removed (when no service mounts it).
    pub created: Option<SecretRef>,
    /// A service the rotation moved: back onto the old secret.
    pub service: Option<ServiceSwap>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct SecretRef {
    pub name: String,
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ServiceSwap {
    pub service: String,
    pub service_id: String,
    pub old: SecretRef,
    pub new: SecretRef,
    /// The service's own update and rollback settings before the rotation, as Docker
    /// spells them (`[UpdateConfig, RollbackConfig]`, JSON): put back after the roll.
    pub settings: String,
}

/// The last step's description starts so: `undo` of a run that did it is refused.
pub(crate) const REMOVE_OLD_STEP: &str = "remove the old secret";

/// Labels on the secret the rotation creates (with the old secret's own labels).
const LABEL_FROM: &str = "breakglass.rotated-from";
const LABEL_BY: &str = "breakglass.created-by";

/// Swarm's limit on a secret's name.
const MAX_NAME: usize = 64;

/// How long one service has to converge: a base, and more for each of its tasks (a
/// start-first roll starts, checks the health of and monitors each task in turn).
fn converge_within(tasks: u64) -> Duration {
    Duration::from_secs(120u64.saturating_add(tasks.saturating_mul(60)).min(900))
}

const POLL: Duration = Duration::from_secs(1);

fn is_404(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }
    )
}

fn check(what: &'static str, name: &str) -> Result<()> {
    crate::engine::docker::check_name(what, name).map_err(Error::from)
}

fn api(docker: &RemoteDocker) -> impl Fn(bollard::errors::Error) -> Error + '_ {
    move |e| Error::from((docker.api())(e))
}

fn unavailable(reason: String) -> Error {
    Error::ActionUnavailable { reason }
}

/// The profile's first host whose engine is a swarm manager (it can list and update
/// services), or why there is none.
async fn manager(ctx: &Ctx<'_>) -> Result<(String, RemoteDocker)> {
    let mut seen = Vec::new();
    for h in ctx.profile.hosts.iter().filter(|h| h.docker) {
        let host = h.name.get_ref().clone();
        match manager_on(ctx, &host).await {
            Ok(d) => return Ok((host, d)),
            Err(Error::ActionUnavailable { reason }) => seen.push(reason),
            Err(e) => seen.push(format!("{host}: {e}")),
        }
    }
    Err(unavailable(format!(
        "no host of the deployment runs a swarm manager's Docker Engine ({})",
        if seen.is_empty() {
            "no host runs Docker".to_owned()
        } else {
            seen.join("; ")
        }
    )))
}

/// `host`'s engine, if it is a swarm manager.
async fn manager_on(ctx: &Ctx<'_>, host: &str) -> Result<RemoteDocker> {
    let docker = ctx.engine.docker(ctx.deployment(), host).await?;
    let info = docker.client().info().await.map_err(api(&docker))?;
    if info
        .swarm
        .as_ref()
        .and_then(|s| s.control_available)
        .unwrap_or(false)
    {
        Ok(docker)
    } else {
        Err(unavailable(format!(
            "{host}'s Docker Engine is not a swarm manager"
        )))
    }
}

/// The name after `old`: its version number plus one (`shop_key_v1` → `shop_key_v2`,
/// `key-v9` → `key-v10`), or `_v2` appended when it has none; then the next ones.
fn next_names(old: &str) -> impl Iterator<Item = String> + '_ {
    let digits = old.len() - old.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let (stem, n) = old.split_at(old.len() - digits);
    let versioned = digits > 0
        && digits <= 9
        && stem.len() >= 3
        && stem.ends_with('v')
        && stem[..stem.len() - 1].ends_with(['_', '-', '.']);
    let (prefix, first) = match n.parse::<u64>() {
        Ok(n) if versioned => (stem.to_owned(), n + 1),
        _ => (format!("{old}_v"), 2),
    };
    (first..first + 100).map(move |k| format!("{prefix}{k}"))
}

/// The variable a secret stands for, for the app profile's `[rotate]` rules: its name
/// without the version, upper-cased (`shop_api_key_v3` → `SHOP_API_KEY`).
fn var_of(secret: &str) -> String {
    let digits = secret.len() - secret.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let stem = &secret[..secret.len() - digits];
    let stem = match stem.strip_suffix('v') {
        Some(s) if digits > 0 && s.ends_with(['_', '-', '.']) => &s[..s.len() - 1],
        _ => secret,
    };
    stem.replace(['-', '.'], "_").to_ascii_uppercase()
}

/// Images that keep a credential of their own once initialized: a secret they read is
/// not rotated by giving them a new file.
fn is_database_image(image: &str) -> bool {
    let name = image.split('@').next().unwrap_or(image);
    let name = name.rsplit('/').next().unwrap_or(name);
    let name = name.split(':').next().unwrap_or(name);
    [
        "postgres",
        "postgresql",
        "postgis",
        "timescaledb",
        "mysql",
        "mariadb",
        "mongo",
        "mongodb",
        "redis",
        "valkey",
        "rabbitmq",
        "elasticsearch",
    ]
    .contains(&name)
}

/// The secrets of a service's spec that are `id`.
fn mounts<'a>(
    spec: &'a ServiceSpec,
    id: &'a str,
) -> impl Iterator<Item = &'a TaskSpecContainerSpecSecrets> + 'a {
    spec.task_template
        .as_ref()
        .and_then(|t| t.container_spec.as_ref())
        .and_then(|c| c.secrets.as_ref())
        .into_iter()
        .flatten()
        .filter(move |s| s.secret_id.as_deref() == Some(id))
}

fn mounts_name(spec: &ServiceSpec, name: &str) -> bool {
    spec.task_template
        .as_ref()
        .and_then(|t| t.container_spec.as_ref())
        .and_then(|c| c.secrets.as_ref())
        .is_some_and(|all| all.iter().any(|s| s.secret_name.as_deref() == Some(name)))
}

/// Where a secret is mounted in the task's container.
fn target_of(s: &TaskSpecContainerSpecSecrets) -> String {
    let name = s
        .file
        .as_ref()
        .and_then(|f| f.name.clone())
        .or_else(|| s.secret_name.clone())
        .unwrap_or_default();
    let name = display_safe(name.as_bytes());
    if name.starts_with('/') {
        name
    } else {
        format!("/run/secrets/{name}")
    }
}

fn mount_line(s: &TaskSpecContainerSpecSecrets) -> String {
    let f = s.file.clone().unwrap_or_default();
    format!(
        "{} (uid {}, gid {}, mode {:o})",
        target_of(s),
        display_safe(f.uid.unwrap_or_default().as_bytes()),
        display_safe(f.gid.unwrap_or_default().as_bytes()),
        f.mode.unwrap_or(0o444)
    )
}

/// A secret by name or ID (`None`: there is none).
async fn find_secret(docker: &RemoteDocker, name_or_id: &str) -> Result<Option<bollard::models::Secret>> {
    check("secret", name_or_id)?;
    match docker.client().inspect_secret(name_or_id).await {
        Ok(s) => Ok(Some(s)),
        Err(e) if is_404(&e) => Ok(None),
        Err(e) => Err(api(docker)(e)),
    }
}

/// How many tasks a service wants (`None` for a global service: one per eligible node).
fn replicas(spec: &ServiceSpec) -> Option<u64> {
    spec.mode
        .as_ref()
        .and_then(|m| m.replicated.as_ref())
        .map(|r| u64::try_from(r.replicas.unwrap_or(1)).unwrap_or(0))
}

/// The tasks Docker wants running for a service: how many, and how many of them run
/// with `secret_id` in their spec.
async fn tasks_on(docker: &RemoteDocker, service_id: &str, secret_id: &str) -> Result<(u64, u64)> {
    let filters = HashMap::from([("service", vec![service_id]), ("desired-state", vec!["running"])]);
    let tasks = docker
        .client()
        .list_tasks(Some(ListTasksOptionsBuilder::default().filters(&filters).build()))
        .await
        .map_err(api(docker))?;
    let mut on = 0u64;
    for t in &tasks {
        let running = t.status.as_ref().and_then(|s| s.state) == Some(TaskState::RUNNING);
        let with = t
            .spec
            .as_ref()
            .and_then(|s| s.container_spec.as_ref())
            .and_then(|c| c.secrets.as_ref())
            .is_some_and(|all| all.iter().any(|s| s.secret_id.as_deref() == Some(secret_id)));
        if running && with {
            on += 1;
        }
    }
    Ok((u64::try_from(tasks.len()).unwrap_or(u64::MAX), on))
}

/// Whether every task Docker wants for the service runs with `secret_id`, as many as it
/// wants; with the counts, for the detail.
async fn converged(
    docker: &RemoteDocker,
    service_id: &str,
    replicas: Option<u64>,
    secret_id: &str,
) -> Result<(bool, u64, u64)> {
    let (desired, on) = tasks_on(docker, service_id, secret_id).await?;
    let want = replicas.unwrap_or(desired);
    Ok((on == desired && desired >= want, on, want))
}

/// A service as the engine spells it: its version, its spec (JSON, every field kept: it
/// goes back to the engine), and its update's state, start and message.
struct Raw {
    version: u64,
    spec: Value,
    state: Option<String>,
    started: Option<String>,
    message: String,
}

async fn raw_service(docker: &RemoteDocker, id: &str) -> Result<Raw> {
    check("service", id)?;
    let v = docker
        .raw_json(Method::GET, &format!("/services/{id}"), None)
        .await?;
    let status = &v["UpdateStatus"];
    Ok(Raw {
        version: v["Version"]["Index"].as_u64().unwrap_or(0),
        spec: v["Spec"].clone(),
        state: status["State"].as_str().map(str::to_owned),
        started: status["StartedAt"].as_str().map(str::to_owned),
        message: display_safe(status["Message"].as_str().unwrap_or_default().as_bytes()),
    })
}

/// [`raw_service`], or `None` when there is no such service.
async fn raw_service_if_any(docker: &RemoteDocker, id: &str) -> Result<Option<Raw>> {
    match raw_service(docker, id).await {
        Ok(r) => Ok(Some(r)),
        Err(Error::Docker(e)) if matches!(&*e, crate::engine::docker::DockerError::Api { source, .. } if is_404(source)) => {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// How many tasks a service wants (`None` for a global service: one per eligible node).
fn replicas_json(spec: &Value) -> Option<u64> {
    let r = spec.pointer("/Mode/Replicated")?;
    Some(r["Replicas"].as_u64().unwrap_or(1))
}

/// Whether a service's spec (JSON) mounts secret `id`.
fn mounts_json(spec: &Value, id: &str) -> bool {
    spec.pointer("/TaskTemplate/ContainerSpec/Secrets")
        .and_then(Value::as_array)
        .is_some_and(|all| all.iter().any(|s| s["SecretID"].as_str() == Some(id)))
}

/// Every reference to secret `from` replaced by `to`, at the same target, owner and
/// mode (the `File` is left as it is). Returns how many.
fn swap(spec: &mut Value, from: &str, to: &SecretRef) -> usize {
    let mut n = 0;
    let all = spec
        .pointer_mut("/TaskTemplate/ContainerSpec/Secrets")
        .and_then(Value::as_array_mut);
    for s in all.into_iter().flatten().filter_map(Value::as_object_mut) {
        if s.get("SecretID").and_then(Value::as_str) == Some(from) {
            s.insert("SecretID".into(), Value::from(to.id.clone()));
            s.insert("SecretName".into(), Value::from(to.name.clone()));
            n += 1;
        }
    }
    n
}

/// The update settings a secret roll needs: start-first (the new task runs before the
/// old one stops) and, on a failure, Docker's own rollback (start-first too). The
/// service's other settings are kept; a service with none gets one task at a time.
fn borrow_settings(spec: &mut Value) {
    let Some(o) = spec.as_object_mut() else {
        return;
    };
    for (key, set) in [
        (
            "UpdateConfig",
            &[("Order", "start-first"), ("FailureAction", "rollback")][..],
        ),
        ("RollbackConfig", &[("Order", "start-first")][..]),
    ] {
        let c = o.entry(key).or_insert(Value::Null);
        if !c.is_object() {
            *c = json!({ "Parallelism": 1 });
        }
        if let Some(c) = c.as_object_mut() {
            for (k, v) in set {
                c.insert((*k).into(), Value::from(*v));
            }
        }
    }
}

/// The service's own update and rollback settings, `[UpdateConfig, RollbackConfig]`.
fn settings_of(spec: &Value) -> Value {
    json!([spec["UpdateConfig"].clone(), spec["RollbackConfig"].clone()])
}

/// `spec` with the settings `settings` (from [`settings_of`]) put back; `false` if they
/// are there already or `settings` is not theirs.
fn put_settings(spec: &mut Value, settings: &str) -> bool {
    let Ok(want) = serde_json::from_str::<Value>(settings) else {
        return false;
    };
    let (Some([u, r]), Some(o)) = (want.as_array().map(Vec::as_slice), spec.as_object_mut()) else {
        return false;
    };
    let mut changed = false;
    for (key, v) in [("UpdateConfig", u), ("RollbackConfig", r)] {
        let now = o.get(key).cloned().unwrap_or(Value::Null);
        if now != *v {
            changed = true;
            if v.is_null() {
                o.remove(key);
            } else {
                o.insert(key.into(), v.clone());
            }
        }
    }
    changed
}

/// Sends `spec` as the service's new spec, at the version read.
async fn update(docker: &RemoteDocker, id: &str, version: u64, spec: &Value) -> Result<()> {
    check("service", id)?;
    docker
        .raw_json(
            Method::POST,
            &format!("/services/{id}/update?version={version}"),
            Some(spec),
        )
        .await?;
    Ok(())
}

/// Updates a service to `spec` and waits until Docker says the update completed and
/// every task it wants runs with `secret_id`. `Ok(Err(why))`: the update failed (Docker
/// rolled it back, paused it, or it did not converge in time).
async fn update_and_wait(
    docker: &RemoteDocker,
    id: &str,
    before: &Raw,
    spec: &Value,
    secret_id: &str,
) -> Result<std::result::Result<u64, String>> {
    let want = replicas_json(spec);
    update(docker, id, before.version, spec).await?;
    let within = converge_within(want.unwrap_or(1));
    let start = Instant::now();
    loop {
        tokio::time::sleep(POLL).await;
        // Docker carries on with the update whatever the console hears: an answer lost
        // on the way is asked again until the deadline.
        let read = async {
            let now = raw_service(docker, id).await?;
            let c = converged(docker, id, replicas_json(&now.spec), secret_id).await?;
            Ok::<_, Error>((now, c))
        };
        let (now, (done, on, want)) = match read.await {
            Ok(x) => x,
            Err(e) if start.elapsed() <= within => {
                let _ = e;
                continue;
            }
            Err(e) => return Err(e),
        };
        // This update's status, not the one of an earlier update.
        let ours = now.started.is_some() && now.started != before.started;
        let message = &now.message;
        match (ours, now.state.as_deref()) {
            (true, Some("completed")) if done => return Ok(Ok(on)),
            (true, Some("rollback_completed")) => {
                return Ok(Err(format!("Docker rolled the update back ({message})")));
            }
            (true, Some("paused")) => return Ok(Err(format!("Docker paused the update ({message})"))),
            (true, Some("rollback_paused")) => {
                return Ok(Err(format!(
                    "Docker paused the rollback of the update ({message})"
                )));
            }
            // No task to replace: Docker may report no update at all.
            (false, _) if done && want == 0 && start.elapsed() > Duration::from_secs(3) => return Ok(Ok(0)),
            _ => {}
        }
        if start.elapsed() > within {
            return Ok(Err(format!(
                "not converged within {} s (update state {}; {on} of {want} task(s) running with the secret)",
                within.as_secs(),
                now.state.as_deref().unwrap_or("none")
            )));
        }
    }
}

/// Puts back a service's own update and rollback settings (`settings`, JSON) if they
/// differ: a change of settings alone restarts no task.
async fn restore_settings(docker: &RemoteDocker, service_id: &str, settings: &str) -> Result<bool> {
    let mut svc = raw_service(docker, service_id).await?;
    if !put_settings(&mut svc.spec, settings) {
        return Ok(false);
    }
    update(docker, service_id, svc.version, &svc.spec).await?;
    Ok(true)
}

/// Moves a service from secret `from` to `to` (start-first, Docker's rollback on a
/// failure), waits for it, then puts its own settings back. `Ok(Err(why))`: the move
/// failed, and the service was brought back onto `from` (said in `why`).
async fn roll(
    docker: &RemoteDocker,
    swap_: &ServiceSwap,
    from: &SecretRef,
    to: &SecretRef,
) -> Result<std::result::Result<(u64, String), String>> {
    let id = &swap_.service_id;
    let svc = raw_service(docker, id).await?;
    let mut spec = svc.spec.clone();
    if swap(&mut spec, &from.id, to) == 0 {
        return Err(unavailable(format!(
            "service {} does not mount {} any more",
            display_safe(swap_.service.as_bytes()),
            from.name
        )));
    }
    borrow_settings(&mut spec);
    match update_and_wait(docker, id, &svc, &spec, &to.id).await? {
        Ok(n) => {
            // The move is done: settings that cannot be put back are said, not a failure
            // (a failure here would leave the service on `to` with nothing to undo it).
            let note = match restore_settings(docker, id, &swap_.settings).await {
                Ok(_) => "its own update settings kept".to_owned(),
                Err(e) => format!(
                    "its own update settings could NOT be put back ({e}): it keeps start-first and rollback on failure"
                ),
            };
            Ok(Ok((n, note)))
        }
        Err(why) => {
            // Back onto `from`: Docker's rollback did it, or the console does it now.
            let now = raw_service(docker, id).await?;
            let mut spec = now.spec.clone();
            let back = if swap(&mut spec, &to.id, from) == 0 {
                let (done, on, want) = converged(docker, id, replicas_json(&now.spec), &from.id).await?;
                if done {
                    format!("it runs {} again ({on} of {want} task(s))", from.name)
                } else {
                    format!(
                        "its spec names {} again, {on} of {want} task(s) running with it",
                        from.name
                    )
                }
            } else {
                borrow_settings(&mut spec);
                match update_and_wait(docker, id, &now, &spec, &from.id).await? {
                    Ok(n) => format!("the console put it back onto {} ({n} task(s))", from.name),
                    Err(e) => format!("it could NOT be put back onto {}: {e}", from.name),
                }
            };
            let settings = match restore_settings(docker, id, &swap_.settings).await {
                Ok(_) => String::new(),
                Err(e) => format!("; its update settings could not be put back: {e}"),
            };
            Ok(Err(format!("{why}; {back}{settings}")))
        }
    }
}

/// A service that mounts the secret, as the plan shows it.
struct Consumer {
    name: String,
    id: String,
    spec: ServiceSpec,
    running: u64,
    desired: u64,
}

async fn consumers(docker: &RemoteDocker, secret_id: &str) -> Result<Vec<Consumer>> {
    let list = docker
        .client()
        .list_services(Some(ListServicesOptionsBuilder::default().status(true).build()))
        .await
        .map_err(api(docker))?;
    let mut out: Vec<Consumer> = list
        .into_iter()
        .filter_map(|s| {
            let spec = s.spec?;
            mounts(&spec, secret_id).next()?;
            let status = s.service_status.unwrap_or_default();
            Some(Consumer {
                name: spec.name.clone().unwrap_or_default(),
                id: s.id.unwrap_or_default(),
                running: status.running_tasks.unwrap_or(0),
                desired: status.desired_tasks.unwrap_or(0),
                spec,
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

const NEW_LINE: &str = "new secret: ";
const SERVICE_LINE: &str = "service ";

/// The new secret's name and the services, from the plan's sample (written by `plan`).
fn planned(plan: &Plan) -> Option<(String, Vec<String>)> {
    let new = plan
        .sample
        .iter()
        .find_map(|l| l.strip_prefix(NEW_LINE))
        .and_then(|l| l.split(' ').next())?
        .to_owned();
    let services = plan
        .sample
        .iter()
        .filter_map(|l| l.strip_prefix(SERVICE_LINE))
        .filter_map(|l| l.split(':').next())
        .map(str::to_owned)
        .collect();
    Some((new, services))
}

impl Action for RotateDockerSecret {
    fn plan<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, Result<Planned>> {
        Box::pin(async move {
            check("secret", &self.secret)?;
            let (host, docker) = manager(ctx).await?;
            let old = find_secret(&docker, &self.secret)
                .await?
                .ok_or_else(|| Error::BadArgument {
                    message: format!(
                        "no Docker secret named {} on the swarm ({host}'s engine is its manager)",
                        self.secret
                    ),
                })?;
            let old_spec = old.spec.clone().unwrap_or_default();
            if old_spec.name.as_deref() != Some(self.secret.as_str()) {
                return Err(Error::BadArgument {
                    message: format!(
                        "{} is not a secret's name (it is another secret's ID): name the secret",
                        self.secret
                    ),
                });
            }
            if old_spec.driver.is_some() {
                return Err(unavailable(format!(
                    "{}'s value comes from a secrets driver (an external store): rotate it there",
                    self.secret
                )));
            }
            let old = SecretRef {
                name: self.secret.clone(),
                id: old.id.clone().unwrap_or_default(),
            };
            check("secret", &old.id)?;
            // The new name: the next version that does not exist.
            let existing: Vec<String> = docker
                .client()
                .list_secrets(None::<ListSecretsOptions>)
                .await
                .map_err(api(&docker))?
                .into_iter()
                .filter_map(|s| s.spec.and_then(|s| s.name))
                .collect();
            let mut skipped = Vec::new();
            let mut new_name = None;
            for n in next_names(&self.secret) {
                if existing.contains(&n) {
                    skipped.push(n);
                } else {
                    new_name = Some(n);
                    break;
                }
            }
            let new_name = new_name.filter(|n| n.len() <= MAX_NAME).ok_or_else(|| {
                unavailable(format!(
                    "no free versioned name after {} (Swarm allows {MAX_NAME} characters)",
                    self.secret
                ))
            })?;
            check("secret", &new_name)?;

            let services = consumers(&docker, &old.id).await?;
            if services.is_empty() {
                return Err(unavailable(format!(
                    "no service mounts {}: there is nothing to roll (remove it with `docker secret rm {}` if it is unused)",
                    self.secret, self.secret
                )));
            }
            let n = services.len();
            let mut warnings = Vec::new();
            if !skipped.is_empty() {
                warnings.push(format!(
                    "{} exist(s) already (left by an earlier rotation, or made by hand): the new secret is {new_name}",
                    skipped.join(", ")
                ));
            }
            // The app profile's rules, by the variable the secret stands for.
            let var = var_of(&self.secret);
            let rules = &ctx.app.rotate;
            if rules.is_encryption_key(&var) || var.contains("ENCRYPTION_KEY") {
                return Err(unavailable(format!(
                    "{} holds {var}, a key of stored data: a new value makes what it encrypted unreadable, and this rotation deletes the old one at the end; re-encrypt with the app's procedure instead",
                    self.secret
                )));
            }
            if rules.is_pasted(&var) {
                return Err(unavailable(format!(
                    "{} holds {var}, a third party's secret: it is never generated; rotate it where it is issued and create the new Docker secret from that value",
                    self.secret
                )));
            }
            for c in &services {
                let image = c
                    .spec
                    .task_template
                    .as_ref()
                    .and_then(|t| t.container_spec.as_ref())
                    .and_then(|c| c.image.clone())
                    .unwrap_or_default();
                if is_database_image(&image) {
                    return Err(unavailable(format!(
                        "service {} ({}) mounts {}: a database keeps its own password once initialized, so a new file would leave it expecting the old one while the app gets the new; rotate the database's password with the database (rotate POSTGRES_PASSWORD with a .env, or by hand)",
                        display_safe(c.name.as_bytes()),
                        display_safe(image.as_bytes()),
                        self.secret
                    )));
                }
            }
            let form = rules.form(&var);
            warnings.push(format!(
                "only the services that mount {} learn the new value: a copy of it anywhere else (a .env, a CI variable, a third party) keeps the old one, which the last step deletes",
                self.secret
            ));
            let value = Arc::new(super::values::generate(form)?);
            let created: Arc<Mutex<Option<String>>> = Arc::default();
            let mut labels: HashMap<String, String> = old_spec.labels.clone().unwrap_or_default();
            labels.insert(LABEL_FROM.into(), self.secret.clone());
            labels.insert(LABEL_BY.into(), "breakglass rotate-docker-secret".into());
            let mut steps: Vec<Box<dyn Step>> = vec![Box::new(CreateSecret {
                host: host.clone(),
                name: new_name.clone(),
                from: self.secret.clone(),
                labels,
                value,
                created: created.clone(),
            })];
            let mut sample = vec![format!(
                "{NEW_LINE}{new_name} (replaces {}; a new {form} value from the OS CSPRNG, the form the app profile sets for {var})",
                self.secret
            )];
            let profile_services = &ctx.profile.services;
            let mut tasks = 0u64;
            for c in &services {
                check("service", &c.id)?;
                let name = display_safe(c.name.as_bytes());
                if c.spec
                    .mode
                    .as_ref()
                    .is_some_and(|m| m.replicated_job.is_some() || m.global_job.is_some())
                {
                    return Err(unavailable(format!(
                        "service {name} is a job: updating it would run the job again; move it to the new secret by hand"
                    )));
                }
                let targets: Vec<String> = mounts(&c.spec, &old.id).map(mount_line).collect();
                let in_profile = profile_services
                    .iter()
                    .any(|s| s.swarm_service.as_ref().is_some_and(|n| n.get_ref() == &c.name));
                sample.push(format!(
                    "{SERVICE_LINE}{name}: mounts it at {}; {} of {} task(s) running{}",
                    targets.join(", "),
                    c.running,
                    c.desired,
                    if in_profile { "" } else { " (not in the profile)" }
                ));
                tasks += c.running;
                if !in_profile {
                    warnings.push(format!(
                        "service {name} mounts {} and is not in the profile: it is rolled too (the old secret can be removed only when no service mounts it)",
                        self.secret
                    ));
                }
                let labels = c.spec.labels.clone().unwrap_or_default();
                if let Some(stack) = labels.get("com.docker.stack.namespace") {
                    warnings.push(format!(
                        "service {name} belongs to the stack {}: name {new_name} in the stack file before the next `docker stack deploy`, which would otherwise put back {} (gone by then) and fail",
                        display_safe(stack.as_bytes()),
                        self.secret
                    ));
                }
                let host_ports: Vec<String> = c
                    .spec
                    .endpoint_spec
                    .as_ref()
                    .and_then(|e| e.ports.as_ref())
                    .into_iter()
                    .flatten()
                    .filter(|p| p.publish_mode == Some(EndpointPortConfigPublishModeEnum::HOST))
                    .filter_map(|p| p.published_port.map(|n| n.to_string()))
                    .collect();
                if !host_ports.is_empty() {
                    warnings.push(format!(
                        "service {name} publishes port(s) {} in host mode: a second task cannot start beside the first on the same node, so its start-first roll will fail and be rolled back",
                        host_ports.join(", ")
                    ));
                }
                if c.desired == 0 {
                    warnings.push(format!(
                        "service {name} has no task to run: it mounts the new secret from its next start"
                    ));
                }
                let raw = raw_service(&docker, &c.id).await?;
                let mut borrowed = raw.spec.clone();
                borrow_settings(&mut borrowed);
                if settings_of(&borrowed) != settings_of(&raw.spec) {
                    warnings.push(format!(
                        "service {name}: its update settings are set to start-first with Docker's rollback for the roll, and put back afterwards"
                    ));
                }
                steps.push(Box::new(RollService {
                    host: host.clone(),
                    planned: ServiceSwap {
                        service: c.name.clone(),
                        service_id: c.id.clone(),
                        old: old.clone(),
                        new: SecretRef {
                            name: new_name.clone(),
                            id: String::new(),
                        },
                        settings: settings_of(&raw.spec).to_string(),
                    },
                    created: created.clone(),
                    done: Mutex::default(),
                    tried: Mutex::default(),
                }));
            }
            if n > 1 {
                warnings.push(format!(
                    "{n} services mount {}: they roll one after the other, so for a while those rolled hold the new value and the others the old; if they check the value against each other (a shared key), their requests to each other fail until the last has rolled",
                    self.secret
                ));
            }
            for s in profile_services {
                if s.docker_secrets.iter().any(|d| d.get_ref() == &self.secret) {
                    warnings.push(format!(
                        "the profile's service {} names {} in docker_secrets: change it to {new_name} in the profile's file and add the profile again (the console does not write the team's profile)",
                        display_safe(s.name.get_ref().as_bytes()),
                        self.secret
                    ));
                }
            }
            warnings.push(
                "each service's tasks are replaced start-first: a new task runs (and is healthy, where it has a health check) before its old one stops; a failed roll is rolled back by Docker and the rotation undone; after the last step (the old secret removed) the rotation cannot be undone".into(),
            );
            warnings.push(
                "Docker never gives a secret's value back: verify compares secret IDs (the services' and their running tasks' specs), not values".into(),
            );
            steps.push(Box::new(RemoveOld {
                host: host.clone(),
                old: old.clone(),
            }));
            let plan = Plan {
                action: "rotate-docker-secret".into(),
                deployment: ctx.deployment().to_owned(),
                summary: format!(
                    "new Docker secret {new_name} for {}, {n} service(s) ({tasks} task(s) running) rolled onto it one at a time, then {} removed (swarm manager: {host})",
                    self.secret, self.secret
                ),
                count: i64::try_from(n + 2).unwrap_or(i64::MAX),
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

    fn verify<'a>(&'a self, ctx: &'a Ctx<'_>, plan: &'a Plan) -> BoxFuture<'a, Result<Verdict>> {
        Box::pin(async move {
            let (_, docker) = manager(ctx).await?;
            let Some((new_name, services)) = planned(plan) else {
                return Ok(Verdict::new(false, "the plan names no new secret").by(Vantage::Docker));
            };
            let mut problems = Vec::new();
            if find_secret(&docker, &self.secret).await?.is_some() {
                problems.push(format!("the old secret {} still exists", self.secret));
            }
            let new = find_secret(&docker, &new_name).await?;
            let new_id = match &new {
                Some(s)
                    if s.spec
                        .as_ref()
                        .and_then(|s| s.labels.as_ref())
                        .and_then(|l| l.get(LABEL_FROM))
                        == Some(&self.secret) =>
                {
                    s.id.clone().unwrap_or_default()
                }
                Some(_) => {
                    problems.push(format!(
                        "{new_name} is not the secret this rotation made (its label says otherwise)"
                    ));
                    String::new()
                }
                None => {
                    problems.push(format!("the new secret {new_name} does not exist"));
                    String::new()
                }
            };
            let mut tasks = 0;
            for name in &services {
                check("service", name)?;
                let Some(svc) = raw_service_if_any(&docker, name).await? else {
                    problems.push(format!("service {name} is gone"));
                    continue;
                };
                let old_still = svc
                    .spec
                    .pointer("/TaskTemplate/ContainerSpec/Secrets")
                    .and_then(Value::as_array)
                    .is_some_and(|all| all.iter().any(|m| m["SecretName"].as_str() == Some(&self.secret)));
                if old_still {
                    problems.push(format!("service {name} still mounts {}", self.secret));
                }
                if new_id.is_empty() || !mounts_json(&svc.spec, &new_id) {
                    problems.push(format!("service {name} does not mount {new_name}"));
                    continue;
                }
                let (done, on, want) = converged(&docker, name, replicas_json(&svc.spec), &new_id).await?;
                tasks += on;
                if !done {
                    problems.push(format!(
                        "service {name}: {on} of {want} task(s) running with {new_name}"
                    ));
                }
                if let Some(
                    state @ ("updating" | "paused" | "rollback_started" | "rollback_paused"
                    | "rollback_completed"),
                ) = svc.state.as_deref()
                {
                    problems.push(format!("service {name}: update state {state}"));
                }
            }
            // A service that mounts the old secret and was not in the plan (made since).
            match docker
                .client()
                .list_services(None::<bollard::query_parameters::ListServicesOptions>)
                .await
            {
                Err(e) => problems.push(format!(
                    "the swarm's services could not be listed to find any other that mounts {}: {}",
                    self.secret,
                    api(&docker)(e)
                )),
                Ok(list) => {
                    for s in list {
                        let spec = s.spec.unwrap_or_default();
                        let name = spec.name.clone().unwrap_or_default();
                        if mounts_name(&spec, &self.secret) && !services.contains(&name) {
                            problems.push(format!(
                                "service {} mounts {}",
                                display_safe(name.as_bytes()),
                                self.secret
                            ));
                        }
                    }
                }
            }
            Ok(if problems.is_empty() {
                Verdict::new(
                    true,
                    format!(
                        "the {} service(s) that mounted {} mount {new_name} now, {tasks} task(s) running with it and converged; {} is gone (compared by secret ID: Docker never gives a value back)",
                        services.len(),
                        self.secret,
                        self.secret
                    ),
                )
            } else {
                Verdict::new(false, problems.join("; "))
            }
            .by(Vantage::Docker))
        })
    }
}

/// Step 1: the new secret, with its value from the CSPRNG.
struct CreateSecret {
    host: String,
    name: String,
    from: String,
    labels: HashMap<String, String>,
    value: Arc<Sensitive<String>>,
    created: Arc<Mutex<Option<String>>>,
}

impl Step for CreateSecret {
    fn description(&self) -> String {
        format!(
            "create the Docker secret {} with a new random value (labelled as made from {})",
            self.name, self.from
        )
    }

    fn run<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, Result<StepDone>> {
        Box::pin(async move {
            let docker = manager_on(ctx, &self.host).await?;
            // The value, base64, in the request's body only. Not through bollard's
            // `create_secret`: bollard writes every request body it serializes to the
            // `log` crate at debug level, which a logger installed later would print.
            let data = zeroize::Zeroizing::new(
                base64::engine::general_purpose::STANDARD.encode(self.value.expose()),
            );
            let body = json!({ "Name": self.name, "Labels": self.labels, "Data": data.as_str() });
            let made = docker
                .raw_json(Method::POST, "/secrets/create", Some(&body))
                .await
                .map_err(|e| match e {
                    // The engine's message names the secret, never its data.
                    crate::engine::docker::DockerError::Api {
                        source: bollard::errors::Error::DockerResponseServerError { status_code, message },
                        ..
                    } => unavailable(format!(
                        "Docker refused to create the secret {} ({status_code}: {message})",
                        self.name
                    )),
                    e => Error::from(e),
                });
            drop(body);
            let id = made?["ID"].as_str().unwrap_or_default().to_owned();
            check("secret", &id)?;
            if let Ok(mut c) = self.created.lock() {
                *c = Some(id.clone());
            }
            Ok(StepDone {
                detail: format!(
                    "{} created (id {})",
                    self.name,
                    id.chars().take(12).collect::<String>()
                ),
                changed: 1,
            })
        })
    }

    fn undo(&self) -> Option<ActionSpec> {
        Some(ActionSpec::RotateDockerSecretUndo(RotateDockerSecretUndo {
            host: self.host.clone(),
            created: Some(SecretRef {
                name: self.name.clone(),
                id: self
                    .created
                    .lock()
                    .ok()
                    .and_then(|c| c.clone())
                    .unwrap_or_default(),
            }),
            service: None,
        }))
    }
}

/// Step 2…: one service rolled onto the new secret.
struct RollService {
    host: String,
    planned: ServiceSwap,
    created: Arc<Mutex<Option<String>>>,
    /// What the run did (the new secret's ID, the settings as read at the run).
    done: Mutex<Option<ServiceSwap>>,
    /// The same, set before the update is sent.
    tried: Mutex<Option<ServiceSwap>>,
}

impl Step for RollService {
    fn description(&self) -> String {
        format!(
            "roll service {} onto {} (start-first; Docker rolls it back on a failure) and wait until every task runs with it",
            display_safe(self.planned.service.as_bytes()),
            self.planned.new.name
        )
    }

    fn run<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, Result<StepDone>> {
        Box::pin(async move {
            let docker = manager_on(ctx, &self.host).await?;
            let new_id = self
                .created
                .lock()
                .ok()
                .and_then(|c| c.clone())
                .ok_or_else(|| unavailable("the new secret was not created".into()))?;
            let svc = raw_service(&docker, &self.planned.service_id).await?;
            let mut swap_ = self.planned.clone();
            swap_.new.id = new_id;
            swap_.settings = settings_of(&svc.spec).to_string();
            let name = display_safe(swap_.service.as_bytes());
            // Known before the update is sent: if the step fails half way (a lost answer),
            // its undo moves the service back (see `undo_after_failure`).
            if let Ok(mut t) = self.tried.lock() {
                *t = Some(swap_.clone());
            }
            match roll(&docker, &swap_, &swap_.old, &swap_.new).await? {
                Ok((n, note)) => {
                    if let Ok(mut d) = self.done.lock() {
                        *d = Some(swap_.clone());
                    }
                    Ok(StepDone {
                        detail: format!(
                            "service {name}: {n} task(s) running with {}, the update completed; {note}",
                            swap_.new.name
                        ),
                        changed: 1,
                    })
                }
                Err(why) => Err(unavailable(format!("service {name}: {why}"))),
            }
        })
    }

    /// A failure half way (the update sent, its answer or the wait lost, Docker's
    /// rollback incomplete): the service back onto the old secret. Plans as its settings
    /// only, or nothing, when it is on the old one already.
    fn undo_after_failure(&self) -> Option<ActionSpec> {
        let swap_ = self.tried.lock().ok().and_then(|t| t.clone())?;
        Some(ActionSpec::RotateDockerSecretUndo(RotateDockerSecretUndo {
            host: self.host.clone(),
            created: None,
            service: Some(swap_),
        }))
    }

    fn undo(&self) -> Option<ActionSpec> {
        let swap_ = self
            .done
            .lock()
            .ok()
            .and_then(|d| d.clone())
            .unwrap_or_else(|| self.planned.clone());
        Some(ActionSpec::RotateDockerSecretUndo(RotateDockerSecretUndo {
            host: self.host.clone(),
            created: None,
            service: Some(swap_),
        }))
    }
}

/// The last step: the old secret removed. The rotation is complete when it starts: a
/// secret that cannot be removed is said, not a reason to undo.
struct RemoveOld {
    host: String,
    old: SecretRef,
}

impl Step for RemoveOld {
    fn description(&self) -> String {
        format!(
            "{REMOVE_OLD_STEP} {} (after this the rotation cannot be undone)",
            self.old.name
        )
    }

    fn run<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, Result<StepDone>> {
        Box::pin(async move {
            let removed = match manager_on(ctx, &self.host).await {
                Ok(docker) => match docker.client().delete_secret(&self.old.id).await {
                    Ok(()) => Ok(()),
                    Err(e) if is_404(&e) => Ok(()),
                    Err(e) => Err(api(&docker)(e)),
                },
                Err(e) => Err(e),
            };
            Ok(match removed {
                Ok(()) => StepDone {
                    detail: format!("{} removed", self.old.name),
                    changed: 1,
                },
                Err(e) => StepDone {
                    detail: format!(
                        "{} NOT removed ({e}); it holds the old value: remove it with `docker secret rm {}`",
                        self.old.name, self.old.name
                    ),
                    changed: 0,
                },
            })
        })
    }
}

impl Action for RotateDockerSecretUndo {
    fn plan<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, Result<Planned>> {
        Box::pin(async move {
            let docker = manager_on(ctx, &self.host).await?;
            let mut steps: Vec<Box<dyn Step>> = Vec::new();
            let mut sample = Vec::new();
            if let Some(s) = &self.service {
                check("service", &s.service_id)?;
                let name = display_safe(s.service.as_bytes());
                match raw_service_if_any(&docker, &s.service_id).await? {
                    None => sample.push(format!("service {name} is gone: nothing to move back")),
                    Some(svc) => {
                        let on_new = !s.new.id.is_empty() && mounts_json(&svc.spec, &s.new.id);
                        let settings_back = put_settings(&mut svc.spec.clone(), &s.settings);
                        if on_new {
                            check("secret", &s.old.id)?;
                            if find_secret(&docker, &s.old.id).await?.is_none() {
                                return Err(unavailable(format!(
                                    "service {name} cannot go back onto {}: that secret is gone (removed by the rotation's last step or by hand); rotate again instead",
                                    s.old.name
                                )));
                            }
                            sample.push(format!("service {name} back onto {}", s.old.name));
                        } else if settings_back {
                            sample.push(format!("service {name}: its own update settings back"));
                        }
                        if on_new || settings_back {
                            steps.push(Box::new(ServiceBack {
                                host: self.host.clone(),
                                swap: s.clone(),
                            }));
                        }
                    }
                }
            }
            if let Some(c) = &self.created
                && !c.id.is_empty()
            {
                check("secret", &c.id)?;
                if find_secret(&docker, &c.id).await?.is_some() {
                    sample.push(format!("{} removed", c.name));
                    steps.push(Box::new(RemoveNew {
                        host: self.host.clone(),
                        secret: c.clone(),
                    }));
                }
            }
            let plan = Plan {
                action: "rotate-docker-secret-undo".into(),
                deployment: ctx.deployment().to_owned(),
                summary: if steps.is_empty() {
                    "nothing of the Swarm secret rotation left to undo".into()
                } else {
                    "undo the Swarm secret rotation's change".into()
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
            let docker = manager_on(ctx, &self.host).await?;
            let mut problems = Vec::new();
            if let Some(s) = &self.service {
                check("service", &s.service_id)?;
                let name = display_safe(s.service.as_bytes());
                match docker
                    .client()
                    .inspect_service(&s.service_id, None::<InspectServiceOptions>)
                    .await
                {
                    Err(e) if is_404(&e) => {}
                    Err(e) => return Err(api(&docker)(e)),
                    Ok(svc) => {
                        let spec = svc.spec.unwrap_or_default();
                        if !s.new.id.is_empty() && mounts(&spec, &s.new.id).next().is_some() {
                            problems.push(format!("service {name} still mounts {}", s.new.name));
                        }
                        if mounts(&spec, &s.old.id).next().is_none() {
                            problems.push(format!("service {name} does not mount {}", s.old.name));
                        } else {
                            let (done, on, want) =
                                converged(&docker, &s.service_id, replicas(&spec), &s.old.id).await?;
                            if !done {
                                problems.push(format!(
                                    "service {name}: {on} of {want} task(s) running with {}",
                                    s.old.name
                                ));
                            }
                        }
                    }
                }
            }
            if let Some(c) = &self.created
                && !c.id.is_empty()
                && find_secret(&docker, &c.id).await?.is_some()
            {
                problems.push(format!("{} still exists", c.name));
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

/// Undo: a service back onto the old secret (the same way it left: start-first), and
/// its own update settings back.
struct ServiceBack {
    host: String,
    swap: ServiceSwap,
}

impl Step for ServiceBack {
    fn description(&self) -> String {
        format!(
            "service {} back onto {}",
            display_safe(self.swap.service.as_bytes()),
            self.swap.old.name
        )
    }

    fn run<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, Result<StepDone>> {
        Box::pin(async move {
            let docker = manager_on(ctx, &self.host).await?;
            let name = display_safe(self.swap.service.as_bytes());
            let svc = raw_service(&docker, &self.swap.service_id).await?;
            if self.swap.new.id.is_empty() || !mounts_json(&svc.spec, &self.swap.new.id) {
                restore_settings(&docker, &self.swap.service_id, &self.swap.settings).await?;
                return Ok(StepDone {
                    detail: format!("service {name}: its own update settings back"),
                    changed: 1,
                });
            }
            match roll(&docker, &self.swap, &self.swap.new, &self.swap.old).await? {
                Ok((n, note)) => Ok(StepDone {
                    detail: format!(
                        "service {name}: {n} task(s) running with {} again; {note}",
                        self.swap.old.name
                    ),
                    changed: 1,
                }),
                Err(why) => Err(unavailable(format!("service {name}: {why}"))),
            }
        })
    }
}

/// Undo: the secret the rotation created, removed.
struct RemoveNew {
    host: String,
    secret: SecretRef,
}

impl Step for RemoveNew {
    fn description(&self) -> String {
        format!("remove the new secret {}", self.secret.name)
    }

    fn run<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, Result<StepDone>> {
        Box::pin(async move {
            let docker = manager_on(ctx, &self.host).await?;
            match docker.client().delete_secret(&self.secret.id).await {
                Ok(()) => {}
                Err(e) if is_404(&e) => {}
                Err(e) => return Err(api(&docker)(e)),
            }
            Ok(StepDone {
                detail: format!("{} removed", self.secret.name),
                changed: 1,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_stands_for_a_variable_and_databases_are_known() {
        assert_eq!(var_of("shop_api_key_v3"), "SHOP_API_KEY");
        assert_eq!(var_of("jwt-secret-v12"), "JWT_SECRET");
        assert_eq!(var_of("api_key_encryption_key"), "API_KEY_ENCRYPTION_KEY");
        assert_eq!(var_of("key2"), "KEY2");
        for db in [
            "postgres",
            "postgres:16-alpine",
            "docker.io/library/mariadb:11@sha256:ab",
            "bitnami/redis:7",
        ] {
            assert!(is_database_image(db), "{db}");
        }
        for app in [
            "sandbox-app:latest",
            "ghcr.io/x/postgres-exporter",
            "myapp-postgresql-client",
        ] {
            assert!(!is_database_image(app), "{app}");
        }
    }

    fn names(old: &str, n: usize) -> Vec<String> {
        next_names(old).take(n).collect()
    }

    #[test]
    fn the_next_version_of_a_name() {
        assert_eq!(names("shop_key_v1", 2), ["shop_key_v2", "shop_key_v3"]);
        assert_eq!(names("key-v9", 1), ["key-v10"]);
        assert_eq!(names("a.v41", 1), ["a.v42"]);
        assert_eq!(names("shop_key", 2), ["shop_key_v2", "shop_key_v3"]);
        // Digits without a version marker are part of the name.
        assert_eq!(names("key2", 1), ["key2_v2"]);
        assert_eq!(names("v1", 1), ["v1_v2"]);
        assert_eq!(names("_v1", 1), ["_v1_v2"]);
        assert_eq!(names("x_v", 1), ["x_v_v2"]);
        assert_eq!(names("x_v99999999999", 1), ["x_v99999999999_v2"]);
    }

    fn secret(id: &str, name: &str, target: &str) -> TaskSpecContainerSpecSecrets {
        TaskSpecContainerSpecSecrets {
            file: Some(bollard::models::TaskSpecContainerSpecFile {
                name: Some(target.into()),
                uid: Some("1000".into()),
                gid: Some("1000".into()),
                mode: Some(0o400),
            }),
            secret_id: Some(id.into()),
            secret_name: Some(name.into()),
        }
    }

    fn mount(id: &str, name: &str, target: &str) -> Value {
        json!({"File": {"Name": target, "UID": "1000", "GID": "1000", "Mode": 256}, "SecretID": id, "SecretName": name})
    }

    #[test]
    fn a_swap_keeps_target_owner_mode_other_secrets_and_unknown_fields() {
        // As the engine spells it: `Healthcheck` (which bollard's models would drop) and
        // a field no model knows are kept as they are.
        let mut spec = json!({
            "Name": "shop_api",
            "TaskTemplate": {"ContainerSpec": {
                "Image": "app:1",
                "Healthcheck": {"Test": ["CMD-SHELL", "true"]},
                "SomethingNewer": {"x": 1},
                "Secrets": [mount("old", "k_v1", "key"), mount("other", "db", "db_password"), mount("old", "k_v1", "key_again"), "not an object"]
            }},
        });
        let mut want = spec.clone();
        let to = SecretRef {
            name: "k_v2".into(),
            id: "new".into(),
        };
        assert_eq!(swap(&mut spec, "old", &to), 2);
        want["TaskTemplate"]["ContainerSpec"]["Secrets"][0] = mount("new", "k_v2", "key");
        want["TaskTemplate"]["ContainerSpec"]["Secrets"][2] = mount("new", "k_v2", "key_again");
        assert_eq!(spec, want);
        assert!(mounts_json(&spec, "new") && !mounts_json(&spec, "old"));
        // Nothing to swap in a spec of another shape.
        assert_eq!(swap(&mut json!({"TaskTemplate": 3}), "old", &to), 0);
        assert_eq!(swap(&mut json!(null), "old", &to), 0);
    }

    #[test]
    fn borrowed_settings_are_start_first_with_rollback_and_go_back_exactly() {
        let mut spec = json!({
            "Name": "s",
            "UpdateConfig": {"Parallelism": 3, "Delay": 7, "FailureAction": "pause", "Monitor": 5000000000u64, "MaxFailureRatio": 0, "Order": "stop-first"},
        });
        let original = spec.clone();
        let before = settings_of(&spec).to_string();
        borrow_settings(&mut spec);
        assert_eq!(
            spec["UpdateConfig"],
            json!({"Parallelism": 3, "Delay": 7, "FailureAction": "rollback", "Monitor": 5000000000u64, "MaxFailureRatio": 0, "Order": "start-first"})
        );
        assert_eq!(
            spec["RollbackConfig"],
            json!({"Parallelism": 1, "Order": "start-first"})
        );
        assert!(put_settings(&mut spec, &before));
        assert_eq!(spec, original, "the settings as they were, the absent one absent");
        assert!(!put_settings(&mut spec, &before), "nothing left to put back");
        assert!(!put_settings(&mut spec, "not json"));
        // A service with no settings gets one task at a time, not all at once.
        let mut bare = json!({"Name": "s"});
        borrow_settings(&mut bare);
        assert_eq!(bare["UpdateConfig"]["Parallelism"], 1);
        assert_eq!(
            replicas_json(&json!({"Mode": {"Replicated": {"Replicas": 2}}})),
            Some(2)
        );
        assert_eq!(replicas_json(&json!({"Mode": {"Global": {}}})), None);
    }

    #[test]
    fn verify_reads_back_what_the_plan_wrote() {
        let plan = Plan {
            action: "rotate-docker-secret".into(),
            deployment: "d".into(),
            summary: String::new(),
            count: 3,
            sample: vec![
                format!("{NEW_LINE}k_v2 (replaces k_v1; …)"),
                format!(
                    "{SERVICE_LINE}shop_api: mounts it at /run/secrets/key (uid 0, gid 0, mode 444); 2 of 2 task(s) running"
                ),
                format!(
                    "{SERVICE_LINE}shop_web: mounts it at /run/secrets/key (uid 0, gid 0, mode 444); 1 of 1 task(s) running (not in the profile)"
                ),
            ],
            steps: vec![],
            reversible: vec![],
            destructive: true,
            warnings: vec![],
            digest: String::new(),
        };
        let (new, services) = planned(&plan).unwrap();
        assert_eq!(new, "k_v2");
        assert_eq!(services, ["shop_api", "shop_web"]);
    }

    #[test]
    fn targets_are_under_run_secrets() {
        assert_eq!(target_of(&secret("i", "n", "key")), "/run/secrets/key");
        assert_eq!(target_of(&secret("i", "n", "/etc/app/key")), "/etc/app/key");
        assert_eq!(
            mount_line(&secret("i", "n", "key")),
            "/run/secrets/key (uid 1000, gid 1000, mode 400)"
        );
    }
}
