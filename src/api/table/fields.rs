//! Lenient reads from a JSON object: a missing, `null` or oddly typed field reads as absent, so
//! printers can treat partial objects exactly like Go treats zero values.

use serde_json::{Map, Value};

use super::duration;

/// The value at `path`, or `None` when any step is missing, not an object, or the value is null.
pub(super) fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut cur = v;
    for key in path {
        cur = cur.as_object()?.get(*key)?;
    }
    (!cur.is_null()).then_some(cur)
}

/// Whether `path` holds a non-null value (Go's "pointer is not nil").
pub(super) fn has(v: &Value, path: &[&str]) -> bool {
    get(v, path).is_some()
}

/// The object at `path` (Go's non-nil struct pointer); a non-object value counts as absent.
pub(super) fn obj<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Map<String, Value>> {
    get(v, path)?.as_object()
}

pub(super) fn opt_str<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    get(v, path)?.as_str()
}

/// The string at `path`, or `""` (Go's zero string).
pub(super) fn str_of<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    opt_str(v, path).unwrap_or("")
}

/// An integer at `path`. Floats are truncated because some clients send `3.0` for int fields.
pub(super) fn opt_int(v: &Value, path: &[&str]) -> Option<i64> {
    let n = get(v, path)?;
    n.as_i64().or_else(|| n.as_f64().map(|f| f as i64))
}

/// The integer at `path`, or 0.
pub(super) fn int_of(v: &Value, path: &[&str]) -> i64 {
    opt_int(v, path).unwrap_or(0)
}

pub(super) fn opt_bool(v: &Value, path: &[&str]) -> Option<bool> {
    get(v, path)?.as_bool()
}

/// The boolean at `path`, or `false`.
pub(super) fn bool_of(v: &Value, path: &[&str]) -> bool {
    opt_bool(v, path).unwrap_or(false)
}

/// The array at `path`, or an empty slice.
pub(super) fn list_of<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    get(v, path)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// How many entries the map at `path` has (0 when absent).
pub(super) fn map_len(v: &Value, path: &[&str]) -> usize {
    obj(v, path).map_or(0, Map::len)
}

/// `metadata.name`.
pub(super) fn name(o: &Value) -> &str {
    str_of(o, &["metadata", "name"])
}

/// The AGE cell: time since `metadata.creationTimestamp`, `<unknown>` when unset.
pub(super) fn age(o: &Value, now: i64) -> String {
    duration::since(o, &["metadata", "creationTimestamp"], now)
}

/// The first condition in the list at `path` whose `type` is `kind` (Go's loop-and-break).
pub(super) fn condition<'a>(v: &'a Value, path: &[&str], kind: &str) -> Option<&'a Value> {
    list_of(v, path)
        .iter()
        .find(|c| str_of(c, &["type"]) == kind)
}

/// Whether the first condition of type `kind` has status `True`.
pub(super) fn condition_true(v: &Value, path: &[&str], kind: &str) -> bool {
    condition(v, path, kind).is_some_and(|c| str_of(c, &["status"]) == "True")
}

/// `layoutContainerCells`: container names and images, each comma-joined in spec order.
pub(super) fn containers(v: &Value, path: &[&str]) -> (String, String) {
    let list = list_of(v, path);
    let names: Vec<&str> = list.iter().map(|c| str_of(c, &["name"])).collect();
    let images: Vec<&str> = list.iter().map(|c| str_of(c, &["image"])).collect();
    (names.join(","), images.join(","))
}

/// A string cell.
pub(super) fn s(text: impl Into<String>) -> Value {
    Value::String(text.into())
}

/// An integer cell (Go prints these as `int64`).
pub(super) fn int(n: impl Into<i64>) -> Value {
    Value::from(n.into())
}

/// `len(...)` as an integer cell.
pub(super) fn count(n: usize) -> Value {
    Value::from(i64::try_from(n).unwrap_or(i64::MAX))
}

/// `value` unless it is empty, then `fallback` (the printers' `<none>` / `<unknown>` idiom).
pub(super) fn or(value: &str, fallback: &str) -> String {
    if value.is_empty() { fallback } else { value }.to_string()
}
