//! Allocators of Service cluster IPs (from `--service-cidr`) and NodePorts (30000–32767).
//!
//! Contract: the set of allocated values is rebuilt from the stored Services at start, so the
//! Services themselves are the durable record; `allocate` hands out the lowest free value
//! after a rotating cursor, `reserve` claims a requested one, `release` frees one. The first
//! address of the range is reserved for the `kubernetes` Service and the tenth for cluster DNS.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Mutex;

use ipnetwork::Ipv4Network;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AllocError {
    #[error("range is full")]
    Full,
    #[error("provided IP is already allocated")]
    IpTaken,
    #[error("provided IP is not in the valid range. The range of valid IPs is {0}")]
    IpOutOfRange(String),
    #[error("provided port is already allocated")]
    PortTaken,
    #[error("provided port is not in the valid range. The range of valid ports is 30000-32767")]
    PortOutOfRange,
}

pub const NODE_PORT_MIN: u16 = 30000;
pub const NODE_PORT_MAX: u16 = 32767;

struct State {
    ips: BTreeSet<u32>,
    ports: BTreeSet<u16>,
    ip_cursor: u32,
}

pub struct Allocators {
    net: Ipv4Network,
    state: Mutex<State>,
}

impl Allocators {
    pub fn new(net: Ipv4Network) -> Allocators {
        Allocators {
            net,
            state: Mutex::new(State {
                ips: BTreeSet::new(),
                ports: BTreeSet::new(),
                ip_cursor: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The `n`-th address of the service range (1 = the kubernetes Service, 10 = DNS).
    pub fn nth(&self, n: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(u32::from(self.net.network()) + n))
    }

    fn usable(&self) -> (u32, u32) {
        let base = u32::from(self.net.network());
        let size = 1u32
            .checked_shl(32 - u32::from(self.net.prefix()))
            .unwrap_or(0);
        // Skip the network and broadcast addresses.
        (base + 1, base + size.saturating_sub(2))
    }

    pub fn reserve_ip(&self, ip: &str) -> Result<(), AllocError> {
        let addr: Ipv4Addr = ip
            .parse()
            .map_err(|_| AllocError::IpOutOfRange(self.net.to_string()))?;
        let v = u32::from(addr);
        let (lo, hi) = self.usable();
        if v < lo || v > hi {
            return Err(AllocError::IpOutOfRange(self.net.to_string()));
        }
        if !self.lock().ips.insert(v) {
            return Err(AllocError::IpTaken);
        }
        Ok(())
    }

    pub fn allocate_ip(&self) -> Result<String, AllocError> {
        let (lo, hi) = self.usable();
        // Addresses below .11 are reserved for well-known services (API, DNS) and only ever
        // handed out on explicit request, as Kubernetes does with its static band.
        let dyn_lo = (lo + 10).min(hi);
        let mut st = self.lock();
        let span = hi - dyn_lo + 1;
        for i in 0..span {
            let v = dyn_lo + (st.ip_cursor + i) % span;
            if st.ips.insert(v) {
                st.ip_cursor = (v - dyn_lo + 1) % span;
                return Ok(Ipv4Addr::from(v).to_string());
            }
        }
        Err(AllocError::Full)
    }

    pub fn release_ip(&self, ip: &str) {
        if let Ok(a) = ip.parse::<Ipv4Addr>() {
            self.lock().ips.remove(&u32::from(a));
        }
    }

    pub fn reserve_port(&self, port: u16) -> Result<(), AllocError> {
        if !(NODE_PORT_MIN..=NODE_PORT_MAX).contains(&port) {
            return Err(AllocError::PortOutOfRange);
        }
        if !self.lock().ports.insert(port) {
            return Err(AllocError::PortTaken);
        }
        Ok(())
    }

    pub fn allocate_port(&self) -> Result<u16, AllocError> {
        let mut st = self.lock();
        let span = u32::from(NODE_PORT_MAX - NODE_PORT_MIN) + 1;
        let start = rand::random_range(0..span);
        for i in 0..span {
            let p = NODE_PORT_MIN + ((start + i) % span) as u16;
            if st.ports.insert(p) {
                return Ok(p);
            }
        }
        Err(AllocError::Full)
    }

    pub fn release_port(&self, port: u16) {
        self.lock().ports.remove(&port);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_releases_and_refuses_duplicates() {
        let a = Allocators::new("10.43.0.0/29".parse().unwrap());
        assert_eq!(a.nth(1).to_string(), "10.43.0.1");
        a.reserve_ip("10.43.0.1").unwrap();
        assert_eq!(a.reserve_ip("10.43.0.1"), Err(AllocError::IpTaken));
        assert!(matches!(
            a.reserve_ip("10.44.0.1"),
            Err(AllocError::IpOutOfRange(_))
        ));
        // A /29 has usable .1-.6; the dynamic band collapses to the last one.
        let ip = a.allocate_ip().unwrap();
        assert_eq!(ip, "10.43.0.6");
        assert_eq!(a.allocate_ip(), Err(AllocError::Full));
        a.release_ip(&ip);
        assert_eq!(a.allocate_ip().unwrap(), "10.43.0.6");
        let p = a.allocate_port().unwrap();
        assert!((NODE_PORT_MIN..=NODE_PORT_MAX).contains(&p));
        assert_eq!(a.reserve_port(p), Err(AllocError::PortTaken));
        a.release_port(p);
        a.reserve_port(p).unwrap();
        assert_eq!(a.reserve_port(80), Err(AllocError::PortOutOfRange));
    }

    #[test]
    fn large_range_hands_out_distinct_addresses() {
        let a = Allocators::new("10.43.0.0/16".parse().unwrap());
        let mut seen = BTreeSet::new();
        for _ in 0..500 {
            assert!(seen.insert(a.allocate_ip().unwrap()));
        }
        assert!(!seen.contains("10.43.0.1"));
        assert!(!seen.contains("10.43.0.10"));
    }
}
