//! On-disk encodings of the store's own structures (postcard), kept in one place so the format is
//! easy to audit. Values of records are opaque bytes and stored as given.

use serde::{Deserialize, Serialize};

/// The envelope stored under each live key.
#[derive(Debug, Serialize, Deserialize)]
pub struct Envelope<'a> {
    pub create_rev: u64,
    pub mod_rev: u64,
    #[serde(borrow)]
    pub value: &'a [u8],
}

/// One change-log entry, keyed by its revision.
#[derive(Debug, Serialize, Deserialize)]
pub struct LogEntry<'a> {
    /// 0 = put, 1 = delete.
    pub kind: u8,
    #[serde(borrow)]
    pub key: &'a [u8],
    pub create_rev: u64,
    /// The new value for a put; the last value for a delete.
    #[serde(borrow)]
    pub value: &'a [u8],
}

pub fn rev_key(rev: u64) -> [u8; 8] {
    rev.to_be_bytes()
}
