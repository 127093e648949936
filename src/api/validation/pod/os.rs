//! `spec.os` (`validateOS` and the OS-specific parts of `validateWindows` / `validateLinux`).
//!
//! Contract: the OS name is linux or windows; a linux pod may not carry Windows options, a
//! windows pod may not set the Linux-only security fields or host namespaces.

use serde_json::Value;

use crate::api::validation::field::{forbidden, not_supported, required, Errs, Path};
use crate::api::validation::json::{arr, at, boolean, get, str_of};

/// `validateOS`, with the OS-specific field rules of `validateWindows` / `validateLinux`.
pub(super) fn validate_os(spec: &Value, path: &Path, errs: &mut Errs) {
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
