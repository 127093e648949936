//! The default seccomp profile (`RuntimeDefault`), compiled to BPF with seccompiler.
//!
//! Contract: the semantics of the moby/containerd default profile, written as a deny list:
//! every syscall is allowed except the ones that reach outside the container (kernel modules,
//! kexec, keyrings, mounts, namespaces, clock, swap, reboot, ...), which fail with `EPERM`.
//! Like moby, a syscall gated by a capability is allowed when the container holds that
//! capability ([`program_for`]); `personality` is limited to the safe personas; `clone` may
//! not create namespaces without `CAP_SYS_ADMIN`, and `clone3` (whose flags live in memory a
//! filter cannot read) fails with `ENOSYS` so libc falls back to `clone`. On x86_64 the x32
//! ABI (syscall numbers with bit 30 set) is refused, since the deny list names only native
//! numbers; a foreign architecture (i386 `int 0x80`) kills the process.

use std::collections::BTreeMap;

use nix::libc;
/// The compiled filter (a `Vec` of BPF instructions).
pub use seccompiler::BpfProgram;
use seccompiler::{
    sock_filter, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use super::caps::{normalize, DEFAULT_CAPS};
use super::SecurityError;

/// Syscalls denied unless the container holds the capability (`None` = always denied).
fn gated() -> Vec<(Option<&'static str>, &'static [libc::c_long])> {
    vec![
        (
            Some("SYS_ADMIN"),
            &[
                libc::SYS_mount,
                libc::SYS_umount2,
                libc::SYS_pivot_root,
                libc::SYS_unshare,
                libc::SYS_setns,
                libc::SYS_swapon,
                libc::SYS_swapoff,
                libc::SYS_quotactl,
                libc::SYS_quotactl_fd,
                libc::SYS_lookup_dcookie,
                libc::SYS_fanotify_init,
                libc::SYS_name_to_handle_at,
                libc::SYS_sethostname,
                libc::SYS_setdomainname,
                libc::SYS_open_tree,
                libc::SYS_move_mount,
                libc::SYS_fsopen,
                libc::SYS_fsconfig,
                libc::SYS_fsmount,
                libc::SYS_fspick,
                libc::SYS_mount_setattr,
            ],
        ),
        (
            Some("SYS_BOOT"),
            &[
                libc::SYS_reboot,
                libc::SYS_kexec_load,
                libc::SYS_kexec_file_load,
            ],
        ),
        (
            Some("SYS_MODULE"),
            &[
                libc::SYS_init_module,
                libc::SYS_finit_module,
                libc::SYS_delete_module,
            ],
        ),
        (Some("SYS_PACCT"), &[libc::SYS_acct]),
        (
            Some("SYS_PTRACE"),
            &[
                libc::SYS_kcmp,
                libc::SYS_process_vm_readv,
                libc::SYS_process_vm_writev,
                libc::SYS_pidfd_getfd,
                libc::SYS_process_madvise,
            ],
        ),
        (
            Some("SYS_TIME"),
            &[
                libc::SYS_settimeofday,
                libc::SYS_clock_settime,
                libc::SYS_clock_adjtime,
            ],
        ),
        (Some("SYS_TTY_CONFIG"), &[libc::SYS_vhangup]),
        (Some("SYS_CHROOT"), &[libc::SYS_chroot]),
        (
            Some("SYS_NICE"),
            &[
                libc::SYS_mbind,
                libc::SYS_set_mempolicy,
                libc::SYS_set_mempolicy_home_node,
                libc::SYS_migrate_pages,
                libc::SYS_move_pages,
            ],
        ),
        (Some("SYSLOG"), &[libc::SYS_syslog]),
        (Some("BPF"), &[libc::SYS_bpf]),
        (Some("PERFMON"), &[libc::SYS_perf_event_open]),
        (Some("DAC_READ_SEARCH"), &[libc::SYS_open_by_handle_at]),
        (
            None,
            &[
                libc::SYS_add_key,
                libc::SYS_keyctl,
                libc::SYS_request_key,
                libc::SYS_userfaultfd,
                libc::SYS_nfsservctl,
                libc::SYS_io_uring_setup,
                libc::SYS_io_uring_enter,
                libc::SYS_io_uring_register,
            ],
        ),
        #[cfg(target_arch = "x86_64")]
        (Some("SYS_RAWIO"), &[libc::SYS_iopl, libc::SYS_ioperm]),
        // Obsolete x86_64-only calls; create_module (174), get_kernel_syms (177) and
        // query_module (178) have no libc constant.
        #[cfg(target_arch = "x86_64")]
        (
            None,
            &[
                libc::SYS__sysctl,
                libc::SYS_uselib,
                libc::SYS_ustat,
                libc::SYS_sysfs,
                174,
                177,
                178,
            ],
        ),
    ]
}

/// Namespace flags `clone` may not carry without `CAP_SYS_ADMIN`.
const NS_FLAGS: &[libc::c_int] = &[
    libc::CLONE_NEWNS,
    libc::CLONE_NEWUTS,
    libc::CLONE_NEWIPC,
    libc::CLONE_NEWUSER,
    libc::CLONE_NEWPID,
    libc::CLONE_NEWNET,
    libc::CLONE_NEWCGROUP,
];

/// Personas moby allows: PER_LINUX, UNAME26, PER_LINUX32, PER_LINUX32|UNAME26, and the query.
const SAFE_PERSONAS: &[u64] = &[0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff];

#[cfg(target_arch = "x86_64")]
const ARCH: TargetArch = TargetArch::x86_64;
#[cfg(target_arch = "aarch64")]
const ARCH: TargetArch = TargetArch::aarch64;

/// The filter for a container holding the default capability set.
pub fn default_program() -> Result<BpfProgram, SecurityError> {
    let caps: Vec<String> = DEFAULT_CAPS.iter().map(|c| c.to_string()).collect();
    program_for(&caps)
}

fn cond(
    arg: u8,
    len: SeccompCmpArgLen,
    op: SeccompCmpOp,
    v: u64,
) -> Result<SeccompCondition, SecurityError> {
    SeccompCondition::new(arg, len, op, v).map_err(SecurityError::Compile)
}

/// The filter for a container holding `caps` (names without `CAP_`).
pub fn program_for(caps: &[String]) -> Result<BpfProgram, SecurityError> {
    let caps: Vec<String> = caps.iter().map(|c| normalize(c)).collect();
    let holds = |c: &str| caps.iter().any(|x| x == c);
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for (cap, calls) in gated() {
        if cap.is_some_and(holds) {
            continue;
        }
        for nr in calls {
            // An empty rule list matches the syscall unconditionally.
            rules.insert(*nr, Vec::new());
        }
    }
    if !holds("SYS_ADMIN") {
        let clone_rules = NS_FLAGS
            .iter()
            .map(|f| {
                let c = cond(
                    0,
                    SeccompCmpArgLen::Qword,
                    SeccompCmpOp::MaskedEq(*f as u64),
                    *f as u64,
                )?;
                SeccompRule::new(vec![c]).map_err(SecurityError::Compile)
            })
            .collect::<Result<Vec<_>, _>>()?;
        rules.insert(libc::SYS_clone, clone_rules);
    }
    // One rule whose conditions all hold when the persona is none of the safe ones.
    let persona = SAFE_PERSONAS
        .iter()
        .map(|p| cond(0, SeccompCmpArgLen::Dword, SeccompCmpOp::Ne, *p))
        .collect::<Result<Vec<_>, _>>()?;
    rules.insert(
        libc::SYS_personality,
        vec![SeccompRule::new(persona).map_err(SecurityError::Compile)?],
    );
    let deny = compile(rules, libc::EPERM)?;
    let mut prog = prefix();
    if holds("SYS_ADMIN") {
        prog.extend(deny);
    } else {
        let clone3 = compile(
            BTreeMap::from([(libc::SYS_clone3, Vec::new())]),
            libc::ENOSYS,
        )?;
        prog.extend(chain(deny, clone3));
    }
    if prog.len() > BPF_MAXINSNS {
        return Err(SecurityError::TooLong(prog.len()));
    }
    Ok(prog)
}

fn compile(
    rules: BTreeMap<i64, Vec<SeccompRule>>,
    errno: i32,
) -> Result<BpfProgram, SecurityError> {
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(errno as u32),
        ARCH,
    )
    .map_err(SecurityError::Compile)?;
    BpfProgram::try_from(filter).map_err(SecurityError::Compile)
}

/// The kernel's limit on filter length.
const BPF_MAXINSNS: usize = 4096;
const BPF_LD_W_ABS: u16 = 0x20;
const BPF_JMP_JA: u16 = 0x05;
const BPF_JMP_JEQ_K: u16 = 0x15;
const BPF_JMP_JGE_K: u16 = 0x35;
const BPF_RET_K: u16 = 0x06;
/// `offsetof(struct seccomp_data, arch)`; `nr` is at 0.
const ARCH_OFFSET: u32 = 4;

fn insn(code: u16, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

/// x86_64: refuse x32-ABI syscall numbers, which the per-number deny list would not see.
#[cfg(target_arch = "x86_64")]
fn prefix() -> BpfProgram {
    const X32_SYSCALL_BIT: u32 = 0x4000_0000;
    const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
    vec![
        insn(BPF_LD_W_ABS, ARCH_OFFSET, 0, 0),
        insn(BPF_JMP_JEQ_K, AUDIT_ARCH_X86_64, 0, 3),
        insn(BPF_LD_W_ABS, 0, 0, 0),
        insn(BPF_JMP_JGE_K, X32_SYSCALL_BIT, 0, 1),
        insn(
            BPF_RET_K,
            libc::SECCOMP_RET_ERRNO | libc::EPERM as u32,
            0,
            0,
        ),
    ]
}

#[cfg(not(target_arch = "x86_64"))]
fn prefix() -> BpfProgram {
    Vec::new()
}

/// Runs `first`; wherever it would allow, continues with `then` (so the strictest verdict of
/// the two wins). seccompiler gives one match action per filter; this composes two. Replacing
/// each `RET ALLOW` of `first` with a forward jump keeps every offset inside `first` valid.
fn chain(mut first: BpfProgram, then: BpfProgram) -> BpfProgram {
    let len = first.len();
    for (i, ins) in first.iter_mut().enumerate() {
        if ins.code == BPF_RET_K && ins.k == libc::SECCOMP_RET_ALLOW {
            *ins = insn(BPF_JMP_JA, (len - i - 1) as u32, 0, 0);
        }
    }
    first.extend(then);
    first
}

/// Installs `prog` on the calling thread (inherited by its children and across exec). Without
/// `CAP_SYS_ADMIN` the kernel requires `no_new_privs`, which is then set first.
pub fn apply(prog: &BpfProgram) -> Result<(), SecurityError> {
    match install(prog) {
        Err(e) if e.raw_os_error() == Some(libc::EACCES) => {
            nix::sys::prctl::set_no_new_privs().map_err(|e| SecurityError::NoNewPrivs(e.into()))?;
            install(prog).map_err(SecurityError::Install)
        }
        other => other.map_err(SecurityError::Install),
    }
}

fn install(prog: &BpfProgram) -> std::io::Result<()> {
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        // seccompiler's sock_filter is #[repr(C)] with the layout of the kernel's.
        filter: prog.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: the kernel copies the program from `fprog`, which points at `prog`'s live buffer
    // of `len` instructions, during the call; nothing is retained afterwards.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0 as libc::c_ulong,
            &fprog as *const libc::sock_fprog,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHILD_ENV: &str = "KEDGE_TEST_SECCOMP_CHILD";

    #[test]
    fn programs_compile_and_chain() {
        let p = default_program().unwrap();
        assert!(p.len() < 4096);
        // No allow verdict of the first filter is left unchained; its jumps land on the second.
        let first = compile(BTreeMap::from([(libc::SYS_mount, Vec::new())]), libc::EPERM).unwrap();
        let second = compile(
            BTreeMap::from([(libc::SYS_clone3, Vec::new())]),
            libc::ENOSYS,
        )
        .unwrap();
        let n = first.len();
        let allows: Vec<usize> = (0..n)
            .filter(|i| first[*i].code == BPF_RET_K && first[*i].k == libc::SECCOMP_RET_ALLOW)
            .collect();
        assert!(!allows.is_empty());
        let chained = chain(first, second);
        for i in allows {
            assert_eq!(chained[i].code, BPF_JMP_JA);
            assert_eq!(i + 1 + chained[i].k as usize, n);
        }
        assert!(!chained[..n]
            .iter()
            .any(|ins| ins.code == BPF_RET_K && ins.k == libc::SECCOMP_RET_ALLOW));
        let admin = program_for(&["SYS_ADMIN".to_string()]).unwrap();
        assert!(admin.len() < p.len());
    }

    fn errno_of(rc: libc::c_long) -> i32 {
        if rc == -1 {
            std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
        } else {
            0
        }
    }

    /// Runs in a re-executed test binary: installs the filter and reports through the exit
    /// code which check failed (0 = all passed).
    fn child_checks() -> i32 {
        let prog = default_program().unwrap();
        if apply(&prog).is_err() {
            return 10;
        }
        // SAFETY: unshare takes an integer flag set; on success the child would only gain a
        // private mount namespace, which dies with it.
        if errno_of(unsafe { libc::syscall(libc::SYS_unshare, libc::CLONE_NEWNS) }) != libc::EPERM {
            return 11;
        }
        let target = c"/";
        let fstype = c"tmpfs";
        // SAFETY: valid NUL-terminated strings and a null data pointer; the filter refuses
        // the call before the kernel would mount anything.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_mount,
                fstype.as_ptr(),
                target.as_ptr(),
                fstype.as_ptr(),
                0,
                std::ptr::null::<u8>(),
            )
        };
        if errno_of(rc) != libc::EPERM {
            return 12;
        }
        // SAFETY: clone3 with a null argument; the filter answers before the kernel reads it.
        if errno_of(unsafe { libc::syscall(libc::SYS_clone3, std::ptr::null::<u8>(), 0) })
            != libc::ENOSYS
        {
            return 13;
        }
        // SAFETY: personality with an unsafe persona (ADDR_NO_RANDOMIZE) must be refused.
        if errno_of(unsafe { libc::syscall(libc::SYS_personality, 0x0040000) }) != libc::EPERM {
            return 14;
        }
        if std::process::id() == 0 {
            return 15;
        }
        // Threads still start: libc falls back from clone3 to plain clone.
        if std::thread::spawn(|| 7).join().ok() != Some(7) {
            return 16;
        }
        0
    }

    #[test]
    fn default_profile_denies_mount_and_unshare_in_child() {
        super::super::in_child(
            "runtime::security::seccomp::tests::default_profile_denies_mount_and_unshare_in_child",
            CHILD_ENV,
            child_checks,
        );
    }

    /// Without CAP_SYS_ADMIN the kernel only accepts a filter under no_new_privs: `apply`
    /// sets it and the filter still works.
    fn child_without_sys_admin() -> i32 {
        if ::caps::drop(
            None,
            ::caps::CapSet::Effective,
            ::caps::Capability::CAP_SYS_ADMIN,
        )
        .is_err()
        {
            return 20;
        }
        if apply(&default_program().unwrap()).is_err() {
            return 21;
        }
        let status = std::fs::read_to_string("/proc/thread-self/status").unwrap_or_default();
        if !status
            .lines()
            .any(|l| l.starts_with("NoNewPrivs:") && l.ends_with('1'))
        {
            return 22;
        }
        // SAFETY: as in child_checks; refused by the filter.
        if errno_of(unsafe { libc::syscall(libc::SYS_unshare, libc::CLONE_NEWNS) }) != libc::EPERM {
            return 23;
        }
        0
    }

    #[test]
    fn apply_without_sys_admin_sets_no_new_privs_in_child() {
        super::super::in_child(
            "runtime::security::seccomp::tests::apply_without_sys_admin_sets_no_new_privs_in_child",
            "KEDGE_TEST_SECCOMP_NNP_CHILD",
            child_without_sys_admin,
        );
    }
}
