//! Build script: only the desktop window needs Tauri's code generation (it embeds
//! `tauri.conf.json`, the capabilities and the `ui/` folder into the binary).
//!
//! The commands the window may call come from one list, `desktop/commands.in`: Tauri
//! generates an `allow-<command>` permission for each, and `capabilities/default.json` is
//! written from the same list, so a command missing from the capability cannot exist.

#[cfg(feature = "desktop")]
macro_rules! with_commands {
    ($($name:ident($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty $(, streams $event:ty)?;)*) => {
        const COMMANDS: &[&str] = &[$(stringify!($name)),*];
    };
}
#[cfg(feature = "desktop")]
include!("desktop/commands.in");

/// `capabilities/default.json`: the main window may call each listed command and listen
/// to events; nothing else.
#[cfg(feature = "desktop")]
fn capability() -> String {
    let mut permissions = vec![
        "core:event:allow-listen".to_owned(),
        "core:event:allow-unlisten".to_owned(),
    ];
    permissions.extend(COMMANDS.iter().map(|c| format!("allow-{}", c.replace('_', "-"))));
    let list = permissions
        .iter()
        .map(|p| format!("    \"{p}\""))
        .collect::<Vec<_>>()
        .join(",\n");
    format!(
        "{{\n  \"$schema\": \"../gen/schemas/desktop-schema.json\",\n  \"identifier\": \"default\",\n  \
         \"description\": \"Written by build.rs from src-tauri/desktop/commands.in: the main window may call Breakglass's own commands, each listed, and listen to its events; nothing else (no shell, no file system, no HTTP from the page).\",\n  \
         \"windows\": [\"main\"],\n  \"permissions\": [\n{list}\n  ]\n}}\n"
    )
}

fn main() {
    #[cfg(feature = "desktop")]
    {
        println!("cargo::rerun-if-changed=src-tauri/desktop/commands.in");
        let path = "capabilities/default.json";
        let want = capability();
        if std::fs::read_to_string(path).ok().as_deref() != Some(want.as_str())
            && let Err(e) = std::fs::write(path, &want)
        {
            println!("cargo::error=cannot write {path}: {e}");
        }
        if let Err(e) = tauri_build::try_build(
            tauri_build::Attributes::new().app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
        ) {
            println!("cargo::error=tauri-build failed: {e:#}");
        }
    }
}
