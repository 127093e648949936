//! Syscall wrappers for the store and the unpacker.
//!
//! Every filesystem operation of the unpacker is relative to a directory fd and never follows a
//! symlink in its last component; parents are opened with `openat2(RESOLVE_BENEATH)` so the
//! kernel, not string checks, guarantees nothing is written outside a layer directory.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};

use rustix::fs::{
    self as rfs, AtFlags, Dev, FileType, FlockOperation, Mode, OFlags, ResolveFlags, Timespec,
    Timestamps, XattrFlags,
};
use rustix::io::Errno;
use rustix::process::{Gid, Uid};

/// What kind of special file to create with [`mknod_at`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NodeKind {
    Char,
    Block,
    Fifo,
}

pub(crate) fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

pub(crate) fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    Ok(rfs::open(
        path,
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// Opens the directory `rel` beneath `root`. Relative symlinks are followed while they stay
/// beneath `root`; an absolute symlink or a `..` escape fails with `EXDEV`. On kernels without
/// `openat2` (< 5.6) every symlink in `rel` is refused (`ELOOP`/`ENOTDIR`).
pub(crate) fn open_dir_beneath(root: BorrowedFd<'_>, rel: &Path) -> io::Result<OwnedFd> {
    let flags = OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC;
    if rel.as_os_str().is_empty() {
        return Ok(rfs::openat(root, ".", flags, Mode::empty())?);
    }
    let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS | ResolveFlags::NO_XDEV;
    match rfs::openat2(root, rel, flags, Mode::empty(), resolve) {
        Err(Errno::NOSYS) => {}
        other => return Ok(other?),
    }
    let mut cur = rfs::openat(root, ".", flags, Mode::empty())?;
    for c in rel.components() {
        let Component::Normal(name) = c else {
            return Err(Errno::XDEV.into());
        };
        cur = rfs::openat(&cur, name, flags | OFlags::NOFOLLOW, Mode::empty())?;
    }
    Ok(cur)
}

/// Opens the directory `name` in `dir` without following a symlink.
pub(crate) fn open_subdir(dir: BorrowedFd<'_>, name: &Path) -> io::Result<OwnedFd> {
    Ok(rfs::openat(
        dir,
        name,
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::empty(),
    )?)
}

/// The type of `name` in `dir` (not following symlinks), `None` if it does not exist.
pub(crate) fn kind_at(dir: BorrowedFd<'_>, name: &Path) -> io::Result<Option<FileType>> {
    match rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(FileType::from_raw_mode(st.st_mode))),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub(crate) fn mkdir_at(dir: BorrowedFd<'_>, name: &Path, mode: u32) -> io::Result<()> {
    Ok(rfs::mkdirat(dir, name, Mode::from_raw_mode(mode))?)
}

/// Creates a new regular file (never an existing one, never through a symlink).
pub(crate) fn create_file_at(dir: BorrowedFd<'_>, name: &Path) -> io::Result<File> {
    let fd = rfs::openat(
        dir,
        name,
        OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )?;
    Ok(File::from(fd))
}

pub(crate) fn symlink_at(target: &Path, dir: BorrowedFd<'_>, name: &Path) -> io::Result<()> {
    Ok(rfs::symlinkat(target, dir, name)?)
}

/// Hard-links `old_name` in `old_dir` (a symlink itself, if it is one) to `new_name`.
pub(crate) fn hardlink_at(
    old_dir: BorrowedFd<'_>,
    old_name: &Path,
    new_dir: BorrowedFd<'_>,
    new_name: &Path,
) -> io::Result<()> {
    Ok(rfs::linkat(
        old_dir,
        old_name,
        new_dir,
        new_name,
        AtFlags::empty(),
    )?)
}

pub(crate) fn mknod_at(
    dir: BorrowedFd<'_>,
    name: &Path,
    kind: NodeKind,
    major: u32,
    minor: u32,
) -> io::Result<()> {
    let ft = match kind {
        NodeKind::Char => FileType::CharacterDevice,
        NodeKind::Block => FileType::BlockDevice,
        NodeKind::Fifo => FileType::Fifo,
    };
    let dev: Dev = rfs::makedev(major, minor);
    Ok(rfs::mknodat(
        dir,
        name,
        ft,
        Mode::from_raw_mode(0o600),
        dev,
    )?)
}

/// An overlayfs whiteout: a character device 0:0.
pub(crate) fn whiteout_at(dir: BorrowedFd<'_>, name: &Path) -> io::Result<()> {
    Ok(rfs::mknodat(
        dir,
        name,
        FileType::CharacterDevice,
        Mode::empty(),
        rfs::makedev(0, 0),
    )?)
}

/// Marks a directory opaque for overlayfs (hides the lower layers' content).
pub(crate) fn set_opaque(dir: BorrowedFd<'_>) -> io::Result<()> {
    set_xattr_fd(dir, "trusted.overlay.opaque", b"y")
}

pub(crate) fn set_xattr_fd(fd: BorrowedFd<'_>, name: &str, value: &[u8]) -> io::Result<()> {
    Ok(rfs::fsetxattr(fd, name, value, XattrFlags::empty())?)
}

pub(crate) fn unlink_at(dir: BorrowedFd<'_>, name: &Path) -> io::Result<()> {
    Ok(rfs::unlinkat(dir, name, AtFlags::empty())?)
}

/// Removes the directory `name` in `dir` with everything below it, never following symlinks.
pub(crate) fn remove_tree_at(dir: BorrowedFd<'_>, name: &Path) -> io::Result<()> {
    let sub = open_subdir(dir, name)?;
    let mut names = Vec::new();
    for entry in rfs::Dir::read_from(&sub)? {
        let entry = entry?;
        let n = entry.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push(std::ffi::OsStr::from_bytes(n).to_owned());
        }
    }
    for n in names {
        let p = Path::new(&n);
        if kind_at(sub.as_fd(), p)? == Some(FileType::Directory) {
            remove_tree_at(sub.as_fd(), p)?;
        } else {
            unlink_at(sub.as_fd(), p)?;
        }
    }
    drop(sub);
    Ok(rfs::unlinkat(dir, name, AtFlags::REMOVEDIR)?)
}

/// Changes the owner of `name` in `dir` without following a symlink.
pub(crate) fn chown_at(dir: BorrowedFd<'_>, name: &Path, uid: u32, gid: u32) -> io::Result<()> {
    Ok(rfs::chownat(
        dir,
        name,
        Some(Uid::from_raw(uid)),
        Some(Gid::from_raw(gid)),
        AtFlags::SYMLINK_NOFOLLOW,
    )?)
}

pub(crate) fn chown_fd(fd: BorrowedFd<'_>, uid: u32, gid: u32) -> io::Result<()> {
    Ok(rfs::fchown(
        fd,
        Some(Uid::from_raw(uid)),
        Some(Gid::from_raw(gid)),
    )?)
}

pub(crate) fn chmod_fd(fd: BorrowedFd<'_>, mode: u32) -> io::Result<()> {
    Ok(rfs::fchmod(fd, Mode::from_raw_mode(mode & 0o7777))?)
}

/// Sets permissions of `name` in `dir`; only called for entries known not to be symlinks
/// (Linux has no lchmod).
pub(crate) fn chmod_at(dir: BorrowedFd<'_>, name: &Path, mode: u32) -> io::Result<()> {
    Ok(rfs::chmodat(
        dir,
        name,
        Mode::from_raw_mode(mode & 0o7777),
        AtFlags::empty(),
    )?)
}

fn timestamps(secs: i64, nanos: u32) -> Timestamps {
    let t = Timespec {
        tv_sec: secs,
        tv_nsec: nanos.min(999_999_999).into(),
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

pub(crate) fn set_mtime_fd(fd: BorrowedFd<'_>, secs: i64, nanos: u32) -> io::Result<()> {
    Ok(rfs::futimens(fd, &timestamps(secs, nanos))?)
}

/// Sets atime and mtime of `name` in `dir` without following a symlink.
pub(crate) fn set_mtime_at(
    dir: BorrowedFd<'_>,
    name: &Path,
    secs: i64,
    nanos: u32,
) -> io::Result<()> {
    Ok(rfs::utimensat(
        dir,
        name,
        &timestamps(secs, nanos),
        AtFlags::SYMLINK_NOFOLLOW,
    )?)
}

/// `(used bytes, total bytes)` of the filesystem holding `path`, counting space reserved for
/// root as used, like `df` and the kubelet's eviction signals.
pub(crate) fn disk_usage(path: &Path) -> io::Result<(u64, u64)> {
    let st = rfs::statvfs(path)?;
    let total = st.f_blocks.saturating_mul(st.f_frsize);
    let avail = st.f_bavail.saturating_mul(st.f_frsize);
    Ok((total.saturating_sub(avail), total))
}

/// Takes an exclusive `flock` on `path` (created if missing); released when the fd is dropped.
pub(crate) fn lock_exclusive(path: &Path) -> io::Result<OwnedFd> {
    let fd = rfs::open(
        path,
        OFlags::CREATE | OFlags::RDWR | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )?;
    rfs::flock(&fd, FlockOperation::LockExclusive)?;
    Ok(fd)
}

/// Replaces `path` with `data` atomically and durably: temp file, fsync, rename, fsync dir.
pub(crate) fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(format!(".tmp.{}", std::process::id()));
    let tmp = dir.join(name);
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        fsync_dir(dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

pub(crate) fn fsync_dir(dir: &Path) -> io::Result<()> {
    Ok(rfs::fsync(open_dir(dir)?)?)
}

/// Flushes the whole filesystem holding `path` (cheaper than fsyncing every unpacked file).
pub(crate) fn syncfs(path: &Path) -> io::Result<()> {
    Ok(rfs::syncfs(open_dir(path)?)?)
}
