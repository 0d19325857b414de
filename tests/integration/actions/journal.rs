//! The journal after actions: an edited entry is shown, an incident exports as Markdown and HTML.

use breakglass::engine::actions::{ActionSpec, ExpireSessions, RevokeTokens, TokenScope};

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
        .open_incident(&v.name, "Token leaked on a pastebin <script>")
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

/// An incident from the CLI, as a responder drives it: opened on the deployment, its
/// containment run (the entries go to it), a note, `show` saying when it was contained and
/// by which vantage, closed, and a report with the times. Nothing refused leaves a trace.
#[tokio::test]
async fn an_incident_is_opened_contained_noted_and_closed_from_the_cli() {
    let v = variant("incident", |t| t).await;
    let secrets = testbed().secret_values();
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_breakglass"))
            .args(args)
            .env("BREAKGLASS_DATA_DIR", v.dir.path().join("state"))
            .output()
            .unwrap();
        testbed().assert_no_secret_in(&secrets, &out.stdout, "incident stdout");
        testbed().assert_no_secret_in(&secrets, &out.stderr, "incident stderr");
        out
    };
    let text = |o: &std::process::Output| String::from_utf8_lossy(&o.stdout).into_owned();

    let unknown = cli(&["incident", "open", "no-such-deployment", "x"]);
    assert!(!unknown.status.success());
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("no-such-deployment"),
        "{}",
        String::from_utf8_lossy(&unknown.stderr)
    );
    let opened = cli(&["--json", "incident", "open", &v.name, "Leaked .env on a pastebin"]);
    assert!(
        opened.status.success(),
        "{}",
        String::from_utf8_lossy(&opened.stderr)
    );
    let inc: serde_json::Value = serde_json::from_slice(&opened.stdout).unwrap();
    let id = inc["id"].as_i64().unwrap().to_string();
    assert_eq!(inc["deployment"], v.name.as_str());
    let twice = cli(&["incident", "open", &v.name, "again"]);
    assert!(!twice.status.success());
    assert!(String::from_utf8_lossy(&twice.stderr).contains("already has an open incident"));

    let show = cli(&["--json", "incident", "show", &id]);
    let view: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    assert!(view["contained_at"].is_null() && view["containment"].as_array().unwrap().is_empty());

    let u = test_user("incident");
    run(
        &v,
        &ActionSpec::RevokeTokens(RevokeTokens {
            scope: TokenScope::User(u.name.clone()),
        }),
    )
    .await;
    run(
        &v,
        &ActionSpec::ExpireSessions(ExpireSessions {
            user: Some(u.name.clone()),
        }),
    )
    .await;
    assert!(
        cli(&[
            "incident",
            "note",
            &id,
            "Token came from a CI log; rotating next."
        ])
        .status
        .success()
    );
    let bad_note = cli(&["incident", "note", &id, "bell\u{7}"]);
    assert!(!bad_note.status.success());

    let show = cli(&["--json", "incident", "show", &id]);
    assert!(show.status.success());
    let view: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    let containment = view["containment"].as_array().unwrap();
    let actions: Vec<&str> = containment
        .iter()
        .map(|c| c["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["revoke-tokens", "expire-sessions"], "{view}");
    assert!(containment.iter().all(|c| c["state"] == "verified"), "{view}");
    assert!(
        view["contained_at"].is_string() && view["secs_to_contained"].is_u64(),
        "{view}"
    );
    let tones: Vec<&str> = view["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tone"].as_str().unwrap())
        .collect();
    assert_eq!(tones.first(), Some(&"info"));
    assert_eq!(tones.last(), Some(&"note"));
    let human = text(&cli(&["incident", "show", &id]));
    assert!(
        human.contains("contained  20") && human.contains("after opening") && human.contains("rotating next"),
        "{human}"
    );

    assert!(cli(&["incident", "close", &id]).status.success());
    let late = cli(&["incident", "note", &id, "too late"]);
    assert!(!late.status.success());
    let list = text(&cli(&["incident", "list"]));
    assert!(list.contains("closed") && list.contains(&v.name), "{list}");
    for format in ["md", "html"] {
        let out = cli(&["incident", "report", &id, "--format", format]);
        assert!(out.status.success());
        let report = text(&out);
        for want in [
            "Contained",
            "Closed",
            "after opening",
            "revoke-tokens",
            "expire-sessions",
            "rotating next",
            "verified, untampered",
        ] {
            assert!(
                report.contains(want),
                "{want} missing from the {format} report: {report}"
            );
        }
    }
    testbed().assert_no_secret_in_dir(v.dir.path());
}
