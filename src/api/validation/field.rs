//! Field paths, cause constructors and value rendering, mirroring apimachinery's
//! `util/validation/field` package.
//!
//! Contract: every cause is built here so that `reason`, `message` and `field` are rendered
//! exactly as `field.Error.ErrorBody()` and `field.Path.String()` render them
//! (`Required value`, `Invalid value: "x": detail`, `spec.containers[0].ports[1].name`,
//! `metadata.labels[app]`). Bad values are rendered the way Go's `fmt` renders the Go value the
//! Kubernetes code passes: strings with `%q`, numbers and booleans with `%v`, structs with a
//! best-effort `%#v` imitation (see [`go`]).

use crate::api::status::StatusCause;
use serde_json::{Map, Value};

/// The list every validator appends to.
pub type Errs = Vec<StatusCause>;

/// A field path as rendered by `field.Path.String()`: children joined with `.`, indices and
/// map keys in brackets (keys are not quoted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Path(String);

impl Path {
    /// A root path (`metadata`, `spec`, ...). An empty name renders as `[]`, exactly like
    /// `field.NewPath("")` (Kubernetes uses it for whole-object errors such as a ConfigMap over
    /// 1 MiB, which kubectl shows as `[]: Too long: ...`).
    pub fn new(name: &str) -> Path {
        if name.is_empty() {
            Path("[]".to_string())
        } else {
            Path(name.to_string())
        }
    }

    /// `path.child`.
    pub fn child(&self, name: &str) -> Path {
        Path(format!("{}.{}", self.0, name))
    }

    /// `path[i]`.
    pub fn index(&self, i: usize) -> Path {
        Path(format!("{}[{}]", self.0, i))
    }

    /// `path[key]`; Kubernetes does not quote map keys in paths.
    pub fn key(&self, k: &str) -> Path {
        Path(format!("{}[{}]", self.0, k))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A bad value as Go's `ErrorBody` would print it.
#[derive(Clone, Debug, PartialEq)]
pub enum Bad {
    /// A Go `string`: printed with `%q`.
    Str(String),
    /// Any Go integer: printed with `%v`.
    Int(i64),
    /// A Go float: printed with `%v`.
    Float(f64),
    /// A Go bool.
    Bool(bool),
    /// A nil pointer / nil interface: printed as `null`.
    Null,
    /// A value printed verbatim: `fmt.Stringer` output (quantities, int-or-string) or a
    /// pre-rendered `%#v` (maps, slices, structs).
    Raw(String),
}

impl From<&str> for Bad {
    fn from(s: &str) -> Bad {
        Bad::Str(s.to_string())
    }
}
impl From<String> for Bad {
    fn from(s: String) -> Bad {
        Bad::Str(s)
    }
}
impl From<&String> for Bad {
    fn from(s: &String) -> Bad {
        Bad::Str(s.clone())
    }
}
impl From<i64> for Bad {
    fn from(i: i64) -> Bad {
        Bad::Int(i)
    }
}
impl From<bool> for Bad {
    fn from(b: bool) -> Bad {
        Bad::Bool(b)
    }
}

impl Bad {
    /// A JSON value the way Go would print the corresponding scalar (strings quoted, numbers
    /// bare); anything else is rendered as compact JSON, which is the closest stable rendering
    /// we can give for values Go would print as internal structs.
    pub fn json(v: &Value) -> Bad {
        match v {
            Value::String(s) => Bad::Str(s.clone()),
            Value::Number(n) => match n.as_i64() {
                Some(i) => Bad::Int(i),
                None => Bad::Float(n.as_f64().unwrap_or(0.0)),
            },
            Value::Bool(b) => Bad::Bool(*b),
            Value::Null => Bad::Null,
            other => Bad::Raw(other.to_string()),
        }
    }

    fn render(&self) -> String {
        match self {
            Bad::Str(s) => go::quote(s),
            Bad::Int(i) => i.to_string(),
            Bad::Float(f) => go::float(*f),
            Bad::Bool(b) => b.to_string(),
            Bad::Null => "null".to_string(),
            Bad::Raw(s) => s.clone(),
        }
    }
}

fn cause(reason: &str, body: String, detail: &str, path: &Path) -> StatusCause {
    let message = if detail.is_empty() {
        body
    } else {
        format!("{body}: {detail}")
    };
    StatusCause {
        reason: reason.to_string(),
        message,
        field: path.as_str().to_string(),
    }
}

/// `field.Required`: "Required value[: detail]".
pub fn required(path: &Path, detail: &str) -> StatusCause {
    cause("FieldValueRequired", "Required value".into(), detail, path)
}

/// `field.Invalid`: "Invalid value: <value>[: detail]".
pub fn invalid(path: &Path, value: impl Into<Bad>, detail: &str) -> StatusCause {
    cause(
        "FieldValueInvalid",
        format!("Invalid value: {}", value.into().render()),
        detail,
        path,
    )
}

/// `field.NotSupported`: "Unsupported value: <value>: supported values: "a", "b"".
pub fn not_supported(path: &Path, value: impl Into<Bad>, valid: &[&str]) -> StatusCause {
    let detail = if valid.is_empty() {
        String::new()
    } else {
        let quoted: Vec<String> = valid.iter().map(|v| go::quote(v)).collect();
        format!("supported values: {}", quoted.join(", "))
    };
    cause(
        "FieldValueNotSupported",
        format!("Unsupported value: {}", value.into().render()),
        &detail,
        path,
    )
}

/// `field.Duplicate`: "Duplicate value: <value>".
pub fn duplicate(path: &Path, value: impl Into<Bad>) -> StatusCause {
    cause(
        "FieldValueDuplicate",
        format!("Duplicate value: {}", value.into().render()),
        "",
        path,
    )
}

/// A duplicate with a detail (Kubernetes sets `Detail` by hand for node taints).
pub fn duplicate_detail(path: &Path, value: impl Into<Bad>, detail: &str) -> StatusCause {
    cause(
        "FieldValueDuplicate",
        format!("Duplicate value: {}", value.into().render()),
        detail,
        path,
    )
}

/// `field.Forbidden`: "Forbidden[: detail]".
pub fn forbidden(path: &Path, detail: &str) -> StatusCause {
    cause("FieldValueForbidden", "Forbidden".into(), detail, path)
}

/// `field.TooLong`: "Too long: may not be more than N bytes" (the value is never shown).
pub fn too_long(path: &Path, max: usize) -> StatusCause {
    let unit = if max == 1 { "byte" } else { "bytes" };
    cause(
        "FieldValueTooLong",
        "Too long".into(),
        &format!("may not be more than {max} {unit}"),
        path,
    )
}

/// `field.NotFound`: "Not found: <value>[: detail]".
pub fn not_found(path: &Path, value: impl Into<Bad>, detail: &str) -> StatusCause {
    cause(
        "FieldValueNotFound",
        format!("Not found: {}", value.into().render()),
        detail,
        path,
    )
}

/// `field.TooMany`: "Too many: <actual>: must have at most N items".
pub fn too_many(path: &Path, actual: usize, max: usize) -> StatusCause {
    cause(
        "FieldValueTooMany",
        format!("Too many: {actual}"),
        &format!("must have at most {max} items"),
        path,
    )
}

/// Renders causes the way `field.ErrorList.ToAggregate().Error()` does, which is the text after
/// `The Pod "web" is invalid: `: one error as `field: body`, several as `[a, b]` with exact
/// duplicates dropped.
pub fn aggregate_message(causes: &[StatusCause]) -> String {
    let mut seen: Vec<String> = Vec::new();
    for c in causes {
        let msg = format!("{}: {}", c.field, c.message);
        if !seen.contains(&msg) {
            seen.push(msg);
        }
    }
    match seen.len() {
        0 => String::new(),
        1 => seen.remove(0),
        _ => format!("[{}]", seen.join(", ")),
    }
}

/// Imitations of Go's `fmt` verbs for the values Kubernetes puts in error messages.
pub mod go {
    use super::{Map, Value};

    /// `strconv.Quote`.
    pub fn quote(s: &str) -> String {
        let mut out = String::with_capacity(s.len() + 2);
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\u{7}' => out.push_str("\\a"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{b}' => out.push_str("\\v"),
                c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                    out.push_str(&format!("\\x{:02x}", c as u32))
                }
                c if !is_go_printable(c) => {
                    if (c as u32) < 0x10000 {
                        out.push_str(&format!("\\u{:04x}", c as u32))
                    } else {
                        out.push_str(&format!("\\U{:08x}", c as u32))
                    }
                }
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }

    /// Approximates Go's `unicode.IsPrint`: only the ASCII space counts as printable
    /// whitespace; control, format and private-use characters are escaped.
    pub fn is_go_printable(c: char) -> bool {
        if c == ' ' {
            return true;
        }
        if c.is_control() || c.is_whitespace() {
            return false;
        }
        let u = c as u32;
        let format_or_private = matches!(u,
            0xad | 0x600..=0x605 | 0x61c | 0x6dd | 0x70f | 0x180e | 0x200b..=0x200f
            | 0x202a..=0x202e | 0x2060..=0x2064 | 0x2066..=0x206f | 0xfeff | 0xfff9..=0xfffb
            | 0xe000..=0xf8ff | 0xf0000..=0x10ffff);
        !format_or_private
    }

    /// `%v` of a float64 (integral values print without a fraction, like Go).
    pub fn float(f: f64) -> String {
        if f.fract() == 0.0 && f.abs() < 1e21 {
            format!("{}", f as i64)
        } else {
            format!("{f}")
        }
    }

    /// `%#v` of a `map[string]string` (Go sorts map keys when printing).
    pub fn string_map(m: Option<&Map<String, Value>>) -> String {
        match m {
            None => "map[string]string(nil)".to_string(),
            Some(m) => {
                let mut entries: Vec<(&String, String)> = m
                    .iter()
                    .map(|(k, v)| (k, quote(v.as_str().unwrap_or(""))))
                    .collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                let body: Vec<String> = entries
                    .into_iter()
                    .map(|(k, v)| format!("{}:{}", quote(k), v))
                    .collect();
                format!("map[string]string{{{}}}", body.join(", "))
            }
        }
    }

    /// `%#v` of a `[]string`.
    pub fn string_slice(v: Option<&Value>) -> String {
        match v.and_then(Value::as_array) {
            None => "[]string(nil)".to_string(),
            Some(items) => {
                let body: Vec<String> = items
                    .iter()
                    .map(|i| quote(i.as_str().unwrap_or("")))
                    .collect();
                format!("[]string{{{}}}", body.join(", "))
            }
        }
    }

    /// `%#v` of a `metav1.LabelSelector` (the famous "field is immutable" rendering).
    pub fn label_selector(sel: &Value) -> String {
        let labels = string_map(sel.get("matchLabels").and_then(Value::as_object));
        let exprs = match sel.get("matchExpressions").and_then(Value::as_array) {
            None => "[]v1.LabelSelectorRequirement(nil)".to_string(),
            Some(items) => {
                let body: Vec<String> = items
                    .iter()
                    .map(|e| {
                        format!(
                            "v1.LabelSelectorRequirement{{Key:{}, Operator:{}, Values:{}}}",
                            quote(e.get("key").and_then(Value::as_str).unwrap_or("")),
                            quote(e.get("operator").and_then(Value::as_str).unwrap_or("")),
                            string_slice(e.get("values"))
                        )
                    })
                    .collect();
                format!("[]v1.LabelSelectorRequirement{{{}}}", body.join(", "))
            }
        };
        format!("v1.LabelSelector{{MatchLabels:{labels}, MatchExpressions:{exprs}}}")
    }

    /// `IntOrString.String()`: the string as is, or the integer.
    pub fn int_or_string(v: &Value) -> String {
        match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n
                .as_i64()
                .map(|i| i.to_string())
                .unwrap_or_else(|| n.to_string()),
            _ => "0".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_render_like_field_path() {
        let p = Path::new("spec")
            .child("containers")
            .index(0)
            .child("ports")
            .index(1)
            .child("name");
        assert_eq!(p.as_str(), "spec.containers[0].ports[1].name");
        assert_eq!(
            Path::new("metadata").child("labels").key("app").as_str(),
            "metadata.labels[app]"
        );
        assert_eq!(Path::new("").as_str(), "[]");
    }

    #[test]
    fn messages_render_like_error_body() {
        let p = Path::new("spec").child("x");
        assert_eq!(required(&p, "").message, "Required value");
        assert_eq!(
            required(&p, "name or generateName is required").message,
            "Required value: name or generateName is required"
        );
        assert_eq!(
            invalid(&p, "a\"b", "bad").message,
            "Invalid value: \"a\\\"b\": bad"
        );
        assert_eq!(
            invalid(&p, 70000i64, "bad").message,
            "Invalid value: 70000: bad"
        );
        assert_eq!(
            not_supported(&p, "FOO", &["SCTP", "TCP", "UDP"]).message,
            "Unsupported value: \"FOO\": supported values: \"SCTP\", \"TCP\", \"UDP\""
        );
        assert_eq!(duplicate(&p, "web").message, "Duplicate value: \"web\"");
        assert_eq!(forbidden(&p, "nope").message, "Forbidden: nope");
        assert_eq!(
            too_long(&p, 262144).message,
            "Too long: may not be more than 262144 bytes"
        );
        assert_eq!(not_found(&p, "vol", "").reason, "FieldValueNotFound");
        assert_eq!(
            too_many(&p, 30, 20).message,
            "Too many: 30: must have at most 20 items"
        );
    }

    #[test]
    fn aggregate_dedups_and_brackets() {
        let p = Path::new("a");
        assert_eq!(aggregate_message(&[required(&p, "")]), "a: Required value");
        assert_eq!(
            aggregate_message(&[
                required(&p, ""),
                required(&p, ""),
                forbidden(&Path::new("b"), "x")
            ]),
            "[a: Required value, b: Forbidden: x]"
        );
    }

    #[test]
    fn go_renderings() {
        let sel = json!({"matchLabels": {"b": "2", "a": "1"}});
        assert_eq!(
            go::label_selector(&sel),
            "v1.LabelSelector{MatchLabels:map[string]string{\"a\":\"1\", \"b\":\"2\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}"
        );
        assert_eq!(go::string_map(None), "map[string]string(nil)");
        assert_eq!(go::quote("tab\there"), "\"tab\\there\"");
    }
}
