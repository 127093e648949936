//! NetworkPolicy enforcement (networking.k8s.io/v1) for the pods of one node, in nf_tables.
//!
//! Contract: [`PolicyEnforcer::open`] binds to the network namespace of the calling thread
//! (the node's) and turns on `bridge-nf-call-iptables` under the given `/proc/sys` root, so
//! traffic bridged between pods on `kedge0` meets the forward hook. [`PolicyEnforcer::sync`]
//! compiles the current Policies, Pods and Namespaces ([`rules::compile`]) and replaces kedge's
//! own table `ip kedge-policy` in one transaction: packets see the old rules or the new ones,
//! never none. It is idempotent: equal objects (in any order) give an identical
//! [`PolicyEnforcer::dump`]. Semantics are Kubernetes': a pod is open until a policy selects it
//! for a direction, then only what some selecting policy allows passes (see [`plan`]); replies
//! of allowed connections, traffic between a pod and itself, and traffic between a pod and its
//! own node always pass. Only the IPv4 addresses of pods are enforced. No other table is ever
//! touched; [`PolicyEnforcer::cleanup`] removes kedge's.

pub mod model;
pub mod plan;
pub mod ranges;
pub mod rules;

#[cfg(test)]
mod kernel_tests;

use std::io;
use std::path::{Path, PathBuf};

use kedge_netplugins::nft::{Batch, Nft, NftError};
use serde_json::Value;

pub use plan::Plan;
pub use rules::{compile, Compiled, SyncStats, TABLE};

#[derive(Debug, thiserror::Error)]
pub enum NetpolError {
    #[error("nftables")]
    Nft(#[from] NftError),
    #[error("writing sysctl {path}")]
    Sysctl {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Keeps the node's NetworkPolicy table in line with the cluster's objects.
#[derive(Debug)]
pub struct PolicyEnforcer {
    nft: Nft,
}

impl PolicyEnforcer {
    /// Opens the nf_tables socket in the calling thread's network namespace; `proc_sys` is the
    /// `/proc/sys` of that same namespace.
    pub fn open(proc_sys: &Path) -> Result<PolicyEnforcer, NetpolError> {
        let path = proc_sys.join("net/bridge/bridge-nf-call-iptables");
        std::fs::write(&path, b"1").map_err(|source| NetpolError::Sysctl { path, source })?;
        Ok(PolicyEnforcer { nft: Nft::open()? })
    }

    /// Replaces the table with the rules for the pods on `node_name`; see the module contract.
    pub fn sync(
        &self,
        policies: &[Value],
        pods: &[Value],
        namespaces: &[Value],
        node_name: &str,
    ) -> Result<SyncStats, NetpolError> {
        let c = compile(policies, pods, namespaces, node_name);
        self.nft.apply(&c.batch)?;
        Ok(c.stats)
    }

    /// The table as normalized text (empty when it does not exist; `error: ...` when the
    /// kernel could not be asked), for before/after comparisons.
    pub fn dump(&self) -> String {
        match self.nft.list_ruleset(&rules::table()) {
            Ok(text) => text.unwrap_or_default(),
            Err(e) => format!("error: {e}"),
        }
    }

    /// Removes the table (nothing to do when it does not exist).
    pub fn cleanup(&self) -> Result<(), NetpolError> {
        remove_table(&self.nft)
    }
}

fn remove_table(nft: &Nft) -> Result<(), NetpolError> {
    let t = rules::table();
    let mut b = Batch::new();
    // Adding first makes the delete valid when the table is already gone.
    b.add_table(&t).delete_table(&t);
    nft.apply(&b)?;
    Ok(())
}

/// Removes the table of the calling thread's network namespace without touching any sysctl
/// (for `kedge agent --cleanup`, where no enforcer runs).
pub fn cleanup() -> Result<(), NetpolError> {
    remove_table(&Nft::open()?)
}

/// The table of the calling thread's network namespace as normalized text (empty when it
/// does not exist), without touching any sysctl.
pub fn dump() -> Result<String, NetpolError> {
    Ok(Nft::open()?
        .list_ruleset(&rules::table())?
        .unwrap_or_default())
}
