//! The hardening audit against the testbed, in both directions: each check passes on
//! what is hardened and fails (or warns) on what is not, for the reason expected — the
//! sandbox as it is, plus a weak copy of a `.env` (mode 644, tracked by git), a hardened
//! and a weak container (root, the Docker socket mounted; a privileged one cannot start
//! on this machine), and a Redis without a password listening on every interface.

use breakglass::engine::review::harden::{Finding, HardeningReport, Verdict};

use crate::testbed::{docker, testbed, variant};

fn find<'a>(r: &'a HardeningReport, check: &str, host: &str, subject: Option<&str>) -> &'a Finding {
    r.findings
        .iter()
        .find(|f| {
            f.check == check
                && f.host.as_deref() == Some(host)
                && subject.is_none_or(|s| f.subject.as_deref().is_some_and(|x| x.contains(s)))
        })
        .unwrap_or_else(|| panic!("no {check} on {host} {subject:?}: {r:#?}"))
}

/// Removes what the test made, also when it fails.
struct Cleanup(Vec<Box<dyn FnMut()>>);
impl Drop for Cleanup {
    fn drop(&mut self) {
        for f in &mut self.0 {
            f();
        }
    }
}

#[tokio::test]
async fn every_check_passes_where_hardened_and_fails_where_not_with_evidence() {
    let tb = testbed();
    let mut cleanup = Cleanup(Vec::new());

    // app3's .env: a copy, mode 644, in a git repository that tracks it.
    let weak = tempfile::tempdir().unwrap();
    let env3 = tb.host("app3")["env_file"].as_str().unwrap().to_owned();
    let copy = weak.path().join(".env");
    std::fs::copy(&env3, &copy).unwrap();
    // …with weak secrets: a placeholder, one copied from .env.example, one reused.
    let jwt = std::fs::read_to_string(&copy)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("JWT_SECRET=").map(str::to_owned))
        .unwrap();
    let copied = "0f1e2d3c4b5a69788796a5b4c3d2e1f0-example-value";
    let mut text = std::fs::read_to_string(&copy).unwrap();
    text.push_str(&format!(
        "SMTP_PASSWORD=changeme\nCOPIED_SECRET={copied}\nBACKUP_TOKEN={jwt}\n"
    ));
    std::fs::write(&copy, text).unwrap();
    std::fs::write(
        weak.path().join(".env.example"),
        format!("COPIED_SECRET={copied}\n"),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o644)).unwrap();
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(weak.path())
            .args(["-c", "user.name=t", "-c", "user.email=t@t"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    git(&["init", "-q"]);
    git(&["add", ".env"]);
    git(&["commit", "-q", "-m", "oops"]);

    // A hardened container and a weak one on app2.
    let tag = std::process::id();
    let hard = format!("hd-hard-{tag}");
    let soft = format!("hd-soft-{tag}");
    let sock = tb.host("app2")["docker_socket"].as_str().unwrap().to_owned();
    let bind = format!("{sock}:/var/run/docker.sock");
    for (name, extra) in [
        (
            &hard,
            vec![
                "--user",
                "65534:65534",
                "--read-only",
                "--cap-drop",
                "ALL",
                "--memory",
                "64m",
                "--cpus",
                "0.5",
                "--network",
                "none",
            ],
        ),
        // Not --privileged: this machine's runc cannot start one ("unable to apply caps").
        (&soft, vec!["--network", "none", "-v", bind.as_str()]),
    ] {
        let mut args = vec![
            "run",
            "-d",
            "--name",
            name.as_str(),
            "--entrypoint",
            "/bin/busybox",
        ];
        args.extend(extra);
        args.extend(["sandbox-app:latest", "sleep", "600"]);
        let out = docker("app2", &args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let name = name.clone();
        cleanup.0.push(Box::new(move || {
            let _ = docker("app2", &["rm", "-f", &name]);
        }));
    }

    // A Redis without a password, on every interface.
    let port = crate::testbed::free_port();
    let mut redis = std::process::Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "0.0.0.0",
            "--protected-mode",
            "no",
            "--save",
            "",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..50 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    // The sandbox as it is.
    let v = variant("hd", |t| t).await;
    let r = v.engine.harden(&v.name).await.unwrap();
    for host in ["app1", "app2", "app3"] {
        let f = find(&r, "ssh.password_auth", host, None);
        assert_eq!(f.verdict, Verdict::Pass, "{f:#?}");
        assert_eq!(f.evidence.as_ref().unwrap().output, "passwordauthentication no");
        assert_eq!(find(&r, "ssh.kbd_interactive", host, None).verdict, Verdict::Pass);
        // The testbed's sshd allows root with a key: a warning, not a pass.
        assert_eq!(find(&r, "ssh.root_login", host, None).verdict, Verdict::Warn);
        assert_eq!(find(&r, "env.mode", host, None).verdict, Verdict::Pass);
        assert_ne!(find(&r, "env.git", host, None).verdict, Verdict::Fail);
        // The testbed's secrets are random hex.
        assert_eq!(find(&r, "secrets.weak", host, None).verdict, Verdict::Pass);
        // DATABASE_URL has no sslmode in the testbed.
        assert_eq!(find(&r, "db.tls", host, None).verdict, Verdict::Fail);
    }
    assert_eq!(find(&r, "redis.auth", "app1", None).verdict, Verdict::Pass);
    assert_eq!(find(&r, "net.redis_public", "app1", None).verdict, Verdict::Pass);
    assert_eq!(find(&r, "net.db_public", "app1", None).verdict, Verdict::Pass);
    // The sandbox's app containers run as root on the host's network.
    let f = find(&r, "container.user", "app1", Some("web1"));
    assert_eq!(f.verdict, Verdict::Fail, "{f:#?}");
    assert!(
        f.evidence.as_ref().unwrap().output.contains("Config.User"),
        "{f:#?}"
    );
    assert!(!f.fix.is_empty());
    assert_eq!(
        find(&r, "container.host_namespaces", "app1", Some("web1")).verdict,
        Verdict::Warn
    );
    // The hardened container passes every container check; the weak one fails.
    for check in [
        "container.user",
        "container.privileged",
        "container.capabilities",
        "container.limits",
        "container.read_only",
        "container.docker_socket",
        "container.host_namespaces",
    ] {
        let f = find(&r, check, "app2", Some(&hard));
        assert_eq!(f.verdict, Verdict::Pass, "{f:#?}");
        assert!(f.fix.is_empty());
    }
    assert_eq!(
        find(&r, "container.user", "app2", Some(&soft)).verdict,
        Verdict::Fail
    );
    assert_eq!(
        find(&r, "container.limits", "app2", Some(&soft)).verdict,
        Verdict::Warn
    );
    assert_eq!(
        find(&r, "container.docker_socket", "app2", Some(&soft)).verdict,
        Verdict::Fail
    );
    assert_eq!(find(&r, "backups.fresh", "app1", None).verdict, Verdict::Pass);
    // The public URL: the sample app sends the security headers, over plain HTTP.
    let web = |r: &HardeningReport, check: &str| {
        r.findings
            .iter()
            .find(|f| f.check == check)
            .unwrap_or_else(|| panic!("no {check}: {r:#?}"))
            .clone()
    };
    assert_eq!(web(&r, "http.https").verdict, Verdict::Fail);
    assert_eq!(
        web(&r, "http.hsts").verdict,
        Verdict::Warn,
        "HSTS over plain HTTP"
    );
    for check in [
        "http.framing",
        "http.nosniff",
        "http.referrer",
        "http.csp",
        "http.cors",
    ] {
        let f = web(&r, check);
        assert_eq!(f.verdict, Verdict::Pass, "{f:#?}");
        assert!(!f.evidence.as_ref().unwrap().output.is_empty(), "{f:#?}");
    }

    // The weak .env and the open Redis.
    let copy_path = copy.display().to_string();
    let v = variant("hdweak", |t| {
        t.replacen(
            &format!("env_file = \"{env3}\""),
            &format!("env_file = \"{copy_path}\""),
            1,
        )
        .replacen(
            &format!("port = {}", tb.str("/redis/port")),
            &format!("port = {port}"),
            1,
        )
        // A web server without any security header: the testbed's S3 server.
        .replacen(
            "public_url = \"http://127.0.0.1:18081\"",
            &format!("public_url = \"{}\"", tb.str("/backups/s3/endpoint")),
            1,
        )
    })
    .await;
    let r = v.engine.harden(&v.name).await.unwrap();
    redis.kill().unwrap();
    let _ = redis.wait();
    let f = find(&r, "env.mode", "app3", None);
    assert_eq!(f.verdict, Verdict::Fail, "{f:#?}");
    assert!(
        f.detail.contains("644") && f.fix.starts_with("chmod 600"),
        "{f:#?}"
    );
    let f = find(&r, "env.git", "app3", None);
    assert_eq!(f.verdict, Verdict::Fail, "{f:#?}");
    assert!(f.fix.contains("rotate"), "{f:#?}");
    for name in ["SMTP_PASSWORD", "COPIED_SECRET"] {
        let f = find(&r, "secrets.weak", "app3", Some(name));
        assert_eq!(f.verdict, Verdict::Fail, "{f:#?}");
        assert!(f.fix.starts_with(&format!("rotate {name}")), "{f:#?}");
    }
    assert!(
        find(&r, "secrets.weak", "app3", Some("COPIED_SECRET"))
            .detail
            .contains(".env.example"),
        "{r:#?}"
    );
    let reused = r
        .findings
        .iter()
        .find(|f| f.check == "secrets.reused" && f.host.as_deref() == Some("app3"))
        .unwrap_or_else(|| panic!("{r:#?}"));
    assert!(
        ["BACKUP_TOKEN", "JWT_SECRET"].contains(&reused.subject.as_deref().unwrap_or_default()),
        "{reused:#?}"
    );
    let json = serde_json::to_string(&r).unwrap();
    assert!(
        !json.contains(copied) && !json.contains(&jwt),
        "a secret in the report"
    );
    for check in ["http.hsts", "http.framing", "http.nosniff", "http.csp"] {
        let f = web(&r, check);
        assert_eq!(f.verdict, Verdict::Fail, "{f:#?}");
        assert!(f.evidence.as_ref().unwrap().output.starts_with("(no "), "{f:#?}");
    }
    let f = find(&r, "redis.auth", "app1", None);
    assert_eq!(f.verdict, Verdict::Fail, "{f:#?}");
    let f = find(&r, "net.redis_public", "app1", None);
    assert_eq!(f.verdict, Verdict::Fail, "{f:#?}");
    assert!(f.detail.contains(&format!("0.0.0.0:{port}")), "{f:#?}");

    // Nothing the audit wrote holds a secret of the testbed.
    let json = serde_json::to_string(&r).unwrap();
    tb.assert_no_secret_in(&tb.secret_values(), json.as_bytes(), "the report");
    drop(cleanup);
}

#[tokio::test]
async fn the_cli_exits_1_on_a_failure_prints_evidence_and_no_secret() {
    let tb = testbed();
    let v = variant("hdcli", |t| t).await;
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_breakglass"))
            .args(args)
            .env("BREAKGLASS_DATA_DIR", v.dir.path().join("state"))
            .output()
            .unwrap()
    };
    let text = run(&["harden", &v.name]);
    assert_eq!(
        text.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&text.stderr)
    );
    let out = String::from_utf8_lossy(&text.stdout);
    assert!(
        out.lines().next().unwrap().starts_with("FAIL"),
        "failures first: {out}"
    );
    assert!(
        out.contains("evidence: ") && out.contains("fix: ") && out.contains("failed"),
        "{out}"
    );
    let json = run(&["harden", &v.name, "--json"]);
    assert_eq!(json.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert!(report["findings"].as_array().unwrap().len() > 20, "{report}");
    for o in [&text, &json] {
        tb.assert_no_secret_in(&tb.secret_values(), &o.stdout, "stdout");
        tb.assert_no_secret_in(&tb.secret_values(), &o.stderr, "stderr");
    }
}

#[tokio::test]
async fn an_accepted_finding_is_shown_as_accepted_until_its_date_then_counts_again() {
    let v = variant("hdacc", |t| t).await;
    let e = &v.engine;
    let before = e.harden(&v.name).await.unwrap();
    // Counted among the failures: only db.tls is looked at (other tests add and remove
    // containers on the same hosts meanwhile).
    let open_tls = |r: &HardeningReport| {
        r.findings
            .iter()
            .filter(|f| f.check == "db.tls" && f.verdict == Verdict::Fail && f.accepted.is_none())
            .count()
    };
    let fails = open_tls(&before);
    let target = find(&before, "db.tls", "app1", None).clone();
    assert_eq!(target.verdict, Verdict::Fail);

    // Bad input is refused, and nothing is accepted.
    let hour = std::time::Duration::from_secs(3600);
    let sub = target.subject.as_deref();
    for (check, reason) in [("db.tls", " "), ("DB TLS", "x"), ("db.tls", "two\nlines")] {
        assert!(
            e.accept_finding(&v.name, check, Some("app1"), sub, reason, hour)
                .await
                .is_err()
        );
    }
    assert!(
        e.accept_finding(
            &v.name,
            "db.tls",
            Some("app1"),
            sub,
            "x",
            std::time::Duration::from_secs(400 * 86_400)
        )
        .await
        .is_err(),
        "more than a year"
    );

    let a = e
        .accept_finding(
            &v.name,
            "db.tls",
            Some("app1"),
            sub,
            "TLS is terminated on the host's loopback; no network path",
            hour,
        )
        .await
        .unwrap();
    let r = e.harden(&v.name).await.unwrap();
    let f = find(&r, "db.tls", "app1", None);
    assert_eq!(f.verdict, Verdict::Fail, "still shown as what it is");
    assert_eq!(f.accepted.as_ref(), Some(&a));
    assert_eq!(open_tls(&r), fails - 1);
    assert_eq!(r.accepted(), 1);
    // The other hosts' db.tls are not covered.
    assert!(find(&r, "db.tls", "app2", None).accepted.is_none());
    let journal = e.journal().await.unwrap();
    let entries = journal.entries(None).await.unwrap();
    assert!(entries.iter().any(|x| x.kind == "harden.accepted"), "journaled");

    // Accepted for a second: it counts again once the second is over, and says so.
    e.accept_finding(
        &v.name,
        "db.tls",
        Some("app1"),
        sub,
        "a moment",
        std::time::Duration::from_secs(1),
    )
    .await
    .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let r = e.harden(&v.name).await.unwrap();
    let f = find(&r, "db.tls", "app1", None);
    assert!(f.accepted.is_none() && f.detail.contains("expired"), "{f:#?}");
    assert_eq!(open_tls(&r), fails);
}

fn find_http<'a>(r: &'a HardeningReport, check: &str) -> &'a Finding {
    r.findings
        .iter()
        .find(|f| f.check == check)
        .unwrap_or_else(|| panic!("no {check}: {r:#?}"))
}

/// A CA, and a certificate it signed for localhost valid `days` days, made by openssl.
fn make_cert(dir: &std::path::Path, days: u32) {
    let sh = format!(
        "set -e; cd {d}; \
         openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 30 -subj /CN=bg-test-ca; \
         openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout k.pem -out c.csr -subj /CN=localhost; \
         printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > ext; \
         openssl x509 -req -in c.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out c.pem -days {days} -extfile ext",
        d = dir.display()
    );
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(sh)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// A threaded HTTPS server (Python's http.server over its ssl module, so OpenSSL) on a
/// free loopback port, killed on drop. `legacy`: it also speaks TLS 1.0 and 1.1.
/// (`openssl s_server -www` serves one connection at a time and stalls reqwest's pair of
/// concurrent requests.)
struct TlsServer(std::process::Child, u16);
impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
const TLS_SERVER: &str = r#"
import ssl, sys, http.server
port, legacy = int(sys.argv[1]), sys.argv[2] == "legacy"
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Type", "text/plain"); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *a): pass
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
if legacy:
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
else:
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
ctx.load_cert_chain("c.pem", "k.pem")
srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
"#;
fn tls_server(dir: &std::path::Path, legacy: bool) -> TlsServer {
    let port = crate::testbed::free_port();
    std::fs::write(dir.join("srv.py"), TLS_SERVER).unwrap();
    let child = std::process::Command::new("python3")
        .args([
            "-W",
            "ignore",
            "srv.py",
            &port.to_string(),
            if legacy { "legacy" } else { "modern" },
        ])
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let server = TlsServer(child, port);
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return server;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("the TLS server did not start");
}

/// The public URL's TLS both ways, against real OpenSSL servers: one that still speaks
/// TLS 1.0 with a certificate expiring in 10 days, one that speaks TLS 1.2+ only with a
/// certificate from a CA nobody trusts.
#[tokio::test]
async fn tls_versions_and_certificates_are_judged_from_the_handshake() {
    let dir = tempfile::tempdir().unwrap();
    make_cert(dir.path(), 10);
    let old = tls_server(dir.path(), true);
    let modern = tls_server(dir.path(), false);
    let closed = crate::testbed::free_port();
    let ca = dir.path().join("ca.pem").display().to_string();
    let with = |port: u16, ca: Option<&str>| {
        let ca = ca
            .map(|c| format!("public_url_ca = \"{c}\"\n"))
            .unwrap_or_default();
        move |t: String| {
            let t = t.replacen(
                "public_url = \"http://127.0.0.1:18081\"",
                &format!("public_url = \"https://localhost:{port}\"\n{ca}"),
                1,
            );
            format!("{t}\n[harden]\nhttp_url = \"http://127.0.0.1:{closed}\"\nlogin_burst = 0\n")
        }
    };
    let weak = variant("hdtls1", with(old.1, Some(&ca))).await;
    let r = weak.engine.harden(&weak.name).await.unwrap();
    let v = find_http(&r, "tls.version");
    assert_eq!(v.verdict, Verdict::Fail, "{v:#?}");
    assert!(v.detail.contains("TLS 1.0"), "{v:#?}");
    assert!(
        v.evidence
            .as_ref()
            .unwrap()
            .output
            .contains("TLS 1.0: ServerHello"),
        "{v:#?}"
    );
    let c = find_http(&r, "tls.certificate");
    assert_eq!(c.verdict, Verdict::Warn, "{c:#?}");
    assert!(
        c.detail.contains("expires in 9 days") || c.detail.contains("expires in 10 days"),
        "{c:#?}"
    );
    // Nothing answers plain HTTP there: no redirect needed.
    assert_eq!(find_http(&r, "http.redirect").verdict, Verdict::Pass);
    // No security header at all over HTTPS: 100 - 25 (CSP) - 20 (HSTS) - 5 (nosniff)
    // - 20 (framing) = 30, a D on the Observatory's rubric.
    let o = r.observatory.as_ref().unwrap();
    assert_eq!((o.score, o.grade.as_str()), (30, "D"), "{o:#?}");

    // TLS 1.2+ only, but without the CA: the handshake fails, and says why.
    let strict = variant("hdtls2", with(modern.1, None)).await;
    let r = strict.engine.harden(&strict.name).await.unwrap();
    let v = find_http(&r, "tls.version");
    assert_eq!(v.verdict, Verdict::Pass, "{v:#?}");
    let c = find_http(&r, "tls.certificate");
    assert_eq!(c.verdict, Verdict::Fail, "{c:#?}");
    assert!(c.detail.to_lowercase().contains("issuer"), "{c:#?}");
    // With the CA named, the same server passes both.
    let trusted = variant("hdtls3", with(modern.1, Some(&ca))).await;
    let r = trusted.engine.harden(&trusted.name).await.unwrap();
    assert_eq!(find_http(&r, "tls.version").verdict, Verdict::Pass);
    let c = find_http(&r, "tls.certificate");
    assert_eq!(c.verdict, Verdict::Warn, "10 days left: {c:#?}");
}

/// Secrets shared with another deployment fail (names only); drift names what changed
/// between two audits; the Markdown and HTML reports hold no secret.
#[tokio::test]
async fn shared_secrets_drift_and_exports() {
    let tb = testbed();
    // app3's .env is a copy here, so that changing it does not disturb other tests.
    let env3 = tb.host("app3")["env_file"].as_str().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join(".env");
    std::fs::copy(&env3, &copy).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o600)).unwrap();
    let copy_s = copy.display().to_string();
    let v = variant("hdenv", |t| {
        let t = t.replacen(
            &format!("env_file = \"{env3}\""),
            &format!("env_file = \"{copy_s}\""),
            1,
        );
        format!("{t}\n[harden]\ncompare_with = [\"sandbox\"]\nlogin_burst = 0\n")
    })
    .await;
    v.engine.add_deployment(&tb.profile_path()).await.unwrap();
    let r = v.engine.harden(&v.name).await.unwrap();
    let shared = r
        .findings
        .iter()
        .find(|f| f.check == "secrets.cross_env")
        .unwrap_or_else(|| panic!("{r:#?}"));
    assert_eq!(shared.verdict, Verdict::Fail, "{shared:#?}");
    assert!(
        shared.detail.contains("JWT_SECRET") && shared.detail.contains("sandbox"),
        "{shared:#?}"
    );
    assert!(r.drift.is_none(), "the first audit has nothing to compare with");
    assert_eq!(find(&r, "env.mode", "app3", None).verdict, Verdict::Pass);

    // The copy made readable by all between two audits.
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o644)).unwrap();
    let r2 = v.engine.harden(&v.name).await.unwrap();
    let d = r2.drift.as_ref().unwrap();
    assert_eq!(d.previous_at, r.checked_at);
    assert_eq!(d.previous_score, r.score.value);
    assert!(
        d.changes.iter().any(|c| c.at.check == "env.mode"
            && c.at.host.as_deref() == Some("app3")
            && c.from == Some(Verdict::Pass)
            && c.to == Some(Verdict::Fail)),
        "{d:#?}"
    );
    assert!(
        r2.score.value < r.score.value,
        "{} then {}",
        r.score.value,
        r2.score.value
    );
    let past = v.engine.harden_history(&v.name, 10).await.unwrap();
    assert_eq!(past.len(), 2);

    use breakglass::engine::review::harden::report;
    let secrets = tb.secret_values();
    for text in [report::markdown(&r2), report::html(&r2)] {
        tb.assert_no_secret_in(&secrets, text.as_bytes(), "the report");
        assert!(text.contains("env.mode") && text.contains("chmod 600"));
    }
    let json = serde_json::to_vec(&r2).unwrap();
    tb.assert_no_secret_in(&secrets, &json, "the JSON report");
}

/// `$TB/posture.json`: the hardened and weak deployments `tests/testbed/posture up` adds.
fn posture() -> serde_json::Value {
    let path = testbed().dir.join("posture.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}: run `tests/testbed/posture up`", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// An engine with its own data folder that knows one posture's deployment.
async fn posture_engine(
    which: &str,
) -> (
    tempfile::TempDir,
    breakglass::engine::Engine,
    String,
    serde_json::Value,
) {
    let p = posture()[which].clone();
    let dir = tempfile::tempdir().unwrap();
    let engine = breakglass::engine::Engine::open(&dir.path().join("state"))
        .await
        .unwrap();
    engine
        .add_deployment(std::path::Path::new(p["profile"].as_str().unwrap()))
        .await
        .unwrap();
    let name = p["name"].as_str().unwrap().to_owned();
    (dir, engine, name, p)
}

/// The checks both postures make, each of which the hardened one passes and the weak
/// one does not (the machine's own firewall and updates aside: all hosts of the testbed
/// share one kernel and one package database).
const BOTH_WAYS: &[&str] = &[
    "ssh.password_auth",
    "ssh.kbd_interactive",
    "ssh.root_login",
    "env.mode",
    "env.git",
    "env.git_history",
    "secrets.weak",
    "net.db_public",
    "net.redis_public",
    "redis.auth",
    "db.tls",
    "container.user",
    "container.capabilities",
    "container.limits",
    "container.read_only",
    "container.docker_socket",
    "container.host_namespaces",
    "http.https",
    "http.hsts",
    "http.framing",
    "http.nosniff",
    "http.referrer",
    "http.csp",
    "http.cors",
    "http.rate_limit",
];

#[tokio::test]
async fn the_hardened_posture_passes_every_check_but_the_machines_own() {
    let tb = testbed();
    let (_dir, e, name, _) = posture_engine("hardened").await;
    // A restore test that passed, for backups.restore_tested.
    e.keychain()
        .set(
            &name,
            "restore-password",
            tb.str("/backups/restore_password").into(),
        )
        .await
        .unwrap();
    let rt = e
        .restore_test(
            &name,
            None,
            &|_| {},
            &breakglass::engine::actions::Cancel::default(),
        )
        .await
        .unwrap();
    assert!(rt.passed, "{rt:#?}");
    let r = e.harden(&name).await.unwrap();
    for f in &r.findings {
        match f.check.as_str() {
            // One kernel and one package database for every host here.
            "host.firewall" | "host.auto_updates" => assert_eq!(f.verdict, Verdict::Fail, "{f:#?}"),
            // The console logs in as root with a key: allowed, and a warning.
            "ssh.root_login" => assert_eq!(f.verdict, Verdict::Warn, "{f:#?}"),
            _ => assert_eq!(f.verdict, Verdict::Pass, "{f:#?}"),
        }
    }
    for check in BOTH_WAYS.iter().chain(&[
        "tls.version",
        "tls.certificate",
        "http.redirect",
        "backups.restore_tested",
        "backups.fresh",
    ]) {
        assert!(
            r.findings.iter().any(|f| f.check == *check),
            "{check} was not checked: {r:#?}"
        );
    }
    assert!(r.links.is_empty(), "{:#?}", r.links);
    let o = r.observatory.as_ref().unwrap();
    assert_eq!(o.grade, "A+", "{o:#?}");
    let burst = find_http(&r, "http.rate_limit");
    // At the 6th (5 per 20 s), or sooner when another audit's burst is still in the window.
    assert!(burst.detail.contains("throttled at bad login"), "{burst:#?}");
    // The burst is journaled before and after, with the user it used.
    let entries = e.journal().await.unwrap().entries(None).await.unwrap();
    assert!(entries.iter().any(|x| x.kind == "harden.burst"));
    assert!(entries.iter().any(|x| x.kind == "harden.burst.finished"));
}

#[tokio::test]
async fn the_weak_posture_fails_each_check_for_its_reason() {
    let tb = testbed();
    let (dir, e, name, p) = posture_engine("weak").await;
    let r = e.harden(&name).await.unwrap();
    for check in BOTH_WAYS {
        let bad: Vec<&Finding> = r
            .findings
            .iter()
            .filter(|f| f.check == *check && matches!(f.verdict, Verdict::Fail | Verdict::Warn))
            .collect();
        assert!(
            !bad.is_empty(),
            "{check} did not fail or warn on the weak posture: {r:#?}"
        );
    }
    let reason = |check: &str, words: &[&str]| {
        let f = r
            .findings
            .iter()
            .find(|f| f.check == check && f.verdict != Verdict::Pass)
            .unwrap_or_else(|| panic!("{check}: {r:#?}"));
        for w in words {
            assert!(f.detail.contains(w), "{check}: {w:?} not in {f:#?}");
        }
    };
    reason("ssh.password_auth", &["yes"]);
    reason("ssh.root_login", &["yes"]);
    reason("env.mode", &["644"]);
    reason("env.git", &["tracks"]);
    reason("env.git_history", &[p["committed_secret_var"].as_str().unwrap()]);
    reason("net.redis_public", &[&p["redis_port"].to_string()]);
    reason("net.db_public", &[&p["pg_port"].to_string()]);
    reason("redis.auth", &["PONG"]);
    reason("container.docker_socket", &["Docker socket"]);
    reason("http.cors", &["echoes any Origin", "credentials"]);
    reason("http.rate_limit", &["none throttled"]);
    let placeholder = p["placeholder_var"].as_str().unwrap();
    assert!(
        r.findings.iter().any(|f| f.check == "secrets.weak"
            && f.verdict == Verdict::Fail
            && f.subject.as_deref() == Some(placeholder)),
        "{r:#?}"
    );
    let (reused, with) = (
        p["reused_var"].as_str().unwrap(),
        p["reused_with"].as_str().unwrap(),
    );
    assert!(
        r.findings.iter().any(|f| f.check == "secrets.reused"
            && [f.subject.as_deref().unwrap_or_default(), f.detail.as_str()]
                .concat()
                .contains(reused)
            && [f.subject.as_deref().unwrap_or_default(), f.detail.as_str()]
                .concat()
                .contains(with)),
        "{r:#?}"
    );
    assert!(
        r.findings
            .iter()
            .any(|f| f.check == "backups.configured" && f.verdict == Verdict::Fail),
        "no [backups]: {r:#?}"
    );
    // The combined risks the seeds' incidents are made of.
    for title in [
        "Redis open to the network",
        "with the Docker socket",
        "root can log in",
        "readable beyond the app",
        "unthrottled logins",
    ] {
        assert!(
            r.links.iter().any(|l| l.title.contains(title)),
            "no link {title:?}: {:#?}",
            r.links
        );
    }
    let o = r.observatory.as_ref().unwrap();
    assert_eq!(o.grade, "F", "{o:#?}");
    assert!(r.score.value < 50, "{:?}", r.score);

    // Nothing the weak .env holds is in anything written: the report (every format),
    // the journal, the local database.
    let env = std::fs::read_to_string(p["env_file"].as_str().unwrap()).unwrap();
    let secrets: Vec<(String, String)> = env
        .lines()
        .filter_map(|l| l.split_once('='))
        .filter(|(k, v)| v.len() >= 8 && breakglass::engine::review::harden::is_secret_name(k))
        .map(|(k, v)| (k.to_owned(), v.trim_matches('"').to_owned()))
        .collect();
    assert!(secrets.len() >= 4, "{secrets:?}");
    use breakglass::engine::review::harden::report;
    for (what, bytes) in [
        ("JSON", serde_json::to_vec(&r).unwrap()),
        ("Markdown", report::markdown(&r).into_bytes()),
        ("HTML", report::html(&r).into_bytes()),
    ] {
        tb.assert_no_secret_in(&secrets, &bytes, what);
    }
    drop(e);
    tb.assert_none_in_dir(&secrets, dir.path());
}
