//! The terminal-safe printer: whatever the bytes, the output holds no control character
//! but newline and tab, so nothing a server prints can move the cursor, clear the screen,
//! ring the bell or rewrite a line.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        let out = breakglass::engine::ssh::output::display_safe(data);
        for c in out.chars() {
            assert!(
                !c.is_control() || c == '\n' || c == '\t',
                "control character {c:?} survived"
            );
            assert!(!matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'), "bidi override survived");
        }
    });
}
