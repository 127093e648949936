//! Pod status as Kubernetes reports it, computed from the pod worker's container records.
//!
//! Contract: [`render`] is pure: phase (kubelet's `getPhase`), the conditions PodScheduled,
//! PodReadyToStartContainers, Initialized, ContainersReady and Ready (transition times kept
//! from the previous status while a condition's status is unchanged), IPs, startTime,
//! init/app container statuses and qosClass. The worker patches the result only when it differs
//! from what the API holds.

use serde_json::{json, Map, Value};

use crate::clock::rfc3339;

/// One container's state (times in seconds since the epoch).
#[derive(Debug, Clone, PartialEq)]
pub enum CState {
    Waiting {
        reason: String,
        message: String,
    },
    Running {
        started_at: i64,
    },
    Terminated {
        exit_code: i32,
        signal: Option<i32>,
        reason: String,
        message: String,
        started_at: i64,
        finished_at: i64,
        container_id: String,
    },
}

impl CState {
    pub fn waiting(reason: &str, message: &str) -> CState {
        CState::Waiting {
            reason: reason.into(),
            message: message.into(),
        }
    }

    pub fn is_running(&self) -> bool {
        matches!(self, CState::Running { .. })
    }

    /// Exit code of a terminated state.
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            CState::Terminated { exit_code, .. } => Some(*exit_code),
            _ => None,
        }
    }

    fn to_json(&self) -> Value {
        match self {
            CState::Waiting { reason, message } => {
                let mut w = Map::new();
                w.insert("reason".into(), json!(reason));
                if !message.is_empty() {
                    w.insert("message".into(), json!(message));
                }
                json!({"waiting": w})
            }
            CState::Running { started_at } => {
                json!({"running": {"startedAt": rfc3339(*started_at)}})
            }
            CState::Terminated {
                exit_code,
                signal,
                reason,
                message,
                started_at,
                finished_at,
                container_id,
            } => {
                let mut t = Map::new();
                t.insert("exitCode".into(), json!(exit_code));
                if let Some(s) = signal {
                    t.insert("signal".into(), json!(s));
                }
                t.insert("reason".into(), json!(reason));
                if !message.is_empty() {
                    t.insert("message".into(), json!(message));
                }
                if *started_at > 0 {
                    t.insert("startedAt".into(), json!(rfc3339(*started_at)));
                }
                t.insert("finishedAt".into(), json!(rfc3339(*finished_at)));
                if !container_id.is_empty() {
                    t.insert("containerID".into(), json!(container_id));
                }
                json!({"terminated": t})
            }
        }
    }
}

/// What the status reports about one container.
#[derive(Debug, Clone, PartialEq)]
pub struct CtrStatus {
    pub name: String,
    pub image: String,
    pub image_id: String,
    /// `kedge://<id>` of the current (or last) run.
    pub container_id: Option<String>,
    pub state: CState,
    pub last_state: Option<CState>,
    pub ready: bool,
    pub started: bool,
    pub restart_count: u32,
}

impl CtrStatus {
    pub fn new(name: &str, image: &str, state: CState) -> CtrStatus {
        CtrStatus {
            name: name.into(),
            image: image.into(),
            image_id: String::new(),
            container_id: None,
            state,
            last_state: None,
            ready: false,
            started: false,
            restart_count: 0,
        }
    }

    fn succeeded(&self) -> bool {
        self.state.exit_code() == Some(0)
    }

    fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), json!(self.name));
        m.insert("state".into(), self.state.to_json());
        m.insert(
            "lastState".into(),
            self.last_state
                .as_ref()
                .map(CState::to_json)
                .unwrap_or_else(|| json!({})),
        );
        m.insert("ready".into(), json!(self.ready));
        m.insert("restartCount".into(), json!(self.restart_count));
        m.insert("image".into(), json!(self.image));
        m.insert("imageID".into(), json!(self.image_id));
        if let Some(id) = &self.container_id {
            m.insert("containerID".into(), json!(id));
        }
        m.insert("started".into(), json!(self.started));
        Value::Object(m)
    }
}

/// Everything the pod status is computed from.
pub struct PodView<'a> {
    pub pod: &'a Value,
    pub init: &'a [CtrStatus],
    pub app: &'a [CtrStatus],
    pub host_ip: &'a str,
    pub pod_ips: &'a [String],
    pub start_time: Option<i64>,
    /// Sandbox and network are set up.
    pub sandbox_ready: bool,
    pub now: i64,
}

fn restart_policy(pod: &Value) -> &str {
    pod.pointer("/spec/restartPolicy")
        .and_then(Value::as_str)
        .unwrap_or("Always")
}

/// Init containers all completed successfully.
pub fn initialized(v: &PodView<'_>) -> bool {
    v.init.iter().all(CtrStatus::succeeded)
}

/// The kubelet's `getPhase`.
pub fn phase(v: &PodView<'_>) -> &'static str {
    let policy = restart_policy(v.pod);
    let init_failed = v.init.iter().any(|c| {
        matches!(c.state, CState::Terminated { exit_code, .. } if exit_code != 0)
            && policy == "Never"
    });
    if init_failed {
        return "Failed";
    }
    if !initialized(v) {
        return "Pending";
    }
    let (mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0);
    for c in v.app {
        match &c.state {
            CState::Running { .. } => running += 1,
            CState::Terminated { exit_code, .. } => {
                stopped += 1;
                if *exit_code == 0 {
                    succeeded += 1;
                }
            }
            CState::Waiting { .. } => {
                if matches!(c.last_state, Some(CState::Terminated { .. })) {
                    stopped += 1;
                } else {
                    waiting += 1;
                }
            }
        }
    }
    if waiting > 0 {
        return "Pending";
    }
    if running > 0 {
        return "Running";
    }
    if stopped > 0 {
        return match policy {
            "Always" => "Running",
            _ if stopped == succeeded => "Succeeded",
            "Never" => "Failed",
            _ => "Running",
        };
    }
    "Pending"
}

fn names(cs: &[CtrStatus], pred: impl Fn(&CtrStatus) -> bool) -> String {
    cs.iter()
        .filter(|c| pred(c))
        .map(|c| c.name.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

fn condition(
    prev: &Value,
    now: i64,
    ty: &str,
    ok: bool,
    reason: Option<&str>,
    message: Option<String>,
) -> Value {
    let status = if ok { "True" } else { "False" };
    let old = prev
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == ty));
    let since = old
        .filter(|c| c["status"] == status)
        .and_then(|c| c.get("lastTransitionTime").cloned())
        .unwrap_or_else(|| json!(rfc3339(now)));
    let mut c = Map::new();
    c.insert("type".into(), json!(ty));
    c.insert("status".into(), json!(status));
    c.insert("lastProbeTime".into(), Value::Null);
    c.insert("lastTransitionTime".into(), since);
    if let Some(r) = reason {
        c.insert("reason".into(), json!(r));
    }
    if let Some(m) = message {
        c.insert("message".into(), json!(m));
    }
    Value::Object(c)
}

pub fn conditions(v: &PodView<'_>, phase: &str) -> Vec<Value> {
    let (pod, now) = (v.pod, v.now);
    let done = matches!(phase, "Succeeded" | "Failed");
    let init_ok = initialized(v);
    let init_msg = (!init_ok).then(|| {
        format!(
            "containers with incomplete status: [{}]",
            names(v.init, |c| !c.succeeded())
        )
    });
    let all_ready = v.app.iter().all(|c| c.ready) && !done;
    let (ready_reason, ready_msg) = if done {
        (Some("PodCompleted"), None)
    } else if all_ready {
        (None, None)
    } else {
        (
            Some("ContainersNotReady"),
            Some(format!(
                "containers with unready status: [{}]",
                names(v.app, |c| !c.ready)
            )),
        )
    };
    let init_reason = if init_ok {
        done.then_some("PodCompleted")
            .filter(|_| !v.init.is_empty())
    } else {
        Some("ContainersNotInitialized")
    };
    let mut out = vec![
        condition(
            pod,
            now,
            "PodReadyToStartContainers",
            v.sandbox_ready && !done,
            None,
            None,
        ),
        condition(pod, now, "Initialized", init_ok, init_reason, init_msg),
        condition(
            pod,
            now,
            "Ready",
            all_ready,
            ready_reason,
            ready_msg.clone(),
        ),
        condition(
            pod,
            now,
            "ContainersReady",
            all_ready,
            ready_reason,
            ready_msg,
        ),
    ];
    let scheduled = pod
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == "PodScheduled"))
        .cloned()
        .unwrap_or_else(|| condition(pod, now, "PodScheduled", true, None, None));
    out.push(scheduled);
    out
}

/// The full `status` object.
pub fn render(v: &PodView<'_>) -> Value {
    let phase = phase(v);
    let mut s = Map::new();
    s.insert("phase".into(), json!(phase));
    s.insert("conditions".into(), json!(conditions(v, phase)));
    if !v.host_ip.is_empty() {
        s.insert("hostIP".into(), json!(v.host_ip));
        s.insert("hostIPs".into(), json!([{"ip": v.host_ip}]));
    }
    if let Some(ip) = v.pod_ips.first() {
        s.insert("podIP".into(), json!(ip));
        s.insert(
            "podIPs".into(),
            json!(v
                .pod_ips
                .iter()
                .map(|i| json!({"ip": i}))
                .collect::<Vec<_>>()),
        );
    }
    if let Some(t) = v.start_time {
        s.insert("startTime".into(), json!(rfc3339(t)));
    }
    if !v.init.is_empty() {
        s.insert(
            "initContainerStatuses".into(),
            json!(v.init.iter().map(CtrStatus::to_json).collect::<Vec<_>>()),
        );
    }
    s.insert(
        "containerStatuses".into(),
        json!(v.app.iter().map(CtrStatus::to_json).collect::<Vec<_>>()),
    );
    s.insert("qosClass".into(), json!(super::qos::class(v.pod).as_str()));
    Value::Object(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(policy: &str) -> Value {
        json!({"metadata": {"name": "p"}, "spec": {"restartPolicy": policy, "containers": [{"name": "app"}]},
               "status": {"conditions": [{"type": "PodScheduled", "status": "True",
                   "lastTransitionTime": "2026-01-01T00:00:00Z"}]}})
    }

    fn term(code: i32) -> CState {
        CState::Terminated {
            exit_code: code,
            signal: None,
            reason: if code == 0 { "Completed" } else { "Error" }.into(),
            message: String::new(),
            started_at: 1,
            finished_at: 2,
            container_id: "kedge://x".into(),
        }
    }

    fn view<'a>(pod: &'a Value, init: &'a [CtrStatus], app: &'a [CtrStatus]) -> PodView<'a> {
        PodView {
            pod,
            init,
            app,
            host_ip: "10.0.0.1",
            pod_ips: &[],
            start_time: Some(0),
            sandbox_ready: true,
            now: 100,
        }
    }

    fn cond<'a>(s: &'a Value, ty: &str) -> &'a Value {
        s["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == ty)
            .unwrap()
    }

    #[test]
    fn init_running_is_pending_and_not_initialized() {
        let p = pod("Always");
        let init = [CtrStatus::new(
            "init",
            "busybox",
            CState::Running { started_at: 1 },
        )];
        let app = [CtrStatus::new(
            "app",
            "busybox",
            CState::waiting("PodInitializing", ""),
        )];
        let s = render(&view(&p, &init, &app));
        assert_eq!(s["phase"], "Pending");
        assert_eq!(
            cond(&s, "Initialized")["reason"],
            "ContainersNotInitialized"
        );
        assert_eq!(
            cond(&s, "Initialized")["message"],
            "containers with incomplete status: [init]"
        );
        assert_eq!(
            cond(&s, "PodScheduled")["lastTransitionTime"],
            "2026-01-01T00:00:00Z"
        );
        assert_eq!(
            s["containerStatuses"][0]["state"]["waiting"]["reason"],
            "PodInitializing"
        );
        assert_eq!(s["qosClass"], "BestEffort");
    }

    #[test]
    fn running_but_not_ready_then_ready() {
        let p = pod("Always");
        let mut app = [CtrStatus::new(
            "app",
            "busybox",
            CState::Running { started_at: 5 },
        )];
        let s = render(&view(&p, &[], &app));
        assert_eq!(s["phase"], "Running");
        assert_eq!(cond(&s, "Ready")["status"], "False");
        assert_eq!(cond(&s, "Ready")["reason"], "ContainersNotReady");
        assert_eq!(
            cond(&s, "ContainersReady")["message"],
            "containers with unready status: [app]"
        );
        app[0].ready = true;
        let s = render(&view(&p, &[], &app));
        assert_eq!(cond(&s, "Ready")["status"], "True");
        assert!(cond(&s, "Ready").get("reason").is_none());
        assert_eq!(
            s["containerStatuses"][0]["state"]["running"]["startedAt"],
            "1970-01-01T00:00:05Z"
        );
    }

    #[test]
    fn completed_and_failed_pods() {
        let never = pod("Never");
        let ok = [CtrStatus::new("app", "busybox", term(0))];
        let s = render(&view(&never, &[], &ok));
        assert_eq!(s["phase"], "Succeeded");
        assert_eq!(cond(&s, "Ready")["reason"], "PodCompleted");
        assert_eq!(
            s["containerStatuses"][0]["state"]["terminated"]["reason"],
            "Completed"
        );
        let bad = [CtrStatus::new("app", "busybox", term(2))];
        assert_eq!(phase(&view(&never, &[], &bad)), "Failed");
        let onfail = pod("OnFailure");
        assert_eq!(phase(&view(&onfail, &[], &bad)), "Running");
        assert_eq!(phase(&view(&onfail, &[], &ok)), "Succeeded");
        let init_bad = [CtrStatus::new("init", "busybox", term(1))];
        let waiting = [CtrStatus::new(
            "app",
            "busybox",
            CState::waiting("PodInitializing", ""),
        )];
        assert_eq!(phase(&view(&never, &init_bad, &waiting)), "Failed");
        assert_eq!(phase(&view(&onfail, &init_bad, &waiting)), "Pending");
    }

    #[test]
    fn crashloop_counts_as_running_under_always() {
        let p = pod("Always");
        let mut c = CtrStatus::new(
            "app",
            "busybox",
            CState::waiting(
                "CrashLoopBackOff",
                "back-off 10s restarting failed container=app pod=p_ns(u)",
            ),
        );
        c.last_state = Some(term(1));
        c.restart_count = 1;
        let s = render(&view(&p, &[], &[c]));
        assert_eq!(s["phase"], "Running");
        assert_eq!(
            s["containerStatuses"][0]["lastState"]["terminated"]["exitCode"],
            1
        );
        assert_eq!(s["containerStatuses"][0]["restartCount"], 1);
        let fresh = [CtrStatus::new(
            "app",
            "busybox",
            CState::waiting("ContainerCreating", ""),
        )];
        assert_eq!(phase(&view(&p, &[], &fresh)), "Pending");
    }
}
