//! Scoring: the resource scores (`NodeResourcesFit` least-allocated and
//! `NodeResourcesBalancedAllocation`), the normalizations Kubernetes' plugins use, the plugin
//! weights of the default profile, and the choice among the best nodes.
//!
//! Contract: every plugin's scores are normalized to 0..=100 and summed with the default
//! weights (TaintToleration 3, NodeAffinity 2, PodTopologySpread 2, InterPodAffinity 2,
//! NodeResourcesFit 1, BalancedAllocation 1), in integer arithmetic as Kubernetes does. Among
//! nodes with the highest total the winner is the one with the smallest hash of
//! (pod uid, node name): spread like Kubernetes' random choice, but reproducible.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::cache::NodeInfo;
use super::podinfo::PodInfo;

pub const MAX_NODE_SCORE: i64 = 100;
pub const WEIGHT_TAINTS: i64 = 3;
pub const WEIGHT_NODE_AFFINITY: i64 = 2;
pub const WEIGHT_SPREAD: i64 = 2;
pub const WEIGHT_INTERPOD: i64 = 2;
pub const WEIGHT_FIT: i64 = 1;
pub const WEIGHT_BALANCED: i64 = 1;

fn least_requested(requested: i64, capacity: i64) -> i64 {
    if capacity == 0 || requested > capacity {
        return 0;
    }
    (capacity - requested) * MAX_NODE_SCORE / capacity
}

/// `LeastAllocated` over cpu and memory (weight 1 each), with the scoring defaults for
/// containers without requests.
pub fn least_allocated(node: &NodeInfo, pod: &PodInfo) -> i64 {
    let pairs = [
        (node.nonzero.0 + pod.nonzero.0, node.allocatable.milli_cpu),
        (node.nonzero.1 + pod.nonzero.1, node.allocatable.memory),
    ];
    let (mut sum, mut weights) = (0, 0);
    for (req, cap) in pairs {
        if cap == 0 {
            continue;
        }
        sum += least_requested(req, cap);
        weights += 1;
    }
    if weights == 0 {
        0
    } else {
        sum / weights
    }
}

/// `BalancedAllocation`: 100 when cpu and memory would be equally used, less as the fractions
/// drift apart; `None` for a pod requesting neither (Kubernetes skips the plugin then).
pub fn balanced(node: &NodeInfo, pod: &PodInfo) -> Option<i64> {
    if pod.requests.milli_cpu == 0 && pod.requests.memory == 0 {
        return None;
    }
    let pairs = [
        (
            node.requested.milli_cpu + pod.requests.milli_cpu,
            node.allocatable.milli_cpu,
        ),
        (
            node.requested.memory + pod.requests.memory,
            node.allocatable.memory,
        ),
    ];
    let fraction = |(req, cap): (i64, i64)| (cap != 0).then(|| (req as f64 / cap as f64).min(1.0));
    let std = match (fraction(pairs[0]), fraction(pairs[1])) {
        (Some(a), Some(b)) => ((a - b) / 2.0).abs(),
        _ => 0.0,
    };
    Some(((1.0 - std) * MAX_NODE_SCORE as f64) as i64)
}

/// `DefaultNormalizeScore`: scale so the highest is 100 (`reverse`: the lowest is 100).
pub fn default_normalize(scores: &mut [i64], reverse: bool) {
    let max = scores.iter().copied().max().unwrap_or(0);
    if max == 0 {
        if reverse {
            scores.iter_mut().for_each(|s| *s = MAX_NODE_SCORE);
        }
        return;
    }
    for s in scores.iter_mut() {
        let v = MAX_NODE_SCORE * *s / max;
        *s = if reverse { MAX_NODE_SCORE - v } else { v };
    }
}

/// Min-max normalization to 0..=100 (`InterPodAffinity`), all 0 when every score is equal.
pub fn minmax_normalize(scores: &mut [i64]) {
    let (Some(&min), Some(&max)) = (scores.iter().min(), scores.iter().max()) else {
        return;
    };
    let diff = max - min;
    for s in scores.iter_mut() {
        *s = if diff > 0 {
            (MAX_NODE_SCORE as f64 * ((*s - min) as f64 / diff as f64)) as i64
        } else {
            0
        };
    }
}

/// FNV-1a: the tie-breaker's hash, and the hasher of the scheduler's own small-key maps
/// (node and controller names), which are looked up per node and need no DoS resistance.
#[derive(Debug, Clone, Copy)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// A map keyed by names, hashed with [`Fnv`].
pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;

/// A 64-bit key for a name (FNV-1a), for maps that are read once per node and pod.
pub fn name_key(name: &str) -> u64 {
    let mut h = Fnv::default();
    h.write(name.as_bytes());
    h.finish()
}

/// FNV-1a over the pod uid and node name: the reproducible tie-breaker.
pub fn tie_hash(uid: &str, node: &str) -> u64 {
    let mut h = Fnv::default();
    h.write(uid.as_bytes());
    tie_hash_from(h, node)
}

fn tie_hash_from(mut uid_state: Fnv, node: &str) -> u64 {
    uid_state.write(&[0]);
    uid_state.write(node.as_bytes());
    uid_state.finish()
}

/// Index of the best total; ties go to the smallest [`tie_hash`].
pub fn select(totals: &[i64], uid: &str, names: &[&str]) -> Option<usize> {
    let max = *totals.iter().max()?;
    let mut h = Fnv::default();
    h.write(uid.as_bytes());
    totals
        .iter()
        .enumerate()
        .filter(|(_, t)| **t == max)
        .min_by_key(|(i, _)| tie_hash_from(h, names[*i]))
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::cache::tests::{node_with, pod_on};
    use crate::scheduler::podinfo::tests::pod;
    use serde_json::json;

    fn req(cpu: &str, mem: &str) -> PodInfo {
        pod(json!({"metadata": {"name": format!("p-{cpu}-{mem}")},
                   "spec": {"containers": [{"resources": {"requests": {"cpu": cpu, "memory": mem}}}]}}))
    }

    #[test]
    fn least_allocated_and_balanced() {
        let mut n = node_with("n", json!({}), json!({}), ("4", "8Gi", "110"));
        // Empty node, pod takes 1 cpu of 4 and 2Gi of 8: both 75% free.
        assert_eq!(least_allocated(&n, &req("1", "2Gi")), 75);
        assert_eq!(balanced(&n, &req("1", "2Gi")), Some(100));
        pod_on(&mut n, req("2", "1Gi"));
        // cpu 3/4 used (25 free), memory 3/8 used (62 free) -> (25 + 62) / 2.
        assert_eq!(least_allocated(&n, &req("1", "2Gi")), 43);
        // |0.75 - 0.375| / 2 = 0.1875 -> 81.
        assert_eq!(balanced(&n, &req("1", "2Gi")), Some(81));
        let best_effort = pod(json!({"metadata": {"name": "be"}, "spec": {"containers": [{}]}}));
        assert_eq!(balanced(&n, &best_effort), None);
        // Best-effort pods still count 100m / 200Mi for least-allocated.
        assert!(least_allocated(&n, &best_effort) > 0);
        let full = req("5", "1Gi");
        assert_eq!(
            least_allocated(&n, &full),
            37,
            "cpu over capacity scores 0 for cpu"
        );
    }

    #[test]
    fn normalizations() {
        let mut s = vec![0, 5, 10];
        default_normalize(&mut s, false);
        assert_eq!(s, vec![0, 50, 100]);
        let mut s = vec![0, 1, 2];
        default_normalize(&mut s, true);
        assert_eq!(s, vec![100, 50, 0]);
        let mut s = vec![0, 0];
        default_normalize(&mut s, true);
        assert_eq!(s, vec![100, 100]);
        let mut s = vec![-4, 6, 10];
        minmax_normalize(&mut s);
        assert_eq!(s, vec![0, 71, 100]);
        let mut s = vec![3, 3];
        minmax_normalize(&mut s);
        assert_eq!(s, vec![0, 0]);
    }

    #[test]
    fn ties_break_by_hash_reproducibly() {
        let names = ["a", "b", "c"];
        let pick = select(&[5, 7, 7], "uid-1", &names).unwrap();
        assert!(pick == 1 || pick == 2);
        assert_eq!(select(&[5, 7, 7], "uid-1", &names), Some(pick));
        assert_eq!(select(&[9, 7, 7], "uid-1", &names), Some(0));
        // Different pods spread over tied nodes.
        let picks: std::collections::HashSet<usize> = (0..20)
            .filter_map(|i| select(&[1, 1, 1], &format!("uid-{i}"), &names))
            .collect();
        assert_eq!(picks.len(), 3);
        assert_eq!(select(&[], "u", &[]), None);
    }
}
