//! What a remote command prints is hostile input: it may hold terminal escape sequences
//! (which can rewrite the user's terminal, set its title, or fake a prompt), invalid
//! UTF-8, or far too much of it. Output is capped while it is read, and only reaches a
//! person through [`display_safe`].

/// Escapes everything that could act on a terminal or a page: control characters
/// (ESC, BEL, CR, backspace, C1 controls, DEL) and bidirectional overrides are shown as
/// `\u{..}`; invalid UTF-8 becomes U+FFFD. Newlines and tabs stay.
pub fn display_safe(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let dangerous = (c.is_control() && c != '\n' && c != '\t')
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}');
        if dangerous {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// A byte buffer that keeps at most `cap` bytes and remembers that it dropped some.
#[derive(Debug, Default)]
pub struct Capped {
    pub bytes: Vec<u8>,
    pub cap: usize,
    pub truncated: bool,
}

impl Capped {
    pub fn new(cap: usize) -> Self {
        Capped {
            bytes: Vec::new(),
            cap,
            truncated: false,
        }
    }

    pub fn push(&mut self, data: &[u8]) {
        let room = self.cap.saturating_sub(self.bytes.len());
        if data.len() > room {
            self.truncated = true;
        }
        self.bytes
            .extend_from_slice(data.get(..room.min(data.len())).unwrap_or(&[]));
    }
}

/// Quotes one word for a POSIX shell. Commands we send are built from fixed text and
/// quoted words only; a secret is never one of them (secrets go to stdin).
pub fn shell_quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:@%+,".contains(c))
    {
        return word.to_owned();
    }
    format!("'{}'", word.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_and_controls_are_made_visible() {
        let hostile = b"ok\x1b]0;pwned\x07\x1b[2J\rfake prompt$ \x08\x9b31m\xff\xfe\n\tend\xe2\x80\xae";
        let safe = display_safe(hostile);
        assert!(
            !safe.chars().any(|c| c.is_control() && c != '\n' && c != '\t'),
            "{safe:?}"
        );
        assert!(safe.contains("\\u{1b}]0;pwned\\u{7}"));
        assert!(safe.contains("\\u{d}fake prompt"));
        assert!(safe.contains('\u{fffd}'));
        assert!(safe.contains("\n\tend\\u{202e}"));
    }

    #[test]
    fn capped_buffers_keep_the_head_and_say_so() {
        let mut c = Capped::new(5);
        c.push(b"abc");
        assert!(!c.truncated);
        c.push(b"defgh");
        assert_eq!((c.bytes.as_slice(), c.truncated), (&b"abcde"[..], true));
        c.push(b"x");
        assert_eq!(c.bytes.len(), 5);
    }

    #[test]
    fn quoting_survives_metacharacters() {
        assert_eq!(shell_quote("/srv/app/.env"), "/srv/app/.env");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(
            shell_quote("it's; rm -rf / $(id) `x`"),
            "'it'\\''s; rm -rf / $(id) `x`'"
        );
    }
}
