//! The container's filesystem view, assembled by the init process inside its own new mount
//! namespace: overlay root, the standard /proc, /sys, /dev set, the spec's mounts, then
//! `pivot_root` and the post-pivot steps (sysctls, masked and read-only paths, read-only
//! root). Everything mounted here lives only in that namespace and vanishes with the
//! container's last process, so nothing needs unmounting on the host.
//!
//! `/sys/fs/cgroup`: the init process is in a private cgroup namespace rooted at its own
//! cgroup. On cgroup v2 a read-only `cgroup2` mount therefore shows exactly the container's
//! cgroup; on v1/hybrid hosts a read-only tmpfs holds a read-only bind of the container's
//! directory in each hierarchy (`memory/`, `cpu,cpuacct/`, ...), no more.

use std::path::{Path, PathBuf};

use nix::mount::MsFlags;

use super::resolve::in_root;
use super::sys::{self, from_io, SysResult};
use crate::runtime::spec::{ContainerSpec, MountKind};

/// Where cgroup hierarchies are mounted on the host; `cgroup_dirs` given to `spawn` are below.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// containerd's default masked paths (hidden unless the container is privileged).
pub fn default_masked_paths() -> Vec<String> {
    [
        "/proc/acpi",
        "/proc/asound",
        "/proc/kcore",
        "/proc/keys",
        "/proc/latency_stats",
        "/proc/timer_list",
        "/proc/timer_stats",
        "/proc/sched_debug",
        "/proc/scsi",
        "/sys/firmware",
        "/sys/devices/virtual/powercap",
    ]
    .map(String::from)
    .to_vec()
}

/// containerd's default read-only paths (unless the container is privileged).
pub fn default_readonly_paths() -> Vec<String> {
    [
        "/proc/bus",
        "/proc/fs",
        "/proc/irq",
        "/proc/sys",
        "/proc/sysrq-trigger",
    ]
    .map(String::from)
    .to_vec()
}

/// Everything up to and including `pivot_root`; afterwards the process' `/` is the container
/// root and its cwd is `/`.
pub fn setup(spec: &ContainerSpec, cgroup_dirs: &[PathBuf]) -> SysResult<()> {
    // Nothing we mount may propagate back to the host, but host unmounts (e.g. of a volume)
    // should still reach us.
    sys::set_propagation(Path::new("/"), MsFlags::MS_SLAVE | MsFlags::MS_REC)?;
    let root = spec.rootfs.target.as_path();
    mount_root(spec)?;
    mount_standard(root, spec, cgroup_dirs)?;
    mount_spec(root, spec)?;
    // Created as root before the user switch and before a read-only remount, like containerd
    // does (runc would fail instead).
    let cwd = in_root(root, &spec.cwd);
    mkdir_all(&cwd)?;
    sys::chdir(root)?;
    sys::pivot_to_cwd()
}

/// The steps that need the final `/`: sysctls (before /proc/sys becomes read-only), masked
/// and read-only paths, read-only root.
pub fn finish(spec: &ContainerSpec) -> SysResult<()> {
    for (key, value) in &spec.security.sysctls {
        sys::write_file(&sysctl_path(key)?, value)?;
    }
    let sec = &spec.security;
    let (masked, readonly) = if sec.privileged {
        (sec.masked_paths.clone(), sec.readonly_paths.clone())
    } else {
        (
            non_empty_or(&sec.masked_paths, default_masked_paths),
            non_empty_or(&sec.readonly_paths, default_readonly_paths),
        )
    };
    for p in &masked {
        mask(Path::new(p))?;
    }
    for p in &readonly {
        let p = Path::new(p);
        if p.exists() {
            sys::bind(p, p, true)?;
        }
    }
    if sec.readonly_rootfs {
        sys::remount_readonly(Path::new("/"))?;
    }
    Ok(())
}

fn non_empty_or(v: &[String], default: fn() -> Vec<String>) -> Vec<String> {
    if v.is_empty() {
        default()
    } else {
        v.to_vec()
    }
}

/// `/proc/sys/...` for a sysctl name; `.` separates components unless the name uses `/`.
pub fn sysctl_path(key: &str) -> SysResult<PathBuf> {
    let rel = if key.contains('/') {
        key.to_string()
    } else {
        key.replace('.', "/")
    };
    if rel.split('/').any(|c| c == ".." || c.is_empty()) {
        return Err(sys::SysError {
            what: format!("invalid sysctl {key:?}"),
            errno: nix::errno::Errno::EINVAL,
        });
    }
    Ok(Path::new("/proc/sys").join(rel))
}

fn mask(p: &Path) -> SysResult<()> {
    match std::fs::metadata(p) {
        Ok(m) if m.is_dir() => sys::mount(
            Some("tmpfs"),
            p,
            Some("tmpfs"),
            MsFlags::MS_RDONLY,
            Some("size=0"),
        ),
        Ok(_) => sys::bind(Path::new("/dev/null"), p, false),
        Err(_) => Ok(()),
    }
}

fn mount_root(spec: &ContainerSpec) -> SysResult<()> {
    let r = &spec.rootfs;
    let invalid = |what: &str| sys::SysError {
        what: what.into(),
        errno: nix::errno::Errno::EINVAL,
    };
    if r.target.as_os_str().is_empty() {
        return Err(invalid("rootfs target not set"));
    }
    if spec.layers.is_empty() {
        return Err(invalid("no image layers"));
    }
    mkdir_all(&r.target)?;
    let (lower, _layer_fds) = lowerdir(&spec.layers)?;
    if r.upper.as_os_str().is_empty() {
        // No writable layer: a single layer is bound, several are stacked read-only.
        if spec.layers.len() == 1 {
            return sys::bind(&spec.layers[0], &r.target, true);
        }
        let data = format!("lowerdir={lower}");
        return sys::mount(
            Some("overlay"),
            &r.target,
            Some("overlay"),
            MsFlags::MS_RDONLY,
            Some(&data),
        );
    }
    mkdir_all(&r.upper)?;
    mkdir_all(&r.work)?;
    let data = format!(
        "lowerdir={lower},upperdir={},workdir={}",
        r.upper.display(),
        r.work.display()
    );
    sys::mount(
        Some("overlay"),
        &r.target,
        Some("overlay"),
        MsFlags::empty(),
        Some(&data),
    )
}

/// Mount options must fit in one page: the kernel copies at most 4096 bytes. Past that, the
/// layers are opened and named by descriptor number relative to `/proc/self/fd` (made the
/// cwd; overlayfs resolves its paths at mount time), a few characters each. The returned
/// descriptors must stay open until the mount is done.
const MAX_OPTIONS: usize = 3800;

fn lowerdir(layers: &[PathBuf]) -> SysResult<(String, Vec<std::fs::File>)> {
    let absolute: Vec<String> = layers
        .iter()
        .map(|l| l.to_string_lossy().into_owned())
        .collect();
    let absolute = absolute.join(":");
    if absolute.len() <= MAX_OPTIONS {
        return Ok((absolute, Vec::new()));
    }
    let mut files = Vec::new();
    for l in layers {
        files.push(
            std::fs::File::open(l)
                .map_err(|e| from_io(format!("open layer {}", l.display()), e))?,
        );
    }
    sys::chdir(Path::new("/proc/self/fd"))?;
    let names: Vec<String> = files
        .iter()
        .map(|f| std::os::fd::AsRawFd::as_raw_fd(f).to_string())
        .collect();
    Ok((names.join(":"), files))
}

fn mount_standard(root: &Path, spec: &ContainerSpec, cgroup_dirs: &[PathBuf]) -> SysResult<()> {
    let nosuid_noexec_nodev = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_NODEV;
    let at = |p: &str| -> SysResult<PathBuf> {
        let t = in_root(root, p);
        mkdir_all(&t)?;
        Ok(t)
    };
    sys::mount(
        Some("proc"),
        &at("/proc")?,
        Some("proc"),
        nosuid_noexec_nodev,
        None,
    )?;
    let sys_dir = at("/sys")?;
    let sysfs = sys::mount(
        Some("sysfs"),
        &sys_dir,
        Some("sysfs"),
        nosuid_noexec_nodev | MsFlags::MS_RDONLY,
        None,
    );
    if let Err(e) = sysfs {
        // A network namespace we may not mount sysfs for: show the host's, read-only.
        if e.errno != nix::errno::Errno::EPERM {
            return Err(e);
        }
        sys::bind(Path::new("/sys"), &sys_dir, true)?;
    }
    mount_cgroup(&at("/sys/fs/cgroup")?, cgroup_dirs)?;

    let dev = at("/dev")?;
    sys::mount(
        Some("tmpfs"),
        &dev,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME,
        Some("mode=755,size=65536k"),
    )?;
    for (name, major, minor) in [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ] {
        let node = dev.join(name);
        if sys::mknod_char(&node, major, minor, 0o666).is_err() {
            // mknod is refused in some environments (user namespaces, nodev): bind the
            // host's node instead.
            touch(&node)?;
            sys::bind(&Path::new("/dev").join(name), &node, false)?;
        }
    }
    for (link, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
        ("core", "/proc/kcore"),
    ] {
        std::os::unix::fs::symlink(target, dev.join(link))
            .map_err(|e| from_io(format!("symlink /dev/{link}"), e))?;
    }
    let pts = dev.join("pts");
    mkdir_all(&pts)?;
    sys::mount(
        Some("devpts"),
        &pts,
        Some("devpts"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=0620,gid=5"),
    )?;
    let mqueue = dev.join("mqueue");
    mkdir_all(&mqueue)?;
    sys::mount(
        Some("mqueue"),
        &mqueue,
        Some("mqueue"),
        nosuid_noexec_nodev,
        None,
    )?;
    let shm = dev.join("shm");
    mkdir_all(&shm)?;
    if !spec.mounts.iter().any(|m| m.destination == "/dev/shm") {
        sys::mount(
            Some("shm"),
            &shm,
            Some("tmpfs"),
            nosuid_noexec_nodev,
            Some("mode=1777,size=65536k"),
        )?;
    }
    Ok(())
}

fn mount_cgroup(target: &Path, cgroup_dirs: &[PathBuf]) -> SysResult<()> {
    let ro = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_NODEV | MsFlags::MS_RDONLY;
    let v2 = nix::sys::statfs::statfs(CGROUP_ROOT)
        .map(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
        .unwrap_or(false);
    if v2 {
        return sys::mount(Some("cgroup"), target, Some("cgroup2"), ro, None);
    }
    sys::mount(
        Some("cgroup"),
        target,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_NODEV,
        Some("mode=755,size=64k"),
    )?;
    for dir in cgroup_dirs {
        let Ok(rel) = dir.strip_prefix(CGROUP_ROOT) else {
            continue;
        };
        let Some(hierarchy) = rel.components().next() else {
            continue;
        };
        let t = target.join(hierarchy);
        mkdir_all(&t)?;
        sys::bind(dir, &t, true)?;
    }
    sys::remount_readonly(target)
}

fn mount_spec(root: &Path, spec: &ContainerSpec) -> SysResult<()> {
    for m in &spec.mounts {
        let dest = in_root(root, &m.destination);
        match &m.kind {
            MountKind::Bind { source, file } => {
                if *file || source.is_file() {
                    if let Some(parent) = dest.parent() {
                        mkdir_all(parent)?;
                    }
                    touch(&dest)?;
                } else {
                    mkdir_all(&dest)?;
                }
                sys::bind(source, &dest, m.readonly)?;
            }
            MountKind::Tmpfs { size_bytes } => {
                mkdir_all(&dest)?;
                let mut data = "mode=1777".to_string();
                if let Some(size) = size_bytes {
                    data.push_str(&format!(",size={size}"));
                }
                let mut flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
                if m.readonly {
                    flags |= MsFlags::MS_RDONLY;
                }
                sys::mount(Some("tmpfs"), &dest, Some("tmpfs"), flags, Some(&data))?;
            }
        }
    }
    Ok(())
}

fn mkdir_all(p: &Path) -> SysResult<()> {
    std::fs::create_dir_all(p).map_err(|e| from_io(format!("mkdir {}", p.display()), e))
}

fn touch(p: &Path) -> SysResult<()> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(p)
        .map(drop)
        .map_err(|e| from_io(format!("create {}", p.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctl_names_map_to_proc_sys() {
        assert_eq!(
            sysctl_path("net.ipv4.ip_local_port_range").unwrap(),
            Path::new("/proc/sys/net/ipv4/ip_local_port_range")
        );
        assert_eq!(
            sysctl_path("net/ipv4/conf/eth0.1/forwarding").unwrap(),
            Path::new("/proc/sys/net/ipv4/conf/eth0.1/forwarding")
        );
        assert!(sysctl_path("kernel/../../etc").is_err());
        assert!(sysctl_path("kernel..x").is_err());
    }

    #[test]
    fn short_layer_lists_are_absolute() {
        let layers: Vec<PathBuf> = (0..2).map(|i| PathBuf::from(format!("/l/{i}"))).collect();
        let (lower, fds) = lowerdir(&layers).unwrap();
        assert_eq!((lower.as_str(), fds.len()), ("/l/0:/l/1", 0));
    }

    #[test]
    fn default_lists_match_containerd() {
        assert_eq!(default_masked_paths().len(), 11);
        assert!(default_readonly_paths().contains(&"/proc/sys".to_string()));
    }
}
