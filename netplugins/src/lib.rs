//! kedge-netplugins: the pod network of a node.
//!
//! Contract: [`bridge::BridgeNet`] is the built-in bridge plugin: one `kedge0` bridge per node,
//! one veth pair per pod sandbox, addresses from a host-local IPAM ([`ipam`]) over the node's
//! pod CIDR, masquerade of pod egress and hostPort DNAT through nf_tables ([`nft`]). Everything
//! is driven through netlink (rtnetlink and NETLINK_NETFILTER); no `ip`, `iptables` or `nft`
//! binary is ever run. [`netns`] creates and enters named network namespaces.

pub mod bridge;
pub mod cni;
pub mod ipam;
pub mod masq;
pub mod netns;
pub mod nft;
pub mod overlay;
pub mod portmap;
pub mod testing;
pub mod veth;

pub use bridge::{BridgeConfig, BridgeNet, NetError, PodAddr, PodNet};
pub use portmap::{HostPort, Protocol};
