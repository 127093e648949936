//! Thin typed wrappers over the mount-related syscalls this crate needs (tmpfs, bind, unmount,
//! openat2 beneath a root). Business logic never calls rustix directly for these, so the
//! places that change the mount table are all in this file.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::mount::{MountFlags, UnmountFlags};

/// Mounts a fresh tmpfs at `target`; `size` in bytes (None = kernel default, half of RAM).
pub(crate) fn mount_tmpfs(target: &Path, size: Option<u64>, mode: u32) -> io::Result<()> {
    let mut data = format!("mode={mode:o}");
    if let Some(size) = size {
        data.push_str(&format!(",size={size}"));
    }
    let data = CString::new(data).map_err(io::Error::other)?;
    rustix::mount::mount(
        "tmpfs",
        target,
        "tmpfs",
        MountFlags::NOSUID | MountFlags::NODEV,
        data.as_c_str(),
    )?;
    Ok(())
}

/// Bind-mounts the file or directory `fd` refers to onto `target`. Going through the fd's
/// `/proc/self/fd` magic link pins exactly the inode that was resolved safely, so a symlink
/// swapped in after the check cannot redirect the mount.
pub(crate) fn bind_fd(fd: &OwnedFd, target: &Path) -> io::Result<()> {
    let source = PathBuf::from(format!("/proc/self/fd/{}", fd.as_fd().as_raw_fd()));
    rustix::mount::mount_bind(&source, target)?;
    Ok(())
}

/// Unmounts `target`; a busy mount (a process still has files open) is detached lazily so that
/// teardown never leaves the mount in the table.
pub(crate) fn unmount(target: &Path) -> io::Result<()> {
    match rustix::mount::unmount(target, UnmountFlags::NOFOLLOW) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::BUSY) => {
            rustix::mount::unmount(target, UnmountFlags::DETACH | UnmountFlags::NOFOLLOW)?;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// Opens `root` itself as an `O_PATH` directory handle.
pub(crate) fn open_root(root: &Path) -> io::Result<OwnedFd> {
    Ok(rustix::fs::open(
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// Opens `rel` beneath `root_fd` as an `O_PATH` handle. The kernel refuses (EXDEV) any
/// resolution that leaves the root, including through `..` or absolute symlinks, and refuses
/// /proc magic links; symlinks that stay inside are followed.
pub(crate) fn open_beneath(root_fd: &OwnedFd, rel: &Path) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat2(
        root_fd,
        rel,
        OFlags::PATH | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
    )?)
}

/// Whether an `O_PATH` handle refers to a directory.
pub(crate) fn fd_is_dir(fd: &OwnedFd) -> io::Result<bool> {
    let st = rustix::fs::fstat(fd)?;
    Ok(rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Directory)
}

/// Changes only the group of `path`, without following a final symlink.
pub(crate) fn lchown_group(path: &Path, gid: u32) -> io::Result<()> {
    if gid == u32::MAX {
        // -1 means "leave unchanged" to chown(2); it is never a real group.
        return Ok(());
    }
    let gid = rustix::fs::Gid::from_raw(gid);
    rustix::fs::chownat(
        rustix::fs::CWD,
        path,
        None,
        Some(gid),
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )?;
    Ok(())
}

#[cfg(test)]
pub(crate) fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// The id of the mount `path` (not following a final symlink) lives on: differs from its
/// parent's exactly when `path` is a mount point, even for a bind mount of the same filesystem.
pub(crate) fn mount_id(path: &Path) -> io::Result<u64> {
    let st = rustix::fs::statx(
        rustix::fs::CWD,
        path,
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
        rustix::fs::StatxFlags::MNT_ID,
    )?;
    Ok(st.stx_mnt_id)
}

/// Creates directory `name` (a single component) inside the directory `dir_fd` refers to.
pub(crate) fn mkdir_in(dir_fd: &OwnedFd, name: &Path, mode: u32) -> io::Result<()> {
    match rustix::fs::mkdirat(dir_fd, name, Mode::from_raw_mode(mode)) {
        Ok(()) | Err(rustix::io::Errno::EXIST) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Permission bits of what `fd` refers to.
pub(crate) fn fd_mode(fd: &OwnedFd) -> io::Result<u32> {
    Ok(rustix::fs::fstat(fd)?.st_mode & 0o7777)
}
