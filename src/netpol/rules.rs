//! The nf_tables encoding of a [`Plan`]: one transaction that atomically replaces the table
//! `ip kedge-policy`.
//!
//! Contract: [`compile`] is pure; equal inputs (in any order) give equal batches. The table
//! holds, when some local pod is isolated:
//! - `forward` (filter, hook forward, priority 0, policy accept): `ct state established,related
//!   accept`, then `ip daddr vmap @ingress-pods` and `ip saddr vmap @egress-pods`. Bridged
//!   pod-to-pod traffic reaches this hook through br_netfilter, routed traffic from other nodes
//!   natively, Service traffic after its DNAT. Traffic the node itself sends to its pods
//!   (kubelet probes) goes through output, not forward, and so stays allowed, as does what pods
//!   send to the node itself (input).
//! - per isolated pod and direction, `in-<ip>` / `out-<ip>`: the pod's own addresses return
//!   (a pod always reaches itself), then `goto` its shared allow list.
//! - per distinct allow list, `ingress-<n>` / `egress-<n>`: one rule per [`Allow`] ending in
//!   `return` (so an allowed packet still meets the other direction's check), then `drop`.
//! - interval sets `peers-<n>` (IPv4) and `ports-<n>` (inet_service), shared between rules.
//!
//! Without isolated pods the table is left empty (no chains: no cost per packet).
//! Denied packets are dropped (the client sees a timeout), not rejected.

use crate::error_chain::error_chain;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnetwork::{IpNetwork, Ipv4Network};
use kedge_netplugins::nft::expr::ct_state;
use kedge_netplugins::nft::matchers::{self as m, Dir};
use kedge_netplugins::nft::{
    Batch, Chain, ChainType, CmpOp, Element, Expr, Family, Hook, KeyType, PayloadBase, Policy, Reg,
    Rule, Set, SetData, Table, Verdict,
};
use serde_json::Value;

use super::model::{Namespaces, Pod, Policy as NetworkPolicy};
use super::plan::{Allow, Plan};
use super::ranges::Ranges;

/// kedge's NetworkPolicy table (family ip).
pub const TABLE: &str = "kedge-policy";
const FORWARD: &str = "forward";
const INGRESS_PODS: &str = "ingress-pods";
const EGRESS_PODS: &str = "egress-pods";

pub fn table() -> Table {
    Table::new(Family::Ip, TABLE)
}

/// What one compile produced, for logs and benchmarks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncStats {
    pub ingress_isolated: usize,
    pub egress_isolated: usize,
    pub chains: usize,
    pub rules: usize,
    pub sets: usize,
    pub elements: usize,
    /// Policies that could not be parsed and were left out, as `namespace/name: error`.
    pub invalid_policies: Vec<String>,
}

/// The batch replacing the table and what it holds.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub batch: Batch,
    pub plan: Plan,
    pub stats: SyncStats,
}

/// Parses the objects and compiles the table for the pods on `node_name`.
pub fn compile(
    policies: &[Value],
    pods: &[Value],
    namespaces: &[Value],
    node_name: &str,
) -> Compiled {
    let mut invalid = Vec::new();
    let policies: Vec<NetworkPolicy> = policies
        .iter()
        .filter_map(|p| {
            NetworkPolicy::from_json(p)
                .map_err(|e| invalid.push(error_chain(&e)))
                .ok()
        })
        .collect();
    let pods: Vec<Pod> = pods.iter().map(Pod::from_json).collect();
    let plan = Plan::new(
        &policies,
        &pods,
        &Namespaces::from_json(namespaces),
        node_name,
    );
    let (batch, mut stats) = encode(&plan);
    invalid.sort();
    stats.invalid_policies = invalid;
    Compiled { batch, plan, stats }
}

/// Names shared sets by content, in order of first use.
#[derive(Default)]
struct SetNames {
    by_content: BTreeMap<(bool, Ranges), String>,
    order: Vec<Set>,
}

impl SetNames {
    fn name(&mut self, ports: bool, r: &Ranges) -> String {
        if let Some(n) = self.by_content.get(&(ports, r.clone())) {
            return n.clone();
        }
        let (prefix, key) = if ports {
            ("ports", KeyType::InetService)
        } else {
            ("peers", KeyType::Ipv4Addr)
        };
        let n = format!(
            "{prefix}-{}",
            self.by_content
                .iter()
                .filter(|((p, _), _)| *p == ports)
                .count()
        );
        let elements = r
            .ranges()
            .iter()
            .map(|&(lo, hi)| {
                if ports {
                    // Ports were built from u16 values.
                    Element::range(
                        (lo as u16).to_be_bytes().to_vec(),
                        (hi as u16).to_be_bytes().to_vec(),
                    )
                } else {
                    Element::range(lo.to_be_bytes().to_vec(), hi.to_be_bytes().to_vec())
                }
            })
            .collect();
        self.order
            .push(Set::new(&n, key).interval().with_elements(elements));
        self.by_content.insert((ports, r.clone()), n.clone());
        n
    }
}

fn host(a: Ipv4Addr) -> IpNetwork {
    IpNetwork::V4(Ipv4Network::from(a))
}

/// `th dport` (the destination port of TCP, UDP and SCTP sits at the same offset).
fn load_dport() -> Expr {
    Expr::Payload {
        base: PayloadBase::Transport,
        offset: 2,
        len: 2,
        dreg: Reg::R1,
    }
}

fn allow_rule(chain: &str, a: &Allow, peer_dir: Dir, sets: &mut SetNames) -> Rule {
    let mut e = Vec::new();
    if let Some(peer) = &a.peer {
        e.push(m::load_addr(peer_dir, false));
        e.push(m::lookup(&sets.name(false, peer), false));
    }
    if let Some(proto) = a.proto {
        e.extend(m::l4proto(proto.number()));
        if let Some(ports) = &a.ports {
            e.push(load_dport());
            e.push(m::lookup(&sets.name(true, ports), false));
        }
    }
    e.push(m::verdict(Verdict::Return));
    Rule::new(chain, e)
}

/// The batch replacing the table with `plan`'s rules.
pub fn encode(plan: &Plan) -> (Batch, SyncStats) {
    let t = table();
    let mut b = Batch::new();
    b.replace_table(&t);
    let mut stats = SyncStats::default();
    if plan.pods.is_empty() {
        return (b, stats);
    }
    let mut chains = vec![Chain::base(
        FORWARD,
        ChainType::Filter,
        Hook::Forward,
        0,
        Policy::Accept,
    )];
    let mut rules = Vec::new();
    let mut sets = SetNames::default();

    let mut r = m::ct_state(ct_state::ESTABLISHED | ct_state::RELATED);
    r.push(m::verdict(Verdict::Accept));
    rules.push(Rule::new(FORWARD, r));

    for (dir, lists, peer_dir) in [
        ("ingress", &plan.ingress, Dir::Source),
        ("egress", &plan.egress, Dir::Destination),
    ] {
        for (i, list) in lists.iter().enumerate() {
            let name = format!("{dir}-{i}");
            chains.push(Chain::regular(&name));
            rules.extend(
                list.iter()
                    .map(|a| allow_rule(&name, a, peer_dir, &mut sets)),
            );
            rules.push(Rule::new(&name, vec![m::verdict(Verdict::Drop)]));
        }
    }

    let mut vmaps = Vec::new();
    for (map, dir, own_dir, prefix, body) in [
        (INGRESS_PODS, Dir::Destination, Dir::Source, "in", "ingress"),
        (EGRESS_PODS, Dir::Source, Dir::Destination, "out", "egress"),
    ] {
        let mut elements = Vec::new();
        for pod in &plan.pods {
            let list = if body == "ingress" {
                pod.ingress
            } else {
                pod.egress
            };
            let Some(list) = list else { continue };
            let chain = format!("{prefix}-{}", pod.ips[0]);
            chains.push(Chain::regular(&chain));
            for a in &pod.ips {
                let mut r = m::addr(own_dir, host(*a), CmpOp::Eq);
                r.push(m::verdict(Verdict::Return));
                rules.push(Rule::new(&chain, r));
                elements.push(Element::ipv4(*a).to_verdict(Verdict::Jump(chain.clone())));
            }
            rules.push(Rule::new(
                &chain,
                vec![m::verdict(Verdict::Goto(format!("{body}-{list}")))],
            ));
        }
        if elements.is_empty() {
            continue;
        }
        stats.elements += elements.len();
        vmaps.push(Set::map(map, KeyType::Ipv4Addr, SetData::Verdict).with_elements(elements));
        rules.push(Rule::new(
            FORWARD,
            vec![m::load_addr(dir, false), m::vmap(map)],
        ));
    }
    stats.ingress_isolated = plan.pods.iter().filter(|p| p.ingress.is_some()).count();
    stats.egress_isolated = plan.pods.iter().filter(|p| p.egress.is_some()).count();

    // Chains first (verdict map elements and gotos name them), then sets, then rules.
    for c in &chains {
        b.add_chain(&t, c);
    }
    for s in sets.order.iter().chain(&vmaps) {
        b.add_set(&t, s);
    }
    for r in &rules {
        b.add_rule(&t, r);
    }
    stats.chains = chains.len();
    stats.rules = rules.len();
    stats.sets = sets.order.len() + vmaps.len();
    stats.elements += sets.order.iter().map(|s| s.elements.len()).sum::<usize>();
    (b, stats)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn cluster() -> (Vec<Value>, Vec<Value>) {
        let pod = |name: &str, addr: &str, role: &str| {
            json!({"metadata": {"namespace": "prod", "name": name, "labels": {"role": role}},
                   "spec": {"nodeName": "n1"}, "status": {"phase": "Running", "podIP": addr}})
        };
        let policy = json!({"metadata": {"namespace": "prod", "name": "db"}, "spec": {
            "podSelector": {"matchLabels": {"role": "db"}},
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "client"}}}],
                         "ports": [{"port": 5432}]}]}});
        (
            vec![policy],
            vec![
                pod("db", "10.42.0.2", "db"),
                pod("c", "10.42.0.3", "client"),
            ],
        )
    }

    fn descriptions(b: &Batch) -> String {
        b.describe()
    }

    #[test]
    fn nothing_isolated_leaves_an_empty_table() {
        let c = compile(&[], &cluster().1, &[], "n1");
        assert_eq!(c.stats, SyncStats::default());
        let d = descriptions(&c.batch);
        assert!(
            d.contains("delete table ip kedge-policy") && !d.contains("add chain"),
            "{d}"
        );
    }

    #[test]
    fn isolated_pod_gets_dispatch_own_chain_and_shared_list() {
        let (pols, pods) = cluster();
        let c = compile(&pols, &pods, &[], "n1");
        assert_eq!(c.stats.ingress_isolated, 1);
        assert_eq!(c.stats.egress_isolated, 0);
        // forward, in-10.42.0.2, ingress-0
        assert_eq!(c.stats.chains, 3);
        // peers-0 {10.42.0.3}, ports-0 {5432}, ingress-pods
        assert_eq!(c.stats.sets, 3);
        let d = descriptions(&c.batch);
        for want in [
            "add chain ip kedge-policy in-10.42.0.2",
            "add chain ip kedge-policy ingress-0",
            "add set ip kedge-policy ingress-pods",
            "add set ip kedge-policy peers-0",
            "add set ip kedge-policy ports-0",
            "lookup reg 1 set peers-0",
            "lookup reg 1 set ports-0",
            "immediate reg 0 goto ingress-0",
        ] {
            assert!(d.contains(want), "missing {want}: {d}");
        }
        assert!(!d.contains("egress-pods"), "{d}");
    }

    #[test]
    fn equal_input_in_any_order_compiles_to_equal_batches() {
        let (pols, mut pods) = cluster();
        let a = descriptions(&compile(&pols, &pods, &[], "n1").batch);
        pods.reverse();
        assert_eq!(a, descriptions(&compile(&pols, &pods, &[], "n1").batch));
    }

    #[test]
    fn invalid_policies_are_reported_and_left_out() {
        let bad = json!({"metadata": {"namespace": "x", "name": "bad"},
                         "spec": {"podSelector": {"matchLabels": "nope"}}});
        let c = compile(&[bad], &cluster().1, &[], "n1");
        assert_eq!(c.stats.invalid_policies.len(), 1);
        assert!(
            c.stats.invalid_policies[0].contains("x/bad"),
            "{:?}",
            c.stats
        );
    }

    #[test]
    fn sets_are_shared_between_pods_and_rules() {
        let mut pods = cluster().1;
        for i in 10..60 {
            pods.push(json!({"metadata": {"namespace": "prod", "name": format!("db{i}"), "labels": {"role": "db"}},
                             "spec": {"nodeName": "n1"}, "status": {"phase": "Running", "podIP": format!("10.42.0.{i}")}}));
        }
        let c = compile(&cluster().0, &pods, &[], "n1");
        assert_eq!(c.stats.ingress_isolated, 51);
        assert_eq!(c.plan.ingress.len(), 1);
        assert_eq!(c.stats.sets, 3, "{:?}", c.stats);
        assert_eq!(c.stats.chains, 1 + 51 + 1);
    }
}
