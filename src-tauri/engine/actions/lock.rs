//! One responder per deployment: a lock file on one of the deployment's own hosts (its
//! first), created atomically over pinned SSH in the SSH user's home
//! (`~/.breakglass/locks/<deployment>.lock`, mode 600 in a 700 folder).
//!
//! Why there and not in the application's database: in an incident the app's database
//! and Redis credentials are what leaked, so anyone holding them could take a database
//! lock first and block every responder, and fake the holder's name. The lock file needs
//! the console's SSH key and a pinned host key. The file holds what the holder's console
//! recorded (operator, run, action, start); the holder refreshes its modification time
//! every [`HEARTBEAT`], so a lock whose holder died goes stale after [`STALE_AFTER`] and
//! can be broken with a typed confirmation, journaled. `docs/locking.md` has the threat
//! model.
//!
//! Not for: serializing work inside one console (the journal does that for its writes).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::{ActionEvent, Cancel, Events};
use crate::engine::journal::Journal;
use crate::engine::profiles::DeploymentProfile;
use crate::engine::ssh::output::{display_safe, shell_quote};
use crate::engine::{Engine, Error, Result};

/// How often the holder refreshes its lock.
pub const HEARTBEAT: Duration = Duration::from_secs(15);
/// A lock not refreshed for this long belongs to a console that died.
pub const STALE_AFTER: Duration = Duration::from_secs(90);

/// Who holds a lock: what the holder's console wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub operator: String,
    pub deployment: String,
    pub run_id: String,
    pub action: String,
    pub pid: u32,
    pub since: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (run {}, {}, since {})",
            display_safe(self.operator.as_bytes()),
            display_safe(self.run_id.as_bytes()),
            display_safe(self.action.as_bytes()),
            display_safe(self.since.as_bytes())
        )
    }
}

/// A lock someone else holds, as seen now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// `None`: the file is not a holder record (being written, or not ours).
    pub holder: Option<Holder>,
    /// The file's exact content (breaking a stale lock removes only what was seen).
    pub raw: String,
    /// Seconds since the holder last refreshed it.
    pub idle_secs: u64,
}

impl Held {
    pub fn stale(&self) -> bool {
        self.idle_secs >= STALE_AFTER.as_secs()
    }

    pub fn describe(&self) -> String {
        let who = match &self.holder {
            Some(h) => h.to_string(),
            None => "an unreadable lock record".to_owned(),
        };
        if self.stale() {
            format!("{who}; STALE: not refreshed for {} s", self.idle_secs)
        } else {
            format!("{who}; refreshed {} s ago", self.idle_secs)
        }
    }
}

/// Where locks live. [`SshLock`] in the console; a folder in the runner's unit tests.
pub trait LockStore: Send + Sync {
    /// Takes the lock for `me`, or says who holds it.
    fn try_take<'a>(&'a self, me: &'a Holder) -> BoxFuture<'a, Result<Option<Held>>>;
    /// Refreshes `me`'s lock; `false` when it is no longer `me`'s (broken by someone).
    fn refresh<'a>(&'a self, me: &'a Holder) -> BoxFuture<'a, Result<bool>>;
    /// Releases `me`'s lock (and nobody else's).
    fn release<'a>(&'a self, me: &'a Holder) -> BoxFuture<'a, Result<()>>;
    /// Who holds the lock now, if anyone.
    fn peek(&self) -> BoxFuture<'_, Result<Option<Held>>>;
    /// Removes the lock if its content is still exactly what was seen.
    fn remove_if<'a>(&'a self, seen: &'a Held) -> BoxFuture<'a, Result<bool>>;
}

/// A held lock. Refreshed in the background until released.
pub struct Guard {
    store: Arc<dyn LockStore>,
    me: Holder,
    heartbeat: tokio::task::JoinHandle<()>,
    /// Whether another responder held it first (this run waited).
    pub waited: bool,
}

impl Drop for Guard {
    /// A guard dropped without `release` (its run was dropped mid-way) stops refreshing,
    /// so its lock goes stale instead of living as long as the process.
    fn drop(&mut self) {
        self.heartbeat.abort();
    }
}

impl Guard {
    pub async fn release(self) {
        self.heartbeat.abort();
        if let Err(e) = self.store.release(&self.me).await {
            tracing::warn!(error = %e, "releasing the deployment lock failed; it goes stale in {} s", STALE_AFTER.as_secs());
        }
    }
}

/// Takes the lock, waiting up to `wait` for another responder (cancellable).
pub async fn acquire(
    store: Arc<dyn LockStore>,
    me: Holder,
    wait: Duration,
    cancel: &Cancel,
    events: &Events,
) -> Result<Guard> {
    let started = Instant::now();
    let mut shown: Option<String> = None;
    let mut waited = false;
    loop {
        let Some(held) = store.try_take(&me).await? else {
            break;
        };
        waited = true;
        let who = held.describe();
        if shown.as_deref() != Some(who.as_str()) {
            events(ActionEvent::Waiting { holder: who.clone() });
            shown = Some(who.clone());
        }
        if started.elapsed() >= wait {
            return Err(Error::LockTimeout {
                deployment: me.deployment.clone(),
                holder: who,
                waited_secs: started.elapsed().as_secs(),
                stale: held.stale(),
            });
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(500).min(wait)) => {}
            () = cancel.reached(1) => return Err(Error::Cancelled),
        }
    }
    let heartbeat = {
        let (store, me) = (store.clone(), me.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(HEARTBEAT).await;
                match store.refresh(&me).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::error!("the deployment lock was broken by another console");
                        return;
                    }
                    Err(e) => tracing::warn!(error = %e, "refreshing the deployment lock failed"),
                }
            }
        })
    };
    Ok(Guard {
        store,
        me,
        heartbeat,
        waited,
    })
}

/// Breaks a stale lock (never a live one), journaled with the holder it removed.
pub async fn break_stale(
    store: &dyn LockStore,
    journal: &Journal,
    deployment: &str,
    operator: &str,
) -> Result<Holder> {
    let Some(held) = store.peek().await? else {
        return Err(Error::Lock {
            message: format!("{deployment} is not locked: nothing to break"),
        });
    };
    if !held.stale() {
        return Err(Error::Lock {
            message: format!(
                "the lock on {deployment} is live ({}): it can be broken only once it is stale ({} s without a refresh)",
                held.describe(),
                STALE_AFTER.as_secs()
            ),
        });
    }
    let run_id = hex::encode(rand::random::<[u8; 8]>());
    journal
        .append(
            deployment,
            &run_id,
            operator,
            "lock.breaking",
            serde_json::json!({ "holder": held.holder, "idle_secs": held.idle_secs }),
        )
        .await?;
    let removed = store.remove_if(&held).await?;
    journal
        .append(
            deployment,
            &run_id,
            operator,
            "lock.broken",
            serde_json::json!({ "removed": removed }),
        )
        .await?;
    if !removed {
        return Err(Error::Lock {
            message: format!("the lock on {deployment} changed while breaking it: look again"),
        });
    }
    Ok(held.holder.unwrap_or(Holder {
        operator: "unknown".into(),
        deployment: deployment.to_owned(),
        run_id: String::new(),
        action: String::new(),
        pid: 0,
        since: String::new(),
    }))
}

/// The lock file on the deployment's first host, over its held SSH connection.
pub struct SshLock {
    engine: Engine,
    deployment: String,
    host: String,
    file: String,
}

/// A file name for the deployment: its name when that is plain, else its hex.
fn file_name(deployment: &str) -> String {
    let plain = !deployment.is_empty()
        && deployment.len() <= 64
        && deployment
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !deployment.starts_with('.');
    if plain {
        format!("{deployment}.lock")
    } else {
        format!("{}.lock", hex::encode(deployment))
    }
}

impl SshLock {
    pub fn new(engine: Engine, profile: &DeploymentProfile) -> Result<Self> {
        let host = profile
            .hosts
            .first()
            .map(|h| h.name.get_ref().clone())
            .ok_or_else(|| Error::Lock {
                message: format!("{} has no host to keep its lock on", profile.name()),
            })?;
        Ok(SshLock {
            engine,
            deployment: profile.name().to_owned(),
            host,
            // `$HOME` stays outside the quotes so the remote shell expands it.
            file: format!(
                "\"$HOME\"/.breakglass/locks/{}",
                shell_quote(&file_name(profile.name()))
            ),
        })
    }

    async fn sh(&self, script: &str, stdin: Option<&[u8]>) -> Result<crate::engine::ssh::ExecOutput> {
        let session = self.engine.session(&self.deployment, &self.host).await?;
        Ok(session.exec(script, stdin).await?)
    }

    fn failed(&self, what: &str, out: &crate::engine::ssh::ExecOutput) -> Error {
        Error::Lock {
            message: format!(
                "{}: {what} the lock file failed (exit {:?}): {}",
                self.host,
                out.status,
                display_safe(&out.stderr).trim()
            ),
        }
    }

    /// `held\n<idle secs>\n<content>` → [`Held`].
    fn parse_held(text: &[u8]) -> Held {
        let text = String::from_utf8_lossy(text);
        let mut lines = text.splitn(2, '\n');
        let idle_secs = lines.next().and_then(|l| l.trim().parse().ok()).unwrap_or(0);
        let raw = lines.next().unwrap_or("").trim_end().to_owned();
        Held {
            holder: serde_json::from_str(&raw).ok(),
            raw,
            idle_secs,
        }
    }

    const IDLE: &'static str =
        "now=$(date +%s); m=$(stat -c %Y \"$f\" 2>/dev/null || echo \"$now\"); echo $((now - m)); cat \"$f\"";
}

fn record(me: &Holder) -> Vec<u8> {
    serde_json::to_vec(me).unwrap_or_default()
}

impl LockStore for SshLock {
    fn try_take<'a>(&'a self, me: &'a Holder) -> BoxFuture<'a, Result<Option<Held>>> {
        Box::pin(async move {
            let script = format!(
                "umask 077; f={f}; mkdir -p \"$HOME/.breakglass/locks\" || exit 3; \
                 if (set -C; cat > \"$f\") 2>/dev/null; then echo taken; exit 0; fi; \
                 echo held; {idle}",
                f = self.file,
                idle = Self::IDLE
            );
            let out = self.sh(&script, Some(&record(me))).await?;
            if !out.success() {
                return Err(self.failed("creating", &out));
            }
            let text = out.stdout;
            if text.starts_with(b"taken\n") {
                return Ok(None);
            }
            let rest = text.strip_prefix(b"held\n").unwrap_or(&text);
            Ok(Some(Self::parse_held(rest)))
        })
    }

    fn refresh<'a>(&'a self, me: &'a Holder) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let script = format!(
                "f={}; grep -qF {} \"$f\" 2>/dev/null && touch \"$f\"",
                self.file,
                shell_quote(&format!("\"run_id\":\"{}\"", me.run_id))
            );
            Ok(self.sh(&script, None).await?.success())
        })
    }

    fn release<'a>(&'a self, me: &'a Holder) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let script = format!(
                "f={}; if grep -qF {} \"$f\" 2>/dev/null; then rm -f \"$f\"; fi",
                self.file,
                shell_quote(&format!("\"run_id\":\"{}\"", me.run_id))
            );
            let out = self.sh(&script, None).await?;
            if out.success() {
                Ok(())
            } else {
                Err(self.failed("removing", &out))
            }
        })
    }

    fn peek(&self) -> BoxFuture<'_, Result<Option<Held>>> {
        Box::pin(async move {
            let script = format!(
                "f={}; [ -e \"$f\" ] || {{ echo free; exit 0; }}; echo held; {}",
                self.file,
                Self::IDLE
            );
            let out = self.sh(&script, None).await?;
            if !out.success() {
                return Err(self.failed("reading", &out));
            }
            Ok(out.stdout.strip_prefix(b"held\n").map(Self::parse_held))
        })
    }

    fn remove_if<'a>(&'a self, seen: &'a Held) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let script = format!(
                "f={}; [ \"$(cat \"$f\" 2>/dev/null)\" = \"$(cat)\" ] && rm -f \"$f\"",
                self.file
            );
            Ok(self.sh(&script, Some(seen.raw.as_bytes())).await?.success())
        })
    }
}

/// A lock folder on this machine, with the same semantics as [`SshLock`]: for the
/// runner's unit tests.
#[cfg(test)]
pub struct DirLock {
    pub file: std::path::PathBuf,
}

#[cfg(test)]
impl DirLock {
    fn held(&self) -> Option<Held> {
        let raw = std::fs::read_to_string(&self.file).ok()?;
        let idle_secs = std::fs::metadata(&self.file)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|m| m.elapsed().ok())
            .map_or(0, |d| d.as_secs());
        Some(Held {
            holder: serde_json::from_str(raw.trim_end()).ok(),
            raw: raw.trim_end().to_owned(),
            idle_secs,
        })
    }
    fn ours(&self, me: &Holder) -> bool {
        self.held()
            .and_then(|h| h.holder)
            .is_some_and(|h| h.run_id == me.run_id)
    }
}

#[cfg(test)]
impl LockStore for DirLock {
    fn try_take<'a>(&'a self, me: &'a Holder) -> BoxFuture<'a, Result<Option<Held>>> {
        Box::pin(async move {
            use std::io::Write;
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&self.file)
            {
                Ok(mut f) => {
                    let _ = f.write_all(&record(me));
                    Ok(None)
                }
                Err(_) => Ok(self.held()),
            }
        })
    }
    fn refresh<'a>(&'a self, me: &'a Holder) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let ours = self.ours(me);
            if ours {
                let _ = std::fs::File::options()
                    .append(true)
                    .open(&self.file)
                    .and_then(|f| f.set_modified(std::time::SystemTime::now()));
            }
            Ok(ours)
        })
    }
    fn release<'a>(&'a self, me: &'a Holder) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            if self.ours(me) {
                let _ = std::fs::remove_file(&self.file);
            }
            Ok(())
        })
    }
    fn peek(&self) -> BoxFuture<'_, Result<Option<Held>>> {
        Box::pin(async move { Ok(self.held()) })
    }
    fn remove_if<'a>(&'a self, seen: &'a Held) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            if self.held().is_some_and(|h| h.raw == seen.raw) {
                Ok(std::fs::remove_file(&self.file).is_ok())
            } else {
                Ok(false)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_deployment_names_become_hex() {
        assert_eq!(file_name("prod-eu"), "prod-eu.lock");
        assert_eq!(file_name("../x"), format!("{}.lock", hex::encode("../x")));
        assert_eq!(file_name(".hidden"), format!("{}.lock", hex::encode(".hidden")));
    }

    #[test]
    fn a_lock_record_parses_back() {
        let h = Holder {
            operator: "alice@laptop".into(),
            deployment: "prod".into(),
            run_id: "00ff".into(),
            action: "isolate".into(),
            pid: 42,
            since: "2026-12-02T03:00:00Z".into(),
        };
        let raw = String::from_utf8(record(&h)).unwrap();
        let held = SshLock::parse_held(format!("120\n{raw}\n").as_bytes());
        assert_eq!(held.holder.as_ref(), Some(&h));
        assert!(held.stale());
        assert!(held.describe().contains("alice@laptop"), "{}", held.describe());
        assert!(held.describe().contains("STALE"));
        // Garbage in the file: still a held lock, never "free".
        let junk = SshLock::parse_held(b"3\n\x1b[2Jnot json");
        assert_eq!(junk.holder, None);
        assert!(!junk.stale());
    }
}
