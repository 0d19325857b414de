//! Access to the running testbed, described by `$BREAKGLASS_TESTBED/testbed.json`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::Value;

pub struct Testbed {
    pub dir: PathBuf,
    pub json: Value,
}

/// The running testbed. Fails the test, with what to do, if there is none.
pub fn testbed() -> &'static Testbed {
    static TB: OnceLock<Testbed> = OnceLock::new();
    TB.get_or_init(|| {
        let dir = std::env::var_os("BREAKGLASS_TESTBED")
            .map(PathBuf::from)
            .expect("BREAKGLASS_TESTBED is not set: run the suite with `./dev test`");
        let file = dir.join("testbed.json");
        let text = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("{}: {e}: is the testbed up (`./dev up`)?", file.display()));
        Testbed {
            dir,
            json: serde_json::from_str(&text).expect("testbed.json is not JSON"),
        }
    })
}

impl Testbed {
    pub fn profile_path(&self) -> PathBuf {
        self.dir.join("sandbox.toml")
    }

    pub fn str(&self, pointer: &str) -> String {
        self.json
            .pointer(pointer)
            .and_then(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .or_else(|| v.as_u64().map(|n| n.to_string()))
            })
            .unwrap_or_else(|| panic!("testbed.json has no {pointer}"))
    }

    pub fn host(&self, name: &str) -> &Value {
        self.json["hosts"]
            .as_array()
            .and_then(|a| a.iter().find(|h| h["name"] == name))
            .unwrap_or_else(|| panic!("testbed.json has no host {name}"))
    }

    /// The web containers' URLs, in order web1, web2, web3.
    pub fn web_urls(&self) -> Vec<(String, String)> {
        self.json["web"]
            .as_array()
            .expect("testbed.json: web")
            .iter()
            .map(|w| {
                (
                    w["container"].as_str().unwrap().to_owned(),
                    w["url"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    pub fn user_password(&self, user: &str) -> String {
        let users = &self.json["users"];
        let entry = users
            .as_array()
            .and_then(|a| a.iter().find(|u| u["username"] == user).cloned())
            .or_else(|| users.get(user).cloned())
            .unwrap_or_else(|| panic!("testbed.json has no user {user}"));
        entry["password"].as_str().unwrap().to_owned()
    }

    /// The `.env` of a host, parsed (values are the deployment's real secrets).
    pub fn env_of(&self, host: &str) -> HashMap<String, String> {
        let path = self.host(host)["env_file"].as_str().unwrap().to_owned();
        let env = breakglass::engine::envfile::EnvFile::parse_bytes(&std::fs::read(&path).unwrap()).unwrap();
        env.keys()
            .map(|k| (k.to_owned(), env.get(k).unwrap().expose().clone()))
            .collect()
    }

    /// A superuser connection to the testbed's PostgreSQL, straight on loopback (tests
    /// use it to look at the database from outside the console).
    pub async fn pg(&self) -> sqlx::PgPool {
        let opts = sqlx::postgres::PgConnectOptions::new()
            .host("127.0.0.1")
            .port(self.str("/postgres/port").parse().unwrap())
            .username(&self.str("/postgres/superuser"))
            .password(&self.str("/postgres/superuser_password"))
            .database(&self.str("/postgres/database"));
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect_with(opts)
            .await
            .unwrap()
    }

    /// The deployment's secret values: every `.env` variable whose name says it is one.
    pub fn secret_values(&self) -> Vec<(String, String)> {
        let secret_name = |k: &str| {
            ["SECRET", "PASSWORD", "KEY", "TOKEN", "_URL"]
                .iter()
                .any(|p| k.contains(p))
        };
        let mut out: Vec<_> = self
            .env_of("app1")
            .into_iter()
            .filter(|(k, v)| secret_name(k) && v.len() >= 8)
            .collect();
        out.sort();
        assert!(
            out.len() >= 5,
            "expected the sandbox .env to hold secrets, found {out:?}"
        );
        out
    }

    /// Fails if any secret value appears in any file under `dir`.
    pub fn assert_no_secret_in_dir(&self, dir: &Path) {
        self.assert_none_in_dir(&self.secret_values(), dir);
    }

    /// Fails if any of `secrets` appears in any file under `dir`.
    pub fn assert_none_in_dir(&self, secrets: &[(String, String)], dir: &Path) {
        assert!(dir.is_dir(), "{} is not a folder", dir.display());
        let mut stack = vec![dir.to_owned()];
        while let Some(d) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for entry in entries.flatten() {
                let p = entry.path();
                if p.is_dir() {
                    stack.push(p);
                    continue;
                }
                // A file can go between listing and reading (SQLite's -journal, the
                // journal head's temporary file): what is gone held nothing.
                let bytes = match std::fs::read(&p) {
                    Ok(b) => b,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => panic!("{}: {e}", p.display()),
                };
                self.assert_no_secret_in(secrets, &bytes, &p.display().to_string());
            }
        }
    }

    pub fn assert_no_secret_in(&self, secrets: &[(String, String)], bytes: &[u8], what: &str) {
        for (k, v) in secrets {
            let found = bytes.windows(v.len()).any(|w| w == v.as_bytes());
            assert!(!found, "the value of {k} leaked into {what}");
        }
    }
}

/// A port nothing listens on, for a server a test starts: drawn at random from
/// 61000–64999, above the kernel's ephemeral range (32768–60999 here), so the outgoing
/// connections of tests running beside this one (SSH, PostgreSQL, Docker) cannot take it
/// between this call and the server's `bind`, as a port from `bind(0)` could be.
pub fn free_port() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    let mut seed = h.finish();
    for _ in 0..500 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let port = 61000 + ((seed >> 33) % 4000) as u16;
        // One after the other: the first listener is gone before the second binds.
        let any = std::net::TcpListener::bind(("0.0.0.0", port)).is_ok();
        if any && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in 61000-64999");
}

/// A fresh IP per call (TEST-NET-1, which the seeded audit trail does not use), so each
/// test finds its own audit rows.
pub fn unique_test_ip() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    // IPv6 documentation space (2001:db8::/32), which the seed never uses, with the
    // process id, a counter and the clock in it: nextest runs each test in its own
    // process, so neither the pid nor the counter is enough on its own.
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let pid = std::process::id();
    format!(
        "2001:db8:{:x}:{:x}:{:x}:{:x}::1",
        pid >> 16,
        pid & 0xffff,
        N.fetch_add(1, Ordering::Relaxed) & 0xffff,
        nanos & 0xffff
    )
}

/// An engine with its own data folder and a copy of the sandbox profile, renamed and
/// edited by `edit` (to unpin a key, change the auth method, point at another port).
pub struct Variant {
    pub dir: tempfile::TempDir,
    pub engine: breakglass::engine::Engine,
    pub name: String,
}

pub async fn variant(tag: &str, edit: impl Fn(String) -> String) -> Variant {
    let dir = tempfile::tempdir().unwrap();
    let name = format!("sb-{tag}-{}", std::process::id());
    let text = std::fs::read_to_string(testbed().profile_path()).unwrap();
    let text = edit(text.replacen("name = \"sandbox\"", &format!("name = \"{name}\""), 1)).replacen(
        "name = \"NAME\"",
        &format!("name = \"{name}\""),
        1,
    );
    let file = dir.path().join("profile.toml");
    std::fs::write(&file, text).unwrap();
    let engine = breakglass::engine::Engine::open(&dir.path().join("state"))
        .await
        .unwrap();
    engine.add_deployment(&file).await.unwrap();
    Variant { dir, engine, name }
}

/// The docker CLI against a host's engine (the test's own setup and checks).
pub fn docker(host: &str, args: &[&str]) -> std::process::Output {
    let socket = testbed().host(host)["docker_socket"].as_str().unwrap().to_owned();
    std::process::Command::new("docker")
        .arg("-H")
        .arg(format!("unix://{socket}"))
        .args(args)
        .output()
        .unwrap()
}

/// Removes every `host_key = …` line: a profile that pins nothing.
pub fn unpinned(text: String) -> String {
    text.lines()
        .filter(|l| !l.trim_start().starts_with("host_key"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// psql as a superuser over the testbed's Unix socket, with SQL on stdin. Tests run in
/// parallel: two of them changing the same catalog row at once (a GRANT on the
/// database) make PostgreSQL answer "tuple concurrently updated"; SQL that does so is
/// written as one transaction and tried again.
pub fn psql(db: &str, sql: &str, vars: &[(&str, &str)]) -> String {
    let mut attempt = 0;
    loop {
        match psql_once(db, sql, vars) {
            Ok(out) => return out,
            Err(e) if attempt < 10 && e.contains("tuple concurrently updated") => {
                attempt += 1;
                std::thread::sleep(std::time::Duration::from_millis(100 * attempt));
            }
            Err(e) => panic!("psql: {e}"),
        }
    }
}

fn psql_once(db: &str, sql: &str, vars: &[(&str, &str)]) -> Result<String, String> {
    use std::io::Write;
    let tb = testbed();
    let mut cmd = std::process::Command::new(format!("{}/psql", tb.str("/postgres/bin_dir")));
    cmd.args([
        "-X",
        "-q",
        "-At",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        &tb.str("/postgres/socket_dir"),
        "-p",
    ])
    .arg(tb.str("/postgres/port"))
    .args(["-U", "postgres", "-d", db]);
    for (k, v) in vars {
        cmd.arg("-v").arg(format!("{k}={v}"));
    }
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(sql.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// A database of its own for a test that changes "everything": the sandbox's schema and
/// seed, owned by the app's role (the testbed's `down` removes it with the rest).
pub fn fresh_database(tag: &str) -> String {
    let name = format!("t_{tag}_{}", std::process::id());
    psql("postgres", &format!("CREATE DATABASE {name} OWNER app;"), &[]);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testbed");
    let schema = std::fs::read_to_string(dir.join("schema.sql")).unwrap();
    let seed = std::fs::read_to_string(dir.join("seed.sql")).unwrap();
    psql(&name, &format!("SET ROLE app;\n{schema}\n"), &[]);
    psql(
        &name,
        &format!("SET ROLE app;\nBEGIN;\n{seed}\nCOMMIT;\n"),
        &[
            ("gen_users", "40"),
            ("gen_tokens", "120"),
            ("n_sessions", "60"),
            ("n_audit", "500"),
        ],
    );
    name
}

/// A member made for one test in the sandbox's own database, with a password and one
/// API token, so a test can act on it (and check through the app) without touching
/// anyone else.
pub struct TestUser {
    pub name: String,
    pub password: String,
    pub token: String,
}

pub fn test_user(tag: &str) -> TestUser {
    test_user_named(&format!("t{}_{tag}", std::process::id()))
}

pub fn test_user_named(name: &str) -> TestUser {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let u = TestUser {
        name: name.to_owned(),
        password: format!("pw-{}", std::process::id()),
        // The name keeps it unique across processes (a pid may be reused in a long run).
        token: format!(
            "bgtok_test_{}_{}_{}",
            name.bytes()
                .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b))),
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ),
    };
    psql(
        "sandbox",
        "WITH nu AS (INSERT INTO users (username, email, role, password_salt, password_digest)
             VALUES (:'uname', 'test@example.invalid', 'member', 'salt',
                     encode(sha256(convert_to('salt' || :'pw', 'UTF8')), 'hex')) RETURNING id)
         INSERT INTO api_tokens (user_id, name, token_digest, active)
             SELECT id, 'test', encode(sha256(convert_to(:'tok', 'UTF8')), 'hex'), true FROM nu;",
        &[("uname", &u.name), ("pw", &u.password), ("tok", &u.token)],
    );
    u
}
