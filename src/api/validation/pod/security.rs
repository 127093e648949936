//! Security contexts: the container `securityContext` and the pod-level one
//! (`ValidateSecurityContext`, `ValidatePodSecurityContext`), with seccomp and AppArmor profiles
//! and sysctls.
//!
//! Contract: user and group ids lie in 0..=2^32-1; profiles carry a localhost path exactly when
//! their type is Localhost; sysctl names follow Kubernetes' pattern and may not reach into a host
//! namespace the pod shares (`hostNetwork`, `hostIPC`).

use serde_json::Value;

use super::fields::local_descending_path;
use crate::api::validation::field::{
    duplicate, invalid, not_supported, required, too_long, Bad, Errs, Path,
};
use crate::api::validation::json::{arr, as_int, at, boolean, get, int, opt_str, str_of};
use crate::api::validation::names::inclusive_range_error;

const MAX_UID: i64 = 4_294_967_295;

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

/// `ValidateSecurityContext` (a container's).
pub(super) fn validate_security_context(
    sc: Option<&Value>,
    host_users: bool,
    path: &Path,
    errs: &mut Errs,
) {
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

/// `validatePodSpecSecurityContext`.
pub(super) fn validate_pod_security_context(spec: &Value, path: &Path, errs: &mut Errs) {
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
