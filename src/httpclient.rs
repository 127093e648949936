//! A minimal HTTPS client for benchmarks, tests and remote node agents: kubeconfig client
//! certificates or a join token, one HTTP/1.1 keep-alive connection per [`Conn`], JSON requests
//! and newline-delimited streams (watches).

use std::sync::Arc;

use anyhow::{anyhow, Context, Result};
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request};
use rustls::pki_types::ServerName;
use smol_hyper::rt::FuturesIo;

/// Server address and TLS settings from a kubeconfig.
#[derive(Clone)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub tls: Arc<rustls::ClientConfig>,
    /// `Authorization: Bearer` value for token-authenticated clients (agents).
    pub bearer: Option<String>,
}

fn b64(v: &serde_json::Value, what: &str) -> Result<Vec<u8>> {
    let s = v
        .as_str()
        .ok_or_else(|| anyhow!("kubeconfig has no {what}"))?;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .with_context(|| format!("kubeconfig {what} is not base64"))
}

impl Target {
    pub fn from_kubeconfig(path: &std::path::Path) -> Result<Target> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let kc: serde_json::Value = serde_yaml_ng::from_str(&text).context("parsing kubeconfig")?;
        let cluster = &kc["clusters"][0]["cluster"];
        let user = &kc["users"][0]["user"];
        let server = cluster["server"]
            .as_str()
            .ok_or_else(|| anyhow!("kubeconfig has no server"))?;
        let (host, port) = split_server(server)?;
        let ca = b64(
            &cluster["certificate-authority-data"],
            "certificate-authority-data",
        )?;
        let cert = b64(&user["client-certificate-data"], "client-certificate-data")?;
        let key = b64(&user["client-key-data"], "client-key-data")?;
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls_pemfile::certs(&mut ca.as_slice()) {
            roots.add(c?)?;
        }
        let chain: Vec<_> =
            rustls_pemfile::certs(&mut cert.as_slice()).collect::<Result<_, _>>()?;
        let key = rustls_pemfile::private_key(&mut key.as_slice())?
            .ok_or_else(|| anyhow!("no client key"))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)?;
        Ok(Target {
            host,
            port,
            tls: Arc::new(tls),
            bearer: None,
        })
    }

    /// A server `https://host:port` trusted through `ca_pem`, authenticated by a bearer token.
    pub fn with_token(server: &str, ca_pem: &[u8], token: &str) -> Result<Target> {
        let (host, port) = split_server(server)?;
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls_pemfile::certs(&mut &ca_pem[..]) {
            roots.add(c?)?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Target {
            host,
            port,
            tls: Arc::new(tls),
            bearer: Some(token.to_string()),
        })
    }

    /// A TLS setting that accepts any server certificate: only for fetching `/cacerts`, whose
    /// answer the caller verifies against the hash in the join token before trusting it.
    pub fn unverified(server: &str) -> Result<Target> {
        let (host, port) = split_server(server)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyServer(provider)))
            .with_no_client_auth();
        Ok(Target {
            host,
            port,
            tls: Arc::new(tls),
            bearer: None,
        })
    }

    /// Open one keep-alive connection.
    pub async fn connect(&self) -> Result<Conn> {
        let tcp = smol::net::TcpStream::connect((self.host.as_str(), self.port)).await?;
        tcp.set_nodelay(true)?;
        let name = ServerName::try_from(self.host.clone())?;
        let tls = futures_rustls::TlsConnector::from(self.tls.clone())
            .connect(name, tcp)
            .await?;
        let (send, conn) = hyper::client::conn::http1::handshake(FuturesIo::new(tls)).await?;
        // smol's global executor starts its own thread, so a client works from any thread
        // (tests run it on threads that drive no kedge executor).
        smol::spawn(async move {
            let _ = conn.await;
        })
        .detach();
        Ok(Conn {
            send,
            bearer: self.bearer.clone(),
        })
    }
}

/// `https://host:port[/]` → (host, port); IPv6 hosts lose their brackets.
fn split_server(server: &str) -> Result<(String, u16)> {
    let hostport = server
        .strip_prefix("https://")
        .ok_or_else(|| anyhow!("server {server:?} is not an https:// URL"))?
        .trim_end_matches('/');
    let (host, port) = hostport
        .rsplit_once(':')
        .ok_or_else(|| anyhow!("server {server:?} has no port"))?;
    Ok((
        host.trim_matches(['[', ']']).to_string(),
        port.parse()
            .with_context(|| format!("port of {server:?}"))?,
    ))
}

/// Accepts every certificate (see [`Target::unverified`]); signatures are still checked so
/// the handshake itself is sound.
#[derive(Debug)]
struct AnyServer(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

pub struct Conn {
    send: SendRequest<Full<Bytes>>,
    bearer: Option<String>,
}

impl Conn {
    /// Send one JSON request; returns the status code and body.
    pub async fn request(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(u16, Bytes)> {
        self.request_as(method, path, "application/json", body)
            .await
    }

    /// Send one request with an explicit Content-Type (patches).
    pub async fn request_as(
        &mut self,
        method: Method,
        path: &str,
        content_type: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(u16, Bytes)> {
        let resp = self.send_raw(method, path, content_type, body).await?;
        let code = resp.status().as_u16();
        let bytes = resp.into_body().collect().await?.to_bytes();
        Ok((code, bytes))
    }

    async fn send_raw(
        &mut self,
        method: Method,
        path: &str,
        content_type: &str,
        body: Option<Vec<u8>>,
    ) -> Result<hyper::Response<hyper::body::Incoming>> {
        self.send.ready().await?;
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, "kedge")
            .header(hyper::header::CONTENT_TYPE, content_type)
            .header(hyper::header::ACCEPT, "application/json");
        if let Some(t) = &self.bearer {
            req = req.header(hyper::header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let req = req.body(Full::new(Bytes::from(body.unwrap_or_default())))?;
        Ok(self.send.send_request(req).await?)
    }

    /// Start a streaming GET (a watch); the connection is used up by it.
    pub async fn stream(mut self, path: &str) -> Result<Lines> {
        let resp = self
            .send_raw(Method::GET, path, "application/json", None)
            .await?;
        if !resp.status().is_success() {
            return Err(anyhow!("{path}: HTTP {}", resp.status()));
        }
        Ok(Lines {
            body: resp.into_body(),
            buf: Vec::new(),
        })
    }
}

/// Newline-delimited JSON documents of a streaming response.
pub struct Lines {
    body: hyper::body::Incoming,
    buf: Vec<u8>,
}

impl Lines {
    /// The next document, `None` at the end of the stream.
    pub async fn next(&mut self) -> Result<Option<serde_json::Value>> {
        loop {
            if let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                return Ok(Some(serde_json::from_slice(&line)?));
            }
            match self.body.frame().await {
                None => return Ok(None),
                Some(f) => {
                    if let Ok(data) = f?.into_data() {
                        self.buf.extend_from_slice(&data);
                    }
                }
            }
        }
    }
}
