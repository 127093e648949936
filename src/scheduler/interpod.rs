//! Inter-pod affinity and anti-affinity: the `InterPodAffinity` filter and score.
//!
//! Contract: a term selects pods by label selector in a set of namespaces (its own list plus
//! those its `namespaceSelector` picks, resolved by the caller through
//! [`PodAffinity::resolve_namespaces`]; neither given = the owner's namespace) and groups nodes by
//! the value of `topologyKey`. The filter checks, in Kubernetes' order, the incoming pod's
//! required affinity (`node(s) didn't match pod affinity rules`, not resolvable by preemption;
//! a pod whose terms match only itself may start a group), its required anti-affinity and the
//! required anti-affinity of pods already placed. The score adds preferred weights (and
//! existing pods' required affinity at weight 1) per topology value and is min-max normalized.
//! Work is proportional to the pods inspected, which are all pods only when the incoming pod
//! has terms; otherwise only nodes holding pods with terms are visited.

use serde_json::{Map, Value};

use super::cache::NodeInfo;
use super::diagnosis::{Code, Plugin, Rejection};
use super::podinfo::PodInfo;
use super::score::FastMap;
use crate::api::selector::LabelSelector;

/// Weight given to existing pods' required affinity terms when scoring
/// (`HardPodAffinityWeight`).
const HARD_POD_AFFINITY_WEIGHT: i64 = 1;

#[derive(Debug, Clone)]
pub struct AffinityTerm {
    pub selector: LabelSelector,
    pub namespaces: Vec<String>,
    pub ns_selector: Option<LabelSelector>,
    pub topology_key: String,
    pub weight: i64,
}

impl AffinityTerm {
    fn parse(v: &Value, weight: i64, owner_labels: &Map<String, Value>) -> Option<AffinityTerm> {
        let mut sel = v.get("labelSelector").cloned().unwrap_or(Value::Null);
        // matchLabelKeys / mismatchLabelKeys narrow the selector by the owner's own label values.
        narrow_selector(&mut sel, v.get("matchLabelKeys"), "In", owner_labels);
        narrow_selector(&mut sel, v.get("mismatchLabelKeys"), "NotIn", owner_labels);
        // A term without a label selector selects no pods.
        let selector = if sel.is_object() {
            LabelSelector::from_json(&sel).ok()?
        } else {
            return None;
        };
        let namespaces = v
            .get("namespaces")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|n| n.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let ns_selector = v
            .get("namespaceSelector")
            .filter(|s| s.is_object())
            .and_then(|s| LabelSelector::from_json(s).ok());
        let topology_key = v.get("topologyKey").and_then(Value::as_str)?.to_string();
        Some(AffinityTerm {
            selector,
            namespaces,
            ns_selector,
            topology_key,
            weight,
        })
    }

    /// Whether `pod` is selected by this term of a pod in `owner_ns`; `pod_ns_labels` are the
    /// labels of `pod`'s namespace (for an unresolved namespace selector).
    pub fn matches(
        &self,
        owner_ns: &str,
        pod: &PodInfo,
        pod_ns_labels: Option<&Map<String, Value>>,
    ) -> bool {
        let in_ns = if self.namespaces.is_empty() && self.ns_selector.is_none() {
            pod.namespace == owner_ns
        } else {
            self.namespaces.contains(&pod.namespace)
                || self
                    .ns_selector
                    .as_ref()
                    .is_some_and(|s| s.matches(pod_ns_labels))
        };
        in_ns && self.selector.matches(Some(&pod.labels))
    }
}

/// Add `key <op> (value)` to a label selector (JSON, `null` when absent) for each of `keys`
/// (a JSON list) the owner has a label for: how `matchLabelKeys` and `mismatchLabelKeys` work.
pub fn narrow_selector(
    sel: &mut Value,
    keys: Option<&Value>,
    op: &str,
    owner_labels: &Map<String, Value>,
) {
    for key in keys
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        let Some(val) = owner_labels.get(key).and_then(Value::as_str) else {
            continue;
        };
        if !sel.is_object() {
            *sel = serde_json::json!({});
        }
        let expr = serde_json::json!({"key": key, "operator": op, "values": [val]});
        match sel
            .get_mut("matchExpressions")
            .and_then(Value::as_array_mut)
        {
            Some(list) => list.push(expr),
            None => sel["matchExpressions"] = Value::Array(vec![expr]),
        }
    }
}

/// A pod's affinity and anti-affinity terms.
#[derive(Debug, Clone, Default)]
pub struct PodAffinity {
    pub required: Vec<AffinityTerm>,
    pub required_anti: Vec<AffinityTerm>,
    pub preferred: Vec<AffinityTerm>,
    pub preferred_anti: Vec<AffinityTerm>,
}

impl PodAffinity {
    pub fn from_spec(spec: &Value, labels: &Map<String, Value>) -> PodAffinity {
        let terms = |kind: &str, field: &str| -> Vec<AffinityTerm> {
            let list = spec
                .pointer(&format!("/affinity/{kind}/{field}"))
                .and_then(Value::as_array);
            list.into_iter()
                .flatten()
                .filter_map(|t| match t.get("podAffinityTerm") {
                    Some(inner) => AffinityTerm::parse(
                        inner,
                        t.get("weight").and_then(Value::as_i64).unwrap_or(0),
                        labels,
                    ),
                    None => AffinityTerm::parse(t, 1, labels),
                })
                .collect()
        };
        const REQ: &str = "requiredDuringSchedulingIgnoredDuringExecution";
        const PREF: &str = "preferredDuringSchedulingIgnoredDuringExecution";
        PodAffinity {
            required: terms("podAffinity", REQ),
            required_anti: terms("podAntiAffinity", REQ),
            preferred: terms("podAffinity", PREF),
            preferred_anti: terms("podAntiAffinity", PREF),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.required.is_empty()
            && self.required_anti.is_empty()
            && self.preferred.is_empty()
            && self.preferred_anti.is_empty()
    }

    /// Merge each namespace selector into the namespace list (`namespaces_of` lists the
    /// namespaces a selector picks), as Kubernetes does for the incoming pod in PreFilter.
    pub fn resolve_namespaces(&mut self, namespaces_of: &dyn Fn(&LabelSelector) -> Vec<String>) {
        for t in self
            .required
            .iter_mut()
            .chain(self.required_anti.iter_mut())
            .chain(self.preferred.iter_mut())
            .chain(self.preferred_anti.iter_mut())
        {
            if let Some(sel) = t.ns_selector.take() {
                t.namespaces.extend(namespaces_of(&sel));
                if t.namespaces.is_empty() {
                    // Selected no namespace: keep a name no namespace can have.
                    t.namespaces.push(String::new());
                }
            }
        }
    }
}

/// Counts per topology key and value.
type TopologyCounts = FastMap<String, FastMap<String, i64>>;

fn bump(m: &mut TopologyCounts, key: &str, node: &NodeInfo, by: i64) {
    if let Some(v) = node.label(key) {
        *m.entry(key.to_string())
            .or_default()
            .entry(v.to_string())
            .or_insert(0) += by;
    }
}

fn count(m: &TopologyCounts, key: &str, node: &NodeInfo) -> i64 {
    node.label(key)
        .and_then(|v| m.get(key)?.get(v).copied())
        .unwrap_or(0)
}

/// The filter's pre-computed counts (Kubernetes' `preFilterState`).
#[derive(Debug, Default)]
pub struct FilterState {
    existing_anti: TopologyCounts,
    affinity: TopologyCounts,
    anti: TopologyCounts,
    /// Whether any pod matched all required affinity terms.
    affinity_matched: bool,
}

/// `PreFilter`: `None` when neither the pod nor any placed pod has required terms.
pub fn prefilter(
    pod: &PodInfo,
    ns_labels: Option<&Map<String, Value>>,
    nodes: &[&NodeInfo],
) -> Option<FilterState> {
    let a = &pod.pod_affinity;
    let mut st = FilterState::default();
    for n in nodes.iter().filter(|n| n.with_required_anti > 0) {
        for e in &n.pods {
            for t in &e.pod_affinity.required_anti {
                if t.matches(&e.namespace, pod, ns_labels) {
                    bump(&mut st.existing_anti, &t.topology_key, n, 1);
                }
            }
        }
    }
    if a.required.is_empty() && a.required_anti.is_empty() {
        return (!st.existing_anti.is_empty()).then_some(st);
    }
    for n in nodes {
        for e in &n.pods {
            if !a.required.is_empty()
                && a.required
                    .iter()
                    .all(|t| t.matches(&pod.namespace, e, None))
            {
                st.affinity_matched = true;
                for t in &a.required {
                    bump(&mut st.affinity, &t.topology_key, n, 1);
                }
            }
            for t in &a.required_anti {
                if t.matches(&pod.namespace, e, None) {
                    bump(&mut st.anti, &t.topology_key, n, 1);
                }
            }
        }
    }
    Some(st)
}

/// The `InterPodAffinity` filter for one node.
pub fn filter(
    st: &FilterState,
    pod: &PodInfo,
    ns_labels: Option<&Map<String, Value>>,
    node: &NodeInfo,
) -> Result<(), Rejection> {
    let a = &pod.pod_affinity;
    let mut pods_exist = true;
    for t in &a.required {
        if node.label(&t.topology_key).is_none() {
            // Without the topology label the node can never satisfy the term.
            return Err(affinity_rejection());
        }
        if count(&st.affinity, &t.topology_key, node) <= 0 {
            pods_exist = false;
        }
    }
    if !pods_exist {
        // The first pod of a group that selects itself may go anywhere with the labels.
        let self_match = a
            .required
            .iter()
            .all(|t| t.matches(&pod.namespace, pod, ns_labels));
        if st.affinity_matched || !self_match {
            return Err(affinity_rejection());
        }
    }
    if a.required_anti
        .iter()
        .any(|t| count(&st.anti, &t.topology_key, node) > 0)
    {
        return Err(Rejection::new(
            Plugin::InterPodAffinity,
            Code::Unschedulable,
            "node(s) didn't match pod anti-affinity rules",
        ));
    }
    if !st.existing_anti.is_empty()
        && st
            .existing_anti
            .keys()
            .any(|k| count(&st.existing_anti, k, node) > 0)
    {
        return Err(Rejection::new(
            Plugin::InterPodAffinity,
            Code::Unschedulable,
            "node(s) didn't satisfy existing pods anti-affinity rules",
        ));
    }
    Ok(())
}

fn affinity_rejection() -> Rejection {
    Rejection::new(
        Plugin::InterPodAffinity,
        Code::Unresolvable,
        "node(s) didn't match pod affinity rules",
    )
}

/// The score's per-topology weights; `None` when nothing contributes.
pub fn prescore(
    pod: &PodInfo,
    ns_labels: Option<&Map<String, Value>>,
    nodes: &[&NodeInfo],
) -> Option<TopologyCounts> {
    let a = &pod.pod_affinity;
    let own = !a.preferred.is_empty() || !a.preferred_anti.is_empty();
    let mut m = TopologyCounts::default();
    for n in nodes.iter().filter(|n| own || n.with_affinity > 0) {
        for e in &n.pods {
            for t in &a.preferred {
                if t.matches(&pod.namespace, e, None) {
                    bump(&mut m, &t.topology_key, n, t.weight);
                }
            }
            for t in &a.preferred_anti {
                if t.matches(&pod.namespace, e, None) {
                    bump(&mut m, &t.topology_key, n, -t.weight);
                }
            }
            let ea = &e.pod_affinity;
            for t in &ea.preferred {
                if t.matches(&e.namespace, pod, ns_labels) {
                    bump(&mut m, &t.topology_key, n, t.weight);
                }
            }
            for t in &ea.preferred_anti {
                if t.matches(&e.namespace, pod, ns_labels) {
                    bump(&mut m, &t.topology_key, n, -t.weight);
                }
            }
            for t in &ea.required {
                if t.matches(&e.namespace, pod, ns_labels) {
                    bump(&mut m, &t.topology_key, n, HARD_POD_AFFINITY_WEIGHT);
                }
            }
        }
    }
    (!m.is_empty()).then_some(m)
}

/// A node's raw score: the weights of the topology values it has.
pub fn score(m: &TopologyCounts, node: &NodeInfo) -> i64 {
    m.keys().map(|k| count(m, k, node)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::cache::tests::{node, pod_on};
    use crate::scheduler::podinfo::tests::pod;
    use serde_json::json;

    fn anti(app: &str) -> Value {
        json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": "kubernetes.io/hostname"}]}})
    }

    fn run(incoming: &PodInfo, nodes: &[NodeInfo]) -> Vec<Result<(), String>> {
        let refs: Vec<&NodeInfo> = nodes.iter().collect();
        let st = prefilter(incoming, None, &refs);
        refs.iter()
            .map(|n| match &st {
                None => Ok(()),
                Some(st) => filter(st, incoming, None, n).map_err(|e| e.reasons[0].to_string()),
            })
            .collect()
    }

    #[test]
    fn required_anti_affinity_spreads_replicas() {
        let web = |name: &str| {
            pod(
                json!({"metadata": {"name": name, "labels": {"app": "web"}}, "spec": {"affinity": anti("web")}}),
            )
        };
        let mut n1 = node("n1", json!({}));
        let n2 = node("n2", json!({}));
        pod_on(&mut n1, web("web-0"));
        let got = run(&web("web-1"), &[n1, n2]);
        assert_eq!(
            got,
            vec![
                Err("node(s) didn't match pod anti-affinity rules".into()),
                Ok(())
            ]
        );
    }

    #[test]
    fn existing_pods_anti_affinity_keeps_others_away() {
        let mut n1 = node("n1", json!({}));
        pod_on(
            &mut n1,
            pod(
                json!({"metadata": {"name": "db", "labels": {"app": "db"}}, "spec": {"affinity": anti("web")}}),
            ),
        );
        let incoming =
            pod(json!({"metadata": {"name": "w", "labels": {"app": "web"}}, "spec": {}}));
        let got = run(&incoming, &[n1, node("n2", json!({}))]);
        assert_eq!(
            got,
            vec![
                Err("node(s) didn't satisfy existing pods anti-affinity rules".into()),
                Ok(())
            ]
        );
        let other = pod(json!({"metadata": {"name": "x", "labels": {"app": "other"}}, "spec": {}}));
        let mut n1 = node("n1", json!({}));
        pod_on(
            &mut n1,
            pod(
                json!({"metadata": {"name": "db", "labels": {"app": "db"}}, "spec": {"affinity": anti("web")}}),
            ),
        );
        assert_eq!(run(&other, &[n1]), vec![Ok(())]);
    }

    #[test]
    fn required_affinity_by_zone_and_the_first_pod_of_a_group() {
        let aff = json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": "cache"}}, "topologyKey": "zone"}]}});
        let mut a1 = node("a1", json!({"zone": "a"}));
        let a2 = node("a2", json!({"zone": "a"}));
        let b1 = node("b1", json!({"zone": "b"}));
        let bare = node("bare", json!({}));
        pod_on(
            &mut a1,
            pod(json!({"metadata": {"name": "c", "labels": {"app": "cache"}}, "spec": {}})),
        );
        let incoming = pod(
            json!({"metadata": {"name": "w", "labels": {"app": "web"}}, "spec": {"affinity": aff.clone()}}),
        );
        let miss = Err("node(s) didn't match pod affinity rules".to_string());
        assert_eq!(
            run(&incoming, &[a1, a2, b1, bare]),
            vec![Ok(()), Ok(()), miss.clone(), miss.clone()]
        );

        // Nobody matches yet and the pod matches its own term: it may start the group.
        let first = pod(
            json!({"metadata": {"name": "c0", "labels": {"app": "cache"}}, "spec": {"affinity": aff.clone()}}),
        );
        assert_eq!(
            run(
                &first,
                &[node("b1", json!({"zone": "b"})), node("bare", json!({}))]
            ),
            vec![Ok(()), miss.clone()]
        );
        // A pod that does not match itself cannot.
        assert_eq!(
            run(&incoming, &[node("b1", json!({"zone": "b"}))]),
            vec![miss]
        );
    }

    #[test]
    fn namespaces_and_namespace_selectors() {
        let term = |extra: Value| {
            let mut t =
                json!({"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "h"});
            t.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            let p = pod(
                json!({"metadata": {"name": "p", "namespace": "a"}, "spec": {"affinity": {"podAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [t]}}}}),
            );
            p.pod_affinity.required[0].clone()
        };
        let web_in = |ns: &str| {
            pod(
                json!({"metadata": {"name": "w", "namespace": ns, "labels": {"app": "web"}}, "spec": {}}),
            )
        };
        let prod = json!({"env": "prod"}).as_object().cloned().unwrap();
        assert!(term(json!({})).matches("a", &web_in("a"), None));
        assert!(!term(json!({})).matches("a", &web_in("b"), None));
        assert!(term(json!({"namespaces": ["b"]})).matches("a", &web_in("b"), None));
        let by_label = term(json!({"namespaceSelector": {"matchLabels": {"env": "prod"}}}));
        assert!(by_label.matches("a", &web_in("b"), Some(&prod)));
        assert!(!by_label.matches("a", &web_in("b"), None));
        assert!(term(json!({"namespaceSelector": {}})).matches("a", &web_in("z"), None));
        let mut pa = PodAffinity {
            required: vec![by_label],
            ..Default::default()
        };
        pa.resolve_namespaces(&|_| vec!["b".to_string()]);
        assert!(pa.required[0].matches("a", &web_in("b"), None));
        assert!(!pa.required[0].matches("a", &web_in("c"), None));
    }

    #[test]
    fn preferred_terms_score_by_topology() {
        let pref = json!({"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 10, "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "zone"}}]},
            "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 4, "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"}}]}});
        let mut a1 = node("a1", json!({"zone": "a"}));
        let a2 = node("a2", json!({"zone": "a"}));
        let mut b1 = node("b1", json!({"zone": "b"}));
        pod_on(
            &mut a1,
            pod(json!({"metadata": {"name": "db", "labels": {"app": "db"}}, "spec": {}})),
        );
        pod_on(
            &mut a1,
            pod(json!({"metadata": {"name": "w0", "labels": {"app": "web"}}, "spec": {}})),
        );
        pod_on(
            &mut b1,
            pod(json!({"metadata": {"name": "w1", "labels": {"app": "web"}}, "spec": {}})),
        );
        let incoming = pod(
            json!({"metadata": {"name": "w2", "labels": {"app": "web"}}, "spec": {"affinity": pref}}),
        );
        let nodes = [&a1, &a2, &b1];
        let m = prescore(&incoming, None, &nodes).unwrap();
        let raw: Vec<i64> = nodes.iter().map(|n| score(&m, n)).collect();
        assert_eq!(raw, vec![6, 10, -4]);
        let none = pod(json!({"metadata": {"name": "x"}, "spec": {}}));
        assert!(prescore(&none, None, &nodes).is_none());
    }
}
