//! The OS keychain: a real gnome-keyring Secret Service in the test session. Values are
//! set, replaced, tested and deleted; never shown, never written anywhere else.

use std::io::Write;
use std::process::{Command, Stdio};

use breakglass::engine::keychain::Keychain;

use crate::testbed::variant;

#[tokio::test]
async fn values_are_set_replaced_tested_and_deleted_in_the_real_keychain() {
    let kc = Keychain;
    let dep = format!("kc-{}", std::process::id());
    assert!(!kc.is_set(&dep, "db-password").await.unwrap());
    kc.set(&dep, "db-password", "first-value-1".to_owned().into())
        .await
        .unwrap();
    assert!(kc.is_set(&dep, "db-password").await.unwrap());
    kc.set(&dep, "db-password", "second-value-2".to_owned().into())
        .await
        .unwrap();
    assert_eq!(
        kc.get(&dep, "db-password").await.unwrap().expose(),
        "second-value-2"
    );

    // It is really in the Secret Service, under service "breakglass".
    let out = Command::new("secret-tool")
        .args([
            "lookup",
            "service",
            "breakglass",
            "username",
            &format!("{dep}/db-password"),
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "second-value-2");

    assert!(kc.delete(&dep, "db-password").await.unwrap());
    assert!(!kc.delete(&dep, "db-password").await.unwrap());
    let e = kc.get(&dep, "db-password").await.unwrap_err();
    assert_eq!(e.code(), "keychain.not_set");
}

#[tokio::test]
async fn hostile_entry_names_are_refused() {
    let kc = Keychain;
    for bad in ["", "a/b", "x y", "../../etc", "name\n"] {
        let e = kc.set("dep", bad, "v".to_owned().into()).await.unwrap_err();
        assert_eq!(e.code(), "keychain.invalid_name", "{bad:?}");
    }
}

#[tokio::test]
async fn the_cli_reads_a_secret_from_stdin_and_never_prints_it() {
    let v = variant("kc-cli", |t| t).await;
    let secret = "cli-secret-value-9f8e7d";
    let run = |args: &[&str], stdin: Option<&str>| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_breakglass"))
            .args(args)
            .env("BREAKGLASS_DATA_DIR", v.dir.path().join("state"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(s) = stdin {
            child.stdin.as_mut().unwrap().write_all(s.as_bytes()).unwrap();
        }
        drop(child.stdin.take());
        child.wait_with_output().unwrap()
    };
    let out = run(
        &["secret", "set", &v.name, "s3-secret-key"],
        Some(&format!("{secret}\n")),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out2 = run(&["secret", "status", &v.name, "s3-secret-key"], None);
    assert_eq!(
        String::from_utf8_lossy(&out2.stdout).trim(),
        format!("{}/s3-secret-key: set", v.name)
    );
    let empty = run(&["secret", "set", &v.name, "other"], Some(""));
    assert!(!empty.status.success());
    for o in [&out, &out2, &empty] {
        assert!(!String::from_utf8_lossy(&o.stdout).contains(secret));
        assert!(!String::from_utf8_lossy(&o.stderr).contains(secret));
    }
    assert_eq!(
        Keychain.get(&v.name, "s3-secret-key").await.unwrap().expose(),
        secret
    );
    let out = run(&["secret", "delete", &v.name, "s3-secret-key"], None);
    assert!(out.status.success());
    // Nothing of it in the console's files.
    for entry in walk(v.dir.path()) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{}",
            entry.display()
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p))
        } else {
            out.push(p)
        }
    }
    out
}

#[tokio::test]
async fn without_a_secret_service_the_cli_says_what_to_start() {
    let v = variant("kc-none", |t| t).await;
    // A session bus that does not exist, and no display to autolaunch one from.
    let out = Command::new(env!("CARGO_BIN_EXE_breakglass"))
        .args(["secret", "status", &v.name, "db-password"])
        .env("BREAKGLASS_DATA_DIR", v.dir.path().join("state"))
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
        .env_remove("DISPLAY")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no keychain service is running") && err.contains("gnome-keyring"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

/// A locked keychain (a laptop whose login keyring was locked): every call says so and
/// what to do, including a write, which the Secret Service refuses differently. Run in a
/// private D-Bus session with its own gnome-keyring, so that the suite's keychain stays
/// unlocked; with no display, the unlock prompt fails at once instead of waiting.
#[tokio::test]
async fn a_locked_keychain_is_named_as_such() {
    let v = variant("kc-locked", |t| t).await;
    let work = tempfile::tempdir().unwrap();
    let secret = "locked-test-value-5c4b3a";
    std::fs::write(work.path().join("pass"), "keyring-pass-for-this-test").unwrap();
    let script = r#"
        set -u
        gnome-keyring-daemon --unlock --components=secrets <"$WORK/pass" >/dev/null
        printf '%s\n' "$SECRET" | "$BG" secret set "$DEP" s3-secret-key || exit 10
        dbus-send --session --print-reply --dest=org.freedesktop.secrets /org/freedesktop/secrets \
          org.freedesktop.Secret.Service.Lock array:objpath:/org/freedesktop/secrets/collection/login \
          >/dev/null || exit 11
        echo "== status"; "$BG" secret status "$DEP" s3-secret-key 2>&1; echo "rc=$?"
        echo "== set"; printf 'other\n' | "$BG" secret set "$DEP" other 2>&1; echo "rc=$?"
    "#;
    std::fs::create_dir_all(work.path().join("run")).unwrap();
    let out = Command::new("timeout")
        .args(["60", "dbus-run-session", "--", "bash", "-c", script])
        .env("WORK", work.path())
        .env("SECRET", secret)
        .env("BG", env!("CARGO_BIN_EXE_breakglass"))
        .env("DEP", &v.name)
        .env("BREAKGLASS_DATA_DIR", v.dir.path().join("state"))
        .env("XDG_DATA_HOME", work.path().join("data"))
        .env("XDG_RUNTIME_DIR", work.path().join("run"))
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for part in ["== status", "== set"] {
        let section = text.split(part).nth(1).unwrap().split("==").next().unwrap();
        // Exit status 2: it could not run (README, "Exit codes").
        assert!(section.contains("rc=2"), "{part}: {section}");
        assert!(
            section.contains("[keychain.locked]") && section.contains("Unlock it"),
            "{part}: {section}"
        );
    }
    assert!(!text.contains(secret));
}
