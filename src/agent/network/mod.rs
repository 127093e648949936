//! The node's part of the cluster network: peers' pod routes (host-gw or vxlan), the Service
//! proxy, NetworkPolicy enforcement and the cluster DNS server, all fed by list + watch caches
//! ([`reflector`]) of the objects they depend on.

pub mod cleanup;
pub mod reflector;
pub mod run;
pub mod settings;
