//! The JSONPath dialect of `k8s.io/client-go/util/jsonpath`, as used by CRD
//! `additionalPrinterColumns` (the server wraps each `jsonPath` in `{...}` and allows missing
//! keys).
//!
//! Supported: `.field` (with `\.` escaping a dot), `..field`, `.*`, `[n]`, `[-n]`, `[a:b:c]`,
//! `[*]`, unions `[0,2]`, `['key']`, filters `[?(@.type=="Ready")]` (`==`, `!=`, `<`, `>`, `<=`,
//! `>=`, or bare existence), `@`/`$`, and quoted/number/boolean literals. Kubernetes quirks are
//! kept on purpose: `['a.b']` is re-parsed as `.a.b` (so dots inside quotes still split; write
//! `['a\.b']`), and `["key"]` with double quotes is a syntax error.

use std::borrow::Cow;
use std::cmp::Ordering;

use serde_json::Value;

/// Why a path does not parse (the CRD convertor then stops adding columns).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonPathError {
    #[error("unrecognized character in action: {0:?}")]
    UnexpectedChar(char),
    #[error("unterminated {0}")]
    Unterminated(&'static str),
    #[error("invalid array index {0:?}")]
    ArrayIndex(String),
    #[error("cannot parse number {0:?}")]
    Number(String),
    #[error("invalid multiple recursive descent")]
    DoubleRecursive,
    #[error("invalid quoted string {0:?}")]
    Quote(String),
}

/// Evaluation failed (index out of range, filtering a non-array, incomparable values...). The
/// printers treat it like a missing value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct EvalError;

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Field(String),
    Wildcard,
    Recursive,
    Slice(SliceParams),
    Union(Vec<Vec<Node>>),
    Filter {
        left: Vec<Node>,
        op: String,
        right: Vec<Node>,
    },
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// Keywords such as `range` parse but cannot be evaluated in a single-value column.
    Identifier,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct SliceParams {
    start: Option<i64>,
    end: Option<i64>,
    /// `[n]` means `[n:n+1]`; an end derived that way that comes out as 0 wraps like `[-1]`.
    end_derived: bool,
    step: Option<i64>,
}

/// A parsed path, ready to evaluate against many objects.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    nodes: Vec<Node>,
}

impl JsonPath {
    /// Parses the body of a `{...}` template action, e.g. `.status.conditions[0].type`.
    pub fn parse(path: &str) -> Result<Self, JsonPathError> {
        let mut parser = Parser { src: path, pos: 0 };
        let mut nodes = Vec::new();
        parser.inside_action(&mut nodes)?;
        Ok(Self { nodes })
    }

    /// Every value the path selects from `root`, in document order.
    pub(super) fn find<'a>(&self, root: &'a Value) -> Result<Vec<Cow<'a, Value>>, EvalError> {
        eval_list(&self.nodes, vec![Cow::Borrowed(root)])
    }

    /// The first selected value, as the CRD table convertor uses it.
    pub fn first<'a>(&self, root: &'a Value) -> Option<Cow<'a, Value>> {
        self.find(root).ok()?.into_iter().next()
    }
}

struct Parser<'s> {
    src: &'s str,
    pos: usize,
}

fn is_terminator(c: Option<char>) -> bool {
    match c {
        None => true,
        Some(c) => matches!(
            c,
            ' ' | '\t' | '\r' | '\n' | '.' | ',' | '[' | ']' | '$' | '@' | '{' | '}'
        ),
    }
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.src[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn inside_action(&mut self, cur: &mut Vec<Node>) -> Result<(), JsonPathError> {
        loop {
            if self.rest().starts_with('}') {
                // The end of the action; the server's own `}` closes it, anything after is text.
                return Ok(());
            }
            if self.rest().starts_with("[?(") {
                self.pos += 3;
                cur.push(self.filter()?);
                continue;
            }
            if self.rest().starts_with("..") {
                if cur.last() == Some(&Node::Recursive) {
                    return Err(JsonPathError::DoubleRecursive);
                }
                self.pos += 2;
                cur.push(Node::Recursive);
                if self.peek().is_some_and(is_alphanumeric) {
                    cur.push(self.field());
                }
                continue;
            }
            let Some(c) = self.bump() else {
                return Ok(());
            };
            match c {
                '\r' | '\n' => return Err(JsonPathError::Unterminated("action")),
                ' ' | '@' | '$' => {}
                '[' => self.array(cur)?,
                '"' | '\'' => cur.push(Node::Text(self.quote(c)?)),
                '.' => cur.push(self.field()),
                '+' | '-' => cur.push(self.number(self.pos - 1)?),
                c if c.is_ascii_digit() => cur.push(self.number(self.pos - 1)?),
                c if is_alphanumeric(c) => cur.push(self.identifier(self.pos - c.len_utf8())),
                other => return Err(JsonPathError::UnexpectedChar(other)),
            }
        }
    }

    /// A field name after `.`: up to the next unescaped terminator; backslashes are dropped.
    fn field(&mut self) -> Node {
        let start = self.pos;
        loop {
            match self.peek() {
                Some('\\') => {
                    self.bump();
                    self.bump();
                }
                c if is_terminator(c) => break,
                _ => {
                    self.bump();
                }
            }
        }
        let raw = &self.src[start..self.pos];
        if raw == "*" {
            Node::Wildcard
        } else {
            Node::Field(raw.replace('\\', ""))
        }
    }

    fn number(&mut self, start: usize) -> Result<Node, JsonPathError> {
        while self.peek().is_some_and(|c| c == '.' || c.is_ascii_digit()) {
            self.bump();
        }
        let text = &self.src[start..self.pos];
        if let Ok(i) = text.parse::<i64>() {
            return Ok(Node::Int(i));
        }
        text.parse::<f64>()
            .map(Node::Float)
            .map_err(|_| JsonPathError::Number(text.to_string()))
    }

    fn identifier(&mut self, start: usize) -> Node {
        while !is_terminator(self.peek()) {
            self.bump();
        }
        match &self.src[start..self.pos] {
            "true" => Node::Bool(true),
            "false" => Node::Bool(false),
            _ => Node::Identifier,
        }
    }

    fn quote(&mut self, end: char) -> Result<String, JsonPathError> {
        let start = self.pos - 1;
        loop {
            match self.bump() {
                None | Some('\n') => return Err(JsonPathError::Unterminated("quoted string")),
                Some(c) if c == end && !self.src[..self.pos - 1].ends_with('\\') => break,
                Some(_) => {}
            }
        }
        let raw = &self.src[start..self.pos];
        unquote(raw).ok_or_else(|| JsonPathError::Quote(raw.to_string()))
    }

    fn array(&mut self, cur: &mut Vec<Node>) -> Result<(), JsonPathError> {
        let start = self.pos;
        loop {
            match self.bump() {
                None | Some('\n') => return Err(JsonPathError::Unterminated("array")),
                Some(']') => break,
                Some(_) => {}
            }
        }
        let mut text = &self.src[start..self.pos - 1];
        if text == "*" {
            text = ":";
        }
        if text.contains(',') {
            let mut parts = Vec::new();
            for part in text.split(',') {
                parts.push(JsonPath::parse(&format!("[{}]", part.trim_matches(' ')))?.nodes);
            }
            cur.push(Node::Union(parts));
            return Ok(());
        }
        if let Some(key) = text
            .strip_prefix('\'')
            .and_then(|t| t.strip_suffix('\''))
            .filter(|k| !k.contains('\''))
        {
            // Kubernetes re-parses `['key']` as `.key`, dots and all.
            cur.extend(JsonPath::parse(&format!(".{key}"))?.nodes);
            return Ok(());
        }
        cur.push(Node::Slice(parse_slice(text)?));
        Ok(())
    }

    fn filter(&mut self) -> Result<Node, JsonPathError> {
        let start = self.pos;
        let mut open_quote: Option<char> = None;
        let mut closed = false;
        loop {
            match self.bump() {
                None | Some('\n') => return Err(JsonPathError::Unterminated("filter")),
                Some(q @ ('"' | '\'')) => match open_quote {
                    None => open_quote = Some(q),
                    Some(pair) if q == pair && !self.src[..self.pos - 1].ends_with('\\') => {
                        closed = true;
                    }
                    Some(_) => {}
                },
                // A `)` only ends the filter outside a quoted literal.
                Some(')') if open_quote.is_some() == closed => break,
                Some(_) => {}
            }
        }
        if self.bump() != Some(']') {
            return Err(JsonPathError::Unterminated("filter, expected ]"));
        }
        let text = &self.src[start..self.pos - 2];
        // `^([^!<>=]+)([!<>=]+)(.+?)$`: left operand, operator run, right operand.
        let is_op = |c: char| matches!(c, '!' | '<' | '>' | '=');
        let split = text.find(is_op).filter(|&i| i > 0).and_then(|i| {
            let op_len = text[i..].find(|c| !is_op(c))?;
            (op_len > 0).then_some((i, i + op_len))
        });
        match split {
            Some((op_start, op_end)) => Ok(Node::Filter {
                left: JsonPath::parse(&text[..op_start])?.nodes,
                op: text[op_start..op_end].to_string(),
                right: JsonPath::parse(&text[op_end..])?.nodes,
            }),
            None => Ok(Node::Filter {
                left: JsonPath::parse(text)?.nodes,
                op: "exists".to_string(),
                right: Vec::new(),
            }),
        }
    }
}

fn is_alphanumeric(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// `^(-?\d*)(:-?\d*)?(:-?\d*)?$`, with Go's defaults for the missing parts.
fn parse_slice(text: &str) -> Result<SliceParams, JsonPathError> {
    let bad = || JsonPathError::ArrayIndex(text.to_string());
    let parts: Vec<&str> = text.split(':').collect();
    if parts.len() > 3 {
        return Err(bad());
    }
    let num = |s: &str| -> Result<Option<i64>, JsonPathError> {
        let digits = s.strip_prefix('-').unwrap_or(s);
        if !digits.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        if digits.is_empty() {
            // A lone `-` matches the pattern but is not a number.
            return if s.is_empty() { Ok(None) } else { Err(bad()) };
        }
        s.parse().map(Some).map_err(|_| bad())
    };
    let start = num(parts[0])?;
    let (end, end_derived) = match parts.get(1) {
        None => (Some(start.unwrap_or(0).saturating_add(1)), true),
        Some(p) => (num(p)?, false),
    };
    let step = match parts.get(2) {
        None => None,
        Some(p) => num(p)?,
    };
    Ok(SliceParams {
        start,
        end,
        end_derived,
        step,
    })
}

/// Go's `strconv.Unquote`, extended to single quotes.
fn unquote(raw: &str) -> Option<String> {
    let quote = raw.chars().next()?;
    let body = raw.strip_prefix(quote)?.strip_suffix(quote)?;
    let mut out = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c == quote {
            return None;
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        let escaped = match chars.next()? {
            'n' => '\n',
            't' => '\t',
            'r' => '\r',
            'a' => '\u{7}',
            'b' => '\u{8}',
            'f' => '\u{c}',
            'v' => '\u{b}',
            '\\' => '\\',
            c @ ('\'' | '"') if c == quote => c,
            'u' => hex_char(&mut chars, 4)?,
            'U' => hex_char(&mut chars, 8)?,
            _ => return None,
        };
        out.push(escaped);
    }
    Some(out)
}

fn hex_char(chars: &mut std::str::Chars<'_>, len: usize) -> Option<char> {
    let digits: String = chars.by_ref().take(len).collect();
    if digits.len() != len {
        return None;
    }
    char::from_u32(u32::from_str_radix(&digits, 16).ok()?)
}

type Values<'a> = Vec<Cow<'a, Value>>;

fn eval_list<'a>(nodes: &[Node], input: Values<'a>) -> Result<Values<'a>, EvalError> {
    nodes.iter().try_fold(input, |cur, node| walk(node, cur))
}

/// The members of an object or array; borrowed input stays borrowed, owned literals stay owned.
fn children<'a>(v: &Cow<'a, Value>) -> Values<'a> {
    match v {
        Cow::Borrowed(Value::Object(m)) => m.values().map(Cow::Borrowed).collect(),
        Cow::Borrowed(Value::Array(a)) => a.iter().map(Cow::Borrowed).collect(),
        Cow::Owned(Value::Object(m)) => m.values().cloned().map(Cow::Owned).collect(),
        Cow::Owned(Value::Array(a)) => a.iter().cloned().map(Cow::Owned).collect(),
        _ => Vec::new(),
    }
}

fn walk<'a>(node: &Node, input: Values<'a>) -> Result<Values<'a>, EvalError> {
    let mut out = Vec::new();
    match node {
        Node::Field(name) => {
            for v in input {
                let child = match v {
                    Cow::Borrowed(Value::Object(m)) => m.get(name).map(Cow::Borrowed),
                    Cow::Owned(Value::Object(mut m)) => m.remove(name).map(Cow::Owned),
                    _ => None,
                };
                out.extend(child);
            }
        }
        Node::Wildcard => {
            for v in &input {
                out.extend(children(v));
            }
        }
        Node::Recursive => {
            for v in input {
                descend(v, &mut out);
            }
        }
        Node::Slice(params) => {
            for v in input {
                if v.is_null() {
                    continue;
                }
                let len = v.as_array().ok_or(EvalError)?.len();
                let Some(range) = slice_indices(params, len)? else {
                    continue;
                };
                let items = children(&v);
                out.extend(range.filter_map(|i| items.get(i).cloned()));
            }
        }
        Node::Union(lists) => {
            for list in lists {
                out.extend(eval_list(list, input.clone())?);
            }
        }
        Node::Filter { left, op, right } => {
            for v in input {
                if v.is_null() {
                    continue;
                }
                if !v.is_array() {
                    return Err(EvalError);
                }
                for item in children(&v) {
                    if filter_keeps(item.clone(), left, op, right)? {
                        out.push(item);
                    }
                }
            }
        }
        Node::Text(t) => out.push(Cow::Owned(Value::String(t.clone()))),
        Node::Int(i) => out.push(Cow::Owned(Value::from(*i))),
        Node::Float(f) => out.push(Cow::Owned(Value::from(*f))),
        Node::Bool(b) => out.push(Cow::Owned(Value::Bool(*b))),
        Node::Identifier => return Err(EvalError),
    }
    Ok(out)
}

/// Go's `evalRecursive`: every container value, followed by its descendants.
fn descend<'a>(v: Cow<'a, Value>, out: &mut Values<'a>) {
    let kids = children(&v);
    if kids.is_empty() {
        return;
    }
    out.push(v);
    for kid in kids {
        descend(kid, out);
    }
}

/// The element indices `[start:end:step]` selects, Go's bounds checks included. `Ok(None)` for
/// the deliberately empty `start == end` case.
fn slice_indices(
    p: &SliceParams,
    len: usize,
) -> Result<Option<std::iter::StepBy<std::ops::Range<usize>>>, EvalError> {
    let len_i = i64::try_from(len).map_err(|_| EvalError)?;
    let mut start = p.start.unwrap_or(0);
    if start < 0 {
        start += len_i;
    }
    let mut end = p.end.unwrap_or(len_i);
    if end < 0 || (end == 0 && p.end_derived) {
        end += len_i;
    }
    if start == end {
        return Ok(None);
    }
    if start < 0 || start >= len_i || end < 0 || end > len_i || start > end {
        return Err(EvalError);
    }
    let step = match p.step {
        Some(s) if s <= 0 => return Err(EvalError),
        Some(s) => usize::try_from(s).map_err(|_| EvalError)?,
        None => 1,
    };
    let (start, end) = (
        usize::try_from(start).map_err(|_| EvalError)?,
        usize::try_from(end).map_err(|_| EvalError)?,
    );
    Ok(Some((start..end).step_by(step)))
}

fn filter_keeps(
    item: Cow<'_, Value>,
    left: &[Node],
    op: &str,
    right: &[Node],
) -> Result<bool, EvalError> {
    let lefts = eval_list(left, vec![item.clone()])?;
    if op == "exists" {
        return Ok(!lefts.is_empty());
    }
    let left = match lefts.as_slice() {
        [] => return Ok(false),
        [one] => one,
        _ => return Err(EvalError),
    };
    let rights = eval_list(right, vec![item])?;
    let right = match rights.as_slice() {
        [] => return Ok(false),
        [one] => one,
        _ => return Err(EvalError),
    };
    if left.is_boolean() && !matches!(op, "==" | "!=") {
        // text/template only orders strings and numbers.
        return Err(EvalError);
    }
    let ord = compare(left, right)?;
    Ok(match op {
        "==" => ord == Ordering::Equal,
        "!=" => ord != Ordering::Equal,
        "<" => ord == Ordering::Less,
        ">" => ord == Ordering::Greater,
        "<=" => ord != Ordering::Greater,
        ">=" => ord != Ordering::Less,
        _ => return Err(EvalError),
    })
}

/// text/template's comparison: same basic kind only (strings, integers, floats, booleans).
fn compare(a: &Value, b: &Value) -> Result<Ordering, EvalError> {
    match (a, b) {
        (Value::String(x), Value::String(y)) => Ok(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Ok(x.cmp(y)),
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => Ok(x.cmp(&y)),
            _ if x.is_f64() && y.is_f64() => x
                .as_f64()
                .zip(y.as_f64())
                .and_then(|(x, y)| x.partial_cmp(&y))
                .ok_or(EvalError),
            _ => Err(EvalError),
        },
        _ => Err(EvalError),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn first(path: &str, v: &Value) -> Option<Value> {
        JsonPath::parse(path).unwrap().first(v).map(Cow::into_owned)
    }

    #[test]
    fn fields_indexes_and_slices() {
        let v = json!({
            "spec": {"cronSpec": "* * * * */5", "list": [{"name": "a"}, {"name": "b"}, {"name": "c"}]},
            "status": {"replicas": 3},
            "metadata": {"labels": {"app": "web", "k8s.io/x": "dotted"}}
        });
        assert_eq!(first(".spec.cronSpec", &v), Some(json!("* * * * */5")));
        assert_eq!(first(".status.replicas", &v), Some(json!(3)));
        assert_eq!(first(".metadata.labels.app", &v), Some(json!("web")));
        assert_eq!(first(".spec.list[0].name", &v), Some(json!("a")));
        assert_eq!(first(".spec.list[-1].name", &v), Some(json!("c")));
        assert_eq!(first(".spec.list[1:].name", &v), Some(json!("b")));
        assert_eq!(first(".spec.list[*].name", &v), Some(json!("a")));
        assert_eq!(first(".spec.list[2,0].name", &v), Some(json!("c")));
        assert_eq!(first(".spec.list[5].name", &v), None);
        assert_eq!(first(".spec.list[9223372036854775807]", &v), None);
        assert_eq!(first(".spec.missing.deeper", &v), None);
        assert_eq!(first("$.status.replicas", &v), Some(json!(3)));
        assert_eq!(first("..name", &v), Some(json!("a")));
        assert_eq!(first(".metadata.labels['app']", &v), Some(json!("web")));
        assert_eq!(
            first(r".metadata.labels.k8s\.io/x", &v),
            Some(json!("dotted"))
        );
        assert_eq!(
            first(r".metadata.labels['k8s\.io/x']", &v),
            Some(json!("dotted"))
        );
        // As in Kubernetes, an unescaped dot inside quotes still splits the key.
        assert_eq!(first(".metadata.labels['k8s.io/x']", &v), None);
    }

    #[test]
    fn filters() {
        let v = json!({"status": {"conditions": [
            {"type": "Synced", "status": "True", "n": 1},
            {"type": "Ready", "status": "False", "n": 2}
        ]}});
        let ready = r#".status.conditions[?(@.type=="Ready")].status"#;
        assert_eq!(first(ready, &v), Some(json!("False")));
        let spaced = ".status.conditions[?(@.type == 'Synced')].status";
        assert_eq!(first(spaced, &v), Some(json!("True")));
        assert_eq!(
            first(".status.conditions[?(@.n > 1)].type", &v),
            Some(json!("Ready"))
        );
        assert_eq!(
            first(".status.conditions[?(@.n)].type", &v),
            Some(json!("Synced"))
        );
        // Comparing a string with a number is an evaluation error, not a match.
        assert_eq!(first(".status.conditions[?(@.type > 1)].type", &v), None);
        // Filtering a map is an error too.
        assert_eq!(first(".status[?(@.type)]", &v), None);
    }

    #[test]
    fn syntax_errors() {
        for bad in [
            ".a[",
            ".a[x]",
            r#".a["x"]"#,
            ".a[?(@.b==1",
            "....a",
            ".a[1:2:3:4]",
            "#",
        ] {
            assert!(JsonPath::parse(bad).is_err(), "{bad}");
        }
        assert!(JsonPath::parse("").is_ok());
    }
}
