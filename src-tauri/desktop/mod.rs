//! The Tauri v2 window: commands and events that forward to the engine. No logic lives
//! here; a command is a line that calls the engine and maps its error to `{code, message}`.

use std::process::ExitCode;

use crate::engine::profiles::DeploymentSummary;
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
            trust_host
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
