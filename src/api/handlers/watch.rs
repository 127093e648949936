//! watch: newline-delimited watch events over a streaming response, from the store's shared
//! event cache.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_lite::future;
use hyper::Response;
use serde_json::{json, Value};

use super::read::{to_table, Filter};
use crate::api::body::{self, Body};
use crate::api::object;
use crate::api::registry::ResourceDef;
use crate::api::server::ApiServer;
use crate::api::status::ApiError;
use crate::store::{EventKind, StoreError};

/// Default lifetime of a watch when the client gives none (Kubernetes picks 30–60 min).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);
const BOOKMARK_EVERY: Duration = Duration::from_secs(60);

fn encode(ty: &str, obj: &Value) -> Bytes {
    let mut line = serde_json::to_vec(&json!({"type": ty, "object": obj})).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

pub async fn watch(
    srv: &Arc<ApiServer>,
    def: &Arc<ResourceDef>,
    ns: Option<String>,
    q: &HashMap<String, String>,
    table: bool,
) -> Result<Response<Body>, ApiError> {
    let filter = Filter::from_query(def, q)?;
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TIMEOUT);
    let bookmarks = q.get("allowWatchBookmarks").is_some_and(|b| b == "true");
    let prefix = def.ns_prefix(ns.as_deref());
    let rv = q.get("resourceVersion").map(String::as_str).unwrap_or("");
    let mut initial = Vec::new();
    let start = match rv {
        "" | "0" => {
            let (recs, rev, _) = srv
                .store
                .list(prefix.as_bytes(), None, None)
                .map_err(|e| ApiError::internal(e.to_string()))?;
            for r in recs {
                if let Ok(o) = object::from_stored(&r.value, r.mod_rev) {
                    if filter.matches(&o) {
                        initial.push(o);
                    }
                }
            }
            rev
        }
        s => s
            .parse::<u64>()
            .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {s:?}")))?,
    };
    let content_type = "application/json";
    let (tx, resp) = body::stream(content_type);
    let watcher = srv.store.watch(prefix.as_bytes(), start);
    let srv = srv.clone();
    let def = def.clone();
    let (kind, api_version) = (def.kind.clone(), def.api_version());
    let wrap = move |o: &Value| -> Value {
        if table {
            let mut t = to_table(&def, std::slice::from_ref(o), None, srv.clock.now());
            if let Some(m) = t.get_mut("metadata") {
                if let Some(rv) = object::meta_str(o, "resourceVersion") {
                    m["resourceVersion"] = json!(rv);
                }
            }
            t
        } else {
            o.clone()
        }
    };
    crate::rt::spawn(async move {
        for o in &initial {
            if tx.send(encode("ADDED", &wrap(o))).await.is_err() {
                return;
            }
        }
        let mut w = match watcher {
            Ok(w) => w,
            Err(StoreError::Compacted { requested, oldest }) => {
                let e = ApiError::gone(format!("too old resource version: {requested} ({oldest})"));
                let _ = tx.send(encode("ERROR", &e.to_status())).await;
                return;
            }
            Err(e) => {
                let _ = tx
                    .send(encode(
                        "ERROR",
                        &ApiError::internal(e.to_string()).to_status(),
                    ))
                    .await;
                return;
            }
        };
        let deadline = Instant::now() + timeout;
        loop {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            let wait = (deadline - now).min(if bookmarks { BOOKMARK_EVERY } else { timeout });
            let next = future::or(async { Some(w.next().await) }, async {
                async_io::Timer::after(wait).await;
                None
            })
            .await;
            let batch = match next {
                None => {
                    if bookmarks && Instant::now() < deadline {
                        // A bookmark is an object of the watched kind carrying only the
                        // resourceVersion, as Kubernetes sends it.
                        let bm = json!({"kind": kind, "apiVersion": api_version,
                            "metadata": {"resourceVersion": w.revision().to_string()}});
                        if tx.send(encode("BOOKMARK", &bm)).await.is_err() {
                            return;
                        }
                    }
                    continue;
                }
                Some(Ok(b)) => b,
                Some(Err(StoreError::Compacted { requested, oldest })) => {
                    let e =
                        ApiError::gone(format!("too old resource version: {requested} ({oldest})"));
                    let _ = tx.send(encode("ERROR", &e.to_status())).await;
                    return;
                }
                Some(Err(e)) => {
                    let _ = tx
                        .send(encode(
                            "ERROR",
                            &ApiError::internal(e.to_string()).to_status(),
                        ))
                        .await;
                    return;
                }
            };
            for ev in batch {
                let Ok(obj) = object::from_stored(&ev.value, ev.rev) else {
                    continue;
                };
                let now_matches = filter.matches(&obj);
                let prev_matches = ev
                    .prev
                    .as_ref()
                    .and_then(|p| serde_json::from_slice::<Value>(p).ok())
                    .map(|p| filter.matches(&p));
                let ty = match ev.kind {
                    EventKind::Delete if now_matches => "DELETED",
                    EventKind::Delete => continue,
                    EventKind::Put if ev.create_rev == ev.rev => {
                        if now_matches {
                            "ADDED"
                        } else {
                            continue;
                        }
                    }
                    EventKind::Put => match (prev_matches, now_matches) {
                        (Some(false), true) => "ADDED",
                        (Some(true), false) => "DELETED",
                        (_, true) => "MODIFIED",
                        (_, false) => continue,
                    },
                };
                if tx.send(encode(ty, &wrap(&obj))).await.is_err() {
                    return;
                }
            }
        }
    })
    .detach();
    Ok(resp)
}
