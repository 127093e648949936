//! CHECK: compare what a previous ADD returned with what the node and the container hold.
//!
//! Contract: [`Expected::from_prev`] takes from `prevResult` the container interface
//! (`CNI_IFNAME`, with a sandbox equal to `CNI_NETNS`), its MAC, the addresses attached to it
//! and the default routes. [`observe`] reads the current state without changing anything:
//! the bridge, the host veth and its bridge port, the IPAM record, the container interface
//! (MAC, up, addresses, default routes), the `ip kedge` table and the hostPort record.
//! [`compare`] is pure and lists every difference; CHECK fails when the list is not empty.
//! Extra addresses or routes are tolerated: a later plugin in the chain may add its own.

use std::net::IpAddr;
use std::path::Path;

use futures_lite::StreamExt;
use ipnetwork::IpNetwork;
use rtnetlink::packet_route::link::{LinkAttribute, LinkFlags};
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute};
use rtnetlink::{Handle, RouteMessageBuilder};

use super::config::{Attachment, NetConf};
use super::result::CniResult;
use crate::bridge::{host_veth_name, TABLE};
use crate::ipam::Ipam;
use crate::nft::{Family, Nft, NftError, Table};
use crate::portmap::{self, HostPort, PortmapError};
use crate::veth::{self, LinkError};

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("prevResult: {0}")]
    PrevResult(String),
    #[error("inspecting links")]
    Link(#[from] LinkError),
    #[error("inspecting nftables")]
    Nft(#[from] NftError),
    #[error("reading hostport records")]
    Portmap(#[from] PortmapError),
}

/// What the previous ADD promised for the attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub ifname: String,
    pub mac: Option<String>,
    pub addrs: Vec<(IpAddr, u8)>,
    /// Gateways of the default routes.
    pub gateways: Vec<IpAddr>,
}

impl Expected {
    pub fn from_prev(prev: &CniResult, att: &Attachment) -> Result<Expected, CheckError> {
        let bad = |m: String| CheckError::PrevResult(m);
        let (idx, iface) = prev
            .sandbox_interface(&att.ifname)
            .ok_or_else(|| bad(format!("no sandbox interface {}", att.ifname)))?;
        if let Some(ns) = &att.netns {
            if Path::new(&iface.sandbox) != ns.as_path() {
                return Err(bad(format!(
                    "interface {} is in sandbox {}, not {}",
                    att.ifname,
                    iface.sandbox,
                    ns.display()
                )));
            }
        }
        let mut addrs = Vec::new();
        for ip in &prev.ips {
            if ip.interface.is_some_and(|i| i != idx) {
                continue;
            }
            let net: IpNetwork = ip
                .address
                .parse()
                .map_err(|e| bad(format!("address {:?}: {e}", ip.address)))?;
            addrs.push((net.ip(), net.prefix()));
        }
        let mut gateways = Vec::new();
        for r in &prev.routes {
            if !matches!(r.dst.as_str(), "0.0.0.0/0" | "::/0") {
                continue;
            }
            if let Some(gw) = &r.gw {
                gateways.push(
                    gw.parse()
                        .map_err(|e| bad(format!("route gateway {gw:?}: {e}")))?,
                );
            }
        }
        Ok(Expected {
            ifname: att.ifname.clone(),
            mac: Some(iface.mac.to_lowercase()).filter(|m| !m.is_empty()),
            addrs,
            gateways,
        })
    }
}

/// A link as CHECK needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkState {
    pub index: u32,
    pub mac: String,
    pub up: bool,
    /// The bridge (master) the link is a port of.
    pub controller: Option<u32>,
}

/// The state of the node and the container, as found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    pub bridge: Option<LinkState>,
    pub host_veth: Option<LinkState>,
    /// The IPAM's address for the attachment.
    pub ipam: Option<IpAddr>,
    pub pod_link: Option<LinkState>,
    pub pod_addrs: Vec<(IpAddr, u8)>,
    pub pod_gateways: Vec<IpAddr>,
    /// Whether `ip kedge` exists, and how many masquerade rules it has.
    pub table: bool,
    pub masq_rules: usize,
    /// The recorded hostPorts of the attachment, sorted.
    pub host_ports: Vec<HostPort>,
}

async fn link_state(h: &Handle, name: &str) -> Result<Option<LinkState>, LinkError> {
    let mut s = h.link().get().match_name(name.to_string()).execute();
    match s.try_next().await {
        Ok(Some(m)) => {
            let mut st = LinkState {
                index: m.header.index,
                mac: String::new(),
                up: m.header.flags.contains(LinkFlags::Up),
                controller: None,
            };
            for a in &m.attributes {
                match a {
                    LinkAttribute::Address(b) => st.mac = veth::format_mac(b),
                    LinkAttribute::Controller(c) => st.controller = Some(*c),
                    _ => {}
                }
            }
            Ok(Some(st))
        }
        Ok(None) => Ok(None),
        Err(e) if veth::errno(&e) == Some(nix::libc::ENODEV) => Ok(None),
        Err(source) => Err(LinkError::Netlink {
            op: format!("getting link {name}"),
            source,
        }),
    }
}

/// Gateways of the default routes leaving through link `idx`.
async fn default_gateways(h: &Handle, idx: u32, v6: bool) -> Result<Vec<IpAddr>, LinkError> {
    let msg = if v6 {
        RouteMessageBuilder::<std::net::Ipv6Addr>::new().build()
    } else {
        RouteMessageBuilder::<std::net::Ipv4Addr>::new().build()
    };
    let mut s = h.route().get(msg).execute();
    let mut out = Vec::new();
    loop {
        let m = match s.try_next().await {
            Ok(Some(m)) => m,
            Ok(None) => break,
            Err(source) => {
                return Err(LinkError::Netlink {
                    op: "listing routes".into(),
                    source,
                })
            }
        };
        if m.header.destination_prefix_length != 0 {
            continue;
        }
        let oif = m.attributes.iter().find_map(|a| match a {
            RouteAttribute::Oif(i) => Some(*i),
            _ => None,
        });
        if oif != Some(idx) {
            continue;
        }
        for a in &m.attributes {
            match a {
                RouteAttribute::Gateway(RouteAddress::Inet(g)) => out.push(IpAddr::V4(*g)),
                RouteAttribute::Gateway(RouteAddress::Inet6(g)) => out.push(IpAddr::V6(*g)),
                _ => {}
            }
        }
    }
    Ok(out)
}

/// Reads the current state; opens its sockets on the calling thread (the node's namespace)
/// and, for the container side, on a thread inside `att.netns`.
pub async fn observe(conf: &NetConf, att: &Attachment) -> Result<Observed, CheckError> {
    let id = att.id();
    let node = veth::connect()?;
    let mut o = Observed {
        bridge: link_state(&node, &conf.bridge).await?,
        host_veth: link_state(&node, &host_veth_name(&id)).await?,
        ..Observed::default()
    };
    let state = conf.state_dir();
    // Opening the IPAM creates its directory: only look when it exists.
    if state.is_dir() {
        if let Ok(ipam) = Ipam::open(&state, conf.subnet) {
            o.ipam = ipam.get(&id);
        }
        if let Some(p) = portmap::load_all(&state.join("hostports"))?
            .into_iter()
            .find(|p| p.id == id)
        {
            o.host_ports = p.ports;
            o.host_ports.sort();
        }
    }
    if let Some(ns) = &att.netns {
        let pod = veth::connect_in(ns)?;
        o.pod_link = link_state(&pod, &att.ifname).await?;
        if let Some(l) = &o.pod_link {
            o.pod_addrs = veth::addrs(&pod, l.index).await?;
            o.pod_gateways = default_gateways(&pod, l.index, conf.subnet.is_ipv6()).await?;
        }
    }
    let family = if conf.subnet.is_ipv6() {
        Family::Ip6
    } else {
        Family::Ip
    };
    if let Some(rs) = Nft::open()?.ruleset(&Table::new(family, TABLE))? {
        o.table = true;
        o.masq_rules = rs
            .chains
            .iter()
            .filter(|c| c.chain.name == "postrouting")
            .map(|c| c.rules.len())
            .sum();
    }
    Ok(o)
}

/// Every difference between the promise and the state; empty when CHECK passes.
pub fn compare(conf: &NetConf, exp: &Expected, o: &Observed) -> Vec<String> {
    let mut bad = Vec::new();
    match &o.bridge {
        None => bad.push(format!("bridge {} is missing", conf.bridge)),
        Some(b) if !b.up => bad.push(format!("bridge {} is down", conf.bridge)),
        Some(_) => {}
    }
    match (&o.host_veth, &o.bridge) {
        (None, _) => bad.push("the host side of the veth pair is missing".into()),
        (Some(v), Some(b)) if v.controller != Some(b.index) => {
            bad.push(format!("the host veth is not a port of {}", conf.bridge))
        }
        (Some(v), _) if !v.up => bad.push("the host veth is down".into()),
        _ => {}
    }
    match &o.pod_link {
        None => bad.push(format!(
            "interface {} is missing in the container",
            exp.ifname
        )),
        Some(l) => {
            if !l.up {
                bad.push(format!("interface {} is down", exp.ifname));
            }
            if let Some(mac) = &exp.mac {
                if &l.mac != mac {
                    bad.push(format!(
                        "interface {} has MAC {}, not {mac}",
                        exp.ifname, l.mac
                    ));
                }
            }
        }
    }
    for (ip, prefix) in &exp.addrs {
        if o.pod_link.is_some() && !o.pod_addrs.contains(&(*ip, *prefix)) {
            bad.push(format!("address {ip}/{prefix} is not on {}", exp.ifname));
        }
        if o.ipam != Some(*ip) {
            bad.push(format!("address {ip} is not reserved for the container"));
        }
    }
    for gw in &exp.gateways {
        if o.pod_link.is_some() && !o.pod_gateways.contains(gw) {
            bad.push(format!("default route via {gw} is missing"));
        }
    }
    if conf.ip_masq && o.masq_rules == 0 {
        bad.push("the masquerade rules are missing".into());
    }
    if !conf.port_mappings.is_empty() && !o.table {
        bad.push(format!("nftables table {TABLE} is missing"));
    }
    let mut want = conf.port_mappings.clone();
    want.sort();
    if want != o.host_ports {
        bad.push(format!(
            "hostPort record {:?} differs from portMappings {want:?}",
            o.host_ports
        ));
    }
    bad
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::portmap::Protocol;

    fn conf() -> NetConf {
        NetConf::parse(
            br#"{"cniVersion":"1.0.0","name":"n","type":"kedge-cni",
                 "ipam":{"type":"host-local","subnet":"10.88.0.0/24","dataDir":"/x"}}"#,
        )
        .unwrap()
    }

    fn att() -> Attachment {
        Attachment {
            container_id: "c1".into(),
            ifname: "eth0".into(),
            netns: Some("/run/netns/c1".into()),
        }
    }

    fn prev() -> CniResult {
        let mut r = crate::cni::result::sample();
        // MACs compare case-insensitively.
        r.interfaces[1].mac = "02:AA:00:00:00:02".into();
        r
    }

    fn link(index: u32, controller: Option<u32>) -> LinkState {
        LinkState {
            index,
            mac: "02:aa:00:00:00:02".into(),
            up: true,
            controller,
        }
    }

    fn healthy() -> Observed {
        Observed {
            bridge: Some(link(3, None)),
            host_veth: Some(link(4, Some(3))),
            ipam: Some("10.88.0.2".parse().unwrap()),
            pod_link: Some(link(2, None)),
            pod_addrs: vec![
                ("10.88.0.2".parse().unwrap(), 24),
                ("fe80::1".parse().unwrap(), 64),
            ],
            pod_gateways: vec!["10.88.0.1".parse().unwrap()],
            table: true,
            masq_rules: 2,
            host_ports: vec![],
        }
    }

    #[test]
    fn expected_comes_from_the_sandbox_interface() {
        let e = Expected::from_prev(&prev(), &att()).unwrap();
        assert_eq!(e.mac.as_deref(), Some("02:aa:00:00:00:02"));
        assert_eq!(e.addrs, vec![("10.88.0.2".parse().unwrap(), 24)]);
        assert_eq!(e.gateways, vec!["10.88.0.1".parse::<IpAddr>().unwrap()]);
        let mut other = att();
        other.netns = Some("/run/netns/other".into());
        assert!(Expected::from_prev(&prev(), &other).is_err());
        other = att();
        other.ifname = "eth1".into();
        assert!(Expected::from_prev(&prev(), &other).is_err());
    }

    #[test]
    fn a_healthy_attachment_passes() {
        let e = Expected::from_prev(&prev(), &att()).unwrap();
        assert_eq!(compare(&conf(), &e, &healthy()), Vec::<String>::new());
    }

    #[test]
    fn every_tampering_is_reported() {
        let c = conf();
        let e = Expected::from_prev(&prev(), &att()).unwrap();
        type Tamper = fn(&mut Observed);
        let cases: Vec<(Tamper, &str)> = vec![
            (|o| o.bridge = None, "bridge kedge0 is missing"),
            (|o| o.host_veth = None, "host side"),
            (
                |o| o.host_veth.as_mut().unwrap().controller = None,
                "not a port",
            ),
            (|o| o.pod_link = None, "missing in the container"),
            (|o| o.pod_link.as_mut().unwrap().up = false, "is down"),
            (|o| o.pod_link.as_mut().unwrap().mac = "x".into(), "MAC"),
            (|o| o.pod_addrs.clear(), "is not on eth0"),
            (|o| o.ipam = None, "not reserved"),
            (|o| o.pod_gateways.clear(), "default route"),
            (|o| o.masq_rules = 0, "masquerade"),
            (
                |o| o.host_ports = vec![HostPort::new(Protocol::Tcp, 1, 2)],
                "hostPort record",
            ),
        ];
        for (tamper, want) in cases {
            let mut o = healthy();
            tamper(&mut o);
            let diff = compare(&c, &e, &o);
            assert!(diff.iter().any(|d| d.contains(want)), "{want}: {diff:?}");
        }
    }
}
