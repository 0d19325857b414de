//! How the command line prints: text for people, `--json` for scripts. Every string
//! that came from outside (a server, a remote file, the journal) goes through
//! `display_safe`, so nothing raw reaches the terminal.

use breakglass::engine::actions::{Interrupted, Plan};
use breakglass::engine::exec::HostRun;
use breakglass::engine::review::status::DeploymentStatus;
use breakglass::engine::ssh::output::display_safe;
use breakglass::engine::{Error, ErrorReport};

/// Set once stdout is gone (`breakglass audit … | head`): output stops quietly, the
/// command finishes what it was doing (an action still releases its lock and journals).
static STDOUT_CLOSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Set by a command that ran but found something not all good (exit status 1).
static DEGRADED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub(crate) fn set_degraded() {
    DEGRADED.store(true, std::sync::atomic::Ordering::Relaxed);
}

pub(crate) fn degraded() -> bool {
    DEGRADED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Whether stdout was closed by its reader.
pub(crate) fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(std::sync::atomic::Ordering::Relaxed)
}

/// What `outln!`/`out!` and `errln!` call: write, and on a closed pipe stop writing
/// instead of panicking. Any other write error is ignored too: there is nowhere to say it.
pub(crate) fn write_to(stderr: bool, args: std::fmt::Arguments<'_>, newline: bool) {
    use std::io::Write;
    if !stderr && stdout_closed() {
        return;
    }
    let result = if stderr {
        let mut e = std::io::stderr().lock();
        e.write_fmt(args)
            .and_then(|()| if newline { e.write_all(b"\n") } else { Ok(()) })
    } else {
        let mut o = std::io::stdout().lock();
        o.write_fmt(args)
            .and_then(|()| if newline { o.write_all(b"\n") } else { Ok(()) })
            .and_then(|()| o.flush())
    };
    if let Err(e) = result
        && e.kind() == std::io::ErrorKind::BrokenPipe
        && !stderr
    {
        STDOUT_CLOSED.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// `println!` that never panics on a closed pipe.
macro_rules! outln {
    () => { $crate::print::write_to(false, format_args!(""), true) };
    ($($t:tt)*) => { $crate::print::write_to(false, format_args!($($t)*), true) };
}
/// `print!` that never panics on a closed pipe.
macro_rules! out {
    ($($t:tt)*) => { $crate::print::write_to(false, format_args!($($t)*), false) };
}
/// `eprintln!` that never panics on a closed pipe.
macro_rules! errln {
    ($($t:tt)*) => { $crate::print::write_to(true, format_args!($($t)*), true) };
}

/// A writer for `print_interrupted` and the like that stops quietly on a closed pipe.
pub(crate) struct Out {
    pub(crate) stderr: bool,
}

impl std::io::Write for Out {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        write_to(
            self.stderr,
            format_args!("{}", String::from_utf8_lossy(buf)),
            false,
        );
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub(crate) fn print_json(value: &impl serde::Serialize) -> Result<(), ErrorReport> {
    let text = serde_json::to_string_pretty(value).map_err(|source| Error::Output { source })?;
    outln!("{text}");
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
        out!("{}", one.stdout_text);
        write_to(true, format_args!("{}", one.stderr_text), false);
        if one.truncated {
            errln!("[output truncated]");
        }
    } else {
        let mut out = Out { stderr: false };
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
        errln!(
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
    // Everything below but our own numbers came from a server or a profile.
    let safe = |t: &str| display_safe(t.as_bytes());
    outln!("{}  (checked in {:.0} ms)", safe(&st.deployment), st.took_ms);
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
        outln!(
            "  {:<8} {:<22} {head}  docker {}",
            safe(&h.name),
            safe(&h.address),
            safe(h.docker_version.as_deref().unwrap_or("-"))
        );
        if let Some(e) = &h.error {
            outln!("           [{}] {}", e.code, safe(&e.detail));
        }
        if let Some(e) = &h.docker_error {
            outln!("           docker: [{}] {}", e.code, safe(&e.detail));
        }
        for c in &h.containers {
            outln!(
                "           {:<12} {:<9} health {:<10} restarts {}",
                safe(&c.name),
                safe(&c.state),
                safe(&c.health),
                c.restart_count
            );
        }
        if !h.other_containers.is_empty() {
            outln!(
                "           + {} other container(s) on this host, not the deployment's (not judged)",
                h.other_containers.len()
            );
        }
    }
    for (what, check) in [("database", &st.database), ("app /health", &st.app_health)] {
        if let Some(c) = check {
            let mark = if c.ok { "ok  " } else { "FAIL" };
            outln!(
                "  {what:<12} {mark} {:>6.1} ms  {}",
                c.latency_ms.unwrap_or(0.0),
                safe(&c.detail)
            );
            if let Some(e) = &c.error {
                outln!("           [{}] {}", e.code, safe(&e.detail));
            }
        }
    }
}

pub(crate) fn print_plan(plan: &Plan) {
    let safe = |t: &str| display_safe(t.as_bytes());
    outln!("Plan for {}: {}", safe(&plan.deployment), safe(&plan.summary));
    for s in &plan.sample {
        outln!("    e.g. {}", safe(s));
    }
    for (i, s) in plan.steps.iter().enumerate() {
        let undo = match plan.reversible.get(i) {
            Some(true) => "undone if a later step fails",
            _ => "cannot be undone",
        };
        outln!("  step {}: {}  ({undo})", i + 1, safe(s));
    }
    for w in &plan.warnings {
        outln!("  WARNING: {}", safe(w));
    }
    if plan.destructive && !plan.nothing_to_do() {
        outln!("  plan digest {}", plan.digest);
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

pub(crate) fn print_audit(r: &breakglass::engine::review::audit::AuditReview) {
    let s = |t: &str| display_safe(t.as_bytes());
    outln!("Audit trail of {} since {}", r.deployment, r.since);
    outln!("\nFailed logins by IP:");
    for f in &r.failed_by_ip {
        outln!("  {:<40} {:>6}  {} … {}", s(&f.ip), f.failures, f.first, f.last);
    }
    outln!("\nSuccessful logins after failures from the same IP (within an hour):");
    for x in &r.success_after_failures {
        outln!(
            "  {:<40} {:<20} after {:>4} failure(s) at {}",
            s(&x.ip),
            s(&x.user),
            x.failures_before,
            x.at
        );
    }
    outln!("\nAdmin actions:");
    for e in &r.admin_actions {
        outln!("  {}  {:<24} {:<20} {}", e.at, s(&e.action), s(&e.user), s(&e.ip));
    }
    outln!("\nNew tokens:");
    for e in &r.new_tokens {
        outln!("  {}  {:<20} {}", e.at, s(&e.user), s(&e.ip));
    }
}

/// `incident show`: the times, where containment stands (and by which vantage), then the
/// timeline; notes are marked, failures shouted.
pub(crate) fn print_incident(v: &breakglass::engine::journal::incident::IncidentView) {
    use breakglass::engine::journal::incident::{ContainmentState, Tone, human_secs, secs_since};
    let s = |t: &str| display_safe(t.as_bytes());
    let i = &v.incident;
    outln!(
        "Incident {} on {}: {}",
        i.id,
        s(i.deployment.as_deref().unwrap_or("(console wide)")),
        s(&i.title)
    );
    outln!("  opened     {} by {}", s(&i.opened_at), s(&i.opened_by));
    match (&v.contained_at, v.secs_to_contained) {
        (Some(at), Some(secs)) => outln!("  contained  {} ({} after opening)", s(at), human_secs(secs)),
        _ if v.containment.is_empty() => outln!("  contained  NO: no containment action run yet"),
        _ => outln!("  contained  NO: see below"),
    }
    match (&i.closed_at, v.secs_to_closed) {
        (Some(at), Some(secs)) => outln!("  closed     {} ({} after opening)", s(at), human_secs(secs)),
        (Some(at), None) => outln!("  closed     {}", s(at)),
        (None, _) => outln!(
            "  open       for {}",
            secs_since(&i.opened_at)
                .map(human_secs)
                .unwrap_or_else(|| "?".into())
        ),
    }
    if !v.containment.is_empty() {
        outln!("\nContainment:");
        for c in &v.containment {
            let state = match (c.state, c.by) {
                (ContainmentState::Verified, Some(by)) => by.phrase().to_owned(),
                (ContainmentState::Verified, None) => "verified".into(),
                (ContainmentState::Running, _) => "running, no verdict yet".into(),
                (ContainmentState::NotVerified, _) => "NOT VERIFIED".into(),
            };
            outln!(
                "  {:<22} {:<34} {}  {}",
                s(&c.action),
                state,
                s(&c.at),
                s(&c.detail)
            );
        }
    }
    outln!("\nTimeline:");
    for t in &v.timeline {
        let mark = match t.tone {
            Tone::Failed => "!!",
            Tone::Note => "**",
            Tone::Verified => "ok",
            Tone::VerifiedDatabaseOnly => "db",
            Tone::Info => "  ",
        };
        outln!(
            "  {:>5} {} {mark} {:<14} {}",
            t.seq,
            s(&t.at),
            s(&t.operator),
            s(&t.what)
        );
    }
}
