//! Time for the printers: RFC 3339 parsing/formatting without a date library, and
//! `duration.HumanDuration` from `k8s.io/apimachinery`, which renders every AGE-like cell.

use serde_json::Value;

use super::fields;

const NANOS_PER_SEC: i128 = 1_000_000_000;

/// Unix seconds of Go's zero `time.Time` (0001-01-01T00:00:00Z): `IsZero()` timestamps print as
/// `<unknown>`, so a serialized zero time must read as unset.
const GO_ZERO_TIME_SECS: i64 = -62_135_596_800;

/// Kubernetes' `duration.HumanDuration`: about two significant figures, e.g. `45s`, `3m2s`,
/// `10m`, `5h`, `2d3h`, `8d`, `2y45d`. A clock skew of up to one second in the future reads as
/// `0s`; anything further in the future is `<invalid>`.
pub fn human_duration(secs: i64) -> String {
    if secs < -1 {
        return "<invalid>".to_string();
    }
    if secs < 0 {
        return "0s".to_string();
    }
    if secs < 60 * 2 {
        return format!("{secs}s");
    }
    let minutes = secs / 60;
    if minutes < 10 {
        return match secs % 60 {
            0 => format!("{minutes}m"),
            s => format!("{minutes}m{s}s"),
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = secs / 3600;
    if hours < 8 {
        return match minutes % 60 {
            0 => format!("{hours}h"),
            m => format!("{hours}h{m}m"),
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    let days = hours / 24;
    if hours < 24 * 8 {
        return match hours % 24 {
            0 => format!("{days}d"),
            h => format!("{days}d{h}h"),
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{days}d");
    }
    let years = days / 365;
    if hours < 24 * 365 * 8 {
        return match days % 365 {
            0 => format!("{years}y"),
            d => format!("{years}y{d}d"),
        };
    }
    format!("{years}y")
}

/// Nanoseconds since the Unix epoch of an RFC 3339 timestamp (`2024-05-01T10:00:00Z`, with
/// optional fraction and numeric offset). `None` when malformed or Go's zero time.
pub(super) fn parse_rfc3339(text: &str) -> Option<i128> {
    parse_instant(text).filter(|&t| !is_zero(t))
}

/// Whether `t` is Go's zero `time.Time`, which the printers show as `<unknown>`.
pub(super) fn is_zero(t: i128) -> bool {
    t == i128::from(GO_ZERO_TIME_SECS) * NANOS_PER_SEC
}

/// [`parse_rfc3339`] without the zero-time filter.
pub(super) fn parse_instant(text: &str) -> Option<i128> {
    let b = text.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = b.get(from..from + len)?;
        part.iter().all(u8::is_ascii_digit).then_some(())?;
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    let sep = |at: usize, allowed: &[u8]| b.get(at).is_some_and(|c| allowed.contains(c));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let mut pos = 19;
    let mut nanos: i128 = 0;
    if b.get(pos) == Some(&b'.') {
        pos += 1;
        let start = pos;
        while b.get(pos).is_some_and(u8::is_ascii_digit) {
            pos += 1;
        }
        let digits = b.get(start..pos)?;
        if digits.is_empty() {
            return None;
        }
        // Go keeps nanosecond precision; further digits are dropped.
        for (i, d) in digits.iter().take(9).enumerate() {
            nanos += i128::from(d - b'0') * 10i128.pow(8 - i as u32);
        }
    }
    let offset_secs = match b.get(pos) {
        Some(b'Z' | b'z') if b.len() == pos + 1 => 0,
        Some(sign @ (b'+' | b'-')) if b.len() == pos + 6 && sep(pos + 3, b":") => {
            let (oh, om) = (num(pos + 1, 2)?, num(pos + 4, 2)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let off = oh * 3600 + om * 60;
            if *sign == b'-' {
                -off
            } else {
                off
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    Some(i128::from(secs) * NANOS_PER_SEC + nanos)
}

/// The timestamp at `path` in nanoseconds, `None` when absent, malformed or zero.
pub(super) fn time_of(v: &Value, path: &[&str]) -> Option<i128> {
    fields::opt_str(v, path).and_then(parse_rfc3339)
}

/// Whole seconds from `earlier` to `later`, truncated toward zero like Go's `int(d.Seconds())`.
pub(super) fn secs_between(later: i128, earlier: i128) -> i64 {
    let secs = (later - earlier) / NANOS_PER_SEC;
    i64::try_from(secs).unwrap_or(if secs < 0 { i64::MIN } else { i64::MAX })
}

/// `now` (unix seconds) in nanoseconds.
pub(super) fn now_nanos(now: i64) -> i128 {
    i128::from(now) * NANOS_PER_SEC
}

/// `translateTimestampSince`: human age of the timestamp at `path`, `<unknown>` when unset.
pub(super) fn since(v: &Value, path: &[&str], now: i64) -> String {
    since_nanos(time_of(v, path), now)
}

/// `translateTimestampSince` for an already parsed timestamp.
pub(super) fn since_nanos(t: Option<i128>, now: i64) -> String {
    match t {
        Some(t) => human_duration(secs_between(now_nanos(now), t)),
        None => "<unknown>".to_string(),
    }
}

/// Go's `t.UTC().Format(time.RFC3339)`: second precision, `Z` suffix.
pub(super) fn format_rfc3339(nanos: Option<i128>) -> String {
    let secs = nanos.map_or(GO_ZERO_TIME_SECS, |n| {
        i64::try_from(n.div_euclid(NANOS_PER_SEC)).unwrap_or(GO_ZERO_TIME_SECS)
    });
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's days-from-civil and its inverse (proleptic Gregorian calendar).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_duration_matches_apimachinery() {
        let cases = [
            (-5, "<invalid>"),
            (-2, "<invalid>"),
            (-1, "0s"),
            (0, "0s"),
            (45, "45s"),
            (119, "119s"),
            (120, "2m"),
            (182, "3m2s"),
            (599, "9m59s"),
            (600, "10m"),
            (179 * 60 + 59, "179m"),
            (3 * 3600, "3h"),
            (5 * 3600 + 7 * 60, "5h7m"),
            (8 * 3600, "8h"),
            (47 * 3600 + 59 * 60, "47h"),
            (48 * 3600, "2d"),
            (51 * 3600, "2d3h"),
            (8 * 86_400 - 1, "7d23h"),
            (8 * 86_400, "8d"),
            (729 * 86_400, "729d"),
            (730 * 86_400, "2y"),
            (775 * 86_400, "2y45d"),
            (8 * 365 * 86_400, "8y"),
            (3000 * 86_400 * 10, "82y"),
        ];
        for (secs, want) in cases {
            assert_eq!(human_duration(secs), want, "{secs}s");
        }
    }

    #[test]
    fn rfc3339_round_trips_and_rejects_garbage() {
        let t = parse_rfc3339("2024-02-29T23:59:58Z").unwrap();
        assert_eq!(t, 1_709_251_198 * NANOS_PER_SEC);
        assert_eq!(format_rfc3339(Some(t)), "2024-02-29T23:59:58Z");
        assert_eq!(
            parse_rfc3339("2024-03-01T01:59:58.5+02:00"),
            Some(t + NANOS_PER_SEC / 2)
        );
        assert_eq!(
            format_rfc3339(parse_rfc3339("1969-12-31T23:00:00-01:00")),
            "1970-01-01T00:00:00Z"
        );
        assert_eq!(parse_rfc3339("0001-01-01T00:00:00Z"), None);
        assert_eq!(format_rfc3339(None), "0001-01-01T00:00:00Z");
        for bad in [
            "",
            "2024-02-30T00:00:00Z",
            "2024-01-01 00:00:00Z",
            "2024-01-01T00:00:00",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T24:00:00Z",
            "yesterday",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn since_truncates_fractions_like_go() {
        let now = 1_700_000_000;
        // 1.5s in the future is int(-1.5) = -1 second: tolerated skew.
        let v = serde_json::json!({"t": "2023-11-14T22:13:21.5Z"});
        assert_eq!(since(&v, &["t"], now), "0s");
        let v = serde_json::json!({"t": "2023-11-14T22:11:39.9Z"});
        assert_eq!(since(&v, &["t"], now), "100s");
        assert_eq!(since(&v, &["missing"], now), "<unknown>");
    }
}
