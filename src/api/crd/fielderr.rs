//! Kubernetes `field.Error` compatibility: cause reasons, `ErrorBody` texts, field paths and
//! Go-style value printing, so the causes kedge returns read byte for byte like kube-apiserver's.
//!
//! Contract: [`cause`] builds a [`StatusCause`] whose `message` is exactly what Go's
//! `(*field.Error).ErrorBody()` prints (`Invalid value: "x": detail`) and whose `reason` is the
//! `field.ErrorType` string (`FieldValueInvalid`, ...). Values are rendered the way Go's `fmt`
//! renders the dynamic types Kubernetes puts there: `%q` for strings, `%v` for int64, float64
//! and bool, `%#v` for maps and slices. [`error_string`] gives the `field: body` form used in the
//! top-level `Status.message`. The DNS and qualified-name checks are apimachinery's, re-exported
//! from [`crate::api::validation::names`], their single implementation.

use std::fmt::Write as _;

use serde_json::{Map, Value};

use crate::api::status::StatusCause;

/// `field.ErrorType`s the CRD code emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Required,
    Invalid,
    TypeInvalid,
    NotSupported,
    Forbidden,
    TooLong,
    TooMany,
    Duplicate,
}

impl Kind {
    fn reason(self) -> &'static str {
        match self {
            Kind::Required => "FieldValueRequired",
            Kind::Invalid => "FieldValueInvalid",
            Kind::TypeInvalid => "FieldValueTypeInvalid",
            Kind::NotSupported => "FieldValueNotSupported",
            Kind::Forbidden => "FieldValueForbidden",
            Kind::TooLong => "FieldValueTooLong",
            Kind::TooMany => "FieldValueTooMany",
            Kind::Duplicate => "FieldValueDuplicate",
        }
    }

    fn text(self) -> &'static str {
        match self {
            Kind::Required => "Required value",
            Kind::Invalid | Kind::TypeInvalid => "Invalid value",
            Kind::NotSupported => "Unsupported value",
            Kind::Forbidden => "Forbidden",
            Kind::TooLong => "Too long",
            Kind::TooMany => "Too many",
            Kind::Duplicate => "Duplicate value",
        }
    }
}

/// The `BadValue` of a field error, typed the way Go would have it.
pub(crate) enum Bad<'a> {
    /// No value is printed (Go's `omitValue`).
    Omit,
    /// A Go `string`: printed with `%q`.
    Str(&'a str),
    /// A Go `int`/`int64`: printed as a plain number.
    Int(i64),
    /// A Go `bool`.
    Bool(bool),
    /// A decoded JSON value (`interface{}` in Go).
    Json(&'a Value),
    /// An already rendered Go `%#v` dump (typed Kubernetes structs).
    Raw(String),
}

/// Builds one cause exactly as `metav1.StatusCause{Type, Message: err.ErrorBody(), Field}`.
pub(crate) fn cause(kind: Kind, field: &str, bad: Bad<'_>, detail: &str) -> StatusCause {
    let mut message = String::from(kind.text());
    // Go prints no value for these types whatever BadValue holds.
    let shows_value = !matches!(kind, Kind::Required | Kind::Forbidden | Kind::TooLong);
    if shows_value && !matches!(bad, Bad::Omit) {
        message.push_str(": ");
        message.push_str(&render(&bad));
    }
    if !detail.is_empty() {
        message.push_str(": ");
        message.push_str(detail);
    }
    StatusCause {
        reason: kind.reason().to_string(),
        message,
        field: field.to_string(),
    }
}

pub(crate) fn required(field: &str, detail: &str) -> StatusCause {
    cause(Kind::Required, field, Bad::Omit, detail)
}

pub(crate) fn forbidden(field: &str, detail: &str) -> StatusCause {
    cause(Kind::Forbidden, field, Bad::Omit, detail)
}

pub(crate) fn invalid(field: &str, bad: Bad<'_>, detail: &str) -> StatusCause {
    cause(Kind::Invalid, field, bad, detail)
}

/// `field.NotSupported`: the allowed values are Go-quoted and comma separated.
pub(crate) fn not_supported(field: &str, bad: Bad<'_>, allowed: &[String]) -> StatusCause {
    let detail = if allowed.is_empty() {
        String::new()
    } else {
        let quoted: Vec<String> = allowed.iter().map(|v| go_quote(v)).collect();
        format!("supported values: {}", quoted.join(", "))
    };
    cause(Kind::NotSupported, field, bad, &detail)
}

/// `field.TooLong` as of Kubernetes 1.32+: the value is never shown.
pub(crate) fn too_long(field: &str, max: i64) -> StatusCause {
    let detail = if max >= 0 {
        format!(
            "may not be more than {} {}",
            max,
            if max == 1 { "byte" } else { "bytes" }
        )
    } else {
        "value is too long".to_string()
    };
    cause(Kind::TooLong, field, Bad::Omit, &detail)
}

/// `field.TooMany`: the actual count is shown as a Go `int`.
pub(crate) fn too_many(field: &str, actual: i64, max: i64) -> StatusCause {
    let detail = if max >= 0 {
        format!(
            "must have at most {} {}",
            max,
            if max == 1 { "item" } else { "items" }
        )
    } else {
        "has too many items".to_string()
    };
    let bad = if actual >= 0 {
        Bad::Int(actual)
    } else {
        Bad::Omit
    };
    cause(Kind::TooMany, field, bad, &detail)
}

/// `field.Error.Error()`: `<field>: <body>`, the form joined into `Status.message`.
pub fn error_string(cause: &StatusCause) -> String {
    format!("{}: {}", cause.field, cause.message)
}

// ---------------------------------------------------------------------------------------------
// field.Path rendering
// ---------------------------------------------------------------------------------------------

/// `Path.Child(name)`: dot-joined, no leading dot at the root.
pub(crate) fn child(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

/// `Path.Key(key)`: `path[key]`, unquoted like Go does.
pub(crate) fn key(path: &str, k: &str) -> String {
    format!("{path}[{k}]")
}

/// `Path.Index(i)`.
pub(crate) fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

// ---------------------------------------------------------------------------------------------
// Go value printing
// ---------------------------------------------------------------------------------------------

fn render(bad: &Bad<'_>) -> String {
    match bad {
        Bad::Omit => String::new(),
        Bad::Str(s) => go_quote(s),
        Bad::Int(i) => i.to_string(),
        Bad::Bool(b) => b.to_string(),
        Bad::Json(v) => render_json(v),
        Bad::Raw(s) => s.clone(),
    }
}

/// What `ErrorBody` prints for an `interface{}` holding decoded JSON.
fn render_json(v: &Value) -> String {
    match v {
        // Go replaces a nil BadValue by the *string* "null", which is then %q-quoted.
        Value::Null => "\"null\"".to_string(),
        Value::String(s) => go_quote(s),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => go_number(n),
        Value::Object(_) | Value::Array(_) => go_sharp_v(v),
    }
}

/// A JSON number as Go holds it after Kubernetes' decoding: int64 if it fits, else float64.
pub(crate) fn go_number(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        i.to_string()
    } else {
        go_float(n.as_f64().unwrap_or(f64::NAN))
    }
}

/// Go's `%#v` of `map[string]interface{}` / `[]interface{}` trees.
pub(crate) fn go_sharp_v(v: &Value) -> String {
    let mut out = String::new();
    sharp_v_into(&mut out, v, 0);
    out
}

fn sharp_v_into(out: &mut String, v: &Value, depth: usize) {
    // Printing is only for messages: cut absurdly deep values instead of recursing forever.
    if depth > super::MAX_DEPTH {
        out.push_str("...");
        return;
    }
    match v {
        Value::Null => out.push_str("interface {}(nil)"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&go_number(n)),
        Value::String(s) => out.push_str(&go_quote(s)),
        Value::Array(items) => {
            out.push_str("[]interface {}{");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                sharp_v_into(out, item, depth + 1);
            }
            out.push('}');
        }
        Value::Object(map) => {
            out.push_str("map[string]interface {}{");
            // Go's fmt prints map keys sorted.
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&go_quote(k));
                out.push(':');
                if let Some(item) = map.get(k.as_str()) {
                    sharp_v_into(out, item, depth + 1);
                }
            }
            out.push('}');
        }
    }
}

/// Go's `strconv.Quote` (the one implementation lives with the validation helpers).
pub(crate) fn go_quote(s: &str) -> String {
    crate::api::validation::field::go::quote(s)
}

/// Go's `%v` of a float64 (`strconv.FormatFloat(f, 'g', -1, 64)`): shortest digits, exponent
/// form when the decimal exponent is < -4 or >= 6 (`1e+06`, `1.5e-05`).
pub(crate) fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    // Rust's `{:e}` yields the shortest round-tripping digits, like Go's shortest mode.
    let e = format!("{f:e}");
    let Some((mantissa, exp)) = e.split_once('e') else {
        return e;
    };
    let Ok(exp) = exp.parse::<i32>() else {
        return e;
    };
    let neg = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if !(-4..6).contains(&exp) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(
            out,
            "e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.unsigned_abs()
        );
    } else {
        let dp = exp + 1; // position of the decimal point within `digits`
        if dp <= 0 {
            out.push_str("0.");
            for _ in 0..(-dp) {
                out.push('0');
            }
            out.push_str(&digits);
        } else {
            let dp = dp as usize;
            if dp >= digits.len() {
                out.push_str(&digits);
                for _ in digits.len()..dp {
                    out.push('0');
                }
            } else {
                out.push_str(&digits[..dp]);
                out.push('.');
                out.push_str(&digits[dp..]);
            }
        }
    }
    out
}

/// Go's `%v` of a `[]string` (`[a b c]`).
pub(crate) fn go_string_slice(items: &[&str]) -> String {
    format!("[{}]", items.join(" "))
}

/// Go's `%#v` of a `[]string`.
pub(crate) fn go_sharp_string_slice(items: Option<&[String]>) -> String {
    match items {
        None => "[]string(nil)".to_string(),
        Some(items) => {
            let quoted: Vec<String> = items.iter().map(|s| go_quote(s)).collect();
            format!("[]string{{{}}}", quoted.join(", "))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// apimachinery name validation (k8s.io/apimachinery/pkg/util/validation)
// ---------------------------------------------------------------------------------------------

// One implementation serves built-in objects, selectors and CRDs so their texts cannot drift;
// re-exported so the CRD code finds every Kubernetes-compatibility helper here.
pub(crate) use crate::api::validation::names::{
    is_dns1035_label, is_dns1123_label, is_dns1123_subdomain,
    is_label_value as is_valid_label_value, is_path_segment_name, is_qualified_name,
};

/// Go's `json.Marshal` of a string slice, used where Kubernetes marshals enum values.
pub(crate) fn json_text(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// `map[string]interface{}{key: value}` as a JSON object, for duplicate-key causes.
pub(crate) fn single_entry_map(k: &str, v: &Value) -> Value {
    let mut m = Map::new();
    m.insert(k.to_string(), v.clone());
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn go_float_matches_fmt_v() {
        assert_eq!(go_float(1.0), "1");
        assert_eq!(go_float(1.5), "1.5");
        assert_eq!(go_float(100000.0), "100000");
        assert_eq!(go_float(1000000.0), "1e+06");
        assert_eq!(go_float(1234567.0), "1.234567e+06");
        assert_eq!(go_float(0.0001), "0.0001");
        assert_eq!(go_float(0.00001), "1e-05");
        assert_eq!(go_float(-2.5e-7), "-2.5e-07");
        assert_eq!(go_float(1e100), "1e+100");
        assert_eq!(go_float(123.456), "123.456");
    }

    #[test]
    fn go_quote_escapes_like_strconv() {
        assert_eq!(go_quote("a\"b\\c\n"), r#""a\"b\\c\n""#);
        assert_eq!(go_quote("\u{1b}"), r#""\x1b""#);
        assert_eq!(go_quote("héllo"), "\"héllo\"");
        assert_eq!(go_quote("\u{a0}"), r#""\u00a0""#);
    }

    #[test]
    fn sharp_v_of_json() {
        let v = json!({"b": [1, "x", null], "a": 1.5, "c": {"d": true}});
        assert_eq!(
            go_sharp_v(&v),
            r#"map[string]interface {}{"a":1.5, "b":[]interface {}{1, "x", interface {}(nil)}, "c":map[string]interface {}{"d":true}}"#
        );
    }

    #[test]
    fn bodies() {
        let c = cause(
            Kind::TypeInvalid,
            "spec.replicas",
            Bad::Str("string"),
            "spec.replicas in body must be of type integer: \"string\"",
        );
        assert_eq!(
            error_string(&c),
            r#"spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string""#
        );
        assert_eq!(c.reason, "FieldValueTypeInvalid");
        assert_eq!(required("spec.x", "").message, "Required value");
        assert_eq!(
            invalid("x", Bad::Json(&Value::Null), "d").message,
            r#"Invalid value: "null": d"#
        );
        assert_eq!(
            too_long("x", 253).message,
            "Too long: may not be more than 253 bytes"
        );
        assert_eq!(
            too_many("x", 2, 1).message,
            "Too many: 2: must have at most 1 item"
        );
        assert_eq!(
            not_supported(
                "x",
                Bad::Str("Everything"),
                &["All".into(), "Selector".into()]
            )
            .message,
            r#"Unsupported value: "Everything": supported values: "All", "Selector""#
        );
    }

    #[test]
    fn dns_names() {
        assert!(is_dns1035_label("crontabs").is_empty());
        assert_eq!(
            is_dns1035_label("1abc"),
            vec!["a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')".to_string()]
        );
        assert!(is_dns1123_subdomain("stable.example.com").is_empty());
        assert_eq!(is_dns1123_subdomain("Foo.com").len(), 1);
        assert!(is_qualified_name("app.kubernetes.io/name").is_empty());
        assert_eq!(
            is_qualified_name("/x"),
            vec!["prefix part must be non-empty".to_string()]
        );
        assert!(is_valid_label_value("").is_empty());
        assert_eq!(is_valid_label_value("-x").len(), 1);
    }
}
