//! The first minutes of an incident, as the runbooks describe them (seed 001's
//! "Emergency Actions", seed 004's "If Compromised"): each action's plan counts what run
//! then changes, the effect is seen from outside through the sample app, a second run
//! has nothing to do, destructive runs need the name typed, and the journal records it
//! all and shows tampering.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use breakglass::engine::Engine;
use breakglass::engine::actions::{
    ActionEvent, ActionSpec, Cancel, Confirmation, Events, ExpireSessions, Isolate, IsolateMode,
    LockAccounts, LockScope, Restore, RevokeTokens, RunRequest, TokenScope, UnlockAccounts,
};

/// The run of a request confirmed by typing `typed` (no plan digest: as a script does).
fn confirmed(spec: &ActionSpec, typed: Option<&str>) -> RunRequest {
    RunRequest::new(spec.clone(), typed.map(|t| Confirmation::new(t, None)))
}
use serde_json::{Value, json};

use crate::testbed::{Variant, fresh_database, psql, test_user, test_user_named, testbed, variant};

fn quiet() -> Events {
    Arc::new(|_| {})
}

fn recording() -> (Events, Arc<Mutex<Vec<ActionEvent>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    (Arc::new(move |e| s.lock().unwrap().push(e)), seen)
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

fn web() -> String {
    testbed().web_urls()[0].1.clone()
}

async fn me_with_token(token: &str) -> u16 {
    http()
        .get(format!("{}/me", web()))
        .header("Authorization", format!("Token {token}"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn login(user: &str, password: &str) -> reqwest::Response {
    http()
        .post(format!("{}/login", web()))
        .json(&json!({"username": user, "password": password}))
        .send()
        .await
        .unwrap()
}

async fn run(v: &Variant, spec: &ActionSpec) -> breakglass::engine::actions::RunReport {
    v.engine
        .run_action(
            &v.name,
            confirmed(spec, Some(&v.name)),
            quiet(),
            Cancel::default(),
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn revoking_a_users_tokens_is_planned_confirmed_run_verified_and_journaled() {
    let v = variant("revoke", |t| t).await;
    let victim = test_user("revoke_victim");
    let bystander = test_user("revoke_bystander");
    assert_eq!(me_with_token(&victim.token).await, 200);
    let spec = ActionSpec::RevokeTokens(RevokeTokens {
        scope: TokenScope::User(victim.name.clone()),
    });

    let plan = v.engine.plan_action(&v.name, &spec).await.unwrap();
    assert_eq!(plan.count, 1);
    assert!(
        plan.destructive && plan.summary.contains(&victim.name),
        "{plan:?}"
    );

    // Without the name typed, or with a near miss: refused, nothing changed.
    for wrong in [None, Some("Sandbox"), Some(" sandbox"), Some("")] {
        let wrong = wrong.map(|w| w.replace("sandbox", &v.name));
        let e = v
            .engine
            .run_action(
                &v.name,
                confirmed(&spec, wrong.as_deref()),
                quiet(),
                Cancel::default(),
            )
            .await
            .unwrap_err();
        assert_eq!(e.code(), "action.confirmation_required");
    }
    assert_eq!(
        me_with_token(&victim.token).await,
        200,
        "nothing changed before the confirmation"
    );

    let (events, seen) = recording();
    let report = v
        .engine
        .run_action(
            &v.name,
            confirmed(&spec, Some(&v.name)),
            events,
            Cancel::default(),
        )
        .await
        .unwrap();
    assert_eq!(report.changed, plan.count, "run changed what the plan counted");
    assert!(report.verified, "{}", report.verify_detail);
    let kinds: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|e| {
            serde_json::to_value(e).unwrap()["event"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(kinds, ["planned", "step", "step", "verified", "finished"]);

    // From outside: the app refuses the revoked token, and only that one.
    assert_eq!(me_with_token(&victim.token).await, 401);
    assert_eq!(me_with_token(&bystander.token).await, 200);

    // Again: nothing to do.
    let again = run(&v, &spec).await;
    assert_eq!((again.outcome.as_str(), again.changed), ("nothing to do", 0));

    // The journal has it all and verifies; the database holds no secret.
    let entries = v.engine.journal().await.unwrap().entries(None).await.unwrap();
    let kinds: Vec<&str> = entries.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "action.planned",
            "action.step.started",
            "action.step.done",
            "action.verified",
            "action.finished",
            "action.nothing_to_do"
        ]
    );
    assert!(v.engine.journal().await.unwrap().verify().await.unwrap().ok);
    testbed().assert_no_secret_in_dir(v.dir.path());
}

#[tokio::test]
async fn the_journal_shows_an_edited_entry() {
    let v = variant("tamper", |t| t).await;
    let u = test_user("tamper");
    run(
        &v,
        &ActionSpec::RevokeTokens(RevokeTokens {
            scope: TokenScope::User(u.name.clone()),
        }),
    )
    .await;
    let cli = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_breakglass"))
            .args(args)
            .env("BREAKGLASS_DATA_DIR", v.dir.path().join("state"))
            .output()
            .unwrap()
    };
    assert!(cli(&["journal", "verify"]).status.success());

    // Someone with the file edits the outcome of a step.
    let db = v.dir.path().join("state/state.db");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite:{}", db.display()))
        .await
        .unwrap();
    sqlx::query("DROP TRIGGER journal_no_update")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("UPDATE journal SET body = replace(body, '1 token', '0 token') WHERE kind = 'action.step.done'")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let out = cli(&["journal", "verify"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("edited") && err.contains("journal.tampered"),
        "{err}"
    );
}

#[tokio::test]
async fn locking_a_user_stops_logins_and_unlocking_restores_them() {
    let v = variant("lock", |t| t).await;
    let u = test_user("lockme");
    assert_eq!(login(&u.name, &u.password).await.status(), 200);

    let lock = ActionSpec::LockAccounts(LockAccounts {
        scope: LockScope::User(u.name.clone()),
        duration_secs: Some(3600),
    });
    let plan = v.engine.plan_action(&v.name, &lock).await.unwrap();
    let report = run(&v, &lock).await;
    assert_eq!((plan.count, report.changed, report.verified), (1, 1, true));
    assert_eq!(
        login(&u.name, &u.password).await.status(),
        423,
        "the locked user cannot log in"
    );
    assert_eq!(me_with_token(&u.token).await, 423, "nor use a token");
    assert_eq!(run(&v, &lock).await.outcome, "nothing to do");

    let unlock = ActionSpec::UnlockAccounts(UnlockAccounts {
        scope: LockScope::User(u.name.clone()),
    });
    assert_eq!(run(&v, &unlock).await.changed, 1);
    assert_eq!(login(&u.name, &u.password).await.status(), 200);
}

#[tokio::test]
async fn expiring_a_users_sessions_logs_them_out() {
    let v = variant("expire", |t| t).await;
    let u = test_user("expire");
    let r = login(&u.name, &u.password).await;
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let me = || {
        http()
            .get(format!("{}/me", web()))
            .header("Cookie", cookie.clone())
            .send()
    };
    assert_eq!(me().await.unwrap().status(), 200);

    let spec = ActionSpec::ExpireSessions(ExpireSessions {
        user: Some(u.name.clone()),
    });
    let plan = v.engine.plan_action(&v.name, &spec).await.unwrap();
    assert_eq!(plan.count, 1);
    let report = run(&v, &spec).await;
    assert_eq!((report.changed, report.verified), (1, true));
    assert_eq!(
        me().await.unwrap().status(),
        401,
        "the session cookie no longer works"
    );
}

#[tokio::test]
async fn a_username_full_of_sql_and_shell_metacharacters_is_data() {
    let v = variant("evil", |t| t).await;
    let evil = format!(
        "x{}'); DROP TABLE users; -- $(touch /tmp/pwned) `id` \"; \\\\ %_*",
        std::process::id()
    );
    let u = test_user_named(&evil);
    let spec = ActionSpec::LockAccounts(LockAccounts {
        scope: LockScope::User(evil.clone()),
        duration_secs: None,
    });
    let plan = v.engine.plan_action(&v.name, &spec).await.unwrap();
    assert_eq!(plan.count, 1, "exactly that one account");
    assert_eq!(run(&v, &spec).await.changed, 1);
    assert_eq!(login(&u.name, &u.password).await.status(), 423);
    // The table is still there, with the seeded accounts and the hostile one (other
    // tests add users meanwhile, so no total is compared).
    let seeded = "SELECT count(*) FROM users WHERE username IN ('alice', 'bob', 'carol', 'mallory', 'admin')";
    assert_eq!(psql("sandbox", seeded, &[]), "5");
    assert_eq!(
        psql(
            "sandbox",
            "SELECT count(*) FROM users WHERE username = :'evil'",
            &[("evil", &evil)]
        ),
        "1"
    );
    assert!(!std::path::Path::new("/tmp/pwned").exists());
    run(
        &v,
        &ActionSpec::UnlockAccounts(UnlockAccounts {
            scope: LockScope::User(evil),
        }),
    )
    .await;
}

/// Scopes that change every row run on a database of their own, for every built-in app
/// profile: where the profile can do it, plan = run, verify passes and a second run is a
/// no-op; where it cannot, the refusal says why and what to do instead.
#[tokio::test]
async fn every_builtin_app_profile_does_what_it_can_and_says_why_not() {
    let db = fresh_database("profiles");
    for app in ["homechat", "harmonic", "rails-jwt", "crucible"] {
        let v = variant(&format!("app-{app}"), |t| {
            t.replace("app_profile = \"homechat\"", &format!("app_profile = \"{app}\""))
                .replace(
                    "port = 25432\nname = \"sandbox\"",
                    &format!("port = 25432\nname = \"{db}\""),
                )
        })
        .await;
        let specs = [
            (
                "tokens",
                ActionSpec::RevokeTokens(RevokeTokens {
                    scope: TokenScope::All,
                }),
            ),
            (
                "users",
                ActionSpec::LockAccounts(LockAccounts {
                    scope: LockScope::AllNonAdmin,
                    duration_secs: Some(600),
                }),
            ),
            (
                "sessions",
                ActionSpec::ExpireSessions(ExpireSessions { user: None }),
            ),
        ];
        for (area, spec) in specs {
            match v.engine.plan_action(&v.name, &spec).await {
                Ok(plan) => {
                    let report = run(&v, &spec).await;
                    assert_eq!(
                        report.changed, plan.count,
                        "{app} {area}: plan {} vs run {}",
                        plan.count, report.changed
                    );
                    assert!(report.verified, "{app} {area}: {}", report.verify_detail);
                    assert_eq!(run(&v, &spec).await.outcome, "nothing to do", "{app} {area}");
                }
                Err(e) => {
                    assert_eq!(e.code(), "action.unavailable", "{app} {area}: {e}");
                    let why = e.to_string();
                    let expected = match (app, area) {
                        ("harmonic", "sessions") => "SECRET_KEY_BASE",
                        ("rails-jwt", "tokens") => "JWT_SECRET",
                        ("crucible", "tokens") => "ROUNDTABLE_JWT_SECRET",
                        ("crucible", "users") => "ROUNDTABLE_COMMUNITY_AUTH_PASSWORD",
                        ("crucible", "sessions") => "ROUNDTABLE_JWT_REFRESH_SECRET",
                        other => panic!("{other:?} should be available: {why}"),
                    };
                    assert!(why.contains(expected), "{app} {area}: {why}");
                }
            }
        }
        // Admins are never in "all non-admin".
        let admins_locked = psql(
            &db,
            "SELECT count(*) FROM users WHERE role = 'admin' AND locked_until > now()",
            &[],
        );
        assert_eq!(admins_locked, "0", "{app}");
        psql(
            &db,
            "UPDATE users SET locked_until = NULL; UPDATE api_tokens SET active = true;",
            &[],
        );
    }
}

#[tokio::test]
async fn redis_sessions_are_scanned_and_unlinked() {
    let db = fresh_database("redis");
    let v = variant("redis", |t| {
        t.replace("app_profile = \"homechat\"", "app_profile = \"mine\"")
            .replace(
                "port = 25432\nname = \"sandbox\"",
                &format!("port = 25432\nname = \"{db}\""),
            )
    })
    .await;
    // A user-written app profile (the rails-jwt one, with a key pattern of this test's
    // own, so no other test's keys match), in the console's apps folder.
    // Outside "session:*", so the built-in rails-jwt profile run by another test at the
    // same time does not count these keys, nor this test its.
    let tag = format!("bgtest:t{}:session:*", std::process::id());
    let text = include_str!("../../src-tauri/engine/profiles/apps/rails-jwt.toml")
        .replace("name = \"rails-jwt\"", "name = \"mine\"")
        .replace("session:*", &tag);
    std::fs::create_dir_all(v.dir.path().join("state/apps")).unwrap();
    std::fs::write(v.dir.path().join("state/apps/mine.toml"), text).unwrap();

    let env = testbed().env_of("app1");
    let redis_cli = |args: &[&str]| {
        let out = std::process::Command::new("redis-cli")
            .args(["-p", &testbed().str("/redis/port")])
            .args(args)
            .env("REDISCLI_AUTH", &env["REDIS_PASSWORD"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let prefix = tag.trim_end_matches('*');
    for i in 0..1200 {
        redis_cli(&["SET", &format!("{prefix}{i}"), "1"]);
    }
    redis_cli(&["SET", "unrelated:key", "keep"]);
    let spec = ActionSpec::ExpireSessions(ExpireSessions { user: None });
    let plan = v.engine.plan_action(&v.name, &spec).await.unwrap();
    assert_eq!(plan.count, 1200);
    let report = run(&v, &spec).await;
    assert_eq!((report.changed, report.verified), (1200, true));
    assert_eq!(redis_cli(&["GET", "unrelated:key"]), "keep");
    assert_eq!(run(&v, &spec).await.outcome, "nothing to do");
    let e = v
        .engine
        .plan_action(
            &v.name,
            &ActionSpec::ExpireSessions(ExpireSessions {
                user: Some("alice".into()),
            }),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), "action.unavailable");
}

#[tokio::test]
async fn a_container_is_paused_and_stopped_then_restored() {
    let v = variant("isolate", |t| t).await;
    let name = format!("iso-{}", std::process::id());
    let sock = testbed().host("app3")["docker_socket"]
        .as_str()
        .unwrap()
        .to_owned();
    let docker = |args: &[&str]| {
        let out = std::process::Command::new("docker")
            .arg("-H")
            .arg(format!("unix://{sock}"))
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    docker(&[
        "run",
        "-d",
        "--init",
        "--name",
        &name,
        "--entrypoint",
        "/bin/busybox",
        "sandbox-app:latest",
        "sleep",
        "600",
    ]);
    let state = || docker(&["inspect", "-f", "{{.State.Status}}", &name]);

    for (mode, expected) in [(IsolateMode::Pause, "paused"), (IsolateMode::Stop, "exited")] {
        let spec = ActionSpec::Isolate(Isolate {
            host: "app3".into(),
            container: name.clone(),
            mode,
        });
        let report = run(&v, &spec).await;
        assert!(report.verified, "{}", report.verify_detail);
        assert_eq!(state(), expected);
        assert_eq!(run(&v, &spec).await.outcome, "nothing to do");
        let undo = ActionSpec::Restore(Restore {
            host: "app3".into(),
            container: name.clone(),
            mode,
            networks: vec![],
        });
        assert!(run(&v, &undo).await.verified);
        assert_eq!(state(), "running");
    }
    // Host networking cannot be disconnected: the refusal says what to do instead.
    let e = v
        .engine
        .plan_action(
            &v.name,
            &ActionSpec::Isolate(Isolate {
                host: "app3".into(),
                container: "web3".into(),
                mode: IsolateMode::Disconnect,
            }),
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("stop or pause"), "{e}");
    docker(&["rm", "-f", &name]);
}

/// Docker on app3, through its socket (the test's own view, not the console's).
fn docker_app3(args: &[&str]) -> Result<String, String> {
    let sock = testbed().host("app3")["docker_socket"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = std::process::Command::new("docker")
        .arg("-H")
        .arg(format!("unix://{sock}"))
        .args(args)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Removes the test's container and network, also when the test fails.
struct Cleanup(Vec<Vec<String>>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for args in &self.0 {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let _ = docker_app3(&args);
        }
    }
}

#[tokio::test]
async fn a_container_is_disconnected_from_its_network_and_reconnected() {
    let v = variant("disconnect", |t| t).await;
    let (net, name) = (
        format!("isonet-{}", std::process::id()),
        format!("isonet-c-{}", std::process::id()),
    );
    let _cleanup = Cleanup(vec![
        vec!["rm".into(), "-f".into(), name.clone()],
        vec!["network".into(), "rm".into(), net.clone()],
    ]);
    docker_app3(&["network", "create", &net]).unwrap();
    // A web server on that network only (busybox httpd), reachable from this machine
    // through the network's bridge.
    docker_app3(&[
        "run",
        "-d",
        "--init",
        "--name",
        &name,
        "--network",
        &net,
        "--entrypoint",
        "/bin/busybox",
        "sandbox-app:latest",
        "httpd",
        "-f",
        "-p",
        "8080",
        "-h",
        "/tmp",
    ])
    .unwrap();
    let ip = || {
        docker_app3(&[
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
            &name,
        ])
        .unwrap()
    };
    let answers = |ip: String| async move {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        client.get(format!("http://{ip}:8080/")).send().await.is_ok()
    };
    let before = ip();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !answers(before.clone()).await {
        assert!(
            std::time::Instant::now() < deadline,
            "{name} never answered on {before}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let spec = ActionSpec::Isolate(Isolate {
        host: "app3".into(),
        container: name.clone(),
        mode: IsolateMode::Disconnect,
    });
    let plan = v.engine.plan_action(&v.name, &spec).await.unwrap();
    assert_eq!(plan.sample, vec![net.clone()], "the plan names the network");
    let report = run(&v, &spec).await;
    assert!(report.verified, "{}", report.verify_detail);
    assert_eq!(ip(), "", "no network left");
    assert!(!answers(before.clone()).await, "unreachable once disconnected");
    assert_eq!(
        docker_app3(&["inspect", "-f", "{{.State.Status}}", &name]).unwrap(),
        "running",
        "disconnected, not stopped: its state is kept for the investigation"
    );
    assert_eq!(run(&v, &spec).await.outcome, "nothing to do");

    // Undo without naming the networks (as the window does): another console, with no
    // record of the disconnect, cannot guess them and says so; this one reads them from
    // its journal.
    let undo = ActionSpec::Restore(Restore {
        host: "app3".into(),
        container: name.clone(),
        mode: IsolateMode::Disconnect,
        networks: vec![],
    });
    let elsewhere = variant("disconnect-elsewhere", |t| t).await;
    let e = elsewhere
        .engine
        .plan_action(&elsewhere.name, &undo)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "action.unavailable", "{e}");
    assert!(e.to_string().contains("name the networks"), "{e}");
    let plan = v.engine.plan_action(&v.name, &undo).await.unwrap();
    assert_eq!(plan.sample, vec![net.clone()], "{plan:?}");
    let report = run(&v, &undo).await;
    assert!(report.verified, "{}", report.verify_detail);
    let after = ip();
    assert!(!after.is_empty());
    // The new endpoint takes a moment to forward on the bridge.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !answers(after.clone()).await {
        assert!(
            std::time::Instant::now() < deadline,
            "not reachable again on {after} after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(run(&v, &undo).await.outcome, "nothing to do");
}

/// Two responders at once: the second is told who holds the deployment (as the holder's
/// console recorded it), waits, then runs. Whoever holds the app's leaked database
/// credentials cannot block it: the old advisory lock in the app's database means nothing.
#[tokio::test]
async fn a_second_responder_is_told_who_holds_the_deployment_and_waits() {
    let v = variant("lockwait", |t| t).await;
    let u = test_user("lockwait");
    let tb = testbed();
    let opts = sqlx::postgres::PgConnectOptions::new()
        .host("127.0.0.1")
        .port(tb.str("/postgres/port").parse().unwrap())
        .username("app")
        .password(&tb.env_of("app1")["POSTGRES_PASSWORD"])
        .database("sandbox")
        .application_name("breakglass mallory@attacker run abc");
    let mut attacker = sqlx::ConnectOptions::connect(&opts).await.unwrap();
    sqlx::query("SELECT pg_advisory_lock(hashtext($1))")
        .bind(format!("breakglass:{}", v.name))
        .execute(&mut attacker)
        .await
        .unwrap();

    // Another console (carol's) holds the lock on the deployment's first host.
    let holder = json!({
        "operator": "carol@other-laptop", "deployment": v.name, "run_id": "c4a01",
        "action": "lock-accounts", "pid": 1, "since": "2026-12-02T03:00:00Z"
    });
    let file = format!("~/.breakglass/locks/{}.lock", v.name);
    let take = format!("mkdir -p ~/.breakglass/locks && printf '%s' '{holder}' > {file}");
    assert!(v.engine.exec(&v.name, "app1", &take).await.unwrap().success());

    let (events, seen) = recording();
    let engine: Engine = v.engine.clone();
    let (name, spec) = (
        v.name.clone(),
        ActionSpec::RevokeTokens(RevokeTokens {
            scope: TokenScope::User(u.name.clone()),
        }),
    );
    let task = tokio::spawn(async move {
        engine
            .run_action(&name, confirmed(&spec, Some(&name)), events, Cancel::default())
            .await
    });
    let mut holder = None;
    for _ in 0..600 {
        holder = seen.lock().unwrap().iter().find_map(|e| match e {
            ActionEvent::Waiting { holder } => Some(holder.clone()),
            _ => None,
        });
        if holder.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let Some(holder) = holder else {
        let seen = format!("{:?}", seen.lock().unwrap());
        panic!(
            "the second responder was not told it waits; events {seen}; run {:?}",
            task.await
        );
    };
    assert!(
        holder.contains("carol@other-laptop") && holder.contains("c4a01"),
        "{holder}"
    );
    assert!(
        !holder.contains("mallory"),
        "the database's session names mean nothing: {holder}"
    );
    assert!(!task.is_finished(), "it waits while the other holds the lock");
    assert!(
        v.engine
            .exec(&v.name, "app1", &format!("rm {file}"))
            .await
            .unwrap()
            .success()
    );
    let report = task.await.unwrap().unwrap();
    assert_eq!(report.changed, 1);
    // Released: the lock file is gone, and the attacker's advisory lock never mattered.
    let left = v
        .engine
        .exec(&v.name, "app1", &format!("test -e {file}"))
        .await
        .unwrap();
    assert!(!left.success(), "the run released its lock");
    drop(attacker);
}

/// A lock wait gives up after its timeout and says who holds it; a stale lock (its
/// console died) can be broken on the record, a live one cannot.
#[tokio::test]
async fn a_lock_wait_times_out_and_a_stale_lock_is_broken_on_the_record() {
    let v = variant("lockstale", |t| t).await;
    let file = format!("~/.breakglass/locks/{}.lock", v.name);
    let holder = json!({
        "operator": "dave@gone", "deployment": v.name, "run_id": "dead1",
        "action": "isolate", "pid": 1, "since": "2026-12-02T03:00:00Z"
    });
    let take = format!("mkdir -p ~/.breakglass/locks && printf '%s' '{holder}' > {file}");
    assert!(v.engine.exec(&v.name, "app1", &take).await.unwrap().success());
    let spec = ActionSpec::ExpireSessions(ExpireSessions { user: None });
    let mut request = confirmed(&spec, Some(&v.name));
    request.lock_wait = Duration::from_secs(1);
    let e = v
        .engine
        .run_action(&v.name, request, quiet(), Cancel::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "lock.timeout", "{e}");
    assert!(e.to_string().contains("dave@gone"), "{e}");
    let e = v.engine.break_lock(&v.name, &v.name).await.unwrap_err();
    assert!(e.to_string().contains("live"), "a fresh lock is not broken: {e}");
    // Ten minutes without a heartbeat: stale.
    let age = format!("touch -d '10 minutes ago' {file}");
    assert!(v.engine.exec(&v.name, "app1", &age).await.unwrap().success());
    assert_eq!(
        v.engine.break_lock(&v.name, "wrong").await.unwrap_err().code(),
        "action.confirmation_required"
    );
    let broken = v.engine.break_lock(&v.name, &v.name).await.unwrap();
    assert_eq!(broken.operator, "dave@gone");
    let kinds: Vec<String> = v
        .engine
        .journal()
        .await
        .unwrap()
        .entries(None)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(
        kinds.ends_with(&["lock.breaking".into(), "lock.broken".into()]),
        "{kinds:?}"
    );
}

#[tokio::test]
async fn the_audit_trail_shows_the_brute_force_and_the_success_that_followed() {
    let v = variant("audit", |t| t).await;
    // Two successes alike in everything (same IP, user and instant, as a bulk import
    // writes them) after two failures: two rows, two failures before each.
    let ip = crate::testbed::unique_test_ip();
    psql(
        "sandbox",
        "INSERT INTO audit_logs (user_id, action, ip_address, created_at)
         SELECT u.id, a.action, :'ip'::inet, now() - a.ago
           FROM users u, (VALUES ('login.failure', interval '20 minutes'),
                                 ('login.failure', interval '15 minutes'),
                                 ('login.success', interval '10 minutes'),
                                 ('login.success', interval '10 minutes')) AS a(action, ago)
          WHERE u.username = 'bob'",
        &[("ip", &ip)],
    );
    let ip = psql("sandbox", "SELECT host(:'ip'::inet)", &[("ip", &ip)]); // as PostgreSQL writes it
    let r = v.engine.audit_review(&v.name, 7 * 86400).await.unwrap();
    let twins: Vec<_> = r.success_after_failures.iter().filter(|s| s.ip == ip).collect();
    assert_eq!(twins.len(), 2, "{:?}", r.success_after_failures);
    assert!(
        twins.iter().all(|s| s.failures_before == 2 && s.user == "bob"),
        "{twins:?}"
    );
    let top: Vec<&str> = r.failed_by_ip.iter().take(2).map(|f| f.ip.as_str()).collect();
    assert!(
        top.contains(&"203.0.113.7") && top.contains(&"198.51.100.23"),
        "{:?}",
        r.failed_by_ip
    );
    let after = r
        .success_after_failures
        .iter()
        .find(|s| s.ip == "203.0.113.7")
        .expect("mallory's success after failures");
    assert_eq!(after.user, "mallory");
    assert_eq!(
        after.failures_before, 60,
        "the seeded burst: 60 failures in the 12 minutes before"
    );
    assert!(r.admin_actions.iter().all(|e| e.action.starts_with("admin.")) && !r.admin_actions.is_empty());
    assert!(r.new_tokens.iter().any(|e| e.user == "alice"));
    assert!(r.timeline.iter().map(|b| b.failures).sum::<i64>() > 0);
    let json: Value = serde_json::to_value(&r).unwrap();
    testbed().assert_no_secret_in(
        &testbed().secret_values(),
        json.to_string().as_bytes(),
        "the audit review",
    );
}

#[tokio::test]
async fn an_incident_exports_as_markdown_and_html() {
    let v = variant("report", |t| t).await;
    let inc = v
        .engine
        .journal()
        .await
        .unwrap()
        .open_incident("Token leaked on a pastebin <script>", "tester")
        .await
        .unwrap();
    let u = test_user("report");
    run(
        &v,
        &ActionSpec::RevokeTokens(RevokeTokens {
            scope: TokenScope::User(u.name.clone()),
        }),
    )
    .await;
    v.engine
        .journal()
        .await
        .unwrap()
        .close_incident(inc.id, "tester")
        .await
        .unwrap();
    for format in ["md", "html"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_breakglass"))
            .args(["journal", "export", &inc.id.to_string(), "--format", format])
            .env("BREAKGLASS_DATA_DIR", v.dir.path().join("state"))
            .output()
            .unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("revoke-tokens")
                && text.contains("verify passed")
                && text.contains("verified, untampered"),
            "{text}"
        );
        assert!(!text.contains("<script>"), "escaped in {format}");
        testbed().assert_no_secret_in(&testbed().secret_values(), text.as_bytes(), "the report");
    }
}

#[tokio::test]
async fn the_cli_runs_an_action_with_confirm_and_refuses_a_wrong_name() {
    let v = variant("cliact", |t| t).await;
    let u = test_user("cliact");
    let cli = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_breakglass"))
            .args(["revoke-tokens", &v.name, "--user", &u.name])
            .args(extra)
            .env("BREAKGLASS_DATA_DIR", v.dir.path().join("state"))
            .output()
            .unwrap()
    };
    let dry = cli(&["--dry-run"]);
    assert!(String::from_utf8_lossy(&dry.stdout).contains("1 token(s)"));
    let wrong = cli(&["--confirm", "prod"]);
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("action.confirmation_required"));
    assert_eq!(me_with_token(&u.token).await, 200);
    let ok = cli(&["--confirm", &v.name]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("verify: ok"));
    assert_eq!(me_with_token(&u.token).await, 401);
}

/// A sample-app container of the test's own on app1 (host network, a free port), with
/// its environment from app1's `.env` changed by `edit`; removed when dropped.
struct OwnWeb {
    sock: String,
    name: String,
    url: String,
}

impl OwnWeb {
    async fn start(tag: &str, edit: impl Fn(String) -> String) -> OwnWeb {
        let sock = testbed().host("app1")["docker_socket"]
            .as_str()
            .unwrap()
            .to_owned();
        let env_file = testbed().host("app1")["env_file"].as_str().unwrap().to_owned();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let env = dir.path().join("env");
        let text = edit(std::fs::read_to_string(&env_file).unwrap());
        std::fs::write(&env, format!("{text}\nPORT={port}\nBIND=127.0.0.1\n")).unwrap();
        let name = format!("{tag}-{}", std::process::id());
        let out = std::process::Command::new("docker")
            .arg("-H")
            .arg(format!("unix://{sock}"))
            .args([
                "run",
                "-d",
                "--init",
                "--network",
                "host",
                "--name",
                &name,
                "--env-file",
            ])
            .arg(&env)
            .args(["-e", &format!("APP_NODE={name}"), "sandbox-app:latest"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let web = OwnWeb {
            sock,
            name,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let up = http().get(format!("{}/health", web.url)).send().await;
            if up.is_ok_and(|r| r.status() == 200) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{} never became healthy",
                web.name
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        web
    }
}

impl Drop for OwnWeb {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker")
            .arg("-H")
            .arg(format!("unix://{}", self.sock))
            .args(["rm", "-f", &self.name])
            .output();
    }
}

#[tokio::test]
async fn each_builtin_profiles_actions_are_seen_by_the_app() {
    // Tokens and accounts: every built-in profile that has them, on the sandbox's own
    // database, each on a user of its own, observed through web1.
    for app in ["homechat", "harmonic", "rails-jwt"] {
        let v = variant(&format!("seen-{app}"), |t| {
            t.replace("app_profile = \"homechat\"", &format!("app_profile = \"{app}\""))
        })
        .await;
        let u = test_user(&format!("seen_{}", app.replace('-', "_")));
        if app != "rails-jwt" {
            assert_eq!(me_with_token(&u.token).await, 200, "{app}");
            let r = run(
                &v,
                &ActionSpec::RevokeTokens(RevokeTokens {
                    scope: TokenScope::User(u.name.clone()),
                }),
            )
            .await;
            assert_eq!((r.changed, r.verified), (1, true), "{app}");
            assert_eq!(
                me_with_token(&u.token).await,
                401,
                "{app}: the revoked token is refused"
            );
        }
        let lock = ActionSpec::LockAccounts(LockAccounts {
            scope: LockScope::User(u.name.clone()),
            duration_secs: Some(600),
        });
        let r = run(&v, &lock).await;
        assert_eq!((r.changed, r.verified), (1, true), "{app}");
        assert_eq!(
            login(&u.name, &u.password).await.status(),
            423,
            "{app}: locked out"
        );
        let unlock = ActionSpec::UnlockAccounts(UnlockAccounts {
            scope: LockScope::User(u.name.clone()),
        });
        assert_eq!(run(&v, &unlock).await.changed, 1, "{app}");
        assert_eq!(login(&u.name, &u.password).await.status(), 200, "{app}: back in");
    }

    // Sessions in Redis (rails-jwt's frontend): a web container of this test's own keeps
    // them in a Redis database of its own, so that no other test's keys are in scope.
    let redis_db = 1 + std::process::id() % 15;
    let web = OwnWeb::start("redis-sessions", |env| {
        let env = env.replace("SESSION_STORE=db", "SESSION_STORE=redis");
        let at = env.find("REDIS_URL=").unwrap();
        let end = env[at..].find('\n').map_or(env.len(), |e| at + e);
        let url = &env[at..end];
        let (base, _) = url.rsplit_once('/').unwrap();
        format!("{}{base}/{redis_db}{}", &env[..at], &env[end..])
    })
    .await;
    let v = variant("seen-redis", |t| {
        t.replace("app_profile = \"homechat\"", "app_profile = \"rails-jwt\"")
            .replace(
                "password_env = \"REDIS_PASSWORD\"",
                &format!("password_env = \"REDIS_PASSWORD\"\ndatabase = {redis_db}"),
            )
    })
    .await;
    let u = test_user("seen_redis");
    let r = http()
        .post(format!("{}/login", web.url))
        .json(&json!({"username": u.name, "password": u.password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let me = || async {
        http()
            .get(format!("{}/me", web.url))
            .header("Cookie", cookie.clone())
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(me().await, 200, "the session works before");

    let spec = ActionSpec::ExpireSessions(ExpireSessions { user: None });
    let plan = v.engine.plan_action(&v.name, &spec).await.unwrap();
    assert!(plan.count >= 1, "{plan:?}");
    let report = run(&v, &spec).await;
    assert_eq!(
        (report.changed, report.verified),
        (plan.count, true),
        "{}",
        report.verify_detail
    );
    assert_eq!(me().await, 401, "the Redis session no longer works");
    assert_eq!(run(&v, &spec).await.outcome, "nothing to do");

    // A database number the server does not have is refused, and says which command.
    let bad = variant("seen-redis-bad", |t| {
        t.replace("app_profile = \"homechat\"", "app_profile = \"rails-jwt\"")
            .replace(
                "password_env = \"REDIS_PASSWORD\"",
                "password_env = \"REDIS_PASSWORD\"\ndatabase = 999",
            )
    })
    .await;
    let e = bad.engine.plan_action(&bad.name, &spec).await.unwrap_err();
    assert_eq!(e.code(), "redis.refused", "{e}");
    assert!(e.to_string().contains("SELECT"), "{e}");
}
