//! Pod updates (`ValidatePodUpdate`): what may change on an existing pod.
//!
//! Contract: only container images, `activeDeadlineSeconds` (downwards, never unset),
//! tolerations (additions, and `tolerationSeconds` of existing ones), scheduling gates
//! (removals), node selector additions while gated and the `terminationGracePeriodSeconds`
//! fix-up may change; anything else yields Kubernetes' "pod updates may not change fields other
//! than ..." cause with a compact spec diff. AppArmor and mirror-pod annotations are immutable.

use serde_json::{Map, Value};

use super::fields::MAX_INT32;
use super::{validate_pod_metadata_and_spec, APPARMOR_PREFIX, MIRROR_POD_ANNOTATION};
use crate::api::validation::field::{forbidden, go, invalid, required, Bad, Errs, Path};
use crate::api::validation::json::{arr, at, get, int, obj, semantic_eq, str_of, string_map};
use crate::api::validation::meta::{validate_object_meta_update, FinalizerRule};
use crate::api::validation::names::inclusive_range_error;

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
