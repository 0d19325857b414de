//! What [`super::Journal::verify`] checks, as a function of what it read: the entries,
//! the head file and the `incidents` table.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::head::HeadFile;
use super::{Entry, GENESIS, Head, Incident, JournalKey, auth, entry_hash};
use crate::engine::Result;

/// What `verify` found.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Verification {
    pub entries: usize,
    /// No problem at all.
    pub ok: bool,
    /// The journal's last entry (what to paste into a ticket); `None` if it is empty.
    pub head: Option<Head>,
    pub problems: Vec<Problem>,
    /// Benign findings that are not tampering (e.g. a head file one append behind after
    /// a crash).
    #[serde(default)]
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Problem {
    pub kind: ProblemKind,
    /// The entry concerned, if one is.
    pub seq: Option<i64>,
    pub message: String,
}

impl Problem {
    /// The problem without its kind: `entry 7: …`, or the message alone.
    pub fn detail(&self) -> String {
        match self.seq {
            Some(s) => format!("entry {s}: {}", self.message),
            None => self.message.clone(),
        }
    }
}

/// `kind: entry N: message`.
impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind, self.detail())
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// An entry's content does not match its hash.
    Edited,
    /// Entries are missing before an entry (a gap in the sequence).
    Deleted,
    /// An entry does not link to the one before it though the sequence has no gap: the
    /// entry before it was replaced, or one was inserted.
    Inserted,
    /// The head file names a later entry than the journal's last: the tail was deleted.
    TailTruncated,
    /// Hashes are consistent but the MAC is wrong: recomputed without the key. Also an
    /// entry whose hash differs from the one the (authentic) head file names.
    Rewritten,
    /// An entry without a MAC that no later authentic entry vouches for.
    Unauthenticated,
    /// Entries exist but the head file does not.
    HeadMissing,
    /// The head file is unreadable or its MAC is wrong.
    HeadForged,
    /// The `incidents` table disagrees with the incident entries of the chain.
    IncidentEdited,
}

impl ProblemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemKind::Edited => "edited",
            ProblemKind::Deleted => "deleted",
            ProblemKind::Inserted => "inserted",
            ProblemKind::TailTruncated => "tail_truncated",
            ProblemKind::Rewritten => "rewritten",
            ProblemKind::Unauthenticated => "unauthenticated",
            ProblemKind::HeadMissing => "head_missing",
            ProblemKind::HeadForged => "head_forged",
            ProblemKind::IncidentEdited => "incident_edited",
        }
    }
}

impl std::fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Verification {
    pub fn has(&self, kind: ProblemKind) -> bool {
        self.problems.iter().any(|p| p.kind == kind)
    }
}

struct Checks {
    problems: Vec<Problem>,
    notes: Vec<String>,
}

impl Checks {
    fn push(&mut self, kind: ProblemKind, seq: Option<i64>, message: String) {
        self.problems.push(Problem { kind, seq, message });
    }
}

/// The whole check. `head_file` is what [`super::head::read`] returned.
pub(super) fn verify(
    key: &JournalKey,
    entries: &[Entry],
    head_file: Option<std::result::Result<HeadFile, String>>,
    incidents: &[Incident],
) -> Result<Verification> {
    let mut c = Checks {
        problems: Vec::new(),
        notes: Vec::new(),
    };

    // Per entry: does the content match the hash, the MAC the hash, the link the entry
    // before?
    let mut hash_ok = Vec::with_capacity(entries.len());
    let mut mac_ok = Vec::with_capacity(entries.len());
    let mut link_ok = Vec::with_capacity(entries.len());
    let mut prev = GENESIS;
    let mut expected_seq = 1;
    for e in entries {
        hash_ok.push(entry_hash(e) == e.hash);
        mac_ok.push(match &e.mac {
            Some(m) => Some(auth::entry_mac_ok(key, &e.hash, m)?),
            None => None,
        });
        link_ok.push(e.seq == expected_seq && e.prev_hash == prev);
        if e.seq != expected_seq {
            c.push(
                ProblemKind::Deleted,
                Some(e.seq),
                if e.seq == expected_seq + 1 {
                    format!("entry {expected_seq} before it is missing")
                } else {
                    format!("entries {expected_seq}–{} before it are missing", e.seq - 1)
                },
            );
        } else if e.prev_hash != prev {
            c.push(
                ProblemKind::Inserted,
                Some(e.seq),
                "does not link to the entry before it: that one was replaced or inserted".into(),
            );
        }
        prev = &e.hash;
        expected_seq = e.seq + 1;
    }

    // The head file.
    let mut head_vouches_last = false;
    let last = entries.last();
    match head_file {
        None => {
            if let Some(l) = last {
                c.push(
                    ProblemKind::HeadMissing,
                    None,
                    format!(
                        "the head file is missing but the journal has entries up to {}",
                        l.seq
                    ),
                );
            }
        }
        Some(Err(why)) => c.push(ProblemKind::HeadForged, None, format!("the head file is {why}")),
        Some(Ok(h)) => {
            if !auth::head_mac_ok(key, h.seq, &h.hash, &h.at, &h.mac)? {
                c.push(
                    ProblemKind::HeadForged,
                    None,
                    format!(
                        "the head file (seq {}) is not authenticated by this console's key",
                        h.seq
                    ),
                );
            } else {
                let last_seq = last.map_or(0, |l| l.seq);
                if h.seq > last_seq {
                    c.push(
                        ProblemKind::TailTruncated,
                        Some(h.seq),
                        if last_seq == 0 {
                            format!("the head file names entry {} but the journal is empty", h.seq)
                        } else {
                            format!(
                                "the head file names entry {} but the journal ends at {last_seq}: {} deleted",
                                h.seq,
                                if h.seq == last_seq + 1 {
                                    format!("entry {} was", h.seq)
                                } else {
                                    format!("entries {}–{} were", last_seq + 1, h.seq)
                                }
                            )
                        },
                    );
                } else if h.seq > 0 {
                    match entries.iter().find(|e| e.seq == h.seq) {
                        Some(e) if e.hash == h.hash => {
                            head_vouches_last = h.seq == last_seq;
                            if h.seq < last_seq {
                                let later = entries.iter().filter(|e| e.seq > h.seq).count();
                                c.notes.push(format!(
                                    "the head file is behind by {later} entr{} (seq {} of {last_seq}): \
                                     a crash between an append and its head write, or an older head \
                                     file put back; the later entries' MACs are checked",
                                    if later == 1 { "y" } else { "ies" },
                                    h.seq
                                ));
                            }
                        }
                        Some(e) => c.push(
                            ProblemKind::Rewritten,
                            Some(e.seq),
                            format!(
                                "the head file says this entry's hash is {}, the journal holds {}",
                                h.hash, e.hash
                            ),
                        ),
                        // A gap at the head's entry: reported as Deleted above.
                        None => {}
                    }
                }
            }
        }
    }

    // Authentication. An entry without a MAC (written before migration 0003) is accepted
    // when a later authentic entry chains back to it: that entry's MAC covers its hash,
    // which covers the previous hash, and so on.
    let mut vouched = head_vouches_last;
    for i in (0..entries.len()).rev() {
        let e = &entries[i];
        if hash_ok[i] {
            match mac_ok[i] {
                Some(true) => {}
                Some(false) => c.push(
                    ProblemKind::Rewritten,
                    Some(e.seq),
                    "its hash matches its content but its MAC is not this console's: \
                     the chain was recomputed without the key"
                        .into(),
                ),
                None if vouched => {}
                None => c.push(
                    ProblemKind::Unauthenticated,
                    Some(e.seq),
                    "has no MAC and no later authentic entry vouches for it".into(),
                ),
            }
        } else {
            c.push(
                ProblemKind::Edited,
                Some(e.seq),
                format!(
                    "its content does not match its hash (edited){}",
                    match mac_ok[i] {
                        Some(true) => "",
                        Some(false) => "; its MAC is not this console's either",
                        None => "; it has no MAC",
                    }
                ),
            );
        }
        vouched = hash_ok[i] && link_ok[i] && (mac_ok[i] == Some(true) || vouched);
    }

    incidents_against_chain(entries, incidents, &mut c);

    c.problems.sort_by_key(|p| (p.seq.unwrap_or(i64::MAX), p.kind));
    Ok(Verification {
        entries: entries.len(),
        ok: c.problems.is_empty(),
        head: last.map(|l| Head {
            seq: l.seq,
            hash: l.hash.clone(),
            at: l.at.clone(),
        }),
        problems: c.problems,
        notes: c.notes,
    })
}

/// What the chain says of one incident.
struct Told {
    seq: i64,
    title: Option<String>,
    opened_at: Option<String>,
    opened_by: String,
    /// `None`: an entry from before incidents belonged to a deployment.
    deployment: Option<String>,
    /// `Some(None)`: closed, time unknown (an entry from before 0003).
    closed: Option<Option<String>>,
}

fn incident_id(e: &Entry) -> Option<i64> {
    e.body
        .get("id")
        .and_then(|v| v.as_i64())
        .or_else(|| e.run_id.strip_prefix("incident-")?.parse().ok())
}

fn incidents_against_chain(entries: &[Entry], incidents: &[Incident], c: &mut Checks) {
    let s = |e: &Entry, k: &str| e.body.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    let mut told: BTreeMap<i64, Told> = BTreeMap::new();
    for e in entries {
        match e.kind.as_str() {
            "incident.opened" => {
                let Some(id) = incident_id(e) else { continue };
                told.insert(
                    id,
                    Told {
                        seq: e.seq,
                        title: s(e, "title"),
                        opened_at: s(e, "opened_at"),
                        opened_by: s(e, "opened_by").unwrap_or_else(|| e.operator.clone()),
                        deployment: s(e, "deployment"),
                        closed: None,
                    },
                );
            }
            "incident.closed" => {
                let Some(id) = incident_id(e) else { continue };
                if let Some(t) = told.get_mut(&id) {
                    t.closed = Some(s(e, "closed_at"));
                }
            }
            _ => {}
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for i in incidents {
        seen.insert(i.id);
        let Some(t) = told.get(&i.id) else {
            c.push(
                ProblemKind::IncidentEdited,
                None,
                format!(
                    "incident {} ({:?}) is in the incidents table but the journal never opened it",
                    i.id, i.title
                ),
            );
            continue;
        };
        let mut diffs = Vec::new();
        if t.title.as_deref().is_some_and(|tt| tt != i.title) {
            diffs.push(format!(
                "title {:?} (the journal says {:?})",
                i.title,
                t.title.as_deref().unwrap_or("")
            ));
        }
        if t.opened_at.as_deref().is_some_and(|o| o != i.opened_at) {
            diffs.push(format!(
                "opened at {} (the journal says {})",
                i.opened_at,
                t.opened_at.as_deref().unwrap_or("")
            ));
        }
        if t.opened_by != i.opened_by {
            diffs.push(format!(
                "opened by {:?} (the journal says {:?})",
                i.opened_by, t.opened_by
            ));
        }
        if t.deployment != i.deployment {
            diffs.push(format!(
                "deployment {:?} (the journal says {:?})",
                i.deployment.as_deref().unwrap_or("none"),
                t.deployment.as_deref().unwrap_or("none")
            ));
        }
        match (&t.closed, &i.closed_at) {
            (None, Some(at)) => diffs.push(format!("closed at {at} (the journal never closed it)")),
            (Some(told_at), None) => diffs.push(format!(
                "open (the journal closed it{})",
                told_at.as_deref().map(|a| format!(" at {a}")).unwrap_or_default()
            )),
            (Some(Some(told_at)), Some(at)) if told_at != at => {
                diffs.push(format!("closed at {at} (the journal says {told_at})"))
            }
            _ => {}
        }
        if !diffs.is_empty() {
            c.push(
                ProblemKind::IncidentEdited,
                Some(t.seq),
                format!("incident {} in the incidents table: {}", i.id, diffs.join("; ")),
            );
        }
    }
    for (id, t) in &told {
        if !seen.contains(id) {
            c.push(
                ProblemKind::IncidentEdited,
                Some(t.seq),
                format!(
                    "incident {id} ({:?}) was opened in the journal but is missing from the incidents table",
                    t.title.as_deref().unwrap_or("")
                ),
            );
        }
    }
}
