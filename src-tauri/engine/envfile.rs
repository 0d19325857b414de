//! `.env` files read the way Docker Compose v2 reads them, and rewritten one value at a
//! time.
//!
//! **What it is for.** A deployment keeps its secrets in a `.env` file next to its
//! `compose.yaml`. We read that file (from a server, so it may be malformed or hostile) to
//! learn the values the containers get, and when a secret is rotated we rewrite exactly
//! one value and leave every other byte of the file as it was, so a diff of the file shows
//! one changed line and Compose reads the new value.
//!
//! The grammar is compose-go's `dotenv` parser (which follows the Ruby and Node dotenv
//! rules):
//!
//! - `KEY=value` or `KEY: value`, with an optional `export ` prefix; blanks around the key
//!   and the separator are ignored; blank lines and lines starting with `#` are skipped; a
//!   UTF-8 byte-order mark at the start of the file is skipped; LF and CRLF line endings.
//! - A key is letters, digits, `_`, `.`, `-`, `[` and `]` (Compose accepts `VAR.WITH.DOTS`
//!   and `a[1]`; [`is_var_name`] is the stricter shell rule for names we choose ourselves).
//! - Unquoted values run to the end of the line, are trimmed, and end at an inline comment
//!   that starts with a space and `#` (`a#b` keeps its `#`; so does `a<TAB>#b`, as in
//!   Compose; and as in Compose, `KEY= # note` is the value `# note`, because the blanks
//!   after `=` are skipped before the comment is looked for).
//! - Single-quoted values are literal and may span lines; only `\'` is special (a quote
//!   that does not end the value).
//! - Double-quoted values may span lines and expand `\n`, `\r`, `\t`, `\a`, `\b`, `\f`,
//!   `\v`, `\\`, `\"`, `\$` and octal `\0NNN`; any other backslash stays as written.
//! - After a closing quote the rest of the line may hold a comment; Compose reads any other
//!   text there as a new statement, and so do we: `A="x" B=2` sets both, while
//!   `A="x" two words` and `A="x" junk # note` are errors, in Compose too.
//! - A key assigned twice keeps its last value; [`EnvFile::duplicates`] names such keys.
//!
//! **What it is not for.** It does not interpolate: `${VAR}`, `$VAR` and `$$` are kept as
//! written, where Compose would substitute them from its own environment; we report what
//! the file says, never what a shell on the Compose host would add. It is not a reader for
//! `docker run --env-file` (which has no quoting at all) or for systemd `EnvironmentFile=`,
//! and it does not write whole files: [`replace_value`] edits one assignment in place and
//! [`render_assignment`] writes one new line.
//!
//! Where we deliberately differ from Compose: a line with a bare name and no `=` (Compose
//! copies that variable from its own environment) is an error here, as are an empty name
//! (`=value`), a name with a blank inside, a lone `export` line and bytes that are not
//! UTF-8. A bare name after a closing quote (`A="x" junk`) is ignored, which is what Compose
//! does when its environment has no such variable.
//!
//! **Secrets.** Values are held as [`Sensitive`] and never appear in an error: errors name
//! the line and, once it is known to be a valid name, the key. Buffers that held a value
//! while it was decoded are zeroed when dropped (the caller's input is the caller's: use
//! [`EnvFile::parse_owned`] to have it zeroed too).

pub mod replace;

use std::collections::{BTreeMap, BTreeSet};
use std::ops::{Range, RangeInclusive};

use zeroize::{Zeroize, Zeroizing};

use crate::engine::secret::Sensitive;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvFileError {
    /// A line that is not an assignment: no `=` (or `:`) before the end of the line.
    #[error("line {line}: expected KEY=value, but this line has no '='")]
    Malformed { line: usize },
    /// The text before `=` is not a variable name.
    #[error(
        "line {line}: expected KEY=value, where KEY is letters, digits, '_', '.', '-', '[' or ']' with no blanks"
    )]
    BadKey { line: usize },
    #[error("line {line}: the quoted value of {key} that opens on this line has no closing quote")]
    Unterminated { line: usize, key: String },
    #[error("line {line}: unexpected text after the closing quote of {key}")]
    TrailingText { line: usize, key: String },
    #[error("the file is not UTF-8 text")]
    NotText,
    #[error("the file is larger than {limit} bytes")]
    TooLarge { limit: usize },
    /// [`replace_value`]: the file does not assign this key.
    #[error("{key} is not set in the file")]
    MissingKey { key: String },
    /// [`replace_value`], [`render_assignment`]: the value cannot be written to a `.env`
    /// (it contains a NUL character, which no environment variable can hold).
    #[error("the new value of {key} cannot be written to a .env file (it contains a NUL character)")]
    Unrepresentable { key: String },
    /// [`render_assignment`]: the name is not one a `.env` file can hold.
    #[error("the variable name is not valid in a .env file (letters, digits, '_', '.', '-', '[' or ']')")]
    InvalidName,
}

/// A parsed `.env`: variable names (not secret) to values (secret).
#[derive(Debug, Default)]
pub struct EnvFile {
    vars: BTreeMap<String, Sensitive<String>>,
    /// First and last line of the assignment that gave each key its value.
    lines: BTreeMap<String, (usize, usize)>,
    duplicates: Vec<String>,
}

/// Real `.env` files are a few KiB; anything much larger is not one.
pub const MAX_ENV_FILE: usize = 1024 * 1024;

const BOM: &str = "\u{feff}";

impl EnvFile {
    /// Parses a file's bytes as read from disk or a remote `cat`.
    pub fn parse_bytes(bytes: &[u8]) -> Result<Self, EnvFileError> {
        if bytes.len() > MAX_ENV_FILE {
            return Err(EnvFileError::TooLarge { limit: MAX_ENV_FILE });
        }
        let text = std::str::from_utf8(bytes).map_err(|_| EnvFileError::NotText)?;
        Self::parse(text)
    }

    /// [`EnvFile::parse_bytes`], then zeroes `bytes` (the raw file holds every secret).
    pub fn parse_owned(bytes: Vec<u8>) -> Result<Self, EnvFileError> {
        let bytes = Zeroizing::new(bytes);
        Self::parse_bytes(&bytes)
    }

    pub fn parse(text: &str) -> Result<Self, EnvFileError> {
        let mut env = EnvFile::default();
        let mut duplicated = BTreeSet::new();
        for a in parse_assignments(text)? {
            let lines = (*a.lines.start(), *a.lines.end());
            if env.vars.insert(a.key.clone(), a.value).is_some() && duplicated.insert(a.key.clone()) {
                env.duplicates.push(a.key.clone());
            }
            env.lines.insert(a.key, lines);
        }
        Ok(env)
    }

    pub fn get(&self, key: &str) -> Option<&Sensitive<String>> {
        self.vars.get(key)
    }

    /// The variable names, sorted; never the values.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.vars.keys().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.vars.len()
    }

    pub fn is_empty(&self) -> bool {
        self.vars.is_empty()
    }

    /// Keys assigned more than once (the last assignment wins), in the order their second
    /// assignment appears. A plan should say so: editing the first one changes nothing.
    pub fn duplicates(&self) -> &[String] {
        &self.duplicates
    }

    /// The lines (1-based, inclusive) of the assignment that gave `key` its value: one line,
    /// or several for a quoted value that spans lines.
    pub fn line_span(&self, key: &str) -> Option<RangeInclusive<usize>> {
        self.lines.get(key).map(|&(first, last)| first..=last)
    }
}

/// A POSIX shell variable name: letters, digits and `_`, not starting with a digit. The
/// rule for names we choose ourselves (profiles); files may hold more (see the module).
pub fn is_var_name(key: &str) -> bool {
    !key.is_empty()
        && !key.starts_with(|c: char| c.is_ascii_digit())
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Rewrites the value of `key` in the `.env` text `text`, keeping every other byte as it
/// was: the `export ` prefix, the spacing around `=`, comments, other assignments and line
/// endings. Where a key is assigned several times, the last assignment (the one Compose
/// uses) is rewritten.
///
/// The new value keeps the old one's quoting when it can be written that way, and is
/// otherwise double-quoted with escapes (`$` is always escaped there, so Compose will not
/// interpolate it). The result is checked by parsing it again: `key` has the new value and
/// every other assignment is unchanged.
pub fn replace_value(text: &str, key: &str, new_value: &str) -> Result<Sensitive<String>, EnvFileError> {
    let assignments = parse_assignments(text)?;
    let Some((index, target)) = assignments.iter().enumerate().rev().find(|(_, a)| a.key == key) else {
        return Err(EnvFileError::MissingKey { key: key.to_owned() });
    };
    let unrepresentable = || EnvFileError::Unrepresentable { key: key.to_owned() };
    if new_value.contains('\0') {
        return Err(unrepresentable());
    }
    let token = target.token.clone();
    let (Some(before), Some(after)) = (text.get(..token.start), text.get(token.end..)) else {
        return Err(unrepresentable());
    };
    let multiline = text.get(token.clone()).is_some_and(|t| t.contains('\n'));
    let candidates = [
        target.style,
        Style::Double { multiline },
        Style::Double { multiline: false },
    ];
    for style in candidates {
        let Some(encoded) = encode(new_value, style) else {
            continue;
        };
        let mut out = Zeroizing::new(String::with_capacity(before.len() + encoded.len() + after.len()));
        out.push_str(before);
        out.push_str(&encoded);
        out.push_str(after);
        if out.len() > MAX_ENV_FILE {
            return Err(EnvFileError::TooLarge { limit: MAX_ENV_FILE });
        }
        if reparses_as(&out, &assignments, index, new_value) {
            return Ok(Sensitive::new(std::mem::take(&mut *out)));
        }
    }
    Err(unrepresentable())
}

/// One `KEY=value` line (without a line ending) that Compose and [`EnvFile::parse`] read
/// back as exactly `value`: unquoted when the value is plain (not empty; no blanks, quotes,
/// backslashes, `$`, `#` or control characters), else single-quoted when it has no `'` or
/// control characters other than newline and tab, else double-quoted with escapes.
pub fn render_assignment(key: &str, value: &str) -> Result<Sensitive<String>, EnvFileError> {
    if !is_env_key(key) {
        return Err(EnvFileError::InvalidName);
    }
    if value.contains('\0') {
        return Err(EnvFileError::Unrepresentable { key: key.to_owned() });
    }
    for style in [Style::Unquoted, Style::Single, Style::Double { multiline: false }] {
        // `KEY=` would take a comment appended later as its value: write `KEY=''`.
        if style == Style::Unquoted && value.is_empty() {
            continue;
        }
        let Some(encoded) = encode(value, style) else {
            continue;
        };
        let mut line = Zeroizing::new(String::with_capacity(key.len() + 1 + encoded.len()));
        line.push_str(key);
        line.push('=');
        line.push_str(&encoded);
        let ok = parse_assignments(&line).is_ok_and(
            |parsed| matches!(parsed.as_slice(), [a] if a.key == key && a.value.expose() == value),
        );
        if ok {
            return Ok(Sensitive::new(std::mem::take(&mut *line)));
        }
    }
    Err(EnvFileError::Unrepresentable { key: key.to_owned() })
}

/// How a value is written in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Unquoted,
    Single,
    /// `multiline`: newlines are written as themselves rather than as `\n`.
    Double {
        multiline: bool,
    },
}

/// One `KEY=value` statement, where it is in the text and how its value is written.
struct Assignment {
    key: String,
    value: Sensitive<String>,
    lines: RangeInclusive<usize>,
    /// The value as written, quotes included (empty for an empty unquoted value).
    token: Range<usize>,
    style: Style,
}

/// What stands where a statement starts.
enum KeyScan {
    /// A name and a separator; the value starts at `value_from`.
    Key { key: String, value_from: usize },
    /// A name alone up to the end of its line at `end` (Compose: inherit it).
    Bare { end: usize, valid: bool },
    /// Text up to the end of the file with no separator.
    NoSeparator,
    /// A character no name can have.
    BadKey,
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
    /// The 1-based line number of the byte at `counted`.
    line: usize,
    counted: usize,
}

/// Compose's `isSpace`: a blank that is not a line break.
fn is_inline_space(c: char) -> bool {
    matches!(c, '\t' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{85}' | '\u{a0}')
}

fn is_key_char(c: char) -> bool {
    matches!(c, '_' | '.' | '-' | '[' | ']') || c.is_alphabetic() || c.is_numeric()
}

/// A name Compose reads as a key, and that has no blank inside.
fn is_env_key(key: &str) -> bool {
    !key.is_empty() && key.chars().all(is_key_char)
}

fn parse_assignments(text: &str) -> Result<Vec<Assignment>, EnvFileError> {
    if text.len() > MAX_ENV_FILE {
        return Err(EnvFileError::TooLarge { limit: MAX_ENV_FILE });
    }
    let start = if text.starts_with(BOM) { BOM.len() } else { 0 };
    let mut p = Parser {
        text,
        pos: start,
        line: 1,
        counted: 0,
    };
    let mut out: Vec<Assignment> = Vec::new();
    // Set after a quoted value: (line of its closing quote, its index in `out`).
    let mut after_quote: Option<(usize, usize)> = None;
    loop {
        if let Some((line, index)) = after_quote.take() {
            let rest = p.rest();
            let t = rest.trim_start_matches(|c: char| c.is_whitespace() && c != '\n');
            p.pos += rest.len() - t.len();
            if !(t.is_empty() || t.starts_with('\n') || t.starts_with('#')) {
                // Compose reads the rest of the line as a new statement.
                let trailing = || EnvFileError::TrailingText {
                    line,
                    key: out.get(index).map(|a| a.key.clone()).unwrap_or_default(),
                };
                match p.scan_key() {
                    KeyScan::Key { key, value_from } => {
                        after_quote = p.value(key, value_from, line, &mut out)?;
                    }
                    KeyScan::Bare { end, valid: true } => p.pos = end,
                    KeyScan::NoSeparator => p.pos = text.len(),
                    KeyScan::Bare { valid: false, .. } | KeyScan::BadKey => return Err(trailing()),
                }
                continue;
            }
        }
        if !p.skip_blanks_and_comments() {
            break;
        }
        let line = p.line_at(p.pos);
        match p.scan_key() {
            KeyScan::Key { key, value_from } => after_quote = p.value(key, value_from, line, &mut out)?,
            KeyScan::Bare { .. } | KeyScan::NoSeparator => return Err(EnvFileError::Malformed { line }),
            KeyScan::BadKey => return Err(EnvFileError::BadKey { line }),
        }
    }
    Ok(out)
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        self.text.get(self.pos..).unwrap_or("")
    }

    /// The 1-based line of the byte at `pos`.
    fn line_at(&mut self, pos: usize) -> usize {
        let count = |bytes: &[u8]| bytes.iter().filter(|&&b| b == b'\n').count();
        let bytes = self.text.as_bytes();
        if pos < self.counted {
            return 1 + count(bytes.get(..pos).unwrap_or_default());
        }
        self.line += count(bytes.get(self.counted..pos).unwrap_or_default());
        self.counted = pos;
        self.line
    }

    /// Moves to the start of the next statement; false at the end of the text.
    fn skip_blanks_and_comments(&mut self) -> bool {
        loop {
            let rest = self.rest();
            let t = rest.trim_start();
            self.pos += rest.len() - t.len();
            if t.is_empty() {
                return false;
            }
            if !t.starts_with('#') {
                return true;
            }
            match t.find('\n') {
                Some(i) => self.pos += i,
                None => {
                    self.pos = self.text.len();
                    return false;
                }
            }
        }
    }

    /// Reads `[export ]KEY` up to `=` or `:` (Compose's `locateKeyName`).
    fn scan_key(&mut self) -> KeyScan {
        let mut s = self.rest();
        let mut base = self.pos;
        if let Some(after) = s.strip_prefix("export")
            && after.starts_with([' ', '\t', '\u{c}', '\r'])
        {
            let t = after.trim_start_matches(is_inline_space);
            base += s.len() - t.len();
            s = t;
        }
        let name = |i: usize| s.get(..i).unwrap_or("").trim_end();
        for (i, c) in s.char_indices() {
            if is_inline_space(c) {
                continue;
            }
            match c {
                '=' | ':' => {
                    let key = name(i);
                    if !is_env_key(key) {
                        return KeyScan::BadKey;
                    }
                    return KeyScan::Key {
                        key: key.to_owned(),
                        value_from: base + i + c.len_utf8(),
                    };
                }
                '\n' => {
                    return KeyScan::Bare {
                        end: base + i,
                        valid: is_env_key(name(i)),
                    };
                }
                c if is_key_char(c) => {}
                _ => return KeyScan::BadKey,
            }
        }
        KeyScan::NoSeparator
    }

    /// Reads the value of `key` starting at `from` (just after the separator), records the
    /// assignment, and moves past it. Returns the closing quote's line and the assignment's
    /// index when the value was quoted (the rest of that line is read by the caller).
    fn value(
        &mut self,
        key: String,
        from: usize,
        line: usize,
        out: &mut Vec<Assignment>,
    ) -> Result<Option<(usize, usize)>, EnvFileError> {
        let s = self.text.get(from..).unwrap_or("");
        let t = s.trim_start_matches(is_inline_space);
        let start = from + (s.len() - t.len());
        let quote = match t.as_bytes().first() {
            Some(&q @ (b'"' | b'\'')) => q,
            _ => {
                let line_end = t.find('\n').unwrap_or(t.len());
                let raw = t.get(..line_end).unwrap_or("");
                let raw = raw.find(" #").and_then(|i| raw.get(..i)).unwrap_or(raw);
                let v = raw.trim_end();
                // An empty value is placed after the blanks that follow the separator,
                // but before a CR, so that writing a value there keeps the line ending.
                let at = if v.is_empty() {
                    from + (s.len() - s.trim_start_matches([' ', '\t']).len())
                } else {
                    start
                };
                out.push(Assignment {
                    key,
                    value: Sensitive::new(v.to_owned()),
                    lines: line..=line,
                    token: at..at + v.len(),
                    style: Style::Unquoted,
                });
                self.pos = start + line_end;
                return Ok(None);
            }
        };
        let body = t.as_bytes().get(1..).unwrap_or_default();
        let Some(close) = find_closing_quote(body, quote) else {
            return Err(EnvFileError::Unterminated { line, key });
        };
        let inner = body.get(..close).unwrap_or_default();
        let unquoted = unquote(inner, quote);
        let value = if quote == b'"' {
            into_string(expand_escapes(&unquoted))?
        } else {
            into_string(unquoted)?
        };
        let closing = start + 1 + close;
        let last_line = self.line_at(closing);
        out.push(Assignment {
            key,
            value: Sensitive::new(value),
            lines: line..=last_line,
            token: start..closing + 1,
            style: if quote == b'\'' {
                Style::Single
            } else {
                Style::Double {
                    multiline: inner.contains(&b'\n'),
                }
            },
        });
        self.pos = closing + 1;
        Ok(Some((last_line, out.len() - 1)))
    }
}

/// The index in `body` (the text after an opening quote) of the quote that closes it: the
/// first `quote` not escaped by a backslash. A backslash escapes the byte after it.
fn find_closing_quote(body: &[u8], quote: u8) -> Option<usize> {
    let mut escaped = false;
    for (i, &b) in body.iter().enumerate() {
        if escaped {
            escaped = false;
        } else if b == quote {
            return Some(i);
        } else if b == b'\\' {
            escaped = true;
        }
    }
    None
}

/// Compose's first pass over a quoted value: `\<quote>` becomes the quote, every other
/// backslash stays with the byte after it.
fn unquote(inner: &[u8], quote: u8) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(inner.len()));
    let mut escaped = false;
    for &b in inner {
        if escaped {
            escaped = false;
            if b != quote {
                out.push(b'\\');
            }
            out.push(b);
        } else if b == b'\\' {
            escaped = true;
        } else {
            out.push(b);
        }
    }
    if escaped {
        out.push(b'\\');
    }
    out
}

/// Compose's `expandEscapes` for double-quoted values: `\a \b \f \n \r \t \v \\ \" \$` and
/// `\0NNN` (three octal digits, at most 0377). In `\0` followed by up to three digits that
/// are not a valid octal byte, Compose drops the `0` and keeps the rest; so do we.
/// Anything else after a backslash is kept as written. Never longer than its input.
fn expand_escapes(src: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(src.len()));
    let mut i = 0;
    while let Some(&b) = src.get(i) {
        let next = src.get(i + 1).copied();
        if b != b'\\' || next.is_none() {
            out.push(b);
            i += 1;
            continue;
        }
        let simple = match next {
            Some(b'a') => Some(0x07),
            Some(b'b') => Some(0x08),
            Some(b'f') => Some(0x0c),
            Some(b'n') => Some(b'\n'),
            Some(b'r') => Some(b'\r'),
            Some(b't') => Some(b'\t'),
            Some(b'v') => Some(0x0b),
            Some(b'$') => Some(b'$'),
            Some(b'"') => Some(b'"'),
            Some(b'\\') => Some(b'\\'),
            _ => None,
        };
        if let Some(c) = simple {
            out.push(c);
            i += 2;
        } else if next == Some(b'0') {
            let digits_from = i + 2;
            let tail = src.get(digits_from..).unwrap_or_default();
            let n = tail.iter().take(3).take_while(|d| d.is_ascii_digit()).count();
            let digits = tail.get(..n).unwrap_or_default();
            let octal = (n == 3 && digits.iter().all(|d| (b'0'..=b'7').contains(d)))
                .then(|| digits.iter().fold(0u32, |v, d| v * 8 + u32::from(d - b'0')))
                .and_then(|v| u8::try_from(v).ok());
            match octal {
                Some(byte) => {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(char::from(byte).encode_utf8(&mut buf).as_bytes());
                }
                None => {
                    out.push(b'\\');
                    out.extend_from_slice(digits);
                }
            }
            i = digits_from + n;
        } else {
            out.push(b'\\');
            i += 1;
        }
    }
    out
}

/// The decoded bytes as a `String`, moving the buffer (no copy is left behind).
fn into_string(mut bytes: Zeroizing<Vec<u8>>) -> Result<String, EnvFileError> {
    String::from_utf8(std::mem::take(&mut *bytes)).map_err(|e| {
        e.into_bytes().zeroize();
        EnvFileError::NotText
    })
}

/// `value` written in `style`, or `None` if that style cannot hold it.
fn encode(value: &str, style: Style) -> Option<Zeroizing<String>> {
    match style {
        Style::Unquoted => {
            let plain = |c: char| {
                !c.is_whitespace() && !c.is_control() && !matches!(c, '\'' | '"' | '\\' | '$' | '#' | '`')
            };
            value.chars().all(plain).then(|| Zeroizing::new(value.to_owned()))
        }
        Style::Single => {
            let fits = |c: char| c != '\'' && (!c.is_control() || c == '\n' || c == '\t');
            if !value.chars().all(fits) {
                return None;
            }
            let mut out = Zeroizing::new(String::with_capacity(value.len() + 2));
            out.push('\'');
            out.push_str(value);
            out.push('\'');
            Some(out)
        }
        Style::Double { multiline } => {
            let mut out = Zeroizing::new(String::with_capacity(2 * value.len() + 2));
            out.push('"');
            let mut chars = value.chars().peekable();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '"' => out.push_str("\\\""),
                    '$' => out.push_str("\\$"),
                    '\n' if multiline => out.push('\n'),
                    '\n' => out.push_str("\\n"),
                    '\r' if multiline && chars.peek() == Some(&'\n') => out.push('\r'),
                    '\r' => out.push_str("\\r"),
                    c => out.push(c),
                }
            }
            out.push('"');
            Some(out)
        }
    }
}

/// Whether `text` parses to `old` with the value at `index` replaced by `new_value`.
fn reparses_as(text: &str, old: &[Assignment], index: usize, new_value: &str) -> bool {
    let Ok(new) = parse_assignments(text) else {
        return false;
    };
    new.len() == old.len()
        && old.iter().zip(&new).enumerate().all(|(i, (o, n))| {
            o.key == n.key
                && if i == index {
                    n.value.expose() == new_value
                } else {
                    o.value == n.value
                }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> EnvFile {
        EnvFile::parse(text).unwrap_or_else(|e| panic!("{e}: {text:?}"))
    }

    fn value(env: &EnvFile, key: &str) -> String {
        env.get(key)
            .unwrap_or_else(|| panic!("{key} missing; keys: {:?}", env.keys().collect::<Vec<_>>()))
            .expose()
            .clone()
    }

    /// `KEY=value` text → that one key's value.
    fn one(text: &str, key: &str) -> String {
        value(&parse(text), key)
    }

    fn err(text: &str) -> EnvFileError {
        match EnvFile::parse(text) {
            Ok(env) => panic!("parsed {text:?} into {:?}", env.keys().collect::<Vec<_>>()),
            Err(e) => e,
        }
    }

    #[test]
    fn reads_the_forms_real_files_use() {
        let env = parse(
            "# comment\n\nexport A=plain\nB = spaced  # note\nC='single # not a comment'\nD=\"dq \\\"x\\\" \\n\"\nE=\nF=a=b=c\n",
        );
        assert_eq!(value(&env, "A"), "plain");
        assert_eq!(value(&env, "B"), "spaced");
        assert_eq!(value(&env, "C"), "single # not a comment");
        assert_eq!(value(&env, "D"), "dq \"x\" \n");
        assert_eq!(value(&env, "E"), "");
        assert_eq!(value(&env, "F"), "a=b=c");
        assert_eq!(env.keys().collect::<Vec<_>>(), ["A", "B", "C", "D", "E", "F"]);
        assert_eq!(env.len(), 6);
        assert!(!env.is_empty());
        assert!(parse("").is_empty());
        assert!(parse("\n  \n# only a comment").is_empty());
    }

    #[test]
    fn export_prefix_and_blanks_around_the_key_and_separator() {
        let cases = [
            ("export OPTION_A=2", "OPTION_A", "2"),
            ("export\tOPTION_A=2", "OPTION_A", "2"),
            ("  export   OPTION_A  =  2", "OPTION_A", "2"),
            ("\texport OPTION_A=2", "OPTION_A", "2"),
            ("export exportFoo=2", "exportFoo", "2"),
            ("exportFOO=2", "exportFOO", "2"),
            ("export_FOO =2", "export_FOO", "2"),
            ("export.FOO= 2", "export.FOO", "2"),
            ("export=2", "export", "2"),
            ("export OPTION_A=\"export A\"", "OPTION_A", "export A"),
            ("FOO =bar", "FOO", "bar"),
            ("FOO= bar", "FOO", "bar"),
            (" KEY =value", "KEY", "value"),
            ("\tKEY=value", "KEY", "value"),
            // Compose also reads YAML-style `KEY: value`.
            ("OPTION_A: 1", "OPTION_A", "1"),
            ("OPTION_A: Foo=bar", "OPTION_A", "Foo=bar"),
            ("OPTION_A=1:B", "OPTION_A", "1:B"),
            ("FOO=foobar=", "FOO", "foobar="),
        ];
        for (text, key, want) in cases {
            assert_eq!(one(text, key), want, "{text:?}");
            assert_eq!(parse(text).len(), 1, "{text:?}");
        }
    }

    #[test]
    fn keys_follow_compose_and_is_var_name_stays_strict() {
        let env = parse(
            "VAR.WITH.DOTS=dots\nVAR-WITH-DASHES=dashes\na[1]=c\n456 = ABC\nárvíztűrő-TÜKÖRFÚRÓGÉP=ÁRVÍZ\n",
        );
        assert_eq!(value(&env, "VAR.WITH.DOTS"), "dots");
        assert_eq!(value(&env, "VAR-WITH-DASHES"), "dashes");
        assert_eq!(value(&env, "a[1]"), "c");
        assert_eq!(value(&env, "456"), "ABC");
        assert_eq!(value(&env, "árvíztűrő-TÜKÖRFÚRÓGÉP"), "ÁRVÍZ");
        assert!(is_var_name("SECRET_KEY_BASE") && is_var_name("_x1"));
        for bad in ["", "1A", "A.B", "A-B", "A B", "a[1]", "É"] {
            assert!(!is_var_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn blank_lines_and_comment_lines_are_skipped() {
        let env = parse("\n\r\n\t\t \n# Comment\n\t # indented comment\n#A=1\nB=2\n   \n");
        assert_eq!(env.keys().collect::<Vec<_>>(), ["B"]);
    }

    #[test]
    fn unquoted_values() {
        let cases = [
            ("FOO=bar ", "bar"),
            ("FOO=  bar  baz  ", "bar  baz"),
            ("FOO=bar # this is foo", "bar"),
            ("FOO=bar #this is foo", "bar"),
            ("FOO=bar #", "bar"),
            ("FOO=123#not-an-inline-comment", "123#not-an-inline-comment"),
            ("FOO=a # b # c", "a"),
            // Only a space starts an inline comment in Compose; a tab does not.
            ("FOO=a\t#b", "a\t#b"),
            // Compose trims the blanks after `=` before it looks for " #".
            ("FOO= # the value", "# the value"),
            ("FOO=#x", "#x"),
            ("FOO=a\\tb", "a\\tb"),
            ("FOO=x'y'", "x'y'"),
            ("FOO=", ""),
            ("FOO=   ", ""),
            ("FOO=  \u{a0}x\u{2003} ", "x"),
            (
                "FOO=first one with an unquoted phrase",
                "first one with an unquoted phrase",
            ),
            ("FOO=special è char", "special è char"),
        ];
        for (text, want) in cases {
            assert_eq!(one(text, "FOO"), want, "{text:?}");
            assert_eq!(one(&format!("{text}\nNEXT=1\n"), "FOO"), want, "{text:?}");
        }
    }

    #[test]
    fn single_quotes_are_literal_and_may_span_lines() {
        let cases = [
            ("K='1'", "1"),
            ("K=''", ""),
            ("K='\\n'", "\\n"),
            ("K='a\\\\b'", "a\\\\b"),
            ("K='$HOME ${X} \\$'", "$HOME ${X} \\$"),
            ("K='echo \"asd\"'", "echo \"asd\""),
            ("K='bar#baz' # comment", "bar#baz"),
            (
                "K = 'first line\nsecond line\nand so on'",
                "first line\nsecond line\nand so on",
            ),
            // Compose: `\'` is a quote that does not end the value.
            ("K='Let\\'s go!'", "Let's go!"),
        ];
        for (text, want) in cases {
            assert_eq!(one(text, "K"), want, "{text:?}");
        }
        let pem = "-----BEGIN PRIVATE KEY-----\nMIIEv+/=\nAAAA\n-----END PRIVATE KEY-----";
        let env = parse(&format!("A=1\nPEM='{pem}'\nB=2\n"));
        assert_eq!(value(&env, "PEM"), pem);
        assert_eq!(value(&env, "B"), "2");
        assert_eq!(env.line_span("PEM"), Some(2..=5));
        assert_eq!(env.line_span("B"), Some(6..=6));
    }

    #[test]
    fn double_quotes_expand_compose_escapes() {
        let cases = [
            (r#"K="1""#, "1"),
            (r#"K="""#, ""),
            (r#"K="\n""#, "\n"),
            (r#"K="escaped\"bar""#, "escaped\"bar"),
            (r#"K="\"quoted\"""#, "\"quoted\""),
            (r#"K="'d'""#, "'d'"),
            (r#"K="a\tb""#, "a\tb"),
            (
                r#"K="Z\aZ\bZ\fZ\nZ\rZ\tZ\vZ\\Z\0123Z""#,
                "Z\x07Z\x08Z\x0cZ\nZ\rZ\tZ\x0bZ\\ZSZ",
            ),
            (r#"K="bar\n\ b\az""#, "bar\n\\ b\x07z"),
            (r#"K="bar\\\n\ b\az""#, "bar\\\n\\ b\x07z"),
            (r#"K="bar\\r\ b\az""#, "bar\\r\\ b\x07z"),
            (r#"K="bar\nbaz\\""#, "bar\nbaz\\"),
            (r#"K="\$HOME \${X}""#, "$HOME ${X}"),
            // Not escapes in Compose: kept as written.
            (
                r#"K="\x07 \u12e4 \U00101234 \c \' \q""#,
                r"\x07 \u12e4 \U00101234 \c \' \q",
            ),
            // Octal: exactly three octal digits up to 0377; otherwise Compose drops the 0.
            (r#"K="\0101\0377""#, "Aÿ"),
            (r#"K="\0""#, "\\"),
            (r#"K="\012""#, "\\12"),
            (r#"K="\0128""#, "\\128"),
            (r#"K="\0400""#, "\\400"),
            (r#"K="\08""#, "\\8"),
            ("K=\"a\nb\"", "a\nb"),
            ("K=\"a\r\nb\"", "a\r\nb"),
            (
                "K=\"ends with backslash-newline \\\nok\"",
                "ends with backslash-newline \\\nok",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(one(text, "K"), want, "{text:?}");
        }
    }

    #[test]
    fn text_after_a_closing_quote() {
        let cases = [
            (r##"K="bar#baz"#"##, "bar#baz"),
            (r##"K="bar#baz" # comment"##, "bar#baz"),
            (r#"K="x"   "#, "x"),
            ("K=\"x\"\u{2003}\n", "x"),
            ("K='x'# c", "x"),
            ("K=\"x\"\r\n", "x"),
        ];
        for (text, want) in cases {
            let env = parse(text);
            assert_eq!(value(&env, "K"), want, "{text:?}");
            assert_eq!(env.len(), 1, "{text:?}");
        }
        // Compose reads what follows as a new statement: a bare name is ignored (Compose
        // would copy it from its own environment), an assignment is one.
        let env = parse("K=\"x\" junk\nL='y'junk\nM=1\n");
        assert_eq!(env.keys().collect::<Vec<_>>(), ["K", "L", "M"]);
        let env = parse("K=\"x\" B=2 # c\nC=3");
        assert_eq!(
            (value(&env, "K"), value(&env, "B"), value(&env, "C")),
            ("x".into(), "2".into(), "3".into())
        );
        for (text, line) in [
            ("K=\"x\" two words\n", 1),
            (
                "K=\"x\" junk # a comment after junk is a bad name in Compose too\n",
                1,
            ),
            ("A=1\nK='x';\n", 2),
            ("K=\"a\nb\" $X\n", 2),
            ("K=\"x\"\"y\"\n", 1),
        ] {
            assert_eq!(
                err(text),
                EnvFileError::TrailingText {
                    line,
                    key: "K".into()
                },
                "{text:?}"
            );
        }
    }

    #[test]
    fn references_are_left_as_written() {
        let env = parse(
            "A=${B}\nC=$D\nE=\"${F:-default} $G\"\nH=$$\nI=\"$$\"\nJ=pre${X}post\nK=\"${unclosed\"\nL=$\n",
        );
        assert_eq!(value(&env, "A"), "${B}");
        assert_eq!(value(&env, "C"), "$D");
        assert_eq!(value(&env, "E"), "${F:-default} $G");
        assert_eq!(value(&env, "H"), "$$");
        assert_eq!(value(&env, "I"), "$$");
        assert_eq!(value(&env, "J"), "pre${X}post");
        assert_eq!(value(&env, "K"), "${unclosed");
        assert_eq!(value(&env, "L"), "$");
    }

    #[test]
    fn crlf_bom_and_no_final_newline() {
        let env = parse("\u{feff}A=1\r\nB=two # c\r\nC=\"3\"\r\nD='4'\r\nE=\r\n\r\nF=\"x\r\ny\"\r\nG=last");
        let got: Vec<(String, String)> = env.keys().map(|k| (k.to_owned(), value(&env, k))).collect();
        let want = [
            ("A", "1"),
            ("B", "two"),
            ("C", "3"),
            ("D", "4"),
            ("E", ""),
            ("F", "x\r\ny"),
            ("G", "last"),
        ];
        assert_eq!(got, want.map(|(k, v)| (k.to_owned(), v.to_owned())));
        assert_eq!(env.line_span("F"), Some(7..=8));
        // A byte-order mark anywhere else is not skipped (as in Compose).
        assert_eq!(err("A=1\n\u{feff}B=2\n"), EnvFileError::BadKey { line: 2 });
    }

    #[test]
    fn duplicates_keep_the_last_value_and_are_reported() {
        let env = parse("A=1\nB=1\nA=2\nC=1\nA=\"3\"\nB=2\n");
        assert_eq!(value(&env, "A"), "3");
        assert_eq!(value(&env, "B"), "2");
        assert_eq!(env.duplicates(), ["A", "B"]);
        assert_eq!(env.line_span("A"), Some(5..=5));
        assert_eq!(env.line_span("Z"), None);
        assert!(parse("A=1\nB=2\n").duplicates().is_empty());
    }

    #[test]
    fn invalid_lines_name_the_line() {
        let cases = [
            ("A=1\nJUSTANAME\n", EnvFileError::Malformed { line: 2 }),
            ("A=1\nJUSTANAME", EnvFileError::Malformed { line: 2 }),
            ("\n\nexport\n", EnvFileError::Malformed { line: 3 }),
            ("BAD LINE here\n", EnvFileError::Malformed { line: 1 }),
            ("A=1\n\n# c\nMY KEY=1\n", EnvFileError::BadKey { line: 4 }),
            ("=value\n", EnvFileError::BadKey { line: 1 }),
            ("lol$wut\n", EnvFileError::BadKey { line: 1 }),
            ("K;rm -rf /=x\n", EnvFileError::BadKey { line: 1 }),
            ("%!(EXTRA string)=foo", EnvFileError::BadKey { line: 1 }),
            (
                "A=\"x\nB=2\n",
                EnvFileError::Unterminated {
                    line: 1,
                    key: "A".into(),
                },
            ),
            (
                "A=1\nB='x\n\nC=2\n",
                EnvFileError::Unterminated {
                    line: 2,
                    key: "B".into(),
                },
            ),
            (
                "K=\"value\\\"",
                EnvFileError::Unterminated {
                    line: 1,
                    key: "K".into(),
                },
            ),
            (
                "K='value\\'",
                EnvFileError::Unterminated {
                    line: 1,
                    key: "K".into(),
                },
            ),
            (
                "K=\"value'",
                EnvFileError::Unterminated {
                    line: 1,
                    key: "K".into(),
                },
            ),
            (
                "K='value\"",
                EnvFileError::Unterminated {
                    line: 1,
                    key: "K".into(),
                },
            ),
            (
                "K=\"",
                EnvFileError::Unterminated {
                    line: 1,
                    key: "K".into(),
                },
            ),
        ];
        for (text, want) in cases {
            let got = err(text);
            assert_eq!(got, want, "{text:?}");
            assert!(got.to_string().starts_with("line "), "{got}");
        }
    }

    #[test]
    fn bytes_text_and_size() {
        assert_eq!(
            EnvFile::parse_bytes(&[0xff, 0xfe, b'=']).unwrap_err(),
            EnvFileError::NotText
        );
        assert_eq!(
            EnvFile::parse_bytes(b"A=\"\xc3\"\n").unwrap_err(),
            EnvFileError::NotText
        );
        assert!(matches!(
            EnvFile::parse_bytes(&vec![b'a'; MAX_ENV_FILE + 1]),
            Err(EnvFileError::TooLarge { .. })
        ));
        assert!(matches!(
            EnvFile::parse(&"#".repeat(MAX_ENV_FILE + 1)),
            Err(EnvFileError::TooLarge { .. })
        ));
        let env = EnvFile::parse_owned(b"\xef\xbb\xbfA=1\r\n".to_vec()).unwrap();
        assert_eq!(value(&env, "A"), "1");
        assert_eq!(
            EnvFile::parse_owned(vec![0xc3]).unwrap_err(),
            EnvFileError::NotText
        );
    }

    #[test]
    fn debug_output_shows_names_but_not_values() {
        let env = parse("SECRET_KEY_BASE=abc123def456\nPEM=\"x\\ny\"\nSECRET_KEY_BASE=abc123def457\n");
        let dbg = format!("{env:?}");
        assert!(
            dbg.contains("SECRET_KEY_BASE") && !dbg.contains("abc123def45"),
            "{dbg}"
        );
    }

    #[test]
    fn no_error_message_contains_the_value() {
        // '!' and '&' cannot be in a name, so any trace of these in a message is a leak.
        let secret = "Tr0ub4dor&3!horse";
        let texts = [
            format!("OK=1\nBAD LINE {secret}\n"),
            format!("OK=1\n{secret}\n"),
            secret.to_owned(),
            format!("{secret}={secret}\n"),
            format!("OK=1\n1KEY {secret}\n"),
            format!("K;rm -rf /={secret}\n"),
            format!("K=\"{secret}\n"),
            format!("A=1\nK='{secret}\nmore\n"),
            format!("K=\"{secret}\\\""),
            format!("K=\"{secret}\" two words\n"),
            format!("K=\"x\" {secret} y\n"),
            format!("K=\"x\"{secret}\n"),
            format!("K='{secret}';\n"),
            format!("K=\"a\n{secret}\" ; {secret}\n"),
            format!("export {secret}\n"),
            format!("\u{feff}\u{feff}{secret}\n"),
        ];
        let mut errors: Vec<EnvFileError> = texts.iter().map(|t| err(t)).collect();
        let mut bytes = format!("A={secret}\n").into_bytes();
        bytes.push(0xff);
        errors.push(EnvFile::parse_bytes(&bytes).unwrap_err());
        errors.push(replace_value(&format!("A={secret}\n"), "B", secret).unwrap_err());
        errors.push(replace_value("A=1\n", "A", &format!("{secret}\0")).unwrap_err());
        errors.push(replace_value(&format!("A=\"{secret}\n"), "A", secret).unwrap_err());
        errors.push(render_assignment(secret, "x").unwrap_err());
        errors.push(render_assignment("K", &format!("\0{secret}")).unwrap_err());
        for e in errors {
            for shown in [e.to_string(), format!("{e:?}")] {
                for part in ["Tr0ub", "4dor", "horse"] {
                    assert!(!shown.contains(part), "{shown}");
                }
            }
        }
    }

    /// The text of the assignment of `key` that Compose uses.
    fn token<'t>(text: &'t str, key: &str) -> (&'t str, Style) {
        let all = parse_assignments(text).unwrap();
        let a = all.iter().rev().find(|a| a.key == key).unwrap();
        (&text[a.token.clone()], a.style)
    }

    fn replaced(text: &str, key: &str, new_value: &str) -> String {
        let out = replace_value(text, key, new_value).unwrap_or_else(|e| panic!("{e}: {text:?}"));
        check_replacement(text, key, new_value, out.expose());
        out.expose().clone()
    }

    /// `out` is `text` with only the value token of the last `key` changed, and parses to
    /// the same assignments but for that one.
    fn check_replacement(text: &str, key: &str, new_value: &str, out: &str) {
        let old = parse_assignments(text).unwrap();
        let new = parse_assignments(out).unwrap_or_else(|e| panic!("{e}: {out:?}"));
        let index = old.iter().rposition(|a| a.key == key).unwrap();
        let span = old[index].token.clone();
        assert_eq!(
            out.get(..span.start),
            text.get(..span.start),
            "{text:?} -> {out:?}"
        );
        assert!(out.ends_with(&text[span.end..]), "{text:?} -> {out:?}");
        if !new_value.is_empty() {
            let end = out.len() - text[span.end..].len();
            assert_eq!(new[index].token, span.start..end, "{text:?} -> {out:?}");
        }
        assert_eq!(old.len(), new.len());
        for (i, (o, n)) in old.iter().zip(&new).enumerate() {
            assert_eq!(o.key, n.key);
            if i == index {
                assert_eq!(n.value.expose(), new_value, "{text:?} -> {out:?}");
            } else {
                assert!(o.value == n.value, "{} changed: {text:?} -> {out:?}", o.key);
            }
        }
        assert_eq!(value(&parse(out), key), new_value);
    }

    #[test]
    fn replace_keeps_quoting_and_every_other_byte() {
        let text =
            "\u{feff}# header\r\nexport A = old # keep me\r\nB='x'\r\nC=\"y\" # c\r\nD=1\r\nA=older\r\nE=end";
        let out = replaced(text, "A", "new-value");
        assert_eq!(
            out,
            "\u{feff}# header\r\nexport A = old # keep me\r\nB='x'\r\nC=\"y\" # c\r\nD=1\r\nA=new-value\r\nE=end"
        );
        let out = replaced(text, "B", "it has spaces");
        assert!(out.contains("\r\nB='it has spaces'\r\n"), "{out:?}");
        let out = replaced(text, "C", "q\"uote $HOME\\");
        assert!(out.contains("\r\nC=\"q\\\"uote \\$HOME\\\\\" # c\r\n"), "{out:?}");
        // Unquoted becomes double-quoted when the new value needs it.
        let out = replaced(text, "E", "a b #c $D 'q'");
        assert!(out.ends_with("\r\nE=\"a b #c \\$D 'q'\""), "{out:?}");
        let out = replaced("A=x\n", "A", "line1\nline2");
        assert_eq!(out, "A=\"line1\\nline2\"\n");
        // Single-quoted becomes double-quoted for a value with a quote in it.
        assert_eq!(replaced("A='x' # c\n", "A", "it's"), "A=\"it's\" # c\n");
        assert_eq!(replaced("A='x'\n", "A", "ends in \\"), "A=\"ends in \\\\\"\n");
        // An empty unquoted value before a comment must not swallow the comment.
        assert_eq!(replaced("A=old # c\n", "A", ""), "A=\"\" # c\n");
        assert_eq!(replaced("A=old\n", "A", ""), "A=\n");
        assert_eq!(replaced("A=\n", "A", "v"), "A=v\n");
        assert_eq!(replaced("A= # c\n", "A", "v"), "A= v\n");
        assert_eq!(replaced("A:  old  \n", "A", "v"), "A:  v  \n");
        assert_eq!(replaced("K=\"a\" B=2\n", "K", "n"), "K=\"n\" B=2\n");
        assert_eq!(replaced("K=\"a\" B=2\n", "B", "x y"), "K=\"a\" B=\"x y\"\n");
    }

    #[test]
    fn replace_keeps_a_multiline_key_multiline() {
        let old_pem = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----";
        let new_pem = "-----BEGIN PRIVATE KEY-----\nBBBB\nCCCC\n-----END PRIVATE KEY-----\n";
        let text = format!("A=1\nKEY=\"{old_pem}\"\nB=2\n");
        assert_eq!(
            replaced(&text, "KEY", new_pem),
            format!("A=1\nKEY=\"{new_pem}\"\nB=2\n")
        );
        let text = format!("A=1\nKEY='{old_pem}'\nB=2\n");
        assert_eq!(
            replaced(&text, "KEY", new_pem),
            format!("A=1\nKEY='{new_pem}'\nB=2\n")
        );
        // A value the single quotes cannot hold falls back to double quotes, still multiline.
        let odd = "line 'one'\nline two";
        assert_eq!(replaced(&text, "KEY", odd), format!("A=1\nKEY=\"{odd}\"\nB=2\n"));
        // A single-line double-quoted value gets `\n` escapes.
        assert_eq!(replaced("KEY=\"x\"\n", "KEY", "a\nb"), "KEY=\"a\\nb\"\n");
        // CRLF files: the value's own line breaks are the value; the file's stay CRLF.
        let text = "A=1\r\nKEY=\"x\r\ny\"\r\nB=2\r\n";
        assert_eq!(
            replaced(text, "KEY", "p\r\nq\rr"),
            "A=1\r\nKEY=\"p\r\nq\\rr\"\r\nB=2\r\n"
        );
    }

    #[test]
    fn replace_edits_the_last_duplicate_and_refuses_what_it_cannot_do() {
        let text = "A=1\nA=2\nB=3\nA=4 # last\n";
        assert_eq!(replaced(text, "A", "5"), "A=1\nA=2\nB=3\nA=5 # last\n");
        assert_eq!(
            replace_value(text, "Z", "1").unwrap_err(),
            EnvFileError::MissingKey { key: "Z".into() }
        );
        assert_eq!(
            replace_value(text, "A", "a\0b").unwrap_err(),
            EnvFileError::Unrepresentable { key: "A".into() }
        );
        assert_eq!(
            replace_value("A=1\nB\n", "A", "2").unwrap_err(),
            EnvFileError::Malformed { line: 2 }
        );
        let big = format!("A=1\n#{}\n", "x".repeat(MAX_ENV_FILE - 10));
        assert!(matches!(
            replace_value(&big, "A", &"y".repeat(100)),
            Err(EnvFileError::TooLarge { .. })
        ));
    }

    #[test]
    fn render_chooses_the_simplest_quoting_that_reads_back() {
        let cases = [
            ("plain-value_1.2:3/4@5=6", "K=plain-value_1.2:3/4@5=6"),
            ("", "K=''"),
            ("two words", "K='two words'"),
            ("$HOME ${X} #", "K='$HOME ${X} #'"),
            ("pem\nlines\n", "K='pem\nlines\n'"),
            ("it's", "K=\"it's\""),
            ("ends in \\", "K=\"ends in \\\\\""),
            ("bell\x07", "K=\"bell\x07\""),
            ("it's $5\n\"q\"", "K=\"it's \\$5\\n\\\"q\\\"\""),
            ("cr\r", "K=\"cr\\r\""),
        ];
        for (v, want) in cases {
            let line = render_assignment("K", v).unwrap();
            assert_eq!(line.expose(), want, "{v:?}");
            assert_eq!(one(line.expose(), "K"), v);
        }
        assert_eq!(
            render_assignment("A B", "x").unwrap_err(),
            EnvFileError::InvalidName
        );
        assert_eq!(render_assignment("", "x").unwrap_err(), EnvFileError::InvalidName);
        assert_eq!(
            render_assignment("K", "\0").unwrap_err(),
            EnvFileError::Unrepresentable { key: "K".into() }
        );
        assert_eq!(
            one(render_assignment("a.b[0]-c", "v").unwrap().expose(), "a.b[0]-c"),
            "v"
        );
    }

    fn fixture(name: &str) -> String {
        let path = format!("{}/tests/fixtures/envfiles/{name}", env!("CARGO_MANIFEST_DIR"));
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn real_world_files() {
        let pem = "-----BEGIN PRIVATE KEY-----\n\
                   FAKEKEYFORTESTSONLYFAKEKEYFORTESTSONLYFAKEKEYFORTESTSONLYFAKEKE\n\
                   Zm9yIHRlc3RzIG9ubHk7IG5vdCBhIHJlYWwga2V5OyBub3QgYSByZWFsIGtleQ==\n\
                   c2VlZCAwMDMgcmFpbHMtand0IGZpeHR1cmUgZm9yIGJyZWFrZ2xhc3MgdGVzdHM+\n\
                   -----END PRIVATE KEY-----";
        let pem_nl = format!("{pem}\n");
        let skb = "4f1c2b9d8e7a6f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d7c6b5a49382716f5e4d3c2b1a0f9e8d7c6b5a4938271605f4e3d2c1b0a9f8e7d";
        /// A fixture's name, its keys and values, and its duplicated keys.
        type Expected<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a [&'a str]);
        let table: &[Expected] = &[
            (
                "rails.env",
                &[
                    ("RAILS_ENV", "production"),
                    ("RACK_ENV", "production"),
                    ("RAILS_LOG_TO_STDOUT", "true"),
                    ("RAILS_SERVE_STATIC_FILES", "enabled"),
                    ("SECRET_KEY_BASE", skb),
                    ("RAILS_MASTER_KEY", "0123456789abcdef0123456789abcdef"),
                    (
                        "DATABASE_URL",
                        "postgres://homechat:pa%23ss%40word@db:5432/homechat_production?sslmode=require",
                    ),
                    ("POSTGRES_USER", "homechat"),
                    ("POSTGRES_PASSWORD", "s3cr#t with spaces"),
                    ("REDIS_URL", "redis://:r3d1s-pa55@redis:6379/0"),
                    ("SIDEKIQ_WEB_PASSWORD", "abc#def"),
                    ("SMTP_ADDRESS", "smtp.example.com"),
                    ("SMTP_PORT", "587"),
                    ("SMTP_PASSWORD", "p@ss#word$1"),
                    ("MAILER_SENDER", "Homechat <no-reply@example.com>"),
                    ("WEB_CONCURRENCY", "2"),
                    ("RAILS_MAX_THREADS", "5"),
                ],
                &[],
            ),
            (
                "pem-double.env",
                &[
                    ("JWT_ISSUER", "breakglass-test"),
                    ("JWT_PRIVATE_KEY", pem),
                    (
                        "JWT_PUBLIC_KEY",
                        "-----BEGIN PUBLIC KEY-----\nRkFLRVBVQkxJQ0tFWUZPUlRFU1RT\n-----END PUBLIC KEY-----\n",
                    ),
                    ("JWT_TTL", "3600"),
                ],
                &[],
            ),
            (
                "pem-single.env",
                &[
                    ("JWT_PRIVATE_KEY", &pem_nl),
                    ("JWT_NOTE", "backslash-n \\n stays; so does $HOME"),
                ],
                &[],
            ),
            (
                "crlf.env",
                &[
                    ("POSTGRES_USER", "app"),
                    ("POSTGRES_PASSWORD", "crlf-pass"),
                    ("QUOTED", "dq value"),
                    ("SINGLE", "sq value"),
                    ("EMPTY", ""),
                    ("MULTI", "line one\r\nline two"),
                    ("LAST", "end"),
                ],
                &[],
            ),
            (
                "exported.env",
                &[
                    ("DATABASE_URL", "postgres://app@db/app"),
                    ("REDIS_PASSWORD", "r3d1s"),
                    ("API_KEY", "k-123"),
                    ("exportNOT_A_PREFIX", "1"),
                    ("export.DOTTED", "2"),
                    ("LAST", "export A"),
                ],
                &[],
            ),
            (
                "comments.env",
                &[
                    ("A", "1"),
                    ("B", "2#not-a-comment"),
                    ("C", "3"),
                    ("D", "4"),
                    ("E", "five\t#tab before hash is not a comment"),
                    ("F", "# the value is this text, as in Compose"),
                    ("G", "seven # inside quotes"),
                    ("I", "bar#baz"),
                ],
                &[],
            ),
            (
                "compose-refs.env",
                &[
                    ("DB_HOST", "db"),
                    (
                        "DATABASE_URL",
                        "postgres://${DB_USER}:${DB_PASSWORD}@${DB_HOST}:5432/app",
                    ),
                    ("REDIS_URL", "redis://:$REDIS_PASSWORD@redis:6379"),
                    ("WITH_DEFAULT", "${PORT:-8080}"),
                    ("ESCAPED", "price: $5 and ${NOT_A_VAR}"),
                    ("DOUBLED", "$$literal"),
                    ("SINGLE", "$HOME ${HOME}"),
                ],
                &[],
            ),
            (
                "duplicates.env",
                &[
                    ("SECRET_KEY_BASE", "newest"),
                    ("REDIS_PASSWORD", "second"),
                    ("OTHER", "x"),
                ],
                &["SECRET_KEY_BASE", "REDIS_PASSWORD"],
            ),
            (
                "no-final-newline.env",
                &[("A", "1"), ("B", "two"), ("C", "three")],
                &[],
            ),
            ("bom.env", &[("FIRST", "after-bom"), ("SECOND", "2")], &[]),
        ];
        let dir = format!("{}/tests/fixtures/envfiles", env!("CARGO_MANIFEST_DIR"));
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".env"))
            .collect();
        on_disk.sort();
        let mut listed: Vec<String> = table.iter().map(|(n, _, _)| (*n).to_owned()).collect();
        listed.sort();
        assert_eq!(on_disk, listed, "every fixture has expectations");

        let tricky = [
            "rotated",
            "new value # with $HOME and 'q' \"dq\" \\",
            "multi\nline\n",
            "",
        ];
        for (name, want, dups) in table {
            let text = fixture(name);
            let env = EnvFile::parse_bytes(text.as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"));
            let mut got: Vec<(String, String)> = env.keys().map(|k| (k.to_owned(), value(&env, k))).collect();
            let mut want: Vec<(String, String)> = want
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            got.sort();
            want.sort();
            assert_eq!(got, want, "{name}");
            assert_eq!(env.duplicates(), *dups, "{name}");
            for key in env.keys() {
                for new_value in tricky {
                    replaced(&text, key, new_value);
                }
            }
        }
        let text = fixture("pem-double.env");
        assert_eq!(parse(&text).line_span("JWT_PRIVATE_KEY"), Some(3..=7));
        assert!(text.contains("\nJWT_PRIVATE_KEY=\"-----BEGIN"));
        let out = replaced(
            &text,
            "JWT_PRIVATE_KEY",
            "-----BEGIN PRIVATE KEY-----\nNEW\n-----END PRIVATE KEY-----",
        );
        assert!(
            out.contains(
                "\nJWT_PRIVATE_KEY=\"-----BEGIN PRIVATE KEY-----\nNEW\n-----END PRIVATE KEY-----\"\n"
            )
        );
        let text = fixture("crlf.env");
        let out = replaced(&text, "POSTGRES_PASSWORD", "rotated");
        assert_eq!(out, text.replace("=crlf-pass #", "=rotated #"));
        let text = fixture("duplicates.env");
        assert_eq!(parse(&text).line_span("SECRET_KEY_BASE"), Some(6..=6));
        assert_eq!(
            replaced(&text, "SECRET_KEY_BASE", "s"),
            text.replace("\"newest\"", "\"s\"")
        );
    }

    /// xorshift64*: deterministic, so a failure reproduces.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn one_in(&mut self, n: usize) -> bool {
            self.below(n) == 0
        }

        fn pick<T: Clone>(&mut self, items: &[T]) -> T {
            items[self.below(items.len())].clone()
        }
    }

    const VALUE_BITS: &[&str] = &[
        "a",
        "Z",
        "7",
        "_",
        "-",
        " ",
        "  ",
        "\t",
        "'",
        "\"",
        "\\",
        "\\\\",
        "#",
        " #",
        "# ",
        "$",
        "${A}",
        "$B",
        "$$",
        "\\$",
        "\n",
        "\r\n",
        "\r",
        "é",
        "日本",
        "🔑",
        "=",
        ":",
        "\\n",
        "\\0123",
        "\\0",
        "export ",
        "-----BEGIN KEY-----",
        "`",
        "\u{a0}",
        "\u{85}",
        "\u{2003}",
        "\u{feff}",
        "\x07",
        "\x0b",
        "=\"",
        "'\n'",
    ];

    const KEY_BITS: &[&str] = &["A", "B", "KEY", "_", "9", ".", "-", "é", "[0]", "export", "x"];

    fn random_value(rng: &mut Rng) -> String {
        let n = rng.below(9);
        (0..n).map(|_| rng.pick(VALUE_BITS)).collect()
    }

    fn random_key(rng: &mut Rng) -> String {
        let n = 1 + rng.below(4);
        (0..n).map(|_| rng.pick(KEY_BITS)).collect()
    }

    #[test]
    fn property_rendered_maps_read_back() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..600 {
            let mut map = BTreeMap::new();
            for _ in 0..rng.below(12) {
                map.insert(random_key(&mut rng), random_value(&mut rng));
            }
            let eol = if rng.one_in(3) { "\r\n" } else { "\n" };
            let mut text = String::new();
            if rng.one_in(8) {
                text.push_str(BOM);
            }
            for (k, v) in &map {
                if rng.one_in(4) {
                    text.push_str("# a comment with 'quotes', \"more\", \\ and $VARS");
                    text.push_str(eol);
                }
                if rng.one_in(4) {
                    text.push_str(eol);
                }
                if rng.one_in(3) {
                    text.push_str(if rng.one_in(2) { "export " } else { "  export\t" });
                }
                text.push_str(render_assignment(k, v).unwrap().expose());
                if rng.one_in(4) {
                    text.push_str("  # trailing comment");
                }
                text.push_str(eol);
            }
            if rng.one_in(3) && text.ends_with(eol) {
                text.truncate(text.len() - eol.len());
            }
            let env = parse(&text);
            let got: BTreeMap<String, String> = env.keys().map(|k| (k.to_owned(), value(&env, k))).collect();
            assert_eq!(got, map, "{text:?}");
        }
    }

    #[test]
    fn property_replace_changes_only_the_chosen_key() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let styles = [
            Style::Unquoted,
            Style::Single,
            Style::Double { multiline: false },
            Style::Double { multiline: true },
        ];
        let mut checked = 0;
        for _ in 0..600 {
            let mut keys: Vec<String> = Vec::new();
            let eol = if rng.one_in(3) { "\r\n" } else { "\n" };
            let mut text = String::new();
            for _ in 0..1 + rng.below(10) {
                let key = if !keys.is_empty() && rng.one_in(5) {
                    rng.pick(&keys)
                } else {
                    random_key(&mut rng)
                };
                let v = random_value(&mut rng);
                let encoded = encode(&v, rng.pick(&styles))
                    .or_else(|| encode(&v, Style::Double { multiline: false }))
                    .unwrap();
                if rng.one_in(3) {
                    text.push_str("export ");
                }
                text.push_str(&key);
                text.push_str(rng.pick(&["=", " = ", ": ", "=  "]));
                text.push_str(&encoded);
                if rng.one_in(3) {
                    text.push_str(rng.pick(&[" # comment", "   #", "\t", " ", " junk"]));
                }
                text.push_str(eol);
                if rng.one_in(5) {
                    text.push_str("# between");
                    text.push_str(eol);
                }
                keys.push(key);
            }
            // Unchecked encodings in random contexts: keep the files that still parse.
            let Ok(old) = parse_assignments(&text) else {
                continue;
            };
            if old.is_empty() {
                continue;
            }
            // Mostly a key we wrote; any key that parsed when an unchecked encoding (such
            // as `'ends in \'`) swallowed the next line.
            let key = rng.pick(&keys);
            let key = if old.iter().any(|a| a.key == key) {
                key
            } else {
                old[rng.below(old.len())].key.clone()
            };
            let new_value = random_value(&mut rng);
            let out = replace_value(&text, &key, &new_value).unwrap_or_else(|e| panic!("{e}: {text:?}"));
            check_replacement(&text, &key, &new_value, out.expose());
            let index = old.iter().rposition(|a| a.key == key).unwrap();
            let (_, style) = token(out.expose(), &key);
            match old[index].style {
                Style::Unquoted if !new_value.is_empty() && encode(&new_value, Style::Unquoted).is_some() => {
                    assert_eq!(style, Style::Unquoted, "{text:?}")
                }
                Style::Double { .. } => assert!(matches!(style, Style::Double { .. })),
                _ => {}
            }
            checked += 1;
        }
        assert!(checked > 400, "only {checked} random files parsed");
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        const FRAGMENTS: &[&[u8]] = &[
            b"A",
            b"KEY",
            b"export ",
            b"export",
            b"=",
            b":",
            b" ",
            b"\t",
            b"\n",
            b"\r\n",
            b"\r",
            b"#",
            b" #",
            b"'",
            b"\"",
            b"\\",
            b"\\\"",
            b"\\'",
            b"$",
            b"${X}",
            b"\\0123",
            b"\\0",
            b"\\09",
            b"\xef\xbb\xbf",
            b"\xff",
            b"\xc3",
            b"\xc3\xa9",
            b"\xe2\x80\x83",
            b"\xc2\x85",
            b"\xc2\xa0",
            b"\0",
            b"[",
            b".",
            b"-",
            b"1",
            b"s3cr3t!val",
            b"a b",
            b"\x0b",
            b"\x0c",
        ];
        let mut rng = Rng(0xdead_beef_cafe_f00d);
        let (mut parsed, mut failed) = (0, 0);
        for _ in 0..5000 {
            let mut bytes = Vec::new();
            for _ in 0..rng.below(24) {
                bytes.extend_from_slice(rng.pick(FRAGMENTS));
            }
            match EnvFile::parse_bytes(&bytes) {
                Ok(env) => {
                    parsed += 1;
                    let text = std::str::from_utf8(&bytes).unwrap();
                    let keys: Vec<String> = env.keys().map(str::to_owned).collect();
                    for key in keys.iter().take(2) {
                        let new_value = random_value(&mut rng);
                        let out =
                            replace_value(text, key, &new_value).unwrap_or_else(|e| panic!("{e}: {text:?}"));
                        check_replacement(text, key, &new_value, out.expose());
                    }
                }
                Err(e) => {
                    failed += 1;
                    let shown = format!("{e} {e:?}");
                    assert!(!shown.contains("s3cr3t") && !shown.contains("!val"), "{shown}");
                }
            }
        }
        assert!(parsed > 300 && failed > 300, "parsed {parsed}, failed {failed}");
    }
}
