//! Host checks beyond sshd: the firewall, automatic security updates, and the `.env`'s
//! values in the history of the git repository it sits in (searched here, on the
//! console's side: the values never reach the server).

use super::{F, Finding, Verdict, evidence};
use crate::engine::ssh::Session;
use crate::engine::ssh::output::{display_safe, shell_quote};

/// What the firewall tools printed, section by section (`## nft`, `## iptables`,
/// `## ufw`).
pub fn judge_firewall(text: &str) -> (Verdict, String) {
    let section = |name: &str| -> Option<&str> {
        let start = text.find(&format!("## {name}\n"))? + name.len() + 4;
        let rest = &text[start..];
        Some(rest.split("\n## ").next().unwrap_or(rest))
    };
    let answered = |s: &str| {
        !s.trim().is_empty()
            && !s.contains("not found")
            && !s.contains("ermission denied")
            && !s.contains("must be root")
            && !s.contains("Operation not permitted")
    };
    let ufw = section("ufw").filter(|s| answered(s));
    if let Some(u) = ufw
        && u.lines().any(|l| l.trim() == "Status: active")
    {
        return (Verdict::Pass, "ufw is active".into());
    }
    let nft = section("nft").filter(|s| answered(s));
    if let Some(n) = nft {
        // A base chain on the input hook that drops what no rule accepted.
        let mut in_input = false;
        for l in n.lines().map(str::trim) {
            if l.starts_with("chain ") {
                in_input = false;
            }
            if l.contains("hook input") {
                in_input = true;
                if l.contains("policy drop") {
                    return (Verdict::Pass, "nftables: the input chain's policy is drop".into());
                }
            }
            if in_input
                && (l == "drop" || l.ends_with(" drop") || l.ends_with(" reject") || l == "reject")
                && !l.contains("ct state")
            {
                return (
                    Verdict::Pass,
                    "nftables: the input chain ends in drop/reject".into(),
                );
            }
        }
    }
    let ipt = section("iptables").filter(|s| answered(s));
    if let Some(i) = ipt {
        if i.lines()
            .any(|l| l.trim() == "-P INPUT DROP" || l.trim() == "-P INPUT REJECT")
        {
            return (Verdict::Pass, "iptables: the INPUT policy is DROP".into());
        }
        if i.lines().any(|l| {
            let l = l.trim();
            l.starts_with("-A INPUT")
                && (l.ends_with("-j DROP")
                    || l.ends_with("-j REJECT")
                    || l.contains("-j REJECT --reject-with"))
                && !l.contains(" -s ")
                && !l.contains(" --dport ")
                && !l.contains(" -p ")
        }) {
            return (
                Verdict::Pass,
                "iptables: INPUT ends in a catch-all DROP/REJECT".into(),
            );
        }
    }
    if ufw.is_none() && nft.is_none() && ipt.is_none() {
        return (
            Verdict::Unknown,
            "no firewall tool answered (nft, iptables and ufw missing, or not allowed without root)".into(),
        );
    }
    let what = [
        (ufw.is_some(), "ufw inactive"),
        (nft.is_some(), "no nftables input chain that drops"),
        (ipt.is_some(), "iptables INPUT accepts by default"),
    ]
    .into_iter()
    .filter(|(p, _)| *p)
    .map(|(_, w)| w)
    .collect::<Vec<_>>()
    .join("; ");
    (
        Verdict::Fail,
        format!("no inbound firewall: {what} (every listening port is reachable from the network)"),
    )
}

/// What `apt-config`, `dpkg-query` and `systemctl` printed about automatic updates.
pub fn judge_updates(text: &str) -> (Verdict, String) {
    let line = |key: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(key))
            .map(str::trim)
    };
    let installed = text.lines().any(|l| l.trim() == "uu: install ok installed");
    let enabled = line("APT::Periodic::Unattended-Upgrade ")
        .is_some_and(|l| l.contains("\"1\"") || l.contains("\"always\""));
    let lists = line("APT::Periodic::Update-Package-Lists ")
        .is_some_and(|l| l.contains("\"1\"") || l.contains("\"always\""));
    let dnf = text.lines().any(|l| l.trim() == "dnf: enabled");
    if text.lines().any(|l| l.trim() == "apt: yes") {
        return match (installed, enabled, lists) {
            (true, true, true) => (Verdict::Pass, "unattended-upgrades installed and enabled (APT::Periodic)".into()),
            (true, true, false) => (Verdict::Warn, "unattended-upgrades enabled, but package lists are not refreshed (APT::Periodic::Update-Package-Lists)".into()),
            (true, false, _) => (Verdict::Fail, "unattended-upgrades is installed but not enabled (APT::Periodic::Unattended-Upgrade is not \"1\")".into()),
            (false, _, _) => (Verdict::Fail, "unattended-upgrades is not installed: security updates wait for a person".into()),
        };
    }
    if dnf {
        return (Verdict::Pass, "dnf-automatic's timer is enabled".into());
    }
    if text.lines().any(|l| l.trim() == "dnf: yes") {
        return (Verdict::Fail, "dnf-automatic's timer is not enabled".into());
    }
    (
        Verdict::Unknown,
        "neither apt nor dnf found: automatic updates not checked".into(),
    )
}

/// Where a value of the `.env` was found in the repository's history: the commit and
/// file of the diff line, never the line.
pub fn search_history(log: &[u8], secrets: &[(String, String)]) -> Vec<(String, String, String)> {
    let mut found: Vec<(String, String, String)> = Vec::new();
    let (mut commit, mut file) = (String::new(), String::new());
    for line in log.split(|b| *b == b'\n') {
        if let Some(c) = line.strip_prefix(b"commit ") {
            commit = String::from_utf8_lossy(c).chars().take(12).collect();
            continue;
        }
        if let Some(p) = line
            .strip_prefix(b"+++ b/")
            .or_else(|| line.strip_prefix(b"--- a/"))
        {
            file = display_safe(p);
            continue;
        }
        if !(line.starts_with(b"+") || line.starts_with(b"-")) {
            continue;
        }
        for (name, value) in secrets {
            if value.len() >= 8
                && line.windows(value.len()).any(|w| w == value.as_bytes())
                && !found.iter().any(|(n, _, f)| n == name && f == &file)
            {
                found.push((name.clone(), commit.clone(), file.clone()));
            }
        }
    }
    found
}

pub async fn firewall(session: &Session, host: &str, secrets: &[String]) -> Finding {
    let cmd = "for t in nft iptables ufw; do echo \"## $t\"; case $t in nft) a='list ruleset';; iptables) a='-S INPUT';; ufw) a=status;; esac; \
               if command -v $t >/dev/null 2>&1 || [ -x /usr/sbin/$t ]; then { PATH=$PATH:/usr/sbin:/sbin $t $a 2>&1 || sudo -n $t $a 2>&1; } | head -c 200000; else echo \"$t: not found\"; fi; done";
    let f = F {
        check: "host.firewall",
        host,
        checklist: "Firewall active, allowing only SSH, HTTP and HTTPS — seeds 001 (Network Security), 004",
    };
    match session.exec_capped(cmd, None, 1 << 20).await {
        Ok(o) => {
            let text = String::from_utf8_lossy(&o.stdout);
            let (verdict, detail) = judge_firewall(&text);
            f.finding(
                None,
                verdict,
                detail,
                Some(evidence("nft list ruleset; iptables -S INPUT; ufw status", &o.stdout, secrets)),
                "enable a firewall that drops inbound by default and allows 22, 80, 443 (`ufw default deny incoming; ufw allow 22,80,443/tcp; ufw enable`); note that ports Docker publishes bypass INPUT (DOCKER-USER chain)",
            )
        }
        Err(e) => f.finding(None, Verdict::Unknown, format!("not checked: {e}"), None, ""),
    }
}

pub async fn updates(session: &Session, host: &str, secrets: &[String]) -> Finding {
    let cmd = "if command -v apt-config >/dev/null 2>&1; then echo 'apt: yes'; \
               echo \"uu: $(dpkg-query -W -f='${Status}' unattended-upgrades 2>/dev/null)\"; \
               apt-config dump APT::Periodic 2>/dev/null; fi; \
               if command -v dnf >/dev/null 2>&1; then echo 'dnf: yes'; \
               systemctl is-enabled dnf-automatic-install.timer dnf-automatic.timer 2>/dev/null | grep -qx enabled && echo 'dnf: enabled'; fi; true";
    let f = F {
        check: "host.auto_updates",
        host,
        checklist: "Automatic security updates enabled — seed 001 (Server Security)",
    };
    match session.exec(cmd, None).await {
        Ok(o) => {
            let text = String::from_utf8_lossy(&o.stdout);
            let (verdict, detail) = judge_updates(&text);
            f.finding(
                None,
                verdict,
                detail,
                Some(evidence("dpkg-query -W unattended-upgrades; apt-config dump APT::Periodic", &o.stdout, secrets)),
                "`apt-get install unattended-upgrades` and `dpkg-reconfigure -plow unattended-upgrades` (sets APT::Periodic::Unattended-Upgrade \"1\")",
            )
        }
        Err(e) => f.finding(None, Verdict::Unknown, format!("not checked: {e}"), None, ""),
    }
}

/// History read at most (the diffs of every commit, all branches).
const HISTORY_CAP: usize = 64 << 20;

/// The `.env`'s secret values searched in the history of the repository its folder is
/// in. The history comes here; the values never go there.
pub async fn git_history(session: &Session, host: &str, path: &str, secrets: &[(String, String)]) -> Finding {
    let dir = path
        .rsplit_once('/')
        .map_or("/", |(d, _)| if d.is_empty() { "/" } else { d });
    let cmd = format!(
        "cd -- {} 2>/dev/null || exit 0; command -v git >/dev/null || {{ echo '#no-git'; exit 0; }}; \
         top=$(git rev-parse --show-toplevel 2>/dev/null) || {{ echo '#no-repository'; exit 0; }}; \
         echo \"#repository $top\"; git -C \"$top\" log --all -p --no-color --no-ext-diff --no-textconv --format='commit %H' 2>/dev/null",
        shell_quote(dir)
    );
    let f = F {
        check: "env.git_history",
        host,
        checklist: "Secrets not committed to version control — seeds 000, 004",
    };
    let out = match session.exec_capped(&cmd, None, HISTORY_CAP).await {
        Ok(o) => o,
        Err(e) => {
            return f.finding(
                Some(path),
                Verdict::Unknown,
                format!("not checked: {e}"),
                None,
                "",
            );
        }
    };
    let first = out.stdout.split(|b| *b == b'\n').next().unwrap_or_default();
    if first == b"#no-git" || first == b"#no-repository" || out.stdout.is_empty() {
        return f.finding(
            Some(path),
            Verdict::Pass,
            format!("{} is not in a git repository", display_safe(dir.as_bytes())),
            None,
            "",
        );
    }
    let repo = display_safe(first.strip_prefix(b"#repository ").unwrap_or_default());
    let found = search_history(&out.stdout, secrets);
    let commits = out
        .stdout
        .split(|b| *b == b'\n')
        .filter(|l| l.starts_with(b"commit "))
        .count();
    let all: Vec<String> = secrets.iter().map(|(_, v)| v.clone()).collect();
    let shown =
        format!("git -C {repo} log --all -p (searched here for the .env's values; lines never shown)");
    let summary = found
        .iter()
        .map(|(n, c, file)| format!("{n}: commit {c}, {file}"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut ev = evidence(&shown, &out.stdout, &all);
    ev.output = if found.is_empty() {
        format!(
            "{commits} commit(s) searched for {} value(s): none found",
            secrets.len()
        )
    } else {
        summary.clone()
    };
    if found.is_empty() {
        let (verdict, detail) = if out.truncated {
            (
                Verdict::Unknown,
                format!(
                    "the history of {repo} is over {} MiB: only its newest part was searched, and held none of the .env's values",
                    HISTORY_CAP >> 20
                ),
            )
        } else {
            (
                Verdict::Pass,
                format!(
                    "{commits} commit(s) of {repo} hold none of the .env's {} secret value(s)",
                    secrets.len()
                ),
            )
        };
        return f.finding(
            Some(path),
            verdict,
            detail,
            Some(ev),
            "search the full history with `git log --all -p | grep -F` on a copy",
        );
    }
    let mut names: Vec<&str> = Vec::new();
    for (n, _, _) in &found {
        if !names.contains(&n.as_str()) {
            names.push(n);
        }
    }
    f.finding(
        Some(path),
        Verdict::Fail,
        format!("the value(s) of {} are in {repo}'s history ({} place(s)): whoever has a clone has them", names.join(", "), found.len()),
        Some(ev),
        &format!("rotate {} now (a rewritten history does not recall the clones), then purge them with git filter-repo", names.join(", ")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn firewall_verdicts() {
        let none = "## nft\nnft: not found\n## iptables\n-P INPUT ACCEPT\n## ufw\nufw: not found\n";
        assert_eq!(judge_firewall(none).0, Verdict::Fail);
        let policy = "## nft\nnft: not found\n## iptables\n-P INPUT DROP\n-A INPUT -p tcp --dport 22 -j ACCEPT\n## ufw\nufw: not found\n";
        assert_eq!(judge_firewall(policy).0, Verdict::Pass);
        let nft = "## nft\ntable inet filter {\n\tchain input {\n\t\ttype filter hook input priority filter; policy drop;\n\t}\n}\n## iptables\niptables: not found\n## ufw\nufw: not found\n";
        assert_eq!(judge_firewall(nft).0, Verdict::Pass);
        let ufw = "## nft\nnft: not found\n## iptables\n-P INPUT ACCEPT\n-A INPUT -j ufw-before-input\n## ufw\nStatus: active\n";
        assert_eq!(judge_firewall(ufw).0, Verdict::Pass);
        let inactive = "## nft\nnft: not found\n## iptables\n-P INPUT ACCEPT\n## ufw\nStatus: inactive\n";
        assert_eq!(judge_firewall(inactive).0, Verdict::Fail);
        // A drop of one port is not a default deny.
        let one = "## nft\nnft: not found\n## iptables\n-P INPUT ACCEPT\n-A INPUT -p tcp --dport 6379 -j DROP\n## ufw\nufw: not found\n";
        assert_eq!(judge_firewall(one).0, Verdict::Fail);
        let denied = "## nft\nnft: not found\n## iptables\niptables v1.8.9: Permission denied (you must be root)\n## ufw\nufw: not found\n";
        assert_eq!(judge_firewall(denied).0, Verdict::Unknown);
    }

    #[test]
    fn update_verdicts() {
        let on = "apt: yes\nuu: install ok installed\nAPT::Periodic \"\";\nAPT::Periodic::Update-Package-Lists \"1\";\nAPT::Periodic::Unattended-Upgrade \"1\";\n";
        assert_eq!(judge_updates(on).0, Verdict::Pass);
        let off = "apt: yes\nuu: install ok installed\nAPT::Periodic::Unattended-Upgrade \"0\";\n";
        assert_eq!(judge_updates(off).0, Verdict::Fail);
        assert_eq!(judge_updates("apt: yes\nuu: \n").0, Verdict::Fail);
        assert_eq!(judge_updates("dnf: yes\ndnf: enabled\n").0, Verdict::Pass);
        assert_eq!(judge_updates("").0, Verdict::Unknown);
    }

    #[test]
    fn history_names_commit_and_file_never_the_line() {
        let log = b"commit 0123456789abcdef0123\n\ndiff --git a/config.py b/config.py\n--- /dev/null\n+++ b/config.py\n@@ -0,0 +1 @@\n+JWT = 's3cr3t-value-123'\ncommit fedcba9876543210\n--- a/config.py\n+++ /dev/null\n-JWT = 's3cr3t-value-123'\n";
        let found = search_history(
            log,
            &[
                ("JWT_SECRET".into(), "s3cr3t-value-123".into()),
                ("OTHER".into(), "not-there-at-all".into()),
            ],
        );
        assert_eq!(
            found,
            vec![(
                "JWT_SECRET".to_owned(),
                "0123456789ab".to_owned(),
                "config.py".to_owned()
            )]
        );
        // Short values are not searched (they would match by chance).
        assert!(search_history(log, &[("X".into(), "JWT".into())]).is_empty());
    }
}
