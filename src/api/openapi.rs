//! `/openapi/v3`: per group-version documents that tell kubectl which kinds exist and that the
//! server validates fields itself (`fieldValidation` on every patch operation). Schemas are not
//! served yet, so kubectl computes strategic merge patches from its compiled-in types.

use std::collections::BTreeMap;
use std::sync::Arc;

use hyper::Response;
use serde_json::{json, Value};

use super::body::{self, Body};
use super::registry::ResourceDef;
use super::server::{ApiServer, KUBE_GIT_VERSION};
use super::status::ApiError;

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// FNV-1a, enough to change the URL whenever a document changes.
fn hash(s: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016X}")
}

fn op(r: &ResourceDef, action: &str, params: &[&str]) -> Value {
    let parameters: Vec<Value> = params
        .iter()
        .map(|p| json!({"name": p, "in": "query", "schema": {"type": "string", "uniqueItems": true}}))
        .collect();
    json!({
        "operationId": format!("{action}{}", r.kind),
        "parameters": parameters,
        "responses": {"200": {"description": "OK"}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": r.group, "version": r.version, "kind": r.kind},
    })
}

fn document(rs: &[&Arc<ResourceDef>]) -> Value {
    let mut paths = serde_json::Map::new();
    for r in rs {
        let base = format!("/{}", gv_path(&r.group, &r.version));
        let coll = if r.namespaced {
            format!("{base}/namespaces/{{namespace}}/{}", r.plural)
        } else {
            format!("{base}/{}", r.plural)
        };
        let write = ["dryRun", "fieldManager", "fieldValidation"];
        paths.insert(
            coll.clone(),
            json!({
                "get": op(r, "list", &["labelSelector", "fieldSelector", "limit", "continue", "watch"]),
                "post": op(r, "post", &write),
                "delete": op(r, "deletecollection", &["labelSelector", "fieldSelector"]),
            }),
        );
        paths.insert(
            format!("{coll}/{{name}}"),
            json!({
                "get": op(r, "get", &[]),
                "put": op(r, "put", &write),
                "patch": op(r, "patch", &["dryRun", "fieldManager", "fieldValidation", "force"]),
                "delete": op(r, "delete", &["dryRun", "gracePeriodSeconds", "propagationPolicy"]),
            }),
        );
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": KUBE_GIT_VERSION},
        "paths": paths,
        "components": {"schemas": {}},
    })
}

/// `/openapi/v2`: kubectl asks for it (protobuf only) when a kind is missing from the v3
/// index, e.g. a custom resource whose CRD is created in the same `apply`. An empty message is
/// a valid, empty `openapi_v2.Document`, which makes kubectl skip client-side schema checks for
/// that kind and rely on the server's, as it does for kinds without a published schema.
pub fn v2_empty() -> Response<Body> {
    let mut r = body::text(200, "");
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(
            "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
        ),
    );
    r
}

pub fn serve(srv: &Arc<ApiServer>, path: &str) -> Result<Response<Body>, ApiError> {
    let all = srv.registry.all();
    let mut by_gv: BTreeMap<String, Vec<&Arc<ResourceDef>>> = BTreeMap::new();
    for r in &all {
        by_gv
            .entry(gv_path(&r.group, &r.version))
            .or_default()
            .push(r);
    }
    if path == "/openapi/v3" {
        let mut paths = serde_json::Map::new();
        for (gv, rs) in &by_gv {
            let names: Vec<&str> = rs.iter().map(|r| r.plural.as_str()).collect();
            paths.insert(
                gv.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{gv}?hash={}", hash(&names.join(",")))}),
            );
        }
        return Ok(body::json(200, &json!({"paths": paths})));
    }
    let gv = path.trim_start_matches("/openapi/v3/");
    let rs = by_gv.get(gv).ok_or_else(ApiError::not_found_path)?;
    Ok(body::json(200, &document(rs)))
}
