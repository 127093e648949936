//! Container `env` and `envFrom` (`ValidateEnv`, `ValidateEnvFrom`).
//!
//! Contract: names follow the relaxed environment variable rule (the 1.33 default); each
//! `valueFrom` and `envFrom` entry names exactly one source, with causes at Kubernetes' paths
//! (`envFrom`'s on the list itself).

use serde_json::Value;

use super::downward::{object_field_selector, resource_field_selector, ENV_DOWNWARD_FIELDS};
use super::fields::name_rule;
use crate::api::validation::field::{invalid, required, Errs, Path};
use crate::api::validation::json::{get, str_of};
use crate::api::validation::names::{is_config_map_key, is_relaxed_env_var_name, NameRule};

/// `ValidateEnv`.
pub(super) fn validate_env(env: &[Value], path: &Path, errs: &mut Errs) {
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

/// `ValidateEnvFrom`.
pub(super) fn validate_env_from(env_from: &[Value], path: &Path, errs: &mut Errs) {
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
