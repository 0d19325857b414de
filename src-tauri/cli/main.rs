//! `breakglass`: the command-line console. Argument parsing and printing only; every
//! operation is an engine call, the same one the window makes.

use std::path::PathBuf;
use std::process::ExitCode;

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
        Command::Deployment(DeploymentCmd::Remove { name }) => {
            engine(&cli).await?.remove_deployment(name).await?;
            if !cli.json {
                println!("Removed deployment {name:?} from the console (its profile file is untouched).");
            }
        }
    }
    Ok(())
}
