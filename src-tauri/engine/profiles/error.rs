//! Errors in a deployment profile, located by file, line and column.

use crate::engine::error::ErrorCode;
use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

/// A problem in a profile, with its position (1-based line and column) when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileError {
    pub path: Option<PathBuf>,
    pub line: usize,
    pub column: usize,
    pub message: String,
    /// `profile.syntax` for TOML and type errors, `profile.invalid` for values that parse
    /// but make no sense (a dangling host name, a malformed fingerprint).
    pub kind: ProfileErrorKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileErrorKind {
    Syntax,
    Invalid,
}

impl ProfileError {
    pub(crate) fn at(
        text: &str,
        span: Option<Range<usize>>,
        kind: ProfileErrorKind,
        message: impl Into<String>,
    ) -> Self {
        let (line, column) = span.map(|s| line_col(text, s.start)).unwrap_or((0, 0));
        ProfileError {
            path: None,
            line,
            column,
            message: message.into(),
            kind,
        }
    }

    /// A TOML syntax or type error, located where the parser points.
    pub(crate) fn toml(text: &str, e: &toml::de::Error) -> Self {
        Self::at(
            text,
            e.span(),
            ProfileErrorKind::Syntax,
            e.message().trim_end().to_owned(),
        )
    }

    pub(crate) fn with_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.path = Some(path.into());
        self
    }

    pub fn code(&self) -> ErrorCode {
        match self.kind {
            ProfileErrorKind::Syntax => ErrorCode::ProfileSyntax,
            ProfileErrorKind::Invalid => ErrorCode::ProfileInvalid,
        }
    }
}

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self
            .path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "<profile>".to_owned());
        if self.line > 0 {
            write!(f, "{file}:{}:{}: {}", self.line, self.column, self.message)
        } else {
            write!(f, "{file}: {}", self.message)
        }
    }
}

impl std::error::Error for ProfileError {}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let column = before.get(line_start..).map(|s| s.chars().count()).unwrap_or(0) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_count_characters() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 6), (2, 1));
        // "bé" is 3 bytes: the '=' after "bé " is at byte 10, character column 4.
        assert_eq!(line_col(text, 10), (2, 4));
        assert_eq!(line_col(text, 999), (3, 1));
    }
}
