//! A pod watcher for rollout checks (tests only): follows every pod event in a namespace with a
//! label selector, on a thread inside the server's network namespace, and records the largest
//! number of pods that existed (not terminating) and the smallest number that were Ready once
//! `armed` (after the first full readiness).

#![allow(dead_code)]

use std::collections::HashMap;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;

use kedge::bench::Target;
use serde_json::Value;

pub struct PodWatch {
    pub max_pods: Arc<AtomicI64>,
    pub min_ready: Arc<AtomicI64>,
    pub armed: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl PodWatch {
    pub fn start(pid: u32, kubeconfig: &std::path::Path, ns: &str, selector: &str) -> PodWatch {
        let max_pods = Arc::new(AtomicI64::new(0));
        let min_ready = Arc::new(AtomicI64::new(i64::MAX));
        let armed = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (m, r, a, s) = (
            max_pods.clone(),
            min_ready.clone(),
            armed.clone(),
            stop.clone(),
        );
        let kubeconfig = kubeconfig.to_path_buf();
        let path = format!("/api/v1/namespaces/{ns}/pods?watch=true&labelSelector={selector}");
        std::thread::spawn(move || {
            let f = std::fs::File::open(format!("/proc/{pid}/ns/net")).expect("netns");
            nix::sched::setns(f.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            let target = Target::from_kubeconfig(&kubeconfig).expect("kubeconfig");
            smol::block_on(async move {
                let Ok(conn) = target.connect().await else {
                    return;
                };
                let Ok(mut lines) = conn.stream(&path).await else {
                    return;
                };
                let mut pods: HashMap<String, (bool, bool)> = HashMap::new();
                while !s.load(Ordering::SeqCst) {
                    let Ok(Some(ev)) = lines.next().await else {
                        return;
                    };
                    let o = &ev["object"];
                    let name = o["metadata"]["name"].as_str().unwrap_or("").to_string();
                    if ev["type"] == "DELETED" {
                        pods.remove(&name);
                    } else {
                        let terminating = o["metadata"].get("deletionTimestamp").is_some();
                        let ready = o["status"]["conditions"].as_array().is_some_and(|cs| {
                            cs.iter()
                                .any(|c| c["type"] == "Ready" && c["status"] == "True")
                        });
                        pods.insert(name, (terminating, ready && !terminating));
                    }
                    let live = pods.values().filter(|(t, _)| !t).count() as i64;
                    let ready = pods.values().filter(|(_, r)| *r).count() as i64;
                    m.fetch_max(live, Ordering::SeqCst);
                    if a.load(Ordering::SeqCst) {
                        r.fetch_min(ready, Ordering::SeqCst);
                    }
                    let _: Option<Value> = None;
                }
            });
        });
        PodWatch {
            max_pods,
            min_ready,
            armed,
            stop,
        }
    }

    /// Start counting readiness (after the initial rollout is complete) and reset the maximum.
    pub fn arm(&self) {
        self.max_pods.store(0, Ordering::SeqCst);
        self.armed.store(true, Ordering::SeqCst);
    }
}

impl Drop for PodWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}
