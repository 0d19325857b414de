//! Rotate the console's own SSH key: a new Ed25519 key, made here, goes into the
//! `authorized_keys` of every host of the deployment beside the current one; each host
//! is logged in to with it on a fresh connection; then it replaces the profile's key
//! file (the old file kept beside it, mode 600) and the console reconnects with it;
//! only then is the old key removed from every host, and a last step proves that a fresh
//! connection with the old key is refused by every host and one with the new key let in.
//! There is never a moment in which the console holds no key a host accepts.
//!
//! Which file: the `AuthorizedKeysFile` of the sshd that serves the console's connection
//! (`sshd -T` with that sshd's own `-f`, found from the session's parent processes),
//! or OpenSSH's default (`~/.ssh/authorized_keys`, `~/.ssh/authorized_keys2`) when
//! `sshd -T` cannot run (it needs to read the host keys: root); of those, the ones that
//! hold the current key. Each is replaced atomically (`envfile::replace`: a temporary
//! file with the same owner and mode, compare-and-swap on what was just read, a mode-600
//! backup, rename), with the public keys on stdin. The new line keeps the old line's
//! options (`from=`, `restrict`…).
//!
//! Undo (in reverse, each step journaled with a `rotate-ssh-key-undo` request that
//! holds paths and public keys, never a private key): the old key back in each file, the
//! old key file back, the new key's lines removed. Two interlocks keep the console from
//! locking itself out whatever fails: a key is never removed from a host while the
//! console's key file holds it, and the old key file is put back only when every host
//! accepts the old key again.
//!
//! The private keys live in memory and in the key files only: never in the plan, the
//! journal, an event, an error, a remote command line or a remote file.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;
use russh::keys::{HashAlg, PrivateKey, PublicKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::super::{Action, ActionSpec, Ctx, Plan, Planned, Step, StepDone, Vantage, Verdict};
use crate::engine::envfile::replace::replace;
use crate::engine::keychain;
use crate::engine::profiles::{Auth, Passphrase};
use crate::engine::secret::Sensitive;
use crate::engine::ssh::output::{display_safe, shell_quote};
use crate::engine::ssh::{Credential, SshError};
use crate::engine::{Error, Result};

/// The request: a new SSH key for the console on every host of the deployment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct RotateSshKey {}

/// The request that undoes one step of an SSH key rotation: an `authorized_keys` file
/// back as it was (or the lines edited back, when it changed since), or the old key
/// file back. Paths and public keys only. Neither: nothing to undo.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct RotateSshKeyUndo {
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub keys: Option<KeysBack>,
    #[serde(default)]
    pub key_file: Option<KeyFileBack>,
}

/// One `authorized_keys` file, and how to put it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct KeysBack {
    /// The file written (a symlink's target).
    pub path: String,
    /// The mode-600 copy of what it held before.
    pub backup: String,
    /// SHA-256 of what the step wrote: the backup goes back only over that.
    pub wrote_sha256: String,
    /// SHA-256 of what the backup must hold.
    pub before_sha256: String,
    /// Undo of an addition: the lines of this key (`type base64`) are removed.
    #[serde(default)]
    pub remove_key: Option<String>,
    /// Undo of a removal: these lines (as they were) are added back.
    #[serde(default)]
    pub add_lines: Vec<String>,
    /// Undo of a removal: the old private key, kept on the console's machine. Gone
    /// (deleted after a rotation for a leak), the old lines are not put back: they would
    /// open the host again to whoever else holds that key, and to no one here.
    #[serde(default)]
    pub kept: Option<String>,
}

/// The console's key file, and the old one kept beside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct KeyFileBack {
    /// The key file written (a symlink's target).
    pub path: String,
    /// The old key file, kept (mode 600).
    pub kept: String,
    /// The old key, `type base64`.
    pub old_key: String,
    /// The new key, `type base64`.
    pub new_key: String,
    /// The `.pub` file rewritten beside it, if there was one.
    #[serde(default)]
    pub pub_file: Option<String>,
    /// What that `.pub` file held (a public key and its comment), to put back.
    #[serde(default)]
    pub pub_text: Option<String>,
}

/// An `authorized_keys` file bigger than this is not one.
const MAX_KEYS_FILE: usize = 1024 * 1024;
/// A private key file bigger than this is not one.
const MAX_KEY_FILE: u64 = 64 * 1024;

fn unavailable(reason: impl Into<String>) -> Error {
    Error::ActionUnavailable {
        reason: reason.into(),
    }
}

// ---------------------------------------------------------------------------------
// Keys

/// A key as `authorized_keys` names it: `type base64` (options and comment aside).
fn key_id(k: &PublicKey) -> String {
    let text = k.to_openssh().unwrap_or_default();
    let mut words = text.split_ascii_whitespace();
    match (words.next(), words.next()) {
        (Some(t), Some(b)) => format!("{t} {b}"),
        _ => String::new(),
    }
}

fn fingerprint(k: &PublicKey) -> String {
    k.fingerprint(HashAlg::Sha256).to_string()
}

/// The fingerprint of a `type base64` key, or the text itself if it is not one.
fn id_fingerprint(id: &str) -> String {
    PublicKey::from_openssh(id)
        .map(|k| fingerprint(&k))
        .unwrap_or_else(|_| id.to_owned())
}

/// The key the console will use from now on, made by the console: never written
/// anywhere but the key file, never shown.
struct NewKey {
    private: Arc<PrivateKey>,
    id: String,
    fingerprint: String,
    comment: String,
}

impl NewKey {
    /// An Ed25519 key from a 32-byte seed of the operating system's CSPRNG.
    fn generate(comment: &str) -> Result<Self> {
        use rand::TryRngCore;
        let mut seed = zeroize::Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng
            .try_fill_bytes(&mut *seed)
            .map_err(|e| unavailable(format!("the operating system's random generator failed: {e}")))?;
        let pair = russh::keys::ssh_key::private::Ed25519Keypair::from_seed(&seed);
        let private = PrivateKey::new(pair.into(), comment)
            .map_err(|e| unavailable(format!("a new key could not be made: {e}")))?;
        let public = private.public_key().clone();
        Ok(NewKey {
            id: key_id(&public),
            fingerprint: fingerprint(&public),
            private: Arc::new(private),
            comment: comment.to_owned(),
        })
    }

    /// The key file's text: OpenSSH's format, encrypted with `passphrase` if given
    /// (bcrypt-pbkdf, 16 rounds, aes256-ctr: what ssh-keygen writes).
    fn file_text(&self, passphrase: Option<&Sensitive<String>>) -> Result<zeroize::Zeroizing<String>> {
        use rand::TryRngCore;
        use russh::keys::ssh_key::{Cipher, Kdf, LineEnding};
        let failed =
            |e: russh::keys::ssh_key::Error| unavailable(format!("the new key could not be encoded: {e}"));
        match passphrase {
            None => self.private.to_openssh(LineEnding::LF).map_err(failed),
            Some(pass) => {
                let mut salt = vec![0u8; 16];
                let mut check = [0u8; 4];
                rand::rngs::OsRng
                    .try_fill_bytes(&mut salt)
                    .and_then(|()| rand::rngs::OsRng.try_fill_bytes(&mut check))
                    .map_err(|e| {
                        unavailable(format!("the operating system's random generator failed: {e}"))
                    })?;
                let kdf = Kdf::Bcrypt { salt, rounds: 16 };
                self.private
                    .encrypt_with(
                        Cipher::Aes256Ctr,
                        kdf,
                        u32::from_le_bytes(check),
                        pass.expose().as_bytes(),
                    )
                    .and_then(|k| k.to_openssh(LineEnding::LF))
                    .map_err(failed)
            }
        }
    }

    /// The `authorized_keys` line: the old line's options, the key, its comment.
    fn line(&self, options: &str) -> String {
        if options.is_empty() {
            format!("{} {}", self.id, self.comment)
        } else {
            format!("{options} {} {}", self.id, self.comment)
        }
    }
}

// ---------------------------------------------------------------------------------
// authorized_keys lines

fn is_key_type(word: &str) -> bool {
    ["ssh-", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-"]
        .iter()
        .any(|p| word.starts_with(p))
}

/// The options field of a line that starts with options: up to the first whitespace
/// outside double quotes (a quoted value may hold spaces and `\"`).
fn split_options(l: &str) -> Option<(&str, &str)> {
    let (mut quoted, mut escaped) = (false, false);
    for (i, c) in l.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ' ' | '\t' if !quoted => return Some((&l[..i], &l[i..])),
            _ => {}
        }
    }
    None
}

/// A line of `authorized_keys`: its options (maybe empty) and its key as `type base64`;
/// `None` for a blank line, a comment, or what sshd would not read as a key.
fn parse_line(line: &str) -> Option<(String, String)> {
    let l = line
        .trim_end_matches(['\r', '\n'])
        .trim_start_matches([' ', '\t']);
    if l.is_empty() || l.starts_with('#') {
        return None;
    }
    let first = l.split_ascii_whitespace().next()?;
    let (options, rest) = if is_key_type(first) {
        ("", l)
    } else {
        split_options(l)?
    };
    let mut words = rest.split_ascii_whitespace();
    let (t, b) = (words.next()?, words.next()?);
    is_key_type(t).then(|| (options.to_owned(), format!("{t} {b}")))
}

/// The lines of key `id` in `text`: (line number from 1, its options).
fn lines_of(text: &str, id: &str) -> Vec<(usize, String)> {
    text.split_inclusive('\n')
        .enumerate()
        .filter_map(|(i, l)| match parse_line(l) {
            Some((options, k)) if k == id => Some((i + 1, options)),
            _ => None,
        })
        .collect()
}

/// `text` with `line` as its last line (a missing final newline added first, in the
/// file's own line ending).
fn with_line(text: &str, line: &str) -> String {
    let eol = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let mut out = text.to_owned();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push_str(eol);
    }
    out.push_str(line);
    out.push_str(eol);
    out
}

/// `text` without the lines of key `id`, and those lines as they were (without their
/// line ending). Every other byte stays.
fn without_key(text: &str, id: &str) -> (String, Vec<String>) {
    let (mut kept, mut removed) = (String::new(), Vec::new());
    for l in text.split_inclusive('\n') {
        match parse_line(l) {
            Some((_, k)) if k == id => removed.push(l.trim_end_matches(['\r', '\n']).to_owned()),
            _ => kept.push_str(l),
        }
    }
    (kept, removed)
}

// ---------------------------------------------------------------------------------
// The console's key file (local)

/// The key file the console logs in with, as every host of the profile names it.
#[derive(Clone)]
struct LocalKey {
    /// As the profile (or the ssh_config alias) writes it.
    configured: String,
    /// `~` expanded.
    path: PathBuf,
    /// A symlink's target: the file written.
    target: PathBuf,
    passphrase: Passphrase,
}

impl LocalKey {
    /// The key file's passphrase, read from the keychain now (if it has one).
    async fn passphrase(&self, ctx: &Ctx<'_>) -> Result<Option<Sensitive<String>>> {
        Ok(match self.passphrase {
            Passphrase::None => None,
            Passphrase::Keychain => Some(
                ctx.engine
                    .keychain()
                    .get(ctx.deployment(), keychain::SSH_KEY_PASSPHRASE)
                    .await?,
            ),
        })
    }

    fn pub_file(&self) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(".pub");
        PathBuf::from(p)
    }
}

/// Reads a private key file's bytes (capped); never shown.
fn read_key_bytes(path: &Path) -> std::result::Result<zeroize::Zeroizing<Vec<u8>>, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot be read: {e}"))?;
    if !meta.is_file() {
        return Err("is not a regular file".into());
    }
    if meta.len() > MAX_KEY_FILE {
        return Err(format!("is {} bytes: not a private key", meta.len()));
    }
    std::fs::read(path)
        .map(zeroize::Zeroizing::new)
        .map_err(|e| format!("cannot be read: {e}"))
}

/// The public half of a private key file. OpenSSH's format carries it in the clear (no
/// passphrase needed); older formats are decrypted with `passphrase`.
fn public_of_bytes(
    bytes: &[u8],
    passphrase: Option<&Sensitive<String>>,
) -> std::result::Result<PublicKey, String> {
    if let Ok(k) = PrivateKey::from_openssh(bytes) {
        return Ok(k.public_key().clone());
    }
    let text = std::str::from_utf8(bytes).map_err(|_| "is not a private key (not text)".to_owned())?;
    russh::keys::decode_secret_key(text, passphrase.map(|p| p.expose().as_str()))
        .map(|k| k.public_key().clone())
        .map_err(|e| match e {
            russh::keys::Error::KeyIsEncrypted => {
                "is encrypted, and no passphrase is in the keychain for it".to_owned()
            }
            _ => "is not a private key this console can read".to_owned(),
        })
}

fn public_of_file(
    path: &Path,
    passphrase: Option<&Sensitive<String>>,
) -> std::result::Result<PublicKey, String> {
    public_of_bytes(&read_key_bytes(path)?, passphrase)
}

/// The public key (its `key_id`) a key file holds now, with the keychain's passphrase
/// when the file needs one (an encrypted PEM key). `None`: it cannot be read.
async fn key_now(ctx: &Ctx<'_>, path: &Path) -> Option<String> {
    if let Ok(k) = public_of_file(path, None) {
        return Some(key_id(&k));
    }
    let local = local_key(ctx, false).await.ok()?;
    let pass = local.passphrase(ctx).await.ok()?;
    public_of_file(path, pass.as_ref()).ok().map(|k| key_id(&k))
}

/// The private key in a file, decrypted with `passphrase` (for proving it refused).
fn private_of_file(path: &Path, passphrase: Option<&Sensitive<String>>) -> Result<PrivateKey> {
    let bytes = read_key_bytes(path).map_err(|r| unavailable(format!("{}: {r}", path.display())))?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| unavailable(format!("{}: is not a private key (not text)", path.display())))?;
    russh::keys::decode_secret_key(text, passphrase.map(|p| p.expose().as_str())).map_err(|_| {
        unavailable(format!(
            "{}: cannot be decrypted with the passphrase in the keychain",
            path.display()
        ))
    })
}

fn random_suffix() -> String {
    hex::encode(rand::random::<[u8; 4]>())
}

/// Writes `bytes` to a new file `path` (which must not exist) with `mode`, flushed.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    let written = f.write_all(bytes).and_then(|()| f.sync_all());
    if written.is_err() {
        let _ = std::fs::remove_file(path);
    }
    written
}

fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent()
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
}

/// Replaces `target` with `bytes` atomically (a temporary file beside it with `mode`,
/// flushed, renamed over it, the folder flushed), if `check` still passes just before.
fn replace_local(
    target: &Path,
    bytes: &[u8],
    mode: u32,
    check: impl Fn() -> std::result::Result<(), String>,
) -> std::result::Result<(), String> {
    let dir = target.parent().ok_or("has no folder")?;
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.bg-new-{}", random_suffix()));
    write_new(&tmp, bytes, mode).map_err(|e| format!("the new file cannot be written beside it: {e}"))?;
    let swapped =
        check().and_then(|()| std::fs::rename(&tmp, target).map_err(|e| format!("cannot be replaced: {e}")));
    if swapped.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    swapped?;
    sync_dir(target);
    Ok(())
}

/// `<target>.old-<UTC time>`.
fn kept_path(target: &Path) -> PathBuf {
    let stamp: String = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    let mut p = target.to_owned().into_os_string();
    p.push(format!(".old-{stamp}"));
    PathBuf::from(p)
}

fn mode_of(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o7777)
}

/// The key file every host of the profile logs in with, or why this action cannot
/// rotate it (with `sharing`: also when another deployment of this console uses it).
async fn local_key(ctx: &Ctx<'_>, sharing: bool) -> Result<LocalKey> {
    let deployment = ctx.deployment();
    let mut found: Option<(String, Passphrase, String)> = None;
    for h in &ctx.profile.hosts {
        let host = h.name.get_ref();
        match crate::engine::connect::auth_of(ctx.profile, host)? {
            Auth::Agent => {
                return Err(unavailable(format!(
                    "{host}: the console logs in with ssh-agent's keys (auth = agent): those keys are yours to rotate (ssh-keygen, add the new public key to every host, ssh-add it, then remove the old one); this action rotates a key file the console reads itself (auth = {{ method = \"key-file\", path = … }})"
                )));
            }
            Auth::Password => {
                return Err(unavailable(format!(
                    "{host}: the console logs in with a password (auth = password): there is no key to rotate; change the password on the host and store the new one with `breakglass secret set {deployment} ssh-password:{host}`, or move the console to a key file (auth = {{ method = \"key-file\", path = … }})"
                )));
            }
            Auth::KeyFile { path, passphrase } => match &found {
                None => found = Some((path, passphrase, host.clone())),
                Some((p, pp, first)) => {
                    let same = same_file(p, &path);
                    if !same || *pp != passphrase {
                        return Err(unavailable(format!(
                            "{first} and {host} log in with different key files or passphrase settings ({p} and {path}): rotating several keys in one run is not done yet; give every host the same key file"
                        )));
                    }
                }
            },
        }
    }
    let (configured, passphrase, _) =
        found.ok_or_else(|| unavailable(format!("{deployment} has no host")))?;
    let path = crate::engine::ssh::expand_home(&configured);
    let target = std::fs::canonicalize(&path)
        .map_err(|e| unavailable(format!("the key file {configured} cannot be read: {e}")))?;
    if !std::fs::metadata(&target).is_ok_and(|m| m.is_file()) {
        return Err(unavailable(format!(
            "the key file {configured} is not a regular file"
        )));
    }
    // Another deployment of this console that logs in with the same file would present
    // a key its hosts do not accept.
    let mut others = Vec::new();
    let known = if sharing {
        ctx.engine.deployments().await?
    } else {
        Vec::new()
    };
    for d in known {
        let name = d.summary.name;
        if name == deployment {
            continue;
        }
        let Ok(other) = ctx.engine.profile(&name).await else {
            continue;
        };
        let uses = other.hosts.iter().any(|h| {
            matches!(
                crate::engine::connect::auth_of(&other, h.name.get_ref()),
                Ok(Auth::KeyFile { path, .. }) if same_file(&path, &configured)
            )
        });
        if uses {
            others.push(name);
        }
    }
    if !others.is_empty() {
        return Err(unavailable(format!(
            "the key file {configured} is also the key of deployment(s) {}: their hosts would refuse the new key; give each deployment a key file of its own (rotating one key across deployments is not done yet)",
            others.join(", ")
        )));
    }
    Ok(LocalKey {
        configured,
        path,
        target,
        passphrase,
    })
}

fn same_file(a: &str, b: &str) -> bool {
    let (a, b) = (
        crate::engine::ssh::expand_home(a),
        crate::engine::ssh::expand_home(b),
    );
    match (std::fs::canonicalize(&a), std::fs::canonicalize(&b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

// ---------------------------------------------------------------------------------
// The hosts' authorized_keys (remote)

/// Finds the sshd that serves this connection (the topmost `sshd` among the shell's
/// ancestors, its `-f`), and asks it for its effective `AuthorizedKeysFile` with
/// `sshd -T -C` for this user and connection. Prints `name<TAB>value` lines. Holds no
/// input: nothing to quote.
const LOCATE: &str = r#"set -u
set -f
u=$(id -un) || exit 5
uid=$(id -u)
home=${HOME:-}
[ -n "$home" ] || home=$(getent passwd "$u" | cut -d: -f6)
printf 'user\t%s\nuid\t%s\nhome\t%s\n' "$u" "$uid" "$home"
p=$PPID; top=; n=0
while [ -n "$p" ] && [ "$p" -gt 1 ] 2>/dev/null && [ $n -lt 12 ]; do
  n=$((n + 1))
  c=$(cat "/proc/$p/comm" 2>/dev/null) || break
  case "$c" in
    sshd|sshd-session|sshd-auth) top=$p ;;
    *) [ -n "$top" ] && break ;;
  esac
  p=$(awk '/^PPid:/ {print $2}' "/proc/$p/status" 2>/dev/null)
done
conf=
if [ -n "$top" ]; then
  set -- $(tr '\0' ' ' < "/proc/$top/cmdline" 2>/dev/null)
  while [ $# -gt 0 ]; do
    case "$1" in
      -f) if [ $# -ge 2 ]; then conf=$2; shift; fi ;;
      -f?*) conf=${1#-f} ;;
    esac
    shift
  done
fi
bin=
[ -n "$top" ] && bin=$(readlink "/proc/$top/exe" 2>/dev/null)
if [ -z "$bin" ] || [ ! -x "$bin" ]; then bin=$(command -v sshd 2>/dev/null) || bin=; fi
if [ -z "$bin" ] && [ -x /usr/sbin/sshd ]; then bin=/usr/sbin/sshd; fi
printf 'conf\t%s\nbin\t%s\n' "$conf" "$bin"
[ -n "$bin" ] || { printf 'sshd_t\tno sshd program found\n'; exit 0; }
set -- ${SSH_CONNECTION:-}
if [ $# -ge 4 ]; then spec="user=$u,host=$1,addr=$1,laddr=$3,lport=$4"; else spec="user=$u,host=localhost,addr=127.0.0.1"; fi
if [ -n "$conf" ]; then out=$("$bin" -T -f "$conf" -C "$spec" 2>&1); else out=$("$bin" -T -C "$spec" 2>&1); fi
rc=$?
if [ $rc -ne 0 ]; then printf 'sshd_t\t%s\n' "$(printf '%s\n' "$out" | grep -v '^$' | tail -n 1)"; exit 0; fi
printf 'sshd_t\tok\n'
printf '%s\n' "$out" | awk '$1 == "authorizedkeysfile" { $1 = ""; sub(/^ +/, ""); print "akf\t" $0 } $1 == "authorizedkeyscommand" { $1 = ""; sub(/^ +/, ""); print "akc\t" $0 }'
"#;

/// Where a host's sshd looks for the login user's keys, as far as the console can tell.
struct Located {
    user: String,
    /// The files to look in, absolute.
    candidates: Vec<String>,
    /// How they were found, for the plan.
    how: String,
    /// sshd's AuthorizedKeysCommand, if it has one.
    command: Option<String>,
}

/// `AuthorizedKeysFile`'s tokens (`%%`, `%h`, `%u`, `%U`, a leading `~/`), relative to
/// the home folder; `None` for a token sshd would not expand either.
fn expand_akf(token: &str, home: &str, user: &str, uid: &str) -> Option<String> {
    let token = match token.strip_prefix("~/") {
        Some(rest) => format!("{home}/{rest}"),
        None => token.to_owned(),
    };
    let mut out = String::new();
    let mut chars = token.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            '%' => out.push('%'),
            'h' => out.push_str(home),
            'u' => out.push_str(user),
            'U' => out.push_str(uid),
            _ => return None,
        }
    }
    if !out.starts_with('/') {
        out = format!("{}/{out}", home.trim_end_matches('/'));
    }
    Some(out)
}

fn is_plain_path(p: &str) -> bool {
    p.starts_with('/') && !p.chars().any(char::is_control) && p.len() < 4096
}

async fn locate(ctx: &Ctx<'_>, host: &str) -> Result<Located> {
    let session = ctx.engine.session(ctx.deployment(), host).await?;
    let out = session.exec_capped(LOCATE, None, 64 * 1024).await?;
    if !out.success() {
        return Err(Error::RemoteRead {
            host: host.to_owned(),
            path: "the login user's name and home".into(),
            detail: display_safe(&out.stderr).trim().to_owned(),
        });
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix('\t')))
            .map(str::to_owned)
    };
    let (user, uid, home) = (
        field("user").unwrap_or_default(),
        field("uid").unwrap_or_default(),
        field("home").unwrap_or_default(),
    );
    if user.is_empty() || !is_plain_path(&home) {
        return Err(unavailable(format!(
            "{host}: the login user's home folder is not known ({:?})",
            display_safe(home.as_bytes())
        )));
    }
    let conf = field("conf").unwrap_or_default();
    let tested = field("sshd_t").unwrap_or_default();
    let command = field("akc").filter(|c| !c.is_empty() && c != "none");
    let defaults = || {
        vec![
            format!("{home}/.ssh/authorized_keys"),
            format!("{home}/.ssh/authorized_keys2"),
        ]
    };
    let (candidates, how) = if tested == "ok" {
        let akf = field("akf").unwrap_or_default();
        let files: Vec<String> = akf
            .split_ascii_whitespace()
            .filter(|t| *t != "none")
            .filter_map(|t| expand_akf(t, &home, &user, &uid))
            .collect();
        let from = if conf.is_empty() {
            "sshd -T".to_owned()
        } else {
            format!("sshd -T -f {}", display_safe(conf.as_bytes()))
        };
        (files, format!("sshd's AuthorizedKeysFile ({from})"))
    } else {
        (
            defaults(),
            format!(
                "OpenSSH's default AuthorizedKeysFile (sshd -T could not tell: {})",
                display_safe(tested.as_bytes())
            ),
        )
    };
    if let Some(bad) = candidates.iter().find(|p| !is_plain_path(p)) {
        return Err(unavailable(format!(
            "{host}: sshd names an authorized_keys file this console will not write: {:?}",
            display_safe(bad.as_bytes())
        )));
    }
    Ok(Located {
        user,
        candidates,
        how,
        command,
    })
}

/// One `authorized_keys` file as it is now.
struct KeysFile {
    /// The file itself (a symlink's target).
    path: String,
    text: String,
    sha: String,
    writable: bool,
}

/// Reads an `authorized_keys` file (`None`: there is none at `path`).
async fn read_keys(ctx: &Ctx<'_>, host: &str, path: &str) -> Result<Option<KeysFile>> {
    let script = format!(
        r#"f={}
[ -e "$f" ] || {{ echo missing; exit 0; }}
t=$(readlink -f -- "$f") || exit 4
[ -f "$t" ] || {{ echo "$t is not a regular file" >&2; exit 4; }}
w=no; [ -w "$t" ] && [ -w "$(dirname -- "$t")" ] && w=yes
printf 'file\t%s\t%s\n' "$w" "$t"
cat -- "$t""#,
        shell_quote(path)
    );
    let session = ctx.engine.session(ctx.deployment(), host).await?;
    let out = session.exec_capped(&script, None, MAX_KEYS_FILE + 4200).await?;
    let failed = |detail: String| Error::RemoteRead {
        host: host.to_owned(),
        path: path.to_owned(),
        detail,
    };
    if !out.success() {
        return Err(failed(display_safe(&out.stderr).trim().to_owned()));
    }
    if out.truncated {
        return Err(failed("bigger than 1 MiB: not an authorized_keys file".into()));
    }
    if out.stdout.starts_with(b"missing\n") {
        return Ok(None);
    }
    let Some(nl) = out.stdout.iter().position(|b| *b == b'\n') else {
        return Err(failed("the host did not say what it read".into()));
    };
    let head = String::from_utf8_lossy(&out.stdout[..nl]).into_owned();
    let mut parts = head.splitn(3, '\t');
    let (Some("file"), Some(w), Some(target)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(failed("the host did not say what it read".into()));
    };
    let body = out.stdout[nl + 1..].to_vec();
    let sha = hex::encode(Sha256::digest(&body));
    let text = String::from_utf8(body).map_err(|_| failed("not text".into()))?;
    Ok(Some(KeysFile {
        path: target.to_owned(),
        text,
        sha,
        writable: w == "yes",
    }))
}

/// The `authorized_keys` files of one host that hold the current key.
struct HostPlan {
    host: String,
    /// (file, the old key's options on its first line there, how many lines)
    files: Vec<(String, String, usize)>,
}

async fn survey(ctx: &Ctx<'_>, host: &str, old_id: &str) -> Result<(HostPlan, Vec<String>, Vec<String>)> {
    let located = locate(ctx, host).await?;
    let (mut files, mut sample, mut warnings) = (Vec::new(), Vec::new(), Vec::new());
    let mut looked = Vec::new();
    for c in &located.candidates {
        let Some(f) = read_keys(ctx, host, c).await? else {
            looked.push(format!("{c} (none)"));
            continue;
        };
        if looked.contains(&f.path) {
            // Named twice (or through a symlink): one file, changed once.
            continue;
        }
        looked.push(f.path.clone());
        let lines = lines_of(&f.text, old_id);
        if lines.is_empty() {
            continue;
        }
        if !f.writable {
            return Err(unavailable(format!(
                "{host}: {} holds the current key but {} cannot write it (or its folder): the rotation would fail there; nothing was changed",
                f.path, located.user
            )));
        }
        let options = lines.first().map(|(_, o)| o.clone()).unwrap_or_default();
        if lines.iter().any(|(_, o)| *o != options) {
            warnings.push(format!(
                "{host}: {} holds the current key on several lines with different options: the new line gets the first one's",
                f.path
            ));
        }
        let numbers: Vec<String> = lines.iter().map(|(n, _)| n.to_string()).collect();
        let shown: String = options.chars().take(80).collect();
        sample.push(format!(
            "{host} ({}): {} — {}; the current key on line {}{}",
            located.user,
            f.path,
            located.how,
            numbers.join(", "),
            if options.is_empty() {
                String::new()
            } else {
                format!("; the new line keeps its options {shown}")
            }
        ));
        files.push((f.path, options, lines.len()));
    }
    if files.is_empty() {
        let command = located
            .command
            .as_ref()
            .map(|c| {
                format!(
                    "; sshd also asks AuthorizedKeysCommand {}, which this console cannot change",
                    display_safe(c.as_bytes())
                )
            })
            .unwrap_or_default();
        return Err(unavailable(format!(
            "{host}: the current key is in none of the files sshd reads for {} ({}; looked in {}){command}: it may be authorized another way (a certificate, a command); nothing was changed",
            located.user,
            located.how,
            if looked.is_empty() {
                "none".to_owned()
            } else {
                looked.join(", ")
            }
        )));
    }
    Ok((
        HostPlan {
            host: host.to_owned(),
            files,
        },
        sample,
        warnings,
    ))
}

/// Does the console's key file hold `key` now? Asked only of keys this action made
/// (always in OpenSSH's format, whose public half needs no passphrase): the interlocks
/// that never remove from a host the key the console logs in with.
fn console_holds(local: &Path, key: &str) -> bool {
    match public_of_file(local, None) {
        Ok(k) => key_id(&k) == key,
        Err(_) => false,
    }
}

// ---------------------------------------------------------------------------------
// The action

impl Action for RotateSshKey {
    fn plan<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, Result<Planned>> {
        Box::pin(async move {
            let local = local_key(ctx, true).await?;
            let old = match public_of_file(&local.target, None) {
                Ok(k) => k,
                Err(_) => {
                    let pass = local.passphrase(ctx).await?;
                    public_of_file(&local.target, pass.as_ref())
                        .map_err(|r| unavailable(format!("the key file {}: {r}", local.configured)))?
                }
            };
            let old_id = key_id(&old);
            let date: String = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
                .to_string()
                .chars()
                .take(10)
                .collect();
            let new = Arc::new(NewKey::generate(&format!(
                "breakglass {} {date}",
                ctx.deployment()
            ))?);
            let hosts: Vec<String> = ctx
                .profile
                .hosts
                .iter()
                .map(|h| h.name.get_ref().clone())
                .collect();
            let mut plans = Vec::new();
            let mut sample = vec![format!(
                "current key: {} {} in {}{}",
                old.algorithm().as_str(),
                fingerprint(&old),
                local.configured,
                match local.passphrase {
                    Passphrase::Keychain =>
                        ", encrypted with the passphrase in the keychain (the new key gets the same one)",
                    Passphrase::None => "",
                }
            )];
            let mut warnings = vec![format!(
                "{} is replaced by the new key: whatever else uses that file (your own ssh to other servers, scripts) will present the new key, which only these {} host(s) accept; the old key stays in {}.old-<time>",
                local.configured,
                hosts.len(),
                local.target.display()
            )];
            if old.algorithm() != russh::keys::Algorithm::Ed25519 {
                warnings.push(format!(
                    "the current key is {}; the new one is Ed25519 (a host whose sshd refuses Ed25519 keys fails the login step, and everything is undone)",
                    old.algorithm().as_str()
                ));
            }
            warnings.push(
                "the last step tries a fresh login with the old key on every host: one refused login each in sshd's log (a fail2ban-like guard counts it)".into(),
            );
            for host in &hosts {
                let (p, s, w) = survey(ctx, host, &old_id).await?;
                sample.extend(s);
                warnings.extend(w);
                plans.push(p);
            }

            let key_back: Arc<Mutex<Option<KeyFileBack>>> = Arc::default();
            let mut steps: Vec<Box<dyn Step>> = Vec::new();
            for p in &plans {
                for (path, options, _) in &p.files {
                    steps.push(Box::new(AddKey {
                        host: p.host.clone(),
                        path: path.clone(),
                        old: old_id.clone(),
                        options: options.clone(),
                        new: new.clone(),
                        done: Mutex::default(),
                    }));
                }
            }
            for p in &plans {
                steps.push(Box::new(ProveNew {
                    host: p.host.clone(),
                    new: new.clone(),
                }));
            }
            steps.push(Box::new(WriteKeyFile {
                local: local.clone(),
                old: old_id.clone(),
                new: new.clone(),
                hosts: hosts.clone(),
                done: key_back.clone(),
            }));
            for p in &plans {
                for (path, ..) in &p.files {
                    steps.push(Box::new(RemoveKey {
                        host: p.host.clone(),
                        path: path.clone(),
                        old: old_id.clone(),
                        new: new.id.clone(),
                        local: local.target.clone(),
                        key_back: key_back.clone(),
                        done: Mutex::default(),
                    }));
                }
            }
            steps.push(Box::new(Prove {
                hosts: hosts.clone(),
                local: local.clone(),
                done: key_back,
            }));
            let files: usize = plans.iter().map(|p| p.files.len()).sum();
            let plan = Plan {
                action: "rotate-ssh-key".into(),
                deployment: ctx.deployment().to_owned(),
                summary: format!(
                    "replace the console's SSH key {} ({}) with a new Ed25519 key on {} host(s), {} authorized_keys file(s)",
                    fingerprint(&old),
                    local.configured,
                    hosts.len(),
                    files
                ),
                count: i64::try_from(files + 1).unwrap_or(i64::MAX),
                sample,
                steps: Vec::new(),
                reversible: Vec::new(),
                destructive: true,
                warnings,
                digest: String::new(),
            };
            Ok(Planned::new(plan, steps))
        })
    }

    fn verify<'a>(&'a self, ctx: &'a Ctx<'_>, plan: &'a Plan) -> BoxFuture<'a, Result<Verdict>> {
        Box::pin(async move {
            let local = local_key(ctx, false).await?;
            let pass = local.passphrase(ctx).await?;
            let now = public_of_file(&local.target, pass.as_ref())
                .map_err(|r| unavailable(format!("the key file {}: {r}", local.configured)))?;
            let (now_id, now_fp) = (key_id(&now), fingerprint(&now));
            let old_fp = old_fingerprint(plan);
            let mut problems = Vec::new();
            if old_fp.as_deref() == Some(now_fp.as_str()) {
                problems.push(format!("{} still holds the old key", local.configured));
            }
            // The old key, kept beside the file by the run, to be refused.
            let old_key = old_fp
                .as_deref()
                .and_then(|fp| find_kept(&local.target, fp, pass.as_ref()))
                .map(|p| private_of_file(&p, pass.as_ref()))
                .transpose()?
                .map(Arc::new);
            let mut checked = 0;
            for h in &ctx.profile.hosts {
                let host = h.name.get_ref();
                match ctx.engine.connect_fresh(ctx.deployment(), host).await {
                    Ok(s) => s.close().await,
                    Err(e) => problems.push(format!("{host} refuses the key file's key: {e}")),
                }
                if let Some(k) = &old_key {
                    match ctx
                        .engine
                        .connect_with(ctx.deployment(), host, Credential::Key(k.clone()))
                        .await
                    {
                        Err(Error::Ssh(e)) if matches!(*e, SshError::AuthRejected { .. }) => {}
                        Ok(s) => {
                            s.close().await;
                            problems.push(format!("{host} still accepts the old key"));
                        }
                        Err(e) => problems.push(format!("{host}: the old key could not be tried: {e}")),
                    }
                }
                // What the files say: no line of the old key, one of the new.
                let located = locate(ctx, host).await?;
                let mut has_new = false;
                for c in &located.candidates {
                    if let Some(f) = read_keys(ctx, host, c).await? {
                        has_new |= !lines_of(&f.text, &now_id).is_empty();
                        let old_here = f
                            .text
                            .split_inclusive('\n')
                            .filter_map(parse_line)
                            .any(|(_, k)| Some(id_fingerprint(&k)) == old_fp);
                        if old_here {
                            problems.push(format!("{host}: {} still holds the old key", f.path));
                        }
                    }
                }
                if !has_new {
                    problems.push(format!("{host}: none of the files sshd reads holds the new key"));
                }
                checked += 1;
            }
            let detail = if problems.is_empty() {
                format!(
                    "{checked} host(s) let the new key {now_fp} in on a fresh connection{}; their authorized_keys hold it and not the old one",
                    if old_key.is_some() {
                        " and refuse the old one"
                    } else {
                        " (the old key file was not found beside the key file: its refusal was proven by the run's last step)"
                    }
                )
            } else {
                problems.join("; ")
            };
            Ok(Verdict::new(problems.is_empty(), detail).by(Vantage::Hosts))
        })
    }
}

/// The old key's fingerprint, as the plan's summary names it.
fn old_fingerprint(plan: &Plan) -> Option<String> {
    plan.summary
        .split_ascii_whitespace()
        .find(|w| w.starts_with("SHA256:"))
        .map(|w| {
            w.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '+' | '/'))
                .collect()
        })
}

/// The newest `<target>.old-*` file that holds the key with fingerprint `fp`.
fn find_kept(target: &Path, fp: &str, pass: Option<&Sensitive<String>>) -> Option<PathBuf> {
    let dir = target.parent()?;
    let prefix = format!("{}.old-", target.file_name()?.to_string_lossy());
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(&prefix))
        })
        .filter(|p| public_of_file(p, pass).is_ok_and(|k| fingerprint(&k) == fp))
        .collect();
    found.sort();
    found.pop()
}

// ---------------------------------------------------------------------------------
// Steps

/// Writes `new` over an `authorized_keys` file that still reads `expected`.
async fn write_keys(
    ctx: &Ctx<'_>,
    host: &str,
    path: &str,
    expected: &str,
    new: &str,
) -> Result<crate::engine::envfile::replace::Replaced> {
    let session = ctx.engine.session(ctx.deployment(), host).await?;
    replace(&session, path, expected, new.as_bytes())
        .await
        .map_err(|e| unavailable(format!("{host}: {e}")))
}

fn nothing_spec() -> ActionSpec {
    ActionSpec::RotateSshKeyUndo(RotateSshKeyUndo::default())
}

/// Step: the new key added to one `authorized_keys` file, beside the current one.
struct AddKey {
    host: String,
    path: String,
    old: String,
    options: String,
    new: Arc<NewKey>,
    done: Mutex<Option<KeysBack>>,
}

impl Step for AddKey {
    fn description(&self) -> String {
        format!(
            "{}: add a new Ed25519 key to {}, beside the current one",
            self.host, self.path
        )
    }

    fn run<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, Result<StepDone>> {
        Box::pin(async move {
            let f = read_keys(ctx, &self.host, &self.path)
                .await?
                .ok_or_else(|| unavailable(format!("{}: {} is gone", self.host, self.path)))?;
            if lines_of(&f.text, &self.old).is_empty() {
                return Err(unavailable(format!(
                    "{}: {} no longer holds the current key (changed since the plan): nothing written",
                    self.host, f.path
                )));
            }
            if !lines_of(&f.text, &self.new.id).is_empty() {
                // A file shared with a host before this one (a network home folder).
                return Ok(StepDone {
                    detail: format!("{}: {} holds the new key already", self.host, f.path),
                    changed: 0,
                });
            }
            let line = self.new.line(&self.options);
            let text = with_line(&f.text, &line);
            let replaced = write_keys(ctx, &self.host, &f.path, &f.sha, &text).await?;
            if let Ok(mut d) = self.done.lock() {
                *d = Some(KeysBack {
                    path: replaced.target.clone(),
                    backup: replaced.backup.clone(),
                    wrote_sha256: hex::encode(Sha256::digest(text.as_bytes())),
                    before_sha256: f.sha.clone(),
                    remove_key: Some(self.new.id.clone()),
                    add_lines: Vec::new(),
                    kept: None,
                });
            }
            Ok(StepDone {
                detail: format!(
                    "{}: {} holds the new key {} ({}) beside the current one; the old file kept as {}",
                    self.host, replaced.target, self.new.fingerprint, self.new.comment, replaced.backup
                ),
                changed: 1,
            })
        })
    }

    fn undo(&self) -> Option<ActionSpec> {
        Some(ActionSpec::RotateSshKeyUndo(RotateSshKeyUndo {
            host: Some(self.host.clone()),
            keys: self.done.lock().ok().and_then(|d| d.clone()),
            key_file: None,
        }))
    }
}

/// Step: a fresh connection to one host with the new key, before the console depends
/// on it.
struct ProveNew {
    host: String,
    new: Arc<NewKey>,
}

impl Step for ProveNew {
    fn description(&self) -> String {
        format!("{}: log in with the new key on a fresh connection", self.host)
    }

    fn run<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, Result<StepDone>> {
        Box::pin(async move {
            let s = ctx
                .engine
                .connect_with(ctx.deployment(), &self.host, Credential::Key(self.new.private.clone()))
                .await
                .map_err(|e| {
                    unavailable(format!(
                        "{}: the new key does not log in ({e}): sshd may read another file than the one written, or refuse Ed25519 keys",
                        self.host
                    ))
                })?;
            let out = s.exec("true", None).await;
            s.close().await;
            out.map_err(|e| unavailable(format!("{}: logged in with the new key, but: {e}", self.host)))?;
            Ok(StepDone {
                detail: format!("{}: the new key {} logs in", self.host, self.new.fingerprint),
                changed: 0,
            })
        })
    }

    fn undo(&self) -> Option<ActionSpec> {
        Some(nothing_spec())
    }
}

/// Step: the new key written to the console's key file (the old one kept), and the
/// console's connections remade with it.
struct WriteKeyFile {
    local: LocalKey,
    old: String,
    new: Arc<NewKey>,
    hosts: Vec<String>,
    done: Arc<Mutex<Option<KeyFileBack>>>,
}

/// The description of the key file step (also how `undo` recognises it).
fn write_key_file_description(configured: &str) -> String {
    format!(
        "write the new key to {configured} (the old one kept beside it as .old-<time>, mode 600) and reconnect to every host with it"
    )
}

impl Step for WriteKeyFile {
    fn description(&self) -> String {
        write_key_file_description(&self.local.configured)
    }

    fn run<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, Result<StepDone>> {
        Box::pin(async move {
            let pass = self.local.passphrase(ctx).await?;
            let text = self.new.file_text(pass.as_ref())?;
            let target = &self.local.target;
            let holds_old = || match public_of_file(target, pass.as_ref()) {
                Ok(k) if key_id(&k) == self.old => Ok(()),
                _ => Err("no longer holds the current key (changed since the plan)".to_owned()),
            };
            holds_old().map_err(|r| unavailable(format!("{}: {r}", self.local.configured)))?;
            // The old file kept as it is, mode 600.
            let kept = kept_path(target);
            let old_bytes =
                read_key_bytes(target).map_err(|r| unavailable(format!("{}: {r}", self.local.configured)))?;
            write_new(&kept, &old_bytes, 0o600).map_err(|e| {
                unavailable(format!(
                    "{}: the old key cannot be kept as {}: {e}",
                    self.local.configured,
                    kept.display()
                ))
            })?;
            if let Err(r) = replace_local(target, text.as_bytes(), 0o600, holds_old) {
                let _ = std::fs::remove_file(&kept);
                return Err(unavailable(format!(
                    "{}: {r}; nothing changed",
                    self.local.configured
                )));
            }
            // The .pub beside it, when it is the old key's.
            let pub_file = self.local.pub_file();
            let mut pub_written = None;
            let mut pub_text = None;
            if let Ok(old_pub) = std::fs::read_to_string(&pub_file)
                && old_pub.len() <= 16 * 1024
                && parse_line(&old_pub).is_some_and(|(_, k)| k == self.old)
            {
                let line = format!("{} {}\n", self.new.id, self.new.comment);
                let mode = mode_of(&pub_file).unwrap_or(0o644);
                let real = std::fs::canonicalize(&pub_file).unwrap_or(pub_file.clone());
                if replace_local(&real, line.as_bytes(), mode, || Ok(())).is_ok() {
                    pub_written = Some(real.display().to_string());
                    pub_text = Some(old_pub);
                }
            }
            let back = KeyFileBack {
                path: target.display().to_string(),
                kept: kept.display().to_string(),
                old_key: self.old.clone(),
                new_key: self.new.id.clone(),
                pub_file: pub_written,
                pub_text,
            };
            if let Ok(mut d) = self.done.lock() {
                *d = Some(back.clone());
            }
            // Every held connection remade with the file as it is now; each host must
            // let the console in with it.
            ctx.engine.reconnect_all(ctx.deployment());
            let mut refused = Vec::new();
            for host in &self.hosts {
                if let Err(e) = ctx.engine.session(ctx.deployment(), host).await {
                    refused.push(format!("{host}: {e}"));
                }
            }
            if !refused.is_empty() {
                // Not done: the old file back (every host still accepts the old key).
                let undone = restore_key_file(ctx, &back, pass.as_ref()).await;
                return Err(unavailable(format!(
                    "the console could not reconnect with the new key file ({}); {}",
                    refused.join("; "),
                    match undone {
                        Ok(()) => "the old key file is back".to_owned(),
                        Err(e) => format!("the old key file could NOT be put back: {e}"),
                    }
                )));
            }
            Ok(StepDone {
                detail: format!(
                    "{} holds the new key {}{}; the old one kept as {} (mode 600); the console reconnected to {} host(s) with it",
                    self.local.configured,
                    self.new.fingerprint,
                    if pass.is_some() {
                        ", encrypted with the passphrase in the keychain"
                    } else {
                        ""
                    },
                    back.kept,
                    self.hosts.len()
                ),
                changed: 1,
            })
        })
    }

    fn undo(&self) -> Option<ActionSpec> {
        Some(ActionSpec::RotateSshKeyUndo(RotateSshKeyUndo {
            host: None,
            keys: None,
            key_file: self.done.lock().ok().and_then(|d| d.clone()),
        }))
    }
}

/// Puts the old key file back (it must hold the old key, the file the new one), the
/// `.pub` too, removes the kept copy, and makes the console reconnect with it.
async fn restore_key_file(ctx: &Ctx<'_>, back: &KeyFileBack, pass: Option<&Sensitive<String>>) -> Result<()> {
    let (target, kept) = (PathBuf::from(&back.path), PathBuf::from(&back.kept));
    let old_bytes = read_key_bytes(&kept).map_err(|r| unavailable(format!("{}: {r}", back.kept)))?;
    let kept_key =
        public_of_bytes(&old_bytes, pass).map_err(|r| unavailable(format!("{}: {r}", back.kept)))?;
    if key_id(&kept_key) != back.old_key {
        return Err(unavailable(format!("{} does not hold the old key", back.kept)));
    }
    let holds_new = || match public_of_file(&target, pass) {
        Ok(k) if key_id(&k) == back.new_key => Ok(()),
        _ => Err("does not hold the new key any more: left as it is".to_owned()),
    };
    replace_local(&target, &old_bytes, 0o600, holds_new)
        .map_err(|r| unavailable(format!("{}: {r}", back.path)))?;
    let _ = std::fs::remove_file(&kept);
    sync_dir(&kept);
    if let Some(p) = &back.pub_file {
        let p = PathBuf::from(p);
        let mode = mode_of(&p).unwrap_or(0o644);
        let old = back
            .pub_text
            .clone()
            .filter(|t| parse_line(t).is_some_and(|(_, k)| k == back.old_key))
            .unwrap_or_else(|| format!("{}\n", back.old_key));
        // Only over the new key's .pub.
        let holds_new = || match std::fs::read_to_string(&p) {
            Ok(t) if parse_line(&t).is_some_and(|(_, k)| k == back.new_key) => Ok(()),
            _ => Err(String::new()),
        };
        let _ = replace_local(&p, old.as_bytes(), mode, holds_new);
    }
    ctx.engine.reconnect_all(ctx.deployment());
    Ok(())
}

/// Step: the old key removed from one `authorized_keys` file (the new one is there, and
/// the console logs in with it).
struct RemoveKey {
    host: String,
    path: String,
    old: String,
    new: String,
    local: PathBuf,
    /// The key file step's record (where the old key is kept).
    key_back: Arc<Mutex<Option<KeyFileBack>>>,
    done: Mutex<Option<KeysBack>>,
}

impl Step for RemoveKey {
    fn description(&self) -> String {
        format!("{}: remove the old key from {}", self.host, self.path)
    }

    fn run<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, Result<StepDone>> {
        Box::pin(async move {
            if !console_holds(&self.local, &self.new) {
                return Err(unavailable(format!(
                    "{}: the console's key file does not hold the new key: the old one is not removed from {}",
                    self.host, self.path
                )));
            }
            let f = read_keys(ctx, &self.host, &self.path)
                .await?
                .ok_or_else(|| unavailable(format!("{}: {} is gone", self.host, self.path)))?;
            if lines_of(&f.text, &self.new).is_empty() {
                return Err(unavailable(format!(
                    "{}: {} does not hold the new key: the old one stays",
                    self.host, f.path
                )));
            }
            let (text, removed) = without_key(&f.text, &self.old);
            if removed.is_empty() {
                return Ok(StepDone {
                    detail: format!("{}: {} holds no old key any more", self.host, f.path),
                    changed: 0,
                });
            }
            let replaced = write_keys(ctx, &self.host, &f.path, &f.sha, &text).await?;
            if let Ok(mut d) = self.done.lock() {
                *d = Some(KeysBack {
                    path: replaced.target.clone(),
                    backup: replaced.backup.clone(),
                    wrote_sha256: hex::encode(Sha256::digest(text.as_bytes())),
                    before_sha256: f.sha.clone(),
                    remove_key: None,
                    add_lines: removed.clone(),
                    kept: self
                        .key_back
                        .lock()
                        .ok()
                        .and_then(|d| d.as_ref().map(|b| b.kept.clone())),
                });
            }
            Ok(StepDone {
                detail: format!(
                    "{}: {} line(s) of the old key {} removed from {}; the old file kept as {}",
                    self.host,
                    removed.len(),
                    id_fingerprint(&self.old),
                    replaced.target,
                    replaced.backup
                ),
                changed: 1,
            })
        })
    }

    fn undo(&self) -> Option<ActionSpec> {
        Some(ActionSpec::RotateSshKeyUndo(RotateSshKeyUndo {
            host: Some(self.host.clone()),
            keys: self.done.lock().ok().and_then(|d| d.clone()),
            key_file: None,
        }))
    }
}

/// The last step: a fresh connection with the old key is refused by every host, one
/// with the key file (the new key) let in.
struct Prove {
    hosts: Vec<String>,
    local: LocalKey,
    done: Arc<Mutex<Option<KeyFileBack>>>,
}

impl Step for Prove {
    fn description(&self) -> String {
        "prove on fresh connections that every host refuses the old key and lets the new one in".into()
    }

    fn run<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, Result<StepDone>> {
        Box::pin(async move {
            let back = self
                .done
                .lock()
                .ok()
                .and_then(|d| d.clone())
                .ok_or_else(|| unavailable("the key file step left no record of the old key"))?;
            let pass = self.local.passphrase(ctx).await?;
            let old = Arc::new(private_of_file(Path::new(&back.kept), pass.as_ref())?);
            let mut problems = Vec::new();
            for host in &self.hosts {
                match ctx
                    .engine
                    .connect_with(ctx.deployment(), host, Credential::Key(old.clone()))
                    .await
                {
                    Err(Error::Ssh(e)) if matches!(*e, SshError::AuthRejected { .. }) => {}
                    Ok(s) => {
                        s.close().await;
                        problems.push(format!("{host} still accepts the old key"));
                    }
                    Err(e) => problems.push(format!("{host}: the old key could not be tried ({e})")),
                }
                match ctx.engine.connect_fresh(ctx.deployment(), host).await {
                    Ok(s) => s.close().await,
                    Err(e) => problems.push(format!("{host} does not let the new key in ({e})")),
                }
            }
            if !problems.is_empty() {
                return Err(unavailable(problems.join("; ")));
            }
            Ok(StepDone {
                detail: format!(
                    "{} host(s) refuse the old key {} and let the new one {} in",
                    self.hosts.len(),
                    id_fingerprint(&back.old_key),
                    id_fingerprint(&back.new_key)
                ),
                changed: 0,
            })
        })
    }

    fn undo(&self) -> Option<ActionSpec> {
        Some(nothing_spec())
    }
}

// ---------------------------------------------------------------------------------
// Undo

impl Action for RotateSshKeyUndo {
    fn plan<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, Result<Planned>> {
        Box::pin(async move {
            let mut steps: Vec<Box<dyn Step>> = Vec::new();
            let mut sample = Vec::new();
            let mut warnings = Vec::new();
            let mut summary = None;
            if let (Some(host), Some(k)) = (&self.host, &self.keys) {
                let f = read_keys(ctx, host, &k.path)
                    .await?
                    .ok_or_else(|| unavailable(format!("{host}: {} is gone", k.path)))?;
                // What the file needs now; an earlier undo step of the same run may
                // change it before this one runs, which decides again.
                if undone_text(&f.text, k) != f.text {
                    if let Some(kept) = &k.kept
                        && !k.add_lines.is_empty()
                        && !Path::new(kept).exists()
                    {
                        return Err(unavailable(format!(
                            "the old key's private half ({kept}) is gone: its public key is not put back on {host}, where it would let in whoever else holds it and not this console; rotate again instead"
                        )));
                    }
                    let step = KeysUndo {
                        host: host.clone(),
                        back: k.clone(),
                    };
                    sample.push(step.description());
                    summary = Some(step.description());
                    steps.push(Box::new(step));
                }
            }
            if let Some(back) = &self.key_file {
                let now = key_now(ctx, Path::new(&back.path)).await;
                if now.as_deref() == Some(back.new_key.as_str()) {
                    sample.push(format!(
                        "{} back to the old key {} (from {})",
                        back.path,
                        id_fingerprint(&back.old_key),
                        back.kept
                    ));
                    warnings.push(format!(
                        "the old key {} becomes the console's key again",
                        id_fingerprint(&back.old_key)
                    ));
                    summary = Some(format!(
                        "the old key {} back as the console's key",
                        id_fingerprint(&back.old_key)
                    ));
                    steps.push(Box::new(RestoreKeyFile { back: back.clone() }));
                } else if now.as_deref() != Some(back.old_key.as_str()) {
                    return Err(unavailable(format!(
                        "{} holds neither the old key nor the new one of the rotation: left as it is",
                        back.path
                    )));
                }
            }
            let plan = Plan {
                action: "rotate-ssh-key-undo".into(),
                deployment: ctx.deployment().to_owned(),
                summary: summary
                    .unwrap_or_else(|| "nothing of the SSH key rotation left to undo here".into()),
                count: i64::try_from(steps.len()).unwrap_or(0),
                sample,
                steps: Vec::new(),
                reversible: Vec::new(),
                destructive: true,
                warnings,
                digest: String::new(),
            };
            Ok(Planned::new(plan, steps))
        })
    }

    fn verify<'a>(&'a self, ctx: &'a Ctx<'_>, _plan: &'a Plan) -> BoxFuture<'a, Result<Verdict>> {
        Box::pin(async move {
            let mut problems = Vec::new();
            if let (Some(host), Some(k)) = (&self.host, &self.keys)
                && let Some(f) = read_keys(ctx, host, &k.path).await?
            {
                if let Some(id) = &k.remove_key
                    && !lines_of(&f.text, id).is_empty()
                {
                    problems.push(format!("{host}: {} still holds the new key", f.path));
                }
                for l in &k.add_lines {
                    if let Some((_, id)) = parse_line(l)
                        && lines_of(&f.text, &id).is_empty()
                    {
                        problems.push(format!("{host}: {} does not hold the old key", f.path));
                    }
                }
            }
            if let Some(back) = &self.key_file {
                let now = key_now(ctx, Path::new(&back.path)).await;
                if now.as_deref() != Some(back.old_key.as_str()) {
                    problems.push(format!("{} does not hold the old key", back.path));
                }
            }
            Ok(Verdict::new(
                problems.is_empty(),
                if problems.is_empty() {
                    "undone".to_owned()
                } else {
                    problems.join("; ")
                },
            )
            .by(Vantage::Hosts))
        })
    }
}

/// The text that undoes `k` on a file that holds `text`: the new key's lines out, the
/// old key's lines back (those of them not there).
fn undone_text(text: &str, k: &KeysBack) -> String {
    let mut edited = text.to_owned();
    if let Some(id) = &k.remove_key {
        edited = without_key(&edited, id).0;
    }
    for l in &k.add_lines {
        if let Some((_, id)) = parse_line(l)
            && lines_of(&edited, &id).is_empty()
        {
            edited = with_line(&edited, l);
        }
    }
    edited
}

/// Undo step: one `authorized_keys` file as it was. Decided when it runs (the undo of a
/// whole run plans every step first, and an earlier one may change the same file): the
/// backup back when the file is still exactly what the rotation wrote, else the lines
/// edited.
struct KeysUndo {
    host: String,
    back: KeysBack,
}

impl Step for KeysUndo {
    fn description(&self) -> String {
        match &self.back.remove_key {
            Some(id) => format!(
                "{}: the new key {} out of {}",
                self.host,
                id_fingerprint(id),
                self.back.path
            ),
            None => format!("{}: the old key back in {}", self.host, self.back.path),
        }
    }

    fn run<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, Result<StepDone>> {
        Box::pin(async move {
            let k = &self.back;
            // Never take from a host the key the console logs in with, nor one it may
            // log in with (a key file that cannot be read is not proof it does not).
            if let Some(id) = &k.remove_key {
                let local = local_key(ctx, false).await.map_err(|e| {
                    unavailable(format!(
                        "{}: the console's own key file cannot be checked ({e}): no key is removed from {} while it may be the one the console logs in with",
                        self.host, k.path
                    ))
                })?;
                match key_now(ctx, &local.target).await {
                    Some(now) if now != *id => {}
                    Some(_) => {
                        return Err(unavailable(format!(
                            "{}: the console's key file holds the key this would remove from {}: it stays (the old key file must be back first)",
                            self.host, k.path
                        )));
                    }
                    None => {
                        return Err(unavailable(format!(
                            "{}: the console's key file {} cannot be read: no key is removed from {} while it may be the one the console logs in with",
                            self.host,
                            local.target.display(),
                            k.path
                        )));
                    }
                }
            }
            let f = read_keys(ctx, &self.host, &k.path)
                .await?
                .ok_or_else(|| unavailable(format!("{}: {} is gone", self.host, k.path)))?;
            let edited = undone_text(&f.text, k);
            if edited == f.text {
                return Ok(StepDone {
                    detail: format!("{}: {} needed no change", self.host, f.path),
                    changed: 0,
                });
            }
            let backup = if f.sha == k.wrote_sha256 && !k.backup.is_empty() {
                read_keys(ctx, &self.host, &k.backup)
                    .await?
                    .filter(|b| b.sha == k.before_sha256)
            } else {
                None
            };
            let (text, how) = match backup {
                Some(b) => (b.text, format!("back from {}", k.backup)),
                None => (
                    edited,
                    "edited line by line (it changed since the rotation wrote it)".to_owned(),
                ),
            };
            write_keys(ctx, &self.host, &f.path, &f.sha, &text).await?;
            Ok(StepDone {
                detail: format!("{}: {} {how}", self.host, f.path),
                changed: 1,
            })
        })
    }
}

/// Undo step: the old key file back, once every host accepts the old key again.
struct RestoreKeyFile {
    back: KeyFileBack,
}

impl Step for RestoreKeyFile {
    fn description(&self) -> String {
        format!(
            "{} back to the old key (from {}) once every host accepts it; the console reconnects with it",
            self.back.path, self.back.kept
        )
    }

    fn run<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, Result<StepDone>> {
        Box::pin(async move {
            let local = local_key(ctx, false).await?;
            let pass = local.passphrase(ctx).await?;
            let old = Arc::new(private_of_file(Path::new(&self.back.kept), pass.as_ref())?);
            // Never put back a key a host would refuse.
            let mut refused = Vec::new();
            for h in &ctx.profile.hosts {
                let host = h.name.get_ref();
                match ctx
                    .engine
                    .connect_with(ctx.deployment(), host, Credential::Key(old.clone()))
                    .await
                {
                    Ok(s) => s.close().await,
                    Err(e) => refused.push(format!("{host} ({e})")),
                }
            }
            if !refused.is_empty() {
                return Err(unavailable(format!(
                    "the old key is not accepted by {}: the console keeps the new key, which every host still accepts",
                    refused.join(", ")
                )));
            }
            restore_key_file(ctx, &self.back, pass.as_ref()).await?;
            Ok(StepDone {
                detail: format!(
                    "{} holds the old key {} again; the console reconnects with it",
                    self.back.path,
                    id_fingerprint(&self.back.old_key)
                ),
                changed: 1,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGw5nHzCl0wQ7xq2FpM0Yr0zWcHkA4xgQm6hVbVn1kXh";
    const B: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBm8p2vQ5yTt4QnJtqkWq0mQ7t1m3Q2Ff0k3ZC0c7z4a";

    #[test]
    fn lines_are_read_with_their_options() {
        assert_eq!(
            parse_line(&format!("{A} me@x\n")),
            Some((String::new(), A.into()))
        );
        let opt = format!("from=\"10.0.0.1, 10.0.0.2\",command=\"echo \\\"a b\\\"\" {A} c");
        assert_eq!(
            parse_line(&opt),
            Some((
                "from=\"10.0.0.1, 10.0.0.2\",command=\"echo \\\"a b\\\"\"".into(),
                A.into()
            ))
        );
        assert_eq!(
            parse_line(&format!("restrict {B}\r\n")),
            Some(("restrict".into(), B.into()))
        );
        assert_eq!(parse_line("# a comment"), None);
        assert_eq!(parse_line("   "), None);
        assert_eq!(parse_line("garbage"), None);
        assert_eq!(parse_line("opts notakey AAAA"), None);
    }

    #[test]
    fn a_key_is_removed_and_every_other_byte_kept() {
        let text = format!("# keys\r\n{A} old\r\nrestrict {B} other\r\n  from=\"x\" {A} again\r\nlast");
        assert_eq!(lines_of(&text, A).iter().map(|l| l.0).collect::<Vec<_>>(), [2, 4]);
        let (kept, removed) = without_key(&text, A);
        assert_eq!(kept, format!("# keys\r\nrestrict {B} other\r\nlast"));
        assert_eq!(removed, [format!("{A} old"), format!("  from=\"x\" {A} again")]);
        // Added back in the file's own line ending, after a missing final one.
        assert_eq!(
            with_line(&kept, "x"),
            format!("# keys\r\nrestrict {B} other\r\nlast\r\nx\r\n")
        );
        assert_eq!(with_line("", "x"), "x\n");
        assert_eq!(with_line("a\n", "x"), "a\nx\n");
    }

    #[test]
    fn authorized_keys_file_tokens_expand_like_sshd() {
        let e = |t| expand_akf(t, "/home/u", "u", "1000");
        assert_eq!(
            e(".ssh/authorized_keys").as_deref(),
            Some("/home/u/.ssh/authorized_keys")
        );
        assert_eq!(e("/etc/ssh/keys/%u").as_deref(), Some("/etc/ssh/keys/u"));
        assert_eq!(e("%h/k%%%U").as_deref(), Some("/home/u/k%1000"));
        assert_eq!(e("~/k").as_deref(), Some("/home/u/k"));
        assert_eq!(e("/x/%z"), None);
    }

    #[test]
    fn a_new_key_is_ed25519_encrypted_with_the_passphrase_and_never_shown() {
        let k = NewKey::generate("breakglass t 2026-01-01").unwrap();
        assert!(k.id.starts_with("ssh-ed25519 "));
        assert!(k.fingerprint.starts_with("SHA256:"));
        let pass = Sensitive::new("correct horse".to_owned());
        let text = k.file_text(Some(&pass)).unwrap();
        assert!(text.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));
        let back = russh::keys::decode_secret_key(&text, Some("correct horse")).unwrap();
        assert_eq!(key_id(back.public_key()), k.id);
        assert!(russh::keys::decode_secret_key(&text, Some("wrong")).is_err());
        // The public half is readable without the passphrase (the interlocks use it).
        assert_eq!(key_id(&public_of_bytes(text.as_bytes(), None).unwrap()), k.id);
        let plain = k.file_text(None).unwrap();
        assert_eq!(
            key_id(russh::keys::decode_secret_key(&plain, None).unwrap().public_key()),
            k.id
        );
        assert_eq!(
            k.line("from=\"1.2.3.4\""),
            format!("from=\"1.2.3.4\" {} breakglass t 2026-01-01", k.id)
        );
        assert_ne!(NewKey::generate("x").unwrap().id, k.id);
    }

    #[test]
    fn the_old_fingerprint_is_read_back_from_the_plan() {
        let plan = Plan {
            action: "rotate-ssh-key".into(),
            deployment: "d".into(),
            summary: "replace the console's SSH key SHA256:ab+/c9 (~/.ssh/id) with …".into(),
            count: 1,
            sample: vec![],
            steps: vec![],
            reversible: vec![],
            destructive: true,
            warnings: vec![],
            digest: String::new(),
        };
        assert_eq!(old_fingerprint(&plan).as_deref(), Some("SHA256:ab+/c9"));
    }

    #[test]
    fn a_local_file_is_replaced_atomically_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("k");
        std::fs::write(&f, b"old").unwrap();
        let e = replace_local(&f, b"new", 0o600, || Err("no".into())).unwrap_err();
        assert_eq!(e, "no");
        assert_eq!(std::fs::read(&f).unwrap(), b"old");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file left"
        );
        replace_local(&f, b"new", 0o600, || Ok(())).unwrap();
        assert_eq!(std::fs::read(&f).unwrap(), b"new");
        assert_eq!(mode_of(&f), Some(0o600));
        let kept = kept_path(&f);
        assert!(kept.to_string_lossy().contains("k.old-"), "{kept:?}");
    }
}
