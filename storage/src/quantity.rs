//! Just enough of Kubernetes' resource.Quantity to evaluate downward API resource references
//! and emptyDir size limits: parse a quantity string and round it up to whole units or to
//! thousandths, the way `Quantity.Value()` and `Quantity.MilliValue()` do.

use crate::VolumeError;

/// An exact quantity: `mantissa * 10^exp10 * 2^exp2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity {
    mantissa: i128,
    exp10: i32,
    exp2: u32,
}

impl Quantity {
    pub fn parse(s: &str) -> Result<Quantity, VolumeError> {
        let bad = || VolumeError::InvalidQuantity(s.to_string());
        let t = s.trim();
        let num_end = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
            .unwrap_or(t.len());
        let (num, suffix) = t.split_at(num_end);
        let (neg, num) = match num.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, num.strip_prefix('+').unwrap_or(num)),
        };
        let (int, frac) = num.split_once('.').unwrap_or((num, ""));
        if int.is_empty() && frac.is_empty() {
            return Err(bad());
        }
        let digits = format!("{int}{frac}");
        if !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 30 {
            return Err(bad());
        }
        let mut mantissa: i128 = if digits.is_empty() {
            0
        } else {
            digits.parse().map_err(|_| bad())?
        };
        if neg {
            mantissa = -mantissa;
        }
        let mut exp10 = -(frac.len() as i32);
        let mut exp2 = 0;
        match suffix {
            "" => {}
            "n" => exp10 -= 9,
            "u" => exp10 -= 6,
            "m" => exp10 -= 3,
            "k" => exp10 += 3,
            "M" => exp10 += 6,
            "G" => exp10 += 9,
            "T" => exp10 += 12,
            "P" => exp10 += 15,
            "E" => exp10 += 18,
            "Ki" => exp2 = 10,
            "Mi" => exp2 = 20,
            "Gi" => exp2 = 30,
            "Ti" => exp2 = 40,
            "Pi" => exp2 = 50,
            "Ei" => exp2 = 60,
            other => {
                let exp = other
                    .strip_prefix(['e', 'E'])
                    .and_then(|e| e.parse::<i32>().ok())
                    .filter(|e| e.abs() <= 30)
                    .ok_or_else(bad)?;
                exp10 += exp;
            }
        }
        Ok(Quantity {
            mantissa,
            exp10,
            exp2,
        })
    }

    /// Parses a JSON quantity (string or number), as found in resources and sizeLimit.
    pub fn from_json(v: &serde_json::Value) -> Result<Quantity, VolumeError> {
        match v {
            serde_json::Value::String(s) => Quantity::parse(s),
            serde_json::Value::Number(n) => Quantity::parse(&n.to_string()),
            other => Err(VolumeError::InvalidQuantity(other.to_string())),
        }
    }

    /// The value in units of `10^-scale`, rounded up (away from zero for positive values).
    fn scaled_ceil(&self, scale: i32) -> i128 {
        let mut num = self.mantissa.saturating_mul(1i128 << self.exp2);
        let e = self.exp10 + scale;
        if e >= 0 {
            for _ in 0..e {
                num = num.saturating_mul(10);
            }
            num
        } else {
            let div = 10i128.saturating_pow((-e) as u32);
            let q = num / div;
            if num % div > 0 {
                q + 1
            } else {
                q
            }
        }
    }

    /// `Quantity.Value()`: whole units, rounded up.
    pub fn value(&self) -> i64 {
        clamp(self.scaled_ceil(0))
    }

    /// `Quantity.MilliValue()`: thousandths, rounded up.
    pub fn milli_value(&self) -> i64 {
        clamp(self.scaled_ceil(3))
    }

    pub fn is_zero(&self) -> bool {
        self.mantissa == 0
    }
}

fn clamp(v: i128) -> i64 {
    v.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_up_like_kubernetes() {
        let q = |s: &str| Quantity::parse(s).unwrap();
        assert_eq!(q("1").value(), 1);
        assert_eq!(q("250m").milli_value(), 250);
        assert_eq!(q("250m").value(), 1);
        assert_eq!(q("1.5").milli_value(), 1500);
        assert_eq!(q("64Mi").value(), 64 << 20);
        assert_eq!(q("1Gi").value(), 1 << 30);
        assert_eq!(q("0.5Ki").value(), 512);
        assert_eq!(q("1k").value(), 1000);
        assert_eq!(q("1e3").value(), 1000);
        assert_eq!(q("100n").milli_value(), 1);
        assert_eq!(q("2E").value(), 2_000_000_000_000_000_000);
        assert!(Quantity::parse("abc").is_err());
        assert!(Quantity::parse("1Xi").is_err());
        assert!(Quantity::parse("").is_err());
    }
}
