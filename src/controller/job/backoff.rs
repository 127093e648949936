//! Pod failure backoff of a Job: after `n` consecutive failures (since the last success) no
//! replacement pod is created until 10 s · 2^(n-1) (at most 10 min) after the last failure.
//!
//! Contract: records live in memory per Job key, as in kube-controller-manager (a restart
//! forgets them); a record only moves forward when the pods it was built from got counted.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;

use super::pods::finished_at;

pub const DEFAULT_BACKOFF: Duration = Duration::from_secs(10);
pub const MAX_BACKOFF: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Record {
    pub failures_after_last_success: u32,
    pub last_failure: Option<i64>,
}

impl Record {
    /// The record after newly finished pods (Kubernetes' `newBackoffRecord`): a success
    /// resets the count to the failures that finished after the last success.
    pub fn advance(self, succeeded: &[&Value], failed: &[&Value]) -> Record {
        let mut fails: Vec<i64> = failed.iter().map(|p| finished_at(p)).collect();
        fails.sort_unstable();
        let Some(last_success) = succeeded.iter().map(|p| finished_at(p)).max() else {
            return match fails.last() {
                None => self,
                Some(&last) => Record {
                    failures_after_last_success: self.failures_after_last_success
                        + fails.len() as u32,
                    last_failure: Some(last),
                },
            };
        };
        let after: Vec<i64> = fails.into_iter().filter(|t| *t > last_success).collect();
        Record {
            failures_after_last_success: after.len() as u32,
            last_failure: after.last().copied(),
        }
    }

    /// How long until a replacement pod may be created.
    pub fn remaining(&self, now: i64) -> Duration {
        let (n, Some(last)) = (self.failures_after_last_success, self.last_failure) else {
            return Duration::ZERO;
        };
        if n == 0 {
            return Duration::ZERO;
        }
        let mut backoff = DEFAULT_BACKOFF;
        for _ in 1..n {
            backoff *= 2;
            if backoff >= MAX_BACKOFF {
                backoff = MAX_BACKOFF;
                break;
            }
        }
        let elapsed = Duration::from_secs(u64::try_from(now - last).unwrap_or(0));
        backoff.saturating_sub(elapsed)
    }
}

/// The records of every Job, by key.
#[derive(Default)]
pub struct Store {
    records: Mutex<HashMap<String, Record>>,
}

impl Store {
    pub fn get(&self, key: &str) -> Record {
        self.lock().get(key).copied().unwrap_or_default()
    }

    pub fn set(&self, key: &str, r: Record) {
        self.lock().insert(key.to_string(), r);
    }

    pub fn remove(&self, key: &str) {
        self.lock().remove(key);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Record>> {
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod_finished(at: &str) -> Value {
        json!({"status": {"containerStatuses": [
            {"state": {"terminated": {"finishedAt": at}}}]}})
    }

    #[test]
    fn doubles_from_ten_seconds() {
        let t = |s: &str| crate::clock::parse_rfc3339(s).unwrap();
        let f1 = pod_finished("2026-01-01T00:00:00Z");
        let f2 = pod_finished("2026-01-01T00:00:15Z");
        let r = Record::default().advance(&[], &[&f1]);
        assert_eq!(
            r.remaining(t("2026-01-01T00:00:04Z")),
            Duration::from_secs(6)
        );
        assert_eq!(r.remaining(t("2026-01-01T00:00:10Z")), Duration::ZERO);
        let r = r.advance(&[], &[&f2]);
        assert_eq!(r.failures_after_last_success, 2);
        assert_eq!(
            r.remaining(t("2026-01-01T00:00:15Z")),
            Duration::from_secs(20)
        );
        let many = Record {
            failures_after_last_success: 12,
            last_failure: Some(0),
        };
        assert_eq!(many.remaining(0), MAX_BACKOFF);
    }

    #[test]
    fn success_resets_to_later_failures() {
        let s = pod_finished("2026-01-01T00:00:10Z");
        let before = pod_finished("2026-01-01T00:00:05Z");
        let after = pod_finished("2026-01-01T00:00:20Z");
        let r = Record {
            failures_after_last_success: 3,
            last_failure: Some(0),
        };
        let r = r.advance(&[&s], &[&before, &after]);
        assert_eq!(r.failures_after_last_success, 1);
        assert_eq!(
            r.last_failure,
            crate::clock::parse_rfc3339("2026-01-01T00:00:20Z")
        );
        assert_eq!(r.advance(&[&s], &[]), Record::default());
    }
}
