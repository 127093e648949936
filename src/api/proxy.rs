//! The API server's side of `pods/log`, `pods/exec`, `pods/attach` and `pods/portforward`:
//! validate against the stored Pod, then forward to the agent of the pod's node.
//!
//! Contract: the agent is reached at the Node's `InternalIP` (else its first address) and
//! `status.daemonEndpoints.kubeletEndpoint.Port` (default 10250) over TLS with the client
//! configuration set in [`ApiServer::kubelet`] (a client certificate the agent's CA accepts;
//! the agent's certificate must chain to the cluster CA, its names are not checked, as the
//! apiserver without `--kubelet-certificate-authority` does not either). Logs are streamed as
//! `text/plain`. Upgrades (WebSocket, SPDY) are replayed to the agent with the same upgrade
//! headers; once both sides answered 101, bytes are spliced both ways until one side closes.
//! Errors follow Kubernetes: 400 `pod X is not running`, `container Y is not valid for pod X`,
//! `a container name must be specified for pod X, choose one of: [a b]`.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_lite::{AsyncRead, AsyncWrite, AsyncWriteExt};
use futures_rustls::TlsConnector;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::header::{self, HeaderName};
use hyper::{Request, Response};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, SignatureScheme};
use serde_json::Value;
use smol_hyper::rt::FuturesIo;

use super::body::{self, Body};
use super::handlers::write::load;
use super::http::{ca_roots, read_certs, read_key, HttpError};
use super::server::ApiServer;
use super::status::ApiError;
use crate::agent::server::http::UpgradedIo;

/// The kubelet port when the Node does not say.
pub const DEFAULT_AGENT_PORT: u16 = 10250;
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Accepts agent certificates that chain to the cluster CA whatever names they carry.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// TLS client settings for talking to agents: trust `ca`, present `cert`/`key`.
pub fn client_config(ca: &Path, cert: &Path, key: &Path) -> Result<Arc<ClientConfig>, HttpError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = ca_roots(ca)?;
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| HttpError::Verifier(e.to_string()))?;
    let mut cfg = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(ChainOnly(inner)))
        .with_client_auth_cert(read_certs(cert)?, read_key(key)?)?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// The agent address a Node advertises.
pub fn agent_addr(node: &Value) -> Option<SocketAddr> {
    let addrs = node["status"]["addresses"].as_array()?;
    let pick = |t: &str| {
        addrs
            .iter()
            .filter(|a| a["type"] == t)
            .find_map(|a| a["address"].as_str()?.parse::<IpAddr>().ok())
    };
    let ip = pick("InternalIP")
        .or_else(|| pick("ExternalIP"))
        .or_else(|| {
            addrs
                .iter()
                .find_map(|a| a["address"].as_str()?.parse().ok())
        })?;
    let port = node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"]
        .as_u64()
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p != 0)
        .unwrap_or(DEFAULT_AGENT_PORT);
    Some(SocketAddr::new(ip, port))
}

/// Open an HTTP/1.1 connection to an agent.
pub async fn connect(
    tls: Arc<ClientConfig>,
    addr: SocketAddr,
) -> Result<hyper::client::conn::http1::SendRequest<Empty<Bytes>>, ApiError> {
    let unreachable = |e: String| ApiError::internal(format!("error dialing backend: {e}"));
    let dial = async {
        let tcp = smol::net::TcpStream::connect(addr)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        TlsConnector::from(tls)
            .connect(ServerName::IpAddress(addr.ip().into()), tcp)
            .await
            .map_err(|e| unreachable(e.to_string()))
    };
    let timeout = async {
        async_io::Timer::after(CONNECT_TIMEOUT).await;
        Err(unreachable(format!("dial tcp {addr}: i/o timeout")))
    };
    let stream = futures_lite::future::or(dial, timeout).await?;
    let (send, conn) = hyper::client::conn::http1::handshake(FuturesIo::new(stream))
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    crate::rt::spawn(async move {
        let _ = conn.with_upgrades().await;
    })
    .detach();
    Ok(send)
}

/// The pod, after the checks every streaming subresource shares.
fn stored_pod(srv: &ApiServer, ns: &str, name: &str) -> Result<Value, ApiError> {
    let def = srv
        .registry
        .by_path("", "v1", "pods")
        .ok_or_else(ApiError::not_found_path)?;
    Ok(load(srv, &def, Some(ns), name)?.0)
}

fn container_names(pod: &Value, key: &str) -> Vec<String> {
    pod["spec"][key]
        .as_array()
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The container a request targets. `strict`: several containers and none named is an error
/// (logs), else the default one is taken.
pub fn pick_container(pod: &Value, asked: Option<&str>, strict: bool) -> Result<String, ApiError> {
    let name = pod["metadata"]["name"].as_str().unwrap_or("");
    let main = container_names(pod, "containers");
    if let Some(c) = asked.filter(|c| !c.is_empty()) {
        let valid = main.iter().any(|m| m == c)
            || container_names(pod, "initContainers")
                .iter()
                .any(|m| m == c)
            || container_names(pod, "ephemeralContainers")
                .iter()
                .any(|m| m == c);
        if !valid {
            return Err(ApiError::bad_request(format!(
                "container {c} is not valid for pod {name}"
            )));
        }
        return Ok(c.to_string());
    }
    if let Some(d) = pod["metadata"]["annotations"]["kubectl.kubernetes.io/default-container"]
        .as_str()
        .filter(|d| main.iter().any(|m| m == d))
    {
        return Ok(d.to_string());
    }
    match main.as_slice() {
        [only] => Ok(only.clone()),
        [first, ..] if !strict => Ok(first.clone()),
        [] => Err(ApiError::bad_request(format!(
            "pod {name} has no containers"
        ))),
        all => Err(ApiError::bad_request(format!(
            "a container name must be specified for pod {name}, choose one of: [{}]",
            all.join(" ")
        ))),
    }
}

/// Why a container that never ran is waiting (`ContainerCreating`, `ImagePullBackOff`, ...);
/// `None` once it has run (its logs exist) or when the pod has no status for it yet.
fn waiting_reason(pod: &Value, container: &str) -> Option<String> {
    ["containerStatuses", "initContainerStatuses"]
        .iter()
        .filter_map(|k| pod["status"][k].as_array())
        .flatten()
        .find(|s| s["name"] == container)
        .filter(|s| s["lastState"]["terminated"].is_null())
        .and_then(|s| s["state"]["waiting"]["reason"].as_str())
        .map(str::to_string)
}

async fn node_of(
    srv: &ApiServer,
    pod: &Value,
) -> Result<(Arc<ClientConfig>, SocketAddr), ApiError> {
    let name = pod["metadata"]["name"].as_str().unwrap_or("");
    let node_name = pod["spec"]["nodeName"].as_str().unwrap_or("");
    if node_name.is_empty() {
        return Err(ApiError::bad_request(format!(
            "pod {name} does not have a host assigned"
        )));
    }
    let def = srv
        .registry
        .by_path("", "v1", "nodes")
        .ok_or_else(ApiError::not_found_path)?;
    let (node, _) = load(srv, &def, None, node_name)?;
    let addr = agent_addr(&node).ok_or_else(|| {
        ApiError::internal(format!(
            "node {node_name} has no address to reach its agent"
        ))
    })?;
    let tls = srv
        .kubelet
        .get()
        .cloned()
        .ok_or_else(|| ApiError::internal("the API server has no agent client certificate"))?;
    Ok((tls, addr))
}

fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The query without `container=` (the agent takes it in the path).
fn forward_query(raw: Option<&str>) -> String {
    raw.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("container="))
        .collect::<Vec<_>>()
        .join("&")
}

/// An agent error answer as an API error.
async fn agent_error(resp: Response<Incoming>) -> ApiError {
    let code = resp.status().as_u16();
    let text = match resp.into_body().collect().await {
        Ok(b) => String::from_utf8_lossy(&b.to_bytes()).trim().to_string(),
        Err(e) => e.to_string(),
    };
    match code {
        400 | 404 => ApiError::bad_request(text),
        _ => ApiError::internal(text),
    }
}

/// `GET pods/{name}/log`.
pub async fn log(
    srv: &Arc<ApiServer>,
    ns: &str,
    name: &str,
    raw_query: Option<&str>,
) -> Result<Response<Body>, ApiError> {
    let pod = stored_pod(srv, ns, name)?;
    let q = super::request::parse_query(raw_query);
    let container = pick_container(&pod, q.get("container").map(String::as_str), true)?;
    if let Some(reason) = waiting_reason(&pod, &container) {
        return Err(ApiError::bad_request(format!(
            "container \"{container}\" in pod \"{name}\" is waiting to start: {reason}"
        )));
    }
    let (tls, addr) = node_of(srv, &pod).await?;
    let mut send = connect(tls, addr).await?;
    let mut uri = format!(
        "/containerLogs/{}/{}/{}",
        encode(ns),
        encode(name),
        encode(&container)
    );
    let fq = forward_query(raw_query);
    if !fq.is_empty() {
        uri = format!("{uri}?{fq}");
    }
    let req = Request::get(uri)
        .header(header::HOST, addr.to_string())
        .body(Empty::new())
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let resp = send
        .send_request(req)
        .await
        .map_err(|e| ApiError::internal(format!("error talking to the node agent: {e}")))?;
    if !resp.status().is_success() {
        return Err(agent_error(resp).await);
    }
    let (tx, out) = body::stream("text/plain");
    crate::rt::spawn(async move {
        let mut b = resp.into_body();
        while let Some(Ok(frame)) = b.frame().await {
            if let Ok(data) = frame.into_data() {
                if tx.send(data).await.is_err() {
                    return;
                }
            }
        }
    })
    .detach();
    Ok(out)
}

const UPGRADE_HEADERS: &[&str] = &[
    "connection",
    "upgrade",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-protocol",
    "sec-websocket-extensions",
    "x-stream-protocol-version",
];

const UPGRADE_ANSWER_HEADERS: &[&str] = &[
    "connection",
    "upgrade",
    "sec-websocket-accept",
    "sec-websocket-protocol",
    "x-stream-protocol-version",
];

/// `pods/{name}/exec|attach|portforward`: check, then relay the upgrade to the agent.
pub async fn stream(
    srv: &Arc<ApiServer>,
    mut req: Request<Incoming>,
    ns: &str,
    name: &str,
    sub: &str,
) -> Result<Response<Body>, ApiError> {
    let pod = stored_pod(srv, ns, name)?;
    let raw_query = req.uri().query().map(str::to_string);
    if pod["status"]["phase"].as_str() != Some("Running") {
        return Err(ApiError::bad_request(format!("pod {name} is not running")));
    }
    let path = if sub == "portforward" {
        format!("/portforward/{}/{}", encode(ns), encode(name))
    } else {
        let q = super::request::parse_query(raw_query.as_deref());
        let container = pick_container(&pod, q.get("container").map(String::as_str), false)?;
        format!(
            "/{sub}/{}/{}/{}",
            encode(ns),
            encode(name),
            encode(&container)
        )
    };
    if !req.headers().contains_key(header::UPGRADE) {
        return Err(ApiError::bad_request(format!(
            "{sub} needs a connection upgrade (WebSocket)"
        )));
    }
    let (tls, addr) = node_of(srv, &pod).await?;
    let mut send = connect(tls, addr).await?;
    let fq = forward_query(raw_query.as_deref());
    let uri = if fq.is_empty() {
        path
    } else {
        format!("{path}?{fq}")
    };
    let mut b = Request::builder()
        .method(req.method().clone())
        .uri(uri)
        .header(header::HOST, addr.to_string());
    for (k, v) in req.headers() {
        if UPGRADE_HEADERS.contains(&k.as_str()) {
            b = b.header(k, v);
        }
    }
    let agent_req = b
        .body(Empty::new())
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let mut agent_resp = send
        .send_request(agent_req)
        .await
        .map_err(|e| ApiError::internal(format!("error talking to the node agent: {e}")))?;
    if agent_resp.status() != hyper::StatusCode::SWITCHING_PROTOCOLS {
        return Err(agent_error(agent_resp).await);
    }
    let mut out = body::text(101, "");
    out.headers_mut().remove(header::CONTENT_TYPE);
    for h in UPGRADE_ANSWER_HEADERS {
        for v in agent_resp.headers().get_all(*h) {
            out.headers_mut()
                .append(HeaderName::from_static(h), v.clone());
        }
    }
    let agent_up = hyper::upgrade::on(&mut agent_resp);
    let client_up = hyper::upgrade::on(&mut req);
    crate::rt::spawn(async move {
        let (Ok(a), Ok(c)) = (agent_up.await, client_up.await) else {
            return;
        };
        splice(UpgradedIo(c), UpgradedIo(a)).await;
    })
    .detach();
    Ok(out)
}

/// Copy bytes both ways until either side ends, then close both.
pub async fn splice<A, B>(a: A, b: B)
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let (ar, mut aw) = futures_lite::io::split(a);
    let (br, mut bw) = futures_lite::io::split(b);
    let up = async {
        let _ = futures_lite::io::copy(ar, &mut bw).await;
        let _ = bw.close().await;
    };
    let down = async {
        let _ = futures_lite::io::copy(br, &mut aw).await;
        let _ = aw.close().await;
    };
    futures_lite::future::or(up, down).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn picks_containers_like_kubernetes() {
        let pod = json!({"metadata": {"name": "web"}, "spec": {
            "containers": [{"name": "a"}, {"name": "b"}], "initContainers": [{"name": "init"}]}});
        assert_eq!(pick_container(&pod, Some("b"), true).unwrap(), "b");
        assert_eq!(pick_container(&pod, Some("init"), true).unwrap(), "init");
        assert_eq!(
            pick_container(&pod, Some("x"), true).unwrap_err().message,
            "container x is not valid for pod web"
        );
        assert_eq!(
            pick_container(&pod, None, true).unwrap_err().message,
            "a container name must be specified for pod web, choose one of: [a b]"
        );
        assert_eq!(pick_container(&pod, None, false).unwrap(), "a");
        let mut annotated = pod.clone();
        annotated["metadata"]["annotations"] =
            json!({"kubectl.kubernetes.io/default-container": "b"});
        assert_eq!(pick_container(&annotated, None, true).unwrap(), "b");
        let waiting = json!({"status": {"containerStatuses": [
            {"name": "a", "state": {"waiting": {"reason": "ContainerCreating"}}, "lastState": {}}]}});
        assert_eq!(
            waiting_reason(&waiting, "a").as_deref(),
            Some("ContainerCreating")
        );
        assert_eq!(waiting_reason(&waiting, "b"), None);
    }

    #[test]
    fn finds_the_agent_address() {
        let node = json!({"status": {"addresses": [
            {"type": "Hostname", "address": "n1"}, {"type": "InternalIP", "address": "10.0.0.5"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10350}}}});
        assert_eq!(agent_addr(&node).unwrap().to_string(), "10.0.0.5:10350");
        let bare =
            json!({"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.6"}]}});
        assert_eq!(agent_addr(&bare).unwrap().port(), DEFAULT_AGENT_PORT);
        assert_eq!(
            forward_query(Some("container=a&follow=true&tailLines=5")),
            "follow=true&tailLines=5"
        );
        assert_eq!(encode("a b/c"), "a%20b%2Fc");
    }
}
