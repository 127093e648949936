//! Where the autoscaler gets pod CPU usage: an injectable [`MetricsSource`] (the node agent will
//! provide measured usage) and [`AnnotationMetrics`], which reads the usage a pod declares in
//! the `metrics.kedge.io/cpu-milli` annotation so tests and simulations can set it.

use std::sync::Arc;

use serde_json::Value;

use crate::api::object;
use crate::controller::informer::Informer;

/// The annotation [`AnnotationMetrics`] reads: CPU usage in millicores.
pub const CPU_ANNOTATION: &str = "metrics.kedge.io/cpu-milli";

/// Current CPU usage of pods.
pub trait MetricsSource: Send + Sync {
    /// Usage of the pod in millicores; `None` when there is no sample for it.
    fn pod_cpu_milli(&self, ns: &str, pod: &str) -> Option<i64>;
}

/// Usage declared by the pods themselves, read from the pod cache.
pub struct AnnotationMetrics {
    pods: Arc<Informer>,
}

impl AnnotationMetrics {
    pub fn new(pods: Arc<Informer>) -> AnnotationMetrics {
        AnnotationMetrics { pods }
    }
}

/// The usage a pod declares, if it declares a non-negative whole number of millicores.
pub fn declared_cpu_milli(pod: &Value) -> Option<i64> {
    object::meta(pod)?
        .get("annotations")?
        .get(CPU_ANNOTATION)?
        .as_str()?
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|v| *v >= 0)
}

impl MetricsSource for AnnotationMetrics {
    fn pod_cpu_milli(&self, ns: &str, pod: &str) -> Option<i64> {
        declared_cpu_milli(&*self.pods.get(&format!("{ns}/{pod}"))?)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reads_whole_non_negative_millicores() {
        let pod = |v: &str| json!({"metadata": {"annotations": {CPU_ANNOTATION: v}}});
        assert_eq!(declared_cpu_milli(&pod("250")), Some(250));
        assert_eq!(declared_cpu_milli(&pod("-1")), None);
        assert_eq!(declared_cpu_milli(&pod("1.5")), None);
        assert_eq!(declared_cpu_milli(&json!({"metadata": {}})), None);
    }
}
