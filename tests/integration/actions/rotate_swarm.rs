//! Rotating a Docker Swarm secret on the testbed's single-node swarm (its manager's
//! engine, reached through app3's sshd, is app3's engine in these tests' profiles), with
//! a secret and a service of each test's own: the service rolls onto a new versioned
//! secret at the same target, owner and mode, its tasks run with the new value, the old
//! secret is removed; a service whose new tasks fail is rolled back by Docker and the
//! rotation undone; a cancel after the roll puts the service back and removes the new
//! secret. No value in the journal, the events, the local database or a command line.

use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use breakglass::engine::actions::{ActionEvent, ActionSpec, Cancel, RotateDockerSecret, StepStatus};
use serde_json::Value;

use super::{confirmed, recording};
use crate::testbed::{testbed, variant};

fn socket() -> String {
    testbed().str("/swarm/docker_socket")
}

/// The docker CLI against the swarm manager, `stdin` written to it.
fn swarm(args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write;
    let mut child = Command::new("docker")
        .args(["-H", &format!("unix://{}", socket())])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(mut input) = child.stdin.take() {
        input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn ok(args: &[&str], stdin: Option<&str>) -> String {
    let out = swarm(args, stdin);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn json(args: &[&str]) -> Value {
    serde_json::from_str(&ok(args, None)).unwrap()
}

/// What a test made on the swarm: removed however the test ends (the services first,
/// then every secret of the test's prefix, the rotation's new ones included).
struct Guard {
    prefix: String,
    services: Vec<String>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        for s in &self.services {
            let _ = swarm(&["service", "rm", s], None);
        }
        // A removed service's tasks let go of their secrets a moment later.
        for _ in 0..20 {
            let out = swarm(&["secret", "ls", "--format", "{{.Name}}"], None);
            let mine: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter(|n| n.starts_with(&self.prefix))
                .map(str::to_owned)
                .collect();
            if mine.is_empty() {
                break;
            }
            for n in &mine {
                let _ = swarm(&["secret", "rm", n], None);
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

struct Setup {
    v: crate::testbed::Variant,
    g: Guard,
    /// The first secret's name and value.
    secret: String,
    old: String,
    replicas: usize,
}

fn inspect_of(service: &str) -> Value {
    json(&["service", "inspect", service])[0].clone()
}

/// A service's running task containers (on this single node, with the docker CLI).
fn containers_of(service: &str) -> Vec<String> {
    ok(
        &[
            "ps",
            "-q",
            "--no-trunc",
            "--filter",
            &format!("label=com.docker.swarm.service.name={service}"),
        ],
        None,
    )
    .lines()
    .map(str::to_owned)
    .collect()
}

/// What each running task of a service reads at its secret's target.
fn values_of(service: &str) -> Vec<String> {
    containers_of(service)
        .iter()
        .map(|c| ok(&["exec", c, "/bin/busybox", "cat", "/run/secrets/api_key"], None))
        .collect()
}

/// Waits until a service's tasks all run (one per replica) and no update is under way.
fn wait_running_of(service: &str, replicas: usize) {
    for _ in 0..90 {
        let states = ok(
            &[
                "service",
                "ps",
                service,
                "--filter",
                "desired-state=running",
                "--format",
                "{{.CurrentState}}",
            ],
            None,
        );
        let lines: Vec<&str> = states.lines().collect();
        let state = inspect_of(service)["UpdateStatus"]["State"].clone();
        if lines.len() == replicas
            && lines.iter().all(|l| l.starts_with("Running"))
            && containers_of(service).len() == replicas
            && !matches!(state.as_str(), Some("updating" | "rollback_started"))
        {
            return;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    panic!("service {service} did not start");
}

/// A service mounting `secret` at `api_key` (mode 0400), with `replicas` tasks running
/// `command` and a health check reading the secret.
fn create_service(service: &str, secret: &str, replicas: usize, command: &str) {
    ok(
        &[
            "service",
            "create",
            "--detach",
            "--name",
            service,
            "--replicas",
            &replicas.to_string(),
            "--secret",
            &format!("source={secret},target=api_key,mode=0400"),
            "--health-cmd",
            "test -s /run/secrets/api_key",
            "--health-interval",
            "1s",
            "--health-retries",
            "2",
            "--health-start-period",
            "0s",
            "--entrypoint",
            "/bin/busybox",
            "sandbox-app:latest",
            "sh",
            "-c",
            command,
        ],
        None,
    );
}

impl Setup {
    fn service(&self) -> &str {
        &self.g.services[0]
    }

    fn inspect(&self) -> Value {
        inspect_of(self.service())
    }

    fn settings(&self) -> (Value, Value) {
        let i = self.inspect();
        (
            i["Spec"]["UpdateConfig"].clone(),
            i["Spec"]["RollbackConfig"].clone(),
        )
    }

    fn containers(&self) -> Vec<String> {
        containers_of(self.service())
    }

    fn values_in_tasks(&self) -> Vec<String> {
        values_of(self.service())
    }

    fn wait_running(&self) {
        wait_running_of(self.service(), self.replicas)
    }

    fn secret_id(&self, name: &str) -> Option<String> {
        let out = swarm(&["secret", "inspect", name, "--format", "{{.ID}}"], None);
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    fn mounted(&self) -> Vec<Value> {
        self.inspect()["Spec"]["TaskTemplate"]["ContainerSpec"]["Secrets"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

/// A secret `<prefix>_key_v1` and a service mounting it at `api_key` (mode 0400), with
/// `replicas` tasks running `command` and a health check reading the secret; a profile
/// whose app3 engine is the swarm manager and whose one service is this one.
async fn setup(tag: &str, replicas: usize, command: &str) -> Setup {
    let pid = std::process::id();
    let prefix = format!("rsw{tag}{pid}");
    let g = Guard {
        prefix: prefix.clone(),
        services: vec![format!("{prefix}_api")],
    };
    let secret = format!("{prefix}_key_v1");
    let old = format!("old-{tag}-swarm-secret-{pid}-{}", rand_tail());
    ok(&["secret", "create", &secret, "-"], Some(&old));
    create_service(&g.services[0], &secret, replicas, command);
    let app3 = testbed().host("app3")["docker_socket"]
        .as_str()
        .unwrap()
        .to_owned();
    let service = g.services[0].clone();
    let secret_name = secret.clone();
    let v = variant(&format!("rsw{tag}"), move |t| {
        let t = t.replacen(
            &format!("docker_socket = \"{app3}\""),
            &format!("docker_socket = \"{}\"", socket()),
            1,
        );
        let cut = t.find("[[services]]").unwrap_or(t.len());
        format!(
            "{}[[services]]\nname = \"api\"\nswarm_service = \"{service}\"\ndocker_secrets = [\"{secret_name}\"]\n",
            &t[..cut]
        )
    })
    .await;
    let s = Setup {
        v,
        g,
        secret,
        old,
        replicas,
    };
    s.wait_running();
    s
}

fn rand_tail() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{nanos:x}")
}

fn spec(secret: &str) -> ActionSpec {
    ActionSpec::RotateDockerSecret(RotateDockerSecret {
        secret: secret.to_owned(),
    })
}

fn with_status(seen: &[ActionEvent], want: StepStatus) -> Vec<String> {
    seen.iter()
        .filter_map(|e| match e {
            ActionEvent::Step {
                status, description, ..
            } if *status == want => Some(description.clone()),
            _ => None,
        })
        .collect()
}

/// Fails if a value is in the events, the journal or the console's data folder.
async fn assert_nowhere(s: &Setup, seen: &Arc<Mutex<Vec<ActionEvent>>>, secrets: &[(String, String)]) {
    let tb = testbed();
    let events = format!("{:?}", seen.lock().unwrap());
    tb.assert_no_secret_in(secrets, events.as_bytes(), "the events");
    let journal = s.v.engine.journal().await.unwrap().entries(None).await.unwrap();
    tb.assert_no_secret_in(secrets, format!("{journal:?}").as_bytes(), "the journal");
    tb.assert_none_in_dir(secrets, s.v.dir.path());
}

#[tokio::test]
async fn a_swarm_secret_is_rotated_and_every_task_runs_the_new_value() {
    let s = setup("ok", 2, "exec sleep 600").await;
    let old_id = s.secret_id(&s.secret).unwrap();
    let settings = s.settings();
    let spec_before = s.inspect()["Spec"].clone();
    let before_values = s.values_in_tasks();
    assert_eq!(before_values, vec![s.old.clone(); 2]);

    let plan = s.v.engine.plan_action(&s.v.name, &spec(&s.secret)).await.unwrap();
    let new_name = s.secret.replace("_key_v1", "_key_v2");
    assert!(plan.destructive);
    assert_eq!(plan.count, 3, "{plan:#?}");
    assert!(plan.summary.contains(&new_name), "{plan:#?}");
    // Every consumer: the service, its target, its tasks.
    assert!(
        plan.sample.iter().any(|l| l.contains(s.service())
            && l.contains("/run/secrets/api_key")
            && l.contains("mode 400")
            && l.contains("2 of 2 task(s) running")),
        "{plan:#?}"
    );
    assert!(
        plan.warnings
            .iter()
            .any(|w| w.contains("docker_secrets") && w.contains(&new_name)),
        "{plan:#?}"
    );
    assert!(
        plan.steps.last().unwrap().contains("cannot be undone"),
        "{plan:#?}"
    );
    assert_eq!(plan.reversible, [true, true, false], "{plan:#?}");

    let (events, seen) = recording();
    // Every process's command line on this machine while it runs (the hosts' too).
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut lines = std::collections::BTreeSet::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
                    if let Ok(c) = std::fs::read(e.path().join("cmdline")) {
                        lines.insert(c);
                    }
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            lines
        })
    };
    let report =
        s.v.engine
            .run_action(
                &s.v.name,
                confirmed(&spec(&s.secret), Some(&s.v.name)),
                events,
                Cancel::default(),
            )
            .await
            .unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let cmdlines = watcher.join().unwrap();
    assert!(report.verified, "{report:#?}");
    assert_eq!(
        report.verified_by,
        Some(breakglass::engine::actions::Vantage::Docker)
    );

    // The service mounts the new secret at the same target, owner and mode.
    let new_id = s.secret_id(&new_name).expect("the new secret exists");
    assert_ne!(new_id, old_id);
    let mounted = s.mounted();
    assert_eq!(mounted.len(), 1, "{mounted:?}");
    assert_eq!(mounted[0]["SecretID"], new_id.as_str());
    assert_eq!(mounted[0]["SecretName"], new_name.as_str());
    assert_eq!(mounted[0]["File"]["Name"], "api_key");
    assert_eq!(mounted[0]["File"]["Mode"], 0o400);
    // Its own update settings are as they were, and so is everything else of its spec
    // (its health check included) but the secret's ID and name.
    assert_eq!(s.settings(), settings);
    let mut want = spec_before.clone();
    want["TaskTemplate"]["ContainerSpec"]["Secrets"][0]["SecretID"] = new_id.as_str().into();
    want["TaskTemplate"]["ContainerSpec"]["Secrets"][0]["SecretName"] = new_name.as_str().into();
    assert_eq!(s.inspect()["Spec"], want);
    assert!(
        want["TaskTemplate"]["ContainerSpec"]["Healthcheck"].is_object(),
        "{want}"
    );
    // The old secret is gone; the new one says where it came from.
    assert_eq!(s.secret_id(&s.secret), None);
    let labels = json(&["secret", "inspect", &new_name])[0]["Spec"]["Labels"].clone();
    assert_eq!(labels["breakglass.rotated-from"], s.secret.as_str());
    // Both tasks run, with the new value: 64 hex digits, the same in each.
    s.wait_running();
    let now = s.values_in_tasks();
    assert_eq!(now.len(), 2);
    let new_value = now[0].clone();
    assert_eq!(new_value.len(), 64, "{new_value:?}");
    assert!(new_value.chars().all(|c| c.is_ascii_hexdigit()));
    assert_ne!(new_value, s.old);
    assert_eq!(now[1], new_value);

    // A finished rotation is not undone from the journal: refused, nothing changed.
    let undo = ActionSpec::Undo(breakglass::engine::actions::Undo {
        run_id: report.run_id.clone(),
    });
    let err =
        s.v.engine
            .run_action(
                &s.v.name,
                confirmed(&undo, Some(&s.v.name)),
                Arc::new(|_| {}),
                Cancel::default(),
            )
            .await
            .unwrap_err();
    assert!(err.to_string().contains("rotate again"), "{err}");
    assert_eq!(s.mounted()[0]["SecretID"], new_id.as_str());

    // Neither value anywhere the console wrote, nor in a command line.
    let secrets = vec![
        ("the new value".to_owned(), new_value),
        ("the old value".to_owned(), s.old.clone()),
    ];
    assert!(cmdlines.len() > 10, "the watcher saw processes");
    for c in &cmdlines {
        testbed().assert_no_secret_in(&secrets, c, "a process's command line");
    }
    assert_nowhere(&s, &seen, &secrets).await;
}

/// Two services mount the secret. The first (by name) rolls; the second's new tasks exit
/// at once (their command accepts only the old value): Docker rolls it back by itself,
/// its old task never stopped, the step fails, and the rotation is undone in reverse —
/// the first service back onto the old secret, then the new secret removed.
#[tokio::test]
async fn a_service_whose_new_tasks_fail_is_rolled_back_and_the_rotation_undone() {
    let mut s = setup("bad", 1, "grep -q ^old- /run/secrets/api_key && exec sleep 600").await;
    // Another service of the test's own, before it in name order: it rolls first.
    let first = format!("{}_aaa", s.g.prefix);
    s.g.services.push(first.clone());
    create_service(&first, &s.secret, 1, "exec sleep 600");
    wait_running_of(&first, 1);
    let first_spec = inspect_of(&first)["Spec"].clone();
    let old_id = s.secret_id(&s.secret).unwrap();
    let settings = s.settings();
    let spec_before = s.inspect()["Spec"].clone();
    let before = s.containers();
    let new_name = s.secret.replace("_key_v1", "_key_v2");

    let plan = s.v.engine.plan_action(&s.v.name, &spec(&s.secret)).await.unwrap();
    assert_eq!(plan.count, 4, "{plan:#?}");
    assert!(
        plan.steps[1].contains(&first) && plan.steps[2].contains(s.service()),
        "{plan:#?}"
    );
    assert!(
        plan.warnings.iter().any(|w| w.starts_with("2 services mount")),
        "{plan:#?}"
    );
    assert!(
        plan.sample
            .iter()
            .any(|l| l.contains(&first) && l.contains("not in the profile")),
        "{plan:#?}"
    );

    let (events, seen) = recording();
    let err =
        s.v.engine
            .run_action(
                &s.v.name,
                confirmed(&spec(&s.secret), Some(&s.v.name)),
                events,
                Cancel::default(),
            )
            .await
            .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(s.service()) && msg.contains("rolled"), "{msg}");
    // Back on the old secret, its very task still running (never a moment without one).
    let mounted = s.mounted();
    assert_eq!(mounted[0]["SecretID"], old_id.as_str(), "{mounted:?}");
    assert_eq!(mounted[0]["File"]["Mode"], 0o400);
    s.wait_running();
    assert_eq!(s.containers(), before, "the old task was never stopped");
    assert_eq!(s.values_in_tasks(), vec![s.old.clone()]);
    assert_eq!(s.settings(), settings);
    assert_eq!(s.inspect()["Spec"], spec_before);
    // The first service is back too: its spec as before, its task reading the old value.
    wait_running_of(&first, 1);
    assert_eq!(inspect_of(&first)["Spec"], first_spec);
    assert_eq!(values_of(&first), vec![s.old.clone()]);
    // The new secret is gone, the old one kept.
    assert_eq!(s.secret_id(&new_name), None);
    assert_eq!(s.secret_id(&s.secret), Some(old_id));
    // The journal and the events say what failed and what was undone, in reverse.
    let seen_now = seen.lock().unwrap().clone();
    let failed = with_status(&seen_now, StepStatus::Failed);
    assert!(
        failed.len() == 1 && failed[0].starts_with("roll service") && failed[0].contains(s.service()),
        "{failed:?}"
    );
    let undone = with_status(&seen_now, StepStatus::Undone);
    assert!(
        undone.len() == 2
            && undone[0].starts_with("roll service")
            && undone[0].contains(&first)
            && undone[1].starts_with("create the Docker secret"),
        "{undone:?}"
    );
    let journal = s.v.engine.journal().await.unwrap().entries(None).await.unwrap();
    let kinds: Vec<&str> = journal.iter().map(|e| e.kind.as_str()).collect();
    assert!(kinds.contains(&"action.step.failed"), "{kinds:?}");
    let undos: Vec<&Value> = journal
        .iter()
        .filter(|e| e.kind == "action.undo.started")
        .map(|e| &e.body["undo"])
        .collect();
    assert_eq!(undos.len(), 2, "{undos:?}");
    assert_eq!(undos[0]["action"], "rotate-docker-secret-undo");
    assert_eq!(undos[0]["service"]["service"], first.as_str());
    assert_eq!(
        undos[0]["service"]["old"]["id"],
        s.secret_id(&s.secret).unwrap().as_str()
    );
    assert_eq!(undos[1]["created"]["name"], new_name.as_str());
    // Three: the failed step's own leftovers first (nothing: Docker had rolled it back,
    // so the check is journaled and nothing is undone), then the two undos.
    let done: Vec<&Value> = journal
        .iter()
        .filter(|e| e.kind == "action.undo.done")
        .map(|e| &e.body)
        .collect();
    assert_eq!(done.len(), 3, "{kinds:?}");
    assert!(
        done[0]["outcome"]
            .as_str()
            .is_some_and(|o| o.starts_with("the failed step left nothing to undo")),
        "{done:?}"
    );
    // The failed step journaled the request that would undo what it left.
    let failed = journal.iter().find(|e| e.kind == "action.step.failed").unwrap();
    assert_eq!(
        failed.body["undo"]["action"], "rotate-docker-secret-undo",
        "{failed:?}"
    );
    assert_nowhere(&s, &seen, &[("the old value".to_owned(), s.old.clone())]).await;
}

/// Cancelled once the service runs the new secret: the service goes back onto the old
/// one (start-first again), then the new secret is removed.
#[tokio::test]
async fn a_cancel_after_the_roll_puts_the_service_back_and_removes_the_new_secret() {
    let s = setup("cancel", 1, "exec sleep 600").await;
    let old_id = s.secret_id(&s.secret).unwrap();
    let settings = s.settings();
    let spec_before = s.inspect()["Spec"].clone();
    let new_name = s.secret.replace("_key_v1", "_key_v2");
    let cancel = Cancel::default();
    let c = cancel.clone();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let events: breakglass::engine::actions::Events = Arc::new(move |e| {
        if let ActionEvent::Step {
            status: StepStatus::Done,
            description,
            ..
        } = &e
            && description.starts_with("roll service")
        {
            c.cancel();
        }
        s2.lock().unwrap().push(e);
    });
    let err =
        s.v.engine
            .run_action(
                &s.v.name,
                confirmed(&spec(&s.secret), Some(&s.v.name)),
                events,
                cancel,
            )
            .await
            .unwrap_err();
    assert!(err.to_string().to_lowercase().contains("cancel"), "{err}");
    let seen_now = seen.lock().unwrap().clone();
    let undone = with_status(&seen_now, StepStatus::Undone);
    assert_eq!(undone.len(), 2, "{undone:?}");
    assert!(
        undone[0].starts_with("roll service") && undone[1].starts_with("create the Docker secret"),
        "{undone:?}"
    );
    assert_eq!(s.mounted()[0]["SecretID"], old_id.as_str());
    assert_eq!(s.mounted()[0]["File"]["Name"], "api_key");
    s.wait_running();
    assert_eq!(s.values_in_tasks(), vec![s.old.clone()]);
    assert_eq!(s.settings(), settings);
    assert_eq!(s.inspect()["Spec"], spec_before, "the spec as it was");
    assert_eq!(s.secret_id(&new_name), None);
    assert_nowhere(&s, &seen, &[("the old value".to_owned(), s.old.clone())]).await;
}

/// A name that is not a Docker name, and a secret the swarm does not have: refused with
/// a clear error, before anything changes.
#[tokio::test]
async fn a_bad_or_unknown_secret_name_is_refused() {
    let s = setup("ref", 1, "exec sleep 600").await;
    for (name, want) in [
        ("../secrets/x", "not a Docker name"),
        ("k?force=1", "not a Docker name"),
        (&format!("{}_nope", s.g.prefix) as &str, "no Docker secret named"),
    ] {
        let err = s.v.engine.plan_action(&s.v.name, &spec(name)).await.unwrap_err();
        assert!(err.to_string().contains(want), "{name}: {err}");
    }
    // A secret no service mounts: nothing to roll.
    let unused = format!("{}_unused", s.g.prefix);
    ok(&["secret", "create", &unused, "-"], Some("unused-value"));
    let err =
        s.v.engine
            .plan_action(&s.v.name, &spec(&unused))
            .await
            .unwrap_err();
    assert!(err.to_string().contains("no service mounts"), "{err}");
}
