//! The typed view of Services and EndpointSlices the proxy programs rules from.
//!
//! Contract: [`build`] turns API objects (`serde_json::Value`, Service v1 and EndpointSlice
//! discovery.k8s.io/v1) into one [`ServicePort`] per IPv4 service port that needs rules, sorted
//! by (namespace, name, port name, protocol) so equal inputs give equal rules. Headless and
//! ExternalName Services, IPv6 addresses and malformed fields are skipped, never errors.
//! Endpoints are the ready ones; only when none is ready, the serving (terminating) ones, as
//! kube-proxy falls back. Each endpoint's port is resolved by port name (and protocol) from
//! the slices of the Service.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use serde_json::Value;

/// Default `sessionAffinityConfig.clientIP.timeoutSeconds`.
pub const DEFAULT_AFFINITY_SECONDS: u32 = 10_800;

pub use kedge_netplugins::Protocol;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceType {
    ClusterIp,
    NodePort,
    LoadBalancer,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub ip: Ipv4Addr,
    pub port: u16,
    pub node: Option<String>,
}

/// One port of one Service with everything needed to program it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePort {
    pub namespace: String,
    pub name: String,
    pub port_name: String,
    pub protocol: Protocol,
    pub kind: ServiceType,
    pub cluster_ips: Vec<Ipv4Addr>,
    pub port: u16,
    pub node_port: Option<u16>,
    /// `status.loadBalancer.ingress[].ip` and `spec.externalIPs`: reached like the cluster IP
    /// but with the external traffic policy.
    pub external_ips: Vec<Ipv4Addr>,
    pub external_local: bool,
    pub internal_local: bool,
    /// ClientIP session affinity timeout, in seconds.
    pub affinity: Option<u32>,
    /// Sorted and de-duplicated.
    pub endpoints: Vec<Endpoint>,
    /// Milliseconds-free creation time, used to decide which of two conflicting ports wins.
    pub created: String,
}

impl ServicePort {
    /// `ns/name:port` (port name or number), for chain names and messages.
    pub fn id(&self) -> String {
        let port = if self.port_name.is_empty() {
            self.port.to_string()
        } else {
            self.port_name.clone()
        };
        format!(
            "{}/{}/{}/{}",
            self.namespace,
            self.name,
            self.protocol.name(),
            port
        )
    }

    /// Whether traffic from outside reaches this port (NodePort, LB or external IPs).
    pub fn is_external(&self) -> bool {
        self.node_port.is_some() || !self.external_ips.is_empty()
    }
}

fn str_at<'a>(v: &'a Value, ptr: &str) -> Option<&'a str> {
    v.pointer(ptr).and_then(Value::as_str)
}

fn ipv4s<'a>(items: impl Iterator<Item = &'a Value>) -> Vec<Ipv4Addr> {
    let mut out: Vec<Ipv4Addr> = items
        .filter_map(Value::as_str)
        .filter_map(|s| s.parse().ok())
        .collect();
    out.sort();
    out.dedup();
    out
}

fn port_num(v: Option<&Value>) -> Option<u16> {
    v.and_then(Value::as_u64)
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p != 0)
}

/// Endpoints of one Service by (port name, protocol).
type SlicePorts = BTreeMap<(String, Protocol), Vec<(Endpoint, Readiness)>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Readiness {
    Ready,
    /// Not ready but serving (a terminating pod still answering).
    Serving,
    NotReady,
}

fn readiness(ep: &Value) -> Readiness {
    let c = ep.get("conditions");
    let flag = |k: &str| c.and_then(|c| c.get(k)).and_then(Value::as_bool);
    // A missing `ready` means ready (the API's "unknown" is to be read as ready).
    if flag("ready") != Some(false) {
        Readiness::Ready
    } else if flag("serving") == Some(true) {
        Readiness::Serving
    } else {
        Readiness::NotReady
    }
}

/// Groups the IPv4 slices by owning Service (`namespace/name` from the service-name label).
fn index_slices(slices: &[Value]) -> BTreeMap<(String, String), SlicePorts> {
    let mut out: BTreeMap<(String, String), SlicePorts> = BTreeMap::new();
    for s in slices {
        if str_at(s, "/addressType").unwrap_or("IPv4") != "IPv4" {
            continue;
        }
        let Some(svc) = str_at(s, "/metadata/labels/kubernetes.io~1service-name") else {
            continue;
        };
        let ns = str_at(s, "/metadata/namespace").unwrap_or("default");
        let ports = s.get("ports").and_then(Value::as_array);
        let eps = s.get("endpoints").and_then(Value::as_array);
        let entry = out.entry((ns.to_string(), svc.to_string())).or_default();
        for p in ports.into_iter().flatten() {
            let (Some(port), Some(proto)) = (
                port_num(p.get("port")),
                Protocol::parse_or_tcp(p.get("protocol").and_then(Value::as_str)),
            ) else {
                continue;
            };
            let name = p.get("name").and_then(Value::as_str).unwrap_or("");
            let list = entry.entry((name.to_string(), proto)).or_default();
            for ep in eps.into_iter().flatten() {
                // kube-proxy programs the first address of an endpoint.
                let Some(ip) = ep
                    .pointer("/addresses/0")
                    .and_then(Value::as_str)
                    .and_then(|a| a.parse().ok())
                else {
                    continue;
                };
                let node = ep.get("nodeName").and_then(Value::as_str).map(String::from);
                list.push((Endpoint { ip, port, node }, readiness(ep)));
            }
        }
    }
    out
}

/// The endpoints traffic goes to: ready ones, else serving ones.
fn pick_endpoints(all: &[(Endpoint, Readiness)]) -> Vec<Endpoint> {
    let by = |r: Readiness| -> Vec<Endpoint> {
        let mut seen = BTreeSet::new();
        let mut v: Vec<Endpoint> = all
            .iter()
            .filter(|(_, x)| *x == r)
            .filter(|(e, _)| seen.insert((e.ip, e.port)))
            .map(|(e, _)| e.clone())
            .collect();
        v.sort_by_key(|e| (e.ip, e.port));
        v
    };
    let ready = by(Readiness::Ready);
    if ready.is_empty() {
        by(Readiness::Serving)
    } else {
        ready
    }
}

/// The service ports to program, sorted.
pub fn build(services: &[Value], slices: &[Value]) -> Vec<ServicePort> {
    let index = index_slices(slices);
    let mut out = Vec::new();
    for svc in services {
        let spec = svc.get("spec").unwrap_or(&Value::Null);
        let kind = match spec
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("ClusterIP")
        {
            "ClusterIP" => ServiceType::ClusterIp,
            "NodePort" => ServiceType::NodePort,
            "LoadBalancer" => ServiceType::LoadBalancer,
            // ExternalName is DNS only.
            _ => continue,
        };
        let mut cluster_ips = ipv4s(
            spec.get("clusterIPs")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .chain(spec.get("clusterIP")),
        );
        cluster_ips.retain(|ip| !ip.is_unspecified());
        if cluster_ips.is_empty() {
            // Headless ("None") or not allocated yet: DNS only.
            continue;
        }
        let ns = str_at(svc, "/metadata/namespace").unwrap_or("default");
        let name = str_at(svc, "/metadata/name").unwrap_or("");
        let mut external_ips = ipv4s(
            spec.get("externalIPs")
                .and_then(Value::as_array)
                .into_iter()
                .flatten(),
        );
        if kind == ServiceType::LoadBalancer {
            let lb = svc
                .pointer("/status/loadBalancer/ingress")
                .and_then(Value::as_array);
            external_ips.extend(ipv4s(lb.into_iter().flatten().filter_map(|i| i.get("ip"))));
            external_ips.sort();
            external_ips.dedup();
        }
        let affinity = (spec.get("sessionAffinity").and_then(Value::as_str) == Some("ClientIP"))
            .then(|| {
                spec.pointer("/sessionAffinityConfig/clientIP/timeoutSeconds")
                    .and_then(Value::as_u64)
                    .and_then(|t| u32::try_from(t).ok())
                    .filter(|t| *t > 0)
                    .unwrap_or(DEFAULT_AFFINITY_SECONDS)
            });
        let slice_ports = index.get(&(ns.to_string(), name.to_string()));
        for p in spec
            .get("ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let (Some(port), Some(protocol)) = (
                port_num(p.get("port")),
                Protocol::parse_or_tcp(p.get("protocol").and_then(Value::as_str)),
            ) else {
                continue;
            };
            let port_name = p
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let endpoints = slice_ports
                .and_then(|m| m.get(&(port_name.clone(), protocol)))
                .map(|all| pick_endpoints(all))
                .unwrap_or_default();
            let node_port = match kind {
                ServiceType::ClusterIp => None,
                _ => port_num(p.get("nodePort")),
            };
            out.push(ServicePort {
                namespace: ns.to_string(),
                name: name.to_string(),
                port_name,
                protocol,
                kind,
                cluster_ips: cluster_ips.clone(),
                port,
                node_port,
                external_ips: external_ips.clone(),
                external_local: spec.get("externalTrafficPolicy").and_then(Value::as_str)
                    == Some("Local"),
                internal_local: spec.get("internalTrafficPolicy").and_then(Value::as_str)
                    == Some("Local"),
                affinity,
                endpoints,
                created: str_at(svc, "/metadata/creationTimestamp")
                    .unwrap_or("")
                    .to_string(),
            });
        }
    }
    out.sort_by(|a, b| {
        (&a.namespace, &a.name, &a.port_name, a.protocol, a.port).cmp(&(
            &b.namespace,
            &b.name,
            &b.port_name,
            b.protocol,
            b.port,
        ))
    });
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    pub fn svc(ns: &str, name: &str, spec: Value) -> Value {
        json!({"metadata": {"namespace": ns, "name": name, "creationTimestamp": "2026-01-01T00:00:00Z"}, "spec": spec})
    }

    /// A slice with `(ip, ready, serving, node)` endpoints and `(name, port, protocol)` ports.
    pub fn slice(
        ns: &str,
        svc: &str,
        eps: &[(&str, bool, bool, &str)],
        ports: &[(&str, u16, &str)],
    ) -> Value {
        json!({
            "metadata": {"namespace": ns, "name": format!("{svc}-x"),
                         "labels": {"kubernetes.io/service-name": svc}},
            "addressType": "IPv4",
            "endpoints": eps.iter().map(|(ip, r, s, n)| json!({"addresses": [ip],
                "conditions": {"ready": r, "serving": s, "terminating": !r}, "nodeName": n})).collect::<Vec<_>>(),
            "ports": ports.iter().map(|(n, p, pr)| json!({"name": n, "port": p, "protocol": pr})).collect::<Vec<_>>(),
        })
    }

    #[test]
    fn ports_resolve_by_name_and_only_ready_endpoints_count() {
        let s = svc(
            "d",
            "web",
            json!({"type": "NodePort", "clusterIP": "10.43.0.5", "clusterIPs": ["10.43.0.5"],
                "ports": [{"name": "http", "port": 80, "targetPort": "web", "nodePort": 30080},
                          {"name": "dns", "port": 53, "protocol": "UDP", "nodePort": 30053}],
                "externalTrafficPolicy": "Local", "sessionAffinity": "ClientIP"}),
        );
        let sl = slice(
            "d",
            "web",
            &[
                ("10.42.0.3", true, true, "n1"),
                ("10.42.1.3", false, false, "n2"),
                ("10.42.0.2", true, true, "n1"),
                ("10.42.0.2", true, true, "n1"),
            ],
            &[("http", 8080, "TCP"), ("dns", 5353, "UDP")],
        );
        let ports = build(&[s], &[sl]);
        assert_eq!(ports.len(), 2);
        let dns = &ports[0];
        assert_eq!(
            (
                dns.port_name.as_str(),
                dns.protocol,
                dns.port,
                dns.node_port
            ),
            ("dns", Protocol::Udp, 53, Some(30053))
        );
        let http = &ports[1];
        assert_eq!(http.id(), "d/web/tcp/http");
        assert_eq!(http.kind, ServiceType::NodePort);
        assert!(http.external_local && !http.internal_local);
        assert_eq!(http.affinity, Some(DEFAULT_AFFINITY_SECONDS));
        let eps: Vec<(String, u16)> = http
            .endpoints
            .iter()
            .map(|e| (e.ip.to_string(), e.port))
            .collect();
        assert_eq!(
            eps,
            vec![("10.42.0.2".into(), 8080), ("10.42.0.3".into(), 8080)]
        );
        assert_eq!(http.endpoints[0].node.as_deref(), Some("n1"));
    }

    #[test]
    fn serving_terminating_endpoints_are_used_only_without_ready_ones() {
        let s = svc(
            "d",
            "a",
            json!({"clusterIP": "10.43.0.6", "ports": [{"port": 80}]}),
        );
        let only_terminating = slice(
            "d",
            "a",
            &[
                ("10.42.0.7", false, true, "n1"),
                ("10.42.0.8", false, false, "n1"),
            ],
            &[("", 80, "TCP")],
        );
        let ports = build(std::slice::from_ref(&s), &[only_terminating]);
        assert_eq!(ports[0].endpoints.len(), 1);
        assert_eq!(ports[0].endpoints[0].ip.to_string(), "10.42.0.7");
        let mixed = slice(
            "d",
            "a",
            &[
                ("10.42.0.7", false, true, "n1"),
                ("10.42.0.9", true, true, "n1"),
            ],
            &[("", 80, "TCP")],
        );
        let ports = build(&[s], &[mixed]);
        assert_eq!(ports[0].endpoints.len(), 1);
        assert_eq!(ports[0].endpoints[0].ip.to_string(), "10.42.0.9");
    }

    #[test]
    fn headless_external_name_and_foreign_slices_get_nothing() {
        let headless = svc(
            "d",
            "h",
            json!({"clusterIP": "None", "ports": [{"port": 80}]}),
        );
        let ext = svc(
            "d",
            "e",
            json!({"type": "ExternalName", "externalName": "example.com", "ports": [{"port": 80}]}),
        );
        let lb = svc(
            "d",
            "lb",
            json!({"type": "LoadBalancer", "clusterIP": "10.43.0.9", "externalIPs": ["192.0.2.9"],
                   "ports": [{"port": 443, "nodePort": 31443}],
                   "sessionAffinity": "ClientIP",
                   "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}}}),
        );
        let mut lb = lb;
        lb["status"] =
            json!({"loadBalancer": {"ingress": [{"ip": "192.0.2.2"}, {"hostname": "x"}]}});
        // A slice of another namespace does not feed d/lb.
        let other = slice(
            "other",
            "lb",
            &[("10.42.0.1", true, true, "n")],
            &[("", 443, "TCP")],
        );
        let ports = build(&[headless, ext, lb], &[other]);
        assert_eq!(ports.len(), 1);
        assert_eq!(ports[0].kind, ServiceType::LoadBalancer);
        assert_eq!(
            ports[0].external_ips,
            vec![
                "192.0.2.2".parse::<Ipv4Addr>().unwrap(),
                "192.0.2.9".parse().unwrap()
            ]
        );
        assert_eq!(ports[0].affinity, Some(60));
        assert!(ports[0].endpoints.is_empty());
        assert!(ports[0].is_external());
    }
}
