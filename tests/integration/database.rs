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
        sqlx::query_as("SELECT current_user::text, (SELECT count(*) FROM public.users)")
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

/// `SELECT ssl FROM pg_stat_ssl` of the connection: what the server saw.
async fn server_saw_tls(db: &breakglass::engine::db::RemoteDb) -> bool {
    sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

fn with_tls(text: String, tls: &str) -> String {
    assert!(
        text.contains("tls = \"disable\""),
        "the sandbox profile names its TLS mode"
    );
    text.replace("tls = \"disable\"", tls)
}

#[tokio::test]
async fn tls_is_run_end_to_end_through_the_tunnel_when_the_profile_asks() {
    let plain = variant("db-plain", |t| t).await;
    let db = plain.engine.database(&plain.name).await.unwrap();
    assert!(!server_saw_tls(&db).await, "tls = disable stays in clear");

    let require = variant("db-require", |t| with_tls(t, "tls = \"require\"")).await;
    let db = require.engine.database(&require.name).await.unwrap();
    assert!(server_saw_tls(&db).await, "tls = require: the server sees TLS");
    // Every pooled connection, not only the first, goes through TLS.
    let runs = (0..3).map(|_| {
        let pool = db.pool.clone();
        async move {
            let mut c = pool.acquire().await.unwrap();
            sqlx::query_scalar::<_, bool>("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
                .fetch_one(&mut *c)
                .await
                .unwrap()
        }
    });
    assert!(
        futures_util::future::join_all(runs)
            .await
            .into_iter()
            .all(|ssl| ssl)
    );

    let ca = testbed().str("/postgres/tls_ca");
    let verified = variant("db-verify", |t| {
        with_tls(t, &format!("tls = \"verify-full\"\nca_file = \"{ca}\""))
    })
    .await;
    let db = verified.engine.database(&verified.name).await.unwrap();
    assert!(server_saw_tls(&db).await);
    let named = variant("db-verify-name", |t| {
        with_tls(
            t,
            &format!("tls = \"verify-full\"\nca_file = \"{ca}\"\nserver_name = \"localhost\""),
        )
    })
    .await;
    assert!(server_saw_tls(&named.engine.database(&named.name).await.unwrap()).await);
}

#[tokio::test]
async fn a_certificate_that_does_not_verify_is_refused_with_the_reason() {
    // No ca_file: the system's roots do not know the testbed's CA.
    let v = variant("db-noca", |t| with_tls(t, "tls = \"verify-full\"")).await;
    let Err(e) = v.engine.database(&v.name).await else {
        panic!("an unknown CA must be refused")
    };
    assert_eq!(e.code(), "db.tls", "{e}");
    assert!(e.to_string().contains("database.ca_file"), "says what to do: {e}");

    // The right CA, but the certificate does not name this server.
    let ca = testbed().str("/postgres/tls_ca");
    let v = variant("db-wrongname", |t| {
        with_tls(
            t,
            &format!("tls = \"verify-full\"\nca_file = \"{ca}\"\nserver_name = \"db.example.com\""),
        )
    })
    .await;
    let Err(e) = v.engine.database(&v.name).await else {
        panic!("a certificate for another name must be refused")
    };
    assert_eq!(e.code(), "db.tls", "{e}");
    assert!(
        e.to_string().contains("db.example.com") && e.to_string().contains("server_name"),
        "{e}"
    );

    // A CA file that is not PEM.
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("ca.pem");
    std::fs::write(&junk, "not a certificate\n").unwrap();
    let v = variant("db-junkca", |t| {
        with_tls(
            t,
            &format!("tls = \"verify-full\"\nca_file = \"{}\"", junk.display()),
        )
    })
    .await;
    let Err(e) = v.engine.database(&v.name).await else {
        panic!("a CA file without certificates must be refused")
    };
    assert_eq!(e.code(), "db.tls", "{e}");
    assert!(e.to_string().contains("no usable CA certificate"), "{e}");
}

#[tokio::test]
async fn a_server_that_is_not_postgres_fails_the_tls_opening_clearly() {
    // The database port pointed at the sample app's HTTP port.
    let pg_port = testbed().str("/postgres/port");
    let v = variant("db-nottls", |t| {
        with_tls(t, "tls = \"require\"").replace(&format!("port = {pg_port}"), "port = 18081")
    })
    .await;
    let Err(e) = v.engine.database(&v.name).await else {
        panic!("an HTTP server is not PostgreSQL")
    };
    assert!(matches!(e.code().as_str(), "db.tls" | "db.tunnel"), "{e}");
    let text = e.to_string();
    for (name, secret) in testbed().secret_values() {
        assert!(!text.contains(&secret), "the error holds {name}: {text}");
    }
}
