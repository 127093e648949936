//! The decisions of one Job sync, free of I/O: what the pods say (active, ready, terminating,
//! newly finished), whether the Job must fail or has succeeded, and which pods to create or
//! delete (Kubernetes 1.33's `syncJob` and `manageJob`).
//!
//! Contract: callers pass the Job's pods (those it controls) and its current status; nothing
//! here writes. Pod creation is held back by the failure backoff; at most 500 pods are created
//! or deleted per sync; deletions and creations never happen in the same sync.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::failure_policy;
use super::indexes;
use super::pods::{
    completion_index, is_failed, is_terminating, is_tracked, restarts_of_unfinished, uid,
};
use super::status::{decided, Condition, JobStatus, FAILURE_TARGET};
use crate::clock::{parse_rfc3339, rfc3339};
use crate::controller::podutil::{deletion_rank, is_active, is_ready, phase};

/// Kubernetes' `MaxPodCreateDeletePerSync`.
const MAX_PER_SYNC: usize = 500;

/// The parts of a Job's spec the controller acts on, with API defaults applied.
#[derive(Debug, Clone)]
pub struct Spec<'a> {
    pub completions: Option<i64>,
    pub parallelism: i64,
    pub backoff_limit: i64,
    pub indexed: bool,
    pub suspend: bool,
    pub active_deadline: Option<i64>,
    pub failure_policy: Option<&'a Value>,
    /// `podReplacementPolicy: Failed`: terminating pods are neither failed nor replaced.
    pub only_failed: bool,
    /// The template restarts containers in place (`restartPolicy: OnFailure`).
    pub on_failure: bool,
    /// The Job itself is being deleted.
    pub deleting: bool,
}

impl<'a> Spec<'a> {
    pub fn of(job: &'a Value) -> Spec<'a> {
        let spec = job.get("spec").unwrap_or(&Value::Null);
        let int = |k: &str| spec.get(k).and_then(Value::as_i64);
        let text = |k: &str| spec.get(k).and_then(Value::as_str);
        Spec {
            completions: int("completions"),
            parallelism: int("parallelism").unwrap_or(1).max(0),
            backoff_limit: int("backoffLimit").unwrap_or(6),
            indexed: text("completionMode") == Some("Indexed"),
            suspend: spec.get("suspend").and_then(Value::as_bool) == Some(true),
            active_deadline: int("activeDeadlineSeconds"),
            failure_policy: spec.get("podFailurePolicy").filter(|p| !p.is_null()),
            only_failed: text("podReplacementPolicy") == Some("Failed"),
            on_failure: job
                .pointer("/spec/template/spec/restartPolicy")
                .and_then(Value::as_str)
                == Some("OnFailure"),
            deleting: job.pointer("/metadata/deletionTimestamp").is_some(),
        }
    }

    /// An index in `0..completions`.
    fn valid_index(&self, pod: &Value) -> Option<i64> {
        completion_index(pod).filter(|i| *i < self.completions.unwrap_or(0))
    }
}

/// What the pods and the status say about the Job.
#[derive(Debug, Default)]
pub struct Assessment {
    /// Not finished and not being deleted.
    pub active: Vec<Arc<Value>>,
    pub ready: i64,
    pub terminating: i64,
    /// Indexes of terminating pods (not replaced while they run down with
    /// `podReplacementPolicy: Failed`).
    pub terminating_indexes: BTreeSet<i64>,
    /// Finished pods not counted yet (they still carry the tracking finalizer).
    pub new_succeeded: Vec<Arc<Value>>,
    pub new_failed: Vec<Arc<Value>>,
    pub succeeded: i64,
    /// Failures that count towards the backoff limit.
    pub failed: i64,
    /// Indexed Jobs: completed indexes in the status, and with the newly succeeded pods.
    pub prev_indexes: BTreeSet<i64>,
    pub succeeded_indexes: BTreeSet<i64>,
    /// The condition the Job is to finish with (interim type first).
    pub finished: Option<Condition>,
    /// When to look again for the active deadline.
    pub deadline_in: Option<Duration>,
}

/// Read the Job's state from its pods; sets `startTime` on first start.
pub fn assess(spec: &Spec, status: &mut JobStatus, pods: &[Arc<Value>], now: i64) -> Assessment {
    let seen = status.uncounted();
    let seen_s: HashSet<&str> = seen.succeeded.iter().map(String::as_str).collect();
    let seen_f: HashSet<&str> = seen.failed.iter().map(String::as_str).collect();
    let uncounted = |p: &Value, seen: &HashSet<&str>| {
        is_tracked(p) && !seen.contains(uid(p)) && (!spec.indexed || spec.valid_index(p).is_some())
    };
    let mut a = Assessment {
        active: pods.iter().filter(|p| is_active(p)).cloned().collect(),
        terminating: pods.iter().filter(|p| is_terminating(p)).count() as i64,
        terminating_indexes: pods
            .iter()
            .filter(|p| is_terminating(p))
            .filter_map(|p| completion_index(p))
            .collect(),
        new_succeeded: pods
            .iter()
            .filter(|p| uncounted(p, &seen_s) && phase(p) == "Succeeded")
            .cloned()
            .collect(),
        new_failed: pods
            .iter()
            .filter(|p| uncounted(p, &seen_f) && is_failed(p, spec.only_failed))
            .cloned()
            .collect(),
        ..Default::default()
    };
    a.ready = a.active.iter().filter(|p| is_ready(p)).count() as i64;
    a.succeeded = status.succeeded + (a.new_succeeded.len() + seen.succeeded.len()) as i64;
    let counted_new = a
        .new_failed
        .iter()
        .filter(|p| failure_policy::counts(spec.failure_policy, p))
        .count();
    a.failed = status.failed + (counted_new + seen.failed.len()) as i64;
    if status.start_time.is_none() && !spec.suspend {
        status.start_time = Some(rfc3339(now));
    }
    a.finished = decided(status, now).or_else(|| {
        let failed = pods.iter().filter(|p| is_failed(p, spec.only_failed));
        failure_policy::fail_job_message(spec.failure_policy, failed.map(|p| &**p))
            .map(|m| Condition::new(FAILURE_TARGET, true, "PodFailurePolicy", &m, now))
    });
    if a.finished.is_none() {
        let started = status.start_time.as_deref().and_then(parse_rfc3339);
        let deadline = spec
            .active_deadline
            .zip(started)
            .filter(|_| !spec.suspend)
            .map(|(d, s)| d - (now - s));
        let target =
            |reason, message| Some(Condition::new(FAILURE_TARGET, true, reason, message, now));
        if a.failed > spec.backoff_limit || past_backoff_limit_on_failure(spec, pods) {
            a.finished = target(
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
            );
        } else if deadline.is_some_and(|left| left <= 0) {
            a.finished = target(
                "DeadlineExceeded",
                "Job was active longer than specified deadline",
            );
        } else if let Some(left) = deadline {
            a.deadline_in = Some(Duration::from_secs(left as u64));
        }
    }
    if spec.indexed {
        let completions = spec.completions.unwrap_or(0);
        a.prev_indexes = indexes::parse(&status.completed_indexes, completions);
        a.succeeded_indexes = a.prev_indexes.clone();
        a.succeeded_indexes.extend(
            pods.iter()
                .filter(|p| phase(p) == "Succeeded" && is_tracked(p))
                .filter_map(|p| spec.valid_index(p)),
        );
        a.succeeded = a.succeeded_indexes.len() as i64;
    }
    a
}

/// `restartPolicy: OnFailure` pods restart in place; their restarts count as failures.
fn past_backoff_limit_on_failure(spec: &Spec, pods: &[Arc<Value>]) -> bool {
    if !spec.on_failure {
        return false;
    }
    let restarts: i64 = pods.iter().map(|p| restarts_of_unfinished(p)).sum();
    if spec.backoff_limit == 0 {
        restarts > 0
    } else {
        restarts >= spec.backoff_limit
    }
}

/// What to do about the number of running pods.
#[derive(Debug, Clone, PartialEq)]
pub enum Manage {
    Delete(Vec<Arc<Value>>),
    /// Pods to create, by completion index (`None` for NonIndexed Jobs).
    Create(Vec<Option<i64>>),
    /// More pods are needed but the failure backoff holds them back this long.
    Wait(Duration),
    Idle,
}

/// Kubernetes' `manageJob`: keep `min(parallelism, remaining completions)` pods running.
pub fn manage(spec: &Spec, a: &Assessment, backoff: Duration, now: i64) -> Manage {
    let active = a.active.len() as i64;
    if spec.suspend {
        return match active {
            0 => Manage::Idle,
            n => Manage::Delete(for_removal(spec, &a.active, n, now)),
        };
    }
    let want = match spec.completions {
        None if a.succeeded > 0 => active,
        None => spec.parallelism,
        Some(c) => (c - a.succeeded).min(spec.parallelism).max(0),
    };
    let mut rm = for_removal(spec, &a.active, (active - want).max(0), now);
    if !rm.is_empty() {
        rm.truncate(MAX_PER_SYNC);
        return Manage::Delete(rm);
    }
    let terminating = if spec.only_failed { a.terminating } else { 0 };
    let diff = want - terminating - active;
    if diff <= 0 {
        return Manage::Idle;
    }
    if !backoff.is_zero() {
        return Manage::Wait(backoff);
    }
    let diff = (diff as usize).min(MAX_PER_SYNC);
    if !spec.indexed {
        return Manage::Create(vec![None; diff]);
    }
    let mut busy: BTreeSet<i64> = a
        .active
        .iter()
        .filter_map(|p| completion_index(p))
        .collect();
    if spec.only_failed {
        busy.extend(a.terminating_indexes.iter().copied());
    }
    let pending = indexes::first_pending(
        &a.succeeded_indexes,
        &busy,
        diff,
        spec.completions.unwrap_or(0),
    );
    match pending.is_empty() {
        true => Manage::Idle,
        false => Manage::Create(pending.into_iter().map(Some).collect()),
    }
}

/// Active pods to delete to get down by `at_least` (Indexed Jobs also lose pods with a
/// missing or repeated index), the ones Kubernetes prefers to delete first.
fn for_removal(spec: &Spec, active: &[Arc<Value>], at_least: i64, now: i64) -> Vec<Arc<Value>> {
    let (mut rm, mut left) = if spec.indexed {
        indexes::redundant(active, spec.completions.unwrap_or(0), now)
    } else {
        (Vec::new(), active.to_vec())
    };
    let more = (at_least as usize).saturating_sub(rm.len());
    if more > 0 {
        left.sort_by_key(|p| deletion_rank(p, now));
        rm.extend(left.into_iter().take(more));
    }
    rm
}

/// Whether the Job has all the successes it needs and nothing runs any more.
pub fn is_complete(spec: &Spec, succeeded: i64, active: i64) -> bool {
    match spec.completions {
        // Work-queue Jobs: one success is enough, once the rest stopped.
        None => succeeded > 0 && active == 0,
        Some(c) => succeeded >= c && active == 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::job::status::{SUCCESS_CRITERIA_MET, SUSPENDED};
    use serde_json::json;

    const T0: &str = "2026-01-01T00:00:00Z";

    fn t0() -> i64 {
        parse_rfc3339(T0).unwrap()
    }

    fn job(spec: Value) -> Value {
        json!({"metadata": {"name": "j", "namespace": "ns", "uid": "u"}, "spec": spec})
    }

    fn pod(name: &str, phase: &str, tracked: bool) -> Arc<Value> {
        let fin = if tracked {
            json!(["batch.kubernetes.io/job-tracking"])
        } else {
            json!([])
        };
        let mut p = json!({"metadata": {"name": name, "uid": name, "finalizers": fin,
                                        "creationTimestamp": T0},
                           "spec": {"nodeName": "n"}, "status": {"phase": phase}});
        if phase == "Running" {
            p["status"]["conditions"] = json!([{"type": "Ready", "status": "True"}]);
        }
        Arc::new(p)
    }

    fn indexed(name: &str, phase: &str, ix: i64) -> Arc<Value> {
        let mut p = (*pod(name, phase, true)).clone();
        p["metadata"]["annotations"] =
            json!({"batch.kubernetes.io/job-completion-index": ix.to_string()});
        Arc::new(p)
    }

    #[test]
    fn keeps_parallelism_pods_until_completions() {
        let j = job(json!({"completions": 5, "parallelism": 2, "backoffLimit": 6}));
        let spec = Spec::of(&j);
        let mut st = JobStatus::default();
        let a = assess(&spec, &mut st, &[], t0());
        assert_eq!(st.start_time.as_deref(), Some(T0));
        assert_eq!(
            manage(&spec, &a, Duration::ZERO, t0()),
            Manage::Create(vec![None, None])
        );
        // Four succeeded (counted) and one running: nothing more to start.
        let mut st = JobStatus {
            succeeded: 4,
            ..Default::default()
        };
        let pods = [pod("a", "Running", true)];
        let a = assess(&spec, &mut st, &pods, t0());
        assert_eq!((a.active.len(), a.ready), (1, 1));
        assert_eq!(manage(&spec, &a, Duration::ZERO, t0()), Manage::Idle);
        assert!(!is_complete(&spec, a.succeeded, 1));
        // The last one finished but is not counted yet: still complete.
        let pods = [pod("a", "Succeeded", true)];
        let a = assess(&spec, &mut st, &pods, t0());
        assert_eq!((a.succeeded, a.new_succeeded.len()), (5, 1));
        assert!(is_complete(&spec, a.succeeded, 0));
    }

    #[test]
    fn excess_pods_are_deleted_not_ready_first() {
        let j = job(json!({"completions": 2, "parallelism": 2}));
        let spec = Spec::of(&j);
        let mut st = JobStatus {
            succeeded: 1,
            ..Default::default()
        };
        let mut pending = (*pod("b", "Pending", true)).clone();
        pending["spec"] = json!({});
        let pods = [pod("a", "Running", true), Arc::new(pending)];
        let a = assess(&spec, &mut st, &pods, t0());
        let Manage::Delete(rm) = manage(&spec, &a, Duration::ZERO, t0()) else {
            panic!("expected a deletion");
        };
        assert_eq!(rm.len(), 1);
        assert_eq!(rm[0]["metadata"]["name"], "b");
    }

    #[test]
    fn failures_back_off_then_exceed_the_limit() {
        let j = job(json!({"completions": 1, "parallelism": 1, "backoffLimit": 1}));
        let spec = Spec::of(&j);
        let mut st = JobStatus::default();
        let pods = [pod("a", "Failed", true)];
        let a = assess(&spec, &mut st, &pods, t0());
        assert_eq!((a.failed, a.finished.is_none()), (1, true));
        let wait = Duration::from_secs(10);
        assert_eq!(manage(&spec, &a, wait, t0()), Manage::Wait(wait));
        assert_eq!(
            manage(&spec, &a, Duration::ZERO, t0()),
            Manage::Create(vec![None])
        );
        let mut st = JobStatus {
            failed: 1,
            ..Default::default()
        };
        let pods = [pod("a", "Failed", false), pod("b", "Failed", true)];
        let a = assess(&spec, &mut st, &pods, t0());
        let f = a.finished.unwrap();
        assert_eq!(
            (f.kind.as_str(), f.reason.as_str()),
            (FAILURE_TARGET, "BackoffLimitExceeded")
        );
        assert_eq!(f.message, "Job has reached the specified backoff limit");
    }

    #[test]
    fn ignored_failures_do_not_count() {
        let j = job(
            json!({"completions": 1, "backoffLimit": 0, "podFailurePolicy": {"rules": [
            {"action": "Ignore", "onExitCodes": {"operator": "In", "values": [3]}}]}}),
        );
        let spec = Spec::of(&j);
        let mut failed = (*pod("a", "Failed", true)).clone();
        failed["status"]["containerStatuses"] =
            json!([{"name": "c", "state": {"terminated": {"exitCode": 3}}}]);
        let pods = [Arc::new(failed)];
        let a = assess(&spec, &mut JobStatus::default(), &pods, t0());
        assert_eq!((a.failed, a.new_failed.len()), (0, 1));
        assert!(a.finished.is_none());
    }

    #[test]
    fn active_deadline() {
        let j = job(json!({"completions": 1, "activeDeadlineSeconds": 30}));
        let spec = Spec::of(&j);
        let mut st = JobStatus {
            start_time: Some(T0.into()),
            ..Default::default()
        };
        let a = assess(&spec, &mut st, &[], t0() + 10);
        assert_eq!(a.deadline_in, Some(Duration::from_secs(20)));
        let a = assess(&spec, &mut st, &[pod("a", "Running", true)], t0() + 30);
        assert_eq!(a.finished.unwrap().reason, "DeadlineExceeded");
    }

    #[test]
    fn suspended_jobs_run_nothing() {
        let j = job(json!({"completions": 3, "parallelism": 3, "suspend": true}));
        let spec = Spec::of(&j);
        let mut st = JobStatus::default();
        let a = assess(&spec, &mut st, &[pod("a", "Running", true)], t0());
        assert!(st.start_time.is_none());
        assert!(
            matches!(manage(&spec, &a, Duration::ZERO, t0()), Manage::Delete(v) if v.len() == 1)
        );
        assert!(st.set_suspended(true, t0()).is_some());
        assert_eq!(st.condition(SUSPENDED).unwrap().reason, "JobSuspended");
    }

    #[test]
    fn indexed_jobs_fill_the_lowest_free_indexes() {
        let j = job(json!({"completions": 4, "parallelism": 2, "completionMode": "Indexed"}));
        let spec = Spec::of(&j);
        let mut st = JobStatus {
            completed_indexes: "0".into(),
            succeeded: 1,
            ..Default::default()
        };
        let pods = [indexed("p2", "Succeeded", 2), indexed("p1", "Running", 1)];
        let a = assess(&spec, &mut st, &pods, t0());
        assert_eq!(a.succeeded, 2);
        assert_eq!(
            manage(&spec, &a, Duration::ZERO, t0()),
            Manage::Create(vec![Some(3)])
        );
        let done = [indexed("p1", "Succeeded", 1), indexed("p3", "Succeeded", 3)];
        let mut st = JobStatus {
            completed_indexes: "0,2".into(),
            succeeded: 2,
            ..Default::default()
        };
        let a = assess(&spec, &mut st, &done, t0());
        assert_eq!(indexes::format(&a.succeeded_indexes), "0-3");
        assert!(is_complete(&spec, a.succeeded, 0));
        assert_eq!(
            crate::controller::job::status::success_criteria_met(t0()).kind,
            SUCCESS_CRITERIA_MET
        );
    }

    #[test]
    fn work_queue_jobs_finish_after_one_success() {
        let j = job(json!({"parallelism": 3}));
        let spec = Spec::of(&j);
        let mut st = JobStatus::default();
        let pods = [pod("a", "Succeeded", true), pod("b", "Running", true)];
        let a = assess(&spec, &mut st, &pods, t0());
        // Once one succeeded, nothing new starts and the running one may finish.
        assert_eq!(manage(&spec, &a, Duration::ZERO, t0()), Manage::Idle);
        assert!(!is_complete(&spec, a.succeeded, 1));
        assert!(is_complete(&spec, a.succeeded, 0));
    }
}
