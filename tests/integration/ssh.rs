//! SSH as the safety model demands: first contact needs an explicit trust, a changed
//! host key is refused showing both fingerprints, every supported way to authenticate
//! works, and remote output cannot attack the user's terminal.

use std::process::{Command, Stdio};

use breakglass::engine::Error;
use breakglass::engine::ssh::{SshError, output::display_safe};

use crate::testbed::{testbed, unpinned, variant};

fn ssh_err(e: Error) -> SshError {
    match e {
        Error::Ssh(e) => *e,
        other => panic!("expected an SSH error, got [{}] {other}", other.code()),
    }
}

#[tokio::test]
async fn first_contact_shows_the_fingerprint_and_needs_explicit_trust() {
    let v = variant("tofu", unpinned).await;
    let expected = testbed().str("/hosts/0/host_key_fingerprint");

    let e = ssh_err(v.engine.session(&v.name, "app1").await.unwrap_err());
    let SshError::HostKeyUnknown { fingerprint, .. } = &e else {
        panic!("{e}")
    };
    assert_eq!(fingerprint, &expected);
    assert!(
        e.to_string().contains(&expected),
        "the message shows the key: {e}"
    );
    assert_eq!(e.code(), "ssh.host_key_unknown");

    // Still unknown: nothing was trusted behind the user's back.
    assert!(v.engine.session(&v.name, "app1").await.is_err());

    let trusted = v.engine.trust_host(&v.name, "app1", &expected).await.unwrap();
    assert_eq!(trusted.fingerprint, expected);
    let out = v.engine.exec(&v.name, "app1", "id -u").await.unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0");
    // Other hosts are still unknown.
    assert!(v.engine.session(&v.name, "app2").await.is_err());
}

#[tokio::test]
async fn trusting_a_fingerprint_the_server_does_not_present_is_refused() {
    let v = variant("wrongtrust", unpinned).await;
    let wrong = testbed().str("/hosts/1/host_key_fingerprint"); // app2's key, offered for app1
    let e = ssh_err(v.engine.trust_host(&v.name, "app1", &wrong).await.unwrap_err());
    assert!(matches!(e, SshError::HostKeyChanged { .. }), "{e}");
    assert!(
        v.engine
            .state()
            .trusted_key(&v.name, "app1")
            .await
            .unwrap()
            .is_none()
    );
    let e = v
        .engine
        .trust_host(&v.name, "app1", "SHA256:nope")
        .await
        .unwrap_err();
    assert_eq!(e.code(), "ssh.bad_fingerprint");
}

/// A second sshd of app3's configuration, with a new host key of `key_type` ("ed25519",
/// "rsa"), on a free port; killed when dropped. Gives its port and key fingerprint.
struct PrivateSshd {
    child: std::process::Child,
    port: u16,
    fingerprint: String,
    _work: tempfile::TempDir,
}

impl PrivateSshd {
    fn start(key_type: &str) -> PrivateSshd {
        Self::start_with(key_type, |c| c)
    }

    /// As `start`, with app3's sshd_config changed by `edit` first.
    fn start_with(key_type: &str, edit: impl Fn(String) -> String) -> PrivateSshd {
        let tb = testbed();
        let work = tempfile::tempdir().unwrap();
        let key = work.path().join("host_key");
        let st = Command::new("ssh-keygen")
            .args(["-q", "-t", key_type, "-N", "", "-f"])
            .arg(&key)
            .status()
            .unwrap();
        assert!(st.success());
        let fp = Command::new("ssh-keygen").arg("-lf").arg(&key).output().unwrap();
        let fingerprint = String::from_utf8_lossy(&fp.stdout)
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_owned();
        let port = crate::testbed::free_port();
        let conf = edit(std::fs::read_to_string(tb.dir.join("hosts/app3/sshd_config")).unwrap());
        let conf: String = conf
            .lines()
            .filter(|l| !l.starts_with("Port") && !l.starts_with("HostKey") && !l.starts_with("PidFile"))
            .map(|l| format!("{l}\n"))
            .collect();
        let conf_path = work.path().join("sshd_config");
        std::fs::write(
            &conf_path,
            format!(
                "{conf}Port {port}\nHostKey {}\nPidFile {}/pid\n",
                key.display(),
                work.path().display()
            ),
        )
        .unwrap();
        let mut child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(&conf_path)
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Up to 30 s for it to listen; if it exited (its port was taken meanwhile), say so.
        let mut listening = false;
        for _ in 0..600 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                listening = true;
                break;
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!("the second sshd exited ({status}): port {port} was taken meanwhile?");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert!(listening, "the second sshd never listened on {port}");
        PrivateSshd {
            child,
            port,
            fingerprint,
            _work: work,
        }
    }
}

impl Drop for PrivateSshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The server at a pinned address now presents another key (a reinstalled server, or a
/// man in the middle): a second sshd with a new host key, on the address the profile
/// names for app3.
#[tokio::test]
async fn a_changed_host_key_is_refused_showing_both_fingerprints() {
    let tb = testbed();
    let sshd = PrivateSshd::start("ed25519");
    let port = sshd.port;

    let pinned = tb.str("/hosts/2/host_key_fingerprint");
    let v = variant("changed", |t| {
        t.replace("port = 22203", &format!("port = {port}"))
    })
    .await;
    let e = ssh_err(v.engine.session(&v.name, "app3").await.unwrap_err());
    drop(sshd);
    let SshError::HostKeyChanged { pinned: p, seen, .. } = &e else {
        panic!("{e}")
    };
    assert_eq!(p, &pinned);
    assert_ne!(seen, &pinned);
    let msg = e.to_string();
    assert!(
        msg.contains(&pinned) && msg.contains(seen.as_str()),
        "both fingerprints are shown: {msg}"
    );
    assert_eq!(e.code(), "ssh.host_key_changed");
}

/// RSA, still common on older servers and in teams' keys: an RSA host key is pinned and
/// checked, and an RSA client key signs with SHA-2 (rsa-sha2-256/512): OpenSSH 9's sshd
/// refuses ssh-rsa (SHA-1) signatures by default, so logging in proves it.
#[tokio::test]
async fn rsa_host_and_client_keys_work() {
    let tb = testbed();
    let sshd = PrivateSshd::start("rsa");
    let rsa_client = tb.str("/client_key_rsa");
    let (port, pin) = (sshd.port, sshd.fingerprint.clone());
    let pinned_app3 = tb.str("/hosts/2/host_key_fingerprint");
    let ed25519_client = tb.str("/client_key");
    let v = variant("rsa", |t| {
        t.replace("port = 22203", &format!("port = {port}"))
            .replace(&pinned_app3, &pin)
            .replace(&ed25519_client, &rsa_client)
    })
    .await;
    let s = v.engine.session(&v.name, "app3").await.unwrap();
    assert_eq!(s.host_key().fingerprint, pin);
    assert_eq!(s.host_key().key_type, "ssh-rsa");
    let out = s.exec("echo rsa-ok", None).await.unwrap();
    assert_eq!(out.stdout, b"rsa-ok\n");
}

#[tokio::test]
async fn a_passphrase_protected_key_unlocks_with_the_passphrase_from_the_real_keychain() {
    let tb = testbed();
    let enc = tb.str("/client_key_encrypted");
    let plain = tb.str("/client_key");
    let v = variant("enc", |t| {
        t.replace(
            &format!("auth = {{ method = \"key-file\", path = \"{plain}\" }}"),
            &format!("auth = {{ method = \"key-file\", path = \"{enc}\", passphrase = \"keychain\" }}"),
        )
    })
    .await;
    let kc = v.engine.keychain();

    // No passphrase stored yet: a clear error that says how to store it.
    let e = v.engine.session(&v.name, "app1").await.unwrap_err();
    assert_eq!(e.code(), "keychain.not_set", "{e}");
    assert!(e.to_string().contains("breakglass secret set"), "{e}");

    // A wrong passphrase: refused, and the message does not echo it.
    kc.set(
        &v.name,
        "ssh-key-passphrase",
        "wrong-passphrase-123".to_owned().into(),
    )
    .await
    .unwrap();
    let e = v.engine.session(&v.name, "app1").await.unwrap_err();
    assert_eq!(e.code(), "ssh.key", "{e}");
    assert!(!e.to_string().contains("wrong-passphrase-123"));

    let pass = tb.str("/client_key_passphrase");
    kc.set(&v.name, "ssh-key-passphrase", pass.clone().into())
        .await
        .unwrap();
    let out = v.engine.exec(&v.name, "app1", "echo ok").await.unwrap();
    assert_eq!(out.stdout, b"ok\n");
    kc.delete(&v.name, "ssh-key-passphrase").await.unwrap();
}

#[tokio::test]
async fn keys_held_by_ssh_agent_authenticate() {
    let tb = testbed();
    let plain = tb.str("/client_key");
    let v = variant("agent", |t| {
        t.replace(
            &format!("auth = {{ method = \"key-file\", path = \"{plain}\" }}"),
            "auth = { method = \"agent\" }",
        )
    })
    .await;
    let sock = v.dir.path().join("agent.sock");
    let agent = Command::new("ssh-agent").arg("-a").arg(&sock).output().unwrap();
    assert!(agent.status.success());
    let agent_pid = String::from_utf8_lossy(&agent.stdout)
        .split("SSH_AGENT_PID=")
        .nth(1)
        .and_then(|s| s.split(';').next())
        .unwrap()
        .to_owned();
    let added = Command::new("ssh-add")
        .arg(&plain)
        .env("SSH_AUTH_SOCK", &sock)
        .output()
        .unwrap();
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );

    // The CLI, as a user runs it, with the agent in its environment.
    let out = Command::new(env!("CARGO_BIN_EXE_breakglass"))
        .args(["exec", &v.name, "app2", "--", "echo", "via-agent"])
        .env("BREAKGLASS_DATA_DIR", v.dir.path().join("state"))
        .env("SSH_AUTH_SOCK", &sock)
        .output()
        .unwrap();
    let _ = Command::new("kill").arg(&agent_pid).status();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, b"via-agent\n");

    // Without an agent: a clear error.
    let out = Command::new(env!("CARGO_BIN_EXE_breakglass"))
        .args(["exec", &v.name, "app2", "--", "true"])
        .env("BREAKGLASS_DATA_DIR", v.dir.path().join("state"))
        .env_remove("SSH_AUTH_SOCK")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("ssh.agent"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn commands_report_status_stderr_and_take_secrets_on_stdin_only() {
    let v = variant("exec", |t| t).await;
    let s = v.engine.session(&v.name, "app1").await.unwrap();

    let out = s.exec("echo out; echo err >&2; exit 3", None).await.unwrap();
    assert_eq!(
        (out.status, out.stdout.as_slice(), out.stderr.as_slice()),
        (Some(3), &b"out\n"[..], &b"err\n"[..])
    );

    // A secret travels on stdin; the remote argv only says `sha256sum`.
    let secret = b"stdin-secret-value-0123456789";
    let out = s.exec("sha256sum", Some(secret)).await.unwrap();
    let expected = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    expected.stdin.as_ref().unwrap().write_all(secret).unwrap();
    let expected = expected.wait_with_output().unwrap();
    assert_eq!(out.stdout, expected.stdout);
}

#[tokio::test]
async fn output_is_capped_and_hostile_bytes_are_neutralised() {
    let v = variant("hostile", |t| t).await;
    let s = v.engine.session(&v.name, "app1").await.unwrap();
    let out = s
        .exec_capped("head -c 3000000 /dev/zero", None, 1_000_000)
        .await
        .unwrap();
    assert!(out.truncated);
    assert_eq!(out.stdout.len(), 1_000_000);

    let out = s
        .exec(r"printf 'a\033]0;owned\007\033[2Jb\r\377'", None)
        .await
        .unwrap();
    let shown = display_safe(&out.stdout);
    assert!(
        !shown.contains('\u{1b}') && !shown.contains('\u{7}') && !shown.contains('\r'),
        "{shown:?}"
    );
    assert!(shown.starts_with("a\\u{1b}]0;owned"));

    // Through the CLI too: nothing raw reaches the terminal.
    let out = Command::new(env!("CARGO_BIN_EXE_breakglass"))
        .args(["exec", &v.name, "app1", "--", "printf", r"\033[31mred\033[0m"])
        .env("BREAKGLASS_DATA_DIR", v.dir.path().join("state"))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        !out.stdout.contains(&0x1b),
        "{:?}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[tokio::test]
async fn one_connection_serves_many_channels_and_a_dropped_one_is_replaced() {
    let v = variant("reuse", |t| t).await;
    let a = v.engine.session(&v.name, "app2").await.unwrap();
    let b = v.engine.session(&v.name, "app2").await.unwrap();
    assert!(std::sync::Arc::ptr_eq(&a, &b), "the connection is reused");

    // Ten commands at once on the one connection.
    let runs = (0..10).map(|i| {
        let s = a.clone();
        async move { s.exec(&format!("echo {i}"), None).await.unwrap().stdout }
    });
    let outs = futures_util::future::join_all(runs).await;
    for (i, o) in outs.iter().enumerate() {
        assert_eq!(String::from_utf8_lossy(o).trim(), i.to_string());
    }

    // The server side of this connection dies.
    let _ = a.exec("kill -9 $PPID", None).await;
    for _ in 0..300 {
        if a.is_closed() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        a.is_closed(),
        "the killed connection was not seen closing within 30 s"
    );
    let out = v.engine.exec(&v.name, "app2", "echo again").await.unwrap();
    assert_eq!(out.stdout, b"again\n");
    let c = v.engine.session(&v.name, "app2").await.unwrap();
    assert!(
        !std::sync::Arc::ptr_eq(&a, &c),
        "a new connection replaced the dead one"
    );
}

#[tokio::test]
async fn an_unreachable_host_fails_fast_with_a_clear_error() {
    let port = crate::testbed::free_port();
    let v = variant("down", |t| t.replace("port = 22202", &format!("port = {port}"))).await;
    let e = v.engine.session(&v.name, "app2").await.unwrap_err();
    assert_eq!(e.code(), "ssh.unreachable");
    assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");
}

#[tokio::test]
async fn hosts_can_come_from_ssh_config_aliases() {
    let tb = testbed();
    // Address, port, user and key all come from the testbed's ssh_config.
    let v = variant("alias", |_| {
        format!(
            "name = \"NAME\"\napp_profile = \"homechat\"\n[ssh]\nconfig = \"{}\"\n\
             [[hosts]]\nname = \"app2\"\nssh_alias = \"app2\"\nhost_key = \"{}\"\n\
             [[hosts]]\nname = \"ghost\"\nssh_alias = \"no-such-alias\"\n",
            tb.str("/ssh_config"),
            tb.str("/hosts/1/host_key_fingerprint")
        )
    })
    .await;
    let out = v
        .engine
        .exec(&v.name, "app2", "echo $SSH_CONNECTION; id -un")
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(text.lines().next().unwrap().trim().ends_with("22202"), "{text}");
    assert_eq!(text.lines().nth(1), Some("root"));
    let e = v.engine.session(&v.name, "ghost").await.unwrap_err();
    assert_eq!(e.code(), "ssh.config");
    assert!(e.to_string().contains("no-such-alias"), "{e}");
}

#[tokio::test]
async fn pins_can_be_imported_from_known_hosts() {
    let tb = testbed();
    let v = variant("kh", unpinned).await;
    let imported = v
        .engine
        .import_known_hosts(&v.name, std::path::Path::new(&tb.str("/known_hosts")))
        .await
        .unwrap();
    assert_eq!(imported.len(), 3);
    assert_eq!(
        imported[0],
        ("app1".to_owned(), tb.str("/hosts/0/host_key_fingerprint"))
    );
    v.engine.exec(&v.name, "app3", "true").await.unwrap();
    // A second import changes nothing.
    assert!(
        v.engine
            .import_known_hosts(&v.name, std::path::Path::new(&tb.str("/known_hosts")))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_host_with_several_key_types_in_known_hosts_imports_the_right_one() {
    let tb = testbed();
    let work = tempfile::tempdir().unwrap();
    // An RSA key of the same host listed first, as `ssh-keyscan` writes them.
    let rsa = work.path().join("rsa");
    let made = Command::new("ssh-keygen")
        .args(["-q", "-t", "rsa", "-b", "2048", "-N", "", "-f"])
        .arg(&rsa)
        .status()
        .unwrap();
    assert!(made.success());
    let rsa_pub = std::fs::read_to_string(rsa.with_extension("pub")).unwrap();
    let rsa_key = rsa_pub.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    let known = work.path().join("known_hosts");
    let original = std::fs::read_to_string(tb.str("/known_hosts")).unwrap();
    let port = tb.host("app1")["ssh_port"].as_u64().unwrap();
    std::fs::write(&known, format!("[127.0.0.1]:{port} {rsa_key}\n{original}")).unwrap();

    // Pinned in the profile: the ed25519 pin agrees with one of the host's keys, so
    // nothing is refused and nothing imported (the RSA key listed first is not a "change").
    let pinned = variant("khmulti", |t| t).await;
    let imported = pinned
        .engine
        .import_known_hosts(&pinned.name, &known)
        .await
        .unwrap();
    assert!(imported.is_empty(), "{imported:?}");

    // Unpinned: the key imported is the one the server will show (ed25519), not the
    // first line's.
    let fresh = variant("khmulti2", unpinned).await;
    let imported = fresh
        .engine
        .import_known_hosts(&fresh.name, &known)
        .await
        .unwrap();
    let app1 = imported.iter().find(|(h, _)| h == "app1").unwrap();
    assert_eq!(app1.1, tb.str("/hosts/0/host_key_fingerprint"));
    fresh.engine.exec(&fresh.name, "app1", "true").await.unwrap();
}

#[tokio::test]
async fn a_profile_pin_and_a_different_local_trust_are_refused_not_silently_merged() {
    let v = variant("pinconflict", |t| t).await;
    let other = "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    v.engine
        .state()
        .trust_key(
            &v.name,
            &breakglass::engine::state::TrustedKey {
                host: "app2".into(),
                address: "127.0.0.1".into(),
                port: 1,
                fingerprint: other.into(),
                key_type: "ssh-ed25519".into(),
                trusted_at: "2026-12-01T00:00:00Z".into(),
                trusted_by: "mallory@elsewhere".into(),
            },
        )
        .await
        .unwrap();
    let e = v.engine.exec(&v.name, "app2", "true").await.unwrap_err();
    assert_eq!(e.code(), "ssh.pin_conflict", "{e}");
    let text = e.to_string();
    assert!(
        text.contains(other) && text.contains(&testbed().str("/hosts/1/host_key_fingerprint")),
        "{text}"
    );
    assert!(text.contains("mallory@elsewhere"), "{text}");
    // Forgetting the local decision leaves the team's pin in force.
    v.engine.forget_host(&v.name, "app2").await.unwrap();
    v.engine.exec(&v.name, "app2", "true").await.unwrap();
}

/// A host behind a bastion (OpenSSH's ProxyJump): app2 reached through app1's held
/// connection, its own key still pinned and checked end to end.
#[tokio::test]
async fn a_host_behind_a_jump_host_is_reached_through_it() {
    let v = variant("jump", |t| {
        t.replacen("name = \"app2\"\n", "name = \"app2\"\njump = \"app1\"\n", 1)
    })
    .await;
    let app2 = v.engine.session(&v.name, "app2").await.unwrap();
    let app1 = v.engine.session(&v.name, "app1").await.unwrap();
    let via = app2.via().expect("app2 goes through a jump host");
    assert!(
        std::sync::Arc::ptr_eq(via, &app1),
        "through app1's held connection"
    );
    assert_eq!(
        app2.host_key().fingerprint,
        testbed().str("/hosts/1/host_key_fingerprint")
    );
    let out = app2.exec("echo $SSH_CONNECTION", None).await.unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).trim().ends_with("22202"));

    // Docker over the jumped connection, and status shows the route.
    let docker = v.engine.docker(&v.name, "app2").await.unwrap();
    assert!(
        docker
            .containers()
            .await
            .unwrap()
            .iter()
            .any(|c| c.name == "web2")
    );
    let st = v.engine.status(&v.name).await.unwrap();
    let h = st.hosts.iter().find(|h| h.name == "app2").unwrap();
    assert!(h.reachable, "{:?}", h.error);
    assert!(h.address.ends_with("via app1"), "{}", h.address);

    // The jump host's connection dies: the jumped one goes with it, and is re-made.
    let _ = app1.exec("kill -9 $PPID", None).await;
    for _ in 0..300 {
        if app2.is_closed() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(app2.is_closed(), "a jumped connection ends with its carrier");
    let out = v.engine.exec(&v.name, "app2", "echo again").await.unwrap();
    assert_eq!(out.stdout, b"again\n");
}

#[tokio::test]
async fn a_jump_host_that_refuses_forwarding_is_a_clear_error() {
    let bastion = PrivateSshd::start_with("ed25519", |c| {
        c.replace("AllowTcpForwarding yes", "AllowTcpForwarding no")
    });
    let app3_pin = testbed().str("/hosts/2/host_key_fingerprint");
    let (port, pin) = (bastion.port, bastion.fingerprint.clone());
    let v = variant("jump-refused", |t| {
        t.replace("port = 22203", &format!("port = {port}"))
            .replace(&app3_pin, &pin)
            .replacen("name = \"app2\"\n", "name = \"app2\"\njump = \"app3\"\n", 1)
    })
    .await;
    let e = ssh_err(v.engine.session(&v.name, "app2").await.unwrap_err());
    assert_eq!(e.code(), "ssh.jump", "{e}");
    let msg = e.to_string();
    assert!(msg.contains("app3") && msg.contains("TCP forwarding"), "{msg}");
}

#[tokio::test]
async fn ssh_config_proxyjump_goes_through_the_profile_host_it_names() {
    let tb = testbed();
    let work = tempfile::tempdir().unwrap();
    let base = std::fs::read_to_string(tb.str("/ssh_config")).unwrap();
    let config = work.path().join("ssh_config");
    std::fs::write(
        &config,
        format!(
            "Host behind\n  HostName 127.0.0.1\n  Port 22202\n  ProxyJump app1\n\
             Host lost\n  HostName 127.0.0.1\n  Port 22203\n  ProxyJump elsewhere.example.com\n\
             Host wrongport\n  HostName 127.0.0.1\n  Port 22203\n  ProxyJump ssh://root@bastion:2222\n\
             Host ring-a\n  HostName 127.0.0.1\n  Port 22202\n  ProxyJump ring-b\n\
             Host ring-b\n  HostName 127.0.0.1\n  Port 22203\n  ProxyJump ring-a\n{base}"
        ),
    )
    .unwrap();
    let key = tb.str("/client_key");
    let v = variant("proxyjump", |_| {
        format!(
            "name = \"NAME\"\napp_profile = \"homechat\"\n[ssh]\nconfig = \"{}\"\nuser = \"root\"\n\
             auth = {{ method = \"key-file\", path = \"{key}\" }}\n\
             [[hosts]]\nname = \"bastion\"\nssh_alias = \"app1\"\nport = 22201\nhost_key = \"{}\"\n\
             [[hosts]]\nname = \"app2\"\nssh_alias = \"behind\"\nhost_key = \"{}\"\n\
             [[hosts]]\nname = \"app3\"\nssh_alias = \"lost\"\nhost_key = \"{}\"\n\
             [[hosts]]\nname = \"odd\"\nssh_alias = \"wrongport\"\n\
             [[hosts]]\nname = \"ra\"\nssh_alias = \"ring-a\"\n\
             [[hosts]]\nname = \"rb\"\nssh_alias = \"ring-b\"\n",
            config.display(),
            tb.str("/hosts/0/host_key_fingerprint"),
            tb.str("/hosts/1/host_key_fingerprint"),
            tb.str("/hosts/2/host_key_fingerprint"),
        )
    })
    .await;
    let app2 = v.engine.session(&v.name, "app2").await.unwrap();
    assert_eq!(
        app2.via().map(|s| s.host().to_owned()).as_deref(),
        Some("bastion")
    );
    let e = v.engine.session(&v.name, "app3").await.unwrap_err();
    assert_eq!(e.code(), "ssh.config", "{e}");
    assert!(e.to_string().contains("not a host of this profile"), "{e}");

    // A port in the ProxyJump that contradicts the jump host's entry is refused.
    let e = v.engine.session(&v.name, "odd").await.unwrap_err();
    assert!(e.to_string().contains("make the two agree"), "{e}");

    // Two aliases that jump through each other: refused at once, for both, even when
    // asked together (status), instead of each waiting for the other.
    let st = tokio::time::timeout(std::time::Duration::from_secs(30), v.engine.status(&v.name))
        .await
        .expect("status does not hang on a circle of jumps")
        .unwrap();
    for name in ["ra", "rb"] {
        let h = st.hosts.iter().find(|h| h.name == name).unwrap();
        let e = h.error.as_ref().unwrap();
        assert!(
            e.code == "ssh.config" && e.message.contains("circle"),
            "{name}: {e:?}"
        );
    }
}

/// The jump host's unknown key is asked about on the jump host's row, never offered for
/// trust under the name of the host behind it.
#[tokio::test]
async fn a_jump_hosts_unknown_key_is_asked_on_its_own_row() {
    let app1_pin = testbed().str("/hosts/0/host_key_fingerprint");
    let v = variant("jump-unknown", |t| {
        t.replace(&format!("host_key = \"{app1_pin}\"\n"), "").replacen(
            "name = \"app2\"\n",
            "name = \"app2\"\njump = \"app1\"\n",
            1,
        )
    })
    .await;
    let st = v.engine.status(&v.name).await.unwrap();
    let row = |n: &str| st.hosts.iter().find(|h| h.name == n).unwrap();
    match &row("app1").host_key_problem {
        Some(breakglass::engine::review::status::HostKeyProblem::Unknown { fingerprint, .. }) => {
            assert_eq!(fingerprint, &app1_pin)
        }
        other => panic!("app1 asks for its own key: {other:?}"),
    }
    let app2 = row("app2");
    assert!(!app2.reachable);
    assert!(app2.host_key_problem.is_none(), "{:?}", app2.host_key_problem);
    let e = app2.error.as_ref().unwrap();
    assert!(e.message.contains("app1"), "the error names the jump host: {e:?}");
}
