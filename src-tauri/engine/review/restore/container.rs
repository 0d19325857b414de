//! The restore test's throwaway PostgreSQL container, for a deployment whose production
//! server must not be touched: made through the Docker API on the backups' host from an
//! image with the official `postgres` image's contract, with no network (`none`), a
//! memory, CPU and process limit, no new privileges, its data directory and its only
//! Unix socket in a scratch directory of the host (`/var/tmp/bg_restore_<hex>`, mode 700).
//! `pg_restore`/`psql` run on the host as for a scratch database and reach it through
//! that socket; so does the comparison with production. The container carries a label
//! naming the console, its process and the time; the next test removes those whose
//! console is gone. Removed (with its volumes) and the directory too, whatever happened.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder,
};
use futures_util::StreamExt;

use super::{
    CheckStatus, PREFIX, RestoreReport, SCRATCH_ROOT, Test, free_space, is_leftover, label, make_scratch_dir,
    remove_dir_command,
};
use crate::engine::db::DbCredentials;
use crate::engine::docker::RemoteDocker;
use crate::engine::profiles::{Database, DbTls, parse_size};
use crate::engine::secret::Sensitive;
use crate::engine::ssh::output::{display_safe, shell_quote};
use crate::engine::{Engine, Error, Result};

/// The label a throwaway container carries: who made it, when (as a scratch database's
/// comment).
const LABEL_KEY: &str = "org.breakglass.restore-test";
/// The container's role and database.
const ROLE: &str = "bg_restore";
/// How long PostgreSQL may take to initialise and start.
const START_LIMIT: Duration = Duration::from_secs(180);
const DEFAULT_MEMORY: u64 = 2 << 30;
const DEFAULT_CPUS: f64 = 2.0;

impl Engine {
    /// Restores the test's file into a throwaway container on the backups' host and
    /// compares it with production (see the module's text).
    pub(super) async fn restore_in_container(&self, t: &Test<'_>, report: &mut RestoreReport) -> Result<()> {
        let Test {
            deployment,
            b,
            dbp,
            operator,
            phase,
            emit_check,
            ..
        } = *t;
        let host = b.host.get_ref().clone();
        let session = self.session(deployment, &host).await?;
        let docker = self.docker(deployment, &host).await?;

        // Leftovers of a killed console: containers first (they use the directories).
        let mut leftovers = ListContainersOptionsBuilder::default().all(true);
        leftovers = leftovers.filters(&HashMap::from([("label", vec![LABEL_KEY])]));
        let list = docker
            .client()
            .list_containers(Some(leftovers.build()))
            .await
            .map_err(docker.api())?;
        for c in list {
            let text = c
                .labels
                .as_ref()
                .and_then(|l| l.get(LABEL_KEY))
                .cloned()
                .unwrap_or_default();
            let name = c
                .names
                .as_ref()
                .and_then(|n| n.first())
                .map(|n| n.trim_start_matches('/').to_owned())
                .unwrap_or_default();
            if name.starts_with(PREFIX) && is_leftover(&text, operator) && remove(&docker, &name).await {
                report.leftovers_removed.push(name);
            }
        }
        super::remove_leftover_dirs(&session, b, operator, report).await?;

        // Room for a copy of production (its size and a fifth) where the data will live.
        let production = self.database(deployment).await?;
        let size: Option<i64> =
            sqlx::query_scalar("SELECT pg_catalog.pg_database_size(pg_catalog.current_database())")
                .fetch_one(&production.pool)
                .await
                .ok();
        let needed = size
            .and_then(|s| u64::try_from(s).ok())
            .map_or(t.file.size.saturating_mul(4), |s| s + s / 5);
        let (status, detail) = free_space(&session, needed).await;
        report.check(
            "disk",
            status,
            format!("{detail} (for the container's data, in {SCRATCH_ROOT} on {host})"),
        );
        emit_check(report);
        if status == CheckStatus::Fail {
            return Ok(());
        }

        // The image: the profile's, else production's own PostgreSQL container's.
        let limits = b.container.as_ref();
        let image = match limits.and_then(|c| c.image.as_ref()) {
            Some(i) => i.get_ref().clone(),
            None => match &dbp.container {
                Some(c) => {
                    self.docker(deployment, dbp.via_host.get_ref())
                        .await?
                        .inspect(c.get_ref())
                        .await?
                        .image
                }
                None => {
                    return Err(Error::Restore {
                        message: "no image for the throwaway container: set backups.container.image (\"postgres:16\") or [database] container".into(),
                    });
                }
            },
        };
        if docker.client().inspect_image(&image).await.is_err() {
            report.check(
                "image",
                CheckStatus::Fail,
                format!(
                    "the image {} is not on {host}: pull it there (`docker pull {}`), or name one that is (backups.container.image)",
                    display_safe(image.as_bytes()),
                    display_safe(image.as_bytes())
                ),
            );
            emit_check(report);
            return Ok(());
        }
        let memory = limits
            .and_then(|c| c.memory.as_ref())
            .and_then(|m| parse_size(m.get_ref()))
            .unwrap_or(DEFAULT_MEMORY);
        let cpus = limits.and_then(|c| c.cpus).unwrap_or(DEFAULT_CPUS);

        let name = format!("{PREFIX}{}", hex::encode(rand::random::<[u8; 8]>()));
        let dir = format!("{SCRATCH_ROOT}/{name}");
        phase("creating", format!("container {name} ({image}) on {host}"));
        make_scratch_dir(&session, &host, &dir, "", operator).await?;
        report.scratch = Some(name.clone());
        report.cleaned_up = false;
        let password = Sensitive::new(hex::encode(rand::random::<[u8; 16]>()));

        let result = async {
            // The login user's own ids (root's container drops to the image's postgres
            // user itself), so that it owns what the container writes in the directory.
            // The directory may be traversed (that user may not be root's postgres); its
            // data directory is the container user's alone.
            let q = shell_quote(&dir);
            let ids = session
                .exec(&format!("chmod 711 -- {q} && mkdir -m 700 -- {q}/data && id -u && id -g"), None)
                .await?;
            let ids = String::from_utf8_lossy(&ids.stdout).split_whitespace().map(str::to_owned).collect::<Vec<_>>();
            let user = match ids.as_slice() {
                [u, g] if u != "0" => Some(format!("{u}:{g}")),
                _ => None,
            };
            let body = ContainerCreateBody {
                image: Some(image.clone()),
                user,
                env: Some(vec![
                    format!("POSTGRES_PASSWORD={}", password.expose()),
                    format!("POSTGRES_USER={ROLE}"),
                    format!("POSTGRES_DB={ROLE}"),
                    "PGDATA=/bg/data".into(),
                ]),
                cmd: Some(
                    [
                        "postgres",
                        "-c",
                        "listen_addresses=",
                        "-c",
                        "unix_socket_directories=/var/run/postgresql,/bg/data",
                        "-c",
                        "fsync=off",
                        "-c",
                        "synchronous_commit=off",
                        "-c",
                        "full_page_writes=off",
                    ]
                    .map(String::from)
                    .to_vec(),
                ),
                labels: Some(HashMap::from([(LABEL_KEY.to_owned(), label(operator))])),
                host_config: Some(HostConfig {
                    binds: Some(vec![format!("{dir}:/bg")]),
                    network_mode: Some("none".into()),
                    memory: i64::try_from(memory).ok(),
                    nano_cpus: Some((cpus * 1e9) as i64),
                    pids_limit: Some(1024),
                    security_opt: Some(vec!["no-new-privileges".into()]),
                    ..Default::default()
                }),
                ..Default::default()
            };
            let made = docker
                .client()
                .create_container(Some(CreateContainerOptionsBuilder::default().name(&name).build()), body)
                .await
                .map_err(docker.api())?;
            docker
                .client()
                .start_container(&name, None::<bollard::query_parameters::StartContainerOptions>)
                .await
                .map_err(docker.api())?;
            let warnings = made
                .warnings
                .iter()
                .map(|w| display_safe(w.as_bytes()))
                .collect::<Vec<_>>()
                .join("; ");
            report.check(
                "container",
                if warnings.is_empty() { CheckStatus::Pass } else { CheckStatus::Warn },
                format!(
                    "{name} from {image} on {host}: no network, {} MiB of memory, {cpus} CPUs, 1024 processes{}",
                    memory >> 20,
                    if warnings.is_empty() { String::new() } else { format!("; Docker warned: {warnings}") }
                ),
            );
            emit_check(report);

            // Ready: the server PostgreSQL runs as the container's first process (not
            // the entrypoint's temporary one) says "ready" in its pid file.
            let t0 = Instant::now();
            let pidfile = shell_quote(&format!("{dir}/data/postmaster.pid"));
            loop {
                let out = session
                    .exec(&format!("sed -n '1p;8p' {pidfile} 2>/dev/null | tr -d ' ' | tr '\\n' ' '"), None)
                    .await?;
                if String::from_utf8_lossy(&out.stdout).trim() == "1 ready" {
                    break;
                }
                let running = docker.inspect(&name).await.map(|c| c.state == "running").unwrap_or(false);
                if !running || t0.elapsed() > START_LIMIT {
                    let logs = tail_logs(&docker, &name).await;
                    report.check(
                        "restore",
                        CheckStatus::Fail,
                        format!(
                            "PostgreSQL in {name} did not start ({}); its last output: {logs}",
                            if running { "not ready after 3 minutes" } else { "the container stopped" }
                        ),
                    );
                    emit_check(report);
                    return Ok(());
                }
                if t.cancel.is_cancelled() {
                    report.cancelled = true;
                    report.check("restore", CheckStatus::Fail, "cancelled while the container started");
                    emit_check(report);
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }

            let target = Database {
                via_host: toml::Spanned::new(0..0, host.clone()),
                socket: Some(toml::Spanned::new(0..0, format!("{dir}/data"))),
                port: 5432,
                name: ROLE.into(),
                tls: DbTls::Disable,
                ca_file: None,
                server_name: None,
                container: None,
                ..dbp.clone()
            };
            let creds = DbCredentials {
                user: ROLE.into(),
                password: Sensitive::new(password.expose().clone()),
            };
            self.restore_into(t, report, &target, creds).await
        }
        .await;

        phase("cleaning", format!("container {name} and {dir}"));
        let gone = remove(&docker, &name).await;
        let cleaned = session.exec(&remove_dir_command(&dir, b), None).await;
        report.cleaned_up = gone && cleaned.as_ref().is_ok_and(|o| o.success());
        if report.cleaned_up {
            report.check(
                "cleanup",
                CheckStatus::Pass,
                format!("container {name} and {dir} removed"),
            );
        } else {
            report.check(
                "cleanup",
                CheckStatus::Fail,
                format!("container {name} or {dir} on {host} could not be removed: `docker rm -f -v {name}` and remove the directory by hand; the next restore test also tries"),
            );
        }
        emit_check(report);
        result
    }
}

/// Removes the container `name` and its anonymous volumes, stopping it first; whether it
/// is gone (a container that was never made is gone).
async fn remove(docker: &RemoteDocker, name: &str) -> bool {
    let opts = RemoveContainerOptionsBuilder::default()
        .force(true)
        .v(true)
        .build();
    match docker.client().remove_container(name, Some(opts)).await {
        Ok(()) => true,
        Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => true,
        Err(_) => false,
    }
}

/// The container's last lines of output, made safe and short (the entrypoint prints no
/// secret; PostgreSQL's errors name settings and paths).
async fn tail_logs(docker: &RemoteDocker, name: &str) -> String {
    let opts = LogsOptionsBuilder::default()
        .stdout(true)
        .stderr(true)
        .tail("8")
        .build();
    let mut out = Vec::new();
    let mut stream = docker.client().logs(name, Some(opts));
    while let Some(Ok(chunk)) = stream.next().await {
        out.extend_from_slice(&chunk.into_bytes());
        if out.len() > 8192 {
            break;
        }
    }
    let text = display_safe(&out);
    let text = text.trim();
    if text.is_empty() {
        "none".into()
    } else {
        text.replace('\n', " | ")
    }
}
