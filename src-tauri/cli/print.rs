//! How the command line prints: text for people, `--json` for scripts. Every string
//! that came from outside (a server, a remote file, the journal) goes through
//! `display_safe`, so nothing raw reaches the terminal.

use breakglass::engine::actions::{Interrupted, Plan};
use breakglass::engine::exec::HostRun;
use breakglass::engine::ssh::output::display_safe;
use breakglass::engine::status::DeploymentStatus;
use breakglass::engine::{Error, ErrorReport};

pub(crate) fn print_json(value: &impl serde::Serialize) -> Result<(), ErrorReport> {
    let text = serde_json::to_string_pretty(value).map_err(|source| Error::Output { source })?;
    println!("{text}");
    Ok(())
}

/// One host: its output as it printed it (made safe). Several: each line prefixed by
/// its host, then a summary of exit statuses. An error when any host failed.
pub(crate) fn print_exec(runs: &[HostRun], json: bool) -> Result<(), ErrorReport> {
    use std::io::Write;
    let failed: Vec<&HostRun> = runs.iter().filter(|r| !r.ok()).collect();
    let why = |r: &HostRun| match (&r.error, r.status, &r.signal) {
        (Some(e), _, _) => format!("[{}] {}", e.code, e.message),
        (None, Some(s), _) => format!("exit {s}"),
        (None, None, Some(sig)) => format!("signal {sig}"),
        (None, None, None) => "no exit status".into(),
    };
    if json {
        print_json(&runs)?;
    } else if let [one] = runs {
        print!("{}", one.stdout_text);
        eprint!("{}", one.stderr_text);
        if one.truncated {
            eprintln!("[output truncated]");
        }
    } else {
        let mut out = std::io::stdout().lock();
        for r in runs {
            for line in r.stdout_text.lines() {
                let _ = writeln!(out, "{:<10}| {line}", r.host);
            }
            for line in r.stderr_text.lines() {
                let _ = writeln!(out, "{:<10}! {line}", r.host);
            }
            if r.truncated {
                let _ = writeln!(out, "{:<10}! [output truncated]", r.host);
            }
        }
        drop(out);
        eprintln!(
            "{} host(s): {} ok, {} failed{}",
            runs.len(),
            runs.len() - failed.len(),
            failed.len(),
            if failed.is_empty() {
                String::new()
            } else {
                format!(
                    " ({})",
                    failed
                        .iter()
                        .map(|r| format!("{}: {}", r.host, why(r)))
                        .collect::<Vec<_>>()
                        .join("; ")
                )
            }
        );
    }
    match failed.as_slice() {
        [] => Ok(()),
        [one] if runs.len() == 1 => Err(match &one.error {
            Some(e) => e.clone(),
            None => Error::ExitStatus {
                what: "the command".into(),
                status: why(one).trim_start_matches("exit ").to_owned(),
            }
            .into(),
        }),
        many => Err(Error::ExitStatus {
            what: format!("the command, on {} of {} host(s),", many.len(), runs.len()),
            status: "a failure".into(),
        }
        .into()),
    }
}

pub(crate) fn print_status(st: &DeploymentStatus) {
    println!("{}  (checked in {:.0} ms)", st.deployment, st.took_ms);
    for h in &st.hosts {
        let head = if h.reachable {
            format!(
                "up    rtt {:>6.1} ms  connect {:>6.1} ms",
                h.latency_ms.unwrap_or(0.0),
                h.connect_ms.unwrap_or(0.0)
            )
        } else {
            "DOWN".to_owned()
        };
        println!(
            "  {:<8} {:<22} {head}  docker {}",
            h.name,
            h.address,
            h.docker_version.as_deref().unwrap_or("-")
        );
        if let Some(e) = &h.error {
            println!("           [{}] {}", e.code, e.message);
        }
        if let Some(e) = &h.docker_error {
            println!("           docker: [{}] {}", e.code, e.message);
        }
        for c in &h.containers {
            println!(
                "           {:<12} {:<9} health {:<10} restarts {}",
                display_safe(c.name.as_bytes()),
                c.state,
                c.health,
                c.restart_count
            );
        }
    }
    for (what, check) in [("database", &st.database), ("app /health", &st.app_health)] {
        if let Some(c) = check {
            let mark = if c.ok { "ok  " } else { "FAIL" };
            println!(
                "  {what:<12} {mark} {:>6.1} ms  {}",
                c.latency_ms.unwrap_or(0.0),
                c.detail
            );
            if let Some(e) = &c.error {
                println!("           [{}] {}", e.code, e.message);
            }
        }
    }
}

pub(crate) fn print_plan(plan: &Plan) {
    let safe = |t: &str| display_safe(t.as_bytes());
    println!("Plan for {}: {}", safe(&plan.deployment), safe(&plan.summary));
    for s in &plan.sample {
        println!("    e.g. {}", safe(s));
    }
    for (i, s) in plan.steps.iter().enumerate() {
        let undo = match plan.reversible.get(i) {
            Some(true) => "undone if a later step fails",
            _ => "cannot be undone",
        };
        println!("  step {}: {}  ({undo})", i + 1, safe(s));
    }
    if plan.destructive && !plan.nothing_to_do() {
        println!("  plan digest {}", plan.digest);
    }
}

/// An interrupted run, as the notice every action command shows before it starts.
pub(crate) fn print_interrupted(r: &Interrupted, out: &mut dyn std::io::Write) {
    let s = |t: &str| display_safe(t.as_bytes());
    let _ = writeln!(
        out,
        "INTERRUPTED run {} of {} on {} by {} at {}: {}",
        r.run_id,
        s(&r.action),
        s(&r.deployment),
        s(&r.operator),
        r.at,
        s(&r.summary)
    );
    for st in &r.steps {
        let _ = writeln!(out, "  step {}: {:<28} {}", st.step, st.state, s(&st.description));
    }
    let _ = writeln!(
        out,
        "  {} with `breakglass undo {} {}`",
        if r.undoable {
            "undo it"
        } else {
            "nothing of it can be undone; close it"
        },
        s(&r.deployment),
        r.run_id
    );
}

pub(crate) fn print_audit(r: &breakglass::engine::audit::AuditReview) {
    let s = |t: &str| display_safe(t.as_bytes());
    println!("Audit trail of {} since {}", r.deployment, r.since);
    println!("\nFailed logins by IP:");
    for f in &r.failed_by_ip {
        println!("  {:<40} {:>6}  {} … {}", s(&f.ip), f.failures, f.first, f.last);
    }
    println!("\nSuccessful logins after failures from the same IP (within an hour):");
    for x in &r.success_after_failures {
        println!(
            "  {:<40} {:<20} after {:>4} failure(s) at {}",
            s(&x.ip),
            s(&x.user),
            x.failures_before,
            x.at
        );
    }
    println!("\nAdmin actions:");
    for e in &r.admin_actions {
        println!("  {}  {:<24} {:<20} {}", e.at, s(&e.action), s(&e.user), s(&e.ip));
    }
    println!("\nNew tokens:");
    for e in &r.new_tokens {
        println!("  {}  {:<20} {}", e.at, s(&e.user), s(&e.ip));
    }
}
