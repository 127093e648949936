//! `metrics.k8s.io/v1beta1` served by the API server itself (what metrics-server provides in
//! Kubernetes), from each Ready node agent's `/metrics/resource`.
//!
//! Contract: discovery lists the group with `pods` (namespaced) and `nodes` (cluster), verbs
//! get/list, kinds `PodMetrics`/`NodeMetrics`. Lists and gets ask every Ready node's agent with
//! a short timeout and skip nodes that fail; objects are shaped like metrics-server's (`usage`
//! quantities in canonical form such as `12345n`, `5m`, `1234Ki`; `timestamp`; `window`).
//! Label selectors apply to the Pod/Node labels. [`pod_metrics`] gives the same data to Rust
//! callers (the HPA controller).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::header;
use hyper::{Method, Request, Response};
use serde_json::{json, Map, Value};

use super::body::{self, Body};
use super::object;
use super::request::RequestInfo;
use super::selector::LabelSelector;
use super::server::ApiServer;
use super::status::ApiError;
use crate::agent::server::stats::{PodUsage, Summary, Usage};

pub const GROUP: &str = "metrics.k8s.io";
pub const VERSION: &str = "v1beta1";
/// How long one agent may take to answer.
pub const AGENT_TIMEOUT: Duration = Duration::from_secs(3);

/// Canonical Kubernetes quantity of a decimal value scaled by 10^-9 (CPU nanocores).
pub fn format_nanocores(n: u64) -> String {
    if n == 0 {
        return "0".into();
    }
    let mut v = n;
    let mut exp = -9i32;
    while v % 1000 == 0 && exp < 18 {
        v /= 1000;
        exp += 3;
    }
    let suffix = match exp {
        -9 => "n",
        -6 => "u",
        -3 => "m",
        0 => "",
        3 => "k",
        6 => "M",
        9 => "G",
        12 => "T",
        15 => "P",
        _ => "E",
    };
    format!("{v}{suffix}")
}

/// Canonical binary-SI quantity of a byte count (`1234Ki`, or plain bytes when not a multiple
/// of 1024, as Kubernetes prints them).
pub fn format_bytes(n: u64) -> String {
    const SUFFIXES: &[&str] = &["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
    if n == 0 {
        return "0".into();
    }
    let mut v = n;
    let mut i = 0;
    while v % 1024 == 0 && i + 1 < SUFFIXES.len() {
        v /= 1024;
        i += 1;
    }
    format!("{v}{}", SUFFIXES[i])
}

/// A window as a Go `time.Duration` string (`10s`, `10.5s`, `1m30s`).
pub fn format_window(secs: f64) -> String {
    let ms = (secs * 1000.0).round() as u64;
    let (m, rest) = (ms / 60_000, ms % 60_000);
    let s = if rest % 1000 == 0 {
        format!("{}s", rest / 1000)
    } else {
        let t = format!("{}.{:03}", rest / 1000, rest % 1000);
        format!("{}s", t.trim_end_matches('0'))
    };
    if m > 0 {
        format!("{m}m{s}")
    } else {
        s
    }
}

fn meta_of(obj: &Value, with_ns: bool) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), json!(object::name(obj)));
    if with_ns {
        m.insert(
            "namespace".into(),
            json!(object::meta_str(obj, "namespace").unwrap_or("")),
        );
    }
    m.insert(
        "creationTimestamp".into(),
        json!(crate::clock::rfc3339(crate::clock::Clock::now(
            &crate::clock::SystemClock
        ))),
    );
    if let Some(l) = object::labels(obj) {
        m.insert("labels".into(), Value::Object(l.clone()));
    }
    Value::Object(m)
}

/// One PodMetrics object.
pub fn pod_object(pod: &Value, u: &PodUsage) -> Value {
    let containers: Vec<Value> = u
        .containers
        .iter()
        .map(|c| {
            json!({"name": c.name, "usage": {
                "cpu": format_nanocores(c.cpu_nano_cores),
                "memory": format_bytes(c.memory_working_set_bytes)}})
        })
        .collect();
    json!({
        "kind": "PodMetrics",
        "apiVersion": format!("{GROUP}/{VERSION}"),
        "metadata": meta_of(pod, true),
        "timestamp": u.timestamp,
        "window": format_window(u.window_seconds),
        "containers": containers,
    })
}

/// One NodeMetrics object.
pub fn node_object(node: &Value, u: &Usage) -> Value {
    json!({
        "kind": "NodeMetrics",
        "apiVersion": format!("{GROUP}/{VERSION}"),
        "metadata": meta_of(node, false),
        "timestamp": u.timestamp,
        "window": format_window(u.window_seconds),
        "usage": {"cpu": format_nanocores(u.cpu_nano_cores), "memory": format_bytes(u.memory_working_set_bytes)},
    })
}

fn resources() -> Vec<(&'static str, &'static str, bool)> {
    vec![
        ("nodes", "NodeMetrics", false),
        ("pods", "PodMetrics", true),
    ]
}

/// The group's entry in aggregated discovery (`/apis`).
pub fn aggregated_group() -> Value {
    let res: Vec<Value> = resources()
        .into_iter()
        .map(|(plural, kind, namespaced)| {
            json!({
                "resource": plural,
                "responseKind": {"group": GROUP, "version": VERSION, "kind": kind},
                "scope": if namespaced { "Namespaced" } else { "Cluster" },
                "singularResource": &plural[..plural.len() - 1],
                "verbs": ["get", "list"],
            })
        })
        .collect();
    json!({"metadata": {"name": GROUP, "creationTimestamp": null},
           "versions": [{"version": VERSION, "resources": res, "freshness": "Current"}]})
}

/// The group's `APIGroup` document (legacy discovery).
pub fn group_doc() -> Value {
    let gv = format!("{GROUP}/{VERSION}");
    json!({"kind": "APIGroup", "apiVersion": "v1", "name": GROUP,
           "versions": [{"groupVersion": gv, "version": VERSION}],
           "preferredVersion": {"groupVersion": gv, "version": VERSION}})
}

fn resource_list() -> Value {
    let res: Vec<Value> = resources()
        .into_iter()
        .map(|(plural, kind, namespaced)| {
            json!({"name": plural, "singularName": &plural[..plural.len() - 1],
                   "namespaced": namespaced, "kind": kind, "verbs": ["get", "list"]})
        })
        .collect();
    json!({"kind": "APIResourceList", "apiVersion": "v1",
           "groupVersion": format!("{GROUP}/{VERSION}"), "resources": res})
}

fn list_stored(
    srv: &Arc<ApiServer>,
    r: crate::controller::client::Res,
    ns: Option<&str>,
) -> Result<Vec<Value>, ApiError> {
    Ok(crate::controller::Client::new(srv.clone()).list(r, ns)?.0)
}

fn ready(node: &Value) -> bool {
    node["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

async fn fetch(tls: Arc<rustls::ClientConfig>, addr: std::net::SocketAddr) -> Option<Summary> {
    let work = async {
        let mut send = super::proxy::connect(tls, addr).await.ok()?;
        let req = Request::get("/metrics/resource")
            .header(header::HOST, addr.to_string())
            .body(Empty::new())
            .ok()?;
        let resp = send.send_request(req).await.ok()?;
        if !resp.status().is_success() {
            return None;
        }
        let bytes = resp.into_body().collect().await.ok()?.to_bytes();
        serde_json::from_slice::<Summary>(&bytes).ok()
    };
    let timeout = async {
        async_io::Timer::after(AGENT_TIMEOUT).await;
        None
    };
    futures_lite::future::or(work, timeout).await
}

/// Summaries of every Ready node whose agent answered, by node name.
pub async fn summaries(srv: &Arc<ApiServer>) -> Result<Vec<(Value, Summary)>, ApiError> {
    let Some(tls) = srv.kubelet.get().cloned() else {
        return Ok(Vec::new());
    };
    let mut tasks = Vec::new();
    for node in list_stored(srv, crate::controller::client::NODES, None)?
        .into_iter()
        .filter(ready)
    {
        let Some(addr) = super::proxy::agent_addr(&node) else {
            continue;
        };
        let tls = tls.clone();
        tasks.push(crate::rt::spawn(async move {
            fetch(tls, addr).await.map(|s| (node, s))
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        if let Some(x) = t.await {
            out.push(x);
        }
    }
    Ok(out)
}

/// Usage of the pods in `ns` matching `selector` (for the HPA controller).
pub async fn pod_metrics(
    api: &Arc<ApiServer>,
    ns: &str,
    selector: &LabelSelector,
) -> Result<Vec<PodUsage>, ApiError> {
    Ok(pods(api, Some(ns), selector)
        .await?
        .into_iter()
        .map(|(_, u)| u)
        .collect())
}

async fn pods(
    srv: &Arc<ApiServer>,
    ns: Option<&str>,
    selector: &LabelSelector,
) -> Result<Vec<(Value, PodUsage)>, ApiError> {
    let stored: HashMap<(String, String), Value> =
        list_stored(srv, crate::controller::client::PODS, ns)?
            .into_iter()
            .filter(|p| selector.matches(object::labels(p)))
            .map(|p| {
                let key = (
                    object::meta_str(&p, "namespace").unwrap_or("").to_string(),
                    object::name(&p).to_string(),
                );
                (key, p)
            })
            .collect();
    let mut out = Vec::new();
    for (_, s) in summaries(srv).await? {
        for u in s.pods {
            if let Some(p) = stored.get(&(u.namespace.clone(), u.name.clone())) {
                if object::meta_str(p, "uid").is_none_or(|uid| uid == u.uid) {
                    out.push((p.clone(), u));
                }
            }
        }
    }
    out.sort_by(|a, b| (&a.1.namespace, &a.1.name).cmp(&(&b.1.namespace, &b.1.name)));
    Ok(out)
}

fn list_doc(kind: &str, items: Vec<Value>) -> Value {
    json!({"kind": kind, "apiVersion": format!("{GROUP}/{VERSION}"), "metadata": {}, "items": items})
}

fn not_found(plural: &str, name: &str) -> ApiError {
    let resource = if plural == "pods" {
        "podmetrics"
    } else {
        "nodemetrics"
    };
    ApiError::not_found(resource, GROUP, name)
}

/// Serve `/apis/metrics.k8s.io[/v1beta1[/...]]`; `info` is `None` for the group and version
/// documents.
pub async fn handle(
    srv: &Arc<ApiServer>,
    method: &Method,
    path_version: Option<&str>,
    info: Option<RequestInfo>,
    query: &HashMap<String, String>,
) -> Result<Response<Body>, ApiError> {
    if *method != Method::GET {
        return Err(ApiError::method_not_allowed(method.as_str(), "metrics"));
    }
    let Some(info) = info else {
        return match path_version {
            None => Ok(body::json(200, &group_doc())),
            Some(VERSION) => Ok(body::json(200, &resource_list())),
            Some(_) => Err(ApiError::not_found_path()),
        };
    };
    if info.version != VERSION || info.subresource.is_some() {
        return Err(ApiError::not_found_path());
    }
    let selector =
        LabelSelector::parse(query.get("labelSelector").map(String::as_str).unwrap_or(""))
            .map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))?;
    match (
        info.resource.as_str(),
        info.namespace.as_deref(),
        info.name.as_deref(),
    ) {
        ("pods", ns, name) => {
            let all = pods(srv, ns, &selector).await?;
            match name {
                None => Ok(body::json(
                    200,
                    &list_doc(
                        "PodMetricsList",
                        all.iter().map(|(p, u)| pod_object(p, u)).collect(),
                    ),
                )),
                Some(n) => all
                    .iter()
                    .find(|(_, u)| u.name == n)
                    .map(|(p, u)| body::json(200, &pod_object(p, u)))
                    .ok_or_else(|| not_found("pods", n)),
            }
        }
        ("nodes", None, name) => {
            let mut items: Vec<(String, Value)> = summaries(srv)
                .await?
                .into_iter()
                .filter(|(n, _)| selector.matches(object::labels(n)))
                .filter_map(|(n, s)| {
                    Some((
                        object::name(&n).to_string(),
                        node_object(&n, s.node.as_ref()?),
                    ))
                })
                .collect();
            items.sort_by(|a, b| a.0.cmp(&b.0));
            match name {
                None => Ok(body::json(
                    200,
                    &list_doc(
                        "NodeMetricsList",
                        items.into_iter().map(|(_, v)| v).collect(),
                    ),
                )),
                Some(n) => items
                    .into_iter()
                    .find(|(name, _)| name == n)
                    .map(|(_, v)| body::json(200, &v))
                    .ok_or_else(|| not_found("nodes", n)),
            }
        }
        _ => Err(ApiError::not_found_path()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::server::stats::NamedUsage;

    #[test]
    fn quantities_are_canonical() {
        assert_eq!(format_nanocores(0), "0");
        assert_eq!(format_nanocores(12_345), "12345n");
        assert_eq!(format_nanocores(5_000_000), "5m");
        assert_eq!(format_nanocores(1_500_000), "1500u");
        assert_eq!(format_nanocores(2_000_000_000), "2");
        assert_eq!(format_bytes(1_264_640), "1235Ki");
        assert_eq!(format_bytes(1_234_567), "1234567");
        assert_eq!(format_bytes(64 << 20), "64Mi");
        assert_eq!(format_window(10.0), "10s");
        assert_eq!(format_window(10.194), "10.194s");
        assert_eq!(format_window(90.5), "1m30.5s");
    }

    #[test]
    fn objects_look_like_metrics_servers() {
        let pod =
            json!({"metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}}});
        let u = PodUsage {
            namespace: "default".into(),
            name: "web".into(),
            uid: "u".into(),
            timestamp: "2026-11-22T00:31:05Z".into(),
            window_seconds: 10.0,
            containers: vec![NamedUsage {
                name: "c".into(),
                cpu_nano_cores: 5_000_000,
                memory_working_set_bytes: 4 << 20,
            }],
        };
        let o = pod_object(&pod, &u);
        assert_eq!(o["kind"], "PodMetrics");
        assert_eq!(o["metadata"]["namespace"], "default");
        assert_eq!(o["metadata"]["labels"]["app"], "web");
        assert_eq!(o["window"], "10s");
        assert_eq!(
            o["containers"][0]["usage"],
            json!({"cpu": "5m", "memory": "4Mi"})
        );
        let g = aggregated_group();
        assert_eq!(g["versions"][0]["resources"][1]["scope"], "Namespaced");
        assert_eq!(g["versions"][0]["resources"][0]["singularResource"], "node");
    }
}
