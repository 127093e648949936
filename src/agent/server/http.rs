//! HTTPS front of the agent's streaming server: mutual TLS, HTTP/1.1 with upgrades, routing.
//!
//! Contract: the TLS handshake requires a client certificate chaining to the cluster CA; every
//! request is then served by path (see the module above). Upgrade requests are answered with
//! `101 Switching Protocols` and the session runs on the upgraded connection; plain requests
//! get text or JSON, errors as `text/plain` with the status code.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_rustls::TlsAcceptor;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use rustls::server::WebPkiClientVerifier;
use rustls::ServerConfig;
use smol::net::{TcpListener, TcpStream};
use smol_hyper::rt::{FuturesIo, SmolTimer};

use super::exec::{self, Streams};
use super::logs::{self, LogOptions};
use super::stats::Sampler;
use super::{portforward, ws, ContainerIo, ExecRequest, PodLookup};
use crate::api::body::{self, Body};
use crate::api::http::{ca_roots, read_certs, read_key, HttpError, HANDSHAKE_TIMEOUT};
use crate::api::request::{parse_query, query_all};

/// How often the background sampler refreshes usage (the metrics `window`).
pub const SAMPLE_PERIOD: Duration = Duration::from_secs(10);

/// Shared state of the agent's streaming server.
pub struct AgentServer {
    pub lookup: Arc<dyn PodLookup>,
    pub io: Arc<dyn ContainerIo>,
    pub sampler: Sampler,
}

impl AgentServer {
    /// `proc_root` is `/proc` outside tests.
    pub fn new(
        lookup: Arc<dyn PodLookup>,
        io: Arc<dyn ContainerIo>,
        proc_root: PathBuf,
    ) -> Arc<AgentServer> {
        Arc::new(AgentServer {
            lookup,
            io,
            sampler: Sampler::new(proc_root),
        })
    }
}

/// TLS settings of the agent: its serving certificate, and client certificates REQUIRED to
/// chain to `ca`. ALPN offers only HTTP/1.1, which upgrades need.
pub fn tls_config(ca: &Path, cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, HttpError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = ca_roots(ca)?;
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| HttpError::Verifier(e.to_string()))?;
    let mut cfg = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(read_certs(cert)?, read_key(key)?)?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// hyper's upgraded connection as a futures-io stream.
pub struct UpgradedIo(pub hyper::upgrade::Upgraded);

impl futures_lite::AsyncRead for UpgradedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut rb = hyper::rt::ReadBuf::new(buf);
        match hyper::rt::Read::poll_read(Pin::new(&mut self.0), cx, rb.unfilled()) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(rb.filled().len())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl futures_lite::AsyncWrite for UpgradedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        hyper::rt::Write::poll_write(Pin::new(&mut self.0), cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        hyper::rt::Write::poll_flush(Pin::new(&mut self.0), cx)
    }
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        hyper::rt::Write::poll_shutdown(Pin::new(&mut self.0), cx)
    }
}

/// Accept connections until `stop` fires; a sampler refreshes usage every [`SAMPLE_PERIOD`].
pub async fn serve(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    srv: Arc<AgentServer>,
    stop: smol::channel::Receiver<()>,
) {
    let sampler_srv = srv.clone();
    let sampler_stop = stop.clone();
    let sampler = smol::spawn(async move {
        loop {
            let s = sampler_srv.clone();
            smol::unblock(move || s.sampler.sample(&*s.lookup, &*s.io)).await;
            let tick = async {
                async_io::Timer::after(SAMPLE_PERIOD).await;
                true
            };
            if !futures_lite::future::or(tick, async {
                let _ = sampler_stop.recv().await;
                false
            })
            .await
            {
                return;
            }
        }
    });
    let acceptor = TlsAcceptor::from(tls);
    crate::api::http::accept_until(&listener, &stop, |tcp, _| {
        let acceptor = acceptor.clone();
        let srv = srv.clone();
        crate::rt::spawn(connection(tcp, acceptor, srv)).detach();
    })
    .await;
    sampler.cancel().await;
}

async fn connection(tcp: TcpStream, acceptor: TlsAcceptor, srv: Arc<AgentServer>) {
    let _ = tcp.set_nodelay(true);
    let handshake = futures_lite::future::or(async { Some(acceptor.accept(tcp).await) }, async {
        async_io::Timer::after(HANDSHAKE_TIMEOUT).await;
        None
    })
    .await;
    let Some(Ok(tls)) = handshake else { return };
    let svc = service_fn(move |req| {
        let srv = srv.clone();
        async move { Ok::<_, std::convert::Infallible>(handle(&srv, req).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(SmolTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .serve_connection(FuturesIo::new(tls), svc)
        .with_upgrades()
        .await;
}

fn plain(code: u16, msg: &str) -> Response<Body> {
    body::text(code, &format!("{msg}\n"))
}

fn header_str(req: &Request<Incoming>, name: header::HeaderName) -> &str {
    req.headers()
        .get(name)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
}

fn wants_upgrade(req: &Request<Incoming>, proto: &str) -> bool {
    header_str(req, header::CONNECTION)
        .split(',')
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
        && header_str(req, header::UPGRADE).eq_ignore_ascii_case(proto)
}

/// The first offered subprotocol we speak.
fn pick_protocol(req: &Request<Incoming>, ours: &[&'static str]) -> Option<&'static str> {
    let offered: Vec<String> = req
        .headers()
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(',').map(|p| p.trim().to_string()))
        .collect();
    ours.iter()
        .copied()
        .find(|p| offered.iter().any(|o| o == p))
}

/// 101 for a WebSocket handshake with the chosen subprotocol.
fn ws_accept(req: &Request<Incoming>, proto: &str) -> Response<Body> {
    let key = header_str(req, header::SEC_WEBSOCKET_KEY);
    let mut r = body::text(101, "");
    r.headers_mut().remove(header::CONTENT_TYPE);
    let h = r.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(v) = HeaderValue::from_str(&ws::accept_key(key)) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    if let Ok(v) = HeaderValue::from_str(proto) {
        h.insert(header::SEC_WEBSOCKET_PROTOCOL, v);
    }
    r
}

/// Run `session` on the connection once hyper hands it over after our 101.
fn on_upgrade<F, Fut>(req: &mut Request<Incoming>, session: F)
where
    F: FnOnce(UpgradedIo) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let upgrade = hyper::upgrade::on(req);
    crate::rt::spawn(async move {
        if let Ok(up) = upgrade.await {
            session(UpgradedIo(up)).await;
        }
    })
    .detach();
}

fn flag(q: &HashMap<String, String>, k: &str) -> bool {
    q.get(k).is_some_and(|v| v == "true" || v == "1")
}

fn now_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// Answer one request.
pub async fn handle(srv: &Arc<AgentServer>, mut req: Request<Incoming>) -> Response<Body> {
    if req.method() != Method::GET && req.method() != Method::POST {
        return plain(405, "method not allowed");
    }
    let path = req.uri().path().to_string();
    let raw_query = req.uri().query().map(str::to_string);
    let q = parse_query(raw_query.as_deref());
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match parts.as_slice() {
        ["healthz"] => plain(200, "ok"),
        ["metrics", "resource"] | ["stats", "summary"] => {
            if srv.sampler.stale() {
                let s = srv.clone();
                smol::unblock(move || s.sampler.sample(&*s.lookup, &*s.io)).await;
            }
            let sum = srv.sampler.summary(&*srv.lookup);
            body::json(200, &serde_json::to_value(sum).unwrap_or_default())
        }
        ["containerLogs", ns, pod, container] => container_logs(srv, ns, pod, container, &q).await,
        [verb @ ("exec" | "attach"), ns, pod, container] => {
            let Some(c) = srv.lookup.container(ns, pod, container) else {
                return plain(
                    404,
                    &format!("container {container} not found in pod {ns}/{pod}"),
                );
            };
            if !c.running {
                return plain(400, &format!("container {container} is not running"));
            }
            if !wants_upgrade(&req, "websocket") {
                return plain(
                    400,
                    "exec and attach need a WebSocket upgrade (v5.channel.k8s.io)",
                );
            }
            let Some(proto) = pick_protocol(&req, exec::PROTOCOLS) else {
                return plain(
                    400,
                    "no supported subprotocol: use v5.channel.k8s.io or v4.channel.k8s.io",
                );
            };
            let streams = Streams {
                stdin: flag(&q, "stdin") || flag(&q, "input"),
                stdout: flag(&q, "stdout") || flag(&q, "output"),
                stderr: flag(&q, "stderr") || flag(&q, "error"),
                tty: flag(&q, "tty"),
            };
            let io = srv.io.clone();
            let resp = ws_accept(&req, proto);
            if *verb == "exec" {
                let args = query_all(raw_query.as_deref(), "command");
                if args.is_empty() {
                    return plain(400, "you must specify at least 1 command");
                }
                let er = ExecRequest {
                    args,
                    tty: streams.tty,
                    stdin: streams.stdin,
                };
                on_upgrade(&mut req, move |up| {
                    exec::serve_exec(up, io, c.id, er, streams)
                });
            } else {
                on_upgrade(&mut req, move |up| {
                    exec::serve_attach(up, io, c.id, streams)
                });
            }
            resp
        }
        ["portforward", ns, pod] => {
            let Some(netns) = srv.lookup.pod_netns(ns, pod) else {
                return plain(404, &format!("pod {ns}/{pod} not found"));
            };
            let dial = portforward::netns_dialer(netns);
            let name = pod.to_string();
            if wants_upgrade(&req, "websocket") {
                match pick_protocol(&req, &["SPDY/3.1+portforward.k8s.io", "portforward.k8s.io"]) {
                    Some(p @ "SPDY/3.1+portforward.k8s.io") => {
                        let resp = ws_accept(&req, p);
                        on_upgrade(&mut req, move |up| async move {
                            let (input, out, writer) = portforward::ws_transport(up);
                            portforward::spdy_session(input, out, dial, name).await;
                            writer.await;
                        });
                        resp
                    }
                    Some(p) => {
                        let ports = match portforward::parse_ports(&query_all(
                            raw_query.as_deref(),
                            "ports",
                        )) {
                            Ok(p) => p,
                            Err(e) => return plain(400, &e),
                        };
                        let resp = ws_accept(&req, p);
                        on_upgrade(&mut req, move |up| {
                            portforward::ws_session(up, ports, dial, name)
                        });
                        resp
                    }
                    None => plain(
                        400,
                        "no supported subprotocol: use SPDY/3.1+portforward.k8s.io",
                    ),
                }
            } else if wants_upgrade(&req, "SPDY/3.1") {
                let mut resp = body::text(101, "");
                let h = resp.headers_mut();
                h.remove(header::CONTENT_TYPE);
                h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
                h.insert(header::UPGRADE, HeaderValue::from_static("SPDY/3.1"));
                h.insert(
                    "X-Stream-Protocol-Version",
                    HeaderValue::from_static("portforward.k8s.io"),
                );
                on_upgrade(&mut req, move |up| async move {
                    let (input, out, writer) = portforward::raw_transport(up);
                    portforward::spdy_session(input, out, dial, name).await;
                    writer.await;
                });
                resp
            } else {
                plain(400, "port-forward needs an upgrade (WebSocket or SPDY/3.1)")
            }
        }
        _ => plain(404, "not found"),
    }
}

async fn container_logs(
    srv: &Arc<AgentServer>,
    ns: &str,
    pod: &str,
    container: &str,
    q: &HashMap<String, String>,
) -> Response<Body> {
    let Some(c) = srv.lookup.container(ns, pod, container) else {
        return plain(
            404,
            &format!("container {container} not found in pod {ns}/{pod}"),
        );
    };
    let opts = match LogOptions::from_query(q, now_nanos()) {
        Ok(o) => o,
        Err(e) => return plain(400, &e.to_string()),
    };
    let path = if opts.previous {
        match c.previous_log_path.clone() {
            Some(p) => p,
            None => {
                return plain(
                    400,
                    &format!(
                        "previous terminated container \"{container}\" in pod \"{pod}\" not found"
                    ),
                )
            }
        }
    } else {
        c.log_path.clone()
    };
    if !path.exists() {
        // A container that never wrote anything has no file yet: empty output.
        if !opts.follow || !c.running {
            return body::text(200, "");
        }
    }
    let (tx, resp) = body::stream("text/plain");
    let lookup = srv.lookup.clone();
    let (ns, pod, name, id) = (
        ns.to_string(),
        pod.to_string(),
        container.to_string(),
        c.id.clone(),
    );
    let previous = opts.previous;
    crate::rt::spawn(async move {
        // Wait briefly for a log file that is about to appear.
        for _ in 0..50 {
            if path.exists() {
                break;
            }
            async_io::Timer::after(logs::POLL).await;
        }
        let running = move || {
            !previous
                && lookup
                    .container(&ns, &pod, &name)
                    .is_some_and(|c| c.running && c.id == id)
        };
        if let Err(e) = logs::stream_logs(&path, opts, tx.clone(), running).await {
            let _ = tx.send(bytes::Bytes::from(format!("{e}\n"))).await;
        }
    })
    .detach();
    let mut resp = resp;
    *resp.status_mut() = StatusCode::OK;
    resp
}
