//! Facts about the machine the Node object reports: cpu count, memory, disk, kernel, OS image,
//! boot and machine ids, addresses; and the pressure signals (available memory, disk, pids).
//!
//! Contract: every reader takes its root (`/proc`, `/etc`) as a parameter so tests use
//! fixture directories; a missing file yields an empty or zero value, never an error.

use std::net::IpAddr;
use std::path::Path;

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// CPUs usable by this process (sched affinity), falling back to /proc/cpuinfo.
pub fn cpus(proc_root: &Path) -> u32 {
    if let Ok(set) = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)) {
        let n = (0..nix::sched::CpuSet::count())
            .filter(|i| set.is_set(*i).unwrap_or(false))
            .count();
        if n > 0 {
            return n as u32;
        }
    }
    (read(&proc_root.join("cpuinfo"))
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count() as u32)
        .max(1)
}

/// A `/proc/meminfo` field in bytes.
pub fn meminfo(proc_root: &Path, field: &str) -> u64 {
    read(&proc_root.join("meminfo"))
        .lines()
        .find_map(|l| {
            let rest = l.strip_prefix(field)?.strip_prefix(':')?;
            let kb: u64 = rest.split_whitespace().next()?.parse().ok()?;
            Some(kb * 1024)
        })
        .unwrap_or(0)
}

/// (total, available) bytes of the filesystem holding `dir`.
pub fn disk(dir: &Path) -> (u64, u64) {
    match rustix::fs::statvfs(dir) {
        Ok(s) => (
            s.f_blocks.saturating_mul(s.f_frsize),
            s.f_bavail.saturating_mul(s.f_frsize),
        ),
        Err(_) => (0, 0),
    }
}

pub fn kernel_version(proc_root: &Path) -> String {
    read(&proc_root.join("sys/kernel/osrelease"))
        .trim()
        .to_string()
}

pub fn boot_id(proc_root: &Path) -> String {
    read(&proc_root.join("sys/kernel/random/boot_id"))
        .trim()
        .to_string()
}

pub fn machine_id(etc_root: &Path) -> String {
    read(&etc_root.join("machine-id")).trim().to_string()
}

/// `PRETTY_NAME` of os-release.
pub fn os_image(etc_root: &Path) -> String {
    read(&etc_root.join("os-release"))
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_else(|| "Linux".into())
}

/// Kubernetes' name of the CPU architecture.
pub fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        "riscv64" => "riscv64",
        "s390x" => "s390x",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// The first non-loopback IPv4 address of this network namespace.
pub fn first_ipv4() -> Option<IpAddr> {
    let addrs = nix::ifaddrs::getifaddrs().ok()?;
    let mut found: Vec<(String, std::net::Ipv4Addr)> = addrs
        .filter_map(|a| {
            let ip = a.address?.as_sockaddr_in()?.ip();
            (!ip.is_loopback()).then_some((a.interface_name, ip))
        })
        .collect();
    // Pod-network addresses of this agent never count as the node's.
    found.retain(|(n, _)| n != "kedge0");
    found.first().map(|(_, ip)| IpAddr::V4(*ip))
}

/// Processes running and the kernel's pid limit.
pub fn pids(proc_root: &Path) -> (u64, u64) {
    let max = read(&proc_root.join("sys/kernel/pid_max"))
        .trim()
        .parse()
        .unwrap_or(32768);
    let running = std::fs::read_dir(proc_root)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .bytes()
                        .all(|b| b.is_ascii_digit())
                })
                .count() as u64
        })
        .unwrap_or(0);
    (running, max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_facts_from_fixture_roots() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        std::fs::create_dir_all(p.join("sys/kernel/random")).unwrap();
        std::fs::write(
            p.join("meminfo"),
            "MemTotal:       2048 kB\nMemAvailable:   1024 kB\n",
        )
        .unwrap();
        std::fs::write(p.join("sys/kernel/osrelease"), "6.1.0-test\n").unwrap();
        std::fs::write(p.join("sys/kernel/random/boot_id"), "b-1\n").unwrap();
        std::fs::write(
            p.join("os-release"),
            "NAME=x\nPRETTY_NAME=\"Debian GNU/Linux 12\"\n",
        )
        .unwrap();
        assert_eq!(meminfo(p, "MemTotal"), 2048 * 1024);
        assert_eq!(meminfo(p, "MemAvailable"), 1024 * 1024);
        assert_eq!(kernel_version(p), "6.1.0-test");
        assert_eq!(boot_id(p), "b-1");
        assert_eq!(os_image(p), "Debian GNU/Linux 12");
        assert_eq!(machine_id(p), "");
        assert!(cpus(p) >= 1);
        assert!(disk(p).0 > 0);
    }
}
