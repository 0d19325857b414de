//! What the audit's findings add up to: each check's severity, a score per deployment,
//! the Mozilla HTTP Observatory's score and grade for the public URL, findings that
//! combine into a worse risk, what changed since the last audit (drift), and the report
//! as Markdown and HTML.

use serde::{Deserialize, Serialize};

use super::{Finding, HardeningReport, Verdict};
use crate::engine::journal::report::{html_escape, md_escape};

/// How much a failure of a check matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    fn weight(self) -> f64 {
        match self {
            Severity::Low => 1.0,
            Severity::Medium => 2.0,
            Severity::High => 4.0,
            Severity::Critical => 8.0,
        }
    }
    pub fn word(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// The severity of a check: what an attacker gains when it fails. Checks that could not
/// run are as severe as what they would have checked.
pub fn severity(check: &str) -> Severity {
    match check {
        "container.privileged"
        | "container.docker_socket"
        | "redis.auth"
        | "net.redis_public"
        | "net.db_public"
        | "env.git"
        | "env.git_history"
        | "secrets.weak"
        | "ssh.password_auth"
        | "http.https"
        | "tls.version"
        | "tls.certificate" => Severity::Critical,
        "ssh.root_login"
        | "ssh.kbd_interactive"
        | "ssh.config"
        | "container.user"
        | "env.mode"
        | "db.tls"
        | "http.hsts"
        | "http.cors"
        | "http.cookies"
        | "http.redirect"
        | "http.rate_limit"
        | "backups.restore_tested"
        | "backups.fresh"
        | "backups.configured"
        | "host.firewall"
        | "secrets.reused"
        | "secrets.cross_env"
        | "host.reachable"
        | "http.reachable" => Severity::High,
        "http.csp"
        | "http.framing"
        | "host.auto_updates"
        | "container.capabilities"
        | "container.host_namespaces"
        | "container.limits" => Severity::Medium,
        _ => Severity::Low,
    }
}

/// One number per audit, 0 to 100: the share of the checks' weight (critical 8, high 4,
/// medium 2, low 1) that passed, a warning counting half and a check that could not run
/// nothing. Accepted findings are left out of both sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Score {
    pub value: u8,
    pub pass: u32,
    pub warn: u32,
    pub fail: u32,
    pub unknown: u32,
    pub accepted: u32,
}

pub fn score(findings: &[Finding]) -> Score {
    let (mut got, mut all) = (0.0, 0.0);
    let mut s = Score {
        value: 100,
        pass: 0,
        warn: 0,
        fail: 0,
        unknown: 0,
        accepted: 0,
    };
    for f in findings {
        if f.accepted.is_some() {
            s.accepted += 1;
            continue;
        }
        let w = f.severity.weight();
        all += w;
        match f.verdict {
            Verdict::Pass => {
                got += w;
                s.pass += 1;
            }
            Verdict::Warn => {
                got += w / 2.0;
                s.warn += 1;
            }
            Verdict::Fail => s.fail += 1,
            Verdict::Unknown => s.unknown += 1,
        }
    }
    if all > 0.0 {
        s.value = (100.0 * got / all).round().clamp(0.0, 100.0) as u8;
    }
    s
}

/// What plain HTTP did when asked for the site (for the Observatory's redirection test).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Redirect {
    /// The first answer redirects to https:// on the same host.
    ToHttps,
    /// To https://, but on another host (HSTS cannot be set for the first one).
    OffHost,
    /// A redirect, but not to https://.
    NotToHttps,
    /// It answered without redirecting.
    Missing,
    /// Nothing answers plain HTTP there.
    NoHttp,
    /// Not asked (no address to ask: see `[harden] http_url`).
    NotChecked,
}

/// One test of the Observatory's rubric, as its documentation names the result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ObservatoryTest {
    pub test: String,
    pub result: String,
    pub modifier: i32,
}

/// The public URL scored on the MDN HTTP Observatory's published rubric
/// (developer.mozilla.org/en-US/observatory/docs/tests_and_scoring): 100, minus the
/// penalties, plus the bonuses when the result is 90 or more; never below 0. Subresource
/// Integrity is not scored (it needs the page's HTML parsed): `tests` says so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Observatory {
    pub score: i32,
    pub grade: String,
    pub tests: Vec<ObservatoryTest>,
}

pub fn grade(score: i32) -> &'static str {
    match score {
        100.. => "A+",
        90..=99 => "A",
        85..=89 => "A-",
        80..=84 => "B+",
        70..=79 => "B",
        65..=69 => "B-",
        60..=64 => "C+",
        50..=59 => "C",
        45..=49 => "C-",
        40..=44 => "D+",
        30..=39 => "D",
        25..=29 => "D-",
        _ => "F",
    }
}

/// `headers` (lower-case names) of the public URL's answer, `cors` of the answer to a
/// foreign `origin`.
pub fn observatory(
    https: bool,
    headers: &[(String, String)],
    cors: &[(String, String)],
    origin: &str,
    redirect: &Redirect,
) -> Observatory {
    let get =
        |h: &[(String, String)], n: &str| h.iter().find(|(k, _)| k == n).map(|(_, v)| v.trim().to_owned());
    let mut tests = Vec::new();
    let mut t = |test: &str, result: &str, modifier: i32| {
        tests.push(ObservatoryTest {
            test: test.into(),
            result: result.into(),
            modifier,
        });
    };
    // Content Security Policy.
    let csp = get(headers, "content-security-policy").map(|c| c.to_ascii_lowercase());
    let directive = |c: &str, name: &str| {
        c.split(';')
            .map(str::trim)
            .find(|d| d.split_whitespace().next() == Some(name))
            .map(str::to_owned)
    };
    match &csp {
        None => t("content-security-policy", "csp-not-implemented", -25),
        Some(c) => {
            let script = directive(c, "script-src").or_else(|| directive(c, "default-src"));
            let default_none = directive(c, "default-src").is_some_and(|d| d.contains("'none'"));
            let insecure = c.split_whitespace().any(|w| w.starts_with("http:"));
            if script.as_deref().is_some_and(|s| s.contains("'unsafe-inline'")) {
                t(
                    "content-security-policy",
                    "csp-implemented-with-unsafe-inline",
                    -20,
                );
            } else if insecure {
                t(
                    "content-security-policy",
                    "csp-implemented-with-insecure-scheme",
                    -20,
                );
            } else if c.contains("'unsafe-eval'") {
                t("content-security-policy", "csp-implemented-with-unsafe-eval", -10);
            } else if c.contains("'unsafe-inline'") {
                t(
                    "content-security-policy",
                    "csp-implemented-with-unsafe-inline-in-style-src-only",
                    0,
                );
            } else if default_none {
                t(
                    "content-security-policy",
                    "csp-implemented-with-no-unsafe-default-src-none",
                    10,
                );
            } else {
                t("content-security-policy", "csp-implemented-with-no-unsafe", 5);
            }
        }
    }
    // Cookies (every cookie the answer set is treated as a session cookie: this answer
    // is the one the audit can see).
    let hsts_age = get(headers, "strict-transport-security").and_then(|v| {
        v.split(';').find_map(|p| {
            p.trim()
                .strip_prefix("max-age=")
                .and_then(|n| n.trim_matches('"').parse::<u64>().ok())
        })
    });
    let cookies: Vec<String> = headers
        .iter()
        .filter(|(k, _)| k == "set-cookie")
        .map(|(_, v)| v.to_ascii_lowercase())
        .collect();
    let has = |c: &str, a: &str| c.split(';').skip(1).any(|p| p.trim().starts_with(a));
    if cookies.is_empty() {
        t("cookies", "cookies-not-found", 0);
    } else if cookies.iter().any(|c| !has(c, "secure")) || !https {
        if https && hsts_age.is_some() {
            t(
                "cookies",
                "cookies-session-without-secure-flag-but-protected-by-hsts",
                -10,
            );
        } else {
            t("cookies", "cookies-session-without-secure-flag", -40);
        }
    } else if cookies.iter().any(|c| !has(c, "httponly")) {
        t("cookies", "cookies-session-without-httponly-flag", -30);
    } else if cookies.iter().any(|c| {
        c.split(';')
            .skip(1)
            .find_map(|p| p.trim().strip_prefix("samesite="))
            .is_some_and(|v| !matches!(v.trim(), "strict" | "lax"))
    }) {
        t("cookies", "cookies-samesite-flag-invalid", -20);
    } else if cookies.iter().all(|c| has(c, "samesite")) {
        t("cookies", "cookies-secure-with-httponly-sessions-and-samesite", 5);
    } else {
        t("cookies", "cookies-secure-with-httponly-sessions", 0);
    }
    // Cross-origin Resource Sharing.
    let acao = get(cors, "access-control-allow-origin");
    match acao.as_deref() {
        Some(o) if o == origin => t(
            "cross-origin-resource-sharing",
            "cross-origin-resource-sharing-implemented-with-universal-access",
            -50,
        ),
        Some("*") => t(
            "cross-origin-resource-sharing",
            "cross-origin-resource-sharing-implemented-with-public-access",
            0,
        ),
        Some(_) => t(
            "cross-origin-resource-sharing",
            "cross-origin-resource-sharing-implemented-with-restricted-access",
            0,
        ),
        None => t(
            "cross-origin-resource-sharing",
            "cross-origin-resource-sharing-not-implemented",
            0,
        ),
    }
    // Redirection.
    match redirect {
        Redirect::ToHttps => t("redirection", "redirection-to-https", 0),
        Redirect::OffHost => t("redirection", "redirection-off-host-from-http", -5),
        Redirect::NotToHttps => t("redirection", "redirection-not-to-https", -20),
        Redirect::Missing => t("redirection", "redirection-missing", -20),
        Redirect::NoHttp if https => t("redirection", "redirection-not-needed-no-http", 0),
        Redirect::NoHttp => t("redirection", "redirection-missing", -20),
        Redirect::NotChecked if https => t("redirection", "not-checked", 0),
        Redirect::NotChecked => t("redirection", "redirection-missing", -20),
    }
    // Referrer Policy: the last policy a browser understands wins.
    let referrer = get(headers, "referrer-policy").map(|v| v.to_ascii_lowercase());
    match referrer
        .as_deref()
        .and_then(|v| v.split(',').map(str::trim).rfind(|p| !p.is_empty()))
    {
        None => t("referrer-policy", "referrer-policy-not-implemented", 0),
        Some("no-referrer" | "same-origin" | "strict-origin" | "strict-origin-when-cross-origin") => {
            t("referrer-policy", "referrer-policy-private", 5)
        }
        Some("no-referrer-when-downgrade") => {
            t("referrer-policy", "referrer-policy-no-referrer-when-downgrade", 0)
        }
        Some("origin" | "origin-when-cross-origin" | "unsafe-url") => {
            t("referrer-policy", "referrer-policy-unsafe", -5)
        }
        Some(_) => t("referrer-policy", "referrer-policy-headers-invalid", -5),
    }
    // HTTP Strict Transport Security.
    match (https, hsts_age) {
        (false, _) => t("strict-transport-security", "hsts-not-implemented-no-https", -20),
        (true, None) if get(headers, "strict-transport-security").is_some() => {
            t("strict-transport-security", "hsts-header-invalid", -20)
        }
        (true, None) => t("strict-transport-security", "hsts-not-implemented", -20),
        (true, Some(a)) if a >= 15_768_000 => t(
            "strict-transport-security",
            "hsts-implemented-max-age-at-least-six-months",
            0,
        ),
        (true, Some(_)) => t(
            "strict-transport-security",
            "hsts-implemented-max-age-less-than-six-months",
            -10,
        ),
    }
    t("subresource-integrity", "not-checked", 0);
    // X-Content-Type-Options.
    match get(headers, "x-content-type-options") {
        Some(v) if v.eq_ignore_ascii_case("nosniff") => {
            t("x-content-type-options", "x-content-type-options-nosniff", 0)
        }
        Some(_) => t(
            "x-content-type-options",
            "x-content-type-options-header-invalid",
            -5,
        ),
        None => t(
            "x-content-type-options",
            "x-content-type-options-not-implemented",
            -5,
        ),
    }
    // X-Frame-Options.
    let ancestors = csp
        .as_deref()
        .is_some_and(|c| directive(c, "frame-ancestors").is_some());
    match get(headers, "x-frame-options").map(|v| v.to_ascii_uppercase()) {
        _ if ancestors => t("x-frame-options", "x-frame-options-implemented-via-csp", 5),
        Some(v) if v == "DENY" || v == "SAMEORIGIN" => {
            t("x-frame-options", "x-frame-options-sameorigin-or-deny", 0)
        }
        Some(_) => t("x-frame-options", "x-frame-options-header-invalid", -20),
        None => t("x-frame-options", "x-frame-options-not-implemented", -20),
    }
    // Cross-Origin Resource Policy.
    match get(headers, "cross-origin-resource-policy").map(|v| v.to_ascii_lowercase()) {
        Some(v) if v == "same-origin" || v == "same-site" => t(
            "cross-origin-resource-policy",
            "corp-implemented-with-same-origin",
            0,
        ),
        Some(v) if v == "cross-origin" => t(
            "cross-origin-resource-policy",
            "corp-implemented-with-cross-origin",
            0,
        ),
        Some(_) => t("cross-origin-resource-policy", "corp-header-invalid", -5),
        None => t("cross-origin-resource-policy", "corp-not-implemented", 0),
    }
    let penalties: i32 = tests.iter().map(|t| t.modifier).filter(|m| *m < 0).sum();
    let bonuses: i32 = tests.iter().map(|t| t.modifier).filter(|m| *m > 0).sum();
    let mut score = 100 + penalties;
    if score >= 90 {
        score += bonuses;
    }
    let score = score.max(0);
    Observatory {
        score,
        grade: grade(score).into(),
        tests,
    }
}

/// A finding as a later audit finds it again: its check, host and subject.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct FindingRef {
    pub check: String,
    pub host: Option<String>,
    pub subject: Option<String>,
}

impl FindingRef {
    pub fn of(f: &Finding) -> FindingRef {
        FindingRef {
            check: f.check.clone(),
            host: f.host.clone(),
            subject: f.subject.clone(),
        }
    }
    pub fn label(&self) -> String {
        let mut s = self.check.clone();
        if let Some(h) = &self.host {
            s += &format!(" on {h}");
        }
        if let Some(x) = &self.subject {
            s += &format!(" ({x})");
        }
        s
    }
}

/// Findings that together make a worse risk than each alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Link {
    pub title: String,
    /// What an attacker can do with all of them.
    pub risk: String,
    pub findings: Vec<FindingRef>,
}

/// The combinations the seeds' incidents are made of. Only unaccepted fails (and warns
/// where a warn is the weak part) take part.
pub fn links(findings: &[Finding]) -> Vec<Link> {
    let bad = |f: &&Finding| f.accepted.is_none() && f.verdict == Verdict::Fail;
    let failing =
        |check: &str| -> Vec<&Finding> { findings.iter().filter(bad).filter(|f| f.check == check).collect() };
    let refs = |fs: &[&Finding]| fs.iter().map(|f| FindingRef::of(f)).collect::<Vec<_>>();
    let mut out = Vec::new();

    // Redis on the network without a password (and root containers beside it).
    let (open, noauth) = (failing("net.redis_public"), failing("redis.auth"));
    if !open.is_empty() && !noauth.is_empty() {
        let hosts: Vec<&str> = open.iter().filter_map(|f| f.host.as_deref()).collect();
        let roots: Vec<&Finding> = failing("container.user")
            .into_iter()
            .filter(|f| f.host.as_deref().is_some_and(|h| hosts.contains(&h)))
            .collect();
        let mut fs = open.clone();
        fs.extend(noauth);
        fs.extend(roots.iter().copied());
        out.push(Link {
            title: "Redis open to the network without a password".into(),
            risk: format!(
                "anyone who reaches the port reads and writes sessions, caches and queued jobs, and can make Redis write files (CONFIG SET dir){}",
                if roots.is_empty() { String::new() } else { format!("; {} container(s) on that host run as root", roots.len()) }
            ),
            findings: refs(&fs),
        });
    }
    // The database on the network, its connections in plain text.
    let (db_open, db_tls) = (failing("net.db_public"), failing("db.tls"));
    if !db_open.is_empty() && !db_tls.is_empty() {
        let mut fs = db_open;
        fs.extend(db_tls);
        fs.extend(failing("secrets.weak"));
        out.push(Link {
            title: "PostgreSQL reachable from the network, over plain text".into(),
            risk: "its password crosses the network in clear and the port accepts guesses from anywhere"
                .into(),
            findings: refs(&fs),
        });
    }
    // A root container holding the Docker socket.
    let sockets = failing("container.docker_socket");
    for s in &sockets {
        let root: Vec<&Finding> = failing("container.user")
            .into_iter()
            .filter(|f| f.host == s.host && f.subject == s.subject)
            .collect();
        if !root.is_empty() {
            let mut fs = vec![*s];
            fs.extend(root);
            out.push(Link {
                title: format!(
                    "{} runs as root with the Docker socket",
                    s.subject.as_deref().unwrap_or("a container")
                ),
                risk:
                    "a flaw in that app is root on its host: it can start a privileged container mounting /"
                        .into(),
                findings: refs(&fs),
            });
        }
    }
    // SSH passwords, root allowed in.
    for pw in failing("ssh.password_auth") {
        let root: Vec<&Finding> = failing("ssh.root_login")
            .into_iter()
            .filter(|f| f.host == pw.host)
            .collect();
        if !root.is_empty() {
            let mut fs = vec![pw];
            fs.extend(root);
            out.push(Link {
                title: format!(
                    "root can log in to {} with a password",
                    pw.host.as_deref().unwrap_or("a host")
                ),
                risk: "the root password can be guessed over SSH".into(),
                findings: refs(&fs),
            });
        }
    }
    // Secrets that left the server.
    let leaked: Vec<&Finding> = findings
        .iter()
        .filter(bad)
        .filter(|f| matches!(f.check.as_str(), "env.git" | "env.git_history" | "env.mode"))
        .collect();
    if leaked.iter().any(|f| f.check != "env.mode") && leaked.len() >= 2 {
        out.push(Link {
            title: "the .env's secrets are readable beyond the app".into(),
            risk: "anyone with the repository (or a shell on the host) has every credential: rotate them all"
                .into(),
            findings: refs(&leaked),
        });
    }
    // Sessions over plain HTTP.
    let (plain, cookies) = (failing("http.https"), failing("http.cookies"));
    if !plain.is_empty() && !cookies.is_empty() {
        let mut fs = plain;
        fs.extend(cookies);
        out.push(Link {
            title: "session cookies over plain HTTP".into(),
            risk: "anyone on the network path takes over logged-in sessions".into(),
            findings: refs(&fs),
        });
    }
    // Logins neither throttled nor protected by strong secrets.
    let (burst, weak) = (failing("http.rate_limit"), failing("secrets.weak"));
    if !burst.is_empty() && !weak.is_empty() {
        let mut fs = burst;
        fs.extend(weak);
        out.push(Link {
            title: "unthrottled logins and weak secrets".into(),
            risk: "passwords can be guessed at full speed, and some secrets are guessable".into(),
            findings: refs(&fs),
        });
    }
    out
}

/// One finding's verdict as an audit saw it (kept per audit for drift).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    #[serde(flatten)]
    pub at: FindingRef,
    pub verdict: Verdict,
}

/// A finding whose verdict changed since the previous audit (`from` or `to` is `None`
/// when the finding was not there).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Change {
    #[serde(flatten)]
    pub at: FindingRef,
    pub from: Option<Verdict>,
    pub to: Option<Verdict>,
}

/// What changed since the previous audit of the same deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Drift {
    pub previous_at: String,
    pub previous_score: u8,
    pub changes: Vec<Change>,
}

pub fn drift(previous: &[Seen], now: &[Finding]) -> Vec<Change> {
    use std::collections::BTreeMap;
    let before: BTreeMap<&FindingRef, Verdict> = previous.iter().map(|s| (&s.at, s.verdict)).collect();
    let now_refs: Vec<(FindingRef, Verdict)> = now.iter().map(|f| (FindingRef::of(f), f.verdict)).collect();
    let after: BTreeMap<&FindingRef, Verdict> = now_refs.iter().map(|(r, v)| (r, *v)).collect();
    let mut out = Vec::new();
    for (r, v) in &after {
        match before.get(r) {
            Some(b) if b == v => {}
            b => out.push(Change {
                at: (*r).clone(),
                from: b.copied(),
                to: Some(*v),
            }),
        }
    }
    for (r, b) in &before {
        if !after.contains_key(r) {
            out.push(Change {
                at: (*r).clone(),
                from: Some(*b),
                to: None,
            });
        }
    }
    out
}

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Warn => "warn",
        Verdict::Fail => "FAIL",
        Verdict::Unknown => "unknown",
    }
}

/// Findings in reading order: failures first, then what could not be checked, then
/// warnings, accepted ones and passes; by severity within each.
pub fn sorted(findings: &[Finding]) -> Vec<&Finding> {
    let rank = |f: &Finding| match (f.accepted.is_some(), f.verdict) {
        (false, Verdict::Fail) => 0,
        (false, Verdict::Unknown) => 1,
        (false, Verdict::Warn) => 2,
        (true, _) => 3,
        (false, Verdict::Pass) => 4,
    };
    let mut v: Vec<&Finding> = findings.iter().collect();
    v.sort_by(|a, b| {
        rank(a)
            .cmp(&rank(b))
            .then(b.severity.cmp(&a.severity))
            .then(a.check.cmp(&b.check))
            .then(a.host.cmp(&b.host))
            .then(a.subject.cmp(&b.subject))
    });
    v
}

/// The report as Markdown: every text that came from a server escaped, so nothing in it
/// is a link, an image or markup.
pub fn markdown(r: &HardeningReport) -> String {
    let e = md_escape;
    let mut s = format!("# Hardening audit of {}\n\n", e(&r.deployment));
    s += &format!(
        "Checked {} in {} ms. **Score {}/100**: {} failed, {} could not be checked, {} warnings, {} passed, {} accepted.\n\n",
        e(&r.checked_at),
        r.took_ms,
        r.score.value,
        r.score.fail,
        r.score.unknown,
        r.score.warn,
        r.score.pass,
        r.score.accepted
    );
    if let Some(o) = &r.observatory {
        s += &format!("HTTP Observatory rubric: **{} ({})**.\n\n", o.score, e(&o.grade));
    }
    if let Some(d) = &r.drift {
        s += &format!(
            "## Since the previous audit ({}, score {})\n\n",
            e(&d.previous_at),
            d.previous_score
        );
        if d.changes.is_empty() {
            s += "No change.\n\n";
        }
        for c in &d.changes {
            s += &format!(
                "- {}: {} → {}\n",
                e(&c.at.label()),
                c.from.map_or("(absent)", verdict_word),
                c.to.map_or("(gone)", verdict_word)
            );
        }
        s += "\n";
    }
    if !r.links.is_empty() {
        s += "## Combined risks\n\n";
        for l in &r.links {
            s += &format!(
                "- **{}**: {}. Findings: {}\n",
                e(&l.title),
                e(&l.risk),
                l.findings
                    .iter()
                    .map(|f| e(&f.label()))
                    .collect::<Vec<_>>()
                    .join("; ")
            );
        }
        s += "\n";
    }
    s += "## Findings\n\n| verdict | severity | check | host | subject | detail |\n|---|---|---|---|---|---|\n";
    for f in sorted(&r.findings) {
        s += &format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            if f.accepted.is_some() {
                "accepted"
            } else {
                verdict_word(f.verdict)
            },
            f.severity.word(),
            e(&f.check),
            e(f.host.as_deref().unwrap_or("")),
            e(f.subject.as_deref().unwrap_or("")),
            e(&f.detail)
        );
    }
    s += "\n## Evidence and fixes\n\n";
    for f in sorted(&r.findings)
        .into_iter()
        .filter(|f| f.verdict != Verdict::Pass || f.accepted.is_some())
    {
        s += &format!(
            "### {} {}\n\n{}\n\n",
            e(&FindingRef::of(f).label()),
            if f.accepted.is_some() {
                "(accepted)"
            } else {
                verdict_word(f.verdict)
            },
            e(&f.detail)
        );
        s += &format!("- Checklist: {}\n", e(&f.checklist));
        if !f.fix.is_empty() {
            s += &format!("- Fix: {}\n", e(&f.fix));
        }
        if let Some(a) = &f.accepted {
            s += &format!(
                "- Accepted by {} until {}: {}\n",
                e(&a.by),
                e(&a.until),
                e(&a.reason)
            );
        }
        if let Some(ev) = &f.evidence {
            s += &format!("- Evidence: {} (SHA-256 {})\n\n", e(&ev.command), ev.digest);
            // Quoted, each line escaped: nothing in it is Markdown or HTML.
            for line in ev.output.lines() {
                s += &format!("> {}  \n", e(line));
            }
        }
        s += "\n";
    }
    s
}

/// The report as a self-contained HTML page: no script, no remote content, every text
/// escaped.
pub fn html(r: &HardeningReport) -> String {
    let e = html_escape;
    let mut s = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n<title>Hardening audit of {}</title>\n<style>body{{font:14px system-ui,sans-serif;margin:2em;max-width:72em}}table{{border-collapse:collapse}}td,th{{border:1px solid #999;padding:.2em .5em;text-align:left;vertical-align:top}}.fail{{color:#a00;font-weight:bold}}.warn{{color:#850}}.unknown{{color:#555;font-weight:bold}}pre{{background:#f4f4f4;padding:.5em;white-space:pre-wrap}}</style></head><body>\n",
        e(&r.deployment)
    );
    s += &format!("<h1>Hardening audit of {}</h1>\n", e(&r.deployment));
    s += &format!(
        "<p>Checked {} in {} ms. <strong>Score {}/100</strong>: {} failed, {} could not be checked, {} warnings, {} passed, {} accepted.</p>\n",
        e(&r.checked_at),
        r.took_ms,
        r.score.value,
        r.score.fail,
        r.score.unknown,
        r.score.warn,
        r.score.pass,
        r.score.accepted
    );
    if let Some(o) = &r.observatory {
        s += &format!(
            "<p>HTTP Observatory rubric: <strong>{} ({})</strong></p>\n",
            o.score,
            e(&o.grade)
        );
    }
    if let Some(d) = &r.drift {
        s += &format!(
            "<h2>Since the previous audit ({}, score {})</h2>\n<ul>\n",
            e(&d.previous_at),
            d.previous_score
        );
        if d.changes.is_empty() {
            s += "<li>No change.</li>\n";
        }
        for c in &d.changes {
            s += &format!(
                "<li>{}: {} → {}</li>\n",
                e(&c.at.label()),
                c.from.map_or("(absent)", verdict_word),
                c.to.map_or("(gone)", verdict_word)
            );
        }
        s += "</ul>\n";
    }
    if !r.links.is_empty() {
        s += "<h2>Combined risks</h2>\n<ul>\n";
        for l in &r.links {
            s += &format!(
                "<li><strong>{}</strong>: {}. Findings: {}</li>\n",
                e(&l.title),
                e(&l.risk),
                l.findings
                    .iter()
                    .map(|f| e(&f.label()))
                    .collect::<Vec<_>>()
                    .join("; ")
            );
        }
        s += "</ul>\n";
    }
    s += "<h2>Findings</h2>\n<table><tr><th>verdict</th><th>severity</th><th>check</th><th>host</th><th>subject</th><th>detail</th><th>evidence</th></tr>\n";
    for f in sorted(&r.findings) {
        let class = if f.accepted.is_some() {
            "accepted"
        } else {
            verdict_word(f.verdict)
        };
        let mut cell = String::new();
        if !f.fix.is_empty() {
            cell += &format!("<p>Fix: {}</p>", e(&f.fix));
        }
        if let Some(a) = &f.accepted {
            cell += &format!(
                "<p>Accepted by {} until {}: {}</p>",
                e(&a.by),
                e(&a.until),
                e(&a.reason)
            );
        }
        if let Some(ev) = &f.evidence {
            cell += &format!(
                "<details><summary>{}</summary><pre>{}</pre><p>SHA-256 {}</p></details>",
                e(&ev.command),
                e(&ev.output),
                e(&ev.digest)
            );
        }
        s += &format!(
            "<tr><td class=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}<br><small>{}</small></td><td>{}</td></tr>\n",
            class.to_ascii_lowercase(),
            class,
            f.severity.word(),
            e(&f.check),
            e(f.host.as_deref().unwrap_or("")),
            e(f.subject.as_deref().unwrap_or("")),
            e(&f.detail),
            e(&f.checklist),
            cell
        );
    }
    s += "</table>\n</body></html>\n";
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(check: &str, host: &str, subject: Option<&str>, verdict: Verdict) -> Finding {
        Finding {
            check: check.into(),
            host: Some(host.into()),
            subject: subject.map(str::to_owned),
            verdict,
            detail: format!("{check} detail"),
            evidence: None,
            checklist: String::new(),
            fix: String::new(),
            accepted: None,
            severity: severity(check),
        }
    }
    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_score_weighs_severity_and_leaves_out_accepted_findings() {
        assert_eq!(score(&[]).value, 100);
        let all_pass = [
            f("redis.auth", "a", None, Verdict::Pass),
            f("http.nosniff", "a", None, Verdict::Pass),
        ];
        assert_eq!(score(&all_pass).value, 100);
        // A critical failure costs more than a low one.
        let crit = [
            f("redis.auth", "a", None, Verdict::Fail),
            f("http.nosniff", "a", None, Verdict::Pass),
        ];
        let low = [
            f("redis.auth", "a", None, Verdict::Pass),
            f("http.nosniff", "a", None, Verdict::Fail),
        ];
        assert!(score(&crit).value < score(&low).value);
        assert_eq!(score(&crit).value, 11); // 1 of 9
        // Unknown is never a pass; a warning is half.
        let unknown = [f("redis.auth", "a", None, Verdict::Unknown)];
        assert_eq!(score(&unknown).value, 0);
        let warn = [f("redis.auth", "a", None, Verdict::Warn)];
        assert_eq!(score(&warn).value, 50);
        let mut accepted = f("redis.auth", "a", None, Verdict::Fail);
        accepted.accepted = Some(super::super::Acceptance {
            check: "redis.auth".into(),
            host: Some("a".into()),
            subject: None,
            reason: "r".into(),
            until: "2099-01-01T00:00:00Z".into(),
            at: "2026-01-01T00:00:00Z".into(),
            by: "me".into(),
        });
        let s = score(&[accepted, f("http.nosniff", "a", None, Verdict::Pass)]);
        assert_eq!((s.value, s.accepted, s.fail), (100, 1, 0));
    }

    #[test]
    fn observatory_scores_follow_the_published_rubric() {
        // Nothing at all, over plain HTTP: 100 - 25 (CSP) - 20 (redirect) - 20 (HSTS)
        // - 5 (nosniff) - 20 (XFO) = 10, F.
        let o = observatory(false, &[], &[], "https://x.invalid", &Redirect::Missing);
        assert_eq!((o.score, o.grade.as_str()), (10, "F"));
        // The sample app's headers over HTTPS with a redirect: 100, then bonuses
        // (CSP default-src 'none' +10, frame-ancestors +5, strict referrer +5,
        // cookies with SameSite +5).
        let good = h(&[
            ("strict-transport-security", "max-age=63072000; includeSubDomains"),
            (
                "content-security-policy",
                "default-src 'none'; frame-ancestors 'none'",
            ),
            ("x-content-type-options", "nosniff"),
            ("x-frame-options", "DENY"),
            ("referrer-policy", "no-referrer"),
            (
                "set-cookie",
                "sid=[redacted]; Path=/; Secure; HttpOnly; SameSite=Lax",
            ),
        ]);
        let o = observatory(true, &good, &[], "https://x.invalid", &Redirect::ToHttps);
        assert_eq!((o.score, o.grade.as_str()), (125, "A+"));
        // Bonuses do not lift a site under 90.
        let mut weak = good.clone();
        weak.retain(|(k, _)| k != "x-frame-options" && k != "content-security-policy");
        let o = observatory(true, &weak, &[], "https://x.invalid", &Redirect::ToHttps);
        assert_eq!(o.score, 55); // 100 - 25 - 20, no bonus
        // CORS echoing any origin: -50.
        let cors = h(&[("access-control-allow-origin", "https://x.invalid")]);
        let o = observatory(true, &good, &cors, "https://x.invalid", &Redirect::ToHttps);
        assert!(o.tests.iter().any(|t| t.modifier == -50));
        // Unsafe inline script: -20; a session cookie without Secure over HTTPS with HSTS: -10.
        let mut inline = good.clone();
        inline[1].1 = "default-src 'self'; script-src 'self' 'unsafe-inline'".into();
        inline[5].1 = "sid=[redacted]; HttpOnly".into();
        let o = observatory(true, &inline, &[], "https://x.invalid", &Redirect::ToHttps);
        assert_eq!(o.score, 70);
        assert_eq!(grade(0), "F");
        assert_eq!(grade(89), "A-");
    }

    #[test]
    fn links_combine_only_what_fails_together() {
        let redis = [
            f("net.redis_public", "app1", Some("Redis"), Verdict::Fail),
            f("redis.auth", "app1", Some("Redis"), Verdict::Fail),
            f("container.user", "app1", Some("web1"), Verdict::Fail),
            f("container.user", "app2", Some("web2"), Verdict::Fail),
        ];
        let l = links(&redis);
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].findings.len(), 3, "{l:?}"); // not app2's container
        // One of the two alone is no link.
        assert!(links(&redis[1..]).is_empty());
        let sock = [
            f("container.docker_socket", "app2", Some("x"), Verdict::Fail),
            f("container.user", "app2", Some("x"), Verdict::Fail),
            f("container.user", "app2", Some("y"), Verdict::Fail),
        ];
        let l = links(&sock);
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].findings.len(), 2);
        let ssh = [
            f("ssh.password_auth", "h", None, Verdict::Fail),
            f("ssh.root_login", "h", None, Verdict::Warn),
        ];
        assert!(links(&ssh).is_empty(), "a warn is not a fail");
    }

    #[test]
    fn drift_names_what_changed_appeared_and_went() {
        let before = vec![
            Seen {
                at: FindingRef::of(&f("env.mode", "a", None, Verdict::Pass)),
                verdict: Verdict::Pass,
            },
            Seen {
                at: FindingRef::of(&f("redis.auth", "a", None, Verdict::Pass)),
                verdict: Verdict::Pass,
            },
            Seen {
                at: FindingRef::of(&f("container.user", "a", Some("old"), Verdict::Fail)),
                verdict: Verdict::Fail,
            },
        ];
        let now = [
            f("env.mode", "a", None, Verdict::Pass),
            f("redis.auth", "a", None, Verdict::Fail),
            f("container.user", "a", Some("new"), Verdict::Pass),
        ];
        let d = drift(&before, &now);
        assert_eq!(d.len(), 3, "{d:?}");
        assert!(d.iter().any(|c| c.at.check == "redis.auth"
            && c.from == Some(Verdict::Pass)
            && c.to == Some(Verdict::Fail)));
        assert!(
            d.iter()
                .any(|c| c.at.subject.as_deref() == Some("new") && c.from.is_none())
        );
        assert!(
            d.iter()
                .any(|c| c.at.subject.as_deref() == Some("old") && c.to.is_none())
        );
        assert!(drift(&before[..1], &now[..1]).is_empty());
    }

    #[test]
    fn exports_escape_what_came_from_servers() {
        let mut hostile = f(
            "container.user",
            "app1",
            Some("[x](https://evil.example) <script>alert(1)</script>"),
            Verdict::Fail,
        );
        hostile.detail = "![img](https://evil.example/p.png) *bold* | cell".into();
        hostile.evidence = Some(super::super::Evidence {
            command: "GET /containers/<b>/json".into(),
            output: "</pre><script>x</script>\n[link](javascript:alert(1))".into(),
            digest: "00".repeat(32),
        });
        let r = HardeningReport {
            deployment: "prod".into(),
            checked_at: "2026-12-03T00:00:00Z".into(),
            findings: vec![hostile],
            took_ms: 1,
            score: Score {
                value: 0,
                pass: 0,
                warn: 0,
                fail: 1,
                unknown: 0,
                accepted: 0,
            },
            observatory: None,
            links: Vec::new(),
            drift: None,
        };
        let md = markdown(&r);
        assert!(!md.contains("](https://evil"), "{md}");
        assert!(!md.contains("<script>"), "{md}");
        assert!(!md.contains("![img]"), "{md}");
        let html = html(&r);
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("</pre><script"), "{html}");
        assert!(html.contains("&lt;script&gt;"));
        assert!(html.contains("default-src 'none'"));
    }
}
