//! The Tauri v2 window: commands and events that forward to the engine. No logic lives
//! here; a command is a line that calls the engine and maps its error to `{code, message}`.

use std::process::ExitCode;

use std::sync::Arc;

use crate::engine::actions::{ActionSpec, Cancel, Events, Plan, RunReport};
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

/// Runs an action; its events stream as `action-event` with the caller's `key`, so the
/// page subscribes before the run starts.
#[tauri::command]
async fn run_action(
    app: tauri::AppHandle,
    engine: tauri::State<'_, Engine>,
    name: String,
    spec: ActionSpec,
    confirm: String,
    key: String,
) -> CmdResult<RunReport> {
    use tauri::Emitter;
    let events: Events = Arc::new(move |event| {
        let _ = app.emit("action-event", serde_json::json!({ "key": key, "event": event }));
    });
    Ok(engine
        .run_action(&name, &spec, Some(&confirm), events, Cancel::default())
        .await?)
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
        .invoke_handler(tauri::generate_handler![
            list_deployments,
            show_deployment,
            deployment_status,
            trust_host,
            secret_status,
            secret_set,
            secret_delete,
            plan_action,
            run_action,
            audit_review,
            journal_entries
        ])
        .run(tauri::generate_context!());
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: the window failed: {e}");
            ExitCode::FAILURE
        }
    }
}
