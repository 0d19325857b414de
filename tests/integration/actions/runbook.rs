//! Runbooks from the CLI: seed 001's emergency actions as one guided sequence on a
//! database of its own, inside an incident; a wrong confirmation stops it at step 1 with
//! nothing changed; missing parameters and broken runbook files are refused before
//! anything is journaled.

use crate::testbed::{fresh_database, psql, testbed, variant};

#[tokio::test]
async fn the_emergency_runbook_contains_the_incident_step_by_step() {
    let db = fresh_database("runbook");
    let v = variant("runbook", |t| {
        t.replace(
            "port = 25432\nname = \"sandbox\"",
            &format!("port = 25432\nname = \"{db}\""),
        )
    })
    .await;
    let secrets = testbed().secret_values();
    let state = v.dir.path().join("state");
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_breakglass"))
            .args(args)
            .env("BREAKGLASS_DATA_DIR", &state)
            .current_dir(v.dir.path())
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        testbed().assert_no_secret_in(&secrets, &out.stdout, "runbook stdout");
        testbed().assert_no_secret_in(&secrets, &out.stderr, "runbook stderr");
        out
    };
    let err = |o: &std::process::Output| String::from_utf8_lossy(&o.stderr).into_owned();
    let count = |q: &str| psql(&db, q, &[]);
    let active = || count("SELECT count(*) FROM api_tokens WHERE active");
    assert_ne!(active(), "0");

    let list = cli(&["runbook", "list"]);
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(
        text.contains("emergency") && text.contains("compromised") && text.contains("seed 001"),
        "{text}"
    );

    let opened = cli(&["--json", "incident", "open", &v.name, "Leaked .env"]);
    assert!(opened.status.success(), "{}", err(&opened));
    let id = serde_json::from_slice::<serde_json::Value>(&opened.stdout).unwrap()["id"]
        .as_i64()
        .unwrap()
        .to_string();

    // Refusals before anything runs: a missing parameter, a step out of range.
    let missing = cli(&["runbook", "run", &v.name, "compromised", "--confirm", &v.name]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(err(&missing).contains("missing host"), "{}", err(&missing));
    let far = cli(&["runbook", "run", &v.name, "emergency", "--from", "9"]);
    assert!(
        !far.status.success() && err(&far).contains("steps 1 to 3"),
        "{}",
        err(&far)
    );

    // A wrong name typed: step 1 refuses, nothing changes, the stop is journaled.
    let wrong = cli(&["runbook", "run", &v.name, "emergency", "--confirm", "prod"]);
    assert_eq!(wrong.status.code(), Some(2), "{}", err(&wrong));
    assert!(err(&wrong).contains("stopped at step 1 of 3"), "{}", err(&wrong));
    assert_ne!(active(), "0", "a refused confirmation changed nothing");

    let ran = cli(&["runbook", "run", &v.name, "emergency", "--confirm", &v.name]);
    let out = String::from_utf8_lossy(&ran.stdout);
    assert!(ran.status.success(), "{out}{}", err(&ran));
    for want in [
        "Step 1 of 3: Disable all API tokens",
        "Step 3 of 3: Force all sessions to expire",
        "Runbook emergency done",
    ] {
        assert!(out.contains(want), "{want} missing: {out}");
    }
    assert_eq!(active(), "0");
    assert_eq!(
        count(
            "SELECT count(*) FROM users WHERE role <> 'admin' AND (locked_until IS NULL OR locked_until < now() + interval '23 hours')"
        ),
        "0"
    );
    assert_eq!(
        count("SELECT count(*) FROM users WHERE role = 'admin' AND locked_until > now()"),
        "0"
    );
    assert_eq!(
        count("SELECT count(*) FROM sessions WHERE expires_at > now()"),
        "0"
    );

    let show = cli(&["--json", "incident", "show", &id]);
    let view: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    let actions: Vec<&str> = view["containment"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["revoke-tokens", "lock-accounts", "expire-sessions"],
        "{view}"
    );
    assert!(
        view["containment"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["state"] == "verified"),
        "{view}"
    );
    assert!(view["contained_at"].is_string(), "{view}");
    let kinds: Vec<&str> = view["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "runbook.started").count(),
        2,
        "{kinds:?}"
    );
    let steps: Vec<&serde_json::Value> = view["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["kind"] == "runbook.step")
        .collect();
    assert_eq!(steps.len(), 4, "one refused, three done: {steps:?}");
    assert_eq!(steps[0]["tone"], "failed");
    assert!(
        steps[1..]
            .iter()
            .all(|s| s["what"].as_str().unwrap().contains(": done")),
        "{steps:?}"
    );

    // The report step of the compromised runbook writes the report where asked (resumed
    // at its last step: nothing else runs).
    let report = cli(&[
        "runbook",
        "run",
        &v.name,
        "compromised",
        "--set",
        "host=app2",
        "--set",
        "container=web2",
        "--from",
        "6",
        "--report-dir",
        v.dir.path().to_str().unwrap(),
    ]);
    assert!(report.status.success(), "{}", err(&report));
    let md = std::fs::read_to_string(v.dir.path().join(format!("incident-{id}.md"))).unwrap();
    assert!(
        md.contains("Contained") && md.contains("runbook emergency"),
        "{md}"
    );
    assert!(v.dir.path().join(format!("incident-{id}.html")).exists());

    // A user's runbook is listed; a broken one is named, with the reason.
    let dir = state.join("runbooks");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("tokens.toml"),
        "name = \"tokens-only\"\ntitle = \"Tokens only\"\n[[steps]]\ntitle = \"Revoke\"\naction = { action = \"revoke-tokens\", scope = { kind = \"all\" } }\n",
    )
    .unwrap();
    let list = cli(&["runbook", "list"]);
    assert!(String::from_utf8_lossy(&list.stdout).contains("tokens-only"));
    std::fs::write(
        dir.join("broken.toml"),
        "name = \"b\"\ntitle = \"t\"\n[[steps]]\ntitle = \"x\"\naction = { action = \"drop-database\" }\n",
    )
    .unwrap();
    let broken = cli(&["runbook", "list"]);
    assert_eq!(broken.status.code(), Some(2));
    assert!(
        err(&broken).contains("broken.toml") && err(&broken).contains("step 1"),
        "{}",
        err(&broken)
    );

    let verify = cli(&["journal", "verify"]);
    assert!(verify.status.success(), "{}", err(&verify));
    testbed().assert_no_secret_in_dir(v.dir.path());
}
