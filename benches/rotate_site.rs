//! A rotation the site must not notice: SECRET_KEY_BASE, POSTGRES_PASSWORD and
//! REDIS_PASSWORD of three real sample-app servers (one per host, host network) behind an
//! nginx load balancer, with a PostgreSQL role and a Redis of their own (the sandbox's
//! are shared with everything else). For the whole run `/health` is polled through nginx
//! every 50 ms and each server directly every 20 ms: the failed polls through nginx, and
//! each host's longest stretch out of service, are what a user of the site would see.
//!
//! Breakglass (`rotate`: PostgreSQL verifier, Redis overlap, `.env` compare-and-swap, one
//! host at a time behind a health gate, old secrets proven dead) against the same by hand
//! in the same run: `ALTER ROLE … PASSWORD` in psql, `CONFIG SET requirepass` in
//! redis-cli, then one `ssh` per host (`sed -i` on the `.env`, `docker rm -f`, `docker
//! run`, wait until healthy). Same hosts, same remote user, same key exchange, same image.
//!
//! Run with the testbed up, under a Secret Service (the journal's key is in the keychain):
//! `scripts/desktop-session --headless -- cargo bench --no-default-features --bench rotate_site -- [--reps 3]`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use breakglass::engine::Engine;
use breakglass::engine::actions::{ActionSpec, Cancel, Confirmation, RotateSecrets, RunRequest};

const VARS: [&str; 3] = ["SECRET_KEY_BASE", "POSTGRES_PASSWORD", "REDIS_PASSWORD"];

struct Tb {
    dir: PathBuf,
    json: serde_json::Value,
}

impl Tb {
    fn s(&self, p: &str) -> String {
        let v = self.json.pointer(p).unwrap();
        v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())
    }

    fn docker(&self, host: &str, args: &[&str]) -> std::process::Output {
        Command::new("docker")
            .env(
                "DOCKER_HOST",
                format!("unix://{}/hosts/{host}/docker.sock", self.dir.display()),
            )
            .args(args)
            .output()
            .unwrap()
    }

    fn psql(&self, sql: &str) -> String {
        let out = Command::new(format!("{}/psql", self.s("/postgres/bin_dir")))
            .args(["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(self.s("/postgres/socket_dir"))
            .arg("-p")
            .arg(self.s("/postgres/port"))
            .args(["-U", "postgres", "-d", "postgres", "-c", sql])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

/// A port above Linux's ephemeral range, free on every address.
fn free_port() -> u16 {
    loop {
        let p = 61000 + (rand::random::<u16>() % 4000);
        if std::net::TcpListener::bind(("0.0.0.0", p)).is_ok()
            && std::net::TcpListener::bind(("127.0.0.1", p)).is_ok()
        {
            return p;
        }
    }
}

fn env_get(text: &str, key: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_default()
        .trim_matches('"')
        .to_owned()
}

fn healthy(tb: &Tb, host: &str, name: &str) -> bool {
    let out = tb.docker(host, &["inspect", "-f", "{{.State.Health.Status}}", name]);
    String::from_utf8_lossy(&out.stdout).trim() == "healthy"
}

fn run_server(tb: &Tb, host: &str, name: &str, env: &Path, port: u16) {
    let _ = tb.docker(host, &["rm", "-f", name]);
    let out = tb.docker(
        host,
        &[
            "run",
            "-d",
            "--init",
            "--name",
            name,
            "--network",
            "host",
            "--env-file",
            env.to_str().unwrap(),
            "-e",
            &format!("PORT={port}"),
            "-e",
            &format!("APP_NODE={name}"),
            "sandbox-app:latest",
            "serve",
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// What the pollers saw during one rotation.
#[derive(Default)]
struct Seen {
    lb_polls: u32,
    lb_failed: u32,
    /// Per host, the longest stretch of failed direct polls.
    longest_out: Vec<Duration>,
}

/// Polls while `run` runs: nginx every 50 ms, each server every 20 ms.
fn watched(rt: &tokio::runtime::Runtime, lb: u16, ports: &[u16], run: impl FnOnce()) -> Seen {
    let stop = Arc::new(AtomicBool::new(false));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let ok =
        |r: Result<reqwest::Response, reqwest::Error>| r.is_ok_and(|r| r.status() == reqwest::StatusCode::OK);
    let lb_task = {
        let (stop, client) = (stop.clone(), client.clone());
        rt.spawn(async move {
            let (mut polls, mut failed) = (0u32, 0u32);
            let url = format!("http://127.0.0.1:{lb}/health");
            while !stop.load(Ordering::Relaxed) {
                polls += 1;
                if !ok(client.get(&url).send().await) {
                    failed += 1;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            (polls, failed)
        })
    };
    let host_tasks: Vec<_> = ports
        .iter()
        .map(|&port| {
            let (stop, client) = (stop.clone(), client.clone());
            rt.spawn(async move {
                let url = format!("http://127.0.0.1:{port}/health");
                let (mut since, mut longest): (Option<Instant>, Duration) = (None, Duration::ZERO);
                while !stop.load(Ordering::Relaxed) {
                    let up = ok(client.get(&url).send().await);
                    match (up, since) {
                        (false, None) => since = Some(Instant::now()),
                        (true, Some(t)) => {
                            longest = longest.max(t.elapsed());
                            since = None;
                        }
                        _ => {}
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                if let Some(t) = since {
                    longest = longest.max(t.elapsed());
                }
                longest
            })
        })
        .collect();
    // A moment of polling before and after: the roll is inside the window.
    std::thread::sleep(Duration::from_millis(300));
    run();
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let (lb_polls, lb_failed) = rt.block_on(lb_task).unwrap();
    let longest_out = host_tasks.into_iter().map(|t| rt.block_on(t).unwrap()).collect();
    Seen {
        lb_polls,
        lb_failed,
        longest_out,
    }
}

fn median<T: Clone + PartialOrd>(mut v: Vec<T>) -> T {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2].clone()
}

struct Killed(std::process::Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let reps: usize = args
        .iter()
        .position(|a| a == "--reps")
        .and_then(|i| args.get(i + 1))
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let Some(dir) = std::env::var_os("BREAKGLASS_TESTBED")
        .map(PathBuf::from)
        .filter(|d| d.join("testbed.json").exists())
    else {
        eprintln!("rotate_site bench: no testbed (tests/testbed/up)");
        return;
    };
    let tb = Tb {
        json: serde_json::from_str(&std::fs::read_to_string(dir.join("testbed.json")).unwrap()).unwrap(),
        dir: dir.clone(),
    };
    let work = tempfile::tempdir().unwrap();
    let pid = std::process::id();

    // The servers' own PostgreSQL role (the app's privileges, its own password).
    let role = format!("rotsite_{pid}");
    let pg_old = format!("rotsite-pg-{pid}-0000000000000000");
    tb.psql(&format!(
        "CREATE ROLE {role} LOGIN PASSWORD '{pg_old}' IN ROLE app; GRANT CONNECT ON DATABASE sandbox TO {role};"
    ));
    // Their own Redis (rotation rewrites its configuration file).
    let redis_port = free_port();
    let redis_old = format!("rotsite-redis-{pid}-000000000000");
    let conf = work.path().join("redis.conf");
    std::fs::write(
        &conf,
        format!(
            "port {redis_port}\nbind 127.0.0.1\nrequirepass {redis_old}\nsave \"\"\nappendonly no\ndir {}\n",
            work.path().display()
        ),
    )
    .unwrap();
    let _redis = Killed(
        Command::new("redis-server")
            .arg(&conf)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    while std::net::TcpStream::connect(("127.0.0.1", redis_port)).is_err() {
        std::thread::sleep(Duration::from_millis(50));
    }

    let hosts = ["app1", "app2", "app3"];
    let pg_port = tb.s("/postgres/port");
    let mut profile = std::fs::read_to_string(dir.join("sandbox.toml"))
        .unwrap()
        .replacen("name = \"sandbox\"", "name = \"rotsite\"", 1)
        .replacen("port = 26379", &format!("port = {redis_port}"), 1);
    let mut servers = Vec::new();
    for (i, host) in hosts.iter().enumerate() {
        let sandbox_env = tb.s(&format!("/hosts/{i}/env_file"));
        let base = std::fs::read_to_string(&sandbox_env).unwrap();
        let mut text = String::new();
        for line in base.lines() {
            let key = line.split('=').next().unwrap_or_default();
            let v = match key {
                "SECRET_KEY_BASE" => format!("rotsite-skb-{pid}-{}", "0".repeat(64)),
                "POSTGRES_USER" => role.clone(),
                "POSTGRES_PASSWORD" => pg_old.clone(),
                "DATABASE_URL" => format!("postgres://{role}:{pg_old}@127.0.0.1:{pg_port}/sandbox"),
                "REDIS_PASSWORD" => redis_old.clone(),
                "REDIS_URL" => format!("redis://:{redis_old}@127.0.0.1:{redis_port}/0"),
                _ => {
                    text.push_str(line);
                    text.push('\n');
                    continue;
                }
            };
            text.push_str(&format!("{key}={v}\n"));
        }
        let file = work.path().join(format!("{host}.env"));
        std::fs::write(&file, &text).unwrap();
        let name = format!("rotsite-{pid}-{}", i + 1);
        let port = free_port();
        run_server(&tb, host, &name, &file, port);
        profile = profile.replacen(
            &format!("env_file = \"{sandbox_env}\""),
            &format!(
                "env_file = \"{}\"\napp_url = \"http://127.0.0.1:{port}\"",
                file.display()
            ),
            1,
        );
        servers.push((
            host.to_string(),
            file,
            name,
            port,
            tb.s(&format!("/hosts/{i}/ssh_port")),
        ));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    for (host, _, name, ..) in &servers {
        while !healthy(&tb, host, name) {
            assert!(Instant::now() < deadline, "{name} never became healthy");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    let cut = profile.find("[[services]]").unwrap_or(profile.len());
    let names: Vec<String> = servers.iter().map(|s| format!("\"{}\"", s.2)).collect();
    profile = format!(
        "{}[[services]]\nname = \"web\"\ncontainers = [{}]\nenv = [\"SECRET_KEY_BASE\", \"POSTGRES_PASSWORD\", \"DATABASE_URL\", \"REDIS_PASSWORD\", \"REDIS_URL\"]\nhealth_path = \"/health\"\n",
        &profile[..cut],
        names.join(", ")
    );
    let profile_file = work.path().join("rotsite.toml");
    std::fs::write(&profile_file, profile).unwrap();

    // nginx in front, as in the load-balancer test.
    let lb = free_port();
    let d = work.path().display();
    let upstreams: String = servers
        .iter()
        .map(|s| format!("    server 127.0.0.1:{} max_fails=1 fail_timeout=1s;\n", s.3))
        .collect();
    std::fs::write(
        work.path().join("nginx.conf"),
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
    let _nginx = Killed(
        Command::new("/usr/sbin/nginx")
            .arg("-c")
            .arg(work.path().join("nginx.conf"))
            .arg("-p")
            .arg(work.path())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    while std::net::TcpStream::connect(("127.0.0.1", lb)).is_err() {
        std::thread::sleep(Duration::from_millis(50));
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let engine = rt.block_on(async {
        let e = Engine::open(&work.path().join("state")).await.unwrap();
        e.add_deployment(&profile_file).await.unwrap();
        e
    });
    let spec = ActionSpec::RotateSecrets(RotateSecrets {
        vars: VARS.iter().map(|v| v.to_string()).collect(),
        ..Default::default()
    });
    let ours = || {
        let r = rt
            .block_on(engine.run_action(
                "rotsite",
                RunRequest::new(spec.clone(), Some(Confirmation::new("rotsite", None))),
                Arc::new(|_| {}),
                Cancel::default(),
            ))
            .unwrap();
        assert!(r.verified, "{}", r.verify_detail);
    };
    let by_hand = |n: usize| {
        let now = std::fs::read_to_string(&servers[0].1).unwrap();
        let (pg, redis) = (
            env_get(&now, "POSTGRES_PASSWORD"),
            env_get(&now, "REDIS_PASSWORD"),
        );
        let (pg_new, redis_new, skb_new) = (
            format!("rotsite-pg-{pid}-hand-{n:04}"),
            format!("rotsite-redis-{pid}-hand-{n:04}"),
            format!("rotsite-skb-{pid}-hand-{n:04}-{}", "1".repeat(48)),
        );
        // The database and Redis first (what a runbook says), then every host.
        let out = Command::new(format!("{}/psql", tb.s("/postgres/bin_dir")))
            .args([
                "-X",
                "-q",
                "-h",
                "127.0.0.1",
                "-p",
                &pg_port,
                "-U",
                &role,
                "-d",
                "sandbox",
                "-c",
            ])
            .arg(format!("ALTER ROLE {role} PASSWORD '{pg_new}'"))
            .env("PGPASSWORD", &pg)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let out = Command::new("redis-cli")
            .args(["-p", &redis_port.to_string(), "--no-auth-warning", "-a", &redis])
            .args(["CONFIG", "SET", "requirepass", &redis_new])
            .output()
            .unwrap();
        assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("OK"));
        for (host, file, name, port, ssh_port) in &servers {
            let f = file.display();
            let remote = format!(
                "sed -i 's/{pg}/{pg_new}/g; s/{redis}/{redis_new}/g; s/^SECRET_KEY_BASE=.*/SECRET_KEY_BASE={skb_new}/' {f} && \
                 docker rm -f {name} >/dev/null && \
                 docker run -d --init --name {name} --network host --env-file {f} -e PORT={port} -e APP_NODE={name} sandbox-app:latest serve >/dev/null && \
                 until [ \"$(docker inspect -f '{{{{.State.Health.Status}}}}' {name})\" = healthy ]; do sleep 0.2; done"
            );
            let out = Command::new("ssh")
                .args(["-o", "KexAlgorithms=curve25519-sha256", "-o", "BatchMode=yes"])
                .arg("-o")
                .arg(format!("UserKnownHostsFile={}", tb.s("/known_hosts")))
                .args(["-i", &tb.s("/client_key"), "-p", ssh_port, "root@127.0.0.1"])
                .arg(remote)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{host}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    };
    let ports: Vec<u16> = servers.iter().map(|s| s.3).collect();
    // Warm-up: connections, the image's layers in the page cache.
    ours();
    by_hand(0);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for n in 0..reps {
        let t = Instant::now();
        let mut took = Duration::ZERO;
        let seen = watched(&rt, lb, &ports, || {
            ours();
            took = t.elapsed();
        });
        a.push((took, seen));
        let t = Instant::now();
        let mut took = Duration::ZERO;
        let seen = watched(&rt, lb, &ports, || {
            by_hand(n + 1);
            took = t.elapsed();
        });
        b.push((took, seen));
    }
    for (host, _, name, ..) in &servers {
        let out = tb.docker(host, &["ps", "-aq", "--filter", &format!("name={name}")]);
        for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            let _ = tb.docker(host, &["rm", "-f", id]);
        }
    }
    tb.psql(&format!(
        "REVOKE CONNECT ON DATABASE sandbox FROM {role}; DROP ROLE IF EXISTS {role}"
    ));

    println!(
        "Rotation of {} on 3 hosts (real sample-app servers behind nginx, their own PostgreSQL role and Redis), {reps} repetitions, {} cores\n",
        VARS.join(" + "),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    println!(
        "| how | time (s), median | failed `/health` polls through nginx (all runs) | longest time one host was out (s), worst run |\n|---|---:|---:|---:|"
    );
    for (label, runs) in [
        (
            "Breakglass `rotate` (verifier, Redis overlap, CAS `.env` write + backup, one host at a time behind the health gate, old secrets proven refused)",
            &a,
        ),
        (
            "by hand: `ALTER ROLE` in psql, `CONFIG SET requirepass`, then per host `ssh` (`sed -i`, `docker rm -f`, `docker run`, wait for healthy)",
            &b,
        ),
    ] {
        let time = median(runs.iter().map(|r| r.0.as_secs_f64()).collect());
        let (polls, failed): (u32, u32) = runs
            .iter()
            .fold((0, 0), |(p, f), r| (p + r.1.lb_polls, f + r.1.lb_failed));
        let out = runs
            .iter()
            .flat_map(|r| r.1.longest_out.iter().copied())
            .max()
            .unwrap_or_default();
        println!(
            "| {label} | {time:.2} | {failed} of {polls} | {:.2} |",
            out.as_secs_f64()
        );
    }
    let per_host: BTreeMap<&str, f64> = servers
        .iter()
        .enumerate()
        .map(|(i, s)| {
            (
                s.0.as_str(),
                a.iter()
                    .map(|r| r.1.longest_out[i].as_secs_f64())
                    .fold(0.0, f64::max),
            )
        })
        .collect();
    println!("\nBreakglass, longest out per host (s): {per_host:?}");
}
