//! `spec.volumes` (`ValidateVolumes`, `validateVolumeSource`): one source per volume, each
//! source's required fields, projected sources and ephemeral claim templates.
//!
//! Contract: [`validate_volumes`] reports every problem and returns the volumes that validated
//! cleanly with what backs them ([`VolKind`]), because Kubernetes lets mounts and devices use
//! only those. Sources are checked in Kubernetes' order, so "may not specify more than 1 volume
//! type" lands on the same field as in kube-apiserver.

use serde_json::Value;

use super::downward::downward_api_file;
use super::fields::{
    dns_label, dns_subdomain, file_mode, local_descending_path, local_non_reserved_path,
    no_backsteps, pull_policy,
};
use super::{PodOpts, VolKind};
use crate::api::validation::field::{
    duplicate, forbidden, go, invalid, not_supported, required, too_long, Bad, Errs, Path,
};
use crate::api::validation::json::{arr, at, get, int, obj, opt_str, str_of};
use crate::api::validation::meta::{validate_annotations, validate_labels};
use crate::api::validation::names::is_dns1123_subdomain;
use crate::api::validation::quantity;

/// Volumes that validated cleanly, with what backs each; the only ones mounts may use.
pub(super) type Vols = Vec<(String, VolKind)>;

pub(super) fn vol_kind(vols: &Vols, name: &str) -> Option<VolKind> {
    vols.iter().find(|(n, _)| n == name).map(|(_, k)| *k)
}

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

/// `validateProjectionSources`.
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

/// `validateVolumeSource`: returns what backs the volume.
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
                        crate::api::validation::core::validate_pvc_spec(
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
pub(super) fn validate_volumes(
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
