//! Starting a node agent: inside `kedge server` (same process, the API through the in-process
//! client) or as `kedge agent --server URL --token TOKEN` on another machine (the API over
//! HTTPS, see [`super::join`]).
//!
//! Order: config → serving certificate for the streaming endpoint (signed by the cluster CA:
//! directly when in the server, through `/v1-kedge/serving-kubelet` when joining) → runtime,
//! images, volumes ([`super::open_deps`]) → the streaming HTTPS server on `--agent-port` → the
//! kubelet loop ([`super::run_with`]) until `stop` fires. Pods keep running after it returns.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use hyper::Method;

use super::client::NodeClient;
use super::config::AgentConfig;
use super::flags::AgentFlags;
use super::network::settings::ClusterNet;
use super::server::{self as streaming, AgentServer};

/// Where the streaming endpoint's certificate lives and which CA its clients must carry.
struct ServingFiles {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn write_serving(agent_dir: &Path, ca: PathBuf, cert: &str, key: &str) -> Result<ServingFiles> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(agent_dir)
        .with_context(|| format!("creating {}", agent_dir.display()))?;
    let files = ServingFiles {
        ca,
        cert: agent_dir.join("serving-kubelet.crt"),
        key: agent_dir.join("serving-kubelet.key"),
    };
    std::fs::write(&files.key, key).context("writing the agent's serving key")?;
    std::fs::set_permissions(&files.key, std::fs::Permissions::from_mode(0o600))?;
    std::fs::write(&files.cert, cert).context("writing the agent's serving certificate")?;
    Ok(files)
}

/// The addresses the serving certificate names: the node IP if given, else every address.
fn serving_ips(cfg: &AgentConfig) -> Vec<IpAddr> {
    match cfg.node_ip {
        Some(ip) => vec![ip],
        None => nix::ifaddrs::getifaddrs()
            .map(|a| {
                a.filter_map(|i| i.address?.as_sockaddr_in().map(|s| IpAddr::V4(s.ip())))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

async fn serve_and_run(
    cfg: AgentConfig,
    client: Arc<dyn NodeClient>,
    serving: ServingFiles,
    stop: smol::channel::Receiver<()>,
) -> Result<()> {
    let opened = super::open_deps(&cfg)?;
    let table = Arc::new(super::lookup::PodTable::default());
    let tls = streaming::tls_config(&serving.ca, &serving.cert, &serving.key)
        .context("loading the agent's serving certificate")?;
    let bind = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), cfg.port);
    let listener = smol::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("agent endpoint: listening on {bind}"))?;
    let srv = AgentServer::new(table.clone(), opened.runtime.clone(), cfg.proc_root.clone());
    let server_task = crate::rt::spawn(streaming::serve(listener, tls, srv, stop.clone()));
    eprintln!(
        "kedge: agent for node {} (streaming endpoint on {bind})",
        cfg.node_name
    );
    let result = super::run_with(cfg, client, opened.deps, opened.facts, table, stop).await;
    server_task.await;
    result
}

/// The agent of `kedge server`: in-process client, certificate signed with the server's CA.
pub async fn run_in_server(
    api: Arc<crate::api::server::ApiServer>,
    flags: &AgentFlags,
    data_dir: &Path,
    tls_dir: &Path,
    network: ClusterNet,
    stop: smol::channel::Receiver<()>,
) -> Result<()> {
    let mut cfg = AgentConfig::from_flags(flags, data_dir, true)?;
    if cfg.cluster_dns.is_none() {
        cfg.cluster_dns = Some(network.dns_ip());
    }
    cfg.network = network;
    let (cert, key) =
        crate::server::pki::node_serving_cert(tls_dir, &cfg.node_name, &serving_ips(&cfg))?;
    let pki = crate::server::pki::Pki::at(tls_dir);
    let serving = write_serving(&cfg.agent_dir(), pki.ca_cert.clone(), &cert, &key)?;
    let client = Arc::new(super::client_local::LocalClient::new(
        crate::controller::client::Client::new(api),
    ));
    serve_and_run(cfg, client, serving, stop).await
}

/// `kedge agent`: join the server at `server` with the full join token.
pub async fn run_remote(
    server: &str,
    token: &str,
    flags: &AgentFlags,
    data_dir: &Path,
    stop: smol::channel::Receiver<()>,
) -> Result<()> {
    let mut cfg = AgentConfig::from_flags(flags, data_dir, false)?;
    let agent_dir = cfg.agent_dir();
    let target = super::join::connect(server, token, &agent_dir).await?;
    let mut query = format!("node={}", cfg.node_name);
    for ip in serving_ips(&cfg) {
        query.push_str(&format!("&ip={ip}"));
    }
    let mut conn = target.connect().await.context("connecting to the server")?;
    let (code, body) = conn
        .request(
            Method::POST,
            &format!("/v1-kedge/serving-kubelet?{query}"),
            None,
        )
        .await
        .context("requesting a serving certificate")?;
    if code != 201 {
        bail!(
            "the server refused a serving certificate (HTTP {code}): {}",
            String::from_utf8_lossy(&body)
        );
    }
    let v: serde_json::Value = serde_json::from_slice(&body)?;
    let (cert, key) = match (v["cert"].as_str(), v["key"].as_str()) {
        (Some(c), Some(k)) => (c.to_string(), k.to_string()),
        _ => return Err(anyhow!("the server's certificate answer has no cert/key")),
    };
    // Older servers send no settings: the defaults are the server's defaults.
    if let Some(c) = v.get("cluster").filter(|c| c.is_object()) {
        cfg.network = serde_json::from_value(c.clone())
            .context("reading the cluster network settings from the server")?;
    }
    if cfg.cluster_dns.is_none() {
        cfg.cluster_dns = Some(cfg.network.dns_ip());
    }
    let serving = write_serving(&agent_dir, agent_dir.join("server-ca.crt"), &cert, &key)?;
    let client = super::client_http::HttpClient::new(target);
    serve_and_run(cfg, client, serving, stop).await
}
