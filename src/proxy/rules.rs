//! Services → one nf_tables batch that atomically replaces kedge's service table.
//!
//! Contract: [`build`] is pure: equal inputs give byte-equal batches. The batch replaces the
//! table `ip kedge-services` whole (and touches nothing else), so applying it twice, or after a
//! restart, leaves exactly one copy of every object. Layout (maps instead of per-service match
//! rules, so a packet costs a few hash lookups whatever the number of Services):
//!
//! - `nat-prerouting` / `nat-output` jump to `services`: `ip daddr . meta l4proto . th dport
//!   vmap @service-ips` (cluster IPs → `svc-<id>`, LB ingress and external IPs → `ext-<id>`),
//!   then for local destinations `meta l4proto . th dport vmap @service-nodeports`.
//! - `svc-<id>`: marks traffic from outside the cluster CIDR for masquerade, keeps ClientIP
//!   affinity (`aff-<id>` dynamic map client → endpoint), else picks an endpoint with
//!   `numgen random mod N` in its own `e<n>` map (number → ip . port) and DNATs to it.
//! - `ext-<id>`: policy Cluster marks for masquerade and goes to `svc-<id>`; policy Local
//!   sends pods and the node itself to `svc-<id>` and everyone else to this node's endpoints
//!   only (dropped when there are none), unmasqueraded.
//! - `nat-postrouting` masquerades marked packets and hairpin ones (a pod DNATed to itself:
//!   `ip saddr . ip daddr @hairpin`).
//! - `filter-{prerouting,output}` reject new connections to service ports without
//!   endpoints (`@no-endpoint-services`, `@no-endpoint-nodeports`): TCP reset, ICMP port
//!   unreachable otherwise, so clients fail at once instead of timing out.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use ipnetwork::IpNetwork;
use kedge_netplugins::nft::expr::{ct_state, ct_status};
use kedge_netplugins::nft::matchers::{self as m, Dir, REG32_1};
use kedge_netplugins::nft::{
    Batch, Chain, ChainType, CmpOp, Element, Expr, Family, Hook, KeyType, NumgenKind, PayloadBase,
    Policy, Reg, Rule, Set, SetData, Table, Verdict,
};

use super::model::{Endpoint, ServicePort};

/// kedge's service table; nothing else is ever touched.
pub const TABLE: &str = "kedge-services";
/// The packet mark bit asking `nat-postrouting` to masquerade (kube-proxy's value).
pub const MASQ_MARK: u32 = 0x4000;

const SERVICE_IPS: &str = "service-ips";
const SERVICE_NODEPORTS: &str = "service-nodeports";
const NO_EP_SERVICES: &str = "no-endpoint-services";
const NO_EP_NODEPORTS: &str = "no-endpoint-nodeports";
const HAIRPIN: &str = "hairpin";
const REJECT: &str = "reject";
const SERVICES: &str = "services";

/// What the node needs to know beyond the objects.
#[derive(Debug, Clone)]
pub struct RuleConfig {
    pub node_name: String,
    pub cluster_cidr: IpNetwork,
}

/// Size of a built ruleset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuleStats {
    pub service_ports: usize,
    pub chains: usize,
    pub rules: usize,
    pub sets: usize,
    pub elements: usize,
    /// Netlink messages in the batch.
    pub messages: usize,
    /// Encoded batch size.
    pub bytes: usize,
}

pub fn table() -> Table {
    Table::new(Family::Ip, TABLE)
}

fn svc_chain(p: &ServicePort) -> String {
    format!("svc-{}", p.id())
}

fn ext_chain(p: &ServicePort) -> String {
    format!("ext-{}", p.id())
}

fn vip_key(ip: Ipv4Addr, p: &ServicePort) -> Vec<u8> {
    Element::concat(&[&ip.octets(), &[p.protocol.number()], &p.port.to_be_bytes()])
}

fn nodeport_key(p: &ServicePort, port: u16) -> Vec<u8> {
    Element::concat(&[&[p.protocol.number()], &port.to_be_bytes()])
}

fn ip_port(e: &Endpoint) -> Vec<u8> {
    Element::concat(&[&e.ip.octets(), &e.port.to_be_bytes()])
}

/// `dnat to reg1 : reg32_1` (address and port as an endpoint map lookup left them).
fn dnat_from_registers() -> Expr {
    m::dnat_from_registers(Reg::R1, REG32_1)
}

/// `ipv4_addr . inet_service`: what an endpoint map gives DNAT.
fn ip_port_type() -> KeyType {
    KeyType::concat(&[KeyType::Ipv4Addr, KeyType::InetService])
}

fn load_saddr(dreg: Reg) -> Expr {
    Expr::Payload {
        base: PayloadBase::Network,
        offset: 12,
        len: 4,
        dreg,
    }
}

/// The objects of the table: chains, sets with their elements (verdicts name chains) and
/// rules (which name sets and chains).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub sets: Vec<Set>,
    pub chains: Vec<Chain>,
    pub rules: Vec<Rule>,
}

impl Plan {
    /// The rules of one chain, in order.
    pub fn chain_rules<'a>(&'a self, chain: &'a str) -> impl Iterator<Item = &'a Rule> + 'a {
        self.rules.iter().filter(move |r| r.chain == chain)
    }

    pub fn set(&self, name: &str) -> Option<&Set> {
        self.sets.iter().find(|s| s.name == name)
    }

    /// One transaction: replace the table, then create everything.
    pub fn batch(&self) -> (Batch, RuleStats) {
        let t = table();
        let mut b = Batch::new();
        b.replace_table(&t);
        // Chains, then filled sets, then rules: elements added to a map no rule uses yet
        // skip the kernel's per-element validation of everything bound to it, which made
        // the batch several times slower.
        for c in &self.chains {
            b.add_chain(&t, c);
        }
        for s in &self.sets {
            b.add_set(&t, s);
        }
        for r in &self.rules {
            b.add_rule(&t, r);
        }
        let stats = RuleStats {
            service_ports: 0,
            chains: self.chains.len(),
            rules: self.rules.len(),
            sets: self.sets.len(),
            elements: self.sets.iter().map(|s| s.elements.len()).sum(),
            messages: b.len(),
            bytes: b.encoded_len(),
        };
        (b, stats)
    }
}

/// Accumulates the plan.
struct Builder {
    plan: Plan,
    /// Endpoint maps made so far (their names are `e<number>`).
    picks: usize,
}

impl Builder {
    fn chain(&mut self, c: Chain) {
        self.plan.chains.push(c);
    }

    fn rule(&mut self, chain: &str, exprs: Vec<Expr>) {
        self.plan.rules.push(Rule::new(chain, exprs));
    }

    fn elements(&mut self, set: &str, elements: Vec<Element>) {
        if let Some(s) = self.plan.sets.iter_mut().find(|s| s.name == set) {
            s.elements = elements;
        }
    }

    fn set(&mut self, s: Set) {
        self.plan.sets.push(s);
    }

    /// Rules of `chain` that DNAT to one of `eps` at random, honouring ClientIP affinity
    /// through the map `aff` when set. `eps` must not be empty. Each pick has its own small
    /// map (number → ip . port): the kernel checks every added element against
    /// every rule bound to its map, so one shared map made a sync quadratic.
    fn pick(&mut self, chain: &str, eps: &[Endpoint], aff: Option<(String, u32)>) {
        // Short names that differ early: the kernel finds a set by a linear scan of the
        // table's sets comparing names, once per rule and element message naming it.
        let map = format!("e{}", self.picks);
        self.picks += 1;
        self.set(
            Set::map(&map, KeyType::Mark, SetData::Value(ip_port_type()))
                .with_elements(
                    eps.iter()
                        .enumerate()
                        .map(|(i, e)| Element::new(m::numgen_key(i as u32)).to_value(ip_port(e)))
                        .collect(),
                )
                // Fixed for the table's lifetime: the next change replaces the whole table.
                .sized(),
        );
        let mut pick = vec![
            Expr::Numgen {
                dreg: Reg::R1,
                modulus: eps.len() as u32,
                kind: NumgenKind::Random,
                offset: 0,
            },
            Expr::Lookup {
                set: map,
                sreg: Reg::R1,
                dreg: Some(Reg::R1),
                invert: false,
            },
        ];
        if let Some((aff, secs)) = &aff {
            self.set(
                Set::map(aff, KeyType::Ipv4Addr, SetData::Value(ip_port_type()))
                    .dynamic(u64::from(*secs) * 1000),
            );
            // A known client goes where it went before; the update refreshes its timeout.
            self.rule(
                chain,
                vec![
                    load_saddr(Reg::R2),
                    Expr::Lookup {
                        set: aff.clone(),
                        sreg: Reg::R2,
                        dreg: Some(Reg::R1),
                        invert: false,
                    },
                    m::dynset_update(aff, Reg::R2, Some(Reg::R1)),
                    dnat_from_registers(),
                ],
            );
            pick.push(load_saddr(Reg::R2));
            pick.push(m::dynset_update(aff, Reg::R2, Some(Reg::R1)));
        }
        pick.push(dnat_from_registers());
        self.rule(chain, pick);
    }
}

fn goto(c: &str) -> Expr {
    m::verdict(Verdict::Goto(c.to_string()))
}

fn base_chains(b: &mut Builder, cluster: IpNetwork) {
    let nat = |name: &str, hook: Hook, prio: i32| {
        Chain::base(name, ChainType::Nat, hook, prio, Policy::Accept)
    };
    b.chain(nat("nat-prerouting", Hook::Prerouting, -100));
    b.chain(nat("nat-output", Hook::Output, -100));
    b.chain(nat("nat-postrouting", Hook::Postrouting, 100));
    // Before routing: a node without a route to the service range would otherwise answer
    // "network unreachable" before a forward hook ever saw the packet.
    for (name, hook) in [
        ("filter-prerouting", Hook::Prerouting),
        ("filter-output", Hook::Output),
    ] {
        b.chain(Chain::base(
            name,
            ChainType::Filter,
            hook,
            -110,
            Policy::Accept,
        ));
    }
    b.chain(Chain::regular(SERVICES));
    b.chain(Chain::regular(REJECT));

    let jump = m::verdict(Verdict::Jump(SERVICES.into()));
    b.rule("nat-prerouting", vec![jump.clone()]);
    b.rule("nat-output", vec![jump]);

    let mut r = m::load_daddr_l4proto_dport();
    r.push(m::vmap(SERVICE_IPS));
    b.rule(SERVICES, r);
    // NodePorts on every local address except loopback (DNAT from 127/8 needs route_localnet).
    let mut r = m::daddr_is_local();
    r.extend(m::addr(
        Dir::Destination,
        "127.0.0.0/8".parse().unwrap_or(cluster),
        CmpOp::Neq,
    ));
    r.extend(m::load_l4proto_dport());
    r.push(m::vmap(SERVICE_NODEPORTS));
    b.rule(SERVICES, r);

    // Masquerade marked packets once, clearing the bit so an encapsulated copy is not
    // masqueraded again.
    let mut r = m::mark_any(MASQ_MARK);
    r.extend(m::mark_clear(MASQ_MARK));
    r.extend(m::masquerade(true));
    b.rule("nat-postrouting", r);
    // Hairpin: the reply would go from the pod to itself without the gateway's address.
    let mut r = m::ct_status(ct_status::DST_NAT);
    r.push(Expr::Payload {
        base: PayloadBase::Network,
        offset: 12,
        len: 8,
        dreg: Reg::R1,
    });
    r.push(m::lookup(HAIRPIN, false));
    r.extend(m::masquerade(true));
    b.rule("nat-postrouting", r);

    for chain in ["filter-prerouting", "filter-output"] {
        let mut r = m::ct_state(ct_state::NEW);
        r.extend(m::load_daddr_l4proto_dport());
        r.push(m::lookup(NO_EP_SERVICES, false));
        r.push(goto(REJECT));
        b.rule(chain, r);
        let mut r = m::ct_state(ct_state::NEW);
        r.extend(m::daddr_is_local());
        r.extend(m::load_l4proto_dport());
        r.push(m::lookup(NO_EP_NODEPORTS, false));
        r.push(goto(REJECT));
        b.rule(chain, r);
    }

    let mut r = m::l4proto(m::TCP);
    r.push(m::reject_tcp_reset());
    b.rule(REJECT, r);
    b.rule(REJECT, vec![m::reject_port_unreachable()]);
}

/// Builds the batch replacing kedge's service table with rules for `ports`.
pub fn build(ports: &[ServicePort], cfg: &RuleConfig) -> (Batch, RuleStats) {
    let (batch, mut stats) = plan(ports, cfg).batch();
    stats.service_ports = ports.len();
    (batch, stats)
}

/// The table's content for `ports` (pure).
pub fn plan(ports: &[ServicePort], cfg: &RuleConfig) -> Plan {
    let mut b = Builder {
        plan: Plan::default(),
        picks: 0,
    };
    let vip_type = KeyType::concat(&[KeyType::Ipv4Addr, KeyType::InetProto, KeyType::InetService]);
    let np_type = KeyType::concat(&[KeyType::InetProto, KeyType::InetService]);
    b.set(Set::map(SERVICE_IPS, vip_type, SetData::Verdict));
    b.set(Set::map(SERVICE_NODEPORTS, np_type, SetData::Verdict));
    b.set(Set::new(NO_EP_SERVICES, vip_type));
    b.set(Set::new(NO_EP_NODEPORTS, np_type));
    b.set(Set::new(
        HAIRPIN,
        KeyType::concat(&[KeyType::Ipv4Addr, KeyType::Ipv4Addr]),
    ));
    base_chains(&mut b, cfg.cluster_cidr);

    // When two Services claim the same address and port, the older one wins.
    let mut order: Vec<&ServicePort> = ports.iter().collect();
    order.sort_by(|a, c| (&a.created, a.id()).cmp(&(&c.created, c.id())));

    let mut vips: BTreeMap<Vec<u8>, Verdict> = BTreeMap::new();
    let mut nodeports: BTreeMap<Vec<u8>, Verdict> = BTreeMap::new();
    let mut no_ep_vips: BTreeSet<Vec<u8>> = BTreeSet::new();
    let mut no_ep_nodeports: BTreeSet<Vec<u8>> = BTreeSet::new();
    let mut hairpin: BTreeSet<Vec<u8>> = BTreeSet::new();

    for p in order {
        let claim = |map: &BTreeMap<Vec<u8>, Verdict>, set: &BTreeSet<Vec<u8>>, k: &[u8]| {
            !map.contains_key(k) && !set.contains(k)
        };
        if p.endpoints.is_empty() {
            for ip in p.cluster_ips.iter().chain(&p.external_ips) {
                let k = vip_key(*ip, p);
                if claim(&vips, &no_ep_vips, &k) {
                    no_ep_vips.insert(k);
                }
            }
            if let Some(np) = p.node_port {
                let k = nodeport_key(p, np);
                if claim(&nodeports, &no_ep_nodeports, &k) {
                    no_ep_nodeports.insert(k);
                }
            }
            continue;
        }
        let local: Vec<Endpoint> = p
            .endpoints
            .iter()
            .filter(|e| e.node.as_deref() == Some(cfg.node_name.as_str()))
            .cloned()
            .collect();
        // Only a pod of this node can reach itself through this node's rules; endpoints
        // without a node name might be here.
        for e in p
            .endpoints
            .iter()
            .filter(|e| e.node.is_none() || e.node.as_deref() == Some(cfg.node_name.as_str()))
        {
            hairpin.insert(Element::concat(&[&e.ip.octets(), &e.ip.octets()]));
        }

        let svc = svc_chain(p);
        b.chain(Chain::regular(&svc));
        let mut r = m::addr(Dir::Source, cfg.cluster_cidr, CmpOp::Neq);
        r.extend(m::mark_or(MASQ_MARK));
        b.rule(&svc, r);
        let internal: &[Endpoint] = if p.internal_local {
            &local
        } else {
            &p.endpoints
        };
        if internal.is_empty() {
            b.rule(&svc, vec![m::verdict(Verdict::Drop)]);
        } else {
            let aff = p.affinity.map(|s| (format!("aff-{}", p.id()), s));
            b.pick(&svc, internal, aff);
        }
        for ip in &p.cluster_ips {
            let k = vip_key(*ip, p);
            if claim(&vips, &no_ep_vips, &k) {
                vips.insert(k, Verdict::Goto(svc.clone()));
            }
        }

        if !p.is_external() {
            continue;
        }
        let ext = ext_chain(p);
        b.chain(Chain::regular(&ext));
        if p.external_local {
            // Pods and the node itself are not "external": they get every endpoint.
            let mut r = m::addr(Dir::Source, cfg.cluster_cidr, CmpOp::Eq);
            r.push(goto(&svc));
            b.rule(&ext, r);
            let mut r = m::saddr_is_local();
            r.extend(m::mark_or(MASQ_MARK));
            r.push(goto(&svc));
            b.rule(&ext, r);
            if local.is_empty() {
                b.rule(&ext, vec![m::verdict(Verdict::Drop)]);
            } else {
                let aff = p.affinity.map(|s| (format!("aff-local-{}", p.id()), s));
                b.pick(&ext, &local, aff);
            }
        } else {
            let mut r = m::mark_or(MASQ_MARK);
            r.push(goto(&svc));
            b.rule(&ext, r);
        }
        for ip in &p.external_ips {
            let k = vip_key(*ip, p);
            if claim(&vips, &no_ep_vips, &k) {
                vips.insert(k, Verdict::Goto(ext.clone()));
            }
        }
        if let Some(np) = p.node_port {
            let k = nodeport_key(p, np);
            if claim(&nodeports, &no_ep_nodeports, &k) {
                nodeports.insert(k, Verdict::Goto(ext.clone()));
            }
        }
    }

    let to_vmap = |m: BTreeMap<Vec<u8>, Verdict>| -> Vec<Element> {
        m.into_iter()
            .map(|(k, v)| Element::new(k).to_verdict(v))
            .collect()
    };
    let to_set =
        |s: BTreeSet<Vec<u8>>| -> Vec<Element> { s.into_iter().map(Element::new).collect() };
    b.elements(SERVICE_IPS, to_vmap(vips));
    b.elements(SERVICE_NODEPORTS, to_vmap(nodeports));
    b.elements(NO_EP_SERVICES, to_set(no_ep_vips));
    b.elements(NO_EP_NODEPORTS, to_set(no_ep_nodeports));
    b.elements(HAIRPIN, to_set(hairpin));
    b.plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::model::{self, tests::slice, tests::svc};
    use serde_json::json;

    fn cfg() -> RuleConfig {
        RuleConfig {
            node_name: "n1".into(),
            cluster_cidr: "10.42.0.0/16".parse().unwrap(),
        }
    }

    fn fixture() -> Vec<ServicePort> {
        let services = vec![
            svc(
                "d",
                "web",
                json!({"clusterIP": "10.43.0.5", "ports": [{"name": "http", "port": 80}]}),
            ),
            svc(
                "d",
                "np",
                json!({"type": "NodePort", "clusterIP": "10.43.0.6",
                       "ports": [{"port": 80, "nodePort": 30080}], "externalTrafficPolicy": "Local",
                       "sessionAffinity": "ClientIP"}),
            ),
            svc(
                "d",
                "empty",
                json!({"type": "NodePort", "clusterIP": "10.43.0.7",
                                     "ports": [{"port": 81, "nodePort": 30081}]}),
            ),
        ];
        let slices = vec![
            slice(
                "d",
                "web",
                &[
                    ("10.42.0.2", true, true, "n1"),
                    ("10.42.1.2", true, true, "n2"),
                ],
                &[("http", 8080, "TCP")],
            ),
            slice(
                "d",
                "np",
                &[
                    ("10.42.0.3", true, true, "n1"),
                    ("10.42.1.3", true, true, "n2"),
                ],
                &[("", 9090, "TCP")],
            ),
        ];
        model::build(&services, &slices)
    }

    /// The endpoint map the last rule of `chain` picks from.
    fn eps<'a>(p: &'a Plan, chain: &str) -> &'a Set {
        let name = p
            .chain_rules(chain)
            .last()
            .unwrap()
            .exprs
            .iter()
            .find_map(|e| match e {
                Expr::Lookup { set, .. } => Some(set.clone()),
                _ => None,
            })
            .unwrap();
        p.set(&name).unwrap()
    }

    fn verdicts(p: &Plan, set: &str) -> Vec<(Vec<u8>, String)> {
        p.set(set)
            .unwrap()
            .elements
            .iter()
            .map(|e| {
                let v = match &e.data {
                    Some(kedge_netplugins::nft::ElemData::Verdict(v)) => v.to_string(),
                    other => format!("{other:?}"),
                };
                (e.key.clone(), v)
            })
            .collect()
    }

    #[test]
    fn cluster_ips_node_ports_and_empty_services_are_dispatched() {
        let p = plan(&fixture(), &cfg());
        let vips = verdicts(&p, SERVICE_IPS);
        assert_eq!(
            vips,
            vec![
                (
                    vec![10, 43, 0, 5, 6, 0, 0, 0, 0, 80, 0, 0],
                    "goto svc-d/web/tcp/http".into()
                ),
                (
                    vec![10, 43, 0, 6, 6, 0, 0, 0, 0, 80, 0, 0],
                    "goto svc-d/np/tcp/80".into()
                ),
            ]
        );
        assert_eq!(
            verdicts(&p, SERVICE_NODEPORTS),
            vec![(
                vec![6, 0, 0, 0, 0x75, 0x80, 0, 0],
                "goto ext-d/np/tcp/80".into()
            )]
        );
        // The Service without endpoints is rejected on its cluster IP and node port.
        let noep = &p.set(NO_EP_SERVICES).unwrap().elements;
        assert_eq!(noep.len(), 1);
        assert_eq!(noep[0].key, vec![10, 43, 0, 7, 6, 0, 0, 0, 0, 81, 0, 0]);
        assert_eq!(p.set(NO_EP_NODEPORTS).unwrap().elements.len(), 1);
        assert!(!p.chains.iter().any(|c| c.name.contains("empty")));
        // Two endpoints per cluster pick, one local pick.
        assert_eq!(eps(&p, "svc-d/web/tcp/http").elements.len(), 2);
        assert_eq!(eps(&p, "ext-d/np/tcp/80").elements.len(), 1);
        // Hairpin only for this node's pods.
        assert_eq!(p.set(HAIRPIN).unwrap().elements.len(), 2);
    }

    #[test]
    fn external_traffic_policy_local_uses_only_local_endpoints_without_masquerade() {
        let p = plan(&fixture(), &cfg());
        let ext: Vec<&Rule> = p.chain_rules("ext-d/np/tcp/80").collect();
        // pods → svc, node → masq + svc, known client (affinity), pick among 1 local.
        assert_eq!(ext.len(), 4);
        assert!(ext[0].exprs.contains(&goto("svc-d/np/tcp/80")));
        assert!(!ext[2..]
            .iter()
            .any(|r| r.exprs.iter().any(|e| matches!(e, Expr::MetaSet { .. }))));
        let pick = ext[3]
            .exprs
            .iter()
            .find_map(|e| match e {
                Expr::Numgen {
                    modulus, offset, ..
                } => Some((*modulus, *offset)),
                _ => None,
            })
            .unwrap();
        assert_eq!(pick.0, 1);
        let eps = &eps(&p, "ext-d/np/tcp/80").elements;
        let local = eps.iter().find(|e| e.key == m::numgen_key(pick.1)).unwrap();
        assert_eq!(
            local.data,
            Some(kedge_netplugins::nft::ElemData::Value(vec![
                10, 42, 0, 3, 0x23, 0x82, 0, 0
            ]))
        );
        // ClientIP affinity: dynamic maps with the default timeout, for both picks.
        let aff = p.set("aff-d/np/tcp/80").unwrap();
        assert!(aff.dynamic);
        assert_eq!(aff.timeout_ms, Some(10_800_000));
        assert!(p.set("aff-local-d/np/tcp/80").is_some());
        // Cluster traffic from outside the pod network is masqueraded.
        let svc0 = p.chain_rules("svc-d/web/tcp/http").next().unwrap();
        assert!(svc0.exprs.iter().any(|e| matches!(e, Expr::MetaSet { .. })));
    }

    #[test]
    fn equal_input_gives_equal_batches_and_the_older_service_wins_a_conflict() {
        let a = build(&fixture(), &cfg());
        let b = build(&fixture(), &cfg());
        assert_eq!(a.0.encode(1), b.0.encode(1));
        assert_eq!(a.1.bytes, a.0.encode(1).len());
        assert_eq!(a.1.service_ports, 3);

        let mut older = svc(
            "d",
            "b-old",
            json!({"clusterIP": "10.43.0.9", "ports": [{"port": 80}]}),
        );
        older["metadata"]["creationTimestamp"] = json!("2025-01-01T00:00:00Z");
        let newer = svc(
            "d",
            "a-new",
            json!({"clusterIP": "10.43.0.9", "ports": [{"port": 80}]}),
        );
        let slices = [
            slice(
                "d",
                "b-old",
                &[("10.42.0.9", true, true, "n1")],
                &[("", 80, "TCP")],
            ),
            slice(
                "d",
                "a-new",
                &[("10.42.0.8", true, true, "n1")],
                &[("", 80, "TCP")],
            ),
        ];
        let p = plan(&model::build(&[newer, older], &slices), &cfg());
        assert_eq!(
            verdicts(&p, SERVICE_IPS),
            vec![(
                vec![10, 43, 0, 9, 6, 0, 0, 0, 0, 80, 0, 0],
                "goto svc-d/b-old/tcp/80".into()
            )]
        );
    }
}
