//! Container `volumeMounts` and `volumeDevices` (`ValidateVolumeMounts`,
//! `ValidateVolumeDevices`).
//!
//! Contract: mounts and devices may only use volumes that validated cleanly; mount paths and
//! device paths are unique and disjoint; block devices need a claim-backed volume.

use serde_json::Value;

use super::fields::local_descending_path;
use super::volumes::{vol_kind, Vols};
use super::VolKind;
use crate::api::validation::field::{
    forbidden, invalid, not_found, not_supported, required, Errs, Path,
};
use crate::api::validation::json::{arr, at, boolean, opt_str, str_of};

fn privileged(ctr: &Value) -> bool {
    at(ctr, &["securityContext", "privileged"]).and_then(Value::as_bool) == Some(true)
}

/// `ValidateVolumeMounts`.
pub(super) fn validate_volume_mounts(ctr: &Value, vols: &Vols, path: &Path, errs: &mut Errs) {
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

/// `ValidateVolumeDevices`.
pub(super) fn validate_volume_devices(ctr: &Value, vols: &Vols, path: &Path, errs: &mut Errs) {
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
