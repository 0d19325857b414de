//! Faults injected into a three-host rotation (docs/rotation.md, "Faults injected"),
//! beside those of `rotate.rs` (an unhealthy container, a cancel, Redis killed): host 2's
//! sshd killed as its step starts, a full disk on host 2, and PostgreSQL refusing the new
//! verifier. Each ends with every host on the old values, its container the old one and
//! running, no half-written `.env`, and a journal that says what happened.

use std::sync::{Arc, Mutex};

use breakglass::engine::actions::{ActionEvent, Cancel, StepStatus};

use super::confirmed;
use super::recording;
use super::rotate::{TestRole, assert_back, inspect, setup, setup_with, spec};
use crate::testbed::testbed;

/// An sshd of this test's own for app2: the testbed's configuration and host key (so the
/// profile's pinned key holds), another port and pidfile. Killed with every process it
/// started (the connections' processes too) when dropped or by [`OwnSshd::kill`].
struct OwnSshd {
    child: std::process::Child,
    port: u16,
}

impl OwnSshd {
    fn start(dir: &std::path::Path) -> OwnSshd {
        let port = crate::testbed::free_port();
        Self::start_on(dir, port)
    }

    fn start_on(dir: &std::path::Path, port: u16) -> OwnSshd {
        let tb = testbed();
        let config = format!("{}/hosts/app2/sshd_config", tb.dir.display());
        let child = std::process::Command::new("/usr/sbin/sshd")
            .args(["-D", "-f", &config, "-o"])
            .arg(format!("Port={port}"))
            .arg("-o")
            .arg(format!("PidFile={}", dir.join("sshd.pid").display()))
            .arg("-E")
            .arg(dir.join("sshd.log"))
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "own sshd did not start");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        OwnSshd { child, port }
    }

    /// SIGKILL to the sshd and every descendant: the connections drop at once.
    fn kill(&self) {
        let root = self.child.id();
        let parent_of = |pid: u32| -> Option<u32> {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // pid (comm) state ppid …: comm may hold spaces, so split after the last ')'.
            stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()
        };
        let all: Vec<u32> = std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .collect();
        let mut tree = vec![root];
        loop {
            let more: Vec<u32> = all
                .iter()
                .copied()
                .filter(|p| !tree.contains(p) && parent_of(*p).is_some_and(|pp| tree.contains(&pp)))
                .collect();
            if more.is_empty() {
                break;
            }
            tree.extend(more);
        }
        for pid in tree {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }
}

impl Drop for OwnSshd {
    fn drop(&mut self) {
        self.kill();
        let _ = self.child.wait();
    }
}

fn ids(s: &super::rotate::Setup) -> Vec<String> {
    s.hosts
        .iter()
        .map(|(h, .., n)| inspect(h, n)["Id"].as_str().unwrap().to_owned())
        .collect()
}

/// What the run's events say was undone, in order.
fn undone(seen: &[ActionEvent]) -> Vec<String> {
    seen.iter()
        .filter_map(|e| match e {
            ActionEvent::Step {
                status: StepStatus::Undone,
                description,
                ..
            } => Some(description.clone()),
            _ => None,
        })
        .collect()
}

/// Host 2's sshd is killed as its first step starts: that step fails (app2 cannot be
/// reached, its .env never written), app1's container and .env are undone in reverse,
/// app3 is never touched, and the journal has the failure and both undos.
#[tokio::test]
async fn host_2s_sshd_killed_mid_roll_leaves_every_host_on_the_old_values() {
    let dir = tempfile::tempdir().unwrap();
    let sshd = Arc::new(OwnSshd::start(dir.path()));
    let s = setup_with(
        "sshkill",
        ["true"; 3],
        &[],
        &[("port = 22202".to_owned(), format!("port = {}", sshd.port))],
    )
    .await;
    let before = ids(&s);
    let (record, seen) = recording();
    let killer = sshd.clone();
    let events: breakglass::engine::actions::Events = Arc::new(move |e| {
        if let ActionEvent::Step {
            status: StepStatus::Started,
            description,
            ..
        } = &e
            && description.starts_with("app2: write")
        {
            killer.kill();
        }
        record(e);
    });
    let err =
        s.v.engine
            .run_action(
                &s.v.name,
                confirmed(&spec(), Some(&s.v.name)),
                events,
                Cancel::default(),
            )
            .await
            .unwrap_err();
    assert!(err.to_string().contains("app2"), "{err}");
    assert_back(&s, &before);
    let seen = seen.lock().unwrap().clone();
    let undone = undone(&seen);
    assert_eq!(undone.len(), 2, "{undone:?}");
    assert!(
        undone[0].starts_with("app1: recreate") && undone[1].starts_with("app1: write"),
        "{undone:?}"
    );
    let finished = seen
        .iter()
        .find_map(|e| match e {
            ActionEvent::Finished { outcome } => Some(outcome.clone()),
            _ => None,
        })
        .unwrap();
    assert!(
        finished.starts_with("failed at step 3") && finished.ends_with("2 step(s) undone"),
        "{finished}"
    );
    // The journal: step 3 failed, naming app2; steps 2 and 1 undone.
    let journal = s.v.engine.journal().await.unwrap().entries(None).await.unwrap();
    let text = format!("{journal:?}");
    assert!(text.contains("action.step.failed"), "{text}");
    assert_eq!(text.matches("action.undo.done").count(), 2, "{text}");
    // No temporary file beside app2's .env (it was never written).
    let app2_dir = s.hosts[1].1.parent().unwrap();
    let left: Vec<_> = std::fs::read_dir(app2_dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("app2.env") && n != "app2.env")
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// Host 2's `.env` lives on a full disk: its write fails before anything is renamed (no
/// temporary file left), app1 is undone, app3 never touched.
#[tokio::test]
async fn a_full_disk_on_host_2_undoes_host_1() {
    let s = setup("diskfull", ["true"; 3]).await;
    let before = ids(&s);
    // app2's .env moves to a 64 KiB tmpfs, and its path becomes a symlink to it (the
    // rotation writes through symlinks, into the target's folder).
    let mnt = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "bg-rotfull"])
        .arg(mnt.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    struct Umount(std::path::PathBuf);
    impl Drop for Umount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _umount = Umount(mnt.path().to_owned());
    let (_, file, original, _) = &s.hosts[1];
    let target = mnt.path().join("app2.env");
    std::fs::write(&target, original).unwrap();
    std::fs::remove_file(file).unwrap();
    std::os::unix::fs::symlink(&target, file).unwrap();
    // Fill it.
    let filler = mnt.path().join("filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    let block = vec![0u8; 4096];
    while std::io::Write::write_all(&mut f, &block).is_ok() {}
    drop(f);

    let (events, seen) = recording();
    let err =
        s.v.engine
            .run_action(
                &s.v.name,
                confirmed(&spec(), Some(&s.v.name)),
                events,
                Cancel::default(),
            )
            .await
            .unwrap_err();
    assert!(err.to_string().contains("app2"), "{err}");
    assert_back(&s, &before);
    let undone = undone(&seen.lock().unwrap());
    assert_eq!(undone.len(), 2, "app1's container and .env: {undone:?}");
    let mut names: Vec<String> = std::fs::read_dir(mnt.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["app2.env", "filler"], "no temporary file or backup left");
}

/// PostgreSQL refuses the new verifier (another session holds the role's row: the
/// console's `ALTER ROLE` waits out its lock timeout): the first step fails, nothing
/// else ran, the role keeps its old password and every host its old values.
#[tokio::test]
async fn postgresql_refusing_the_verifier_changes_nothing() {
    let role = TestRole::new("pgref", false);
    let s = setup_with("pgrefuse", ["true"; 3], &role.env(), &[]).await;
    let before = ids(&s);
    // Another session changes the role and does not commit.
    let tb = testbed();
    let mut holder = std::process::Command::new(format!("{}/psql", tb.str("/postgres/bin_dir")))
        .args([
            "-X",
            "-q",
            "-h",
            "127.0.0.1",
            "-p",
            &tb.str("/postgres/port"),
            "-U",
            &tb.str("/postgres/superuser"),
            "-d",
            "postgres",
            "-c",
        ])
        .arg(format!(
            "BEGIN; ALTER ROLE {} VALID UNTIL 'infinity'; SELECT pg_sleep(120);",
            role.name
        ))
        .env("PGPASSWORD", tb.str("/postgres/superuser_password"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let spec =
        breakglass::engine::actions::ActionSpec::RotateSecrets(breakglass::engine::actions::RotateSecrets {
            vars: vec!["POSTGRES_PASSWORD".into()],
            ..Default::default()
        });
    let (events, seen) = recording();
    let result =
        s.v.engine
            .run_action(
                &s.v.name,
                confirmed(&spec, Some(&s.v.name)),
                events,
                Cancel::default(),
            )
            .await;
    let _ = holder.kill();
    let _ = holder.wait();
    let err = result.unwrap_err();
    assert!(
        err.to_string().contains("PostgreSQL refused the new password")
            && err.to_string().contains("lock timeout"),
        "{err}"
    );
    // Nothing ran after step 1, and nothing needed undoing.
    let seen = seen.lock().unwrap();
    assert!(undone(&seen).is_empty());
    assert!(
        !seen.iter().any(|e| matches!(e, ActionEvent::Step { status: StepStatus::Started, description, .. } if description.starts_with("app1"))),
        "no host was touched"
    );
    for ((host, file, original, _), _) in s.hosts.iter().zip(&before) {
        assert_eq!(&std::fs::read(file).unwrap(), original, "{host}");
    }
    assert!(
        role.login(&role.password).status.success(),
        "the old password still works"
    );
    for ((host, .., name), id) in s.hosts.iter().zip(&before) {
        assert_eq!(inspect(host, name)["Id"].as_str().unwrap(), id, "{host}");
    }
}

/// Someone edits host 2's `.env` between the plan and its write: the write refuses
/// (compare-and-swap on the host: nothing written, their edit kept), app1 is undone.
#[tokio::test]
async fn a_file_changed_since_the_plan_is_not_overwritten() {
    let s = setup("cas", ["true"; 3]).await;
    let before = ids(&s);
    let app2 = s.hosts[1].1.clone();
    let (record, seen) = recording();
    let events: breakglass::engine::actions::Events = Arc::new(move |e| {
        if let ActionEvent::Step {
            status: StepStatus::Started,
            description,
            ..
        } = &e
            && description.starts_with("app2: write")
        {
            let mut f = std::fs::OpenOptions::new().append(true).open(&app2).unwrap();
            std::io::Write::write_all(&mut f, b"\nEDITED=by-someone-else\n").unwrap();
        }
        record(e);
    });
    let err =
        s.v.engine
            .run_action(
                &s.v.name,
                confirmed(&spec(), Some(&s.v.name)),
                events,
                Cancel::default(),
            )
            .await
            .unwrap_err();
    assert!(err.to_string().contains("changed since it was read"), "{err}");
    let edited = std::fs::read(&s.hosts[1].1).unwrap();
    let mut want = s.hosts[1].2.clone();
    want.extend_from_slice(b"\nEDITED=by-someone-else\n");
    assert_eq!(edited, want, "their edit is kept, nothing of ours written");
    // app1 and app3 as before (app2's file has the edit; its container is the old one).
    for (i, ((host, file, original, name), id)) in s.hosts.iter().zip(&before).enumerate() {
        if i != 1 {
            assert_eq!(&std::fs::read(file).unwrap(), original, "{host}");
        }
        assert_eq!(inspect(host, name)["Id"].as_str().unwrap(), id, "{host}");
    }
    assert_eq!(undone(&seen.lock().unwrap().clone()).len(), 2);
}

/// Host 2's connection is lost in the middle of its container's recreation (its sshd and
/// every connection killed the moment Docker renames the old container out of the way):
/// the run cannot undo host 2 and says so; app1 is undone. Once host 2 answers again,
/// `undo RUN` from the journal puts its old container back (the failed step's own
/// undo, journaled with the failure) and its .env, and every host is as before.
#[tokio::test]
async fn a_connection_lost_mid_recreate_is_undone_from_the_journal_once_the_host_answers() {
    let dir = tempfile::tempdir().unwrap();
    let sshd = Arc::new(Mutex::new(Some(OwnSshd::start(dir.path()))));
    let port = sshd.lock().unwrap().as_ref().unwrap().port;
    let s = setup_with(
        "midrec",
        ["true"; 3],
        &[],
        &[("port = 22202".to_owned(), format!("port = {port}"))],
    )
    .await;
    let before = ids(&s);
    let app2_name = s.hosts[1].3.clone();
    // Docker's events on app2: when our container is renamed (parked), kill host 2's sshd.
    let tb = testbed();
    let mut events_proc = std::process::Command::new("docker")
        .env(
            "DOCKER_HOST",
            format!("unix://{}/hosts/app2/docker.sock", tb.dir.display()),
        )
        .args([
            "events",
            "--filter",
            "event=rename",
            "--format",
            "{{.Actor.Attributes.oldName}}",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = events_proc.stdout.take().unwrap();
    let killer = {
        let sshd = sshd.clone();
        let want = format!("/{app2_name}");
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                if line.trim() == want {
                    if let Some(d) = sshd.lock().unwrap().as_ref() {
                        d.kill();
                    }
                    return true;
                }
            }
            false
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (events, seen) = recording();
    let err =
        s.v.engine
            .run_action(
                &s.v.name,
                confirmed(&spec(), Some(&s.v.name)),
                events,
                Cancel::default(),
            )
            .await
            .unwrap_err();
    let _ = events_proc.kill();
    let _ = events_proc.wait();
    assert!(killer.join().unwrap(), "the old container on app2 was parked");
    assert!(err.to_string().contains("app2"), "{err}");
    let seen = seen.lock().unwrap().clone();
    let outcome = seen
        .iter()
        .find_map(|e| match e {
            ActionEvent::Finished { outcome } => Some(outcome.clone()),
            _ => None,
        })
        .unwrap();
    assert!(
        outcome.starts_with("failed at step 4") && outcome.contains("could NOT undo step(s) 4, 3"),
        "{outcome}"
    );
    // app1 undone during the run; app2's old container is still parked.
    let parked = docker_ps_names(&s.hosts[1].0, &app2_name);
    assert!(
        parked
            .iter()
            .any(|n| n.starts_with(&format!("{app2_name}-bg-old-"))),
        "{parked:?}"
    );
    // Host 2 answers again: undo the run from the journal.
    *sshd.lock().unwrap() = None;
    *sshd.lock().unwrap() = Some(OwnSshd::start_on(dir.path(), port));
    let journal = s.v.engine.journal().await.unwrap().entries(None).await.unwrap();
    let run_id = journal
        .iter()
        .rev()
        .find(|e| e.kind == "action.planned" && e.body["action"] == "rotate-secrets")
        .unwrap()
        .run_id
        .clone();
    let undo = breakglass::engine::actions::ActionSpec::Undo(breakglass::engine::actions::Undo { run_id });
    let report =
        s.v.engine
            .run_action(
                &s.v.name,
                confirmed(&undo, Some(&s.v.name)),
                Arc::new(|_| {}),
                Cancel::default(),
            )
            .await
            .unwrap();
    assert!(report.verified, "{report:#?}");
    assert_back(&s, &before);
}

/// The names of app containers on `host` that contain `name`.
fn docker_ps_names(host: &str, name: &str) -> Vec<String> {
    let out = crate::testbed::docker(
        host,
        &[
            "ps",
            "-a",
            "--filter",
            &format!("name={name}"),
            "--format",
            "{{.Names}}",
        ],
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}
