//! The Pod printer: READY, STATUS and RESTARTS are computed from container statuses exactly
//! as `printPod` does, which is the logic users read most in `kubectl get pods`.

use serde_json::Value;

use super::duration;
use super::fields::{
    age, bool_of, condition_true, get, has, int_of, list_of, name, opt_bool, or, s, str_of,
};
use super::{col, wide, Col, Printer, AGE, NAME};

pub(super) const PRINTERS: &[Printer] = &[Printer {
    group: "",
    kind: "Pod",
    columns: COLUMNS,
    cells,
}];

const COLUMNS: &[Col] = &[
    NAME,
    col(
        "Ready",
        "string",
        "The aggregate readiness state of this pod for accepting traffic.",
    ),
    col(
        "Status",
        "string",
        "The aggregate status of the containers in this pod.",
    ),
    col(
        "Restarts",
        "string",
        "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
    ),
    AGE,
    wide(
        "IP",
        "string",
        "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.",
    ),
    wide(
        "Node",
        "string",
        "NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for scheduling by the scheduler defined in schedulerName.",
    ),
    wide(
        "Nominated Node",
        "string",
        "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods.",
    ),
    wide(
        "Readiness Gates",
        "string",
        "If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when all its containers are ready AND all conditions specified in the readiness gates have status equal to \"True\".",
    ),
];

/// Whether the init container called `name` is a sidecar (`restartPolicy: Always`).
fn is_sidecar(pod: &Value, name: &str) -> bool {
    list_of(pod, &["spec", "initContainers"])
        .iter()
        .rev()
        .find(|c| str_of(c, &["name"]) == name)
        .is_some_and(|c| str_of(c, &["restartPolicy"]) == "Always")
}

/// A container state (`waiting`/`running`/`terminated`) when set; Go's non-nil pointer.
fn state<'a>(status: &'a Value, which: &str, kind: &str) -> Option<&'a Value> {
    get(status, &[which, kind]).filter(|v| v.is_object())
}

/// The later of the running maximum and this container's last termination time.
fn note_restart(latest: &mut Option<i128>, status: &Value) {
    if state(status, "lastState", "terminated").is_some() {
        let finished = duration::time_of(status, &["lastState", "terminated", "finishedAt"]);
        if finished > *latest {
            *latest = finished;
        }
    }
}

/// `Signal:9` / `ExitCode:1` for a termination without a reason.
fn exit_text(terminated: &Value) -> String {
    match int_of(terminated, &["signal"]) {
        0 => format!("ExitCode:{}", int_of(terminated, &["exitCode"])),
        signal => format!("Signal:{signal}"),
    }
}

fn cells(pod: &Value, now: i64) -> Vec<Value> {
    let init_specs = list_of(pod, &["spec", "initContainers"]);
    let sidecars = init_specs
        .iter()
        .filter(|c| str_of(c, &["restartPolicy"]) == "Always")
        .count();
    let total = list_of(pod, &["spec", "containers"]).len() + sidecars;

    let phase = str_of(pod, &["status", "phase"]);
    let mut reason = or(str_of(pod, &["status", "reason"]), phase);
    let gated = list_of(pod, &["status", "conditions"]).iter().any(|c| {
        str_of(c, &["type"]) == "PodScheduled" && str_of(c, &["reason"]) == "SchedulingGated"
    });
    if gated {
        reason = "SchedulingGated".to_string();
    }

    let mut ready = 0usize;
    let mut restarts = 0i64;
    let mut sidecar_restarts = 0i64;
    let mut last_restart: Option<i128> = None;
    let mut last_sidecar_restart: Option<i128> = None;

    let mut initializing = false;
    for (i, status) in list_of(pod, &["status", "initContainerStatuses"])
        .iter()
        .enumerate()
    {
        restarts = restarts.saturating_add(int_of(status, &["restartCount"]));
        note_restart(&mut last_restart, status);
        let sidecar = is_sidecar(pod, str_of(status, &["name"]));
        if sidecar {
            sidecar_restarts = sidecar_restarts.saturating_add(int_of(status, &["restartCount"]));
            note_restart(&mut last_sidecar_restart, status);
        }
        let terminated = state(status, "state", "terminated");
        let waiting = state(status, "state", "waiting");
        if terminated.is_some_and(|t| int_of(t, &["exitCode"]) == 0) {
            continue;
        }
        if sidecar && opt_bool(status, &["started"]) == Some(true) {
            if bool_of(status, &["ready"]) {
                ready += 1;
            }
            continue;
        }
        reason = if let Some(t) = terminated {
            match str_of(t, &["reason"]) {
                "" => format!("Init:{}", exit_text(t)),
                r => format!("Init:{r}"),
            }
        } else if let Some(r) = waiting
            .map(|w| str_of(w, &["reason"]))
            .filter(|r| !r.is_empty() && *r != "PodInitializing")
        {
            format!("Init:{r}")
        } else {
            format!("Init:{i}/{}", init_specs.len())
        };
        initializing = true;
        break;
    }

    if !initializing || condition_true(pod, &["status", "conditions"], "Initialized") {
        // Once initialized, only sidecar restarts count from the init phase.
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        let mut has_running = false;
        // Reverse order, so the first container's state has the last word.
        for status in list_of(pod, &["status", "containerStatuses"]).iter().rev() {
            restarts = restarts.saturating_add(int_of(status, &["restartCount"]));
            note_restart(&mut last_restart, status);
            let waiting_reason = state(status, "state", "waiting").map(|w| str_of(w, &["reason"]));
            let terminated = state(status, "state", "terminated");
            if let Some(r) = waiting_reason.filter(|r| !r.is_empty()) {
                reason = r.to_string();
            } else if let Some(t) = terminated {
                reason = or(str_of(t, &["reason"]), &exit_text(t));
            } else if bool_of(status, &["ready"]) && state(status, "state", "running").is_some() {
                has_running = true;
                ready += 1;
            }
        }
        // A completed container next to a running one: the pod is still running.
        if reason == "Completed" && has_running {
            reason = if condition_true(pod, &["status", "conditions"], "Ready") {
                "Running"
            } else {
                "NotReady"
            }
            .to_string();
        }
    }

    if has(pod, &["metadata", "deletionTimestamp"]) {
        if str_of(pod, &["status", "reason"]) == "NodeLost" {
            reason = "Unknown".to_string();
        } else if phase != "Succeeded" && phase != "Failed" {
            reason = "Terminating".to_string();
        }
    }

    let restarts_text = match last_restart {
        Some(t) if restarts != 0 => {
            format!("{restarts} ({} ago)", duration::since_nanos(Some(t), now))
        }
        _ => restarts.to_string(),
    };

    // v1 `podIP` is authoritative over `podIPs[0]` when both are set.
    let ip = match str_of(pod, &["status", "podIP"]) {
        "" => list_of(pod, &["status", "podIPs"])
            .first()
            .map_or("", |p| str_of(p, &["ip"])),
        ip => ip,
    };
    let gates = list_of(pod, &["spec", "readinessGates"]);
    let gates_text = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let met = gates
            .iter()
            .filter(|g| {
                let kind = str_of(g, &["conditionType"]);
                condition_true(pod, &["status", "conditions"], kind)
            })
            .count();
        format!("{met}/{}", gates.len())
    };

    vec![
        s(name(pod)),
        s(format!("{ready}/{total}")),
        s(reason),
        s(restarts_text),
        s(age(pod, now)),
        s(or(ip, "<none>")),
        s(or(str_of(pod, &["spec", "nodeName"]), "<none>")),
        s(or(str_of(pod, &["status", "nominatedNodeName"]), "<none>")),
        s(gates_text),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_700_000_000; // 2023-11-14T22:13:20Z
    const HOUR_AGO: &str = "2023-11-14T21:13:20Z";

    fn row(pod: Value) -> Vec<Value> {
        cells(&pod, NOW)
    }

    fn running(name: &str, restarts: i64) -> Value {
        json!({"name": name, "ready": true, "restartCount": restarts,
               "state": {"running": {"startedAt": HOUR_AGO}}})
    }

    #[test]
    fn running_pod_with_wide_columns() {
        let pod = json!({
            "metadata": {"name": "web-1", "creationTimestamp": HOUR_AGO},
            "spec": {"nodeName": "node-a", "containers": [{"name": "a"}, {"name": "b"}],
                     "readinessGates": [{"conditionType": "example.com/lb"}]},
            "status": {
                "phase": "Running", "podIP": "10.0.0.7", "podIPs": [{"ip": "10.0.0.7"}],
                "conditions": [{"type": "Ready", "status": "True"},
                               {"type": "example.com/lb", "status": "False"}],
                "containerStatuses": [
                    running("a", 0),
                    {"name": "b", "ready": false, "restartCount": 3,
                     "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                     "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2023-11-14T22:08:20Z"}}}
                ]
            }
        });
        assert_eq!(
            row(pod),
            vec![
                json!("web-1"),
                json!("1/2"),
                json!("CrashLoopBackOff"),
                json!("3 (5m ago)"),
                json!("60m"),
                json!("10.0.0.7"),
                json!("node-a"),
                json!("<none>"),
                json!("0/1"),
            ]
        );
    }

    #[test]
    fn pending_pod_shows_none_and_zero_restarts() {
        let pod = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]},
                         "status": {"phase": "Pending"}});
        assert_eq!(
            row(pod),
            vec![
                json!("p"),
                json!("0/1"),
                json!("Pending"),
                json!("0"),
                json!("<unknown>"),
                json!("<none>"),
                json!("<none>"),
                json!("<none>"),
                json!("<none>"),
            ]
        );
    }

    #[test]
    fn init_containers() {
        let base = |statuses: Value| {
            json!({"metadata": {"name": "p"},
                   "spec": {"initContainers": [{"name": "i1"}, {"name": "i2"}],
                            "containers": [{"name": "c"}]},
                   "status": {"phase": "Pending", "initContainerStatuses": statuses,
                              "containerStatuses": [{"name": "c", "state": {"waiting": {"reason": "PodInitializing"}}}]}})
        };
        let first_done = base(json!([
            {"name": "i1", "state": {"terminated": {"exitCode": 0}}},
            {"name": "i2", "state": {"running": {}}}
        ]));
        assert_eq!(row(first_done)[2], json!("Init:1/2"));
        let crashing = base(json!([
            {"name": "i1", "restartCount": 4, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
             "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2023-11-14T22:12:20Z"}}}
        ]));
        let r = row(crashing);
        assert_eq!(
            (&r[2], &r[3]),
            (&json!("Init:CrashLoopBackOff"), &json!("4 (60s ago)"))
        );
        let failed = base(json!([{"name": "i1", "state": {"terminated": {"exitCode": 2}}}]));
        assert_eq!(row(failed)[2], json!("Init:ExitCode:2"));
        let killed =
            base(json!([{"name": "i1", "state": {"terminated": {"exitCode": 137, "signal": 9}}}]));
        assert_eq!(row(killed)[2], json!("Init:Signal:9"));
        let oom = base(
            json!([{"name": "i1", "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]),
        );
        assert_eq!(row(oom)[2], json!("Init:OOMKilled"));
        let all_done = base(json!([
            {"name": "i1", "state": {"terminated": {"exitCode": 0}}},
            {"name": "i2", "state": {"terminated": {"exitCode": 0}}}
        ]));
        assert_eq!(row(all_done)[2], json!("PodInitializing"));
    }

    #[test]
    fn sidecars_count_toward_ready_and_restarts() {
        let pod = json!({
            "metadata": {"name": "p"},
            "spec": {"initContainers": [{"name": "proxy", "restartPolicy": "Always"}],
                     "containers": [{"name": "app"}]},
            "status": {"phase": "Running",
                       "conditions": [{"type": "Initialized", "status": "True"}],
                       "initContainerStatuses": [{"name": "proxy", "started": true, "ready": true,
                                                  "restartCount": 2, "state": {"running": {}}}],
                       "containerStatuses": [running("app", 1)]}
        });
        let r = row(pod);
        assert_eq!(
            (&r[1], &r[2], &r[3]),
            (&json!("2/2"), &json!("Running"), &json!("3"))
        );
    }

    #[test]
    fn completed_and_terminating() {
        let done = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]},
                          "status": {"phase": "Succeeded", "containerStatuses": [
                              {"name": "c", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}});
        assert_eq!(row(done.clone())[2], json!("Completed"));
        let mut deleted = done;
        deleted["metadata"]["deletionTimestamp"] = json!(HOUR_AGO);
        // Terminal pods keep their status while being deleted.
        assert_eq!(row(deleted)[2], json!("Completed"));

        let live = json!({"metadata": {"name": "p", "deletionTimestamp": HOUR_AGO},
                          "spec": {"containers": [{"name": "c"}]},
                          "status": {"phase": "Running", "containerStatuses": [running("c", 0)]}});
        assert_eq!(row(live)[2], json!("Terminating"));
        let lost = json!({"metadata": {"name": "p", "deletionTimestamp": HOUR_AGO},
                          "status": {"phase": "Running", "reason": "NodeLost"}});
        assert_eq!(row(lost)[2], json!("Unknown"));

        let sidecar_style = json!({"metadata": {"name": "p"},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}],
                       "containerStatuses": [
                           {"name": "a", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                           running("b", 0)]}});
        assert_eq!(row(sidecar_style)[2], json!("NotReady"));

        let exited = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]},
                            "status": {"phase": "Failed", "containerStatuses": [
                                {"name": "c", "state": {"terminated": {"exitCode": 3}}}]}});
        assert_eq!(row(exited)[2], json!("ExitCode:3"));

        let evicted =
            json!({"metadata": {"name": "p"}, "status": {"phase": "Failed", "reason": "Evicted"}});
        assert_eq!(row(evicted)[2], json!("Evicted"));

        let gated = json!({"metadata": {"name": "p"}, "status": {"phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}});
        assert_eq!(row(gated)[2], json!("SchedulingGated"));
    }
}
