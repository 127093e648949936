//! Named network namespaces: files a namespace is bind-mounted on, as `ip netns` keeps them.
//!
//! Contract: [`create`] makes a new network namespace and pins it at `path` (idempotent: an
//! existing namespace file is kept); [`remove`] unpins and deletes it (idempotent);
//! [`run_in`] runs a closure on a fresh thread that joined the namespace and returns its
//! result. Namespace membership is per thread, so the calling thread never changes namespace;
//! sockets opened inside the closure stay in the namespace after it returns.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

const NSFS_MAGIC: i64 = 0x6e73_6673;

#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error("creating namespace file {path}")]
    CreateFile {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("unsharing the network namespace")]
    Unshare(#[source] nix::Error),
    #[error("bind-mounting the network namespace on {path}")]
    Mount {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("unmounting namespace file {path}")]
    Unmount {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("removing namespace file {path}")]
    Remove {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("opening namespace {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("entering namespace {path}")]
    Setns {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("namespace thread panicked")]
    Panicked,
}

/// Whether `path` is a pinned namespace (an nsfs mount).
// f_type is i64 on 64-bit targets but i32 on 32-bit ARM, hence the cast.
#[allow(clippy::unnecessary_cast)]
pub fn is_netns(path: &Path) -> bool {
    nix::sys::statfs::statfs(path).is_ok_and(|s| s.filesystem_type().0 as i64 == NSFS_MAGIC)
}

/// Creates a new network namespace pinned at `path` (whose parent must exist).
pub fn create(path: &Path) -> Result<(), NetnsError> {
    if is_netns(path) {
        return Ok(());
    }
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o444)
        .open(path)
        .map_err(|source| NetnsError::CreateFile {
            path: path.to_path_buf(),
            source,
        })?;
    // unshare() moves only the calling thread, so a throwaway thread does it and dies with it.
    let res = std::thread::scope(|s| {
        s.spawn(|| {
            unshare(CloneFlags::CLONE_NEWNET).map_err(NetnsError::Unshare)?;
            mount(
                Some(Path::new("/proc/thread-self/ns/net")),
                path,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(|source| NetnsError::Mount {
                path: path.to_path_buf(),
                source,
            })
        })
        .join()
        .unwrap_or(Err(NetnsError::Panicked))
    });
    if res.is_err() {
        let _ = std::fs::remove_file(path);
    }
    res
}

/// Unpins and deletes the namespace file; the namespace dies with its last user.
pub fn remove(path: &Path) -> Result<(), NetnsError> {
    match umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::Error::EINVAL) | Err(nix::Error::ENOENT) => {}
        Err(source) => {
            return Err(NetnsError::Unmount {
                path: path.to_path_buf(),
                source,
            })
        }
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(NetnsError::Remove {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Runs `f` on a new thread inside the namespace at `path` and returns its result.
pub fn run_in<T: Send>(path: &Path, f: impl FnOnce() -> T + Send) -> Result<T, NetnsError> {
    let ns = File::open(path).map_err(|source| NetnsError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    std::thread::scope(|s| {
        s.spawn(move || {
            setns(&ns, CloneFlags::CLONE_NEWNET).map_err(|source| NetnsError::Setns {
                path: path.to_path_buf(),
                source,
            })?;
            Ok(f())
        })
        .join()
        .unwrap_or(Err(NetnsError::Panicked))
    })
}
