//! A watcher: replays the change log after a revision, then follows the event cache.

use std::sync::Arc;

use super::cache::{EventCache, Lookup};
use super::lmdb::Db;
use super::{Event, StoreError};

/// Follows changes under one key prefix. Invariant: every event with revision `<= last` under
/// the prefix has been returned, and none newer.
pub struct Watcher {
    db: Arc<Db>,
    cache: Arc<EventCache>,
    prefix: Vec<u8>,
    last: u64,
}

impl Watcher {
    pub(super) fn new(
        db: Arc<Db>,
        cache: Arc<EventCache>,
        prefix: &[u8],
        after: u64,
    ) -> Result<Watcher, StoreError> {
        if let Lookup::Compacted { oldest } = cache.after(prefix, after) {
            return Err(StoreError::Compacted {
                requested: after,
                oldest,
            });
        }
        Ok(Watcher {
            db,
            cache,
            prefix: prefix.to_vec(),
            last: after,
        })
    }

    /// The revision up to which events have been delivered.
    pub fn revision(&self) -> u64 {
        self.last
    }

    /// The next non-empty batch of events, waiting for new commits as needed.
    pub async fn next(&mut self) -> Result<Vec<Arc<Event>>, StoreError> {
        loop {
            let listener = self.cache.changed.listen();
            if let Some(batch) = self.poll()? {
                return Ok(batch);
            }
            listener.await;
        }
    }

    /// Events available right now, without waiting (`None` = nothing new).
    pub fn poll(&mut self) -> Result<Option<Vec<Arc<Event>>>, StoreError> {
        loop {
            match self.cache.after(&self.prefix, self.last) {
                Lookup::Compacted { oldest } => {
                    return Err(StoreError::Compacted {
                        requested: self.last,
                        oldest,
                    })
                }
                Lookup::Gap { upto } => {
                    let events = self.db.log_range(&self.prefix, self.last, upto)?;
                    self.last = upto;
                    if !events.is_empty() {
                        return Ok(Some(events.into_iter().map(Arc::new).collect()));
                    }
                }
                Lookup::Events(events, rev) => {
                    if let Some(e) = events.last() {
                        self.last = e.rev;
                        return Ok(Some(events));
                    }
                    // Nothing under our prefix up to `rev`: move on so later lookups stay short.
                    if rev > self.last {
                        self.last = rev;
                    }
                    return Ok(None);
                }
            }
        }
    }
}
