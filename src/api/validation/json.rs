//! Tolerant accessors over `serde_json::Value`.
//!
//! Contract: never panic on oddly typed input. A missing key, an explicit `null` and a value of
//! the wrong JSON type all read as "absent" (Kubernetes' decoder would have rejected a wrong
//! type before validation runs, so validators only need to not crash on it).

use serde_json::{Map, Value};

/// `v[key]` unless absent or null.
pub fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    match v.get(key) {
        None | Some(Value::Null) => None,
        Some(x) => Some(x),
    }
}

/// `v[key]` as a string, if it is one.
pub fn opt_str<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// `v[key]` as a string, `""` when absent (Go's zero value).
pub fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    opt_str(v, key).unwrap_or("")
}

/// `v[key]` as an array, empty when absent.
pub fn arr<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// `v[key]` as an object.
pub fn obj<'a>(v: &'a Value, key: &str) -> Option<&'a Map<String, Value>> {
    v.get(key).and_then(Value::as_object)
}

/// `v[key]` as an integer (integral floats accepted, as the Go decoder does).
pub fn int(v: &Value, key: &str) -> Option<i64> {
    v.get(key).and_then(as_int)
}

/// A JSON number as an integer.
pub fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
                .map(|f| f as i64)
        }),
        _ => None,
    }
}

/// `v[key]` as a bool.
pub fn boolean(v: &Value, key: &str) -> Option<bool> {
    v.get(key).and_then(Value::as_bool)
}

/// Walks a path of keys.
pub fn at<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    let mut cur = v;
    for k in keys {
        cur = get(cur, k)?;
    }
    Some(cur)
}

/// The string values of a `map[string]string`, in document order (non-strings read as "").
pub fn string_map(m: Option<&Map<String, Value>>) -> Vec<(&str, &str)> {
    m.map(|m| {
        m.iter()
            .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or("")))
            .collect()
    })
    .unwrap_or_default()
}

/// Kubernetes' semantic equality over JSON: absent, `null`, `""`, `0`, `false`, `[]` and `{}`
/// are all the Go zero value and compare equal (apimachinery's DeepEqual treats nil and empty
/// slices/maps alike); quantities under resource maps compare by value.
pub fn semantic_eq(a: Option<&Value>, b: Option<&Value>) -> bool {
    semantic_eq_in(a, b, false)
}

fn is_zero(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Bool(b)) => !b,
        Some(Value::Number(n)) => n.as_f64() == Some(0.0),
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(o)) => o.is_empty(),
    }
}

const QUANTITY_MAPS: &[&str] = &[
    "limits",
    "requests",
    "capacity",
    "allocatable",
    "hard",
    "used",
    "overhead",
];

fn semantic_eq_in(a: Option<&Value>, b: Option<&Value>, quantities: bool) -> bool {
    if is_zero(a) && is_zero(b) {
        return true;
    }
    match (a, b) {
        (Some(Value::Object(x)), Some(Value::Object(y))) => {
            let keys = x.keys().chain(y.keys().filter(|k| !x.contains_key(*k)));
            keys.into_iter().all(|k| {
                let nested = QUANTITY_MAPS.contains(&k.as_str());
                if quantities {
                    quantity_eq(x.get(k), y.get(k))
                } else {
                    semantic_eq_in(x.get(k), y.get(k), nested)
                }
            })
        }
        (Some(Value::Array(x)), Some(Value::Array(y))) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|(p, q)| semantic_eq_in(Some(p), Some(q), false))
        }
        (Some(Value::Number(x)), Some(Value::Number(y))) => x.as_f64() == y.as_f64(),
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

fn quantity_eq(a: Option<&Value>, b: Option<&Value>) -> bool {
    use super::quantity::from_json;
    match (a.and_then(from_json), b.and_then(from_json)) {
        (Some(Ok(x)), Some(Ok(y))) => x == y,
        _ => semantic_eq_in(a, b, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn zero_values_are_equal() {
        assert!(semantic_eq(
            Some(&json!({"a": [], "b": null})),
            Some(&json!({"c": false}))
        ));
        assert!(!semantic_eq(Some(&json!({"a": 1})), Some(&json!({}))));
        assert!(semantic_eq(
            Some(&json!({"resources": {"limits": {"cpu": "1000m"}}})),
            Some(&json!({"resources": {"limits": {"cpu": "1"}}}))
        ));
    }

    #[test]
    fn wrong_types_read_as_absent() {
        let v = json!({"a": 5, "b": "x", "c": null});
        assert_eq!(str_of(&v, "a"), "");
        assert!(arr(&v, "b").is_empty());
        assert!(get(&v, "c").is_none());
        assert_eq!(int(&json!({"n": 3.0}), "n"), Some(3));
    }
}
