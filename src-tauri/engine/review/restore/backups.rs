//! The backups a profile points at: the files of one folder on one host and the sets of
//! a pgBackRest repository (an S3 bucket's objects: `super::s3`), newest first, each with
//! the time it was taken (from a timestamp in its name, else its mtime), its age and its
//! format (by name, then checked by its first bytes before a restore).
//!
//! Not for: restoring (see `super`).

use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::engine::ssh::Session;
use crate::engine::ssh::output::{display_safe, shell_quote};
use crate::engine::{Error, Result};

/// At most this many files are listed (the newest are kept).
const MAX_LISTED: usize = 500;

/// How a backup file is restored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "kebab-case")]
pub enum BackupFormat {
    /// `pg_dump -Fc`: `pg_restore`, in parallel.
    Custom,
    /// `pg_dump -Ft`: `pg_restore`.
    Tar,
    /// `pg_dump -Fd`: a folder with `toc.dat`; `pg_restore`, in parallel.
    Directory,
    /// A backup set of a pgBackRest repository (physical): `pgbackrest restore` into a
    /// scratch data directory, and a PostgreSQL started on it for the test.
    PgBackRest,
    /// Plain SQL: `psql`.
    Plain,
    /// Plain SQL, gzipped: `gzip -dc | psql`.
    PlainGzip,
    /// Not a kind of backup the console knows.
    Unknown,
}

/// How a backup file is encrypted (its name ends in `.age`, `.gpg` or `.asc`): decrypted
/// on the server, the key from the keychain (`backup-key`) on stdin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "kebab-case")]
pub enum Encryption {
    /// `age -d -i`: the key is an age identity (`AGE-SECRET-KEY-1…`).
    Age,
    /// `gpg --decrypt`, symmetric: the key is the passphrase.
    Gpg,
}

impl Encryption {
    /// The encryption a name says, and the name without its extension.
    pub fn from_name(name: &str) -> (Option<Encryption>, &str) {
        let n = name.to_ascii_lowercase();
        for (ext, e) in [
            (".age", Encryption::Age),
            (".gpg", Encryption::Gpg),
            (".asc", Encryption::Gpg),
        ] {
            if n.ends_with(ext) {
                return (Some(e), &name[..name.len() - ext.len()]);
            }
        }
        (None, name)
    }

    /// Whether the file's first bytes are this encryption's.
    pub fn check_magic(self, head: &[u8]) -> std::result::Result<(), String> {
        if head.is_empty() {
            return Err("the file is empty".into());
        }
        let ok = match self {
            Encryption::Age => {
                head.starts_with(b"age-encryption.org/")
                    || head.starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----")
            }
            // An OpenPGP packet header (its high bit set), or ASCII armour.
            Encryption::Gpg => head[0] & 0x80 != 0 || head.starts_with(b"-----BEGIN PGP MESSAGE-----"),
        };
        if ok {
            Ok(())
        } else {
            Err(format!(
                "its name says {self:?}-encrypted, but it does not start as such a file"
            ))
        }
    }
}

impl BackupFormat {
    /// From the file's name (without an encryption extension).
    pub fn from_name(name: &str) -> BackupFormat {
        let n = name.to_ascii_lowercase();
        if n.ends_with(".sql.gz") {
            BackupFormat::PlainGzip
        } else if n.ends_with(".sql") {
            BackupFormat::Plain
        } else if n.ends_with(".tar") {
            BackupFormat::Tar
        } else if n.ends_with(".dump")
            || n.ends_with(".backup")
            || n.ends_with(".pgdump")
            || n.ends_with(".custom")
        {
            BackupFormat::Custom
        } else {
            BackupFormat::Unknown
        }
    }

    /// Whether the file's first bytes are what this format starts with; `Err` says what
    /// they are instead.
    pub fn check_magic(self, head: &[u8]) -> std::result::Result<(), String> {
        if head.is_empty() {
            return Err("the file is empty".into());
        }
        let gzip = head.starts_with(&[0x1f, 0x8b]);
        let pgdmp = head.starts_with(b"PGDMP");
        let ok = match self {
            BackupFormat::Custom => pgdmp,
            BackupFormat::PlainGzip => gzip,
            // A tar archive's first block is a file name: text, then NULs.
            BackupFormat::Tar => !gzip && !pgdmp,
            // Checked on its `toc.dat`, which starts as a custom archive does.
            BackupFormat::Directory => pgdmp,
            // pgBackRest checks its own sets.
            BackupFormat::PgBackRest => true,
            BackupFormat::Plain => !gzip && !pgdmp && !head.contains(&0),
            BackupFormat::Unknown => false,
        };
        if ok {
            return Ok(());
        }
        let is = if pgdmp {
            "a pg_dump custom-format archive"
        } else if gzip {
            "gzip data"
        } else if head.contains(&0) {
            "binary data"
        } else {
            "text"
        };
        Err(format!("its name says {self:?}, but it starts as {is}"))
    }
}

/// Where a backup is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum BackupStore {
    /// A file (or a directory-format dump) in the backup folder on `host`.
    Folder,
    /// An object of the S3 bucket: `name` is its key; fetched by `host` for the test.
    S3,
    /// A set of the pgBackRest repository on `host`.
    PgBackRest,
}

/// One backup file.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct BackupFile {
    /// The file's name; an S3 object's key; a pgBackRest set's label.
    pub name: String,
    /// Absolute, on `host`; `s3://bucket/key` for an S3 object.
    pub path: String,
    /// The host the backup is restored from.
    pub host: String,
    pub store: BackupStore,
    pub size: u64,
    /// When it was taken (RFC 3339).
    pub taken_at: String,
    /// `name` (a timestamp in the file name) or `mtime`.
    pub taken_from: String,
    pub age_secs: u64,
    /// The format of the backup itself (once decrypted, when it is encrypted).
    pub format: BackupFormat,
    pub encryption: Option<Encryption>,
    /// The PostgreSQL major version of a pgBackRest set (its binaries start the copy).
    pub pg_version: Option<String>,
    #[serde(skip)]
    #[cfg_attr(test, ts(skip))]
    pub taken: SystemTime,
}

/// A timestamp in a file name, read as UTC: `2026-12-03`, `20261203`, either followed by
/// a time (`T0300`, `_03-00-00`, `-030000`). `None` when there is none.
pub fn time_in_name(name: &str) -> Option<(SystemTime, bool)> {
    let b = name.as_bytes();
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    for start in 0..b.len() {
        if start > 0 && b[start - 1].is_ascii_digit() {
            continue;
        }
        // The date: YYYY-MM-DD or YYYYMMDD.
        let (date, mut i) = if b.len() >= start + 10
            && digits(&b[start..start + 4])
            && b[start + 4] == b'-'
            && digits(&b[start + 5..start + 7])
            && b[start + 7] == b'-'
            && digits(&b[start + 8..start + 10])
        {
            (
                (
                    &name[start..start + 4],
                    &name[start + 5..start + 7],
                    &name[start + 8..start + 10],
                ),
                start + 10,
            )
        } else if b.len() >= start + 8
            && digits(&b[start..start + 8])
            && b.get(start + 8).is_none_or(|c| !c.is_ascii_digit())
        {
            (
                (
                    &name[start..start + 4],
                    &name[start + 4..start + 6],
                    &name[start + 6..start + 8],
                ),
                start + 8,
            )
        } else {
            continue;
        };
        let (y, m, d) = date;
        if !(y.starts_with("19") || y.starts_with("20")) {
            continue;
        }
        // The time, if any: a separator, then HH[:-]?MM([:-]?SS)?.
        let mut time = ("00", "00", "00");
        let mut has_time = false;
        if matches!(b.get(i), Some(b'T' | b't' | b'_' | b'-' | b' ' | b'.')) {
            let j = i + 1;
            let two = |k: usize| b.len() >= k + 2 && digits(&b[k..k + 2]);
            if two(j) {
                let sep = |k: usize| matches!(b.get(k), Some(b':' | b'-' | b'.'));
                let k = if sep(j + 2) { j + 3 } else { j + 2 };
                if two(k) {
                    let hh = &name[j..j + 2];
                    let mm = &name[k..k + 2];
                    let l = if sep(k + 2) { k + 3 } else { k + 2 };
                    let ss = if two(l) { &name[l..l + 2] } else { "00" };
                    time = (hh, mm, ss);
                    has_time = true;
                    i = l;
                }
            }
        }
        let _ = i;
        let text = format!("{y}-{m}-{d}T{}:{}:{}Z", time.0, time.1, time.2);
        if let Ok(t) = humantime::parse_rfc3339(&text) {
            return Some((t, has_time));
        }
    }
    None
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Lists the backups in `path` on the host behind `session`, newest first. A folder that
/// does not exist or holds no backup is an error that says so.
pub async fn list(
    session: &Session,
    host: &str,
    path: &str,
    pattern: Option<&str>,
) -> Result<Vec<BackupFile>> {
    let pattern = pattern.unwrap_or("*");
    // NUL-separated: a file name may hold anything but '/' and NUL. Files, and folders
    // that hold a `toc.dat` (directory-format dumps, their size summed by du).
    let q = shell_quote(pattern);
    let cmd = format!(
        "cd -- {} && find . -mindepth 1 -maxdepth 1 \\( -type f -name {q} -printf 'f\\t%T@\\t%s\\t%f\\0' \\) \
         -o \\( -type d -name {q} -exec test -f '{{}}/toc.dat' \\; -printf 'd\\t%T@\\t0\\t%f\\0' \\)",
        shell_quote(path)
    );
    let out = session.exec_capped(&cmd, None, 4 * 1024 * 1024).await?;
    if !out.success() {
        return Err(Error::Restore {
            message: format!(
                "the backup folder {} on {host} cannot be read: {}",
                display_safe(path.as_bytes()),
                display_safe(&out.stderr).trim()
            ),
        });
    }
    let now = SystemTime::now();
    let mut files = Vec::new();
    for rec in out.stdout.split(|&b| b == 0).filter(|r| !r.is_empty()) {
        let text = String::from_utf8_lossy(rec);
        let mut parts = text.splitn(4, '\t');
        let (Some(kind), Some(mtime), Some(size), Some(name)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let Ok(mtime) = mtime.parse::<f64>() else { continue };
        let Ok(size) = size.parse::<u64>() else { continue };
        if name.chars().any(char::is_control) {
            continue;
        }
        let mtime = SystemTime::UNIX_EPOCH + Duration::from_secs_f64(mtime.max(0.0));
        // A date alone in the name: the mtime, when it is that day; else the day's start.
        let (taken, from) = match time_in_name(name) {
            Some((t, true)) => (t, "name"),
            Some((t, false)) => {
                let day_end = t + Duration::from_secs(86_400);
                if mtime >= t && mtime < day_end {
                    (mtime, "mtime")
                } else {
                    (t, "name")
                }
            }
            None => (mtime, "mtime"),
        };
        files.push(BackupFile {
            name: name.to_owned(),
            path: format!("{}/{name}", path.trim_end_matches('/')),
            host: host.to_owned(),
            size,
            taken_at: rfc3339(taken),
            taken_from: from.into(),
            age_secs: now.duration_since(taken).map(|d| d.as_secs()).unwrap_or(0),
            format: if kind == "d" {
                BackupFormat::Directory
            } else {
                BackupFormat::from_name(Encryption::from_name(name).1)
            },
            encryption: if kind == "d" {
                None
            } else {
                Encryption::from_name(name).0
            },
            pg_version: None,
            store: BackupStore::Folder,
            taken,
        });
    }
    sort_newest_first(&mut files);
    files.truncate(MAX_LISTED);
    // A directory-format dump's size: what its files hold.
    for f in files.iter_mut().filter(|f| f.format == BackupFormat::Directory) {
        let du = session
            .exec(&format!("du -sb -- {} | cut -f1", shell_quote(&f.path)), None)
            .await?;
        f.size = String::from_utf8_lossy(&du.stdout).trim().parse().unwrap_or(0);
    }
    Ok(files)
}

/// The prefix that runs a command as the repository's OS user: `runuser -u USER --` when
/// the console is logged in as root, `sudo -n -u USER --` otherwise, decided on the host
/// (an `~/.ssh/config` alias may pick the login user). `os_user` is checked by the
/// profile (letters, digits, `_ - .`), so it needs no quoting inside the substitution.
pub fn as_user(os_user: &str) -> String {
    format!(
        "$(if [ \"$(id -u)\" -eq 0 ]; then echo runuser -u {os_user} --; else echo sudo -n -u {os_user} --; fi)"
    )
}

/// Newest first, then by name.
pub fn sort_newest_first(files: &mut [BackupFile]) {
    files.sort_by(|a, b| b.taken.cmp(&a.taken).then_with(|| a.name.cmp(&b.name)));
}

/// `pgbackrest [--config=…] --stanza=…`, quoted.
pub fn pgbackrest_cmd(pb: &crate::engine::profiles::PgBackRest) -> String {
    let mut c = String::from("pgbackrest");
    if let Some(conf) = &pb.config {
        c += &format!(" --config={}", shell_quote(conf.get_ref()));
    }
    c += &format!(" --stanza={}", shell_quote(pb.stanza.get_ref()));
    c
}

/// The sets of a pgBackRest repository, newest first, from `pgbackrest info --output=json`
/// (sets pgBackRest marks in error are left out).
pub fn parse_pgbackrest_info(
    json: &[u8],
    stanza: &str,
    host: &str,
) -> std::result::Result<Vec<BackupFile>, String> {
    let v: serde_json::Value =
        serde_json::from_slice(json).map_err(|e| format!("pgbackrest info did not print JSON: {e}"))?;
    let Some(st) = v.as_array().and_then(|a| {
        a.iter()
            .find(|s| s.get("name").and_then(serde_json::Value::as_str) == Some(stanza))
    }) else {
        return Err(format!("pgbackrest info knows no stanza {stanza:?}"));
    };
    let versions: std::collections::HashMap<u64, String> = st
        .get("db")
        .and_then(serde_json::Value::as_array)
        .map(|dbs| {
            dbs.iter()
                .filter_map(|d| Some((d.get("id")?.as_u64()?, d.get("version")?.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    let now = SystemTime::now();
    let mut out = Vec::new();
    for b in st
        .get("backup")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
    {
        if b.get("error").and_then(serde_json::Value::as_bool) == Some(true) {
            continue;
        }
        let (Some(label), Some(stop)) = (
            b.get("label").and_then(serde_json::Value::as_str),
            b.pointer("/timestamp/stop").and_then(serde_json::Value::as_u64),
        ) else {
            continue;
        };
        if label.is_empty()
            || !label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            continue;
        }
        let taken = SystemTime::UNIX_EPOCH + Duration::from_secs(stop);
        let version = b
            .pointer("/database/id")
            .and_then(serde_json::Value::as_u64)
            .and_then(|id| versions.get(&id).cloned());
        out.push(BackupFile {
            name: label.to_owned(),
            path: format!("pgbackrest:{stanza}/{label}"),
            host: host.to_owned(),
            size: b
                .pointer("/info/size")
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0),
            taken_at: rfc3339(taken),
            taken_from: "pgbackrest".into(),
            age_secs: now.duration_since(taken).map(|d| d.as_secs()).unwrap_or(0),
            format: BackupFormat::PgBackRest,
            encryption: None,
            pg_version: version.filter(|v| v.chars().all(|c| c.is_ascii_digit() || c == '.')),
            store: BackupStore::PgBackRest,
            taken,
        });
    }
    out.sort_by_key(|b| std::cmp::Reverse(b.taken));
    Ok(out)
}

/// The sets of the profile's pgBackRest repository, on the backups' host.
pub async fn list_pgbackrest(
    session: &Session,
    host: &str,
    pb: &crate::engine::profiles::PgBackRest,
) -> Result<Vec<BackupFile>> {
    let cmd = format!(
        "{} {} info --output=json",
        as_user(&pb.os_user),
        pgbackrest_cmd(pb)
    );
    let out = session.exec_capped(&cmd, None, 8 * 1024 * 1024).await?;
    if !out.success() {
        return Err(Error::Restore {
            message: format!(
                "pgbackrest info on {host} failed: {}",
                display_safe(&out.stderr).trim()
            ),
        });
    }
    parse_pgbackrest_info(&out.stdout, pb.stanza.get_ref(), host)
        .map_err(|message| Error::Restore { message })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> SystemTime {
        humantime::parse_rfc3339(s).unwrap()
    }

    #[test]
    fn timestamps_are_read_from_names_as_people_write_them() {
        for (name, want, has_time) in [
            ("sandbox-2026-12-03.dump", "2026-12-03T00:00:00Z", false),
            ("db_20261203_031500.sql.gz", "2026-12-03T03:15:00Z", true),
            ("prod-2026-12-03T03:15:07Z.dump", "2026-12-03T03:15:07Z", true),
            ("backup.2026-12-03_03-15-00.tar", "2026-12-03T03:15:00Z", true),
            ("x20261203.dump", "2026-12-03T00:00:00Z", false),
            ("v2-2026-01-31-0400.dump", "2026-01-31T04:00:00Z", true),
        ] {
            assert_eq!(time_in_name(name), Some((at(want), has_time)), "{name}");
        }
        for name in [
            "plain.sql",
            "12345678901.dump",
            "2026-13-45.dump",
            "v1234.dump",
            "9999-01-01.dump",
            "",
        ] {
            assert_eq!(time_in_name(name), None, "{name}");
        }
    }

    #[test]
    fn pgbackrest_sets_are_read_from_its_json_newest_first_errors_left_out() {
        let json = br#"[{"name":"main","db":[{"id":1,"version":"15"}],"backup":[
            {"label":"20261201-010000F","timestamp":{"start":1796000000,"stop":1796000100},"info":{"size":100},"database":{"id":1},"error":false},
            {"label":"20261202-010000F_20261202-020000I","timestamp":{"start":1796100000,"stop":1796100100},"info":{"size":50},"database":{"id":1},"error":false},
            {"label":"bad; rm -rf /","timestamp":{"start":1,"stop":2},"error":false},
            {"label":"20261203-010000F","timestamp":{"start":1796200000,"stop":1796200100},"error":true}]}]"#;
        let sets = parse_pgbackrest_info(json, "main", "db1").unwrap();
        let labels: Vec<&str> = sets.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(labels, ["20261202-010000F_20261202-020000I", "20261201-010000F"]);
        assert_eq!(sets[0].pg_version.as_deref(), Some("15"));
        assert!(
            parse_pgbackrest_info(json, "other", "db1")
                .unwrap_err()
                .contains("no stanza")
        );
        assert!(parse_pgbackrest_info(b"not json", "main", "db1").is_err());
    }

    #[test]
    fn formats_come_from_names_and_are_checked_against_first_bytes() {
        assert_eq!(BackupFormat::from_name("a.dump"), BackupFormat::Custom);
        assert_eq!(BackupFormat::from_name("a.SQL.GZ"), BackupFormat::PlainGzip);
        assert_eq!(BackupFormat::from_name("a.sql"), BackupFormat::Plain);
        assert_eq!(
            Encryption::from_name("a.dump.age"),
            (Some(Encryption::Age), "a.dump")
        );
        assert_eq!(
            Encryption::from_name("a.sql.gz.GPG"),
            (Some(Encryption::Gpg), "a.sql.gz")
        );
        assert_eq!(Encryption::from_name("a.dump"), (None, "a.dump"));
        assert!(Encryption::Age.check_magic(b"age-encryption.org/v1\n").is_ok());
        assert!(Encryption::Age.check_magic(b"PGDMP").is_err());
        assert!(Encryption::Gpg.check_magic(&[0x8c, 0x0d]).is_ok());
        assert!(Encryption::Gpg.check_magic(b"PGDMP").is_err());
        assert_eq!(BackupFormat::from_name("notes.txt"), BackupFormat::Unknown);
        assert!(BackupFormat::Custom.check_magic(b"PGDMP\x01\x0e").is_ok());
        assert!(
            BackupFormat::Custom
                .check_magic(b"")
                .unwrap_err()
                .contains("empty")
        );
        assert!(
            BackupFormat::Custom
                .check_magic(b"\x1f\x8b\x08")
                .unwrap_err()
                .contains("gzip")
        );
        assert!(BackupFormat::PlainGzip.check_magic(b"\x1f\x8b\x08").is_ok());
        assert!(BackupFormat::Plain.check_magic(b"--\n-- PostgreSQL").is_ok());
        assert!(BackupFormat::Plain.check_magic(b"PGDMP").is_err());
    }
}
