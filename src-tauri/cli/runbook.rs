//! `breakglass runbook`: list, show, and walk a runbook. Each action step goes through
//! [`act`] like a single action (plan shown, the deployment's name typed, run, verified);
//! the run stops at the first step that is not done and verified, and says how to resume.

use std::collections::BTreeMap;
use std::io::IsTerminal;

use breakglass::engine::runbooks::{Runbook, Step, StepKind};
use breakglass::engine::ssh::output::display_safe;
use breakglass::engine::{Error, ErrorReport};

use crate::args::{Cli, RunbookCmd};
use crate::commands::{act, read_line};
use crate::engine;
use crate::print::{print_audit, print_json};

fn runbook_error(detail: String) -> ErrorReport {
    Error::Runbook { detail }.into()
}

fn print_runbook(r: &Runbook) {
    let s = |t: &str| display_safe(t.as_bytes());
    outln!("{}: {}", s(&r.name), s(&r.title));
    if let Some(src) = &r.source {
        outln!("  from {}", s(src));
    }
    outln!("  {}", s(r.path.as_deref().unwrap_or("built in")));
    if !r.description.is_empty() {
        outln!("  {}", s(&r.description));
    }
    for p in &r.params {
        outln!("  --set {}=…   {}", s(&p.name), s(&p.help));
    }
    for (i, step) in r.steps.iter().enumerate() {
        let kind = match step.kind {
            StepKind::Action => "action",
            StepKind::Review => "review",
            StepKind::Manual => "by hand",
            StepKind::Report => "report",
        };
        outln!(
            "  {:>2}. {:<8} {}  ({})",
            i + 1,
            kind,
            s(&step.title),
            s(&step.what)
        );
    }
}

pub(crate) async fn runbook_cmd(cli: &Cli, cmd: &RunbookCmd) -> Result<(), ErrorReport> {
    let engine = engine(cli).await?;
    match cmd {
        RunbookCmd::List => {
            let all = engine.runbooks()?;
            if cli.json {
                print_json(&all)?;
            } else {
                for r in &all {
                    outln!(
                        "{:<16} {:>2} steps  {}{}",
                        display_safe(r.name.as_bytes()),
                        r.steps.len(),
                        display_safe(r.title.as_bytes()),
                        r.source
                            .as_deref()
                            .map(|s| format!("  ({})", display_safe(s.as_bytes())))
                            .unwrap_or_default()
                    );
                }
            }
        }
        RunbookCmd::Show { name } => {
            let r = engine.runbook(name)?;
            if cli.json {
                print_json(&r)?;
            } else {
                print_runbook(&r);
            }
        }
        RunbookCmd::Run {
            deployment,
            name,
            params,
            from,
            report_dir,
            run,
        } => {
            let r = engine.runbook(name)?;
            let params: BTreeMap<String, String> = params.iter().cloned().collect();
            let steps = r.resolve(&params)?;
            if *from == 0 || *from > steps.len() {
                return Err(runbook_error(format!(
                    "--from {from}: runbook {name} has steps 1 to {}",
                    steps.len()
                )));
            }
            // The deployment must exist before anything is journaled for it.
            engine.profile(deployment).await?;
            let journal = engine.journal().await?;
            let incident = journal.open_incident_of(deployment).await?;
            if incident.is_none() && !run.dry_run {
                errln!(
                    "note: {} has no open incident; these steps will belong to none (breakglass incident open {} TITLE)",
                    display_safe(deployment.as_bytes()),
                    display_safe(deployment.as_bytes())
                );
            }
            let run_id = if run.dry_run {
                String::new()
            } else {
                engine.runbook_started(deployment, &r, &steps).await?
            };
            let total = steps.len();
            for (i, step) in steps.iter().enumerate().skip(from - 1) {
                let n = i + 1;
                if cli.json {
                    outln!(
                        "{}",
                        serde_json::json!({ "runbook_step": n, "of": total, "step": step })
                    );
                } else {
                    outln!(
                        "\n== Step {n} of {total}: {}",
                        display_safe(step.title().as_bytes())
                    );
                }
                let resume = |why: &str| {
                    runbook_error(format!(
                        "runbook {name} stopped at step {n} ({}): {why}; resume with --from {n} (or --from {} to go past it)",
                        step.title(),
                        n + 1
                    ))
                };
                let outcome: Result<String, ErrorReport> = match step {
                    Step::Action { spec, .. } => act(cli, deployment, (**spec).clone(), run)
                        .await
                        .map(|()| "done and verified".to_owned()),
                    Step::Review { since, .. } => {
                        let since = breakglass::engine::when::Since::parse(since)?;
                        let review = engine
                            .audit_review(deployment, since.secs_before(std::time::SystemTime::now()))
                            .await?;
                        if cli.json {
                            print_json(&review)?;
                        } else {
                            print_audit(&review);
                        }
                        Ok(format!(
                            "reviewed: {} IP(s) with failed logins, {} success(es) after failures, {} admin action(s), {} new token(s)",
                            review.failed_by_ip.len(),
                            review.success_after_failures.len(),
                            review.admin_actions.len(),
                            review.new_tokens.len()
                        ))
                    }
                    Step::Manual { text, .. } => {
                        outln!("{}", display_safe(text.as_bytes()));
                        if run.dry_run {
                            Ok("by hand".into())
                        } else if std::io::stdin().is_terminal() {
                            let said = read_line("What did you do? (an empty line stops here) ")?;
                            if said.is_empty() {
                                Err(resume("not done"))
                            } else {
                                Ok(said)
                            }
                        } else {
                            Err(resume(
                                "only a person can do this step; run the runbook in a terminal, or do it, note it (breakglass incident note), and resume past it",
                            ))
                        }
                    }
                    Step::Report { .. } => match (&incident, run.dry_run) {
                        (_, true) => Ok("the report".into()),
                        (None, false) => Err(resume("there is no open incident to report on")),
                        (Some(inc), false) => {
                            let mut written = Vec::new();
                            for (ext, format) in [
                                ("md", breakglass::engine::journal::ReportFormat::Markdown),
                                ("html", breakglass::engine::journal::ReportFormat::Html),
                            ] {
                                let path = report_dir.join(format!("incident-{}.{ext}", inc.id));
                                let text = journal.export(inc.id, format).await?;
                                std::fs::write(&path, text).map_err(|source| Error::WriteFile {
                                    path: path.clone(),
                                    source,
                                })?;
                                written.push(path.display().to_string());
                            }
                            outln!("report written: {}", display_safe(written.join(", ").as_bytes()));
                            Ok(format!("report written ({})", written.join(", ")))
                        }
                    },
                };
                if run.dry_run {
                    if let Err(e) = outcome {
                        return Err(e);
                    }
                    continue;
                }
                match outcome {
                    Ok(detail) => {
                        engine
                            .runbook_step(deployment, &run_id, n, step.title(), true, &detail)
                            .await?;
                    }
                    Err(e) => {
                        let _ = engine
                            .runbook_step(deployment, &run_id, n, step.title(), false, &e.message)
                            .await;
                        errln!(
                            "runbook {} stopped at step {n} of {total}; resume with --from {n}",
                            display_safe(name.as_bytes())
                        );
                        return Err(e);
                    }
                }
            }
            if !cli.json && !run.dry_run {
                outln!(
                    "\nRunbook {} done: {total} step(s).",
                    display_safe(name.as_bytes())
                );
            }
        }
    }
    Ok(())
}
