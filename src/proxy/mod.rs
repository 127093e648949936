//! kedge's kube-proxy: Services and EndpointSlices programmed into nf_tables.
//!
//! Contract: [`Proxy::sync`] rebuilds kedge's own table (`ip kedge-services`, see [`rules`])
//! from the full current list of Services and EndpointSlices in ONE nf_tables transaction:
//! packets see the old or the new ruleset, never a mix; equal inputs give an identical table,
//! so restarts never duplicate anything; no other table is read or written. [`cleanup`]
//! removes the table (`kedge agent --cleanup`). A [`Proxy`] acts in the network namespace of
//! the thread that called [`Proxy::open`], from whichever thread it is used. Only IPv4 is
//! programmed. ClientIP affinity state lives in dynamic maps and starts over at each sync.

pub mod model;
pub mod rules;

use std::time::{Duration, Instant};

use ipnetwork::IpNetwork;
use kedge_netplugins::nft::{Nft, NftError, Ruleset};
use serde_json::Value;

pub use model::ServicePort;
pub use rules::{RuleConfig, RuleStats, MASQ_MARK, TABLE};

/// The nf_tables set flag of sets the packet path writes (their elements are state, not
/// configuration, so dumps leave them out).
const NFT_SET_EVAL: u32 = 0x20;

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("opening nf_tables")]
    Open(#[source] NftError),
    #[error("applying the service rules ({messages} messages)")]
    Apply {
        messages: usize,
        #[source]
        source: NftError,
    },
    #[error("reading table {TABLE}")]
    Dump(#[source] NftError),
    #[error("deleting table {TABLE}")]
    Cleanup(#[source] NftError),
}

#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// This node's name: endpoints with this `nodeName` are local.
    pub node_name: String,
    /// Pod addresses of the whole cluster (default 10.42.0.0/16): traffic from elsewhere to
    /// a cluster IP is masqueraded.
    pub cluster_cidr: IpNetwork,
}

/// What one sync did and how long it took.
#[derive(Debug, Clone, Copy, Default)]
pub struct SyncStats {
    pub rules: RuleStats,
    /// Parsing the objects and building the batch.
    pub build: Duration,
    /// Sending the batch and the kernel's commit.
    pub apply: Duration,
}

pub struct Proxy {
    cfg: RuleConfig,
    nft: Nft,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy").field("cfg", &self.cfg).finish()
    }
}

impl Proxy {
    /// Opens the nf_tables socket in the calling thread's network namespace.
    pub fn open(cfg: ProxyConfig) -> Result<Proxy, ProxyError> {
        Ok(Proxy {
            cfg: RuleConfig {
                node_name: cfg.node_name,
                cluster_cidr: cfg.cluster_cidr,
            },
            nft: Nft::open().map_err(ProxyError::Open)?,
        })
    }

    /// Replaces the service table with rules for these objects, atomically.
    pub fn sync(&self, services: &[Value], slices: &[Value]) -> Result<SyncStats, ProxyError> {
        let t0 = Instant::now();
        let ports = model::build(services, slices);
        let (batch, rules) = rules::build(&ports, &self.cfg);
        let t1 = Instant::now();
        self.nft.apply(&batch).map_err(|source| ProxyError::Apply {
            messages: rules.messages,
            source,
        })?;
        Ok(SyncStats {
            rules,
            build: t1 - t0,
            apply: t1.elapsed(),
        })
    }

    /// The typed table as the kernel holds it, `None` when absent.
    pub fn ruleset(&self) -> Result<Option<Ruleset>, ProxyError> {
        self.nft.ruleset(&rules::table()).map_err(ProxyError::Dump)
    }

    /// Normalized text of the table (empty when absent), without the elements the packet
    /// path adds (affinity): equal configuration gives equal text.
    pub fn dump(&self) -> Result<String, ProxyError> {
        Ok(self
            .ruleset()?
            .map(|mut rs| {
                for s in &mut rs.sets {
                    if s.flags & NFT_SET_EVAL != 0 {
                        s.elements.clear();
                    }
                }
                rs.to_string()
            })
            .unwrap_or_default())
    }

    /// Deletes the service table; false when it was not there.
    pub fn cleanup(&self) -> Result<bool, ProxyError> {
        delete_table(&self.nft)
    }
}

fn delete_table(nft: &Nft) -> Result<bool, ProxyError> {
    let mut b = kedge_netplugins::nft::Batch::new();
    b.delete_table(&rules::table());
    match nft.apply(&b) {
        Ok(()) => Ok(true),
        Err(NftError::Kernel { source, .. })
            if source.raw_os_error() == Some(nix::libc::ENOENT) =>
        {
            Ok(false)
        }
        Err(e) => Err(ProxyError::Cleanup(e)),
    }
}

/// Deletes kedge's service table in the calling thread's network namespace, if present
/// (`kedge agent --cleanup`); false when there was nothing to delete.
pub fn cleanup() -> Result<bool, ProxyError> {
    delete_table(&Nft::open().map_err(ProxyError::Open)?)
}

#[cfg(test)]
mod kernel_tests;
