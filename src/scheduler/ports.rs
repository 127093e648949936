//! Host ports: the `NodePorts` filter.
//!
//! Contract: a pod wants every `hostPort` of its containers (and sidecar init containers);
//! two uses of a port conflict when protocol and port are equal and the host IPs are equal or
//! either is the wildcard (`0.0.0.0`, which an empty `hostIP` means). Protocol defaults to TCP.

use serde_json::Value;

use super::diagnosis::{Code, Plugin, Rejection};

const WILDCARD: &str = "0.0.0.0";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    pub ip: String,
    pub protocol: String,
    pub port: i64,
}

impl HostPort {
    fn conflicts(&self, o: &HostPort) -> bool {
        self.port == o.port
            && self.protocol == o.protocol
            && (self.ip == o.ip || self.ip == WILDCARD || o.ip == WILDCARD)
    }
}

/// The host ports a pod spec binds.
pub fn host_ports(spec: &Value) -> Vec<HostPort> {
    let sidecars = spec
        .get("initContainers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|c| c.get("restartPolicy").and_then(Value::as_str) == Some("Always"));
    let containers = spec
        .get("containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    containers
        .chain(sidecars)
        .flat_map(|c| {
            c.get("ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .filter_map(|p| {
            let port = p
                .get("hostPort")
                .and_then(Value::as_i64)
                .filter(|n| *n > 0)?;
            let ip = p
                .get("hostIP")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .unwrap_or(WILDCARD);
            let protocol = p
                .get("protocol")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .unwrap_or("TCP");
            Some(HostPort {
                ip: ip.to_string(),
                protocol: protocol.to_string(),
                port,
            })
        })
        .collect()
}

/// `NodePorts`: refuse a node where any wanted port is already in use.
pub fn filter(wanted: &[HostPort], used: &[HostPort]) -> Result<(), Rejection> {
    if wanted.iter().any(|w| used.iter().any(|u| w.conflicts(u))) {
        return Err(Rejection::new(
            Plugin::NodePorts,
            Code::Unschedulable,
            "node(s) didn't have free ports for the requested pod ports",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ports(list: Value) -> Vec<HostPort> {
        host_ports(&json!({"containers": [{"ports": list}]}))
    }

    #[test]
    fn host_port_conflicts() {
        let used = ports(json!([{"containerPort": 80, "hostPort": 8080},
                                {"containerPort": 53, "hostPort": 53, "protocol": "UDP", "hostIP": "10.0.0.1"}]));
        let cases = [
            (
                "same port on the wildcard",
                json!([{"hostPort": 8080}]),
                false,
            ),
            (
                "same port on a specific IP vs wildcard",
                json!([{"hostPort": 8080, "hostIP": "10.0.0.2"}]),
                false,
            ),
            ("other port", json!([{"hostPort": 8081}]), true),
            (
                "same port, other protocol",
                json!([{"hostPort": 8080, "protocol": "UDP"}]),
                true,
            ),
            (
                "specific IPs differ",
                json!([{"hostPort": 53, "protocol": "UDP", "hostIP": "10.0.0.2"}]),
                true,
            ),
            (
                "specific IPs equal",
                json!([{"hostPort": 53, "protocol": "UDP", "hostIP": "10.0.0.1"}]),
                false,
            ),
            (
                "wildcard against a specific IP",
                json!([{"hostPort": 53, "protocol": "UDP"}]),
                false,
            ),
            ("no host port", json!([{"containerPort": 8080}]), true),
        ];
        for (name, want, ok) in cases {
            let r = filter(&ports(want), &used);
            assert_eq!(r.is_ok(), ok, "{name}");
            if let Err(e) = r {
                assert_eq!(
                    e.reasons,
                    vec!["node(s) didn't have free ports for the requested pod ports"]
                );
                assert_eq!(e.code, Code::Unschedulable);
            }
        }
    }

    #[test]
    fn sidecar_ports_count_and_plain_init_ports_do_not() {
        let spec = json!({"containers": [],
            "initContainers": [{"restartPolicy": "Always", "ports": [{"hostPort": 9000}]},
                               {"ports": [{"hostPort": 9001}]}]});
        assert_eq!(
            host_ports(&spec),
            vec![HostPort {
                ip: WILDCARD.into(),
                protocol: "TCP".into(),
                port: 9000
            }]
        );
    }
}
