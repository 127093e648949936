//! The horizontal pod autoscaler controller (`autoscaling/v2`, CPU utilisation): every 15 s per
//! HorizontalPodAutoscaler it reads the scale of `scaleTargetRef` (a Deployment, ReplicaSet,
//! StatefulSet or ReplicationController), the CPU usage of the pods its selector picks from an
//! injectable [`MetricsSource`], decides the replica count as Kubernetes does, writes it to the
//! target's `spec.replicas` (the scale subresource's path) and records `currentReplicas`,
//! `desiredReplicas`, `currentMetrics`, `lastScaleTime` and the AbleToScale, ScalingActive
//! and ScalingLimited conditions.
//!
//! Contract: one key per autoscaler; it is synced when created or its spec changes and then
//! every 15 s (its own status writes do not wake it). The decision logic is pure
//! ([`decide`], [`replicas`], [`behavior`]); this module is the I/O shell. Stabilisation and
//! rate-limit history lives in memory per autoscaler, as in Kubernetes.

pub mod behavior;
pub mod decide;
pub mod metrics;
pub mod replicas;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use self::behavior::History;
use self::decide::{Condition, Decision, Spec};
use self::metrics::{AnnotationMetrics, MetricsSource};
use self::replicas::Sample;
use super::client::{
    Res, DEPLOYMENTS, HPAS, PODS, REPLICASETS, REPLICATIONCONTROLLERS, STATEFULSETS,
};
use super::informer::{key_of, split_key, Delta, Informer};
use super::{route, run, BoxFuture, Controller, Ctx, Queue, SyncResult};
use crate::api::handlers::read::scale_of;
use crate::api::object;
use crate::api::selector::LabelSelector;
use crate::api::status::ApiError;

/// Kubernetes' `--horizontal-pod-autoscaler-sync-period`.
pub const SYNC_PERIOD: Duration = Duration::from_secs(15);
const COMPONENT: &str = "horizontal-pod-autoscaler";

/// The kinds an autoscaler can target: (group, kind, resource).
const TARGETS: [(&str, &str, Res); 4] = [
    ("apps", "Deployment", DEPLOYMENTS),
    ("apps", "ReplicaSet", REPLICASETS),
    ("apps", "StatefulSet", STATEFULSETS),
    ("", "ReplicationController", REPLICATIONCONTROLLERS),
];

pub struct HpaController {
    ctx: Ctx,
    hpas: Arc<Informer>,
    pods: Arc<Informer>,
    metrics: Arc<dyn MetricsSource>,
    history: Mutex<HashMap<String, History>>,
}

/// Start with usage read from pod annotations (see [`metrics::AnnotationMetrics`]).
pub fn start(ctx: &Ctx) {
    let source = Arc::new(AnnotationMetrics::new(ctx.informers.get(PODS)));
    start_with(ctx, source);
}

/// Start with another source of pod CPU usage.
pub fn start_with(ctx: &Ctx, metrics: Arc<dyn MetricsSource>) {
    let hpas = ctx.informers.get(HPAS);
    let pods = ctx.informers.get(PODS);
    let q = Queue::new();
    route(&hpas, &q, |d| match d {
        Delta::Upsert { old, new }
            if old
                .as_ref()
                .is_none_or(|o| o.get("spec") != new.get("spec")) =>
        {
            vec![key_of(new)]
        }
        _ => vec![],
    });
    let c = HpaController {
        ctx: ctx.clone(),
        hpas: hpas.clone(),
        pods: pods.clone(),
        metrics,
        history: Mutex::new(HashMap::new()),
    };
    run(Arc::new(c), q, ctx.settings.workers, vec![hpas, pods]);
}

/// The resource of a `scaleTargetRef`.
fn target_res(target: &Value) -> Result<Res, String> {
    let av = target
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let kind = target.get("kind").and_then(Value::as_str).unwrap_or("");
    let group = av.rsplit_once('/').map_or("", |(g, _)| g);
    TARGETS
        .iter()
        .find(|(g, k, _)| *g == group && *k == kind)
        .map(|(_, _, r)| *r)
        .ok_or_else(|| format!("no matches for kind \"{kind}\" in group \"{group}\""))
}

/// The pods a target's scale selects: `status.selector` of the scale, except for
/// ReplicationControllers, whose selector is a plain label map.
fn target_selector(res: Res, target: &Value, scale: &Value) -> Option<LabelSelector> {
    if res == REPLICATIONCONTROLLERS {
        return super::replicaset::map_selector(target);
    }
    let s = scale.pointer("/status/selector").and_then(Value::as_str)?;
    LabelSelector::parse(s).ok().filter(|s| !s.is_empty())
}

/// A merge patch setting the value at a scale path such as `.spec.replicas`.
fn replicas_patch(path: &str, replicas: i32) -> Value {
    path.trim_start_matches('.')
        .rsplit('.')
        .fold(json!(replicas), |inner, part| json!({ part: inner }))
}

impl HpaController {
    async fn sync_hpa(&self, key: &str) -> SyncResult {
        let Some(hpa) = self.hpas.get(key) else {
            self.history
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(key);
            return Ok(None);
        };
        let (ns, _) = split_key(key);
        let ns = ns.unwrap_or("default");
        let client = &self.ctx.client;
        let now = client.now();
        let target_ref = hpa
            .pointer("/spec/scaleTargetRef")
            .cloned()
            .unwrap_or(Value::Null);
        let target_name = target_ref.get("name").and_then(Value::as_str).unwrap_or("");
        let found = target_res(&target_ref).and_then(|res| {
            let get = || {
                Ok::<_, ApiError>((
                    res,
                    client.get(res, Some(ns), target_name)?,
                    client.def(res)?,
                ))
            };
            get().map_err(|e| e.message)
        });
        let (res, target, def) = match found {
            Ok(t) => t,
            Err(why) => {
                let msg = format!(
                    "the HPA controller was unable to get the target's current scale: {why}"
                );
                let c = Condition {
                    kind: "AbleToScale",
                    status: "False",
                    reason: "FailedGetScale".into(),
                    message: msg,
                };
                let d = Decision {
                    desired: None,
                    rescale: false,
                    reason: String::new(),
                    conditions: vec![c],
                    current_metrics: None,
                    warning: None,
                };
                client
                    .event(&hpa, "Warning", "FailedGetScale", &why, COMPONENT)
                    .await;
                let current = hpa
                    .pointer("/status/currentReplicas")
                    .and_then(Value::as_i64)
                    .unwrap_or(0) as i32;
                self.write_status(&hpa, ns, current, &d, false, now).await?;
                return Ok(Some(SYNC_PERIOD));
            }
        };
        let scale = scale_of(&def, &target);
        let current = scale
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(0) as i32;
        let spec = Spec::from_hpa(&hpa);
        let metric = match (&spec.target, target_selector(res, &target, &scale)) {
            (Err(e), _) => Err(e.clone()),
            (_, None) => Err("selector is required".to_string()),
            (Ok(utilization), Some(sel)) => {
                let pods: Vec<Arc<Value>> = self
                    .pods
                    .list(Some(ns))
                    .into_iter()
                    .filter(|p| sel.matches(object::labels(p)))
                    .collect();
                let samples: Vec<Sample> = pods
                    .iter()
                    .map(|p| Sample {
                        pod: p,
                        usage: self.metrics.pod_cpu_milli(ns, object::name(p)),
                    })
                    .collect();
                replicas::cpu_replicas(current, *utilization, &samples, now)
            }
        };
        let mut d = {
            let mut all = self.history.lock().unwrap_or_else(|e| e.into_inner());
            decide::decide(
                &spec,
                current,
                metric,
                all.entry(key.to_string()).or_default(),
                now,
            )
        };
        if let Some((reason, msg)) = &d.warning {
            client.event(&hpa, "Warning", reason, msg, COMPONENT).await;
        }
        let mut scaled = false;
        if let (true, Some(desired)) = (d.rescale, d.desired) {
            let path = def
                .scale_paths()
                .map_or(".spec.replicas", |p| p.spec_replicas.as_str());
            let patch = replicas_patch(path, desired);
            match client
                .merge_patch(res, Some(ns), target_name, &patch, false)
                .await
            {
                Ok(_) => {
                    scaled = true;
                    d.conditions.push(Condition {
                        kind: "AbleToScale",
                        status: "True",
                        reason: "SucceededRescale".into(),
                        message: format!(
                            "the HPA controller was able to update the target scale to {desired}"
                        ),
                    });
                    let msg = format!("New size: {desired}; reason: {}", d.reason);
                    client
                        .event(&hpa, "Normal", "SuccessfulRescale", &msg, COMPONENT)
                        .await;
                    let mut all = self.history.lock().unwrap_or_else(|e| e.into_inner());
                    let h = all.entry(key.to_string()).or_default();
                    behavior::record_scale(h, spec.behavior.as_ref(), current, desired, now);
                }
                Err(e) => {
                    d.conditions.push(Condition {
                        kind: "AbleToScale",
                        status: "False",
                        reason: "FailedUpdateScale".into(),
                        message: format!(
                            "the HPA controller was unable to update the target scale: {}",
                            e.message
                        ),
                    });
                    let msg = format!(
                        "New size: {desired}; reason: {}; error: {}",
                        d.reason, e.message
                    );
                    client
                        .event(&hpa, "Warning", "FailedRescale", &msg, COMPONENT)
                        .await;
                    d.desired = Some(current);
                }
            }
        }
        self.write_status(&hpa, ns, current, &d, scaled, now)
            .await?;
        Ok(Some(SYNC_PERIOD))
    }

    async fn write_status(
        &self,
        hpa: &Value,
        ns: &str,
        current: i32,
        d: &Decision,
        scaled: bool,
        now: i64,
    ) -> Result<(), ApiError> {
        let status = decide::status(hpa, current, d, scaled, now);
        if hpa.get("status") != Some(&status) {
            self.ctx
                .client
                .merge_patch(
                    HPAS,
                    Some(ns),
                    object::name(hpa),
                    &json!({ "status": status }),
                    true,
                )
                .await?;
        }
        Ok(())
    }
}

impl Controller for HpaController {
    fn name(&self) -> &'static str {
        "horizontal-pod-autoscaler"
    }
    fn sync<'a>(&'a self, key: &'a str) -> BoxFuture<'a, SyncResult> {
        Box::pin(self.sync_hpa(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_targets_and_builds_scale_patches() {
        let t = json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"});
        assert_eq!(target_res(&t), Ok(DEPLOYMENTS));
        let t = json!({"apiVersion": "v1", "kind": "ReplicationController", "name": "rc"});
        assert_eq!(target_res(&t), Ok(REPLICATIONCONTROLLERS));
        let t = json!({"apiVersion": "batch/v1", "kind": "Job", "name": "j"});
        assert_eq!(
            target_res(&t).unwrap_err(),
            "no matches for kind \"Job\" in group \"batch\""
        );
        assert_eq!(
            replicas_patch(".spec.replicas", 3),
            json!({"spec": {"replicas": 3}})
        );
    }

    #[test]
    fn selectors_come_from_the_scale_or_the_controller_map() {
        let scale = json!({"status": {"selector": "app=web"}});
        let sel = target_selector(DEPLOYMENTS, &json!({}), &scale).unwrap();
        assert!(sel.matches(json!({"app": "web"}).as_object()));
        let rc = json!({"spec": {"selector": {"app": "db"}}});
        let sel = target_selector(
            REPLICATIONCONTROLLERS,
            &rc,
            &json!({"status": {"selector": ""}}),
        )
        .unwrap();
        assert!(sel.matches(json!({"app": "db"}).as_object()));
        assert!(!sel.matches(json!({"app": "web"}).as_object()));
        assert!(target_selector(DEPLOYMENTS, &json!({}), &json!({"status": {}})).is_none());
    }
}
