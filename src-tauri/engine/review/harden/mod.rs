//! The hardening audit: the seeds' "before going live" checklists, checked read-only
//! against the live hosts, each finding with its evidence (the command, its relevant
//! output with the `.env`'s values redacted, and a digest of the whole output), the
//! checklist item and seed it comes from, and the exact fix. All hosts at once.
//!
//! Checked: sshd's effective configuration (`sshd -T` of the sshd this connection came
//! through), the firewall and automatic updates, the `.env`'s mode, whether git tracks or
//! ignores it and whether its values are in the repository's history (searched on the
//! console's side), its secrets (judged without being shown, also against other
//! deployments), the database and Redis listening only on loopback, every container's
//! user, privileges, capabilities, limits, root filesystem, Docker socket and namespaces,
//! Redis refusing an unauthenticated client, `sslmode` in DATABASE_URL, the public URL's
//! security headers, CORS, cookies, redirect to HTTPS, TLS versions and certificate, a
//! bounded burst of bad logins that must be throttled, and the restore test's recency and
//! the newest backup's age against the RPO. `report` turns the findings into a score, the
//! HTTP Observatory's grade, combined risks, drift and Markdown/HTML; `host` and `web`
//! hold the host and web checks. Nothing here changes a deployment (the login burst adds
//! failed-login rows to the app's audit trail, journaled first).

use std::time::{Duration, Instant};

use serde::Serialize;
use sha2::{Digest, Sha256};

mod host;
pub mod report;
mod web;

pub use report::{Drift, Link, Observatory, Score, Severity};

use crate::engine::ssh::Session;
use crate::engine::ssh::output::{display_safe, shell_quote};
use crate::engine::{Engine, Result};

/// What one check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Warn,
    Fail,
    /// It could not be checked (the reason is in the detail): never counted as a pass.
    Unknown,
}

/// What a finding rests on.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Evidence {
    /// Where it was read: the command run on the host, or the API call.
    pub command: String,
    /// The relevant part of what it printed, the `.env`'s values redacted.
    pub output: String,
    /// SHA-256 of everything it printed, so the evidence can be matched later.
    pub digest: String,
}

/// One finding of the audit.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Finding {
    /// Stable name of the check (`ssh.password_auth`, `container.privileged`…).
    pub check: String,
    pub host: Option<String>,
    /// The container, file or service it is about, when not the host itself.
    pub subject: Option<String>,
    pub verdict: Verdict,
    pub detail: String,
    pub evidence: Option<Evidence>,
    /// The checklist item, as the seed words it, and which seed.
    pub checklist: String,
    /// What to do, exactly (empty on a pass).
    pub fix: String,
    /// Accepted by a person, with a reason, until a date (still shown, not counted).
    pub accepted: Option<Acceptance>,
    /// How much a failure of this check matters (the check's, [`report::severity`]).
    pub severity: Severity,
}

/// A person's acceptance of one finding: which (check, host, subject), why, until when.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Acceptance {
    pub check: String,
    pub host: Option<String>,
    pub subject: Option<String>,
    pub reason: String,
    /// RFC 3339; after it the finding counts again.
    pub until: String,
    pub at: String,
    pub by: String,
}

impl Acceptance {
    fn covers(&self, f: &Finding) -> bool {
        self.check == f.check && self.host == f.host && self.subject == f.subject
    }
    fn active(&self) -> bool {
        humantime::parse_rfc3339_weak(self.until.trim_end_matches('Z'))
            .is_ok_and(|t| t > std::time::SystemTime::now())
    }
}

/// The result of a hardening audit.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct HardeningReport {
    pub deployment: String,
    pub checked_at: String,
    pub findings: Vec<Finding>,
    pub took_ms: u64,
    pub score: Score,
    /// The public URL on the HTTP Observatory's rubric (none without a public URL, or
    /// when it did not answer).
    pub observatory: Option<Observatory>,
    /// Findings that combine into a worse risk.
    pub links: Vec<Link>,
    /// What changed since the previous audit (none for the first).
    pub drift: Option<Drift>,
}

impl HardeningReport {
    /// Findings of this verdict that nobody accepted.
    pub fn count(&self, v: Verdict) -> usize {
        self.findings
            .iter()
            .filter(|f| f.verdict == v && f.accepted.is_none())
            .count()
    }
    pub fn accepted(&self) -> usize {
        self.findings.iter().filter(|f| f.accepted.is_some()).count()
    }
}

/// Output kept as evidence, per finding.
const EVIDENCE_CAP: usize = 4096;

/// `output` with every secret in `secrets` replaced, cut to [`EVIDENCE_CAP`]; and the
/// digest of the whole.
fn evidence(command: &str, output: &[u8], secrets: &[String]) -> Evidence {
    let digest = hex::encode(Sha256::digest(output));
    let mut text = display_safe(output);
    for s in secrets.iter().filter(|s| s.len() >= 4) {
        text = text.replace(s.as_str(), "[redacted]");
    }
    if text.len() > EVIDENCE_CAP {
        let mut end = EVIDENCE_CAP;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str(" …");
    }
    Evidence {
        command: command.to_owned(),
        output: text,
        digest,
    }
}

struct F<'a> {
    check: &'a str,
    host: &'a str,
    checklist: &'a str,
}

impl F<'_> {
    fn finding(
        &self,
        subject: Option<&str>,
        verdict: Verdict,
        detail: String,
        ev: Option<Evidence>,
        fix: &str,
    ) -> Finding {
        Finding {
            check: self.check.into(),
            host: Some(self.host.into()),
            subject: subject.map(str::to_owned),
            verdict,
            detail,
            evidence: ev,
            checklist: self.checklist.into(),
            fix: if verdict == Verdict::Pass {
                String::new()
            } else {
                fix.into()
            },
            accepted: None,
            severity: Severity::Low,
        }
    }
}

/// The sshd settings that matter, as `sshd -T` prints them (lower case).
pub fn judge_sshd(effective: &str) -> Vec<(&'static str, Verdict, String, &'static str)> {
    let get = |key: &str| {
        effective.lines().find_map(|l| {
            let mut it = l.split_whitespace();
            (it.next()? == key).then(|| it.next().unwrap_or_default().to_ascii_lowercase())
        })
    };
    let mut out = Vec::new();
    let pw = get("passwordauthentication");
    out.push((
        "ssh.password_auth",
        match pw.as_deref() {
            Some("no") => Verdict::Pass,
            Some(_) => Verdict::Fail,
            None => Verdict::Unknown,
        },
        format!("PasswordAuthentication {}", pw.as_deref().unwrap_or("not printed")),
        "set `PasswordAuthentication no` in sshd_config (and in every Match block), then `systemctl reload ssh`",
    ));
    let kbd = get("kbdinteractiveauthentication").or_else(|| get("challengeresponseauthentication"));
    out.push((
        "ssh.kbd_interactive",
        match kbd.as_deref() {
            Some("no") => Verdict::Pass,
            Some(_) => Verdict::Fail,
            None => Verdict::Unknown,
        },
        format!("KbdInteractiveAuthentication {}", kbd.as_deref().unwrap_or("not printed")),
        "set `KbdInteractiveAuthentication no` in sshd_config, then `systemctl reload ssh` (it can still ask for a password through PAM)",
    ));
    let root = get("permitrootlogin");
    out.push((
        "ssh.root_login",
        match root.as_deref() {
            Some("no") => Verdict::Pass,
            Some("without-password" | "prohibit-password" | "forced-commands-only") => Verdict::Warn,
            Some(_) => Verdict::Fail,
            None => Verdict::Unknown,
        },
        format!(
            "PermitRootLogin {}{}",
            root.as_deref().unwrap_or("not printed"),
            if matches!(root.as_deref(), Some("without-password" | "prohibit-password")) {
                " (root may log in with a key)"
            } else {
                ""
            }
        ),
        "set `PermitRootLogin no` and log in as a user who uses sudo, then `systemctl reload ssh`",
    ));
    out
}

/// Whether a variable's name says it holds a secret (`…SECRET…`, `…_KEY…`, `…TOKEN…`,
/// `…PASSWORD…`, `…PASSPHRASE…`, `…SALT…`), and not an id, address or file name of one.
pub fn is_secret_name(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    let says = [
        "SECRET",
        "KEY",
        "TOKEN",
        "PASSWORD",
        "PASSWD",
        "PASSPHRASE",
        "SALT",
    ]
    .iter()
    .any(|w| n.contains(w));
    let not = [
        "_ID", "_URL", "_FILE", "_PATH", "_HOST", "_PORT", "_USER", "_NAME",
    ]
    .iter()
    .any(|w| n.ends_with(w));
    says && !not
}

/// Placeholders people leave in `.env` files.
const PLACEHOLDERS: &[&str] = &[
    "changeme",
    "change_me",
    "change-me",
    "changethis",
    "example",
    "placeholder",
    "secret",
    "password",
    "default",
    "test",
    "testing",
    "xxx",
    "todo",
    "replace",
    "your_",
    "your-",
    "insert",
    "foobar",
    "123456",
    "qwerty",
    "letmein",
    "admin",
];

/// An estimate of a value's entropy in bits: its length times the Shannon entropy of its
/// characters (a run of one character is 0; random hex is 4 bits a character).
pub fn entropy_bits(value: &str) -> f64 {
    let n = value.chars().count();
    if n == 0 {
        return 0.0;
    }
    let mut counts = std::collections::HashMap::new();
    for c in value.chars() {
        *counts.entry(c).or_insert(0usize) += 1;
    }
    let per_char: f64 = counts
        .values()
        .map(|&k| {
            let p = k as f64 / n as f64;
            -p * p.log2()
        })
        .sum();
    per_char * n as f64
}

/// The `.env`'s secrets judged without showing them: a placeholder, a value copied from
/// `.env.example`, too short, too little entropy, or the same value under two names.
/// `(check, variable, verdict, detail)`; the detail never holds the value.
pub fn judge_secrets(
    env: &crate::engine::envfile::EnvFile,
    example: Option<&crate::engine::envfile::EnvFile>,
) -> Vec<(&'static str, String, Verdict, String)> {
    let mut out = Vec::new();
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for name in env.keys().filter(|k| is_secret_name(k)) {
        let Some(value) = env.get(name) else { continue };
        let v = value.expose().as_str();
        let lower = v.to_ascii_lowercase();
        let len = v.chars().count();
        let bits = entropy_bits(v);
        if v.is_empty() {
            out.push(("secrets.weak", name.to_owned(), Verdict::Fail, "empty".to_owned()));
        } else if PLACEHOLDERS.iter().any(|p| lower.contains(p)) && bits < 128.0 {
            out.push((
                "secrets.weak",
                name.to_owned(),
                Verdict::Fail,
                "a placeholder or a common word, not a random value".to_owned(),
            ));
        } else if example.and_then(|e| e.get(name)).is_some_and(|e| e.expose() == v) {
            out.push((
                "secrets.weak",
                name.to_owned(),
                Verdict::Fail,
                "the same value as in .env.example: anyone with the repository has it".to_owned(),
            ));
        } else if len < 16 {
            out.push((
                "secrets.weak",
                name.to_owned(),
                Verdict::Fail,
                format!("{len} characters: too short to be a key (at least 32 random characters)"),
            ));
        } else if bits < 64.0 {
            out.push(("secrets.weak", name.to_owned(), Verdict::Fail, format!("{len} characters but about {bits:.0} bits of entropy: too regular to be random (at least 128 bits)")));
        } else if bits < 100.0 {
            out.push((
                "secrets.weak",
                name.to_owned(),
                Verdict::Warn,
                format!("{len} characters, about {bits:.0} bits of entropy: weaker than 128 bits"),
            ));
        }
        if let Some((other, _)) = seen.iter().find(|(_, x)| *x == v && !v.is_empty()) {
            out.push((
                "secrets.reused",
                name.to_owned(),
                Verdict::Warn,
                format!("the same value as {other}: one leak opens both"),
            ));
        }
        seen.push((name, v));
    }
    out
}

/// The public URL's answer judged, header by header (names lower case, as
/// `(name, value)`; `cors` is the answer to a request from a foreign Origin):
/// `(check, verdict, detail, fix)`.
pub fn judge_http(
    https: bool,
    headers: &[(String, String)],
    cors: &[(String, String)],
    origin: &str,
) -> Vec<(&'static str, Verdict, String, &'static str)> {
    let get = |h: &[(String, String)], name: &str| h.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let mut out = Vec::new();
    let hsts = get(headers, "strict-transport-security");
    let max_age = hsts.as_deref().and_then(|v| {
        v.split(';').find_map(|p| {
            p.trim()
                .strip_prefix("max-age=")
                .and_then(|n| n.trim_matches('"').parse::<u64>().ok())
        })
    });
    out.push((
        "http.hsts",
        match max_age {
            Some(a) if a >= 15_552_000 && https => Verdict::Pass,
            Some(a) if a >= 15_552_000 => Verdict::Warn,
            Some(_) => Verdict::Warn,
            None => Verdict::Fail,
        },
        match (&hsts, https) {
            (Some(v), true) => format!("Strict-Transport-Security: {v}"),
            (Some(v), false) => format!("Strict-Transport-Security: {v} (browsers ignore it over plain HTTP)"),
            (None, _) => "no Strict-Transport-Security".into(),
        },
        "send `Strict-Transport-Security: max-age=63072000; includeSubDomains` over HTTPS (at least 180 days)",
    ));
    let xfo = get(headers, "x-frame-options").map(|v| v.to_ascii_uppercase());
    let csp = get(headers, "content-security-policy");
    let ancestors = csp.as_deref().is_some_and(|c| c.contains("frame-ancestors"));
    out.push((
        "http.framing",
        if ancestors || matches!(xfo.as_deref(), Some("DENY" | "SAMEORIGIN")) {
            Verdict::Pass
        } else {
            Verdict::Fail
        },
        match (&xfo, ancestors) {
            (_, true) => "CSP frame-ancestors".to_owned(),
            (Some(v), _) => format!("X-Frame-Options: {v}"),
            (None, _) => {
                "no X-Frame-Options and no CSP frame-ancestors: the pages can be framed (clickjacking)".into()
            }
        },
        "send `X-Frame-Options: DENY` (or CSP `frame-ancestors 'none'`)",
    ));
    let nosniff =
        get(headers, "x-content-type-options").is_some_and(|v| v.trim().eq_ignore_ascii_case("nosniff"));
    out.push((
        "http.nosniff",
        if nosniff { Verdict::Pass } else { Verdict::Fail },
        if nosniff {
            "X-Content-Type-Options: nosniff".into()
        } else {
            "no X-Content-Type-Options: nosniff".into()
        },
        "send `X-Content-Type-Options: nosniff`",
    ));
    let referrer = get(headers, "referrer-policy");
    let strict = referrer.as_deref().is_some_and(|v| {
        v.split(',').map(str::trim).any(|p| {
            matches!(
                p.to_ascii_lowercase().as_str(),
                "no-referrer" | "same-origin" | "strict-origin" | "strict-origin-when-cross-origin"
            )
        })
    });
    out.push((
        "http.referrer",
        if strict { Verdict::Pass } else { Verdict::Warn },
        match &referrer {
            Some(v) => format!("Referrer-Policy: {v}"),
            None => "no Referrer-Policy (browsers fall back to their default)".into(),
        },
        "send `Referrer-Policy: strict-origin-when-cross-origin` (or stricter)",
    ));
    out.push((
        "http.csp",
        match &csp {
            Some(c) if c.contains("'unsafe-inline'") || c.contains("'unsafe-eval'") => Verdict::Warn,
            Some(_) => Verdict::Pass,
            None => Verdict::Fail,
        },
        match &csp {
            Some(c) if c.contains("'unsafe-inline'") || c.contains("'unsafe-eval'") => {
                format!("Content-Security-Policy allows inline or eval'd script: {c}")
            }
            Some(c) => format!("Content-Security-Policy: {c}"),
            None => "no Content-Security-Policy".into(),
        },
        "send a Content-Security-Policy without 'unsafe-inline' (`default-src 'self'`, then widen as needed)",
    ));
    let acao = get(cors, "access-control-allow-origin");
    let creds =
        get(cors, "access-control-allow-credentials").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    out.push((
        "http.cors",
        match acao.as_deref() {
            Some(o) if o == origin => Verdict::Fail,
            Some("*") if creds => Verdict::Fail,
            Some("*") => Verdict::Warn,
            _ => Verdict::Pass,
        },
        match acao.as_deref() {
            Some(o) if o == origin => format!("echoes any Origin (it allowed {origin}){}", if creds { ", with credentials" } else { "" }),
            Some(o) => format!("Access-Control-Allow-Origin: {o}{}", if creds { " with credentials" } else { "" }),
            None => format!("no Access-Control-Allow-Origin for {origin}"),
        },
        "allow only your own origins in CORS (a list, never the request's Origin echoed, never `*` with credentials)",
    ));
    for cookie in headers.iter().filter(|(k, _)| k == "set-cookie").map(|(_, v)| v) {
        let name = cookie.split('=').next().unwrap_or_default().trim().to_owned();
        let attrs = cookie.to_ascii_lowercase();
        let missing: Vec<&str> = [
            ("secure", "Secure"),
            ("httponly", "HttpOnly"),
            ("samesite", "SameSite"),
        ]
        .into_iter()
        .filter(|(a, _)| !attrs.split(';').any(|p| p.trim().starts_with(a)))
        .map(|(_, n)| n)
        .collect();
        out.push((
            "http.cookies",
            if missing.is_empty() {
                Verdict::Pass
            } else {
                Verdict::Fail
            },
            if missing.is_empty() {
                format!("cookie {name}: Secure, HttpOnly, SameSite")
            } else {
                format!("cookie {name} lacks {}", missing.join(", "))
            },
            "set cookies with `Secure; HttpOnly; SameSite=Lax` (or Strict)",
        ));
    }
    out
}

/// Headers with every cookie's value replaced (a session cookie is a credential): its
/// name and attributes are what the audit judges and shows.
pub fn redact_cookies(headers: Vec<(String, String)>) -> Vec<(String, String)> {
    headers
        .into_iter()
        .map(|(k, v)| {
            if k != "set-cookie" {
                return (k, v);
            }
            let (pair, attrs) = v.split_once(';').map_or((v.as_str(), ""), |(p, a)| (p, a));
            let name = pair.split('=').next().unwrap_or_default().trim();
            let attrs = if attrs.is_empty() {
                String::new()
            } else {
                format!(";{attrs}")
            };
            let redacted = format!("{name}=[redacted]{attrs}");
            (k, redacted)
        })
        .collect()
}

/// The `sslmode` DATABASE_URL asks for, if any.
pub fn sslmode(url: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == "sslmode").then(|| v.to_ascii_lowercase())
    })
}

/// Ports a container publishes on every interface: a database's or cache's fail, any
/// other than the proxy's 80 and 443 warns.
pub fn judge_published(
    bindings: Option<&std::collections::HashMap<String, Option<Vec<bollard::models::PortBinding>>>>,
) -> (Verdict, String) {
    let mut public: Vec<(u16, String)> = Vec::new();
    for (port, binds) in bindings.into_iter().flatten() {
        let inner = port
            .split('/')
            .next()
            .and_then(|p| p.parse::<u16>().ok())
            .unwrap_or(0);
        for b in binds.iter().flatten() {
            let ip = b.host_ip.as_deref().unwrap_or("");
            if ip.is_empty() || ip == "0.0.0.0" || ip == "::" {
                public.push((
                    inner,
                    format!(
                        "{port} on {}:{}",
                        if ip.is_empty() { "0.0.0.0" } else { ip },
                        b.host_port.as_deref().unwrap_or("?")
                    ),
                ));
            }
        }
    }
    public.sort();
    public.dedup();
    let list = public
        .iter()
        .map(|(_, s)| s.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    const STORES: [u16; 8] = [5432, 6379, 3306, 27017, 11211, 9200, 5672, 2375];
    if public.is_empty() {
        (Verdict::Pass, "publishes no port on every interface".into())
    } else if public.iter().any(|(p, _)| STORES.contains(p)) {
        (
            Verdict::Fail,
            format!("publishes a database, cache or control port to every interface: {list}"),
        )
    } else if public.iter().all(|(p, _)| *p == 80 || *p == 443) {
        (Verdict::Pass, format!("publishes only {list} (the proxy's)"))
    } else {
        (
            Verdict::Warn,
            format!("publishes to every interface: {list} (only the proxy should)"),
        )
    }
}

/// Listening sockets (`ss -Hltn`'s local address column) of `port` that are not on
/// loopback.
pub fn public_listeners(ss: &str, port: u16) -> Vec<String> {
    ss.lines()
        .filter_map(|l| l.split_whitespace().nth(3))
        .filter(|local| local.rsplit_once(':').is_some_and(|(_, p)| p == port.to_string()))
        .filter(|local| {
            let addr = local
                .rsplit_once(':')
                .map_or("", |(a, _)| a)
                .trim_matches(['[', ']']);
            let addr = addr.split('%').next().unwrap_or_default();
            !(addr.starts_with("127.") || addr == "::1" || addr == "localhost")
        })
        .map(str::to_owned)
        .collect()
}

/// An error and its causes, one after the other ("error sending request" alone says
/// nothing of a refused certificate).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !s.contains(&text) {
            s += &format!(": {text}");
        }
        cause = c.source();
    }
    s
}

impl Engine {
    /// The hardening audit of a deployment, read-only, all hosts at once.
    pub async fn harden(&self, deployment: &str) -> Result<HardeningReport> {
        let started = Instant::now();
        let profile = self.profile(deployment).await?;
        let hosts: Vec<String> = profile.hosts.iter().map(|h| h.name.get_ref().clone()).collect();
        let per_host = futures_util::future::join_all(hosts.iter().map(|h| self.harden_host(deployment, h)));
        let (per_host, redis, backups, http) = tokio::join!(
            per_host,
            self.harden_redis(deployment),
            self.harden_backups(deployment),
            self.harden_http(deployment)
        );
        let (http, observatory) = http;
        let mut findings: Vec<Finding> = per_host.into_iter().flatten().collect();
        findings.extend(redis);
        findings.extend(backups);
        findings.extend(http);
        findings.extend(self.harden_cross_env(deployment).await);
        for f in &mut findings {
            f.severity = report::severity(&f.check);
        }
        // Accepted findings: shown as accepted until their date, as they are after it.
        let accepted = self.state().accepted_findings(deployment).await?;
        for f in &mut findings {
            if let Some(a) = accepted.iter().find(|a| a.covers(f)) {
                if a.active() {
                    f.accepted = Some(a.clone());
                } else if f.verdict != Verdict::Pass {
                    f.detail.push_str(&format!(
                        " (accepted by {} until {}: expired)",
                        display_safe(a.by.as_bytes()),
                        a.until
                    ));
                }
            }
        }
        let checked_at = crate::engine::state::now_rfc3339();
        let score = report::score(&findings);
        let links = report::links(&findings);
        // Kept for the next audit's drift: verdicts only, no evidence.
        let seen: Vec<report::Seen> = findings
            .iter()
            .map(|f| report::Seen {
                at: report::FindingRef::of(f),
                verdict: f.verdict,
            })
            .collect();
        let previous = self
            .state()
            .record_audit(deployment, &checked_at, score.value, &seen)
            .await?;
        let drift = previous.map(|p| Drift {
            changes: report::drift(&p.verdicts, &findings),
            previous_at: p.checked_at,
            previous_score: p.score,
        });
        Ok(HardeningReport {
            deployment: deployment.to_owned(),
            checked_at,
            findings,
            took_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            score,
            observatory,
            links,
            drift,
        })
    }

    /// The scores of a deployment's past audits, newest first.
    pub async fn harden_history(&self, deployment: &str, limit: u32) -> Result<Vec<(String, u8)>> {
        self.profile(deployment).await?;
        Ok(self
            .state()
            .audits(deployment, limit)
            .await?
            .into_iter()
            .map(|a| (a.checked_at, a.score))
            .collect())
    }

    /// Secrets of this deployment that another one (`[harden] compare_with`, staging…)
    /// holds under any name: judged here, never shown.
    async fn harden_cross_env(&self, deployment: &str) -> Vec<Finding> {
        let Ok(profile) = self.profile(deployment).await else {
            return Vec::new();
        };
        let others: Vec<String> = profile
            .harden
            .as_ref()
            .map(|h| h.compare_with.iter().map(|d| d.get_ref().clone()).collect())
            .unwrap_or_default();
        if others.is_empty() {
            return Vec::new();
        }
        let first_env = |p: &crate::engine::profiles::DeploymentProfile| {
            p.hosts
                .iter()
                .find(|h| h.env_file.is_some())
                .map(|h| h.name.get_ref().clone())
        };
        let Some(host) = first_env(&profile) else {
            return Vec::new();
        };
        let Ok((_, mine)) = self.read_env(deployment, &host).await else {
            return Vec::new();
        };
        let checklist = "Never reuse credentials across environments — seed 004";
        let mut out = Vec::new();
        for other in others {
            let finding = |verdict: Verdict, detail: String| Finding {
                check: "secrets.cross_env".into(),
                host: Some(host.clone()),
                subject: Some(other.clone()),
                verdict,
                detail,
                evidence: None,
                checklist: checklist.into(),
                fix: if verdict == Verdict::Pass {
                    String::new()
                } else {
                    format!(
                        "give {deployment} and {other} their own secrets (rotate the shared ones in {deployment})"
                    )
                },
                accepted: None,
                severity: Severity::Low,
            };
            let theirs = match self.profile(&other).await {
                Ok(p) => match first_env(&p) {
                    Some(h) => self.read_env(&other, &h).await.map(|(_, e)| e),
                    None => {
                        out.push(finding(Verdict::Unknown, format!("{other} names no env_file")));
                        continue;
                    }
                },
                Err(e) => Err(e),
            };
            let theirs = match theirs {
                Ok(t) => t,
                Err(e) => {
                    out.push(finding(
                        Verdict::Unknown,
                        format!("{other}'s .env could not be read: {e}"),
                    ));
                    continue;
                }
            };
            let shared: Vec<String> = mine
                .keys()
                .filter(|k| is_secret_name(k))
                .filter(|k| {
                    mine.get(k).is_some_and(|v| {
                        v.expose().len() >= 8
                            && theirs
                                .keys()
                                .any(|t| theirs.get(t).is_some_and(|w| w.expose() == v.expose()))
                    })
                })
                .map(str::to_owned)
                .collect();
            let count = mine.keys().filter(|k| is_secret_name(k)).count();
            let (verdict, detail) = if shared.is_empty() {
                (
                    Verdict::Pass,
                    format!("none of the {count} secret(s) is also {other}'s"),
                )
            } else {
                (
                    Verdict::Fail,
                    format!(
                        "{} also in {other}'s .env: a leak of one environment opens both",
                        shared.join(", ")
                    ),
                )
            };
            let mut f = finding(verdict, detail.clone());
            f.evidence = Some(evidence(
                &format!("the .env of {deployment} and of {other} (values compared here, never shown)"),
                detail.as_bytes(),
                &[],
            ));
            out.push(f);
        }
        out
    }

    /// Accepts one finding (its check, and its host and subject as the report names
    /// them) for `for_` from now, with a reason; journaled as `harden.accepted`.
    pub async fn accept_finding(
        &self,
        deployment: &str,
        check: &str,
        host: Option<&str>,
        subject: Option<&str>,
        reason: &str,
        for_: Duration,
    ) -> Result<Acceptance> {
        self.profile(deployment).await?;
        let bad = |message: String| crate::engine::Error::BadArgument { message };
        if check.is_empty()
            || check.len() > 64
            || !check
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '.' || c == '_')
        {
            return Err(bad(format!(
                "{:?} is not the name of a check (like env.mode)",
                display_safe(check.as_bytes())
            )));
        }
        let reason = reason.trim();
        if reason.is_empty() || reason.len() > 500 || reason.chars().any(|c| c.is_control()) {
            return Err(bad("give a reason, one line of at most 500 characters".into()));
        }
        for v in host.iter().chain(subject.iter()) {
            if v.is_empty() || v.len() > 1024 || v.chars().any(char::is_control) {
                return Err(bad(format!(
                    "{:?}: expected a host or subject as the report names it",
                    display_safe(v.as_bytes())
                )));
            }
        }
        if for_ > Duration::from_secs(366 * 86_400) {
            return Err(bad(
                "accept a finding for a year at most: it should be looked at again".into(),
            ));
        }
        let a = Acceptance {
            check: check.to_owned(),
            host: host.map(str::to_owned),
            subject: subject.map(str::to_owned),
            reason: reason.to_owned(),
            until: humantime::format_rfc3339_seconds(std::time::SystemTime::now() + for_).to_string(),
            at: crate::engine::state::now_rfc3339(),
            by: crate::engine::connect::operator(),
        };
        // The decision is journaled before it takes effect.
        self.journal()
            .await?
            .append(
                deployment,
                &hex::encode(rand::random::<[u8; 8]>()),
                &a.by,
                "harden.accepted",
                serde_json::to_value(&a).unwrap_or_default(),
            )
            .await?;
        self.state().accept_finding(deployment, &a).await?;
        Ok(a)
    }

    async fn harden_host(&self, deployment: &str, host: &str) -> Vec<Finding> {
        let mut out = Vec::new();
        let profile = match self.profile(deployment).await {
            Ok(p) => p,
            Err(_) => return out,
        };
        let session = match self.session(deployment, host).await {
            Ok(s) => s,
            Err(e) => {
                out.push(Finding {
                    check: "host.reachable".into(),
                    host: Some(host.into()),
                    subject: None,
                    verdict: Verdict::Unknown,
                    detail: format!("not checked: {e}"),
                    evidence: None,
                    checklist: "every host checked".into(),
                    fix: "make the host reachable (`breakglass status`) and audit again".into(),
                    accepted: None,
                    severity: Severity::Low,
                });
                return out;
            }
        };
        // The .env's values: redacted from every output of this host.
        let env_file = profile
            .host(host)
            .and_then(|h| h.env_file.as_ref())
            .map(|e| e.get_ref().clone());
        let env = match &env_file {
            Some(_) => self.read_env(deployment, host).await.ok().map(|(_, e)| e),
            None => None,
        };
        let secrets: Vec<String> = env
            .as_ref()
            .map(|e| {
                e.keys()
                    .filter_map(|k| e.get(k))
                    .map(|v| v.expose().clone())
                    .collect()
            })
            .unwrap_or_default();

        // The secrets by name, for the history search (values of 8 characters or more).
        let named: Vec<(String, String)> = env
            .as_ref()
            .map(|e| {
                e.keys()
                    .filter(|k| is_secret_name(k))
                    .filter_map(|k| e.get(k).map(|v| (k.to_owned(), v.expose().clone())))
                    .filter(|(_, v)| v.len() >= 8)
                    .collect()
            })
            .unwrap_or_default();
        let history = async {
            match &env_file {
                Some(path) if !named.is_empty() => {
                    Some(host::git_history(&session, host, path, &named).await)
                }
                _ => None,
            }
        };
        let (ssh, envf, listen, containers, firewall, updates, history) = tokio::join!(
            self.harden_sshd(&session, host, &secrets),
            harden_env_file(&session, host, env_file.as_deref(), &secrets),
            self.harden_listeners(deployment, &session, host, &secrets),
            self.harden_containers(deployment, host),
            host::firewall(&session, host, &secrets),
            host::updates(&session, host, &secrets),
            history,
        );
        out.extend(ssh);
        out.extend(envf);
        out.extend(history);
        out.push(firewall);
        out.push(updates);
        out.extend(listen);
        out.extend(containers);

        // DATABASE_URL's sslmode, on the hosts whose .env has one.
        if let Some(url) = env.as_ref().and_then(|e| e.get("DATABASE_URL")) {
            let f = F {
                check: "db.tls",
                host,
                checklist: "Database SSL connection enabled (`sslmode=require` in DATABASE_URL) — seed 000",
            };
            let mode = sslmode(url.expose());
            let (verdict, detail) = match mode.as_deref() {
                Some("require" | "verify-ca" | "verify-full") => (
                    Verdict::Pass,
                    format!("sslmode={}", mode.as_deref().unwrap_or_default()),
                ),
                Some(m) => (
                    Verdict::Fail,
                    format!("sslmode={m}: the connection may be unencrypted"),
                ),
                None => (
                    Verdict::Fail,
                    "DATABASE_URL sets no sslmode: libpq's default, prefer, falls back to plain text".into(),
                ),
            };
            out.push(f.finding(
                env_file.as_deref(),
                verdict,
                detail.clone(),
                Some(evidence("DATABASE_URL in the .env (its value not shown)", detail.as_bytes(), &secrets)),
                "add `?sslmode=require` (or `verify-full` with the server's CA) to DATABASE_URL, and enable TLS on the server",
            ));
        }
        if let (Some(env), Some(path)) = (&env, &env_file) {
            out.extend(harden_secrets(&session, host, path, env).await);
        }
        out
    }

    /// sshd's effective configuration, of the sshd this connection came through (its
    /// `-f` file, found from the process tree), for this user and address.
    async fn harden_sshd(&self, session: &Session, host: &str, secrets: &[String]) -> Vec<Finding> {
        let cmd = "p=$$; L=; while [ \"${p:-1}\" -gt 1 ]; do [ \"$(cat /proc/$p/comm 2>/dev/null)\" = sshd ] && L=$p; p=$(sed 's/.*) //' /proc/$p/stat 2>/dev/null | cut -d' ' -f2); done; \
                   F=$(tr '\\0' ' ' </proc/${L:-0}/cmdline 2>/dev/null | awk '{for (i = 1; i < NF; i++) if ($i == \"-f\") print $(i + 1)}'); \
                   B=$(readlink /proc/${L:-0}/exe 2>/dev/null || command -v sshd || echo /usr/sbin/sshd); \
                   A=${SSH_CLIENT%% *}; C=\"user=$(id -un),host=$(cat /proc/sys/kernel/hostname),addr=${A:-127.0.0.1}\"; \
                   $B -T ${F:+-f \"$F\"} -C \"$C\" 2>/dev/null || sudo -n $B -T ${F:+-f \"$F\"} -C \"$C\"";
        let shown = "sshd -T [-f <the config of the sshd serving this session>] -C user=…,host=…,addr=…";
        let out = session.exec_capped(cmd, None, 256 * 1024).await;
        let checklist = "SSH key authentication only; SSH password authentication disabled — seed 001";
        match out {
            Ok(o) if o.success() && !o.stdout.is_empty() => {
                let text = String::from_utf8_lossy(&o.stdout).into_owned();
                judge_sshd(&text)
                    .into_iter()
                    .map(|(check, verdict, detail, fix)| {
                        let key = detail
                            .split_whitespace()
                            .next()
                            .unwrap_or_default()
                            .to_ascii_lowercase();
                        let lines: String = text
                            .lines()
                            .filter(|l| l.starts_with(&key))
                            .collect::<Vec<_>>()
                            .join("\n");
                        let mut ev = evidence(shown, &o.stdout, secrets);
                        ev.output = lines;
                        F {
                            check,
                            host,
                            checklist,
                        }
                        .finding(None, verdict, detail, Some(ev), fix)
                    })
                    .collect()
            }
            other => {
                let why = match other {
                    Ok(o) => display_safe(&o.stderr).trim().to_owned(),
                    Err(e) => e.to_string(),
                };
                vec![F {
                    check: "ssh.config",
                    host,
                    checklist,
                }
                .finding(
                    None,
                    Verdict::Unknown,
                    format!("sshd's effective configuration could not be read (`sshd -T` needs root or `sudo -n`): {why}"),
                    None,
                    "let the console's SSH user run `sudo -n sshd -T`, or audit as root",
                )]
            }
        }
    }

    /// PostgreSQL and Redis listening only on loopback, on the hosts the profile reaches
    /// them through.
    async fn harden_listeners(
        &self,
        deployment: &str,
        session: &Session,
        host: &str,
        secrets: &[String],
    ) -> Vec<Finding> {
        let Ok(profile) = self.profile(deployment).await else {
            return Vec::new();
        };
        let mut ports = Vec::new();
        if let Some(db) = &profile.database
            && db.via_host.get_ref() == host
            && db.socket.is_none()
        {
            ports.push(("PostgreSQL", db.port));
        }
        if let Some(r) = &profile.redis
            && r.via_host.get_ref() == host
        {
            ports.push(("Redis", r.port));
        }
        if ports.is_empty() {
            return Vec::new();
        }
        let cmd = "ss -Hltn";
        let out = session.exec(cmd, None).await;
        let checklist =
            "PostgreSQL and Redis not listening on public interfaces — seeds 001 (Network Security), 004";
        ports
            .into_iter()
            .map(|(what, port)| {
                let f = F {
                    check: if what == "Redis" { "net.redis_public" } else { "net.db_public" },
                    host,
                    checklist,
                };
                match &out {
                    Ok(o) if o.success() => {
                        let text = String::from_utf8_lossy(&o.stdout);
                        let public = public_listeners(&text, port);
                        let mut ev = evidence(cmd, &o.stdout, secrets);
                        ev.output = text
                            .lines()
                            .filter(|l| l.split_whitespace().nth(3).is_some_and(|a| a.ends_with(&format!(":{port}"))))
                            .collect::<Vec<_>>()
                            .join("\n");
                        if public.is_empty() {
                            f.finding(Some(what), Verdict::Pass, format!("{what} (port {port}) listens on loopback only"), Some(ev), "")
                        } else {
                            f.finding(
                                Some(what),
                                Verdict::Fail,
                                format!("{what} (port {port}) listens on {}", public.join(", ")),
                                Some(ev),
                                &format!("bind {what} to 127.0.0.1 (or a private interface) and, in Docker, publish it as `127.0.0.1:{port}:{port}` or not at all"),
                            )
                        }
                    }
                    _ => f.finding(Some(what), Verdict::Unknown, "`ss -Hltn` did not answer (iproute2 missing?)".into(), None, "install iproute2"),
                }
            })
            .collect()
    }

    /// Every container's security settings, from the Docker API.
    async fn harden_containers(&self, deployment: &str, host: &str) -> Vec<Finding> {
        let mut out = Vec::new();
        let docker = match self.docker(deployment, host).await {
            Ok(d) => d,
            Err(_) => return out,
        };
        let Ok(list) = docker.containers().await else {
            return out;
        };
        let checklist = "Non-root user for application; containers least-privileged — seeds 001, 004";
        for c in list.iter().filter(|c| c.state == "running") {
            let Ok(i) = docker
                .client()
                .inspect_container(
                    &c.name,
                    None::<bollard::query_parameters::InspectContainerOptions>,
                )
                .await
            else {
                continue;
            };
            let hc = i.host_config.clone().unwrap_or_default();
            let user = i.config.as_ref().and_then(|c| c.user.clone()).unwrap_or_default();
            let command = format!("GET /containers/{}/json", c.name);
            let facts = serde_json::json!({
                "Id": i.id,
                "Config.User": user,
                "HostConfig.Privileged": hc.privileged,
                "HostConfig.CapDrop": hc.cap_drop,
                "HostConfig.CapAdd": hc.cap_add,
                "HostConfig.Memory": hc.memory,
                "HostConfig.NanoCpus": hc.nano_cpus,
                "HostConfig.CpuQuota": hc.cpu_quota,
                "HostConfig.ReadonlyRootfs": hc.readonly_rootfs,
                "HostConfig.NetworkMode": hc.network_mode,
                "HostConfig.PidMode": hc.pid_mode,
                "HostConfig.Binds": hc.binds,
                "HostConfig.PortBindings": hc.port_bindings,
                "Mounts": i.mounts.as_ref().map(|m| m.iter().filter_map(|m| m.source.clone()).collect::<Vec<_>>()),
            });
            let full = serde_json::to_vec(&facts).unwrap_or_default();
            let ev = |keys: &[&str]| {
                let mut e = evidence(&command, &full, &[]);
                e.output = keys
                    .iter()
                    .map(|k| {
                        format!(
                            "{k}: {}",
                            facts.get(*k).map(|v| v.to_string()).unwrap_or_default()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                e
            };
            let name = c.name.as_str();
            let mut push = |check: &str, verdict: Verdict, detail: String, keys: &[&str], fix: &str| {
                out.push(
                    F {
                        check,
                        host,
                        checklist,
                    }
                    .finding(Some(name), verdict, detail, Some(ev(keys)), fix),
                );
            };
            let root = user.is_empty()
                || user == "0"
                || user == "root"
                || user.starts_with("0:")
                || user.starts_with("root:");
            push(
                "container.user",
                if root { Verdict::Fail } else { Verdict::Pass },
                if root {
                    "runs as root".into()
                } else {
                    format!("runs as {user}")
                },
                &["Config.User"],
                "run it as an unprivileged user (`user: \"1000:1000\"` in compose, `USER` in the Dockerfile)",
            );
            let privileged = hc.privileged == Some(true);
            push(
                "container.privileged",
                if privileged { Verdict::Fail } else { Verdict::Pass },
                if privileged {
                    "privileged: every device and capability of the host".into()
                } else {
                    "not privileged".into()
                },
                &["HostConfig.Privileged"],
                "remove `privileged: true`; add only the capability it needs (`cap_add`)",
            );
            let drops_all = hc
                .cap_drop
                .as_ref()
                .is_some_and(|d| d.iter().any(|c| c.eq_ignore_ascii_case("ALL")));
            push(
                "container.capabilities",
                if drops_all { Verdict::Pass } else { Verdict::Warn },
                if drops_all {
                    "drops all capabilities".into()
                } else {
                    "keeps Docker's default capabilities".into()
                },
                &["HostConfig.CapDrop", "HostConfig.CapAdd"],
                "`cap_drop: [ALL]`, then `cap_add` only what it needs",
            );
            let limited = hc.memory.unwrap_or(0) > 0
                && (hc.nano_cpus.unwrap_or(0) > 0 || hc.cpu_quota.unwrap_or(0) > 0);
            push(
                "container.limits",
                if limited { Verdict::Pass } else { Verdict::Warn },
                format!(
                    "memory limit {}, CPU limit {}",
                    hc.memory
                        .filter(|m| *m > 0)
                        .map_or("none".into(), |m| format!("{} MiB", m >> 20)),
                    hc.nano_cpus.filter(|n| *n > 0).map_or_else(
                        || if hc.cpu_quota.unwrap_or(0) > 0 {
                            "a CPU quota".into()
                        } else {
                            "none".into()
                        },
                        |n| format!("{:.2} CPUs", n as f64 / 1e9)
                    )
                ),
                &["HostConfig.Memory", "HostConfig.NanoCpus", "HostConfig.CpuQuota"],
                "set `mem_limit` and `cpus` (compose) or `--memory` and `--cpus`",
            );
            let ro = hc.readonly_rootfs == Some(true);
            push(
                "container.read_only",
                if ro { Verdict::Pass } else { Verdict::Warn },
                if ro {
                    "read-only root filesystem".into()
                } else {
                    "writable root filesystem".into()
                },
                &["HostConfig.ReadonlyRootfs"],
                "`read_only: true`, with a `tmpfs` for the paths it writes",
            );
            let sock = i.mounts.as_ref().is_some_and(|m| {
                m.iter()
                    .any(|m| m.source.as_deref().is_some_and(|s| s.ends_with("docker.sock")))
            });
            push(
                "container.docker_socket",
                if sock { Verdict::Fail } else { Verdict::Pass },
                if sock {
                    "the Docker socket is mounted: root on the host to whoever controls the container".into()
                } else {
                    "no Docker socket mounted".into()
                },
                &["Mounts"],
                "remove the docker.sock mount (use a socket proxy that allows only what it needs)",
            );
            let hostns = hc.network_mode.as_deref() == Some("host") || hc.pid_mode.as_deref() == Some("host");
            push(
                "container.host_namespaces",
                if hostns { Verdict::Warn } else { Verdict::Pass },
                format!(
                    "network {}, pid {}",
                    hc.network_mode.as_deref().unwrap_or("default"),
                    hc.pid_mode.as_deref().filter(|p| !p.is_empty()).unwrap_or("own")
                ),
                &["HostConfig.NetworkMode", "HostConfig.PidMode"],
                "use a bridge network with only the ports it needs published, and its own PID namespace",
            );
            let (verdict, detail) = judge_published(hc.port_bindings.as_ref());
            push(
                "container.published",
                verdict,
                detail,
                &["HostConfig.PortBindings"],
                "publish databases and caches on no interface (or `127.0.0.1:port:port`); only the proxy publishes 80 and 443 on every interface",
            );
            // The image's age: its packages miss every security fix since.
            let created = match i.image.as_deref() {
                Some(image) => docker
                    .client()
                    .inspect_image(image)
                    .await
                    .ok()
                    .and_then(|im| im.created)
                    .and_then(|c| humantime::parse_rfc3339(c.trim()).ok()),
                None => None,
            };
            if let Some(age) = created.and_then(|c| std::time::SystemTime::now().duration_since(c).ok()) {
                let days = age.as_secs() / 86_400;
                let mut e = evidence(
                    &format!("GET /images/{}/json", i.image.as_deref().unwrap_or_default()),
                    &full,
                    &[],
                );
                e.output = format!("Created: {days} days ago");
                out.push(
                    F {
                        check: "container.image_age",
                        host,
                        checklist,
                    }
                    .finding(
                        Some(name),
                        if days > 180 { Verdict::Warn } else { Verdict::Pass },
                        format!("its image was built {days} days ago"),
                        Some(e),
                        "rebuild the image on a fresh base (and pull updated bases) at least every few months",
                    ),
                );
            }
        }
        out
    }

    /// The public URL, as a browser would get it: its security headers and cookies, and
    /// whether it answers a foreign Origin.
    async fn harden_http(&self, deployment: &str) -> (Vec<Finding>, Option<Observatory>) {
        let Ok(profile) = self.profile(deployment).await else {
            return (Vec::new(), None);
        };
        let Some(url) = profile.public_url.as_ref().map(|u| u.get_ref().clone()) else {
            return (Vec::new(), None);
        };
        let settings = profile.harden.clone().unwrap_or_default();
        let ca_file = profile.public_url_ca.as_ref().map(|c| c.get_ref().clone());
        let checklist = "HTTPS/SSL enabled; CORS properly configured — seeds 001, 004";
        let finding =
            |check: &str, verdict: Verdict, detail: String, ev: Option<Evidence>, fix: &str| Finding {
                check: check.into(),
                host: None,
                subject: Some(url.clone()),
                verdict,
                detail,
                evidence: ev,
                checklist: checklist.into(),
                fix: if verdict == Verdict::Pass {
                    String::new()
                } else {
                    fix.into()
                },
                accepted: None,
                severity: Severity::Low,
            };
        let client = match crate::engine::http::client_for(
            concat!("breakglass/", env!("CARGO_PKG_VERSION")),
            ca_file.as_deref(),
        ) {
            Ok(c) => c,
            Err(e) => {
                return (
                    vec![finding(
                        "http.reachable",
                        Verdict::Unknown,
                        e,
                        None,
                        "fix public_url_ca in the profile",
                    )],
                    None,
                );
            }
        };
        let origin = "https://breakglass-probe.invalid";
        let get = |origin: Option<&str>| {
            let mut req = client.get(&url);
            if let Some(o) = origin {
                req = req.header("Origin", o);
            }
            req.send()
        };
        let (plain, cors) = tokio::join!(get(None), get(Some(origin)));
        let headers = |r: &reqwest::Response| {
            r.headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect::<Vec<_>>()
        };
        let got = match (plain, cors) {
            (Ok(p), Ok(c)) => Ok((
                (p.status(), redact_cookies(headers(&p))),
                redact_cookies(headers(&c)),
            )),
            (Err(e), _) | (_, Err(e)) => Err(error_chain(&e.without_url())),
        };
        let https = url.starts_with("https://");
        let mut out = Vec::new();
        let mut seen_headers = None;
        match got {
            Err(e) => out.push(finding(
                "http.reachable",
                Verdict::Unknown,
                format!("{url} did not answer: {e}"),
                None,
                "check public_url in the profile (and public_url_ca for a private CA) and that the site is up",
            )),
            Ok((plain, cors)) => {
            let block = plain
                .1
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join("\n");
            let full = format!("HTTP {}\n{block}", plain.0);
            out.push(finding(
                "http.https",
                if https { Verdict::Pass } else { Verdict::Fail },
                if https {
                    format!("{url} is served over HTTPS")
                } else {
                    format!("{url} is plain HTTP: passwords and cookies cross the network in clear")
                },
                Some(evidence(&format!("GET {url}"), full.as_bytes(), &[])),
                "serve the site over HTTPS (Caddy or Traefik get a certificate by themselves) and set public_url to its https:// address",
            ));
            for (check, verdict, detail, fix) in judge_http(https, &plain.1, &cors, origin) {
                let name = match check {
                    "http.hsts" => "strict-transport-security",
                    "http.framing" => "x-frame-options",
                    "http.nosniff" => "x-content-type-options",
                    "http.referrer" => "referrer-policy",
                    "http.csp" => "content-security-policy",
                    "http.cookies" => "set-cookie",
                    _ => "access-control-allow",
                };
                let mut ev = evidence(
                    &if check == "http.cors" {
                        format!("GET {url} with Origin: {origin}")
                    } else {
                        format!("GET {url}")
                    },
                    full.as_bytes(),
                    &[],
                );
                let lines = if check == "http.cors" { &cors } else { &plain.1 };
                ev.output = lines
                    .iter()
                    .filter(|(k, _)| k.starts_with(name))
                    .map(|(k, v)| format!("{k}: {}", display_safe(v.as_bytes())))
                    .collect::<Vec<_>>()
                    .join("\n");
                if ev.output.is_empty() {
                    ev.output = format!("(no {name} header)");
                }
                out.push(finding(
                    check,
                    verdict,
                    display_safe(detail.as_bytes()),
                    Some(ev),
                    fix,
                ));
            }
                seen_headers = Some((plain.1, cors));
            }
        }
        let parsed = reqwest::Url::parse(&url).ok();
        let public_host = parsed
            .as_ref()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default();
        let public_host = public_host.trim_matches(['[', ']']).to_owned();
        // Plain HTTP must send browsers to HTTPS.
        let http_url = settings
            .http_url
            .as_ref()
            .map(|u| u.get_ref().clone())
            .or_else(|| {
                parsed
                    .as_ref()
                    .filter(|u| u.scheme() == "https" && u.port().is_none())
                    .map(|u| format!("http://{}/", u.host_str().unwrap_or_default()))
            });
        let redirect_check = async {
            match &http_url {
                Some(h) if https => Some(web::redirect(&client, h, &public_host).await),
                _ => None,
            }
        };
        // TLS: versions, certificate.
        let port = parsed
            .as_ref()
            .and_then(reqwest::Url::port_or_known_default)
            .unwrap_or(443);
        let tls_checks = async {
            if !https {
                return None;
            }
            let (hs, v10, v11) = tokio::join!(
                web::handshake(&public_host, port, ca_file.as_deref()),
                web::probe_legacy(&public_host, port, 0x0301),
                web::probe_legacy(&public_host, port, 0x0302)
            );
            Some((hs, v10, v11))
        };
        let (redirect, tls, burst) = tokio::join!(
            redirect_check,
            tls_checks,
            self.login_burst(deployment, &client, &url, settings.login_burst())
        );
        let redirect_seen = match redirect {
            Some((r, shown)) => {
                let (verdict, detail) = match r {
                    report::Redirect::ToHttps => (Verdict::Pass, format!("{} redirects to HTTPS on the same host", http_url.as_deref().unwrap_or_default())),
                    report::Redirect::NoHttp => (Verdict::Pass, format!("nothing answers plain HTTP at {}", http_url.as_deref().unwrap_or_default())),
                    report::Redirect::OffHost => (Verdict::Warn, "plain HTTP redirects to HTTPS on another host (HSTS cannot protect the first request)".to_owned()),
                    report::Redirect::NotToHttps => (Verdict::Fail, "plain HTTP redirects, but not to https://".to_owned()),
                    report::Redirect::Missing | report::Redirect::NotChecked => (Verdict::Fail, format!("{} answers without redirecting to HTTPS", http_url.as_deref().unwrap_or_default())),
                };
                out.push(finding(
                    "http.redirect",
                    verdict,
                    display_safe(detail.as_bytes()),
                    Some(evidence(&format!("GET {}", http_url.as_deref().unwrap_or_default()), shown.as_bytes(), &[])),
                    "answer plain HTTP with `301`/`308` to the same path on https:// (Caddy does by itself; nginx: `return 308 https://$host$request_uri;`)",
                ));
                r
            }
            None if https => {
                out.push(finding(
                    "http.redirect",
                    Verdict::Unknown,
                    "public_url has a port of its own: say where plain HTTP is served with `[harden] http_url`".into(),
                    None,
                    "set `[harden] http_url = \"http://…\"` in the profile",
                ));
                report::Redirect::NotChecked
            }
            None => report::Redirect::Missing,
        };
        if let Some((hs, v10, v11)) = tls {
            let target = format!("{public_host}:{port}");
            match &hs {
                Ok(h) => {
                    let days = h.expires_in.map(|s| s.div_euclid(86_400));
                    let (verdict, detail) = match days {
                        Some(d) if d < 7 => (Verdict::Fail, format!("the certificate is valid but expires in {d} day(s), {}: renewal is failing", h.not_after.as_deref().unwrap_or("?"))),
                        Some(d) if d < 21 => (Verdict::Warn, format!("the certificate expires in {d} days, {} (automatic renewal normally runs 30 days ahead)", h.not_after.as_deref().unwrap_or("?"))),
                        Some(d) => (Verdict::Pass, format!("the certificate is valid for {public_host} and expires in {d} days, {}", h.not_after.as_deref().unwrap_or("?"))),
                        None => (Verdict::Pass, "the certificate is valid (its end date could not be read)".to_owned()),
                    };
                    out.push(finding("tls.certificate", verdict, detail.clone(), Some(evidence(&format!("TLS handshake with {target} ({})", h.version), detail.as_bytes(), &[])), "renew the certificate and check the renewal job (certbot renew --dry-run, or the proxy's ACME logs)"));
                }
                Err(e) => out.push(finding(
                    "tls.certificate",
                    Verdict::Fail,
                    format!("the TLS handshake with {target} failed: {}", display_safe(e.as_bytes())),
                    Some(evidence(&format!("TLS handshake with {target}"), e.as_bytes(), &[])),
                    "serve a certificate from a public CA for this name (or name the private CA in the profile's `public_url_ca`)",
                )),
            }
            let mut accepted = Vec::new();
            let mut lines = Vec::new();
            let mut unclear = Vec::new();
            for (name, r) in [("TLS 1.0", &v10), ("TLS 1.1", &v11)] {
                match r {
                    Ok(web::LegacyAnswer::Accepted(_)) => {
                        accepted.push(name);
                        lines.push(format!("{name}: ServerHello (accepted)"));
                    }
                    Ok(web::LegacyAnswer::Refused) => lines.push(format!("{name}: refused")),
                    Err(e) => {
                        unclear.push(name);
                        lines.push(format!("{name}: {e}"));
                    }
                }
            }
            if let Ok(h) = &hs {
                lines.push(format!("modern handshake: {}", h.version));
            }
            let text = lines.join("\n");
            let (verdict, detail) = if !accepted.is_empty() {
                (
                    Verdict::Fail,
                    format!(
                        "{target} accepts {}: deprecated since 2021 (RFC 8996)",
                        accepted.join(" and ")
                    ),
                )
            } else if !unclear.is_empty() {
                (
                    Verdict::Unknown,
                    format!(
                        "{target}: no clear answer to a {} ClientHello",
                        unclear.join(" and ")
                    ),
                )
            } else {
                (
                    Verdict::Pass,
                    format!(
                        "{target} refuses TLS 1.0 and 1.1{}",
                        hs.as_ref()
                            .map(|h| format!("; it speaks {}", h.version))
                            .unwrap_or_default()
                    ),
                )
            };
            out.push(finding(
                "tls.version",
                verdict,
                detail,
                Some(evidence(
                    &format!("a TLS 1.0 and a TLS 1.1 ClientHello to {target}"),
                    text.as_bytes(),
                    &[],
                )),
                "allow TLS 1.2 and 1.3 only (nginx `ssl_protocols TLSv1.2 TLSv1.3;`, Caddy's default)",
            ));
        }
        if let Some(b) = burst {
            out.push(Finding {
                subject: Some(url.clone()),
                ..b
            });
        }
        let observatory = seen_headers
            .map(|(headers, cors)| report::observatory(https, &headers, &cors, origin, &redirect_seen));
        (out, observatory)
    }

    /// A short, bounded burst of bad logins against the app's login (its profile's
    /// `probes.login_path`) for an account that does not exist: it must get throttled.
    /// Journaled before it starts and when it ends, with the user name it used.
    async fn login_burst(
        &self,
        deployment: &str,
        client: &reqwest::Client,
        url: &str,
        count: u32,
    ) -> Option<Finding> {
        if count == 0 {
            return None;
        }
        let base = |check: &str, verdict: Verdict, detail: String, ev: Option<Evidence>| Finding {
            check: check.into(),
            host: None,
            subject: None,
            verdict,
            detail,
            evidence: ev,
            checklist: "Rate limiting on login: 5 attempts per 20 seconds — seed 001".into(),
            fix: if verdict == Verdict::Pass {
                String::new()
            } else {
                "throttle failed logins per client and per account (seed 001: 5 per 20 s), answering 429 with Retry-After".into()
            },
            accepted: None,
            severity: Severity::Low,
        };
        let app = match self.app_profile(deployment).await {
            Ok(a) => a,
            Err(e) => {
                return Some(base(
                    "http.rate_limit",
                    Verdict::Unknown,
                    format!("not checked: {e}"),
                    None,
                ));
            }
        };
        let Some((probes, path)) = app
            .probes
            .clone()
            .and_then(|p| p.login_path.clone().map(|l| (p, l)))
        else {
            return Some(Finding {
                fix: "declare `probes.login_path` in the app profile, or set `[harden] login_burst = 0` to skip this check".into(),
                ..base(
                    "http.rate_limit",
                    Verdict::Unknown,
                    format!("not checked: the app profile {:?} names no login path", app.name),
                    None,
                )
            });
        };
        let target = format!("{}{}", url.trim_end_matches('/'), path);
        let user = format!("breakglass-burst-{}", hex::encode(rand::random::<[u8; 4]>()));
        let run = hex::encode(rand::random::<[u8; 8]>());
        let by = crate::engine::connect::operator();
        let journal = match self.journal().await {
            Ok(j) => j,
            Err(e) => {
                return Some(base(
                    "http.rate_limit",
                    Verdict::Unknown,
                    format!("not run: the journal must record a burst of logins before it is sent ({e})"),
                    None,
                ));
            }
        };
        // Evidence first: what is about to be sent, and as whom.
        if let Err(e) = journal
            .append(
                deployment,
                &run,
                &by,
                "harden.burst",
                serde_json::json!({"url": target, "user": user, "at_most": count}),
            )
            .await
        {
            return Some(base(
                "http.rate_limit",
                Verdict::Unknown,
                format!("not run: the journal could not record it first ({e})"),
                None,
            ));
        }
        let started = Instant::now();
        let mut statuses = Vec::new();
        let mut error = None;
        for _ in 0..count {
            let body = serde_json::json!({
                probes.username_field.as_str(): user,
                probes.password_field.as_str(): hex::encode(rand::random::<[u8; 12]>()),
            });
            match client.post(&target).json(&body).send().await {
                Ok(r) => {
                    let s = r.status().as_u16();
                    statuses.push(s);
                    if s == 429 || s == 503 {
                        break;
                    }
                }
                Err(e) => {
                    error = Some(error_chain(&e.without_url()));
                    break;
                }
            }
        }
        let took = started.elapsed();
        let _ = journal
            .append(
                deployment,
                &run,
                &by,
                "harden.burst.finished",
                serde_json::json!({"user": user, "statuses": statuses, "took_ms": took.as_millis() as u64}),
            )
            .await;
        let text = format!(
            "POST {target} as {user}, {} time(s) in {:.1} s: {statuses:?}",
            statuses.len(),
            took.as_secs_f64()
        );
        let ev = Some(evidence(
            &format!("POST {target} with a wrong password, at most {count} times"),
            text.as_bytes(),
            &[],
        ));
        if let Some(e) = error {
            return Some(base(
                "http.rate_limit",
                Verdict::Unknown,
                format!("the login stopped answering: {e}"),
                ev,
            ));
        }
        let (verdict, detail) = web::judge_burst(&statuses, &probes.refused);
        Some(base(
            "http.rate_limit",
            verdict,
            format!(
                "{detail}; the app's audit log has them as failed logins of {user} (journaled as harden.burst)"
            ),
            ev,
        ))
    }

    /// Redis answers an unauthenticated client with NOAUTH.
    async fn harden_redis(&self, deployment: &str) -> Vec<Finding> {
        let Ok(profile) = self.profile(deployment).await else {
            return Vec::new();
        };
        let Some(r) = &profile.redis else {
            return Vec::new();
        };
        let host = r.via_host.get_ref();
        let f = F {
            check: "redis.auth",
            host,
            checklist: "Redis requires a password — seeds 001, 004",
        };
        let session = match self.session(deployment, host).await {
            Ok(s) => s,
            Err(e) => {
                return vec![f.finding(
                    Some("Redis"),
                    Verdict::Unknown,
                    format!("not checked: {e}"),
                    None,
                    "",
                )];
            }
        };
        let command = format!("PING without AUTH to {}:{} from {host}", r.address, r.port);
        let ping = tokio::time::timeout(
            Duration::from_secs(10),
            crate::engine::redis::Redis::connect(&session, &r.address, r.port, None, 0),
        )
        .await;
        let (verdict, detail) = match ping {
            Ok(Ok(_)) => (
                Verdict::Fail,
                "answered PONG to a client without a password".to_owned(),
            ),
            Ok(Err(crate::engine::redis::RedisError::Refused { message, .. }))
                if message.starts_with("NOAUTH") =>
            {
                (
                    Verdict::Pass,
                    format!("refused: {}", display_safe(message.as_bytes())),
                )
            }
            Ok(Err(e)) => (Verdict::Unknown, format!("no clear answer: {e}")),
            Err(_) => (Verdict::Unknown, "no answer in 10 s".into()),
        };
        vec![f.finding(
            Some("Redis"),
            verdict,
            detail.clone(),
            Some(evidence(&command, detail.as_bytes(), &[])),
            "set `requirepass` (or ACL users) in redis.conf and put the password in REDIS_URL",
        )]
    }

    /// The last restore test that passed, and the newest backup's age against the RPO.
    async fn harden_backups(&self, deployment: &str) -> Vec<Finding> {
        let Ok(profile) = self.profile(deployment).await else {
            return Vec::new();
        };
        let Some(b) = &profile.backups else {
            return vec![Finding {
                check: "backups.configured".into(),
                host: None,
                subject: None,
                verdict: Verdict::Fail,
                detail: "the profile names no backups ([backups])".into(),
                evidence: None,
                checklist: "Backup restoration tested — seed 000; Backups configured — seed 004".into(),
                fix: "add [backups] to the profile (docs/profiles.md) and run `breakglass restore-test`"
                    .into(),
                accepted: None,
                severity: Severity::Low,
            }];
        };
        let host = b.host.get_ref().clone();
        let mut out = Vec::new();
        let last = self.last_good_restore(deployment).await.ok().flatten();
        let age = last
            .as_deref()
            .and_then(|t| humantime::parse_rfc3339_weak(t.trim_end_matches('Z')).ok())
            .and_then(|t| std::time::SystemTime::now().duration_since(t).ok());
        let (verdict, detail) = match age {
            Some(a) if a <= Duration::from_secs(31 * 86_400) => (
                Verdict::Pass,
                format!(
                    "the last restore test that passed ran {} ago",
                    humantime::format_duration(Duration::from_secs(a.as_secs() / 3600 * 3600))
                ),
            ),
            Some(a) => (
                Verdict::Warn,
                format!(
                    "the last restore test that passed ran {} ago (over a month)",
                    humantime::format_duration(Duration::from_secs(a.as_secs() / 86_400 * 86_400))
                ),
            ),
            None => (
                Verdict::Fail,
                "no restore test has passed (the journal has none)".into(),
            ),
        };
        out.push(Finding {
            check: "backups.restore_tested".into(),
            host: Some(host.clone()),
            subject: None,
            verdict,
            detail: detail.clone(),
            evidence: Some(evidence(
                "the journal's restore.finished entries",
                last.unwrap_or_default().as_bytes(),
                &[],
            )),
            checklist: "Backup restoration tested — seed 000".into(),
            fix: if verdict == Verdict::Pass {
                String::new()
            } else {
                format!("`breakglass restore-test {deployment}`")
            },
            accepted: None,
            severity: Severity::Low,
        });
        match self.backups(deployment).await {
            Ok(list) => {
                let newest = list.first();
                let target = b.rpo();
                let (verdict, detail) = match newest {
                    Some(f) if Duration::from_secs(f.age_secs) <= target => (
                        Verdict::Pass,
                        format!(
                            "the newest backup, {}, is {} old (RPO {})",
                            display_safe(f.name.as_bytes()),
                            humantime::format_duration(Duration::from_secs(f.age_secs / 60 * 60)),
                            humantime::format_duration(target)
                        ),
                    ),
                    Some(f) => (
                        Verdict::Fail,
                        format!(
                            "the newest backup, {}, is {} old: older than the RPO target {}",
                            display_safe(f.name.as_bytes()),
                            humantime::format_duration(Duration::from_secs(f.age_secs / 60 * 60)),
                            humantime::format_duration(target)
                        ),
                    ),
                    None => (Verdict::Fail, format!("no backup in {}", b.place())),
                };
                out.push(Finding {
                    check: "backups.fresh".into(),
                    host: Some(host),
                    subject: Some(b.place()),
                    verdict,
                    detail: detail.clone(),
                    evidence: Some(evidence(&format!("list {}", b.place()), detail.as_bytes(), &[])),
                    checklist: "Backups configured — seed 004".into(),
                    fix: if verdict == Verdict::Pass {
                        String::new()
                    } else {
                        "check the backup job (cron, systemd timer) and its logs".into()
                    },
                    accepted: None,
                    severity: Severity::Low,
                });
            }
            Err(e) => out.push(Finding {
                check: "backups.fresh".into(),
                host: Some(host),
                subject: Some(b.place()),
                verdict: Verdict::Unknown,
                detail: format!("the backups could not be listed: {e}"),
                evidence: None,
                checklist: "Backups configured — seed 004".into(),
                fix: "fix what the error names, then audit again".into(),
                accepted: None,
                severity: Severity::Low,
            }),
        }
        out
    }
}

/// The `.env`'s secrets (by name), judged here without being shown: against
/// `.env.example` beside it, placeholders, length, entropy, reuse.
async fn harden_secrets(
    session: &Session,
    host: &str,
    path: &str,
    env: &crate::engine::envfile::EnvFile,
) -> Vec<Finding> {
    let dir = path
        .rsplit_once('/')
        .map_or("/", |(d, _)| if d.is_empty() { "/" } else { d });
    let example_path = format!("{dir}/.env.example");
    let example = session
        .exec_capped(
            &format!("cat -- {} 2>/dev/null", shell_quote(&example_path)),
            None,
            256 * 1024,
        )
        .await
        .ok()
        .filter(|o| o.success())
        .and_then(|o| crate::engine::envfile::EnvFile::parse_owned(o.stdout).ok());
    let checklist = "All secrets are strong and unique; Strong encryption keys — seed 004";
    let judged = judge_secrets(env, example.as_ref());
    let count = env.keys().filter(|k| is_secret_name(k)).count();
    let mut out: Vec<Finding> = judged
        .into_iter()
        .map(|(check, name, verdict, detail)| {
            let text = format!("{name}: {detail}");
            F { check, host, checklist }.finding(
                Some(&name),
                verdict,
                detail,
                Some(evidence(&format!("{path} (values judged here, never shown)"), text.as_bytes(), &[])),
                &format!("rotate {name} to a random value: `openssl rand -hex 32` (the rotation action will do it across every consumer)"),
            )
        })
        .collect();
    if !out
        .iter()
        .any(|f| f.verdict == Verdict::Fail || f.verdict == Verdict::Warn)
    {
        let detail = format!(
            "{count} secret(s) by name: none empty, a placeholder, {}short, low in entropy or reused",
            if example.is_some() {
                "copied from .env.example, "
            } else {
                ""
            }
        );
        out.push(
            F {
                check: "secrets.weak",
                host,
                checklist,
            }
            .finding(
                Some(path),
                Verdict::Pass,
                detail.clone(),
                Some(evidence(
                    &format!("{path} (values judged here, never shown)"),
                    detail.as_bytes(),
                    &[],
                )),
                "",
            ),
        );
    }
    out
}

/// The `.env`'s mode and owner, and whether git tracks or ignores it.
async fn harden_env_file(
    session: &Session,
    host: &str,
    env_file: Option<&str>,
    secrets: &[String],
) -> Vec<Finding> {
    let Some(path) = env_file else {
        return Vec::new();
    };
    let q = shell_quote(path);
    let mut out = Vec::new();
    let f = F {
        check: "env.mode",
        host,
        checklist: "`.env` file permissions restricted (`chmod 600 .env`) — seed 000",
    };
    let cmd = format!("stat -c '%a %U:%G' -- {q}");
    match session.exec(&cmd, None).await {
        Ok(o) if o.success() => {
            let text = String::from_utf8_lossy(&o.stdout).trim().to_owned();
            let mode = text
                .split_whitespace()
                .next()
                .and_then(|m| u32::from_str_radix(m, 8).ok());
            let (verdict, detail) = match mode {
                Some(m) if m & 0o077 == 0 => (Verdict::Pass, format!("mode {text}")),
                Some(m) if m & 0o007 != 0 => (
                    Verdict::Fail,
                    format!("mode {text}: every user of the host may read it"),
                ),
                Some(_) => (Verdict::Fail, format!("mode {text}: its group may read it")),
                None => (Verdict::Unknown, format!("stat printed {text:?}")),
            };
            out.push(f.finding(
                Some(path),
                verdict,
                detail,
                Some(evidence(&cmd, &o.stdout, secrets)),
                &format!("chmod 600 {q}"),
            ));
        }
        Ok(o) => out.push(f.finding(
            Some(path),
            Verdict::Unknown,
            format!("stat failed: {}", display_safe(&o.stderr).trim()),
            None,
            "",
        )),
        Err(e) => out.push(f.finding(
            Some(path),
            Verdict::Unknown,
            format!("not checked: {e}"),
            None,
            "",
        )),
    }
    let dir = path
        .rsplit_once('/')
        .map_or("/", |(d, _)| if d.is_empty() { "/" } else { d });
    let cmd = format!(
        "cd -- {} 2>/dev/null || exit 0; command -v git >/dev/null || {{ echo no-git; exit 0; }}; \
         git rev-parse --show-toplevel 2>/dev/null || {{ echo no-repository; exit 0; }}; \
         if git ls-files --error-unmatch -- {q} >/dev/null 2>&1; then echo tracked; else echo untracked; fi; \
         if git check-ignore -q -- {q}; then echo ignored; else echo not-ignored; fi",
        shell_quote(dir)
    );
    let f = F {
        check: "env.git",
        host,
        checklist: "`.env` file is in `.gitignore`; secrets not in version control — seeds 000, 004",
    };
    match session.exec(&cmd, None).await {
        Ok(o) if o.success() => {
            let text = String::from_utf8_lossy(&o.stdout);
            let has = |w: &str| text.lines().any(|l| l == w);
            let (verdict, detail) = if has("no-git") || has("no-repository") {
                (Verdict::Pass, "not in a git repository".to_owned())
            } else if has("tracked") {
                (
                    Verdict::Fail,
                    "git tracks it: its values are in the repository's history".to_owned(),
                )
            } else if has("not-ignored") {
                (
                    Verdict::Warn,
                    "in a git repository, not tracked, but not in .gitignore: one `git add .` away"
                        .to_owned(),
                )
            } else {
                (
                    Verdict::Pass,
                    "in a git repository, ignored and not tracked".to_owned(),
                )
            };
            let fix = if has("tracked") {
                format!(
                    "`git rm --cached {q}`, add it to .gitignore, and rotate every secret in it (they are in the history)"
                )
            } else {
                "add `.env` to .gitignore".to_owned()
            };
            out.push(f.finding(
                Some(path),
                verdict,
                detail,
                Some(evidence(
                    "git ls-files --error-unmatch; git check-ignore",
                    &o.stdout,
                    secrets,
                )),
                &fix,
            ));
        }
        _ => out.push(f.finding(
            Some(path),
            Verdict::Unknown,
            "git could not be asked".into(),
            None,
            "",
        )),
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn published_ports() {
        use bollard::models::PortBinding;
        use std::collections::HashMap;
        let b = |ip: &str, port: &str| {
            Some(vec![PortBinding {
                host_ip: Some(ip.into()),
                host_port: Some(port.into()),
            }])
        };
        assert_eq!(super::judge_published(None).0, super::Verdict::Pass);
        let db = HashMap::from([("5432/tcp".to_owned(), b("0.0.0.0", "5432"))]);
        assert_eq!(super::judge_published(Some(&db)).0, super::Verdict::Fail);
        let local = HashMap::from([("5432/tcp".to_owned(), b("127.0.0.1", "5432"))]);
        assert_eq!(super::judge_published(Some(&local)).0, super::Verdict::Pass);
        let proxy = HashMap::from([
            ("443/tcp".to_owned(), b("", "443")),
            ("80/tcp".to_owned(), b("::", "80")),
        ]);
        assert_eq!(super::judge_published(Some(&proxy)).0, super::Verdict::Pass);
        let app = HashMap::from([("3000/tcp".to_owned(), b("0.0.0.0", "3000"))]);
        assert_eq!(super::judge_published(Some(&app)).0, super::Verdict::Warn);
    }

    use super::*;

    #[test]
    fn sshd_settings_are_judged_as_sshd_t_prints_them() {
        let good =
            "port 22\npasswordauthentication no\nkbdinteractiveauthentication no\npermitrootlogin no\n";
        assert!(judge_sshd(good).iter().all(|(_, v, _, _)| *v == Verdict::Pass));
        let weak = "passwordauthentication yes\nkbdinteractiveauthentication yes\npermitrootlogin yes\n";
        assert!(judge_sshd(weak).iter().all(|(_, v, _, _)| *v == Verdict::Fail));
        let key_root =
            "passwordauthentication no\nkbdinteractiveauthentication no\npermitrootlogin without-password\n";
        let v: Vec<Verdict> = judge_sshd(key_root).iter().map(|x| x.1).collect();
        assert_eq!(v, [Verdict::Pass, Verdict::Pass, Verdict::Warn]);
        // Nothing printed is not a pass.
        assert!(judge_sshd("").iter().all(|(_, v, _, _)| *v == Verdict::Unknown));
        // A value that only starts like the key does not count.
        let v: Vec<Verdict> = judge_sshd("passwordauthenticationx no\n")
            .iter()
            .map(|x| x.1)
            .collect();
        assert_eq!(v[0], Verdict::Unknown);
    }

    #[test]
    fn secrets_are_judged_without_being_shown() {
        use crate::engine::envfile::EnvFile;
        let good = EnvFile::parse(
            "SECRET_KEY_BASE=9f2c1e7b4a5d6c8e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70\nDB_USER_NAME=app\nAPI_KEY_ID=abc\nAPP_NAME=x\n",
        )
        .unwrap();
        assert!(judge_secrets(&good, None).is_empty());
        let weak = EnvFile::parse(
            "JWT_SECRET=changeme\nAPI_TOKEN=tiny9\nSALT=aaaaaaaaaaaaaaaaaaaaaaaa\nSESSION_SECRET=Ab3dE5fG7hJ9kL1mN3pQ5rS7tV9wX1yZ\nOTHER_SECRET=Ab3dE5fG7hJ9kL1mN3pQ5rS7tV9wX1yZ\nCOPIED_KEY=0123456789abcdef0123456789abcdefZZ\nEMPTY_PASSWORD=\n",
        )
        .unwrap();
        let example = EnvFile::parse("COPIED_KEY=0123456789abcdef0123456789abcdefZZ\n").unwrap();
        let j = judge_secrets(&weak, Some(&example));
        let of = |name: &str| {
            j.iter()
                .filter(|x| x.1 == name)
                .map(|x| (x.0, x.2))
                .collect::<Vec<_>>()
        };
        assert_eq!(of("JWT_SECRET"), [("secrets.weak", Verdict::Fail)]);
        assert_eq!(of("API_TOKEN"), [("secrets.weak", Verdict::Fail)]);
        assert_eq!(of("SALT"), [("secrets.weak", Verdict::Fail)]);
        // The second of the two to be read is the one said to reuse the first.
        let pair = [of("SESSION_SECRET"), of("OTHER_SECRET")];
        let reused = vec![("secrets.reused", Verdict::Warn)];
        assert!(
            pair == [vec![], reused.clone()] || pair == [reused.clone(), vec![]],
            "{pair:?}"
        );
        assert_eq!(of("COPIED_KEY"), [("secrets.weak", Verdict::Fail)]);
        assert_eq!(of("EMPTY_PASSWORD"), [("secrets.weak", Verdict::Fail)]);
        for (_, _, _, detail) in &j {
            for secret in ["changeme", "tiny9", "aaaa", "Ab3dE5", "0123456789"] {
                assert!(!detail.contains(secret), "{detail}");
            }
        }
        assert!(entropy_bits("aaaa") == 0.0 && entropy_bits(&"0123456789abcdef".repeat(4)) == 256.0);
    }

    #[test]
    fn http_headers_are_judged_both_ways() {
        let h = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        };
        let origin = "https://probe.invalid";
        let good = h(&[
            ("strict-transport-security", "max-age=63072000; includeSubDomains"),
            ("x-frame-options", "DENY"),
            ("x-content-type-options", "nosniff"),
            ("referrer-policy", "no-referrer"),
            ("content-security-policy", "default-src 'self'"),
            ("set-cookie", "_s=abc; Path=/; Secure; HttpOnly; SameSite=Lax"),
        ]);
        for (check, v, detail, _) in judge_http(true, &good, &[], origin) {
            assert_eq!(v, Verdict::Pass, "{check}: {detail}");
        }
        let bad = h(&[
            ("content-security-policy", "script-src 'self' 'unsafe-inline'"),
            ("set-cookie", "_s=abc; Path=/"),
        ]);
        let echo = h(&[
            ("access-control-allow-origin", origin),
            ("access-control-allow-credentials", "true"),
        ]);
        let j = judge_http(true, &bad, &echo, origin);
        let of = |c: &str| j.iter().find(|x| x.0 == c).map(|x| x.1);
        assert_eq!(of("http.hsts"), Some(Verdict::Fail));
        assert_eq!(of("http.framing"), Some(Verdict::Fail));
        assert_eq!(of("http.nosniff"), Some(Verdict::Fail));
        assert_eq!(of("http.referrer"), Some(Verdict::Warn));
        assert_eq!(of("http.csp"), Some(Verdict::Warn));
        assert_eq!(of("http.cors"), Some(Verdict::Fail));
        assert_eq!(of("http.cookies"), Some(Verdict::Fail));
        // `*` with credentials is refused by browsers, and still a misconfiguration.
        let star = h(&[
            ("access-control-allow-origin", "*"),
            ("access-control-allow-credentials", "true"),
        ]);
        assert_eq!(
            judge_http(true, &good, &star, origin)
                .iter()
                .find(|x| x.0 == "http.cors")
                .map(|x| x.1),
            Some(Verdict::Fail)
        );
        // Cookie values never reach a report; their names and attributes do.
        let red = redact_cookies(h(&[
            ("set-cookie", "_s=tok3nValue; Secure; HttpOnly"),
            ("x-a", "b"),
        ]));
        assert_eq!(red[0].1, "_s=[redacted]; Secure; HttpOnly");
        assert_eq!(red[1].1, "b");
        let j = judge_http(true, &red, &[], origin);
        assert!(
            j.iter()
                .any(|x| x.0 == "http.cookies" && x.2.contains("lacks SameSite"))
        );
        // HSTS over plain HTTP does nothing.
        assert_eq!(judge_http(false, &good, &[], origin)[0].1, Verdict::Warn);
    }

    #[test]
    fn sslmode_is_read_from_the_query_string() {
        assert_eq!(
            sslmode("postgres://u:p@db/x?sslmode=require").as_deref(),
            Some("require")
        );
        assert_eq!(
            sslmode("postgres://u:p@db/x?application_name=a&sslmode=Verify-Full").as_deref(),
            Some("verify-full")
        );
        assert_eq!(sslmode("postgres://u:p@db/x"), None);
        assert_eq!(sslmode("postgres://u:p@db/x?sslmodex=require"), None);
    }

    #[test]
    fn only_non_loopback_listeners_of_the_port_count() {
        let ss = "LISTEN 0 511 127.0.0.1:6379 0.0.0.0:*\nLISTEN 0 511 [::1]:6379 [::]:*\nLISTEN 0 244 0.0.0.0:5432 0.0.0.0:*\nLISTEN 0 244 [::]:5432 [::]:*\nLISTEN 0 4096 10.0.0.5:16379 0.0.0.0:*\nLISTEN 0 5 *:6379 *:*\n";
        assert_eq!(public_listeners(ss, 6379), ["*:6379"]);
        assert_eq!(public_listeners(ss, 5432), ["0.0.0.0:5432", "[::]:5432"]);
        assert!(public_listeners(ss, 26379).is_empty());
        assert_eq!(public_listeners(ss, 16379), ["10.0.0.5:16379"]);
    }

    #[test]
    fn evidence_redacts_secrets_caps_its_text_and_digests_the_whole() {
        let out = format!(
            "DATABASE_URL=postgres://app:s3cretpw@db/x\n{}",
            "x".repeat(10_000)
        );
        let e = evidence("cat", out.as_bytes(), &["s3cretpw".into(), "ab".into()]);
        assert!(!e.output.contains("s3cretpw") && e.output.contains("[redacted]"));
        assert!(e.output.len() <= EVIDENCE_CAP + 4);
        assert_eq!(e.digest, hex::encode(Sha256::digest(out.as_bytes())));
    }
}
