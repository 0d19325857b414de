//! Restore-test benchmark: the whole restore test (list, scratch database, restore,
//! compare with production, newest row, drop, journal) of a dump of more than 1 GB,
//! against a raw `pg_restore` of the same file into an empty database, in one run,
//! alternating. Both restore over SSH on the same host (app1, as root) with the same
//! role, `--jobs=2`, `--no-owner --no-acl`; the raw side's empty database is made before
//! its clock starts and dropped after.
//!
//! The data: a database `bench_restore` with the sandbox's schema and ~1.2 GB of rows
//! (audit rows with large metadata), dumped uncompressed (`-Fc -Z0`) once; both kept
//! between runs (`--fresh` rebuilds them).
//!
//! Run (with the testbed up, in a desktop session for the keychain):
//! `scripts/desktop-session --headless -- cargo bench --no-default-features --bench restore -- [--reps 3]`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use breakglass::engine::Engine;
use breakglass::engine::actions::Cancel;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

struct Tb {
    json: serde_json::Value,
}

impl Tb {
    fn s(&self, p: &str) -> String {
        let v = self.json.pointer(p).unwrap();
        v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())
    }

    /// psql as the superuser on the local socket, SQL on stdin.
    fn psql(&self, db: &str, sql: &str) -> String {
        let mut child = Command::new(format!("{}/psql", self.s("/postgres/bin_dir")))
            .args(["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(self.s("/postgres/socket_dir"))
            .arg("-p")
            .arg(self.s("/postgres/port"))
            .args(["-U", "postgres", "-d", db])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(sql.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// A command on app1 over ssh as the admin would type it; `stdin` is its input.
    fn ssh(&self, remote: &str, stdin: &str) {
        let mut child = Command::new("ssh")
            .args(["-o", "KexAlgorithms=curve25519-sha256", "-o", "BatchMode=yes"])
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", self.s("/known_hosts")))
            .args([
                "-i",
                &self.s("/client_key"),
                "-p",
                &self.s("/hosts/0/ssh_port"),
                "root@127.0.0.1",
            ])
            .arg(remote)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{remote}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
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
    let fresh = args.iter().any(|a| a == "--fresh");
    let dir = std::env::var_os("BREAKGLASS_TESTBED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".testbed"));
    let tb = Tb {
        json: serde_json::from_slice(
            &std::fs::read(dir.join("testbed.json")).expect("the testbed is up (tests/testbed/up)"),
        )
        .unwrap(),
    };
    let folder = dir.join("hosts/app1/backups-bench");
    let dump = folder.join("bench_restore.dump");
    let port = tb.s("/postgres/port");
    let password = tb.s("/backups/restore_password");

    // The data and its dump (not timed).
    let exists = tb.psql(
        "postgres",
        "SELECT count(*) FROM pg_database WHERE datname = 'bench_restore'",
    ) == "1";
    if fresh || !exists || !dump.exists() {
        eprintln!("making the database bench_restore and its dump (a few minutes)…");
        tb.psql("postgres", "DROP DATABASE IF EXISTS bench_restore WITH (FORCE)");
        tb.psql("postgres", "CREATE DATABASE bench_restore OWNER app");
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/testbed");
        let schema = std::fs::read_to_string(root.join("schema.sql")).unwrap();
        let seed = std::fs::read_to_string(root.join("seed.sql")).unwrap();
        tb.psql("bench_restore", &format!("SET ROLE app;\n{schema}"));
        tb.psql(
            "bench_restore",
            &format!(
                "\\set gen_users 9994\n\\set gen_tokens 99995\n\\set n_sessions 10000\n\\set n_audit 100000\nSET ROLE app;\nBEGIN;\n{seed}\nCOMMIT;\n"
            ),
        );
        tb.psql(
            "bench_restore",
            "SET ROLE app;\nINSERT INTO audit_logs (user_id, action, ip_address, metadata, created_at) \
             SELECT (g % 9000) + 1, 'page.view', '10.1.2.3', \
                    jsonb_build_object('agent', repeat(md5(g::text), 12), 'path', '/rooms/' || g), \
                    now() - make_interval(secs => g) \
             FROM generate_series(1, 2400000) g;\nANALYZE;",
        );
        std::fs::create_dir_all(&folder).unwrap();
        let out = Command::new(format!("{}/pg_dump", tb.s("/postgres/bin_dir")))
            .args(["-Fc", "-Z0", "-h"])
            .arg(tb.s("/postgres/socket_dir"))
            .args(["-p", &port, "-U", "postgres", "-d", "bench_restore", "-f"])
            .arg(&dump)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let size = std::fs::metadata(&dump).unwrap().len();
    let db_size = tb.psql(
        "postgres",
        "SELECT pg_size_pretty(pg_database_size('bench_restore'))",
    );
    let rows = tb.psql("bench_restore", "SELECT count(*) FROM audit_logs");

    let rt = tokio::runtime::Runtime::new().unwrap();
    let state = tempfile::tempdir().unwrap();
    let engine = rt.block_on(async {
        let text = std::fs::read_to_string(dir.join("sandbox.toml")).unwrap();
        let text = text
            .replacen("name = \"sandbox\"", "name = \"bench-restore\"", 1)
            .replacen("name = \"sandbox\"", "name = \"bench_restore\"", 1)
            .replacen(
                &format!("path = \"{}\"", tb.s("/backups/dir")),
                &format!("path = \"{}\"", folder.display()),
                1,
            );
        let e = Engine::open(&state.path().join("state")).await.unwrap();
        // The same deployment three times: a scratch database on production's server,
        // a throwaway container on app1, and the dump in the S3 bucket.
        let ctr = format!(
            "rpo = \"26h\"\nrestore_into = \"container\"\ncontainer = {{ image = \"{}\", memory = \"4g\", cpus = 2 }}",
            tb.s("/postgres_image")
        );
        let s3 = format!(
            "rpo = \"26h\"\ns3 = {{ endpoint = \"{}\", bucket = \"{}\", prefix = \"bench/\" }}",
            tb.s("/backups/s3/endpoint"),
            tb.s("/backups/s3/bucket")
        );
        for (name, rpo) in [("bench-restore", "rpo = \"26h\""), ("bench-restore-ctr", &ctr), ("bench-restore-s3", &s3)] {
            let file = state.path().join(format!("{name}.toml"));
            let text = text
                .replacen("name = \"bench-restore\"", &format!("name = \"{name}\""), 1)
                .replacen("rpo = \"26h\"", rpo, 1);
            std::fs::write(&file, text).unwrap();
            e.add_deployment(&file).await.unwrap();
            let k = e.keychain();
            k.set(name, "restore-password", password.clone().into()).await.unwrap();
            k.set(name, "s3-access-key", tb.s("/backups/s3/access_key").into()).await.unwrap();
            k.set(name, "s3-secret-key", tb.s("/backups/s3/secret_key").into()).await.unwrap();
        }
        e
    });
    let bucket = PathBuf::from(tb.s("/backups/s3/store"))
        .join(tb.s("/backups/s3/bucket"))
        .join("bench");
    std::fs::create_dir_all(&bucket).unwrap();
    if !bucket.join("bench_restore.dump").exists() {
        std::fs::hard_link(&dump, bucket.join("bench_restore.dump"))
            .or_else(|_| std::fs::copy(&dump, bucket.join("bench_restore.dump")).map(|_| ()))
            .unwrap();
    }

    println!(
        "Restore test of a {:.2} GB dump (`-Fc -Z0`; database {db_size}, {rows} audit rows), {reps} repetitions each (median), 2 cores\n",
        size as f64 / 1e9
    );
    let (mut raw, mut ours, mut ctr, mut s3) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let test = |deployment: &str, backup: &str| {
        let t = Instant::now();
        let report = rt
            .block_on(engine.restore_test(deployment, Some(backup), &|_| {}, &Cancel::default()))
            .unwrap();
        let took = t.elapsed();
        assert!(report.passed, "{report:#?}");
        (took, report.rto_ms.unwrap_or(0) as f64 / 1000.0)
    };
    for rep in 0..reps {
        // Raw: an empty database, then pg_restore over ssh, the password on stdin.
        let name = format!("bench_raw_{rep}");
        tb.psql(
            "postgres",
            &format!("DROP DATABASE IF EXISTS {name}; CREATE DATABASE {name} OWNER restore_tester"),
        );
        let t = Instant::now();
        tb.ssh(
            &format!(
                "IFS= read -r PGPASSWORD; export PGPASSWORD; pg_restore --no-owner --no-acl --jobs=2 -h 127.0.0.1 -p {port} -U restore_tester -d {name} {}",
                dump.display()
            ),
            &format!("{password}\n"),
        );
        raw.push(t.elapsed());
        tb.psql("postgres", &format!("DROP DATABASE {name} WITH (FORCE)"));

        let (took, rto) = test("bench-restore", "bench_restore.dump");
        ours.push(took);
        let (took_c, rto_c) = test("bench-restore-ctr", "bench_restore.dump");
        ctr.push(took_c);
        let (took_s, rto_s) = test("bench-restore-s3", "bench/bench_restore.dump");
        s3.push(took_s);
        eprintln!(
            "rep {rep}: raw pg_restore {:.1} s; restore test {:.1} s (restore {rto:.1} s); in a container {:.1} s (restore {rto_c:.1} s); from S3 {:.1} s (download and restore {rto_s:.1} s)",
            raw[rep].as_secs_f64(),
            took.as_secs_f64(),
            took_c.as_secs_f64(),
            took_s.as_secs_f64(),
        );
    }
    let (r, o, c, s) = (median(raw), median(ours), median(ctr), median(s3));
    println!(
        "| {:.2} GB custom-format dump | median (s) | × raw pg_restore |",
        size as f64 / 1e9
    );
    println!("|---|---:|---:|");
    println!(
        "| raw `pg_restore --jobs=2` over ssh into an empty database | {:.1} | 1.00 |",
        r.as_secs_f64()
    );
    println!(
        "| Breakglass restore test, whole (restore + compare + newest row + drop + journal) | {:.1} | {:.2} |",
        o.as_secs_f64(),
        o.as_secs_f64() / r.as_secs_f64()
    );
    println!(
        "| the same, into a throwaway container on app1 (start, restore through its socket, compare, remove) | {:.1} | {:.2} |",
        c.as_secs_f64(),
        c.as_secs_f64() / r.as_secs_f64()
    );
    println!(
        "| the same, the dump fetched from the S3 bucket by app1 first (s3s-fs on loopback) | {:.1} | {:.2} |",
        s.as_secs_f64(),
        s.as_secs_f64() / r.as_secs_f64()
    );
}
