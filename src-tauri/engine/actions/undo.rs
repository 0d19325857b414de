//! Undo a run from its journal: the requests its done steps recorded as their undo,
//! in reverse, each planned live (what is already undone plans as nothing). A run that
//! was interrupted (its console killed) is also closed in the journal, so the next start
//! stops showing it; with nothing to undo, that closing is the whole plan.

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::runner::describe_run;
use super::{Action, ActionSpec, Ctx, Plan, Planned, Step, StepDone, Vantage, Verdict};
use crate::engine::{Error, Result};

/// The request: undo the run with this id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Undo {
    pub run_id: String,
}

impl Action for Undo {
    fn plan<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, Result<Planned>> {
        Box::pin(plan(ctx, &self.run_id))
    }

    fn verify<'a>(&'a self, ctx: &'a Ctx<'_>, _plan: &'a Plan) -> BoxFuture<'a, Result<Verdict>> {
        Box::pin(async move {
            let (undos, _) = read(ctx, &self.run_id).await?;
            let mut details = Vec::new();
            let mut ok = true;
            // Whom every part asked: the weakest claim is the one the whole can make.
            let mut vantage = None;
            for spec in &undos {
                let planned = spec.action().plan(ctx).await?;
                let v = spec.action().verify(ctx, &planned.plan).await?;
                ok &= v.ok;
                details.push(v.detail);
                vantage = match (vantage, v.vantage) {
                    (None, v) | (Some(Vantage::App), v) => Some(v),
                    (Some(w), _) => Some(w),
                };
            }
            if details.is_empty() {
                details.push("nothing needed undoing".into());
            }
            let verdict = Verdict::new(ok, details.join("; "));
            Ok(match vantage {
                Some(v) => verdict.by(v),
                None => verdict,
            })
        })
    }
}

/// The undo requests of the run's done (and not yet undone) steps, last first, and
/// whether the run never finished.
async fn read(ctx: &Ctx<'_>, run_id: &str) -> Result<(Vec<ActionSpec>, Option<String>)> {
    let entries = ctx.engine.journal().await?.entries(None).await?;
    let of_run: Vec<_> = entries.iter().filter(|e| e.run_id == run_id).collect();
    let planned = of_run
        .iter()
        .find(|e| e.kind == "action.planned")
        .ok_or_else(|| Error::BadArgument {
            message: format!("no action run {run_id:?} in this console's journal"),
        })?;
    if planned.deployment != ctx.deployment() {
        return Err(Error::BadArgument {
            message: format!(
                "run {run_id} was on deployment {:?}, not {:?}",
                planned.deployment,
                ctx.deployment()
            ),
        });
    }
    let run = describe_run(planned, &of_run);
    // A rotation whose old containers are gone is finished for good: its .env backups
    // hold values the containers, the database and Redis no longer accept.
    if run.action == "rotate-secrets"
        && run
            .steps
            .iter()
            .any(|s| s.state == "done" && s.description == super::rotate::DISCARD_STEP)
    {
        return Err(Error::ActionUnavailable {
            reason: format!(
                "run {run_id} is a rotation that finished (its old containers were removed): undoing it would put the old values back in the .env files while the containers, the database and Redis use the new ones; rotate again instead"
            ),
        });
    }
    // Likewise a Swarm secret rotation whose old secret was removed.
    if run.action == "rotate-docker-secret"
        && run
            .steps
            .iter()
            .any(|s| s.state == "done" && s.description.starts_with(super::rotate::swarm::REMOVE_OLD_STEP))
    {
        return Err(Error::ActionUnavailable {
            reason: format!(
                "run {run_id} is a Swarm secret rotation that finished (its old secret was removed): the services cannot go back onto a secret that no longer exists; rotate again instead"
            ),
        });
    }
    let unfinished = !of_run.iter().any(|e| e.kind == "action.finished");
    let undos = run.steps.iter().rev().filter_map(|s| s.undo.clone()).collect();
    Ok((undos, unfinished.then(|| run.action.clone())))
}

async fn plan(ctx: &Ctx<'_>, run_id: &str) -> Result<Planned> {
    let (undos, unfinished) = read(ctx, run_id).await?;
    let mut steps: Vec<Box<dyn Step>> = Vec::new();
    let mut sample = Vec::new();
    for spec in &undos {
        let inner = spec.action().plan(ctx).await?;
        if inner.plan.nothing_to_do() {
            continue;
        }
        sample.push(inner.plan.summary.clone());
        steps.extend(inner.steps);
    }
    let changes = steps.len();
    if let Some(action) = &unfinished {
        steps.push(Box::new(Close {
            run_id: run_id.to_owned(),
            action: action.clone(),
        }));
    }
    let summary = match (changes, unfinished.is_some()) {
        (0, false) => format!("undo run {run_id}: nothing left to undo"),
        (0, true) => {
            format!("run {run_id} was interrupted; nothing of it can be undone: close it in the journal")
        }
        (n, _) => format!("undo run {run_id}: {n} step(s), last done first"),
    };
    Ok(Planned::new(
        Plan {
            action: "undo".into(),
            deployment: ctx.deployment().to_owned(),
            summary,
            count: i64::try_from(steps.len()).unwrap_or(i64::MAX),
            sample,
            steps: vec![],
            reversible: vec![],
            destructive: true,
            warnings: vec![],
            digest: String::new(),
        },
        steps,
    ))
}

/// Ends an interrupted run in the journal (its own `action.finished`).
struct Close {
    run_id: String,
    action: String,
}

impl Step for Close {
    fn description(&self) -> String {
        format!(
            "record in the journal that run {} was interrupted and is closed",
            self.run_id
        )
    }

    fn run<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, Result<StepDone>> {
        Box::pin(async move {
            ctx.engine
                .journal()
                .await?
                .append(
                    ctx.deployment(),
                    &self.run_id,
                    &crate::engine::journal::operator(),
                    "action.finished",
                    serde_json::json!({
                        "action": self.action,
                        "outcome": "interrupted; closed by an undo run",
                        "changed": 0,
                        "undone": 0,
                    }),
                )
                .await?;
            Ok(StepDone {
                detail: format!("run {} closed", self.run_id),
                changed: 0,
            })
        })
    }
}
