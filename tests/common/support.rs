//! Helpers for cluster tests (tests only): start a cluster with simulated nodes, wait for a
//! condition, list objects through kubectl. A test crate using it
//! declares `mod common` and `mod simnode` (from `common/simnode.rs`) at its root.

#![allow(dead_code)]

use std::sync::Once;

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

#[allow(unused_imports)]
pub use crate::common::{items, names, wait_for};
