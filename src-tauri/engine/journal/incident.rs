//! An incident as a responder follows it: the timeline the console wrote itself (what was
//! planned, confirmed, run, verified and undone, with the journal's own timestamps), the
//! responder's notes among it, and where containment stands. "Contained" is never a
//! button: it is read from the journal, as the moment every containment action run in
//! the incident had last been verified, and it says by which vantage (the app itself, or
//! the database only). A containment action whose latest run failed, was cancelled,
//! could not be verified, or was undone since (from the journal, or by its inverse:
//! unlock, restore, rotate-undo) leaves the incident not contained, and says which.

use std::time::SystemTime;

use serde::Serialize;

use super::{Entry, Incident};
use crate::engine::actions::Vantage;

/// The actions that contain an incident: what a responder runs to shut an attacker out.
pub const CONTAINMENT_ACTIONS: &[&str] = &[
    "revoke-tokens",
    "lock-accounts",
    "expire-sessions",
    "isolate",
    "rotate-secrets",
    "rotate-docker-secret",
    "rotate-ssh-key",
];

/// Actions that reopen what a containment action closed: (the inverse, what it reverses).
const INVERSES: &[(&str, &str)] = &[
    ("unlock-accounts", "lock-accounts"),
    ("restore", "isolate"),
    ("rotate-undo", "rotate-secrets"),
    ("rotate-ssh-key-undo", "rotate-ssh-key"),
];

#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct IncidentView {
    pub incident: Incident,
    pub timeline: Vec<TimelineItem>,
    /// The latest run of each containment action, in the order first run.
    pub containment: Vec<ContainmentRun>,
    /// When the incident became contained (and stayed so): every containment action's
    /// latest run verified. `None`: not contained (or nothing run yet).
    pub contained_at: Option<String>,
    pub secs_to_contained: Option<u64>,
    pub secs_to_closed: Option<u64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct TimelineItem {
    pub seq: i64,
    pub at: String,
    pub operator: String,
    pub deployment: String,
    pub kind: String,
    pub run_id: String,
    /// One line, as the report prints it.
    pub what: String,
    pub tone: Tone,
}

/// How a timeline line should look.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Tone {
    /// Verified through the app (or another vantage than the one that acted).
    Verified,
    /// Verified in the database (or Redis) only: the action's own vantage.
    VerifiedDatabaseOnly,
    Failed,
    Note,
    Info,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ContainmentRun {
    pub action: String,
    pub run_id: String,
    pub at: String,
    pub state: ContainmentState,
    pub by: Option<Vantage>,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum ContainmentState {
    /// Planned or running: no verdict yet.
    Running,
    Verified,
    /// Verification failed, or the run failed, was cancelled or could not be verified.
    NotVerified,
}

fn secs_between(from: &str, to: &str) -> Option<u64> {
    let a = humantime::parse_rfc3339_weak(from).ok()?;
    let b = humantime::parse_rfc3339_weak(to).ok()?;
    b.duration_since(a).ok().map(|d| d.as_secs())
}

/// `1 h 02 min 05 s`, `4 min 10 s`, `12 s`.
pub fn human_secs(s: u64) -> String {
    let (h, m, sec) = (s / 3600, (s % 3600) / 60, s % 60);
    match (h, m) {
        (0, 0) => format!("{sec} s"),
        (0, _) => format!("{m} min {sec:02} s"),
        _ => format!("{h} h {m:02} min {sec:02} s"),
    }
}

fn vantage(v: Option<&serde_json::Value>) -> Option<Vantage> {
    serde_json::from_value(v?.clone()).ok()
}

fn tone(e: &Entry) -> Tone {
    let ok = e.body.get("ok").and_then(|v| v.as_bool());
    let by = vantage(e.body.get("by").or_else(|| e.body.get("verified_by")));
    let verified = match e.kind.as_str() {
        "incident.note" => return Tone::Note,
        "runbook.step" => {
            return if e.body.get("done").and_then(|v| v.as_bool()) == Some(true) {
                Tone::Info
            } else {
                Tone::Failed
            };
        }
        "action.verified" => ok,
        "action.nothing_to_do" => e.body.get("verified").and_then(|v| v.as_bool()),
        k if k.ends_with(".failed") || k.ends_with(".aborted") => return Tone::Failed,
        "action.finished" => {
            let outcome = e.body.get("outcome").and_then(|v| v.as_str()).unwrap_or("");
            return if outcome.starts_with("done") && !outcome.contains("failed") {
                Tone::Info
            } else {
                Tone::Failed
            };
        }
        _ => return Tone::Info,
    };
    match (verified, by) {
        (Some(true), Some(Vantage::Database | Vantage::Redis)) => Tone::VerifiedDatabaseOnly,
        (Some(true), _) => Tone::Verified,
        (Some(false), _) => Tone::Failed,
        (None, _) => Tone::Info,
    }
}

/// The view of `incident` from its entries (oldest first).
pub fn view(incident: &Incident, entries: &[Entry]) -> IncidentView {
    let mut timeline = Vec::with_capacity(entries.len());
    // run id → action name, from the run's `action.planned` entry.
    let mut action_of: std::collections::HashMap<&str, String> = std::collections::HashMap::new();
    let mut containment: Vec<ContainmentRun> = Vec::new();
    let mut contained_at: Option<String> = None;
    // undo run id → the run it undoes.
    let mut undo_of: std::collections::HashMap<&str, String> = std::collections::HashMap::new();
    for e in entries {
        timeline.push(TimelineItem {
            seq: e.seq,
            at: e.at.clone(),
            operator: e.operator.clone(),
            deployment: e.deployment.clone(),
            kind: e.kind.clone(),
            run_id: e.run_id.clone(),
            what: super::report::summary(e),
            tone: tone(e),
        });
        let body_action = e.body.get("action").and_then(|v| v.as_str()).map(str::to_owned);
        if let Some(a) = &body_action {
            action_of.entry(e.run_id.as_str()).or_insert_with(|| a.clone());
        }
        let Some(action) = action_of.get(e.run_id.as_str()).cloned() else {
            continue;
        };
        // An undo of a containment run, or its inverse action, verified: what it
        // contained is open again, and the incident is no longer contained by it.
        if e.kind == "action.verified" && e.body.get("ok").and_then(|v| v.as_bool()) == Some(true) {
            let reopened: Vec<usize> = containment
                .iter()
                .enumerate()
                .filter(|(_, c)| {
                    c.state == ContainmentState::Verified
                        && (undo_of.get(e.run_id.as_str()) == Some(&c.run_id)
                            || INVERSES.iter().any(|(inv, of)| *inv == action && *of == c.action))
                })
                .map(|(k, _)| k)
                .collect();
            for k in reopened {
                containment[k].state = ContainmentState::NotVerified;
                containment[k].at = e.at.clone();
                containment[k].detail = format!("undone by {action} (run {})", e.run_id);
                contained_at = None;
            }
        }
        if action == "undo"
            && e.kind == "action.planned"
            && let Some(target) = e.body.pointer("/spec/run_id").and_then(|v| v.as_str())
        {
            undo_of.insert(e.run_id.as_str(), target.to_owned());
        }
        if !CONTAINMENT_ACTIONS.contains(&action.as_str()) {
            continue;
        }
        let update = match e.kind.as_str() {
            "action.planned" => Some((ContainmentState::Running, None, "planned".to_owned())),
            "action.verified" | "action.nothing_to_do" => {
                let ok = e
                    .body
                    .get("ok")
                    .or_else(|| e.body.get("verified"))
                    .and_then(|v| v.as_bool());
                let by = vantage(e.body.get("by").or_else(|| e.body.get("verified_by")));
                let detail = e
                    .body
                    .get("detail")
                    .or_else(|| e.body.get("verify_detail"))
                    .or_else(|| e.body.get("summary"))
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_owned();
                Some(match ok {
                    Some(true) => (ContainmentState::Verified, by, detail),
                    _ => (ContainmentState::NotVerified, by, detail),
                })
            }
            // A run that ends without a verification (failed, cancelled, aborted) is not
            // contained; one that was verified keeps its verdict.
            "action.finished" => containment
                .iter()
                .find(|c| c.run_id == e.run_id && c.state == ContainmentState::Running)
                .map(|_| {
                    let outcome = e.body.get("outcome").and_then(|v| v.as_str()).unwrap_or("");
                    (ContainmentState::NotVerified, None, outcome.to_owned())
                }),
            _ => None,
        };
        let Some((state, by, detail)) = update else {
            continue;
        };
        let run = ContainmentRun {
            action: action.clone(),
            run_id: e.run_id.clone(),
            at: e.at.clone(),
            state,
            by,
            detail,
        };
        match containment.iter_mut().find(|c| c.action == action) {
            Some(c) => *c = run,
            None => containment.push(run),
        }
        let all_verified =
            !containment.is_empty() && containment.iter().all(|c| c.state == ContainmentState::Verified);
        match (all_verified, &contained_at) {
            (true, None) => contained_at = Some(e.at.clone()),
            (false, Some(_)) => contained_at = None,
            _ => {}
        }
    }
    IncidentView {
        secs_to_contained: contained_at
            .as_deref()
            .and_then(|c| secs_between(&incident.opened_at, c)),
        secs_to_closed: incident
            .closed_at
            .as_deref()
            .and_then(|c| secs_between(&incident.opened_at, c)),
        incident: incident.clone(),
        timeline,
        containment,
        contained_at,
    }
}

/// Now, for a caller that wants "open for" of an open incident.
pub fn secs_since(at: &str) -> Option<u64> {
    let a = humantime::parse_rfc3339_weak(at).ok()?;
    SystemTime::now().duration_since(a).ok().map(|d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inc(closed: Option<&str>) -> Incident {
        Incident {
            id: 1,
            title: "leaked .env".into(),
            opened_at: "2026-12-03T03:00:00.000Z".into(),
            opened_by: "alice".into(),
            closed_at: closed.map(str::to_owned),
            deployment: Some("prod".into()),
        }
    }

    fn e(seq: i64, at: &str, run: &str, kind: &str, body: serde_json::Value) -> Entry {
        Entry {
            seq,
            incident: Some(1),
            at: format!("2026-12-03T{at}.000Z"),
            operator: "alice".into(),
            deployment: "prod".into(),
            run_id: run.into(),
            kind: kind.into(),
            body,
            prev_hash: String::new(),
            hash: String::new(),
            mac: None,
        }
    }

    fn run(seq: i64, at: [&str; 3], run: &str, action: &str, ok: bool, by: &str) -> Vec<Entry> {
        vec![
            e(
                seq,
                at[0],
                run,
                "action.planned",
                serde_json::json!({ "action": action, "summary": "s" }),
            ),
            e(
                seq + 1,
                at[1],
                run,
                "action.verified",
                serde_json::json!({ "ok": ok, "detail": "d", "by": by }),
            ),
            e(
                seq + 2,
                at[2],
                run,
                "action.finished",
                serde_json::json!({ "action": action, "outcome": if ok { "done" } else { "done, but verification failed" } }),
            ),
        ]
    }

    #[test]
    fn contained_when_every_containment_run_is_verified_and_not_before() {
        let mut entries = vec![e(
            1,
            "03:00:00",
            "incident-1",
            "incident.opened",
            serde_json::json!({ "id": 1 }),
        )];
        entries.extend(run(
            2,
            ["03:00:10", "03:00:20", "03:00:21"],
            "r1",
            "revoke-tokens",
            true,
            "app",
        ));
        entries.extend(run(
            5,
            ["03:00:30", "03:00:40", "03:00:41"],
            "r2",
            "lock-accounts",
            false,
            "database",
        ));
        let v = view(&inc(None), &entries);
        assert_eq!(v.contained_at, None, "a failed verification is not contained");
        assert_eq!(v.containment.len(), 2);
        assert_eq!(v.containment[1].state, ContainmentState::NotVerified);
        // Run again, verified in the database only: contained, and said so.
        entries.extend(run(
            8,
            ["03:01:00", "03:01:05", "03:01:06"],
            "r3",
            "lock-accounts",
            true,
            "database",
        ));
        entries.push(e(
            11,
            "03:02:00",
            "incident-1",
            "incident.note",
            serde_json::json!({ "id": 1, "text": "called the CTO" }),
        ));
        let v = view(&inc(Some("2026-12-03T03:10:00.000Z")), &entries);
        assert_eq!(v.contained_at.as_deref(), Some("2026-12-03T03:01:05.000Z"));
        assert_eq!(v.secs_to_contained, Some(65));
        assert_eq!(v.secs_to_closed, Some(600));
        assert_eq!(v.containment[1].by, Some(Vantage::Database));
        let tones: Vec<Tone> = v.timeline.iter().map(|t| t.tone).collect();
        assert!(tones.contains(&Tone::Verified) && tones.contains(&Tone::VerifiedDatabaseOnly));
        assert_eq!(v.timeline.last().unwrap().tone, Tone::Note);
        assert!(v.timeline.last().unwrap().what.contains("called the CTO"));
    }

    #[test]
    fn a_cancelled_run_after_containment_undoes_the_verdict() {
        let mut entries = run(
            1,
            ["03:00:10", "03:00:20", "03:00:21"],
            "r1",
            "expire-sessions",
            true,
            "app",
        );
        let v = view(&inc(None), &entries);
        assert!(v.contained_at.is_some());
        entries.push(e(
            4,
            "03:05:00",
            "r2",
            "action.planned",
            serde_json::json!({ "action": "isolate" }),
        ));
        let v = view(&inc(None), &entries);
        assert_eq!(
            v.contained_at, None,
            "a running containment action is not contained yet"
        );
        entries.push(e(
            5,
            "03:05:09",
            "r2",
            "action.finished",
            serde_json::json!({ "action": "isolate", "outcome": "cancelled after step 1; 1 step(s) undone" }),
        ));
        let v = view(&inc(None), &entries);
        assert_eq!(v.contained_at, None);
        assert_eq!(v.containment[1].state, ContainmentState::NotVerified);
        assert!(v.containment[1].detail.contains("cancelled"));
        assert_eq!(v.timeline.last().unwrap().tone, Tone::Failed);
    }

    #[test]
    fn steps_and_undos_read_as_sentences_and_failures_stand_out() {
        let entries = vec![
            e(
                1,
                "03:00:01",
                "r1",
                "action.step.done",
                serde_json::json!({ "step": 1, "description": "revoke", "outcome": "3 token(s) revoked" }),
            ),
            e(
                2,
                "03:00:02",
                "r1",
                "action.step.failed",
                serde_json::json!({ "step": 2, "description": "lock", "error": "refused" }),
            ),
            e(
                3,
                "03:00:03",
                "r1",
                "action.undo.done",
                serde_json::json!({ "step": 1, "outcome": "3 token(s) active again" }),
            ),
        ];
        let v = view(&inc(None), &entries);
        let what: Vec<&str> = v.timeline.iter().map(|t| t.what.as_str()).collect();
        assert_eq!(
            what,
            [
                "step 1 done (revoke): 3 token(s) revoked",
                "step 2 FAILED (lock): refused",
                "undo of step 1 done: 3 token(s) active again"
            ]
        );
        let tones: Vec<Tone> = v.timeline.iter().map(|t| t.tone).collect();
        assert_eq!(tones, [Tone::Info, Tone::Failed, Tone::Info]);
    }

    #[test]
    fn an_undone_or_reversed_containment_is_no_longer_contained() {
        let mut entries = run(
            1,
            ["03:00:10", "03:00:20", "03:00:21"],
            "r1",
            "revoke-tokens",
            true,
            "app",
        );
        entries.extend(run(
            4,
            ["03:00:30", "03:00:40", "03:00:41"],
            "r2",
            "lock-accounts",
            true,
            "app",
        ));
        assert!(view(&inc(None), &entries).contained_at.is_some());
        // Someone unlocks the accounts.
        let mut reversed = entries.clone();
        reversed.extend(run(
            7,
            ["03:01:00", "03:01:05", "03:01:06"],
            "r3",
            "unlock-accounts",
            true,
            "app",
        ));
        let v = view(&inc(None), &reversed);
        assert_eq!(v.contained_at, None);
        assert_eq!(v.containment[1].state, ContainmentState::NotVerified);
        assert!(
            v.containment[1].detail.contains("undone by unlock-accounts"),
            "{:?}",
            v.containment[1]
        );
        // Someone undoes the revoke from the journal.
        entries.push(e(
            7,
            "03:02:00",
            "u1",
            "action.planned",
            serde_json::json!({ "action": "undo", "spec": { "action": "undo", "run_id": "r1" } }),
        ));
        entries.push(e(
            8,
            "03:02:05",
            "u1",
            "action.verified",
            serde_json::json!({ "ok": true, "detail": "d", "by": "database" }),
        ));
        let v = view(&inc(None), &entries);
        assert_eq!(v.contained_at, None);
        assert_eq!(v.containment[0].state, ContainmentState::NotVerified);
        assert_eq!(v.containment[1].state, ContainmentState::Verified);
        // Containing again counts again.
        entries.extend(run(
            9,
            ["03:03:00", "03:03:05", "03:03:06"],
            "r4",
            "revoke-tokens",
            true,
            "app",
        ));
        assert_eq!(
            view(&inc(None), &entries).contained_at.as_deref(),
            Some("2026-12-03T03:03:05.000Z")
        );
    }

    #[test]
    fn actions_that_do_not_contain_and_a_clean_incident_leave_it_uncontained() {
        let entries = run(
            1,
            ["03:00:10", "03:00:20", "03:00:21"],
            "r1",
            "unlock-accounts",
            true,
            "app",
        );
        let v = view(&inc(None), &entries);
        assert!(v.containment.is_empty() && v.contained_at.is_none() && v.secs_to_contained.is_none());
        assert_eq!(human_secs(3725), "1 h 02 min 05 s");
        assert_eq!(human_secs(250), "4 min 10 s");
        assert_eq!(human_secs(12), "12 s");
    }
}
