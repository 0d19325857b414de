//! Containment that cannot be fooled: the attacker holds the leaked `.env`, so they can
//! log in to the database as the app, change rows, roles and settings, and shape what
//! the server prints. Each test sets a trap a close read found (or one reproduced against
//! a deployment that is not the testbed) and checks that the console neither says
//! "contained", "verified" nor "nothing to do" when it is not.

use std::process::{Command, Output, Stdio};

use breakglass::engine::actions::{
    ActionSpec, ExpireSessions, Isolate, IsolateMode, LockAccounts, LockScope, RevokeTokens, TokenScope,
    UnlockAccounts, Vantage,
};
use breakglass::engine::keychain::{PROBE_PASSWORD, PROBE_TOKEN};
use breakglass::engine::secret::Sensitive;

use super::isolate::{Cleanup, docker_app3};
use super::{me_with_token, run};
use crate::testbed::{Variant, fresh_database, psql, test_user, testbed, variant};

/// A variant whose database is `db` (a fresh one, so that role settings and schema
/// changes stay out of every other test's way).
async fn on_database(tag: &str, db: &str) -> Variant {
    let db = db.to_owned();
    variant(tag, move |t| {
        t.replace("name = \"sandbox\"", &format!("name = \"{db}\""))
    })
    .await
}

/// The CLI against a variant's console state. Whatever it printed is scanned for the
/// deployment's secrets.
fn cli(v: &Variant, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_breakglass"))
        .args(args)
        .env("BREAKGLASS_DATA_DIR", v.dir.path().join("state"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let tb = testbed();
    let secrets = tb.secret_values();
    tb.assert_no_secret_in(&secrets, &out.stdout, &format!("the stdout of {args:?}"));
    tb.assert_no_secret_in(&secrets, &out.stderr, &format!("the stderr of {args:?}"));
    out
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn active_tokens(db: &str) -> i64 {
    psql(db, "SELECT count(*) FROM public.api_tokens WHERE active", &[])
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_search_path_decoy_does_not_hide_the_real_tokens() {
    let db = fresh_database("decoy");
    // What the app's own role can do with its leaked password: an empty look-alike table
    // first in its search_path.
    psql(
        &db,
        &format!(
            "SET ROLE app;
             CREATE SCHEMA decoy;
             CREATE TABLE decoy.api_tokens (LIKE public.api_tokens INCLUDING ALL);
             CREATE TABLE decoy.users (LIKE public.users INCLUDING ALL);
             ALTER ROLE app IN DATABASE {db} SET search_path = decoy, public;
             RESET ROLE;
             -- And, set by an administrator long before: a secret kept in a role setting.
             ALTER ROLE app IN DATABASE {db} SET app.jwt_secret = '{JWT_IN_SETTING}';"
        ),
        &[],
    );
    let v = on_database("decoy", &db).await;
    let active = active_tokens(&db);
    assert!(active > 100, "the fresh database has active tokens: {active}");
    let spec = ActionSpec::RevokeTokens(RevokeTokens {
        scope: TokenScope::All,
    });

    // The CLI's plan counts the real tokens and shows the role's setting.
    let dry = cli(&v, &["revoke-tokens", &v.name, "--all", "--dry-run"]);
    let out = text(&dry);
    assert!(dry.status.success(), "{out}");
    assert!(out.contains(&format!("{active} token(s)")), "{out}");
    assert!(
        out.contains("WARNING") && out.contains("search_path=decoy, public"),
        "{out}"
    );

    let plan = v.engine.plan_action(&v.name, &spec).await.unwrap();
    assert_eq!(plan.count, active, "not 0 from the decoy");
    assert!(
        plan.warnings
            .iter()
            .any(|w| w.contains("search_path=decoy, public")),
        "{:?}",
        plan.warnings
    );
    let report = run(&v, &spec).await;
    assert_eq!(report.changed, active);
    assert!(report.verified, "{}", report.verify_detail);
    assert_eq!(active_tokens(&db), 0, "every real token is revoked");
    assert_eq!(
        report.outcome, "done, verified in the database only",
        "no canary: it says whom it asked"
    );
    // A setting that is not about behaviour is named, its value never shown or kept.
    assert!(
        plan.warnings
            .iter()
            .any(|w| w.contains("app.jwt_secret=(value not shown)")),
        "{:?}",
        plan.warnings
    );
    assert!(!out.contains(JWT_IN_SETTING), "{out}");
    testbed().assert_none_in_dir(
        &[("a secret in a role setting".into(), JWT_IN_SETTING.into())],
        v.dir.path(),
    );
}

/// A secret an app keeps in a role setting (PostgREST's pattern).
const JWT_IN_SETTING: &str = "jwt-secret-kept-in-a-role-setting-42";

#[tokio::test]
async fn a_null_role_is_not_an_admin_and_a_brief_lockout_is_not_a_lock() {
    let db = fresh_database("nullrole");
    // As the table's owner (the app's role): a role that is NULL, and a member under a
    // one-minute brute-force lockout.
    psql(
        &db,
        "SET ROLE app;
         ALTER TABLE public.users ALTER COLUMN role DROP NOT NULL;
         ALTER TABLE public.users DROP CONSTRAINT IF EXISTS users_role_check;
         UPDATE public.users SET role = NULL WHERE username = 'alice';
         UPDATE public.users SET locked_until = now() + interval '1 minute' WHERE username = 'bob';",
        &[],
    );
    let v = on_database("nullrole", &db).await;
    let not_locked_for_2h = || -> Vec<String> {
        let rows = psql(
            &db,
            "SELECT username FROM public.users
             WHERE coalesce(role, '') <> 'admin'
               AND NOT coalesce(locked_until >= now() + interval '110 minutes', false)
             ORDER BY 1",
            &[],
        );
        rows.lines().map(str::to_owned).collect()
    };
    let before = not_locked_for_2h();
    assert!(
        before.contains(&"alice".to_owned()) && before.contains(&"bob".to_owned()),
        "{before:?}"
    );

    let dry = cli(
        &v,
        &["lock", &v.name, "--all-non-admin", "--for", "2h", "--dry-run"],
    );
    let out = text(&dry);
    assert!(
        out.contains(&format!("{} account(s)", before.len())),
        "alice (NULL role) and bob (locked one minute) are counted: {out}"
    );

    let spec = ActionSpec::LockAccounts(LockAccounts {
        scope: LockScope::AllNonAdmin,
        duration_secs: Some(7200),
    });
    let report = run(&v, &spec).await;
    assert_eq!(report.changed as usize, before.len());
    assert!(report.verified, "{}", report.verify_detail);
    assert!(not_locked_for_2h().is_empty(), "{:?}", not_locked_for_2h());
    let admins_locked = psql(
        &db,
        "SELECT count(*) FROM public.users WHERE role = 'admin' AND locked_until > now()",
        &[],
    );
    assert_eq!(admins_locked, "0", "admins keep their access");
    assert_eq!(
        run(&v, &spec).await.outcome,
        "nothing to do, verified in the database only"
    );
}

#[tokio::test]
async fn a_container_sharing_anothers_network_is_named_and_not_called_disconnected() {
    let v = variant("sharedns", |t| t).await;
    let pid = std::process::id();
    let (net, owner, sharer) = (
        format!("nsnet-{pid}"),
        format!("ns-owner-{pid}"),
        format!("ns-sharer-{pid}"),
    );
    let _cleanup = Cleanup(vec![
        vec!["rm".into(), "-f".into(), sharer.clone()],
        vec!["rm".into(), "-f".into(), owner.clone()],
        vec!["network".into(), "rm".into(), net.clone()],
    ]);
    docker_app3(&["network", "create", &net]).unwrap();
    let sleeper = |name: &str, network: &str| {
        docker_app3(&[
            "run",
            "-d",
            "--init",
            "--name",
            name,
            "--network",
            network,
            "--entrypoint",
            "/bin/busybox",
            "sandbox-app:latest",
            "sleep",
            "600",
        ])
        .unwrap();
    };
    sleeper(&owner, &net);
    sleeper(&sharer, &format!("container:{owner}"));

    // The sharer lists no network of its own, yet has all of the owner's.
    let disconnect = |c: &str| {
        ActionSpec::Isolate(Isolate {
            host: "app3".into(),
            container: c.to_owned(),
            mode: IsolateMode::Disconnect,
        })
    };
    let e = v
        .engine
        .plan_action(&v.name, &disconnect(&sharer))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "action.unavailable", "{e}");
    assert!(
        e.to_string().contains(&owner) && e.to_string().contains("network namespace"),
        "{e}"
    );
    // Isolating the owner cuts the sharer off too, and the plan says so.
    let plan = v.engine.plan_action(&v.name, &disconnect(&owner)).await.unwrap();
    assert_eq!(plan.count, 1);
    assert!(
        plan.warnings.iter().any(|w| w.contains(&sharer)),
        "{:?}",
        plan.warnings
    );
    // Stopping the sharer itself is what works.
    let stop = ActionSpec::Isolate(Isolate {
        host: "app3".into(),
        container: sharer.clone(),
        mode: IsolateMode::Stop,
    });
    let report = run(&v, &stop).await;
    assert!(report.verified, "{}", report.verify_detail);
    assert_eq!(report.verified_by, Some(Vantage::Docker));
}

/// A variant with a canary account: its password and token in this console's keychain.
async fn with_canary(tag: &str) -> (Variant, crate::testbed::TestUser) {
    let canary = test_user(&format!("canary_{tag}"));
    let user = canary.name.clone();
    let v = variant(tag, move |t| format!("{t}\n[probe]\nuser = \"{user}\"\n")).await;
    let kc = v.engine.keychain();
    kc.set(&v.name, PROBE_PASSWORD, Sensitive::new(canary.password.clone()))
        .await
        .unwrap();
    kc.set(&v.name, PROBE_TOKEN, Sensitive::new(canary.token.clone()))
        .await
        .unwrap();
    (v, canary)
}

#[tokio::test]
async fn the_app_itself_confirms_a_revoke_a_lock_and_an_expiry() {
    let (v, canary) = with_canary("probe").await;
    let user = || canary.name.clone();

    let revoke = ActionSpec::RevokeTokens(RevokeTokens {
        scope: TokenScope::User(user()),
    });
    let r = run(&v, &revoke).await;
    assert!(r.verified, "{}", r.verify_detail);
    assert_eq!(r.verified_by, Some(Vantage::App), "{}", r.verify_detail);
    assert_eq!(r.outcome, "done");
    assert!(
        r.verify_detail
            .contains("the app refuses the canary's API token (401)")
            && r.verify_detail.contains("accepted before the run"),
        "{}",
        r.verify_detail
    );

    // The session first (a lock would refuse the login that opens it). The canary has
    // a session of its own, so there is something to expire; the probe logs in once more
    // before the steps, and that session is expired with the rest.
    assert_eq!(super::login(&canary.name, &canary.password).await.status(), 200);
    let expire = ActionSpec::ExpireSessions(ExpireSessions { user: Some(user()) });
    let r = run(&v, &expire).await;
    assert!(r.verified, "{}", r.verify_detail);
    assert_eq!(r.verified_by, Some(Vantage::App), "{}", r.verify_detail);
    assert!(
        r.verify_detail.contains("refuses a session the canary opened"),
        "{}",
        r.verify_detail
    );

    let lock = ActionSpec::LockAccounts(LockAccounts {
        scope: LockScope::User(user()),
        duration_secs: Some(3600),
    });
    let r = run(&v, &lock).await;
    assert!(r.verified, "{}", r.verify_detail);
    assert_eq!(r.verified_by, Some(Vantage::App), "{}", r.verify_detail);
    assert!(
        r.verify_detail.contains("refuses the canary's login (423)"),
        "{}",
        r.verify_detail
    );

    // An unlock is checked in the database, and says so.
    let unlock = ActionSpec::UnlockAccounts(UnlockAccounts {
        scope: LockScope::User(user()),
    });
    let r = run(&v, &unlock).await;
    assert_eq!(r.outcome, "done, verified in the database only");

    // The canary's secrets never reach the console's files.
    testbed().assert_none_in_dir(
        &[
            ("canary password".into(), canary.password.clone()),
            ("canary token".into(), canary.token.clone()),
        ],
        v.dir.path(),
    );
    testbed().assert_no_secret_in_dir(v.dir.path());
}

#[tokio::test]
async fn a_token_moved_to_another_account_is_not_nothing_to_do() {
    let (v, canary) = with_canary("moved").await;
    let dormant = test_user("dormant");
    // The attacker re-assigns the canary's token to a dormant account: the database now
    // says the canary has no active token, while the token still works.
    psql(
        "sandbox",
        "UPDATE public.api_tokens SET user_id = (SELECT id FROM public.users WHERE username = :'to')
         WHERE token_digest = encode(sha256(convert_to(:'tok', 'UTF8')), 'hex')",
        &[("to", &dormant.name), ("tok", &canary.token)],
    );
    assert_eq!(me_with_token(&canary.token).await, 200);
    let spec = ActionSpec::RevokeTokens(RevokeTokens {
        scope: TokenScope::User(canary.name.clone()),
    });
    let plan = v.engine.plan_action(&v.name, &spec).await.unwrap();
    assert_eq!(plan.count, 0, "the database says there is nothing to revoke");
    let r = run(&v, &spec).await;
    assert!(!r.verified, "{r:?}");
    assert_eq!(r.outcome, "nothing to do by the plan, but verification failed");
    assert!(
        r.verify_detail.contains("still accepts the canary's API token")
            && r.verify_detail.contains("NOT contained"),
        "{}",
        r.verify_detail
    );
    // The CLI exits 1: it ran, and it is not contained.
    let out = cli(
        &v,
        &[
            "revoke-tokens",
            &v.name,
            "--user",
            &canary.name,
            "--confirm",
            &v.name,
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
}

#[tokio::test]
async fn hostile_server_text_reaches_the_terminal_made_visible() {
    let db = fresh_database("raise");
    // The table's owner adds a trigger whose error message clears the screen, paints
    // "CONTAINED" in green and rings the bell.
    psql(
        &db,
        r"SET ROLE app;
          CREATE FUNCTION public.refuse() RETURNS trigger LANGUAGE plpgsql AS $f$
          BEGIN RAISE EXCEPTION E'\x1b[2J\x1b[1;32mCONTAINED\x07 all good\r\nverify: ok'; END $f$;
          CREATE TRIGGER refuse BEFORE UPDATE ON public.api_tokens
              FOR EACH ROW EXECUTE FUNCTION public.refuse();",
        &[],
    );
    let v = on_database("raise", &db).await;
    // The plan names the trigger before anything runs.
    let spec = ActionSpec::RevokeTokens(RevokeTokens {
        scope: TokenScope::All,
    });
    let plan = v.engine.plan_action(&v.name, &spec).await.unwrap();
    assert!(
        plan.warnings
            .iter()
            .any(|w| w.contains("public.api_tokens has trigger(s) refuse")),
        "{:?}",
        plan.warnings
    );
    let out = cli(&v, &["revoke-tokens", &v.name, "--all", "--confirm", &v.name]);
    let bytes = [out.stdout.as_slice(), out.stderr.as_slice()].concat();
    assert!(!out.status.success(), "{}", text(&out));
    for raw in [0x1b_u8, 0x07, b'\r'] {
        assert!(
            !bytes.contains(&raw),
            "byte {raw:#x} reached the terminal: {}",
            text(&out)
        );
    }
    assert!(text(&out).contains("CONTAINED"), "{}", text(&out));
    assert!(
        !text(&out).lines().any(|l| l.trim() == "verify: ok"),
        "{}",
        text(&out)
    );
}

#[tokio::test]
async fn a_failed_login_without_an_ip_is_reported_not_an_abort() {
    let db = fresh_database("nullip");
    psql(
        &db,
        "INSERT INTO public.audit_logs (user_id, action, ip_address, metadata, created_at)
         VALUES (NULL, 'login.failure', NULL, '{}', now() - interval '5 minutes')",
        &[],
    );
    let v = on_database("nullip", &db).await;
    let review = v.engine.audit_review(&v.name, 3600).await.unwrap();
    assert!(
        review
            .failed_by_ip
            .iter()
            .any(|f| f.ip == breakglass::engine::review::audit::NO_IP && f.failures >= 1),
        "{:?}",
        review.failed_by_ip
    );
}

#[tokio::test]
async fn the_cli_behaves_like_a_unix_tool() {
    let v = variant("unix", |t| t).await;
    // A closed pipe ends the output quietly.
    let mut child = Command::new(env!("CARGO_BIN_EXE_breakglass"))
        .args(["audit", &v.name, "--since", "7d"])
        .env("BREAKGLASS_DATA_DIR", v.dir.path().join("state"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Read;
        let mut first = [0u8; 16];
        child.stdout.take().unwrap().read_exact(&mut first).unwrap();
        // stdout dropped here: the reader is gone, as with `| head -c 16`.
    }
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "{err}");
    assert_eq!(out.status.code(), Some(0), "{err}");

    // Durations and zoned times everywhere; a time without a zone is refused, exit 2.
    let ok = cli(&v, &["revoke-tokens", &v.name, "--since", "2h", "--dry-run"]);
    assert!(ok.status.success(), "{}", text(&ok));
    let ok = cli(
        &v,
        &[
            "revoke-tokens",
            &v.name,
            "--since",
            "2026-11-22T05:00:00+02:00",
            "--dry-run",
        ],
    );
    assert!(ok.status.success(), "{}", text(&ok));
    let zoneless = cli(
        &v,
        &[
            "revoke-tokens",
            &v.name,
            "--since",
            "2026-11-22T03:00:00",
            "--dry-run",
        ],
    );
    assert_eq!(zoneless.status.code(), Some(2), "{}", text(&zoneless));
    assert!(text(&zoneless).contains("no time zone"), "{}", text(&zoneless));
    let audit = cli(
        &v,
        &["audit", &v.name, "--since", "2026-11-22T03:00:00Z", "--json"],
    );
    assert!(audit.status.success(), "{}", text(&audit));

    // status: 0 all good, 1 when anything is down or failing (other tests may be
    // stopping a web container right now: the code must match what it printed).
    let st = cli(&v, &["status", &v.name]);
    let shown = text(&st);
    let degraded = ["DOWN", "FAIL", "unhealthy", "docker: ["]
        .iter()
        .any(|w| shown.contains(w));
    assert_eq!(st.status.code(), Some(i32::from(degraded)), "{shown}");
    let down = variant("unixdown", |t| t.replacen("port = 22203", "port = 9", 1)).await;
    let st = cli(&down, &["status", &down.name]);
    assert_eq!(st.status.code(), Some(1), "{}", text(&st));
    assert!(text(&st).contains("DOWN"), "{}", text(&st));
    // An unknown deployment: it could not run.
    let unknown = cli(&v, &["status", "no-such-deployment"]);
    assert_eq!(unknown.status.code(), Some(2), "{}", text(&unknown));
}

#[tokio::test]
async fn a_real_world_env_file_is_read_as_compose_reads_it() {
    // app1's .env as people write them: a PEM key in double quotes over several lines,
    // `export`, CRLF, a comment, and POSTGRES_PASSWORD set twice (the last one is real).
    let tb = testbed();
    let original = tb.host("app1")["env_file"].as_str().unwrap().to_owned();
    let env = tb.env_of("app1");
    let real_pw = env["POSTGRES_PASSWORD"].clone();
    let work = tempfile::tempdir().unwrap();
    let copy = work.path().join("app.env");
    let mut text = std::fs::read_to_string(&original).unwrap();
    text = format!(
        "# written by hand\r\nPOSTGRES_PASSWORD=not-the-real-one\r\nexport TLS_KEY=\"-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----\"\n{text}"
    );
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&format!("POSTGRES_PASSWORD=\"{real_pw}\" # the real one, last\n"));
    std::fs::write(&copy, text).unwrap();
    let (from, to) = (original.clone(), copy.display().to_string());
    let v = variant("envreal", move |t| t.replacen(&from, &to, 1)).await;

    let u = test_user("envreal");
    let spec = ActionSpec::RevokeTokens(RevokeTokens {
        scope: TokenScope::User(u.name.clone()),
    });
    let plan = v.engine.plan_action(&v.name, &spec).await.unwrap();
    assert_eq!(plan.count, 1);
    assert!(
        plan.warnings
            .iter()
            .any(|w| w.contains("POSTGRES_PASSWORD is set more than once")
                && w.contains("the last one is used")),
        "{:?}",
        plan.warnings
    );
    let report = run(&v, &spec).await;
    assert!(report.verified, "{}", report.verify_detail);
    assert_eq!(me_with_token(&u.token).await, 401);
    testbed().assert_no_secret_in_dir(v.dir.path());
}

#[tokio::test]
async fn a_restarting_container_is_not_already_stopped() {
    let v = variant("restarting", |t| t).await;
    let name = format!("crashloop-{}", std::process::id());
    let _cleanup = Cleanup(vec![vec!["rm".into(), "-f".into(), name.clone()]]);
    // Exits at once and is restarted for ever: between restarts Docker says "restarting".
    docker_app3(&[
        "run",
        "-d",
        "--restart",
        "always",
        "--name",
        &name,
        "--entrypoint",
        "/bin/busybox",
        "sandbox-app:latest",
        "false",
    ])
    .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        // Past a few restarts Docker waits seconds between them (the back-off doubles),
        // and the container is "restarting" nearly all the time.
        let state = docker_app3(&["inspect", "-f", "{{.State.Status}} {{.RestartCount}}", &name]).unwrap();
        let (status, count) = state.split_once(' ').unwrap_or_default();
        if status == "restarting" && count.parse::<u32>().unwrap_or(0) >= 5 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never seen restarting (last: {state})"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let isolate = |mode| {
        ActionSpec::Isolate(Isolate {
            host: "app3".into(),
            container: name.clone(),
            mode,
        })
    };
    let e = v
        .engine
        .plan_action(&v.name, &isolate(IsolateMode::Pause))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("restarting"), "{e}");
    let plan = v
        .engine
        .plan_action(&v.name, &isolate(IsolateMode::Stop))
        .await
        .unwrap();
    assert_eq!(
        plan.count, 1,
        "a restarting container is not already stopped: {plan:?}"
    );
    let report = run(&v, &isolate(IsolateMode::Stop)).await;
    assert!(report.verified, "{}", report.verify_detail);
}

#[tokio::test]
async fn a_host_without_docker_shows_no_docker_error() {
    let v = variant("nodocker", |t| {
        t.replacen("name = \"app3\"\n", "name = \"app3\"\ndocker = false\n", 1)
    })
    .await;
    let st = v.engine.status(&v.name).await.unwrap();
    let app3 = st.hosts.iter().find(|h| h.name == "app3").unwrap();
    assert!(app3.reachable);
    assert!(app3.docker_error.is_none() && app3.docker_version.is_none() && app3.containers.is_empty());
    let app1 = st.hosts.iter().find(|h| h.name == "app1").unwrap();
    assert!(app1.docker_version.is_some(), "the others are still asked");
}
