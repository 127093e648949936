//! Scheduling constraints: node selectors, node and pod (anti-)affinity, tolerations and topology
//! spread constraints (`ValidateNodeSelector`, `validateAffinity`, `ValidateTolerations`,
//! `validateTopologySpreadConstraints`).
//!
//! Contract: keys and values follow the label rules; operators and the number of values they take
//! follow Kubernetes; preferred node-affinity terms tolerate invalid label values, as in
//! Kubernetes.

use serde_json::Value;

use super::fields::name_rule;
use crate::api::validation::field::{
    duplicate, forbidden, invalid, not_supported, required, Errs, Path,
};
use crate::api::validation::json::{arr, get, int, obj, opt_str, str_of};
use crate::api::validation::meta::{validate_label_name, validate_label_selector};
use crate::api::validation::names::{is_label_value, NameRule};

const NOT_POSITIVE: &str = "must be greater than zero";

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

/// `validateAffinity`.
pub(super) fn validate_affinity(aff: Option<&Value>, path: &Path, errs: &mut Errs) {
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

/// `validateTopologySpreadConstraints`.
pub(super) fn validate_topology_spread(constraints: &[Value], path: &Path, errs: &mut Errs) {
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
