//! The typed view of the objects NetworkPolicy enforcement depends on: NetworkPolicies
//! (networking.k8s.io/v1), Pods and Namespaces, parsed from the API's JSON.
//!
//! Contract: parsing tolerates missing fields (an absent list is empty, an absent protocol is
//! TCP). [`Policy::from_json`] applies the API's defaulting of `policyTypes` (Ingress always;
//! Egress when the policy has egress rules) and fails only when it cannot tell which pods the
//! policy selects (a malformed `podSelector`). A part that cannot be understood inside a rule
//! (a peer with a bad selector, an unknown protocol) matches nothing, so a damaged rule never
//! widens what a policy allows. Pod addresses are IPv4 only: the tables kedge enforces in are
//! `ip` tables.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use ipnetwork::IpNetwork;
use serde_json::{Map, Value};

use crate::api::selector::{LabelSelector, SelectorError};

use super::ranges::Ranges;

/// The label every namespace carries with its own name (set by the API server since 1.21);
/// synthesized here too so `namespaceSelector`s by name work before the cache has the object.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("networkpolicy {namespace}/{name}: podSelector")]
    PodSelector {
        namespace: String,
        name: String,
        #[source]
        source: SelectorError,
    },
}

pub use kedge_netplugins::Protocol;

/// A `containers[].ports[]` entry that has a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedPort {
    pub name: String,
    pub port: u16,
    pub protocol: Protocol,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Pod {
    pub namespace: String,
    pub name: String,
    /// `spec.nodeName`, empty while unscheduled.
    pub node_name: String,
    pub labels: Map<String, Value>,
    /// IPv4 addresses of `status.podIPs` (or `status.podIP`), de-duplicated, in order.
    pub ips: Vec<Ipv4Addr>,
    pub phase: String,
    pub host_network: bool,
    pub ports: Vec<NamedPort>,
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = v;
    for p in path {
        match cur.get(p) {
            Some(next) => cur = next,
            None => return "",
        }
    }
    cur.as_str().unwrap_or("")
}

fn labels_of(v: &Value) -> Map<String, Value> {
    v.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

fn array(v: Option<&Value>) -> &[Value] {
    v.and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// The parts of a Pod object [`Pod::from_json`] reads, so that a cache of every pod in the
/// cluster keeps kilobytes less per pod.
pub fn slim_pod(v: Value) -> Value {
    let keep = |from: &Value, keys: &[&str]| -> Value {
        let mut out = serde_json::Map::new();
        for k in keys {
            if let Some(x) = from.get(*k) {
                out.insert((*k).to_string(), x.clone());
            }
        }
        Value::Object(out)
    };
    let ports_of = |cs: Option<&Value>| -> Value {
        Value::Array(
            array(cs)
                .iter()
                .map(|c| keep(c, &["ports", "restartPolicy"]))
                .collect(),
        )
    };
    let spec = v.get("spec").unwrap_or(&Value::Null);
    let mut slim_spec = keep(spec, &["nodeName", "hostNetwork"]);
    slim_spec["containers"] = ports_of(spec.get("containers"));
    slim_spec["initContainers"] = ports_of(spec.get("initContainers"));
    serde_json::json!({
        "metadata": keep(v.get("metadata").unwrap_or(&Value::Null), &["name", "namespace", "labels", "uid"]),
        "spec": slim_spec,
        "status": keep(v.get("status").unwrap_or(&Value::Null), &["phase", "podIP", "podIPs"]),
    })
}

impl Pod {
    pub fn from_json(v: &Value) -> Pod {
        let status = v.get("status").unwrap_or(&Value::Null);
        let mut ips: Vec<Ipv4Addr> = Vec::new();
        let listed = array(status.get("podIPs"))
            .iter()
            .map(|p| str_at(p, &["ip"]));
        for s in listed.chain([str_at(status, &["podIP"])]) {
            if let Ok(IpAddr::V4(a)) = s.parse::<IpAddr>() {
                if !ips.contains(&a) {
                    ips.push(a);
                }
            }
        }
        let spec = v.get("spec").unwrap_or(&Value::Null);
        // Sidecars (init containers that keep running) serve ports too.
        let sidecars = array(spec.get("initContainers"))
            .iter()
            .filter(|c| str_at(c, &["restartPolicy"]) == "Always");
        let mut ports = Vec::new();
        for c in array(spec.get("containers")).iter().chain(sidecars) {
            for p in array(c.get("ports")) {
                let name = str_at(p, &["name"]);
                let port = p.get("containerPort").and_then(Value::as_u64);
                let proto = Protocol::parse_or_tcp(p.get("protocol").and_then(Value::as_str));
                if let (false, Some(Ok(port)), Some(protocol)) =
                    (name.is_empty(), port.map(u16::try_from), proto)
                {
                    ports.push(NamedPort {
                        name: name.to_string(),
                        port,
                        protocol,
                    });
                }
            }
        }
        Pod {
            namespace: str_at(v, &["metadata", "namespace"]).to_string(),
            name: str_at(v, &["metadata", "name"]).to_string(),
            node_name: str_at(spec, &["nodeName"]).to_string(),
            labels: labels_of(v),
            ips,
            phase: str_at(status, &["phase"]).to_string(),
            host_network: spec.get("hostNetwork").and_then(Value::as_bool) == Some(true),
            ports,
        }
    }

    /// Whether the pod's addresses stand for it as a peer: running, with its own addresses.
    pub fn is_peer(&self) -> bool {
        self.phase == "Running" && !self.host_network && !self.ips.is_empty()
    }

    /// Whether policies are enforced for this pod on `node`: scheduled there, on the pod
    /// network, with an address, and not finished (a pending pod with an address may already
    /// have started containers).
    pub fn enforced_on(&self, node: &str) -> bool {
        self.node_name == node
            && !self.host_network
            && !self.ips.is_empty()
            && self.phase != "Succeeded"
            && self.phase != "Failed"
    }

    /// The number of the container port called `name` with this protocol.
    pub fn named_port(&self, name: &str, protocol: Protocol) -> Option<u16> {
        self.ports
            .iter()
            .find(|p| p.name == name && p.protocol == protocol)
            .map(|p| p.port)
    }
}

/// Namespace labels by name.
#[derive(Debug, Clone, Default)]
pub struct Namespaces(BTreeMap<String, Map<String, Value>>);

impl Namespaces {
    pub fn from_json(namespaces: &[Value]) -> Namespaces {
        Namespaces(
            namespaces
                .iter()
                .map(|n| (str_at(n, &["metadata", "name"]).to_string(), labels_of(n)))
                .collect(),
        )
    }

    /// The namespace's labels, with the name label even when the object is unknown.
    pub fn labels(&self, name: &str) -> Map<String, Value> {
        let mut l = self.0.get(name).cloned().unwrap_or_default();
        l.entry(NAMESPACE_NAME_LABEL)
            .or_insert_with(|| Value::String(name.to_string()));
        l
    }
}

/// Which namespaces a pod peer's pods may live in.
#[derive(Debug, Clone, PartialEq)]
pub enum NamespaceSel {
    /// The policy's own namespace (a peer without `namespaceSelector`).
    Same(String),
    Matching(LabelSelector),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Peer {
    /// Pods matching `pods` in the namespaces of `namespaces`.
    Pods {
        namespaces: NamespaceSel,
        pods: LabelSelector,
    },
    /// Addresses in `cidr` outside every `except`; IPv4 only (an IPv6 block stays empty).
    IpBlock(Ranges),
    /// A peer that could not be understood.
    Nothing,
}

/// The destination ports of a `ports[]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortSel {
    All,
    /// Inclusive range (`port` .. `endPort`, or one port).
    Range(u16, u16),
    /// A container port name, resolved against the destination pod.
    Named(String),
    /// A port that cannot exist (out of range): matches nothing.
    Nothing,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyPort {
    /// `None`: an unknown protocol, matching nothing.
    pub protocol: Option<Protocol>,
    pub port: PortSel,
}

/// One ingress or egress rule.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyRule {
    /// `None`: `from`/`to` absent or empty, every peer.
    pub peers: Option<Vec<Peer>>,
    /// `None`: `ports` absent or empty, every port of every protocol.
    pub ports: Option<Vec<PolicyPort>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub namespace: String,
    pub name: String,
    pub pod_selector: LabelSelector,
    /// `Some` when the policy isolates its pods for ingress; an empty list denies all.
    pub ingress: Option<Vec<PolicyRule>>,
    pub egress: Option<Vec<PolicyRule>>,
}

fn selector(v: Option<&Value>) -> Result<LabelSelector, SelectorError> {
    match v {
        None | Some(Value::Null) => Ok(LabelSelector::default()),
        Some(s) => LabelSelector::from_json(s),
    }
}

fn ip_block(b: &Value) -> Peer {
    let net = |v: &Value| v.as_str().and_then(|s| s.parse::<IpNetwork>().ok());
    let Some(cidr) = b.get("cidr").and_then(net) else {
        return Peer::Nothing;
    };
    let IpNetwork::V4(cidr) = cidr else {
        return Peer::IpBlock(Ranges::new());
    };
    let mut r = Ranges::cidr(cidr);
    for e in array(b.get("except")) {
        match net(e) {
            Some(IpNetwork::V4(e)) => r.subtract(&Ranges::cidr(e)),
            Some(IpNetwork::V6(_)) => {}
            // An except we cannot read might have been meant to exclude anything: fail closed.
            None => return Peer::Nothing,
        }
    }
    Peer::IpBlock(r)
}

fn peer(p: &Value, namespace: &str) -> Peer {
    if let Some(b) = p.get("ipBlock").filter(|b| !b.is_null()) {
        return ip_block(b);
    }
    let pod_sel = p.get("podSelector").filter(|s| !s.is_null());
    let ns_sel = p.get("namespaceSelector").filter(|s| !s.is_null());
    if pod_sel.is_none() && ns_sel.is_none() {
        return Peer::Nothing;
    }
    let namespaces = match ns_sel {
        None => Ok(NamespaceSel::Same(namespace.to_string())),
        Some(s) => LabelSelector::from_json(s).map(NamespaceSel::Matching),
    };
    match (namespaces, selector(pod_sel)) {
        (Ok(namespaces), Ok(pods)) => Peer::Pods { namespaces, pods },
        _ => Peer::Nothing,
    }
}

fn port(p: &Value) -> PolicyPort {
    let protocol = Protocol::parse_or_tcp(p.get("protocol").and_then(Value::as_str));
    let end = p.get("endPort").and_then(Value::as_u64);
    let port = match p.get("port") {
        None | Some(Value::Null) => PortSel::All,
        Some(Value::String(s)) => match s.parse::<u16>() {
            Ok(n) => PortSel::Range(n, n),
            Err(_) => PortSel::Named(s.clone()),
        },
        Some(v) => match v.as_u64().map(u16::try_from) {
            Some(Ok(n)) => {
                let end = end.and_then(|e| u16::try_from(e).ok()).unwrap_or(n);
                PortSel::Range(n, end.max(n))
            }
            _ => PortSel::Nothing,
        },
    };
    PolicyPort { protocol, port }
}

fn rule(r: &Value, peers_key: &str, namespace: &str) -> PolicyRule {
    let peers = array(r.get(peers_key));
    let ports = array(r.get("ports"));
    PolicyRule {
        peers: (!peers.is_empty()).then(|| peers.iter().map(|p| peer(p, namespace)).collect()),
        ports: (!ports.is_empty()).then(|| ports.iter().map(port).collect()),
    }
}

impl Policy {
    pub fn from_json(v: &Value) -> Result<Policy, ModelError> {
        let namespace = str_at(v, &["metadata", "namespace"]).to_string();
        let name = str_at(v, &["metadata", "name"]).to_string();
        let spec = v.get("spec").unwrap_or(&Value::Null);
        let pod_selector =
            selector(spec.get("podSelector")).map_err(|source| ModelError::PodSelector {
                namespace: namespace.clone(),
                name: name.clone(),
                source,
            })?;
        let ingress_rules = array(spec.get("ingress"));
        let egress_rules = array(spec.get("egress"));
        let (ingress_on, egress_on) = match spec.get("policyTypes").and_then(Value::as_array) {
            Some(types) => (
                types.iter().any(|t| t == "Ingress"),
                types.iter().any(|t| t == "Egress"),
            ),
            None => (true, !egress_rules.is_empty()),
        };
        let rules = |list: &[Value], key: &str| -> Vec<PolicyRule> {
            list.iter().map(|r| rule(r, key, &namespace)).collect()
        };
        Ok(Policy {
            ingress: ingress_on.then(|| rules(ingress_rules, "from")),
            egress: egress_on.then(|| rules(egress_rules, "to")),
            namespace: namespace.clone(),
            name,
            pod_selector,
        })
    }

    /// Whether the policy applies to `pod` (same namespace, podSelector matches).
    pub fn selects(&self, pod: &Pod) -> bool {
        pod.namespace == self.namespace && self.pod_selector.matches(Some(&pod.labels))
    }
}

impl Peer {
    /// Whether `pod` (a peer candidate) is one of this peer's pods; ipBlocks are matched by
    /// address instead.
    pub fn selects_pod(&self, pod: &Pod, namespaces: &Namespaces) -> bool {
        match self {
            Peer::Pods {
                namespaces: ns,
                pods,
            } => {
                let ns_ok = match ns {
                    NamespaceSel::Same(n) => &pod.namespace == n,
                    NamespaceSel::Matching(sel) => {
                        sel.matches(Some(&namespaces.labels(&pod.namespace)))
                    }
                };
                ns_ok && pods.matches(Some(&pod.labels))
            }
            Peer::IpBlock(_) | Peer::Nothing => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(ns: &str, name: &str, labels: Value) -> Pod {
        Pod::from_json(&json!({
            "metadata": {"namespace": ns, "name": name, "labels": labels},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "ports": [
                {"name": "http", "containerPort": 8080},
                {"name": "dns", "containerPort": 53, "protocol": "UDP"},
                {"containerPort": 9000}
            ]}]},
            "status": {"phase": "Running", "podIP": "10.42.0.5",
                       "podIPs": [{"ip": "10.42.0.5"}, {"ip": "fd00::5"}]}
        }))
    }

    #[test]
    fn pod_parses_addresses_ports_and_state() {
        let p = pod("a", "p", json!({"role": "db"}));
        assert_eq!(p.ips, vec!["10.42.0.5".parse::<Ipv4Addr>().unwrap()]);
        assert_eq!(p.named_port("http", Protocol::Tcp), Some(8080));
        assert_eq!(p.named_port("http", Protocol::Udp), None);
        assert_eq!(p.named_port("dns", Protocol::Udp), Some(53));
        assert_eq!(p.ports.len(), 2, "unnamed ports are not kept");
        assert!(p.is_peer() && p.enforced_on("n1") && !p.enforced_on("n2"));
        let pending = Pod::from_json(&json!({"status": {"phase": "Pending", "podIP": "10.0.0.1"},
                                             "spec": {"nodeName": "n1"}}));
        assert!(!pending.is_peer() && pending.enforced_on("n1"));
        let host = Pod::from_json(&json!({"spec": {"hostNetwork": true, "nodeName": "n1"},
                                          "status": {"phase": "Running", "podIP": "192.168.1.2"}}));
        assert!(!host.is_peer() && !host.enforced_on("n1"));
        assert!(!Pod::from_json(&json!({})).is_peer());
    }

    #[test]
    fn policy_types_default_from_the_rules() {
        let p = |spec: Value| {
            Policy::from_json(&json!({"metadata": {"namespace": "a", "name": "p"}, "spec": spec}))
                .unwrap()
        };
        let only_ingress = p(json!({"podSelector": {}}));
        assert_eq!(
            only_ingress.ingress,
            Some(vec![]),
            "no rules: deny all ingress"
        );
        assert_eq!(only_ingress.egress, None);
        let with_egress = p(json!({"podSelector": {}, "egress": [{}]}));
        assert!(with_egress.ingress.is_some());
        assert_eq!(with_egress.egress.as_ref().map(Vec::len), Some(1));
        let empty_egress = p(json!({"podSelector": {}, "egress": []}));
        assert_eq!(
            empty_egress.egress, None,
            "an empty egress list does not isolate"
        );
        let explicit = p(json!({"podSelector": {}, "policyTypes": ["Egress"]}));
        assert_eq!((explicit.ingress, explicit.egress), (None, Some(vec![])));
    }

    #[test]
    fn rules_keep_the_difference_between_absent_and_unmatchable() {
        let p = Policy::from_json(&json!({
            "metadata": {"namespace": "a", "name": "p"},
            "spec": {"podSelector": {"matchLabels": {"role": "db"}}, "ingress": [
                {},
                {"from": [{"podSelector": {"matchExpressions": [{"key": "x", "operator": "Bogus"}]}}],
                 "ports": [{"protocol": "ICMP", "port": 1}]},
                {"from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}},
                          {"namespaceSelector": {}, "podSelector": {"matchLabels": {"r": "c"}}},
                          {"podSelector": {}}],
                 "ports": [{"port": 80, "endPort": 90}, {"port": "http", "protocol": "UDP"}, {"protocol": "SCTP"}]}
            ]}
        }))
        .unwrap();
        let rules = p.ingress.unwrap();
        assert_eq!(
            rules[0],
            PolicyRule {
                peers: None,
                ports: None
            }
        );
        assert_eq!(rules[1].peers, Some(vec![Peer::Nothing]));
        assert_eq!(rules[1].ports.as_ref().unwrap()[0].protocol, None);
        let peers = rules[2].peers.as_ref().unwrap();
        let Peer::IpBlock(r) = &peers[0] else {
            panic!("{peers:?}")
        };
        assert!(r.contains(u32::from(Ipv4Addr::new(10, 2, 0, 1))));
        assert!(!r.contains(u32::from(Ipv4Addr::new(10, 1, 0, 1))));
        assert!(
            matches!(&peers[1], Peer::Pods { namespaces: NamespaceSel::Matching(s), .. } if s.is_empty())
        );
        assert!(
            matches!(&peers[2], Peer::Pods { namespaces: NamespaceSel::Same(n), .. } if n == "a")
        );
        let ports = rules[2].ports.as_ref().unwrap();
        assert_eq!(
            ports[0],
            PolicyPort {
                protocol: Some(Protocol::Tcp),
                port: PortSel::Range(80, 90)
            }
        );
        assert_eq!(
            ports[1],
            PolicyPort {
                protocol: Some(Protocol::Udp),
                port: PortSel::Named("http".into())
            }
        );
        assert_eq!(
            ports[2],
            PolicyPort {
                protocol: Some(Protocol::Sctp),
                port: PortSel::All
            }
        );
    }

    #[test]
    fn malformed_pod_selector_is_an_error() {
        let bad = json!({"metadata": {"namespace": "a", "name": "p"},
                         "spec": {"podSelector": {"matchExpressions": [{"key": "x", "operator": "Nope"}]}}});
        assert!(Policy::from_json(&bad).is_err());
    }

    #[test]
    fn selection_by_pod_and_namespace_labels() {
        let nss = Namespaces::from_json(&[
            json!({"metadata": {"name": "prod", "labels": {"env": "prod"}}}),
        ]);
        let client = pod("prod", "c", json!({"role": "client"}));
        let other_ns = pod("dev", "c", json!({"role": "client"}));
        let same = peer(
            &json!({"podSelector": {"matchLabels": {"role": "client"}}}),
            "prod",
        );
        assert!(same.selects_pod(&client, &nss) && !same.selects_pod(&other_ns, &nss));
        let both = peer(
            &json!({"namespaceSelector": {"matchLabels": {"env": "prod"}},
                    "podSelector": {"matchExpressions": [{"key": "role", "operator": "In", "values": ["client", "x"]}]}}),
            "dev",
        );
        assert!(both.selects_pod(&client, &nss) && !both.selects_pod(&other_ns, &nss));
        let by_name = peer(
            &json!({"namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: "dev"}}}),
            "prod",
        );
        assert!(by_name.selects_pod(&other_ns, &nss) && !by_name.selects_pod(&client, &nss));
        let not_in = peer(
            &json!({"podSelector": {"matchExpressions": [
                {"key": "role", "operator": "NotIn", "values": ["client"]},
                {"key": "tier", "operator": "DoesNotExist"}]}}),
            "prod",
        );
        assert!(!not_in.selects_pod(&client, &nss));
        assert!(not_in.selects_pod(&pod("prod", "d", json!({"role": "db"})), &nss));
        assert!(!not_in.selects_pod(&pod("prod", "d", json!({"tier": "x"})), &nss));
        let policy = Policy::from_json(&json!({"metadata": {"namespace": "prod", "name": "p"},
            "spec": {"podSelector": {"matchExpressions": [{"key": "role", "operator": "Exists"}]}}}))
        .unwrap();
        assert!(policy.selects(&client) && !policy.selects(&other_ns));
        assert!(!policy.selects(&pod("prod", "x", json!({}))));
    }

    #[test]
    fn a_slimmed_pod_reads_the_same() {
        let full = serde_json::json!({
            "metadata": {"name": "db", "namespace": "prod", "uid": "u", "labels": {"role": "db"},
                         "annotations": {"big": "x".repeat(4096)}, "managedFields": [{}]},
            "spec": {"nodeName": "n1", "hostNetwork": false,
                     "containers": [{"name": "c", "image": "i", "env": [{"name": "A", "value": "b"}],
                                     "ports": [{"name": "pg", "containerPort": 5432}]}],
                     "initContainers": [{"name": "s", "restartPolicy": "Always",
                                         "ports": [{"name": "m", "containerPort": 9090, "protocol": "UDP"}]}]},
            "status": {"phase": "Running", "podIP": "10.42.0.5", "podIPs": [{"ip": "10.42.0.5"}],
                       "conditions": [{"type": "Ready", "status": "True"}]}
        });
        let slim = slim_pod(full.clone());
        assert_eq!(Pod::from_json(&slim), Pod::from_json(&full));
        assert_eq!(Pod::from_json(&slim).ports.len(), 2);
        assert!(slim.to_string().len() < full.to_string().len() / 4);
    }
}
