//! `.env` as a server may send it: parsing never panics, and when a file parses,
//! rewriting any of its keys keeps every other value and reads back the new one.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        use breakglass::engine::envfile::{EnvFile, replace_value};
        let Ok(env) = EnvFile::parse_bytes(data) else { return };
        let Ok(text) = std::str::from_utf8(data) else { return };
        let keys: Vec<String> = env.keys().map(str::to_owned).collect();
        let Some(key) = keys.first() else { return };
        let new_value = "n3w \"va'lue\" $X\\\n#end";
        if let Ok(out) = replace_value(text, key, new_value) {
            let again = EnvFile::parse(out.expose()).expect("a rewritten file parses");
            assert_eq!(again.get(key).map(|v| v.expose().as_str()), Some(new_value));
            for k in &keys[1..] {
                assert_eq!(
                    again.get(k).map(|v| v.expose()),
                    env.get(k).map(|v| v.expose()),
                    "another key changed"
                );
            }
        }
    });
}
