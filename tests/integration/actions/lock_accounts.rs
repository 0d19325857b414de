//! Locking and unlocking accounts, seen through the app's login; a hostile username is only data.

use breakglass::engine::actions::{ActionSpec, LockAccounts, LockScope, UnlockAccounts};

use super::{login, me_with_token, run};
use crate::testbed::{psql, test_user, test_user_named, variant};

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
    assert_eq!(
        run(&v, &lock).await.outcome,
        "nothing to do, verified in the database only"
    );

    let unlock = ActionSpec::UnlockAccounts(UnlockAccounts {
        scope: LockScope::User(u.name.clone()),
    });
    assert_eq!(run(&v, &unlock).await.changed, 1);
    assert_eq!(login(&u.name, &u.password).await.status(), 200);
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
