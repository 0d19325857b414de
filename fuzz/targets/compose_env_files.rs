//! A compose file as a server may hold it: reading its `env_file:` entries never panics,
//! never costs more than the file's size (aliases are not expanded), and names only
//! absolute paths without control characters, at most `MAX_ENV_FILES` of them.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        use breakglass::engine::profiles::discover::{MAX_ENV_FILES, compose_env_files};
        let Ok(text) = std::str::from_utf8(data) else { return };
        let files = compose_env_files(text, "/srv/app");
        assert!(files.len() <= MAX_ENV_FILES);
        for f in files {
            assert!(f.starts_with('/'), "{f:?}");
            assert!(!f.chars().any(char::is_control), "{f:?}");
        }
    });
}
