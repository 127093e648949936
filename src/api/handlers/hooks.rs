//! Kind-specific admission on the write path: Service address allocation, Namespace phase,
//! CRD status and registration, Pod status and binding.

use std::sync::Arc;

use serde_json::{json, Value};

use super::write;
use crate::api::body::{self, Body};
use crate::api::object;
use crate::api::registry::{CustomDef, ResourceDef, ScalePaths};
use crate::api::server::ApiServer;
use crate::api::status::{invalid_value, ApiError, StatusCause};
use crate::clock::rfc3339;

/// Values claimed while admitting a create, released if the create does not happen.
#[derive(Default)]
pub struct Claim {
    ips: Vec<String>,
    ports: Vec<u16>,
}

impl Claim {
    pub fn release(self, srv: &ApiServer) {
        for ip in self.ips {
            srv.alloc.release_ip(&ip);
        }
        for p in self.ports {
            srv.alloc.release_port(p);
        }
    }
}

fn svc_ports_need_node_port(svc: &Value) -> bool {
    matches!(
        svc.pointer("/spec/type").and_then(Value::as_str),
        Some("NodePort") | Some("LoadBalancer")
    )
}

/// Allocate a Service's clusterIP and nodePorts.
fn admit_service(srv: &ApiServer, svc: &mut Value) -> Result<Claim, ApiError> {
    let mut claim = Claim::default();
    let name = object::name(svc).to_string();
    let ty = svc
        .pointer("/spec/type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
        .to_string();
    let fail = |claim: Claim, causes: Vec<StatusCause>| {
        claim.release(srv);
        Err(ApiError::invalid("Service", "", &name, causes))
    };
    if ty != "ExternalName" {
        let requested = svc
            .pointer("/spec/clusterIP")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let ip = match requested.as_str() {
            "None" => None,
            "" => match srv.alloc.allocate_ip() {
                Ok(ip) => Some(ip),
                Err(e) => {
                    return fail(
                        claim,
                        vec![invalid_value("spec.clusterIPs", &json!([]), &e.to_string())],
                    )
                }
            },
            ip => match srv.alloc.reserve_ip(ip) {
                Ok(()) => Some(ip.to_string()),
                Err(e) => {
                    return fail(
                        claim,
                        vec![invalid_value(
                            "spec.clusterIPs",
                            &json!([ip]),
                            &e.to_string(),
                        )],
                    )
                }
            },
        };
        if let Some(ip) = ip {
            claim.ips.push(ip.clone());
            svc["spec"]["clusterIP"] = json!(ip);
            svc["spec"]["clusterIPs"] = json!([ip]);
        } else {
            svc["spec"]["clusterIPs"] = json!(["None"]);
        }
    }
    if svc_ports_need_node_port(svc) {
        let n = svc
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .map(Vec::len)
            .unwrap_or(0);
        for i in 0..n {
            let path = format!("spec.ports[{i}].nodePort");
            let requested = svc["spec"]["ports"][i]
                .get("nodePort")
                .and_then(Value::as_u64);
            let res = match requested {
                Some(p) => u16::try_from(p)
                    .map_err(|_| crate::api::alloc::AllocError::PortOutOfRange)
                    .and_then(|p| srv.alloc.reserve_port(p).map(|_| p)),
                None => srv.alloc.allocate_port(),
            };
            match res {
                Ok(p) => {
                    claim.ports.push(p);
                    svc["spec"]["ports"][i]["nodePort"] = json!(p);
                }
                Err(e) => {
                    let v = requested.map(|p| json!(p)).unwrap_or(json!(0));
                    return fail(claim, vec![invalid_value(&path, &v, &e.to_string())]);
                }
            }
        }
    }
    Ok(claim)
}

/// Release what a stored Service holds.
fn release_service(srv: &ApiServer, svc: &Value) {
    if let Some(ip) = svc.pointer("/spec/clusterIP").and_then(Value::as_str) {
        srv.alloc.release_ip(ip);
    }
    if let Some(ports) = svc.pointer("/spec/ports").and_then(Value::as_array) {
        for p in ports {
            if let Some(n) = p.get("nodePort").and_then(Value::as_u64) {
                srv.alloc.release_port(n as u16);
            }
        }
    }
}

/// Re-claim what every stored Service holds (at start).
pub fn reclaim_services(srv: &ApiServer) -> Result<(), ApiError> {
    let Some(def) = srv.registry.by_path("", "v1", "services") else {
        return Ok(());
    };
    let (recs, _, _) = srv
        .store
        .list(def.prefix().as_bytes(), None, None)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    for r in recs {
        let svc: Value = serde_json::from_slice(&r.value).unwrap_or(Value::Null);
        if let Some(ip) = svc.pointer("/spec/clusterIP").and_then(Value::as_str) {
            let _ = srv.alloc.reserve_ip(ip);
        }
        if let Some(ports) = svc.pointer("/spec/ports").and_then(Value::as_array) {
            for p in ports {
                if let Some(n) = p.get("nodePort").and_then(Value::as_u64) {
                    let _ = srv.alloc.reserve_port(n as u16);
                }
            }
        }
    }
    Ok(())
}

/// Kind-specific rewriting on every write: CRDs get their v1 defaults (built-in kinds get
/// theirs from `api::defaults`).
pub fn normalize(def: &ResourceDef, obj: &mut Value) {
    if def.kind == "CustomResourceDefinition" {
        crate::api::crd::default_definition(obj);
    }
}

pub fn before_create(
    srv: &ApiServer,
    def: &ResourceDef,
    obj: &mut Value,
    now: i64,
) -> Result<Claim, ApiError> {
    // LimitRange defaults first: the pod's QoS class below depends on them.
    crate::api::admission::admit_create(srv, def, obj)?;
    match (def.group.as_str(), def.kind.as_str()) {
        ("", "Service") => admit_service(srv, obj),
        ("", "Namespace") => {
            obj["status"] = json!({"phase": "Active"});
            Ok(Claim::default())
        }
        ("", "Pod") => {
            if obj.pointer("/status/phase").is_none() {
                obj["status"] = json!({"phase": "Pending", "qosClass": qos_class(obj)});
            }
            super::tolerations::add_defaults(obj, srv.cfg.default_toleration_seconds);
            Ok(Claim::default())
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            let names = obj.pointer("/spec/names").cloned().unwrap_or(json!({}));
            let t = rfc3339(now);
            obj["status"] = json!({
                "acceptedNames": names,
                "conditions": [
                    {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
                     "message": "no conflicts found", "lastTransitionTime": t},
                    {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                     "message": "the initial names have been accepted", "lastTransitionTime": t},
                ],
                "storedVersions": stored_versions(obj),
            });
            Ok(Claim::default())
        }
        _ => Ok(Claim::default()),
    }
}

fn stored_versions(crd: &Value) -> Vec<String> {
    crd.pointer("/spec/versions")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
                .filter_map(|v| v.get("name").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Guaranteed when every container has equal cpu and memory requests and limits, BestEffort
/// when none has any, Burstable otherwise.
pub fn qos_class(pod: &Value) -> &'static str {
    let containers: Vec<&Value> = ["containers", "initContainers"]
        .iter()
        .filter_map(|k| pod.pointer(&format!("/spec/{k}")).and_then(Value::as_array))
        .flatten()
        .collect();
    let mut any = false;
    let mut guaranteed = !containers.is_empty();
    for c in containers {
        let req = c.pointer("/resources/requests").and_then(Value::as_object);
        let lim = c.pointer("/resources/limits").and_then(Value::as_object);
        if req.is_some_and(|r| !r.is_empty()) || lim.is_some_and(|l| !l.is_empty()) {
            any = true;
        }
        for res in ["cpu", "memory"] {
            let l = lim.and_then(|l| l.get(res));
            let r = req.and_then(|r| r.get(res)).or(l);
            if l.is_none() || r != l {
                guaranteed = false;
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

pub fn before_update(
    srv: &ApiServer,
    def: &ResourceDef,
    cur: &Value,
    new: &mut Value,
) -> Result<(), ApiError> {
    if def.group.is_empty() && def.kind == "Service" {
        // clusterIP and nodePorts are kept from the stored object unless changed explicitly.
        if new.pointer("/spec/clusterIP").is_none_or(|v| v == "") {
            if let Some(ip) = cur.pointer("/spec/clusterIP") {
                new["spec"]["clusterIP"] = ip.clone();
            }
            if let Some(ips) = cur.pointer("/spec/clusterIPs") {
                new["spec"]["clusterIPs"] = ips.clone();
            }
        }
        if svc_ports_need_node_port(new) {
            let old_ports: Vec<(u64, u64)> = cur
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .map(|ps| {
                    ps.iter()
                        .filter_map(|p| {
                            Some((p.get("port")?.as_u64()?, p.get("nodePort")?.as_u64()?))
                        })
                        .collect()
                })
                .unwrap_or_default();
            if let Some(ports) = new.pointer_mut("/spec/ports").and_then(Value::as_array_mut) {
                for p in ports.iter_mut() {
                    if p.get("nodePort").is_none() {
                        let port = p.get("port").and_then(Value::as_u64);
                        if let Some((_, np)) = old_ports.iter().find(|(pp, _)| Some(*pp) == port) {
                            p["nodePort"] = json!(np);
                        } else if let Ok(np) = srv.alloc.allocate_port() {
                            p["nodePort"] = json!(np);
                        }
                    }
                }
            }
        }
    }
    if def.kind == "CustomResourceDefinition" {
        if let Some(st) = cur.get("status") {
            if new.get("status").is_none() {
                new["status"] = st.clone();
            }
        }
    }
    Ok(())
}

/// After a CRD write, serve what the CRDs now declare.
pub async fn after_write(srv: &Arc<ApiServer>, def: &ResourceDef) {
    if def.kind == "CustomResourceDefinition" {
        let _ = reload_crds(srv);
    }
}

pub async fn after_delete(srv: &Arc<ApiServer>, def: &ResourceDef, last: &Value) {
    match (def.group.as_str(), def.kind.as_str()) {
        ("", "Service") => release_service(srv, last),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            let _ = reload_crds(srv);
            remove_custom_objects(srv, last).await;
        }
        _ => {}
    }
}

/// Custom objects do not outlive their definition (Kubernetes' `customresourcecleanup`).
async fn remove_custom_objects(srv: &ApiServer, crd: &Value) {
    let (Some(group), Some(plural)) = (
        crd.pointer("/spec/group").and_then(Value::as_str),
        crd.pointer("/spec/names/plural").and_then(Value::as_str),
    ) else {
        return;
    };
    let prefix = format!("/registry/{group}/{plural}/");
    let Ok((recs, _, _)) = srv.store.list(prefix.as_bytes(), None, None) else {
        return;
    };
    let ops = recs
        .into_iter()
        .map(|r| crate::store::Op::Delete {
            key: r.key,
            expect: None,
        })
        .collect();
    if let Err(e) = srv.store.write(ops).await {
        eprintln!("kedge: removing {plural}.{group} objects: {e}");
    }
}

/// Rebuild the custom resources of the registry from the stored CRDs.
pub fn reload_crds(srv: &ApiServer) -> Result<(), ApiError> {
    let Some(def) = srv
        .registry
        .by_path("apiextensions.k8s.io", "v1", "customresourcedefinitions")
    else {
        return Ok(());
    };
    let (recs, _, _) = srv
        .store
        .list(def.prefix().as_bytes(), None, None)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let mut defs = Vec::new();
    for r in recs {
        let crd: Value = serde_json::from_slice(&r.value).unwrap_or(Value::Null);
        if object::meta(&crd).is_some_and(|m| m.contains_key("deletionTimestamp")) {
            continue;
        }
        let Ok(info) = crate::api::crd::info(&crd) else {
            continue;
        };
        let storage = info
            .versions
            .iter()
            .find(|v| v.storage)
            .map(|v| v.name.clone())
            .unwrap_or_default();
        for v in info.versions.iter().filter(|v| v.served) {
            defs.push(ResourceDef {
                group: info.group.clone(),
                version: v.name.clone(),
                kind: info.kind.clone(),
                plural: info.plural.clone(),
                singular: info.singular.clone(),
                namespaced: info.namespaced,
                short_names: info.short_names.clone(),
                categories: info.categories.clone(),
                status: v.status_subresource,
                scale: v.scale.as_ref().map(|s| ScalePaths {
                    spec_replicas: s.spec_replicas_path.clone(),
                    status_replicas: s.status_replicas_path.clone(),
                    label_selector: s.label_selector_path.clone(),
                }),
                extra: vec![],
                typed: None,
                custom: Some(CustomDef {
                    schema: v.schema.clone(),
                    printer_columns: v.printer_columns.clone(),
                    storage_version: storage.clone(),
                }),
            });
        }
    }
    srv.registry.set_custom(defs);
    Ok(())
}

/// `POST pods/<name>/binding`: set `spec.nodeName` once.
pub async fn bind_pod(
    srv: &Arc<ApiServer>,
    def: &ResourceDef,
    ns: Option<&str>,
    name: &str,
    binding: Value,
) -> Result<hyper::Response<Body>, ApiError> {
    let node = binding
        .pointer("/target/name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            ApiError::invalid(
                "Binding",
                "",
                name,
                vec![crate::api::status::required("target.name")],
            )
        })?
        .to_string();
    bind(srv, def, ns, name, &node).await?;
    Ok(body::json(
        201,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
    ))
}

/// Set a pod's `spec.nodeName` and its PodScheduled condition, once.
pub async fn bind(
    srv: &Arc<ApiServer>,
    def: &ResourceDef,
    ns: Option<&str>,
    name: &str,
    node: &str,
) -> Result<(), ApiError> {
    let (cur, rev) = write::load(srv, def, ns, name)?;
    if let Some(n) = cur
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    {
        return Err(ApiError::conflict(
            "pods",
            "",
            name,
            &format!("pod {name} is already assigned to node \"{n}\""),
        ));
    }
    if object::meta(&cur).is_some_and(|m| m.contains_key("deletionTimestamp")) {
        return Err(ApiError::conflict("pods", "", name, "pod is being deleted"));
    }
    let mut new = cur.clone();
    new["spec"]["nodeName"] = json!(node);
    let mut conds = new
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    conds.retain(|c| c.get("type").and_then(Value::as_str) != Some("PodScheduled"));
    conds.push(
        json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null,
                      "lastTransitionTime": rfc3339(srv.clock.now())}),
    );
    new["status"]["conditions"] = Value::Array(conds);
    // Binding changes spec and status together, which neither normal path allows: write direct.
    let out = srv
        .store
        .write(vec![crate::store::Op::Update {
            key: def.key(ns, name).into_bytes(),
            value: object::to_stored(&new),
            expect: Some(rev),
        }])
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    match out.into_iter().next() {
        Some(crate::store::OpOutcome::Done(..)) => Ok(()),
        _ => Err(ApiError::stale("pods", "", name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn computes_qos_classes() {
        let be = json!({"spec": {"containers": [{"name": "a"}]}});
        assert_eq!(qos_class(&be), "BestEffort");
        let g = json!({"spec": {"containers": [{"name": "a", "resources": {
            "limits": {"cpu": "1", "memory": "1Gi"}}}]}});
        assert_eq!(qos_class(&g), "Guaranteed");
        let b = json!({"spec": {"containers": [{"name": "a", "resources": {
            "requests": {"cpu": "100m"}}}]}});
        assert_eq!(qos_class(&b), "Burstable");
    }
}
