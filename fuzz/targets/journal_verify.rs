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
                let a: serde_json::Value = serde_json::from_slice(data).unwrap_or_default();
                let b: serde_json::Value = serde_json::from_slice(&valid).unwrap_or_default();
                if a["entries"].as_array().is_some_and(|e| !e.is_empty()) {
                    assert_eq!(a["entries"], b["entries"], "changed entries verified as ok");
                }
            }
        }
    });
}
