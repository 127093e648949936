//! Pod, PodTemplate and pod-spec validation (`ValidatePodCreate`, `ValidatePodUpdate`,
//! `ValidatePodTemplateSpec`, `ValidatePodSpec` from pkg/apis/core/validation).
//!
//! Contract: causes, field paths and messages follow Kubernetes 1.33 for the fields covered
//! (containers, init/ephemeral containers, ports, env, volumes and mounts, probes and lifecycle
//! handlers, resources, security contexts, scheduling fields, DNS, tolerations, topology spread,
//! affinity), including Kubernetes' path quirks (e.g. `volumeMounts.subPath` without an index,
//! `spec.template.labels` for template labels), which are reproduced deliberately and marked.
//! Validation assumes the object was defaulted first (as the API server does): fields the
//! defaulter always fills (`terminationGracePeriodSeconds`, `dnsPolicy`, `imagePullPolicy`, ...)
//! are reported as `Required value` when missing.
//! Feature gates are taken at their 1.33 defaults: relaxed env var names and DNS search paths,
//! zero-second sleep actions and sidecar resize policies are allowed; pod-level resources are
//! not validated (alpha, off).
//!
//! The entry points (create, update, templates) live here; the checks they run are split by
//! concept into the submodules, and the helpers other validators share are re-exported.

mod containers;
mod dns;
mod downward;
mod env;
mod fields;
mod mounts;
mod os;
mod probes;
mod resources;
mod scheduling;
mod security;
mod spec;
#[cfg(test)]
mod tests;
mod update;
mod volumes;

use serde_json::{Map, Value};

use crate::api::validation::field::{forbidden, go, invalid, Bad, Errs, Path};
use crate::api::validation::json::{arr, get, obj, opt_str, str_of, string_map};
use crate::api::validation::meta::{
    validate_annotations, validate_labels, validate_object_meta, validate_object_meta_update,
    FinalizerRule,
};
use crate::api::validation::names::NameRule;
use containers::validate_container_only_for_pod;

pub use probes::port_num_or_name;
pub use resources::{
    overcommit_allowed, parse_quantity, validate_resource_name, validate_resource_quantity_value,
};
pub use scheduling::{node_selector, taint_effect, validate_tolerations};
pub use spec::validate_pod_spec;
pub use update::validate_pod_update;
pub use volumes::{csi_driver_name, validate_template_object_meta};

/// How a pod spec is being validated.
#[derive(Clone, Copy, Debug)]
pub struct PodOpts {
    /// The spec belongs to a Pod (not a template): image whitespace and image-volume references
    /// are checked, host ports must equal container ports under hostNetwork.
    pub resource_is_pod: bool,
}

/// What a named volume is backed by, as far as mounts care.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VolKind {
    /// `persistentVolumeClaim` or `ephemeral` (usable as a block device).
    Claim,
    /// `image` (no subPath allowed).
    Image,
    Other,
}

const MIRROR_POD_ANNOTATION: &str = "kubernetes.io/config.mirror";
const DELETION_COST_ANNOTATION: &str = "controller.kubernetes.io/pod-deletion-cost";
const APPARMOR_PREFIX: &str = "container.apparmor.security.beta.kubernetes.io/";

/// `ValidatePodSpecificAnnotations`.
fn validate_pod_specific_annotations(
    ann: Option<&Map<String, Value>>,
    spec: &Value,
    path: &Path,
    errs: &mut Errs,
) {
    let anns = string_map(ann);
    for (k, v) in &anns {
        if *k == MIRROR_POD_ANNOTATION && str_of(spec, "nodeName").is_empty() {
            errs.push(invalid(
                &path.key(k),
                *v,
                "must set spec.nodeName if mirror pod annotation is set",
            ));
        }
        if *k == DELETION_COST_ANNOTATION && v.trim().parse::<i32>().is_err() {
            errs.push(invalid(&path.key(k), *v, "must be a 32bit integer"));
        }
    }
    for (k, v) in &anns {
        let Some(container) = k.strip_prefix(APPARMOR_PREFIX) else {
            continue;
        };
        let exists = ["containers", "initContainers", "ephemeralContainers"]
            .iter()
            .any(|f| arr(spec, f).iter().any(|c| str_of(c, "name") == container));
        if !exists {
            errs.push(invalid(&path.key(k), container, "container not found"));
        }
        if !(v.is_empty()
            || *v == "runtime/default"
            || *v == "unconfined"
            || v.starts_with("localhost/"))
        {
            errs.push(invalid(
                &path.key(k),
                *v,
                &format!("invalid AppArmor profile name: {}", go::quote(v)),
            ));
        }
    }
}

/// `ValidatePodTemplateSpec` at `path` (e.g. `spec.template`).
pub fn validate_pod_template_spec(
    template: &Value,
    extra_vols: &[(String, VolKind)],
    path: &Path,
    errs: &mut Errs,
) {
    let meta = get(template, "metadata").unwrap_or(&Value::Null);
    let spec = get(template, "spec").unwrap_or(&Value::Null);
    // Kubernetes reports template labels/annotations without the `metadata` segment.
    validate_labels(obj(meta, "labels"), &path.child("labels"), errs);
    validate_annotations(obj(meta, "annotations"), &path.child("annotations"), errs);
    validate_pod_specific_annotations(
        obj(meta, "annotations"),
        spec,
        &path.child("annotations"),
        errs,
    );
    let opts = PodOpts {
        resource_is_pod: false,
    };
    validate_pod_spec(spec, None, extra_vols, &path.child("spec"), &opts, errs);
    if !arr(spec, "ephemeralContainers").is_empty() {
        errs.push(forbidden(
            &path.child("spec").child("ephemeralContainers"),
            "ephemeral containers not allowed in pod template",
        ));
    }
}

/// `validatePodMetadataAndSpec`.
fn validate_pod_metadata_and_spec(pod: &Value, check_name: bool, errs: &mut Errs) {
    let meta_path = Path::new("metadata");
    let spec_path = Path::new("spec");
    let meta = get(pod, "metadata").unwrap_or(&Value::Null);
    let spec = get(pod, "spec").unwrap_or(&Value::Null);
    if check_name {
        validate_object_meta(
            meta,
            NameRule::Subdomain,
            FinalizerRule::Core,
            &meta_path,
            errs,
        );
    }
    validate_pod_specific_annotations(
        obj(meta, "annotations"),
        spec,
        &meta_path.child("annotations"),
        errs,
    );
    let opts = PodOpts {
        resource_is_pod: true,
    };
    validate_pod_spec(spec, opt_str(meta, "name"), &[], &spec_path, &opts, errs);
    if str_of(spec, "serviceAccountName").is_empty() {
        for (vi, vol) in arr(spec, "volumes").iter().enumerate() {
            let Some(proj) = get(vol, "projected") else {
                continue;
            };
            for (si, src) in arr(proj, "sources").iter().enumerate() {
                if get(src, "serviceAccountToken").is_some() {
                    errs.push(forbidden(
                        &spec_path
                            .child("volumes")
                            .index(vi)
                            .child("projected")
                            .child("sources")
                            .index(si)
                            .child("serviceAccountToken"),
                        "must not be specified when serviceAccountName is not set",
                    ));
                }
            }
        }
    }
    for f in ["containers", "initContainers"] {
        for (i, c) in arr(spec, f).iter().enumerate() {
            validate_container_only_for_pod(c, &spec_path.child(f).index(i), errs);
        }
    }
}

/// Pod create (`ValidatePodCreate`).
pub fn validate_pod_create(pod: &Value, errs: &mut Errs) {
    validate_pod_metadata_and_spec(pod, true, errs);
    let spec = get(pod, "spec").unwrap_or(&Value::Null);
    let sp = Path::new("spec");
    if !arr(spec, "ephemeralContainers").is_empty() {
        errs.push(forbidden(
            &sp.child("ephemeralContainers"),
            "cannot be set on create",
        ));
    }
    if !str_of(spec, "nodeName").is_empty() && !arr(spec, "schedulingGates").is_empty() {
        errs.push(forbidden(
            &sp.child("nodeName"),
            "cannot be set until all schedulingGates have been cleared",
        ));
    }
}

/// PodTemplate create/update (`ValidatePodTemplate`).
pub fn validate_pod_template_object(obj_v: &Value, old: Option<&Value>, errs: &mut Errs) {
    let null = Value::Null;
    let meta = get(obj_v, "metadata").unwrap_or(&null);
    match old {
        None => validate_object_meta(
            meta,
            NameRule::Subdomain,
            FinalizerRule::Core,
            &Path::new("metadata"),
            errs,
        ),
        Some(o) => validate_object_meta_update(
            meta,
            get(o, "metadata").unwrap_or(&null),
            FinalizerRule::Core,
            &Path::new("metadata"),
            errs,
        ),
    }
    validate_pod_template_spec(
        get(obj_v, "template").unwrap_or(&null),
        &[],
        &Path::new("template"),
        errs,
    );
}

/// `Bad::Str` of a borrowed string, for concise string values.
pub fn str_bad(v: &str) -> Bad {
    Bad::Str(v.to_string())
}
