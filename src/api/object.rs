//! Helpers on API objects as JSON: metadata access, resourceVersion injection, names.
//!
//! Contract: objects are stored without `metadata.resourceVersion`; it is injected from the
//! store's `mod_rev` on every read, so the stored bytes never disagree with the revision.

use serde_json::{Map, Value};

pub fn meta(obj: &Value) -> Option<&Map<String, Value>> {
    obj.get("metadata").and_then(Value::as_object)
}

pub fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = Value::Object(Map::new());
    }
    obj["metadata"]
        .as_object_mut()
        .expect("metadata was just made an object")
}

pub fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    meta(obj)?.get(field)?.as_str()
}

pub fn name(obj: &Value) -> &str {
    meta_str(obj, "name").unwrap_or("")
}

pub fn labels(obj: &Value) -> Option<&Map<String, Value>> {
    meta(obj)?.get("labels")?.as_object()
}

pub fn finalizers(obj: &Value) -> Vec<String> {
    meta(obj)
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

pub fn set_rv(obj: &mut Value, rev: u64) {
    meta_mut(obj).insert("resourceVersion".into(), Value::String(rev.to_string()));
}

/// Parse stored bytes and inject the revision.
pub fn from_stored(bytes: &[u8], rev: u64) -> Result<Value, serde_json::Error> {
    let mut v: Value = serde_json::from_slice(bytes)?;
    set_rv(&mut v, rev);
    Ok(v)
}

/// The bytes to store: the object without its resourceVersion.
pub fn to_stored(obj: &Value) -> Vec<u8> {
    let mut o = obj.clone();
    if let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
        m.remove("selfLink");
    }
    serde_json::to_vec(&o).unwrap_or_default()
}

/// The value at a dotted path (`spec.nodeName`, `involvedObject.kind`).
pub fn field<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(obj, |v, p| v.get(p))
}

/// The value at a dotted path as a string for field selectors (numbers and bools printed).
pub fn field_string(obj: &Value, path: &str) -> String {
    match field(obj, path) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(v) => v.to_string(),
    }
}

/// Five characters from the alphabet Kubernetes uses for generated names (no vowels, no
/// look-alike digits, so generated names never spell words).
pub fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..5)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Everything of an object except metadata and status: a change here bumps `generation`.
pub fn spec_part(obj: &Value) -> Value {
    let mut o = obj.clone();
    if let Some(m) = o.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
        m.remove("apiVersion");
        m.remove("kind");
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stored_form_has_no_resource_version() {
        let mut o = json!({"metadata": {"name": "a", "resourceVersion": "5"}});
        let bytes = to_stored(&o);
        assert!(!String::from_utf8_lossy(&bytes).contains("resourceVersion"));
        let back = from_stored(&bytes, 9).unwrap();
        assert_eq!(back["metadata"]["resourceVersion"], "9");
        set_rv(&mut o, 3);
        assert_eq!(o["metadata"]["resourceVersion"], "3");
        assert_eq!(field_string(&json!({"spec": {"n": 3}}), "spec.n"), "3");
        let s = random_suffix();
        assert_eq!(s.len(), 5);
        assert!(s
            .bytes()
            .all(|c| b"bcdfghjklmnpqrstvwxz2456789".contains(&c)));
    }
}
