//! `breakglass`: the command-line console. Argument parsing and printing only; every
//! operation is an engine call, the same one the window makes.

use std::path::PathBuf;
use std::process::ExitCode;

use breakglass::engine::actions::{
    ActionEvent, ActionSpec, Cancel, Confirmation, ExpireSessions, Interrupted, Isolate, IsolateMode,
    LockAccounts, LockScope, Plan, Restore, RevokeTokens, RunRequest, StepStatus, TokenScope, Undo,
    UnlockAccounts,
};
use breakglass::engine::exec::{HostRun, Targets};
use breakglass::engine::secret::Sensitive;
use breakglass::engine::ssh::SshError;
use breakglass::engine::ssh::output::{display_safe, shell_quote};
use breakglass::engine::status::DeploymentStatus;
use breakglass::engine::{Engine, ErrorReport};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "breakglass",
    version,
    about = "Incident-response console for self-hosted web applications"
)]
struct Cli {
    /// Where the local state lives (default: the per-user data directory).
    #[arg(long, global = true, env = "BREAKGLASS_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Manage the deployments the console knows.
    #[command(subcommand)]
    Deployment(DeploymentCmd),
    /// List known deployments (same as `deployment list`).
    Deployments,
    /// Check a deployment profile file without adding it.
    Check { file: PathBuf },
    /// Every host, its containers, the database and the app's /health, in parallel.
    Status { deployment: String },
    /// Trust a host's key (first contact). Without --fingerprint, shows the key and asks.
    Trust {
        deployment: String,
        host: String,
        /// The SHA256 fingerprint to trust, as `ssh-keygen -l` prints it (for scripts).
        #[arg(long)]
        fingerprint: Option<String>,
    },
    /// Forget a local trust decision (the next connection asks again).
    Forget { deployment: String, host: String },
    /// Run a command on one host, or on many in parallel (--all, --role R, --host H…),
    /// over the held connections; output prefixed by host when there are several, escape
    /// sequences made visible; exits non-zero when any host failed. Journaled (the
    /// command, each exit status and an output digest, never the output).
    Exec {
        deployment: String,
        /// One host (or use --all, --role, --host).
        host: Option<String>,
        /// Every host of the deployment.
        #[arg(long, conflicts_with_all = ["role", "hosts", "host"])]
        all: bool,
        /// The hosts with this role (web, worker, db, proxy).
        #[arg(long, conflicts_with_all = ["hosts", "host"])]
        role: Option<String>,
        /// These hosts (repeat the flag).
        #[arg(long = "host", conflicts_with = "host")]
        hosts: Vec<String>,
        /// The command, after `--`.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Containers of a host: list, inspect, logs, exec.
    #[command(subcommand)]
    Docker(DockerCmd),
    /// Credentials in the OS keychain (values are read from the terminal or stdin, never argv).
    #[command(subcommand)]
    Secret(SecretCmd),
    /// Check that the deployment's database answers through the SSH tunnel.
    Db { deployment: String },
    /// Revoke API tokens: --all, --user U, --id N or --since TIME.
    RevokeTokens {
        deployment: String,
        #[command(flatten)]
        scope: TokenScopeArgs,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Lock accounts: --all-non-admin or --user U, for --for DURATION (default: until unlocked).
    Lock {
        deployment: String,
        #[command(flatten)]
        scope: LockScopeArgs,
        /// How long, like 2h or 30m.
        #[arg(long = "for")]
        duration: Option<humantime::Duration>,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Unlock accounts: --all-non-admin or --user U.
    Unlock {
        deployment: String,
        #[command(flatten)]
        scope: LockScopeArgs,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Expire sessions (all, or --user U where sessions are a table).
    ExpireSessions {
        deployment: String,
        #[arg(long)]
        user: Option<String>,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Isolate a container: --mode stop | pause | disconnect.
    Isolate {
        deployment: String,
        host: String,
        container: String,
        #[arg(long, value_enum, default_value = "stop")]
        mode: ModeArg,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Undo an isolation (start, unpause, or reconnect --network N…).
    Restore {
        deployment: String,
        host: String,
        container: String,
        #[arg(long, value_enum, default_value = "stop")]
        mode: ModeArg,
        /// With --mode disconnect: the networks to reconnect to (default: those this
        /// console's journal recorded for the disconnect).
        #[arg(long = "network")]
        networks: Vec<String>,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Undo a run from the journal (its done steps, last first), or close an interrupted one.
    Undo {
        deployment: String,
        /// The run's id (`breakglass journal list`, or the interrupted-run notice).
        run_id: String,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Runs that started and never finished (the console was killed or lost power).
    Interrupted,
    /// Break another console's stale lock on a deployment (journaled; never a live lock).
    LockBreak {
        deployment: String,
        /// The deployment's name, typed.
        #[arg(long)]
        confirm: String,
    },
    /// Review the audit trail: failed logins by IP, successes after failures, admin actions, new tokens.
    Audit {
        deployment: String,
        /// How far back, like 24h or 7d.
        #[arg(long, default_value = "24h")]
        since: humantime::Duration,
    },
    /// The action journal: list, verify, export an incident.
    #[command(subcommand)]
    Journal(JournalCmd),
    /// Incidents group journal entries for the hand-over report.
    #[command(subcommand)]
    Incident(IncidentCmd),
}

#[derive(clap::Args)]
struct RunArgs {
    /// Show the plan and stop (changes nothing).
    #[arg(long)]
    dry_run: bool,
    /// The deployment's name, typed, to allow a destructive run without a prompt.
    #[arg(long)]
    confirm: Option<String>,
    /// With --confirm: the digest of the plan you confirm (from --dry-run --json); the
    /// run stops if the live plan differs.
    #[arg(long, requires = "confirm")]
    plan: Option<String>,
    /// How long to wait for another responder's lock, like 30s or 5m.
    #[arg(long, default_value = "2m")]
    lock_wait: humantime::Duration,
}

#[derive(clap::Args)]
#[group(required = true, multiple = false)]
struct TokenScopeArgs {
    #[arg(long)]
    all: bool,
    #[arg(long)]
    user: Option<String>,
    #[arg(long)]
    id: Option<i64>,
    /// Tokens created since this RFC 3339 time.
    #[arg(long)]
    since: Option<String>,
}

#[derive(clap::Args)]
#[group(required = true, multiple = false)]
struct LockScopeArgs {
    #[arg(long)]
    all_non_admin: bool,
    #[arg(long)]
    user: Option<String>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ModeArg {
    Stop,
    Pause,
    Disconnect,
}

#[derive(Subcommand)]
enum JournalCmd {
    /// Every entry (or one incident's).
    List {
        #[arg(long)]
        incident: Option<i64>,
    },
    /// Check the journal: hash chain, MACs, the head file and the incidents table. Prints
    /// each problem with its kind; exits non-zero on any.
    Verify {
        /// The head pasted into the ticket earlier, as `SEQ:HASH` (or the whole line
        /// `journal head` printed): also checks that the journal still holds it, which
        /// catches a truncation back to an older head file that no local check can.
        #[arg(long, value_name = "SEQ:HASH")]
        expect: Option<String>,
    },
    /// The journal's last entry, one line for pasting into the incident's ticket.
    Head,
    /// An incident's report, as Markdown (default) or HTML.
    Export {
        incident: i64,
        #[arg(long, value_parser = ["md", "html"], default_value = "md")]
        format: String,
    },
}

#[derive(Subcommand)]
enum IncidentCmd {
    /// Open an incident: later journal entries belong to it.
    Open { title: String },
    /// Close an incident.
    Close { id: i64 },
    /// List incidents.
    List,
}

#[derive(Subcommand)]
enum DockerCmd {
    /// List the containers of one host (or every host with --all-hosts).
    Ps {
        deployment: String,
        host: Option<String>,
    },
    /// One container, in detail (environment variable names only, never values).
    Inspect {
        deployment: String,
        host: String,
        container: String,
    },
    /// The last lines of a container's logs.
    Logs {
        deployment: String,
        host: String,
        container: String,
        #[arg(long, default_value_t = 100)]
        tail: usize,
        /// Keep following new lines.
        #[arg(long, short)]
        follow: bool,
    },
    /// Run a command (argv, no shell) in a container.
    Exec {
        deployment: String,
        host: String,
        container: String,
        #[arg(trailing_var_arg = true, required = true)]
        command: Vec<String>,
    },
}

#[derive(Subcommand)]
enum SecretCmd {
    /// Store or replace a value (prompted without echo, or read from stdin).
    Set { deployment: String, name: String },
    /// Whether a value is stored (the value is never shown).
    Status { deployment: String, name: String },
    /// Delete a value.
    Delete { deployment: String, name: String },
}

#[derive(Subcommand)]
enum DeploymentCmd {
    /// Validate a profile file and add (or refresh) its deployment.
    Add { file: PathBuf },
    /// List known deployments.
    List,
    /// Show one deployment.
    Show { name: String },
    /// Forget a deployment (its profile file is left alone).
    Remove { name: String },
    /// Pin host keys from an OpenSSH known_hosts file for hosts that pin nothing yet.
    ImportPins {
        name: String,
        #[arg(long, default_value = "~/.ssh/known_hosts")]
        known_hosts: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let json = cli.json;
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(report) => {
            if json {
                println!("{}", serde_json::json!({ "error": report }));
            } else {
                eprintln!("error [{}]: {}", report.code, report.message);
            }
            ExitCode::FAILURE
        }
    }
}

async fn engine(cli: &Cli) -> Result<Engine, ErrorReport> {
    Ok(match &cli.data_dir {
        Some(dir) => Engine::open(dir).await?,
        None => Engine::open_default().await?,
    })
}

fn print_json(value: &impl serde::Serialize) -> Result<(), ErrorReport> {
    let text = serde_json::to_string_pretty(value).map_err(|e| ErrorReport {
        code: "output.json".into(),
        message: e.to_string(),
    })?;
    println!("{text}");
    Ok(())
}

async fn run(cli: Cli) -> Result<(), ErrorReport> {
    match &cli.command {
        Command::Check { file } => {
            let p = breakglass::engine::profiles::DeploymentProfile::load(file)?;
            if cli.json {
                print_json(&p.summary())?;
            } else {
                println!(
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
                println!("No deployments yet. Add one with `breakglass deployment add FILE`.");
            } else {
                for d in list {
                    let hosts: Vec<_> = d.summary.hosts.iter().map(|h| h.name.as_str()).collect();
                    println!(
                        "{:<20} {:<10} {}",
                        d.summary.name,
                        d.summary.app_profile,
                        hosts.join(", ")
                    );
                }
            }
        }
        Command::Deployment(DeploymentCmd::Add { file }) => {
            let d = engine(&cli).await?.add_deployment(file).await?;
            if cli.json {
                print_json(&d)?;
            } else {
                println!(
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
                println!("{} (app profile {})", s.name, s.app_profile);
                if let Some(url) = &s.public_url {
                    println!("  public URL  {url}");
                }
                for h in &s.hosts {
                    let pin = h
                        .host_key
                        .as_deref()
                        .unwrap_or("not pinned: trust on first connection");
                    println!(
                        "  host {:<10} {}:{:<6} [{}]  {}",
                        h.name,
                        h.address,
                        h.port,
                        h.roles.join(","),
                        pin
                    );
                }
            }
        }
        Command::Status { deployment } => {
            let st = engine(&cli).await?.status(deployment).await?;
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
                println!(
                    "Trusted {} ({}) for {deployment}/{host}.",
                    key.fingerprint, key.key_type
                );
            }
        }
        Command::Forget { deployment, host } => {
            let forgotten = engine(&cli).await?.forget_host(deployment, host).await?;
            if !cli.json {
                println!(
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
                    return Err(ErrorReport {
                        code: "argument.invalid".into(),
                        message: "name a host, or use --all, --role ROLE or --host HOST".into(),
                    });
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
            println!(
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
                println!("No interrupted runs.");
            } else {
                for r in &runs {
                    print_interrupted(r, &mut std::io::stdout());
                }
            }
        }
        Command::LockBreak { deployment, confirm } => {
            let holder = engine(&cli).await?.break_lock(deployment, confirm).await?;
            if cli.json {
                print_json(&holder)?;
            } else {
                println!("Broke the stale lock of {holder} on {deployment} (journaled).");
            }
        }
        Command::Audit { deployment, since } => {
            let review = engine(&cli)
                .await?
                .audit_review(deployment, std::time::Duration::from(*since).as_secs())
                .await?;
            if cli.json {
                print_json(&review)?;
            } else {
                print_audit(&review);
            }
        }
        Command::Journal(cmd) => journal_cmd(&cli, cmd).await?,
        Command::Incident(cmd) => incident_cmd(&cli, cmd).await?,
        Command::Deployment(DeploymentCmd::ImportPins { name, known_hosts }) => {
            let file = breakglass::engine::ssh::expand_home(known_hosts);
            let imported = engine(&cli).await?.import_known_hosts(name, &file).await?;
            if cli.json {
                print_json(&imported)?;
            } else if imported.is_empty() {
                println!(
                    "Nothing to import: every host is pinned already or absent from {}.",
                    file.display()
                );
            } else {
                for (host, fp) in imported {
                    println!("Pinned {host} to {fp} (from {})", file.display());
                }
            }
        }
        Command::Deployment(DeploymentCmd::Remove { name }) => {
            engine(&cli).await?.remove_deployment(name).await?;
            if !cli.json {
                println!("Removed deployment {name:?} from the console (its profile file is untouched).");
            }
        }
    }
    Ok(())
}

async fn docker_cmd(cli: &Cli, cmd: &DockerCmd) -> Result<(), ErrorReport> {
    let engine = engine(cli).await?;
    match cmd {
        DockerCmd::Ps { deployment, host } => {
            let hosts = match host {
                Some(h) => vec![h.clone()],
                None => engine
                    .profile(deployment)
                    .await?
                    .hosts
                    .iter()
                    .map(|h| h.name.get_ref().clone())
                    .collect(),
            };
            let mut all = Vec::new();
            for h in hosts {
                all.extend(engine.docker(deployment, &h).await?.containers().await?);
            }
            if cli.json {
                print_json(&all)?;
            } else {
                println!(
                    "{:<8} {:<12} {:<10} {:<10} {:<10} {:>8}  IMAGE",
                    "HOST", "NAME", "SERVICE", "STATE", "HEALTH", "RESTARTS"
                );
                for c in all {
                    println!(
                        "{:<8} {:<12} {:<10} {:<10} {:<10} {:>8}  {}",
                        c.host,
                        display_safe(c.name.as_bytes()),
                        display_safe(c.compose_service.unwrap_or_default().as_bytes()),
                        c.state,
                        c.health,
                        c.restart_count,
                        display_safe(c.image.as_bytes())
                    );
                }
            }
        }
        DockerCmd::Inspect {
            deployment,
            host,
            container,
        } => {
            let c = engine.docker(deployment, host).await?.inspect(container).await?;
            print_json(&c)?;
        }
        DockerCmd::Logs {
            deployment,
            host,
            container,
            tail,
            follow,
        } => {
            let docker = engine.docker(deployment, host).await?;
            let (text, truncated) = docker.logs(container, *tail, 4 * 1024 * 1024).await?;
            print!("{text}");
            if truncated {
                eprintln!("[logs truncated]");
            }
            if *follow {
                docker
                    .follow_logs(container, |chunk| {
                        print!("{chunk}");
                        true
                    })
                    .await?;
            }
        }
        DockerCmd::Exec {
            deployment,
            host,
            container,
            command,
        } => {
            let argv: Vec<&str> = command.iter().map(String::as_str).collect();
            let out = engine.docker_exec(deployment, host, container, &argv).await?;
            print!("{}", out.output);
            if out.exit_code != Some(0) {
                return Err(ErrorReport {
                    code: "docker.exit_status".into(),
                    message: format!("the command exited with {:?}", out.exit_code),
                });
            }
        }
    }
    Ok(())
}

async fn secret_cmd(cli: &Cli, cmd: &SecretCmd) -> Result<(), ErrorReport> {
    let engine = engine(cli).await?;
    let kc = engine.keychain();
    match cmd {
        SecretCmd::Set { deployment, name } => {
            let value = read_secret(&format!("Value for {deployment}/{name} (not shown): "))?;
            let existed = kc.is_set(deployment, name).await?;
            kc.set(deployment, name, value).await?;
            println!(
                "{} {deployment}/{name} in the keychain.",
                if existed { "Replaced" } else { "Stored" }
            );
        }
        SecretCmd::Status { deployment, name } => {
            let set = kc.is_set(deployment, name).await?;
            if cli.json {
                print_json(&serde_json::json!({ "deployment": deployment, "name": name, "set": set }))?;
            } else {
                println!("{deployment}/{name}: {}", if set { "set" } else { "not set" });
            }
        }
        SecretCmd::Delete { deployment, name } => {
            let deleted = kc.delete(deployment, name).await?;
            println!(
                "{deployment}/{name}: {}",
                if deleted { "deleted" } else { "was not set" }
            );
        }
    }
    Ok(())
}

/// A secret from the terminal without echo, or from stdin when it is not a terminal.
fn read_secret(prompt: &str) -> Result<Sensitive<String>, ErrorReport> {
    use std::io::IsTerminal;
    let io = |e: std::io::Error| ErrorReport {
        code: "io.stdin".into(),
        message: e.to_string(),
    };
    let mut value = if std::io::stdin().is_terminal() {
        rpassword::prompt_password(prompt).map_err(io)?
    } else {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin().lock(), &mut s).map_err(io)?;
        s
    };
    while value.ends_with('\n') || value.ends_with('\r') {
        value.pop();
    }
    if value.is_empty() {
        return Err(ErrorReport {
            code: "secret.empty".into(),
            message: "the value is empty: nothing stored".into(),
        });
    }
    Ok(Sensitive::new(value))
}

/// First contact: show the key the server presents and ask for an explicit yes.
async fn ask_trust(engine: &Engine, deployment: &str, host: &str) -> Result<String, ErrorReport> {
    use std::io::{BufRead, IsTerminal, Write};
    let fingerprint = match engine.connect_fresh(deployment, host).await {
        Err(breakglass::engine::Error::Ssh(e)) => match *e {
            SshError::HostKeyUnknown {
                fingerprint,
                key_type,
                ..
            } => {
                println!("{host} presents a {key_type} key:\n\n    {fingerprint}\n");
                fingerprint
            }
            other => return Err(other.into()),
        },
        Err(e) => return Err(e.into()),
        Ok(s) => {
            s.close().await;
            let fp = s.host_key().fingerprint.clone();
            println!("{host} is already pinned to {fp}.");
            return Ok(fp);
        }
    };
    if !std::io::stdin().is_terminal() {
        return Err(ErrorReport {
            code: "ssh.host_key_unknown".into(),
            message: format!(
                "not a terminal: pass --fingerprint {fingerprint} after checking it out of band"
            ),
        });
    }
    print!("Compare it with `ssh-keygen -lf` on the server. Type yes to trust it: ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| ErrorReport {
            code: "io.stdin".into(),
            message: e.to_string(),
        })?;
    if answer.trim() != "yes" {
        return Err(ErrorReport {
            code: "ssh.not_trusted".into(),
            message: "not trusted; nothing changed".into(),
        });
    }
    Ok(fingerprint)
}

/// One host: its output as it printed it (made safe). Several: each line prefixed by
/// its host, then a summary of exit statuses. An error when any host failed.
fn print_exec(runs: &[HostRun], json: bool) -> Result<(), ErrorReport> {
    use std::io::Write;
    let failed: Vec<&HostRun> = runs.iter().filter(|r| !r.ok()).collect();
    let why = |r: &HostRun| match (&r.error, r.status, &r.signal) {
        (Some(e), _, _) => format!("[{}] {}", e.code, e.message),
        (None, Some(s), _) => format!("exit {s}"),
        (None, None, Some(sig)) => format!("signal {sig}"),
        (None, None, None) => "no exit status".into(),
    };
    if json {
        print_json(&runs)?;
    } else if let [one] = runs {
        print!("{}", one.stdout_text);
        eprint!("{}", one.stderr_text);
        if one.truncated {
            eprintln!("[output truncated]");
        }
    } else {
        let mut out = std::io::stdout().lock();
        for r in runs {
            for line in r.stdout_text.lines() {
                let _ = writeln!(out, "{:<10}| {line}", r.host);
            }
            for line in r.stderr_text.lines() {
                let _ = writeln!(out, "{:<10}! {line}", r.host);
            }
            if r.truncated {
                let _ = writeln!(out, "{:<10}! [output truncated]", r.host);
            }
        }
        drop(out);
        eprintln!(
            "{} host(s): {} ok, {} failed{}",
            runs.len(),
            runs.len() - failed.len(),
            failed.len(),
            if failed.is_empty() {
                String::new()
            } else {
                format!(
                    " ({})",
                    failed
                        .iter()
                        .map(|r| format!("{}: {}", r.host, why(r)))
                        .collect::<Vec<_>>()
                        .join("; ")
                )
            }
        );
    }
    match failed.as_slice() {
        [] => Ok(()),
        [one] if runs.len() == 1 => Err(match &one.error {
            Some(e) => e.clone(),
            None => ErrorReport {
                code: "remote.exit_status".into(),
                message: format!("the command exited with {}", why(one).trim_start_matches("exit ")),
            },
        }),
        many => Err(ErrorReport {
            code: "remote.exit_status".into(),
            message: format!("{} of {} host(s) failed", many.len(), runs.len()),
        }),
    }
}

fn print_status(st: &DeploymentStatus) {
    println!("{}  (checked in {:.0} ms)", st.deployment, st.took_ms);
    for h in &st.hosts {
        let head = if h.reachable {
            format!(
                "up    rtt {:>6.1} ms  connect {:>6.1} ms",
                h.latency_ms.unwrap_or(0.0),
                h.connect_ms.unwrap_or(0.0)
            )
        } else {
            "DOWN".to_owned()
        };
        println!(
            "  {:<8} {:<22} {head}  docker {}",
            h.name,
            h.address,
            h.docker_version.as_deref().unwrap_or("-")
        );
        if let Some(e) = &h.error {
            println!("           [{}] {}", e.code, e.message);
        }
        if let Some(e) = &h.docker_error {
            println!("           docker: [{}] {}", e.code, e.message);
        }
        for c in &h.containers {
            println!(
                "           {:<12} {:<9} health {:<10} restarts {}",
                display_safe(c.name.as_bytes()),
                c.state,
                c.health,
                c.restart_count
            );
        }
    }
    for (what, check) in [("database", &st.database), ("app /health", &st.app_health)] {
        if let Some(c) = check {
            let mark = if c.ok { "ok  " } else { "FAIL" };
            println!(
                "  {what:<12} {mark} {:>6.1} ms  {}",
                c.latency_ms.unwrap_or(0.0),
                c.detail
            );
            if let Some(e) = &c.error {
                println!("           [{}] {}", e.code, e.message);
            }
        }
    }
}

fn lock_scope(s: &LockScopeArgs) -> LockScope {
    match &s.user {
        Some(u) => LockScope::User(u.clone()),
        None => LockScope::AllNonAdmin,
    }
}

fn mode_of(m: ModeArg) -> IsolateMode {
    match m {
        ModeArg::Stop => IsolateMode::Stop,
        ModeArg::Pause => IsolateMode::Pause,
        ModeArg::Disconnect => IsolateMode::Disconnect,
    }
}

fn print_plan(plan: &Plan) {
    let safe = |t: &str| display_safe(t.as_bytes());
    println!("Plan for {}: {}", safe(&plan.deployment), safe(&plan.summary));
    for s in &plan.sample {
        println!("    e.g. {}", safe(s));
    }
    for (i, s) in plan.steps.iter().enumerate() {
        let undo = match plan.reversible.get(i) {
            Some(true) => "undone if a later step fails",
            _ => "cannot be undone",
        };
        println!("  step {}: {}  ({undo})", i + 1, safe(s));
    }
    if plan.destructive && !plan.nothing_to_do() {
        println!("  plan digest {}", plan.digest);
    }
}

/// An interrupted run, as the notice every action command shows before it starts.
fn print_interrupted(r: &Interrupted, out: &mut dyn std::io::Write) {
    let s = |t: &str| display_safe(t.as_bytes());
    let _ = writeln!(
        out,
        "INTERRUPTED run {} of {} on {} by {} at {}: {}",
        r.run_id,
        s(&r.action),
        s(&r.deployment),
        s(&r.operator),
        r.at,
        s(&r.summary)
    );
    for st in &r.steps {
        let _ = writeln!(out, "  step {}: {:<28} {}", st.step, st.state, s(&st.description));
    }
    let _ = writeln!(
        out,
        "  {} with `breakglass undo {} {}`",
        if r.undoable {
            "undo it"
        } else {
            "nothing of it can be undone; close it"
        },
        s(&r.deployment),
        r.run_id
    );
}

/// Reads one line from the terminal.
fn read_line(prompt: &str) -> Result<String, ErrorReport> {
    use std::io::{BufRead, Write};
    print!("{prompt}");
    let _ = std::io::stdout().flush();
    let mut typed = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut typed)
        .map_err(|e| ErrorReport {
            code: "io.stdin".into(),
            message: e.to_string(),
        })?;
    Ok(typed.trim().to_owned())
}

/// lock → plan → (confirm) → run → verify, printing each event as it comes. The plan a
/// person confirms is bound to the run by its digest: if the live plan differs under
/// the lock, the new plan is shown and asked for again.
async fn act(cli: &Cli, deployment: &str, spec: ActionSpec, run: &RunArgs) -> Result<(), ErrorReport> {
    use std::io::IsTerminal;
    let engine = engine(cli).await?;
    let interrupted = engine.interrupted_runs().await?;
    for r in interrupted.iter().filter(|r| r.deployment == deployment) {
        print_interrupted(r, &mut std::io::stderr());
    }
    let mut plan = engine.plan_action(deployment, &spec).await?;
    if run.dry_run {
        if cli.json {
            print_json(&plan)?;
        } else {
            print_plan(&plan);
            println!("(dry run: nothing changed)");
        }
        return Ok(());
    }
    let json = cli.json;
    let events: breakglass::engine::actions::Events = std::sync::Arc::new(move |e: ActionEvent| {
        if json {
            println!("{}", serde_json::to_string(&e).unwrap_or_default());
            return;
        }
        match e {
            // Shown before the confirmation already; under the lock it is the same plan
            // (the digest says so) or the run stops.
            ActionEvent::Planned { .. } => {}
            ActionEvent::Waiting { holder } => println!("waiting: held by {holder}"),
            ActionEvent::Step {
                step,
                description,
                status,
                detail,
            } => {
                let detail = display_safe(detail.as_bytes());
                let description = display_safe(description.as_bytes());
                match status {
                    StepStatus::Started => println!("  [{step}] {description} …"),
                    StepStatus::Done => println!("  [{step}] done: {detail}"),
                    StepStatus::Failed => println!("  [{step}] FAILED: {detail}"),
                    StepStatus::Undoing => println!("  [{step}] undoing …"),
                    StepStatus::Undone => println!("  [{step}] undone: {detail}"),
                    StepStatus::UndoFailed => println!("  [{step}] UNDO FAILED: {detail}"),
                }
            }
            ActionEvent::Verified { ok, detail } => println!(
                "verify: {} ({})",
                if ok { "ok" } else { "FAILED" },
                display_safe(detail.as_bytes())
            ),
            ActionEvent::Finished { outcome } => println!("{}", display_safe(outcome.as_bytes())),
        }
    });
    // First Ctrl-C: finish the current step, then undo. Second: stop now.
    let cancel = Cancel::default();
    let on_ctrl_c = cancel.clone();
    tokio::spawn(async move {
        while tokio::signal::ctrl_c().await.is_ok() {
            if on_ctrl_c.is_cancelled() {
                eprintln!("stopping now; the journal records where");
            } else {
                eprintln!("cancelling after the current step, then undoing (Ctrl-C again: stop now)…");
            }
            on_ctrl_c.escalate();
        }
    });
    let interactive = run.confirm.is_none() && std::io::stdin().is_terminal();
    let mut confirm = run
        .confirm
        .clone()
        .map(|typed| Confirmation::new(typed, run.plan.clone()));
    loop {
        if interactive && plan.destructive && !plan.nothing_to_do() {
            print_plan(&plan);
            let typed = read_line(&format!(
                "Type the deployment's name ({deployment}) to go ahead: "
            ))?;
            confirm = Some(Confirmation::new(typed, Some(plan.digest.clone())));
        }
        let mut request = RunRequest::new(spec.clone(), confirm.clone());
        request.lock_wait = *run.lock_wait;
        match engine
            .run_action(deployment, request, events.clone(), cancel.clone())
            .await
        {
            Ok(report) => {
                if !report.verified {
                    return Err(ErrorReport {
                        code: "action.verify_failed".into(),
                        message: report.verify_detail,
                    });
                }
                return Ok(());
            }
            Err(breakglass::engine::Error::PlanChanged { plan: live }) if interactive => {
                eprintln!("The live plan changed since it was shown; here is the new one.");
                plan = *live;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn print_audit(r: &breakglass::engine::audit::AuditReview) {
    let s = |t: &str| display_safe(t.as_bytes());
    println!("Audit trail of {} since {}", r.deployment, r.since);
    println!("\nFailed logins by IP:");
    for f in &r.failed_by_ip {
        println!("  {:<40} {:>6}  {} … {}", s(&f.ip), f.failures, f.first, f.last);
    }
    println!("\nSuccessful logins after failures from the same IP (within an hour):");
    for x in &r.success_after_failures {
        println!(
            "  {:<40} {:<20} after {:>4} failure(s) at {}",
            s(&x.ip),
            s(&x.user),
            x.failures_before,
            x.at
        );
    }
    println!("\nAdmin actions:");
    for e in &r.admin_actions {
        println!("  {}  {:<24} {:<20} {}", e.at, s(&e.action), s(&e.user), s(&e.ip));
    }
    println!("\nNew tokens:");
    for e in &r.new_tokens {
        println!("  {}  {:<20} {}", e.at, s(&e.user), s(&e.ip));
    }
}

async fn journal_cmd(cli: &Cli, cmd: &JournalCmd) -> Result<(), ErrorReport> {
    let journal = engine(cli).await?.journal().await?;
    match cmd {
        JournalCmd::List { incident } => {
            let entries = journal.entries(*incident).await?;
            if cli.json {
                print_json(&entries)?;
            } else {
                for e in entries {
                    println!(
                        "{:>5} {} {:<24} {:<12} {:<22} {}",
                        e.seq,
                        e.at,
                        display_safe(e.operator.as_bytes()),
                        display_safe(e.deployment.as_bytes()),
                        e.kind,
                        display_safe(e.body.to_string().as_bytes())
                    );
                }
            }
        }
        JournalCmd::Verify { expect } => {
            let v = match expect {
                Some(text) => {
                    let (seq, hash) = parse_pasted_head(text)?;
                    journal.verify_against(seq, &hash).await?
                }
                None => journal.verify().await?,
            };
            if cli.json {
                print_json(&v)?;
            } else {
                if v.ok {
                    println!(
                        "journal ok: {} entries; hash chain, MACs, head file and incidents check out",
                        v.entries
                    );
                }
                if let Some(h) = &v.head {
                    println!("{}", display_safe(h.line().as_bytes()));
                }
                for n in &v.notes {
                    println!("note: {}", display_safe(n.as_bytes()));
                }
            }
            if !v.ok {
                for p in &v.problems {
                    eprintln!("{}", display_safe(p.to_string().as_bytes()));
                }
                return Err(ErrorReport {
                    code: "journal.tampered".into(),
                    message: format!("{} problem(s) in the journal", v.problems.len()),
                });
            }
        }
        JournalCmd::Head => {
            let head = journal.head().await?;
            if cli.json {
                print_json(&head)?;
            } else {
                println!("{}", display_safe(head.line().as_bytes()));
            }
            let v = journal.verify().await?;
            if !v.ok {
                eprintln!(
                    "warning: the journal does not verify ({} problem(s)); see `breakglass journal verify`",
                    v.problems.len()
                );
            }
        }
        JournalCmd::Export { incident, format } => {
            let incidents = journal.incidents().await?;
            let inc = incidents
                .iter()
                .find(|i| i.id == *incident)
                .ok_or_else(|| ErrorReport {
                    code: "incident.unknown".into(),
                    message: format!("no incident {incident}"),
                })?;
            let entries = journal.entries(Some(*incident)).await?;
            let v = journal.verify().await?;
            let text = if format == "html" {
                breakglass::engine::journal::render_html(inc, &entries, &v)
            } else {
                breakglass::engine::journal::render_markdown(inc, &entries, &v)
            };
            print!("{text}");
        }
    }
    Ok(())
}

/// `SEQ:HASH`, or the line `journal head` prints (`… seq 42 sha256 <hash> at …`).
fn parse_pasted_head(text: &str) -> Result<(i64, String), ErrorReport> {
    let bad = || ErrorReport {
        code: "journal.head".into(),
        message: "--expect takes SEQ:HASH or the line `breakglass journal head` printed".into(),
    };
    let words: Vec<&str> = text.split_whitespace().collect();
    let (seq, hash) = match words.iter().position(|w| *w == "seq") {
        Some(i) if words.get(i + 2) == Some(&"sha256") => (
            *words.get(i + 1).ok_or_else(bad)?,
            *words.get(i + 3).ok_or_else(bad)?,
        ),
        _ => {
            let (a, b) = text.trim().split_once(':').ok_or_else(bad)?;
            (a.trim(), b.trim())
        }
    };
    let seq: i64 = seq.parse().map_err(|_| bad())?;
    if seq < 0 || hash.len() != 64 || !hash.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(bad());
    }
    Ok((seq, hash.to_ascii_lowercase()))
}

async fn incident_cmd(cli: &Cli, cmd: &IncidentCmd) -> Result<(), ErrorReport> {
    let journal = engine(cli).await?.journal().await?;
    let who = breakglass::engine::journal::operator();
    match cmd {
        IncidentCmd::Open { title } => {
            let inc = journal.open_incident(title, &who).await?;
            println!("Incident {} opened: {}", inc.id, inc.title);
        }
        IncidentCmd::Close { id } => {
            journal.close_incident(*id, &who).await?;
            println!("Incident {id} closed.");
        }
        IncidentCmd::List => {
            let list = journal.incidents().await?;
            if cli.json {
                print_json(&list)?;
            } else {
                for i in list {
                    println!(
                        "{:>4} {} {:<10} {}",
                        i.id,
                        i.opened_at,
                        if i.closed_at.is_some() { "closed" } else { "open" },
                        display_safe(i.title.as_bytes())
                    );
                }
            }
        }
    }
    Ok(())
}
