//! How far and how fast a recommendation may move the replica count: Kubernetes' HPA
//! normalisation. Without `spec.behavior`: the highest recommendation of the last 300 s wins
//! (scale-down stabilisation), then min/max replicas and at most `max(2 × current, 4)` up. With
//! `spec.behavior`: per-direction stabilisation windows and `Pods`/`Percent` policies over
//! their periods (selected by `Max`, `Min` or `Disabled`), with Kubernetes' defaults for
//! whatever is unset.
//!
//! Contract: pure functions of a per-autoscaler [`History`] and `now` (seconds from the
//! injected clock); [`normalize`] records the recommendation it was given, [`record_scale`] the
//! scale actually applied. Each returns the reasons Kubernetes puts in the AbleToScale and
//! ScalingLimited conditions.

use serde_json::Value;

/// Kubernetes' `--horizontal-pod-autoscaler-downscale-stabilization`.
pub const DEFAULT_DOWNSCALE_WINDOW: i64 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Select {
    Max,
    Min,
    Disabled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// `Pods` (else `Percent`).
    pub pods: bool,
    pub value: i32,
    pub period: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    pub window: i64,
    pub select: Select,
    pub policies: Vec<Policy>,
}

/// `spec.behavior` with Kubernetes' defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Behavior {
    pub up: Rules,
    pub down: Rules,
}

fn rules(spec: Option<&Value>, default: Rules) -> Rules {
    let Some(spec) = spec.filter(|s| s.is_object()) else {
        return default;
    };
    let select = match spec.get("selectPolicy").and_then(Value::as_str) {
        Some("Min") => Select::Min,
        Some("Disabled") => Select::Disabled,
        Some(_) => Select::Max,
        None => default.select,
    };
    let policies = match spec.get("policies").and_then(Value::as_array) {
        Some(ps) => ps
            .iter()
            .map(|p| Policy {
                pods: p.get("type").and_then(Value::as_str) == Some("Pods"),
                value: p.get("value").and_then(Value::as_i64).unwrap_or(0) as i32,
                period: p.get("periodSeconds").and_then(Value::as_i64).unwrap_or(0),
            })
            .collect(),
        None => default.policies,
    };
    Rules {
        window: spec
            .get("stabilizationWindowSeconds")
            .and_then(Value::as_i64)
            .unwrap_or(default.window),
        select,
        policies,
    }
}

impl Behavior {
    /// `GenerateHPAScaleUpRules` / `GenerateHPAScaleDownRules` over `spec.behavior`.
    pub fn from_spec(b: &Value) -> Behavior {
        let pct = |value, period| Policy {
            pods: false,
            value,
            period,
        };
        let up = Rules {
            window: 0,
            select: Select::Max,
            policies: vec![
                Policy {
                    pods: true,
                    value: 4,
                    period: 15,
                },
                pct(100, 15),
            ],
        };
        let down = Rules {
            window: DEFAULT_DOWNSCALE_WINDOW,
            select: Select::Max,
            policies: vec![pct(100, 15)],
        };
        Behavior {
            up: rules(b.get("scaleUp"), up),
            down: rules(b.get("scaleDown"), down),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct ScaleEvent {
    change: i32,
    at: i64,
    outdated: bool,
}

/// What an autoscaler remembers between syncs (Kubernetes keeps it in memory too).
#[derive(Debug, Default, Clone)]
pub struct History {
    /// (time, unstabilised recommendation).
    recommendations: Vec<(i64, i32)>,
    up: Vec<ScaleEvent>,
    down: Vec<ScaleEvent>,
}

/// The outcome of normalisation, with the condition reasons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized {
    pub replicas: i32,
    /// AbleToScale (always True here): reason and message.
    pub able: (&'static str, &'static str),
    /// ScalingLimited: whether limited, reason and message.
    pub limited: (bool, &'static str, &'static str),
}

const WITHIN: (&str, &str) = (
    "DesiredWithinRange",
    "the desired count is within the acceptable range",
);
const READY: (&str, &str) = ("ReadyForNewScale", "recommended size matches current size");
const UP_LIMIT: (&str, &str) = (
    "ScaleUpLimit",
    "the desired replica count is increasing faster than the maximum scale rate",
);
const DOWN_LIMIT: (&str, &str) = (
    "ScaleDownLimit",
    "the desired replica count is decreasing faster than the maximum scale rate",
);
const TOO_MANY: (&str, &str) = (
    "TooManyReplicas",
    "the desired replica count is more than the maximum replica count",
);
const TOO_FEW: (&str, &str) = (
    "TooFewReplicas",
    "the desired replica count is less than the minimum replica count",
);
const UP_STABILIZED: (&str, &str) = (
    "ScaleUpStabilized",
    "recent recommendations were lower than current one, applying the lowest recent recommendation",
);
const DOWN_STABILIZED: (&str, &str) = (
    "ScaleDownStabilized",
    "recent recommendations were higher than current one, applying the highest recent recommendation",
);

/// Replace the oldest-expired recommendation or append one.
fn remember(h: &mut History, old: Option<usize>, desired: i32, now: i64) {
    match old {
        Some(i) => h.recommendations[i] = (now, desired),
        None => h.recommendations.push((now, desired)),
    }
}

/// Bring `desired` within what the stabilisation windows, policies and min/max allow.
pub fn normalize(
    h: &mut History,
    behavior: Option<&Behavior>,
    current: i32,
    desired: i32,
    min: i32,
    max: i32,
    now: i64,
) -> Normalized {
    let (stabilized, able) = match behavior {
        None => stabilize(h, desired, now),
        Some(b) => stabilize_with(h, b, current, desired, now),
    };
    let able = if stabilized == desired { READY } else { able };
    let (replicas, why) = match behavior {
        None => limit(current, stabilized, min, max),
        Some(b) => limit_with(h, b, current, stabilized, min, max, now),
    };
    Normalized {
        replicas,
        able,
        limited: (replicas != stabilized, why.0, why.1),
    }
}

/// `stabilizeRecommendation`: the highest recommendation within the default window.
fn stabilize(h: &mut History, desired: i32, now: i64) -> (i32, (&'static str, &'static str)) {
    let cutoff = now - DEFAULT_DOWNSCALE_WINDOW;
    let mut best = desired;
    let mut old = None;
    for (i, (at, rec)) in h.recommendations.iter().enumerate() {
        if *at < cutoff {
            old = Some(i);
        } else {
            best = best.max(*rec);
        }
    }
    remember(h, old, desired, now);
    (best, DOWN_STABILIZED)
}

/// `stabilizeRecommendationWithBehaviors`: between the lowest recommendation of the up window
/// and the highest of the down window.
fn stabilize_with(
    h: &mut History,
    b: &Behavior,
    current: i32,
    desired: i32,
    now: i64,
) -> (i32, (&'static str, &'static str)) {
    let (up_cut, down_cut) = (now - b.up.window, now - b.down.window);
    let (mut up, mut down) = (desired, desired);
    let mut old = None;
    for (i, (at, rec)) in h.recommendations.iter().enumerate() {
        if *at > up_cut {
            up = up.min(*rec);
        }
        if *at > down_cut {
            down = down.max(*rec);
        }
        if *at < up_cut && *at < down_cut {
            old = Some(i);
        }
    }
    let stabilized = current.max(up).min(down);
    remember(h, old, desired, now);
    (
        stabilized,
        if desired >= current {
            UP_STABILIZED
        } else {
            DOWN_STABILIZED
        },
    )
}

/// `convertDesiredReplicasWithRules`.
fn limit(current: i32, desired: i32, min: i32, max: i32) -> (i32, (&'static str, &'static str)) {
    let up_limit = (2 * current).max(4);
    let (allowed, why) = if max > up_limit {
        (up_limit, UP_LIMIT)
    } else {
        (max, TOO_MANY)
    };
    if desired < min {
        (min, TOO_FEW)
    } else if desired > allowed {
        (allowed, why)
    } else {
        (desired, WITHIN)
    }
}

/// Net replicas added by the events within `period` seconds before `now`.
fn changed_within(events: &[ScaleEvent], period: i64, now: i64) -> i32 {
    events
        .iter()
        .filter(|e| e.at > now - period)
        .map(|e| e.change)
        .sum()
}

/// The furthest the policies let `current` move in one direction (`up` selects the direction).
fn policy_limit(h: &History, rules: &Rules, current: i32, up: bool, now: i64) -> i32 {
    if rules.select == Select::Disabled {
        return current;
    }
    // "Max" picks the biggest change: the highest count up, the lowest count down.
    let biggest = rules.select == Select::Max;
    let mut best: Option<i32> = None;
    for p in &rules.policies {
        let start =
            current - changed_within(&h.up, p.period, now) + changed_within(&h.down, p.period, now);
        let proposed = match (up, p.pods) {
            (true, true) => start + p.value,
            (true, false) => (f64::from(start) * (1.0 + f64::from(p.value) / 100.0)).ceil() as i32,
            (false, true) => start - p.value,
            (false, false) => (f64::from(start) * (1.0 - f64::from(p.value) / 100.0)) as i32,
        };
        best = Some(match best {
            None => proposed,
            Some(b) if up == biggest => b.max(proposed),
            Some(b) => b.min(proposed),
        });
    }
    best.unwrap_or(if up == biggest { i32::MIN } else { i32::MAX })
}

/// `convertDesiredReplicasWithBehaviorRate`.
fn limit_with(
    h: &History,
    b: &Behavior,
    current: i32,
    desired: i32,
    min: i32,
    max: i32,
    now: i64,
) -> (i32, (&'static str, &'static str)) {
    if desired > current {
        let up_limit = policy_limit(h, &b.up, current, true, now).max(current);
        let (allowed, why) = if max > up_limit {
            (up_limit, UP_LIMIT)
        } else {
            (max, TOO_MANY)
        };
        if desired > allowed {
            return (allowed, why);
        }
    } else if desired < current {
        let down_limit = policy_limit(h, &b.down, current, false, now).min(current);
        let (allowed, why) = if min < down_limit {
            (down_limit, DOWN_LIMIT)
        } else {
            (min, TOO_FEW)
        };
        if desired < allowed {
            return (allowed, why);
        }
    }
    (desired, WITHIN)
}

/// `storeScaleEvent`: remember an applied change for the policies' periods.
pub fn record_scale(h: &mut History, behavior: Option<&Behavior>, prev: i32, new: i32, now: i64) {
    let Some(b) = behavior else { return };
    let (events, rules, change) = if new > prev {
        (&mut h.up, &b.up, new - prev)
    } else {
        (&mut h.down, &b.down, prev - new)
    };
    let longest = rules.policies.iter().map(|p| p.period).max().unwrap_or(0);
    for e in events.iter_mut() {
        if e.at < now - longest {
            e.outdated = true;
        }
    }
    let fresh = ScaleEvent {
        change,
        at: now,
        outdated: false,
    };
    match events.iter_mut().find(|e| e.outdated) {
        Some(e) => *e = fresh,
        None => events.push(fresh),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::clock::{Clock, FakeClock};

    #[test]
    fn scale_down_waits_for_the_stabilisation_window() {
        let clock = FakeClock::new(1_000);
        let mut h = History::default();
        let n = normalize(&mut h, None, 5, 5, 1, 10, clock.now());
        assert_eq!(n.replicas, 5);
        clock.advance(60);
        let n = normalize(&mut h, None, 5, 2, 1, 10, clock.now());
        assert_eq!(n.replicas, 5);
        assert_eq!(n.able.0, "ScaleDownStabilized");
        clock.advance(241);
        // The recommendation of 5 is now older than 300 s; only the 2s remain.
        let n = normalize(&mut h, None, 5, 2, 1, 10, clock.now());
        assert_eq!(n.replicas, 2);
        assert_eq!(n.able.0, "ReadyForNewScale");
    }

    #[test]
    fn default_limits_cap_growth_and_bounds() {
        let mut h = History::default();
        let n = normalize(&mut h, None, 1, 10, 1, 20, 0);
        assert_eq!(
            (n.replicas, n.limited),
            (4, (true, "ScaleUpLimit", UP_LIMIT.1))
        );
        let n = normalize(&mut h, None, 4, 10, 1, 6, 0);
        assert_eq!((n.replicas, n.limited.1), (6, "TooManyReplicas"));
        let n = normalize(&mut History::default(), None, 4, 0, 2, 6, 0);
        assert_eq!((n.replicas, n.limited.1), (2, "TooFewReplicas"));
        let n = normalize(&mut History::default(), None, 4, 5, 2, 6, 0);
        assert_eq!(
            (n.replicas, n.limited),
            (5, (false, "DesiredWithinRange", WITHIN.1))
        );
    }

    #[test]
    fn behavior_defaults_and_overrides() {
        let b = Behavior::from_spec(
            &json!({"scaleDown": {"stabilizationWindowSeconds": 60, "selectPolicy": "Min"}}),
        );
        assert_eq!(b.down.window, 60);
        assert_eq!(b.down.select, Select::Min);
        assert_eq!(
            b.down.policies,
            vec![Policy {
                pods: false,
                value: 100,
                period: 15
            }]
        );
        assert_eq!(b.up.policies.len(), 2);
        assert_eq!(
            Behavior::from_spec(&json!({})).down.window,
            DEFAULT_DOWNSCALE_WINDOW
        );
    }

    #[test]
    fn policies_limit_the_rate_over_their_period() {
        let clock = FakeClock::new(1_000);
        let b = Behavior::from_spec(
            &json!({"scaleUp": {"policies": [{"type": "Pods", "value": 2, "periodSeconds": 60}]}}),
        );
        let mut h = History::default();
        let n = normalize(&mut h, Some(&b), 2, 10, 1, 20, clock.now());
        assert_eq!((n.replicas, n.limited.1), (4, "ScaleUpLimit"));
        record_scale(&mut h, Some(&b), 2, 4, clock.now());
        clock.advance(30);
        // Two pods were already added within the 60 s period.
        let n = normalize(&mut h, Some(&b), 4, 10, 1, 20, clock.now());
        assert_eq!(n.replicas, 4);
        clock.advance(31);
        let n = normalize(&mut h, Some(&b), 4, 10, 1, 20, clock.now());
        assert_eq!(n.replicas, 6);
    }

    #[test]
    fn behavior_down_window_and_disabled_policy() {
        let clock = FakeClock::new(1_000);
        let b = Behavior::from_spec(&json!({"scaleDown": {"stabilizationWindowSeconds": 30}}));
        let mut h = History::default();
        normalize(&mut h, Some(&b), 6, 6, 1, 10, clock.now());
        clock.advance(10);
        let n = normalize(&mut h, Some(&b), 6, 2, 1, 10, clock.now());
        assert_eq!((n.replicas, n.able.0), (6, "ScaleDownStabilized"));
        clock.advance(31);
        assert_eq!(
            normalize(&mut h, Some(&b), 6, 2, 1, 10, clock.now()).replicas,
            2
        );
        let off = Behavior::from_spec(
            &json!({"scaleDown": {"selectPolicy": "Disabled", "stabilizationWindowSeconds": 0}}),
        );
        let n = normalize(
            &mut History::default(),
            Some(&off),
            6,
            2,
            1,
            10,
            clock.now(),
        );
        assert_eq!((n.replicas, n.limited.1), (6, "ScaleDownLimit"));
    }
}
