//! The scheduler cache: every node with the pods placed on it and the sums the filters and
//! scores need (requested resources, used host ports, pods per controller, pods with affinity
//! terms), kept up to date incrementally so one decision costs O(nodes), not O(pods).
//!
//! Contract: a pod is on at most one node. [`Cache::assume`] places a pod the scheduler has
//! chosen before its binding is written, so the next decision already sees it;
//! [`Cache::add_pod`] (from the informer) confirms or replaces it; [`Cache::forget`] undoes an
//! assumption whose binding failed. Finished pods hold nothing. A node object that is not (or
//! no longer) known keeps its pods in a placeholder that decisions never see. Nominated pods
//! (preemptors waiting for victims to leave) are tracked per node so smaller pods do not take
//! the room freed for them.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::podinfo::PodInfo;
use super::ports::HostPort;
use super::resources::{self, Resources};
use super::score::FastMap;
use super::taints::{self, Taint};

/// One node and what is placed on it (Kubernetes' `framework.NodeInfo`).
#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub name: String,
    /// False for a placeholder holding pods of a node object not seen (yet).
    pub exists: bool,
    pub labels: Map<String, Value>,
    /// The labels again, sorted by key: topology lookups run per node and pod, and a binary
    /// search beats hashing the key each time.
    sorted_labels: Vec<(String, String)>,
    /// `spec.taints` plus the implicit not-ready/unreachable taint.
    pub taints: Vec<Taint>,
    /// `spec.unschedulable` (cordoned).
    pub unschedulable: bool,
    pub allocatable: Resources,
    pub allowed_pods: i64,
    pub pods: Vec<Arc<PodInfo>>,
    pub requested: Resources,
    /// Requested cpu and memory with the scoring defaults.
    pub nonzero: (i64, i64),
    pub ports: Vec<HostPort>,
    /// Non-terminating pods per controller ([`PodInfo::controller`]).
    pub by_controller: FastMap<u64, u32>,
    /// Pods with any pod (anti-)affinity term.
    pub with_affinity: u32,
    /// Pods with a required anti-affinity term.
    pub with_required_anti: u32,
}

impl NodeInfo {
    pub fn placeholder(name: &str) -> NodeInfo {
        NodeInfo {
            name: name.to_string(),
            exists: false,
            labels: Map::new(),
            sorted_labels: vec![],
            taints: vec![],
            unschedulable: false,
            allocatable: Resources::default(),
            allowed_pods: 0,
            pods: vec![],
            requested: Resources::default(),
            nonzero: (0, 0),
            ports: vec![],
            by_controller: FastMap::default(),
            with_affinity: 0,
            with_required_anti: 0,
        }
    }

    /// Take the node object's scheduling facts; returns whether any changed.
    pub fn set_node(&mut self, node: &Value) -> bool {
        let labels = crate::api::object::labels(node)
            .cloned()
            .unwrap_or_default();
        let taints = taints::node_taints(node);
        let unschedulable = node
            .pointer("/spec/unschedulable")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let (allocatable, allowed_pods) = resources::allocatable(node);
        let changed = !self.exists
            || labels != self.labels
            || taints != self.taints
            || unschedulable != self.unschedulable
            || allocatable != self.allocatable
            || allowed_pods != self.allowed_pods;
        self.exists = true;
        let mut sorted: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
            .collect();
        sorted.sort();
        self.sorted_labels = sorted;
        self.labels = labels;
        self.taints = taints;
        self.unschedulable = unschedulable;
        self.allocatable = allocatable;
        self.allowed_pods = allowed_pods;
        changed
    }

    /// The value of label `key`.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.sorted_labels
            .binary_search_by(|(k, _)| k.as_str().cmp(key))
            .ok()
            .map(|i| self.sorted_labels[i].1.as_str())
    }

    fn account(&mut self, p: &PodInfo, sign: i64) {
        if sign > 0 {
            self.requested.add(&p.requests);
            self.ports.extend(p.ports.iter().cloned());
        } else {
            self.requested.sub(&p.requests);
            for hp in &p.ports {
                if let Some(i) = self.ports.iter().position(|x| x == hp) {
                    self.ports.swap_remove(i);
                }
            }
        }
        self.nonzero.0 += sign * p.nonzero.0;
        self.nonzero.1 += sign * p.nonzero.1;
        if let (Some(uid), false) = (p.controller, p.terminating) {
            let n = self.by_controller.entry(uid).or_insert(0);
            *n = n.saturating_add_signed(sign as i32);
            if *n == 0 {
                self.by_controller.remove(&uid);
            }
        }
        if p.has_pod_affinity() {
            self.with_affinity = self.with_affinity.saturating_add_signed(sign as i32);
        }
        if !p.pod_affinity.required_anti.is_empty() {
            self.with_required_anti = self.with_required_anti.saturating_add_signed(sign as i32);
        }
    }

    pub fn add_pod(&mut self, p: Arc<PodInfo>) {
        self.account(&p, 1);
        self.pods.push(p);
    }

    pub fn remove_pod(&mut self, key: &str) -> Option<Arc<PodInfo>> {
        let i = self.pods.iter().position(|p| p.key == key)?;
        let p = self.pods.swap_remove(i);
        self.account(&p, -1);
        Some(p)
    }
}

/// Where a pod is in the cache.
#[derive(Debug, Clone)]
struct Placement {
    node: String,
    assumed: bool,
}

#[derive(Debug, Default)]
pub struct Cache {
    nodes: Vec<NodeInfo>,
    index: HashMap<String, usize>,
    pods: HashMap<String, Placement>,
    /// Nominated pods by node, and the node of each nominated pod.
    nominated: HashMap<String, Vec<Arc<PodInfo>>>,
    nominated_at: HashMap<String, String>,
}

impl Cache {
    pub fn new() -> Cache {
        Cache::default()
    }

    fn slot(&mut self, name: &str) -> &mut NodeInfo {
        let i = match self.index.get(name) {
            Some(i) => *i,
            None => {
                self.nodes.push(NodeInfo::placeholder(name));
                self.index.insert(name.to_string(), self.nodes.len() - 1);
                self.nodes.len() - 1
            }
        };
        &mut self.nodes[i]
    }

    /// Add or update a node; returns whether its scheduling facts changed.
    pub fn set_node(&mut self, node: &Value) -> bool {
        let name = crate::api::object::name(node).to_string();
        self.slot(&name).set_node(node)
    }

    pub fn remove_node(&mut self, name: &str) {
        let Some(&i) = self.index.get(name) else {
            return;
        };
        if !self.nodes[i].pods.is_empty() {
            let ph = &mut self.nodes[i];
            let pods = std::mem::take(&mut ph.pods);
            *ph = NodeInfo::placeholder(name);
            for p in pods {
                ph.add_pod(p);
            }
            return;
        }
        self.drop_slot(i);
    }

    fn drop_slot(&mut self, i: usize) {
        let gone = self.nodes.swap_remove(i);
        self.index.remove(&gone.name);
        if let Some(moved) = self.nodes.get(i) {
            self.index.insert(moved.name.clone(), i);
        }
    }

    /// Place a pod reported by the informer on its node (confirming an assumption); finished
    /// pods are removed instead.
    pub fn add_pod(&mut self, p: PodInfo) {
        let key = p.key.clone();
        self.remove_pod(&key);
        self.clear_nomination(&key);
        if p.finished || p.node_name.is_empty() {
            return;
        }
        let node = p.node_name.clone();
        self.slot(&node).add_pod(Arc::new(p));
        self.pods.insert(
            key,
            Placement {
                node,
                assumed: false,
            },
        );
    }

    pub fn remove_pod(&mut self, key: &str) {
        let Some(pl) = self.pods.remove(key) else {
            return;
        };
        let Some(&i) = self.index.get(&pl.node) else {
            return;
        };
        self.nodes[i].remove_pod(key);
        if !self.nodes[i].exists && self.nodes[i].pods.is_empty() {
            self.drop_slot(i);
        }
    }

    /// Place a pod the scheduler just chose for `node`, before the binding is written.
    pub fn assume(&mut self, mut p: PodInfo, node: &str) {
        let key = p.key.clone();
        self.remove_pod(&key);
        self.clear_nomination(&key);
        p.node_name = node.to_string();
        self.slot(node).add_pod(Arc::new(p));
        self.pods.insert(
            key,
            Placement {
                node: node.to_string(),
                assumed: true,
            },
        );
    }

    /// Undo an assumption (its binding failed); a confirmed pod stays.
    pub fn forget(&mut self, key: &str) {
        if self.pods.get(key).is_some_and(|pl| pl.assumed) {
            self.remove_pod(key);
        }
    }

    pub fn is_assumed(&self, key: &str) -> bool {
        self.pods.get(key).is_some_and(|pl| pl.assumed)
    }

    pub fn node(&self, name: &str) -> Option<&NodeInfo> {
        self.index
            .get(name)
            .map(|i| &self.nodes[*i])
            .filter(|n| n.exists)
    }

    /// Every known node, in a stable order between changes.
    pub fn nodes(&self) -> Vec<&NodeInfo> {
        self.nodes.iter().filter(|n| n.exists).collect()
    }

    pub fn nominate(&mut self, p: Arc<PodInfo>, node: &str) {
        self.clear_nomination(&p.key);
        self.nominated_at.insert(p.key.clone(), node.to_string());
        self.nominated.entry(node.to_string()).or_default().push(p);
    }

    pub fn clear_nomination(&mut self, key: &str) {
        let Some(node) = self.nominated_at.remove(key) else {
            return;
        };
        if let Some(list) = self.nominated.get_mut(&node) {
            list.retain(|p| p.key != key);
            if list.is_empty() {
                self.nominated.remove(&node);
            }
        }
    }

    /// Pods nominated to `node`.
    pub fn nominated_on(&self, node: &str) -> &[Arc<PodInfo>] {
        self.nominated.get(node).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn nominated(&self) -> &HashMap<String, Vec<Arc<PodInfo>>> {
        &self.nominated
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::scheduler::podinfo::tests::pod;
    use crate::scheduler::score::name_key;
    use serde_json::json;

    /// A Ready node with 4 cpu, 8Gi, 110 pods, the hostname label and `labels`.
    pub(crate) fn node(name: &str, labels: Value) -> NodeInfo {
        node_with(name, labels, json!({}), ("4", "8Gi", "110"))
    }

    pub(crate) fn node_with(
        name: &str,
        labels: Value,
        spec: Value,
        (cpu, mem, pods): (&str, &str, &str),
    ) -> NodeInfo {
        let mut l = labels;
        l["kubernetes.io/hostname"] = json!(name);
        let v = json!({"metadata": {"name": name, "labels": l}, "spec": spec,
            "status": {"allocatable": {"cpu": cpu, "memory": mem, "pods": pods},
                       "conditions": [{"type": "Ready", "status": "True"}]}});
        let mut n = NodeInfo::placeholder(name);
        n.set_node(&v);
        n
    }

    pub(crate) fn pod_on(n: &mut NodeInfo, mut p: PodInfo) {
        p.node_name = n.name.clone();
        n.add_pod(Arc::new(p));
    }

    fn bound(name: &str, node: &str, cpu: &str) -> PodInfo {
        pod(
            json!({"metadata": {"name": name, "ownerReferences": [{"uid": "rs", "controller": true}]},
                   "spec": {"nodeName": node, "containers": [{"resources": {"requests": {"cpu": cpu}},
                            "ports": [{"hostPort": 80}]}]}}),
        )
    }

    #[test]
    fn sums_follow_adds_removes_and_assumptions() {
        let mut c = Cache::new();
        c.set_node(&json!({"metadata": {"name": "n1"}, "status": {"allocatable": {"cpu": "2", "pods": "10"},
            "conditions": [{"type": "Ready", "status": "True"}]}}));
        c.add_pod(bound("a", "n1", "500m"));
        c.assume(bound("b", "", "250m"), "n1");
        let n = c.node("n1").unwrap();
        assert_eq!(
            (n.requested.milli_cpu, n.pods.len(), n.ports.len()),
            (750, 2, 2)
        );
        assert_eq!(n.by_controller.get(&name_key("rs")), Some(&2));
        assert!(c.is_assumed("default/b"));
        // The informer confirms b: still counted once.
        c.add_pod(bound("b", "n1", "250m"));
        assert!(!c.is_assumed("default/b"));
        assert_eq!(c.node("n1").unwrap().requested.milli_cpu, 750);
        c.forget("default/b");
        assert_eq!(
            c.node("n1").unwrap().pods.len(),
            2,
            "a confirmed pod is not forgotten"
        );
        c.remove_pod("default/a");
        let n = c.node("n1").unwrap();
        assert_eq!(
            (
                n.requested.milli_cpu,
                n.ports.len(),
                n.by_controller.get(&name_key("rs"))
            ),
            (250, 1, Some(&1))
        );
        // A failed binding is forgotten.
        c.assume(bound("c", "", "100m"), "n1");
        c.forget("default/c");
        assert_eq!(c.node("n1").unwrap().requested.milli_cpu, 250);
    }

    #[test]
    fn finished_pods_and_unknown_nodes() {
        let mut c = Cache::new();
        c.add_pod(bound("early", "n2", "1"));
        assert!(
            c.nodes().is_empty(),
            "pods of an unknown node are not a node"
        );
        c.set_node(&json!({"metadata": {"name": "n2"}, "status": {"allocatable": {"cpu": "2"}}}));
        assert_eq!(c.node("n2").unwrap().requested.milli_cpu, 1000);
        let mut done = bound("early", "n2", "1");
        done.finished = true;
        c.add_pod(done);
        assert_eq!(c.node("n2").unwrap().requested.milli_cpu, 0);
        c.remove_node("n2");
        assert!(c.node("n2").is_none());
        assert!(c.nodes().is_empty());
    }

    #[test]
    fn node_changes_are_detected() {
        let mut n = node("n1", json!({}));
        let v = json!({"metadata": {"name": "n1", "labels": {"kubernetes.io/hostname": "n1"}},
            "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}, "conditions": [{"type": "Ready", "status": "True"}]}});
        assert!(!n.set_node(&v));
        let mut cordoned = v.clone();
        cordoned["spec"] = json!({"unschedulable": true});
        assert!(n.set_node(&cordoned));
        assert!(n.unschedulable);
    }

    #[test]
    fn nominations() {
        let mut c = Cache::new();
        let p = Arc::new(bound("big", "", "1"));
        c.nominate(p.clone(), "n1");
        assert_eq!(c.nominated_on("n1").len(), 1);
        c.nominate(p, "n2");
        assert!(c.nominated_on("n1").is_empty());
        c.clear_nomination("default/big");
        assert!(c.nominated().is_empty());
    }
}
