//! Three `.env` copies and three containers of a test's own, one per testbed host, using
//! JWT_SECRET: what a rotation test rotates, so that the sandbox's own web containers keep
//! serving the other tests. Shared by the integration tests and the window's.

use crate::testbed::{docker, testbed, variant};

/// JWT_SECRET's value before a test's rotation: its own (other tests run at the same
/// time, and their setup's `docker run -e …` puts theirs in a command line).
pub fn old_jwt(tag: &str) -> String {
    format!("old-jwt-{tag}-{}", std::process::id())
}

pub struct Setup {
    pub v: crate::testbed::Variant,
    /// JWT_SECRET before the rotation.
    pub old: String,
    /// Per host: the .env copy, its bytes, the container.
    pub hosts: Vec<(String, std::path::PathBuf, Vec<u8>, String)>,
    _dir: tempfile::TempDir,
}

pub fn inspect(host: &str, name: &str) -> serde_json::Value {
    let out = docker(host, &["inspect", name]);
    serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap_or_default()[0].clone()
}

/// Three `.env` copies (one per host, with comments and another variable around the
/// secret) and one container per host using JWT_SECRET; `health` per host.
pub async fn setup(tag: &str, health: [&str; 3]) -> Setup {
    setup_with(tag, health, &[], &[]).await
}

/// [`setup`], with `extra` assignments in every `.env` copy and container.
pub async fn setup_with(
    tag: &str,
    health: [&str; 3],
    extra: &[(String, String)],
    edits: &[(String, String)],
) -> Setup {
    let tb = testbed();
    let dir = tempfile::tempdir().unwrap();
    let pid = std::process::id();
    let mut hosts = Vec::new();
    let mut profile_edits: Vec<(String, String)> = edits.to_vec();
    for (i, host) in ["app1", "app2", "app3"].iter().enumerate() {
        let file = dir.path().join(format!("{host}.env"));
        let more: String = extra.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
        let text = format!(
            "# {host}\nexport OTHER=keep\r\n{more}JWT_SECRET=\"{}\"  # rotated by tests\nTAIL=1",
            old_jwt(tag)
        );
        std::fs::write(&file, &text).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let name = format!("rot-{tag}-{pid}-{}", i + 1);
        let extra_env: Vec<String> = extra.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut args: Vec<&str> = Vec::new();
        for e in &extra_env {
            args.extend(["-e", e.as_str()]);
        }
        let out = docker(
            host,
            &[
                &["run"][..],
                &args,
                &[
                    "-d",
                    "--init",
                    "--name",
                    &name,
                    "--network",
                    "none",
                    "-e",
                    &format!("JWT_SECRET={}", old_jwt(tag)),
                    "-e",
                    "OTHER=keep",
                    "--health-cmd",
                    health[i],
                    "--health-interval",
                    "1s",
                    "--health-retries",
                    "2",
                    "--health-start-period",
                    "0s",
                    "--entrypoint",
                    "/bin/busybox",
                    "sandbox-app:latest",
                    "sleep",
                    "600",
                ][..],
            ]
            .concat(),
        );
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let env = tb.host(host)["env_file"].as_str().unwrap().to_owned();
        profile_edits.push((
            format!("env_file = \"{env}\""),
            format!("env_file = \"{}\"", file.display()),
        ));
        hosts.push((host.to_string(), file, text.into_bytes(), name));
    }
    let names: Vec<String> = hosts.iter().map(|h| format!("\"{}\"", h.3)).collect();
    let services = format!(
        "[[services]]\nname = \"rot\"\ncontainers = [{}]\nenv = [\"JWT_SECRET\"]\n",
        names.join(", ")
    );
    let v = variant(&format!("rot{tag}"), move |t| {
        let mut t = t;
        for (a, b) in &profile_edits {
            t = t.replacen(a, b, 1);
        }
        // This test's service only.
        let cut = t.find("[[services]]").unwrap_or(t.len());
        format!("{}{services}", &t[..cut])
    })
    .await;
    for (host, ..) in &hosts {
        // Containers left by a failed run are removed by the next one's cleanup.
        let _ = host;
    }
    Setup {
        v,
        old: old_jwt(tag),
        hosts,
        _dir: dir,
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        for (host, _, _, name) in &self.hosts {
            let out = docker(host, &["ps", "-aq", "--filter", &format!("name={name}")]);
            for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = docker(host, &["rm", "-f", id]);
            }
        }
    }
}
