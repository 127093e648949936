//! The multi-node backends against the kernel. Each test runs on a thread inside a fresh
//! network namespace and builds a small cluster of further namespaces pinned in a tempdir: a
//! "switch" holding bridge `br0`, and "nodes" whose `eth0` is a port of it (node IPs
//! 172.31.250.<i>/24), each with the real bridge plugin (`kedge0`, pod CIDR 10.42.<i>.0/24)
//! and one pod namespace behind it. Traffic only flows between these namespaces.

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_lite::StreamExt;
use ipnetwork::IpNetwork;
use kedge_netplugins::overlay::{
    dump_routes, Backend, Entry, LocalNode, Overlay, Peer, VXLAN_DEVICE,
};
use kedge_netplugins::{netns, veth, BridgeConfig, BridgeNet, PodNet};
use rtnetlink::packet_route::link::{InfoData, InfoVxlan, LinkAttribute, LinkInfo};

/// Namespaces of a test, unpinned on drop even when the test fails.
struct Cluster {
    dir: tempfile::TempDir,
    pinned: Vec<PathBuf>,
    nodes: Vec<Node>,
}

struct Node {
    name: String,
    ns: PathBuf,
    pod_ns: PathBuf,
    ip: IpAddr,
    cidr: IpNetwork,
    /// Set by [`Cluster::pods`].
    pod_ip: Option<IpAddr>,
    bridge: Option<BridgeNet>,
}

impl Node {
    fn local(&self) -> LocalNode {
        LocalNode::new(self.name.clone(), self.ip, self.cidr)
    }

    /// Opens an overlay the way the agent does: on a thread inside the node's namespace.
    fn open(&self, backend: Backend) -> Overlay {
        let local = self.local();
        netns::run_in(&self.ns, || smol::block_on(Overlay::open(backend, local)))
            .unwrap()
            .unwrap_or_else(|e| panic!("open {backend} on {}: {e:?}", self.name))
    }

    fn dump(&self) -> Vec<String> {
        let h = veth::connect_in(&self.ns).unwrap();
        smol::block_on(dump_routes(&h)).unwrap()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.nodes.clear();
        for p in &self.pinned {
            let _ = netns::remove(p);
        }
    }
}

impl Cluster {
    fn pin(&mut self, name: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        netns::create(&p).unwrap();
        self.pinned.push(p.clone());
        p
    }

    /// `n` nodes on one switch.
    fn new(n: u8) -> Cluster {
        let mut c = Cluster {
            dir: tempfile::tempdir().unwrap(),
            pinned: Vec::new(),
            nodes: Vec::new(),
        };
        let sw = c.pin("switch");
        let hsw = veth::connect_in(&sw).unwrap();
        smol::block_on(async {
            let br = veth::ensure_bridge(&hsw, "br0", 1500).await.unwrap();
            for i in 1..=n {
                let name = format!("node{i}");
                let ns = c.pin(&name);
                let pod_ns = c.pin(&format!("pod{i}"));
                let port = format!("sw{i}");
                veth::create_pair_in(&hsw, &port, "eth0", &ns, 1500)
                    .await
                    .unwrap();
                veth::attach(&hsw, &port, br).await.unwrap();
                let h = veth::connect_in(&ns).unwrap();
                let (eth0, _) = veth::link(&h, "eth0").await.unwrap().unwrap();
                let ip: IpAddr = format!("172.31.250.{i}").parse().unwrap();
                veth::ensure_addr(&h, eth0, ip, 24).await.unwrap();
                veth::set_up(&h, "eth0").await.unwrap();
                veth::set_up(&h, "lo").await.unwrap();
                c.nodes.push(Node {
                    name,
                    ns,
                    pod_ns,
                    ip,
                    cidr: format!("10.42.{i}.0/24").parse().unwrap(),
                    pod_ip: None,
                    bridge: None,
                });
            }
        });
        c
    }

    /// Plugs one pod into every node with the bridge plugin, at the overlay's MTU.
    fn pods(&mut self, mtu: u32) {
        let state = self.dir.path().to_path_buf();
        for n in &mut self.nodes {
            let mut cfg = BridgeConfig::new(n.cidr, &state.join(format!("ipam-{}", n.name)));
            cfg.cluster_cidr = Some("10.42.0.0/16".parse().unwrap());
            cfg.mtu = mtu;
            let net = netns::run_in(&n.ns, || smol::block_on(BridgeNet::new(cfg)))
                .unwrap()
                .unwrap();
            let pod = PodNet {
                id: format!("pod-{}", n.name),
                netns: n.pod_ns.clone(),
                ifname: "eth0".into(),
                host_ports: vec![],
            };
            n.pod_ip = Some(smol::block_on(net.add(&pod)).unwrap().ip);
            n.bridge = Some(net);
        }
    }

    /// Every node as a peer, with the VTEP MACs the overlays publish.
    fn peers(&self, overlays: &[Overlay]) -> Vec<Peer> {
        self.nodes
            .iter()
            .zip(overlays)
            .map(|(n, o)| Peer {
                name: n.name.clone(),
                node_ip: n.ip,
                pod_cidr: n.cidr,
                vtep_mac: o.vtep_mac(),
            })
            .collect()
    }

    fn dumps(&self) -> Vec<Vec<String>> {
        self.nodes.iter().map(Node::dump).collect()
    }

    /// Every pod sends 256 KiB to every other pod; the receiver reports the source address
    /// it saw (pod traffic inside the cluster CIDR is not masqueraded) and the byte count.
    fn assert_pods_reach_each_other(&self) {
        const BYTES: usize = 256 * 1024;
        for (j, to) in self.nodes.iter().enumerate() {
            let dst = SocketAddr::new(to.pod_ip.unwrap(), 8080);
            serve(&to.pod_ns, 8080, self.nodes.len() - 1);
            for (i, from) in self.nodes.iter().enumerate() {
                if i == j {
                    continue;
                }
                assert_eq!(
                    transfer(&from.pod_ns, dst, BYTES),
                    format!("from {} got {BYTES}", from.pod_ip.unwrap()),
                    "{} -> {}",
                    from.name,
                    to.name
                );
            }
        }
    }
}

/// A TCP server in `ns` answering `count` connections, each with the peer address and the
/// number of bytes it sent.
fn serve(ns: &Path, port: u16, count: usize) {
    let l = netns::run_in(ns, || TcpListener::bind(("0.0.0.0", port)))
        .unwrap()
        .unwrap();
    std::thread::spawn(move || {
        for s in l.incoming().take(count).flatten() {
            let peer = s.peer_addr().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut n = 0;
            let mut buf = [0u8; 16384];
            while let Ok(k) = (&s).read(&mut buf) {
                if k == 0 {
                    break;
                }
                n += k;
            }
            let _ = (&s).write_all(format!("from {} got {n}", peer.ip()).as_bytes());
        }
    });
}

/// Connects from inside `ns`, sends `bytes` bytes and returns the answer.
fn transfer(ns: &Path, to: SocketAddr, bytes: usize) -> String {
    let s = netns::run_in(ns, || {
        TcpStream::connect_timeout(&to, Duration::from_secs(5))
    })
    .unwrap()
    .unwrap_or_else(|e| panic!("connect to {to}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    (&s).write_all(&vec![0x5a; bytes]).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut answer = String::new();
    (&s).read_to_string(&mut answer).unwrap();
    answer
}

fn kedge_lines(dump: &[String]) -> Vec<&String> {
    dump.iter()
        .filter(|l| l.contains("proto kedge") || l.starts_with("neigh ") || l.starts_with("fdb "))
        .collect()
}

fn count(entries: &[Entry], kind: fn(&Entry) -> bool) -> usize {
    entries.iter().filter(|e| kind(e)).count()
}

fn is_route(e: &Entry) -> bool {
    matches!(e, Entry::Route(_))
}

fn is_neigh(e: &Entry) -> bool {
    matches!(e, Entry::Neighbour(_))
}

fn is_fdb(e: &Entry) -> bool {
    matches!(e, Entry::Fdb(_))
}

#[test]
fn host_gw_connects_pods_across_nodes_and_converges() {
    common::in_fresh_netns("host-gw across three nodes", || {
        let mut c = Cluster::new(3);
        let overlays: Vec<Overlay> = c.nodes.iter().map(|n| n.open(Backend::HostGw)).collect();
        assert!(overlays.iter().all(|o| o.vtep_mac().is_none()));
        assert_eq!(overlays[0].pod_mtu(), 1500);
        c.pods(overlays[0].pod_mtu());
        // Before the first sync node1 has no route to node2's pods.
        let to = SocketAddr::new(c.nodes[1].pod_ip.unwrap(), 8080);
        let refused = netns::run_in(&c.nodes[0].pod_ns, || {
            TcpStream::connect_timeout(&to, Duration::from_secs(2))
        })
        .unwrap();
        assert!(refused.is_err(), "{refused:?}");
        let mut peers = c.peers(&overlays);
        // A node on another segment: host-gw cannot reach it and says so.
        peers.push(Peer {
            name: "far".into(),
            node_ip: "172.16.9.9".parse().unwrap(),
            pod_cidr: "10.42.9.0/24".parse().unwrap(),
            vtep_mac: None,
        });
        for o in &overlays {
            let r = smol::block_on(o.sync(&peers)).unwrap();
            assert_eq!((r.added.len(), r.deleted.len()), (2, 0), "{r:?}");
            assert_eq!(r.skipped.len(), 1, "{r:?}");
            assert_eq!(r.skipped[0].peer, "far");
        }
        let d1 = c.nodes[0].dump();
        assert!(
            d1.contains(&"10.42.2.0/24 via 172.31.250.2 dev eth0 proto kedge".to_string()),
            "{d1:#?}"
        );
        c.assert_pods_reach_each_other();

        // Converged: a second sync and a restarted agent write nothing.
        let before = c.dumps();
        for o in &overlays {
            let r = smol::block_on(o.sync(&peers)).unwrap();
            assert!(!r.changed(), "{r:?}");
        }
        drop(overlays);
        let overlays: Vec<Overlay> = c.nodes.iter().map(|n| n.open(Backend::HostGw)).collect();
        for o in &overlays {
            assert!(!smol::block_on(o.sync(&peers)).unwrap().changed());
        }
        assert_eq!(c.dumps(), before);

        // node3 leaves: its route goes away everywhere else.
        peers.retain(|p| p.name != "node3");
        for o in &overlays[..2] {
            let r = smol::block_on(o.sync(&peers)).unwrap();
            assert_eq!((r.added.len(), r.deleted.len()), (0, 1), "{r:?}");
            let del = r.deleted[0].to_string();
            assert!(
                del.starts_with("route 10.42.3.0/24 via 172.31.250.3 oif "),
                "{del}"
            );
        }
        assert!(!c.nodes[0].dump().iter().any(|l| l.contains("10.42.3.0")));

        // --cleanup leaves no kedge route.
        assert_eq!(smol::block_on(overlays[0].cleanup()).unwrap(), 1);
        assert!(kedge_lines(&c.nodes[0].dump()).is_empty());
    });
}

#[test]
fn vxlan_connects_pods_across_nodes_and_converges() {
    common::in_fresh_netns("vxlan across three nodes", || {
        let mut c = Cluster::new(3);
        let overlays: Vec<Overlay> = c.nodes.iter().map(|n| n.open(Backend::Vxlan)).collect();
        assert_eq!(overlays[0].pod_mtu(), 1450);
        assert_eq!(overlays[1].vtep_mac(), Some([0x0e, 0x4b, 172, 31, 250, 2]));
        c.pods(overlays[0].pod_mtu());
        let mut peers = c.peers(&overlays);
        // A node that has not published its MAC yet.
        peers.push(Peer {
            name: "node9".into(),
            node_ip: "172.31.250.9".parse().unwrap(),
            pod_cidr: "10.42.9.0/24".parse().unwrap(),
            vtep_mac: None,
        });
        for o in &overlays {
            let r = smol::block_on(o.sync(&peers)).unwrap();
            assert_eq!(count(&r.added, is_route), 2, "{r:?}");
            assert_eq!(count(&r.added, is_neigh), 2, "{r:?}");
            assert_eq!(count(&r.added, is_fdb), 2, "{r:?}");
            assert!(r.deleted.is_empty(), "{r:?}");
            assert_eq!(r.skipped.len(), 1);
            assert_eq!(r.skipped[0].reason, "no VTEP MAC published yet");
        }
        let d1 = c.nodes[0].dump();
        for want in [
            "10.42.2.0/24 via 10.42.2.0 dev kedge-vxlan proto kedge onlink",
            "neigh 10.42.2.0 lladdr 0e:4b:ac:1f:fa:02 dev kedge-vxlan permanent",
            "fdb 0e:4b:ac:1f:fa:02 dst 172.31.250.2 dev kedge-vxlan",
        ] {
            assert!(d1.contains(&want.to_string()), "{want} not in {d1:#?}");
        }
        c.assert_pods_reach_each_other();

        let before = c.dumps();
        for o in &overlays {
            assert!(!smol::block_on(o.sync(&peers)).unwrap().changed());
        }
        let index_before = vxlan_index(&c.nodes[0].ns);
        drop(overlays);
        let overlays: Vec<Overlay> = c.nodes.iter().map(|n| n.open(Backend::Vxlan)).collect();
        assert_eq!(vxlan_index(&c.nodes[0].ns), index_before, "device kept");
        for o in &overlays {
            assert!(!smol::block_on(o.sync(&peers)).unwrap().changed());
        }
        assert_eq!(c.dumps(), before);
        c.assert_pods_reach_each_other();

        // node3 leaves: route, neighbour and FDB entry go away.
        peers.retain(|p| p.name != "node3");
        for o in &overlays[..2] {
            let r = smol::block_on(o.sync(&peers)).unwrap();
            assert!(r.added.is_empty(), "{r:?}");
            let mut del: Vec<String> = r.deleted.iter().map(Entry::to_string).collect();
            del.sort();
            assert_eq!(del.len(), 3, "{del:?}");
            assert_eq!(del[0], "fdb 0e:4b:ac:1f:fa:03 dst 172.31.250.3");
            assert_eq!(del[1], "neigh 10.42.3.0 lladdr 0e:4b:ac:1f:fa:03");
            assert!(
                del[2].starts_with("route 10.42.3.0/24 via 10.42.3.0"),
                "{del:?}"
            );
        }
        assert!(!c.nodes[0]
            .dump()
            .iter()
            .any(|l| l.contains("10.42.3.0") || l.contains("172.31.250.3")));

        // A deleted device is recreated by the next sync, with its entries.
        let h = veth::connect_in(&c.nodes[0].ns).unwrap();
        assert!(smol::block_on(veth::delete(&h, VXLAN_DEVICE)).unwrap());
        let r = smol::block_on(overlays[0].sync(&peers)).unwrap();
        assert_eq!((r.added.len(), r.deleted.len()), (3, 0), "{r:?}");

        assert_eq!(smol::block_on(overlays[0].cleanup()).unwrap(), 0);
        assert!(kedge_lines(&c.nodes[0].dump()).is_empty());
        assert!(smol::block_on(veth::link(&h, VXLAN_DEVICE))
            .unwrap()
            .is_none());
    });
}

fn open_all(c: &Cluster, b: Backend) -> Vec<Overlay> {
    c.nodes.iter().map(|n| n.open(b)).collect()
}

fn vxlan_index(ns: &Path) -> Option<u32> {
    let h = veth::connect_in(ns).unwrap();
    smol::block_on(veth::link(&h, VXLAN_DEVICE))
        .unwrap()
        .map(|l| l.0)
}

#[test]
fn switching_backend_removes_the_other_backends_leftovers() {
    common::in_fresh_netns("backend switch", || {
        let mut c = Cluster::new(2);
        let hg = open_all(&c, Backend::HostGw);
        let peers = c.peers(&hg);
        for o in &hg {
            smol::block_on(o.sync(&peers)).unwrap();
        }
        drop(hg);

        let vx = open_all(&c, Backend::Vxlan);
        let peers = c.peers(&vx);
        for o in &vx {
            let r = smol::block_on(o.sync(&peers)).unwrap();
            assert_eq!(count(&r.deleted, is_route), 1, "the host-gw route: {r:?}");
            assert_eq!(r.added.len(), 3, "{r:?}");
        }
        let d = c.nodes[0].dump();
        let ours = kedge_lines(&d);
        assert_eq!(ours.len(), 3, "{ours:#?}");
        assert!(!ours.iter().any(|l| l.contains("dev eth0")), "{ours:#?}");
        c.pods(vx[0].pod_mtu());
        c.assert_pods_reach_each_other();
        drop(vx);

        let hg = open_all(&c, Backend::HostGw);
        assert!(
            vxlan_index(&c.nodes[0].ns).is_none(),
            "device removed on open"
        );
        let peers = c.peers(&hg);
        for o in &hg {
            let r = smol::block_on(o.sync(&peers)).unwrap();
            // The vxlan routes died with the device.
            assert_eq!((r.added.len(), r.deleted.len()), (1, 0), "{r:?}");
        }
        let d = c.nodes[0].dump();
        assert_eq!(
            kedge_lines(&d),
            ["10.42.2.0/24 via 172.31.250.2 dev eth0 proto kedge"]
        );
        drop(hg);

        let none = open_all(&c, Backend::None);
        let r = smol::block_on(none[0].sync(&peers)).unwrap();
        assert_eq!((r.added.len(), r.deleted.len()), (0, 1), "{r:?}");
        assert!(kedge_lines(&c.nodes[0].dump()).is_empty());
    });
}

#[test]
fn vxlan_device_with_other_settings_is_recreated() {
    common::in_fresh_netns("vxlan device settings", || {
        let c = Cluster::new(1);
        let n = &c.nodes[0];
        let h = veth::connect_in(&n.ns).unwrap();
        smol::block_on(async {
            let (eth0, _) = veth::link(&h, "eth0").await.unwrap().unwrap();
            // A device by an older configuration: IANA port, learning on, another pod CIDR.
            h.link()
                .add(
                    rtnetlink::LinkVxlan::new(VXLAN_DEVICE, 1)
                        .dev(eth0)
                        .port(4789)
                        .learning(true)
                        .up()
                        .build(),
                )
                .execute()
                .await
                .unwrap();
            let (old, _) = veth::link(&h, VXLAN_DEVICE).await.unwrap().unwrap();
            veth::ensure_addr(&h, old, "10.42.77.0".parse().unwrap(), 32)
                .await
                .unwrap();
        });
        let o = n.open(Backend::Vxlan);
        let info = smol::block_on(vxlan_info(&h));
        assert!(info.contains(&InfoVxlan::Port(8472)), "{info:?}");
        assert!(info.contains(&InfoVxlan::Learning(false)), "{info:?}");
        assert!(info.contains(&InfoVxlan::Local("172.31.250.1".parse().unwrap())));
        let (idx, mac) = smol::block_on(veth::link(&h, VXLAN_DEVICE))
            .unwrap()
            .unwrap();
        assert_eq!(mac, o.vtep_mac().unwrap());
        assert_eq!(
            smol::block_on(veth::addrs(&h, idx))
                .unwrap()
                .into_iter()
                .filter(|(ip, _)| ip.is_ipv4())
                .collect::<Vec<_>>(),
            [("10.42.1.0".parse::<IpAddr>().unwrap(), 32)]
        );

        // A changed MTU is fixed in place, keeping the device.
        smol::block_on(
            h.link()
                .set(rtnetlink::LinkUnspec::new_with_index(idx).mtu(1300).build())
                .execute(),
        )
        .unwrap();
        drop(o);
        let o = n.open(Backend::Vxlan);
        assert_eq!(o.pod_mtu(), 1450);
        let (again, _) = smol::block_on(veth::link(&h, VXLAN_DEVICE))
            .unwrap()
            .unwrap();
        assert_eq!(again, idx);
        assert_eq!(smol::block_on(link_mtu(&h, idx)), 1450);
    });
}

async fn vxlan_info(h: &rtnetlink::Handle) -> Vec<InfoVxlan> {
    let mut s = h
        .link()
        .get()
        .match_name(VXLAN_DEVICE.to_string())
        .execute();
    let m = s.try_next().await.unwrap().unwrap();
    m.attributes
        .into_iter()
        .filter_map(|a| match a {
            LinkAttribute::LinkInfo(i) => Some(i),
            _ => None,
        })
        .flatten()
        .find_map(|i| match i {
            LinkInfo::Data(InfoData::Vxlan(v)) => Some(v),
            _ => None,
        })
        .unwrap_or_default()
}

async fn link_mtu(h: &rtnetlink::Handle, idx: u32) -> u32 {
    let mut s = h.link().get().match_index(idx).execute();
    let m = s.try_next().await.unwrap().unwrap();
    m.attributes
        .iter()
        .find_map(|a| match a {
            LinkAttribute::Mtu(m) => Some(*m),
            _ => None,
        })
        .unwrap()
}
