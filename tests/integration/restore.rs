//! The restore test against the testbed's real backups: the good one passes with its RTO
//! and RPO; every broken kind the testbed makes fails, for its reason; a missing backup
//! fails; a cancel mid-restore and a restore role that may not create databases leave no
//! scratch database; a stale backup fails on the RPO; nothing leaks.

use std::sync::{Arc, Mutex};

use breakglass::engine::actions::Cancel;
use breakglass::engine::review::restore::{CheckStatus, RestoreEvent, RestoreReport};

use crate::testbed::{Variant, psql, testbed, variant};

/// The sandbox profile renamed, its backup folder `dir` (default: the testbed's), the
/// restore role's password in the keychain.
async fn restore_variant(tag: &str, dir: Option<&str>, extra: &str) -> Variant {
    let tb = testbed();
    let good_dir = tb.str("/backups/dir");
    let dir = dir.map(str::to_owned);
    let extra = extra.to_owned();
    let v = variant(tag, move |t| {
        let mut t = match &dir {
            Some(d) => t.replacen(&format!("path = \"{good_dir}\""), &format!("path = \"{d}\""), 1),
            None => t,
        };
        if !extra.is_empty() {
            t = t.replacen("rpo = \"26h\"", &extra, 1);
        }
        t
    })
    .await;
    v.engine
        .keychain()
        .set(
            &v.name,
            "restore-password",
            tb.str("/backups/restore_password").into(),
        )
        .await
        .unwrap();
    v
}

/// The profile's `rpo` line followed by a `pgbackrest` entry for the testbed's stanza with
/// the configuration file `config` (for [`restore_variant`]'s `extra`).
fn pgbackrest_line(config: impl std::fmt::Display) -> String {
    format!(
        "rpo = \"26h\"\npgbackrest = {{ stanza = \"{}\", config = \"{config}\" }}",
        testbed().str("/backups/pgbackrest_stanza")
    )
}

/// The scratch databases that exist now.
fn scratch_databases() -> Vec<String> {
    psql(
        "postgres",
        "SELECT datname FROM pg_database WHERE datname LIKE 'bg\\_restore\\_%' ORDER BY 1",
        &[],
    )
    .lines()
    .map(str::to_owned)
    .collect()
}

async fn restore(v: &Variant, backup: Option<&str>) -> RestoreReport {
    let r = v
        .engine
        .restore_test(&v.name, backup, &|_| {}, &Cancel::default())
        .await
        .unwrap();
    assert!(r.cleaned_up, "{r:#?}");
    if let Some(s) = &r.scratch {
        assert!(!scratch_databases().contains(s), "{s} is still there");
    }
    r
}

fn check<'a>(r: &'a RestoreReport, name: &str) -> &'a breakglass::engine::review::restore::RestoreCheck {
    r.checks
        .iter()
        .rev()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no {name} check: {r:#?}"))
}

#[tokio::test]
async fn the_good_backup_restores_and_matches_production() {
    let v = restore_variant("rgood", None, "").await;
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let r = v
        .engine
        .restore_test(
            &v.name,
            None,
            &move |e| seen.lock().unwrap().push(e),
            &Cancel::default(),
        )
        .await
        .unwrap();
    assert!(r.passed, "{r:#?}");
    assert_eq!(
        r.backup.as_ref().unwrap().path,
        testbed().str("/backups/good"),
        "the newest backup"
    );
    for name in ["disk", "restore", "schema", "invariants", "newest_row", "cleanup"] {
        assert_eq!(check(&r, name).status, CheckStatus::Pass, "{name}: {r:#?}");
    }
    // Other tests add users and tokens to the sandbox after its backup was taken: the
    // counts may differ by more than the backup's age explains (a warning, named).
    let rows = check(&r, "rows");
    assert!(
        rows.status == CheckStatus::Pass
            || (rows.status == CheckStatus::Warn && rows.detail.contains("in production")),
        "{r:#?}"
    );
    assert!(r.rto_ms.is_some() && r.data_rpo_secs.is_some(), "{r:#?}");
    assert!(check(&r, "invariants").detail.contains("admin user"), "{r:#?}");
    assert!(check(&r, "disk").detail.contains(" free, about "), "{r:#?}");
    // Progress came as it happened, in order.
    let phases: Vec<String> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            RestoreEvent::Phase { phase, .. } => Some(phase.clone()),
            RestoreEvent::Check { .. } => None,
        })
        .collect();
    assert_eq!(
        phases,
        ["listing", "creating", "restoring", "verifying", "cleaning"]
    );
    // Journaled before and after.
    let kinds: Vec<String> = v
        .engine
        .journal()
        .await
        .unwrap()
        .entries(None)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.run_id == r.run_id)
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, ["restore.started", "restore.finished"]);
    // The history the window charts, and the date the hardening audit reads.
    let history = v.engine.restore_history(&v.name).await.unwrap();
    let last = history.last().unwrap();
    assert!(
        last.passed && last.run_id == r.run_id && last.rto_ms == r.rto_ms,
        "{history:?}"
    );
    assert_eq!(
        v.engine.last_good_restore(&v.name).await.unwrap().as_deref(),
        Some(last.at.as_str())
    );
    // No password anywhere the console wrote.
    let tb = testbed();
    let mut secrets = tb.secret_values();
    secrets.push(("restore password".into(), tb.str("/backups/restore_password")));
    tb.assert_none_in_dir(&secrets, v.dir.path());
}

#[tokio::test]
async fn every_broken_backup_fails_for_its_reason() {
    let tb = testbed();
    let broken = tb.str("/backups/broken_dir");
    let v = restore_variant("rbroken", Some(&broken), "").await;
    // A good plain dump, a gzipped one and a directory-format one: these pass (ownership statements of the app's
    // role may not apply to the restore role, a warning at most).
    for good in ["plain.sql", "plain.sql.gz", "dir"] {
        let r = restore(&v, Some(good)).await;
        assert!(r.passed, "{good}: {r:#?}");
    }
    for (file, check_name, reason) in [
        ("truncated.dump", "restore", ""),
        ("corrupt.dump", "restore", ""),
        ("empty.dump", "format", "empty"),
        ("truncated.sql.gz", "restore", "psql reported"),
        ("cut.sql.gz", "restore", "unexpected end of file"),
        ("cut-dir", "restore", ""),
        ("other-app.sql", "schema", "missing tables"),
        ("notes.txt", "format", "not a format"),
    ] {
        let r = restore(&v, Some(file)).await;
        assert!(!r.passed, "{file} passed: {r:#?}");
        let c = check(&r, check_name);
        assert_eq!(c.status, CheckStatus::Fail, "{file}: {r:#?}");
        assert!(c.detail.contains(reason), "{file}: {}", c.detail);
    }
}

#[tokio::test]
async fn a_missing_backup_and_a_stale_one_fail() {
    let tb = testbed();
    let empty = tempfile::tempdir().unwrap();
    let v = restore_variant("rmissing", Some(&empty.path().display().to_string()), "").await;
    let r = restore(&v, None).await;
    assert!(!r.passed);
    assert!(check(&r, "backup").detail.contains("no backup in"), "{r:#?}");
    let r = restore(&v, Some("nothere.dump")).await;
    assert!(check(&r, "backup").detail.contains("no backup named"), "{r:#?}");

    // An RPO target shorter than the good backup's age: stale is a failure.
    let v = restore_variant("rstale", None, "rpo = \"1s\"").await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let r = restore(&v, None).await;
    assert!(!r.passed, "{r:#?}");
    assert_eq!(check(&r, "age").status, CheckStatus::Fail, "{r:#?}");
    assert_eq!(check(&r, "newest_row").status, CheckStatus::Fail, "{r:#?}");
    let _ = tb;
}

#[tokio::test]
async fn a_cancel_mid_restore_and_a_role_without_createdb_leave_nothing_behind() {
    // Cancelled as soon as the restore starts: reported as cancelled, not passed, and
    // the scratch database is dropped.
    let v = restore_variant("rcancel", None, "").await;
    let cancel = Cancel::default();
    let c2 = cancel.clone();
    let r = v
        .engine
        .restore_test(
            &v.name,
            None,
            &move |e| {
                if matches!(&e, RestoreEvent::Phase { phase, .. } if phase == "restoring") {
                    c2.cancel();
                }
            },
            &cancel,
        )
        .await
        .unwrap();
    assert!(r.cancelled && !r.passed && r.cleaned_up, "{r:#?}");
    assert!(!scratch_databases().contains(r.scratch.as_ref().unwrap()));

    // The app's own role may not create databases: said, with what to do.
    let v = restore_variant("rnocreate", None, "").await;
    let text = std::fs::read_to_string(v.dir.path().join("profile.toml")).unwrap();
    let text = text.replace("restore_user = \"restore_tester\"\n", "");
    std::fs::write(v.dir.path().join("profile.toml"), text).unwrap();
    v.engine
        .add_deployment(&v.dir.path().join("profile.toml"))
        .await
        .unwrap();
    let r = restore(&v, None).await;
    assert!(!r.passed);
    let detail = &check(&r, "restore").detail;
    assert!(
        detail.contains("may not create databases") && detail.contains("restore-password"),
        "{detail}"
    );
}

#[tokio::test]
async fn a_scratch_database_left_by_a_killed_console_is_dropped_by_the_next_test() {
    let v = restore_variant("rleft", None, "").await;
    let operator = breakglass::engine::connect::operator().replace([';', '\''], "_");
    let name = format!("bg_restore_{:016x}", rand_u64());
    psql(
        "postgres",
        &format!(
            "CREATE DATABASE {name} OWNER restore_tester; COMMENT ON DATABASE {name} IS 'breakglass restore test; operator={operator}; pid=4000000; started=2026-01-01T00:00:00Z';"
        ),
        &[],
    );
    // Another tool's database with the prefix but no label is left alone.
    let foreign = format!("bg_restore_{:016x}", rand_u64());
    psql("postgres", &format!("CREATE DATABASE {foreign};"), &[]);
    let r = restore(&v, None).await;
    assert!(r.passed, "{r:#?}");
    // Dropped by this test, or by another one running at the same time.
    let now = scratch_databases();
    assert!(
        !now.contains(&name) && now.contains(&foreign),
        "{name} {foreign}: {now:?}"
    );
    psql("postgres", &format!("DROP DATABASE {foreign};"), &[]);
}

fn rand_u64() -> u64 {
    rand::random()
}

#[tokio::test]
async fn the_cli_exits_0_on_a_pass_1_on_a_failure_and_prints_no_secret() {
    let tb = testbed();
    let v = restore_variant("rcli", None, "").await;
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_breakglass"))
            .args(args)
            .env("BREAKGLASS_DATA_DIR", v.dir.path().join("state"))
            .output()
            .unwrap()
    };
    let ok = run(&["restore-test", &v.name]);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let text = String::from_utf8_lossy(&ok.stdout);
    assert!(text.contains("PASSED: RTO"), "{text}");
    let json = run(&["restore-test", &v.name, "--backup", "nothere.dump", "--json"]);
    assert_eq!(json.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["passed"], false);
    let history = run(&["restore-history", &v.name]);
    let text = String::from_utf8_lossy(&history.stdout);
    assert!(
        text.lines().count() == 2 && text.contains("passed") && text.contains("FAILED"),
        "{text}"
    );
    let list = run(&["backups", &v.name, "--json"]);
    let list: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(list[0]["path"], tb.str("/backups/good"));
    let mut secrets = tb.secret_values();
    secrets.push(("restore password".into(), tb.str("/backups/restore_password")));
    for out in [&ok, &json] {
        tb.assert_no_secret_in(&secrets, &out.stdout, "stdout");
        tb.assert_no_secret_in(&secrets, &out.stderr, "stderr");
    }
}

#[tokio::test]
async fn encrypted_backups_are_decrypted_on_the_server_with_the_key_from_the_keychain() {
    // age (an identity) and gpg (a passphrase): each restores and passes with its key
    // in the keychain; with the wrong key, or none, it fails and says why; the key is in
    // nothing the console wrote.
    let tb = testbed();
    let dir = tb.str("/backups/encrypted_dir");
    let age_key = tb.str("/backups/age_identity");
    let gpg_key = tb.str("/backups/gpg_passphrase");
    for (tag, file, key, wrong) in [
        (
            "rage",
            "sandbox.dump.age",
            &age_key,
            "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ",
        ),
        ("rgpg", "sandbox.sql.gz.gpg", &gpg_key, "not-the-passphrase"),
    ] {
        let v = restore_variant(tag, Some(&dir), "").await;
        // No key yet: said, with the command that sets it.
        let r = restore(&v, Some(file)).await;
        assert!(!r.passed, "{file}: {r:#?}");
        assert!(
            check(&r, "restore").detail.contains("backup-key"),
            "{file}: {r:#?}"
        );

        v.engine
            .keychain()
            .set(&v.name, "backup-key", wrong.to_owned().into())
            .await
            .unwrap();
        let r = restore(&v, Some(file)).await;
        assert!(!r.passed, "{file} with a wrong key: {r:#?}");
        assert_eq!(check(&r, "restore").status, CheckStatus::Fail, "{file}: {r:#?}");

        v.engine
            .keychain()
            .set(&v.name, "backup-key", key.clone().into())
            .await
            .unwrap();
        let r = restore(&v, Some(file)).await;
        assert!(r.passed, "{file}: {r:#?}");
        assert!(check(&r, "format").detail.contains("encrypted"), "{r:#?}");
        let secrets = [
            ("the age identity".to_owned(), age_key.clone()),
            ("the gpg passphrase".to_owned(), gpg_key.clone()),
            (
                "the restore password".to_owned(),
                tb.str("/backups/restore_password"),
            ),
        ];
        tb.assert_none_in_dir(&secrets, v.dir.path());
        let report = serde_json::to_string(&r).unwrap();
        tb.assert_no_secret_in(&secrets, report.as_bytes(), "the report");
    }
}

#[tokio::test]
async fn a_pgbackrest_set_is_restored_into_a_scratch_cluster_and_removed() {
    // The testbed's pgBackRest repository (a full backup taken by `up`): its newest set
    // is restored into a scratch data directory on app1, started on a Unix socket,
    // compared with production, stopped and removed.
    let tb = testbed();
    let v = restore_variant(
        "rpgbr",
        None,
        &pgbackrest_line(tb.str("/backups/pgbackrest_config")),
    )
    .await;

    let list = v.engine.backups(&v.name).await.unwrap();
    let set = list
        .iter()
        .find(|b| b.path.starts_with("pgbackrest:"))
        .unwrap_or_else(|| panic!("{list:?}"));
    assert_eq!(set.pg_version.as_deref(), Some("15"), "{set:?}");
    let r = restore(&v, Some(&set.name.clone())).await;
    assert!(
        r.passed || check(&r, "rows").status == CheckStatus::Warn,
        "{r:#?}"
    );
    for name in ["disk", "restore", "schema", "invariants", "cleanup"] {
        assert_eq!(check(&r, name).status, CheckStatus::Pass, "{name}: {r:#?}");
    }
    let dir = r.scratch.clone().unwrap();
    assert!(dir.starts_with("/var/tmp/bg_restore_"), "{dir}");
    assert!(!std::path::Path::new(&dir).exists(), "{dir} is still there");
    assert!(!std::path::Path::new(&format!("{dir}.breakglass")).exists());
    // No postmaster of it is left running.
    let ps = std::process::Command::new("pgrep")
        .args(["-f", &dir])
        .output()
        .unwrap();
    assert!(ps.stdout.is_empty(), "{}", String::from_utf8_lossy(&ps.stdout));
}

#[tokio::test]
async fn a_corrupt_pgbackrest_set_fails_and_its_scratch_cluster_is_removed() {
    // A copy of the repository with one data file of the set overwritten in the middle:
    // pgBackRest's own checksums refuse it; the test fails and leaves nothing behind.
    let tb = testbed();
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    let conf = work.path().join("pgbackrest.conf");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(args[0])
            .args(&args[1..])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let original = std::path::Path::new(&tb.str("/backups/pgbackrest_config"))
        .parent()
        .unwrap()
        .join("repo");
    run(&["cp", "-a", original.to_str().unwrap(), repo.to_str().unwrap()]);
    let text = std::fs::read_to_string(tb.str("/backups/pgbackrest_config"))
        .unwrap()
        .lines()
        .map(|l| {
            if l.starts_with("repo1-path=") {
                format!("repo1-path={}", repo.display())
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&conf, text).unwrap();
    run(&["chmod", "755", work.path().to_str().unwrap()]);
    run(&[
        "chown",
        "-R",
        "postgres:postgres",
        repo.to_str().unwrap(),
        conf.to_str().unwrap(),
    ]);
    // The biggest data file of the set, overwritten in its middle.
    let find = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ls -S $(find {} -path '*pg_data/base/*' -name '*.gz') | head -n 1",
            repo.display()
        ))
        .output()
        .unwrap();
    let victim = String::from_utf8_lossy(&find.stdout).trim().to_owned();
    let size = std::fs::metadata(&victim).unwrap().len();
    run(&[
        "dd",
        "if=/dev/urandom",
        &format!("of={victim}"),
        "bs=1",
        "count=512",
        &format!("seek={}", size / 2),
        "conv=notrunc",
        "status=none",
    ]);

    let v = restore_variant("rpgbad", None, &pgbackrest_line(conf.display())).await;
    let set = v
        .engine
        .backups(&v.name)
        .await
        .unwrap()
        .into_iter()
        .find(|b| b.path.starts_with("pgbackrest:"))
        .unwrap();
    let r = restore(&v, Some(&set.name)).await;
    assert!(!r.passed, "{r:#?}");
    assert_eq!(check(&r, "restore").status, CheckStatus::Fail, "{r:#?}");
    assert!(check(&r, "restore").detail.contains("ERROR"), "{r:#?}");
    let dir = r.scratch.clone().unwrap();
    assert!(!std::path::Path::new(&dir).exists(), "{dir} is still there");
}

/// The sandbox profile with its backups in the testbed's S3 bucket under `prefix` (no
/// folder), the bucket's keys in the keychain: `secret` for the secret key.
async fn s3_variant(tag: &str, prefix: &str, secret: &str) -> Variant {
    let tb = testbed();
    let good_dir = tb.str("/backups/dir");
    let s3 = format!(
        "rpo = \"26h\"\ns3 = {{ endpoint = \"{}\", bucket = \"{}\", prefix = \"{prefix}\" }}",
        tb.str("/backups/s3/endpoint"),
        tb.str("/backups/s3/bucket")
    );
    let v = restore_variant(tag, None, &s3).await;
    let path = std::path::Path::new(&v.dir.path().join("profile.toml")).to_owned();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replacen(&format!("path = \"{good_dir}\"\n"), "", 1)).unwrap();
    v.engine.add_deployment(&path).await.unwrap();
    let keychain = v.engine.keychain();
    keychain
        .set(&v.name, "s3-access-key", tb.str("/backups/s3/access_key").into())
        .await
        .unwrap();
    keychain
        .set(&v.name, "s3-secret-key", secret.to_owned().into())
        .await
        .unwrap();
    v
}

fn no_failure(r: &RestoreReport) -> bool {
    r.checks.iter().all(|c| c.status != CheckStatus::Fail)
}

/// The scratch directories (`/var/tmp/bg_restore_…`) a report's events named.
fn scratch_dirs(events: &[RestoreEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            RestoreEvent::Phase { phase, detail }
                if phase == "creating" && detail.starts_with("/var/tmp/") =>
            {
                Some(detail.clone())
            }
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_backup_in_an_s3_bucket_is_fetched_by_its_host_restored_and_removed() {
    // The bucket is listed from here (SigV4, the real s3s-fs server checks it); app1
    // fetches the object itself with a presigned URL on curl's stdin, restores it into a
    // scratch database, and both are gone afterwards. The keys and the URL's signature
    // are in nothing the console wrote.
    let tb = testbed();
    let secret = tb.str("/backups/s3/secret_key");
    let v = s3_variant("rs3", "sandbox/", &secret).await;
    let list = v.engine.backups(&v.name).await.unwrap();
    let good = tb.str("/backups/s3/good_key");
    assert_eq!(list.len(), 1, "{list:#?}");
    assert_eq!(list[0].name, good, "{list:#?}");
    assert_eq!(serde_json::to_value(list[0].store).unwrap(), "s3", "{list:#?}");

    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let r = v
        .engine
        .restore_test(
            &v.name,
            None,
            &move |e| seen.lock().unwrap().push(e),
            &Cancel::default(),
        )
        .await
        .unwrap();
    assert!(
        r.passed || (no_failure(&r) && check(&r, "rows").status == CheckStatus::Warn),
        "{r:#?}"
    );
    for name in ["download", "format", "restore", "schema", "invariants"] {
        assert_eq!(check(&r, name).status, CheckStatus::Pass, "{name}: {r:#?}");
    }
    assert!(
        r.checks
            .iter()
            .filter(|c| c.name == "cleanup")
            .all(|c| c.status == CheckStatus::Pass),
        "{r:#?}"
    );
    let dirs = scratch_dirs(&events.lock().unwrap());
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    assert!(
        !std::path::Path::new(&dirs[0]).exists(),
        "{} is still there",
        dirs[0]
    );
    assert!(!std::path::Path::new(&format!("{}.breakglass", dirs[0])).exists());
    assert!(!scratch_databases().contains(r.scratch.as_ref().unwrap()));

    let secrets = [
        ("the S3 secret key".to_owned(), secret.clone()),
        ("a presigned URL".to_owned(), "X-Amz-Signature".to_owned()),
        (
            "the restore password".to_owned(),
            tb.str("/backups/restore_password"),
        ),
    ];
    tb.assert_none_in_dir(&secrets, v.dir.path());
    let report = serde_json::to_string(&r).unwrap();
    tb.assert_no_secret_in(&secrets, report.as_bytes(), "the report");

    // Cancelled during the restore: the download and the scratch database are gone.
    let cancel = Cancel::default();
    let c2 = cancel.clone();
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let r = v
        .engine
        .restore_test(
            &v.name,
            None,
            &move |e| {
                if matches!(&e, RestoreEvent::Phase { phase, .. } if phase == "restoring") {
                    c2.cancel();
                }
                seen.lock().unwrap().push(e);
            },
            &cancel,
        )
        .await
        .unwrap();
    assert!(r.cancelled && !r.passed && r.cleaned_up, "{r:#?}");
    let dirs = scratch_dirs(&events.lock().unwrap());
    assert!(dirs.iter().all(|d| !std::path::Path::new(d).exists()), "{dirs:?}");
    assert!(!scratch_databases().contains(r.scratch.as_ref().unwrap()));
}

#[tokio::test]
async fn a_corrupt_object_fails_an_encrypted_one_passes_and_a_wrong_key_is_refused() {
    let tb = testbed();
    let secret = tb.str("/backups/s3/secret_key");

    // A block in the middle overwritten: fetched whole, and the restore fails.
    let v = s3_variant("rs3bad", "broken/", &secret).await;
    let r = restore(&v, None).await;
    assert!(!r.passed, "{r:#?}");
    assert_eq!(check(&r, "download").status, CheckStatus::Pass, "{r:#?}");
    assert_eq!(check(&r, "restore").status, CheckStatus::Fail, "{r:#?}");

    // age-encrypted: decrypted on app1 with the key from the keychain.
    let v = s3_variant("rs3age", "encrypted/", &secret).await;
    v.engine
        .keychain()
        .set(&v.name, "backup-key", tb.str("/backups/age_identity").into())
        .await
        .unwrap();
    let r = restore(&v, None).await;
    assert!(
        r.passed || (no_failure(&r) && check(&r, "rows").status == CheckStatus::Warn),
        "{r:#?}"
    );
    assert!(check(&r, "format").detail.contains("Age-encrypted"), "{r:#?}");

    // A wrong secret key: the server's refusal, said with what to do; a bucket that
    // does not exist, likewise.
    let v = s3_variant("rs3key", "sandbox/", "wrong-secret-key-0000").await;
    let err = v.engine.backups(&v.name).await.unwrap_err().to_string();
    assert!(
        err.contains("SignatureDoesNotMatch") && err.contains("s3-secret-key"),
        "{err}"
    );
    assert!(!err.contains("wrong-secret-key"), "{err}");
    let r = v
        .engine
        .restore_test(&v.name, None, &|_| {}, &Cancel::default())
        .await;
    assert!(r.is_err(), "{r:#?}");
}

/// `docker` against app1's engine (the backups' host).
fn app1_docker(args: &[&str]) -> std::process::Output {
    let socket = testbed().host("app1")["docker_socket"]
        .as_str()
        .unwrap()
        .to_owned();
    std::process::Command::new("docker")
        .arg("-H")
        .arg(format!("unix://{socket}"))
        .args(args)
        .output()
        .unwrap()
}

/// The names of app1's containers that start with `bg_restore_`.
fn scratch_containers() -> Vec<String> {
    let out = app1_docker(&["ps", "-a", "--format", "{{.Names}}"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|n| n.starts_with("bg_restore_"))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn a_throwaway_container_restores_without_touching_the_production_server() {
    // restore_into = "container": a PostgreSQL container on app1 (the testbed's image
    // with the official image's contract), no network, limits; the dump restored into it
    // through its socket, compared with production, and removed with its directory. No
    // scratch database appears on production. A leftover container of a killed console is
    // removed; a corrupt dump fails; a cancel and a missing image leave nothing behind.
    let tb = testbed();
    let image = tb.str("/postgres_image");
    let line = format!(
        "rpo = \"26h\"\nrestore_into = \"container\"\ncontainer = {{ image = \"{image}\", memory = \"1g\", cpus = 1 }}"
    );
    let v = restore_variant("rctr", None, &line).await;
    let before = scratch_databases();

    // A leftover of a killed console (its process is gone), and another tool's container
    // with the prefix but no label, left alone.
    let operator = breakglass::engine::connect::operator().replace([';', '\''], "_");
    let left = format!("bg_restore_{:016x}", rand_u64());
    let foreign = format!("bg_restore_{:016x}", rand_u64());
    let label = format!(
        "org.breakglass.restore-test=breakglass restore test; operator={operator}; pid=4000000; started=2026-01-01T00:00:00Z"
    );
    for (name, label) in [(&left, Some(label.as_str())), (&foreign, None)] {
        let mut args = vec!["create", "--name", name.as_str(), "--network", "none"];
        if let Some(l) = label {
            args.extend(["--label", l]);
        }
        args.extend([image.as_str(), "postgres"]);
        let out = app1_docker(&args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }

    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let r = v
        .engine
        .restore_test(
            &v.name,
            None,
            &move |e| seen.lock().unwrap().push(e),
            &Cancel::default(),
        )
        .await
        .unwrap();
    assert!(
        r.passed || (no_failure(&r) && check(&r, "rows").status == CheckStatus::Warn),
        "{r:#?}"
    );
    for name in ["disk", "container", "restore", "schema", "invariants", "cleanup"] {
        assert_eq!(check(&r, name).status, CheckStatus::Pass, "{name}: {r:#?}");
    }
    assert!(
        check(&r, "container").detail.contains("no network, 1024 MiB"),
        "{r:#?}"
    );
    assert!(r.leftovers_removed.contains(&left), "{r:#?}");
    let now = scratch_containers();
    assert!(!now.contains(&left) && now.contains(&foreign), "{now:?}");
    assert!(!now.contains(r.scratch.as_ref().unwrap()), "{now:?}");
    let dir = format!("/var/tmp/{}", r.scratch.as_ref().unwrap());
    assert!(!std::path::Path::new(&dir).exists(), "{dir} is still there");
    assert_eq!(
        scratch_databases()
            .into_iter()
            .filter(|d| !before.contains(d))
            .count(),
        0,
        "a scratch database was made on production"
    );
    let out = app1_docker(&["rm", "-f", &foreign]);
    assert!(out.status.success());

    // A corrupt dump fails; the container is gone.
    let v = restore_variant("rctrbad", Some(&tb.str("/backups/broken_dir")), &line).await;
    let r = restore(&v, Some("corrupt.dump")).await;
    assert!(!r.passed, "{r:#?}");
    assert_eq!(check(&r, "restore").status, CheckStatus::Fail, "{r:#?}");
    assert!(!scratch_containers().contains(r.scratch.as_ref().unwrap()));

    // Cancelled during the restore: cancelled, and nothing left.
    let cancel = Cancel::default();
    let c2 = cancel.clone();
    let r = v
        .engine
        .restore_test(
            &v.name,
            Some("plain.sql"),
            &move |e| {
                if matches!(&e, RestoreEvent::Phase { phase, .. } if phase == "restoring") {
                    c2.cancel();
                }
            },
            &cancel,
        )
        .await
        .unwrap();
    assert!(r.cancelled && !r.passed && r.cleaned_up, "{r:#?}");
    assert!(!scratch_containers().contains(r.scratch.as_ref().unwrap()));

    // An image the host does not have: said, with what to do, and nothing made.
    let v = restore_variant(
        "rctrimg",
        None,
        "rpo = \"26h\"\nrestore_into = \"container\"\ncontainer = { image = \"postgres:99-missing\" }",
    )
    .await;
    let r = restore(&v, None).await;
    assert!(!r.passed, "{r:#?}");
    assert!(
        check(&r, "image")
            .detail
            .contains("docker pull postgres:99-missing"),
        "{r:#?}"
    );
    assert!(r.scratch.is_none(), "{r:#?}");
}
