//! Validation of custom resources against a version's `openAPIV3Schema`.
//!
//! Contract: [`validate`] reproduces what kube-apiserver reports for a (defaulted, pruned)
//! custom resource, cause by cause:
//! 1. kube-openapi's schema validator as apiextensions-apiserver configures it
//!    (`ValidateCustomResource` + `kubeOpenAPIResultToFieldErrors`): `type` (with `nullable`,
//!    `format` quirks and `x-kubernetes-int-or-string` = `integer,string`), `allOf`/`anyOf`/
//!    `oneOf`/`not`, `maxLength`/`minLength`/`pattern`, `format` (unsupported formats ignored as
//!    Kubernetes strips them), `multipleOf`/`minimum`/`maximum` (+exclusive), `items`/
//!    `minItems`/`maxItems`/`uniqueItems`, `enum`, `minProperties`/`maxProperties`,
//!    `additionalProperties`, `properties`, `required` — in kube-openapi's order, with its
//!    messages (`spec.replicas in body must be of type integer: "string"`) wrapped into field
//!    errors (`Invalid value: "string": ...`, `Unsupported value`, `Required value`, `Too long`,
//!    `Too many`);
//! 2. embedded resources (`x-kubernetes-embedded-resource`, not the root): `apiVersion`/`kind`
//!    required and well formed, `metadata` name/generateName/namespace checks;
//! 3. `x-kubernetes-list-type: set|map` uniqueness (`Duplicate value`).
//!
//! The root's own `metadata` and `apiVersion`/`kind` matching the CRD are the server's generic
//! ObjectMeta/TypeMeta checks and are not done here; neither are CEL `x-kubernetes-validations`.
//! Properties are visited in schema order (Go visits maps randomly, so Kubernetes' order varies).
//! Nothing panics on malformed input; recursion deeper than `MAX_DEPTH` yields one cause.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::OnceLock;

use regex::Regex;
use serde_json::{Map, Number, Value};

use super::fielderr::{
    self, child, go_float, go_quote, index, invalid, json_text, key, not_supported, required,
    single_entry_map, too_long, too_many, Bad, Kind,
};
use super::keywords::{
    additional, array_kw, flag, int_kw, items, node, num_kw, properties, str_kw, Additional,
    X_EMBEDDED, X_INT_OR_STRING, X_LIST_MAP_KEYS, X_LIST_TYPE,
};
use super::MAX_DEPTH;
use crate::api::status::StatusCause;

/// Validates a whole custom resource against `schema`.
pub fn validate(schema: &Value, obj: &Value) -> Vec<StatusCause> {
    let mut out = Validator::new("").node(schema, obj, "", 0).errs;
    embedded_resources(Some(schema), obj, "", 0, &mut out);
    list_types(schema, obj, "", 0, &mut out);
    out
}

/// kube-openapi validation of an arbitrary value (a `default`), with every cause's field
/// prefixed by `base` the way `ValidateCustomResource(fldPath, ...)` does.
pub(crate) fn validate_value(schema: &Value, value: &Value, base: &str) -> Vec<StatusCause> {
    Validator::new(base).node(schema, value, "", 0).errs
}

/// The normalized (`-` removed) string formats Kubernetes keeps in CRD schemas; any other
/// format is stripped before validation and so never checked.
const SUPPORTED_STRING_FORMATS: [&str; 25] = [
    "bsonobjectid",
    "uri",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "cidr",
    "mac",
    "uuid",
    "uuid3",
    "uuid4",
    "uuid5",
    "isbn",
    "isbn10",
    "isbn13",
    "creditcard",
    "ssn",
    "hexcolor",
    "rgbcolor",
    "byte",
    "password",
    "date",
    "duration",
    "datetime",
    "quantity",
];

/// One kube-openapi `Result`: errors (deduplicated like `Result.AddErrors`) and the match count
/// used to pick the "best" failing `anyOf`/`oneOf` branch.
#[derive(Default)]
struct Res {
    errs: Vec<StatusCause>,
    seen: HashSet<(String, String)>,
    matches: usize,
}

impl Res {
    fn push(&mut self, c: StatusCause) {
        if self.seen.insert((c.field.clone(), c.message.clone())) {
            self.errs.push(c);
        }
    }

    fn merge(&mut self, other: Res) {
        for c in other.errs {
            self.push(c);
        }
        self.matches += other.matches;
    }

    fn inc(&mut self) {
        self.matches += 1;
    }

    fn valid(&self) -> bool {
        self.errs.is_empty()
    }
}

struct Validator {
    /// The field path every cause is relative to ("" for a whole resource).
    base: String,
    /// Compiled `pattern`s; a schema usually validates many values with the same pattern.
    regexes: RefCell<HashMap<String, Result<Regex, String>>>,
}

/// kube-openapi's (JSON type, format) of a decoded value.
fn json_type(v: &Value) -> (&'static str, &'static str) {
    match v {
        Value::Null => ("null", ""),
        Value::Bool(_) => ("boolean", ""),
        Value::String(_) => ("string", ""),
        // Kubernetes decodes integral JSON numbers to int64, everything else to float64.
        Value::Number(n) if n.as_i64().is_some() => ("integer", "int64"),
        Value::Number(_) => ("number", "float64"),
        Value::Array(_) => ("array", ""),
        Value::Object(_) => ("object", ""),
    }
}

/// The type list kube-openapi sees: int-or-string becomes `["integer", "string"]`.
fn types_of(s: &Map<String, Value>) -> Vec<&str> {
    if flag(s, X_INT_OR_STRING) {
        return vec!["integer", "string"];
    }
    match str_kw(s, "type") {
        Some(t) if !t.is_empty() => vec![t],
        _ => Vec::new(),
    }
}

/// The `format` left after `StripUnsupportedFormatsPostProcess`.
fn effective_format<'a>(s: &'a Map<String, Value>, types: &[&str]) -> &'a str {
    let f = str_kw(s, "format").unwrap_or("");
    if f.is_empty() {
        return "";
    }
    let single = if types.len() == 1 { types[0] } else { "" };
    let keep = match single {
        "" | "string" => SUPPORTED_STRING_FORMATS.contains(&f.replace('-', "").as_str()),
        "integer" => f == "int32" || f == "int64",
        "number" => f == "float" || f == "double",
        _ => false,
    };
    if keep {
        f
    } else {
        ""
    }
}

/// go-openapi's `swag.IsFloat64AJSONInteger`.
fn is_json_integer(f: f64) -> bool {
    if !f.is_finite() || !(-9_007_199_254_740_991.0..=9_007_199_254_740_991.0).contains(&f) {
        return false;
    }
    let diff = (f - f.trunc()).abs();
    diff == 0.0 || diff < 1e-9 || diff / f.abs() < 1e-9
}

impl Validator {
    fn new(base: &str) -> Self {
        Validator {
            base: base.to_string(),
            regexes: RefCell::new(HashMap::new()),
        }
    }

    /// The field path for a kube-openapi error name (`errPath.Child(TrimPrefix(name, "."))`).
    fn field(&self, name: &str) -> String {
        let n = if name == "." {
            ""
        } else {
            name.strip_prefix('.').unwrap_or(name)
        };
        if n.is_empty() {
            self.base.clone()
        } else if self.base.is_empty() {
            n.to_string()
        } else {
            format!("{}.{}", self.base, n)
        }
    }

    /// Errors that are not `*errors.Validation` (the junctor messages) land on the base path
    /// with an empty value.
    fn composite(&self, message: String) -> StatusCause {
        invalid(&self.base, Bad::Str(""), &message)
    }

    fn type_error(&self, path: &str, type_name: &str, actual: &str) -> StatusCause {
        let detail = format!(
            "{path} in body must be of type {type_name}: {}",
            go_quote(actual)
        );
        fielderr::cause(
            Kind::TypeInvalid,
            &self.field(path),
            Bad::Str(actual),
            &detail,
        )
    }

    /// kube-openapi's `SchemaValidator.Validate`.
    fn node(&self, s: &Value, data: &Value, path: &str, depth: usize) -> Res {
        let mut res = Res::default();
        let Some(s) = node(s) else { return res };
        if depth > MAX_DEPTH {
            res.push(invalid(
                &self.field(path),
                Bad::Str(""),
                "nesting exceeds the maximum depth kedge validates",
            ));
            return res;
        }
        let types = types_of(s);
        let format = effective_format(s, &types);
        let type_applies = !types.is_empty() || !format.is_empty();

        if data.is_null() {
            // Only the type and enum validators run for null.
            if let Some(c) = self.check_type(&types, s, format, data, path) {
                res.push(c);
            }
            self.check_enum(s, data, path, &mut res);
            return res;
        }

        if type_applies {
            if let Some(c) = self.check_type(&types, s, format, data, path) {
                res.push(c);
            }
            res.inc();
        }
        let junctors = self.check_junctors(s, data, path, depth);
        res.merge(junctors);
        res.inc();
        match data {
            Value::String(text) => {
                self.check_string(s, text, path, &mut res);
                res.inc();
                if !format.is_empty() {
                    self.check_format(format, text, path, &mut res);
                    res.inc();
                }
            }
            Value::Number(n) => {
                self.check_number(s, n, path, &mut res);
                res.inc();
            }
            Value::Array(list) => {
                self.check_array(s, list, path, depth, &mut res);
                res.inc();
            }
            _ => {}
        }
        self.check_enum(s, data, path, &mut res);
        res.inc();
        if let Value::Object(map) = data {
            self.check_object(s, map, path, depth, &mut res);
            res.inc();
        }
        res.inc();
        res
    }

    /// kube-openapi's `typeValidator`, including its format quirks.
    fn check_type(
        &self,
        types: &[&str],
        s: &Map<String, Value>,
        format: &str,
        data: &Value,
        path: &str,
    ) -> Option<StatusCause> {
        if data.is_null() {
            if !types.is_empty() && !types.contains(&"null") && !super::keywords::nullable(s) {
                return Some(self.type_error(path, &types.join(","), "null"));
            }
            return None;
        }
        let (st, fmt) = json_type(data);
        let has = |t: &str| types.contains(&t);
        let is_float_int =
            st == "number" && has("integer") && data.as_f64().is_some_and(is_json_integer);
        let is_int_float = st == "integer" && has("number");
        let string_or_slice = data.is_string() || data.is_array();
        // Non-string, non-array data against a formatted schema: the format may vouch for it.
        if !(string_or_slice
            || format.is_empty()
            || has(st)
            || fmt == format
            || is_float_int
            || is_int_float)
        {
            return Some(self.type_error(path, format, fmt));
        }
        // Strings and arrays against a formatted non-numeric schema are not type checked.
        if string_or_slice && !(has("number") || has("integer") || format.is_empty()) {
            return None;
        }
        if !(has(st) || is_float_int || is_int_float) {
            return Some(self.type_error(path, &types.join(","), st));
        }
        None
    }

    /// kube-openapi's `schemaPropsValidator`: anyOf, oneOf, allOf, not.
    fn check_junctors(
        &self,
        s: &Map<String, Value>,
        data: &Value,
        path: &str,
        depth: usize,
    ) -> Res {
        let mut main = Res::default();
        if let Some(any) = array_kw(s, "anyOf").filter(|a| !a.is_empty()) {
            let mut best: Option<Res> = None;
            let mut first_success: Option<Res> = None;
            for sub in any {
                let r = self.node(sub, data, path, depth + 1);
                if r.valid() {
                    best = None;
                    first_success = Some(r);
                    break;
                }
                if best.as_ref().is_none_or(|b| r.matches > b.matches) {
                    best = Some(r);
                }
            }
            if first_success.is_none() {
                main.push(self.composite(format!(
                    "{} must validate at least one schema (anyOf)",
                    go_quote(path)
                )));
            }
            if let Some(b) = best {
                main.merge(b);
            } else if let Some(f) = first_success {
                main.merge(f);
            }
        }
        if let Some(one) = array_kw(s, "oneOf").filter(|a| !a.is_empty()) {
            let mut best: Option<Res> = None;
            let mut first_success: Option<Res> = None;
            let mut validated = 0usize;
            for sub in one {
                let r = self.node(sub, data, path, depth + 1);
                if r.valid() {
                    validated += 1;
                    best = None;
                    if first_success.is_none() {
                        first_success = Some(r);
                    }
                    continue;
                }
                if validated == 0 && best.as_ref().is_none_or(|b| r.matches > b.matches) {
                    best = Some(r);
                }
            }
            if validated != 1 {
                let extra = if validated == 0 {
                    "Found none valid".to_string()
                } else {
                    format!("Found {validated} valid alternatives")
                };
                main.push(self.composite(format!(
                    "{} must validate one and only one schema (oneOf). {extra}",
                    go_quote(path)
                )));
                if let Some(b) = best {
                    main.merge(b);
                }
            } else if let Some(f) = first_success {
                main.merge(f);
            }
        }
        if let Some(all) = array_kw(s, "allOf").filter(|a| !a.is_empty()) {
            let mut validated = 0usize;
            for sub in all {
                let r = self.node(sub, data, path, depth + 1);
                if r.valid() {
                    validated += 1;
                }
                main.merge(r);
            }
            if validated != all.len() {
                let extra = if validated == 0 {
                    ". None validated"
                } else {
                    ""
                };
                main.push(self.composite(format!(
                    "{} must validate all the schemas (allOf){extra}",
                    go_quote(path)
                )));
            }
        }
        if let Some(not) = s.get("not").filter(|n| n.is_object()) {
            if self.node(not, data, path, depth + 1).valid() {
                main.push(self.composite(format!(
                    "{} must not validate the schema (not)",
                    go_quote(path)
                )));
            }
        }
        main.inc();
        main
    }

    /// kube-openapi's `stringValidator`: the first failing check wins.
    fn check_string(&self, s: &Map<String, Value>, text: &str, path: &str, res: &mut Res) {
        let len = text.chars().count() as i64;
        if let Some(max) = int_kw(s, "maxLength") {
            if len > max {
                res.push(too_long(&self.field(path), max));
                return;
            }
        }
        if let Some(min) = int_kw(s, "minLength") {
            if len < min {
                let detail = format!("{path} in body should be at least {min} chars long");
                res.push(invalid(&self.field(path), Bad::Str(text), &detail));
                return;
            }
        }
        if let Some(pattern) = str_kw(s, "pattern").filter(|p| !p.is_empty()) {
            let detail = match self.matches(pattern, text) {
                Ok(true) => return,
                Ok(false) => format!("{path} in body should match '{pattern}'"),
                Err(e) => {
                    format!("{path} in body should match '{pattern}, but pattern is invalid: {e}'")
                }
            };
            res.push(invalid(&self.field(path), Bad::Str(text), &detail));
        }
    }

    /// Whether `text` matches the Go `pattern` (compiled once per validator run).
    fn matches(&self, pattern: &str, text: &str) -> Result<bool, String> {
        let mut cache = self.regexes.borrow_mut();
        let entry = cache
            .entry(pattern.to_string())
            .or_insert_with(|| compile_go_regex(pattern));
        match entry {
            Ok(re) => Ok(re.is_match(text)),
            Err(e) => Err(e.clone()),
        }
    }

    fn check_format(&self, format: &str, text: &str, path: &str, res: &mut Res) {
        if !format_ok(&format.replace('-', ""), text) {
            let detail = format!(
                "{path} in body must be of type {format}: {}",
                go_quote(text)
            );
            res.push(fielderr::cause(
                Kind::TypeInvalid,
                &self.field(path),
                Bad::Str(text),
                &detail,
            ));
        }
    }

    /// kube-openapi's `numberValidator`: multipleOf, minimum, maximum (in that order). int64
    /// values are compared against the bound truncated to int64, float64 values against the bound.
    fn check_number(&self, s: &Map<String, Value>, n: &Number, path: &str, res: &mut Res) {
        let field = self.field(path);
        let value = Value::Number(n.clone());
        let int = n.as_i64();
        let float = n.as_f64().unwrap_or(0.0);
        if let Some(factor) = num_kw(s, "multipleOf") {
            match int {
                Some(i) => {
                    let f = factor as i64;
                    if f < 0 {
                        let detail =
                            format!("factor MultipleOf declared for {path} must be positive: {f}");
                        res.push(invalid(&field, Bad::Int(f), &detail));
                    } else if f != 0 && i % f != 0 {
                        let detail = format!("{path} in body should be a multiple of {f}");
                        res.push(invalid(&field, Bad::Int(i), &detail));
                    }
                }
                None => {
                    if factor < 0.0 {
                        let detail = format!(
                            "factor MultipleOf declared for {path} must be positive: {}",
                            go_float(factor)
                        );
                        let fv = Number::from_f64(factor)
                            .map(Value::Number)
                            .unwrap_or(Value::Null);
                        res.push(invalid(&field, Bad::Json(&fv), &detail));
                    } else if factor > 0.0 {
                        let mult = if factor < 1.0 {
                            1.0 / factor * float
                        } else {
                            float / factor
                        };
                        if !is_json_integer(mult) {
                            let detail = format!(
                                "{path} in body should be a multiple of {}",
                                go_float(factor)
                            );
                            res.push(invalid(&field, Bad::Json(&value), &detail));
                        }
                    }
                }
            }
        }
        if let Some(min) = num_kw(s, "minimum") {
            let exclusive = flag(s, "exclusiveMinimum");
            let (fails, bound) = match int {
                Some(i) => {
                    let m = min as i64;
                    (
                        (!exclusive && i < m) || (exclusive && i <= m),
                        m.to_string(),
                    )
                }
                None => (
                    (!exclusive && float < min) || (exclusive && float <= min),
                    go_float(min),
                ),
            };
            if fails {
                let op = if exclusive {
                    "greater than"
                } else {
                    "greater than or equal to"
                };
                let detail = format!("{path} in body should be {op} {bound}");
                res.push(invalid(&field, Bad::Json(&value), &detail));
            }
        }
        if let Some(max) = num_kw(s, "maximum") {
            let exclusive = flag(s, "exclusiveMaximum");
            let (fails, bound) = match int {
                Some(i) => {
                    let m = max as i64;
                    (
                        (!exclusive && i > m) || (exclusive && i >= m),
                        m.to_string(),
                    )
                }
                None => (
                    (!exclusive && float > max) || (exclusive && float >= max),
                    go_float(max),
                ),
            };
            if fails {
                let op = if exclusive {
                    "less than"
                } else {
                    "less than or equal to"
                };
                let detail = format!("{path} in body should be {op} {bound}");
                res.push(invalid(&field, Bad::Json(&value), &detail));
            }
        }
    }

    /// kube-openapi's `schemaSliceValidator`: items first, then minItems, maxItems, uniqueItems.
    fn check_array(
        &self,
        s: &Map<String, Value>,
        list: &[Value],
        path: &str,
        depth: usize,
        res: &mut Res,
    ) {
        match s.get("items") {
            Some(item_schema @ Value::Object(_)) => {
                for (i, v) in list.iter().enumerate() {
                    let r = self.node(item_schema, v, &format!("{path}[{i}]"), depth + 1);
                    res.merge(r);
                }
            }
            // Positional items (not structural, rejected in CRDs, but validated if present).
            Some(Value::Array(schemas)) => {
                for (i, (sub, v)) in schemas.iter().zip(list.iter()).enumerate() {
                    let r = self.node(sub, v, &format!("{path}[{i}]"), depth + 1);
                    res.merge(r);
                }
            }
            _ => {}
        }
        let size = list.len() as i64;
        let field = self.field(path);
        if let Some(min) = int_kw(s, "minItems") {
            if size < min {
                let detail = format!("{path} in body should have at least {min} items");
                res.push(invalid(&field, Bad::Int(size), &detail));
            }
        }
        if let Some(max) = int_kw(s, "maxItems") {
            if size > max {
                res.push(too_many(&field, size, max));
            }
        }
        if flag(s, "uniqueItems") {
            let mut seen = HashSet::new();
            if !list.iter().all(|v| seen.insert(deep_key(v, 0))) {
                let detail = format!("{path} in body shouldn't contain duplicates");
                res.push(invalid(&field, Bad::Str(""), &detail));
            }
        }
    }

    /// kube-openapi's `basicCommonValidator` (enum), with Go's reflect conversions.
    fn check_enum(&self, s: &Map<String, Value>, data: &Value, path: &str, res: &mut Res) {
        let Some(allowed) = array_kw(s, "enum").filter(|e| !e.is_empty()) else {
            return;
        };
        if !data.is_null() && allowed.iter().any(|e| enum_matches(data, e)) {
            return;
        }
        let values: Vec<String> = allowed
            .iter()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => json_text(other),
            })
            .collect();
        res.push(not_supported(&self.field(path), Bad::Json(data), &values));
    }

    /// kube-openapi's `objectValidator`.
    fn check_object(
        &self,
        s: &Map<String, Value>,
        map: &Map<String, Value>,
        path: &str,
        depth: usize,
        res: &mut Res,
    ) {
        let count = map.len() as i64;
        if let Some(min) = int_kw(s, "minProperties") {
            if count < min {
                let detail = format!("{path} in body should have at least {min} properties");
                res.push(invalid(&self.field(path), Bad::Int(count), &detail));
                return;
            }
        }
        if let Some(max) = int_kw(s, "maxProperties") {
            if count > max {
                res.push(too_many(&self.field(path), count, max));
                return;
            }
        }
        let props = properties(s);
        let declared = |k: &str| props.is_some_and(|p| p.contains_key(k));
        match additional(s) {
            Additional::Bool(false) => {
                for k in map.keys().filter(|k| !declared(k)) {
                    let detail = format!("{path}.{k} in body is a forbidden property");
                    res.push(invalid(&self.field(path), Bad::Str(k), &detail));
                }
            }
            Additional::Schema(add) => {
                for (k, v) in map.iter().filter(|(k, _)| !declared(k)) {
                    let r = self.node(add, v, &format!("{path}.{k}"), depth + 1);
                    res.merge(r);
                }
            }
            Additional::Bool(true) | Additional::Absent => {}
        }
        if let Some(props) = props {
            for (name, ps) in props {
                if let Some(v) = map.get(name) {
                    let sub = if path.is_empty() {
                        name.clone()
                    } else {
                        format!("{path}.{name}")
                    };
                    let r = self.node(ps, v, &sub, depth + 1);
                    res.merge(r);
                }
            }
        }
        if let Some(req) = array_kw(s, "required") {
            for k in req.iter().filter_map(Value::as_str) {
                if !map.contains_key(k) {
                    res.push(required(&self.field(&format!("{path}.{k}")), ""));
                }
            }
        }
    }
}

/// A hashable identity with Go `reflect.DeepEqual` semantics on decoded JSON: int64 and float64
/// differ, map order does not matter.
fn deep_key(v: &Value, depth: usize) -> String {
    if depth > MAX_DEPTH {
        return String::from("…");
    }
    match v {
        Value::Null => "n".to_string(),
        Value::Bool(b) => format!("b{b}"),
        Value::Number(n) => match n.as_i64() {
            Some(i) => format!("i{i}"),
            None => format!("f{}", n.as_f64().unwrap_or(f64::NAN).to_bits()),
        },
        Value::String(s) => format!("s{}", go_quote(s)),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(|i| deep_key(i, depth + 1)).collect();
            format!("a[{}]", inner.join(","))
        }
        Value::Object(map) => {
            let mut entries: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}:{}", go_quote(k), deep_key(v, depth + 1)))
                .collect();
            entries.sort();
            format!("o{{{}}}", entries.join(","))
        }
    }
}

/// Whether `data` equals the enum value `e` the way kube-openapi checks it: `data` is converted
/// to the enum value's Go type when convertible (float64 <-> int64 truncating, int64 -> string as
/// a rune) and then compared with `reflect.DeepEqual`.
fn enum_matches(data: &Value, e: &Value) -> bool {
    match (data, e) {
        (_, Value::Null) => false,
        (Value::Number(d), Value::Number(ev)) => match ev.as_i64() {
            Some(ei) => {
                let di = match d.as_i64() {
                    Some(i) => i,
                    None => d.as_f64().map_or(i64::MIN, |f| f as i64),
                };
                di == ei
            }
            None => d.as_f64() == ev.as_f64(),
        },
        (Value::Number(d), Value::String(es)) => match d.as_i64() {
            Some(i) => {
                let c = u32::try_from(i)
                    .ok()
                    .and_then(char::from_u32)
                    .unwrap_or('\u{fffd}');
                c.to_string() == *es
            }
            None => false,
        },
        _ => deep_key(data, 0) == deep_key(e, 0),
    }
}

// ---------------------------------------------------------------------------------------------
// Go regexp compatibility
// ---------------------------------------------------------------------------------------------

/// Rewrites a Go RE2 pattern for the `regex` crate: Go's `\d`, `\w`, `\s` (and negations) are
/// ASCII-only while the crate's are Unicode-aware, so they are spelled out as ASCII classes.
pub(crate) fn go_regex_to_rust(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e @ ('d' | 'D' | 'w' | 'W' | 's' | 'S')) => {
                    let ascii = match (e, in_class) {
                        ('d', false) => "[0-9]",
                        ('D', false) => "[^0-9]",
                        ('w', false) => "[0-9A-Za-z_]",
                        ('W', false) => "[^0-9A-Za-z_]",
                        ('s', false) => "[\\t\\n\\f\\r ]",
                        ('S', false) => "[^\\t\\n\\f\\r ]",
                        ('d', true) => "0-9",
                        ('w', true) => "0-9A-Za-z_",
                        ('s', true) => "\\t\\n\\f\\r ",
                        ('D', true) => "[:^digit:]",
                        ('W', true) => "[:^word:]",
                        _ => "\\S",
                    };
                    out.push_str(ascii);
                }
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            },
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    chars.next();
                    out.push('^');
                }
                // A `]` right after the opening bracket is a literal in RE2.
                if chars.peek() == Some(&']') {
                    chars.next();
                    out.push_str("\\]");
                }
            }
            '[' => {
                if chars.peek() == Some(&':') {
                    // POSIX class like [:alpha:]: copy through its closing ":]".
                    out.push('[');
                    let mut prev = '[';
                    for c2 in chars.by_ref() {
                        out.push(c2);
                        if prev == ':' && c2 == ']' {
                            break;
                        }
                        prev = c2;
                    }
                } else {
                    out.push_str("\\[");
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            _ => out.push(c),
        }
    }
    out
}

/// Compiles a Go pattern; the error text is what the CRD validator reports.
pub(crate) fn compile_go_regex(pattern: &str) -> Result<Regex, String> {
    regex::RegexBuilder::new(&go_regex_to_rust(pattern))
        .size_limit(1 << 22)
        .build()
        .map_err(|e| {
            format!(
                "error parsing regexp: {}",
                e.to_string()
                    .lines()
                    .last()
                    .unwrap_or("invalid pattern")
                    .trim()
            )
        })
}

// ---------------------------------------------------------------------------------------------
// Formats (kube-openapi strfmt)
// ---------------------------------------------------------------------------------------------

fn cached(cell: &'static OnceLock<Option<Regex>>, pattern: &str) -> Option<&'static Regex> {
    cell.get_or_init(|| Regex::new(pattern).ok()).as_ref()
}

// `is_multiple_of` would need Rust 1.87; the project's MSRV is 1.85.
#[allow(clippy::manual_is_multiple_of)]
fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

/// Go's `time.Parse("2006-01-02", s)`.
fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        s.get(r)
            .filter(|p| p.bytes().all(|c| c.is_ascii_digit()))
            .and_then(|p| p.parse().ok())
    };
    match (digits(0..4), digits(5..7), digits(8..10)) {
        (Some(y), Some(m), Some(d)) => (1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m),
        _ => false,
    }
}

/// strfmt's `IsDateTime`: a full date, a `t`, then `hh:mm:ss[.frac](z|±hh:mm)`.
fn is_date_time(s: &str) -> bool {
    static RX: OnceLock<Option<Regex>> = OnceLock::new();
    if s.len() < 4 {
        return false;
    }
    let lower = s.to_lowercase();
    let parts: Vec<&str> = lower.split('t').collect();
    if parts.len() < 2 || !is_date(parts[0]) {
        return false;
    }
    let Some(rx) = cached(
        &RX,
        r"^([0-9]{2}):([0-9]{2}):([0-9]{2})(.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))$",
    ) else {
        return false;
    };
    match rx.captures(parts[1]) {
        Some(c) => {
            let g = |i: usize| c.get(i).map_or("", |m| m.as_str());
            g(1) <= "23" && g(2) <= "59" && g(3) <= "59"
        }
        None => false,
    }
}

fn is_uuid(kind: &str, s: &str) -> bool {
    static ANY: OnceLock<Option<Regex>> = OnceLock::new();
    static V3: OnceLock<Option<Regex>> = OnceLock::new();
    static V4: OnceLock<Option<Regex>> = OnceLock::new();
    static V5: OnceLock<Option<Regex>> = OnceLock::new();
    let rx = match kind {
        "uuid3" => cached(
            &V3,
            r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?3[0-9a-f]{3}-?[0-9a-f]{4}-?[0-9a-f]{12}$",
        ),
        "uuid4" => cached(
            &V4,
            r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?4[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$",
        ),
        "uuid5" => cached(
            &V5,
            r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?5[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$",
        ),
        _ => cached(
            &ANY,
            r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$",
        ),
    };
    rx.is_some_and(|r| r.is_match(s))
}

fn is_cidr(s: &str) -> bool {
    let Some((ip, bits)) = s.split_once('/') else {
        return false;
    };
    let Ok(ip) = ip.parse::<IpAddr>() else {
        return false;
    };
    if bits.is_empty() || !bits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let max = if ip.is_ipv4() { 32 } else { 128 };
    bits.parse::<u32>().is_ok_and(|b| b <= max)
}

/// Go's `net.ParseMAC`: 6, 8 or 20 octets separated by `:` or `-`, or dotted groups of four.
fn is_mac(s: &str) -> bool {
    let hex = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit());
    let octets_ok = |n: usize| matches!(n, 6 | 8 | 20);
    for sep in [':', '-'] {
        if s.contains(sep) {
            let parts: Vec<&str> = s.split(sep).collect();
            return octets_ok(parts.len()) && parts.iter().all(|p| hex(p, 2));
        }
    }
    if s.contains('.') {
        let parts: Vec<&str> = s.split('.').collect();
        return octets_ok(parts.len() * 2) && parts.iter().all(|p| hex(p, 4));
    }
    false
}

fn is_hostname(s: &str) -> bool {
    static RX: OnceLock<Option<Regex>> = OnceLock::new();
    let pattern = r"^([a-zA-Z0-9\p{S}\p{L}]((-?[a-zA-Z0-9\p{S}\p{L}]{0,62})?)|([a-zA-Z0-9\p{S}\p{L}](([a-zA-Z0-9-\p{S}\p{L}]{0,61}[a-zA-Z0-9\p{S}\p{L}])?)(\.)){1,}([a-zA-Z0-9\p{S}\p{L}])(-?[a-zA-Z0-9\p{S}\p{L}]){1,62})$";
    cached(&RX, pattern).is_some_and(|r| r.is_match(s))
        && s.len() <= 255
        && s.split('.').all(|p| p.len() <= 63)
}

fn is_base64(s: &str) -> bool {
    static RX: OnceLock<Option<Regex>> = OnceLock::new();
    let pattern =
        r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})$";
    cached(&RX, pattern).is_some_and(|r| r.is_match(s))
}

/// Format checks for the formats kedge implements; the rest of Kubernetes' supported formats
/// (uri, email, isbn, creditcard, ssn, rgbcolor, bsonobjectid, duration, quantity) are accepted.
fn format_ok(normalized: &str, s: &str) -> bool {
    match normalized {
        "datetime" => is_date_time(s),
        "date" => is_date(s),
        "uuid" | "uuid3" | "uuid4" | "uuid5" => is_uuid(normalized, s),
        "ipv4" => s.parse::<IpAddr>().is_ok() && s.contains('.'),
        "ipv6" => s.parse::<IpAddr>().is_ok() && s.contains(':'),
        "cidr" => is_cidr(s),
        "mac" => is_mac(s),
        "hostname" => is_hostname(s),
        "byte" => is_base64(s),
        "hexcolor" => {
            let h = s.strip_prefix('#').unwrap_or(s);
            (h.len() == 3 || h.len() == 6) && h.bytes().all(|b| b.is_ascii_hexdigit())
        }
        _ => true,
    }
}

// ---------------------------------------------------------------------------------------------
// Embedded resources (objectmeta.Validate with isResourceRoot=false)
// ---------------------------------------------------------------------------------------------

fn embedded_resources(
    s: Option<&Value>,
    x: &Value,
    path: &str,
    depth: usize,
    out: &mut Vec<StatusCause>,
) {
    if depth > MAX_DEPTH {
        return;
    }
    let Some(so) = s.and_then(node) else { return };
    match x {
        Value::Object(map) => {
            // The root's own metadata is the server's generic ObjectMeta validation.
            if depth > 0 && flag(so, X_EMBEDDED) {
                embedded_resource(path, map, out);
            }
            let props = properties(so);
            let add = additional(so);
            for (k, v) in map {
                if let Some(ps) = props.and_then(|p| p.get(k)) {
                    embedded_resources(Some(ps), v, &child(path, k), depth + 1, out);
                } else if add.present() {
                    embedded_resources(add.schema(), v, &key(path, k), depth + 1, out);
                }
            }
        }
        Value::Array(list) => {
            for (i, v) in list.iter().enumerate() {
                embedded_resources(items(so), v, &index(path, i), depth + 1, out);
            }
        }
        _ => {}
    }
}

fn embedded_resource(path: &str, map: &Map<String, Value>, out: &mut Vec<StatusCause>) {
    if !map.contains_key("apiVersion") {
        out.push(required(&child(path, "apiVersion"), ""));
    }
    if !map.contains_key("kind") {
        out.push(required(&child(path, "kind"), ""));
    }
    for (k, v) in map {
        match k.as_str() {
            "apiVersion" => {
                let f = child(path, "apiVersion");
                match v.as_str() {
                    None => out.push(invalid(&f, Bad::Json(v), "must be a string")),
                    Some("") => out.push(required(&f, "")),
                    Some(av) if av != "/" && av.matches('/').count() > 1 => {
                        out.push(invalid(
                            &f,
                            Bad::Str(av),
                            &format!("unexpected GroupVersion string: {av}"),
                        ));
                    }
                    Some(_) => {}
                }
            }
            "kind" => {
                let f = child(path, "kind");
                match v.as_str() {
                    None => out.push(invalid(&f, Bad::Json(v), "must be a string")),
                    Some("") => out.push(required(&f, "")),
                    Some(kind) => {
                        let errs = fielderr::is_dns1035_label(&kind.to_lowercase());
                        if !errs.is_empty() {
                            let detail = format!(
                                "may have mixed case, but should otherwise match: {}",
                                errs.join(",")
                            );
                            out.push(invalid(&f, Bad::Str(kind), &detail));
                        }
                    }
                }
            }
            "metadata" => embedded_metadata(&child(path, "metadata"), v, out),
            _ => {}
        }
    }
}

/// The parts of `ValidateObjectMeta` (with `ValidatePathSegmentName`) that apply to embedded
/// metadata: name, generateName and namespace syntax.
fn embedded_metadata(path: &str, v: &Value, out: &mut Vec<StatusCause>) {
    let Some(meta) = v.as_object() else {
        out.push(invalid(path, Bad::Json(v), "must be an object"));
        return;
    };
    for (k, want) in [
        ("name", "string"),
        ("generateName", "string"),
        ("namespace", "string"),
    ] {
        if let Some(fv) = meta.get(k) {
            if !fv.is_string() && !fv.is_null() {
                out.push(invalid(
                    path,
                    Bad::Json(v),
                    &format!("metadata.{k} must be a {want}"),
                ));
                return;
            }
        }
    }
    let get = |k: &str| meta.get(k).and_then(Value::as_str).unwrap_or("");
    let generate_name = get("generateName");
    if !generate_name.is_empty() {
        for msg in fielderr::is_path_segment_name(generate_name, true) {
            out.push(invalid(
                &child(path, "generateName"),
                Bad::Str(generate_name),
                &msg,
            ));
        }
    }
    // Kubernetes substitutes "fakename" for an empty name here.
    let name = match get("name") {
        "" => "fakename",
        n => n,
    };
    for msg in fielderr::is_path_segment_name(name, false) {
        out.push(invalid(&child(path, "name"), Bad::Str(name), &msg));
    }
    let namespace = get("namespace");
    if !namespace.is_empty() {
        for msg in fielderr::is_dns1123_label(namespace) {
            out.push(invalid(
                &child(path, "namespace"),
                Bad::Str(namespace),
                &msg,
            ));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// x-kubernetes-list-type (listtype.ValidateListSetsAndMaps)
// ---------------------------------------------------------------------------------------------

fn list_types(s: &Value, x: &Value, path: &str, depth: usize, out: &mut Vec<StatusCause>) {
    if let (Some(so), Value::Object(map)) = (node(s), x) {
        list_types_object(so, map, path, depth, out);
    }
}

fn list_types_object(
    so: &Map<String, Value>,
    map: &Map<String, Value>,
    path: &str,
    depth: usize,
    out: &mut Vec<StatusCause>,
) {
    if depth > MAX_DEPTH {
        return;
    }
    if let Some(add) = additional(so).schema() {
        for (k, v) in map {
            list_types_value(add, v, &key(path, k), depth + 1, out);
        }
    }
    if let Some(props) = properties(so) {
        for (k, v) in map {
            if let Some(ps) = props.get(k) {
                list_types_value(ps, v, &child(path, k), depth + 1, out);
            }
        }
    }
}

fn list_types_value(s: &Value, v: &Value, path: &str, depth: usize, out: &mut Vec<StatusCause>) {
    let Some(so) = node(s) else { return };
    match v {
        Value::Array(list) => list_types_array(so, list, path, depth, out),
        Value::Object(map) => list_types_object(so, map, path, depth, out),
        _ => {}
    }
}

fn list_types_array(
    so: &Map<String, Value>,
    list: &[Value],
    path: &str,
    depth: usize,
    out: &mut Vec<StatusCause>,
) {
    if depth > MAX_DEPTH {
        return;
    }
    match str_kw(so, X_LIST_TYPE) {
        Some("set") => {
            let keys: Vec<String> = list.iter().map(set_key).collect();
            for i in duplicate_indices(&keys) {
                out.push(fielderr::cause(
                    Kind::Duplicate,
                    &index(path, i),
                    Bad::Json(&list[i]),
                    "",
                ));
            }
        }
        Some("map") => list_map(so, list, path, out),
        _ => {}
    }
    if let Some(item_schema) = items(so) {
        for (i, v) in list.iter().enumerate() {
            list_types_value(item_schema, v, &index(path, i), depth + 1, out);
        }
    }
}

/// Identity used by `validateListSet`: scalars by Go `==` on interface values, compounds by
/// their JSON encoding (where 1 and 1.0 coincide).
fn set_key(v: &Value) -> String {
    match v {
        Value::Object(_) | Value::Array(_) => format!("c{}", canonical_json(v, 0)),
        other => deep_key(other, 0),
    }
}

fn canonical_json(v: &Value, depth: usize) -> String {
    if depth > MAX_DEPTH {
        return String::new();
    }
    match v {
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 1e21 => format!("{f:.0}"),
            _ => n.to_string(),
        },
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(|i| canonical_json(i, depth + 1)).collect();
            format!("[{}]", inner.join(","))
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let inner: Vec<String> = keys
                .iter()
                .map(|k| {
                    format!(
                        "{}:{}",
                        json_text(&Value::String((*k).clone())),
                        map.get(k.as_str())
                            .map_or(String::new(), |x| canonical_json(x, depth + 1))
                    )
                })
                .collect();
            format!("{{{}}}", inner.join(","))
        }
        other => json_text(other),
    }
}

/// The index of each value's *second* occurrence (later repeats are not reported again).
fn duplicate_indices(keys: &[String]) -> Vec<usize> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut dups = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        let times = seen.entry(k.as_str()).or_insert(0);
        *times += 1;
        if *times == 2 {
            dups.push(i);
        }
    }
    dups
}

fn list_map(so: &Map<String, Value>, list: &[Value], path: &str, out: &mut Vec<StatusCause>) {
    for (i, x) in list.iter().enumerate() {
        if !x.is_null() && !x.is_object() {
            out.push(invalid(
                &index(path, i),
                Bad::Json(x),
                "must be an object for an array of list-type map",
            ));
            return;
        }
    }
    if list.len() <= 1 {
        return;
    }
    let key_fields: Vec<&str> = array_kw(so, X_LIST_MAP_KEYS)
        .map(|k| k.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if key_fields.len() == 1 {
        let field = key_fields[0];
        let keys: Vec<Option<&Value>> = list
            .iter()
            .map(|x| x.as_object().and_then(|m| m.get(field)))
            .collect();
        // An item without the key field (or a null item) is its own distinct "unspecified" key.
        let ids: Vec<String> = keys
            .iter()
            .map(|k| k.map_or_else(|| "u".to_string(), set_key))
            .collect();
        for i in duplicate_indices(&ids) {
            let shown = match keys[i] {
                Some(k) => single_entry_map(field, k),
                None => Value::Object(Map::new()),
            };
            out.push(fielderr::cause(
                Kind::Duplicate,
                &index(path, i),
                Bad::Json(&shown),
                "",
            ));
        }
        return;
    }
    let key_maps: Vec<Value> = list
        .iter()
        .map(|x| {
            let mut m = Map::new();
            if let Some(obj) = x.as_object() {
                for f in &key_fields {
                    if let Some(v) = obj.get(*f) {
                        m.insert((*f).to_string(), v.clone());
                    }
                }
            }
            Value::Object(m)
        })
        .collect();
    let ids: Vec<String> = key_maps.iter().map(set_key).collect();
    for i in duplicate_indices(&ids) {
        out.push(fielderr::cause(
            Kind::Duplicate,
            &index(path, i),
            Bad::Json(&key_maps[i]),
            "",
        ));
    }
}
