//! Server side of RFC 6455 WebSocket framing, just enough for the Kubernetes streaming
//! protocols (`v5.channel.k8s.io`, `v4.channel.k8s.io`, `portforward.k8s.io`,
//! `SPDY/3.1+portforward.k8s.io`).
//!
//! Contract: [`accept_key`] answers the handshake; [`WsReader::next`] yields complete data
//! messages (fragments joined, client masks removed) and reports pings so the owner can pong;
//! [`write_frame`] writes one unmasked, unfragmented server frame. Messages above
//! [`MAX_MESSAGE`] are a protocol error (kubectl sends at most 32 KiB per message).

use base64::Engine;
use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest message accepted from a client.
pub const MAX_MESSAGE: usize = 16 * 1024 * 1024;

const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

pub const OP_CONT: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

#[derive(Debug, thiserror::Error)]
pub enum WsError {
    #[error("websocket i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("websocket protocol: {0}")]
    Protocol(&'static str),
}

/// `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key`.
pub fn accept_key(key: &str) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(key.trim().as_bytes());
    ctx.update(GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(ctx.finish().as_ref())
}

/// What the peer sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text or binary message (the streaming protocols treat both as bytes).
    Data(Vec<u8>),
    Ping(Vec<u8>),
    /// The peer's close frame or end of stream.
    Close,
}

/// Reads messages from the client half of a connection.
pub struct WsReader<R> {
    io: R,
    partial: Vec<u8>,
}

impl<R: AsyncRead + Unpin> WsReader<R> {
    pub fn new(io: R) -> WsReader<R> {
        WsReader {
            io,
            partial: Vec::new(),
        }
    }

    /// The next complete message; control frames interleaved in a fragmented message are
    /// returned as they come.
    pub async fn next(&mut self) -> Result<Message, WsError> {
        loop {
            let mut head = [0u8; 2];
            match self.io.read_exact(&mut head).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return Ok(Message::Close)
                }
                Err(e) => return Err(e.into()),
            }
            let fin = head[0] & 0x80 != 0;
            let op = head[0] & 0x0F;
            let masked = head[1] & 0x80 != 0;
            let len = match head[1] & 0x7F {
                126 => {
                    let mut b = [0u8; 2];
                    self.io.read_exact(&mut b).await?;
                    u64::from(u16::from_be_bytes(b))
                }
                127 => {
                    let mut b = [0u8; 8];
                    self.io.read_exact(&mut b).await?;
                    u64::from_be_bytes(b)
                }
                n => u64::from(n),
            };
            if len as usize > MAX_MESSAGE || self.partial.len() + len as usize > MAX_MESSAGE {
                return Err(WsError::Protocol("message too large"));
            }
            let mut mask = [0u8; 4];
            if masked {
                self.io.read_exact(&mut mask).await?;
            }
            let mut payload = vec![0u8; len as usize];
            self.io.read_exact(&mut payload).await?;
            if masked {
                for (i, b) in payload.iter_mut().enumerate() {
                    *b ^= mask[i % 4];
                }
            }
            match op {
                OP_CLOSE => return Ok(Message::Close),
                OP_PING => return Ok(Message::Ping(payload)),
                OP_PONG => continue,
                OP_TEXT | OP_BINARY | OP_CONT => {
                    self.partial.extend_from_slice(&payload);
                    if fin {
                        return Ok(Message::Data(std::mem::take(&mut self.partial)));
                    }
                }
                _ => return Err(WsError::Protocol("unknown opcode")),
            }
        }
    }
}

/// Encode one server frame (servers never mask).
pub fn encode_frame(op: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 10);
    out.push(0x80 | op);
    match payload.len() {
        n if n < 126 => out.push(n as u8),
        n if n <= usize::from(u16::MAX) => {
            out.push(126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
    out
}

/// Write one frame and flush.
pub async fn write_frame<W: AsyncWrite + Unpin>(
    io: &mut W,
    op: u8,
    payload: &[u8],
) -> std::io::Result<()> {
    io.write_all(&encode_frame(op, payload)).await?;
    io.flush().await
}

/// Encode a client (masked) frame: used by tests that play kubectl.
pub fn encode_client_frame(op: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut out = encode_frame(op, &[]);
    out.truncate(1);
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n <= usize::from(u16::MAX) => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// Parse one unmasked server frame from the front of `buf`: (fin+opcode byte, payload, bytes
/// used), or `None` when incomplete. Used by tests that play kubectl.
pub fn decode_server_frame(buf: &[u8]) -> Option<(u8, Vec<u8>, usize)> {
    if buf.len() < 2 {
        return None;
    }
    let (len, at) = match buf[1] & 0x7F {
        126 => (
            usize::from(u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?)),
            4,
        ),
        127 => (
            u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?) as usize,
            10,
        ),
        n => (usize::from(n), 2),
    };
    let payload = buf.get(at..at + len)?.to_vec();
    Some((buf[0], payload, at + len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_matches_rfc_example() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn reads_masked_fragmented_messages_and_pings() {
        let mut wire = Vec::new();
        // A binary message in two fragments with a ping in between.
        let mut first = encode_client_frame(OP_BINARY, b"\x00hel", [1, 2, 3, 4]);
        first[0] &= 0x7F; // not FIN
        wire.extend(first);
        wire.extend(encode_client_frame(OP_PING, b"p", [9, 9, 9, 9]));
        wire.extend(encode_client_frame(OP_CONT, b"lo", [5, 6, 7, 8]));
        let big = vec![7u8; 70_000];
        wire.extend(encode_client_frame(OP_BINARY, &big, [0xAA, 0, 0x55, 1]));
        wire.extend(encode_client_frame(OP_CLOSE, b"", [0, 0, 0, 0]));
        let mut r = WsReader::new(futures_lite::io::Cursor::new(wire));
        smol::block_on(async {
            assert_eq!(r.next().await.unwrap(), Message::Ping(b"p".to_vec()));
            assert_eq!(
                r.next().await.unwrap(),
                Message::Data(b"\x00hello".to_vec())
            );
            assert_eq!(r.next().await.unwrap(), Message::Data(big));
            assert_eq!(r.next().await.unwrap(), Message::Close);
            assert_eq!(r.next().await.unwrap(), Message::Close);
        });
    }

    #[test]
    fn server_frames_round_trip() {
        for n in [0usize, 5, 125, 126, 65_535, 65_536] {
            let payload = vec![3u8; n];
            let f = encode_frame(OP_BINARY, &payload);
            let (b0, p, used) = decode_server_frame(&f).unwrap();
            assert_eq!((b0, p.len(), used), (0x82, n, f.len()));
            assert!(decode_server_frame(&f[..f.len() - 1]).is_none() || n == 0);
        }
    }
}
