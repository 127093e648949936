//! Label and field selectors: `?labelSelector=` / `?fieldSelector=` on list and watch, and
//! `metav1.LabelSelector` objects carried by workloads.
//!
//! Contract:
//! - [`LabelSelector::parse`] accepts exactly what Kubernetes' `labels.Parse` accepts, quirks
//!   included (`a=` means "equals the empty string", `a in ()` means `a in ("")`, `in`/`notin`
//!   are ordinary words where a value is expected, `a>3` / `a<3` compare integers), so every
//!   selector kubectl or client-go sends is understood the same way. Whitespace (space, tab, CR,
//!   LF) may surround any token. Keys and values are validated with the Kubernetes rules and
//!   messages ([`validate_label_key`], [`validate_label_value`]).
//! - [`LabelSelector::from_json`] converts a `metav1.LabelSelector` object (`matchLabels` AND
//!   `matchExpressions`); `{}` selects everything. Any other JSON value than an object is an
//!   error: what an absent selector means (Kubernetes: nil selects nothing) is the caller's call.
//! - Requirements are ANDed and kept sorted by key (stably), values of a requirement sorted and
//!   de-duplicated, so [`LabelSelector`]'s `Display` is canonical and parses back to an equal
//!   selector. `==` is normalised to `=`.
//! - [`FieldSelector::parse`] follows `fields.ParseSelector`: `,` separates terms, the first
//!   `!=`, `==` or `=` in a term splits field from value, and values must escape `\`, `,` and
//!   `=` with a backslash. No whitespace is trimmed, as in Kubernetes. Which fields exist is
//!   per-kind knowledge, so checking support is left to the caller via
//!   [`FieldSelector::requirements`].
//! - Nothing here panics on input; every rejection is a [`SelectorError`].

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde_json::{Map, Value};

use crate::api::validation::names::{is_label_value, is_qualified_name};

/// Why a selector was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// The label selector string does not follow the grammar.
    #[error("unable to parse label selector {selector:?}: {reason}")]
    LabelSyntax { selector: String, reason: String },
    /// A key is not a valid label key.
    #[error("invalid label key {key:?}: {reason}")]
    InvalidLabelKey { key: String, reason: String },
    /// A value is not a valid label value.
    #[error("invalid label value {value:?} for key {key:?}: {reason}")]
    InvalidLabelValue {
        key: String,
        value: String,
        reason: String,
    },
    /// The values do not fit the operator (e.g. `In` without values).
    #[error("invalid values for label key {key:?}: {reason}")]
    InvalidValues { key: String, reason: String },
    /// A `matchExpressions[].operator` other than In, NotIn, Exists, DoesNotExist.
    #[error("{0:?} is not a valid label selector operator")]
    UnknownOperator(String),
    /// A `metav1.LabelSelector` object of the wrong shape.
    #[error("invalid label selector object: {0}")]
    InvalidObject(String),
    /// A field selector term that cannot be understood.
    #[error("invalid field selector {selector:?}: {reason}")]
    FieldSyntax { selector: String, reason: String },
    /// A backslash in a field selector value not followed by `\`, `,` or `=`.
    #[error("invalid field selector: invalid escape sequence: {0}")]
    InvalidEscape(String),
    /// A bare `,` or `=` inside a field selector value.
    #[error("invalid field selector: unescaped character in value: {0:?}")]
    UnescapedCharacter(char),
}

// ---------------------------------------------------------------------------------------------
// Label key / value validation. The rules and texts are apimachinery's (util/validation), kept
// in one place, validation::names, so selectors and object validation can never drift apart.
// ---------------------------------------------------------------------------------------------

/// Joins Kubernetes' messages the way selector errors carry them.
fn joined(errs: Vec<String>) -> Result<(), String> {
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs.join("; "))
    }
}

/// Validates a label key (`[prefix/]name`: optional DNS-1123 subdomain prefix of at most 253
/// characters, name of at most 63). On failure returns Kubernetes' messages joined by `"; "`.
pub fn validate_label_key(key: &str) -> Result<(), String> {
    joined(is_qualified_name(key))
}

/// Validates a label value (empty, or at most 63 characters of `[-A-Za-z0-9_.]` starting and
/// ending alphanumeric). On failure returns Kubernetes' messages joined by `"; "`.
pub fn validate_label_value(v: &str) -> Result<(), String> {
    joined(is_label_value(v))
}

fn check_key(key: &str) -> Result<(), SelectorError> {
    validate_label_key(key).map_err(|reason| SelectorError::InvalidLabelKey {
        key: key.to_string(),
        reason,
    })
}

// ---------------------------------------------------------------------------------------------
// Label selectors
// ---------------------------------------------------------------------------------------------

/// The operator of one label requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LabelOp {
    /// `k in (a,b)` / `In`: the label exists and has one of the values.
    In,
    /// `k notin (a,b)` / `NotIn`: the label is absent or has none of the values.
    NotIn,
    /// `k=v` or `k==v` / `matchLabels`: the label exists and equals the value.
    Equals,
    /// `k!=v`: the label is absent or differs from the value.
    NotEquals,
    /// `k` / `Exists`.
    Exists,
    /// `!k` / `DoesNotExist`.
    DoesNotExist,
    /// `k>n`: the label exists and parses as an integer greater than `n` (string form only).
    GreaterThan,
    /// `k<n`: the label exists and parses as an integer less than `n` (string form only).
    LessThan,
}

/// One requirement of a [`LabelSelector`]; all of a selector's requirements must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelRequirement {
    pub key: String,
    pub op: LabelOp,
    /// Sorted and de-duplicated; exactly one for `Equals`, `NotEquals`, `GreaterThan` and
    /// `LessThan`, none for `Exists` and `DoesNotExist`, at least one for `In` and `NotIn`.
    pub values: Vec<String>,
}

impl LabelRequirement {
    /// Validates key, operator/value arity and values, as Kubernetes' `NewRequirement` does,
    /// reporting the first problem found.
    fn new(key: &str, op: LabelOp, values: Vec<String>) -> Result<Self, SelectorError> {
        check_key(key)?;
        let bad_values = |reason: &str| SelectorError::InvalidValues {
            key: key.to_string(),
            reason: reason.to_string(),
        };
        match op {
            LabelOp::In | LabelOp::NotIn if values.is_empty() => {
                return Err(bad_values(
                    "for 'in', 'notin' operators, values set can't be empty",
                ))
            }
            LabelOp::Equals | LabelOp::NotEquals if values.len() != 1 => {
                return Err(bad_values(
                    "exact-match compatibility requires one single value",
                ))
            }
            LabelOp::Exists | LabelOp::DoesNotExist if !values.is_empty() => {
                return Err(bad_values(
                    "values set must be empty for exists and does not exist",
                ))
            }
            LabelOp::GreaterThan | LabelOp::LessThan => {
                if values.len() != 1 {
                    return Err(bad_values(
                        "for 'Gt', 'Lt' operators, exactly one value is required",
                    ));
                }
                if values.iter().any(|v| v.parse::<i64>().is_err()) {
                    return Err(bad_values(
                        "for 'Gt', 'Lt' operators, the value must be an integer",
                    ));
                }
            }
            _ => {}
        }
        for value in &values {
            validate_label_value(value).map_err(|reason| SelectorError::InvalidLabelValue {
                key: key.to_string(),
                value: value.clone(),
                reason,
            })?;
        }
        // A set, not a list: order and repeats carry no meaning, and a canonical form keeps
        // Display deterministic and equality structural.
        let values: Vec<String> = values
            .into_iter()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        Ok(Self {
            key: key.to_string(),
            op,
            values,
        })
    }

    /// Whether `labels` (an object's `metadata.labels`, `None` when absent) satisfy this
    /// requirement. A non-string label value (never produced by a validated object) counts as
    /// present but equal to nothing.
    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        let present = labels.and_then(|m| m.get(&self.key));
        let value = present.and_then(Value::as_str);
        let in_set = value.is_some_and(|v| self.values.iter().any(|x| x == v));
        match self.op {
            LabelOp::In | LabelOp::Equals => in_set,
            LabelOp::NotIn | LabelOp::NotEquals => !in_set,
            LabelOp::Exists => present.is_some(),
            LabelOp::DoesNotExist => present.is_none(),
            LabelOp::GreaterThan | LabelOp::LessThan => {
                // Kubernetes treats an unparsable label value as "does not match", not an error.
                let Some(actual) = value.and_then(|v| v.parse::<i64>().ok()) else {
                    return false;
                };
                let [bound] = self.values.as_slice() else {
                    return false;
                };
                let Ok(bound) = bound.parse::<i64>() else {
                    return false;
                };
                if self.op == LabelOp::GreaterThan {
                    actual > bound
                } else {
                    actual < bound
                }
            }
        }
    }
}

impl fmt::Display for LabelRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = &self.key;
        let first = self.values.first().map(String::as_str).unwrap_or("");
        match self.op {
            LabelOp::Exists => write!(f, "{key}"),
            LabelOp::DoesNotExist => write!(f, "!{key}"),
            LabelOp::Equals => write!(f, "{key}={first}"),
            LabelOp::NotEquals => write!(f, "{key}!={first}"),
            LabelOp::GreaterThan => write!(f, "{key}>{first}"),
            LabelOp::LessThan => write!(f, "{key}<{first}"),
            LabelOp::In => write!(f, "{key} in ({})", self.values.join(",")),
            LabelOp::NotIn => write!(f, "{key} notin ({})", self.values.join(",")),
        }
    }
}

/// A parsed, validated label selector. The empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    requirements: Vec<LabelRequirement>,
}

impl LabelSelector {
    /// Parse the string form used by `?labelSelector=`: `a=b`, `a==b`, `a!=b`,
    /// `a in (x,y)`, `a notin (x)`, `a`, `!a`, `a>1`, `a<1`, comma-separated (AND).
    /// An empty or all-whitespace string selects everything.
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        let mut parser = Parser {
            selector: s,
            tokens: lex(s),
            pos: 0,
        };
        let requirements = parser.parse()?;
        Ok(Self::from_requirements(requirements))
    }

    /// From a `metav1.LabelSelector` JSON object: `matchLabels` (key = value) AND
    /// `matchExpressions` (`{key, operator, values}` with operator In, NotIn, Exists or
    /// DoesNotExist). `null` members count as absent; `{}` selects everything.
    pub fn from_json(sel: &Value) -> Result<Self, SelectorError> {
        let invalid = |msg: String| SelectorError::InvalidObject(msg);
        let obj = sel
            .as_object()
            .ok_or_else(|| invalid("label selector must be a JSON object".to_string()))?;
        let mut requirements = Vec::new();

        match obj.get("matchLabels") {
            None | Some(Value::Null) => {}
            Some(Value::Object(labels)) => {
                for (key, value) in labels {
                    let value = value
                        .as_str()
                        .ok_or_else(|| invalid(format!("matchLabels[{key:?}] must be a string")))?;
                    requirements.push(LabelRequirement::new(
                        key,
                        LabelOp::Equals,
                        vec![value.to_string()],
                    )?);
                }
            }
            Some(_) => return Err(invalid("matchLabels must be an object".to_string())),
        }

        match obj.get("matchExpressions") {
            None | Some(Value::Null) => {}
            Some(Value::Array(exprs)) => {
                for (i, expr) in exprs.iter().enumerate() {
                    let expr = expr.as_object().ok_or_else(|| {
                        invalid(format!("matchExpressions[{i}] must be an object"))
                    })?;
                    let string_member = |name: &str| {
                        expr.get(name).and_then(Value::as_str).ok_or_else(|| {
                            invalid(format!("matchExpressions[{i}].{name} must be a string"))
                        })
                    };
                    let key = string_member("key")?;
                    let operator = string_member("operator")?;
                    let op = match operator {
                        "In" => LabelOp::In,
                        "NotIn" => LabelOp::NotIn,
                        "Exists" => LabelOp::Exists,
                        "DoesNotExist" => LabelOp::DoesNotExist,
                        other => return Err(SelectorError::UnknownOperator(other.to_string())),
                    };
                    let values = match expr.get("values") {
                        None | Some(Value::Null) => Vec::new(),
                        Some(Value::Array(values)) => values
                            .iter()
                            .map(|v| v.as_str().map(str::to_string))
                            .collect::<Option<Vec<_>>>()
                            .ok_or_else(|| {
                                invalid(format!(
                                    "matchExpressions[{i}].values must be an array of strings"
                                ))
                            })?,
                        Some(_) => {
                            return Err(invalid(format!(
                                "matchExpressions[{i}].values must be an array of strings"
                            )))
                        }
                    };
                    requirements.push(LabelRequirement::new(key, op, values)?);
                }
            }
            Some(_) => return Err(invalid("matchExpressions must be an array".to_string())),
        }

        Ok(Self::from_requirements(requirements))
    }

    fn from_requirements(mut requirements: Vec<LabelRequirement>) -> Self {
        // Kubernetes sorts by key so the string form is deterministic; a stable sort also keeps
        // several requirements on one key in their written order.
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Self { requirements }
    }

    /// Whether an object with these labels (`metadata.labels`, `None` when absent) is selected.
    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// True when the selector has no requirements and so selects everything.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The requirements, sorted by key.
    pub fn requirements(&self) -> &[LabelRequirement] {
        &self.requirements
    }
}

impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, requirement) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{requirement}")?;
        }
        Ok(())
    }
}

impl FromStr for LabelSelector {
    type Err = SelectorError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

// --- lexer ---------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    End,
    Ident,
    In,
    NotIn,
    Bang,
    Eq,
    DoubleEq,
    NotEq,
    Gt,
    Lt,
    Comma,
    Open,
    Close,
}

#[derive(Debug, Clone, Copy)]
struct Token<'a> {
    kind: Tok,
    lit: &'a str,
}

const END: Token<'static> = Token {
    kind: Tok::End,
    lit: "",
};

fn is_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_special(b: u8) -> bool {
    matches!(b, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

/// Splits a selector into tokens, always ending with `End`. Identifiers run until whitespace or
/// an operator character, so anything else (including non-ASCII) lands in an identifier and is
/// rejected later by key/value validation with a precise message.
fn lex(s: &str) -> Vec<Token<'_>> {
    let bytes = s.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    loop {
        while i < bytes.len() && is_whitespace(bytes[i]) {
            i += 1;
        }
        let Some(&b) = bytes.get(i) else {
            tokens.push(END);
            return tokens;
        };
        let start = i;
        let kind = if is_special(b) {
            // Longest match: only `==` and `!=` are two characters long.
            match (b, bytes.get(i + 1)) {
                (b'=', Some(b'=')) => {
                    i += 2;
                    Tok::DoubleEq
                }
                (b'!', Some(b'=')) => {
                    i += 2;
                    Tok::NotEq
                }
                _ => {
                    i += 1;
                    match b {
                        b'=' => Tok::Eq,
                        b'!' => Tok::Bang,
                        b'(' => Tok::Open,
                        b')' => Tok::Close,
                        b',' => Tok::Comma,
                        b'>' => Tok::Gt,
                        _ => Tok::Lt,
                    }
                }
            }
        } else {
            while i < bytes.len() && !is_whitespace(bytes[i]) && !is_special(bytes[i]) {
                i += 1;
            }
            Tok::Ident
        };
        // Token boundaries sit next to ASCII bytes or at the ends, so they are char boundaries.
        let lit = &s[start..i];
        let kind = match (kind, lit) {
            (Tok::Ident, "in") => Tok::In,
            (Tok::Ident, "notin") => Tok::NotIn,
            (kind, _) => kind,
        };
        tokens.push(Token { kind, lit });
    }
}

fn describe(t: Token<'_>) -> String {
    if t.kind == Tok::End {
        "end of string".to_string()
    } else {
        format!("'{}'", t.lit)
    }
}

// --- parser --------------------------------------------------------------------------------

/// Recursive descent over the token list, mirroring Kubernetes' parser so that the same inputs
/// are accepted. `in` and `notin` are keywords only where an operator is expected; everywhere
/// else (keys, values) they are plain identifiers.
struct Parser<'a> {
    selector: &'a str,
    tokens: Vec<Token<'a>>,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn as_word(t: Token<'a>) -> Token<'a> {
        match t.kind {
            Tok::In | Tok::NotIn => Token {
                kind: Tok::Ident,
                lit: t.lit,
            },
            _ => t,
        }
    }

    fn peek(&self) -> Token<'a> {
        Self::as_word(self.tokens.get(self.pos).copied().unwrap_or(END))
    }

    /// Consumes a token, reading `in`/`notin` as operators.
    fn bump_operator(&mut self) -> Token<'a> {
        let t = self.tokens.get(self.pos).copied().unwrap_or(END);
        // Never step past End, so an unexpected end keeps yielding End instead of running off.
        if t.kind != Tok::End {
            self.pos += 1;
        }
        t
    }

    fn bump(&mut self) -> Token<'a> {
        Self::as_word(self.bump_operator())
    }

    fn syntax(&self, reason: String) -> SelectorError {
        SelectorError::LabelSyntax {
            selector: self.selector.to_string(),
            reason,
        }
    }

    fn parse(&mut self) -> Result<Vec<LabelRequirement>, SelectorError> {
        let mut requirements = Vec::new();
        loop {
            let t = self.peek();
            match t.kind {
                Tok::Ident | Tok::Bang => {
                    requirements.push(self.requirement()?);
                    let t = self.bump();
                    match t.kind {
                        Tok::End => return Ok(requirements),
                        Tok::Comma => {
                            let next = self.peek();
                            if !matches!(next.kind, Tok::Ident | Tok::Bang) {
                                return Err(self.syntax(format!(
                                    "found {}, expected: identifier after ','",
                                    describe(next)
                                )));
                            }
                        }
                        _ => {
                            return Err(self.syntax(format!(
                                "found {}, expected: ',' or 'end of string'",
                                describe(t)
                            )))
                        }
                    }
                }
                Tok::End => return Ok(requirements),
                _ => {
                    return Err(self.syntax(format!(
                        "found {}, expected: !, identifier, or 'end of string'",
                        describe(t)
                    )))
                }
            }
        }
    }

    fn requirement(&mut self) -> Result<LabelRequirement, SelectorError> {
        let mut t = self.bump();
        let negated = t.kind == Tok::Bang;
        if negated {
            t = self.bump();
        }
        if t.kind != Tok::Ident {
            return Err(self.syntax(format!("found {}, expected: identifier", describe(t))));
        }
        let key = t.lit;
        check_key(key)?;
        if negated {
            return LabelRequirement::new(key, LabelOp::DoesNotExist, Vec::new());
        }
        if matches!(self.peek().kind, Tok::End | Tok::Comma) {
            return LabelRequirement::new(key, LabelOp::Exists, Vec::new());
        }
        let t = self.bump_operator();
        let op = match t.kind {
            Tok::In => LabelOp::In,
            Tok::NotIn => LabelOp::NotIn,
            Tok::Eq | Tok::DoubleEq => LabelOp::Equals,
            Tok::NotEq => LabelOp::NotEquals,
            Tok::Gt => LabelOp::GreaterThan,
            Tok::Lt => LabelOp::LessThan,
            _ => {
                return Err(self.syntax(format!(
                    "found {}, expected: in, notin, =, ==, !=, gt, lt",
                    describe(t)
                )))
            }
        };
        let values = match op {
            LabelOp::In | LabelOp::NotIn => self.value_set()?,
            _ => vec![self.exact_value()?],
        };
        LabelRequirement::new(key, op, values)
    }

    /// `(v1,v2,...)`. Like Kubernetes, `()` and empty list entries stand for the empty value.
    fn value_set(&mut self) -> Result<Vec<String>, SelectorError> {
        let t = self.bump();
        if t.kind != Tok::Open {
            return Err(self.syntax(format!("found {}, expected: '('", describe(t))));
        }
        let t = self.peek();
        match t.kind {
            Tok::Ident | Tok::Comma => {
                let values = self.value_list()?;
                let t = self.bump();
                if t.kind != Tok::Close {
                    return Err(self.syntax(format!("found {}, expected: ')'", describe(t))));
                }
                Ok(values)
            }
            Tok::Close => {
                self.bump();
                Ok(vec![String::new()])
            }
            _ => Err(self.syntax(format!(
                "found {}, expected: ',', ')' or identifier",
                describe(t)
            ))),
        }
    }

    /// The inside of a value set, up to (not including) `)`. Each iteration consumes at least
    /// one token and `End` is an error, so this terminates.
    fn value_list(&mut self) -> Result<Vec<String>, SelectorError> {
        let mut values = Vec::new();
        loop {
            let t = self.bump();
            match t.kind {
                Tok::Ident => {
                    values.push(t.lit.to_string());
                    let next = self.peek();
                    match next.kind {
                        Tok::Comma => {}
                        Tok::Close => return Ok(values),
                        _ => {
                            return Err(self
                                .syntax(format!("found {}, expected: ',' or ')'", describe(next))))
                        }
                    }
                }
                Tok::Comma => {
                    // A leading, doubled or trailing comma delimits an empty value.
                    if values.is_empty() {
                        values.push(String::new());
                    }
                    match self.peek().kind {
                        Tok::Close => {
                            values.push(String::new());
                            return Ok(values);
                        }
                        Tok::Comma => {
                            self.bump();
                            values.push(String::new());
                        }
                        _ => {}
                    }
                }
                _ => {
                    return Err(self.syntax(format!(
                        "found {}, expected: ',', or identifier",
                        describe(t)
                    )))
                }
            }
        }
    }

    /// The value after `=`, `==`, `!=`, `>` or `<`; nothing before `,` or the end means "".
    fn exact_value(&mut self) -> Result<String, SelectorError> {
        if matches!(self.peek().kind, Tok::End | Tok::Comma) {
            return Ok(String::new());
        }
        let t = self.bump();
        if t.kind != Tok::Ident {
            return Err(self.syntax(format!("found {}, expected: identifier", describe(t))));
        }
        Ok(t.lit.to_string())
    }
}

// ---------------------------------------------------------------------------------------------
// Field selectors
// ---------------------------------------------------------------------------------------------

/// The operator of a field requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldOp {
    /// `=` or `==`.
    Equals,
    /// `!=`.
    NotEquals,
}

/// One `field op value` term; `value` is unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRequirement {
    pub field: String,
    pub op: FieldOp,
    pub value: String,
}

/// A parsed field selector: the AND of its requirements. The empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    /// Parse `?fieldSelector=`, e.g. `metadata.name=x,spec.nodeName!=,status.phase==Running`.
    /// Values may contain `\\`, `\,` and `\=`; empty terms (`a=b,,c=d`, trailing `,`) are
    /// skipped; whitespace is significant, as in Kubernetes.
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        let syntax = |reason: String| SelectorError::FieldSyntax {
            selector: s.to_string(),
            reason,
        };
        let mut requirements = Vec::new();
        for term in split_terms(s) {
            if term.is_empty() {
                continue;
            }
            let (field, op, raw_value) =
                split_term(term).ok_or_else(|| syntax(format!("can't understand '{term}'")))?;
            // Kubernetes would pass an empty field on and fail later with "field label not
            // supported: "; saying so here is clearer and no valid selector is lost.
            if field.is_empty() {
                return Err(syntax(format!("missing field name in '{term}'")));
            }
            requirements.push(FieldRequirement {
                field: field.to_string(),
                op,
                value: unescape_value(raw_value)?,
            });
        }
        Ok(Self { requirements })
    }

    /// The requirements, in the order written. Callers check each `field` is supported for the
    /// resource before listing.
    pub fn requirements(&self) -> &[FieldRequirement] {
        &self.requirements
    }

    /// Whether an object matches; `get(field)` yields the object's value for a field, and a
    /// missing value (`None`) compares as the empty string, as in Kubernetes.
    pub fn matches(&self, get: &dyn Fn(&str) -> Option<String>) -> bool {
        self.requirements.iter().all(|r| {
            let actual = get(&r.field).unwrap_or_default();
            match r.op {
                FieldOp::Equals => actual == r.value,
                FieldOp::NotEquals => actual != r.value,
            }
        })
    }

    /// True when there are no requirements and so everything matches.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }
}

impl fmt::Display for FieldSelector {
    /// `field=value` / `field!=value` joined by `,`, values escaped so the result parses back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(&r.field)?;
            f.write_str(match r.op {
                FieldOp::Equals => "=",
                FieldOp::NotEquals => "!=",
            })?;
            for c in r.value.chars() {
                if matches!(c, '\\' | ',' | '=') {
                    f.write_str("\\")?;
                }
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

impl FromStr for FieldSelector {
    type Err = SelectorError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Splits on commas not preceded by an escaping backslash; escapes stay in the terms.
fn split_terms(s: &str) -> Vec<&str> {
    if s.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ',' {
            terms.push(&s[start..i]);
            start = i + 1;
        }
    }
    terms.push(&s[start..]);
    terms
}

/// Splits at the first operator; field names have no escaping, so the first `!=`, `==` or `=`
/// wins (`==` is tried before `=` so it leaves no stray `=` in the value).
fn split_term(term: &str) -> Option<(&str, FieldOp, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        let found = if rest.starts_with("!=") {
            Some((FieldOp::NotEquals, 2))
        } else if rest.starts_with("==") {
            Some((FieldOp::Equals, 2))
        } else if rest.starts_with('=') {
            Some((FieldOp::Equals, 1))
        } else {
            None
        };
        if let Some((op, len)) = found {
            return Some((&term[..i], op, &rest[len..]));
        }
    }
    None
}

fn unescape_value(raw: &str) -> Result<String, SelectorError> {
    let mut out = String::with_capacity(raw.len());
    let mut escaped = false;
    for c in raw.chars() {
        if escaped {
            if !matches!(c, '\\' | ',' | '=') {
                return Err(SelectorError::InvalidEscape(format!("\\{c}")));
            }
            out.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ',' || c == '=' {
            // Only reachable for `=`: unescaped commas already split terms.
            return Err(SelectorError::UnescapedCharacter(c));
        } else {
            out.push(c);
        }
    }
    if escaped {
        return Err(SelectorError::InvalidEscape("\\".to_string()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    fn sel(s: &str) -> LabelSelector {
        match LabelSelector::parse(s) {
            Ok(sel) => sel,
            Err(e) => panic!("{s:?} should parse: {e}"),
        }
    }

    fn parse_err(s: &str) -> String {
        match LabelSelector::parse(s) {
            Ok(sel) => panic!("{s:?} should not parse, got {sel}"),
            Err(e) => e.to_string(),
        }
    }

    fn m(s: &LabelSelector, v: Value) -> bool {
        s.matches(Some(&labels(v)))
    }

    const NAME_PART_REGEX_MSG: &str = "name part must consist of alphanumeric characters, '-', \
        '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or \
        'my.name',  or '123-abc', regex used for validation is \
        '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

    #[test]
    fn label_key_validation_messages() {
        assert_eq!(validate_label_key("app"), Ok(()));
        assert_eq!(validate_label_key("app.kubernetes.io/name"), Ok(()));
        assert_eq!(validate_label_key("A_b-c.9"), Ok(()));
        assert_eq!(validate_label_key(&"a".repeat(63)), Ok(()));
        assert_eq!(
            validate_label_key(&format!("{}/x", "a".repeat(253))),
            Ok(())
        );

        assert_eq!(
            validate_label_key("-app"),
            Err(NAME_PART_REGEX_MSG.to_string())
        );
        assert_eq!(
            validate_label_key(""),
            Err(format!(
                "name part must be non-empty; {NAME_PART_REGEX_MSG}"
            ))
        );
        assert_eq!(
            validate_label_key(&"a".repeat(64)),
            Err("name part must be no more than 63 characters".to_string())
        );
        assert_eq!(
            validate_label_key("/a"),
            Err("prefix part must be non-empty".to_string())
        );
        assert_eq!(
            validate_label_key("Example.com/a"),
            Err(
                "prefix part a lowercase RFC 1123 subdomain must consist of lower case \
                 alphanumeric characters, '-' or '.', and must start and end with an \
                 alphanumeric character (e.g. 'example.com', regex used for validation is \
                 '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
                    .to_string()
            )
        );
        assert!(validate_label_key(&format!("{}/x", "a".repeat(254)))
            .unwrap_err()
            .starts_with("prefix part must be no more than 253 characters"));
        assert!(validate_label_key("a..b/x").is_err());
        assert!(validate_label_key("a-.b/x").is_err());
        assert_eq!(
            validate_label_key("a/b/c"),
            Err(
                "a qualified name must consist of alphanumeric characters, '-', '_' or '.', \
                 and must start and end with an alphanumeric character (e.g. 'MyName',  or \
                 'my.name',  or '123-abc', regex used for validation is \
                 '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain \
                 prefix and '/' (e.g. 'example.com/MyName')"
                    .to_string()
            )
        );
        // Non-ASCII letters are not alphanumeric in Kubernetes' regex.
        assert!(validate_label_key("café").is_err());
    }

    #[test]
    fn label_value_validation_messages() {
        assert_eq!(validate_label_value(""), Ok(()));
        assert_eq!(validate_label_value("v1.2_3-x"), Ok(()));
        assert_eq!(validate_label_value(&"a".repeat(63)), Ok(()));
        assert_eq!(
            validate_label_value("bad value"),
            Err(
                "a valid label must be an empty string or consist of alphanumeric characters, \
                 '-', '_' or '.', and must start and end with an alphanumeric character (e.g. \
                 'MyValue',  or 'my_value',  or '12345', regex used for validation is \
                 '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
                    .to_string()
            )
        );
        assert_eq!(
            validate_label_value(&"a".repeat(64)),
            Err("must be no more than 63 characters".to_string())
        );
        // Both problems are reported, joined as Kubernetes does.
        let both = validate_label_value(&format!("{}-", "a".repeat(64))).unwrap_err();
        assert!(both.starts_with("must be no more than 63 characters; a valid label must"));
        assert!(validate_label_value("a/b").is_err());
    }

    #[test]
    fn equality_operators() {
        for s in ["env=prod", "env==prod", " env = prod ", "env\t==\nprod"] {
            let s = sel(s);
            assert!(m(&s, json!({"env": "prod"})));
            assert!(!m(&s, json!({"env": "dev"})));
            assert!(!m(&s, json!({})));
            assert!(!s.matches(None));
            assert_eq!(s.to_string(), "env=prod");
        }
        let ne = sel("env!=prod");
        assert!(!m(&ne, json!({"env": "prod"})));
        assert!(m(&ne, json!({"env": "dev"})));
        assert!(m(&ne, json!({})), "!= matches objects without the label");
        assert!(ne.matches(None));
    }

    #[test]
    fn empty_exact_values() {
        let eq = sel("env=");
        assert_eq!(eq.requirements()[0].values, vec![String::new()]);
        assert!(m(&eq, json!({"env": ""})));
        assert!(!m(&eq, json!({"env": "x"})));
        assert!(!m(&eq, json!({})));
        let ne = sel("env!=,tier");
        assert!(m(&ne, json!({"env": "x", "tier": "web"})));
        assert!(!m(&ne, json!({"env": "", "tier": "web"})));
    }

    #[test]
    fn set_operators() {
        let s = sel("env in (prod, dev)");
        assert!(m(&s, json!({"env": "prod"})));
        assert!(m(&s, json!({"env": "dev"})));
        assert!(!m(&s, json!({"env": "qa"})));
        assert!(!m(&s, json!({})));

        let s = sel("env notin (prod,dev)");
        assert!(!m(&s, json!({"env": "prod"})));
        assert!(m(&s, json!({"env": "qa"})));
        assert!(m(&s, json!({})));
        assert!(s.matches(None));
    }

    #[test]
    fn existence_operators() {
        let s = sel("tier");
        assert_eq!(s.requirements()[0].op, LabelOp::Exists);
        assert!(m(&s, json!({"tier": ""})));
        assert!(!m(&s, json!({"other": "x"})));
        assert!(!s.matches(None));

        let s = sel("! tier");
        assert_eq!(s.requirements()[0].op, LabelOp::DoesNotExist);
        assert!(!m(&s, json!({"tier": "web"})));
        assert!(m(&s, json!({"other": "x"})));
        assert!(s.matches(None));
    }

    #[test]
    fn numeric_comparisons() {
        let gt = sel("replicas>3");
        assert!(m(&gt, json!({"replicas": "4"})));
        assert!(!m(&gt, json!({"replicas": "3"})));
        assert!(
            !m(&gt, json!({"replicas": "many"})),
            "unparsable never matches"
        );
        assert!(!m(&gt, json!({})));
        let lt = sel("replicas < 3");
        assert!(m(&lt, json!({"replicas": "-1"})));
        assert!(!m(&lt, json!({"replicas": "3"})));
        assert_eq!(lt.to_string(), "replicas<3");
        assert!(parse_err("a>b").contains("the value must be an integer"));
        assert!(parse_err("a>").contains("the value must be an integer"));
    }

    #[test]
    fn combined_set_based_selector() {
        let s = sel("env in (prod,dev),!canary,tier");
        assert_eq!(s.requirements().len(), 3);
        assert!(m(&s, json!({"env": "prod", "tier": "web"})));
        assert!(!m(
            &s,
            json!({"env": "prod", "tier": "web", "canary": "true"})
        ));
        assert!(!m(&s, json!({"env": "prod"})));
        assert!(!m(&s, json!({"env": "qa", "tier": "web"})));
        assert_eq!(s.to_string(), "!canary,env in (dev,prod),tier");
    }

    #[test]
    fn empty_selector_selects_everything() {
        for s in ["", "   ", "\t\n"] {
            let s = sel(s);
            assert!(s.is_empty());
            assert!(s.matches(None));
            assert!(m(&s, json!({"a": "b"})));
            assert_eq!(s.to_string(), "");
        }
        assert!(LabelSelector::default().is_empty());
        assert!(!sel("a").is_empty());
    }

    #[test]
    fn kubernetes_quirks_are_accepted() {
        // `in`/`notin` are plain words outside operator position.
        let s = sel("in in (in,notin)");
        assert!(m(&s, json!({"in": "notin"})));
        // Empty set entries mean the empty value.
        assert_eq!(sel("a in ()").requirements()[0].values, vec![String::new()]);
        assert_eq!(
            sel("a in (,b)").requirements()[0].values,
            vec![String::new(), "b".to_string()]
        );
        assert_eq!(
            sel("a in (b,)").requirements()[0].values,
            vec![String::new(), "b".to_string()]
        );
        assert_eq!(
            sel("x in (foo,,baz),y,z notin ()").to_string(),
            "x in (,baz,foo),y,z notin ()"
        );
        // Duplicates collapse; order is canonical.
        assert_eq!(sel("a in (c,b,c)").to_string(), "a in (b,c)");
        // Parenthesised values need no spaces around the keyword.
        assert!(m(&sel("a notin(x)"), json!({"a": "y"})));
    }

    #[test]
    fn syntax_errors_say_what_is_wrong() {
        let cases = [
            ("a b", "found 'b', expected: in, notin, =, ==, !=, gt, lt"),
            ("a=b c", "found 'c', expected: ',' or 'end of string'"),
            ("a,", "found end of string, expected: identifier after ','"),
            ("a,,b", "found ',', expected: identifier after ','"),
            (
                ",a",
                "found ',', expected: !, identifier, or 'end of string'",
            ),
            ("!", "found end of string, expected: identifier"),
            (
                "!=a",
                "found '!=', expected: !, identifier, or 'end of string'",
            ),
            ("a in b", "found 'b', expected: '('"),
            ("a in (b", "found end of string, expected: ',' or ')'"),
            ("a in (b c)", "found 'c', expected: ',' or ')'"),
            ("a in (=)", "found '=', expected: ',', ')' or identifier"),
            ("a in (b,=)", "found '=', expected: ',', or identifier"),
            ("a in (b,,)", "found ')', expected: ',', or identifier"),
            ("a=(b)", "found '(', expected: identifier"),
            ("!a=b", "found '=', expected: ',' or 'end of string'"),
            ("a!", "found '!', expected: in, notin, =, ==, !=, gt, lt"),
            ("a===b", "found '=', expected: identifier"),
        ];
        for (input, want) in cases {
            let err = parse_err(input);
            assert_eq!(
                err,
                format!("unable to parse label selector {input:?}: {want}"),
                "input {input:?}"
            );
        }
    }

    #[test]
    fn invalid_keys_and_values_are_rejected() {
        let err = LabelSelector::parse("-bad=x").unwrap_err();
        assert_eq!(
            err,
            SelectorError::InvalidLabelKey {
                key: "-bad".to_string(),
                reason: NAME_PART_REGEX_MSG.to_string(),
            }
        );
        assert!(parse_err("!Bad.Prefix/x").contains("prefix part a lowercase RFC 1123"));
        assert!(parse_err(&"k".repeat(64)).contains("name part must be no more than 63"));
        let err = LabelSelector::parse("a=b-").unwrap_err();
        assert!(
            matches!(&err, SelectorError::InvalidLabelValue { key, value, .. } if key == "a" && value == "b-"),
            "{err:?}"
        );
        assert!(err.to_string().starts_with(
            "invalid label value \"b-\" for key \"a\": a valid label must be an empty string"
        ));
        assert!(parse_err("a in (ok,no/t)").contains("invalid label value \"no/t\""));
        assert!(parse_err(&format!("a={}", "v".repeat(64))).contains("no more than 63"));
        assert!(parse_err("ключ=x").contains("invalid label key"));
    }

    #[test]
    fn from_json_all_operators() {
        let s = LabelSelector::from_json(&json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "env", "operator": "In", "values": ["prod", "dev"]},
                {"key": "zone", "operator": "NotIn", "values": ["z1"]},
                {"key": "tier", "operator": "Exists"},
                {"key": "canary", "operator": "DoesNotExist", "values": []},
            ],
        }))
        .unwrap();
        assert_eq!(
            s.to_string(),
            "app=web,!canary,env in (dev,prod),tier,zone notin (z1)"
        );
        assert!(m(
            &s,
            json!({"app": "web", "env": "dev", "tier": "a", "zone": "z2"})
        ));
        assert!(!m(
            &s,
            json!({"app": "web", "env": "dev", "tier": "a", "zone": "z1"})
        ));
        assert!(!m(
            &s,
            json!({"app": "web", "env": "dev", "tier": "a", "canary": "1"})
        ));
        assert!(!m(&s, json!({"app": "web", "env": "dev"})));
        assert!(!m(&s, json!({"app": "api", "env": "dev", "tier": "a"})));
        assert_eq!(LabelSelector::parse(&s.to_string()), Ok(s));
    }

    #[test]
    fn from_json_empty_and_null_members_select_everything() {
        for v in [
            json!({}),
            json!({"matchLabels": {}, "matchExpressions": []}),
            json!({"matchLabels": null, "matchExpressions": null}),
        ] {
            let s = LabelSelector::from_json(&v).unwrap();
            assert!(s.is_empty());
            assert!(s.matches(None));
        }
    }

    #[test]
    fn from_json_errors() {
        let err = |v: Value| LabelSelector::from_json(&v).unwrap_err().to_string();
        assert_eq!(
            err(json!({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]})),
            "invalid values for label key \"a\": for 'in', 'notin' operators, values set can't be empty"
        );
        assert_eq!(
            err(json!({"matchExpressions": [{"key": "a", "operator": "NotIn"}]})),
            "invalid values for label key \"a\": for 'in', 'notin' operators, values set can't be empty"
        );
        assert_eq!(
            err(json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]})),
            "invalid values for label key \"a\": values set must be empty for exists and does not exist"
        );
        assert!(err(json!({"matchExpressions": [
            {"key": "a", "operator": "DoesNotExist", "values": ["x"]}
        ]}))
        .contains("values set must be empty"));
        assert_eq!(
            err(json!({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]})),
            "\"Gt\" is not a valid label selector operator"
        );
        assert_eq!(
            err(json!({"matchExpressions": [{"key": "a", "operator": "in", "values": ["1"]}]})),
            "\"in\" is not a valid label selector operator"
        );
        assert!(err(json!({"matchLabels": {"-a": "b"}})).starts_with("invalid label key \"-a\""));
        assert!(err(json!({"matchLabels": {"a": "b c"}})).starts_with("invalid label value"));
        assert!(err(json!({"matchExpressions": [
            {"key": "a", "operator": "In", "values": ["ok", "not ok"]}
        ]}))
        .starts_with("invalid label value \"not ok\""));
        assert_eq!(
            err(json!("app=web")),
            "invalid label selector object: label selector must be a JSON object"
        );
        assert!(err(Value::Null).contains("must be a JSON object"));
        assert!(err(json!({"matchLabels": []})).contains("matchLabels must be an object"));
        assert!(
            err(json!({"matchLabels": {"a": 1}})).contains("matchLabels[\"a\"] must be a string")
        );
        assert!(err(json!({"matchExpressions": {}})).contains("matchExpressions must be an array"));
        assert!(
            err(json!({"matchExpressions": [1]})).contains("matchExpressions[0] must be an object")
        );
        assert!(err(json!({"matchExpressions": [{"operator": "Exists"}]}))
            .contains("matchExpressions[0].key must be a string"));
        assert!(err(json!({"matchExpressions": [{"key": "a"}]}))
            .contains("matchExpressions[0].operator must be a string"));
        assert!(
            err(json!({"matchExpressions": [{"key": "a", "operator": "In", "values": [1]}]}))
                .contains("matchExpressions[0].values must be an array of strings")
        );
        assert!(
            err(json!({"matchExpressions": [{"key": "a", "operator": "In", "values": "x"}]}))
                .contains("matchExpressions[0].values must be an array of strings")
        );
    }

    #[test]
    fn display_round_trips() {
        for input in [
            "a=b",
            "a==b",
            "a!=b",
            "a=",
            "a!=",
            "a in (x,y)",
            "a notin (x)",
            "a",
            "!a",
            "a>5",
            "a<5",
            "a in ()",
            "example.com/app in (in,notin),!x.io/y,z",
            "b=1,a=2,a!=3",
            "env in (prod,dev),!canary,tier",
        ] {
            let parsed = sel(input);
            let printed = parsed.to_string();
            assert_eq!(sel(&printed), parsed, "{input:?} printed as {printed:?}");
            assert_eq!(sel(&printed).to_string(), printed);
        }
        // Sorted by key, stable within a key.
        assert_eq!(sel("b=1,a=2,a!=3").to_string(), "a=2,a!=3,b=1");
        assert_eq!("a==b".parse::<LabelSelector>().unwrap().to_string(), "a=b");
    }

    #[test]
    fn non_string_label_values_are_present_but_equal_nothing() {
        let v = json!({"a": 1});
        assert!(m(&sel("a"), v.clone()));
        assert!(!m(&sel("!a"), v.clone()));
        assert!(!m(&sel("a=1"), v.clone()));
        assert!(m(&sel("a!=1"), v.clone()));
        assert!(!m(&sel("a>0"), v));
    }

    fn fsel(s: &str) -> FieldSelector {
        match FieldSelector::parse(s) {
            Ok(sel) => sel,
            Err(e) => panic!("{s:?} should parse: {e}"),
        }
    }

    fn req(field: &str, op: FieldOp, value: &str) -> FieldRequirement {
        FieldRequirement {
            field: field.to_string(),
            op,
            value: value.to_string(),
        }
    }

    #[test]
    fn field_selector_parses_all_operators() {
        let s = fsel("metadata.name=x,spec.nodeName!=,status.phase==Running");
        assert_eq!(
            s.requirements(),
            &[
                req("metadata.name", FieldOp::Equals, "x"),
                req("spec.nodeName", FieldOp::NotEquals, ""),
                req("status.phase", FieldOp::Equals, "Running"),
            ]
        );
        assert!(!s.is_empty());
        assert!(fsel("").is_empty());
        assert!(fsel(",").is_empty());
        assert_eq!(fsel("a=b,,c=d,").requirements().len(), 2);
        // `==` is matched before `=`, so no stray `=` is left in the value.
        assert_eq!(
            fsel("a==b").requirements(),
            &[req("a", FieldOp::Equals, "b")]
        );
        assert_eq!(
            fsel("a!=b").requirements(),
            &[req("a", FieldOp::NotEquals, "b")]
        );
        // Whitespace is data, as in Kubernetes.
        assert_eq!(
            fsel(" a = b").requirements(),
            &[req(" a ", FieldOp::Equals, " b")]
        );
    }

    #[test]
    fn field_selector_escapes() {
        let s = fsel(r"metadata.name=a\,b\=c\\d,spec.x=y");
        assert_eq!(
            s.requirements(),
            &[
                req("metadata.name", FieldOp::Equals, r"a,b=c\d"),
                req("spec.x", FieldOp::Equals, "y"),
            ]
        );
        assert_eq!(s.to_string(), r"metadata.name=a\,b\=c\\d,spec.x=y");
        assert_eq!(fsel(&s.to_string()), s);
        assert_eq!(fsel("a=ü,b!=").to_string(), "a=ü,b!=");

        assert_eq!(
            FieldSelector::parse(r"a=b\n").unwrap_err().to_string(),
            r"invalid field selector: invalid escape sequence: \n"
        );
        assert_eq!(
            FieldSelector::parse(r"a=b\").unwrap_err(),
            SelectorError::InvalidEscape("\\".to_string())
        );
        assert_eq!(
            FieldSelector::parse("a=b=c").unwrap_err().to_string(),
            "invalid field selector: unescaped character in value: '='"
        );
        assert_eq!(
            FieldSelector::parse("a=b,metadata.name")
                .unwrap_err()
                .to_string(),
            "invalid field selector \"a=b,metadata.name\": can't understand 'metadata.name'"
        );
        assert!(FieldSelector::parse("=x")
            .unwrap_err()
            .to_string()
            .contains("missing field name in '=x'"));
        assert!(FieldSelector::parse(" ").is_err());
    }

    #[test]
    fn field_selector_matching() {
        let pod = |field: &str| match field {
            "metadata.name" => Some("web-1".to_string()),
            "status.phase" => Some("Running".to_string()),
            "spec.nodeName" => None,
            _ => None,
        };
        assert!(fsel("").matches(&pod));
        assert!(fsel("metadata.name=web-1").matches(&pod));
        assert!(!fsel("metadata.name=web-2").matches(&pod));
        assert!(fsel("metadata.name!=web-2,status.phase==Running").matches(&pod));
        assert!(!fsel("metadata.name!=web-1").matches(&pod));
        // A missing value compares as "": unscheduled pods match `spec.nodeName=`.
        assert!(fsel("spec.nodeName=").matches(&pod));
        assert!(!fsel("spec.nodeName!=").matches(&pod));
        assert!(!fsel("spec.nodeName=node-1").matches(&pod));
        let escaped = |_: &str| Some("a,b".to_string());
        assert!(fsel(r"x=a\,b").matches(&escaped));
    }

    #[test]
    fn never_panics_on_odd_input() {
        for s in [
            "(",
            ")",
            "!!",
            "!=!=",
            "a in (((",
            "a in )",
            "\u{0}",
            "é=ü",
            "a=b\\",
            ",,,",
            "=",
            "a notin",
            "a in",
            "a in (",
            "a<",
            "><",
            "a>99999999999999999999",
        ] {
            let _ = LabelSelector::parse(s);
            let _ = FieldSelector::parse(s);
        }
        assert!(parse_err("a>99999999999999999999").contains("must be an integer"));
    }
}
