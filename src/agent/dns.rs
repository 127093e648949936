//! The files the kubelet manages inside every container: `/etc/resolv.conf` (by dnsPolicy),
//! `/etc/hosts` (localhost, the pod's own name, hostAliases) and `/etc/hostname`.
//!
//! Contract: pure rendering from the pod spec and node facts; the pod worker writes the results
//! under the pod directory and bind-mounts them.

use std::net::IpAddr;

use serde_json::Value;

/// The node's resolver, parsed from its resolv.conf.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostResolv {
    pub nameservers: Vec<String>,
    pub searches: Vec<String>,
    pub options: Vec<String>,
}

impl HostResolv {
    pub fn parse(text: &str) -> HostResolv {
        let mut r = HostResolv::default();
        for line in text.lines() {
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") => r.nameservers.extend(words.next().map(str::to_string)),
                Some("search") | Some("domain") => {
                    r.searches = words.map(str::to_string).collect();
                }
                Some("options") => r.options.extend(words.map(str::to_string)),
                _ => {}
            }
        }
        r
    }
}

/// Cluster DNS settings of the node.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterDns {
    pub server: Option<IpAddr>,
    pub domain: String,
}

fn merge_options(base: &mut Vec<String>, extra: &Value) {
    for o in extra.as_array().into_iter().flatten() {
        let Some(name) = o.get("name").and_then(Value::as_str) else {
            continue;
        };
        let rendered = match o.get("value").and_then(Value::as_str) {
            Some(v) => format!("{name}:{v}"),
            None => name.to_string(),
        };
        base.retain(|x| x.split(':').next() != Some(name));
        base.push(rendered);
    }
}

/// The pod's resolv.conf.
pub fn resolv_conf(pod: &Value, host: &HostResolv, dns: &ClusterDns) -> String {
    let ns = pod
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("default");
    let host_network = pod
        .pointer("/spec/hostNetwork")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut policy = pod
        .pointer("/spec/dnsPolicy")
        .and_then(Value::as_str)
        .unwrap_or("ClusterFirst");
    if policy == "ClusterFirst" && host_network {
        policy = "Default";
    }
    if matches!(policy, "ClusterFirst" | "ClusterFirstWithHostNet") && dns.server.is_none() {
        // Without a cluster DNS server the kubelet falls back to the node's resolver.
        policy = "Default";
    }
    let (mut servers, mut searches, mut options) = match policy {
        "ClusterFirst" | "ClusterFirstWithHostNet" => {
            let d = &dns.domain;
            let mut s = vec![format!("{ns}.svc.{d}"), format!("svc.{d}"), d.clone()];
            s.extend(host.searches.iter().cloned());
            (
                dns.server
                    .map(|ip| vec![ip.to_string()])
                    .unwrap_or_default(),
                s,
                vec!["ndots:5".to_string()],
            )
        }
        "None" => (vec![], vec![], vec![]),
        _ => (
            host.nameservers.clone(),
            host.searches.clone(),
            host.options.clone(),
        ),
    };
    if let Some(cfg) = pod.pointer("/spec/dnsConfig") {
        for s in cfg
            .get("nameservers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            servers.extend(s.as_str().map(str::to_string));
        }
        for s in cfg
            .get("searches")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(s) = s.as_str() {
                if !searches.iter().any(|x| x == s) {
                    searches.push(s.to_string());
                }
            }
        }
        if let Some(o) = cfg.get("options") {
            merge_options(&mut options, o);
        }
    }
    // Resolvers honour at most three nameservers and six search domains.
    servers.truncate(3);
    searches.truncate(6);
    let mut out = String::new();
    if !searches.is_empty() {
        out.push_str(&format!("search {}\n", searches.join(" ")));
    }
    for s in &servers {
        out.push_str(&format!("nameserver {s}\n"));
    }
    if !options.is_empty() {
        out.push_str(&format!("options {}\n", options.join(" ")));
    }
    out
}

/// The pod's hostname (`spec.hostname` or the pod name, at most 63 characters).
pub fn hostname(pod: &Value) -> String {
    let name = pod
        .pointer("/spec/hostname")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .or_else(|| pod.pointer("/metadata/name").and_then(Value::as_str))
        .unwrap_or("");
    name.chars()
        .take(63)
        .collect::<String>()
        .trim_end_matches(['-', '.'])
        .to_string()
}

/// The pod's /etc/hosts (for hostNetwork pods: `host_hosts`, the node's file, plus aliases).
pub fn hosts_file(pod: &Value, pod_ips: &[String], domain: &str, host_hosts: &str) -> String {
    let mut out = String::new();
    let host_network = pod
        .pointer("/spec/hostNetwork")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if host_network {
        out.push_str(host_hosts);
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
    } else {
        out.push_str("# Kubernetes-managed hosts file.\n");
        out.push_str("127.0.0.1\tlocalhost\n");
        out.push_str("::1\tlocalhost ip6-localhost ip6-loopback\n");
        out.push_str("fe00::0\tip6-localnet\n");
        out.push_str("fe00::0\tip6-mcastprefix\n");
        out.push_str("fe00::1\tip6-allnodes\n");
        out.push_str("fe00::2\tip6-allrouters\n");
        let host = hostname(pod);
        let subdomain = pod
            .pointer("/spec/subdomain")
            .and_then(Value::as_str)
            .unwrap_or("");
        let ns = pod
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("default");
        for ip in pod_ips {
            if subdomain.is_empty() {
                out.push_str(&format!("{ip}\t{host}\n"));
            } else {
                out.push_str(&format!(
                    "{ip}\t{host}.{subdomain}.{ns}.svc.{domain}\t{host}\n"
                ));
            }
        }
    }
    let aliases = pod
        .pointer("/spec/hostAliases")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if !aliases.is_empty() {
        out.push_str("\n# Entries added by HostAliases.\n");
        for a in aliases {
            let ip = a.get("ip").and_then(Value::as_str).unwrap_or("");
            let names: Vec<&str> = a
                .get("hostnames")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            out.push_str(&format!("{ip}\t{}\n", names.join("\t")));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cluster() -> ClusterDns {
        ClusterDns {
            server: Some("10.43.0.10".parse().unwrap()),
            domain: "cluster.local".into(),
        }
    }

    #[test]
    fn resolv_conf_follows_dns_policy() {
        let host = HostResolv::parse("nameserver 1.1.1.1\nsearch lan\noptions edns0\n");
        let pod = json!({"metadata": {"namespace": "web"}, "spec": {}});
        assert_eq!(
            resolv_conf(&pod, &host, &cluster()),
            "search web.svc.cluster.local svc.cluster.local cluster.local lan\nnameserver 10.43.0.10\noptions ndots:5\n"
        );
        let hostnet = json!({"metadata": {"namespace": "web"}, "spec": {"hostNetwork": true}});
        assert_eq!(
            resolv_conf(&hostnet, &host, &cluster()),
            "search lan\nnameserver 1.1.1.1\noptions edns0\n"
        );
        let with_hostnet = json!({"metadata": {"namespace": "web"},
            "spec": {"hostNetwork": true, "dnsPolicy": "ClusterFirstWithHostNet"}});
        assert!(resolv_conf(&with_hostnet, &host, &cluster()).contains("nameserver 10.43.0.10"));
        let none = json!({"metadata": {"namespace": "web"}, "spec": {"dnsPolicy": "None",
            "dnsConfig": {"nameservers": ["8.8.8.8"], "searches": ["a.b"],
                          "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]}}});
        assert_eq!(
            resolv_conf(&none, &host, &cluster()),
            "search a.b\nnameserver 8.8.8.8\noptions ndots:2 edns0\n"
        );
    }

    #[test]
    fn hosts_file_has_pod_name_and_aliases() {
        let pod = json!({"metadata": {"name": "web-0", "namespace": "ns"},
            "spec": {"hostname": "web-0", "subdomain": "web",
                     "hostAliases": [{"ip": "1.2.3.4", "hostnames": ["foo", "bar"]}]}});
        let h = hosts_file(&pod, &["10.42.0.5".into()], "cluster.local", "");
        assert!(h.starts_with("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"));
        assert!(h.contains("10.42.0.5\tweb-0.web.ns.svc.cluster.local\tweb-0\n"));
        assert!(h.ends_with("# Entries added by HostAliases.\n1.2.3.4\tfoo\tbar\n"));
        let plain = json!({"metadata": {"name": "p", "namespace": "ns"}, "spec": {}});
        assert!(
            hosts_file(&plain, &["10.42.0.6".into()], "cluster.local", "")
                .contains("10.42.0.6\tp\n")
        );
    }
}
