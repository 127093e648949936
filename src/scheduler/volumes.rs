//! Volumes: the part of `VolumeBinding` that keeps a pod on nodes its bound PersistentVolumes
//! can reach (their `spec.nodeAffinity`).
//!
//! Contract: [`prefilter`] resolves the pod's claims through lookups (the caller's caches):
//! a missing or deleting claim, or an unbound claim whose class binds immediately, fails every
//! node with Kubernetes' pre-filter message; an unbound claim of a `WaitForFirstConsumer`
//! class is left to the volume binder (not done here); a claim bound to a missing volume fails
//! every node. [`filter`] refuses nodes outside any bound volume's node affinity.

use std::sync::Arc;

use serde_json::Value;

use super::affinity::NodeSelector;
use super::cache::NodeInfo;
use super::diagnosis::{Code, Plugin, Rejection};
use crate::api::object;

/// What the pod's volumes demand of nodes.
#[derive(Debug, Clone, Default)]
pub struct VolumeNeeds {
    /// Node affinity of every bound volume.
    pub affinities: Vec<NodeSelector>,
    /// A claim is bound to a volume that does not exist.
    pub missing_volume: bool,
}

type Lookup<'a> = &'a dyn Fn(&str) -> Option<Arc<Value>>;

/// Resolve the pod's claims (`pvc(name)` in the pod's namespace, `pv(name)`, `class(name)`);
/// `Err` is the pre-filter message.
pub fn prefilter(
    claims: &[String],
    pvc: Lookup,
    pv: Lookup,
    class: Lookup,
) -> Result<VolumeNeeds, String> {
    let mut needs = VolumeNeeds::default();
    let mut unbound_immediate = false;
    for name in claims {
        let Some(c) = pvc(name) else {
            return Err(format!("persistentvolumeclaim \"{name}\" not found"));
        };
        if object::meta(&c).is_some_and(|m| m.contains_key("deletionTimestamp")) {
            return Err(format!("persistentvolumeclaim \"{name}\" is being deleted"));
        }
        let volume = c
            .pointer("/spec/volumeName")
            .and_then(Value::as_str)
            .unwrap_or("");
        if volume.is_empty() {
            let mode = c
                .pointer("/spec/storageClassName")
                .and_then(Value::as_str)
                .and_then(class)
                .and_then(|sc| {
                    sc.get("volumeBindingMode")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                });
            if mode.as_deref() != Some("WaitForFirstConsumer") {
                unbound_immediate = true;
            }
            continue;
        }
        match pv(volume) {
            None => needs.missing_volume = true,
            Some(v) => {
                if let Some(req) = v
                    .pointer("/spec/nodeAffinity/required")
                    .filter(|r| r.is_object())
                {
                    needs.affinities.push(NodeSelector::parse(req));
                }
            }
        }
    }
    if unbound_immediate {
        return Err("pod has unbound immediate PersistentVolumeClaims".to_string());
    }
    Ok(needs)
}

pub fn filter(needs: &VolumeNeeds, node: &NodeInfo) -> Result<(), Rejection> {
    if needs.missing_volume {
        return Err(Rejection::new(
            Plugin::VolumeBinding,
            Code::Unresolvable,
            "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)",
        ));
    }
    if needs
        .affinities
        .iter()
        .any(|a| !a.matches(&node.name, Some(&node.labels)))
    {
        return Err(Rejection::new(
            Plugin::VolumeBinding,
            Code::Unresolvable,
            "node(s) didn't match PersistentVolume's node affinity",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::cache::tests::node;
    use serde_json::json;
    use std::collections::HashMap;

    fn table(items: Vec<(&str, Value)>) -> HashMap<String, Arc<Value>> {
        items
            .into_iter()
            .map(|(k, v)| (k.to_string(), Arc::new(v)))
            .collect()
    }

    #[test]
    fn claims_resolve_to_volume_node_affinity() {
        let pvcs = table(vec![
            ("local", json!({"spec": {"volumeName": "pv-local"}})),
            ("gone", json!({"spec": {"volumeName": "pv-gone"}})),
            ("pending", json!({"spec": {"storageClassName": "fast"}})),
            ("later", json!({"spec": {"storageClassName": "wffc"}})),
            (
                "dying",
                json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}, "spec": {}}),
            ),
        ]);
        let pvs = table(vec![(
            "pv-local",
            json!({"spec": {"nodeAffinity": {"required": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["n1"]}]}]}}}}),
        )]);
        let classes = table(vec![
            ("fast", json!({"volumeBindingMode": "Immediate"})),
            ("wffc", json!({"volumeBindingMode": "WaitForFirstConsumer"})),
        ]);
        let run = |claims: &[&str]| {
            let claims: Vec<String> = claims.iter().map(|s| s.to_string()).collect();
            prefilter(
                &claims,
                &|n| pvcs.get(n).cloned(),
                &|n| pvs.get(n).cloned(),
                &|n| classes.get(n).cloned(),
            )
        };
        let needs = run(&["local", "later"]).unwrap();
        let (n1, n2) = (node("n1", json!({})), node("n2", json!({})));
        assert!(filter(&needs, &n1).is_ok());
        assert_eq!(
            filter(&needs, &n2).unwrap_err().reasons,
            vec!["node(s) didn't match PersistentVolume's node affinity"]
        );
        assert_eq!(
            run(&["nope"]).unwrap_err(),
            "persistentvolumeclaim \"nope\" not found"
        );
        assert_eq!(
            run(&["pending"]).unwrap_err(),
            "pod has unbound immediate PersistentVolumeClaims"
        );
        assert_eq!(
            run(&["dying"]).unwrap_err(),
            "persistentvolumeclaim \"dying\" is being deleted"
        );
        let needs = run(&["gone"]).unwrap();
        assert!(filter(&needs, &n1).is_err());
        assert!(filter(&run(&[]).unwrap(), &n2).is_ok());
    }
}
