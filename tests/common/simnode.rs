//! Simulated nodes (tests only): Node objects with capacity, Lease heartbeats, and a fake
//! kubelet that moves pods bound to them to Running/Ready through the status subresource,
//! deletes terminating pods, and finishes pods that ask for it:
//! - annotation `sim.kedge.io/exit-code: "N"`: the pod ends Succeeded (0) or Failed (≠0)
//!   after `sim.kedge.io/run-seconds` (default 1);
//! - annotation `sim.kedge.io/ready-after-seconds: "N"`: Ready only after N seconds.
//!
//! It runs on its own thread that has entered the server's network namespace (network
//! namespaces are per thread), with a single-threaded executor, so the test process itself
//! never changes namespace.

#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::os::fd::AsFd;
use std::rc::Rc;
use std::time::Duration;

use hyper::Method;
use kedge::bench::{Conn, Target};
use serde_json::{json, Value};

#[derive(Debug, Clone)]
pub struct NodeSpec {
    pub name: String,
    pub cpu: String,
    pub memory: String,
    pub pods: u32,
    pub labels: Vec<(String, String)>,
    pub taints: Vec<Value>,
}

impl NodeSpec {
    pub fn new(name: &str) -> NodeSpec {
        NodeSpec {
            name: name.into(),
            cpu: "4".into(),
            memory: "8Gi".into(),
            pods: 110,
            labels: vec![],
            taints: vec![],
        }
    }
    pub fn label(mut self, k: &str, v: &str) -> NodeSpec {
        self.labels.push((k.into(), v.into()));
        self
    }
    pub fn taint(mut self, key: &str, value: &str, effect: &str) -> NodeSpec {
        self.taints
            .push(json!({"key": key, "value": value, "effect": effect}));
        self
    }
    pub fn capacity(mut self, cpu: &str, memory: &str, pods: u32) -> NodeSpec {
        self.cpu = cpu.into();
        self.memory = memory.into();
        self.pods = pods;
        self
    }
}

enum Cmd {
    Add(NodeSpec),
    StopHeartbeat(String),
    Quit,
}

pub struct SimNodes {
    tx: smol::channel::Sender<Cmd>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn now_rfc3339() -> String {
    kedge::clock::rfc3339(kedge::clock::Clock::now(&kedge::clock::SystemClock))
}

fn micro_now() -> String {
    now_rfc3339().replace('Z', ".000000Z")
}

impl SimNodes {
    /// Start simulating `nodes` against the server of process `pid` using `kubeconfig`.
    pub fn start(pid: u32, kubeconfig: &std::path::Path, nodes: Vec<NodeSpec>) -> SimNodes {
        let (tx, rx) = smol::channel::unbounded();
        for n in nodes {
            tx.try_send(Cmd::Add(n)).unwrap();
        }
        let kubeconfig = kubeconfig.to_path_buf();
        let thread = std::thread::spawn(move || {
            let ns = std::fs::File::open(format!("/proc/{pid}/ns/net")).expect("open netns");
            nix::sched::setns(ns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            let target = Target::from_kubeconfig(&kubeconfig).expect("kubeconfig");
            let ex = Rc::new(smol::LocalExecutor::new());
            smol::block_on(ex.run(run(ex.clone(), target, rx)));
        });
        SimNodes {
            tx,
            thread: Some(thread),
        }
    }

    pub fn add(&self, node: NodeSpec) {
        let _ = self.tx.try_send(Cmd::Add(node));
    }

    /// The node stops renewing its Lease (and its kubelet stops acting), as if it died.
    pub fn stop_heartbeat(&self, node: &str) {
        let _ = self.tx.try_send(Cmd::StopHeartbeat(node.into()));
    }
}

impl Drop for SimNodes {
    fn drop(&mut self) {
        let _ = self.tx.try_send(Cmd::Quit);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct State {
    nodes: HashMap<String, NodeSpec>,
    dead: HashSet<String>,
    /// Pods already started, by uid.
    started: HashSet<String>,
}

async fn run(
    ex: Rc<smol::LocalExecutor<'static>>,
    target: Target,
    rx: smol::channel::Receiver<Cmd>,
) {
    let state = Rc::new(RefCell::new(State {
        nodes: HashMap::new(),
        dead: HashSet::new(),
        started: HashSet::new(),
    }));
    // Heartbeats.
    {
        let (state, target) = (state.clone(), target.clone());
        ex.spawn(async move {
            let Ok(mut conn) = target.connect().await else {
                return;
            };
            loop {
                let names: Vec<String> = {
                    let st = state.borrow();
                    st.nodes
                        .keys()
                        .filter(|n| !st.dead.contains(*n))
                        .cloned()
                        .collect()
                };
                for n in names {
                    renew_lease(&mut conn, &n).await;
                }
                smol::Timer::after(Duration::from_millis(1000)).await;
            }
        })
        .detach();
    }
    // The fake kubelet.
    {
        let (state, target, ex2) = (state.clone(), target.clone(), ex.clone());
        ex.spawn(async move { kubelet(ex2, target, state).await })
            .detach();
    }
    let Ok(mut conn) = target.connect().await else {
        return;
    };
    while let Ok(cmd) = rx.recv().await {
        match cmd {
            Cmd::Add(n) => {
                register(&mut conn, &n).await;
                renew_lease(&mut conn, &n.name).await;
                state.borrow_mut().nodes.insert(n.name.clone(), n);
            }
            Cmd::StopHeartbeat(n) => {
                state.borrow_mut().dead.insert(n);
            }
            Cmd::Quit => return,
        }
    }
}

async fn register(conn: &mut Conn, n: &NodeSpec) {
    let mut labels = json!({
        "kubernetes.io/hostname": n.name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
    });
    for (k, v) in &n.labels {
        labels[k] = json!(v);
    }
    let now = now_rfc3339();
    let cond = |t: &str, s: &str, r: &str| {
        json!({"type": t, "status": s, "reason": r, "message": r,
               "lastHeartbeatTime": now, "lastTransitionTime": now})
    };
    let node = json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": n.name, "labels": labels},
        "spec": {"taints": n.taints},
        "status": {
            "capacity": {"cpu": n.cpu, "memory": n.memory, "pods": n.pods.to_string(), "ephemeral-storage": "100Gi"},
            "allocatable": {"cpu": n.cpu, "memory": n.memory, "pods": n.pods.to_string(), "ephemeral-storage": "100Gi"},
            "conditions": [
                cond("MemoryPressure", "False", "KubeletHasSufficientMemory"),
                cond("DiskPressure", "False", "KubeletHasNoDiskPressure"),
                cond("PIDPressure", "False", "KubeletHasSufficientPID"),
                cond("Ready", "True", "KubeletReady"),
            ],
            "addresses": [{"type": "Hostname", "address": n.name}],
            "nodeInfo": {"kubeletVersion": "v1.33.0-sim", "containerRuntimeVersion": "sim://1",
                         "kernelVersion": "6", "osImage": "sim", "operatingSystem": "linux",
                         "architecture": "amd64", "machineID": "", "systemUUID": "", "bootID": "",
                         "kubeProxyVersion": ""},
        },
    });
    let _ = conn
        .request(
            Method::POST,
            "/api/v1/nodes",
            Some(node.to_string().into_bytes()),
        )
        .await;
}

async fn renew_lease(conn: &mut Conn, node: &str) {
    let path = format!("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{node}");
    let patch = json!({"spec": {"holderIdentity": node, "leaseDurationSeconds": 40, "renewTime": micro_now()}});
    let (code, _) = conn
        .request_as(
            Method::PATCH,
            &path,
            "application/merge-patch+json",
            Some(patch.to_string().into_bytes()),
        )
        .await
        .unwrap_or((0, Default::default()));
    if code == 404 {
        let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": node, "namespace": "kube-node-lease"},
            "spec": {"holderIdentity": node, "leaseDurationSeconds": 40, "renewTime": micro_now()}});
        let _ = conn
            .request(
                Method::POST,
                "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
                Some(lease.to_string().into_bytes()),
            )
            .await;
    }
}

fn annotation<'a>(pod: &'a Value, key: &str) -> Option<&'a str> {
    pod.pointer("/metadata/annotations")?.get(key)?.as_str()
}

async fn kubelet(ex: Rc<smol::LocalExecutor<'static>>, target: Target, state: Rc<RefCell<State>>) {
    loop {
        let Ok(conn) = target.connect().await else {
            smol::Timer::after(Duration::from_millis(200)).await;
            continue;
        };
        let Ok(mut lines) = conn.stream("/api/v1/pods?watch=true").await else {
            smol::Timer::after(Duration::from_millis(200)).await;
            continue;
        };
        let Ok(mut actions) = target.connect().await else {
            continue;
        };
        while let Ok(Some(ev)) = lines.next().await {
            let pod = &ev["object"];
            let node = pod
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .unwrap_or("");
            {
                let st = state.borrow();
                if !st.nodes.contains_key(node) || st.dead.contains(node) || ev["type"] == "DELETED"
                {
                    continue;
                }
            }
            let ns = pod
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("default");
            let name = pod
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("");
            let uid = pod
                .pointer("/metadata/uid")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let path = format!("/api/v1/namespaces/{ns}/pods/{name}");
            if pod.pointer("/metadata/deletionTimestamp").is_some() {
                let _ = actions
                    .request(
                        Method::DELETE,
                        &path,
                        Some(br#"{"gracePeriodSeconds":0}"#.to_vec()),
                    )
                    .await;
                continue;
            }
            let phase = pod
                .pointer("/status/phase")
                .and_then(Value::as_str)
                .unwrap_or("");
            if phase != "Pending" && !phase.is_empty() {
                continue;
            }
            if !state.borrow_mut().started.insert(uid.clone()) {
                continue;
            }
            let ready_after = annotation(pod, "sim.kedge.io/ready-after-seconds")
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(0);
            let exit =
                annotation(pod, "sim.kedge.io/exit-code").and_then(|s| s.parse::<i64>().ok());
            let run_secs = annotation(pod, "sim.kedge.io/run-seconds")
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(1);
            let containers: Vec<String> = pod
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .map(|cs| {
                    cs.iter()
                        .filter_map(|c| c["name"].as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let ip = format!("10.42.{}.{}", (uid.len() * 7) % 250, 2 + (fnv(&uid) % 250));
            let status_path = format!("{path}/status");
            let started = running_status(&ip, &containers, ready_after == 0);
            // The first transition goes over the kubelet's shared connection, so thousands of
            // pods cost no extra connections; only delayed transitions get a task.
            patch_status(&mut actions, &status_path, started).await;
            if ready_after == 0 && exit.is_none() {
                continue;
            }
            let target2 = target.clone();
            ex.spawn(async move {
                let Ok(mut c) = target2.connect().await else {
                    return;
                };
                if ready_after > 0 {
                    smol::Timer::after(Duration::from_secs(ready_after)).await;
                    patch_status(&mut c, &status_path, running_status(&ip, &containers, true))
                        .await;
                }
                if let Some(code) = exit {
                    smol::Timer::after(Duration::from_secs(run_secs)).await;
                    patch_status(&mut c, &status_path, finished_status(&containers, code)).await;
                }
            })
            .detach();
        }
    }
}

fn running_status(ip: &str, containers: &[String], ready: bool) -> Value {
    let now = now_rfc3339();
    let r = if ready { "True" } else { "False" };
    json!({"status": {
        "phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}], "hostIP": "10.231.0.1",
        "startTime": now,
        "conditions": [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
            {"type": "Initialized", "status": "True", "lastTransitionTime": now},
            {"type": "ContainersReady", "status": r, "lastTransitionTime": now},
            {"type": "Ready", "status": r, "lastTransitionTime": now},
        ],
        "containerStatuses": containers.iter().map(|n| json!({
            "name": n, "ready": ready, "started": true, "restartCount": 0,
            "image": "sim", "imageID": "sim", "containerID": format!("sim://{n}"),
            "state": {"running": {"startedAt": now}},
        })).collect::<Vec<_>>(),
    }})
}

fn finished_status(containers: &[String], code: i64) -> Value {
    let now = now_rfc3339();
    let phase = if code == 0 { "Succeeded" } else { "Failed" };
    let reason = if code == 0 { "Completed" } else { "Error" };
    json!({"status": {
        "phase": phase,
        "conditions": [
            {"type": "Ready", "status": "False", "reason": "PodCompleted", "lastTransitionTime": now},
            {"type": "ContainersReady", "status": "False", "reason": "PodCompleted", "lastTransitionTime": now},
        ],
        "containerStatuses": containers.iter().map(|n| json!({
            "name": n, "ready": false, "started": false, "restartCount": 0,
            "image": "sim", "imageID": "sim", "containerID": format!("sim://{n}"),
            "state": {"terminated": {"exitCode": code, "reason": reason, "finishedAt": now, "startedAt": now}},
        })).collect::<Vec<_>>(),
    }})
}

async fn patch_status(c: &mut Conn, path: &str, body: Value) {
    let _ = c
        .request_as(
            Method::PATCH,
            path,
            "application/merge-patch+json",
            Some(body.to_string().into_bytes()),
        )
        .await;
}

fn fnv(s: &str) -> usize {
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h as usize
}
