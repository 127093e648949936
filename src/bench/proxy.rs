//! Service proxy sync time: N Services × M endpoints programmed into nf_tables, then timed
//! full atomic resyncs (model + rules + one batch transaction) after single endpoint changes.
//!
//! Runs on a thread moved into a fresh network namespace of its own (`unshare`), so the host's
//! rules are never touched; the namespace dies with the thread.

use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use serde_json::{json, Value};

use super::percentile;
use crate::proxy::{Proxy, ProxyConfig, SyncStats};

fn service(i: usize) -> Value {
    let mut spec = json!({
        "clusterIP": format!("10.43.{}.{}", i / 250, 1 + i % 250),
        "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
    });
    // Every tenth Service is a NodePort, as a real cluster mixes them.
    if i % 10 == 0 {
        spec["type"] = json!("NodePort");
        spec["ports"][0]["nodePort"] = json!(30000 + i % 2768);
    }
    json!({"apiVersion": "v1", "kind": "Service",
           "metadata": {"namespace": "bench", "name": format!("svc-{i:05}")}, "spec": spec})
}

fn slice(i: usize, endpoints: usize, generation: usize) -> Value {
    let eps: Vec<Value> = (0..endpoints)
        .map(|e| {
            let n = i * endpoints + e + generation;
            json!({"addresses": [format!("10.42.{}.{}", (n / 250) % 256, 1 + n % 250)],
                   "conditions": {"ready": true}, "nodeName": format!("node-{}", e % 3)})
        })
        .collect();
    json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
           "metadata": {"namespace": "bench", "name": format!("svc-{i:05}-x"),
                        "labels": {"kubernetes.io/service-name": format!("svc-{i:05}")}},
           "addressType": "IPv4", "endpoints": eps,
           "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]})
}

/// `kedge bench proxy`
#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    #[arg(long, default_value_t = 1000)]
    pub services: usize,
    /// Ready endpoints per Service
    #[arg(long, default_value_t = 10)]
    pub endpoints: usize,
    /// Timed resyncs, each after one endpoint change
    #[arg(long, default_value_t = 50)]
    pub rounds: usize,
}

pub fn run(o: Options) -> Result<()> {
    let Options {
        services,
        endpoints,
        rounds,
    } = o;
    std::thread::spawn(move || -> Result<()> {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
            .context("unshare(CLONE_NEWNET): the proxy benchmark needs root")?;
        let proxy = Proxy::open(ProxyConfig {
            node_name: "node-0".into(),
            cluster_cidr: "10.42.0.0/16".parse()?,
        })?;
        let svcs: Vec<Value> = (0..services).map(service).collect();
        let mut slices: Vec<Value> = (0..services).map(|i| slice(i, endpoints, 0)).collect();
        let t = Instant::now();
        let first = proxy.sync(&svcs, &slices)?;
        println!(
            "proxy: {services} services x {endpoints} endpoints: first sync {:.1} ms",
            t.elapsed().as_secs_f64() * 1e3
        );
        let mut total = Vec::new();
        let mut build = Vec::new();
        let mut apply = Vec::new();
        let mut last = first;
        for r in 0..rounds {
            // One endpoint of one Service moves (a pod replaced), then a full resync.
            let i = (r * 7919) % services.max(1);
            slices[i] = slice(i, endpoints, r + 1);
            let t = Instant::now();
            let s: SyncStats = proxy.sync(&svcs, &slices)?;
            total.push(t.elapsed().as_secs_f64() * 1e3);
            build.push(s.build.as_secs_f64() * 1e3);
            apply.push(s.apply.as_secs_f64() * 1e3);
            last = s;
        }
        for v in [&mut total, &mut build, &mut apply] {
            v.sort_by(f64::total_cmp);
        }
        println!(
            "proxy: full atomic resync after one endpoint change ({rounds} runs): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (build p50 {:.1} ms, apply p50 {:.1} ms)",
            percentile(&total, 50.0),
            percentile(&total, 99.0),
            total.last().copied().unwrap_or(0.0),
            percentile(&build, 50.0),
            percentile(&apply, 50.0),
        );
        let st = last.rules;
        println!(
            "proxy: ruleset: {} service ports, {} chains, {} rules, {} sets, {} elements; batch {} messages, {} bytes",
            st.service_ports, st.chains, st.rules, st.sets, st.elements, st.messages, st.bytes
        );
        Ok(())
    })
    .join()
    .map_err(|_| anyhow!("proxy benchmark thread panicked"))?
}
