//! The Breakglass window. All logic lives in the engine; see `desktop/`.

// Hide the extra console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() -> std::process::ExitCode {
    breakglass::desktop::run()
}
