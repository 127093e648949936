//! PATCH in its four forms (strategic merge, JSON merge, JSON patch, server-side apply) and
//! the scale subresource.

use std::collections::BTreeSet;
use std::sync::Arc;

use hyper::Response;
use serde_json::{json, Map, Value};

use super::read::scale_of;
use super::with_warnings;
use super::write::{self, apply_update, load, WriteOpts};
use crate::api::body::{self, Body, Encoding};
use crate::api::object;
use crate::api::patch::strategic;
use crate::api::registry::ResourceDef;
use crate::api::server::ApiServer;
use crate::api::status::{ApiError, Details, StatusCause};

/// Optimistic-concurrency retries of a patch whose target changed underneath it.
const PATCH_RETRIES: usize = 5;

/// Apply a patch document of the given encoding to an object (no store access).
pub fn apply_patch(
    def: &ResourceDef,
    cur: &Value,
    enc: Encoding,
    body: &[u8],
) -> Result<Value, ApiError> {
    match enc {
        Encoding::MergePatch => {
            let p: Value = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
            let mut doc = cur.clone();
            json_patch::merge(&mut doc, &p);
            Ok(doc)
        }
        Encoding::JsonPatch => {
            let p: json_patch::Patch = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
            let mut doc = cur.clone();
            json_patch::patch(&mut doc, &p).map_err(|e| {
                ApiError::invalid(
                    &def.kind,
                    &def.group,
                    object::name(cur),
                    vec![StatusCause {
                        reason: "FieldValueInvalid".into(),
                        message: format!(
                            "the server rejected our request due to an error in our request: {e}"
                        ),
                        field: String::new(),
                    }],
                )
            })?;
            Ok(doc)
        }
        Encoding::StrategicPatch => {
            if def.custom.is_some() {
                return Err(ApiError::unsupported_media_type(
                    "application/strategic-merge-patch+json is not supported for custom resources",
                ));
            }
            let p: Value = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
            strategic::apply(cur, &p).map_err(|e| ApiError::bad_request(e.to_string()))
        }
        _ => Err(ApiError::unsupported_media_type("patch")),
    }
}

/// The precondition a patch may carry in `metadata.resourceVersion`.
fn patch_precondition(enc: Encoding, body: &[u8]) -> Option<u64> {
    if !matches!(enc, Encoding::MergePatch | Encoding::StrategicPatch) {
        return None;
    }
    let v: Value = serde_json::from_slice(body).ok()?;
    v.pointer("/metadata/resourceVersion")?
        .as_str()?
        .parse()
        .ok()
}

#[allow(clippy::too_many_arguments)]
pub async fn patch(
    srv: &Arc<ApiServer>,
    def: &ResourceDef,
    ns: Option<&str>,
    name: &str,
    sub: Option<&str>,
    enc: Encoding,
    body: &[u8],
    opts: &WriteOpts,
) -> Result<Response<Body>, ApiError> {
    if enc == Encoding::ApplyPatch {
        return apply(srv, def, ns, name, body, opts).await;
    }
    if !matches!(
        enc,
        Encoding::MergePatch | Encoding::JsonPatch | Encoding::StrategicPatch
    ) {
        return Err(ApiError::unsupported_media_type("patch content type"));
    }
    let precondition = patch_precondition(enc, body);
    for _ in 0..PATCH_RETRIES {
        let (cur, rev) = load(srv, def, ns, name)?;
        if precondition.is_some_and(|p| p != rev) {
            return Err(ApiError::stale(&def.plural, &def.group, name));
        }
        if sub == Some("scale") {
            let scale = scale_of(def, &cur);
            let patched = apply_patch(def, &scale, enc, body)?;
            return set_replicas(srv, def, ns, name, &cur, rev, &patched, opts).await;
        }
        let new = apply_patch(def, &cur, enc, body)?;
        match apply_update(srv, def, ns, name, &cur, rev, new, sub, opts).await {
            Ok((out, warnings)) => return Ok(with_warnings(body::json(200, &out), &warnings)),
            Err(e) if e.reason == "Conflict" && precondition.is_none() => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::stale(&def.plural, &def.group, name))
}

#[allow(clippy::too_many_arguments)]
async fn set_replicas(
    srv: &Arc<ApiServer>,
    def: &ResourceDef,
    ns: Option<&str>,
    name: &str,
    cur: &Value,
    rev: u64,
    scale: &Value,
    opts: &WriteOpts,
) -> Result<Response<Body>, ApiError> {
    let replicas = scale
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .ok_or_else(|| {
            ApiError::invalid(
                "Scale",
                "autoscaling",
                name,
                vec![crate::api::status::required("spec.replicas")],
            )
        })?;
    if replicas < 0 {
        return Err(ApiError::invalid(
            "Scale",
            "autoscaling",
            name,
            vec![crate::api::status::invalid_value(
                "spec.replicas",
                &json!(replicas),
                "must be greater than or equal to 0",
            )],
        ));
    }
    let path = def
        .scale_paths()
        .map(|p| p.spec_replicas.clone())
        .unwrap_or_else(|| ".spec.replicas".into());
    let mut new = cur.clone();
    let mut target = &mut new;
    let parts: Vec<&str> = path.trim_start_matches('.').split('.').collect();
    for (i, p) in parts.iter().enumerate() {
        if i + 1 == parts.len() {
            target[*p] = json!(replicas);
        } else {
            if !target.get(*p).is_some_and(Value::is_object) {
                target[*p] = json!({});
            }
            target = &mut target[*p];
        }
    }
    let (out, _) = apply_update(srv, def, ns, name, cur, rev, new, None, opts).await?;
    Ok(body::json(200, &scale_of(def, &out)))
}

pub async fn put_scale(
    srv: &Arc<ApiServer>,
    def: &ResourceDef,
    ns: Option<&str>,
    name: &str,
    scale: Value,
    opts: &WriteOpts,
) -> Result<Response<Body>, ApiError> {
    let (cur, rev) = load(srv, def, ns, name)?;
    if let Some(want) = scale
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    {
        if want.parse::<u64>().ok() != Some(rev) {
            return Err(ApiError::stale(&def.plural, &def.group, name));
        }
    }
    set_replicas(srv, def, ns, name, &cur, rev, &scale, opts).await
}

// ---- server-side apply ----

/// Leaf paths of an applied configuration (lists are owned whole).
fn leaf_paths(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                if prefix.is_empty() && matches!(k.as_str(), "apiVersion" | "kind") {
                    continue;
                }
                if prefix == ".metadata" && matches!(k.as_str(), "name" | "namespace") {
                    continue;
                }
                leaf_paths(v, &format!("{prefix}.{k}"), out);
            }
        }
        _ => {
            out.insert(prefix.to_string());
        }
    }
}

fn to_fields_v1(paths: &BTreeSet<String>) -> Value {
    let mut root = Map::new();
    for p in paths {
        let mut cur = &mut root;
        for part in p.trim_start_matches('.').split('.') {
            let e = cur
                .entry(format!("f:{part}"))
                .or_insert_with(|| Value::Object(Map::new()));
            cur = match e.as_object_mut() {
                Some(m) => m,
                None => break,
            };
        }
    }
    Value::Object(root)
}

fn from_fields_v1(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    if let Some(m) = v.as_object() {
        if m.is_empty() && !prefix.is_empty() {
            out.insert(prefix.to_string());
        }
        for (k, v) in m {
            if let Some(f) = k.strip_prefix("f:") {
                from_fields_v1(v, &format!("{prefix}.{f}"), out);
            }
        }
    }
}

fn at<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    super::read::dot_path(obj, path)
}

fn remove_at(obj: &mut Value, path: &str) {
    let parts: Vec<&str> = path.trim_start_matches('.').split('.').collect();
    let mut cur = obj;
    for (i, p) in parts.iter().enumerate() {
        if i + 1 == parts.len() {
            if let Some(m) = cur.as_object_mut() {
                m.remove(*p);
            }
            return;
        }
        match cur.get_mut(*p) {
            Some(next) => cur = next,
            None => return,
        }
    }
}

fn apply_entries(obj: &Value) -> Vec<Value> {
    object::meta(obj)
        .and_then(|m| m.get("managedFields"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

async fn apply(
    srv: &Arc<ApiServer>,
    def: &ResourceDef,
    ns: Option<&str>,
    name: &str,
    body: &[u8],
    opts: &WriteOpts,
) -> Result<Response<Body>, ApiError> {
    let manager = opts
        .field_manager
        .clone()
        .filter(|m| !m.is_empty())
        .ok_or_else(|| {
            ApiError::bad_request(
                "PATCH, application/apply-patch+yaml requests must have a fieldManager",
            )
        })?;
    let applied = body::yaml_to_json(body)?;
    if !applied.is_object() {
        return Err(ApiError::bad_request(
            "the apply configuration must be an object",
        ));
    }
    let mut paths = BTreeSet::new();
    leaf_paths(&applied, "", &mut paths);
    let now = srv.clock.now();
    for _ in 0..PATCH_RETRIES {
        let (cur, rev) = match load(srv, def, ns, name) {
            Ok(x) => x,
            Err(e) if e.code == 404 => {
                let mut obj = applied.clone();
                object::meta_mut(&mut obj).insert("name".into(), json!(name));
                let mut o = opts.clone();
                o.field_manager = None;
                let (mut created, warnings) = write::create(srv, def, ns, obj, &o).await?;
                if !opts.dry_run {
                    let rev = object::meta_str(&created, "resourceVersion")
                        .and_then(|r| r.parse().ok())
                        .unwrap_or(0);
                    let mut with = created.clone();
                    object::meta_mut(&mut with).insert(
                        "managedFields".into(),
                        json!([managed_entry(def, &manager, &paths, now)]),
                    );
                    let mut internal = WriteOpts::internal();
                    internal.dry_run = false;
                    if let Ok((out, _)) =
                        apply_update(srv, def, ns, name, &created, rev, with, None, &internal).await
                    {
                        created = out;
                    }
                }
                return Ok(with_warnings(body::json(201, &created), &warnings));
            }
            Err(e) => return Err(e),
        };
        let entries = apply_entries(&cur);
        let mut conflicts: Vec<(String, String)> = Vec::new();
        let mut mine_before = BTreeSet::new();
        for e in &entries {
            let m = e.get("manager").and_then(Value::as_str).unwrap_or("");
            let mut owned = BTreeSet::new();
            from_fields_v1(e.get("fieldsV1").unwrap_or(&Value::Null), "", &mut owned);
            if m == manager {
                mine_before = owned;
                continue;
            }
            if e.get("operation").and_then(Value::as_str) != Some("Apply") {
                continue;
            }
            for p in paths.intersection(&owned) {
                if at(&cur, p) != at(&applied, p) {
                    conflicts.push((m.to_string(), p.clone()));
                }
            }
        }
        if !conflicts.is_empty() && !opts.force {
            let causes: Vec<StatusCause> = conflicts
                .iter()
                .map(|(m, p)| StatusCause {
                    reason: "FieldManagerConflict".into(),
                    message: format!("conflict with \"{m}\""),
                    field: p.clone(),
                })
                .collect();
            let list: Vec<String> = conflicts
                .iter()
                .map(|(m, p)| format!("conflict with \"{m}\": {p}"))
                .collect();
            let mut e = ApiError::conflict(&def.plural, &def.group, name, "");
            e.message = format!(
                "Apply failed with {} conflict{}: {}",
                conflicts.len(),
                if conflicts.len() == 1 { "" } else { "s" },
                list.join("\n")
            );
            e.details = Some(Box::new(Details {
                name: name.into(),
                group: def.group.clone(),
                kind: def.plural.clone(),
                causes,
            }));
            return Err(e);
        }
        let mut merged = if def.custom.is_some() {
            let mut d = cur.clone();
            json_patch::merge(&mut d, &applied);
            d
        } else {
            strategic::apply(&cur, &applied).map_err(|e| ApiError::bad_request(e.to_string()))?
        };
        // Fields this manager applied before and no longer applies are removed, unless
        // another manager still owns them.
        let others: BTreeSet<String> = entries
            .iter()
            .filter(|e| e.get("manager").and_then(Value::as_str) != Some(manager.as_str()))
            .flat_map(|e| {
                let mut s = BTreeSet::new();
                from_fields_v1(e.get("fieldsV1").unwrap_or(&Value::Null), "", &mut s);
                s
            })
            .collect();
        for p in mine_before.difference(&paths) {
            if !others.contains(p) {
                remove_at(&mut merged, p);
            }
        }
        let mut new_entries: Vec<Value> = entries
            .into_iter()
            .filter(|e| e.get("manager").and_then(Value::as_str) != Some(manager.as_str()))
            .map(|mut e| {
                if opts.force {
                    let mut owned = BTreeSet::new();
                    from_fields_v1(e.get("fieldsV1").unwrap_or(&Value::Null), "", &mut owned);
                    let left: BTreeSet<String> = owned.difference(&paths).cloned().collect();
                    e["fieldsV1"] = to_fields_v1(&left);
                }
                e
            })
            .collect();
        new_entries.push(managed_entry(def, &manager, &paths, now));
        object::meta_mut(&mut merged).insert("managedFields".into(), Value::Array(new_entries));
        let mut o = opts.clone();
        o.field_manager = None;
        match apply_update(srv, def, ns, name, &cur, rev, merged, None, &o).await {
            Ok((out, warnings)) => return Ok(with_warnings(body::json(200, &out), &warnings)),
            Err(e)
                if e.reason == "Conflict"
                    && e.details.as_ref().is_none_or(|d| d.causes.is_empty()) =>
            {
                continue
            }
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::stale(&def.plural, &def.group, name))
}

fn managed_entry(def: &ResourceDef, manager: &str, paths: &BTreeSet<String>, now: i64) -> Value {
    json!({
        "manager": manager,
        "operation": "Apply",
        "apiVersion": def.api_version(),
        "time": crate::clock::rfc3339(now),
        "fieldsType": "FieldsV1",
        "fieldsV1": to_fields_v1(paths),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_sets_round_trip() {
        let applied = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "labels": {"x": "1"}}, "data": {"k": "v", "l": "w"}});
        let mut paths = BTreeSet::new();
        leaf_paths(&applied, "", &mut paths);
        let want: BTreeSet<String> = [".metadata.labels.x", ".data.k", ".data.l"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(paths, want);
        let f = to_fields_v1(&paths);
        assert!(f["f:data"]["f:k"].is_object());
        let mut back = BTreeSet::new();
        from_fields_v1(&f, "", &mut back);
        assert_eq!(back, want);
        let mut obj = applied.clone();
        remove_at(&mut obj, ".data.k");
        assert_eq!(obj["data"], json!({"l": "w"}));
    }
}
