//! The ServiceAccount controller: every active namespace has a `default` ServiceAccount.

use std::sync::Arc;

use serde_json::json;

use super::client::{NAMESPACES, SERVICEACCOUNTS};
use super::informer::{key_of, Informer};
use super::{route, run, BoxFuture, Controller, Ctx, Queue, SyncResult};
use crate::api::object;

pub struct ServiceAccountController {
    ctx: Ctx,
    namespaces: Arc<Informer>,
    accounts: Arc<Informer>,
}

pub fn start(ctx: &Ctx) {
    let namespaces = ctx.informers.get(NAMESPACES);
    let accounts = ctx.informers.get(SERVICEACCOUNTS);
    let q = Queue::new();
    route(&namespaces, &q, |d| vec![key_of(d.object())]);
    route(&accounts, &q, |d| {
        let o = d.object();
        if object::name(o) == "default" {
            object::meta_str(o, "namespace")
                .map(str::to_string)
                .into_iter()
                .collect()
        } else {
            vec![]
        }
    });
    let c = ServiceAccountController {
        ctx: ctx.clone(),
        namespaces: namespaces.clone(),
        accounts: accounts.clone(),
    };
    run(Arc::new(c), q, 1, vec![namespaces, accounts]);
}

impl ServiceAccountController {
    async fn sync_ns(&self, ns: &str) -> SyncResult {
        let Some(n) = self.namespaces.get(ns) else {
            return Ok(None);
        };
        if object::meta(&n).is_some_and(|m| m.contains_key("deletionTimestamp")) {
            return Ok(None);
        }
        if self.accounts.get(&format!("{ns}/default")).is_some() {
            return Ok(None);
        }
        let sa = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": ns}});
        match self.ctx.client.create(SERVICEACCOUNTS, Some(ns), sa).await {
            Ok(_) => Ok(None),
            Err(e) if e.code == 409 || e.code == 403 || e.code == 404 => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

impl Controller for ServiceAccountController {
    fn name(&self) -> &'static str {
        "serviceaccount-controller"
    }
    fn sync<'a>(&'a self, key: &'a str) -> BoxFuture<'a, SyncResult> {
        Box::pin(self.sync_ns(key))
    }
}
