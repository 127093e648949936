//! `spec.podFailurePolicy`: the first rule matching a failed pod decides whether the Job
//! fails at once (`FailJob`), the failure is not counted (`Ignore`), or counted (`Count`).
//!
//! Contract: as Kubernetes' `matchPodFailurePolicy`; rules are tried in order, an exit-code
//! rule matches a terminated container with a non-zero exit code (regular containers before
//! init containers), a condition rule matches a pod condition's type and status.

use serde_json::Value;

use super::pods::container_statuses;
use crate::api::object;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Fail the Job with this message.
    FailJob(String),
    Ignore,
    Count,
    /// `FailIndex` (needs `backoffLimitPerIndex`, which this controller does not implement):
    /// counted like `Count`.
    FailIndex,
}

/// The action for a failed pod; `None` when there is no policy or no rule matches (the
/// failure counts).
pub fn match_pod(policy: Option<&Value>, pod: &Value) -> Option<Action> {
    let rules = policy?.get("rules")?.as_array()?;
    let ns = object::meta_str(pod, "namespace").unwrap_or("");
    let name = object::name(pod);
    for (i, rule) in rules.iter().enumerate() {
        let action = rule.get("action").and_then(Value::as_str).unwrap_or("");
        let fail_message = if let Some(req) = rule.get("onExitCodes").filter(|v| !v.is_null()) {
            let Some((container, code)) = exit_code_match(pod, req) else {
                continue;
            };
            format!(
                "Container {container} for pod {ns}/{name} failed with exit code {code} matching {action} rule at index {i}"
            )
        } else if let Some(patterns) = rule.get("onPodConditions").and_then(Value::as_array) {
            let Some(ty) = condition_match(pod, patterns) else {
                continue;
            };
            format!("Pod {ns}/{name} has condition {ty} matching {action} rule at index {i}")
        } else {
            continue;
        };
        let action = match action {
            "FailJob" => Action::FailJob(fail_message),
            "Ignore" => Action::Ignore,
            "Count" => Action::Count,
            "FailIndex" => Action::FailIndex,
            _ => continue,
        };
        return Some(action);
    }
    None
}

/// Whether a failed pod counts towards the backoff limit.
pub fn counts(policy: Option<&Value>, pod: &Value) -> bool {
    match_pod(policy, pod) != Some(Action::Ignore)
}

/// The first failed pod's `FailJob` message.
pub fn fail_job_message<'a>(
    policy: Option<&Value>,
    failed: impl IntoIterator<Item = &'a Value>,
) -> Option<String> {
    policy?;
    failed
        .into_iter()
        .find_map(|p| match match_pod(policy, p)? {
            Action::FailJob(m) => Some(m),
            _ => None,
        })
}

fn exit_code_match(pod: &Value, req: &Value) -> Option<(String, i64)> {
    let want_container = req.get("containerName").and_then(Value::as_str);
    let op = req.get("operator").and_then(Value::as_str).unwrap_or("");
    let values: Vec<i64> = req
        .get("values")
        .and_then(Value::as_array)
        .map(|v| v.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default();
    container_statuses(pod).find_map(|c| {
        let code = c.pointer("/state/terminated/exitCode")?.as_i64()?;
        let name = c.get("name").and_then(Value::as_str).unwrap_or("");
        if want_container.is_some_and(|w| w != name) || code == 0 {
            return None;
        }
        let hit = match op {
            "In" => values.contains(&code),
            "NotIn" => !values.contains(&code),
            _ => false,
        };
        hit.then(|| (name.to_string(), code))
    })
}

fn condition_match(pod: &Value, patterns: &[Value]) -> Option<String> {
    let conds = pod.pointer("/status/conditions")?.as_array()?;
    conds.iter().find_map(|c| {
        let ty = c.get("type").and_then(Value::as_str)?;
        let status = c.get("status").and_then(Value::as_str)?;
        patterns
            .iter()
            .any(|p| {
                p.get("type").and_then(Value::as_str) == Some(ty)
                    && p.get("status").and_then(Value::as_str).unwrap_or("True") == status
            })
            .then(|| ty.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn failed(code: i64) -> Value {
        json!({"metadata": {"name": "p", "namespace": "ns"}, "status": {"phase": "Failed",
            "conditions": [{"type": "DisruptionTarget", "status": "True"}],
            "containerStatuses": [
                {"name": "ok", "state": {"terminated": {"exitCode": 0}}},
                {"name": "main", "state": {"terminated": {"exitCode": code}}}]}})
    }

    fn policy() -> Value {
        json!({"rules": [
            {"action": "FailJob", "onExitCodes": {"containerName": "main", "operator": "In", "values": [42]}},
            {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
        ]})
    }

    #[test]
    fn rules_in_order() {
        let p = policy();
        assert_eq!(
            match_pod(Some(&p), &failed(42)).unwrap(),
            Action::FailJob(
                "Container main for pod ns/p failed with exit code 42 matching FailJob rule at index 0"
                    .into()
            )
        );
        assert!(!counts(Some(&p), &failed(1)));
        assert!(counts(None, &failed(1)));
        let count = json!({"rules": [{"action": "Count", "onExitCodes": {"operator": "NotIn", "values": [1]}}]});
        assert_eq!(match_pod(Some(&count), &failed(2)), Some(Action::Count));
        // Exit code 0 never matches, even with NotIn.
        let mut only_ok = failed(1);
        only_ok["status"]["containerStatuses"] =
            json!([{"name": "ok", "state": {"terminated": {"exitCode": 0}}}]);
        assert_eq!(match_pod(Some(&count), &only_ok), None);
    }

    #[test]
    fn fail_job_message_from_any_failed_pod() {
        let p = policy();
        let pods = [failed(1), failed(42)];
        let msg = fail_job_message(Some(&p), pods.iter()).unwrap();
        assert!(
            msg.contains("exit code 42 matching FailJob rule at index 0"),
            "{msg}"
        );
        let cond = json!({"rules": [{"action": "FailJob", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}]});
        assert_eq!(
            fail_job_message(Some(&cond), pods.iter()).unwrap(),
            "Pod ns/p has condition DisruptionTarget matching FailJob rule at index 0"
        );
        assert_eq!(fail_job_message(None, pods.iter()), None);
    }
}
