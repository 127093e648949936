//! The few file operations cgroup filesystems need, with errors that name the file.
//!
//! Cgroup control files are written whole with one `write(2)` (the kernel parses each write
//! separately) and opened with `O_CREAT` so the same code fills tempdir fixtures; on a real
//! cgroupfs `O_CREAT` on an existing control file is a no-op and a missing one fails.

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::Path;
use std::thread::sleep;
use std::time::Duration;

use super::CgroupError;

/// Reads a control file; `Ok(None)` when it does not exist (controller not enabled here).
pub(crate) fn read_opt(path: &Path) -> Result<Option<String>, CgroupError> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CgroupError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Reads a single-number control file (`memory.current`, `cpuacct.usage`); missing = `None`.
pub(crate) fn read_u64(path: &Path) -> Result<Option<u64>, CgroupError> {
    match read_opt(path)? {
        None => Ok(None),
        Some(s) => s
            .trim()
            .parse::<u64>()
            .map(Some)
            .map_err(|e| CgroupError::Parse {
                path: path.to_path_buf(),
                msg: e.to_string(),
            }),
    }
}

/// The value of `key` in a flat-keyed file (`memory.stat`, `memory.events`, `cpu.stat`).
pub(crate) fn read_key(path: &Path, key: &str) -> Result<Option<u64>, CgroupError> {
    Ok(read_opt(path)?.and_then(|s| {
        s.lines().find_map(|l| {
            let mut it = l.split_whitespace();
            (it.next() == Some(key))
                .then(|| it.next().and_then(|v| v.parse().ok()))
                .flatten()
        })
    }))
}

/// Writes `value` to a control file in one `write(2)`.
pub(crate) fn write(path: &Path, value: &str) -> Result<(), CgroupError> {
    let res = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .and_then(|mut f| f.write_all(value.as_bytes()));
    res.map_err(|source| CgroupError::Write {
        path: path.to_path_buf(),
        value: value.to_string(),
        source,
    })
}

/// Creates one cgroup directory; `Ok(true)` when it was created now.
pub(crate) fn mkdir(path: &Path) -> Result<bool, CgroupError> {
    match fs::create_dir(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
        Err(source) => Err(CgroupError::Create {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Removes a cgroup directory and its child cgroups, deepest first. A missing directory is
/// success; `EBUSY` (tasks still exiting, or the kernel still tearing down a css) is retried
/// for about a second.
pub(crate) fn remove_tree(path: &Path) -> Result<(), CgroupError> {
    let entries = match fs::read_dir(path) {
        Ok(e) => e,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(CgroupError::Remove {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    for entry in entries.flatten() {
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            remove_tree(&entry.path())?;
        }
    }
    let mut tries = 0;
    loop {
        match fs::remove_dir(path) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(nix::libc::EBUSY) && tries < 100 => {
                tries += 1;
                sleep(Duration::from_millis(10));
            }
            Err(source) => {
                return Err(CgroupError::Remove {
                    path: path.to_path_buf(),
                    source,
                })
            }
        }
    }
}

/// The pids in one `cgroup.procs` file (missing file = none).
pub(crate) fn procs(dir: &Path) -> Result<Vec<i32>, CgroupError> {
    Ok(read_opt(&dir.join("cgroup.procs"))?
        .map(|s| s.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default())
}

/// The pids of `dir` and every cgroup below it.
pub(crate) fn procs_recursive(dir: &Path, out: &mut Vec<i32>) -> Result<(), CgroupError> {
    out.extend(procs(dir)?);
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                procs_recursive(&entry.path(), out)?;
            }
        }
    }
    Ok(())
}
