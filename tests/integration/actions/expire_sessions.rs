//! Expiring sessions: the app's session cookie stops working; Redis sessions are scanned and unlinked.

use breakglass::engine::actions::{ActionSpec, ExpireSessions};

use super::{http, login, run, web};
use crate::testbed::{fresh_database, test_user, testbed, variant};

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
    let text = include_str!("../../../src-tauri/engine/profiles/apps/rails-jwt.toml")
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
    assert_eq!(
        run(&v, &spec).await.outcome,
        "nothing to do, verified in Redis only"
    );
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
