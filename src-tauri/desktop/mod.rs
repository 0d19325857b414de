//! The Tauri v2 window: commands and events that forward to the engine. No logic lives
//! here; a command is a line that calls the engine and maps its error to `{code, message}`.

use std::process::ExitCode;

use std::sync::Arc;

use crate::engine::actions::{
    ActionEvent, ActionSpec, Cancel, Confirmation, Events, Interrupted, Plan, RunReport, RunRequest,
};
use crate::engine::audit::AuditReview;
use crate::engine::journal::{Entry, Verification};
use crate::engine::keychain::SecretEntry;
use crate::engine::profiles::DeploymentSummary;
use crate::engine::secret::Sensitive;
use crate::engine::state::{KnownDeployment, TrustedKey};
use crate::engine::status::DeploymentStatus;
use crate::engine::{Engine, ErrorReport};

type CmdResult<T> = Result<T, ErrorReport>;

#[tauri::command]
async fn list_deployments(engine: tauri::State<'_, Engine>) -> CmdResult<Vec<KnownDeployment>> {
    Ok(engine.deployments().await?)
}

#[tauri::command]
async fn show_deployment(engine: tauri::State<'_, Engine>, name: String) -> CmdResult<DeploymentSummary> {
    Ok(engine.profile(&name).await?.summary())
}

#[tauri::command]
async fn deployment_status(engine: tauri::State<'_, Engine>, name: String) -> CmdResult<DeploymentStatus> {
    Ok(engine.status(&name).await?)
}

#[tauri::command]
async fn trust_host(
    engine: tauri::State<'_, Engine>,
    name: String,
    host: String,
    fingerprint: String,
) -> CmdResult<TrustedKey> {
    Ok(engine.trust_host(&name, &host, &fingerprint).await?)
}

/// Which keychain entries this deployment's profile uses, and whether each is set.
#[tauri::command]
async fn secret_status(engine: tauri::State<'_, Engine>, name: String) -> CmdResult<Vec<SecretEntry>> {
    Ok(engine.secret_entries(&name).await?)
}

/// Stores a value. It arrives once over IPC and goes straight to the keychain; nothing
/// returns it to the page.
#[tauri::command]
async fn secret_set(
    engine: tauri::State<'_, Engine>,
    name: String,
    entry: String,
    value: String,
) -> CmdResult<()> {
    Ok(engine
        .keychain()
        .set(&name, &entry, Sensitive::new(value))
        .await?)
}

#[tauri::command]
async fn secret_delete(engine: tauri::State<'_, Engine>, name: String, entry: String) -> CmdResult<bool> {
    Ok(engine.keychain().delete(&name, &entry).await?)
}

#[tauri::command]
async fn plan_action(engine: tauri::State<'_, Engine>, name: String, spec: ActionSpec) -> CmdResult<Plan> {
    Ok(engine.plan_action(&name, &spec).await?)
}

/// The cancels of the runs this window started, by the key the page gave each run.
#[derive(Default)]
struct Running(std::sync::Mutex<std::collections::HashMap<String, Cancel>>);

/// Runs an action; its events stream to the page that started it over `on_event` (a
/// channel of that page's own), so no other window sees them. `plan_digest` is the
/// digest of the plan the person confirmed.
// Tauri passes a command's arguments one by one, as the page names them.
#[allow(clippy::too_many_arguments)]
#[tauri::command]
async fn run_action(
    engine: tauri::State<'_, Engine>,
    running: tauri::State<'_, Running>,
    name: String,
    spec: ActionSpec,
    confirm: String,
    plan_digest: Option<String>,
    key: String,
    on_event: tauri::ipc::Channel<ActionEvent>,
) -> CmdResult<RunReport> {
    let events: Events = Arc::new(move |event| {
        let _ = on_event.send(event);
    });
    let cancel = Cancel::default();
    if let Ok(mut map) = running.0.lock() {
        map.insert(key.clone(), cancel.clone());
    }
    let request = RunRequest::new(spec, Some(Confirmation::new(confirm, plan_digest)));
    let result = engine.run_action(&name, request, events, cancel).await;
    if let Ok(mut map) = running.0.lock() {
        map.remove(&key);
    }
    Ok(result?)
}

/// Cancels a run this window started: the first call lets the current step finish and
/// undoes, a second stops at once. `false` when no such run is going.
#[tauri::command]
fn cancel_action(running: tauri::State<'_, Running>, key: String) -> bool {
    let cancel = running.0.lock().ok().and_then(|m| m.get(&key).cloned());
    cancel.map(|c| c.escalate()).is_some()
}

/// Runs that started and never finished (shown when the window opens).
#[tauri::command]
async fn interrupted_runs(engine: tauri::State<'_, Engine>) -> CmdResult<Vec<Interrupted>> {
    Ok(engine.interrupted_runs().await?)
}

#[tauri::command]
async fn audit_review(
    engine: tauri::State<'_, Engine>,
    name: String,
    since_secs: u64,
) -> CmdResult<AuditReview> {
    Ok(engine.audit_review(&name, since_secs).await?)
}

#[tauri::command]
async fn journal_entries(engine: tauri::State<'_, Engine>) -> CmdResult<(Vec<Entry>, Verification)> {
    let j = engine.journal().await?;
    Ok((j.entries(None).await?, j.verify().await?))
}

/// The invoke handler for every command of `commands.in` (the one list).
macro_rules! with_commands {
    ($($c:ident),* $(,)?) => {
        fn handler() -> impl Fn(tauri::ipc::Invoke) -> bool + Send + Sync + 'static {
            tauri::generate_handler![$($c),*]
        }

        /// The commands, by name (checked against what the page calls).
        #[cfg(test)]
        const COMMANDS: &[&str] = &[$(stringify!($c)),*];
    };
}
include!("commands.in");

/// Opens the window; returns when it is closed.
pub fn run() -> ExitCode {
    let engine = match tauri::async_runtime::block_on(Engine::open_default()) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error [{}]: {e}", e.code());
            return ExitCode::FAILURE;
        }
    };
    let result = tauri::Builder::default()
        .manage(engine)
        .manage(Running::default())
        .invoke_handler(handler())
        .run(tauri::generate_context!());
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: the window failed: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    /// The page calls only listed commands, and every listed command is called.
    #[test]
    fn the_page_calls_exactly_the_listed_commands() {
        let api = include_str!("../../ui/api.js");
        let mut called: Vec<&str> = api
            .split("invoke(\"")
            .skip(1) // what comes before the first call
            .filter_map(|rest| rest.split('"').next())
            .collect();
        called.sort_unstable();
        called.dedup();
        let mut listed = super::COMMANDS.to_vec();
        listed.sort_unstable();
        assert_eq!(called, listed);
        let capability = include_str!("../../capabilities/default.json");
        for c in super::COMMANDS {
            assert!(
                capability.contains(&format!("\"allow-{}\"", c.replace('_', "-"))),
                "{c}"
            );
        }
    }
}
