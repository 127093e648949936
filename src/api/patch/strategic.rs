//! Server-side strategic merge patch (`application/strategic-merge-patch+json`).
//!
//! Contract: [`apply`] takes a complete built-in Kubernetes object and an SMP document and returns
//! the patched object, with the result the Kubernetes API server produces for the bodies kubectl
//! sends (`apply`, `edit`, `patch`, `set image`, `rollout restart`). It never mutates its inputs.
//!
//! - Maps merge recursively; a `null` in the patch deletes the key.
//! - Lists merge according to [`list_strategy`], which is decided by the field names from the
//!   root (array indices skipped): atomic lists are replaced, keyed lists merge element-wise by
//!   their merge key, primitive sets are unioned. Pod specs are recognised at `spec` and at any
//!   `…template.spec`, so Pods, workload templates and CronJob job templates all match.
//! - Directives: `$patch` (`replace`, `delete`, `merge`) in maps and as keyed-list elements,
//!   `$setElementOrder/<list>`, `$deleteFromPrimitiveList/<list>` and `$retainKeys`. No directive
//!   key survives into the result, including inside values that did not exist before.
//! - Ordering follows upstream: without `$setElementOrder`, patch elements take the order of the
//!   patch list and elements only on the server are interleaved by their old position, so a new
//!   element whose position is unknown lands before the remaining server-only ones.
//! - A `$setElementOrder/<list>` naming a list the table does not know is trusted as evidence of a
//!   merge list (kubectl only sends it for those), so an incomplete table cannot make `kubectl
//!   apply` drop elements.
//!
//! Bad input (non-object patch, keyed element without its key, a non-list where a merge list is
//! expected, malformed directives) is reported as a [`StrategicError`] naming the path.

use serde_json::{Map, Number, Value};
use thiserror::Error;

const PATCH: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ORDER: &str = "$setElementOrder/";
const DELETE_PRIMITIVE: &str = "$deleteFromPrimitiveList/";

/// Why a strategic merge patch could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StrategicError {
    #[error("patch must be a json object, found {0}")]
    PatchNotObject(&'static str),
    #[error("original must be a json object, found {0}")]
    OriginalNotObject(&'static str),
    #[error("{path}: expected {expected}, found {found} in the {side}")]
    TypeMismatch {
        path: String,
        expected: &'static str,
        found: &'static str,
        side: &'static str,
    },
    #[error("{path}: element does not contain the merge key {key:?}")]
    MissingMergeKey { path: String, key: String },
    #[error("{path}: unknown $patch directive {value}")]
    UnknownDirective { path: String, value: String },
    #[error("{path}: {directive} must be a list")]
    DirectiveNotList { path: String, directive: String },
    #[error("{path}: field {field:?} is not listed in $retainKeys")]
    NotRetained { path: String, field: String },
    #[error("{path}: order of the patch list does not match $setElementOrder")]
    OrderMismatch { path: String },
}

/// How a list field is merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListStrategy {
    /// Atomic: the patch list replaces the whole list.
    Replace,
    /// Objects merged element-wise, matched by the value of this key.
    MergeByKey(&'static str),
    /// Primitives merged as a set (union, no duplicates).
    Set,
}

/// The merge strategy of the list at `path` (field names from the root, array indices skipped).
///
/// Mirrors the `patchStrategy`/`patchMergeKey` tags of the upstream API types; anything not
/// listed is atomic, as it is upstream.
pub fn list_strategy(path: &[&str]) -> ListStrategy {
    use ListStrategy::{MergeByKey, Replace, Set};
    let Some((&field, parent)) = path.split_last() else {
        return Replace;
    };
    if is_pod_spec(parent) {
        match field {
            "containers"
            | "initContainers"
            | "ephemeralContainers"
            | "volumes"
            | "imagePullSecrets"
            | "resourceClaims"
            | "schedulingGates" => return MergeByKey("name"),
            "hostAliases" => return MergeByKey("ip"),
            "topologySpreadConstraints" => return MergeByKey("topologyKey"),
            _ => {}
        }
    }
    if is_container(parent) {
        match field {
            "env" => return MergeByKey("name"),
            "ports" => return MergeByKey("containerPort"),
            "volumeMounts" => return MergeByKey("mountPath"),
            "volumeDevices" => return MergeByKey("devicePath"),
            _ => {}
        }
    }
    if parent.last() == Some(&"metadata") {
        match field {
            "finalizers" => return Set,
            "ownerReferences" => return MergeByKey("uid"),
            _ => {}
        }
    }
    match path {
        ["status", "conditions" | "addresses"] => MergeByKey("type"),
        ["status", "podIPs" | "hostIPs"] => MergeByKey("ip"),
        ["status", "resourceClaimStatuses"] => MergeByKey("name"),
        ["spec", "ports"] => MergeByKey("port"),
        ["spec", "podCIDRs"] => Set,
        _ => Replace,
    }
}

// `spec` of a Pod, or `template.spec` wherever a pod template is embedded (workloads, Jobs,
// CronJob job templates, PodTemplate). No other built-in `spec` has fields named like these.
fn is_pod_spec(path: &[&str]) -> bool {
    path == ["spec"] || path.ends_with(&["template", "spec"])
}

fn is_container(path: &[&str]) -> bool {
    match path.split_last() {
        Some((&last, rest)) => {
            matches!(
                last,
                "containers" | "initContainers" | "ephemeralContainers"
            ) && is_pod_spec(rest)
        }
        None => false,
    }
}

/// Apply the strategic merge patch `patch` to the object `original`.
pub fn apply(original: &Value, patch: &Value) -> Result<Value, StrategicError> {
    let Value::Object(patch) = patch else {
        return Err(StrategicError::PatchNotObject(kind(patch)));
    };
    let Value::Object(original) = original else {
        return Err(StrategicError::OriginalNotObject(kind(original)));
    };
    let mut path = Vec::new();
    // A top-level `$patch: delete` empties the object, as upstream does.
    let merged = merge_map(original.clone(), patch, &mut path)?.unwrap_or_default();
    Ok(Value::Object(merged))
}

#[derive(Debug, Clone, Copy)]
enum Seg<'p> {
    Field(&'p str),
    Index(usize),
}

type Path<'p> = Vec<Seg<'p>>;

fn render(path: &[Seg<'_>]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Field(name) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(name);
            }
            Seg::Index(i) => {
                out.push('[');
                out.push_str(&i.to_string());
                out.push(']');
            }
        }
    }
    if out.is_empty() {
        out.push_str("(root)");
    }
    out
}

fn names<'p>(path: &[Seg<'p>]) -> Vec<&'p str> {
    path.iter()
        .filter_map(|seg| match seg {
            Seg::Field(name) => Some(*name),
            Seg::Index(_) => None,
        })
        .collect()
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn mismatch(
    path: &[Seg<'_>],
    expected: &'static str,
    found: &Value,
    side: &'static str,
) -> StrategicError {
    StrategicError::TypeMismatch {
        path: render(path),
        expected,
        found: kind(found),
        side,
    }
}

// The strategy actually used; the key may borrow from the patch when inferred.
#[derive(Debug, Clone, Copy)]
enum Strategy<'p> {
    Replace,
    ByKey(&'p str),
    Set,
}

fn resolve<'p>(path: &[Seg<'p>], order: Option<&'p [Value]>) -> Strategy<'p> {
    match list_strategy(&names(path)) {
        ListStrategy::MergeByKey(key) => Strategy::ByKey(key),
        ListStrategy::Set => Strategy::Set,
        ListStrategy::Replace => order.map_or(Strategy::Replace, infer_from_order),
    }
}

// kubectl writes `$setElementOrder` as `[{key: value}, …]` for keyed lists and as the bare values
// for sets; anything else gives no reliable hint.
fn infer_from_order(order: &[Value]) -> Strategy<'_> {
    let Some(first) = order.first() else {
        return Strategy::Replace;
    };
    if let Value::Object(m) = first {
        let Some(key) = m.keys().next().filter(|_| m.len() == 1) else {
            return Strategy::Replace;
        };
        let uniform = order
            .iter()
            .all(|el| matches!(el, Value::Object(m) if m.len() == 1 && m.contains_key(key)));
        return if uniform {
            Strategy::ByKey(key)
        } else {
            Strategy::Replace
        };
    }
    if order.iter().all(is_primitive) {
        Strategy::Set
    } else {
        Strategy::Replace
    }
}

fn is_primitive(value: &Value) -> bool {
    !matches!(value, Value::Object(_) | Value::Array(_))
}

// Numbers compare by value so that `80` matches `80.0`, as Go's float64 decoding makes them equal
// upstream.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => numbers_equal(x, y),
        _ => a == b,
    }
}

fn numbers_equal(x: &Number, y: &Number) -> bool {
    if let (Some(a), Some(b)) = (x.as_i64(), y.as_i64()) {
        return a == b;
    }
    if let (Some(a), Some(b)) = (x.as_u64(), y.as_u64()) {
        return a == b;
    }
    matches!((x.as_f64(), y.as_f64()), (Some(a), Some(b)) if a == b)
}

fn is_directive_key(key: &str) -> bool {
    key == PATCH
        || key == RETAIN_KEYS
        || key.starts_with(SET_ORDER)
        || key.starts_with(DELETE_PRIMITIVE)
}

/// Merges `patch` into `original`; `None` means the map was deleted with `$patch: delete`.
fn merge_map<'p>(
    mut original: Map<String, Value>,
    patch: &'p Map<String, Value>,
    path: &mut Path<'p>,
) -> Result<Option<Map<String, Value>>, StrategicError> {
    match patch.get(PATCH) {
        None => {}
        Some(Value::String(s)) if s == "merge" => {}
        Some(Value::String(s)) if s == "replace" => original = Map::new(),
        Some(Value::String(s)) if s == "delete" => return Ok(None),
        Some(other) => {
            return Err(StrategicError::UnknownDirective {
                path: render(path),
                value: other.to_string(),
            })
        }
    }

    if let Some(retain) = patch.get(RETAIN_KEYS) {
        apply_retain_keys(&mut original, patch, retain, path)?;
    }

    // Lists named by `$setElementOrder` are merged and ordered together, before the plain keys.
    let mut ordered: Vec<&'p str> = Vec::new();
    for (key, order) in patch {
        let Some(field) = key.strip_prefix(SET_ORDER) else {
            continue;
        };
        let Value::Array(order) = order else {
            return Err(StrategicError::DirectiveNotList {
                path: render(path),
                directive: key.clone(),
            });
        };
        path.push(Seg::Field(field));
        if merge_ordered_list(&mut original, patch, field, order, path)? {
            ordered.push(field);
        }
        path.pop();
    }

    for (key, value) in patch {
        if is_directive_key(key) || ordered.contains(&key.as_str()) {
            continue;
        }
        if value.is_null() {
            original.shift_remove(key);
            continue;
        }
        path.push(Seg::Field(key));
        // Taking the value out leaves a placeholder, so the key keeps its position.
        let current = original.get_mut(key).map(std::mem::take);
        let merged = merge_field(current, value, path);
        path.pop();
        match merged? {
            Some(v) => {
                original.insert(key.clone(), v);
            }
            None => {
                original.shift_remove(key);
            }
        }
    }

    // Deletions run after merging, matching upstream where the ordered lists are merged first.
    for (key, values) in patch {
        let Some(field) = key.strip_prefix(DELETE_PRIMITIVE) else {
            continue;
        };
        let Value::Array(values) = values else {
            return Err(StrategicError::DirectiveNotList {
                path: render(path),
                directive: key.clone(),
            });
        };
        match original.get_mut(field) {
            None | Some(Value::Null) => {}
            Some(Value::Array(list)) => list.retain(|el| !values.iter().any(|v| same(el, v))),
            Some(other) => {
                path.push(Seg::Field(field));
                let err = mismatch(path, "a list", other, "original object");
                path.pop();
                return Err(err);
            }
        }
    }

    Ok(Some(original))
}

fn apply_retain_keys(
    original: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    retain: &Value,
    path: &[Seg<'_>],
) -> Result<(), StrategicError> {
    let Value::Array(retain) = retain else {
        return Err(StrategicError::DirectiveNotList {
            path: render(path),
            directive: RETAIN_KEYS.to_owned(),
        });
    };
    let kept = |key: &str| retain.iter().any(|k| k.as_str() == Some(key));
    // Upstream rejects a patch that sets a field its own `$retainKeys` would clear.
    for (key, value) in patch {
        if !value.is_null() && !is_directive_key(key) && !kept(key) {
            return Err(StrategicError::NotRetained {
                path: render(path),
                field: key.clone(),
            });
        }
    }
    original.retain(|key, _| kept(key));
    Ok(())
}

/// Handles `$setElementOrder/<field>`. Returns whether the list was dealt with here; `false`
/// leaves `field` to the ordinary merge (atomic lists, or a patch deleting the list).
fn merge_ordered_list<'p>(
    original: &mut Map<String, Value>,
    patch: &'p Map<String, Value>,
    field: &'p str,
    order: &'p [Value],
    path: &mut Path<'p>,
) -> Result<bool, StrategicError> {
    let strategy = resolve(path, Some(order));
    if matches!(strategy, Strategy::Replace) {
        return Ok(false);
    }
    let patch_list: &'p [Value] = match patch.get(field) {
        None => &[],
        Some(Value::Null) => return Ok(false),
        Some(Value::Array(list)) => list,
        Some(other) => return Err(mismatch(path, "a list", other, "patch")),
    };
    // Taking the value out leaves a placeholder, so the key keeps its position.
    let current = match original.get_mut(field).map(std::mem::take) {
        None | Some(Value::Null) => None,
        Some(Value::Array(list)) => Some(list),
        Some(other) => return Err(mismatch(path, "a list", &other, "original object")),
    };
    if current.is_none() && patch.get(field).is_none() {
        return Ok(true);
    }
    validate_order(patch_list, order, strategy, path)?;
    let merged = merge_list(
        current.unwrap_or_default(),
        patch_list,
        strategy,
        path,
        Some(order),
    )?;
    original.insert(field.to_owned(), Value::Array(merged));
    Ok(true)
}

// Every (non-directive) patch element must appear in `$setElementOrder`, in the same relative
// order; upstream rejects the patch otherwise.
fn validate_order(
    patch: &[Value],
    order: &[Value],
    strategy: Strategy<'_>,
    path: &mut Path<'_>,
) -> Result<(), StrategicError> {
    let mut order_ids = Vec::with_capacity(order.len());
    for (i, el) in order.iter().enumerate() {
        path.push(Seg::Index(i));
        let id = identity_required(el, strategy, path, "$setElementOrder");
        path.pop();
        order_ids.push(id?);
    }
    let mut next = 0;
    for (i, el) in patch.iter().enumerate() {
        if matches!(el, Value::Object(m) if m.contains_key(PATCH)) {
            continue;
        }
        path.push(Seg::Index(i));
        let id = identity_required(el, strategy, path, "patch");
        path.pop();
        let id = id?;
        match order_ids[next..].iter().position(|o| same(o, id)) {
            Some(offset) => next += offset + 1,
            None => return Err(StrategicError::OrderMismatch { path: render(path) }),
        }
    }
    Ok(())
}

fn identity<'v>(el: &'v Value, strategy: Strategy<'_>) -> Option<&'v Value> {
    match strategy {
        Strategy::ByKey(key) => el.get(key).filter(|v| !v.is_null()),
        Strategy::Set | Strategy::Replace => Some(el),
    }
}

fn identity_required<'v>(
    el: &'v Value,
    strategy: Strategy<'_>,
    path: &[Seg<'_>],
    side: &'static str,
) -> Result<&'v Value, StrategicError> {
    match strategy {
        Strategy::ByKey(key) => {
            if !el.is_object() {
                return Err(mismatch(path, "an object", el, side));
            }
            identity(el, strategy).ok_or_else(|| StrategicError::MissingMergeKey {
                path: render(path),
                key: key.to_owned(),
            })
        }
        Strategy::Set | Strategy::Replace => {
            if !is_primitive(el) {
                return Err(mismatch(path, "a primitive value", el, side));
            }
            Ok(el)
        }
    }
}

/// Merges the value at `path`; `None` means the field is to be removed.
fn merge_field<'p>(
    current: Option<Value>,
    patch: &'p Value,
    path: &mut Path<'p>,
) -> Result<Option<Value>, StrategicError> {
    let strategy = resolve(path, None);
    if !matches!(strategy, Strategy::Replace) {
        let Value::Array(patch_list) = patch else {
            return Err(mismatch(path, "a list", patch, "patch"));
        };
        let current = match current {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(list)) => list,
            Some(other) => return Err(mismatch(path, "a list", &other, "original object")),
        };
        let merged = merge_list(current, patch_list, strategy, path, None)?;
        return Ok(Some(Value::Array(merged)));
    }
    match patch {
        Value::Object(patch_map) => {
            let base = match current {
                Some(Value::Object(m)) => m,
                // Anything else is replaced; merging into nothing still strips directives.
                _ => Map::new(),
            };
            Ok(merge_map(base, patch_map, path)?.map(Value::Object))
        }
        Value::Array(items) => Ok(Some(Value::Array(fresh_list(items, path)?))),
        scalar => Ok(Some(scalar.clone())),
    }
}

// An atomic list is taken from the patch, but its elements are still "merged into nothing" so
// nulls and directives inside them do not reach storage.
fn fresh_list<'p>(items: &'p [Value], path: &mut Path<'p>) -> Result<Vec<Value>, StrategicError> {
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        path.push(Seg::Index(i));
        let fresh = match item {
            Value::Object(m) => merge_map(Map::new(), m, path).map(|m| m.map(Value::Object)),
            Value::Array(inner) => fresh_list(inner, path).map(|l| Some(Value::Array(l))),
            other => Ok(Some(other.clone())),
        };
        path.pop();
        if let Some(v) = fresh? {
            out.push(v);
        }
    }
    Ok(out)
}

fn merge_list<'p>(
    original: Vec<Value>,
    patch: &'p [Value],
    strategy: Strategy<'p>,
    path: &mut Path<'p>,
    order: Option<&'p [Value]>,
) -> Result<Vec<Value>, StrategicError> {
    let server_ids: Vec<Option<Value>> = original
        .iter()
        .map(|el| identity(el, strategy).cloned())
        .collect();
    let (merged, patch_ids) = match strategy {
        Strategy::ByKey(key) => merge_keyed(original, patch, key, path)?,
        Strategy::Set | Strategy::Replace => merge_set(original, patch, path)?,
    };
    let order_ids: Vec<&Value> = match order {
        Some(order) => order
            .iter()
            .filter_map(|el| identity(el, strategy))
            .collect(),
        None => patch_ids,
    };
    Ok(reorder(merged, &order_ids, &server_ids, strategy))
}

/// Returns the merged list and the identities of the patch elements, in patch order.
fn merge_keyed<'p>(
    mut merged: Vec<Value>,
    patch: &'p [Value],
    key: &'p str,
    path: &mut Path<'p>,
) -> Result<(Vec<Value>, Vec<&'p Value>), StrategicError> {
    let mut replace = false;
    let mut regular: Vec<(usize, &'p Map<String, Value>)> = Vec::new();
    for (i, el) in patch.iter().enumerate() {
        path.push(Seg::Index(i));
        let Value::Object(m) = el else {
            let err = mismatch(path, "an object", el, "patch");
            path.pop();
            return Err(err);
        };
        match m.get(PATCH) {
            None => regular.push((i, m)),
            Some(Value::String(s)) if s == "merge" => regular.push((i, m)),
            Some(Value::String(s)) if s == "replace" => replace = true,
            Some(Value::String(s)) if s == "delete" => {
                let Some(target) = m.get(key).filter(|v| !v.is_null()) else {
                    let err = StrategicError::MissingMergeKey {
                        path: render(path),
                        key: key.to_owned(),
                    };
                    path.pop();
                    return Err(err);
                };
                merged.retain(|o| !o.get(key).is_some_and(|v| same(v, target)));
            }
            Some(other) => {
                let err = StrategicError::UnknownDirective {
                    path: render(path),
                    value: other.to_string(),
                };
                path.pop();
                return Err(err);
            }
        }
        path.pop();
    }

    if replace {
        // Upstream takes the remaining elements verbatim here, merge key or not.
        merged.clear();
        let mut ids = Vec::new();
        for (i, m) in regular {
            path.push(Seg::Index(i));
            let fresh = merge_map(Map::new(), m, path);
            path.pop();
            if let Some(fresh) = fresh? {
                merged.push(Value::Object(fresh));
            }
            if let Some(id) = m.get(key).filter(|v| !v.is_null()) {
                ids.push(id);
            }
        }
        return Ok((merged, ids));
    }

    let mut ids = Vec::with_capacity(regular.len());
    for (i, m) in regular {
        path.push(Seg::Index(i));
        let result = merge_keyed_element(&mut merged, m, key, path);
        path.pop();
        ids.push(result?);
    }
    Ok((merged, ids))
}

fn merge_keyed_element<'p>(
    merged: &mut Vec<Value>,
    element: &'p Map<String, Value>,
    key: &str,
    path: &mut Path<'p>,
) -> Result<&'p Value, StrategicError> {
    let Some(id) = element.get(key).filter(|v| !v.is_null()) else {
        return Err(StrategicError::MissingMergeKey {
            path: render(path),
            key: key.to_owned(),
        });
    };
    let found = merged
        .iter()
        .position(|o| o.get(key).is_some_and(|v| same(v, id)));
    match found {
        Some(pos) => {
            let base = match std::mem::take(&mut merged[pos]) {
                Value::Object(m) => m,
                _ => Map::new(),
            };
            match merge_map(base, element, path)? {
                Some(m) => merged[pos] = Value::Object(m),
                None => {
                    merged.remove(pos);
                }
            }
        }
        None => {
            if let Some(m) = merge_map(Map::new(), element, path)? {
                merged.push(Value::Object(m));
            }
        }
    }
    Ok(id)
}

fn merge_set<'p>(
    original: Vec<Value>,
    patch: &'p [Value],
    path: &mut Path<'p>,
) -> Result<(Vec<Value>, Vec<&'p Value>), StrategicError> {
    for (i, el) in original.iter().enumerate() {
        if !is_primitive(el) {
            path.push(Seg::Index(i));
            let err = mismatch(path, "a primitive value", el, "original object");
            path.pop();
            return Err(err);
        }
    }
    for (i, el) in patch.iter().enumerate() {
        if !is_primitive(el) {
            path.push(Seg::Index(i));
            let err = mismatch(path, "a primitive value", el, "patch");
            path.pop();
            return Err(err);
        }
    }
    let mut merged: Vec<Value> = Vec::with_capacity(original.len() + patch.len());
    for el in original.into_iter().chain(patch.iter().cloned()) {
        if !merged.iter().any(|m| same(m, &el)) {
            merged.push(el);
        }
    }
    Ok((merged, patch.iter().collect()))
}

/// Upstream's ordering: elements named by `order_ids` follow that order; the others keep their
/// server order and are slotted in front of the first ordered element that came after them on
/// the server. An element the server never had cannot be compared, so it goes first.
fn reorder(
    merged: Vec<Value>,
    order_ids: &[&Value],
    server_ids: &[Option<Value>],
    strategy: Strategy<'_>,
) -> Vec<Value> {
    let position_in_order = |el: &Value| {
        identity(el, strategy).and_then(|id| order_ids.iter().position(|o| same(o, id)))
    };
    let server_position = |el: &Value| {
        identity(el, strategy).and_then(|id| {
            server_ids
                .iter()
                .position(|s| s.as_ref().is_some_and(|s| same(s, id)))
        })
    };

    let mut ordered: Vec<(usize, Value)> = Vec::new();
    let mut server_only: Vec<(usize, Value)> = Vec::new();
    for el in merged {
        match position_in_order(&el) {
            Some(pos) => ordered.push((pos, el)),
            None => server_only.push((server_position(&el).unwrap_or(usize::MAX), el)),
        }
    }
    ordered.sort_by_key(|(pos, _)| *pos);
    server_only.sort_by_key(|(pos, _)| *pos);

    let mut out = Vec::with_capacity(ordered.len() + server_only.len());
    let mut left = server_only.into_iter().peekable();
    let mut right = ordered.into_iter().map(|(_, el)| el).peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some((l, _)), Some(r)) => server_position(r).is_some_and(|r| *l < r),
        };
        let next = if take_left {
            left.next().map(|(_, el)| el)
        } else {
            right.next()
        };
        out.extend(next);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok(original: Value, patch: Value) -> Value {
        apply(&original, &patch).expect("patch applies")
    }

    fn err(original: Value, patch: Value) -> StrategicError {
        apply(&original, &patch).expect_err("patch is rejected")
    }

    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web", "tier": "frontend"}},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}
                },
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "containers": [{
                            "name": "app",
                            "image": "nginx:1.25",
                            "env": [{"name": "A", "value": "1"}],
                            "ports": [{"containerPort": 80, "protocol": "TCP"}]
                        }, {
                            "name": "sidecar",
                            "image": "envoy:1"
                        }],
                        "tolerations": [{"key": "a", "operator": "Exists"}]
                    }
                }
            }
        })
    }

    #[test]
    fn kubectl_apply_changes_image_adds_env_and_drops_label() {
        let patch = json!({
            "metadata": {"labels": {"tier": null}},
            "spec": {"template": {"spec": {
                "$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}],
                "containers": [{
                    "name": "app",
                    "image": "nginx:1.27",
                    "$setElementOrder/env": [{"name": "A"}, {"name": "B"}],
                    "env": [{"name": "B", "value": "2"}]
                }]
            }}}
        });
        let got = ok(deployment(), patch);
        assert_eq!(got["metadata"]["labels"], json!({"app": "web"}));
        assert_eq!(
            got["spec"]["template"]["spec"]["containers"],
            json!([{
                "name": "app",
                "image": "nginx:1.27",
                "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                "ports": [{"containerPort": 80, "protocol": "TCP"}]
            }, {
                "name": "sidecar",
                "image": "envoy:1"
            }])
        );
        // Untouched parts survive byte for byte.
        assert_eq!(got["spec"]["strategy"], deployment()["spec"]["strategy"]);
        assert_eq!(got["spec"]["replicas"], json!(2));
    }

    #[test]
    fn kubectl_set_image_and_rollout_restart() {
        let patch = json!({"spec": {"template": {
            "metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "2025-01-01T00:00:00Z"}},
            "spec": {"containers": [{"image": "envoy:2", "name": "sidecar"}]}
        }}});
        let got = ok(deployment(), patch);
        assert_eq!(
            got["spec"]["template"]["metadata"],
            json!({
                "labels": {"app": "web"},
                "annotations": {"kubectl.kubernetes.io/restartedAt": "2025-01-01T00:00:00Z"}
            })
        );
        let containers = &got["spec"]["template"]["spec"]["containers"];
        assert_eq!(containers[0]["image"], json!("nginx:1.25"));
        assert_eq!(
            containers[1],
            json!({"name": "sidecar", "image": "envoy:2"})
        );
    }

    #[test]
    fn container_ports_merge_by_container_port() {
        let pod = json!({"kind": "Pod", "spec": {"containers": [{
            "name": "app",
            "ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 9090}]
        }]}});
        let patch = json!({"spec": {"containers": [{
            "name": "app",
            "ports": [{"containerPort": 9090, "name": "metrics"}]
        }]}});
        assert_eq!(
            ok(pod, patch)["spec"]["containers"][0]["ports"],
            json!([{"containerPort": 80, "name": "http"}, {"containerPort": 9090, "name": "metrics"}])
        );
    }

    #[test]
    fn service_ports_merge_by_port() {
        let svc = json!({"kind": "Service", "spec": {"ports": [
            {"name": "http", "port": 80, "targetPort": 8080},
            {"name": "https", "port": 443, "targetPort": 8443}
        ]}});
        let patch = json!({"spec": {"ports": [{"port": 443, "targetPort": 9443}]}});
        assert_eq!(
            ok(svc, patch)["spec"]["ports"],
            json!([
                {"name": "http", "port": 80, "targetPort": 8080},
                {"name": "https", "port": 443, "targetPort": 9443}
            ])
        );
    }

    #[test]
    fn merge_key_numbers_compare_by_value() {
        let svc = json!({"spec": {"ports": [{"port": 80, "targetPort": 1}]}});
        let patch = json!({"spec": {"ports": [{"port": 80.0, "targetPort": 2}]}});
        // One element, not two: the keys matched, then the patch's scalars won.
        assert_eq!(
            ok(svc, patch)["spec"]["ports"],
            json!([{"port": 80.0, "targetPort": 2}])
        );
    }

    #[test]
    fn set_element_order_keeps_server_only_items_in_place() {
        // An injected sidecar stays between the containers it sat between on the server.
        let pod =
            json!({"spec": {"containers": [{"name": "a"}, {"name": "injected"}, {"name": "b"}]}});
        let patch = json!({"spec": {
            "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}, {"name": "d"}],
            "containers": [{"name": "d", "image": "x"}]
        }});
        assert_eq!(
            ok(pod, patch)["spec"]["containers"],
            json!([{"name": "a"}, {"name": "injected"}, {"name": "b"}, {"name": "d", "image": "x"}])
        );
    }

    #[test]
    fn set_element_order_reorders_and_interleaves_server_only_items() {
        let pod = json!({"spec": {"containers": [
            {"name": "a"}, {"name": "injected"}, {"name": "b"}, {"name": "c"}
        ]}});
        let patch = json!({"spec": {
            "$setElementOrder/containers": [{"name": "c"}, {"name": "b"}, {"name": "a"}, {"name": "d"}],
            "containers": [{"name": "d", "image": "x"}]
        }});
        // `injected` preceded c on the server, and c now comes first, so `injected` leads.
        assert_eq!(
            ok(pod, patch)["spec"]["containers"],
            json!([{"name": "injected"}, {"name": "c"}, {"name": "b"}, {"name": "a"}, {"name": "d", "image": "x"}])
        );
    }

    #[test]
    fn set_element_order_without_patch_list_only_reorders() {
        let obj = json!({"metadata": {"finalizers": ["x", "y", "z"]}});
        let patch = json!({"metadata": {"$setElementOrder/finalizers": ["z", "x", "y"]}});
        assert_eq!(
            ok(obj, patch),
            json!({"metadata": {"finalizers": ["z", "x", "y"]}})
        );
    }

    #[test]
    fn new_element_without_order_goes_first_like_upstream() {
        let pod = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}});
        let patch = json!({"spec": {"containers": [{"name": "c"}]}});
        assert_eq!(
            ok(pod, patch)["spec"]["containers"],
            json!([{"name": "c"}, {"name": "a"}, {"name": "b"}])
        );
    }

    #[test]
    fn kubectl_apply_replaces_a_port_with_delete_element_and_order() {
        let patch = json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}],
            "containers": [{
                "name": "app",
                "$setElementOrder/ports": [{"containerPort": 8080}],
                "ports": [{"containerPort": 8080, "protocol": "TCP"}, {"$patch": "delete", "containerPort": 80}]
            }]
        }}}});
        assert_eq!(
            ok(deployment(), patch)["spec"]["template"]["spec"]["containers"][0]["ports"],
            json!([{"containerPort": 8080, "protocol": "TCP"}])
        );
    }

    #[test]
    fn patch_delete_removes_container() {
        let patch = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "sidecar", "$patch": "delete"}
        ]}}}});
        let got = ok(deployment(), patch);
        let containers = got["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap();
        assert_eq!(containers.len(), 1);
        assert_eq!(containers[0]["name"], json!("app"));
    }

    #[test]
    fn patch_replace_in_list_replaces_whole_list() {
        let patch = json!({"spec": {"template": {"spec": {"containers": [
            {"$patch": "replace"},
            {"name": "only", "image": "busybox", "env": [{"name": "X", "value": null}]}
        ]}}}});
        assert_eq!(
            ok(deployment(), patch)["spec"]["template"]["spec"]["containers"],
            json!([{"name": "only", "image": "busybox", "env": [{"name": "X"}]}])
        );
    }

    #[test]
    fn patch_replace_in_map_replaces_whole_map() {
        let patch = json!({"metadata": {"labels": {"$patch": "replace", "new": "yes"}}});
        assert_eq!(
            ok(deployment(), patch)["metadata"],
            json!({"name": "web", "labels": {"new": "yes"}})
        );
    }

    #[test]
    fn patch_delete_in_map_removes_map() {
        let patch =
            json!({"spec": {"strategy": {"$patch": "delete"}}, "status": {"$patch": "delete"}});
        let got = ok(deployment(), patch);
        assert!(got["spec"].get("strategy").is_none());
        assert!(got.get("status").is_none());
    }

    #[test]
    fn patch_merge_is_a_no_op_directive() {
        let patch = json!({"metadata": {"labels": {"$patch": "merge", "x": "1"}}});
        assert_eq!(
            ok(deployment(), patch)["metadata"]["labels"],
            json!({"app": "web", "tier": "frontend", "x": "1"})
        );
    }

    #[test]
    fn finalizers_merge_as_set_and_delete_from_primitive_list() {
        let obj = json!({"metadata": {"finalizers": ["a", "b", "c"]}});
        let patch = json!({"metadata": {
            "finalizers": ["b", "d"],
            "$deleteFromPrimitiveList/finalizers": ["a", "c"]
        }});
        assert_eq!(
            ok(obj, patch),
            json!({"metadata": {"finalizers": ["b", "d"]}})
        );

        let obj = json!({"metadata": {"finalizers": ["a", "b"]}});
        let patch = json!({"metadata": {"finalizers": ["b", "c"]}});
        assert_eq!(
            ok(obj, patch),
            json!({"metadata": {"finalizers": ["a", "b", "c"]}})
        );
    }

    #[test]
    fn retain_keys_clears_unlisted_fields() {
        // What `kubectl apply` sends when switching a Deployment to Recreate.
        let patch = json!({"spec": {"strategy": {
            "$retainKeys": ["type"],
            "type": "Recreate",
            "rollingUpdate": null
        }}});
        assert_eq!(
            ok(deployment(), patch)["spec"]["strategy"],
            json!({"type": "Recreate"})
        );

        let volumes = json!({"spec": {"volumes": [{"name": "data", "emptyDir": {}}]}});
        let patch = json!({"spec": {"volumes": [{
            "name": "data",
            "$retainKeys": ["hostPath", "name"],
            "hostPath": {"path": "/srv"}
        }]}});
        assert_eq!(
            ok(volumes, patch),
            json!({"spec": {"volumes": [{"name": "data", "hostPath": {"path": "/srv"}}]}})
        );
    }

    #[test]
    fn null_deletes_keys_and_unmatched_nulls_vanish() {
        let patch = json!({
            "metadata": {"labels": {"app": null, "missing": null}},
            "spec": {"strategy": {"rollingUpdate": {"maxSurge": null}}, "paused": null}
        });
        let got = ok(deployment(), patch);
        assert_eq!(got["metadata"]["labels"], json!({"tier": "frontend"}));
        assert_eq!(
            got["spec"]["strategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%"}})
        );
        assert!(got["spec"].get("paused").is_none());
    }

    #[test]
    fn tolerations_and_args_are_atomic() {
        let patch = json!({"spec": {"template": {"spec": {
            "tolerations": [{"key": "b", "operator": "Equal", "value": "x"}],
            "containers": [{"name": "app", "args": ["--one"]}]
        }}}});
        let got = ok(deployment(), patch);
        assert_eq!(
            got["spec"]["template"]["spec"]["tolerations"],
            json!([{"key": "b", "operator": "Equal", "value": "x"}])
        );
        let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "args": ["--two"]}]}}}});
        let got = ok(got, patch);
        assert_eq!(
            got["spec"]["template"]["spec"]["containers"][0]["args"],
            json!(["--two"])
        );
    }

    #[test]
    fn cronjob_nested_pod_spec_merges_containers() {
        let cron = json!({"kind": "CronJob", "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {
            "template": {"spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "job", "image": "a:1", "env": [{"name": "K", "value": "v"}]}],
                "volumes": [{"name": "cfg", "configMap": {"name": "c"}}]
            }}
        }}}});
        let patch = json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {
            "containers": [{"name": "job", "image": "a:2", "env": [{"name": "K", "value": "w"}]}],
            "volumes": [{"name": "tmp", "emptyDir": {}}]
        }}}}}});
        assert_eq!(
            ok(cron, patch)["spec"]["jobTemplate"]["spec"]["template"]["spec"],
            json!({
                "restartPolicy": "Never",
                "containers": [{"name": "job", "image": "a:2", "env": [{"name": "K", "value": "w"}]}],
                "volumes": [{"name": "tmp", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "c"}}]
            })
        );
    }

    #[test]
    fn status_conditions_and_node_addresses_merge_by_type() {
        let node = json!({"kind": "Node", "status": {
            "conditions": [{"type": "Ready", "status": "False"}, {"type": "DiskPressure", "status": "False"}],
            "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
            "containerStatuses": [{"name": "x"}]
        }});
        let patch = json!({"status": {
            "conditions": [{"type": "Ready", "status": "True"}],
            "addresses": [{"type": "InternalIP", "address": "10.0.0.2"}],
            "containerStatuses": [{"name": "y"}]
        }});
        assert_eq!(
            ok(node, patch)["status"],
            json!({
                "conditions": [{"type": "Ready", "status": "True"}, {"type": "DiskPressure", "status": "False"}],
                "addresses": [{"type": "InternalIP", "address": "10.0.0.2"}],
                "containerStatuses": [{"name": "y"}]
            })
        );
    }

    #[test]
    fn owner_references_merge_by_uid() {
        let obj = json!({"metadata": {"ownerReferences": [{"uid": "1", "name": "a"}]}});
        let patch = json!({"metadata": {"ownerReferences": [{"uid": "2", "name": "b"}]}});
        assert_eq!(
            ok(obj, patch)["metadata"]["ownerReferences"],
            json!([{"uid": "2", "name": "b"}, {"uid": "1", "name": "a"}])
        );
    }

    #[test]
    fn directives_do_not_leak_into_new_values() {
        let obj = json!({"kind": "Pod", "spec": {}});
        let patch = json!({
            "metadata": {"labels": {"$patch": "replace", "a": "1"}, "annotations": {"x": null}},
            "spec": {
                "$setElementOrder/containers": [{"name": "app"}],
                "containers": [{
                    "name": "app",
                    "env": [{"name": "GONE", "$patch": "delete"}, {"name": "KEPT", "value": "1"}],
                    "volumeMounts": [{"$patch": "replace"}, {"mountPath": "/a", "name": "v"}]
                }],
                "securityContext": {"$patch": "delete"},
                "tolerations": [{"$patch": "delete"}, {"key": "k", "value": null}]
            }
        });
        assert_eq!(
            ok(obj, patch),
            json!({
                "kind": "Pod",
                "spec": {
                    "containers": [{
                        "name": "app",
                        "env": [{"name": "KEPT", "value": "1"}],
                        "volumeMounts": [{"mountPath": "/a", "name": "v"}]
                    }],
                    "tolerations": [{"key": "k"}]
                },
                "metadata": {"labels": {"a": "1"}, "annotations": {}}
            })
        );
    }

    #[test]
    fn set_element_order_marks_unknown_lists_as_merge_lists() {
        let obj = json!({"spec": {"widgets": [{"id": "a", "v": 1}, {"id": "b", "v": 1}]}});
        let patch = json!({"spec": {
            "$setElementOrder/widgets": [{"id": "a"}, {"id": "b"}],
            "widgets": [{"id": "b", "v": 2}]
        }});
        assert_eq!(
            ok(obj, patch),
            json!({"spec": {"widgets": [{"id": "a", "v": 1}, {"id": "b", "v": 2}]}})
        );
    }

    #[test]
    fn type_change_outside_merge_lists_replaces() {
        // IntOrString and free-form fields legitimately change JSON type.
        let obj = json!({"spec": {"strategy": {"rollingUpdate": {"maxSurge": 1}}, "items": {"type": "x"}}});
        let patch = json!({"spec": {"strategy": {"rollingUpdate": {"maxSurge": "50%"}}, "items": [{"type": "y"}]}});
        assert_eq!(
            ok(obj, patch),
            json!({"spec": {"strategy": {"rollingUpdate": {"maxSurge": "50%"}}, "items": [{"type": "y"}]}})
        );
    }

    #[test]
    fn top_level_delete_empties_object() {
        assert_eq!(ok(deployment(), json!({"$patch": "delete"})), json!({}));
    }

    #[test]
    fn error_patch_not_object() {
        assert_eq!(
            err(deployment(), json!([1])),
            StrategicError::PatchNotObject("a list")
        );
        assert_eq!(
            err(json!("x"), json!({})).to_string(),
            "original must be a json object, found a string"
        );
    }

    #[test]
    fn error_missing_merge_key() {
        let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "app"}, {"image": "x"}]}}}});
        let e = err(deployment(), patch);
        assert_eq!(
            e.to_string(),
            "spec.template.spec.containers[1]: element does not contain the merge key \"name\""
        );
        let patch = json!({"spec": {"template": {"spec": {"containers": [{"$patch": "delete"}]}}}});
        assert!(matches!(
            err(deployment(), patch),
            StrategicError::MissingMergeKey { .. }
        ));
    }

    #[test]
    fn error_type_mismatch_names_path() {
        let patch = json!({"spec": {"template": {"spec": {"containers": {"name": "app"}}}}});
        assert_eq!(
            err(deployment(), patch).to_string(),
            "spec.template.spec.containers: expected a list, found an object in the patch"
        );
        let patch = json!({"spec": {"template": {"spec": {"containers": ["app"]}}}});
        assert_eq!(
            err(deployment(), patch).to_string(),
            "spec.template.spec.containers[0]: expected an object, found a string in the patch"
        );
        let obj = json!({"metadata": {"finalizers": "oops"}});
        assert_eq!(
            err(obj, json!({"metadata": {"finalizers": ["a"]}})).to_string(),
            "metadata.finalizers: expected a list, found a string in the original object"
        );
        let obj = json!({"metadata": {"finalizers": []}});
        assert_eq!(
            err(obj, json!({"metadata": {"finalizers": [{"a": 1}]}})).to_string(),
            "metadata.finalizers[0]: expected a primitive value, found an object in the patch"
        );
    }

    #[test]
    fn error_bad_directives() {
        assert_eq!(
            err(deployment(), json!({"metadata": {"$patch": "explode"}})).to_string(),
            "metadata: unknown $patch directive \"explode\""
        );
        let patch = json!({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {}}}});
        assert_eq!(
            err(deployment(), patch).to_string(),
            "spec.strategy: field \"rollingUpdate\" is not listed in $retainKeys"
        );
        let patch = json!({"spec": {"strategy": {"$retainKeys": "type"}}});
        assert!(matches!(
            err(deployment(), patch),
            StrategicError::DirectiveNotList { .. }
        ));
        let patch = json!({"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}});
        assert!(matches!(
            err(deployment(), patch),
            StrategicError::DirectiveNotList { .. }
        ));
        let patch = json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}],
            "containers": [{"name": "sidecar"}, {"name": "app"}]
        }}}});
        assert_eq!(
            err(deployment(), patch).to_string(),
            "spec.template.spec.containers: order of the patch list does not match $setElementOrder"
        );
    }

    #[test]
    fn inputs_are_not_mutated_on_error() {
        let original = deployment();
        let patch = json!({"metadata": {"labels": {"x": "1"}}, "spec": {"template": {"spec": {"containers": 1}}}});
        assert!(apply(&original, &patch).is_err());
        assert_eq!(original, deployment());
    }

    #[test]
    fn strategy_table() {
        use ListStrategy::*;
        let cases: &[(&[&str], ListStrategy)] = &[
            (&["spec", "containers"], MergeByKey("name")),
            (
                &["spec", "template", "spec", "initContainers"],
                MergeByKey("name"),
            ),
            (&["template", "spec", "volumes"], MergeByKey("name")),
            (
                &[
                    "spec",
                    "jobTemplate",
                    "spec",
                    "template",
                    "spec",
                    "containers",
                    "ports",
                ],
                MergeByKey("containerPort"),
            ),
            (
                &["spec", "containers", "volumeMounts"],
                MergeByKey("mountPath"),
            ),
            (&["spec", "hostAliases"], MergeByKey("ip")),
            (
                &["spec", "topologySpreadConstraints"],
                MergeByKey("topologyKey"),
            ),
            (&["spec", "template", "metadata", "finalizers"], Set),
            (&["spec", "ports"], MergeByKey("port")),
            (&["status", "conditions"], MergeByKey("type")),
            (&["status", "containerStatuses"], Replace),
            (&["spec", "tolerations"], Replace),
            (&["spec", "containers", "envFrom"], Replace),
            (&["spec", "jobTemplate", "spec", "containers"], Replace),
            (&["spec", "template", "spec", "containers", "args"], Replace),
            (&[], Replace),
        ];
        for (path, want) in cases {
            assert_eq!(list_strategy(path), *want, "{path:?}");
        }
    }
}
