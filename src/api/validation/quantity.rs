//! Resource quantities (`resource.Quantity`): parsing, exact comparison and the canonical string
//! form Kubernetes stores and prints (`0.5` -> `500m`, `1.5Gi` -> `1536Mi`, `1000` -> `1k`).
//!
//! Contract: [`Quantity::parse`] accepts exactly the Kubernetes grammar
//! `^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$` with the known suffixes, rounds anything finer
//! than `1n` up to `1n` and caps magnitudes at 2^63-1 like Kubernetes; [`Quantity`] compares by
//! exact value; [`Quantity::canonical`] reproduces `Quantity.String()`. Values are held as an
//! unsigned mantissa times a power of ten, which is exact for every accepted input (binary
//! suffixes are powers of two, hence integers).

use std::cmp::Ordering;
use std::fmt;

/// The message Kubernetes returns when a quantity does not parse.
pub const FORMAT_ERROR: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

/// How the quantity was written, which decides how it is printed back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `1e3`, `12E-3`.
    DecimalExponent,
    /// `Ki`, `Mi`, ... (powers of 1024).
    BinarySi,
    /// `m`, `k`, `M`, ... or no suffix.
    DecimalSi,
}

/// An exact quantity: `(-1)^neg * mant * 10^exp`.
#[derive(Clone, Copy, Debug)]
pub struct Quantity {
    neg: bool,
    mant: u128,
    exp: i32,
    format: Format,
}

/// 2^63-1, the largest quantity Kubernetes keeps.
const MAX_ALLOWED: u128 = i64::MAX as u128;

impl Quantity {
    /// Parses a quantity string; the error is the message Kubernetes' decoder would give.
    pub fn parse(s: &str) -> Result<Quantity, String> {
        let bytes = s.as_bytes();
        let mut i = 0;
        let mut neg = false;
        if i < bytes.len() && (bytes[i] == b'+' || bytes[i] == b'-') {
            neg = bytes[i] == b'-';
            i += 1;
        }
        let num_start = i;
        let mut digits = String::new();
        let mut frac_digits: i32 = 0;
        let mut seen_dot = false;
        while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
            if bytes[i] == b'.' {
                if seen_dot {
                    return Err(FORMAT_ERROR.to_string());
                }
                seen_dot = true;
            } else {
                digits.push(bytes[i] as char);
                if seen_dot {
                    frac_digits += 1;
                }
            }
            i += 1;
        }
        if i == num_start || digits.is_empty() {
            return Err(FORMAT_ERROR.to_string());
        }
        let suffix = &s[i..];
        if !suffix
            .chars()
            .all(|c| "eEinumkKMGTP+-0123456789".contains(c))
        {
            return Err(FORMAT_ERROR.to_string());
        }
        let (base2, exp10, format) = match suffix {
            "" => (0, 0, Format::DecimalSi),
            "n" => (0, -9, Format::DecimalSi),
            "u" => (0, -6, Format::DecimalSi),
            "m" => (0, -3, Format::DecimalSi),
            "k" => (0, 3, Format::DecimalSi),
            "M" => (0, 6, Format::DecimalSi),
            "G" => (0, 9, Format::DecimalSi),
            "T" => (0, 12, Format::DecimalSi),
            "P" => (0, 15, Format::DecimalSi),
            "E" => (0, 18, Format::DecimalSi),
            "Ki" => (10, 0, Format::BinarySi),
            "Mi" => (20, 0, Format::BinarySi),
            "Gi" => (30, 0, Format::BinarySi),
            "Ti" => (40, 0, Format::BinarySi),
            "Pi" => (50, 0, Format::BinarySi),
            "Ei" => (60, 0, Format::BinarySi),
            _ => {
                let rest = suffix
                    .strip_prefix(['e', 'E'])
                    .ok_or_else(|| "unable to parse quantity's suffix".to_string())?;
                let exp: i32 = rest
                    .parse()
                    .map_err(|_| "unable to parse quantity's suffix".to_string())?;
                if !(-1000..=1000).contains(&exp) {
                    return Err("unable to parse quantity's suffix".to_string());
                }
                (0, exp, Format::DecimalExponent)
            }
        };
        // Trim leading zeros and keep at most 30 significant digits; beyond that the value is
        // either capped or rounded to nano anyway.
        let trimmed = digits.trim_start_matches('0');
        let mut exp = exp10 - frac_digits;
        let mut mant: u128 = 0;
        let mut dropped_nonzero = false;
        for (n, c) in trimmed.chars().enumerate() {
            if n < 30 {
                mant = mant * 10 + u128::from(c as u8 - b'0');
            } else {
                exp += 1;
                dropped_nonzero |= c != '0';
            }
        }
        if dropped_nonzero {
            mant += 1;
        }
        let mut q = Quantity {
            neg,
            mant,
            exp,
            format,
        };
        if base2 > 0 {
            q = q.mul_pow2(base2);
        }
        q.round_up_to(-9);
        q.cap();
        if q.format == Format::BinarySi && q.mant != 0 && q.cmp_magnitude_to(1, 0) == Ordering::Less
        {
            q.format = Format::DecimalSi;
        }
        q.normalize();
        Ok(q)
    }

    fn mul_pow2(mut self, bits: u32) -> Quantity {
        let factor = 1u128 << bits;
        // Trade decimal places for headroom before multiplying so the mantissa cannot overflow.
        while self.mant.checked_mul(factor).is_none() {
            self.mant = self.mant.div_ceil(10);
            self.exp += 1;
        }
        self.mant *= factor;
        self
    }

    fn normalize(&mut self) {
        if self.mant == 0 {
            self.exp = 0;
            self.neg = false;
            return;
        }
        while self.mant % 10 == 0 {
            self.mant /= 10;
            self.exp += 1;
        }
    }

    /// Rounds the magnitude up (away from zero) so that no digit finer than `10^scale` remains.
    fn round_up_to(&mut self, scale: i32) {
        if self.mant == 0 || self.exp >= scale {
            return;
        }
        let shift = scale - self.exp;
        if shift > 38 {
            self.mant = 1;
        } else {
            let div = 10u128.pow(shift as u32);
            self.mant = self.mant.div_ceil(div);
        }
        self.exp = scale;
    }

    fn cap(&mut self) {
        if self.cmp_magnitude_to(MAX_ALLOWED, 0) == Ordering::Greater {
            self.mant = MAX_ALLOWED;
            self.exp = 0;
        }
    }

    /// Compares |self| with `mant * 10^exp`.
    fn cmp_magnitude_to(&self, mant: u128, exp: i32) -> Ordering {
        cmp_mag(self.mant, self.exp, mant, exp)
    }

    /// True for values below zero.
    pub fn is_negative(&self) -> bool {
        self.neg && self.mant != 0
    }

    /// True for zero.
    pub fn is_zero(&self) -> bool {
        self.mant == 0
    }

    /// True when the value has no fractional part (`ValidateResourceQuantityValue`'s
    /// "must be an integer").
    pub fn is_integer(&self) -> bool {
        self.mant == 0 || self.exp >= 0 || {
            let mut m = self.mant;
            let mut e = self.exp;
            while e < 0 && m % 10 == 0 {
                m /= 10;
                e += 1;
            }
            e >= 0
        }
    }

    /// `RoundUp(-3)`: what `SetDefaults_ResourceList` does to every resource value.
    pub fn round_up_milli(&mut self) {
        self.round_up_to(-3);
        self.normalize();
    }

    /// The integer value when it fits in an i128 (used for divisibility checks).
    pub fn as_integer(&self) -> Option<i128> {
        if !self.is_integer() || self.exp > 30 {
            return None;
        }
        let mut m = self.mant;
        let mut e = self.exp;
        while e < 0 {
            m /= 10;
            e += 1;
        }
        let v = m.checked_mul(10u128.checked_pow(e as u32)?)?;
        let v = i128::try_from(v).ok()?;
        Some(if self.neg { -v } else { v })
    }

    /// The zero quantity (`resource.Quantity{Format: DecimalSI}`).
    pub fn zero() -> Quantity {
        Quantity {
            neg: false,
            mant: 0,
            exp: 0,
            format: Format::DecimalSi,
        }
    }

    /// `resource.NewQuantity(v, DecimalSI)`.
    pub fn from_int(v: i64) -> Quantity {
        Quantity::from_scaled(i128::from(v), 0, Format::DecimalSi)
    }

    /// `resource.NewMilliQuantity(v, DecimalSI)`.
    pub fn from_milli(v: i64) -> Quantity {
        Quantity::from_scaled(i128::from(v), -3, Format::DecimalSi)
    }

    fn from_scaled(v: i128, exp: i32, format: Format) -> Quantity {
        let mut q = Quantity {
            neg: v < 0,
            mant: v.unsigned_abs(),
            exp,
            format,
        };
        q.cap();
        q.normalize();
        q
    }

    /// `Value()`: the value rounded up to an integer, saturating at the i64 range.
    pub fn value(&self) -> i64 {
        self.scaled_ceil(0)
    }

    /// `MilliValue()`: the value times 1000 rounded up, saturating at the i64 range (the one
    /// implementation of it; the scheduler and quota code share it).
    pub fn milli_value(&self) -> i64 {
        self.scaled_ceil(-3)
    }

    /// `ceil(self / 10^scale)` clamped to i64.
    fn scaled_ceil(&self, scale: i32) -> i64 {
        if self.mant == 0 {
            return 0;
        }
        let magnitude: u128 = if self.exp >= scale {
            10u128
                .checked_pow((self.exp - scale) as u32)
                .and_then(|f| self.mant.checked_mul(f))
                .unwrap_or(u128::MAX)
        } else {
            let div = 10u128.checked_pow((scale - self.exp) as u32);
            match div {
                // Rounding towards +inf: up for positive values, towards zero for negative ones.
                Some(d) if self.neg => self.mant / d,
                Some(d) => self.mant.div_ceil(d),
                None => u128::from(!self.neg),
            }
        };
        let m = i64::try_from(magnitude).unwrap_or(i64::MAX);
        if self.neg {
            -m
        } else {
            m
        }
    }

    /// The signed mantissa at exponent `exp` (which must not exceed `self.exp`).
    fn signed_at(&self, exp: i32) -> Option<i128> {
        let m = 10u128
            .checked_pow((self.exp - exp) as u32)
            .and_then(|f| self.mant.checked_mul(f))
            .and_then(|m| i128::try_from(m).ok())?;
        Some(if self.neg { -m } else { m })
    }

    /// `q.Add(y)`: exact; the result keeps this quantity's format unless this one is zero
    /// (then it takes `other`'s), as Kubernetes does, which decides how sums print.
    pub fn add(&self, other: &Quantity) -> Quantity {
        let exp = self.exp.min(other.exp);
        let format = if self.is_zero() {
            other.format
        } else {
            self.format
        };
        match (self.signed_at(exp), other.signed_at(exp)) {
            (Some(a), Some(b)) => Quantity::from_scaled(a.saturating_add(b), exp, format),
            // Only reachable beyond the 2^63 cap, where Kubernetes saturates too.
            _ => {
                let neg = if self.is_zero() {
                    other.is_negative()
                } else {
                    self.is_negative()
                };
                Quantity::from_scaled(if neg { -i128::MAX } else { i128::MAX }, 0, format)
            }
        }
    }

    /// `q.Sub(y)`: exact, formats as [`Quantity::add`].
    pub fn sub(&self, other: &Quantity) -> Quantity {
        let mut neg = *other;
        neg.neg = !neg.neg && neg.mant != 0;
        self.add(&neg)
    }

    /// `Quantity.String()`: the canonical form.
    pub fn canonical(&self) -> String {
        if self.mant == 0 {
            return "0".to_string();
        }
        let sign = if self.neg { "-" } else { "" };
        let mut format = self.format;
        if format == Format::BinarySi {
            let small = self.cmp_magnitude_to(1024, 0) == Ordering::Less;
            if small || !self.is_integer() {
                format = Format::DecimalSi;
            }
        }
        if format == Format::BinarySi {
            if let Some(mut v) = self.as_integer().map(|v| v.unsigned_abs()) {
                let mut power = 0;
                while power < 6 && v % 1024 == 0 {
                    v /= 1024;
                    power += 1;
                }
                let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][power];
                return format!("{sign}{v}{suffix}");
            }
            format = Format::DecimalSi;
        }
        // Strip factors of ten, then lower the exponent to a multiple of three.
        let mut m = self.mant;
        let mut e = self.exp;
        while m % 10 == 0 {
            m /= 10;
            e += 1;
        }
        match e.rem_euclid(3) {
            1 => {
                m *= 10;
                e -= 1;
            }
            2 => {
                m *= 100;
                e -= 2;
            }
            _ => {}
        }
        let suffix = match format {
            Format::DecimalExponent => {
                if e == 0 {
                    String::new()
                } else {
                    format!("e{e}")
                }
            }
            _ => match e {
                -9 => "n".into(),
                -6 => "u".into(),
                -3 => "m".into(),
                0 => String::new(),
                3 => "k".into(),
                6 => "M".into(),
                9 => "G".into(),
                12 => "T".into(),
                15 => "P".into(),
                18 => "E".into(),
                other => format!("e{other}"),
            },
        };
        format!("{sign}{m}{suffix}")
    }
}

fn digit_count(mut m: u128) -> i32 {
    let mut n = 0;
    while m > 0 {
        m /= 10;
        n += 1;
    }
    n
}

/// Exact comparison of `am * 10^ae` with `bm * 10^be` (both non-negative).
fn cmp_mag(am: u128, ae: i32, bm: u128, be: i32) -> Ordering {
    match (am == 0, bm == 0) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Less,
        (false, true) => return Ordering::Greater,
        _ => {}
    }
    let (la, lb) = (digit_count(am) + ae, digit_count(bm) + be);
    if la != lb {
        return la.cmp(&lb);
    }
    // Same order of magnitude: compare the digit strings, padding with zeros.
    let (sa, sb) = (am.to_string(), bm.to_string());
    let n = sa.len().max(sb.len());
    let pad = |s: &str| format!("{s:0<n$}");
    pad(&sa).cmp(&pad(&sb))
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Quantity {}
impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self.is_negative(), other.is_negative()) {
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
            (false, false) => cmp_mag(self.mant, self.exp, other.mant, other.exp),
            (true, true) => cmp_mag(other.mant, other.exp, self.mant, self.exp),
        }
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical())
    }
}

/// A quantity from JSON: strings parse, JSON numbers are accepted too (the Kubernetes decoder
/// accepts both). `None` for any other type.
pub fn from_json(v: &serde_json::Value) -> Option<Result<Quantity, String>> {
    match v {
        serde_json::Value::String(s) => Some(Quantity::parse(s)),
        serde_json::Value::Number(n) => Some(Quantity::parse(&n.to_string())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> String {
        Quantity::parse(s).unwrap().canonical()
    }

    #[test]
    fn canonical_forms() {
        assert_eq!(c("0.5"), "500m");
        assert_eq!(c("1000m"), "1");
        assert_eq!(c("1000"), "1k");
        assert_eq!(c("1500"), "1500");
        assert_eq!(c("1.5Gi"), "1536Mi");
        assert_eq!(c("0.5Gi"), "512Mi");
        assert_eq!(c("1024Mi"), "1Gi");
        assert_eq!(c("100Mi"), "100Mi");
        assert_eq!(c("1e3"), "1e3");
        assert_eq!(c("1.5e3"), "1500");
        assert_eq!(c("0"), "0");
        assert_eq!(c("-1"), "-1");
        assert_eq!(c("0.0000000001"), "1n");
        assert_eq!(c("512"), "512");
        assert_eq!(c("0.5Ki"), "512");
        assert_eq!(c("1.1Ki"), "1126400m");
    }

    #[test]
    fn parse_errors() {
        assert_eq!(Quantity::parse("abc").unwrap_err(), FORMAT_ERROR);
        assert!(Quantity::parse("1K").is_err());
        assert!(Quantity::parse("").is_err());
        assert!(Quantity::parse("1.2.3").is_err());
    }

    #[test]
    fn arithmetic_and_scaled_values() {
        let q = |s| Quantity::parse(s).unwrap();
        assert_eq!(q("1.5").milli_value(), 1500);
        assert_eq!(q("1n").milli_value(), 1);
        assert_eq!(q("-1n").milli_value(), 0);
        assert_eq!(q("1500m").value(), 2);
        assert_eq!(q("1Gi").value(), 1 << 30);
        assert_eq!(q("9E").milli_value(), i64::MAX);
        assert_eq!(Quantity::from_milli(250).canonical(), "250m");
        assert_eq!(Quantity::from_int(2).canonical(), "2");
        assert_eq!(q("500m").add(&q("1")).canonical(), "1500m");
        assert_eq!(q("1Gi").add(&q("1Gi")).canonical(), "2Gi");
        // A zero receiver takes the other's format (Kubernetes prints quota usage this way).
        assert_eq!(Quantity::zero().add(&q("512Mi")).canonical(), "512Mi");
        assert_eq!(q("2").sub(&q("500m")).canonical(), "1500m");
        assert_eq!(q("1").sub(&q("3")).canonical(), "-2");
        assert_eq!(q("1Gi").sub(&q("1Gi")), Quantity::zero());
    }

    #[test]
    fn ordering_and_rounding() {
        let q = |s| Quantity::parse(s).unwrap();
        assert!(q("500m") < q("1"));
        assert!(q("1Gi") > q("1G"));
        assert_eq!(q("1000m"), q("1"));
        assert!(q("-1") < q("0"));
        let mut v = q("0.0001");
        v.round_up_milli();
        assert_eq!(v.canonical(), "1m");
        assert!(q("2").is_integer());
        assert!(!q("1500m").is_integer());
        assert_eq!(q("9E").canonical(), "9E");
        assert_eq!(q("10E").canonical(), "9223372036854775807");
    }
}
