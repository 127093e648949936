//! The built-in bridge plugin: pods on the node's `kedge0` bridge, addresses from the pod
//! CIDR, masquerade of egress and hostPort DNAT.
//!
//! Contract: [`BridgeNet::new`] (idempotent, also after an agent restart) ensures the bridge is
//! up with the pod CIDR's first address as the pods' gateway, IP forwarding is on (through
//! `<proc_sys>`) and the nf_tables table `ip kedge` (`ip6 kedge` for an IPv6 CIDR) holds the
//! bridge's chains: `postrouting` (masquerade), `prerouting` and `output` (local destination
//! → `hostports`) and `hostports` (DNAT). The bridge owns these four chains and rewrites them
//! atomically from its state on every change; other users of the table must use other chains.
//! [`BridgeNet::add`] is idempotent: a second call for the same pod returns the same address
//! and leaves one veth. [`BridgeNet::del`] is idempotent and removes the veth, the address and
//! the pod's hostPort rules. All sockets are opened by `new` on the calling thread, so the
//! node's namespace is the one `new` ran in, whichever threads poll the futures later.

use std::collections::HashSet;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipnetwork::IpNetwork;
use rtnetlink::Handle;

use crate::ipam::{Ipam, IpamError};
use crate::masq;
use crate::netns::NetnsError;
use crate::nft::matchers as m;
use crate::nft::{
    Batch, Chain, ChainType, Family, Hook, Nft, NftError, Policy, Rule, Table, Verdict,
};
use crate::portmap::{self, HostPort, PodPorts, PortmapError};
use crate::veth::{self, LinkError};

/// The nf_tables table of the node's pod network.
pub const TABLE: &str = "kedge";
const POSTROUTING: &str = "postrouting";
const PREROUTING: &str = "prerouting";
const OUTPUT: &str = "output";
const HOSTPORTS: &str = "hostports";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeConfig {
    /// Bridge name, `kedge0`.
    pub bridge: String,
    /// The node's `spec.podCIDR`.
    pub pod_cidr: IpNetwork,
    pub mtu: u32,
    /// IPAM state, `<data>/agent/ipam`; hostPort records go to `<state_dir>/hostports`.
    pub state_dir: PathBuf,
    /// Masquerade pod traffic leaving the cluster.
    pub masquerade: bool,
    /// Destinations never masqueraded (other nodes' pods).
    pub cluster_cidr: Option<IpNetwork>,
    /// Where sysctls are written, `/proc/sys`.
    pub proc_sys: PathBuf,
}

impl BridgeConfig {
    /// The defaults: `kedge0`, MTU 1500, masquerade on, `/proc/sys`.
    pub fn new(pod_cidr: IpNetwork, state_dir: &Path) -> BridgeConfig {
        BridgeConfig {
            bridge: "kedge0".to_string(),
            pod_cidr,
            mtu: 1500,
            state_dir: state_dir.to_path_buf(),
            masquerade: true,
            cluster_cidr: None,
            proc_sys: PathBuf::from("/proc/sys"),
        }
    }
}

/// What to plumb for one pod sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodNet {
    /// The pod uid.
    pub id: String,
    /// The pod's pinned network namespace.
    pub netns: PathBuf,
    /// Interface name inside the pod, `eth0`.
    pub ifname: String,
    pub host_ports: Vec<HostPort>,
}

/// The pod's address as configured inside its namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodAddr {
    pub ip: IpAddr,
    pub gateway: IpAddr,
    pub prefix: u8,
    /// `aa:bb:cc:dd:ee:ff` of the pod interface.
    pub mac: String,
}

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("link setup")]
    Link(#[from] LinkError),
    #[error("address allocation")]
    Ipam(#[from] IpamError),
    #[error("nftables")]
    Nft(#[from] NftError),
    #[error("hostport records")]
    Portmap(#[from] PortmapError),
    #[error("pod network namespace")]
    Netns(#[from] NetnsError),
    #[error("writing sysctl {path}")]
    Sysctl {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

pub struct BridgeNet {
    cfg: BridgeConfig,
    handle: Handle,
    nft: Nft,
    ipam: Ipam,
    table: Table,
    bridge_index: u32,
    /// Serializes add/del/gc so rule rewrites see a consistent state.
    lock: smol::lock::Mutex<()>,
}

impl std::fmt::Debug for BridgeNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BridgeNet")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

/// FNV-1a: stable across builds and platforms, unlike std's hasher.
fn hash8(id: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in id.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("{h:08x}")
}

/// The host-side veth name of a pod: `kedge` + 8 hex digits (13 of IFNAMSIZ's 15).
pub fn host_veth_name(id: &str) -> String {
    format!("kedge{}", hash8(id))
}

/// The temporary name of the pod side before it is renamed inside the pod.
fn peer_tmp_name(id: &str) -> String {
    format!("kp{}", hash8(id))
}

impl BridgeNet {
    /// Sets up the node side; see the module contract.
    pub async fn new(cfg: BridgeConfig) -> Result<BridgeNet, NetError> {
        let handle = veth::connect()?;
        let nft = Nft::open()?;
        let ipam = Ipam::open(&cfg.state_dir, cfg.pod_cidr)?;
        let family = if cfg.pod_cidr.is_ipv6() {
            Family::Ip6
        } else {
            Family::Ip
        };
        let table = Table::new(family, TABLE);
        let forward = if cfg.pod_cidr.is_ipv6() {
            "net/ipv6/conf/all/forwarding"
        } else {
            "net/ipv4/ip_forward"
        };
        let path = cfg.proc_sys.join(forward);
        std::fs::write(&path, b"1").map_err(|source| NetError::Sysctl { path, source })?;
        let bridge_index = veth::ensure_bridge(&handle, &cfg.bridge, cfg.mtu).await?;
        veth::ensure_addr(&handle, bridge_index, ipam.gateway(), cfg.pod_cidr.prefix()).await?;
        let net = BridgeNet {
            cfg,
            handle,
            nft,
            ipam,
            table,
            bridge_index,
            lock: smol::lock::Mutex::new(()),
        };
        net.sync_rules()?;
        Ok(net)
    }

    pub fn config(&self) -> &BridgeConfig {
        &self.cfg
    }

    fn hostports_dir(&self) -> PathBuf {
        self.cfg.state_dir.join("hostports")
    }

    /// Rewrites the bridge's chains from the current state in one transaction.
    fn sync_rules(&self) -> Result<(), NetError> {
        let t = &self.table;
        let mut b = Batch::new();
        b.add_table(t);
        b.add_chain(
            t,
            &Chain::base(
                POSTROUTING,
                ChainType::Nat,
                Hook::Postrouting,
                100,
                Policy::Accept,
            ),
        );
        b.add_chain(
            t,
            &Chain::base(
                PREROUTING,
                ChainType::Nat,
                Hook::Prerouting,
                -100,
                Policy::Accept,
            ),
        );
        b.add_chain(
            t,
            &Chain::base(OUTPUT, ChainType::Nat, Hook::Output, -100, Policy::Accept),
        );
        b.add_chain(t, &Chain::regular(HOSTPORTS));
        for c in [POSTROUTING, PREROUTING, OUTPUT, HOSTPORTS] {
            b.flush_chain(t, c);
        }
        if self.cfg.masquerade {
            for r in masq::rules(POSTROUTING, self.cfg.pod_cidr, self.cfg.cluster_cidr) {
                b.add_rule(t, &r);
            }
        }
        for chain in [PREROUTING, OUTPUT] {
            let mut e = m::daddr_is_local();
            e.push(m::verdict(Verdict::Jump(HOSTPORTS.to_string())));
            b.add_rule(t, &Rule::new(chain, e));
        }
        for r in portmap::rules(HOSTPORTS, &portmap::load_all(&self.hostports_dir())?) {
            b.add_rule(t, &r);
        }
        self.nft.apply(&b)?;
        Ok(())
    }

    /// Connects the pod; see the module contract.
    pub async fn add(&self, pod: &PodNet) -> Result<PodAddr, NetError> {
        let _g = self.lock.lock().await;
        let ip = self.ipam.allocate(&pod.id)?;
        let prefix = self.cfg.pod_cidr.prefix();
        let gateway = self.ipam.gateway();
        let host = host_veth_name(&pod.id);
        let tmp = peer_tmp_name(&pod.id);
        let pod_handle = veth::connect_in(&pod.netns)?;

        let exists = veth::link(&self.handle, &host).await?.is_some()
            && veth::link(&pod_handle, &pod.ifname).await?.is_some();
        if !exists {
            // A half-made pair from an interrupted add is replaced.
            veth::delete(&self.handle, &host).await?;
            veth::delete(&self.handle, &tmp).await?;
            veth::create_pair_in(&self.handle, &host, &pod.ifname, &pod.netns, self.cfg.mtu)
                .await?;
        }
        let res = async {
            veth::attach(&self.handle, &host, self.bridge_index).await?;
            veth::configure_pod(
                &pod_handle,
                &tmp,
                &pod.ifname,
                ip,
                prefix,
                gateway,
                self.cfg.mtu,
            )
            .await
        }
        .await;
        let mac = match res {
            Ok(mac) => mac,
            Err(e) => {
                let _ = veth::delete(&self.handle, &host).await;
                return Err(e.into());
            }
        };
        let had_ports = self.hostports_dir().join(&pod.id).exists();
        portmap::save(
            &self.hostports_dir(),
            &PodPorts {
                id: pod.id.clone(),
                ip,
                ports: pod.host_ports.clone(),
            },
        )?;
        // The table holds only masquerade and hostPort rules: a pod without hostPorts (before
        // and now) changes nothing there, and skipping the transaction keeps pod start fast.
        if had_ports || !pod.host_ports.is_empty() {
            self.sync_rules()?;
        }
        Ok(PodAddr {
            ip,
            gateway,
            prefix,
            mac: veth::format_mac(&mac),
        })
    }

    /// Disconnects the pod; see the module contract. `netns` is not needed: deleting the
    /// host side of the pair removes the pod side too.
    pub async fn del(&self, id: &str, _netns: Option<&Path>) -> Result<(), NetError> {
        let _g = self.lock.lock().await;
        self.del_locked(id).await
    }

    async fn del_locked(&self, id: &str) -> Result<(), NetError> {
        veth::delete(&self.handle, &host_veth_name(id)).await?;
        veth::delete(&self.handle, &peer_tmp_name(id)).await?;
        let had_ports = portmap::load_all(&self.hostports_dir())?
            .iter()
            .any(|p| p.id == id);
        portmap::remove(&self.hostports_dir(), id)?;
        self.ipam.release(id)?;
        if had_ports {
            self.sync_rules()?;
        }
        Ok(())
    }

    /// Releases everything of pods not in `live` (after an agent restart); returns their ids.
    pub async fn gc(&self, live: &HashSet<String>) -> Result<Vec<String>, NetError> {
        let _g = self.lock.lock().await;
        let mut dead: Vec<String> = self
            .ipam
            .allocated()
            .into_iter()
            .map(|(id, _)| id)
            .chain(
                portmap::load_all(&self.hostports_dir())?
                    .into_iter()
                    .map(|p| p.id),
            )
            .filter(|id| !live.contains(id))
            .collect();
        dead.sort();
        dead.dedup();
        for id in &dead {
            self.del_locked(id).await?;
        }
        Ok(dead)
    }

    /// (pod id, address) of every allocation.
    pub fn allocated(&self) -> Vec<(String, IpAddr)> {
        self.ipam.allocated()
    }

    /// The normalized text of the bridge's nf_tables table (see `nft::Ruleset`).
    pub fn ruleset(&self) -> Result<Option<String>, NetError> {
        Ok(self.nft.list_ruleset(&self.table)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn veth_names_are_stable_and_short() {
        let n = host_veth_name("0b6f3c2e-1d2a-4f5b-9c8d-7e6f5a4b3c2d");
        assert_eq!(n, host_veth_name("0b6f3c2e-1d2a-4f5b-9c8d-7e6f5a4b3c2d"));
        assert!(n.len() <= 15 && n.starts_with("kedge"));
        assert_ne!(n, host_veth_name("other"));
        assert!(peer_tmp_name("x").len() <= 15);
    }
}
