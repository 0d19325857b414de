//! An incident's report, for handing over: a timeline of who did what to which
//! deployment, each step's outcome, and what was verified, as Markdown or HTML. Every
//! report carries the journal's head (to compare with the one pasted into the ticket) and
//! the verification with each problem by kind. Text from the journal (names, messages
//! from servers) is escaped for the format.

use super::incident::{ContainmentState, IncidentView, Tone, human_secs};
use super::{Entry, Verification};

/// One line on the journal as a whole: "verified, untampered" only if it is.
fn chain_status(v: &Verification) -> String {
    if v.ok {
        format!(
            "verified, untampered ({} entries, hash chain, MACs, head file and incidents checked)",
            v.entries
        )
    } else {
        format!("BROKEN: {} problem(s) found", v.problems.len())
    }
}

fn head_line(v: &Verification) -> String {
    match &v.head {
        Some(h) => format!("seq {} sha256 {} at {}", h.seq, h.hash, h.at),
        None => "empty journal".into(),
    }
}

pub(crate) fn summary(e: &Entry) -> String {
    let b = &e.body;
    let s = |k: &str| b.get(k).and_then(|v| v.as_str()).unwrap_or("").to_owned();
    match e.kind.as_str() {
        "incident.opened" => format!("incident opened: {}", s("title")),
        "incident.closed" => "incident closed".into(),
        "incident.note" => format!("note: {}", s("text")),
        "runbook.started" => format!(
            "runbook {} ({}) started: {} step(s)",
            s("runbook"),
            s("title"),
            b.get("steps").and_then(|v| v.as_array()).map_or(0, Vec::len)
        ),
        "runbook.step" => format!(
            "runbook step {} ({}): {}{}",
            b.get("step").and_then(|v| v.as_u64()).unwrap_or(0),
            s("title"),
            if b.get("done").and_then(|v| v.as_bool()) == Some(true) {
                "done"
            } else {
                "NOT done"
            },
            match s("detail") {
                d if d.is_empty() => String::new(),
                d => format!(": {d}"),
            }
        ),
        "action.planned" => format!("planned {}: {}", s("action"), s("summary")),
        "action.nothing_to_do" => format!(
            "{}: nothing to do ({}){}",
            s("action"),
            s("summary"),
            match (
                b.get("verified").and_then(|v| v.as_bool()),
                b.get("verified_by")
                    .and_then(|v| serde_json::from_value::<crate::engine::actions::Vantage>(v.clone()).ok()),
            ) {
                (Some(false), _) => format!("; but verification FAILED: {}", s("verify_detail")),
                (Some(true), Some(v)) => format!("; {}", v.phrase()),
                _ => String::new(),
            }
        ),
        "action.step" => format!(
            "step {}: {} — {}",
            b.get("step").and_then(|v| v.as_u64()).unwrap_or(0),
            s("description"),
            s("outcome")
        ),
        "action.verified" => format!(
            "verify {}{}: {}",
            if b.get("ok").and_then(|v| v.as_bool()) == Some(true) {
                "passed"
            } else {
                "FAILED"
            },
            b.get("by")
                .and_then(|v| serde_json::from_value::<crate::engine::actions::Vantage>(v.clone()).ok())
                .map(|v| format!(" ({})", v.phrase()))
                .unwrap_or_default(),
            s("detail")
        ),
        "action.finished" => format!("{} finished: {}", s("action"), s("outcome")),
        k if k.starts_with("action.step.") || k.starts_with("action.undo.") => {
            let (what, status) = k
                .trim_start_matches("action.")
                .split_once('.')
                .unwrap_or(("step", k));
            let step = b.get("step").and_then(|v| v.as_u64()).unwrap_or(0);
            let head = match what {
                "undo" => format!("undo of step {step}"),
                _ => format!("step {step}"),
            };
            let description = match s("description") {
                d if d.is_empty() => String::new(),
                d => format!(" ({d})"),
            };
            let result = [s("outcome"), s("error")]
                .into_iter()
                .find(|x| !x.is_empty())
                .map(|x| format!(": {x}"))
                .unwrap_or_default();
            let status = match status {
                "failed" | "aborted" => status.to_uppercase(),
                other => other.to_owned(),
            };
            format!("{head} {status}{description}{result}")
        }
        other => other.to_owned(),
    }
}

/// Text from outside (server messages, names, plans) as inert Markdown: every character
/// that could start a link, an image, emphasis, code, a heading or a table cell is
/// escaped, angle brackets become entities (no raw HTML), controls become visible.
pub(crate) fn md_escape(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '!' | '#' | '~' | '|' => format!("\\{c}"),
            '\n' | '\r' => " ".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            c if c.is_control() => format!("\\u{{{:x}}}", c as u32),
            c => c.to_string(),
        })
        .collect()
}

pub(crate) fn html_escape(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '&' => "&amp;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&#39;".to_owned(),
            c if c.is_control() && c != '\n' => format!("\\u{{{:x}}}", c as u32),
            c => c.to_string(),
        })
        .collect()
}

/// The incident's times and where containment stands, as plain lines (escaped by the
/// caller's format).
fn milestones(v: &IncidentView) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let inc = &v.incident;
    out.push((
        format!(
            "Opened {} by {}{}",
            inc.opened_at,
            inc.opened_by,
            inc.deployment
                .as_deref()
                .map(|d| format!(" on {d}"))
                .unwrap_or_default()
        ),
        true,
    ));
    match (&v.contained_at, v.secs_to_contained) {
        (Some(at), Some(s)) => out.push((format!("Contained {at}: {} after opening", human_secs(s)), true)),
        _ if v.containment.is_empty() => {
            out.push(("Not contained: no containment action was run".into(), false))
        }
        _ => out.push(("NOT contained: see the containment below".into(), false)),
    }
    match (&inc.closed_at, v.secs_to_closed) {
        (Some(at), Some(s)) => out.push((format!("Closed {at}: {} after opening", human_secs(s)), true)),
        (Some(at), None) => out.push((format!("Closed {at}"), true)),
        (None, _) => out.push(("Still open".into(), true)),
    }
    out
}

fn containment_lines(v: &IncidentView) -> Vec<(String, bool)> {
    v.containment
        .iter()
        .map(|c| {
            let state = match c.state {
                ContainmentState::Verified => {
                    c.by.map(|b| b.phrase().to_owned())
                        .unwrap_or_else(|| "verified".into())
                }
                ContainmentState::Running => "still running: no verdict".into(),
                ContainmentState::NotVerified => "NOT verified".into(),
            };
            (
                format!(
                    "{}: {state} at {} (run {}): {}",
                    c.action, c.at, c.run_id, c.detail
                ),
                c.state == ContainmentState::Verified,
            )
        })
        .collect()
}

/// `verification` is of the whole journal ([`super::Journal::verify`]).
pub fn render_markdown(view: &IncidentView, verification: &Verification) -> String {
    let incident = &view.incident;
    let mut problems = String::new();
    for p in &verification.problems {
        problems += &format!("- **{}**: {}\n", p.kind, md_escape(&p.detail()));
    }
    for n in &verification.notes {
        problems += &format!("- note: {}\n", md_escape(n));
    }
    if !problems.is_empty() {
        problems.push('\n');
    }
    let mut times = String::new();
    for (line, good) in milestones(view) {
        times += &if good {
            format!("- {}\n", md_escape(&line))
        } else {
            format!("- **{}**\n", md_escape(&line))
        };
    }
    let mut contained = String::new();
    for (line, good) in containment_lines(view) {
        contained += &if good {
            format!("- {}\n", md_escape(&line))
        } else {
            format!("- **{}**\n", md_escape(&line))
        };
    }
    if !contained.is_empty() {
        contained = format!("## Containment\n\n{contained}\n");
    }
    let mut out = format!(
        "# Incident {}: {}\n\n{times}\nJournal: {}.\n\nJournal head: {}\n\n{problems}{contained}## Timeline\n\n| # | time (UTC) | who | deployment | what |\n|---|---|---|---|---|\n",
        incident.id,
        md_escape(&incident.title),
        if verification.ok {
            chain_status(verification)
        } else {
            format!("**{}**", chain_status(verification))
        },
        head_line(verification),
    );
    for t in &view.timeline {
        let what = md_escape(&t.what);
        out += &format!(
            "| {} | {} | {} | {} | {} |\n",
            t.seq,
            md_escape(&t.at),
            md_escape(&t.operator),
            md_escape(&t.deployment),
            match t.tone {
                Tone::Failed => format!("**{what}**"),
                Tone::Note => format!("*{what}*"),
                _ => what,
            }
        );
    }
    out
}

/// `verification` is of the whole journal ([`super::Journal::verify`]).
pub fn render_html(view: &IncidentView, verification: &Verification) -> String {
    let incident = &view.incident;
    let mut problems = String::new();
    for p in &verification.problems {
        problems += &format!(
            "<li class=\"bad\"><strong>{}</strong>: {}</li>\n",
            p.kind,
            html_escape(&p.detail())
        );
    }
    for n in &verification.notes {
        problems += &format!("<li>note: {}</li>\n", html_escape(n));
    }
    if !problems.is_empty() {
        problems = format!("<ul>\n{problems}</ul>\n");
    }
    let li = |lines: Vec<(String, bool)>| {
        lines
            .into_iter()
            .map(|(line, good)| {
                if good {
                    format!("<li>{}</li>\n", html_escape(&line))
                } else {
                    format!("<li class=\"bad\"><strong>{}</strong></li>\n", html_escape(&line))
                }
            })
            .collect::<String>()
    };
    let times = li(milestones(view));
    let mut contained = li(containment_lines(view));
    if !contained.is_empty() {
        contained = format!("<h2>Containment</h2>\n<ul>\n{contained}</ul>\n");
    }
    let mut rows = String::new();
    for t in &view.timeline {
        let class = match t.tone {
            Tone::Failed => " class=\"bad\"",
            Tone::Note => " class=\"note\"",
            _ => "",
        };
        rows += &format!(
            "<tr{class}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            t.seq,
            html_escape(&t.at),
            html_escape(&t.operator),
            html_escape(&t.deployment),
            html_escape(&t.what)
        );
    }
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
         <title>Incident {id}: {title}</title><style>body{{font:14px system-ui,sans-serif;margin:2em}}\
         table{{border-collapse:collapse}}td,th{{border-bottom:1px solid #ccc;padding:4px 8px;text-align:left}}\
         .bad{{color:#b00}}.note{{font-style:italic}}</style></head><body>\n<h1>Incident {id}: {title}</h1>\n\
         <ul>\n{times}</ul>\n<p>Journal: {chain}.</p>\n\
         <p>Journal head: <code>{head}</code></p>\n{problems}{contained}<h2>Timeline</h2>\n\
         <table><thead><tr><th>#</th><th>time (UTC)</th><th>who</th><th>deployment</th><th>what</th></tr></thead>\n\
         <tbody>\n{rows}</tbody></table></body></html>\n",
        id = incident.id,
        title = html_escape(&incident.title),
        chain = if verification.ok {
            html_escape(&chain_status(verification))
        } else {
            format!(
                "<strong class=\"bad\">{}</strong>",
                html_escape(&chain_status(verification))
            )
        },
        head = html_escape(&head_line(verification)),
    )
}

#[cfg(test)]
mod tests {
    use super::super::incident::view;
    use super::super::{Head, Incident, Problem, ProblemKind};
    use super::*;

    #[test]
    fn hostile_text_is_escaped_in_both_formats() {
        let inc = Incident {
            id: 1,
            title: "<script>alert(1)</script> | x".into(),
            opened_at: "t".into(),
            opened_by: "a".into(),
            closed_at: None,
            deployment: Some("prod".into()),
        };
        let e = Entry {
            seq: 1,
            incident: Some(1),
            at: "t".into(),
            operator: "o".into(),
            deployment: "d".into(),
            run_id: "r".into(),
            kind: "action.step".into(),
            body: serde_json::json!({"step": 1, "description": "lock <img src=x onerror=alert(1)>", "outcome": "ok\n| injected |"}),
            prev_hash: String::new(),
            hash: String::new(),
            mac: None,
        };
        let ok = Verification {
            entries: 1,
            ok: true,
            head: Some(Head {
                seq: 1,
                hash: "ab12".into(),
                at: "t".into(),
            }),
            problems: vec![],
            notes: vec![],
        };
        let html = render_html(&view(&inc, std::slice::from_ref(&e)), &ok);
        assert!(!html.contains("<script>") && !html.contains("<img"), "{html}");
        assert!(html.contains("verified, untampered") && html.contains("seq 1 sha256 ab12 at t"));
        let md = render_markdown(&view(&inc, std::slice::from_ref(&e)), &ok);
        assert!(
            !md.contains("<script>") && md.contains("\\| injected \\|"),
            "{md}"
        );
        assert!(md.contains("verified, untampered") && md.contains("seq 1 sha256 ab12 at t"));
    }

    #[test]
    fn markup_in_every_field_stays_text() {
        let evil = "![x](http://evil.example/i.png) [click](javascript:alert(1)) <script>alert(1)</script> `code` *em* # h \u{1b}[31m";
        let inc = Incident {
            id: 1,
            title: evil.into(),
            opened_at: evil.into(),
            opened_by: evil.into(),
            closed_at: Some(evil.into()),
            deployment: Some(evil.into()),
        };
        let e = Entry {
            seq: 1,
            incident: Some(1),
            at: evil.into(),
            operator: evil.into(),
            deployment: evil.into(),
            run_id: evil.into(),
            kind: "action.verified".into(),
            body: serde_json::json!({"ok": true, "detail": evil, "by": "database"}),
            prev_hash: String::new(),
            hash: String::new(),
            mac: None,
        };
        let v = Verification {
            entries: 1,
            ok: false,
            head: None,
            problems: vec![Problem {
                kind: ProblemKind::Edited,
                seq: Some(1),
                message: evil.into(),
            }],
            notes: vec![evil.into()],
        };
        let md = render_markdown(&view(&inc, std::slice::from_ref(&e)), &v);
        for raw in ["](", "![", "<script", "`code`", "*em*", "\u{1b}"] {
            assert!(!md.contains(raw), "{raw} survived in: {md}");
        }
        assert!(md.contains("verified in the database only"), "{md}");
        let html = render_html(&view(&inc, std::slice::from_ref(&e)), &v);
        for raw in ["<script", "\u{1b}", "<img"] {
            assert!(!html.contains(raw), "{raw} survived in: {html}");
        }
        assert!(html.contains("verified in the database only"), "{html}");
    }

    #[test]
    fn problems_are_listed_by_kind_and_escaped() {
        let inc = Incident {
            id: 1,
            title: "t".into(),
            opened_at: "t".into(),
            opened_by: "a".into(),
            closed_at: None,
            deployment: Some("prod".into()),
        };
        let bad = Verification {
            entries: 3,
            ok: false,
            head: None,
            problems: vec![Problem {
                kind: ProblemKind::TailTruncated,
                seq: Some(7),
                message: "<b>gone</b>".into(),
            }],
            notes: vec![],
        };
        for text in [
            render_markdown(&view(&inc, &[]), &bad),
            render_html(&view(&inc, &[]), &bad),
        ] {
            assert!(!text.contains("untampered"), "{text}");
            assert!(
                text.contains("tail_truncated") && text.contains("entry 7"),
                "{text}"
            );
            assert!(!text.contains("<b>"), "{text}");
        }
    }
}
