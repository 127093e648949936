//! Lifecycle handlers (postStart, preStop): exec in the container, httpGet from inside the
//! pod's network namespace, or sleep.
//!
//! Contract: [`run_hook`] returns `Err(message)` with the text the kubelet puts into
//! `FailedPostStartHook`/`FailedPreStopHook` events; it never waits longer than `timeout`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::deps::ContainerRuntime;
use super::{httpget, netns, probe};

pub struct HookTarget {
    pub runtime: Arc<dyn ContainerRuntime>,
    pub container_id: String,
    pub netns: Option<PathBuf>,
    pub pod_ip: String,
}

/// Run `handler` (a `lifecycle.postStart`/`preStop` object of `container`).
pub async fn run_hook(
    handler: &Value,
    container: &Value,
    t: &HookTarget,
    timeout: Duration,
) -> Result<(), String> {
    if let Some(e) = handler.get("exec") {
        let cmd: Vec<String> = e
            .get("command")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect();
        let (rt, id, secs) = (
            t.runtime.clone(),
            t.container_id.clone(),
            timeout.as_secs().max(1),
        );
        return match smol::unblock(move || rt.exec(&id, &cmd, secs)).await {
            Ok(o) if o.exit_code == 0 => Ok(()),
            Ok(o) => Err(format!(
                "command '{}' exited with {}: {}",
                e.get("command").map(|c| c.to_string()).unwrap_or_default(),
                o.exit_code,
                String::from_utf8_lossy(&o.output).trim_end()
            )),
            Err(e) => Err(e.message),
        };
    }
    if let Some(h) = handler.get("httpGet") {
        let req = probe::http_action(h, container, &t.pod_ip);
        let url = format!("http://{}:{}{}", req.host, req.port, req.path);
        return match netns::run_in(t.netns.as_deref(), move || httpget::get(&req, timeout)).await {
            Ok(Ok(code)) if (200..400).contains(&code) => Ok(()),
            Ok(Ok(code)) => Err(format!(
                "HTTP lifecycle hook ({url}) returned status {code}"
            )),
            Ok(Err(e)) => Err(format!("Get \"{url}\": {e}")),
            Err(e) => Err(e.to_string()),
        };
    }
    if let Some(s) = handler.get("sleep") {
        let secs = s.get("seconds").and_then(Value::as_u64).unwrap_or(0);
        async_io::Timer::after(Duration::from_secs(secs).min(timeout)).await;
        return Ok(());
    }
    Err("unsupported lifecycle handler".into())
}
