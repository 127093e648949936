//! The VXLAN device of the `vxlan` backend.
//!
//! Contract: [`ensure`] leaves exactly one up device [`VXLAN_DEVICE`] matching the [`Spec`]
//! (recreating it when VNI, port, local address, underlay link, learning or MAC differ, only
//! adjusting the MTU otherwise) holding the local pod CIDR's network address as a host
//! address, and writes nothing when all that already holds. The MAC is derived from the node
//! IP ([`vtep_mac_for`]), so a recreated device (or a rebooted node) keeps the MAC its peers
//! have in their FDB. [`remove`] deletes the device, whose routes, neighbours and FDB entries
//! the kernel drops with it.

use std::net::IpAddr;

use ipnetwork::IpNetwork;
use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage};
use rtnetlink::packet_route::link::{InfoKind, InfoVxlan};
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::{Handle, LinkUnspec, LinkVxlan};

use super::kernel::Link;
use super::{nl, LocalNode, OverlayError, VXLAN_DEVICE, VXLAN_PORT, VXLAN_VNI};
use crate::veth::{self, errno};

/// Outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14) headers.
const OVERHEAD_V4: u32 = 50;
/// The same over an IPv6 underlay (40-byte IP header).
const OVERHEAD_V6: u32 = 70;

/// The settings of the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Spec {
    pub vni: u32,
    pub port: u16,
    pub local: IpAddr,
    /// Index of the link holding the node IP.
    pub link: u32,
    pub mtu: u32,
    pub mac: [u8; 6],
}

impl Spec {
    pub fn new(local: &LocalNode, link: u32, link_mtu: u32) -> Spec {
        let overhead = if local.node_ip.is_ipv4() {
            OVERHEAD_V4
        } else {
            OVERHEAD_V6
        };
        Spec {
            vni: VXLAN_VNI,
            port: VXLAN_PORT,
            local: local.node_ip,
            link,
            mtu: link_mtu.saturating_sub(overhead),
            mac: vtep_mac_for(local.node_ip),
        }
    }
}

/// The VTEP MAC of the node with `node_ip`: locally administered, unicast, `0e:4b` followed by
/// the IPv4 address (an FNV-1a hash of an IPv6 one), so it is unique per node and stable.
pub fn vtep_mac_for(node_ip: IpAddr) -> [u8; 6] {
    let tail = match node_ip {
        IpAddr::V4(v4) => v4.octets(),
        IpAddr::V6(v6) => {
            let mut h: u32 = 0x811c_9dc5;
            for b in v6.octets() {
                h ^= u32::from(b);
                h = h.wrapping_mul(0x0100_0193);
            }
            h.to_be_bytes()
        }
    };
    [0x0e, 0x4b, tail[0], tail[1], tail[2], tail[3]]
}

/// Whether the existing device `l` has the settings of `spec` (the MTU aside: it can change in
/// place).
pub(super) fn matches(l: &Link, spec: &Spec) -> bool {
    let has = |want: &InfoVxlan| l.vxlan.iter().any(|v| v == want);
    let local = match spec.local {
        IpAddr::V4(v4) => InfoVxlan::Local(v4),
        IpAddr::V6(v6) => InfoVxlan::Local6(v6),
    };
    l.kind == Some(InfoKind::Vxlan)
        && l.mac == spec.mac
        && has(&InfoVxlan::Id(spec.vni))
        && has(&InfoVxlan::Port(spec.port))
        && has(&local)
        && has(&InfoVxlan::Link(spec.link))
        && has(&InfoVxlan::Learning(false))
}

async fn create(handle: &Handle, spec: &Spec) -> Result<(), OverlayError> {
    let b = LinkVxlan::new(VXLAN_DEVICE, spec.vni)
        .dev(spec.link)
        .port(spec.port)
        .learning(false);
    let b = match spec.local {
        IpAddr::V4(v4) => b.local(v4),
        IpAddr::V6(v6) => b.local6(v6),
    };
    let msg = b.mtu(spec.mtu).address(spec.mac.to_vec()).up().build();
    handle
        .link()
        .add(msg)
        .execute()
        .await
        .map_err(nl(format!("creating {VXLAN_DEVICE}")))
}

/// Ensures the device (see the module contract); returns its index.
pub(super) async fn ensure(
    handle: &Handle,
    links: &[Link],
    spec: &Spec,
    pod_cidr: IpNetwork,
) -> Result<u32, OverlayError> {
    let mut existing = links.iter().find(|l| l.name == VXLAN_DEVICE).cloned();
    if existing.as_ref().is_some_and(|l| !matches(l, spec)) {
        veth::delete(handle, VXLAN_DEVICE).await?;
        existing = None;
    }
    let index = match existing {
        Some(l) => {
            if l.mtu != spec.mtu || !l.up {
                handle
                    .link()
                    .set(
                        LinkUnspec::new_with_index(l.index)
                            .mtu(spec.mtu)
                            .up()
                            .build(),
                    )
                    .execute()
                    .await
                    .map_err(nl(format!("setting up {VXLAN_DEVICE}")))?;
            }
            l.index
        }
        None => {
            create(handle, spec).await?;
            veth::link(handle, VXLAN_DEVICE)
                .await?
                .ok_or_else(|| OverlayError::LinkVanished(VXLAN_DEVICE.to_string()))?
                .0
        }
    };
    // Flannel's layout: the pod CIDR's network address as a host address, so no connected
    // route competes with the peers' routes.
    let host = if pod_cidr.is_ipv4() { 32 } else { 128 };
    let want = (pod_cidr.network(), host);
    for (ip, prefix) in veth::addrs(handle, index).await? {
        if (ip, prefix) != want && !is_link_local(ip) {
            del_addr(handle, index, ip, prefix).await?;
        }
    }
    veth::ensure_addr(handle, index, want.0, want.1).await?;
    Ok(index)
}

fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => v6.segments()[0] & 0xffc0 == 0xfe80,
    }
}

/// Removes a stale address (from an earlier pod CIDR) of the device.
async fn del_addr(handle: &Handle, index: u32, ip: IpAddr, prefix: u8) -> Result<(), OverlayError> {
    let mut m = AddressMessage::default();
    m.header.family = if ip.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    m.header.prefix_len = prefix;
    m.header.index = index;
    m.attributes.push(AddressAttribute::Local(ip));
    m.attributes.push(AddressAttribute::Address(ip));
    match handle.address().del(m).execute().await {
        Err(e) if errno(&e) == Some(nix::libc::EADDRNOTAVAIL) => Ok(()),
        r => r.map_err(nl(format!("removing {ip}/{prefix} from {VXLAN_DEVICE}"))),
    }
}

/// Deletes the device; whether it existed.
pub(super) async fn remove(handle: &Handle) -> Result<bool, OverlayError> {
    Ok(veth::delete(handle, VXLAN_DEVICE).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> LocalNode {
        LocalNode::new(
            "n1",
            "192.168.1.1".parse().unwrap(),
            "10.42.1.0/24".parse().unwrap(),
        )
    }

    fn device(spec: &Spec) -> Link {
        Link {
            index: 7,
            name: VXLAN_DEVICE.to_string(),
            mtu: spec.mtu,
            mac: spec.mac.to_vec(),
            up: true,
            kind: Some(InfoKind::Vxlan),
            vxlan: vec![
                InfoVxlan::Id(1),
                InfoVxlan::Link(2),
                InfoVxlan::Local("192.168.1.1".parse().unwrap()),
                InfoVxlan::Ttl(0),
                InfoVxlan::Learning(false),
                InfoVxlan::Port(8472),
            ],
        }
    }

    #[test]
    fn spec_follows_flannel() {
        let s = Spec::new(&local(), 2, 1500);
        assert_eq!((s.vni, s.port, s.mtu), (1, 8472, 1450));
        assert_eq!(s.mac, [0x0e, 0x4b, 192, 168, 1, 1]);
        let v6 = LocalNode::new(
            "n",
            "fd00::1".parse().unwrap(),
            "10.42.1.0/24".parse().unwrap(),
        );
        let s6 = Spec::new(&v6, 2, 1500);
        assert_eq!(s6.mtu, 1430);
        assert_eq!(s6.mac[..2], [0x0e, 0x4b]);
        assert_eq!(s6.mac[0] & 0x03, 0x02, "locally administered unicast");
    }

    #[test]
    fn existing_device_is_kept_only_with_the_same_settings() {
        let s = Spec::new(&local(), 2, 1500);
        let d = device(&s);
        assert!(matches(&d, &s));
        let mut mtu = d.clone();
        mtu.mtu = 1400;
        assert!(matches(&mtu, &s), "an MTU change is done in place");
        let mut port = d.clone();
        port.vxlan[5] = InfoVxlan::Port(4789);
        assert!(!matches(&port, &s));
        let mut learning = d.clone();
        learning.vxlan[4] = InfoVxlan::Learning(true);
        assert!(!matches(&learning, &s));
        let mut link = d.clone();
        link.vxlan[1] = InfoVxlan::Link(3);
        assert!(!matches(&link, &s));
        let mut kind = d;
        kind.kind = Some(InfoKind::Bridge);
        assert!(!matches(&kind, &s));
    }
}
