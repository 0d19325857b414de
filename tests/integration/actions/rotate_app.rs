//! Rotations proven by the app itself: three real sample-app servers of this test's own
//! (one per host, on `.env` copies of the sandbox's with signing secrets of their own),
//! a canary account, and an app profile of the test's own that declares
//! GOOGLE_CLIENT_SECRET a third party's secret. What a rotation by group, `--all` and a
//! pasted value plan and do, and that the cookie and the JWT the canary held before are
//! refused by the app afterwards while a new login works.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use breakglass::engine::actions::rotate::values::Pasted;
use breakglass::engine::actions::{ActionSpec, Cancel, RotateSecrets, Vantage};
use breakglass::engine::envfile::{EnvFile, replace_value};
use breakglass::engine::keychain::PROBE_PASSWORD;
use breakglass::engine::secret::Sensitive;

use super::confirmed;
use crate::testbed::{TestUser, Variant, docker, test_user, testbed, variant};

/// The signing secrets this test owns (its servers sign with them), by variable.
fn own_secrets(pid: u32) -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("SECRET_KEY_BASE", format!("old-skb-{pid}-rotapp-0123456789")),
        ("JWT_SECRET", format!("old-jwt-{pid}-rotapp-0123456789")),
        ("JWT_REFRESH_SECRET", format!("old-jwtr-{pid}-rotapp-0123456789")),
        ("GOOGLE_CLIENT_SECRET", format!("old-google-{pid}-rotapp")),
    ])
}

struct AppSetup {
    v: Variant,
    canary: TestUser,
    /// Per host: the .env copy, the container, its port.
    hosts: Vec<(String, PathBuf, String, u16)>,
    old: BTreeMap<&'static str, String>,
    _dir: tempfile::TempDir,
}

impl Drop for AppSetup {
    fn drop(&mut self) {
        for (host, _, name, _) in &self.hosts {
            let out = docker(host, &["ps", "-aq", "--filter", &format!("name={name}")]);
            for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = docker(host, &["rm", "-f", id]);
            }
        }
    }
}

fn free_port() -> u16 {
    crate::testbed::free_port()
}

fn healthy(host: &str, name: &str) -> bool {
    let out = docker(host, &["inspect", "-f", "{{.State.Health.Status}}", name]);
    String::from_utf8_lossy(&out.stdout).trim() == "healthy"
}

async fn setup(tag: &str) -> AppSetup {
    setup_gated(tag, None).await
}

/// [`setup`], each host's `app_url` its server (app2's `app2_url` instead, when given).
async fn setup_gated(tag: &str, app2_url: Option<String>) -> AppSetup {
    let tb = testbed();
    let pid = std::process::id();
    let dir = tempfile::tempdir().unwrap();
    let old = own_secrets(pid);
    let mut hosts = Vec::new();
    let mut edits: Vec<(String, String)> = Vec::new();
    for (i, host) in ["app1", "app2", "app3"].iter().enumerate() {
        let sandbox_env = tb.host(host)["env_file"].as_str().unwrap().to_owned();
        let mut text = std::fs::read_to_string(&sandbox_env).unwrap();
        for (k, v) in &old {
            if *k == "GOOGLE_CLIENT_SECRET" {
                text.push_str(&format!("GOOGLE_CLIENT_SECRET={v}\n"));
            } else {
                text = replace_value(&text, k, v).unwrap().expose().clone();
            }
        }
        let file = dir.path().join(format!("{host}.env"));
        std::fs::write(&file, &text).unwrap();
        let name = format!("rotapp-{tag}-{pid}-{}", i + 1);
        let port = free_port();
        let out = docker(
            host,
            &[
                "run",
                "-d",
                "--init",
                "--name",
                &name,
                "--network",
                "host",
                "--env-file",
                file.to_str().unwrap(),
                "-e",
                &format!("PORT={port}"),
                "-e",
                &format!("APP_NODE={name}"),
                "sandbox-app:latest",
                "serve",
            ],
        );
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let app_url = match (&app2_url, *host) {
            (Some(url), "app2") => url.clone(),
            _ => format!("http://127.0.0.1:{port}"),
        };
        edits.push((
            format!("env_file = \"{sandbox_env}\""),
            format!("env_file = \"{}\"\napp_url = \"{app_url}\"", file.display()),
        ));
        hosts.push((host.to_string(), file, name, port));
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    for (host, _, name, _) in &hosts {
        while !healthy(host, name) {
            if std::time::Instant::now() >= deadline {
                // Say why: its state and the last of its output.
                let state = docker(host, &["inspect", "-f", "{{json .State}}", name]);
                let logs = docker(host, &["logs", "--tail", "30", name]);
                panic!(
                    "{name} never became healthy\nstate: {}\nlogs:\n{}{}",
                    String::from_utf8_lossy(&state.stdout),
                    String::from_utf8_lossy(&logs.stdout),
                    String::from_utf8_lossy(&logs.stderr)
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
    }
    let canary = test_user(&format!("rotcanary_{tag}"));
    let names: Vec<String> = hosts.iter().map(|h| format!("\"{}\"", h.2)).collect();
    let app = format!("homechat-paste-{pid}");
    let (user, app2, port1) = (canary.name.clone(), app.clone(), hosts[0].3);
    let v = variant(&format!("ra{tag}"), move |t| {
        let mut t = t;
        for (a, b) in &edits {
            t = t.replacen(a, b, 1);
        }
        t = t
            .replacen("app_profile = \"homechat\"", &format!("app_profile = \"{app2}\""), 1)
            .replacen(
                "public_url = \"http://127.0.0.1:18081\"",
                &format!("public_url = \"http://127.0.0.1:{port1}\""),
                1,
            );
        let cut = t.find("[[services]]").unwrap_or(t.len());
        format!(
            "{}[[services]]\nname = \"web\"\ncontainers = [{}]\nenv = [\"SECRET_KEY_BASE\", \"JWT_SECRET\"]\nhealth_path = \"/health\"\n\n[probe]\nuser = \"{user}\"\n",
            &t[..cut],
            names.join(", ")
        )
    })
    .await;
    // The test's app profile: homechat, with GOOGLE_CLIENT_SECRET a third party's.
    let homechat = include_str!("../../../src-tauri/engine/profiles/apps/homechat.toml");
    let apps = v.engine.state().path().with_file_name("apps");
    std::fs::create_dir_all(&apps).unwrap();
    std::fs::write(
        apps.join(format!("{app}.toml")),
        homechat
            .replacen("name = \"homechat\"", &format!("name = \"{app}\""), 1)
            .replacen("[rotate]\n", "[rotate]\npasted = [\"GOOGLE_CLIENT_SECRET\"]\n", 1),
    )
    .unwrap();
    v.engine
        .keychain()
        .set(&v.name, PROBE_PASSWORD, Sensitive::new(canary.password.clone()))
        .await
        .unwrap();
    AppSetup {
        v,
        canary,
        hosts,
        old,
        _dir: dir,
    }
}

fn rotate(vars: &[&str], groups: &[&str], all: bool, pasted: &[(&str, &str)]) -> ActionSpec {
    ActionSpec::RotateSecrets(RotateSecrets {
        vars: vars.iter().map(|s| s.to_string()).collect(),
        groups: groups.iter().map(|s| s.to_string()).collect(),
        all,
        pasted: Pasted(
            pasted
                .iter()
                .map(|(k, v)| (k.to_string(), Sensitive::new(v.to_string())))
                .collect(),
        ),
    })
}

/// The canary logs in to `port`: its cookie and its JWT.
async fn login(port: u16, canary: &TestUser) -> (String, String) {
    let res = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/login"))
        .json(&serde_json::json!({"username": canary.name, "password": canary.password}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let cookie = res.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let body: serde_json::Value = res.json().await.unwrap();
    (cookie, body["jwt"].as_str().unwrap().to_owned())
}

async fn me(port: u16, header: (&str, &str)) -> u16 {
    reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/me"))
        .header(header.0, header.1)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_rotation_by_group_with_a_pasted_value_is_proven_by_the_app() {
    let s = setup("grp").await;
    let (v, pid) = (&s.v, std::process::id());

    // --all: every secret of the app profile a .env holds, less the keys of stored data
    // and the third party's secret no value was pasted for, each named with the reason.
    let plan = v
        .engine
        .plan_action(&v.name, &rotate(&[], &[], true, &[]))
        .await
        .unwrap();
    assert!(
        plan.summary
            .contains("JWT_REFRESH_SECRET, JWT_SECRET, POSTGRES_PASSWORD, REDIS_PASSWORD, SECRET_KEY_BASE"),
        "{}",
        plan.summary
    );
    for (var, why) in [
        ("API_KEY_ENCRYPTION_KEY", "re-encrypted"),
        ("RAILS_MASTER_KEY", "re-encrypted"),
        ("GOOGLE_CLIENT_SECRET", "third party"),
    ] {
        assert!(
            plan.warnings
                .iter()
                .any(|w| w.starts_with(&format!("left out: {var}")) && w.contains(why)),
            "{var}: {:?}",
            plan.warnings
        );
    }
    // A third party's secret is never generated; a pasted value is checked first.
    let e = v
        .engine
        .plan_action(&v.name, &rotate(&["GOOGLE_CLIENT_SECRET"], &[], false, &[]))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("never generated"), "{e}");
    let same = s.old["GOOGLE_CLIENT_SECRET"].clone();
    for (bad, why) in [
        (same.as_str(), "holds now"),
        ("two\nlines", "control character"),
        ("", "empty"),
    ] {
        let e = v
            .engine
            .plan_action(
                &v.name,
                &rotate(&[], &[], false, &[("GOOGLE_CLIENT_SECRET", bad)]),
            )
            .await
            .unwrap_err();
        assert!(e.to_string().contains(why), "{e}");
        if !bad.is_empty() {
            assert!(!e.to_string().contains(bad), "the error quotes the value: {e}");
        }
    }
    let e = v
        .engine
        .plan_action(&v.name, &rotate(&[], &["nosuch"], false, &[]))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("sessions, tokens"), "{e}");
    // An encryption key named on its own is refused, saying what to do.
    let e = v
        .engine
        .plan_action(&v.name, &rotate(&["RAILS_MASTER_KEY"], &[], false, &[]))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("re-encrypt"), "{e}");

    // The canary's cookie and JWT from before, as the test holds them itself.
    let port1 = s.hosts[0].3;
    let (cookie, jwt) = login(port1, &s.canary).await;
    assert_eq!(me(port1, ("cookie", &cookie)).await, 200);
    assert_eq!(me(port1, ("authorization", &format!("Bearer {jwt}"))).await, 200);

    let pasted = format!("GOCSPX-new-{pid}-pasted");
    let spec = rotate(
        &[],
        &["sessions", "tokens"],
        false,
        &[("GOOGLE_CLIENT_SECRET", &pasted)],
    );
    let plan = v.engine.plan_action(&v.name, &spec).await.unwrap();
    assert!(
        plan.summary
            .contains("GOOGLE_CLIENT_SECRET, JWT_REFRESH_SECRET, JWT_SECRET, SECRET_KEY_BASE"),
        "{}",
        plan.summary
    );
    assert!(
        plan.warnings
            .iter()
            .any(|w| w.contains("every cookie session ends"))
    );
    assert!(plan.warnings.iter().any(|w| w.contains("the value you pasted")));
    // Each host's app is asked as the proxy reaches it before the next host.
    for (host, _, name, port) in &s.hosts {
        let want = format!("{host}: recreate {name} with the new");
        let gate = format!("and http://127.0.0.1:{port}/health answers 200");
        assert!(
            plan.steps
                .iter()
                .any(|x| x.starts_with(&want) && x.ends_with(&gate)),
            "{:?}",
            plan.steps
        );
    }
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let events = {
        let seen = seen.clone();
        Arc::new(move |e: breakglass::engine::actions::ActionEvent| seen.lock().unwrap().push(e))
    };
    let report = v
        .engine
        .run_action(
            &v.name,
            confirmed(&spec, Some(&v.name)),
            events,
            Cancel::default(),
        )
        .await
        .unwrap();
    assert!(report.verified, "{report:#?}");
    assert_eq!(report.verified_by, Some(Vantage::App), "{}", report.verify_detail);
    for want in [
        "the app refuses a session cookie the canary got before the rotation (401) (accepted before the run: 200)",
        "the app refuses a JWT the canary got before the rotation (401) (accepted before the run: 200)",
        "a new login works",
    ] {
        assert!(
            report.verify_detail.contains(want),
            "{want}: {}",
            report.verify_detail
        );
    }
    // From the test's own side, on every host: the old cookie and JWT refused, a new
    // login works, and every .env holds the pasted value and one new value per secret.
    let mut new: BTreeMap<String, String> = BTreeMap::new();
    for (host, file, name, port) in &s.hosts {
        assert!(healthy(host, name), "{host}");
        assert_eq!(me(*port, ("cookie", &cookie)).await, 401, "{host}");
        assert_eq!(
            me(*port, ("authorization", &format!("Bearer {jwt}"))).await,
            401,
            "{host}"
        );
        let (c, j) = login(*port, &s.canary).await;
        assert_eq!(me(*port, ("cookie", &c)).await, 200);
        assert_eq!(me(*port, ("authorization", &format!("Bearer {j}"))).await, 200);
        let env = EnvFile::parse(&std::fs::read_to_string(file).unwrap()).unwrap();
        assert_eq!(env.get("GOOGLE_CLIENT_SECRET").unwrap().expose(), &pasted);
        for var in ["SECRET_KEY_BASE", "JWT_SECRET", "JWT_REFRESH_SECRET"] {
            let value = env.get(var).unwrap().expose().clone();
            assert_ne!(value, s.old[var]);
            assert_eq!(
                new.entry(var.into()).or_insert(value.clone()),
                &value,
                "{host} {var}"
            );
        }
        // Untouched: the keys of stored data.
        assert_eq!(
            env.get("API_KEY_ENCRYPTION_KEY").map(|v| v.expose().clone()),
            EnvFile::parse(
                &std::fs::read_to_string(testbed().host(host)["env_file"].as_str().unwrap()).unwrap()
            )
            .unwrap()
            .get("API_KEY_ENCRYPTION_KEY")
            .map(|v| v.expose().clone())
        );
    }
    // The forms the app profile sets: SECRET_KEY_BASE is `rails` (128 hex digits).
    assert_eq!(new["SECRET_KEY_BASE"].len(), 128);
    assert_eq!(new["JWT_SECRET"].len(), 64);

    // No value, old, new or pasted, in what the console wrote or said.
    let mut secrets: Vec<(String, String)> = s
        .old
        .iter()
        .map(|(k, v)| (format!("{k} (old)"), v.clone()))
        .collect();
    secrets.extend(new.iter().map(|(k, v)| (format!("{k} (new)"), v.clone())));
    secrets.push(("GOOGLE_CLIENT_SECRET (pasted)".into(), pasted.clone()));
    let tb = testbed();
    let events = format!("{:?}", seen.lock().unwrap());
    tb.assert_no_secret_in(&secrets, events.as_bytes(), "the events");
    tb.assert_no_secret_in(&secrets, format!("{report:?}").as_bytes(), "the report");
    let journal = v.engine.journal().await.unwrap().entries(None).await.unwrap();
    tb.assert_no_secret_in(&secrets, format!("{journal:?}").as_bytes(), "the journal");
    tb.assert_none_in_dir(&secrets, v.dir.path());
}

/// The CLI reads a pasted value from stdin (one line per --paste) and never prints it.
#[tokio::test]
async fn the_cli_takes_a_pasted_value_on_stdin_and_never_prints_it() {
    let s = setup("cli").await;
    let pasted = format!("GOCSPX-cli-{}-pasted", std::process::id());
    let run = |args: &[&str], stdin: &str| {
        use std::io::Write;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_breakglass"))
            .args(args)
            .env("BREAKGLASS_DATA_DIR", s.v.dir.path().join("state"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let out = run(
        &[
            "rotate",
            &s.v.name,
            "--paste",
            "GOOGLE_CLIENT_SECRET",
            "--dry-run",
            "--json",
        ],
        &format!("{pasted}\n"),
    );
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let plan: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert!(
        plan["summary"].as_str().unwrap().contains("GOOGLE_CLIENT_SECRET"),
        "{plan}"
    );
    let secrets = vec![("pasted".to_owned(), pasted.clone())];
    testbed().assert_no_secret_in(&secrets, &out.stdout, "stdout");
    testbed().assert_no_secret_in(&secrets, &out.stderr, "stderr");
    // The value a .env holds now: refused, exit 2 (bad input), not quoted.
    let out = run(
        &[
            "rotate",
            &s.v.name,
            "--paste",
            "GOOGLE_CLIENT_SECRET",
            "--dry-run",
        ],
        &format!("{}\n", s.old["GOOGLE_CLIENT_SECRET"]),
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let old = vec![("old".to_owned(), s.old["GOOGLE_CLIENT_SECRET"].clone())];
    testbed().assert_no_secret_in(&old, &out.stderr, "stderr");
    // Nothing to rotate named: a usage error.
    let out = run(&["rotate", &s.v.name], "");
    assert_eq!(out.status.code(), Some(2));
}

/// app2's `app_url` does not answer (nothing listens there): its new container is healthy
/// for Docker, but the proxy's view fails the step; the old container comes back by
/// itself, app1 is undone, app3 never touched, every `.env` as before.
#[tokio::test]
async fn a_host_the_proxy_cannot_reach_after_its_recreation_undoes_the_rotation() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}", closed.local_addr().unwrap().port());
    drop(closed);
    let s = setup_gated("gate", Some(url.clone())).await;
    let v = &s.v;
    let texts: Vec<Vec<u8>> = s.hosts.iter().map(|h| std::fs::read(&h.1).unwrap()).collect();
    let ids: Vec<String> = s
        .hosts
        .iter()
        .map(|(h, _, n, _)| {
            let out = docker(h, &["inspect", "-f", "{{.Id}}", n]);
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        })
        .collect();
    let spec = rotate(&[], &["tokens"], false, &[]);
    let err = v
        .engine
        .run_action(
            &v.name,
            confirmed(&spec, Some(&v.name)),
            Arc::new(|_| {}),
            Cancel::default(),
        )
        .await
        .unwrap_err();
    let e = err.to_string();
    assert!(
        e.contains("app2")
            && e.contains(&format!("{url}/health does not answer 200"))
            && e.contains("the old container is back"),
        "{e}"
    );
    for (((host, file, name, _), text), id) in s.hosts.iter().zip(&texts).zip(&ids) {
        assert_eq!(&std::fs::read(file).unwrap(), text, "{host}'s .env");
        let out = docker(host, &["inspect", "-f", "{{.Id}} {{.State.Running}}", name]);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            format!("{id} true"),
            "{host}: the old container, running"
        );
    }
}

/// A real nginx of the test's own in front of the three servers (passive health: a
/// refused connection goes to the next server), polled at `/health` every 50 ms through
/// the whole rotation: not one request fails while the hosts' containers are recreated
/// one after another.
#[tokio::test]
async fn the_site_stays_up_behind_a_load_balancer_through_the_roll() {
    let s = setup("lb").await;
    let dir = tempfile::tempdir().unwrap();
    let lb = free_port();
    let upstreams: String = s
        .hosts
        .iter()
        .map(|h| format!("    server 127.0.0.1:{} max_fails=1 fail_timeout=1s;\n", h.3))
        .collect();
    let d = dir.path().display();
    std::fs::write(
        dir.path().join("nginx.conf"),
        format!(
            "daemon off;\nmaster_process off;\nuser root;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
               fastcgi_temp_path {d}/fcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
               upstream app {{\n{upstreams}  }}\n\
               server {{\n    listen 127.0.0.1:{lb};\n    location / {{\n      proxy_pass http://app;\n\
                 proxy_next_upstream error timeout http_502 http_503;\n      proxy_connect_timeout 1s;\n    }}\n  }}\n}}\n"
        ),
    )
    .unwrap();
    struct Nginx(std::process::Child);
    impl Drop for Nginx {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _nginx = Nginx(
        std::process::Command::new("/usr/sbin/nginx")
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .arg("-p")
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let url = format!("http://127.0.0.1:{lb}/health");
    let client = reqwest::Client::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !client
        .get(&url)
        .send()
        .await
        .is_ok_and(|r| r.status() == reqwest::StatusCode::OK)
    {
        assert!(std::time::Instant::now() < deadline, "nginx does not answer");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // The poller, from before the first host is touched until the run has ended.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poller = {
        let (stop, url, client) = (stop.clone(), url.clone(), client.clone());
        tokio::spawn(async move {
            let (mut polls, mut failures) = (0u32, Vec::new());
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                polls += 1;
                match client.get(&url).send().await {
                    Ok(r) if r.status() == reqwest::StatusCode::OK => {}
                    Ok(r) => failures.push(format!("{}", r.status())),
                    Err(e) => failures.push(e.to_string()),
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            (polls, failures)
        })
    };
    let v = &s.v;
    let spec = rotate(&[], &["tokens"], false, &[]);
    let report = v
        .engine
        .run_action(
            &v.name,
            confirmed(&spec, Some(&v.name)),
            Arc::new(|_| {}),
            Cancel::default(),
        )
        .await
        .unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (polls, failures) = poller.await.unwrap();
    assert!(report.verified, "{report:#?}");
    // Every host's container is a new one.
    assert!(report.changed >= 6, "{report:#?}");
    assert!(polls > 40, "the poller ran through the roll ({polls} polls)");
    assert!(
        failures.is_empty(),
        "{} of {polls} requests failed: {failures:?}",
        failures.len()
    );
}
