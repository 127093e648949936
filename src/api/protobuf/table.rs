//! The vocabulary of the message tables: what a field holds ([`Kind`]), how its occurrences
//! combine and when it is emitted ([`Card`]), and the `const fn` row builders the per-group
//! tables are written with.
//!
//! Contract: a table lists a message's fields in Go declaration order (the JSON key order) with
//! their proto field numbers; the builders encode Go's `omitempty`/pointer rules (see the module
//! documentation of [`super`]).

/// What one field holds and how it maps to JSON.
#[derive(Clone, Copy)]
pub(super) enum Kind {
    Str,
    /// `bytes`: base64 in JSON, as Go encodes `[]byte`.
    Bytes,
    Bool,
    Int32,
    Int64,
    Msg(&'static Msg),
    /// `meta/v1.Time`: RFC 3339, second precision.
    Time,
    /// `meta/v1.MicroTime`: RFC 3339 with six fractional digits.
    MicroTime,
    /// `resource.Quantity`: its canonical string.
    Quantity,
    /// `intstr.IntOrString`: a number or a string.
    IntOrString,
    /// `meta/v1.Duration`: Go duration string. No registered kind has one yet; it is here so
    /// such tables are one row away.
    #[allow(dead_code)]
    Duration,
    /// `runtime.RawExtension` / `meta/v1.FieldsV1`: embedded JSON bytes.
    RawJson,
    /// A proto wrapper `{repeated string items = 1}` for a Go `[]string` type (`ExtraValue`).
    StringList,
}

/// How a field's occurrences combine and when it is emitted.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Card {
    /// Go value field tagged `omitempty`: dropped when zero.
    Value,
    /// Go pointer, or a field without `omitempty`: emitted whenever present on the wire.
    Keep,
    /// `repeated`: a JSON array, omitted when empty.
    List,
    /// `map<string, kind>`: a JSON object, omitted when empty.
    Map,
    /// Embedded Go struct: its fields are merged into the parent object.
    Inline,
}

pub(super) struct Field {
    pub(super) num: u32,
    pub(super) json: &'static str,
    pub(super) kind: Kind,
    pub(super) card: Card,
}

/// One message: its fields in Go declaration order, which is the JSON key order.
pub(super) struct Msg {
    pub(super) fields: &'static [Field],
}

/// Value field, zero omitted.
pub(super) const fn val(num: u32, json: &'static str, kind: Kind) -> Field {
    Field {
        num,
        json,
        kind,
        card: Card::Value,
    }
}

/// Pointer or non-`omitempty` field, kept even when zero.
pub(super) const fn keep(num: u32, json: &'static str, kind: Kind) -> Field {
    Field {
        num,
        json,
        kind,
        card: Card::Keep,
    }
}

pub(super) const fn list(num: u32, json: &'static str, kind: Kind) -> Field {
    Field {
        num,
        json,
        kind,
        card: Card::List,
    }
}

pub(super) const fn map(num: u32, json: &'static str, kind: Kind) -> Field {
    Field {
        num,
        json,
        kind,
        card: Card::Map,
    }
}

/// Embedded struct; the proto name is irrelevant because its fields land in the parent.
pub(super) const fn inline(num: u32, msg: &'static Msg) -> Field {
    Field {
        num,
        json: "",
        kind: Kind::Msg(msg),
        card: Card::Inline,
    }
}

pub(super) const fn msg(m: &'static Msg) -> Kind {
    Kind::Msg(m)
}

pub(super) const STR: Kind = Kind::Str;
pub(super) const BYTES: Kind = Kind::Bytes;
pub(super) const BOOL: Kind = Kind::Bool;
pub(super) const I32: Kind = Kind::Int32;
pub(super) const I64: Kind = Kind::Int64;
pub(super) const TIME: Kind = Kind::Time;
pub(super) const MICRO_TIME: Kind = Kind::MicroTime;
pub(super) const QUANTITY: Kind = Kind::Quantity;
pub(super) const INT_OR_STRING: Kind = Kind::IntOrString;
#[allow(dead_code)]
pub(super) const DURATION: Kind = Kind::Duration;
pub(super) const RAW_JSON: Kind = Kind::RawJson;
pub(super) const STRING_LIST: Kind = Kind::StringList;
