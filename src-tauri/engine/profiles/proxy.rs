//! The public host names a reverse proxy's own configuration serves: a Caddyfile's site
//! addresses and nginx's `server_name`s. Read by `init` when no label names the public
//! URL. Only host names come out: a configuration holds paths, upstream addresses and at
//! times credentials (basic-auth hashes), none of which is kept.
//!
//! Not for: understanding the configuration (routes, upstreams, TLS settings).

use crate::engine::docker::is_host_name;

/// A host name as written in an address (`https://shop.example.com:443/path`), if it is
/// one a public URL can have: not a wildcard, not a port alone, not `localhost`.
fn host_of(address: &str) -> Option<String> {
    let a = address.trim().trim_matches(|c| c == '"' || c == '\'');
    let a = a
        .strip_prefix("https://")
        .or_else(|| a.strip_prefix("http://"))
        .unwrap_or(a);
    let a = a.split('/').next().unwrap_or_default();
    let a = match a.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => a,
    };
    (is_host_name(a) && !a.starts_with("*.") && !a.ends_with(".localhost") && !a.ends_with(".local"))
        .then(|| a.to_ascii_lowercase())
}

/// The site addresses of a Caddyfile: the words before each top-level `{`, skipping the
/// global options block (a bare `{`), snippets (`(name)`) and comments.
pub fn caddyfile_hosts(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    // Words at depth 0 since the last block: the addresses of the next one.
    let mut pending: Vec<String> = Vec::new();
    for line in text.lines() {
        let line = match line.find(" #").or_else(|| line.starts_with('#').then_some(0)) {
            Some(i) => &line[..i],
            None => line,
        };
        for word in line.split_whitespace() {
            for part in word.split_inclusive(['{', '}']) {
                let (token, brace) = match part.strip_suffix('{') {
                    Some(t) => (t, Some('{')),
                    None => match part.strip_suffix('}') {
                        Some(t) => (t, Some('}')),
                        None => (part, None),
                    },
                };
                if depth == 0 && !token.is_empty() {
                    pending.extend(token.split(',').filter(|t| !t.is_empty()).map(str::to_owned));
                }
                match brace {
                    Some('{') => {
                        if depth == 0 {
                            let snippet = pending.first().is_some_and(|w| w.starts_with('('));
                            if !snippet {
                                out.extend(pending.iter().filter_map(|w| host_of(w)));
                            }
                            pending.clear();
                        }
                        depth += 1;
                    }
                    Some(_) => depth = depth.saturating_sub(1),
                    None => {}
                }
            }
        }
        // A site line without a block (`example.com` then `respond "hi"` on one line is
        // not Caddy's syntax): addresses only count when a `{` follows them.
        if depth == 0 && pending.first().is_some_and(|w| w == "import") {
            pending.clear();
        }
    }
    // A Caddyfile with a single site may omit the braces: its first line is the address.
    if out.is_empty()
        && depth == 0
        && let Some(first) = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
    {
        out.extend(first.split([' ', ',']).filter_map(host_of));
    }
    out.dedup();
    out
}

/// The `server_name`s of an nginx configuration, in order: exact names only (not `_`,
/// wildcards or regular expressions).
pub fn nginx_hosts(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for statement in text
        .lines()
        .map(|l| l.split('#').next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
        .split([';', '{', '}'])
    {
        let mut words = statement.split_whitespace();
        if words.next() != Some("server_name") {
            continue;
        }
        for w in words {
            if w.starts_with('~') || w.starts_with('.') || w.contains('*') {
                continue;
            }
            if let Some(h) = host_of(w)
                && !out.contains(&h)
            {
                out.push(h);
            }
        }
    }
    out
}

/// The host names a proxy configuration file serves, by its name: a Caddyfile or nginx.
pub fn hosts_in(path: &str, text: &str) -> Vec<String> {
    let file = path.rsplit('/').next().unwrap_or(path);
    if file.starts_with("Caddyfile") || path.contains("/caddy/") {
        caddyfile_hosts(text)
    } else {
        nginx_hosts(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caddyfile_site_addresses_are_read_and_the_rest_left_out() {
        let text = r#"
{
    email admin@example.com
    admin off
}

(common) {
    encode gzip
}

# the app
shop.example.com, www.shop.example.com {
    import common
    reverse_proxy web:3000
    basicauth /admin/* {
        admin $2a$14$secrethash
    }
}

https://api.example.com:443 {
    reverse_proxy api:8080
}

:8080 {
    respond "metrics"
}

*.example.com {
    tls internal
}
localhost {
    respond hi
}
"#;
        assert_eq!(
            caddyfile_hosts(text),
            ["shop.example.com", "www.shop.example.com", "api.example.com"]
        );
        // One site, no braces.
        assert_eq!(
            caddyfile_hosts("chat.example.org\n\nreverse_proxy app:3000\n"),
            ["chat.example.org"]
        );
        assert!(caddyfile_hosts("").is_empty());
        assert!(caddyfile_hosts("}}}{{{ \u{1b}[31m").is_empty());
    }

    #[test]
    fn nginx_server_names_are_read_exactly() {
        let text = r#"
server {
    listen 80 default_server;
    server_name _;
    return 444;
}
server {
    listen 443 ssl;
    server_name  chat.example.com www.chat.example.com *.chat.example.com ~^(?<u>.+)\.example\.net$; # main
    location / { proxy_pass http://web:3000; }
}
# server_name commented.example.com;
"#;
        assert_eq!(nginx_hosts(text), ["chat.example.com", "www.chat.example.com"]);
        assert!(nginx_hosts("server_name;").is_empty());
        assert_eq!(hosts_in("/etc/nginx/conf.d/app.conf", text).len(), 2);
        assert_eq!(
            hosts_in("/srv/proxy/Caddyfile", "a.example.com {\n}\n"),
            ["a.example.com"]
        );
    }
}
