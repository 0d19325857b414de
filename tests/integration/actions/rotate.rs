//! Rotating application secrets across the three hosts, on containers and `.env` copies
//! of this test's own (the sandbox's web containers keep serving the other tests): the
//! same new value everywhere, every consumer recreated and healthy, the old containers
//! removed; a new container that fails its health check on the second host, and a
//! cancel between hosts, undo everything in reverse; no value in the journal, the local
//! database or the events.

use std::sync::{Arc, Mutex};

use breakglass::engine::actions::{ActionEvent, ActionSpec, Cancel, RotateSecrets, StepStatus};
use breakglass::engine::envfile::EnvFile;

use super::{confirmed, recording};
pub(super) use crate::rotation_setup::{Setup, inspect, old_jwt, setup, setup_with};
use crate::testbed::{docker, testbed};

fn env_value(i: &serde_json::Value, key: &str) -> Option<String> {
    i["Config"]["Env"]
        .as_array()?
        .iter()
        .filter_map(|e| e.as_str())
        .find_map(|e| e.strip_prefix(&format!("{key}=")).map(str::to_owned))
}

pub(super) fn spec() -> ActionSpec {
    ActionSpec::RotateSecrets(RotateSecrets {
        vars: vec!["JWT_SECRET".into()],
        ..Default::default()
    })
}

#[tokio::test]
async fn a_secret_is_rotated_on_every_host_and_every_consumer() {
    let s = setup("ok", ["test -n \"$JWT_SECRET\""; 3]).await;
    let before: Vec<String> = s
        .hosts
        .iter()
        .map(|(h, .., n)| inspect(h, n)["Id"].as_str().unwrap().to_owned())
        .collect();
    let plan = s.v.engine.plan_action(&s.v.name, &spec()).await.unwrap();
    assert!(plan.destructive);
    assert_eq!(plan.count, 6, "{plan:#?}");
    assert!(plan.warnings.iter().any(|w| w.contains("JWT")), "{plan:#?}");
    assert!(plan.steps.last().unwrap().contains("cannot be undone"));

    let (events, seen) = recording();
    // Every process's command line on this machine (the hosts' too) while it runs.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut lines = std::collections::BTreeSet::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
                    if let Ok(c) = std::fs::read(e.path().join("cmdline")) {
                        lines.insert(c);
                    }
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            lines
        })
    };
    let report =
        s.v.engine
            .run_action(
                &s.v.name,
                confirmed(&spec(), Some(&s.v.name)),
                events,
                Cancel::default(),
            )
            .await
            .unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let cmdlines = watcher.join().unwrap();
    assert!(report.verified, "{report:#?}");
    let mut new_value = None;
    for ((host, file, original, name), old_id) in s.hosts.iter().zip(&before) {
        let now = std::fs::read_to_string(file).unwrap();
        let value = EnvFile::parse(&now)
            .unwrap()
            .get("JWT_SECRET")
            .unwrap()
            .expose()
            .clone();
        assert_eq!(value.len(), 64);
        assert_ne!(value, old_jwt("ok"));
        // Byte for byte, but for the value.
        let want = String::from_utf8(original.clone())
            .unwrap()
            .replace(&old_jwt("ok"), &value);
        assert_eq!(now, want, "{host}");
        // The same value everywhere.
        assert_eq!(new_value.get_or_insert(value.clone()), &value);
        let i = inspect(host, name);
        assert_ne!(i["Id"].as_str().unwrap(), old_id);
        assert_eq!(env_value(&i, "JWT_SECRET").as_deref(), Some(value.as_str()));
        assert_eq!(env_value(&i, "OTHER").as_deref(), Some("keep"));
        // The old container is gone.
        let all = docker(
            host,
            &[
                "ps",
                "-a",
                "--filter",
                &format!("name={name}"),
                "--format",
                "{{.Names}}",
            ],
        );
        assert_eq!(String::from_utf8_lossy(&all.stdout).trim(), name.as_str());
    }
    // A finished rotation is not undone from the journal (the .env backups hold values
    // nothing accepts any more): refused, nothing changed.
    let undo = ActionSpec::Undo(breakglass::engine::actions::Undo {
        run_id: report.run_id.clone(),
    });
    let err =
        s.v.engine
            .run_action(
                &s.v.name,
                confirmed(&undo, Some(&s.v.name)),
                Arc::new(|_| {}),
                Cancel::default(),
            )
            .await
            .unwrap_err();
    assert!(err.to_string().contains("rotate again"), "{err}");
    for (host, file, ..) in &s.hosts {
        let now = std::fs::read_to_string(file).unwrap();
        assert!(
            now.contains(new_value.as_deref().unwrap()),
            "{host}: still the new value"
        );
    }
    // No value in the journal, the local database or the events.
    let value = new_value.unwrap();
    let secrets = vec![
        ("JWT_SECRET (new)".to_owned(), value),
        ("JWT_SECRET (old)".to_owned(), old_jwt("ok")),
    ];
    assert!(cmdlines.len() > 10, "the watcher saw processes");
    for c in &cmdlines {
        testbed().assert_no_secret_in(&secrets, c, "a process's command line");
    }
    let history = std::env::var("HOME")
        .map(|h| format!("{h}/.bash_history"))
        .unwrap_or_default();
    if let Ok(h) = std::fs::read(&history) {
        testbed().assert_no_secret_in(&secrets, &h, &history);
    }
    let events = format!("{:?}", seen.lock().unwrap());
    testbed().assert_no_secret_in(&secrets, events.as_bytes(), "the events");
    let journal = s.v.engine.journal().await.unwrap().entries(None).await.unwrap();
    testbed().assert_no_secret_in(&secrets, format!("{journal:?}").as_bytes(), "the journal");
    testbed().assert_none_in_dir(&secrets, s.v.dir.path());
}

/// The new container on app2 fails its health check: app2's container comes back by
/// itself, then app2's .env, app1's container and app1's .env are undone; app3 was never
/// touched.
#[tokio::test]
async fn an_unhealthy_host_undoes_the_rotation_everywhere() {
    let s = setup("bad", ["true", "test ${#JWT_SECRET} -lt 40", "true"]).await;
    let before: Vec<String> = s
        .hosts
        .iter()
        .map(|(h, .., n)| inspect(h, n)["Id"].as_str().unwrap().to_owned())
        .collect();
    let (events, seen) = recording();
    let err =
        s.v.engine
            .run_action(
                &s.v.name,
                confirmed(&spec(), Some(&s.v.name)),
                events,
                Cancel::default(),
            )
            .await
            .unwrap_err();
    assert!(err.to_string().contains("app2"), "{err}");
    assert_back(&s, &before);
    let seen = seen.lock().unwrap();
    let undone: Vec<&str> = seen
        .iter()
        .filter_map(|e| match e {
            ActionEvent::Step {
                status: StepStatus::Undone,
                description,
                ..
            } => Some(description.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        undone.len(),
        3,
        "app2's .env, app1's container, app1's .env: {undone:?}"
    );
    assert!(
        undone[0].starts_with("app2: write")
            && undone[1].starts_with("app1: recreate")
            && undone[2].starts_with("app1: write"),
        "{undone:?}"
    );
}

/// Cancelled once app1 is done: app1 is undone, app2 and app3 never touched.
#[tokio::test]
async fn a_cancel_between_hosts_undoes_the_first() {
    let s = setup("cancel", ["true"; 3]).await;
    let before: Vec<String> = s
        .hosts
        .iter()
        .map(|(h, .., n)| inspect(h, n)["Id"].as_str().unwrap().to_owned())
        .collect();
    let cancel = Cancel::default();
    let c = cancel.clone();
    let events: breakglass::engine::actions::Events = Arc::new(move |e| {
        if let ActionEvent::Step {
            status: StepStatus::Done,
            description,
            ..
        } = &e
            && description.starts_with("app1: recreate")
        {
            c.cancel();
        }
    });
    let err =
        s.v.engine
            .run_action(&s.v.name, confirmed(&spec(), Some(&s.v.name)), events, cancel)
            .await
            .unwrap_err();
    assert!(err.to_string().to_lowercase().contains("cancel"), "{err}");
    assert_back(&s, &before);
}

pub(super) fn assert_back(s: &Setup, before: &[String]) {
    for ((host, file, original, name), old_id) in s.hosts.iter().zip(before) {
        assert_eq!(
            &std::fs::read(file).unwrap(),
            original,
            "{host}'s .env is as it was"
        );
        let i = inspect(host, name);
        assert_eq!(i["Id"].as_str().unwrap(), old_id, "{host}: the old container");
        assert_eq!(i["State"]["Running"], true, "{host}");
        assert_eq!(env_value(&i, "JWT_SECRET"), Some(s.old.clone()));
        let all = docker(
            host,
            &[
                "ps",
                "-a",
                "--filter",
                &format!("name={name}"),
                "--format",
                "{{.Names}}",
            ],
        );
        assert_eq!(
            String::from_utf8_lossy(&all.stdout).trim(),
            name.as_str(),
            "{host}: nothing else left"
        );
    }
}

/// A login role of a test's own on the testbed's PostgreSQL (dropped at the end), its
/// first password, and psql logging in as it over TCP (scram-sha-256).
pub(super) struct TestRole {
    pub(super) name: String,
    pub(super) password: String,
}

impl TestRole {
    pub(super) fn new(tag: &str, log_statements: bool) -> Self {
        let pid = std::process::id();
        let (name, password) = (format!("rot_{tag}_{pid}"), format!("old-{tag}-password-{pid}"));
        let log = if log_statements {
            format!("ALTER ROLE {name} SET log_statement = 'all';")
        } else {
            String::new()
        };
        crate::testbed::psql(
            "postgres",
            &format!(
                "BEGIN; CREATE ROLE {name} LOGIN PASSWORD '{password}'; GRANT CONNECT ON DATABASE sandbox TO {name}; {log} COMMIT;"
            ),
            &[],
        );
        TestRole { name, password }
    }

    pub(super) fn url(&self, password: &str) -> String {
        format!(
            "postgres://{}:{password}@127.0.0.1:{}/sandbox",
            self.name,
            testbed().str("/postgres/port")
        )
    }

    /// POSTGRES_USER, POSTGRES_PASSWORD and DATABASE_URL for a `.env`.
    pub(super) fn env(&self) -> Vec<(String, String)> {
        vec![
            ("POSTGRES_USER".to_owned(), self.name.clone()),
            ("POSTGRES_PASSWORD".to_owned(), self.password.clone()),
            ("DATABASE_URL".to_owned(), self.url(&self.password)),
        ]
    }

    pub(super) fn login(&self, password: &str) -> std::process::Output {
        let tb = testbed();
        std::process::Command::new(format!("{}/psql", tb.str("/postgres/bin_dir")))
            .args([
                "-X",
                "-At",
                "-h",
                "127.0.0.1",
                "-p",
                &tb.str("/postgres/port"),
                "-U",
                &self.name,
                "-d",
                "sandbox",
                "-c",
                "SELECT 1",
            ])
            .env("PGPASSWORD", password)
            .output()
            .unwrap()
    }
}

impl Drop for TestRole {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(|| {
            crate::testbed::psql("postgres", &format!("DROP ROLE IF EXISTS {}", self.name), &[])
        });
    }
}

/// The database's password: PostgreSQL gets the new one as a SCRAM verifier computed by
/// the console, DATABASE_URL follows POSTGRES_PASSWORD on every host, the old password is
/// refused and the new one accepted, and neither is in PostgreSQL's log of the role's
/// statements (`log_statement = all`). On a role of this test's own.
#[tokio::test]
async fn the_database_password_is_rotated_with_a_verifier_and_the_old_one_refused() {
    let tb = testbed();
    let role = TestRole::new("pg", true);
    let old_pw = role.password.clone();
    let extra = role.env();
    let s = setup_with("db", ["true"; 3], &extra, &[]).await;
    let log = tb.str("/postgres/log");
    let log_start = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
    let spec = ActionSpec::RotateSecrets(RotateSecrets {
        vars: vec!["POSTGRES_PASSWORD".into()],
        ..Default::default()
    });
    let plan = s.v.engine.plan_action(&s.v.name, &spec).await.unwrap();
    assert!(plan.steps[0].starts_with("database: the role"), "{plan:#?}");
    assert!(
        plan.steps.iter().any(|x| x.starts_with("database: prove")),
        "{plan:#?}"
    );
    assert!(
        plan.warnings.iter().any(|w| w.starts_with("cut-over")),
        "{plan:#?}"
    );
    assert!(
        plan.warnings.iter().any(|w| w.contains("open connection")),
        "{plan:#?}"
    );

    let report =
        s.v.engine
            .run_action(
                &s.v.name,
                confirmed(&spec, Some(&s.v.name)),
                Arc::new(|_| {}),
                Cancel::default(),
            )
            .await
            .unwrap();
    assert!(report.verified, "{report:#?}");
    let text = std::fs::read_to_string(&s.hosts[0].1).unwrap();
    let env = EnvFile::parse(&text).unwrap();
    let new_pw = env.get("POSTGRES_PASSWORD").unwrap().expose().clone();
    assert_eq!(new_pw.len(), 64);
    for (host, file, original, name) in &s.hosts {
        let now = std::fs::read_to_string(file).unwrap();
        let want = String::from_utf8(original.clone())
            .unwrap()
            .replace(&old_pw, &new_pw);
        assert_eq!(
            now, want,
            "{host}: byte for byte but the password, in both variables"
        );
        let i = inspect(host, name);
        assert_eq!(env_value(&i, "DATABASE_URL"), Some(role.url(&new_pw)));
    }
    // PostgreSQL's own answer, through psql over TCP (scram-sha-256).
    let login = |pw: &str| role.login(pw);
    let old = login(&old_pw);
    assert!(!old.status.success(), "the old password still works");
    assert!(
        String::from_utf8_lossy(&old.stderr).contains("password authentication failed"),
        "{}",
        String::from_utf8_lossy(&old.stderr)
    );
    assert!(login(&new_pw).status.success(), "the new password is refused");
    // The role's statements were logged: neither password is there.
    let mut f = std::fs::File::open(&log).unwrap();
    use std::io::{Read, Seek};
    f.seek(std::io::SeekFrom::Start(log_start)).unwrap();
    let mut written = Vec::new();
    f.read_to_end(&mut written).unwrap();
    let logged = String::from_utf8_lossy(&written);
    assert!(
        logged.contains("ALTER ROLE") && logged.contains("SCRAM-SHA-256$4096:"),
        "the statement was logged: {logged}"
    );
    let secrets = vec![
        ("old".to_owned(), old_pw.clone()),
        ("new".to_owned(), new_pw.clone()),
    ];
    tb.assert_no_secret_in(&secrets, &written, "PostgreSQL's log");
    let journal = s.v.engine.journal().await.unwrap().entries(None).await.unwrap();
    tb.assert_no_secret_in(&secrets, format!("{journal:?}").as_bytes(), "the journal");
}

/// The console keeps the database's password in the keychain (`credentials =
/// "keychain"`; the `.env` copies hold POSTGRES_USER and DATABASE_URL, no
/// POSTGRES_PASSWORD): the role gets the new password, the keychain right after, the
/// DATABASE_URLs follow; the old password is refused, the keychain's accepted.
#[tokio::test]
async fn a_database_password_kept_in_the_keychain_is_rotated_there_too() {
    use breakglass::engine::keychain::DB_PASSWORD;
    use breakglass::engine::secret::Sensitive;
    let role = TestRole::new("kc", false);
    let extra: Vec<(String, String)> = role
        .env()
        .into_iter()
        .filter(|(k, _)| k != "POSTGRES_PASSWORD")
        .collect();
    let s = setup_with(
        "kcdb",
        ["true"; 3],
        &extra,
        &[(
            "credentials = \"env\"".to_owned(),
            "credentials = \"keychain\"".to_owned(),
        )],
    )
    .await;
    let kc = s.v.engine.keychain();
    kc.set(&s.v.name, DB_PASSWORD, Sensitive::new(role.password.clone()))
        .await
        .unwrap();
    let spec = ActionSpec::RotateSecrets(RotateSecrets {
        vars: vec!["POSTGRES_PASSWORD".into()],
        ..Default::default()
    });
    let plan = s.v.engine.plan_action(&s.v.name, &spec).await.unwrap();
    assert!(plan.steps[0].starts_with("database: the role"), "{plan:#?}");
    assert!(plan.steps[1].starts_with("keychain: "), "{plan:#?}");
    let report =
        s.v.engine
            .run_action(
                &s.v.name,
                confirmed(&spec, Some(&s.v.name)),
                Arc::new(|_| {}),
                Cancel::default(),
            )
            .await
            .unwrap();
    assert!(report.verified, "{report:#?}");
    let new = kc.get(&s.v.name, DB_PASSWORD).await.unwrap().expose().clone();
    assert_ne!(new, role.password);
    assert!(
        !role.login(&role.password).status.success(),
        "the old password is refused"
    );
    assert!(role.login(&new).status.success(), "the keychain's is accepted");
    for (host, file, ..) in &s.hosts {
        let env = EnvFile::parse(&std::fs::read_to_string(file).unwrap()).unwrap();
        assert_eq!(
            env.get("DATABASE_URL").unwrap().expose(),
            &role.url(&new),
            "{host}"
        );
        assert!(env.get("POSTGRES_PASSWORD").is_none());
    }
    let secrets = vec![
        ("old".to_owned(), role.password.clone()),
        ("new".to_owned(), new.clone()),
    ];
    let journal = s.v.engine.journal().await.unwrap().entries(None).await.unwrap();
    testbed().assert_no_secret_in(&secrets, format!("{journal:?}").as_bytes(), "the journal");
    testbed().assert_no_secret_in(&secrets, format!("{report:?}").as_bytes(), "the report");
    testbed().assert_none_in_dir(&secrets, s.v.dir.path());
}

/// Two alternating roles (`[database] alternating_users`): the idle one gets the new
/// password, every host moves to it (POSTGRES_USER, POSTGRES_PASSWORD, DATABASE_URL)
/// while the one in use keeps working — no cut-over, checked mid-roll — then the one in
/// use is retired: its old password refused, its new one the keychain's standby.
#[tokio::test]
async fn alternating_roles_rotate_without_a_cut_over() {
    use breakglass::engine::keychain::DB_STANDBY_PASSWORD;
    use breakglass::engine::secret::Sensitive;
    let (a, b) = (TestRole::new("alta", false), TestRole::new("altb", false));
    let users = format!("alternating_users = [\"{}\", \"{}\"]", a.name, b.name);
    let s = setup_with(
        "alt",
        ["true"; 3],
        &a.env(),
        &[(
            "credentials = \"env\"".to_owned(),
            format!("credentials = \"env\"\n{users}"),
        )],
    )
    .await;
    let kc = s.v.engine.keychain();
    let spec = ActionSpec::RotateSecrets(RotateSecrets {
        vars: vec!["POSTGRES_PASSWORD".into()],
        ..Default::default()
    });
    // Without the idle role's password in the keychain: refused, saying what to do.
    let e = s.v.engine.plan_action(&s.v.name, &spec).await.unwrap_err();
    assert!(e.to_string().contains(DB_STANDBY_PASSWORD), "{e}");
    kc.set(&s.v.name, DB_STANDBY_PASSWORD, Sensitive::new(b.password.clone()))
        .await
        .unwrap();
    let plan = s.v.engine.plan_action(&s.v.name, &spec).await.unwrap();
    assert!(
        plan.steps[0].contains(&format!("the idle role {}", b.name)),
        "{plan:#?}"
    );
    assert!(
        plan.warnings
            .iter()
            .any(|w| w.starts_with("alternating roles, no cut-over")),
        "{plan:#?}"
    );
    assert!(!plan.warnings.iter().any(|w| w.starts_with("cut-over")));
    // Mid-roll (app2's container recreated, app3 not yet): the role in use still works.
    let mid = Arc::new(Mutex::new(None));
    let (m, a_name, a_pw) = (mid.clone(), a.name.clone(), a.password.clone());
    let events: breakglass::engine::actions::Events = Arc::new(move |e| {
        if let ActionEvent::Step {
            status: StepStatus::Done,
            description,
            ..
        } = &e
            && description.starts_with("app2: recreate")
        {
            let role = TestRole {
                name: a_name.clone(),
                password: a_pw.clone(),
            };
            *m.lock().unwrap() = Some(role.login(&a_pw).status.success());
            std::mem::forget(role);
        }
    });
    let report =
        s.v.engine
            .run_action(
                &s.v.name,
                confirmed(&spec, Some(&s.v.name)),
                events,
                Cancel::default(),
            )
            .await
            .unwrap();
    assert!(report.verified, "{report:#?}");
    assert_eq!(*mid.lock().unwrap(), Some(true), "{} worked mid-roll", a.name);
    let env = EnvFile::parse(&std::fs::read_to_string(&s.hosts[0].1).unwrap()).unwrap();
    let new = env.get("POSTGRES_PASSWORD").unwrap().expose().clone();
    assert_ne!(new, a.password);
    assert_ne!(new, b.password);
    for (host, file, ..) in &s.hosts {
        let env = EnvFile::parse(&std::fs::read_to_string(file).unwrap()).unwrap();
        assert_eq!(env.get("POSTGRES_USER").unwrap().expose(), &b.name, "{host}");
        assert_eq!(env.get("POSTGRES_PASSWORD").unwrap().expose(), &new, "{host}");
        let want = b.url(&new);
        assert_eq!(env.get("DATABASE_URL").unwrap().expose(), &want, "{host}");
    }
    assert!(
        b.login(&new).status.success(),
        "{} takes the new password",
        b.name
    );
    assert!(
        !a.login(&a.password).status.success(),
        "{}'s old password is refused",
        a.name
    );
    let standby = kc
        .get(&s.v.name, DB_STANDBY_PASSWORD)
        .await
        .unwrap()
        .expose()
        .clone();
    assert!(
        a.login(&standby).status.success(),
        "the keychain's standby lets {} in",
        a.name
    );
    let secrets = vec![
        ("a (old)".to_owned(), a.password.clone()),
        ("b (old)".to_owned(), b.password.clone()),
        ("new".to_owned(), new.clone()),
        ("standby".to_owned(), standby.clone()),
    ];
    let journal = s.v.engine.journal().await.unwrap().entries(None).await.unwrap();
    testbed().assert_no_secret_in(&secrets, format!("{journal:?}").as_bytes(), "the journal");
    testbed().assert_none_in_dir(&secrets, s.v.dir.path());
}

/// A host that fails after the role changed: the role gets its old password back.
#[tokio::test]
async fn a_failed_database_rotation_gives_the_role_its_old_password_back() {
    let role = TestRole::new("pgf", false);
    let old_pw = role.password.clone();
    let extra = role.env();
    // app2's new container is unhealthy: its DATABASE_URL no longer holds the old one.
    let s = setup_with(
        "dbf",
        ["true", &format!("test \"$POSTGRES_PASSWORD\" = {old_pw}"), "true"],
        &extra,
        &[],
    )
    .await;
    let before: Vec<String> = s
        .hosts
        .iter()
        .map(|(h, .., n)| inspect(h, n)["Id"].as_str().unwrap().to_owned())
        .collect();
    let spec = ActionSpec::RotateSecrets(RotateSecrets {
        vars: vec!["POSTGRES_PASSWORD".into()],
        ..Default::default()
    });
    let err =
        s.v.engine
            .run_action(
                &s.v.name,
                confirmed(&spec, Some(&s.v.name)),
                Arc::new(|_| {}),
                Cancel::default(),
            )
            .await
            .unwrap_err();
    assert!(err.to_string().contains("app2"), "{err}");
    let login = |pw: &str| role.login(pw);
    assert!(login(&old_pw).status.success(), "the old password works again");
    for ((host, file, original, name), old_id) in s.hosts.iter().zip(&before) {
        assert_eq!(&std::fs::read(file).unwrap(), original, "{host}");
        assert_eq!(inspect(host, name)["Id"].as_str().unwrap(), old_id, "{host}");
    }
}

/// Redis's password: both accepted while the hosts roll (checked mid-roll with the old
/// one), then the old refused, the new accepted, REDIS_URL following on every host, and
/// the change written to Redis's own configuration file. On a Redis of this test's own.
#[tokio::test]
async fn the_redis_password_is_added_before_the_roll_and_the_old_removed_after() {
    let pid = std::process::id();
    let dir = tempfile::tempdir().unwrap();
    let port = crate::testbed::free_port();
    let old_pw = format!("old-redis-password-{pid}");
    let conf = dir.path().join("redis.conf");
    std::fs::write(
        &conf,
        format!(
            "port {port}\nbind 127.0.0.1\nrequirepass {old_pw}\nsave \"\"\nappendonly no\ndir {}\n",
            dir.path().display()
        ),
    )
    .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut redis = Kill(
        std::process::Command::new("redis-server")
            .arg(&conf)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let ping = move |pw: &str| {
        let out = std::process::Command::new("redis-cli")
            .args(["-p", &port.to_string(), "--no-auth-warning", "-a", pw, "ping"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    assert_eq!(ping(&old_pw), "PONG");
    let extra = vec![
        ("REDIS_PASSWORD".to_owned(), old_pw.clone()),
        (
            "REDIS_URL".to_owned(),
            format!("redis://:{old_pw}@127.0.0.1:{port}/0"),
        ),
    ];
    // This test's Redis instead of the sandbox's.
    let s = setup_with(
        "redis",
        ["true"; 3],
        &extra,
        &[("port = 26379".to_owned(), format!("port = {port}"))],
    )
    .await;
    let v = s.v.name.clone();
    let spec = ActionSpec::RotateSecrets(RotateSecrets {
        vars: vec!["REDIS_PASSWORD".into()],
        ..Default::default()
    });
    // A client of the test's own, connected and authenticated: the plan counts it.
    let mut client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    std::io::Write::write_all(&mut client, format!("AUTH {old_pw}\r\n").as_bytes()).unwrap();
    let mut ok = [0u8; 5];
    std::io::Read::read_exact(&mut client, &mut ok).unwrap();
    assert_eq!(&ok, b"+OK\r\n");
    let plan = s.v.engine.plan_action(&v, &spec).await.unwrap();
    drop(client);
    assert!(
        plan.warnings.iter().any(|w| w.starts_with(
            "redis: 1 client(s) connected as the default user now (1 from 127.0.0.1)"
        )),
        "{plan:#?}"
    );
    assert!(
        plan.steps[0].starts_with("redis: accept the new password"),
        "{plan:#?}"
    );
    assert!(
        plan.steps.iter().any(|x| x.starts_with("redis: refuse the old")),
        "{plan:#?}"
    );

    // Mid-roll, once app2's container runs the new password: the old one still works.
    let mid = Arc::new(Mutex::new(String::new()));
    let (m, o) = (mid.clone(), old_pw.clone());
    let events: breakglass::engine::actions::Events = Arc::new(move |e| {
        if let ActionEvent::Step {
            status: StepStatus::Done,
            description,
            ..
        } = &e
            && description.starts_with("app2: recreate")
        {
            *m.lock().unwrap() = ping(&o);
        }
    });
    let report =
        s.v.engine
            .run_action(&v, confirmed(&spec, Some(&v)), events, Cancel::default())
            .await
            .unwrap();
    assert!(report.verified, "{report:#?}");
    assert_eq!(
        *mid.lock().unwrap(),
        "PONG",
        "the old password worked during the roll"
    );
    let text = std::fs::read_to_string(&s.hosts[0].1).unwrap();
    let new_pw = EnvFile::parse(&text)
        .unwrap()
        .get("REDIS_PASSWORD")
        .unwrap()
        .expose()
        .clone();
    assert_eq!(new_pw.len(), 64);
    assert_ne!(ping(&old_pw), "PONG", "the old password is refused");
    assert_eq!(ping(&new_pw), "PONG");
    for (host, file, original, name) in &s.hosts {
        let now = std::fs::read_to_string(file).unwrap();
        let want = String::from_utf8(original.clone())
            .unwrap()
            .replace(&old_pw, &new_pw);
        assert_eq!(now, want, "{host}");
        assert_eq!(
            env_value(&inspect(host, name), "REDIS_URL"),
            Some(format!("redis://:{new_pw}@127.0.0.1:{port}/0"))
        );
    }
    let written = std::fs::read_to_string(&conf).unwrap();
    assert!(
        !written.contains(&old_pw),
        "the old password is gone from redis.conf"
    );
    // And a restart from that file keeps it so (Redis 7.0 kept `requirepass old` beside
    // the new user line until the step set requirepass too).
    let _ = redis.0.kill();
    let _ = redis.0.wait();
    redis = Kill(
        std::process::Command::new("redis-server")
            .arg(&conf)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    for _ in 0..100 {
        if ping(&new_pw) == "PONG" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(ping(&new_pw), "PONG", "after a restart");
    assert_ne!(ping(&old_pw), "PONG", "after a restart");
    drop(redis);
    let journal = s.v.engine.journal().await.unwrap().entries(None).await.unwrap();
    let secrets = vec![
        ("old".to_owned(), old_pw.clone()),
        ("new".to_owned(), new_pw.clone()),
    ];
    testbed().assert_no_secret_in(&secrets, format!("{journal:?}").as_bytes(), "the journal");
}

/// Redis goes down in the middle of the roll (after app1): removing the old password
/// fails, every host is undone, and the one undo Redis cannot take (its first step) is
/// journaled as not undone — not hidden. Restarted from its file, Redis has only the old
/// password, which every host uses again.
#[tokio::test]
async fn redis_down_mid_roll_undoes_the_hosts_and_says_what_it_could_not_undo() {
    let pid = std::process::id();
    let dir = tempfile::tempdir().unwrap();
    let port = crate::testbed::free_port();
    let old_pw = format!("old-redis-down-{pid}");
    let conf = dir.path().join("redis.conf");
    std::fs::write(
        &conf,
        format!(
            "port {port}\nbind 127.0.0.1\nrequirepass {old_pw}\nsave \"\"\nappendonly no\ndir {}\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let start = |conf: &std::path::Path| {
        std::process::Command::new("redis-server")
            .arg(conf)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let redis = Arc::new(Mutex::new(Some(start(&conf))));
    let ping = move |pw: &str| {
        let out = std::process::Command::new("redis-cli")
            .args(["-p", &port.to_string(), "--no-auth-warning", "-a", pw, "ping"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    for _ in 0..100 {
        if ping(&old_pw) == "PONG" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let extra = vec![
        ("REDIS_PASSWORD".to_owned(), old_pw.clone()),
        (
            "REDIS_URL".to_owned(),
            format!("redis://:{old_pw}@127.0.0.1:{port}/0"),
        ),
    ];
    let s = setup_with(
        "rdown",
        ["true"; 3],
        &extra,
        &[("port = 26379".to_owned(), format!("port = {port}"))],
    )
    .await;
    let before: Vec<String> = s
        .hosts
        .iter()
        .map(|(h, .., n)| inspect(h, n)["Id"].as_str().unwrap().to_owned())
        .collect();
    let r = redis.clone();
    let events: breakglass::engine::actions::Events = Arc::new(move |e| {
        if let ActionEvent::Step {
            status: StepStatus::Done,
            description,
            ..
        } = &e
            && description.starts_with("app1: recreate")
            && let Some(mut child) = r.lock().unwrap().take()
        {
            let _ = child.kill();
            let _ = child.wait();
        }
    });
    let spec = ActionSpec::RotateSecrets(RotateSecrets {
        vars: vec!["REDIS_PASSWORD".into()],
        ..Default::default()
    });
    let err =
        s.v.engine
            .run_action(
                &s.v.name,
                confirmed(&spec, Some(&s.v.name)),
                events,
                Cancel::default(),
            )
            .await
            .unwrap_err();
    assert!(!err.to_string().is_empty());
    // Every host as it was.
    for ((host, file, original, name), old_id) in s.hosts.iter().zip(&before) {
        assert_eq!(&std::fs::read(file).unwrap(), original, "{host}'s .env");
        assert_eq!(inspect(host, name)["Id"].as_str().unwrap(), old_id, "{host}");
    }
    // The journal says which undo could not be made: Redis's first step.
    let journal = s.v.engine.journal().await.unwrap().entries(None).await.unwrap();
    let failed: Vec<&serde_json::Value> = journal
        .iter()
        .filter(|e| e.kind == "action.undo.failed")
        .map(|e| &e.body)
        .collect();
    assert!(
        failed.iter().any(|b| b["step"] == 1),
        "step 1 (redis: accept the new password) is journaled as not undone: {failed:?}"
    );
    let finished = journal
        .iter()
        .rev()
        .find(|e| e.kind == "action.finished")
        .unwrap();
    let outcome = finished.body["outcome"].as_str().unwrap();
    assert!(outcome.contains("could NOT undo step(s) 1"), "{outcome}");
    // Redis, restarted from its file, has the old password only: what every host uses.
    let child = start(&conf);
    *redis.lock().unwrap() = Some(child);
    for _ in 0..100 {
        if ping(&old_pw) == "PONG" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(ping(&old_pw), "PONG");
    if let Some(mut c) = redis.lock().unwrap().take() {
        let _ = c.kill();
        let _ = c.wait();
    }
}
