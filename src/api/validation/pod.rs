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

use super::field::{
    duplicate, forbidden, go, invalid, not_found, not_supported, required, too_long, Bad, Errs,
    Path,
};
use super::json::{
    arr, as_int, at, boolean, get, int, obj, opt_str, semantic_eq, str_of, string_map,
};
use super::meta::{
    check_duplicate, nonnegative, validate_annotations, validate_label_name,
    validate_label_selector, validate_labels, validate_object_meta, validate_object_meta_update,
    FinalizerRule, IS_NEGATIVE,
};
use super::names::{
    inclusive_range_error, is_config_map_key, is_dns1123_label, is_dns1123_subdomain,
    is_dns1123_subdomain_with_underscore, is_http_header_name, is_label_value, is_qualified_name,
    is_relaxed_env_var_name, is_valid_port_name, is_valid_port_num, validate_name, NameRule,
};
use super::net::validate_ip;
use super::quantity::{self, Quantity};
use serde_json::{Map, Value};

const MAX_INT32: i64 = i32::MAX as i64;
const MAX_UID: i64 = 4_294_967_295;
const FILE_MODE_ERR: &str = "must be a number between 0 and 0777 (octal), both inclusive";
const NOT_POSITIVE: &str = "must be greater than zero";

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

type Vols = Vec<(String, VolKind)>;

fn vol_kind(vols: &Vols, name: &str) -> Option<VolKind> {
    vols.iter().find(|(n, _)| n == name).map(|(_, k)| *k)
}

fn s(v: &str) -> Bad {
    Bad::Str(v.to_string())
}

// ---------------------------------------------------------------------------------------------
// Paths

/// `validatePathNoBacksteps`.
fn no_backsteps(p: &str, path: &Path, errs: &mut Errs) {
    if p.split('/').any(|seg| seg == "..") {
        errs.push(invalid(path, p, "must not contain '..'"));
    }
}

/// `validateLocalDescendingPath`.
fn local_descending_path(p: &str, path: &Path, errs: &mut Errs) {
    if p.starts_with('/') {
        errs.push(invalid(path, p, "must be a relative path"));
    }
    no_backsteps(p, path, errs);
}

/// `ValidateLocalNonReservedPath`.
fn local_non_reserved_path(p: &str, path: &Path, errs: &mut Errs) {
    local_descending_path(p, path, errs);
    if p.starts_with("..") && !p.starts_with("../") {
        errs.push(invalid(path, p, "must not start with '..'"));
    }
}

fn file_mode(v: &Value, key: &str, path: &Path, errs: &mut Errs) {
    if let Some(m) = int(v, key) {
        if !(0..=0o777).contains(&m) {
            errs.push(invalid(&path.child(key), m, FILE_MODE_ERR));
        }
    }
}

fn dns_label(value: &str, path: &Path, errs: &mut Errs) {
    for msg in is_dns1123_label(value) {
        errs.push(invalid(path, value, &msg));
    }
}

fn dns_subdomain(value: &str, path: &Path, errs: &mut Errs) {
    for msg in is_dns1123_subdomain(value) {
        errs.push(invalid(path, value, &msg));
    }
}

fn qualified_name(value: &str, path: &Path, errs: &mut Errs) {
    for msg in is_qualified_name(value) {
        errs.push(invalid(path, value, &msg));
    }
}

fn name_rule(value: &str, rule: NameRule, prefix: bool, path: &Path, errs: &mut Errs) {
    for msg in validate_name(rule, value, prefix) {
        errs.push(invalid(path, value, &msg));
    }
}

// ---------------------------------------------------------------------------------------------
// Volumes

/// Volume source fields in the order Kubernetes checks them, with the path segment it uses when
/// reporting "may not specify more than 1 volume type" (`downwarAPI` and `cephFS` are
/// Kubernetes' own spellings in that message).
const VOLUME_SOURCES: &[(&str, &str)] = &[
    ("emptyDir", "emptyDir"),
    ("hostPath", "hostPath"),
    ("gitRepo", "gitRepo"),
    ("gcePersistentDisk", "gcePersistentDisk"),
    ("awsElasticBlockStore", "awsElasticBlockStore"),
    ("secret", "secret"),
    ("nfs", "nfs"),
    ("iscsi", "iscsi"),
    ("glusterfs", "glusterfs"),
    ("flocker", "flocker"),
    ("persistentVolumeClaim", "persistentVolumeClaim"),
    ("rbd", "rbd"),
    ("cinder", "cinder"),
    ("cephfs", "cephFS"),
    ("quobyte", "quobyte"),
    ("downwardAPI", "downwarAPI"),
    ("fc", "fc"),
    ("flexVolume", "flexVolume"),
    ("configMap", "configMap"),
    ("azureFile", "azureFile"),
    ("vsphereVolume", "vsphereVolume"),
    ("photonPersistentDisk", "photonPersistentDisk"),
    ("portworxVolume", "portworxVolume"),
    ("azureDisk", "azureDisk"),
    ("storageos", "storageos"),
    ("projected", "projected"),
    ("scaleIO", "scaleIO"),
    ("csi", "csi"),
    ("ephemeral", "ephemeral"),
    ("image", "image"),
];

const HOST_PATH_TYPES: &[&str] = &[
    "",
    "BlockDevice",
    "CharDevice",
    "Directory",
    "DirectoryOrCreate",
    "File",
    "FileOrCreate",
    "Socket",
];

fn key_to_path(item: &Value, path: &Path, errs: &mut Errs) {
    if str_of(item, "key").is_empty() {
        errs.push(required(&path.child("key"), ""));
    }
    let p = str_of(item, "path");
    if p.is_empty() {
        errs.push(required(&path.child("path"), ""));
    }
    local_non_reserved_path(p, &path.child("path"), errs);
    file_mode(item, "mode", path, errs);
}

fn require_fields(src: &Value, fields: &[&str], path: &Path, errs: &mut Errs) {
    for f in fields {
        let present = match get(src, f) {
            None => false,
            Some(Value::String(s)) => !s.is_empty(),
            Some(Value::Array(a)) => !a.is_empty(),
            Some(_) => true,
        };
        if !present {
            errs.push(required(&path.child(f), ""));
        }
    }
}

const VOLUME_DOWNWARD_FIELDS: &[&str] = &[
    "metadata.annotations",
    "metadata.labels",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
];
const ENV_DOWNWARD_FIELDS: &[&str] = &[
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

fn object_field_selector(fs: &Value, allowed: &[&str], path: &Path, errs: &mut Errs) {
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

fn resource_field_selector(fs: &Value, volume: bool, path: &Path, errs: &mut Errs) {
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

fn downward_api_file(file: &Value, path: &Path, errs: &mut Errs) {
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

fn projected_sources(proj: &Value, path: &Path, errs: &mut Errs) {
    let mut all_paths: Vec<String> = Vec::new();
    let mut note_path = |p: &str, shown: &str, errs: &mut Errs| {
        if all_paths.iter().any(|x| x == p) {
            errs.push(invalid(path, shown, "conflicting duplicate paths"));
        } else {
            all_paths.push(p.to_string());
        }
    };
    for (i, source) in arr(proj, "sources").iter().enumerate() {
        let src_path = path.child("sources").index(i);
        let mut n = 0;
        for kind in ["secret", "configMap"] {
            if let Some(src) = get(source, kind) {
                n += 1;
                let kp = src_path.child(kind);
                let name = str_of(src, "name");
                if name.is_empty() {
                    errs.push(required(&kp.child("name"), ""));
                }
                for (j, item) in arr(src, "items").iter().enumerate() {
                    key_to_path(item, &kp.child("items").index(j), errs);
                    let p = str_of(item, "path");
                    if !p.is_empty() {
                        note_path(p, name, errs);
                    }
                }
            }
        }
        if let Some(src) = get(source, "downwardAPI") {
            n += 1;
            for file in arr(src, "items") {
                downward_api_file(file, &src_path.child("downwardAPI"), errs);
                let p = str_of(file, "path");
                if !p.is_empty() {
                    note_path(p, p, errs);
                }
            }
        }
        if let Some(src) = get(source, "serviceAccountToken") {
            n += 1;
            let tp = src_path.child("serviceAccountToken");
            let exp = int(src, "expirationSeconds").unwrap_or(0);
            if exp < 600 {
                errs.push(invalid(
                    &tp.child("expirationSeconds"),
                    exp,
                    "may not specify a duration less than 10 minutes",
                ));
            }
            if exp > 1 << 32 {
                errs.push(invalid(
                    &tp.child("expirationSeconds"),
                    exp,
                    "may not specify a duration larger than 2^32 seconds",
                ));
            }
            let p = str_of(src, "path");
            // Kubernetes reports these two on the projected volume's path, not the source's.
            if p.is_empty() {
                errs.push(required(&path.child("path"), ""));
            } else {
                local_non_reserved_path(p, &path.child("path"), errs);
            }
        }
        if let Some(src) = get(source, "clusterTrustBundle") {
            n += 1;
            let cp = src_path.child("clusterTrustBundle");
            match (get(src, "name"), get(src, "signerName")) {
                (Some(_), Some(_)) => errs.push(invalid(
                    &cp,
                    Bad::Raw(src.to_string()),
                    "only one of name and signerName may be used",
                )),
                (None, None) => {
                    errs.push(required(&cp, "either name or signerName must be specified"))
                }
                _ => {}
            }
            let p = str_of(src, "path");
            if p.is_empty() {
                errs.push(required(&cp.child("path"), ""));
            }
            local_non_reserved_path(p, &cp.child("path"), errs);
            note_path(p, p, errs);
        }
        if n > 1 {
            errs.push(forbidden(
                &src_path,
                "may not specify more than 1 volume type per source",
            ));
        }
    }
}

fn validate_volume_source(
    vol: &Value,
    path: &Path,
    pod_name: Option<&str>,
    opts: &PodOpts,
    errs: &mut Errs,
) -> VolKind {
    let vol_name = str_of(vol, "name");
    let mut kind = VolKind::Other;
    let mut count = 0;
    for (key, forbidden_seg) in VOLUME_SOURCES {
        let Some(src) = get(vol, key) else { continue };
        if count > 0 {
            errs.push(forbidden(
                &path.child(forbidden_seg),
                "may not specify more than 1 volume type",
            ));
            continue;
        }
        count += 1;
        let sp = path.child(key);
        match *key {
            "emptyDir" => {
                if let Some(Ok(q)) = get(src, "sizeLimit").and_then(quantity::from_json) {
                    if q.is_negative() {
                        errs.push(forbidden(
                            &sp.child("sizeLimit"),
                            "SizeLimit field must be a valid resource quantity",
                        ));
                    }
                }
            }
            "hostPath" => {
                let p = str_of(src, "path");
                if p.is_empty() {
                    errs.push(required(&sp.child("path"), ""));
                } else {
                    no_backsteps(p, &sp.child("path"), errs);
                    if let Some(t) = opt_str(src, "type") {
                        if !HOST_PATH_TYPES.contains(&t) {
                            errs.push(not_supported(&sp.child("type"), t, HOST_PATH_TYPES));
                        }
                    }
                }
            }
            "gitRepo" => {
                require_fields(src, &["repository"], &sp, errs);
                local_descending_path(str_of(src, "directory"), &sp.child("directory"), errs);
            }
            // Kubernetes validates this one under the old `persistentDisk` name.
            "gcePersistentDisk" => {
                require_fields(src, &["pdName"], &path.child("persistentDisk"), errs)
            }
            "awsElasticBlockStore" | "cinder" | "portworxVolume" => {
                require_fields(src, &["volumeID"], &sp, errs)
            }
            "secret" => {
                require_fields(src, &["secretName"], &sp, errs);
                file_mode(src, "defaultMode", &sp, errs);
                for (i, item) in arr(src, "items").iter().enumerate() {
                    key_to_path(item, &sp.child("items").index(i), errs);
                }
            }
            "configMap" => {
                require_fields(src, &["name"], &sp, errs);
                file_mode(src, "defaultMode", &sp, errs);
                for (i, item) in arr(src, "items").iter().enumerate() {
                    key_to_path(item, &sp.child("items").index(i), errs);
                }
            }
            "nfs" => {
                require_fields(src, &["server", "path"], &sp, errs);
                let p = str_of(src, "path");
                if !p.starts_with('/') {
                    errs.push(invalid(&sp.child("path"), p, "must be an absolute path"));
                }
            }
            "iscsi" => require_fields(src, &["targetPortal", "iqn"], &sp, errs),
            "glusterfs" => require_fields(src, &["endpoints", "path"], &sp, errs),
            "flocker" => {
                let (n, u) = (str_of(src, "datasetName"), str_of(src, "datasetUUID"));
                if n.is_empty() && u.is_empty() {
                    errs.push(required(
                        &sp,
                        "one of datasetName and datasetUUID is required",
                    ));
                }
                if !n.is_empty() && !u.is_empty() {
                    errs.push(invalid(
                        &sp,
                        "resource",
                        "datasetName and datasetUUID can not be specified simultaneously",
                    ));
                }
                if n.contains('/') {
                    errs.push(invalid(&sp.child("datasetName"), n, "must not contain '/'"));
                }
            }
            "persistentVolumeClaim" => {
                require_fields(src, &["claimName"], &sp, errs);
                kind = VolKind::Claim;
            }
            "rbd" => require_fields(src, &["monitors", "image"], &sp, errs),
            "cephfs" => require_fields(src, &["monitors"], &sp, errs),
            "quobyte" => require_fields(src, &["registry", "volume"], &sp, errs),
            "downwardAPI" => {
                file_mode(src, "defaultMode", &sp, errs);
                for file in arr(src, "items") {
                    // Kubernetes reports item errors on the volume source path, unindexed.
                    downward_api_file(file, &sp, errs);
                }
            }
            "fc" => {
                let (wwns, wwids) = (arr(src, "targetWWNs"), arr(src, "wwids"));
                if wwns.is_empty() && wwids.is_empty() {
                    errs.push(required(
                        &sp.child("targetWWNs"),
                        "must specify either targetWWNs or wwids, but not both",
                    ));
                }
                if !wwns.is_empty() && !wwids.is_empty() {
                    errs.push(invalid(
                        &sp.child("targetWWNs"),
                        Bad::Raw(go::string_slice(get(src, "targetWWNs"))),
                        "targetWWNs and wwids can not be specified simultaneously",
                    ));
                }
            }
            "flexVolume" => require_fields(src, &["driver"], &sp, errs),
            "azureFile" => require_fields(src, &["secretName", "shareName"], &sp, errs),
            "azureDisk" => require_fields(src, &["diskName", "diskURI"], &sp, errs),
            "vsphereVolume" => require_fields(src, &["volumePath"], &sp, errs),
            "photonPersistentDisk" => require_fields(src, &["pdID"], &sp, errs),
            "storageos" => {
                let n = str_of(src, "volumeName");
                if n.is_empty() {
                    errs.push(required(&sp.child("volumeName"), ""));
                } else {
                    dns_label(n, &sp.child("volumeName"), errs);
                }
            }
            "projected" => {
                file_mode(src, "defaultMode", &sp, errs);
                projected_sources(src, &sp, errs);
            }
            "scaleIO" => require_fields(src, &["gateway", "system", "volumeName"], &sp, errs),
            "csi" => {
                csi_driver_name(str_of(src, "driver"), &sp.child("driver"), errs);
                if let Some(r) = get(src, "nodePublishSecretRef") {
                    let n = str_of(r, "name");
                    if n.is_empty() {
                        errs.push(required(
                            &sp.child("nodePublishSecretRef").child("name"),
                            "",
                        ));
                    } else {
                        // Kubernetes reports this one at `csi.name`.
                        dns_subdomain(n, &sp.child("name"), errs);
                    }
                }
            }
            "ephemeral" => {
                kind = VolKind::Claim;
                match get(src, "volumeClaimTemplate") {
                    None => errs.push(required(&sp.child("volumeClaimTemplate"), "")),
                    Some(t) => {
                        let tp = sp.child("volumeClaimTemplate");
                        let meta = get(t, "metadata").unwrap_or(&Value::Null);
                        validate_template_object_meta(meta, &tp.child("metadata"), errs);
                        super::core::validate_pvc_spec(
                            get(t, "spec").unwrap_or(&Value::Null),
                            &tp.child("spec"),
                            errs,
                        );
                    }
                }
                if let Some(pod) = pod_name.filter(|p| !p.is_empty()) {
                    if !vol_name.is_empty() {
                        let pvc = format!("{pod}-{vol_name}");
                        for msg in is_dns1123_subdomain(&pvc) {
                            errs.push(invalid(
                                &path.child("name"),
                                vol_name,
                                &format!("PVC name {}: {msg}", go::quote(&pvc)),
                            ));
                        }
                    }
                }
            }
            "image" => {
                kind = VolKind::Image;
                if opts.resource_is_pod && str_of(src, "reference").is_empty() {
                    errs.push(required(&sp.child("reference"), ""));
                }
                pull_policy(str_of(src, "pullPolicy"), &sp.child("pullPolicy"), errs);
            }
            _ => {}
        }
    }
    if count == 0 {
        errs.push(required(path, "must specify a volume type"));
    }
    kind
}

/// `ValidateCSIDriverName`.
pub fn csi_driver_name(driver: &str, path: &Path, errs: &mut Errs) {
    if driver.is_empty() {
        errs.push(required(path, ""));
    }
    if driver.len() > 63 {
        errs.push(too_long(path, 63));
    }
    for msg in is_dns1123_subdomain(&driver.to_lowercase()) {
        errs.push(invalid(path, driver, &msg));
    }
}

/// `ValidateTemplateObjectMeta`: only labels and annotations may be set.
pub fn validate_template_object_meta(meta: &Value, path: &Path, errs: &mut Errs) {
    validate_annotations(obj(meta, "annotations"), &path.child("annotations"), errs);
    validate_labels(obj(meta, "labels"), &path.child("labels"), errs);
    if let Some(m) = meta.as_object() {
        for (k, v) in m {
            let zero = matches!(v, Value::Null)
                || v.as_str() == Some("")
                || v.as_object().is_some_and(|o| o.is_empty());
            if k != "labels" && k != "annotations" && !zero {
                errs.push(forbidden(&path.child(k), "cannot be set"));
            }
        }
    }
}

/// `ValidateVolumes`: returns the volumes that validated cleanly (mounts may only use those).
fn validate_volumes(
    volumes: &[Value],
    pod_name: Option<&str>,
    path: &Path,
    opts: &PodOpts,
    errs: &mut Errs,
) -> Vols {
    let mut vols: Vols = Vec::new();
    let created_pvcs: Vec<String> = match pod_name.filter(|n| !n.is_empty()) {
        Some(pod) => volumes
            .iter()
            .filter(|v| get(v, "ephemeral").is_some())
            .map(|v| format!("{pod}-{}", str_of(v, "name")))
            .collect(),
        None => Vec::new(),
    };
    for (i, vol) in volumes.iter().enumerate() {
        let ip = path.index(i);
        let name_path = ip.child("name");
        let mut el = Vec::new();
        let kind = validate_volume_source(vol, &ip, pod_name, opts, &mut el);
        let name = str_of(vol, "name");
        if name.is_empty() {
            el.push(required(&name_path, ""));
        } else {
            dns_label(name, &name_path, &mut el);
        }
        if vols.iter().any(|(n, _)| n == name) {
            el.push(duplicate(&name_path, name));
        }
        if el.is_empty() {
            vols.push((name.to_string(), kind));
        } else {
            errs.extend(el);
        }
        if let Some(claim) =
            at(vol, &["persistentVolumeClaim", "claimName"]).and_then(Value::as_str)
        {
            if created_pvcs.iter().any(|c| c == claim) {
                errs.push(invalid(
                    &ip.child("persistentVolumeClaim").child("claimName"),
                    claim,
                    "must not reference a PVC that gets created for an ephemeral volume",
                ));
            }
        }
    }
    vols
}

// ---------------------------------------------------------------------------------------------
// Containers

const PORT_PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];

fn validate_container_ports(ports: &[Value], path: &Path, errs: &mut Errs) {
    let mut names: Vec<String> = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let ip = path.index(i);
        let name = str_of(port, "name");
        if !name.is_empty() {
            let msgs = is_valid_port_name(name);
            if !msgs.is_empty() {
                for m in msgs {
                    errs.push(invalid(&ip.child("name"), name, &m));
                }
            } else {
                check_duplicate(&mut names, name, &ip.child("name"), errs);
            }
        }
        let cp = int(port, "containerPort").unwrap_or(0);
        if cp == 0 {
            errs.push(required(&ip.child("containerPort"), ""));
        } else {
            for m in is_valid_port_num(cp) {
                errs.push(invalid(&ip.child("containerPort"), cp, &m));
            }
        }
        let hp = int(port, "hostPort").unwrap_or(0);
        if hp != 0 {
            for m in is_valid_port_num(hp) {
                errs.push(invalid(&ip.child("hostPort"), hp, &m));
            }
        }
        let proto = str_of(port, "protocol");
        if proto.is_empty() {
            errs.push(required(&ip.child("protocol"), ""));
        } else if !PORT_PROTOCOLS.contains(&proto) {
            errs.push(not_supported(&ip.child("protocol"), proto, PORT_PROTOCOLS));
        }
    }
}

fn validate_env(env: &[Value], path: &Path, errs: &mut Errs) {
    for (i, ev) in env.iter().enumerate() {
        let ip = path.index(i);
        let name = str_of(ev, "name");
        if name.is_empty() {
            errs.push(required(&ip.child("name"), ""));
        } else {
            for m in is_relaxed_env_var_name(name) {
                errs.push(invalid(&ip.child("name"), name, &m));
            }
        }
        let Some(vf) = get(ev, "valueFrom") else {
            continue;
        };
        let vp = ip.child("valueFrom");
        let mut n = 0;
        if let Some(fr) = get(vf, "fieldRef") {
            n += 1;
            object_field_selector(fr, ENV_DOWNWARD_FIELDS, &vp.child("fieldRef"), errs);
        }
        if let Some(rf) = get(vf, "resourceFieldRef") {
            n += 1;
            resource_field_selector(rf, false, &vp.child("resourceFieldRef"), errs);
        }
        for kind in ["configMapKeyRef", "secretKeyRef"] {
            if let Some(r) = get(vf, kind) {
                n += 1;
                let rp = vp.child(kind);
                name_rule(
                    str_of(r, "name"),
                    NameRule::Subdomain,
                    false,
                    &rp.child("name"),
                    errs,
                );
                let key = str_of(r, "key");
                if key.is_empty() {
                    errs.push(required(&rp.child("key"), ""));
                } else {
                    for m in is_config_map_key(key) {
                        errs.push(invalid(&rp.child("key"), key, &m));
                    }
                }
            }
        }
        if n == 0 {
            errs.push(invalid(&vp, "", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"));
        } else if !str_of(ev, "value").is_empty() {
            errs.push(invalid(
                &vp,
                "",
                "may not be specified when `value` is not empty",
            ));
        } else if n > 1 {
            errs.push(invalid(
                &vp,
                "",
                "may not have more than one field specified at a time",
            ));
        }
    }
}

fn validate_env_from(env_from: &[Value], path: &Path, errs: &mut Errs) {
    for (i, ev) in env_from.iter().enumerate() {
        let ip = path.index(i);
        let prefix = str_of(ev, "prefix");
        if !prefix.is_empty() {
            for m in is_relaxed_env_var_name(prefix) {
                errs.push(invalid(&ip.child("prefix"), prefix, &m));
            }
        }
        let mut n = 0;
        for kind in ["configMapRef", "secretRef"] {
            if let Some(r) = get(ev, kind) {
                n += 1;
                let name = str_of(r, "name");
                if name.is_empty() {
                    errs.push(required(&ip.child(kind).child("name"), ""));
                } else {
                    name_rule(
                        name,
                        NameRule::Subdomain,
                        true,
                        &ip.child(kind).child("name"),
                        errs,
                    );
                }
            }
        }
        // Kubernetes reports these on the envFrom list itself.
        if n == 0 {
            errs.push(invalid(
                path,
                "",
                "must specify one of: `configMapRef` or `secretRef`",
            ));
        } else if n > 1 {
            errs.push(invalid(
                path,
                "",
                "may not have more than one field specified at a time",
            ));
        }
    }
}

fn privileged(ctr: &Value) -> bool {
    at(ctr, &["securityContext", "privileged"]).and_then(Value::as_bool) == Some(true)
}

fn validate_volume_mounts(ctr: &Value, vols: &Vols, path: &Path, errs: &mut Errs) {
    let devices = arr(ctr, "volumeDevices");
    let mut mount_points: Vec<&str> = Vec::new();
    for (i, mnt) in arr(ctr, "volumeMounts").iter().enumerate() {
        let ip = path.index(i);
        let name = str_of(mnt, "name");
        let mount_path = str_of(mnt, "mountPath");
        if name.is_empty() {
            errs.push(required(&ip.child("name"), ""));
        }
        let kind = vol_kind(vols, name);
        if kind.is_none() {
            errs.push(not_found(&ip.child("name"), name, ""));
        }
        if mount_path.is_empty() {
            errs.push(required(&ip.child("mountPath"), ""));
        }
        if mount_points.contains(&mount_path) {
            errs.push(invalid(
                &ip.child("mountPath"),
                mount_path,
                "must be unique",
            ));
        }
        mount_points.push(mount_path);
        if devices.iter().any(|d| str_of(d, "name") == name) {
            errs.push(invalid(
                &ip.child("name"),
                name,
                "must not already exist in volumeDevices",
            ));
        }
        if devices
            .iter()
            .any(|d| str_of(d, "devicePath") == mount_path)
        {
            errs.push(invalid(
                &ip.child("mountPath"),
                mount_path,
                "must not already exist as a path in volumeDevices",
            ));
        }
        let sub_path = str_of(mnt, "subPath");
        let sub_expr = str_of(mnt, "subPathExpr");
        if kind == Some(VolKind::Image) {
            if !sub_path.is_empty() {
                errs.push(invalid(
                    &ip.child("subPath"),
                    sub_path,
                    "not allowed in image volume sources",
                ));
            }
            if !sub_expr.is_empty() {
                errs.push(invalid(
                    &ip.child("subPathExpr"),
                    sub_expr,
                    "not allowed in image volume sources",
                ));
            }
        }
        // Kubernetes reports subPath, subPathExpr, mountPropagation and recursiveReadOnly
        // problems on the unindexed `volumeMounts` path; kept for fidelity.
        if !sub_path.is_empty() {
            local_descending_path(sub_path, &path.child("subPath"), errs);
        }
        if !sub_expr.is_empty() {
            if !sub_path.is_empty() {
                errs.push(invalid(
                    &ip.child("subPathExpr"),
                    sub_expr,
                    "subPathExpr and subPath are mutually exclusive",
                ));
            }
            local_descending_path(sub_expr, &path.child("subPathExpr"), errs);
        }
        let propagation = opt_str(mnt, "mountPropagation");
        if let Some(p) = propagation {
            const MODES: &[&str] = &["Bidirectional", "HostToContainer", "None"];
            let pp = path.child("mountPropagation");
            if !MODES.contains(&p) {
                errs.push(not_supported(&pp, p, MODES));
            }
            if p == "Bidirectional" && !privileged(ctr) {
                errs.push(forbidden(
                    &pp,
                    "Bidirectional mount propagation is available only to privileged containers",
                ));
            }
        }
        if let Some(rro) = opt_str(mnt, "recursiveReadOnly") {
            let rp = path.child("recursiveReadOnly");
            match rro {
                "Disabled" => {}
                "Enabled" | "IfPossible" => {
                    if boolean(mnt, "readOnly") != Some(true) {
                        errs.push(forbidden(
                            &rp,
                            "may only be specified when readOnly is true",
                        ));
                    }
                    if propagation.is_some_and(|p| p != "None") {
                        errs.push(forbidden(
                            &rp,
                            "may only be specified when mountPropagation is None or not specified",
                        ));
                    }
                }
                other => errs.push(not_supported(
                    &rp,
                    other,
                    &["Disabled", "Enabled", "IfPossible"],
                )),
            }
        }
    }
}

fn validate_volume_devices(ctr: &Value, vols: &Vols, path: &Path, errs: &mut Errs) {
    let mounts = arr(ctr, "volumeMounts");
    let mut paths: Vec<&str> = Vec::new();
    let mut names: Vec<&str> = Vec::new();
    for (i, dev) in arr(ctr, "volumeDevices").iter().enumerate() {
        let ip = path.index(i);
        let name = str_of(dev, "name");
        let dpath = str_of(dev, "devicePath");
        let kind = vol_kind(vols, name);
        if name.is_empty() {
            errs.push(required(&ip.child("name"), ""));
        }
        if names.contains(&name) {
            errs.push(invalid(&ip.child("name"), name, "must be unique"));
        }
        match kind {
            Some(VolKind::Claim) => {}
            Some(_) => errs.push(invalid(
                &ip.child("name"),
                name,
                "can only use volume source type of PersistentVolumeClaim or Ephemeral for block mode",
            )),
            None => errs.push(not_found(&ip.child("name"), name, "")),
        }
        if dpath.is_empty() {
            errs.push(required(&ip.child("devicePath"), ""));
        }
        if paths.contains(&dpath) {
            errs.push(invalid(&ip.child("devicePath"), dpath, "must be unique"));
        }
        if !dpath.is_empty() && dpath.split('/').any(|s| s == "..") {
            errs.push(invalid(
                &ip.child("devicePath"),
                dpath,
                "can not contain backsteps ('..')",
            ));
        } else {
            paths.push(dpath);
        }
        if mounts.iter().any(|m| str_of(m, "name") == name) {
            errs.push(invalid(
                &ip.child("name"),
                name,
                "must not already exist in volumeMounts",
            ));
        }
        if mounts.iter().any(|m| str_of(m, "mountPath") == dpath) {
            errs.push(invalid(
                &ip.child("devicePath"),
                dpath,
                "must not already exist as a path in volumeMounts",
            ));
        }
        if !name.is_empty() {
            names.push(name);
        }
    }
}

fn pull_policy(policy: &str, path: &Path, errs: &mut Errs) {
    match policy {
        "Always" | "IfNotPresent" | "Never" => {}
        "" => errs.push(required(path, "")),
        other => errs.push(not_supported(
            path,
            other,
            &["Always", "IfNotPresent", "Never"],
        )),
    }
}

// --- resources ---

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

fn validate_container_resource_name(name: &str, path: &Path, errs: &mut Errs) {
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

fn validate_resources(res: &Value, claim_names: &[&str], path: &Path, errs: &mut Errs) {
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
                if !hugepage_divisible(name, &q) {
                    errs.push(invalid(
                        &fp,
                        q.canonical(),
                        &format!(
                            "{} is not positive integer multiple of {name}",
                            q.canonical()
                        ),
                    ));
                }
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
                if !hugepage_divisible(name, &q) {
                    errs.push(invalid(
                        &fp,
                        q.canonical(),
                        &format!(
                            "{} is not positive integer multiple of {name}",
                            q.canonical()
                        ),
                    ));
                }
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

fn validate_resize_policy(policies: &[Value], restart_policy: &str, path: &Path, errs: &mut Errs) {
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

// --- security context ---

fn id_range(v: Option<i64>, path: &Path, errs: &mut Errs) {
    if let Some(id) = v {
        if !(0..=MAX_UID).contains(&id) {
            errs.push(invalid(path, id, &inclusive_range_error(0, MAX_UID)));
        }
    }
}

fn seccomp_profile(sp: Option<&Value>, path: &Path, errs: &mut Errs) {
    let Some(sp) = sp else { return };
    let t = str_of(sp, "type");
    match t {
        "Localhost" | "RuntimeDefault" | "Unconfined" => {}
        "" => errs.push(required(
            &path.child("type"),
            "type is required when seccompProfile is set",
        )),
        other => errs.push(not_supported(
            &path.child("type"),
            other,
            &["Localhost", "RuntimeDefault", "Unconfined"],
        )),
    }
    let local = opt_str(sp, "localhostProfile");
    if t == "Localhost" {
        match local {
            None => errs.push(required(
                &path.child("localhostProfile"),
                "must be set when seccomp type is Localhost",
            )),
            Some(p) => local_descending_path(p, &path.child("localhostProfile"), errs),
        }
    } else if local.is_some() {
        errs.push(invalid(
            &path.child("localhostProfile"),
            Bad::Raw(sp.to_string()),
            "can only be set when seccomp type is Localhost",
        ));
    }
}

fn apparmor_profile(p: Option<&Value>, path: &Path, errs: &mut Errs) {
    let Some(p) = p else { return };
    let local = opt_str(p, "localhostProfile");
    match str_of(p, "type") {
        "Localhost" => match local {
            None => errs.push(required(
                &path.child("localhostProfile"),
                "must be set when AppArmor type is Localhost",
            )),
            Some(l) => {
                if l.trim() != l {
                    errs.push(invalid(
                        &path.child("localhostProfile"),
                        l,
                        "must not be padded with whitespace",
                    ));
                } else if l.is_empty() {
                    errs.push(required(
                        &path.child("localhostProfile"),
                        "must be set when AppArmor type is Localhost",
                    ));
                }
                if l.len() > 4095 {
                    errs.push(too_long(&path.child("localhostProfile"), 4095));
                }
            }
        },
        "RuntimeDefault" | "Unconfined" => {
            if let Some(l) = local {
                errs.push(invalid(
                    &path.child("localhostProfile"),
                    l,
                    "can only be set when AppArmor type is Localhost",
                ));
            }
        }
        "" => errs.push(required(
            &path.child("type"),
            "type is required when appArmorProfile is set",
        )),
        other => errs.push(not_supported(
            &path.child("type"),
            other,
            &["Localhost", "RuntimeDefault", "Unconfined"],
        )),
    }
}

fn validate_security_context(sc: Option<&Value>, host_users: bool, path: &Path, errs: &mut Errs) {
    let Some(sc) = sc else { return };
    id_range(int(sc, "runAsUser"), &path.child("runAsUser"), errs);
    id_range(int(sc, "runAsGroup"), &path.child("runAsGroup"), errs);
    if let Some(pm) = opt_str(sc, "procMount") {
        if pm != "Default" && pm != "Unmasked" {
            errs.push(not_supported(
                &path.child("procMount"),
                pm,
                &["Default", "Unmasked"],
            ));
        }
        if host_users && pm == "Unmasked" {
            errs.push(invalid(
                &path.child("procMount"),
                pm,
                "`hostUsers` must be false to use `Unmasked`",
            ));
        }
    }
    seccomp_profile(
        get(sc, "seccompProfile"),
        &path.child("seccompProfile"),
        errs,
    );
    if boolean(sc, "allowPrivilegeEscalation") == Some(false) {
        if boolean(sc, "privileged") == Some(true) {
            errs.push(invalid(
                path,
                Bad::Raw(sc.to_string()),
                "cannot set `allowPrivilegeEscalation` to false and `privileged` to true",
            ));
        }
        if at(sc, &["capabilities", "add"])
            .and_then(Value::as_array)
            .is_some_and(|caps| caps.iter().any(|c| c.as_str() == Some("CAP_SYS_ADMIN")))
        {
            errs.push(invalid(
                path,
                Bad::Raw(sc.to_string()),
                "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN",
            ));
        }
    }
    apparmor_profile(
        get(sc, "appArmorProfile"),
        &path.child("appArmorProfile"),
        errs,
    );
}

// --- probes and handlers ---

/// `ValidatePortNumOrName` for an int-or-string port.
pub fn port_num_or_name(v: Option<&Value>, path: &Path, errs: &mut Errs) {
    match v {
        Some(Value::String(name)) => {
            for m in is_valid_port_name(name) {
                errs.push(invalid(path, name.as_str(), &m));
            }
        }
        other => {
            let n = other.and_then(as_int).unwrap_or(0);
            for m in is_valid_port_num(n) {
                errs.push(invalid(path, n, &m));
            }
        }
    }
}

fn validate_handler(
    h: &Value,
    allow_sleep: bool,
    grace: Option<i64>,
    path: &Path,
    errs: &mut Errs,
) {
    let mut n = 0;
    let kinds: &[&str] = if allow_sleep {
        &["exec", "httpGet", "tcpSocket", "sleep"]
    } else {
        &["exec", "httpGet", "tcpSocket", "grpc"]
    };
    for kind in kinds {
        let Some(a) = get(h, kind) else { continue };
        let kp = path.child(kind);
        if n > 0 {
            errs.push(forbidden(&kp, "may not specify more than 1 handler type"));
            continue;
        }
        n += 1;
        match *kind {
            "exec" if arr(a, "command").is_empty() => errs.push(required(&kp.child("command"), "")),
            "httpGet" => {
                if str_of(a, "path").is_empty() {
                    errs.push(required(&kp.child("path"), ""));
                }
                port_num_or_name(get(a, "port"), &kp.child("port"), errs);
                let scheme = str_of(a, "scheme");
                if scheme != "HTTP" && scheme != "HTTPS" {
                    errs.push(not_supported(
                        &kp.child("scheme"),
                        scheme,
                        &["HTTP", "HTTPS"],
                    ));
                }
                for header in arr(a, "httpHeaders") {
                    let name = str_of(header, "name");
                    for m in is_http_header_name(name) {
                        errs.push(invalid(&kp.child("httpHeaders"), name, &m));
                    }
                }
            }
            "tcpSocket" => port_num_or_name(get(a, "port"), &kp.child("port"), errs),
            "grpc" => {
                let p = int(a, "port").unwrap_or(0);
                for m in is_valid_port_num(p) {
                    errs.push(invalid(&kp.child("port"), p, &m));
                }
            }
            "sleep" => {
                let secs = int(a, "seconds").unwrap_or(0);
                if let Some(g) = grace {
                    if secs < 0 || secs > g {
                        errs.push(invalid(
                            &kp,
                            secs,
                            &format!("must be non-negative and less than terminationGracePeriodSeconds ({g})"),
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    if n == 0 {
        errs.push(required(path, "must specify a handler type"));
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ProbeKind {
    Liveness,
    Readiness,
    Startup,
}

fn validate_probe(
    probe: Option<&Value>,
    kind: ProbeKind,
    grace: Option<i64>,
    path: &Path,
    errs: &mut Errs,
) {
    let Some(probe) = probe else { return };
    validate_handler(probe, false, grace, path, errs);
    for f in [
        "initialDelaySeconds",
        "timeoutSeconds",
        "periodSeconds",
        "successThreshold",
        "failureThreshold",
    ] {
        nonnegative(int(probe, f), &path.child(f), errs);
    }
    if let Some(t) = int(probe, "terminationGracePeriodSeconds") {
        if t <= 0 {
            errs.push(invalid(
                &path.child("terminationGracePeriodSeconds"),
                t,
                "must be greater than 0",
            ));
        }
    }
    match kind {
        ProbeKind::Liveness | ProbeKind::Startup => {
            let st = int(probe, "successThreshold").unwrap_or(0);
            if st != 1 {
                errs.push(invalid(&path.child("successThreshold"), st, "must be 1"));
            }
        }
        ProbeKind::Readiness => {
            if let Some(t) = get(probe, "terminationGracePeriodSeconds") {
                errs.push(invalid(
                    &path.child("terminationGracePeriodSeconds"),
                    Bad::json(t),
                    "must not be set for readinessProbes",
                ));
            }
        }
    }
}

fn validate_lifecycle(lc: &Value, grace: Option<i64>, path: &Path, errs: &mut Errs) {
    for hook in ["postStart", "preStop"] {
        if let Some(h) = get(lc, hook) {
            validate_handler(h, true, grace, &path.child(hook), errs);
        }
    }
}

fn validate_probes_and_lifecycle(ctr: &Value, grace: Option<i64>, path: &Path, errs: &mut Errs) {
    if let Some(lc) = get(ctr, "lifecycle") {
        validate_lifecycle(lc, grace, &path.child("lifecycle"), errs);
    }
    validate_probe(
        get(ctr, "livenessProbe"),
        ProbeKind::Liveness,
        grace,
        &path.child("livenessProbe"),
        errs,
    );
    validate_probe(
        get(ctr, "readinessProbe"),
        ProbeKind::Readiness,
        grace,
        &path.child("readinessProbe"),
        errs,
    );
    validate_probe(
        get(ctr, "startupProbe"),
        ProbeKind::Startup,
        grace,
        &path.child("startupProbe"),
        errs,
    );
}

struct SpecCtx<'a> {
    vols: Vols,
    claim_names: Vec<&'a str>,
    restart_policy: &'a str,
    host_users: bool,
    grace: Option<i64>,
}

/// `validateContainerCommon`.
fn validate_container_common(ctr: &Value, cx: &SpecCtx<'_>, path: &Path, errs: &mut Errs) {
    let name = str_of(ctr, "name");
    if name.is_empty() {
        errs.push(required(&path.child("name"), ""));
    } else {
        dns_label(name, &path.child("name"), errs);
    }
    if str_of(ctr, "image").is_empty() {
        errs.push(required(&path.child("image"), ""));
    }
    match str_of(ctr, "terminationMessagePolicy") {
        "File" | "FallbackToLogsOnError" => {}
        "" => errs.push(required(&path.child("terminationMessagePolicy"), "")),
        other => errs.push(not_supported(
            &path.child("terminationMessagePolicy"),
            other,
            &["File", "FallbackToLogsOnError"],
        )),
    }
    validate_container_ports(arr(ctr, "ports"), &path.child("ports"), errs);
    validate_env(arr(ctr, "env"), &path.child("env"), errs);
    validate_env_from(arr(ctr, "envFrom"), &path.child("envFrom"), errs);
    validate_volume_mounts(ctr, &cx.vols, &path.child("volumeMounts"), errs);
    validate_volume_devices(ctr, &cx.vols, &path.child("volumeDevices"), errs);
    pull_policy(
        str_of(ctr, "imagePullPolicy"),
        &path.child("imagePullPolicy"),
        errs,
    );
    validate_resources(
        get(ctr, "resources").unwrap_or(&Value::Null),
        &cx.claim_names,
        &path.child("resources"),
        errs,
    );
    validate_resize_policy(
        arr(ctr, "resizePolicy"),
        cx.restart_policy,
        &path.child("resizePolicy"),
        errs,
    );
    validate_security_context(
        get(ctr, "securityContext"),
        cx.host_users,
        &path.child("securityContext"),
        errs,
    );
}

/// `AccumulateUniqueHostPorts`.
fn host_port_conflicts(containers: &[&Value], indices: &[usize], path: &Path, errs: &mut Errs) {
    let mut seen: Vec<String> = Vec::new();
    for (ctr, ci) in containers.iter().zip(indices) {
        for (pi, port) in arr(ctr, "ports").iter().enumerate() {
            let hp = int(port, "hostPort").unwrap_or(0);
            if hp == 0 {
                continue;
            }
            let key = format!(
                "{}/{}/{}",
                str_of(port, "protocol"),
                str_of(port, "hostIP"),
                hp
            );
            let p = path.index(*ci).child("ports").index(pi).child("hostPort");
            if seen.contains(&key) {
                errs.push(duplicate(&p, key.as_str()));
            } else {
                seen.push(key);
            }
        }
    }
}

fn validate_containers(containers: &[Value], cx: &SpecCtx<'_>, path: &Path, errs: &mut Errs) {
    if containers.is_empty() {
        errs.push(required(path, ""));
        return;
    }
    let mut names: Vec<String> = Vec::new();
    for (i, ctr) in containers.iter().enumerate() {
        let p = path.index(i);
        validate_container_common(ctr, cx, &p, errs);
        check_duplicate(&mut names, str_of(ctr, "name"), &p.child("name"), errs);
        validate_probes_and_lifecycle(ctr, cx.grace, &p, errs);
        if get(ctr, "restartPolicy").is_some() {
            errs.push(forbidden(
                &p.child("restartPolicy"),
                "may not be set for non-init containers",
            ));
        }
    }
    let all: Vec<&Value> = containers.iter().collect();
    let idx: Vec<usize> = (0..containers.len()).collect();
    host_port_conflicts(&all, &idx, path, errs);
}

fn validate_init_containers(
    inits: &[Value],
    regular: &[Value],
    cx: &SpecCtx<'_>,
    path: &Path,
    errs: &mut Errs,
) {
    let mut names: Vec<String> = regular
        .iter()
        .map(|c| str_of(c, "name").to_string())
        .collect();
    for (i, ctr) in inits.iter().enumerate() {
        let p = path.index(i);
        validate_container_common(ctr, cx, &p, errs);
        let mut restart_always = false;
        if let Some(rp) = opt_str(ctr, "restartPolicy") {
            if rp != "Always" {
                errs.push(not_supported(&p.child("restartPolicy"), rp, &["Always"]));
            }
            restart_always = rp == "Always";
        }
        let name = str_of(ctr, "name");
        if names.iter().any(|n| n == name) {
            errs.push(duplicate(&p.child("name"), name));
        } else if !name.is_empty() {
            names.push(name.to_string());
        }
        // Kubernetes checks each init container as a one-element list, so its host-port
        // duplicates are always reported at index 0.
        host_port_conflicts(&[ctr], &[0], path, errs);
        if restart_always {
            validate_probes_and_lifecycle(ctr, cx.grace, &p, errs);
        } else {
            for f in [
                "lifecycle",
                "livenessProbe",
                "readinessProbe",
                "startupProbe",
            ] {
                if get(ctr, f).is_some() {
                    errs.push(forbidden(
                        &p.child(f),
                        "may not be set for init containers without restartPolicy=Always",
                    ));
                }
            }
        }
    }
}

const EPHEMERAL_ALLOWED: &[&str] = &[
    "name",
    "image",
    "command",
    "args",
    "workingDir",
    "envFrom",
    "env",
    "volumeMounts",
    "volumeDevices",
    "terminationMessagePath",
    "terminationMessagePolicy",
    "imagePullPolicy",
    "securityContext",
    "stdin",
    "stdinOnce",
    "tty",
    "targetContainerName",
];

fn validate_ephemeral_containers(spec: &Value, cx: &SpecCtx<'_>, path: &Path, errs: &mut Errs) {
    let ecs = arr(spec, "ephemeralContainers");
    if ecs.is_empty() {
        return;
    }
    let others: Vec<&str> = arr(spec, "containers")
        .iter()
        .chain(arr(spec, "initContainers"))
        .map(|c| str_of(c, "name"))
        .collect();
    let mut all: Vec<String> = others.iter().map(|s| s.to_string()).collect();
    for (i, ec) in ecs.iter().enumerate() {
        let p = path.index(i);
        validate_container_common(ec, cx, &p, errs);
        validate_container_only_for_pod(ec, &p, errs);
        check_duplicate(&mut all, str_of(ec, "name"), &p.child("name"), errs);
        let target = str_of(ec, "targetContainerName");
        if !target.is_empty() && !others.contains(&target) {
            errs.push(not_found(&p.child("targetContainerName"), target, ""));
        }
        if let Some(m) = ec.as_object() {
            for (k, v) in m {
                if !EPHEMERAL_ALLOWED.contains(&k.as_str())
                    && !super::json::semantic_eq(Some(v), None)
                {
                    errs.push(forbidden(
                        &p.child(k),
                        "cannot be set for an Ephemeral Container",
                    ));
                }
            }
        }
        for (j, vm) in arr(ec, "volumeMounts").iter().enumerate() {
            for f in ["subPath", "subPathExpr"] {
                if !str_of(vm, f).is_empty() {
                    errs.push(forbidden(
                        &p.child("volumeMounts").index(j).child(f),
                        "cannot be set for an Ephemeral Container",
                    ));
                }
            }
        }
    }
}

fn validate_container_only_for_pod(ctr: &Value, path: &Path, errs: &mut Errs) {
    let image = str_of(ctr, "image");
    if image.trim() != image {
        errs.push(invalid(
            &path.child("image"),
            image,
            "must not have leading or trailing whitespace",
        ));
    }
}

// ---------------------------------------------------------------------------------------------
// Pod-level fields

fn validate_pod_security_context(spec: &Value, path: &Path, errs: &mut Errs) {
    let Some(sc) = get(spec, "securityContext") else {
        return;
    };
    id_range(int(sc, "fsGroup"), &path.child("fsGroup"), errs);
    id_range(int(sc, "runAsUser"), &path.child("runAsUser"), errs);
    id_range(int(sc, "runAsGroup"), &path.child("runAsGroup"), errs);
    for (g, gid) in arr(sc, "supplementalGroups").iter().enumerate() {
        id_range(
            as_int(gid),
            &path.child("supplementalGroups").index(g),
            errs,
        );
    }
    // In the internal API these two live in the security context, hence the path.
    if boolean(spec, "shareProcessNamespace") == Some(true)
        && boolean(spec, "hostPID") == Some(true)
    {
        errs.push(invalid(
            &path.child("shareProcessNamespace"),
            true,
            "ShareProcessNamespace and HostPID cannot both be enabled",
        ));
    }
    let host_network = boolean(spec, "hostNetwork") == Some(true);
    let host_ipc = boolean(spec, "hostIPC") == Some(true);
    let mut sysctl_names: Vec<&str> = Vec::new();
    for (i, s) in arr(sc, "sysctls").iter().enumerate() {
        let np = path.child("sysctls").index(i).child("name");
        let name = str_of(s, "name");
        if name.is_empty() {
            errs.push(required(&np, ""));
        } else if !is_valid_sysctl_name(name) {
            errs.push(invalid(
                &np,
                name,
                "must have at most 253 characters and match regex ^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$",
            ));
        } else if sysctl_names.contains(&name) {
            errs.push(duplicate(&np, name));
        }
        let normalized = name.replace('/', ".");
        if host_network && normalized.starts_with("net.") {
            errs.push(invalid(
                &np,
                name,
                "may not be specified when 'hostNetwork' is true",
            ));
        } else if host_ipc
            && (normalized.starts_with("kernel.shm")
                || normalized.starts_with("kernel.msg")
                || normalized == "kernel.sem"
                || normalized.starts_with("fs.mqueue."))
        {
            errs.push(invalid(
                &np,
                name,
                "may not be specified when 'hostIPC' is true",
            ));
        }
        sysctl_names.push(name);
    }
    if let Some(p) = opt_str(sc, "fsGroupChangePolicy") {
        if p != "Always" && p != "OnRootMismatch" {
            errs.push(not_supported(
                &path.child("fsGroupChangePolicy"),
                p,
                &["Always", "OnRootMismatch"],
            ));
        }
    }
    seccomp_profile(
        get(sc, "seccompProfile"),
        &path.child("seccompProfile"),
        errs,
    );
    apparmor_profile(
        get(sc, "appArmorProfile"),
        &path.child("appArmorProfile"),
        errs,
    );
    if let Some(p) = opt_str(sc, "supplementalGroupsPolicy") {
        if p != "Merge" && p != "Strict" {
            errs.push(not_supported(
                &path.child("supplementalGroupsPolicy"),
                p,
                &["Merge", "Strict"],
            ));
        }
    }
    if let Some(p) = opt_str(sc, "seLinuxChangePolicy") {
        if p != "MountOption" && p != "Recursive" {
            errs.push(not_supported(
                &path.child("seLinuxChangePolicy"),
                p,
                &["MountOption", "Recursive"],
            ));
        }
    }
}

fn is_valid_sysctl_name(name: &str) -> bool {
    if name.len() > 253 {
        return false;
    }
    name.split(['.', '/']).all(|seg| {
        let (Some(f), Some(l)) = (seg.chars().next(), seg.chars().last()) else {
            return false;
        };
        let ok = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
        ok(f) && ok(l) && seg.chars().all(|c| ok(c) || c == '-' || c == '_')
    })
}

fn node_selector_requirement(
    req: &Value,
    allow_invalid_values: bool,
    path: &Path,
    errs: &mut Errs,
) {
    let values = arr(req, "values");
    match str_of(req, "operator") {
        "In" | "NotIn" => {
            if values.is_empty() {
                errs.push(required(
                    &path.child("values"),
                    "must be specified when `operator` is 'In' or 'NotIn'",
                ));
            }
        }
        "Exists" | "DoesNotExist" => {
            if !values.is_empty() {
                errs.push(forbidden(
                    &path.child("values"),
                    "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                ));
            }
        }
        "Gt" | "Lt" => {
            if values.len() != 1 {
                errs.push(required(
                    &path.child("values"),
                    "must be specified single value when `operator` is 'Lt' or 'Gt'",
                ));
            }
        }
        other => errs.push(invalid(
            &path.child("operator"),
            other,
            "not a valid selector operator",
        )),
    }
    validate_label_name(str_of(req, "key"), &path.child("key"), errs);
    if !allow_invalid_values {
        for (i, v) in values.iter().enumerate() {
            let v = v.as_str().unwrap_or("");
            for m in is_label_value(v) {
                errs.push(invalid(&path.child("values").index(i), v, &m));
            }
        }
    }
}

fn node_selector_term(term: &Value, allow_invalid_values: bool, path: &Path, errs: &mut Errs) {
    for (j, req) in arr(term, "matchExpressions").iter().enumerate() {
        node_selector_requirement(
            req,
            allow_invalid_values,
            &path.child("matchExpressions").index(j),
            errs,
        );
    }
    for (j, req) in arr(term, "matchFields").iter().enumerate() {
        let rp = path.child("matchFields").index(j);
        match str_of(req, "operator") {
            "In" | "NotIn" => {
                if arr(req, "values").len() != 1 {
                    errs.push(required(&rp.child("values"), "must be only one value when `operator` is 'In' or 'NotIn' for node field selector"));
                }
            }
            other => errs.push(invalid(
                &rp.child("operator"),
                other,
                "not a valid selector operator",
            )),
        }
        let key = str_of(req, "key");
        if key != "metadata.name" {
            errs.push(invalid(
                &rp.child("key"),
                key,
                "not a valid field selector key",
            ));
        } else {
            for (k, v) in arr(req, "values").iter().enumerate() {
                name_rule(
                    v.as_str().unwrap_or(""),
                    NameRule::Subdomain,
                    false,
                    &rp.child("values").index(k),
                    errs,
                );
            }
        }
    }
}

/// `ValidateNodeSelector`.
pub fn node_selector(ns: &Value, allow_invalid_values: bool, path: &Path, errs: &mut Errs) {
    let terms = arr(ns, "nodeSelectorTerms");
    let tp = path.child("nodeSelectorTerms");
    if terms.is_empty() {
        errs.push(required(&tp, "must have at least one node selector term"));
        return;
    }
    for (i, t) in terms.iter().enumerate() {
        node_selector_term(t, allow_invalid_values, &tp.index(i), errs);
    }
}

fn weight(w: Option<i64>, path: &Path, errs: &mut Errs) {
    let w = w.unwrap_or(0);
    if w <= 0 || w > 100 {
        errs.push(invalid(path, w, "must be in the range 1-100"));
    }
}

fn label_keys(keys: &[Value], sel: Option<&Value>, path: &Path, errs: &mut Errs) {
    if keys.is_empty() {
        return;
    }
    if sel.is_none() {
        errs.push(forbidden(
            path,
            "must not be specified when labelSelector is not set",
        ));
        return;
    }
    for (i, k) in keys.iter().enumerate() {
        validate_label_name(k.as_str().unwrap_or(""), &path.index(i), errs);
    }
}

fn pod_affinity_term(term: &Value, path: &Path, errs: &mut Errs) {
    validate_label_selector(
        get(term, "labelSelector"),
        false,
        &path.child("labelSelector"),
        errs,
    );
    validate_label_selector(
        get(term, "namespaceSelector"),
        false,
        &path.child("namespaceSelector"),
        errs,
    );
    for ns in arr(term, "namespaces") {
        // Kubernetes reports these at the singular `namespace`.
        name_rule(
            ns.as_str().unwrap_or(""),
            NameRule::Label,
            false,
            &path.child("namespace"),
            errs,
        );
    }
    let sel = get(term, "labelSelector");
    label_keys(
        arr(term, "matchLabelKeys"),
        sel,
        &path.child("matchLabelKeys"),
        errs,
    );
    label_keys(
        arr(term, "mismatchLabelKeys"),
        sel,
        &path.child("mismatchLabelKeys"),
        errs,
    );
    let key = str_of(term, "topologyKey");
    if key.is_empty() {
        errs.push(required(&path.child("topologyKey"), "can not be empty"));
    }
    validate_label_name(key, &path.child("topologyKey"), errs);
}

fn pod_affinity(pa: &Value, path: &Path, errs: &mut Errs) {
    for (i, t) in arr(pa, "requiredDuringSchedulingIgnoredDuringExecution")
        .iter()
        .enumerate()
    {
        pod_affinity_term(
            t,
            &path
                .child("requiredDuringSchedulingIgnoredDuringExecution")
                .index(i),
            errs,
        );
    }
    for (i, t) in arr(pa, "preferredDuringSchedulingIgnoredDuringExecution")
        .iter()
        .enumerate()
    {
        let tp = path
            .child("preferredDuringSchedulingIgnoredDuringExecution")
            .index(i);
        weight(int(t, "weight"), &tp.child("weight"), errs);
        pod_affinity_term(
            get(t, "podAffinityTerm").unwrap_or(&Value::Null),
            &tp.child("podAffinityTerm"),
            errs,
        );
    }
}

fn validate_affinity(aff: Option<&Value>, path: &Path, errs: &mut Errs) {
    let Some(aff) = aff else { return };
    if let Some(na) = get(aff, "nodeAffinity") {
        let np = path.child("nodeAffinity");
        if let Some(req) = get(na, "requiredDuringSchedulingIgnoredDuringExecution") {
            node_selector(
                req,
                false,
                &np.child("requiredDuringSchedulingIgnoredDuringExecution"),
                errs,
            );
        }
        for (i, t) in arr(na, "preferredDuringSchedulingIgnoredDuringExecution")
            .iter()
            .enumerate()
        {
            let tp = np
                .child("preferredDuringSchedulingIgnoredDuringExecution")
                .index(i);
            weight(int(t, "weight"), &tp.child("weight"), errs);
            // Preferred terms tolerate invalid label values.
            node_selector_term(
                get(t, "preference").unwrap_or(&Value::Null),
                true,
                &tp.child("preference"),
                errs,
            );
        }
    }
    if let Some(pa) = get(aff, "podAffinity") {
        pod_affinity(pa, &path.child("podAffinity"), errs);
    }
    if let Some(pa) = get(aff, "podAntiAffinity") {
        pod_affinity(pa, &path.child("podAntiAffinity"), errs);
    }
}

fn validate_dns_config(spec: &Value, path: &Path, errs: &mut Errs) {
    let cfg = get(spec, "dnsConfig");
    if str_of(spec, "dnsPolicy") == "None" {
        let Some(cfg) = cfg else {
            errs.push(required(
                path,
                "must provide `dnsConfig` when `dnsPolicy` is None",
            ));
            return;
        };
        if arr(cfg, "nameservers").is_empty() {
            errs.push(required(
                &path.child("nameservers"),
                "must provide at least one DNS nameserver when `dnsPolicy` is None",
            ));
            return;
        }
    }
    let Some(cfg) = cfg else { return };
    let ns = arr(cfg, "nameservers");
    if ns.len() > 3 {
        errs.push(invalid(
            &path.child("nameservers"),
            Bad::Raw(go::string_slice(get(cfg, "nameservers"))),
            "must not have more than 3 nameservers",
        ));
    }
    for (i, n) in ns.iter().enumerate() {
        validate_ip(
            &path.child("nameservers").index(i),
            n.as_str().unwrap_or(""),
            errs,
        );
    }
    let searches: Vec<&str> = arr(cfg, "searches")
        .iter()
        .map(|s| s.as_str().unwrap_or(""))
        .collect();
    if searches.len() > 32 {
        errs.push(invalid(
            &path.child("searches"),
            Bad::Raw(go::string_slice(get(cfg, "searches"))),
            "must not have more than 32 search paths",
        ));
    }
    if searches.join(" ").len() > 2048 {
        errs.push(invalid(
            &path.child("searches"),
            Bad::Raw(go::string_slice(get(cfg, "searches"))),
            "must not have more than 2048 characters (including spaces) in the search list",
        ));
    }
    for (i, search) in searches.iter().enumerate() {
        // RelaxedDNSSearchValidation (beta, on in 1.33): "." and underscores are allowed.
        if *search != "." {
            let trimmed = search.strip_suffix('.').unwrap_or(search);
            for m in is_dns1123_subdomain_with_underscore(trimmed) {
                errs.push(invalid(&path.child("searches").index(i), trimmed, &m));
            }
        }
    }
    for (i, o) in arr(cfg, "options").iter().enumerate() {
        if str_of(o, "name").is_empty() {
            errs.push(required(
                &path.child("options").index(i),
                "must not be empty",
            ));
        }
    }
}

/// `ValidateTolerations`.
pub fn validate_tolerations(tols: &[Value], path: &Path, errs: &mut Errs) {
    for (i, t) in tols.iter().enumerate() {
        let ip = path.index(i);
        let key = str_of(t, "key");
        let op = str_of(t, "operator");
        let effect = str_of(t, "effect");
        let value = str_of(t, "value");
        if !key.is_empty() {
            validate_label_name(key, &ip.child("key"), errs);
        }
        if key.is_empty() && op != "Exists" {
            errs.push(invalid(&ip.child("operator"), op, "operator must be Exists when `key` is empty, which means \"match all values and all keys\""));
        }
        if get(t, "tolerationSeconds").is_some() && effect != "NoExecute" {
            errs.push(invalid(
                &ip.child("effect"),
                effect,
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
        match op {
            "Equal" | "" => {
                let msgs = is_label_value(value);
                if !msgs.is_empty() {
                    errs.push(invalid(&ip.child("operator"), value, &msgs.join(";")));
                }
            }
            "Exists" => {
                if !value.is_empty() {
                    errs.push(invalid(
                        &ip.child("operator"),
                        value,
                        "value must be empty when `operator` is 'Exists'",
                    ));
                }
            }
            other => errs.push(not_supported(
                &ip.child("operator"),
                other,
                &["Equal", "Exists"],
            )),
        }
        if !effect.is_empty() {
            taint_effect(effect, true, &ip.child("effect"), errs);
        }
    }
}

/// `validateTaintEffect`.
pub fn taint_effect(effect: &str, allow_empty: bool, path: &Path, errs: &mut Errs) {
    if !allow_empty && effect.is_empty() {
        errs.push(required(path, ""));
        return;
    }
    if !["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&effect) {
        errs.push(not_supported(
            path,
            effect,
            &["NoSchedule", "PreferNoSchedule", "NoExecute"],
        ));
    }
}

fn validate_topology_spread(constraints: &[Value], path: &Path, errs: &mut Errs) {
    for (i, c) in constraints.iter().enumerate() {
        let p = path.index(i);
        let max_skew = int(c, "maxSkew").unwrap_or(0);
        if max_skew <= 0 {
            errs.push(invalid(&p.child("maxSkew"), max_skew, NOT_POSITIVE));
        }
        let key = str_of(c, "topologyKey");
        if key.is_empty() {
            errs.push(required(&p.child("topologyKey"), "can not be empty"));
        }
        let action = str_of(c, "whenUnsatisfiable");
        if action != "DoNotSchedule" && action != "ScheduleAnyway" {
            errs.push(not_supported(
                &p.child("whenUnsatisfiable"),
                action,
                &["DoNotSchedule", "ScheduleAnyway"],
            ));
        }
        if constraints[i + 1..]
            .iter()
            .any(|o| str_of(o, "topologyKey") == key && str_of(o, "whenUnsatisfiable") == action)
        {
            errs.push(duplicate(
                &p.child("{topologyKey, whenUnsatisfiable}"),
                format!("{{{key}, {action}}}"),
            ));
        }
        if let Some(md) = int(c, "minDomains") {
            if md <= 0 {
                errs.push(invalid(&p.child("minDomains"), md, NOT_POSITIVE));
            }
            if action != "DoNotSchedule" {
                errs.push(invalid(
                    &p.child("minDomains"),
                    md,
                    &format!(
                        "can only use minDomains if whenUnsatisfiable=DoNotSchedule, not {action}"
                    ),
                ));
            }
        }
        for f in ["nodeAffinityPolicy", "nodeTaintsPolicy"] {
            if let Some(v) = opt_str(c, f) {
                if v != "Honor" && v != "Ignore" {
                    errs.push(not_supported(&p.child(f), v, &["Honor", "Ignore"]));
                }
            }
        }
        let sel = get(c, "labelSelector");
        let keys = arr(c, "matchLabelKeys");
        if !keys.is_empty() {
            let mp = p.child("matchLabelKeys");
            if sel.is_none() {
                errs.push(forbidden(
                    &mp,
                    "must not be specified when labelSelector is not set",
                ));
            }
            for (j, k) in keys.iter().enumerate() {
                let k = k.as_str().unwrap_or("");
                validate_label_name(k, &mp.index(j), errs);
                let in_selector = sel.is_some_and(|s| {
                    obj(s, "matchLabels").is_some_and(|m| m.contains_key(k))
                        || arr(s, "matchExpressions")
                            .iter()
                            .any(|e| str_of(e, "key") == k)
                });
                if in_selector {
                    errs.push(invalid(
                        &mp.index(j),
                        k,
                        "exists in both matchLabelKeys and labelSelector",
                    ));
                }
            }
        }
        validate_label_selector(sel, false, &p.child("labelSelector"), errs);
    }
}

fn validate_os(spec: &Value, path: &Path, errs: &mut Errs) {
    let Some(os) = get(spec, "os") else { return };
    let name = str_of(os, "name");
    if name.is_empty() {
        errs.push(required(&path.child("os").child("name"), "cannot be empty"));
        return;
    }
    if name != "linux" && name != "windows" {
        errs.push(not_supported(
            &path.child("os"),
            name,
            &["linux", "windows"],
        ));
        return;
    }
    let containers = arr(spec, "containers").iter().map(|c| ("containers", c));
    let all: Vec<(&str, usize, &Value)> = containers
        .enumerate()
        .map(|(i, (k, c))| (k, i, c))
        .chain(
            arr(spec, "initContainers")
                .iter()
                .enumerate()
                .map(|(i, c)| ("initContainers", i, c)),
        )
        .chain(
            arr(spec, "ephemeralContainers")
                .iter()
                .enumerate()
                .map(|(i, c)| ("ephemeralContainers", i, c)),
        )
        .collect();
    let sc = get(spec, "securityContext");
    if name == "linux" {
        if sc.and_then(|s| get(s, "windowsOptions")).is_some() {
            errs.push(forbidden(
                &path.child("securityContext").child("windowsOptions"),
                "windows options cannot be set for a linux pod",
            ));
        }
        for (k, i, c) in &all {
            if at(c, &["securityContext", "windowsOptions"]).is_some() {
                errs.push(forbidden(
                    &path
                        .child(k)
                        .index(*i)
                        .child("securityContext")
                        .child("windowsOptions"),
                    "windows options cannot be set for a linux pod",
                ));
            }
        }
        return;
    }
    const WIN: &str = "cannot be set for a windows pod";
    if let Some(sc) = sc {
        let sp = path.child("securityContext");
        for f in [
            "appArmorProfile",
            "seLinuxOptions",
            "seccompProfile",
            "fsGroup",
            "fsGroupChangePolicy",
            "sysctls",
            "runAsUser",
            "runAsGroup",
            "supplementalGroups",
            "supplementalGroupsPolicy",
            "seLinuxChangePolicy",
        ] {
            if get(sc, f).is_some() && !(f == "sysctls" && arr(sc, f).is_empty()) {
                errs.push(forbidden(&sp.child(f), WIN));
            }
        }
    }
    for f in ["hostPID", "hostIPC"] {
        if boolean(spec, f) == Some(true) {
            errs.push(forbidden(&path.child(f), WIN));
        }
    }
    for f in ["hostUsers", "shareProcessNamespace"] {
        if get(spec, f).is_some() {
            errs.push(forbidden(&path.child(f), WIN));
        }
    }
    for (k, i, c) in &all {
        let Some(csc) = get(c, "securityContext") else {
            continue;
        };
        let cp = path.child(k).index(*i).child("securityContext");
        for f in [
            "appArmorProfile",
            "seLinuxOptions",
            "seccompProfile",
            "capabilities",
            "readOnlyRootFilesystem",
            "privileged",
            "allowPrivilegeEscalation",
            "procMount",
            "runAsUser",
            "runAsGroup",
        ] {
            if get(csc, f).is_some() {
                errs.push(forbidden(&cp.child(f), WIN));
            }
        }
    }
}

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

const UPDATABLE_POD_FIELDS: &str = "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

/// Go field name for a PodSpec JSON key, for the update diff.
fn go_field_name(key: &str) -> String {
    match key {
        "dnsPolicy" => "DNSPolicy".into(),
        "dnsConfig" => "DNSConfig".into(),
        "hostIPC" => "HostIPC".into(),
        "hostPID" => "HostPID".into(),
        "os" => "OS".into(),
        _ => {
            let mut c = key.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        }
    }
}

/// A compact stand-in for the `cmp.Diff` Kubernetes appends to the pod update error: one
/// `-`/`+` pair per changed top-level spec field.
fn spec_diff(old: &Value, new: &Value) -> String {
    let mut out = String::from("  core.PodSpec{\n");
    let empty = Map::new();
    let (o, n) = (
        old.as_object().unwrap_or(&empty),
        new.as_object().unwrap_or(&empty),
    );
    let mut keys: Vec<&String> = o.keys().collect();
    keys.extend(n.keys().filter(|k| !o.contains_key(*k)));
    for k in keys {
        if !semantic_eq(o.get(k), n.get(k)) {
            let show = |v: Option<&Value>| v.map(Value::to_string).unwrap_or_else(|| "nil".into());
            out.push_str(&format!(
                "- \t{}: {},\n+ \t{}: {},\n",
                go_field_name(k),
                show(o.get(k)),
                go_field_name(k),
                show(n.get(k))
            ));
        }
    }
    out.push_str("  }\n");
    out
}

/// Pod update (`ValidatePodUpdate`).
pub fn validate_pod_update(pod: &Value, old: &Value, errs: &mut Errs) {
    let meta_path = Path::new("metadata");
    let null = Value::Null;
    validate_object_meta_update(
        get(pod, "metadata").unwrap_or(&null),
        get(old, "metadata").unwrap_or(&null),
        FinalizerRule::Core,
        &meta_path,
        errs,
    );
    validate_pod_metadata_and_spec(pod, false, errs);
    let new_ann = obj(at(pod, &["metadata"]).unwrap_or(&null), "annotations");
    let old_ann = obj(at(old, &["metadata"]).unwrap_or(&null), "annotations");
    for (k, ov) in string_map(old_ann) {
        let nv = new_ann.and_then(|m| m.get(k)).and_then(Value::as_str);
        if nv == Some(ov) {
            continue;
        }
        let ap = meta_path.child("annotations").key(k);
        if k.starts_with(APPARMOR_PREFIX) {
            errs.push(forbidden(
                &ap,
                "may not remove or update AppArmor annotations",
            ));
        }
        if k == MIRROR_POD_ANNOTATION {
            errs.push(forbidden(
                &ap,
                "may not remove or update mirror pod annotation",
            ));
        }
    }
    for (k, _) in string_map(new_ann) {
        if old_ann.is_some_and(|m| m.contains_key(k)) {
            continue;
        }
        let ap = meta_path.child("annotations").key(k);
        if k.starts_with(APPARMOR_PREFIX) {
            errs.push(forbidden(&ap, "may not add AppArmor annotations"));
        }
        if k == MIRROR_POD_ANNOTATION {
            errs.push(forbidden(&ap, "may not add mirror pod annotation"));
        }
    }

    let spec = get(pod, "spec").unwrap_or(&null);
    let old_spec = get(old, "spec").unwrap_or(&null);
    let sp = Path::new("spec");
    for f in ["containers", "initContainers"] {
        let (n, o) = (arr(spec, f), arr(old_spec, f));
        if n.len() != o.len() {
            errs.push(forbidden(
                &sp.child(f),
                "pod updates may not add or remove containers",
            ));
            return;
        }
        for (i, c) in n.iter().enumerate() {
            let image = str_of(c, "image");
            if image.is_empty() {
                errs.push(required(&sp.child(f).index(i).child("image"), ""));
            }
            if image.trim() != image {
                errs.push(invalid(
                    &sp.child(f).index(i).child("image"),
                    image,
                    "must not have leading or trailing whitespace",
                ));
            }
        }
    }
    let ads_path = sp.child("activeDeadlineSeconds");
    match (
        int(spec, "activeDeadlineSeconds"),
        int(old_spec, "activeDeadlineSeconds"),
    ) {
        (Some(n), old_v) => {
            if !(0..=MAX_INT32).contains(&n) {
                errs.push(invalid(&ads_path, n, &inclusive_range_error(0, MAX_INT32)));
                return;
            }
            if old_v.is_some_and(|o| o < n) {
                errs.push(invalid(
                    &ads_path,
                    n,
                    "must be less than or equal to previous value",
                ));
                return;
            }
        }
        (None, Some(_)) => errs.push(invalid(
            &ads_path,
            Bad::Null,
            "must not update from a positive integer to nil value",
        )),
        (None, None) => {}
    }
    // Only additions to tolerations (tolerationSeconds may change on existing ones).
    let new_tols = arr(spec, "tolerations");
    for old_t in arr(old_spec, "tolerations") {
        let found = new_tols.iter().any(|nt| {
            let strip = |t: &Value| {
                let mut t = t.clone();
                if let Some(m) = t.as_object_mut() {
                    m.remove("tolerationSeconds");
                }
                t
            };
            semantic_eq(Some(&strip(old_t)), Some(&strip(nt)))
        });
        if !found {
            errs.push(forbidden(
                &sp.child("tolerations"),
                "existing toleration can not be modified except its tolerationSeconds",
            ));
            break;
        }
    }
    // Only removals of scheduling gates.
    let old_gates: Vec<&str> = arr(old_spec, "schedulingGates")
        .iter()
        .map(|g| str_of(g, "name"))
        .collect();
    for (i, g) in arr(spec, "schedulingGates").iter().enumerate() {
        let name = str_of(g, "name");
        if !old_gates.contains(&name) {
            errs.push(forbidden(
                &sp.child("schedulingGates").index(i).child("name"),
                &format!("only deletion is allowed, but found new scheduling gate '{name}'"),
            ));
        }
    }
    if semantic_eq(Some(spec), Some(old_spec)) {
        return;
    }
    // Munge the mutable fields back to their old values and require equality of the rest.
    let mut munged = spec.clone();
    if let Some(m) = munged.as_object_mut() {
        for f in ["containers", "initContainers"] {
            if let Some(Value::Array(cs)) = m.get_mut(f) {
                for (i, c) in cs.iter_mut().enumerate() {
                    let old_image = arr(old_spec, f)
                        .get(i)
                        .and_then(|oc| oc.get("image"))
                        .cloned();
                    if let Some(cm) = c.as_object_mut() {
                        match old_image {
                            Some(img) => cm.insert("image".into(), img),
                            None => cm.remove("image"),
                        };
                    }
                }
            }
        }
        for f in ["activeDeadlineSeconds", "schedulingGates", "tolerations"] {
            match old_spec.get(f) {
                Some(v) => m.insert(f.into(), v.clone()),
                None => m.remove(f),
            };
        }
        let old_grace = int(old_spec, "terminationGracePeriodSeconds");
        if old_grace.is_some_and(|g| g < 0) && int(spec, "terminationGracePeriodSeconds") == Some(1)
        {
            if let Some(v) = old_spec.get("terminationGracePeriodSeconds") {
                m.insert("terminationGracePeriodSeconds".into(), v.clone());
            }
        }
        // Gated pods may gain node selector entries (no mutations or deletions).
        if !arr(old_spec, "schedulingGates").is_empty()
            && !semantic_eq(m.get("nodeSelector"), old_spec.get("nodeSelector"))
        {
            let new_sel = obj(spec, "nodeSelector");
            let ok = string_map(obj(old_spec, "nodeSelector"))
                .into_iter()
                .all(|(k, v)| new_sel.and_then(|s| s.get(k)).and_then(Value::as_str) == Some(v));
            if !ok {
                errs.push(invalid(
                    &sp.child("nodeSelector"),
                    Bad::Raw(go::string_map(new_sel)),
                    "only additions to spec.nodeSelector are allowed (no mutations or deletions)",
                ));
            }
            match old_spec.get("nodeSelector") {
                Some(v) => m.insert("nodeSelector".into(), v.clone()),
                None => m.remove("nodeSelector"),
            };
        }
    }
    if !semantic_eq(Some(&munged), Some(old_spec)) {
        errs.push(forbidden(
            &sp,
            &format!(
                "pod updates may not change fields other than {UPDATABLE_POD_FIELDS}\n{}",
                spec_diff(old_spec, &munged)
            ),
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

/// Shared by workloads: the `s(...)` helper is re-exported for concise string values.
pub fn str_bad(v: &str) -> Bad {
    s(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(spec: Value) -> Value {
        json!({"metadata": {"name": "web", "namespace": "default"}, "spec": spec})
    }

    fn good_spec() -> Value {
        json!({
            "containers": [{"name": "app", "image": "nginx", "imagePullPolicy": "Always",
                "terminationMessagePolicy": "File", "terminationMessagePath": "/dev/termination-log", "resources": {}}],
            "restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "terminationGracePeriodSeconds": 30,
            "schedulerName": "default-scheduler", "securityContext": {}
        })
    }

    fn causes(v: &Value) -> Vec<(String, String, String)> {
        let mut e = Vec::new();
        validate_pod_create(v, &mut e);
        e.into_iter()
            .map(|c| (c.reason, c.field, c.message))
            .collect()
    }

    fn c(reason: &str, field: &str, msg: &str) -> (String, String, String) {
        (reason.into(), field.into(), msg.into())
    }

    #[test]
    fn valid_pod_has_no_causes() {
        assert_eq!(causes(&pod(good_spec())), vec![]);
    }

    #[test]
    fn image_required() {
        let mut s = good_spec();
        s["containers"][0]["image"] = json!("");
        assert_eq!(
            causes(&pod(s)),
            vec![c(
                "FieldValueRequired",
                "spec.containers[0].image",
                "Required value"
            )]
        );
    }

    #[test]
    fn containers_required_and_duplicates() {
        let mut s = good_spec();
        s["containers"] = json!([]);
        assert_eq!(
            causes(&pod(s)),
            vec![c("FieldValueRequired", "spec.containers", "Required value")]
        );
        let mut s = good_spec();
        let ctr = s["containers"][0].clone();
        s["containers"] = json!([ctr.clone(), ctr]);
        assert_eq!(
            causes(&pod(s)),
            vec![c(
                "FieldValueDuplicate",
                "spec.containers[1].name",
                "Duplicate value: \"app\""
            )]
        );
    }

    #[test]
    fn ports() {
        let mut s = good_spec();
        s["containers"][0]["ports"] = json!([
            {"containerPort": 70000, "protocol": "TCP", "name": "http"},
            {"containerPort": 80, "protocol": "FOO", "name": "http"},
            {"protocol": "TCP", "name": "this-name-is-too-long"}
        ]);
        assert_eq!(
            causes(&pod(s)),
            vec![
                c(
                    "FieldValueInvalid",
                    "spec.containers[0].ports[0].containerPort",
                    "Invalid value: 70000: must be between 1 and 65535, inclusive"
                ),
                c(
                    "FieldValueDuplicate",
                    "spec.containers[0].ports[1].name",
                    "Duplicate value: \"http\""
                ),
                c(
                    "FieldValueNotSupported",
                    "spec.containers[0].ports[1].protocol",
                    "Unsupported value: \"FOO\": supported values: \"SCTP\", \"TCP\", \"UDP\""
                ),
                c(
                    "FieldValueInvalid",
                    "spec.containers[0].ports[2].name",
                    "Invalid value: \"this-name-is-too-long\": must be no more than 15 characters"
                ),
                c(
                    "FieldValueRequired",
                    "spec.containers[0].ports[2].containerPort",
                    "Required value"
                ),
            ]
        );
    }

    #[test]
    fn volumes_and_mounts() {
        let mut s = good_spec();
        s["volumes"] = json!([{"name": "data", "emptyDir": {}}, {"name": "data", "emptyDir": {}}, {"name": "two", "emptyDir": {}, "hostPath": {"path": "/x"}}, {"name": "none"}]);
        s["containers"][0]["volumeMounts"] =
            json!([{"name": "missing", "mountPath": "/m"}, {"name": "data", "mountPath": "/m"}]);
        assert_eq!(
            causes(&pod(s)),
            vec![
                c(
                    "FieldValueDuplicate",
                    "spec.volumes[1].name",
                    "Duplicate value: \"data\""
                ),
                c(
                    "FieldValueForbidden",
                    "spec.volumes[2].hostPath",
                    "Forbidden: may not specify more than 1 volume type"
                ),
                c(
                    "FieldValueRequired",
                    "spec.volumes[3]",
                    "Required value: must specify a volume type"
                ),
                c(
                    "FieldValueNotFound",
                    "spec.containers[0].volumeMounts[0].name",
                    "Not found: \"missing\""
                ),
                c(
                    "FieldValueInvalid",
                    "spec.containers[0].volumeMounts[1].mountPath",
                    "Invalid value: \"/m\": must be unique"
                ),
            ]
        );
    }

    #[test]
    fn enums_and_env() {
        let mut s = good_spec();
        s["restartPolicy"] = json!("Sometimes");
        s["dnsPolicy"] = json!("");
        s["containers"][0]["env"] =
            json!([{"name": ""}, {"name": "A=B"}, {"name": "X", "valueFrom": {}}]);
        assert_eq!(
            causes(&pod(s)),
            vec![
                c("FieldValueRequired", "spec.containers[0].env[0].name", "Required value"),
                c("FieldValueInvalid", "spec.containers[0].env[1].name", "Invalid value: \"A=B\": a valid environment variable name must consist only of printable ASCII characters other than '='"),
                c("FieldValueInvalid", "spec.containers[0].env[2].valueFrom", "Invalid value: \"\": must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"),
                c("FieldValueNotSupported", "spec.restartPolicy", "Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\""),
                c("FieldValueRequired", "spec.dnsPolicy", "Required value"),
            ]
        );
    }

    #[test]
    fn resources_limits_vs_requests() {
        let mut s = good_spec();
        s["containers"][0]["resources"] = json!({"limits": {"cpu": "500m", "nvidia.com/gpu": "1"}, "requests": {"cpu": "1", "memory": "-1", "example.com/foo": "2"}});
        assert_eq!(
            causes(&pod(s)),
            vec![
                c(
                    "FieldValueInvalid",
                    "spec.containers[0].resources.requests",
                    "Invalid value: \"1\": must be less than or equal to cpu limit of 500m"
                ),
                c(
                    "FieldValueInvalid",
                    "spec.containers[0].resources.requests[memory]",
                    "Invalid value: \"-1\": must be greater than or equal to 0"
                ),
                c(
                    "FieldValueRequired",
                    "spec.containers[0].resources.limits",
                    "Required value: Limit must be set for non overcommitable resources"
                ),
            ]
        );
    }

    #[test]
    fn probes() {
        let mut s = good_spec();
        s["containers"][0]["livenessProbe"] = json!({"httpGet": {"path": "/", "port": 0, "scheme": "HTTP"}, "successThreshold": 2, "timeoutSeconds": 1, "periodSeconds": 10, "failureThreshold": 3});
        s["containers"][0]["readinessProbe"] = json!({"successThreshold": 1});
        assert_eq!(
            causes(&pod(s)),
            vec![
                c(
                    "FieldValueInvalid",
                    "spec.containers[0].livenessProbe.httpGet.port",
                    "Invalid value: 0: must be between 1 and 65535, inclusive"
                ),
                c(
                    "FieldValueInvalid",
                    "spec.containers[0].livenessProbe.successThreshold",
                    "Invalid value: 2: must be 1"
                ),
                c(
                    "FieldValueRequired",
                    "spec.containers[0].readinessProbe",
                    "Required value: must specify a handler type"
                ),
            ]
        );
    }

    #[test]
    fn update_rules() {
        let old = pod(good_spec());
        let mut new = old.clone();
        new["spec"]["containers"][0]["image"] = json!("nginx:2");
        new["spec"]["activeDeadlineSeconds"] = json!(100);
        new["spec"]["tolerations"] = json!([{"operator": "Exists"}]);
        let mut e = Vec::new();
        validate_pod_update(&new, &old, &mut e);
        assert!(e.is_empty(), "{e:?}");
        new["spec"]["restartPolicy"] = json!("Never");
        let mut e = Vec::new();
        validate_pod_update(&new, &old, &mut e);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].field, "spec");
        assert!(e[0].message.starts_with("Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n"));
        assert!(e[0].message.contains("RestartPolicy: \"Always\""));
        let mut removed = old.clone();
        removed["spec"]["containers"] = json!([]);
        let mut e = Vec::new();
        validate_pod_update(&removed, &old, &mut e);
        assert_eq!(
            e.last().unwrap().message,
            "Forbidden: pod updates may not add or remove containers"
        );
    }

    #[test]
    fn tolerations_and_gates() {
        let mut s = good_spec();
        s["tolerations"] = json!([{"key": "", "operator": "Equal", "value": "x"}, {"key": "k", "operator": "Exists", "value": "v", "effect": "Bad"}]);
        s["schedulingGates"] = json!([{"name": "a/b"}, {"name": "a/b"}]);
        assert_eq!(
            causes(&pod(s)),
            vec![
                c("FieldValueDuplicate", "spec.schedulingGates[1]", "Duplicate value: \"a/b\""),
                c("FieldValueInvalid", "spec.tolerations[0].operator", "Invalid value: \"Equal\": operator must be Exists when `key` is empty, which means \"match all values and all keys\""),
                c("FieldValueInvalid", "spec.tolerations[1].operator", "Invalid value: \"v\": value must be empty when `operator` is 'Exists'"),
                c("FieldValueNotSupported", "spec.tolerations[1].effect", "Unsupported value: \"Bad\": supported values: \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\""),
            ]
        );
    }

    #[test]
    fn odd_types_do_not_panic() {
        let weird = json!({"metadata": [], "spec": {"containers": "nope", "volumes": {"a": 1}, "tolerations": 5, "affinity": "x"}});
        let mut e = Vec::new();
        validate_pod_create(&weird, &mut e);
        assert!(!e.is_empty());
        let mut e = Vec::new();
        validate_pod_update(&weird, &json!(null), &mut e);
    }
}
