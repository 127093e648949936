//! `resource.Quantity.String()`: the canonical spelling Kubernetes prints for capacities and
//! quota usage (`1536Mi` for `1.5Gi`, `500m` for `0.5`, `1k` for `1000`). Objects a real API
//! server stored are already canonical; this keeps the cells right for objects that are not.

use serde_json::Value;

/// How the quantity was written, which decides how it is printed back.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    BinarySi,
    DecimalSi,
    DecimalExponent,
}

/// The canonical text of a quantity given as a JSON string or number. `None` (absent) prints as
/// the zero quantity `0`; unparseable text is returned unchanged rather than guessed at.
pub(super) fn canonical(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "0".to_string(),
        Some(Value::String(text)) => canonical_str(text.trim()).unwrap_or_else(|| text.clone()),
        Some(Value::Number(n)) => {
            let text = n.to_string();
            canonical_str(&text).unwrap_or(text)
        }
        Some(other) => other.to_string(),
    }
}

fn canonical_str(text: &str) -> Option<String> {
    let (mut mantissa, mut exp10, format) = parse(text)?;
    // Quantities keep nanounit precision, rounding anything finer away from zero.
    if exp10 < -9 {
        let div = 10i128.checked_pow(u32::try_from(-9 - exp10).ok()?)?;
        let rounded = mantissa / div + i128::from(mantissa % div != 0) * mantissa.signum();
        mantissa = rounded;
        exp10 = -9;
    }
    if mantissa == 0 {
        return Some("0".to_string());
    }
    let mut format = format;
    if format == Format::BinarySi {
        let integral = integral_value(mantissa, exp10);
        match integral {
            Some(v) if !(-1024 < v && v < 1024) => return Some(binary(v)),
            _ => format = Format::DecimalSi,
        }
    }
    // Move trailing zeros into the exponent, then lower it to a multiple of three.
    while mantissa % 10 == 0 {
        mantissa /= 10;
        exp10 += 1;
    }
    let shift = exp10.rem_euclid(3);
    mantissa = mantissa.checked_mul(10i128.pow(shift.unsigned_abs()))?;
    exp10 -= shift;
    let suffix = match (format, exp10) {
        (_, 0) => String::new(),
        (Format::DecimalSi, -9) => "n".to_string(),
        (Format::DecimalSi, -6) => "u".to_string(),
        (Format::DecimalSi, -3) => "m".to_string(),
        (Format::DecimalSi, 3) => "k".to_string(),
        (Format::DecimalSi, 6) => "M".to_string(),
        (Format::DecimalSi, 9) => "G".to_string(),
        (Format::DecimalSi, 12) => "T".to_string(),
        (Format::DecimalSi, 15) => "P".to_string(),
        (Format::DecimalSi, 18) => "E".to_string(),
        (_, e) => format!("e{e}"),
    };
    Some(format!("{mantissa}{suffix}"))
}

/// `mantissa * 10^exp10` when it is a whole number.
fn integral_value(mantissa: i128, exp10: i32) -> Option<i128> {
    if exp10 >= 0 {
        mantissa.checked_mul(10i128.checked_pow(exp10.unsigned_abs())?)
    } else {
        let div = 10i128.checked_pow(exp10.unsigned_abs())?;
        (mantissa % div == 0).then_some(mantissa / div)
    }
}

/// An integral BinarySI value with the largest power-of-1024 suffix that divides it.
fn binary(mut v: i128) -> String {
    const SUFFIXES: [&str; 7] = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
    let mut power = 0;
    while power < SUFFIXES.len() - 1 && v % 1024 == 0 {
        v /= 1024;
        power += 1;
    }
    format!("{v}{}", SUFFIXES[power])
}

/// Splits `<sign><digits>[.<digits>]<suffix>` into `(mantissa, exp10, format)`.
fn parse(text: &str) -> Option<(i128, i32, Format)> {
    let (negative, rest) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let num_end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(num_end);
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && frac.is_empty() || frac.contains('.') {
        return None;
    }
    let mut mantissa: i128 = 0;
    for d in whole.bytes().chain(frac.bytes()) {
        mantissa = mantissa
            .checked_mul(10)?
            .checked_add(i128::from(d - b'0'))?;
    }
    let mut exp10 = -i32::try_from(frac.len()).ok()?;
    let format = match suffix {
        "" => Format::DecimalSi,
        "n" | "u" | "m" | "k" | "M" | "G" | "T" | "P" | "E" => {
            exp10 += match suffix {
                "n" => -9,
                "u" => -6,
                "m" => -3,
                "k" => 3,
                "M" => 6,
                "G" => 9,
                "T" => 12,
                "P" => 15,
                _ => 18,
            };
            Format::DecimalSi
        }
        "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" => {
            let power = match suffix {
                "Ki" => 1,
                "Mi" => 2,
                "Gi" => 3,
                "Ti" => 4,
                "Pi" => 5,
                _ => 6,
            };
            mantissa = mantissa.checked_mul(1024i128.pow(power))?;
            Format::BinarySi
        }
        _ => {
            let exp = suffix.strip_prefix(['e', 'E'])?;
            let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
            if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            exp10 = exp10.checked_add(exp.parse::<i32>().ok()?)?;
            Format::DecimalExponent
        }
    };
    if !(-40..=40).contains(&exp10) {
        return None;
    }
    Some((if negative { -mantissa } else { mantissa }, exp10, format))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_forms_match_resource_quantity() {
        let cases = [
            ("10Gi", "10Gi"),
            ("1.5Gi", "1536Mi"),
            ("1024Mi", "1Gi"),
            ("0.5Ki", "512"),
            ("1000", "1k"),
            ("1500", "1500"),
            ("0.5", "500m"),
            ("100m", "100m"),
            ("1000m", "1"),
            ("2000Mi", "2000Mi"),
            ("5G", "5G"),
            ("1e3", "1e3"),
            ("12E6", "12e6"),
            ("0", "0"),
            ("0Gi", "0"),
            ("0.0000000001", "1n"),
            ("-2Ki", "-2Ki"),
            ("+3", "3"),
        ];
        for (input, want) in cases {
            assert_eq!(canonical(Some(&json!(input))), want, "{input}");
        }
        assert_eq!(canonical(Some(&json!(2048))), "2048");
        assert_eq!(canonical(None), "0");
        assert_eq!(canonical(Some(&json!("lots"))), "lots");
    }
}
