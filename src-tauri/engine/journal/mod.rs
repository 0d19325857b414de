//! The journal: what was done, by whom, when, to which deployment, with each step's
//! outcome. Local SQLite, append-only (triggers refuse UPDATE and DELETE), and
//! tamper-evident against someone who can write the database file (docs/journal.md):
//!
//! - hash-chained: every entry stores the SHA-256 of the previous entry's hash and its
//!   own content ([`entry_hash`]), which anyone can check from an export;
//! - authenticated: every entry's `mac` is HMAC-SHA256 under the console's
//!   [`JournalKey`] (kept in the OS keychain) over its hash, so a chain recomputed
//!   without the key shows;
//! - anchored outside the database: the head file (`journal.head`, see [`head`]) names
//!   the last entry under a MAC, so deleting the last entries shows;
//! - incidents are in the chain: `incident.opened` and `incident.closed` entries carry
//!   what the `incidents` table holds, and [`Journal::verify`] compares them.
//!
//! Entries belong to an incident, which exports as a Markdown or HTML report carrying the
//! head and the verification. Callers pass plans, counts, names and outcomes: never a
//! secret value. The engine's tests scan the database for the deployment's secrets after
//! every action.

mod auth;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
mod head;
pub mod incident;
mod operator;
pub(crate) mod report;
mod verify;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::sqlite::{SqliteConnection, SqlitePool};

use crate::engine::state::now_rfc3339;
use crate::engine::{Error, Result};

pub use head::Head;
pub use operator::operator;
pub use report::{render_html, render_markdown};
pub use verify::{Problem, ProblemKind, Verification};

/// The hash before the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Entry {
    pub seq: i64,
    pub incident: Option<i64>,
    pub at: String,
    pub operator: String,
    pub deployment: String,
    /// Groups the entries of one action run.
    pub run_id: String,
    /// `action.planned`, `action.step`, `action.verified`, `action.finished`, `incident.opened`…
    pub kind: String,
    #[cfg_attr(test, ts(type = "unknown"))]
    pub body: serde_json::Value,
    pub prev_hash: String,
    pub hash: String,
    /// HMAC-SHA256 under the journal key over `hash` (see `auth`); `None` for an entry
    /// written before migration 0003.
    #[serde(default)]
    pub mac: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Incident {
    pub id: i64,
    pub title: String,
    pub opened_at: String,
    pub opened_by: String,
    pub closed_at: Option<String>,
    /// The deployment it is about; `None` for an incident opened before incidents
    /// belonged to one (console wide).
    pub deployment: Option<String>,
}

/// How an incident report is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    Markdown,
    Html,
}

impl ReportFormat {
    /// `md` or `html`, as the CLI and the window name them.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "md" => Some(ReportFormat::Markdown),
            "html" => Some(ReportFormat::Html),
            _ => None,
        }
    }
}

/// A head as pasted back from a ticket: `SEQ:HASH`, or the line `journal head` prints
/// (`… seq 42 sha256 <hash> at …`). Returns the sequence number and the hash, lowercase.
pub fn parse_pasted_head(text: &str) -> Result<(i64, String)> {
    let bad = || Error::BadPastedHead;
    let words: Vec<&str> = text.split_whitespace().collect();
    let (seq, hash) = match words.iter().position(|w| *w == "seq") {
        Some(i) if words.get(i + 2) == Some(&"sha256") => (
            *words.get(i + 1).ok_or_else(bad)?,
            *words.get(i + 3).ok_or_else(bad)?,
        ),
        _ => {
            let (a, b) = text.trim().split_once(':').ok_or_else(bad)?;
            (a.trim(), b.trim())
        }
    };
    let seq: i64 = seq.parse().map_err(|_| bad())?;
    if seq < 0 || hash.len() != 64 || !hash.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(bad());
    }
    Ok((seq, hash.to_ascii_lowercase()))
}

/// The journal as the window shows it: every entry, and what verifying them found.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct JournalView {
    pub entries: Vec<Entry>,
    pub verification: Verification,
}

/// The key that authenticates journal entries and the head. It lives in the OS keychain
/// (entry `console/journal-key`), never in the database or a file of ours, so whoever
/// can write the SQLite file still cannot forge an entry.
#[derive(Clone)]
pub struct JournalKey(std::sync::Arc<zeroize::Zeroizing<[u8; 32]>>);

impl std::fmt::Debug for JournalKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JournalKey(<redacted>)")
    }
}

/// The keychain entry of the journal key (a console-wide entry, not a deployment's).
pub const KEY_DEPLOYMENT: &str = "console";
pub const KEY_NAME: &str = "journal-key";

impl JournalKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        JournalKey(std::sync::Arc::new(zeroize::Zeroizing::new(bytes)))
    }

    /// The console's key, created on first use.
    pub async fn from_keychain(kc: &crate::engine::keychain::Keychain) -> Result<Self> {
        use crate::engine::keychain::KeychainError;
        match kc.get(KEY_DEPLOYMENT, KEY_NAME).await {
            Ok(v) => {
                let mut bytes = [0u8; 32];
                hex::decode_to_slice(v.expose().trim(), &mut bytes).map_err(|_| Error::Journal {
                    message: format!(
                        "the keychain entry {KEY_DEPLOYMENT}/{KEY_NAME} is not a journal key (64 hex digits)"
                    ),
                })?;
                Ok(Self::from_bytes(bytes))
            }
            Err(KeychainError::NotSet { .. }) => {
                let bytes: [u8; 32] = rand::random();
                let text = crate::engine::secret::Sensitive::new(hex::encode(bytes));
                kc.set(KEY_DEPLOYMENT, KEY_NAME, text).await?;
                Ok(Self::from_bytes(bytes))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// Where the journal's head is kept outside the database: beside it, as a file.
pub fn head_path(state_db: &std::path::Path) -> std::path::PathBuf {
    state_db.with_file_name("journal.head")
}

#[derive(Clone)]
pub struct Journal {
    pool: SqlitePool,
    head_path: std::path::PathBuf,
    key: JournalKey,
}

fn db(e: sqlx::Error) -> Error {
    Error::Journal {
        message: e.to_string(),
    }
}

/// The hash of an entry: SHA-256 over the previous hash and a canonical encoding of
/// every field but the hash and the MAC.
pub fn entry_hash(e: &Entry) -> String {
    let canonical = serde_json::json!([
        e.seq,
        e.incident,
        e.at,
        e.operator,
        e.deployment,
        e.run_id,
        e.kind,
        e.body,
        e.prev_hash
    ]);
    let mut h = Sha256::new();
    h.update(e.prev_hash.as_bytes());
    h.update(canonical.to_string().as_bytes());
    hex::encode(h.finalize())
}

/// An append in progress: the cross-process lock on the head file, and a connection in
/// a `BEGIN IMMEDIATE` transaction.
struct Writer {
    conn: sqlx::pool::PoolConnection<sqlx::Sqlite>,
    _lock: std::fs::File,
}

fn row_entry(r: &sqlx::sqlite::SqliteRow) -> Result<Entry> {
    let body: String = r.try_get("body").map_err(db)?;
    Ok(Entry {
        seq: r.try_get("seq").map_err(db)?,
        incident: r.try_get("incident").map_err(db)?,
        at: r.try_get("at").map_err(db)?,
        operator: r.try_get("operator").map_err(db)?,
        deployment: r.try_get("deployment").map_err(db)?,
        run_id: r.try_get("run_id").map_err(db)?,
        kind: r.try_get("kind").map_err(db)?,
        body: serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body)),
        prev_hash: r.try_get("prev_hash").map_err(db)?,
        hash: r.try_get("hash").map_err(db)?,
        mac: r.try_get("mac").map_err(db)?,
    })
}

fn incident_error(message: String) -> Error {
    Error::Journal { message }
}

impl Journal {
    pub fn new(pool: SqlitePool, head_path: std::path::PathBuf, key: JournalKey) -> Self {
        Journal { pool, head_path, key }
    }

    /// Takes the head lock (other processes' appends wait), then the database's write
    /// lock.
    async fn begin(&self) -> Result<Writer> {
        let lock = head::lock(&self.head_path, true).await?;
        let mut conn = self.pool.acquire().await.map_err(db)?;
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut *conn)
            .await
            .map_err(db)?;
        Ok(Writer { conn, _lock: lock })
    }

    /// Commits (or rolls back on an error), then writes the head file for the last entry
    /// written, still under the head lock. A crash between the commit and the head write
    /// leaves the head one entry behind, which `verify` notes as benign (the entry's own
    /// MAC authenticates it); writing the head before the commit would instead leave a
    /// head ahead of the database, indistinguishable from a deleted tail.
    async fn finish<T>(&self, mut w: Writer, result: Result<(T, Entry)>) -> Result<(T, Entry)> {
        let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
        sqlx::query(end).execute(&mut *w.conn).await.map_err(db)?;
        let (value, e) = result?;
        let file = head::HeadFile {
            seq: e.seq,
            hash: e.hash.clone(),
            at: e.at.clone(),
            mac: auth::head_mac(&self.key, e.seq, &e.hash, &e.at)?,
        };
        let path = self.head_path.clone();
        tokio::task::spawn_blocking(move || head::write(&path, &file))
            .await
            .map_err(|err| Error::Journal {
                message: format!("the head write task failed: {err}"),
            })?
            .map_err(|err| Error::Journal {
                message: format!(
                    "entry {} was recorded, but the journal head could not be updated: {err}",
                    e.seq
                ),
            })?;
        drop(w);
        Ok((value, e))
    }

    /// Inserts one entry chained to the last, with its MAC, inside the writer's
    /// transaction.
    async fn insert(
        &self,
        conn: &mut SqliteConnection,
        incident: Option<i64>,
        fields: [&str; 4],
        body: serde_json::Value,
    ) -> Result<Entry> {
        let [deployment, run_id, operator, kind] = fields;
        let last = sqlx::query("SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut *conn)
            .await
            .map_err(db)?;
        let (seq, prev_hash) = match last {
            Some(r) => (
                r.try_get::<i64, _>("seq").map_err(db)? + 1,
                r.try_get("hash").map_err(db)?,
            ),
            None => (1, GENESIS.to_owned()),
        };
        let mut e = Entry {
            seq,
            incident,
            at: now_rfc3339(),
            operator: operator.to_owned(),
            deployment: deployment.to_owned(),
            run_id: run_id.to_owned(),
            kind: kind.to_owned(),
            body,
            prev_hash,
            hash: String::new(),
            mac: None,
        };
        e.hash = entry_hash(&e);
        e.mac = Some(auth::entry_mac(&self.key, &e.hash)?);
        sqlx::query(
            "INSERT INTO journal (seq, incident, at, operator, deployment, run_id, kind, body, prev_hash, hash, mac)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )
        .bind(e.seq)
        .bind(e.incident)
        .bind(&e.at)
        .bind(&e.operator)
        .bind(&e.deployment)
        .bind(&e.run_id)
        .bind(&e.kind)
        .bind(e.body.to_string())
        .bind(&e.prev_hash)
        .bind(&e.hash)
        .bind(&e.mac)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
        Ok(e)
    }

    /// Appends one entry, chained to the last, to the deployment's open incident. One writer at
    /// a time (the head lock, then an IMMEDIATE transaction), so two runs in parallel
    /// cannot fork the chain or leave an older head over a newer one.
    pub async fn append(
        &self,
        deployment: &str,
        run_id: &str,
        operator: &str,
        kind: &str,
        body: serde_json::Value,
    ) -> Result<Entry> {
        let mut w = self.begin().await?;
        let result = async {
            // The deployment's open incident; else a console-wide one (from before
            // incidents belonged to a deployment).
            let incident: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM incidents WHERE closed_at IS NULL AND (deployment = ?1 OR deployment IS NULL)
                 ORDER BY deployment IS NULL, id DESC LIMIT 1",
            )
            .bind(deployment)
            .fetch_optional(&mut *w.conn)
            .await
            .map_err(db)?;
            let e = self
                .insert(&mut w.conn, incident, [deployment, run_id, operator, kind], body)
                .await?;
            Ok(((), e))
        }
        .await;
        Ok(self.finish(w, result).await?.1)
    }

    /// Entries, oldest first; `incident` restricts to one incident.
    pub async fn entries(&self, incident: Option<i64>) -> Result<Vec<Entry>> {
        let rows = match incident {
            Some(i) => sqlx::query("SELECT * FROM journal WHERE incident = ?1 ORDER BY seq").bind(i),
            None => sqlx::query("SELECT * FROM journal ORDER BY seq"),
        }
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(row_entry).collect()
    }

    /// The journal's last entry, as the database holds it now (`seq` 0 and [`GENESIS`]
    /// if it is empty): paste [`Head::line`] into the incident's ticket, and compare later
    /// with [`Journal::verify`]'s head. Carries no MAC: the console only MACs heads it
    /// writes itself.
    /// One incident's report: its entries, with the verification of the whole journal
    /// and its head, as Markdown or HTML (every outside string escaped).
    pub async fn export(&self, incident: i64, format: ReportFormat) -> Result<String> {
        let view = self.incident(incident).await?;
        let v = self.verify().await?;
        Ok(match format {
            ReportFormat::Html => render_html(&view, &v),
            ReportFormat::Markdown => render_markdown(&view, &v),
        })
    }

    /// One incident with its timeline and where containment stands.
    pub async fn incident(&self, id: i64) -> Result<incident::IncidentView> {
        let incidents = self.incidents().await?;
        let inc = incidents
            .iter()
            .find(|i| i.id == id)
            .ok_or(Error::UnknownIncident { id })?;
        let entries = self.entries(Some(id)).await?;
        Ok(incident::view(inc, &entries))
    }

    /// The open incident of `deployment`, if there is one.
    pub async fn open_incident_of(&self, deployment: &str) -> Result<Option<Incident>> {
        Ok(self
            .incidents()
            .await?
            .into_iter()
            .rev()
            .find(|i| i.closed_at.is_none() && i.deployment.as_deref() == Some(deployment)))
    }

    /// Every entry and the verification of the whole journal.
    pub async fn view(&self) -> Result<JournalView> {
        Ok(JournalView {
            entries: self.entries(None).await?,
            verification: self.verify().await?,
        })
    }

    pub async fn head(&self) -> Result<Head> {
        let last = sqlx::query("SELECT seq, hash, at FROM journal ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        Ok(match last {
            Some(r) => Head {
                seq: r.try_get("seq").map_err(db)?,
                hash: r.try_get("hash").map_err(db)?,
                at: r.try_get("at").map_err(db)?,
            },
            None => Head {
                seq: 0,
                hash: GENESIS.to_owned(),
                at: String::new(),
            },
        })
    }

    /// The networks the last planned disconnect of `container` on `host` took it off
    /// (what an undo reconnects), if this console's journal has one.
    pub async fn disconnected_networks(
        &self,
        deployment: &str,
        host: &str,
        container: &str,
    ) -> Result<Option<Vec<String>>> {
        let sample: Option<String> = sqlx::query_scalar(
            "SELECT json_extract(body, '$.sample') FROM journal
              WHERE deployment = ?1 AND kind = 'action.planned'
                AND json_extract(body, '$.spec.action') = 'isolate'
                AND json_extract(body, '$.spec.mode') = 'disconnect'
                AND json_extract(body, '$.spec.host') = ?2
                AND json_extract(body, '$.spec.container') = ?3
              ORDER BY seq DESC LIMIT 1",
        )
        .bind(deployment)
        .bind(host)
        .bind(container)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .flatten();
        Ok(sample
            .and_then(|s| serde_json::from_str::<Vec<String>>(&s).ok())
            .filter(|n| !n.is_empty()))
    }

    /// Checks everything (see [`ProblemKind`]): each entry's hash against its content,
    /// its MAC against the key, its link to the entry before, the sequence for gaps; the
    /// head file's MAC and whether the journal still reaches it; the `incidents` table
    /// against the incident entries. Problems are named by kind; benign findings are
    /// `notes`.
    pub async fn verify(&self) -> Result<Verification> {
        // Shared with other verifies, exclusive of appends: the head file, the entries
        // and the incidents are read at one moment.
        let _lock = head::lock(&self.head_path, false).await?;
        let head_file = head::read(&self.head_path)?;
        let entries = self.entries(None).await?;
        let incidents = self.incidents().await?;
        verify::verify(&self.key, &entries, head_file, &incidents)
    }

    /// [`Journal::verify`], and also that the journal still holds the head pasted into a
    /// ticket earlier (what no local check can tell after someone kept an old head file,
    /// truncated the journal back to it and put that file back).
    pub async fn verify_against(&self, pasted_seq: i64, pasted_hash: &str) -> Result<Verification> {
        let mut v = self.verify().await?;
        let entries = self.entries(None).await?;
        let last = entries.last().map_or(0, |e| e.seq);
        let problem = match entries.iter().find(|e| e.seq == pasted_seq) {
            _ if pasted_seq == 0 => None,
            Some(e) if e.hash.eq_ignore_ascii_case(pasted_hash) => None,
            Some(e) => Some(Problem {
                kind: ProblemKind::Rewritten,
                seq: Some(pasted_seq),
                message: format!(
                    "the pasted head says this entry's hash is {pasted_hash}, the journal holds {}",
                    e.hash
                ),
            }),
            None if pasted_seq > last => Some(Problem {
                kind: ProblemKind::TailTruncated,
                seq: Some(pasted_seq),
                message: format!("the pasted head names entry {pasted_seq} but the journal ends at {last}"),
            }),
            None => Some(Problem {
                kind: ProblemKind::Deleted,
                seq: Some(pasted_seq),
                message: "the pasted head names this entry, which is missing".into(),
            }),
        };
        if let Some(p) = problem {
            v.problems.push(p);
            v.ok = false;
        }
        Ok(v)
    }

    /// Opens an incident on `deployment`; its later entries belong to it until it is
    /// closed. Refused while the deployment has an open incident (one at a time: the
    /// journal must know where an entry goes). The row and its `incident.opened` entry
    /// (id, title, opened_at, opened_by, deployment) are one transaction.
    pub async fn open_incident(&self, deployment: &str, title: &str, operator: &str) -> Result<Incident> {
        let title = title.trim();
        if title.is_empty() || title.chars().count() > 200 || title.chars().any(char::is_control) {
            return Err(incident_error(
                "an incident title is 1 to 200 printable characters".into(),
            ));
        }
        let mut w = self.begin().await?;
        let result = async {
            let open: Option<(i64, String)> = sqlx::query_as(
                "SELECT id, title FROM incidents WHERE closed_at IS NULL AND deployment = ?1",
            )
            .bind(deployment)
            .fetch_optional(&mut *w.conn)
            .await
            .map_err(db)?;
            if let Some((id, t)) = open {
                return Err(incident_error(format!(
                    "{deployment} already has an open incident: {id} ({t:?}); add notes to it, or close it first"
                )));
            }
            let now = now_rfc3339();
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO incidents (title, opened_at, opened_by, deployment) VALUES (?1, ?2, ?3, ?4) RETURNING id",
            )
            .bind(title)
            .bind(&now)
            .bind(operator)
            .bind(deployment)
            .fetch_one(&mut *w.conn)
            .await
            .map_err(db)?;
            let inc = Incident {
                id,
                title: title.to_owned(),
                opened_at: now,
                opened_by: operator.to_owned(),
                closed_at: None,
                deployment: Some(deployment.to_owned()),
            };
            let e = self
                .insert(
                    &mut w.conn,
                    Some(id),
                    [deployment, &format!("incident-{id}"), operator, "incident.opened"],
                    serde_json::json!({
                        "id": id,
                        "title": inc.title,
                        "opened_at": inc.opened_at,
                        "opened_by": inc.opened_by,
                        "deployment": deployment,
                    }),
                )
                .await?;
            Ok((inc, e))
        }
        .await;
        Ok(self.finish(w, result).await?.0)
    }

    /// Closes incident `id`, and only it: refused if there is no such incident or it is
    /// closed already. The row's update and its `incident.closed` entry (id, closed_at)
    /// are one transaction.
    pub async fn close_incident(&self, id: i64, operator: &str) -> Result<()> {
        let mut w = self.begin().await?;
        let result = async {
            let row = sqlx::query("SELECT title, closed_at, deployment FROM incidents WHERE id = ?1")
                .bind(id)
                .fetch_optional(&mut *w.conn)
                .await
                .map_err(db)?;
            let Some(row) = row else {
                return Err(incident_error(format!("there is no incident {id}")));
            };
            let closed: Option<String> = row.try_get("closed_at").map_err(db)?;
            if let Some(at) = closed {
                let title: String = row.try_get("title").map_err(db)?;
                return Err(incident_error(format!(
                    "incident {id} ({title:?}) is already closed (at {at})"
                )));
            }
            let now = now_rfc3339();
            let done = sqlx::query("UPDATE incidents SET closed_at = ?1 WHERE id = ?2 AND closed_at IS NULL")
                .bind(&now)
                .bind(id)
                .execute(&mut *w.conn)
                .await
                .map_err(db)?;
            if done.rows_affected() != 1 {
                return Err(incident_error(format!("incident {id} could not be closed")));
            }
            let deployment: Option<String> = row.try_get("deployment").map_err(db)?;
            let e = self
                .insert(
                    &mut w.conn,
                    Some(id),
                    [
                        deployment.as_deref().unwrap_or(""),
                        &format!("incident-{id}"),
                        operator,
                        "incident.closed",
                    ],
                    serde_json::json!({ "id": id, "closed_at": now }),
                )
                .await?;
            Ok(((), e))
        }
        .await;
        self.finish(w, result).await?;
        Ok(())
    }

    /// A responder's note on an open incident: an `incident.note` entry in the chain, so
    /// it is evidence like the rest (1 to 4000 characters; line breaks and tabs kept,
    /// other control characters refused).
    pub async fn note(&self, id: i64, text: &str, operator: &str) -> Result<Entry> {
        let text = text.trim();
        if text.is_empty()
            || text.chars().count() > 4000
            || text.chars().any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            return Err(incident_error(
                "a note is 1 to 4000 characters, with no control characters but line breaks and tabs".into(),
            ));
        }
        let mut w = self.begin().await?;
        let result = async {
            let row: Option<(Option<String>, Option<String>)> =
                sqlx::query_as("SELECT closed_at, deployment FROM incidents WHERE id = ?1")
                    .bind(id)
                    .fetch_optional(&mut *w.conn)
                    .await
                    .map_err(db)?;
            let Some((closed, deployment)) = row else {
                return Err(Error::UnknownIncident { id });
            };
            if let Some(at) = closed {
                return Err(incident_error(format!(
                    "incident {id} was closed at {at}: its record is final"
                )));
            }
            let e = self
                .insert(
                    &mut w.conn,
                    Some(id),
                    [
                        deployment.as_deref().unwrap_or(""),
                        &format!("incident-{id}"),
                        operator,
                        "incident.note",
                    ],
                    serde_json::json!({ "id": id, "text": text }),
                )
                .await?;
            Ok(((), e))
        }
        .await;
        Ok(self.finish(w, result).await?.1)
    }

    pub async fn incidents(&self) -> Result<Vec<Incident>> {
        let rows = sqlx::query(
            "SELECT id, title, opened_at, opened_by, closed_at, deployment FROM incidents ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok(Incident {
                    id: r.try_get("id").map_err(db)?,
                    title: r.try_get("title").map_err(db)?,
                    opened_at: r.try_get("opened_at").map_err(db)?,
                    opened_by: r.try_get("opened_by").map_err(db)?,
                    closed_at: r.try_get("closed_at").map_err(db)?,
                    deployment: r.try_get("deployment").map_err(db)?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::state::State;

    const KEY: [u8; 32] = [7; 32];

    async fn journal() -> (tempfile::TempDir, Journal, State) {
        let dir = tempfile::tempdir().unwrap();
        let state = State::open(dir.path()).await.unwrap();
        let head = head_path(state.path());
        (
            dir,
            Journal::new(state.pool().clone(), head, JournalKey::from_bytes(KEY)),
            state,
        )
    }

    async fn append_n(j: &Journal, n: usize) {
        for i in 0..n {
            j.append(
                "prod",
                "run-1",
                "alice@laptop",
                "action.step",
                serde_json::json!({ "step": i }),
            )
            .await
            .unwrap();
        }
    }

    async fn three(j: &Journal) {
        append_n(j, 3).await;
    }

    /// What someone with the file does first.
    async fn drop_triggers(state: &State) {
        for t in [
            "journal_no_update",
            "journal_no_delete",
            "incidents_no_delete",
            "incidents_close_only",
        ] {
            sql(state, &format!("DROP TRIGGER {t}")).await;
        }
    }

    async fn sql(state: &State, q: &str) {
        sqlx::query(sqlx::AssertSqlSafe(q.to_owned()))
            .execute(state.pool())
            .await
            .unwrap();
    }

    fn kinds(v: &Verification) -> Vec<ProblemKind> {
        let mut k: Vec<_> = v.problems.iter().map(|p| p.kind).collect();
        k.sort();
        k.dedup();
        k
    }

    fn head_file(j: &Journal) -> std::path::PathBuf {
        j.head_path.clone()
    }

    #[tokio::test]
    async fn an_untouched_chain_verifies() {
        let (_d, j, _) = journal().await;
        let empty = j.verify().await.unwrap();
        assert!(empty.ok && empty.head.is_none(), "{empty:?}");
        assert_eq!(j.head().await.unwrap().seq, 0);
        three(&j).await;
        let v = j.verify().await.unwrap();
        assert_eq!((v.entries, v.ok), (3, true), "{:?}", v.problems);
        assert!(v.notes.is_empty(), "{:?}", v.notes);
        let e = j.entries(None).await.unwrap();
        assert_eq!(e[0].prev_hash, GENESIS);
        assert_eq!(e[1].prev_hash, e[0].hash);
        assert!(e.iter().all(|e| e.mac.is_some()));
        let head = j.head().await.unwrap();
        assert_eq!((head.seq, head.hash.as_str()), (3, e[2].hash.as_str()));
        assert_eq!(v.head.as_ref(), Some(&head));
        assert_eq!(
            head.line(),
            format!(
                "breakglass journal head: seq 3 sha256 {} at {}",
                e[2].hash, e[2].at
            )
        );
        let file: serde_json::Value = serde_json::from_slice(&std::fs::read(head_file(&j)).unwrap()).unwrap();
        assert_eq!(file["seq"], 3);
        assert_eq!(file["hash"], e[2].hash.as_str());
    }

    #[tokio::test]
    async fn updates_and_deletes_are_refused() {
        let (_d, j, state) = journal().await;
        three(&j).await;
        let upd = sqlx::query("UPDATE journal SET operator = 'mallory'")
            .execute(state.pool())
            .await;
        assert!(upd.unwrap_err().to_string().contains("append-only"));
        assert!(
            sqlx::query("DELETE FROM journal")
                .execute(state.pool())
                .await
                .is_err()
        );
        let inc = j.open_incident("prod", "x", "a").await.unwrap();
        for q in [
            "UPDATE incidents SET title = 'y'",
            "DELETE FROM incidents",
            "UPDATE incidents SET opened_by = 'mallory'",
        ] {
            assert!(sqlx::query(q).execute(state.pool()).await.is_err(), "{q}");
        }
        j.close_incident(inc.id, "a").await.unwrap();
        assert!(
            sqlx::query("UPDATE incidents SET closed_at = NULL")
                .execute(state.pool())
                .await
                .is_err()
        );
    }

    /// Someone with the file drops the triggers and edits, deletes or inserts: verify says so.
    #[tokio::test]
    async fn tampering_shows() {
        for (tamper, kind) in [
            (
                "UPDATE journal SET body = '{\"step\":99}' WHERE seq = 2",
                ProblemKind::Edited,
            ),
            ("DELETE FROM journal WHERE seq = 2", ProblemKind::Deleted),
            (
                "INSERT INTO journal SELECT 4, incident, at, operator, deployment, run_id, kind, body, prev_hash, 'x', mac FROM journal WHERE seq = 3",
                ProblemKind::Edited,
            ),
            (
                "UPDATE journal SET operator = 'someone-else' WHERE seq = 1",
                ProblemKind::Edited,
            ),
        ] {
            let (_d, j, state) = journal().await;
            three(&j).await;
            drop_triggers(&state).await;
            sql(&state, tamper).await;
            let v = j.verify().await.unwrap();
            assert!(!v.ok, "not detected: {tamper}");
            assert!(v.has(kind), "{tamper}: {:?}", v.problems);
        }
    }

    #[tokio::test]
    async fn an_edited_body_is_edited() {
        let (_d, j, state) = journal().await;
        append_n(&j, 5).await;
        drop_triggers(&state).await;
        sql(&state, "UPDATE journal SET body = '{\"step\":42}' WHERE seq = 2").await;
        let v = j.verify().await.unwrap();
        assert_eq!(kinds(&v), [ProblemKind::Edited], "{:?}", v.problems);
        assert_eq!(v.problems[0].seq, Some(2));
    }

    #[tokio::test]
    async fn a_deletion_in_the_middle_is_deleted() {
        let (_d, j, state) = journal().await;
        append_n(&j, 6).await;
        drop_triggers(&state).await;
        sql(&state, "DELETE FROM journal WHERE seq IN (3, 4)").await;
        let v = j.verify().await.unwrap();
        assert_eq!(kinds(&v), [ProblemKind::Deleted], "{:?}", v.problems);
        assert_eq!(v.problems[0].seq, Some(5));
        assert!(v.problems[0].message.contains("3–4"), "{}", v.problems[0]);
    }

    #[tokio::test]
    async fn a_deleted_tail_is_tail_truncated() {
        let (_d, j, state) = journal().await;
        append_n(&j, 10).await;
        drop_triggers(&state).await;
        sql(&state, "DELETE FROM journal WHERE seq > 6").await;
        let v = j.verify().await.unwrap();
        assert_eq!(kinds(&v), [ProblemKind::TailTruncated], "{:?}", v.problems);
        assert!(v.problems[0].message.contains("7–10"), "{}", v.problems[0]);
        // All of it, too.
        sql(&state, "DELETE FROM journal").await;
        let v = j.verify().await.unwrap();
        assert_eq!(kinds(&v), [ProblemKind::TailTruncated], "{:?}", v.problems);
    }

    /// Recomputes every hash after changing entry 2, as anyone can (SHA-256, no key).
    async fn rewrite(j: &Journal, state: &State, mac: Option<&str>) {
        let mut prev = GENESIS.to_owned();
        for mut e in j.entries(None).await.unwrap() {
            if e.seq == 2 {
                e.body = serde_json::json!({ "step": "nothing happened" });
            }
            e.prev_hash = prev.clone();
            e.hash = entry_hash(&e);
            let mac = match mac {
                Some("keep") => e.mac.clone(),
                Some(m) => Some(m.to_owned()),
                None => None,
            };
            sqlx::query("UPDATE journal SET body = ?1, prev_hash = ?2, hash = ?3, mac = ?4 WHERE seq = ?5")
                .bind(e.body.to_string())
                .bind(&e.prev_hash)
                .bind(&e.hash)
                .bind(mac)
                .bind(e.seq)
                .execute(state.pool())
                .await
                .unwrap();
            prev = e.hash;
        }
    }

    #[tokio::test]
    async fn a_full_rewrite_without_the_key_is_rewritten() {
        for (mac, delete_head, expected) in [
            (Some("keep"), false, vec![ProblemKind::Rewritten]),
            (
                Some("keep"),
                true,
                vec![ProblemKind::Rewritten, ProblemKind::HeadMissing],
            ),
            (Some("00ff"), false, vec![ProblemKind::Rewritten]),
            (
                None,
                false,
                vec![ProblemKind::Rewritten, ProblemKind::Unauthenticated],
            ),
            (
                None,
                true,
                vec![ProblemKind::Unauthenticated, ProblemKind::HeadMissing],
            ),
        ] {
            let (_d, j, state) = journal().await;
            append_n(&j, 4).await;
            drop_triggers(&state).await;
            rewrite(&j, &state, mac).await;
            if delete_head {
                std::fs::remove_file(head_file(&j)).unwrap();
            }
            let v = j.verify().await.unwrap();
            assert_eq!(kinds(&v), expected, "{mac:?} {delete_head}: {:?}", v.problems);
            assert!(!v.has(ProblemKind::Edited) && !v.has(ProblemKind::Deleted));
            if mac.is_some() {
                // Every rewritten entry is named.
                for seq in 2..=4 {
                    assert!(
                        v.problems
                            .iter()
                            .any(|p| p.kind == ProblemKind::Rewritten && p.seq == Some(seq)),
                        "{seq}: {:?}",
                        v.problems
                    );
                }
            }
        }
    }

    #[tokio::test]
    async fn entries_from_before_macs_are_vouched_for_by_a_later_one() {
        let (_d, j, state) = journal().await;
        append_n(&j, 3).await;
        drop_triggers(&state).await;
        sql(&state, "UPDATE journal SET mac = NULL WHERE seq < 3").await;
        let v = j.verify().await.unwrap();
        assert!(v.ok, "{:?}", v.problems);
    }

    #[tokio::test]
    async fn an_edited_incident_is_named() {
        let (_d, j, state) = journal().await;
        let a = j
            .open_incident("prod", "Leaked API token", "alice")
            .await
            .unwrap();
        let b = j.open_incident("staging", "Second", "bob").await.unwrap();
        append_n(&j, 2).await;
        j.close_incident(a.id, "alice").await.unwrap();
        assert!(j.verify().await.unwrap().ok);
        drop_triggers(&state).await;
        sql(
            &state,
            &format!(
                "UPDATE incidents SET title = 'Nothing to see' WHERE id = {}",
                a.id
            ),
        )
        .await;
        let v = j.verify().await.unwrap();
        assert_eq!(kinds(&v), [ProblemKind::IncidentEdited], "{:?}", v.problems);
        assert_eq!(v.problems.len(), 1);
        assert!(
            v.problems[0].message.contains(&format!("incident {}", a.id))
                && v.problems[0].message.contains("Nothing to see")
                && v.problems[0].message.contains("Leaked API token"),
            "{}",
            v.problems[0]
        );
        // Other edits: who opened it, a row removed, a row added.
        sql(
            &state,
            &format!("UPDATE incidents SET opened_by = 'mallory' WHERE id = {}", b.id),
        )
        .await;
        sql(
            &state,
            "INSERT INTO incidents (title, opened_at, opened_by) VALUES ('fake', 't', 'x')",
        )
        .await;
        let v = j.verify().await.unwrap();
        assert_eq!(v.problems.len(), 3, "{:?}", v.problems);
        assert_eq!(kinds(&v), [ProblemKind::IncidentEdited]);
        let mut conn = state.pool().acquire().await.unwrap();
        sqlx::query("PRAGMA foreign_keys = OFF")
            .execute(&mut *conn)
            .await
            .unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM incidents WHERE id = {}",
            b.id
        )))
        .execute(&mut *conn)
        .await
        .unwrap();
        sqlx::query("PRAGMA foreign_keys = ON")
            .execute(&mut *conn)
            .await
            .unwrap();
        drop(conn);
        let v = j.verify().await.unwrap();
        assert!(
            v.problems
                .iter()
                .any(|p| p.message.contains("missing from the incidents table")),
            "{:?}",
            v.problems
        );
    }

    #[tokio::test]
    async fn a_reopened_incident_is_named() {
        let (_d, j, state) = journal().await;
        let a = j
            .open_incident("prod", "Leaked API token", "alice")
            .await
            .unwrap();
        j.close_incident(a.id, "alice").await.unwrap();
        drop_triggers(&state).await;
        sql(&state, "UPDATE incidents SET closed_at = NULL").await;
        let v = j.verify().await.unwrap();
        assert_eq!(kinds(&v), [ProblemKind::IncidentEdited], "{:?}", v.problems);
        assert!(
            v.problems[0].message.contains("open (the journal closed it at"),
            "{}",
            v.problems[0]
        );
        // And one closed behind the journal's back.
        let b = j.open_incident("staging", "Other", "alice").await.unwrap();
        sql(
            &state,
            &format!("UPDATE incidents SET closed_at = 'now' WHERE id = {}", b.id),
        )
        .await;
        let v = j.verify().await.unwrap();
        assert!(
            v.problems.iter().any(|p| p.message.contains("never closed it")),
            "{:?}",
            v.problems
        );
    }

    #[tokio::test]
    async fn a_deleted_head_file_is_head_missing() {
        let (_d, j, _) = journal().await;
        three(&j).await;
        std::fs::remove_file(head_file(&j)).unwrap();
        let v = j.verify().await.unwrap();
        assert_eq!(kinds(&v), [ProblemKind::HeadMissing], "{:?}", v.problems);
        // The next append writes it again.
        three(&j).await;
        assert!(j.verify().await.unwrap().ok);
    }

    #[tokio::test]
    async fn a_forged_head_file_is_head_forged() {
        let (_d, j, _) = journal().await;
        three(&j).await;
        let path = head_file(&j);
        let real: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let mut later = real.clone();
        later["seq"] = 2.into();
        let mut other_key = real.clone();
        other_key["mac"] = auth::head_mac(
            &JournalKey::from_bytes([8; 32]),
            3,
            real["hash"].as_str().unwrap(),
            real["at"].as_str().unwrap(),
        )
        .unwrap()
        .into();
        for forged in [
            later.to_string(),
            other_key.to_string(),
            "not json".into(),
            "{}".into(),
        ] {
            std::fs::write(&path, &forged).unwrap();
            let v = j.verify().await.unwrap();
            assert_eq!(kinds(&v), [ProblemKind::HeadForged], "{forged}: {:?}", v.problems);
        }
    }

    /// An older, authentic head file put back: behind is a note (also what a crash
    /// between commit and head write leaves). Truncating the journal back to it as well
    /// cannot be seen locally: only the head pasted into the ticket catches it.
    #[tokio::test]
    async fn a_rolled_back_head_is_only_caught_by_the_pasted_head() {
        let (_d, j, state) = journal().await;
        append_n(&j, 5).await;
        let path = head_file(&j);
        let old = std::fs::read(&path).unwrap();
        append_n(&j, 4).await;
        let pasted = j.head().await.unwrap();
        assert_eq!(pasted.seq, 9);
        std::fs::write(&path, &old).unwrap();
        let v = j.verify().await.unwrap();
        assert!(v.ok, "{:?}", v.problems);
        assert!(v.notes.iter().any(|n| n.contains("behind by 4")), "{:?}", v.notes);

        drop_triggers(&state).await;
        sql(&state, "DELETE FROM journal WHERE seq > 5").await;
        let v = j.verify().await.unwrap();
        assert!(v.ok && v.notes.is_empty(), "locally undetectable: {v:?}");
        let v = j.verify_against(pasted.seq, &pasted.hash).await.unwrap();
        assert_eq!(kinds(&v), [ProblemKind::TailTruncated], "{:?}", v.problems);
        // A rewrite under the pasted head shows too.
        append_n(&j, 4).await;
        let v = j.verify_against(pasted.seq, &pasted.hash).await.unwrap();
        assert_eq!(kinds(&v), [ProblemKind::Rewritten], "{:?}", v.problems);
    }

    #[tokio::test]
    async fn the_key_is_in_neither_the_database_nor_the_head_file() {
        let (d, j, state) = journal().await;
        three(&j).await;
        let inc = j.open_incident("prod", "x", "a").await.unwrap();
        j.close_incident(inc.id, "a").await.unwrap();
        let hex_key = hex::encode(KEY);
        let mut scanned = 0;
        for entry in std::fs::read_dir(d.path()).unwrap() {
            let p = entry.unwrap().path();
            let bytes = std::fs::read(&p).unwrap();
            scanned += 1;
            let lower = String::from_utf8_lossy(&bytes).to_lowercase();
            assert!(!lower.contains(&hex_key), "hex key in {}", p.display());
            assert!(
                !bytes.windows(KEY.len()).any(|w| w == KEY),
                "raw key in {}",
                p.display()
            );
        }
        assert!(scanned >= 2, "state.db and journal.head");
        assert!(head_file(&j).exists() && state.path().exists());
    }

    #[tokio::test]
    async fn entries_belong_to_the_open_incident() {
        let (_d, j, _) = journal().await;
        j.append("prod", "r0", "a", "action.step", serde_json::json!({}))
            .await
            .unwrap();
        let inc = j
            .open_incident("prod", "Leaked API token", "alice")
            .await
            .unwrap();
        j.append("prod", "r1", "a", "action.step", serde_json::json!({}))
            .await
            .unwrap();
        j.close_incident(inc.id, "alice").await.unwrap();
        j.append("prod", "r2", "a", "action.step", serde_json::json!({}))
            .await
            .unwrap();
        let of = j.entries(Some(inc.id)).await.unwrap();
        let kinds: Vec<_> = of.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["incident.opened", "action.step", "incident.closed"]);
        assert_eq!(of[0].body["title"], "Leaked API token");
        assert_eq!(of[0].body["opened_at"], inc.opened_at.as_str());
        assert_eq!(of[0].body["opened_by"], "alice");
        assert_eq!(of[2].body["id"], inc.id);
        assert!(of[2].body["closed_at"].is_string());
        assert!(j.verify().await.unwrap().ok);
        assert!(j.open_incident("prod", " ", "a").await.is_err());
    }

    #[tokio::test]
    async fn each_deployment_has_its_own_incident_and_notes_are_in_the_chain() {
        let (_d, j, state) = journal().await;
        let prod = j
            .open_incident("prod", "Leaked API token", "alice")
            .await
            .unwrap();
        let again = j
            .open_incident("prod", "Again", "bob")
            .await
            .unwrap_err()
            .to_string();
        assert!(
            again.contains("already has an open incident") && again.contains("Leaked API token"),
            "{again}"
        );
        let staging = j.open_incident("staging", "Phishing", "bob").await.unwrap();
        j.append("prod", "r1", "a", "action.step", serde_json::json!({}))
            .await
            .unwrap();
        j.append("staging", "r2", "a", "action.step", serde_json::json!({}))
            .await
            .unwrap();
        let other = j
            .append("lab", "r3", "a", "action.step", serde_json::json!({}))
            .await
            .unwrap();
        assert_eq!(other.incident, None, "a deployment without an incident gets none");
        j.note(prod.id, "Called the CTO.\n\tToken came from a CI log.", "alice")
            .await
            .unwrap();
        for bad in ["", "  ", "bell\u{7}", &"x".repeat(4001)] {
            assert!(j.note(prod.id, bad, "alice").await.is_err(), "{bad:?} accepted");
        }
        assert!(matches!(
            j.note(99, "x", "a").await,
            Err(Error::UnknownIncident { id: 99 })
        ));
        let entry_kinds = |es: Vec<Entry>| es.into_iter().map(|e| e.kind).collect::<Vec<_>>();
        assert_eq!(
            entry_kinds(j.entries(Some(prod.id)).await.unwrap()),
            ["incident.opened", "action.step", "incident.note"]
        );
        assert_eq!(
            entry_kinds(j.entries(Some(staging.id)).await.unwrap()),
            ["incident.opened", "action.step"]
        );
        let view = j.incident(prod.id).await.unwrap();
        assert_eq!(view.incident.deployment.as_deref(), Some("prod"));
        assert!(view.timeline[2].what.contains("Token came from a CI log"));
        j.close_incident(prod.id, "alice").await.unwrap();
        let closed = j.note(prod.id, "late", "alice").await.unwrap_err().to_string();
        assert!(closed.contains("record is final"), "{closed}");
        assert_eq!(j.open_incident_of("prod").await.unwrap(), None);
        assert_eq!(
            j.open_incident_of("staging").await.unwrap().map(|i| i.id),
            Some(staging.id)
        );
        // A new incident on prod once the first is closed.
        j.open_incident("prod", "Second", "alice").await.unwrap();
        assert!(j.verify().await.unwrap().ok);
        // The deployment is guarded like the rest of the row, and checked against the chain.
        let refused = sqlx::query("UPDATE incidents SET deployment = 'lab' WHERE id = ?1")
            .bind(staging.id)
            .execute(state.pool())
            .await;
        assert!(refused.is_err());
        drop_triggers(&state).await;
        sql(
            &state,
            &format!(
                "UPDATE incidents SET deployment = 'lab' WHERE id = {}",
                staging.id
            ),
        )
        .await;
        let v = j.verify().await.unwrap();
        assert_eq!(kinds(&v), [ProblemKind::IncidentEdited], "{:?}", v.problems);
        assert!(v.problems[0].message.contains("\"lab\""), "{}", v.problems[0]);
    }

    #[tokio::test]
    async fn closing_names_exactly_one_open_incident() {
        let (_d, j, _) = journal().await;
        let a = j.open_incident("prod", "A", "alice").await.unwrap();
        let b = j.open_incident("staging", "B", "alice").await.unwrap();
        let before = j.entries(None).await.unwrap().len();
        let unknown = j.close_incident(99, "alice").await.unwrap_err().to_string();
        assert!(unknown.contains("no incident 99"), "{unknown}");
        j.close_incident(a.id, "alice").await.unwrap();
        let again = j.close_incident(a.id, "alice").await.unwrap_err().to_string();
        assert!(again.contains("already closed"), "{again}");
        // Only one entry was written: the refusals wrote nothing.
        assert_eq!(j.entries(None).await.unwrap().len(), before + 1);
        let list = j.incidents().await.unwrap();
        assert!(list[0].closed_at.is_some() && list[1].closed_at.is_none());
        assert_eq!(list[1].id, b.id);
        // The close entry belongs to A though B is the latest open one.
        let closed = j.entries(Some(a.id)).await.unwrap();
        assert_eq!(closed.last().unwrap().kind, "incident.closed");
        assert!(j.verify().await.unwrap().ok);
    }

    #[tokio::test]
    async fn parallel_appends_keep_one_chain_and_the_newest_head() {
        let (_d, j, _) = journal().await;
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let j = j.clone();
            tasks.push(tokio::spawn(async move { append_n(&j, 5).await }));
        }
        let checker = {
            let j = j.clone();
            tokio::spawn(async move {
                for _ in 0..10 {
                    let v = j.verify().await.unwrap();
                    assert!(v.ok && v.notes.is_empty(), "verify during appends: {v:?}");
                }
            })
        };
        for t in tasks {
            t.await.unwrap();
        }
        checker.await.unwrap();
        let v = j.verify().await.unwrap();
        assert!(v.ok && v.notes.is_empty(), "{v:?}");
        assert_eq!(v.entries, 20);
    }
}

#[cfg(test)]
mod pasted_head_tests {
    #[test]
    fn a_pasted_head_is_read_in_both_forms() {
        let h = "ab".repeat(32);
        let line = format!(
            "breakglass journal head: seq 42 sha256 {} at 2026-12-03T03:00:00Z",
            h.to_uppercase()
        );
        assert_eq!(super::parse_pasted_head(&line).unwrap(), (42, h.clone()));
        assert_eq!(
            super::parse_pasted_head(&format!(" 7:{h} ")).unwrap(),
            (7, h.clone())
        );
        for bad in [
            String::new(),
            "seq".into(),
            "7:abc".into(),
            format!("-1:{h}"),
            format!("x:{h}"),
            format!("7:{}", "zz".repeat(32)),
        ] {
            assert_eq!(
                super::parse_pasted_head(&bad).unwrap_err().code(),
                "journal.head",
                "{bad:?}"
            );
        }
    }
}
