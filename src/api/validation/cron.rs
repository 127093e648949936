//! CronJob schedule parsing, matching `cron.ParseStandard` from robfig/cron v3 (the parser
//! Kubernetes uses): five fields (minute hour day-of-month month day-of-week) with `*`, `?`,
//! ranges, steps, lists and month/weekday names, or a descriptor (`@yearly`, `@annually`,
//! `@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly`, `@every <duration>`), optionally
//! prefixed by `TZ=`/`CRON_TZ=`.
//!
//! Contract: `Ok(())` when Kubernetes accepts the expression, otherwise the exact error text
//! the Go parser produces (it becomes the detail of a `FieldValueInvalid` cause). [`parse`]
//! returns what the expression means (field bit sets as robfig/cron builds them, or the
//! `@every` delay) for the CronJob controller's schedule arithmetic.

/// Set in a field's bits when it was `*` or `?` (robfig/cron's `starBit`): day-of-month and
/// day-of-week then combine with AND instead of OR.
pub const STAR_BIT: u64 = 1 << 63;

/// The five fields of a schedule as bit sets (bit `n` set = value `n` matches).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fields {
    pub minute: u64,
    pub hour: u64,
    pub dom: u64,
    pub month: u64,
    pub dow: u64,
}

/// What a schedule expression means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spec {
    /// Calendar fields (five-field expressions and the `@hourly`-style descriptors).
    Fields(Fields),
    /// `@every <duration>`, in nanoseconds as Go's `time.Duration`.
    Every(i128),
}

/// A parsed schedule and the zone a `TZ=`/`CRON_TZ=` prefix named, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub time_zone: Option<String>,
    pub spec: Spec,
}

struct Bounds {
    min: u32,
    max: u32,
    names: &'static [(&'static str, u32)],
}

const MINUTES: Bounds = Bounds {
    min: 0,
    max: 59,
    names: &[],
};
const HOURS: Bounds = Bounds {
    min: 0,
    max: 23,
    names: &[],
};
const DOM: Bounds = Bounds {
    min: 1,
    max: 31,
    names: &[],
};
const MONTHS: Bounds = Bounds {
    min: 1,
    max: 12,
    names: &[
        ("jan", 1),
        ("feb", 2),
        ("mar", 3),
        ("apr", 4),
        ("may", 5),
        ("jun", 6),
        ("jul", 7),
        ("aug", 8),
        ("sep", 9),
        ("oct", 10),
        ("nov", 11),
        ("dec", 12),
    ],
};
const DOW: Bounds = Bounds {
    min: 0,
    max: 6,
    names: &[
        ("sun", 0),
        ("mon", 1),
        ("tue", 2),
        ("wed", 3),
        ("thu", 4),
        ("fri", 5),
        ("sat", 6),
    ],
};

/// Go's `strconv.Atoi` error text.
fn atoi(s: &str) -> Result<i64, String> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "strconv.Atoi: parsing {}: invalid syntax",
            super::field::go::quote(s)
        ));
    }
    s.parse::<i64>().map_err(|_| {
        format!(
            "strconv.Atoi: parsing {}: value out of range",
            super::field::go::quote(s)
        )
    })
}

fn must_parse_int(expr: &str) -> Result<u32, String> {
    let n = atoi(expr).map_err(|e| format!("failed to parse int from {expr}: {e}"))?;
    if n < 0 {
        return Err(format!("negative number ({n}) not allowed: {expr}"));
    }
    u32::try_from(n).map_err(|_| format!("end of range ({n}) above maximum: {expr}"))
}

fn parse_int_or_name(expr: &str, b: &Bounds) -> Result<u32, String> {
    let lower = expr.to_lowercase();
    if let Some((_, v)) = b.names.iter().find(|(n, _)| *n == lower) {
        return Ok(*v);
    }
    must_parse_int(expr)
}

/// Bits of values `start..=end` every `step` (robfig/cron's `getBits`).
fn bits(start: u32, end: u32, step: u32) -> u64 {
    (start..=end)
        .step_by(step.max(1) as usize)
        .fold(0, |acc, v| acc | 1 << v)
}

fn all(b: &Bounds) -> u64 {
    bits(b.min, b.max, 1) | STAR_BIT
}

fn get_range(expr: &str, b: &Bounds) -> Result<u64, String> {
    let range_and_step: Vec<&str> = expr.split('/').collect();
    let low_and_high: Vec<&str> = range_and_step[0].split('-').collect();
    let single = low_and_high.len() == 1;
    let star = low_and_high[0] == "*" || low_and_high[0] == "?";
    let (start, mut end) = if star {
        (b.min, b.max)
    } else {
        let start = parse_int_or_name(low_and_high[0], b)?;
        let end = match low_and_high.len() {
            1 => start,
            2 => parse_int_or_name(low_and_high[1], b)?,
            _ => return Err(format!("too many hyphens: {expr}")),
        };
        (start, end)
    };
    let step = match range_and_step.len() {
        1 => 1,
        2 => {
            let step = must_parse_int(range_and_step[1])?;
            // "N/step" means "N-max/step".
            if single {
                end = b.max;
            }
            step
        }
        _ => return Err(format!("too many slashes: {expr}")),
    };
    if start < b.min {
        return Err(format!(
            "beginning of range ({start}) below minimum ({}): {expr}",
            b.min
        ));
    }
    if end > b.max {
        return Err(format!(
            "end of range ({end}) above maximum ({}): {expr}",
            b.max
        ));
    }
    if start > end {
        return Err(format!(
            "beginning of range ({start}) beyond end of range ({end}): {expr}"
        ));
    }
    if step == 0 {
        return Err(format!("step of range should be a positive number: {expr}"));
    }
    // A stepped star (`*/5`) no longer means "any" for the day-matching rule.
    let extra = if star && step == 1 { STAR_BIT } else { 0 };
    Ok(bits(start, end, step) | extra)
}

fn get_field(field: &str, b: &Bounds) -> Result<u64, String> {
    field
        .split(',')
        .try_fold(0, |acc, r| get_range(r, b).map(|bits| acc | bits))
}

/// Go's `time.ParseDuration`, in nanoseconds.
fn parse_duration(s: &str) -> Result<i128, String> {
    let quoted = super::field::go::quote(s);
    let invalid = || format!("time: invalid duration {quoted}");
    let negative = s.starts_with('-');
    let mut rest = s.strip_prefix(['+', '-']).unwrap_or(s);
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let num = &rest[..num_len];
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return Err(invalid());
        }
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        if unit.is_empty() {
            return Err(format!("time: missing unit in duration {quoted}"));
        }
        let scale: f64 = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => {
                return Err(format!(
                    "time: unknown unit {} in duration {quoted}",
                    super::field::go::quote(unit)
                ))
            }
        };
        total += num.parse::<f64>().map_err(|_| invalid())? * scale;
        rest = &rest[unit_len..];
    }
    if total > i64::MAX as f64 {
        return Err(invalid());
    }
    let ns = total as i128;
    Ok(if negative { -ns } else { ns })
}

/// Whether `tz` names a zone the system knows (Go's `time.LoadLocation`); lenient when no zone
/// database is installed.
pub fn known_time_zone(tz: &str) -> bool {
    if tz == "UTC" || tz == "Local" {
        return true;
    }
    let db = std::path::Path::new("/usr/share/zoneinfo");
    if !db.is_dir() {
        return true;
    }
    !tz.contains("..") && db.join(tz).is_file()
}

/// `cron.ParseStandard`.
pub fn parse_standard(spec: &str) -> Result<(), String> {
    parse(spec).map(|_| ())
}

/// `cron.ParseStandard`, keeping the result.
pub fn parse(spec: &str) -> Result<Parsed, String> {
    if spec.is_empty() {
        return Err("empty spec string".into());
    }
    let mut spec = spec;
    let mut time_zone = None;
    if spec.starts_with("TZ=") || spec.starts_with("CRON_TZ=") {
        let eq = spec.find('=').unwrap_or(0);
        let end = spec.find(' ').unwrap_or(spec.len());
        let loc = spec.get(eq + 1..end).unwrap_or("");
        if !known_time_zone(loc) || loc.is_empty() {
            return Err(format!(
                "provided bad location {loc}: unknown time zone {loc}"
            ));
        }
        time_zone = Some(loc.to_string());
        spec = spec[end..].trim();
    }
    let make = |minute, hour, dom, month, dow| -> Result<Parsed, String> {
        Ok(Parsed {
            time_zone: time_zone.clone(),
            spec: Spec::Fields(Fields {
                minute,
                hour,
                dom,
                month,
                dow,
            }),
        })
    };
    if let Some(desc) = spec.strip_prefix('@') {
        let (any_dom, any_month, any_dow) = (all(&DOM), all(&MONTHS), all(&DOW));
        return match desc {
            "yearly" | "annually" => make(1, 1, 1 << 1, 1 << 1, any_dow),
            "monthly" => make(1, 1, 1 << 1, any_month, any_dow),
            "weekly" => make(1, 1, any_dom, any_month, 1),
            "daily" | "midnight" => make(1, 1, any_dom, any_month, any_dow),
            "hourly" => make(1, all(&HOURS), any_dom, any_month, any_dow),
            _ => match spec.strip_prefix("@every ") {
                Some(d) => parse_duration(d)
                    .map(|ns| Parsed {
                        time_zone: time_zone.clone(),
                        spec: Spec::Every(ns),
                    })
                    .map_err(|e| format!("failed to parse duration {spec}: {e}")),
                None => Err(format!("unrecognized descriptor: {spec}")),
            },
        };
    }
    let fields: Vec<&str> = spec.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!(
            "expected exactly 5 fields, found {}: [{}]",
            fields.len(),
            fields.join(" ")
        ));
    }
    let minute = get_field(fields[0], &MINUTES)?;
    let hour = get_field(fields[1], &HOURS)?;
    let dom = get_field(fields[2], &DOM)?;
    let month = get_field(fields[3], &MONTHS)?;
    let dow = get_field(fields[4], &DOW)?;
    make(minute, hour, dom, month, dow)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_standard_forms() {
        for s in [
            "*/5 * * * *",
            "0 0 * * *",
            "0 9-17 * * mon-fri",
            "@hourly",
            "@every 1h30m",
            "15,45 */2 1 jan,jul ?",
            "0 0 1/2 * SUN",
        ] {
            assert_eq!(parse_standard(s), Ok(()), "{s}");
        }
    }

    #[test]
    fn keeps_field_bits_and_delays() {
        let Spec::Fields(f) = parse("*/15 9-10 * 1,jul ?").unwrap().spec else {
            panic!("fields expected");
        };
        assert_eq!(f.minute, 1 | 1 << 15 | 1 << 30 | 1 << 45);
        assert_eq!(f.hour, 1 << 9 | 1 << 10);
        assert_eq!(f.dom & STAR_BIT, STAR_BIT);
        assert_eq!(f.month, 1 << 1 | 1 << 7);
        assert_eq!(f.dow, 0x7f | STAR_BIT);
        let p = parse("TZ=UTC @every 1m30s").unwrap();
        assert_eq!(p.time_zone.as_deref(), Some("UTC"));
        assert_eq!(p.spec, Spec::Every(90_000_000_000));
        let Spec::Fields(h) = parse("@hourly").unwrap().spec else {
            panic!("fields expected");
        };
        assert_eq!((h.minute, h.hour & 0xff_ffff), (1, 0xff_ffff));
    }

    #[test]
    fn rejects_with_go_messages() {
        assert_eq!(
            parse_standard("* * * *").unwrap_err(),
            "expected exactly 5 fields, found 4: [* * * *]"
        );
        assert_eq!(
            parse_standard("60 * * * *").unwrap_err(),
            "end of range (60) above maximum (59): 60"
        );
        assert_eq!(
            parse_standard("x * * * *").unwrap_err(),
            "failed to parse int from x: strconv.Atoi: parsing \"x\": invalid syntax"
        );
        assert_eq!(
            parse_standard("@weekdays").unwrap_err(),
            "unrecognized descriptor: @weekdays"
        );
        assert_eq!(
            parse_standard("* * 0 * *").unwrap_err(),
            "beginning of range (0) below minimum (1): 0"
        );
        assert_eq!(
            parse_standard("5-1 * * * *").unwrap_err(),
            "beginning of range (5) beyond end of range (1): 5-1"
        );
        assert_eq!(
            parse_standard("*/0 * * * *").unwrap_err(),
            "step of range should be a positive number: */0"
        );
        assert_eq!(parse_standard("").unwrap_err(), "empty spec string");
        assert_eq!(
            parse_standard("@every 5x").unwrap_err(),
            "failed to parse duration @every 5x: time: unknown unit \"x\" in duration \"5x\""
        );
    }
}
