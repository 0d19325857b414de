//! The console's local database: deployments added from profiles, listed, refreshed,
//! removed; a broken profile is refused and changes nothing.

use breakglass::engine::Engine;

use crate::testbed::testbed;

#[tokio::test]
async fn the_sandbox_profile_is_added_listed_and_removed() {
    let data = tempfile::tempdir().unwrap();
    let engine = Engine::open(data.path()).await.unwrap();
    assert!(engine.deployments().await.unwrap().is_empty());

    let added = engine.add_deployment(&testbed().profile_path()).await.unwrap();
    assert_eq!(added.summary.name, "sandbox");
    let hosts: Vec<_> = added.summary.hosts.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(hosts, ["app1", "app2", "app3"]);
    assert!(
        added.summary.hosts.iter().all(|h| h.host_key.is_some()),
        "the sandbox pins every host key"
    );

    // Adding again refreshes; it does not duplicate.
    engine.add_deployment(&testbed().profile_path()).await.unwrap();
    assert_eq!(engine.deployments().await.unwrap().len(), 1);

    // Reopening the database finds it again (migrations are idempotent).
    drop(engine);
    let engine = Engine::open(data.path()).await.unwrap();
    assert_eq!(engine.profile("sandbox").await.unwrap().hosts.len(), 3);

    engine.remove_deployment("sandbox").await.unwrap();
    let e = engine.remove_deployment("sandbox").await.unwrap_err();
    assert_eq!(e.code(), "deployment.unknown");
}

#[tokio::test]
async fn a_broken_profile_is_refused_with_its_position_and_nothing_is_lost() {
    let data = tempfile::tempdir().unwrap();
    let engine = Engine::open(data.path()).await.unwrap();
    engine.add_deployment(&testbed().profile_path()).await.unwrap();

    let text = std::fs::read_to_string(testbed().profile_path()).unwrap();
    let broken = text.replacen("via_host = \"app1\"", "via_host = \"app9\"", 1);
    let line = broken.lines().position(|l| l.contains("app9")).unwrap() + 1;
    let file = data.path().join("broken.toml");
    std::fs::write(&file, &broken).unwrap();
    let e = engine.add_deployment(&file).await.unwrap_err();
    assert_eq!(e.code(), "profile.invalid");
    let msg = e.to_string();
    assert!(msg.starts_with(&format!("{}:{line}:", file.display())), "{msg}");
    assert!(msg.contains("app9"), "{msg}");

    // The good deployment is still there, unchanged.
    let list = engine.deployments().await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].summary.hosts.len(), 3);
}

#[tokio::test]
async fn the_database_holds_no_secret_of_the_deployment() {
    let data = tempfile::tempdir().unwrap();
    let engine = Engine::open(data.path()).await.unwrap();
    engine.add_deployment(&testbed().profile_path()).await.unwrap();
    // Closed, not only dropped: the last connection checkpoints the WAL into the database
    // file and removes it, which must be over before the files are read.
    engine.state().pool().close().await;
    drop(engine);
    testbed().assert_no_secret_in_dir(data.path());
}
