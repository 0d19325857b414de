//! A deployment profile (TOML from a team's repository): an error or a profile, never a
//! panic; a profile that parses also summarises.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        let Ok(text) = std::str::from_utf8(data) else { return };
        if let Ok(p) = breakglass::engine::profiles::DeploymentProfile::parse(text) {
            let _ = p.summary();
            let _ = p.targets();
        }
    });
}
