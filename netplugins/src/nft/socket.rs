//! The NETLINK_NETFILTER socket: sends batches and dump requests, reads acks and replies.
//!
//! Contract: a socket belongs to the network namespace of the thread that opened it, for its
//! whole life, whichever thread later uses it. [`Nft::apply`] returns only after the kernel
//! processed the whole batch; the first refusal is reported with the failing object's
//! description and the kernel's extended ack text when it sent one. Batches of any size fit:
//! the send buffer grows to the batch.

use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use rtnetlink::sys::{protocols::NETLINK_NETFILTER, Socket, SocketAddr};

use super::batch::Batch;
use super::wire::{self, Msg};
use super::NftError;

pub struct Nft {
    sock: Mutex<Socket>,
    seq: AtomicU32,
}

impl std::fmt::Debug for Nft {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nft").finish_non_exhaustive()
    }
}

/// Decodes an NLMSG_ERROR payload: (errno, original seq, extack message).
fn parse_error(m: &Msg<'_>) -> (i32, u32, Option<String>) {
    let p = m.payload;
    if p.len() < 4 + 16 {
        return (0, m.seq, None);
    }
    let errno = -i32::from_ne_bytes([p[0], p[1], p[2], p[3]]);
    let orig_len = u32::from_ne_bytes([p[4], p[5], p[6], p[7]]) as usize;
    let orig_seq = u32::from_ne_bytes([p[12], p[13], p[14], p[15]]);
    // With NETLINK_CAP_ACK only the original header is echoed; the TLVs follow it.
    let echoed = if m.flags & 0x100 != 0 {
        16
    } else {
        orig_len.max(16)
    };
    let tlvs = p.get(4 + ((echoed + 3) & !3)..).unwrap_or(&[]);
    let msg = if m.flags & wire::NLM_F_ACK_TLVS != 0 {
        wire::find(&wire::parse_attrs(tlvs), wire::NLMSGERR_ATTR_MSG).map(|a| a.string())
    } else {
        None
    };
    (errno, orig_seq, msg)
}

/// Raises SO_SNDBUF to hold `len` bytes (FORCE passes `wmem_max`, as root may).
fn grow_send_buffer(sock: &Socket, len: usize) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // Netlink refuses a datagram larger than sk_sndbuf minus a little bookkeeping; the
    // kernel doubles the value set, so half of it plus margin is enough.
    let want = (len / 2 + 4096).min(i32::MAX as usize) as nix::libc::c_int;
    let fd = sock.as_raw_fd();
    let mut cur: nix::libc::c_int = 0;
    let mut cur_len = std::mem::size_of::<nix::libc::c_int>() as nix::libc::socklen_t;
    // SAFETY: fd is the open socket `sock` owns; cur/cur_len are valid, correctly sized
    // out-pointers for an int option.
    let r = unsafe {
        nix::libc::getsockopt(
            fd,
            nix::libc::SOL_SOCKET,
            nix::libc::SO_SNDBUF,
            (&mut cur as *mut nix::libc::c_int).cast(),
            &mut cur_len,
        )
    };
    if r == 0 && (cur as usize) >= len + 4096 {
        return Ok(());
    }
    for opt in [nix::libc::SO_SNDBUFFORCE, nix::libc::SO_SNDBUF] {
        // SAFETY: fd is the open socket `sock` owns; the option value is a live c_int
        // whose size is passed along.
        let r = unsafe {
            nix::libc::setsockopt(
                fd,
                nix::libc::SOL_SOCKET,
                opt,
                (&want as *const nix::libc::c_int).cast(),
                std::mem::size_of::<nix::libc::c_int>() as nix::libc::socklen_t,
            )
        };
        if r == 0 {
            return Ok(());
        }
    }
    Err(io::Error::last_os_error())
}

impl Nft {
    /// Opens a socket in the calling thread's network namespace.
    pub fn open() -> Result<Nft, NftError> {
        let mut sock = Socket::new(NETLINK_NETFILTER).map_err(NftError::Socket)?;
        sock.bind_auto().map_err(NftError::Socket)?;
        // Acks echo only the header, and errors carry the kernel's explanation.
        let _ = sock.set_cap_ack(true);
        let _ = sock.set_ext_ack(true);
        let _ = sock.set_rx_buf_sz(4 << 20);
        Ok(Nft {
            sock: Mutex::new(sock),
            seq: AtomicU32::new(1),
        })
    }

    fn next_seqs(&self, n: u32) -> u32 {
        self.seq.fetch_add(n, Ordering::Relaxed)
    }

    /// Applies the batch atomically.
    pub fn apply(&self, batch: &Batch) -> Result<(), NftError> {
        if batch.is_empty() {
            return Ok(());
        }
        let n = batch.msgs.len() as u32;
        let first = self.next_seqs(n + 2);
        let bytes = batch.encode(first);
        let sock = self.sock.lock().unwrap_or_else(|e| e.into_inner());
        // A batch is one datagram: the kernel refuses one larger than the send buffer.
        grow_send_buffer(&sock, bytes.len()).map_err(NftError::Send)?;
        sock.send_to(&bytes, &SocketAddr::new(0, 0), 0)
            .map_err(NftError::Send)?;
        let what = |seq: u32| {
            seq.checked_sub(first + 1)
                .and_then(|i| batch.msgs.get(i as usize))
                .map(|m| m.describe())
                .unwrap_or_else(|| "nf_tables batch".to_string())
        };
        // The kernel processes the whole batch inside sendmsg, so every answer is already
        // queued: an error per refused message and the ack (or error) of the last one.
        let mut first_error: Option<NftError> = None;
        let mut done = false;
        while !done {
            let (buf, _) = match sock.recv_from_full() {
                Ok(r) => r,
                // Only reachable once an error switched to draining without blocking.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(NftError::Recv(e)),
            };
            for m in wire::parse_messages(&buf) {
                if m.kind != wire::NLMSG_ERROR {
                    continue;
                }
                let (errno, seq, ext) = parse_error(&m);
                // The last change answers last; an error about BEGIN/END (or an ENOMEM that
                // stops the batch early) aborts with no further answers.
                if !(first + 1..first + n).contains(&seq) {
                    done = true;
                }
                if errno != 0 && first_error.is_none() {
                    // Whatever else is queued is already there: drain it without waiting
                    // for an answer that may never come.
                    let _ = sock.set_non_blocking(true);
                }
                if errno != 0 && first_error.is_none() {
                    first_error = Some(NftError::Kernel {
                        what: what(seq),
                        detail: ext.map(|e| format!(" ({e})")).unwrap_or_default(),
                        source: io::Error::from_raw_os_error(errno),
                    });
                }
            }
        }
        let _ = sock.set_non_blocking(false);
        first_error.map_or(Ok(()), Err)
    }

    /// Sends a GET request and collects the replies' attribute payloads (after nfgenmsg).
    /// `Ok(None)` when the kernel answers ENOENT.
    pub(crate) fn request(
        &self,
        msg: u16,
        family: u8,
        dump: bool,
        attrs: &[u8],
    ) -> Result<Option<Vec<Vec<u8>>>, NftError> {
        let seq = self.next_seqs(1);
        let flags = wire::NLM_F_REQUEST | wire::NLM_F_ACK | if dump { wire::NLM_F_DUMP } else { 0 };
        let bytes = wire::message(wire::nft_type(msg), flags, seq, family, 0, attrs);
        let sock = self.sock.lock().unwrap_or_else(|e| e.into_inner());
        sock.send_to(&bytes, &SocketAddr::new(0, 0), 0)
            .map_err(NftError::Send)?;
        let mut out = Vec::new();
        loop {
            let (buf, _) = sock.recv_from_full().map_err(NftError::Recv)?;
            for m in wire::parse_messages(&buf) {
                if m.seq != seq {
                    continue;
                }
                match m.kind {
                    wire::NLMSG_DONE => return Ok(Some(out)),
                    wire::NLMSG_ERROR => {
                        let (errno, _, ext) = parse_error(&m);
                        if errno == 0 {
                            if !dump {
                                return Ok(Some(out));
                            }
                            continue;
                        }
                        if errno == nix::libc::ENOENT {
                            return Ok(None);
                        }
                        return Err(NftError::Kernel {
                            what: format!("nf_tables get request {msg}"),
                            detail: ext.map(|e| format!(" ({e})")).unwrap_or_default(),
                            source: io::Error::from_raw_os_error(errno),
                        });
                    }
                    _ => out.push(m.payload.get(4..).unwrap_or(&[]).to_vec()),
                }
            }
        }
    }
}
