//! The cluster-wide network settings every node follows: set on the server (flags or config
//! file) and handed to joining agents with their serving certificate, so all nodes agree.
//!
//! Contract: [`ClusterNet`] serializes to the JSON the server sends
//! (`{"clusterCIDR", "serviceCIDR", "networkBackend", "networkPolicy", "kubeProxy"}`);
//! [`parse_backend`] accepts exactly `host-gw`, `vxlan` and `none`.

use std::net::{IpAddr, Ipv4Addr};

use ipnetwork::Ipv4Network;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterNet {
    #[serde(rename = "clusterCIDR")]
    pub cluster_cidr: Ipv4Network,
    #[serde(rename = "serviceCIDR")]
    pub service_cidr: Ipv4Network,
    /// `host-gw`, `vxlan` or `none` (bring your own pod routes).
    pub network_backend: String,
    /// Enforce NetworkPolicies (k3s `--disable-network-policy` turns it off).
    pub network_policy: bool,
    /// Program Services (k3s `--disable-kube-proxy` turns it off).
    pub kube_proxy: bool,
}

impl Default for ClusterNet {
    fn default() -> ClusterNet {
        ClusterNet {
            cluster_cidr: Ipv4Network::new(Ipv4Addr::new(10, 42, 0, 0), 16).expect("valid"),
            service_cidr: Ipv4Network::new(Ipv4Addr::new(10, 43, 0, 0), 16).expect("valid"),
            network_backend: "host-gw".into(),
            network_policy: true,
            kube_proxy: true,
        }
    }
}

impl ClusterNet {
    /// The 10th address of the service network, as Kubernetes places cluster DNS.
    pub fn dns_ip(&self) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(u32::from(self.service_cidr.network()) + 10))
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("unknown network backend {0:?}: want host-gw, vxlan or none")]
pub struct BackendError(pub String);

/// A valid `--network-backend` value (the overlay's own parser decides), in canonical form.
pub fn parse_backend(s: &str) -> Result<String, BackendError> {
    s.parse::<kedge_netplugins::overlay::Backend>()
        .map(|b| b.to_string())
        .map_err(|_| BackendError(s.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_form_round_trips_with_kubernetes_style_names() {
        let c = ClusterNet::default();
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["clusterCIDR"], "10.42.0.0/16");
        assert_eq!(v["serviceCIDR"], "10.43.0.0/16");
        assert_eq!(v["networkBackend"], "host-gw");
        assert_eq!(serde_json::from_value::<ClusterNet>(v).unwrap(), c);
        assert_eq!(c.dns_ip().to_string(), "10.43.0.10");
    }

    #[test]
    fn only_known_backends_parse() {
        assert_eq!(parse_backend("vxlan").unwrap(), "vxlan");
        assert!(parse_backend("flannel")
            .unwrap_err()
            .to_string()
            .contains("host-gw, vxlan or none"));
    }
}
