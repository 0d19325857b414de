//! Incident-response actions. Every action runs the same way:
//!
//! 1. **plan** — read-only, from the live system: exactly what would change (counts, a
//!    sample, which hosts and containers, in what order). An empty plan is "nothing to do".
//! 2. **confirm** — a destructive plan needs the deployment's name typed back.
//! 3. **run** — step by step, streaming events; cancellable between steps; database
//!    changes in one transaction. Two responders on one deployment: the second is told
//!    who holds it and waits (a PostgreSQL advisory lock both can see).
//! 4. **verify** — the effect is checked again from the live system.
//! 5. **journal** — the plan, every step and the verification, hash-chained.
//!
//! Each action is one file that reads top to bottom as plan → run → verify.

mod expire_sessions;
mod isolate;
mod lock_accounts;
mod revoke_tokens;
mod sql;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

use crate::engine::profiles::DeploymentProfile;
use crate::engine::profiles::app::AppProfile;
use crate::engine::{Engine, Error, Result};

pub use isolate::IsolateMode;
pub use lock_accounts::LockScope;
pub use revoke_tokens::TokenScope;
pub use sql::{audited, q as quote_ident};

/// What to do. Serializable, so the window sends the same value the CLI builds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum ActionSpec {
    RevokeTokens {
        scope: TokenScope,
    },
    /// Lock accounts for `duration_secs` (absent: until unlocked).
    LockAccounts {
        scope: LockScope,
        duration_secs: Option<u64>,
    },
    UnlockAccounts {
        scope: LockScope,
    },
    /// Expire sessions, all or one user's (table-backed sessions only).
    ExpireSessions {
        user: Option<String>,
    },
    Isolate {
        host: String,
        container: String,
        mode: IsolateMode,
    },
    /// Undo an isolation: start, unpause, or reconnect the named networks.
    Restore {
        host: String,
        container: String,
        mode: IsolateMode,
        networks: Vec<String>,
    },
}

impl ActionSpec {
    pub fn name(&self) -> &'static str {
        match self {
            ActionSpec::RevokeTokens { .. } => "revoke-tokens",
            ActionSpec::LockAccounts { .. } => "lock-accounts",
            ActionSpec::UnlockAccounts { .. } => "unlock-accounts",
            ActionSpec::ExpireSessions { .. } => "expire-sessions",
            ActionSpec::Isolate { .. } => "isolate",
            ActionSpec::Restore { .. } => "restore",
        }
    }
}

/// The exact preview of a run.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
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
    pub destructive: bool,
}

impl Plan {
    pub fn nothing_to_do(&self) -> bool {
        self.count == 0
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Started,
    Done,
    Failed,
}

/// Streamed to the CLI and the window while an action runs.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
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
    },
    Finished {
        outcome: String,
    },
}

/// Receives events; the window forwards them as Tauri events, the CLI prints them.
pub type Events = Arc<dyn Fn(ActionEvent) + Send + Sync>;

/// The outcome of a run.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RunReport {
    pub run_id: String,
    pub plan: Plan,
    /// `nothing to do`, `done`, `cancelled`, `failed: …`.
    pub outcome: String,
    /// What run changed (rows, keys, containers).
    pub changed: i64,
    pub verified: bool,
    pub verify_detail: String,
}

/// Cancels a run between steps.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// What an action gets to work with.
pub struct Ctx<'a> {
    pub engine: &'a Engine,
    pub profile: &'a DeploymentProfile,
    pub app: &'a AppProfile,
    /// One database connection pool for the whole run (plan, lock, run, verify): the
    /// `.env` is read and the tunnel opened once, on first use.
    db: tokio::sync::OnceCell<crate::engine::db::RemoteDb>,
    /// Likewise one Redis connection (for the actions that need one).
    redis: tokio::sync::OnceCell<tokio::sync::Mutex<crate::engine::redis::Redis>>,
}

impl<'a> Ctx<'a> {
    pub fn new(engine: &'a Engine, profile: &'a DeploymentProfile, app: &'a AppProfile) -> Self {
        Ctx {
            engine,
            profile,
            app,
            db: tokio::sync::OnceCell::new(),
            redis: tokio::sync::OnceCell::new(),
        }
    }

    pub fn deployment(&self) -> &str {
        self.profile.name()
    }

    /// The deployment's database, opened on first use and shared by every phase.
    pub async fn db(&self) -> Result<&crate::engine::db::RemoteDb> {
        self.db
            .get_or_try_init(|| self.engine.database(self.deployment()))
            .await
    }

    /// Drops the shared Redis connection; the next use opens a new one.
    pub fn forget_redis(&mut self) {
        self.redis = tokio::sync::OnceCell::new();
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

/// The result of the run phase: how much changed and the journal lines for each step.
pub struct Ran {
    pub changed: i64,
    pub steps: Vec<(String, String)>,
}

fn run_id() -> String {
    hex::encode(rand::random::<[u8; 8]>())
}

impl Engine {
    /// The app profile a deployment names: built in, or `<data dir>/apps/<name>.toml`.
    pub async fn app_profile(&self, deployment: &str) -> Result<AppProfile> {
        let profile = self.profile(deployment).await?;
        let name = profile.app_profile.get_ref().clone();
        if let Some(p) = AppProfile::builtin(&name) {
            return Ok(p);
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

    /// The plan alone: read-only.
    pub async fn plan_action(&self, deployment: &str, spec: &ActionSpec) -> Result<Plan> {
        let profile = self.profile(deployment).await?;
        let app = self.app_profile(deployment).await?;
        let ctx = Ctx::new(self, &profile, &app);
        plan(&ctx, spec).await
    }

    /// plan → confirm → run → verify → journal. `confirm` must be the deployment's name
    /// when the plan is destructive.
    pub async fn run_action(
        &self,
        deployment: &str,
        spec: &ActionSpec,
        confirm: Option<&str>,
        events: Events,
        cancel: Cancel,
    ) -> Result<RunReport> {
        let profile = self.profile(deployment).await?;
        let app = self.app_profile(deployment).await?;
        let mut ctx = Ctx::new(self, &profile, &app);
        let operator = crate::engine::connect::operator();
        let id = run_id();
        let journal = self.journal().await?;
        let note = |kind: &'static str, body: serde_json::Value| {
            let (journal, id, operator) = (journal.clone(), id.clone(), operator.clone());
            async move { journal.append(deployment, &id, &operator, kind, body).await }
        };

        let plan = plan(&ctx, spec).await?;
        events(ActionEvent::Planned { plan: plan.clone() });
        let mut report = RunReport {
            run_id: id.clone(),
            plan: plan.clone(),
            outcome: String::new(),
            changed: 0,
            verified: false,
            verify_detail: String::new(),
        };
        if plan.nothing_to_do() {
            note(
                "action.nothing_to_do",
                serde_json::json!({ "action": plan.action, "summary": plan.summary }),
            )
            .await?;
            report.outcome = "nothing to do".into();
            report.verified = true;
            events(ActionEvent::Finished {
                outcome: report.outcome.clone(),
            });
            return Ok(report);
        }
        if plan.destructive && confirm != Some(deployment) {
            return Err(Error::ConfirmationRequired {
                deployment: deployment.to_owned(),
            });
        }

        // One responder at a time per deployment.
        let lock = match &profile.database {
            Some(_) => Some(
                sql::DeploymentLock::acquire(ctx.db().await?, deployment, &operator, &id, &events).await?,
            ),
            None => None,
        };
        // After waiting for another responder (minutes, maybe), the run opens its own Redis
        // connection rather than trust one that sat idle (servers close idle ones).
        if lock.as_ref().is_some_and(|l| l.waited) {
            ctx.forget_redis();
        }
        // The plan, and the request it answers (so that an undo can find what was done).
        let mut planned = serde_json::to_value(&plan).unwrap_or_default();
        if let Some(body) = planned.as_object_mut() {
            body.insert("spec".into(), serde_json::to_value(spec).unwrap_or_default());
        }
        note("action.planned", planned).await?;

        let ran = if cancel.is_cancelled() {
            Err(Error::Cancelled)
        } else {
            run(&ctx, spec, &plan, &events).await
        };
        let result = match ran {
            Ok(ran) => {
                for (i, (description, outcome)) in ran.steps.iter().enumerate() {
                    note(
                        "action.step",
                        serde_json::json!({ "step": i + 1, "description": description, "outcome": outcome }),
                    )
                    .await?;
                }
                report.changed = ran.changed;
                let (ok, detail) = verify(&ctx, spec, &plan).await?;
                events(ActionEvent::Verified {
                    ok,
                    detail: detail.clone(),
                });
                note(
                    "action.verified",
                    serde_json::json!({ "ok": ok, "detail": detail }),
                )
                .await?;
                report.verified = ok;
                report.verify_detail = detail;
                report.outcome = if ok {
                    "done".into()
                } else {
                    "done, but verification failed".into()
                };
                Ok(())
            }
            Err(e) => {
                report.outcome = match &e {
                    Error::Cancelled => "cancelled".into(),
                    other => format!("failed: {other}"),
                };
                Err(e)
            }
        };
        note(
            "action.finished",
            serde_json::json!({ "action": plan.action, "outcome": report.outcome, "changed": report.changed }),
        )
        .await?;
        if let Some(lock) = lock {
            lock.release().await;
        }
        events(ActionEvent::Finished {
            outcome: report.outcome.clone(),
        });
        result.map(|()| report)
    }
}

async fn plan(ctx: &Ctx<'_>, spec: &ActionSpec) -> Result<Plan> {
    match spec {
        ActionSpec::RevokeTokens { scope } => revoke_tokens::plan(ctx, scope).await,
        ActionSpec::LockAccounts { scope, duration_secs } => {
            lock_accounts::plan_lock(ctx, scope, *duration_secs).await
        }
        ActionSpec::UnlockAccounts { scope } => lock_accounts::plan_unlock(ctx, scope).await,
        ActionSpec::ExpireSessions { user } => expire_sessions::plan(ctx, user.as_deref()).await,
        ActionSpec::Isolate {
            host,
            container,
            mode,
        } => isolate::plan(ctx, host, container, *mode).await,
        ActionSpec::Restore {
            host,
            container,
            mode,
            networks,
        } => isolate::plan_restore(ctx, host, container, *mode, networks).await,
    }
}

async fn run(ctx: &Ctx<'_>, spec: &ActionSpec, plan: &Plan, events: &Events) -> Result<Ran> {
    match spec {
        ActionSpec::RevokeTokens { scope } => revoke_tokens::run(ctx, scope, events).await,
        ActionSpec::LockAccounts { scope, duration_secs } => {
            lock_accounts::run_lock(ctx, scope, *duration_secs, events).await
        }
        ActionSpec::UnlockAccounts { scope } => lock_accounts::run_unlock(ctx, scope, events).await,
        ActionSpec::ExpireSessions { user } => expire_sessions::run(ctx, user.as_deref(), events).await,
        ActionSpec::Isolate {
            host,
            container,
            mode,
        } => isolate::run(ctx, host, container, *mode, plan, events).await,
        // The plan's networks: those named, or found in the journal.
        ActionSpec::Restore {
            host,
            container,
            mode,
            ..
        } => isolate::run_restore(ctx, host, container, *mode, &plan.sample, events).await,
    }
}

async fn verify(ctx: &Ctx<'_>, spec: &ActionSpec, plan: &Plan) -> Result<(bool, String)> {
    match spec {
        ActionSpec::RevokeTokens { scope } => revoke_tokens::verify(ctx, scope).await,
        ActionSpec::LockAccounts { scope, .. } => lock_accounts::verify(ctx, scope, true).await,
        ActionSpec::UnlockAccounts { scope } => lock_accounts::verify(ctx, scope, false).await,
        ActionSpec::ExpireSessions { user } => expire_sessions::verify(ctx, user.as_deref()).await,
        ActionSpec::Isolate {
            host,
            container,
            mode,
        } => isolate::verify(ctx, host, container, *mode, plan).await,
        ActionSpec::Restore {
            host,
            container,
            mode,
            ..
        } => isolate::verify_restore(ctx, host, container, *mode, &plan.sample).await,
    }
}

/// Emits the two events of one step around its work.
pub async fn step<T>(
    events: &Events,
    n: usize,
    description: &str,
    work: impl Future<Output = Result<(T, String)>>,
) -> Result<(T, String)> {
    events(ActionEvent::Step {
        step: n,
        description: description.to_owned(),
        status: StepStatus::Started,
        detail: String::new(),
    });
    let res = work.await;
    let (status, detail) = match &res {
        Ok((_, d)) => (StepStatus::Done, d.clone()),
        Err(e) => (StepStatus::Failed, e.to_string()),
    };
    events(ActionEvent::Step {
        step: n,
        description: description.to_owned(),
        status,
        detail,
    });
    res
}
