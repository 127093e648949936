//! Helpers for tests and `kedge bench dns`: a fixed-answer upstream resolver and a blocking
//! client over std sockets.
//!
//! Contract: [`FakeUpstream`] runs on its own thread on 127.0.0.1, answers every A query with
//! one address (other types: NOERROR without answers), counts the queries it received and stops
//! when dropped. The client functions send one query and wait for the reply with its id.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, Query};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};

pub struct FakeUpstream {
    addr: SocketAddr,
    queries: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

fn answer(packet: &[u8], ip: Ipv4Addr, ttl: u32) -> Option<Vec<u8>> {
    let req = Message::from_vec(packet).ok()?;
    if req.metadata.message_type != MessageType::Query {
        return None;
    }
    let mut resp = Message::response(req.metadata.id, req.metadata.op_code);
    resp.metadata.recursion_desired = req.metadata.recursion_desired;
    resp.metadata.recursion_available = true;
    resp.add_queries(req.queries.iter().cloned());
    for q in &req.queries {
        if q.query_type() == RecordType::A {
            resp.add_answer(Record::from_rdata(q.name().clone(), ttl, RData::A(A(ip))));
        }
    }
    if let Some(e) = &req.edns {
        resp.set_edns(e.clone());
    }
    resp.to_vec().ok()
}

impl FakeUpstream {
    pub fn start(ip: Ipv4Addr, ttl: u32) -> io::Result<FakeUpstream> {
        let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
        // Wakes the loop regularly to notice `stop`.
        sock.set_read_timeout(Some(Duration::from_millis(50)))?;
        let addr = sock.local_addr()?;
        let queries = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (q, s) = (queries.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("dns-fake-upstream".into())
            .spawn(move || {
                let mut buf = [0u8; 4096];
                while !s.load(Ordering::Relaxed) {
                    let Ok((n, peer)) = sock.recv_from(&mut buf) else {
                        continue;
                    };
                    q.fetch_add(1, Ordering::Relaxed);
                    if let Some(reply) = answer(&buf[..n], ip, ttl) {
                        let _ = sock.send_to(&reply, peer);
                    }
                }
            })?;
        Ok(FakeUpstream {
            addr,
            queries,
            stop,
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Queries received so far.
    pub fn queries(&self) -> usize {
        self.queries.load(Ordering::Relaxed)
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The A and AAAA addresses among `records`, in order.
pub fn addresses(records: &[Record]) -> Vec<IpAddr> {
    records
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        })
        .collect()
}

/// A recursive query for `name`/`qtype`, with an EDNS buffer size when `edns` is set.
pub fn query(name: &str, qtype: RecordType, edns: Option<u16>) -> io::Result<Message> {
    let name =
        Name::from_ascii(name).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut m = Message::query();
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(name, qtype));
    if let Some(size) = edns {
        let mut e = hickory_proto::op::Edns::new();
        e.set_max_payload(size);
        m.set_edns(e);
    }
    Ok(m)
}

fn invalid(e: impl std::error::Error + Send + Sync + 'static) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// Send `msg` over UDP and wait up to `timeout` for the reply carrying its id.
pub fn udp_exchange(server: SocketAddr, msg: &Message, timeout: Duration) -> io::Result<Message> {
    let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
    sock.set_read_timeout(Some(timeout))?;
    sock.connect(server)?;
    sock.send(&msg.to_vec().map_err(invalid)?)?;
    let mut buf = [0u8; 65535];
    loop {
        let n = sock.recv(&mut buf)?;
        if let Ok(m) = Message::from_vec(&buf[..n]) {
            if m.metadata.id == msg.metadata.id {
                return Ok(m);
            }
        }
    }
}

/// Send `msg` over TCP (length-prefixed) and read one reply.
pub fn tcp_exchange(server: SocketAddr, msg: &Message, timeout: Duration) -> io::Result<Message> {
    use std::io::{Read, Write};
    let mut s = TcpStream::connect_timeout(&server, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    let bytes = msg.to_vec().map_err(invalid)?;
    let len = u16::try_from(bytes.len()).map_err(invalid)?;
    let mut out = len.to_be_bytes().to_vec();
    out.extend_from_slice(&bytes);
    s.write_all(&out)?;
    let mut len = [0u8; 2];
    s.read_exact(&mut len)?;
    let mut reply = vec![0u8; u16::from_be_bytes(len) as usize];
    s.read_exact(&mut reply)?;
    Message::from_vec(&reply).map_err(invalid)
}
