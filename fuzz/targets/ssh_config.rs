//! An OpenSSH client config: resolving an alias gives an answer or an error, never a panic.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        let Ok(text) = std::str::from_utf8(data) else { return };
        for alias in ["web1", "db", "*", ""] {
            let _ = breakglass::engine::profiles::ssh_config::resolve(text, "fuzz_config", alias);
        }
    });
}
