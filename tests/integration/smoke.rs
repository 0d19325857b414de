//! The testbed is a real deployment: each web container answers `/health` with the
//! security headers, a seeded user logs in, and the attempt lands in `audit_logs`.

use std::time::Duration;

use serde_json::{Value, json};

use crate::testbed::{testbed, unique_test_ip};

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[tokio::test]
async fn every_web_container_is_healthy_and_sends_security_headers() {
    for (container, url) in testbed().web_urls() {
        let r = http().get(format!("{url}/health")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{container}");
        let h = r.headers().clone();
        assert_eq!(
            h["x-app-node"],
            container.as_str(),
            "the answer comes from the container"
        );
        assert_eq!(h["x-frame-options"], "SAMEORIGIN");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert!(h.contains_key("content-security-policy"));
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            (
                body["status"].as_str(),
                body["db"].as_str(),
                body["redis"].as_str()
            ),
            (Some("ok"), Some("ok"), Some("ok"))
        );
    }
}

async fn login(url: &str, user: &str, password: &str, ip: &str) -> reqwest::Response {
    http()
        .post(format!("{url}/login"))
        .header("X-Forwarded-For", ip)
        .json(&json!({"username": user, "password": password}))
        .send()
        .await
        .unwrap()
}

async fn audit_actions(ip: &str) -> Vec<(String, String)> {
    let pg = testbed().pg().await;
    sqlx::query_as::<_, (String, String)>(
        "SELECT action, metadata->>'username' FROM audit_logs WHERE ip_address = $1::inet ORDER BY id",
    )
    .bind(ip)
    .fetch_all(&pg)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_seeded_user_logs_in_and_every_attempt_is_audited() {
    let (_, url) = &testbed().web_urls()[1];
    let ip = unique_test_ip();
    let password = testbed().user_password("alice");

    let bad = login(url, "alice", "not-her-password", &ip).await;
    assert_eq!(bad.status(), 401);

    let ok = login(url, "alice", &password, &ip).await;
    assert_eq!(ok.status(), 200);
    let cookie = ok.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.starts_with("_sandbox_session=") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    let body: Value = ok.json().await.unwrap();
    assert_eq!(body["user"], "alice");
    let jwt = body["jwt"].as_str().unwrap().to_owned();

    // The session cookie and the JWT both authenticate.
    let session = cookie.split(';').next().unwrap().to_owned();
    let me = http()
        .get(format!("{url}/me"))
        .header("Cookie", session)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let me = http()
        .get(format!("{url}/me"))
        .bearer_auth(&jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(me.json::<Value>().await.unwrap()["via"], "jwt");

    let actions = audit_actions(&ip).await;
    assert_eq!(
        actions,
        [
            ("login.failure".to_owned(), "alice".to_owned()),
            ("login.success".to_owned(), "alice".to_owned())
        ]
    );
}

#[tokio::test]
async fn a_locked_account_cannot_log_in() {
    let (_, url) = &testbed().web_urls()[0];
    let ip = unique_test_ip();
    let r = login(url, "carol", &testbed().user_password("carol"), &ip).await;
    assert_eq!(r.status(), 423);
    assert_eq!(
        audit_actions(&ip).await,
        [("login.locked".to_owned(), "carol".to_owned())]
    );
}

#[tokio::test]
async fn api_tokens_are_checked_against_their_active_flag() {
    let (_, url) = &testbed().web_urls()[2];
    let me = |token: &'static str| {
        let url = url.clone();
        async move {
            http()
                .get(format!("{url}/me"))
                .header("Authorization", format!("Token {token}"))
                .send()
                .await
                .unwrap()
        }
    };
    let ok = me("bgtok_alice_1").await;
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.json::<Value>().await.unwrap()["via"], "api_token");
    assert_eq!(me("bgtok_bob_revoked").await.status(), 401);
    assert_eq!(me("bgtok_no_such_token").await.status(), 401);
}

#[tokio::test]
async fn hostile_usernames_are_data() {
    let (_, url) = &testbed().web_urls()[0];
    let ip = unique_test_ip();
    let evil = "x' OR '1'='1'; DROP TABLE users; -- $(rm -rf /) `id` \u{1b}[31m";
    let r = login(url, evil, "whatever", &ip).await;
    assert_eq!(r.status(), 401);
    assert_eq!(
        audit_actions(&ip).await,
        [("login.failure".to_owned(), evil.to_owned())]
    );
    let pg = testbed().pg().await;
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&pg)
        .await
        .unwrap();
    assert!(users > 0);
}
