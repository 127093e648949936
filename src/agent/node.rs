//! The Node object and heartbeats: registration (labels, taints, capacity, addresses,
//! nodeInfo, conditions), the Lease in `kube-node-lease` renewed every 10 s, and Node status
//! written only when something changed or every 5 minutes (kubelet's
//! `nodeStatusReportFrequency`), so an idle node's writes stay tiny.
//!
//! Contract: the agent never writes `spec.podCIDR` (the IPAM controller owns it) but reads it
//! into [`NodeFacts`] for the pod network. Condition transition times change only when a
//! condition's status changes.

use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::client::{ClientError, NodeClient};
use super::config::AgentConfig;
use super::sysinfo;
use crate::clock::{rfc3339, Clock};
use crate::controller::client::{LEASES, NODES};

pub const LEASE_RENEW: Duration = Duration::from_secs(10);
pub const STATUS_REPORT_SECS: i64 = 300;
pub const LEASE_DURATION_SECS: i64 = 40;
const MEMORY_EVICTION_BYTES: u64 = 100 << 20;

/// What pod workers need to know about their node, refreshed by the node loop.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeFacts {
    pub host_ip: String,
    pub alloc_milli_cpu: i64,
    pub alloc_memory: i64,
    pub alloc_ephemeral: i64,
    pub pod_cidr: Option<String>,
}

pub type SharedFacts = Arc<RwLock<NodeFacts>>;

/// One sample of the machine.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub cpus: u32,
    pub memory: u64,
    pub memory_available: u64,
    pub disk_total: u64,
    pub disk_available: u64,
    pub pids_running: u64,
    pub pid_max: u64,
    pub node_ip: Option<IpAddr>,
}

impl Sample {
    pub fn take(cfg: &AgentConfig) -> Sample {
        let (disk_total, disk_available) = sysinfo::disk(&cfg.data_dir);
        let (pids_running, pid_max) = sysinfo::pids(&cfg.proc_root);
        Sample {
            cpus: sysinfo::cpus(&cfg.proc_root),
            memory: sysinfo::meminfo(&cfg.proc_root, "MemTotal"),
            memory_available: sysinfo::meminfo(&cfg.proc_root, "MemAvailable"),
            disk_total,
            disk_available,
            pids_running,
            pid_max,
            node_ip: cfg.node_ip.or_else(sysinfo::first_ipv4),
        }
    }
}

/// Labels the agent owns on its Node.
pub fn labels(cfg: &AgentConfig) -> Map<String, Value> {
    let mut l = Map::new();
    l.insert("kubernetes.io/hostname".into(), json!(cfg.node_name));
    l.insert("kubernetes.io/os".into(), json!("linux"));
    l.insert("kubernetes.io/arch".into(), json!(sysinfo::arch()));
    l.insert("beta.kubernetes.io/os".into(), json!("linux"));
    l.insert("beta.kubernetes.io/arch".into(), json!(sysinfo::arch()));
    if cfg.server_role {
        l.insert(
            "node-role.kubernetes.io/control-plane".into(),
            json!("true"),
        );
        l.insert("node-role.kubernetes.io/master".into(), json!("true"));
    }
    for (k, v) in &cfg.labels {
        l.insert(k.clone(), json!(v));
    }
    l
}

fn cond(
    ty: &str,
    bad: bool,
    reasons: (&str, &str),
    messages: (&str, &str),
) -> (String, bool, String, String) {
    let (r, m) = if bad {
        (reasons.1, messages.1)
    } else {
        (reasons.0, messages.0)
    };
    (ty.to_string(), bad, r.to_string(), m.to_string())
}

/// The status (without heartbeat bookkeeping) for a sample; `network_ready` gates Ready.
pub fn status(cfg: &AgentConfig, s: &Sample, network_ready: bool) -> Value {
    let alloc_cpu = (i64::from(s.cpus) * 1000 - cfg.reserved_milli_cpu).max(0);
    let alloc_mem = (s.memory as i64 - cfg.reserved_memory).max(0);
    let cpu_q = |m: i64| {
        if m % 1000 == 0 {
            (m / 1000).to_string()
        } else {
            format!("{m}m")
        }
    };
    let mem_q = |b: i64| format!("{}Ki", b / 1024);
    let pressure = [
        cond(
            "MemoryPressure",
            s.memory_available > 0 && s.memory_available < MEMORY_EVICTION_BYTES,
            ("KubeletHasSufficientMemory", "KubeletHasInsufficientMemory"),
            (
                "kubelet has sufficient memory available",
                "kubelet has insufficient memory available",
            ),
        ),
        cond(
            "DiskPressure",
            s.disk_total > 0 && s.disk_available * 10 < s.disk_total,
            ("KubeletHasNoDiskPressure", "KubeletHasDiskPressure"),
            ("kubelet has no disk pressure", "kubelet has disk pressure"),
        ),
        cond(
            "PIDPressure",
            s.pid_max > 0 && s.pids_running * 10 > s.pid_max * 9,
            ("KubeletHasSufficientPID", "KubeletHasInsufficientPID"),
            (
                "kubelet has sufficient PID available",
                "kubelet has insufficient PID available",
            ),
        ),
    ];
    let mut conditions: Vec<Value> = pressure
        .iter()
        .map(|(t, bad, r, m)| {
            json!({"type": t, "status": if *bad { "True" } else { "False" }, "reason": r, "message": m})
        })
        .collect();
    conditions.push(if network_ready {
        json!({"type": "Ready", "status": "True", "reason": "KubeletReady",
               "message": "kubelet is posting ready status"})
    } else {
        json!({"type": "Ready", "status": "False", "reason": "KubeletNotReady",
               "message": "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:waiting for the node's pod CIDR"})
    });
    let mut addresses = vec![];
    if let Some(ip) = s.node_ip {
        addresses.push(json!({"type": "InternalIP", "address": ip.to_string()}));
    }
    addresses.push(json!({"type": "Hostname", "address": cfg.node_name}));
    let version = crate::api::server::KUBE_GIT_VERSION;
    json!({
        "capacity": {
            "cpu": s.cpus.to_string(), "memory": mem_q(s.memory as i64),
            "pods": cfg.max_pods.to_string(), "ephemeral-storage": mem_q(s.disk_total as i64),
        },
        "allocatable": {
            "cpu": cpu_q(alloc_cpu), "memory": mem_q(alloc_mem),
            "pods": cfg.max_pods.to_string(), "ephemeral-storage": mem_q(s.disk_total as i64),
        },
        "conditions": conditions,
        "addresses": addresses,
        "daemonEndpoints": {"kubeletEndpoint": {"Port": cfg.port}},
        "nodeInfo": {
            "machineID": sysinfo::machine_id(&cfg.etc_root),
            "systemUUID": sysinfo::machine_id(&cfg.etc_root),
            "bootID": sysinfo::boot_id(&cfg.proc_root),
            "kernelVersion": sysinfo::kernel_version(&cfg.proc_root),
            "osImage": sysinfo::os_image(&cfg.etc_root),
            "containerRuntimeVersion": format!("kedge://{}", env!("CARGO_PKG_VERSION")),
            "kubeletVersion": version,
            "kubeProxyVersion": "",
            "operatingSystem": "linux",
            "architecture": sysinfo::arch(),
        },
    })
}

/// Stamp heartbeat and transition times onto `new` given the previously written status.
pub fn stamp(new: &mut Value, prev: Option<&Value>, now: i64) {
    let now_s = rfc3339(now);
    let Some(conds) = new.get_mut("conditions").and_then(Value::as_array_mut) else {
        return;
    };
    for c in conds {
        let old = prev
            .and_then(|p| p.get("conditions"))
            .and_then(Value::as_array)
            .and_then(|cs| cs.iter().find(|o| o["type"] == c["type"]));
        let since = old
            .filter(|o| o["status"] == c["status"])
            .and_then(|o| o.get("lastTransitionTime").cloned())
            .unwrap_or_else(|| json!(now_s));
        c["lastHeartbeatTime"] = json!(now_s);
        c["lastTransitionTime"] = since;
    }
}

/// Whether two statuses differ beyond heartbeat times.
pub fn changed(a: &Value, b: &Value) -> bool {
    fn strip(v: &Value) -> Value {
        let mut v = v.clone();
        if let Some(cs) = v.get_mut("conditions").and_then(Value::as_array_mut) {
            for c in cs {
                if let Some(o) = c.as_object_mut() {
                    o.remove("lastHeartbeatTime");
                    o.remove("lastTransitionTime");
                }
            }
        }
        v
    }
    strip(a) != strip(b)
}

/// Keeps the Node and Lease of this agent current.
pub struct Heartbeat {
    pub cfg: Arc<AgentConfig>,
    pub client: Arc<dyn NodeClient>,
    pub clock: Arc<dyn Clock>,
    pub facts: SharedFacts,
    /// Set by the agent once the pod network is up.
    pub network_ready: Arc<std::sync::atomic::AtomicBool>,
    last: Option<Value>,
    last_write: i64,
}

impl Heartbeat {
    pub fn new(
        cfg: Arc<AgentConfig>,
        client: Arc<dyn NodeClient>,
        clock: Arc<dyn Clock>,
        facts: SharedFacts,
        network_ready: Arc<std::sync::atomic::AtomicBool>,
    ) -> Heartbeat {
        Heartbeat {
            cfg,
            client,
            clock,
            facts,
            network_ready,
            last: None,
            last_write: 0,
        }
    }

    /// Create the Node or adopt an existing one (our labels win; taints only at creation).
    pub async fn register(&mut self) -> Result<(), ClientError> {
        let name = self.cfg.node_name.clone();
        let node = json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": labels(&self.cfg),
                         "annotations": {"node.alpha.kubernetes.io/ttl": "0"}},
            "spec": {"taints": self.cfg.taints},
        });
        match self.client.create(NODES, None, node).await {
            Ok(_) => {}
            Err(ClientError::AlreadyExists(_)) => {
                let patch = json!({"metadata": {"labels": labels(&self.cfg)}});
                self.client
                    .merge_patch(NODES, None, &name, &patch, false)
                    .await?;
            }
            Err(e) => return Err(e),
        }
        self.last = None;
        self.sync_status().await
    }

    /// Write the status when it changed or is due; refresh [`NodeFacts`].
    pub async fn sync_status(&mut self) -> Result<(), ClientError> {
        let cfg = self.cfg.clone();
        let sample = smol::unblock(move || Sample::take(&cfg)).await;
        let ready = self.network_ready.load(std::sync::atomic::Ordering::SeqCst);
        let mut st = status(&self.cfg, &sample, ready);
        let now = self.clock.now();
        let due = now - self.last_write >= STATUS_REPORT_SECS;
        let node = self.client.get(NODES, None, &self.cfg.node_name).await?;
        {
            let mut f = self.facts.write().unwrap_or_else(|e| e.into_inner());
            f.host_ip = sample.node_ip.map(|i| i.to_string()).unwrap_or_default();
            f.alloc_milli_cpu =
                (i64::from(sample.cpus) * 1000 - self.cfg.reserved_milli_cpu).max(0);
            f.alloc_memory = (sample.memory as i64 - self.cfg.reserved_memory).max(0);
            f.alloc_ephemeral = sample.disk_total as i64;
            f.pod_cidr = node
                .pointer("/spec/podCIDR")
                .and_then(Value::as_str)
                .map(str::to_string);
        }
        let prev = self.last.clone().or_else(|| node.get("status").cloned());
        if !due && prev.as_ref().is_some_and(|p| !changed(p, &st)) && self.last.is_some() {
            return Ok(());
        }
        stamp(&mut st, prev.as_ref(), now);
        let patch = json!({"status": st});
        self.client
            .merge_patch(NODES, None, &self.cfg.node_name, &patch, true)
            .await?;
        self.last = Some(st);
        self.last_write = now;
        Ok(())
    }

    /// Renew (or create) the node's Lease.
    pub async fn renew_lease(&self) -> Result<(), ClientError> {
        let name = &self.cfg.node_name;
        let now = crate::clock::rfc3339(self.clock.now()).replace('Z', ".000000Z");
        let spec = json!({"holderIdentity": name, "leaseDurationSeconds": LEASE_DURATION_SECS, "renewTime": now});
        let patch = json!({"spec": spec});
        match self
            .client
            .merge_patch(LEASES, Some("kube-node-lease"), name, &patch, false)
            .await
        {
            Err(ClientError::NotFound(_)) => {
                let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": name, "namespace": "kube-node-lease",
                        "ownerReferences": []},
                    "spec": spec});
                self.client
                    .create(LEASES, Some("kube-node-lease"), lease)
                    .await
                    .map(|_| ())
            }
            other => other.map(|_| ()),
        }
    }

    /// Register, then renew the Lease and sync status every 10 s until `stop` closes.
    pub async fn run(mut self, stop: smol::channel::Receiver<()>) {
        loop {
            match self.register().await {
                Ok(()) => break,
                Err(e) => eprintln!("kedge agent: registering node {}: {e}", self.cfg.node_name),
            }
            if wait_or_stop(Duration::from_secs(2), &stop).await {
                return;
            }
        }
        loop {
            if let Err(e) = self.renew_lease().await {
                eprintln!("kedge agent: renewing lease: {e}");
            }
            if let Err(e) = self.sync_status().await {
                if e.is_not_found() {
                    // The Node was deleted: register again, as the kubelet does.
                    let _ = self.register().await;
                } else {
                    eprintln!("kedge agent: node status: {e}");
                }
            }
            // Until the network is up, look again every second so Ready follows promptly.
            let ready = self.network_ready.load(std::sync::atomic::Ordering::SeqCst);
            let period = if ready {
                LEASE_RENEW
            } else {
                Duration::from_secs(1)
            };
            if wait_or_stop(period, &stop).await {
                return;
            }
        }
    }
}

/// Sleep `d`; true when `stop` closed meanwhile.
pub async fn wait_or_stop(d: Duration, stop: &smol::channel::Receiver<()>) -> bool {
    futures_lite::future::or(
        async {
            async_io::Timer::after(d).await;
            false
        },
        async {
            let _ = stop.recv().await;
            true
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn sample() -> Sample {
        Sample {
            cpus: 4,
            memory: 8 << 30,
            memory_available: 4 << 30,
            disk_total: 100 << 30,
            disk_available: 50 << 30,
            pids_running: 100,
            pid_max: 32768,
            node_ip: Some("10.0.0.5".parse().unwrap()),
        }
    }

    #[test]
    fn status_reports_capacity_minus_reserved_and_conditions() {
        let mut cfg = AgentConfig::new("n1", Path::new("/nonexistent"));
        cfg.reserved_milli_cpu = 500;
        cfg.reserved_memory = 1 << 30;
        let s = status(&cfg, &sample(), true);
        assert_eq!(s["capacity"]["cpu"], "4");
        assert_eq!(s["allocatable"]["cpu"], "3500m");
        assert_eq!(s["allocatable"]["memory"], format!("{}Ki", 7 << 20));
        assert_eq!(s["addresses"][0]["address"], "10.0.0.5");
        assert_eq!(
            s["nodeInfo"]["kubeletVersion"],
            crate::api::server::KUBE_GIT_VERSION
        );
        let ready = s["conditions"].as_array().unwrap().last().unwrap();
        assert_eq!(ready["reason"], "KubeletReady");
        let mut low = sample();
        low.memory_available = 50 << 20;
        let s2 = status(&cfg, &low, false);
        assert_eq!(s2["conditions"][0]["status"], "True");
        assert!(changed(&s, &s2));
    }

    #[test]
    fn registers_the_node_and_renews_its_lease() {
        crate::rt::block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let api = Arc::new(crate::agent::fakes::FakeApi::default());
            let mut cfg = AgentConfig::new("n1", dir.path());
            cfg.server_role = true;
            cfg.labels = vec![("zone".into(), "a".into())];
            cfg.taints = vec![json!({"key": "k", "effect": "NoSchedule"})];
            let clock = crate::clock::FakeClock::new(1000);
            let facts: SharedFacts = Default::default();
            let mut hb = Heartbeat::new(
                Arc::new(cfg),
                api.clone(),
                Arc::new(clock.clone()),
                facts.clone(),
                Default::default(),
            );
            hb.register().await.unwrap();
            hb.renew_lease().await.unwrap();
            let node = api.get_obj(NODES, None, "n1").unwrap();
            assert_eq!(node["metadata"]["labels"]["zone"], "a");
            assert_eq!(
                node["metadata"]["labels"]["node-role.kubernetes.io/control-plane"],
                "true"
            );
            assert_eq!(node["spec"]["taints"][0]["key"], "k");
            assert_eq!(node["status"]["conditions"][3]["reason"], "KubeletNotReady");
            let lease = api.get_obj(LEASES, Some("kube-node-lease"), "n1").unwrap();
            assert_eq!(lease["spec"]["holderIdentity"], "n1");
            // Nothing changed: no status write, the heartbeat time stays.
            clock.advance(10);
            hb.sync_status().await.unwrap();
            let again = api.get_obj(NODES, None, "n1").unwrap();
            assert_eq!(
                again["status"]["conditions"][0]["lastHeartbeatTime"],
                rfc3339(1000)
            );
            // The IPAM controller's podCIDR reaches the facts.
            api.merge_patch(
                NODES,
                None,
                "n1",
                &json!({"spec": {"podCIDR": "10.42.1.0/24"}}),
                false,
            )
            .await
            .unwrap();
            hb.sync_status().await.unwrap();
            assert_eq!(
                facts.read().unwrap().pod_cidr.as_deref(),
                Some("10.42.1.0/24")
            );
            // Five minutes later the status is written again.
            clock.advance(STATUS_REPORT_SECS);
            hb.sync_status().await.unwrap();
            let later = api.get_obj(NODES, None, "n1").unwrap();
            assert_eq!(
                later["status"]["conditions"][0]["lastHeartbeatTime"],
                rfc3339(1310)
            );
            assert_eq!(
                later["status"]["conditions"][0]["lastTransitionTime"],
                rfc3339(1000)
            );
        });
    }

    #[test]
    fn heartbeats_keep_transition_times() {
        let cfg = AgentConfig::new("n1", Path::new("/nonexistent"));
        let mut a = status(&cfg, &sample(), true);
        stamp(&mut a, None, 100);
        let mut b = status(&cfg, &sample(), true);
        assert!(!changed(&a, &b));
        stamp(&mut b, Some(&a), 200);
        assert_eq!(b["conditions"][3]["lastTransitionTime"], rfc3339(100));
        assert_eq!(b["conditions"][3]["lastHeartbeatTime"], rfc3339(200));
        let mut c = status(&cfg, &sample(), false);
        stamp(&mut c, Some(&b), 300);
        assert_eq!(c["conditions"][3]["lastTransitionTime"], rfc3339(300));
    }
}
