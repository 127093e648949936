//! The protobuf wire format: field keys, varints and length-delimited payloads.
//!
//! Contract: [`Reader`] never reads past its buffer; every malformed input (truncated varint or
//! fixed-width value, a varint over ten bytes or 64 bits, a length past the end, field number 0,
//! group wire types) is a `Malformed` error rather than a panic.

use super::{ProtobufError, Result};

pub(super) const WIRE_VARINT: u8 = 0;
const WIRE_I64: u8 = 1;
pub(super) const WIRE_LEN: u8 = 2;
const WIRE_I32: u8 = 5;

/// One field's wire payload before conversion.
#[derive(Clone, Copy)]
pub(super) enum Raw<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

/// A cursor over one message's bytes.
pub(super) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Whether every byte has been consumed.
    pub(super) fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub(super) fn varint(&mut self) -> Result<u64> {
        let mut value = 0u64;
        for i in 0..10 {
            let Some(&byte) = self.buf.get(self.pos) else {
                return Err(ProtobufError::malformed("truncated varint"));
            };
            self.pos += 1;
            // The tenth byte may only carry the single remaining bit of a u64.
            if i == 9 && byte > 1 {
                return Err(ProtobufError::malformed("varint overflows 64 bits"));
            }
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err(ProtobufError::malformed("varint longer than 10 bytes"))
    }

    /// Next field key as (field number, wire type); `None` at the end of the message.
    pub(super) fn key(&mut self) -> Result<Option<(u64, u8)>> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let num = key >> 3;
        if num == 0 {
            return Err(ProtobufError::malformed("field number 0"));
        }
        // Masked to three bits, so the cast cannot truncate.
        Ok(Some((num, (key & 7) as u8)))
    }

    pub(super) fn bytes(&mut self) -> Result<&'a [u8]> {
        let len = self.varint()?;
        let remaining = self.buf.len() - self.pos;
        let len = usize::try_from(len)
            .ok()
            .filter(|&len| len <= remaining)
            .ok_or_else(|| ProtobufError::malformed("length runs past the end of the input"))?;
        let out = &self.buf[self.pos..self.pos + len];
        self.pos += len;
        Ok(out)
    }

    pub(super) fn fixed(&mut self, width: usize) -> Result<()> {
        if self.buf.len() - self.pos < width {
            return Err(ProtobufError::malformed("truncated fixed-width value"));
        }
        self.pos += width;
        Ok(())
    }

    /// Skips a field this decoder does not know, as a JSON decoder skips unknown keys.
    pub(super) fn skip(&mut self, wire: u8) -> Result<()> {
        match wire {
            WIRE_VARINT => self.varint().map(drop),
            WIRE_I64 => self.fixed(8),
            WIRE_LEN => self.bytes().map(drop),
            WIRE_I32 => self.fixed(4),
            // Groups (3, 4) never appear in Kubernetes messages; 6 and 7 are not wire types.
            other => Err(ProtobufError::malformed(format!(
                "unsupported wire type {other}"
            ))),
        }
    }
}

pub(super) fn utf8(bytes: &[u8]) -> Result<String> {
    std::str::from_utf8(bytes)
        .map(str::to_owned)
        .map_err(|_| ProtobufError::malformed("string is not valid utf-8"))
}

/// A minimal encoder, the inverse of [`Reader`], so tests can build malformed and edge-case
/// bodies by hand.
#[cfg(test)]
pub(super) mod encode {
    pub fn varint(mut v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(byte);
                return out;
            }
            out.push(byte | 0x80);
        }
    }

    /// Varint field.
    pub fn vf(num: u64, v: u64) -> Vec<u8> {
        [varint(num << 3), varint(v)].concat()
    }

    /// Length-delimited field.
    pub fn lf(num: u64, bytes: &[u8]) -> Vec<u8> {
        [
            varint(num << 3 | 2),
            varint(bytes.len() as u64),
            bytes.to_vec(),
        ]
        .concat()
    }

    /// String field.
    pub fn sf(num: u64, s: &str) -> Vec<u8> {
        lf(num, s.as_bytes())
    }
}
