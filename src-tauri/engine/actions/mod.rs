//! Incident-response actions. Every action runs the same way:
//!
//! 1. **lock** — one responder per deployment: a lock file on one of the deployment's
//!    hosts, reached over pinned SSH (`lock.rs`). The app's database credentials cannot
//!    take or fake it. The wait has a timeout and can be cancelled.
//! 2. **plan** — under the lock, read-only, from the live system: exactly what would
//!    change, as an ordered list of steps. An empty plan is "nothing to do".
//! 3. **confirm** — a destructive plan needs the deployment's name typed back, bound to
//!    the digest of the plan that was shown: if the live plan differs, the run stops and
//!    asks again with the new plan.
//! 4. **run** — step by step (`runner.rs`). Each step is journaled before it acts and
//!    after; a failure or a cancel undoes the steps already done, in reverse, each
//!    journaled too. A run that was killed shows at the next start.
//! 5. **verify** — the effect is checked again from the live system.
//!
//! **Adding an action** is one file and one line: write `actions/<name>.rs` with a request
//! type that implements [`Action`] (its `plan` returns the [`Plan`] and its [`Step`]s; its
//! `verify` checks the effect), then add one line to the `registry!` below. The CLI, the
//! window and the journal then know it by its name.
//!
//! Not here: read-only reviews that change nothing (`crate::engine::review`).

mod expire_sessions;
mod isolate;
pub mod lock;
mod lock_accounts;
mod revoke_tokens;
pub mod rotate;
pub mod runner;
pub(crate) mod sql;
mod undo;

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::engine::profiles::DeploymentProfile;
use crate::engine::profiles::app::AppProfile;
use crate::engine::{Engine, Error, Result};

pub use expire_sessions::ExpireSessions;
pub use isolate::{Isolate, IsolateMode, Restore};
pub use lock_accounts::{LockAccounts, LockScope, UnlockAccounts};
pub use revoke_tokens::{RevokeTokens, TokenScope};
pub use rotate::ssh_key::{KeyFileBack, KeysBack, RotateSshKey, RotateSshKeyUndo};
pub use rotate::swarm::{RotateDockerSecret, RotateDockerSecretUndo, SecretRef, ServiceSwap};
pub use rotate::{EnvBack, ParkedRef, RotateSecrets, RotateUndo};
pub use runner::Interrupted;
pub use sql::{audited, q as quote_ident};
pub use undo::Undo;

/// What an action is: a plan made from the live system, and a check of its effect.
pub trait Action: Send + Sync {
    /// Reads the live system and says what would change, step by step. Changes nothing.
    fn plan<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, Result<Planned>>;
    /// Checks, after the steps ran, that the effect really happened.
    fn verify<'a>(&'a self, ctx: &'a Ctx<'_>, plan: &'a Plan) -> BoxFuture<'a, Result<Verdict>>;
    /// Before the steps: asks the app what it says now with the canary's credentials
    /// (stored in the context), so that verify can tell the action's effect from a probe
    /// that never worked. Never fails the run: a probe that cannot be made is said so at
    /// verify. By default: nothing to ask.
    fn probe_before<'a>(&'a self, _ctx: &'a Ctx<'_>) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }
}

/// One step of a run: it does one thing, and says how it is undone (if it can be).
pub trait Step: Send + Sync {
    fn description(&self) -> String;
    fn run<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, Result<StepDone>>;
    /// The request that undoes this step once it is done, journaled with its outcome so
    /// that an interrupted run can still be undone from the journal alone. `None`: this
    /// step cannot be undone (the plan says so).
    fn undo(&self) -> Option<ActionSpec> {
        None
    }
    /// The request that undoes whatever this step may have done before it failed (a
    /// connection lost half way): journaled with the failure and run first when the run
    /// is undone, now or later from the journal. It must plan as nothing to do when the
    /// step changed nothing. `None`: a failed step of this kind leaves nothing behind.
    fn undo_after_failure(&self) -> Option<ActionSpec> {
        None
    }
    /// Undoes this step now, during a run that failed or was cancelled after it. By
    /// default: the [`Step::undo`] request, planned live and its steps run.
    fn revert<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, Result<String>> {
        Box::pin(async move {
            match self.undo() {
                Some(spec) => runner::run_undo(ctx, &spec).await,
                None => Err(Error::ActionUnavailable {
                    reason: format!("{} cannot be undone", self.description()),
                }),
            }
        })
    }
}

/// What a finished step reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepDone {
    pub detail: String,
    /// Rows, keys or containers changed.
    pub changed: i64,
}

/// A plan, and the steps that carry it out.
pub struct Planned {
    pub plan: Plan,
    pub steps: Vec<Box<dyn Step>>,
}

impl Planned {
    /// A plan whose step list is its steps' descriptions, in order.
    pub fn new(mut plan: Plan, steps: Vec<Box<dyn Step>>) -> Self {
        plan.steps = steps.iter().map(|s| s.description()).collect();
        plan.reversible = steps.iter().map(|s| s.undo().is_some()).collect();
        plan.digest = plan.compute_digest();
        Planned { plan, steps }
    }
}

/// What verify found, and whom it asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub ok: bool,
    pub detail: String,
    pub vantage: Vantage,
}

/// Whom verify asked. The database and Redis are what the leaked `.env` opens, so a
/// verify that asked only them says so; the app, asked as a client with the canary
/// account, is another witness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Vantage {
    /// The app itself (a probe), besides the system the action changed.
    App,
    /// Only the database the action changed.
    Database,
    /// Only the Redis the action changed.
    Redis,
    /// The Docker Engine of the host (the container's own state).
    Docker,
    /// Each host's sshd, on fresh logins (and the files it reads).
    Hosts,
}

impl Vantage {
    /// How the outcome names it: `verified in the database only`.
    pub fn phrase(self) -> &'static str {
        match self {
            Vantage::App => "verified by the app itself",
            Vantage::Database => "verified in the database only",
            Vantage::Redis => "verified in Redis only",
            Vantage::Docker => "verified by the Docker Engine",
            Vantage::Hosts => "verified by logging in to each host",
        }
    }
}

impl Verdict {
    /// A verdict from the database alone (the usual start: probes add to it).
    pub fn new(ok: bool, detail: impl Into<String>) -> Self {
        Verdict {
            ok,
            detail: detail.into(),
            vantage: Vantage::Database,
        }
    }

    pub fn by(mut self, vantage: Vantage) -> Self {
        self.vantage = vantage;
        self
    }

    /// Adds what the app said. A credential still accepted fails the verdict whatever
    /// the database says; a refusal makes the app a witness; anything else is said and
    /// leaves the verdict to the database alone.
    pub fn with_evidence(mut self, evidence: crate::engine::probe::Evidence) -> Self {
        use crate::engine::probe::Evidence;
        match evidence {
            Evidence::Refused(m) => {
                self.vantage = Vantage::App;
                self.detail = format!("{}; {m}", self.detail);
            }
            Evidence::StillAccepted(m) => {
                self.ok = false;
                self.vantage = Vantage::App;
                self.detail = format!("{}; {m}", self.detail);
            }
            Evidence::Inconclusive(m) => {
                self.detail = format!("{}; app probe inconclusive: {m}", self.detail)
            }
            Evidence::None(m) => self.detail = format!("{}; no app probe: {m}", self.detail),
        }
        self
    }
}

/// What the app said before the steps ran (see [`Action::probe_before`]).
#[derive(Default)]
pub struct ProbeBefore {
    /// Whether the canary is in the action's scope (`None`: not looked at).
    pub in_scope: Option<bool>,
    pub token: Option<crate::engine::probe::Answer>,
    pub login: Option<crate::engine::probe::Answer>,
    pub session: Option<crate::engine::probe::Answer>,
    /// The cookies of the canary's login before the run (for the session probe).
    pub cookies: Option<crate::engine::secret::Sensitive<String>>,
    /// A JWT the canary's login got before the run, and the app's answer to it then.
    pub jwt: Option<crate::engine::secret::Sensitive<String>>,
    pub jwt_answer: Option<crate::engine::probe::Answer>,
}

/// The action registry: one line per action — its name, its variant of [`ActionSpec`]
/// and its request type. Everything else (the serde shape the window and the CLI send,
/// dispatch, names) follows from this list.
macro_rules! registry {
    ($($name:literal => $variant:ident($ty:ty),)*) => {
        /// What to do. Serializable, so the window sends the same value the CLI builds:
        /// `{"action": "<name>", ...the request's fields}`.
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[cfg_attr(test, derive(ts_rs::TS))]
        #[serde(tag = "action")]
        pub enum ActionSpec {
            $(#[serde(rename = $name)] $variant($ty),)*
        }

        /// Every action's name, in the registry's order.
        pub const ACTION_NAMES: &[&str] = &[$($name),*];

        impl ActionSpec {
            pub fn name(&self) -> &'static str {
                match self { $(ActionSpec::$variant(_) => $name,)* }
            }

            pub fn action(&self) -> &dyn Action {
                match self { $(ActionSpec::$variant(a) => a,)* }
            }
        }
    };
}

registry! {
    "revoke-tokens" => RevokeTokens(RevokeTokens),
    "lock-accounts" => LockAccounts(LockAccounts),
    "unlock-accounts" => UnlockAccounts(UnlockAccounts),
    "expire-sessions" => ExpireSessions(ExpireSessions),
    "isolate" => Isolate(Isolate),
    "restore" => Restore(Restore),
    "rotate-secrets" => RotateSecrets(RotateSecrets),
    "rotate-undo" => RotateUndo(RotateUndo),
    "rotate-ssh-key" => RotateSshKey(RotateSshKey),
    "rotate-ssh-key-undo" => RotateSshKeyUndo(RotateSshKeyUndo),
    "rotate-docker-secret" => RotateDockerSecret(RotateDockerSecret),
    "rotate-docker-secret-undo" => RotateDockerSecretUndo(RotateDockerSecretUndo),
    "undo" => Undo(Undo),
}

/// The exact preview of a run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Plan {
    pub action: String,
    pub deployment: String,
    /// One line a person reads before confirming.
    pub summary: String,
    /// How many rows, keys or containers will change.
    pub count: i64,
    /// A few of them, by name.
    pub sample: Vec<String>,
    /// The steps, in order.
    pub steps: Vec<String>,
    /// For each step: whether it can be undone (a failure later undoes it).
    #[serde(default)]
    pub reversible: Vec<bool>,
    pub destructive: bool,
    /// What a person must know before confirming that the counts do not say: settings
    /// on the database role that change behaviour, a container sharing another's
    /// network, duplicated `.env` keys… Text from the deployment: print it safely.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// SHA-256 of everything above: a confirmation names the plan it confirms.
    #[serde(default)]
    pub digest: String,
}

impl Plan {
    pub fn nothing_to_do(&self) -> bool {
        self.count == 0
    }

    fn compute_digest(&self) -> String {
        let canonical = serde_json::json!([
            self.action,
            self.deployment,
            self.summary,
            self.count,
            self.sample,
            self.steps,
            self.reversible,
            self.destructive,
            self.warnings
        ]);
        hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
    }
}

/// How a person confirmed a destructive plan: the deployment's name, typed, and the
/// digest of the plan they were shown (`None`: whatever the live plan is, for scripts
/// that pass `--confirm NAME` without looking at a plan first).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    pub typed: String,
    pub plan_digest: Option<String>,
}

impl Confirmation {
    pub fn new(typed: impl Into<String>, plan_digest: Option<String>) -> Self {
        Confirmation {
            typed: typed.into(),
            plan_digest,
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Started,
    Done,
    Failed,
    /// Undone after a later failure or a cancel.
    Undoing,
    Undone,
    UndoFailed,
}

/// Streamed to the CLI and the window while an action runs.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ActionEvent {
    Planned {
        plan: Plan,
    },
    Waiting {
        holder: String,
    },
    Step {
        step: usize,
        description: String,
        status: StepStatus,
        detail: String,
    },
    Verified {
        ok: bool,
        detail: String,
        /// Whom verify asked.
        by: Option<Vantage>,
    },
    Finished {
        outcome: String,
    },
}

/// Receives events; the window forwards them as Tauri events, the CLI prints them.
pub type Events = Arc<dyn Fn(ActionEvent) + Send + Sync>;

/// The outcome of a run.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct RunReport {
    pub run_id: String,
    pub plan: Plan,
    /// `nothing to do`, `done`, `done, but verification failed`, `cancelled, undone`,
    /// `failed: …, undone`, `aborted`…
    pub outcome: String,
    /// What run changed (rows, keys, containers), net of what was undone.
    pub changed: i64,
    pub verified: bool,
    pub verify_detail: String,
    /// Steps that ran and were undone after a failure or a cancel.
    pub undone: usize,
    /// Whom verify asked (`None`: it did not run).
    pub verified_by: Option<Vantage>,
}

/// Cancels a run. The first cancel lets the current step finish, then undoes what was
/// done; a second (abort) stops at once and journals where it stopped.
#[derive(Clone, Default)]
pub struct Cancel(Arc<CancelInner>);

#[derive(Default)]
struct CancelInner {
    level: AtomicU8,
    changed: tokio::sync::Notify,
}

impl std::fmt::Debug for Cancel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cancel({})", self.0.level.load(Ordering::SeqCst))
    }
}

impl Cancel {
    /// Finish the current step, then undo.
    pub fn cancel(&self) {
        self.0.level.fetch_max(1, Ordering::SeqCst);
        self.0.changed.notify_waiters();
    }
    /// Stop now.
    pub fn abort(&self) {
        self.0.level.store(2, Ordering::SeqCst);
        self.0.changed.notify_waiters();
    }
    /// A cancel, or an abort if a cancel came already (the CLI's first and second Ctrl-C).
    pub fn escalate(&self) {
        if self.is_cancelled() {
            self.abort()
        } else {
            self.cancel()
        }
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.level.load(Ordering::SeqCst) >= 1
    }
    pub fn is_aborted(&self) -> bool {
        self.0.level.load(Ordering::SeqCst) >= 2
    }
    /// Resolves when a cancel (level 1) or an abort (level 2) arrives.
    pub async fn reached(&self, level: u8) {
        loop {
            let notified = self.0.changed.notified();
            if self.0.level.load(Ordering::SeqCst) >= level {
                return;
            }
            notified.await;
        }
    }
}

/// What an action gets to work with.
pub struct Ctx<'a> {
    pub engine: &'a Engine,
    pub profile: &'a DeploymentProfile,
    pub app: &'a AppProfile,
    /// One database connection pool for the whole run (plan, run, verify): the `.env` is
    /// read and the tunnel opened once, on first use.
    db: tokio::sync::OnceCell<crate::engine::db::RemoteDb>,
    /// What opening the database found that the plan must show (role settings).
    db_warnings: std::sync::OnceLock<Vec<String>>,
    /// Likewise one Redis connection (for the actions that need one).
    redis: tokio::sync::OnceCell<tokio::sync::Mutex<crate::engine::redis::Redis>>,
    /// The app prober (or why there is none), made on first use.
    prober: tokio::sync::OnceCell<std::result::Result<crate::engine::probe::Prober, String>>,
    /// What the app said before the steps.
    pub before: std::sync::Mutex<ProbeBefore>,
}

impl<'a> Ctx<'a> {
    pub fn new(engine: &'a Engine, profile: &'a DeploymentProfile, app: &'a AppProfile) -> Self {
        Ctx {
            engine,
            profile,
            app,
            db: tokio::sync::OnceCell::new(),
            db_warnings: std::sync::OnceLock::new(),
            redis: tokio::sync::OnceCell::new(),
            prober: tokio::sync::OnceCell::new(),
            before: std::sync::Mutex::default(),
        }
    }

    /// The app prober of this deployment, or why there is none.
    pub async fn prober(&self) -> std::result::Result<&crate::engine::probe::Prober, String> {
        let made = self
            .prober
            .get_or_init(|| async {
                match crate::engine::probe::Prober::for_deployment(self.engine, self.profile, self.app).await
                {
                    Ok(p) => p,
                    Err(e) => Err(format!("the keychain could not be read: {e}")),
                }
            })
            .await;
        made.as_ref().map_err(Clone::clone)
    }

    /// Runs `f` on what the app said before the steps.
    pub fn with_before<T>(&self, f: impl FnOnce(&mut ProbeBefore) -> T) -> T {
        match self.before.lock() {
            Ok(mut b) => f(&mut b),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    /// Plans an action in this context: its own plan, plus what the context found that
    /// a person must see before confirming (the digest covers both).
    pub async fn plan(&self, action: &dyn Action) -> Result<Planned> {
        let mut planned = action.plan(self).await?;
        if let Some(w) = self.db_warnings.get() {
            planned.plan.warnings.extend(w.iter().cloned());
        }
        planned.plan.digest = planned.plan.compute_digest();
        Ok(planned)
    }

    pub fn deployment(&self) -> &str {
        self.profile.name()
    }

    /// The deployment's database, opened on first use and shared by every phase.
    pub async fn db(&self) -> Result<&crate::engine::db::RemoteDb> {
        self.db
            .get_or_try_init(|| async {
                let db = self.engine.database(self.deployment()).await?;
                let settings = db.role_settings().await?;
                // The tables this app profile's actions write or count.
                let mut tables: Vec<&str> = Vec::new();
                if let Some(u) = &self.app.users {
                    tables.push(&u.table);
                }
                if let Some(t) = &self.app.tokens {
                    tables.push(&t.table);
                }
                if let Some(t) = self.app.sessions.as_ref().and_then(|s| s.table.as_deref()) {
                    tables.push(t);
                }
                let mut oddities = Vec::new();
                for t in tables {
                    oddities.extend(db.table_oddities(t).await?);
                }
                let _ = self.db_warnings.set(
                    settings
                        .into_iter()
                        .map(|s| {
                            format!(
                                "database setting for {s} (the console pins its own session; the app runs with it)"
                            )
                        })
                        .chain(oddities)
                        .chain(db.notes.iter().cloned())
                        .collect(),
                );
                Ok(db)
            })
            .await
    }

    /// The deployment's Redis (profile `[redis]`), opened on first use and shared by
    /// every phase: the password is read from the `.env` once per run.
    pub async fn redis(&self) -> Result<tokio::sync::MutexGuard<'_, crate::engine::redis::Redis>> {
        let cell = self
            .redis
            .get_or_try_init(|| async {
                self.engine
                    .redis(self.deployment())
                    .await
                    .map(tokio::sync::Mutex::new)
            })
            .await?;
        Ok(cell.lock().await)
    }
}

/// How long a run waits for another responder's lock before giving up.
pub const DEFAULT_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(120);

/// How a run is asked for: the request, the confirmation, and how long to wait for the lock.
pub struct RunRequest {
    pub spec: ActionSpec,
    pub confirm: Option<Confirmation>,
    pub lock_wait: std::time::Duration,
}

impl RunRequest {
    pub fn new(spec: ActionSpec, confirm: Option<Confirmation>) -> Self {
        RunRequest {
            spec,
            confirm,
            lock_wait: DEFAULT_LOCK_WAIT,
        }
    }
}

impl Engine {
    /// The app profile a deployment names: built in, or `<data dir>/apps/<name>.toml`.
    pub async fn app_profile(&self, deployment: &str) -> Result<AppProfile> {
        let profile = self.profile(deployment).await?;
        let name = profile.app_profile.get_ref().clone();
        if let Some(p) = AppProfile::builtin(&name) {
            return Ok(p);
        }
        // Checked when the profile was read too; this is the one place it names a file.
        if !crate::engine::profiles::is_app_profile_name(&name) {
            return Err(Error::UnknownAppProfile {
                name,
                looked: "nowhere: the name is not a valid app profile name".into(),
            });
        }
        let file = self
            .state()
            .path()
            .with_file_name("apps")
            .join(format!("{name}.toml"));
        let text = std::fs::read_to_string(&file).map_err(|_| Error::UnknownAppProfile {
            name: name.clone(),
            looked: file.display().to_string(),
        })?;
        AppProfile::parse(&text).map_err(|e| e.with_path(&file).into())
    }

    /// The plan alone: read-only, without the lock (a preview; the run plans again under
    /// the lock and refuses a confirmation given for another plan).
    pub async fn plan_action(&self, deployment: &str, spec: &ActionSpec) -> Result<Plan> {
        let profile = self.profile(deployment).await?;
        let app = self.app_profile(deployment).await?;
        let ctx = Ctx::new(self, &profile, &app);
        Ok(ctx.plan(spec.action()).await?.plan)
    }

    /// lock → plan → confirm → run → verify, journaled as it goes.
    pub async fn run_action(
        &self,
        deployment: &str,
        request: RunRequest,
        events: Events,
        cancel: Cancel,
    ) -> Result<RunReport> {
        let profile = self.profile(deployment).await?;
        let app = self.app_profile(deployment).await?;
        let journal = self.journal().await?;
        let lock = lock::SshLock::new(self.clone(), &profile)?;
        let run = runner::Run::new(
            journal,
            Box::new(lock),
            crate::engine::journal::operator(),
            events,
            cancel,
        );
        let ctx = Ctx::new(self, &profile, &app);
        run.execute(&ctx, request).await
    }

    /// Runs found in the journal that started and never finished (the console was
    /// killed, the machine lost power), with the steps each had done.
    pub async fn interrupted_runs(&self) -> Result<Vec<Interrupted>> {
        runner::interrupted(&self.journal().await?).await
    }

    /// Breaks another console's stale lock on a deployment (journaled). `typed` must be
    /// the deployment's name.
    pub async fn break_lock(&self, deployment: &str, typed: &str) -> Result<lock::Holder> {
        if typed != deployment {
            return Err(Error::ConfirmationRequired {
                deployment: deployment.to_owned(),
            });
        }
        let profile = self.profile(deployment).await?;
        let store = lock::SshLock::new(self.clone(), &profile)?;
        let journal = self.journal().await?;
        lock::break_stale(&store, &journal, deployment, &crate::engine::journal::operator()).await
    }
}
