//! How the engine reaches a deployment's host: the profile says where and how, the local
//! state and the profile give the pinned key, the keychain gives any secret at the moment
//! of use. One SSH connection per host is kept and reused for every channel; a dropped
//! connection is replaced on next use.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;

use crate::engine::keychain::{self, Keychain};
use crate::engine::profiles::{Auth, DeploymentProfile, Passphrase, check_fingerprint, ssh_config};
use crate::engine::ssh;
use crate::engine::ssh::{ConnectOptions, Credential, Endpoint, Session, SshError};
use crate::engine::state::{State, TrustedKey, now_rfc3339};
use crate::engine::{Error, Result};

type Slot = Arc<Mutex<Option<Arc<Session>>>>;

/// The connections the engine holds, one per (deployment, host).
#[derive(Default)]
pub struct Connections {
    slots: std::sync::Mutex<HashMap<(String, String), Slot>>,
}

impl Connections {
    fn slot(&self, deployment: &str, host: &str) -> Slot {
        let mut slots = match self.slots.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        slots
            .entry((deployment.to_owned(), host.to_owned()))
            .or_default()
            .clone()
    }

    /// Forgets every held connection of a deployment (they close when unused).
    pub fn drop_deployment(&self, deployment: &str) {
        if let Ok(mut slots) = self.slots.lock() {
            slots.retain(|(d, _), _| d != deployment);
        }
    }
}

pub fn options(profile: &DeploymentProfile) -> ConnectOptions {
    ConnectOptions {
        connect_timeout: Duration::from_secs(profile.ssh.connect_timeout_secs.max(1)),
        command_timeout: Duration::from_secs(profile.ssh.command_timeout_secs.max(1)),
        keepalive: Duration::from_secs(profile.ssh.keepalive_secs.max(1)),
    }
}

/// The pin for a host: the profile's (the team's, in git), or a local trust decision. If
/// both exist and differ, neither silently wins: it is refused with both shown, as `trust`
/// refuses the same conflict.
pub async fn pin_for(state: &State, profile: &DeploymentProfile, host: &str) -> Result<Option<String>> {
    let from_profile = profile
        .host(host)
        .and_then(|h| h.host_key.as_ref())
        .map(|k| k.get_ref().clone());
    let local = state.trusted_key(profile.name(), host).await?;
    match (from_profile, local) {
        (Some(pin), Some(l)) if l.fingerprint != pin => {
            Err(Error::PinConflict(Box::new(crate::engine::error::PinConflict {
                deployment: profile.name().to_owned(),
                host: host.to_owned(),
                profile_pin: pin,
                local_pin: l.fingerprint,
                trusted_by: l.trusted_by,
                trusted_at: l.trusted_at,
            })))
        }
        (Some(pin), _) => Ok(Some(pin)),
        (None, l) => Ok(l.map(|k| k.fingerprint)),
    }
}

async fn credential(keychain: &Keychain, deployment: &str, host: &str, auth: &Auth) -> Result<Credential> {
    Ok(match auth {
        Auth::Agent => Credential::Agent,
        Auth::KeyFile {
            path,
            passphrase: Passphrase::None,
        } => Credential::KeyFile {
            path: path.clone(),
            passphrase: None,
        },
        Auth::KeyFile {
            path,
            passphrase: Passphrase::Keychain,
        } => Credential::KeyFile {
            path: path.clone(),
            passphrase: Some(keychain.get(deployment, keychain::SSH_KEY_PASSPHRASE).await?),
        },
        Auth::Password => {
            Credential::Password(keychain.get(deployment, &keychain::ssh_password(host)).await?)
        }
    })
}

/// An ssh_config `ProxyJump` names the jump host by its alias; Breakglass goes through it
/// only when it is a host of the profile too (so that its key is pinned as well).
fn jump_from_ssh_config(
    profile: &DeploymentProfile,
    file: &std::path::Path,
    alias: &str,
    proxy_jump: &str,
) -> Result<String> {
    if proxy_jump.contains(',') {
        return Err(Error::SshConfig {
            message: format!(
                "{}: {alias} uses ProxyJump {proxy_jump}, a chain of several jumps: give each \
                 as a host of the profile, each with `jump` naming the one before",
                file.display()
            ),
        });
    }
    // [ssh://][user@]host[:port], host possibly [an:ip:v6]
    let spec = proxy_jump.strip_prefix("ssh://").unwrap_or(proxy_jump);
    let (user, hostport) = match spec.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, spec),
    };
    let (bare, port) = match hostport.strip_prefix('[') {
        Some(rest) => {
            let (h, after) = rest.split_once(']').unwrap_or((rest, ""));
            (h, after.strip_prefix(':'))
        }
        None => match hostport.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        },
    };
    let found = profile.hosts.iter().find(|h| {
        h.name.get_ref() == bare
            || h.ssh_alias.as_ref().is_some_and(|a| a.get_ref() == bare)
            || h.address.as_ref().is_some_and(|a| a.get_ref() == bare)
    });
    // The jump host is reached as its own profile entry says; a user or port in the
    // ProxyJump that contradicts what the entry states is refused, not silently dropped.
    if let Some(h) = found {
        let t = profile.target(h);
        let user_differs = user.is_some_and(|u| t.explicit.user && u != t.user);
        let port_differs = port.is_some_and(|p| t.explicit.port && p != t.port.to_string());
        if user_differs || port_differs {
            return Err(Error::SshConfig {
                message: format!(
                    "{}: {alias} uses ProxyJump {proxy_jump}, but the profile reaches {} as {}@…:{}; \
                     make the two agree",
                    file.display(),
                    h.name.get_ref(),
                    t.user,
                    t.port
                ),
            });
        }
    }
    found
        .map(|h| h.name.get_ref().clone())
        .ok_or_else(|| Error::SshConfig {
            message: format!(
                "{}: {alias} uses ProxyJump {proxy_jump}, which is not a host of this profile: \
                 add it as a [[hosts]] entry (role \"proxy\", with its host_key pinned) and set \
                 `jump` to its name",
                file.display()
            ),
        })
}

/// Where and how to reach a host: its endpoint, how to authenticate, and the profile host
/// to jump through, if any.
fn endpoint(
    profile: &DeploymentProfile,
    host: &str,
    pin: Option<String>,
) -> Result<(Endpoint, Auth, Option<String>)> {
    let h = profile.host(host).ok_or_else(|| Error::UnknownHost {
        deployment: profile.name().to_owned(),
        host: host.to_owned(),
    })?;
    let mut t = profile.target(h);
    if let Some(alias) = t.ssh_alias.clone() {
        let file = ssh::expand_home(profile.ssh.config.as_deref().unwrap_or("~/.ssh/config"));
        let found = ssh_config::resolve_file(&file, &alias)
            .map_err(|e| Error::SshConfig {
                message: e.to_string(),
            })?
            .ok_or_else(|| Error::SshConfig {
                message: format!(
                    "{}: no Host block matches {alias:?} (host {host})",
                    file.display()
                ),
            })?;
        if let (Some(pj), None) = (&found.proxy_jump, &t.jump) {
            t.jump = Some(jump_from_ssh_config(profile, &file, &alias, pj)?);
        }
        if h.address.is_none() {
            t.address = found.host_name.unwrap_or(alias);
        }
        if !t.explicit.port {
            t.port = found.port.unwrap_or(22);
        }
        if !t.explicit.user {
            t.user = found
                .user
                .unwrap_or_else(|| std::env::var("USER").unwrap_or_default());
        }
        if let (false, Some(path)) = (t.explicit.auth, found.identity_file) {
            t.auth = Auth::KeyFile {
                path,
                passphrase: Passphrase::None,
            };
        }
    }
    Ok((
        Endpoint {
            host: t.name,
            address: t.address,
            port: t.port,
            user: t.user,
            pin,
        },
        t.auth,
        t.jump,
    ))
}

/// Refuses a circle of jump hosts before connecting: the profile's own `jump`s are checked
/// when it is parsed, but a `ProxyJump` of the ssh config can close a circle too.
fn check_jumps(profile: &DeploymentProfile, host: &str) -> Result<()> {
    let mut chain = vec![host.to_owned()];
    let mut at = host.to_owned();
    while let (_, _, Some(next)) = endpoint(profile, &at, None)? {
        if chain.contains(&next) {
            return Err(Error::SshConfig {
                message: format!("the jump hosts lead in a circle: {} → {next}", chain.join(" → ")),
            });
        }
        chain.push(next.clone());
        at = next;
    }
    Ok(())
}

/// Opens a new connection to one host (not cached). A host behind a jump host goes
/// through a new connection to that one too.
pub async fn connect_fresh(
    state: &State,
    keychain: &Keychain,
    profile: &DeploymentProfile,
    host: &str,
) -> Result<Session> {
    check_jumps(profile, host)?;
    let pin = pin_for(state, profile, host).await?;
    open(state, keychain, profile, host, pin, None).await
}

/// How the console authenticates to `host`: the profile's `auth` (the host's own, or
/// `[ssh]`'s), or the IdentityFile of its ssh_config alias.
pub fn auth_of(profile: &DeploymentProfile, host: &str) -> Result<Auth> {
    Ok(endpoint(profile, host, None)?.1)
}

/// A new connection to `host` (not cached) that proves who we are with `cred` instead of
/// what the profile says: a key about to replace the console's own, or one that must be
/// refused. A jump host is reached through its held connection.
pub async fn connect_with(
    conns: &Connections,
    state: &State,
    keychain: &Keychain,
    profile: &DeploymentProfile,
    host: &str,
    cred: Credential,
) -> Result<Session> {
    check_jumps(profile, host)?;
    let pin = pin_for(state, profile, host).await?;
    let (ep, _, jump) = endpoint(profile, host, pin)?;
    let Some(jump) = jump else {
        return Ok(Session::connect(&ep, cred, options(profile)).await?);
    };
    let via = held_session(conns, state, keychain, profile, &jump).await?;
    Ok(Session::connect_via(&ep, cred, options(profile), via).await?)
}

/// Connects to `host` with `pin`: directly, or through its jump host (`held`'s
/// connection when given, else a fresh one).
async fn open(
    state: &State,
    keychain: &Keychain,
    profile: &DeploymentProfile,
    host: &str,
    pin: Option<String>,
    held: Option<&Connections>,
) -> Result<Session> {
    let (ep, auth, jump) = endpoint(profile, host, pin)?;
    let cred = credential(keychain, profile.name(), host, &auth).await?;
    let Some(jump) = jump else {
        return Ok(Session::connect(&ep, cred, options(profile)).await?);
    };
    // Callers checked the whole chain for a circle (`check_jumps`) before connecting.
    let via = match held {
        Some(conns) => Box::pin(held_session(conns, state, keychain, profile, &jump)).await?,
        None => {
            let pin = pin_for(state, profile, &jump).await?;
            Arc::new(Box::pin(open(state, keychain, profile, &jump, pin, None)).await?)
        }
    };
    Ok(Session::connect_via(&ep, cred, options(profile), via).await?)
}

/// The held connection to a host, opening (or reopening) it if needed.
pub async fn session(
    conns: &Connections,
    state: &State,
    keychain: &Keychain,
    profile: &DeploymentProfile,
    host: &str,
) -> Result<Arc<Session>> {
    held_session(conns, state, keychain, profile, host).await
}

async fn held_session(
    conns: &Connections,
    state: &State,
    keychain: &Keychain,
    profile: &DeploymentProfile,
    host: &str,
) -> Result<Arc<Session>> {
    let slot = conns.slot(profile.name(), host);
    let mut held = slot.lock().await;
    if let Some(s) = held.as_ref().filter(|s| !s.is_closed()) {
        return Ok(s.clone());
    }
    // Only when connecting: a circle is refused here, with this one slot held and before
    // any other is asked for, so two hosts of a circle never wait on each other.
    check_jumps(profile, host)?;
    let pin = pin_for(state, profile, host).await?;
    let fresh = Arc::new(open(state, keychain, profile, host, pin, Some(conns)).await?);
    *held = Some(fresh.clone());
    Ok(fresh)
}

/// Records an explicit trust in `fingerprint` for a host whose profile pins nothing,
/// after checking that the server really presents that key (and that we can log in).
/// A host that is already trusted with another key must be forgotten first: a changed
/// key is never replaced in one step.
pub async fn trust(
    state: &State,
    keychain: &Keychain,
    profile: &DeploymentProfile,
    host: &str,
    fingerprint: &str,
    who: &str,
) -> Result<TrustedKey> {
    check_fingerprint(fingerprint).map_err(|reason| Error::BadFingerprint { reason })?;
    if let Some(p) = profile.host(host).and_then(|h| h.host_key.as_ref())
        && p.get_ref() != fingerprint
    {
        return Err(SshError::HostKeyChanged {
            host: host.to_owned(),
            pinned: p.get_ref().clone(),
            seen: fingerprint.to_owned(),
        }
        .into());
    }
    if let Some(existing) = state.trusted_key(profile.name(), host).await? {
        if existing.fingerprint == fingerprint {
            return Ok(existing);
        }
        return Err(SshError::HostKeyChanged {
            host: host.to_owned(),
            pinned: existing.fingerprint,
            seen: fingerprint.to_owned(),
        }
        .into());
    }
    let (ep, _, _) = endpoint(profile, host, Some(fingerprint.to_owned()))?;
    check_jumps(profile, host)?;
    let session = open(state, keychain, profile, host, Some(fingerprint.to_owned()), None).await?;
    let key = TrustedKey {
        host: host.to_owned(),
        address: ep.address.clone(),
        port: ep.port,
        fingerprint: session.host_key().fingerprint.clone(),
        key_type: session.host_key().key_type.clone(),
        trusted_at: now_rfc3339(),
        trusted_by: who.to_owned(),
    };
    session.close().await;
    state.trust_key(profile.name(), &key).await?;
    Ok(key)
}

/// Who is acting, for trust records: the journal's operator (OS account @ host).
pub fn operator() -> String {
    crate::engine::journal::operator()
}

/// Pins from an OpenSSH `known_hosts` file, for every host of the profile that pins
/// nothing and has no local trust yet. Returns `(host, fingerprint)` of each import. A
/// known_hosts key that contradicts a pin is an error showing both: nothing is replaced.
pub async fn import_known_hosts(
    state: &State,
    profile: &DeploymentProfile,
    known_hosts: &std::path::Path,
    who: &str,
) -> Result<Vec<(String, String)>> {
    let mut imported = Vec::new();
    for h in &profile.hosts {
        let name = h.name.get_ref();
        let (ep, _, _) = endpoint(profile, name, None)?;
        let keys = russh::keys::known_hosts::known_host_keys_path(&ep.address, ep.port, known_hosts)
            .map_err(|e| Error::SshConfig {
                message: format!("{}: {e}", known_hosts.display()),
            })?;
        if keys.is_empty() {
            continue;
        }
        let fp = |k: &russh::keys::PublicKey| k.fingerprint(russh::keys::HashAlg::Sha256).to_string();
        let pinned = match &h.host_key {
            Some(pin) => Some(pin.get_ref().clone()),
            None => state
                .trusted_key(profile.name(), name)
                .await?
                .map(|k| k.fingerprint),
        };
        // A host has a key per type (ed25519, ECDSA, RSA): a pin agrees with known_hosts
        // when any of them is the pinned one.
        match pinned {
            Some(p) if keys.iter().any(|(_, k)| fp(k) == p) => continue,
            Some(p) => {
                return Err(SshError::HostKeyChanged {
                    host: name.clone(),
                    pinned: p,
                    seen: keys.iter().map(|(_, k)| fp(k)).collect::<Vec<_>>().join(" or "),
                }
                .into());
            }
            None => {}
        }
        // Nothing pinned yet: the key this console will be shown, by the order in which
        // it asks for host key types (ed25519 first, then ECDSA, then RSA).
        let rank = |k: &russh::keys::PublicKey| match k.algorithm().to_string().as_str() {
            "ssh-ed25519" => 0,
            a if a.starts_with("ecdsa") => 1,
            _ => 2,
        };
        let Some((_, key)) = keys.iter().min_by_key(|(_, k)| rank(k)) else {
            continue;
        };
        let fingerprint = fp(key);
        let key = TrustedKey {
            host: name.clone(),
            address: ep.address.clone(),
            port: ep.port,
            fingerprint: fingerprint.clone(),
            key_type: key.algorithm().to_string(),
            trusted_at: now_rfc3339(),
            trusted_by: format!("{who} (imported from {})", known_hosts.display()),
        };
        state.trust_key(profile.name(), &key).await?;
        imported.push((name.clone(), fingerprint));
    }
    Ok(imported)
}
