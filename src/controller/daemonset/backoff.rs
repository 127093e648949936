//! Backoff for replacing failed daemon pods (Kubernetes' `failedPodsBackoff`): a kubelet that
//! keeps rejecting a pod must not make the controller delete and recreate it in a hot loop.
//! Per (DaemonSet, generation, node) the delay starts at 1 s and doubles up to 15 min; an
//! entry idle for twice the maximum starts over. Time is the injected clock's, in seconds.

use std::collections::HashMap;
use std::sync::Mutex;

const INITIAL: i64 = 1;
const MAX: i64 = 15 * 60;

#[derive(Debug, Clone, Copy)]
struct Entry {
    delay: i64,
    last: i64,
}

#[derive(Debug, Default)]
pub struct Backoff {
    entries: Mutex<HashMap<String, Entry>>,
}

impl Backoff {
    /// Seconds still to wait for `key` at `now`, if it is backing off.
    pub fn remaining(&self, key: &str, now: i64) -> Option<i64> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let e = entries.get(key)?;
        let left = e.last + e.delay - now;
        (left > 0).then_some(left)
    }

    /// Record an attempt for `key` at `now`, lengthening its delay.
    pub fn next(&self, key: &str, now: i64) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|_, e| now - e.last <= 2 * MAX);
        let delay = match entries.get(key) {
            Some(e) => (e.delay * 2).min(MAX),
            None => INITIAL,
        };
        entries.insert(key.to_string(), Entry { delay, last: now });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_caps_and_expires() {
        let b = Backoff::default();
        assert_eq!(b.remaining("k", 0), None);
        b.next("k", 0);
        assert_eq!(b.remaining("k", 0), Some(1));
        assert_eq!(b.remaining("k", 1), None);
        b.next("k", 1);
        assert_eq!(b.remaining("k", 2), Some(1));
        for t in 3..40 {
            b.next("k", t * 1000);
        }
        assert_eq!(b.remaining("k", 39_000), Some(MAX));
        b.next("k", 39_000 + 2 * MAX + 1);
        assert_eq!(b.remaining("k", 39_000 + 2 * MAX + 1), Some(INITIAL));
    }
}
