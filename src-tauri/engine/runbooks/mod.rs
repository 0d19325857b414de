//! Runbooks as data: a named sequence of steps, each an action (planned, shown, confirmed
//! and verified like any other), a review of the audit trail, a step only a person can
//! do (recorded in the journal when they say it is done), or the incident's report. Two
//! come built in, from the seeds (001's "Emergency Actions", 004's "If Compromised");
//! users add their own as TOML files in the console's `runbooks` folder, like app
//! profiles. A runbook names the parameters it needs (`{host}`), and a run is refused
//! before anything is done while one is missing.
//!
//! The engine resolves a runbook into steps; the CLI and the window walk them with the
//! same engine calls as a single action, so a runbook never skips a plan or a
//! confirmation.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::engine::actions::ActionSpec;
use crate::engine::{Engine, Error, Result};

const BUILTIN: &[(&str, &str)] = &[
    ("emergency", include_str!("builtin/emergency.toml")),
    ("compromised", include_str!("builtin/compromised.toml")),
];

/// A runbook as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunbookFile {
    name: String,
    title: String,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    params: Vec<Param>,
    steps: Vec<StepFile>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepFile {
    title: String,
    #[serde(default)]
    action: Option<toml::Table>,
    #[serde(default)]
    review: Option<String>,
    #[serde(default)]
    manual: Option<String>,
    #[serde(default)]
    report: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct Param {
    pub name: String,
    #[serde(default)]
    pub help: String,
}

/// A runbook, checked: every step's action is a valid request once its parameters are
/// filled in.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Runbook {
    pub name: String,
    pub title: String,
    pub source: Option<String>,
    pub description: String,
    pub params: Vec<Param>,
    pub steps: Vec<StepDef>,
    /// `None`: built in; else the file it was read from.
    pub path: Option<String>,
}

/// One step as written (parameters not filled in yet).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct StepDef {
    pub title: String,
    pub kind: StepKind,
    /// What the step does, in one line (`revoke-tokens`, `review the last 24h`, …).
    pub what: String,
    #[serde(skip)]
    #[cfg_attr(test, ts(skip))]
    template: Template,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    Action,
    Review,
    Manual,
    Report,
}

#[derive(Debug, Clone, PartialEq, Default)]
enum Template {
    Action(toml::Table),
    Review(String),
    Manual(String),
    #[default]
    Report,
}

/// A runbook started on a deployment: the steps to walk, and the id its journal entries
/// share.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct RunbookRun {
    pub run_id: String,
    pub runbook: String,
    pub title: String,
    pub steps: Vec<Step>,
}

/// A step ready to run.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Step {
    Action {
        title: String,
        spec: Box<ActionSpec>,
    },
    /// The audit trail's review over this window (`24h`).
    Review {
        title: String,
        since: String,
    },
    /// Only a person can do it: the text says what; done is recorded when they say so.
    Manual {
        title: String,
        text: String,
    },
    /// The incident's report.
    Report {
        title: String,
    },
}

impl Step {
    pub fn title(&self) -> &str {
        match self {
            Step::Action { title, .. }
            | Step::Review { title, .. }
            | Step::Manual { title, .. }
            | Step::Report { title } => title,
        }
    }
}

fn bad(origin: &str, why: impl std::fmt::Display) -> Error {
    Error::Runbook {
        detail: format!("{origin}: {why}"),
    }
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// Fills `{name}` in every string of `value` from `params`; names not there go to `missing`.
fn fill(value: &mut toml::Value, params: &BTreeMap<String, String>, missing: &mut Vec<String>) {
    match value {
        toml::Value::String(s) => {
            let mut out = String::new();
            let mut rest = s.as_str();
            while let Some(start) = rest.find('{') {
                out.push_str(&rest[..start]);
                let after = &rest[start + 1..];
                match after.find('}') {
                    Some(end) if valid_name(&after[..end]) => {
                        let name = &after[..end];
                        match params.get(name) {
                            Some(v) => out.push_str(v),
                            None => missing.push(name.to_owned()),
                        }
                        rest = &after[end + 1..];
                    }
                    _ => {
                        out.push('{');
                        rest = after;
                    }
                }
            }
            out.push_str(rest);
            *s = out;
        }
        toml::Value::Array(a) => a.iter_mut().for_each(|v| fill(v, params, missing)),
        toml::Value::Table(t) => t.iter_mut().for_each(|(_, v)| fill(v, params, missing)),
        _ => {}
    }
}

/// The action request of a step's table: `duration = "24h"` (as people write it)
/// becomes the request's `duration_secs`.
fn action_of(table: &toml::Table) -> std::result::Result<ActionSpec, String> {
    let mut t = table.clone();
    if let Some(d) = t.remove("duration") {
        let text = d.as_str().ok_or("duration is a string like \"24h\"")?;
        let secs = humantime::parse_duration(text)
            .map_err(|e| format!("duration {text:?}: {e}"))?
            .as_secs();
        t.insert("duration_secs".into(), toml::Value::Integer(secs as i64));
    }
    let json = serde_json::to_value(&t).map_err(|e| e.to_string())?;
    serde_json::from_value(json).map_err(|e| e.to_string())
}

impl Runbook {
    /// Reads and checks a runbook; `origin` names it in errors (a file, or "built-in").
    pub fn parse(text: &str, origin: &str) -> Result<Runbook> {
        let f: RunbookFile = toml::from_str(text).map_err(|e| bad(origin, e.message()))?;
        if !valid_name(&f.name) {
            return Err(bad(
                origin,
                format!("name {:?}: 1 to 64 of a-z, 0-9, - and _", f.name),
            ));
        }
        if f.steps.is_empty() || f.steps.len() > 50 {
            return Err(bad(origin, "a runbook has 1 to 50 steps"));
        }
        let mut names = std::collections::BTreeSet::new();
        for p in &f.params {
            if !valid_name(&p.name) || !names.insert(p.name.clone()) {
                return Err(bad(
                    origin,
                    format!("parameter {:?}: a unique name of a-z, 0-9, - and _", p.name),
                ));
            }
        }
        // Every step is checked with placeholder values now, so that a broken runbook is
        // refused when it is added, not half way through an incident.
        let probe: BTreeMap<String, String> = f.params.iter().map(|p| (p.name.clone(), "x".into())).collect();
        let mut steps = Vec::new();
        for (i, s) in f.steps.into_iter().enumerate() {
            let at = format!("{origin}: step {} ({:?})", i + 1, s.title);
            if s.title.trim().is_empty() || s.title.chars().any(char::is_control) {
                return Err(bad(&at, "a step needs a title without control characters"));
            }
            let kinds = [
                s.action.is_some(),
                s.review.is_some(),
                s.manual.is_some(),
                s.report.is_some(),
            ];
            if kinds.iter().filter(|k| **k).count() != 1 {
                return Err(bad(
                    &at,
                    "a step is exactly one of action, review, manual or report",
                ));
            }
            let (kind, what, template) = if let Some(a) = s.action {
                let mut filled = a.clone();
                let mut missing = Vec::new();
                filled.iter_mut().for_each(|(_, v)| fill(v, &probe, &mut missing));
                if let Some(m) = missing.first() {
                    return Err(bad(&at, format!("{{{m}}} is not one of the runbook's params")));
                }
                let spec = action_of(&filled).map_err(|e| bad(&at, e))?;
                (StepKind::Action, spec.name().to_owned(), Template::Action(a))
            } else if let Some(r) = s.review {
                crate::engine::when::Since::parse(&r).map_err(|e| bad(&at, e))?;
                (
                    StepKind::Review,
                    format!("review the audit trail of the last {r}"),
                    Template::Review(r),
                )
            } else if let Some(m) = s.manual {
                (
                    StepKind::Manual,
                    "by hand, then noted".into(),
                    Template::Manual(m),
                )
            } else {
                (StepKind::Report, "the incident's report".into(), Template::Report)
            };
            steps.push(StepDef {
                title: s.title,
                kind,
                what,
                template,
            });
        }
        Ok(Runbook {
            name: f.name,
            title: f.title,
            source: f.source,
            description: f.description,
            params: f.params,
            steps,
            path: None,
        })
    }

    /// The steps with `params` filled in. Refused, naming them, while a parameter is
    /// missing or unknown; a value with a control character or `{` is refused too.
    pub fn resolve(&self, params: &BTreeMap<String, String>) -> Result<Vec<Step>> {
        let origin = format!("runbook {}", self.name);
        for (k, v) in params {
            if !self.params.iter().any(|p| &p.name == k) {
                return Err(bad(
                    &origin,
                    format!(
                        "it takes no parameter {k:?} (it takes: {})",
                        self.params
                            .iter()
                            .map(|p| p.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
            if v.is_empty() || v.len() > 256 || v.chars().any(|c| c.is_control() || c == '{' || c == '}') {
                return Err(bad(
                    &origin,
                    format!("the value of {k} is empty, too long, or has a control character or a brace"),
                ));
            }
        }
        let missing: Vec<&Param> = self
            .params
            .iter()
            .filter(|p| !params.contains_key(&p.name))
            .collect();
        if !missing.is_empty() {
            return Err(bad(
                &origin,
                format!(
                    "missing {}",
                    missing
                        .iter()
                        .map(|p| format!("{} ({})", p.name, p.help))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        self.steps
            .iter()
            .map(|s| {
                let title = s.title.clone();
                Ok(match &s.template {
                    Template::Action(a) => {
                        let mut filled = a.clone();
                        let mut missing = Vec::new();
                        filled.iter_mut().for_each(|(_, v)| fill(v, params, &mut missing));
                        let spec =
                            action_of(&filled).map_err(|e| bad(&origin, format!("step {title:?}: {e}")))?;
                        Step::Action {
                            title,
                            spec: Box::new(spec),
                        }
                    }
                    Template::Review(r) => Step::Review {
                        title,
                        since: r.clone(),
                    },
                    Template::Manual(m) => Step::Manual {
                        title,
                        text: m.clone(),
                    },
                    Template::Report => Step::Report { title },
                })
            })
            .collect()
    }
}

fn runbooks_dir(engine: &Engine) -> PathBuf {
    engine.state().path().with_file_name("runbooks")
}

fn read_file(path: &Path) -> Result<Runbook> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::ReadFile {
        path: path.to_owned(),
        source,
    })?;
    let mut r = Runbook::parse(&text, &path.display().to_string())?;
    r.path = Some(path.display().to_string());
    Ok(r)
}

/// The built-in runbooks.
pub fn builtin() -> Vec<Runbook> {
    BUILTIN
        .iter()
        .filter_map(|(name, text)| Runbook::parse(text, &format!("built-in {name}")).ok())
        .collect()
}

impl Engine {
    /// The built-in runbooks, then the user's (`runbooks/*.toml` beside the console's
    /// database), by name; a user's runbook of a built-in's name replaces it. A broken
    /// file is an error naming it: a responder must not find out mid-incident.
    pub fn runbooks(&self) -> Result<Vec<Runbook>> {
        let mut all: BTreeMap<String, Runbook> = builtin().into_iter().map(|r| (r.name.clone(), r)).collect();
        let dir = runbooks_dir(self);
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(all.into_values().collect()),
            Err(source) => return Err(Error::ReadFile { path: dir, source }),
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        paths.sort();
        for p in paths {
            let r = read_file(&p)?;
            all.insert(r.name.clone(), r);
        }
        Ok(all.into_values().collect())
    }

    pub fn runbook(&self, name: &str) -> Result<Runbook> {
        self.runbooks()?
            .into_iter()
            .find(|r| r.name == name)
            .ok_or_else(|| {
                bad(
                    &format!("runbook {name:?}"),
                    "no such runbook (`breakglass runbook list`)",
                )
            })
    }

    /// Records in the journal that a runbook started on `deployment` (its steps, by
    /// title), so the incident's timeline shows the sequence the actions belong to.
    pub async fn runbook_started(
        &self,
        deployment: &str,
        runbook: &Runbook,
        steps: &[Step],
    ) -> Result<String> {
        self.state.deployment_profile(deployment).await?;
        let run_id = format!("runbook-{}-{}", runbook.name, uuid_like());
        self.journal()
            .await?
            .append(
                deployment,
                &run_id,
                &crate::engine::journal::operator(),
                "runbook.started",
                serde_json::json!({
                    "runbook": runbook.name,
                    "title": runbook.title,
                    "steps": steps.iter().map(Step::title).collect::<Vec<_>>(),
                }),
            )
            .await?;
        Ok(run_id)
    }

    /// Resolves `runbook` with `params` and records its start (the window's way in: one
    /// call, nothing journaled when a parameter is missing).
    pub async fn start_runbook(
        &self,
        deployment: &str,
        runbook: &str,
        params: &BTreeMap<String, String>,
    ) -> Result<RunbookRun> {
        let r = self.runbook(runbook)?;
        let steps = r.resolve(params)?;
        let run_id = self.runbook_started(deployment, &r, &steps).await?;
        Ok(RunbookRun {
            run_id,
            runbook: r.name,
            title: r.title,
            steps,
        })
    }

    /// Records a step's end as the responder or the console saw it: `done` (an action
    /// verified, a manual step the responder says is done, with their words), or not.
    pub async fn runbook_step(
        &self,
        deployment: &str,
        run_id: &str,
        step: usize,
        title: &str,
        done: bool,
        detail: &str,
    ) -> Result<()> {
        if detail.chars().count() > 4000 || detail.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
            return Err(bad(
                "runbook step",
                "the note is up to 4000 characters, without control characters but line breaks and tabs",
            ));
        }
        if title.is_empty() || title.chars().count() > 200 || title.chars().any(char::is_control) {
            return Err(bad(
                "runbook step",
                "a step's title is 1 to 200 printable characters",
            ));
        }
        self.state.deployment_profile(deployment).await?;
        self.journal()
            .await?
            .append(
                deployment,
                run_id,
                &crate::engine::journal::operator(),
                "runbook.step",
                serde_json::json!({ "step": step, "title": title, "done": done, "detail": detail }),
            )
            .await?;
        Ok(())
    }
}

/// A short random id (16 hex digits).
fn uuid_like() -> String {
    hex::encode(rand::random::<[u8; 8]>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::actions::{LockScope, TokenScope};

    fn spec(s: &Step) -> &ActionSpec {
        match s {
            Step::Action { spec, .. } => spec,
            other => panic!("not an action: {other:?}"),
        }
    }

    #[test]
    fn the_built_in_runbooks_parse_and_resolve() {
        let all = builtin();
        assert_eq!(all.len(), BUILTIN.len(), "a built-in runbook does not parse");
        let e = all.iter().find(|r| r.name == "emergency").unwrap();
        let steps = e.resolve(&BTreeMap::new()).unwrap();
        assert_eq!(steps.len(), 3);
        let ActionSpec::RevokeTokens(r) = spec(&steps[0]) else {
            panic!("{steps:?}")
        };
        assert_eq!(r.scope, TokenScope::All);
        let ActionSpec::LockAccounts(l) = spec(&steps[1]) else {
            panic!("{steps:?}")
        };
        assert_eq!(
            (&l.scope, l.duration_secs),
            (&LockScope::AllNonAdmin, Some(86_400))
        );
        assert!(matches!(spec(&steps[2]), ActionSpec::ExpireSessions(x) if x.user.is_none()));

        let c = all.iter().find(|r| r.name == "compromised").unwrap();
        let missing = c.resolve(&BTreeMap::new()).unwrap_err().to_string();
        assert!(
            missing.contains("missing host") && missing.contains("container"),
            "{missing}"
        );
        let params = BTreeMap::from([
            ("host".to_owned(), "app2".to_owned()),
            ("container".to_owned(), "web2".to_owned()),
        ]);
        let steps = c.resolve(&params).unwrap();
        let kinds: Vec<&str> = steps
            .iter()
            .map(|s| match s {
                Step::Action { .. } => "action",
                Step::Review { .. } => "review",
                Step::Manual { .. } => "manual",
                Step::Report { .. } => "report",
            })
            .collect();
        assert_eq!(
            kinds,
            ["action", "manual", "action", "review", "manual", "report"]
        );
        let ActionSpec::Isolate(i) = spec(&steps[0]) else {
            panic!()
        };
        assert_eq!((i.host.as_str(), i.container.as_str()), ("app2", "web2"));
        let ActionSpec::RotateSecrets(r) = spec(&steps[2]) else {
            panic!()
        };
        assert!(r.all);
    }

    #[test]
    fn broken_runbooks_are_refused_with_the_reason() {
        let cases = [
            ("name = \"x\"\ntitle = \"t\"\nsteps = []", "1 to 50 steps"),
            (
                "name = \"X Y\"\ntitle = \"t\"\n[[steps]]\ntitle = \"a\"\nreport = true",
                "name",
            ),
            (
                "name = \"x\"\ntitle = \"t\"\n[[steps]]\ntitle = \"a\"\nreport = true\nreview = \"2h\"",
                "exactly one",
            ),
            (
                "name = \"x\"\ntitle = \"t\"\n[[steps]]\ntitle = \"a\"\naction = { action = \"drop-database\" }",
                "step 1",
            ),
            (
                "name = \"x\"\ntitle = \"t\"\n[[steps]]\ntitle = \"a\"\naction = { action = \"isolate\", host = \"{nope}\", container = \"c\", mode = \"stop\" }",
                "{nope}",
            ),
            (
                "name = \"x\"\ntitle = \"t\"\n[[steps]]\ntitle = \"a\"\nreview = \"yesterday\"",
                "step 1",
            ),
            (
                "name = \"x\"\ntitle = \"t\"\n[[steps]]\ntitle = \"a\"\naction = { action = \"lock-accounts\", scope = { kind = \"all-non-admin\" }, duration = \"soon\" }",
                "duration",
            ),
            (
                "name = \"x\"\ntitle = \"t\"\nsurprise = 1\n[[steps]]\ntitle = \"a\"\nreport = true",
                "surprise",
            ),
            (
                "name = \"x\"\ntitle = \"t\"\n[[steps]]\ntitle = \"a\\u001b[2J\"\nreport = true",
                "title",
            ),
        ];
        for (text, want) in cases {
            let e = Runbook::parse(text, "mine.toml").unwrap_err().to_string();
            assert!(e.contains("mine.toml") && e.contains(want), "{want:?} not in {e}");
        }
    }

    #[test]
    fn parameter_values_are_checked() {
        let c = builtin().into_iter().find(|r| r.name == "compromised").unwrap();
        let mut p = BTreeMap::from([
            ("host".to_owned(), "app2".to_owned()),
            ("container".to_owned(), "web{x}".to_owned()),
        ]);
        assert!(c.resolve(&p).is_err());
        p.insert("container".into(), "web2\n".into());
        assert!(c.resolve(&p).is_err());
        p.insert("container".into(), "web2".into());
        p.insert("colour".into(), "red".into());
        let e = c.resolve(&p).unwrap_err().to_string();
        assert!(e.contains("no parameter \"colour\""), "{e}");
    }
}
