//! Service defaults: `SetDefaults_Service` plus the registry steps whose results clients see on
//! every Service (`clusterIPs` mirrored from `clusterIP`, `ipFamilyPolicy` and `ipFamilies`
//! chosen the way the allocator chooses them on a single-stack IPv4 cluster).
//!
//! Contract: never overwrites present fields; idempotent; ExternalName services get no IP
//! family fields (validation forbids them). Allocation of the cluster IP and node ports
//! themselves is left to the caller's allocator.

use super::{ensure_obj, set_default};
use serde_json::{json, Map, Value};

fn str_of<'a>(m: &'a Map<String, Value>, k: &str) -> &'a str {
    m.get(k).and_then(Value::as_str).unwrap_or("")
}

/// `apiservice.ExternallyAccessible`.
fn externally_accessible(spec: &Map<String, Value>) -> bool {
    let t = str_of(spec, "type");
    t == "LoadBalancer"
        || t == "NodePort"
        || (t == "ClusterIP"
            && spec
                .get("externalIPs")
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty()))
}

/// All Service defaults.
pub fn service(svc: &mut Value) {
    let Some(spec) = svc.as_object_mut().and_then(|m| ensure_obj(m, "spec")) else {
        return;
    };
    if str_of(spec, "sessionAffinity").is_empty() {
        spec.insert("sessionAffinity".into(), json!("None"));
    }
    match str_of(spec, "sessionAffinity") {
        "None" => {
            spec.remove("sessionAffinityConfig");
        }
        "ClientIP" => {
            let has_timeout = spec
                .get("sessionAffinityConfig")
                .and_then(|c| c.get("clientIP"))
                .and_then(|c| c.get("timeoutSeconds"))
                .is_some_and(|t| !t.is_null());
            if !has_timeout {
                spec.insert(
                    "sessionAffinityConfig".into(),
                    json!({"clientIP": {"timeoutSeconds": 10800}}),
                );
            }
        }
        _ => {}
    }
    if str_of(spec, "type").is_empty() {
        spec.insert("type".into(), json!("ClusterIP"));
    }
    if let Some(Value::Array(ports)) = spec.get_mut("ports") {
        for p in ports.iter_mut().filter_map(Value::as_object_mut) {
            if str_of(p, "protocol").is_empty() {
                p.insert("protocol".into(), json!("TCP"));
            }
            let unset = match p.get("targetPort") {
                None | Some(Value::Null) => true,
                Some(Value::String(s)) => s.is_empty(),
                Some(Value::Number(n)) => n.as_i64() == Some(0),
                Some(_) => false,
            };
            if unset {
                let port = p.get("port").cloned().unwrap_or(json!(0));
                p.insert("targetPort".into(), port);
            }
        }
    }
    if externally_accessible(spec) && str_of(spec, "externalTrafficPolicy").is_empty() {
        spec.insert("externalTrafficPolicy".into(), json!("Cluster"));
    }
    let svc_type = str_of(spec, "type").to_string();
    if ["NodePort", "LoadBalancer", "ClusterIP"].contains(&svc_type.as_str()) {
        set_default(spec, "internalTrafficPolicy", json!("Cluster"));
    }
    if svc_type == "LoadBalancer" {
        set_default(spec, "allocateLoadBalancerNodePorts", json!(true));
    }
    if svc_type == "ExternalName" {
        return;
    }
    // NormalizeClusterIPs (create): a lone clusterIP is mirrored into clusterIPs.
    let cluster_ip = str_of(spec, "clusterIP").to_string();
    let ips_empty = spec
        .get("clusterIPs")
        .and_then(Value::as_array)
        .is_none_or(|a| a.is_empty());
    if !cluster_ip.is_empty() && ips_empty {
        spec.insert("clusterIPs".into(), json!([cluster_ip]));
    }
    // initIPFamilyFields on a single-stack IPv4 cluster.
    let headless_selectorless = cluster_ip == "None"
        && spec
            .get("selector")
            .and_then(Value::as_object)
            .is_none_or(|s| s.is_empty());
    let families_len = spec
        .get("ipFamilies")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    if spec.get("ipFamilyPolicy").is_none_or(Value::is_null) {
        let policy = if families_len == 2 || headless_selectorless {
            "RequireDualStack"
        } else {
            "SingleStack"
        };
        spec.insert("ipFamilyPolicy".into(), json!(policy));
    }
    let inferred: Vec<Value> = spec
        .get("clusterIPs")
        .and_then(Value::as_array)
        .map(|ips| {
            ips.iter()
                .filter_map(Value::as_str)
                .take_while(|ip| *ip != "None")
                .filter_map(|ip| ip.parse::<std::net::IpAddr>().ok())
                .map(|ip| json!(if ip.is_ipv4() { "IPv4" } else { "IPv6" }))
                .collect()
        })
        .unwrap_or_default();
    if let Some(fams) = spec
        .entry("ipFamilies")
        .or_insert_with(|| json!([]))
        .as_array_mut()
    {
        for (i, f) in inferred.into_iter().enumerate() {
            if i >= fams.len() {
                fams.push(f);
            }
        }
        if fams.is_empty() {
            fams.push(json!("IPv4"));
        }
    }
    if headless_selectorless && str_of(spec, "ipFamilyPolicy") != "SingleStack" {
        if let Some(fams) = spec.get_mut("ipFamilies").and_then(Value::as_array_mut) {
            if fams.len() == 1 {
                let other = if fams[0].as_str() == Some("IPv6") {
                    "IPv4"
                } else {
                    "IPv6"
                };
                fams.push(json!(other));
            }
        }
    }
    if svc_type == "LoadBalancer" {
        let ingress = svc
            .as_object_mut()
            .and_then(|m| m.get_mut("status"))
            .and_then(|s| s.get_mut("loadBalancer"))
            .and_then(|l| l.get_mut("ingress"))
            .and_then(Value::as_array_mut);
        for ing in ingress
            .into_iter()
            .flatten()
            .filter_map(Value::as_object_mut)
        {
            if !str_of(ing, "ip").is_empty() {
                set_default(ing, "ipMode", json!("VIP"));
            }
        }
    }
}

/// Update-time carry-over the Service registry performs before validation
/// (`NormalizeClusterIPs` for updates and `patchAllocatedValues`): allocated cluster IPs, node
/// ports and the health-check node port survive a client that omitted them; a policy the
/// client omitted is taken from the old object; allocated values are dropped when the type
/// changes to one that does not use them.
pub fn carry_over(svc: &mut Value, old: &Value) {
    let Some(os) = old.get("spec").and_then(Value::as_object) else {
        return;
    };
    let Some(spec) = svc.as_object_mut().and_then(|m| ensure_obj(m, "spec")) else {
        return;
    };
    let new_type = if str_of(spec, "type").is_empty() {
        "ClusterIP".to_string()
    } else {
        str_of(spec, "type").to_string()
    };
    let old_type = str_of(os, "type");
    let needs_ip = |t: &str| t != "ExternalName";
    let needs_node_port = |t: &str| t == "NodePort" || t == "LoadBalancer";
    let old_ips = os.get("clusterIPs").cloned();
    let same_ips = |spec: &Map<String, Value>| {
        crate::api::validation::json::semantic_eq(spec.get("clusterIPs"), old_ips.as_ref())
    };
    // NormalizeClusterIPs (update).
    let ips_empty = spec
        .get("clusterIPs")
        .and_then(Value::as_array)
        .is_none_or(|a| a.is_empty());
    if old_ips
        .as_ref()
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
        && ips_empty
        && str_of(spec, "clusterIP") == str_of(os, "clusterIP")
    {
        if let Some(v) = old_ips.clone() {
            spec.insert("clusterIPs".into(), v);
        }
    }
    if str_of(spec, "clusterIP") != str_of(os, "clusterIP") {
        if !str_of(os, "clusterIP").is_empty() && str_of(spec, "clusterIP").is_empty() {
            if same_ips(spec) {
                spec.remove("clusterIPs");
            }
        } else if same_ips(spec) {
            let ip = str_of(spec, "clusterIP").to_string();
            spec.insert("clusterIPs".into(), json!([ip]));
        }
    }
    if new_type == "ExternalName" && needs_ip(old_type) {
        // Switching to ExternalName releases the allocated IPs the client did not touch.
        if str_of(spec, "clusterIP") == str_of(os, "clusterIP") {
            spec.remove("clusterIP");
        }
        if same_ips(spec) {
            spec.remove("clusterIPs");
        }
        for k in ["ipFamilies", "ipFamilyPolicy"] {
            if crate::api::validation::json::semantic_eq(spec.get(k), os.get(k)) {
                spec.remove(k);
            }
        }
    }
    // patchAllocatedValues.
    if needs_ip(old_type) && needs_ip(&new_type) {
        if str_of(spec, "clusterIP").is_empty() {
            if let Some(v) = os.get("clusterIP").cloned() {
                spec.insert("clusterIP".into(), v);
            }
        }
        let empty = spec
            .get("clusterIPs")
            .and_then(Value::as_array)
            .is_none_or(|a| a.is_empty());
        if empty
            && old_ips
                .as_ref()
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty())
        {
            if let Some(v) = old_ips.clone() {
                spec.insert("clusterIPs".into(), v);
            }
        }
        if spec.get("ipFamilyPolicy").is_none_or(Value::is_null) {
            if let Some(p) = os.get("ipFamilyPolicy").cloned() {
                spec.insert("ipFamilyPolicy".into(), p);
            }
        }
        if spec
            .get("ipFamilies")
            .and_then(Value::as_array)
            .is_none_or(|a| a.is_empty())
            && same_ips(spec)
        {
            if let Some(f) = os.get("ipFamilies").cloned() {
                spec.insert("ipFamilies".into(), f);
            }
        }
    }
    let old_ports: Vec<(String, i64)> = os
        .get("ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| {
            (
                p.get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                p.get("nodePort").and_then(Value::as_i64).unwrap_or(0),
            )
        })
        .collect();
    if needs_node_port(old_type) && needs_node_port(&new_type) {
        if let Some(Value::Array(ports)) = spec.get_mut("ports") {
            let used: Vec<i64> = ports
                .iter()
                .filter_map(|p| p.get("nodePort").and_then(Value::as_i64))
                .filter(|n| *n != 0)
                .collect();
            for p in ports.iter_mut().filter_map(Value::as_object_mut) {
                if p.get("nodePort").and_then(Value::as_i64).unwrap_or(0) != 0 {
                    continue;
                }
                let name = str_of(p, "name").to_string();
                if let Some((_, np)) = old_ports.iter().find(|(n, _)| *n == name) {
                    if *np != 0 && !used.contains(np) {
                        p.insert("nodePort".into(), json!(np));
                    }
                }
            }
        }
    } else if needs_node_port(old_type) && !needs_node_port(&new_type) {
        // Leaving NodePort/LoadBalancer drops node ports that were allocated, not user-set.
        if let Some(Value::Array(ports)) = spec.get_mut("ports") {
            for p in ports.iter_mut().filter_map(Value::as_object_mut) {
                let np = p.get("nodePort").and_then(Value::as_i64).unwrap_or(0);
                if np != 0 && old_ports.iter().any(|(_, o)| *o == np) {
                    p.remove("nodePort");
                }
            }
        }
    }
    let needs_hc = |m: &Map<String, Value>, t: &str| {
        t == "LoadBalancer" && str_of(m, "externalTrafficPolicy") == "Local"
    };
    if needs_hc(os, old_type)
        && needs_hc(spec, &new_type)
        && spec
            .get("healthCheckNodePort")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            == 0
    {
        if let Some(v) = os.get("healthCheckNodePort").cloned() {
            spec.insert("healthCheckNodePort".into(), v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_ip_defaults() {
        let mut s = json!({"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}});
        service(&mut s);
        assert_eq!(
            s["spec"],
            json!({"selector": {"app": "web"}, "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}], "sessionAffinity": "None",
                "type": "ClusterIP", "internalTrafficPolicy": "Cluster", "ipFamilyPolicy": "SingleStack", "ipFamilies": ["IPv4"]})
        );
        let once = s.clone();
        service(&mut s);
        assert_eq!(s, once);
    }

    #[test]
    fn headless_and_nodeport() {
        let mut h = json!({"spec": {"clusterIP": "None", "ports": []}});
        service(&mut h);
        assert_eq!(h["spec"]["clusterIPs"], json!(["None"]));
        assert_eq!(h["spec"]["ipFamilyPolicy"], "RequireDualStack");
        assert_eq!(h["spec"]["ipFamilies"], json!(["IPv4", "IPv6"]));
        let mut np =
            json!({"spec": {"type": "NodePort", "ports": [{"port": 80, "targetPort": "http"}]}});
        service(&mut np);
        assert_eq!(np["spec"]["externalTrafficPolicy"], "Cluster");
        assert_eq!(np["spec"]["ports"][0]["targetPort"], "http");
        let mut ext = json!({"spec": {"type": "ExternalName", "externalName": "example.com"}});
        service(&mut ext);
        assert!(ext["spec"].get("ipFamilies").is_none());
    }

    #[test]
    fn carry_over_keeps_allocations() {
        let old = json!({"spec": {"type": "NodePort", "clusterIP": "10.96.0.5", "clusterIPs": ["10.96.0.5"], "ipFamilyPolicy": "SingleStack",
            "ipFamilies": ["IPv4"], "ports": [{"name": "http", "port": 80, "nodePort": 30080}]}});
        let mut new =
            json!({"spec": {"type": "NodePort", "ports": [{"name": "http", "port": 80}]}});
        carry_over(&mut new, &old);
        assert_eq!(new["spec"]["clusterIP"], "10.96.0.5");
        assert_eq!(new["spec"]["clusterIPs"], json!(["10.96.0.5"]));
        assert_eq!(new["spec"]["ports"][0]["nodePort"], 30080);
        let mut to_ext = json!({"spec": {"type": "ExternalName", "externalName": "x.example.com", "clusterIP": "10.96.0.5", "clusterIPs": ["10.96.0.5"],
            "ipFamilyPolicy": "SingleStack", "ipFamilies": ["IPv4"], "ports": [{"name": "http", "port": 80, "nodePort": 30080}]}});
        carry_over(&mut to_ext, &old);
        assert!(to_ext["spec"].get("clusterIP").is_none());
        assert!(to_ext["spec"].get("ipFamilies").is_none());
        assert!(to_ext["spec"]["ports"][0].get("nodePort").is_none());
    }
}
