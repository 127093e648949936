//! What NetworkPolicies mean for the pods of one node, before any nf_tables encoding.
//!
//! Contract: [`Plan::new`] is pure and deterministic: the same objects in any order give an
//! equal plan. It lists every pod on the node that some policy isolates (ingress, egress or
//! both) with the index of its allow list; equal allow lists are shared. An allow list is the
//! union of the matching rules of every policy selecting the pod (Kubernetes policies are
//! additive); a pod isolated with an empty list accepts nothing. Named ports are resolved
//! against the destination pod: for ingress that is the isolated pod itself, for egress each
//! peer pod, so an egress named port becomes one [`Allow`] per resolved number. A rule whose
//! peers or ports match nothing contributes nothing. Traffic between a pod and itself (through
//! its own Service) is never blocked, and [`Plan::allows`] states the whole decision, the
//! reference the nf_tables encoding (`rules`) must follow.

use std::cell::OnceCell;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use super::model::{Namespaces, Peer, Pod, Policy, PolicyPort, PolicyRule, PortSel, Protocol};
use super::ranges::Ranges;

/// One allowed kind of traffic: from (ingress) or to (egress) `peer` addresses (`None`: any),
/// with protocol `proto` (`None`: any) and destination ports `ports` (`None`: any).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Allow {
    pub peer: Option<Ranges>,
    pub proto: Option<Protocol>,
    pub ports: Option<Ranges>,
}

impl Allow {
    fn matches(&self, peer: Ipv4Addr, proto: Protocol, port: u16) -> bool {
        self.peer
            .as_ref()
            .is_none_or(|r| r.contains(u32::from(peer)))
            && self.proto.is_none_or(|p| p == proto)
            && self
                .ports
                .as_ref()
                .is_none_or(|r| r.contains(u32::from(port)))
    }
}

/// A pod of this node that at least one policy isolates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Isolated {
    /// `namespace/name`, for stats and debugging.
    pub pod: String,
    /// Its IPv4 addresses, sorted; none is shared with another isolated pod.
    pub ips: Vec<Ipv4Addr>,
    /// Index into [`Plan::ingress`] when isolated for ingress.
    pub ingress: Option<usize>,
    pub egress: Option<usize>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Sorted by first address.
    pub pods: Vec<Isolated>,
    /// Distinct ingress allow lists (peers are sources).
    pub ingress: Vec<Vec<Allow>>,
    /// Distinct egress allow lists (peers are destinations).
    pub egress: Vec<Vec<Allow>>,
}

/// Which ports one rule allows, per protocol (`None`: every port of it).
type PortsByProto = BTreeMap<Protocol, Option<Ranges>>;

/// The numeric part of a rule's ports, with named ports resolved against `dest` when given.
fn numeric_ports(ports: &[PolicyPort], dest: Option<&Pod>) -> PortsByProto {
    let mut out = PortsByProto::new();
    for p in ports {
        let Some(proto) = p.protocol else { continue };
        let add = match &p.port {
            PortSel::All => None,
            PortSel::Range(lo, hi) => Some(Ranges::from_ranges([(u32::from(*lo), u32::from(*hi))])),
            PortSel::Named(name) => match dest.and_then(|d| d.named_port(name, proto)) {
                Some(n) => Some(Ranges::single(u32::from(n))),
                None => continue,
            },
            PortSel::Nothing => continue,
        };
        match (out.entry(proto).or_insert_with(|| Some(Ranges::new())), add) {
            (slot @ Some(_), None) => *slot = None,
            (Some(r), Some(add)) => r.union(&add),
            (None, _) => {}
        }
    }
    out
}

fn push_per_proto(out: &mut Vec<Allow>, peer: &Option<Ranges>, ports: PortsByProto) {
    for (proto, ports) in ports {
        out.push(Allow {
            peer: peer.clone(),
            proto: Some(proto),
            ports,
        });
    }
}

struct Compiler<'a> {
    peers: Vec<&'a Pod>,
    namespaces: &'a Namespaces,
}

impl Compiler<'_> {
    /// The addresses of a rule's peers; `None` for every address.
    fn peer_ranges(&self, rule: &PolicyRule) -> Option<Ranges> {
        let peers = rule.peers.as_ref()?;
        let mut r = Ranges::new();
        for peer in peers {
            match peer {
                Peer::IpBlock(block) => r.union(block),
                Peer::Nothing => {}
                Peer::Pods { .. } => {
                    let ips = self
                        .peers
                        .iter()
                        .filter(|p| peer.selects_pod(p, self.namespaces))
                        .flat_map(|p| p.ips.iter().map(|a| (u32::from(*a), u32::from(*a))));
                    r.union(&Ranges::from_ranges(ips));
                }
            }
        }
        Some(r)
    }

    fn ingress_rule(
        &self,
        peer: &Option<Ranges>,
        rule: &PolicyRule,
        dest: &Pod,
        out: &mut Vec<Allow>,
    ) {
        if peer.as_ref().is_some_and(Ranges::is_empty) {
            return;
        }
        match &rule.ports {
            None => out.push(Allow {
                peer: peer.clone(),
                proto: None,
                ports: None,
            }),
            Some(ports) => push_per_proto(out, peer, numeric_ports(ports, Some(dest))),
        }
    }

    fn egress_rule(&self, rule: &PolicyRule, out: &mut Vec<Allow>) {
        let peer = self.peer_ranges(rule);
        if peer.as_ref().is_some_and(Ranges::is_empty) {
            return;
        }
        let Some(ports) = &rule.ports else {
            out.push(Allow {
                peer,
                proto: None,
                ports: None,
            });
            return;
        };
        push_per_proto(out, &peer, numeric_ports(ports, None));
        // A named port means a number per destination pod: group the pods by that number.
        let mut named: BTreeMap<(Protocol, u16), Vec<(u32, u32)>> = BTreeMap::new();
        for p in ports {
            let (Some(proto), PortSel::Named(name)) = (p.protocol, &p.port) else {
                continue;
            };
            for d in &self.peers {
                let Some(n) = d.named_port(name, proto) else {
                    continue;
                };
                let ips = d
                    .ips
                    .iter()
                    .map(|a| u32::from(*a))
                    .filter(|a| peer.as_ref().is_none_or(|r| r.contains(*a)));
                named
                    .entry((proto, n))
                    .or_default()
                    .extend(ips.map(|a| (a, a)));
            }
        }
        for ((proto, n), ips) in named {
            if !ips.is_empty() {
                out.push(Allow {
                    peer: Some(Ranges::from_ranges(ips)),
                    proto: Some(proto),
                    ports: Some(Ranges::single(u32::from(n))),
                });
            }
        }
    }
}

/// What a policy compiles to independently of the pod it isolates, computed on first use:
/// the peer addresses of each ingress rule, and the whole egress list (egress named ports
/// are resolved against the peers, not against the isolated pod).
#[derive(Default)]
struct PolicyCache {
    ingress_peers: OnceCell<Vec<Option<Ranges>>>,
    egress: OnceCell<Vec<Allow>>,
}

/// Index of `list` in `lists`, adding it when new.
fn intern(
    lists: &mut Vec<Vec<Allow>>,
    index: &mut BTreeMap<Vec<Allow>, usize>,
    list: Vec<Allow>,
) -> usize {
    *index.entry(list).or_insert_with_key(|l| {
        lists.push(l.clone());
        lists.len() - 1
    })
}

/// Drops repeats, keeping first occurrences (the order is the rule order).
fn dedup(list: Vec<Allow>) -> Vec<Allow> {
    let mut seen = std::collections::BTreeSet::new();
    list.into_iter()
        .filter(|a| seen.insert(a.clone()))
        .collect()
}

impl Plan {
    pub fn new(policies: &[Policy], pods: &[Pod], namespaces: &Namespaces, node: &str) -> Plan {
        let key = |p: &Pod| (p.namespace.clone(), p.name.clone());
        let mut peers: Vec<&Pod> = pods.iter().filter(|p| p.is_peer()).collect();
        peers.sort_by_key(|p| key(p));
        let mut policies: Vec<&Policy> = policies.iter().collect();
        policies.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        // A finished pod may still show an address IPAM has handed to a new pod: running
        // pods win an address, then the name decides.
        let mut locals: Vec<&Pod> = pods.iter().filter(|p| p.enforced_on(node)).collect();
        locals.sort_by_key(|p| (p.phase != "Running", key(p)));

        let c = Compiler { peers, namespaces };
        let caches: Vec<PolicyCache> = policies.iter().map(|_| PolicyCache::default()).collect();
        let mut plan = Plan::default();
        let (mut in_index, mut eg_index) = (BTreeMap::new(), BTreeMap::new());
        let mut taken = std::collections::BTreeSet::new();
        for pod in locals {
            let ips: Vec<Ipv4Addr> = pod
                .ips
                .iter()
                .copied()
                .filter(|a| taken.insert(*a))
                .collect();
            if ips.is_empty() {
                continue;
            }
            let mut ingress: Option<Vec<Allow>> = None;
            let mut egress: Option<Vec<Allow>> = None;
            for (p, cache) in policies.iter().zip(&caches).filter(|(p, _)| p.selects(pod)) {
                if let Some(rules) = &p.ingress {
                    let peers = cache
                        .ingress_peers
                        .get_or_init(|| rules.iter().map(|r| c.peer_ranges(r)).collect());
                    let out = ingress.get_or_insert_with(Vec::new);
                    for (r, peer) in rules.iter().zip(peers) {
                        c.ingress_rule(peer, r, pod, out);
                    }
                }
                if let Some(rules) = &p.egress {
                    let list = cache.egress.get_or_init(|| {
                        let mut out = Vec::new();
                        rules.iter().for_each(|r| c.egress_rule(r, &mut out));
                        out
                    });
                    egress.get_or_insert_with(Vec::new).extend_from_slice(list);
                }
            }
            if ingress.is_none() && egress.is_none() {
                continue;
            }
            let mut ips = ips;
            ips.sort();
            plan.pods.push(Isolated {
                pod: format!("{}/{}", pod.namespace, pod.name),
                ips,
                ingress: ingress.map(|l| intern(&mut plan.ingress, &mut in_index, dedup(l))),
                egress: egress.map(|l| intern(&mut plan.egress, &mut eg_index, dedup(l))),
            });
        }
        plan.pods.sort_by_key(|p| p.ips[0]);
        plan
    }

    /// Whether a new connection `src` → `dst` (protocol, destination port) passes: the
    /// destination's ingress list (when isolated) and the source's egress list (when isolated)
    /// must both allow it. Replies of allowed connections always pass (conntrack).
    pub fn allows(&self, src: Ipv4Addr, dst: Ipv4Addr, proto: Protocol, port: u16) -> bool {
        let by_ip = |a: Ipv4Addr| self.pods.iter().find(|p| p.ips.contains(&a));
        let check =
            |list: &[Allow], peer: Ipv4Addr| list.iter().any(|a| a.matches(peer, proto, port));
        if let Some(d) = by_ip(dst) {
            if let Some(i) = d.ingress {
                if !d.ips.contains(&src) && !check(&self.ingress[i], src) {
                    return false;
                }
            }
        }
        if let Some(s) = by_ip(src) {
            if let Some(e) = s.egress {
                if !s.ips.contains(&dst) && !check(&self.egress[e], dst) {
                    return false;
                }
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::netpol::model::Protocol::{Tcp, Udp};

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn pod(ns: &str, name: &str, node: &str, addr: &str, labels: Value) -> Value {
        json!({
            "metadata": {"namespace": ns, "name": name, "labels": labels},
            "spec": {"nodeName": node, "containers": [{"name": "c", "ports": [
                {"name": "http", "containerPort": 8080},
                {"name": "dns", "containerPort": 53, "protocol": "UDP"}]}]},
            "status": {"phase": "Running", "podIP": addr}
        })
    }

    fn policy(ns: &str, name: &str, spec: Value) -> Value {
        json!({"metadata": {"namespace": ns, "name": name}, "spec": spec})
    }

    fn plan(policies: &[Value], pods: &[Value], nss: &[Value]) -> Plan {
        let policies: Vec<Policy> = policies
            .iter()
            .map(|p| Policy::from_json(p).unwrap())
            .collect();
        let pods: Vec<Pod> = pods.iter().map(Pod::from_json).collect();
        Plan::new(&policies, &pods, &Namespaces::from_json(nss), "n1")
    }

    /// db (10.42.0.2, n1), client (.3, n1), other (.4, n1), remote client (.1.3, n2),
    /// and a client in namespace "dev" (.5, n1).
    fn cluster() -> Vec<Value> {
        vec![
            pod("prod", "db", "n1", "10.42.0.2", json!({"role": "db"})),
            pod(
                "prod",
                "client",
                "n1",
                "10.42.0.3",
                json!({"role": "client"}),
            ),
            pod("prod", "other", "n1", "10.42.0.4", json!({"role": "other"})),
            pod(
                "prod",
                "remote",
                "n2",
                "10.42.1.3",
                json!({"role": "client"}),
            ),
            pod(
                "dev",
                "client",
                "n1",
                "10.42.0.5",
                json!({"role": "client"}),
            ),
        ]
    }

    fn db_from_clients(ports: Value) -> Value {
        policy(
            "prod",
            "db",
            json!({
                "podSelector": {"matchLabels": {"role": "db"}},
                "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "client"}}}], "ports": ports}]
            }),
        )
    }

    #[test]
    fn no_policy_allows_everything() {
        let p = plan(&[], &cluster(), &[]);
        assert!(p.pods.is_empty());
        assert!(p.allows(ip("10.42.0.4"), ip("10.42.0.2"), Tcp, 1));
    }

    #[test]
    fn ingress_from_selected_pods_on_a_port_only() {
        let p = plan(&[db_from_clients(json!([{"port": 5432}]))], &cluster(), &[]);
        assert_eq!(p.pods.len(), 1, "only db is isolated: {p:?}");
        let db = ip("10.42.0.2");
        assert!(p.allows(ip("10.42.0.3"), db, Tcp, 5432));
        assert!(
            p.allows(ip("10.42.1.3"), db, Tcp, 5432),
            "a client on another node"
        );
        assert!(!p.allows(ip("10.42.0.3"), db, Tcp, 5433));
        assert!(!p.allows(ip("10.42.0.3"), db, Udp, 5432));
        assert!(!p.allows(ip("10.42.0.4"), db, Tcp, 5432), "not a client");
        assert!(
            !p.allows(ip("10.42.0.5"), db, Tcp, 5432),
            "a client of another namespace"
        );
        assert!(
            !p.allows(ip("192.168.1.9"), db, Tcp, 5432),
            "outside the cluster"
        );
        assert!(p.allows(db, db, Tcp, 9), "a pod reaches itself");
        assert!(
            p.allows(db, ip("10.42.0.4"), Tcp, 9),
            "db is not isolated for egress"
        );
        assert!(
            p.allows(ip("10.42.0.4"), ip("10.42.0.3"), Tcp, 9),
            "others unaffected"
        );
    }

    #[test]
    fn pods_of_other_nodes_are_not_enforced_here() {
        let pol = policy("prod", "all", json!({"podSelector": {}}));
        let p = plan(&[pol], &cluster(), &[]);
        let isolated: Vec<&str> = p.pods.iter().map(|p| p.pod.as_str()).collect();
        assert_eq!(isolated, ["prod/db", "prod/client", "prod/other"]);
        assert_eq!(p.ingress, vec![vec![]], "one shared deny-all list");
        assert!(!p.allows(ip("10.42.0.3"), ip("10.42.0.2"), Tcp, 1));
    }

    #[test]
    fn named_ports_resolve_against_the_destination_pod() {
        let mut pods = cluster();
        // A second db whose "http" is 9090.
        let mut db2 = pod("prod", "db2", "n1", "10.42.0.6", json!({"role": "db"}));
        db2["spec"]["containers"][0]["ports"][0]["containerPort"] = json!(9090);
        pods.push(db2);
        let p = plan(
            &[db_from_clients(
                json!([{"port": "http"}, {"port": "dns", "protocol": "UDP"}]),
            )],
            &pods,
            &[],
        );
        let c = ip("10.42.0.3");
        assert!(p.allows(c, ip("10.42.0.2"), Tcp, 8080));
        assert!(!p.allows(c, ip("10.42.0.2"), Tcp, 9090));
        assert!(p.allows(c, ip("10.42.0.6"), Tcp, 9090));
        assert!(!p.allows(c, ip("10.42.0.6"), Tcp, 8080));
        assert!(p.allows(c, ip("10.42.0.6"), Udp, 53));
        assert_eq!(p.ingress.len(), 2, "different numbers, different lists");

        // Egress: the client may reach "http" on db pods, whatever number each uses.
        let eg = policy(
            "prod",
            "client",
            json!({
                "podSelector": {"matchLabels": {"role": "client"}}, "policyTypes": ["Egress"],
                "egress": [{"to": [{"podSelector": {"matchLabels": {"role": "db"}}}], "ports": [{"port": "http"}]}]
            }),
        );
        let p = plan(&[eg], &pods, &[]);
        assert!(p.allows(c, ip("10.42.0.2"), Tcp, 8080));
        assert!(p.allows(c, ip("10.42.0.6"), Tcp, 9090));
        assert!(!p.allows(c, ip("10.42.0.2"), Tcp, 9090));
        assert!(
            !p.allows(c, ip("10.42.0.4"), Tcp, 8080),
            "other has http but is no db"
        );
        assert!(
            p.allows(ip("10.42.0.4"), c, Tcp, 1),
            "client is not isolated for ingress"
        );
    }

    #[test]
    fn unresolvable_named_port_matches_nothing_not_everything() {
        let p = plan(
            &[db_from_clients(json!([{"port": "nope"}]))],
            &cluster(),
            &[],
        );
        assert_eq!(p.ingress, vec![vec![]]);
        assert!(!p.allows(ip("10.42.0.3"), ip("10.42.0.2"), Tcp, 8080));
    }

    #[test]
    fn ip_block_with_except_and_port_ranges() {
        let pol = policy(
            "prod",
            "db",
            json!({
                "podSelector": {"matchLabels": {"role": "db"}},
                "ingress": [{"from": [{"ipBlock": {"cidr": "192.168.0.0/16", "except": ["192.168.5.0/24"]}}],
                             "ports": [{"port": 1000, "endPort": 2000}, {"port": 3000, "protocol": "UDP"}]}]
            }),
        );
        let p = plan(&[pol], &cluster(), &[]);
        let db = ip("10.42.0.2");
        assert!(p.allows(ip("192.168.4.1"), db, Tcp, 1000));
        assert!(p.allows(ip("192.168.4.1"), db, Tcp, 2000));
        assert!(!p.allows(ip("192.168.4.1"), db, Tcp, 2001));
        assert!(p.allows(ip("192.168.4.1"), db, Udp, 3000));
        assert!(!p.allows(ip("192.168.4.1"), db, Udp, 1500));
        assert!(!p.allows(ip("192.168.5.1"), db, Tcp, 1500), "excepted");
        assert!(!p.allows(ip("10.42.0.3"), db, Tcp, 1500));
    }

    #[test]
    fn namespace_selector_and_combined_peers() {
        let nss = [json!({"metadata": {"name": "dev", "labels": {"team": "x"}}})];
        let pol = policy(
            "prod",
            "db",
            json!({
                "podSelector": {"matchLabels": {"role": "db"}},
                "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": "x"}},
                                       "podSelector": {"matchLabels": {"role": "client"}}}]}]
            }),
        );
        let p = plan(&[pol], &cluster(), &nss);
        let db = ip("10.42.0.2");
        assert!(p.allows(ip("10.42.0.5"), db, Tcp, 1), "dev client");
        assert!(
            !p.allows(ip("10.42.0.3"), db, Tcp, 1),
            "prod client: wrong namespace"
        );
        let pol = policy(
            "prod",
            "db",
            json!({
                "podSelector": {"matchLabels": {"role": "db"}},
                "ingress": [{"from": [{"namespaceSelector": {}}]}]
            }),
        );
        let p = plan(&[pol], &cluster(), &nss);
        assert!(p.allows(ip("10.42.0.5"), db, Tcp, 1) && p.allows(ip("10.42.0.4"), db, Tcp, 1));
        assert!(
            !p.allows(ip("192.168.0.1"), db, Tcp, 1),
            "all pods, not all addresses"
        );
    }

    #[test]
    fn policies_add_up_and_empty_from_means_everyone() {
        let open = policy(
            "prod",
            "open-80",
            json!({
                "podSelector": {"matchLabels": {"role": "db"}},
                "ingress": [{"ports": [{"port": 80}]}]
            }),
        );
        let p = plan(
            &[db_from_clients(json!([{"port": 5432}])), open],
            &cluster(),
            &[],
        );
        let db = ip("10.42.0.2");
        assert!(p.allows(ip("1.2.3.4"), db, Tcp, 80));
        assert!(p.allows(ip("10.42.0.3"), db, Tcp, 5432));
        assert!(!p.allows(ip("10.42.0.4"), db, Tcp, 5432));
    }

    #[test]
    fn egress_isolation_and_both_directions() {
        let deny_out = policy(
            "prod",
            "client-out",
            json!({
                "podSelector": {"matchLabels": {"role": "client"}}, "policyTypes": ["Egress"],
                "egress": [{"to": [{"ipBlock": {"cidr": "10.42.0.2/32"}}], "ports": [{"port": 5432}]}]
            }),
        );
        let p = plan(&[deny_out, db_from_clients(json!([]))], &cluster(), &[]);
        let (c, db) = (ip("10.42.0.3"), ip("10.42.0.2"));
        assert!(p.allows(c, db, Tcp, 5432));
        assert!(!p.allows(c, db, Tcp, 80), "egress allows 5432 only");
        assert!(!p.allows(c, ip("10.42.0.4"), Tcp, 5432));
        assert!(
            !p.allows(ip("10.42.0.5"), db, Tcp, 80),
            "dev client is no prod client"
        );
    }

    #[test]
    fn peers_count_only_when_running_and_duplicate_addresses_go_to_running_pods() {
        let mut pods = cluster();
        pods[1]["status"]["phase"] = json!("Pending");
        // A finished pod still showing db's address.
        let mut old = pod("prod", "a-old", "n1", "10.42.0.2", json!({"role": "old"}));
        old["status"]["phase"] = json!("Succeeded");
        pods.push(old);
        let p = plan(&[db_from_clients(json!([]))], &pods, &[]);
        assert!(
            !p.allows(ip("10.42.0.3"), ip("10.42.0.2"), Tcp, 1),
            "pending client"
        );
        assert_eq!(p.pods.len(), 1);
        assert_eq!(p.pods[0].pod, "prod/db");
    }

    #[test]
    fn input_order_does_not_matter() {
        let pols = [
            db_from_clients(json!([{"port": "http"}])),
            policy("prod", "all", json!({"podSelector": {}, "egress": [{}]})),
        ];
        let a = plan(&pols, &cluster(), &[]);
        let mut pods = cluster();
        pods.reverse();
        let mut rev = pols.to_vec();
        rev.reverse();
        assert_eq!(a, plan(&rev, &pods, &[]));
    }
}
