//! Create and update: the shared write pipeline.

use std::sync::Arc;

use serde_json::{json, Value};

use super::hooks;
use crate::api::object::{self, meta_mut};
use crate::api::registry::ResourceDef;
use crate::api::server::ApiServer;
use crate::api::status::{ApiError, StatusCause};
use crate::clock::rfc3339;
use crate::store::{Op, OpOutcome};

/// What to do with fields the schema does not know (`?fieldValidation=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validation {
    Strict,
    Warn,
    Ignore,
}

#[derive(Debug, Clone)]
pub struct WriteOpts {
    pub dry_run: bool,
    pub validation: Validation,
    pub field_manager: Option<String>,
    pub force: bool,
}

impl WriteOpts {
    pub fn internal() -> WriteOpts {
        WriteOpts {
            dry_run: false,
            validation: Validation::Ignore,
            field_manager: None,
            force: false,
        }
    }
}

/// Paths of fields present in `input` but absent from its typed round trip `output`.
fn unknown_fields(input: &Value, output: &Value, path: &str, out: &mut Vec<String>) {
    match (input, output) {
        (Value::Object(i), Value::Object(o)) => {
            for (k, v) in i {
                if v.is_null() {
                    continue;
                }
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match o.get(k) {
                    Some(ov) => unknown_fields(v, ov, &p, out),
                    None => out.push(p),
                }
            }
        }
        (Value::Array(i), Value::Array(o)) => {
            for (n, (iv, ov)) in i.iter().zip(o.iter()).enumerate() {
                unknown_fields(iv, ov, &format!("{path}[{n}]"), out);
            }
        }
        _ => {}
    }
}

/// Check apiVersion/kind against the resource, fill them when absent.
fn check_type(def: &ResourceDef, obj: &mut Value) -> Result<(), ApiError> {
    let want_av = def.api_version();
    match obj.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => obj["apiVersion"] = json!(want_av),
        Some(av) if av == want_av => {}
        Some(av) => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({av}) does not match the expected API version ({want_av})"
            )))
        }
    }
    match obj.get("kind").and_then(Value::as_str) {
        None | Some("") => obj["kind"] = json!(def.kind),
        Some(k) if k == def.kind => {}
        Some(k) => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                def.kind
            )))
        }
    }
    Ok(())
}

/// Normalise through the typed struct or the CRD schema; returns warnings, or the unknown-field
/// error under Strict. Schema violations of custom resources come back as causes.
fn normalize(
    def: &ResourceDef,
    obj: Value,
    validation: Validation,
) -> Result<(Value, Vec<String>, Vec<StatusCause>), ApiError> {
    let mut unknown = Vec::new();
    let mut causes = Vec::new();
    let out = if let Some(typed) = def.typed {
        let out = typed(obj.clone()).map_err(|e| {
            ApiError::bad_request(format!(
                "{} in version \"{}\" cannot be handled as a {}: {e}",
                def.kind, def.version, def.kind
            ))
        })?;
        unknown_fields(&obj, &out, "", &mut unknown);
        out
    } else if let Some(schema) = def.custom.as_ref().and_then(|c| c.schema.as_ref()) {
        let mut o = obj;
        unknown = crate::api::crd::prune(schema, &mut o);
        crate::api::crd::apply_defaults(schema, &mut o);
        causes = crate::api::crd::validate(schema, &o);
        o
    } else {
        obj
    };
    let msgs: Vec<String> = unknown
        .iter()
        .map(|p| format!("unknown field \"{p}\""))
        .collect();
    match validation {
        Validation::Strict if !msgs.is_empty() => Err(ApiError::bad_request(format!(
            "strict decoding error: {}",
            msgs.join(", ")
        ))),
        Validation::Warn => Ok((out, msgs, causes)),
        _ => Ok((out, Vec::new(), causes)),
    }
}

fn validate(def: &ResourceDef, obj: &Value, old: Option<&Value>) -> Vec<StatusCause> {
    if def.custom.is_some() {
        let mut causes = Vec::new();
        let name = object::name(obj);
        if !name.is_empty() {
            if let Err(msg) = crate::api::validation::names::dns1123_subdomain(name) {
                causes.push(crate::api::status::invalid_value(
                    "metadata.name",
                    &json!(name),
                    &msg,
                ));
            }
        }
        return causes;
    }
    let mut causes = crate::api::validation::validate(&def.group, &def.kind, obj, old);
    if def.kind == "CustomResourceDefinition" {
        causes.extend(crate::api::crd::validate_definition(obj));
        if let Some(old) = old {
            causes.extend(crate::api::crd::validate_definition_update(obj, old));
        }
    }
    causes
}

/// Fail with 404 unless the namespace exists (and is not terminating, for creates).
pub fn check_namespace(srv: &ApiServer, ns: &str, creating: bool) -> Result<(), ApiError> {
    let Some(nsdef) = srv.registry.by_path("", "v1", "namespaces") else {
        return Ok(());
    };
    let (rec, _) = srv
        .store
        .get(nsdef.key(None, ns).as_bytes())
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let Some(rec) = rec else {
        return Err(ApiError::not_found("namespaces", "", ns));
    };
    if creating {
        let v: Value = serde_json::from_slice(&rec.value).unwrap_or(Value::Null);
        if object::meta(&v).is_some_and(|m| m.contains_key("deletionTimestamp")) {
            return Err(ApiError::forbidden(format!(
                "unable to create new content in namespace {ns} because it is being terminated"
            )));
        }
    }
    Ok(())
}

fn keeps_generation(def: &ResourceDef, obj: &Value) -> bool {
    def.custom.is_some() || obj.get("spec").is_some()
}

/// Create an object; returns it as stored (with resourceVersion) and any warnings.
pub async fn create(
    srv: &Arc<ApiServer>,
    def: &ResourceDef,
    ns: Option<&str>,
    mut obj: Value,
    opts: &WriteOpts,
) -> Result<(Value, Vec<String>), ApiError> {
    check_type(def, &mut obj)?;
    if def.namespaced {
        let ns = ns.ok_or_else(|| {
            ApiError::bad_request(
                "the namespace of the object must be set for namespaced resources",
            )
        })?;
        match object::meta_str(&obj, "namespace") {
            None | Some("") => {
                meta_mut(&mut obj).insert("namespace".into(), json!(ns));
            }
            Some(o) if o == ns => {}
            Some(_) => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ))
            }
        }
    } else if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("namespace");
    }
    let (mut obj, warnings, mut causes) = normalize(def, obj, opts.validation)?;
    if object::name(&obj).is_empty() {
        if let Some(prefix) = object::meta_str(&obj, "generateName").map(str::to_string) {
            if !prefix.is_empty() {
                let n = format!("{prefix}{}", object::random_suffix());
                meta_mut(&mut obj).insert("name".into(), json!(n));
            }
        }
    }
    let now = srv.clock.now();
    {
        let m = meta_mut(&mut obj);
        for k in [
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
            "managedFields",
        ] {
            m.remove(k);
        }
        m.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
        m.insert("creationTimestamp".into(), json!(rfc3339(now)));
    }
    if keeps_generation(def, &obj) {
        meta_mut(&mut obj).insert("generation".into(), json!(1));
    } else {
        meta_mut(&mut obj).remove("generation");
    }
    hooks::normalize(def, &mut obj);
    if def.custom.is_none() {
        crate::api::defaults::apply(&def.group, &def.kind, &mut obj);
    }
    if let Some(m) = &opts.field_manager {
        set_managed(&mut obj, m, "Update", now, def);
    }
    causes.extend(validate(def, &obj, None));
    if !causes.is_empty() {
        return Err(ApiError::invalid(
            &def.kind,
            &def.group,
            object::name(&obj),
            causes,
        ));
    }
    if let Some(ns) = ns.filter(|_| def.namespaced) {
        check_namespace(srv, ns, true)?;
    }
    let claim = hooks::before_create(srv, def, &mut obj, now)?;
    let name = object::name(&obj).to_string();
    if opts.dry_run {
        claim.release(srv);
        return Ok((obj, warnings));
    }
    let key = def.key(ns, &name);
    let out = srv
        .store
        .write(vec![Op::Create {
            key: key.into_bytes(),
            value: object::to_stored(&obj),
        }])
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    match out.into_iter().next() {
        Some(OpOutcome::Done(_, rev)) => {
            object::set_rv(&mut obj, rev);
            hooks::after_write(srv, def).await;
            Ok((obj, warnings))
        }
        Some(OpOutcome::Exists(_)) => {
            claim.release(srv);
            Err(ApiError::already_exists(&def.plural, &def.group, &name))
        }
        other => {
            claim.release(srv);
            Err(ApiError::internal(format!(
                "unexpected store outcome {other:?}"
            )))
        }
    }
}

/// Record (or refresh) a managedFields entry for `manager` so clients that read it find the
/// manager and operation; field ownership sets are tracked only for server-side apply.
pub fn set_managed(obj: &mut Value, manager: &str, operation: &str, now: i64, def: &ResourceDef) {
    let m = meta_mut(obj);
    let mut entries: Vec<Value> = m
        .get("managedFields")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let pos = entries.iter().position(|e| {
        e.get("manager").and_then(Value::as_str) == Some(manager)
            && e.get("operation").and_then(Value::as_str) == Some(operation)
    });
    let fields = pos
        .and_then(|p| entries[p].get("fieldsV1").cloned())
        .unwrap_or_else(|| json!({}));
    let entry = json!({
        "manager": manager,
        "operation": operation,
        "apiVersion": def.api_version(),
        "time": rfc3339(now),
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
    });
    match pos {
        Some(p) => entries[p] = entry,
        None => entries.push(entry),
    }
    m.insert("managedFields".into(), Value::Array(entries));
}

/// Load the current object and its revision.
pub fn load(
    srv: &ApiServer,
    def: &ResourceDef,
    ns: Option<&str>,
    name: &str,
) -> Result<(Value, u64), ApiError> {
    let (rec, _) = srv
        .store
        .get(def.key(ns, name).as_bytes())
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let rec = rec.ok_or_else(|| ApiError::not_found(&def.plural, &def.group, name))?;
    let obj = object::from_stored(&rec.value, rec.mod_rev)
        .map_err(|e| ApiError::internal(format!("stored object is corrupt: {e}")))?;
    Ok((obj, rec.mod_rev))
}

/// Compute the object an update (main resource or status subresource) would store.
pub fn merge_update(def: &ResourceDef, cur: &Value, mut new: Value, sub: Option<&str>) -> Value {
    match sub {
        Some("status") => {
            // The status subresource changes status only (and nothing in metadata).
            let mut out = cur.clone();
            match new.get_mut("status").map(Value::take) {
                Some(s) => out["status"] = s,
                None => {
                    if let Some(o) = out.as_object_mut() {
                        o.remove("status");
                    }
                }
            }
            out
        }
        _ => {
            if def.status {
                match cur.get("status") {
                    Some(s) => new["status"] = s.clone(),
                    None => {
                        if let Some(o) = new.as_object_mut() {
                            o.remove("status");
                        }
                    }
                }
            }
            let cm = object::meta(cur).cloned().unwrap_or_default();
            let m = meta_mut(&mut new);
            for k in [
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "namespace",
                "name",
                "generation",
            ] {
                match cm.get(k) {
                    Some(v) => {
                        m.insert(k.into(), v.clone());
                    }
                    None => {
                        m.remove(k);
                    }
                }
            }
            if keeps_generation(def, &new) && object::spec_part(&new) != object::spec_part(cur) {
                let g = cm.get("generation").and_then(Value::as_i64).unwrap_or(0);
                meta_mut(&mut new).insert("generation".into(), json!(g + 1));
            }
            new
        }
    }
}

/// Replace an object (PUT). Returns the stored object, the HTTP code and warnings.
pub async fn update(
    srv: &Arc<ApiServer>,
    def: &ResourceDef,
    ns: Option<&str>,
    name: &str,
    mut obj: Value,
    sub: Option<&str>,
    opts: &WriteOpts,
) -> Result<(Value, u16, Vec<String>), ApiError> {
    check_type(def, &mut obj)?;
    match object::meta_str(&obj, "name") {
        Some(n) if n == name => {}
        None | Some("") => {
            meta_mut(&mut obj).insert("name".into(), json!(name));
        }
        Some(n) => {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )))
        }
    }
    if let (Some(ns), Some(o)) = (ns, object::meta_str(&obj, "namespace")) {
        if !o.is_empty() && o != ns {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
    }
    let expect = object::meta_str(&obj, "resourceVersion")
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {s:?}")))
        })
        .transpose()?;
    let (cur, cur_rev) = load(srv, def, ns, name)?;
    if expect.is_some_and(|e| e != cur_rev) {
        return Err(ApiError::stale(&def.plural, &def.group, name));
    }
    let (stored, warnings) =
        apply_update(srv, def, ns, name, &cur, cur_rev, obj, sub, opts).await?;
    Ok((stored, 200, warnings))
}

/// Run the update pipeline from a computed new object against `cur` at `cur_rev`.
#[allow(clippy::too_many_arguments)]
pub async fn apply_update(
    srv: &Arc<ApiServer>,
    def: &ResourceDef,
    ns: Option<&str>,
    name: &str,
    cur: &Value,
    cur_rev: u64,
    obj: Value,
    sub: Option<&str>,
    opts: &WriteOpts,
) -> Result<(Value, Vec<String>), ApiError> {
    let mut obj = obj;
    check_type(def, &mut obj)?;
    if def.namespaced {
        if let Some(ns) = ns {
            meta_mut(&mut obj).insert("namespace".into(), json!(ns));
        }
    }
    let now = srv.clock.now();
    let (normalized, warnings, mut causes) = normalize(def, obj, opts.validation)?;
    let mut new = merge_update(def, cur, normalized, sub);
    hooks::normalize(def, &mut new);
    if def.custom.is_none() {
        crate::api::defaults::apply(&def.group, &def.kind, &mut new);
    }
    hooks::before_update(srv, def, cur, &mut new)?;
    if let Some(m) = &opts.field_manager {
        set_managed(&mut new, m, "Update", now, def);
    }
    causes.extend(validate(def, &new, Some(cur)));
    if !causes.is_empty() {
        return Err(ApiError::invalid(&def.kind, &def.group, name, causes));
    }
    let mut cur_cmp = cur.clone();
    object::meta_mut(&mut cur_cmp).remove("resourceVersion");
    let mut new_cmp = new.clone();
    object::meta_mut(&mut new_cmp).remove("resourceVersion");
    if opts.dry_run {
        object::set_rv(&mut new, cur_rev);
        return Ok((new, warnings));
    }
    if new_cmp == cur_cmp {
        // A no-op update writes nothing and keeps the resourceVersion, as Kubernetes does.
        let mut out = cur.clone();
        object::set_rv(&mut out, cur_rev);
        return Ok((out, warnings));
    }
    let deleting = object::meta(&new).is_some_and(|m| m.contains_key("deletionTimestamp"));
    let key = def.key(ns, name).into_bytes();
    let op = if deleting && object::finalizers(&new).is_empty() {
        // The last finalizer is gone: finish the deletion.
        Op::Delete {
            key,
            expect: Some(cur_rev),
        }
    } else {
        Op::Update {
            key,
            value: object::to_stored(&new),
            expect: Some(cur_rev),
        }
    };
    let is_delete = matches!(op, Op::Delete { .. });
    let out = srv
        .store
        .write(vec![op])
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    match out.into_iter().next() {
        Some(OpOutcome::Done(_, rev)) => {
            object::set_rv(&mut new, rev);
            if is_delete {
                hooks::after_delete(srv, def, &new).await;
            } else {
                hooks::after_write(srv, def).await;
            }
            Ok((new, warnings))
        }
        Some(OpOutcome::Conflict(_)) => Err(ApiError::stale(&def.plural, &def.group, name)),
        Some(OpOutcome::Missing) => Err(ApiError::not_found(&def.plural, &def.group, name)),
        other => Err(ApiError::internal(format!(
            "unexpected store outcome {other:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_unknown_fields_with_paths() {
        let input = json!({"spec": {"a": 1, "b": {"c": 2}, "l": [{"x": 1, "y": 2}]}, "n": null});
        let output = json!({"spec": {"a": 1, "b": {}, "l": [{"x": 1}]}});
        let mut out = Vec::new();
        unknown_fields(&input, &output, "", &mut out);
        assert_eq!(out, vec!["spec.b.c", "spec.l[0].y"]);
    }
}
