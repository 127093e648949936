//! Shared informers: one list + watch per resource feeding an in-memory cache that every
//! controller reads by key, with change notifications fanned out to subscribers. On a 410
//! (compacted revision) the informer relists and reports what vanished meanwhile as deletions.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use serde_json::Value;

use super::client::{Client, Res};
use crate::api::object;
use crate::store::{EventKind, StoreError};

/// A change seen by an informer.
#[derive(Debug, Clone)]
pub enum Delta {
    /// Added or updated; `old` is the previously cached version.
    Upsert {
        old: Option<Arc<Value>>,
        new: Arc<Value>,
    },
    Delete(Arc<Value>),
}

impl Delta {
    pub fn object(&self) -> &Arc<Value> {
        match self {
            Delta::Upsert { new, .. } => new,
            Delta::Delete(o) => o,
        }
    }
}

/// `namespace/name`, or `name` for cluster-scoped objects.
pub fn key_of(obj: &Value) -> String {
    match object::meta_str(obj, "namespace") {
        Some(ns) if !ns.is_empty() => format!("{ns}/{}", object::name(obj)),
        _ => object::name(obj).to_string(),
    }
}

/// Split a key into (namespace, name).
pub fn split_key(key: &str) -> (Option<&str>, &str) {
    match key.split_once('/') {
        Some((ns, n)) => (Some(ns), n),
        None => (None, key),
    }
}

pub struct Informer {
    pub res: Res,
    cache: RwLock<HashMap<String, Arc<Value>>>,
    synced: AtomicBool,
    synced_event: event_listener::Event,
    /// The store revision up to which this cache is current.
    rev: AtomicU64,
    subscribers: Mutex<Vec<smol::channel::Sender<Delta>>>,
}

impl Informer {
    fn new(res: Res) -> Informer {
        Informer {
            res,
            cache: RwLock::new(HashMap::new()),
            synced: AtomicBool::new(false),
            synced_event: event_listener::Event::new(),
            rev: AtomicU64::new(0),
            subscribers: Mutex::new(Vec::new()),
        }
    }

    pub fn get(&self, key: &str) -> Option<Arc<Value>> {
        self.cache
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned()
    }

    /// Every cached object (optionally of one namespace).
    pub fn list(&self, ns: Option<&str>) -> Vec<Arc<Value>> {
        let cache = self.cache.read().unwrap_or_else(|e| e.into_inner());
        cache
            .values()
            .filter(|o| ns.is_none() || object::meta_str(o, "namespace") == ns)
            .cloned()
            .collect()
    }

    /// A channel of every later change (and an Upsert per cached object at subscription).
    pub fn subscribe(&self) -> smol::channel::Receiver<Delta> {
        let (tx, rx) = smol::channel::unbounded();
        let cache = self.cache.read().unwrap_or_else(|e| e.into_inner());
        for o in cache.values() {
            let _ = tx.try_send(Delta::Upsert {
                old: None,
                new: o.clone(),
            });
        }
        self.subscribers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(tx);
        rx
    }

    pub fn has_synced(&self) -> bool {
        self.synced.load(Ordering::SeqCst)
    }

    pub async fn wait_synced(&self) {
        loop {
            let l = self.synced_event.listen();
            if self.has_synced() {
                return;
            }
            l.await;
        }
    }

    /// Wait (at most `limit`) until the cache reflects store revision `rev`: a controller
    /// that just wrote calls this so its next sync sees its own writes.
    pub async fn wait_rev(&self, rev: u64, limit: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let l = self.synced_event.listen();
            if self.rev.load(Ordering::SeqCst) >= rev {
                return true;
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                return false;
            }
            let timer = async_io::Timer::after(deadline - now);
            futures_lite::future::or(l, async {
                timer.await;
            })
            .await;
        }
    }

    fn advance(&self, rev: u64) {
        self.rev.fetch_max(rev, Ordering::SeqCst);
        self.synced_event.notify(usize::MAX);
    }

    fn publish(&self, d: Delta) {
        let mut subs = self.subscribers.lock().unwrap_or_else(|e| e.into_inner());
        subs.retain(|s| s.try_send(d.clone()).is_ok());
    }

    fn upsert(&self, obj: Value) {
        let key = key_of(&obj);
        let new = Arc::new(obj);
        let old = self
            .cache
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, new.clone());
        self.publish(Delta::Upsert { old, new });
    }

    fn remove(&self, obj: Value) {
        let key = key_of(&obj);
        let old = self
            .cache
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
        self.publish(Delta::Delete(old.unwrap_or_else(|| Arc::new(obj))));
    }

    /// Replace the cache with a fresh list; report differences.
    fn replace(&self, items: Vec<Value>) {
        let fresh: HashMap<String, Value> = items.into_iter().map(|o| (key_of(&o), o)).collect();
        let gone: Vec<Arc<Value>> = {
            let cache = self.cache.read().unwrap_or_else(|e| e.into_inner());
            cache
                .iter()
                .filter(|(k, _)| !fresh.contains_key(*k))
                .map(|(_, v)| v.clone())
                .collect()
        };
        for g in gone {
            self.remove((*g).clone());
        }
        for (_, o) in fresh {
            let same = self.get(&key_of(&o)).is_some_and(|c| {
                object::meta_str(&c, "resourceVersion") == object::meta_str(&o, "resourceVersion")
            });
            if !same {
                self.upsert(o);
            }
        }
    }

    /// List and watch until the stop channel closes.
    async fn run(self: Arc<Self>, client: Client, stop: smol::channel::Receiver<()>) {
        let Ok(def) = client.def(self.res) else {
            return;
        };
        let prefix = def.prefix();
        loop {
            let (items, rev) = match client.list(self.res, None) {
                Ok(x) => x,
                Err(_) => {
                    async_io::Timer::after(std::time::Duration::from_millis(200)).await;
                    continue;
                }
            };
            self.replace(items);
            self.synced.store(true, Ordering::SeqCst);
            self.advance(rev);
            let Ok(mut w) = client.server().store.watch(prefix.as_bytes(), rev) else {
                continue;
            };
            loop {
                let next = futures_lite::future::or(async { Some(w.next().await) }, async {
                    let _ = stop.recv().await;
                    None
                })
                .await;
                match next {
                    None => return,
                    Some(Err(StoreError::Compacted { .. })) => break,
                    Some(Err(_)) => break,
                    Some(Ok(batch)) => {
                        let last = batch.last().map(|e| e.rev).unwrap_or(0);
                        for ev in batch {
                            let Ok(obj) = object::from_stored(&ev.value, ev.rev) else {
                                continue;
                            };
                            match ev.kind {
                                EventKind::Put => self.upsert(obj),
                                EventKind::Delete => self.remove(obj),
                            }
                        }
                        self.advance(last);
                    }
                }
            }
        }
    }
}

/// One informer per resource, shared by every controller.
pub struct Informers {
    client: Client,
    stop: smol::channel::Receiver<()>,
    map: Mutex<HashMap<Res, Arc<Informer>>>,
}

impl Informers {
    pub fn new(client: Client, stop: smol::channel::Receiver<()>) -> Informers {
        Informers {
            client,
            stop,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// The informer of a resource, started on first use.
    pub fn get(&self, res: Res) -> Arc<Informer> {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(res)
            .or_insert_with(|| {
                let inf = Arc::new(Informer::new(res));
                crate::rt::spawn(inf.clone().run(self.client.clone(), self.stop.clone())).detach();
                inf
            })
            .clone()
    }
}
