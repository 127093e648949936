//! One autoscaler decision (Kubernetes' `reconcileAutoscaler` without the I/O): from the
//! target's current replicas and the CPU recommendation to the replica count to apply, the
//! event reason, the conditions and the status to write.
//!
//! Contract: a target at zero replicas (with `minReplicas` > 0) is left alone; one outside
//! min/max is brought inside without consulting metrics; otherwise the CPU recommendation is
//! normalised by [`behavior::normalize`]. A failed metric leaves the replica count alone and
//! reports `ScalingActive=False`.

use serde_json::{json, Value};

use super::behavior::{self, Behavior, History};
use super::replicas::Recommendation;
use crate::api::validation::quantity::Quantity;
use crate::clock::rfc3339;

/// Kubernetes' default target when `spec.metrics` is empty.
pub const DEFAULT_CPU_UTILIZATION: i32 = 80;
const METRIC_NAME: &str = "cpu resource utilization (percentage of request)";

/// What the controller needs of an HPA's spec.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub min: i32,
    pub max: i32,
    /// The CPU utilisation target in percent, or why none is usable.
    pub target: Result<i32, String>,
    pub behavior: Option<Behavior>,
}

impl Spec {
    pub fn from_hpa(hpa: &Value) -> Spec {
        let int = |p: &str, d: i64| hpa.pointer(p).and_then(Value::as_i64).unwrap_or(d) as i32;
        let metrics = hpa
            .pointer("/spec/metrics")
            .and_then(Value::as_array)
            .filter(|m| !m.is_empty());
        let target = match metrics {
            None => Ok(DEFAULT_CPU_UTILIZATION),
            Some(ms) => ms
                .iter()
                .find(|m| {
                    m.get("type").and_then(Value::as_str) == Some("Resource")
                        && m.pointer("/resource/name").and_then(Value::as_str) == Some("cpu")
                        && m.pointer("/resource/target/type").and_then(Value::as_str)
                            == Some("Utilization")
                })
                .and_then(|m| {
                    m.pointer("/resource/target/averageUtilization")
                        .and_then(Value::as_i64)
                })
                .filter(|u| *u > 0)
                .map(|u| u as i32)
                .ok_or_else(|| {
                    "only cpu Resource metrics with a Utilization target are supported".to_string()
                }),
        };
        Spec {
            min: int("/spec/minReplicas", 1),
            max: int("/spec/maxReplicas", 1),
            target,
            behavior: hpa
                .pointer("/spec/behavior")
                .filter(|b| b.is_object())
                .map(Behavior::from_spec),
        }
    }
}

/// One condition to set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub kind: &'static str,
    pub status: &'static str,
    pub reason: String,
    pub message: String,
}

fn cond(
    kind: &'static str,
    status: &'static str,
    reason: &str,
    message: impl Into<String>,
) -> Condition {
    Condition {
        kind,
        status,
        reason: reason.to_string(),
        message: message.into(),
    }
}

/// The outcome of one sync.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// `status.desiredReplicas`; `None` keeps the previous value (metrics failed).
    pub desired: Option<i32>,
    /// Whether to write `desired` to the target.
    pub rescale: bool,
    /// The reason given in the SuccessfulRescale/FailedRescale event.
    pub reason: String,
    /// In the order Kubernetes sets them; later ones of a type win.
    pub conditions: Vec<Condition>,
    pub current_metrics: Option<Value>,
    /// A Warning event to record: (reason, message).
    pub warning: Option<(&'static str, String)>,
}

/// `status.currentMetrics` for a CPU utilisation sample.
pub fn cpu_metric_status(r: &Recommendation) -> Value {
    json!([{"type": "Resource", "resource": {"name": "cpu", "current": {
        "averageUtilization": r.utilization,
        "averageValue": Quantity::from_milli(r.average_milli).canonical(),
    }}}])
}

/// Decide what to do with a target at `current` replicas given the CPU recommendation.
pub fn decide(
    spec: &Spec,
    current: i32,
    metric: Result<Recommendation, String>,
    h: &mut History,
    now: i64,
) -> Decision {
    let mut d = Decision {
        desired: Some(current),
        rescale: false,
        reason: String::new(),
        conditions: vec![cond(
            "AbleToScale",
            "True",
            "SucceededGetScale",
            "the HPA controller was able to get the target's current scale",
        )],
        current_metrics: None,
        warning: None,
    };
    if current == 0 && spec.min != 0 {
        d.desired = Some(0);
        d.conditions.push(cond(
            "ScalingActive",
            "False",
            "ScalingDisabled",
            "scaling is disabled since the replica count of the target is zero",
        ));
        return d;
    }
    let desired = if current > spec.max {
        d.reason = "Current number of replicas above Spec.MaxReplicas".into();
        spec.max
    } else if current < spec.min {
        d.reason = "Current number of replicas below Spec.MinReplicas".into();
        spec.min
    } else {
        let rec = match (&spec.target, metric) {
            (Err(why), _) => {
                let msg = format!("the HPA was unable to compute the replica count: {why}");
                d.conditions.push(cond(
                    "ScalingActive",
                    "False",
                    "InvalidMetricSourceType",
                    msg.clone(),
                ));
                d.desired = None;
                d.warning = Some(("InvalidMetricSourceType", msg));
                return d;
            }
            (Ok(_), Err(why)) => {
                let why = format!("failed to get cpu utilization: {why}");
                d.conditions.push(cond(
                    "ScalingActive",
                    "False",
                    "FailedGetResourceMetric",
                    format!("the HPA was unable to compute the replica count: {why}"),
                ));
                d.desired = None;
                d.warning = Some(("FailedGetResourceMetric", why));
                return d;
            }
            (Ok(_), Ok(r)) => r,
        };
        d.current_metrics = Some(cpu_metric_status(&rec));
        d.conditions.push(cond(
            "ScalingActive",
            "True",
            "ValidMetricFound",
            format!(
                "the HPA was able to successfully calculate a replica count from {METRIC_NAME}"
            ),
        ));
        if rec.replicas > current {
            d.reason = format!("{METRIC_NAME} above target");
        } else if rec.replicas < current {
            d.reason = "All metrics below target".into();
        }
        let n = behavior::normalize(
            h,
            spec.behavior.as_ref(),
            current,
            rec.replicas,
            spec.min,
            spec.max,
            now,
        );
        d.conditions
            .push(cond("AbleToScale", "True", n.able.0, n.able.1));
        d.conditions.push(cond(
            "ScalingLimited",
            if n.limited.0 { "True" } else { "False" },
            n.limited.1,
            n.limited.2,
        ));
        n.replicas
    };
    d.desired = Some(desired);
    d.rescale = desired != current;
    d
}

/// Set one condition, keeping its transition time unless its status changes.
pub fn set_condition(conds: &mut Vec<Value>, c: &Condition, now: i64) {
    let new = json!({"type": c.kind, "status": c.status, "lastTransitionTime": rfc3339(now),
                     "reason": c.reason, "message": c.message});
    match conds
        .iter_mut()
        .find(|x| x.get("type").and_then(Value::as_str) == Some(c.kind))
    {
        Some(x) => {
            let since = x.get("lastTransitionTime").cloned();
            let same = x.get("status").and_then(Value::as_str) == Some(c.status);
            *x = new;
            if let Some(t) = since.filter(|_| same) {
                x["lastTransitionTime"] = t;
            }
        }
        None => conds.push(new),
    }
}

/// The HPA status after a decision; `scaled` when the target was rescaled now.
pub fn status(hpa: &Value, current: i32, d: &Decision, scaled: bool, now: i64) -> Value {
    let old = hpa.get("status").cloned().unwrap_or_else(|| json!({}));
    let mut conds = old
        .get("conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for c in &d.conditions {
        set_condition(&mut conds, c, now);
    }
    let desired = d
        .desired
        .map(Value::from)
        .or_else(|| old.get("desiredReplicas").cloned())
        .unwrap_or(json!(0));
    let mut s = json!({
        "currentReplicas": current,
        "desiredReplicas": desired,
        "conditions": conds,
    });
    if let Some(m) = &d.current_metrics {
        s["currentMetrics"] = m.clone();
    }
    if scaled {
        s["lastScaleTime"] = json!(rfc3339(now));
    } else if let Some(t) = old.get("lastScaleTime").filter(|t| !t.is_null()) {
        s["lastScaleTime"] = t.clone();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, FakeClock};

    fn spec(min: i32, max: i32) -> Spec {
        Spec::from_hpa(
            &json!({"spec": {"minReplicas": min, "maxReplicas": max, "metrics": [
            {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}]}}),
        )
    }

    fn rec(replicas: i32) -> Result<Recommendation, String> {
        Ok(Recommendation {
            replicas,
            utilization: 200,
            average_milli: 200,
        })
    }

    fn reason<'a>(d: &'a Decision, kind: &str) -> &'a str {
        d.conditions
            .iter()
            .rev()
            .find(|c| c.kind == kind)
            .map(|c| c.reason.as_str())
            .unwrap_or("")
    }

    #[test]
    fn reads_the_cpu_target_and_defaults() {
        let s = spec(2, 5);
        assert_eq!((s.min, s.max, s.target.clone()), (2, 5, Ok(50)));
        assert_eq!(
            Spec::from_hpa(&json!({"spec": {"maxReplicas": 3}})).target,
            Ok(80)
        );
        let mem = json!({"spec": {"maxReplicas": 3, "metrics": [{"type": "Resource", "resource": {"name": "memory",
            "target": {"type": "Utilization", "averageUtilization": 50}}}]}});
        assert!(Spec::from_hpa(&mem).target.is_err());
    }

    #[test]
    fn scales_up_and_reports_conditions_and_metrics() {
        let mut h = History::default();
        let d = decide(&spec(1, 10), 1, rec(4), &mut h, 0);
        assert_eq!((d.desired, d.rescale), (Some(4), true));
        assert_eq!(
            d.reason,
            "cpu resource utilization (percentage of request) above target"
        );
        assert_eq!(reason(&d, "ScalingActive"), "ValidMetricFound");
        assert_eq!(reason(&d, "AbleToScale"), "ReadyForNewScale");
        assert_eq!(reason(&d, "ScalingLimited"), "DesiredWithinRange");
        assert_eq!(
            d.current_metrics.unwrap()[0]["resource"]["current"],
            json!({"averageUtilization": 200, "averageValue": "200m"})
        );
    }

    #[test]
    fn bounds_and_disabled_targets_skip_metrics() {
        let mut h = History::default();
        let d = decide(&spec(2, 5), 8, Err("unused".into()), &mut h, 0);
        assert_eq!((d.desired, d.rescale), (Some(5), true));
        assert_eq!(
            d.reason,
            "Current number of replicas above Spec.MaxReplicas"
        );
        let d = decide(&spec(2, 5), 1, Err("unused".into()), &mut h, 0);
        assert_eq!(d.desired, Some(2));
        let d = decide(&spec(2, 5), 0, rec(4), &mut h, 0);
        assert_eq!((d.desired, d.rescale), (Some(0), false));
        assert_eq!(reason(&d, "ScalingActive"), "ScalingDisabled");
    }

    #[test]
    fn failed_metrics_keep_the_scale() {
        let d = decide(
            &spec(1, 5),
            3,
            Err("no pods".into()),
            &mut History::default(),
            0,
        );
        assert_eq!((d.desired, d.rescale), (None, false));
        assert_eq!(reason(&d, "ScalingActive"), "FailedGetResourceMetric");
        let hpa = json!({"status": {"desiredReplicas": 3}});
        assert_eq!(status(&hpa, 3, &d, false, 0)["desiredReplicas"], 3);
    }

    #[test]
    fn scale_down_is_stabilised_with_the_fake_clock() {
        let clock = FakeClock::new(5_000);
        let mut h = History::default();
        let s = spec(1, 10);
        assert!(!decide(&s, 4, rec(4), &mut h, clock.now()).rescale);
        clock.advance(100);
        let d = decide(&s, 4, rec(1), &mut h, clock.now());
        assert_eq!((d.desired, d.rescale), (Some(4), false));
        assert_eq!(reason(&d, "AbleToScale"), "ScaleDownStabilized");
        clock.advance(201);
        let d = decide(&s, 4, rec(1), &mut h, clock.now());
        assert_eq!((d.desired, d.rescale), (Some(1), true));
        assert_eq!(d.reason, "All metrics below target");
    }

    #[test]
    fn status_keeps_transition_times_and_sets_scale_time() {
        let d = decide(&spec(1, 10), 1, rec(4), &mut History::default(), 0);
        let first = status(&json!({}), 1, &d, true, 100);
        assert_eq!(first["lastScaleTime"], rfc3339(100));
        assert_eq!(first["currentReplicas"], 1);
        assert_eq!(first["desiredReplicas"], 4);
        let again = status(&json!({"status": first}), 4, &d, false, 200);
        assert_eq!(again["lastScaleTime"], rfc3339(100));
        assert_eq!(again["conditions"][0]["lastTransitionTime"], rfc3339(100));
        assert_eq!(again["conditions"].as_array().unwrap().len(), 3);
    }
}
