//! Linux capabilities of a container process.
//!
//! Contract: [`effective_set`] computes the final set from the pod spec the way containerd's
//! CRI does (default set; `ALL` in add, then `ALL` in drop, then the individual adds, then the
//! individual drops; privileged = every capability). Names are Kubernetes-style, without
//! `CAP_`, upper case. Applying happens in two steps around the uid change (see the module
//! order in [`super`]): [`apply_before_setuid`] then [`apply_after_setuid`].
//!
//! Ambient capabilities: containerd leaves the ambient set empty, so a non-root Kubernetes
//! container loses its capabilities at `execve` (unless the binary has file capabilities).
//! `apply_after_setuid(.., ambient = false)` matches that; `ambient = true` raises the set into
//! the ambient set so that a non-root process keeps it across exec.

use std::collections::HashSet;
use std::str::FromStr;

use caps::{CapSet, Capability, CapsHashSet};

use super::SecurityError;

/// containerd's default capability set for unprivileged containers.
pub const DEFAULT_CAPS: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "FSETID",
    "FOWNER",
    "MKNOD",
    "NET_RAW",
    "SETGID",
    "SETUID",
    "SETFCAP",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "KILL",
    "AUDIT_WRITE",
];

/// Every capability name this build knows, sorted.
pub fn all_names() -> Vec<String> {
    let mut v: Vec<String> = caps::all().iter().map(short_name).collect();
    v.sort();
    v
}

fn short_name(c: &Capability) -> String {
    c.to_string().trim_start_matches("CAP_").to_string()
}

/// `net_admin`, `CAP_NET_ADMIN` and `NET_ADMIN` are the same capability.
pub(crate) fn normalize(name: &str) -> String {
    let up = name.trim().to_ascii_uppercase();
    up.strip_prefix("CAP_").map(str::to_string).unwrap_or(up)
}

/// The capability set of a container (sorted names without `CAP_`). Unknown names are ignored
/// (the API server validates nothing here either; runc would reject them at start).
pub fn effective_set(add: &[String], drop: &[String], privileged: bool) -> Vec<String> {
    let all = all_names();
    if privileged {
        return all;
    }
    let add: Vec<String> = add.iter().map(|s| normalize(s)).collect();
    let drop: Vec<String> = drop.iter().map(|s| normalize(s)).collect();
    let mut set: HashSet<String> = DEFAULT_CAPS.iter().map(|s| s.to_string()).collect();
    if add.iter().any(|c| c == "ALL") {
        set.extend(all.iter().cloned());
    }
    if drop.iter().any(|c| c == "ALL") {
        set.clear();
    }
    set.extend(add.into_iter().filter(|c| all.contains(c)));
    for c in &drop {
        set.remove(c);
    }
    let mut v: Vec<String> = set.into_iter().collect();
    v.sort();
    v
}

/// Parses names into a capability set.
pub fn to_set(names: &[String]) -> Result<CapsHashSet, SecurityError> {
    names
        .iter()
        .map(|n| {
            Capability::from_str(&format!("CAP_{}", normalize(n)))
                .map_err(|_| SecurityError::UnknownCapability(n.clone()))
        })
        .collect()
}

fn caps_err(op: &str) -> impl FnOnce(caps::errors::CapsError) -> SecurityError + '_ {
    move |source| SecurityError::Caps {
        op: op.to_string(),
        source,
    }
}

/// Step 1, as root with full capabilities: drops everything not in `names` from the bounding
/// set (needs `CAP_SETPCAP` in the effective set) and sets KEEPCAPS so the permitted set
/// survives the following `setuid` away from 0.
pub fn apply_before_setuid(names: &[String]) -> Result<(), SecurityError> {
    let keep = to_set(names)?;
    let bounding = caps::read(None, CapSet::Bounding).map_err(caps_err("read bounding set"))?;
    for cap in bounding.difference(&keep) {
        caps::drop(None, CapSet::Bounding, *cap).map_err(caps_err("drop from bounding set"))?;
    }
    caps::securebits::set_keepcaps(true).map_err(caps_err("set keepcaps"))
}

/// Step 2, after `setgroups`/`setresgid`/`setresuid`: sets effective, permitted and
/// inheritable to `names` (in that order: effective must stay within permitted; names the
/// process does not hold are skipped), clears
/// KEEPCAPS, and with `ambient` raises each into the ambient set.
pub fn apply_after_setuid(names: &[String], ambient: bool) -> Result<(), SecurityError> {
    // Capabilities newer than the running kernel (a privileged container asks for every
    // name this build knows) cannot be in the permitted set: leave them out instead of
    // failing the capset.
    let permitted = caps::read(None, CapSet::Permitted).map_err(caps_err("read permitted"))?;
    let set: CapsHashSet = to_set(names)?.intersection(&permitted).copied().collect();
    caps::set(None, CapSet::Effective, &set).map_err(caps_err("set effective"))?;
    caps::set(None, CapSet::Permitted, &set).map_err(caps_err("set permitted"))?;
    caps::set(None, CapSet::Inheritable, &set).map_err(caps_err("set inheritable"))?;
    caps::securebits::set_keepcaps(false).map_err(caps_err("clear keepcaps"))?;
    caps::clear(None, CapSet::Ambient).map_err(caps_err("clear ambient"))?;
    if ambient {
        for cap in &set {
            caps::raise(None, CapSet::Ambient, *cap).map_err(caps_err("raise ambient"))?;
        }
    }
    Ok(())
}

/// Both steps for a process that does not change its uid (ambient set left empty).
pub fn apply_to_current(names: &[String]) -> Result<(), SecurityError> {
    apply_before_setuid(names)?;
    apply_after_setuid(names, false)
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    const CHILD_ENV: &str = "KEDGE_TEST_CAPS_CHILD";

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn set_arithmetic_follows_containerd() {
        let mut def = s(DEFAULT_CAPS);
        def.sort();
        assert_eq!(effective_set(&[], &[], false), def);
        let r = effective_set(
            &s(&["NET_ADMIN", "cap_sys_time"]),
            &s(&["MKNOD", "NET_RAW"]),
            false,
        );
        assert!(r.contains(&"NET_ADMIN".to_string()) && r.contains(&"SYS_TIME".to_string()));
        assert!(!r.contains(&"MKNOD".to_string()) && !r.contains(&"NET_RAW".to_string()));
        assert_eq!(r.len(), DEFAULT_CAPS.len());
        // drop ALL then add individual: only the added remain.
        assert_eq!(
            effective_set(&s(&["NET_BIND_SERVICE"]), &s(&["ALL"]), false),
            s(&["NET_BIND_SERVICE"])
        );
        // add ALL minus one.
        let all_but = effective_set(&s(&["ALL"]), &s(&["SYS_ADMIN"]), false);
        assert_eq!(all_but.len(), all_names().len() - 1);
        assert!(!all_but.contains(&"SYS_ADMIN".to_string()));
        assert_eq!(effective_set(&[], &s(&["ALL"]), true), all_names());
        assert!(effective_set(&s(&["BOGUS"]), &[], false).len() == DEFAULT_CAPS.len());
        assert!(matches!(
            to_set(&s(&["BOGUS"])),
            Err(SecurityError::UnknownCapability(_))
        ));
    }

    fn status_field(status: &str, key: &str) -> u64 {
        let line = status.lines().find(|l| l.starts_with(key)).unwrap();
        u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
    }

    /// In a re-executed test binary: drop to {CHOWN, KILL}, switch to uid 1000 with ambient
    /// caps, exec `cat /proc/self/status`, and compare the sets.
    fn child_checks() -> i32 {
        let names = s(&["CHOWN", "KILL"]);
        let want = (1u64 << 0) | (1u64 << 5);
        if apply_before_setuid(&names).is_err() {
            return 10;
        }
        let id = nix::unistd::Uid::from_raw(1000);
        let gid = nix::unistd::Gid::from_raw(1000);
        if nix::unistd::setresgid(gid, gid, gid).is_err()
            || nix::unistd::setresuid(id, id, id).is_err()
        {
            return 11;
        }
        if apply_after_setuid(&names, true).is_err() {
            return 12;
        }
        let me = std::fs::read_to_string("/proc/thread-self/status").unwrap();
        if status_field(&me, "CapEff:") != want || status_field(&me, "CapBnd:") != want {
            return 13;
        }
        let out = match Command::new("cat").arg("/proc/self/status").output() {
            Ok(o) => String::from_utf8_lossy(&o.stdout).into_owned(),
            Err(_) => return 14,
        };
        if status_field(&out, "CapEff:") != want || status_field(&out, "CapAmb:") != want {
            return 15;
        }
        let uid_line = out.lines().find(|l| l.starts_with("Uid:")).unwrap_or("");
        if uid_line.split_whitespace().nth(1) != Some("1000") {
            return 16;
        }
        0
    }

    #[test]
    fn dropped_caps_survive_uid_change_and_exec_in_child() {
        if !nix::unistd::geteuid().is_root() {
            assert!(
                std::env::var_os("CI").is_none(),
                "caps test needs root in CI"
            );
            println!("SKIPPED: caps test: not root");
            return;
        }
        super::super::in_child(
            "runtime::security::caps::tests::dropped_caps_survive_uid_change_and_exec_in_child",
            CHILD_ENV,
            child_checks,
        );
    }
}
