//! The multi-node pod network: routes towards the other nodes' pod CIDRs, either directly
//! (`host-gw`) or through a VXLAN overlay (`vxlan`), converged from a list of peers.
//!
//! Contract: [`Overlay::open`] opens its rtnetlink socket on the calling thread (so the node's
//! namespace is the one it runs in, whichever thread polls later) and prepares the backend:
//! for `vxlan` it ensures the device [`VXLAN_DEVICE`] (VNI [`VXLAN_VNI`], UDP port
//! [`VXLAN_PORT`], local = node IP, dev = the link holding the node IP, learning off, MTU =
//! that link's MTU minus the encapsulation overhead, a MAC derived from the node IP, the local
//! pod CIDR's network address as a host address), recreating it when its settings differ; for
//! any other backend it deletes that device. [`Overlay::sync`] converges the kernel to the
//! peers: every route kedge adds to the main table carries rtm_protocol [`ROUTE_PROTOCOL`],
//! and every permanent neighbour / FDB entry on [`VXLAN_DEVICE`] is kedge's, so whatever of
//! those is not desired is deleted, missing entries are added and correct ones are never
//! touched (a second sync over the same peers writes nothing and reports no change). Peers
//! named like the local node or holding its IP are ignored; unusable peers are skipped and
//! reported, never fatal. [`cleanup`] removes every kedge route and the VXLAN device.
//! [`dump_routes`] renders the state for before/after comparisons.

mod desired;
mod dump;
mod kernel;
mod vxlan;

use std::net::IpAddr;
use std::str::FromStr;

use ipnetwork::IpNetwork;
use rtnetlink::Handle;

use crate::veth::{self, LinkError};

pub use desired::{
    desired, plan, Entry, FdbSpec, LinkNet, NeighSpec, Plan, RouteSpec, State, View,
};
pub use dump::dump_routes;
pub use vxlan::vtep_mac_for;

/// The Node annotation carrying a node's VTEP MAC (`aa:bb:cc:dd:ee:ff`, as
/// [`format_mac`](crate::veth::format_mac) writes it).
pub const VTEP_MAC_ANNOTATION: &str = "kedge.io/vtep-mac";

/// Parses `aa:bb:cc:dd:ee:ff` (case-insensitive), the form of [`VTEP_MAC_ANNOTATION`].
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = s.trim().split(':');
    for b in mac.iter_mut() {
        let p = parts.next()?;
        if p.len() != 2 {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

/// rtm_protocol of every route kedge installs ('K'; unassigned in iproute2's `rt_protos`, and
/// distinct from Calico's 80 and BIRD's 12), so stale ones can be found after a restart.
pub const ROUTE_PROTOCOL: u8 = 0x4b;
/// The overlay device of the `vxlan` backend.
pub const VXLAN_DEVICE: &str = "kedge-vxlan";
/// One VNI for the whole cluster, as flannel does.
pub const VXLAN_VNI: u32 = 1;
/// Flannel's (and the Linux kernel's historical) VXLAN port rather than IANA's 4789, so a
/// kedge node's firewall rules look like a flannel node's.
pub const VXLAN_PORT: u16 = 8472;

/// The pod network backend (`--network-backend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// A route per peer via its node IP; needs the nodes on one L2 segment.
    HostGw,
    /// A VXLAN overlay; needs only L3 reachability between node IPs.
    Vxlan,
    /// Bring your own CNI: kedge installs nothing and removes its leftovers.
    None,
}

impl FromStr for Backend {
    type Err = OverlayError;

    fn from_str(s: &str) -> Result<Backend, OverlayError> {
        match s {
            "host-gw" => Ok(Backend::HostGw),
            "vxlan" => Ok(Backend::Vxlan),
            "none" => Ok(Backend::None),
            _ => Err(OverlayError::UnknownBackend(s.to_string())),
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::HostGw => "host-gw",
            Backend::Vxlan => "vxlan",
            Backend::None => "none",
        })
    }
}

/// Another node of the cluster, as learnt from its Node object (`spec.podCIDR`, the
/// InternalIP address, annotation `kedge.io/vtep-mac`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub name: String,
    pub node_ip: IpAddr,
    pub pod_cidr: IpNetwork,
    /// The MAC of the peer's VXLAN device; `None` until that node published it.
    pub vtep_mac: Option<[u8; 6]>,
}

/// This node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalNode {
    pub name: String,
    pub node_ip: IpAddr,
    pub pod_cidr: IpNetwork,
}

impl LocalNode {
    pub fn new(name: impl Into<String>, node_ip: IpAddr, pod_cidr: IpNetwork) -> LocalNode {
        LocalNode {
            name: name.into(),
            node_ip,
            pod_cidr,
        }
    }
}

/// A peer that got no route, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub peer: String,
    pub reason: String,
}

/// What one [`Overlay::sync`] changed. Empty `added` and `deleted` mean no netlink write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub added: Vec<Entry>,
    pub deleted: Vec<Entry>,
    pub skipped: Vec<Skipped>,
}

impl SyncReport {
    pub fn changed(&self) -> bool {
        !self.added.is_empty() || !self.deleted.is_empty()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OverlayError {
    #[error("unknown network backend {0:?}: want host-gw, vxlan or none")]
    UnknownBackend(String),
    #[error("rtnetlink")]
    Link(#[from] LinkError),
    #[error("node ip {0} is on no local link")]
    NodeIpNotFound(IpAddr),
    #[error("link {0} vanished")]
    LinkVanished(String),
}

fn nl(op: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> OverlayError {
    let op = op.into();
    move |source| OverlayError::Link(LinkError::Netlink { op, source })
}

/// The pod network of a node towards its peers.
pub struct Overlay {
    backend: Backend,
    local: LocalNode,
    handle: Handle,
    pod_mtu: u32,
    /// The VXLAN device's index while the backend is `vxlan`; `sync` re-ensures the device
    /// when it vanished. The lock also serializes syncs, so two never interleave their diffs.
    vtep: smol::lock::Mutex<Option<u32>>,
}

impl std::fmt::Debug for Overlay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Overlay")
            .field("backend", &self.backend)
            .field("local", &self.local)
            .field("pod_mtu", &self.pod_mtu)
            .finish_non_exhaustive()
    }
}

impl Overlay {
    /// Opens netlink on the calling thread (the node's namespace) and prepares `backend`,
    /// removing the other backends' leftovers (see the module contract).
    pub async fn open(backend: Backend, local: LocalNode) -> Result<Overlay, OverlayError> {
        let handle = veth::connect()?;
        let links = kernel::links(&handle).await?;
        let uplink = kernel::link_holding(&handle, &links, local.node_ip).await?;
        let (pod_mtu, vtep) = match (backend, uplink) {
            (Backend::Vxlan, None) => return Err(OverlayError::NodeIpNotFound(local.node_ip)),
            (Backend::Vxlan, Some(up)) => {
                let spec = vxlan::Spec::new(&local, up.index, up.mtu);
                let index = vxlan::ensure(&handle, &links, &spec, local.pod_cidr).await?;
                (spec.mtu, Some(index))
            }
            (Backend::HostGw, None) => return Err(OverlayError::NodeIpNotFound(local.node_ip)),
            (_, up) => {
                vxlan::remove(&handle).await?;
                (up.map_or(1500, |u| u.mtu), None)
            }
        };
        Ok(Overlay {
            backend,
            local,
            handle,
            pod_mtu,
            vtep: smol::lock::Mutex::new(vtep),
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The MAC peers must put in their FDB for this node (published as `kedge.io/vtep-mac`);
    /// `None` unless the backend is `vxlan`.
    pub fn vtep_mac(&self) -> Option<[u8; 6]> {
        if self.backend == Backend::Vxlan {
            Some(vxlan::vtep_mac_for(self.local.node_ip))
        } else {
            None
        }
    }

    /// The MTU for the bridge and pod veths: the node link's, minus the VXLAN overhead.
    pub fn pod_mtu(&self) -> u32 {
        self.pod_mtu
    }

    /// The rtnetlink handle in the node's namespace (for [`dump_routes`]).
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Converges routes, neighbours and FDB entries to `peers` (see the module contract).
    pub async fn sync(&self, peers: &[Peer]) -> Result<SyncReport, OverlayError> {
        let mut vtep = self.vtep.lock().await;
        if self.backend == Backend::Vxlan {
            let now = veth::link(&self.handle, VXLAN_DEVICE).await?.map(|l| l.0);
            if now.is_none() || now != *vtep {
                // Someone deleted the device (or it never came up): its routes went with it.
                let links = kernel::links(&self.handle).await?;
                let up = kernel::link_holding(&self.handle, &links, self.local.node_ip)
                    .await?
                    .ok_or(OverlayError::NodeIpNotFound(self.local.node_ip))?;
                let spec = vxlan::Spec::new(&self.local, up.index, up.mtu);
                *vtep =
                    Some(vxlan::ensure(&self.handle, &links, &spec, self.local.pod_cidr).await?);
            }
        }
        let vx = *vtep;
        let (current, view) = kernel::snapshot(&self.handle, vx).await?;
        let (want, skipped) = desired(self.backend, &self.local, peers, &view);
        let p = plan(&current, &want);
        kernel::apply(&self.handle, vx, &p).await?;
        Ok(SyncReport {
            added: p.add,
            deleted: p.delete,
            skipped,
        })
    }

    /// Removes every kedge route and the VXLAN device (`kedge agent --cleanup`).
    pub async fn cleanup(&self) -> Result<usize, OverlayError> {
        let mut vtep = self.vtep.lock().await;
        *vtep = None;
        cleanup(&self.handle).await
    }
}

/// Removes every route carrying [`ROUTE_PROTOCOL`] from the main table and deletes
/// [`VXLAN_DEVICE`] (with its neighbours and FDB entries); returns the number of routes
/// deleted besides the device's. For `kedge agent --cleanup` without a node configuration.
pub async fn cleanup(handle: &Handle) -> Result<usize, OverlayError> {
    vxlan::remove(handle).await?;
    let (current, _) = kernel::snapshot(handle, None).await?;
    let p = plan(&current, &State::default());
    kernel::apply(handle, None, &p).await?;
    Ok(p.delete.len())
}
