//! The window, used as a person would: the real `breakglass-desktop` under Xvfb, driven
//! through tauri-driver and WebKitWebDriver, against the real testbed. Screenshots go to
//! `target/screenshots/` (the README's comes from here).

// Test code: a failed unwrap is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod webdriver;

// The integration tests' access to the testbed, shared (not every helper is used here).
#[allow(dead_code)]
#[path = "../integration/testbed.rs"]
mod testbed;

// The rotation tests' own `.env` copies and containers, one per host.
#[allow(dead_code)]
#[path = "../integration/rotation_setup.rs"]
mod rotation_setup;

use std::path::{Path, PathBuf};

use breakglass::engine::Engine;
use webdriver::TauriDriver;

fn sandbox_profile() -> PathBuf {
    let tb = std::env::var_os("BREAKGLASS_TESTBED")
        .expect("BREAKGLASS_TESTBED is not set: run the suite with `./dev test`");
    let p = Path::new(&tb).join("sandbox.toml");
    assert!(
        p.exists(),
        "{} is missing: is the testbed up (`./dev up`)?",
        p.display()
    );
    p
}

fn screenshot_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/screenshots")
        .join(name)
}

#[tokio::test]
async fn the_window_lists_known_deployments_and_shows_the_sandbox() {
    let data = tempfile::tempdir().unwrap();
    let engine = Engine::open(data.path()).await.unwrap();
    let known = engine.add_deployment(&sandbox_profile()).await.unwrap();
    drop(engine);

    let driver = TauriDriver::start(&[("BREAKGLASS_DATA_DIR", data.path())]);
    let s = driver
        .session(Path::new(env!("CARGO_BIN_EXE_breakglass-desktop")))
        .await;

    let entries = s.wait_for("button.deployment", 1).await;
    assert_eq!(entries.len(), 1);
    assert!(s.text(&entries[0]).await.contains("sandbox"));

    // A single deployment opens by itself: its three hosts, with their pinned keys.
    let rows = s.wait_for("#hosts tbody tr", 3).await;
    let mut names = Vec::new();
    for r in &rows {
        names.push(s.text(r).await);
    }
    for (i, host) in known.summary.hosts.iter().enumerate() {
        assert!(names[i].starts_with(&host.name), "{names:?}");
        let pin = host.host_key.as_deref().expect("the sandbox pins its host keys");
        assert!(names[i].contains(pin), "row {i} shows no pin: {}", names[i]);
    }
    s.screenshot(&screenshot_path("deployments.png")).await;

    // Check status: every host up, every container listed, database and /health fine.
    let refresh = s.wait_for("#refresh", 1).await;
    s.click(&refresh[0]).await;
    s.wait_until("#hosts tbody", 60, |t| t.matches("up ·").count() == 3, "3 × up")
        .await;
    let containers = s.wait_text("#containers tbody", "web3", 10).await;
    for c in ["web1", "web2", "web3", "worker"] {
        assert!(containers.contains(c), "{containers}");
    }
    // As a person would: if one check came back failed (a slow moment of the app), check
    // again once the button is free, up to a minute.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let checks = s.text(&s.wait_for("#checks", 1).await[0]).await;
        if checks.contains("App /health ok") && checks.contains("Database ok") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "status never came back fine: {checks}"
        );
        let button = &s.wait_for("#refresh", 1).await[0];
        if s.text(button).await == "Check status" {
            s.click(button).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    s.screenshot(&screenshot_path("status.png")).await;
    s.close().await;
}

#[tokio::test]
async fn an_empty_console_says_how_to_add_a_deployment() {
    let data = tempfile::tempdir().unwrap();
    let driver = TauriDriver::start(&[("BREAKGLASS_DATA_DIR", data.path())]);
    let s = driver
        .session(Path::new(env!("CARGO_BIN_EXE_breakglass-desktop")))
        .await;
    let hint = s.wait_for("#deployments-empty", 1).await;
    // Rendered (not hidden) once the list has loaded and is empty.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let text = s.text(&hint[0]).await;
        if text.contains("breakglass deployment add") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the empty-state hint never showed: {text:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(s.find_all("button.deployment").await.is_empty());
    s.close().await;
}

/// The first-contact flow in the window: status shows an unknown key, the dialog shows its
/// fingerprint with "Cancel" focused, and only an explicit click trusts it.
#[tokio::test]
async fn status_asks_for_explicit_trust_of_an_unknown_host_key() {
    let data = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(sandbox_profile()).unwrap();
    let unpinned: String = text
        .lines()
        .filter(|l| !l.starts_with("host_key"))
        .map(|l| format!("{l}\n"))
        .collect();
    let file = data.path().join("sandbox.toml");
    std::fs::write(&file, unpinned).unwrap();
    let state = data.path().join("state");
    Engine::open(&state)
        .await
        .unwrap()
        .add_deployment(&file)
        .await
        .unwrap();
    let tb: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(sandbox_profile().with_file_name("testbed.json")).unwrap(),
    )
    .unwrap();
    let app1_key = tb["hosts"][0]["host_key_fingerprint"]
        .as_str()
        .unwrap()
        .to_owned();

    let driver = TauriDriver::start(&[("BREAKGLASS_DATA_DIR", &state)]);
    let s = driver
        .session(Path::new(env!("CARGO_BIN_EXE_breakglass-desktop")))
        .await;
    s.wait_for("#hosts tbody tr", 3).await;
    // Opening the deployment checks its status; wait until that check is over, so that
    // no re-render replaces the button between finding and clicking it.
    s.wait_text("#refresh", "Check status", 60).await;
    let review = s.wait_for("button[data-trust]", 3).await;
    s.click(&review[0]).await;
    let fp = s.wait_for("#trust-fingerprint", 1).await;
    assert_eq!(s.text(&fp[0]).await, app1_key);
    s.screenshot(&screenshot_path("trust-dialog.png")).await;
    // The button is disabled until the fingerprint's tail is typed, exactly.
    let accept = s.wait_for("#trust-accept", 1).await;
    assert!(s.attribute(&accept[0], "disabled").await.is_some());
    let typed = s.wait_for("#trust-typed", 1).await;
    s.type_text(&typed[0], "abcdef").await;
    assert!(
        s.attribute(&accept[0], "disabled").await.is_some(),
        "a wrong tail"
    );
    s.clear(&typed[0]).await;
    s.type_text(&typed[0], &app1_key[app1_key.len() - 6..]).await;
    assert!(
        s.attribute(&accept[0], "disabled").await.is_none(),
        "the right tail"
    );
    s.click(&accept[0]).await;

    // app1 is up now; app2 and app3 still wait for their own decision.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let rows = s.find_all("#hosts tbody tr").await;
        let first = s.text(&rows[0]).await;
        if first.contains("up ·") {
            assert_eq!(s.find_all("button[data-trust]").await.len(), 2);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "app1 never came up: {first}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let containers = s.wait_for("#containers tbody tr[data-container]", 2).await;
    assert!(s.text(&containers[0]).await.contains("web1"));
    s.screenshot(&screenshot_path("status-after-trust.png")).await;
    s.close().await;

    // The decision is in the local database, pinned to exactly that key.
    let engine = Engine::open(&state).await.unwrap();
    let name = engine.deployments().await.unwrap()[0].summary.name.clone();
    let pinned = engine.state().trusted_key(&name, "app1").await.unwrap().unwrap();
    assert_eq!(pinned.fingerprint, app1_key);
}

/// A passphrase-protected key: the window shows the keychain entry the profile needs,
/// takes the passphrase once (never shown again), and the hosts then answer.
#[tokio::test]
async fn the_window_stores_a_key_passphrase_in_the_keychain() {
    let tb: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(sandbox_profile().with_file_name("testbed.json")).unwrap(),
    )
    .unwrap();
    let (plain, enc) = (
        tb["client_key"].as_str().unwrap(),
        tb["client_key_encrypted"].as_str().unwrap(),
    );
    let passphrase = tb["client_key_passphrase"].as_str().unwrap();
    let data = tempfile::tempdir().unwrap();
    let name = format!("sb-e2e-kc-{}", std::process::id());
    let text = std::fs::read_to_string(sandbox_profile())
        .unwrap()
        .replacen("name = \"sandbox\"", &format!("name = \"{name}\""), 1)
        .replace(
            &format!("path = \"{plain}\" }}"),
            &format!("path = \"{enc}\", passphrase = \"keychain\" }}"),
        );
    let file = data.path().join("p.toml");
    std::fs::write(&file, text).unwrap();
    let state = data.path().join("state");
    Engine::open(&state)
        .await
        .unwrap()
        .add_deployment(&file)
        .await
        .unwrap();

    let driver = TauriDriver::start(&[("BREAKGLASS_DATA_DIR", &state)]);
    let s = driver
        .session(Path::new(env!("CARGO_BIN_EXE_breakglass-desktop")))
        .await;
    let row = s.wait_text("#secrets tbody", "ssh-key-passphrase", 15).await;
    // Let the first status check land (it re-lays out the page) before clicking below it.
    s.wait_text("#status-meta", "checked in", 30).await;
    assert!(row.contains("not set"), "{row}");
    let set = s.wait_for("tr[data-secret='ssh-key-passphrase'] button", 1).await;
    // As a person would: scrolled to, not clicked at the window's lower edge.
    s.scroll_into_view(&set[0]).await;
    s.click(&set[0]).await;
    let value = s.wait_for("#secret-value", 1).await;
    s.type_text(&value[0], passphrase).await;
    let store = s.wait_for("#secret-store", 1).await;
    s.click(&store[0]).await;

    let shown = s
        .wait_until(
            "#secrets tbody, #error",
            10,
            |t| t.contains("Replace") || t.contains('['),
            "Replace",
        )
        .await;
    assert!(!shown.contains('['), "the window shows an error: {shown}");
    assert!(!shown.contains(passphrase));

    let refresh = s.wait_for("#refresh", 1).await;
    s.click(&refresh[0]).await;
    s.wait_until("#hosts tbody", 30, |t| t.matches("up ·").count() == 3, "3 × up")
        .await;
    s.close().await;

    let kc = breakglass::engine::keychain::Keychain;
    assert_eq!(
        kc.get(&name, "ssh-key-passphrase").await.unwrap().expose(),
        passphrase
    );
    kc.delete(&name, "ssh-key-passphrase").await.unwrap();
}

/// Revoke every token from the window: the plan shows the count, Run stays disabled until
/// the deployment's name is typed exactly, and the outcome and verification are shown.
/// On a database of its own (revoking everything would disturb the other tests).
#[tokio::test]
async fn revoke_all_from_the_window_needs_the_name_typed() {
    let db = testbed::fresh_database("e2e_revoke");
    let v = testbed::variant("e2e-revoke", |t| {
        t.replace(
            "port = 25432\nname = \"sandbox\"",
            &format!("port = 25432\nname = \"{db}\""),
        )
    })
    .await;
    let active = || testbed::psql(&db, "SELECT count(*) FROM api_tokens WHERE active", &[]);
    let before = active();
    assert_ne!(before, "0");

    let state = v.dir.path().join("state");
    let driver = TauriDriver::start(&[("BREAKGLASS_DATA_DIR", &state)]);
    let s = driver
        .session(Path::new(env!("CARGO_BIN_EXE_breakglass-desktop")))
        .await;
    s.wait_for("#hosts tbody tr", 3).await;
    // The first status check re-lays out the page: let it land before clicking below it.
    s.wait_text("#status-meta", "checked in", 60).await;
    let plan = s.wait_for("#action-plan", 1).await;
    s.click(&plan[0]).await;
    let summary = s.wait_text("#plan-summary", "token(s)", 20).await;
    assert!(summary.contains(&format!("{before} token(s)")), "{summary}");
    let run = s.wait_for("#action-run", 1).await;
    assert!(
        s.attribute(&run[0], "disabled").await.is_some(),
        "Run is disabled before the name is typed"
    );

    let input = s.wait_for("#confirm-input", 1).await;
    let almost = &v.name[..v.name.len() - 1];
    s.type_text(&input[0], almost).await;
    assert!(
        s.attribute(&run[0], "disabled").await.is_some(),
        "a near miss does not enable Run"
    );
    s.click(&run[0]).await;
    assert_eq!(active(), before, "clicking the disabled button changed nothing");
    s.type_text(&input[0], &v.name[v.name.len() - 1..]).await;
    assert!(
        s.attribute(&run[0], "disabled").await.is_none(),
        "the exact name enables Run"
    );
    s.screenshot(&screenshot_path("contain-plan.png")).await;
    s.click(&run[0]).await;

    let outcome = s.wait_text("#outcome", "changed", 30).await;
    // The sandbox deployment names no canary account: the window says that only the
    // database was asked.
    assert!(
        outcome.starts_with(&format!("done, verified in the database only: {before} changed")),
        "{outcome}"
    );
    assert!(outcome.contains("0 active token(s) left"), "{outcome}");
    let progress = s.wait_text("#progress", "verify: ok", 10).await;
    assert!(progress.contains("done"), "{progress}");
    s.screenshot(&screenshot_path("contain-done.png")).await;
    s.close().await;
    assert_eq!(active(), "0");
    let journal = v.engine.journal().await.unwrap();
    assert!(journal.verify().await.unwrap().ok);
    assert!(
        journal
            .entries(None)
            .await
            .unwrap()
            .iter()
            .any(|e| e.kind == "action.verified")
    );
}

/// Cancel from the window: a run waiting for another console's lock is cancelled with
/// the Cancel button; nothing changes and the window says so.
#[tokio::test]
async fn a_running_action_is_cancelled_from_the_window() {
    let db = testbed::fresh_database("e2e_cancel");
    let v = testbed::variant("e2e-cancel", |t| {
        t.replace(
            "port = 25432\nname = \"sandbox\"",
            &format!("port = 25432\nname = \"{db}\""),
        )
    })
    .await;
    let active = || testbed::psql(&db, "SELECT count(*) FROM api_tokens WHERE active", &[]);
    let before = active();
    // Another responder's console holds the deployment.
    let file = format!("~/.breakglass/locks/{}.lock", v.name);
    let holder = format!(
        r#"{{"operator":"carol@other-laptop","deployment":"{}","run_id":"c4a01","action":"lock-accounts","pid":1,"since":"2026-12-02T03:00:00Z"}}"#,
        v.name
    );
    let take = format!("mkdir -p ~/.breakglass/locks && printf '%s' '{holder}' > {file}");
    assert!(v.engine.exec(&v.name, "app1", &take).await.unwrap().success());

    let state = v.dir.path().join("state");
    let driver = TauriDriver::start(&[("BREAKGLASS_DATA_DIR", &state)]);
    let s = driver
        .session(Path::new(env!("CARGO_BIN_EXE_breakglass-desktop")))
        .await;
    s.wait_for("#hosts tbody tr", 3).await;
    let plan = s.wait_for("#action-plan", 1).await;
    s.click(&plan[0]).await;
    s.wait_text("#plan-summary", "token(s)", 20).await;
    let input = s.wait_for("#confirm-input", 1).await;
    s.type_text(&input[0], &v.name).await;
    let run = s.wait_for("#action-run", 1).await;
    s.click(&run[0]).await;
    let progress = s.wait_text("#progress", "carol@other-laptop", 30).await;
    assert!(progress.contains("waiting"), "{progress}");
    let cancel = s.wait_for("#action-cancel", 1).await;
    s.scroll_into_view(&cancel[0]).await;
    s.screenshot(&screenshot_path("contain-waiting.png")).await;
    s.click(&cancel[0]).await;
    let outcome = s.wait_text("#outcome", "cancelled", 20).await;
    assert!(outcome.contains("cancelled"), "{outcome}");
    s.close().await;
    assert_eq!(active(), before, "nothing changed");
    let kinds: Vec<String> = v
        .engine
        .journal()
        .await
        .unwrap()
        .entries(None)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(
        !kinds.iter().any(|k| k == "action.planned"),
        "no run began: {kinds:?}"
    );
    v.engine
        .exec(&v.name, "app1", &format!("rm -f {file}"))
        .await
        .unwrap();
}

/// The audit trail in the window: the tables name the brute-forcing IPs and the success
/// that followed, and the chart has a bar per hour.
#[tokio::test]
async fn the_audit_trail_shows_tables_and_a_chart() {
    let data = tempfile::tempdir().unwrap();
    Engine::open(data.path())
        .await
        .unwrap()
        .add_deployment(&sandbox_profile())
        .await
        .unwrap();
    let driver = TauriDriver::start(&[("BREAKGLASS_DATA_DIR", data.path())]);
    let s = driver
        .session(Path::new(env!("CARGO_BIN_EXE_breakglass-desktop")))
        .await;
    s.wait_text("#status-meta", "checked in", 30).await;
    let since = s.wait_for("#audit-since option[value='604800']", 1).await;
    s.click(&since[0]).await;
    let review = s.wait_for("#audit-run", 1).await;
    s.click(&review[0]).await;
    let tables = s
        .wait_text("#audit-tables", "Successful logins after failures", 30)
        .await;
    assert!(
        tables.contains("203.0.113.7") && tables.contains("198.51.100.23"),
        "{tables}"
    );
    assert!(tables.contains("mallory"), "{tables}");
    let bars = s.wait_for("#audit-chart rect.bar-bad", 1).await;
    assert!(
        bars.len() > 24,
        "a bar per hour over the week, found {}",
        bars.len()
    );
    // Bring the chart and the tables into view for the screenshot (clicking a bar is harmless).
    s.click(&bars[bars.len() / 2]).await;
    s.screenshot(&screenshot_path("audit.png")).await;
    s.close().await;
}

/// "Add a deployment" in an empty console, as a person would: the hosts' SSH addresses,
/// each first-contact key confirmed on screen, the profile read, kept, and then listed.
#[tokio::test]
async fn a_deployment_is_added_from_its_ssh_addresses_in_the_window() {
    let tb = testbed::testbed();
    let data = tempfile::tempdir().unwrap();
    let driver = TauriDriver::start(&[("BREAKGLASS_DATA_DIR", data.path())]);
    let s = driver
        .session(Path::new(env!("CARGO_BIN_EXE_breakglass-desktop")))
        .await;
    // The button is in the page before its script is: click until the form opens.
    let open = s.wait_for("#add-open", 1).await;
    let form = s.wait_for("#add", 1).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while s.attribute(&form[0], "hidden").await.is_some() {
        assert!(std::time::Instant::now() < deadline, "the form never opened");
        s.click(&open[0]).await;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    // A second project on app3 (labelled as compose labels it): the window asks which
    // project this deployment is.
    let app3_socket = tb.host("app3")["docker_socket"].as_str().unwrap().to_owned();
    let other = format!("other{}", std::process::id());
    struct Remove(String, String);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = std::process::Command::new("docker")
                .args(["-H", &format!("unix://{}", self.0), "rm", "-f", &self.1])
                .output();
        }
    }
    let _other = Remove(app3_socket.clone(), format!("{other}_cron_1"));
    let run = std::process::Command::new("docker")
        .args(["-H", &format!("unix://{app3_socket}"), "run", "-d", "--init"])
        .args(["--name", &format!("{other}_cron_1")])
        .args(["--label", &format!("com.docker.compose.project={other}")])
        .args(["--label", "com.docker.compose.service=cron"])
        .args([
            "--entrypoint",
            "/bin/busybox",
            "sandbox-app:latest",
            "sleep",
            "300",
        ])
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let name = "found-in-window";
    let enter = "\u{E007}";
    let mut hosts = Vec::new();
    let mut sockets = Vec::new();
    for host in ["app1", "app2", "app3"] {
        let h = tb.host(host);
        hosts.push(format!("{host}=root@127.0.0.1:{}", h["ssh_port"]));
        sockets.push(format!("{host}={}", h["docker_socket"].as_str().unwrap()));
    }
    s.type_text(&s.wait_for("#add-name", 1).await[0], name).await;
    s.type_text(&s.wait_for("#add-hosts", 1).await[0], &hosts.join(enter))
        .await;
    s.type_text(&s.wait_for("#add-key", 1).await[0], &tb.str("/client_key"))
        .await;
    s.type_text(&s.wait_for("#add-sockets", 1).await[0], &sockets.join(enter))
        .await;
    s.click(&s.wait_for("#add-look", 1).await[0]).await;

    // Each host's key is shown before anything is trusted, one at a time.
    for (i, host) in ["app1", "app2", "app3"].iter().enumerate() {
        // The key, or an error the page shows instead (said in the failure).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let shown = loop {
            let shown = s.text(&s.wait_for("#add-trust", 1).await[0]).await;
            if shown.contains(host) {
                break shown;
            }
            let error = s.text(&s.wait_for("#error", 1).await[0]).await;
            assert!(
                error.trim().is_empty(),
                "{host}: the page shows an error: {error}"
            );
            if std::time::Instant::now() >= deadline {
                s.screenshot(&screenshot_path("add-failed.png")).await;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{host}: no key shown within 60 s: {shown:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        };
        let fp = tb.str(&format!("/hosts/{i}/host_key_fingerprint"));
        assert!(shown.contains(&fp), "{host}: {shown}");
        if i == 0 {
            s.screenshot(&screenshot_path("add-trust.png")).await;
        }
        let typed = s.wait_for("#add-trust-typed", 1).await;
        s.type_text(&typed[0], &fp[fp.len() - 6..]).await;
        s.click(&s.wait_for("#add-trust-yes", 1).await[0]).await;
    }
    let profile = s.wait_text("#add-profile", "[[services]]", 120).await;
    assert!(profile.contains("name = \"cron\""), "{profile}");
    // Asked which project: one button each; the testbed's is chosen, and the profile
    // looked at again holds only its services.
    let choices = s.wait_for("#add-project-choices button", 2).await;
    let mut sandbox = None;
    for b in &choices {
        if s.text(b).await.starts_with("sandbox ") {
            sandbox = Some(b.clone());
        }
    }
    s.screenshot(&screenshot_path("add-choose-project.png")).await;
    s.click(&sandbox.expect("a button for the testbed's project"))
        .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let profile = loop {
        let p = s.text(&s.wait_for("#add-profile", 1).await[0]).await;
        if p.contains("[[services]]") && !p.contains("name = \"cron\"") {
            break p;
        }
        assert!(std::time::Instant::now() < deadline, "looked again: {p}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert!(
        s.attribute(&s.wait_for("#add-projects", 1).await[0], "hidden")
            .await
            .is_some(),
        "a project chosen, the question is gone"
    );
    let notes = s.text(&s.wait_for("#add-found", 1).await[0]).await;
    assert!(
        !notes.contains("could not be checked"),
        "the schema was checked: {notes}"
    );
    assert!(
        s.text(&s.wait_for("#add-changes", 1).await[0]).await.is_empty(),
        "a new deployment has no differences to show"
    );
    assert!(
        profile.contains("name = \"worker\"") && profile.contains("app_profile = \"homechat\""),
        "{profile}"
    );
    tb.assert_no_secret_in(&tb.secret_values(), profile.as_bytes(), "the profile shown");
    s.screenshot(&screenshot_path("add-found.png")).await;
    s.click(&s.wait_for("#add-keep", 1).await[0]).await;
    // Kept: listed, opened, its hosts shown.
    s.wait_text("#deployments", name, 30).await;
    s.wait_until("#hosts tbody", 30, |t| t.contains("app3"), "app3")
        .await;
    s.close().await;
    let engine = Engine::open(data.path()).await.unwrap();
    let p = engine.profile(name).await.unwrap();
    assert_eq!(p.hosts.len(), 3);
    assert!(
        p.hosts.iter().all(|h| h.host_key.is_some()),
        "pinned as confirmed"
    );
}

/// A restore test from the window: the backups listed, the test run on the newest, its
/// phases and checks shown as they come, and the verdict with RTO and RPO.
#[tokio::test]
async fn a_restore_test_runs_in_the_window_and_shows_its_progress_and_verdict() {
    let tb = testbed::testbed();
    let data = tempfile::tempdir().unwrap();
    let engine = Engine::open(data.path()).await.unwrap();
    engine.add_deployment(&sandbox_profile()).await.unwrap();
    engine
        .keychain()
        .set(
            "sandbox",
            "restore-password",
            tb.str("/backups/restore_password").into(),
        )
        .await
        .unwrap();
    let driver = TauriDriver::start(&[("BREAKGLASS_DATA_DIR", data.path())]);
    let s = driver
        .session(Path::new(env!("CARGO_BIN_EXE_breakglass-desktop")))
        .await;
    s.wait_text("#status-meta", "checked in", 30).await;
    s.click(&s.wait_for("#restore-list", 1).await[0]).await;
    let good = tb.str("/backups/good");
    let good_name = good.rsplit('/').next().unwrap().to_owned();
    s.wait_text("#restore-backup", &good_name, 30).await;
    s.click(&s.wait_for("#restore-run", 1).await[0]).await;
    let outcome = s.wait_text("#restore-outcome", "RTO", 120).await;
    assert!(outcome.starts_with("PASSED"), "{outcome}");
    let progress = s.text(&s.wait_for("#restore-progress", 1).await[0]).await;
    for phase in ["listing", "creating", "restoring", "verifying", "cleaning"] {
        assert!(progress.contains(phase), "{phase}: {progress}");
    }
    let checks = s.text(&s.wait_for("#restore-checks", 1).await[0]).await;
    assert!(
        checks.contains("invariants") && checks.contains("newest_row") && checks.contains("dropped"),
        "{checks}"
    );
    // The history: this test, passed, charted.
    let history = s.wait_text("#restore-history", "1 test(s), 1 passed", 30).await;
    assert!(!history.contains("never"), "{history}");
    assert_eq!(s.wait_for("#restore-chart rect.bar-ok", 1).await.len(), 1);
    // The status view refreshes above it and can move the page: settle, then scroll.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    s.scroll_into_view(&s.wait_for("#restore-history", 1).await[0])
        .await;
    s.screenshot(&screenshot_path("restore-test.png")).await;
    s.close().await;
    let mut secrets = tb.secret_values();
    secrets.push(("restore password".into(), tb.str("/backups/restore_password")));
    tb.assert_none_in_dir(&secrets, data.path());
}

/// The hardening audit in the window: run on the sandbox, its summary and findings shown
/// in reading order, and a failing finding's evidence opened from its row — the command,
/// the output and the SHA-256 of the whole output, the checklist item and the fix.
#[tokio::test]
async fn the_hardening_audit_shows_a_failing_findings_evidence() {
    let data = tempfile::tempdir().unwrap();
    Engine::open(data.path())
        .await
        .unwrap()
        .add_deployment(&sandbox_profile())
        .await
        .unwrap();
    let driver = TauriDriver::start(&[("BREAKGLASS_DATA_DIR", data.path())]);
    let s = driver
        .session(Path::new(env!("CARGO_BIN_EXE_breakglass-desktop")))
        .await;
    // The sandbox opens by itself; let its first status check land (it re-lays out the page).
    s.wait_text("#status-meta", "checked in", 30).await;
    let run = s.wait_for("#harden-run", 1).await;
    s.scroll_into_view(&run[0]).await;
    s.click(&run[0]).await;
    let summary = s.wait_text("#harden-summary", "took", 180).await;
    assert!(
        summary.starts_with("Score ") && summary.contains("/100") && summary.contains("failed"),
        "{summary}"
    );

    // Reading order: no pass before a failure, failures first.
    let verdicts: Vec<String> = {
        let mut v = Vec::new();
        for row in s.wait_for("#harden-findings tr.finding", 10).await {
            v.push(s.attribute(&row, "data-verdict").await.unwrap());
        }
        v
    };
    assert_eq!(verdicts[0], "fail", "{verdicts:?}");
    let rank = |v: &str| {
        ["fail", "unknown", "warn", "accepted", "pass"]
            .iter()
            .position(|r| *r == v)
            .unwrap()
    };
    assert!(
        verdicts.windows(2).all(|w| rank(&w[0]) <= rank(&w[1])),
        "not in reading order: {verdicts:?}"
    );

    // The sandbox's web1 runs as root: its row, its evidence.
    let row_css =
        "#harden-findings tr.finding[data-check='container.user'][data-host='app1'][data-subject*='web1']";
    let row = s.wait_for(row_css, 1).await;
    let row_text = s.text(&row[0]).await;
    assert!(row_text.contains("runs as root"), "{row_text}");
    assert!(row_text.contains("FAIL"), "{row_text}");
    let button = s.wait_for(&format!("{row_css} button.evidence-btn"), 1).await;
    s.click(&button[0]).await;
    let id = s.attribute(&button[0], "aria-controls").await.unwrap();
    assert_eq!(
        s.attribute(&button[0], "aria-expanded").await.as_deref(),
        Some("true")
    );
    let evidence = format!("#{id} .evidence");
    // The Docker API call it was read with, for the row's container.
    let subject = s.attribute(&row[0], "data-subject").await.unwrap();
    let command = s
        .wait_text(&format!("{evidence} .ev-command"), "GET /containers/", 10)
        .await;
    assert_eq!(command.trim(), format!("GET /containers/{subject}/json"));
    let output = s
        .wait_text(&format!("{evidence} .ev-output"), "Config.User", 10)
        .await;
    assert!(!output.trim().is_empty());
    let digest = s.wait_for(&format!("{evidence} .ev-digest"), 1).await;
    let digest = s.text(&digest[0]).await;
    assert!(
        digest.len() == 64 && digest.chars().all(|c| c.is_ascii_hexdigit()),
        "a SHA-256 in hex: {digest:?}"
    );
    let fix = s
        .wait_text(&format!("{evidence} .ev-fix"), "unprivileged user", 10)
        .await;
    assert!(!fix.is_empty());
    assert!(
        !s.text(&s.wait_for(&format!("{evidence} .ev-checklist"), 1).await[0])
            .await
            .is_empty()
    );
    // A failure can be accepted: its form is there, closed.
    s.wait_for(&format!("{evidence} button.accept-open"), 1).await;

    let panel = s.wait_for(&format!("#{id}"), 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    s.scroll_into_view(&panel[0]).await;
    let shot = screenshot_path("harden-evidence.png");
    s.screenshot(&shot).await;
    s.close().await;
    assert!(std::fs::metadata(&shot).unwrap().len() > 0);
}

/// JWT_SECRET in a host's `.env` copy, as written.
fn jwt_in(file: &Path) -> String {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("JWT_SECRET=").map(str::to_owned))
        .unwrap()
}

/// A rotation in the window, on `.env` copies and containers of the test's own on the
/// three hosts: its plan, the deployment's name typed, a chip per host that follows the
/// roll, the outcome verified. A second rotation cancelled as soon as it starts is
/// undone: every `.env` holds what the first one wrote.
#[tokio::test]
async fn a_rotation_shows_each_hosts_progress_and_a_cancelled_one_is_undone() {
    let setup = rotation_setup::setup("e2e", ["test -n \"$JWT_SECRET\""; 3]).await;
    let name = setup.v.name.clone();
    let state = setup.v.dir.path().join("state");
    let driver = TauriDriver::start(&[("BREAKGLASS_DATA_DIR", &state)]);
    let s = driver
        .session(Path::new(env!("CARGO_BIN_EXE_breakglass-desktop")))
        .await;
    s.wait_for("#hosts tbody tr", 3).await;
    // The first status check re-lays out the page: let it land before clicking below it.
    s.wait_text("#status-meta", "checked in", 60).await;

    let rotate = s.wait_for("#action-kind option[value='rotate-secrets']", 1).await;
    s.click(&rotate[0]).await;
    let vars = s.wait_for("#action-vars", 1).await;
    s.type_text(&vars[0], "JWT_SECRET").await;
    let plan = s.wait_for("#action-plan", 1).await;
    s.scroll_into_view(&plan[0]).await;
    s.click(&plan[0]).await;
    let steps = s.wait_text("#plan-steps, #error", "app3", 60).await;
    assert!(steps.contains("app1") && steps.contains("app2"), "{steps}");
    let input = s.wait_for("#confirm-input", 1).await;
    s.type_text(&input[0], &name).await;
    let run = s.wait_for("#action-run", 1).await;
    s.click(&run[0]).await;
    // The roll, host by host: app1 done while app3 still waits.
    s.wait_until(
        "#host-progress",
        90,
        |t| t.contains("app1 done") && t.contains("app3 waiting"),
        "app1 done, app3 waiting",
    )
    .await;
    let chips = s.wait_for("#host-progress", 1).await;
    s.scroll_into_view(&chips[0]).await;
    s.screenshot(&screenshot_path("rotate-progress.png")).await;
    let outcome = s.wait_text("#outcome", "done", 180).await;
    assert!(!outcome.contains("verification failed"), "{outcome}");
    for chip in s.find_all("#host-progress li").await {
        assert_eq!(s.attribute(&chip, "data-state").await.as_deref(), Some("done"));
    }
    let after: Vec<String> = setup.hosts.iter().map(|h| jwt_in(&h.1)).collect();
    assert!(after.iter().all(|v| v == &after[0]), "{after:?}");
    assert!(!after[0].contains(&setup.old), "rotated");
    let bytes: Vec<Vec<u8>> = setup.hosts.iter().map(|h| std::fs::read(&h.1).unwrap()).collect();

    // Again, cancelled as soon as the first step starts: everything done is undone.
    s.click(&s.wait_for("#action-plan", 1).await[0]).await;
    s.wait_text("#plan-steps", "app3", 60).await;
    let input = s.wait_for("#confirm-input", 1).await;
    s.type_text(&input[0], &name).await;
    s.click(&s.wait_for("#action-run", 1).await[0]).await;
    s.wait_text("#host-progress", "running", 60).await;
    let cancel = s.wait_for("#action-cancel", 1).await;
    s.click(&cancel[0]).await;
    let outcome = s.wait_text("#outcome", "cancelled", 120).await;
    assert!(outcome.contains("undone"), "{outcome}");
    s.wait_until("#host-progress", 10, |t| t.contains("undone"), "undone")
        .await;
    let chips = s.wait_for("#host-progress", 1).await;
    s.scroll_into_view(&chips[0]).await;
    s.screenshot(&screenshot_path("rotate-cancelled.png")).await;
    s.close().await;
    for (h, before) in setup.hosts.iter().zip(&bytes) {
        assert_eq!(&std::fs::read(&h.1).unwrap(), before, "{}: the .env is back", h.0);
    }
}

/// An incident in the window: opened on the deployment, a note, a containment action run
/// from Contain, the banner saying when it was contained and by which vantage, the
/// timeline the console wrote, the report, and closing (a second, deliberate click).
#[tokio::test]
async fn an_incident_is_opened_contained_reported_and_closed_in_the_window() {
    let db = testbed::fresh_database("e2e_incident");
    let v = testbed::variant("e2e-incident", |t| {
        t.replace(
            "port = 25432\nname = \"sandbox\"",
            &format!("port = 25432\nname = \"{db}\""),
        )
    })
    .await;
    let state = v.dir.path().join("state");
    let driver = TauriDriver::start(&[("BREAKGLASS_DATA_DIR", &state)]);
    let s = driver
        .session(Path::new(env!("CARGO_BIN_EXE_breakglass-desktop")))
        .await;
    s.wait_for("#hosts tbody tr", 3).await;
    // The first status check re-lays out the page: let it land before clicking below it.
    s.wait_text("#status-meta", "checked in", 60).await;
    let title = s.wait_for("#incident-title", 1).await;
    s.type_text(&title[0], "Leaked .env on a pastebin").await;
    s.click(&s.wait_for("#incident-open", 1).await[0]).await;
    s.wait_text("#incident-name", "Leaked .env on a pastebin", 20)
        .await;
    s.wait_text("#incident-contained", "Not contained yet", 10).await;
    let note = s.wait_for("#incident-note", 1).await;
    s.type_text(&note[0], "Found at 02:50 by the on-call").await;
    s.click(&s.wait_for("#incident-add-note", 1).await[0]).await;
    s.wait_text("#incident-timeline", "note: Found at 02:50 by the on-call", 20)
        .await;

    // Contain: every token (this database is the test's own).
    s.click(&s.wait_for("#action-plan", 1).await[0]).await;
    s.wait_text("#plan-summary", "token(s)", 30).await;
    s.type_text(&s.wait_for("#confirm-input", 1).await[0], &v.name)
        .await;
    s.click(&s.wait_for("#action-run", 1).await[0]).await;
    s.wait_text("#outcome", "done", 60).await;
    let contained = s.wait_text("#incident-contained", "Contained at", 30).await;
    assert!(contained.contains("after opening"), "{contained}");
    let timeline = s
        .wait_text("#incident-timeline", "revoke-tokens finished", 10)
        .await;
    assert!(timeline.contains("verify passed"), "{timeline}");
    let banner = s.wait_for("#incident", 1).await;
    s.scroll_into_view(&banner[0]).await;
    s.screenshot(&screenshot_path("incident.png")).await;

    // The report is made when asked, named for the incident.
    let md = s.wait_for("#incident-md", 1).await;
    s.click(&md[0]).await;
    // Read once: a later refresh of the banner (after the run) makes the link anew.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let file = loop {
        if let Some(f) = s.attribute(&md[0], "data-file").await.filter(|f| !f.is_empty()) {
            break f;
        }
        assert!(std::time::Instant::now() < deadline, "the report never came");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert!(file.starts_with("incident-") && file.ends_with(".md"), "{file}");
    // Saved, and it is the report: the times and the journal's head.
    let saved = driver.downloads().join(&file);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !saved.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "{} was never saved",
            saved.display()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let report = std::fs::read_to_string(&saved).unwrap();
    assert!(
        report.contains("Contained") && report.contains("Journal head") && report.contains("Found at 02:50"),
        "{report}"
    );

    // Closing needs a second click; then the banner offers a new incident.
    let close = s.wait_for("#incident-close", 1).await;
    s.click(&close[0]).await;
    s.wait_text("#incident-close", "record becomes final", 10).await;
    s.click(&close[0]).await;
    s.wait_for("#incident-title", 1).await;
    s.wait_until("#incident-open-view", 10, |t| t.trim().is_empty(), "hidden")
        .await;
    s.close().await;
    let journal = v.engine.journal().await.unwrap();
    let incidents = journal.incidents().await.unwrap();
    assert_eq!(incidents.len(), 1);
    assert!(incidents[0].closed_at.is_some());
    let view = journal.incident(incidents[0].id).await.unwrap();
    assert!(
        view.contained_at.is_some() && view.secs_to_closed.is_some(),
        "{view:?}"
    );
    assert!(journal.verify().await.unwrap().ok);
}

/// A responder new to the console, on a deployment of its own database: from launching
/// the window to "all tokens revoked, all non-admin accounts locked and all sessions
/// expired" through the command palette and seed 001's emergency runbook, each step's
/// plan shown with its blast radius and confirmed by typing the deployment's name. The
/// test counts every interaction (a key chord, a typed field, Enter, a click) and the
/// time from launch; the goal is under 10 and under 60 s (docs/incident-console.md).
#[tokio::test]
async fn a_responder_contains_with_the_emergency_runbook_in_few_interactions() {
    let db = testbed::fresh_database("e2e_emergency");
    let v = testbed::variant("e2e-emergency", |t| {
        t.replace(
            "port = 25432\nname = \"sandbox\"",
            &format!("port = 25432\nname = \"{db}\""),
        )
    })
    .await;
    let q = |sql: &str| testbed::psql(&db, sql, &[]);
    assert_ne!(q("SELECT count(*) FROM api_tokens WHERE active"), "0");
    let state = v.dir.path().join("state");
    let driver = TauriDriver::start(&[("BREAKGLASS_DATA_DIR", &state)]);
    let launched = std::time::Instant::now();
    let s = driver
        .session(Path::new(env!("CARGO_BIN_EXE_breakglass-desktop")))
        .await;
    let mut interactions = 0;
    // The only deployment opens by itself.
    s.wait_for("#hosts tbody tr", 3).await;
    s.chord(&["\u{E009}", "k"]).await;
    interactions += 1;
    let input = s.wait_for("#palette-input", 1).await;
    s.type_text(&input[0], "emergency").await;
    interactions += 1;
    // Filtered to what was typed: the emergency runbook first.
    s.wait_until(
        "#palette-list",
        20,
        |t| t.starts_with("Runbook: Emergency actions") && !t.contains("If compromised"),
        "the emergency runbook first",
    )
    .await;
    // A moment for the list's first paint (the screenshot is looked at).
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    s.screenshot(&screenshot_path("palette.png")).await;
    s.type_text(&input[0], "\u{E007}").await;
    interactions += 1;
    for step in 1..=3 {
        s.wait_text("#plan-banner", &format!("step {step} of 3"), 60)
            .await;
        let radius = s.wait_text("#plan-radius", "Blast radius", 10).await;
        assert!(!radius.contains("Blast radius: 0"), "step {step}: {radius}");
        if step == 2 {
            s.screenshot(&screenshot_path("runbook-step.png")).await;
        }
        let confirm = s.wait_for("#confirm-input", 1).await;
        s.type_text(&confirm[0], &v.name).await;
        interactions += 1;
        s.type_text(&confirm[0], "\u{E007}").await;
        interactions += 1;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let mut done = 0;
            for li in s.find_all("#runbook-steps li").await {
                if s.attribute(&li, "data-state").await.as_deref() == Some("done") {
                    done += 1;
                }
            }
            if done >= step {
                break;
            }
            let error = s.text(&s.wait_for("#error", 1).await[0]).await;
            assert!(error.trim().is_empty(), "step {step}: {error}");
            assert!(std::time::Instant::now() < deadline, "step {step} never finished");
            tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        }
    }
    s.wait_text("#runbook-title", "done, 3 step(s)", 30).await;
    let took = launched.elapsed();
    let runbook = s.wait_for("#runbook", 1).await;
    s.scroll_into_view(&runbook[0]).await;
    s.screenshot(&screenshot_path("runbook-done.png")).await;
    s.close().await;
    println!(
        "responder path: {interactions} interactions, {:.1} s from launch",
        took.as_secs_f64()
    );
    assert!(interactions < 10, "{interactions} interactions");
    assert!(took < std::time::Duration::from_secs(60), "{took:?} from launch");
    assert_eq!(q("SELECT count(*) FROM api_tokens WHERE active"), "0");
    assert_eq!(
        q(
            "SELECT count(*) FROM users WHERE role <> 'admin' AND (locked_until IS NULL OR locked_until < now() + interval '23 hours')"
        ),
        "0"
    );
    assert_eq!(q("SELECT count(*) FROM sessions WHERE expires_at > now()"), "0");
    let kinds: Vec<String> = v
        .engine
        .journal()
        .await
        .unwrap()
        .entries(None)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind.starts_with("runbook."))
        .map(|e| format!("{} {}", e.kind, e.body["done"]))
        .collect();
    assert_eq!(
        kinds,
        [
            "runbook.started null",
            "runbook.step true",
            "runbook.step true",
            "runbook.step true"
        ]
    );
}
