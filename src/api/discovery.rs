//! API discovery: aggregated (`apidiscovery.k8s.io/v2`) and legacy documents, all derived from
//! the registry.

use hyper::Response;
use serde_json::{json, Value};

use super::body::{self, Body};
use super::registry::{Registry, ResourceDef};
use super::status::ApiError;

const AGGREGATED_CT: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

fn sub_kind(r: &ResourceDef, sub: &str) -> (String, String, String, Vec<&'static str>) {
    match sub {
        "status" => (
            r.group.clone(),
            r.version.clone(),
            r.kind.clone(),
            vec!["get", "patch", "update"],
        ),
        "scale" => (
            "autoscaling".into(),
            "v1".into(),
            "Scale".into(),
            vec!["get", "patch", "update"],
        ),
        "binding" => ("".into(), "v1".into(), "Binding".into(), vec!["create"]),
        "eviction" => (
            "policy".into(),
            "v1".into(),
            "Eviction".into(),
            vec!["create"],
        ),
        "token" => (
            "authentication.k8s.io".into(),
            "v1".into(),
            "TokenRequest".into(),
            vec!["create"],
        ),
        "log" => ("".into(), "v1".into(), "Pod".into(), vec!["get"]),
        "ephemeralcontainers" => (
            r.group.clone(),
            r.version.clone(),
            r.kind.clone(),
            vec!["get", "patch", "update"],
        ),
        "finalize" => (
            r.group.clone(),
            r.version.clone(),
            r.kind.clone(),
            vec!["update"],
        ),
        _ => ("".into(), "v1".into(), String::new(), vec!["create", "get"]),
    }
}

fn subresources(r: &ResourceDef) -> Vec<String> {
    let mut subs: Vec<String> = Vec::new();
    if r.status {
        subs.push("status".into());
    }
    if r.scale.is_some() {
        subs.push("scale".into());
    }
    subs.extend(r.extra.iter().map(|s| s.to_string()));
    subs
}

fn aggregated_resource(r: &ResourceDef) -> Value {
    let subs: Vec<Value> = subresources(r)
        .iter()
        .map(|s| {
            let (g, v, k, verbs) = sub_kind(r, s);
            let mut e = json!({"subresource": s, "verbs": verbs});
            if !k.is_empty() {
                e["responseKind"] = json!({"group": g, "version": v, "kind": k});
            }
            e
        })
        .collect();
    let mut e = json!({
        "resource": r.plural,
        "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
        "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": r.singular,
        "verbs": VERBS,
    });
    if !r.short_names.is_empty() {
        e["shortNames"] = json!(r.short_names);
    }
    if !r.categories.is_empty() {
        e["categories"] = json!(r.categories);
    }
    if !subs.is_empty() {
        e["subresources"] = json!(subs);
    }
    e
}

fn preferred(versions: &[String]) -> String {
    versions.first().cloned().unwrap_or_default()
}

/// `/api` or `/apis`.
pub fn root(reg: &Registry, legacy: bool, accept: &str) -> Result<Response<Body>, ApiError> {
    let groups = reg.groups();
    let all = reg.all();
    if accept.contains("as=APIGroupDiscoveryList") {
        let mut items: Vec<Value> = groups
            .iter()
            .filter(|(g, _)| g.is_empty() == legacy)
            .map(|(g, versions)| {
                let vs: Vec<Value> = versions
                    .iter()
                    .map(|v| {
                        let res: Vec<Value> = all
                            .iter()
                            .filter(|r| &r.group == g && &r.version == v)
                            .map(|r| aggregated_resource(r))
                            .collect();
                        json!({"version": v, "resources": res, "freshness": "Current"})
                    })
                    .collect();
                let mut meta = json!({"creationTimestamp": null});
                if !g.is_empty() {
                    meta["name"] = json!(g);
                }
                json!({"metadata": meta, "versions": vs})
            })
            .collect();
        if !legacy {
            items.push(super::metrics::aggregated_group());
        }
        let doc = json!({
            "kind": "APIGroupDiscoveryList",
            "apiVersion": "apidiscovery.k8s.io/v2",
            "metadata": {},
            "items": items,
        });
        return Ok(body::json_as(&doc, AGGREGATED_CT));
    }
    if legacy {
        return Ok(body::json(
            200,
            &json!({"kind": "APIVersions", "versions": ["v1"],
                    "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}]}),
        ));
    }
    let mut list: Vec<Value> = groups
        .iter()
        .filter(|(g, _)| !g.is_empty())
        .map(|(g, vs)| group_doc(g, vs))
        .collect();
    list.push(super::metrics::group_doc());
    Ok(body::json(
        200,
        &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": list}),
    ))
}

fn group_doc(g: &str, vs: &[String]) -> Value {
    let versions: Vec<Value> = vs
        .iter()
        .map(|v| json!({"groupVersion": format!("{g}/{v}"), "version": v}))
        .collect();
    let p = preferred(vs);
    json!({
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": g,
        "versions": versions,
        "preferredVersion": {"groupVersion": format!("{g}/{p}"), "version": p},
    })
}

/// `/apis/<group>`.
pub fn group(reg: &Registry, g: &str) -> Result<Response<Body>, ApiError> {
    let groups = reg.groups();
    let vs = groups.get(g).ok_or_else(ApiError::not_found_path)?;
    Ok(body::json(200, &group_doc(g, vs)))
}

/// `/api/v1` or `/apis/<group>/<version>`.
pub fn group_version(reg: &Registry, g: &str, v: &str) -> Result<Response<Body>, ApiError> {
    let all = reg.all();
    let mine: Vec<_> = all
        .iter()
        .filter(|r| r.group == g && r.version == v)
        .collect();
    if mine.is_empty() {
        return Err(ApiError::not_found_path());
    }
    let mut resources = Vec::new();
    for r in mine {
        let mut e = json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": VERBS,
        });
        if !r.short_names.is_empty() {
            e["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            e["categories"] = json!(r.categories);
        }
        resources.push(e);
        for s in subresources(r) {
            let (sg, sv, k, verbs) = sub_kind(r, &s);
            let mut e = json!({
                "name": format!("{}/{s}", r.plural),
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": k,
                "verbs": verbs,
            });
            if sg != r.group || sv != r.version {
                e["group"] = json!(sg);
                e["version"] = json!(sv);
            }
            resources.push(e);
        }
    }
    let gv = if g.is_empty() {
        v.to_string()
    } else {
        format!("{g}/{v}")
    };
    Ok(body::json(
        200,
        &json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
    ))
}
