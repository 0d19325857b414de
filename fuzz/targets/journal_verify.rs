//! `journal verify` on mutated journals (the seed is a valid one: `seed/` is written by
//! `./dev fuzz`): a verification, never a panic, and never "ok" for a journal whose
//! entries were changed without the key.
fn main() {
    let valid = breakglass::engine::journal::fuzzing::sample(6);
    // `./dev fuzz` asks for the seed first: a valid journal to mutate.
    if let Some(path) = std::env::var_os("BREAKGLASS_FUZZ_WRITE_SEED") {
        std::fs::write(path, &valid).expect("the seed is written");
        return;
    }
    afl::fuzz!(|data: &[u8]| {
        if let Some(v) = breakglass::engine::journal::fuzzing::verify_bytes(data) {
            // The fuzzer cannot compute MACs: any change to the entries or the head that
            // still verifies must be a change outside what is authenticated (whitespace,
            // key order) — so the entries must be those of the seed.
            if v.ok && data != valid.as_slice() {
                // What the chain authenticates: each entry as the journal reads it (unknown
                // fields ignored), every field but the MAC itself (an entry whose MAC is
                // missing is still vouched for by the authentic entries that chain through
                // its hash, as entries from before MACs existed are).
                let content = |bytes: &[u8]| -> Option<Vec<breakglass::engine::journal::Entry>> {
                    let doc: serde_json::Value = serde_json::from_slice(bytes).ok()?;
                    let mut entries: Vec<breakglass::engine::journal::Entry> =
                        serde_json::from_value(doc.get("entries")?.clone()).ok()?;
                    for e in &mut entries {
                        e.mac = None;
                    }
                    Some(entries)
                };
                if let (Some(a), Some(b)) = (content(data), content(&valid))
                    && !a.is_empty()
                {
                    assert_eq!(a, b, "changed entries verified as ok");
                }
            }
        }
    });
}
