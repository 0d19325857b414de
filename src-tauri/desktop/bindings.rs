//! `ui/bindings.d.ts`: the TypeScript shape of every command of `commands.in` (its
//! arguments as the page names them, what it returns, the events it streams) and of every
//! type they carry, generated from the Rust types with ts-rs. The page's scripts name
//! these types in JSDoc and `tsc --checkJs` checks them (`./dev check`, CI), so a page
//! that sends an `ActionSpec` of the wrong shape, or tests for an error code the engine
//! does not have, fails before it runs.
//!
//! The file is checked in; the test below fails when it is out of date, and
//! `UPDATE_BINDINGS=1 cargo test bindings` rewrites it.

use std::any::TypeId;
use std::collections::HashSet;

use ts_rs::{Config, TS, TypeVisitor};

use super::*;
use crate::engine::error::ErrorCode;

/// Collects the declaration of a type and of every declarable type it uses, once each.
struct Collect<'a> {
    cfg: &'a Config,
    seen: HashSet<TypeId>,
    decls: Vec<(String, String)>,
}

impl TypeVisitor for Collect<'_> {
    fn visit<T: TS + 'static + ?Sized>(&mut self) {
        if T::output_path().is_none() || !self.seen.insert(TypeId::of::<T>()) {
            // A built-in type (string, number, arrays…), or one already declared.
            T::visit_generics(self);
            return;
        }
        let doc = T::docs().unwrap_or_default();
        self.decls
            .push((T::ident(self.cfg), format!("{doc}export {}", T::decl(self.cfg))));
        T::visit_dependencies(self);
    }
}

/// camelCase, as Tauri names a command's arguments on the page.
fn camel(snake: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

macro_rules! with_commands {
    ($($name:ident($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty $(, streams $event:ty)?;)*) => {
        /// The whole file: every type, then the `Commands` map.
        pub(super) fn render() -> String {
            let cfg = Config::new().with_large_int("number");
            let mut c = Collect { cfg: &cfg, seen: HashSet::new(), decls: Vec::new() };
            c.visit::<ErrorCode>();
            c.visit::<ErrorReport>();
            $(
                $(c.visit::<$ty>();)*
                $(c.visit::<$event>();)?
                c.visit::<$ret>();
            )*
            c.decls.sort();
            let mut out = String::from(
                "// Generated from the Rust types by src-tauri/desktop/bindings.rs (ts-rs): do not edit.\n\
                 // `UPDATE_BINDINGS=1 cargo test bindings` rewrites it after a change to a type.\n\n",
            );
            for (_, decl) in &c.decls {
                out.push_str(decl);
                out.push_str("\n\n");
            }
            out.push_str("/** A channel of events from the engine to the page that started a command. */\nexport type Channel<T> = { onmessage: (message: T) => void };\n\n");
            out.push_str("/** Every command the page may invoke: its arguments, its events, what it returns. */\nexport type Commands = {\n");
            $(
                #[allow(unused_mut)]
                let mut args: Vec<String> = vec![$(format!("{}: {}", camel(stringify!($arg)), <$ty as TS>::name(&cfg))),*];
                $(args.push(format!("onEvent: Channel<{}>", <$event as TS>::name(&cfg)));)?
                // The streamed events' type if the command streams, else `never`.
                let events = [$(<$event as TS>::name(&cfg),)? "never".to_owned()]
                    .into_iter()
                    .next()
                    .unwrap_or_default();
                out.push_str(&format!(
                    "  {}: {{ args: {{ {} }}; events: {}; returns: {} }};\n",
                    stringify!($name),
                    args.join("; "),
                    events,
                    <$ret as TS>::name(&cfg),
                ));
            )*
            out.push_str("};\n");
            out
        }
    };
}
include!("commands.in");

#[cfg(test)]
mod tests {
    #[test]
    fn bindings_are_up_to_date() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/ui/bindings.d.ts");
        let want = super::render();
        if std::env::var_os("UPDATE_BINDINGS").is_some() {
            std::fs::write(path, &want).unwrap();
            return;
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            have == want,
            "ui/bindings.d.ts is out of date with the Rust types: run `UPDATE_BINDINGS=1 cargo test bindings` and commit it"
        );
    }
}
