//! `LOGIN_LIMIT=N/S`: at most N failed logins per client address in a window of S
//! seconds. The window opens at an address's first counted attempt; once N attempts
//! of the window have failed, every further attempt is refused (429, `Retry-After`)
//! until the window closes. An attempt is counted when it starts, so concurrent
//! requests cannot slip past the limit, and given back when it succeeds.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Above this many addresses, closed windows are dropped (a memory bound, not a limit).
const PRUNE_ABOVE: usize = 10_000;

pub struct LoginLimiter {
    max: u32,
    window: Duration,
    /// Per address: when its window opened, and the attempts counted in it.
    windows: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl LoginLimiter {
    /// Parses `N/S` (N ≥ 1 failures per S ≥ 1 seconds).
    pub fn parse(text: &str) -> Option<Self> {
        let (max, secs) = text.trim().split_once('/')?;
        let max: u32 = max.trim().parse().ok().filter(|n| *n >= 1)?;
        let secs: u64 = secs.trim().parse().ok().filter(|s| (1..=86_400).contains(s))?;
        Some(Self {
            max,
            window: Duration::from_secs(secs),
            windows: Mutex::new(HashMap::new()),
        })
    }

    /// `N/S`, as given.
    pub fn describe(&self) -> String {
        format!("{}/{}", self.max, self.window.as_secs())
    }

    /// Starts an attempt from `ip` at `now`: `Ok` counts it, `Err` is how long until
    /// the address may try again (whole seconds, at least one).
    pub fn begin(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if windows.len() > PRUNE_ABOVE {
            windows.retain(|_, (opened, _)| now.saturating_duration_since(*opened) < self.window);
        }
        let entry = windows.entry(ip).or_insert((now, 0));
        if now.saturating_duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        if entry.1 >= self.max {
            let left = self.window.saturating_sub(now.saturating_duration_since(entry.0));
            let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
            return Err(Duration::from_secs(secs.max(1)));
        }
        entry.1 += 1;
        Ok(())
    }

    /// The attempt begun from `ip` succeeded: it is not a failure.
    pub fn succeeded(&self, ip: IpAddr) {
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(entry) = windows.get_mut(&ip) {
            entry.1 = entry.1.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn parses_n_per_seconds_and_refuses_nonsense() {
        let l = LoginLimiter::parse("5/20").unwrap();
        assert_eq!((l.max, l.window), (5, Duration::from_secs(20)));
        assert_eq!(l.describe(), "5/20");
        for bad in [
            "", "5", "5/", "/20", "0/20", "5/0", "-1/20", "5/x", "5/20/1", "5/100000",
        ] {
            assert!(LoginLimiter::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn the_sixth_failure_in_the_window_is_refused_until_it_closes() {
        let l = LoginLimiter::parse("5/20").unwrap();
        let t0 = Instant::now();
        for i in 0..5 {
            assert_eq!(l.begin(ip(1), t0 + Duration::from_secs(i)), Ok(()), "attempt {i}");
        }
        // Window opened at t0: at t0 + 4.5 s, 15.5 s are left, said as 16.
        let at = t0 + Duration::from_millis(4_500);
        assert_eq!(l.begin(ip(1), at), Err(Duration::from_secs(16)));
        assert_eq!(
            l.begin(ip(1), t0 + Duration::from_millis(19_999)),
            Err(Duration::from_secs(1))
        );
        // Refused attempts do not extend the window; another address is not affected.
        assert_eq!(l.begin(ip(2), at), Ok(()));
        assert_eq!(l.begin(ip(1), t0 + Duration::from_secs(20)), Ok(()));
    }

    #[test]
    fn a_success_is_not_counted_as_a_failure() {
        let l = LoginLimiter::parse("2/60").unwrap();
        let t0 = Instant::now();
        for _ in 0..10 {
            assert_eq!(l.begin(ip(1), t0), Ok(()));
            l.succeeded(ip(1));
        }
        assert_eq!(l.begin(ip(1), t0), Ok(()));
        assert_eq!(l.begin(ip(1), t0), Ok(()));
        assert!(l.begin(ip(1), t0).is_err());
        // A success after the limit was reached does not reopen it for the others.
        l.succeeded(ip(3));
        assert!(l.begin(ip(1), t0).is_err());
    }

    #[test]
    fn closed_windows_are_dropped_when_many_addresses_were_seen() {
        let l = LoginLimiter::parse("1/1").unwrap();
        let t0 = Instant::now();
        for i in 0..=PRUNE_ABOVE as u32 {
            assert_eq!(l.begin(IpAddr::from(i.to_be_bytes()), t0), Ok(()));
        }
        let later = t0 + Duration::from_secs(2);
        assert_eq!(l.begin(ip(1), later), Ok(()));
        let len = l.windows.lock().unwrap().len();
        assert_eq!(len, 1);
    }
}
