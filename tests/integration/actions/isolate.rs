//! Isolating a container (pause, stop, disconnect from its networks) and restoring it.

use std::time::Duration;

use breakglass::engine::actions::{ActionSpec, Isolate, IsolateMode, Restore};

use super::run;
use crate::testbed::{testbed, variant};

#[tokio::test]
async fn a_container_is_paused_and_stopped_then_restored() {
    let v = variant("isolate", |t| t).await;
    let name = format!("iso-{}", std::process::id());
    let sock = testbed().host("app3")["docker_socket"]
        .as_str()
        .unwrap()
        .to_owned();
    let docker = |args: &[&str]| {
        let out = std::process::Command::new("docker")
            .arg("-H")
            .arg(format!("unix://{sock}"))
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    docker(&[
        "run",
        "-d",
        "--init",
        "--name",
        &name,
        "--entrypoint",
        "/bin/busybox",
        "sandbox-app:latest",
        "sleep",
        "600",
    ]);
    let state = || docker(&["inspect", "-f", "{{.State.Status}}", &name]);

    for (mode, expected) in [(IsolateMode::Pause, "paused"), (IsolateMode::Stop, "exited")] {
        let spec = ActionSpec::Isolate(Isolate {
            host: "app3".into(),
            container: name.clone(),
            mode,
        });
        let report = run(&v, &spec).await;
        assert!(report.verified, "{}", report.verify_detail);
        assert_eq!(state(), expected);
        assert_eq!(run(&v, &spec).await.outcome, "nothing to do");
        let undo = ActionSpec::Restore(Restore {
            host: "app3".into(),
            container: name.clone(),
            mode,
            networks: vec![],
        });
        assert!(run(&v, &undo).await.verified);
        assert_eq!(state(), "running");
    }
    // Host networking cannot be disconnected: the refusal says what to do instead.
    let e = v
        .engine
        .plan_action(
            &v.name,
            &ActionSpec::Isolate(Isolate {
                host: "app3".into(),
                container: "web3".into(),
                mode: IsolateMode::Disconnect,
            }),
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("stop or pause"), "{e}");
    docker(&["rm", "-f", &name]);
}

/// Docker on app3, through its socket (the test's own view, not the console's).
pub(crate) fn docker_app3(args: &[&str]) -> Result<String, String> {
    let sock = testbed().host("app3")["docker_socket"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = std::process::Command::new("docker")
        .arg("-H")
        .arg(format!("unix://{sock}"))
        .args(args)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Removes the test's container and network, also when the test fails.
pub(super) struct Cleanup(pub(super) Vec<Vec<String>>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for args in &self.0 {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let _ = docker_app3(&args);
        }
    }
}

#[tokio::test]
async fn a_container_is_disconnected_from_its_network_and_reconnected() {
    let v = variant("disconnect", |t| t).await;
    let (net, name) = (
        format!("isonet-{}", std::process::id()),
        format!("isonet-c-{}", std::process::id()),
    );
    let _cleanup = Cleanup(vec![
        vec!["rm".into(), "-f".into(), name.clone()],
        vec!["network".into(), "rm".into(), net.clone()],
    ]);
    docker_app3(&["network", "create", &net]).unwrap();
    // A web server on that network only (busybox httpd), reachable from this machine
    // through the network's bridge.
    docker_app3(&[
        "run",
        "-d",
        "--init",
        "--name",
        &name,
        "--network",
        &net,
        "--entrypoint",
        "/bin/busybox",
        "sandbox-app:latest",
        "httpd",
        "-f",
        "-p",
        "8080",
        "-h",
        "/tmp",
    ])
    .unwrap();
    let ip = || {
        docker_app3(&[
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
            &name,
        ])
        .unwrap()
    };
    let answers = |ip: String| async move {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        client.get(format!("http://{ip}:8080/")).send().await.is_ok()
    };
    let before = ip();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !answers(before.clone()).await {
        assert!(
            std::time::Instant::now() < deadline,
            "{name} never answered on {before}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let spec = ActionSpec::Isolate(Isolate {
        host: "app3".into(),
        container: name.clone(),
        mode: IsolateMode::Disconnect,
    });
    let plan = v.engine.plan_action(&v.name, &spec).await.unwrap();
    assert_eq!(plan.sample, vec![net.clone()], "the plan names the network");
    let report = run(&v, &spec).await;
    assert!(report.verified, "{}", report.verify_detail);
    assert_eq!(ip(), "", "no network left");
    assert!(!answers(before.clone()).await, "unreachable once disconnected");
    assert_eq!(
        docker_app3(&["inspect", "-f", "{{.State.Status}}", &name]).unwrap(),
        "running",
        "disconnected, not stopped: its state is kept for the investigation"
    );
    assert_eq!(run(&v, &spec).await.outcome, "nothing to do");

    // Undo without naming the networks (as the window does): another console, with no
    // record of the disconnect, cannot guess them and says so; this one reads them from
    // its journal.
    let undo = ActionSpec::Restore(Restore {
        host: "app3".into(),
        container: name.clone(),
        mode: IsolateMode::Disconnect,
        networks: vec![],
    });
    let elsewhere = variant("disconnect-elsewhere", |t| t).await;
    let e = elsewhere
        .engine
        .plan_action(&elsewhere.name, &undo)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "action.unavailable", "{e}");
    assert!(e.to_string().contains("name the networks"), "{e}");
    let plan = v.engine.plan_action(&v.name, &undo).await.unwrap();
    assert_eq!(plan.sample, vec![net.clone()], "{plan:?}");
    let report = run(&v, &undo).await;
    assert!(report.verified, "{}", report.verify_detail);
    let after = ip();
    assert!(!after.is_empty());
    // The new endpoint takes a moment to forward on the bridge.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !answers(after.clone()).await {
        assert!(
            std::time::Instant::now() < deadline,
            "not reachable again on {after} after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(run(&v, &undo).await.outcome, "nothing to do");
}
