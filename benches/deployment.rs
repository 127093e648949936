//! `cargo bench --bench deployment` (root): a 3,000-replica Deployment on 100 simulated nodes.
//! Prints the time from `kubectl apply` to every pod bound and Running/Ready (simulated
//! kubelets), and the server's peak RSS meanwhile. Uses the integration-test harness (a real
//! server in its own network namespace, simulated nodes on a thread inside it).

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/common/simnode.rs"]
mod simnode;

use std::time::{Duration, Instant};

use common::Cluster;
use simnode::{NodeSpec, SimNodes};

fn rss_mib(pid: u32) -> f64 {
    kedge::bench::rss_kib(&pid.to_string()).unwrap_or(0) as f64 / 1024.0
}

fn main() {
    if let Some(why) = common::unavailable() {
        eprintln!("deployment bench skipped: {why}");
        return;
    }
    let nodes: usize = std::env::var("NODES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let replicas: usize = std::env::var("REPLICAS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let c = Cluster::start();
    let specs = (0..nodes)
        .map(|i| NodeSpec::new(&format!("sim{i:03}")).capacity("64", "256Gi", 110))
        .collect();
    let _sims = SimNodes::start(c.pid(), &c.kubeconfig, specs);
    let deadline = Instant::now() + Duration::from_secs(60);
    while c.ok(&["get", "nodes", "-o", "name"]).lines().count() < nodes {
        assert!(
            Instant::now() < deadline,
            "simulated nodes did not register"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let yaml = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: big\nspec:\n  replicas: {replicas}\n  selector:\n    matchLabels: {{app: big}}\n  template:\n    metadata:\n      labels: {{app: big}}\n    spec:\n      containers:\n      - name: c\n        image: busybox:1.36\n        resources:\n          requests: {{cpu: 10m, memory: 16Mi}}\n"
    );
    let rss_start = rss_mib(c.pid());
    let t0 = Instant::now();
    c.apply(&yaml);
    let mut peak = rss_start;
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        peak = peak.max(rss_mib(c.pid()));
        let avail = c.ok(&[
            "get",
            "deployment",
            "big",
            "-o",
            "jsonpath={.status.availableReplicas}",
        ]);
        if avail.trim().parse::<usize>().unwrap_or(0) >= replicas {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not all pods Running after 600 s (available {avail})"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let secs = t0.elapsed().as_secs_f64();
    peak = peak.max(rss_mib(c.pid()));
    println!(
        "deployment: nodes={nodes} replicas={replicas} apply_to_all_running={secs:.1}s server_rss_start={rss_start:.1}MiB server_rss_peak={peak:.1}MiB"
    );
}
