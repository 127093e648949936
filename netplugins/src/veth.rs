//! Link plumbing over rtnetlink: connections per namespace, bridges, veth pairs, addresses
//! and routes.
//!
//! Contract: every function acts in the namespace of the [`Handle`] it is given (the one of
//! the thread that opened it: [`connect`] for the calling thread, [`connect_in`] for a named
//! namespace). "Ensure" functions are idempotent; deleting a missing link is not an error.

use std::net::IpAddr;
use std::path::Path;

use futures_lite::StreamExt;
use rtnetlink::packet_route::address::AddressAttribute;
use rtnetlink::packet_route::link::LinkAttribute;
use rtnetlink::sys::SmolSocket;
use rtnetlink::{Handle, LinkBridge, LinkBridgePort, LinkUnspec, LinkVeth, RouteMessageBuilder};

use crate::netns::{self, NetnsError};

/// The rtnetlink handle the functions here take, for callers without rtnetlink of their own.
pub use rtnetlink::Handle as NetlinkHandle;

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("opening an rtnetlink socket")]
    Connect(#[source] std::io::Error),
    #[error("opening an rtnetlink socket in {0}")]
    Netns(String, #[source] NetnsError),
    #[error("{op}")]
    Netlink {
        op: String,
        #[source]
        source: rtnetlink::Error,
    },
    #[error("link {0} not found")]
    NotFound(String),
}

fn nl(op: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> LinkError {
    let op = op.into();
    move |source| LinkError::Netlink { op, source }
}

/// The errno of a netlink error, positive.
pub fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => Some(m.raw_code().abs()),
        _ => None,
    }
}

/// An rtnetlink handle in the calling thread's namespace; its connection runs on smol.
pub fn connect() -> Result<Handle, LinkError> {
    let (conn, handle, _) =
        rtnetlink::new_connection_with_socket::<SmolSocket>().map_err(LinkError::Connect)?;
    smol::spawn(conn).detach();
    Ok(handle)
}

/// An rtnetlink handle in the namespace pinned at `path`.
pub fn connect_in(path: &Path) -> Result<Handle, LinkError> {
    // The socket is opened on a thread inside the namespace and keeps that namespace.
    let (conn, handle, _) =
        netns::run_in(path, rtnetlink::new_connection_with_socket::<SmolSocket>)
            .map_err(|e| LinkError::Netns(path.display().to_string(), e))?
            .map_err(LinkError::Connect)?;
    smol::spawn(conn).detach();
    Ok(handle)
}

/// Applies a link change (`ip link set`).
async fn set_link(
    handle: &Handle,
    msg: rtnetlink::packet_route::link::LinkMessage,
    op: String,
) -> Result<(), LinkError> {
    handle.link().set(msg).execute().await.map_err(nl(op))
}

/// Index and MAC of the link `name`, `None` when it does not exist.
pub async fn link(handle: &Handle, name: &str) -> Result<Option<(u32, Vec<u8>)>, LinkError> {
    let mut s = handle.link().get().match_name(name.to_string()).execute();
    match s.try_next().await {
        Ok(Some(m)) => {
            let mac = m
                .attributes
                .iter()
                .find_map(|a| match a {
                    LinkAttribute::Address(b) => Some(b.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            Ok(Some((m.header.index, mac)))
        }
        Ok(None) => Ok(None),
        Err(e) if errno(&e) == Some(nix::libc::ENODEV) => Ok(None),
        Err(e) => Err(nl(format!("getting link {name}"))(e)),
    }
}

async fn index(handle: &Handle, name: &str) -> Result<u32, LinkError> {
    link(handle, name)
        .await?
        .map(|l| l.0)
        .ok_or_else(|| LinkError::NotFound(name.to_string()))
}

/// Creates the bridge unless it exists, sets its MTU and brings it up; returns its index.
pub async fn ensure_bridge(handle: &Handle, name: &str, mtu: u32) -> Result<u32, LinkError> {
    if link(handle, name).await?.is_none() {
        match handle
            .link()
            .add(LinkBridge::new(name).mtu(mtu).build())
            .execute()
            .await
        {
            Err(e) if errno(&e) != Some(nix::libc::EEXIST) => {
                return Err(nl(format!("creating bridge {name}"))(e))
            }
            _ => {}
        }
    }
    let idx = index(handle, name).await?;
    set_link(
        handle,
        LinkUnspec::new_with_index(idx).mtu(mtu).up().build(),
        format!("bringing {name} up"),
    )
    .await?;
    Ok(idx)
}

/// Adds `addr/prefix` to the link unless present.
pub async fn ensure_addr(
    handle: &Handle,
    idx: u32,
    addr: IpAddr,
    prefix: u8,
) -> Result<(), LinkError> {
    if addrs(handle, idx).await?.contains(&(addr, prefix)) {
        return Ok(());
    }
    match handle.address().add(idx, addr, prefix).execute().await {
        Err(e) if errno(&e) != Some(nix::libc::EEXIST) => {
            Err(nl(format!("adding {addr}/{prefix}"))(e))
        }
        _ => Ok(()),
    }
}

/// The addresses of a link.
pub async fn addrs(handle: &Handle, idx: u32) -> Result<Vec<(IpAddr, u8)>, LinkError> {
    let mut s = handle.address().get().set_link_index_filter(idx).execute();
    let mut out = Vec::new();
    while let Some(m) = s.try_next().await.map_err(nl("listing addresses"))? {
        if m.header.index != idx {
            continue;
        }
        for a in &m.attributes {
            if let AddressAttribute::Address(ip) = a {
                out.push((*ip, m.header.prefix_len));
            }
        }
    }
    Ok(out)
}

/// Creates a veth pair `host` <-> `peer` with the MTU.
pub async fn create_pair(
    handle: &Handle,
    host: &str,
    peer: &str,
    mtu: u32,
) -> Result<(), LinkError> {
    handle
        .link()
        .add(LinkVeth::new(host, peer).mtu(mtu).build())
        .execute()
        .await
        .map_err(nl(format!("creating veth {host}")))
}

/// Creates a veth pair whose peer is made directly inside the namespace pinned at `ns`,
/// named `peer` there. Moving a link between namespaces afterwards waits for an RCU grace
/// period in the kernel (about 16 ms here), which made it the slowest step of a pod start.
pub async fn create_pair_in(
    handle: &Handle,
    host: &str,
    peer: &str,
    ns: &Path,
    mtu: u32,
) -> Result<(), LinkError> {
    use rtnetlink::packet_route::link::{InfoData, InfoVeth, LinkAttribute, LinkInfo};
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(ns).map_err(|e| {
        LinkError::Netns(
            ns.display().to_string(),
            NetnsError::Open {
                path: ns.to_path_buf(),
                source: e,
            },
        )
    })?;
    let mut msg = LinkVeth::new(host, peer).mtu(mtu).build();
    for attr in msg.attributes.iter_mut() {
        if let LinkAttribute::LinkInfo(infos) = attr {
            for info in infos.iter_mut() {
                if let LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(p))) = info {
                    p.attributes.push(LinkAttribute::NetNsFd(f.as_raw_fd()));
                    p.attributes.push(LinkAttribute::Mtu(mtu));
                }
            }
        }
    }
    handle.link().add(msg).execute().await.map_err(nl(format!(
        "creating veth {host} with {peer} in {}",
        ns.display()
    )))
}

/// Routes `dst` out of link `idx` (scope link), replacing any route to exactly `dst`.
/// Idempotent.
pub async fn ensure_link_route(
    handle: &Handle,
    dst: ipnetwork::IpNetwork,
    idx: u32,
) -> Result<(), LinkError> {
    let route = match dst {
        ipnetwork::IpNetwork::V4(n) => RouteMessageBuilder::<std::net::Ipv4Addr>::new()
            .destination_prefix(n.network(), n.prefix())
            .output_interface(idx)
            .scope(rtnetlink::packet_route::route::RouteScope::Link)
            .build(),
        ipnetwork::IpNetwork::V6(n) => RouteMessageBuilder::<std::net::Ipv6Addr>::new()
            .destination_prefix(n.network(), n.prefix())
            .output_interface(idx)
            .scope(rtnetlink::packet_route::route::RouteScope::Link)
            .build(),
    };
    handle
        .route()
        .add(route)
        .replace()
        .execute()
        .await
        .map_err(nl(format!("routing {dst}")))
}

/// Moves the link into the namespace pinned at `ns`.
pub async fn move_to(handle: &Handle, name: &str, ns: &Path) -> Result<(), LinkError> {
    use std::os::fd::AsRawFd;
    let idx = index(handle, name).await?;
    let f = std::fs::File::open(ns).map_err(|e| {
        LinkError::Netns(
            ns.display().to_string(),
            NetnsError::Open {
                path: ns.to_path_buf(),
                source: e,
            },
        )
    })?;
    set_link(
        handle,
        LinkUnspec::new_with_index(idx)
            .setns_by_fd(f.as_raw_fd())
            .build(),
        format!("moving {name} to {}", ns.display()),
    )
    .await
}

/// Attaches the link to the bridge, enables hairpin on the port and brings it up.
pub async fn attach(handle: &Handle, name: &str, bridge: u32) -> Result<(), LinkError> {
    let idx = index(handle, name).await?;
    set_link(
        handle,
        LinkUnspec::new_with_index(idx)
            .controller(bridge)
            .up()
            .build(),
        format!("attaching {name} to the bridge"),
    )
    .await?;
    // Hairpin lets a pod reach itself through a service or hostPort DNAT.
    handle
        .link()
        .set_port(LinkBridgePort::new(idx).hairpin(true).build())
        .execute()
        .await
        .map_err(nl(format!("enabling hairpin on {name}")))
}

/// Deletes the link; a missing one is fine.
pub async fn delete(handle: &Handle, name: &str) -> Result<bool, LinkError> {
    let Some((idx, _)) = link(handle, name).await? else {
        return Ok(false);
    };
    match handle.link().del(idx).execute().await {
        Err(e) if errno(&e) != Some(nix::libc::ENODEV) => Err(nl(format!("deleting {name}"))(e)),
        _ => Ok(true),
    }
}

/// Inside the pod: renames `tmp` to `ifname`, sets MTU, address, up, lo up and the default
/// route via `gateway`. Returns the interface MAC.
pub async fn configure_pod(
    handle: &Handle,
    tmp: &str,
    ifname: &str,
    addr: IpAddr,
    prefix: u8,
    gateway: IpAddr,
    mtu: u32,
) -> Result<Vec<u8>, LinkError> {
    let lo = index(handle, "lo").await?;
    set_link(
        handle,
        LinkUnspec::new_with_index(lo).up().build(),
        "bringing lo up".to_string(),
    )
    .await?;
    let idx = match link(handle, ifname).await? {
        Some((i, _)) => i,
        None => {
            let i = index(handle, tmp).await?;
            set_link(
                handle,
                LinkUnspec::new_with_index(i)
                    .name(ifname.to_string())
                    .mtu(mtu)
                    .build(),
                format!("renaming {tmp} to {ifname}"),
            )
            .await?;
            i
        }
    };
    ensure_addr(handle, idx, addr, prefix).await?;
    set_link(
        handle,
        LinkUnspec::new_with_index(idx).up().build(),
        format!("bringing {ifname} up"),
    )
    .await?;
    let route = match gateway {
        IpAddr::V4(gw) => RouteMessageBuilder::<std::net::Ipv4Addr>::new()
            .gateway(gw)
            .output_interface(idx)
            .build(),
        IpAddr::V6(gw) => RouteMessageBuilder::<std::net::Ipv6Addr>::new()
            .gateway(gw)
            .output_interface(idx)
            .build(),
    };
    match handle.route().add(route).execute().await {
        Err(e) if errno(&e) != Some(nix::libc::EEXIST) => {
            return Err(nl("adding the default route")(e))
        }
        _ => {}
    }
    Ok(link(handle, ifname).await?.map(|l| l.1).unwrap_or_default())
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn format_mac(mac: &[u8]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Brings the link up.
pub async fn set_up(handle: &Handle, name: &str) -> Result<(), LinkError> {
    let idx = index(handle, name).await?;
    set_link(
        handle,
        LinkUnspec::new_with_index(idx).up().build(),
        format!("bringing {name} up"),
    )
    .await
}
