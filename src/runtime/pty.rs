//! Pseudo-terminal pairs for tty containers and `exec -t`.
//!
//! Contract: [`Pty::open`] returns the master (kept by the shim or the agent, close-on-exec) and
//! the slave (handed to the container as stdin/stdout/stderr; opened without becoming our
//! controlling terminal). [`resize`] sets the window size on either end.

use std::ffi::OsStr;
use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;

use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
use rustix::termios::{tcsetwinsize, Winsize};

#[derive(Debug)]
pub struct Pty {
    pub master: OwnedFd,
    pub slave: OwnedFd,
}

impl Pty {
    pub fn open() -> io::Result<Pty> {
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)?;
        grantpt(&master)?;
        unlockpt(&master)?;
        let name = ptsname(&master, Vec::new())?;
        let slave = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(rustix::fs::OFlags::NOCTTY.bits() as i32)
            .open(OsStr::from_bytes(name.to_bytes()))?;
        Ok(Pty {
            master,
            slave: slave.into(),
        })
    }
}

/// Send `fd` over the Unix socket `sock` (SCM_RIGHTS), with one byte of data.
pub fn send_fd(sock: impl AsFd, fd: impl AsFd) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let fds = [fd.as_fd().as_raw_fd()];
    let cmsg = [nix::sys::socket::ControlMessage::ScmRights(&fds)];
    let iov = [io::IoSlice::new(b"T")];
    nix::sys::socket::sendmsg::<()>(
        sock.as_fd().as_raw_fd(),
        &iov,
        &cmsg,
        nix::sys::socket::MsgFlags::empty(),
        None,
    )?;
    Ok(())
}

/// Receive one descriptor sent by [`send_fd`]; `None` when the peer closed without sending.
pub fn recv_fd(sock: impl AsFd) -> io::Result<Option<OwnedFd>> {
    use std::os::fd::{AsRawFd, FromRawFd};
    let mut byte = [0u8; 1];
    let mut iov = [io::IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = nix::sys::socket::recvmsg::<()>(
        sock.as_fd().as_raw_fd(),
        &mut iov,
        Some(&mut space),
        nix::sys::socket::MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    for c in msg.cmsgs()? {
        if let nix::sys::socket::ControlMessageOwned::ScmRights(fds) = c {
            if let Some(&fd) = fds.first() {
                // SAFETY: the kernel just installed this descriptor in our table for us; no
                // one else owns it.
                return Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }));
            }
        }
    }
    Ok(None)
}

/// `TIOCSWINSZ`: the terminal's size in characters.
pub fn resize(fd: impl AsFd, width: u16, height: u16) -> io::Result<()> {
    tcsetwinsize(
        fd,
        Winsize {
            ws_row: height,
            ws_col: width,
            ws_xpixel: 0,
            ws_ypixel: 0,
        },
    )
    .map_err(Into::into)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn slave_output_reaches_master_and_resize_applies() {
        let pty = match Pty::open() {
            Ok(p) => p,
            Err(e) => {
                println!("SKIPPED: no /dev/ptmx: {e}");
                return;
            }
        };
        resize(&pty.master, 100, 30).unwrap();
        let ws = rustix::termios::tcgetwinsize(&pty.slave).unwrap();
        assert_eq!((ws.ws_col, ws.ws_row), (100, 30));
        let mut slave = std::fs::File::from(pty.slave);
        slave.write_all(b"hi\n").unwrap();
        let mut master = std::fs::File::from(pty.master);
        let mut buf = [0u8; 16];
        let n = master.read(&mut buf).unwrap();
        // The line discipline turns "\n" into "\r\n".
        assert_eq!(&buf[..n], b"hi\r\n");
    }
}
