//! A list + watch cache of one resource, as the agent's network components need it.
//!
//! Contract: [`Reflector::run`] lists, then watches from the list's resourceVersion, and
//! relists after any watch error or end (a compacted version, a dropped connection), so the
//! cache converges to the server's state. Every change bumps the shared [`Changes`] counter
//! and wakes its listeners; consumers read [`Reflector::snapshot`] after a wake-up and never
//! see a half-applied list. [`Reflector::synced`] tells whether the first list has arrived.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures_lite::StreamExt;
use serde_json::Value;

use crate::agent::client::{ListParams, NodeClient, Res, WatchEvent};
use crate::agent::node::wait_or_stop;

/// A change counter with wake-ups, shared by several reflectors.
#[derive(Default)]
pub struct Changes {
    generation: AtomicU64,
    event: event_listener::Event,
}

impl Changes {
    pub fn bump(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.event.notify(usize::MAX);
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Wait until the generation differs from `seen` (returns at once if it already does).
    pub async fn changed_since(&self, seen: u64) {
        loop {
            let listener = self.event.listen();
            if self.generation() != seen {
                return;
            }
            listener.await;
        }
    }
}

/// The cache key of an object: `namespace/name` or `name`.
pub fn key_of(obj: &Value) -> String {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    match obj.pointer("/metadata/namespace").and_then(Value::as_str) {
        Some(ns) if !ns.is_empty() => format!("{ns}/{name}"),
        _ => name.to_string(),
    }
}

/// Shapes an object before it is cached (keeps only what the consumers read).
pub type Transform = fn(Value) -> Value;

pub struct Reflector {
    res: Res,
    params: ListParams,
    transform: Option<Transform>,
    cache: RwLock<BTreeMap<String, Arc<Value>>>,
    synced: AtomicBool,
    changes: Arc<Changes>,
}

impl Reflector {
    pub fn new(res: Res, params: ListParams, changes: Arc<Changes>) -> Arc<Reflector> {
        Reflector::with_transform(res, params, changes, None)
    }

    /// A reflector caching `transform(object)` instead of whole objects.
    pub fn with_transform(
        res: Res,
        params: ListParams,
        changes: Arc<Changes>,
        transform: Option<Transform>,
    ) -> Arc<Reflector> {
        Arc::new(Reflector {
            res,
            params,
            transform,
            cache: RwLock::new(BTreeMap::new()),
            synced: AtomicBool::new(false),
            changes,
        })
    }

    pub fn synced(&self) -> bool {
        self.synced.load(Ordering::SeqCst)
    }

    /// The cached objects, ordered by key.
    pub fn snapshot(&self) -> Vec<Value> {
        let c = self.cache.read().unwrap_or_else(|e| e.into_inner());
        c.values().map(|v| (**v).clone()).collect()
    }

    fn shape(&self, o: Value) -> Value {
        match self.transform {
            Some(t) => t(o),
            None => o,
        }
    }

    fn replace(&self, items: Vec<Value>) {
        let fresh: BTreeMap<String, Arc<Value>> = items
            .into_iter()
            .map(|o| (key_of(&o), Arc::new(self.shape(o))))
            .collect();
        let mut c = self.cache.write().unwrap_or_else(|e| e.into_inner());
        if *c != fresh {
            *c = fresh;
            drop(c);
            self.changes.bump();
        }
    }

    fn apply(&self, ev: WatchEvent) {
        let mut c = self.cache.write().unwrap_or_else(|e| e.into_inner());
        let changed = match ev {
            WatchEvent::Added(o) | WatchEvent::Modified(o) => {
                let o = self.shape(o);
                let k = key_of(&o);
                let same = c.get(&k).is_some_and(|old| **old == o);
                if !same {
                    c.insert(k, Arc::new(o));
                }
                !same
            }
            WatchEvent::Deleted(o) => c.remove(&key_of(&o)).is_some(),
        };
        drop(c);
        if changed {
            self.changes.bump();
        }
    }

    /// List and watch until `stop` closes.
    pub async fn run(
        self: Arc<Self>,
        client: Arc<dyn NodeClient>,
        stop: smol::channel::Receiver<()>,
    ) {
        loop {
            if stop.is_closed() {
                return;
            }
            let (items, rv) = match client.list(self.res, &self.params).await {
                Ok(x) => x,
                Err(e) => {
                    eprintln!("kedge agent: listing {}: {e}", self.res.plural);
                    if wait_or_stop(Duration::from_secs(1), &stop).await {
                        return;
                    }
                    continue;
                }
            };
            self.replace(items);
            if !self.synced.swap(true, Ordering::SeqCst) {
                self.changes.bump();
            }
            let mut stream = match client.watch(self.res, &self.params, &rv).await {
                Ok(s) => s,
                Err(_) => {
                    if wait_or_stop(Duration::from_millis(200), &stop).await {
                        return;
                    }
                    continue;
                }
            };
            loop {
                let next = futures_lite::future::or(async { Some(stream.next().await) }, async {
                    let _ = stop.recv().await;
                    None
                })
                .await;
                match next {
                    None => return,
                    Some(Some(Ok(ev))) => self.apply(ev),
                    Some(Some(Err(_))) | Some(None) => break,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(name: &str, port: i64) -> Value {
        json!({"metadata": {"namespace": "default", "name": name}, "spec": {"ports": [{"port": port}]}})
    }

    #[test]
    fn changes_are_counted_once_per_real_change() {
        let changes = Arc::new(Changes::default());
        let r = Reflector::new(
            crate::controller::client::SERVICES,
            ListParams::default(),
            changes.clone(),
        );
        r.replace(vec![svc("a", 80), svc("b", 81)]);
        assert_eq!(changes.generation(), 1);
        r.replace(vec![svc("b", 81), svc("a", 80)]);
        assert_eq!(changes.generation(), 1, "the same list is no change");
        r.apply(WatchEvent::Modified(svc("a", 80)));
        assert_eq!(changes.generation(), 1, "an identical object is no change");
        r.apply(WatchEvent::Modified(svc("a", 90)));
        assert_eq!(changes.generation(), 2);
        r.apply(WatchEvent::Deleted(svc("b", 81)));
        assert_eq!(changes.generation(), 3);
        r.apply(WatchEvent::Deleted(svc("b", 81)));
        assert_eq!(changes.generation(), 3);
        let names: Vec<String> = r.snapshot().iter().map(key_of).collect();
        assert_eq!(names, vec!["default/a"]);
        assert_eq!(r.snapshot()[0]["spec"]["ports"][0]["port"], 90);
    }

    #[test]
    fn a_waiter_wakes_on_a_bump() {
        let changes = Arc::new(Changes::default());
        let seen = changes.generation();
        let c2 = changes.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            c2.bump();
        });
        smol::block_on(changes.changed_since(seen));
        assert_ne!(changes.generation(), seen);
        t.join().unwrap();
    }
}
