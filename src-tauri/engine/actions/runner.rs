//! The runner: takes the lock, plans under it, checks the confirmation against that
//! plan, runs the steps one by one and journals each before it acts and after, undoes
//! the steps already done (in reverse) when one fails or the run is cancelled, verifies,
//! and journals the end. Knows nothing of any particular action.
//!
//! Journal entries of one run (`run_id`), in order:
//! `action.planned` (plan, request, the console process) → for each step
//! `action.step.started` → `action.step.done` (with the request that undoes it) |
//! `action.step.failed` (with the request that undoes what it may have left behind, for
//! steps that can leave something: `Step::undo_after_failure`) | `action.step.aborted` →
//! on a failure or cancel, for each done step in reverse (the failed one first)
//! `action.undo.started` → `action.undo.done` | `action.undo.failed` →
//! `action.verified` → `action.finished`. A run with `action.planned` and no
//! `action.finished` whose process is gone was interrupted: [`interrupted`] finds it.

use std::sync::Arc;

use serde::Serialize;

use super::lock::{self, Holder, LockStore};
use super::{
    ActionEvent, ActionSpec, Cancel, Confirmation, Ctx, Events, Plan, Planned, RunReport, RunRequest,
    StepStatus, Vantage,
};
use crate::engine::journal::{Entry, Journal};
use crate::engine::state::now_rfc3339;
use crate::engine::{Error, Result};

pub struct Run {
    journal: Journal,
    lock: Arc<dyn LockStore>,
    operator: String,
    events: Events,
    cancel: Cancel,
    id: String,
}

/// What to run: an action, its request as journaled, and how it was confirmed.
pub(crate) struct Request<'a> {
    pub action: &'a dyn super::Action,
    pub name: &'a str,
    pub spec: serde_json::Value,
    pub confirm: Option<&'a Confirmation>,
    pub lock_wait: std::time::Duration,
}

/// How the steps ended.
enum Stop {
    Failed(usize, Error),
    Cancelled(usize),
    Aborted(usize),
}

impl Run {
    pub fn new(
        journal: Journal,
        lock: Box<dyn LockStore>,
        operator: String,
        events: Events,
        cancel: Cancel,
    ) -> Self {
        Run {
            journal,
            lock: Arc::from(lock),
            operator,
            events,
            cancel,
            id: hex::encode(rand::random::<[u8; 8]>()),
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    async fn note(&self, deployment: &str, kind: &str, body: serde_json::Value) -> Result<Entry> {
        self.journal
            .append(deployment, &self.id, &self.operator, kind, body)
            .await
    }

    fn step_event(&self, step: usize, description: &str, status: StepStatus, detail: String) {
        (self.events)(ActionEvent::Step {
            step,
            description: description.to_owned(),
            status,
            detail,
        });
    }

    pub async fn execute(&self, ctx: &Ctx<'_>, request: RunRequest) -> Result<RunReport> {
        let spec = serde_json::to_value(&request.spec).unwrap_or_default();
        let what = Request {
            action: request.spec.action(),
            name: request.spec.name(),
            spec,
            confirm: request.confirm.as_ref(),
            lock_wait: request.lock_wait,
        };
        self.execute_action(ctx, what).await
    }

    /// The same for any [`super::Action`] (the unit tests run scripted ones).
    pub(crate) async fn execute_action(&self, ctx: &Ctx<'_>, request: Request<'_>) -> Result<RunReport> {
        let me = Holder {
            operator: self.operator.clone(),
            deployment: ctx.deployment().to_owned(),
            run_id: self.id.clone(),
            action: request.name.to_owned(),
            pid: std::process::id(),
            since: now_rfc3339(),
        };
        let guard = lock::acquire(
            self.lock.clone(),
            me,
            request.lock_wait,
            &self.cancel,
            &self.events,
        )
        .await?;
        let result = self.locked(ctx, &request).await;
        guard.release().await;
        result
    }

    async fn locked(&self, ctx: &Ctx<'_>, request: &Request<'_>) -> Result<RunReport> {
        let deployment = ctx.deployment();
        let action = request.action;
        // Planned once, under the lock: what runs is what this plan says.
        let planned = ctx.plan(action).await?;
        let plan = planned.plan.clone();
        (self.events)(ActionEvent::Planned { plan: plan.clone() });
        let mut report = RunReport {
            run_id: self.id.clone(),
            plan: plan.clone(),
            outcome: String::new(),
            changed: 0,
            verified: false,
            verify_detail: String::new(),
            undone: 0,
            verified_by: None,
        };
        if plan.nothing_to_do() {
            // "Nothing to do" is a claim about the live system like any other: verify
            // checks it (read-only), from the app's side where a probe applies, so a
            // database shaped to look contained does not end the run as done.
            let (ok, detail, vantage) = match action.verify(ctx, &plan).await {
                Ok(v) => (v.ok, v.detail, Some(v.vantage)),
                Err(e) => (false, format!("could not verify: {e}"), None),
            };
            self.note(
                deployment,
                "action.nothing_to_do",
                serde_json::json!({
                    "action": plan.action, "summary": plan.summary, "digest": plan.digest,
                    "verified": ok, "verify_detail": detail, "verified_by": vantage,
                }),
            )
            .await?;
            report.outcome = match (ok, vantage) {
                (true, Some(v @ (Vantage::Database | Vantage::Redis))) => {
                    format!("nothing to do, {}", v.phrase())
                }
                (true, _) => "nothing to do".into(),
                (false, _) => "nothing to do by the plan, but verification failed".into(),
            };
            report.verified = ok;
            report.verify_detail = detail;
            report.verified_by = vantage;
            (self.events)(ActionEvent::Finished {
                outcome: report.outcome.clone(),
            });
            return Ok(report);
        }
        if plan.destructive {
            check_confirmation(deployment, request.confirm, &plan)?;
        }
        if self.cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        self.note(
            deployment,
            "action.planned",
            serde_json::json!({
                "action": plan.action,
                "summary": plan.summary,
                "count": plan.count,
                "sample": plan.sample,
                "steps": plan.steps,
                "reversible": plan.reversible,
                "digest": plan.digest,
                "spec": request.spec,
                "confirmed_plan": request.confirm.as_ref().and_then(|c| c.plan_digest.clone()),
                "process": process_stamp(),
            }),
        )
        .await?;

        action.probe_before(ctx).await;
        let (done, stop) = self.steps(ctx, &planned).await?;
        report.changed = done.iter().map(|d| d.changed).sum();
        let result = match stop {
            None => {
                let (ok, detail, vantage) = match action.verify(ctx, &plan).await {
                    Ok(v) => (v.ok, v.detail, Some(v.vantage)),
                    Err(e) => (false, format!("could not verify: {e}"), None),
                };
                (self.events)(ActionEvent::Verified {
                    ok,
                    detail: detail.clone(),
                    by: vantage,
                });
                self.note(
                    deployment,
                    "action.verified",
                    serde_json::json!({ "ok": ok, "detail": detail, "by": vantage }),
                )
                .await?;
                report.verified = ok;
                report.verify_detail = detail;
                report.verified_by = vantage;
                report.outcome = match (ok, vantage) {
                    (true, Some(v @ (Vantage::Database | Vantage::Redis))) => format!("done, {}", v.phrase()),
                    (true, _) => "done".into(),
                    (false, _) => "done, but verification failed".into(),
                };
                Ok(())
            }
            Some(Stop::Aborted(k)) => {
                report.outcome = format!(
                    "aborted during step {k}: that step may or may not have taken effect; nothing was undone"
                );
                Err(Error::Aborted { step: k })
            }
            Some(stop) => {
                let (undone, undo_failed) = self.undo(ctx, &planned, &done).await?;
                report.undone = undone;
                report.changed = 0;
                let tail = if undo_failed.is_empty() {
                    format!("{undone} step(s) undone")
                } else {
                    format!(
                        "{undone} step(s) undone; could NOT undo step(s) {}: see the journal",
                        undo_failed
                            .iter()
                            .map(usize::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                match stop {
                    Stop::Cancelled(k) => {
                        report.outcome = format!("cancelled after step {k}; {tail}");
                        Err(Error::Cancelled)
                    }
                    Stop::Failed(k, e) => {
                        report.outcome = format!("failed at step {k}: {e}; {tail}");
                        Err(e)
                    }
                    Stop::Aborted(_) => Ok(()),
                }
            }
        };
        self.note(
            deployment,
            "action.finished",
            serde_json::json!({
                "action": plan.action,
                "outcome": report.outcome,
                "changed": report.changed,
                "undone": report.undone,
            }),
        )
        .await?;
        (self.events)(ActionEvent::Finished {
            outcome: report.outcome.clone(),
        });
        result.map(|()| report)
    }

    /// Runs the steps in order. Returns those done and how it stopped (`None`: all done).
    /// Journal failures end the run at once: no step acts unrecorded.
    async fn steps(&self, ctx: &Ctx<'_>, planned: &Planned) -> Result<(Vec<DoneStep>, Option<Stop>)> {
        let deployment = ctx.deployment();
        let mut done = Vec::new();
        for (i, step) in planned.steps.iter().enumerate() {
            let n = i + 1;
            if self.cancel.is_cancelled() {
                return Ok((done, Some(Stop::Cancelled(n - 1))));
            }
            let description = step.description();
            self.note(
                deployment,
                "action.step.started",
                serde_json::json!({ "step": n, "description": description }),
            )
            .await?;
            self.step_event(n, &description, StepStatus::Started, String::new());
            let outcome = tokio::select! {
                r = step.run(ctx) => Some(r),
                () = self.cancel.reached(2) => None,
            };
            match outcome {
                Some(Ok(d)) => {
                    let undo = step.undo();
                    self.note(
                        deployment,
                        "action.step.done",
                        serde_json::json!({
                            "step": n, "description": description, "outcome": d.detail,
                            "changed": d.changed, "undo": undo,
                        }),
                    )
                    .await?;
                    self.step_event(n, &description, StepStatus::Done, d.detail);
                    done.push(DoneStep {
                        index: i,
                        step: n,
                        description,
                        changed: d.changed,
                        undo,
                        failed: false,
                    });
                }
                Some(Err(e)) => {
                    // What it may have done before it failed is undone first.
                    let undo = step.undo_after_failure();
                    self.note(
                        deployment,
                        "action.step.failed",
                        serde_json::json!({ "step": n, "description": description, "error": e.to_string(), "code": e.code(), "undo": undo }),
                    )
                    .await?;
                    self.step_event(n, &description, StepStatus::Failed, e.to_string());
                    if undo.is_some() {
                        done.push(DoneStep {
                            index: i,
                            step: n,
                            description,
                            changed: 0,
                            undo,
                            failed: true,
                        });
                    }
                    return Ok((done, Some(Stop::Failed(n, e))));
                }
                None => {
                    self.note(
                        deployment,
                        "action.step.aborted",
                        serde_json::json!({ "step": n, "description": description }),
                    )
                    .await?;
                    self.step_event(
                        n,
                        &description,
                        StepStatus::Failed,
                        "aborted: may or may not have taken effect".into(),
                    );
                    return Ok((done, Some(Stop::Aborted(n))));
                }
            }
        }
        Ok((done, None))
    }

    /// Undoes the done steps in reverse; returns how many were undone and which could not be.
    async fn undo(&self, ctx: &Ctx<'_>, planned: &Planned, done: &[DoneStep]) -> Result<(usize, Vec<usize>)> {
        let deployment = ctx.deployment();
        let (mut undone, mut failed) = (0, Vec::new());
        for d in done.iter().rev() {
            let Some(spec) = &d.undo else {
                failed.push(d.step);
                self.note(
                    deployment,
                    "action.undo.failed",
                    serde_json::json!({ "step": d.step, "error": "this step cannot be undone" }),
                )
                .await?;
                continue;
            };
            // A failed step: only what it left behind, if anything (planned first, so a
            // step that changed nothing is not reported as undone).
            let mut partial = None;
            if d.failed {
                match spec.action().plan(ctx).await {
                    Ok(p) if p.plan.nothing_to_do() => {
                        self.note(
                            deployment,
                            "action.undo.done",
                            serde_json::json!({ "step": d.step, "outcome": format!("the failed step left nothing to undo ({})", p.plan.summary) }),
                        )
                        .await?;
                        continue;
                    }
                    Ok(p) => partial = Some(Ok(p)),
                    Err(e) => partial = Some(Err(e)),
                }
            }
            self.note(
                deployment,
                "action.undo.started",
                serde_json::json!({ "step": d.step, "undo": spec }),
            )
            .await?;
            self.step_event(d.step, &d.description, StepStatus::Undoing, String::new());
            let revert = match (partial, planned.steps.get(d.index)) {
                (Some(Ok(p)), _) => run_planned(ctx, &p).await,
                (Some(Err(e)), _) => Err(e),
                (None, Some(step)) => step.revert(ctx).await,
                (None, None) => Err(Error::Journal {
                    message: format!("step {} is not in the plan", d.step),
                }),
            };
            match revert {
                Ok(detail) => {
                    self.note(
                        deployment,
                        "action.undo.done",
                        serde_json::json!({ "step": d.step, "outcome": detail }),
                    )
                    .await?;
                    self.step_event(d.step, &d.description, StepStatus::Undone, detail);
                    undone += 1;
                }
                Err(e) => {
                    self.note(
                        deployment,
                        "action.undo.failed",
                        serde_json::json!({ "step": d.step, "error": e.to_string(), "code": e.code() }),
                    )
                    .await?;
                    self.step_event(d.step, &d.description, StepStatus::UndoFailed, e.to_string());
                    failed.push(d.step);
                }
            }
        }
        Ok((undone, failed))
    }
}

struct DoneStep {
    index: usize,
    step: usize,
    description: String,
    changed: i64,
    undo: Option<ActionSpec>,
    /// A step that failed, kept for what it may have left behind.
    failed: bool,
}

/// A step's undo: its request planned live and its steps run (under the run's lock and
/// confirmation; already-undone state plans as nothing to do).
pub(crate) async fn run_undo(ctx: &Ctx<'_>, spec: &ActionSpec) -> Result<String> {
    let planned = spec.action().plan(ctx).await?;
    if planned.plan.nothing_to_do() {
        return Ok(format!("nothing to undo ({})", planned.plan.summary));
    }
    run_planned(ctx, &planned).await
}

/// Runs an undo's planned steps in order; their details joined.
async fn run_planned(ctx: &Ctx<'_>, planned: &Planned) -> Result<String> {
    let mut details = Vec::new();
    for s in &planned.steps {
        details.push(s.run(ctx).await?.detail);
    }
    Ok(details.join("; "))
}

fn check_confirmation(deployment: &str, confirm: Option<&Confirmation>, plan: &Plan) -> Result<()> {
    let Some(c) = confirm.filter(|c| c.typed == deployment) else {
        return Err(Error::ConfirmationRequired {
            deployment: deployment.to_owned(),
        });
    };
    match &c.plan_digest {
        Some(d) if *d != plan.digest => Err(Error::PlanChanged {
            plan: Box::new(plan.clone()),
        }),
        _ => Ok(()),
    }
}

/// This process, as `boot:pid:start` — enough to tell later whether it still runs.
pub fn process_stamp() -> String {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    let pid = std::process::id();
    format!("{}:{pid}:{}", boot.trim(), start_time(pid).unwrap_or_default())
}

fn start_time(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command name (in parentheses, may hold spaces): field 22 is the start time.
    let rest = stat.rsplit_once(')')?.1;
    rest.split_whitespace().nth(19).map(str::to_owned)
}

/// Whether the process a stamp names is still running (on this machine, this boot).
fn still_running(stamp: &str) -> bool {
    let mut parts = stamp.split(':');
    let (Some(boot), Some(pid), Some(start)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let here = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    if boot.is_empty() || boot != here.trim() {
        return false;
    }
    pid.parse::<u32>()
        .ok()
        .and_then(start_time)
        .is_some_and(|s| s == start)
}

/// A run that started and never finished.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Interrupted {
    pub run_id: String,
    pub deployment: String,
    pub action: String,
    pub summary: String,
    pub operator: String,
    pub at: String,
    pub steps: Vec<InterruptedStep>,
    /// Whether any done step can be undone (`breakglass undo RUN`).
    pub undoable: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct InterruptedStep {
    pub step: u64,
    pub description: String,
    /// `done`, `undone`, `failed`, `started (outcome unknown)`, `not started`.
    pub state: String,
    pub undo: Option<ActionSpec>,
}

/// Runs with a plan and no end whose console process is gone.
pub async fn interrupted(journal: &Journal) -> Result<Vec<Interrupted>> {
    let entries = journal.entries(None).await?;
    let mut runs: std::collections::HashMap<&str, Vec<&Entry>> = std::collections::HashMap::new();
    for e in &entries {
        runs.entry(e.run_id.as_str()).or_default().push(e);
    }
    let mut out = Vec::new();
    for planned in entries.iter().filter(|e| e.kind == "action.planned") {
        let of_run = runs.get(planned.run_id.as_str()).map_or(&[][..], Vec::as_slice);
        if of_run.iter().any(|e| e.kind == "action.finished") {
            continue;
        }
        let stamp = planned.body.get("process").and_then(|v| v.as_str()).unwrap_or("");
        if still_running(stamp) {
            continue;
        }
        out.push(describe_run(planned, of_run));
    }
    Ok(out)
}

/// Which steps of a run did what, from its journal entries.
pub fn describe_run(planned: &Entry, of_run: &[&Entry]) -> Interrupted {
    let s = |e: &Entry, k: &str| e.body.get(k).and_then(|v| v.as_str()).unwrap_or("").to_owned();
    let descriptions: Vec<String> = planned
        .body
        .get("steps")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default();
    let mut steps: Vec<InterruptedStep> = descriptions
        .iter()
        .enumerate()
        .map(|(i, d)| InterruptedStep {
            step: i as u64 + 1,
            description: d.clone(),
            state: "not started".into(),
            undo: None,
        })
        .collect();
    for e in of_run {
        let Some(n) = e.body.get("step").and_then(|v| v.as_u64()) else {
            continue;
        };
        let Some(st) = steps.iter_mut().find(|x| x.step == n) else {
            continue;
        };
        match e.kind.as_str() {
            "action.step.started" => st.state = "started (outcome unknown)".into(),
            "action.step.done" => {
                st.state = "done".into();
                st.undo = e
                    .body
                    .get("undo")
                    .and_then(|u| serde_json::from_value(u.clone()).ok());
            }
            "action.step.failed" => {
                st.state = "failed".into();
                // What a failed step may have left behind (see `Step::undo_after_failure`).
                st.undo = e
                    .body
                    .get("undo")
                    .and_then(|u| serde_json::from_value(u.clone()).ok());
            }
            "action.step.aborted" => st.state = "aborted (outcome unknown)".into(),
            "action.undo.done" => {
                st.state = "undone".into();
                st.undo = None;
            }
            _ => {}
        }
    }
    Interrupted {
        run_id: planned.run_id.clone(),
        deployment: planned.deployment.clone(),
        action: s(planned, "action"),
        summary: s(planned, "summary"),
        operator: planned.operator.clone(),
        at: planned.at.clone(),
        undoable: steps.iter().any(|x| x.undo.is_some()),
        steps,
    }
}

#[cfg(test)]
mod tests;
