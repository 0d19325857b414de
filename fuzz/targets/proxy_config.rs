//! A Caddyfile or nginx configuration as a server may hold it: reading the host names it
//! serves never panics, and gives only host names (what a public URL's host can be).
fn main() {
    afl::fuzz!(|data: &[u8]| {
        use breakglass::engine::docker::is_host_name;
        use breakglass::engine::profiles::proxy::hosts_in;
        let text = String::from_utf8_lossy(data);
        for path in ["/etc/caddy/Caddyfile", "/etc/nginx/conf.d/app.conf"] {
            for h in hosts_in(path, &text) {
                assert!(is_host_name(&h), "{h:?}");
                assert!(!h.starts_with("*."), "{h:?}");
            }
        }
    });
}
