//! The bundle directory of one container and the records the shim keeps in it.
//!
//! Contract: everything the agent knows about a container lives in `<run>/containers/<id>/`, so a
//! freshly started agent re-adopts containers by reading these files:
//! - `config.json`: the [`ContainerSpec`], written by the agent before the shim starts;
//! - `shim.pid`: the shim's pid and `/proc` start time, written by the shim first thing;
//! - `state.json`: [`StateRecord`], written once the container process exec'd;
//! - `start.json`: [`StartResult`], the outcome the agent waits for;
//! - `exit.json`: [`ExitRecord`], written by the shim after it reaped the container;
//! - `attach.sock`: the shim's attach socket; `shim.log`: the shim's own stderr.
//!
//! Every record is written to a temporary file and renamed into place, so readers never see a
//! half-written record even when the writer dies.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::spec::ContainerSpec;

/// The shim's own identity, so its pid can be verified against reuse.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct ShimRecord {
    pub pid: i32,
    pub starttime: u64,
}

/// The running container process.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct StateRecord {
    /// Host pid of the container's first process.
    pub pid: i32,
    pub started_at_nanos: i64,
    /// Field 22 of `/proc/<pid>/stat` (clock ticks since boot): tells the process from a later
    /// one that reused its pid.
    pub proc_starttime: u64,
    pub shim_pid: i32,
}

/// How the container's start ended, reported by the shim to the agent.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum StartResult {
    Started { pid: i32, started_at: i64 },
    Error { message: String },
}

/// How the container's first process ended.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct ExitRecord {
    /// The code Kubernetes reports: the exit status, or 128 + signal.
    pub exit_code: i32,
    /// The terminating signal, if any.
    pub signal: Option<i32>,
    pub oom_killed: bool,
    /// Unix nanoseconds.
    pub started_at: i64,
    pub finished_at: i64,
}

/// Paths inside one bundle directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    pub dir: PathBuf,
}

impl Bundle {
    pub fn new(dir: impl Into<PathBuf>) -> Bundle {
        Bundle { dir: dir.into() }
    }
    pub fn config(&self) -> PathBuf {
        self.dir.join("config.json")
    }
    pub fn shim_pid(&self) -> PathBuf {
        self.dir.join("shim.pid")
    }
    pub fn state(&self) -> PathBuf {
        self.dir.join("state.json")
    }
    pub fn start(&self) -> PathBuf {
        self.dir.join("start.json")
    }
    pub fn exit(&self) -> PathBuf {
        self.dir.join("exit.json")
    }
    pub fn attach_socket(&self) -> PathBuf {
        self.dir.join("attach.sock")
    }
    pub fn shim_log(&self) -> PathBuf {
        self.dir.join("shim.log")
    }
    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }
    /// Where the agent records the cgroup root and layout for the shim (see `shim`).
    pub fn cgroups(&self) -> PathBuf {
        self.dir.join("cgroups.json")
    }

    pub fn read_spec(&self) -> io::Result<ContainerSpec> {
        read_json(&self.config())?.ok_or_else(|| io::ErrorKind::NotFound.into())
    }
    pub fn read_shim(&self) -> io::Result<Option<ShimRecord>> {
        read_json(&self.shim_pid())
    }
    pub fn read_state(&self) -> io::Result<Option<StateRecord>> {
        read_json(&self.state())
    }
    pub fn read_exit(&self) -> io::Result<Option<ExitRecord>> {
        read_json(&self.exit())
    }
    pub fn read_start(&self) -> io::Result<Option<StartResult>> {
        read_json(&self.start())
    }
}

/// Reads a JSON record; `None` when the file does not exist.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> io::Result<Option<T>> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes a JSON record atomically: temporary file, fsync, rename.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> io::Result<()> {
    let bytes = serde_json::to_vec(value).map_err(io::Error::other)?;
    let tmp = path.with_extension("tmp");
    let mut f = fs::File::create(&tmp)?;
    f.write_all(&bytes)?;
    f.sync_all()?;
    fs::rename(&tmp, path)
}

/// Current time in Unix nanoseconds.
pub fn now_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// Run `f` with a path to `sock` short enough for a Unix socket address (108 bytes): the
/// socket's directory is opened and named through `/proc/self/fd/<n>/`, since bundle paths
/// (64-hex ids under a deep run dir) are often longer.
pub fn with_socket_path<T>(
    sock: &Path,
    f: impl FnOnce(&Path) -> std::io::Result<T>,
) -> std::io::Result<T> {
    use std::os::fd::AsRawFd;
    let (Some(dir), Some(name)) = (sock.parent(), sock.file_name()) else {
        return f(sock);
    };
    let fd = rustix::fs::open(
        dir,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )?;
    let short = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd())).join(name);
    f(&short)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_missing_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let b = Bundle::new(dir.path());
        assert_eq!(b.read_exit().unwrap(), None);
        let rec = ExitRecord {
            exit_code: 137,
            signal: Some(9),
            oom_killed: true,
            started_at: 1,
            finished_at: 2,
        };
        write_json(&b.exit(), &rec).unwrap();
        assert_eq!(b.read_exit().unwrap(), Some(rec));
        let start = StartResult::Error {
            message: "exec: not found".into(),
        };
        write_json(&b.start(), &start).unwrap();
        assert_eq!(b.read_start().unwrap(), Some(start));
        assert!(!b.dir.join("exit.tmp").exists());
    }
}
