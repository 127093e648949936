//! Helpers for cluster tests (tests only): start a cluster with simulated nodes, wait for a
//! condition, list objects through kubectl. A test crate using it
//! declares `mod common` and `mod simnode` (from `common/simnode.rs`) at its root.

#![allow(dead_code)]

use std::sync::Once;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::Cluster;
use crate::simnode::{NodeSpec, SimNodes};

/// Run kedge's shared executor on background threads for the rest of the process, for tests
/// that spawn on it (`kedge::rt::spawn`): nothing else runs it in a test process. The harness's
/// own connections (`kedge::bench::Target::connect`) run on smol's executor and need no help.
pub fn drive_runtime() {
    static STARTED: Once = Once::new();
    STARTED.call_once(|| {
        std::thread::spawn(|| kedge::rt::block_on(std::future::pending::<()>()));
    });
}

/// A cluster whose simulated `nodes` are registered. Bind the result as `let (c, sims)` so
/// the nodes stop before the server does.
pub fn cluster_with_nodes(nodes: Vec<NodeSpec>) -> (Cluster, SimNodes) {
    let c = Cluster::start();
    let n = nodes.len();
    let sims = SimNodes::start(c.pid(), &c.kubeconfig, nodes);
    // The simulated kubelet only acts for a node once its first Lease is written.
    wait_for("nodes to register", 30, || {
        items(&c, &["nodes"]).len() == n
            && items(&c, &["leases", "-n", "kube-node-lease"]).len() == n
    });
    (c, sims)
}

/// Poll `f` every 250 ms until it holds; panic naming `what` after `secs` seconds.
pub fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("timed out waiting for {what}");
}

/// `kubectl get <args> -o json` items.
pub fn items(c: &Cluster, args: &[&str]) -> Vec<Value> {
    c.json(args)["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Sorted names of `kubectl get <args>`.
pub fn names(c: &Cluster, args: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = items(c, args)
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap_or("").to_string())
        .collect();
    out.sort();
    out
}
