//! Preemption (Kubernetes' `DefaultPreemption` post-filter): find a node where evicting pods
//! of lower priority lets the pod fit, with the fewest and least important victims.
//!
//! Contract: pure over the decision's [`Cluster`]. Only nodes whose rejection preemption could
//! resolve are tried; on each, every lower-priority pod is removed, the pod must then pass
//! every filter, and victims are reprieved most important first while it still fits. The chosen
//! node minimizes, in order, the highest victim priority, the sum of victim priorities and the
//! number of victims, among the first 10% (at least 100) candidates found. Failure yields the
//! post-filter message (`preemption: ...`) Kubernetes appends to the unschedulable message.
//! PodDisruptionBudgets are not consulted.

use std::collections::HashMap;
use std::sync::Arc;

use super::algorithm::{self, Cluster, Prepared, Request};
use super::cache::NodeInfo;
use super::diagnosis::{fit_error, Code, Diagnosis};
use super::podinfo::PodInfo;

const NOT_HELPFUL: &str = "Preemption is not helpful for scheduling";
const NO_VICTIMS: &str = "No preemption victims found for incoming pod";
/// Candidates sought before choosing: 10% of the nodes, at least this many
/// (`minCandidateNodesPercentage`, `minCandidateNodesAbsolute`).
const MIN_CANDIDATES: usize = 100;

/// A node and the pods to evict from it.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub node: String,
    pub victims: Vec<Arc<PodInfo>>,
}

/// Find where to preempt, given the failed decision's diagnosis; `Err` is the post-filter
/// message.
pub fn preempt(cluster: &Cluster, req: &Request, diag: &Diagnosis) -> Result<Candidate, String> {
    let pod = req.pod;
    if pod.never_preempt {
        return Err("preemption: not eligible due to preemptionPolicy=Never".into());
    }
    if let Some(node) = cluster
        .nodes
        .iter()
        .find(|n| !pod.nominated_node.is_empty() && n.name == pod.nominated_node)
    {
        let unresolvable = diag
            .statuses
            .iter()
            .any(|(i, c)| *c == Code::Unresolvable && cluster.nodes[*i].name == node.name);
        if !unresolvable
            && node
                .pods
                .iter()
                .any(|p| p.priority < pod.priority && p.terminating)
        {
            // Victims chosen earlier are still leaving: wait for them.
            return Err(
                "preemption: not eligible due to a terminating pod on the nominated node".into(),
            );
        }
    }
    let mut tally: HashMap<String, usize> = HashMap::new();
    let mut candidates = Vec::new();
    let potential: Vec<usize> = diag
        .statuses
        .iter()
        .filter(|(_, c)| *c == Code::Unschedulable)
        .map(|(i, _)| *i)
        .collect();
    *tally.entry(NOT_HELPFUL.to_string()).or_insert(0) += cluster.nodes.len() - potential.len();
    // Pre-filter states only change with the victims when something counts pods.
    let recompute = pod.has_pod_affinity()
        || !pod.spread.is_empty()
        || cluster.nodes.iter().any(|n| n.with_required_anti > 0);
    let base = if recompute {
        None
    } else {
        algorithm::prefilter(req, &cluster.nodes).ok()
    };
    let enough = (cluster.nodes.len() / 10).max(MIN_CANDIDATES);
    for i in potential {
        if candidates.len() >= enough {
            break;
        }
        match victims_on(cluster, req, i, base.as_ref()) {
            Ok(v) => candidates.push(Candidate {
                node: cluster.nodes[i].name.clone(),
                victims: v,
            }),
            Err(reasons) => reasons
                .into_iter()
                .for_each(|r| *tally.entry(r).or_insert(0) += 1),
        }
    }
    tally.retain(|_, n| *n > 0);
    let best = candidates.into_iter().min_by_key(|c| {
        let top = c
            .victims
            .iter()
            .map(|v| v.priority)
            .max()
            .unwrap_or(i32::MIN);
        let sum: i64 = c
            .victims
            .iter()
            .map(|v| i64::from(v.priority) + (1i64 << 31))
            .sum();
        (top, sum, c.victims.len())
    });
    match best {
        Some(c) => Ok(c),
        None => {
            let msg = fit_error(cluster.nodes.len(), None, &tally);
            Err(format!("preemption: {}", msg.trim_end_matches('.')))
        }
    }
}

/// `SelectVictimsOnNode`: the fewest lower-priority pods whose eviction lets the pod fit on
/// node `i`, or the reasons it cannot.
fn victims_on(
    cluster: &Cluster,
    req: &Request,
    i: usize,
    base: Option<&Prepared>,
) -> Result<Vec<Arc<PodInfo>>, Vec<String>> {
    let pod = req.pod;
    let node = cluster.nodes[i];
    let mut lower: Vec<Arc<PodInfo>> = node
        .pods
        .iter()
        .filter(|p| p.priority < pod.priority)
        .cloned()
        .collect();
    if lower.is_empty() {
        return Err(vec![NO_VICTIMS.to_string()]);
    }
    let mut trial: NodeInfo = node.clone();
    for v in &lower {
        trial.remove_pod(&v.key);
    }
    fits(cluster, req, i, &trial, base)?;
    // Most important first: they are the ones worth keeping.
    lower.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.started.cmp(&b.started)));
    let mut victims = Vec::new();
    for v in lower {
        trial.add_pod(v.clone());
        if fits(cluster, req, i, &trial, base).is_err() {
            trial.remove_pod(&v.key);
            victims.push(v);
        }
    }
    if victims.is_empty() {
        return Err(vec![format!(
            "expected at least one victim pod on node \"{}\"",
            node.name
        )]);
    }
    Ok(victims)
}

/// Every filter with node `i` replaced by `trial`, with the pre-filter states recomputed
/// (the pods removed may be those an (anti-)affinity or spread constraint counted) unless
/// `base` says they cannot change.
fn fits(
    cluster: &Cluster,
    req: &Request,
    i: usize,
    trial: &NodeInfo,
    base: Option<&Prepared>,
) -> Result<(), Vec<String>> {
    let nominated = cluster
        .nominated
        .get(&trial.name)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let reasons =
        |r: super::diagnosis::Rejection| r.reasons.iter().map(|s| s.to_string()).collect();
    if let Some(st) = base {
        return algorithm::filter(req, st, trial, nominated).map_err(reasons);
    }
    let mut nodes: Vec<&NodeInfo> = cluster.nodes.clone();
    nodes[i] = trial;
    let st = algorithm::prefilter(req, &nodes).map_err(|d| vec![d.message()])?;
    algorithm::filter(req, &st, trial, nominated).map_err(reasons)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::cache::tests::{node_with, pod_on};
    use crate::scheduler::podinfo::tests::pod;
    use serde_json::{json, Value};

    fn cpu_pod(name: &str, cpu: &str, priority: i32) -> PodInfo {
        pod(
            json!({"metadata": {"name": name}, "spec": {"priority": priority,
            "containers": [{"resources": {"requests": {"cpu": cpu}}}]}}),
        )
    }

    fn small(name: &str) -> NodeInfo {
        node_with(name, json!({}), json!({}), ("2", "8Gi", "110"))
    }

    fn attempt(nodes: &[NodeInfo], p: &PodInfo) -> (String, Result<Candidate, String>) {
        let none = HashMap::new();
        let cluster = Cluster {
            nodes: nodes.iter().collect(),
            nominated: &none,
        };
        let req = Request::plain(p);
        let mut diag = algorithm::schedule(&cluster, &req, &mut 0).expect_err("must not fit");
        let out = preempt(&cluster, &req, &diag);
        if let Err(m) = &out {
            diag.post_filter = Some(m.as_str().into());
        }
        (diag.message(), out)
    }

    fn names(c: &Candidate) -> Vec<String> {
        let mut v: Vec<String> = c.victims.iter().map(|p| p.name.clone()).collect();
        v.sort();
        v
    }

    #[test]
    fn evicts_the_fewest_lowest_priority_pods() {
        let mut n1 = small("n1");
        pod_on(&mut n1, cpu_pod("low-a", "1", 1));
        pod_on(&mut n1, cpu_pod("low-b", "1", 1));
        let mut n2 = small("n2");
        pod_on(&mut n2, cpu_pod("mid", "1", 50));
        pod_on(&mut n2, cpu_pod("low-c", "500m", 1));
        pod_on(&mut n2, cpu_pod("low-d", "500m", 1));
        let (msg, c) = attempt(&[n1, n2], &cpu_pod("urgent", "1", 100));
        assert_eq!(msg, "0/2 nodes are available: 2 Insufficient cpu.");
        let c = c.unwrap();
        // n1 needs one priority-1 victim; n2 would need both of its priority-1 pods.
        assert_eq!(c.node, "n1");
        assert_eq!(names(&c).len(), 1);
    }

    #[test]
    fn prefers_nodes_whose_victims_matter_least() {
        let mut n1 = small("n1");
        pod_on(&mut n1, cpu_pod("mid", "2", 50));
        let mut n2 = small("n2");
        pod_on(&mut n2, cpu_pod("low-a", "1", 1));
        pod_on(&mut n2, cpu_pod("low-b", "1", 2));
        let (_, c) = attempt(&[n1, n2], &cpu_pod("urgent", "2", 100));
        let c = c.unwrap();
        assert_eq!(
            (c.node.as_str(), names(&c)),
            ("n2", vec!["low-a".to_string(), "low-b".to_string()])
        );
    }

    #[test]
    fn messages_when_preemption_cannot_help() {
        let mut n1 = small("n1");
        pod_on(&mut n1, cpu_pod("peer", "2", 0));
        let tainted = node_with(
            "t",
            json!({}),
            json!({"taints": [{"key": "k", "value": "v", "effect": "NoSchedule"}]}),
            ("2", "8Gi", "110"),
        );
        let (msg, c) = attempt(&[n1.clone(), tainted], &cpu_pod("p", "1", 0));
        assert!(c.is_err());
        assert_eq!(
            msg,
            "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint {k: v}. preemption: 0/2 nodes \
             are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling."
        );
        let (msg, _) = attempt(&[n1.clone()], &cpu_pod("huge", "3", 10));
        assert_eq!(
            msg,
            "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 Preemption is not \
             helpful for scheduling."
        );
        let mut never = cpu_pod("polite", "1", 10);
        never.never_preempt = true;
        let (msg, _) = attempt(&[n1], &never);
        assert_eq!(msg, "0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never.");
    }

    #[test]
    fn victims_can_clear_anti_affinity() {
        let anti: Value = json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "kubernetes.io/hostname"}]}});
        let mut n1 = small("n1");
        pod_on(
            &mut n1,
            pod(
                json!({"metadata": {"name": "old-db", "labels": {"app": "db"}}, "spec": {"priority": 1}}),
            ),
        );
        let p = pod(
            json!({"metadata": {"name": "new-db", "labels": {"app": "db"}}, "spec": {"priority": 10, "affinity": anti}}),
        );
        let (msg, c) = attempt(&[n1], &p);
        assert_eq!(
            msg,
            "0/1 nodes are available: 1 node(s) didn't match pod anti-affinity rules."
        );
        assert_eq!(names(&c.unwrap()), vec!["old-db".to_string()]);
    }
}
