//! The garbage collector: an owner graph over every stored object (one watch on the whole
//! store), deleting dependents whose owners are all gone (Background), deleting dependents
//! before their owner while it carries the `foregroundDeletion` finalizer (Foreground), and
//! detaching dependents from an owner carrying the `orphan` finalizer (Orphan).
//!
//! Invariant: the graph reflects the store at the revision of the last processed event, so
//! "owner absent" means absent at that revision (uids are never reused).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::client::Delete;
use super::namespace::res_of;
use super::ownerref::owners;
use super::{run, BoxFuture, Controller, Ctx, Queue, SyncResult};
use crate::api::object;
use crate::store::EventKind;

const FOREGROUND: &str = "foregroundDeletion";
const ORPHAN: &str = "orphan";

/// What the graph keeps of an object.
#[derive(Debug, Clone)]
struct Node {
    group: String,
    plural: String,
    ns: Option<String>,
    name: String,
    /// (owner uid, blockOwnerDeletion).
    owners: Vec<(String, bool)>,
    deleting: bool,
    finalizers: Vec<String>,
}

#[derive(Default)]
struct Graph {
    nodes: HashMap<String, Node>,
    dependents: HashMap<String, HashSet<String>>,
}

impl Graph {
    fn upsert(&mut self, uid: String, node: Node) -> Vec<String> {
        let mut touched = vec![uid.clone()];
        if let Some(old) = self.nodes.get(&uid) {
            for (o, _) in &old.owners {
                if let Some(d) = self.dependents.get_mut(o) {
                    d.remove(&uid);
                }
            }
        }
        for (o, _) in &node.owners {
            self.dependents
                .entry(o.clone())
                .or_default()
                .insert(uid.clone());
            touched.push(o.clone());
        }
        self.nodes.insert(uid, node);
        touched
    }

    fn remove(&mut self, uid: &str) -> Vec<String> {
        let mut touched = Vec::new();
        if let Some(old) = self.nodes.remove(uid) {
            for (o, _) in &old.owners {
                if let Some(d) = self.dependents.get_mut(o) {
                    d.remove(uid);
                }
                touched.push(o.clone());
            }
        }
        // Its dependents may now be orphans.
        touched.extend(self.dependents.get(uid).into_iter().flatten().cloned());
        touched
    }
}

/// Parse `/registry/<group>/<plural>/[<ns>/]<name>` into (group, plural).
fn key_parts(key: &str) -> Option<(String, String)> {
    let mut it = key.strip_prefix("/registry/")?.split('/');
    let g = it.next()?;
    let p = it.next()?;
    Some((
        if g == "core" {
            String::new()
        } else {
            g.to_string()
        },
        p.to_string(),
    ))
}

fn node_of(key: &str, obj: &Value) -> Option<(String, Node)> {
    let (group, plural) = key_parts(key)?;
    let uid = object::meta_str(obj, "uid")?.to_string();
    let owners = owners(obj)
        .iter()
        .filter_map(|r| {
            Some((
                r.get("uid")?.as_str()?.to_string(),
                r.get("blockOwnerDeletion")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            ))
        })
        .collect();
    Some((
        uid,
        Node {
            group,
            plural,
            ns: object::meta_str(obj, "namespace").map(str::to_string),
            name: object::name(obj).to_string(),
            owners,
            deleting: object::meta(obj).is_some_and(|m| m.contains_key("deletionTimestamp")),
            finalizers: object::finalizers(obj),
        },
    ))
}

pub struct GarbageCollector {
    ctx: Ctx,
    graph: Arc<Mutex<Graph>>,
}

pub fn start(ctx: &Ctx) {
    let graph = Arc::new(Mutex::new(Graph::default()));
    let q = Queue::new();
    let srv = ctx.client.server().clone();
    let (g2, q2) = (graph.clone(), q.clone());
    let (synced_tx, synced_rx) = smol::channel::bounded::<()>(1);
    crate::rt::spawn(async move {
        loop {
            let Ok((recs, rev, _)) = srv.store.list(b"/registry/", None, None) else {
                return;
            };
            {
                let mut g = g2.lock().unwrap_or_else(|e| e.into_inner());
                *g = Graph::default();
                for r in &recs {
                    let key = String::from_utf8_lossy(&r.key);
                    if let Ok(v) = serde_json::from_slice::<Value>(&r.value) {
                        if let Some((uid, n)) = node_of(&key, &v) {
                            g.upsert(uid, n);
                        }
                    }
                }
                let uids: Vec<String> = g.nodes.keys().cloned().collect();
                drop(g);
                for u in uids {
                    q2.add(&u);
                }
            }
            let _ = synced_tx.try_send(());
            let Ok(mut w) = srv.store.watch(b"/registry/", rev) else {
                continue;
            };
            while let Ok(batch) = w.next().await {
                for ev in batch {
                    let key = String::from_utf8_lossy(&ev.key).into_owned();
                    let Ok(v) = serde_json::from_slice::<Value>(&ev.value) else {
                        continue;
                    };
                    let touched = {
                        let mut g = g2.lock().unwrap_or_else(|e| e.into_inner());
                        match (ev.kind, node_of(&key, &v)) {
                            (EventKind::Put, Some((uid, n))) => g.upsert(uid, n),
                            (EventKind::Delete, Some((uid, _))) => g.remove(&uid),
                            _ => vec![],
                        }
                    };
                    for t in touched {
                        q2.add(&t);
                    }
                }
            }
        }
    })
    .detach();
    let c = Arc::new(GarbageCollector {
        ctx: ctx.clone(),
        graph,
    });
    crate::rt::spawn(async move {
        let _ = synced_rx.recv().await;
        run(c, q, 2, vec![]);
    })
    .detach();
}

/// What to do for one object, decided from the graph alone.
#[derive(Debug, PartialEq, Eq)]
enum Action {
    Nothing,
    /// Every owner is gone: delete (Background).
    DeleteOrphan,
    /// Foreground: delete these dependents first (they get foreground deletion too).
    DeleteDependents(Vec<String>),
    /// Foreground done (no blocking dependents left): drop the finalizer.
    DropFinalizer(&'static str),
    /// Orphan: detach these dependents, then drop the finalizer.
    Detach(Vec<String>),
}

fn decide(g: &Graph, uid: &str) -> Action {
    let Some(n) = g.nodes.get(uid) else {
        return Action::Nothing;
    };
    let deps: Vec<String> = g
        .dependents
        .get(uid)
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    if n.deleting && n.finalizers.iter().any(|f| f == ORPHAN) {
        return if deps.is_empty() {
            Action::DropFinalizer(ORPHAN)
        } else {
            Action::Detach(deps)
        };
    }
    if n.deleting && n.finalizers.iter().any(|f| f == FOREGROUND) {
        let live: Vec<String> = deps
            .iter()
            .filter(|d| g.nodes.get(*d).is_some_and(|x| !x.deleting))
            .cloned()
            .collect();
        if !live.is_empty() {
            return Action::DeleteDependents(live);
        }
        let blocking = deps.iter().any(|d| {
            g.nodes
                .get(d)
                .is_some_and(|x| x.owners.iter().any(|(o, block)| o == uid && *block))
        });
        return if blocking {
            Action::Nothing
        } else {
            Action::DropFinalizer(FOREGROUND)
        };
    }
    if !n.owners.is_empty() && !n.deleting && n.owners.iter().all(|(o, _)| !g.nodes.contains_key(o))
    {
        return Action::DeleteOrphan;
    }
    Action::Nothing
}

impl GarbageCollector {
    fn node(&self, uid: &str) -> Option<Node> {
        self.graph
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .nodes
            .get(uid)
            .cloned()
    }

    fn res(&self, n: &Node) -> Option<super::client::Res> {
        self.ctx
            .client
            .server()
            .registry
            .by_group_plural(&n.group, &n.plural)
            .map(|d| res_of(&d))
    }

    async fn sync_uid(&self, uid: &str) -> SyncResult {
        let action = decide(&self.graph.lock().unwrap_or_else(|e| e.into_inner()), uid);
        let client = &self.ctx.client;
        match action {
            Action::Nothing => Ok(None),
            Action::DeleteOrphan => {
                let Some(n) = self.node(uid) else {
                    return Ok(None);
                };
                let Some(res) = self.res(&n) else {
                    return Ok(None);
                };
                let how = Delete {
                    propagation: Some("Background"),
                    uid: Some(uid.to_string()),
                    ..Default::default()
                };
                match client.delete(res, n.ns.as_deref(), &n.name, how).await {
                    Ok(()) => Ok(None),
                    Err(e) if e.code == 404 || e.code == 409 => Ok(None),
                    Err(e) => Err(e.into()),
                }
            }
            Action::DeleteDependents(deps) => {
                for d in deps {
                    let Some(n) = self.node(&d) else { continue };
                    let Some(res) = self.res(&n) else { continue };
                    let how = Delete {
                        propagation: Some("Foreground"),
                        uid: Some(d.clone()),
                        ..Default::default()
                    };
                    match client.delete(res, n.ns.as_deref(), &n.name, how).await {
                        Ok(()) => {}
                        Err(e) if e.code == 404 || e.code == 409 => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                Ok(None)
            }
            Action::Detach(deps) => {
                for d in deps {
                    let Some(n) = self.node(&d) else { continue };
                    let Some(res) = self.res(&n) else { continue };
                    let Ok(cur) = client.get(res, n.ns.as_deref(), &n.name) else {
                        continue;
                    };
                    let refs: Vec<Value> = owners(&cur)
                        .into_iter()
                        .filter(|r| r["uid"] != json!(uid))
                        .collect();
                    let refs = if refs.is_empty() {
                        Value::Null
                    } else {
                        Value::Array(refs)
                    };
                    match client
                        .merge_patch(
                            res,
                            n.ns.as_deref(),
                            &n.name,
                            &json!({"metadata": {"ownerReferences": refs}}),
                            false,
                        )
                        .await
                    {
                        Ok(_) => {}
                        Err(e) if e.code == 404 => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                Ok(Some(std::time::Duration::from_millis(50)))
            }
            Action::DropFinalizer(f) => {
                let Some(n) = self.node(uid) else {
                    return Ok(None);
                };
                let Some(res) = self.res(&n) else {
                    return Ok(None);
                };
                let left: Vec<String> = n
                    .finalizers
                    .iter()
                    .filter(|x| x.as_str() != f)
                    .cloned()
                    .collect();
                let fin = if left.is_empty() {
                    Value::Null
                } else {
                    json!(left)
                };
                match client
                    .merge_patch(
                        res,
                        n.ns.as_deref(),
                        &n.name,
                        &json!({"metadata": {"finalizers": fin}}),
                        false,
                    )
                    .await
                {
                    Ok(_) => Ok(None),
                    Err(e) if e.code == 404 => Ok(None),
                    Err(e) => Err(e.into()),
                }
            }
        }
    }
}

impl Controller for GarbageCollector {
    fn name(&self) -> &'static str {
        "garbage-collector"
    }
    fn sync<'a>(&'a self, key: &'a str) -> BoxFuture<'a, SyncResult> {
        Box::pin(self.sync_uid(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(owners: &[(&str, bool)], deleting: bool, finalizers: &[&str]) -> Node {
        Node {
            group: "apps".into(),
            plural: "replicasets".into(),
            ns: Some("default".into()),
            name: "x".into(),
            owners: owners.iter().map(|(o, b)| (o.to_string(), *b)).collect(),
            deleting,
            finalizers: finalizers.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn background_orphans_are_deleted() {
        let mut g = Graph::default();
        g.upsert("rs".into(), node(&[("dep", true)], false, &[]));
        assert_eq!(decide(&g, "rs"), Action::DeleteOrphan);
        g.upsert("dep".into(), node(&[], false, &[]));
        assert_eq!(decide(&g, "rs"), Action::Nothing);
        let touched = g.remove("dep");
        assert!(touched.contains(&"rs".to_string()));
        assert_eq!(decide(&g, "rs"), Action::DeleteOrphan);
    }

    #[test]
    fn foreground_deletes_dependents_then_drops_its_finalizer() {
        let mut g = Graph::default();
        g.upsert("dep".into(), node(&[], true, &[FOREGROUND]));
        g.upsert("rs".into(), node(&[("dep", true)], false, &[]));
        assert_eq!(
            decide(&g, "dep"),
            Action::DeleteDependents(vec!["rs".into()])
        );
        g.upsert("rs".into(), node(&[("dep", true)], true, &[FOREGROUND]));
        assert_eq!(
            decide(&g, "dep"),
            Action::Nothing,
            "a blocking dependent is still terminating"
        );
        g.remove("rs");
        assert_eq!(decide(&g, "dep"), Action::DropFinalizer(FOREGROUND));
    }

    #[test]
    fn orphan_detaches_dependents_first() {
        let mut g = Graph::default();
        g.upsert("dep".into(), node(&[], true, &[ORPHAN]));
        g.upsert("rs".into(), node(&[("dep", true)], false, &[]));
        assert_eq!(decide(&g, "dep"), Action::Detach(vec!["rs".into()]));
        g.upsert("rs".into(), node(&[], false, &[]));
        assert_eq!(decide(&g, "dep"), Action::DropFinalizer(ORPHAN));
        assert_eq!(decide(&g, "rs"), Action::Nothing);
    }

    #[test]
    fn parses_store_keys() {
        assert_eq!(
            key_parts("/registry/core/pods/ns/p"),
            Some(("".into(), "pods".into()))
        );
        assert_eq!(
            key_parts("/registry/apps/deployments/ns/d"),
            Some(("apps".into(), "deployments".into()))
        );
        assert_eq!(key_parts("/other"), None);
    }
}
