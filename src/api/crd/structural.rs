//! Validation of one `CustomResourceValidation` (`{openAPIV3Schema: ...}`) inside a CRD, as
//! apiextensions-apiserver's `validateCustomResourceDefinitionValidation` does for v1 CRDs.
//!
//! Contract: [`validate_validation`] returns, in Kubernetes' order:
//! 1. root restrictions (`nullable` at the root, only some keywords at the root when the status
//!    subresource is enabled);
//! 2. the OpenAPI subset checks (`ValidateCustomResourceDefinitionOpenAPISchema`): valid `type`,
//!    forbidden keywords (`$ref`, `patternProperties`, `uniqueItems: true`, ...), `default`
//!    placement, `additionalProperties` vs `properties`, `x-kubernetes-*` consistency;
//! 3. the structural-schema checks (`ValidateStructural`: `type` present at every level unless
//!    int-or-string/preserve-unknown-fields, value validations (allOf/anyOf/oneOf/not) free of
//!    structure and of fields the structure lacks, metadata restrictions), sorted by their full
//!    text like Kubernetes sorts them;
//! 4. only when the schema is structural: every `default` must survive pruning unchanged and
//!    validate against its own node.
//!
//! Keywords of the wrong JSON type (which Kubernetes rejects while decoding, before validation)
//! are reported as `FieldValueTypeInvalid` causes at their path. Recursion is capped at
//! `MAX_DEPTH`; deeper schemas yield one cause.

use serde_json::{Map, Value};

use super::fielderr::{
    self, child, error_string, forbidden, go_sharp_string_slice, go_string_slice, index, invalid,
    key, not_supported, required, Bad, Kind,
};
use super::keywords::{
    additional, array_kw, default_of, flag, items, node, nullable, properties, str_kw, type_of,
    Additional, META_FIELDS, X_EMBEDDED, X_INT_OR_STRING, X_LIST_MAP_KEYS, X_LIST_TYPE, X_MAP_TYPE,
    X_PRESERVE, X_VALIDATIONS,
};
use super::prune::prune_schema_only;
use super::schema::{compile_go_regex, validate_value};
use super::MAX_DEPTH;
use crate::api::status::StatusCause;

const OPENAPI_V3_TYPES: [&str; 6] = ["array", "boolean", "integer", "number", "object", "string"];

/// JSONSchemaProps fields (in Go struct order) that may be set at the root when the status
/// subresource is enabled, with their JSON names.
const ALLOWED_AT_ROOT: [&str; 22] = [
    "Description",
    "Type",
    "Format",
    "Title",
    "Maximum",
    "ExclusiveMaximum",
    "Minimum",
    "ExclusiveMinimum",
    "MaxLength",
    "MinLength",
    "Pattern",
    "MaxItems",
    "MinItems",
    "UniqueItems",
    "MultipleOf",
    "Required",
    "Items",
    "Properties",
    "ExternalDocs",
    "Example",
    "XPreserveUnknownFields",
    "XValidations",
];

/// (JSON keyword, Go field name) of JSONSchemaProps, in Go struct order.
const SCHEMA_FIELDS: [(&str, &str); 44] = [
    ("id", "ID"),
    ("$schema", "Schema"),
    ("$ref", "Ref"),
    ("description", "Description"),
    ("type", "Type"),
    ("format", "Format"),
    ("title", "Title"),
    ("default", "Default"),
    ("maximum", "Maximum"),
    ("exclusiveMaximum", "ExclusiveMaximum"),
    ("minimum", "Minimum"),
    ("exclusiveMinimum", "ExclusiveMinimum"),
    ("maxLength", "MaxLength"),
    ("minLength", "MinLength"),
    ("pattern", "Pattern"),
    ("maxItems", "MaxItems"),
    ("minItems", "MinItems"),
    ("uniqueItems", "UniqueItems"),
    ("multipleOf", "MultipleOf"),
    ("enum", "Enum"),
    ("maxProperties", "MaxProperties"),
    ("minProperties", "MinProperties"),
    ("required", "Required"),
    ("items", "Items"),
    ("allOf", "AllOf"),
    ("oneOf", "OneOf"),
    ("anyOf", "AnyOf"),
    ("not", "Not"),
    ("properties", "Properties"),
    ("additionalProperties", "AdditionalProperties"),
    ("patternProperties", "PatternProperties"),
    ("dependencies", "Dependencies"),
    ("additionalItems", "AdditionalItems"),
    ("definitions", "Definitions"),
    ("externalDocs", "ExternalDocs"),
    ("example", "Example"),
    ("nullable", "Nullable"),
    (X_PRESERVE, "XPreserveUnknownFields"),
    (X_EMBEDDED, "XEmbeddedResource"),
    (X_INT_OR_STRING, "XIntOrString"),
    (X_LIST_MAP_KEYS, "XListMapKeys"),
    (X_LIST_TYPE, "XListType"),
    (X_MAP_TYPE, "XMapType"),
    (X_VALIDATIONS, "XValidations"),
];

/// Go's zero value for a decoded keyword (plain bools false, empty plain strings, null).
fn is_zero(k: &str, v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(false) => k != X_PRESERVE, // a *bool: &false is set
        Value::String(s) => {
            s.is_empty()
                && matches!(
                    k,
                    "id" | "$schema" | "description" | "type" | "format" | "title" | "pattern"
                )
        }
        _ => false,
    }
}

/// Validates `spec.versions[i].schema` or the hoisted `spec.validation`; `fld` is that path.
pub(crate) fn validate_validation(
    validation: Option<&Value>,
    status_enabled: bool,
    fld: &str,
) -> Vec<StatusCause> {
    let mut errs = Vec::new();
    let Some(validation) = validation.filter(|v| !v.is_null()) else {
        return errs;
    };
    let Some(schema) = validation.get("openAPIV3Schema").filter(|s| !s.is_null()) else {
        return errs;
    };
    let root_path = child(fld, "openAPIV3Schema");
    let Some(so) = node(schema) else {
        errs.push(fielderr::cause(
            Kind::TypeInvalid,
            &root_path,
            Bad::Json(schema),
            "must be an object",
        ));
        return errs;
    };

    if status_enabled {
        for (json_key, go_name) in SCHEMA_FIELDS {
            let Some(v) = so.get(json_key).filter(|v| !is_zero(json_key, v)) else {
                continue;
            };
            if go_name == "Type" {
                if v.as_str() != Some("object") {
                    let detail = r#"only "object" is allowed as the type at the root of the schema if the status subresource is enabled"#;
                    errs.push(invalid(
                        &child(fld, "openAPIV3Schema.type"),
                        Bad::Json(v),
                        detail,
                    ));
                    break;
                }
                continue;
            }
            if !ALLOWED_AT_ROOT.contains(&go_name) {
                let detail = format!(
                    "only {} fields are allowed at the root of the schema if the status subresource is enabled",
                    go_string_slice(&ALLOWED_AT_ROOT)
                );
                // Kubernetes prints the whole Go struct here; kedge prints the JSON instead.
                errs.push(invalid(
                    &root_path,
                    Bad::Raw(fielderr::json_text(schema)),
                    &detail,
                ));
                break;
            }
        }
    }
    if nullable(so) {
        errs.push(forbidden(
            &child(fld, "openAPIV3Schema.nullable"),
            "nullable cannot be true at the root",
        ));
    }

    let ssv = Ssv {
        allow_defaults: true,
        reason: String::new(),
        inside_meta: false,
    };
    openapi_schema(so, &root_path, &ssv, true, 0, &mut errs);

    // Only the structural checks' outcome decides whether defaults are checked.
    let mut structural = Vec::new();
    invariants(so, Level::Root, &root_path, 0, &mut structural);
    value_validation_completeness(so, Some(so), &root_path, &root_path, 0, &mut structural);
    if structural.is_empty() {
        defaults(schema, &root_path, false, true, 0, &mut errs);
    } else {
        // Kubernetes sorts these by their full error text.
        structural.sort_by_key(error_string);
        errs.extend(structural);
    }
    errs
}

// ---------------------------------------------------------------------------------------------
// ValidateCustomResourceDefinitionOpenAPISchema
// ---------------------------------------------------------------------------------------------

/// Kubernetes' `specStandardValidatorV3` settings.
#[derive(Clone)]
struct Ssv {
    allow_defaults: bool,
    reason: String,
    inside_meta: bool,
}

impl Ssv {
    fn forbid_defaults(&self, reason: &str) -> Ssv {
        Ssv {
            allow_defaults: false,
            reason: reason.to_string(),
            inside_meta: self.inside_meta,
        }
    }
}

/// Reports keywords whose JSON type Kubernetes could not even decode.
fn keyword_types(so: &Map<String, Value>, path: &str, errs: &mut Vec<StatusCause>) {
    for (k, v) in so {
        if v.is_null() {
            continue;
        }
        let want = match k.as_str() {
            "id" | "$schema" | "$ref" | "description" | "type" | "format" | "title" | "pattern"
            | X_LIST_TYPE | X_MAP_TYPE => (v.is_string(), "string"),
            "maximum" | "minimum" | "multipleOf" => (v.is_number(), "number"),
            "maxLength" | "minLength" | "maxItems" | "minItems" | "maxProperties"
            | "minProperties" => (
                v.as_i64().is_some() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
                "integer",
            ),
            "exclusiveMaximum" | "exclusiveMinimum" | "uniqueItems" | "nullable" | X_PRESERVE
            | X_EMBEDDED | X_INT_OR_STRING => (v.is_boolean(), "boolean"),
            "required" | X_LIST_MAP_KEYS => (
                v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
                "array of strings",
            ),
            "enum" => (v.is_array(), "array"),
            "allOf" | "oneOf" | "anyOf" | X_VALIDATIONS => (
                v.as_array().is_some_and(|a| a.iter().all(Value::is_object)),
                "array of objects",
            ),
            "not" | "externalDocs" => (v.is_object(), "object"),
            "properties" | "patternProperties" | "definitions" => (
                v.as_object()
                    .is_some_and(|m| m.values().all(Value::is_object)),
                "map of schemas",
            ),
            "items" => (
                v.is_object() || v.as_array().is_some_and(|a| a.iter().all(Value::is_object)),
                "schema or array of schemas",
            ),
            "additionalProperties" | "additionalItems" => {
                (v.is_object() || v.is_boolean(), "boolean or schema")
            }
            _ => (true, ""),
        };
        if !want.0 {
            let detail = format!("must be of type {}", want.1);
            errs.push(fielderr::cause(
                Kind::TypeInvalid,
                &child(path, k),
                Bad::Json(v),
                &detail,
            ));
        }
    }
}

fn sorted_list(items: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = items.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

fn openapi_schema(
    so: &Map<String, Value>,
    path: &str,
    ssv: &Ssv,
    is_root: bool,
    depth: usize,
    errs: &mut Vec<StatusCause>,
) {
    if depth > MAX_DEPTH {
        errs.push(invalid(
            path,
            Bad::Str(""),
            "schema nesting exceeds the maximum depth kedge supports",
        ));
        return;
    }
    keyword_types(so, path, errs);
    let ty = type_of(so);

    // specStandardValidatorV3.validate
    if !ty.is_empty() && !OPENAPI_V3_TYPES.contains(&ty) {
        errs.push(not_supported(
            &child(path, "type"),
            Bad::Str(ty),
            &sorted_list(&OPENAPI_V3_TYPES),
        ));
    }
    if default_of(so).is_some() && !ssv.allow_defaults {
        let mut detail = String::from("must not be set");
        if !ssv.reason.is_empty() {
            detail.push(' ');
            detail.push_str(&ssv.reason);
        }
        errs.push(forbidden(&child(path, "default"), &detail));
    }
    if str_kw(so, "id").is_some_and(|s| !s.is_empty()) {
        errs.push(forbidden(&child(path, "id"), "id is not supported"));
    }
    if so.get("additionalItems").is_some_and(|v| !v.is_null()) {
        errs.push(forbidden(
            &child(path, "additionalItems"),
            "additionalItems is not supported",
        ));
    }
    let non_empty_map = |k: &str| {
        so.get(k)
            .and_then(Value::as_object)
            .is_some_and(|m| !m.is_empty())
    };
    if non_empty_map("patternProperties") {
        errs.push(forbidden(
            &child(path, "patternProperties"),
            "patternProperties is not supported",
        ));
    }
    if non_empty_map("definitions") {
        errs.push(forbidden(
            &child(path, "definitions"),
            "definitions is not supported",
        ));
    }
    if so.get("dependencies").is_some_and(|v| !v.is_null()) {
        errs.push(forbidden(
            &child(path, "dependencies"),
            "dependencies is not supported",
        ));
    }
    if so.get("$ref").is_some_and(|v| !v.is_null()) {
        errs.push(forbidden(&child(path, "$ref"), "$ref is not supported"));
    }
    if ty == "null" {
        errs.push(forbidden(
            &child(path, "type"),
            "type cannot be set to null, use nullable as an alternative",
        ));
    }
    if so
        .get("items")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
    {
        errs.push(forbidden(
            &child(path, "items"),
            "items must be a schema object and not an array",
        ));
    }
    if ssv.inside_meta && flag(so, X_EMBEDDED) {
        errs.push(forbidden(
            &child(path, X_EMBEDDED),
            "must not be used inside of resource meta",
        ));
    }

    if flag(so, "uniqueItems") {
        errs.push(forbidden(
            &child(path, "uniqueItems"),
            "uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
        ));
    }
    let props = properties(so);
    let add = additional(so);
    if add.present() {
        let has_props = props.is_some_and(|p| !p.is_empty());
        if has_props && matches!(add, Additional::Bool(false) | Additional::Schema(_)) {
            errs.push(forbidden(
                &child(path, "additionalProperties"),
                "additionalProperties and properties are mutual exclusive",
            ));
        }
        if let Some(add_schema) = add.schema().and_then(node) {
            let sub = if ssv.inside_meta {
                ssv.forbid_defaults("inside additionalProperties applying to object metadata")
            } else {
                ssv.clone()
            };
            openapi_schema(
                add_schema,
                &child(path, "additionalProperties"),
                &sub,
                false,
                depth + 1,
                errs,
            );
        }
    }
    if let Some(props) = props {
        let embedded = flag(so, X_EMBEDDED);
        for (k, ps) in props {
            let Some(ps) = node(ps) else { continue };
            let mut sub = ssv.clone();
            if (is_root || embedded) && META_FIELDS.contains(&k.as_str()) {
                sub.inside_meta = true;
                if is_root {
                    sub = sub.forbid_defaults(&format!("in top-level {k}"));
                }
            }
            openapi_schema(
                ps,
                &key(&child(path, "properties"), k),
                &sub,
                false,
                depth + 1,
                errs,
            );
        }
    }
    if let Some(not) = so.get("not").and_then(Value::as_object) {
        openapi_schema(not, &child(path, "not"), ssv, false, depth + 1, errs);
    }
    for junctor in ["allOf", "oneOf", "anyOf"] {
        if let Some(list) = array_kw(so, junctor) {
            for (i, sub) in list.iter().enumerate() {
                if let Some(sub) = node(sub) {
                    openapi_schema(
                        sub,
                        &index(&child(path, junctor), i),
                        ssv,
                        false,
                        depth + 1,
                        errs,
                    );
                }
            }
        }
    }
    if let Some(defs) = so.get("definitions").and_then(Value::as_object) {
        for (k, d) in defs {
            if let Some(d) = node(d) {
                openapi_schema(
                    d,
                    &key(&child(path, "definitions"), k),
                    ssv,
                    false,
                    depth + 1,
                    errs,
                );
            }
        }
    }
    match so.get("items") {
        Some(Value::Object(item)) => {
            openapi_schema(item, &child(path, "items"), ssv, false, depth + 1, errs)
        }
        Some(Value::Array(list)) => {
            for (i, item) in list.iter().enumerate() {
                if let Some(item) = node(item) {
                    openapi_schema(
                        item,
                        &index(&child(path, "items"), i),
                        ssv,
                        false,
                        depth + 1,
                        errs,
                    );
                }
            }
        }
        _ => {}
    }
    if let Some(deps) = so.get("dependencies").and_then(Value::as_object) {
        for (k, d) in deps {
            if let Some(d) = node(d) {
                openapi_schema(
                    d,
                    &key(&child(path, "dependencies"), k),
                    ssv,
                    false,
                    depth + 1,
                    errs,
                );
            }
        }
    }

    if matches!(so.get(X_PRESERVE), Some(Value::Bool(false))) {
        errs.push(invalid(
            &child(path, X_PRESERVE),
            Bad::Bool(false),
            "must be true or undefined",
        ));
    }
    let map_type = str_kw(so, X_MAP_TYPE);
    if map_type.is_some() && ty != "object" {
        let detail = "must be object if x-kubernetes-map-type is specified";
        if ty.is_empty() {
            errs.push(required(&child(path, "type"), detail));
        } else {
            errs.push(invalid(&child(path, "type"), Bad::Str(ty), detail));
        }
    }
    if let Some(mt) = map_type.filter(|m| *m != "atomic" && *m != "granular") {
        errs.push(not_supported(
            &child(path, X_MAP_TYPE),
            Bad::Str(mt),
            &sorted_list(&["atomic", "granular"]),
        ));
    }
    let list_type = str_kw(so, X_LIST_TYPE);
    let item_schema = items(so).and_then(node);
    if list_type.is_some() && ty != "array" {
        let detail = "must be array if x-kubernetes-list-type is specified";
        if ty.is_empty() {
            errs.push(required(&child(path, "type"), detail));
        } else {
            errs.push(invalid(&child(path, "type"), Bad::Str(ty), detail));
        }
    } else if let (Some("set"), Some(is)) = (list_type, item_schema) {
        let detail = "must be atomic as item of a list with x-kubernetes-list-type=set";
        match type_of(is) {
            "array" => {
                if let Some(lt) = str_kw(is, X_LIST_TYPE).filter(|lt| *lt != "atomic") {
                    errs.push(invalid(
                        &child(&child(path, "items"), X_LIST_TYPE),
                        Bad::Str(lt),
                        detail,
                    ));
                }
            }
            "object" if str_kw(is, X_MAP_TYPE) != Some("atomic") => {
                // Kubernetes reports the item's list type (usually unset) as the value here.
                let shown = is.get(X_LIST_TYPE).cloned().unwrap_or(Value::Null);
                errs.push(invalid(
                    &child(&child(path, "items"), X_MAP_TYPE),
                    Bad::Json(&shown),
                    detail,
                ));
            }
            _ => {}
        }
    }
    if let Some(lt) = list_type.filter(|lt| !["atomic", "set", "map"].contains(lt)) {
        errs.push(not_supported(
            &child(path, X_LIST_TYPE),
            Bad::Str(lt),
            &["atomic".into(), "set".into(), "map".into()],
        ));
    }
    let map_keys: Vec<String> = array_kw(so, X_LIST_MAP_KEYS)
        .map(|k| {
            k.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if !map_keys.is_empty() {
        let detail = "must be map if x-kubernetes-list-map-keys is non-empty";
        match list_type {
            None => errs.push(required(&child(path, X_LIST_TYPE), detail)),
            Some(lt) if lt != "map" => {
                errs.push(invalid(&child(path, X_LIST_TYPE), Bad::Str(lt), detail))
            }
            _ => {}
        }
    }
    if list_type == Some("map") {
        if map_keys.is_empty() {
            errs.push(required(
                &child(path, X_LIST_MAP_KEYS),
                "must not be empty if x-kubernetes-list-type is map",
            ));
        }
        match so.get("items").filter(|i| !i.is_null()) {
            None => errs.push(required(
                &child(path, "items"),
                "must have a schema if x-kubernetes-list-type is map",
            )),
            Some(Value::Object(is)) => {
                let ity = type_of(is);
                if ity != "object" {
                    errs.push(invalid(
                        &child(&child(path, "items"), "type"),
                        Bad::Str(ity),
                        "must be object if parent array's x-kubernetes-list-type is map",
                    ));
                } else {
                    let item_props = properties(is);
                    let mut seen: Vec<&str> = Vec::new();
                    let keys_dump = go_sharp_string_slice(Some(&map_keys));
                    for k in &map_keys {
                        match item_props.and_then(|p| p.get(k)).and_then(node) {
                            Some(ks) => {
                                if matches!(type_of(ks), "array" | "object") {
                                    let p = child(
                                        &key(&child(&child(path, "items"), "properties"), k),
                                        "type",
                                    );
                                    errs.push(invalid(&p, Bad::Str(ity), "must be a scalar type if parent array's x-kubernetes-list-type is map"));
                                }
                            }
                            None => errs.push(invalid(
                                &child(path, X_LIST_MAP_KEYS),
                                Bad::Raw(keys_dump.clone()),
                                "entries must all be names of item properties",
                            )),
                        }
                        if seen.contains(&k.as_str()) {
                            errs.push(invalid(
                                &child(path, X_LIST_MAP_KEYS),
                                Bad::Raw(keys_dump.clone()),
                                "must not contain duplicate entries",
                            ));
                        }
                        seen.push(k);
                    }
                }
            }
            Some(other) => errs.push(invalid(
                &child(path, "items"),
                Bad::Json(other),
                "must only have a single schema if x-kubernetes-list-type is map",
            )),
        }
    }
    if let Some(rules) = array_kw(so, X_VALIDATIONS) {
        for (i, rule) in rules.iter().enumerate() {
            let base = index(&child(path, X_VALIDATIONS), i);
            let text = rule.get("rule").and_then(Value::as_str).unwrap_or("");
            let message = rule.get("message").and_then(Value::as_str).unwrap_or("");
            let (t_rule, t_msg) = (text.trim(), message.trim());
            let has_newline = |s: &str| s.contains('\n') || s.contains('\r');
            if t_rule.is_empty() {
                errs.push(required(&child(&base, "rule"), "rule is not specified"));
            } else if !message.is_empty() && t_msg.is_empty() {
                errs.push(invalid(
                    &child(&base, "message"),
                    Bad::Str(message),
                    "message must be non-empty if specified",
                ));
            } else if has_newline(t_msg) {
                errs.push(invalid(
                    &child(&base, "message"),
                    Bad::Str(message),
                    "message must not contain line breaks",
                ));
            } else if has_newline(t_rule) && t_msg.is_empty() {
                errs.push(required(
                    &child(&base, "message"),
                    "message must be specified if rule contains line breaks",
                ));
            }
        }
    }
    // validateMapListKeysMapSet
    if let (Some(lt @ ("set" | "map")), Some(is)) = (list_type, item_schema) {
        if nullable(is) {
            errs.push(forbidden(
                &child(&child(path, "items"), "nullable"),
                &format!("cannot be nullable when x-kubernetes-list-type is {lt}"),
            ));
        }
        if lt == "map" {
            let req: Vec<&str> = array_kw(is, "required")
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            for k in &map_keys {
                let Some(ks) = properties(is).and_then(|p| p.get(k)).and_then(node) else {
                    continue;
                };
                let kp = key(&child(&child(path, "items"), "properties"), k);
                if !req.contains(&k.as_str()) && default_of(ks).is_none() {
                    errs.push(required(&child(&kp, "default"), "this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property"));
                }
                if nullable(ks) {
                    errs.push(forbidden(
                        &child(&kp, "nullable"),
                        "this property is in x-kubernetes-list-map-keys, so it cannot be nullable",
                    ));
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// ValidateStructural
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Root,
    Item,
    Field,
}

fn int_or_string_any_of(v: Option<&Value>) -> bool {
    matches!(v.and_then(Value::as_array), Some(a) if a.len() == 2
        && a[0] == serde_json::json!({"type": "integer"})
        && a[1] == serde_json::json!({"type": "string"}))
}

fn invariants(
    s: &Map<String, Value>,
    lvl: Level,
    path: &str,
    depth: usize,
    errs: &mut Vec<StatusCause>,
) {
    if depth > MAX_DEPTH {
        return;
    }
    let ty = type_of(s);
    if ty == "array" && items(s).is_none() {
        errs.push(required(&child(path, "items"), "must be specified"));
    }
    if let Some(item) = items(s).and_then(node) {
        invariants(item, Level::Item, &child(path, "items"), depth + 1, errs);
    }
    if let Some(props) = properties(s) {
        for (k, ps) in props {
            if let Some(ps) = node(ps) {
                invariants(
                    ps,
                    Level::Field,
                    &key(&child(path, "properties"), k),
                    depth + 1,
                    errs,
                );
            }
        }
    }
    let add = additional(s);
    if add.present() {
        if lvl == Level::Root {
            errs.push(forbidden(
                &child(path, "additionalProperties"),
                "must not be used at the root",
            ));
        }
        if let Some(add_schema) = add.schema().and_then(node) {
            invariants(
                add_schema,
                Level::Field,
                &child(path, "additionalProperties"),
                depth + 1,
                errs,
            );
        }
    }
    let int_or_string = flag(s, X_INT_OR_STRING);
    let preserve = flag(s, X_PRESERVE);
    let embedded = flag(s, X_EMBEDDED);
    if int_or_string && preserve {
        errs.push(invalid(
            &child(path, X_PRESERVE),
            Bad::Bool(true),
            "must be false if x-kubernetes-int-or-string is true",
        ));
    }
    if int_or_string && embedded {
        errs.push(invalid(
            &child(path, X_EMBEDDED),
            Bad::Bool(true),
            "must be false if x-kubernetes-int-or-string is true",
        ));
    }
    let skip_any_of = int_or_string_any_of(s.get("anyOf"));
    let skip_first_all_of_any_of = array_kw(s, "allOf")
        .and_then(|a| a.first())
        .is_some_and(|first| int_or_string_any_of(first.get("anyOf")));
    value_validation(
        s,
        skip_any_of,
        skip_first_all_of_any_of,
        lvl,
        path,
        depth,
        errs,
    );

    let check_metadata = lvl == Level::Root || embedded;
    if embedded && ty != "object" {
        let detail = "must be object if x-kubernetes-embedded-resource is true";
        if ty.is_empty() {
            errs.push(required(&child(path, "type"), detail));
        } else {
            errs.push(invalid(&child(path, "type"), Bad::Str(ty), detail));
        }
    } else if ty.is_empty() && !int_or_string && !preserve {
        let detail = match lvl {
            Level::Root => "must not be empty at the root",
            Level::Item => "must not be empty for specified array items",
            Level::Field => "must not be empty for specified object fields",
        };
        errs.push(required(&child(path, "type"), detail));
    }
    if embedded && add.present() {
        errs.push(forbidden(
            &child(path, "additionalProperties"),
            "must not be used if x-kubernetes-embedded-resource is set",
        ));
    }
    if lvl == Level::Root && !ty.is_empty() && ty != "object" {
        errs.push(invalid(
            &child(path, "type"),
            Bad::Str(ty),
            "must be object at the root",
        ));
    }
    let props = properties(s);
    for meta_key in ["kind", "apiVersion"] {
        if let Some(ps) = props.and_then(|p| p.get(meta_key)).and_then(node) {
            if check_metadata && type_of(ps) != "string" {
                let p = child(&key(&child(path, "properties"), meta_key), "type");
                errs.push(invalid(&p, Bad::Str(type_of(ps)), "must be string"));
            }
        }
    }
    if let Some(meta) = props.and_then(|p| p.get("metadata")).and_then(node) {
        let mpath = key(&child(path, "properties"), "metadata");
        if check_metadata && type_of(meta) != "object" {
            errs.push(invalid(
                &child(&mpath, "type"),
                Bad::Str(type_of(meta)),
                "must be object",
            ));
        }
        if lvl == Level::Root && !root_metadata_is_implicit(meta) {
            errs.push(forbidden(&mpath, "must not specify anything other than name and generateName, but metadata is implicitly specified"));
        }
    }
    if embedded && !preserve && props.is_none_or(|p| p.is_empty()) {
        errs.push(required(&child(path, "properties"), "must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields"));
    }
}

/// The root `metadata` schema may only restrict `name`/`generateName` (plus `type`/`default`).
fn root_metadata_is_implicit(meta: &Map<String, Value>) -> bool {
    for (k, v) in meta {
        if is_zero(k, v) {
            continue;
        }
        match k.as_str() {
            // Not part of the structural schema, or reset before the comparison.
            "type" | "default" | "example" | "externalDocs" | "id" | "$schema" | "$ref"
            | "definitions" | "dependencies" | "additionalItems" | "patternProperties" => {}
            "properties" => {
                let Some(p) = v.as_object() else { return false };
                let name = p.contains_key("name");
                let generate = p.contains_key("generateName");
                let only_names =
                    (name && generate && p.len() == 2) || ((name || generate) && p.len() == 1);
                if !only_names {
                    return false;
                }
            }
            _ => return false,
        }
    }
    true
}

/// `validateValueValidation`: the logic junctors and `pattern` of a node.
fn value_validation(
    v: &Map<String, Value>,
    skip_any_of: bool,
    skip_first_all_of_any_of: bool,
    lvl: Level,
    path: &str,
    depth: usize,
    errs: &mut Vec<StatusCause>,
) {
    if depth > MAX_DEPTH {
        return;
    }
    if !skip_any_of {
        if let Some(list) = array_kw(v, "anyOf") {
            for (i, sub) in list.iter().enumerate() {
                if let Some(sub) = node(sub) {
                    nested(
                        sub,
                        false,
                        false,
                        lvl,
                        &index(&child(path, "anyOf"), i),
                        depth + 1,
                        errs,
                    );
                }
            }
        }
    }
    if let Some(list) = array_kw(v, "allOf") {
        for (i, sub) in list.iter().enumerate() {
            if let Some(sub) = node(sub) {
                let skip = skip_first_all_of_any_of && i == 0;
                nested(
                    sub,
                    skip,
                    false,
                    lvl,
                    &index(&child(path, "allOf"), i),
                    depth + 1,
                    errs,
                );
            }
        }
    }
    if let Some(list) = array_kw(v, "oneOf") {
        for (i, sub) in list.iter().enumerate() {
            if let Some(sub) = node(sub) {
                nested(
                    sub,
                    false,
                    false,
                    lvl,
                    &index(&child(path, "oneOf"), i),
                    depth + 1,
                    errs,
                );
            }
        }
    }
    if let Some(not) = v.get("not").and_then(Value::as_object) {
        nested(not, false, false, lvl, &child(path, "not"), depth + 1, errs);
    }
    if let Some(pattern) = str_kw(v, "pattern").filter(|p| !p.is_empty()) {
        if let Err(e) = compile_go_regex(pattern) {
            let detail = format!("must be a valid regular expression, but isn't: {e}");
            errs.push(invalid(&child(path, "pattern"), Bad::Str(pattern), &detail));
        }
    }
}

/// `validateNestedValueValidation`: inside junctors only value validations are allowed.
fn nested(
    v: &Map<String, Value>,
    skip_any_of: bool,
    skip_all_of_any_of: bool,
    lvl: Level,
    path: &str,
    depth: usize,
    errs: &mut Vec<StatusCause>,
) {
    if depth > MAX_DEPTH {
        return;
    }
    value_validation(v, skip_any_of, skip_all_of_any_of, lvl, path, depth, errs);
    if let Some(item) = items(v).and_then(node) {
        nested(
            item,
            false,
            false,
            lvl,
            &child(path, "items"),
            depth + 1,
            errs,
        );
    }
    if let Some(props) = properties(v) {
        for (k, ps) in props {
            if let Some(ps) = node(ps) {
                nested(
                    ps,
                    false,
                    false,
                    Level::Field,
                    &key(&child(path, "properties"), k),
                    depth + 1,
                    errs,
                );
            }
        }
    }
    let set = |k: &str| v.get(k).is_some_and(|x| !is_zero(k, x));
    if set("type") {
        errs.push(forbidden(
            &child(path, "type"),
            "must be empty to be structural",
        ));
    }
    if v.get("additionalProperties").is_some_and(|a| !a.is_null()) {
        errs.push(forbidden(
            &child(path, "additionalProperties"),
            "must be undefined to be structural",
        ));
    }
    if default_of(v).is_some() {
        errs.push(forbidden(
            &child(path, "default"),
            "must be undefined to be structural",
        ));
    }
    if set("title") {
        errs.push(forbidden(
            &child(path, "title"),
            "must be empty to be structural",
        ));
    }
    if set("description") {
        errs.push(forbidden(
            &child(path, "description"),
            "must be empty to be structural",
        ));
    }
    if nullable(v) {
        errs.push(forbidden(
            &child(path, "nullable"),
            "must be false to be structural",
        ));
    }
    for ext in [X_PRESERVE, X_EMBEDDED, X_INT_OR_STRING] {
        if flag(v, ext) {
            errs.push(forbidden(
                &child(path, ext),
                "must be false to be structural",
            ));
        }
    }
    if array_kw(v, X_LIST_MAP_KEYS).is_some_and(|k| !k.is_empty()) {
        errs.push(forbidden(
            &child(path, X_LIST_MAP_KEYS),
            "must be empty to be structural",
        ));
    }
    for ext in [X_LIST_TYPE, X_MAP_TYPE] {
        if v.get(ext).is_some_and(|x| !x.is_null()) {
            errs.push(forbidden(
                &child(path, ext),
                "must be undefined to be structural",
            ));
        }
    }
    if array_kw(v, X_VALIDATIONS).is_some_and(|k| !k.is_empty()) {
        errs.push(forbidden(
            &child(path, X_VALIDATIONS),
            "must be empty to be structural",
        ));
    }
    if properties(v).is_some_and(|p| p.contains_key("metadata")) {
        errs.push(forbidden(
            &key(&child(path, "properties"), "metadata"),
            "must not be specified in a nested context",
        ));
    }
}

/// `validateValueValidationCompleteness`: every field named inside a junctor must exist in the
/// structural part at the same place.
fn value_validation_completeness(
    v: &Map<String, Value>,
    s: Option<&Map<String, Value>>,
    s_path: &str,
    v_path: &str,
    depth: usize,
    errs: &mut Vec<StatusCause>,
) {
    if depth > MAX_DEPTH {
        return;
    }
    let Some(s) = s else {
        errs.push(required(
            s_path,
            &format!("because it is defined in {v_path}"),
        ));
        return;
    };
    if let Some(not) = v.get("not").and_then(Value::as_object) {
        nested_completeness(not, Some(s), s_path, &child(v_path, "not"), depth + 1, errs);
    }
    for junctor in ["allOf", "anyOf", "oneOf"] {
        if let Some(list) = array_kw(v, junctor) {
            for (i, sub) in list.iter().enumerate() {
                if let Some(sub) = node(sub) {
                    nested_completeness(
                        sub,
                        Some(s),
                        s_path,
                        &index(&child(v_path, junctor), i),
                        depth + 1,
                        errs,
                    );
                }
            }
        }
    }
}

fn nested_completeness(
    v: &Map<String, Value>,
    s: Option<&Map<String, Value>>,
    s_path: &str,
    v_path: &str,
    depth: usize,
    errs: &mut Vec<StatusCause>,
) {
    if depth > MAX_DEPTH {
        return;
    }
    let Some(s) = s else {
        errs.push(required(
            s_path,
            &format!("because it is defined in {v_path}"),
        ));
        return;
    };
    value_validation_completeness(v, Some(s), s_path, v_path, depth + 1, errs);
    if let Some(vi) = items(v).and_then(node) {
        nested_completeness(
            vi,
            items(s).and_then(node),
            &child(s_path, "items"),
            &child(v_path, "items"),
            depth + 1,
            errs,
        );
    }
    if let Some(vprops) = properties(v) {
        let sprops = properties(s);
        for (k, vf) in vprops {
            let Some(vf) = node(vf) else { continue };
            let sp = key(&child(s_path, "properties"), k);
            let vp = key(&child(v_path, "properties"), k);
            match sprops.and_then(|p| p.get(k)).and_then(node) {
                Some(sf) => nested_completeness(vf, Some(sf), &sp, &vp, depth + 1, errs),
                None => errs.push(required(&sp, &format!("because it is defined in {vp}"))),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// ValidateDefaults
// ---------------------------------------------------------------------------------------------

/// Checks each `default`: it must survive pruning unchanged and validate against its own node.
/// Defaults inside resource metadata are not checked (Kubernetes validates those against a
/// synthesized surrounding object).
fn defaults(
    s: &Value,
    path: &str,
    inside_meta: bool,
    resource_root: bool,
    depth: usize,
    errs: &mut Vec<StatusCause>,
) {
    if depth > MAX_DEPTH {
        return;
    }
    let Some(so) = node(s) else { return };
    let embedded = resource_root || flag(so, X_EMBEDDED);
    let inside_meta = inside_meta && !embedded;
    if let Some(d) = default_of(so) {
        if !inside_meta {
            let default_path = child(path, "default");
            let mut pruned = d.clone();
            prune_schema_only(s, &mut pruned, embedded);
            if pruned != *d {
                errs.push(invalid(
                    &default_path,
                    Bad::Json(d),
                    "must not have unknown fields",
                ));
            }
            errs.extend(validate_value(s, d, &default_path));
        }
    }
    if let Some(item) = items(so) {
        defaults(
            item,
            &child(path, "items"),
            inside_meta,
            false,
            depth + 1,
            errs,
        );
    }
    if let Some(props) = properties(so) {
        for (k, ps) in props {
            let sub_meta = inside_meta || (embedded && META_FIELDS.contains(&k.as_str()));
            defaults(
                ps,
                &key(&child(path, "properties"), k),
                sub_meta,
                false,
                depth + 1,
                errs,
            );
        }
    }
}
