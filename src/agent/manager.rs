//! The pod manager: list + watch of the pods bound to this node, one [`Worker`] per pod uid,
//! and cleanup of what a previous agent left behind (checkpoints of pods that no longer exist,
//! runtime containers no checkpoint knows).
//!
//! Contract: the manager only routes: new pod versions go to the pod's worker as
//! [`Cmd::Update`], vanished pods as [`Cmd::Removed`]; a uid whose worker finished is never
//! started again. On `stop` every worker gets [`Cmd::Stop`] and leaves its containers running.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use futures_lite::StreamExt;
use serde_json::{json, Value};

use super::checkpoint;
use super::client::{ListParams, WatchEvent};
use super::worker::{Cmd, Ctx, Worker};
use crate::controller::client::PODS;

pub struct Manager {
    ctx: Arc<Ctx>,
    workers: Mutex<HashMap<String, smol::channel::Sender<Cmd>>>,
    /// Uids whose worker finished (the pod is gone for this node).
    done: Mutex<HashSet<String>>,
}

fn uid_of(pod: &Value) -> String {
    pod.pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

impl Manager {
    pub fn new(ctx: Arc<Ctx>) -> Arc<Manager> {
        Arc::new(Manager {
            ctx,
            workers: Mutex::new(HashMap::new()),
            done: Mutex::new(HashSet::new()),
        })
    }

    fn spawn(&self, pod: Arc<Value>) -> smol::channel::Sender<Cmd> {
        let (tx, rx) = smol::channel::unbounded();
        let w = Worker::new(self.ctx.clone(), pod, tx.clone());
        crate::rt::spawn(w.run(rx)).detach();
        tx
    }

    /// Route a pod version to its worker, starting one for a new pod.
    pub fn dispatch(&self, pod: Value) {
        let uid = uid_of(&pod);
        if uid.is_empty()
            || self
                .done
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(&uid)
        {
            return;
        }
        let pod = Arc::new(pod);
        let mut workers = self.workers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = workers.get(&uid) {
            if tx.try_send(Cmd::Update(pod)).is_ok() {
                return;
            }
            // The worker finished: the pod is done on this node.
            workers.remove(&uid);
            self.done
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(uid);
            return;
        }
        let tx = self.spawn(pod);
        workers.insert(uid, tx);
    }

    pub fn removed(&self, uid: &str) {
        let workers = self.workers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = workers.get(uid) {
            let _ = tx.try_send(Cmd::Removed);
        }
    }

    fn stop_all(&self) {
        let workers = self.workers.lock().unwrap_or_else(|e| e.into_inner());
        for tx in workers.values() {
            let _ = tx.try_send(Cmd::Stop);
        }
    }

    /// Tear down pods a previous agent ran that no longer exist, and containers nobody owns.
    async fn cleanup_orphans(&self, live: &HashSet<String>) {
        let pods_dir = self.ctx.cfg.agent_dir().join("pods");
        let mut known_ids = HashSet::new();
        for uid in checkpoint::known_pods(&pods_dir) {
            let Ok(Some(cp)) = checkpoint::load(&pods_dir.join(&uid)) else {
                continue;
            };
            known_ids.extend(cp.containers.iter().map(|c| c.id.clone()));
            if live.contains(&uid) {
                continue;
            }
            let field = |init: bool| -> Vec<Value> {
                cp.containers
                    .iter()
                    .filter(|c| c.init == init)
                    .map(|c| json!({"name": c.name, "image": ""}))
                    .collect()
            };
            // A stand-in pod object: enough for the worker to re-adopt and tear down.
            let pod = json!({"metadata": {"uid": uid, "name": cp.name, "namespace": cp.namespace},
                "spec": {"initContainers": field(true), "containers": field(false),
                         "terminationGracePeriodSeconds": 0}});
            let tx = self.spawn(Arc::new(pod));
            let _ = tx.try_send(Cmd::Removed);
            self.workers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(uid, tx);
        }
        let rt = self.ctx.deps.runtime.clone();
        smol::unblock(move || {
            for id in rt.list() {
                if !known_ids.contains(&id) {
                    let _ = rt.remove(&id);
                }
            }
        })
        .await;
    }

    /// List and watch this node's pods until `stop` closes.
    pub async fn run(self: Arc<Self>, stop: smol::channel::Receiver<()>) {
        let params = ListParams::node_pods(&self.ctx.cfg.node_name);
        let mut first = true;
        loop {
            if stop.is_closed() {
                self.stop_all();
                return;
            }
            let (items, rv) = match self.ctx.client.list(PODS, &params).await {
                Ok(x) => x,
                Err(e) => {
                    eprintln!("kedge agent: listing pods: {e}");
                    if super::node::wait_or_stop(std::time::Duration::from_secs(1), &stop).await {
                        self.stop_all();
                        return;
                    }
                    continue;
                }
            };
            let live: HashSet<String> = items.iter().map(uid_of).collect();
            for p in items {
                self.dispatch(p);
            }
            let gone: Vec<String> = self
                .workers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .keys()
                .filter(|u| !live.contains(*u))
                .cloned()
                .collect();
            if first {
                self.cleanup_orphans(&live).await;
                first = false;
            } else {
                for u in gone {
                    self.removed(&u);
                }
            }
            let mut stream = match self.ctx.client.watch(PODS, &params, &rv).await {
                Ok(s) => s,
                Err(_) => continue,
            };
            loop {
                let next = futures_lite::future::or(async { Some(stream.next().await) }, async {
                    let _ = stop.recv().await;
                    None
                })
                .await;
                match next {
                    None => {
                        self.stop_all();
                        return;
                    }
                    Some(Some(Ok(WatchEvent::Added(p))))
                    | Some(Some(Ok(WatchEvent::Modified(p)))) => self.dispatch(p),
                    Some(Some(Ok(WatchEvent::Deleted(p)))) => self.removed(&uid_of(&p)),
                    Some(Some(Err(_))) | Some(None) => break,
                }
            }
        }
    }
}
