//! Pod facts controllers share: readiness, activity, availability, template hashes.

use serde_json::Value;

use crate::api::object;
use crate::clock::parse_rfc3339;

pub fn phase(pod: &Value) -> &str {
    pod.pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// Not finished and not being deleted.
pub fn is_active(pod: &Value) -> bool {
    !matches!(phase(pod), "Succeeded" | "Failed")
        && !object::meta(pod).is_some_and(|m| m.contains_key("deletionTimestamp"))
}

fn condition<'a>(pod: &'a Value, ty: &str) -> Option<&'a Value> {
    pod.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(ty))
}

pub fn is_ready(pod: &Value) -> bool {
    condition(pod, "Ready")
        .and_then(|c| c.get("status"))
        .and_then(Value::as_str)
        == Some("True")
}

/// Seconds since the pod became Ready (None when not ready).
pub fn ready_for(pod: &Value, now: i64) -> Option<i64> {
    if !is_ready(pod) {
        return None;
    }
    let since = condition(pod, "Ready")
        .and_then(|c| c.get("lastTransitionTime"))
        .and_then(Value::as_str)
        .and_then(parse_rfc3339)
        .unwrap_or(now);
    Some((now - since).max(0))
}

/// Ready for at least `min_ready` seconds.
pub fn is_available(pod: &Value, min_ready: i64, now: i64) -> bool {
    ready_for(pod, now).is_some_and(|s| min_ready <= 0 || s >= min_ready)
}

pub fn restarts(pod: &Value) -> i64 {
    pod.pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c.get("restartCount").and_then(Value::as_i64))
                .sum()
        })
        .unwrap_or(0)
}

pub fn node_name(pod: &Value) -> &str {
    pod.pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// A short stable hash of a pod template, rendered like Kubernetes' `pod-template-hash`
/// (digits and consonants only, so it never spells words).
pub fn template_hash(template: &Value, collision_count: i64) -> String {
    let mut h: u32 = 0x811c_9dc5;
    let text = serde_json::to_string(template).unwrap_or_default();
    for b in text.bytes().chain(collision_count.to_le_bytes()) {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut out = String::new();
    let mut v = u64::from(h);
    for _ in 0..10 {
        out.push(ALPHABET[(v % ALPHABET.len() as u64) as usize] as char);
        v /= ALPHABET.len() as u64;
        if v == 0 {
            break;
        }
    }
    out
}

/// Order for scale-down: delete unscheduled before scheduled, pending before running,
/// not-ready before ready, more recently ready first, more restarts first, newer first.
pub fn deletion_rank(pod: &Value, now: i64) -> (u8, u8, u8, i64, i64, i64) {
    let unscheduled = u8::from(!node_name(pod).is_empty());
    let pending = match phase(pod) {
        "Pending" | "" => 0,
        "Unknown" => 1,
        _ => 2,
    };
    let ready = u8::from(is_ready(pod));
    let ready_secs = ready_for(pod, now).unwrap_or(0);
    let created = object::meta_str(pod, "creationTimestamp")
        .and_then(parse_rfc3339)
        .unwrap_or(0);
    (
        unscheduled,
        pending,
        ready,
        ready_secs,
        -restarts(pod),
        -created,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn readiness_and_availability() {
        let pod = json!({"status": {"phase": "Running", "conditions": [
            {"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}});
        let t0 = parse_rfc3339("2026-01-01T00:00:00Z").unwrap();
        assert!(is_ready(&pod) && is_active(&pod));
        assert!(is_available(&pod, 0, t0));
        assert!(!is_available(&pod, 10, t0 + 5));
        assert!(is_available(&pod, 10, t0 + 10));
        let done = json!({"status": {"phase": "Succeeded"}});
        assert!(!is_active(&done));
    }

    #[test]
    fn template_hashes_are_stable_and_differ() {
        let a = json!({"spec": {"containers": [{"image": "a"}]}});
        let b = json!({"spec": {"containers": [{"image": "b"}]}});
        assert_eq!(template_hash(&a, 0), template_hash(&a, 0));
        assert_ne!(template_hash(&a, 0), template_hash(&b, 0));
        assert_ne!(template_hash(&a, 0), template_hash(&a, 1));
        assert!(template_hash(&a, 0)
            .bytes()
            .all(|c| c.is_ascii_alphanumeric()));
    }

    #[test]
    fn scale_down_prefers_unscheduled_then_not_ready() {
        let unscheduled = json!({"spec": {}, "status": {"phase": "Pending"}});
        let not_ready = json!({"spec": {"nodeName": "n"}, "status": {"phase": "Running"}});
        let ready = json!({"spec": {"nodeName": "n"}, "status": {"phase": "Running", "conditions": [
            {"type": "Ready", "status": "True"}]}});
        let mut pods = [&ready, &not_ready, &unscheduled];
        pods.sort_by_key(|p| deletion_rank(p, 0));
        assert_eq!(pods, [&unscheduled, &not_ready, &ready]);
    }
}
