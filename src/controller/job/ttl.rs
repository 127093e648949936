//! `spec.ttlSecondsAfterFinished` (the TTL-after-finished controller's rule): a finished Job
//! is deleted, with its dependents in the background, that long after its terminal
//! condition's transition.

use std::time::Duration;

use serde_json::Value;

use super::status::JobStatus;
use crate::clock::parse_rfc3339;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ttl {
    /// No TTL, not finished, or already being deleted.
    Keep,
    /// Look again after this long.
    Wait(Duration),
    Expired,
}

pub fn check(job: &Value, status: &JobStatus, now: i64) -> Ttl {
    let Some(ttl) = job
        .pointer("/spec/ttlSecondsAfterFinished")
        .and_then(Value::as_i64)
    else {
        return Ttl::Keep;
    };
    if job.pointer("/metadata/deletionTimestamp").is_some() {
        return Ttl::Keep;
    }
    let Some(finished) = status
        .finished()
        .and_then(|c| c.last_transition_time.as_deref())
        .and_then(parse_rfc3339)
    else {
        return Ttl::Keep;
    };
    match finished + ttl - now {
        left if left <= 0 => Ttl::Expired,
        left => Ttl::Wait(Duration::from_secs(left as u64)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn expires_ttl_after_the_terminal_condition() {
        let job = json!({"spec": {"ttlSecondsAfterFinished": 30}, "status": {"conditions": [
            {"type": "Complete", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}});
        let st = JobStatus::of(&job);
        let t0 = parse_rfc3339("2026-01-01T00:00:00Z").unwrap();
        assert_eq!(
            check(&job, &st, t0 + 10),
            Ttl::Wait(Duration::from_secs(20))
        );
        assert_eq!(check(&job, &st, t0 + 30), Ttl::Expired);
        let mut deleting = job.clone();
        deleting["metadata"] = json!({"deletionTimestamp": "2026-01-01T00:00:40Z"});
        assert_eq!(check(&deleting, &st, t0 + 40), Ttl::Keep);
        let running = json!({"spec": {"ttlSecondsAfterFinished": 0}});
        assert_eq!(check(&running, &JobStatus::of(&running), t0), Ttl::Keep);
    }
}
