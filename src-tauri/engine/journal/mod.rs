//! The journal: what was done, by whom, when, to which deployment, with each step's
//! outcome. Local SQLite, append-only (triggers refuse UPDATE and DELETE), and
//! hash-chained: every entry stores the SHA-256 of the previous entry's hash and its own
//! content, so [`Journal::verify`] finds an entry that was edited, inserted or deleted
//! even by someone who dropped the triggers. Entries belong to an incident, which exports
//! as a Markdown or HTML report.
//!
//! Callers pass plans, counts, names and outcomes: never a secret value. The engine's
//! tests scan the database for the deployment's secrets after every action.

mod operator;
mod report;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::sqlite::SqlitePool;

use crate::engine::state::now_rfc3339;
use crate::engine::{Error, Result};

pub use operator::operator;
pub use report::{render_html, render_markdown};

/// The hash before the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
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
    pub body: serde_json::Value,
    pub prev_hash: String,
    pub hash: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Incident {
    pub id: i64,
    pub title: String,
    pub opened_at: String,
    pub opened_by: String,
    pub closed_at: Option<String>,
}

/// What `verify` found.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Verification {
    pub entries: usize,
    pub ok: bool,
    /// One line per problem, naming the entry.
    pub problems: Vec<String>,
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
/// every field but the hash itself.
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

impl Journal {
    pub fn new(pool: SqlitePool, head_path: std::path::PathBuf, key: JournalKey) -> Self {
        Journal { pool, head_path, key }
    }

    /// Appends one entry, chained to the last. One writer at a time (an IMMEDIATE
    /// transaction), so two runs in parallel cannot fork the chain.
    pub async fn append(
        &self,
        deployment: &str,
        run_id: &str,
        operator: &str,
        kind: &str,
        body: serde_json::Value,
    ) -> Result<Entry> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut *conn)
            .await
            .map_err(db)?;
        let result = async {
            let last = sqlx::query("SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&mut *conn)
                .await
                .map_err(db)?;
            let (seq, prev_hash) = match last {
                Some(r) => (r.try_get::<i64, _>("seq").map_err(db)? + 1, r.try_get("hash").map_err(db)?),
                None => (1, GENESIS.to_owned()),
            };
            let incident: Option<i64> =
                sqlx::query_scalar("SELECT id FROM incidents WHERE closed_at IS NULL ORDER BY id DESC LIMIT 1")
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(db)?;
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
            };
            e.hash = entry_hash(&e);
            sqlx::query(
                "INSERT INTO journal (seq, incident, at, operator, deployment, run_id, kind, body, prev_hash, hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
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
            .execute(&mut *conn)
            .await
            .map_err(db)?;
            Ok(e)
        }
        .await;
        let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
        sqlx::query(end).execute(&mut *conn).await.map_err(db)?;
        result
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
        rows.iter()
            .map(|r| {
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
                })
            })
            .collect()
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

    /// Walks the whole chain: each entry's hash must match its content, link to the
    /// previous entry's hash, and the sequence must have no gap.
    pub async fn verify(&self) -> Result<Verification> {
        let entries = self.entries(None).await?;
        let mut problems = Vec::new();
        let mut prev = GENESIS.to_owned();
        let mut expected_seq = 1;
        for e in &entries {
            if e.seq != expected_seq {
                problems.push(format!(
                    "entry {}: expected entry {expected_seq} here (an entry was deleted or inserted)",
                    e.seq
                ));
            }
            if e.prev_hash != prev {
                problems.push(format!(
                    "entry {}: does not link to the entry before it (inserted, deleted or reordered)",
                    e.seq
                ));
            }
            if entry_hash(e) != e.hash {
                problems.push(format!(
                    "entry {}: its content does not match its hash (edited)",
                    e.seq
                ));
            }
            prev = e.hash.clone();
            expected_seq = e.seq + 1;
        }
        Ok(Verification {
            entries: entries.len(),
            ok: problems.is_empty(),
            problems,
        })
    }

    /// Opens an incident; later entries belong to it until it is closed.
    pub async fn open_incident(&self, title: &str, operator: &str) -> Result<Incident> {
        let title = title.trim();
        if title.is_empty() || title.len() > 200 || title.chars().any(char::is_control) {
            return Err(Error::Journal {
                message: "an incident title is 1 to 200 printable characters".into(),
            });
        }
        let now = now_rfc3339();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO incidents (title, opened_at, opened_by) VALUES (?1, ?2, ?3) RETURNING id",
        )
        .bind(title)
        .bind(&now)
        .bind(operator)
        .fetch_one(&self.pool)
        .await
        .map_err(db)?;
        self.append(
            "",
            &format!("incident-{id}"),
            operator,
            "incident.opened",
            serde_json::json!({ "title": title }),
        )
        .await?;
        Ok(Incident {
            id,
            title: title.to_owned(),
            opened_at: now,
            opened_by: operator.to_owned(),
            closed_at: None,
        })
    }

    pub async fn close_incident(&self, id: i64, operator: &str) -> Result<()> {
        self.append(
            "",
            &format!("incident-{id}"),
            operator,
            "incident.closed",
            serde_json::json!({}),
        )
        .await?;
        sqlx::query("UPDATE incidents SET closed_at = ?1 WHERE id = ?2 AND closed_at IS NULL")
            .bind(now_rfc3339())
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    pub async fn incidents(&self) -> Result<Vec<Incident>> {
        let rows =
            sqlx::query("SELECT id, title, opened_at, opened_by, closed_at FROM incidents ORDER BY id")
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
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::state::State;

    async fn journal() -> (tempfile::TempDir, Journal, State) {
        let dir = tempfile::tempdir().unwrap();
        let state = State::open(dir.path()).await.unwrap();
        let head = head_path(state.path());
        (
            dir,
            Journal::new(state.pool().clone(), head, JournalKey::from_bytes([7; 32])),
            state,
        )
    }

    async fn three(j: &Journal) {
        for i in 0..3 {
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

    #[tokio::test]
    async fn an_untouched_chain_verifies() {
        let (_d, j, _) = journal().await;
        three(&j).await;
        let v = j.verify().await.unwrap();
        assert_eq!((v.entries, v.ok), (3, true), "{:?}", v.problems);
        let e = j.entries(None).await.unwrap();
        assert_eq!(e[0].prev_hash, GENESIS);
        assert_eq!(e[1].prev_hash, e[0].hash);
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
    }

    /// Someone with the file drops the triggers and edits, deletes or inserts: verify says so.
    #[tokio::test]
    async fn tampering_shows() {
        for tamper in [
            "UPDATE journal SET body = '{\"step\":99}' WHERE seq = 2",
            "DELETE FROM journal WHERE seq = 2",
            "INSERT INTO journal SELECT 4, incident, at, operator, deployment, run_id, kind, body, prev_hash, 'x' FROM journal WHERE seq = 3",
            "UPDATE journal SET operator = 'someone-else' WHERE seq = 1",
        ] {
            let (_d, j, state) = journal().await;
            three(&j).await;
            sqlx::query("DROP TRIGGER journal_no_update")
                .execute(state.pool())
                .await
                .unwrap();
            sqlx::query("DROP TRIGGER journal_no_delete")
                .execute(state.pool())
                .await
                .unwrap();
            sqlx::query(tamper).execute(state.pool()).await.unwrap();
            let v = j.verify().await.unwrap();
            assert!(!v.ok, "not detected: {tamper}");
        }
    }

    #[tokio::test]
    async fn entries_belong_to_the_open_incident() {
        let (_d, j, _) = journal().await;
        j.append("prod", "r0", "a", "action.step", serde_json::json!({}))
            .await
            .unwrap();
        let inc = j.open_incident("Leaked API token", "alice").await.unwrap();
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
        assert!(j.verify().await.unwrap().ok);
        assert!(j.open_incident(" ", "a").await.is_err());
    }
}
