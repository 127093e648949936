//! Host-local IPAM: pod addresses from the node's pod CIDR, persisted one file per address.
//!
//! Contract: `<state_dir>/<ip>` exists exactly while `<ip>` is allocated and contains the pod
//! id; it is created atomically and exclusively (written to a temp file, then hard-linked to
//! its name, so a crash never leaves a half-written allocation and two allocators never share
//! an address). `<state_dir>/last_reserved_ip` holds the last address handed out: allocation
//! goes round-robin from it, so a released address is not reused at once. The network
//! address, the gateway (first address) and the IPv4 broadcast address are never handed out.
//! Allocating for a pod that already has an address returns that address.

use std::collections::HashSet;
use std::fs;
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ipnetwork::IpNetwork;

const LAST: &str = "last_reserved_ip";
/// Bounds the scan of huge (IPv6) ranges.
const MAX_SCAN: u128 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum IpamError {
    #[error("pod cidr {0} has no room for pods")]
    TooSmall(IpNetwork),
    #[error("no free address left in {0}")]
    Exhausted(IpNetwork),
    #[error("ipam state {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> IpamError + '_ {
    move |source| IpamError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[derive(Debug)]
pub struct Ipam {
    dir: PathBuf,
    cidr: IpNetwork,
    /// Serializes allocations of this process; the exclusive link guards the files.
    lock: Mutex<()>,
}

fn to_u128(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(a) => u32::from(a) as u128,
        IpAddr::V6(a) => u128::from(a),
    }
}

fn from_u128(v6: bool, n: u128) -> IpAddr {
    if v6 {
        IpAddr::V6(n.into())
    } else {
        IpAddr::V4((n as u32).into())
    }
}

impl Ipam {
    /// Opens (creating) the state directory for `cidr`.
    pub fn open(dir: &Path, cidr: IpNetwork) -> Result<Ipam, IpamError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let ipam = Ipam {
            dir: dir.to_path_buf(),
            cidr,
            lock: Mutex::new(()),
        };
        let (first, last) = ipam.range();
        if first > last {
            return Err(IpamError::TooSmall(cidr));
        }
        Ok(ipam)
    }

    pub fn cidr(&self) -> IpNetwork {
        self.cidr
    }

    /// The first address of the CIDR, kept for the bridge.
    pub fn gateway(&self) -> IpAddr {
        from_u128(self.cidr.is_ipv6(), to_u128(self.cidr.network()) + 1)
    }

    /// Inclusive range of assignable addresses as integers.
    fn range(&self) -> (u128, u128) {
        let net = to_u128(self.cidr.network());
        let bits: u32 = if self.cidr.is_ipv6() { 128 } else { 32 };
        let host_bits = bits - u32::from(self.cidr.prefix());
        let size = if host_bits >= 128 {
            u128::MAX
        } else {
            (1u128 << host_bits) - 1
        };
        let top = net + size;
        // IPv4 reserves the broadcast address; IPv6 has none but skipping the top is harmless.
        (net + 2, top.saturating_sub(1))
    }

    /// Every allocation as (pod id, address), sorted by address.
    pub fn allocated(&self) -> Vec<(String, IpAddr)> {
        let Ok(rd) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut out: Vec<(String, IpAddr)> = rd
            .flatten()
            .filter_map(|e| {
                let ip: IpAddr = e.file_name().to_str()?.parse().ok()?;
                let id = fs::read_to_string(e.path()).ok()?;
                Some((id.trim().to_string(), ip))
            })
            .collect();
        out.sort_by_key(|(_, ip)| to_u128(*ip));
        out
    }

    /// The address of a pod, if it has one.
    pub fn get(&self, id: &str) -> Option<IpAddr> {
        self.allocated()
            .into_iter()
            .find(|(i, _)| i == id)
            .map(|(_, ip)| ip)
    }

    /// Allocates an address for `id`, or returns the one it has.
    pub fn allocate(&self, id: &str) -> Result<IpAddr, IpamError> {
        let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(ip) = self.get(id) {
            return Ok(ip);
        }
        let (first, last) = self.range();
        let v6 = self.cidr.is_ipv6();
        let start = fs::read_to_string(self.dir.join(LAST))
            .ok()
            .and_then(|s| s.trim().parse::<IpAddr>().ok())
            .map(to_u128)
            .filter(|n| (first..=last).contains(n))
            .map(|n| if n == last { first } else { n + 1 })
            .unwrap_or(first);
        let count = (last - first).saturating_add(1).min(MAX_SCAN);
        for i in 0..count {
            let n = first + (start - first + i) % (last - first + 1);
            let ip = from_u128(v6, n);
            if self.claim(ip, id)? {
                self.write_atomic(&self.dir.join(LAST), ip.to_string().as_bytes())?;
                return Ok(ip);
            }
        }
        Err(IpamError::Exhausted(self.cidr))
    }

    /// Creates `<dir>/<ip>` with `id` unless it exists; false when taken.
    fn claim(&self, ip: IpAddr, id: &str) -> Result<bool, IpamError> {
        let path = self.dir.join(ip.to_string());
        if path.exists() {
            return Ok(false);
        }
        let tmp = self.dir.join(format!(".tmp-{ip}-{}", std::process::id()));
        self.write_file(&tmp, id.as_bytes())?;
        let res = fs::hard_link(&tmp, &path);
        let _ = fs::remove_file(&tmp);
        match res {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(IpamError::Io { path, source: e }),
        }
    }

    fn write_file(&self, path: &Path, data: &[u8]) -> Result<(), IpamError> {
        let mut f = fs::File::create(path).map_err(io_err(path))?;
        f.write_all(data).map_err(io_err(path))?;
        f.sync_all().map_err(io_err(path))
    }

    fn write_atomic(&self, path: &Path, data: &[u8]) -> Result<(), IpamError> {
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        self.write_file(&tmp, data)?;
        fs::rename(&tmp, path).map_err(io_err(path))
    }

    /// Releases every address of `id`; returns them (empty when it had none).
    pub fn release(&self, id: &str) -> Result<Vec<IpAddr>, IpamError> {
        let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::new();
        for (owner, ip) in self.allocated() {
            if owner == id {
                let path = self.dir.join(ip.to_string());
                match fs::remove_file(&path) {
                    Ok(()) => out.push(ip),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(source) => return Err(IpamError::Io { path, source }),
                }
            }
        }
        Ok(out)
    }

    /// Releases the addresses of pods not in `live`; returns what was released.
    pub fn gc(&self, live: &HashSet<String>) -> Result<Vec<(String, IpAddr)>, IpamError> {
        let mut out = Vec::new();
        for (id, _) in self.allocated() {
            if !live.contains(&id) {
                for ip in self.release(&id)? {
                    out.push((id.clone(), ip));
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipam(dir: &Path, cidr: &str) -> Ipam {
        Ipam::open(dir, cidr.parse().unwrap()).unwrap()
    }

    #[test]
    fn allocates_skipping_network_gateway_and_broadcast() {
        let d = tempfile::tempdir().unwrap();
        let i = ipam(d.path(), "10.0.0.0/30");
        assert_eq!(i.gateway().to_string(), "10.0.0.1");
        assert_eq!(i.allocate("a").unwrap().to_string(), "10.0.0.2");
        assert!(matches!(i.allocate("b"), Err(IpamError::Exhausted(_))));
        assert_eq!(fs::read_to_string(d.path().join("10.0.0.2")).unwrap(), "a");
    }

    #[test]
    fn allocation_is_idempotent_per_pod() {
        let d = tempfile::tempdir().unwrap();
        let i = ipam(d.path(), "10.0.0.0/24");
        let a = i.allocate("a").unwrap();
        assert_eq!(i.allocate("a").unwrap(), a);
        assert_eq!(i.allocated().len(), 1);
    }

    #[test]
    fn round_robin_does_not_reuse_a_released_address_at_once() {
        let d = tempfile::tempdir().unwrap();
        let i = ipam(d.path(), "10.0.0.0/29");
        let a = i.allocate("a").unwrap();
        assert_eq!(i.release("a").unwrap(), vec![a]);
        let b = i.allocate("b").unwrap();
        assert_ne!(a, b);
        assert_eq!(b.to_string(), "10.0.0.3");
        // Wraps around to the start after the last address (.6; .7 is broadcast).
        for id in ["c", "d", "e"] {
            i.allocate(id).unwrap();
        }
        assert_eq!(i.allocate("f").unwrap().to_string(), "10.0.0.2");
        assert!(i.allocate("g").is_err());
    }

    #[test]
    fn allocations_survive_a_reopen_and_release_by_pod() {
        let d = tempfile::tempdir().unwrap();
        let a = ipam(d.path(), "10.0.0.0/24").allocate("a").unwrap();
        let i = ipam(d.path(), "10.0.0.0/24");
        assert_eq!(i.get("a"), Some(a));
        assert_ne!(i.allocate("b").unwrap(), a);
        assert_eq!(i.release("a").unwrap(), vec![a]);
        assert!(i.release("a").unwrap().is_empty());
        assert!(!d.path().join(a.to_string()).exists());
    }

    #[test]
    fn gc_releases_dead_pods_only() {
        let d = tempfile::tempdir().unwrap();
        let i = ipam(d.path(), "10.0.0.0/24");
        i.allocate("live").unwrap();
        let dead = i.allocate("dead").unwrap();
        let live: HashSet<String> = ["live".to_string()].into();
        assert_eq!(i.gc(&live).unwrap(), vec![("dead".to_string(), dead)]);
        assert_eq!(i.allocated().len(), 1);
    }

    #[test]
    fn ipv6_ranges_work() {
        let d = tempfile::tempdir().unwrap();
        let i = ipam(d.path(), "fd00::/64");
        assert_eq!(i.allocate("a").unwrap().to_string(), "fd00::2");
    }

    #[test]
    fn too_small_cidr_is_rejected() {
        let d = tempfile::tempdir().unwrap();
        assert!(Ipam::open(d.path(), "10.0.0.0/31".parse().unwrap()).is_err());
    }
}
