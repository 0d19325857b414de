//! Each host's Docker Engine, through bollard over the host's SSH connection: the
//! containers with their compose labels and health, inspect (never the env values),
//! exec, and logs.

use crate::testbed::{testbed, variant};

#[tokio::test]
async fn each_host_lists_its_own_containers_with_compose_labels_and_health() {
    let v = variant("dps", |t| t).await;
    for (host, expected) in [
        ("app1", vec!["web1", "worker"]),
        ("app2", vec!["web2"]),
        ("app3", vec!["web3"]),
    ] {
        let docker = v.engine.docker(&v.name, host).await.unwrap();
        assert!(
            docker.version().await.unwrap().contains("API 1."),
            "the API version was negotiated"
        );
        // The sandbox's own containers (other tests may add one of theirs for a while).
        let list: Vec<_> = docker
            .containers()
            .await
            .unwrap()
            .into_iter()
            .filter(|c| c.compose_project.as_deref() == Some("sandbox"))
            .collect();
        let names: Vec<_> = list.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, expected, "{host}");
        for c in &list {
            assert_eq!(c.compose_project.as_deref(), Some("sandbox"));
            let service = if c.name == "worker" { "worker" } else { "web" };
            assert_eq!(c.compose_service.as_deref(), Some(service));
            assert_eq!(c.state, "running");
            assert_eq!(c.host, host);
            assert!(c.image.starts_with("sandbox-app"), "{}", c.image);
        }
    }
}

#[tokio::test]
async fn containers_become_healthy() {
    let v = variant("health", |t| t).await;
    let docker = v.engine.docker(&v.name, "app1").await.unwrap();
    // Health checks run every 2 s; the testbed waited for /health, so this is quick.
    for _ in 0..30 {
        let c = docker.inspect("web1").await.unwrap();
        if c.health == "healthy" {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    panic!("web1 never became healthy");
}

#[tokio::test]
async fn inspect_names_the_environment_but_never_shows_a_value() {
    let v = variant("inspect", |t| t).await;
    let c = v
        .engine
        .docker(&v.name, "app2")
        .await
        .unwrap()
        .inspect("web2")
        .await
        .unwrap();
    assert!(
        c.env_names.iter().any(|n| n == "SECRET_KEY_BASE"),
        "{:?}",
        c.env_names
    );
    assert!(c.env_names.iter().any(|n| n == "POSTGRES_PASSWORD"));
    let json = serde_json::to_vec(&c).unwrap();
    testbed().assert_no_secret_in(&testbed().secret_values(), &json, "docker inspect output");
    let dbg = format!("{c:?}");
    testbed().assert_no_secret_in(
        &testbed().secret_values(),
        dbg.as_bytes(),
        "docker inspect Debug output",
    );

    let e = v
        .engine
        .docker(&v.name, "app2")
        .await
        .unwrap()
        .inspect("web1")
        .await
        .unwrap_err();
    assert_eq!(
        e.code(),
        "docker.no_such_container",
        "web1 lives on app1, not app2"
    );
}

#[tokio::test]
async fn exec_runs_in_the_container_and_logs_can_be_read() {
    let v = variant("dexec", |t| t).await;
    let docker = v.engine.docker(&v.name, "app3").await.unwrap();
    let out = docker
        .exec("web3", &["/bin/busybox", "echo", "inside"], 4096)
        .await
        .unwrap();
    assert_eq!((out.exit_code, out.output.as_str()), (Some(0), "inside\n"));
    let out = docker
        .exec("web3", &["/bin/busybox", "false"], 4096)
        .await
        .unwrap();
    assert_eq!(out.exit_code, Some(1));

    // Every request leaves a line in the log.
    reqwest::get(format!("{}/health", testbed().web_urls()[2].1))
        .await
        .unwrap();
    let (logs, _) = docker.logs("web3", 50, 1 << 20).await.unwrap();
    assert!(logs.contains("/health"), "{logs}");
}

/// Rotation's recreate: a new container with the changed variable and every other
/// setting of the old one, healthy before it counts; the old one parked, and back by
/// itself when the new one is unhealthy, or on rollback.
#[tokio::test]
async fn a_container_is_recreated_with_a_new_environment_and_rolled_back() {
    use breakglass::engine::docker::recreate::{RecreateError, discard_old, recreate, rollback};
    use breakglass::engine::secret::Sensitive;
    use std::time::Duration;

    let tb = testbed();
    let v = variant("rcr", |t| t).await;
    let docker = v.engine.docker(&v.name, "app3").await.unwrap();
    let socket = tb.host("app3")["docker_socket"].as_str().unwrap().to_owned();
    let cli = |args: &[&str]| {
        std::process::Command::new("docker")
            .arg("-H")
            .arg(format!("unix://{socket}"))
            .args(args)
            .output()
            .unwrap()
    };
    let name = format!("rc-{}", std::process::id());
    struct Gone(Box<dyn Fn()>);
    impl Drop for Gone {
        fn drop(&mut self) {
            (self.0)();
        }
    }
    let (n2, s2) = (name.clone(), socket.clone());
    let _gone = Gone(Box::new(move || {
        let out = std::process::Command::new("docker")
            .args([
                "-H",
                &format!("unix://{s2}"),
                "ps",
                "-aq",
                "--filter",
                &format!("name={n2}"),
            ])
            .output()
            .unwrap();
        for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            let _ = std::process::Command::new("docker")
                .args(["-H", &format!("unix://{s2}"), "rm", "-f", id])
                .output();
        }
    }));
    let out = cli(&[
        "run",
        "-d",
        "--name",
        &name,
        "--label",
        "com.docker.compose.project=rctest",
        "--restart",
        "unless-stopped",
        // PID 1 that ends on SIGTERM (busybox sleep would wait out the 10 s stop).
        "--init",
        "--memory",
        "64m",
        "--network",
        "none",
        "-e",
        "SECRET=old-value-1",
        "-e",
        "OTHER=keep",
        "--health-cmd",
        "test \"$SECRET\" != bad-value",
        "--health-interval",
        "1s",
        "--health-start-period",
        "0s",
        "--entrypoint",
        "/bin/busybox",
        "sandbox-app:latest",
        "sleep",
        "600",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let inspect = |n: &str| -> serde_json::Value {
        let out = cli(&["inspect", n]);
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()[0].clone()
    };
    let before = inspect(&name);
    let env_of = |i: &serde_json::Value| -> Vec<String> {
        i["Config"]["Env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_str().unwrap().to_owned())
            .collect()
    };
    let change = |v: &str| vec![("SECRET".to_owned(), Sensitive::new(v.to_owned()))];
    let within = Duration::from_secs(30);

    // Recreated: the new value, everything else the same, healthy.
    let parked = recreate(&docker, &name, &change("new-value-2"), within)
        .await
        .unwrap();
    let after = inspect(&name);
    assert_ne!(after["Id"], before["Id"]);
    assert!(
        env_of(&after).contains(&"SECRET=new-value-2".to_owned()),
        "{:?}",
        env_of(&after)
    );
    assert!(env_of(&after).contains(&"OTHER=keep".to_owned()));
    assert_eq!(after["Image"], before["Image"]);
    assert_eq!(after["Config"]["Labels"], before["Config"]["Labels"]);
    assert_eq!(
        after["HostConfig"]["RestartPolicy"],
        before["HostConfig"]["RestartPolicy"]
    );
    assert_eq!(after["HostConfig"]["Memory"], before["HostConfig"]["Memory"]);
    assert_eq!(
        after["HostConfig"]["NetworkMode"],
        before["HostConfig"]["NetworkMode"]
    );
    assert_eq!(after["Config"]["Healthcheck"], before["Config"]["Healthcheck"]);
    assert_eq!(after["State"]["Health"]["Status"], "healthy");
    let old = inspect(&parked.parked_as);
    assert_eq!(old["Id"], before["Id"]);
    assert_eq!(old["State"]["Running"], false);

    // Rolled back: the old container, under its name, running, with the old value.
    rollback(&docker, &parked).await.unwrap();
    let back = inspect(&name);
    assert_eq!(back["Id"], before["Id"]);
    assert_eq!(back["State"]["Running"], true);
    assert!(env_of(&back).contains(&"SECRET=old-value-1".to_owned()));
    assert!(
        cli(&["inspect", &parked.new_id]).status.code() != Some(0),
        "the new one is gone"
    );

    // A value the health check refuses: the old one comes back by itself.
    let err = recreate(&docker, &name, &change("bad-value"), within)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RecreateError::Unhealthy { restored: true, .. }),
        "{err}"
    );
    assert!(
        !err.to_string().contains("bad-value"),
        "no value in the message: {err}"
    );
    let back = inspect(&name);
    assert_eq!(back["Id"], before["Id"]);
    assert_eq!(back["State"]["Running"], true);
    let all = cli(&[
        "ps",
        "-a",
        "--filter",
        &format!("name={name}"),
        "--format",
        "{{.Names}}",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&all.stdout).trim(),
        name,
        "nothing else left"
    );

    // Done: the parked one removed.
    let parked = recreate(&docker, &name, &change("new-value-3"), within)
        .await
        .unwrap();
    discard_old(&docker, &parked).await.unwrap();
    let all = cli(&[
        "ps",
        "-a",
        "--filter",
        &format!("name={name}"),
        "--format",
        "{{.Names}}",
    ]);
    assert_eq!(String::from_utf8_lossy(&all.stdout).trim(), name);
}
