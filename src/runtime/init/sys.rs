//! The few raw system calls of container start-up, behind typed wrappers so the sequence in
//! `child.rs`/`rootfs.rs` reads as a list of steps. Every wrapper returns a [`SysError`] that
//! names the operation and the path, because those strings end up verbatim in the start error
//! the kubelet shows (`mount proc on /proc: operation not permitted`).

use std::ffi::CString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::libc;
use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;

/// A failed system call: what was attempted and the errno.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {}", errno_text(*.errno))]
pub struct SysError {
    pub what: String,
    pub errno: Errno,
}

/// `ENOENT` as "no such file or directory", like Go's `syscall.Errno.Error()` which the
/// Kubernetes messages users know are made of.
pub fn errno_text(e: Errno) -> String {
    let s = e.desc();
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

pub type SysResult<T> = Result<T, SysError>;

fn err(what: impl Into<String>) -> impl FnOnce(Errno) -> SysError {
    let what = what.into();
    move |errno| SysError { what, errno }
}

pub fn from_io(what: impl Into<String>, e: std::io::Error) -> SysError {
    SysError {
        what: what.into(),
        errno: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
    }
}

/// `mount(2)` with an optional source, fstype and data string.
pub fn mount(
    source: Option<&str>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> SysResult<()> {
    nix::mount::mount(source, target, fstype, flags, data).map_err(err(format!(
        "mount {} on {}",
        fstype.or(source).unwrap_or("(none)"),
        target.display()
    )))
}

/// Bind `source` onto `target` (recursively), optionally read-only. A read-only bind needs a
/// second `MS_REMOUNT` call because the kernel ignores `MS_RDONLY` on the first one; the flags
/// the source mount already carries (nosuid, nodev, noexec) must be repeated or the remount is
/// refused when they are locked.
pub fn bind(source: &Path, target: &Path, readonly: bool) -> SysResult<()> {
    nix::mount::mount(
        Some(source),
        target,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(err(format!(
        "bind mount {} on {}",
        source.display(),
        target.display()
    )))?;
    if readonly {
        remount_readonly(target)?;
    }
    Ok(())
}

/// Make an existing mount point read-only, keeping its other per-mount flags.
pub fn remount_readonly(target: &Path) -> SysResult<()> {
    let mut flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
    if let Ok(st) = nix::sys::statvfs::statvfs(target) {
        use nix::sys::statvfs::FsFlags;
        let f = st.flags();
        for (fs, ms) in [
            (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
            (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
            (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
            (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
            (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
            (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
        ] {
            if f.contains(fs) {
                flags |= ms;
            }
        }
    }
    nix::mount::mount(None::<&str>, target, None::<&str>, flags, None::<&str>)
        .map_err(err(format!("remount {} read-only", target.display())))
}

/// Change the propagation of every mount below `target` (`MS_SLAVE`/`MS_PRIVATE` with
/// `MS_REC`).
pub fn set_propagation(target: &Path, flags: MsFlags) -> SysResult<()> {
    nix::mount::mount(None::<&str>, target, None::<&str>, flags, None::<&str>)
        .map_err(err(format!("set propagation of {}", target.display())))
}

/// Make the current directory the root with the `pivot_root(".", ".")` idiom: the old root
/// ends up stacked under the new one and is detached right away, so no directory for it has
/// to exist in the image.
pub fn pivot_to_cwd() -> SysResult<()> {
    nix::unistd::pivot_root(".", ".").map_err(err("pivot_root"))?;
    // The old root is still a slave of the host's mounts; make sure the detach below cannot
    // propagate anywhere.
    set_propagation(Path::new("."), MsFlags::MS_SLAVE | MsFlags::MS_REC)?;
    nix::mount::umount2(".", MntFlags::MNT_DETACH).map_err(err("unmount old root"))?;
    chdir(Path::new("/"))
}

pub fn chdir(path: &Path) -> SysResult<()> {
    nix::unistd::chdir(path).map_err(err(format!("chdir {}", path.display())))
}

/// Join the namespace behind `path` (a `/proc/<pid>/ns/*` file or a bind mount of one).
pub fn setns_path(path: &Path, kind: CloneFlags) -> SysResult<()> {
    let f =
        std::fs::File::open(path).map_err(|e| from_io(format!("open {}", path.display()), e))?;
    setns_fd(f.as_fd(), kind, path)
}

pub fn setns_fd(fd: BorrowedFd<'_>, kind: CloneFlags, path: &Path) -> SysResult<()> {
    nix::sched::setns(fd, kind).map_err(err(format!("setns {}", path.display())))
}

pub fn unshare(flags: CloneFlags) -> SysResult<()> {
    nix::sched::unshare(flags).map_err(err("unshare"))
}

/// The argument block of `clone3(2)` (linux/sched.h, version 0 layout plus set_tid/cgroup).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
}

/// Result of [`clone_process`] in the two processes.
pub enum Forked {
    Parent(i32),
    Child,
}

/// A fork that also creates the namespaces in `flags` (`CLONE_NEWNS`, `CLONE_NEWPID`, ...).
/// Uses `clone3`, falling back to the legacy `clone` with the fork-like argument convention
/// (no new stack), for kernels before 5.3.
///
/// The caller must be single-threaded: the child continues with a copy of the whole address
/// space, including any lock another thread might have held.
pub fn clone_process(flags: CloneFlags) -> SysResult<Forked> {
    let args = CloneArgs {
        flags: flags.bits() as u64,
        exit_signal: libc::SIGCHLD as u64,
        ..Default::default()
    };
    // SAFETY: clone3 with no stack behaves like fork(2): the child gets a copy of the address
    // space and returns here with 0. `args` outlives the call and its size is passed along.
    let mut ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if ret < 0 && Errno::last() == Errno::ENOSYS {
        // SAFETY: the legacy clone with a null stack is fork(2) plus namespace flags; all
        // pointer arguments are null.
        ret = unsafe {
            libc::syscall(
                libc::SYS_clone,
                (flags.bits() | libc::SIGCHLD) as libc::c_ulong,
                0usize,
                0usize,
                0usize,
                0usize,
            )
        };
    }
    match ret {
        r if r < 0 => Err(SysError {
            what: "clone".into(),
            errno: Errno::last(),
        }),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid as i32)),
    }
}

/// Plain `fork(2)`, under the same single-thread rule as [`clone_process`].
pub fn fork() -> SysResult<Forked> {
    clone_process(CloneFlags::empty())
}

/// Write a small file in one `write` call: kernel interfaces (cgroup.procs, /proc/sys) act on
/// each write.
pub fn write_file(path: &Path, data: &str) -> SysResult<()> {
    std::fs::write(path, data).map_err(|e| from_io(format!("write {}", path.display()), e))
}

/// A character device node.
pub fn mknod_char(path: &Path, major: u64, minor: u64, mode: u32) -> SysResult<()> {
    use nix::sys::stat::{makedev, Mode, SFlag};
    nix::sys::stat::mknod(
        path,
        SFlag::S_IFCHR,
        Mode::from_bits_truncate(mode),
        makedev(major, minor),
    )
    .map_err(err(format!("mknod {}", path.display())))?;
    // mknod applies the umask; device nodes must have exactly `mode`.
    chmod(path, mode)
}

pub fn chmod(path: &Path, mode: u32) -> SysResult<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| from_io(format!("chmod {}", path.display()), e))
}

/// Put `fd` on stdin/stdout/stderr (0, 1, 2).
pub fn install_stdio(stdin: &OwnedFd, stdout: &OwnedFd, stderr: &OwnedFd) -> SysResult<()> {
    // Move the three out of the way first: one of them may itself be 0, 1 or 2 and be
    // overwritten by an earlier dup2.
    let high = |fd: &OwnedFd| -> SysResult<OwnedFd> {
        nix::fcntl::fcntl(fd.as_fd(), nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(10))
            .map(|raw| {
                // SAFETY: F_DUPFD_CLOEXEC returned a new descriptor that nothing else owns.
                unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) }
            })
            .map_err(err("dup stdio"))
    };
    let (i, o, e) = (high(stdin)?, high(stdout)?, high(stderr)?);
    nix::unistd::dup2_stdin(&i).map_err(err("dup2 stdin"))?;
    nix::unistd::dup2_stdout(&o).map_err(err("dup2 stdout"))?;
    nix::unistd::dup2_stderr(&e).map_err(err("dup2 stderr"))?;
    Ok(())
}

/// New session; with `tty`, make stdin (a pty slave) the controlling terminal.
pub fn new_session(tty: bool) -> SysResult<()> {
    nix::unistd::setsid().map_err(err("setsid"))?;
    if tty {
        // SAFETY: TIOCSCTTY takes an integer argument (0 = do not steal); fd 0 is open.
        let r = unsafe { libc::ioctl(0, libc::TIOCSCTTY as _, 0) };
        if r < 0 {
            return Err(SysError {
                what: "set controlling terminal".into(),
                errno: Errno::last(),
            });
        }
    }
    Ok(())
}

/// Mark every descriptor from 3 up close-on-exec so nothing of the supervisor leaks into
/// the container, while those still needed until the exec (error pipe, namespace files) stay
/// usable.
pub fn cloexec_from_3() {
    // SAFETY: close_range only changes descriptor flags; failure (old kernel) is tolerated
    // because the supervisor opens its descriptors with O_CLOEXEC anyway.
    unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        );
    }
}

/// Default dispositions and an empty signal mask: exec keeps ignored signals ignored and the
/// mask as is, and the supervisor (a Rust program) ignores SIGPIPE and may block SIGCHLD.
pub fn reset_signals() {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let dfl = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    for sig in Signal::iterator() {
        if sig == Signal::SIGKILL || sig == Signal::SIGSTOP {
            continue;
        }
        // SAFETY: installing SIG_DFL never runs code; errors for odd signals are irrelevant.
        let _ = unsafe { sigaction(sig, &dfl) };
    }
    let _ = nix::sys::signal::sigprocmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&SigSet::empty()),
        None,
    );
}

pub fn sethostname(name: &str) -> SysResult<()> {
    nix::unistd::sethostname(name).map_err(err("sethostname"))
}

/// `execve(2)`; only returns on failure.
pub fn execve(path: &Path, args: &[String], env: &[String]) -> Errno {
    let cstr = |s: &[u8]| CString::new(s.to_vec()).unwrap_or_default();
    let path = cstr(path.as_os_str().as_bytes());
    let args: Vec<CString> = args.iter().map(|a| cstr(a.as_bytes())).collect();
    let env: Vec<CString> = env.iter().map(|a| cstr(a.as_bytes())).collect();
    match nix::unistd::execve(&path, &args, &env) {
        Err(e) => e,
        Ok(never) => match never {},
    }
}

/// Exit without running destructors or atexit handlers of the copied supervisor.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and touches no Rust state.
    unsafe { libc::_exit(code) }
}

/// Wait for `pid` and translate its status into a shell-style exit code (128+signal).
pub fn wait_exit_code(pid: i32) -> i32 {
    use nix::sys::wait::{waitpid, WaitStatus};
    loop {
        match waitpid(nix::unistd::Pid::from_raw(pid), None) {
            Ok(WaitStatus::Exited(_, code)) => return code,
            Ok(WaitStatus::Signaled(_, sig, _)) => return 128 + sig as i32,
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(_) => return 255,
        }
    }
}
