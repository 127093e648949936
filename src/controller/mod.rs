//! The controller manager: level-triggered control loops that drive declared state towards
//! actual state through the API, one framework for all of them.
//!
//! Contract: a controller reacts to informer deltas only by enqueueing keys; [`Controller::sync`]
//! reads current state by key from the informer caches (never from event payloads), acts through
//! the [`Client`], and returns whether and when to look again. Retries with per-key exponential
//! backoff happen here, outside the business logic; workers start only after the informers a
//! controller reads have synced; no two workers ever hold the same key.

pub mod client;
pub mod cronjob;
pub mod daemonset;
pub mod deployment;
pub mod disruption;
pub mod endpoints;
pub mod gc;
pub mod history;
pub mod hpa;
pub mod informer;
pub mod job;
pub mod namespace;
pub mod nodeipam;
pub mod nodelifecycle;
pub mod ownerref;
pub mod podgc;
pub mod podutil;
pub mod queue;
pub mod replicaset;
pub mod resourcequota;
pub mod serviceaccount;
pub mod servicelb;
pub mod statefulset;
pub mod workload;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::api::server::ApiServer;
use crate::api::status::ApiError;
pub use client::Client;
pub use informer::{Delta, Informer, Informers};
pub use queue::Queue;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a sync failed; the key is retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("{0}")]
    Other(String),
}

/// What a successful sync asks for.
pub type SyncResult = Result<Option<Duration>, SyncError>;

/// One control loop.
pub trait Controller: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    /// Reconcile one key; `Ok(Some(d))` looks again after `d`.
    fn sync<'a>(&'a self, key: &'a str) -> BoxFuture<'a, SyncResult>;
}

/// Settings of the controllers (flag names as kube-controller-manager's).
#[derive(Debug, Clone)]
pub struct Settings {
    /// A node whose Lease is older than this is NotReady/Unknown.
    pub node_monitor_grace_period: Duration,
    /// Default toleration of pods for not-ready/unreachable nodes.
    pub default_toleration_seconds: i64,
    /// Terminated pods kept before the oldest are deleted.
    pub terminated_pod_gc_threshold: usize,
    pub cluster_cidr: ipnetwork::Ipv4Network,
    pub node_cidr_mask_size: u8,
    pub workers: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            node_monitor_grace_period: Duration::from_secs(40),
            default_toleration_seconds: 300,
            terminated_pod_gc_threshold: 12_500,
            cluster_cidr: ipnetwork::Ipv4Network::new([10, 42, 0, 0].into(), 16)
                .unwrap_or_else(|_| ipnetwork::Ipv4Network::from(std::net::Ipv4Addr::UNSPECIFIED)),
            node_cidr_mask_size: 24,
            workers: 4,
        }
    }
}

/// What every controller is built from.
#[derive(Clone)]
pub struct Ctx {
    pub client: Client,
    pub informers: Arc<Informers>,
    pub settings: Settings,
}

/// Forward an informer's deltas into a queue through `keys`.
pub fn route<F>(inf: &Informer, queue: &Queue, keys: F)
where
    F: Fn(&Delta) -> Vec<String> + Send + 'static,
{
    let rx = inf.subscribe();
    let q = queue.clone();
    crate::rt::spawn(async move {
        while let Ok(d) = rx.recv().await {
            for k in keys(&d) {
                q.add(&k);
            }
        }
    })
    .detach();
}

/// Start `workers` workers for a controller once `needs` have synced.
pub fn run(ctrl: Arc<dyn Controller>, queue: Queue, workers: usize, needs: Vec<Arc<Informer>>) {
    crate::rt::spawn(async move {
        for inf in &needs {
            inf.wait_synced().await;
        }
        for _ in 0..workers.max(1) {
            let (ctrl, queue) = (ctrl.clone(), queue.clone());
            crate::rt::spawn(async move {
                while let Some(key) = queue.get().await {
                    match ctrl.sync(&key).await {
                        Ok(after) => {
                            queue.forget(&key);
                            if let Some(d) = after {
                                queue.add_after(&key, d);
                            }
                        }
                        Err(e) => {
                            if queue.failures(&key) >= 5 {
                                eprintln!("kedge: {}: {key}: {e}", ctrl.name());
                            }
                            queue.add_rate_limited(&key);
                        }
                    }
                    queue.done(&key);
                }
            })
            .detach();
        }
    })
    .detach();
}

/// Start every controller; they stop when `stop` closes.
pub fn start(srv: Arc<ApiServer>, settings: Settings, stop: smol::channel::Receiver<()>) -> Ctx {
    let client = Client::new(srv);
    let informers = Arc::new(Informers::new(client.clone(), stop));
    let ctx = Ctx {
        client,
        informers,
        settings,
    };
    replicaset::start(&ctx);
    replicaset::start_replication_controllers(&ctx);
    resourcequota::start(&ctx);
    hpa::start(&ctx);
    job::start(&ctx);
    cronjob::start(&ctx);
    deployment::start(&ctx);
    gc::start(&ctx);
    namespace::start(&ctx);
    serviceaccount::start(&ctx);
    endpoints::start(&ctx);
    servicelb::start(&ctx);
    nodelifecycle::start(&ctx);
    nodeipam::start(&ctx);
    podgc::start(&ctx);
    disruption::start(&ctx);
    daemonset::start(&ctx);
    statefulset::start(&ctx);
    crate::scheduler::start(&ctx);
    ctx
}
