//! Pure rollout arithmetic of the Deployment controller (Kubernetes' rolling-update rules).

use serde_json::Value;

/// `maxSurge`/`maxUnavailable` as absolute numbers for `replicas` (surge rounds up,
/// unavailable rounds down; both zero means one unavailable, as Kubernetes resolves it).
pub fn resolve_bounds(strategy: Option<&Value>, replicas: i64) -> (i64, i64) {
    let ru = strategy.and_then(|s| s.get("rollingUpdate"));
    let get = |k: &str, round_up: bool| -> i64 {
        match ru.and_then(|r| r.get(k)) {
            Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
            Some(Value::String(s)) if s.ends_with('%') => {
                let p: i64 = s.trim_end_matches('%').parse().unwrap_or(25);
                if round_up {
                    (replicas * p + 99) / 100
                } else {
                    replicas * p / 100
                }
            }
            Some(Value::String(s)) => s.parse().unwrap_or(0),
            _ => {
                if round_up {
                    (replicas * 25 + 99) / 100
                } else {
                    replicas * 25 / 100
                }
            }
        }
    };
    let surge = get("maxSurge", true);
    let mut unavailable = get("maxUnavailable", false);
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    (surge, unavailable)
}

/// A ReplicaSet as the rollout sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Set {
    pub name: String,
    /// `spec.replicas`.
    pub replicas: i64,
    /// `status.availableReplicas`.
    pub available: i64,
}

/// New `spec.replicas` for the new ReplicaSet when scaling up during a rolling update.
pub fn scale_up_new(desired: i64, surge: i64, new: &Set, olds: &[Set]) -> i64 {
    if new.replicas >= desired {
        return desired;
    }
    let total: i64 = new.replicas + olds.iter().map(|s| s.replicas).sum::<i64>();
    let allowed = desired + surge - total;
    if allowed <= 0 {
        return new.replicas;
    }
    (new.replicas + allowed).min(desired)
}

/// New `spec.replicas` for each old ReplicaSet (oldest first in `olds`) when scaling down
/// during a rolling update, never taking availability below `desired - unavailable`.
pub fn scale_down_olds(desired: i64, unavailable: i64, new: &Set, olds: &[Set]) -> Vec<i64> {
    let mut out: Vec<i64> = olds.iter().map(|s| s.replicas).collect();
    let all: i64 = new.replicas + out.iter().sum::<i64>();
    let min_available = desired - unavailable;
    let new_unavailable = (new.replicas - new.available).max(0);
    let mut budget = all - min_available - new_unavailable;
    if budget <= 0 {
        return out;
    }
    // First remove old replicas that are not available anyway: they cost no availability.
    for (i, s) in olds.iter().enumerate() {
        if budget <= 0 {
            break;
        }
        let unhealthy = (out[i] - s.available).max(0);
        let n = unhealthy.min(budget);
        out[i] -= n;
        budget -= n;
    }
    // Then scale down old replicas while total availability stays above the minimum.
    let available: i64 = new.available + olds.iter().map(|s| s.available).sum::<i64>();
    if available <= min_available {
        return out;
    }
    let mut left = available - min_available;
    for r in out.iter_mut() {
        if left <= 0 {
            break;
        }
        let n = (*r).min(left);
        *r -= n;
        left -= n;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set(r: i64, a: i64) -> Set {
        Set {
            name: "x".into(),
            replicas: r,
            available: a,
        }
    }

    #[test]
    fn resolves_percent_and_absolute_bounds() {
        assert_eq!(resolve_bounds(None, 10), (3, 2));
        let s = json!({"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}});
        assert_eq!(resolve_bounds(Some(&s), 10), (1, 0));
        let s = json!({"rollingUpdate": {"maxSurge": "0%", "maxUnavailable": "0%"}});
        assert_eq!(resolve_bounds(Some(&s), 10), (0, 1));
        let s = json!({"rollingUpdate": {"maxSurge": "50%", "maxUnavailable": "50%"}});
        assert_eq!(resolve_bounds(Some(&s), 3), (2, 1));
    }

    #[test]
    fn rollout_never_exceeds_surge_or_unavailability() {
        // Simulate a rollout of 10 replicas with maxSurge 3 / maxUnavailable 2 where every
        // created pod becomes available on the next step; check the bounds at every step.
        let (desired, surge, unavailable) = (10, 3, 2);
        let mut new = set(0, 0);
        let mut old = vec![set(10, 10)];
        for _ in 0..50 {
            new.replicas = scale_up_new(desired, surge, &new, &old);
            let total: i64 = new.replicas + old.iter().map(|s| s.replicas).sum::<i64>();
            assert!(total <= desired + surge, "surge exceeded: {total}");
            let olds = scale_down_olds(desired, unavailable, &new, &old);
            for (s, r) in old.iter_mut().zip(olds) {
                s.replicas = r;
                s.available = s.available.min(r);
            }
            let avail: i64 = new.available + old.iter().map(|s| s.available).sum::<i64>();
            assert!(
                avail >= desired - unavailable,
                "availability fell to {avail}"
            );
            new.available = new.replicas;
            if new.replicas == desired && old.iter().all(|s| s.replicas == 0) {
                return;
            }
        }
        panic!("rollout did not finish: new {new:?} old {old:?}");
    }

    #[test]
    fn unhealthy_old_replicas_go_first() {
        let new = set(3, 0);
        let olds = vec![set(3, 1)];
        // min available 2 (3-1); all 6, new unavailable 3 → budget 1: drop one unhealthy.
        assert_eq!(scale_down_olds(3, 1, &new, &olds), vec![2]);
    }
}
