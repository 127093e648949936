//! Helpers for tests that touch networking, shared by this crate's tests and the tests of
//! crates built on it (the agent's proxy and NetworkPolicy kernel tests).
//!
//! Contract: [`in_fresh_netns`] runs a closure on a new thread inside a new network namespace,
//! so the host's root namespace is never touched; without root (or without namespaces) it
//! prints `SKIPPED: <why>` and returns `None`, unless the `CI` environment variable is set,
//! where it panics instead: on CI these tests must run. [`assert_proc_sys_is_ours`] refuses to
//! go on unless `/proc/sys/net` shows such a fresh namespace (code under test writes sysctls
//! there). [`Pins`] creates pinned namespaces for a test and removes them when dropped,
//! also when the test fails.

use std::path::{Path, PathBuf};

use nix::sched::{unshare, CloneFlags};

use crate::netns;

/// Say why a test cannot run here; on CI that is a failure.
pub fn skip(what: &str, why: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("{what}: {why} (CI is set, so this must run)");
    }
    println!("SKIPPED: {what}: {why}");
}

/// Runs `f` on a new thread inside a new network namespace; `None` (after [`skip`]) when that
/// is impossible here.
pub fn in_fresh_netns<T: Send>(what: &str, f: impl FnOnce() -> T + Send) -> Option<T> {
    if !nix::unistd::geteuid().is_root() {
        skip(what, "needs root");
        return None;
    }
    std::thread::scope(|s| {
        s.spawn(|| match unshare(CloneFlags::CLONE_NEWNET) {
            Ok(()) => Some(f()),
            Err(e) => {
                skip(what, &format!("unshare(CLONE_NEWNET): {e}"));
                None
            }
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

/// Panics unless `/proc/sys/net` belongs to a fresh namespace (no interfaces but `lo`).
pub fn assert_proc_sys_is_ours() {
    let names: Vec<String> = std::fs::read_dir("/proc/sys/net/ipv4/conf")
        .expect("reading /proc/sys/net/ipv4/conf")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| ["all", "default", "lo"].contains(&n.as_str())),
        "/proc/sys/net is not the test namespace's: {names:?}"
    );
}

/// Network namespaces pinned under a test's directory, removed on drop.
#[derive(Debug, Default)]
pub struct Pins(Vec<PathBuf>);

impl Pins {
    /// Create (idempotently) the namespace `dir/name` and return its path.
    pub fn pin(&mut self, dir: &Path, name: &str) -> PathBuf {
        let p = dir.join(name);
        netns::create(&p).expect("create a test network namespace");
        if !self.0.contains(&p) {
            self.0.push(p.clone());
        }
        p
    }
}

impl Drop for Pins {
    fn drop(&mut self) {
        for p in self.0.iter().rev() {
            let _ = netns::remove(p);
        }
    }
}
