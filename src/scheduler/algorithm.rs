//! One scheduling decision (Kubernetes' `schedulePod`): pre-filter, filter the nodes in the
//! default profile's plugin order until enough fit, score those, pick the best.
//!
//! Contract: pure over the cache's [`NodeInfo`]s and a [`Request`]; no I/O. Like Kubernetes it
//! stops filtering once `numFeasibleNodesToFind` nodes fit (all nodes below 100, 42% at 1,000),
//! starting where the previous decision stopped so every node gets its turn, and a pod's
//! nominated node (from preemption) is tried first. When nothing fits, every node was
//! examined and the [`Diagnosis`] holds each node's rejection.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::cache::NodeInfo;
use super::diagnosis::{Code, Diagnosis, Plugin, Rejection};
use super::podinfo::PodInfo;
use super::volumes::{self, VolumeNeeds};
use super::{affinity, interpod, ports, resources, score, spread, taints};

/// Below this many nodes every node is examined (`minFeasibleNodesToFind`).
const MIN_FEASIBLE_NODES: usize = 100;

/// What is being scheduled, with the facts resolved outside the cache.
pub struct Request<'a> {
    pub pod: &'a PodInfo,
    /// Labels of the pod's namespace (for other pods' namespace selectors).
    pub ns_labels: Option<&'a Map<String, Value>>,
    /// The volume pre-filter's outcome ([`volumes::prefilter`]).
    pub volumes: Result<VolumeNeeds, String>,
}

impl<'a> Request<'a> {
    /// A pod without claims, in a namespace without labels.
    pub fn plain(pod: &'a PodInfo) -> Request<'a> {
        Request {
            pod,
            ns_labels: None,
            volumes: Ok(VolumeNeeds::default()),
        }
    }
}

/// The cluster as one decision sees it.
pub struct Cluster<'a> {
    pub nodes: Vec<&'a NodeInfo>,
    /// Pods nominated to each node by preemption.
    pub nominated: &'a HashMap<String, Vec<Arc<PodInfo>>>,
}

/// The pre-filter states of one decision.
pub struct Prepared<'a> {
    volumes: &'a VolumeNeeds,
    interpod: Option<interpod::FilterState>,
    spread: Option<spread::FilterState<'a>>,
}

/// `numFeasibleNodesToFind` with the adaptive `percentageOfNodesToScore`.
pub fn nodes_to_find(all: usize) -> usize {
    if all < MIN_FEASIBLE_NODES {
        return all;
    }
    let percentage = 50usize.saturating_sub(all / 125).max(5);
    (all * percentage / 100).max(MIN_FEASIBLE_NODES)
}

/// `PreFilter`; `Err` fails every node.
pub fn prefilter<'a>(req: &'a Request, nodes: &[&NodeInfo]) -> Result<Prepared<'a>, Diagnosis> {
    let volumes = match &req.volumes {
        Ok(v) => v,
        Err(msg) => {
            return Err(Diagnosis::prefilter_failure(
                nodes.len(),
                Plugin::VolumeBinding,
                Code::Unresolvable,
                msg.clone(),
            ))
        }
    };
    Ok(Prepared {
        volumes,
        interpod: interpod::prefilter(req.pod, req.ns_labels, nodes),
        spread: spread::prefilter(req.pod, nodes),
    })
}

/// Every filter plugin on one node, stopping at the first rejection. `nominated` are the pods
/// nominated to this node; those at least as important as the pod keep their room.
pub fn filter(
    req: &Request,
    st: &Prepared,
    node: &NodeInfo,
    nominated: &[Arc<PodInfo>],
) -> Result<(), Rejection> {
    let pod = req.pod;
    taints::filter_unschedulable(node.unschedulable, &pod.tolerations)?;
    taints::filter_taints(&node.taints, &pod.tolerations)?;
    affinity::filter(&pod.node_affinity, &node.name, Some(&node.labels))?;
    ports::filter(&pod.ports, &node.ports)?;
    let ahead: Vec<&Arc<PodInfo>> = nominated
        .iter()
        .filter(|n| n.key != pod.key && n.priority >= pod.priority)
        .collect();
    if ahead.is_empty() {
        resources::fit(
            &pod.requests,
            &node.allocatable,
            node.allowed_pods,
            &node.requested,
            node.pods.len(),
        )?;
    } else {
        let mut used = node.requested.clone();
        ahead.iter().for_each(|n| used.add(&n.requests));
        resources::fit(
            &pod.requests,
            &node.allocatable,
            node.allowed_pods,
            &used,
            node.pods.len() + ahead.len(),
        )?;
    }
    volumes::filter(st.volumes, node)?;
    if let Some(s) = &st.spread {
        spread::filter(s, pod, node)?;
    }
    if let Some(s) = &st.interpod {
        interpod::filter(s, pod, req.ns_labels, node)?;
    }
    Ok(())
}

/// Choose a node for the pod, or explain why none fits. `next_start` rotates the first node
/// examined between decisions.
pub fn schedule(
    cluster: &Cluster,
    req: &Request,
    next_start: &mut usize,
) -> Result<String, Diagnosis> {
    let nodes = &cluster.nodes;
    let n = nodes.len();
    if n == 0 {
        return Err(Diagnosis::new(0));
    }
    let st = prefilter(req, nodes)?;
    let nominated = |name: &str| {
        cluster
            .nominated
            .get(name)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    };
    let pod = req.pod;
    if !pod.nominated_node.is_empty() {
        if let Some(node) = nodes.iter().find(|x| x.name == pod.nominated_node) {
            if filter(req, &st, node, nominated(&node.name)).is_ok() {
                return Ok(node.name.clone());
            }
        }
    }
    let want = nodes_to_find(n);
    let start = *next_start % n;
    let mut feasible: Vec<&NodeInfo> = Vec::with_capacity(want.min(n));
    let mut diag = Diagnosis::new(n);
    let mut processed = 0;
    for i in 0..n {
        let idx = (start + i) % n;
        let node = nodes[idx];
        processed = i + 1;
        match filter(req, &st, node, nominated(&node.name)) {
            Ok(()) => {
                feasible.push(node);
                if feasible.len() >= want {
                    break;
                }
            }
            Err(r) => diag.record(idx, r),
        }
    }
    *next_start = (start + processed) % n;
    match feasible.len() {
        0 => Err(diag),
        1 => Ok(feasible[0].name.clone()),
        _ => {
            let totals = prioritize(req, nodes, &feasible);
            let names: Vec<&str> = feasible.iter().map(|f| f.name.as_str()).collect();
            let best = score::select(&totals, &pod.uid, &names).unwrap_or(0);
            Ok(feasible[best].name.clone())
        }
    }
}

/// Weighted, normalized totals of every score plugin for the feasible nodes.
pub fn prioritize(req: &Request, all: &[&NodeInfo], feasible: &[&NodeInfo]) -> Vec<i64> {
    let pod = req.pod;
    let mut totals: Vec<i64> = feasible
        .iter()
        .map(|n| score::WEIGHT_FIT * score::least_allocated(n, pod))
        .collect();
    let mut add = |scores: Vec<i64>, weight: i64| {
        for (t, s) in totals.iter_mut().zip(scores) {
            *t += weight * s;
        }
    };
    if feasible.iter().any(|n| !n.taints.is_empty()) {
        let mut s: Vec<i64> = feasible
            .iter()
            .map(|n| taints::intolerable_prefer_no_schedule(&n.taints, &pod.tolerations))
            .collect();
        score::default_normalize(&mut s, true);
        add(s, score::WEIGHT_TAINTS);
    } else {
        add(
            vec![score::MAX_NODE_SCORE; feasible.len()],
            score::WEIGHT_TAINTS,
        );
    }
    if !pod.node_affinity.preferred.is_empty() {
        let mut s: Vec<i64> = feasible
            .iter()
            .map(|n| pod.node_affinity.preferred_score(&n.name, Some(&n.labels)))
            .collect();
        score::default_normalize(&mut s, false);
        add(s, score::WEIGHT_NODE_AFFINITY);
    }
    if let Some(raw) = spread::raw_scores(pod, all, feasible) {
        add(spread::normalize(&raw), score::WEIGHT_SPREAD);
    }
    if let Some(m) = interpod::prescore(pod, req.ns_labels, all) {
        let mut s: Vec<i64> = feasible.iter().map(|n| interpod::score(&m, n)).collect();
        score::minmax_normalize(&mut s);
        add(s, score::WEIGHT_INTERPOD);
    }
    if pod.requests.milli_cpu != 0 || pod.requests.memory != 0 {
        let s: Vec<i64> = feasible
            .iter()
            .map(|n| score::balanced(n, pod).unwrap_or(0))
            .collect();
        add(s, score::WEIGHT_BALANCED);
    }
    totals
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::cache::tests::{node, node_with, pod_on};
    use crate::scheduler::podinfo::tests::pod;
    use serde_json::json;

    fn decide(nodes: &[NodeInfo], p: &PodInfo) -> Result<String, String> {
        let none = HashMap::new();
        let cluster = Cluster {
            nodes: nodes.iter().collect(),
            nominated: &none,
        };
        let req = Request::plain(p);
        schedule(&cluster, &req, &mut 0).map_err(|d| d.message())
    }

    fn cpu_pod(name: &str, cpu: &str) -> PodInfo {
        pod(
            json!({"metadata": {"name": name}, "spec": {"containers": [{"resources": {"requests": {"cpu": cpu}}}]}}),
        )
    }

    #[test]
    fn feasible_node_counts_follow_kubernetes() {
        assert_eq!(nodes_to_find(3), 3);
        assert_eq!(nodes_to_find(99), 99);
        assert_eq!(nodes_to_find(100), 100);
        assert_eq!(nodes_to_find(1000), 420);
        assert_eq!(nodes_to_find(5000), 500);
        assert_eq!(nodes_to_find(10_000), 500);
    }

    #[test]
    fn picks_the_least_allocated_fitting_node() {
        let mut busy = node("busy", json!({}));
        pod_on(&mut busy, cpu_pod("x", "3"));
        let free = node("free", json!({}));
        assert_eq!(
            decide(&[busy.clone(), free.clone()], &cpu_pod("p", "500m")),
            Ok("free".into())
        );
        assert_eq!(decide(&[busy, free], &cpu_pod("p", "2")), Ok("free".into()));
    }

    #[test]
    fn the_unschedulable_message_lists_each_nodes_first_failing_plugin() {
        let tainted = node_with(
            "cp",
            json!({}),
            json!({"taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]}),
            ("4", "8Gi", "110"),
        );
        let cordoned = node_with(
            "c",
            json!({}),
            json!({"unschedulable": true}),
            ("4", "8Gi", "110"),
        );
        let small = node_with("s", json!({}), json!({}), ("1", "8Gi", "110"));
        let got = decide(&[tainted, cordoned, small], &cpu_pod("p", "2"));
        assert_eq!(
            got,
            Err(
                "0/3 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint \
                 {node-role.kubernetes.io/control-plane: }, 1 node(s) were unschedulable."
                    .into()
            )
        );
        assert_eq!(
            decide(&[], &cpu_pod("p", "1")),
            Err("no nodes available to schedule pods".into())
        );
    }

    #[test]
    fn preferences_steer_among_fitting_nodes() {
        let plain = node("plain", json!({}));
        let ssd = node("ssd", json!({"disk": "ssd"}));
        let soft = node_with(
            "soft",
            json!({"disk": "ssd"}),
            json!({"taints": [{"key": "k", "effect": "PreferNoSchedule"}]}),
            ("4", "8Gi", "110"),
        );
        let p = pod(
            json!({"metadata": {"name": "p"}, "spec": {"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 50, "preference": {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}}]}}}}),
        );
        assert_eq!(decide(&[plain, ssd, soft], &p), Ok("ssd".into()));
    }

    #[test]
    fn nominated_pods_keep_their_room_and_their_node_is_tried_first() {
        let n1 = node_with("n1", json!({}), json!({}), ("2", "8Gi", "110"));
        let n2 = node_with("n2", json!({}), json!({}), ("2", "8Gi", "110"));
        let mut big = cpu_pod("big", "2");
        big.priority = 100;
        let mut nominated = HashMap::new();
        nominated.insert("n1".to_string(), vec![Arc::new(big.clone())]);
        let nodes = [n1, n2];
        let cluster = Cluster {
            nodes: nodes.iter().collect(),
            nominated: &nominated,
        };
        let small = cpu_pod("small", "1");
        let req = Request::plain(&small);
        for start in 0..2 {
            assert_eq!(
                schedule(&cluster, &req, &mut start.clone()).ok().as_deref(),
                Some("n2")
            );
        }
        big.nominated_node = "n1".into();
        let req = Request::plain(&big);
        assert_eq!(schedule(&cluster, &req, &mut 1).ok().as_deref(), Some("n1"));
    }

    #[test]
    fn a_volume_prefilter_failure_fails_every_node() {
        let nodes = [node("n1", json!({}))];
        let none = HashMap::new();
        let cluster = Cluster {
            nodes: nodes.iter().collect(),
            nominated: &none,
        };
        let p = cpu_pod("p", "1");
        let req = Request {
            pod: &p,
            ns_labels: None,
            volumes: Err("pod has unbound immediate PersistentVolumeClaims".into()),
        };
        let d = schedule(&cluster, &req, &mut 0).unwrap_err();
        assert_eq!(
            d.message(),
            "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims."
        );
    }

    #[test]
    fn rotation_visits_every_node() {
        let nodes: Vec<NodeInfo> = (0..300)
            .map(|i| node(&format!("n{i:03}"), json!({})))
            .collect();
        let none = HashMap::new();
        let cluster = Cluster {
            nodes: nodes.iter().collect(),
            nominated: &none,
        };
        let p = cpu_pod("p", "1");
        let req = Request::plain(&p);
        let mut start = 0;
        schedule(&cluster, &req, &mut start).unwrap();
        assert_eq!(start, nodes_to_find(300));
        schedule(&cluster, &req, &mut start).unwrap();
        assert_eq!(start, (2 * nodes_to_find(300)) % 300);
    }
}
