//! The journal after actions: an edited entry is shown, an incident exports as Markdown and HTML.

use breakglass::engine::actions::{ActionSpec, RevokeTokens, TokenScope};

use super::run;
use crate::testbed::{test_user, testbed, variant};

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
    sqlx::query(
        "UPDATE journal SET body = replace(body, '1 token', '0 token') WHERE kind = 'action.step.done'",
    )
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
