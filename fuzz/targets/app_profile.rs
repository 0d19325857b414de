//! An app profile (TOML a user writes): an error or a profile whose identifiers are all
//! valid SQL identifiers, never a panic.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        use breakglass::engine::profiles::app::{AppProfile, is_identifier};
        let Ok(text) = std::str::from_utf8(data) else { return };
        if let Ok(p) = AppProfile::parse(text) {
            if let Some(t) = &p.tokens {
                assert!(is_identifier(&t.table) && is_identifier(&t.active));
            }
            if let Some(u) = &p.users {
                assert!(is_identifier(&u.table) && is_identifier(&u.role));
            }
        }
    });
}
