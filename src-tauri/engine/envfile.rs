//! `.env` files as deployments write them: `KEY=value` lines, optional `export `,
//! comments, single quotes (literal) and double quotes (with `\n`, `\"`, `\\` escapes).
//!
//! A `.env` comes from a server and may be malformed or hostile. Parsing never echoes a
//! value in an error (values are secrets); errors name the line and what was expected.
//! Values are held as [`Sensitive`].

use std::collections::BTreeMap;

use crate::engine::secret::Sensitive;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvFileError {
    #[error(
        "line {line}: expected KEY=value, where KEY is letters, digits and '_' not starting with a digit"
    )]
    Malformed { line: usize },
    #[error("line {line}: the quoted value of {key} is not closed on the same line")]
    Unterminated { line: usize, key: String },
    #[error("line {line}: unexpected text after the closing quote of {key}")]
    TrailingText { line: usize, key: String },
    #[error("the file is not UTF-8 text")]
    NotText,
    #[error("the file is larger than {limit} bytes")]
    TooLarge { limit: usize },
}

/// A parsed `.env`: variable names (not secret) to values (secret).
#[derive(Debug, Default)]
pub struct EnvFile {
    vars: BTreeMap<String, Sensitive<String>>,
}

/// Real `.env` files are a few KiB; anything much larger is not one.
pub const MAX_ENV_FILE: usize = 1024 * 1024;

impl EnvFile {
    pub fn parse_bytes(bytes: &[u8]) -> Result<Self, EnvFileError> {
        if bytes.len() > MAX_ENV_FILE {
            return Err(EnvFileError::TooLarge { limit: MAX_ENV_FILE });
        }
        let text = std::str::from_utf8(bytes).map_err(|_| EnvFileError::NotText)?;
        Self::parse(text)
    }

    pub fn parse(text: &str) -> Result<Self, EnvFileError> {
        let mut vars = BTreeMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let trimmed = raw.trim_start_matches('\u{feff}').trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let body = trimmed
                .strip_prefix("export ")
                .map(str::trim_start)
                .unwrap_or(trimmed);
            let Some((key, rest)) = body.split_once('=') else {
                return Err(EnvFileError::Malformed { line });
            };
            let key = key.trim_end();
            if !is_var_name(key) {
                return Err(EnvFileError::Malformed { line });
            }
            let value = parse_value(rest.trim_start(), line, key)?;
            vars.insert(key.to_owned(), Sensitive::new(value));
        }
        Ok(EnvFile { vars })
    }

    pub fn get(&self, key: &str) -> Option<&Sensitive<String>> {
        self.vars.get(key)
    }

    /// The variable names, in order; never the values.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.vars.keys().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.vars.len()
    }

    pub fn is_empty(&self) -> bool {
        self.vars.is_empty()
    }
}

pub fn is_var_name(key: &str) -> bool {
    !key.is_empty()
        && !key.starts_with(|c: char| c.is_ascii_digit())
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn parse_value(rest: &str, line: usize, key: &str) -> Result<String, EnvFileError> {
    let unterminated = || EnvFileError::Unterminated {
        line,
        key: key.to_owned(),
    };
    let trailing_ok = |after: &str| {
        let after = after.trim_start();
        if after.is_empty() || after.starts_with('#') {
            Ok(())
        } else {
            Err(EnvFileError::TrailingText {
                line,
                key: key.to_owned(),
            })
        }
    };
    if let Some(inner) = rest.strip_prefix('\'') {
        let end = inner.find('\'').ok_or_else(unterminated)?;
        trailing_ok(inner.get(end + 1..).unwrap_or(""))?;
        return Ok(inner.get(..end).unwrap_or("").to_owned());
    }
    if let Some(inner) = rest.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = inner.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    trailing_ok(inner.get(i + 1..).unwrap_or(""))?;
                    return Ok(out);
                }
                '\\' => match chars.next() {
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, 't')) => out.push('\t'),
                    Some((_, 'r')) => out.push('\r'),
                    Some((_, other)) => out.push(other),
                    None => return Err(unterminated()),
                },
                c => out.push(c),
            }
        }
        return Err(unterminated());
    }
    // Unquoted: up to an inline comment (" #"), trimmed.
    let value = match rest.find(" #").or_else(|| rest.find("\t#")) {
        Some(i) => rest.get(..i).unwrap_or(rest),
        None => rest,
    };
    Ok(value.trim_end().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_forms_real_files_use() {
        let env = EnvFile::parse(
            "# comment\n\nexport A=plain\nB = spaced  # note\nC='single # not a comment'\nD=\"dq \\\"x\\\" \\n\"\nE=\nF=a=b=c\n",
        )
        .unwrap();
        let v = |k: &str| env.get(k).unwrap().expose().clone();
        assert_eq!(v("A"), "plain");
        assert_eq!(v("B"), "spaced");
        assert_eq!(v("C"), "single # not a comment");
        assert_eq!(v("D"), "dq \"x\" \n");
        assert_eq!(v("E"), "");
        assert_eq!(v("F"), "a=b=c");
        assert_eq!(env.keys().collect::<Vec<_>>(), ["A", "B", "C", "D", "E", "F"]);
    }

    #[test]
    fn errors_name_the_line_and_never_the_value() {
        let secret = "s3cr3t-value-that-must-not-leak";
        let cases = [
            (format!("OK=1\nBAD LINE {secret}\n"), 2),
            (format!("OK=1\n1KEY={secret}\n"), 2),
            (format!("K=\"{secret}\n"), 1),
            (format!("K='{secret}\n"), 1),
            (format!("K=\"{secret}\" trailing\n"), 1),
            (format!("K;rm -rf /={secret}\n"), 1),
        ];
        for (text, line) in cases {
            let e = EnvFile::parse(&text).unwrap_err();
            let msg = e.to_string();
            assert!(msg.starts_with(&format!("line {line}:")), "{msg}");
            assert!(!msg.contains(secret), "{msg}");
            assert!(!format!("{e:?}").contains(secret));
        }
        assert_eq!(
            EnvFile::parse_bytes(&[0xff, 0xfe, b'=']).unwrap_err(),
            EnvFileError::NotText
        );
        assert!(matches!(
            EnvFile::parse_bytes(&vec![b'a'; MAX_ENV_FILE + 1]),
            Err(EnvFileError::TooLarge { .. })
        ));
    }

    #[test]
    fn debug_output_shows_names_but_not_values() {
        let env = EnvFile::parse("SECRET_KEY_BASE=abc123def456\n").unwrap();
        let dbg = format!("{env:?}");
        assert!(
            dbg.contains("SECRET_KEY_BASE") && !dbg.contains("abc123def456"),
            "{dbg}"
        );
    }
}
