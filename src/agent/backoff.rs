//! CrashLoopBackOff: how long a failed container waits before its next restart.
//!
//! Contract (the kubelet's): the first restart after a failure is immediate, each later one
//! waits a delay that starts at 10 s and doubles up to 5 min, measured from the previous
//! restart; a container that ran for 10 min before exiting starts over. Times are seconds
//! from the injected clock.

pub const INITIAL_SECS: i64 = 10;
pub const MAX_SECS: i64 = 300;
pub const RESET_AFTER_SECS: i64 = 600;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Backoff {
    /// Delay in effect since `last_restart` (0 = none yet).
    delay: i64,
    last_restart: i64,
}

impl Backoff {
    /// `Ok(())` when a restart may happen at `now`, else the seconds left.
    pub fn check(&self, now: i64) -> Result<(), i64> {
        let until = self.last_restart + self.delay;
        if self.delay == 0 || now >= until {
            Ok(())
        } else {
            Err(until - now)
        }
    }

    /// Record a restart at `now`, growing the delay for the next one.
    pub fn restarted(&mut self, now: i64) {
        self.delay = if self.delay == 0 {
            INITIAL_SECS
        } else {
            (self.delay * 2).min(MAX_SECS)
        };
        self.last_restart = now;
    }

    /// A container exited after running `secs`: long runs reset the backoff.
    pub fn exited_after(&mut self, secs: i64) {
        if secs >= RESET_AFTER_SECS {
            *self = Backoff::default();
        }
    }

    /// The delay shown in `back-off 20s restarting failed container=...`.
    pub fn delay(&self) -> i64 {
        self.delay
    }

    /// When the next restart may happen.
    pub fn ready_at(&self) -> i64 {
        self.last_restart + self.delay
    }
}

/// `5m0s`/`40s` as Go prints durations in the kubelet's messages.
pub fn go_duration(secs: i64) -> String {
    if secs >= 60 {
        format!("{}m{}s", secs / 60, secs % 60)
    } else {
        format!("{secs}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, FakeClock};

    #[test]
    fn delays_double_from_ten_seconds_to_five_minutes() {
        let clock = FakeClock::new(1000);
        let mut b = Backoff::default();
        assert_eq!(b.check(clock.now()), Ok(()));
        let mut seen = Vec::new();
        for _ in 0..8 {
            b.restarted(clock.now());
            seen.push(b.delay());
            clock.advance(1); // crashes right away
            let left = b.check(clock.now()).unwrap_err();
            assert_eq!(left, b.delay() - 1);
            clock.advance(left);
            assert_eq!(b.check(clock.now()), Ok(()));
        }
        assert_eq!(seen, [10, 20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(go_duration(300), "5m0s");
        assert_eq!(go_duration(40), "40s");
    }

    #[test]
    fn ten_minutes_of_running_resets() {
        let mut b = Backoff::default();
        b.restarted(0);
        b.restarted(10);
        b.exited_after(599);
        assert_eq!(b.delay(), 20);
        b.exited_after(600);
        assert_eq!(b.delay(), 0);
        assert_eq!(b.check(11), Ok(()));
    }
}
