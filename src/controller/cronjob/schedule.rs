//! CronJob schedule arithmetic on parsed expressions (the parser is the API validator's,
//! [`crate::api::validation::cron::parse`]): robfig/cron's `SpecSchedule.Next` in an IANA zone,
//! and the Kubernetes 1.33 helpers built on it (`mostRecentScheduleTime`, `nextScheduleTime`,
//! `nextScheduleTimeDuration`).
//!
//! Contract: times are unix seconds; [`Schedule::next`] is the first matching instant strictly
//! after its argument, or `None` when nothing matches within five years (Go's zero time). A
//! CronJob's schedule without `TZ=`/`spec.timeZone` runs in the controller's local zone, as
//! kube-controller-manager's does.

use std::sync::Arc;
use std::time::Duration;

use super::tz::{TzError, Zone, Zones};
use crate::api::validation::cron::{self, Fields, Spec, STAR_BIT};

/// Added to requeue delays so a sync lands just after the scheduled second (Kubernetes'
/// `nextScheduleDelta`, against clock skew).
pub const NEXT_SCHEDULE_DELTA: Duration = Duration::from_millis(100);
/// More missed start times than this are reported as a warning.
const MANY_MISSED: i64 = 100;

#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("{0}")]
    Parse(String),
    #[error("provided bad location {name}: {source}")]
    Zone {
        name: String,
        #[source]
        source: TzError,
    },
    #[error("time difference between two schedules is less than 1 second")]
    TooClose,
}

/// A parsed schedule bound to the zone its fields are read in.
#[derive(Debug, Clone)]
pub struct Schedule {
    spec: Spec,
    zone: Arc<Zone>,
}

/// How many start times were missed since the last one acted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missed {
    None,
    Few,
    /// More than 100: Kubernetes warns (`TooManyMissedTimes`) and still starts the latest.
    Many,
}

/// Result of [`Schedule::most_recent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MostRecent {
    /// Where the search started (last schedule, creation, or the starting deadline).
    pub earliest: i64,
    /// The latest start time at or before now, if any.
    pub time: Option<i64>,
    pub missed: Missed,
}

/// What the schedule search starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct History {
    pub created: i64,
    pub last_schedule: Option<i64>,
    pub starting_deadline: Option<i64>,
}

impl Schedule {
    pub fn new(spec: Spec, zone: Arc<Zone>) -> Schedule {
        Schedule { spec, zone }
    }

    /// Parse an expression as Kubernetes formats it (`TZ=<spec.timeZone> <schedule>` when a
    /// zone is set and the schedule names none); `Local` is the default zone.
    pub fn parse(expr: &str, zones: &Zones) -> Result<Schedule, ScheduleError> {
        let parsed = cron::parse(expr).map_err(ScheduleError::Parse)?;
        let name = parsed.time_zone.unwrap_or_else(|| "Local".into());
        let zone = zones
            .load(&name)
            .map_err(|source| ScheduleError::Zone { name, source })?;
        Ok(Schedule::new(parsed.spec, zone))
    }

    /// robfig/cron's `Next`: the first matching second after `after`.
    pub fn next(&self, after: i64) -> Option<i64> {
        let f = match &self.spec {
            Spec::Every(ns) => {
                // ConstantDelaySchedule: at least a second, whole seconds only.
                let secs = (ns / 1_000_000_000).max(1) as i64;
                return Some(after + secs);
            }
            Spec::Fields(f) => f,
        };
        let z = &*self.zone;
        let bit = |set: u64, v: u32| set & (1 << v) != 0;
        let mut t = after + 1;
        let mut added = false;
        let year_limit = z.civil(t).year + 5;
        'wrap: loop {
            let c = z.civil(t);
            if c.year > year_limit {
                return None;
            }
            // Each stage resets the finer fields once, then steps; stepping past the end of the
            // coarser unit starts over (robfig's `goto WRAP`).
            while !bit(f.month, z.civil(t).month) {
                if !added {
                    added = true;
                    let c = z.civil(t);
                    t = z.date(c.year, i64::from(c.month), 1, 0, 0, 0);
                }
                let c = z.civil(t);
                t = z.date(
                    c.year,
                    i64::from(c.month) + 1,
                    i64::from(c.day),
                    i64::from(c.hour),
                    i64::from(c.minute),
                    i64::from(c.second),
                );
                if z.civil(t).month == 1 {
                    continue 'wrap;
                }
            }
            while !day_matches(f, &z.civil(t)) {
                if !added {
                    added = true;
                    let c = z.civil(t);
                    t = z.date(c.year, i64::from(c.month), i64::from(c.day), 0, 0, 0);
                }
                let c = z.civil(t);
                t = z.date(
                    c.year,
                    i64::from(c.month),
                    i64::from(c.day) + 1,
                    i64::from(c.hour),
                    i64::from(c.minute),
                    i64::from(c.second),
                );
                // Midnight may not exist on a DST day: land back on midnight.
                let h = i64::from(z.civil(t).hour);
                if h != 0 {
                    t += if h > 12 { (24 - h) * 3600 } else { -h * 3600 };
                }
                if z.civil(t).day == 1 {
                    continue 'wrap;
                }
            }
            while !bit(f.hour, z.civil(t).hour) {
                if !added {
                    added = true;
                    let c = z.civil(t);
                    t = z.date(
                        c.year,
                        i64::from(c.month),
                        i64::from(c.day),
                        i64::from(c.hour),
                        0,
                        0,
                    );
                }
                t += 3600;
                if z.civil(t).hour == 0 {
                    continue 'wrap;
                }
            }
            while !bit(f.minute, z.civil(t).minute) {
                if !added {
                    added = true;
                    t -= t.rem_euclid(60);
                }
                t += 60;
                if z.civil(t).minute == 0 {
                    continue 'wrap;
                }
            }
            // Standard schedules fire at second 0.
            while z.civil(t).second != 0 {
                added = true;
                t += 1;
                if z.civil(t).second == 0 {
                    continue 'wrap;
                }
            }
            return Some(t);
        }
    }

    /// Kubernetes' `mostRecentScheduleTime`: the latest start time in `(earliest, now]`, and
    /// how many were missed (estimated from the spacing of the first two, as Kubernetes does,
    /// so a stalled hourly CronJob costs no more than a minutely one).
    pub fn most_recent(
        &self,
        h: &History,
        now: i64,
        include_deadline: bool,
    ) -> Result<MostRecent, ScheduleError> {
        let mut earliest = h.last_schedule.unwrap_or(h.created);
        if let (true, Some(d)) = (include_deadline, h.starting_deadline) {
            earliest = earliest.max(now - d);
        }
        let (Some(t1), Some(t2)) = (
            self.next(earliest),
            self.next(earliest).and_then(|t| self.next(t)),
        ) else {
            return Err(ScheduleError::TooClose);
        };
        let none = |time| MostRecent {
            earliest,
            time,
            missed: Missed::None,
        };
        if now < t1 {
            return Ok(none(None));
        }
        if now < t2 {
            return Ok(none(Some(t1)));
        }
        let between = t2 - t1;
        if between < 1 {
            return Err(ScheduleError::TooClose);
        }
        let missed_count = (now - t1) / between + 1;
        // Start one interval early and let the schedule find the exact times (irregular
        // schedules such as `30 6-16/4 * * 1-5`).
        let mut t = self.next(t1 + (missed_count - 2) * between);
        let mut latest = None;
        while let Some(x) = t.filter(|x| *x <= now) {
            latest = Some(x);
            t = self.next(x);
        }
        let missed = match missed_count {
            n if n > MANY_MISSED => Missed::Many,
            n if n > 1 => Missed::Few,
            _ => Missed::None,
        };
        Ok(MostRecent {
            earliest,
            time: latest,
            missed,
        })
    }

    /// Kubernetes' `nextScheduleTime`: the start time to act on now (within the starting
    /// deadline), if any.
    pub fn due(&self, h: &History, now: i64) -> Result<(Option<i64>, Missed), ScheduleError> {
        let mr = self.most_recent(h, now, true)?;
        Ok((mr.time.filter(|t| *t <= now), mr.missed))
    }

    /// Kubernetes' `nextScheduleTimeDuration`: how long until the next start time.
    pub fn until_next(&self, h: &History, now: i64) -> Option<Duration> {
        let from = match self.most_recent(h, now, false) {
            Err(_) => now,
            Ok(MostRecent { time: Some(t), .. }) => t,
            Ok(MostRecent {
                earliest,
                missed: Missed::None,
                ..
            }) => earliest,
            Ok(_) => now,
        };
        let next = self.next(from)?;
        let secs = u64::try_from(next - now).unwrap_or(0);
        Some(Duration::from_secs(secs) + NEXT_SCHEDULE_DELTA)
    }
}

/// robfig/cron's `dayMatches`: with a `*` in either day field both must match, otherwise
/// either may.
fn day_matches(f: &Fields, c: &super::tz::Civil) -> bool {
    let dom = f.dom & (1 << c.day) != 0;
    let dow = f.dow & (1 << c.weekday) != 0;
    if f.dom & STAR_BIT != 0 || f.dow & STAR_BIT != 0 {
        dom && dow
    } else {
        dom || dow
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::parse_rfc3339;

    fn at(s: &str) -> i64 {
        parse_rfc3339(s).unwrap()
    }

    fn in_zone(expr: &str, posix: &str) -> Schedule {
        let spec = cron::parse(expr).unwrap().spec;
        Schedule::new(spec, Arc::new(Zone::from_posix(posix).unwrap()))
    }

    fn utc(expr: &str) -> Schedule {
        Schedule::new(cron::parse(expr).unwrap().spec, Arc::new(Zone::utc()))
    }

    fn nexts(s: &Schedule, from: &str, n: usize) -> Vec<String> {
        let mut t = at(from);
        (0..n)
            .map(|_| {
                t = s.next(t).unwrap();
                crate::clock::rfc3339(t)
            })
            .collect()
    }

    #[test]
    fn next_walks_fields_and_macros() {
        assert_eq!(
            nexts(&utc("*/1 * * * *"), "2024-05-01T10:00:30Z", 2),
            ["2024-05-01T10:01:00Z", "2024-05-01T10:02:00Z"]
        );
        assert_eq!(
            nexts(&utc("@hourly"), "2024-12-31T23:00:00Z", 2),
            ["2025-01-01T00:00:00Z", "2025-01-01T01:00:00Z"]
        );
        assert_eq!(
            nexts(&utc("0 9-17/4 * * mon-fri"), "2024-05-03T14:00:00Z", 3),
            [
                "2024-05-03T17:00:00Z",
                "2024-05-06T09:00:00Z",
                "2024-05-06T13:00:00Z"
            ]
        );
        // Day-of-month OR day-of-week when neither is `*`.
        assert_eq!(
            nexts(&utc("0 0 13 * fri"), "2024-09-01T00:00:00Z", 3),
            [
                "2024-09-06T00:00:00Z",
                "2024-09-13T00:00:00Z",
                "2024-09-20T00:00:00Z"
            ]
        );
        assert_eq!(
            nexts(&utc("@yearly"), "2024-02-29T00:00:00Z", 1),
            ["2025-01-01T00:00:00Z"]
        );
        assert_eq!(
            nexts(&utc("0 0 29 2 *"), "2024-03-01T00:00:00Z", 1),
            ["2028-02-29T00:00:00Z"]
        );
        assert_eq!(utc("0 0 30 2 *").next(at("2024-01-01T00:00:00Z")), None);
        // robfig's own vectors (its six-field specs without the seconds). In v3 a stepped
        // `*/5` is no star, so day-of-month OR Monday: August 1st.
        assert_eq!(
            nexts(&utc("0 0 */5 Apr,Aug,Oct Mon"), "2012-07-09T23:35:00Z", 1),
            ["2012-08-01T00:00:00Z"]
        );
        assert_eq!(
            nexts(&utc("0 0 * Feb Mon/2"), "2012-07-09T23:35:00Z", 1),
            ["2013-02-01T00:00:00Z"]
        );
        assert_eq!(
            nexts(&utc("20-35/15 1/2 */2 * *"), "2012-07-09T23:35:51Z", 1),
            ["2012-07-11T01:20:00Z"]
        );
        assert_eq!(utc("@every 90s").next(100), Some(190));
    }

    #[test]
    fn next_in_a_zone_across_dst() {
        let ny = "EST5EDT,M3.2.0,M11.1.0";
        // 09:00 New York is 14:00Z in winter and 13:00Z in summer.
        assert_eq!(
            nexts(&in_zone("0 9 * * *", ny), "2024-03-09T15:00:00Z", 2),
            ["2024-03-10T13:00:00Z", "2024-03-11T13:00:00Z"]
        );
        // 02:30 does not exist on the spring-forward day: robfig skips that day.
        assert_eq!(
            nexts(&in_zone("30 2 * * *", ny), "2024-03-09T08:00:00Z", 2),
            ["2024-03-11T06:30:00Z", "2024-03-12T06:30:00Z"]
        );
        // 01:30 happens twice on the fall-back day and robfig fires at both (its own test
        // vectors say "1am nightly job (runs twice)").
        assert_eq!(
            nexts(&in_zone("30 1 * * *", ny), "2024-11-02T06:00:00Z", 3),
            [
                "2024-11-03T05:30:00Z",
                "2024-11-03T06:30:00Z",
                "2024-11-04T06:30:00Z"
            ]
        );
        // robfig's vector: a yearly 02:30 on the spring-forward day slips a whole year.
        assert_eq!(
            nexts(&in_zone("30 2 11 Mar *", ny), "2012-03-11T05:00:00Z", 1),
            ["2013-03-11T06:30:00Z"]
        );
        // Hourly through the repeated hour fires in both.
        assert_eq!(
            nexts(&in_zone("0 * * * *", ny), "2024-11-03T04:30:00Z", 3),
            [
                "2024-11-03T05:00:00Z",
                "2024-11-03T06:00:00Z",
                "2024-11-03T07:00:00Z"
            ]
        );
        // Midnight that does not exist (Sao Paulo 2018-11-04 00:00 jumped to 01:00): walking
        // hour by hour never sees hour 0 that day, so robfig skips it; 09:00 still fires.
        let sp = "<-03>3<-02>,M11.1.0/0,M2.3.0/0";
        assert_eq!(
            nexts(&in_zone("0 0 * * *", sp), "2018-11-03T12:00:00Z", 2),
            ["2018-11-05T02:00:00Z", "2018-11-06T02:00:00Z"]
        );
        assert_eq!(
            nexts(&in_zone("0 9 * * *", sp), "2018-11-03T13:00:00Z", 1),
            ["2018-11-04T11:00:00Z"]
        );
    }

    fn history(created: &str, last: Option<&str>, deadline: Option<i64>) -> History {
        History {
            created: at(created),
            last_schedule: last.map(at),
            starting_deadline: deadline,
        }
    }

    #[test]
    fn most_recent_counts_missed_schedules() {
        let s = utc("*/1 * * * *");
        let h = history("2024-05-01T10:00:10Z", None, None);
        let mr = s.most_recent(&h, at("2024-05-01T10:00:50Z"), true).unwrap();
        assert_eq!((mr.time, mr.missed), (None, Missed::None));
        let mr = s.most_recent(&h, at("2024-05-01T10:01:00Z"), true).unwrap();
        assert_eq!(
            (mr.time, mr.missed),
            (Some(at("2024-05-01T10:01:00Z")), Missed::None)
        );
        let mr = s.most_recent(&h, at("2024-05-01T10:05:30Z"), true).unwrap();
        assert_eq!(
            (mr.time, mr.missed),
            (Some(at("2024-05-01T10:05:00Z")), Missed::Few)
        );
        // Two hours down: 120 missed, the latest still runs.
        let mr = s.most_recent(&h, at("2024-05-01T12:00:30Z"), true).unwrap();
        assert_eq!(
            (mr.time, mr.missed),
            (Some(at("2024-05-01T12:00:00Z")), Missed::Many)
        );
        // A starting deadline bounds the search.
        let h = history("2024-05-01T10:00:10Z", None, Some(200));
        let mr = s.most_recent(&h, at("2024-05-01T12:00:30Z"), true).unwrap();
        assert_eq!(
            (mr.time, mr.missed),
            (Some(at("2024-05-01T12:00:00Z")), Missed::Few)
        );
        assert!(matches!(
            utc("0 0 30 2 *").most_recent(&h, 0, true),
            Err(ScheduleError::TooClose)
        ));
    }

    #[test]
    fn due_and_requeue_delay() {
        let s = utc("0 * * * *");
        let h = history("2024-05-01T09:30:00Z", Some("2024-05-01T10:00:00Z"), None);
        assert_eq!(
            s.due(&h, at("2024-05-01T10:20:00Z")).unwrap(),
            (None, Missed::None)
        );
        assert_eq!(
            s.until_next(&h, at("2024-05-01T10:20:00Z")),
            Some(Duration::from_secs(40 * 60) + NEXT_SCHEDULE_DELTA)
        );
        let (due, _) = s.due(&h, at("2024-05-01T11:00:03Z")).unwrap();
        assert_eq!(due, Some(at("2024-05-01T11:00:00Z")));
        // Past due, the requeue aims at the slot after the most recent one.
        assert_eq!(
            s.until_next(&h, at("2024-05-01T11:00:03Z")),
            Some(Duration::from_secs(3600 - 3) + NEXT_SCHEDULE_DELTA)
        );
    }

    #[test]
    fn parses_with_zones() {
        let zones = Zones::new("/usr/share/zoneinfo");
        assert!(matches!(
            Schedule::parse("TZ=Nowhere/Atlantis 0 * * * *", &zones),
            Err(ScheduleError::Parse(_))
        ));
        assert!(matches!(
            Schedule::parse("61 * * * *", &zones),
            Err(ScheduleError::Parse(_))
        ));
        if let Ok(s) = Schedule::parse("TZ=Europe/Berlin 0 9 * * *", &zones) {
            assert_eq!(
                s.next(at("2024-07-01T00:00:00Z")),
                Some(at("2024-07-01T07:00:00Z"))
            );
        }
    }
}
