//! Defaults for apps/v1 and batch/v1 workloads (`SetDefaults_Deployment`, `_ReplicaSet`,
//! `_StatefulSet`, `_DaemonSet`, `_Job`, `_CronJob`) plus their pod templates.
//!
//! Contract: Kubernetes 1.33 values; present fields are never overwritten; idempotent. Jobs
//! additionally get the selector and template labels the Job registry generates on create
//! (`batch.kubernetes.io/controller-uid`, `batch.kubernetes.io/job-name` and their legacy
//! forms) when `metadata.uid` is already set and `manualSelector` is not true; the caller must
//! assign the uid before calling [`super::apply`] for that to happen.

use super::core::pvc;
use super::pod::template;
use super::{ensure_obj, set_default};
use crate::api::validation::workloads::{CONTROLLER_UID_LABEL, JOB_NAME_LABEL};
use serde_json::{json, Map, Value};

fn spec_mut(obj: &mut Value) -> Option<&mut Map<String, Value>> {
    ensure_obj(obj.as_object_mut()?, "spec")
}

fn empty_str(m: &Map<String, Value>, k: &str) -> bool {
    m.get(k).and_then(Value::as_str).unwrap_or("").is_empty()
}

/// `SetDefaults_Deployment`.
pub fn deployment(d: &mut Value) {
    let Some(spec) = spec_mut(d) else { return };
    set_default(spec, "replicas", json!(1));
    if let Some(strategy) = ensure_obj(spec, "strategy") {
        if empty_str(strategy, "type") {
            strategy.insert("type".into(), json!("RollingUpdate"));
        }
        if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
            if let Some(ru) = ensure_obj(strategy, "rollingUpdate") {
                set_default(ru, "maxUnavailable", json!("25%"));
                set_default(ru, "maxSurge", json!("25%"));
            }
        }
    }
    set_default(spec, "revisionHistoryLimit", json!(10));
    set_default(spec, "progressDeadlineSeconds", json!(600));
    template(spec.get_mut("template"));
}

/// `SetDefaults_ReplicaSet`.
pub fn replica_set(rs: &mut Value) {
    let Some(spec) = spec_mut(rs) else { return };
    set_default(spec, "replicas", json!(1));
    template(spec.get_mut("template"));
}

/// `SetDefaults_DaemonSet`.
pub fn daemon_set(ds: &mut Value) {
    let Some(spec) = spec_mut(ds) else { return };
    if let Some(strategy) = ensure_obj(spec, "updateStrategy") {
        if empty_str(strategy, "type") {
            strategy.insert("type".into(), json!("RollingUpdate"));
        }
        if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
            if let Some(ru) = ensure_obj(strategy, "rollingUpdate") {
                set_default(ru, "maxUnavailable", json!(1));
                set_default(ru, "maxSurge", json!(0));
            }
        }
    }
    set_default(spec, "revisionHistoryLimit", json!(10));
    template(spec.get_mut("template"));
}

/// `SetDefaults_StatefulSet` (StatefulSetAutoDeletePVC is GA, so the retention policy is
/// defaulted), plus claim-template defaults.
pub fn stateful_set(ss: &mut Value) {
    let Some(spec) = spec_mut(ss) else { return };
    if empty_str(spec, "podManagementPolicy") {
        spec.insert("podManagementPolicy".into(), json!("OrderedReady"));
    }
    if let Some(strategy) = ensure_obj(spec, "updateStrategy") {
        if empty_str(strategy, "type") {
            strategy.insert("type".into(), json!("RollingUpdate"));
            // Only a defaulted type also gets a defaulted rollingUpdate block.
            ensure_obj(strategy, "rollingUpdate");
        }
        if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
            if let Some(ru) = strategy
                .get_mut("rollingUpdate")
                .and_then(Value::as_object_mut)
            {
                set_default(ru, "partition", json!(0));
            }
        }
    }
    if let Some(policy) = ensure_obj(spec, "persistentVolumeClaimRetentionPolicy") {
        for k in ["whenDeleted", "whenScaled"] {
            if empty_str(policy, k) {
                policy.insert(k.into(), json!("Retain"));
            }
        }
    }
    set_default(spec, "replicas", json!(1));
    set_default(spec, "revisionHistoryLimit", json!(10));
    template(spec.get_mut("template"));
    if let Some(Value::Array(vcts)) = spec.get_mut("volumeClaimTemplates") {
        vcts.iter_mut().for_each(pvc);
    }
}

/// The Job registry's `generateSelector`: template labels and a selector on the uid.
fn generate_job_selector(j: &mut Value) {
    let Some(m) = j.as_object_mut() else { return };
    let md = m.get("metadata");
    let uid = md
        .and_then(|md| md.get("uid"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let name = md
        .and_then(|md| md.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if uid.is_empty() {
        return;
    }
    let Some(spec) = ensure_obj(m, "spec") else {
        return;
    };
    if spec.get("manualSelector").and_then(Value::as_bool) == Some(true) {
        return;
    }
    if let Some(labels) = ensure_obj(spec, "template")
        .and_then(|t| ensure_obj(t, "metadata"))
        .and_then(|md| ensure_obj(md, "labels"))
    {
        // Labels the user already set are kept; validation reports conflicts.
        for (k, v) in [
            (CONTROLLER_UID_LABEL, &uid),
            (JOB_NAME_LABEL, &name),
            ("controller-uid", &uid),
            ("job-name", &name),
        ] {
            labels.entry(k.to_string()).or_insert_with(|| json!(v));
        }
    }
    if let Some(ml) = ensure_obj(spec, "selector").and_then(|s| ensure_obj(s, "matchLabels")) {
        ml.entry(CONTROLLER_UID_LABEL.to_string())
            .or_insert_with(|| json!(uid));
    }
}

/// `SetDefaults_Job` plus selector generation (see the module contract).
pub fn job(j: &mut Value) {
    // Generate first so the label copy below sees the final template labels, which keeps the
    // whole function idempotent (Kubernetes reaches the same state on the job's next write).
    generate_job_selector(j);
    let Some(m) = j.as_object_mut() else { return };
    let template_labels = m
        .get("spec")
        .and_then(|s| s.get("template"))
        .and_then(|t| t.get("metadata"))
        .and_then(|md| md.get("labels"))
        .filter(|l| l.is_object())
        .cloned();
    if let Some(labels) = template_labels {
        if let Some(md) = ensure_obj(m, "metadata") {
            if md
                .get("labels")
                .and_then(Value::as_object)
                .is_none_or(|l| l.is_empty())
            {
                md.insert("labels".into(), labels);
            }
        }
    }
    let Some(spec) = ensure_obj(m, "spec") else {
        return;
    };
    if spec.get("completions").is_none_or(Value::is_null)
        && spec.get("parallelism").is_none_or(Value::is_null)
    {
        spec.insert("completions".into(), json!(1));
        spec.insert("parallelism".into(), json!(1));
    }
    set_default(spec, "parallelism", json!(1));
    let per_index = spec
        .get("backoffLimitPerIndex")
        .is_some_and(|v| !v.is_null());
    set_default(
        spec,
        "backoffLimit",
        json!(if per_index { i64::from(i32::MAX) } else { 6 }),
    );
    set_default(spec, "completionMode", json!("NonIndexed"));
    set_default(spec, "suspend", json!(false));
    let has_pfp = spec.get("podFailurePolicy").is_some_and(|v| !v.is_null());
    set_default(
        spec,
        "podReplacementPolicy",
        json!(if has_pfp {
            "Failed"
        } else {
            "TerminatingOrFailed"
        }),
    );
    set_default(spec, "manualSelector", json!(false));
    pod_failure_policy(spec);
    template(spec.get_mut("template"));
}

/// `SetDefaults_PodFailurePolicyOnPodConditionsPattern`: status `True`.
fn pod_failure_policy(spec: &mut Map<String, Value>) {
    let Some(Value::Array(rules)) = spec
        .get_mut("podFailurePolicy")
        .and_then(|p| p.get_mut("rules"))
    else {
        return;
    };
    for rule in rules {
        let Some(Value::Array(conds)) = rule.get_mut("onPodConditions") else {
            continue;
        };
        for c in conds.iter_mut().filter_map(Value::as_object_mut) {
            if empty_str(c, "status") {
                c.insert("status".into(), json!("True"));
            }
        }
    }
}

/// `SetDefaults_CronJob`; the job template only gets pod-template defaults (Kubernetes does
/// not run the Job defaults on it).
pub fn cron_job(cj: &mut Value) {
    let Some(spec) = spec_mut(cj) else { return };
    if empty_str(spec, "concurrencyPolicy") {
        spec.insert("concurrencyPolicy".into(), json!("Allow"));
    }
    set_default(spec, "suspend", json!(false));
    set_default(spec, "successfulJobsHistoryLimit", json!(3));
    set_default(spec, "failedJobsHistoryLimit", json!(1));
    if let Some(jspec) = spec
        .get_mut("jobTemplate")
        .and_then(|t| t.get_mut("spec"))
        .and_then(Value::as_object_mut)
    {
        pod_failure_policy(jspec);
        template(jspec.get_mut("template"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_defaults() {
        let mut d = json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "x:1"}]}}}});
        deployment(&mut d);
        assert_eq!(d["spec"]["replicas"], 1);
        assert_eq!(
            d["spec"]["strategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
        );
        assert_eq!(d["spec"]["revisionHistoryLimit"], 10);
        assert_eq!(d["spec"]["progressDeadlineSeconds"], 600);
        assert_eq!(d["spec"]["template"]["spec"]["restartPolicy"], "Always");
        let mut recreate = json!({"spec": {"strategy": {"type": "Recreate"}}});
        deployment(&mut recreate);
        assert_eq!(recreate["spec"]["strategy"], json!({"type": "Recreate"}));
    }

    #[test]
    fn statefulset_and_daemonset_defaults() {
        let mut ss = json!({"spec": {}});
        stateful_set(&mut ss);
        assert_eq!(
            ss["spec"],
            json!({"podManagementPolicy": "OrderedReady", "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
                "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"}, "replicas": 1, "revisionHistoryLimit": 10})
        );
        let mut ds = json!({"spec": {}});
        daemon_set(&mut ds);
        assert_eq!(
            ds["spec"],
            json!({"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}, "revisionHistoryLimit": 10})
        );
    }

    #[test]
    fn job_defaults_and_selector() {
        let mut j = json!({"metadata": {"name": "pi", "uid": "u1"}, "spec": {"template": {"spec": {"containers": [{"name": "a", "image": "x"}], "restartPolicy": "Never"}}}});
        job(&mut j);
        let once = j.clone();
        job(&mut j);
        assert_eq!(j, once);
        assert_eq!(
            j["spec"]["selector"],
            json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "u1"}})
        );
        assert_eq!(j["metadata"]["labels"]["job-name"], "pi");
        for (k, v) in [
            ("completions", json!(1)),
            ("parallelism", json!(1)),
            ("backoffLimit", json!(6)),
            ("completionMode", json!("NonIndexed")),
            ("suspend", json!(false)),
            ("podReplacementPolicy", json!("TerminatingOrFailed")),
            ("manualSelector", json!(false)),
        ] {
            assert_eq!(j["spec"][k], v, "{k}");
        }
        assert!(crate::api::validation::validate("batch", "Job", &j, None).is_empty());
        let mut only_parallel = json!({"spec": {"parallelism": 3}});
        job(&mut only_parallel);
        assert!(only_parallel["spec"].get("completions").is_none());
    }

    #[test]
    fn cronjob_defaults() {
        let mut cj = json!({"spec": {"schedule": "@hourly", "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "x"}], "restartPolicy": "OnFailure"}}}}}});
        cron_job(&mut cj);
        assert_eq!(cj["spec"]["concurrencyPolicy"], "Allow");
        assert_eq!(cj["spec"]["successfulJobsHistoryLimit"], 3);
        assert_eq!(cj["spec"]["failedJobsHistoryLimit"], 1);
        assert_eq!(cj["spec"]["suspend"], false);
        assert!(cj["spec"]["jobTemplate"]["spec"]
            .get("backoffLimit")
            .is_none());
    }
}
