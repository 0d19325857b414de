//! The first minutes of an incident, as the runbooks describe them (seed 001's
//! "Emergency Actions", seed 004's "If Compromised"): each action's plan counts what run
//! then changes, the effect is seen from outside through the sample app, a second run
//! has nothing to do, destructive runs need the name typed, and the journal records it
//! all and shows tampering.

mod audit_review;
mod cannot_be_fooled;
mod deployment_lock;
mod expire_sessions;
pub(crate) mod isolate;
mod journal;
mod lock_accounts;
mod profiles;
mod revoke_tokens;
mod rotate;
mod rotate_app;
mod rotate_faults;
mod rotate_ssh_key;
mod rotate_swarm;
mod runbook;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use breakglass::engine::actions::{ActionEvent, ActionSpec, Cancel, Confirmation, Events, RunRequest};
use serde_json::json;

use crate::testbed::{Variant, testbed};

/// The run of a request confirmed by typing `typed` (no plan digest: as a script does).
fn confirmed(spec: &ActionSpec, typed: Option<&str>) -> RunRequest {
    RunRequest::new(spec.clone(), typed.map(|t| Confirmation::new(t, None)))
}

fn quiet() -> Events {
    Arc::new(|_| {})
}

pub(crate) fn recording() -> (Events, Arc<Mutex<Vec<ActionEvent>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    (Arc::new(move |e| s.lock().unwrap().push(e)), seen)
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

fn web() -> String {
    testbed().web_urls()[0].1.clone()
}

async fn me_with_token(token: &str) -> u16 {
    http()
        .get(format!("{}/me", web()))
        .header("Authorization", format!("Token {token}"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn login(user: &str, password: &str) -> reqwest::Response {
    http()
        .post(format!("{}/login", web()))
        .json(&json!({"username": user, "password": password}))
        .send()
        .await
        .unwrap()
}

async fn run(v: &Variant, spec: &ActionSpec) -> breakglass::engine::actions::RunReport {
    v.engine
        .run_action(
            &v.name,
            confirmed(spec, Some(&v.name)),
            quiet(),
            Cancel::default(),
        )
        .await
        .unwrap()
}
