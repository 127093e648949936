//! Printers for networking.k8s.io: Ingress, IngressClass, NetworkPolicy, ServiceCIDR.

use serde_json::{json, Value};

use super::fields::{age, get, has, list_of, name, opt_str, s, str_of};
use super::selector::format_label_selector;
use super::services::load_balancer_points;
use super::{col, Col, Printer, AGE, NAME};

pub(super) const PRINTERS: &[Printer] = &[
    Printer {
        group: "networking.k8s.io",
        kind: "Ingress",
        columns: INGRESS,
        cells: ingress,
    },
    Printer {
        group: "networking.k8s.io",
        kind: "IngressClass",
        columns: INGRESS_CLASS,
        cells: ingress_class,
    },
    Printer {
        group: "networking.k8s.io",
        kind: "NetworkPolicy",
        columns: NETWORK_POLICY,
        cells: network_policy,
    },
    Printer {
        group: "networking.k8s.io",
        kind: "ServiceCIDR",
        columns: SERVICE_CIDR,
        cells: service_cidr,
    },
];

const INGRESS: &[Col] = &[
    NAME,
    col(
        "Class",
        "string",
        "The name of the IngressClass resource that should be used for additional configuration",
    ),
    col(
        "Hosts",
        "string",
        "Hosts that incoming requests are matched against before the ingress rule",
    ),
    col(
        "Address",
        "string",
        "Address is a list containing ingress points for the load-balancer",
    ),
    col("Ports", "string", "Ports of TLS configurations that open"),
    AGE,
];

/// `formatHosts`: the first three non-empty hosts, `*` when none. As in Kubernetes the
/// "more" count is taken over all rules, hostless ones included.
fn hosts(o: &Value) -> String {
    const MAX: usize = 3;
    let rules = list_of(o, &["spec", "rules"]);
    let mut list: Vec<&str> = Vec::new();
    let mut more = false;
    for rule in rules {
        if list.len() == MAX {
            more = true;
            break;
        }
        let host = str_of(rule, &["host"]);
        if !host.is_empty() {
            list.push(host);
        }
    }
    if list.is_empty() {
        return "*".to_string();
    }
    let shown = list.join(",");
    if more {
        format!("{shown} + {} more...", rules.len() - MAX)
    } else {
        shown
    }
}

fn ingress(o: &Value, now: i64) -> Vec<Value> {
    let tls = !list_of(o, &["spec", "tls"]).is_empty();
    vec![
        s(name(o)),
        s(opt_str(o, &["spec", "ingressClassName"]).unwrap_or("<none>")),
        s(hosts(o)),
        s(load_balancer_points(o, &["status", "loadBalancer", "ingress"]).join(",")),
        s(if tls { "80, 443" } else { "80" }),
        s(age(o, now)),
    ]
}

const INGRESS_CLASS: &[Col] = &[
    NAME,
    col(
        "Controller",
        "string",
        "Controller that is responsible for handling this class",
    ),
    col(
        "Parameters",
        "string",
        "A reference to a resource with additional parameters",
    ),
    AGE,
];

fn ingress_class(o: &Value, now: i64) -> Vec<Value> {
    let parameters = if has(o, &["spec", "parameters"]) {
        let kind = str_of(o, &["spec", "parameters", "kind"]);
        let target = str_of(o, &["spec", "parameters", "name"]);
        match opt_str(o, &["spec", "parameters", "apiGroup"]) {
            Some(group) => format!("{kind}.{group}/{target}"),
            None => format!("{kind}/{target}"),
        }
    } else {
        "<none>".to_string()
    };
    vec![
        s(name(o)),
        s(str_of(o, &["spec", "controller"])),
        s(parameters),
        s(age(o, now)),
    ]
}

const NETWORK_POLICY: &[Col] = &[
    NAME,
    col(
        "Pod-Selector",
        "string",
        "Selects the pods to which this NetworkPolicy object applies.",
    ),
    AGE,
];

fn network_policy(o: &Value, now: i64) -> Vec<Value> {
    // podSelector is a struct, not a pointer: absent means the empty (select-all) selector.
    let empty = json!({});
    let selector = get(o, &["spec", "podSelector"]).unwrap_or(&empty);
    vec![
        s(name(o)),
        s(format_label_selector(Some(selector))),
        s(age(o, now)),
    ]
}

const SERVICE_CIDR: &[Col] = &[
    NAME,
    col(
        "CIDRs",
        "string",
        "CIDRs defines the IP blocks in CIDR notation (e.g. \"192.168.0.0/24\" or \"2001:db8::/64\") from which to assign service cluster IPs.",
    ),
    AGE,
];

fn service_cidr(o: &Value, now: i64) -> Vec<Value> {
    let cidrs: Vec<&str> = list_of(o, &["spec", "cidrs"])
        .iter()
        .filter_map(Value::as_str)
        .collect();
    vec![s(name(o)), s(cidrs.join(",")), s(age(o, now))]
}

#[cfg(test)]
mod tests {
    use super::super::cells;
    use serde_json::json;

    const NOW: i64 = 1_700_000_000;
    const NET: &str = "networking.k8s.io";

    #[test]
    fn ingresses() {
        let ing = json!({
            "metadata": {"name": "web"},
            "spec": {"ingressClassName": "nginx",
                     "rules": [{"host": "a.example.com"}, {}, {"host": "b.example.com"},
                               {"host": "c.example.com"}, {"host": "d.example.com"}],
                     "tls": [{"hosts": ["a.example.com"]}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.5"}]}}
        });
        assert_eq!(
            cells(NET, "Ingress", &ing, NOW)[..5],
            [
                json!("web"),
                json!("nginx"),
                json!("a.example.com,b.example.com,c.example.com + 2 more..."),
                json!("203.0.113.5"),
                json!("80, 443")
            ]
        );
        let bare = json!({"metadata": {"name": "x"}, "spec": {"rules": [{}]}});
        assert_eq!(
            cells(NET, "Ingress", &bare, NOW)[1..5],
            [json!("<none>"), json!("*"), json!(""), json!("80")]
        );
    }

    #[test]
    fn classes_and_policies() {
        let ic = json!({"metadata": {"name": "nginx"},
                        "spec": {"controller": "k8s.io/ingress-nginx",
                                 "parameters": {"apiGroup": "k8s.example.com", "kind": "IngressParameters", "name": "p"}}});
        assert_eq!(
            cells(NET, "IngressClass", &ic, NOW)[1..3],
            [
                json!("k8s.io/ingress-nginx"),
                json!("IngressParameters.k8s.example.com/p")
            ]
        );
        let np = json!({"metadata": {"name": "deny"}, "spec": {"podSelector": {}}});
        assert_eq!(cells(NET, "NetworkPolicy", &np, NOW)[1], json!("<none>"));
        let np = json!({"metadata": {"name": "web"}, "spec": {"podSelector": {"matchLabels": {"app": "web"}}}});
        assert_eq!(cells(NET, "NetworkPolicy", &np, NOW)[1], json!("app=web"));
        let cidr = json!({"metadata": {"name": "kubernetes"}, "spec": {"cidrs": ["10.96.0.0/12", "fd00::/108"]}});
        assert_eq!(
            cells(NET, "ServiceCIDR", &cidr, NOW)[1],
            json!("10.96.0.0/12,fd00::/108")
        );
    }
}
