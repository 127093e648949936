//! `kedge check-config`: does this kernel have what the node agent needs?
//!
//! Contract: [`checks`] only reads files below the given [`Roots`] (so it runs against fixture
//! trees) and never loads modules or changes anything. Each check yields OK, MISSING (a
//! required feature is absent: the agent will fail) or WARN (optional or degraded), with a
//! concrete hint. [`run`] prints the table and returns `false` when anything required is
//! MISSING.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use crate::runtime::cgroups::mountinfo::{self, Layout};

/// Where the kernel's interfaces are mounted.
#[derive(Debug, Clone)]
pub struct Roots {
    /// `/proc`
    pub proc: PathBuf,
    /// `/sys`
    pub sys: PathBuf,
    /// `/lib/modules`
    pub modules: PathBuf,
    /// `/dev`
    pub dev: PathBuf,
}

impl Default for Roots {
    fn default() -> Roots {
        Roots {
            proc: "/proc".into(),
            sys: "/sys".into(),
            modules: "/lib/modules".into(),
            dev: "/dev".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ok,
    Missing,
    Warn,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "OK",
            Level::Missing => "MISSING",
            Level::Warn => "WARN",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub level: Level,
    pub name: String,
    pub hint: String,
}

/// The oldest kernel the runtime supports: pidfd_open and waitid(P_PIDFD) arrived in 5.3/5.4.
const MIN_KERNEL: (u32, u32) = (5, 4);

const PI_MEMORY_HINT: &str = "memory cgroup disabled: add `cgroup_memory=1 cgroup_enable=memory` \
to the single line of /boot/firmware/cmdline.txt (Raspberry Pi OS; /boot/cmdline.txt before \
Bookworm) and reboot";

fn check(level: Level, name: &str, hint: impl Into<String>) -> Check {
    Check {
        level,
        name: name.to_string(),
        hint: hint.into(),
    }
}

fn read(p: &Path) -> Option<String> {
    fs::read_to_string(p).ok()
}

/// `(major, minor)` of a release string like `6.6.31+rpt-rpi-v8`.
fn parse_version(release: &str) -> Option<(u32, u32)> {
    let mut it = release.split(|c: char| !c.is_ascii_digit());
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

/// Kernel modules known to the module tree of `release` or the running kernel.
struct Modules {
    sys_module: PathBuf,
    /// Contents of modules.builtin and modules.dep, `-` normalized to `_`.
    index: String,
    /// Symbol names of `/proc/kallsyms`: the only trace of a built-in module without
    /// parameters when the host ships no module tree (appliance and VM kernels).
    symbols: HashSet<String>,
}

/// A function each module defines, to find built-in modules in kallsyms.
const MODULE_SYMBOLS: &[(&str, &str)] = &[
    ("nf_tables", "nft_register_expr"),
    ("nft_masq", "nft_masq_eval"),
    ("nft_nat", "nft_nat_eval"),
    ("veth", "veth_xmit"),
    ("bridge", "br_dev_xmit"),
    ("vxlan", "vxlan_xmit"),
    ("overlay", "ovl_fill_super"),
];

impl Modules {
    fn new(roots: &Roots, release: &str) -> Modules {
        let dir = roots.modules.join(release);
        let mut index = String::new();
        for f in ["modules.builtin", "modules.dep"] {
            index.push_str(&read(&dir.join(f)).unwrap_or_default());
            index.push('\n');
        }
        let symbols = read(&roots.proc.join("kallsyms"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_whitespace().nth(2).map(str::to_string))
            .collect();
        Modules {
            sys_module: roots.sys.join("module"),
            index: index.replace('-', "_"),
            symbols,
        }
    }

    /// Loaded (or built in with parameters: `/sys/module/<name>`), listed as built in or
    /// loadable, or its code present in the running kernel.
    fn available(&self, name: &str) -> bool {
        self.sys_module.join(name).exists()
            || self.index.contains(&format!("/{name}.ko"))
            || MODULE_SYMBOLS
                .iter()
                .any(|(m, sym)| *m == name && self.symbols.contains(*sym))
    }
}

fn kernel(release: &str) -> Check {
    match parse_version(release) {
        Some(v) if v >= MIN_KERNEL => check(Level::Ok, "kernel", release),
        Some(_) => check(
            Level::Missing,
            "kernel",
            format!(
                "{release} is older than {}.{} (pidfd, clone3): upgrade the kernel",
                MIN_KERNEL.0, MIN_KERNEL.1
            ),
        ),
        None => check(
            Level::Warn,
            "kernel",
            format!("cannot parse kernel release {release:?}"),
        ),
    }
}

fn namespaces(roots: &Roots) -> Vec<Check> {
    let ns = roots.proc.join("self/ns");
    let mut out: Vec<Check> = ["net", "pid", "ipc", "uts", "mnt", "cgroup"]
        .iter()
        .map(|n| {
            let name = format!("namespace {n}");
            if ns.join(n).exists() {
                check(Level::Ok, &name, "")
            } else {
                check(
                    Level::Missing,
                    &name,
                    format!(
                        "kernel built without {} namespaces (CONFIG_{}_NS)",
                        n,
                        ns_config(n)
                    ),
                )
            }
        })
        .collect();
    let max_user = read(&roots.proc.join("sys/user/max_user_namespaces"))
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(0);
    out.push(if ns.join("user").exists() && max_user > 0 {
        check(Level::Ok, "namespace user", "optional")
    } else {
        check(
            Level::Warn,
            "namespace user",
            "optional: user namespaces unavailable (CONFIG_USER_NS, user.max_user_namespaces)",
        )
    });
    out
}

fn ns_config(n: &str) -> &'static str {
    match n {
        "net" => "NET",
        "pid" => "PID",
        "ipc" => "IPC",
        "uts" => "UTS",
        "cgroup" => "CGROUP",
        _ => "NAMESPACES",
    }
}

/// Controllers the kernel has switched off (`enabled` column 0 of /proc/cgroups).
fn disabled_controllers(roots: &Roots) -> Vec<String> {
    read(&roots.proc.join("cgroups"))
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 4 && f[3] == "0").then(|| f[0].to_string())
        })
        .collect()
}

fn cgroups(roots: &Roots) -> Vec<Check> {
    let root = roots.sys.join("fs/cgroup");
    let mi = read(&roots.proc.join("self/mountinfo")).unwrap_or_default();
    let (version, available, mut required) = match mountinfo::parse(&mi, &root) {
        Layout::Unified(_) => {
            let ctrls = read(&root.join("cgroup.controllers")).unwrap_or_default();
            let avail: Vec<String> = ctrls.split_whitespace().map(str::to_string).collect();
            ("v2", avail, vec!["cpu", "memory", "pids"])
        }
        Layout::Legacy(hs) => {
            let avail = hs.into_iter().flat_map(|h| h.controllers).collect();
            ("v1", avail, vec!["cpu", "cpuacct", "memory", "pids"])
        }
        Layout::None => {
            return vec![check(
                Level::Missing,
                "cgroups",
                format!(
                    "no cgroup v1 controllers or cgroup2 filesystem mounted at {}",
                    root.display()
                ),
            )]
        }
    };
    let disabled = disabled_controllers(roots);
    let mut out = vec![check(Level::Ok, "cgroup version", version)];
    required.push("cpuset");
    for c in required {
        let name = format!("cgroup {c}");
        let present = available.iter().any(|a| a == c) && !disabled.iter().any(|d| d == c);
        let optional = c == "cpuset";
        out.push(if present {
            check(Level::Ok, &name, "")
        } else if c == "memory" {
            check(Level::Missing, &name, PI_MEMORY_HINT)
        } else if optional {
            check(Level::Warn, &name, "optional: cpuset controller not available")
        } else {
            check(
                Level::Missing,
                &name,
                format!("{c} controller not available: enable CONFIG_CGROUP_{} or remove cgroup_disable={c} from the kernel command line", c.to_ascii_uppercase()),
            )
        });
    }
    out
}

fn filesystems(roots: &Roots, m: &Modules) -> Check {
    let fs = read(&roots.proc.join("filesystems")).unwrap_or_default();
    let registered = fs
        .lines()
        .any(|l| l.split_whitespace().last() == Some("overlay"));
    if registered {
        check(Level::Ok, "overlayfs", "")
    } else if m.available("overlay") {
        check(Level::Ok, "overlayfs", "module, loaded on first mount")
    } else {
        check(
            Level::Missing,
            "overlayfs",
            "container root filesystems need overlayfs: CONFIG_OVERLAY_FS",
        )
    }
}

fn module(m: &Modules, name: &str, level_if_absent: Level, hint: &str) -> Check {
    if m.available(name) {
        check(Level::Ok, name, "")
    } else {
        check(level_if_absent, name, hint)
    }
}

fn misc(roots: &Roots) -> Vec<Check> {
    let status = read(&roots.proc.join("self/status")).unwrap_or_default();
    let seccomp = if status.lines().any(|l| l.starts_with("Seccomp:")) {
        check(Level::Ok, "seccomp", "")
    } else {
        check(
            Level::Warn,
            "seccomp",
            "kernel without CONFIG_SECCOMP_FILTER: RuntimeDefault seccomp profiles cannot be enforced",
        )
    };
    let loop_dev = if roots.dev.join("loop-control").exists() {
        check(Level::Ok, "loop devices", "")
    } else {
        check(
            Level::Warn,
            "loop devices",
            "optional: /dev/loop-control missing (modprobe loop)",
        )
    };
    vec![seccomp, loop_dev]
}

/// Runs every check against `roots`.
pub fn checks(roots: &Roots) -> Vec<Check> {
    let release = read(&roots.proc.join("sys/kernel/osrelease"))
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let m = Modules::new(roots, &release);
    let mut out = vec![kernel(&release)];
    out.extend(namespaces(roots));
    out.extend(cgroups(roots));
    out.push(filesystems(roots, &m));
    out.push(module(
        &m,
        "nf_tables",
        Level::Missing,
        "pod networking uses nftables: CONFIG_NF_TABLES (modprobe nf_tables)",
    ));
    out.push(module(
        &m,
        "nft_masq",
        Level::Warn,
        "masquerading pod traffic needs CONFIG_NFT_MASQ",
    ));
    out.push(module(
        &m,
        "nft_nat",
        Level::Warn,
        "hostPort and service NAT need CONFIG_NFT_NAT",
    ));
    out.push(module(
        &m,
        "veth",
        Level::Missing,
        "pods attach through veth pairs: CONFIG_VETH (modprobe veth)",
    ));
    out.push(module(
        &m,
        "bridge",
        Level::Missing,
        "the kedge0 bridge needs CONFIG_BRIDGE (modprobe bridge)",
    ));
    out.push(module(
        &m,
        "vxlan",
        Level::Warn,
        "optional: multi-node overlay networking needs CONFIG_VXLAN",
    ));
    out.extend(misc(roots));
    out
}

/// The report table: `LEVEL  name  hint`, one check per line.
pub fn render(checks: &[Check]) -> String {
    let width = checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    checks
        .iter()
        .map(|c| {
            format!("{:<8} {:<width$}  {}", c.level.as_str(), c.name, c.hint)
                .trim_end()
                .to_string()
                + "\n"
        })
        .collect()
}

/// `kedge check-config`: prints the report; `Ok(false)` when a required feature is missing.
pub fn run(roots: &Roots) -> anyhow::Result<bool> {
    let results = checks(roots);
    print!("{}", render(&results));
    Ok(!results.iter().any(|c| c.level == Level::Missing))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, content: &str) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, content).unwrap();
    }

    /// A Raspberry Pi OS-like host: cgroup v2 without the memory controller.
    fn pi_fixture(root: &Path, memory: bool) -> Roots {
        let roots = Roots {
            proc: root.join("proc"),
            sys: root.join("sys"),
            modules: root.join("lib/modules"),
            dev: root.join("dev"),
        };
        let release = "6.6.31+rpt-rpi-v8";
        write(root, "proc/sys/kernel/osrelease", &format!("{release}\n"));
        for n in ["net", "pid", "ipc", "uts", "mnt", "cgroup", "user"] {
            write(root, &format!("proc/self/ns/{n}"), "");
        }
        write(root, "proc/sys/user/max_user_namespaces", "15000\n");
        let cg = roots.sys.join("fs/cgroup");
        write(
            root,
            "proc/self/mountinfo",
            &format!("25 20 0:22 / {} rw - cgroup2 cgroup2 rw\n", cg.display()),
        );
        let ctrls = if memory {
            "cpuset cpu io memory pids"
        } else {
            "cpuset cpu io pids"
        };
        write(root, "sys/fs/cgroup/cgroup.controllers", ctrls);
        let mem_enabled = if memory { 1 } else { 0 };
        write(
            root,
            "proc/cgroups",
            &format!("#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpu\t0\t1\t1\nmemory\t0\t1\t{mem_enabled}\n"),
        );
        write(root, "proc/filesystems", "nodev\tsysfs\nnodev\toverlay\n");
        write(root, "proc/self/status", "Name:\tkedge\nSeccomp:\t0\n");
        write(
            root,
            &format!("lib/modules/{release}/modules.dep"),
            "kernel/net/netfilter/nf_tables.ko.xz:\nkernel/net/netfilter/nft_masq.ko.xz: kernel/net/netfilter/nf_tables.ko.xz\nkernel/drivers/net/veth.ko.xz:\nkernel/drivers/net/vxlan/vxlan.ko.xz:\n",
        );
        write(
            root,
            &format!("lib/modules/{release}/modules.builtin"),
            "kernel/net/bridge/bridge.ko\n",
        );
        write(root, "sys/module/nft_nat/refcnt", "0\n");
        write(root, "dev/loop-control", "");
        roots
    }

    #[test]
    fn raspberry_pi_without_memory_cgroup_gets_the_cmdline_hint() {
        let t = tempfile::tempdir().unwrap();
        let roots = pi_fixture(t.path(), false);
        let results = checks(&roots);
        let mem = results.iter().find(|c| c.name == "cgroup memory").unwrap();
        assert_eq!(mem.level, Level::Missing);
        assert!(mem.hint.contains("cgroup_memory=1 cgroup_enable=memory"));
        assert!(mem.hint.contains("/boot/firmware/cmdline.txt"));
        let table = render(&results);
        assert!(table.contains("MISSING  cgroup memory"), "{table}");
        assert!(!run(&roots).unwrap());
    }

    #[test]
    fn healthy_fixture_passes_and_reports_each_feature() {
        let t = tempfile::tempdir().unwrap();
        let roots = pi_fixture(t.path(), true);
        let results = checks(&roots);
        let bad: Vec<&Check> = results.iter().filter(|c| c.level != Level::Ok).collect();
        assert!(bad.is_empty(), "{bad:?}");
        for name in [
            "kernel",
            "namespace cgroup",
            "cgroup version",
            "overlayfs",
            "nf_tables",
            "bridge",
            "veth",
            "seccomp",
        ] {
            assert!(results.iter().any(|c| c.name == name), "{name}");
        }
        assert!(run(&roots).unwrap());
    }

    #[test]
    fn old_kernel_missing_modules_and_v1_without_pids() {
        let t = tempfile::tempdir().unwrap();
        let roots = pi_fixture(t.path(), true);
        write(t.path(), "proc/sys/kernel/osrelease", "4.19.0\n");
        let cg = roots.sys.join("fs/cgroup");
        write(
            t.path(),
            "proc/self/mountinfo",
            &format!(
                "1 0 0:1 / {0}/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n2 0 0:2 / {0}/memory rw - cgroup cgroup rw,memory\n",
                cg.display()
            ),
        );
        let by = |r: &[Check], n: &str| r.iter().find(|c| c.name == n).unwrap().level;
        let r = checks(&roots);
        assert_eq!(by(&r, "kernel"), Level::Missing);
        assert_eq!(by(&r, "cgroup pids"), Level::Missing);
        assert_eq!(by(&r, "cgroup cpuacct"), Level::Ok);
        assert_eq!(by(&r, "cgroup cpuset"), Level::Warn);
        // The module tree is per release: 4.19.0 has none, so the modules are missing.
        assert_eq!(by(&r, "veth"), Level::Missing);
        assert_eq!(by(&r, "nft_nat"), Level::Ok, "loaded per /sys/module");
        // Built in without a module tree: found by symbol.
        write(
            t.path(),
            "proc/kallsyms",
            "ffffffff81dbb6f0 t veth_xmit\n0000000000000000 T br_dev_xmit\n",
        );
        let r = checks(&roots);
        assert_eq!(by(&r, "veth"), Level::Ok);
    }

    #[test]
    fn version_parsing() {
        assert_eq!(parse_version("6.6.31+rpt-rpi-v8"), Some((6, 6)));
        assert_eq!(parse_version("5.4.0-150-generic"), Some((5, 4)));
        assert_eq!(parse_version("garbage"), None);
    }
}

#[cfg(test)]
mod host_tests {
    use super::*;

    /// The real host: the report renders and names the cgroup layout (no verdict asserted,
    /// since CI kernels differ).
    #[test]
    fn host_report_renders() {
        let r = checks(&Roots::default());
        println!("{}", render(&r));
        assert!(r.iter().any(|c| c.name == "kernel" && c.level == Level::Ok));
    }
}
