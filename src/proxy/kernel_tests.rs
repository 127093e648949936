//! The proxy against the kernel, only inside network namespaces these tests create: the
//! table survives re-syncs and "restarts" unchanged, and real TCP traffic from a client
//! namespace and from pod namespaces is balanced, NodePorted, kept sticky, hairpinned and
//! refused as the Services say.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kedge_netplugins::{netns, veth};
use serde_json::{json, Value};

use super::model::tests::{slice, svc};
use super::{Proxy, ProxyConfig};

/// `false` (after printing SKIPPED) when kernel tests cannot run here; panics under CI.
fn can_run(what: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{what}: needs root (CI is set, so this must run)");
    }
    println!("SKIPPED: {what}: needs root");
    false
}

fn cfg() -> ProxyConfig {
    ProxyConfig {
        node_name: "n1".into(),
        cluster_cidr: "10.42.0.0/16".parse().unwrap(),
    }
}

/// A pinned namespace removed on drop.
struct Ns(PathBuf);

impl Ns {
    fn new(dir: &Path, name: &str) -> Ns {
        let p = dir.join(name);
        netns::create(&p).expect("create netns");
        Ns(p)
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = netns::remove(&self.0);
    }
}

fn objects() -> (Vec<Value>, Vec<Value>) {
    let pods = [
        ("10.42.0.11", true, true, "n1"),
        ("10.42.0.12", true, true, "n1"),
        ("10.42.0.13", true, true, "n1"),
    ];
    let services = vec![
        svc(
            "d",
            "web",
            json!({"type": "NodePort", "clusterIP": "10.43.0.10",
                   "ports": [{"port": 80, "nodePort": 30080, "targetPort": 8080}]}),
        ),
        svc(
            "d",
            "sticky",
            json!({"clusterIP": "10.43.0.11", "ports": [{"port": 80}], "sessionAffinity": "ClientIP"}),
        ),
        svc(
            "d",
            "empty",
            json!({"clusterIP": "10.43.0.12", "ports": [{"port": 80}]}),
        ),
        svc(
            "d",
            "self",
            json!({"clusterIP": "10.43.0.13", "ports": [{"port": 80}]}),
        ),
        svc(
            "d",
            "local",
            json!({"type": "NodePort", "clusterIP": "10.43.0.14", "externalTrafficPolicy": "Local",
                   "ports": [{"port": 80, "nodePort": 30090}]}),
        ),
    ];
    let slices = vec![
        slice("d", "web", &pods, &[("", 8080, "TCP")]),
        slice("d", "sticky", &pods, &[("", 8080, "TCP")]),
        slice("d", "self", &pods[..1], &[("", 8080, "TCP")]),
        slice(
            "d",
            "local",
            &[
                ("10.42.0.11", true, true, "n1"),
                ("10.42.0.12", true, true, "n2"),
            ],
            &[("", 8080, "TCP")],
        ),
        // Not ready: never chosen.
        slice(
            "d",
            "empty",
            &[("10.42.0.13", false, false, "n1")],
            &[("", 8080, "TCP")],
        ),
    ];
    (services, slices)
}

#[test]
fn kernel_sync_is_idempotent_across_restarts_and_cleanup_removes_it() {
    if !can_run("proxy kernel test") {
        return;
    }
    std::thread::spawn(|| {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare");
        let (services, slices) = objects();
        let p = Proxy::open(cfg()).unwrap();
        assert_eq!(p.dump().unwrap(), "");
        let stats = p.sync(&services, &slices).unwrap();
        assert!(stats.rules.chains > 8, "{stats:?}");
        let first = p.dump().unwrap();
        assert!(first.starts_with("table ip kedge-services"), "{first}");
        assert!(first.contains("chain svc-d/web/tcp/80"), "{first}");
        p.sync(&services, &slices).unwrap();
        assert_eq!(p.dump().unwrap(), first);
        // A new process (new socket) syncing the same objects: nothing duplicated.
        drop(p);
        let p = Proxy::open(cfg()).unwrap();
        p.sync(&services, &slices).unwrap();
        assert_eq!(p.dump().unwrap(), first);
        // A change shows, and going back restores the same text.
        p.sync(&services[..1], &slices[..1]).unwrap();
        assert_ne!(p.dump().unwrap(), first);
        p.sync(&services, &slices).unwrap();
        assert_eq!(p.dump().unwrap(), first);
        assert!(super::cleanup().unwrap());
        assert_eq!(p.dump().unwrap(), "");
        assert!(!p.cleanup().unwrap());
    })
    .join()
    .unwrap();
}

/// Serves its name on port 8080 inside `ns` until `stop`.
fn serve(ns: &Path, name: &'static str, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    let l = netns::run_in(ns, || TcpListener::bind("0.0.0.0:8080"))
        .unwrap()
        .unwrap();
    l.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            match l.accept() {
                Ok((mut s, _)) => {
                    let _ = s.write_all(name.as_bytes());
                }
                Err(_) => std::thread::sleep(Duration::from_millis(2)),
            }
        }
    })
}

/// The name the server behind `addr` answers with, or the connect error.
fn ask(addr: &str) -> std::io::Result<String> {
    let addr: SocketAddr = addr.parse().unwrap();
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

fn tally(addr: &str, n: usize) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for _ in 0..n {
        *m.entry(ask(addr).unwrap_or_else(|e| panic!("{addr}: {e}")))
            .or_insert(0) += 1;
    }
    m
}

fn topology(dir: &Path) -> (Ns, Ns, Vec<Ns>) {
    let node = Ns::new(dir, "node");
    let client = Ns::new(dir, "client");
    let pods: Vec<Ns> = (1..=3).map(|i| Ns::new(dir, &format!("pod{i}"))).collect();
    smol::block_on(async {
        let hn = veth::connect_in(&node.0).unwrap();
        let br = veth::ensure_bridge(&hn, "kedgetb0", 1500).await.unwrap();
        veth::ensure_addr(&hn, br, "10.42.0.1".parse().unwrap(), 24)
            .await
            .unwrap();
        for (i, pod) in pods.iter().enumerate() {
            let host = format!("kedgep{i}");
            veth::create_pair_in(&hn, &host, "kedgetmp", &pod.0, 1500)
                .await
                .unwrap();
            veth::attach(&hn, &host, br).await.unwrap();
            let hp = veth::connect_in(&pod.0).unwrap();
            let ip = format!("10.42.0.{}", 11 + i).parse().unwrap();
            veth::configure_pod(
                &hp,
                "kedgetmp",
                "eth0",
                ip,
                24,
                "10.42.0.1".parse().unwrap(),
                1500,
            )
            .await
            .unwrap();
        }
        veth::create_pair_in(&hn, "kedgec0", "kedgetmp", &client.0, 1500)
            .await
            .unwrap();
        let (c0, _) = veth::link(&hn, "kedgec0").await.unwrap().unwrap();
        veth::ensure_addr(&hn, c0, "192.168.77.1".parse().unwrap(), 24)
            .await
            .unwrap();
        veth::set_up(&hn, "kedgec0").await.unwrap();
        // Real nodes route the service range somewhere (their default route); output-path
        // DNAT happens after that routing decision.
        let route = rtnetlink::RouteMessageBuilder::<std::net::Ipv4Addr>::new()
            .destination_prefix("10.43.0.0".parse().unwrap(), 16)
            .output_interface(c0)
            .build();
        hn.route().add(route).execute().await.unwrap();
        let hc = veth::connect_in(&client.0).unwrap();
        veth::configure_pod(
            &hc,
            "kedgetmp",
            "eth0",
            "192.168.77.2".parse().unwrap(),
            24,
            "192.168.77.1".parse().unwrap(),
            1500,
        )
        .await
        .unwrap();
    });
    // Sysctls under /proc/sys/net belong to the namespace of the thread that opens them.
    netns::run_in(&node.0, || {
        std::fs::write("/proc/sys/net/ipv4/ip_forward", "1")
    })
    .unwrap()
    .unwrap();
    (node, client, pods)
}

#[test]
fn kernel_real_traffic_is_balanced_node_ported_sticky_hairpinned_and_refused() {
    if !can_run("proxy traffic test") {
        return;
    }
    let t0 = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let (node, client, pods) = topology(dir.path());
    let stop = Arc::new(AtomicBool::new(false));
    let servers: Vec<_> = pods
        .iter()
        .zip(["pod1", "pod2", "pod3"])
        .map(|(ns, name)| serve(&ns.0, name, stop.clone()))
        .collect();
    let proxy = netns::run_in(&node.0, || Proxy::open(cfg()))
        .unwrap()
        .unwrap();
    let (services, slices) = objects();
    proxy.sync(&services, &slices).unwrap();

    let result = std::panic::catch_unwind(|| {
        netns::run_in(&client.0, || {
            // ClusterIP from outside the pod network: spread over all three endpoints.
            let spread = tally("10.43.0.10:80", 30);
            assert_eq!(spread.len(), 3, "{spread:?}");
            // NodePort on the node's address.
            assert_eq!(tally("192.168.77.1:30080", 30).len(), 3);
            // ClientIP affinity keeps one endpoint.
            assert_eq!(tally("10.43.0.11:80", 10).len(), 1);
            // externalTrafficPolicy Local: only this node's endpoint.
            let local = tally("192.168.77.1:30090", 10);
            assert_eq!(local.keys().collect::<Vec<_>>(), vec!["pod1"], "{local:?}");
            // No ready endpoint: refused at once, not timed out.
            let t = Instant::now();
            let err = ask("10.43.0.12:80").unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
            assert!(t.elapsed() < Duration::from_millis(500));
        })
        .unwrap();
        // From a pod: the Service spreads, and a pod reaches itself through its Service.
        netns::run_in(&pods[1].0, || {
            assert!(tally("10.43.0.10:80", 20).len() >= 2);
        })
        .unwrap();
        netns::run_in(&pods[0].0, || {
            assert_eq!(ask("10.43.0.13:80").unwrap(), "pod1");
        })
        .unwrap();
        // The node itself (nat output) reaches the cluster IP too.
        netns::run_in(&node.0, || {
            assert_eq!(tally("10.43.0.13:80", 3).len(), 1);
        })
        .unwrap();
    });
    stop.store(true, Ordering::Relaxed);
    for s in servers {
        let _ = s.join();
    }
    drop(proxy);
    if let Err(p) = result {
        std::panic::resume_unwind(p);
    }
    println!("traffic test took {:?}", t0.elapsed());
}
