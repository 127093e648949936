//! Process hardening applied by a container's init just before it execs the workload: the
//! capability sets ([`caps`]) and the default seccomp filter ([`seccomp`]).
//!
//! Order the init must follow (runc's, adapted to our deny-list filter):
//! 1. as root, before changing ids: [`caps::apply_before_setuid`] (bounding set, KEEPCAPS);
//! 2. still holding `CAP_SYS_ADMIN`, when `no_new_privileges` is false: [`seccomp::apply`]
//!    (installing without `no_new_privs` needs that capability; every syscall the remaining
//!    steps make is allowed by the filter);
//! 3. `setgroups`, `setresgid`, `setresuid`;
//! 4. [`caps::apply_after_setuid`] (permitted/effective/inheritable, optional ambient);
//! 5. when `no_new_privileges` is true: [`seccomp::apply`] here (it sets `no_new_privs`);
//! 6. `execve`.
//!
//! Everything here acts on the calling thread only: the init must be single-threaded.

pub mod caps;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub mod seccomp;
/// seccompiler targets x86_64, aarch64 and riscv64 only; elsewhere (32-bit Raspberry Pi OS)
/// `RuntimeDefault` reports itself unsupported instead of breaking the build.
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
#[path = "seccomp_unsupported.rs"]
pub mod seccomp;

#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    #[error("compile seccomp filter")]
    Compile(#[source] seccompiler::BackendError),
    #[error("seccomp filter has {0} instructions, more than the kernel accepts")]
    TooLong(usize),
    #[error("install seccomp filter")]
    Install(#[source] std::io::Error),
    #[error("seccomp filters are not supported on {0}")]
    Unsupported(&'static str),
    #[error("set no_new_privs")]
    NoNewPrivs(#[source] std::io::Error),
    #[error("unknown capability {0:?}")]
    UnknownCapability(String),
    #[error("{op}")]
    Caps {
        op: String,
        #[source]
        source: ::caps::errors::CapsError,
    },
}

/// Runs `checks` in a fresh process: the test re-executes the test binary for exactly itself
/// with `env` set, and the child runs `checks` and exits with its code (0 = passed). Filters
/// and capability changes then never leak into the test harness.
#[cfg(test)]
pub(crate) fn in_child(test: &str, env: &str, checks: fn() -> i32) {
    if std::env::var_os(env).is_some() {
        std::process::exit(checks());
    }
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--test-threads=1", "--nocapture"])
        .env(env, "1")
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0), "child check failed: {status:?}");
}
