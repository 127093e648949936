//! Finding the cgroup hierarchies from `/proc/self/mountinfo`.
//!
//! Contract: when the cgroup root itself is a `cgroup2` mount the host is pure v2 (unified);
//! otherwise every `cgroup` (v1) mount below the root that carries at least one controller we
//! manage is a hierarchy, co-mounted controllers (`cpu,cpuacct`) sharing one. A hybrid host's
//! controller-less `cgroup2` mount at `<root>/unified` and named hierarchies (`name=systemd`)
//! are ignored.

use std::path::{Path, PathBuf};

/// The v1 controllers the agent creates cgroups in.
pub const V1_CONTROLLERS: &[&str] = &[
    "cpu", "cpuacct", "cpuset", "memory", "pids", "freezer", "blkio", "devices", "hugetlb",
];

/// One mounted hierarchy: where it is and which controllers it carries (empty for v2, whose
/// controllers are read from `cgroup.controllers`).
#[derive(Debug, Clone, PartialEq)]
pub struct Hierarchy {
    pub mount: PathBuf,
    pub controllers: Vec<String>,
}

/// What the mount table says about the cgroup root.
#[derive(Debug, Clone, PartialEq)]
pub enum Layout {
    Unified(PathBuf),
    Legacy(Vec<Hierarchy>),
    None,
}

/// Parses mountinfo text (`man 5 proc`): `id parent maj:min root mountpoint opts [tags] - fstype
/// source superopts`.
pub fn parse(mountinfo: &str, cgroup_root: &Path) -> Layout {
    let mut legacy: Vec<Hierarchy> = Vec::new();
    for line in mountinfo.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let Some(mountpoint) = pre.split_whitespace().nth(4) else {
            continue;
        };
        let mountpoint = PathBuf::from(unescape(mountpoint));
        let mut post = post.split_whitespace();
        let fstype = post.next().unwrap_or("");
        let superopts = post.nth(1).unwrap_or("");
        if fstype == "cgroup2" && mountpoint == cgroup_root {
            return Layout::Unified(mountpoint);
        }
        if fstype != "cgroup" || !mountpoint.starts_with(cgroup_root) {
            continue;
        }
        let controllers: Vec<String> = superopts
            .split(',')
            .filter(|o| V1_CONTROLLERS.contains(o))
            .map(str::to_string)
            .collect();
        // The same hierarchy may be mounted twice; the first mount is enough.
        if !controllers.is_empty() && !legacy.iter().any(|h| h.controllers == controllers) {
            legacy.push(Hierarchy {
                mount: mountpoint,
                controllers,
            });
        }
    }
    if legacy.is_empty() {
        Layout::None
    } else {
        Layout::Legacy(legacy)
    }
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:35 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
";

    #[test]
    fn hybrid_host_uses_v1_controllers_and_ignores_unified() {
        let Layout::Legacy(h) = parse(HYBRID, Path::new("/sys/fs/cgroup")) else {
            panic!("expected v1");
        };
        assert_eq!(h.len(), 4);
        assert_eq!(h[0].mount, PathBuf::from("/sys/fs/cgroup/cpu,cpuacct"));
        assert_eq!(h[0].controllers, vec!["cpu", "cpuacct"]);
        assert!(h.iter().all(|h| !h.mount.ends_with("systemd")));
    }

    #[test]
    fn pure_v2_host() {
        let mi = "25 20 0:22 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(
            parse(mi, Path::new("/sys/fs/cgroup")),
            Layout::Unified(PathBuf::from("/sys/fs/cgroup"))
        );
    }

    #[test]
    fn no_cgroups_and_escaped_paths() {
        assert_eq!(parse("", Path::new("/sys/fs/cgroup")), Layout::None);
        let mi = "1 0 0:1 / /c\\040g/memory rw - cgroup cgroup rw,memory\n";
        let Layout::Legacy(h) = parse(mi, Path::new("/c g")) else {
            panic!("expected v1");
        };
        assert_eq!(h[0].mount, PathBuf::from("/c g/memory"));
    }
}
