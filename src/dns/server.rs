//! The cluster DNS server: UDP and TCP on one address, answering from the current [`Records`]
//! snapshot and forwarding the rest through an [`Upstream`].
//!
//! Contract:
//! - [`DnsListener::bind`] is synchronous and binds UDP and TCP on the same address on the
//!   calling thread, hence in that thread's network namespace (port 0 picks one port free for
//!   both). [`serve`] is bind + [`DnsServer::run`].
//! - `run` serves until `stop` yields a message or is closed, then returns `Ok(())`, dropping
//!   in-flight queries. Every task runs on a local executor driven by the future's poller, so
//!   upstream sockets too open in the poller's network namespace and no thread is spawned.
//! - Queries are answered concurrently (one task per UDP datagram, one per TCP connection, which
//!   answers its queries in order). At most [`MAX_IN_FLIGHT`] UDP queries and
//!   [`MAX_CONNECTIONS`] TCP connections are served at once; datagrams beyond are dropped (the
//!   client retries) and connections beyond are closed. Idle TCP connections close after
//!   [`TCP_IDLE`].
//! - [`RecordsHandle::store`] swaps the zone atomically: each query sees one whole snapshot.

use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use smol::channel::Receiver;
use smol::net::{TcpListener, TcpStream, UdpSocket};
use smol::{LocalExecutor, Timer};

use super::frame::{read_frame, write_frame};
use super::handler::{respond, Transport};
use super::records::Records;
use super::upstream::Upstream;

pub const MAX_IN_FLIGHT: usize = 4096;
pub const MAX_CONNECTIONS: usize = 256;
pub const TCP_IDLE: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("binding dns {proto} socket on {addr}")]
    Bind {
        proto: &'static str,
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("dns socket")]
    Io(#[source] io::Error),
}

/// The current zone, swapped whole by the agent after every Service/EndpointSlice change.
#[derive(Debug, Clone)]
pub struct RecordsHandle(Arc<RwLock<Arc<Records>>>);

impl RecordsHandle {
    pub fn new(records: Records) -> RecordsHandle {
        RecordsHandle(Arc::new(RwLock::new(Arc::new(records))))
    }

    pub fn store(&self, records: Records) {
        let new = Arc::new(records);
        match self.0.write() {
            Ok(mut g) => *g = new,
            Err(poisoned) => *poisoned.into_inner() = new,
        }
    }

    pub fn load(&self) -> Arc<Records> {
        match self.0.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

/// UDP socket and TCP listener bound to the same address.
#[derive(Debug)]
pub struct DnsListener {
    udp: UdpSocket,
    tcp: TcpListener,
}

impl DnsListener {
    pub fn bind(addr: SocketAddr) -> Result<DnsListener, DnsError> {
        let bind_err = |proto, source| DnsError::Bind {
            proto,
            addr,
            source,
        };
        // With port 0 the UDP port may be taken for TCP: try a few ports.
        let tries = if addr.port() == 0 { 16 } else { 1 };
        let mut last = None;
        for _ in 0..tries {
            let udp = std::net::UdpSocket::bind(addr).map_err(|e| bind_err("udp", e))?;
            let port = udp.local_addr().map_err(DnsError::Io)?.port();
            match std::net::TcpListener::bind(SocketAddr::new(addr.ip(), port)) {
                Ok(tcp) => {
                    return Ok(DnsListener {
                        udp: UdpSocket::try_from(udp).map_err(DnsError::Io)?,
                        tcp: TcpListener::try_from(tcp).map_err(DnsError::Io)?,
                    })
                }
                Err(e) => last = Some(e),
            }
        }
        Err(bind_err(
            "tcp",
            last.unwrap_or_else(|| io::ErrorKind::AddrInUse.into()),
        ))
    }

    pub fn local_addr(&self) -> Result<SocketAddr, DnsError> {
        self.udp.local_addr().map_err(DnsError::Io)
    }
}

pub struct DnsServer {
    records: RecordsHandle,
    upstream: Upstream,
}

/// Decrements a counter when a task ends, however it ends (finished or cancelled).
struct Slot(Rc<Cell<usize>>);

impl Slot {
    fn take(counter: &Rc<Cell<usize>>, max: usize) -> Option<Slot> {
        (counter.get() < max).then(|| {
            counter.set(counter.get() + 1);
            Slot(counter.clone())
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

/// Bind `addr` and serve until `stop` fires (see the module contract).
pub async fn serve(
    addr: SocketAddr,
    records: RecordsHandle,
    upstream: Upstream,
    stop: Receiver<()>,
) -> Result<(), DnsError> {
    let listener = DnsListener::bind(addr)?;
    DnsServer::new(records, upstream).run(listener, stop).await
}

impl DnsServer {
    pub fn new(records: RecordsHandle, upstream: Upstream) -> DnsServer {
        DnsServer { records, upstream }
    }

    /// The reply to one request as it would go out over `transport` (`None`: dropped).
    pub async fn answer(&self, packet: &[u8], transport: Transport) -> Option<Vec<u8>> {
        let records = self.records.load();
        respond(packet, &records, &self.upstream, transport).await
    }

    pub async fn run(self, listener: DnsListener, stop: Receiver<()>) -> Result<(), DnsError> {
        let ex = LocalExecutor::new();
        let this = Rc::new(self);
        let serving = async {
            let udp = this.clone().udp_loop(&ex, listener.udp);
            let tcp = this.clone().tcp_loop(&ex, listener.tcp);
            smol::future::try_zip(udp, tcp).await.map(|_| ())
        };
        let stopped = async {
            let _ = stop.recv().await;
            Ok(())
        };
        ex.run(smol::future::or(stopped, serving)).await
    }

    async fn udp_loop(
        self: Rc<Self>,
        ex: &LocalExecutor<'_>,
        sock: UdpSocket,
    ) -> Result<(), DnsError> {
        let in_flight = Rc::new(Cell::new(0));
        let mut buf = vec![0u8; 65535];
        loop {
            let (n, peer) = match sock.recv_from(&mut buf).await {
                Ok(x) => x,
                // ICMP errors from earlier replies surface here on some kernels: not fatal.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionRefused
                            | io::ErrorKind::ConnectionReset
                            | io::ErrorKind::Interrupted
                    ) =>
                {
                    continue
                }
                Err(e) => return Err(DnsError::Io(e)),
            };
            let Some(slot) = Slot::take(&in_flight, MAX_IN_FLIGHT) else {
                continue;
            };
            let packet = buf[..n].to_vec();
            let (this, sock) = (self.clone(), sock.clone());
            ex.spawn(async move {
                let _slot = slot;
                if let Some(reply) = this.answer(&packet, Transport::Udp).await {
                    // A client gone away is not the server's problem.
                    let _ = sock.send_to(&reply, peer).await;
                }
            })
            .detach();
        }
    }

    async fn tcp_loop(
        self: Rc<Self>,
        ex: &LocalExecutor<'_>,
        listener: TcpListener,
    ) -> Result<(), DnsError> {
        let conns = Rc::new(Cell::new(0));
        loop {
            let stream = match listener.accept().await {
                Ok((s, _)) => s,
                Err(e) => {
                    // Out of descriptors or an aborted handshake: back off, keep serving.
                    eprintln!("dns: accept: {e}");
                    Timer::after(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Some(slot) = Slot::take(&conns, MAX_CONNECTIONS) else {
                continue;
            };
            let this = self.clone();
            ex.spawn(async move {
                let _slot = slot;
                this.connection(stream).await;
            })
            .detach();
        }
    }

    async fn connection(&self, mut stream: TcpStream) {
        loop {
            let next = smol::future::or(read_frame(&mut stream), async {
                Timer::after(TCP_IDLE).await;
                Err(io::ErrorKind::TimedOut.into())
            });
            let Ok(Some(packet)) = next.await else {
                return;
            };
            let Some(reply) = self.answer(&packet, Transport::Tcp).await else {
                // Undecodable beyond a header: the stream cannot be trusted any more.
                return;
            };
            if write_frame(&mut stream, &reply).await.is_err() {
                return;
            }
        }
    }
}
