//! Points in time as people type them: a duration back from now (`2h`, `90m`, `1d 12h`)
//! or a time with its zone (`2026-11-22T03:00:00Z`, `2026-11-22T05:00:00+02:00`). A time
//! without a zone is refused: the server's zone is never assumed. Used by every `--since`
//! (tokens created since, the audit review's window) and the window's fields alike.

use std::time::{Duration, SystemTime};

use crate::engine::{Error, Result};

/// A `since` as typed, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Since {
    /// That long before now (now as the database sees it, when SQL uses it).
    Ago(Duration),
    /// A zoned RFC 3339 time, as typed (PostgreSQL reads the zone), and the same instant.
    At(String, SystemTime),
}

impl Since {
    pub fn parse(text: &str) -> Result<Since> {
        let t = text.trim();
        if t.is_empty() {
            return Err(bad(text, "it is empty"));
        }
        if t.starts_with(|c: char| c.is_ascii_digit()) && !t.contains('-') && !t.contains(':') {
            return match humantime::parse_duration(t) {
                Ok(d) if d.is_zero() => Err(bad(text, "a zero duration covers nothing")),
                // Beyond any plausible window, and beyond what an interval holds.
                Ok(d) if d > Duration::from_secs(100 * 365 * 86_400) => Err(bad(text, "more than 100 years")),
                Ok(d) => Ok(Since::Ago(d)),
                Err(_) => Err(bad(text, "not a duration like 30m, 2h or 1d 12h")),
            };
        }
        let at = parse_zoned(t).map_err(|why| bad(text, &why))?;
        Ok(Since::At(t.to_owned(), at))
    }

    /// Seconds back from `now` (a time in the future is 0 s back).
    pub fn secs_before(&self, now: SystemTime) -> u64 {
        match self {
            Since::Ago(d) => d.as_secs(),
            Since::At(_, at) => now.duration_since(*at).map(|d| d.as_secs()).unwrap_or(0),
        }
    }
}

/// A duration as people type it (`26h`, `7d`, `1d 12h`): not zero, at most 100 years.
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    match humantime::parse_duration(text.trim()) {
        Ok(d) if d.is_zero() => Err(format!("{text:?}: a zero duration")),
        Ok(d) if d > Duration::from_secs(100 * 365 * 86_400) => Err(format!("{text:?}: more than 100 years")),
        Ok(d) => Ok(d),
        Err(_) => Err(format!(
            "expected a duration like 26h, 7d or 1d 12h, found {:?}",
            crate::engine::ssh::output::display_safe(text.as_bytes())
        )),
    }
}

fn bad(text: &str, why: &str) -> Error {
    Error::BadArgument {
        message: format!(
            "expected a duration like 2h or a time with its zone like 2026-11-22T03:00:00Z, found {:?}: {why}",
            crate::engine::ssh::output::display_safe(text.as_bytes())
        ),
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` (a space for the `T` is accepted).
fn parse_zoned(t: &str) -> std::result::Result<SystemTime, String> {
    let (local, offset_secs) = if let Some(l) = t.strip_suffix(['Z', 'z']) {
        (l, 0i64)
    } else {
        let sign_at = t
            .char_indices()
            .rev()
            .find(|&(i, c)| (c == '+' || c == '-') && i > 10)
            .map(|(i, _)| i)
            .ok_or(
                "it has no time zone: add Z or an offset like +02:00 (the server's zone is never assumed)",
            )?;
        let (l, off) = t.split_at(sign_at);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let digits = off.get(1..).unwrap_or_default();
        let (h, m) = digits.split_once(':').unwrap_or(("", ""));
        let two_digits = |x: &str| x.len() == 2 && x.bytes().all(|b| b.is_ascii_digit());
        let (h, m): (i64, i64) = match (two_digits(h) && two_digits(m), h.parse(), m.parse()) {
            (true, Ok(h), Ok(m)) if h <= 23 && m <= 59 => (h, m),
            _ => return Err(format!("{off:?} is not an offset like +02:00")),
        };
        (l, sign * (h * 3600 + m * 60))
    };
    if local.len() < 19
        || !local.is_char_boundary(10)
        || !matches!(local.as_bytes().get(10), Some(b'T' | b't' | b' '))
    {
        return Err("expected YYYY-MM-DDTHH:MM:SS".into());
    }
    let utc_text = format!("{}T{}Z", &local[..10], &local[11..]);
    let at = humantime::parse_rfc3339(&utc_text).map_err(|e| format!("not a valid time: {e}"))?;
    let shifted = if offset_secs >= 0 {
        at.checked_sub(Duration::from_secs(offset_secs.unsigned_abs()))
    } else {
        at.checked_add(Duration::from_secs(offset_secs.unsigned_abs()))
    };
    shifted.ok_or_else(|| "out of range".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> SystemTime {
        humantime::parse_rfc3339(s).unwrap()
    }

    #[test]
    fn durations_and_zoned_times_are_accepted() {
        assert_eq!(Since::parse("2h").unwrap(), Since::Ago(Duration::from_secs(7200)));
        assert_eq!(
            Since::parse(" 1d 12h ").unwrap(),
            Since::Ago(Duration::from_secs(129_600))
        );
        let Since::At(_, t) = Since::parse("2026-11-22T03:00:00Z").unwrap() else {
            panic!()
        };
        assert_eq!(t, at("2026-11-22T03:00:00Z"));
        let Since::At(_, t) = Since::parse("2026-11-22T05:00:00+02:00").unwrap() else {
            panic!()
        };
        assert_eq!(t, at("2026-11-22T03:00:00Z"));
        let Since::At(_, t) = Since::parse("2026-11-21 22:30:00.5-04:30").unwrap() else {
            panic!()
        };
        assert_eq!(t, at("2026-11-22T03:00:00.5Z"));
    }

    #[test]
    fn a_time_without_a_zone_and_nonsense_are_refused_clearly() {
        let e = Since::parse("2026-11-22T03:00:00").unwrap_err().to_string();
        assert!(e.contains("no time zone"), "{e}");
        for bad in [
            "",
            "now",
            "yesterday",
            "0s",
            "2026-13-01T00:00:00Z",
            "2026-11-22T03:00:00+25:00",
            "2026-11-22",
            "-2h",
            "2h; DROP TABLE x",
            "\u{1b}[31m",
            "9999999999999999999h",
            "2026-11-22T03:00:00+",
            "2026-11-22T03:00:00+0a:00",
        ] {
            let e = Since::parse(bad).unwrap_err();
            assert_eq!(e.code(), "argument.invalid", "{bad:?}");
            assert!(!e.to_string().contains('\u{1b}'), "{e}");
        }
    }

    #[test]
    fn secs_before_counts_back_from_now() {
        let now = at("2026-11-22T05:00:00Z");
        assert_eq!(Since::parse("2h").unwrap().secs_before(now), 7200);
        assert_eq!(
            Since::parse("2026-11-22T04:00:00Z").unwrap().secs_before(now),
            3600
        );
        assert_eq!(Since::parse("2026-11-23T04:00:00Z").unwrap().secs_before(now), 0);
    }
}
