//! `kedge bench`: benchmarks that print their figures (recorded in docs/benchmarks.md) and the
//! load generator the durability tests use.
//!
//! - `creates`: ConfigMap creates/s through HTTPS with N concurrent clients; `--ack-file`
//!   records every acknowledged name (flushed before the next request) for crash tests.
//! - `watch`: write→event latency p50/p99 with N watchers.
//! - `store`: open time, full list time and RSS of a store with N objects (in process).
//! - `idle`: RSS and disk writes of a running server process from /proc.
//! - `scheduler`: scheduling decisions/s over synthetic nodes, optionally end to end.

mod creates;
mod dns;
mod idle;
mod net;
mod pods;
mod proxy;
mod runtime;
mod scheduler;
mod store;
mod watch;

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;

pub use crate::httpclient::{Conn, Lines, Target};

#[derive(Debug, Subcommand)]
pub enum Bench {
    /// Create small ConfigMaps with concurrent clients and report creates/s
    Creates {
        #[arg(long)]
        kubeconfig: PathBuf,
        #[arg(long, default_value_t = 16)]
        clients: usize,
        /// Total creates (0 = until the server goes away)
        #[arg(long, default_value_t = 20000)]
        count: usize,
        #[arg(long, default_value = "default")]
        namespace: String,
        #[arg(long, default_value = "bench")]
        prefix: String,
        /// Append each acknowledged name to this file
        #[arg(long)]
        ack_file: Option<PathBuf>,
    },
    /// Measure write→watch-event latency with many watchers
    Watch {
        #[arg(long)]
        kubeconfig: PathBuf,
        #[arg(long, default_value_t = 100)]
        watchers: usize,
        #[arg(long, default_value_t = 200)]
        writes: usize,
    },
    /// Store with N objects: open time, full list time, RSS
    Store {
        #[arg(long, default_value_t = 100_000)]
        objects: usize,
        /// Directory for the store (a temporary one by default)
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Scheduling decisions/s over N synthetic nodes and M pods (in process)
    Scheduler {
        #[arg(long, default_value_t = 1000)]
        nodes: usize,
        #[arg(long, default_value_t = 10_000)]
        pods: usize,
        /// Also run an in-process API server and time until every pod is bound
        #[arg(long)]
        e2e: bool,
    },
    /// Pod create → Running latency through API, scheduler and agent (real containers)
    Pods {
        #[arg(long)]
        kubeconfig: PathBuf,
        /// Image of the pods (must be present on the node)
        #[arg(long)]
        image: String,
        #[arg(long, default_value_t = 50)]
        rounds: usize,
        /// Pods created at once in each round
        #[arg(long, default_value_t = 1)]
        parallel: usize,
    },
    /// Container start inside the runtime alone, and the supervisors' RSS (needs root)
    Runtime {
        #[arg(long, default_value_t = 200)]
        count: usize,
        /// Containers kept running to measure the per-container supervisor RSS
        #[arg(long, default_value_t = 20)]
        resident: usize,
    },
    /// Pod-to-pod TCP throughput and latency across two nodes (host-gw, vxlan) against a veth
    /// pair; run it in private namespaces: `unshare --mount --net kedge bench net`
    Net {
        /// Seconds of streaming per path
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        /// 1-byte round trips per path
        #[arg(long, default_value_t = 20_000)]
        round_trips: usize,
    },
    /// Write the busybox test image (Debian's busybox-static) as an OCI archive
    TestImage {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value = "kedge.test/busybox:1")]
        name: String,
    },
    /// Time for one Deployment scaled from 0 to N replicas to be all Running
    Scale {
        #[arg(long)]
        kubeconfig: PathBuf,
        #[arg(long)]
        image: String,
        #[arg(long, default_value_t = 110)]
        replicas: usize,
        /// Also print this process' RSS once all replicas run (the agent's)
        #[arg(long)]
        rss_pid: Option<u32>,
    },
    /// Cluster DNS queries/s and p50/p99 latency (in process, or `--server` a running one)
    Dns(dns::Options),
    /// Service proxy: full atomic nf_tables resync time and ruleset size (needs root)
    Proxy(proxy::Options),
    /// RSS and disk writes of a process over a period
    Idle {
        #[arg(long)]
        pid: u32,
        #[arg(long, default_value_t = 60)]
        seconds: u64,
    },
}

pub fn run(b: Bench) -> Result<()> {
    match b {
        Bench::Creates {
            kubeconfig,
            clients,
            count,
            namespace,
            prefix,
            ack_file,
        } => creates::run(
            &kubeconfig,
            clients,
            count,
            &namespace,
            &prefix,
            ack_file.as_deref(),
        ),
        Bench::Watch {
            kubeconfig,
            watchers,
            writes,
        } => watch::run(&kubeconfig, watchers, writes),
        Bench::Store { objects, dir } => store::run(objects, dir.as_deref()),
        Bench::Idle { pid, seconds } => idle::run(pid, seconds),
        Bench::Dns(opts) => dns::run(opts),
        Bench::Proxy(opts) => proxy::run(opts),
        Bench::Pods {
            kubeconfig,
            image,
            rounds,
            parallel,
        } => pods::run_pods(&kubeconfig, &image, rounds, parallel),
        Bench::Runtime { count, resident } => runtime::run(count, resident),
        Bench::Net {
            seconds,
            round_trips,
        } => net::run(seconds, round_trips),
        Bench::TestImage { out, name } => {
            kedge_images::testimage::busybox_oci_archive(&out, &name, &[])?;
            Ok(())
        }
        Bench::Scale {
            kubeconfig,
            image,
            replicas,
            rss_pid,
        } => pods::run_scale(&kubeconfig, &image, replicas, rss_pid),
        Bench::Scheduler { nodes, pods, e2e } => scheduler::run(nodes, pods, e2e),
    }
}

/// Resident set size of a process in KiB.
pub fn rss_kib(pid: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// p-th percentile (0–100) of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}
