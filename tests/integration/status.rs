//! `status`: every host, container, the database and the app's `/health`, in parallel;
//! one host down does not hide the others.

use std::process::Command;

use crate::testbed::{testbed, variant};

#[tokio::test]
async fn status_of_the_three_hosts() {
    let v = variant("status", |t| t).await;
    let st = v.engine.status(&v.name).await.unwrap();
    assert_eq!(st.hosts.len(), 3);
    for h in &st.hosts {
        assert!(h.reachable, "{}: {:?}", h.name, h.error);
        assert!(h.latency_ms.is_some() && h.docker_version.is_some());
        assert!(!h.containers.is_empty());
    }
    let db = st.database.as_ref().unwrap();
    assert!(db.ok, "{:?}", db.error);
    assert!(st.app_health.as_ref().unwrap().ok);
}

/// A held connection killed on the server's side: `ping` on it says so, and the next
/// status opens a new one (the engine sees it closed and replaces it before pinging; the
/// status's own re-dial after a failed ping covers a connection that dies in between,
/// which this test cannot time).
#[tokio::test]
async fn a_held_connection_that_died_is_replaced_by_the_next_status() {
    let v = variant("status-redial", |t| t).await;
    let first = v.engine.status(&v.name).await.unwrap();
    assert!(first.hosts.iter().all(|h| h.reachable));
    let held = v.engine.session(&v.name, "app1").await.unwrap();
    assert!(held.ping().await.is_ok());

    // The server side of the held connection dies.
    let _ = held.exec("kill -9 $PPID", None).await;
    for _ in 0..300 {
        if held.is_closed() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        held.is_closed(),
        "the killed connection was not seen closing within 30 s"
    );
    let err = held.ping().await.unwrap_err();
    assert!(
        matches!(err, breakglass::engine::ssh::SshError::Disconnected { .. }),
        "{err:?}"
    );

    let st = v.engine.status(&v.name).await.unwrap();
    let app1 = st.hosts.iter().find(|h| h.name == "app1").unwrap();
    assert!(app1.reachable, "{:?}", app1.error);
    assert!(!app1.containers.is_empty());
    let now = v.engine.session(&v.name, "app1").await.unwrap();
    assert!(
        !std::sync::Arc::ptr_eq(&held, &now),
        "a new connection replaced the dead one"
    );
}

#[tokio::test]
async fn one_host_down_is_reported_and_the_rest_still_checked() {
    let port = crate::testbed::free_port();
    let v = variant("status-down", |t| {
        t.replace("port = 22203", &format!("port = {port}"))
    })
    .await;
    let st = v.engine.status(&v.name).await.unwrap();
    let by_name = |n: &str| st.hosts.iter().find(|h| h.name == n).unwrap();
    assert!(by_name("app1").reachable && by_name("app2").reachable);
    let app3 = by_name("app3");
    assert!(!app3.reachable);
    assert_eq!(app3.error.as_ref().unwrap().code, "ssh.unreachable");
    assert!(st.database.unwrap().ok);
}

#[tokio::test]
async fn the_cli_prints_status_as_text_and_json_without_secrets() {
    let v = variant("status-cli", |t| t).await;
    let secrets = testbed().secret_values();
    for args in [vec!["status"], vec!["--json", "status"]] {
        let out = Command::new(env!("CARGO_BIN_EXE_breakglass"))
            .args(&args)
            .arg(&v.name)
            .env("BREAKGLASS_DATA_DIR", v.dir.path().join("state"))
            .env("RUST_LOG", "trace")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        testbed().assert_no_secret_in(&secrets, &out.stdout, "status stdout");
        testbed().assert_no_secret_in(&secrets, &out.stderr, "status stderr");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("app1") && text.contains("web2") && text.contains("worker"),
            "{text}"
        );
        if args.contains(&"--json") {
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(v["hosts"].as_array().unwrap().len(), 3);
        }
    }
    testbed().assert_no_secret_in_dir(v.dir.path());
}

/// Another project's unhealthy container on a deployment's host is listed apart, and does
/// not make the deployment degraded; the deployment's own containers are still judged.
#[tokio::test]
async fn another_projects_unhealthy_container_is_shown_but_not_judged() {
    let v = variant("status-foreign", |t| t).await;
    let name = format!("status-foreign-{}", std::process::id());
    let out = crate::testbed::docker(
        "app2",
        &[
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            "none",
            "--health-cmd",
            "false",
            "--health-interval",
            "1s",
            "--health-retries",
            "1",
            "--entrypoint",
            "/bin/busybox",
            "sandbox-app:latest",
            "sleep",
            "600",
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    struct Rm(String);
    impl Drop for Rm {
        fn drop(&mut self) {
            let _ = crate::testbed::docker("app2", &["rm", "-f", &self.0]);
        }
    }
    let _rm = Rm(name.clone());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let st = loop {
        let st = v.engine.status(&v.name).await.unwrap();
        let app2 = st.hosts.iter().find(|h| h.name == "app2").unwrap();
        if app2
            .other_containers
            .iter()
            .any(|c| c.name == name && c.health == "unhealthy")
        {
            break st;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{name} never became unhealthy"
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    };
    let app2 = st.hosts.iter().find(|h| h.name == "app2").unwrap();
    assert!(app2.containers.iter().all(|c| c.name != name));
    assert!(
        app2.containers.iter().any(|c| c.name == "web2"),
        "{:?}",
        app2.containers
    );
    assert!(
        st.all_good(),
        "a foreign container degraded the deployment: {st:?}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_breakglass"))
        .args(["status", &v.name])
        .env("BREAKGLASS_DATA_DIR", v.dir.path().join("state"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("other container(s) on this host"), "{text}");
}
