//! Rotation benchmark on the sandbox's three hosts: JWT_SECRET rotated in every host's
//! `.env` and its container recreated and healthy, host by host — Breakglass (plan,
//! confirm, journal, compare-and-swap write with a backup, recreate with the old
//! container parked, health gate, verify, old containers removed) against what an admin
//! types by hand in the same run: one `ssh` per host running `sed -i` on the `.env`,
//! `docker rm -f`, `docker run --env-file` and a wait until Docker says healthy.
//!
//! Same hosts, same remote user (root, as the testbed's sshds allow), same key exchange
//! (curve25519-sha256), same image and health check (every second). The hand way puts
//! the new value on `ssh`'s and `sed`'s command lines and in no journal; it is here for
//! its time, not as a recommendation.
//!
//! Run with the testbed up: `cargo bench --bench rotate --no-default-features -- [--reps 5]`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use breakglass::engine::Engine;
use breakglass::engine::actions::{ActionSpec, Cancel, Confirmation, RotateSecrets, RunRequest};

const HEALTH: &str = "test -n \"$JWT_SECRET\"";

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

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
}

fn container(tb: &Tb, host: &str, name: &str, env: &Path) {
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
            "none",
            "--env-file",
            env.to_str().unwrap(),
            "--health-cmd",
            HEALTH,
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
            "3600",
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let reps: usize = args
        .iter()
        .position(|a| a == "--reps")
        .and_then(|i| args.get(i + 1))
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let Some(dir) = std::env::var_os("BREAKGLASS_TESTBED")
        .map(PathBuf::from)
        .filter(|d| d.join("testbed.json").exists())
    else {
        eprintln!("rotate bench: no testbed (tests/testbed/up)");
        return;
    };
    let tb = Tb {
        json: serde_json::from_str(&std::fs::read_to_string(dir.join("testbed.json")).unwrap()).unwrap(),
        dir: dir.clone(),
    };
    let work = tempfile::tempdir().unwrap();
    let hosts = ["app1", "app2", "app3"];
    let pid = std::process::id();
    let mut profile = std::fs::read_to_string(dir.join("sandbox.toml"))
        .unwrap()
        .replacen("name = \"sandbox\"", "name = \"rotbench\"", 1);
    let mut files = Vec::new();
    for (i, host) in hosts.iter().enumerate() {
        let file = work.path().join(format!("{host}.env"));
        std::fs::write(
            &file,
            format!("# {host}\nOTHER=keep\nJWT_SECRET=bench-{pid}-start\n"),
        )
        .unwrap();
        let name = format!("rotbench-{pid}-{}", i + 1);
        container(&tb, host, &name, &file);
        let sandbox_env = tb.s(&format!("/hosts/{i}/env_file"));
        profile = profile.replacen(
            &format!("env_file = \"{sandbox_env}\""),
            &format!("env_file = \"{}\"", file.display()),
            1,
        );
        files.push((
            host.to_string(),
            file,
            name,
            tb.s(&format!("/hosts/{i}/ssh_port")),
        ));
    }
    let cut = profile.find("[[services]]").unwrap_or(profile.len());
    let names: Vec<String> = files.iter().map(|f| format!("\"{}\"", f.2)).collect();
    profile = format!(
        "{}[[services]]\nname = \"bench\"\ncontainers = [{}]\nenv = [\"JWT_SECRET\"]\n",
        &profile[..cut],
        names.join(", ")
    );
    let profile_file = work.path().join("rotbench.toml");
    std::fs::write(&profile_file, profile).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let data = work.path().join("state");
    let engine = rt.block_on(async {
        let e = Engine::open(&data).await.unwrap();
        e.add_deployment(&profile_file).await.unwrap();
        e
    });
    let spec = ActionSpec::RotateSecrets(RotateSecrets {
        vars: vec!["JWT_SECRET".into()],
        ..Default::default()
    });
    let ours = || {
        let r = rt
            .block_on(engine.run_action(
                "rotbench",
                RunRequest::new(spec.clone(), Some(Confirmation::new("rotbench", None))),
                Arc::new(|_| {}),
                Cancel::default(),
            ))
            .unwrap();
        assert!(r.verified, "{}", r.verify_detail);
    };
    let by_hand = |n: usize| {
        for (host, file, name, port) in &files {
            let value = format!("bench-{pid}-hand-{n}");
            let f = file.display();
            let remote = format!(
                "sed -i 's/^JWT_SECRET=.*/JWT_SECRET={value}/' {f} && docker rm -f {name} >/dev/null && \
                 docker run -d --init --name {name} --network none --env-file {f} \
                 --health-cmd '{HEALTH}' --health-interval 1s --health-retries 2 --health-start-period 0s \
                 --entrypoint /bin/busybox sandbox-app:latest sleep 3600 >/dev/null && \
                 until [ \"$(docker inspect -f '{{{{.State.Health.Status}}}}' {name})\" = healthy ]; do sleep 0.2; done"
            );
            let out = Command::new("ssh")
                .args(["-o", "KexAlgorithms=curve25519-sha256", "-o", "BatchMode=yes"])
                .arg("-o")
                .arg(format!("UserKnownHostsFile={}", tb.s("/known_hosts")))
                .args(["-i", &tb.s("/client_key"), "-p", port, "root@127.0.0.1"])
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
    // Warm-up: connections, the image's layers in the page cache.
    ours();
    by_hand(0);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for n in 0..reps {
        let t = Instant::now();
        ours();
        a.push(t.elapsed());
        let t = Instant::now();
        by_hand(n + 1);
        b.push(t.elapsed());
    }
    for (host, _, name, _) in &files {
        let _ = tb.docker(host, &["rm", "-f", name]);
    }
    let (a, b) = (median(a), median(b));
    println!(
        "Rotation benchmark: JWT_SECRET on 3 hosts, one container each (health check every 1 s), {reps} repetitions (median), {} cores\n",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    println!("| how | time (s) |\n|---|---:|");
    println!(
        "| Breakglass `rotate` (plan, journal, CAS write + backup, recreate with rollback, health gate, verify, old containers removed) | {:.2} |",
        a.as_secs_f64()
    );
    println!(
        "| by hand: one `ssh` per host (`sed -i`, `docker rm -f`, `docker run --env-file`, wait for healthy) | {:.2} |",
        b.as_secs_f64()
    );
    println!("| ratio | {:.2} |", a.as_secs_f64() / b.as_secs_f64());
}
