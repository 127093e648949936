//! The node network's life: bring up the pod network once the node has its pod CIDR, then
//! keep the peers' routes, the Service rules, the NetworkPolicy rules and the cluster DNS
//! records in step with the API.
//!
//! Contract: [`run`] returns when `stop` closes and removes nothing (routes, rules and the DNS
//! address stay, so pods keep their network while the agent restarts; `kedge agent
//! --cleanup` removes them). Order at start: pod CIDR known → overlay (`kedge-vxlan` for the
//! vxlan backend, whose MAC is published in the Node annotation [`VTEP_MAC_ANNOTATION`]) →
//! bridge with the overlay's MTU → the node is network-ready → cluster DNS address on the
//! bridge and the DNS server → one sync loop per concern, each a full, idempotent resync
//! after a change (debounced by [`DEBOUNCE`]), so restarts and repeated events never
//! duplicate anything.

use crate::error_chain::error_chain;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ipnetwork::IpNetwork;
use serde_json::{json, Value};

use super::reflector::{Changes, Reflector};
use crate::agent::adapt_network;
use crate::agent::client::{ListParams, NodeClient};
use crate::agent::config::AgentConfig;
use crate::agent::deps::{Deps, PodNetwork};
use crate::agent::node::{wait_or_stop, SharedFacts};
use crate::controller::client::{
    ENDPOINTSLICES, NAMESPACES, NETWORKPOLICIES, NODES, PODS, SERVICES,
};
use kedge_netplugins::overlay::{
    parse_mac, Backend, LocalNode, Overlay, Peer, VTEP_MAC_ANNOTATION,
};

/// Changes closer together than this are applied in one resync.
pub const DEBOUNCE: Duration = Duration::from_millis(20);
/// Retry period after a failed sync.
const RETRY: Duration = Duration::from_secs(1);

pub struct NetCtx {
    pub cfg: Arc<AgentConfig>,
    pub client: Arc<dyn NodeClient>,
    pub facts: SharedFacts,
    pub deps: Deps,
    pub network_ready: Arc<AtomicBool>,
    /// The node's own resolvers (its resolv.conf), where the cluster DNS forwards.
    pub upstream_nameservers: Vec<String>,
}

/// The overlay peers described by the Nodes: every other node with a pod CIDR and an
/// InternalIP (the VTEP MAC when it has published one).
pub fn peers(nodes: &[Value], me: &str) -> Vec<Peer> {
    let mut out = Vec::new();
    for n in nodes {
        let name = n
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        if name == me || name.is_empty() {
            continue;
        }
        let Some(cidr) = n
            .pointer("/spec/podCIDR")
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<IpNetwork>().ok())
        else {
            continue;
        };
        let ip = n
            .pointer("/status/addresses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|a| a["type"] == "InternalIP")
            .and_then(|a| a["address"].as_str())
            .and_then(|s| s.parse::<IpAddr>().ok());
        let Some(node_ip) = ip else { continue };
        let vtep_mac = n
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(VTEP_MAC_ANNOTATION))
            .and_then(Value::as_str)
            .and_then(parse_mac);
        out.push(Peer {
            name: name.to_string(),
            node_ip,
            pod_cidr: cidr,
            vtep_mac,
        });
    }
    out
}

/// Wait for this node's pod CIDR and address; `None` when stopped first.
async fn wait_local(
    ctx: &NetCtx,
    stop: &smol::channel::Receiver<()>,
) -> Option<(IpNetwork, IpAddr)> {
    loop {
        let (cidr, ip) = {
            let f = ctx.facts.read().unwrap_or_else(|e| e.into_inner());
            (f.pod_cidr.clone(), f.host_ip.clone())
        };
        let cidr = cidr.and_then(|c| c.parse::<IpNetwork>().ok());
        let ip = ctx.cfg.node_ip.or_else(|| ip.parse().ok());
        if let (Some(c), Some(i)) = (cidr, ip) {
            return Some((c, i));
        }
        if wait_or_stop(Duration::from_millis(250), stop).await {
            return None;
        }
    }
}

/// Bring up the pod network, then keep it in sync until `stop` closes.
pub async fn run(ctx: NetCtx, stop: smol::channel::Receiver<()>) {
    let Some((pod_cidr, node_ip)) = wait_local(&ctx, &stop).await else {
        return;
    };
    let net = &ctx.cfg.network;
    let backend: Backend = net.network_backend.parse().unwrap_or(Backend::HostGw);
    let overlay = loop {
        let local = LocalNode::new(ctx.cfg.node_name.clone(), node_ip, pod_cidr);
        match Overlay::open(backend, local).await {
            Ok(o) => break Arc::new(o),
            Err(e) => eprintln!(
                "kedge agent: {} network: {}",
                net.network_backend,
                error_chain(&e)
            ),
        }
        if wait_or_stop(RETRY, &stop).await {
            return;
        }
    };
    if let Some(mac) = overlay.vtep_mac() {
        publish_vtep(&ctx, &mac, &stop).await;
    }
    let bridge = loop {
        let mut bc =
            kedge_netplugins::BridgeConfig::new(pod_cidr, &ctx.cfg.agent_dir().join("ipam"));
        bc.cluster_cidr = Some(IpNetwork::V4(net.cluster_cidr));
        bc.mtu = overlay.pod_mtu();
        match adapt_network::BridgeAdapter::open(bc).await {
            Ok(b) => break Arc::new(b),
            Err(e) => eprintln!("kedge agent: pod network: {e}"),
        }
        if wait_or_stop(RETRY, &stop).await {
            return;
        }
    };
    if net.kube_proxy {
        let svc = IpNetwork::V4(net.service_cidr);
        if let Err(e) = bridge.route_service_network(svc).await {
            eprintln!("kedge agent: routing the service network {svc}: {e}");
        }
    }
    let pod_net: Arc<dyn PodNetwork> = bridge.clone();
    *ctx.deps.network.write().unwrap_or_else(|e| e.into_inner()) = Some(pod_net);
    ctx.network_ready.store(true, Ordering::SeqCst);

    let mut tasks = Vec::new();
    // Peers: routes (and VXLAN neighbours) to every other node's pod CIDR.
    let node_changes = Arc::new(Changes::default());
    let nodes = Reflector::new(NODES, ListParams::default(), node_changes.clone());
    tasks.push(crate::rt::spawn(
        nodes.clone().run(ctx.client.clone(), stop.clone()),
    ));
    {
        let (overlay, me, stop) = (overlay.clone(), ctx.cfg.node_name.clone(), stop.clone());
        let nodes = nodes.clone();
        tasks.push(crate::rt::spawn(sync_loop(
            "routes to other nodes",
            node_changes,
            vec![nodes.clone()],
            stop,
            move || {
                let (overlay, peers) = (overlay.clone(), peers(&nodes.snapshot(), &me));
                Box::pin(async move {
                    overlay
                        .sync(&peers)
                        .await
                        .map(|_| ())
                        .map_err(|e| error_chain(&e))
                })
            },
        )));
    }

    // Services and DNS records.
    let svc_changes = Arc::new(Changes::default());
    let services = Reflector::new(SERVICES, ListParams::default(), svc_changes.clone());
    let slices = Reflector::new(ENDPOINTSLICES, ListParams::default(), svc_changes.clone());
    for r in [&services, &slices] {
        tasks.push(crate::rt::spawn(
            r.clone().run(ctx.client.clone(), stop.clone()),
        ));
    }
    let records = crate::dns::RecordsHandle::new(crate::dns::Records::build(
        &ctx.cfg.cluster_domain,
        &[],
        &[],
    ));
    let dns_ip = ctx.cfg.cluster_dns;
    {
        let proxy = if net.kube_proxy {
            match crate::proxy::Proxy::open(crate::proxy::ProxyConfig {
                node_name: ctx.cfg.node_name.clone(),
                cluster_cidr: IpNetwork::V4(net.cluster_cidr),
            }) {
                Ok(p) => Some(p),
                Err(e) => {
                    eprintln!("kedge agent: service proxy: {}", error_chain(&e));
                    None
                }
            }
        } else {
            None
        };
        let (services, slices, records) = (services.clone(), slices.clone(), records.clone());
        let domain = ctx.cfg.cluster_domain.clone();
        tasks.push(crate::rt::spawn(sync_loop(
            "services",
            svc_changes,
            vec![services.clone(), slices.clone()],
            stop.clone(),
            blocking(move || {
                let (s, e) = (services.snapshot(), slices.snapshot());
                records.store(crate::dns::Records::build(&domain, &s, &e));
                match &proxy {
                    Some(p) => p.sync(&s, &e).map(|_| ()).map_err(|e| error_chain(&e)),
                    None => Ok(()),
                }
            }),
        )));
    }
    if let Some(ip) = dns_ip {
        // Never forward to ourselves (a node whose resolv.conf names the cluster DNS).
        let upstream: Vec<SocketAddr> = crate::dns::nameserver_addrs(&ctx.upstream_nameservers)
            .into_iter()
            .filter(|a| a.ip() != ip)
            .collect();
        let (records, stop2, bridge) = (records.clone(), stop.clone(), bridge.clone());
        tasks.push(crate::rt::spawn(async move {
            loop {
                match bridge.add_local_address(ip).await {
                    Ok(()) => break,
                    Err(e) => eprintln!("kedge agent: cluster DNS address {ip}: {e}"),
                }
                if wait_or_stop(RETRY, &stop2).await {
                    return;
                }
            }
            let addr = SocketAddr::new(ip, 53);
            let up = crate::dns::Upstream::new(upstream);
            // The server is single-threaded by design (its state is not Send): a thread of its
            // own, in the node's network namespace like the whole process.
            let (done_tx, done_rx) = smol::channel::bounded::<()>(1);
            let spawned = std::thread::Builder::new()
                .name("kedge-dns".into())
                .spawn(move || {
                    if let Err(e) = smol::block_on(crate::dns::serve(addr, records, up, stop2)) {
                        eprintln!("kedge agent: cluster DNS on {addr}: {}", error_chain(&e));
                    }
                    drop(done_tx);
                });
            if let Err(e) = spawned {
                eprintln!("kedge agent: starting the cluster DNS thread: {e}");
                return;
            }
            let _ = done_rx.recv().await;
        }));
    }

    // NetworkPolicies.
    if net.network_policy {
        let pol_changes = Arc::new(Changes::default());
        let pols = Reflector::new(NETWORKPOLICIES, ListParams::default(), pol_changes.clone());
        let pods = Reflector::with_transform(
            PODS,
            ListParams::default(),
            pol_changes.clone(),
            Some(crate::netpol::model::slim_pod),
        );
        let nss = Reflector::new(NAMESPACES, ListParams::default(), pol_changes.clone());
        for r in [&pols, &pods, &nss] {
            tasks.push(crate::rt::spawn(
                r.clone().run(ctx.client.clone(), stop.clone()),
            ));
        }
        match crate::netpol::PolicyEnforcer::open(&ctx.cfg.proc_root.join("sys")) {
            Ok(enforcer) => {
                let me = ctx.cfg.node_name.clone();
                let (pols2, pods2, nss2) = (pols.clone(), pods.clone(), nss.clone());
                let reported = std::sync::Mutex::new(Vec::<String>::new());
                tasks.push(crate::rt::spawn(sync_loop(
                    "network policies",
                    pol_changes,
                    vec![pols, pods, nss],
                    stop.clone(),
                    blocking(move || {
                        let stats = enforcer
                            .sync(&pols2.snapshot(), &pods2.snapshot(), &nss2.snapshot(), &me)
                            .map_err(|e| error_chain(&e))?;
                        // Said once per change, not at every resync.
                        let mut last = reported.lock().unwrap_or_else(|e| e.into_inner());
                        if *last != stats.invalid_policies {
                            for p in &stats.invalid_policies {
                                eprintln!(
                                    "kedge agent: NetworkPolicy {p} is invalid: not enforced"
                                );
                            }
                            *last = stats.invalid_policies;
                        }
                        Ok(())
                    }),
                )));
            }
            Err(e) => eprintln!("kedge agent: network policies: {}", error_chain(&e)),
        }
    }
    for t in tasks {
        t.await;
    }
}

async fn publish_vtep(ctx: &NetCtx, mac: &[u8; 6], stop: &smol::channel::Receiver<()>) {
    let patch = json!({"metadata": {"annotations": {VTEP_MAC_ANNOTATION: kedge_netplugins::veth::format_mac(mac)}}});
    loop {
        match ctx
            .client
            .merge_patch(NODES, None, &ctx.cfg.node_name, &patch, false)
            .await
        {
            Ok(_) => return,
            Err(e) => eprintln!("kedge agent: publishing the VXLAN endpoint: {e}"),
        }
        if wait_or_stop(RETRY, stop).await {
            return;
        }
    }
}

type SyncFuture = crate::agent::client::BoxFuture<'static, Result<(), String>>;

/// A blocking sync (nf_tables batches) as a [`sync_loop`] step, run on a thread of its own
/// (not the shared blocking pool: each new pool thread gets its own malloc arena, and a busy
/// node's RSS grew by tens of MiB that way).
fn blocking<F>(f: F) -> impl Fn() -> SyncFuture + Send + Sync + 'static
where
    F: Fn() -> Result<(), String> + Send + Sync + 'static,
{
    type Job = smol::channel::Sender<Result<(), String>>;
    let (jobs, rx) = smol::channel::unbounded::<Job>();
    let spawned = std::thread::Builder::new()
        .name("kedge-net-sync".into())
        .spawn(move || {
            // Ends when the loop (the last sender) is dropped.
            while let Ok(reply) = rx.recv_blocking() {
                let _ = reply.try_send(f());
            }
        });
    let spawn_error = spawned.err().map(|e| e.to_string());
    move || {
        let jobs = jobs.clone();
        let spawn_error = spawn_error.clone();
        Box::pin(async move {
            if let Some(e) = spawn_error {
                return Err(format!("starting the sync thread: {e}"));
            }
            let (tx, rx) = smol::channel::bounded(1);
            jobs.send(tx)
                .await
                .map_err(|_| "the sync thread ended".to_string())?;
            rx.recv()
                .await
                .map_err(|_| "the sync thread ended".to_string())?
        })
    }
}

/// Run `sync` once every reflector has listed, then after every change; a failed sync is
/// retried.
async fn sync_loop<F>(
    what: &'static str,
    changes: Arc<Changes>,
    sources: Vec<Arc<Reflector>>,
    stop: smol::channel::Receiver<()>,
    sync: F,
) where
    F: Fn() -> SyncFuture + Send + Sync + 'static,
{
    let mut seen = u64::MAX;
    let mut failed = false;
    loop {
        let gen = changes.generation();
        if (gen != seen || failed) && sources.iter().all(|r| r.synced()) {
            seen = gen;
            match sync().await {
                Ok(()) => failed = false,
                Err(e) => {
                    eprintln!("kedge agent: syncing {what}: {e}");
                    failed = true;
                }
            }
        }
        let wait = async {
            if failed {
                async_io::Timer::after(RETRY).await;
            } else {
                changes.changed_since(seen).await;
                async_io::Timer::after(DEBOUNCE).await;
            }
            false
        };
        let stopped = futures_lite::future::or(wait, async {
            let _ = stop.recv().await;
            true
        })
        .await;
        if stopped {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, cidr: Option<&str>, ip: Option<&str>, mac: Option<&str>) -> Value {
        let mut n = json!({"metadata": {"name": name}, "spec": {}, "status": {"addresses": []}});
        if let Some(c) = cidr {
            n["spec"]["podCIDR"] = json!(c);
        }
        if let Some(i) = ip {
            n["status"]["addresses"] = json!([{"type": "Hostname", "address": name},
                                               {"type": "InternalIP", "address": i}]);
        }
        if let Some(m) = mac {
            n["metadata"]["annotations"] = json!({VTEP_MAC_ANNOTATION: m});
        }
        n
    }

    #[test]
    fn peers_are_the_other_nodes_with_a_cidr_and_an_address() {
        let nodes = vec![
            node("a", Some("10.42.0.0/24"), Some("10.0.0.1"), None),
            node(
                "b",
                Some("10.42.1.0/24"),
                Some("10.0.0.2"),
                Some("02:00:00:00:00:0b"),
            ),
            node("c", None, Some("10.0.0.3"), None),
            node("d", Some("10.42.3.0/24"), None, None),
            node(
                "e",
                Some("10.42.4.0/24"),
                Some("10.0.0.5"),
                Some("nonsense"),
            ),
        ];
        let p = peers(&nodes, "a");
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].name, "b");
        assert_eq!(p[0].pod_cidr.to_string(), "10.42.1.0/24");
        assert_eq!(p[0].node_ip.to_string(), "10.0.0.2");
        assert_eq!(p[0].vtep_mac, Some([2, 0, 0, 0, 0, 0x0b]));
        assert_eq!(p[1].name, "e");
        assert_eq!(p[1].vtep_mac, None, "an unparsable MAC is no MAC");
    }
}
