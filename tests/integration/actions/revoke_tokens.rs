//! Revoking API tokens: planned, confirmed by the typed name, run, verified, journaled; also from the CLI.

use breakglass::engine::actions::{ActionSpec, Cancel, RevokeTokens, TokenScope};

use super::{confirmed, me_with_token, quiet, recording, run};
use crate::testbed::{test_user, testbed, variant};

#[tokio::test]
async fn revoking_a_users_tokens_is_planned_confirmed_run_verified_and_journaled() {
    let v = variant("revoke", |t| t).await;
    let victim = test_user("revoke_victim");
    let bystander = test_user("revoke_bystander");
    assert_eq!(me_with_token(&victim.token).await, 200);
    let spec = ActionSpec::RevokeTokens(RevokeTokens {
        scope: TokenScope::User(victim.name.clone()),
    });

    let plan = v.engine.plan_action(&v.name, &spec).await.unwrap();
    assert_eq!(plan.count, 1);
    assert!(
        plan.destructive && plan.summary.contains(&victim.name),
        "{plan:?}"
    );

    // Without the name typed, or with a near miss: refused, nothing changed.
    for wrong in [None, Some("Sandbox"), Some(" sandbox"), Some("")] {
        let wrong = wrong.map(|w| w.replace("sandbox", &v.name));
        let e = v
            .engine
            .run_action(
                &v.name,
                confirmed(&spec, wrong.as_deref()),
                quiet(),
                Cancel::default(),
            )
            .await
            .unwrap_err();
        assert_eq!(e.code(), "action.confirmation_required");
    }
    assert_eq!(
        me_with_token(&victim.token).await,
        200,
        "nothing changed before the confirmation"
    );

    let (events, seen) = recording();
    let report = v
        .engine
        .run_action(
            &v.name,
            confirmed(&spec, Some(&v.name)),
            events,
            Cancel::default(),
        )
        .await
        .unwrap();
    assert_eq!(report.changed, plan.count, "run changed what the plan counted");
    assert!(report.verified, "{}", report.verify_detail);
    let kinds: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|e| {
            serde_json::to_value(e).unwrap()["event"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(kinds, ["planned", "step", "step", "verified", "finished"]);

    // From outside: the app refuses the revoked token, and only that one.
    assert_eq!(me_with_token(&victim.token).await, 401);
    assert_eq!(me_with_token(&bystander.token).await, 200);

    // Again: nothing to do.
    let again = run(&v, &spec).await;
    assert_eq!(
        (again.outcome.as_str(), again.changed),
        ("nothing to do, verified in the database only", 0)
    );

    // The journal has it all and verifies; the database holds no secret.
    let entries = v.engine.journal().await.unwrap().entries(None).await.unwrap();
    let kinds: Vec<&str> = entries.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "action.planned",
            "action.step.started",
            "action.step.done",
            "action.verified",
            "action.finished",
            "action.nothing_to_do"
        ]
    );
    assert!(v.engine.journal().await.unwrap().verify().await.unwrap().ok);
    testbed().assert_no_secret_in_dir(v.dir.path());
}

#[tokio::test]
async fn the_cli_runs_an_action_with_confirm_and_refuses_a_wrong_name() {
    let v = variant("cliact", |t| t).await;
    let u = test_user("cliact");
    let cli = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_breakglass"))
            .args(["revoke-tokens", &v.name, "--user", &u.name])
            .args(extra)
            .env("BREAKGLASS_DATA_DIR", v.dir.path().join("state"))
            .output()
            .unwrap()
    };
    let dry = cli(&["--dry-run"]);
    assert!(String::from_utf8_lossy(&dry.stdout).contains("1 token(s)"));
    let wrong = cli(&["--confirm", "prod"]);
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("action.confirmation_required"));
    assert_eq!(me_with_token(&u.token).await, 200);
    let ok = cli(&["--confirm", &v.name]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("verify: ok"));
    assert_eq!(me_with_token(&u.token).await, 401);
}
