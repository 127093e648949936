//! Watching and signalling processes that are not our children, safely against pid reuse.
//!
//! Contract: a process is identified by (pid, start time from `/proc/<pid>/stat`). [`Pidfd`]
//! pins one process: once opened (and the start time re-checked) signals and exit notification
//! go to that process even if its pid is later reused. A pidfd polls readable when the process
//! exits, which works for processes started by an earlier agent (no `waitpid` needed).

use std::fs;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use async_io::Async;
use rustix::process::{pidfd_open, pidfd_send_signal, Pid, PidfdFlags, Signal};

/// Start time (field 22 of `/proc/<pid>/stat`, clock ticks since boot); `None` when the process
/// does not exist.
pub fn proc_starttime(proc_root: &Path, pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(proc_root.join(pid.to_string()).join("stat")).ok()?;
    parse_starttime(&stat)
}

/// Field 22 of a `stat` line; the command name (field 2) may contain spaces and parentheses, so
/// fields are counted after the last `)`.
fn parse_starttime(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // After ")" come field 3 (state) onwards: starttime is field 22, the 20th of the rest.
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// True when `pid` exists and is the process that started at `starttime`.
pub fn is_same_process(proc_root: &Path, pid: i32, starttime: u64) -> bool {
    proc_starttime(proc_root, pid) == Some(starttime)
}

/// A pidfd pinning one process.
#[derive(Debug)]
pub struct Pidfd {
    fd: OwnedFd,
}

impl Pidfd {
    /// Opens a pidfd for `pid` if it is still the process that started at `starttime`.
    /// `Ok(None)` when the process is gone (or the pid now names another process).
    pub fn open_checked(proc_root: &Path, pid: i32, starttime: u64) -> io::Result<Option<Pidfd>> {
        let Some(p) = Pid::from_raw(pid) else {
            return Ok(None);
        };
        let fd = match pidfd_open(p, PidfdFlags::empty()) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::SRCH) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        // Checking after opening closes the race: if the start time still matches now, the fd
        // refers to the recorded process.
        if !is_same_process(proc_root, pid, starttime) {
            return Ok(None);
        }
        Ok(Some(Pidfd { fd }))
    }

    /// Sends a signal; a process that already exited (zombie or reaped) is not an error.
    pub fn signal(&self, sig: i32) -> io::Result<()> {
        let Some(sig) = Signal::from_named_raw(sig) else {
            return Err(io::Error::from_raw_os_error(
                rustix::io::Errno::INVAL.raw_os_error(),
            ));
        };
        match pidfd_send_signal(&self.fd, sig) {
            Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether the process has exited (the pidfd polls readable).
    pub fn exited(&self) -> bool {
        let mut fds = [rustix::event::PollFd::new(
            &self.fd,
            rustix::event::PollFlags::IN,
        )];
        let zero = rustix::event::Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        matches!(rustix::event::poll(&mut fds, Some(&zero)), Ok(n) if n > 0)
    }

    /// Completes when the process exits.
    pub async fn wait(self) -> io::Result<()> {
        let fd = Async::new(self.fd)?;
        fd.readable().await
    }
}

impl AsFd for Pidfd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starttime_is_field_22_even_with_odd_names() {
        let line = "42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(parse_starttime(line), Some(987654));
        assert_eq!(parse_starttime("garbage"), None);
    }

    #[test]
    fn own_process_matches_and_waits() {
        let proc = Path::new("/proc");
        let me = std::process::id() as i32;
        let st = proc_starttime(proc, me).unwrap();
        assert!(is_same_process(proc, me, st));
        assert!(!is_same_process(proc, me, st + 1));
        let mut child = std::process::Command::new("sleep")
            .arg("0.1")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let st = proc_starttime(proc, pid).unwrap();
        let fd = Pidfd::open_checked(proc, pid, st).unwrap().unwrap();
        assert!(!fd.exited());
        futures_lite::future::block_on(fd.wait()).unwrap();
        child.wait().unwrap();
        assert!(Pidfd::open_checked(proc, pid, st).unwrap().is_none());
    }
}
