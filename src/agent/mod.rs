//! The node agent (kubelet): registers the Node, renews its Lease, and runs the pods bound to
//! it through the in-tree runtime.
//!
//! Contract for the caller (`kedge server` in-process, `kedge agent` remotely): build an
//! [`AgentConfig`] (see [`AgentConfig::from_flags`]), a [`NodeClient`]
//! ([`client_local::LocalClient`] or the HTTPS client), then either [`run`] (opens the runtime,
//! image store, volumes and, once the node has a podCIDR, the bridge network) or
//! [`open_deps`] + [`run_with`] to share the runtime and the [`lookup::PodTable`] with the
//! streaming server. Both return when `stop` closes; pods keep running.

pub mod adapt_images;
pub mod adapt_network;
pub mod adapt_runtime;
pub mod adapt_volumes;
pub mod backoff;
pub mod checkconfig;
pub mod checkpoint;
pub mod client;
pub mod client_http;
pub mod client_local;
pub mod config;
pub mod ctrspec;
pub mod deps;
pub mod dns;
pub mod env;
pub mod events;
#[cfg(test)]
mod fakes;
pub mod flags;
pub mod httpget;
pub mod join;
pub mod lifecycle;
pub mod lookup;
pub mod manager;
pub mod netns;
pub mod network;
pub mod node;
pub mod probe;
pub mod qos;
pub mod server;
pub mod start;
pub mod status;
pub mod sysinfo;
pub mod worker;
#[cfg(test)]
mod worker_tests;

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, RwLock};
use std::time::Duration;

pub use client::NodeClient;
pub use config::AgentConfig;
use deps::Deps;
use node::{Heartbeat, NodeFacts, SharedFacts};

/// How often image disk usage is checked against the GC thresholds (the kubelet's 5 min).
const IMAGE_GC_PERIOD: Duration = Duration::from_secs(300);

/// The real dependencies, plus the runtime for the streaming server's `ContainerIo`.
pub struct Opened {
    pub deps: Deps,
    pub runtime: Arc<crate::runtime::Runtime>,
    pub facts: SharedFacts,
}

/// Open the runtime, image store and volume host for `cfg`.
pub fn open_deps(cfg: &AgentConfig) -> anyhow::Result<Opened> {
    use anyhow::Context;
    let agent_dir = cfg.agent_dir();
    std::fs::create_dir_all(agent_dir.join("pods"))
        .with_context(|| format!("creating {}", agent_dir.display()))?;
    let cgroups = Arc::new(
        crate::runtime::cgroups::Cgroups::detect(
            &cfg.sys_root.join("fs/cgroup"),
            &cfg.cgroup_parent,
        )
        .context("detecting cgroups")?,
    );
    let exe = std::fs::read_link("/proc/self/exe").context("resolving /proc/self/exe")?;
    let runtime = Arc::new(
        crate::runtime::Runtime::new(crate::runtime::RuntimeConfig {
            run_dir: cfg.run_dir.clone(),
            data_dir: agent_dir.clone(),
            cgroups: cgroups.clone(),
            exe,
        })
        .context("starting the container runtime")?,
    );
    let store = kedge_images::ImageStore::open(&agent_dir.join("images"))
        .context("opening the image store")?;
    // Air-gap images: archives dropped into the store directory are imported at start.
    for done in store.import_dir().context("importing image archives")? {
        match done.result {
            Ok(refs) => {
                for r in refs {
                    eprintln!(
                        "kedge: imported {} from {}",
                        r.repo_tags.join(", "),
                        done.archive.display()
                    );
                }
            }
            Err(e) => eprintln!("kedge: importing {}: {e}", done.archive.display()),
        }
    }
    let facts: SharedFacts = Arc::new(RwLock::new(NodeFacts::default()));
    let deps = Deps {
        runtime: Arc::new(adapt_runtime::RuntimeAdapter {
            runtime: runtime.clone(),
            cgroups,
        }),
        images: Arc::new(adapt_images::ImageAdapter(store)),
        volumes: Arc::new(adapt_volumes::VolumeAdapter {
            host: kedge_storage::VolumeHost::new(agent_dir.join("pods")),
            facts: facts.clone(),
        }),
        network: Arc::new(RwLock::new(None)),
    };
    Ok(Opened {
        deps,
        runtime,
        facts,
    })
}

/// Run the agent with the real runtime, images, volumes and bridge network.
pub async fn run(
    cfg: AgentConfig,
    client: Arc<dyn NodeClient>,
    stop: smol::channel::Receiver<()>,
) -> anyhow::Result<()> {
    let opened = open_deps(&cfg)?;
    let table = Arc::new(lookup::PodTable::default());
    run_with(cfg, client, opened.deps, opened.facts, table, stop).await
}

/// Run the agent on given dependencies until `stop` closes.
pub async fn run_with(
    cfg: AgentConfig,
    client: Arc<dyn NodeClient>,
    deps: Deps,
    facts: SharedFacts,
    table: Arc<lookup::PodTable>,
    stop: smol::channel::Receiver<()>,
) -> anyhow::Result<()> {
    let cfg = Arc::new(cfg);
    let clock: Arc<dyn crate::clock::Clock> = Arc::new(crate::clock::SystemClock);
    let network_ready = Arc::new(AtomicBool::new(false));
    let hb = Heartbeat::new(
        cfg.clone(),
        client.clone(),
        clock.clone(),
        facts.clone(),
        network_ready.clone(),
    );
    let node_task = crate::rt::spawn(hb.run(stop.clone()));
    // The node's resolvers: pods with dnsPolicy Default get them, the cluster DNS forwards
    // to them.
    let host_resolv = dns::HostResolv::parse(
        &std::fs::read_to_string(cfg.etc_root.join("resolv.conf")).unwrap_or_default(),
    );
    // The pod network needs the podCIDR the IPAM controller assigns after registration.
    let net_task = crate::rt::spawn(network::run::run(
        network::run::NetCtx {
            cfg: cfg.clone(),
            client: client.clone(),
            facts: facts.clone(),
            deps: deps.clone(),
            network_ready: network_ready.clone(),
            upstream_nameservers: host_resolv.nameservers.clone(),
        },
        stop.clone(),
    ));
    let gc_task = {
        let (images, table, cfg, stop) = (
            deps.images.clone(),
            table.clone(),
            cfg.clone(),
            stop.clone(),
        );
        crate::rt::spawn(async move {
            while !node::wait_or_stop(IMAGE_GC_PERIOD, &stop).await {
                let in_use = table.images();
                let (images, high, low) = (images.clone(), cfg.image_gc_high, cfg.image_gc_low);
                smol::unblock(move || images.gc(high, low, &in_use)).await;
            }
        })
    };
    let etc = cfg.etc_root.clone();
    let ctx = Arc::new(worker::Ctx {
        events: events::Recorder::new(client.clone(), clock.clone(), &cfg.node_name),
        client,
        deps,
        cfg,
        facts,
        clock,
        table,
        host_resolv,
        host_hosts: std::fs::read_to_string(etc.join("hosts")).unwrap_or_default(),
    });
    let mgr = manager::Manager::new(ctx);
    mgr.run(stop).await;
    node_task.await;
    net_task.await;
    gc_task.await;
    Ok(())
}
