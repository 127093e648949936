//! The scheduler (kube-scheduler's default profile): binds every pending pod that names no
//! node, no other scheduler and is not being deleted to a node that fits it, most important
//! pods first.
//!
//! Contract: informer deltas only maintain the [`cache::Cache`] and the
//! [`queue::SchedulingQueue`]; one loop pops pods and, holding the cache, decides with the pure
//! [`algorithm::schedule`] (falling back to [`preempt::preempt`]); the decision is assumed in the
//! cache at once and written by a task of its own (`pods/binding`, then a `Scheduled` event), so
//! decisions never wait for the API. A pod that fits nowhere gets `PodScheduled=False`,
//! reason `Unschedulable`, Kubernetes' message, and a `FailedScheduling` event, and is retried
//! when a node, a placed pod or a volume changes in a way that could matter, and at least every
//! 10 s. Priorities are resolved from PriorityClasses here, since the API does not yet fill
//! `spec.priority`.

pub mod affinity;
pub mod algorithm;
pub mod cache;
pub mod diagnosis;
pub mod interpod;
pub mod podinfo;
pub mod ports;
pub mod preempt;
pub mod queue;
pub mod resources;
pub mod score;
pub mod spread;
pub mod taints;
pub mod volumes;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::api::object;
use crate::clock::rfc3339;
use crate::controller::client::{
    Delete, NAMESPACES, NODES, PERSISTENTVOLUMES, PODS, PRIORITYCLASSES, PVCS, STORAGECLASSES,
};
use crate::controller::informer::{key_of, Delta, Informer};
use crate::controller::{Client, Ctx};
use algorithm::{Cluster, Request};
use cache::Cache;
use diagnosis::Diagnosis;
use podinfo::PodInfo;
use preempt::Candidate;
use queue::{event, SchedulingQueue};

pub const SCHEDULER_NAME: &str = "default-scheduler";
/// How often backoffs are checked while the queue is idle.
const TICK: Duration = Duration::from_millis(200);

/// Whether this scheduler must place `pod`.
pub fn responsible(pod: &Value) -> bool {
    let spec = pod.get("spec");
    let name = spec
        .and_then(|s| s.get("schedulerName"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let gated = spec
        .and_then(|s| s.get("schedulingGates"))
        .and_then(Value::as_array)
        .is_some_and(|g| !g.is_empty());
    (name.is_empty() || name == SCHEDULER_NAME)
        && !gated
        && crate::controller::podutil::node_name(pod).is_empty()
        && crate::controller::podutil::is_active(pod)
}

fn assigned(pod: &Value) -> bool {
    !crate::controller::podutil::node_name(pod).is_empty()
}

/// Whether an update may change where the pod fits (status-only writes, such as this
/// scheduler's own condition updates, do not).
fn changed_for_scheduling(old: &Value, new: &Value) -> bool {
    old.get("spec") != new.get("spec")
        || object::labels(old) != object::labels(new)
        || object::meta(old).and_then(|m| m.get("annotations"))
            != object::meta(new).and_then(|m| m.get("annotations"))
}

/// The status patch recording an unschedulable attempt, `None` when nothing would change.
/// `nominated`: `Some(node)` sets `status.nominatedNodeName`, `Some("")` clears it.
pub fn unschedulable_patch(
    pod: &Value,
    message: &str,
    nominated: Option<&str>,
    now: i64,
) -> Option<Value> {
    let conds = pod
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let cur = conds
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some("PodScheduled"));
    let same_cond = cur.is_some_and(|c| {
        c.get("status").and_then(Value::as_str) == Some("False")
            && c.get("reason").and_then(Value::as_str) == Some("Unschedulable")
            && c.get("message").and_then(Value::as_str) == Some(message)
    });
    let cur_nominated = pod
        .pointer("/status/nominatedNodeName")
        .and_then(Value::as_str)
        .unwrap_or("");
    let same_nominated = nominated.is_none_or(|n| n == cur_nominated);
    if same_cond && same_nominated {
        return None;
    }
    let since = cur
        .filter(|c| c.get("status").and_then(Value::as_str) == Some("False"))
        .and_then(|c| c.get("lastTransitionTime").cloned())
        .unwrap_or_else(|| json!(rfc3339(now)));
    let mut out: Vec<Value> = conds
        .into_iter()
        .filter(|c| c.get("type").and_then(Value::as_str) != Some("PodScheduled"))
        .collect();
    out.push(json!({"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message,
                    "lastProbeTime": null, "lastTransitionTime": since}));
    let mut status = json!({"conditions": out});
    match nominated {
        Some("") => status["nominatedNodeName"] = Value::Null,
        Some(n) => status["nominatedNodeName"] = json!(n),
        None => {}
    }
    Some(json!({"status": status}))
}

struct State {
    cache: Cache,
    queue: SchedulingQueue,
    next_start: usize,
}

struct Informers {
    pods: Arc<Informer>,
    nodes: Arc<Informer>,
    classes: Arc<Informer>,
    pvcs: Arc<Informer>,
    pvs: Arc<Informer>,
    storage_classes: Arc<Informer>,
    namespaces: Arc<Informer>,
}

pub struct Scheduler {
    client: Client,
    inf: Informers,
    state: Mutex<State>,
    wake: event_listener::Event,
    epoch: Instant,
}

/// What one attempt decided, acted on after the cache lock is released.
enum Outcome {
    Bind(String),
    Unschedulable {
        diag: Diagnosis,
        preemption: Option<Candidate>,
    },
}

pub fn start(ctx: &Ctx) {
    let i = &ctx.informers;
    let inf = Informers {
        pods: i.get(PODS),
        nodes: i.get(NODES),
        classes: i.get(PRIORITYCLASSES),
        pvcs: i.get(PVCS),
        pvs: i.get(PERSISTENTVOLUMES),
        storage_classes: i.get(STORAGECLASSES),
        namespaces: i.get(NAMESPACES),
    };
    let s = Arc::new(Scheduler {
        client: ctx.client.clone(),
        inf,
        state: Mutex::new(State {
            cache: Cache::new(),
            queue: SchedulingQueue::new(),
            next_start: 0,
        }),
        wake: event_listener::Event::new(),
        epoch: Instant::now(),
    });
    s.launch();
}

impl Scheduler {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn launch(self: Arc<Self>) {
        let subscribe = |inf: &Arc<Informer>, f: fn(&Scheduler, Delta)| {
            let rx = inf.subscribe();
            let s = self.clone();
            crate::rt::spawn(async move {
                while let Ok(d) = rx.recv().await {
                    f(&s, d);
                }
            })
            .detach();
        };
        subscribe(&self.inf.nodes, Scheduler::on_node);
        subscribe(&self.inf.pods, Scheduler::on_pod);
        subscribe(&self.inf.pvcs, Scheduler::on_volume);
        subscribe(&self.inf.pvs, Scheduler::on_volume);
        crate::rt::spawn(self.run()).detach();
    }

    fn priority_of(&self, pod: &Value) -> (i32, bool) {
        podinfo::priority(pod, &self.inf.classes.list(None))
    }

    fn on_node(&self, d: Delta) {
        let now = self.now_ms();
        let mut st = self.lock();
        match d {
            Delta::Upsert { new, .. } => {
                if st.cache.set_node(&new) {
                    st.queue.move_for(event::NODE_CHANGE, now);
                }
            }
            Delta::Delete(old) => st.cache.remove_node(object::name(&old)),
        }
        drop(st);
        self.wake.notify(1);
    }

    fn on_volume(&self, _d: Delta) {
        let now = self.now_ms();
        self.lock().queue.move_for(event::volume_change(), now);
        self.wake.notify(1);
    }

    fn on_pod(&self, d: Delta) {
        let now = self.now_ms();
        match d {
            Delta::Upsert { old, new } => {
                let key = key_of(&new);
                if assigned(&new) {
                    let (prio, never) = self.priority_of(&new);
                    let info = PodInfo::new(&new, prio, never);
                    let placed_now = !old.as_deref().is_some_and(assigned);
                    let was_running = |o: &Value| {
                        !matches!(crate::controller::podutil::phase(o), "Succeeded" | "Failed")
                    };
                    let freed = info.finished && old.as_deref().is_some_and(was_running);
                    let mut st = self.lock();
                    st.queue.remove(&key);
                    st.cache.add_pod(info);
                    if freed {
                        st.queue.move_for(event::pod_delete(), now);
                    } else if placed_now {
                        st.queue.move_for(event::pod_add(), now);
                    }
                } else if responsible(&new) {
                    let st = self.lock();
                    if st.cache.is_assumed(&key) {
                        return;
                    }
                    if old
                        .as_deref()
                        .is_some_and(|o| !changed_for_scheduling(o, &new))
                        && st.queue.contains(&key)
                    {
                        return;
                    }
                    drop(st);
                    let (prio, _) = self.priority_of(&new);
                    self.lock().queue.add(&key, prio, now);
                } else {
                    let mut st = self.lock();
                    st.queue.remove(&key);
                    st.cache.clear_nomination(&key);
                }
            }
            Delta::Delete(old) => {
                let key = key_of(&old);
                let mut st = self.lock();
                st.queue.remove(&key);
                st.cache.clear_nomination(&key);
                if assigned(&old) || st.cache.is_assumed(&key) {
                    st.cache.remove_pod(&key);
                    st.queue.move_for(event::pod_delete(), now);
                }
            }
        }
        self.wake.notify(1);
    }

    async fn run(self: Arc<Self>) {
        for inf in [
            &self.inf.nodes,
            &self.inf.pods,
            &self.inf.classes,
            &self.inf.pvcs,
            &self.inf.pvs,
            &self.inf.storage_classes,
            &self.inf.namespaces,
        ] {
            inf.wait_synced().await;
        }
        loop {
            let listener = self.wake.listen();
            let next = {
                let mut st = self.lock();
                st.queue.flush(self.now_ms());
                st.queue.pop()
            };
            match next {
                Some(key) => self.schedule_one(&key),
                None => {
                    futures_lite::future::or(listener, async {
                        async_io::Timer::after(TICK).await;
                    })
                    .await;
                }
            }
        }
    }

    /// One attempt for one pod: decide under the cache lock, then hand the writes to tasks.
    fn schedule_one(self: &Arc<Self>, key: &str) {
        let now = self.now_ms();
        let pod = match self.inf.pods.get(key) {
            Some(p) if responsible(&p) => p,
            _ => {
                self.lock().queue.remove(key);
                return;
            }
        };
        let (prio, never) = self.priority_of(&pod);
        let mut info = PodInfo::new(&pod, prio, never);
        let namespaces = &self.inf.namespaces;
        info.pod_affinity.resolve_namespaces(&|sel| {
            namespaces
                .list(None)
                .iter()
                .filter(|n| sel.matches(object::labels(n)))
                .map(|n| object::name(n).to_string())
                .collect()
        });
        let ns_labels = namespaces
            .get(&info.namespace)
            .and_then(|n| object::labels(&n).cloned());
        let ns = info.namespace.clone();
        let volumes = volumes::prefilter(
            &info.claims,
            &|c| self.inf.pvcs.get(&format!("{ns}/{c}")),
            &|v| self.inf.pvs.get(v),
            &|c| self.inf.storage_classes.get(c),
        );
        let mut guard = self.lock();
        let State {
            cache,
            queue,
            next_start,
        } = &mut *guard;
        let outcome = {
            let cluster = Cluster {
                nodes: cache.nodes(),
                nominated: cache.nominated(),
            };
            let req = Request {
                pod: &info,
                ns_labels: ns_labels.as_ref(),
                volumes,
            };
            match algorithm::schedule(&cluster, &req, next_start) {
                Ok(node) => Outcome::Bind(node),
                Err(mut diag) => {
                    let mut preemption = None;
                    if diag.num_nodes > 0 {
                        match preempt::preempt(&cluster, &req, &diag) {
                            Ok(c) => preemption = Some(c),
                            Err(msg) => diag.post_filter = Some(msg.into()),
                        }
                    }
                    Outcome::Unschedulable { diag, preemption }
                }
            }
        };
        match outcome {
            Outcome::Bind(node) => {
                cache.assume(info, &node);
                drop(guard);
                let s = self.clone();
                let key = key.to_string();
                crate::rt::spawn(async move { s.bind(&key, pod, &node).await }).detach();
            }
            Outcome::Unschedulable { diag, preemption } => {
                queue.unschedulable(key, diag.plugins, now);
                let nominated = match &preemption {
                    Some(c) => {
                        let mut nominee = info.clone();
                        nominee.nominated_node = c.node.clone();
                        cache.nominate(Arc::new(nominee), &c.node);
                        Some(c.node.clone())
                    }
                    None if !info.nominated_node.is_empty() => {
                        cache.clear_nomination(key);
                        Some(String::new())
                    }
                    None => None,
                };
                drop(guard);
                let s = self.clone();
                let msg = diag.message();
                crate::rt::spawn(async move {
                    if let Some(c) = preemption {
                        s.evict(&pod, &c).await;
                    }
                    s.record_failure(&pod, &msg, nominated.as_deref()).await;
                })
                .detach();
            }
        }
    }

    async fn bind(&self, key: &str, pod: Arc<Value>, node: &str) {
        let ns = object::meta_str(&pod, "namespace").unwrap_or("default");
        let name = object::name(&pod);
        match self.client.bind(ns, name, node).await {
            Ok(()) => {
                let msg = format!("Successfully assigned {ns}/{name} to {node}");
                self.client
                    .event(&pod, "Normal", "Scheduled", &msg, SCHEDULER_NAME)
                    .await;
            }
            Err(e) => {
                let now = self.now_ms();
                {
                    let mut st = self.lock();
                    st.cache.forget(key);
                    if e.code == 404 {
                        st.queue.remove(key);
                    } else {
                        st.queue.error(key, now);
                    }
                }
                self.wake.notify(1);
                if e.code != 404 && e.code != 409 {
                    let msg = format!("Binding rejected: {}", e.message);
                    self.client
                        .event(&pod, "Warning", "FailedScheduling", &msg, SCHEDULER_NAME)
                        .await;
                }
            }
        }
    }

    async fn record_failure(&self, pod: &Value, msg: &str, nominated: Option<&str>) {
        let ns = object::meta_str(pod, "namespace").unwrap_or("default");
        if let Some(patch) = unschedulable_patch(pod, msg, nominated, self.client.now()) {
            if let Err(e) = self
                .client
                .merge_patch(PODS, Some(ns), object::name(pod), &patch, true)
                .await
            {
                if e.code != 404 {
                    eprintln!(
                        "kedge: scheduler: updating {ns}/{}: {}",
                        object::name(pod),
                        e.message
                    );
                }
            }
        }
        self.client
            .event(pod, "Warning", "FailedScheduling", msg, SCHEDULER_NAME)
            .await;
    }

    /// Evict the victims of a preemption (marked as disrupted first, as Kubernetes does).
    async fn evict(&self, preemptor: &Value, c: &Candidate) {
        let uid = object::meta_str(preemptor, "uid").unwrap_or("");
        let now = rfc3339(self.client.now());
        for v in &c.victims {
            let Some(obj) = self.inf.pods.get(&v.key) else {
                continue;
            };
            let msg = format!("Preempted by pod {uid} on node {}", c.node);
            self.client
                .event(&obj, "Normal", "Preempted", &msg, SCHEDULER_NAME)
                .await;
            let mut conds: Vec<Value> = obj
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            conds.retain(|x| x.get("type").and_then(Value::as_str) != Some("DisruptionTarget"));
            conds.push(json!({"type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler",
                              "message": format!("{SCHEDULER_NAME}: preempting to accommodate a higher priority pod"),
                              "lastTransitionTime": now}));
            let patch = json!({"status": {"conditions": conds}});
            let _ = self
                .client
                .merge_patch(PODS, Some(&v.namespace), &v.name, &patch, true)
                .await;
            let how = Delete {
                uid: Some(v.uid.clone()),
                ..Default::default()
            };
            if let Err(e) = self
                .client
                .delete(PODS, Some(&v.namespace), &v.name, how)
                .await
            {
                if e.code != 404 && e.code != 409 {
                    eprintln!("kedge: scheduler: preempting {}: {}", v.key, e.message);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responsibility() {
        let cases = [
            ("plain pending pod", json!({"spec": {}}), true),
            (
                "default scheduler by name",
                json!({"spec": {"schedulerName": "default-scheduler"}}),
                true,
            ),
            (
                "another scheduler",
                json!({"spec": {"schedulerName": "custom"}}),
                false,
            ),
            ("already bound", json!({"spec": {"nodeName": "n1"}}), false),
            (
                "being deleted",
                json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}, "spec": {}}),
                false,
            ),
            (
                "gated",
                json!({"spec": {"schedulingGates": [{"name": "wait"}]}}),
                false,
            ),
            (
                "finished",
                json!({"spec": {}, "status": {"phase": "Failed"}}),
                false,
            ),
        ];
        for (name, pod, want) in cases {
            assert_eq!(responsible(&pod), want, "{name}");
        }
    }

    #[test]
    fn condition_patch_only_when_something_changes() {
        let pod = json!({"status": {"conditions": [{"type": "Initialized", "status": "True"}]}});
        let p = unschedulable_patch(
            &pod,
            "0/1 nodes are available: 1 Insufficient cpu.",
            None,
            0,
        )
        .unwrap();
        let conds = p["status"]["conditions"].as_array().unwrap();
        assert_eq!(conds.len(), 2);
        assert_eq!(conds[1]["reason"], "Unschedulable");
        assert_eq!(conds[1]["lastTransitionTime"], "1970-01-01T00:00:00Z");
        let mut applied = pod.clone();
        applied["status"]["conditions"] = p["status"]["conditions"].clone();
        assert!(unschedulable_patch(
            &applied,
            "0/1 nodes are available: 1 Insufficient cpu.",
            None,
            99
        )
        .is_none());
        let again = unschedulable_patch(
            &applied,
            "0/2 nodes are available: 2 Insufficient cpu.",
            Some("n1"),
            99,
        )
        .unwrap();
        assert_eq!(again["status"]["nominatedNodeName"], "n1");
        // The transition time is kept while the pod stays unschedulable.
        assert_eq!(
            again["status"]["conditions"][1]["lastTransitionTime"],
            "1970-01-01T00:00:00Z"
        );
    }

    #[test]
    fn status_only_updates_do_not_count() {
        let a = json!({"metadata": {"labels": {"a": "1"}, "resourceVersion": "1"}, "spec": {"x": 1}, "status": {}});
        let mut b = a.clone();
        b["metadata"]["resourceVersion"] = json!("2");
        b["status"] = json!({"conditions": []});
        assert!(!changed_for_scheduling(&a, &b));
        b["spec"]["tolerations"] = json!([]);
        assert!(changed_for_scheduling(&a, &b));
    }
}
