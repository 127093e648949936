//! DNS over TCP framing (RFC 1035 §4.2.2, RFC 7766): every message is preceded by its length
//! as a big-endian u16.
//!
//! Contract: [`read_frame`] returns `Ok(None)` on a clean end of stream between messages and
//! an error on a stream cut inside one; [`write_frame`] refuses messages over 65,535 bytes.

use std::io;

use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 2];
    match r.read(&mut len[..1]).await? {
        0 => return Ok(None),
        _ => r.read_exact(&mut len[1..]).await?,
    }
    let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
    r.read_exact(&mut msg).await?;
    Ok(Some(msg))
}

pub async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, msg: &[u8]) -> io::Result<()> {
    let len = u16::try_from(msg.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "dns message over 65535 bytes"))?;
    // One write: a length and its message in separate segments make some peers stall (Nagle).
    let mut buf = Vec::with_capacity(msg.len() + 2);
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(msg);
    w.write_all(&buf).await?;
    w.flush().await
}

#[cfg(test)]
mod tests {
    use futures_lite::io::Cursor;

    use super::*;

    #[test]
    fn round_trip_and_clean_end() {
        smol::block_on(async {
            let mut out = Cursor::new(Vec::new());
            write_frame(&mut out, b"abc").await.unwrap();
            write_frame(&mut out, b"").await.unwrap();
            let mut input = Cursor::new(out.into_inner());
            assert_eq!(read_frame(&mut input).await.unwrap(), Some(b"abc".to_vec()));
            assert_eq!(read_frame(&mut input).await.unwrap(), Some(Vec::new()));
            assert_eq!(read_frame(&mut input).await.unwrap(), None);
            let mut cut = Cursor::new(vec![0u8, 5, 1, 2]);
            assert!(read_frame(&mut cut).await.is_err());
        });
    }
}
