//! Shared helpers of the root tests: every test runs on a thread moved into a fresh network
//! namespace so the host's root namespace is never touched.

#![allow(dead_code)]

use nix::sched::{unshare, CloneFlags};

/// Runs `f` on a new thread inside a new network namespace; `None` (after printing SKIPPED)
/// when that is impossible here and CI is not set.
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

pub fn skip(what: &str, why: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("{what}: {why} (CI is set, so this must run)");
    }
    println!("SKIPPED: {what}: {why}");
}
