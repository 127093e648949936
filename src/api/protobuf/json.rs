//! Well-known Kubernetes messages with custom JSON forms: `Time` / `MicroTime`, `Quantity`,
//! `IntOrString`, `Duration`, `RawExtension` / `FieldsV1` and string-list wrappers.
//!
//! Contract: each decoder reads its small message leniently (unknown fields skipped) and yields
//! exactly what Go's `MarshalJSON` of the type writes: RFC 3339 UTC times (a zero time is null,
//! so the caller can omit it), the quantity string ("0" when unset), a number or a string, Go's
//! duration syntax, embedded JSON (or a nested `k8s\0` object), or a bare array.

use serde_json::Value;

use super::wire::{utf8, Raw, Reader, WIRE_LEN, WIRE_VARINT};
use super::{decode_at, ProtobufError, Result, MAGIC, MAX_DEPTH};

/// Reads the scalar fields of a small fixed message, skipping everything else.
fn small_fields<'a>(buf: &'a [u8], mut each: impl FnMut(u64, Raw<'a>) -> Result<()>) -> Result<()> {
    let mut r = Reader::new(buf);
    while let Some((num, wire)) = r.key()? {
        match wire {
            WIRE_VARINT => each(num, Raw::Varint(r.varint()?))?,
            WIRE_LEN => each(num, Raw::Bytes(r.bytes()?))?,
            other => r.skip(other)?,
        }
    }
    Ok(())
}

/// `Time`/`MicroTime` (`seconds = 1`, `nanos = 2`).
pub(super) fn timestamp(buf: &[u8], micro: bool) -> Result<Value> {
    let (mut seconds, mut nanos) = (0i64, 0i64);
    small_fields(buf, |num, raw| {
        match (num, raw) {
            (1, Raw::Varint(v)) => seconds = v as i64,
            (2, Raw::Varint(v)) => nanos = i64::from(v as u32 as i32),
            _ => {}
        }
        Ok(())
    })?;
    // Go's zero time.Time is written as an empty message; its Unix form is year 1.
    if nanos == 0 && (seconds == 0 || seconds == GO_ZERO_TIME) {
        return Ok(Value::Null);
    }
    seconds = seconds
        .checked_add(nanos.div_euclid(1_000_000_000))
        .ok_or_else(|| ProtobufError::malformed("timestamp out of range"))?;
    let nanos = nanos.rem_euclid(1_000_000_000);
    format_rfc3339(seconds, nanos, micro).map(Value::String)
}

/// `time.Time{}.Unix()`: 0001-01-01T00:00:00Z.
const GO_ZERO_TIME: i64 = -62_135_596_800;
/// 9999-12-31T23:59:59Z, the last instant RFC 3339 (and Go's MarshalJSON) can write.
pub(super) const MAX_RFC3339: i64 = 253_402_300_799;

pub(super) fn format_rfc3339(seconds: i64, nanos: i64, micro: bool) -> Result<String> {
    if !(GO_ZERO_TIME..=MAX_RFC3339).contains(&seconds) {
        return Err(ProtobufError::malformed("timestamp outside years 1-9999"));
    }
    let days = seconds.div_euclid(86_400);
    let secs_of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let (h, m, s) = (secs_of_day / 3600, secs_of_day / 60 % 60, secs_of_day % 60);
    let mut out = format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}");
    if micro {
        out.push_str(&format!(".{:06}", nanos / 1000));
    }
    out.push('Z');
    Ok(out)
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar, using the
/// 400-year era decomposition (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365], March-based
    let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `Quantity` (`string = 1`). Go prints an unset Quantity as "0".
pub(super) fn quantity(buf: &[u8]) -> Result<Value> {
    let mut s = String::new();
    small_fields(buf, |num, raw| {
        if let (1, Raw::Bytes(b)) = (num, raw) {
            s = utf8(b)?;
        }
        Ok(())
    })?;
    if s.is_empty() {
        s.push('0');
    }
    Ok(Value::String(s))
}

/// `IntOrString` (`type = 1`, `intVal = 2`, `strVal = 3`).
pub(super) fn int_or_string(buf: &[u8]) -> Result<Value> {
    let (mut ty, mut int_val, mut str_val) = (0u64, 0i32, String::new());
    small_fields(buf, |num, raw| {
        match (num, raw) {
            (1, Raw::Varint(v)) => ty = v,
            (2, Raw::Varint(v)) => int_val = v as u32 as i32,
            (3, Raw::Bytes(b)) => str_val = utf8(b)?,
            _ => {}
        }
        Ok(())
    })?;
    match ty {
        0 => Ok(Value::from(int_val)),
        1 => Ok(Value::String(str_val)),
        other => Err(ProtobufError::malformed(format!(
            "IntOrString type {other}"
        ))),
    }
}

/// `Duration` (`duration = 1`, nanoseconds).
pub(super) fn duration(buf: &[u8]) -> Result<Value> {
    let mut nanos = 0i64;
    small_fields(buf, |num, raw| {
        if let (1, Raw::Varint(v)) = (num, raw) {
            nanos = v as i64;
        }
        Ok(())
    })?;
    Ok(Value::String(go_duration(nanos)))
}

/// Formats nanoseconds as Go's `time.Duration.String` does: `1h2m3.5s`, `1.5ms`, `0s`.
pub(super) fn go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let u = nanos.unsigned_abs();
    if u < 1_000 {
        return format!("{sign}{u}ns");
    }
    if u < 1_000_000 {
        return format!("{sign}{}µs", decimal(u, 1_000, 3));
    }
    if u < 1_000_000_000 {
        return format!("{sign}{}ms", decimal(u, 1_000_000, 6));
    }
    let secs = u / 1_000_000_000;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let seconds = decimal(s * 1_000_000_000 + u % 1_000_000_000, 1_000_000_000, 9);
    if h > 0 {
        format!("{sign}{h}h{m}m{seconds}s")
    } else if m > 0 {
        format!("{sign}{m}m{seconds}s")
    } else {
        format!("{sign}{seconds}s")
    }
}

/// `value / scale` with the remainder as trailing-zero-trimmed decimals.
fn decimal(value: u64, scale: u64, digits: usize) -> String {
    let (whole, frac) = (value / scale, value % scale);
    if frac == 0 {
        return whole.to_string();
    }
    let frac = format!("{frac:0digits$}");
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

/// `RawExtension`/`FieldsV1` (`raw = 1`): the bytes are JSON, or (for objects nested by a
/// protobuf client) another `k8s\0` envelope.
pub(super) fn raw_json(buf: &[u8], depth: usize) -> Result<Value> {
    let mut raw: &[u8] = &[];
    small_fields(buf, |num, value| {
        if let (1, Raw::Bytes(b)) = (num, value) {
            raw = b;
        }
        Ok(())
    })?;
    if raw.is_empty() {
        return Ok(Value::Null);
    }
    if raw.starts_with(MAGIC) {
        if depth >= MAX_DEPTH {
            return Err(ProtobufError::malformed(
                "embedded objects nested too deeply",
            ));
        }
        return decode_at(raw, depth + 1);
    }
    serde_json::from_slice(raw).map_err(|e| ProtobufError::malformed(format!("embedded json: {e}")))
}

/// `ExtraValue` and friends (`repeated string items = 1`): a bare JSON array.
pub(super) fn string_list(buf: &[u8]) -> Result<Value> {
    let mut items = Vec::new();
    small_fields(buf, |num, raw| {
        if let (1, Raw::Bytes(b)) = (num, raw) {
            items.push(Value::String(utf8(b)?));
        }
        Ok(())
    })?;
    Ok(Value::Array(items))
}
