//! Build script: only the desktop window needs Tauri's code generation (it embeds
//! `tauri.conf.json`, the capabilities and the `ui/` folder into the binary).

fn main() {
    #[cfg(feature = "desktop")]
    tauri_build::build();
}
