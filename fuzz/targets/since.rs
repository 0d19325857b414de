//! `--since` as typed: a duration, a zoned time or a clear error, never a panic.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        let Ok(text) = std::str::from_utf8(data) else { return };
        if let Ok(s) = breakglass::engine::when::Since::parse(text) {
            let _ = s.secs_before(std::time::SystemTime::now());
        }
    });
}
