//! Node affinity: `spec.nodeSelector`, `requiredDuringSchedulingIgnoredDuringExecution` node
//! selector terms (the `NodeAffinity` filter), preferred terms (its score), and the node
//! selectors of PersistentVolumes.
//!
//! Contract: a [`NodeSelector`] matches when any of its terms does; a term matches when all its
//! `matchExpressions` (on labels: `In`, `NotIn`, `Exists`, `DoesNotExist`, `Gt`, `Lt`) and
//! `matchFields` (only `metadata.name` with `In`/`NotIn`) hold. An empty term, or one with an
//! invalid requirement, matches nothing, as `nodeaffinity.NewLazyErrorNodeSelector` treats it.
//! `NotIn` and `DoesNotExist` hold when the label is absent; `Gt`/`Lt` need an integer label.

use serde_json::{Map, Value};

use super::diagnosis::{Code, Plugin, Rejection};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    DoesNotExist,
    Gt(i64),
    Lt(i64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Requirement {
    key: String,
    op: Op,
}

impl Requirement {
    fn parse(v: &Value, fields: bool) -> Option<Requirement> {
        let key = v.get("key")?.as_str()?.to_string();
        let values: Vec<String> = v
            .get("values")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let int = || -> Option<i64> {
            match values.as_slice() {
                [one] => one.parse().ok(),
                _ => None,
            }
        };
        let op = match v.get("operator")?.as_str()? {
            "In" if !values.is_empty() => Op::In(values.clone()),
            "NotIn" if !values.is_empty() => Op::NotIn(values.clone()),
            "Exists" if !fields && values.is_empty() => Op::Exists,
            "DoesNotExist" if !fields && values.is_empty() => Op::DoesNotExist,
            "Gt" if !fields => Op::Gt(int()?),
            "Lt" if !fields => Op::Lt(int()?),
            _ => return None,
        };
        if fields && (key != "metadata.name" || values.len() != 1) {
            return None;
        }
        Some(Requirement { key, op })
    }

    fn matches(&self, value: Option<&str>) -> bool {
        match &self.op {
            Op::In(vs) => value.is_some_and(|v| vs.iter().any(|x| x == v)),
            Op::NotIn(vs) => !value.is_some_and(|v| vs.iter().any(|x| x == v)),
            Op::Exists => value.is_some(),
            Op::DoesNotExist => value.is_none(),
            Op::Gt(n) => value
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|v| v > *n),
            Op::Lt(n) => value
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|v| v < *n),
        }
    }
}

/// One `NodeSelectorTerm`; `None` requirements mark a term that can never match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSelectorTerm {
    exprs: Option<Vec<Requirement>>,
    fields: Option<Vec<Requirement>>,
}

impl NodeSelectorTerm {
    pub fn parse(v: &Value) -> NodeSelectorTerm {
        let list = |name: &str, fields: bool| -> Option<Vec<Requirement>> {
            match v.get(name) {
                None | Some(Value::Null) => Some(vec![]),
                Some(Value::Array(a)) => a.iter().map(|r| Requirement::parse(r, fields)).collect(),
                Some(_) => None,
            }
        };
        NodeSelectorTerm {
            exprs: list("matchExpressions", false),
            fields: list("matchFields", true),
        }
    }

    pub fn matches(&self, node_name: &str, labels: Option<&Map<String, Value>>) -> bool {
        let (Some(exprs), Some(fields)) = (&self.exprs, &self.fields) else {
            return false;
        };
        if exprs.is_empty() && fields.is_empty() {
            return false;
        }
        exprs
            .iter()
            .all(|r| r.matches(labels.and_then(|l| l.get(&r.key)).and_then(Value::as_str)))
            && fields.iter().all(|r| r.matches(Some(node_name)))
    }

    fn is_empty(&self) -> bool {
        self.exprs.as_ref().is_some_and(Vec::is_empty)
            && self.fields.as_ref().is_some_and(Vec::is_empty)
    }
}

/// A `NodeSelector`: terms ORed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSelector {
    terms: Vec<NodeSelectorTerm>,
}

impl NodeSelector {
    /// From `{"nodeSelectorTerms": [...]}`.
    pub fn parse(v: &Value) -> NodeSelector {
        let terms = v
            .get("nodeSelectorTerms")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(NodeSelectorTerm::parse).collect())
            .unwrap_or_default();
        NodeSelector { terms }
    }

    pub fn matches(&self, node_name: &str, labels: Option<&Map<String, Value>>) -> bool {
        self.terms.iter().any(|t| t.matches(node_name, labels))
    }
}

/// What a pod demands of a node's labels and name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeAffinity {
    /// `spec.nodeSelector`: every label must equal.
    pub selector: Vec<(String, String)>,
    pub required: Option<NodeSelector>,
    /// `(weight, term)` of the preferred terms that can match something.
    pub preferred: Vec<(i64, NodeSelectorTerm)>,
}

impl NodeAffinity {
    pub fn from_spec(spec: &Value) -> NodeAffinity {
        let selector = spec
            .get("nodeSelector")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let na = spec.pointer("/affinity/nodeAffinity");
        let required = na
            .and_then(|a| a.get("requiredDuringSchedulingIgnoredDuringExecution"))
            .filter(|v| v.is_object())
            .map(NodeSelector::parse);
        let preferred = na
            .and_then(|a| a.get("preferredDuringSchedulingIgnoredDuringExecution"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|p| {
                        let w = p.get("weight").and_then(Value::as_i64).unwrap_or(0);
                        let t = NodeSelectorTerm::parse(p.get("preference")?);
                        (w != 0 && !t.is_empty()).then_some((w, t))
                    })
                    .collect()
            })
            .unwrap_or_default();
        NodeAffinity {
            selector,
            required,
            preferred,
        }
    }

    /// `GetRequiredNodeAffinity(pod).Match(node)`.
    pub fn required_match(&self, node_name: &str, labels: Option<&Map<String, Value>>) -> bool {
        let label = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.selector
            .iter()
            .all(|(k, v)| label(k) == Some(v.as_str()))
            && self
                .required
                .as_ref()
                .is_none_or(|r| r.matches(node_name, labels))
    }

    /// Raw `NodeAffinity` score: the summed weights of matching preferred terms.
    pub fn preferred_score(&self, node_name: &str, labels: Option<&Map<String, Value>>) -> i64 {
        self.preferred
            .iter()
            .filter(|(_, t)| t.matches(node_name, labels))
            .map(|(w, _)| *w)
            .sum()
    }
}

/// The `NodeAffinity` filter.
pub fn filter(
    a: &NodeAffinity,
    node_name: &str,
    labels: Option<&Map<String, Value>>,
) -> Result<(), Rejection> {
    if a.required_match(node_name, labels) {
        return Ok(());
    }
    Err(Rejection::new(
        Plugin::NodeAffinity,
        Code::Unresolvable,
        "node(s) didn't match Pod's node affinity/selector",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels() -> Map<String, Value> {
        json!({"zone": "a", "disk": "ssd", "cores": "8"})
            .as_object()
            .cloned()
            .unwrap()
    }

    #[test]
    fn required_affinity_operators() {
        let expr = |key: &str, op: &str, values: Value| {
            json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": key, "operator": op, "values": values}]}]}}}})
        };
        let cases = [
            ("In matches", expr("zone", "In", json!(["a", "b"])), true),
            ("In misses", expr("zone", "In", json!(["b"])), false),
            ("NotIn", expr("zone", "NotIn", json!(["b"])), true),
            (
                "NotIn holds for an absent label",
                expr("gpu", "NotIn", json!(["x"])),
                true,
            ),
            ("NotIn fails", expr("zone", "NotIn", json!(["a"])), false),
            ("Exists", expr("disk", "Exists", json!([])), true),
            ("Exists misses", expr("gpu", "Exists", json!([])), false),
            ("DoesNotExist", expr("gpu", "DoesNotExist", json!([])), true),
            (
                "DoesNotExist fails",
                expr("disk", "DoesNotExist", json!([])),
                false,
            ),
            ("Gt", expr("cores", "Gt", json!(["4"])), true),
            ("Gt fails", expr("cores", "Gt", json!(["8"])), false),
            ("Lt", expr("cores", "Lt", json!(["16"])), true),
            (
                "Gt on a non-number label",
                expr("zone", "Gt", json!(["1"])),
                false,
            ),
            (
                "invalid Gt value matches nothing",
                expr("cores", "Gt", json!(["x"])),
                false,
            ),
            (
                "unknown operator matches nothing",
                expr("zone", "Foo", json!(["a"])),
                false,
            ),
        ];
        for (name, spec, want) in cases {
            let a = NodeAffinity::from_spec(&spec);
            assert_eq!(a.required_match("n1", Some(&labels())), want, "{name}");
        }
    }

    #[test]
    fn terms_are_ored_requirements_anded_and_fields_match_the_name() {
        let spec = json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["b"]}]},
                {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]},
                                      {"key": "disk", "operator": "In", "values": ["ssd"]}]}]}}}});
        let a = NodeAffinity::from_spec(&spec);
        assert!(a.required_match("n1", Some(&labels())));
        assert!(!a.required_match("n1", None));

        let by_name = json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n2"]}]}]}}}});
        let a = NodeAffinity::from_spec(&by_name);
        assert!(a.required_match("n2", None));
        assert!(!a.required_match("n1", Some(&labels())));

        let empty_term = json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{}]}}}});
        assert!(!NodeAffinity::from_spec(&empty_term).required_match("n1", Some(&labels())));
    }

    #[test]
    fn node_selector_and_filter_message() {
        let a = NodeAffinity::from_spec(&json!({"nodeSelector": {"disk": "ssd", "zone": "a"}}));
        assert!(filter(&a, "n1", Some(&labels())).is_ok());
        let a = NodeAffinity::from_spec(&json!({"nodeSelector": {"disk": "hdd"}}));
        let err = filter(&a, "n1", Some(&labels())).unwrap_err();
        assert_eq!(
            err.reasons,
            vec!["node(s) didn't match Pod's node affinity/selector"]
        );
        assert_eq!(err.code, Code::Unresolvable);
        assert!(filter(&NodeAffinity::default(), "n1", None).is_ok());
    }

    #[test]
    fn preferred_terms_sum_their_weights() {
        let spec = json!({"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 10, "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}},
            {"weight": 5, "preference": {"matchExpressions": [{"key": "disk", "operator": "Exists"}]}},
            {"weight": 7, "preference": {"matchExpressions": [{"key": "gpu", "operator": "Exists"}]}},
            {"weight": 9, "preference": {}}]}}});
        let a = NodeAffinity::from_spec(&spec);
        assert_eq!(a.preferred.len(), 3);
        assert_eq!(a.preferred_score("n1", Some(&labels())), 15);
        assert_eq!(a.preferred_score("n1", None), 0);
    }
}
