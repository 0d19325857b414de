//! The journal's head kept outside the database: `journal.head` beside `state.db`, a
//! small JSON file `{seq, hash, at, mac}` naming the last entry, authenticated with the
//! journal key. Whoever deletes the last entries of the database must also roll this file
//! back to an older one they kept, or forge it (which needs the key).
//!
//! Written atomically after every append: a temporary file in the same directory (mode
//! 600), fsync, rename over the old one, fsync of the directory. Appends hold
//! `journal.head.lock` (an exclusive file lock) from `BEGIN IMMEDIATE` until the head is
//! renamed, so two processes cannot leave an older head over a newer one; `verify` holds
//! it shared, so it never sees a head written after the entries it read.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::engine::{Error, Result};

/// The last entry of the journal, as pasted into a ticket: `seq`, `hash` and `at` name it
/// (`seq` 0 and [`super::GENESIS`] for an empty journal).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Head {
    pub seq: i64,
    pub hash: String,
    pub at: String,
}

/// The head file: a [`Head`] and its MAC. Only `append` makes one (for the entry it has
/// just written), so the console never MACs a head it did not write.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(super) struct HeadFile {
    pub seq: i64,
    pub hash: String,
    pub at: String,
    pub mac: String,
}

impl Head {
    /// One line for a ticket: `breakglass journal head: seq 42 sha256 <hash> at <time>`.
    pub fn line(&self) -> String {
        format!(
            "breakglass journal head: seq {} sha256 {} at {}",
            self.seq,
            self.hash,
            if self.at.is_empty() { "-" } else { &self.at }
        )
    }
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::Journal {
        message: format!("{what} {}: {e}", path.display()),
    }
}

/// What is at `path`: `Ok(None)` if there is no file, `Err(text)` if it is not a head.
pub(super) fn read(path: &Path) -> Result<Option<std::result::Result<HeadFile, String>>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(
            serde_json::from_slice::<HeadFile>(&bytes).map_err(|e| format!("not a journal head ({e})")),
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err("cannot read the journal head", path, e)),
    }
}

/// Replaces the head file atomically (see the module's documentation).
pub(super) fn write(path: &Path, head: &HeadFile) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "journal.head".into());
    let tmp = dir.join(format!(
        ".{name}.{}.{:016x}.tmp",
        std::process::id(),
        rand::random::<u64>()
    ));
    let text = serde_json::to_vec(head).map_err(|e| Error::Journal {
        message: format!("cannot encode the journal head: {e}"),
    })?;
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| io_err("cannot create", &tmp, e))?;
        f.write_all(&text).map_err(|e| io_err("cannot write", &tmp, e))?;
        f.sync_all().map_err(|e| io_err("cannot sync", &tmp, e))?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(|e| io_err("cannot replace", path, e))?;
        // The rename itself is durable once the directory is synced.
        if let Ok(d) = std::fs::File::open(&dir) {
            d.sync_all().map_err(|e| io_err("cannot sync", &dir, e))?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The lock on the head: exclusive for appends (held across commit and head write),
/// shared for `verify` (so it reads the head file and the tables of one moment).
/// Released on drop, and by the OS if the process dies.
pub(super) async fn lock(head_path: &Path, exclusive: bool) -> Result<std::fs::File> {
    let path = head_path.with_extension("head.lock");
    tokio::task::spawn_blocking(move || {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|e| io_err("cannot open the journal lock", &path, e))?;
        if exclusive { f.lock() } else { f.lock_shared() }.map_err(|e| io_err("cannot lock", &path, e))?;
        Ok(f)
    })
    .await
    .map_err(|e| Error::Journal {
        message: format!("the journal lock task failed: {e}"),
    })?
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn written_atomically_with_mode_600() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("journal.head");
        assert_eq!(read(&p).unwrap(), None);
        let h = HeadFile {
            seq: 3,
            hash: "ab".into(),
            at: "t".into(),
            mac: "cd".into(),
        };
        write(&p, &h).unwrap();
        write(&p, &h).unwrap();
        assert_eq!(read(&p).unwrap(), Some(Ok(h.clone())));
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let names: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["journal.head"], "no temporary file left");
        std::fs::write(&p, "garbage").unwrap();
        assert!(matches!(read(&p).unwrap(), Some(Err(_))));
        assert_eq!(
            Head {
                seq: 3,
                hash: "ab".into(),
                at: "t".into()
            }
            .line(),
            "breakglass journal head: seq 3 sha256 ab at t"
        );
    }
}
