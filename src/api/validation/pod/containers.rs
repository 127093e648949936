//! Containers, init containers and ephemeral containers (`validateContainerCommon`,
//! `validateContainers`, `validateInitContainers`, `validateEphemeralContainers`).
//!
//! Contract: every container kind goes through the same common checks (name, image, ports, env,
//! mounts, resources, security context); the list rules differ as in Kubernetes: names are
//! unique across regular and init containers, init containers need `restartPolicy: Always` for
//! probes and lifecycle hooks, ephemeral containers may set only the fields Kubernetes allows.
//! Host-port conflicts carry Kubernetes' indices (always 0 for init containers).

use serde_json::Value;

use super::env::{validate_env, validate_env_from};
use super::fields::{dns_label, pull_policy};
use super::mounts::{validate_volume_devices, validate_volume_mounts};
use super::probes::validate_probes_and_lifecycle;
use super::resources::{validate_resize_policy, validate_resources};
use super::security::validate_security_context;
use super::volumes::Vols;
use crate::api::validation::field::{
    duplicate, forbidden, invalid, not_found, not_supported, required, Errs, Path,
};
use crate::api::validation::json::{arr, get, int, opt_str, semantic_eq, str_of};
use crate::api::validation::meta::check_duplicate;
use crate::api::validation::names::{is_valid_port_name, is_valid_port_num};

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

/// What every container of one pod spec is checked against.
pub(super) struct SpecCtx<'a> {
    /// Volumes that validated cleanly, the only ones mounts and devices may use.
    pub(super) vols: Vols,
    /// `spec.resourceClaims` names, the only ones `resources.claims` may use.
    pub(super) claim_names: Vec<&'a str>,
    pub(super) restart_policy: &'a str,
    pub(super) host_users: bool,
    pub(super) grace: Option<i64>,
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

/// `validateContainers`.
pub(super) fn validate_containers(
    containers: &[Value],
    cx: &SpecCtx<'_>,
    path: &Path,
    errs: &mut Errs,
) {
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

/// `validateInitContainers`.
pub(super) fn validate_init_containers(
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

/// `validateEphemeralContainers`.
pub(super) fn validate_ephemeral_containers(
    spec: &Value,
    cx: &SpecCtx<'_>,
    path: &Path,
    errs: &mut Errs,
) {
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
                if !EPHEMERAL_ALLOWED.contains(&k.as_str()) && !semantic_eq(Some(v), None) {
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

/// `validateContainerOnlyForPod`.
pub(super) fn validate_container_only_for_pod(ctr: &Value, path: &Path, errs: &mut Errs) {
    let image = str_of(ctr, "image");
    if image.trim() != image {
        errs.push(invalid(
            &path.child("image"),
            image,
            "must not have leading or trailing whitespace",
        ));
    }
}
