//! Job status: its typed form, conditions, and how finished pods are counted.
//!
//! Contract (Kubernetes' tracking with finalizers): a finished pod that still carries the
//! tracking finalizer is first listed in `status.uncountedTerminatedPods` (written), then its
//! finalizer is removed, and only then is it moved into `succeeded`/`failed` — so a pod is
//! counted exactly once even if the controller stops between any two writes. Indexed Jobs
//! count succeeded indexes in `completedIndexes` instead. A terminal condition (`Complete`,
//! `Failed`) is added only after its interim one (`SuccessCriteriaMet`, `FailureTarget`) was
//! written and no pod is uncounted or still terminating.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::failure_policy;
use super::indexes;
use super::pods::{completion_index, is_failed, is_tracked, uid};
use super::sync::Spec;
use crate::clock::rfc3339;
use crate::controller::podutil::phase;

pub const COMPLETE: &str = "Complete";
pub const FAILED: &str = "Failed";
pub const SUCCESS_CRITERIA_MET: &str = "SuccessCriteriaMet";
pub const FAILURE_TARGET: &str = "FailureTarget";
pub const SUSPENDED: &str = "Suspended";
/// Most pods moved into the uncounted lists per sync (keeps the status small and lets other
/// Jobs run).
const MAX_UNCOUNTED: usize = 500;

/// An object's `status` as `T`; the default when absent or not of that shape (the
/// controller then rebuilds it).
pub fn typed_status<T: DeserializeOwned + Default>(obj: &Value) -> T {
    obj.get("status")
        .and_then(|s| serde_json::from_value(s.clone()).ok())
        .unwrap_or_default()
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub kind: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_probe_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

impl Condition {
    pub fn new(kind: &str, status: bool, reason: &str, message: &str, now: i64) -> Condition {
        Condition {
            kind: kind.into(),
            status: if status { "True" } else { "False" }.into(),
            last_probe_time: Some(rfc3339(now)),
            last_transition_time: Some(rfc3339(now)),
            reason: reason.into(),
            message: message.into(),
        }
    }

    pub fn is_true(&self) -> bool {
        self.status == "True"
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Uncounted {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub succeeded: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<String>,
}

impl Uncounted {
    pub fn is_empty(&self) -> bool {
        self.succeeded.is_empty() && self.failed.is_empty()
    }
}

/// `status` of a Job, fields in Kubernetes' order; unknown fields are kept.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub active: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub succeeded: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failed: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminating: Option<i64>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub completed_indexes: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_indexes: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uncounted_terminated_pods: Option<Uncounted>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<i64>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl JobStatus {
    pub fn of(job: &Value) -> JobStatus {
        typed_status(job)
    }

    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    pub fn condition(&self, kind: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.kind == kind)
    }

    /// `Complete` or `Failed`, whichever is true.
    pub fn finished(&self) -> Option<&Condition> {
        self.conditions
            .iter()
            .find(|c| (c.kind == COMPLETE || c.kind == FAILED) && c.is_true())
    }

    pub fn uncounted(&self) -> Uncounted {
        self.uncounted_terminated_pods.clone().unwrap_or_default()
    }

    /// Add or update a condition (a False one is never added); whether anything changed.
    pub fn ensure_condition(
        &mut self,
        kind: &str,
        status: bool,
        reason: &str,
        message: &str,
        now: i64,
    ) -> bool {
        let new = Condition::new(kind, status, reason, message, now);
        match self.conditions.iter_mut().find(|c| c.kind == kind) {
            Some(c) => {
                if c.status == new.status && c.reason == reason && c.message == message {
                    return false;
                }
                *c = new;
                true
            }
            None if status => {
                self.conditions.push(new);
                true
            }
            None => false,
        }
    }

    /// The `Suspended` condition for the Job's `suspend`; the event to record if it changed.
    pub fn set_suspended(
        &mut self,
        suspend: bool,
        now: i64,
    ) -> Option<(&'static str, &'static str)> {
        let (reason, message, event) = if suspend {
            ("JobSuspended", "Job suspended", "Suspended")
        } else {
            ("JobResumed", "Job resumed", "Resumed")
        };
        self.ensure_condition(SUSPENDED, suspend, reason, message, now)
            .then_some((event, message))
    }

    /// Move uncounted pods whose finalizer is gone into the counters; whether anything moved.
    pub fn count_released(&mut self, with_finalizer: &HashSet<String>) -> bool {
        let Some(u) = self.uncounted_terminated_pods.as_mut() else {
            return false;
        };
        let (s0, f0) = (u.succeeded.len(), u.failed.len());
        u.succeeded.retain(|id| with_finalizer.contains(id));
        u.failed.retain(|id| with_finalizer.contains(id));
        let (ds, df) = (s0 - u.succeeded.len(), f0 - u.failed.len());
        self.succeeded += ds as i64;
        self.failed += df as i64;
        ds + df > 0
    }

    /// Add the terminal condition once nothing is pending (Kubernetes' `enactJobFinished`).
    pub fn enact_finished(
        &mut self,
        finished: Option<&Condition>,
        terminating: i64,
        now: i64,
    ) -> bool {
        let Some(f) = finished else { return false };
        if !self.uncounted().is_empty() || terminating > 0 {
            return false;
        }
        self.ensure_condition(&f.kind, true, &f.reason, &f.message, now);
        if f.kind == COMPLETE {
            self.completion_time = Some(rfc3339(now));
        }
        true
    }
}

/// The interim condition when the Job met its completions.
pub fn success_criteria_met(now: i64) -> Condition {
    Condition::new(
        SUCCESS_CRITERIA_MET,
        true,
        "CompletionsReached",
        "Reached expected number of succeeded pods",
        now,
    )
}

/// What counting finished pods decided.
#[derive(Debug, Default)]
pub struct Tracking {
    /// Pods whose tracking finalizer is to be removed (after the status is written).
    pub release: Vec<Arc<Value>>,
    pub needs_flush: bool,
    /// Stopped at [`MAX_UNCOUNTED`]; the Job cannot finish in this sync.
    pub reached_max: bool,
    /// The terminal condition to add once everything is counted.
    pub finished: Option<Condition>,
}

/// Record newly finished pods as uncounted (or their indexes as completed) and pick the pods
/// to release (Kubernetes' `trackJobStatusAndRemoveFinalizers`, first half).
pub fn track(
    status: &mut JobStatus,
    spec: &Spec,
    pods: &[Arc<Value>],
    prev_indexes: &BTreeSet<i64>,
    succeeded_indexes: &mut BTreeSet<i64>,
    finished: Option<Condition>,
    now: i64,
) -> Tracking {
    let seen = status.uncounted();
    let seen_s: HashSet<&str> = seen.succeeded.iter().map(String::as_str).collect();
    let seen_f: HashSet<&str> = seen.failed.iter().map(String::as_str).collect();
    let mut uncounted = seen.clone();
    let mut t = Tracking::default();
    let mut ordered: Vec<&Arc<Value>> = pods.iter().collect();
    if spec.indexed {
        ordered.sort_by_key(|p| completion_index(p).unwrap_or(-1));
    }
    let failing_job = finished
        .as_ref()
        .is_some_and(|c| c.kind != SUCCESS_CRITERIA_MET);
    let completions = spec.completions.unwrap_or(0);
    let mut new_indexes = Vec::new();
    for pod in ordered.into_iter().filter(|p| is_tracked(p)) {
        let failed = is_failed(pod, spec.only_failed);
        let succeeded = phase(pod) == "Succeeded";
        if !(spec.deleting || finished.is_some() || succeeded || failed) {
            continue;
        }
        t.release.push(pod.clone());
        let id = uid(pod);
        let ix = completion_index(pod).filter(|i| *i < completions);
        if succeeded && !seen_f.contains(id) {
            if spec.indexed {
                if let Some(i) = ix.filter(|i| !prev_indexes.contains(i)) {
                    new_indexes.push(i);
                    t.needs_flush = true;
                }
            } else if !seen_s.contains(id) {
                uncounted.succeeded.push(id.to_string());
                t.needs_flush = true;
            }
        } else if (failed || failing_job)
            && !seen_f.contains(id)
            && (!spec.indexed || ix.is_some())
            && failure_policy::counts(spec.failure_policy, pod)
        {
            // When the Job fails, every pod not yet finished counts as failed.
            uncounted.failed.push(id.to_string());
            t.needs_flush = true;
        }
        if new_indexes.len() + uncounted.succeeded.len() + uncounted.failed.len() >= MAX_UNCOUNTED {
            t.reached_max = true;
            break;
        }
    }
    status.uncounted_terminated_pods = Some(uncounted);
    if spec.indexed {
        succeeded_indexes.extend(new_indexes);
        let s = indexes::format(succeeded_indexes);
        if s != status.completed_indexes {
            t.needs_flush = true;
        }
        status.succeeded = succeeded_indexes.len() as i64;
        status.completed_indexes = s;
    }
    t.finished = match finished {
        Some(c) if c.kind == FAILURE_TARGET => {
            // The interim condition is written before any finalizer goes.
            let failed = Condition::new(FAILED, true, &c.reason, &c.message, now);
            status.conditions.push(c);
            t.needs_flush = true;
            Some(failed)
        }
        Some(c) if c.kind == SUCCESS_CRITERIA_MET => {
            if status.condition(SUCCESS_CRITERIA_MET).is_none() {
                status.conditions.push(c.clone());
                t.needs_flush = true;
            }
            Some(Condition::new(COMPLETE, true, &c.reason, &c.message, now))
        }
        other => other,
    };
    t
}

/// The interim condition already decided in an earlier sync, if any.
pub fn decided(status: &JobStatus, now: i64) -> Option<Condition> {
    if let Some(c) = status
        .condition(SUCCESS_CRITERIA_MET)
        .filter(|c| c.is_true())
    {
        return Some(c.clone());
    }
    status
        .condition(FAILURE_TARGET)
        .filter(|c| c.is_true())
        .map(|c| Condition::new(FAILED, true, &c.reason, &c.message, now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(uid: &str, phase: &str) -> Arc<Value> {
        Arc::new(json!({"metadata": {"name": uid, "uid": uid,
            "finalizers": ["batch.kubernetes.io/job-tracking"]},
            "status": {"phase": phase}}))
    }

    #[test]
    fn status_round_trips_in_kubernetes_shape() {
        let mut s = JobStatus {
            ready: Some(0),
            uncounted_terminated_pods: Some(Uncounted::default()),
            ..Default::default()
        };
        s.other.insert("x".into(), json!(1));
        assert_eq!(
            s.to_value(),
            json!({"uncountedTerminatedPods": {}, "ready": 0, "x": 1})
        );
        let back = JobStatus::of(&json!({"status": s.to_value()}));
        assert_eq!(back, s);
    }

    #[test]
    fn conditions_are_added_true_and_updated() {
        let mut s = JobStatus::default();
        assert!(!s.ensure_condition(SUSPENDED, false, "JobResumed", "Job resumed", 0));
        assert_eq!(
            s.set_suspended(true, 0),
            Some(("Suspended", "Job suspended"))
        );
        assert_eq!(s.set_suspended(true, 5), None);
        assert_eq!(s.set_suspended(false, 9), Some(("Resumed", "Job resumed")));
        assert_eq!(s.conditions.len(), 1);
        assert_eq!(s.conditions[0].status, "False");
    }

    #[test]
    fn finished_pods_are_counted_once_through_the_uncounted_lists() {
        let job = json!({"spec": {"completions": 3, "parallelism": 2}});
        let sp = Spec::of(&job);
        let pods = vec![
            pod("a", "Succeeded"),
            pod("b", "Failed"),
            pod("c", "Running"),
        ];
        let mut s = JobStatus::default();
        let t = track(
            &mut s,
            &sp,
            &pods,
            &BTreeSet::new(),
            &mut BTreeSet::new(),
            None,
            0,
        );
        assert!(t.needs_flush && !t.reached_max);
        assert_eq!(t.release.len(), 2);
        let u = s.uncounted();
        assert_eq!(
            (u.succeeded, u.failed),
            (vec!["a".to_string()], vec!["b".to_string()])
        );
        // The same pods seen again (finalizer not yet gone) are not listed twice.
        let t = track(
            &mut s,
            &sp,
            &pods,
            &BTreeSet::new(),
            &mut BTreeSet::new(),
            None,
            0,
        );
        assert!(!t.needs_flush);
        assert_eq!(s.uncounted().succeeded.len(), 1);
        // Finalizer of `a` removed: it moves to the counter, `b` stays uncounted.
        let with: HashSet<String> = ["b".to_string(), "c".to_string()].into();
        assert!(s.count_released(&with));
        assert_eq!((s.succeeded, s.failed), (1, 0));
        assert!(!s.enact_finished(Some(&Condition::new(COMPLETE, true, "", "", 0)), 0, 0));
        assert!(s.count_released(&HashSet::new()));
        assert_eq!((s.succeeded, s.failed), (1, 1));
    }

    #[test]
    fn failing_job_counts_running_pods_and_writes_failure_target_first() {
        let job = json!({"spec": {"completions": 1}});
        let sp = Spec::of(&job);
        let pods = vec![pod("a", "Running")];
        let mut s = JobStatus::default();
        let target = Condition::new(FAILURE_TARGET, true, "BackoffLimitExceeded", "m", 0);
        let t = track(
            &mut s,
            &sp,
            &pods,
            &BTreeSet::new(),
            &mut BTreeSet::new(),
            Some(target),
            7,
        );
        assert_eq!(s.uncounted().failed, ["a"]);
        assert_eq!(s.conditions[0].kind, FAILURE_TARGET);
        let fin = t.finished.unwrap();
        assert_eq!(
            (fin.kind.as_str(), fin.reason.as_str()),
            (FAILED, "BackoffLimitExceeded")
        );
        // Not terminal while a pod is uncounted or terminating.
        assert!(!s.enact_finished(Some(&fin), 0, 8));
        s.count_released(&HashSet::new());
        assert!(!s.enact_finished(Some(&fin), 1, 8));
        assert!(s.enact_finished(Some(&fin), 0, 8));
        assert!(s.finished().is_some() && s.completion_time.is_none());
        assert_eq!(decided(&s, 9).unwrap().kind, FAILED);
    }

    #[test]
    fn indexed_success_goes_to_completed_indexes() {
        let job = json!({"spec": {"completions": 4, "completionMode": "Indexed"}});
        let sp = Spec::of(&job);
        let ix = |i: i64, phase: &str| {
            let mut p = (*pod(&format!("p{i}"), phase)).clone();
            p["metadata"]["annotations"] =
                json!({"batch.kubernetes.io/job-completion-index": i.to_string()});
            Arc::new(p)
        };
        let pods = vec![
            ix(2, "Succeeded"),
            ix(0, "Succeeded"),
            ix(1, "Running"),
            ix(7, "Succeeded"),
        ];
        let mut s = JobStatus {
            completed_indexes: "3".into(),
            ..Default::default()
        };
        let prev = indexes::parse("3", 4);
        let mut now_done = prev.clone();
        let t = track(&mut s, &sp, &pods, &prev, &mut now_done, None, 0);
        assert_eq!(s.completed_indexes, "0,2-3");
        assert_eq!(s.succeeded, 3);
        assert!(s.uncounted().is_empty() && t.needs_flush);
        let met = success_criteria_met(0);
        let t = track(&mut s, &sp, &[], &prev, &mut now_done, Some(met), 1);
        assert_eq!(
            s.condition(SUCCESS_CRITERIA_MET).unwrap().reason,
            "CompletionsReached"
        );
        assert!(s.enact_finished(t.finished.as_ref(), 0, 1));
        assert_eq!(s.finished().unwrap().kind, COMPLETE);
        assert!(s.completion_time.is_some());
    }
}
