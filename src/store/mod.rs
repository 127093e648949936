//! The state store: a revisioned key-value store on LMDB (via heed) that knows nothing of Kubernetes.
//!
//! Contract:
//! - Keys are byte strings; values opaque bytes. Every successful write gets the next value of one
//!   global revision counter; a record remembers the revision that created it and the one that last
//!   modified it (`create_rev`, `mod_rev`).
//! - Writes are conditional (create-if-absent, update/delete-if-`mod_rev`-matches) and are
//!   acknowledged only after the LMDB commit that contains them has been fsynced. Concurrent writers
//!   are batched by one writer thread into shared commits (group commit), so an acknowledged write
//!   survives `kill -9` and the store always opens cleanly (LMDB is copy-on-write).
//! - Reads (`get`, `list`) see a consistent snapshot and report the revision of that snapshot.
//! - Every write is appended to a change log keyed by revision. Watches replay the log from any
//!   revision newer than the compaction point and then follow live changes from an in-memory event
//!   cache shared by all watchers; older revisions fail with [`StoreError::Compacted`]. The log is
//!   compacted to the newest [`Options::retain_revisions`] entries inside the writer's own
//!   transactions, so disk use stays flat under steady load and an idle store writes nothing.

mod cache;
mod codec;
mod lmdb;
mod watch;
mod writer;

use std::path::Path;
use std::sync::Arc;

pub use self::cache::{Event, EventKind};
pub use self::lmdb::Record;
pub use self::watch::Watcher;
pub use self::writer::{Op, OpOutcome};

/// Errors of the state store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("lmdb: {0}")]
    Lmdb(#[from] heed::Error),
    #[error("store directory {path}: {source}")]
    Dir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("corrupt store record at {0}")]
    Corrupt(String),
    #[error("revision {requested} has been compacted (oldest retained is {oldest})")]
    Compacted { requested: u64, oldest: u64 },
    #[error("the store writer has stopped")]
    WriterGone,
}

/// Tunables of a store.
#[derive(Debug, Clone)]
pub struct Options {
    /// How many of the newest change-log entries are kept for watches.
    pub retain_revisions: u64,
    /// How many recent events the in-memory cache keeps for live watchers.
    pub cache_events: usize,
    /// Virtual size reserved for the LMDB map.
    pub map_size: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            retain_revisions: 20_000,
            cache_events: 4_096,
            // LMDB reserves address space, not disk; 32-bit boards cannot reserve much.
            map_size: if cfg!(target_pointer_width = "64") {
                32 << 30
            } else {
                1 << 30
            },
        }
    }
}

/// A handle to an open store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: Arc<lmdb::Db>,
    cache: Arc<cache::EventCache>,
    writer: writer::WriterHandle,
}

impl Store {
    /// Open (or create) the store in `dir`.
    pub fn open(dir: &Path, opts: Options) -> Result<Store, StoreError> {
        let db = Arc::new(lmdb::Db::open(dir, &opts)?);
        let (rev, compacted) = db.revisions()?;
        let cache = Arc::new(cache::EventCache::new(opts.cache_events, rev, compacted));
        let writer = writer::spawn(db.clone(), cache.clone(), opts.retain_revisions)?;
        Ok(Store { db, cache, writer })
    }

    /// The newest committed revision.
    pub fn revision(&self) -> u64 {
        self.cache.revision()
    }

    /// The oldest revision a watch can start after.
    pub fn compacted_revision(&self) -> u64 {
        self.cache.compacted()
    }

    /// Read one key at the current snapshot.
    pub fn get(&self, key: &[u8]) -> Result<(Option<Record>, u64), StoreError> {
        self.db.get(key)
    }

    /// Read every key starting with `prefix` (from `start`, exclusive of nothing: keys `>= start`),
    /// at most `limit` records, at one snapshot. Returns the records, the snapshot's revision and
    /// whether more records follow.
    pub fn list(
        &self,
        prefix: &[u8],
        start: Option<&[u8]>,
        limit: Option<usize>,
    ) -> Result<(Vec<Record>, u64, bool), StoreError> {
        self.db.list(prefix, start, limit)
    }

    /// Count the keys under `prefix`.
    pub fn count(&self, prefix: &[u8]) -> Result<usize, StoreError> {
        self.db.count(prefix)
    }

    /// Apply conditional writes; they commit together with other concurrent writes and return
    /// once durable. Outcomes come back in the order of `ops`.
    pub async fn write(&self, ops: Vec<Op>) -> Result<Vec<OpOutcome>, StoreError> {
        self.writer.submit(ops).await
    }

    /// Watch keys under `prefix` for changes after revision `after`.
    pub fn watch(&self, prefix: &[u8], after: u64) -> Result<Watcher, StoreError> {
        Watcher::new(self.db.clone(), self.cache.clone(), prefix, after)
    }

    /// On-disk size of the LMDB file.
    pub fn disk_size(&self) -> Result<u64, StoreError> {
        self.db.disk_size()
    }

    /// Stop the writer after the writes already submitted; further writes fail.
    pub fn close(&self) {
        self.writer.close();
    }
}

#[cfg(test)]
mod tests;
