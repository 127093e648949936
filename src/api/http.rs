//! The HTTPS front door: TLS (rustls, client certificates optional at the handshake), ALPN
//! choosing HTTP/2 or HTTP/1.1, and one hyper connection task per client.
//!
//! Contract: a client certificate signed by the cluster CA authenticates the request as its
//! CommonName with its Organizations as groups; without one the request is anonymous and only
//! the health and version endpoints answer. A handshake that does not finish within
//! [`HANDSHAKE_TIMEOUT`] is dropped, so half-open or garbage connections cost nothing lasting.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures_rustls::TlsAcceptor;
use hyper::service::service_fn;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use smol::net::{TcpListener, TcpStream};
use smol_hyper::rt::{FuturesIo, SmolTimer};

use super::server::{ApiServer, User};
use crate::rt::{self, HyperExecutor};

pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("no {what} found in {path}")]
    Missing { what: &'static str, path: String },
    #[error("tls configuration: {0}")]
    Tls(#[from] rustls::Error),
    #[error("client verifier: {0}")]
    Verifier(String),
}

pub fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, HttpError> {
    let data = std::fs::read(path).map_err(|source| HttpError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let certs: Vec<_> = rustls_pemfile::certs(&mut data.as_slice())
        .filter_map(Result::ok)
        .collect();
    if certs.is_empty() {
        return Err(HttpError::Missing {
            what: "certificate",
            path: path.display().to_string(),
        });
    }
    Ok(certs)
}

pub fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, HttpError> {
    let data = std::fs::read(path).map_err(|source| HttpError::Io {
        path: path.display().to_string(),
        source,
    })?;
    rustls_pemfile::private_key(&mut data.as_slice())
        .ok()
        .flatten()
        .ok_or(HttpError::Missing {
            what: "private key",
            path: path.display().to_string(),
        })
}

/// The certificates of a CA bundle as a trust store.
pub fn ca_roots(ca: &Path) -> Result<RootCertStore, HttpError> {
    let mut roots = RootCertStore::empty();
    for c in read_certs(ca)? {
        roots.add(c)?;
    }
    Ok(roots)
}

/// TLS settings: the serving certificate, the cluster CA for client certificates, ALPN h2 and
/// http/1.1.
pub fn tls_config(ca: &Path, cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, HttpError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = ca_roots(ca)?;
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| HttpError::Verifier(e.to_string()))?;
    let mut cfg = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(read_certs(cert)?, read_key(key)?)?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// The user a verified client certificate names.
fn user_of(cert: &CertificateDer<'_>) -> Option<User> {
    let (_, x) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let subject = x.subject();
    let name = subject
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())?
        .to_string();
    let groups = subject
        .iter_organization()
        .filter_map(|o| o.as_str().ok().map(str::to_string))
        .collect();
    Some(User { name, groups })
}

/// Accept connections until `stop` fires.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    api: Arc<ApiServer>,
    stop: smol::channel::Receiver<()>,
) {
    let acceptor = TlsAcceptor::from(tls);
    accept_until(&listener, &stop, |tcp, peer| {
        let acceptor = acceptor.clone();
        let api = api.clone();
        rt::spawn(async move { connection(tcp, peer, acceptor, api).await }).detach();
    })
    .await;
}

/// Hand every accepted connection to `on_conn` until `stop` fires.
pub async fn accept_until(
    listener: &TcpListener,
    stop: &smol::channel::Receiver<()>,
    mut on_conn: impl FnMut(TcpStream, SocketAddr),
) {
    loop {
        let accepted = futures_lite::future::or(async { Some(listener.accept().await) }, async {
            let _ = stop.recv().await;
            None
        })
        .await;
        match accepted {
            None => return,
            Some(Ok((tcp, peer))) => on_conn(tcp, peer),
            Some(Err(e)) => {
                // Out of descriptors or a reset before accept: back off briefly, keep serving.
                eprintln!("kedge: accept: {e}");
                async_io::Timer::after(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn connection(tcp: TcpStream, _peer: SocketAddr, acceptor: TlsAcceptor, api: Arc<ApiServer>) {
    let _ = tcp.set_nodelay(true);
    let handshake = futures_lite::future::or(async { Some(acceptor.accept(tcp).await) }, async {
        async_io::Timer::after(HANDSHAKE_TIMEOUT).await;
        None
    })
    .await;
    let tls = match handshake {
        Some(Ok(t)) => t,
        _ => return,
    };
    let (_, conn) = tls.get_ref();
    let user = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .and_then(user_of);
    let h2 = conn.alpn_protocol() == Some(b"h2");
    let io = FuturesIo::new(tls);
    let svc = service_fn(move |req| {
        let api = api.clone();
        let user = user.clone();
        async move { Ok::<_, std::convert::Infallible>(api.handle(req, user).await) }
    });
    if h2 {
        let _ = hyper::server::conn::http2::Builder::new(HyperExecutor)
            .timer(SmolTimer::new())
            .max_concurrent_streams(1000)
            .serve_connection(io, svc)
            .await;
    } else {
        let _ = hyper::server::conn::http1::Builder::new()
            .timer(SmolTimer::new())
            .header_read_timeout(Duration::from_secs(30))
            .serve_connection(io, svc)
            .with_upgrades()
            .await;
    }
}
