//! Compute resources: container `resources` (limits, requests, claims) and `resizePolicy`, and
//! the resource-name and quantity rules shared with pod overhead, ResourceQuota and LimitRange
//! (`validateResourceName`, `ValidateResourceQuantityValue`,
//! `ValidateContainerResourceRequirements`).
//!
//! Contract: quantities parse with Kubernetes' grammar (a parse error is an invalid value);
//! requests may not exceed limits and must equal them for resources that cannot be
//! overcommitted; huge pages are whole multiples of their page size and need cpu or memory too.

use serde_json::Value;

use super::fields::{dns_label, qualified_name};
use crate::api::validation::field::{
    duplicate, forbidden, invalid, not_found, not_supported, required, Bad, Errs, Path,
};
use crate::api::validation::json::{arr, obj, str_of};
use crate::api::validation::meta::IS_NEGATIVE;
use crate::api::validation::names::is_qualified_name;
use crate::api::validation::quantity::{self, Quantity};

const STANDARD_RESOURCES: &[&str] = &[
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "pods",
    "services",
    "replicationcontrollers",
    "resourcequotas",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "storage",
    "requests.storage",
    "services.nodeports",
    "services.loadbalancers",
];
const INTEGER_RESOURCES: &[&str] = &[
    "pods",
    "services",
    "replicationcontrollers",
    "resourcequotas",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "services.nodeports",
    "services.loadbalancers",
];

fn is_native_resource(name: &str) -> bool {
    !name.contains('/') || name.contains("kubernetes.io/")
}

fn is_extended_resource(name: &str) -> bool {
    !is_native_resource(name)
        && !name.starts_with("requests.")
        && is_qualified_name(&format!("requests.{name}")).is_empty()
}

fn is_hugepages(name: &str) -> bool {
    name.starts_with("hugepages-")
}

/// `IsOvercommitAllowed`: native resources except huge pages.
pub fn overcommit_allowed(name: &str) -> bool {
    is_native_resource(name) && !is_hugepages(name)
}

/// `validateResourceName`.
pub fn validate_resource_name(name: &str, path: &Path, errs: &mut Errs) -> bool {
    let before = errs.len();
    qualified_name(name, path, errs);
    if errs.len() != before {
        return false;
    }
    let standard = name.starts_with("hugepages-")
        || name.starts_with("requests.hugepages-")
        || STANDARD_RESOURCES.contains(&name);
    if !(name.contains('/') || standard) {
        errs.push(invalid(
            path,
            name,
            "must be a standard resource type or fully qualified",
        ));
        return false;
    }
    true
}

/// `validateContainerResourceName`.
pub(super) fn validate_container_resource_name(name: &str, path: &Path, errs: &mut Errs) {
    validate_resource_name(name, path, errs);
    if !name.contains('/') {
        if !(["cpu", "memory", "ephemeral-storage"].contains(&name) || is_hugepages(name)) {
            errs.push(invalid(
                path,
                name,
                "must be a standard resource for containers",
            ));
        }
    } else if !is_native_resource(name) && !is_extended_resource(name) {
        errs.push(invalid(
            path,
            name,
            "doesn't follow extended resource name standard",
        ));
    }
}

/// Parses a resource quantity, reporting the decoder's error as an invalid value.
pub fn parse_quantity(v: &Value, path: &Path, errs: &mut Errs) -> Option<Quantity> {
    match quantity::from_json(v) {
        Some(Ok(q)) => Some(q),
        Some(Err(msg)) => {
            errs.push(invalid(path, Bad::json(v), &msg));
            None
        }
        None => {
            errs.push(invalid(path, Bad::json(v), quantity::FORMAT_ERROR));
            None
        }
    }
}

/// `ValidateResourceQuantityValue`: non-negative, and whole for integer resources.
pub fn validate_resource_quantity_value(name: &str, q: &Quantity, path: &Path, errs: &mut Errs) {
    if q.is_negative() {
        errs.push(invalid(path, q.canonical(), IS_NEGATIVE));
    }
    if (INTEGER_RESOURCES.contains(&name) || is_extended_resource(name)) && !q.is_integer() {
        errs.push(invalid(path, Bad::Raw(q.canonical()), "must be an integer"));
    }
}

fn hugepage_divisible(name: &str, q: &Quantity) -> bool {
    let Some(size) = name
        .strip_prefix("hugepages-")
        .and_then(|s| Quantity::parse(s).ok())
    else {
        return false;
    };
    match (q.as_integer(), size.as_integer()) {
        (Some(v), Some(sz)) if sz > 0 => v % sz == 0,
        _ => false,
    }
}

/// Huge pages are handed out in whole pages, so limits and requests must be whole multiples.
fn hugepage_multiple(name: &str, q: &Quantity, path: &Path, errs: &mut Errs) {
    if !hugepage_divisible(name, q) {
        errs.push(invalid(
            path,
            q.canonical(),
            &format!(
                "{} is not positive integer multiple of {name}",
                q.canonical()
            ),
        ));
    }
}

/// `ValidateContainerResourceRequirements`.
pub(super) fn validate_resources(res: &Value, claim_names: &[&str], path: &Path, errs: &mut Errs) {
    let lim_path = path.child("limits");
    let req_path = path.child("requests");
    let limits = obj(res, "limits");
    let (mut lim_cpu_mem, mut req_cpu_mem, mut lim_huge, mut req_huge) =
        (false, false, false, false);
    let mut parsed_limits: Vec<(&str, Quantity)> = Vec::new();
    if let Some(limits) = limits {
        for (name, v) in limits {
            let fp = lim_path.key(name);
            validate_container_resource_name(name, &fp, errs);
            let Some(q) = parse_quantity(v, &fp, errs) else {
                continue;
            };
            validate_resource_quantity_value(name, &q, &fp, errs);
            if is_hugepages(name) {
                lim_huge = true;
                hugepage_multiple(name, &q, &fp, errs);
            }
            lim_cpu_mem |= name == "cpu" || name == "memory";
            parsed_limits.push((name.as_str(), q));
        }
    }
    if let Some(requests) = obj(res, "requests") {
        for (name, v) in requests {
            let fp = req_path.key(name);
            validate_container_resource_name(name, &fp, errs);
            let Some(q) = parse_quantity(v, &fp, errs) else {
                continue;
            };
            validate_resource_quantity_value(name, &q, &fp, errs);
            let limit = parsed_limits
                .iter()
                .find(|(n, _)| *n == name.as_str())
                .map(|(_, q)| *q);
            let limit_present = limits.is_some_and(|l| l.contains_key(name));
            match limit {
                Some(l) if q != l && !overcommit_allowed(name) => errs.push(invalid(
                    &req_path,
                    q.canonical(),
                    &format!("must be equal to {name} limit of {}", l.canonical()),
                )),
                Some(l) if q > l => errs.push(invalid(
                    &req_path,
                    q.canonical(),
                    &format!(
                        "must be less than or equal to {name} limit of {}",
                        l.canonical()
                    ),
                )),
                Some(_) => {}
                None if !limit_present && !overcommit_allowed(name) => errs.push(required(
                    &lim_path,
                    "Limit must be set for non overcommitable resources",
                )),
                None => {}
            }
            if is_hugepages(name) {
                req_huge = true;
                hugepage_multiple(name, &q, &fp, errs);
            }
            req_cpu_mem |= name == "cpu" || name == "memory";
        }
    }
    if !lim_cpu_mem && !req_cpu_mem && (lim_huge || req_huge) {
        errs.push(forbidden(path, "HugePages require cpu or memory"));
    }
    let mut seen: Vec<String> = Vec::new();
    for (i, claim) in arr(res, "claims").iter().enumerate() {
        let cp = path.child("claims").index(i);
        let name = str_of(claim, "name");
        if name.is_empty() {
            errs.push(required(&cp, ""));
            continue;
        }
        let request = str_of(claim, "request");
        let key = if request.is_empty() {
            name.to_string()
        } else {
            format!("{name}/{request}")
        };
        if !request.is_empty() {
            dns_label(request, &cp.child("request"), errs);
        }
        if seen.contains(&key)
            || (request.is_empty()
                && seen
                    .iter()
                    .any(|k| k.split('/').next() == Some(name) && k.contains('/')))
        {
            errs.push(duplicate(&cp, key.as_str()));
        }
        seen.push(key);
        if !claim_names.contains(&name) {
            let detail = if claim_names.is_empty() {
                "must be one of the names in pod.spec.resourceClaims which is empty".to_string()
            } else {
                let mut names = claim_names.to_vec();
                names.sort_unstable();
                format!(
                    "must be one of the names in pod.spec.resourceClaims: {}",
                    names.join(", ")
                )
            };
            errs.push(not_found(&cp, name, &detail));
        }
    }
}

/// `validateResizePolicy`.
pub(super) fn validate_resize_policy(
    policies: &[Value],
    restart_policy: &str,
    path: &Path,
    errs: &mut Errs,
) {
    let mut seen: Vec<&str> = Vec::new();
    for (i, p) in policies.iter().enumerate() {
        let rn = str_of(p, "resourceName");
        if seen.contains(&rn) {
            errs.push(duplicate(&path.index(i), rn));
        }
        seen.push(rn);
        match rn {
            "cpu" | "memory" => {}
            "" => errs.push(required(path, "")),
            other => errs.push(not_supported(path, other, &["cpu", "memory"])),
        }
        let rp = str_of(p, "restartPolicy");
        match rp {
            "NotRequired" | "RestartContainer" => {}
            "" => errs.push(required(path, "")),
            other => errs.push(not_supported(
                path,
                other,
                &["NotRequired", "RestartContainer"],
            )),
        }
        if restart_policy == "Never" && rp != "NotRequired" {
            errs.push(invalid(
                path,
                rp,
                "must be 'NotRequired' when `restartPolicy` is 'Never'",
            ));
        }
    }
}
