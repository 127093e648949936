//! A de-duplicating, rate-limited work queue (client-go's workqueue semantics).
//!
//! Invariants: a key is at most once in `queue`; every key in `queue` is in `dirty`; a key being
//! processed is in `processing` and not in `queue`; a key added while processing is put back
//! once `done` is called, so two workers never hold the same key.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const BASE_DELAY: Duration = Duration::from_millis(5);
const MAX_DELAY: Duration = Duration::from_secs(300);

#[derive(Default)]
struct State {
    queue: VecDeque<String>,
    dirty: HashSet<String>,
    processing: HashSet<String>,
    failures: HashMap<String, u32>,
    shut: bool,
}

#[derive(Clone, Default)]
pub struct Queue {
    state: Arc<Mutex<State>>,
    ready: Arc<event_listener::Event>,
}

impl Queue {
    pub fn new() -> Queue {
        Queue::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn add(&self, key: &str) {
        let mut st = self.lock();
        if st.shut || !st.dirty.insert(key.to_string()) {
            return;
        }
        if !st.processing.contains(key) {
            st.queue.push_back(key.to_string());
            drop(st);
            self.ready.notify(1);
        }
    }

    /// Add after a delay (timers run on the runtime; the key stays de-duplicated on arrival).
    pub fn add_after(&self, key: &str, delay: Duration) {
        if delay.is_zero() {
            return self.add(key);
        }
        let q = self.clone();
        let key = key.to_string();
        crate::rt::spawn(async move {
            async_io::Timer::after(delay).await;
            q.add(&key);
        })
        .detach();
    }

    /// Requeue with per-key exponential backoff (5 ms doubling up to 5 min).
    pub fn add_rate_limited(&self, key: &str) {
        let n = {
            let mut st = self.lock();
            let n = st.failures.entry(key.to_string()).or_insert(0);
            *n += 1;
            *n
        };
        let delay = BASE_DELAY
            .checked_mul(
                1u32.checked_shl(n.saturating_sub(1).min(20))
                    .unwrap_or(u32::MAX),
            )
            .unwrap_or(MAX_DELAY)
            .min(MAX_DELAY);
        self.add_after(key, delay);
    }

    /// Reset a key's backoff after a successful sync.
    pub fn forget(&self, key: &str) {
        self.lock().failures.remove(key);
    }

    pub fn failures(&self, key: &str) -> u32 {
        self.lock().failures.get(key).copied().unwrap_or(0)
    }

    /// The next key to process; `None` once shut down.
    pub async fn get(&self) -> Option<String> {
        loop {
            let listener = self.ready.listen();
            {
                let mut st = self.lock();
                if let Some(k) = st.queue.pop_front() {
                    st.dirty.remove(&k);
                    st.processing.insert(k.clone());
                    return Some(k);
                }
                if st.shut {
                    return None;
                }
            }
            listener.await;
        }
    }

    /// Finish processing a key; re-queue it if it was added meanwhile.
    pub fn done(&self, key: &str) {
        let mut st = self.lock();
        st.processing.remove(key);
        if st.dirty.contains(key) {
            st.queue.push_back(key.to_string());
            drop(st);
            self.ready.notify(1);
        }
    }

    pub fn shutdown(&self) {
        self.lock().shut = true;
        self.ready.notify(usize::MAX);
    }

    pub fn len(&self) -> usize {
        self.lock().queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deduplicates_and_never_hands_out_a_key_twice_at_once() {
        smol::block_on(async {
            let q = Queue::new();
            q.add("a");
            q.add("a");
            q.add("b");
            assert_eq!(q.len(), 2);
            let k = q.get().await.unwrap();
            assert_eq!(k, "a");
            q.add("a"); // while processing: deferred
            assert_eq!(q.len(), 1);
            assert_eq!(q.get().await.unwrap(), "b");
            q.done("b");
            q.done("a"); // re-queued now
            assert_eq!(q.get().await.unwrap(), "a");
            q.done("a");
            assert!(q.is_empty());
            q.shutdown();
            assert_eq!(q.get().await, None);
        });
    }

    #[test]
    fn backoff_grows_per_key_and_forget_resets_it() {
        let q = Queue::new();
        q.add_rate_limited("x");
        q.add_rate_limited("x");
        assert_eq!(q.failures("x"), 2);
        assert_eq!(q.failures("y"), 0);
        q.forget("x");
        assert_eq!(q.failures("x"), 0);
    }
}
