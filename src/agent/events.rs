//! Events the kubelet records about pods (`Pulled`, `Created`, `Started`, `Killing`, `BackOff`,
//! `Unhealthy`, `FailedMount`, `Failed`), with source component `kubelet` and the node as host.
//!
//! Contract: fire and forget: recording never blocks or fails the caller. Repeats of the same
//! (object, reason, message) bump `count` on one Event, as the kubelet's correlator does.

use std::sync::Arc;

use serde_json::{json, Value};

use super::client::{NodeClient, Res};
use crate::clock::{rfc3339, Clock};

const EVENTS: Res = crate::controller::client::EVENTS;

#[derive(Clone)]
pub struct Recorder {
    client: Arc<dyn NodeClient>,
    clock: Arc<dyn Clock>,
    host: String,
}

impl Recorder {
    pub fn new(client: Arc<dyn NodeClient>, clock: Arc<dyn Clock>, host: &str) -> Recorder {
        Recorder {
            client,
            clock,
            host: host.to_string(),
        }
    }

    /// Record an event about `pod` (or one of its containers when `field_path` is
    /// `spec.containers{name}`).
    pub fn pod(&self, pod: &Value, warning: bool, reason: &str, message: &str, field_path: &str) {
        let ev = self.build(pod, warning, reason, message, field_path);
        let client = self.client.clone();
        crate::rt::spawn(async move { record(client.as_ref(), ev).await }).detach();
    }

    /// An event about the Node.
    pub fn node(&self, warning: bool, reason: &str, message: &str) {
        let node = json!({"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": self.host, "uid": self.host, "namespace": "default"}});
        self.pod(&node, warning, reason, message, "");
    }

    pub fn build(
        &self,
        obj: &Value,
        warning: bool,
        reason: &str,
        message: &str,
        field_path: &str,
    ) -> Value {
        let s = |p: &str| {
            obj.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let (ns, name, uid) = (
            s("/metadata/namespace"),
            s("/metadata/name"),
            s("/metadata/uid"),
        );
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in format!("{uid}/{field_path}/{reason}/{message}").bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        let now = rfc3339(self.clock.now());
        let mut involved = json!({
            "apiVersion": obj.get("apiVersion").cloned().unwrap_or(json!("v1")),
            "kind": obj.get("kind").cloned().unwrap_or(json!("Pod")),
            "name": name, "uid": uid,
        });
        if obj.get("kind").and_then(Value::as_str) != Some("Node") {
            involved["namespace"] = json!(ns);
        }
        if !field_path.is_empty() {
            involved["fieldPath"] = json!(field_path);
        }
        json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": format!("{name}.{h:016x}"), "namespace": if ns.is_empty() { "default".to_string() } else { ns }},
            "involvedObject": involved,
            "reason": reason, "message": message,
            "type": if warning { "Warning" } else { "Normal" },
            "count": 1, "firstTimestamp": now, "lastTimestamp": now,
            "source": {"component": "kubelet", "host": self.host},
            "reportingComponent": "kubelet", "reportingInstance": self.host,
        })
    }
}

async fn record(client: &dyn NodeClient, ev: Value) {
    let ns = ev
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("default")
        .to_string();
    let name = ev
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if let Ok(cur) = client.get(EVENTS, Some(&ns), &name).await {
        let count = cur.get("count").and_then(Value::as_i64).unwrap_or(1) + 1;
        let patch = json!({"count": count, "lastTimestamp": ev["lastTimestamp"]});
        let _ = client
            .merge_patch(EVENTS, Some(&ns), &name, &patch, false)
            .await;
        return;
    }
    let _ = client.create(EVENTS, Some(&ns), ev).await;
}

/// `spec.containers{name}` / `spec.initContainers{name}`.
pub fn field_path(init: bool, name: &str) -> String {
    if init {
        format!("spec.initContainers{{{name}}}")
    } else {
        format!("spec.containers{{{name}}}")
    }
}
