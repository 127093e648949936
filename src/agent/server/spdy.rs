//! SPDY/3.1 framing as spoken by kubectl's port-forward (client-go's spdystream): control
//! frames SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE and
//! DATA frames; header blocks are zlib streams primed with the SPDY/3 dictionary.
//!
//! Contract: one [`Codec`] per session and direction pair: header compression state spans the
//! whole session (each block is a `Z_SYNC_FLUSH` chunk of one zlib stream), so frames must be
//! encoded and decoded in wire order. Header names are lowercase; multiple values of one name
//! are joined with NUL as the spec says. Flow control windows are not enforced: spdystream
//! neither sends nor honours WINDOW_UPDATE.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

const VERSION: u16 = 3;
pub const FLAG_FIN: u8 = 0x01;
pub const FLAG_UNIDIRECTIONAL: u8 = 0x02;
/// Largest frame accepted (spdystream never sends more than 32 KiB of data per frame).
pub const MAX_FRAME: usize = 16 * 1024 * 1024;

/// RST_STREAM status codes used here.
pub const RST_PROTOCOL_ERROR: u32 = 1;
pub const RST_REFUSED_STREAM: u32 = 3;
pub const RST_CANCEL: u32 = 5;

#[derive(Debug, thiserror::Error)]
pub enum SpdyError {
    #[error("spdy: unsupported version {0}")]
    Version(u16),
    #[error("spdy: malformed {0} frame")]
    Malformed(&'static str),
    #[error("spdy: frame of {0} bytes is too large")]
    TooLarge(usize),
    #[error("spdy: header compression: {0}")]
    Zlib(String),
}

pub type Headers = Vec<(String, String)>;

/// One SPDY frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    SynStream {
        stream_id: u32,
        associated: u32,
        priority: u8,
        flags: u8,
        headers: Headers,
    },
    SynReply {
        stream_id: u32,
        flags: u8,
        headers: Headers,
    },
    RstStream {
        stream_id: u32,
        status: u32,
    },
    Settings {
        entries: Vec<(u8, u32, u32)>,
    },
    Ping(u32),
    GoAway {
        last_stream_id: u32,
        status: u32,
    },
    Headers {
        stream_id: u32,
        flags: u8,
        headers: Headers,
    },
    WindowUpdate {
        stream_id: u32,
        delta: u32,
    },
    Data {
        stream_id: u32,
        flags: u8,
        data: Vec<u8>,
    },
    /// A control frame of a type this framer ignores.
    Unknown(u16),
}

/// The SPDY/3 header-compression dictionary (draft-mbelshe-httpbis-spdy-00 §2.6.10.1):
/// length-prefixed common header names and values, then a run of status texts and tokens.
pub fn dictionary() -> &'static [u8] {
    static DICT: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    DICT.get_or_init(|| {
        const WORDS: &[&str] = &[
            "options",
            "head",
            "post",
            "put",
            "delete",
            "trace",
            "accept",
            "accept-charset",
            "accept-encoding",
            "accept-language",
            "accept-ranges",
            "age",
            "allow",
            "authorization",
            "cache-control",
            "connection",
            "content-base",
            "content-encoding",
            "content-language",
            "content-length",
            "content-location",
            "content-md5",
            "content-range",
            "content-type",
            "date",
            "etag",
            "expect",
            "expires",
            "from",
            "host",
            "if-match",
            "if-modified-since",
            "if-none-match",
            "if-range",
            "if-unmodified-since",
            "last-modified",
            "location",
            "max-forwards",
            "pragma",
            "proxy-authenticate",
            "proxy-authorization",
            "range",
            "referer",
            "retry-after",
            "server",
            "te",
            "trailer",
            "transfer-encoding",
            "upgrade",
            "user-agent",
            "vary",
            "via",
            "warning",
            "www-authenticate",
            "method",
            "get",
            "status",
            "200 OK",
            "version",
            "HTTP/1.1",
            "url",
            "public",
            "set-cookie",
            "keep-alive",
            "origin",
        ];
        const TAIL: &str = concat!(
            "100101201202205206300302303304305306307402405406407408409410411412413414415416417",
            "502504505203 Non-Authoritative Information204 No Content301 Moved Permanently",
            "400 Bad Request401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error",
            "501 Not Implemented503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct ",
            "Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,",
            "image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,",
            "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8",
            "charset=iso-8859-1,utf-,*,enq=0.",
        );
        let mut d = Vec::new();
        for w in WORDS {
            d.extend_from_slice(&(w.len() as u32).to_be_bytes());
            d.extend_from_slice(w.as_bytes());
        }
        d.extend_from_slice(TAIL.as_bytes());
        d
    })
}

/// Encoder and decoder of one session's frames.
pub struct Codec {
    deflate: Compress,
    inflate: Decompress,
    deflate_primed: bool,
}

impl Default for Codec {
    fn default() -> Self {
        Codec::new()
    }
}

fn zerr(e: impl std::fmt::Display) -> SpdyError {
    SpdyError::Zlib(e.to_string())
}

/// A 31-bit stream id followed by a 32-bit word (RST_STREAM, GOAWAY, WINDOW_UPDATE bodies).
fn id_and(id: u32, word: u32) -> Vec<u8> {
    let mut body = (id & 0x7FFF_FFFF).to_be_bytes().to_vec();
    body.extend_from_slice(&word.to_be_bytes());
    body
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

impl Codec {
    pub fn new() -> Codec {
        Codec {
            deflate: Compress::new(Compression::default(), true),
            inflate: Decompress::new(true),
            deflate_primed: false,
        }
    }

    fn compress_headers(&mut self, headers: &Headers) -> Result<Vec<u8>, SpdyError> {
        if !self.deflate_primed {
            self.deflate.set_dictionary(dictionary()).map_err(zerr)?;
            self.deflate_primed = true;
        }
        // Values of one name are NUL-joined; names go lowercase.
        let mut merged: Vec<(String, String)> = Vec::new();
        for (k, v) in headers {
            let k = k.to_ascii_lowercase();
            match merged.iter_mut().find(|(n, _)| *n == k) {
                Some((_, existing)) => {
                    existing.push('\0');
                    existing.push_str(v);
                }
                None => merged.push((k, v.clone())),
            }
        }
        let mut raw = Vec::new();
        raw.extend_from_slice(&(merged.len() as u32).to_be_bytes());
        for (k, v) in &merged {
            raw.extend_from_slice(&(k.len() as u32).to_be_bytes());
            raw.extend_from_slice(k.as_bytes());
            raw.extend_from_slice(&(v.len() as u32).to_be_bytes());
            raw.extend_from_slice(v.as_bytes());
        }
        let mut out = Vec::with_capacity(raw.len() + 64);
        let mut input: &[u8] = &raw;
        loop {
            out.reserve(256);
            let before = self.deflate.total_in();
            self.deflate
                .compress_vec(input, &mut out, FlushCompress::Sync)
                .map_err(zerr)?;
            let used = (self.deflate.total_in() - before) as usize;
            input = &input[used..];
            // Done once all input is in and the flush did not fill the buffer.
            if input.is_empty() && out.len() < out.capacity() {
                return Ok(out);
            }
        }
    }

    fn decompress_headers(&mut self, block: &[u8]) -> Result<Headers, SpdyError> {
        let mut raw = Vec::with_capacity(block.len() * 4 + 64);
        let mut input = block;
        loop {
            raw.reserve(1024);
            let before = self.inflate.total_in();
            let res = self
                .inflate
                .decompress_vec(input, &mut raw, FlushDecompress::Sync);
            let used = (self.inflate.total_in() - before) as usize;
            input = &input[used..];
            match res {
                Ok(Status::StreamEnd) => break,
                Ok(_) => {
                    if input.is_empty() && raw.len() < raw.capacity() {
                        break;
                    }
                }
                Err(e) if e.needs_dictionary().is_some() => {
                    self.inflate.set_dictionary(dictionary()).map_err(zerr)?;
                }
                Err(e) => return Err(zerr(e)),
            }
            if raw.len() > MAX_FRAME {
                return Err(SpdyError::TooLarge(raw.len()));
            }
        }
        let bad = || SpdyError::Malformed("header block");
        let n = be32(&raw, 0).ok_or_else(bad)? as usize;
        let mut at = 4;
        let mut out = Vec::new();
        let field = |at: &mut usize| -> Result<String, SpdyError> {
            let len = be32(&raw, *at).ok_or_else(bad)? as usize;
            let s = raw.get(*at + 4..*at + 4 + len).ok_or_else(bad)?;
            *at += 4 + len;
            Ok(String::from_utf8_lossy(s).into_owned())
        };
        for _ in 0..n.min(1024) {
            let k = field(&mut at)?;
            let v = field(&mut at)?;
            for part in v.split('\0') {
                out.push((k.clone(), part.to_string()));
            }
        }
        Ok(out)
    }

    /// Encode a frame (compresses header blocks with the session's deflate stream).
    pub fn encode(&mut self, f: &Frame) -> Result<Vec<u8>, SpdyError> {
        let control = |kind: u16, flags: u8, body: Vec<u8>| {
            let mut out = Vec::with_capacity(body.len() + 8);
            out.extend_from_slice(&(0x8000 | VERSION).to_be_bytes());
            out.extend_from_slice(&kind.to_be_bytes());
            out.extend_from_slice(&((u32::from(flags) << 24) | body.len() as u32).to_be_bytes());
            out.extend_from_slice(&body);
            out
        };
        Ok(match f {
            Frame::SynStream {
                stream_id,
                associated,
                priority,
                flags,
                headers,
            } => {
                let mut body = Vec::new();
                body.extend_from_slice(&(stream_id & 0x7FFF_FFFF).to_be_bytes());
                body.extend_from_slice(&(associated & 0x7FFF_FFFF).to_be_bytes());
                body.push((priority & 0x7) << 5);
                body.push(0);
                body.extend(self.compress_headers(headers)?);
                control(1, *flags, body)
            }
            Frame::SynReply {
                stream_id,
                flags,
                headers,
            }
            | Frame::Headers {
                stream_id,
                flags,
                headers,
            } => {
                let kind = if matches!(f, Frame::SynReply { .. }) {
                    2
                } else {
                    8
                };
                let mut body = (stream_id & 0x7FFF_FFFF).to_be_bytes().to_vec();
                body.extend(self.compress_headers(headers)?);
                control(kind, *flags, body)
            }
            Frame::RstStream { stream_id, status } => control(3, 0, id_and(*stream_id, *status)),
            Frame::Settings { entries } => {
                let mut body = (entries.len() as u32).to_be_bytes().to_vec();
                for (flags, id, value) in entries {
                    body.extend_from_slice(
                        &((u32::from(*flags) << 24) | (id & 0xFF_FFFF)).to_be_bytes(),
                    );
                    body.extend_from_slice(&value.to_be_bytes());
                }
                control(4, 0, body)
            }
            Frame::Ping(id) => control(6, 0, id.to_be_bytes().to_vec()),
            Frame::GoAway {
                last_stream_id,
                status,
            } => control(7, 0, id_and(*last_stream_id, *status)),
            Frame::WindowUpdate { stream_id, delta } => {
                control(9, 0, id_and(*stream_id, delta & 0x7FFF_FFFF))
            }
            Frame::Data {
                stream_id,
                flags,
                data,
            } => {
                let mut out = Vec::with_capacity(data.len() + 8);
                out.extend_from_slice(&(stream_id & 0x7FFF_FFFF).to_be_bytes());
                out.extend_from_slice(
                    &((u32::from(*flags) << 24) | data.len() as u32).to_be_bytes(),
                );
                out.extend_from_slice(data);
                out
            }
            Frame::Unknown(_) => return Err(SpdyError::Malformed("unknown")),
        })
    }

    /// Decode the frame at the front of `buf`: `Ok(None)` when more bytes are needed, else the
    /// frame and the number of bytes it used.
    pub fn decode(&mut self, buf: &[u8]) -> Result<Option<(Frame, usize)>, SpdyError> {
        if buf.len() < 8 {
            return Ok(None);
        }
        let word = be32(buf, 4).unwrap_or(0);
        let flags = (word >> 24) as u8;
        let len = (word & 0xFF_FFFF) as usize;
        if len > MAX_FRAME {
            return Err(SpdyError::TooLarge(len));
        }
        if buf.len() < 8 + len {
            return Ok(None);
        }
        let body = &buf[8..8 + len];
        let total = 8 + len;
        let first = be32(buf, 0).unwrap_or(0);
        if first & 0x8000_0000 == 0 {
            return Ok(Some((
                Frame::Data {
                    stream_id: first & 0x7FFF_FFFF,
                    flags,
                    data: body.to_vec(),
                },
                total,
            )));
        }
        let version = ((first >> 16) & 0x7FFF) as u16;
        if version != VERSION {
            return Err(SpdyError::Version(version));
        }
        let kind = (first & 0xFFFF) as u16;
        let id = |name| {
            be32(body, 0)
                .map(|v| v & 0x7FFF_FFFF)
                .ok_or(SpdyError::Malformed(name))
        };
        let frame = match kind {
            1 => {
                if body.len() < 10 {
                    return Err(SpdyError::Malformed("SYN_STREAM"));
                }
                Frame::SynStream {
                    stream_id: id("SYN_STREAM")?,
                    associated: be32(body, 4).unwrap_or(0) & 0x7FFF_FFFF,
                    priority: body[8] >> 5,
                    flags,
                    headers: self.decompress_headers(&body[10..])?,
                }
            }
            2 => Frame::SynReply {
                stream_id: id("SYN_REPLY")?,
                flags,
                headers: self.decompress_headers(body.get(4..).unwrap_or(&[]))?,
            },
            3 => Frame::RstStream {
                stream_id: id("RST_STREAM")?,
                status: be32(body, 4).ok_or(SpdyError::Malformed("RST_STREAM"))?,
            },
            4 => {
                let n = be32(body, 0).ok_or(SpdyError::Malformed("SETTINGS"))? as usize;
                let mut entries = Vec::new();
                for i in 0..n.min(len / 8) {
                    let a = be32(body, 4 + i * 8).ok_or(SpdyError::Malformed("SETTINGS"))?;
                    let v = be32(body, 8 + i * 8).ok_or(SpdyError::Malformed("SETTINGS"))?;
                    entries.push(((a >> 24) as u8, a & 0xFF_FFFF, v));
                }
                Frame::Settings { entries }
            }
            6 => Frame::Ping(be32(body, 0).ok_or(SpdyError::Malformed("PING"))?),
            7 => Frame::GoAway {
                last_stream_id: id("GOAWAY")?,
                status: be32(body, 4).unwrap_or(0),
            },
            8 => Frame::Headers {
                stream_id: id("HEADERS")?,
                flags,
                headers: self.decompress_headers(body.get(4..).unwrap_or(&[]))?,
            },
            9 => Frame::WindowUpdate {
                stream_id: id("WINDOW_UPDATE")?,
                delta: be32(body, 4).ok_or(SpdyError::Malformed("WINDOW_UPDATE"))? & 0x7FFF_FFFF,
            },
            other => Frame::Unknown(other),
        };
        Ok(Some((frame, total)))
    }
}

/// The first value of a header (names compare case-insensitively).
pub fn header<'a>(h: &'a Headers, name: &str) -> Option<&'a str> {
    h.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdrs(pairs: &[(&str, &str)]) -> Headers {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn dictionary_is_the_spdy3_one() {
        let d = dictionary();
        assert_eq!(d.len(), 1423);
        assert!(d.starts_with(b"\0\0\0\x07options\0\0\0\x04head"));
        assert!(d.ends_with(b"utf-,*,enq=0."));
    }

    #[test]
    fn frames_round_trip_with_shared_compression_state() {
        let mut client = Codec::new();
        let mut server = Codec::new();
        let frames = vec![
            Frame::SynStream {
                stream_id: 1,
                associated: 0,
                priority: 0,
                flags: 0,
                headers: hdrs(&[
                    ("streamtype", "error"),
                    ("port", "8080"),
                    ("requestid", "0"),
                ]),
            },
            Frame::SynStream {
                stream_id: 3,
                associated: 0,
                priority: 2,
                flags: FLAG_FIN,
                headers: hdrs(&[("streamtype", "data"), ("port", "8080"), ("requestid", "0")]),
            },
            Frame::SynReply {
                stream_id: 3,
                flags: 0,
                headers: Vec::new(),
            },
            Frame::Data {
                stream_id: 3,
                flags: FLAG_FIN,
                data: b"GET / HTTP/1.0\r\n\r\n".to_vec(),
            },
            Frame::RstStream {
                stream_id: 5,
                status: RST_CANCEL,
            },
            Frame::Settings {
                entries: vec![(0, 7, 65536)],
            },
            Frame::Ping(7),
            Frame::GoAway {
                last_stream_id: 3,
                status: 0,
            },
            Frame::WindowUpdate {
                stream_id: 3,
                delta: 4096,
            },
            Frame::Headers {
                stream_id: 3,
                flags: 0,
                headers: hdrs(&[("x", "1"), ("x", "2")]),
            },
        ];
        let mut wire = Vec::new();
        for f in &frames {
            wire.extend(client.encode(f).unwrap());
        }
        let mut at = 0;
        let mut decoded = Vec::new();
        // Feed byte by byte at first to prove partial input is handled.
        while at < wire.len() {
            assert!(server
                .decode(&wire[at..at + 3.min(wire.len() - at)])
                .unwrap()
                .is_none());
            let (f, used) = server.decode(&wire[at..]).unwrap().unwrap();
            decoded.push(f);
            at += used;
        }
        assert_eq!(decoded, frames);
    }

    #[test]
    fn decodes_a_block_compressed_by_plain_zlib_with_the_dictionary() {
        // What Go's zlib.NewWriterLevelDict produces: a standard zlib stream with FDICT.
        let mut raw = Vec::new();
        raw.extend_from_slice(&1u32.to_be_bytes());
        for s in ["streamtype", "data"] {
            raw.extend_from_slice(&(s.len() as u32).to_be_bytes());
            raw.extend_from_slice(s.as_bytes());
        }
        let mut c = Compress::new(Compression::best(), true);
        c.set_dictionary(dictionary()).unwrap();
        let mut block = Vec::with_capacity(256);
        c.compress_vec(&raw, &mut block, FlushCompress::Sync)
            .unwrap();
        assert_eq!(block[1] & 0x20, 0x20, "FDICT flag set");
        let mut d = Codec::new();
        assert_eq!(
            d.decompress_headers(&block).unwrap(),
            hdrs(&[("streamtype", "data")])
        );
    }
}
