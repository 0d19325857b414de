//! PostgreSQL through the SSH tunnel, with credentials read from the remote `.env` at
//! the moment of use.

use crate::testbed::{testbed, variant};

#[tokio::test]
async fn a_query_goes_through_the_tunnel_with_credentials_from_the_remote_env() {
    let v = variant("db", |t| t).await;
    let db = v.engine.database(&v.name).await.unwrap();
    let (version, _) = db.ping().await.unwrap();
    assert!(version.starts_with("15"), "{version}");
    let (user, users): (String, i64) =
        sqlx::query_as("SELECT current_user::text, (SELECT count(*) FROM users)")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(user, "app", "logged in as the app's own role from POSTGRES_USER");
    assert!(users >= 6);

    // Four queries at once over the one SSH connection.
    let runs = (0..4).map(|i| {
        let pool = db.pool.clone();
        async move {
            sqlx::query_scalar::<_, i32>("SELECT $1")
                .bind(i)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    });
    assert_eq!(futures_util::future::join_all(runs).await, [0, 1, 2, 3]);
}

#[tokio::test]
async fn a_missing_env_file_is_a_clear_error() {
    let v = variant("noenv", |t| {
        t.replace("/hosts/app1/app/.env", "/hosts/app1/app/missing.env")
    })
    .await;
    let Err(e) = v.engine.database(&v.name).await else {
        panic!("a missing .env must fail")
    };
    assert_eq!(e.code(), "remote.read", "{e}");
    assert!(e.to_string().contains("missing.env"), "{e}");
    let _ = testbed();
}
