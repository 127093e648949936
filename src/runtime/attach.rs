//! The framing spoken on a shim's `attach.sock` (clients: `Runtime::attach` users such as the
//! agent's streaming server).
//!
//! Contract: each frame is 1 byte kind, a u32 big-endian length, then that many bytes.
//! Client → shim: [`Kind::Stdin`] data, [`Kind::Resize`] (`u16 width, u16 height`, BE),
//! [`Kind::CloseStdin`] (empty). Shim → client: [`Kind::Stdout`], [`Kind::Stderr`] data (with a
//! tty everything is `Stdout`). The shim closes the connection when the container exited.

use std::io::{self, Read, Write};

/// Largest accepted payload; bigger frames are a protocol error.
pub const MAX_FRAME: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    Stdin = 0,
    Stdout = 1,
    Stderr = 2,
    Resize = 4,
    CloseStdin = 5,
}

impl Kind {
    pub fn from_u8(b: u8) -> Option<Kind> {
        Some(match b {
            0 => Kind::Stdin,
            1 => Kind::Stdout,
            2 => Kind::Stderr,
            4 => Kind::Resize,
            5 => Kind::CloseStdin,
            _ => return None,
        })
    }
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Stdin(Vec<u8>),
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
    Resize { width: u16, height: u16 },
    CloseStdin,
}

impl Frame {
    pub fn encode(&self) -> Vec<u8> {
        let (kind, payload): (Kind, &[u8]) = match self {
            Frame::Stdin(d) => (Kind::Stdin, d),
            Frame::Stdout(d) => (Kind::Stdout, d),
            Frame::Stderr(d) => (Kind::Stderr, d),
            Frame::CloseStdin => (Kind::CloseStdin, &[]),
            Frame::Resize { width, height } => {
                let mut out = header(Kind::Resize, 4);
                out.extend_from_slice(&width.to_be_bytes());
                out.extend_from_slice(&height.to_be_bytes());
                return out;
            }
        };
        let mut out = header(kind, payload.len());
        out.extend_from_slice(payload);
        out
    }

    fn decode(kind: u8, payload: Vec<u8>) -> io::Result<Frame> {
        Ok(match Kind::from_u8(kind) {
            Some(Kind::Stdin) => Frame::Stdin(payload),
            Some(Kind::Stdout) => Frame::Stdout(payload),
            Some(Kind::Stderr) => Frame::Stderr(payload),
            Some(Kind::CloseStdin) => Frame::CloseStdin,
            Some(Kind::Resize) if payload.len() == 4 => Frame::Resize {
                width: u16::from_be_bytes([payload[0], payload[1]]),
                height: u16::from_be_bytes([payload[2], payload[3]]),
            },
            _ => return Err(invalid("bad attach frame")),
        })
    }
}

fn header(kind: Kind, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + len);
    out.push(kind as u8);
    out.extend_from_slice(&(len as u32).to_be_bytes());
    out
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

/// Writes one frame (blocking).
pub fn write_frame(w: &mut impl Write, frame: &Frame) -> io::Result<()> {
    w.write_all(&frame.encode())
}

/// Reads one frame (blocking); `Ok(None)` at a clean end of stream.
pub fn read_frame(r: &mut impl Read) -> io::Result<Option<Frame>> {
    let mut head = [0u8; 5];
    match r.read_exact(&mut head[..1]) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    r.read_exact(&mut head[1..])?;
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    if len > MAX_FRAME {
        return Err(invalid("attach frame too large"));
    }
    let mut payload = vec![0; len];
    r.read_exact(&mut payload)?;
    Frame::decode(head[0], payload).map(Some)
}

/// Incremental decoder for non-blocking readers (the shim's poll loop).
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
}

impl Decoder {
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame, if buffered.
    pub fn next_frame(&mut self) -> io::Result<Option<Frame>> {
        if self.buf.len() < 5 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]) as usize;
        if len > MAX_FRAME {
            return Err(invalid("attach frame too large"));
        }
        if self.buf.len() < 5 + len {
            return Ok(None);
        }
        let kind = self.buf[0];
        let payload = self.buf[5..5 + len].to_vec();
        self.buf.drain(..5 + len);
        Frame::decode(kind, payload).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_blocking_and_incremental() {
        let frames = vec![
            Frame::Stdin(b"ls\n".to_vec()),
            Frame::Resize {
                width: 80,
                height: 24,
            },
            Frame::CloseStdin,
            Frame::Stderr(vec![]),
        ];
        let wire: Vec<u8> = frames.iter().flat_map(Frame::encode).collect();
        assert_eq!(&wire[..5], &[0, 0, 0, 0, 3]);
        let mut r = &wire[..];
        let mut got = vec![];
        while let Some(f) = read_frame(&mut r).unwrap() {
            got.push(f);
        }
        assert_eq!(got, frames);
        let mut d = Decoder::default();
        let mut got = vec![];
        for b in &wire {
            d.push(std::slice::from_ref(b));
            while let Some(f) = d.next_frame().unwrap() {
                got.push(f);
            }
        }
        assert_eq!(got, frames);
        assert!(Frame::decode(9, vec![]).is_err());
    }
}
