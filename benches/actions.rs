//! Action benchmark on the large sandbox (1,000,000 API tokens, 100,000 users):
//! revoke every token and lock every non-admin account, Breakglass against the same
//! statement typed into `psql` over `ssh`, in one run.
//!
//! Breakglass's time is the whole action: plan (count + sample), the deployment lock,
//! the UPDATE in a transaction, verify (count again), and five journal entries. The psql
//! side is only the UPDATE. Between repetitions the table is reset and vacuumed (not
//! timed), so every repetition starts from the same state for both.
//!
//! Run: `./dev bench` (starts the large testbed), or with it up:
//! `cargo bench --bench actions --no-default-features -- [--reps 5]`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use breakglass::engine::Engine;
use breakglass::engine::actions::{
    ActionSpec, Cancel, Confirmation, LockAccounts, LockScope, RevokeTokens, RunRequest, TokenScope,
};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct Tb {
    json: serde_json::Value,
}

impl Tb {
    fn s(&self, p: &str) -> String {
        let v = self.json.pointer(p).unwrap();
        v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())
    }

    /// psql as the superuser on the local socket: resets between repetitions. Each
    /// `;`-separated statement is its own `-c` (VACUUM cannot run in a transaction).
    fn psql_local(&self, sql: &str) -> String {
        let mut cmd = Command::new(format!("{}/psql", self.s("/postgres/bin_dir")));
        cmd.args(["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(self.s("/postgres/socket_dir"))
            .arg("-p")
            .arg(self.s("/postgres/port"))
            .args(["-U", "postgres", "-d", "sandbox"]);
        for stmt in sql.split("; ") {
            cmd.args(["-c", stmt]);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// What an admin types: ssh to the db host, take the credentials from the .env on
    /// the server (never onto the command line), run the statement with psql.
    fn psql_over_ssh(&self, sql: &str) {
        let env = self.s("/hosts/0/env_file");
        let remote = format!(
            "set -a; . {env}; PGPASSWORD=\"$POSTGRES_PASSWORD\" psql -X -q -h \"$POSTGRES_HOST\" -p \"$POSTGRES_PORT\" -U \"$POSTGRES_USER\" -d \"$POSTGRES_DB\" -v ON_ERROR_STOP=1 -c \"{sql}\""
        );
        let out = Command::new("ssh")
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
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
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
        eprintln!("actions bench: no testbed (run `./dev bench`, which starts the large one)");
        return;
    };
    let tb = Tb {
        json: serde_json::from_str(&std::fs::read_to_string(dir.join("testbed.json")).unwrap()).unwrap(),
    };
    let tokens: i64 = tb.psql_local("SELECT count(*) FROM api_tokens").parse().unwrap();
    let users: i64 = tb.psql_local("SELECT count(*) FROM users").parse().unwrap();
    if tokens < 1_000_000 || users < 100_000 {
        eprintln!("actions bench: the testbed is small ({tokens} tokens, {users} users); run `./dev bench`");
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let data = tempfile::tempdir().unwrap();
    let engine = rt.block_on(async {
        let e = Engine::open(data.path()).await.unwrap();
        e.add_deployment(&dir.join("sandbox.toml")).await.unwrap();
        e
    });

    let cases: [(&str, ActionSpec, &str, &str); 2] = [
        (
            "revoke every API token",
            ActionSpec::RevokeTokens(RevokeTokens {
                scope: TokenScope::All,
            }),
            "UPDATE api_tokens SET active = false WHERE active",
            "UPDATE api_tokens SET active = true; VACUUM api_tokens",
        ),
        (
            "lock every non-admin account for 2 h",
            ActionSpec::LockAccounts(LockAccounts {
                scope: LockScope::AllNonAdmin,
                duration_secs: Some(7200),
            }),
            "UPDATE users SET locked_until = now() + interval '2 hours' WHERE role <> ALL('{admin}') AND NOT (locked_until IS NOT NULL AND locked_until > now())",
            "UPDATE users SET locked_until = NULL WHERE username <> 'carol'; VACUUM users",
        ),
    ];
    println!("Action benchmark: {tokens} tokens, {users} users, {reps} repetitions (median), 2 cores\n");
    println!(
        "| action | rows changed | Breakglass (ms) | psql over ssh (ms) | ratio |\n|---|---:|---:|---:|---:|"
    );
    for (what, spec, sql, reset) in cases {
        // Warm-up: connections, caches.
        tb.psql_local(reset);
        let report = rt
            .block_on(engine.run_action(
                "sandbox",
                RunRequest::new(spec.clone(), Some(Confirmation::new("sandbox", None))),
                Arc::new(|_| {}),
                Cancel::default(),
            ))
            .unwrap();
        let changed = report.changed;
        let mut ours = Vec::new();
        let mut theirs = Vec::new();
        for _ in 0..reps {
            tb.psql_local(reset);
            let t = Instant::now();
            let r = rt
                .block_on(engine.run_action(
                    "sandbox",
                    RunRequest::new(spec.clone(), Some(Confirmation::new("sandbox", None))),
                    Arc::new(|_| {}),
                    Cancel::default(),
                ))
                .unwrap();
            ours.push(t.elapsed());
            assert!(r.verified && r.changed == changed);
            tb.psql_local(reset);
            let t = Instant::now();
            tb.psql_over_ssh(sql);
            theirs.push(t.elapsed());
        }
        tb.psql_local(reset);
        let (a, b) = (median(ours), median(theirs));
        println!(
            "| {what} | {changed} | {:.0} | {:.0} | {:.2} |",
            ms(a),
            ms(b),
            ms(a) / ms(b)
        );
    }
}
