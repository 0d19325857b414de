//! Replacing a host's `.env` in place, atomically, for rotation: the new bytes go to a
//! temporary file in the same folder (same owner and mode), are flushed to disk, and
//! renamed over the file only if it still holds what was read when the change was
//! planned (its SHA-256); the folder is flushed after. A mode-600 copy of the old file is
//! kept beside it. A symlinked `.env` is written through to its target, never replaced
//! by a file. The bytes travel on stdin, never in a command line. Whatever fails before
//! the rename (disk full, a changed file, a cancel) leaves the file as it was and no
//! temporary file behind.

use sha2::{Digest, Sha256};

use crate::engine::ssh::Session;
use crate::engine::ssh::output::{display_safe, shell_quote};

/// Where the new bytes went, and the copy of the old ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replaced {
    /// The file written (the symlink's target when the `.env` is a symlink).
    pub target: String,
    /// The mode-600 copy of what it held before.
    pub backup: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplaceError {
    #[error("{path} changed since it was read: nothing was written (plan again)")]
    Changed { path: String },
    #[error("{path} cannot be replaced: {detail}")]
    Refused { path: String, detail: String },
    #[error("{path} was written, but reads back differently: {detail}")]
    Mismatch { path: String, detail: String },
    #[error(transparent)]
    Ssh(#[from] crate::engine::ssh::SshError),
}

/// The script that replaces `path`: the new bytes on its stdin, `expected` the SHA-256
/// the file must still have, `stamp` naming the backup. It holds no byte of either file.
pub fn command(path: &str, expected: &str, stamp: &str) -> String {
    let hex = |s: &str| s.chars().all(|c| c.is_ascii_hexdigit());
    let expected = if hex(expected) { expected } else { "" };
    let stamp: String = stamp
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    format!(
        r#"set -eu
f={path}
t=$(readlink -f -- "$f") || {{ echo "its path does not resolve" >&2; exit 4; }}
[ -f "$t" ] || {{ echo "$t is not a regular file" >&2; exit 4; }}
d=$(dirname -- "$t"); b=$(basename -- "$t")
tmp=$(mktemp -- "$d/.$b.bg-new-XXXXXX")
trap 'rm -f -- "$tmp"' EXIT HUP INT TERM
cat > "$tmp"
chown --reference="$t" -- "$tmp"
chmod --reference="$t" -- "$tmp"
sync -- "$tmp"
now=$(sha256sum < "$t"); now=${{now%% *}}
[ "$now" = "{expected}" ] || {{ echo "changed since it was read" >&2; exit 3; }}
bk="$d/.$b.bg-backup-{stamp}"
(umask 077; cat -- "$t" > "$bk"); chmod 600 -- "$bk"; sync -- "$bk"
mv -f -- "$tmp" "$t"
trap - EXIT HUP INT TERM
sync -- "$d" 2>/dev/null || true
after=$(sha256sum < "$t"); after=${{after%% *}}
printf '%s\n%s\n%s\n' "$t" "$bk" "$after""#,
        path = shell_quote(path),
    )
}

/// Replaces `path` on the host with `new`, if it still has the SHA-256 `expected`.
pub async fn replace(
    session: &Session,
    path: &str,
    expected: &str,
    new: &[u8],
) -> Result<Replaced, ReplaceError> {
    let stamp = format!(
        "{}-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        hex::encode(rand::random::<[u8; 3]>())
    );
    let out = session
        .exec_capped(&command(path, expected, &stamp), Some(new), 64 * 1024)
        .await?;
    let stderr = display_safe(&out.stderr).trim().to_owned();
    match out.status {
        Some(0) => {}
        Some(3) => {
            return Err(ReplaceError::Changed {
                path: path.to_owned(),
            });
        }
        _ => {
            return Err(ReplaceError::Refused {
                path: path.to_owned(),
                detail: if stderr.is_empty() {
                    "the write failed (no message)".into()
                } else {
                    stderr
                },
            });
        }
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let (Some(target), Some(backup), Some(after)) = (lines.next(), lines.next(), lines.next()) else {
        return Err(ReplaceError::Mismatch {
            path: path.to_owned(),
            detail: "the host did not say where it wrote".into(),
        });
    };
    if after != hex::encode(Sha256::digest(new)) {
        return Err(ReplaceError::Mismatch {
            path: path.to_owned(),
            detail: "its SHA-256 is not the new content's (another writer?)".into(),
        });
    }
    Ok(Replaced {
        target: target.to_owned(),
        backup: backup.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_holds_no_content_and_no_injection() {
        let c = command("/srv/app/.env'; rm -rf /", &"ab".repeat(32), "1-x;y");
        assert!(c.contains("f='/srv/app/.env'\\''; rm -rf /'"), "{c}");
        assert!(c.contains("bg-backup-1-xy"), "{c}");
        // Not hex: never matches, so nothing is written.
        let c = command("/e", "$(reboot)", "s");
        assert!(!c.contains("reboot"), "{c}");
        assert!(c.contains("[ \"$now\" = \"\" ]"), "{c}");
    }
}
