//! IP address and CIDR checks (`IsValidIP`, `IsValidCIDR`, `ValidateNonSpecialIP`).
//!
//! Contract: the strict rules Kubernetes applies to new IP fields: parseable, no leading zeros,
//! no IPv4-mapped IPv6, canonical text form; causes are `FieldValueInvalid` with Kubernetes'
//! wording.

use super::field::{invalid, Errs, Path};
use std::net::{IpAddr, Ipv4Addr};

/// `ParseIPSloppy`'s extra tolerance: IPv4 octets with leading zeros.
fn parse_sloppy_v4(s: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    let mut octets = [0u8; 4];
    for (o, p) in octets.iter_mut().zip(parts) {
        if p.is_empty() || p.len() > 3 || !p.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        *o = p.parse().ok()?;
    }
    Some(Ipv4Addr::from(octets))
}

fn is_4in6(ip: &IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some())
}

/// `IsValidIP`.
pub fn validate_ip(path: &Path, value: &str, errs: &mut Errs) {
    let strict: Option<IpAddr> = value.parse().ok();
    let ip = match strict {
        Some(ip) => ip,
        None => {
            if parse_sloppy_v4(value).is_some() {
                errs.push(invalid(path, value, "must not have leading 0s"));
            } else {
                errs.push(invalid(
                    path,
                    value,
                    "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                ));
            }
            return;
        }
    };
    if is_4in6(&ip) {
        errs.push(invalid(
            path,
            value,
            "must not be an IPv4-mapped IPv6 address",
        ));
        return;
    }
    let canonical = ip.to_string();
    if canonical != value {
        errs.push(invalid(
            path,
            value,
            &format!("must be in canonical form (\"{canonical}\")"),
        ));
    }
}

/// Parses an IP the strict way; `None` when [`validate_ip`] would complain.
pub fn parse_ip(value: &str) -> Option<IpAddr> {
    value.parse().ok()
}

/// `IsValidCIDR`.
pub fn validate_cidr(path: &Path, value: &str, errs: &mut Errs) {
    const BAD: &str = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)";
    let Some((ip_s, len_s)) = value.split_once('/') else {
        errs.push(invalid(path, value, BAD));
        return;
    };
    let len_ok = !len_s.is_empty() && len_s.len() <= 3 && len_s.chars().all(|c| c.is_ascii_digit());
    let strict_ip: Option<IpAddr> = ip_s.parse().ok();
    let ip = match strict_ip.or_else(|| parse_sloppy_v4(ip_s).map(IpAddr::V4)) {
        Some(ip) if len_ok => ip,
        _ => {
            errs.push(invalid(path, value, BAD));
            return;
        }
    };
    let Ok(len) = len_s.parse::<u32>() else {
        errs.push(invalid(path, value, BAD));
        return;
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    if len > max {
        errs.push(invalid(path, value, BAD));
        return;
    }
    if strict_ip.is_none() || (len_s.len() > 1 && len_s.starts_with('0')) {
        errs.push(invalid(
            path,
            value,
            "must not have leading 0s in IP or prefix length",
        ));
        return;
    }
    if is_4in6(&ip) {
        errs.push(invalid(
            path,
            value,
            "must not have an IPv4-mapped IPv6 address",
        ));
        return;
    }
    let masked = mask(ip, len);
    if masked != ip {
        errs.push(invalid(
            path,
            value,
            "must not have bits set beyond the prefix length",
        ));
        return;
    }
    let canonical = format!("{masked}/{len}");
    if canonical != value {
        errs.push(invalid(
            path,
            value,
            &format!("must be in canonical form (\"{canonical}\")"),
        ));
    }
}

fn mask(ip: IpAddr, len: u32) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let m = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            IpAddr::V4((bits & m).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let m = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            IpAddr::V6((bits & m).into())
        }
    }
}

/// `ValidateNonSpecialIP` (endpoint addresses, external IPs).
pub fn validate_non_special_ip(path: &Path, value: &str, errs: &mut Errs) {
    let ip = match value
        .parse::<IpAddr>()
        .ok()
        .or_else(|| parse_sloppy_v4(value).map(IpAddr::V4))
    {
        Some(ip) => ip,
        None => {
            errs.push(invalid(path, value, "must be a valid IP address"));
            return;
        }
    };
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    };
    if ip.is_unspecified() {
        errs.push(invalid(
            path,
            value,
            &format!("may not be unspecified ({value})"),
        ));
    }
    if ip.is_loopback() {
        errs.push(invalid(
            path,
            value,
            "may not be in the loopback range (127.0.0.0/8, ::1/128)",
        ));
    }
    let (link_local, ll_multicast) = match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            (
                o[0] == 169 && o[1] == 254,
                o[0] == 224 && o[1] == 0 && o[2] == 0,
            )
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            ((s[0] & 0xffc0) == 0xfe80, (s[0] & 0xff0f) == 0xff02)
        }
    };
    if link_local {
        errs.push(invalid(
            path,
            value,
            "may not be in the link-local range (169.254.0.0/16, fe80::/10)",
        ));
    }
    if ll_multicast {
        errs.push(invalid(
            path,
            value,
            "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(v: &str) -> Vec<String> {
        let mut e = Vec::new();
        validate_ip(&Path::new("x"), v, &mut e);
        e.into_iter().map(|c| c.message).collect()
    }

    fn cidr(v: &str) -> Vec<String> {
        let mut e = Vec::new();
        validate_cidr(&Path::new("x"), v, &mut e);
        e.into_iter().map(|c| c.message).collect()
    }

    #[test]
    fn ips() {
        assert!(ip("10.0.0.1").is_empty());
        assert!(ip("2001:db8::1").is_empty());
        assert_eq!(
            ip("010.0.0.1"),
            vec!["Invalid value: \"010.0.0.1\": must not have leading 0s"]
        );
        assert_eq!(ip("bogus"), vec!["Invalid value: \"bogus\": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"]);
        assert_eq!(
            ip("2001:DB8::1"),
            vec!["Invalid value: \"2001:DB8::1\": must be in canonical form (\"2001:db8::1\")"]
        );
        assert_eq!(
            ip("::ffff:1.2.3.4"),
            vec!["Invalid value: \"::ffff:1.2.3.4\": must not be an IPv4-mapped IPv6 address"]
        );
    }

    #[test]
    fn cidrs() {
        assert!(cidr("10.0.0.0/8").is_empty());
        assert_eq!(
            cidr("10.0.0.1/8"),
            vec!["Invalid value: \"10.0.0.1/8\": must not have bits set beyond the prefix length"]
        );
        assert_eq!(cidr("10.0.0.0"), vec!["Invalid value: \"10.0.0.0\": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"]);
    }

    #[test]
    fn special_ips() {
        let mut e = Vec::new();
        validate_non_special_ip(&Path::new("ip"), "127.0.0.1", &mut e);
        assert_eq!(
            e[0].message,
            "Invalid value: \"127.0.0.1\": may not be in the loopback range (127.0.0.0/8, ::1/128)"
        );
    }
}
