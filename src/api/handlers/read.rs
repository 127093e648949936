//! get and list, as plain objects or as `meta.k8s.io/v1` Tables.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use hyper::Response;
use serde_json::{json, Value};

use super::write::load;
use crate::api::body::{self, Body};
use crate::api::object;
use crate::api::registry::ResourceDef;
use crate::api::selector::{FieldSelector, LabelSelector};
use crate::api::server::ApiServer;
use crate::api::status::ApiError;
use crate::api::table;

/// Fields every kind supports in field selectors, plus the per-kind ones Kubernetes supports.
fn field_supported(def: &ResourceDef, field: &str) -> bool {
    if matches!(field, "metadata.name" | "metadata.namespace") {
        return true;
    }
    let extra: &[&str] = match (def.group.as_str(), def.kind.as_str()) {
        ("", "Pod") => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        ("", "Event") => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        ("", "Secret") => &["type"],
        ("", "Node") => &["spec.unschedulable"],
        ("", "Namespace") => &["status.phase"],
        ("", "ReplicationController") => &["status.replicas"],
        ("apps", "ReplicaSet") => &["status.replicas"],
        ("batch", "Job") => &["status.successful"],
        ("certificates.k8s.io", "CertificateSigningRequest") => &["spec.signerName"],
        _ => &[],
    };
    extra.contains(&field)
}

/// The selectors of a list or watch request.
pub struct Filter {
    labels: LabelSelector,
    fields: FieldSelector,
}

impl Filter {
    pub fn from_query(def: &ResourceDef, q: &HashMap<String, String>) -> Result<Filter, ApiError> {
        let labels = LabelSelector::parse(q.get("labelSelector").map(String::as_str).unwrap_or(""))
            .map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))?;
        let fields = FieldSelector::parse(q.get("fieldSelector").map(String::as_str).unwrap_or(""))
            .map_err(|e| ApiError::bad_request(format!("invalid field selector: {e}")))?;
        for r in fields.requirements() {
            if !field_supported(def, &r.field) {
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {}",
                    r.field
                )));
            }
        }
        Ok(Filter { labels, fields })
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.labels.matches(object::labels(obj))
            && self
                .fields
                .matches(&|f: &str| Some(object::field_string(obj, f)))
    }
}

/// A table (one or many rows) for objects of a resource.
pub fn to_table(def: &ResourceDef, objs: &[Value], rv: Option<u64>, now: i64) -> Value {
    let (columns, rows): (Vec<table::ColumnDefinition>, Vec<Value>) = match &def.custom {
        Some(c) => (
            table::crd_columns(&c.printer_columns),
            objs.iter()
                .map(|o| row(o, table::crd_cells(&c.printer_columns, o, now)))
                .collect(),
        ),
        None => (
            table::columns(&def.group, &def.kind),
            objs.iter()
                .map(|o| row(o, table::cells(&def.group, &def.kind, o, now)))
                .collect(),
        ),
    };
    let mut meta = json!({});
    if let Some(rv) = rv {
        meta["resourceVersion"] = json!(rv.to_string());
    }
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": columns,
        "rows": rows,
    })
}

fn row(obj: &Value, cells: Vec<Value>) -> Value {
    json!({
        "cells": cells,
        "object": {
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj.get("metadata").cloned().unwrap_or(json!({})),
        },
    })
}

pub fn get(
    srv: &Arc<ApiServer>,
    def: &ResourceDef,
    ns: Option<&str>,
    name: &str,
    table: bool,
) -> Result<Response<Body>, ApiError> {
    let (obj, rev) = load(srv, def, ns, name)?;
    if table {
        return Ok(body::json(
            200,
            &to_table(def, &[obj], Some(rev), srv.clock.now()),
        ));
    }
    Ok(body::json(200, &obj))
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Continue {
    rv: u64,
    start: String,
}

pub fn list(
    srv: &Arc<ApiServer>,
    def: &ResourceDef,
    ns: Option<&str>,
    q: &HashMap<String, String>,
    table: bool,
) -> Result<Response<Body>, ApiError> {
    let filter = Filter::from_query(def, q)?;
    let limit = q
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0);
    let prefix = def.ns_prefix(ns);
    let start = match q.get("continue").filter(|c| !c.is_empty()) {
        Some(tok) => {
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(tok.trim_end_matches('='))
                .map_err(|_| ApiError::bad_request("continue key is not valid"))?;
            let c: Continue = serde_json::from_slice(&bytes)
                .map_err(|_| ApiError::bad_request("continue key is not valid"))?;
            if c.rv < srv.store.compacted_revision() {
                return Err(ApiError::gone(
                    "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
                ));
            }
            Some(c.start)
        }
        None => None,
    };
    let mut items = Vec::new();
    let mut next: Option<String> = None;
    let mut cursor = start.map(String::into_bytes);
    let mut list_rev = 0;
    // Scan in chunks so a selective filter with a small limit does not read everything at once.
    'scan: loop {
        let chunk = limit.map(|l| (l * 2).max(64));
        let (recs, rev, more) = srv
            .store
            .list(prefix.as_bytes(), cursor.as_deref(), chunk)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        if list_rev == 0 {
            list_rev = rev;
        }
        for r in &recs {
            if limit.is_some_and(|l| items.len() >= l) {
                next = Some(String::from_utf8_lossy(&r.key).into_owned());
                break 'scan;
            }
            let obj = object::from_stored(&r.value, r.mod_rev)
                .map_err(|e| ApiError::internal(e.to_string()))?;
            if filter.matches(&obj) {
                items.push(obj);
            }
        }
        match (more, recs.last()) {
            (true, Some(last)) => {
                let mut k = last.key.clone();
                k.push(0);
                cursor = Some(k);
            }
            _ => break,
        }
    }
    let mut meta = json!({"resourceVersion": list_rev.to_string()});
    if let Some(start) = next {
        let tok = serde_json::to_vec(&Continue {
            rv: list_rev,
            start,
        })
        .unwrap_or_default();
        meta["continue"] = json!(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tok));
    }
    if table {
        let mut t = to_table(def, &items, Some(list_rev), srv.clock.now());
        t["metadata"] = meta;
        return Ok(body::json(200, &t));
    }
    let list = json!({
        "kind": format!("{}List", def.kind),
        "apiVersion": def.api_version(),
        "metadata": meta,
        "items": items,
    });
    Ok(body::json(200, &list))
}

/// Read `.a.b.c` style paths (scale subresource paths of CRDs).
pub fn dot_path<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    path.trim_start_matches('.')
        .split('.')
        .try_fold(obj, |v, p| v.get(p))
}

/// The `autoscaling/v1 Scale` view of an object.
pub fn scale_of(def: &ResourceDef, obj: &Value) -> Value {
    let paths = def.scale_paths();
    let spec_path = paths
        .map(|p| p.spec_replicas.as_str())
        .unwrap_or(".spec.replicas");
    let status_path = paths
        .map(|p| p.status_replicas.as_str())
        .unwrap_or(".status.replicas");
    let meta = object::meta(obj).cloned().unwrap_or_default();
    let mut m = serde_json::Map::new();
    for k in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(v) = meta.get(k) {
            m.insert(k.into(), v.clone());
        }
    }
    let mut status = json!({
        "replicas": dot_path(obj, status_path).and_then(Value::as_i64).unwrap_or(0),
    });
    let selector = paths
        .and_then(|p| p.label_selector.as_deref())
        .and_then(|p| dot_path(obj, p))
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| {
            obj.pointer("/spec/selector")
                .and_then(|s| LabelSelector::from_json(s).ok())
                .map(|s| s.to_string())
        });
    if let Some(s) = selector {
        status["selector"] = json!(s);
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": m,
        "spec": {"replicas": dot_path(obj, spec_path).and_then(Value::as_i64).unwrap_or(0)},
        "status": status,
    })
}

pub fn get_scale(
    srv: &Arc<ApiServer>,
    def: &ResourceDef,
    ns: Option<&str>,
    name: &str,
) -> Result<Response<Body>, ApiError> {
    let (obj, _) = load(srv, def, ns, name)?;
    Ok(body::json(200, &scale_of(def, &obj)))
}
