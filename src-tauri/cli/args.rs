//! The command line's arguments: every subcommand and flag (clap), and their mapping to
//! engine types. Nothing here runs anything.

use std::path::PathBuf;

use breakglass::engine::actions::{IsolateMode, LockScope};
use breakglass::engine::when::Since;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "breakglass",
    version,
    about = "Incident-response console for self-hosted web applications"
)]
pub(crate) struct Cli {
    /// Where the local state lives (default: the per-user data directory).
    #[arg(long, global = true, env = "BREAKGLASS_DATA_DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Manage the deployments the console knows.
    #[command(subcommand)]
    Deployment(DeploymentCmd),
    /// List known deployments (same as `deployment list`).
    Deployments,
    /// App profiles: list them, check one against a live database, install one.
    #[command(subcommand)]
    App(AppCmd),
    /// Discover a deployment over SSH and write its profile: the hosts (first contact
    /// asks), their containers and compose services, the .env files, the database and
    /// Redis they name, backups, and the app profile the schema fits. Read-only. Run it
    /// again on a known deployment to see what changed.
    Init {
        /// The deployment's name (typed to confirm destructive actions later).
        name: String,
        /// A host: [name=][user@]address[:port]. Repeat for each host.
        #[arg(long = "host", required = true)]
        hosts: Vec<String>,
        /// The SSH key to log in with (default: the SSH agent).
        #[arg(long)]
        key: Option<String>,
        /// A host's Docker socket when it is not /var/run/docker.sock: HOST=PATH.
        #[arg(long = "docker-socket")]
        docker_sockets: Vec<String>,
        /// Pin the hosts' keys from an OpenSSH known_hosts file instead of asking.
        #[arg(long)]
        known_hosts: Option<PathBuf>,
        /// The compose project to look at, when a host runs several.
        #[arg(long)]
        project: Option<String>,
        /// Where to write the profile (default: NAME.toml in the current folder).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Add the deployment without asking.
        #[arg(long)]
        yes: bool,
    },
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
    /// Rotate application secrets (session keys, JWT secrets…): new random values in
    /// every host's .env, every container using them recreated host by host, healthy
    /// before the next; undone in reverse on a failure or a cancel.
    Rotate {
        deployment: String,
        /// The .env variables to rotate (SECRET_KEY_BASE, JWT_SECRET…).
        #[arg(required_unless_present_any = ["group", "all", "paste", "docker_secret"])]
        vars: Vec<String>,
        /// The variables of a group of the app profile's [rotate] (repeatable).
        #[arg(long = "group", value_name = "NAME")]
        group: Vec<String>,
        /// Every secret of the app profile that a .env holds (the plan names what it
        /// leaves out: keys of stored data, third parties' secrets not pasted).
        #[arg(long)]
        all: bool,
        /// A third party's secret, rotated where it is issued: its new value is asked for
        /// without echo (from stdin when it is not a terminal: one line per --paste).
        #[arg(long = "paste", value_name = "VAR")]
        paste: Vec<String>,
        /// Instead: a Docker Swarm secret (by name), replaced by a new versioned one
        /// (`key_v1` → `key_v2`) that every service mounting it rolls onto.
        #[arg(long, value_name = "NAME", conflicts_with_all = ["vars", "group", "all", "paste"])]
        docker_secret: Option<String>,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Rotate the console's own SSH key (profile `auth = key-file`): a new Ed25519 key
    /// added to every host's authorized_keys, logged in with, written to the key file
    /// (the old one kept beside it), then the old key removed from every host and
    /// proven refused; undone in reverse on a failure or a cancel.
    RotateSshKey {
        deployment: String,
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
        /// How far back: a duration like 24h or 7d, or a time with its zone
        /// (2026-11-22T03:00:00Z).
        #[arg(long, default_value = "24h", value_parser = since_arg)]
        since: Since,
    },
    /// The backups in the profile's backup folder, newest first, with their age.
    Backups { deployment: String },
    /// Prove the newest backup (or --backup NAME) restores: restore it on the server side
    /// into a scratch database, compare it with production, drop it. Exit 0 only when it
    /// passed; 1 when it did not.
    RestoreTest {
        deployment: String,
        /// The backup's file name in the folder (default: the newest).
        #[arg(long)]
        backup: Option<String>,
    },
    /// Past restore tests of a deployment, from the journal: when, which backup, passed or
    /// not, RTO and RPO.
    RestoreHistory { deployment: String },
    /// The hardening audit: the seeds' checklists checked read-only against every host,
    /// each finding with its evidence and fix, a score, combined risks and what changed
    /// since the last audit. Exit 0 when nothing failed; 1 when a check failed or could
    /// not be made.
    Harden {
        deployment: String,
        /// The report as text (default), Markdown or HTML (a page with no script).
        #[arg(long, value_parser = ["text", "md", "html"], default_value = "text")]
        format: String,
        /// Past audits' scores instead of a new audit (nothing is checked).
        #[arg(long)]
        history: bool,
    },
    /// Accept one finding of the hardening audit, with a reason, for a while (it stays in
    /// the report, marked accepted, and counts again when the time is up). Journaled.
    AcceptFinding {
        deployment: String,
        /// The check, as the report names it (env.mode, container.user…).
        check: String,
        /// The host the finding names, if it names one.
        #[arg(long)]
        host: Option<String>,
        /// The container, file or variable the finding names, if it names one.
        #[arg(long)]
        subject: Option<String>,
        /// Why it is acceptable.
        #[arg(long)]
        reason: String,
        /// How long, like 30d (at most a year).
        #[arg(long = "for")]
        duration: humantime::Duration,
    },
    /// The action journal: list, verify, export an incident.
    #[command(subcommand)]
    Journal(JournalCmd),
    /// Incidents group journal entries for the hand-over report.
    #[command(subcommand)]
    Incident(IncidentCmd),
    /// Guided sequences of steps (seed 001's emergency actions, seed 004's "if
    /// compromised", your own): each action still planned, confirmed, run and verified.
    #[command(subcommand)]
    Runbook(RunbookCmd),
}

#[derive(Subcommand)]
pub(crate) enum RunbookCmd {
    /// The runbooks: built in, and yours (TOML files in the console's `runbooks` folder).
    List,
    /// One runbook's steps and parameters.
    Show { name: String },
    /// Walk a runbook on a deployment, step by step. Stops at the first step that is not
    /// done and verified, and says how to go on (`--from`).
    Run {
        deployment: String,
        name: String,
        /// A parameter the runbook names, as NAME=VALUE (repeat for each).
        #[arg(long = "set", value_name = "NAME=VALUE", value_parser = param)]
        params: Vec<(String, String)>,
        /// Start at this step (1-based), after an earlier run stopped before it.
        #[arg(long, default_value_t = 1)]
        from: usize,
        /// Where the report step writes the incident's report (Markdown and HTML).
        #[arg(long, default_value = ".")]
        report_dir: std::path::PathBuf,
        #[command(flatten)]
        run: RunArgs,
    },
}

fn param(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("{s:?} is not NAME=VALUE"))
}

#[derive(clap::Args)]
pub(crate) struct RunArgs {
    /// Show the plan and stop (changes nothing).
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// The deployment's name, typed, to allow a destructive run without a prompt.
    #[arg(long)]
    pub(crate) confirm: Option<String>,
    /// With --confirm: the digest of the plan you confirm (from --dry-run --json); the
    /// run stops if the live plan differs.
    #[arg(long, requires = "confirm")]
    pub(crate) plan: Option<String>,
    /// How long to wait for another responder's lock, like 30s or 5m.
    #[arg(long, default_value = "2m")]
    pub(crate) lock_wait: humantime::Duration,
}

#[derive(clap::Args)]
#[group(required = true, multiple = false)]
pub(crate) struct TokenScopeArgs {
    #[arg(long)]
    pub(crate) all: bool,
    #[arg(long)]
    pub(crate) user: Option<String>,
    #[arg(long)]
    pub(crate) id: Option<i64>,
    /// Tokens created since: a duration like 2h, or a time with its zone
    /// (2026-11-22T03:00:00Z or +02:00; a time without a zone is refused).
    #[arg(long, value_parser = since_text)]
    pub(crate) since: Option<String>,
}

#[derive(clap::Args)]
#[group(required = true, multiple = false)]
pub(crate) struct LockScopeArgs {
    #[arg(long)]
    pub(crate) all_non_admin: bool,
    #[arg(long)]
    pub(crate) user: Option<String>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum ModeArg {
    Stop,
    Pause,
    Disconnect,
}

#[derive(Subcommand)]
pub(crate) enum JournalCmd {
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
pub(crate) enum IncidentCmd {
    /// Open an incident on a deployment: its later journal entries belong to it.
    Open { deployment: String, title: String },
    /// Add a note to an open incident's timeline (it goes into the journal's chain).
    Note { id: i64, text: String },
    /// The timeline, notes and where containment stands.
    Show { id: i64 },
    /// The hand-over report, as Markdown (default) or HTML.
    Report {
        id: i64,
        #[arg(long, value_parser = ["md", "html"], default_value = "md")]
        format: String,
    },
    /// Close an incident: its record becomes final.
    Close { id: i64 },
    /// List incidents.
    List,
}

#[derive(Subcommand)]
pub(crate) enum DockerCmd {
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
pub(crate) enum SecretCmd {
    /// Store or replace a value (prompted without echo, or read from stdin).
    Set { deployment: String, name: String },
    /// Whether a value is stored (the value is never shown).
    Status { deployment: String, name: String },
    /// Delete a value.
    Delete { deployment: String, name: String },
}

#[derive(Subcommand)]
pub(crate) enum AppCmd {
    /// The built-in app profiles and those installed.
    List,
    /// Check an app profile file against a deployment's database: every table and column
    /// it names exists, with a type the actions can use (read-only). Exits 1 if not.
    Check { deployment: String, file: PathBuf },
    /// Validate an app profile file and install it (`<data dir>/apps/<name>.toml`).
    Add { file: PathBuf },
}

#[derive(Subcommand)]
pub(crate) enum DeploymentCmd {
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

pub(crate) fn lock_scope(s: &LockScopeArgs) -> LockScope {
    match &s.user {
        Some(u) => LockScope::User(u.clone()),
        None => LockScope::AllNonAdmin,
    }
}

pub(crate) fn mode_of(m: ModeArg) -> IsolateMode {
    match m {
        ModeArg::Stop => IsolateMode::Stop,
        ModeArg::Pause => IsolateMode::Pause,
        ModeArg::Disconnect => IsolateMode::Disconnect,
    }
}

/// `--since`: a duration back from now or a zoned time, checked as the engine checks it.
fn since_arg(text: &str) -> Result<Since, String> {
    Since::parse(text).map_err(|e| e.to_string())
}

/// `--since` passed on to the engine as typed (after the same check), so that the plan
/// a person saw and the one the run makes say the same.
fn since_text(text: &str) -> Result<String, String> {
    since_arg(text).map(|_| text.trim().to_owned())
}
