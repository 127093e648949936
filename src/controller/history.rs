//! ControllerRevisions: immutable, numbered snapshots of a workload's pod template, shared by
//! the DaemonSet and StatefulSet controllers (Kubernetes' `controller/history`).
//!
//! A revision's `data` is a strategic merge patch restoring the template
//! (`{"spec":{"template":{..., "$patch":"replace"}}}`), which is also what `kubectl rollout
//! undo` applies. Its name is `<owner>-<hash>`, the hash covering the data and the owner's
//! `status.collisionCount`, and it carries the hash in the `controller-revision-hash` label.
//! Contract: exactly one revision per owner equals the current template and it has the
//! highest revision number (an older equal one is renumbered, which is a rollback); old
//! revisions beyond `revisionHistoryLimit` are pruned oldest first unless still live.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::client::{Client, Res, CONTROLLERREVISIONS};
use super::ownerref::controller_ref;
use super::podutil::template_hash;
use super::workload::{claim, Writes};
use super::SyncError;
use crate::api::object;
use crate::api::selector::LabelSelector;
use crate::api::status::ApiError;
use crate::clock::parse_rfc3339;

/// The label carrying a revision's hash (on revisions, DaemonSet pods and, holding the
/// revision name, StatefulSet pods).
pub const HASH_LABEL: &str = "controller-revision-hash";

/// The revision data restoring `template`.
pub fn patch_for(template: &Value) -> Value {
    let mut t = template.clone();
    if let Some(m) = t.as_object_mut() {
        m.insert("$patch".into(), json!("replace"));
    }
    json!({"spec": {"template": t}})
}

/// The template a revision restores.
pub fn template_of(rev: &Value) -> Option<Value> {
    let mut t = rev.pointer("/data/spec/template")?.clone();
    t.as_object_mut()?.remove("$patch");
    Some(t)
}

pub fn number(rev: &Value) -> i64 {
    rev.get("revision").and_then(Value::as_i64).unwrap_or(0)
}

pub fn hash_label(obj: &Value) -> Option<&str> {
    object::labels(obj)?.get(HASH_LABEL)?.as_str()
}

/// Objects with keys sorted at every level, so equal data always hashes equally whatever
/// order its keys were written in.
fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for k in keys {
                out.insert(k.clone(), canonical(&m[k]));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// The hash naming a revision of `data` under `collision_count`.
pub fn hash(data: &Value, collision_count: i64) -> String {
    template_hash(&canonical(data), collision_count)
}

/// A new revision object of `owner` (not yet stored).
pub fn build(owner: &Value, data: &Value, revision: i64, collision_count: i64) -> Value {
    let h = hash(data, collision_count);
    // Kubernetes truncates the prefix so the name stays a valid DNS subdomain.
    let prefix: String = object::name(owner).chars().take(223).collect();
    let mut labels = owner
        .pointer("/spec/template/metadata/labels")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    labels[HASH_LABEL] = json!(h);
    let mut meta = json!({
        "name": format!("{prefix}-{h}"),
        "namespace": object::meta_str(owner, "namespace"),
        "labels": labels,
        "ownerReferences": [controller_ref(owner)],
    });
    if let Some(a) = object::meta(owner).and_then(|m| m.get("annotations")) {
        meta["annotations"] = a.clone();
    }
    json!({
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": meta,
        "data": data,
        "revision": revision,
    })
}

/// Oldest first: by revision number, then creation time, then name.
pub fn sorted(mut revs: Vec<Arc<Value>>) -> Vec<Arc<Value>> {
    let created = |r: &Value| {
        object::meta_str(r, "creationTimestamp")
            .and_then(parse_rfc3339)
            .unwrap_or(0)
    };
    revs.sort_by(|a, b| {
        number(a)
            .cmp(&number(b))
            .then_with(|| created(a).cmp(&created(b)))
            .then_with(|| object::name(a).cmp(object::name(b)))
    });
    revs
}

/// How the revision of the current template is obtained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// The newest revision already holds the template.
    Existing {
        name: String,
        duplicates: Vec<String>,
    },
    /// An older revision holds it: give it the next number (a rollback).
    Renumber {
        name: String,
        revision: i64,
        duplicates: Vec<String>,
    },
    /// None does: create one with this number.
    Create { revision: i64 },
}

/// Find or plan the revision for `data` among `revs` (sorted oldest first). Among several
/// equal revisions the newest is kept and the others are reported as duplicates.
pub fn resolve(revs: &[Arc<Value>], data: &Value) -> Resolution {
    let equal: Vec<&Arc<Value>> = revs
        .iter()
        .filter(|r| r.get("data") == Some(data))
        .collect();
    let next = revs.last().map(|r| number(r)).unwrap_or(0) + 1;
    let Some(keep) = equal.last() else {
        return Resolution::Create { revision: next };
    };
    let name = object::name(keep).to_string();
    let duplicates = equal[..equal.len() - 1]
        .iter()
        .map(|r| object::name(r).to_string())
        .collect();
    let newest = revs.last().is_some_and(|r| object::name(r) == name);
    if newest {
        Resolution::Existing { name, duplicates }
    } else {
        Resolution::Renumber {
            name,
            revision: next,
            duplicates,
        }
    }
}

/// Names of up to `excess` revisions to delete from `candidates` (oldest first), never one
/// in `live`.
pub fn prune(candidates: &[Arc<Value>], live: &HashSet<String>, excess: usize) -> Vec<String> {
    candidates
        .iter()
        .map(|r| object::name(r).to_string())
        .filter(|n| !live.contains(n))
        .take(excess)
        .collect()
}

/// An owner's revisions and the one holding its current template.
#[derive(Debug)]
pub struct Current {
    /// Every claimed revision, oldest first, as found before this lookup.
    pub all: Vec<Arc<Value>>,
    /// The revision equal to the owner's template (renumbered or created if needed).
    pub revision: Value,
    /// Older revisions equal to it, which the caller may remove.
    pub duplicates: Vec<String>,
}

/// Claim `owner`'s revisions among `candidates` and find, renumber or create the one holding
/// its template. A hash collision bumps the owner's `status.collisionCount` (`res` is the
/// owner's resource) and fails the sync, whose retry then uses the next name.
pub async fn current(
    client: &Client,
    res: Res,
    owner: &Value,
    selector: &LabelSelector,
    candidates: Vec<Arc<Value>>,
) -> Result<Current, SyncError> {
    let ns = object::meta_str(owner, "namespace").unwrap_or("default");
    // Revision writes need no read-your-writes wait: a stale cache only makes the next sync
    // find the same revision again.
    let claimed = claim(
        client,
        CONTROLLERREVISIONS,
        owner,
        selector,
        candidates,
        |_| true,
        &mut Writes::default(),
    )
    .await?;
    let all = sorted(claimed);
    let data = patch_for(owner.pointer("/spec/template").unwrap_or(&Value::Null));
    let (revision, duplicates) = match resolve(&all, &data) {
        Resolution::Existing { name, duplicates } => {
            let found = all
                .iter()
                .find(|r| object::name(r) == name)
                .map(|r| (**r).clone());
            (found.unwrap_or_default(), duplicates)
        }
        Resolution::Renumber {
            name,
            revision,
            duplicates,
        } => (renumber(client, ns, &name, revision).await?, duplicates),
        Resolution::Create { revision } => {
            let collisions = owner
                .pointer("/status/collisionCount")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            match create(client, owner, &data, revision, collisions).await? {
                Created::Revision(v) => (v, vec![]),
                Created::Collision => {
                    bump_collision_count(client, res, owner).await?;
                    let msg = format!(
                        "hash collision creating a revision of {}",
                        object::name(owner)
                    );
                    return Err(SyncError::Other(msg));
                }
            }
        }
    };
    Ok(Current {
        all,
        revision,
        duplicates,
    })
}

/// The outcome of storing a new revision.
#[derive(Debug)]
pub enum Created {
    Revision(Value),
    /// Another revision with different data already has this name: the owner's
    /// `status.collisionCount` must be bumped before trying again.
    Collision,
}

/// Store a new revision of `owner` for `data`.
pub async fn create(
    client: &Client,
    owner: &Value,
    data: &Value,
    revision: i64,
    collision_count: i64,
) -> Result<Created, ApiError> {
    let ns = object::meta_str(owner, "namespace");
    let rev = build(owner, data, revision, collision_count);
    match client.create(CONTROLLERREVISIONS, ns, rev.clone()).await {
        Ok(v) => Ok(Created::Revision(v)),
        Err(e) if e.code == 409 => {
            let existing = client.get(CONTROLLERREVISIONS, ns, object::name(&rev))?;
            if existing.get("data") == Some(data) {
                Ok(Created::Revision(existing))
            } else {
                Ok(Created::Collision)
            }
        }
        Err(e) => Err(e),
    }
}

/// Bump `status.collisionCount` of `owner` (resource `res`) after a hash collision.
pub async fn bump_collision_count(
    client: &Client,
    res: Res,
    owner: &Value,
) -> Result<(), ApiError> {
    let n = owner
        .pointer("/status/collisionCount")
        .and_then(Value::as_i64)
        .unwrap_or(0)
        + 1;
    let ns = object::meta_str(owner, "namespace");
    client
        .merge_patch(
            res,
            ns,
            object::name(owner),
            &json!({"status": {"collisionCount": n}}),
            true,
        )
        .await
        .map(|_| ())
}

/// Give an existing revision a new number.
pub async fn renumber(
    client: &Client,
    ns: &str,
    name: &str,
    revision: i64,
) -> Result<Value, ApiError> {
    client
        .merge_patch(
            CONTROLLERREVISIONS,
            Some(ns),
            name,
            &json!({"revision": revision}),
            false,
        )
        .await
}

/// Delete revisions by name (already gone is fine).
pub async fn delete_all(client: &Client, ns: &str, names: &[String]) -> Result<(), ApiError> {
    for n in names {
        match client
            .delete(CONTROLLERREVISIONS, Some(ns), n, Default::default())
            .await
        {
            Ok(()) => {}
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
               "metadata": {"name": "web", "namespace": "ns", "uid": "u1", "annotations": {"a": "b"}},
               "spec": {"template": {"metadata": {"labels": {"app": "web"}},
                                     "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}}})
    }

    fn rev(name: &str, n: i64, data: &Value) -> Arc<Value> {
        Arc::new(json!({"metadata": {"name": name}, "revision": n, "data": data}))
    }

    #[test]
    fn data_restores_the_template_and_hash_ignores_key_order() {
        let o = owner();
        let data = patch_for(&o["spec"]["template"]);
        assert_eq!(data["spec"]["template"]["$patch"], "replace");
        let r = build(&o, &data, 1, 0);
        assert_eq!(template_of(&r).unwrap(), o["spec"]["template"]);
        let h = hash(&data, 0);
        assert_eq!(object::name(&r), format!("web-{h}"));
        assert_eq!(r["metadata"]["labels"][HASH_LABEL], h);
        assert_eq!(r["metadata"]["labels"]["app"], "web");
        assert_eq!(r["metadata"]["ownerReferences"][0]["uid"], "u1");
        assert_eq!(r["metadata"]["annotations"]["a"], "b");
        let reordered: Value = serde_json::from_str(
            r#"{"spec":{"template":{"spec":{"containers":[{"image":"nginx:1","name":"c"}]},"$patch":"replace","metadata":{"labels":{"app":"web"}}}}}"#,
        )
        .unwrap();
        assert_eq!(hash(&reordered, 0), h);
        assert_ne!(hash(&data, 1), h);
        let mut changed = o.clone();
        changed["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:2");
        assert_ne!(hash(&patch_for(&changed["spec"]["template"]), 0), h);
    }

    #[test]
    fn resolves_existing_rollback_and_new_revisions() {
        let a = json!({"spec": {"template": {"x": 1}}});
        let b = json!({"spec": {"template": {"x": 2}}});
        let c = json!({"spec": {"template": {"x": 3}}});
        let revs = sorted(vec![rev("r2", 2, &b), rev("r1", 1, &a)]);
        assert_eq!(object::name(&revs[0]), "r1");
        assert_eq!(
            resolve(&revs, &b),
            Resolution::Existing {
                name: "r2".into(),
                duplicates: vec![]
            }
        );
        assert_eq!(
            resolve(&revs, &a),
            Resolution::Renumber {
                name: "r1".into(),
                revision: 3,
                duplicates: vec![]
            }
        );
        assert_eq!(resolve(&revs, &c), Resolution::Create { revision: 3 });
        assert_eq!(resolve(&[], &c), Resolution::Create { revision: 1 });
        let dup = sorted(vec![rev("r1", 1, &b), rev("r2", 2, &b)]);
        assert_eq!(
            resolve(&dup, &b),
            Resolution::Existing {
                name: "r2".into(),
                duplicates: vec!["r1".into()]
            }
        );
    }

    #[test]
    fn prunes_oldest_non_live_revisions() {
        let d = json!({});
        let revs = vec![
            rev("r1", 1, &d),
            rev("r2", 2, &d),
            rev("r3", 3, &d),
            rev("r4", 4, &d),
        ];
        let live: HashSet<String> = ["r1".to_string()].into();
        assert_eq!(
            prune(&revs, &live, 2),
            vec!["r2".to_string(), "r3".to_string()]
        );
        assert!(prune(&revs, &live, 0).is_empty());
    }
}
