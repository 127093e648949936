//! Validation and defaulting of `apiextensions.k8s.io/v1` CustomResourceDefinition objects.
//!
//! Contract: [`validate_definition`] returns the causes kube-apiserver returns when creating the
//! CRD, in its order: `metadata` (name = `<plural>.<group>`, DNS subdomain, no namespace, label
//! and annotation syntax), `spec` (group, scope, schemas required, versions unique / exactly one
//! storage / DNS-1035 names, deprecation warnings, per-version schema — OpenAPI subset,
//! structural, defaults —, subresources, printer columns, names, conversion), then the
//! create-time `status.storedVersions` consistency, API approval for `*.k8s.io` groups and
//! `spec.preserveUnknownFields`. [`validate_definition_update`] additionally enforces the
//! immutable fields and keeps stored versions listed. [`default_definition`] applies the v1
//! defaults (singular, listKind, conversion strategy, webhook port) the server persists.
//!
//! Kubernetes validates the *internal* form of the CRD, into which v1 converts by hoisting
//! per-version `schema`, `subresources` and `additionalPrinterColumns` that are identical in all
//! versions to the top level. Error paths follow that: a single-version CRD's schema errors read
//! `spec.validation.openAPIV3Schema...`, its scale errors `spec.subresources.scale...`; only
//! versions that differ are reported under `spec.versions[i]...`. Values Kubernetes prints as Go
//! structs (`spec.versions: Invalid value: []apiextensions.CustomResourceDefinitionVersion{...}`)
//! are reproduced with a fixed placeholder where Go would print a heap address.
//! Everything is read tolerantly: a missing or mistyped field never panics; mistyped fields
//! (which Kubernetes rejects while decoding) become `FieldValueTypeInvalid` causes.

use serde_json::{json, Map, Value};

use super::fielderr::{
    self, child, forbidden, go_quote, go_sharp_string_slice, index, invalid, is_dns1035_label,
    is_dns1123_subdomain, is_qualified_name, is_valid_label_value, key, not_supported, required,
    too_long, Bad, Kind,
};
use super::keywords::default_of;
use super::structural::validate_validation;
use super::MAX_DEPTH;
use crate::api::status::StatusCause;

/// Validates a CRD for creation.
pub fn validate_definition(crd: &Value) -> Vec<StatusCause> {
    validate_crd(crd, None)
}

/// Validates a CRD replacing `old`.
pub fn validate_definition_update(crd: &Value, old: &Value) -> Vec<StatusCause> {
    validate_crd(crd, Some(old))
}

/// Applies the `apiextensions.k8s.io/v1` defaults in place: `names.singular` = lowercase kind,
/// `names.listKind` = kind + "List", `conversion` = `{strategy: None}`, webhook service port 443.
pub fn default_definition(crd: &mut Value) {
    let Some(spec) = crd.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    if let Some(names) = spec.get_mut("names").and_then(Value::as_object_mut) {
        let kind = names
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let empty = |v: Option<&Value>| v.and_then(Value::as_str).is_none_or(str::is_empty);
        if empty(names.get("singular")) {
            names.insert("singular".into(), Value::String(kind.to_lowercase()));
        }
        if empty(names.get("listKind")) && !kind.is_empty() {
            names.insert("listKind".into(), Value::String(format!("{kind}List")));
        }
    }
    match spec.get_mut("conversion") {
        None | Some(Value::Null) => {
            spec.insert("conversion".into(), json!({"strategy": "None"}));
        }
        Some(conversion) => {
            if let Some(service) = conversion
                .pointer_mut("/webhook/clientConfig/service")
                .and_then(Value::as_object_mut)
            {
                if service.get("port").is_none_or(Value::is_null) {
                    service.insert("port".into(), json!(443));
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Tolerant readers (Kubernetes would reject mistyped fields while decoding)
// ---------------------------------------------------------------------------------------------

fn type_error(errs: &mut Vec<StatusCause>, path: &str, v: &Value, want: &str) {
    errs.push(fielderr::cause(
        Kind::TypeInvalid,
        path,
        Bad::Json(v),
        &format!("must be of type {want}"),
    ));
}

fn str_at<'a>(
    m: &'a Map<String, Value>,
    k: &str,
    path: &str,
    errs: &mut Vec<StatusCause>,
) -> &'a str {
    match m.get(k) {
        None | Some(Value::Null) => "",
        Some(Value::String(s)) => s,
        Some(other) => {
            type_error(errs, &child(path, k), other, "string");
            ""
        }
    }
}

fn bool_at(m: &Map<String, Value>, k: &str, path: &str, errs: &mut Vec<StatusCause>) -> bool {
    match m.get(k) {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            type_error(errs, &child(path, k), other, "boolean");
            false
        }
    }
}

fn obj_at<'a>(
    m: &'a Map<String, Value>,
    k: &str,
    path: &str,
    errs: &mut Vec<StatusCause>,
) -> Option<&'a Map<String, Value>> {
    match m.get(k) {
        None | Some(Value::Null) => None,
        Some(Value::Object(o)) => Some(o),
        Some(other) => {
            type_error(errs, &child(path, k), other, "object");
            None
        }
    }
}

fn list_at<'a>(
    m: &'a Map<String, Value>,
    k: &str,
    path: &str,
    errs: &mut Vec<StatusCause>,
) -> Option<&'a Vec<Value>> {
    match m.get(k) {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) => Some(a),
        Some(other) => {
            type_error(errs, &child(path, k), other, "array");
            None
        }
    }
}

fn strings_at(
    m: &Map<String, Value>,
    k: &str,
    path: &str,
    errs: &mut Vec<StatusCause>,
) -> Option<Vec<String>> {
    let list = list_at(m, k, path, errs)?;
    let mut out = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        match v.as_str() {
            Some(s) => out.push(s.to_string()),
            None => type_error(errs, &index(&child(path, k), i), v, "string"),
        }
    }
    Some(out)
}

// ---------------------------------------------------------------------------------------------
// The internal (hoisted) view of the spec
// ---------------------------------------------------------------------------------------------

struct Version<'a> {
    name: &'a str,
    served: bool,
    storage: bool,
    deprecated: bool,
    warning: Option<&'a str>,
    schema: Option<&'a Value>,
    subresources: Option<&'a Value>,
    columns: Option<&'a Vec<Value>>,
    selectable: Option<&'a Vec<Value>>,
}

struct Spec<'a> {
    /// `None` when `spec.versions` is absent (Go's nil slice).
    versions: Option<Vec<Version<'a>>>,
    validation: Option<&'a Value>,
    subresources: Option<&'a Value>,
    columns: Option<&'a Vec<Value>>,
}

fn non_null(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| !v.is_null())
}

/// Reads `spec.versions` and hoists identical per-version fields like the v1→internal conversion.
fn read_spec<'a>(spec: &'a Map<String, Value>, errs: &mut Vec<StatusCause>) -> Spec<'a> {
    let mut versions = None;
    if let Some(list) = list_at(spec, "versions", "spec", errs) {
        let mut vs = Vec::with_capacity(list.len());
        for (i, v) in list.iter().enumerate() {
            let path = index("spec.versions", i);
            let Some(v) = v.as_object() else {
                type_error(errs, &path, v, "object");
                continue;
            };
            let warning = match v.get("deprecationWarning") {
                Some(Value::String(s)) => Some(s.as_str()),
                _ => None,
            };
            vs.push(Version {
                name: str_at(v, "name", &path, errs),
                served: bool_at(v, "served", &path, errs),
                storage: bool_at(v, "storage", &path, errs),
                deprecated: bool_at(v, "deprecated", &path, errs),
                warning,
                schema: non_null(v.get("schema")),
                subresources: non_null(v.get("subresources")),
                columns: list_at(v, "additionalPrinterColumns", &path, errs),
                selectable: list_at(v, "selectableFields", &path, errs),
            });
        }
        versions = Some(vs);
    }
    let mut out = Spec {
        versions,
        validation: None,
        subresources: None,
        columns: None,
    };
    let Some(vs) = out.versions.as_mut().filter(|v| !v.is_empty()) else {
        return out;
    };

    let same_schema = vs.iter().all(|v| v.schema == vs[0].schema);
    let same_sub = vs.iter().all(|v| v.subresources == vs[0].subresources);
    // Semantic equality treats a missing and an empty column list alike.
    let cols = |v: &Version<'a>| v.columns.filter(|c| !c.is_empty());
    let same_cols = vs.iter().all(|v| cols(v) == cols(&vs[0]));
    if same_schema {
        out.validation = vs[0].schema;
        vs.iter_mut().for_each(|v| v.schema = None);
    }
    if same_sub {
        out.subresources = vs[0].subresources;
        vs.iter_mut().for_each(|v| v.subresources = None);
    }
    if same_cols {
        out.columns = vs[0].columns;
        vs.iter_mut().for_each(|v| v.columns = None);
    }
    let same_selectable = vs.iter().all(|v| v.selectable == vs[0].selectable);
    if same_schema && same_selectable {
        vs.iter_mut().for_each(|v| v.selectable = None);
    }
    out
}

// Go %#v renderings of the internal types (heap addresses replaced by a fixed placeholder).

const FAKE_POINTER: &str = "0xc000000000";

fn go_ptr(type_name: &str, set: bool) -> String {
    format!("({type_name})({})", if set { FAKE_POINTER } else { "nil" })
}

fn column_dump(c: &Value) -> String {
    let s = |k: &str| go_quote(c.get(k).and_then(Value::as_str).unwrap_or(""));
    let priority = c.get("priority").and_then(Value::as_i64).unwrap_or(0);
    format!(
        "apiextensions.CustomResourceColumnDefinition{{Name:{}, Type:{}, Format:{}, Description:{}, Priority:{}, JSONPath:{}}}",
        s("name"), s("type"), s("format"), s("description"), priority, s("jsonPath")
    )
}

fn version_dump(v: &Version<'_>) -> String {
    let columns = match v.columns {
        None => "[]apiextensions.CustomResourceColumnDefinition(nil)".to_string(),
        Some(c) => format!(
            "[]apiextensions.CustomResourceColumnDefinition{{{}}}",
            c.iter().map(column_dump).collect::<Vec<_>>().join(", ")
        ),
    };
    let selectable = match v.selectable {
        None => "[]apiextensions.SelectableField(nil)".to_string(),
        Some(f) => format!(
            "[]apiextensions.SelectableField{{{}}}",
            f.iter()
                .map(|s| format!(
                    "apiextensions.SelectableField{{JSONPath:{}}}",
                    go_quote(s.get("jsonPath").and_then(Value::as_str).unwrap_or(""))
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    format!(
        "apiextensions.CustomResourceDefinitionVersion{{Name:{}, Served:{}, Storage:{}, Deprecated:{}, DeprecationWarning:{}, Schema:{}, Subresources:{}, AdditionalPrinterColumns:{}, SelectableFields:{}}}",
        go_quote(v.name),
        v.served,
        v.storage,
        v.deprecated,
        go_ptr("*string", v.warning.is_some()),
        go_ptr("*apiextensions.CustomResourceValidation", v.schema.is_some()),
        go_ptr("*apiextensions.CustomResourceSubresources", v.subresources.is_some()),
        columns,
        selectable
    )
}

fn versions_dump(vs: Option<&Vec<Version<'_>>>) -> String {
    match vs {
        None => "[]apiextensions.CustomResourceDefinitionVersion(nil)".to_string(),
        Some(vs) => format!(
            "[]apiextensions.CustomResourceDefinitionVersion{{{}}}",
            vs.iter().map(version_dump).collect::<Vec<_>>().join(", ")
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

const APPROVAL_ANNOTATION: &str = "api-approved.kubernetes.io";
const PRINTER_COLUMN_TYPES: &str = "boolean,date,integer,number,string";
const PRINTER_COLUMN_FORMATS: &str = "byte,date,date-time,double,float,int32,int64,password";
const TOTAL_ANNOTATION_SIZE_LIMIT: i64 = 256 * 1024;

fn validate_crd(crd: &Value, old: Option<&Value>) -> Vec<StatusCause> {
    let mut errs = Vec::new();
    let empty = Map::new();
    let Some(root) = crd.as_object() else {
        type_error(&mut errs, "", crd, "object");
        return errs;
    };
    let meta = obj_at(root, "metadata", "", &mut errs).unwrap_or(&empty);
    let spec_map = obj_at(root, "spec", "", &mut errs).unwrap_or(&empty);
    let names = obj_at(spec_map, "names", "spec", &mut errs).unwrap_or(&empty);
    let group = str_at(spec_map, "group", "spec", &mut errs);
    let plural = str_at(names, "plural", "spec.names", &mut errs);
    let spec = read_spec(spec_map, &mut errs);

    let old_spec = old.and_then(|o| o.get("spec")).and_then(Value::as_object);
    validate_object_meta(meta, plural, group, &mut errs);
    if let Some(old_meta) = old
        .and_then(|o| o.get("metadata"))
        .and_then(Value::as_object)
    {
        let old_name = old_meta.get("name").and_then(Value::as_str).unwrap_or("");
        let name = meta.get("name").and_then(Value::as_str).unwrap_or("");
        if name != old_name {
            errs.push(invalid(
                "metadata.name",
                Bad::Str(name),
                "field is immutable",
            ));
        }
    }
    validate_spec(spec_map, names, group, &spec, old_spec, &mut errs);
    if let Some(old_spec) = old_spec {
        validate_spec_update(
            spec_map,
            names,
            group,
            old_spec,
            old.is_some_and(established),
            &mut errs,
        );
    }
    validate_stored_versions(&spec, old, &mut errs);
    validate_api_approval(meta, group, old, &mut errs);
    let old_preserve =
        old_spec.is_some_and(|s| matches!(s.get("preserveUnknownFields"), Some(Value::Bool(true))));
    if !old_preserve
        && matches!(
            spec_map.get("preserveUnknownFields"),
            Some(Value::Bool(true))
        )
    {
        errs.push(invalid(
            "spec.preserveUnknownFields",
            Bad::Bool(true),
            "cannot set to true, set x-preserve-unknown-fields to true in spec.versions[*].schema instead",
        ));
    }
    errs
}

fn established(crd: &Value) -> bool {
    crd.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|conds| {
            conds.iter().any(|c| {
                c.get("type").and_then(Value::as_str) == Some("Established")
                    && c.get("status").and_then(Value::as_str) == Some("True")
            })
        })
}

/// `ValidateObjectMeta` for a cluster-scoped object whose name must be `<plural>.<group>`.
fn validate_object_meta(
    meta: &Map<String, Value>,
    plural: &str,
    group: &str,
    errs: &mut Vec<StatusCause>,
) {
    let required_name = format!("{plural}.{group}");
    let name_errors = |name: &str, prefix: bool| -> Vec<String> {
        // NameIsDNSSubdomain masks a trailing dash of a generateName prefix.
        let checked = if prefix && name.len() > 1 && name.ends_with('-') {
            format!("{}a", &name[..name.len() - 1])
        } else {
            name.to_string()
        };
        let mut out = is_dns1123_subdomain(&checked);
        if name != required_name {
            out.push(r#"must be spec.names.plural+"."+spec.group"#.to_string());
        }
        out
    };
    let generate_name = str_at(meta, "generateName", "metadata", errs);
    if !generate_name.is_empty() {
        for msg in name_errors(generate_name, true) {
            errs.push(invalid(
                "metadata.generateName",
                Bad::Str(generate_name),
                &msg,
            ));
        }
    }
    let name = str_at(meta, "name", "metadata", errs);
    if name.is_empty() {
        errs.push(required(
            "metadata.name",
            "name or generateName is required",
        ));
    } else {
        for msg in name_errors(name, false) {
            errs.push(invalid("metadata.name", Bad::Str(name), &msg));
        }
    }
    if !str_at(meta, "namespace", "metadata", errs).is_empty() {
        errs.push(forbidden("metadata.namespace", "not allowed on this type"));
    }
    if let Some(g) = meta
        .get("generation")
        .and_then(Value::as_i64)
        .filter(|g| *g < 0)
    {
        errs.push(invalid(
            "metadata.generation",
            Bad::Int(g),
            "must be greater than or equal to 0",
        ));
    }
    if let Some(labels) = obj_at(meta, "labels", "metadata", errs) {
        for (k, v) in labels {
            for msg in is_qualified_name(k) {
                errs.push(invalid("metadata.labels", Bad::Str(k), &msg));
            }
            match v.as_str() {
                Some(v) => {
                    for msg in is_valid_label_value(v) {
                        errs.push(invalid("metadata.labels", Bad::Str(v), &msg));
                    }
                }
                None => type_error(errs, &key("metadata.labels", k), v, "string"),
            }
        }
    }
    if let Some(annotations) = obj_at(meta, "annotations", "metadata", errs) {
        let mut total: i64 = 0;
        for (k, v) in annotations {
            for msg in is_qualified_name(&k.to_lowercase()) {
                errs.push(invalid("metadata.annotations", Bad::Str(k), &msg));
            }
            match v.as_str() {
                Some(v) => total = total.saturating_add((k.len() + v.len()) as i64),
                None => type_error(errs, &key("metadata.annotations", k), v, "string"),
            }
        }
        if total > TOTAL_ANNOTATION_SIZE_LIMIT {
            errs.push(too_long(
                "metadata.annotations",
                TOTAL_ANNOTATION_SIZE_LIMIT,
            ));
        }
    }
}

/// Whether the old CRD gave every version a schema (otherwise schemas are not newly required).
fn all_versions_have_schema(old_spec: &Map<String, Value>) -> bool {
    old_spec
        .get("versions")
        .and_then(Value::as_array)
        .is_some_and(|vs| {
            vs.iter().all(|v| {
                v.pointer("/schema/openAPIV3Schema")
                    .is_some_and(|s| !s.is_null())
            })
        })
}

fn has_schema(v: Option<&Value>) -> bool {
    v.and_then(|v| v.get("openAPIV3Schema"))
        .is_some_and(|s| !s.is_null())
}

fn has_status(sub: Option<&Value>) -> bool {
    sub.and_then(|s| s.get("status"))
        .is_some_and(|s| !s.is_null())
}

/// Whether any schema in the CRD sets a non-null `default`.
fn has_defaults(s: &Value, depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return false;
    }
    match s {
        Value::Object(m) => {
            if default_of(m).is_some() {
                return true;
            }
            m.iter().any(|(k, v)| match k.as_str() {
                "properties" | "definitions" | "dependencies" | "patternProperties" => v
                    .as_object()
                    .is_some_and(|p| p.values().any(|x| has_defaults(x, depth + 1))),
                "items"
                | "additionalProperties"
                | "additionalItems"
                | "not"
                | "allOf"
                | "anyOf"
                | "oneOf" => has_defaults(v, depth + 1),
                _ => false,
            })
        }
        Value::Array(a) => a.iter().any(|x| has_defaults(x, depth + 1)),
        _ => false,
    }
}

fn validate_spec(
    spec_map: &Map<String, Value>,
    names: &Map<String, Value>,
    group: &str,
    spec: &Spec<'_>,
    old_spec: Option<&Map<String, Value>>,
    errs: &mut Vec<StatusCause>,
) {
    if group.is_empty() {
        errs.push(required("spec.group", ""));
    } else {
        let dns = is_dns1123_subdomain(group);
        if !dns.is_empty() {
            errs.push(invalid("spec.group", Bad::Str(group), &dns.join(",")));
        } else if !group.contains('.') {
            errs.push(invalid(
                "spec.group",
                Bad::Str(group),
                "should be a domain with at least one dot",
            ));
        }
    }
    let scope = str_at(spec_map, "scope", "spec", errs);
    if scope.is_empty() {
        errs.push(required("spec.scope", ""));
    } else if scope != "Cluster" && scope != "Namespaced" {
        errs.push(not_supported(
            "spec.scope",
            Bad::Str(scope),
            &["Cluster".into(), "Namespaced".into()],
        ));
    }
    let preserve_unknown = bool_at(spec_map, "preserveUnknownFields", "spec", errs);

    let versions: &[Version<'_>] = spec.versions.as_deref().unwrap_or(&[]);
    let require_schema = old_spec.is_none_or(all_versions_have_schema);
    if !has_schema(spec.validation) {
        for (i, v) in versions.iter().enumerate() {
            let p = child(&index("spec.versions", i), "schema.openAPIV3Schema");
            if has_schema(v.schema) {
                continue;
            }
            if require_schema {
                errs.push(required(&p, "schemas are required"));
            } else if !preserve_unknown && v.served {
                errs.push(required(&p, "because otherwise all fields are pruned"));
            }
        }
    }
    let any_defaults = spec_map
        .get("versions")
        .and_then(Value::as_array)
        .is_some_and(|vs| {
            vs.iter()
                .any(|v| v.get("schema").is_some_and(|s| has_defaults(s, 0)))
        });
    if any_defaults && preserve_unknown {
        errs.push(invalid(
            "spec.preserveUnknownFields",
            Bad::Bool(true),
            "must be false in order to use defaults in the schema",
        ));
    }

    let mut storage = 0;
    let mut seen: Vec<&str> = Vec::new();
    let mut unique = true;
    let per_version_subresources = versions.iter().any(|v| v.subresources.is_some());
    for (i, v) in versions.iter().enumerate() {
        let path = index("spec.versions", i);
        if v.storage {
            storage += 1;
        }
        if seen.contains(&v.name) {
            unique = false;
        } else {
            seen.push(v.name);
        }
        let dns = is_dns1035_label(v.name);
        if !dns.is_empty() {
            errs.push(invalid(
                &child(&path, "name"),
                Bad::Str(v.name),
                &dns.join(","),
            ));
        }
        for msg in deprecation_warning_errors(v.deprecated, v.warning) {
            let bad = v.warning.map_or(Bad::Json(&Value::Null), Bad::Str);
            errs.push(invalid(&child(&path, "deprecationWarning"), bad, &msg));
        }
        let subresources = if per_version_subresources {
            v.subresources
        } else {
            spec.subresources
        };
        errs.extend(validate_validation(
            v.schema,
            has_status(subresources),
            &child(&path, "schema"),
        ));
        validate_subresources(v.subresources, &child(&path, "subresources"), errs);
        for (j, c) in v.columns.into_iter().flatten().enumerate() {
            validate_column(
                c,
                &index(&child(&path, "additionalPrinterColumns"), j),
                errs,
            );
        }
    }
    if !unique {
        errs.push(invalid(
            "spec.versions",
            Bad::Raw(versions_dump(spec.versions.as_ref())),
            "must contain unique version names",
        ));
    }
    if storage != 1 {
        errs.push(invalid(
            "spec.versions",
            Bad::Raw(versions_dump(spec.versions.as_ref())),
            "must have exactly one version marked as storage version",
        ));
    }
    // The conversion copies versions[0].name into the internal `spec.version`.
    if let Some(first) = versions.first() {
        let dns = is_dns1035_label(first.name);
        if !first.name.is_empty() && !dns.is_empty() {
            errs.push(invalid(
                "spec.version",
                Bad::Str(first.name),
                &dns.join(","),
            ));
        }
    }

    validate_names(names, errs);

    let any_status =
        has_status(spec.subresources) || versions.iter().any(|v| has_status(v.subresources));
    errs.extend(validate_validation(
        spec.validation,
        any_status,
        "spec.validation",
    ));
    validate_subresources(spec.subresources, "spec.subresources", errs);
    for (j, c) in spec.columns.into_iter().flatten().enumerate() {
        validate_column(c, &index("spec.additionalPrinterColumns", j), errs);
    }

    let require_recognized = old_spec.is_none_or(|o| {
        o.get("conversion")
            .and_then(|c| c.pointer("/webhook/conversionReviewVersions"))
            .and_then(Value::as_array)
            .is_none_or(|vs| {
                vs.is_empty()
                    || vs
                        .iter()
                        .any(|v| matches!(v.as_str(), Some("v1" | "v1beta1")))
            })
    });
    validate_conversion(spec_map, preserve_unknown, require_recognized, errs);
}

/// `validateDeprecationWarning`.
fn deprecation_warning_errors(deprecated: bool, warning: Option<&str>) -> Vec<String> {
    if !deprecated && warning.is_some() {
        return vec!["can only be set for deprecated versions".to_string()];
    }
    let Some(w) = warning else { return Vec::new() };
    let mut out = Vec::new();
    if w.len() > 256 {
        out.push("must be <= 256 characters long".to_string());
    }
    if w.is_empty() {
        out.push("must not be an empty string".to_string());
    }
    for (i, c) in w.char_indices() {
        if c.is_control() {
            out.push(format!("must only contain printable UTF-8 characters; control character found at index {i}"));
            break;
        }
        if c != ' ' && c.is_whitespace() {
            out.push(format!("must only contain printable UTF-8 characters; non-printable character found at index {i}"));
            break;
        }
    }
    out
}

/// `ValidateCustomResourceDefinitionNames` plus the spec's required names (after defaulting).
fn validate_names(names: &Map<String, Value>, errs: &mut Vec<StatusCause>) {
    let path = "spec.names";
    let plural = str_at(names, "plural", path, errs);
    let kind = str_at(names, "kind", path, errs);
    let singular_raw = str_at(names, "singular", path, errs);
    let list_kind_raw = str_at(names, "listKind", path, errs);
    let singular = if singular_raw.is_empty() {
        kind.to_lowercase()
    } else {
        singular_raw.to_string()
    };
    let list_kind = if list_kind_raw.is_empty() && !kind.is_empty() {
        format!("{kind}List")
    } else {
        list_kind_raw.to_string()
    };
    let short_names = strings_at(names, "shortNames", path, errs).unwrap_or_default();
    let categories = strings_at(names, "categories", path, errs).unwrap_or_default();

    for (field, value) in [
        ("plural", plural),
        ("singular", singular.as_str()),
        ("kind", kind),
        ("listKind", list_kind.as_str()),
    ] {
        if value.is_empty() {
            errs.push(required(&child(path, field), ""));
        }
    }
    let dns = is_dns1035_label(plural);
    if !plural.is_empty() && !dns.is_empty() {
        errs.push(invalid(
            &child(path, "plural"),
            Bad::Str(plural),
            &dns.join(","),
        ));
    }
    let dns = is_dns1035_label(&singular);
    if !singular.is_empty() && !dns.is_empty() {
        errs.push(invalid(
            &child(path, "singular"),
            Bad::Str(&singular),
            &dns.join(","),
        ));
    }
    for (field, value) in [("kind", kind), ("listKind", list_kind.as_str())] {
        let dns = is_dns1035_label(&value.to_lowercase());
        if !value.is_empty() && !dns.is_empty() {
            let detail = format!(
                "may have mixed case, but should otherwise match: {}",
                dns.join(",")
            );
            errs.push(invalid(&child(path, field), Bad::Str(value), &detail));
        }
    }
    for (i, s) in short_names.iter().enumerate() {
        let dns = is_dns1035_label(s);
        if !dns.is_empty() {
            errs.push(invalid(
                &index(&child(path, "shortNames"), i),
                Bad::Str(s),
                &dns.join(","),
            ));
        }
    }
    if !kind.is_empty() && kind == list_kind {
        errs.push(invalid(
            &child(path, "listKind"),
            Bad::Str(&list_kind),
            "kind and listKind may not be the same",
        ));
    }
    for (i, c) in categories.iter().enumerate() {
        let dns = is_dns1035_label(c);
        if !dns.is_empty() {
            errs.push(invalid(
                &index(&child(path, "categories"), i),
                Bad::Str(c),
                &dns.join(","),
            ));
        }
    }
}

/// `validateSimpleJSONPath`.
fn simple_json_path_errors(s: &str, path: &str) -> Vec<StatusCause> {
    if s.is_empty() {
        vec![invalid(path, Bad::Str(s), "must not be empty")]
    } else if !s.starts_with('.') {
        vec![invalid(
            path,
            Bad::Str(s),
            "must be a simple json path starting with .",
        )]
    } else {
        Vec::new()
    }
}

/// `ValidateCustomResourceDefinitionSubresources` (only `scale` has rules).
fn validate_subresources(sub: Option<&Value>, path: &str, errs: &mut Vec<StatusCause>) {
    let Some(sub) = sub.and_then(Value::as_object) else {
        if let Some(other) = sub {
            type_error(errs, path, other, "object");
        }
        return;
    };
    let Some(scale) = obj_at(sub, "scale", path, errs) else {
        return;
    };
    let scale_path = child(path, "scale");
    for (field, prefix, detail) in [
        (
            "specReplicasPath",
            ".spec.",
            "should be a json path under .spec",
        ),
        (
            "statusReplicasPath",
            ".status.",
            "should be a json path under .status",
        ),
    ] {
        let p = child(&scale_path, field);
        let v = str_at(scale, field, &scale_path, errs);
        if v.is_empty() {
            errs.push(required(&p, ""));
            continue;
        }
        let path_errs = simple_json_path_errors(v, &p);
        if !path_errs.is_empty() {
            errs.extend(path_errs);
        } else if !v.starts_with(prefix) {
            errs.push(invalid(&p, Bad::Str(v), detail));
        }
    }
    let selector = str_at(scale, "labelSelectorPath", &scale_path, errs);
    if !selector.is_empty() {
        let p = child(&scale_path, "labelSelectorPath");
        let path_errs = simple_json_path_errors(selector, &p);
        if !path_errs.is_empty() {
            errs.extend(path_errs);
        } else if !selector.starts_with(".spec.") && !selector.starts_with(".status.") {
            errs.push(invalid(
                &p,
                Bad::Str(selector),
                "should be a json path under either .spec or .status",
            ));
        }
    }
}

/// `ValidateCustomResourceColumnDefinition` (note Kubernetes names the path field `JSONPath`).
fn validate_column(c: &Value, path: &str, errs: &mut Vec<StatusCause>) {
    let Some(c) = c.as_object() else {
        type_error(errs, path, c, "object");
        return;
    };
    if str_at(c, "name", path, errs).is_empty() {
        errs.push(required(&child(path, "name"), ""));
    }
    let ty = str_at(c, "type", path, errs);
    let type_detail = format!("must be one of {PRINTER_COLUMN_TYPES}");
    if ty.is_empty() {
        errs.push(required(&child(path, "type"), &type_detail));
    } else if !PRINTER_COLUMN_TYPES.split(',').any(|t| t == ty) {
        errs.push(invalid(&child(path, "type"), Bad::Str(ty), &type_detail));
    }
    let format = str_at(c, "format", path, errs);
    if !format.is_empty() && !PRINTER_COLUMN_FORMATS.split(',').any(|f| f == format) {
        errs.push(invalid(
            &child(path, "format"),
            Bad::Str(format),
            &format!("must be one of {PRINTER_COLUMN_FORMATS}"),
        ));
    }
    let json_path = str_at(c, "jsonPath", path, errs);
    if json_path.is_empty() {
        errs.push(required(&child(path, "JSONPath"), ""));
    } else {
        errs.extend(simple_json_path_errors(json_path, &child(path, "JSONPath")));
    }
}

/// `validateCustomResourceConversion`, on the internal field layout
/// (`spec.conversion.webhookClientConfig`, `spec.conversion.conversionReviewVersions`).
fn validate_conversion(
    spec: &Map<String, Value>,
    preserve_unknown: bool,
    require_recognized: bool,
    errs: &mut Vec<StatusCause>,
) {
    let path = "spec.conversion";
    let defaulted;
    let conversion = match obj_at(spec, "conversion", "spec", errs) {
        Some(c) => c,
        None => {
            defaulted = Map::from_iter([("strategy".to_string(), json!("None"))]);
            &defaulted
        }
    };
    let strategy = str_at(conversion, "strategy", path, errs);
    if strategy != "None" && preserve_unknown {
        errs.push(invalid(
            &child(path, "strategy"),
            Bad::Str(strategy),
            "must be None if spec.preserveUnknownFields is true",
        ));
    }
    if strategy.is_empty() {
        errs.push(required(&child(path, "strategy"), ""));
    } else if strategy != "None" && strategy != "Webhook" {
        errs.push(not_supported(
            &child(path, "strategy"),
            Bad::Str(strategy),
            &["None".into(), "Webhook".into()],
        ));
    }
    let webhook = obj_at(conversion, "webhook", path, errs);
    let client_config = webhook
        .and_then(|w| w.get("clientConfig"))
        .filter(|c| !c.is_null());
    let review_versions = webhook
        .and_then(|w| w.get("conversionReviewVersions"))
        .and_then(Value::as_array);
    let cc_path = child(path, "webhookClientConfig");
    let rv_path = child(path, "conversionReviewVersions");
    if strategy == "Webhook" {
        match client_config.and_then(Value::as_object) {
            None => errs.push(required(
                &cc_path,
                "required when strategy is set to Webhook",
            )),
            Some(cc) => {
                let url = cc.get("url").and_then(Value::as_str);
                let service = cc.get("service").and_then(Value::as_object);
                match (url, service) {
                    (Some(u), None) => validate_webhook_url(u, &child(&cc_path, "url"), errs),
                    (None, Some(s)) => {
                        validate_webhook_service(s, &child(&cc_path, "service"), errs)
                    }
                    _ => errs.push(required(
                        &cc_path,
                        "exactly one of url or service is required",
                    )),
                }
            }
        }
        let versions: Vec<&str> = review_versions
            .map(|v| v.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if versions.is_empty() {
            errs.push(required(&rv_path, ""));
        } else {
            let mut seen: Vec<&str> = Vec::new();
            let mut recognized = false;
            for (i, v) in versions.iter().enumerate() {
                let p = index(&rv_path, i);
                if seen.contains(v) {
                    errs.push(invalid(&p, Bad::Str(v), "duplicate version"));
                    continue;
                }
                seen.push(v);
                for msg in is_dns1035_label(v) {
                    errs.push(invalid(&p, Bad::Str(v), &msg));
                }
                recognized |= matches!(*v, "v1" | "v1beta1");
            }
            if require_recognized && !recognized {
                let owned: Vec<String> = versions.iter().map(|s| s.to_string()).collect();
                errs.push(invalid(
                    &rv_path,
                    Bad::Raw(go_sharp_string_slice(Some(&owned))),
                    "must include at least one of v1, v1beta1",
                ));
            }
        }
    } else {
        if client_config.is_some() {
            errs.push(forbidden(
                &cc_path,
                "should not be set when strategy is not set to Webhook",
            ));
        }
        if review_versions.is_some_and(|v| !v.is_empty()) {
            errs.push(forbidden(
                &rv_path,
                "should not be set when strategy is not set to Webhook",
            ));
        }
    }
}

/// The essentials of `webhook.ValidateWebhookURL(path, url, forceHttps=true)`.
fn validate_webhook_url(url: &str, path: &str, errs: &mut Vec<StatusCause>) {
    const FORM: &str = "; desired format: https://host[/path]";
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let (before_fragment, fragment) = rest.split_once('#').unwrap_or((rest, ""));
    let (before_query, query) = before_fragment
        .split_once('?')
        .unwrap_or((before_fragment, ""));
    let authority = if url.contains("://") {
        before_query.split('/').next().unwrap_or("")
    } else {
        ""
    };
    let (user, host) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    if scheme != "https" {
        errs.push(invalid(
            path,
            Bad::Str(scheme),
            &format!("'https' is the only allowed URL scheme{FORM}"),
        ));
    }
    if host.is_empty() {
        errs.push(invalid(
            path,
            Bad::Str(host),
            &format!("host must be specified{FORM}"),
        ));
    }
    if let Some(user) = user {
        errs.push(invalid(
            path,
            Bad::Str(user),
            "user information is not permitted in the URL",
        ));
    }
    if !fragment.is_empty() {
        errs.push(invalid(
            path,
            Bad::Str(fragment),
            "fragments are not permitted in the URL",
        ));
    }
    if !query.is_empty() {
        errs.push(invalid(
            path,
            Bad::Str(query),
            "query parameters are not permitted in the URL",
        ));
    }
}

/// The essentials of `webhook.ValidateWebhookService`.
fn validate_webhook_service(svc: &Map<String, Value>, path: &str, errs: &mut Vec<StatusCause>) {
    if str_at(svc, "name", path, errs).is_empty() {
        errs.push(required(&child(path, "name"), "service name is required"));
    }
    if str_at(svc, "namespace", path, errs).is_empty() {
        errs.push(required(
            &child(path, "namespace"),
            "service namespace is required",
        ));
    }
    if let Some(port) = svc.get("port").and_then(Value::as_i64) {
        if !(1..=65535).contains(&port) {
            errs.push(invalid(
                &child(path, "port"),
                Bad::Int(port),
                "port is not valid: must be between 1 and 65535, inclusive",
            ));
        }
    }
    let p = str_at(svc, "path", path, errs);
    if !p.is_empty() && p != "/" && !p.starts_with('/') {
        errs.push(invalid(
            &child(path, "path"),
            Bad::Str(p),
            "must start with a '/'",
        ));
    }
}

/// Immutable fields on update (`validateCustomResourceDefinitionSpecUpdate`).
fn validate_spec_update(
    spec: &Map<String, Value>,
    names: &Map<String, Value>,
    group: &str,
    old: &Map<String, Value>,
    established: bool,
    errs: &mut Vec<StatusCause>,
) {
    let old_str = |m: Option<&Value>| m.and_then(Value::as_str).unwrap_or("").to_string();
    let mut immutable = |path: &str, new: &str, old: String| {
        if new != old {
            errs.push(invalid(path, Bad::Str(new), "field is immutable"));
        }
    };
    let scope = spec.get("scope").and_then(Value::as_str).unwrap_or("");
    let kind = names.get("kind").and_then(Value::as_str).unwrap_or("");
    let plural = names.get("plural").and_then(Value::as_str).unwrap_or("");
    if established {
        immutable("spec.scope", scope, old_str(old.get("scope")));
        immutable(
            "spec.names.kind",
            kind,
            old_str(old.get("names").and_then(|n| n.get("kind"))),
        );
    }
    immutable("spec.group", group, old_str(old.get("group")));
    immutable(
        "spec.names.plural",
        plural,
        old_str(old.get("names").and_then(|n| n.get("plural"))),
    );
}

/// `status.storedVersions` as the registry strategy computes it, then
/// `ValidateCustomResourceDefinitionStoredVersions`.
fn validate_stored_versions(spec: &Spec<'_>, old: Option<&Value>, errs: &mut Vec<StatusCause>) {
    let versions: &[Version<'_>] = spec.versions.as_deref().unwrap_or(&[]);
    let mut stored: Vec<String> = old
        .and_then(|o| o.pointer("/status/storedVersions"))
        .and_then(Value::as_array)
        .map(|v| {
            v.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if let Some(storage) = versions.iter().find(|v| v.storage) {
        if !stored.iter().any(|s| s == storage.name) {
            stored.push(storage.name.to_string());
        }
    }
    let path = "status.storedVersions";
    if stored.is_empty() {
        errs.push(invalid(
            path,
            Bad::Raw(go_sharp_string_slice(None)),
            "must have at least one stored version",
        ));
        return;
    }
    for v in versions {
        if v.storage && !stored.iter().any(|s| s == v.name) {
            errs.push(invalid(
                path,
                Bad::Raw(version_dump(v)),
                &format!("must have the storage version {}", v.name),
            ));
        }
    }
    for (i, s) in stored.iter().enumerate() {
        if !versions.iter().any(|v| v.name == s) {
            errs.push(invalid(
                &index(path, i),
                Bad::Str(s),
                "must appear in spec.versions",
            ));
        }
    }
}

#[derive(PartialEq, Eq)]
enum Approval {
    Missing,
    Bypassed,
    Approved,
    Invalid,
}

fn approval_state(meta: Option<&Map<String, Value>>) -> Approval {
    let Some(value) = meta
        .and_then(|m| m.get("annotations"))
        .and_then(|a| a.get(APPROVAL_ANNOTATION))
        .and_then(Value::as_str)
    else {
        return Approval::Missing;
    };
    if value.starts_with("unapproved") {
        return Approval::Bypassed;
    }
    // url.ParseRequestURI: an absolute URL or an absolute path, without spaces.
    let absolute_url = value.split_once("://").is_some_and(|(scheme, rest)| {
        !scheme.is_empty()
            && scheme
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
            && !rest.is_empty()
    });
    if (absolute_url || value.starts_with('/')) && !value.contains(' ') {
        Approval::Approved
    } else {
        Approval::Invalid
    }
}

/// `validateAPIApproval`: `*.k8s.io` / `*.kubernetes.io` groups need the approval annotation.
fn validate_api_approval(
    meta: &Map<String, Value>,
    group: &str,
    old: Option<&Value>,
    errs: &mut Vec<StatusCause>,
) {
    let protected = group == "k8s.io"
        || group == "kubernetes.io"
        || group.ends_with(".k8s.io")
        || group.ends_with(".kubernetes.io");
    if !protected {
        return;
    }
    let state = approval_state(Some(meta));
    if let Some(old) = old {
        if approval_state(old.get("metadata").and_then(Value::as_object)) == state {
            return;
        }
    }
    let path = key("metadata.annotations", APPROVAL_ANNOTATION);
    let value = meta
        .get("annotations")
        .and_then(|a| a.get(APPROVAL_ANNOTATION))
        .and_then(Value::as_str)
        .unwrap_or("");
    match state {
        Approval::Missing => errs.push(required(
            &path,
            r#"protected groups must have approval annotation "api-approved.kubernetes.io", see https://github.com/kubernetes/enhancements/pull/1111"#,
        )),
        Approval::Invalid => errs.push(invalid(
            &path,
            Bad::Str(value),
            r#"protected groups must have approval annotation "api-approved.kubernetes.io" with either a URL or a reason starting with "unapproved", see https://github.com/kubernetes/enhancements/pull/1111"#,
        )),
        Approval::Approved | Approval::Bypassed => {}
    }
}
