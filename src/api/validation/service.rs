//! Service and Endpoints validation (`ValidateService`, `ValidateServiceUpdate`,
//! `ValidateEndpoints`).
//!
//! Contract: Kubernetes 1.33 rules and messages: ports (required unless headless or
//! ExternalName; names required when more than one, unique, DNS labels; port/targetPort ranges;
//! protocol enum; duplicate protocol+port), type and session-affinity enums, ExternalName
//! requirements, clusterIP/clusterIPs/ipFamilies consistency, traffic policies, health-check
//! node ports, load-balancer-only fields; on update the primary clusterIP and IP family may not
//! change (except to/from ExternalName). NodePort range checking belongs to the allocator;
//! [`node_port_range_errors`] gives the allocator's exact error for callers that allocate.

use super::field::{duplicate, forbidden, go, invalid, not_supported, required, Bad, Errs, Path};
use super::json::{arr, get, int, obj, opt_str, str_of};
use super::meta::{
    validate_labels, validate_object_meta, validate_object_meta_update, FinalizerRule,
};
use super::names::{
    is_dns1123_label, is_dns1123_subdomain, is_qualified_name, is_valid_port_num, NameRule,
};
use super::net::{parse_ip, validate_cidr, validate_ip, validate_non_special_ip};
use super::pod::port_num_or_name;
use serde_json::Value;
use std::net::IpAddr;

const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];
const SERVICE_TYPES: &[&str] = &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];

fn meta_of(v: &Value) -> &Value {
    static NULL: Value = Value::Null;
    get(v, "metadata").unwrap_or(&NULL)
}

fn spec_of(v: &Value) -> &Value {
    static NULL: Value = Value::Null;
    get(v, "spec").unwrap_or(&NULL)
}

fn cluster_ips(spec: &Value) -> Vec<&str> {
    arr(spec, "clusterIPs")
        .iter()
        .map(|v| v.as_str().unwrap_or(""))
        .collect()
}

/// `isHeadlessService`.
fn is_headless(spec: &Value) -> bool {
    cluster_ips(spec) == ["None"]
}

fn qualified(value: &str, path: &Path, errs: &mut Errs) {
    for msg in is_qualified_name(value) {
        errs.push(invalid(path, value, &msg));
    }
}

fn dns_label(value: &str, path: &Path, errs: &mut Errs) {
    for msg in is_dns1123_label(value) {
        errs.push(invalid(path, value, &msg));
    }
}

fn ips_bad(spec: &Value) -> Bad {
    Bad::Raw(go::string_slice(get(spec, "clusterIPs")))
}

/// `ValidateServiceClusterIPsRelatedFields`.
fn cluster_ip_fields(spec: &Value, errs: &mut Errs) {
    if str_of(spec, "type") == "ExternalName" {
        return;
    }
    let sp = Path::new("spec");
    let ips_path = sp.child("clusterIPs");
    let ips = cluster_ips(spec);
    let cluster_ip = str_of(spec, "clusterIP");
    if !cluster_ip.is_empty() {
        if ips.is_empty() {
            errs.push(required(&ips_path, ""));
        } else if ips[0] != cluster_ip {
            errs.push(invalid(
                &ips_path,
                ips_bad(spec),
                "first value must match `clusterIP`",
            ));
        }
    } else if !ips.is_empty() {
        errs.push(invalid(
            &ips_path,
            ips_bad(spec),
            "must be empty when `clusterIP` is not specified",
        ));
    }
    let fam_path = sp.child("ipFamilies");
    let mut seen: Vec<&str> = Vec::new();
    for (i, f) in arr(spec, "ipFamilies").iter().enumerate() {
        let f = f.as_str().unwrap_or("");
        if f != "IPv4" && f != "IPv6" {
            errs.push(not_supported(&fam_path.index(i), f, &["IPv4", "IPv6"]));
        }
        if seen.contains(&f) {
            errs.push(duplicate(&fam_path.index(i), f));
        }
        seen.push(f);
    }
    if let Some(policy) = opt_str(spec, "ipFamilyPolicy") {
        const POLICIES: &[&str] = &["PreferDualStack", "RequireDualStack", "SingleStack"];
        if !POLICIES.contains(&policy) {
            errs.push(not_supported(&sp.child("ipFamilyPolicy"), policy, POLICIES));
        }
    }
    let mut bad_ips = false;
    for (i, ip) in ips.iter().enumerate() {
        if i == 0 && *ip == "None" {
            if ips.len() > 1 {
                bad_ips = true;
                errs.push(invalid(
                    &ips_path,
                    ips_bad(spec),
                    "'None' must be the first and only value",
                ));
            }
            continue;
        }
        let before = errs.len();
        validate_ip(&ips_path.index(i), ip, errs);
        bad_ips |= errs.len() != before;
    }
    if ips.len() > 2 {
        errs.push(invalid(
            &ips_path,
            ips_bad(spec),
            "may only hold up to 2 values",
        ));
    }
    if bad_ips {
        return;
    }
    if ips.len() > 1 {
        let v4: Vec<bool> = ips
            .iter()
            .filter_map(|ip| parse_ip(ip))
            .map(|ip| ip.is_ipv4())
            .collect();
        let dual = v4.len() == 2 && v4[0] != v4[1];
        if !dual {
            errs.push(invalid(
                &ips_path,
                ips_bad(spec),
                "may specify no more than one IP for each IP family",
            ));
        }
    }
    if !is_headless(spec) {
        let fams = arr(spec, "ipFamilies");
        for (i, ip) in ips.iter().enumerate() {
            let Some(fam) = fams.get(i).and_then(Value::as_str) else {
                break;
            };
            let is_v6 = matches!(parse_ip(ip), Some(IpAddr::V6(_)));
            if fam == "IPv4" && is_v6 {
                errs.push(invalid(
                    &ips_path.index(i),
                    *ip,
                    &format!("expected an IPv4 value as indicated by `ipFamilies[{i}]`"),
                ));
            }
            if fam == "IPv6" && !is_v6 {
                errs.push(invalid(
                    &ips_path.index(i),
                    *ip,
                    &format!("expected an IPv6 value as indicated by `ipFamilies[{i}]`"),
                ));
            }
        }
    }
}

fn validate_service_port(
    sp: &Value,
    require_name: bool,
    names: &mut Vec<String>,
    path: &Path,
    errs: &mut Errs,
) {
    let name = str_of(sp, "name");
    if require_name && name.is_empty() {
        errs.push(required(&path.child("name"), ""));
    } else if !name.is_empty() {
        dns_label(name, &path.child("name"), errs);
        if names.iter().any(|n| n == name) {
            errs.push(duplicate(&path.child("name"), name));
        } else {
            names.push(name.to_string());
        }
    }
    let port = int(sp, "port").unwrap_or(0);
    for msg in is_valid_port_num(port) {
        errs.push(invalid(&path.child("port"), port, &msg));
    }
    let proto = str_of(sp, "protocol");
    if proto.is_empty() {
        errs.push(required(&path.child("protocol"), ""));
    } else if !PROTOCOLS.contains(&proto) {
        errs.push(not_supported(&path.child("protocol"), proto, PROTOCOLS));
    }
    port_num_or_name(get(sp, "targetPort"), &path.child("targetPort"), errs);
    if let Some(ap) = opt_str(sp, "appProtocol") {
        qualified(ap, &path.child("appProtocol"), errs);
    }
}

/// `apiservice.ExternallyAccessible`.
fn externally_accessible(spec: &Value) -> bool {
    let t = str_of(spec, "type");
    t == "LoadBalancer"
        || t == "NodePort"
        || (t == "ClusterIP" && !arr(spec, "externalIPs").is_empty())
}

/// `apiservice.NeedsHealthCheck`.
fn needs_health_check(spec: &Value) -> bool {
    str_of(spec, "type") == "LoadBalancer" && str_of(spec, "externalTrafficPolicy") == "Local"
}

/// `ValidateService`.
fn validate_service_spec(svc: &Value, errs: &mut Errs) {
    let meta = meta_of(svc);
    let spec = spec_of(svc);
    let sp = Path::new("spec");
    let anns = obj(meta, "annotations");
    let hints = anns
        .and_then(|a| a.get("service.kubernetes.io/topology-aware-hints"))
        .and_then(Value::as_str);
    let mode = anns
        .and_then(|a| a.get("service.kubernetes.io/topology-mode"))
        .and_then(Value::as_str);
    if let (Some(h), Some(m)) = (hints, mode) {
        if h != m {
            errs.push(invalid(
                &Path::new("metadata").child("annotations").key("service.kubernetes.io/topology-mode"),
                m,
                "must match annotations[service.kubernetes.io/topology-aware-hints] when both are specified",
            ));
        }
    }
    let svc_type = str_of(spec, "type");
    let ports = arr(spec, "ports");
    let headless = is_headless(spec);
    if ports.is_empty() && !headless && svc_type != "ExternalName" {
        errs.push(required(&sp.child("ports"), ""));
    }
    match svc_type {
        "LoadBalancer" | "NodePort" if headless => errs.push(invalid(
            &sp.child("clusterIPs").index(0),
            "None",
            &format!("may not be set to 'None' for {svc_type} services"),
        )),
        "ExternalName" => {
            if !arr(spec, "clusterIPs").is_empty() {
                errs.push(forbidden(
                    &sp.child("clusterIPs"),
                    "may not be set for ExternalName services",
                ));
            }
            if !arr(spec, "ipFamilies").is_empty() {
                errs.push(forbidden(
                    &sp.child("ipFamilies"),
                    "may not be set for ExternalName services",
                ));
            }
            if get(spec, "ipFamilyPolicy").is_some() {
                errs.push(forbidden(
                    &sp.child("ipFamilyPolicy"),
                    "may not be set for ExternalName services",
                ));
            }
            let cname = str_of(spec, "externalName");
            let cname = cname.strip_suffix('.').unwrap_or(cname);
            if cname.is_empty() {
                errs.push(required(&sp.child("externalName"), ""));
            } else {
                for msg in is_dns1123_subdomain(cname) {
                    errs.push(invalid(&sp.child("externalName"), cname, &msg));
                }
            }
        }
        _ => {}
    }
    let mut names: Vec<String> = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        validate_service_port(
            p,
            ports.len() > 1,
            &mut names,
            &sp.child("ports").index(i),
            errs,
        );
    }
    if let Some(sel) = obj(spec, "selector") {
        validate_labels(Some(sel), &sp.child("selector"), errs);
    }
    let affinity = str_of(spec, "sessionAffinity");
    if affinity.is_empty() {
        errs.push(required(&sp.child("sessionAffinity"), ""));
    } else if affinity != "ClientIP" && affinity != "None" {
        errs.push(not_supported(
            &sp.child("sessionAffinity"),
            affinity,
            &["ClientIP", "None"],
        ));
    }
    let cfg_path = sp.child("sessionAffinityConfig");
    if affinity == "ClientIP" {
        const WHEN: &str = "when session affinity type is ClientIP";
        match get(spec, "sessionAffinityConfig") {
            None => errs.push(required(&cfg_path, WHEN)),
            Some(cfg) => match get(cfg, "clientIP") {
                None => errs.push(required(&cfg_path.child("clientIP"), WHEN)),
                Some(cip) => match int(cip, "timeoutSeconds") {
                    None => errs.push(required(
                        &cfg_path.child("clientIP").child("timeoutSeconds"),
                        WHEN,
                    )),
                    Some(t) if t <= 0 || t > 86400 => errs.push(invalid(
                        &cfg_path.child("clientIP").child("timeoutSeconds"),
                        t,
                        "must be greater than 0 and less than 86400",
                    )),
                    Some(_) => {}
                },
            },
        }
    } else if affinity == "None" && get(spec, "sessionAffinityConfig").is_some() {
        errs.push(forbidden(
            &cfg_path,
            "must not be set when session affinity is None",
        ));
    }
    cluster_ip_fields(spec, errs);
    for (i, ip) in arr(spec, "externalIPs").iter().enumerate() {
        let ip = ip.as_str().unwrap_or("");
        let p = sp.child("externalIPs").index(i);
        let before = errs.len();
        validate_ip(&p, ip, errs);
        if errs.len() == before {
            validate_non_special_ip(&p, ip, errs);
        }
    }
    if svc_type.is_empty() {
        errs.push(required(&sp.child("type"), ""));
    } else if !SERVICE_TYPES.contains(&svc_type) {
        errs.push(not_supported(&sp.child("type"), svc_type, SERVICE_TYPES));
    }
    if svc_type == "ClusterIP" {
        for (i, p) in ports.iter().enumerate() {
            if int(p, "nodePort").unwrap_or(0) != 0 {
                errs.push(forbidden(
                    &sp.child("ports").index(i).child("nodePort"),
                    "may not be used when `type` is 'ClusterIP'",
                ));
            }
        }
    }
    let mut node_ports: Vec<(&str, i64)> = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        let np = int(p, "nodePort").unwrap_or(0);
        if np == 0 {
            continue;
        }
        let key = (str_of(p, "protocol"), np);
        if node_ports.contains(&key) {
            errs.push(duplicate(&sp.child("ports").index(i).child("nodePort"), np));
        }
        node_ports.push(key);
    }
    let mut port_keys: Vec<(&str, i64)> = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        let key = (str_of(p, "protocol"), int(p, "port").unwrap_or(0));
        if port_keys.contains(&key) {
            // The duplicate is reported as the Go struct Kubernetes uses as the map key.
            let shown = format!(
                "core.ServicePort{{Name:\"\", Protocol:{}, AppProtocol:(*string)(nil), Port:{}, TargetPort:intstr.IntOrString{{Type:0, IntVal:0, StrVal:\"\"}}, NodePort:0}}",
                go::quote(key.0),
                key.1
            );
            errs.push(duplicate(&sp.child("ports").index(i), Bad::Raw(shown)));
        }
        port_keys.push(key);
    }
    let ranges = arr(spec, "loadBalancerSourceRanges");
    if !ranges.is_empty() {
        // Kubernetes' own capitalisation of this path.
        let rp = sp.child("LoadBalancerSourceRanges");
        if svc_type != "LoadBalancer" {
            errs.push(forbidden(
                &rp,
                "may only be used when `type` is 'LoadBalancer'",
            ));
        }
        for (i, r) in ranges.iter().enumerate() {
            validate_cidr(&rp.index(i), r.as_str().unwrap_or("").trim(), errs);
        }
    } else if let Some(val) = anns
        .and_then(|a| a.get("service.beta.kubernetes.io/load-balancer-source-ranges"))
        .and_then(Value::as_str)
    {
        let ap = Path::new("metadata")
            .child("annotations")
            .key("service.beta.kubernetes.io/load-balancer-source-ranges");
        if svc_type != "LoadBalancer" {
            errs.push(forbidden(
                &ap,
                "may only be used when `type` is 'LoadBalancer'",
            ));
        }
        let val = val.trim();
        if !val.is_empty() {
            for c in val.split(',') {
                validate_cidr(&ap, c.trim(), errs);
            }
        }
    }
    let alloc = get(spec, "allocateLoadBalancerNodePorts");
    if alloc.is_some() && svc_type != "LoadBalancer" {
        errs.push(forbidden(
            &sp.child("allocateLoadBalancerNodePorts"),
            "may only be used when `type` is 'LoadBalancer'",
        ));
    }
    if svc_type == "LoadBalancer" && alloc.is_none() {
        // Kubernetes reports this one without the `spec` prefix.
        errs.push(required(&Path::new("allocateLoadBalancerNodePorts"), ""));
    }
    if let Some(class) = opt_str(spec, "loadBalancerClass") {
        if svc_type == "LoadBalancer" {
            qualified(class, &sp.child("loadBalancerClass"), errs);
        } else {
            errs.push(forbidden(
                &sp.child("loadBalancerClass"),
                "may only be used when `type` is 'LoadBalancer'",
            ));
        }
    }
    let etp = str_of(spec, "externalTrafficPolicy");
    if !externally_accessible(spec) {
        if !etp.is_empty() {
            errs.push(invalid(
                &sp.child("externalTrafficPolicy"),
                etp,
                "may only be set for externally-accessible services",
            ));
        }
    } else if etp.is_empty() {
        errs.push(required(&sp.child("externalTrafficPolicy"), ""));
    } else if etp != "Cluster" && etp != "Local" {
        errs.push(not_supported(
            &sp.child("externalTrafficPolicy"),
            etp,
            &["Cluster", "Local"],
        ));
    }
    let hc = int(spec, "healthCheckNodePort").unwrap_or(0);
    if !needs_health_check(spec) {
        if hc != 0 {
            errs.push(invalid(
                &sp.child("healthCheckNodePort"),
                hc,
                "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
            ));
        }
    } else if hc == 0 {
        errs.push(required(&sp.child("healthCheckNodePort"), ""));
    } else {
        for msg in is_valid_port_num(hc) {
            errs.push(invalid(&sp.child("healthCheckNodePort"), hc, &msg));
        }
    }
    match opt_str(spec, "internalTrafficPolicy") {
        None if ["NodePort", "LoadBalancer", "ClusterIP"].contains(&svc_type) => {
            errs.push(required(&sp.child("internalTrafficPolicy"), ""))
        }
        Some(p) if p != "Cluster" && p != "Local" => errs.push(not_supported(
            &sp.child("internalTrafficPolicy"),
            p,
            &["Cluster", "Local"],
        )),
        _ => {}
    }
    if let Some(td) = opt_str(spec, "trafficDistribution") {
        if td != "PreferClose" {
            errs.push(not_supported(
                &sp.child("trafficDistribution"),
                td,
                &["PreferClose"],
            ));
        }
    }
}

fn policy_bad(spec: &Value) -> Bad {
    opt_str(spec, "ipFamilyPolicy")
        .map(Bad::from)
        .unwrap_or(Bad::Null)
}

/// `validateUpgradeDowngradeClusterIPs` and `validateUpgradeDowngradeIPFamilies`.
fn upgrade_downgrade(new: &Value, old: &Value, errs: &mut Errs) {
    let (ns, os) = (spec_of(new), spec_of(old));
    if str_of(ns, "type") == "ExternalName" || str_of(os, "type") == "ExternalName" {
        return;
    }
    let (new_h, old_h) = (is_headless(ns), is_headless(os));
    let ips_path = Path::new("spec").child("clusterIPs");
    let (nips, oips) = (cluster_ips(ns), cluster_ips(os));
    if !(old_h && new_h) {
        if nips.len() == oips.len() {
            for (i, ip) in oips.iter().enumerate() {
                if *ip != nips[i] {
                    errs.push(invalid(
                        &ips_path.index(i),
                        ips_bad(ns),
                        "may not change once set",
                    ));
                }
            }
        } else if oips.len() > nips.len() {
            if nips.is_empty() {
                errs.push(invalid(
                    &ips_path.index(0),
                    ips_bad(ns),
                    "primary clusterIP can not be unset",
                ));
            }
            if !oips.is_empty() && !nips.is_empty() && nips[0] != oips[0] {
                errs.push(invalid(
                    &ips_path.index(0),
                    ips_bad(ns),
                    "may not change once set",
                ));
            }
            if nips.len() == 1 && opt_str(ns, "ipFamilyPolicy") != Some("SingleStack") {
                errs.push(invalid(
                    &Path::new("spec").child("ipFamilyPolicy"),
                    policy_bad(ns),
                    "must be set to 'SingleStack' when releasing the secondary clusterIP",
                ));
            }
        } else if !oips.is_empty() && nips[0] != oips[0] {
            errs.push(invalid(
                &ips_path.index(0),
                ips_bad(ns),
                "may not change once set",
            ));
        }
    }
    if new_h != old_h || new_h {
        return;
    }
    let fam_path = Path::new("spec").child("ipFamilies");
    let fams = |s: &Value| -> Vec<String> {
        arr(s, "ipFamilies")
            .iter()
            .map(|v| v.as_str().unwrap_or("").to_string())
            .collect()
    };
    let (nf, of) = (fams(ns), fams(os));
    let fams_bad = Bad::Raw(format!(
        "[]core.IPFamily{{{}}}",
        nf.iter()
            .map(|f| go::quote(f))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    if nf.len() == of.len() {
        for (i, f) in of.iter().enumerate() {
            if *f != nf[i] {
                errs.push(invalid(
                    &fam_path.index(0),
                    fams_bad.clone(),
                    "may not change once set",
                ));
            }
        }
    } else if of.len() > nf.len() {
        if nips.is_empty() {
            errs.push(invalid(
                &fam_path.index(0),
                fams_bad.clone(),
                "primary ipFamily can not be unset",
            ));
        }
        if !nf.is_empty() && nf[0] != of[0] {
            errs.push(invalid(
                &fam_path.index(0),
                ips_bad(ns),
                "may not change once set",
            ));
        }
        if nf.len() == 1 && opt_str(ns, "ipFamilyPolicy") != Some("SingleStack") {
            errs.push(invalid(
                &Path::new("spec").child("ipFamilyPolicy"),
                policy_bad(ns),
                "must be set to 'SingleStack' when releasing the secondary ipFamily",
            ));
        }
    } else if !of.is_empty() && !nf.is_empty() && nf[0] != of[0] {
        errs.push(invalid(
            &fam_path.index(0),
            ips_bad(ns),
            "may not change once set",
        ));
    }
}

/// Service create/update.
pub fn service(svc: &Value, old: Option<&Value>, errs: &mut Errs) {
    let mp = Path::new("metadata");
    match old {
        None => validate_object_meta(
            meta_of(svc),
            NameRule::Dns1035,
            FinalizerRule::Core,
            &mp,
            errs,
        ),
        Some(o) => {
            validate_object_meta_update(meta_of(svc), meta_of(o), FinalizerRule::Core, &mp, errs);
            upgrade_downgrade(svc, o, errs);
            let (ns, os) = (spec_of(svc), spec_of(o));
            if str_of(ns, "type") == "LoadBalancer"
                && str_of(os, "type") == "LoadBalancer"
                && get(ns, "loadBalancerClass") != get(os, "loadBalancerClass")
            {
                let shown = opt_str(ns, "loadBalancerClass")
                    .map(Bad::from)
                    .unwrap_or(Bad::Null);
                errs.push(invalid(
                    &Path::new("spec").child("loadBalancerClass"),
                    shown,
                    "may not change once set",
                ));
            }
            if needs_health_check(os)
                && needs_health_check(ns)
                && int(ns, "healthCheckNodePort") != int(os, "healthCheckNodePort")
            {
                errs.push(forbidden(
                    &Path::new("spec").child("healthCheckNodePort"),
                    "field is immutable",
                ));
            }
        }
    }
    validate_service_spec(svc, errs);
}

/// The node-port allocator's range check (`provided port is not in the valid range`), for
/// callers that allocate node ports; not part of [`super::validate`] because Kubernetes does
/// not run it during validation.
pub fn node_port_range_errors(svc: &Value, lo: i64, hi: i64) -> Errs {
    let mut errs = Vec::new();
    for (i, p) in arr(spec_of(svc), "ports").iter().enumerate() {
        let np = int(p, "nodePort").unwrap_or(0);
        if np != 0 && !(lo..=hi).contains(&np) {
            errs.push(invalid(
                &Path::new("spec").child("ports").index(i).child("nodePort"),
                np,
                &format!("provided port is not in the valid range. The range of valid ports is {lo}-{hi}"),
            ));
        }
    }
    errs
}

/// Endpoints create/update.
pub fn endpoints(ep: &Value, old: Option<&Value>, errs: &mut Errs) {
    let mp = Path::new("metadata");
    match old {
        None => validate_object_meta(
            meta_of(ep),
            NameRule::Subdomain,
            FinalizerRule::Core,
            &mp,
            errs,
        ),
        Some(o) => {
            validate_object_meta_update(meta_of(ep), meta_of(o), FinalizerRule::Core, &mp, errs)
        }
    }
    for (i, ss) in arr(ep, "subsets").iter().enumerate() {
        let ip = Path::new("subsets").index(i);
        let (addrs, not_ready) = (arr(ss, "addresses"), arr(ss, "notReadyAddresses"));
        if addrs.is_empty() && not_ready.is_empty() {
            errs.push(required(
                &ip,
                "must specify `addresses` or `notReadyAddresses`",
            ));
        }
        for (field, list) in [("addresses", addrs), ("notReadyAddresses", not_ready)] {
            for (j, a) in list.iter().enumerate() {
                let ap = ip.child(field).index(j);
                let addr = str_of(a, "ip");
                validate_ip(&ap.child("ip"), addr, errs);
                let host = str_of(a, "hostname");
                if !host.is_empty() {
                    dns_label(host, &ap.child("hostname"), errs);
                }
                if let Some(node) = opt_str(a, "nodeName") {
                    for msg in is_dns1123_subdomain(node) {
                        errs.push(invalid(&ap.child("nodeName"), node, &msg));
                    }
                }
                validate_non_special_ip(&ap.child("ip"), addr, errs);
            }
        }
        let ports = arr(ss, "ports");
        for (j, p) in ports.iter().enumerate() {
            let pp = ip.child("ports").index(j);
            let name = str_of(p, "name");
            if ports.len() > 1 && name.is_empty() {
                errs.push(required(&pp.child("name"), ""));
            } else if !name.is_empty() {
                dns_label(name, &pp.child("name"), errs);
            }
            let port = int(p, "port").unwrap_or(0);
            for msg in is_valid_port_num(port) {
                errs.push(invalid(&pp.child("port"), port, &msg));
            }
            let proto = str_of(p, "protocol");
            if proto.is_empty() {
                errs.push(required(&pp.child("protocol"), ""));
            } else if !PROTOCOLS.contains(&proto) {
                errs.push(not_supported(&pp.child("protocol"), proto, PROTOCOLS));
            }
            if let Some(ap) = opt_str(p, "appProtocol") {
                qualified(ap, &pp.child("appProtocol"), errs);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(spec: Value) -> Value {
        json!({"metadata": {"name": "web", "namespace": "default"}, "spec": spec})
    }

    fn good() -> Value {
        json!({"type": "ClusterIP", "sessionAffinity": "None", "internalTrafficPolicy": "Cluster",
               "ipFamilyPolicy": "SingleStack", "ipFamilies": ["IPv4"], "selector": {"app": "web"},
               "ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080}]})
    }

    fn run(v: &Value, old: Option<&Value>) -> Vec<(String, String)> {
        let mut e = Vec::new();
        service(v, old, &mut e);
        e.into_iter().map(|c| (c.field, c.message)).collect()
    }

    #[test]
    fn valid_and_port_rules() {
        assert!(run(&svc(good()), None).is_empty());
        let mut s = good();
        s["ports"] = json!([{"port": 80, "protocol": "TCP", "targetPort": 80}, {"name": "b", "port": 80, "protocol": "TCP", "targetPort": "http-alt"}]);
        assert_eq!(
            run(&svc(s), None),
            vec![
                ("spec.ports[0].name".into(), "Required value".into()),
                ("spec.ports[1]".into(), "Duplicate value: core.ServicePort{Name:\"\", Protocol:\"TCP\", AppProtocol:(*string)(nil), Port:80, TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}, NodePort:0}".into()),
            ]
        );
        let mut s = good();
        s["ports"] = json!([]);
        assert_eq!(
            run(&svc(s.clone()), None),
            vec![("spec.ports".into(), "Required value".into())]
        );
        s["clusterIP"] = json!("None");
        s["clusterIPs"] = json!(["None"]);
        assert!(run(&svc(s), None).is_empty());
    }

    #[test]
    fn name_is_dns1035() {
        let mut v = svc(good());
        v["metadata"]["name"] = json!("1web");
        let e = run(&v, None);
        assert_eq!(e[0].0, "metadata.name");
        assert!(e[0].1.starts_with("Invalid value: \"1web\": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"));
    }

    #[test]
    fn external_name_and_types() {
        let s = json!({"type": "ExternalName", "sessionAffinity": "None"});
        assert_eq!(
            run(&svc(s), None),
            vec![("spec.externalName".into(), "Required value".into())]
        );
        let mut s = good();
        s["type"] = json!("Weird");
        let e = run(&svc(s), None);
        assert_eq!(e, vec![("spec.type".into(), "Unsupported value: \"Weird\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\"".into())]);
    }

    #[test]
    fn cluster_ip_immutable() {
        let mut old = good();
        old["clusterIP"] = json!("10.96.0.10");
        old["clusterIPs"] = json!(["10.96.0.10"]);
        let mut new = old.clone();
        new["clusterIP"] = json!("10.96.0.11");
        new["clusterIPs"] = json!(["10.96.0.11"]);
        let (o, n) = (svc(old.clone()), svc(new));
        assert_eq!(
            run(&n, Some(&o)),
            vec![(
                "spec.clusterIPs[0]".into(),
                "Invalid value: []string{\"10.96.0.11\"}: may not change once set".into()
            )]
        );
        let mut ext = json!({"type": "ExternalName", "externalName": "example.com", "sessionAffinity": "None"});
        ext["ports"] = json!([]);
        assert!(run(&svc(ext), Some(&o)).is_empty());
    }

    #[test]
    fn node_port_rules() {
        let mut s = good();
        s["ports"][0]["nodePort"] = json!(30080);
        assert_eq!(
            run(&svc(s.clone()), None),
            vec![(
                "spec.ports[0].nodePort".into(),
                "Forbidden: may not be used when `type` is 'ClusterIP'".into()
            )]
        );
        s["type"] = json!("NodePort");
        s["externalTrafficPolicy"] = json!("Cluster");
        assert!(run(&svc(s.clone()), None).is_empty());
        s["ports"][0]["nodePort"] = json!(80);
        assert_eq!(node_port_range_errors(&svc(s), 30000, 32767)[0].message, "Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-32767");
    }

    #[test]
    fn endpoints_rules() {
        let mut e = Vec::new();
        endpoints(
            &json!({"metadata": {"name": "x"}, "subsets": [{"addresses": [{"ip": "127.0.0.1"}], "ports": [{"port": 80, "protocol": "TCP"}, {"port": 0, "protocol": "TCP", "name": "b"}]}]}),
            None,
            &mut e,
        );
        let got: Vec<(String, String)> = e.into_iter().map(|c| (c.field, c.message)).collect();
        assert_eq!(
            got,
            vec![
                ("subsets[0].addresses[0].ip".into(), "Invalid value: \"127.0.0.1\": may not be in the loopback range (127.0.0.0/8, ::1/128)".into()),
                ("subsets[0].ports[0].name".into(), "Required value".into()),
                ("subsets[0].ports[1].port".into(), "Invalid value: 0: must be between 1 and 65535, inclusive".into()),
            ]
        );
    }
}
