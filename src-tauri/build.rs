//! Build script: only the desktop window needs Tauri's code generation (it embeds
//! `tauri.conf.json`, the capabilities and the `ui/` folder into the binary).
//!
//! Every command the window may call is listed here, so Tauri generates an
//! `allow-<command>` permission for each, and `capabilities/default.json` grants them
//! one by one: a command missing from the capability cannot be invoked.

#[cfg(feature = "desktop")]
const COMMANDS: &[&str] = &[
    "list_deployments",
    "show_deployment",
    "deployment_status",
    "trust_host",
    "secret_status",
    "secret_set",
    "secret_delete",
    "plan_action",
    "run_action",
    "cancel_action",
    "interrupted_runs",
    "audit_review",
    "journal_entries",
];

fn main() {
    #[cfg(feature = "desktop")]
    if let Err(e) = tauri_build::try_build(
        tauri_build::Attributes::new().app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    ) {
        println!("cargo::error=tauri-build failed: {e:#}");
    }
}
