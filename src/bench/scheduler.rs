//! Scheduler throughput: N synthetic nodes, M pods.
//!
//! The algorithm run (default) parses each pod, decides with the full filter and score chain
//! against the cache and assumes the result, in process with no API. The end-to-end run
//! (`--e2e`) starts an in-process API server on a temporary store with only the scheduler
//! running, creates the nodes and pods first, then times from the scheduler's start until the
//! pod informer has seen every pod bound (decision, `pods/binding` write, `Scheduled` event).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use serde_json::{json, Value};

use crate::api::server::{ApiConfig, ApiServer};
use crate::clock::SystemClock;
use crate::controller::client::{NODES, PODS};
use crate::controller::informer::Informers;
use crate::controller::{Client, Ctx, Settings};
use crate::scheduler::algorithm::{self, Cluster, Request};
use crate::scheduler::cache::Cache;
use crate::scheduler::podinfo::PodInfo;
use crate::store::{Options, Store};

const ZONES: usize = 3;
const CONTROLLERS: usize = 20;

fn node(i: usize) -> Value {
    let name = format!("node-{i:05}");
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
            "topology.kubernetes.io/zone": format!("zone-{}", i % ZONES)}},
        "spec": {},
        "status": {
            "capacity": {"cpu": "32", "memory": "128Gi", "pods": "250", "ephemeral-storage": "100Gi"},
            "allocatable": {"cpu": "32", "memory": "128Gi", "pods": "250", "ephemeral-storage": "100Gi"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]},
    })
}

/// A Deployment-like pod: requests, a controller owner, nothing exotic.
fn pod(i: usize) -> Value {
    let owner = i % CONTROLLERS;
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("pod-{i:06}"), "namespace": "default", "uid": format!("00000000-0000-0000-0000-{i:012}"),
                     "labels": {"app": format!("app-{owner}")},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("rs-{owner}"),
                                          "uid": format!("rs-uid-{owner}"), "controller": true}]},
        "spec": {"containers": [{"name": "c", "image": "busybox",
                                 "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]},
    })
}

pub fn run(nodes: usize, pods: usize, e2e: bool) -> Result<()> {
    algorithm_run(nodes, pods)?;
    if e2e {
        end_to_end(nodes, pods)?;
    }
    Ok(())
}

fn algorithm_run(nodes: usize, pods: usize) -> Result<()> {
    let mut cache = Cache::new();
    for i in 0..nodes {
        cache.set_node(&node(i));
    }
    let objects: Vec<Value> = (0..pods).map(pod).collect();
    let nominated = HashMap::new();
    let mut next = 0;
    let mut placed = 0usize;
    let t = Instant::now();
    for obj in &objects {
        let info = PodInfo::new(obj, 0, false);
        let decision = {
            let cluster = Cluster {
                nodes: cache.nodes(),
                nominated: &nominated,
            };
            let req = Request::plain(&info);
            algorithm::schedule(&cluster, &req, &mut next)
        };
        if let Ok(n) = decision {
            cache.assume(info, &n);
            placed += 1;
        }
    }
    let secs = t.elapsed().as_secs_f64();
    if placed != pods {
        return Err(anyhow!("only {placed} of {pods} pods fit"));
    }
    println!(
        "scheduler: nodes={nodes} pods={pods} seconds={secs:.3} rate={:.0} pods/s",
        pods as f64 / secs
    );
    Ok(())
}

fn end_to_end(nodes: usize, pods: usize) -> Result<()> {
    let dir = std::env::temp_dir().join(format!("kedge-bench-scheduler-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let store = Store::open(&dir, Options::default())?;
    let cfg = ApiConfig {
        service_cidr: ipnetwork::Ipv4Network::new([10, 43, 0, 0].into(), 16)?,
        cluster_cidr: ipnetwork::Ipv4Network::new([10, 42, 0, 0].into(), 16)?,
        advertise_ip: std::net::Ipv4Addr::LOCALHOST.into(),
        port: 6443,
        default_toleration_seconds: 300,
    };
    let api = ApiServer::new(store.clone(), Arc::new(SystemClock), cfg);
    let out = crate::rt::block_on(async move {
        crate::api::handlers::startup(&api).map_err(|e| anyhow!("{e}"))?;
        crate::api::bootstrap::run(&api)
            .await
            .map_err(|e| anyhow!("{e}"))?;
        let client = Client::new(api);
        for i in 0..nodes {
            let n = node(i);
            let name = n["metadata"]["name"].as_str().unwrap_or("").to_string();
            client
                .create(NODES, None, n.clone())
                .await
                .map_err(|e| anyhow!("{e:?}"))?;
            client
                .merge_patch(NODES, None, &name, &json!({"status": n["status"]}), true)
                .await
                .map_err(|e| anyhow!("{e:?}"))?;
        }
        for chunk in (0..pods).collect::<Vec<_>>().chunks(256) {
            let tasks: Vec<_> = chunk
                .iter()
                .map(|&i| {
                    let c = client.clone();
                    let mut p = pod(i);
                    if let Some(m) = p["metadata"].as_object_mut() {
                        m.remove("uid");
                    }
                    crate::rt::spawn(async move { c.create(PODS, Some("default"), p).await })
                })
                .collect();
            for t in tasks {
                t.await.map_err(|e| anyhow!("{e:?}"))?;
            }
        }
        let (stop_tx, stop) = smol::channel::unbounded::<()>();
        let informers = Arc::new(Informers::new(client.clone(), stop));
        let ctx = Ctx {
            client,
            informers: informers.clone(),
            settings: Settings::default(),
        };
        let t = Instant::now();
        crate::scheduler::start(&ctx);
        let pod_cache = informers.get(PODS);
        let deadline = t + Duration::from_secs(600);
        loop {
            let bound = pod_cache
                .list(None)
                .iter()
                .filter(|p| !crate::controller::podutil::node_name(p).is_empty())
                .count();
            if bound >= pods {
                break;
            }
            if Instant::now() > deadline {
                return Err(anyhow!("only {bound} of {pods} pods bound"));
            }
            async_io::Timer::after(Duration::from_millis(20)).await;
        }
        let secs = t.elapsed().as_secs_f64();
        drop(stop_tx);
        Ok::<f64, anyhow::Error>(secs)
    });
    store.close();
    let _ = std::fs::remove_dir_all(&dir);
    let secs = out?;
    println!(
        "scheduler e2e: nodes={nodes} pods={pods} seconds={secs:.3} rate={:.0} pods/s",
        pods as f64 / secs
    );
    Ok(())
}
