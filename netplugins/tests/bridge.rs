//! The bridge plugin against the kernel. Each test runs on a thread inside its own fresh
//! network namespace (the "node"); pods are further namespaces pinned in a tempdir.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use kedge_netplugins::bridge::host_veth_name;
use kedge_netplugins::{netns, veth, BridgeConfig, BridgeNet, HostPort, PodNet, Protocol};

/// Pod namespaces of a test, unpinned on drop even when the test fails.
struct Fixture {
    // Declared first: dropped (namespaces unpinned) before the directory is removed.
    pins: kedge_netplugins::testing::Pins,
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            dir: tempfile::tempdir().unwrap(),
            pins: Default::default(),
        }
    }

    fn netns(&mut self, name: &str) -> PathBuf {
        self.pins.pin(self.dir.path(), name)
    }

    fn config(&self) -> BridgeConfig {
        let mut c = BridgeConfig::new(
            "10.88.0.0/24".parse().unwrap(),
            &self.dir.path().join("ipam"),
        );
        c.cluster_cidr = Some("10.88.0.0/16".parse().unwrap());
        c
    }
}

fn pod(id: &str, ns: &Path, ports: Vec<HostPort>) -> PodNet {
    PodNet {
        id: id.to_string(),
        netns: ns.to_path_buf(),
        ifname: "eth0".to_string(),
        host_ports: ports,
    }
}

/// Connects from inside `ns`, sends a line and returns the answer.
fn ping_pong(ns: &Path, to: SocketAddr) -> String {
    let mut s = netns::run_in(ns, || {
        TcpStream::connect_timeout(&to, Duration::from_secs(5))
    })
    .unwrap()
    .unwrap_or_else(|e| panic!("connect to {to}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"ping\n").unwrap();
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).unwrap();
    line
}

/// A TCP server in `ns` answering each connection's line with "pong from <peer>".
fn serve(ns: &Path, port: u16) {
    let l = netns::run_in(ns, || TcpListener::bind(("0.0.0.0", port)))
        .unwrap()
        .unwrap();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let peer = s.peer_addr().unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            let _ = r.read_line(&mut line);
            let _ = (&s).write_all(format!("pong from {}\n", peer.ip()).as_bytes());
        }
    });
}

fn ip_files(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("ipam"))
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_name().to_string_lossy().parse::<IpAddr>().is_ok())
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn pods_reach_each_other_and_hostports_then_del_cleans_up() {
    common::in_fresh_netns("bridge end-to-end", || {
        common::assert_proc_sys_is_ours();
        smol::block_on(async {
            let mut fx = Fixture::new();
            let (a, b, c) = (fx.netns("a"), fx.netns("b"), fx.netns("c"));
            let net = BridgeNet::new(fx.config()).await.unwrap();
            assert_eq!(
                std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")
                    .unwrap()
                    .trim(),
                "1"
            );

            let pa = net.add(&pod("pod-a", &a, vec![])).await.unwrap();
            let pb = net
                .add(&pod(
                    "pod-b",
                    &b,
                    vec![HostPort::new(Protocol::Tcp, 8080, 80)],
                ))
                .await
                .unwrap();
            assert_ne!(pa.ip, pb.ip);
            assert_eq!(pa.gateway.to_string(), "10.88.0.1");
            assert_eq!(pa.prefix, 24);
            assert_eq!(pa.mac.len(), 17);

            serve(&b, 80);
            assert_eq!(
                ping_pong(&a, SocketAddr::new(pb.ip, 80)),
                format!("pong from {}\n", pa.ip)
            );

            // A third namespace outside the pod network reaches pod b through node:8080.
            let h = veth::connect().unwrap();
            veth::create_pair(&h, "kt0", "kt1", 1500).await.unwrap();
            veth::move_to(&h, "kt1", &c).await.unwrap();
            let (kt0, _) = veth::link(&h, "kt0").await.unwrap().unwrap();
            veth::ensure_addr(&h, kt0, "192.168.77.1".parse().unwrap(), 24)
                .await
                .unwrap();
            veth::set_up(&h, "kt0").await.unwrap();
            let hc = veth::connect_in(&c).unwrap();
            let ext: IpAddr = "192.168.77.2".parse().unwrap();
            veth::configure_pod(
                &hc,
                "kt1",
                "eth0",
                ext,
                24,
                "192.168.77.1".parse().unwrap(),
                1500,
            )
            .await
            .unwrap();
            let node: IpAddr = "192.168.77.1".parse().unwrap();
            assert_eq!(
                ping_pong(&c, SocketAddr::new(node, 8080)),
                format!("pong from {ext}\n")
            );
            // From the node itself (output chain) ...
            let mut s =
                TcpStream::connect_timeout(&SocketAddr::new(node, 8080), Duration::from_secs(5))
                    .expect("hostport from the node");
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            s.write_all(b"ping\n").unwrap();
            let mut line = String::new();
            BufReader::new(s).read_line(&mut line).unwrap();
            assert_eq!(line, format!("pong from {node}\n"));
            // ... and from the pod to its own hostPort: hairpin, masqueraded to the gateway.
            assert_eq!(
                ping_pong(&b, SocketAddr::new(node, 8080)),
                format!("pong from {}\n", pb.gateway)
            );

            let dump = net.ruleset().unwrap().unwrap();
            assert!(
                dump.contains("chain postrouting type nat hook postrouting"),
                "{dump}"
            );
            assert!(dump.contains("masq"), "{dump}");
            assert!(dump.contains("nat dnat"), "{dump}");

            net.del("pod-a", Some(&a)).await.unwrap();
            net.del("pod-b", Some(&b)).await.unwrap();
            net.del("pod-b", Some(&b)).await.unwrap();
            for id in ["pod-a", "pod-b"] {
                assert!(veth::link(&h, &host_veth_name(id)).await.unwrap().is_none());
            }
            let hb = veth::connect_in(&b).unwrap();
            assert!(veth::link(&hb, "eth0").await.unwrap().is_none());
            assert!(net.allocated().is_empty());
            assert_eq!(ip_files(fx.dir.path()), 0);
            let dump = net.ruleset().unwrap().unwrap();
            assert!(!dump.contains("nat dnat"), "{dump}");
            assert!(dump.contains("masq"), "{dump}");
        });
    });
}

#[test]
fn add_twice_gives_one_veth_and_one_address() {
    common::in_fresh_netns("bridge idempotent add", || {
        common::assert_proc_sys_is_ours();
        smol::block_on(async {
            let mut fx = Fixture::new();
            let a = fx.netns("a");
            let net = BridgeNet::new(fx.config()).await.unwrap();
            let p = pod("pod-a", &a, vec![HostPort::new(Protocol::Udp, 5353, 53)]);
            let first = net.add(&p).await.unwrap();
            let dump = net.ruleset().unwrap().unwrap();
            let second = net.add(&p).await.unwrap();
            assert_eq!(first, second);
            assert_eq!(net.allocated().len(), 1);
            assert_eq!(ip_files(fx.dir.path()), 1);
            assert_eq!(net.ruleset().unwrap().unwrap(), dump);
            let h = veth::connect().unwrap();
            assert!(veth::link(&h, &host_veth_name("pod-a"))
                .await
                .unwrap()
                .is_some());
            let ha = veth::connect_in(&a).unwrap();
            let (idx, _) = veth::link(&ha, "eth0").await.unwrap().unwrap();
            let v4: Vec<_> = veth::addrs(&ha, idx)
                .await
                .unwrap()
                .into_iter()
                .filter(|(ip, _)| ip.is_ipv4())
                .collect();
            assert_eq!(v4, vec![(first.ip, 24)]);
            net.del("pod-a", None).await.unwrap();
        });
    });
}

#[test]
fn restart_keeps_addresses_and_reproduces_the_ruleset() {
    common::in_fresh_netns("bridge restart", || {
        common::assert_proc_sys_is_ours();
        smol::block_on(async {
            let mut fx = Fixture::new();
            let a = fx.netns("a");
            let p = pod("pod-a", &a, vec![HostPort::new(Protocol::Tcp, 8443, 443)]);
            let (addr, dump) = {
                let net = BridgeNet::new(fx.config()).await.unwrap();
                let addr = net.add(&p).await.unwrap();
                (addr, net.ruleset().unwrap().unwrap())
            };
            let net = BridgeNet::new(fx.config()).await.unwrap();
            assert_eq!(net.ruleset().unwrap().unwrap(), dump);
            assert_eq!(net.allocated(), vec![("pod-a".to_string(), addr.ip)]);
            assert_eq!(net.add(&p).await.unwrap(), addr);
            let gone = net.gc(&Default::default()).await.unwrap();
            assert_eq!(gone, vec!["pod-a".to_string()]);
            assert!(net.allocated().is_empty());
            assert!(!net.ruleset().unwrap().unwrap().contains("nat dnat"));
        });
    });
}
