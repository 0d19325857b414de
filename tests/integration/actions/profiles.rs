//! The token, account and session actions under every built-in app profile, seen by the app.

use std::time::Duration;

use breakglass::engine::actions::{
    ActionSpec, ExpireSessions, LockAccounts, LockScope, RevokeTokens, TokenScope, UnlockAccounts,
};
use serde_json::json;

use super::{http, login, me_with_token, run};
use crate::testbed::{fresh_database, psql, test_user, testbed, variant};

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
                    let again = run(&v, &spec).await.outcome;
                    assert!(
                        again.starts_with("nothing to do, verified in"),
                        "{app} {area}: {again}"
                    );
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
        let port = crate::testbed::free_port();
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
    assert_eq!(
        run(&v, &spec).await.outcome,
        "nothing to do, verified in Redis only"
    );

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

#[tokio::test]
async fn an_app_profile_is_checked_against_the_live_schema_then_installed_and_used() {
    let v = variant("appcat", |t| t).await;
    let work = tempfile::tempdir().unwrap();
    let homechat = include_str!("../../../src-tauri/engine/profiles/apps/homechat.toml");
    let mine = homechat.replacen("name = \"homechat\"", "name = \"my-chat\"", 1);
    let good = work.path().join("my-chat.toml");
    std::fs::write(&good, &mine).unwrap();

    let check = v.engine.check_app_profile(&v.name, &good).await.unwrap();
    assert!(check.ok(), "{check:#?}");
    assert_eq!(
        check.items.len(),
        14,
        "every column the profile names: {check:#?}"
    );

    // A wrong type, a misspelt column and a missing table: each named.
    let broken_text = mine
        .replacen("active = \"active\"", "active = \"name\"", 1)
        .replacen(
            "locked_until = \"locked_until\"",
            "locked_until = \"lockd_until\"",
            1,
        )
        .replacen("table = \"sessions\"", "table = \"sessionz\"", 1);
    let broken = work.path().join("broken.toml");
    std::fs::write(&broken, &broken_text).unwrap();
    let check = v.engine.check_app_profile(&v.name, &broken).await.unwrap();
    let failed: Vec<(&str, &str)> = check
        .items
        .iter()
        .filter(|i| !i.ok)
        .map(|i| (i.key.as_str(), i.detail.as_str()))
        .collect();
    assert_eq!(
        failed,
        [
            ("users.locked_until", "no column lockd_until in public.users"),
            ("tokens.active", "is text; it must be a boolean"),
            ("sessions.user_id", "no table public.sessionz"),
        ],
        "{check:#?}"
    );
    let cli = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_breakglass"))
            .args(args)
            .env("BREAKGLASS_DATA_DIR", v.dir.path().join("state"))
            .output()
            .unwrap()
    };
    let out = cli(&["app", "check", &v.name, broken.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "it ran and found problems");
    assert!(String::from_utf8_lossy(&out.stdout).contains("FAIL tokens.active"));
    assert_eq!(
        cli(&["app", "check", &v.name, good.to_str().unwrap()])
            .status
            .code(),
        Some(0)
    );

    // Installed under its name; a built-in's name or a path-like name is refused.
    let (entry, replaced) = v.engine.add_app_profile(&good).unwrap();
    assert!(
        !replaced && entry.source.ends_with("apps/my-chat.toml"),
        "{entry:?}"
    );
    let list = cli(&["app", "list"]);
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(
        listed.contains("homechat") && listed.contains("my-chat"),
        "{listed}"
    );
    let as_builtin = work.path().join("homechat.toml");
    std::fs::write(&as_builtin, homechat).unwrap();
    assert_eq!(
        v.engine.add_app_profile(&as_builtin).unwrap_err().code(),
        "argument.invalid"
    );
    let pathlike = work.path().join("pathlike.toml");
    std::fs::write(
        &pathlike,
        homechat.replacen("name = \"homechat\"", "name = \"../x\"", 1),
    )
    .unwrap();
    assert_eq!(
        v.engine.add_app_profile(&pathlike).unwrap_err().code(),
        "argument.invalid"
    );

    // A deployment naming it plans with it.
    let profile = v.dir.path().join("profile.toml");
    let text = std::fs::read_to_string(&profile).unwrap();
    std::fs::write(
        &profile,
        text.replacen("app_profile = \"homechat\"", "app_profile = \"my-chat\"", 1),
    )
    .unwrap();
    v.engine.add_deployment(&profile).await.unwrap();
    let u = test_user("appcat");
    let plan = v
        .engine
        .plan_action(
            &v.name,
            &ActionSpec::RevokeTokens(RevokeTokens {
                scope: TokenScope::User(u.name.clone()),
            }),
        )
        .await
        .unwrap();
    assert_eq!(plan.count, 1);
}
