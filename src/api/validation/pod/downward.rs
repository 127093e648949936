//! Downward API references: `fieldRef` and `resourceFieldRef` in env vars, downwardAPI volume
//! files and projections (`validateObjectFieldSelector`, `validateContainerResourceFieldSelector`,
//! `validateDownwardAPIVolumeFile`).
//!
//! Contract: a field path is accepted only if Kubernetes' v1 pod field-label conversion accepts
//! it and the consumer (env var or volume) allows it; subscripted label and annotation keys must
//! be qualified names; divisors must be among those Kubernetes lists for the resource.

use serde_json::Value;

use super::fields::{file_mode, local_non_reserved_path, qualified_name};
use crate::api::validation::field::{invalid, not_supported, required, Errs, Path};
use crate::api::validation::json::{get, str_of};
use crate::api::validation::quantity;

const VOLUME_DOWNWARD_FIELDS: &[&str] = &[
    "metadata.annotations",
    "metadata.labels",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
];
pub(super) const ENV_DOWNWARD_FIELDS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];
/// Field labels `ConvertDownwardAPIFieldLabel` accepts for v1 pods.
const CONVERTIBLE_FIELDS: &[&str] = &[
    "metadata.annotations",
    "metadata.labels",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.serviceAccountName",
    "spec.schedulerName",
    "status.phase",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];
const RESOURCE_FIELD_EXPRESSIONS: &[&str] = &[
    "limits.cpu",
    "limits.ephemeral-storage",
    "limits.memory",
    "requests.cpu",
    "requests.ephemeral-storage",
    "requests.memory",
];

/// `fieldpath.SplitMaybeSubscriptedPath`: `metadata.labels['k']` -> (`metadata.labels`, `k`).
fn split_subscript(p: &str) -> Option<(&str, &str)> {
    let inner = p.strip_suffix("']")?;
    let (head, sub) = inner.split_once("['")?;
    (!head.is_empty()).then_some((head, sub))
}

/// `validateObjectFieldSelector`.
pub(super) fn object_field_selector(fs: &Value, allowed: &[&str], path: &Path, errs: &mut Errs) {
    let api_version = str_of(fs, "apiVersion");
    if api_version.is_empty() {
        errs.push(required(&path.child("apiVersion"), ""));
        return;
    }
    let fp = str_of(fs, "fieldPath");
    if fp.is_empty() {
        errs.push(required(&path.child("fieldPath"), ""));
        return;
    }
    let conversion_err = if api_version != "v1" {
        Some(format!("unsupported pod version: {api_version}"))
    } else if let Some((head, _)) = split_subscript(fp) {
        (head != "metadata.annotations" && head != "metadata.labels")
            .then(|| format!("field label does not support subscript: {fp}"))
    } else {
        (!CONVERTIBLE_FIELDS.contains(&fp)).then(|| format!("field label not supported: {fp}"))
    };
    if let Some(e) = conversion_err {
        errs.push(invalid(
            &path.child("fieldPath"),
            fp,
            &format!("error converting fieldPath: {e}"),
        ));
        return;
    }
    if let Some((head, sub)) = split_subscript(fp) {
        match head {
            "metadata.annotations" => qualified_name(&sub.to_lowercase(), path, errs),
            "metadata.labels" => qualified_name(sub, path, errs),
            _ => errs.push(invalid(path, head, "does not support subscript")),
        }
    } else if !allowed.contains(&fp) {
        let mut sorted: Vec<&str> = allowed.to_vec();
        sorted.sort_unstable();
        errs.push(not_supported(&path.child("fieldPath"), fp, &sorted));
    }
}

/// `validateContainerResourceFieldSelector`.
pub(super) fn resource_field_selector(fs: &Value, volume: bool, path: &Path, errs: &mut Errs) {
    let resource = str_of(fs, "resource");
    if volume && str_of(fs, "containerName").is_empty() {
        errs.push(required(&path.child("containerName"), ""));
    } else if resource.is_empty() {
        errs.push(required(&path.child("resource"), ""));
    } else if !RESOURCE_FIELD_EXPRESSIONS.contains(&resource)
        && !resource.starts_with("requests.hugepages-")
        && !resource.starts_with("limits.hugepages-")
    {
        errs.push(not_supported(
            &path.child("resource"),
            resource,
            RESOURCE_FIELD_EXPRESSIONS,
        ));
    }
    if let Some(Ok(divisor)) = get(fs, "divisor").and_then(quantity::from_json) {
        if divisor.is_zero() {
            return;
        }
        let d = divisor.canonical();
        const MEM: &[&str] = &[
            "1", "1k", "1M", "1G", "1T", "1P", "1E", "1Ki", "1Mi", "1Gi", "1Ti", "1Pi", "1Ei",
        ];
        let (ok, what) = match resource {
            "limits.cpu" | "requests.cpu" => (["1m", "1"].contains(&d.as_str()), "cpu"),
            "limits.memory" | "requests.memory" => (MEM.contains(&d.as_str()), "memory"),
            "limits.ephemeral-storage" | "requests.ephemeral-storage" => {
                (MEM.contains(&d.as_str()), "local ephemeral storage")
            }
            r if r.starts_with("requests.hugepages-") || r.starts_with("limits.hugepages-") => {
                (MEM.contains(&d.as_str()), "hugepages")
            }
            _ => (true, ""),
        };
        if !ok {
            let msg = if what == "cpu" {
                "only divisor's values 1m and 1 are supported with the cpu resource".to_string()
            } else {
                format!("only divisor's values 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are supported with the {what} resource")
            };
            errs.push(invalid(&path.child("divisor"), resource, &msg));
        }
    }
}

/// `validateDownwardAPIVolumeFile`.
pub(super) fn downward_api_file(file: &Value, path: &Path, errs: &mut Errs) {
    let p = str_of(file, "path");
    if p.is_empty() {
        errs.push(required(&path.child("path"), ""));
    }
    local_non_reserved_path(p, &path.child("path"), errs);
    if let Some(fr) = get(file, "fieldRef") {
        object_field_selector(fr, VOLUME_DOWNWARD_FIELDS, &path.child("fieldRef"), errs);
        if get(file, "resourceFieldRef").is_some() {
            errs.push(invalid(
                path,
                "resource",
                "fieldRef and resourceFieldRef can not be specified simultaneously",
            ));
        }
    } else if let Some(rf) = get(file, "resourceFieldRef") {
        resource_field_selector(rf, true, &path.child("resourceFieldRef"), errs);
    } else {
        errs.push(required(
            path,
            "one of fieldRef and resourceFieldRef is required",
        ));
    }
    file_mode(file, "mode", path, errs);
}
