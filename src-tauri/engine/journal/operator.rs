//! Who is acting, for the journal: `user@host` from the OS, not from the environment.
//! The user is the account of the process's uid (the owner of `/proc/self`, looked up in
//! `/etc/passwd`); `$USER` only if that fails. The host is the kernel's host name.
//! An operator who can run the console can still lie about neither without changing
//! accounts: `USER=alice breakglass …` records the real account.

use std::os::unix::fs::MetadataExt;

/// `user@host` of the OS account running the console (`user` alone if the host name is
/// unknown; `uid<N>` if the uid has no name).
pub fn operator() -> String {
    let user = account().unwrap_or_else(|| {
        std::env::var("USER")
            .ok()
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| "unknown".into())
    });
    match hostname() {
        Some(host) => format!("{user}@{host}"),
        None => user,
    }
}

/// The account name of the process's uid, or `uid<N>` for a uid without a name.
fn account() -> Option<String> {
    let uid = std::fs::metadata("/proc/self").ok()?.uid();
    let name = std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|p| account_name(&p, uid));
    Some(name.unwrap_or_else(|| format!("uid{uid}")))
}

/// The name of `uid` in a passwd(5) file's text.
fn account_name(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let _password = fields.next()?;
        let id: u32 = fields.next()?.trim().parse().ok()?;
        (id == uid && !name.is_empty() && !name.starts_with('#')).then(|| name.to_owned())
    })
}

fn hostname() -> Option<String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| {
            let h = std::fs::read_to_string(p).ok()?;
            let h = h.trim();
            (!h.is_empty() && !h.chars().any(|c| c.is_control() || c.is_whitespace())).then(|| h.to_owned())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_passwd() {
        let passwd = "# comment\nroot:x:0:0:root:/root:/bin/bash\n\
                      bad:x:notanumber:0::/:/bin/sh\nalice:x:1000:1000:Alice:/home/alice:/bin/zsh\n";
        assert_eq!(account_name(passwd, 0).as_deref(), Some("root"));
        assert_eq!(account_name(passwd, 1000).as_deref(), Some("alice"));
        assert_eq!(account_name(passwd, 1001), None);
        assert_eq!(account_name("", 0), None);
    }

    #[test]
    fn the_operator_is_the_os_account_at_the_kernel_host_name() {
        let op = operator();
        let uid = std::fs::metadata("/proc/self").unwrap().uid();
        let out = std::process::Command::new("id").arg("-un").output().unwrap();
        let expected_user = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .unwrap()
            .trim()
            .to_owned();
        assert_eq!(op, format!("{expected_user}@{host}"), "uid {uid}");
        assert_ne!(op.split('@').next(), Some("unknown"));
    }
}
