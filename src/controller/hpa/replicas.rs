//! The replica count CPU utilisation asks for, as Kubernetes' replica calculator
//! (`GetResourceReplicas`) computes it: `ceil(ready pods × utilisation / target)`, no change
//! within the 10 % tolerance, and the conservative treatment of pods without a usable sample
//! (missing samples count as 100 % of their request when scaling down and as 0 % when scaling
//! up; unready pods as 0 % when scaling up), never reversing the direction those assumptions
//! would flip.
//!
//! One deliberate difference: a pod the kubelet has not started (Pending, no `startTime`) that
//! nevertheless has a sample counts as ready. Real metrics exist only for running pods, so this
//! only matters for injected samples, which are then taken at their word.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::api::admission::resources;
use crate::api::object;
use crate::clock::parse_rfc3339;

/// Ratios within this distance of 1 do not change the replica count.
pub const TOLERANCE: f64 = 0.1;
/// Samples of pods younger than this count only once the pod is ready.
pub const CPU_INITIALIZATION_PERIOD: i64 = 300;
/// A pod that turned unready within this long after starting has never been ready.
pub const INITIAL_READINESS_DELAY: i64 = 30;

/// One target pod and its CPU usage sample in millicores, if any.
pub struct Sample<'a> {
    pub pod: &'a Value,
    pub usage: Option<i64>,
}

/// What the CPU metric asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recommendation {
    pub replicas: i32,
    /// Average utilisation of the ready pods' requests, in percent.
    pub utilization: i32,
    /// Average usage of the ready pods, in millicores.
    pub average_milli: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    Ready,
    Unready,
    Missing,
    Ignored,
}

fn ready_condition(pod: &Value) -> Option<(&str, Option<i64>)> {
    let c = pod
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))?;
    let status = c.get("status").and_then(Value::as_str).unwrap_or("");
    let since = c
        .get("lastTransitionTime")
        .and_then(Value::as_str)
        .and_then(parse_rfc3339);
    Some((status, since))
}

/// `groupPods` for CPU.
fn group(s: &Sample, now: i64) -> Group {
    let phase = s
        .pod
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("");
    let deleting = object::meta(s.pod).is_some_and(|m| m.contains_key("deletionTimestamp"));
    if deleting || phase == "Failed" {
        return Group::Ignored;
    }
    let started = s
        .pod
        .pointer("/status/startTime")
        .and_then(Value::as_str)
        .and_then(parse_rfc3339);
    if phase == "Pending" || phase.is_empty() {
        return match (started, s.usage) {
            (None, Some(_)) => Group::Ready,
            _ => Group::Unready,
        };
    }
    if s.usage.is_none() {
        return Group::Missing;
    }
    let (Some(start), Some((status, since))) = (started, ready_condition(s.pod)) else {
        return Group::Unready;
    };
    let unready = if start + CPU_INITIALIZATION_PERIOD > now {
        // Samples are current, so only the readiness itself can disqualify them.
        status == "False"
    } else {
        // Unready and never ready since starting.
        status == "False" && since.is_some_and(|t| start + INITIAL_READINESS_DELAY > t)
    };
    if unready {
        Group::Unready
    } else {
        Group::Ready
    }
}

/// `calculatePodRequests`: the CPU requests of each pod's containers and sidecars.
fn pod_request(pod: &Value) -> Result<i64, String> {
    let containers = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    let sidecars = pod
        .pointer("/spec/initContainers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|c| c.get("restartPolicy").and_then(Value::as_str) == Some("Always"));
    let mut sum = 0i64;
    for c in containers.chain(sidecars) {
        let requests = resources::from_json(c.pointer("/resources/requests"));
        let Some(q) = requests.get("cpu") else {
            return Err(format!(
                "missing request for cpu in container {} of Pod {}",
                c.get("name").and_then(Value::as_str).unwrap_or(""),
                object::name(pod)
            ));
        };
        sum = sum.saturating_add(q.milli_value());
    }
    Ok(sum)
}

/// `GetResourceUtilizationRatio`: (usage ratio, utilisation %, average millicores).
fn utilization_ratio(
    usage: &BTreeMap<String, i64>,
    requests: &BTreeMap<String, i64>,
    target: i32,
) -> Result<(f64, i32, i64), String> {
    let (mut used, mut requested, mut n) = (0i64, 0i64, 0i64);
    for (pod, u) in usage {
        if let Some(r) = requests.get(pod) {
            used += u;
            requested += r;
            n += 1;
        }
    }
    if requested == 0 {
        return Err("no metrics returned matched known pods".into());
    }
    let utilization = (used * 100 / requested) as i32;
    Ok((
        f64::from(utilization) / f64::from(target),
        utilization,
        used / n,
    ))
}

/// The replica count `current` replicas should become for `target_utilization` percent.
pub fn cpu_replicas(
    current: i32,
    target_utilization: i32,
    samples: &[Sample],
    now: i64,
) -> Result<Recommendation, String> {
    if samples.is_empty() {
        return Err("no pods returned by selector while calculating replica count".into());
    }
    let mut requests = BTreeMap::new();
    let mut usage = BTreeMap::new();
    let (mut ready, mut unready, mut missing) = (0i32, Vec::new(), Vec::new());
    for s in samples {
        let name = object::name(s.pod).to_string();
        requests.insert(name.clone(), pod_request(s.pod)?);
        match group(s, now) {
            Group::Ready => {
                ready += 1;
                usage.insert(name, s.usage.unwrap_or(0));
            }
            Group::Unready => unready.push(name),
            Group::Missing => missing.push(name),
            Group::Ignored => {}
        }
    }
    if usage.is_empty() {
        return Err("did not receive metrics for targeted pods (pods might be unready)".into());
    }
    let (ratio, utilization, average_milli) =
        utilization_ratio(&usage, &requests, target_utilization)?;
    let rec = |replicas| Recommendation {
        replicas,
        utilization,
        average_milli,
    };
    let scale_up_with_unready = !unready.is_empty() && ratio > 1.0;
    if !scale_up_with_unready && missing.is_empty() {
        if (1.0 - ratio).abs() <= TOLERANCE {
            return Ok(rec(current));
        }
        return Ok(rec((ratio * f64::from(ready)).ceil() as i32));
    }
    for m in missing {
        // Scaling down: assume the silent pods are busy; scaling up: assume they are idle.
        let assumed = if ratio < 1.0 {
            requests.get(&m).copied().unwrap_or(0)
        } else {
            0
        };
        usage.insert(m, assumed);
    }
    if scale_up_with_unready {
        for u in unready {
            usage.insert(u, 0);
        }
    }
    let (new_ratio, _, _) = utilization_ratio(&usage, &requests, target_utilization)?;
    if (1.0 - new_ratio).abs() <= TOLERANCE
        || (ratio < 1.0 && new_ratio > 1.0)
        || (ratio > 1.0 && new_ratio < 1.0)
    {
        return Ok(rec(current));
    }
    let replicas = (new_ratio * usage.len() as f64).ceil() as i32;
    if (new_ratio < 1.0 && replicas > current) || (new_ratio > 1.0 && replicas < current) {
        return Ok(rec(current));
    }
    Ok(rec(replicas))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const NOW: i64 = 10_000;

    fn pod(name: &str, request: &str, phase: &str, ready: &str) -> Value {
        let t = crate::clock::rfc3339(NOW - 1000);
        json!({"metadata": {"name": name}, "spec": {"containers": [
                {"name": "app", "resources": {"requests": {"cpu": request}}}]},
               "status": {"phase": phase, "startTime": t, "conditions": [
                {"type": "Ready", "status": ready, "lastTransitionTime": t}]}})
    }

    fn run(
        current: i32,
        target: i32,
        pods: &[(Value, Option<i64>)],
    ) -> Result<Recommendation, String> {
        let samples: Vec<Sample> = pods
            .iter()
            .map(|(p, u)| Sample { pod: p, usage: *u })
            .collect();
        cpu_replicas(current, target, &samples, NOW)
    }

    #[test]
    fn scales_by_the_utilisation_ratio() {
        let pods = [
            (pod("a", "100m", "Running", "True"), Some(200)),
            (pod("b", "100m", "Running", "True"), Some(200)),
        ];
        let r = run(2, 50, &pods).unwrap();
        assert_eq!(
            r,
            Recommendation {
                replicas: 8,
                utilization: 200,
                average_milli: 200
            }
        );
        let pods = [
            (pod("a", "100m", "Running", "True"), Some(20)),
            (pod("b", "100m", "Running", "True"), Some(20)),
        ];
        assert_eq!(run(2, 50, &pods).unwrap().replicas, 1);
    }

    #[test]
    fn stays_within_the_tolerance() {
        let pods = [
            (pod("a", "1", "Running", "True"), Some(540)),
            (pod("b", "1", "Running", "True"), Some(540)),
        ];
        assert_eq!(run(2, 50, &pods).unwrap().replicas, 2);
        let pods = [
            (pod("a", "1", "Running", "True"), Some(560)),
            (pod("b", "1", "Running", "True"), Some(560)),
        ];
        assert_eq!(run(2, 50, &pods).unwrap().replicas, 3);
    }

    #[test]
    fn missing_samples_dampen_scale_down() {
        // Ready pod idle at 10 %, the silent one assumed at 100 %: (10 + 100) / 2 = 55 % of a
        // 50 % target is within tolerance, so nothing changes.
        let pods = [
            (pod("a", "1", "Running", "True"), Some(100)),
            (pod("b", "1", "Running", "True"), None),
        ];
        assert_eq!(run(2, 50, &pods).unwrap().replicas, 2);
    }

    #[test]
    fn unready_pods_count_as_idle_when_scaling_up() {
        // 100 % on the ready pod, 0 % assumed on the unready one: 50 % of a 40 % target = 1.25.
        let pods = [
            (pod("a", "1", "Running", "True"), Some(1000)),
            (pod("b", "1", "Running", "False"), Some(1000)),
        ];
        assert_eq!(run(2, 40, &pods).unwrap().replicas, 3);
    }

    #[test]
    fn unstarted_pods_with_samples_count_as_ready() {
        let p = json!({"metadata": {"name": "a"}, "spec": {"containers": [
            {"name": "app", "resources": {"requests": {"cpu": "100m"}}}]}, "status": {"phase": "Pending"}});
        assert_eq!(run(1, 50, &[(p.clone(), Some(200))]).unwrap().replicas, 4);
        assert_eq!(
            run(1, 50, &[(p, None)]).unwrap_err(),
            "did not receive metrics for targeted pods (pods might be unready)"
        );
    }

    #[test]
    fn reports_missing_requests_and_empty_targets() {
        let p = json!({"metadata": {"name": "a"}, "spec": {"containers": [{"name": "app"}]}});
        assert_eq!(
            run(1, 50, &[(p, Some(1))]).unwrap_err(),
            "missing request for cpu in container app of Pod a"
        );
        assert_eq!(
            run(1, 50, &[]).unwrap_err(),
            "no pods returned by selector while calculating replica count"
        );
    }
}
