//! Reading and writing the overlay's kernel state over rtnetlink: links, addresses, main-table
//! routes, and the neighbour and FDB entries of the VXLAN device.
//!
//! Contract: [`snapshot`] returns the kedge-owned [`State`] (routes with rtm_protocol
//! [`ROUTE_PROTOCOL`] in the main table, permanent neighbours and FDB entries with a remote on
//! the VXLAN device) and the [`View`] that [`desired`](super::desired) needs; [`apply`]
//! executes a [`Plan`] in its order. Deleting something already gone is not an error, so a
//! sync racing an external change converges on the next run.

use std::collections::BTreeSet;
use std::net::IpAddr;

use futures_lite::StreamExt;
use ipnetwork::IpNetwork;
use rtnetlink::packet_route::address::AddressAttribute;
use rtnetlink::packet_route::link::{
    InfoData, InfoKind, InfoVxlan, LinkAttribute, LinkFlags, LinkInfo,
};
use rtnetlink::packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteProtocol, RouteScope,
    RouteType,
};
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::Handle;

use super::desired::normalize;
use super::ROUTE_PROTOCOL;
use super::{nl, Entry, FdbSpec, LinkNet, NeighSpec, OverlayError, Plan, RouteSpec, State, View};
use crate::veth::errno;

/// A network interface of the node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Link {
    pub index: u32,
    pub name: String,
    pub mtu: u32,
    pub mac: Vec<u8>,
    pub up: bool,
    pub kind: Option<InfoKind>,
    /// The VXLAN settings when `kind` is VXLAN.
    pub vxlan: Vec<InfoVxlan>,
}

/// The link holding the node IP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Uplink {
    pub index: u32,
    pub mtu: u32,
}

pub(super) async fn links(handle: &Handle) -> Result<Vec<Link>, OverlayError> {
    let mut s = handle.link().get().execute();
    let mut out = Vec::new();
    while let Some(m) = s.try_next().await.map_err(nl("listing links"))? {
        let mut l = Link {
            index: m.header.index,
            up: m.header.flags.contains(LinkFlags::Up),
            ..Link::default()
        };
        for a in m.attributes {
            match a {
                LinkAttribute::IfName(n) => l.name = n,
                LinkAttribute::Mtu(mtu) => l.mtu = mtu,
                LinkAttribute::Address(mac) => l.mac = mac,
                LinkAttribute::LinkInfo(infos) => {
                    for i in infos {
                        match i {
                            LinkInfo::Kind(k) => l.kind = Some(k),
                            LinkInfo::Data(InfoData::Vxlan(v)) => l.vxlan = v,
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        out.push(l);
    }
    Ok(out)
}

/// Every address of the node: (link index, address, prefix length).
pub(super) async fn addresses(handle: &Handle) -> Result<Vec<(u32, IpAddr, u8)>, OverlayError> {
    let mut s = handle.address().get().execute();
    let mut out = Vec::new();
    while let Some(m) = s.try_next().await.map_err(nl("listing addresses"))? {
        for a in &m.attributes {
            if let AddressAttribute::Address(ip) = a {
                out.push((m.header.index, *ip, m.header.prefix_len));
            }
        }
    }
    Ok(out)
}

/// The link holding `ip`, `None` when no link does.
pub(super) async fn link_holding(
    handle: &Handle,
    links: &[Link],
    ip: IpAddr,
) -> Result<Option<Uplink>, OverlayError> {
    let Some((index, _, _)) = addresses(handle).await?.into_iter().find(|a| a.1 == ip) else {
        return Ok(None);
    };
    Ok(links
        .iter()
        .find(|l| l.index == index)
        .map(|l| Uplink { index, mtu: l.mtu }))
}

/// Every route of the main table, both families.
pub(super) async fn main_routes(handle: &Handle) -> Result<Vec<RouteMessage>, OverlayError> {
    let mut out = Vec::new();
    for family in [AddressFamily::Inet, AddressFamily::Inet6] {
        let mut q = RouteMessage::default();
        q.header.address_family = family;
        let mut s = handle.route().get(q).execute();
        while let Some(m) = s.try_next().await.map_err(nl("listing routes"))? {
            if table(&m) == u32::from(RouteHeader::RT_TABLE_MAIN) {
                out.push(m);
            }
        }
    }
    Ok(out)
}

/// The route's table: ids above 255 only travel in RTA_TABLE.
pub(super) fn table(m: &RouteMessage) -> u32 {
    m.attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(u32::from(m.header.table))
}

pub(super) fn route_ip(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

/// The route's destination; a default route has none on the wire.
pub(super) fn destination(m: &RouteMessage) -> Option<IpNetwork> {
    let ip = m
        .attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Destination(d) => route_ip(d),
            _ => None,
        })
        .or(match m.header.address_family {
            AddressFamily::Inet => Some(IpAddr::from([0u8; 4])),
            AddressFamily::Inet6 => Some(IpAddr::from([0u8; 16])),
            _ => None,
        })?;
    IpNetwork::new(ip, m.header.destination_prefix_length).ok()
}

/// The route as a [`RouteSpec`], whatever its protocol.
pub(super) fn route_spec(m: &RouteMessage) -> Option<RouteSpec> {
    let mut r = RouteSpec {
        dst: destination(m)?,
        via: None,
        oif: None,
        onlink: m.header.flags.contains(RouteFlags::Onlink),
    };
    for a in &m.attributes {
        match a {
            RouteAttribute::Gateway(g) => r.via = route_ip(g),
            RouteAttribute::Oif(i) => r.oif = Some(*i),
            _ => {}
        }
    }
    Some(r)
}

pub(super) fn is_kedge(m: &RouteMessage) -> bool {
    u8::from(m.header.protocol) == ROUTE_PROTOCOL
}

fn neigh_ip(a: &NeighbourAddress) -> Option<IpAddr> {
    match a {
        NeighbourAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        NeighbourAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        // AF_BRIDGE messages carry the remote as raw bytes.
        NeighbourAddress::Other(b) => match b.len() {
            4 => <[u8; 4]>::try_from(b.as_slice()).ok().map(IpAddr::from),
            16 => <[u8; 16]>::try_from(b.as_slice()).ok().map(IpAddr::from),
            _ => None,
        },
        _ => None,
    }
}

/// Destination and 6-byte link-layer address of a neighbour message.
fn neigh_parts(m: &NeighbourMessage) -> (Option<IpAddr>, Option<[u8; 6]>) {
    let mut ip = None;
    let mut mac = None;
    for a in &m.attributes {
        match a {
            NeighbourAttribute::Destination(d) => ip = neigh_ip(d),
            NeighbourAttribute::LinkLayerAddress(l) => mac = <[u8; 6]>::try_from(l.as_slice()).ok(),
            _ => {}
        }
    }
    (ip, mac)
}

/// Permanent neighbour entries of link `vx`. Entries the kernel resolves by itself come and go
/// and are not kedge's.
pub(super) async fn neighbours(handle: &Handle, vx: u32) -> Result<Vec<NeighSpec>, OverlayError> {
    let mut out = Vec::new();
    for family in [AddressFamily::Inet, AddressFamily::Inet6] {
        let mut s = handle
            .neighbours()
            .get()
            .set_address_family(family)
            .execute();
        while let Some(m) = s.try_next().await.map_err(nl("listing neighbours"))? {
            if m.header.ifindex != vx || m.header.state != NeighbourState::Permanent {
                continue;
            }
            if let (Some(ip), Some(mac)) = neigh_parts(&m) {
                out.push(NeighSpec { ip, mac });
            }
        }
    }
    Ok(out)
}

/// FDB entries of link `vx` that send a MAC to a remote.
pub(super) async fn fdb(handle: &Handle, vx: u32) -> Result<Vec<FdbSpec>, OverlayError> {
    let mut s = handle
        .neighbours()
        .get()
        .set_address_family(AddressFamily::Bridge)
        .execute();
    let mut out = Vec::new();
    while let Some(m) = s.try_next().await.map_err(nl("listing fdb entries"))? {
        if m.header.ifindex != vx {
            continue;
        }
        if let (Some(dst), Some(mac)) = neigh_parts(&m) {
            out.push(FdbSpec { mac, dst });
        }
    }
    Ok(out)
}

/// The kedge-owned state and the node view; `vx` is the VXLAN device, when there is one.
pub(super) async fn snapshot(
    handle: &Handle,
    vx: Option<u32>,
) -> Result<(State, View), OverlayError> {
    let mut state = State::default();
    let mut view = View {
        vxlan: vx,
        ..View::default()
    };
    for (index, ip, prefix) in addresses(handle).await? {
        if Some(index) == vx {
            continue;
        }
        if let Ok(net) = IpNetwork::new(ip, prefix) {
            view.links.push(LinkNet {
                index,
                net: normalize(net),
            });
        }
    }
    for m in main_routes(handle).await? {
        match route_spec(&m) {
            Some(r) if is_kedge(&m) => {
                state.routes.insert(r);
            }
            Some(r) => {
                view.foreign.insert(r.dst);
            }
            None => {}
        }
    }
    if let Some(vx) = vx {
        state.neighbours = neighbours(handle, vx).await?.into_iter().collect();
        state.fdb = fdb(handle, vx).await?.into_iter().collect::<BTreeSet<_>>();
    }
    Ok((state, view))
}

fn route_message(r: &RouteSpec) -> RouteMessage {
    let mut m = RouteMessage::default();
    m.header.address_family = if r.dst.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    m.header.destination_prefix_length = r.dst.prefix();
    m.header.table = RouteHeader::RT_TABLE_MAIN;
    m.header.protocol = RouteProtocol::from(ROUTE_PROTOCOL);
    m.header.scope = RouteScope::Universe;
    m.header.kind = RouteType::Unicast;
    if r.onlink {
        m.header.flags.insert(RouteFlags::Onlink);
    }
    m.attributes
        .push(RouteAttribute::Destination(r.dst.network().into()));
    if let Some(via) = r.via {
        m.attributes.push(RouteAttribute::Gateway(via.into()));
    }
    if let Some(oif) = r.oif {
        m.attributes.push(RouteAttribute::Oif(oif));
    }
    m
}

fn neigh_message(
    family: AddressFamily,
    index: u32,
    attrs: Vec<NeighbourAttribute>,
) -> NeighbourMessage {
    let mut m = NeighbourMessage::default();
    m.header.family = family;
    m.header.ifindex = index;
    m.attributes = attrs;
    m
}

/// `Ok` also when the kernel reports the object already gone.
fn gone_ok(r: Result<(), rtnetlink::Error>, op: String) -> Result<(), OverlayError> {
    match r {
        Err(e) if matches!(errno(&e), Some(nix::libc::ESRCH | nix::libc::ENOENT)) => Ok(()),
        r => r.map_err(nl(op)),
    }
}

/// Executes `plan` in order. Neighbour and FDB entries need the VXLAN device `vx`.
pub(super) async fn apply(
    handle: &Handle,
    vx: Option<u32>,
    plan: &Plan,
) -> Result<(), OverlayError> {
    for e in &plan.delete {
        let op = format!("deleting {e}");
        let r = match (e, vx) {
            (Entry::Route(r), _) => handle.route().del(route_message(r)).execute().await,
            (Entry::Neighbour(n), Some(vx)) => {
                let family = if n.ip.is_ipv4() {
                    AddressFamily::Inet
                } else {
                    AddressFamily::Inet6
                };
                let m = neigh_message(
                    family,
                    vx,
                    vec![NeighbourAttribute::Destination(n.ip.into())],
                );
                handle.neighbours().del(m).execute().await
            }
            (Entry::Fdb(f), Some(vx)) => {
                let mut m = neigh_message(
                    AddressFamily::Bridge,
                    vx,
                    vec![
                        NeighbourAttribute::LinkLayerAddress(f.mac.to_vec()),
                        NeighbourAttribute::Destination(f.dst.into()),
                    ],
                );
                m.header.flags = NeighbourFlags::Own;
                handle.neighbours().del(m).execute().await
            }
            (_, None) => Ok(()),
        };
        gone_ok(r, op)?;
    }
    for e in &plan.add {
        let op = format!("adding {e}");
        let r = match (e, vx) {
            (Entry::Route(r), _) => handle.route().add(route_message(r)).execute().await,
            // Replace, so an entry the kernel created meanwhile (e.g. a failed ARP attempt
            // for the same address) does not make the add fail.
            (Entry::Neighbour(n), Some(vx)) => {
                handle
                    .neighbours()
                    .add(vx, n.ip)
                    .link_layer_address(&n.mac)
                    .replace()
                    .execute()
                    .await
            }
            (Entry::Fdb(f), Some(vx)) => {
                handle
                    .neighbours()
                    .add_bridge(vx, &f.mac)
                    .destination(f.dst)
                    .flags(NeighbourFlags::Own)
                    .replace()
                    .execute()
                    .await
            }
            (_, None) => Ok(()),
        };
        r.map_err(nl(op))?;
    }
    Ok(())
}
