//! `breakglass`: the command-line console. `args` declares the arguments, `commands`
//! holds the subcommands' bodies and `print` the output; every operation is an engine
//! call, the same one the window makes.

// First, so that its `outln!`, `out!` and `errln!` are in scope in the others.
#[macro_use]
mod print;
mod args;
mod commands;
mod runbook;

use std::process::ExitCode;

use breakglass::engine::actions::{
    ActionSpec, ExpireSessions, Isolate, LockAccounts, Restore, RevokeTokens, TokenScope, Undo,
    UnlockAccounts,
};
use breakglass::engine::exec::Targets;
use breakglass::engine::ssh::output::{display_safe, shell_quote};
use breakglass::engine::{Engine, Error, ErrorReport};
use clap::Parser;

use args::{Cli, Command, DeploymentCmd, lock_scope, mode_of};
use commands::{
    act, app_cmd, ask_trust, docker_cmd, harden_cmd, incident_cmd, journal_cmd, restore_test_cmd, secret_cmd,
};
use print::{print_audit, print_exec, print_interrupted, print_json, print_status};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            errln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let json = cli.json;
    match runtime.block_on(run(cli)) {
        Ok(()) if print::degraded() => ExitCode::from(EXIT_DEGRADED),
        Ok(()) => ExitCode::SUCCESS,
        Err(report) => {
            if json {
                outln!("{}", serde_json::json!({ "error": report }));
            } else {
                errln!(
                    "error [{}]: {}",
                    report.code,
                    display_safe(report.detail.as_bytes())
                );
            }
            ExitCode::from(exit_code(&report))
        }
    }
}

/// It ran, and what it found is not all good: a host down or a check failing (`status`),
/// a verification that failed, a command that failed on a host, a tampered journal.
const EXIT_DEGRADED: u8 = 1;
/// It could not run: bad input, an unknown deployment, a host unreachable, a refusal.
const EXIT_ERROR: u8 = 2;

/// The exit status of an error (docs: README, "Exit codes").
fn exit_code(report: &ErrorReport) -> u8 {
    use breakglass::engine::error::ErrorCode as C;
    match report.code {
        C::ActionVerifyFailed | C::JournalTampered | C::RemoteExitStatus | C::DockerExitStatus => {
            EXIT_DEGRADED
        }
        _ => EXIT_ERROR,
    }
}

pub(crate) async fn engine(cli: &Cli) -> Result<Engine, ErrorReport> {
    Ok(match &cli.data_dir {
        Some(dir) => Engine::open(dir).await?,
        None => Engine::open_default().await?,
    })
}

async fn run(cli: Cli) -> Result<(), ErrorReport> {
    match &cli.command {
        Command::Check { file } => {
            let p = breakglass::engine::profiles::DeploymentProfile::load(file)?;
            if cli.json {
                print_json(&p.summary())?;
            } else {
                outln!(
                    "{}: ok, deployment {:?} with {} host(s)",
                    file.display(),
                    p.name(),
                    p.hosts.len()
                );
            }
        }
        Command::Deployments | Command::Deployment(DeploymentCmd::List) => {
            let list = engine(&cli).await?.deployments().await?;
            if cli.json {
                print_json(&list)?;
            } else if list.is_empty() {
                outln!("No deployments yet. Add one with `breakglass deployment add FILE`.");
            } else {
                for d in list {
                    let hosts: Vec<_> = d.summary.hosts.iter().map(|h| h.name.as_str()).collect();
                    outln!(
                        "{:<20} {:<10} {}",
                        display_safe(d.summary.name.as_bytes()),
                        display_safe(d.summary.app_profile.as_bytes()),
                        display_safe(hosts.join(", ").as_bytes())
                    );
                }
            }
        }
        Command::Deployment(DeploymentCmd::Add { file }) => {
            let d = engine(&cli).await?.add_deployment(file).await?;
            if cli.json {
                print_json(&d)?;
            } else {
                outln!(
                    "Added deployment {:?} ({} host(s)) from {}",
                    d.summary.name,
                    d.summary.hosts.len(),
                    d.profile_path
                );
            }
        }
        Command::Deployment(DeploymentCmd::Show { name }) => {
            let p = engine(&cli).await?.profile(name).await?;
            let s = p.summary();
            if cli.json {
                print_json(&s)?;
            } else {
                // A profile is a file from outside too: printed through the safe printer.
                let safe = |t: &str| display_safe(t.as_bytes());
                outln!("{} (app profile {})", safe(&s.name), safe(&s.app_profile));
                if let Some(url) = &s.public_url {
                    outln!("  public URL  {}", safe(url));
                }
                for h in &s.hosts {
                    let pin = h
                        .host_key
                        .as_deref()
                        .unwrap_or("not pinned: trust on first connection");
                    outln!(
                        "  host {:<10} {}:{:<6} [{}]  {}",
                        safe(&h.name),
                        safe(&h.address),
                        h.port,
                        h.roles.join(","),
                        safe(pin)
                    );
                }
            }
        }
        Command::App(cmd) => app_cmd(&cli, cmd).await?,
        Command::Init { .. } => commands::init_cmd(&cli).await?,
        Command::Status { deployment } => {
            let st = engine(&cli).await?.status(deployment).await?;
            if !st.all_good() {
                print::set_degraded();
            }
            if cli.json {
                print_json(&st)?;
            } else {
                print_status(&st);
            }
        }
        Command::Trust {
            deployment,
            host,
            fingerprint,
        } => {
            let engine = engine(&cli).await?;
            let fp = match fingerprint {
                Some(fp) => fp.clone(),
                None => ask_trust(&engine, deployment, host).await?,
            };
            let key = engine.trust_host(deployment, host, &fp).await?;
            if cli.json {
                print_json(&key)?;
            } else {
                outln!(
                    "Trusted {} ({}) for {deployment}/{host}.",
                    key.fingerprint,
                    key.key_type
                );
            }
        }
        Command::Forget { deployment, host } => {
            let forgotten = engine(&cli).await?.forget_host(deployment, host).await?;
            if !cli.json {
                outln!(
                    "{}",
                    if forgotten {
                        "Forgotten."
                    } else {
                        "Nothing was trusted for that host."
                    }
                );
            }
        }
        Command::Exec {
            deployment,
            host,
            all,
            role,
            hosts,
            command,
        } => {
            let targets = match (host, all, role) {
                (Some(h), _, _) => Targets::Hosts(vec![h.clone()]),
                (None, true, _) => Targets::All,
                (None, false, Some(r)) => Targets::Role(r.clone()),
                (None, false, None) if !hosts.is_empty() => Targets::Hosts(hosts.clone()),
                (None, false, None) => {
                    return Err(Error::BadArgument {
                        message: "name a host, or use --all, --role ROLE or --host HOST".into(),
                    }
                    .into());
                }
            };
            let words: Vec<String> = command.iter().map(|w| shell_quote(w)).collect();
            let runs = engine(&cli)
                .await?
                .exec_on(deployment, &targets, &words.join(" "))
                .await?;
            print_exec(&runs, cli.json)?;
        }
        Command::Docker(cmd) => docker_cmd(&cli, cmd).await?,
        Command::Secret(cmd) => secret_cmd(&cli, cmd).await?,
        Command::Db { deployment } => {
            let db = engine(&cli).await?.database(deployment).await?;
            let (version, rtt) = db.ping().await?;
            outln!(
                "PostgreSQL {version} answered in {:.1} ms through the SSH tunnel",
                rtt.as_secs_f64() * 1000.0
            );
        }
        Command::RevokeTokens {
            deployment,
            scope,
            run,
        } => {
            let scope = if scope.all {
                TokenScope::All
            } else if let Some(u) = &scope.user {
                TokenScope::User(u.clone())
            } else if let Some(id) = scope.id {
                TokenScope::Id(id)
            } else {
                TokenScope::CreatedSince(scope.since.clone().unwrap_or_default())
            };
            act(
                &cli,
                deployment,
                ActionSpec::RevokeTokens(RevokeTokens { scope }),
                run,
            )
            .await?;
        }
        Command::Lock {
            deployment,
            scope,
            duration,
            run,
        } => {
            let spec = ActionSpec::LockAccounts(LockAccounts {
                scope: lock_scope(scope),
                duration_secs: duration.map(|d| d.as_secs()),
            });
            act(&cli, deployment, spec, run).await?;
        }
        Command::Unlock {
            deployment,
            scope,
            run,
        } => {
            act(
                &cli,
                deployment,
                ActionSpec::UnlockAccounts(UnlockAccounts {
                    scope: lock_scope(scope),
                }),
                run,
            )
            .await?;
        }
        Command::ExpireSessions {
            deployment,
            user,
            run,
        } => {
            act(
                &cli,
                deployment,
                ActionSpec::ExpireSessions(ExpireSessions { user: user.clone() }),
                run,
            )
            .await?;
        }
        Command::Rotate {
            deployment,
            vars,
            group,
            all,
            paste,
            run,
            docker_secret,
        } => {
            let spec = match docker_secret {
                Some(secret) => {
                    ActionSpec::RotateDockerSecret(breakglass::engine::actions::RotateDockerSecret {
                        secret: secret.clone(),
                    })
                }
                None => ActionSpec::RotateSecrets(breakglass::engine::actions::RotateSecrets {
                    vars: vars.clone(),
                    groups: group.clone(),
                    all: *all,
                    pasted: commands::read_pasted(paste)?,
                }),
            };
            act(&cli, deployment, spec, run).await?;
        }
        Command::RotateSshKey { deployment, run } => {
            let spec = ActionSpec::RotateSshKey(breakglass::engine::actions::RotateSshKey {});
            act(&cli, deployment, spec, run).await?;
        }
        Command::Isolate {
            deployment,
            host,
            container,
            mode,
            run,
        } => {
            let spec = ActionSpec::Isolate(Isolate {
                host: host.clone(),
                container: container.clone(),
                mode: mode_of(*mode),
            });
            act(&cli, deployment, spec, run).await?;
        }
        Command::Restore {
            deployment,
            host,
            container,
            mode,
            networks,
            run,
        } => {
            let spec = ActionSpec::Restore(Restore {
                host: host.clone(),
                container: container.clone(),
                mode: mode_of(*mode),
                networks: networks.clone(),
            });
            act(&cli, deployment, spec, run).await?;
        }
        Command::Undo {
            deployment,
            run_id,
            run,
        } => {
            let spec = ActionSpec::Undo(Undo {
                run_id: run_id.clone(),
            });
            act(&cli, deployment, spec, run).await?;
        }
        Command::Interrupted => {
            let runs = engine(&cli).await?.interrupted_runs().await?;
            if cli.json {
                print_json(&runs)?;
            } else if runs.is_empty() {
                outln!("No interrupted runs.");
            } else {
                for r in &runs {
                    print_interrupted(r, &mut crate::print::Out { stderr: false });
                }
            }
        }
        Command::LockBreak { deployment, confirm } => {
            let holder = engine(&cli).await?.break_lock(deployment, confirm).await?;
            if cli.json {
                print_json(&holder)?;
            } else {
                outln!("Broke the stale lock of {holder} on {deployment} (journaled).");
            }
        }
        Command::Audit { deployment, since } => {
            let review = engine(&cli)
                .await?
                .audit_review(deployment, since.secs_before(std::time::SystemTime::now()))
                .await?;
            if cli.json {
                print_json(&review)?;
            } else {
                print_audit(&review);
            }
        }
        Command::Backups { deployment } => {
            let list = engine(&cli).await?.backups(deployment).await?;
            if cli.json {
                print_json(&list)?;
            } else if list.is_empty() {
                outln!("No backup where the profile of {deployment} points ([backups]).");
                print::set_degraded();
            } else {
                for b in &list {
                    outln!(
                        "{:<40} {:>12} {:<10} {:<10} {} ({} ago, from its {})",
                        display_safe(b.name.as_bytes()),
                        b.size,
                        format!("{:?}", b.store),
                        format!("{:?}", b.format),
                        b.taken_at,
                        humantime::format_duration(std::time::Duration::from_secs(b.age_secs / 60 * 60)),
                        b.taken_from
                    );
                }
            }
        }
        Command::RestoreHistory { deployment } => {
            let runs = engine(&cli).await?.restore_history(deployment).await?;
            if cli.json {
                print_json(&runs)?;
            } else if runs.is_empty() {
                outln!(
                    "No restore test of {deployment} in the journal yet: `breakglass restore-test {deployment}`."
                );
            } else {
                for r in &runs {
                    outln!(
                        "{}  {:<9} {:<40} RTO {:>8}  RPO {:>8}{}",
                        r.at,
                        if r.passed {
                            "passed"
                        } else if r.cancelled {
                            "cancelled"
                        } else {
                            "FAILED"
                        },
                        display_safe(r.backup.as_deref().unwrap_or("-").as_bytes()),
                        r.rto_ms
                            .map(|m| format!("{:.1} s", m as f64 / 1000.0))
                            .unwrap_or_else(|| "-".into()),
                        r.data_rpo_secs
                            .map(
                                |s| humantime::format_duration(std::time::Duration::from_secs(s / 60 * 60))
                                    .to_string()
                            )
                            .unwrap_or_else(|| "-".into()),
                        if r.failed.is_empty() {
                            String::new()
                        } else {
                            format!("  failed: {}", r.failed.join(", "))
                        }
                    );
                }
            }
        }
        Command::Harden {
            deployment,
            format,
            history,
        } => harden_cmd(&cli, deployment, format, *history).await?,
        Command::AcceptFinding {
            deployment,
            check,
            host,
            subject,
            reason,
            duration,
        } => {
            let a = engine(&cli)
                .await?
                .accept_finding(
                    deployment,
                    check,
                    host.as_deref(),
                    subject.as_deref(),
                    reason,
                    (*duration).into(),
                )
                .await?;
            if cli.json {
                print_json(&a)?;
            } else {
                outln!(
                    "Accepted {} on {} ({}) until {}.",
                    a.check,
                    display_safe(a.host.as_deref().unwrap_or("-").as_bytes()),
                    display_safe(a.subject.as_deref().unwrap_or("-").as_bytes()),
                    a.until
                );
            }
        }
        Command::RestoreTest { deployment, backup } => {
            restore_test_cmd(&cli, deployment, backup.as_deref()).await?
        }
        Command::Journal(cmd) => journal_cmd(&cli, cmd).await?,
        Command::Incident(cmd) => incident_cmd(&cli, cmd).await?,
        Command::Runbook(cmd) => runbook::runbook_cmd(&cli, cmd).await?,
        Command::Deployment(DeploymentCmd::ImportPins { name, known_hosts }) => {
            let file = breakglass::engine::ssh::expand_home(known_hosts);
            let imported = engine(&cli).await?.import_known_hosts(name, &file).await?;
            if cli.json {
                print_json(&imported)?;
            } else if imported.is_empty() {
                outln!(
                    "Nothing to import: every host is pinned already or absent from {}.",
                    file.display()
                );
            } else {
                for (host, fp) in imported {
                    outln!("Pinned {host} to {fp} (from {})", file.display());
                }
            }
        }
        Command::Deployment(DeploymentCmd::Remove { name }) => {
            engine(&cli).await?.remove_deployment(name).await?;
            if !cli.json {
                outln!("Removed deployment {name:?} from the console (its profile file is untouched).");
            }
        }
    }
    Ok(())
}
