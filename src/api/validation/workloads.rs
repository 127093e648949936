//! Workload controllers: Deployment, ReplicaSet, StatefulSet, DaemonSet (apps/v1), Job and
//! CronJob (batch/v1) and ReplicationController (core/v1).
//!
//! Contract: selectors are required (except DaemonSet, where Kubernetes only reports the
//! template mismatch) and non-empty, must be valid and must match the template labels
//! ("`selector` does not match template `labels`"); templates are validated as pod templates
//! under `spec.template` (`spec.jobTemplate.spec.template` for CronJobs) with the controller's
//! restart-policy rule; strategies, counts and limits are checked as in Kubernetes 1.33.
//! Updates: apps/v1 selectors are immutable (the registry strategies' rule), StatefulSet specs
//! only allow the documented mutable fields, Job selectors/templates/completions are immutable
//! (templates become mutable for scheduling directives while suspended and never started).
//! StatefulSet pod templates are validated like 1.34 does (1.33 skipped them), counting
//! volumeClaimTemplates as volumes.

use super::field::{forbidden, go, invalid, not_supported, required, Bad, Errs, Path};
use super::json::{arr, at, get, int, obj, opt_str, semantic_eq, str_of};
use super::meta::{
    immutable, nonnegative, validate_label_selector, validate_object_meta,
    validate_object_meta_update, FinalizerRule, Selector, FIELD_IMMUTABLE,
};
use super::names::{is_dns1123_label, is_valid_percent, NameRule};
use super::pod::{validate_pod_template_spec, VolKind};
use serde_json::Value;

fn meta_of(v: &Value) -> &Value {
    static NULL: Value = Value::Null;
    get(v, "metadata").unwrap_or(&NULL)
}

fn spec_of(v: &Value) -> &Value {
    static NULL: Value = Value::Null;
    get(v, "spec").unwrap_or(&NULL)
}

fn meta(obj_v: &Value, old: Option<&Value>, rule: NameRule, errs: &mut Errs) {
    let path = Path::new("metadata");
    match old {
        None => validate_object_meta(meta_of(obj_v), rule, FinalizerRule::Core, &path, errs),
        Some(o) => validate_object_meta_update(
            meta_of(obj_v),
            meta_of(o),
            FinalizerRule::Core,
            &path,
            errs,
        ),
    }
}

fn selector_bad(sel: &Value) -> Bad {
    Bad::Raw(go::label_selector(sel))
}

fn template_labels_bad(template: &Value) -> Bad {
    Bad::Raw(go::string_map(
        at(template, &["metadata", "labels"]).and_then(Value::as_object),
    ))
}

/// `ValidatePositiveIntOrPercent`.
fn positive_int_or_percent(v: Option<&Value>, path: &Path, errs: &mut Errs) {
    match v {
        Some(Value::String(s)) => {
            for msg in is_valid_percent(s) {
                errs.push(invalid(path, Bad::Raw(s.clone()), &msg));
            }
        }
        Some(other) => nonnegative(super::json::as_int(other), path, errs),
        None => {}
    }
}

/// `getIntOrPercentValue`: the percentage number, or the integer (strings that are not
/// percentages read as their integer value, 0 when not numeric).
fn int_or_percent_value(v: Option<&Value>) -> i64 {
    match v {
        Some(Value::String(s)) => match s.strip_suffix('%') {
            Some(n) if is_valid_percent(s).is_empty() => n.parse().unwrap_or(0),
            _ => s.parse().unwrap_or(0),
        },
        Some(other) => super::json::as_int(other).unwrap_or(0),
        None => 0,
    }
}

/// `IsNotMoreThan100Percent`.
fn not_more_than_100_percent(v: Option<&Value>, path: &Path, errs: &mut Errs) {
    if let Some(Value::String(s)) = v {
        if is_valid_percent(s).is_empty() && int_or_percent_value(v) > 100 {
            errs.push(invalid(
                path,
                Bad::Raw(s.clone()),
                "must not be greater than 100%",
            ));
        }
    }
}

fn ios_bad(v: Option<&Value>) -> Bad {
    Bad::Raw(v.map(go::int_or_string).unwrap_or_else(|| "0".into()))
}

/// Checks shared by the replica-set style controllers: a required, valid, non-empty selector
/// matching the template, a valid template with `restartPolicy: Always` and no
/// `activeDeadlineSeconds`.
fn replica_set_like(
    spec: &Value,
    what: &str,
    forbid_msg_kind: &str,
    extra_vols: &[(String, VolKind)],
    errs: &mut Errs,
) {
    let sp = Path::new("spec");
    let sel = get(spec, "selector");
    match sel {
        None => errs.push(required(&sp.child("selector"), "")),
        Some(s) => {
            validate_label_selector(Some(s), false, &sp.child("selector"), errs);
            if obj(s, "matchLabels").map_or(0, |m| m.len()) + arr(s, "matchExpressions").len() == 0
            {
                errs.push(invalid(
                    &sp.child("selector"),
                    selector_bad(s),
                    &format!("empty selector is invalid for {what}"),
                ));
            }
        }
    }
    let template = get(spec, "template").unwrap_or(&Value::Null);
    let tp = sp.child("template");
    match Selector::from_label_selector(sel) {
        Err(_) => errs.push(invalid(
            &sp.child("selector"),
            sel.map(selector_bad).unwrap_or(Bad::Null),
            if what == "statefulset" {
                ""
            } else {
                "invalid label selector"
            },
        )),
        Ok(selector) => {
            if !selector.is_empty()
                && !selector
                    .matches(at(template, &["metadata", "labels"]).and_then(Value::as_object))
            {
                errs.push(invalid(
                    &tp.child("metadata").child("labels"),
                    template_labels_bad(template),
                    "`selector` does not match template `labels`",
                ));
            }
            validate_pod_template_spec(template, extra_vols, &tp, errs);
        }
    }
    restart_always(template, &tp, errs);
    if at(template, &["spec", "activeDeadlineSeconds"]).is_some() {
        errs.push(forbidden(
            &tp.child("spec").child("activeDeadlineSeconds"),
            &format!("activeDeadlineSeconds in {forbid_msg_kind} is not Supported"),
        ));
    }
}

fn restart_always(template: &Value, tp: &Path, errs: &mut Errs) {
    let rp = at(template, &["spec", "restartPolicy"])
        .and_then(Value::as_str)
        .unwrap_or("");
    if rp != "Always" {
        errs.push(not_supported(
            &tp.child("spec").child("restartPolicy"),
            rp,
            &["Always"],
        ));
    }
}

fn selector_immutable(new: &Value, old: &Value, errs: &mut Errs) {
    let (n, o) = (get(spec_of(new), "selector"), get(spec_of(old), "selector"));
    immutable(
        n,
        o,
        n.map(selector_bad).unwrap_or(Bad::Null),
        &Path::new("spec").child("selector"),
        errs,
    );
}

// ---------------------------------------------------------------------------------------------

/// Deployment create/update.
pub fn deployment(d: &Value, old: Option<&Value>, errs: &mut Errs) {
    meta(d, old, NameRule::Subdomain, errs);
    let spec = spec_of(d);
    let sp = Path::new("spec");
    nonnegative(int(spec, "replicas"), &sp.child("replicas"), errs);
    replica_set_like(spec, "deployment", "ReplicaSet", &[], errs);
    let strategy = get(spec, "strategy").unwrap_or(&Value::Null);
    let stp = sp.child("strategy");
    let ru = get(strategy, "rollingUpdate");
    match str_of(strategy, "type") {
        "Recreate" => {
            if ru.is_some() {
                errs.push(forbidden(
                    &stp.child("rollingUpdate"),
                    "may not be specified when strategy `type` is 'Recreate'",
                ));
            }
        }
        "RollingUpdate" => match ru {
            None => errs.push(required(
                &stp.child("rollingUpdate"),
                "this should be defaulted and never be nil",
            )),
            Some(ru) => {
                let rp = stp.child("rollingUpdate");
                let (mu, ms) = (get(ru, "maxUnavailable"), get(ru, "maxSurge"));
                positive_int_or_percent(mu, &rp.child("maxUnavailable"), errs);
                positive_int_or_percent(ms, &rp.child("maxSurge"), errs);
                if int_or_percent_value(mu) == 0 && int_or_percent_value(ms) == 0 {
                    errs.push(invalid(
                        &rp.child("maxUnavailable"),
                        ios_bad(mu),
                        "may not be 0 when `maxSurge` is 0",
                    ));
                }
                not_more_than_100_percent(mu, &rp.child("maxUnavailable"), errs);
            }
        },
        other => {
            let shown = format!("apps.DeploymentStrategy{{Type:{}, RollingUpdate:(*apps.RollingUpdateDeployment)(nil)}}", go::quote(other));
            errs.push(not_supported(
                &stp,
                Bad::Raw(shown),
                &["Recreate", "RollingUpdate"],
            ));
        }
    }
    let min_ready = int(spec, "minReadySeconds").unwrap_or(0);
    nonnegative(Some(min_ready), &sp.child("minReadySeconds"), errs);
    nonnegative(
        int(spec, "revisionHistoryLimit"),
        &sp.child("revisionHistoryLimit"),
        errs,
    );
    if let Some(rb) = get(spec, "rollbackTo") {
        nonnegative(
            int(rb, "revision"),
            &sp.child("rollback").child("version"),
            errs,
        );
    }
    if let Some(pds) = int(spec, "progressDeadlineSeconds") {
        nonnegative(Some(pds), &sp.child("progressDeadlineSeconds"), errs);
        if pds <= min_ready {
            errs.push(invalid(
                &sp.child("progressDeadlineSeconds"),
                pds,
                "must be greater than minReadySeconds",
            ));
        }
    }
    if let Some(old) = old {
        selector_immutable(d, old, errs);
    }
}

/// ReplicaSet create/update.
pub fn replica_set(rs: &Value, old: Option<&Value>, errs: &mut Errs) {
    meta(rs, old, NameRule::Subdomain, errs);
    let spec = spec_of(rs);
    let sp = Path::new("spec");
    nonnegative(int(spec, "replicas"), &sp.child("replicas"), errs);
    nonnegative(
        int(spec, "minReadySeconds"),
        &sp.child("minReadySeconds"),
        errs,
    );
    // Kubernetes' ReplicaSet message really says "deployment".
    replica_set_like(spec, "deployment", "ReplicaSet", &[], errs);
    if let Some(old) = old {
        selector_immutable(rs, old, errs);
    }
}

/// DaemonSet create/update.
pub fn daemon_set(ds: &Value, old: Option<&Value>, errs: &mut Errs) {
    meta(ds, old, NameRule::Subdomain, errs);
    let spec = spec_of(ds);
    let sp = Path::new("spec");
    let sel = get(spec, "selector");
    validate_label_selector(sel, false, &sp.child("selector"), errs);
    let template = get(spec, "template").unwrap_or(&Value::Null);
    let tp = sp.child("template");
    if let Ok(selector) = Selector::from_label_selector(sel) {
        if !selector.matches(at(template, &["metadata", "labels"]).and_then(Value::as_object)) {
            errs.push(invalid(
                &tp.child("metadata").child("labels"),
                template_labels_bad(template),
                "`selector` does not match template `labels`",
            ));
        }
    }
    if let Some(s) = sel {
        if obj(s, "matchLabels").map_or(0, |m| m.len()) + arr(s, "matchExpressions").len() == 0 {
            errs.push(invalid(
                &sp.child("selector"),
                selector_bad(s),
                "empty selector is invalid for daemonset",
            ));
        }
    }
    validate_pod_template_spec(template, &[], &tp, errs);
    restart_always(template, &tp, errs);
    if at(template, &["spec", "activeDeadlineSeconds"]).is_some() {
        errs.push(forbidden(
            &tp.child("spec").child("activeDeadlineSeconds"),
            "activeDeadlineSeconds in DaemonSet is not Supported",
        ));
    }
    nonnegative(
        int(spec, "minReadySeconds"),
        &sp.child("minReadySeconds"),
        errs,
    );
    let strategy = get(spec, "updateStrategy").unwrap_or(&Value::Null);
    let stp = sp.child("updateStrategy");
    match str_of(strategy, "type") {
        "OnDelete" => {}
        "RollingUpdate" => match get(strategy, "rollingUpdate") {
            None => errs.push(required(&stp.child("rollingUpdate"), "")),
            Some(ru) => {
                let rp = stp.child("rollingUpdate");
                let (mu, ms) = (get(ru, "maxUnavailable"), get(ru, "maxSurge"));
                positive_int_or_percent(mu, &rp.child("maxUnavailable"), errs);
                positive_int_or_percent(ms, &rp.child("maxSurge"), errs);
                not_more_than_100_percent(mu, &rp.child("maxUnavailable"), errs);
                not_more_than_100_percent(ms, &rp.child("maxSurge"), errs);
                let (has_u, has_s) = (int_or_percent_value(mu) != 0, int_or_percent_value(ms) != 0);
                if has_u && has_s {
                    errs.push(invalid(
                        &rp.child("maxSurge"),
                        ios_bad(ms),
                        "may not be set when maxUnavailable is non-zero",
                    ));
                } else if !has_u && !has_s {
                    errs.push(required(
                        &rp.child("maxUnavailable"),
                        "cannot be 0 when maxSurge is 0",
                    ));
                }
            }
        },
        _ => errs.push(not_supported(
            &stp,
            Bad::Raw(strategy.to_string()),
            &["RollingUpdate", "OnDelete"],
        )),
    }
    nonnegative(
        int(spec, "revisionHistoryLimit"),
        &sp.child("revisionHistoryLimit"),
        errs,
    );
    if let Some(old) = old {
        selector_immutable(ds, old, errs);
    }
}

/// StatefulSet create/update.
pub fn stateful_set(ss: &Value, old: Option<&Value>, errs: &mut Errs) {
    meta(ss, old, NameRule::Label, errs);
    let spec = spec_of(ss);
    let sp = Path::new("spec");
    match str_of(spec, "podManagementPolicy") {
        "" => errs.push(required(&sp.child("podManagementPolicy"), "")),
        "OrderedReady" | "Parallel" => {}
        other => errs.push(invalid(
            &sp.child("podManagementPolicy"),
            other,
            "must be 'OrderedReady' or 'Parallel'",
        )),
    }
    let strategy = get(spec, "updateStrategy").unwrap_or(&Value::Null);
    let stp = sp.child("updateStrategy");
    let ru = get(strategy, "rollingUpdate");
    match str_of(strategy, "type") {
        "" => errs.push(required(&stp, "")),
        "OnDelete" => {
            if let Some(ru) = ru {
                errs.push(invalid(
                    &stp.child("rollingUpdate"),
                    Bad::Raw(ru.to_string()),
                    "only allowed for updateStrategy 'RollingUpdate'",
                ));
            }
        }
        "RollingUpdate" => {
            if let Some(ru) = ru {
                let rp = stp.child("rollingUpdate");
                nonnegative(int(ru, "partition"), &rp.child("partition"), errs);
                if let Some(mu) = get(ru, "maxUnavailable") {
                    let mp = rp.child("maxUnavailable");
                    positive_int_or_percent(Some(mu), &mp, errs);
                    if int_or_percent_value(Some(mu)) == 0 {
                        errs.push(invalid(&mp, ios_bad(Some(mu)), "cannot be 0"));
                    }
                    not_more_than_100_percent(Some(mu), &mp, errs);
                }
            }
        }
        _ => errs.push(invalid(
            &stp,
            Bad::Raw(strategy.to_string()),
            "must be 'RollingUpdate' or 'OnDelete'",
        )),
    }
    if let Some(policy) = get(spec, "persistentVolumeClaimRetentionPolicy") {
        for f in ["whenDeleted", "whenScaled"] {
            let v = str_of(policy, f);
            if v != "Retain" && v != "Delete" {
                errs.push(not_supported(
                    &sp.child("persistentVolumeClaimRetentionPolicy").child(f),
                    v,
                    &["Retain", "Delete"],
                ));
            }
        }
    }
    nonnegative(int(spec, "replicas"), &sp.child("replicas"), errs);
    nonnegative(
        int(spec, "minReadySeconds"),
        &sp.child("minReadySeconds"),
        errs,
    );
    if let Some(ord) = get(spec, "ordinals") {
        // Kubernetes builds this path as a single child named "ordinals.start".
        nonnegative(int(ord, "start"), &sp.child("ordinals.start"), errs);
    }
    // Claim templates count as volumes for the template's mounts (as in 1.34).
    let claim_vols: Vec<(String, VolKind)> = arr(spec, "volumeClaimTemplates")
        .iter()
        .filter_map(|v| at(v, &["metadata", "name"]).and_then(Value::as_str))
        .filter(|n| !n.is_empty())
        .map(|n| (n.to_string(), VolKind::Claim))
        .collect();
    replica_set_like(spec, "statefulset", "StatefulSet", &claim_vols, errs);
    for (i, vct) in arr(spec, "volumeClaimTemplates").iter().enumerate() {
        let vp = sp.child("volumeClaimTemplates").index(i);
        let name = at(vct, &["metadata", "name"])
            .and_then(Value::as_str)
            .unwrap_or("");
        if name.is_empty() {
            errs.push(required(
                &vp.child("metadata").child("name"),
                "name or generateName is required",
            ));
        } else {
            for msg in super::names::is_dns1123_subdomain(name) {
                errs.push(invalid(&vp.child("metadata").child("name"), name, &msg));
            }
        }
        super::core::validate_pvc_spec(
            get(vct, "spec").unwrap_or(&Value::Null),
            &vp.child("spec"),
            errs,
        );
    }
    let Some(old) = old else { return };
    let mut n = spec.clone();
    let o = spec_of(old);
    if let Some(m) = n.as_object_mut() {
        for f in [
            "replicas",
            "template",
            "updateStrategy",
            "minReadySeconds",
            "ordinals",
            "persistentVolumeClaimRetentionPolicy",
        ] {
            match o.get(f) {
                Some(v) => m.insert(f.into(), v.clone()),
                None => m.remove(f),
            };
        }
    }
    if !semantic_eq(Some(&n), Some(o)) {
        errs.push(forbidden(
            &sp,
            "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
        ));
    }
}

/// ReplicationController create/update.
pub fn replication_controller(rc: &Value, old: Option<&Value>, errs: &mut Errs) {
    meta(rc, old, NameRule::Subdomain, errs);
    let spec = spec_of(rc);
    let sp = Path::new("spec");
    nonnegative(
        int(spec, "minReadySeconds"),
        &sp.child("minReadySeconds"),
        errs,
    );
    let selector = obj(spec, "selector");
    if selector.is_none_or(|s| s.is_empty()) {
        errs.push(required(&sp.child("selector"), ""));
    }
    nonnegative(int(spec, "replicas"), &sp.child("replicas"), errs);
    let tp = sp.child("template");
    let Some(template) = get(spec, "template") else {
        errs.push(required(&tp, ""));
        return;
    };
    let sel = Selector::from_map(selector);
    if !sel.is_empty()
        && !sel.matches(at(template, &["metadata", "labels"]).and_then(Value::as_object))
    {
        errs.push(invalid(
            &tp.child("metadata").child("labels"),
            template_labels_bad(template),
            "`selector` does not match template `labels`",
        ));
    }
    validate_pod_template_spec(template, &[], &tp, errs);
    restart_always(template, &tp, errs);
    if at(template, &["spec", "activeDeadlineSeconds"]).is_some() {
        errs.push(forbidden(
            &tp.child("spec").child("activeDeadlineSeconds"),
            "activeDeadlineSeconds in ReplicationController is not Supported",
        ));
    }
}

// ---------------------------------------------------------------------------------------------
// batch/v1

const LEGACY_CONTROLLER_UID: &str = "controller-uid";
const LEGACY_JOB_NAME: &str = "job-name";
pub const CONTROLLER_UID_LABEL: &str = "batch.kubernetes.io/controller-uid";
pub const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";

/// `ValidateHasLabel`.
fn has_label(template: &Value, key: &str, expected: &str, path: &Path, errs: &mut Errs) {
    let labels = at(template, &["metadata", "labels"]).and_then(Value::as_object);
    let lp = path.child("labels").key(key);
    match labels.and_then(|l| l.get(key)) {
        None => errs.push(required(&lp, &format!("must be '{expected}'"))),
        Some(v) if v.as_str() != Some(expected) => errs.push(invalid(
            &lp,
            Bad::Raw(go::string_map(labels)),
            &format!("must be '{expected}'"),
        )),
        Some(_) => {}
    }
}

/// `validateJobSpec` (shared with CronJob job templates).
fn validate_job_spec(spec: &Value, path: &Path, errs: &mut Errs) {
    for f in [
        "parallelism",
        "completions",
        "activeDeadlineSeconds",
        "backoffLimit",
        "ttlSecondsAfterFinished",
        "backoffLimitPerIndex",
    ] {
        nonnegative(int(spec, f), &path.child(f), errs);
    }
    if let Some(mfi) = int(spec, "maxFailedIndexes") {
        nonnegative(Some(mfi), &path.child("maxFailedIndexes"), errs);
        if get(spec, "backoffLimitPerIndex").is_none() {
            errs.push(required(
                &path.child("backoffLimitPerIndex"),
                "when maxFailedIndexes is specified",
            ));
        }
    }
    let mode = opt_str(spec, "completionMode");
    if let Some(m) = mode {
        if m != "NonIndexed" && m != "Indexed" {
            errs.push(not_supported(
                &path.child("completionMode"),
                m,
                &["NonIndexed", "Indexed"],
            ));
        }
        if m == "Indexed" {
            if get(spec, "completions").is_none() {
                errs.push(required(
                    &path.child("completions"),
                    "when completion mode is Indexed",
                ));
            }
            if let Some(p) = int(spec, "parallelism").filter(|p| *p > 100_000) {
                errs.push(invalid(
                    &path.child("parallelism"),
                    p,
                    "must be less than or equal to 100000 when completion mode is Indexed",
                ));
            }
            if let (Some(c), Some(m)) = (int(spec, "completions"), int(spec, "maxFailedIndexes")) {
                if m > c {
                    errs.push(invalid(
                        &path.child("maxFailedIndexes"),
                        m,
                        "must be less than or equal to completions",
                    ));
                }
            }
        }
    }
    if mode.is_none_or(|m| m == "NonIndexed") {
        for f in ["backoffLimitPerIndex", "maxFailedIndexes"] {
            if let Some(v) = int(spec, f) {
                errs.push(invalid(
                    &path.child(f),
                    v,
                    "requires indexed completion mode",
                ));
            }
        }
    }
    let pfp = get(spec, "podFailurePolicy");
    if let Some(pfp) = pfp {
        let rules = arr(pfp, "rules");
        let rp = path.child("podFailurePolicy").child("rules");
        if rules.len() > 20 {
            errs.push(super::field::too_many(&rp, rules.len(), 20));
        }
        for (i, rule) in rules.iter().enumerate() {
            let rip = rp.index(i);
            match str_of(rule, "action") {
                "" => errs.push(required(
                    &rip.child("action"),
                    "valid values: [\"Count\" \"FailIndex\" \"FailJob\" \"Ignore\"]",
                )),
                "FailIndex" if get(spec, "backoffLimitPerIndex").is_none() => errs.push(invalid(
                    &rip.child("action"),
                    "FailIndex",
                    "requires the backoffLimitPerIndex to be set",
                )),
                "Count" | "FailIndex" | "FailJob" | "Ignore" => {}
                other => errs.push(not_supported(
                    &rip.child("action"),
                    other,
                    &["Count", "FailIndex", "FailJob", "Ignore"],
                )),
            }
            let (codes, conds) = (get(rule, "onExitCodes"), arr(rule, "onPodConditions"));
            if codes.is_some() && !conds.is_empty() {
                errs.push(invalid(
                    &rip,
                    Bad::Raw("field.OmitValueType{}".into()),
                    "specifying both OnExitCodes and OnPodConditions is not supported",
                ));
            }
            if codes.is_none() && conds.is_empty() {
                errs.push(invalid(
                    &rip,
                    Bad::Raw("field.OmitValueType{}".into()),
                    "specifying one of OnExitCodes and OnPodConditions is required",
                ));
            }
        }
    }
    if let Some(prp) = opt_str(spec, "podReplacementPolicy") {
        let pp = path.child("podReplacementPolicy");
        if pfp.is_some() {
            if prp != "Failed" {
                errs.push(not_supported(&pp, prp, &["Failed"]));
            }
        } else if prp != "Failed" && prp != "TerminatingOrFailed" {
            errs.push(not_supported(&pp, prp, &["Failed", "TerminatingOrFailed"]));
        }
    }
    let template = get(spec, "template").unwrap_or(&Value::Null);
    let tp = path.child("template");
    validate_pod_template_spec(template, &[], &tp, errs);
    let rp = at(template, &["spec", "restartPolicy"])
        .and_then(Value::as_str)
        .unwrap_or("");
    let rpp = tp.child("spec").child("restartPolicy");
    match rp {
        "Always" | "" => errs.push(required(&rpp, "valid values: \"OnFailure\", \"Never\"")),
        "OnFailure" | "Never" => {
            if pfp.is_some() && rp != "Never" {
                errs.push(invalid(
                    &rpp,
                    rp,
                    "only \"Never\" is supported when podFailurePolicy is specified",
                ));
            }
        }
        other => errs.push(not_supported(&rpp, other, &["OnFailure", "Never"])),
    }
}

/// `ValidateJobSpec`: the job spec plus a required selector matching the template.
fn validate_job_spec_with_selector(spec: &Value, path: &Path, errs: &mut Errs) {
    validate_job_spec(spec, path, errs);
    let sel = get(spec, "selector");
    match sel {
        None => errs.push(required(&path.child("selector"), "")),
        Some(s) => validate_label_selector(Some(s), false, &path.child("selector"), errs),
    }
    if let Ok(selector) = Selector::from_label_selector(sel) {
        let template = get(spec, "template").unwrap_or(&Value::Null);
        if !selector.matches(at(template, &["metadata", "labels"]).and_then(Value::as_object)) {
            errs.push(invalid(
                &path.child("template").child("metadata").child("labels"),
                template_labels_bad(template),
                "`selector` does not match template `labels`",
            ));
        }
    }
}

/// Job create/update.
pub fn job(j: &Value, old: Option<&Value>, errs: &mut Errs) {
    meta(j, old, NameRule::Subdomain, errs);
    let m = meta_of(j);
    let spec = spec_of(j);
    let sp = Path::new("spec");
    let manual = spec.get("manualSelector").and_then(Value::as_bool) == Some(true);
    if !manual && get(spec, "selector").is_some() {
        // validateGeneratedSelector: the selector the server generated must still be intact.
        let uid = str_of(m, "uid");
        let name = str_of(m, "name");
        if uid.is_empty() {
            errs.push(required(&Path::new("metadata").child("uid"), ""));
        }
        let template = get(spec, "template").unwrap_or(&Value::Null);
        let tmp = sp.child("template").child("metadata");
        has_label(template, LEGACY_CONTROLLER_UID, uid, &tmp, errs);
        has_label(template, LEGACY_JOB_NAME, name, &tmp, errs);
        // Prefixed labels are required on create and on jobs that already carry them.
        let prefixed = old.is_none_or(|o| {
            at(
                o,
                &[
                    "spec",
                    "template",
                    "metadata",
                    "labels",
                    CONTROLLER_UID_LABEL,
                ],
            )
            .is_some()
        });
        let mut expected = serde_json::Map::new();
        if prefixed {
            has_label(template, CONTROLLER_UID_LABEL, uid, &tmp, errs);
            has_label(template, JOB_NAME_LABEL, name, &tmp, errs);
            expected.insert(CONTROLLER_UID_LABEL.into(), uid.into());
            expected.insert(JOB_NAME_LABEL.into(), name.into());
        }
        expected.insert(LEGACY_CONTROLLER_UID.into(), uid.into());
        expected.insert(LEGACY_JOB_NAME.into(), name.into());
        if let Ok(selector) = Selector::from_label_selector(get(spec, "selector")) {
            if !selector.matches(Some(&expected)) {
                errs.push(invalid(
                    &sp.child("selector"),
                    get(spec, "selector").map(selector_bad).unwrap_or(Bad::Null),
                    "`selector` not auto-generated",
                ));
            }
        }
    }
    validate_job_spec_with_selector(spec, &sp, errs);
    if opt_str(spec, "completionMode") == Some("Indexed") {
        if let Some(c) = int(spec, "completions").filter(|c| *c > 0) {
            let host = format!("{}-{}", str_of(m, "name"), c - 1);
            if !is_dns1123_label(&host).is_empty() {
                errs.push(invalid(
                    &Path::new("metadata").child("name"),
                    str_of(m, "name"),
                    &format!("will not able to create pod with invalid DNS label: {host}"),
                ));
            }
        }
    }
    let Some(old) = old else { return };
    let os = spec_of(old);
    let num = |v: Option<&Value>| v.map(Bad::json).unwrap_or(Bad::Null);
    // Completions may change only for Indexed jobs and only in tandem with parallelism.
    let indexed = opt_str(spec, "completionMode") == Some("Indexed");
    if !semantic_eq(get(spec, "completions"), get(os, "completions")) {
        if !indexed {
            errs.push(invalid(
                &sp.child("completions"),
                num(get(spec, "completions")),
                FIELD_IMMUTABLE,
            ));
        } else if let Some(c) = int(spec, "completions") {
            if Some(c) != int(spec, "parallelism") {
                errs.push(invalid(
                    &sp.child("completions"),
                    c,
                    "can only be modified in tandem with spec.parallelism",
                ));
            }
        }
    }
    selector_immutable(j, old, errs);
    let mut old_template = get(os, "template").cloned().unwrap_or(Value::Null);
    let template = get(spec, "template").cloned().unwrap_or(Value::Null);
    let suspended = os.get("suspend").and_then(Value::as_bool) == Some(true);
    let started = at(old, &["status", "startTime"]).is_some();
    if suspended && !started {
        // Mutable scheduling directives: node affinity, node selector, tolerations, labels,
        // annotations and scheduling gates may change while the job has never run.
        for (keys, _) in [
            (&["spec", "nodeSelector"][..], ()),
            (&["spec", "tolerations"], ()),
            (&["metadata", "labels"], ()),
            (&["metadata", "annotations"], ()),
            (&["spec", "schedulingGates"], ()),
        ] {
            copy_path(&template, &mut old_template, keys);
        }
        copy_path(
            &template,
            &mut old_template,
            &["spec", "affinity", "nodeAffinity"],
        );
        if at(&template, &["spec", "affinity"]).is_none() {
            if let Some(aff) = old_template.get_mut("spec").and_then(|s| s.as_object_mut()) {
                let empty = aff
                    .get("affinity")
                    .is_some_and(|a| semantic_eq(Some(a), None));
                if empty {
                    aff.remove("affinity");
                }
            }
        }
    }
    if !semantic_eq(Some(&template), Some(&old_template)) {
        errs.push(invalid(
            &sp.child("template"),
            Bad::Raw(format!("core.PodTemplateSpec{template}")),
            FIELD_IMMUTABLE,
        ));
    }
    for f in [
        "completionMode",
        "podFailurePolicy",
        "backoffLimitPerIndex",
        "managedBy",
        "successPolicy",
    ] {
        let v = get(spec, f);
        immutable(v, get(os, f), num(v), &sp.child(f), errs);
    }
}

/// Sets `dst[keys]` to `src[keys]` (or removes it), creating intermediate objects.
fn copy_path(src: &Value, dst: &mut Value, keys: &[&str]) {
    let value = at(src, keys).cloned();
    let mut cur = dst;
    for k in &keys[..keys.len() - 1] {
        if !cur.is_object() {
            *cur = Value::Object(serde_json::Map::new());
        }
        let Some(m) = cur.as_object_mut() else { return };
        cur = m
            .entry(k.to_string())
            .or_insert_with(|| Value::Object(serde_json::Map::new()));
    }
    if let Some(m) = cur.as_object_mut() {
        let last = keys[keys.len() - 1];
        match value {
            Some(v) => {
                m.insert(last.into(), v);
            }
            None => {
                m.remove(last);
            }
        }
    }
}

/// `validateTimeZone`.
fn validate_time_zone(tz: Option<&Value>, path: &Path, errs: &mut Errs) {
    let Some(tz) = tz else { return };
    let s = tz.as_str().unwrap_or("");
    if s.is_empty() {
        errs.push(invalid(path, s, "timeZone must be nil or non-empty string"));
        return;
    }
    for part in s.split('/') {
        let ok = part != "."
            && part != ".."
            && !part.starts_with('-')
            && (1..=14).contains(&part.len())
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+'));
        if !ok {
            errs.push(invalid(path, s, &format!("unknown time zone {s}")));
            return;
        }
    }
    if s.eq_ignore_ascii_case("local") {
        errs.push(invalid(
            path,
            s,
            "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones",
        ));
    }
    if !super::cron::known_time_zone(s) {
        errs.push(invalid(path, s, &format!("unknown time zone {s}")));
    }
}

/// CronJob create/update.
pub fn cron_job(cj: &Value, old: Option<&Value>, errs: &mut Errs) {
    meta(cj, old, NameRule::Subdomain, errs);
    let spec = spec_of(cj);
    let sp = Path::new("spec");
    let schedule = str_of(spec, "schedule");
    let schp = sp.child("schedule");
    if schedule.is_empty() {
        errs.push(required(&schp, ""));
    } else {
        if let Err(e) = super::cron::parse_standard(schedule) {
            errs.push(invalid(&schp, schedule, &e));
        }
        let allow_tz = old.is_some_and(|o| str_of(spec_of(o), "schedule").contains("TZ"));
        if allow_tz && schedule.contains("TZ") && get(spec, "timeZone").is_some() {
            errs.push(invalid(
                &schp,
                schedule,
                "cannot use both timeZone field and TZ or CRON_TZ in schedule",
            ));
        } else if !allow_tz && schedule.contains("TZ") {
            errs.push(invalid(
                &schp,
                schedule,
                "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
            ));
        }
    }
    nonnegative(
        int(spec, "startingDeadlineSeconds"),
        &sp.child("startingDeadlineSeconds"),
        errs,
    );
    if old.is_none_or(|o| get(spec_of(o), "timeZone") != get(spec, "timeZone")) {
        validate_time_zone(get(spec, "timeZone"), &sp.child("timeZone"), errs);
    }
    let cp = sp.child("concurrencyPolicy");
    match str_of(spec, "concurrencyPolicy") {
        "Allow" | "Forbid" | "Replace" => {}
        "" => errs.push(required(&cp, "")),
        other => errs.push(not_supported(&cp, other, &["Allow", "Forbid", "Replace"])),
    }
    let jt = get(spec, "jobTemplate").unwrap_or(&Value::Null);
    let jtp = sp.child("jobTemplate");
    let jspec = get(jt, "spec").unwrap_or(&Value::Null);
    validate_job_spec(jspec, &jtp.child("spec"), errs);
    if let Some(sel) = get(jspec, "selector") {
        errs.push(invalid(
            &jtp.child("spec").child("selector"),
            selector_bad(sel),
            "`selector` will be auto-generated",
        ));
    }
    if jspec.get("manualSelector").and_then(Value::as_bool) == Some(true) {
        errs.push(not_supported(
            &jtp.child("spec").child("manualSelector"),
            true,
            &["nil", "false"],
        ));
    }
    nonnegative(
        int(spec, "successfulJobsHistoryLimit"),
        &sp.child("successfulJobsHistoryLimit"),
        errs,
    );
    nonnegative(
        int(spec, "failedJobsHistoryLimit"),
        &sp.child("failedJobsHistoryLimit"),
        errs,
    );
    if old.is_none() {
        let name = str_of(meta_of(cj), "name");
        // The controller appends an 11-character suffix to job names (limit 63).
        if name.len() > 52 {
            errs.push(invalid(
                &Path::new("metadata").child("name"),
                name,
                "must be no more than 52 characters",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template(labels: Value, restart: &str) -> Value {
        json!({"metadata": {"labels": labels}, "spec": {
            "containers": [{"name": "app", "image": "nginx", "imagePullPolicy": "Always", "terminationMessagePolicy": "File"}],
            "restartPolicy": restart, "dnsPolicy": "ClusterFirst", "terminationGracePeriodSeconds": 30}})
    }

    fn deploy(selector: Value, labels: Value) -> Value {
        json!({"metadata": {"name": "web"}, "spec": {"replicas": 1, "selector": selector, "template": template(labels, "Always"),
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600}})
    }

    fn run(
        f: fn(&Value, Option<&Value>, &mut Errs),
        v: &Value,
        old: Option<&Value>,
    ) -> Vec<(String, String)> {
        let mut e = Vec::new();
        f(v, old, &mut e);
        e.into_iter().map(|c| (c.field, c.message)).collect()
    }

    #[test]
    fn deployment_selector_rules() {
        assert!(run(
            deployment,
            &deploy(
                json!({"matchLabels": {"app": "web"}}),
                json!({"app": "web"})
            ),
            None
        )
        .is_empty());
        assert_eq!(
            run(deployment, &deploy(json!({"matchLabels": {"app": "web"}}), json!({"app": "other"})), None),
            vec![("spec.template.metadata.labels".into(), "Invalid value: map[string]string{\"app\":\"other\"}: `selector` does not match template `labels`".into())]
        );
        assert_eq!(
            run(deployment, &deploy(json!({}), json!({"app": "web"})), None),
            vec![("spec.selector".into(), "Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment".into())]
        );
        let mut no_sel = deploy(json!({}), json!({"app": "web"}));
        no_sel["spec"].as_object_mut().unwrap().remove("selector");
        assert_eq!(
            run(deployment, &no_sel, None),
            vec![
                ("spec.selector".into(), "Required value".into()),
                ("spec.template.metadata.labels".into(), "Invalid value: map[string]string{\"app\":\"web\"}: `selector` does not match template `labels`".into()),
            ]
        );
    }

    #[test]
    fn deployment_update_selector_immutable_and_strategy() {
        let old = deploy(
            json!({"matchLabels": {"app": "web"}}),
            json!({"app": "web", "v": "2"}),
        );
        let new = deploy(
            json!({"matchLabels": {"app": "web", "v": "2"}}),
            json!({"app": "web", "v": "2"}),
        );
        assert_eq!(
            run(deployment, &new, Some(&old)),
            vec![("spec.selector".into(), "Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"web\", \"v\":\"2\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable".into())]
        );
        let mut d = deploy(
            json!({"matchLabels": {"app": "web"}}),
            json!({"app": "web"}),
        );
        d["spec"]["strategy"]["rollingUpdate"] = json!({"maxSurge": 0, "maxUnavailable": "0%"});
        d["spec"]["replicas"] = json!(-1);
        d["spec"]["template"]["spec"]["restartPolicy"] = json!("Never");
        assert_eq!(
            run(deployment, &d, None),
            vec![
                (
                    "spec.replicas".into(),
                    "Invalid value: -1: must be greater than or equal to 0".into()
                ),
                (
                    "spec.template.spec.restartPolicy".into(),
                    "Unsupported value: \"Never\": supported values: \"Always\"".into()
                ),
                (
                    "spec.strategy.rollingUpdate.maxUnavailable".into(),
                    "Invalid value: 0%: may not be 0 when `maxSurge` is 0".into()
                ),
            ]
        );
    }

    #[test]
    fn statefulset_rules() {
        let ss = json!({"metadata": {"name": "db"}, "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "db"}},
            "podManagementPolicy": "OrderedReady", "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
            "template": template(json!({"app": "db"}), "Always"),
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}});
        let mut with_mount = ss.clone();
        with_mount["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] =
            json!([{"name": "data", "mountPath": "/d"}]);
        assert!(run(stateful_set, &with_mount, None).is_empty());
        let mut changed = ss.clone();
        changed["spec"]["podManagementPolicy"] = json!("Parallel");
        assert_eq!(
            run(stateful_set, &changed, Some(&ss)),
            vec![("spec".into(), "Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden".into())]
        );
        let mut scaled = ss.clone();
        scaled["spec"]["replicas"] = json!(3);
        assert!(run(stateful_set, &scaled, Some(&ss)).is_empty());
    }

    #[test]
    fn daemonset_rules() {
        let ds = json!({"metadata": {"name": "agent"}, "spec": {"selector": {"matchLabels": {"app": "a"}}, "template": template(json!({"app": "a"}), "Always"),
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 1}}, "revisionHistoryLimit": 10}});
        assert_eq!(
            run(daemon_set, &ds, None),
            vec![(
                "spec.updateStrategy.rollingUpdate.maxSurge".into(),
                "Invalid value: 1: may not be set when maxUnavailable is non-zero".into()
            )]
        );
    }

    fn job_obj() -> Value {
        json!({"metadata": {"name": "pi", "uid": "u1"}, "spec": {"completions": 1, "parallelism": 1, "backoffLimit": 6,
            "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u1"}}, "manualSelector": false,
            "template": template(json!({"batch.kubernetes.io/controller-uid": "u1", "batch.kubernetes.io/job-name": "pi", "controller-uid": "u1", "job-name": "pi"}), "Never")}})
    }

    #[test]
    fn job_rules() {
        assert!(run(job, &job_obj(), None).is_empty());
        let mut j = job_obj();
        j["spec"]["template"]["spec"]["restartPolicy"] = json!("Always");
        j["spec"]["completions"] = json!(-1);
        assert_eq!(
            run(job, &j, None),
            vec![
                (
                    "spec.completions".into(),
                    "Invalid value: -1: must be greater than or equal to 0".into()
                ),
                (
                    "spec.template.spec.restartPolicy".into(),
                    "Required value: valid values: \"OnFailure\", \"Never\"".into()
                ),
            ]
        );
        let mut changed = job_obj();
        changed["spec"]["template"]["spec"]["containers"][0]["image"] = json!("busybox");
        let e = run(job, &changed, Some(&job_obj()));
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].0, "spec.template");
        assert!(e[0].1.ends_with(": field is immutable"));
    }

    #[test]
    fn cronjob_rules() {
        let cj = json!({"metadata": {"name": "tick"}, "spec": {"schedule": "*/5 * * * *", "concurrencyPolicy": "Allow",
            "jobTemplate": {"spec": {"template": template(json!({}), "OnFailure")}}}});
        assert!(run(cron_job, &cj, None).is_empty());
        let mut bad = cj.clone();
        bad["spec"]["schedule"] = json!("61 * * * *");
        bad["spec"]["concurrencyPolicy"] = json!("Sometimes");
        assert_eq!(
            run(cron_job, &bad, None),
            vec![
                ("spec.schedule".into(), "Invalid value: \"61 * * * *\": end of range (61) above maximum (59): 61".into()),
                ("spec.concurrencyPolicy".into(), "Unsupported value: \"Sometimes\": supported values: \"Allow\", \"Forbid\", \"Replace\"".into()),
            ]
        );
        let mut long = cj.clone();
        long["metadata"]["name"] = json!("a".repeat(53));
        assert_eq!(
            run(cron_job, &long, None),
            vec![(
                "metadata.name".into(),
                format!(
                    "Invalid value: \"{}\": must be no more than 52 characters",
                    "a".repeat(53)
                )
            )]
        );
    }
}
