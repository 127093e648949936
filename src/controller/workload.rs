//! Bookkeeping shared by the workload controllers that own objects through a label selector
//! (DaemonSet, StatefulSet): claiming pods and ControllerRevisions as Kubernetes'
//! `ControllerRefManager` does, tracking the revisions of a sync's own writes, and deciding
//! whether a computed status differs from the stored one.
//!
//! Claim contract: an object controlled by the owner stays owned while it matches; one that
//! stopped matching is released (our controller reference removed) unless the owner is being
//! deleted; an orphan that matches is adopted unless the owner or the object is being deleted.
//! Objects controlled by someone else are never touched.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::client::{Client, Res};
use super::informer::{key_of, Delta, Informer};
use super::ownerref::{controller_ref, controller_uid, owners};
use super::replicaset::owner_keys;
use super::{route, Queue};
use crate::api::object;
use crate::api::selector::LabelSelector;
use crate::api::status::ApiError;

/// How long a sync waits for its own writes to reach an informer cache.
pub const READ_YOUR_WRITES: Duration = Duration::from_secs(2);

/// What to do with one candidate object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    Owned,
    Adopt,
    Release,
    Ignore,
}

/// The owner's `spec.selector`, unless it is invalid or selects everything (a workload
/// selecting every pod in its namespace must not act).
pub fn selector_of(owner: &Value) -> Option<LabelSelector> {
    let sel = LabelSelector::from_json(owner.pointer("/spec/selector")?).ok()?;
    (!sel.is_empty()).then_some(sel)
}

/// `spec.minReadySeconds` (0 when absent).
pub fn min_ready_seconds(owner: &Value) -> i64 {
    owner
        .pointer("/spec/minReadySeconds")
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

pub fn is_deleting(obj: &Value) -> bool {
    object::meta(obj).is_some_and(|m| m.contains_key("deletionTimestamp"))
}

/// The claim decision for `obj`; `member` is an extra filter the selector must pass with
/// (StatefulSets only claim pods named after themselves).
pub fn decide(owner: &Value, selector: &LabelSelector, obj: &Value, member: bool) -> Claim {
    let uid = object::meta_str(owner, "uid").unwrap_or("");
    let matches = member && !selector.is_empty() && selector.matches(object::labels(obj));
    match controller_uid(obj) {
        Some(u) if u == uid && matches => Claim::Owned,
        Some(u) if u == uid && !is_deleting(owner) => Claim::Release,
        Some(_) => Claim::Ignore,
        None if matches && !is_deleting(owner) && !is_deleting(obj) => Claim::Adopt,
        None => Claim::Ignore,
    }
}

/// Keys of the `kind` owners an object delta concerns: its controller before and after the
/// change (a changed controller reference wakes both), or for an orphan every owner whose
/// selector matches it.
pub fn delta_owner_keys(owners_of: &Informer, d: &Delta, kind: &str) -> Vec<String> {
    let mut keys = owner_keys(owners_of, d.object(), kind);
    if let Delta::Upsert { old: Some(old), .. } = d {
        for k in owner_keys(owners_of, old, kind) {
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
    }
    keys
}

/// Route the deltas a revision-keeping workload controller watches into its queue: its own
/// objects by key, pods and ControllerRevisions to their `kind` owners.
pub fn route_workload(
    q: &Queue,
    owners_of: &Arc<Informer>,
    pods: &Informer,
    revisions: &Informer,
    kind: &'static str,
) {
    route(owners_of, q, |d| vec![key_of(d.object())]);
    let s = owners_of.clone();
    route(pods, q, move |d| delta_owner_keys(&s, d, kind));
    let s = owners_of.clone();
    route(revisions, q, move |d| delta_owner_keys(&s, d, kind));
}

/// The resourceVersion of an object as a number (0 when absent).
pub fn rv(obj: &Value) -> u64 {
    object::meta_str(obj, "resourceVersion")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// The highest store revision of a sync's writes to one resource, so it can wait for that
/// resource's cache to catch up. Only writes of that resource may be noted: an informer's
/// revision advances with its own resource's events alone.
#[derive(Debug, Default, Clone, Copy)]
pub struct Writes(u64);

impl Writes {
    pub fn saw(&mut self, obj: &Value) {
        self.0 = self.0.max(rv(obj));
    }

    /// Right after a write that returns no object (a delete): the store's current revision.
    pub fn saw_store(&mut self, client: &Client) {
        self.0 = self.0.max(client.server().store.revision());
    }

    pub fn any(&self) -> bool {
        self.0 > 0
    }

    /// Wait until `inf` reflects every write noted so far.
    pub async fn settle(&self, inf: &Informer) {
        if self.0 > 0 {
            inf.wait_rev(self.0, READ_YOUR_WRITES).await;
        }
    }
}

/// Claim `candidates` of resource `res` for `owner`: adopt and release through the API and
/// return the objects the owner controls afterwards.
pub async fn claim(
    client: &Client,
    res: Res,
    owner: &Value,
    selector: &LabelSelector,
    candidates: Vec<Arc<Value>>,
    member: impl Fn(&Value) -> bool,
    writes: &mut Writes,
) -> Result<Vec<Arc<Value>>, ApiError> {
    let uid = object::meta_str(owner, "uid").unwrap_or("");
    let mut owned = Vec::new();
    for obj in candidates {
        let refs = match decide(owner, selector, &obj, member(&obj)) {
            Claim::Owned => {
                owned.push(obj);
                continue;
            }
            Claim::Ignore => continue,
            Claim::Adopt => {
                let mut refs = owners(&obj);
                refs.push(controller_ref(owner));
                refs
            }
            Claim::Release => owners(&obj)
                .into_iter()
                .filter(|r| r.get("uid").and_then(Value::as_str) != Some(uid))
                .collect(),
        };
        let ns = object::meta_str(&obj, "namespace");
        let patch = json!({"metadata": {"ownerReferences": refs}});
        match client
            .merge_patch(res, ns, object::name(&obj), &patch, false)
            .await
        {
            Ok(v) => {
                writes.saw(&v);
                if controller_uid(&v) == Some(uid) {
                    owned.push(Arc::new(v));
                }
            }
            // Gone or changed meanwhile: its next delta brings it back to us.
            Err(e) if e.code == 404 || e.code == 409 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(owned)
}

/// Whether writing `want` (an object of status fields) would change `cur`: a missing or null
/// field equals zero, false or empty, as the API omits such fields.
pub fn status_differs(cur: Option<&Value>, want: &Value) -> bool {
    let Some(fields) = want.as_object() else {
        return false;
    };
    fields.iter().any(|(k, v)| {
        let have = cur.and_then(|c| c.get(k)).unwrap_or(&Value::Null);
        !(have == v || (is_zero(have) && is_zero(v)))
    })
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(deleting: bool) -> Value {
        let mut o = json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
                           "metadata": {"name": "ds", "namespace": "ns", "uid": "u1"}});
        if deleting {
            o["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        }
        o
    }

    fn pod(labels: Value, controller: Option<&str>) -> Value {
        let refs: Vec<Value> = controller
            .map(|u| vec![json!({"uid": u, "controller": true, "kind": "DaemonSet", "name": "x"})])
            .unwrap_or_default();
        json!({"metadata": {"name": "p", "namespace": "ns", "labels": labels, "ownerReferences": refs}})
    }

    #[test]
    fn claims_like_the_controller_ref_manager() {
        let sel = LabelSelector::from_json(&json!({"matchLabels": {"app": "a"}})).unwrap();
        let matching = json!({"app": "a"});
        let other = json!({"app": "b"});
        assert_eq!(
            decide(
                &owner(false),
                &sel,
                &pod(matching.clone(), Some("u1")),
                true
            ),
            Claim::Owned
        );
        assert_eq!(
            decide(&owner(false), &sel, &pod(other.clone(), Some("u1")), true),
            Claim::Release
        );
        assert_eq!(
            decide(&owner(true), &sel, &pod(other.clone(), Some("u1")), true),
            Claim::Ignore
        );
        assert_eq!(
            decide(&owner(false), &sel, &pod(matching.clone(), None), true),
            Claim::Adopt
        );
        assert_eq!(
            decide(&owner(true), &sel, &pod(matching.clone(), None), true),
            Claim::Ignore
        );
        assert_eq!(
            decide(&owner(false), &sel, &pod(matching.clone(), None), false),
            Claim::Ignore
        );
        assert_eq!(
            decide(&owner(false), &sel, &pod(matching, Some("u2")), true),
            Claim::Ignore
        );
        let empty = LabelSelector::from_json(&json!({})).unwrap();
        assert_eq!(
            decide(&owner(false), &empty, &pod(other, None), true),
            Claim::Ignore
        );
    }

    #[test]
    fn status_comparison_treats_omitted_fields_as_zero() {
        let cur = json!({"replicas": 2, "currentRevision": "r1"});
        assert!(!status_differs(
            Some(&cur),
            &json!({"replicas": 2, "readyReplicas": 0})
        ));
        assert!(status_differs(Some(&cur), &json!({"replicas": 3})));
        assert!(status_differs(Some(&cur), &json!({"updateRevision": "r2"})));
        assert!(!status_differs(None, &json!({"numberReady": 0})));
        assert!(status_differs(None, &json!({"observedGeneration": 1})));
    }
}
