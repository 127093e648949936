//! The namespace controller: a namespace marked for deletion (phase Terminating) has every
//! namespaced object in it deleted, custom resources included, and is removed once empty.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::client::{Delete, Res, NAMESPACES};
use super::informer::{key_of, Informer};
use super::{route, run, BoxFuture, Controller, Ctx, Queue, SyncResult};
use crate::api::handlers::delete::remove_namespace;
use crate::api::object;

pub struct NamespaceController {
    ctx: Ctx,
    namespaces: Arc<Informer>,
}

pub fn start(ctx: &Ctx) {
    let namespaces = ctx.informers.get(NAMESPACES);
    let q = Queue::new();
    route(&namespaces, &q, |d| vec![key_of(d.object())]);
    let c = NamespaceController {
        ctx: ctx.clone(),
        namespaces: namespaces.clone(),
    };
    run(Arc::new(c), q, 2, vec![namespaces]);
}

impl NamespaceController {
    async fn sync_ns(&self, name: &str) -> SyncResult {
        let Some(ns) = self.namespaces.get(name) else {
            return Ok(None);
        };
        if !object::meta(&ns).is_some_and(|m| m.contains_key("deletionTimestamp")) {
            return Ok(None);
        }
        let srv = self.ctx.client.server().clone();
        let mut left = 0usize;
        for def in srv.registry.all().iter().filter(|d| d.namespaced) {
            // Each custom resource is stored once, under its storage version.
            if def
                .custom
                .as_ref()
                .is_some_and(|c| c.storage_version != def.version)
            {
                continue;
            }
            let Ok((recs, _, _)) = srv
                .store
                .list(def.ns_prefix(Some(name)).as_bytes(), None, None)
            else {
                continue;
            };
            for r in recs {
                left += 1;
                let v: Value = serde_json::from_slice(&r.value).unwrap_or(Value::Null);
                if object::meta(&v).is_some_and(|m| m.contains_key("deletionTimestamp")) {
                    continue;
                }
                let res = res_of(def);
                let how = Delete {
                    grace_seconds: Some(0),
                    ..Default::default()
                };
                match self
                    .ctx
                    .client
                    .delete(res, Some(name), object::name(&v), how)
                    .await
                {
                    Ok(()) => {}
                    Err(e) if e.code == 404 => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        if left == 0 {
            remove_namespace(&srv, name).await?;
            return Ok(None);
        }
        // Objects with finalizers (or still terminating) need another look.
        Ok(Some(Duration::from_millis(200)))
    }
}

/// `Res` holds static names; resource names are few and live for the process, so interning
/// them once is bounded.
fn leak(s: &str) -> &'static str {
    use std::collections::HashSet;
    use std::sync::Mutex;
    static NAMES: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
    let mut g = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    let set = g.get_or_insert_with(HashSet::new);
    if let Some(x) = set.get(s) {
        return x;
    }
    let x: &'static str = Box::leak(s.to_string().into_boxed_str());
    set.insert(x);
    x
}

/// The `Res` of a served resource definition (interned names).
pub fn res_of(def: &crate::api::registry::ResourceDef) -> Res {
    Res {
        group: leak(&def.group),
        version: leak(&def.version),
        plural: leak(&def.plural),
    }
}

impl Controller for NamespaceController {
    fn name(&self) -> &'static str {
        "namespace-controller"
    }
    fn sync<'a>(&'a self, key: &'a str) -> BoxFuture<'a, SyncResult> {
        Box::pin(self.sync_ns(key))
    }
}
