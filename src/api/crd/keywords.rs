//! Tolerant accessors for `openAPIV3Schema` keywords.
//!
//! Contract: every accessor returns "absent" for a keyword of the wrong JSON type instead of
//! failing, so pruning, defaulting and validation never panic on malformed schemas; the CRD
//! validator (`definition.rs`) is what reports malformed schemas to the user. The structural
//! view matches Kubernetes' `structuralschema.Structural`: `properties`, `items` (a single
//! schema), `additionalProperties` (bool or schema) and the `x-kubernetes-*` extensions.

use serde_json::{Map, Value};

pub(crate) const X_PRESERVE: &str = "x-kubernetes-preserve-unknown-fields";
pub(crate) const X_EMBEDDED: &str = "x-kubernetes-embedded-resource";
pub(crate) const X_INT_OR_STRING: &str = "x-kubernetes-int-or-string";
pub(crate) const X_LIST_TYPE: &str = "x-kubernetes-list-type";
pub(crate) const X_LIST_MAP_KEYS: &str = "x-kubernetes-list-map-keys";
pub(crate) const X_MAP_TYPE: &str = "x-kubernetes-map-type";
pub(crate) const X_VALIDATIONS: &str = "x-kubernetes-validations";

/// `apiVersion`, `kind` and `metadata`: kept out of schema pruning at resource roots.
pub(crate) const META_FIELDS: [&str; 3] = ["apiVersion", "kind", "metadata"];

/// A schema node as a JSON object, if it is one.
pub(crate) fn node(s: &Value) -> Option<&Map<String, Value>> {
    s.as_object()
}

pub(crate) fn str_kw<'a>(s: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    s.get(k).and_then(Value::as_str)
}

/// A boolean keyword: only a literal `true` counts.
pub(crate) fn flag(s: &Map<String, Value>, k: &str) -> bool {
    matches!(s.get(k), Some(Value::Bool(true)))
}

/// The schema's `type`, or "" when unset.
pub(crate) fn type_of(s: &Map<String, Value>) -> &str {
    str_kw(s, "type").unwrap_or("")
}

pub(crate) fn properties(s: &Map<String, Value>) -> Option<&Map<String, Value>> {
    s.get("properties").and_then(Value::as_object)
}

/// `items` when it is a single schema (arrays of schemas are not structural).
pub(crate) fn items(s: &Map<String, Value>) -> Option<&Value> {
    s.get("items").filter(|v| v.is_object())
}

/// `additionalProperties`, structural view.
pub(crate) enum Additional<'a> {
    /// Not set: unknown keys are not allowed by the structure.
    Absent,
    /// `true`/`false` without a schema: keys are allowed, values are unstructured.
    Bool(bool),
    /// A schema for the values.
    Schema(&'a Value),
}

impl<'a> Additional<'a> {
    pub(crate) fn present(&self) -> bool {
        !matches!(self, Additional::Absent)
    }

    pub(crate) fn schema(&self) -> Option<&'a Value> {
        match self {
            Additional::Schema(s) => Some(s),
            _ => None,
        }
    }
}

pub(crate) fn additional(s: &Map<String, Value>) -> Additional<'_> {
    match s.get("additionalProperties") {
        Some(Value::Bool(b)) => Additional::Bool(*b),
        Some(v @ Value::Object(_)) => Additional::Schema(v),
        _ => Additional::Absent,
    }
}

/// A `default` that Kubernetes would see: `default: null` is the same as no default.
pub(crate) fn default_of(s: &Map<String, Value>) -> Option<&Value> {
    s.get("default").filter(|d| !d.is_null())
}

pub(crate) fn nullable(s: &Map<String, Value>) -> bool {
    flag(s, "nullable")
}

/// An integer keyword (`maxLength`, `minItems`, ...). Integral floats are accepted because
/// YAML tooling sometimes emits `5.0`.
pub(crate) fn int_kw(s: &Map<String, Value>, k: &str) -> Option<i64> {
    let v = s.get(k)?;
    if let Some(i) = v.as_i64() {
        return Some(i);
    }
    let f = v.as_f64()?;
    if f.fract() == 0.0 && f.abs() < 9.2e18 {
        Some(f as i64)
    } else {
        None
    }
}

pub(crate) fn num_kw(s: &Map<String, Value>, k: &str) -> Option<f64> {
    s.get(k).and_then(Value::as_f64)
}

pub(crate) fn array_kw<'a>(s: &'a Map<String, Value>, k: &str) -> Option<&'a Vec<Value>> {
    s.get(k).and_then(Value::as_array)
}

/// The sub-schema a map key is governed by: `properties[k]`, else the `additionalProperties`
/// schema (Kubernetes' `getSchemaForField`).
pub(crate) fn schema_for_field<'a>(s: Option<&'a Value>, k: &str) -> Option<&'a Value> {
    let s = node(s?)?;
    if let Some(p) = properties(s).and_then(|p| p.get(k)) {
        return Some(p);
    }
    additional(s).schema()
}
