//! `kedge server`: starts the control plane in a fixed order (data dir lock → store →
//! certificates → API state, CRDs, allocations, built-in objects → HTTPS listener →
//! kubeconfig) and shuts it down in reverse on SIGTERM/SIGINT.

pub mod config;
pub mod pki;
pub mod token;

use std::fs;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use nix::sys::signal::{SigSet, Signal};

use crate::api::server::{ApiConfig, ApiServer};
use crate::clock::SystemClock;
use crate::store::{Options, Store};
use config::ServerConfig;

/// Hold an exclusive lock on the data dir so two servers never share one store.
fn lock_data_dir(dir: &Path) -> Result<OwnedFd> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(".lock");
    let f = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    let fd = OwnedFd::from(f);
    if rustix::fs::flock(&fd, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_err() {
        bail!(
            "another kedge server is using {} (lock {} is held)",
            dir.display(),
            path.display()
        );
    }
    Ok(fd)
}

/// Addresses of this machine's interfaces, for the serving certificate.
fn node_addresses() -> Vec<IpAddr> {
    let mut out = Vec::new();
    if let Ok(addrs) = nix::ifaddrs::getifaddrs() {
        for a in addrs {
            let Some(sa) = a.address else { continue };
            if let Some(v4) = sa.as_sockaddr_in() {
                out.push(IpAddr::V4(v4.ip()));
            } else if let Some(v6) = sa.as_sockaddr_in6() {
                let ip = v6.ip();
                // Link-local addresses need a zone and are useless in a certificate.
                if (ip.segments()[0] & 0xffc0) != 0xfe80 {
                    out.push(IpAddr::V6(ip));
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

fn advertise(cfg: &ServerConfig, addrs: &[IpAddr]) -> IpAddr {
    if let Some(a) = cfg.advertise_address {
        return a;
    }
    if !cfg.bind_address.is_unspecified() {
        return cfg.bind_address;
    }
    addrs
        .iter()
        .find(|a| a.is_ipv4() && !a.is_loopback())
        .copied()
        .unwrap_or(IpAddr::from([127, 0, 0, 1]))
}

/// Block SIGTERM/SIGINT in every thread (call before any thread starts) and return a channel
/// that fires when one arrives.
pub fn shutdown_signal() -> Result<smol::channel::Receiver<()>> {
    let mut set = SigSet::empty();
    set.add(Signal::SIGTERM);
    set.add(Signal::SIGINT);
    set.thread_block().context("blocking signals")?;
    let (tx, rx) = smol::channel::bounded(1);
    std::thread::Builder::new()
        .name("kedge-signals".into())
        .spawn(move || {
            if set.wait().is_ok() {
                let _ = tx.send_blocking(());
            }
        })
        .context("starting the signal thread")?;
    Ok(rx)
}

pub fn run(cfg: ServerConfig) -> Result<()> {
    let stop = shutdown_signal()?;
    let server_dir = cfg.data_dir.join("server");
    let _lock = lock_data_dir(&server_dir)?;
    let store = Store::open(&server_dir.join("db"), Options::default())
        .with_context(|| format!("opening the store in {}", server_dir.display()))?;
    let addrs = node_addresses();
    let hostname = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default();
    let adv = advertise(&cfg, &addrs);
    let mut san_addrs = addrs.clone();
    san_addrs.push(adv);
    let first_svc = IpAddr::V4(std::net::Ipv4Addr::from(
        u32::from(cfg.service_cidr.network()) + 1,
    ));
    let sans = pki::wanted_sans(&hostname, &san_addrs, first_svc, &cfg.tls_san);
    let pki = pki::ensure(&server_dir.join("tls"), &sans).context("creating certificates")?;
    let tls = crate::api::http::tls_config(&pki.ca_cert, &pki.serving_cert, &pki.serving_key)
        .context("loading certificates")?;
    let api = ApiServer::new(
        store.clone(),
        Arc::new(SystemClock),
        ApiConfig {
            service_cidr: cfg.service_cidr,
            cluster_cidr: cfg.cluster_cidr,
            advertise_ip: adv,
            port: cfg.port,
            default_toleration_seconds: cfg.controllers.default_toleration_seconds,
        },
    );
    let ca_pem = fs::read_to_string(&pki.ca_cert).context("reading the cluster CA")?;
    let token = token::ensure(&server_dir, &ca_pem).context("creating the join token")?;
    api.auth.set_ca(ca_pem);
    api.auth
        .set_cluster(serde_json::to_value(&cfg.network).context("cluster settings")?);
    // The API server reaches agents' streaming endpoints (logs, exec, port-forward, metrics)
    // with the admin client certificate.
    let _ = api.kubelet.set(
        crate::api::proxy::client_config(&pki.ca_cert, &pki.admin_cert, &pki.admin_key)
            .context("loading the client certificate for agents")?,
    );
    let tls_dir = pki.dir.clone();
    api.auth.set_signer(Box::new(move |node, ips| {
        pki::node_serving_cert(&tls_dir, node, ips).map_err(|e| e.to_string())
    }));
    api.auth.add_token(
        &token,
        crate::api::server::User {
            name: "kedge-agent".into(),
            groups: vec!["system:nodes".into(), "system:authenticated".into()],
        },
    );
    crate::rt::block_on(async move {
        crate::api::handlers::startup(&api).map_err(|e| anyhow::anyhow!("{e}"))?;
        crate::api::bootstrap::run(&api)
            .await
            .map_err(|e| anyhow::anyhow!("creating built-in objects: {e}"))?;
        let mut settings = cfg.controllers.clone();
        settings.cluster_cidr = cfg.cluster_cidr;
        crate::controller::start(api.clone(), settings, stop.clone());
        let addr = SocketAddr::new(cfg.bind_address, cfg.port);
        let listener = smol::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("listening on {addr}"))?;
        let host = if cfg.bind_address.is_unspecified() {
            "127.0.0.1".to_string()
        } else {
            match cfg.bind_address {
                IpAddr::V6(a) => format!("[{a}]"),
                a => a.to_string(),
            }
        };
        let url = format!("https://{host}:{}", cfg.port);
        pki::write_kubeconfig(&cfg.write_kubeconfig, &url, &pki, cfg.write_kubeconfig_mode)
            .context("writing the kubeconfig")?;
        eprintln!(
            "kedge: API server listening on {addr}; kubeconfig {}",
            cfg.write_kubeconfig.display(),
        );
        let agent = (!cfg.disable_agent).then(|| {
            let (api, flags, data, tls_dir, svc, stop) = (
                api.clone(),
                cfg.agent.clone(),
                cfg.data_dir.clone(),
                pki.dir.clone(),
                cfg.network.clone(),
                stop.clone(),
            );
            crate::rt::spawn(async move {
                let r = crate::agent::start::run_in_server(
                    api,
                    &flags,
                    &data,
                    &tls_dir,
                    svc,
                    stop.clone(),
                )
                .await;
                if let Err(e) = &r {
                    // A server whose node cannot run pods is not what was asked for: ask every
                    // component to stop (closing the channel wakes all of them).
                    eprintln!("kedge: node agent failed: {e:#}");
                    stop.close();
                }
                r
            })
        });
        crate::api::http::serve(listener, tls, api, stop).await;
        eprintln!("kedge: shutting down");
        if let Some(a) = agent {
            // The agent stops on the same signal; pods keep running.
            a.await.context("the node agent")?;
        }
        Ok::<(), anyhow::Error>(())
    })?;
    store.close();
    Ok(())
}
