//! Container probes: the spec (`livenessProbe`, `readinessProbe`, `startupProbe`), the
//! threshold state machine the kubelet applies to raw results, and one probe attempt
//! (exec, httpGet, tcpSocket; grpc reports unsupported).
//!
//! Contract: a [`Tracker`] starts at the kubelet's initial result (readiness: failure,
//! liveness: success, startup: unknown) and changes only after `successThreshold` consecutive
//! successes or `failureThreshold` consecutive failures. After a liveness or startup failure
//! it is on hold until the container restarts (the worker makes a new tracker).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::deps::ContainerRuntime;
use super::httpget::{self, HttpGet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProbeType {
    Liveness,
    Readiness,
    Startup,
}

impl ProbeType {
    pub fn field(self) -> &'static str {
        match self {
            ProbeType::Liveness => "livenessProbe",
            ProbeType::Readiness => "readinessProbe",
            ProbeType::Startup => "startupProbe",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            ProbeType::Liveness => "Liveness",
            ProbeType::Readiness => "Readiness",
            ProbeType::Startup => "Startup",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Exec(Vec<String>),
    Http(HttpGet),
    Tcp { host: String, port: u16 },
    Grpc { port: u16 },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub action: Action,
    pub initial_delay: u64,
    pub period: u64,
    pub timeout: u64,
    pub success_threshold: u32,
    pub failure_threshold: u32,
}

/// A port given as a number or as a name of one of the container's ports.
pub fn resolve_port(v: Option<&Value>, container: &Value) -> u16 {
    match v {
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0) as u16,
        Some(Value::String(s)) => s.parse().unwrap_or_else(|_| {
            container
                .get("ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|p| p.get("name").and_then(Value::as_str) == Some(s))
                .and_then(|p| p.get("containerPort").and_then(Value::as_u64))
                .unwrap_or(0) as u16
        }),
        _ => 0,
    }
}

/// An httpGet handler (probe or hook) aimed at `default_host` unless it names a host.
pub fn http_action(h: &Value, container: &Value, default_host: &str) -> HttpGet {
    HttpGet {
        scheme: h
            .get("scheme")
            .and_then(Value::as_str)
            .unwrap_or("HTTP")
            .to_string(),
        host: h
            .get("host")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .unwrap_or(default_host)
            .to_string(),
        port: resolve_port(h.get("port"), container),
        path: h
            .get("path")
            .and_then(Value::as_str)
            .unwrap_or("/")
            .to_string(),
        headers: h
            .get("httpHeaders")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|x| {
                (
                    x.get("name")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    x.get("value")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                )
            })
            .collect(),
    }
}

impl Probe {
    /// The probe of `ty` in `container`, with API defaults for missing fields.
    pub fn of(container: &Value, ty: ProbeType, pod_ip: &str) -> Option<Probe> {
        let p = container.get(ty.field())?;
        let num = |k: &str, d: u64| p.get(k).and_then(Value::as_u64).unwrap_or(d);
        let action = if let Some(e) = p.get("exec") {
            Action::Exec(
                e.get("command")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect(),
            )
        } else if let Some(h) = p.get("httpGet") {
            Action::Http(http_action(h, container, pod_ip))
        } else if let Some(t) = p.get("tcpSocket") {
            Action::Tcp {
                host: t
                    .get("host")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .unwrap_or(pod_ip)
                    .to_string(),
                port: resolve_port(t.get("port"), container),
            }
        } else if let Some(g) = p.get("grpc") {
            Action::Grpc {
                port: resolve_port(g.get("port"), container),
            }
        } else {
            return None;
        };
        Some(Probe {
            action,
            initial_delay: num("initialDelaySeconds", 0),
            period: num("periodSeconds", 10).max(1),
            timeout: num("timeoutSeconds", 1).max(1),
            success_threshold: num("successThreshold", 1).max(1) as u32,
            failure_threshold: num("failureThreshold", 3).max(1) as u32,
        })
    }
}

/// The thresholded result of one probe of one container run.
#[derive(Debug, Clone, PartialEq)]
pub struct Tracker {
    pub ty: ProbeType,
    /// `None` = unknown (startup before its first verdict).
    pub result: Option<bool>,
    last: Option<bool>,
    run: u32,
    pub on_hold: bool,
}

impl Tracker {
    pub fn new(ty: ProbeType) -> Tracker {
        let result = match ty {
            ProbeType::Readiness => Some(false),
            ProbeType::Liveness => Some(true),
            ProbeType::Startup => None,
        };
        Tracker {
            ty,
            result,
            last: None,
            run: 0,
            on_hold: false,
        }
    }

    /// Feed one raw result; returns the new thresholded result when it changed.
    pub fn record(&mut self, ok: bool, p: &Probe) -> Option<bool> {
        if self.on_hold {
            return None;
        }
        if self.last == Some(ok) {
            self.run += 1;
        } else {
            self.last = Some(ok);
            self.run = 1;
        }
        let needed = if ok {
            p.success_threshold
        } else {
            p.failure_threshold
        };
        if self.run < needed {
            return None;
        }
        if !ok && matches!(self.ty, ProbeType::Liveness | ProbeType::Startup) {
            // The container is about to be restarted; stop judging this run.
            self.on_hold = true;
            self.run = 0;
        }
        if self.result == Some(ok) {
            return None;
        }
        self.result = Some(ok);
        Some(ok)
    }
}

/// Where a probe runs.
#[derive(Clone)]
pub struct Target {
    pub runtime: Arc<dyn ContainerRuntime>,
    pub container_id: String,
    pub netns: Option<PathBuf>,
}

/// One probe attempt: success and, on failure, the message the Unhealthy event carries.
pub async fn attempt(p: &Probe, t: &Target) -> (bool, String) {
    let timeout = Duration::from_secs(p.timeout);
    match &p.action {
        Action::Exec(cmd) => {
            let (rt, id, cmd2, secs) = (
                t.runtime.clone(),
                t.container_id.clone(),
                cmd.clone(),
                p.timeout,
            );
            match smol::unblock(move || rt.exec(&id, &cmd2, secs)).await {
                Ok(o) if o.exit_code == 0 => (true, String::new()),
                Ok(o) => (
                    false,
                    String::from_utf8_lossy(&o.output).trim_end().to_string(),
                ),
                Err(e) => (false, e.message),
            }
        }
        Action::Http(req) => {
            let req = req.clone();
            let url = format!(
                "{}://{}:{}{}",
                req.scheme.to_lowercase(),
                req.host,
                req.port,
                req.path
            );
            let r =
                super::netns::run_in(t.netns.as_deref(), move || httpget::get(&req, timeout)).await;
            match r {
                Ok(Ok(code)) if (200..400).contains(&code) => (true, String::new()),
                Ok(Ok(code)) => (false, format!("HTTP probe failed with statuscode: {code}")),
                Ok(Err(e)) => (false, format!("Get \"{url}\": {e}")),
                Err(e) => (false, e.to_string()),
            }
        }
        Action::Tcp { host, port } => {
            let addr = format!("{host}:{port}");
            let a2 = addr.clone();
            let r = super::netns::run_in(t.netns.as_deref(), move || {
                let sa: std::net::SocketAddr = a2
                    .parse()
                    .map_err(|_| std::io::Error::other("bad address"))?;
                std::net::TcpStream::connect_timeout(&sa, timeout).map(|_| ())
            })
            .await;
            match r {
                Ok(Ok(())) => (true, String::new()),
                Ok(Err(e)) => (false, format!("dial tcp {addr}: {e}")),
                Err(e) => (false, e.to_string()),
            }
        }
        Action::Grpc { port } => (false, format!("grpc probe on port {port} is not supported")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn probe(success: u32, failure: u32) -> Probe {
        Probe {
            action: Action::Exec(vec!["true".into()]),
            initial_delay: 0,
            period: 1,
            timeout: 1,
            success_threshold: success,
            failure_threshold: failure,
        }
    }

    #[test]
    fn readiness_needs_consecutive_successes_and_failures() {
        let p = probe(2, 3);
        let mut t = Tracker::new(ProbeType::Readiness);
        assert_eq!(t.result, Some(false));
        assert_eq!(t.record(true, &p), None);
        assert_eq!(t.record(false, &p), None);
        assert_eq!(t.record(true, &p), None);
        assert_eq!(t.record(true, &p), Some(true));
        assert_eq!(t.record(false, &p), None);
        assert_eq!(t.record(false, &p), None);
        assert_eq!(t.record(false, &p), Some(false));
        assert_eq!(t.record(false, &p), None);
    }

    #[test]
    fn liveness_fails_once_then_holds_until_restart() {
        let p = probe(1, 2);
        let mut t = Tracker::new(ProbeType::Liveness);
        assert_eq!(t.result, Some(true));
        assert_eq!(t.record(false, &p), None);
        assert_eq!(t.record(false, &p), Some(false));
        assert!(t.on_hold);
        assert_eq!(t.record(true, &p), None);
        let mut s = Tracker::new(ProbeType::Startup);
        assert_eq!(s.result, None);
        assert_eq!(s.record(true, &p), Some(true));
    }

    #[test]
    fn parses_probe_defaults_and_named_ports() {
        let c = json!({"ports": [{"name": "web", "containerPort": 8080}],
            "readinessProbe": {"httpGet": {"path": "/ready", "port": "web"}, "periodSeconds": 2}});
        let p = Probe::of(&c, ProbeType::Readiness, "10.42.0.5").unwrap();
        assert_eq!(p.period, 2);
        assert_eq!(
            (p.timeout, p.success_threshold, p.failure_threshold),
            (1, 1, 3)
        );
        match p.action {
            Action::Http(h) => {
                assert_eq!(
                    (h.host.as_str(), h.port, h.path.as_str()),
                    ("10.42.0.5", 8080, "/ready")
                )
            }
            other => panic!("{other:?}"),
        }
        assert!(Probe::of(&c, ProbeType::Liveness, "").is_none());
    }
}
