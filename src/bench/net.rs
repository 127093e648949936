//! `kedge bench net`: pod-to-pod TCP throughput and round-trip latency across two nodes, with
//! the host-gw and the vxlan backend, against a plain veth pair measured in the same run.
//!
//! Contract: everything happens in network namespaces this command creates (pinned under a
//! temporary directory, so run it in a private mount namespace: `unshare --mount --net kedge
//! bench net`); it refuses to run in the host's network namespace's place by never touching
//! the calling thread's. Each "node" is a namespace with an uplink on a shared veth wire, the
//! real `kedge0` bridge ([`kedge_netplugins::BridgeNet`]), one pod namespace plumbed by it,
//! and the real overlay ([`kedge_netplugins::overlay::Overlay`]) routing the peer's pod CIDR.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use ipnetwork::IpNetwork;
use kedge_netplugins::overlay::{Backend, LocalNode, Overlay, Peer};
use kedge_netplugins::{netns, veth, BridgeConfig, BridgeNet, PodNet};

const PORT: u16 = 5201;
const CHUNK: usize = 128 * 1024;

/// Figures of one path.
struct Figures {
    gbit_s: f64,
    rtt_p50_us: f64,
    rtt_p99_us: f64,
}

fn ns_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

fn in_ns<T: Send>(ns: &Path, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    netns::run_in(ns, f).map_err(|e| anyhow!("entering {}: {e}", ns.display()))?
}

/// Loopback up inside `ns`.
fn lo_up(ns: &Path) -> Result<()> {
    in_ns(ns, || {
        smol::block_on(async {
            let h = veth::connect()?;
            veth::set_up(&h, "lo").await?;
            Ok(())
        })
    })
}

/// A veth wire between `a` and `b` named `eth0` on both sides, with addresses.
fn wire(a: &Path, b: &Path, a_ip: Ipv4Addr, b_ip: Ipv4Addr) -> Result<()> {
    in_ns(a, || {
        smol::block_on(async {
            let h = veth::connect()?;
            veth::create_pair_in(&h, "eth0", "eth0", b, 1500).await?;
            let (idx, _) = veth::link(&h, "eth0").await?.context("eth0")?;
            veth::ensure_addr(&h, idx, IpAddr::V4(a_ip), 24).await?;
            veth::set_up(&h, "eth0").await?;
            Ok(())
        })
    })?;
    in_ns(b, || {
        smol::block_on(async {
            let h = veth::connect()?;
            let (idx, _) = veth::link(&h, "eth0").await?.context("eth0 in the peer")?;
            veth::ensure_addr(&h, idx, IpAddr::V4(b_ip), 24).await?;
            veth::set_up(&h, "eth0").await?;
            Ok(())
        })
    })
}

/// A node: bridge, one pod, overlay routes to `peer`. Returns the pod's address.
fn node(
    dir: &Path,
    node: &Path,
    pod: &Path,
    backend: Backend,
    local: LocalNode,
    peer: Peer,
) -> Result<(IpAddr, Overlay, BridgeNet)> {
    let state = dir.join(format!("{}-ipam", local.name));
    std::fs::create_dir_all(&state)?;
    in_ns(node, || {
        smol::block_on(async {
            let overlay = Overlay::open(backend, local.clone()).await?;
            let mut cfg = BridgeConfig::new(local.pod_cidr, &state);
            cfg.mtu = overlay.pod_mtu();
            let bridge = BridgeNet::new(cfg).await?;
            let addr = bridge
                .add(&PodNet {
                    id: format!("bench-{}", local.name),
                    netns: pod.to_path_buf(),
                    ifname: "eth0".into(),
                    host_ports: vec![],
                })
                .await?;
            // The peer's VTEP MAC is derived from its node IP, as its overlay publishes it.
            let report = overlay.sync(&[peer]).await?;
            if !report.skipped.is_empty() {
                return Err(anyhow!("peer skipped: {:?}", report.skipped));
            }
            Ok((addr.ip, overlay, bridge))
        })
    })
}

/// Serve one throughput sink and then echo connections, inside `ns`, until `stop`.
fn serve(ns: PathBuf, addr: IpAddr) -> std::thread::JoinHandle<Result<()>> {
    let (tx, rx) = std::sync::mpsc::channel();
    let h = std::thread::spawn(move || {
        in_ns(&ns, || {
            let l = TcpListener::bind(SocketAddr::new(addr, PORT))?;
            let _ = tx.send(());
            // First connection: sink. Second: echo.
            let (mut sink, _) = l.accept()?;
            let mut buf = vec![0u8; CHUNK];
            while sink.read(&mut buf)? > 0 {}
            // Closing tells the sender every byte arrived.
            drop(sink);
            let (mut s, _) = l.accept()?;
            s.set_nodelay(true)?;
            let mut b = [0u8; 1];
            loop {
                match s.read(&mut b)? {
                    0 => return Ok(()),
                    _ => s.write_all(&b)?,
                }
            }
        })
    });
    let _ = rx.recv_timeout(Duration::from_secs(5));
    h
}

fn measure(
    client_ns: &Path,
    server_ns: &Path,
    server: IpAddr,
    secs: f64,
    rtts: usize,
) -> Result<Figures> {
    let srv = serve(server_ns.to_path_buf(), server);
    let f = in_ns(client_ns, || {
        let to = SocketAddr::new(server, PORT);
        let mut s = TcpStream::connect_timeout(&to, Duration::from_secs(3))?;
        let buf = vec![0x5au8; CHUNK];
        let start = Instant::now();
        let mut sent = 0u64;
        while start.elapsed().as_secs_f64() < secs {
            s.write_all(&buf)?;
            sent += CHUNK as u64;
        }
        s.shutdown(std::net::Shutdown::Write)?;
        let mut sink = [0u8; 16];
        let _ = s.read(&mut sink);
        let gbit_s = sent as f64 * 8.0 / start.elapsed().as_secs_f64() / 1e9;
        let mut e = TcpStream::connect_timeout(&to, Duration::from_secs(3))?;
        e.set_nodelay(true)?;
        let mut lat = Vec::with_capacity(rtts);
        let mut b = [1u8; 1];
        for i in 0..rtts + 100 {
            let t = Instant::now();
            e.write_all(&b)?;
            e.read_exact(&mut b)?;
            if i >= 100 {
                lat.push(t.elapsed().as_secs_f64() * 1e6);
            }
        }
        drop(e);
        lat.sort_by(|a, b| a.total_cmp(b));
        Ok(Figures {
            gbit_s,
            rtt_p50_us: lat[lat.len() / 2],
            rtt_p99_us: lat[(lat.len() * 99 / 100).min(lat.len() - 1)],
        })
    })?;
    srv.join()
        .map_err(|_| anyhow!("server thread panicked"))??;
    Ok(f)
}

/// Namespace files removed on drop (also when a measurement fails).
struct Pins(Vec<PathBuf>);

impl Drop for Pins {
    fn drop(&mut self) {
        for p in self.0.iter().rev() {
            let _ = netns::remove(p);
        }
    }
}

fn baseline(dir: &Path, secs: f64, rtts: usize) -> Result<Figures> {
    let (a, b) = (ns_path(dir, "veth-a"), ns_path(dir, "veth-b"));
    let _pins = Pins(vec![a.clone(), b.clone()]);
    for p in [&a, &b] {
        netns::create(p)?;
        lo_up(p)?;
    }
    wire(
        &a,
        &b,
        Ipv4Addr::new(10, 98, 0, 1),
        Ipv4Addr::new(10, 98, 0, 2),
    )?;
    measure(&a, &b, IpAddr::V4(Ipv4Addr::new(10, 98, 0, 2)), secs, rtts)
}

fn across(dir: &Path, backend: Backend, secs: f64, rtts: usize) -> Result<Figures> {
    let tag = match backend {
        Backend::Vxlan => "vxlan",
        _ => "hostgw",
    };
    let names = ["node-a", "node-b", "pod-a", "pod-b"].map(|n| ns_path(dir, &format!("{tag}-{n}")));
    let _pins = Pins(names.to_vec());
    for p in &names {
        netns::create(p)?;
        lo_up(p)?;
    }
    let [na, nb, pa, pb] = &names;
    let (ia, ib) = (Ipv4Addr::new(10, 99, 0, 1), Ipv4Addr::new(10, 99, 0, 2));
    wire(na, nb, ia, ib)?;
    let (ca, cb): (IpNetwork, IpNetwork) = ("10.42.0.0/24".parse()?, "10.42.1.0/24".parse()?);
    let la = LocalNode::new("a", IpAddr::V4(ia), ca);
    let lb = LocalNode::new("b", IpAddr::V4(ib), cb);
    let mac = |ip: Ipv4Addr| match backend {
        Backend::Vxlan => Some(kedge_netplugins::overlay::vtep_mac_for(IpAddr::V4(ip))),
        _ => None,
    };
    let peer_of = |l: &LocalNode, ip: Ipv4Addr| Peer {
        name: l.name.clone(),
        node_ip: l.node_ip,
        pod_cidr: l.pod_cidr,
        vtep_mac: mac(ip),
    };
    let (_pod_a, _oa, _ba) = node(dir, na, pa, backend, la.clone(), peer_of(&lb, ib))?;
    let (pod_b, _ob, _bb) = node(dir, nb, pb, backend, lb.clone(), peer_of(&la, ia))?;
    measure(pa, pb, pod_b, secs, rtts)
}

/// Run the three paths and print the figures.
pub fn run(secs: f64, rtts: usize) -> Result<()> {
    let dir = std::env::temp_dir().join(format!("kedge-bench-net-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = (|| {
        Ok::<_, anyhow::Error>((
            baseline(&dir, secs, rtts)?,
            across(&dir, Backend::HostGw, secs, rtts)?,
            across(&dir, Backend::Vxlan, secs, rtts)?,
        ))
    })();
    let _ = std::fs::remove_dir_all(&dir);
    let (base, hostgw, vxlan) = result?;
    println!("pod-to-pod across two nodes (TCP, {secs} s stream, {rtts} 1-byte round trips)");
    println!(
        "{:<28} {:>10} {:>12} {:>12}",
        "path", "Gbit/s", "RTT p50 µs", "RTT p99 µs"
    );
    for (name, f) in [
        ("veth pair (baseline)", &base),
        ("host-gw (bridge+route)", &hostgw),
        ("vxlan (bridge+overlay)", &vxlan),
    ] {
        println!(
            "{:<28} {:>10.2} {:>12.1} {:>12.1}   ({:.0} % of baseline throughput)",
            name,
            f.gbit_s,
            f.rtt_p50_us,
            f.rtt_p99_us,
            f.gbit_s / base.gbit_s * 100.0
        );
    }
    Ok(())
}
