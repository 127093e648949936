//! The single writer thread: batches concurrent write requests into one LMDB transaction
//! (group commit), assigns revisions, compacts the log, commits (fsync) and only then answers
//! the callers and publishes the events to watchers.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use super::cache::{Event, EventCache, EventKind};
use super::lmdb::{Db, Record};
use super::StoreError;

/// Most requests folded into one commit; bounds the latency of the first one.
const MAX_BATCH: usize = 4096;

/// One conditional write.
#[derive(Debug, Clone)]
pub enum Op {
    /// Write `value` under `key` only if the key does not exist.
    Create { key: Vec<u8>, value: Vec<u8> },
    /// Replace the value of an existing key, if `expect` is set only when its `mod_rev` matches.
    Update {
        key: Vec<u8>,
        value: Vec<u8>,
        expect: Option<u64>,
    },
    /// Remove a key, if `expect` is set only when its `mod_rev` matches.
    Delete { key: Vec<u8>, expect: Option<u64> },
}

/// The result of one [`Op`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpOutcome {
    /// Written. For puts the record as stored; for deletes the removed record. The second
    /// field is the revision of this write.
    Done(Record, u64),
    /// `Create` found the key present.
    Exists(Record),
    /// `Update`/`Delete` found no such key.
    Missing,
    /// `Update`/`Delete` found a different `mod_rev`; the current record.
    Conflict(Record),
}

type Reply = smol::channel::Sender<Result<Vec<OpOutcome>, StoreError>>;

struct Request {
    ops: Vec<Op>,
    reply: Reply,
}

#[derive(Clone)]
pub struct WriterHandle {
    tx: Arc<Mutex<Option<mpsc::Sender<Request>>>>,
}

impl WriterHandle {
    pub async fn submit(&self, ops: Vec<Op>) -> Result<Vec<OpOutcome>, StoreError> {
        let (reply, rx) = smol::channel::bounded(1);
        {
            let guard = self.tx.lock().unwrap_or_else(|e| e.into_inner());
            let tx = guard.as_ref().ok_or(StoreError::WriterGone)?;
            tx.send(Request { ops, reply })
                .map_err(|_| StoreError::WriterGone)?;
        }
        rx.recv().await.map_err(|_| StoreError::WriterGone)?
    }

    pub fn close(&self) {
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

pub fn spawn(db: Arc<Db>, cache: Arc<EventCache>, retain: u64) -> Result<WriterHandle, StoreError> {
    let (tx, rx) = mpsc::channel::<Request>();
    let (mut rev, mut compacted) = db.revisions()?;
    std::thread::Builder::new()
        .name("kedge-store-writer".into())
        .spawn(move || {
            while let Ok(first) = rx.recv() {
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(r) => batch.push(r),
                        Err(_) => break,
                    }
                }
                match commit_batch(&db, &batch, rev, compacted, retain) {
                    Ok((outcomes, events, new_rev, new_compacted)) => {
                        rev = new_rev;
                        compacted = new_compacted;
                        cache.publish(events, rev, compacted);
                        for (req, out) in batch.into_iter().zip(outcomes) {
                            let _ = req.reply.send_blocking(Ok(out));
                        }
                    }
                    Err(e) => {
                        let msg = e.to_string();
                        for req in batch {
                            let _ = req.reply.send_blocking(Err(StoreError::Corrupt(format!(
                                "commit failed: {msg}"
                            ))));
                        }
                    }
                }
            }
        })
        .map_err(|source| StoreError::Dir {
            path: "writer thread".into(),
            source,
        })?;
    Ok(WriterHandle {
        tx: Arc::new(Mutex::new(Some(tx))),
    })
}

type BatchResult = (Vec<Vec<OpOutcome>>, Vec<Event>, u64, u64);

fn commit_batch(
    db: &Db,
    batch: &[Request],
    mut rev: u64,
    mut compacted: u64,
    retain: u64,
) -> Result<BatchResult, StoreError> {
    let start_rev = rev;
    let mut txn = db.write_txn()?;
    let mut outcomes = Vec::with_capacity(batch.len());
    let mut events = Vec::new();
    for req in batch {
        let mut outs = Vec::with_capacity(req.ops.len());
        for op in &req.ops {
            let out = match op {
                Op::Create { key, value } => match db.txn_get(&txn, key)? {
                    Some(cur) => OpOutcome::Exists(cur),
                    None => {
                        rev += 1;
                        db.txn_put(&mut txn, key, value, rev, rev)?;
                        let value: Arc<[u8]> = Arc::from(value.as_slice());
                        events.push(event(EventKind::Put, key, value.clone(), None, rev, rev));
                        OpOutcome::Done(record(key, value, rev, rev), rev)
                    }
                },
                Op::Update { key, value, expect } => match db.txn_get(&txn, key)? {
                    None => OpOutcome::Missing,
                    Some(cur) if expect.is_some_and(|e| e != cur.mod_rev) => {
                        OpOutcome::Conflict(cur)
                    }
                    Some(cur) => {
                        rev += 1;
                        db.txn_put(&mut txn, key, value, cur.create_rev, rev)?;
                        let value: Arc<[u8]> = Arc::from(value.as_slice());
                        events.push(event(
                            EventKind::Put,
                            key,
                            value.clone(),
                            Some(cur.value),
                            cur.create_rev,
                            rev,
                        ));
                        OpOutcome::Done(record(key, value, cur.create_rev, rev), rev)
                    }
                },
                Op::Delete { key, expect } => match db.txn_get(&txn, key)? {
                    None => OpOutcome::Missing,
                    Some(cur) if expect.is_some_and(|e| e != cur.mod_rev) => {
                        OpOutcome::Conflict(cur)
                    }
                    Some(cur) => {
                        rev += 1;
                        db.txn_delete(&mut txn, key, &cur.value, cur.create_rev, rev)?;
                        events.push(event(
                            EventKind::Delete,
                            key,
                            cur.value.clone(),
                            Some(cur.value.clone()),
                            cur.create_rev,
                            rev,
                        ));
                        OpOutcome::Done(cur, rev)
                    }
                },
            };
            outs.push(out);
        }
        outcomes.push(outs);
    }
    if rev != start_rev {
        db.txn_set_rev(&mut txn, rev)?;
        // Compact in chunks of a tenth of the retained window so each commit stays small.
        if rev.saturating_sub(compacted) > retain + retain / 10 {
            compacted = rev - retain;
            db.txn_compact(&mut txn, compacted)?;
        }
        txn.commit()?;
    } else {
        txn.abort();
    }
    Ok((outcomes, events, rev, compacted))
}

fn record(key: &[u8], value: Arc<[u8]>, create_rev: u64, mod_rev: u64) -> Record {
    Record {
        key: key.to_vec(),
        value,
        create_rev,
        mod_rev,
    }
}

fn event(
    kind: EventKind,
    key: &[u8],
    value: Arc<[u8]>,
    prev: Option<Arc<[u8]>>,
    create_rev: u64,
    rev: u64,
) -> Event {
    Event {
        kind,
        key: Arc::from(key),
        value,
        prev,
        create_rev,
        rev,
    }
}
