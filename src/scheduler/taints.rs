//! Taints and tolerations: the `NodeUnschedulable` and `TaintToleration` filters and the
//! `PreferNoSchedule` score.
//!
//! Contract: a toleration with an empty key and `Exists` tolerates every taint; an empty effect
//! matches every effect; `Equal` (or no operator) compares values. Only `NoSchedule` and
//! `NoExecute` taints filter; `PreferNoSchedule` ones only lower the score. A node that is not
//! Ready carries the taint the node lifecycle controller would put on it
//! (`node.kubernetes.io/not-ready` or `.../unreachable`, `NoSchedule`), so it is refused with the
//! same message Kubernetes gives and a pod can tolerate it.

use serde_json::Value;

use super::diagnosis::{Code, Plugin, Rejection};

pub const NOT_READY: &str = "node.kubernetes.io/not-ready";
pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
pub const UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taint {
    pub key: String,
    pub value: String,
    pub effect: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toleration {
    pub key: String,
    pub exists: bool,
    pub value: String,
    pub effect: String,
}

fn s(v: &Value, k: &str) -> String {
    v.get(k).and_then(Value::as_str).unwrap_or("").to_string()
}

impl Taint {
    /// A taint object of `spec.taints`.
    pub fn from_json(t: &Value) -> Taint {
        Taint {
            key: s(t, "key"),
            value: s(t, "value"),
            effect: s(t, "effect"),
        }
    }
}

impl Toleration {
    /// One toleration object; operators other than `Exists`/`Equal` tolerate nothing (None).
    pub fn from_json(t: &Value) -> Option<Toleration> {
        let exists = match t.get("operator").and_then(Value::as_str).unwrap_or("Equal") {
            "Exists" => true,
            "Equal" | "" => false,
            _ => return None,
        };
        Some(Toleration {
            key: s(t, "key"),
            exists,
            value: s(t, "value"),
            effect: s(t, "effect"),
        })
    }

    /// The one toleration rule (used by the scheduler, taint eviction and DaemonSets alike).
    pub fn tolerates(&self, t: &Taint) -> bool {
        (self.effect.is_empty() || self.effect == t.effect)
            && (self.key.is_empty() || self.key == t.key)
            && (self.exists || self.value == t.value)
    }
}

/// `spec.tolerations` of a pod spec. Operators other than `Exists`/`Equal` tolerate nothing.
pub fn tolerations(spec: &Value) -> Vec<Toleration> {
    let Some(list) = spec.get("tolerations").and_then(Value::as_array) else {
        return vec![];
    };
    list.iter().filter_map(Toleration::from_json).collect()
}

/// The node's taints, plus the implicit not-ready/unreachable taint when it is not Ready.
pub fn node_taints(node: &Value) -> Vec<Taint> {
    let mut out: Vec<Taint> = node
        .pointer("/spec/taints")
        .and_then(Value::as_array)
        .map(|l| l.iter().map(Taint::from_json).collect())
        .unwrap_or_default();
    let ready = node
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| {
            cs.iter()
                .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))
        })
        .and_then(|c| c.get("status"))
        .and_then(Value::as_str);
    let implicit = match ready {
        Some("True") => None,
        Some("False") => Some(NOT_READY),
        _ => Some(UNREACHABLE),
    };
    if let Some(key) = implicit {
        if !out.iter().any(|t| t.key == key) {
            out.push(Taint {
                key: key.into(),
                value: String::new(),
                effect: "NoSchedule".into(),
            });
        }
    }
    out
}

pub fn tolerated(tols: &[Toleration], t: &Taint) -> bool {
    tols.iter().any(|tol| tol.tolerates(t))
}

/// `NodeUnschedulable`: a cordoned node takes only pods tolerating the unschedulable taint.
pub fn filter_unschedulable(unschedulable: bool, tols: &[Toleration]) -> Result<(), Rejection> {
    if !unschedulable {
        return Ok(());
    }
    let taint = Taint {
        key: UNSCHEDULABLE.into(),
        value: String::new(),
        effect: "NoSchedule".into(),
    };
    if !tolerated(tols, &taint) {
        return Err(Rejection::new(
            Plugin::NodeUnschedulable,
            Code::Unresolvable,
            "node(s) were unschedulable",
        ));
    }
    Ok(())
}

/// `TaintToleration`: the first `NoSchedule`/`NoExecute` taint the pod does not tolerate.
pub fn filter_taints(taints: &[Taint], tols: &[Toleration]) -> Result<(), Rejection> {
    let bad = taints
        .iter()
        .find(|t| (t.effect == "NoSchedule" || t.effect == "NoExecute") && !tolerated(tols, t));
    match bad {
        None => Ok(()),
        Some(t) => Err(Rejection::new(
            Plugin::TaintToleration,
            Code::Unresolvable,
            format!("node(s) had untolerated taint {{{}: {}}}", t.key, t.value),
        )),
    }
}

/// The raw `TaintToleration` score: how many `PreferNoSchedule` taints the pod does not tolerate
/// (normalized in reverse: fewer is better).
pub fn intolerable_prefer_no_schedule(taints: &[Taint], tols: &[Toleration]) -> i64 {
    taints
        .iter()
        .filter(|t| t.effect == "PreferNoSchedule")
        .filter(|t| {
            !tols
                .iter()
                .filter(|x| x.effect.is_empty() || x.effect == "PreferNoSchedule")
                .any(|x| x.tolerates(t))
        })
        .count() as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn taint(k: &str, v: &str, e: &str) -> Taint {
        Taint {
            key: k.into(),
            value: v.into(),
            effect: e.into(),
        }
    }

    #[test]
    fn tolerations_match_taints() {
        struct Case {
            name: &'static str,
            tols: Value,
            taint: Taint,
            want: bool,
        }
        let t = taint("dedicated", "gpu", "NoSchedule");
        let cases = [
            Case {
                name: "equal key and value",
                tols: json!([{"key": "dedicated", "value": "gpu"}]),
                taint: t.clone(),
                want: true,
            },
            Case {
                name: "other value",
                tols: json!([{"key": "dedicated", "value": "db"}]),
                taint: t.clone(),
                want: false,
            },
            Case {
                name: "exists ignores the value",
                tols: json!([{"key": "dedicated", "operator": "Exists"}]),
                taint: t.clone(),
                want: true,
            },
            Case {
                name: "empty key with exists tolerates everything",
                tols: json!([{"operator": "Exists"}]),
                taint: t.clone(),
                want: true,
            },
            Case {
                name: "effect must match when given",
                tols: json!([{"key": "dedicated", "operator": "Exists", "effect": "NoExecute"}]),
                taint: t.clone(),
                want: false,
            },
            Case {
                name: "empty effect matches all effects",
                tols: json!([{"key": "dedicated", "value": "gpu", "effect": ""}]),
                taint: taint("dedicated", "gpu", "NoExecute"),
                want: true,
            },
            Case {
                name: "no tolerations",
                tols: json!([]),
                taint: t.clone(),
                want: false,
            },
            Case {
                name: "unknown operator",
                tols: json!([{"key": "dedicated", "operator": "Gt", "value": "1"}]),
                taint: t,
                want: false,
            },
        ];
        for c in cases {
            let tols = tolerations(&json!({"tolerations": c.tols}));
            assert_eq!(tolerated(&tols, &c.taint), c.want, "{}", c.name);
        }
    }

    #[test]
    fn taint_filter_reports_the_first_untolerated_taint() {
        let taints = vec![
            taint("soft", "x", "PreferNoSchedule"),
            taint("node-role.kubernetes.io/control-plane", "", "NoSchedule"),
            taint("dedicated", "gpu", "NoExecute"),
        ];
        let err = filter_taints(&taints, &[]).unwrap_err();
        assert_eq!(
            err.reasons,
            vec!["node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }"]
        );
        assert_eq!(err.code, Code::Unresolvable);
        let tols = tolerations(&json!({"tolerations": [
            {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}]}));
        let err = filter_taints(&taints, &tols).unwrap_err();
        assert_eq!(
            err.reasons,
            vec!["node(s) had untolerated taint {dedicated: gpu}"]
        );
        let all = tolerations(&json!({"tolerations": [{"operator": "Exists"}]}));
        assert!(filter_taints(&taints, &all).is_ok());
    }

    #[test]
    fn cordoned_and_not_ready_nodes() {
        assert_eq!(
            filter_unschedulable(true, &[]).unwrap_err().reasons,
            vec!["node(s) were unschedulable"]
        );
        assert!(filter_unschedulable(false, &[]).is_ok());
        let tol = tolerations(
            &json!({"tolerations": [{"key": UNSCHEDULABLE, "operator": "Exists", "effect": "NoSchedule"}]}),
        );
        assert!(filter_unschedulable(true, &tol).is_ok());

        let node =
            |status: &str| json!({"status": {"conditions": [{"type": "Ready", "status": status}]}});
        assert!(node_taints(&node("True")).is_empty());
        assert_eq!(
            node_taints(&node("False")),
            vec![taint(NOT_READY, "", "NoSchedule")]
        );
        assert_eq!(
            node_taints(&node("Unknown")),
            vec![taint(UNREACHABLE, "", "NoSchedule")]
        );
        let err = filter_taints(&node_taints(&node("False")), &[]).unwrap_err();
        assert_eq!(
            err.reasons,
            vec!["node(s) had untolerated taint {node.kubernetes.io/not-ready: }"]
        );
    }

    #[test]
    fn prefer_no_schedule_counts_only_soft_taints_not_tolerated() {
        let taints = vec![
            taint("a", "1", "PreferNoSchedule"),
            taint("b", "", "PreferNoSchedule"),
            taint("c", "", "NoSchedule"),
        ];
        assert_eq!(intolerable_prefer_no_schedule(&taints, &[]), 2);
        let tols = tolerations(&json!({"tolerations": [{"key": "a", "value": "1"}]}));
        assert_eq!(intolerable_prefer_no_schedule(&taints, &tols), 1);
        let tols = tolerations(
            &json!({"tolerations": [{"key": "b", "operator": "Exists", "effect": "NoSchedule"}]}),
        );
        assert_eq!(intolerable_prefer_no_schedule(&taints, &tols), 2);
    }
}
