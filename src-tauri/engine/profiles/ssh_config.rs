//! `~/.ssh/config` host aliases, so a profile can say `ssh_alias = "prod-web1"` and reuse
//! what the admin already wrote for plain `ssh`: HostName, User, Port, IdentityFile and
//! ProxyJump. As in OpenSSH, the first value found for a keyword wins, and `Host`
//! patterns may use `*`, `?` and `!negation`.

use std::path::Path;

/// What `~/.ssh/config` says about one alias.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SshAlias {
    pub host_name: Option<String>,
    pub user: Option<String>,
    pub port: Option<u16>,
    pub identity_file: Option<String>,
    pub proxy_jump: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct SshConfigError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

/// Resolves `alias` in the config text. `None` when no `Host` block matches it.
pub fn resolve(text: &str, file: &str, alias: &str) -> Result<Option<SshAlias>, SshConfigError> {
    let mut out = SshAlias::default();
    let mut matched_any = false;
    let mut active = true; // lines before the first Host apply to every host
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = split_kv(line).ok_or_else(|| SshConfigError {
            file: file.into(),
            line: i + 1,
            message: "expected `Keyword value`".into(),
        })?;
        let value = value.trim_matches('"');
        match key.to_ascii_lowercase().as_str() {
            "host" => {
                active = host_matches(value, alias);
                matched_any |= active;
            }
            "match" => active = false, // `Match` blocks need ssh's runtime context: skipped.
            _ if !active => {}
            "hostname" => set(&mut out.host_name, value.replace("%h", alias)),
            "user" => set(&mut out.user, value.to_owned()),
            "identityfile" => set(&mut out.identity_file, value.to_owned()),
            "proxyjump" if !value.eq_ignore_ascii_case("none") => set(&mut out.proxy_jump, value.to_owned()),
            "port" => {
                let port = value
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| SshConfigError {
                        file: file.into(),
                        line: i + 1,
                        message: format!("Port: expected 1 to 65535, found {value:?}"),
                    })?;
                if out.port.is_none() {
                    out.port = Some(port);
                }
            }
            _ => {}
        }
    }
    Ok(matched_any.then_some(out))
}

/// Reads and resolves from a file (a missing file matches nothing).
pub fn resolve_file(path: &Path, alias: &str) -> Result<Option<SshAlias>, SshConfigError> {
    match std::fs::read_to_string(path) {
        Ok(text) => resolve(&text, &path.display().to_string(), alias),
        Err(_) => Ok(None),
    }
}

fn set(slot: &mut Option<String>, value: String) {
    if slot.is_none() {
        *slot = Some(value);
    }
}

fn split_kv(line: &str) -> Option<(&str, &str)> {
    let idx = line.find(|c: char| c.is_whitespace() || c == '=')?;
    let (k, rest) = line.split_at(idx);
    let v = rest
        .trim_start_matches(|c: char| c.is_whitespace() || c == '=')
        .trim();
    (!v.is_empty()).then_some((k, v))
}

/// `Host a b*` with `!neg` patterns, as OpenSSH matches them.
fn host_matches(patterns: &str, alias: &str) -> bool {
    let mut any = false;
    for p in patterns.split_whitespace() {
        if let Some(neg) = p.strip_prefix('!') {
            if glob(neg, alias) {
                return false;
            }
        } else if glob(p, alias) {
            any = true;
        }
    }
    any
}

fn glob(pattern: &str, s: &str) -> bool {
    let (p, s): (Vec<char>, Vec<char>) = (pattern.chars().collect(), s.chars().collect());
    let (mut pi, mut si, mut star, mut mark) = (0, 0, None, 0);
    while si < s.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some(pi);
                mark = si;
                pi += 1;
            }
            Some(c) if *c == '?' || Some(c) == s.get(si) => {
                pi += 1;
                si += 1;
            }
            _ => match star {
                Some(st) => {
                    pi = st + 1;
                    mark += 1;
                    si = mark;
                }
                None => return false,
            },
        }
    }
    p.get(pi..).is_some_and(|rest| rest.iter().all(|c| *c == '*'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "
User fallback
Host prod-web*  !prod-web9
    HostName %h.example.com
    Port 2222
    IdentityFile ~/.ssh/prod
    ProxyJump bastion
Host prod-web1
    User first-wins-not-me
    HostName ignored
Host *
    User everyone
    Port 22
";

    #[test]
    fn resolves_like_openssh_first_value_wins() {
        let a = resolve(CONFIG, "cfg", "prod-web1").unwrap().unwrap();
        assert_eq!(a.host_name.as_deref(), Some("prod-web1.example.com"));
        assert_eq!(a.user.as_deref(), Some("fallback"));
        assert_eq!(a.port, Some(2222));
        assert_eq!(a.identity_file.as_deref(), Some("~/.ssh/prod"));
        assert_eq!(a.proxy_jump.as_deref(), Some("bastion"));

        let neg = resolve(CONFIG, "cfg", "prod-web9").unwrap().unwrap();
        assert_eq!((neg.host_name, neg.port), (None, Some(22)));
    }

    #[test]
    fn unknown_aliases_and_bad_lines() {
        assert_eq!(resolve("Host a\n HostName x\n", "c", "b").unwrap(), None);
        let e = resolve("Host a\n Port eighty\n", "c", "a").unwrap_err();
        assert_eq!((e.line, e.message.contains("eighty")), (2, true));
        assert!(resolve("Host a\n  Lonely\n", "c", "a").is_err());
    }

    #[test]
    fn globs() {
        assert!(glob("*", "x") && glob("a?c", "abc") && glob("*.example.*", "w.example.com"));
        assert!(!glob("a?c", "ac") && !glob("web", "web1"));
    }
}
