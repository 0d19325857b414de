//! The deployment lock: a second responder is told who holds it and waits; a stale one is broken.

use std::time::Duration;

use breakglass::engine::Engine;
use breakglass::engine::actions::{
    ActionEvent, ActionSpec, Cancel, ExpireSessions, RevokeTokens, TokenScope,
};
use serde_json::json;

use super::{confirmed, quiet, recording};
use crate::testbed::{test_user, testbed, variant};

/// Two responders at once: the second is told who holds the deployment (as the holder's
/// console recorded it), waits, then runs. Whoever holds the app's leaked database
/// credentials cannot block it: the old advisory lock in the app's database means nothing.
#[tokio::test]
async fn a_second_responder_is_told_who_holds_the_deployment_and_waits() {
    let v = variant("lockwait", |t| t).await;
    let u = test_user("lockwait");
    let tb = testbed();
    let opts = sqlx::postgres::PgConnectOptions::new()
        .host("127.0.0.1")
        .port(tb.str("/postgres/port").parse().unwrap())
        .username("app")
        .password(&tb.env_of("app1")["POSTGRES_PASSWORD"])
        .database("sandbox")
        .application_name("breakglass mallory@attacker run abc");
    let mut attacker = sqlx::ConnectOptions::connect(&opts).await.unwrap();
    sqlx::query("SELECT pg_advisory_lock(hashtext($1))")
        .bind(format!("breakglass:{}", v.name))
        .execute(&mut attacker)
        .await
        .unwrap();

    // Another console (carol's) holds the lock on the deployment's first host.
    let holder = json!({
        "operator": "carol@other-laptop", "deployment": v.name, "run_id": "c4a01",
        "action": "lock-accounts", "pid": 1, "since": "2026-12-02T03:00:00Z"
    });
    let file = format!("~/.breakglass/locks/{}.lock", v.name);
    let take = format!("mkdir -p ~/.breakglass/locks && printf '%s' '{holder}' > {file}");
    assert!(v.engine.exec(&v.name, "app1", &take).await.unwrap().success());

    let (events, seen) = recording();
    let engine: Engine = v.engine.clone();
    let (name, spec) = (
        v.name.clone(),
        ActionSpec::RevokeTokens(RevokeTokens {
            scope: TokenScope::User(u.name.clone()),
        }),
    );
    let task = tokio::spawn(async move {
        engine
            .run_action(&name, confirmed(&spec, Some(&name)), events, Cancel::default())
            .await
    });
    let mut holder = None;
    for _ in 0..600 {
        holder = seen.lock().unwrap().iter().find_map(|e| match e {
            ActionEvent::Waiting { holder } => Some(holder.clone()),
            _ => None,
        });
        if holder.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let Some(holder) = holder else {
        let seen = format!("{:?}", seen.lock().unwrap());
        panic!(
            "the second responder was not told it waits; events {seen}; run {:?}",
            task.await
        );
    };
    assert!(
        holder.contains("carol@other-laptop") && holder.contains("c4a01"),
        "{holder}"
    );
    assert!(
        !holder.contains("mallory"),
        "the database's session names mean nothing: {holder}"
    );
    assert!(!task.is_finished(), "it waits while the other holds the lock");
    assert!(
        v.engine
            .exec(&v.name, "app1", &format!("rm {file}"))
            .await
            .unwrap()
            .success()
    );
    let report = task.await.unwrap().unwrap();
    assert_eq!(report.changed, 1);
    // Released: the lock file is gone, and the attacker's advisory lock never mattered.
    let left = v
        .engine
        .exec(&v.name, "app1", &format!("test -e {file}"))
        .await
        .unwrap();
    assert!(!left.success(), "the run released its lock");
    drop(attacker);
}

/// A lock wait gives up after its timeout and says who holds it; a stale lock (its
/// console died) can be broken on the record, a live one cannot.
#[tokio::test]
async fn a_lock_wait_times_out_and_a_stale_lock_is_broken_on_the_record() {
    let v = variant("lockstale", |t| t).await;
    let file = format!("~/.breakglass/locks/{}.lock", v.name);
    let holder = json!({
        "operator": "dave@gone", "deployment": v.name, "run_id": "dead1",
        "action": "isolate", "pid": 1, "since": "2026-12-02T03:00:00Z"
    });
    let take = format!("mkdir -p ~/.breakglass/locks && printf '%s' '{holder}' > {file}");
    assert!(v.engine.exec(&v.name, "app1", &take).await.unwrap().success());
    let spec = ActionSpec::ExpireSessions(ExpireSessions { user: None });
    let mut request = confirmed(&spec, Some(&v.name));
    request.lock_wait = Duration::from_secs(1);
    let e = v
        .engine
        .run_action(&v.name, request, quiet(), Cancel::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "lock.timeout", "{e}");
    assert!(e.to_string().contains("dave@gone"), "{e}");
    let e = v.engine.break_lock(&v.name, &v.name).await.unwrap_err();
    assert!(e.to_string().contains("live"), "a fresh lock is not broken: {e}");
    // Ten minutes without a heartbeat: stale.
    let age = format!("touch -d '10 minutes ago' {file}");
    assert!(v.engine.exec(&v.name, "app1", &age).await.unwrap().success());
    assert_eq!(
        v.engine.break_lock(&v.name, "wrong").await.unwrap_err().code(),
        "action.confirmation_required"
    );
    let broken = v.engine.break_lock(&v.name, &v.name).await.unwrap();
    assert_eq!(broken.operator, "dave@gone");
    let kinds: Vec<String> = v
        .engine
        .journal()
        .await
        .unwrap()
        .entries(None)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(
        kinds.ends_with(&["lock.breaking".into(), "lock.broken".into()]),
        "{kinds:?}"
    );
}
