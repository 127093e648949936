//! The few fields of Services and EndpointSlices (discovery.k8s.io/v1) that cluster DNS needs,
//! parsed from API objects as `serde_json::Value`.
//!
//! Contract: parsing never fails; missing or malformed fields read as absent, and objects that
//! cannot name a record (no name or namespace) are skipped by the caller.

use std::net::IpAddr;

use serde_json::Value;

/// The label that links an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

#[derive(Debug, Clone, PartialEq)]
pub enum ServiceKind {
    /// A Service with one or more virtual IPs.
    ClusterIp(Vec<IpAddr>),
    /// `clusterIP: None`: the name resolves to the endpoints themselves.
    Headless,
    /// `type: ExternalName`: a CNAME to `spec.externalName`.
    ExternalName(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Port {
    /// Only named ports get SRV records.
    pub name: Option<String>,
    /// Lowercase: `tcp`, `udp` or `sctp`, as SRV labels spell them.
    pub protocol: String,
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub name: String,
    pub namespace: String,
    pub kind: ServiceKind,
    pub ports: Vec<Port>,
    /// Not-ready endpoints are published too (StatefulSet peer discovery relies on it).
    pub publish_not_ready: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    pub addresses: Vec<IpAddr>,
    pub hostname: Option<String>,
    pub ready: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Slice {
    pub service: String,
    pub namespace: String,
    pub endpoints: Vec<Endpoint>,
    pub ports: Vec<Port>,
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(v, |v, k| v.get(*k))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn ports(v: Option<&Value>) -> Vec<Port> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let port = p
                .get("port")?
                .as_u64()
                .and_then(|n| u16::try_from(n).ok())?;
            Some(Port {
                name: str_at(p, &["name"]).map(str::to_ascii_lowercase),
                protocol: str_at(p, &["protocol"])
                    .unwrap_or("TCP")
                    .to_ascii_lowercase(),
                port,
            })
        })
        .collect()
}

impl Service {
    pub fn parse(v: &Value) -> Option<Service> {
        let name = str_at(v, &["metadata", "name"])?.to_ascii_lowercase();
        let namespace = str_at(v, &["metadata", "namespace"])
            .unwrap_or("default")
            .to_ascii_lowercase();
        let spec = v.get("spec").unwrap_or(&Value::Null);
        let kind = if str_at(spec, &["type"]) == Some("ExternalName") {
            ServiceKind::ExternalName(str_at(spec, &["externalName"])?.to_string())
        } else if str_at(spec, &["clusterIP"]) == Some("None") {
            ServiceKind::Headless
        } else {
            // clusterIPs (dual stack) supersedes clusterIP, which is its first element.
            let mut ips: Vec<IpAddr> = spec
                .get("clusterIPs")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|s| s.as_str()?.parse().ok())
                .collect();
            if ips.is_empty() {
                ips.extend(str_at(spec, &["clusterIP"]).and_then(|s| s.parse::<IpAddr>().ok()));
            }
            ServiceKind::ClusterIp(ips)
        };
        Some(Service {
            name,
            namespace,
            kind,
            ports: ports(spec.get("ports")),
            publish_not_ready: spec
                .get("publishNotReadyAddresses")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        })
    }
}

impl Slice {
    pub fn parse(v: &Value) -> Option<Slice> {
        let service = str_at(v, &["metadata", "labels", SERVICE_NAME_LABEL])?.to_ascii_lowercase();
        let namespace = str_at(v, &["metadata", "namespace"])
            .unwrap_or("default")
            .to_ascii_lowercase();
        // FQDN slices carry names, not addresses: nothing to publish as A/AAAA.
        if str_at(v, &["addressType"]) == Some("FQDN") {
            return None;
        }
        let endpoints = v
            .get("endpoints")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|e| Endpoint {
                addresses: e
                    .get("addresses")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|a| a.as_str()?.parse().ok())
                    .collect(),
                hostname: str_at(e, &["hostname"]).map(str::to_ascii_lowercase),
                // The API defines an absent `ready` as true.
                ready: e
                    .get("conditions")
                    .and_then(|c| c.get("ready"))
                    .and_then(Value::as_bool)
                    .unwrap_or(true),
            })
            .collect();
        Some(Slice {
            service,
            namespace,
            endpoints,
            ports: ports(v.get("ports")),
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn service_kinds() {
        let s = Service::parse(&json!({
            "metadata": {"name": "Web", "namespace": "ns"},
            "spec": {"clusterIP": "10.43.0.5", "clusterIPs": ["10.43.0.5", "fd00::5"],
                     "ports": [{"name": "http", "port": 80}, {"port": 81, "protocol": "UDP"}]}
        }))
        .unwrap();
        assert_eq!(s.name, "web");
        assert_eq!(
            s.kind,
            ServiceKind::ClusterIp(vec![
                "10.43.0.5".parse().unwrap(),
                "fd00::5".parse().unwrap()
            ])
        );
        assert_eq!(s.ports[0].protocol, "tcp");
        assert_eq!(s.ports[1].name, None);
        let h = Service::parse(&json!({"metadata": {"name": "h"}, "spec": {"clusterIP": "None"}}));
        assert_eq!(h.unwrap().kind, ServiceKind::Headless);
        let e = Service::parse(&json!({"metadata": {"name": "e", "namespace": "x"},
            "spec": {"type": "ExternalName", "externalName": "db.example.org"}}));
        assert_eq!(
            e.unwrap().kind,
            ServiceKind::ExternalName("db.example.org".into())
        );
        assert!(Service::parse(&json!({"spec": {}})).is_none());
    }

    #[test]
    fn slice_ready_defaults_to_true() {
        let s = Slice::parse(&json!({
            "metadata": {"namespace": "ns", "labels": {SERVICE_NAME_LABEL: "web"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.42.0.7"]},
                          {"addresses": ["10.42.0.8"], "conditions": {"ready": false},
                           "hostname": "web-1"}],
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]
        }))
        .unwrap();
        assert!(s.endpoints[0].ready);
        assert!(!s.endpoints[1].ready);
        assert_eq!(s.endpoints[1].hostname.as_deref(), Some("web-1"));
        assert_eq!(s.ports[0].port, 8080);
        assert!(Slice::parse(&json!({"metadata": {"namespace": "ns"}})).is_none());
    }
}
