//! [`NodeClient`] over HTTPS, for agents that join a server on another machine
//! (`kedge agent --server URL --token TOKEN`).
//!
//! Contract: requests go over a small pool of HTTP/1.1 keep-alive connections authenticated by
//! the join token; a connection that failed is dropped, the request is not retried here (the
//! agent's loops retry). Watches use a connection of their own and end the stream on the
//! first error; an `ERROR` event with code 410 becomes [`ClientError::Gone`].

use std::sync::{Arc, Mutex};

use futures_lite::StreamExt;
use hyper::Method;
use serde_json::Value;

use super::client::{BoxFuture, ClientError, ListParams, NodeClient, Res, WatchEvent, WatchStream};
use crate::httpclient::{Conn, Target};

pub struct HttpClient {
    target: Target,
    idle: Mutex<Vec<Conn>>,
}

/// Connections kept open between requests.
const POOL: usize = 4;

fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `/api/v1[/namespaces/<ns>]/<plural>[/<name>]`, or `/apis/<group>/<version>/...`.
fn path(r: Res, ns: Option<&str>, name: Option<&str>) -> String {
    let mut p = if r.group.is_empty() {
        format!("/api/{}", r.version)
    } else {
        format!("/apis/{}/{}", r.group, r.version)
    };
    if let Some(ns) = ns {
        p.push_str(&format!("/namespaces/{}", enc(ns)));
    }
    p.push('/');
    p.push_str(r.plural);
    if let Some(n) = name {
        p.push('/');
        p.push_str(&enc(n));
    }
    p
}

fn query(p: &ListParams, extra: &str) -> String {
    let mut q = Vec::new();
    if let Some(f) = &p.field_selector {
        q.push(format!("fieldSelector={}", enc(f)));
    }
    if !extra.is_empty() {
        q.push(extra.to_string());
    }
    if q.is_empty() {
        String::new()
    } else {
        format!("?{}", q.join("&"))
    }
}

/// Map an API answer to the agent's error kinds.
fn error_of(code: u16, body: &[u8]) -> ClientError {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let message = v["message"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    match (code, v["reason"].as_str()) {
        (404, _) => ClientError::NotFound(message),
        (409, Some("AlreadyExists")) => ClientError::AlreadyExists(message),
        (409, _) => ClientError::Conflict(message),
        (410, _) => ClientError::Gone(message),
        _ => ClientError::Other { code, message },
    }
}

fn transport(e: anyhow::Error) -> ClientError {
    ClientError::Other {
        code: 0,
        message: format!("{e:#}"),
    }
}

impl HttpClient {
    pub fn new(target: Target) -> Arc<HttpClient> {
        Arc::new(HttpClient {
            target,
            idle: Mutex::new(Vec::new()),
        })
    }

    async fn conn(&self) -> Result<Conn, ClientError> {
        let pooled = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        match pooled {
            Some(c) => Ok(c),
            None => self.target.connect().await.map_err(transport),
        }
    }

    fn put_back(&self, c: Conn) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < POOL {
            idle.push(c);
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Value, ClientError> {
        let mut c = self.conn().await?;
        let (code, bytes) = c
            .request_as(method, path, content_type, body)
            .await
            .map_err(transport)?;
        self.put_back(c);
        if !(200..300).contains(&code) {
            return Err(error_of(code, &bytes));
        }
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Other {
            code,
            message: format!("decoding the answer to {path}: {e}"),
        })
    }
}

const JSON: &str = "application/json";

impl NodeClient for HttpClient {
    fn get<'a>(
        &'a self,
        r: Res,
        ns: Option<&'a str>,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Value, ClientError>> {
        Box::pin(async move {
            self.call(Method::GET, &path(r, ns, Some(name)), JSON, None)
                .await
        })
    }

    fn list<'a>(
        &'a self,
        r: Res,
        p: &'a ListParams,
    ) -> BoxFuture<'a, Result<(Vec<Value>, String), ClientError>> {
        Box::pin(async move {
            let url = format!("{}{}", path(r, p.namespace.as_deref(), None), query(p, ""));
            let mut v = self.call(Method::GET, &url, JSON, None).await?;
            let rv = v["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or("")
                .to_string();
            let items = match v["items"].take() {
                Value::Array(a) => a,
                _ => Vec::new(),
            };
            Ok((items, rv))
        })
    }

    fn watch<'a>(
        &'a self,
        r: Res,
        p: &'a ListParams,
        resource_version: &'a str,
    ) -> BoxFuture<'a, Result<WatchStream, ClientError>> {
        Box::pin(async move {
            let extra = format!(
                "watch=true&allowWatchBookmarks=false&resourceVersion={}",
                enc(resource_version)
            );
            let url = format!(
                "{}{}",
                path(r, p.namespace.as_deref(), None),
                query(p, &extra)
            );
            let conn = self.target.connect().await.map_err(transport)?;
            let lines = conn.stream(&url).await.map_err(transport)?;
            let s = futures_lite::stream::unfold(Some(lines), |state| async move {
                let mut lines = state?;
                match lines.next().await {
                    Ok(Some(mut ev)) => {
                        let obj = ev["object"].take();
                        let item = match ev["type"].as_str() {
                            Some("ADDED") => Ok(WatchEvent::Added(obj)),
                            Some("MODIFIED") => Ok(WatchEvent::Modified(obj)),
                            Some("DELETED") => Ok(WatchEvent::Deleted(obj)),
                            _ => {
                                let code = obj["code"].as_u64().unwrap_or(500) as u16;
                                let body = serde_json::to_vec(&obj).unwrap_or_default();
                                return Some((Err(error_of(code, &body)), None));
                            }
                        };
                        Some((item, Some(lines)))
                    }
                    Ok(None) => None,
                    Err(e) => Some((Err(transport(e)), None)),
                }
            });
            Ok(s.boxed())
        })
    }

    fn create<'a>(
        &'a self,
        r: Res,
        ns: Option<&'a str>,
        obj: Value,
    ) -> BoxFuture<'a, Result<Value, ClientError>> {
        Box::pin(async move {
            let body = serde_json::to_vec(&obj).unwrap_or_default();
            self.call(Method::POST, &path(r, ns, None), JSON, Some(body))
                .await
        })
    }

    fn update<'a>(
        &'a self,
        r: Res,
        obj: Value,
        status: bool,
    ) -> BoxFuture<'a, Result<Value, ClientError>> {
        Box::pin(async move {
            let ns = obj["metadata"]["namespace"].as_str();
            let name = obj["metadata"]["name"].as_str().unwrap_or("");
            let mut url = path(r, ns, Some(name));
            if status {
                url.push_str("/status");
            }
            let body = serde_json::to_vec(&obj).unwrap_or_default();
            self.call(Method::PUT, &url, JSON, Some(body)).await
        })
    }

    fn merge_patch<'a>(
        &'a self,
        r: Res,
        ns: Option<&'a str>,
        name: &'a str,
        patch: &'a Value,
        status: bool,
    ) -> BoxFuture<'a, Result<Value, ClientError>> {
        Box::pin(async move {
            let mut url = path(r, ns, Some(name));
            if status {
                url.push_str("/status");
            }
            let body = serde_json::to_vec(patch).unwrap_or_default();
            self.call(
                Method::PATCH,
                &url,
                "application/merge-patch+json",
                Some(body),
            )
            .await
        })
    }

    fn delete<'a>(
        &'a self,
        r: Res,
        ns: Option<&'a str>,
        name: &'a str,
        grace_seconds: Option<i64>,
        uid: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), ClientError>> {
        Box::pin(async move {
            let mut opts = serde_json::json!({"kind": "DeleteOptions", "apiVersion": "v1"});
            if let Some(g) = grace_seconds {
                opts["gracePeriodSeconds"] = g.into();
            }
            if let Some(u) = uid {
                opts["preconditions"] = serde_json::json!({ "uid": u });
            }
            let body = serde_json::to_vec(&opts).unwrap_or_default();
            self.call(Method::DELETE, &path(r, ns, Some(name)), JSON, Some(body))
                .await
                .map(|_| ())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::client::{LEASES, PODS};

    #[test]
    fn paths_and_queries_are_the_api_servers() {
        assert_eq!(
            path(PODS, Some("default"), Some("web-0")),
            "/api/v1/namespaces/default/pods/web-0"
        );
        assert_eq!(
            path(LEASES, Some("kube-node-lease"), Some("n1")),
            "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1"
        );
        let q = query(&ListParams::node_pods("n 1"), "watch=true");
        assert_eq!(q, "?fieldSelector=spec.nodeName%3Dn%201&watch=true");
        assert_eq!(query(&ListParams::default(), ""), "");
    }

    #[test]
    fn api_errors_map_to_what_the_agent_branches_on() {
        let st = |reason: &str| format!(r#"{{"kind":"Status","reason":"{reason}","message":"m"}}"#);
        assert!(error_of(404, st("NotFound").as_bytes()).is_not_found());
        assert_eq!(
            error_of(409, st("AlreadyExists").as_bytes()),
            ClientError::AlreadyExists("m".into())
        );
        assert_eq!(
            error_of(409, st("Conflict").as_bytes()),
            ClientError::Conflict("m".into())
        );
        assert_eq!(
            error_of(410, st("Expired").as_bytes()),
            ClientError::Gone("m".into())
        );
        assert_eq!(
            error_of(500, b"boom"),
            ClientError::Other {
                code: 500,
                message: "boom".into()
            }
        );
    }
}
