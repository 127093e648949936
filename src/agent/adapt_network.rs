//! [`PodNetwork`] over the bridge plugin (`kedge_netplugins::BridgeNet`), created once the
//! node has its podCIDR.

use std::net::IpAddr;
use std::path::Path;

use kedge_netplugins::veth;

use super::client::BoxFuture;
use super::deps::{DepError, DepResult, HostPort, PodNetwork};
use crate::error_chain::error_chain;

pub struct BridgeAdapter(pub kedge_netplugins::BridgeNet);

fn link_err(e: veth::LinkError) -> DepError {
    DepError::new(error_chain(&e))
}

impl BridgeAdapter {
    /// Bring up the bridge with explicit settings (MTU, cluster CIDR).
    pub async fn open(cfg: kedge_netplugins::BridgeConfig) -> DepResult<BridgeAdapter> {
        kedge_netplugins::BridgeNet::new(cfg)
            .await
            .map(BridgeAdapter)
            .map_err(|e| DepError::new(error_chain(&e)))
    }

    /// A netlink handle and the bridge's link index, for changes to the bridge link.
    async fn bridge_link(&self) -> DepResult<(veth::NetlinkHandle, u32)> {
        let handle = veth::connect().map_err(link_err)?;
        let name = &self.0.config().bridge;
        let (index, _) = veth::link(&handle, name)
            .await
            .map_err(link_err)?
            .ok_or_else(|| DepError::new(format!("bridge {name} is missing")))?;
        Ok((handle, index))
    }

    /// Route the service network to the bridge, so that the node's own connections to
    /// cluster IPs pass the routing lookup before the service rules translate them, also on
    /// nodes without a default route (air-gapped). Idempotent.
    pub async fn route_service_network(&self, cidr: ipnetwork::IpNetwork) -> DepResult<()> {
        let (handle, index) = self.bridge_link().await?;
        veth::ensure_link_route(&handle, cidr, index)
            .await
            .map_err(link_err)
    }

    /// Make `ip` (as a /32 or /128) a local address of the bridge, for node services pods
    /// reach at a fixed address (the cluster DNS). Idempotent.
    pub async fn add_local_address(&self, ip: IpAddr) -> DepResult<()> {
        let (handle, index) = self.bridge_link().await?;
        let prefix = if ip.is_ipv4() { 32 } else { 128 };
        veth::ensure_addr(&handle, index, ip, prefix)
            .await
            .map_err(link_err)
    }
}

impl PodNetwork for BridgeAdapter {
    fn add<'a>(
        &'a self,
        pod_uid: &'a str,
        netns: &'a Path,
        ports: &'a [HostPort],
    ) -> BoxFuture<'a, DepResult<IpAddr>> {
        Box::pin(async move {
            use kedge_netplugins::Protocol;
            let host_ports = ports
                .iter()
                .map(|p| {
                    let proto = match p.protocol.as_str() {
                        "UDP" => Protocol::Udp,
                        "SCTP" => Protocol::Sctp,
                        _ => Protocol::Tcp,
                    };
                    let mut hp =
                        kedge_netplugins::HostPort::new(proto, p.host_port, p.container_port);
                    if let Some(ip) = p.host_ip {
                        hp.host_ip = ip;
                    }
                    hp
                })
                .collect();
            let pod = kedge_netplugins::PodNet {
                id: pod_uid.to_string(),
                netns: netns.to_path_buf(),
                ifname: "eth0".into(),
                host_ports,
            };
            self.0
                .add(&pod)
                .await
                .map(|a| a.ip)
                .map_err(|e| DepError::new(error_chain(&e)))
        })
    }

    fn del<'a>(
        &'a self,
        pod_uid: &'a str,
        netns: Option<&'a Path>,
    ) -> BoxFuture<'a, DepResult<()>> {
        Box::pin(async move {
            self.0
                .del(pod_uid, netns)
                .await
                .map_err(|e| DepError::new(error_chain(&e)))
        })
    }
}
