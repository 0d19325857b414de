//! The runner against scripted steps: no remote system, a real journal (SQLite) and a
//! lock folder with the SSH lock's semantics.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;

use super::super::lock::{DirLock, Holder, LockStore, break_stale};
use super::super::{
    Action, ActionEvent, ActionSpec, Cancel, Confirmation, Ctx, Events, Plan, Planned, Step, StepDone, Undo,
    Vantage, Verdict,
};
use super::{Request, Run, interrupted};
use crate::engine::journal::{Journal, JournalKey, head_path};
use crate::engine::profiles::DeploymentProfile;
use crate::engine::profiles::app::AppProfile;
use crate::engine::{Engine, Error};

const PROFILE: &str = r#"
name = "prod"
app_profile = "homechat"

[ssh]
user = "deploy"

[[hosts]]
name = "web1"
address = "192.0.2.1"
"#;

/// What a scripted step does when run.
#[derive(Clone, Copy, PartialEq)]
enum Does {
    Work,
    Fail,
    /// Works, and a person presses Cancel while it runs.
    CancelDuring,
    /// Never returns (until aborted or killed).
    Hang,
}

struct Scripted {
    steps: Vec<Does>,
    log: Arc<Mutex<Vec<String>>>,
    cancel: Cancel,
    /// Whom its verify says it asked.
    vantage: Vantage,
}

struct ScriptedStep {
    n: usize,
    does: Does,
    log: Arc<Mutex<Vec<String>>>,
    cancel: Cancel,
}

impl Step for ScriptedStep {
    fn description(&self) -> String {
        format!("scripted step {}", self.n)
    }
    fn run<'a>(&'a self, _ctx: &'a Ctx<'_>) -> BoxFuture<'a, crate::engine::Result<StepDone>> {
        Box::pin(async move {
            match self.does {
                Does::Fail => {
                    return Err(Error::BadArgument {
                        message: format!("step {} broke", self.n),
                    });
                }
                Does::Hang => std::future::pending::<()>().await,
                Does::CancelDuring => self.cancel.cancel(),
                Does::Work => {}
            }
            self.log.lock().unwrap().push(format!("do {}", self.n));
            Ok(StepDone {
                detail: format!("did {}", self.n),
                changed: 1,
            })
        })
    }
    fn undo(&self) -> Option<ActionSpec> {
        Some(ActionSpec::Undo(Undo {
            run_id: format!("scripted-{}", self.n),
        }))
    }
    fn revert<'a>(&'a self, _ctx: &'a Ctx<'_>) -> BoxFuture<'a, crate::engine::Result<String>> {
        Box::pin(async move {
            self.log.lock().unwrap().push(format!("undo {}", self.n));
            Ok(format!("undid {}", self.n))
        })
    }
}

impl Action for Scripted {
    fn plan<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, crate::engine::Result<Planned>> {
        Box::pin(async move {
            let steps: Vec<Box<dyn Step>> = self
                .steps
                .iter()
                .enumerate()
                .map(|(i, does)| {
                    Box::new(ScriptedStep {
                        n: i + 1,
                        does: *does,
                        log: self.log.clone(),
                        cancel: self.cancel.clone(),
                    }) as Box<dyn Step>
                })
                .collect();
            Ok(Planned::new(
                Plan {
                    action: "scripted".into(),
                    deployment: ctx.deployment().to_owned(),
                    summary: format!("{} scripted steps", self.steps.len()),
                    count: i64::try_from(self.steps.len()).unwrap(),
                    sample: vec![],
                    steps: vec![],
                    reversible: vec![],
                    destructive: true,
                    warnings: vec![],
                    digest: String::new(),
                },
                steps,
            ))
        })
    }
    fn verify<'a>(
        &'a self,
        _ctx: &'a Ctx<'_>,
        _plan: &'a Plan,
    ) -> BoxFuture<'a, crate::engine::Result<Verdict>> {
        Box::pin(async { Ok(Verdict::new(true, "scripted: all good").by(self.vantage)) })
    }
}

struct Bench {
    dir: std::path::PathBuf,
    _tmp: Option<tempfile::TempDir>,
    engine: Engine,
    profile: DeploymentProfile,
    app: AppProfile,
    journal: Journal,
}

async fn bench_in(dir: std::path::PathBuf, tmp: Option<tempfile::TempDir>) -> Bench {
    let engine = Engine::open(&dir).await.unwrap();
    let journal = Journal::new(
        engine.state().pool().clone(),
        head_path(engine.state().path()),
        JournalKey::from_bytes([7; 32]),
    );
    Bench {
        engine,
        profile: DeploymentProfile::parse(PROFILE).unwrap(),
        app: AppProfile::builtin("homechat").unwrap(),
        journal,
        dir,
        _tmp: tmp,
    }
}

async fn bench() -> Bench {
    let tmp = tempfile::tempdir().unwrap();
    bench_in(tmp.path().to_owned(), Some(tmp)).await
}

impl Bench {
    fn lock(&self) -> DirLock {
        DirLock {
            file: self.dir.join("prod.lock"),
        }
    }

    async fn run(
        &self,
        steps: &[Does],
        cancel: Cancel,
        wait: Duration,
    ) -> (
        Result<crate::engine::actions::RunReport, Error>,
        Vec<String>,
        Vec<ActionEvent>,
        String,
    ) {
        let log = Arc::new(Mutex::new(Vec::new()));
        let events_seen = Arc::new(Mutex::new(Vec::new()));
        let sink = events_seen.clone();
        let events: Events = Arc::new(move |e| sink.lock().unwrap().push(e));
        let action = Scripted {
            steps: steps.to_vec(),
            log: log.clone(),
            cancel: cancel.clone(),
            vantage: Vantage::App,
        };
        let run = Run::new(
            self.journal.clone(),
            Box::new(self.lock()),
            "alice@laptop".into(),
            events,
            cancel,
        );
        let ctx = Ctx::new(&self.engine, &self.profile, &self.app);
        let confirm = Confirmation::new("prod", None);
        let result = run
            .execute_action(
                &ctx,
                Request {
                    action: &action,
                    name: "scripted",
                    spec: serde_json::json!({ "action": "scripted" }),
                    confirm: Some(&confirm),
                    lock_wait: wait,
                },
            )
            .await;
        let log = log.lock().unwrap().clone();
        let events = events_seen.lock().unwrap().clone();
        (result, log, events, run.id().to_owned())
    }

    /// `kind step` for each journal entry of a run (`step` where it has one).
    async fn journal_of(&self, run: &str) -> Vec<String> {
        self.journal
            .entries(None)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.run_id == run)
            .map(|e| match e.body.get("step").and_then(|s| s.as_u64()) {
                Some(n) => format!("{} {n}", e.kind),
                None => e.kind,
            })
            .collect()
    }
}

const WAIT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn every_step_is_journaled_before_and_after_it_acts() {
    let b = bench().await;
    let (r, log, _, run) = b.run(&[Does::Work; 3], Cancel::default(), WAIT).await;
    let report = r.unwrap();
    assert_eq!(
        (report.outcome.as_str(), report.changed, report.verified),
        ("done", 3, true)
    );
    assert_eq!(log, ["do 1", "do 2", "do 3"]);
    assert_eq!(
        b.journal_of(&run).await,
        [
            "action.planned",
            "action.step.started 1",
            "action.step.done 1",
            "action.step.started 2",
            "action.step.done 2",
            "action.step.started 3",
            "action.step.done 3",
            "action.verified",
            "action.finished"
        ]
    );
    assert!(b.lock().peek().await.unwrap().is_none(), "the lock is released");
}

#[tokio::test]
async fn a_failure_at_step_k_undoes_the_steps_before_it_in_reverse() {
    for k in 1..=4 {
        let b = bench().await;
        let mut steps = vec![Does::Work; 4];
        steps[k - 1] = Does::Fail;
        let (r, log, events, run) = b.run(&steps, Cancel::default(), WAIT).await;
        let e = r.unwrap_err();
        assert!(e.to_string().contains(&format!("step {k} broke")), "{e}");
        let mut expected: Vec<String> = (1..k).map(|i| format!("do {i}")).collect();
        expected.extend((1..k).rev().map(|i| format!("undo {i}")));
        assert_eq!(log, expected, "failure at step {k}");

        let mut journal = vec!["action.planned".to_owned()];
        for i in 1..k {
            journal.push(format!("action.step.started {i}"));
            journal.push(format!("action.step.done {i}"));
        }
        journal.push(format!("action.step.started {k}"));
        journal.push(format!("action.step.failed {k}"));
        for i in (1..k).rev() {
            journal.push(format!("action.undo.started {i}"));
            journal.push(format!("action.undo.done {i}"));
        }
        journal.push("action.finished".into());
        assert_eq!(b.journal_of(&run).await, journal, "failure at step {k}");
        let Some(ActionEvent::Finished { outcome }) = events.last() else {
            panic!("no Finished event: {events:?}");
        };
        assert!(outcome.starts_with(&format!("failed at step {k}")), "{outcome}");
        assert!(
            outcome.contains(&format!("{} step(s) undone", k - 1)),
            "{outcome}"
        );
        assert!(
            b.lock().peek().await.unwrap().is_none(),
            "released after a failure"
        );
    }
}

#[tokio::test]
async fn a_cancel_lets_the_current_step_finish_then_undoes() {
    let b = bench().await;
    let (r, log, _, run) = b
        .run(
            &[Does::Work, Does::CancelDuring, Does::Work],
            Cancel::default(),
            WAIT,
        )
        .await;
    assert!(matches!(r, Err(Error::Cancelled)), "{r:?}");
    assert_eq!(log, ["do 1", "do 2", "undo 2", "undo 1"], "step 3 never ran");
    let j = b.journal_of(&run).await;
    assert!(!j.iter().any(|k| k.ends_with("started 3")), "{j:?}");
    assert_eq!(j.last().map(String::as_str), Some("action.finished"));
}

#[tokio::test]
async fn an_abort_stops_inside_a_step_and_journals_where() {
    let b = bench().await;
    let cancel = Cancel::default();
    let pressed = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        pressed.escalate(); // first Ctrl-C: finish the step (it hangs)...
        tokio::time::sleep(Duration::from_millis(100)).await;
        pressed.escalate(); // ...second: stop now
    });
    let (r, log, _, run) = b.run(&[Does::Work, Does::Hang, Does::Work], cancel, WAIT).await;
    assert!(matches!(r, Err(Error::Aborted { step: 2 })), "{r:?}");
    assert_eq!(log, ["do 1"], "nothing undone after an abort");
    let j = b.journal_of(&run).await;
    assert_eq!(
        j[j.len() - 3..],
        [
            "action.step.started 2",
            "action.step.aborted 2",
            "action.finished"
        ]
    );
}

fn other_holder() -> Holder {
    Holder {
        operator: "bob@other-laptop".into(),
        deployment: "prod".into(),
        run_id: "b0b".into(),
        action: "lock-accounts".into(),
        pid: 4242,
        since: "2026-12-02T03:00:00Z".into(),
    }
}

#[tokio::test]
async fn a_lock_held_by_another_console_names_it_and_the_wait_times_out() {
    let b = bench().await;
    assert!(b.lock().try_take(&other_holder()).await.unwrap().is_none());
    let started = std::time::Instant::now();
    let (r, log, events, _) = b
        .run(&[Does::Work], Cancel::default(), Duration::from_secs(1))
        .await;
    let Err(Error::LockTimeout { holder, stale, .. }) = &r else {
        panic!("{r:?}");
    };
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert!(
        holder.contains("bob@other-laptop") && holder.contains("b0b"),
        "{holder}"
    );
    assert!(!stale);
    assert!(log.is_empty(), "nothing ran without the lock");
    assert!(
        events
            .iter()
            .any(|e| matches!(e, ActionEvent::Waiting { holder } if holder.contains("bob@other-laptop"))),
        "{events:?}"
    );
    // Breaking a live lock is refused.
    let e = break_stale(&b.lock(), &b.journal, "prod", "alice")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("live"), "{e}");
}

#[tokio::test]
async fn a_stale_lock_is_said_to_be_stale_and_can_be_broken_on_the_record() {
    let b = bench().await;
    b.lock().try_take(&other_holder()).await.unwrap();
    let old = std::time::SystemTime::now() - Duration::from_secs(600);
    std::fs::File::options()
        .append(true)
        .open(&b.lock().file)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let (r, _, _, _) = b
        .run(&[Does::Work], Cancel::default(), Duration::from_millis(600))
        .await;
    let Err(e @ Error::LockTimeout { stale: true, .. }) = &r else {
        panic!("{r:?}");
    };
    assert!(e.to_string().contains("stale"), "{e}");

    let broken = break_stale(&b.lock(), &b.journal, "prod", "alice@laptop")
        .await
        .unwrap();
    assert_eq!(broken.operator, "bob@other-laptop");
    let kinds: Vec<String> = b
        .journal
        .entries(None)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(
        kinds.ends_with(&["lock.breaking".into(), "lock.broken".into()]),
        "{kinds:?}"
    );
    let (r, log, _, _) = b.run(&[Does::Work], Cancel::default(), WAIT).await;
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(log, ["do 1"]);
}

#[tokio::test]
async fn the_lock_wait_can_be_cancelled_and_a_released_lock_is_taken() {
    let b = bench().await;
    b.lock().try_take(&other_holder()).await.unwrap();
    let cancel = Cancel::default();
    let c = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        c.cancel();
    });
    let started = std::time::Instant::now();
    let (r, _, _, _) = b.run(&[Does::Work], cancel, Duration::from_secs(30)).await;
    assert!(matches!(r, Err(Error::Cancelled)), "{r:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the cancel ended the wait"
    );

    // The other console finishes while this one waits: this one then runs.
    let other = b.lock();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(400)).await;
        other.release(&other_holder()).await.unwrap();
    });
    let (r, log, events, _) = b
        .run(&[Does::Work], Cancel::default(), Duration::from_secs(10))
        .await;
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(log, ["do 1"]);
    assert!(events.iter().any(|e| matches!(e, ActionEvent::Waiting { .. })));
}

#[tokio::test]
async fn a_confirmation_is_bound_to_the_plan_it_was_given_for() {
    let b = bench().await;
    let action = Scripted {
        steps: vec![Does::Work],
        log: Arc::default(),
        cancel: Cancel::default(),
        vantage: Vantage::App,
    };
    let go = |confirm: Option<Confirmation>| {
        let b = &b;
        let action = &action;
        async move {
            let run = Run::new(
                b.journal.clone(),
                Box::new(b.lock()),
                "alice".into(),
                Arc::new(|_| {}),
                Cancel::default(),
            );
            let ctx = Ctx::new(&b.engine, &b.profile, &b.app);
            run.execute_action(
                &ctx,
                Request {
                    action,
                    name: "scripted",
                    spec: serde_json::json!({}),
                    confirm: confirm.as_ref(),
                    lock_wait: WAIT,
                },
            )
            .await
        }
    };
    let e = go(None).await.unwrap_err();
    assert_eq!(e.code(), "action.confirmation_required");
    let e = go(Some(Confirmation::new("staging", None))).await.unwrap_err();
    assert_eq!(e.code(), "action.confirmation_required");
    let e = go(Some(Confirmation::new("prod", Some("0".repeat(64)))))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "action.plan_changed", "{e}");
    let ctx = Ctx::new(&b.engine, &b.profile, &b.app);
    let digest = action.plan(&ctx).await.unwrap().plan.digest;
    assert_eq!(digest.len(), 64);
    let report = go(Some(Confirmation::new("prod", Some(digest)))).await.unwrap();
    assert_eq!(report.outcome, "done");
}

#[tokio::test]
async fn an_outcome_verified_only_where_the_action_wrote_says_so() {
    let b = bench().await;
    for (vantage, outcome) in [
        (Vantage::Database, "done, verified in the database only"),
        (Vantage::Redis, "done, verified in Redis only"),
        (Vantage::App, "done"),
        (Vantage::Docker, "done"),
    ] {
        let action = Scripted {
            steps: vec![Does::Work],
            log: Arc::default(),
            cancel: Cancel::default(),
            vantage,
        };
        let run = Run::new(
            b.journal.clone(),
            Box::new(b.lock()),
            "alice".into(),
            Arc::new(|_| {}),
            Cancel::default(),
        );
        let ctx = Ctx::new(&b.engine, &b.profile, &b.app);
        let confirm = Confirmation::new("prod", None);
        let request = Request {
            action: &action,
            name: "scripted",
            spec: serde_json::json!({ "action": "scripted" }),
            confirm: Some(&confirm),
            lock_wait: WAIT,
        };
        let report = run.execute_action(&ctx, request).await.unwrap();
        assert_eq!(report.outcome, outcome);
        assert_eq!(report.verified_by, Some(vantage));
    }
}

/// The child half of the kill test: runs a plan whose third step hangs, until killed.
#[tokio::test]
async fn child_runs_until_killed() {
    let Some(dir) = std::env::var_os("BREAKGLASS_RUNNER_CHILD_DIR") else {
        return; // only as the child of the test below
    };
    let b = bench_in(dir.into(), None).await;
    let _ = b
        .run(&[Does::Work, Does::Work, Does::Hang], Cancel::default(), WAIT)
        .await;
}

#[tokio::test]
async fn a_run_killed_after_step_2_shows_at_the_next_start() {
    let b = bench().await;
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "engine::actions::runner::tests::child_runs_until_killed",
            "--nocapture",
        ])
        .env("BREAKGLASS_RUNNER_CHILD_DIR", &b.dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let entries = b.journal.entries(None).await.unwrap_or_default();
        if entries
            .iter()
            .any(|e| e.kind == "action.step.started" && e.body["step"] == 3)
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the child never reached step 3"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // While the child lives, its run is not "interrupted": it is running.
    assert!(interrupted(&b.journal).await.unwrap().is_empty());
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let found = interrupted(&b.journal).await.unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    let run = &found[0];
    assert_eq!(
        (run.deployment.as_str(), run.action.as_str()),
        ("prod", "scripted")
    );
    let states: Vec<&str> = run.steps.iter().map(|s| s.state.as_str()).collect();
    assert_eq!(states, ["done", "done", "started (outcome unknown)"]);
    assert!(run.undoable, "steps 1 and 2 recorded their undo");
    assert!(run.steps[0].undo.is_some() && run.steps[2].undo.is_none());
}
