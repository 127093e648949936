//! Pod topology spread: the `PodTopologySpread` filter (`whenUnsatisfiable: DoNotSchedule`) and
//! score (`ScheduleAnyway`, and the system default spreading of a controller's pods).
//!
//! Contract: a constraint counts the non-terminating pods of the pod's namespace matching its
//! selector (narrowed by `matchLabelKeys`) per value of `topologyKey`, over the nodes that carry
//! every constraint's key and pass the pod's node affinity (`nodeAffinityPolicy: Honor`, the
//! default) and, with `nodeTaintsPolicy: Honor`, its tolerations. A node fails when
//! `count(its domain) + selfMatch - min(count over domains) > maxSkew` (the minimum is 0 while
//! there are fewer domains than `minDomains`); a node without the key fails unresolvably. A pod
//! with no constraints whose controller is known spreads like Kubernetes' system defaults
//! (hostname skew 3, zone skew 5, ScheduleAnyway) over the pods of the same controller, read in
//! O(1) per node from the cache's per-controller counts.

use serde_json::{Map, Value};

use super::cache::NodeInfo;
use super::diagnosis::{Code, Plugin, Rejection};
use super::interpod::narrow_selector;
use super::podinfo::PodInfo;
use super::score::FastMap;
use super::taints;
use crate::api::selector::LabelSelector;

pub const HOSTNAME: &str = "kubernetes.io/hostname";
pub const ZONE: &str = "topology.kubernetes.io/zone";
const NOT_MATCH: &str = "node(s) didn't match pod topology spread constraints";
const MISSING_LABEL: &str =
    "node(s) didn't match pod topology spread constraints (missing required label)";

/// Which pods a constraint counts.
#[derive(Debug, Clone)]
pub enum Selector {
    Labels(LabelSelector),
    /// The pods of this controller ([`PodInfo::controller`]; system default spreading).
    Controller(u64),
}

#[derive(Debug, Clone)]
pub struct Constraint {
    pub max_skew: i64,
    pub key: String,
    pub hard: bool,
    pub selector: Selector,
    pub min_domains: i64,
    pub honor_affinity: bool,
    pub honor_taints: bool,
}

impl Constraint {
    fn self_match(&self, pod: &PodInfo) -> bool {
        match &self.selector {
            Selector::Labels(s) => s.matches(Some(&pod.labels)),
            Selector::Controller(uid) => pod.controller == Some(*uid),
        }
    }

    /// Matching pods on one node (`countPodsMatchSelector`).
    fn count_on(&self, node: &NodeInfo, ns: &str) -> i64 {
        match &self.selector {
            Selector::Controller(uid) => {
                i64::from(node.by_controller.get(uid).copied().unwrap_or(0))
            }
            Selector::Labels(s) if s.is_empty() => 0,
            Selector::Labels(s) => node
                .pods
                .iter()
                .filter(|p| !p.terminating && p.namespace == ns && s.matches(Some(&p.labels)))
                .count() as i64,
        }
    }

    fn includes(&self, pod: &PodInfo, node: &NodeInfo) -> bool {
        (!self.honor_affinity
            || pod
                .node_affinity
                .required_match(&node.name, Some(&node.labels)))
            && (!self.honor_taints || taints::filter_taints(&node.taints, &pod.tolerations).is_ok())
    }
}

/// `spec.topologySpreadConstraints` of a pod with `labels`.
pub fn constraints(spec: &Value, labels: &Map<String, Value>) -> Vec<Constraint> {
    let list = spec
        .get("topologySpreadConstraints")
        .and_then(Value::as_array);
    list.into_iter()
        .flatten()
        .filter_map(|c| {
            let mut sel = c
                .get("labelSelector")
                .cloned()
                .filter(Value::is_object)
                .unwrap_or(Value::Null);
            narrow_selector(&mut sel, c.get("matchLabelKeys"), "In", labels);
            // No selector: counts nothing (an empty selector matches no pods here).
            let selector = if sel.is_object() {
                LabelSelector::from_json(&sel).ok()?
            } else {
                LabelSelector::default()
            };
            let s = |k: &str| c.get(k).and_then(Value::as_str);
            Some(Constraint {
                max_skew: c.get("maxSkew").and_then(Value::as_i64).unwrap_or(1).max(1),
                key: s("topologyKey")?.to_string(),
                hard: s("whenUnsatisfiable") != Some("ScheduleAnyway"),
                selector: Selector::Labels(selector),
                min_domains: c
                    .get("minDomains")
                    .and_then(Value::as_i64)
                    .unwrap_or(1)
                    .max(1),
                honor_affinity: s("nodeAffinityPolicy") != Some("Ignore"),
                honor_taints: s("nodeTaintsPolicy") == Some("Honor"),
            })
        })
        .collect()
}

/// Kubernetes' system default constraints, over the pods of the pod's controller.
pub fn default_constraints(pod: &PodInfo) -> Vec<Constraint> {
    let Some(uid) = pod.controller else {
        return vec![];
    };
    [(HOSTNAME, 3), (ZONE, 5)]
        .into_iter()
        .map(|(key, max_skew)| Constraint {
            max_skew,
            key: key.to_string(),
            hard: false,
            selector: Selector::Controller(uid),
            min_domains: 1,
            honor_affinity: true,
            honor_taints: false,
        })
        .collect()
}

fn has_keys(node: &NodeInfo, cs: &[&Constraint]) -> bool {
    cs.iter().all(|c| node.label(&c.key).is_some())
}

fn label<'a>(node: &'a NodeInfo, key: &str) -> Option<&'a str> {
    node.label(key)
}

/// The filter's per-domain counts.
#[derive(Debug)]
pub struct FilterState<'p> {
    hard: Vec<&'p Constraint>,
    counts: Vec<FastMap<String, i64>>,
}

impl FilterState<'_> {
    fn min_match(&self, i: usize) -> i64 {
        let counts = &self.counts[i];
        if (counts.len() as i64) < self.hard[i].min_domains {
            return 0;
        }
        // No eligible domain at all: nothing to be skewed against.
        counts.values().copied().min().unwrap_or(i64::MAX / 2)
    }
}

/// `PreFilter`: `None` when the pod has no DoNotSchedule constraint.
pub fn prefilter<'p>(pod: &'p PodInfo, nodes: &[&NodeInfo]) -> Option<FilterState<'p>> {
    let hard: Vec<&Constraint> = pod.spread.iter().filter(|c| c.hard).collect();
    if hard.is_empty() {
        return None;
    }
    let mut counts = vec![FastMap::default(); hard.len()];
    for n in nodes.iter().filter(|n| has_keys(n, &hard)) {
        for (i, c) in hard.iter().enumerate() {
            if !c.includes(pod, n) {
                continue;
            }
            let v = label(n, &c.key).unwrap_or("");
            *counts[i].entry(v.to_string()).or_insert(0) += c.count_on(n, &pod.namespace);
        }
    }
    Some(FilterState { hard, counts })
}

pub fn filter(st: &FilterState, pod: &PodInfo, node: &NodeInfo) -> Result<(), Rejection> {
    for (i, c) in st.hard.iter().enumerate() {
        let Some(v) = label(node, &c.key) else {
            return Err(Rejection::new(
                Plugin::PodTopologySpread,
                Code::Unresolvable,
                MISSING_LABEL,
            ));
        };
        let matched = st.counts[i].get(v).copied().unwrap_or(0);
        let skew = matched + i64::from(c.self_match(pod)) - st.min_match(i);
        if skew > c.max_skew {
            return Err(Rejection::new(
                Plugin::PodTopologySpread,
                Code::Unschedulable,
                NOT_MATCH,
            ));
        }
    }
    Ok(())
}

/// The raw scores (`PreScore` + `Score`) of the feasible nodes, in their order: more matching
/// pods is worse; `None` for a node left unscored because it misses a key. `all` are every
/// node, over which the domains' pods are counted. `None` when nothing is to be spread.
pub fn raw_scores(
    pod: &PodInfo,
    all: &[&NodeInfo],
    feasible: &[&NodeInfo],
) -> Option<Vec<Option<i64>>> {
    let (constraints, require_all) = if pod.spread.is_empty() {
        (default_constraints(pod), false)
    } else {
        (
            pod.spread
                .iter()
                .filter(|c| !c.hard)
                .cloned()
                .collect::<Vec<_>>(),
            true,
        )
    };
    if constraints.is_empty() {
        return None;
    }
    let refs: Vec<&Constraint> = constraints.iter().collect();
    let ignored: Vec<bool> = feasible
        .iter()
        .map(|n| require_all && !has_keys(n, &refs))
        .collect();
    // Each feasible node's value of each key, looked up once (row per node).
    let k = constraints.len();
    let values: Vec<Option<&str>> = feasible
        .iter()
        .flat_map(|n| constraints.iter().map(|c| label(n, &c.key)))
        .collect();
    let mut counts: Vec<FastMap<&str, i64>> = vec![FastMap::default(); k];
    for (vals, _) in values.chunks(k).zip(&ignored).filter(|(_, ig)| !**ig) {
        for (i, c) in constraints.iter().enumerate() {
            if c.key != HOSTNAME {
                counts[i].entry(vals[i].unwrap_or("")).or_insert(0);
            }
        }
    }
    let scored = ignored.iter().filter(|ig| !**ig).count();
    let weights: Vec<f64> = constraints
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let size = if c.key == HOSTNAME {
                scored
            } else {
                counts[i].len()
            };
            ((size + 2) as f64).ln()
        })
        .collect();
    for n in all {
        for (i, c) in constraints.iter().enumerate() {
            if c.key == HOSTNAME {
                continue;
            }
            // Counting first: most nodes hold no matching pod and need no label lookups.
            let cnt = c.count_on(n, &pod.namespace);
            if cnt == 0
                || !pod.node_affinity.required_match(&n.name, Some(&n.labels))
                || (require_all && (!has_keys(n, &refs) || !c.includes(pod, n)))
            {
                continue;
            }
            if let Some(slot) = counts[i].get_mut(label(n, &c.key).unwrap_or("")) {
                *slot += cnt;
            }
        }
    }
    let score = |n: &NodeInfo, vals: &[Option<&str>]| {
        let mut s = 0.0;
        for (i, c) in constraints.iter().enumerate() {
            let Some(v) = vals[i] else { continue };
            let cnt = if c.key == HOSTNAME {
                c.count_on(n, &pod.namespace)
            } else {
                counts[i].get(v).copied().unwrap_or(0)
            };
            s += cnt as f64 * weights[i] + (c.max_skew - 1) as f64;
        }
        s.round() as i64
    };
    Some(
        feasible
            .iter()
            .zip(values.chunks(k))
            .zip(&ignored)
            .map(|((n, vals), ig)| (!*ig).then(|| score(n, vals)))
            .collect(),
    )
}

/// `NormalizeScore`: fewest matching pods scores 100, ignored nodes 0.
pub fn normalize(raw: &[Option<i64>]) -> Vec<i64> {
    let present = raw.iter().flatten();
    let min = present.clone().copied().min().unwrap_or(0);
    let max = present.copied().max().unwrap_or(0);
    raw.iter()
        .map(|s| match s {
            None => 0,
            Some(_) if max == 0 => 100,
            Some(s) => 100 * (max + min - s) / max,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::cache::tests::{node, pod_on};
    use crate::scheduler::podinfo::tests::pod;
    use serde_json::json;

    fn spread_pod(name: &str, constraint: Value) -> PodInfo {
        pod(json!({"metadata": {"name": name, "labels": {"app": "web"}},
                   "spec": {"topologySpreadConstraints": [constraint]}}))
    }

    fn web(name: &str) -> PodInfo {
        pod(json!({"metadata": {"name": name, "labels": {"app": "web"}}, "spec": {}}))
    }

    fn zones() -> Vec<NodeInfo> {
        let mut a1 = node("a1", json!({"zone": "a"}));
        let mut a2 = node("a2", json!({"zone": "a"}));
        let mut b1 = node("b1", json!({"zone": "b"}));
        pod_on(&mut a1, web("w1"));
        pod_on(&mut a2, web("w2"));
        pod_on(&mut b1, web("w3"));
        vec![
            a1,
            a2,
            b1,
            node("c1", json!({"zone": "c"})),
            node("none", json!({})),
        ]
    }

    fn run(p: &PodInfo, nodes: &[NodeInfo]) -> Vec<Result<(), String>> {
        let refs: Vec<&NodeInfo> = nodes.iter().collect();
        let st = prefilter(p, &refs).expect("hard constraint");
        refs.iter()
            .map(|n| filter(&st, p, n).map_err(|e| e.reasons[0].to_string()))
            .collect()
    }

    #[test]
    fn do_not_schedule_respects_max_skew() {
        let skew = Err(NOT_MATCH.to_string());
        let missing = Err(MISSING_LABEL.to_string());
        struct Case {
            name: &'static str,
            constraint: Value,
            with_empty_zone: bool,
            want: Vec<Result<(), String>>,
        }
        let sel = json!({"matchLabels": {"app": "web"}});
        let cases = [
            Case {
                name: "zone c is empty: only it keeps the skew at 1",
                constraint: json!({"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule", "labelSelector": sel}),
                with_empty_zone: true,
                want: vec![
                    skew.clone(),
                    skew.clone(),
                    skew.clone(),
                    Ok(()),
                    missing.clone(),
                ],
            },
            Case {
                name: "maxSkew 2 allows zone b",
                constraint: json!({"maxSkew": 2, "topologyKey": "zone", "labelSelector": sel}),
                with_empty_zone: true,
                want: vec![skew.clone(), skew.clone(), Ok(()), Ok(()), missing.clone()],
            },
            Case {
                name: "without the empty zone the minimum is 1",
                constraint: json!({"maxSkew": 1, "topologyKey": "zone", "labelSelector": sel}),
                with_empty_zone: false,
                want: vec![skew.clone(), skew.clone(), Ok(()), missing.clone()],
            },
            Case {
                name: "minDomains above the domain count makes the minimum 0",
                constraint: json!({"maxSkew": 1, "topologyKey": "zone", "minDomains": 3, "labelSelector": sel}),
                with_empty_zone: false,
                want: vec![skew.clone(), skew.clone(), skew.clone(), missing.clone()],
            },
            Case {
                name: "selector matching nothing never skews",
                constraint: json!({"maxSkew": 1, "topologyKey": "zone", "labelSelector": {"matchLabels": {"app": "db"}}}),
                with_empty_zone: true,
                want: vec![Ok(()), Ok(()), Ok(()), Ok(()), missing],
            },
        ];
        for c in cases {
            let p = spread_pod("new", c.constraint);
            let mut nodes = zones();
            if !c.with_empty_zone {
                nodes.remove(3);
            }
            assert_eq!(run(&p, &nodes), c.want, "{}", c.name);
        }
    }

    #[test]
    fn match_label_keys_count_only_the_same_revision() {
        let rev = |name: &str, hash: &str| {
            pod(
                json!({"metadata": {"name": name, "labels": {"app": "web", "pod-template-hash": hash}}, "spec": {}}),
            )
        };
        let mut n1 = node("n1", json!({}));
        pod_on(&mut n1, rev("old-1", "a"));
        pod_on(&mut n1, rev("old-2", "a"));
        let n2 = node("n2", json!({}));
        let p = pod(
            json!({"metadata": {"name": "new", "labels": {"app": "web", "pod-template-hash": "b"}},
            "spec": {"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": HOSTNAME,
                "labelSelector": {"matchLabels": {"app": "web"}}, "matchLabelKeys": ["pod-template-hash"]}]}}),
        );
        // The old revision's pods do not count: both nodes are empty for the new one.
        assert_eq!(run(&p, &[n1.clone(), n2.clone()]), vec![Ok(()), Ok(())]);
        let mut without = p.clone();
        without.spread = constraints(
            &json!({"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": HOSTNAME,
                "labelSelector": {"matchLabels": {"app": "web"}}}]}),
            &without.labels,
        );
        assert_eq!(
            run(&without, &[n1, n2]),
            vec![Err(NOT_MATCH.to_string()), Ok(())]
        );
    }

    #[test]
    fn hostname_spread_and_node_affinity_policy() {
        let mut n1 = node("n1", json!({"disk": "ssd"}));
        let n2 = node("n2", json!({"disk": "ssd"}));
        let n3 = node("n3", json!({}));
        pod_on(&mut n1, web("w1"));
        let c = json!({"maxSkew": 1, "topologyKey": HOSTNAME, "labelSelector": {"matchLabels": {"app": "web"}}});
        let mut p = spread_pod("new", c.clone());
        let skew = Err(NOT_MATCH.to_string());
        // n3 is an empty domain: with it counted the minimum is 0 and n1 is too full.
        assert_eq!(
            run(&p, &[n1.clone(), n2.clone(), n3.clone()]),
            vec![skew.clone(), Ok(()), Ok(())]
        );
        // n3 fails the pod's node selector, so (policy Honor) it is not a domain.
        p.node_affinity = crate::scheduler::affinity::NodeAffinity::from_spec(
            &json!({"nodeSelector": {"disk": "ssd"}}),
        );
        assert_eq!(run(&p, &[n1, n2, n3]), vec![skew, Ok(()), Ok(())]);
    }

    #[test]
    fn terminating_and_other_namespace_pods_do_not_count() {
        let mut n1 = node("n1", json!({}));
        pod_on(
            &mut n1,
            pod(
                json!({"metadata": {"name": "old", "labels": {"app": "web"}, "deletionTimestamp": "2026-01-01T00:00:00Z"}, "spec": {}}),
            ),
        );
        pod_on(
            &mut n1,
            pod(
                json!({"metadata": {"name": "x", "namespace": "other", "labels": {"app": "web"}}, "spec": {}}),
            ),
        );
        let c = json!({"maxSkew": 1, "topologyKey": HOSTNAME, "labelSelector": {"matchLabels": {"app": "web"}}});
        assert_eq!(
            run(&spread_pod("new", c), &[n1, node("n2", json!({}))]),
            vec![Ok(()), Ok(())]
        );
    }

    #[test]
    fn schedule_anyway_scores_emptier_domains_higher() {
        let nodes = zones();
        let refs: Vec<&NodeInfo> = nodes.iter().collect();
        let p = spread_pod(
            "new",
            json!({"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "ScheduleAnyway",
                                         "labelSelector": {"matchLabels": {"app": "web"}}}),
        );
        assert!(prefilter(&p, &refs).is_none());
        let raw = raw_scores(&p, &refs, &refs).unwrap();
        // ln(3 zones + 2) ≈ 1.609 per matching pod.
        assert_eq!(raw, vec![Some(3), Some(3), Some(2), Some(0), None]);
        assert_eq!(normalize(&raw), vec![0, 0, 33, 100, 0]);
    }

    #[test]
    fn default_spreading_counts_pods_of_the_same_controller() {
        let owned = |name: &str, uid: &str| {
            pod(
                json!({"metadata": {"name": name, "ownerReferences": [{"uid": uid, "controller": true, "kind": "ReplicaSet", "name": "rs"}]}, "spec": {}}),
            )
        };
        let mut n1 = node("n1", json!({}));
        let mut n2 = node("n2", json!({}));
        pod_on(&mut n1, owned("a", "rs1"));
        pod_on(&mut n1, owned("b", "rs1"));
        pod_on(&mut n2, owned("c", "rs2"));
        let refs = [&n1, &n2];
        let p = owned("new", "rs1");
        let raw = raw_scores(&p, &refs, &refs).unwrap();
        let norm = normalize(&raw);
        assert!(norm[1] > norm[0], "{raw:?} {norm:?}");
        assert!(raw_scores(&web("orphan"), &refs, &refs).is_none());
    }
}
