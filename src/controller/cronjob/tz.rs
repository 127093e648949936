//! IANA time zones for CronJob schedules, read the way Go's `time.LoadLocation` reads them:
//! the 64-bit transition table of a TZif file (RFC 8536) under a zoneinfo root, extended past
//! its last transition by the POSIX TZ rule in the file's footer.
//!
//! Contract: [`Zone::lookup`] is Go's `Location.lookup` (the offset in force at an instant and
//! the bounds of the period it holds for, which may be coarser than the true period away from
//! a transition, exactly as Go's), and [`Zone::date`] is Go's `time.Date`: a wall-clock reading
//! in a gap or an overlap resolves to the instant Go would pick, so schedule arithmetic built on
//! it matches robfig/cron across DST changes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::clock::{civil_from_days, days_from_civil};

const ALPHA: i64 = i64::MIN;
const OMEGA: i64 = i64::MAX;
const DAY: i64 = 86_400;

#[derive(Debug, thiserror::Error)]
pub enum TzError {
    #[error("unknown time zone {0}")]
    Unknown(String),
    #[error("reading time zone {name}")]
    Read {
        name: String,
        #[source]
        source: std::io::Error,
    },
    #[error("malformed time zone data for {0}")]
    Malformed(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ZoneType {
    /// Seconds east of UTC.
    offset: i64,
    dst: bool,
}

/// One zone: transitions (`at`, index into `types`) sorted by time, and the footer rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    types: Vec<ZoneType>,
    transitions: Vec<(i64, usize)>,
    rule: Option<String>,
}

/// Local calendar fields of an instant in a zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    /// 0 = Sunday.
    pub weekday: u32,
    pub offset: i64,
}

impl Zone {
    pub fn utc() -> Zone {
        Zone {
            types: vec![],
            transitions: vec![],
            rule: None,
        }
    }

    /// A zone given only by a POSIX TZ string such as `EST5EDT,M3.2.0,M11.1.0`.
    pub fn from_posix(rule: &str) -> Option<Zone> {
        let r = PosixTz::parse(rule)?;
        Some(Zone {
            types: vec![ZoneType {
                offset: r.std_offset,
                dst: false,
            }],
            transitions: vec![(ALPHA, 0)],
            rule: Some(rule.to_string()),
        })
    }

    /// Parse TZif data (version 1 data is used only when no 64-bit block follows).
    pub fn from_tzif(name: &str, data: &[u8]) -> Result<Zone, TzError> {
        let bad = || TzError::Malformed(name.to_string());
        let header = |d: &[u8]| -> Option<(u8, [usize; 6])> {
            if d.len() < 44 || &d[..4] != b"TZif" {
                return None;
            }
            let mut n = [0usize; 6];
            for (i, c) in n.iter_mut().enumerate() {
                let at = 20 + 4 * i;
                *c = u32::from_be_bytes(d[at..at + 4].try_into().ok()?) as usize;
            }
            Some((d[4], n))
        };
        let (version, counts) = header(data).ok_or_else(bad)?;
        let block_len = |n: [usize; 6], time_size: usize| {
            let [isut, isstd, leap, time, typ, chars] = n;
            time * time_size + time + typ * 6 + chars + leap * (time_size + 4) + isstd + isut
        };
        let (body, counts, time_size) = if version >= b'2' {
            let rest = data.get(44 + block_len(counts, 4)..).ok_or_else(bad)?;
            let (_, counts2) = header(rest).ok_or_else(bad)?;
            (&rest[44..], counts2, 8)
        } else {
            (&data[44..], counts, 4)
        };
        let [_, _, _, time_count, type_count, _] = counts;
        let len = block_len(counts, time_size);
        if body.len() < len || type_count == 0 {
            return Err(bad());
        }
        let mut transitions = Vec::with_capacity(time_count);
        for i in 0..time_count {
            let raw = &body[i * time_size..(i + 1) * time_size];
            let at = if time_size == 8 {
                i64::from_be_bytes(raw.try_into().map_err(|_| bad())?)
            } else {
                i64::from(i32::from_be_bytes(raw.try_into().map_err(|_| bad())?))
            };
            let idx = usize::from(body[time_count * time_size + i]);
            if idx >= type_count {
                return Err(bad());
            }
            transitions.push((at, idx));
        }
        let types_at = time_count * time_size + time_count;
        let types = (0..type_count)
            .map(|i| {
                let t = &body[types_at + 6 * i..types_at + 6 * i + 6];
                ZoneType {
                    offset: i64::from(i32::from_be_bytes([t[0], t[1], t[2], t[3]])),
                    dst: t[4] != 0,
                }
            })
            .collect();
        let footer = if time_size == 8 {
            std::str::from_utf8(&body[len..])
                .ok()
                .and_then(|f| f.strip_prefix('\n'))
                .and_then(|f| f.split('\n').next())
                .filter(|f| !f.is_empty())
                .map(str::to_string)
        } else {
            None
        };
        if transitions.is_empty() {
            // Fixed zones (`Etc/GMT+5`) get one transition covering all time, as Go builds.
            transitions.push((ALPHA, 0));
        }
        Ok(Zone {
            types,
            transitions,
            rule: footer,
        })
    }

    /// Go's `lookupFirstZone`: the type in force before the first transition.
    fn first_type(&self) -> usize {
        let used = self.transitions.iter().any(|(_, i)| *i == 0);
        if !used {
            return 0;
        }
        if let Some((_, first)) = self.transitions.first() {
            if self.types[*first].dst {
                if let Some(i) = (0..*first).rev().find(|i| !self.types[*i].dst) {
                    return i;
                }
            }
        }
        self.types.iter().position(|t| !t.dst).unwrap_or(0)
    }

    /// (offset east of UTC, period start, period end) at instant `sec`.
    pub fn lookup(&self, sec: i64) -> (i64, i64, i64) {
        if self.types.is_empty() {
            return (0, ALPHA, OMEGA);
        }
        let tx = &self.transitions;
        if tx.is_empty() || sec < tx[0].0 {
            let end = tx.first().map_or(OMEGA, |t| t.0);
            return (self.types[self.first_type()].offset, ALPHA, end);
        }
        let lo = tx.partition_point(|(at, _)| *at <= sec) - 1;
        let end = tx.get(lo + 1).map_or(OMEGA, |t| t.0);
        let (start, idx) = tx[lo];
        if lo == tx.len() - 1 {
            if let Some(r) = self.rule.as_deref().and_then(PosixTz::parse) {
                return r.lookup(start, sec);
            }
        }
        (self.types[idx].offset, start, end)
    }

    /// Calendar fields of instant `sec` in this zone.
    pub fn civil(&self, sec: i64) -> Civil {
        let (offset, _, _) = self.lookup(sec);
        let local = sec + offset;
        let days = local.div_euclid(DAY);
        let (year, month, day) = civil_from_days(days);
        let s = local.rem_euclid(DAY);
        Civil {
            year,
            month,
            day,
            hour: (s / 3600) as u32,
            minute: (s / 60 % 60) as u32,
            second: (s % 60) as u32,
            weekday: (days + 4).rem_euclid(7) as u32,
            offset,
        }
    }

    /// Go's `time.Date`: fields may overflow (month 13, day 32) and are normalised.
    pub fn date(&self, year: i64, month: i64, day: i64, hour: i64, min: i64, sec: i64) -> i64 {
        let y = year + (month - 1).div_euclid(12);
        let m = (month - 1).rem_euclid(12) as u32 + 1;
        let days = days_from_civil(y, m, 1) + day - 1;
        let unix = days * DAY + hour * 3600 + min * 60 + sec;
        // Guess with the wall reading taken as UTC, then correct if the guessed offset's period
        // does not contain the result (what Go does near transitions).
        let (mut offset, start, end) = self.lookup(unix);
        if offset != 0 {
            let utc = unix - offset;
            if utc < start || utc >= end {
                offset = self.lookup(utc).0;
            }
        }
        unix - offset
    }
}

/// `2006-01-02T15:04:05Z07:00` of an instant in a zone.
pub fn rfc3339_in(zone: &Zone, sec: i64) -> String {
    let c = zone.civil(sec);
    let zone_part = if c.offset == 0 {
        "Z".to_string()
    } else {
        let sign = if c.offset < 0 { '-' } else { '+' };
        let o = c.offset.abs();
        format!("{sign}{:02}:{:02}", o / 3600, o / 60 % 60)
    };
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{zone_part}",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// Loads and caches zones from a zoneinfo root (`/usr/share/zoneinfo`).
pub struct Zones {
    root: PathBuf,
    cache: Mutex<HashMap<String, Arc<Zone>>>,
}

impl Zones {
    pub fn new(root: impl Into<PathBuf>) -> Zones {
        Zones {
            root: root.into(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Go's `time.LoadLocation`: `""` and `UTC` are UTC, `Local` is `/etc/localtime` (UTC when
    /// absent), anything else a file under the root.
    pub fn load(&self, name: &str) -> Result<Arc<Zone>, TzError> {
        if name.is_empty() || name == "UTC" {
            return Ok(Arc::new(Zone::utc()));
        }
        if let Some(z) = self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
        {
            return Ok(z.clone());
        }
        let path = if name == "Local" {
            let p = Path::new("/etc/localtime");
            if !p.exists() {
                return Ok(Arc::new(Zone::utc()));
            }
            p.to_path_buf()
        } else {
            // Go refuses names that could escape the database.
            if name.starts_with('/') || name.split('/').any(|c| c == ".." || c.is_empty()) {
                return Err(TzError::Unknown(name.to_string()));
            }
            self.root.join(name)
        };
        let data = std::fs::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => TzError::Unknown(name.to_string()),
            _ => TzError::Read {
                name: name.to_string(),
                source: e,
            },
        })?;
        let zone = Arc::new(Zone::from_tzif(name, &data)?);
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string(), zone.clone());
        Ok(zone)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RuleKind {
    /// `Jn`: day 1..=365, February 29 never counted.
    Julian,
    /// `n`: zero-based day of the year, leap days counted.
    DayOfYear,
    /// `Mm.w.d`: day `d` of week `w` (5 = last) of month `m`.
    MonthWeekDay,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rule {
    kind: RuleKind,
    day: i64,
    week: i64,
    month: i64,
    /// Local seconds after midnight (may be negative or beyond a day).
    time: i64,
}

/// A POSIX TZ string (`std offset [dst [offset] [,start[/time],end[/time]]]`), offsets east.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PosixTz {
    std_offset: i64,
    dst: Option<(i64, Rule, Rule)>,
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in(month: i64, year: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl PosixTz {
    fn parse(s: &str) -> Option<PosixTz> {
        let s = name(s)?;
        let (std, mut s) = offset(s)?;
        let std_offset = -std;
        if s.is_empty() || s.starts_with(',') {
            return Some(PosixTz {
                std_offset,
                dst: None,
            });
        }
        s = name(s)?;
        let dst_offset = if s.is_empty() || s.starts_with(',') {
            std_offset + 3600
        } else {
            let (o, rest) = offset(s)?;
            s = rest;
            -o
        };
        // tzcode's default rules when a DST name comes without any.
        let s = if s.is_empty() { ",M3.2.0,M11.1.0" } else { s };
        let s = s.strip_prefix([',', ';'])?;
        let (start, s) = rule(s)?;
        let (end, s) = rule(s.strip_prefix(',')?)?;
        if !s.is_empty() {
            return None;
        }
        Some(PosixTz {
            std_offset,
            dst: Some((dst_offset, start, end)),
        })
    }

    /// Go's `tzset`: offset and period bounds at `sec`, for instants after `last_tx`.
    fn lookup(&self, last_tx: i64, sec: i64) -> (i64, i64, i64) {
        let Some((dst_offset, start_rule, end_rule)) = self.dst else {
            return (self.std_offset, last_tx, OMEGA);
        };
        let year = civil_from_days(sec.div_euclid(DAY)).0;
        let year_start = days_from_civil(year, 1, 1) * DAY;
        let ysec = sec - year_start;
        let mut start = rule_time(year, &start_rule, self.std_offset);
        let mut end = rule_time(year, &end_rule, dst_offset);
        let (mut std_off, mut dst_off) = (self.std_offset, dst_offset);
        if end < start {
            // Southern hemisphere: DST spans the new year.
            std::mem::swap(&mut start, &mut end);
            std::mem::swap(&mut std_off, &mut dst_off);
        }
        if ysec < start {
            (std_off, year_start, start + year_start)
        } else if ysec >= end {
            (std_off, end + year_start, year_start + 365 * DAY)
        } else {
            (dst_off, start + year_start, end + year_start)
        }
    }
}

/// Seconds from the start of `year` (UTC) to a rule's transition, `off` being in force before.
fn rule_time(year: i64, r: &Rule, off: i64) -> i64 {
    let days = match r.kind {
        RuleKind::Julian => r.day - 1 + i64::from(is_leap(year) && r.day >= 60),
        RuleKind::DayOfYear => r.day,
        RuleKind::MonthWeekDay => {
            let first = days_from_civil(year, r.month as u32, 1);
            let first_dow = (first + 4).rem_euclid(7);
            let mut d = (r.day - first_dow).rem_euclid(7);
            for _ in 1..r.week {
                if d + 7 >= days_in(r.month, year) {
                    break;
                }
                d += 7;
            }
            first - days_from_civil(year, 1, 1) + d
        }
    };
    days * DAY + r.time - off
}

/// Skip a zone abbreviation (`EST` or `<-03>`).
fn name(s: &str) -> Option<&str> {
    if let Some(rest) = s.strip_prefix('<') {
        let close = rest.find('>')?;
        return Some(&rest[close + 1..]);
    }
    let end = s
        .find(|c: char| c.is_ascii_digit() || matches!(c, ',' | '-' | '+'))
        .unwrap_or(s.len());
    (end >= 3).then(|| &s[end..])
}

fn num(s: &str, min: i64, max: i64) -> Option<(i64, &str)> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n: i64 = s.get(..end).filter(|d| !d.is_empty())?.parse().ok()?;
    (min..=max).contains(&n).then(|| (n, &s[end..]))
}

/// `[+-]hh[:mm[:ss]]` in seconds (POSIX sign: positive is west).
fn offset(s: &str) -> Option<(i64, &str)> {
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (h, mut s) = num(s, 0, 24 * 7)?;
    let mut off = h * 3600;
    for unit in [60, 1] {
        let Some(rest) = s.strip_prefix(':') else {
            break;
        };
        let (n, rest) = num(rest, 0, 59)?;
        off += n * unit;
        s = rest;
    }
    Some((if neg { -off } else { off }, s))
}

fn rule(s: &str) -> Option<(Rule, &str)> {
    let (mut r, s) = if let Some(rest) = s.strip_prefix('J') {
        let (day, rest) = num(rest, 1, 365)?;
        (
            Rule {
                kind: RuleKind::Julian,
                day,
                week: 0,
                month: 0,
                time: 0,
            },
            rest,
        )
    } else if let Some(rest) = s.strip_prefix('M') {
        let (month, rest) = num(rest, 1, 12)?;
        let (week, rest) = num(rest.strip_prefix('.')?, 1, 5)?;
        let (day, rest) = num(rest.strip_prefix('.')?, 0, 6)?;
        (
            Rule {
                kind: RuleKind::MonthWeekDay,
                day,
                week,
                month,
                time: 0,
            },
            rest,
        )
    } else {
        let (day, rest) = num(s, 0, 365)?;
        (
            Rule {
                kind: RuleKind::DayOfYear,
                day,
                week: 0,
                month: 0,
                time: 0,
            },
            rest,
        )
    };
    let Some(rest) = s.strip_prefix('/') else {
        r.time = 2 * 3600;
        return Some((r, s));
    };
    let (time, rest) = offset(rest)?;
    r.time = time;
    Some((r, rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::parse_rfc3339;

    fn at(s: &str) -> i64 {
        parse_rfc3339(s).unwrap()
    }

    #[test]
    fn posix_rules_give_offsets_around_transitions() {
        let ny = Zone::from_posix("EST5EDT,M3.2.0,M11.1.0").unwrap();
        // 2024: DST from March 10 07:00Z to November 3 06:00Z.
        assert_eq!(ny.lookup(at("2024-03-10T06:59:59Z")).0, -5 * 3600);
        assert_eq!(ny.lookup(at("2024-03-10T07:00:00Z")).0, -4 * 3600);
        assert_eq!(ny.lookup(at("2024-11-03T05:59:59Z")).0, -4 * 3600);
        assert_eq!(ny.lookup(at("2024-11-03T06:00:00Z")).0, -5 * 3600);
        let sydney = Zone::from_posix("AEST-10AEDT,M10.1.0,M4.1.0/3").unwrap();
        assert_eq!(sydney.lookup(at("2024-01-15T00:00:00Z")).0, 11 * 3600);
        assert_eq!(sydney.lookup(at("2024-06-15T00:00:00Z")).0, 10 * 3600);
        let fixed = Zone::from_posix("<+0530>-5:30").unwrap();
        assert_eq!(fixed.lookup(0).0, 5 * 3600 + 1800);
        assert!(Zone::from_posix("E5").is_none());
    }

    #[test]
    fn date_resolves_gaps_and_overlaps_like_go() {
        let ny = Zone::from_posix("EST5EDT,M3.2.0,M11.1.0").unwrap();
        // 02:30 does not exist on 2024-03-10; Go lands on 01:30 EST (06:30Z).
        assert_eq!(ny.date(2024, 3, 10, 2, 30, 0), at("2024-03-10T06:30:00Z"));
        assert_eq!(ny.date(2024, 3, 10, 3, 0, 0), at("2024-03-10T07:00:00Z"));
        // 01:30 happens twice on 2024-11-03; Go picks the first (EDT).
        assert_eq!(ny.date(2024, 11, 3, 1, 30, 0), at("2024-11-03T05:30:00Z"));
        // Overflowing fields normalise.
        assert_eq!(ny.date(2024, 13, 1, 0, 0, 0), at("2025-01-01T05:00:00Z"));
        let c = ny.civil(at("2024-07-04T16:00:00Z"));
        assert_eq!((c.hour, c.weekday, c.offset), (12, 4, -4 * 3600));
    }

    #[test]
    fn formats_rfc3339_with_offsets() {
        let ny = Zone::from_posix("EST5EDT,M3.2.0,M11.1.0").unwrap();
        assert_eq!(
            rfc3339_in(&ny, at("2024-01-01T14:00:00Z")),
            "2024-01-01T09:00:00-05:00"
        );
        assert_eq!(rfc3339_in(&Zone::utc(), 0), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn reads_tzif_files_from_the_system_database() {
        let zones = Zones::new("/usr/share/zoneinfo");
        assert!(matches!(
            zones.load("Nowhere/Atlantis"),
            Err(TzError::Unknown(_))
        ));
        assert!(matches!(
            zones.load("../etc/passwd"),
            Err(TzError::Unknown(_))
        ));
        let Ok(berlin) = zones.load("Europe/Berlin") else {
            eprintln!("SKIPPED: no zoneinfo database");
            return;
        };
        assert_eq!(berlin.lookup(at("2024-01-15T12:00:00Z")).0, 3600);
        assert_eq!(berlin.lookup(at("2024-07-15T12:00:00Z")).0, 7200);
        // Far beyond the table: the footer rule decides.
        assert_eq!(berlin.lookup(at("2090-07-15T12:00:00Z")).0, 7200);
        assert_eq!(berlin.lookup(at("2090-12-15T12:00:00Z")).0, 3600);
        let kolkata = zones.load("Asia/Kolkata").unwrap();
        assert_eq!(kolkata.lookup(at("2024-01-15T12:00:00Z")).0, 19_800);
    }
}
