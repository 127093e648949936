//! Decoding one protobuf message against its table into a JSON object.
//!
//! Contract: unknown fields are skipped; a repeated singular field merges (messages) or takes the
//! last value (scalars); repeated scalars are read packed or not; `omitempty` zeroes, empty lists
//! and empty maps are dropped; embedded structs are flattened; errors carry the JSON path of the
//! field they were found under; nesting deeper than `MAX_DEPTH` is refused.

use base64::Engine as _;
use serde_json::{Map, Value};

use super::json::{duration, int_or_string, quantity, raw_json, string_list, timestamp};
use super::table::{Card, Field, Kind, Msg};
use super::wire::{utf8, Raw, Reader, WIRE_LEN, WIRE_VARINT};
use super::{ProtobufError, Result, MAX_DEPTH};

enum Slot {
    Empty,
    One(Value),
    List(Vec<Value>),
    Map(Map<String, Value>),
}

pub(super) fn decode_message(buf: &[u8], msg: &Msg, depth: usize) -> Result<Map<String, Value>> {
    if depth > MAX_DEPTH {
        return Err(ProtobufError::malformed(format!(
            "messages nested deeper than {MAX_DEPTH} levels"
        )));
    }
    let mut slots: Vec<Slot> = msg.fields.iter().map(|_| Slot::Empty).collect();
    let mut r = Reader::new(buf);
    while let Some((num, wire)) = r.key()? {
        let Some(index) = msg.fields.iter().position(|f| u64::from(f.num) == num) else {
            r.skip(wire)?;
            continue;
        };
        let field = &msg.fields[index];
        read_field(&mut r, wire, field, &mut slots[index], depth).map_err(|e| {
            // An embedded struct's fields sit directly in this object, so it adds no segment.
            if field.card == Card::Inline {
                e
            } else {
                e.within(field.json)
            }
        })?;
    }

    let mut out = Map::new();
    for (field, slot) in msg.fields.iter().zip(slots) {
        match slot {
            Slot::Empty => {}
            Slot::One(value) => match field.card {
                Card::Inline => {
                    if let Value::Object(inner) = value {
                        out.extend(inner);
                    }
                }
                Card::Value if is_zero(field.kind, &value) => {}
                _ if value.is_null() => {}
                _ => {
                    out.insert(field.json.to_string(), value);
                }
            },
            Slot::List(items) if !items.is_empty() => {
                out.insert(field.json.to_string(), Value::Array(items));
            }
            Slot::Map(entries) if !entries.is_empty() => {
                out.insert(field.json.to_string(), Value::Object(entries));
            }
            Slot::List(_) | Slot::Map(_) => {}
        }
    }
    Ok(out)
}

fn read_field(
    r: &mut Reader<'_>,
    wire: u8,
    field: &Field,
    slot: &mut Slot,
    depth: usize,
) -> Result<()> {
    match field.card {
        Card::Value | Card::Keep | Card::Inline => {
            let raw = read_raw(r, wire, field.kind)?;
            let value = convert(field.kind, raw, depth)?;
            // A repeated occurrence of a singular field: messages merge, scalars take the last
            // value, as protobuf specifies.
            *slot = match (std::mem::replace(slot, Slot::Empty), value) {
                (Slot::One(Value::Object(mut old)), Value::Object(new)) => {
                    old.extend(new);
                    Slot::One(Value::Object(old))
                }
                (_, value) => Slot::One(value),
            };
        }
        Card::List => {
            let mut items = match std::mem::replace(slot, Slot::Empty) {
                Slot::List(items) => items,
                _ => Vec::new(),
            };
            if wire == WIRE_LEN && is_varint_kind(field.kind) {
                // Packed encoding of a repeated scalar.
                let mut packed = Reader::new(r.bytes()?);
                while !packed.at_end() {
                    let v = packed.varint()?;
                    items.push(convert(field.kind, Raw::Varint(v), depth)?);
                }
            } else {
                let index = items.len();
                let raw = read_raw(r, wire, field.kind)?;
                let value =
                    convert(field.kind, raw, depth).map_err(|e| e.within(&format!("[{index}]")))?;
                items.push(value);
            }
            *slot = Slot::List(items);
        }
        Card::Map => {
            if wire != WIRE_LEN {
                return Err(ProtobufError::malformed(
                    "map entry is not length-delimited",
                ));
            }
            let entry = r.bytes()?;
            let (key, value) = map_entry(entry, field.kind, depth)?;
            let mut entries = match std::mem::replace(slot, Slot::Empty) {
                Slot::Map(entries) => entries,
                _ => Map::new(),
            };
            entries.insert(key, value);
            *slot = Slot::Map(entries);
        }
    }
    Ok(())
}

fn is_varint_kind(kind: Kind) -> bool {
    matches!(kind, Kind::Bool | Kind::Int32 | Kind::Int64)
}

fn read_raw<'a>(r: &mut Reader<'a>, wire: u8, kind: Kind) -> Result<Raw<'a>> {
    let expected = if is_varint_kind(kind) {
        WIRE_VARINT
    } else {
        WIRE_LEN
    };
    if wire != expected {
        return Err(ProtobufError::malformed(format!(
            "wire type {wire} where {expected} was expected"
        )));
    }
    Ok(if expected == WIRE_VARINT {
        Raw::Varint(r.varint()?)
    } else {
        Raw::Bytes(r.bytes()?)
    })
}

/// Decodes one `map<string, kind>` entry message (`key = 1`, `value = 2`).
fn map_entry(buf: &[u8], kind: Kind, depth: usize) -> Result<(String, Value)> {
    let mut key = String::new();
    let mut raw = None;
    let mut r = Reader::new(buf);
    while let Some((num, wire)) = r.key()? {
        match num {
            1 if wire == WIRE_LEN => key = utf8(r.bytes()?)?,
            2 => raw = Some(read_raw(&mut r, wire, kind)?),
            _ => r.skip(wire)?,
        }
    }
    // An entry without a value carries the zero value of the value type.
    let raw = raw.unwrap_or(if is_varint_kind(kind) {
        Raw::Varint(0)
    } else {
        Raw::Bytes(&[])
    });
    let value = convert(kind, raw, depth).map_err(|e| e.within(&format!("[{key:?}]")))?;
    Ok((key, value))
}

pub(super) fn convert(kind: Kind, raw: Raw<'_>, depth: usize) -> Result<Value> {
    match (kind, raw) {
        (Kind::Bool, Raw::Varint(v)) => Ok(Value::Bool(v != 0)),
        // int32 travels sign-extended to 64 bits; truncating recovers the value.
        (Kind::Int32, Raw::Varint(v)) => Ok(Value::from(v as u32 as i32)),
        (Kind::Int64, Raw::Varint(v)) => Ok(Value::from(v as i64)),
        (Kind::Str, Raw::Bytes(b)) => Ok(Value::String(utf8(b)?)),
        (Kind::Bytes, Raw::Bytes(b)) => Ok(Value::String(
            base64::engine::general_purpose::STANDARD.encode(b),
        )),
        (Kind::Msg(m), Raw::Bytes(b)) => Ok(Value::Object(decode_message(b, m, depth + 1)?)),
        (Kind::Time, Raw::Bytes(b)) => timestamp(b, false),
        (Kind::MicroTime, Raw::Bytes(b)) => timestamp(b, true),
        (Kind::Quantity, Raw::Bytes(b)) => quantity(b),
        (Kind::IntOrString, Raw::Bytes(b)) => int_or_string(b),
        (Kind::Duration, Raw::Bytes(b)) => duration(b),
        (Kind::RawJson, Raw::Bytes(b)) => raw_json(b, depth),
        (Kind::StringList, Raw::Bytes(b)) => string_list(b),
        _ => Err(ProtobufError::malformed(
            "value does not match the field type",
        )),
    }
}

/// Zero values Go's `omitempty` drops.
fn is_zero(kind: Kind, value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_i64() == Some(0),
        Value::String(s) => s.is_empty() || (matches!(kind, Kind::Duration) && s == "0s"),
        Value::Array(a) => a.is_empty(),
        // Go never omits a struct, even an empty one.
        Value::Object(_) => false,
    }
}
