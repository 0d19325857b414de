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
