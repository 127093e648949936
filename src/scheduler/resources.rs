//! Resource accounting and the `NodeResourcesFit` filter.
//!
//! Contract: [`Resources`] holds cpu in millicores (`Quantity.MilliValue()`) and every other
//! resource in its integer unit (bytes, counts: `Quantity.Value()`), both rounded up. [`pod_requests`] is
//! Kubernetes' `PodRequests`: the larger of the app containers' sum and the biggest init
//! container (sidecars, i.e. init containers with `restartPolicy: Always`, add to both), plus
//! `spec.overhead`. [`fit`] reports every resource the node lacks, with the node-size check
//! that tells preemption whether it could help.

use std::borrow::Cow;

use serde_json::Value;

use super::diagnosis::{Code, Plugin, Rejection};
use crate::api::validation::quantity::Quantity;

/// What scoring assumes a container without a cpu request asks for (`DefaultMilliCPURequest`).
pub const DEFAULT_MILLI_CPU: i64 = 100;
/// What scoring assumes a container without a memory request asks for (`DefaultMemoryRequest`).
pub const DEFAULT_MEMORY: i64 = 200 * 1024 * 1024;

/// An amount of every resource the scheduler tracks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    pub milli_cpu: i64,
    pub memory: i64,
    pub ephemeral_storage: i64,
    /// Extended resources, hugepages and the like, sorted by name, never zero.
    pub scalar: Vec<(String, i64)>,
}

impl Resources {
    /// From a `ResourceList` object (`{"cpu": "500m", "memory": "1Gi", ...}`); `pods` and
    /// unparsable values are left out.
    pub fn from_list(list: Option<&Value>) -> Resources {
        let mut r = Resources::default();
        let Some(list) = list.and_then(Value::as_object) else {
            return r;
        };
        for (name, v) in list {
            let Some(s) = quantity_str(v) else { continue };
            match name.as_str() {
                "cpu" => r.milli_cpu = milli_value(&s).unwrap_or(0),
                "memory" => r.memory = int_value(&s).unwrap_or(0),
                "ephemeral-storage" => r.ephemeral_storage = int_value(&s).unwrap_or(0),
                "pods" | "storage" => {}
                other => r.set_scalar(other, int_value(&s).unwrap_or(0)),
            }
        }
        r
    }

    pub fn scalar(&self, name: &str) -> i64 {
        self.scalar
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
            .map(|i| self.scalar[i].1)
            .unwrap_or(0)
    }

    fn set_scalar(&mut self, name: &str, v: i64) {
        match self.scalar.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
            Ok(i) if v == 0 => {
                self.scalar.remove(i);
            }
            Ok(i) => self.scalar[i].1 = v,
            Err(_) if v == 0 => {}
            Err(i) => self.scalar.insert(i, (name.to_string(), v)),
        }
    }

    pub fn add(&mut self, o: &Resources) {
        self.milli_cpu = self.milli_cpu.saturating_add(o.milli_cpu);
        self.memory = self.memory.saturating_add(o.memory);
        self.ephemeral_storage = self.ephemeral_storage.saturating_add(o.ephemeral_storage);
        for (n, v) in &o.scalar {
            let cur = self.scalar(n);
            self.set_scalar(n, cur.saturating_add(*v));
        }
    }

    pub fn sub(&mut self, o: &Resources) {
        self.milli_cpu = self.milli_cpu.saturating_sub(o.milli_cpu);
        self.memory = self.memory.saturating_sub(o.memory);
        self.ephemeral_storage = self.ephemeral_storage.saturating_sub(o.ephemeral_storage);
        for (n, v) in &o.scalar {
            let cur = self.scalar(n);
            self.set_scalar(n, cur.saturating_sub(*v));
        }
    }

    /// Raise every amount to at least `o`'s.
    fn max_with(&mut self, o: &Resources) {
        self.milli_cpu = self.milli_cpu.max(o.milli_cpu);
        self.memory = self.memory.max(o.memory);
        self.ephemeral_storage = self.ephemeral_storage.max(o.ephemeral_storage);
        for (n, v) in &o.scalar {
            let cur = self.scalar(n);
            self.set_scalar(n, cur.max(*v));
        }
    }

    pub fn is_zero(&self) -> bool {
        self.milli_cpu == 0
            && self.memory == 0
            && self.ephemeral_storage == 0
            && self.scalar.is_empty()
    }
}

/// A quantity as a string (stored objects hold strings; JSON numbers are accepted too).
fn quantity_str(v: &Value) -> Option<Cow<'_, str>> {
    match v {
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        _ => None,
    }
}

/// `Quantity.MilliValue()` of a quantity string; `None` when it does not parse.
pub fn milli_value(s: &str) -> Option<i64> {
    Quantity::parse(s).ok().map(|q| q.milli_value())
}

/// `Quantity.Value()` of a quantity string; `None` when it does not parse.
pub fn int_value(s: &str) -> Option<i64> {
    Quantity::parse(s).ok().map(|q| q.value())
}

fn container_requests(c: &Value, defaults: Option<(i64, i64)>) -> Resources {
    let list = c.pointer("/resources/requests");
    let mut r = Resources::from_list(list);
    if let Some((cpu, mem)) = defaults {
        let has = |k: &str| list.and_then(|l| l.get(k)).is_some();
        if !has("cpu") {
            r.milli_cpu = cpu;
        }
        if !has("memory") {
            r.memory = mem;
        }
    }
    r
}

fn containers<'a>(spec: &'a Value, field: &str) -> &'a [Value] {
    spec.get(field)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// `PodRequests`: what a pod asks of a node. With `defaults`, containers missing a cpu or memory
/// request count as asking for those amounts (`NonMissingContainerRequests`, used for scores).
pub fn pod_requests_with(spec: &Value, defaults: Option<(i64, i64)>) -> Resources {
    let mut reqs = Resources::default();
    for c in containers(spec, "containers") {
        reqs.add(&container_requests(c, defaults));
    }
    let mut sidecars = Resources::default();
    let mut init_max = Resources::default();
    for c in containers(spec, "initContainers") {
        let mut r = container_requests(c, defaults);
        if c.get("restartPolicy").and_then(Value::as_str) == Some("Always") {
            // A sidecar keeps running next to the app containers and every later init container.
            reqs.add(&r);
            sidecars.add(&r);
            r = sidecars.clone();
        } else {
            r.add(&sidecars);
        }
        init_max.max_with(&r);
    }
    reqs.max_with(&init_max);
    reqs.add(&Resources::from_list(spec.get("overhead")));
    reqs
}

pub fn pod_requests(spec: &Value) -> Resources {
    pod_requests_with(spec, None)
}

/// Requests with the scoring defaults for unset cpu and memory: (millicores, bytes).
pub fn nonzero_requests(spec: &Value) -> (i64, i64) {
    let r = pod_requests_with(spec, Some((DEFAULT_MILLI_CPU, DEFAULT_MEMORY)));
    (r.milli_cpu, r.memory)
}

/// The node's allocatable resources and pod count from `status.allocatable` (falling back to
/// `status.capacity`, as the kubelet reports allocatable = capacity when nothing is reserved).
pub fn allocatable(node: &Value) -> (Resources, i64) {
    let list = node
        .pointer("/status/allocatable")
        .filter(|v| v.as_object().is_some_and(|m| !m.is_empty()))
        .or_else(|| node.pointer("/status/capacity"));
    let pods = list
        .and_then(|l| l.get("pods"))
        .and_then(quantity_str)
        .and_then(|s| int_value(&s))
        .unwrap_or(0);
    (Resources::from_list(list), pods)
}

/// `NodeResourcesFit`'s filter: `pod` needs `req`; the node has `alloc` (and room for
/// `allowed_pods` pods), of which `used` is requested by its `pods` pods.
pub fn fit(
    req: &Resources,
    alloc: &Resources,
    allowed_pods: i64,
    used: &Resources,
    pods: usize,
) -> Result<(), Rejection> {
    let mut reasons: Vec<Cow<'static, str>> = Vec::new();
    let mut unresolvable = false;
    if pods as i64 + 1 > allowed_pods {
        reasons.push(Cow::Borrowed("Too many pods"));
    }
    if req.is_zero() {
        return reject(reasons, unresolvable);
    }
    let mut check = |want: i64, have: i64, used: i64, reason: Cow<'static, str>| {
        if want > 0 && want > have - used {
            reasons.push(reason);
            // Even an empty node could not hold it: evicting pods cannot help.
            unresolvable |= want > have;
        }
    };
    check(
        req.milli_cpu,
        alloc.milli_cpu,
        used.milli_cpu,
        Cow::Borrowed("Insufficient cpu"),
    );
    check(
        req.memory,
        alloc.memory,
        used.memory,
        Cow::Borrowed("Insufficient memory"),
    );
    check(
        req.ephemeral_storage,
        alloc.ephemeral_storage,
        used.ephemeral_storage,
        Cow::Borrowed("Insufficient ephemeral-storage"),
    );
    for (name, want) in &req.scalar {
        check(
            *want,
            alloc.scalar(name),
            used.scalar(name),
            Cow::Owned(format!("Insufficient {name}")),
        );
    }
    reject(reasons, unresolvable)
}

fn reject(reasons: Vec<Cow<'static, str>>, unresolvable: bool) -> Result<(), Rejection> {
    if reasons.is_empty() {
        return Ok(());
    }
    let code = if unresolvable {
        Code::Unresolvable
    } else {
        Code::Unschedulable
    };
    Err(Rejection {
        plugin: Plugin::NodeResourcesFit,
        code,
        reasons,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Map};

    fn list(pairs: &[(&str, &str)]) -> Value {
        let m: Map<String, Value> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        Value::Object(m)
    }

    #[test]
    fn quantities_scale_and_round_up() {
        let cases = [
            ("1", 1000),
            ("500m", 500),
            ("0.5", 500),
            ("100n", 1),
            ("1e3", 1_000_000),
        ];
        for (s, want) in cases {
            assert_eq!(milli_value(s), Some(want), "{s}");
        }
        assert_eq!(int_value("1.5Gi"), Some(1_610_612_736));
        assert_eq!(int_value("1.5"), Some(2));
        assert_eq!(int_value("bogus"), None);
    }

    #[test]
    fn pod_requests_follow_kubernetes_init_container_rules() {
        let c =
            |cpu: &str, mem: &str| json!({"resources": {"requests": {"cpu": cpu, "memory": mem}}});
        let sidecar =
            |cpu: &str| json!({"restartPolicy": "Always", "resources": {"requests": {"cpu": cpu}}});
        struct Case {
            name: &'static str,
            spec: Value,
            cpu: i64,
            mem: i64,
        }
        let cases = [
            Case {
                name: "sum of app containers",
                spec: json!({"containers": [c("100m", "1Mi"), c("200m", "2Mi")]}),
                cpu: 300,
                mem: 3 << 20,
            },
            Case {
                name: "an init container bigger than the sum wins",
                spec: json!({"containers": [c("100m", "1Mi")], "initContainers": [c("1", "1Mi"), c("50m", "8Mi")]}),
                cpu: 1000,
                mem: 8 << 20,
            },
            Case {
                name: "init containers smaller than the sum",
                spec: json!({"containers": [c("500m", "4Mi")], "initContainers": [c("100m", "1Mi")]}),
                cpu: 500,
                mem: 4 << 20,
            },
            Case {
                name: "sidecars add to the app sum and to later init containers",
                spec: json!({"containers": [c("100m", "0")], "initContainers": [sidecar("200m"), c("250m", "0")]}),
                cpu: 450,
                mem: 0,
            },
            Case {
                name: "overhead is added",
                spec: json!({"containers": [c("100m", "1Mi")], "overhead": {"cpu": "10m"}}),
                cpu: 110,
                mem: 1 << 20,
            },
        ];
        for case in cases {
            let r = pod_requests(&case.spec);
            assert_eq!(
                (r.milli_cpu, r.memory),
                (case.cpu, case.mem),
                "{}",
                case.name
            );
        }
        let best_effort = json!({"containers": [{}], "initContainers": [{}]});
        assert!(pod_requests(&best_effort).is_zero());
        assert_eq!(
            nonzero_requests(&best_effort),
            (DEFAULT_MILLI_CPU, DEFAULT_MEMORY)
        );
        let gpu = json!({"containers": [{"resources": {"requests": {"nvidia.com/gpu": "2"}}}]});
        assert_eq!(pod_requests(&gpu).scalar("nvidia.com/gpu"), 2);
    }

    #[test]
    fn fit_reports_each_missing_resource() {
        let alloc = Resources::from_list(Some(&list(&[
            ("cpu", "2"),
            ("memory", "4Gi"),
            ("example.com/dev", "1"),
        ])));
        let used = Resources::from_list(Some(&list(&[("cpu", "1500m"), ("memory", "1Gi")])));
        let req = |pairs: &[(&str, &str)]| Resources::from_list(Some(&list(pairs)));
        struct Case {
            name: &'static str,
            req: Resources,
            pods: usize,
            want: Option<(Code, Vec<&'static str>)>,
        }
        let cases = [
            Case {
                name: "fits",
                req: req(&[("cpu", "500m"), ("memory", "1Gi")]),
                pods: 0,
                want: None,
            },
            Case {
                name: "cpu taken by other pods: preemption may help",
                req: req(&[("cpu", "1")]),
                pods: 0,
                want: Some((Code::Unschedulable, vec!["Insufficient cpu"])),
            },
            Case {
                name: "bigger than the node",
                req: req(&[("cpu", "3"), ("memory", "5Gi")]),
                pods: 0,
                want: Some((
                    Code::Unresolvable,
                    vec!["Insufficient cpu", "Insufficient memory"],
                )),
            },
            Case {
                name: "too many pods even without requests",
                req: Resources::default(),
                pods: 3,
                want: Some((Code::Unschedulable, vec!["Too many pods"])),
            },
            Case {
                name: "extended resource",
                req: req(&[("example.com/dev", "2")]),
                pods: 0,
                want: Some((Code::Unresolvable, vec!["Insufficient example.com/dev"])),
            },
            Case {
                name: "ephemeral storage the node lacks",
                req: req(&[("ephemeral-storage", "1Gi")]),
                pods: 0,
                want: Some((Code::Unresolvable, vec!["Insufficient ephemeral-storage"])),
            },
        ];
        for case in cases {
            let got = fit(&case.req, &alloc, 3, &used, case.pods).err().map(|r| {
                (
                    r.code,
                    r.reasons.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                )
            });
            let want = case
                .want
                .map(|(c, r)| (c, r.into_iter().map(str::to_string).collect::<Vec<_>>()));
            assert_eq!(got, want, "{}", case.name);
        }
    }

    #[test]
    fn allocatable_falls_back_to_capacity() {
        let node = json!({"status": {"capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"}}});
        let (r, pods) = allocatable(&node);
        assert_eq!((r.milli_cpu, r.memory, pods), (4000, 8 << 30, 110));
    }
}
