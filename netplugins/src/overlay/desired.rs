//! The overlay's desired state, computed from the peers, and its diff against the kernel's.
//!
//! Contract: pure functions. [`desired`] maps (backend, local node, peers, a [`View`] of the
//! node's links and foreign routes) to the kedge-owned [`State`] the node should hold plus the
//! peers it had to skip; the result does not depend on the order of `peers` (they are taken by
//! name, the first claimant of a pod CIDR or VTEP MAC wins). [`plan`] is the set difference
//! both ways: entries equal on both sides never appear, so converged state yields an empty
//! plan.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

use ipnetwork::IpNetwork;

use super::{Backend, LocalNode, Peer, Skipped};
use crate::veth::format_mac;

/// A kedge route in the main table: `dst via <via> dev <oif> [onlink] proto kedge`.
/// `via`/`oif` are options only because a kedge route found in the kernel may lack them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RouteSpec {
    pub dst: IpNetwork,
    pub via: Option<IpAddr>,
    pub oif: Option<u32>,
    pub onlink: bool,
}

/// A permanent neighbour entry on the VXLAN device: a peer's VTEP address → its VTEP MAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NeighSpec {
    pub ip: IpAddr,
    pub mac: [u8; 6],
}

/// A forwarding entry of the VXLAN device: a peer's VTEP MAC → its node IP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FdbSpec {
    pub mac: [u8; 6],
    pub dst: IpAddr,
}

/// One kernel object kedge manages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Entry {
    Route(RouteSpec),
    Neighbour(NeighSpec),
    Fdb(FdbSpec),
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Entry::Route(r) => {
                write!(f, "route {}", r.dst)?;
                if let Some(via) = r.via {
                    write!(f, " via {via}")?;
                }
                if let Some(oif) = r.oif {
                    write!(f, " oif {oif}")?;
                }
                if r.onlink {
                    f.write_str(" onlink")?;
                }
                Ok(())
            }
            Entry::Neighbour(n) => write!(f, "neigh {} lladdr {}", n.ip, format_mac(&n.mac)),
            Entry::Fdb(e) => write!(f, "fdb {} dst {}", format_mac(&e.mac), e.dst),
        }
    }
}

/// Kedge-owned kernel state: desired, or found in the kernel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    pub routes: BTreeSet<RouteSpec>,
    pub neighbours: BTreeSet<NeighSpec>,
    pub fdb: BTreeSet<FdbSpec>,
}

/// A directly connected network of a local link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkNet {
    pub index: u32,
    pub net: IpNetwork,
}

/// What [`desired`] needs to know about the node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct View {
    /// Connected networks of the node's links (the VXLAN device excluded).
    pub links: Vec<LinkNet>,
    /// The VXLAN device's index, when it exists.
    pub vxlan: Option<u32>,
    /// Destinations of main-table routes kedge does not own: never fought over.
    pub foreign: BTreeSet<IpNetwork>,
}

/// The changes turning the kernel's kedge state into the desired one, in the order to apply
/// them: deletions (routes before the neighbours and FDB entries they use), then additions
/// (FDB and neighbours before the routes that need them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub delete: Vec<Entry>,
    pub add: Vec<Entry>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.delete.is_empty() && self.add.is_empty()
    }
}

/// `net` with its host bits cleared, so `10.42.1.7/24` and `10.42.1.0/24` compare equal.
pub(super) fn normalize(net: IpNetwork) -> IpNetwork {
    IpNetwork::new(net.network(), net.prefix()).unwrap_or(net)
}

fn overlaps(a: IpNetwork, b: IpNetwork) -> bool {
    a.is_ipv4() == b.is_ipv4() && (a.contains(b.network()) || b.contains(a.network()))
}

/// The connected network of `ip` with the longest prefix, the way the kernel would pick the
/// link for a gateway; host routes (/32, /128) cannot carry a gateway and do not count.
fn on_link(view: &View, ip: IpAddr) -> Option<LinkNet> {
    view.links
        .iter()
        .filter(|l| Some(l.index) != view.vxlan)
        .filter(|l| l.net.is_ipv4() == ip.is_ipv4())
        .filter(|l| l.net.prefix() < if ip.is_ipv4() { 32 } else { 128 })
        .filter(|l| l.net.contains(ip))
        .max_by_key(|l| (l.net.prefix(), std::cmp::Reverse(l.index)))
        .copied()
}

/// The kedge-owned state `backend` wants for `peers`, and the peers that had to be skipped.
pub fn desired(
    backend: Backend,
    local: &LocalNode,
    peers: &[Peer],
    view: &View,
) -> (State, Vec<Skipped>) {
    let mut state = State::default();
    let mut skipped = Vec::new();
    if backend == Backend::None {
        return (state, skipped);
    }
    let mut sorted: Vec<&Peer> = peers
        .iter()
        .filter(|p| p.name != local.name && p.node_ip != local.node_ip)
        .collect();
    sorted.sort_by(|a, b| (&a.name, a.node_ip).cmp(&(&b.name, b.node_ip)));
    let local_mac = super::vxlan::vtep_mac_for(local.node_ip);
    // Claimed pod CIDRs and VTEP MACs, by peer name: the first (by name) wins.
    let mut cidrs: Vec<(IpNetwork, &str)> = vec![(normalize(local.pod_cidr), &local.name)];
    let mut macs: BTreeMap<[u8; 6], &str> = BTreeMap::from([(local_mac, local.name.as_str())]);
    for p in sorted {
        let skip = |reason: String| Skipped {
            peer: p.name.clone(),
            reason,
        };
        let dst = normalize(p.pod_cidr);
        if let Some((_, other)) = cidrs.iter().find(|(c, _)| overlaps(*c, dst)) {
            skipped.push(skip(format!("pod CIDR {dst} overlaps the one of {other}")));
            continue;
        }
        if view.foreign.contains(&dst) {
            skipped.push(skip(format!("a route to {dst} not owned by kedge exists")));
            continue;
        }
        match backend {
            Backend::HostGw => {
                if dst.is_ipv4() != p.node_ip.is_ipv4() {
                    skipped.push(skip(format!(
                        "pod CIDR {dst} and node IP {} differ in family",
                        p.node_ip
                    )));
                    continue;
                }
                let Some(link) = on_link(view, p.node_ip) else {
                    skipped.push(skip(format!(
                        "node IP {} is on no directly connected network (host-gw needs a \
                         shared L2 segment; use vxlan)",
                        p.node_ip
                    )));
                    continue;
                };
                state.routes.insert(RouteSpec {
                    dst,
                    via: Some(p.node_ip),
                    oif: Some(link.index),
                    onlink: false,
                });
            }
            Backend::Vxlan => {
                let Some(vx) = view.vxlan else {
                    skipped.push(skip(format!("device {} is missing", super::VXLAN_DEVICE)));
                    continue;
                };
                let Some(mac) = p.vtep_mac else {
                    skipped.push(skip("no VTEP MAC published yet".to_string()));
                    continue;
                };
                if p.node_ip.is_ipv4() != local.node_ip.is_ipv4() {
                    skipped.push(skip(format!(
                        "node IP {} differs in family from the local {}",
                        p.node_ip, local.node_ip
                    )));
                    continue;
                }
                if let Some(other) = macs.get(&mac) {
                    skipped.push(skip(format!(
                        "VTEP MAC {} is also the one of {other}",
                        format_mac(&mac)
                    )));
                    continue;
                }
                macs.insert(mac, &p.name);
                // Flannel's layout: the peer's VTEP answers for the network address of its
                // pod CIDR, which routes reach on-link through the device.
                let vtep = dst.network();
                state.routes.insert(RouteSpec {
                    dst,
                    via: Some(vtep),
                    oif: Some(vx),
                    onlink: true,
                });
                state.neighbours.insert(NeighSpec { ip: vtep, mac });
                state.fdb.insert(FdbSpec {
                    mac,
                    dst: p.node_ip,
                });
            }
            Backend::None => unreachable!("returned above"),
        }
        cidrs.push((dst, &p.name));
    }
    (state, skipped)
}

/// The diff turning `current` into `desired`.
pub fn plan(current: &State, desired: &State) -> Plan {
    let mut p = Plan::default();
    p.delete.extend(
        current
            .routes
            .difference(&desired.routes)
            .map(|r| Entry::Route(*r)),
    );
    p.delete.extend(
        current
            .neighbours
            .difference(&desired.neighbours)
            .map(|n| Entry::Neighbour(*n)),
    );
    p.delete
        .extend(current.fdb.difference(&desired.fdb).map(|f| Entry::Fdb(*f)));
    p.add
        .extend(desired.fdb.difference(&current.fdb).map(|f| Entry::Fdb(*f)));
    p.add.extend(
        desired
            .neighbours
            .difference(&current.neighbours)
            .map(|n| Entry::Neighbour(*n)),
    );
    p.add.extend(
        desired
            .routes
            .difference(&current.routes)
            .map(|r| Entry::Route(*r)),
    );
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    const ETH0: u32 = 2;
    const VX: u32 = 9;

    fn local() -> LocalNode {
        LocalNode::new(
            "n1",
            "192.168.1.1".parse().unwrap(),
            "10.42.1.0/24".parse().unwrap(),
        )
    }

    fn peer(name: &str, ip: &str, cidr: &str, mac: Option<u8>) -> Peer {
        Peer {
            name: name.to_string(),
            node_ip: ip.parse().unwrap(),
            pod_cidr: cidr.parse().unwrap(),
            vtep_mac: mac.map(|m| [0x0e, 0x4b, 0, 0, 0, m]),
        }
    }

    fn view() -> View {
        View {
            links: vec![
                LinkNet {
                    index: 1,
                    net: "127.0.0.1/8".parse().unwrap(),
                },
                LinkNet {
                    index: ETH0,
                    net: "192.168.1.0/24".parse().unwrap(),
                },
                LinkNet {
                    index: VX,
                    net: "10.42.1.0/32".parse().unwrap(),
                },
            ],
            vxlan: Some(VX),
            foreign: BTreeSet::from(["10.42.1.0/24".parse().unwrap()]),
        }
    }

    fn peers() -> Vec<Peer> {
        vec![
            peer("n3", "192.168.1.3", "10.42.3.0/24", Some(3)),
            peer("n2", "192.168.1.2", "10.42.2.0/24", Some(2)),
        ]
    }

    fn route(dst: &str, via: &str, oif: u32, onlink: bool) -> RouteSpec {
        RouteSpec {
            dst: dst.parse().unwrap(),
            via: Some(via.parse().unwrap()),
            oif: Some(oif),
            onlink,
        }
    }

    #[test]
    fn vtep_macs_round_trip_through_the_annotation() {
        let mac = [0x0e, 0x4b, 0xac, 0x1f, 0xfa, 0x02];
        assert_eq!(super::super::parse_mac(&format_mac(&mac)), Some(mac));
        assert_eq!(super::super::parse_mac("0E:4B:AC:1F:FA:02"), Some(mac));
        for bad in [
            "",
            "0e:4b:ac:1f:fa",
            "0e:4b:ac:1f:fa:02:03",
            "0e:4b:ac:1f:fa:2",
            "zz:4b:ac:1f:fa:02",
        ] {
            assert_eq!(super::super::parse_mac(bad), None, "{bad}");
        }
    }

    #[test]
    fn backends_parse() {
        assert_eq!("host-gw".parse::<Backend>().unwrap(), Backend::HostGw);
        assert_eq!("vxlan".parse::<Backend>().unwrap(), Backend::Vxlan);
        assert_eq!("none".parse::<Backend>().unwrap(), Backend::None);
        assert!("flannel".parse::<Backend>().is_err());
        assert_eq!(Backend::HostGw.to_string(), "host-gw");
    }

    #[test]
    fn host_gw_routes_each_peer_via_its_node_ip_on_the_connected_link() {
        let (s, skipped) = desired(Backend::HostGw, &local(), &peers(), &view());
        assert!(skipped.is_empty(), "{skipped:?}");
        assert_eq!(
            s.routes,
            BTreeSet::from([
                route("10.42.2.0/24", "192.168.1.2", ETH0, false),
                route("10.42.3.0/24", "192.168.1.3", ETH0, false),
            ])
        );
        assert!(s.neighbours.is_empty() && s.fdb.is_empty());
    }

    #[test]
    fn host_gw_skips_peers_off_link_and_ignores_itself() {
        let mut ps = peers();
        ps.push(peer("far", "172.16.0.9", "10.42.9.0/24", None));
        ps.push(peer("n1", "192.168.1.1", "10.42.1.0/24", None));
        ps.push(peer("alias", "192.168.1.1", "10.42.8.0/24", None));
        let (s, skipped) = desired(Backend::HostGw, &local(), &ps, &view());
        assert_eq!(s.routes.len(), 2);
        assert_eq!(skipped.len(), 1, "{skipped:?}");
        assert_eq!(skipped[0].peer, "far");
        assert!(
            skipped[0].reason.contains("directly connected"),
            "{skipped:?}"
        );
    }

    #[test]
    fn vxlan_wants_route_neighbour_and_fdb_per_peer_with_a_mac() {
        let mut ps = peers();
        ps.push(peer("new", "192.168.1.4", "10.42.4.0/24", None));
        let (s, skipped) = desired(Backend::Vxlan, &local(), &ps, &view());
        assert_eq!(
            skipped,
            vec![Skipped {
                peer: "new".into(),
                reason: "no VTEP MAC published yet".into()
            }]
        );
        assert_eq!(
            s.routes,
            BTreeSet::from([
                route("10.42.2.0/24", "10.42.2.0", VX, true),
                route("10.42.3.0/24", "10.42.3.0", VX, true),
            ])
        );
        assert!(s.neighbours.contains(&NeighSpec {
            ip: "10.42.2.0".parse().unwrap(),
            mac: [0x0e, 0x4b, 0, 0, 0, 2]
        }));
        assert!(s.fdb.contains(&FdbSpec {
            mac: [0x0e, 0x4b, 0, 0, 0, 3],
            dst: "192.168.1.3".parse().unwrap()
        }));
        assert_eq!((s.neighbours.len(), s.fdb.len()), (2, 2));
    }

    #[test]
    fn vxlan_reaches_peers_beyond_the_local_segment() {
        let ps = vec![peer("far", "172.16.0.9", "10.42.9.0/24", Some(9))];
        let (s, skipped) = desired(Backend::Vxlan, &local(), &ps, &view());
        assert!(skipped.is_empty());
        assert_eq!(s.routes.len(), 1);
    }

    #[test]
    fn conflicting_peers_are_skipped_in_name_order_whatever_the_input_order() {
        let mut ps = vec![
            peer("b", "192.168.1.5", "10.42.2.0/23", Some(5)),
            peer("a", "192.168.1.2", "10.42.2.0/24", Some(2)),
            peer("c", "192.168.1.6", "10.42.6.0/24", Some(2)),
            peer("d", "192.168.1.7", "10.42.1.128/25", Some(7)),
        ];
        let (s1, k1) = desired(Backend::Vxlan, &local(), &ps, &view());
        ps.reverse();
        let (s2, k2) = desired(Backend::Vxlan, &local(), &ps, &view());
        assert_eq!((s1.clone(), k1.clone()), (s2, k2));
        let names: Vec<&str> = k1.iter().map(|k| k.peer.as_str()).collect();
        assert_eq!(names, ["b", "c", "d"], "{k1:?}");
        assert!(k1[2].reason.contains("of n1"), "{k1:?}");
        assert_eq!(s1.routes.len(), 1);
    }

    #[test]
    fn foreign_routes_are_not_fought_over() {
        let mut v = view();
        v.foreign.insert("10.42.2.0/24".parse().unwrap());
        let (s, skipped) = desired(Backend::HostGw, &local(), &peers(), &v);
        assert_eq!(s.routes.len(), 1);
        assert!(skipped[0].reason.contains("not owned by kedge"));
    }

    #[test]
    fn pod_cidrs_are_normalized() {
        let ps = vec![peer("n2", "192.168.1.2", "10.42.2.77/24", None)];
        let (s, _) = desired(Backend::HostGw, &local(), &ps, &view());
        assert_eq!(
            s.routes.first().unwrap().dst,
            "10.42.2.0/24".parse::<IpNetwork>().unwrap()
        );
    }

    #[test]
    fn none_wants_nothing() {
        let (s, skipped) = desired(Backend::None, &local(), &peers(), &view());
        assert_eq!(s, State::default());
        assert!(skipped.is_empty());
    }

    #[test]
    fn converged_state_plans_nothing() {
        let (s, _) = desired(Backend::Vxlan, &local(), &peers(), &view());
        assert!(plan(&s, &s).is_empty());
    }

    #[test]
    fn plan_deletes_stale_then_adds_missing_in_dependency_order() {
        let (want, _) = desired(Backend::Vxlan, &local(), &peers(), &view());
        // The kernel holds n2 with an old MAC and a removed node n5; n3 is missing.
        let mut have = State::default();
        have.routes
            .insert(route("10.42.2.0/24", "10.42.2.0", VX, true));
        have.routes
            .insert(route("10.42.5.0/24", "10.42.5.0", VX, true));
        let old = [0x0e, 0x4b, 0, 0, 0, 0x22];
        have.neighbours.insert(NeighSpec {
            ip: "10.42.2.0".parse().unwrap(),
            mac: old,
        });
        have.fdb.insert(FdbSpec {
            mac: old,
            dst: "192.168.1.2".parse().unwrap(),
        });
        let p = plan(&have, &want);
        let show = |v: &[Entry]| v.iter().map(|e| e.to_string()).collect::<Vec<_>>();
        assert_eq!(
            show(&p.delete),
            [
                format!("route 10.42.5.0/24 via 10.42.5.0 oif {VX} onlink"),
                "neigh 10.42.2.0 lladdr 0e:4b:00:00:00:22".to_string(),
                "fdb 0e:4b:00:00:00:22 dst 192.168.1.2".to_string(),
            ]
        );
        assert_eq!(
            show(&p.add),
            [
                "fdb 0e:4b:00:00:00:02 dst 192.168.1.2".to_string(),
                "fdb 0e:4b:00:00:00:03 dst 192.168.1.3".to_string(),
                "neigh 10.42.2.0 lladdr 0e:4b:00:00:00:02".to_string(),
                "neigh 10.42.3.0 lladdr 0e:4b:00:00:00:03".to_string(),
                format!("route 10.42.3.0/24 via 10.42.3.0 oif {VX} onlink"),
            ]
        );
    }

    #[test]
    fn switching_backend_replaces_every_route() {
        let (hg, _) = desired(Backend::HostGw, &local(), &peers(), &view());
        let (vx, _) = desired(Backend::Vxlan, &local(), &peers(), &view());
        let p = plan(&hg, &vx);
        assert_eq!(p.delete.len(), 2);
        assert_eq!(p.add.len(), 6);
    }
}
