//! Fan-out benchmark: one remote command (`id -u`) on N hosts, Breakglass against what an
//! admin would otherwise use, in one run on the same machine:
//!
//! - Breakglass, fresh connections (connect + authenticate + run, all hosts in parallel)
//! - Breakglass, held connections (the console's normal case after the first status)
//! - Breakglass, held connections, one SSH round trip and no command: what `status` now
//!   costs per host (a command costs a process on the server, whoever sends it)
//! - plain OpenSSH, one host after another (`for h in …; do ssh h id -u; done`)
//! - parallel OpenSSH (N `ssh` processes at once)
//! - OpenSSH with ControlMaster connections already open (held, like ours)
//! - Ansible ad-hoc, `raw` module, `-f N` (when `ansible` is installed)
//!
//! Both sides use the same key exchange (curve25519-sha256: OpenSSH 9.2's sshd does not
//! offer ML-KEM, so russh negotiates curve25519 too; the OpenSSH client is told
//! `-o KexAlgorithms=curve25519-sha256`). The hosts are N real sshd on loopback, started
//! here with fresh host keys. The same run also times `status` of the sandbox deployment
//! (3 hosts, Docker, database, /health) when the testbed is up.
//!
//! Run: `cargo bench --bench fanout --no-default-features -- [--hosts 3,20] [--reps 15]`
//! Prints a Markdown table (medians, and ratios to Breakglass) for docs/performance.md.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use breakglass::engine::Engine;

const KEX: &str = "KexAlgorithms=curve25519-sha256";

struct Fleet {
    dir: tempfile::TempDir,
    sshd: Vec<Child>,
    ports: Vec<u16>,
    fingerprints: Vec<String>,
    client_key: PathBuf,
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for c in &mut self.sshd {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// N sshd on loopback, key-only, each with its own host key.
fn start_fleet(n: usize) -> Fleet {
    let dir = tempfile::tempdir().unwrap();
    let client_key = dir.path().join("id_ed25519");
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&client_key));
    let auth = dir.path().join("authorized_keys");
    std::fs::copy(client_key.with_extension("pub"), &auth).unwrap();
    std::fs::create_dir_all("/run/sshd").unwrap();
    let (mut sshd, mut ports, mut fingerprints) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        let key = dir.path().join(format!("host{i}"));
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key));
        let fp = run(Command::new("ssh-keygen")
            .arg("-lf")
            .arg(key.with_extension("pub")));
        fingerprints.push(
            String::from_utf8_lossy(&fp.stdout)
                .split_whitespace()
                .nth(1)
                .unwrap()
                .to_owned(),
        );
        let port = free_port();
        let conf = dir.path().join(format!("sshd{i}.conf"));
        std::fs::write(
            &conf,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile {}/sshd{i}.pid\n\
                 AuthorizedKeysFile {}\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 UsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\nMaxSessions 64\n\
                 MaxStartups 200:30:400\nAllowTcpForwarding yes\n",
                key.display(),
                dir.path().display(),
                auth.display()
            ),
        )
        .unwrap();
        sshd.push(
            Command::new("/usr/sbin/sshd")
                .args(["-D", "-f"])
                .arg(&conf)
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        ports.push(port);
    }
    for &p in &ports {
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", p)).is_err() {
            assert!(Instant::now() < deadline, "sshd on {p} did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    Fleet {
        dir,
        sshd,
        ports,
        fingerprints,
        client_key,
    }
}

fn profile(f: &Fleet) -> String {
    let mut t = format!(
        "name = \"fleet\"\napp_profile = \"homechat\"\n[ssh]\nuser = \"root\"\n\
         auth = {{ method = \"key-file\", path = \"{}\" }}\n",
        f.client_key.display()
    );
    for (i, (port, fp)) in f.ports.iter().zip(&f.fingerprints).enumerate() {
        t += &format!(
            "[[hosts]]\nname = \"h{i}\"\naddress = \"127.0.0.1\"\nport = {port}\nhost_key = \"{fp}\"\n"
        );
    }
    t
}

fn ssh_args(f: &Fleet, port: u16) -> Vec<String> {
    let kh = f.dir.path().join("known_hosts");
    vec![
        "-o".into(),
        KEX.into(),
        "-o".into(),
        "BatchMode=yes".into(),
        "-o".into(),
        format!("UserKnownHostsFile={}", kh.display()),
        "-o".into(),
        "StrictHostKeyChecking=yes".into(),
        "-i".into(),
        f.client_key.display().to_string(),
        "-p".into(),
        port.to_string(),
        "root@127.0.0.1".into(),
    ]
}

fn write_known_hosts(f: &Fleet) {
    let mut kh = String::new();
    for (i, port) in f.ports.iter().enumerate() {
        let pubkey = std::fs::read_to_string(f.dir.path().join(format!("host{i}.pub"))).unwrap();
        let mut parts = pubkey.split_whitespace();
        kh += &format!(
            "[127.0.0.1]:{port} {} {}\n",
            parts.next().unwrap(),
            parts.next().unwrap()
        );
    }
    std::fs::write(f.dir.path().join("known_hosts"), kh).unwrap();
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time<F: FnMut()>(reps: usize, mut f: F) -> Duration {
    f(); // warm-up
    median(
        (0..reps)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect(),
    )
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct Row {
    what: String,
    median: Duration,
}

fn bench_fleet(rt: &tokio::runtime::Runtime, n: usize, reps: usize, ansible: bool) -> Vec<Row> {
    let f = start_fleet(n);
    write_known_hosts(&f);
    let data = tempfile::tempdir().unwrap();
    let pfile = data.path().join("fleet.toml");
    std::fs::write(&pfile, profile(&f)).unwrap();
    let engine = rt.block_on(async {
        let e = Engine::open(data.path()).await.unwrap();
        e.add_deployment(&pfile).await.unwrap();
        e
    });
    let hosts: Vec<String> = (0..n).map(|i| format!("h{i}")).collect();
    let mut rows = Vec::new();

    rows.push(Row {
        what: "Breakglass, fresh connections (parallel)".into(),
        median: time(reps, || {
            rt.block_on(async {
                let runs = hosts.iter().map(|h| async {
                    let s = engine.connect_fresh("fleet", h).await.unwrap();
                    let out = s.exec("id -u", None).await.unwrap();
                    assert_eq!(out.stdout, b"0\n");
                    s.close().await;
                });
                futures_util::future::join_all(runs).await;
            })
        }),
    });
    rows.push(Row {
        what: "Breakglass, held connections (parallel)".into(),
        median: time(reps, || {
            rt.block_on(async {
                let runs = hosts.iter().map(|h| async {
                    let out = engine.exec("fleet", h, "id -u").await.unwrap();
                    assert_eq!(out.stdout, b"0\n");
                });
                futures_util::future::join_all(runs).await;
            })
        }),
    });
    rows.push(Row {
        what: "Breakglass, held connections, SSH round trip without a command (parallel)".into(),
        median: time(reps, || {
            rt.block_on(async {
                let runs = hosts.iter().map(|h| async {
                    let s = engine.session("fleet", h).await.unwrap();
                    s.ping().await.unwrap();
                });
                futures_util::future::join_all(runs).await;
            })
        }),
    });
    rows.push(Row {
        what: "OpenSSH, one host after another".into(),
        median: time(reps.min(5), || {
            for &p in &f.ports {
                run(Command::new("ssh").args(ssh_args(&f, p)).arg("id -u"));
            }
        }),
    });
    rows.push(Row {
        what: "OpenSSH, parallel (N processes)".into(),
        median: time(reps, || {
            let kids: Vec<_> = f
                .ports
                .iter()
                .map(|&p| {
                    Command::new("ssh")
                        .args(ssh_args(&f, p))
                        .arg("id -u")
                        .stdout(Stdio::null())
                        .spawn()
                        .unwrap()
                })
                .collect();
            for mut k in kids {
                assert!(k.wait().unwrap().success());
            }
        }),
    });
    // ControlMaster: connections opened once and held, like the console's.
    let cm = |p: u16| {
        vec![
            "-o".to_owned(),
            format!("ControlPath={}/cm-{p}", f.dir.path().display()),
        ]
    };
    for &p in &f.ports {
        run(Command::new("ssh")
            .args(cm(p))
            .args(["-o", "ControlMaster=yes", "-o", "ControlPersist=120", "-f", "-N"])
            .args(ssh_args(&f, p)));
    }
    rows.push(Row {
        what: "OpenSSH ControlMaster, held (parallel)".into(),
        median: time(reps, || {
            let kids: Vec<_> = f
                .ports
                .iter()
                .map(|&p| {
                    Command::new("ssh")
                        .args(cm(p))
                        .args(ssh_args(&f, p))
                        .arg("id -u")
                        .stdout(Stdio::null())
                        .spawn()
                        .unwrap()
                })
                .collect();
            for mut k in kids {
                assert!(k.wait().unwrap().success());
            }
        }),
    });
    for &p in &f.ports {
        let _ = Command::new("ssh")
            .args(cm(p))
            .args(["-O", "exit"])
            .args(ssh_args(&f, p))
            .stderr(Stdio::null())
            .output();
    }
    if ansible {
        let inv = f.dir.path().join("inventory.ini");
        let mut text = String::from("[fleet]\n");
        for (i, p) in f.ports.iter().enumerate() {
            text += &format!("h{i} ansible_host=127.0.0.1 ansible_port={p} ansible_user=root\n");
        }
        std::fs::write(&inv, text).unwrap();
        let ssh_common = format!(
            "-o {KEX} -o UserKnownHostsFile={} -o StrictHostKeyChecking=yes -o ControlMaster=no -o ControlPath=none",
            f.dir.path().join("known_hosts").display()
        );
        rows.push(Row {
            what: format!("Ansible ad-hoc, raw, -f {n}"),
            median: time(reps.min(5), || {
                run(Command::new("ansible")
                    .args(["fleet", "-i"])
                    .arg(&inv)
                    .args(["-m", "raw", "-a", "id -u", "-f", &n.to_string(), "--private-key"])
                    .arg(&f.client_key)
                    .env("ANSIBLE_SSH_ARGS", &ssh_common)
                    .env("ANSIBLE_HOST_KEY_CHECKING", "True")
                    .env("ANSIBLE_LOCAL_TEMP", f.dir.path().join("ansible-tmp"))
                    .stdout(Stdio::null()));
            }),
        });
    }
    rows
}

fn table(title: &str, rows: &[Row]) {
    let base = rows[0].median;
    println!("\n### {title}\n\n| what | median (ms) | × Breakglass fresh |\n|---|---:|---:|");
    for r in rows {
        println!(
            "| {} | {:.1} | {:.2} |",
            r.what,
            ms(r.median),
            ms(r.median) / ms(base)
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let sizes: Vec<usize> = arg("--hosts")
        .unwrap_or_else(|| "3,20".into())
        .split(',')
        .map(|s| s.parse().unwrap())
        .collect();
    let reps: usize = arg("--reps").and_then(|r| r.parse().ok()).unwrap_or(15);
    let ansible = Command::new("ansible")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();

    println!(
        "Fan-out benchmark, {} cores, {reps} repetitions (median), KEX curve25519-sha256 on both sides{}",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        if ansible {
            ""
        } else {
            " (ansible not installed: its rows are missing)"
        }
    );
    for n in sizes {
        table(
            &format!("`id -u` on {n} hosts"),
            &bench_fleet(&rt, n, reps, ansible),
        );
    }

    // status of the sandbox, when the testbed is up.
    if let Some(tb) = std::env::var_os("BREAKGLASS_TESTBED")
        .map(PathBuf::from)
        .filter(|d| d.join("sandbox.toml").exists())
    {
        let data = tempfile::tempdir().unwrap();
        let engine = rt.block_on(async {
            let e = Engine::open(data.path()).await.unwrap();
            e.add_deployment(&tb.join("sandbox.toml")).await.unwrap();
            e
        });
        let fresh = time(reps, || {
            rt.block_on(async {
                let e = Engine::open(data.path()).await.unwrap(); // no held connections
                let st = e.status("sandbox").await.unwrap();
                assert!(st.hosts.iter().all(|h| h.reachable));
            })
        });
        let held = time(reps, || {
            rt.block_on(async {
                let st = engine.status("sandbox").await.unwrap();
                assert!(st.hosts.iter().all(|h| h.reachable));
            })
        });
        let manual = time(reps.min(5), || sandbox_by_hand(&tb));
        table(
            "`status` of the sandbox (3 hosts: SSH, Docker, containers, database, /health)",
            &[
                Row {
                    what: "Breakglass status, fresh connections".into(),
                    median: fresh,
                },
                Row {
                    what: "Breakglass status, held connections".into(),
                    median: held,
                },
                Row {
                    what: "by hand: parallel ssh + docker ps + psql + curl".into(),
                    median: manual,
                },
            ],
        );
    }
}

/// What an admin types for the same picture: per host `ssh … docker ps`, plus `psql` on
/// the db host and `curl /health`, all in parallel.
fn sandbox_by_hand(tb: &Path) {
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tb.join("testbed.json")).unwrap()).unwrap();
    let key = json["client_key"].as_str().unwrap();
    let kh = json["known_hosts"].as_str().unwrap();
    let mut kids = Vec::new();
    for h in json["hosts"].as_array().unwrap() {
        let port = h["ssh_port"].as_u64().unwrap().to_string();
        let sock = h["docker_socket"].as_str().unwrap();
        let mut cmd = Command::new("ssh");
        cmd.args([
            "-o",
            KEX,
            "-o",
            "BatchMode=yes",
            "-o",
            &format!("UserKnownHostsFile={kh}"),
            "-i",
            key,
            "-p",
            &port,
            "root@127.0.0.1",
        ])
        .arg(format!(
            "docker -H unix://{sock} ps -a --format '{{{{.Names}}}} {{{{.Status}}}}'"
        ))
        .stdout(Stdio::null());
        kids.push(cmd.spawn().unwrap());
    }
    let env = json["hosts"][0]["env_file"].as_str().unwrap();
    let pg_port = json["postgres"]["port"].as_u64().unwrap();
    let mut psql = Command::new("ssh");
    psql.args(["-o", KEX, "-o", "BatchMode=yes", "-o", &format!("UserKnownHostsFile={kh}"), "-i", key, "-p", "22201", "root@127.0.0.1"])
        .arg(format!(
            "set -a; . {env}; PGPASSWORD=$POSTGRES_PASSWORD psql -h 127.0.0.1 -p {pg_port} -U $POSTGRES_USER -d $POSTGRES_DB -Atc 'select 1'"
        ))
        .stdout(Stdio::null());
    kids.push(psql.spawn().unwrap());
    kids.push(
        Command::new("curl")
            .args(["-fsS", "http://127.0.0.1:18081/health"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    for mut k in kids {
        assert!(k.wait().unwrap().success());
    }
}
