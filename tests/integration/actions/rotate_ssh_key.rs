//! Rotating the console's own SSH key on three sshd of the test's own (never the
//! testbed's hosts or its client key): each with its own configuration, host key, port
//! and `AuthorizedKeysFile` in a folder of its own, logins as root; a key the test makes,
//! in a folder of its own, that the profile names. OpenSSH's `ssh` client, not the
//! console, says afterwards which key each host lets in.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use breakglass::engine::actions::{ActionEvent, ActionSpec, Cancel, RotateSshKey, StepStatus};

use super::confirmed;
use crate::testbed::{Variant, testbed, variant};

/// One sshd of the test's own, killed (and its files made writable again) when dropped.
struct Sshd {
    child: std::process::Child,
    port: u16,
    fingerprint: String,
    dir: tempfile::TempDir,
}

impl Sshd {
    fn start(authorized_keys: &[u8]) -> Sshd {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let key = d.join("host_key");
        assert!(
            Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(&key)
                .status()
                .unwrap()
                .success()
        );
        let fp = Command::new("ssh-keygen").arg("-lf").arg(&key).output().unwrap();
        let fingerprint = String::from_utf8_lossy(&fp.stdout)
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_owned();
        std::fs::write(d.join("authorized_keys"), authorized_keys).unwrap();
        std::fs::set_permissions(d.join("authorized_keys"), std::fs::Permissions::from_mode(0o600)).unwrap();
        let port = crate::testbed::free_port();
        let conf = d.join("sshd_config");
        std::fs::write(
            &conf,
            format!(
                "ListenAddress 127.0.0.1\nPort {port}\nHostKey {k}\nPidFile {d}/pid\n\
                 AuthorizedKeysFile {d}/authorized_keys\nPermitRootLogin prohibit-password\n\
                 PubkeyAuthentication yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 UsePAM no\nStrictModes no\nAllowTcpForwarding yes\nMaxStartups 100:30:200\n\
                 LogLevel VERBOSE\n",
                k = key.display(),
                d = d.display()
            ),
        )
        .unwrap();
        // sshd's privilege separation folder (the testbed's own sshds need it too).
        let _ = std::fs::create_dir_all("/run/sshd");
        let mut child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-f"])
            .arg(&conf)
            .arg("-E")
            .arg(d.join("sshd.log"))
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut listening = false;
        for _ in 0..600 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                listening = true;
                break;
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!("the test's sshd exited ({status}): port {port} taken meanwhile?");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert!(listening, "the test's sshd never listened on {port}");
        Sshd {
            child,
            port,
            fingerprint,
            dir,
        }
    }

    fn keys_file(&self) -> PathBuf {
        self.dir.path().join("authorized_keys")
    }

    fn keys(&self) -> String {
        std::fs::read_to_string(self.keys_file()).unwrap()
    }

    /// Whether OpenSSH's client logs in as root with the (unencrypted) key file `key`.
    fn accepts(&self, key: &Path) -> bool {
        Command::new("ssh")
            .arg("-i")
            .arg(key)
            .args([
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "BatchMode=yes",
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "LogLevel=ERROR",
                "-o",
                "ConnectTimeout=10",
                "-F",
                "/dev/null",
                "-p",
            ])
            .arg(self.port.to_string())
            .args(["root@127.0.0.1", "true"])
            .stdin(Stdio::null())
            .output()
            .unwrap()
            .status
            .success()
    }

    fn immutable(&self, on: bool) {
        let st = Command::new("chattr")
            .arg(if on { "+i" } else { "-i" })
            .arg(self.keys_file())
            .status()
            .unwrap();
        assert!(st.success(), "chattr");
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").arg(self.keys_file()).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A new key pair made by ssh-keygen, `(private file, "type base64")`.
fn keygen(dir: &Path, name: &str, passphrase: &str, comment: &str) -> (PathBuf, String) {
    let f = dir.join(name);
    assert!(
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", passphrase, "-C", comment, "-f"])
            .arg(&f)
            .status()
            .unwrap()
            .success()
    );
    (
        f.clone(),
        key_id(&std::fs::read_to_string(f.with_extension("pub")).unwrap()),
    )
}

fn key_id(public_line: &str) -> String {
    public_line
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

/// An unencrypted copy of a key file, for the ssh client in BatchMode.
fn plain_copy(key: &Path, passphrase: &str, to: &Path) -> PathBuf {
    std::fs::copy(key, to).unwrap();
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o600)).unwrap();
    if !passphrase.is_empty() {
        let out = Command::new("ssh-keygen")
            .args(["-p", "-q", "-P", passphrase, "-N", "", "-f"])
            .arg(to)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    to.to_owned()
}

/// The public key of a key file, as ssh-keygen reads it with `passphrase`.
fn public_of(key: &Path, passphrase: &str) -> Option<String> {
    let out = Command::new("ssh-keygen")
        .args(["-y", "-P", passphrase, "-f"])
        .arg(key)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| key_id(&String::from_utf8_lossy(&out.stdout)))
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// What must never appear: a private key file's text (each line of its body past the
/// first two, which hold only the format's header and the public key) and the private
/// key itself (its 32-byte seed, raw, in hex and in base64).
fn private_texts(label: &str, key_file: &Path, passphrase: &str) -> Vec<(String, String)> {
    use base64::Engine as _;
    let text = std::fs::read_to_string(key_file).unwrap();
    let mut out: Vec<(String, String)> = text
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .skip(2)
        .filter(|l| l.len() >= 20)
        .map(|l| (format!("{label}: a line of its file"), l.to_owned()))
        .collect();
    assert!(!out.is_empty());
    let key = russh::keys::decode_secret_key(&text, (!passphrase.is_empty()).then_some(passphrase)).unwrap();
    let seed = key.key_data().ed25519().unwrap().private.to_bytes();
    out.push((format!("{label}: its seed in hex"), hex::encode(seed)));
    for e in [
        base64::engine::general_purpose::STANDARD,
        base64::engine::general_purpose::STANDARD_NO_PAD,
    ] {
        out.push((format!("{label}: its seed in base64"), e.encode(seed)));
    }
    out.push((
        format!("{label}: its seed"),
        String::from_utf8_lossy(&seed).into_owned(),
    ));
    out
}

/// Fails if any of `texts` is in `bytes` (the raw seed is compared as bytes).
fn assert_absent(texts: &[(String, String)], seeds: &[[u8; 32]], bytes: &[u8], what: &str) {
    testbed().assert_no_secret_in(texts, bytes, what);
    for s in seeds {
        assert!(
            !bytes.windows(32).any(|w| w == s),
            "a private key's seed is in {what}"
        );
    }
}

fn seed_of(key_file: &Path, passphrase: &str) -> [u8; 32] {
    let text = std::fs::read_to_string(key_file).unwrap();
    let key = russh::keys::decode_secret_key(&text, (!passphrase.is_empty()).then_some(passphrase)).unwrap();
    key.key_data().ed25519().unwrap().private.to_bytes()
}

fn assert_absent_in_dir(texts: &[(String, String)], seeds: &[[u8; 32]], dir: &Path) {
    testbed().assert_none_in_dir(texts, dir);
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(b) = std::fs::read(&p) {
                assert_absent(&[], seeds, &b, &p.display().to_string());
            }
        }
    }
}

struct Setup {
    v: Variant,
    hosts: Vec<Sshd>,
    /// The authorized_keys each host started with.
    before: Vec<String>,
    /// The key file the profile names, and what it held before.
    key: PathBuf,
    key_before: Vec<u8>,
    pub_before: Vec<u8>,
    /// The current key, `type base64`.
    old_id: String,
    /// The options of the current key's line on every host.
    options: &'static str,
    passphrase: &'static str,
    client: tempfile::TempDir,
}

/// Three sshd, each authorizing the test's key (with options) among other lines: a
/// plain file, one without a final newline, one with CRLF line endings.
async fn setup(tag: &str, passphrase: &'static str) -> Setup {
    let client = tempfile::tempdir().unwrap();
    let (key, old_id) = keygen(client.path(), "id_console", passphrase, "test-old");
    let (_, other) = keygen(client.path(), "id_other", "", "other");
    let options = "from=\"127.0.0.1,::1\",no-X11-forwarding";
    let old_line = format!("{options} {old_id} test-old");
    let before = vec![
        format!("# the test's keys of h1\n{other} other@example\n{old_line}\n"),
        format!("# h2\n{old_line}\n{other} other@example"),
        format!("# h3\r\n{old_line}\r\n{other} other@example\r\n"),
    ];
    let hosts: Vec<Sshd> = before.iter().map(|b| Sshd::start(b.as_bytes())).collect();
    let plain = plain_copy(&key, passphrase, &client.path().join("check_old"));
    for (i, h) in hosts.iter().enumerate() {
        assert!(h.accepts(&plain), "h{}: the test's key logs in before", i + 1);
    }
    let auth = if passphrase.is_empty() {
        format!("auth = {{ method = \"key-file\", path = \"{}\" }}", key.display())
    } else {
        format!(
            "auth = {{ method = \"key-file\", path = \"{}\", passphrase = \"keychain\" }}",
            key.display()
        )
    };
    let host_tables: String = hosts
        .iter()
        .enumerate()
        .map(|(i, h)| {
            format!(
                "[[hosts]]\nname = \"h{}\"\naddress = \"127.0.0.1\"\nport = {}\nhost_key = \"{}\"\ndocker = false\n",
                i + 1,
                h.port,
                h.fingerprint
            )
        })
        .collect();
    let v = variant(&format!("sshkey{tag}"), move |_| {
        format!("name = \"NAME\"\napp_profile = \"homechat\"\n[ssh]\nuser = \"root\"\n{auth}\n{host_tables}")
    })
    .await;
    if !passphrase.is_empty() {
        v.engine
            .keychain()
            .set(&v.name, "ssh-key-passphrase", passphrase.to_owned().into())
            .await
            .unwrap();
    }
    Setup {
        key_before: std::fs::read(&key).unwrap(),
        pub_before: std::fs::read(key.with_extension("pub")).unwrap(),
        v,
        hosts,
        before,
        key,
        old_id,
        options,
        passphrase,
        client,
    }
}

impl Setup {
    /// `<key>.old-*` files beside the key file.
    fn kept(&self) -> Vec<PathBuf> {
        let prefix = format!("{}.old-", self.key.file_name().unwrap().to_string_lossy());
        let mut v: Vec<PathBuf> = std::fs::read_dir(self.client.path())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(&prefix))
            .collect();
        v.sort();
        v
    }

    /// Every host as it was: its authorized_keys byte for byte, the old key let in, the
    /// key file and its .pub as they were, nothing kept beside them.
    fn assert_as_before(&self, new_plain: Option<&Path>) {
        let old = plain_copy(&self.key, self.passphrase, &self.client.path().join("check_old"));
        for (i, h) in self.hosts.iter().enumerate() {
            assert_eq!(h.keys(), self.before[i], "h{}: authorized_keys as before", i + 1);
            assert!(h.accepts(&old), "h{} lets the old key in", i + 1);
            if let Some(n) = new_plain {
                assert!(!h.accepts(n), "h{} refuses the new key", i + 1);
            }
        }
        assert_eq!(
            std::fs::read(&self.key).unwrap(),
            self.key_before,
            "the old key file back"
        );
        assert_eq!(mode(&self.key), 0o600);
        assert_eq!(
            std::fs::read(self.key.with_extension("pub")).unwrap(),
            self.pub_before
        );
        assert!(self.kept().is_empty(), "{:?}", self.kept());
    }

    async fn forget_passphrase(&self) {
        if !self.passphrase.is_empty() {
            let _ = self
                .v
                .engine
                .keychain()
                .delete(&self.v.name, "ssh-key-passphrase")
                .await;
        }
    }
}

fn cli(v: &Variant, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_breakglass"))
        .args(args)
        .env("BREAKGLASS_DATA_DIR", v.dir.path().join("state"))
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn spec() -> ActionSpec {
    ActionSpec::RotateSshKey(RotateSshKey {})
}

/// The whole rotation through the command line, with a passphrase-protected key: every
/// host lets the new key in and refuses the old; each authorized_keys holds the new line
/// (with the old line's options) instead of the old one, every other byte as it was; the
/// key file holds the new key, encrypted with the same passphrase, mode 600, the old one
/// kept beside it, mode 600; no private key's text anywhere the console wrote. Then the
/// finished rotation is undone from the journal, and everything is as before.
#[tokio::test]
async fn the_consoles_key_is_rotated_on_every_host_and_the_old_one_refused() {
    let s = setup("ok", "test passphrase of the old key").await;
    let name = s.v.name.clone();
    let secrets_old = private_texts("the old key", &s.key, s.passphrase);
    let seed_old = seed_of(&s.key, s.passphrase);

    // The plan: which file on each host, found by asking that host's sshd, and the old
    // line's options kept; nothing changes.
    let dry = cli(&s.v, &["--json", "rotate-ssh-key", &name, "--dry-run"]);
    assert!(dry.status.success(), "{}", String::from_utf8_lossy(&dry.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&dry.stdout).unwrap();
    let sample = plan["sample"].to_string();
    for h in &s.hosts {
        assert!(sample.contains(&h.keys_file().display().to_string()), "{sample}");
        assert!(
            sample.contains(&format!(
                "sshd -T -f {}",
                h.dir.path().join("sshd_config").display()
            )),
            "{sample}"
        );
    }
    assert!(sample.contains("no-X11-forwarding"), "{sample}");
    assert_eq!(
        plan["steps"].as_array().unwrap().len(),
        3 + 3 + 1 + 3 + 1,
        "{plan:#}"
    );
    assert!(plan["summary"].as_str().unwrap().contains("SHA256:"), "{plan:#}");
    for (i, h) in s.hosts.iter().enumerate() {
        assert_eq!(h.keys(), s.before[i]);
    }

    let run = cli(&s.v, &["--json", "rotate-ssh-key", &name, "--confirm", &name]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&run.stdout).into_owned(),
        String::from_utf8_lossy(&run.stderr).into_owned(),
    );
    assert!(run.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("\"ok\":true"), "verified: {stdout}");

    // The new key: in the key file, encrypted with the same passphrase, mode 600.
    assert_eq!(mode(&s.key), 0o600);
    let new_id = public_of(&s.key, s.passphrase).expect("the new key file opens with the passphrase");
    assert_ne!(new_id, s.old_id);
    assert!(new_id.starts_with("ssh-ed25519 "));
    assert!(public_of(&s.key, "").is_none(), "the new key file is encrypted");
    assert!(public_of(&s.key, "another passphrase").is_none());
    assert_eq!(
        key_id(&std::fs::read_to_string(s.key.with_extension("pub")).unwrap()),
        new_id,
        "the .pub follows"
    );
    // The old one kept beside it, byte for byte, mode 600.
    let kept = s.kept();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(std::fs::read(&kept[0]).unwrap(), s.key_before);
    assert_eq!(mode(&kept[0]), 0o600);

    // Each host: exactly the new line instead of the old one, every other byte kept; the
    // ssh client is let in with the new key and refused with the old.
    let old_plain = plain_copy(&kept[0], s.passphrase, &s.client.path().join("plain_old"));
    let new_plain = plain_copy(&s.key, s.passphrase, &s.client.path().join("plain_new"));
    let old_line = format!("{} {} test-old", s.options, s.old_id);
    for (i, h) in s.hosts.iter().enumerate() {
        let now = h.keys();
        let line = now
            .lines()
            .find(|l| l.contains(&new_id))
            .unwrap_or_else(|| panic!("h{}: no new key line in {now:?}", i + 1))
            .trim_end_matches('\r')
            .to_owned();
        let prefix = format!("{} {new_id} breakglass {name} ", s.options);
        assert!(line.starts_with(&prefix), "{line}");
        assert_eq!(line.len(), prefix.len() + "2026-01-01".len(), "{line}");
        let want = match i {
            0 => s.before[0].replace(&format!("{old_line}\n"), "") + &line + "\n",
            1 => s.before[1].replace(&format!("{old_line}\n"), "") + "\n" + &line + "\n",
            _ => s.before[2].replace(&format!("{old_line}\r\n"), "") + &line + "\r\n",
        };
        assert_eq!(now, want, "h{}", i + 1);
        assert!(h.accepts(&new_plain), "h{} lets the new key in", i + 1);
        assert!(!h.accepts(&old_plain), "h{} refuses the old key", i + 1);
    }

    // No private key's text in what the console wrote: its data folder (local database,
    // journal), its output (the events, as JSON lines), the hosts' files and logs.
    let mut texts = secrets_old.clone();
    texts.extend(private_texts("the new key", &s.key, s.passphrase));
    let seeds = [seed_old, seed_of(&s.key, s.passphrase)];
    assert_absent(&texts, &seeds, stdout.as_bytes(), "the command's output");
    assert_absent(&texts, &seeds, stderr.as_bytes(), "the command's errors");
    assert_absent_in_dir(&texts, &seeds, s.v.dir.path());
    for h in &s.hosts {
        assert_absent_in_dir(&texts, &seeds, h.dir.path());
    }
    let journal = s.v.engine.journal().await.unwrap().entries(None).await.unwrap();
    let text = format!("{journal:?}");
    assert_absent(&texts, &seeds, text.as_bytes(), "the journal");
    // The journal names the keys by their public halves.
    assert!(
        text.contains(new_id.split(' ').nth(1).unwrap()),
        "undo holds the public key"
    );

    // A finished rotation can be undone from the journal: the old key is still kept
    // here, so every host gets it back before the console uses it again.
    let run_id = journal
        .iter()
        .find(|e| e.kind == "action.planned" && e.body["action"] == "rotate-ssh-key")
        .map(|e| e.run_id.clone())
        .unwrap();
    // Not once the old private key is deleted (as after a rotation for a leak): its
    // public key would only let in whoever else holds it. Nothing changes.
    let aside = s.client.path().join("kept-aside");
    std::fs::rename(&kept[0], &aside).unwrap();
    let keys_now: Vec<String> = s.hosts.iter().map(Sshd::keys).collect();
    let refused = cli(&s.v, &["undo", &name, &run_id, "--confirm", &name]);
    assert!(!refused.status.success());
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(why.contains("is gone") && why.contains("rotate again"), "{why}");
    assert_eq!(s.hosts.iter().map(Sshd::keys).collect::<Vec<_>>(), keys_now);
    assert_eq!(public_of(&s.key, s.passphrase).as_deref(), Some(new_id.as_str()));
    std::fs::rename(&aside, &kept[0]).unwrap();

    let undo = cli(&s.v, &["--json", "undo", &name, &run_id, "--confirm", &name]);
    let undo_out = String::from_utf8_lossy(&undo.stdout).into_owned();
    assert!(
        undo.status.success(),
        "{undo_out}\n{}",
        String::from_utf8_lossy(&undo.stderr)
    );
    s.assert_as_before(Some(&new_plain));
    assert_absent(&texts, &seeds, undo_out.as_bytes(), "the undo's output");
    assert_absent_in_dir(&texts, &seeds, s.v.dir.path());
    // And the console logs in with the old key again.
    let out = cli(&s.v, &["exec", &name, "h2", "--", "true"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    s.forget_passphrase().await;
}

/// A host whose authorized_keys the console cannot write is refused at the plan; one
/// that becomes unwritable once the console has moved to the new key (h3, made immutable
/// then) fails the removal there, and everything is undone in reverse: the old key back
/// on h1 and h2, the old key file back, the new key out of every host. Every host lets
/// the old key in and refuses the new one, every file is byte for byte as before.
#[tokio::test]
async fn a_host_that_cannot_be_written_undoes_the_rotation_everywhere() {
    let s = setup("fail", "").await;
    let name = s.v.name.clone();

    // Unwritable from the start: the plan says so, and nothing changes.
    s.hosts[1].immutable(true);
    let err = s.v.engine.plan_action(&name, &spec()).await.unwrap_err();
    assert_eq!(err.code(), "action.unavailable", "{err}");
    assert!(
        err.to_string().contains("h2") && err.to_string().contains("cannot write"),
        "{err}"
    );
    s.hosts[1].immutable(false);
    s.assert_as_before(None);

    // Unwritable only once the key file holds the new key (the fault arrives mid-run),
    // and writable again when the failure is reported, so that undo can work.
    let new_key: Arc<Mutex<Option<Vec<u8>>>> = Arc::default();
    let seen: Arc<Mutex<Vec<ActionEvent>>> = Arc::default();
    let events = {
        let (key, h3, seen, new_key) = (
            s.key.clone(),
            s.hosts[2].keys_file(),
            seen.clone(),
            new_key.clone(),
        );
        Arc::new(move |e: ActionEvent| {
            if let ActionEvent::Step {
                description, status, ..
            } = &e
            {
                if *status == StepStatus::Done && description.starts_with("write the new key") {
                    *new_key.lock().unwrap() = Some(std::fs::read(&key).unwrap());
                    assert!(
                        Command::new("chattr")
                            .arg("+i")
                            .arg(&h3)
                            .status()
                            .unwrap()
                            .success()
                    );
                }
                if *status == StepStatus::Failed {
                    assert!(
                        Command::new("chattr")
                            .arg("-i")
                            .arg(&h3)
                            .status()
                            .unwrap()
                            .success()
                    );
                }
            }
            seen.lock().unwrap().push(e);
        })
    };
    let err =
        s.v.engine
            .run_action(&name, confirmed(&spec(), Some(&name)), events, Cancel::default())
            .await
            .unwrap_err();
    assert!(err.to_string().contains("h3"), "{err}");

    let new_key = new_key.lock().unwrap().clone().expect("the key file step ran");
    let new_file = s.client.path().join("captured_new");
    std::fs::write(&new_file, &new_key).unwrap();
    std::fs::set_permissions(&new_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    s.assert_as_before(Some(&new_file));

    // Undone in reverse: h2's and h1's removals, the key file, then the three additions
    // (h3's removal failed, so was not done).
    let seen = seen.lock().unwrap().clone();
    let undone: Vec<String> = seen
        .iter()
        .filter_map(|e| match e {
            ActionEvent::Step {
                status: StepStatus::Undone,
                description,
                ..
            } => Some(description.clone()),
            _ => None,
        })
        .collect();
    let failed: Vec<&ActionEvent> = seen
        .iter()
        .filter(|e| {
            matches!(
                e,
                ActionEvent::Step {
                    status: StepStatus::Failed | StepStatus::UndoFailed,
                    ..
                }
            )
        })
        .collect();
    assert_eq!(failed.len(), 1, "only h3's removal failed: {failed:?}");
    let order: Vec<&str> = undone
        .iter()
        .filter(|d| !d.contains("log in with the new key"))
        .map(String::as_str)
        .collect();
    assert_eq!(order.len(), 6, "{undone:#?}");
    assert!(order[0].starts_with("h2: remove the old key"), "{order:#?}");
    assert!(order[1].starts_with("h1: remove the old key"), "{order:#?}");
    assert!(order[2].starts_with("write the new key"), "{order:#?}");
    assert!(order[3].starts_with("h3: add"), "{order:#?}");
    assert!(order[4].starts_with("h2: add"), "{order:#?}");
    assert!(order[5].starts_with("h1: add"), "{order:#?}");

    // Neither key's private text in the events, the journal or the data folder.
    let mut texts = private_texts("the old key", &s.key, "");
    texts.extend(private_texts("the new key", &new_file, ""));
    let seeds = [seed_of(&s.key, ""), seed_of(&new_file, "")];
    assert_absent(&texts, &seeds, format!("{seen:?}").as_bytes(), "the events");
    let journal = s.v.engine.journal().await.unwrap().entries(None).await.unwrap();
    assert_absent(&texts, &seeds, format!("{journal:?}").as_bytes(), "the journal");
    assert_absent_in_dir(&texts, &seeds, s.v.dir.path());
}

/// The console logs in with ssh-agent's keys, or with a password: no key file to
/// rotate, said with what to do instead, before anything is touched.
#[tokio::test]
async fn agent_and_password_logins_are_refused_with_what_to_do() {
    let plain = testbed().str("/client_key");
    let key_file = format!("auth = {{ method = \"key-file\", path = \"{plain}\" }}");
    for (tag, auth, says) in [
        ("agent", "auth = { method = \"agent\" }", "ssh-agent"),
        ("password", "auth = { method = \"password\" }", "secret set"),
    ] {
        let v = variant(&format!("sshkey-{tag}"), |t| t.replace(&key_file, auth)).await;
        let err = v.engine.plan_action(&v.name, &spec()).await.unwrap_err();
        assert_eq!(err.code(), "action.unavailable", "{err}");
        assert!(err.to_string().contains(says), "{err}");
    }
}

/// Two faults: h3's removal fails as above, and then h1's file cannot be written while
/// the rotation is undone, so h1 cannot get the old key back. The console must not lock
/// itself out: the old key file is not put back (h1 would refuse it), so the new key's
/// lines stay on every host; the console still reaches every host with the new key. Once
/// h1 is writable again, undoing the run from the journal finishes the job.
#[tokio::test]
async fn an_undo_that_cannot_put_the_old_key_back_keeps_the_console_on_the_new_one() {
    let s = setup("twofaults", "").await;
    let name = s.v.name.clone();
    let new_key: Arc<Mutex<Option<Vec<u8>>>> = Arc::default();
    let seen: Arc<Mutex<Vec<ActionEvent>>> = Arc::default();
    let events = {
        let (key, h1, h3, seen, new_key) = (
            s.key.clone(),
            s.hosts[0].keys_file(),
            s.hosts[2].keys_file(),
            seen.clone(),
            new_key.clone(),
        );
        let chattr = |flag: &str, f: &Path| {
            assert!(
                Command::new("chattr")
                    .arg(flag)
                    .arg(f)
                    .status()
                    .unwrap()
                    .success()
            );
        };
        Arc::new(move |e: ActionEvent| {
            if let ActionEvent::Step {
                description, status, ..
            } = &e
            {
                if *status == StepStatus::Done && description.starts_with("write the new key") {
                    *new_key.lock().unwrap() = Some(std::fs::read(&key).unwrap());
                    chattr("+i", &h3);
                }
                if *status == StepStatus::Failed {
                    chattr("-i", &h3);
                    chattr("+i", &h1);
                }
            }
            seen.lock().unwrap().push(e);
        })
    };
    let err =
        s.v.engine
            .run_action(&name, confirmed(&spec(), Some(&name)), events, Cancel::default())
            .await
            .unwrap_err();
    assert!(err.to_string().contains("h3"), "{err}");
    let new_file = s.client.path().join("captured_new");
    std::fs::write(&new_file, new_key.lock().unwrap().clone().unwrap()).unwrap();
    std::fs::set_permissions(&new_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let new_id = public_of(&new_file, "").unwrap();

    // What could not be undone, and why.
    let seen = seen.lock().unwrap().clone();
    let undo_failed: Vec<(String, String)> = seen
        .iter()
        .filter_map(|e| match e {
            ActionEvent::Step {
                status: StepStatus::UndoFailed,
                description,
                detail,
                ..
            } => Some((description.clone(), detail.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(undo_failed.len(), 5, "{undo_failed:#?}");
    assert!(
        undo_failed[0].0.starts_with("h1: remove the old key"),
        "{undo_failed:#?}"
    );
    assert!(
        undo_failed[1].0.starts_with("write the new key"),
        "{undo_failed:#?}"
    );
    assert!(
        undo_failed[1].1.contains("not accepted by h1"),
        "{undo_failed:#?}"
    );
    for (d, detail) in &undo_failed[2..] {
        assert!(d.contains(": add"), "{d}");
        assert!(
            detail.contains("the console's key file holds the key"),
            "{detail}"
        );
    }

    // The console holds the new key, which every host lets in; the old one is refused by
    // h1 only; nothing locked the console out.
    assert_eq!(public_of(&s.key, "").as_deref(), Some(new_id.as_str()));
    assert_eq!(mode(&s.key), 0o600);
    let kept = s.kept();
    assert_eq!(kept.len(), 1, "the old key is still kept: {kept:?}");
    assert_eq!(std::fs::read(&kept[0]).unwrap(), s.key_before);
    let old_plain = plain_copy(&kept[0], "", &s.client.path().join("plain_old"));
    for (i, h) in s.hosts.iter().enumerate() {
        assert!(h.accepts(&new_file), "h{} lets the console's (new) key in", i + 1);
        assert_eq!(h.accepts(&old_plain), i != 0, "h{}: the old key", i + 1);
        let out =
            s.v.engine
                .exec(&name, &format!("h{}", i + 1), "true")
                .await
                .unwrap();
        assert!(out.success());
    }

    // h1 writable again: the journal's undo finishes what the run could not.
    s.hosts[0].immutable(false);
    let run_id =
        s.v.engine
            .journal()
            .await
            .unwrap()
            .entries(None)
            .await
            .unwrap()
            .iter()
            .find(|e| e.kind == "action.planned" && e.body["action"] == "rotate-ssh-key")
            .map(|e| e.run_id.clone())
            .unwrap();
    let undo = ActionSpec::Undo(breakglass::engine::actions::Undo { run_id });
    let report =
        s.v.engine
            .run_action(
                &name,
                confirmed(&undo, Some(&name)),
                Arc::new(|_| {}),
                Cancel::default(),
            )
            .await
            .unwrap();
    assert!(report.verified, "{report:#?}");
    s.assert_as_before(Some(&new_file));
}
