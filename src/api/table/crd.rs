//! Tables for custom resources, as the apiextensions table convertor builds them from a CRD
//! version's `additionalPrinterColumns`.
//!
//! - Columns: `Name` (format `name`), then one per printer column in order. When the version
//!   declares no printer columns at all, Kubernetes serves a single `Age` column (type `date`,
//!   `.metadata.creationTimestamp`) instead; an explicit list gets no extra `Age`.
//! - A column whose `jsonPath` does not parse ends the list there, as the Go convertor returns
//!   the columns built so far alongside the error.
//! - Cells use the first value the path selects. Nothing selected, a failed evaluation, or a
//!   value of the wrong JSON type for the column is a JSON `null` cell (kubectl shows
//!   `<none>`). `string` columns print any value (numbers as Go's `%v`, maps and lists as
//!   compact JSON, `null` as `<no value>`); `integer`/`number`/`boolean` cells keep their JSON
//!   type; `date` cells are the human age (`5m`), `<invalid>` for unparseable text and
//!   `<unknown>` for an empty string.

use std::borrow::Cow;

use serde_json::Value;

use super::jsonpath::JsonPath;
use super::{duration, fields, ColumnDefinition, AGE_DESC, NAME_DESC};

/// One usable printer column.
struct CrdColumn {
    def: ColumnDefinition,
    path: JsonPath,
}

fn effective_columns(additional_printer_columns: &[Value]) -> Vec<CrdColumn> {
    if additional_printer_columns.is_empty() {
        let path = JsonPath::parse(".metadata.creationTimestamp");
        return path
            .map(|path| CrdColumn {
                def: ColumnDefinition::new("Age", "date", "", AGE_DESC, 0),
                path,
            })
            .into_iter()
            .collect();
    }
    let mut out = Vec::new();
    for col in additional_printer_columns {
        let json_path = fields::str_of(col, &["jsonPath"]);
        let Ok(path) = JsonPath::parse(json_path) else {
            break;
        };
        let description = match fields::str_of(col, &["description"]) {
            "" => format!("Custom resource definition column (in JSONPath format): {json_path}"),
            d => d.to_string(),
        };
        let priority = fields::int_of(col, &["priority"]);
        out.push(CrdColumn {
            def: ColumnDefinition {
                name: fields::str_of(col, &["name"]).to_string(),
                type_: fields::str_of(col, &["type"]).to_string(),
                format: fields::str_of(col, &["format"]).to_string(),
                description,
                priority: i32::try_from(priority).unwrap_or(0),
            },
            path,
        });
    }
    out
}

/// Columns for a custom resource: `Name` plus the CRD version's printer columns (or the default
/// `Age` column when there are none).
pub fn crd_columns(additional_printer_columns: &[Value]) -> Vec<ColumnDefinition> {
    let mut out = vec![ColumnDefinition::new(
        "Name", "string", "name", NAME_DESC, 0,
    )];
    out.extend(
        effective_columns(additional_printer_columns)
            .into_iter()
            .map(|c| c.def),
    );
    out
}

/// Cells for one custom resource, aligned with [`crd_columns`].
pub fn crd_cells(additional_printer_columns: &[Value], obj: &Value, now: i64) -> Vec<Value> {
    let mut cells = vec![fields::s(fields::name(obj))];
    for col in effective_columns(additional_printer_columns) {
        let cell = match col.path.first(obj) {
            None => Value::Null,
            Some(found) if col.def.type_ == "string" => Value::String(go_print(&found)),
            Some(found) => typed_cell(&col.def.type_, found, now),
        };
        cells.push(cell);
    }
    cells
}

/// `cellForJSONValue`: the value converted to the column type, `null` when it does not fit.
fn typed_cell(type_: &str, value: Cow<'_, Value>, now: i64) -> Value {
    match (type_, value.as_ref()) {
        ("integer", Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .map_or(Value::Null, Value::from),
        ("number", Value::Number(n)) => n.as_f64().map_or(Value::Null, go_json_float),
        ("boolean", Value::Bool(b)) => Value::Bool(*b),
        ("date", Value::String(text)) => {
            // metav1.Time.UnmarshalQueryParameter: "" and "null" are the zero time.
            let parsed = match text.as_str() {
                "" | "null" => Some(None),
                t => duration::parse_instant(t).map(Some),
            };
            Value::String(match parsed {
                None => "<invalid>".to_string(),
                Some(t) => duration::since_nanos(t.filter(|&t| !duration::is_zero(t)), now),
            })
        }
        _ => Value::Null,
    }
}

/// A float as Go's encoding/json writes it: whole numbers without a fraction.
fn go_json_float(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 {
        Value::from(f as i64)
    } else {
        Value::from(f)
    }
}

/// What the jsonpath printer writes for one value: strings raw, numbers and booleans as Go's
/// `fmt.Fprint`, maps and lists as `json.Marshal`.
fn go_print(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::String(s) => s.clone(),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(f)) => go_format_float_v(f),
            (None, None) => n.to_string(),
        },
        Value::Array(_) | Value::Object(_) => {
            let mut out = String::new();
            go_marshal(v, &mut out);
            out
        }
    }
}

/// Go's `%v` for a float64 (`strconv` `'g'`, shortest): exponent form when the decimal exponent
/// is below -4 or at least 6, so `1e+06` but `123456`.
fn go_format_float_v(f: f64) -> String {
    let sci = format!("{f:e}");
    let exp: i32 = sci
        .split_once('e')
        .and_then(|(_, e)| e.parse().ok())
        .unwrap_or(0);
    if f == 0.0 || (-4..6).contains(&exp) {
        format!("{f}")
    } else {
        go_exponent(f, 2)
    }
}

/// Rust's shortest `{:e}` rewritten in Go's style: signed exponent of at least `min_digits`.
fn go_exponent(f: f64, min_digits: usize) -> String {
    let text = format!("{f:e}");
    let (mantissa, exp) = text.split_once('e').unwrap_or((&text, "0"));
    let (sign, digits) = match exp.strip_prefix('-') {
        Some(d) => ('-', d),
        None => ('+', exp),
    };
    format!("{mantissa}e{sign}{digits:0>min_digits$}")
}

/// `json.Marshal` of decoded JSON: object keys sorted, no spaces, HTML-sensitive characters
/// escaped as Go does.
fn go_marshal(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => out.push_str(&i.to_string()),
            (None, Some(f)) => {
                let abs = f.abs();
                if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
                    // encoding/json writes e-07 as e-7 but keeps e+21.
                    let text = go_exponent(f, 2);
                    out.push_str(&text.replace("e-0", "e-"));
                } else {
                    out.push_str(&format!("{f}"));
                }
            }
            (None, None) => out.push_str(&n.to_string()),
        },
        Value::String(s) => go_quote(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_marshal(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_quote(key, out);
                out.push(':');
                go_marshal(value, out);
            }
            out.push('}');
        }
    }
}

fn go_quote(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_700_000_000; // 2023-11-14T22:13:20Z

    fn cron_columns() -> Vec<Value> {
        vec![
            json!({"name": "Spec", "type": "string", "jsonPath": ".spec.cronSpec"}),
            json!({"name": "Replicas", "type": "integer", "jsonPath": ".status.replicas",
                   "description": "How many", "priority": 1}),
            json!({"name": "Ratio", "type": "number", "jsonPath": ".status.ratio"}),
            json!({"name": "Paused", "type": "boolean", "jsonPath": ".spec.paused"}),
            json!({"name": "Started", "type": "date", "jsonPath": ".status.startedAt"}),
            json!({"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}),
        ]
    }

    #[test]
    fn zero_and_empty_dates_are_unknown() {
        let cols = vec![json!({"name": "T", "type": "date", "jsonPath": ".t"})];
        for (t, want) in [
            ("", "<unknown>"),
            ("0001-01-01T00:00:00Z", "<unknown>"),
            ("0001-01-01T00:00:00Zjunk", "<invalid>"),
            ("2023-11-14T22:13:15Z", "5s"),
        ] {
            let obj = json!({"t": t});
            assert_eq!(crd_cells(&cols, &obj, NOW)[1], json!(want), "{t}");
        }
    }

    #[test]
    fn columns_follow_printer_columns() {
        let cols = crd_columns(&cron_columns());
        let names: Vec<&str> = cols.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            ["Name", "Spec", "Replicas", "Ratio", "Paused", "Started", "Age"]
        );
        assert_eq!(cols[0].format, "name");
        assert_eq!(
            cols[1].description,
            "Custom resource definition column (in JSONPath format): .spec.cronSpec"
        );
        assert_eq!(cols[2].description, "How many");
        assert_eq!(cols[2].priority, 1);
        assert_eq!(cols[2].type_, "integer");
    }

    #[test]
    fn cells_keep_types_and_render_dates_as_ages() {
        let obj = json!({
            "metadata": {"name": "my-cron", "creationTimestamp": "2023-11-14T21:13:20Z"},
            "spec": {"cronSpec": "* * * * */5", "paused": true},
            "status": {"replicas": 3, "ratio": 0.5, "startedAt": "2023-11-14T22:10:18Z"}
        });
        assert_eq!(
            crd_cells(&cron_columns(), &obj, NOW),
            vec![
                json!("my-cron"),
                json!("* * * * */5"),
                json!(3),
                json!(0.5),
                json!(true),
                json!("3m2s"),
                json!("60m"),
            ]
        );
    }

    #[test]
    fn missing_and_mistyped_values_are_null() {
        let obj = json!({
            "metadata": {"name": "x"},
            "spec": {"paused": "yes"},
            "status": {"replicas": "three", "startedAt": "last tuesday"}
        });
        assert_eq!(
            crd_cells(&cron_columns(), &obj, NOW),
            vec![
                json!("x"),
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null,
                json!("<invalid>"),
                Value::Null,
            ]
        );
    }

    #[test]
    fn string_columns_print_like_go() {
        let cols = vec![
            json!({"name": "A", "type": "string", "jsonPath": ".a"}),
            json!({"name": "B", "type": "string", "jsonPath": ".b"}),
            json!({"name": "C", "type": "string", "jsonPath": ".c"}),
            json!({"name": "D", "type": "string", "jsonPath": ".d"}),
            json!({"name": "E", "type": "string", "jsonPath": ".e"}),
        ];
        let obj = json!({
            "a": 7, "b": 2.5, "c": {"z": 1, "a": ["<x>", false]}, "d": null, "e": 1e22
        });
        assert_eq!(
            crd_cells(&cols, &obj, NOW)[1..],
            [
                json!("7"),
                json!("2.5"),
                json!(r#"{"a":["\u003cx\u003e",false],"z":1}"#),
                json!("<no value>"),
                json!("1e+22"),
            ]
        );
    }

    #[test]
    fn no_printer_columns_means_default_age() {
        let cols = crd_columns(&[]);
        let names: Vec<&str> = cols.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["Name", "Age"]);
        assert_eq!(cols[1].type_, "date");
        let obj = json!({"metadata": {"name": "a", "creationTimestamp": "2023-11-12T22:13:20Z"}});
        assert_eq!(crd_cells(&[], &obj, NOW), vec![json!("a"), json!("2d")]);
    }

    #[test]
    fn a_bad_json_path_truncates_the_columns() {
        let cols = vec![
            json!({"name": "Good", "type": "string", "jsonPath": ".spec.a"}),
            json!({"name": "Bad", "type": "string", "jsonPath": ".spec[oops]"}),
            json!({"name": "Later", "type": "string", "jsonPath": ".spec.b"}),
        ];
        assert_eq!(crd_columns(&cols).len(), 2);
        let obj = json!({"metadata": {"name": "n"}, "spec": {"a": "x", "b": "y"}});
        assert_eq!(crd_cells(&cols, &obj, NOW), vec![json!("n"), json!("x")]);
    }

    #[test]
    fn go_float_formats() {
        assert_eq!(go_format_float_v(3.0), "3");
        assert_eq!(go_format_float_v(0.25), "0.25");
        assert_eq!(go_format_float_v(0.00001), "1e-05");
        assert_eq!(go_format_float_v(123_456.0), "123456");
        assert_eq!(go_format_float_v(1_234_567.0), "1.234567e+06");
        assert_eq!(go_format_float_v(1e21), "1e+21");
        let mut out = String::new();
        go_marshal(&json!([1e-7, 1e21, 1.5]), &mut out);
        assert_eq!(out, "[1e-7,1e+21,1.5]");
    }
}
