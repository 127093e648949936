//! The in-memory event cache: the newest committed changes, shared by every watcher so that a
//! hundred watchers cost one store read. Invariant: `events` holds consecutive committed events
//! in revision order, all newer than `compacted`; every revision is exactly one event, so once
//! anything was written since start the last event has revision `rev`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// What happened to a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Put,
    Delete,
}

/// One committed change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    pub key: Arc<[u8]>,
    /// The new value of a put; the last value of a deleted key.
    pub value: Arc<[u8]>,
    /// The value before this change, when known (live events only; replayed log entries do
    /// not carry it).
    pub prev: Option<Arc<[u8]>>,
    pub create_rev: u64,
    pub rev: u64,
}

struct State {
    events: VecDeque<Arc<Event>>,
    rev: u64,
    compacted: u64,
}

pub struct EventCache {
    capacity: usize,
    state: Mutex<State>,
    pub(super) changed: event_listener::Event,
}

/// What a watcher finds in the cache after a revision.
pub enum Lookup {
    /// Events newer than the asked revision up to the cache's revision (the second field),
    /// possibly none.
    Events(Vec<Arc<Event>>, u64),
    /// The cache no longer reaches back that far: read the log up to `upto` first.
    Gap { upto: u64 },
    /// The revision was compacted away.
    Compacted { oldest: u64 },
}

impl EventCache {
    pub fn new(capacity: usize, rev: u64, compacted: u64) -> EventCache {
        EventCache {
            capacity: capacity.max(1),
            state: Mutex::new(State {
                events: VecDeque::new(),
                rev,
                compacted,
            }),
            changed: event_listener::Event::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the deque half-updated in a way that
        // matters (pushes are single operations), so recover from poisoning.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn revision(&self) -> u64 {
        self.lock().rev
    }

    pub fn compacted(&self) -> u64 {
        self.lock().compacted
    }

    /// Publish events of one committed transaction (in revision order).
    pub fn publish(&self, events: Vec<Event>, rev: u64, compacted: u64) {
        let mut st = self.lock();
        for e in events {
            st.events.push_back(Arc::new(e));
        }
        while st.events.len() > self.capacity {
            st.events.pop_front();
        }
        st.rev = rev;
        st.compacted = compacted;
        drop(st);
        self.changed.notify(usize::MAX);
    }

    /// Events after revision `after` whose key starts with `prefix`.
    pub fn after(&self, prefix: &[u8], after: u64) -> Lookup {
        let st = self.lock();
        if after < st.compacted {
            return Lookup::Compacted {
                oldest: st.compacted,
            };
        }
        if after >= st.rev {
            return Lookup::Events(Vec::new(), st.rev);
        }
        let first = st.events.front().map(|e| e.rev).unwrap_or(st.rev + 1);
        if after + 1 < first {
            return Lookup::Gap { upto: first - 1 };
        }
        let skip = (after + 1 - first) as usize;
        let out = st
            .events
            .iter()
            .skip(skip)
            .filter(|e| e.key.starts_with(prefix))
            .cloned()
            .collect();
        Lookup::Events(out, st.rev)
    }
}
