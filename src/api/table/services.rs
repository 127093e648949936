//! Printers for Services and where they route to: Service, Endpoints, EndpointSlice.

use serde_json::Value;

use super::fields::{age, get, int_of, list_of, name, opt_str, or, s, str_of};
use super::selector::format_labels;
use super::{col, wide, Col, Printer, AGE, NAME};

pub(super) const PRINTERS: &[Printer] = &[
    Printer {
        group: "",
        kind: "Service",
        columns: SERVICE,
        cells: service,
    },
    Printer {
        group: "",
        kind: "Endpoints",
        columns: ENDPOINTS,
        cells: endpoints,
    },
    Printer {
        group: "discovery.k8s.io",
        kind: "EndpointSlice",
        columns: ENDPOINT_SLICE,
        cells: endpoint_slice,
    },
];

const SERVICE: &[Col] = &[
    NAME,
    col(
        "Type",
        "string",
        "type determines how the Service is exposed. Defaults to ClusterIP. Valid options are ExternalName, ClusterIP, NodePort, and LoadBalancer.",
    ),
    col(
        "Cluster-IP",
        "string",
        "clusterIP is the IP address of the service and is usually assigned randomly.",
    ),
    col(
        "External-IP",
        "string",
        "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.",
    ),
    col(
        "Port(s)",
        "string",
        "The list of ports that are exposed by this service.",
    ),
    AGE,
    wide(
        "Selector",
        "string",
        "Route service traffic to pods with label keys and values matching this selector.",
    ),
];

fn strings(list: &[Value]) -> Vec<&str> {
    list.iter().filter_map(Value::as_str).collect()
}

/// Load-balancer ingress points: IPs, else hostnames, de-duplicated and sorted (a Go string
/// set). The server prints wide, so the list is never clipped.
pub(super) fn load_balancer_points(o: &Value, path: &[&str]) -> Vec<String> {
    let mut points: Vec<String> = list_of(o, path)
        .iter()
        .map(|i| or(str_of(i, &["ip"]), str_of(i, &["hostname"])))
        .filter(|p| !p.is_empty())
        .collect();
    points.sort_unstable();
    points.dedup();
    points
}

fn service(o: &Value, now: i64) -> Vec<Value> {
    // Defaulting turns a missing or empty type into ClusterIP, an empty protocol into TCP.
    let svc_type = opt_str(o, &["spec", "type"])
        .filter(|t| !t.is_empty())
        .unwrap_or("ClusterIP");
    let cluster_ip = list_of(o, &["spec", "clusterIPs"])
        .first()
        .and_then(Value::as_str)
        .unwrap_or_else(|| str_of(o, &["spec", "clusterIP"]));
    let external_ips = strings(list_of(o, &["spec", "externalIPs"]));
    let external = match svc_type {
        "ClusterIP" | "NodePort" if !external_ips.is_empty() => external_ips.join(","),
        "ClusterIP" | "NodePort" => "<none>".to_string(),
        "LoadBalancer" => {
            let mut all = load_balancer_points(o, &["status", "loadBalancer", "ingress"]);
            all.extend(external_ips.iter().map(|ip| ip.to_string()));
            if all.is_empty() {
                "<pending>".to_string()
            } else {
                all.join(",")
            }
        }
        "ExternalName" => str_of(o, &["spec", "externalName"]).to_string(),
        _ => "<unknown>".to_string(),
    };
    let ports: Vec<String> = list_of(o, &["spec", "ports"])
        .iter()
        .map(|p| {
            let port = int_of(p, &["port"]);
            let protocol = or(str_of(p, &["protocol"]), "TCP");
            match int_of(p, &["nodePort"]) {
                node_port if node_port > 0 => format!("{port}:{node_port}/{protocol}"),
                _ => format!("{port}/{protocol}"),
            }
        })
        .collect();
    vec![
        s(name(o)),
        s(svc_type),
        s(or(cluster_ip, "<none>")),
        s(external),
        s(or(&ports.join(","), "<none>")),
        s(age(o, now)),
        s(format_labels(get(o, &["spec", "selector"]))),
    ]
}

const ENDPOINTS: &[Col] = &[
    NAME,
    col(
        "Endpoints",
        "string",
        "The set of all endpoints is the union of all subsets.",
    ),
    AGE,
];

/// `net.JoinHostPort`: IPv6 addresses get brackets.
fn host_port(ip: &str, port: i64) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

/// Up to three entries, then ` + N more...` (the printers' `listWithMoreString`).
fn with_more(list: &[String], total: usize) -> String {
    let shown = list.join(",");
    if total > list.len() {
        format!("{shown} + {} more...", total - list.len())
    } else {
        shown
    }
}

const MAX_LISTED: usize = 3;

fn endpoints(o: &Value, now: i64) -> Vec<Value> {
    let subsets = list_of(o, &["subsets"]);
    let text = if subsets.is_empty() {
        "<none>".to_string()
    } else {
        let mut list = Vec::new();
        let mut total = 0;
        for subset in subsets {
            let ips: Vec<&str> = list_of(subset, &["addresses"])
                .iter()
                .map(|a| str_of(a, &["ip"]))
                .collect();
            let ports = list_of(subset, &["ports"]);
            if ports.is_empty() {
                // Headless services without ports list bare IPs.
                total += ips.len();
                list.extend(ips.iter().map(|ip| ip.to_string()));
                continue;
            }
            for port in ports {
                total += ips.len();
                let number = int_of(port, &["port"]);
                list.extend(ips.iter().map(|ip| host_port(ip, number)));
            }
        }
        list.truncate(MAX_LISTED);
        with_more(&list, total)
    };
    vec![s(name(o)), s(text), s(age(o, now))]
}

const ENDPOINT_SLICE: &[Col] = &[
    NAME,
    col(
        "AddressType",
        "string",
        "addressType specifies the type of address carried by this EndpointSlice.",
    ),
    col(
        "Ports",
        "string",
        "ports specifies the list of network ports exposed by each endpoint in this slice.",
    ),
    col(
        "Endpoints",
        "string",
        "endpoints is a list of unique endpoints in this slice.",
    ),
    AGE,
];

fn unset_if_empty(text: String) -> String {
    or(&text, "<unset>")
}

fn endpoint_slice(o: &Value, now: i64) -> Vec<Value> {
    let ports = list_of(o, &["ports"]);
    let port_list: Vec<String> = ports
        .iter()
        .take(MAX_LISTED)
        .map(|p| match (get(p, &["port"]), opt_str(p, &["name"])) {
            (Some(_), _) => int_of(p, &["port"]).to_string(),
            (None, Some(n)) => n.to_string(),
            (None, None) => "*".to_string(),
        })
        .collect();
    let addresses: Vec<String> = list_of(o, &["endpoints"])
        .iter()
        .flat_map(|e| strings(list_of(e, &["addresses"])))
        .map(str::to_string)
        .collect();
    let shown: Vec<String> = addresses.iter().take(MAX_LISTED).cloned().collect();
    vec![
        s(name(o)),
        s(str_of(o, &["addressType"])),
        s(unset_if_empty(with_more(&port_list, ports.len()))),
        s(unset_if_empty(with_more(&shown, addresses.len()))),
        s(age(o, now)),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::{cells, columns};
    use serde_json::json;

    const NOW: i64 = 1_700_000_000; // 2023-11-14T22:13:20Z

    fn headers(group: &str, kind: &str, priority: i32) -> Vec<String> {
        columns(group, kind)
            .into_iter()
            .filter(|c| c.priority <= priority)
            .map(|c| c.name.to_uppercase())
            .collect()
    }

    #[test]
    fn services() {
        assert_eq!(
            headers("", "Service", 0),
            [
                "NAME",
                "TYPE",
                "CLUSTER-IP",
                "EXTERNAL-IP",
                "PORT(S)",
                "AGE"
            ]
        );
        let cluster = json!({
            "metadata": {"name": "kubernetes", "creationTimestamp": "2023-11-14T22:03:20Z"},
            "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.1", "clusterIPs": ["10.96.0.1"],
                     "ports": [{"port": 443, "protocol": "TCP"}]}
        });
        assert_eq!(
            cells("", "Service", &cluster, NOW),
            vec![
                json!("kubernetes"),
                json!("ClusterIP"),
                json!("10.96.0.1"),
                json!("<none>"),
                json!("443/TCP"),
                json!("10m"),
                json!("<none>"),
            ]
        );
        let node_port = json!({
            "metadata": {"name": "web"},
            "spec": {"type": "NodePort", "clusterIP": "10.96.3.4",
                     "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"},
                               {"port": 53, "protocol": "UDP"}],
                     "selector": {"app": "web"}}
        });
        let row = cells("", "Service", &node_port, NOW);
        assert_eq!(
            (&row[4], &row[6]),
            (&json!("80:30080/TCP,53/UDP"), &json!("app=web"))
        );
        let pending = json!({"metadata": {"name": "lb"},
                             "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "nodePort": 31000}]}});
        assert_eq!(cells("", "Service", &pending, NOW)[3], json!("<pending>"));
        let ready = json!({"metadata": {"name": "lb"},
                           "spec": {"type": "LoadBalancer", "externalIPs": ["192.0.2.9"]},
                           "status": {"loadBalancer": {"ingress": [
                               {"ip": "203.0.113.7"}, {"hostname": "a.example.com"}, {"ip": "203.0.113.7"}]}}});
        assert_eq!(
            cells("", "Service", &ready, NOW)[3],
            json!("203.0.113.7,a.example.com,192.0.2.9")
        );
        let external = json!({"metadata": {"name": "ext"},
                              "spec": {"type": "ExternalName", "externalName": "db.example.com"}});
        let row = cells("", "Service", &external, NOW);
        assert_eq!(
            row[1..5],
            [
                json!("ExternalName"),
                json!("<none>"),
                json!("db.example.com"),
                json!("<none>")
            ]
        );
        let headless = json!({"metadata": {"name": "h"}, "spec": {"clusterIP": "None"}});
        assert_eq!(
            cells("", "Service", &headless, NOW)[1..3],
            [json!("ClusterIP"), json!("None")]
        );
    }

    #[test]
    fn endpoints_and_slices() {
        let ep = json!({"metadata": {"name": "web"}, "subsets": [
            {"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}], "ports": [{"port": 80}, {"port": 443}]},
            {"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 80}]}
        ]});
        assert_eq!(
            cells("", "Endpoints", &ep, NOW)[1],
            json!("10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 2 more...")
        );
        let v6 = json!({"metadata": {"name": "v6"}, "subsets": [
            {"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 80}]}]});
        assert_eq!(cells("", "Endpoints", &v6, NOW)[1], json!("[fd00::1]:80"));
        let headless =
            json!({"metadata": {"name": "h"}, "subsets": [{"addresses": [{"ip": "10.0.0.9"}]}]});
        assert_eq!(cells("", "Endpoints", &headless, NOW)[1], json!("10.0.0.9"));
        let empty = json!({"metadata": {"name": "e"}});
        assert_eq!(cells("", "Endpoints", &empty, NOW)[1], json!("<none>"));

        let slice = json!({"metadata": {"name": "web-abc"}, "addressType": "IPv4",
            "ports": [{"port": 80, "name": "http"}, {"name": "metrics"}, {}],
            "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2"]}]});
        assert_eq!(
            cells("discovery.k8s.io", "EndpointSlice", &slice, NOW)[1..4],
            [
                json!("IPv4"),
                json!("80,metrics,*"),
                json!("10.0.0.1,10.0.0.2")
            ]
        );
        let bare = json!({"metadata": {"name": "b"}, "addressType": "IPv6"});
        assert_eq!(
            cells("discovery.k8s.io", "EndpointSlice", &bare, NOW)[2..4],
            [json!("<unset>"), json!("<unset>")]
        );
    }
}
