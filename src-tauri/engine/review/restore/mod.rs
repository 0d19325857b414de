//! The restore test: proves that a backup restores, with evidence. The newest backup (or
//! the one named) is restored **on the server side** — `pg_restore` or `psql` run over SSH
//! on the backup's host into a scratch database made for the test on the deployment's
//! PostgreSQL; the dump never travels to this machine — then the restored database is
//! compared with production (tables and columns, row counts, the app profile's
//! invariants, the newest row), and the scratch database is dropped, whatever happened.
//!
//! Backups come from a folder on the backups' host, an S3-compatible bucket (the host
//! fetches the object into a scratch directory with a presigned URL: `s3`), or a
//! pgBackRest repository (restored into a scratch data directory and started on a Unix
//! socket). Encrypted ones (age, gpg) are decrypted on the host, the key on stdin.
//!
//! A backup is good only when every check passes: a truncated, corrupt, empty, foreign
//! or stale backup fails, with the reason. The RTO is the restore's wall time (with the
//! download, for a bucket's object); the RPO is the age of the newest row restored (which
//! can be older than the file's date). Scratch databases carry a comment, and scratch
//! directories a marker file, naming the console and process that made them; the next
//! test removes those whose process is gone (a console that was killed).
//!
//! Journal: `restore.started` before the scratch database is made, `restore.finished`
//! after it is dropped (passed or not, cancelled or failed).
//!
//! Where it restores: a scratch database on the deployment's own PostgreSQL, or (when
//! the profile says so, the default for a database that runs in Docker) a throwaway
//! PostgreSQL container on the backups' host (`container`).

pub mod backups;
mod container;
pub mod s3;
mod verify;

use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use self::backups::{BackupFile, BackupFormat, BackupStore, Encryption};
use crate::engine::actions::Cancel;
use crate::engine::db::{DbCredentials, RemoteDb};
use crate::engine::profiles::{Database, DbTls};
use crate::engine::ssh::Session;
use crate::engine::ssh::output::{display_safe, shell_quote};
use crate::engine::{Engine, Error, Result, keychain};

/// A restore is stopped after this long (a 1 GB dump restores in minutes).
const RESTORE_LIMIT: Duration = Duration::from_secs(6 * 3600);
/// What a restore prints is kept up to this size (its errors and warnings).
const OUTPUT_CAP: usize = 256 * 1024;
/// Scratch databases are named with this prefix, and carry [`LABEL`] in their comment.
const PREFIX: &str = "bg_restore_";
const LABEL: &str = "breakglass restore test";

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Pass,
    Warn,
    Fail,
}

/// One finding of a restore test, with its evidence.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct RestoreCheck {
    /// `backup`, `age`, `format`, `disk`, `download` (a bucket's object), `restore`,
    /// `schema`, `rows`, `invariants`, `newest_row`, `cleanup`.
    pub name: String,
    pub status: CheckStatus,
    pub detail: String,
}

/// The result of a restore test.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct RestoreReport {
    pub deployment: String,
    pub run_id: String,
    pub backup: Option<BackupFile>,
    /// The scratch database the backup was restored into (dropped since).
    pub scratch: Option<String>,
    pub started_at: String,
    /// Wall time of the restore itself (the RTO).
    pub rto_ms: Option<u64>,
    pub backup_age_secs: Option<u64>,
    /// The age of the newest row restored: the data lost if disaster struck now.
    pub data_rpo_secs: Option<u64>,
    pub newest_row_at: Option<String>,
    pub rpo_target_secs: u64,
    pub checks: Vec<RestoreCheck>,
    /// Every check passed (warnings allowed), and the scratch database is gone.
    pub passed: bool,
    pub cancelled: bool,
    pub cleaned_up: bool,
    /// Scratch databases of earlier tests, left by a console that was killed, dropped now.
    pub leftovers_removed: Vec<String>,
    pub took_ms: u64,
}

impl RestoreReport {
    fn check(&mut self, name: &str, status: CheckStatus, detail: impl Into<String>) {
        self.checks.push(RestoreCheck {
            name: name.into(),
            status,
            detail: detail.into(),
        });
    }
    fn failed(&self) -> bool {
        self.checks.iter().any(|c| c.status == CheckStatus::Fail)
    }
}

/// One restore test as the journal keeps it (the history the window charts).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct RestoreRun {
    /// When it finished (the journal entry's time).
    pub at: String,
    pub run_id: String,
    pub backup: Option<String>,
    pub passed: bool,
    pub cancelled: bool,
    pub rto_ms: Option<u64>,
    pub backup_age_secs: Option<u64>,
    pub data_rpo_secs: Option<u64>,
    /// The checks that failed, by name.
    pub failed: Vec<String>,
}

/// Progress of a restore test, as it happens.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RestoreEvent {
    /// A phase began: `listing`, `creating`, `downloading`, `restoring`, `verifying`,
    /// `cleaning`.
    Phase { phase: String, detail: String },
    /// A check came out.
    Check { check: RestoreCheck },
}

/// What every phase of one restore test works with.
#[derive(Clone, Copy)]
struct Test<'a> {
    deployment: &'a str,
    b: &'a crate::engine::profiles::Backups,
    dbp: &'a Database,
    app: &'a crate::engine::profiles::app::AppProfile,
    file: &'a BackupFile,
    operator: &'a str,
    cancel: &'a Cancel,
    phase: &'a (dyn Fn(&str, String) + Send + Sync),
    emit_check: &'a (dyn Fn(&RestoreReport) + Send + Sync),
}

/// The verdict (every check without a failure, the scratch copy gone, not cancelled),
/// journaled as `restore.finished` with the whole report, which is handed back.
async fn finish(
    journal: &crate::engine::journal::Journal,
    operator: &str,
    mut report: RestoreReport,
    started: Instant,
) -> Result<RestoreReport> {
    report.passed = !report.failed() && report.cleaned_up && !report.cancelled;
    report.took_ms = ms(started.elapsed());
    journal
        .append(
            &report.deployment,
            &report.run_id,
            operator,
            "restore.finished",
            serde_json::to_value(&report).unwrap_or_default(),
        )
        .await?;
    Ok(report)
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// `"bg_restore_…"` quoted (the name is ours: letters, digits and `_`).
fn qname(name: &str) -> String {
    format!("\"{name}\"")
}

/// The comment a scratch database carries: who made it, when.
fn label(operator: &str) -> String {
    format!(
        "{LABEL}; operator={}; pid={}; started={}",
        operator.replace([';', '\''], "_"),
        std::process::id(),
        now_rfc3339()
    )
}

/// Whether a scratch database's comment says it was left behind: made by a process of
/// this console that is gone, or more than [`RESTORE_LIMIT`] ago.
fn is_leftover(comment: &str, operator: &str) -> bool {
    let field = |k: &str| {
        comment
            .split("; ")
            .find_map(|f| f.strip_prefix(k).and_then(|r| r.strip_prefix('=')))
    };
    let started = field("started").and_then(|t| humantime::parse_rfc3339(t).ok());
    let old = started.is_none_or(|t| {
        SystemTime::now()
            .duration_since(t)
            .is_ok_and(|age| age > RESTORE_LIMIT)
    });
    let ours_and_gone = field("operator") == Some(&operator.replace([';', '\''], "_"))
        && field("pid")
            .and_then(|p| p.parse::<u32>().ok())
            .is_some_and(|pid| {
                pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists()
            });
    comment.starts_with(LABEL) && (old || ours_and_gone)
}

/// The shell command that restores `file` into `scratch` on the backup's host. The
/// password comes first on stdin (never in argv, never on disk); the rest is fixed text
/// and quoted values.
fn restore_command(file: &BackupFile, db: &Database, user: &str, scratch: &str) -> String {
    let host = match &db.socket {
        Some(dir) => dir.get_ref().clone(),
        None => db.address.clone(),
    };
    let conn = format!(
        "-h {} -p {} -U {} -d {}",
        shell_quote(&host),
        db.port,
        shell_quote(user),
        shell_quote(scratch)
    );
    let sslmode = match db.tls {
        DbTls::Disable => "prefer",
        DbTls::Require | DbTls::VerifyFull => "require",
    };
    let f = shell_quote(&file.path);
    // The decrypted stream, when the file is encrypted: the key is the second line of
    // stdin, handed to the tool through a pipe (never argv, never a file). gpg gets a
    // home of its own, removed after.
    let decrypt = match file.encryption {
        Some(Encryption::Age) => Some(format!("age -d -i <(printf '%s\\n' \"$BG_KEY\") -- {f}")),
        Some(Encryption::Gpg) => Some(format!(
            "GNUPGHOME=\"$BG_GPG\" gpg --batch --quiet --no-tty --pinentry-mode loopback --passphrase-fd 3 --decrypt -- {f} 3< <(printf '%s' \"$BG_KEY\")"
        )),
        None => None,
    };
    let psql = format!("nice -n 10 psql -X -q -v ON_ERROR_STOP=0 {conn}");
    let work = match (file.format, &decrypt) {
        (BackupFormat::Custom, None) => {
            format!("exec nice -n 10 pg_restore --no-owner --no-acl --jobs=2 {conn} {f}")
        }
        (BackupFormat::Tar, None) => format!("exec nice -n 10 pg_restore --no-owner --no-acl {conn} {f}"),
        (BackupFormat::Directory, _) => {
            format!("exec nice -n 10 pg_restore --no-owner --no-acl --jobs=2 {conn} {f}")
        }
        (BackupFormat::Plain, None) => format!("exec {psql} -f {f}"),
        (BackupFormat::PlainGzip, None) => format!("gzip -dc -- {f} | {psql}"),
        // From a pipe pg_restore cannot work in parallel (it needs to seek).
        (BackupFormat::Custom | BackupFormat::Tar, Some(d)) => {
            format!("{d} | nice -n 10 pg_restore --no-owner --no-acl {conn}")
        }
        (BackupFormat::Plain, Some(d)) => format!("{d} | {psql}"),
        (BackupFormat::PlainGzip, Some(d)) => format!("{d} | gzip -dc | {psql}"),
        (BackupFormat::Unknown | BackupFormat::PgBackRest, _) => "exit 99".into(),
    };
    let tool = if matches!(
        file.format,
        BackupFormat::Custom | BackupFormat::Tar | BackupFormat::Directory
    ) {
        "pg_restore"
    } else {
        "psql"
    };
    let key = match file.encryption {
        None => String::new(),
        Some(e) => {
            let bin = if e == Encryption::Age { "age" } else { "gpg" };
            format!(
                "IFS= read -r BG_KEY || exit 96; \
                 command -v {bin} >/dev/null || {{ echo '{bin} is not installed on this host' >&2; exit 98; }}; \
                 BG_GPG=$(mktemp -d) || exit 95; trap 'rm -rf \"$BG_GPG\"' EXIT; "
            )
        }
    };
    format!(
        "set -o pipefail; IFS= read -r PGPASSWORD || exit 97; export PGPASSWORD; {key}\
         export PGAPPNAME=breakglass-restore-test PGCONNECT_TIMEOUT=15 PGSSLMODE={sslmode}; \
         command -v {tool} >/dev/null || {{ echo '{tool} is not installed on this host' >&2; exit 98; }}; \
         {work}"
    )
}

fn human_bytes(b: u64) -> String {
    if b >= 1 << 30 {
        format!("{:.1} GiB", b as f64 / f64::from(1u32 << 30))
    } else if b >= 1 << 20 {
        format!("{:.0} MiB", b as f64 / f64::from(1u32 << 20))
    } else {
        format!("{} KiB", b.div_ceil(1024))
    }
}

/// A line of `psql`/`pg_restore` output that quotes the dump's data (`CONTEXT: COPY …,
/// column x: "…"`, `DETAIL: Key (email)=(…)`, `LINE 1: …`): never copied into a report or
/// the journal, which outlive the scratch database.
fn quotes_data(line: &str) -> bool {
    ["CONTEXT:", "DETAIL:", "LINE ", "HINT:", "Command was:"]
        .iter()
        .any(|k| line.contains(k))
}

/// An error about a value (`invalid input syntax for type integer: "…"`, `value too long`,
/// a violated constraint) with the quoted value elided: it is the dump's data. Errors
/// about names (`relation "users" does not exist`) keep them.
fn elide_values(line: &str) -> String {
    let about_values = [
        "invalid input",
        "out of range",
        "violates",
        "duplicate key",
        "value too long",
    ]
    .iter()
    .any(|k| line.contains(k));
    if !about_values {
        return line.to_owned();
    }
    let mut out = String::with_capacity(line.len());
    let mut inside = false;
    for c in line.chars() {
        if c == '"' {
            if inside {
                out.push_str("…\"");
            } else {
                out.push('"');
            }
            inside = !inside;
        } else if !inside {
            out.push(c);
        }
    }
    out
}

/// At most `max` bytes of `s`, on a character boundary.
fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Free space `avail` against what a copy of production needs.
fn judge_disk(avail: u64, needed: u64) -> (CheckStatus, String) {
    if avail < needed {
        (
            CheckStatus::Fail,
            format!(
                "{} free where the database keeps its data, about {} needed (production's size and a fifth): not restored, so that the test cannot fill the disk production writes to",
                human_bytes(avail),
                human_bytes(needed)
            ),
        )
    } else {
        (
            CheckStatus::Pass,
            format!(
                "{} free, about {} needed",
                human_bytes(avail),
                human_bytes(needed)
            ),
        )
    }
}

/// Scratch directories (a pgBackRest copy, a bucket's object) are made here on the
/// backups' host, each beside a marker file `<dir>.breakglass` naming who made it.
const SCRATCH_ROOT: &str = "/var/tmp";

const UNKNOWN_FORMAT: &str =
    "not a format the console restores (.dump, .tar, .sql, .sql.gz, each also .age or .gpg)";

/// Whether the file on the host is what its name says, by its first bytes (a directory
/// dump's `toc.dat`; an encrypted file's header): the `format` check, into `report`.
async fn format_check(session: &Session, file: &BackupFile, report: &mut RestoreReport) -> Result<()> {
    if file.format == BackupFormat::Unknown {
        report.check("format", CheckStatus::Fail, UNKNOWN_FORMAT);
        return Ok(());
    }
    let path = if file.format == BackupFormat::Directory {
        format!("{}/toc.dat", file.path)
    } else {
        file.path.clone()
    };
    let head = session
        .exec_capped(&format!("head -c 64 -- {}", shell_quote(&path)), None, 128)
        .await?;
    let verdict = if !head.success() {
        Err(format!(
            "the file cannot be read: {}",
            display_safe(&head.stderr).trim()
        ))
    } else {
        match file.encryption {
            Some(e) => e.check_magic(&head.stdout),
            None => file.format.check_magic(&head.stdout),
        }
    };
    match verdict {
        Ok(()) => report.check(
            "format",
            CheckStatus::Pass,
            match file.encryption {
                Some(e) => format!("{:?}, {e:?}-encrypted, as its first bytes say", file.format),
                None => format!("{:?}, as its first bytes say", file.format),
            },
        ),
        Err(why) => report.check("format", CheckStatus::Fail, why),
    }
    Ok(())
}

/// The bytes free in the file system of `dir` on the host (`df`), if it answers.
async fn free_bytes(session: &Session, dir: &str) -> Option<u64> {
    session
        .exec(
            &format!("df -Pk -- {} | awk 'NR==2 {{print $4}}'", shell_quote(dir)),
            None,
        )
        .await
        .ok()
        .filter(|o| o.success())
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse::<u64>().ok())
        .map(|kib| kib.saturating_mul(1024))
}

/// Free space in [`SCRATCH_ROOT`] on the host against `needed`.
async fn free_space(session: &Session, needed: u64) -> (CheckStatus, String) {
    match free_bytes(session, SCRATCH_ROOT).await {
        None => (
            CheckStatus::Warn,
            format!("df of {SCRATCH_ROOT} did not answer: free space not checked"),
        ),
        Some(a) if a < needed => (
            CheckStatus::Fail,
            format!(
                "{} free, about {} needed: not started, so that the test cannot fill the disk",
                human_bytes(a),
                human_bytes(needed)
            ),
        ),
        Some(a) => (
            CheckStatus::Pass,
            format!("{} free, about {} needed", human_bytes(a), human_bytes(needed)),
        ),
    }
}

/// Makes the scratch directory `dir` (mode 700, as `as_os` when it is not empty) beside
/// its marker.
async fn make_scratch_dir(
    session: &Session,
    host: &str,
    dir: &str,
    as_os: &str,
    operator: &str,
) -> Result<()> {
    let made = session
        .exec(
            &format!(
                "umask 077; printf '%s' {} > {} && {as_os} mkdir -m 700 -- {}",
                shell_quote(&label(operator)),
                shell_quote(&format!("{dir}.breakglass")),
                shell_quote(dir)
            ),
            None,
        )
        .await?;
    if made.success() {
        Ok(())
    } else {
        Err(Error::Restore {
            message: format!(
                "the scratch directory {dir} could not be made on {host}: {}",
                display_safe(&made.stderr).trim()
            ),
        })
    }
}

/// The shell text that stops what may still run in a scratch directory — a PostgreSQL
/// started on a pgBackRest copy, a `curl` still fetching — and removes it and its marker
/// (as the repository's OS user for a pgBackRest copy, which that user owns).
fn remove_dir_command(dir: &str, b: &crate::engine::profiles::Backups) -> String {
    let q = shell_quote(dir);
    let marker = shell_quote(&format!("{dir}.breakglass"));
    let curl = format!(
        "p=$(cat {q}/curl.pid 2>/dev/null) && [ \"$(cat /proc/$p/comm 2>/dev/null)\" = curl ] && kill \"$p\"; "
    );
    match &b.pgbackrest {
        Some(pb) => {
            let as_os = backups::as_user(&pb.os_user);
            format!(
                "{curl}if [ -f {q}/postmaster.pid ]; then {as_os} \"$(dirname \"$(readlink -f /proc/$(head -n1 {q}/postmaster.pid)/exe)\")/pg_ctl\" -D {q} stop -m immediate >/dev/null 2>&1; fi; \
                 rm -rf -- {q} 2>/dev/null || {as_os} rm -rf -- {q}; rm -f -- {marker}; ! test -e {q}"
            )
        }
        None => format!("{curl}rm -rf -- {q}; rm -f -- {marker}; ! test -e {q}"),
    }
}

/// Scratch directories in [`SCRATCH_ROOT`] left by a console that was killed (their
/// marker says whose process made them, and it is gone), removed; their names go into
/// `report.leftovers_removed`.
async fn remove_leftover_dirs(
    session: &Session,
    b: &crate::engine::profiles::Backups,
    operator: &str,
    report: &mut RestoreReport,
) -> Result<()> {
    let out = session
        .exec(
            &format!("for m in {SCRATCH_ROOT}/{PREFIX}*.breakglass; do [ -f \"$m\" ] && printf '%s\\t%s\\0' \"$m\" \"$(head -c 512 \"$m\")\"; done; true"),
            None,
        )
        .await?;
    for rec in out.stdout.split(|&c| c == 0).filter(|r| !r.is_empty()) {
        let text = String::from_utf8_lossy(rec);
        let Some((marker, comment)) = text.split_once('\t') else {
            continue;
        };
        let Some(dir) = marker.strip_suffix(".breakglass") else {
            continue;
        };
        let name = dir.rsplit('/').next().unwrap_or_default();
        let ours = dir == format!("{SCRATCH_ROOT}/{name}")
            && name.len() == PREFIX.len() + 16
            && name.starts_with(PREFIX)
            && name[PREFIX.len()..].bytes().all(|c| c.is_ascii_hexdigit());
        if ours && is_leftover(comment, operator) {
            let gone = session.exec(&remove_dir_command(dir, b), None).await?;
            if gone.success() {
                report.leftovers_removed.push(name.to_owned());
            }
        }
    }
    Ok(())
}

/// Drops a scratch database. `WITH (FORCE)` ends the restore's own connections that may
/// linger (a `pg_restore` worker of a failed restore), but may not end an autovacuum
/// worker, which a freshly loaded copy attracts (a superuser process: "must be a member
/// of the role whose process is being terminated"); a plain `DROP DATABASE` waits that
/// one out. Both are tried, a few times, a second apart.
async fn drop_scratch(admin: &RemoteDb, name: &str) -> std::result::Result<(), sqlx::Error> {
    let force = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", qname(name));
    let plain = format!("DROP DATABASE IF EXISTS {}", qname(name));
    let mut last = None;
    for attempt in 0..5 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        for sql in [&force, &plain] {
            match sqlx::raw_sql(crate::engine::actions::sql::audited(sql))
                .execute(&admin.pool)
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) => last = Some(e),
            }
        }
    }
    Err(last.unwrap_or(sqlx::Error::PoolClosed))
}

/// What a restore printed, judged: errors fail the test; an ownership error of a plain
/// dump restored with another role (`role "app" does not exist`, `must be owner`) is a
/// warning, as `pg_restore --no-owner` would have skipped it.
fn judge_output(format: BackupFormat, status: Option<u32>, stderr: &str) -> (CheckStatus, String) {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let is_error = |l: &str| {
        l.contains("ERROR:") || l.contains("error:") || l.contains("FATAL:") || l.starts_with("gzip:")
    };
    let ownership = |l: &str| {
        (l.contains("role \"") && l.contains("does not exist"))
            || l.contains("must be owner of")
            || l.contains("must be member of role")
    };
    let errors: Vec<String> = lines
        .iter()
        .copied()
        .filter(|l| is_error(l) && !ownership(l) && !quotes_data(l))
        .map(|l| elide_values(cut(l, 300)))
        .collect();
    let owner_errors = lines.iter().filter(|l| is_error(l) && ownership(l)).count();
    let first: Vec<&str> = errors.iter().take(5).map(String::as_str).collect();
    let plain = matches!(format, BackupFormat::Plain | BackupFormat::PlainGzip);
    match status {
        Some(0) if errors.is_empty() => {
            if owner_errors > 0 {
                (
                    CheckStatus::Warn,
                    format!(
                        "restored; {owner_errors} ownership statements did not apply (restored as another role)"
                    ),
                )
            } else if lines.is_empty() {
                (CheckStatus::Pass, "restored with no error or warning".into())
            } else {
                (
                    CheckStatus::Pass,
                    format!("restored; {} line(s) of notices, no error", lines.len()),
                )
            }
        }
        Some(97 | 96) => (
            CheckStatus::Fail,
            "the password or the key did not reach the restore".into(),
        ),
        Some(98) => (CheckStatus::Fail, stderr.trim().to_owned()),
        _ if plain && status == Some(0) => (
            CheckStatus::Fail,
            format!(
                "psql reported {} error(s) (a plain dump does not stop on them): {}",
                errors.len(),
                first.join(" | ")
            ),
        ),
        s => (
            CheckStatus::Fail,
            format!(
                "the restore ended with {}{}: {}",
                s.map(|c| format!("exit status {c}"))
                    .unwrap_or_else(|| "no exit status".into()),
                if errors.len() > 5 {
                    format!(" and {} errors, the first 5", errors.len())
                } else {
                    String::new()
                },
                if first.is_empty() {
                    lines
                        .iter()
                        .rev()
                        .filter(|l| !quotes_data(l))
                        .map(|l| elide_values(cut(l, 300)))
                        .take(3)
                        .collect::<Vec<_>>()
                        .join(" | ")
                } else {
                    first.join(" | ")
                }
            ),
        ),
    }
}

impl Engine {
    /// The restore tests of a deployment, oldest first, from the journal.
    pub async fn restore_history(&self, deployment: &str) -> Result<Vec<RestoreRun>> {
        let entries = self.journal().await?.entries(None).await?;
        Ok(entries
            .into_iter()
            .filter(|e| e.deployment == deployment && e.kind == "restore.finished")
            .map(|e| {
                let b = &e.body;
                let num = |k: &str| b.get(k).and_then(serde_json::Value::as_u64);
                RestoreRun {
                    at: e.at.clone(),
                    run_id: e.run_id.clone(),
                    backup: b
                        .pointer("/backup/name")
                        .and_then(serde_json::Value::as_str)
                        .map(str::to_owned),
                    passed: b
                        .get("passed")
                        .and_then(serde_json::Value::as_bool)
                        .unwrap_or(false),
                    cancelled: b
                        .get("cancelled")
                        .and_then(serde_json::Value::as_bool)
                        .unwrap_or(false),
                    rto_ms: num("rto_ms"),
                    backup_age_secs: num("backup_age_secs"),
                    data_rpo_secs: num("data_rpo_secs"),
                    failed: b
                        .get("checks")
                        .and_then(serde_json::Value::as_array)
                        .map(|cs| {
                            cs.iter()
                                .filter(|c| {
                                    c.get("status").and_then(serde_json::Value::as_str) == Some("fail")
                                })
                                .filter_map(|c| {
                                    c.get("name")
                                        .and_then(serde_json::Value::as_str)
                                        .map(str::to_owned)
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                }
            })
            .collect())
    }

    /// When the last restore test that passed finished (for the hardening audit).
    pub async fn last_good_restore(&self, deployment: &str) -> Result<Option<String>> {
        Ok(self
            .restore_history(deployment)
            .await?
            .into_iter()
            .rev()
            .find(|r| r.passed)
            .map(|r| r.at))
    }

    /// The backups the profile's `[backups]` points at, newest first.
    pub async fn backups(&self, deployment: &str) -> Result<Vec<BackupFile>> {
        let profile = self.profile(deployment).await?;
        let b = profile.backups.as_ref().ok_or_else(|| Error::Restore {
            message: format!(
                "the profile of {deployment} has no [backups] (host and path of the backup folder)"
            ),
        })?;
        let host = b.host.get_ref();
        let pattern = b.pattern.as_ref().map(|p| p.get_ref().as_str());
        let mut all = Vec::new();
        if let Some(path) = &b.path {
            let session = self.session(deployment, host).await?;
            all.extend(backups::list(&session, host, path.get_ref(), pattern).await?);
        }
        if let Some(s3) = &b.s3 {
            all.extend(self.s3_store(deployment, s3).await?.list(host, pattern).await?);
        }
        if let Some(pb) = &b.pgbackrest {
            let session = self.session(deployment, host).await?;
            all.extend(backups::list_pgbackrest(&session, host, pb).await?);
        }
        backups::sort_newest_first(&mut all);
        Ok(all)
    }

    /// The profile's bucket, with its keys from the keychain.
    async fn s3_store(&self, deployment: &str, s3: &crate::engine::profiles::S3Bucket) -> Result<s3::Store> {
        let access = self.keychain().get(deployment, keychain::S3_ACCESS_KEY).await?;
        let secret = self.keychain().get(deployment, keychain::S3_SECRET_KEY).await?;
        s3::Store::new(s3, &access, &secret)
    }

    /// Restores the newest backup (or `backup`, by file name) into a scratch database,
    /// verifies it against production, and drops it. A backup that does not restore, or
    /// restores into something that is not production's data, is a report that did not
    /// pass; an `Err` means the test could not be made (no `[backups]`, no role that may
    /// create a database…).
    pub async fn restore_test(
        &self,
        deployment: &str,
        backup: Option<&str>,
        events: &(dyn Fn(RestoreEvent) + Send + Sync),
        cancel: &Cancel,
    ) -> Result<RestoreReport> {
        let started = Instant::now();
        let profile = self.profile(deployment).await?;
        let b = profile.backups.clone().ok_or_else(|| Error::Restore {
            message: format!(
                "the profile of {deployment} has no [backups] (host and path of the backup folder)"
            ),
        })?;
        let dbp = profile.database.clone().ok_or_else(|| Error::NoDatabase {
            deployment: deployment.to_owned(),
        })?;
        let app = self.app_profile(deployment).await?;
        let operator = crate::engine::connect::operator();
        let journal = self.journal().await?;
        let run_id = hex::encode(rand::random::<[u8; 8]>());
        let mut report = RestoreReport {
            deployment: deployment.to_owned(),
            run_id: run_id.clone(),
            backup: None,
            scratch: None,
            started_at: now_rfc3339(),
            rto_ms: None,
            backup_age_secs: None,
            data_rpo_secs: None,
            newest_row_at: None,
            rpo_target_secs: b.rpo().as_secs(),
            checks: Vec::new(),
            passed: false,
            cancelled: false,
            cleaned_up: true,
            leftovers_removed: Vec::new(),
            took_ms: 0,
        };
        let emit_check = |r: &RestoreReport| {
            if let Some(c) = r.checks.last() {
                events(RestoreEvent::Check { check: c.clone() });
            }
        };
        let phase = |p: &str, d: String| {
            events(RestoreEvent::Phase {
                phase: p.into(),
                detail: d,
            })
        };

        // The backup: the one named, or the newest.
        phase("listing", b.place());
        let files = self.backups(deployment).await?;
        let chosen = match backup {
            Some(name) => files.iter().find(|f| f.name == name).cloned(),
            None => files
                .iter()
                .find(|f| !matches!(f.format, BackupFormat::Unknown))
                .cloned(),
        };
        let Some(file) = chosen else {
            let why = match backup {
                Some(name) => format!(
                    "no backup named {:?} in {}",
                    display_safe(name.as_bytes()),
                    b.place()
                ),
                None => format!(
                    "no backup in {}{}",
                    b.place(),
                    if files.is_empty() {
                        String::new()
                    } else {
                        format!(
                            " ({} file(s), none of a format the console restores)",
                            files.len()
                        )
                    }
                ),
            };
            report.check("backup", CheckStatus::Fail, why);
            emit_check(&report);
            return finish(&journal, &operator, report, started).await;
        };
        report.backup_age_secs = Some(file.age_secs);
        report.backup = Some(file.clone());
        report.check(
            "backup",
            CheckStatus::Pass,
            format!(
                "{} ({} bytes, {:?}), taken {} (from its {})",
                display_safe(file.name.as_bytes()),
                file.size,
                file.format,
                file.taken_at,
                file.taken_from
            ),
        );
        emit_check(&report);
        let target = b.rpo();
        let age = Duration::from_secs(file.age_secs);
        report.check(
            "age",
            if age > target {
                CheckStatus::Fail
            } else {
                CheckStatus::Pass
            },
            format!(
                "{} old; the RPO target is {}",
                humantime::format_duration(Duration::from_secs(file.age_secs / 60 * 60)),
                humantime::format_duration(target)
            ),
        );
        emit_check(&report);

        // The file is what its name says (a pgBackRest set: pgBackRest checks its own; a
        // bucket's object is checked once the host has it).
        if file.store == BackupStore::Folder {
            let session = self.session(deployment, b.host.get_ref()).await?;
            format_check(&session, &file, &mut report).await?;
            emit_check(&report);
        } else if file.store == BackupStore::S3 && file.format == BackupFormat::Unknown {
            report.check("format", CheckStatus::Fail, UNKNOWN_FORMAT);
            emit_check(&report);
        }

        journal
            .append(
                deployment,
                &run_id,
                &operator,
                "restore.started",
                serde_json::json!({
                    "backup": file.name, "host": file.host, "size": file.size,
                    "taken_at": file.taken_at, "format": file.format,
                }),
            )
            .await?;
        // A stale backup is still restored (its data's own age is evidence too); one that
        // is not a backup of a known format is not.
        let unusable = report
            .checks
            .iter()
            .any(|c| c.status == CheckStatus::Fail && (c.name == "format" || c.name == "backup"));
        let test = Test {
            deployment,
            b: &b,
            dbp: &dbp,
            app: &app,
            file: &file,
            operator: &operator,
            cancel,
            phase: &phase,
            emit_check: &emit_check,
        };
        let outcome = if unusable {
            Ok(())
        } else {
            match file.store {
                BackupStore::PgBackRest => self.restore_pgbackrest(&test, &mut report).await,
                BackupStore::S3 => self.restore_s3(&test, &mut report).await,
                BackupStore::Folder => self.restore_file(&test, &mut report).await,
            }
        };
        if let Err(e) = &outcome {
            report.check("restore", CheckStatus::Fail, format!("the test stopped: {e}"));
            emit_check(&report);
        }
        finish(&journal, &operator, report, started).await
    }

    /// A pgBackRest set: restored with `pgbackrest restore --type=immediate` into a scratch
    /// data directory on the backups' host (`/var/tmp/bg_restore_<hex>`, beside a marker
    /// file naming the console, its process and the time), a PostgreSQL of the set's
    /// version started on it with a Unix socket only (no port), compared with production
    /// through that socket, then stopped and removed. Leftovers whose console is gone
    /// are removed first.
    async fn restore_pgbackrest(&self, t: &Test<'_>, report: &mut RestoreReport) -> Result<()> {
        let Test {
            deployment,
            b,
            dbp,
            app,
            file,
            operator,
            cancel,
            phase,
            emit_check,
        } = *t;
        let Some(pb) = &b.pgbackrest else {
            return Err(Error::Restore {
                message: "the profile names no pgBackRest repository (backups.pgbackrest)".into(),
            });
        };
        let host = b.host.get_ref().clone();
        let as_os = backups::as_user(&pb.os_user);
        let session = self.session(deployment, &host).await?;
        remove_leftover_dirs(&session, b, operator, report).await?;

        // Room for the copy: the set's size and a fifth.
        let (status, detail) = free_space(&session, file.size + file.size / 5).await;
        report.check("disk", status, format!("{detail} (in {SCRATCH_ROOT} on {host})"));
        emit_check(report);
        if status == CheckStatus::Fail {
            return Ok(());
        }

        let name = format!("{PREFIX}{}", hex::encode(rand::random::<[u8; 8]>()));
        let dir = format!("{SCRATCH_ROOT}/{name}");
        let q = shell_quote(&dir);
        let marker = shell_quote(&format!("{dir}.breakglass"));
        let version = file.pg_version.clone().unwrap_or_default();
        // Debian keeps each major version's binaries apart; elsewhere, pg_ctl on PATH.
        let bin = format!(
            "B=/usr/lib/postgresql/{}/bin; [ -x \"$B/pg_ctl\" ] || B=$(dirname \"$(command -v pg_ctl || echo /nonexistent/pg_ctl)\")",
            shell_quote(&version)
        );
        phase("creating", dir.clone());
        make_scratch_dir(&session, &host, &dir, &as_os, operator).await?;
        report.scratch = Some(dir.clone());
        report.cleaned_up = false;

        let result = async {
            phase("restoring", format!("pgBackRest set {} on {host} into {dir}", file.name));
            let cmd = format!(
                "set -o pipefail; {bin}; {as_os} {} --set={} --pg1-path={q} --type=immediate --target-action=promote --archive-mode=off --log-level-console=error restore \
                 && {as_os} \"$B/pg_ctl\" -D {q} -w -t 3600 -l {q}/breakglass-restore.log -o \"-p 5432 -k {q} -c listen_addresses= -c archive_mode=off -c ssl=off\" start >/dev/null",
                backups::pgbackrest_cmd(pb),
                shell_quote(&file.name),
            );
            let t0 = Instant::now();
            let out = tokio::select! {
                out = session.exec_within(&cmd, None, OUTPUT_CAP, RESTORE_LIMIT) => out?,
                () = cancel.reached(1) => {
                    report.cancelled = true;
                    report.check("restore", CheckStatus::Fail, "cancelled during the restore");
                    emit_check(report);
                    return Ok(());
                }
            };
            report.rto_ms = Some(ms(t0.elapsed()));
            let stderr = display_safe(&out.stderr);
            let (status, detail) = judge_output(BackupFormat::PgBackRest, out.status, &stderr);
            let how = if status == CheckStatus::Fail {
                "pgbackrest restore and pg_ctl start"
            } else {
                "restored and started"
            };
            report.check("restore", status, format!("{detail}; {how} ({} ms)", ms(t0.elapsed())));
            emit_check(report);
            if status == CheckStatus::Fail {
                return Ok(());
            }
            phase("verifying", format!("{dir} against {}", dbp.name));
            let production = self.database(deployment).await?;
            // A physical copy has production's roles: read it as the app's role, which
            // owns its tables (the restore role may read none of them).
            let restored = {
                let creds = self.db_credentials(deployment, dbp).await?.0;
                let mut copy = dbp.clone();
                copy.via_host = toml::Spanned::new(0..0, host.clone());
                copy.socket = Some(toml::Spanned::new(0..0, dir.clone()));
                copy.port = 5432;
                copy.tls = DbTls::Disable;
                RemoteDb::connect(session.clone(), &copy, creds).await?
            };
            let age = report.backup_age_secs.unwrap_or(0);
            for check in verify::compare(&production, &restored, app, age).await? {
                report.checks.push(check);
                emit_check(report);
            }
            self.judge_newest_row(&restored, app, b, report).await?;
            emit_check(report);
            Ok::<(), Error>(())
        }
        .await;

        phase("cleaning", dir.clone());
        let cleaned = session
            .exec(
                &format!(
                    "{bin}; if [ -f {q}/postmaster.pid ]; then {as_os} \"$B/pg_ctl\" -D {q} stop -m immediate >/dev/null 2>&1; fi; {as_os} rm -rf -- {q}; rm -f -- {marker}; ! test -e {q}"
                ),
                None,
            )
            .await;
        report.cleaned_up = cleaned.as_ref().is_ok_and(|o| o.success());
        if report.cleaned_up {
            report.check("cleanup", CheckStatus::Pass, format!("{dir} stopped and removed"));
        } else {
            report.check(
                "cleanup",
                CheckStatus::Fail,
                format!("{dir} on {host} could not be removed: stop its PostgreSQL (`pg_ctl -D {dir} stop`) and remove it by hand; the next restore test also tries"),
            );
        }
        emit_check(report);
        result
    }

    /// An object of the bucket: fetched by the backups' host into a scratch directory
    /// (`/var/tmp/bg_restore_<hex>`, mode 700, beside its marker) by `curl`, whose
    /// presigned URL comes on stdin; checked like a file of the folder, restored and
    /// verified like one, and removed whatever happened. The RTO counts the download.
    async fn restore_s3(&self, t: &Test<'_>, report: &mut RestoreReport) -> Result<()> {
        let Test {
            deployment,
            b,
            file,
            operator,
            cancel,
            phase,
            emit_check,
            ..
        } = *t;
        let Some(bucket) = &b.s3 else {
            return Err(Error::Restore {
                message: "the profile names no S3 bucket (backups.s3)".into(),
            });
        };
        let host = b.host.get_ref().clone();
        let session = self.session(deployment, &host).await?;
        remove_leftover_dirs(&session, b, operator, report).await?;
        // Room for the object, and a twentieth.
        let (status, detail) = free_space(&session, file.size + file.size / 20).await;
        report.check(
            "disk",
            status,
            format!("{detail} (for the download, in {SCRATCH_ROOT} on {host})"),
        );
        emit_check(report);
        if status == CheckStatus::Fail {
            return Ok(());
        }
        let store = self.s3_store(deployment, bucket).await?;

        let dir = format!(
            "{SCRATCH_ROOT}/{PREFIX}{}",
            hex::encode(rand::random::<[u8; 8]>())
        );
        phase("creating", dir.clone());
        make_scratch_dir(&session, &host, &dir, "", operator).await?;
        let result = async {
            let local = format!("{dir}/object");
            phase("downloading", format!("{} into {dir} on {host}", file.path));
            let q = shell_quote(&dir);
            // The URL is a credential for this object (for an hour): on stdin, for curl's
            // `--config -`; curl's pid beside it, so that a cancel can stop it.
            let cmd = format!(
                "command -v curl >/dev/null || {{ echo 'curl is not installed on this host' >&2; exit 98; }}; \
                 umask 077; sh -c 'echo $$ > \"$1\"/curl.pid; exec nice -n 10 curl --fail --silent --show-error --proto =http,https --max-redirs 0 --retry 2 --config -' sh {q} \
                 && stat -c %s -- {}",
                shell_quote(&local)
            );
            let config = s3::curl_config(&store.presigned_get(&file.name), &local);
            let t0 = Instant::now();
            let out = tokio::select! {
                out = session.exec_within(&cmd, Some(config.expose().as_bytes()), OUTPUT_CAP, RESTORE_LIMIT) => out?,
                () = cancel.reached(1) => {
                    report.cancelled = true;
                    report.check("download", CheckStatus::Fail, "cancelled during the download");
                    emit_check(report);
                    return Ok(());
                }
            };
            drop(config);
            let took = t0.elapsed();
            let got: Option<u64> = String::from_utf8_lossy(&out.stdout).trim().parse().ok();
            match got {
                Some(n) if out.success() && n == file.size => report.check(
                    "download",
                    CheckStatus::Pass,
                    format!("{n} bytes fetched by {host} in {} ms", ms(took)),
                ),
                Some(n) if out.success() => report.check(
                    "download",
                    CheckStatus::Fail,
                    format!(
                        "{n} bytes fetched, but the bucket listed {} bytes: the object changed or the transfer was cut",
                        file.size
                    ),
                ),
                _ => report.check(
                    "download",
                    CheckStatus::Fail,
                    format!(
                        "{host} could not fetch {}: {}",
                        file.path,
                        s3::without_urls(display_safe(&out.stderr).trim())
                    ),
                ),
            }
            emit_check(report);
            if report.failed() {
                return Ok(());
            }
            let copy = BackupFile {
                path: local,
                store: BackupStore::Folder,
                ..file.clone()
            };
            format_check(&session, &copy, report).await?;
            emit_check(report);
            if report.failed() {
                return Ok(());
            }
            let outcome = self.restore_file(&Test { file: &copy, ..*t }, report).await;
            report.rto_ms = report.rto_ms.map(|r| r + ms(took));
            outcome
        }
        .await;

        phase("cleaning", dir.clone());
        let cleaned = session.exec(&remove_dir_command(&dir, b), None).await;
        let removed = cleaned.as_ref().is_ok_and(|o| o.success());
        report.cleaned_up &= removed;
        if removed {
            report.check(
                "cleanup",
                CheckStatus::Pass,
                format!("the download {dir} removed"),
            );
        } else {
            report.check(
                "cleanup",
                CheckStatus::Fail,
                format!("the download {dir} on {host} could not be removed: remove it by hand; the next restore test also tries"),
            );
        }
        emit_check(report);
        result
    }

    /// The newest row of the restored data against the RPO target.
    async fn judge_newest_row(
        &self,
        restored: &RemoteDb,
        app: &crate::engine::profiles::app::AppProfile,
        b: &crate::engine::profiles::Backups,
        report: &mut RestoreReport,
    ) -> Result<()> {
        let target = b.rpo();
        match verify::newest_row(restored, app).await? {
            Some((at, secs, column)) => {
                report.newest_row_at = Some(at.clone());
                report.data_rpo_secs = Some(secs);
                let status = if Duration::from_secs(secs) > target {
                    CheckStatus::Fail
                } else {
                    CheckStatus::Pass
                };
                report.check(
                    "newest_row",
                    status,
                    format!(
                        "the newest row restored is from {at} ({column}): {} of data would be lost; the RPO target is {}",
                        humantime::format_duration(Duration::from_secs(secs / 60 * 60)),
                        humantime::format_duration(target)
                    ),
                );
            }
            None => report.check(
                "newest_row",
                CheckStatus::Warn,
                "no timestamp column with a value: the data's own age is unknown (the file's date stands for it)",
            ),
        }
        Ok(())
    }

    /// The credentials the scratch database is made with: `backups.restore_user` and its
    /// keychain password, else the database's.
    async fn restore_credentials(
        &self,
        deployment: &str,
        b: &crate::engine::profiles::Backups,
        dbp: &Database,
    ) -> Result<DbCredentials> {
        match &b.restore_user {
            Some(user) => Ok(DbCredentials {
                user: user.get_ref().clone(),
                password: self
                    .keychain()
                    .get(deployment, keychain::RESTORE_PASSWORD)
                    .await?,
            }),
            None => Ok(self.db_credentials(deployment, dbp).await?.0),
        }
    }

    /// Whether the database server has room for a copy of production: its data
    /// directory's free space (read with `df` on `via_host`, when the server is on that
    /// host and the restore role may read `data_directory`) against production's size
    /// and a fifth more. What cannot be read is a warning that says why.
    async fn disk_check(&self, deployment: &str, dbp: &Database, admin: &RemoteDb) -> (CheckStatus, String) {
        let size: Option<i64> = sqlx::query_scalar("SELECT pg_catalog.pg_database_size($1)")
            .bind(&dbp.name)
            .fetch_one(&admin.pool)
            .await
            .ok();
        let Some(size) = size.and_then(|s| u64::try_from(s).ok()) else {
            return (
                CheckStatus::Warn,
                "production's size could not be read: free disk space not checked".into(),
            );
        };
        let needed = size + size / 5;
        let local = dbp.socket.is_some() || matches!(dbp.address.as_str(), "127.0.0.1" | "localhost" | "::1");
        if !local {
            return (
                CheckStatus::Warn,
                format!(
                    "the database server is not {} itself: its free disk space is not checked (about {} needed)",
                    dbp.via_host.get_ref(),
                    human_bytes(needed)
                ),
            );
        }
        let dir: Option<String> = sqlx::query_scalar("SELECT pg_catalog.current_setting('data_directory')")
            .fetch_one(&admin.pool)
            .await
            .ok();
        let Some(dir) = dir.filter(|d| d.starts_with('/')) else {
            return (
                CheckStatus::Warn,
                format!(
                    "the restore role may not read data_directory (`GRANT pg_read_all_settings TO …`): free disk space not checked (about {} needed)",
                    human_bytes(needed)
                ),
            );
        };
        let avail = match self.session(deployment, dbp.via_host.get_ref()).await {
            Ok(s) => free_bytes(&s, &dir).await,
            Err(_) => None,
        };
        match avail {
            None => (
                CheckStatus::Warn,
                format!(
                    "df on {} did not answer: free disk space not checked",
                    dbp.via_host.get_ref()
                ),
            ),
            Some(a) => judge_disk(a, needed),
        }
    }

    /// A dump on the backups' host: into a throwaway container or a scratch database, as
    /// the profile says.
    async fn restore_file(&self, t: &Test<'_>, report: &mut RestoreReport) -> Result<()> {
        if t.b.into_container(t.dbp) {
            self.restore_in_container(t, report).await
        } else {
            self.restore_and_verify(t, report).await
        }
    }

    async fn restore_and_verify(&self, t: &Test<'_>, report: &mut RestoreReport) -> Result<()> {
        let Test {
            deployment,
            b,
            dbp,
            operator,
            phase,
            emit_check,
            ..
        } = *t;
        let via = dbp.via_host.get_ref().clone();
        // The restore runs where the backups are and connects to the address the profile
        // gives, as via_host sees it: from another host, a loopback address or a socket
        // is not that server.
        let loopback =
            dbp.socket.is_some() || matches!(dbp.address.as_str(), "127.0.0.1" | "localhost" | "::1");
        if b.host.get_ref() != &via && loopback {
            return Err(Error::Restore {
                message: format!(
                    "the backups are on {}, and the database is reached from {via} at {}: {} cannot reach it there. Keep the backups on {via} (backups.host), or give the database an address both hosts reach",
                    b.host.get_ref(),
                    dbp.socket
                        .as_ref()
                        .map(|s| s.get_ref().clone())
                        .unwrap_or_else(|| dbp.address.clone()),
                    b.host.get_ref()
                ),
            });
        }
        let creds = self.restore_credentials(deployment, b, dbp).await?;
        let user = creds.user.clone();
        let password = creds.password.clone();
        // The maintenance connection (to the production database's server, as the
        // restore role): makes and drops the scratch database.
        let admin = {
            let session = self.session(deployment, &via).await?;
            RemoteDb::connect(session, dbp, creds).await?
        };
        // Leftovers of a console that was killed mid-test.
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT d.datname::text, s.description FROM pg_catalog.pg_database d \
             JOIN pg_catalog.pg_shdescription s ON s.objoid = d.oid \
              AND s.classoid = 'pg_catalog.pg_database'::pg_catalog.regclass \
             WHERE d.datname LIKE 'bg\\_restore\\_%'",
        )
        .fetch_all(&admin.pool)
        .await
        .map_err(crate::engine::actions::sql::query_err)?;
        for (name, comment) in rows {
            let ours = name.len() == PREFIX.len() + 16
                && name[PREFIX.len()..].bytes().all(|c| c.is_ascii_hexdigit());
            if ours && is_leftover(&comment, operator) {
                match drop_scratch(&admin, &name).await {
                    Ok(_) => report.leftovers_removed.push(name),
                    Err(e) => {
                        report.check(
                            "cleanup",
                            CheckStatus::Warn,
                            format!("a scratch database left by an earlier test, {name}, could not be dropped: {e}"),
                        );
                        emit_check(report);
                    }
                }
            }
        }

        // Free disk where the scratch database will live, before anything is made.
        let (status, detail) = self.disk_check(deployment, dbp, &admin).await;
        report.check("disk", status, detail);
        emit_check(report);
        if status == CheckStatus::Fail {
            return Ok(());
        }

        let scratch = format!("{PREFIX}{}", hex::encode(rand::random::<[u8; 8]>()));
        phase("creating", scratch.clone());
        let create = format!("CREATE DATABASE {} TEMPLATE template0", qname(&scratch));
        if let Err(e) = sqlx::raw_sql(crate::engine::actions::sql::audited(&create))
            .execute(&admin.pool)
            .await
        {
            let denied = matches!(&e, sqlx::Error::Database(d) if d.code().as_deref() == Some("42501"));
            return Err(Error::Restore {
                message: if denied {
                    format!(
                        "the role {user} may not create databases: give the restore test a role that may (`CREATE ROLE restore_tester LOGIN CREATEDB`), name it in the profile (backups.restore_user) and keep its password in the keychain (`breakglass secret set {deployment} restore-password`)"
                    )
                } else {
                    format!("the scratch database could not be created: {e}")
                },
            });
        }
        report.scratch = Some(scratch.clone());
        report.cleaned_up = false;
        let comment = format!(
            "COMMENT ON DATABASE {} IS '{}'",
            qname(&scratch),
            label(operator).replace('\'', "''")
        );
        let _ = sqlx::raw_sql(crate::engine::actions::sql::audited(&comment))
            .execute(&admin.pool)
            .await;

        // From here on, whatever happens, the scratch database is dropped.
        let target = Database {
            name: scratch.clone(),
            ..dbp.clone()
        };
        let creds = DbCredentials {
            user: user.clone(),
            password: password.clone(),
        };
        let result = self.restore_into(t, report, &target, creds).await;

        phase("cleaning", scratch.clone());
        let dropped = drop_scratch(&admin, &scratch).await;
        let gone: Option<i64> =
            sqlx::query_scalar("SELECT count(*) FROM pg_catalog.pg_database WHERE datname = $1")
                .bind(&scratch)
                .fetch_one(&admin.pool)
                .await
                .ok();
        report.cleaned_up = dropped.is_ok() && gone == Some(0);
        if report.cleaned_up {
            report.check("cleanup", CheckStatus::Pass, format!("{scratch} dropped"));
        } else {
            report.check(
                "cleanup",
                CheckStatus::Fail,
                format!(
                    "{scratch} could not be dropped ({}): drop it by hand (`DROP DATABASE {scratch} WITH (FORCE)`); the next restore test also tries",
                    dropped.err().map(|e| e.to_string()).unwrap_or_else(|| "it is still listed".into())
                ),
            );
        }
        emit_check(report);
        result
    }

    /// Restores the file into the database `target` (reached from its `via_host`, as
    /// `creds`, whose password reaches the restore on stdin), then compares it with
    /// production.
    async fn restore_into(
        &self,
        t: &Test<'_>,
        report: &mut RestoreReport,
        target: &Database,
        creds: DbCredentials,
    ) -> Result<()> {
        let scratch = target.name.as_str();
        let user = creds.user.as_str();
        let password = &creds.password;
        let Test {
            deployment,
            b,
            dbp,
            app,
            file,
            cancel,
            phase,
            emit_check,
            ..
        } = *t;
        phase(
            "restoring",
            format!("{} on {} into {scratch}", file.name, b.host.get_ref()),
        );
        let session = self.session(deployment, b.host.get_ref()).await?;
        let command = restore_command(file, target, user, scratch);
        let mut stdin = password.expose().as_bytes().to_vec();
        stdin.push(b'\n');
        if let Some(e) = file.encryption {
            let key = match self.keychain().get(deployment, keychain::BACKUP_KEY).await {
                Ok(k) => k,
                Err(err) => {
                    report.check(
                        "restore",
                        CheckStatus::Fail,
                        format!(
                            "the backup is {e:?}-encrypted and its key could not be read from the keychain ({err}): `breakglass secret set {deployment} backup-key`"
                        ),
                    );
                    emit_check(report);
                    return Ok(());
                }
            };
            if key.expose().contains(['\n', '\r']) {
                report.check("restore", CheckStatus::Fail, "the backup key in the keychain spans several lines: keep one line (an age identity, or a gpg passphrase)");
                emit_check(report);
                return Ok(());
            }
            stdin.extend_from_slice(key.expose().as_bytes());
            stdin.push(b'\n');
        }
        let t0 = Instant::now();
        let run = session.exec_within(&command, Some(&stdin), OUTPUT_CAP, RESTORE_LIMIT);
        let out = tokio::select! {
            out = run => out,
            () = cancel.reached(1) => {
                report.cancelled = true;
                report.check("restore", CheckStatus::Fail, "cancelled during the restore");
                emit_check(report);
                return Ok(());
            }
        };
        use zeroize::Zeroize;
        stdin.zeroize();
        let out = out?;
        report.rto_ms = Some(ms(t0.elapsed()));
        let stderr = display_safe(&out.stderr);
        let (status, detail) = judge_output(file.format, out.status, &stderr);
        report.check(
            "restore",
            status,
            format!(
                "{detail} ({} ms{})",
                ms(t0.elapsed()),
                if out.truncated { "; its output was cut" } else { "" }
            ),
        );
        emit_check(report);
        if status == CheckStatus::Fail || cancel.is_cancelled() {
            report.cancelled = cancel.is_cancelled();
            return Ok(());
        }

        phase("verifying", format!("{scratch} against {}", dbp.name));
        let production = self.database(deployment).await?;
        let restored = {
            let session = self.session(deployment, target.via_host.get_ref()).await?;
            RemoteDb::connect(session, target, creds).await?
        };
        let age = report.backup_age_secs.unwrap_or(0);
        for check in verify::compare(&production, &restored, app, age).await? {
            report.checks.push(check);
            emit_check(report);
        }
        self.judge_newest_row(&restored, app, b, report).await?;
        emit_check(report);
        drop(restored);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leftovers_are_those_whose_console_is_gone_or_that_are_old() {
        let me = "ops@laptop";
        let fresh = label(me);
        assert!(!is_leftover(&fresh, me), "a test running now in this process");
        let gone = format!(
            "{LABEL}; operator=ops@laptop; pid=4000000; started={}",
            now_rfc3339()
        );
        assert!(is_leftover(&gone, me));
        let other = format!(
            "{LABEL}; operator=someone@else; pid=4000000; started={}",
            now_rfc3339()
        );
        assert!(!is_leftover(&other, me), "another console's test may be running");
        let old = format!("{LABEL}; operator=someone@else; pid=1; started=2020-01-01T00:00:00Z");
        assert!(is_leftover(&old, me));
        assert!(!is_leftover("a database someone commented", me));
    }

    #[test]
    fn a_disk_without_room_for_a_copy_of_production_stops_the_test_before_it_starts() {
        assert_eq!(judge_disk(10 << 30, 2 << 30).0, CheckStatus::Pass);
        let (s, d) = judge_disk(1 << 30, 2 << 30);
        assert_eq!(s, CheckStatus::Fail);
        assert!(d.contains("1.0 GiB free") && d.contains("2.0 GiB needed"), "{d}");
    }

    #[test]
    fn restore_output_is_judged_by_its_errors_not_only_its_status() {
        let (s, _) = judge_output(BackupFormat::Custom, Some(0), "");
        assert_eq!(s, CheckStatus::Pass);
        let (s, d) = judge_output(
            BackupFormat::Custom,
            Some(1),
            "pg_restore: error: could not read from input file: end of file\n",
        );
        assert_eq!(s, CheckStatus::Fail);
        assert!(d.contains("end of file"), "{d}");
        // psql goes on after errors: exit 0 with ERROR lines is a failure.
        let (s, d) = judge_output(
            BackupFormat::Plain,
            Some(0),
            "psql:/b/x.sql:10: ERROR:  syntax error at or near \"INSRT\"\n",
        );
        assert_eq!(s, CheckStatus::Fail, "{d}");
        // Ownership statements of a dump restored by another role: a warning.
        let (s, _) = judge_output(
            BackupFormat::Plain,
            Some(0),
            "psql:/b/x.sql:20: ERROR:  role \"app\" does not exist\n",
        );
        assert_eq!(s, CheckStatus::Warn);
        // What quotes the dump's data stays out of the report.
        let (_, d) = judge_output(
            BackupFormat::Custom,
            Some(1),
            "pg_restore: while PROCESSING TOC:\nCONTEXT:  COPY users, line 2, column email: \"alice@example.com\"\nDETAIL:  Key (email)=(alice@example.com) already exists.\n",
        );
        assert!(!d.contains("alice@example.com"), "{d}");
        let (_, d) = judge_output(
            BackupFormat::Plain,
            Some(0),
            "psql:/b/x.sql:9: ERROR:  invalid input syntax for type integer: \"s3cr3t-value\"\npsql:/b/x.sql:10: ERROR:  relation \"users\" does not exist\n",
        );
        assert!(
            !d.contains("s3cr3t-value") && d.contains("relation \"users\""),
            "{d}"
        );
        let (s, d) = judge_output(
            BackupFormat::PlainGzip,
            Some(1),
            "gzip: /b/x.sql.gz: unexpected end of file\n",
        );
        assert_eq!(s, CheckStatus::Fail);
        assert!(d.contains("unexpected end of file"), "{d}");
    }

    #[test]
    fn the_restore_command_keeps_the_password_off_the_command_line() {
        let db: Database =
            toml::from_str("via_host = \"app1\"\naddress = \"127.0.0.1\"\nport = 5432\nname = \"shop\"")
                .unwrap();
        let file = BackupFile {
            name: "x'; rm -rf /.dump".into(),
            path: "/b/x'; rm -rf /.dump".into(),
            host: "app1".into(),
            store: BackupStore::Folder,
            size: 1,
            taken_at: String::new(),
            taken_from: "mtime".into(),
            age_secs: 0,
            format: BackupFormat::Custom,
            encryption: None,
            pg_version: None,
            taken: SystemTime::now(),
        };
        let c = restore_command(&file, &db, "restore_tester", "bg_restore_00");
        assert!(c.contains("read -r PGPASSWORD"), "{c}");
        assert!(c.contains(&shell_quote("/b/x'; rm -rf /.dump")), "{c}");
        assert!(c.contains("--jobs=2"));
        // Encrypted: the key is read from stdin too, handed over by a pipe.
        let gpg = BackupFile {
            encryption: Some(Encryption::Gpg),
            format: BackupFormat::PlainGzip,
            ..file.clone()
        };
        let c = restore_command(&gpg, &db, "restore_tester", "bg_restore_00");
        assert!(
            c.contains("read -r BG_KEY") && c.contains("--passphrase-fd 3"),
            "{c}"
        );
        assert!(c.contains("| gzip -dc | "), "{c}");
        assert!(!c.contains("exec "), "a trap must still run: {c}");
    }
}
