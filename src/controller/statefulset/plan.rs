//! One StatefulSet reconciliation as a pure decision (Kubernetes' `updateStatefulSet`): the
//! ordered list of actions this sync performs.
//!
//! Pods are split into replicas (ordinals in `[start, start + replicas)`) and condemned ones
//! (beyond). In order:
//! 1. each replica slot, lowest ordinal first: recreate a finished pod, create a missing one
//!    (from the current revision below the partition, else the update revision), create the
//!    missing claims of a pending one, repair identity or claim ownership of a running one;
//! 2. claim ownership of condemned pods under the retention policy;
//! 3. condemned pods deleted, highest ordinal first;
//! 4. RollingUpdate only: the highest-ordinal replica at or above the partition that is not at
//!    the update revision is deleted (the next sync recreates it), one at a time, waiting while
//!    any of those replicas is unavailable.
//!
//! With `OrderedReady` (monotonic) the list stops at the first pod that is missing, finished,
//! terminating or not Running and Ready (and available for `minReadySeconds`), so pod n+1 is
//! only created once 0..n are ready and a scale-down deletes one pod at a time. With
//! `Parallel` every slot is handled in one pass; the update step stays one at a time.

use std::sync::Arc;

use serde_json::Value;

use super::claims::{self, claim_names, retention_refs};
use super::identity::{
    identity_matches, in_range, ordinal, pod_name, replicas, revision, start_ordinal,
};
use crate::controller::podutil::{is_available, is_ready, phase};
use crate::controller::workload::{is_deleting, min_ready_seconds};

/// Which revision a new pod is created from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rev {
    Current,
    Update,
}

#[derive(Debug, Clone)]
pub enum Action {
    /// Delete a pod that finished (it is recreated once gone).
    Recreate { pod: Arc<Value>, failed: bool },
    /// Create the claims, then the pod with this ordinal.
    Create { ordinal: i64, rev: Rev },
    /// Create the missing claims of a pending pod.
    CreateClaims { pod: Arc<Value> },
    /// Restore the identity labels, claims and claim ownership of a pod.
    Repair { pod: Arc<Value> },
    /// Bring claim ownership of a condemned pod in line with the retention policy.
    ReleaseClaims { pod: Arc<Value> },
    /// Delete a pod beyond the replicas.
    ScaleDown { pod: Arc<Value> },
    /// Delete a pod at an old revision so it is recreated at the update revision.
    Update { pod: Arc<Value> },
}

/// What a plan is computed from.
pub struct View<'a> {
    pub set: &'a Value,
    /// The set's claimed pods.
    pub pods: &'a [Arc<Value>],
    pub update_revision: &'a str,
    pub now: i64,
    /// A claim by name from the cache.
    pub claim: &'a dyn Fn(&str) -> Option<Arc<Value>>,
}

pub fn running_and_ready(p: &Value) -> bool {
    phase(p) == "Running" && is_ready(p)
}

pub fn running_and_available(p: &Value, min_ready: i64, now: i64) -> bool {
    running_and_ready(p) && is_available(p, min_ready, now)
}

fn unavailable(p: &Value, min_ready: i64, now: i64) -> bool {
    is_deleting(p) || !running_and_available(p, min_ready, now)
}

fn strategy(set: &Value) -> &str {
    set.pointer("/spec/updateStrategy/type")
        .and_then(Value::as_str)
        .unwrap_or("RollingUpdate")
}

pub fn partition(set: &Value) -> i64 {
    set.pointer("/spec/updateStrategy/rollingUpdate/partition")
        .and_then(Value::as_i64)
        .unwrap_or(0)
        .max(0)
}

/// The revision a new pod with `ordinal` starts at: ordinals below the partition stay at the
/// current revision during a RollingUpdate.
pub fn revision_for(set: &Value, ordinal: i64) -> Rev {
    if strategy(set) == "RollingUpdate" && ordinal < start_ordinal(set) + partition(set) {
        Rev::Current
    } else {
        Rev::Update
    }
}

impl View<'_> {
    fn claims_owned_as_policy_says(&self, pod: &Value, scaled_down: bool) -> bool {
        let Some(ord) = ordinal(pod) else { return true };
        claim_names(self.set, ord)
            .iter()
            .filter_map(|n| (self.claim)(n))
            .all(|c| retention_refs(&c, self.set, pod, scaled_down).is_none())
    }

    fn claims_missing(&self, ord: i64) -> bool {
        claim_names(self.set, ord)
            .iter()
            .any(|n| (self.claim)(n).is_none())
    }

    /// A claim of this ordinal still owned by an earlier pod of the same name.
    fn claim_is_stale(&self, ord: i64) -> bool {
        let (when_scaled_delete, _) = claims::policy(self.set);
        let pod = pod_name(self.set, ord);
        when_scaled_delete
            && claim_names(self.set, ord)
                .iter()
                .filter_map(|n| (self.claim)(n))
                .any(|c| claims::is_stale(&c, &pod, None))
    }
}

/// The actions of one sync, in order.
pub fn plan(v: &View) -> Vec<Action> {
    let set = v.set;
    if is_deleting(set) {
        return vec![];
    }
    let monotonic = set
        .pointer("/spec/podManagementPolicy")
        .and_then(Value::as_str)
        != Some("Parallel");
    let min_ready = min_ready_seconds(set);
    let start = start_ordinal(set);
    let mut slots: Vec<Option<&Arc<Value>>> = vec![None; replicas(set) as usize];
    let mut condemned: Vec<&Arc<Value>> = Vec::new();
    for p in v.pods {
        match ordinal(p) {
            Some(o) if in_range(set, o) => slots[(o - start) as usize] = Some(p),
            Some(_) => condemned.push(p),
            None => {}
        }
    }
    condemned.sort_by_key(|p| std::cmp::Reverse(ordinal(p)));
    // A missing replica counts as the first unhealthy pod too, and then matches no condemned one.
    let first_unhealthy: Option<&Arc<Value>> = match slots
        .iter()
        .position(|s| s.is_none_or(|p| unavailable(p, min_ready, v.now)))
    {
        Some(i) => slots[i],
        None => condemned
            .iter()
            .rev()
            .find(|p| unavailable(p, min_ready, v.now))
            .copied(),
    };
    let mut out = Vec::new();

    // 1. Replicas. `blocked` means this pod keeps an ordered set from going further.
    for (i, slot) in slots.iter().enumerate() {
        let ord = start + i as i64;
        let blocked = match slot {
            None if v.claim_is_stale(ord) => true,
            None => {
                out.push(Action::Create {
                    ordinal: ord,
                    rev: revision_for(set, ord),
                });
                true
            }
            Some(p) if matches!(phase(p), "Failed" | "Succeeded") => {
                if !is_deleting(p) {
                    out.push(Action::Recreate {
                        pod: (*p).clone(),
                        failed: phase(p) == "Failed",
                    });
                }
                true
            }
            Some(p) => {
                if phase(p) == "Pending" && v.claims_missing(ord) {
                    out.push(Action::CreateClaims { pod: (*p).clone() });
                }
                let waiting = is_deleting(p) || !running_and_available(p, min_ready, v.now);
                let consistent = identity_matches(set, p)
                    && claims::storage_matches(set, p)
                    && v.claims_owned_as_policy_says(p, false);
                // An ordered set repairs a pod only once it is available.
                if !(consistent || (waiting && monotonic)) {
                    out.push(Action::Repair { pod: (*p).clone() });
                }
                waiting
            }
        };
        if blocked && monotonic {
            return out;
        }
    }

    // 2. Claim ownership of condemned pods.
    for p in &condemned {
        if !v.claims_owned_as_policy_says(p, true) {
            out.push(Action::ReleaseClaims { pod: (*p).clone() });
        }
    }

    // 3. Scale down, highest ordinal first.
    for p in &condemned {
        if is_deleting(p) {
            if monotonic {
                return out;
            }
            continue;
        }
        let is_first_unhealthy = first_unhealthy.is_some_and(|f| Arc::ptr_eq(f, p));
        if monotonic && !running_and_available(p, min_ready, v.now) && !is_first_unhealthy {
            return out;
        }
        out.push(Action::ScaleDown { pod: (*p).clone() });
        if monotonic {
            return out;
        }
    }

    // 4. Rolling update, highest ordinal first, one at a time.
    if strategy(set) != "RollingUpdate" {
        return out;
    }
    let update_min = partition(set) as usize;
    for slot in slots.iter().skip(update_min).rev() {
        let Some(p) = slot else { return out };
        if revision(p) != v.update_revision && !is_deleting(p) {
            out.push(Action::Update { pod: (*p).clone() });
            return out;
        }
        if unavailable(p, min_ready, v.now) {
            return out;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde_json::json;

    use super::*;
    use crate::api::object;
    use crate::controller::history::HASH_LABEL;
    use crate::controller::statefulset::identity::new_pod;

    fn set(replicas: i64, policy: &str) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
               "metadata": {"name": "web", "namespace": "ns", "uid": "u1"},
               "spec": {"replicas": replicas, "podManagementPolicy": policy,
                        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
                        "selector": {"matchLabels": {"app": "web"}},
                        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": []}}}})
    }

    /// A stored pod of `set` at `rev`, in `state` ("pending", "running", "ready", "failed",
    /// "terminating").
    fn pod(set: &Value, ord: i64, rev: &str, state: &str) -> Arc<Value> {
        let mut p = new_pod(set, &set["spec"]["template"], ord, rev);
        p["metadata"]["namespace"] = json!("ns");
        p["metadata"]["uid"] = json!(format!("uid-{ord}"));
        let (ph, ready) = match state {
            "pending" => ("Pending", false),
            "running" => ("Running", false),
            "failed" => ("Failed", false),
            _ => ("Running", true),
        };
        p["status"] = json!({"phase": ph, "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]});
        if state == "terminating" {
            p["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        }
        Arc::new(p)
    }

    fn run(set: &Value, pods: &[Arc<Value>], update: &str) -> Vec<String> {
        run_with_claims(set, pods, update, &HashMap::new())
    }

    fn run_with_claims(
        set: &Value,
        pods: &[Arc<Value>],
        update: &str,
        claims: &HashMap<String, Arc<Value>>,
    ) -> Vec<String> {
        let lookup = |n: &str| claims.get(n).cloned();
        let view = View {
            set,
            pods,
            update_revision: update,
            now: 0,
            claim: &lookup,
        };
        plan(&view)
            .iter()
            .map(|a| match a {
                Action::Create { ordinal, rev } => format!("create {ordinal} {rev:?}"),
                Action::Recreate { pod, .. } => format!("recreate {}", object::name(pod)),
                Action::CreateClaims { pod } => format!("claims {}", object::name(pod)),
                Action::Repair { pod } => format!("repair {}", object::name(pod)),
                Action::ReleaseClaims { pod } => format!("release {}", object::name(pod)),
                Action::ScaleDown { pod } => format!("scale-down {}", object::name(pod)),
                Action::Update { pod } => format!("update {}", object::name(pod)),
            })
            .collect()
    }

    #[test]
    fn ordered_ready_creates_one_at_a_time() {
        let s = set(3, "OrderedReady");
        assert_eq!(run(&s, &[], "r1"), ["create 0 Update"]);
        assert_eq!(
            run(&s, &[pod(&s, 0, "r1", "running")], "r1"),
            Vec::<String>::new()
        );
        assert_eq!(
            run(&s, &[pod(&s, 0, "r1", "ready")], "r1"),
            ["create 1 Update"]
        );
        let pods = [pod(&s, 0, "r1", "ready"), pod(&s, 1, "r1", "ready")];
        assert_eq!(run(&s, &pods, "r1"), ["create 2 Update"]);
        // A hole below is refilled first.
        assert_eq!(
            run(&s, &[pod(&s, 1, "r1", "ready")], "r1"),
            ["create 0 Update"]
        );
    }

    #[test]
    fn parallel_creates_all_at_once() {
        let s = set(3, "Parallel");
        assert_eq!(
            run(&s, &[], "r1"),
            ["create 0 Update", "create 1 Update", "create 2 Update"]
        );
        let pods = [
            pod(&s, 0, "r1", "running"),
            pod(&s, 3, "r1", "ready"),
            pod(&s, 4, "r1", "ready"),
        ];
        assert_eq!(
            run(&s, &pods, "r1"),
            [
                "create 1 Update",
                "create 2 Update",
                "scale-down web-4",
                "scale-down web-3"
            ]
        );
    }

    #[test]
    fn scale_down_goes_from_the_highest_ordinal_one_at_a_time() {
        let s = set(1, "OrderedReady");
        let ready = [
            pod(&s, 0, "r1", "ready"),
            pod(&s, 1, "r1", "ready"),
            pod(&s, 2, "r1", "ready"),
        ];
        assert_eq!(run(&s, &ready, "r1"), ["scale-down web-2"]);
        let terminating = [
            pod(&s, 0, "r1", "ready"),
            pod(&s, 1, "r1", "ready"),
            pod(&s, 2, "r1", "terminating"),
        ];
        assert_eq!(run(&s, &terminating, "r1"), Vec::<String>::new());
        // An unready condemned pod may go only if it is the first unhealthy one.
        let unready_low = [
            pod(&s, 0, "r1", "ready"),
            pod(&s, 1, "r1", "running"),
            pod(&s, 2, "r1", "ready"),
        ];
        assert_eq!(run(&s, &unready_low, "r1"), ["scale-down web-2"]);
        assert_eq!(run(&s, &unready_low[..2], "r1"), ["scale-down web-1"]);
        let both_unready = [
            pod(&s, 0, "r1", "ready"),
            pod(&s, 1, "r1", "running"),
            pod(&s, 2, "r1", "running"),
        ];
        assert_eq!(run(&s, &both_unready, "r1"), Vec::<String>::new());
        let unready_top = [
            pod(&s, 0, "r1", "ready"),
            pod(&s, 1, "r1", "ready"),
            pod(&s, 2, "r1", "running"),
        ];
        assert_eq!(run(&s, &unready_top, "r1"), ["scale-down web-2"]);
        // Nothing is deleted while a replica is not ready.
        let replica_unready = [pod(&s, 0, "r1", "running"), pod(&s, 1, "r1", "ready")];
        assert_eq!(run(&s, &replica_unready, "r1"), Vec::<String>::new());
    }

    #[test]
    fn finished_pods_are_recreated() {
        let s = set(2, "OrderedReady");
        let pods = [pod(&s, 0, "r1", "failed"), pod(&s, 1, "r1", "ready")];
        assert_eq!(run(&s, &pods, "r1"), ["recreate web-0"]);
    }

    #[test]
    fn rolling_update_respects_partition_and_readiness() {
        let mut s = set(3, "OrderedReady");
        let old = [
            pod(&s, 0, "r1", "ready"),
            pod(&s, 1, "r1", "ready"),
            pod(&s, 2, "r1", "ready"),
        ];
        assert_eq!(run(&s, &old, "r2"), ["update web-2"]);
        let mid = [
            pod(&s, 0, "r1", "ready"),
            pod(&s, 1, "r1", "ready"),
            pod(&s, 2, "r2", "running"),
        ];
        assert_eq!(run(&s, &mid, "r2"), Vec::<String>::new());
        let next = [
            pod(&s, 0, "r1", "ready"),
            pod(&s, 1, "r1", "ready"),
            pod(&s, 2, "r2", "ready"),
        ];
        assert_eq!(run(&s, &next, "r2"), ["update web-1"]);
        s["spec"]["updateStrategy"]["rollingUpdate"]["partition"] = json!(2);
        let done = [
            pod(&s, 0, "r1", "ready"),
            pod(&s, 1, "r1", "ready"),
            pod(&s, 2, "r2", "ready"),
        ];
        assert_eq!(run(&s, &done, "r2"), Vec::<String>::new());
        // Below the partition, a missing pod comes back at the current revision.
        assert_eq!(run(&s, &done[1..], "r2"), ["create 0 Current"]);
        s["spec"]["updateStrategy"] = json!({"type": "OnDelete"});
        assert_eq!(run(&s, &old, "r2"), Vec::<String>::new());
    }

    #[test]
    fn repairs_identity_and_claims() {
        let mut s = set(1, "OrderedReady");
        s["spec"]["volumeClaimTemplates"] = json!([{"metadata": {"name": "data"}, "spec": {}}]);
        let mut p = (*pod(&s, 0, "r1", "ready")).clone();
        p["metadata"]["labels"]
            .as_object_mut()
            .unwrap()
            .remove(super::super::identity::POD_INDEX_LABEL);
        let claims: HashMap<String, Arc<Value>> = [(
            "data-web-0".to_string(),
            Arc::new(json!({"metadata": {"name": "data-web-0"}})),
        )]
        .into();
        assert_eq!(
            run_with_claims(&s, &[Arc::new(p)], "r1", &claims),
            ["repair web-0"]
        );
        let pending = pod(&s, 0, "r1", "pending");
        assert_eq!(run(&s, &[pending], "r1"), ["claims web-0"]);
        // Delete-on-scale-down: a claim still owned by the previous web-0 blocks its recreation.
        s["spec"]["persistentVolumeClaimRetentionPolicy"] =
            json!({"whenScaled": "Delete", "whenDeleted": "Retain"});
        let stale: HashMap<String, Arc<Value>> = [("data-web-0".to_string(), Arc::new(json!({"metadata": {
            "name": "data-web-0", "ownerReferences": [{"kind": "Pod", "name": "web-0", "uid": "gone"}]}})))].into();
        assert_eq!(run_with_claims(&s, &[], "r1", &stale), Vec::<String>::new());
    }

    #[test]
    fn pods_are_labelled_with_their_revision() {
        let s = set(1, "OrderedReady");
        assert_eq!(
            pod(&s, 0, "web-r1", "ready")["metadata"]["labels"][HASH_LABEL],
            "web-r1"
        );
    }
}
