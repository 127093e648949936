//! The pod spec as a whole (`ValidatePodSpec`).
//!
//! Contract: volumes are validated first because mounts may only use the ones that validated;
//! then resource claims, containers of every kind and the pod-level fields, in Kubernetes' order
//! so the aggregated message reads like kube-apiserver's.

use serde_json::Value;

use super::containers::{
    validate_containers, validate_ephemeral_containers, validate_init_containers, SpecCtx,
};
use super::dns::validate_dns_config;
use super::fields::{dns_label, dns_subdomain, name_rule, qualified_name, MAX_INT32};
use super::os::validate_os;
use super::resources::{
    parse_quantity, validate_container_resource_name, validate_resource_quantity_value,
};
use super::scheduling::{validate_affinity, validate_tolerations, validate_topology_spread};
use super::security::validate_pod_security_context;
use super::volumes::{validate_volumes, vol_kind};
use super::{PodOpts, VolKind};
use crate::api::validation::field::{
    duplicate, forbidden, invalid, not_supported, required, Bad, Errs, Path,
};
use crate::api::validation::json::{arr, at, boolean, get, int, obj, opt_str, str_of};
use crate::api::validation::meta::validate_labels;
use crate::api::validation::names::{inclusive_range_error, NameRule};
use crate::api::validation::net::validate_ip;

/// `ValidatePodSpec`. `pod_name` is set only for real pods (ephemeral volume PVC names);
/// `extra_vols` lets StatefulSets count their claim templates as volumes.
pub fn validate_pod_spec(
    spec: &Value,
    pod_name: Option<&str>,
    extra_vols: &[(String, VolKind)],
    path: &Path,
    opts: &PodOpts,
    errs: &mut Errs,
) {
    let grace = int(spec, "terminationGracePeriodSeconds");
    if grace.is_none() {
        errs.push(required(&path.child("terminationGracePeriodSeconds"), ""));
    }
    let host_users = at(spec, &["hostUsers"]).and_then(Value::as_bool) != Some(false);
    let mut vols = validate_volumes(
        arr(spec, "volumes"),
        pod_name,
        &path.child("volumes"),
        opts,
        errs,
    );
    for (n, k) in extra_vols {
        if vol_kind(&vols, n).is_none() {
            vols.push((n.clone(), *k));
        }
    }
    let mut claim_names: Vec<&str> = Vec::new();
    for (i, c) in arr(spec, "resourceClaims").iter().enumerate() {
        let cp = path.child("resourceClaims").index(i);
        let name = str_of(c, "name");
        if name.is_empty() {
            errs.push(required(&cp.child("name"), ""));
        } else if claim_names.contains(&name) {
            errs.push(duplicate(&cp.child("name"), name));
        } else {
            dns_label(name, &cp.child("name"), errs);
            claim_names.push(name);
        }
        let (a, b) = (
            opt_str(c, "resourceClaimName"),
            opt_str(c, "resourceClaimTemplateName"),
        );
        if a.is_some() && b.is_some() {
            errs.push(invalid(&cp, Bad::Raw(c.to_string()), "at most one of `resourceClaimName` or `resourceClaimTemplateName` may be specified"));
        }
        if a.is_none() && b.is_none() {
            errs.push(invalid(
                &cp,
                Bad::Raw(c.to_string()),
                "must specify one of: `resourceClaimName`, `resourceClaimTemplateName`",
            ));
        }
        if let Some(a) = a {
            name_rule(
                a,
                NameRule::Subdomain,
                false,
                &cp.child("resourceClaimName"),
                errs,
            );
        }
        if let Some(b) = b {
            name_rule(
                b,
                NameRule::Subdomain,
                false,
                &cp.child("resourceClaimTemplateName"),
                errs,
            );
        }
    }
    let restart_policy = str_of(spec, "restartPolicy");
    let cx = SpecCtx {
        vols,
        claim_names,
        restart_policy,
        host_users,
        grace,
    };
    validate_containers(
        arr(spec, "containers"),
        &cx,
        &path.child("containers"),
        errs,
    );
    validate_init_containers(
        arr(spec, "initContainers"),
        arr(spec, "containers"),
        &cx,
        &path.child("initContainers"),
        errs,
    );
    validate_ephemeral_containers(spec, &cx, &path.child("ephemeralContainers"), errs);

    if boolean(spec, "hostNetwork") == Some(true) {
        for (i, c) in arr(spec, "containers").iter().enumerate() {
            for (j, p) in arr(c, "ports").iter().enumerate() {
                let (hp, cp) = (
                    int(p, "hostPort").unwrap_or(0),
                    int(p, "containerPort").unwrap_or(0),
                );
                if (opts.resource_is_pod || hp != 0) && hp != cp {
                    errs.push(invalid(
                        &path
                            .child("containers")
                            .index(i)
                            .child("ports")
                            .index(j)
                            .child("hostPort"),
                        hp,
                        "must match `containerPort` when `hostNetwork` is true",
                    ));
                }
            }
        }
    }
    let rp = path.child("restartPolicy");
    match restart_policy {
        "Always" | "OnFailure" | "Never" => {}
        "" => errs.push(required(&rp, "")),
        other => errs.push(not_supported(&rp, other, &["Always", "OnFailure", "Never"])),
    }
    let dp = path.child("dnsPolicy");
    match str_of(spec, "dnsPolicy") {
        "ClusterFirstWithHostNet" | "ClusterFirst" | "Default" | "None" => {}
        "" => errs.push(required(&dp, "")),
        other => errs.push(not_supported(
            &dp,
            other,
            &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
        )),
    }
    validate_labels(obj(spec, "nodeSelector"), &path.child("nodeSelector"), errs);
    validate_pod_security_context(spec, &path.child("securityContext"), errs);
    for (i, s) in arr(spec, "imagePullSecrets").iter().enumerate() {
        if s.as_object().is_some_and(|m| m.keys().any(|k| k != "name")) {
            errs.push(invalid(
                &path.child("imagePullSecrets").index(i),
                Bad::Raw(s.to_string()),
                "only name may be set",
            ));
        }
    }
    validate_affinity(get(spec, "affinity"), &path.child("affinity"), errs);
    validate_dns_config(spec, &path.child("dnsConfig"), errs);
    for (i, g) in arr(spec, "readinessGates").iter().enumerate() {
        qualified_name(
            str_of(g, "conditionType"),
            &path.child("readinessGates").index(i).child("conditionType"),
            errs,
        );
    }
    let mut gates: Vec<&str> = Vec::new();
    for (i, g) in arr(spec, "schedulingGates").iter().enumerate() {
        let name = str_of(g, "name");
        let gp = path.child("schedulingGates").index(i);
        qualified_name(name, &gp, errs);
        if gates.contains(&name) {
            errs.push(duplicate(&gp, name));
        }
        gates.push(name);
    }
    validate_topology_spread(
        arr(spec, "topologySpreadConstraints"),
        &path.child("topologySpreadConstraints"),
        errs,
    );
    if get(spec, "hostUsers").and_then(Value::as_bool) == Some(false) {
        for (f, p) in [
            ("hostNetwork", "hostNetwork"),
            ("hostPID", "HostPID"),
            ("hostIPC", "HostIPC"),
        ] {
            if boolean(spec, f) == Some(true) {
                errs.push(forbidden(
                    &path.child(p),
                    "when `pod.Spec.HostUsers` is false",
                ));
            }
        }
    }
    for (field, rule) in [
        ("serviceAccountName", NameRule::Subdomain),
        ("nodeName", NameRule::Subdomain),
    ] {
        let v = str_of(spec, field);
        if !v.is_empty() {
            name_rule(v, rule, false, &path.child(field), errs);
        }
    }
    if let Some(ads) = int(spec, "activeDeadlineSeconds") {
        if !(1..=MAX_INT32).contains(&ads) {
            errs.push(invalid(
                &path.child("activeDeadlineSeconds"),
                ads,
                &inclusive_range_error(1, MAX_INT32),
            ));
        }
    }
    for f in ["hostname", "subdomain"] {
        let v = str_of(spec, f);
        if !v.is_empty() {
            dns_label(v, &path.child(f), errs);
        }
    }
    validate_tolerations(arr(spec, "tolerations"), &path.child("tolerations"), errs);
    for (i, ha) in arr(spec, "hostAliases").iter().enumerate() {
        let hp = path.child("hostAliases").index(i);
        validate_ip(&hp.child("ip"), str_of(ha, "ip"), errs);
        for (j, h) in arr(ha, "hostnames").iter().enumerate() {
            dns_subdomain(
                h.as_str().unwrap_or(""),
                &hp.child("hostnames").index(j),
                errs,
            );
        }
    }
    let pcn = str_of(spec, "priorityClassName");
    if !pcn.is_empty() {
        name_rule(
            pcn,
            NameRule::Subdomain,
            false,
            &path.child("priorityClassName"),
            errs,
        );
    }
    if let Some(rc) = opt_str(spec, "runtimeClassName") {
        name_rule(
            rc,
            NameRule::Subdomain,
            false,
            &path.child("runtimeClassName"),
            errs,
        );
    }
    if let Some(pp) = opt_str(spec, "preemptionPolicy") {
        match pp {
            "PreemptLowerPriority" | "Never" => {}
            "" => errs.push(required(&path.child("preemptionPolicy"), "")),
            other => errs.push(not_supported(
                &path.child("preemptionPolicy"),
                other,
                &["PreemptLowerPriority", "Never"],
            )),
        }
    }
    if let Some(overhead) = obj(spec, "overhead") {
        for (name, v) in overhead {
            let fp = path.child("overhead").child("limits").key(name);
            validate_container_resource_name(name, &fp, errs);
            if let Some(q) = parse_quantity(v, &fp, errs) {
                validate_resource_quantity_value(name, &q, &fp, errs);
            }
        }
    }
    validate_os(spec, path, errs);
}
