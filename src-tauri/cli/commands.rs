//! The bodies of the subcommands that do more than one engine call: actions (lock,
//! plan, typed confirmation, run, Ctrl-C), docker, secrets, trust, the journal and
//! incidents. Terminal interaction (prompts, Ctrl-C) lives here; logic lives in the engine.

use breakglass::engine::actions::{ActionEvent, ActionSpec, Cancel, Confirmation, RunRequest, StepStatus};
use breakglass::engine::secret::Sensitive;
use breakglass::engine::ssh::output::display_safe;
use breakglass::engine::{Engine, Error, ErrorReport, HostKeyProbe};

use crate::args::{AppCmd, Cli, DockerCmd, IncidentCmd, JournalCmd, RunArgs, SecretCmd};
use crate::engine;
use crate::print::{print_interrupted, print_json, print_plan};

pub(crate) async fn docker_cmd(cli: &Cli, cmd: &DockerCmd) -> Result<(), ErrorReport> {
    let engine = engine(cli).await?;
    match cmd {
        DockerCmd::Ps { deployment, host } => {
            let all = engine.containers(deployment, host.as_deref()).await?;
            if cli.json {
                print_json(&all)?;
            } else {
                outln!(
                    "{:<8} {:<12} {:<10} {:<10} {:<10} {:>8}  IMAGE",
                    "HOST",
                    "NAME",
                    "SERVICE",
                    "STATE",
                    "HEALTH",
                    "RESTARTS"
                );
                for c in all {
                    outln!(
                        "{:<8} {:<12} {:<10} {:<10} {:<10} {:>8}  {}",
                        display_safe(c.host.as_bytes()),
                        display_safe(c.name.as_bytes()),
                        display_safe(c.compose_service.unwrap_or_default().as_bytes()),
                        display_safe(c.state.as_bytes()),
                        display_safe(c.health.as_bytes()),
                        c.restart_count,
                        display_safe(c.image.as_bytes())
                    );
                }
            }
        }
        DockerCmd::Inspect {
            deployment,
            host,
            container,
        } => {
            let c = engine.docker(deployment, host).await?.inspect(container).await?;
            print_json(&c)?;
        }
        DockerCmd::Logs {
            deployment,
            host,
            container,
            tail,
            follow,
        } => {
            let docker = engine.docker(deployment, host).await?;
            let (text, truncated) = docker.logs(container, *tail, 4 * 1024 * 1024).await?;
            out!("{text}");
            if truncated {
                errln!("[logs truncated]");
            }
            if *follow {
                docker
                    .follow_logs(container, |chunk| {
                        out!("{chunk}");
                        // Following stops when the reader is gone (`| head`).
                        !crate::print::stdout_closed()
                    })
                    .await?;
            }
        }
        DockerCmd::Exec {
            deployment,
            host,
            container,
            command,
        } => {
            let argv: Vec<&str> = command.iter().map(String::as_str).collect();
            let out = engine.docker_exec(deployment, host, container, &argv).await?;
            out!("{}", out.output);
            if out.exit_code != Some(0) {
                return Err(Error::ContainerExitStatus {
                    status: out.exit_code.map_or("no status".into(), |c| c.to_string()),
                }
                .into());
            }
        }
    }
    Ok(())
}

/// `breakglass init`: connect, trust (asking, as `trust` does), discover, write, and add
/// on confirmation. The engine does the looking; this is the conversation.
pub(crate) async fn init_cmd(cli: &Cli) -> Result<(), ErrorReport> {
    use breakglass::engine::profiles::discover::{InitRequest, InitStep};
    let crate::args::Command::Init {
        name,
        hosts,
        key,
        docker_sockets,
        known_hosts,
        project,
        out,
        yes,
    } = &cli.command
    else {
        return Ok(());
    };
    let engine = engine(cli).await?;
    let mut req = InitRequest::parse(name, hosts, key.as_deref(), docker_sockets, known_hosts.clone())?;
    req.project = project.clone();
    let found = loop {
        match engine.init_discover(&req).await? {
            InitStep::Found(found) => {
                // Several compose projects or stacks, none named: ask which one this
                // deployment is (at a terminal; otherwise the profile says so).
                let mut names: Vec<&str> = found.discovery.projects.iter().map(|p| p.name.as_str()).collect();
                names.sort();
                names.dedup();
                let interactive = {
                    use std::io::IsTerminal;
                    std::io::stdin().is_terminal() && !*yes && !cli.json
                };
                if req.project.is_some() || names.len() < 2 || !interactive {
                    break found;
                }
                outln!("The hosts run several projects:");
                for p in &found.discovery.projects {
                    let n = names.iter().position(|n| *n == p.name).unwrap_or(0) + 1;
                    outln!(
                        "  {n}. {} ({} on {})",
                        display_safe(p.name.as_bytes()),
                        p.kind,
                        display_safe(p.host.as_bytes())
                    );
                }
                let answer = read_line("Which one is this deployment? Its number (Enter: all of them): ")?;
                let answer = answer.trim();
                if answer.is_empty() {
                    break found;
                }
                match answer
                    .parse::<usize>()
                    .ok()
                    .and_then(|n| names.get(n.wrapping_sub(1)))
                {
                    Some(p) => req.project = Some((*p).to_owned()),
                    None => {
                        errln!("{answer:?} is not one of the numbers shown; looking at all of them.");
                        break found;
                    }
                }
            }
            InitStep::NeedsTrust { host, .. } => {
                let fp = match ask_trust(&engine, name, &host).await {
                    Ok(fp) => fp,
                    Err(e) => {
                        engine.init_abandon(name).await?;
                        return Err(e);
                    }
                };
                engine.trust_host(name, &host, &fp).await?;
            }
        }
    };
    let target = out
        .clone()
        .unwrap_or_else(|| std::path::PathBuf::from(format!("{name}.toml")));
    if cli.json {
        print_json(&found)?;
    } else {
        out!("{}", display_safe(found.profile_text.as_bytes()));
    }
    match &found.changes {
        Some(changes) if changes.is_empty() => {
            outln!("No difference from the profile of {name} the console has.")
        }
        Some(changes) => {
            outln!("Differences from the profile of {name} the console has:");
            for c in changes {
                outln!("  {}", display_safe(c.as_bytes()));
            }
        }
        None => {}
    }
    let add = *yes || {
        use std::io::IsTerminal;
        std::io::stdin().is_terminal() && read_line("Add this deployment? Type yes: ")?.trim() == "yes"
    };
    if add {
        let d = engine
            .init_finish(name, &found.profile_text, Some(&target))
            .await?;
        outln!(
            "Written to {}; added deployment {:?}.",
            target.display(),
            d.summary.name
        );
    } else {
        std::fs::write(&target, &found.profile_text).map_err(|source| Error::ReadFile {
            path: target.clone(),
            source,
        })?;
        engine.init_abandon(name).await?;
        outln!(
            "Written to {}; not added: `breakglass deployment add {}` when it looks right.",
            target.display(),
            target.display()
        );
    }
    Ok(())
}

pub(crate) async fn app_cmd(cli: &Cli, cmd: &AppCmd) -> Result<(), ErrorReport> {
    let engine = engine(cli).await?;
    let safe = |t: &str| display_safe(t.as_bytes());
    match cmd {
        AppCmd::List => {
            let list = engine.app_profiles()?;
            if cli.json {
                print_json(&list)?;
            } else {
                for p in list {
                    outln!(
                        "{:<16} {:<10} {}",
                        safe(&p.name),
                        safe(&p.source),
                        safe(&p.description)
                    );
                }
            }
        }
        AppCmd::Add { file } => {
            let (entry, replaced) = engine.add_app_profile(file)?;
            if cli.json {
                print_json(&entry)?;
            } else {
                outln!(
                    "{} app profile {:?} as {}",
                    if replaced { "Replaced" } else { "Installed" },
                    safe(&entry.name),
                    safe(&entry.source)
                );
            }
        }
        AppCmd::Check { deployment, file } => {
            let check = engine.check_app_profile(deployment, file).await?;
            if cli.json {
                print_json(&check)?;
            } else {
                for i in &check.items {
                    outln!(
                        "{} {:<22} {:<36} {}",
                        if i.ok { "ok  " } else { "FAIL" },
                        safe(&i.key),
                        safe(&i.names),
                        safe(&i.detail)
                    );
                }
                let bad = check.items.iter().filter(|i| !i.ok).count();
                outln!(
                    "{}: {} of {} column(s) as the profile needs them",
                    safe(&check.profile),
                    check.items.len() - bad,
                    check.items.len()
                );
            }
            if !check.ok() {
                crate::print::set_degraded();
            }
        }
    }
    Ok(())
}

pub(crate) async fn secret_cmd(cli: &Cli, cmd: &SecretCmd) -> Result<(), ErrorReport> {
    let engine = engine(cli).await?;
    let kc = engine.keychain();
    match cmd {
        SecretCmd::Set { deployment, name } => {
            let value = read_secret(&format!("Value for {deployment}/{name} (not shown): "))?;
            let stored = kc.store(deployment, name, value).await?;
            outln!(
                "{} {deployment}/{name} in the keychain.",
                if stored.replaced { "Replaced" } else { "Stored" }
            );
        }
        SecretCmd::Status { deployment, name } => {
            let set = kc.is_set(deployment, name).await?;
            if cli.json {
                print_json(&serde_json::json!({ "deployment": deployment, "name": name, "set": set }))?;
            } else {
                outln!("{deployment}/{name}: {}", if set { "set" } else { "not set" });
            }
        }
        SecretCmd::Delete { deployment, name } => {
            let deleted = kc.delete(deployment, name).await?;
            outln!(
                "{deployment}/{name}: {}",
                if deleted { "deleted" } else { "was not set" }
            );
        }
    }
    Ok(())
}

/// A secret from the terminal without echo, or from stdin when it is not a terminal.
pub(crate) fn read_secret(prompt: &str) -> Result<Sensitive<String>, ErrorReport> {
    use std::io::IsTerminal;
    let io = |source| Error::Stdin { source };
    let mut value = if std::io::stdin().is_terminal() {
        rpassword::prompt_password(prompt).map_err(io)?
    } else {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin().lock(), &mut s).map_err(io)?;
        s
    };
    while value.ends_with('\n') || value.ends_with('\r') {
        value.pop();
    }
    if value.is_empty() {
        return Err(Error::EmptySecret.into());
    }
    Ok(Sensitive::new(value))
}

/// The new values of third parties' secrets (`rotate --paste VAR`): each asked for
/// without echo, or, when stdin is not a terminal, one line of stdin per variable in the
/// order given.
pub(crate) fn read_pasted(
    vars: &[String],
) -> Result<breakglass::engine::actions::rotate::values::Pasted, ErrorReport> {
    use std::io::{BufRead, IsTerminal};
    let mut out = std::collections::BTreeMap::new();
    let terminal = std::io::stdin().is_terminal();
    let mut stdin = std::io::stdin().lock();
    for var in vars {
        if out.contains_key(var) {
            continue;
        }
        let mut value = if terminal {
            rpassword::prompt_password(format!("new value of {var} (not shown): "))
                .map_err(|source| Error::Stdin { source })?
        } else {
            let mut line = String::new();
            stdin
                .read_line(&mut line)
                .map_err(|source| Error::Stdin { source })?;
            line
        };
        while value.ends_with('\n') || value.ends_with('\r') {
            value.pop();
        }
        if value.is_empty() {
            return Err(Error::EmptySecret.into());
        }
        out.insert(var.clone(), Sensitive::new(value));
    }
    Ok(breakglass::engine::actions::rotate::values::Pasted(out))
}

/// First contact: show the key the server presents and ask for an explicit yes.
pub(crate) async fn ask_trust(engine: &Engine, deployment: &str, host: &str) -> Result<String, ErrorReport> {
    use std::io::{BufRead, IsTerminal, Write};
    let fingerprint = match engine.probe_host_key(deployment, host).await? {
        HostKeyProbe::Pinned { fingerprint } => {
            outln!("{host} is already pinned to {fingerprint}.");
            return Ok(fingerprint);
        }
        HostKeyProbe::Unknown {
            fingerprint,
            key_type,
        } => {
            outln!("{host} presents a {key_type} key:\n\n    {fingerprint}\n");
            fingerprint
        }
    };
    if !std::io::stdin().is_terminal() {
        return Err(Error::HostKeyNotConfirmed {
            host: host.to_owned(),
            fingerprint,
        }
        .into());
    }
    out!("Compare it with `ssh-keygen -lf` on the server. Type yes to trust it: ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|source| Error::Stdin { source })?;
    if answer.trim() != "yes" {
        return Err(Error::NotTrusted.into());
    }
    Ok(fingerprint)
}

/// Reads one line from the terminal.
pub(crate) fn read_line(prompt: &str) -> Result<String, ErrorReport> {
    use std::io::{BufRead, Write};
    out!("{prompt}");
    let _ = std::io::stdout().flush();
    let mut typed = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut typed)
        .map_err(|source| Error::Stdin { source })?;
    Ok(typed.trim().to_owned())
}

/// lock → plan → (confirm) → run → verify, printing each event as it comes. The plan a
/// person confirms is bound to the run by its digest: if the live plan differs under
/// the lock, the new plan is shown and asked for again.
pub(crate) async fn act(
    cli: &Cli,
    deployment: &str,
    spec: ActionSpec,
    run: &RunArgs,
) -> Result<(), ErrorReport> {
    use std::io::IsTerminal;
    let engine = engine(cli).await?;
    let interrupted = engine.interrupted_runs().await?;
    for r in interrupted.iter().filter(|r| r.deployment == deployment) {
        print_interrupted(r, &mut crate::print::Out { stderr: true });
    }
    let mut plan = engine.plan_action(deployment, &spec).await?;
    if run.dry_run {
        if cli.json {
            print_json(&plan)?;
        } else {
            print_plan(&plan);
            outln!("(dry run: nothing changed)");
        }
        return Ok(());
    }
    let json = cli.json;
    let events: breakglass::engine::actions::Events = std::sync::Arc::new(move |e: ActionEvent| {
        if json {
            outln!("{}", serde_json::to_string(&e).unwrap_or_default());
            return;
        }
        match e {
            // Shown before the confirmation already; under the lock it is the same plan
            // (the digest says so) or the run stops.
            ActionEvent::Planned { .. } => {}
            ActionEvent::Waiting { holder } => outln!("waiting: held by {}", display_safe(holder.as_bytes())),
            ActionEvent::Step {
                step,
                description,
                status,
                detail,
            } => {
                let detail = display_safe(detail.as_bytes());
                let description = display_safe(description.as_bytes());
                match status {
                    StepStatus::Started => outln!("  [{step}] {description} …"),
                    StepStatus::Done => outln!("  [{step}] done: {detail}"),
                    StepStatus::Failed => outln!("  [{step}] FAILED: {detail}"),
                    StepStatus::Undoing => outln!("  [{step}] undoing …"),
                    StepStatus::Undone => outln!("  [{step}] undone: {detail}"),
                    StepStatus::UndoFailed => outln!("  [{step}] UNDO FAILED: {detail}"),
                }
            }
            ActionEvent::Verified { ok, detail, by } => outln!(
                "verify: {}{} ({})",
                if ok { "ok" } else { "FAILED" },
                by.map(|v| format!(", {}", v.phrase())).unwrap_or_default(),
                display_safe(detail.as_bytes())
            ),
            ActionEvent::Finished { outcome } => outln!("{}", display_safe(outcome.as_bytes())),
        }
    });
    // First Ctrl-C: finish the current step, then undo. Second: stop now.
    let cancel = Cancel::default();
    let on_ctrl_c = cancel.clone();
    tokio::spawn(async move {
        while tokio::signal::ctrl_c().await.is_ok() {
            if on_ctrl_c.is_cancelled() {
                errln!("stopping now; the journal records where");
            } else {
                errln!("cancelling after the current step, then undoing (Ctrl-C again: stop now)…");
            }
            on_ctrl_c.escalate();
        }
    });
    let interactive = run.confirm.is_none() && std::io::stdin().is_terminal();
    let mut confirm = run
        .confirm
        .clone()
        .map(|typed| Confirmation::new(typed, run.plan.clone()));
    loop {
        if interactive && plan.destructive && !plan.nothing_to_do() {
            print_plan(&plan);
            let typed = read_line(&format!(
                "Type the deployment's name ({deployment}) to go ahead: "
            ))?;
            confirm = Some(Confirmation::new(typed, Some(plan.digest.clone())));
        }
        let mut request = RunRequest::new(spec.clone(), confirm.clone());
        request.lock_wait = *run.lock_wait;
        match engine
            .run_action(deployment, request, events.clone(), cancel.clone())
            .await
        {
            Ok(report) => {
                if !report.verified {
                    return Err(Error::VerifyFailed {
                        detail: report.verify_detail,
                    }
                    .into());
                }
                return Ok(());
            }
            Err(breakglass::engine::Error::PlanChanged { plan: live }) if interactive => {
                errln!("The live plan changed since it was shown; here is the new one.");
                plan = *live;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

pub(crate) async fn journal_cmd(cli: &Cli, cmd: &JournalCmd) -> Result<(), ErrorReport> {
    let journal = engine(cli).await?.journal().await?;
    match cmd {
        JournalCmd::List { incident } => {
            let entries = journal.entries(*incident).await?;
            if cli.json {
                print_json(&entries)?;
            } else {
                for e in entries {
                    outln!(
                        "{:>5} {} {:<24} {:<12} {:<22} {}",
                        e.seq,
                        display_safe(e.at.as_bytes()),
                        display_safe(e.operator.as_bytes()),
                        display_safe(e.deployment.as_bytes()),
                        display_safe(e.kind.as_bytes()),
                        display_safe(e.body.to_string().as_bytes())
                    );
                }
            }
        }
        JournalCmd::Verify { expect } => {
            let v = match expect {
                Some(text) => {
                    let (seq, hash) = breakglass::engine::journal::parse_pasted_head(text)?;
                    journal.verify_against(seq, &hash).await?
                }
                None => journal.verify().await?,
            };
            if cli.json {
                print_json(&v)?;
            } else {
                if v.ok {
                    outln!(
                        "journal ok: {} entries; hash chain, MACs, head file and incidents check out",
                        v.entries
                    );
                }
                if let Some(h) = &v.head {
                    outln!("{}", display_safe(h.line().as_bytes()));
                }
                for n in &v.notes {
                    outln!("note: {}", display_safe(n.as_bytes()));
                }
            }
            if !v.ok {
                for p in &v.problems {
                    errln!("{}", display_safe(p.to_string().as_bytes()));
                }
                return Err(Error::JournalTampered {
                    problems: v.problems.len(),
                }
                .into());
            }
        }
        JournalCmd::Head => {
            let head = journal.head().await?;
            if cli.json {
                print_json(&head)?;
            } else {
                outln!("{}", display_safe(head.line().as_bytes()));
            }
            let v = journal.verify().await?;
            if !v.ok {
                errln!(
                    "warning: the journal does not verify ({} problem(s)); see `breakglass journal verify`",
                    v.problems.len()
                );
            }
        }
        JournalCmd::Export { incident, format } => {
            out!("{}", export(&journal, *incident, format).await?);
        }
    }
    Ok(())
}

/// An incident's report in the format named (`md` or `html`: clap allows no other).
async fn export(
    journal: &breakglass::engine::journal::Journal,
    id: i64,
    format: &str,
) -> Result<String, ErrorReport> {
    use breakglass::engine::journal::ReportFormat;
    let format = ReportFormat::from_name(format).unwrap_or(ReportFormat::Markdown);
    Ok(journal.export(id, format).await?)
}

pub(crate) async fn incident_cmd(cli: &Cli, cmd: &IncidentCmd) -> Result<(), ErrorReport> {
    let engine = engine(cli).await?;
    let journal = engine.journal().await?;
    let who = breakglass::engine::journal::operator();
    match cmd {
        IncidentCmd::Open { deployment, title } => {
            let inc = engine.open_incident(deployment, title).await?;
            if cli.json {
                print_json(&inc)?;
            } else {
                outln!(
                    "Incident {} opened on {}: {}",
                    inc.id,
                    display_safe(deployment.as_bytes()),
                    display_safe(inc.title.as_bytes())
                );
            }
        }
        IncidentCmd::Note { id, text } => {
            let e = journal.note(*id, text, &who).await?;
            if cli.json {
                print_json(&e)?;
            } else {
                outln!("Note added to incident {id} (journal entry {}).", e.seq);
            }
        }
        IncidentCmd::Show { id } => {
            let view = journal.incident(*id).await?;
            if cli.json {
                print_json(&view)?;
            } else {
                crate::print::print_incident(&view);
            }
        }
        IncidentCmd::Report { id, format } => {
            out!("{}", export(&journal, *id, format).await?);
        }
        IncidentCmd::Close { id } => {
            journal.close_incident(*id, &who).await?;
            outln!("Incident {id} closed.");
        }
        IncidentCmd::List => {
            let list = journal.incidents().await?;
            if cli.json {
                print_json(&list)?;
            } else {
                for i in list {
                    outln!(
                        "{:>4} {} {:<6} {:<16} {}",
                        i.id,
                        display_safe(i.opened_at.as_bytes()),
                        if i.closed_at.is_some() { "closed" } else { "open" },
                        display_safe(i.deployment.as_deref().unwrap_or("-").as_bytes()),
                        display_safe(i.title.as_bytes())
                    );
                }
            }
        }
    }
    Ok(())
}

/// `breakglass harden`: the report on stdout (text, JSON, Markdown or HTML); exit 1 when
/// a check failed or could not be made. `--history`: past scores, nothing checked.
pub(crate) async fn harden_cmd(
    cli: &Cli,
    deployment: &str,
    format: &str,
    history: bool,
) -> Result<(), ErrorReport> {
    use breakglass::engine::review::harden::{Verdict, report};
    let engine = engine(cli).await?;
    if history {
        let past = engine.harden_history(deployment, 100).await?;
        if cli.json {
            let rows: Vec<_> = past
                .iter()
                .map(|(at, score)| serde_json::json!({"checked_at": at, "score": score}))
                .collect();
            return print_json(&rows);
        }
        if past.is_empty() {
            outln!("{deployment}: no audit yet (`breakglass harden {deployment}`)");
        }
        for (at, score) in &past {
            outln!("{at}  {score:>3}/100");
        }
        return Ok(());
    }
    let report = engine.harden(deployment).await?;
    let (fails, unknown) = (report.count(Verdict::Fail), report.count(Verdict::Unknown));
    if fails + unknown > 0 {
        crate::print::set_degraded();
    }
    if cli.json {
        return print_json(&report);
    }
    match format {
        "md" => {
            out!("{}", report::markdown(&report));
            return Ok(());
        }
        "html" => {
            out!("{}", report::html(&report));
            return Ok(());
        }
        _ => {}
    }
    // Failures first, then what could not be checked, warnings, accepted and passes;
    // the most severe first within each.
    for f in report::sorted(&report.findings) {
        let mark = match (f.verdict, &f.accepted) {
            (Verdict::Pass, _) => "ok  ",
            (_, Some(_)) => "acc ",
            (Verdict::Warn, None) => "warn",
            (Verdict::Fail, None) => "FAIL",
            (Verdict::Unknown, None) => "??  ",
        };
        let safe = |s: &str| display_safe(s.as_bytes());
        outln!(
            "{mark} {:<6} {:<26} {}{}",
            safe(f.host.as_deref().unwrap_or("-")),
            f.check,
            f.subject
                .as_deref()
                .map(|s| format!("{}: ", safe(s)))
                .unwrap_or_default(),
            safe(&f.detail)
        );
        if let Some(a) = &f.accepted {
            outln!(
                "       accepted by {} until {}: {}",
                safe(&a.by),
                a.until,
                safe(&a.reason)
            );
        } else if f.verdict != Verdict::Pass {
            if let Some(e) = &f.evidence {
                outln!(
                    "       evidence: {} (sha256 {})",
                    safe(&e.command),
                    &e.digest[..12]
                );
                for line in e.output.lines().take(6) {
                    outln!("         | {}", safe(line));
                }
            }
            outln!("       checklist: {}", safe(&f.checklist));
            if !f.fix.is_empty() {
                outln!("       fix: {}", safe(&f.fix));
            }
        }
    }
    for l in &report.links {
        outln!(
            "LINKED {}: {}",
            display_safe(l.title.as_bytes()),
            display_safe(l.risk.as_bytes())
        );
        for f in &l.findings {
            outln!("         - {}", display_safe(f.label().as_bytes()));
        }
    }
    if let Some(d) = &report.drift {
        if d.changes.is_empty() {
            outln!("since {} (score {}): no change", d.previous_at, d.previous_score);
        } else {
            outln!("since {} (score {}):", d.previous_at, d.previous_score);
            let word = |v: Option<Verdict>| match v {
                None => "absent",
                Some(Verdict::Pass) => "pass",
                Some(Verdict::Warn) => "warn",
                Some(Verdict::Fail) => "FAIL",
                Some(Verdict::Unknown) => "unknown",
            };
            for c in &d.changes {
                outln!(
                    "  {} -> {}  {}",
                    word(c.from),
                    word(c.to),
                    display_safe(c.at.label().as_bytes())
                );
            }
        }
    }
    if let Some(o) = &report.observatory {
        outln!("HTTP Observatory rubric: {} ({})", o.score, o.grade);
    }
    outln!(
        "{}: score {}/100: {} passed, {} warnings, {} failed, {} not checked, {} accepted ({} ms)",
        deployment,
        report.score.value,
        report.count(Verdict::Pass),
        report.count(Verdict::Warn),
        fails,
        unknown,
        report.accepted(),
        report.took_ms
    );
    Ok(())
}

pub(crate) async fn restore_test_cmd(
    cli: &Cli,
    deployment: &str,
    backup: Option<&str>,
) -> Result<(), ErrorReport> {
    use breakglass::engine::review::restore::{CheckStatus, RestoreEvent};
    let engine = engine(cli).await?;
    let cancel = Cancel::default();
    let on_ctrl_c = cancel.clone();
    tokio::spawn(async move {
        while tokio::signal::ctrl_c().await.is_ok() {
            errln!("cancelling: the restore stops and its scratch database is dropped…");
            on_ctrl_c.escalate();
        }
    });
    let quiet = cli.json;
    let events = move |e: RestoreEvent| {
        if quiet {
            return;
        }
        match e {
            RestoreEvent::Phase { phase, detail } => {
                errln!("… {phase}: {}", display_safe(detail.as_bytes()))
            }
            RestoreEvent::Check { .. } => {}
        }
    };
    let report = engine.restore_test(deployment, backup, &events, &cancel).await?;
    if !report.passed {
        crate::print::set_degraded();
    }
    if cli.json {
        return print_json(&report);
    }
    for c in &report.checks {
        let mark = match c.status {
            CheckStatus::Pass => "ok  ",
            CheckStatus::Warn => "warn",
            CheckStatus::Fail => "FAIL",
        };
        outln!("{mark} {:<11} {}", c.name, display_safe(c.detail.as_bytes()));
    }
    let secs = |s: u64| humantime::format_duration(std::time::Duration::from_secs(s / 60 * 60)).to_string();
    outln!(
        "{}: RTO {}, RPO {} (backup {} old, target {}){}",
        if report.passed {
            "PASSED"
        } else if report.cancelled {
            "CANCELLED"
        } else {
            "FAILED"
        },
        report
            .rto_ms
            .map(|m| format!("{:.1} s", m as f64 / 1000.0))
            .unwrap_or_else(|| "-".into()),
        report.data_rpo_secs.map(secs).unwrap_or_else(|| "-".into()),
        report.backup_age_secs.map(secs).unwrap_or_else(|| "-".into()),
        secs(report.rpo_target_secs),
        if report.leftovers_removed.is_empty() {
            String::new()
        } else {
            format!(
                "; dropped {} leftover scratch database(s)",
                report.leftovers_removed.len()
            )
        }
    );
    Ok(())
}
