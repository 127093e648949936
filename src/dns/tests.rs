//! End to end: a real server on 127.0.0.1 (no root needed), queried over UDP and TCP, with a
//! fake upstream resolver.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};
use serde_json::json;

use super::records::tests::{fixture_services, fixture_slices};
use super::testing::{addresses, query, tcp_exchange, udp_exchange, FakeUpstream};
use super::*;

const T: Duration = Duration::from_secs(3);
const UPSTREAM_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);

/// A running server; stops (and joins its thread) when dropped.
struct Running {
    addr: SocketAddr,
    stop: Option<smol::channel::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), DnsError>>>,
}

impl Running {
    fn start(records: RecordsHandle, upstream: Upstream) -> Running {
        let listener = DnsListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = smol::channel::bounded(1);
        let server = DnsServer::new(records, upstream);
        let thread = std::thread::spawn(move || smol::block_on(server.run(listener, stopped)));
        Running {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn stop(mut self) -> Result<(), DnsError> {
        drop(self.stop.take());
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn ask(addr: SocketAddr, name: &str, t: RecordType) -> Message {
    udp_exchange(addr, &query(name, t, Some(1232)).unwrap(), T).unwrap()
}

fn ips(m: &Message) -> Vec<IpAddr> {
    addresses(&m.answers)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn serves_cluster_names_forwards_the_rest_and_caches() {
    let fake = FakeUpstream::start(UPSTREAM_IP, 300).unwrap();
    let handle = RecordsHandle::new(Records::build(
        "cluster.local",
        &fixture_services(),
        &fixture_slices(),
    ));
    let up = Upstream::new(vec![fake.addr()]).with_timeout(Duration::from_secs(1));
    let srv = Running::start(handle.clone(), up);

    let a = ask(srv.addr, "web.default.svc.cluster.local.", RecordType::A);
    assert!(a.metadata.authoritative);
    assert_eq!(ips(&a), vec![ip("10.43.0.20")]);

    let srv_rec = ask(
        srv.addr,
        "_http._tcp.web.default.svc.cluster.local.",
        RecordType::SRV,
    );
    assert!(matches!(&srv_rec.answers[0].data, RData::SRV(s) if s.port == 80));
    assert!(!srv_rec.additionals.is_empty());

    let headless = ask(srv.addr, "nginx.apps.svc.cluster.local.", RecordType::A);
    assert_eq!(ips(&headless).len(), 3);
    let sts = ask(
        srv.addr,
        "web-1.nginx.apps.svc.cluster.local.",
        RecordType::A,
    );
    assert_eq!(ips(&sts), vec![ip("10.42.2.6")]);
    let pod = ask(srv.addr, "10-42-1-5.apps.pod.cluster.local.", RecordType::A);
    assert_eq!(ips(&pod), vec![ip("10.42.1.5")]);
    let nx = ask(srv.addr, "nope.default.svc.cluster.local.", RecordType::A);
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(nx.authorities.len(), 1);

    // ExternalName: the CNAME plus the target resolved upstream.
    let ext = ask(srv.addr, "ext.default.svc.cluster.local.", RecordType::A);
    assert!(matches!(&ext.answers[0].data, RData::CNAME(c) if c.0.to_ascii() == "db.example.org."));
    assert_eq!(ips(&ext), vec![IpAddr::V4(UPSTREAM_IP)]);
    assert_eq!(fake.queries(), 1);

    // TCP.
    let tcp = tcp_exchange(
        srv.addr,
        &query("web.default.svc.cluster.local.", RecordType::A, None).unwrap(),
        T,
    )
    .unwrap();
    assert_eq!(ips(&tcp), vec![ip("10.43.0.20")]);

    // Forwarded, then served from the cache.
    let f1 = ask(srv.addr, "example.com.", RecordType::A);
    assert!(!f1.metadata.authoritative && f1.metadata.recursion_available);
    assert_eq!(ips(&f1), vec![IpAddr::V4(UPSTREAM_IP)]);
    assert_eq!(fake.queries(), 2);
    let f2 = ask(srv.addr, "Example.COM.", RecordType::A);
    assert_eq!(ips(&f2), vec![IpAddr::V4(UPSTREAM_IP)]);
    assert_eq!(fake.queries(), 2, "second query must be a cache hit");

    // Garbage gets FORMERR and does not disturb the server.
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(T)).unwrap();
    sock.send_to(
        &[0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 63, b'x'],
        srv.addr,
    )
    .unwrap();
    let mut buf = [0u8; 512];
    let n = sock.recv(&mut buf).unwrap();
    let formerr = Message::from_vec(&buf[..n]).unwrap();
    assert_eq!(formerr.metadata.id, 0xabcd);
    assert_eq!(formerr.metadata.response_code, ResponseCode::FormErr);

    // A new zone is picked up by the next query.
    let mut services = fixture_services();
    services.push(json!({"metadata": {"name": "new", "namespace": "default"},
                         "spec": {"clusterIP": "10.43.0.99"}}));
    handle.store(Records::build(
        "cluster.local",
        &services,
        &fixture_slices(),
    ));
    let new = ask(srv.addr, "new.default.svc.cluster.local.", RecordType::A);
    assert_eq!(ips(&new), vec![ip("10.43.0.99")]);

    srv.stop().unwrap();
}

#[test]
fn next_upstream_on_timeout_and_servfail_when_all_fail() {
    let fake = FakeUpstream::start(UPSTREAM_IP, 300).unwrap();
    // Bound but never answering: every query to it times out.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let dead = silent.local_addr().unwrap();
    let records = RecordsHandle::new(Records::empty("cluster.local"));

    let up = Upstream::new(vec![dead, fake.addr()]).with_timeout(Duration::from_millis(200));
    let srv = Running::start(records.clone(), up);
    let r = ask(srv.addr, "example.org.", RecordType::A);
    assert_eq!(ips(&r), vec![IpAddr::V4(UPSTREAM_IP)]);
    drop(srv);

    let up = Upstream::new(vec![dead]).with_timeout(Duration::from_millis(200));
    let srv = Running::start(records, up);
    let r = ask(srv.addr, "example.org.", RecordType::A);
    assert_eq!(r.metadata.response_code, ResponseCode::ServFail);
    // Cluster names still answer while upstreams are down.
    let nx = ask(srv.addr, "x.default.svc.cluster.local.", RecordType::A);
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
}

#[test]
fn large_answers_truncate_over_udp_and_complete_over_tcp() {
    let endpoints: Vec<_> = (0..100)
        .map(|i| json!({"addresses": [format!("10.42.5.{i}")]}))
        .collect();
    let services = vec![json!({"metadata": {"name": "big", "namespace": "default"},
                               "spec": {"clusterIP": "None"}})];
    let slices = vec![json!({
        "metadata": {"namespace": "default", "labels": {"kubernetes.io/service-name": "big"}},
        "addressType": "IPv4", "endpoints": endpoints})];
    let records = RecordsHandle::new(Records::build("cluster.local", &services, &slices));
    let srv = Running::start(records, Upstream::new(vec![]));
    let name = "big.default.svc.cluster.local.";

    let plain = udp_exchange(srv.addr, &query(name, RecordType::A, None).unwrap(), T).unwrap();
    assert!(plain.metadata.truncation);
    assert!(plain.answers.len() < 100);
    let edns = udp_exchange(
        srv.addr,
        &query(name, RecordType::A, Some(4096)).unwrap(),
        T,
    )
    .unwrap();
    assert!(!edns.metadata.truncation);
    assert_eq!(edns.answers.len(), 100);
    let tcp = tcp_exchange(srv.addr, &query(name, RecordType::A, None).unwrap(), T).unwrap();
    assert!(!tcp.metadata.truncation);
    assert_eq!(tcp.answers.len(), 100);
}

#[test]
fn many_concurrent_clients() {
    let records = RecordsHandle::new(Records::build(
        "cluster.local",
        &fixture_services(),
        &fixture_slices(),
    ));
    let srv = Running::start(records, Upstream::new(vec![]));
    let addr = srv.addr;
    let clients: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(move || {
                for _ in 0..50 {
                    let r = ask(addr, "web.default.svc.cluster.local.", RecordType::A);
                    assert_eq!(ips(&r), vec![ip("10.43.0.20")]);
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
}
