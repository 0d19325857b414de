//! The Tauri v2 window: commands and events that forward to the engine. No logic lives
//! here; a command is a line that calls the engine and maps its error to `{code, message}`.

use std::process::ExitCode;
use std::sync::Arc;

use crate::engine::actions::{
    ActionEvent, ActionSpec, Cancel, Confirmation, Events, Interrupted, Plan, RunReport, RunRequest,
};
use crate::engine::journal::JournalView;
use crate::engine::journal::incident::IncidentView;
use crate::engine::keychain::{SecretEntry, Stored};
use crate::engine::profiles::DeploymentSummary;
use crate::engine::profiles::discover::{InitRequest, InitStep};
use crate::engine::review::audit::AuditReview;
use crate::engine::review::harden::{Acceptance, HardeningReport, report};
use crate::engine::review::restore::backups::BackupFile;
use crate::engine::review::restore::{RestoreEvent, RestoreReport, RestoreRun};
use crate::engine::review::status::DeploymentStatus;
use crate::engine::runbooks::{Runbook, RunbookRun};
use crate::engine::secret::Sensitive;
use crate::engine::state::{KnownDeployment, TrustedKey};
use crate::engine::{Engine, Error, ErrorReport, Result};

type CmdResult<T> = Result<T, ErrorReport>;

/// What every command's implementation gets: the engine, the cancels of the runs this
/// window started, and the hardening reports it was shown.
struct Cx<'a> {
    engine: &'a Engine,
    running: &'a Running,
    reports: &'a Reports,
}

/// The cancels of the runs this window started, by the key the page gave each run.
#[derive(Default)]
struct Running(std::sync::Mutex<std::collections::HashMap<String, Cancel>>);

/// The last hardening report this window was shown, per deployment (for its export).
#[derive(Default)]
struct Reports(std::sync::Mutex<std::collections::HashMap<String, HardeningReport>>);

/// The commands' implementations, one function per line of `commands.in`, with the
/// same name, arguments and return type. Each is a call into the engine.
#[cfg(test)]
mod bindings;

mod imp {
    use super::*;

    pub async fn list_deployments(cx: &Cx<'_>) -> Result<Vec<KnownDeployment>> {
        cx.engine.deployments().await
    }

    pub async fn show_deployment(cx: &Cx<'_>, name: String) -> Result<DeploymentSummary> {
        Ok(cx.engine.profile(&name).await?.summary())
    }

    pub async fn deployment_status(cx: &Cx<'_>, name: String) -> Result<DeploymentStatus> {
        cx.engine.status(&name).await
    }

    pub async fn trust_host(
        cx: &Cx<'_>,
        name: String,
        host: String,
        fingerprint: String,
    ) -> Result<TrustedKey> {
        cx.engine.trust_host(&name, &host, &fingerprint).await
    }

    /// Which keychain entries this deployment's profile uses, and whether each is set.
    pub async fn secret_status(cx: &Cx<'_>, name: String) -> Result<Vec<SecretEntry>> {
        cx.engine.secret_entries(&name).await
    }

    /// Stores a value. It arrives once over IPC and goes straight to the keychain;
    /// nothing returns it to the page.
    pub async fn secret_set(cx: &Cx<'_>, name: String, entry: String, value: String) -> Result<Stored> {
        Ok(cx
            .engine
            .keychain()
            .store(&name, &entry, Sensitive::new(value))
            .await?)
    }

    pub async fn secret_delete(cx: &Cx<'_>, name: String, entry: String) -> Result<bool> {
        Ok(cx.engine.keychain().delete(&name, &entry).await?)
    }

    pub async fn plan_action(cx: &Cx<'_>, name: String, spec: ActionSpec) -> Result<Plan> {
        cx.engine.plan_action(&name, &spec).await
    }

    /// Runs an action; its events stream to the page that started it (a channel of that
    /// page's own), so no other window sees them. `plan_digest` is the digest of the
    /// plan the person confirmed; `key` names the run for `cancel_action`.
    pub async fn run_action(
        cx: &Cx<'_>,
        events: Events,
        name: String,
        spec: ActionSpec,
        confirm: String,
        plan_digest: Option<String>,
        key: String,
    ) -> Result<RunReport> {
        let cancel = Cancel::default();
        if let Ok(mut map) = cx.running.0.lock() {
            map.insert(key.clone(), cancel.clone());
        }
        let request = RunRequest::new(spec, Some(Confirmation::new(confirm, plan_digest)));
        let result = cx.engine.run_action(&name, request, events, cancel).await;
        if let Ok(mut map) = cx.running.0.lock() {
            map.remove(&key);
        }
        result
    }

    /// Cancels a run this window started: the first call lets the current step finish
    /// and undoes, a second stops at once. `false` when no such run is going.
    pub async fn cancel_action(cx: &Cx<'_>, key: String) -> Result<bool> {
        let cancel = cx.running.0.lock().ok().and_then(|m| m.get(&key).cloned());
        Ok(cancel.map(|c| c.escalate()).is_some())
    }

    /// Runs that started and never finished (shown when the window opens).
    pub async fn interrupted_runs(cx: &Cx<'_>) -> Result<Vec<Interrupted>> {
        cx.engine.interrupted_runs().await
    }

    pub async fn audit_review(cx: &Cx<'_>, name: String, since_secs: u64) -> Result<AuditReview> {
        cx.engine.audit_review(&name, since_secs).await
    }

    pub async fn list_backups(cx: &Cx<'_>, name: String) -> Result<Vec<BackupFile>> {
        cx.engine.backups(&name).await
    }

    /// A restore test, its progress streamed; `cancel_action(key)` cancels it (the
    /// scratch database is still dropped).
    pub async fn restore_test(
        cx: &Cx<'_>,
        events: Arc<dyn Fn(RestoreEvent) + Send + Sync>,
        name: String,
        backup: Option<String>,
        key: String,
    ) -> Result<RestoreReport> {
        let cancel = Cancel::default();
        if let Ok(mut map) = cx.running.0.lock() {
            map.insert(key.clone(), cancel.clone());
        }
        let backup = backup.filter(|b| !b.trim().is_empty());
        let result = cx
            .engine
            .restore_test(&name, backup.as_deref(), &*events, &cancel)
            .await;
        if let Ok(mut map) = cx.running.0.lock() {
            map.remove(&key);
        }
        result
    }

    pub async fn restore_history(cx: &Cx<'_>, name: String) -> Result<Vec<RestoreRun>> {
        cx.engine.restore_history(&name).await
    }

    pub async fn journal_entries(cx: &Cx<'_>) -> Result<JournalView> {
        cx.engine.journal().await?.view().await
    }

    pub async fn incident_current(cx: &Cx<'_>, name: String) -> Result<Option<IncidentView>> {
        cx.engine.current_incident(&name).await
    }

    pub async fn incident_open(cx: &Cx<'_>, name: String, title: String) -> Result<IncidentView> {
        let inc = cx.engine.open_incident(&name, &title).await?;
        cx.engine.journal().await?.incident(inc.id).await
    }

    pub async fn incident_note(cx: &Cx<'_>, id: i64, text: String) -> Result<IncidentView> {
        cx.engine.note_incident(id, &text).await
    }

    pub async fn incident_close(cx: &Cx<'_>, id: i64) -> Result<IncidentView> {
        cx.engine.close_incident(id).await
    }

    pub async fn runbook_list(cx: &Cx<'_>) -> Result<Vec<Runbook>> {
        cx.engine.runbooks()
    }

    /// Resolves a runbook for the page to walk (each action step through `plan_action`
    /// and `run_action`, like any action) and journals its start.
    pub async fn runbook_start(
        cx: &Cx<'_>,
        name: String,
        runbook: String,
        params: Vec<(String, String)>,
    ) -> Result<RunbookRun> {
        cx.engine
            .start_runbook(&name, &runbook, &params.into_iter().collect())
            .await
    }

    /// A step's end, as the page saw it (an action verified, a step done by hand with the
    /// responder's words, or not done).
    pub async fn runbook_step(
        cx: &Cx<'_>,
        name: String,
        run_id: String,
        step: u32,
        title: String,
        done: bool,
        detail: String,
    ) -> Result<bool> {
        if !run_id.starts_with("runbook-") {
            return Err(Error::BadArgument {
                message: "not a runbook's run id".into(),
            });
        }
        cx.engine
            .runbook_step(&name, &run_id, step as usize, &title, done, &detail)
            .await?;
        Ok(true)
    }

    /// The incident's report, as Markdown or HTML, for the page to offer as a download.
    pub async fn incident_report(cx: &Cx<'_>, id: i64, format: String) -> Result<String> {
        let Some(format) = crate::engine::journal::ReportFormat::from_name(&format) else {
            return Err(Error::BadArgument {
                message: format!(
                    "export as md or html, not {:?}",
                    crate::engine::ssh::output::display_safe(format.as_bytes())
                ),
            });
        };
        cx.engine.journal().await?.export(id, format).await
    }

    /// The hardening audit (read-only), its findings in reading order (`report::sorted`);
    /// kept for `harden_export`.
    pub async fn harden_audit(cx: &Cx<'_>, name: String) -> Result<HardeningReport> {
        let mut r = cx.engine.harden(&name).await?;
        r.findings = report::sorted(&r.findings).into_iter().cloned().collect();
        if let Ok(mut map) = cx.reports.0.lock() {
            map.insert(name, r.clone());
        }
        Ok(r)
    }

    /// Accepts one finding, as the report names it (no host or subject: empty), for a
    /// duration typed like `90d`; journaled. Counted out from the next audit.
    pub async fn harden_accept(
        cx: &Cx<'_>,
        name: String,
        check: String,
        host: Option<String>,
        subject: Option<String>,
        reason: String,
        duration: String,
    ) -> Result<Acceptance> {
        let for_ = crate::engine::when::parse_duration(&duration)
            .map_err(|message| Error::BadArgument { message })?;
        let host = host.filter(|h| !h.is_empty());
        let subject = subject.filter(|s| !s.is_empty());
        cx.engine
            .accept_finding(&name, &check, host.as_deref(), subject.as_deref(), &reason, for_)
            .await
    }

    /// The last report this window was shown for the deployment, as Markdown (`md`) or a
    /// self-contained HTML page (`html`).
    pub async fn harden_export(cx: &Cx<'_>, name: String, format: String) -> Result<String> {
        let render: fn(&HardeningReport) -> String = match format.as_str() {
            "md" => report::markdown,
            "html" => report::html,
            _ => {
                return Err(Error::BadArgument {
                    message: format!(
                        "export as md or html, not {:?}",
                        crate::engine::ssh::output::display_safe(format.as_bytes())
                    ),
                });
            }
        };
        let text = cx
            .reports
            .0
            .lock()
            .ok()
            .and_then(|map| map.get(&name).map(render));
        text.ok_or_else(|| Error::BadArgument {
            message: format!(
                "no hardening report of {:?} to export: run the audit first",
                crate::engine::ssh::output::display_safe(name.as_bytes())
            ),
        })
    }

    /// The scores of the deployment's past audits, newest first: (checked at, score).
    pub async fn harden_history(cx: &Cx<'_>, name: String) -> Result<Vec<(String, u8)>> {
        cx.engine.harden_history(&name, 100).await
    }

    /// Looks at the hosts and writes a profile (read-only); a first-contact host key
    /// comes back to be confirmed (with `trust_host`), then this is called again.
    pub async fn init_discover(
        cx: &Cx<'_>,
        name: String,
        hosts: Vec<String>,
        key: Option<String>,
        docker_sockets: Vec<String>,
        project: Option<String>,
    ) -> Result<InitStep> {
        let key = key.filter(|k| !k.trim().is_empty());
        let mut req = InitRequest::parse(&name, &hosts, key.as_deref(), &docker_sockets, None)?;
        req.project = project.filter(|p| !p.trim().is_empty());
        cx.engine.init_discover(&req).await
    }

    /// Keeps the deployment `init_discover` looked at, with the profile it wrote.
    pub async fn init_finish(cx: &Cx<'_>, name: String, profile_text: String) -> Result<KnownDeployment> {
        cx.engine.init_finish(&name, &profile_text, None).await
    }

    /// Drops a deployment `init_discover` added only to look at it.
    pub async fn init_abandon(cx: &Cx<'_>, name: String) -> Result<bool> {
        cx.engine.init_abandon(&name).await.map(|()| true)
    }
}

/// The Tauri commands of `commands.in`: each takes the listed arguments (as the page
/// names them, in camelCase), calls its implementation in `imp` and maps the error to
/// `{code, message, detail}`. Also the invoke handler, and the list of names.
macro_rules! with_commands {
    ($($name:ident($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty $(, streams $event:ty)?;)*) => {
        $(
            // Tauri passes a command's arguments one by one, as the page names them.
            #[allow(clippy::too_many_arguments)]
            #[tauri::command]
            async fn $name(
                engine: tauri::State<'_, Engine>,
                running: tauri::State<'_, Running>,
                reports: tauri::State<'_, Reports>,
                $(on_event: tauri::ipc::Channel<$event>,)?
                $($arg: $ty),*
            ) -> CmdResult<$ret> {
                let cx = Cx { engine: &engine, running: &running, reports: &reports };
                $(
                    let events: Arc<dyn Fn($event) + Send + Sync> = Arc::new(move |event: $event| {
                        let _ = on_event.send(event);
                    });
                )?
                Ok(imp::$name(&cx, $(with_commands!(@events events $event),)? $($arg),*).await?)
            }
        )*

        fn handler() -> impl Fn(tauri::ipc::Invoke) -> bool + Send + Sync + 'static {
            tauri::generate_handler![$($name),*]
        }

        /// The commands, by name (checked against what the page calls).
        #[cfg(test)]
        const COMMANDS: &[&str] = &[$(stringify!($name)),*];
    };
    (@events $events:ident $event:ty) => { $events };
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
        .manage(Reports::default())
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
