//! The LMDB environment and its three databases: `kv` (live records), `log` (changes by revision)
//! and `meta` (current and compacted revision). All heed calls of the store live here.

use std::path::Path;
use std::sync::Arc;

use heed::types::Bytes;
use heed::{CommitOrAbort, Database, Env, EnvOpenOptions, RwTxn, WithoutTls};

use super::codec::{rev_key, Envelope, LogEntry};
use super::{Options, StoreError};

const META_REV: &[u8] = b"rev";
const META_COMPACTED: &[u8] = b"compacted";

/// A live record as read from the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub key: Vec<u8>,
    pub value: Arc<[u8]>,
    pub create_rev: u64,
    pub mod_rev: u64,
}

type Raw = Database<'static, Bytes, Bytes>;

pub struct Db {
    env: Env<WithoutTls>,
    kv: Raw,
    log: Raw,
    meta: Raw,
}

fn decode_envelope(key: &[u8], bytes: &[u8]) -> Result<Record, StoreError> {
    let env: Envelope = postcard::from_bytes(bytes)
        .map_err(|_| StoreError::Corrupt(String::from_utf8_lossy(key).into_owned()))?;
    Ok(Record {
        key: key.to_vec(),
        value: Arc::from(env.value),
        create_rev: env.create_rev,
        mod_rev: env.mod_rev,
    })
}

fn read_u64(bytes: Option<&[u8]>) -> u64 {
    bytes
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0)
}

impl Db {
    pub fn open(dir: &Path, opts: &Options) -> Result<Db, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Dir {
            path: dir.display().to_string(),
            source,
        })?;
        let mut builder = EnvOpenOptions::new().read_txn_without_tls();
        builder.map_size(opts.map_size).max_dbs(4).max_readers(1024);
        // SAFETY: heed requires that the same environment is not opened twice in one process
        // and that the file is not modified by other means; the store owns `dir` exclusively
        // (the server takes a lock on its data dir) and opens it once per process.
        let env = unsafe { builder.open(dir)? };
        let wtxn = env.write_txn()?;
        let (kv, log, meta) = env
            .create_databases_and_commit(wtxn, |opener, wtxn| -> Result<_, heed::Error> {
                let kv = opener.create_database::<Bytes, Bytes>(wtxn, Some("kv"))?;
                let log = opener.create_database::<Bytes, Bytes>(wtxn, Some("log"))?;
                let meta = opener.create_database::<Bytes, Bytes>(wtxn, Some("meta"))?;
                Ok(CommitOrAbort::<_, ()>::Commit((kv, log, meta)))
            })?
            .unwrap_commit();
        Ok(Db { env, kv, log, meta })
    }

    /// (current revision, compacted revision).
    pub fn revisions(&self) -> Result<(u64, u64), StoreError> {
        let rtxn = self.env.read_txn()?;
        let rev = read_u64(self.meta.get(&rtxn, META_REV)?);
        let compacted = read_u64(self.meta.get(&rtxn, META_COMPACTED)?);
        Ok((rev, compacted))
    }

    pub fn get(&self, key: &[u8]) -> Result<(Option<Record>, u64), StoreError> {
        let rtxn = self.env.read_txn()?;
        let rev = read_u64(self.meta.get(&rtxn, META_REV)?);
        let rec = match self.kv.get(&rtxn, key)? {
            Some(bytes) => Some(decode_envelope(key, bytes)?),
            None => None,
        };
        Ok((rec, rev))
    }

    pub fn list(
        &self,
        prefix: &[u8],
        start: Option<&[u8]>,
        limit: Option<usize>,
    ) -> Result<(Vec<Record>, u64, bool), StoreError> {
        let rtxn = self.env.read_txn()?;
        let rev = read_u64(self.meta.get(&rtxn, META_REV)?);
        let lower = match start {
            Some(s) if s > prefix => s,
            _ => prefix,
        };
        let range = (std::ops::Bound::Included(lower), std::ops::Bound::Unbounded);
        let mut out = Vec::new();
        let mut more = false;
        for item in self.kv.range(&rtxn, &range)? {
            let (k, v) = item?;
            if !k.starts_with(prefix) {
                break;
            }
            if limit.is_some_and(|l| out.len() >= l) {
                more = true;
                break;
            }
            out.push(decode_envelope(k, v)?);
        }
        Ok((out, rev, more))
    }

    pub fn count(&self, prefix: &[u8]) -> Result<usize, StoreError> {
        let rtxn = self.env.read_txn()?;
        let mut n = 0;
        for item in self.kv.prefix_iter(&rtxn, prefix)? {
            item?;
            n += 1;
        }
        Ok(n)
    }

    /// Log entries with revision in `(after, upto]` whose key starts with `prefix`.
    pub fn log_range(
        &self,
        prefix: &[u8],
        after: u64,
        upto: u64,
    ) -> Result<Vec<super::Event>, StoreError> {
        let rtxn = self.env.read_txn()?;
        let lo = rev_key(after.saturating_add(1));
        let hi = rev_key(upto);
        let range = (
            std::ops::Bound::Included(&lo[..]),
            std::ops::Bound::Included(&hi[..]),
        );
        let mut out = Vec::new();
        for item in self.log.range(&rtxn, &range)? {
            let (k, v) = item?;
            let rev = read_u64(Some(k));
            let entry: LogEntry = postcard::from_bytes(v)
                .map_err(|_| StoreError::Corrupt(format!("log entry {rev}")))?;
            if !entry.key.starts_with(prefix) {
                continue;
            }
            out.push(super::Event {
                kind: if entry.kind == 1 {
                    super::EventKind::Delete
                } else {
                    super::EventKind::Put
                },
                key: Arc::from(entry.key),
                value: Arc::from(entry.value),
                prev: None,
                create_rev: entry.create_rev,
                rev,
            });
        }
        Ok(out)
    }

    pub fn disk_size(&self) -> Result<u64, StoreError> {
        Ok(self.env.real_disk_size()?)
    }

    pub fn write_txn(&self) -> Result<RwTxn<'_>, StoreError> {
        Ok(self.env.write_txn()?)
    }

    pub fn txn_get(&self, txn: &RwTxn, key: &[u8]) -> Result<Option<Record>, StoreError> {
        match self.kv.get(txn, key)? {
            Some(bytes) => Ok(Some(decode_envelope(key, bytes)?)),
            None => Ok(None),
        }
    }

    pub fn txn_put(
        &self,
        txn: &mut RwTxn,
        key: &[u8],
        value: &[u8],
        create_rev: u64,
        rev: u64,
    ) -> Result<(), StoreError> {
        let env = postcard::to_allocvec(&Envelope {
            create_rev,
            mod_rev: rev,
            value,
        })
        .map_err(|_| StoreError::Corrupt("encode envelope".into()))?;
        self.kv.put(txn, key, &env)?;
        self.txn_log(txn, 0, key, value, create_rev, rev)
    }

    pub fn txn_delete(
        &self,
        txn: &mut RwTxn,
        key: &[u8],
        last: &[u8],
        create_rev: u64,
        rev: u64,
    ) -> Result<(), StoreError> {
        self.kv.delete(txn, key)?;
        self.txn_log(txn, 1, key, last, create_rev, rev)
    }

    fn txn_log(
        &self,
        txn: &mut RwTxn,
        kind: u8,
        key: &[u8],
        value: &[u8],
        create_rev: u64,
        rev: u64,
    ) -> Result<(), StoreError> {
        let entry = postcard::to_allocvec(&LogEntry {
            kind,
            key,
            create_rev,
            value,
        })
        .map_err(|_| StoreError::Corrupt("encode log entry".into()))?;
        self.log.put(txn, &rev_key(rev), &entry)?;
        Ok(())
    }

    pub fn txn_set_rev(&self, txn: &mut RwTxn, rev: u64) -> Result<(), StoreError> {
        self.meta.put(txn, META_REV, &rev.to_be_bytes())?;
        Ok(())
    }

    /// Drop log entries with revision `<= upto` and record the new compaction point.
    pub fn txn_compact(&self, txn: &mut RwTxn, upto: u64) -> Result<(), StoreError> {
        let hi = rev_key(upto);
        let range = (
            std::ops::Bound::Unbounded,
            std::ops::Bound::Included(&hi[..]),
        );
        self.log.delete_range(txn, &range)?;
        self.meta.put(txn, META_COMPACTED, &upto.to_be_bytes())?;
        Ok(())
    }
}
