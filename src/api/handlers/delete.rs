//! delete and deletecollection: grace periods, finalizers, propagation policies, and the
//! finalisation of namespaces.

use std::collections::HashMap;
use std::sync::Arc;

use hyper::Response;
use serde_json::{json, Value};

use super::hooks;
use super::read::Filter;
use super::write::load;
use crate::api::body::{self, Body};
use crate::api::object;
use crate::api::registry::ResourceDef;
use crate::api::server::ApiServer;
use crate::api::status::ApiError;
use crate::clock::rfc3339;
use crate::store::{Op, OpOutcome};

/// How to delete (DeleteOptions of the API).
#[derive(Debug, Default, Clone)]
pub struct DeleteOptions {
    pub grace: Option<i64>,
    pub propagation: Option<String>,
    pub uid: Option<String>,
    pub rv: Option<String>,
    pub dry_run: bool,
}

fn options(q: &HashMap<String, String>, body: &[u8]) -> Result<DeleteOptions, ApiError> {
    let mut o = DeleteOptions::default();
    if !body.iter().all(u8::is_ascii_whitespace) {
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding DeleteOptions: {e}")))?;
        o.grace = v.get("gracePeriodSeconds").and_then(Value::as_i64);
        o.propagation = v
            .get("propagationPolicy")
            .and_then(Value::as_str)
            .map(str::to_string);
        o.uid = v
            .pointer("/preconditions/uid")
            .and_then(Value::as_str)
            .map(str::to_string);
        o.rv = v
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_string);
        o.dry_run = v
            .get("dryRun")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|x| x == "All"));
        if v.get("orphanDependents").and_then(Value::as_bool) == Some(true)
            && o.propagation.is_none()
        {
            o.propagation = Some("Orphan".into());
        }
    }
    if let Some(g) = q.get("gracePeriodSeconds") {
        o.grace = Some(
            g.parse()
                .map_err(|_| ApiError::bad_request("invalid gracePeriodSeconds"))?,
        );
    }
    if let Some(p) = q.get("propagationPolicy") {
        o.propagation = Some(p.clone());
    }
    if q.get("dryRun").is_some_and(|d| d == "All") {
        o.dry_run = true;
    }
    match o.propagation.as_deref() {
        None | Some("Background") | Some("Foreground") | Some("Orphan") => Ok(o),
        Some(p) => Err(ApiError::invalid(
            "DeleteOptions",
            "",
            "",
            vec![crate::api::status::StatusCause {
                reason: "FieldValueNotSupported".into(),
                message: format!("Unsupported value: \"{p}\": supported values: \"Foreground\", \"Background\", \"Orphan\""),
                field: "propagationPolicy".into(),
            }],
        )),
    }
}

pub async fn delete(
    srv: &Arc<ApiServer>,
    def: &ResourceDef,
    ns: Option<&str>,
    name: &str,
    q: &HashMap<String, String>,
    body: &[u8],
) -> Result<Response<Body>, ApiError> {
    let opts = options(q, body)?;
    let out = delete_one(srv, def, ns, name, &opts).await?;
    Ok(body::json(200, &out))
}

/// Delete one object (graceful deletion, finalizers and propagation as the API does);
/// returns the object as last stored or as marked for deletion.
pub async fn delete_one(
    srv: &Arc<ApiServer>,
    def: &ResourceDef,
    ns: Option<&str>,
    name: &str,
    opts: &DeleteOptions,
) -> Result<Value, ApiError> {
    delete_at(srv, def, ns, name, opts).await.map(|(v, _)| v)
}

/// [`delete_one`], also returning the store revision that reflects the deletion (or the
/// marking for deletion), so a controller can wait for its cache to see its own write.
pub async fn delete_at(
    srv: &Arc<ApiServer>,
    def: &ResourceDef,
    ns: Option<&str>,
    name: &str,
    opts: &DeleteOptions,
) -> Result<(Value, u64), ApiError> {
    for _ in 0..5 {
        let (cur, rev) = load(srv, def, ns, name)?;
        if let Some(uid) = &opts.uid {
            let have = object::meta_str(&cur, "uid").unwrap_or("");
            if have != uid {
                return Err(ApiError::conflict(
                    &def.plural,
                    &def.group,
                    name,
                    &format!("Precondition failed: UID in precondition: {uid}, UID in object meta: {have}"),
                ));
            }
        }
        if let Some(want) = &opts.rv {
            if want != &rev.to_string() {
                return Err(ApiError::conflict(
                    &def.plural,
                    &def.group,
                    name,
                    &format!("Precondition failed: ResourceVersion in precondition: {want}, ResourceVersion in object meta: {rev}"),
                ));
            }
        }
        let mut finalizers = object::finalizers(&cur);
        match opts.propagation.as_deref() {
            Some("Foreground") => finalizers.push("foregroundDeletion".into()),
            Some("Orphan") => finalizers.push("orphan".into()),
            _ => {}
        }
        finalizers.dedup();
        let is_ns = def.group.is_empty() && def.kind == "Namespace";
        let graceful_pod = def.group.is_empty()
            && def.kind == "Pod"
            && opts.grace != Some(0)
            && cur
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .is_some_and(|n| !n.is_empty())
            && !matches!(
                cur.pointer("/status/phase").and_then(Value::as_str),
                Some("Succeeded" | "Failed")
            );
        if finalizers.is_empty() && !is_ns && !graceful_pod {
            if opts.dry_run {
                return Ok((cur, rev));
            }
            let res = srv
                .store
                .write(vec![Op::Delete {
                    key: def.key(ns, name).into_bytes(),
                    expect: Some(rev),
                }])
                .await
                .map_err(|e| ApiError::internal(e.to_string()))?;
            match res.into_iter().next() {
                Some(OpOutcome::Done(_, at)) => {
                    hooks::after_delete(srv, def, &cur).await;
                    return Ok((cur, at));
                }
                Some(OpOutcome::Missing) => {
                    return Err(ApiError::not_found(&def.plural, &def.group, name))
                }
                _ => continue,
            }
        }
        if object::meta(&cur).is_some_and(|m| m.contains_key("deletionTimestamp")) {
            return Ok((cur, rev));
        }
        let now = srv.clock.now();
        let grace = if graceful_pod {
            opts.grace
                .or_else(|| {
                    cur.pointer("/spec/terminationGracePeriodSeconds")
                        .and_then(Value::as_i64)
                })
                .unwrap_or(30)
        } else {
            0
        };
        let mut new = cur.clone();
        {
            let m = object::meta_mut(&mut new);
            m.insert("deletionTimestamp".into(), json!(rfc3339(now + grace)));
            m.insert("deletionGracePeriodSeconds".into(), json!(grace));
            m.insert("finalizers".into(), json!(finalizers));
            if finalizers.is_empty() {
                m.remove("finalizers");
            }
        }
        if is_ns {
            new["status"] = json!({"phase": "Terminating"});
        }
        // Marking for deletion goes straight to the store: the update path would keep the
        // old deletionTimestamp (it is immutable to clients).
        if opts.dry_run {
            return Ok((new, rev));
        }
        let res = srv
            .store
            .write(vec![Op::Update {
                key: def.key(ns, name).into_bytes(),
                value: object::to_stored(&new),
                expect: Some(rev),
            }])
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?;
        match res.into_iter().next() {
            Some(OpOutcome::Done(_, r)) => {
                object::set_rv(&mut new, r);
                return Ok((new, r));
            }
            _ => continue,
        }
    }
    Err(ApiError::stale(&def.plural, &def.group, name))
}

/// Remove a terminating namespace's own record once nothing is left in it (the namespace
/// controller's last step; clients cannot do this through DELETE, which only marks it).
pub async fn remove_namespace(srv: &Arc<ApiServer>, ns: &str) -> Result<bool, ApiError> {
    let nsdef = srv
        .registry
        .by_path("", "v1", "namespaces")
        .ok_or_else(|| ApiError::internal("namespaces are not served"))?;
    let (cur, rev) = load(srv, &nsdef, None, ns)?;
    if !object::meta(&cur).is_some_and(|m| m.contains_key("deletionTimestamp")) {
        return Ok(false);
    }
    let res = srv
        .store
        .write(vec![Op::Delete {
            key: nsdef.key(None, ns).into_bytes(),
            expect: Some(rev),
        }])
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    if matches!(res.as_slice(), [OpOutcome::Done(..)]) {
        hooks::after_delete(srv, &nsdef, &cur).await;
        return Ok(true);
    }
    Ok(false)
}

pub async fn delete_collection(
    srv: &Arc<ApiServer>,
    def: &ResourceDef,
    ns: Option<&str>,
    q: &HashMap<String, String>,
    body: &[u8],
) -> Result<Response<Body>, ApiError> {
    let opts = options(q, body)?;
    let filter = Filter::from_query(def, q)?;
    let (recs, rev, _) = srv
        .store
        .list(def.ns_prefix(ns).as_bytes(), None, None)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let mut items = Vec::new();
    for r in recs {
        let v = object::from_stored(&r.value, r.mod_rev)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        if !filter.matches(&v) {
            continue;
        }
        let item_ns = object::meta_str(&v, "namespace").map(str::to_string);
        match delete_one(srv, def, item_ns.as_deref().or(ns), object::name(&v), &opts).await {
            Ok(o) => items.push(o),
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(body::json(
        200,
        &json!({
            "kind": format!("{}List", def.kind),
            "apiVersion": def.api_version(),
            "metadata": {"resourceVersion": rev.to_string()},
            "items": items,
        }),
    ))
}
