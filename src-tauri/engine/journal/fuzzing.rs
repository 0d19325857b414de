//! Entry points for the fuzzers (`fuzz/`, feature `fuzzing`): `journal verify` on a
//! journal given as bytes, and a valid journal to start mutating from. Not part of the
//! console: nothing else calls these.

use serde::{Deserialize, Serialize};

use super::head::HeadFile;
use super::{Entry, GENESIS, Incident, JournalKey, Verification, auth, entry_hash, verify};

/// A journal as the fuzzer sees it: what `verify` reads from the database and the head
/// file, in one JSON document.
#[derive(Serialize, Deserialize)]
struct Parts {
    entries: Vec<Entry>,
    head: Option<serde_json::Value>,
    incidents: Vec<IncidentRow>,
}

#[derive(Serialize, Deserialize)]
struct IncidentRow {
    id: i64,
    title: String,
    opened_at: String,
    opened_by: String,
    closed_at: Option<String>,
    #[serde(default)]
    deployment: Option<String>,
}

/// The key every fuzzed journal is checked under.
fn key() -> JournalKey {
    JournalKey::from_bytes([7; 32])
}

/// Runs the whole check on `data` (JSON of [`Parts`]); bytes that are not such a
/// document are what a database would refuse, and are skipped. Must never panic.
pub fn verify_bytes(data: &[u8]) -> Option<Verification> {
    let parts: Parts = serde_json::from_slice(data).ok()?;
    let head = parts
        .head
        .map(|h| serde_json::from_value::<HeadFile>(h).map_err(|e| e.to_string()));
    let incidents: Vec<Incident> = parts
        .incidents
        .into_iter()
        .map(|i| Incident {
            id: i.id,
            title: i.title,
            opened_at: i.opened_at,
            opened_by: i.opened_by,
            closed_at: i.closed_at,
            deployment: i.deployment,
        })
        .collect();
    verify::verify(&key(), &parts.entries, head, &incidents).ok()
}

/// A valid journal of `n` entries (an incident opened, action entries, the head file),
/// authenticated under the fuzzing key: the seed the fuzzer mutates.
pub fn sample(n: usize) -> Vec<u8> {
    let key = key();
    let mut entries = Vec::new();
    let mut prev = GENESIS.to_owned();
    for seq in 1..=n as i64 {
        let (kind, body) = match seq {
            1 => (
                "incident.opened",
                serde_json::json!({ "id": 1, "title": "leaked .env", "opened_at": "2026-12-03T03:00:00Z", "opened_by": "alice@laptop", "deployment": "prod" }),
            ),
            _ => (
                "action.step.done",
                serde_json::json!({ "step": seq - 1, "description": "set active = false", "outcome": "12 token(s) revoked" }),
            ),
        };
        let mut e = Entry {
            seq,
            incident: Some(1),
            at: format!("2026-12-03T03:{:02}:00Z", seq % 60),
            operator: "alice@laptop".into(),
            deployment: "prod".into(),
            run_id: "r1".into(),
            kind: kind.into(),
            body,
            prev_hash: prev.clone(),
            hash: String::new(),
            mac: None,
        };
        e.hash = entry_hash(&e);
        e.mac = auth::entry_mac(&key, &e.hash).ok();
        prev = e.hash.clone();
        entries.push(e);
    }
    let head = entries.last().map(|last| {
        let mac = auth::head_mac(&key, last.seq, &last.hash, &last.at).unwrap_or_default();
        serde_json::to_value(HeadFile {
            seq: last.seq,
            hash: last.hash.clone(),
            at: last.at.clone(),
            mac,
        })
        .unwrap_or_default()
    });
    let parts = Parts {
        entries,
        head,
        incidents: vec![IncidentRow {
            id: 1,
            title: "leaked .env".into(),
            opened_at: "2026-12-03T03:00:00Z".into(),
            opened_by: "alice@laptop".into(),
            closed_at: None,
            deployment: Some("prod".into()),
        }],
    };
    serde_json::to_vec_pretty(&parts).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_seed_verifies_and_a_mutation_is_named() {
        let seed = super::sample(4);
        let v = super::verify_bytes(&seed).unwrap();
        assert!(v.ok, "{:?}", v.problems);
        let text = String::from_utf8(seed)
            .unwrap()
            .replace("12 token(s)", "0 token(s)");
        let v = super::verify_bytes(text.as_bytes()).unwrap();
        assert!(
            !v.ok && v.has(super::super::ProblemKind::Edited),
            "{:?}",
            v.problems
        );
    }
}
