//! Kinds validated for metadata only, plus coordination.k8s.io Lease.
//!
//! Contract: [`lease`] follows `ValidateLease` (positive `leaseDurationSeconds`, non-negative
//! `leaseTransitions`, strategy/preferredHolder consistency); [`metadata_only`] applies the
//! generic object-metadata rules with the kind's name rule (RBAC objects use path-segment names,
//! everything else DNS subdomains) for built-in kinds without dedicated validation here.

use super::field::{forbidden, invalid, not_supported, Bad, Errs, Path};
use super::json::{get, int, opt_str};
use super::meta::{validate_object_meta, validate_object_meta_update, FinalizerRule};
use super::names::{is_qualified_name, NameRule};
use serde_json::Value;

fn meta_of(v: &Value) -> &Value {
    static NULL: Value = Value::Null;
    get(v, "metadata").unwrap_or(&NULL)
}

/// Metadata-only validation for create (`old` = None) or update.
pub fn metadata_only(
    obj: &Value,
    old: Option<&Value>,
    rule: NameRule,
    fin: FinalizerRule,
    errs: &mut Errs,
) {
    let path = Path::new("metadata");
    match old {
        None => validate_object_meta(meta_of(obj), rule, fin, &path, errs),
        Some(o) => validate_object_meta_update(meta_of(obj), meta_of(o), fin, &path, errs),
    }
}

/// coordination.k8s.io/v1 Lease create/update.
pub fn lease(l: &Value, old: Option<&Value>, errs: &mut Errs) {
    // Lease uses apimachinery's ObjectMeta validation, without core's finalizer-name rule.
    metadata_only(l, old, NameRule::Subdomain, FinalizerRule::Generic, errs);
    let spec = get(l, "spec").unwrap_or(&Value::Null);
    let sp = Path::new("spec");
    if let Some(d) = int(spec, "leaseDurationSeconds").filter(|d| *d <= 0) {
        errs.push(invalid(
            &sp.child("leaseDurationSeconds"),
            d,
            "must be greater than 0",
        ));
    }
    if let Some(t) = int(spec, "leaseTransitions").filter(|t| *t < 0) {
        errs.push(invalid(
            &sp.child("leaseTransitions"),
            t,
            "must be greater than or equal to 0",
        ));
    }
    let strategy = opt_str(spec, "strategy");
    if let Some(s) = strategy {
        // Kubernetes appends "strategy" to the strategy's own path here.
        let p = sp.child("strategy").child("strategy");
        if !s.contains('/') {
            if s != "OldestEmulationVersion" {
                errs.push(not_supported(&p, s, &["OldestEmulationVersion"]));
            }
        } else {
            for msg in is_qualified_name(s) {
                errs.push(invalid(&p, Bad::Str(s.to_string()), &msg));
            }
        }
    }
    if opt_str(spec, "preferredHolder").is_some_and(|h| !h.is_empty())
        && strategy.is_none_or(str::is_empty)
    {
        errs.push(forbidden(
            &sp.child("preferredHolder"),
            "may only be specified if `strategy` is defined",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lease_rules() {
        let mut e = Vec::new();
        lease(
            &json!({"metadata": {"name": "l"}, "spec": {"leaseDurationSeconds": 0, "preferredHolder": "x"}}),
            None,
            &mut e,
        );
        let got: Vec<(String, String)> = e.into_iter().map(|c| (c.field, c.message)).collect();
        assert_eq!(
            got,
            vec![
                (
                    "spec.leaseDurationSeconds".into(),
                    "Invalid value: 0: must be greater than 0".into()
                ),
                (
                    "spec.preferredHolder".into(),
                    "Forbidden: may only be specified if `strategy` is defined".into()
                ),
            ]
        );
    }

    #[test]
    fn rbac_names_are_path_segments() {
        let mut e = Vec::new();
        metadata_only(
            &json!({"metadata": {"name": "system:admin"}}),
            None,
            NameRule::PathSegment,
            FinalizerRule::Core,
            &mut e,
        );
        assert!(e.is_empty());
        metadata_only(
            &json!({"metadata": {"name": "a/b"}}),
            None,
            NameRule::PathSegment,
            FinalizerRule::Core,
            &mut e,
        );
        assert_eq!(e[0].message, "Invalid value: \"a/b\": may not contain '/'");
    }
}
