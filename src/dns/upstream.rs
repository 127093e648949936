//! Forwarding to the node's resolvers, for every name the cluster zone does not own.
//!
//! Contract: [`Upstream::resolve`] answers a question from the cache or asks the servers in
//! order — UDP with a per-server timeout, the same server over TCP when the UDP answer is
//! truncated, the next server on a timeout, an I/O error, SERVFAIL or REFUSED — and returns
//! [`UpstreamError`] when none answered (the caller replies SERVFAIL). Each attempt uses a fresh
//! query id and a fresh source port, and only a reply with that id and the same question is
//! accepted (spoofed or stale datagrams are ignored until the timeout). Sockets are opened on
//! the polling thread, so they live in that thread's network namespace.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, Query, ResponseCode};
use hickory_proto::rr::Record;
use smol::net::{TcpStream, UdpSocket};
use smol::Timer;

use super::cache::{Cache, Key};
use super::frame::{read_frame, write_frame};

/// EDNS buffer size offered upstream: the DNS Flag Day 2020 value, safe from fragmentation.
pub const EDNS_PAYLOAD: u16 = 1232;
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
pub const DEFAULT_CACHE_ENTRIES: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("no upstream resolvers configured")]
    NoServers,
    #[error("upstream {server} timed out")]
    Timeout { server: SocketAddr },
    #[error("upstream {server}: {source}")]
    Io {
        server: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("upstream {server} answered {rcode}")]
    Failed {
        server: SocketAddr,
        rcode: ResponseCode,
    },
    #[error("encoding the upstream query")]
    Encode(#[source] hickory_proto::ProtoError),
}

/// An answer from upstream (or the cache), ready to be copied into a response.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub rcode: ResponseCode,
    pub answers: Vec<Record>,
    pub authorities: Vec<Record>,
    pub additionals: Vec<Record>,
    pub from_cache: bool,
}

#[derive(Debug)]
pub struct Upstream {
    servers: Vec<SocketAddr>,
    timeout: Duration,
    cache: Mutex<Cache>,
}

/// `nameserver` entries of a resolv.conf (as `HostResolv::nameservers` holds them) as socket
/// addresses on port 53; unparsable entries are skipped.
pub fn nameserver_addrs(nameservers: &[String]) -> Vec<SocketAddr> {
    nameservers
        .iter()
        .filter_map(|s| {
            // A zone index (fe80::1%eth0) cannot be expressed in an IpAddr: drop it.
            s.split('%').next()?.parse().ok()
        })
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

/// The any-address of `server`'s family, port 0: where a client socket towards it binds.
pub fn wildcard_for(server: SocketAddr) -> SocketAddr {
    match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    }
}

fn same_question(a: &Message, b: &Message) -> bool {
    a.queries.len() == b.queries.len()
        && a.queries.iter().zip(&b.queries).all(|(x, y)| {
            x.name() == y.name()
                && x.query_type() == y.query_type()
                && x.query_class() == y.query_class()
        })
}

async fn timed<T>(
    d: Duration,
    server: SocketAddr,
    f: impl std::future::Future<Output = Result<T, UpstreamError>>,
) -> Result<T, UpstreamError> {
    smol::future::or(f, async {
        Timer::after(d).await;
        Err(UpstreamError::Timeout { server })
    })
    .await
}

impl Upstream {
    pub fn new(servers: Vec<SocketAddr>) -> Upstream {
        Upstream {
            servers,
            timeout: DEFAULT_TIMEOUT,
            cache: Mutex::new(Cache::new(DEFAULT_CACHE_ENTRIES)),
        }
    }

    /// Time to wait for one server before trying the next.
    pub fn with_timeout(mut self, timeout: Duration) -> Upstream {
        self.timeout = timeout;
        self
    }

    pub fn with_cache_entries(mut self, entries: usize) -> Upstream {
        self.cache = Mutex::new(Cache::new(entries));
        self
    }

    pub fn servers(&self) -> &[SocketAddr] {
        &self.servers
    }

    pub fn cached_entries(&self) -> usize {
        self.cache.lock().map(|c| c.len()).unwrap_or(0)
    }

    pub async fn resolve(&self, q: &Query) -> Result<Resolved, UpstreamError> {
        let key = Key::of(q);
        if let Some(hit) = self.with_cache(|c| c.get(&key, Instant::now())) {
            return Ok(hit);
        }
        let mut last = UpstreamError::NoServers;
        for &server in &self.servers {
            let mut req = Message::query();
            req.metadata.recursion_desired = true;
            req.add_query(q.clone());
            let mut edns = Edns::new();
            edns.set_max_payload(EDNS_PAYLOAD);
            req.set_edns(edns);
            match self.exchange(server, &req).await {
                Ok(resp)
                    if matches!(
                        resp.metadata.response_code,
                        ResponseCode::NoError | ResponseCode::NXDomain
                    ) =>
                {
                    let resolved = Resolved {
                        rcode: resp.metadata.response_code,
                        answers: resp.answers,
                        authorities: resp.authorities,
                        additionals: resp.additionals,
                        from_cache: false,
                    };
                    self.with_cache(|c| c.insert(key, &resolved, Instant::now()));
                    return Ok(resolved);
                }
                Ok(resp) => {
                    last = UpstreamError::Failed {
                        server,
                        rcode: resp.metadata.response_code,
                    }
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn with_cache<T: Default>(&self, f: impl FnOnce(&mut Cache) -> T) -> T {
        // A poisoned cache only means a panic elsewhere mid-update: serve without it.
        self.cache.lock().map(|mut c| f(&mut c)).unwrap_or_default()
    }

    async fn exchange(&self, server: SocketAddr, req: &Message) -> Result<Message, UpstreamError> {
        let bytes = req.to_vec().map_err(UpstreamError::Encode)?;
        let resp = timed(self.timeout, server, self.udp(server, req, &bytes)).await?;
        if !resp.metadata.truncation {
            return Ok(resp);
        }
        timed(self.timeout, server, self.tcp(server, req, &bytes)).await
    }

    async fn udp(
        &self,
        server: SocketAddr,
        req: &Message,
        bytes: &[u8],
    ) -> Result<Message, UpstreamError> {
        let io = |source| UpstreamError::Io { server, source };
        let sock = UdpSocket::bind(wildcard_for(server)).await.map_err(io)?;
        sock.connect(server).await.map_err(io)?;
        sock.send(bytes).await.map_err(io)?;
        let mut buf = vec![0u8; 65535];
        loop {
            let n = sock.recv(&mut buf).await.map_err(io)?;
            if let Some(resp) = accept(req, &buf[..n]) {
                return Ok(resp);
            }
        }
    }

    async fn tcp(
        &self,
        server: SocketAddr,
        req: &Message,
        bytes: &[u8],
    ) -> Result<Message, UpstreamError> {
        let io = |source| UpstreamError::Io { server, source };
        let mut stream = TcpStream::connect(server).await.map_err(io)?;
        write_frame(&mut stream, bytes).await.map_err(io)?;
        while let Some(frame) = read_frame(&mut stream).await.map_err(io)? {
            if let Some(resp) = accept(req, &frame) {
                return Ok(resp);
            }
        }
        Err(io(std::io::ErrorKind::UnexpectedEof.into()))
    }
}

/// The reply to `req` in `packet`, or `None` for anything else (garbage, other ids, queries).
fn accept(req: &Message, packet: &[u8]) -> Option<Message> {
    let resp = Message::from_vec(packet).ok()?;
    (resp.metadata.id == req.metadata.id
        && resp.metadata.message_type == MessageType::Response
        && same_question(req, &resp))
    .then_some(resp)
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use hickory_proto::rr::{Name, RecordType};

    use super::*;

    #[test]
    fn nameservers_parse_to_port_53() {
        let got = nameserver_addrs(&[
            "192.0.2.53".into(),
            "2001:db8::53".into(),
            "fe80::1%eth0".into(),
            "bogus".into(),
        ]);
        let want: Vec<SocketAddr> = vec![
            "192.0.2.53:53".parse().unwrap(),
            "[2001:db8::53]:53".parse().unwrap(),
            "[fe80::1]:53".parse().unwrap(),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn only_the_matching_reply_is_accepted() {
        let q = Query::query(Name::from_str("example.com.").unwrap(), RecordType::A);
        let mut req = Message::query();
        req.add_query(q.clone());
        let mut reply = Message::response(req.metadata.id, req.metadata.op_code);
        reply.add_query(q);
        assert!(accept(&req, &reply.to_vec().unwrap()).is_some());
        let mut other_id = reply.clone();
        other_id.metadata.id = req.metadata.id.wrapping_add(1);
        assert!(accept(&req, &other_id.to_vec().unwrap()).is_none());
        let mut other_q = reply.clone();
        other_q.queries[0].set_query_type(RecordType::AAAA);
        assert!(accept(&req, &other_q.to_vec().unwrap()).is_none());
        assert!(accept(&req, &req.to_vec().unwrap()).is_none());
        assert!(accept(&req, b"\x01\x02junk").is_none());
    }

    #[test]
    fn no_servers_is_an_error() {
        let up = Upstream::new(vec![]);
        let q = Query::query(Name::from_str("example.com.").unwrap(), RecordType::A);
        let r = smol::block_on(up.resolve(&q));
        assert!(matches!(r, Err(UpstreamError::NoServers)));
    }
}
