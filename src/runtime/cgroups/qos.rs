//! Pod QoS class and cgroup limits from pod specs, computed as the kubelet does.
//!
//! Contract: [`qos_of`] follows `GetPodQOS` (only cpu and memory count; zero quantities count
//! as unset; requests default to limits); [`resources_for`] follows the kubelet's
//! `milliCPUToShares` / `milliCPUToQuota` with the 100ms CFS period; [`pod_resources`] is the
//! pod-level cgroup of `ResourceConfigForPod` (quota and memory limit only when every
//! container declares one; init containers count through `max(sum(app), max(init))`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Resources;
use crate::api::validation::quantity::{self, Quantity};

/// The CFS period the kubelet uses, in microseconds.
pub const CPU_PERIOD_US: u64 = 100_000;
const MIN_SHARES: u64 = 2;
const MAX_SHARES: u64 = 262_144;
const MIN_QUOTA_US: i64 = 1_000;

/// Kubernetes pod QoS classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Qos {
    Guaranteed,
    Burstable,
    BestEffort,
}

impl Qos {
    /// The `status.qosClass` string.
    pub fn as_str(self) -> &'static str {
        match self {
            Qos::Guaranteed => "Guaranteed",
            Qos::Burstable => "Burstable",
            Qos::BestEffort => "BestEffort",
        }
    }
}

/// The cpu/memory quantities of one `resources.requests` or `resources.limits` map; zero and
/// unparsable values are left out, as `GetPodQOS` ignores them.
fn compute(container: &Value, field: &str) -> BTreeMap<&'static str, Quantity> {
    let mut out = BTreeMap::new();
    for name in ["cpu", "memory"] {
        let v = &container["resources"][field][name];
        if let Some(Ok(q)) = quantity::from_json(v) {
            if q > Quantity::zero() {
                out.insert(name, q);
            }
        }
    }
    out
}

/// Requests with limits filled in where a request is missing (API defaulting does the same;
/// doing it here makes undefaulted pods come out the same way).
fn requests(container: &Value) -> BTreeMap<&'static str, Quantity> {
    let mut req = compute(container, "requests");
    for (k, v) in compute(container, "limits") {
        req.entry(k).or_insert(v);
    }
    req
}

fn containers<'a>(pod: &'a Value, field: &str) -> impl Iterator<Item = &'a Value> {
    pod["spec"][field].as_array().into_iter().flatten()
}

/// The pod's QoS class, exactly as `GetPodQOS` computes it.
pub fn qos_of(pod: &Value) -> Qos {
    let mut reqs: BTreeMap<&str, Quantity> = BTreeMap::new();
    let mut lims: BTreeMap<&str, Quantity> = BTreeMap::new();
    let mut guaranteed = true;
    for c in containers(pod, "containers").chain(containers(pod, "initContainers")) {
        for (k, v) in requests(c) {
            let sum = reqs.get(k).map_or(v, |s| s.add(&v));
            reqs.insert(k, sum);
        }
        let l = compute(c, "limits");
        if !(l.contains_key("cpu") && l.contains_key("memory")) {
            guaranteed = false;
        }
        for (k, v) in l {
            let sum = lims.get(k).map_or(v, |s| s.add(&v));
            lims.insert(k, sum);
        }
    }
    if reqs.is_empty() && lims.is_empty() {
        return Qos::BestEffort;
    }
    if guaranteed && reqs.len() == lims.len() && reqs.iter().all(|(k, r)| lims.get(k) == Some(r)) {
        return Qos::Guaranteed;
    }
    Qos::Burstable
}

/// `milliCPUToShares`.
pub fn milli_to_shares(milli: i64) -> u64 {
    if milli <= 0 {
        return MIN_SHARES;
    }
    ((milli as u64).saturating_mul(1024) / 1000).clamp(MIN_SHARES, MAX_SHARES)
}

/// `milliCPUToQuota` for [`CPU_PERIOD_US`]; `None` = unlimited.
pub fn milli_to_quota(milli: i64) -> Option<i64> {
    (milli > 0).then(|| (milli.saturating_mul(CPU_PERIOD_US as i64) / 1000).max(MIN_QUOTA_US))
}

/// The cgroup v2 `cpu.weight` for v1 shares, the conversion runc and the kubelet use:
/// `1 + ((shares - 2) * 9999) / 262142`, mapping [2, 262144] onto [1, 10000].
pub fn shares_to_weight(shares: u64) -> u64 {
    let s = shares.clamp(MIN_SHARES, MAX_SHARES);
    1 + ((s - 2) * 9999) / 262_142
}

fn milli(map: &BTreeMap<&str, Quantity>, k: &str) -> i64 {
    map.get(k).map_or(0, Quantity::milli_value)
}

/// Limits of one container's cgroup from its `resources` (a pod spec container as JSON).
/// `pids_limit` is the agent's `--pod-max-pids` (or `None`).
pub fn resources_for(container: &Value, pids_limit: Option<i64>) -> Resources {
    let req = requests(container);
    let lim = compute(container, "limits");
    // A container with only a cpu limit gets shares from the limit (its defaulted request).
    let cpu_req = match milli(&req, "cpu") {
        0 => milli(&lim, "cpu"),
        m => m,
    };
    Resources {
        cpu_shares: Some(milli_to_shares(cpu_req)),
        cpu_quota_us: milli_to_quota(milli(&lim, "cpu")),
        cpu_period_us: CPU_PERIOD_US,
        memory_limit_bytes: lim.get("memory").map(Quantity::value),
        pids_limit,
    }
}

/// Effective pod totals of one resource: `max(sum over app containers, max over init
/// containers)`; `None` when some container leaves it unset (only for limits).
fn pod_total(pod: &Value, field: &str, k: &str, all_required: bool) -> Option<i64> {
    let get = |c: &Value| {
        let m = if field == "requests" {
            requests(c)
        } else {
            compute(c, field)
        };
        m.get(k).map(|q| {
            if k == "cpu" {
                q.milli_value()
            } else {
                q.value()
            }
        })
    };
    let mut sum = 0i64;
    for c in containers(pod, "containers") {
        match get(c) {
            Some(v) => sum = sum.saturating_add(v),
            None if all_required => return None,
            None => {}
        }
    }
    let mut init_max = 0i64;
    for c in containers(pod, "initContainers") {
        match get(c) {
            Some(v) => init_max = init_max.max(v),
            None if all_required => return None,
            None => {}
        }
    }
    Some(sum.max(init_max))
}

/// Limits of the pod-level cgroup (`pod<uid>`), like the kubelet's `ResourceConfigForPod`.
pub fn pod_resources(pod: &Value, pids_limit: Option<i64>) -> Resources {
    if qos_of(pod) == Qos::BestEffort {
        return Resources {
            cpu_shares: Some(MIN_SHARES),
            cpu_period_us: CPU_PERIOD_US,
            pids_limit,
            ..Resources::default()
        };
    }
    let cpu_req = pod_total(pod, "requests", "cpu", false).unwrap_or(0);
    Resources {
        cpu_shares: Some(milli_to_shares(cpu_req)),
        cpu_quota_us: pod_total(pod, "limits", "cpu", true).and_then(milli_to_quota),
        cpu_period_us: CPU_PERIOD_US,
        memory_limit_bytes: pod_total(pod, "limits", "memory", true).filter(|m| *m > 0),
        pids_limit,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(containers: Value, init: Value) -> Value {
        json!({"spec": {"containers": containers, "initContainers": init}})
    }

    fn c(req: Value, lim: Value) -> Value {
        json!({"name": "c", "resources": {"requests": req, "limits": lim}})
    }

    #[test]
    fn qos_classes_match_kubernetes() {
        let be = pod(json!([c(json!({}), json!({}))]), json!([]));
        assert_eq!(qos_of(&be), Qos::BestEffort);
        // Zero quantities and non-compute resources do not count.
        let zero = pod(
            json!([c(
                json!({"cpu": "0", "ephemeral-storage": "1Gi"}),
                json!({})
            )]),
            json!([]),
        );
        assert_eq!(qos_of(&zero), Qos::BestEffort);
        let g = pod(
            json!([c(
                json!({"cpu": "500m", "memory": "64Mi"}),
                json!({"cpu": "0.5", "memory": "64Mi"})
            )]),
            json!([]),
        );
        assert_eq!(qos_of(&g), Qos::Guaranteed);
        // Limits only: requests default to limits.
        let g2 = pod(
            json!([c(json!({}), json!({"cpu": "1", "memory": "1Gi"}))]),
            json!([]),
        );
        assert_eq!(qos_of(&g2), Qos::Guaranteed);
        let b = pod(
            json!([c(
                json!({"cpu": "100m"}),
                json!({"cpu": "1", "memory": "1Gi"})
            )]),
            json!([]),
        );
        assert_eq!(qos_of(&b), Qos::Burstable);
        // An init container without limits makes a guaranteed pod burstable.
        let b2 = pod(
            json!([c(json!({}), json!({"cpu": "1", "memory": "1Gi"}))]),
            json!([c(json!({"cpu": "1"}), json!({}))]),
        );
        assert_eq!(qos_of(&b2), Qos::Burstable);
        // Only memory limited: burstable.
        let b3 = pod(json!([c(json!({}), json!({"memory": "1Gi"}))]), json!([]));
        assert_eq!(qos_of(&b3), Qos::Burstable);
    }

    #[test]
    fn shares_quota_and_weight_conversions() {
        assert_eq!(milli_to_shares(0), 2);
        assert_eq!(milli_to_shares(1), 2);
        assert_eq!(milli_to_shares(100), 102);
        assert_eq!(milli_to_shares(1000), 1024);
        assert_eq!(milli_to_quota(0), None);
        assert_eq!(milli_to_quota(5), Some(1000));
        assert_eq!(milli_to_quota(250), Some(25_000));
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
    }

    #[test]
    fn container_resources() {
        let r = resources_for(
            &c(
                json!({"cpu": "250m"}),
                json!({"cpu": "1", "memory": "128Mi"}),
            ),
            Some(1024),
        );
        assert_eq!(
            r,
            Resources {
                cpu_shares: Some(256),
                cpu_quota_us: Some(100_000),
                cpu_period_us: 100_000,
                memory_limit_bytes: Some(128 << 20),
                pids_limit: Some(1024),
            }
        );
        let limit_only = resources_for(&c(json!({}), json!({"cpu": "500m"})), None);
        assert_eq!(limit_only.cpu_shares, Some(512));
        assert_eq!(limit_only.cpu_quota_us, Some(50_000));
        let none = resources_for(&json!({"name": "c"}), None);
        assert_eq!(none.cpu_shares, Some(2));
        assert_eq!(none.cpu_quota_us, None);
        assert_eq!(none.memory_limit_bytes, None);
    }

    #[test]
    fn pod_level_resources() {
        let p = pod(
            json!([
                c(
                    json!({"cpu": "100m"}),
                    json!({"cpu": "200m", "memory": "100Mi"})
                ),
                c(
                    json!({"cpu": "300m"}),
                    json!({"cpu": "300m", "memory": "100Mi"})
                )
            ]),
            json!([c(
                json!({"cpu": "1"}),
                json!({"cpu": "1", "memory": "50Mi"})
            )]),
        );
        let r = pod_resources(&p, Some(100));
        assert_eq!(r.cpu_shares, Some(1024)); // max(400m, 1000m)
        assert_eq!(r.cpu_quota_us, Some(100_000));
        assert_eq!(r.memory_limit_bytes, Some(200 << 20));
        assert_eq!(r.pids_limit, Some(100));
        // One container without a memory limit: no pod memory limit.
        let p2 = pod(
            json!([
                c(json!({"cpu": "100m"}), json!({"memory": "100Mi"})),
                c(json!({"cpu": "100m"}), json!({}))
            ]),
            json!([]),
        );
        let r2 = pod_resources(&p2, None);
        assert_eq!(r2.memory_limit_bytes, None);
        assert_eq!(r2.cpu_quota_us, None);
        assert_eq!(r2.cpu_shares, Some(204));
        let be = pod_resources(&pod(json!([c(json!({}), json!({}))]), json!([])), None);
        assert_eq!(be.cpu_shares, Some(2));
        assert_eq!(be.memory_limit_bytes, None);
    }
}
