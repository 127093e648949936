//! Kubernetes protobuf request bodies (`Content-Type: application/vnd.kubernetes.protobuf`).
//!
//! Contract: [`decode`] turns the body kubectl and client-go send for create/update calls into the
//! JSON object the JSON path would have received, so the rest of the API server only ever sees
//! JSON. The body is the 4-byte magic `k8s\0` followed by a `runtime.Unknown` envelope
//! (`typeMeta{apiVersion, kind}` = 1, `raw` = 2, `contentEncoding` = 3, `contentType` = 4); `raw`
//! is decoded as the message registered for `(apiVersion, kind)` and the result carries
//! `"apiVersion"` and `"kind"` first. Responses stay JSON: there is no encoder.
//!
//! JSON mapping, mirroring Go's `encoding/json` over the `k8s.io/api` types:
//! - field names are the Go JSON names (equal to the proto names except a handful, noted inline);
//! - Go value fields tagged `omitempty` drop their zero value (gogo-protobuf writes every value
//!   field, so "present on the wire" says nothing); pointer fields and fields without
//!   `omitempty` keep whatever the wire carries, so an explicit `replicas: 0` survives;
//! - empty repeated and map fields are omitted (nil and empty are indistinguishable on the wire);
//! - embedded Go structs (`LocalObjectReference` in key selectors, `VolumeSource` in `Volume`,
//!   `ProbeHandler` in `Probe`, ...) are flattened into their parent object;
//! - `bytes` become base64 strings, `Time` an RFC 3339 string (`MicroTime` with six fractional
//!   digits), `Quantity` its string, `IntOrString` a number or a string, `Duration` a Go duration
//!   string (`1h0m0s`), `RawExtension`/`FieldsV1` the embedded JSON;
//! - a zero `Time` is omitted where Go would write `null`.
//!
//! Fields the tables do not know are skipped, as a JSON decoder ignores unknown keys. Nothing in
//! here panics on hostile input: every length is bounds-checked, varints are capped at ten bytes
//! and message nesting at 64 levels.

use base64::Engine as _;
use serde_json::{Map, Value};

/// Prefix of every Kubernetes protobuf body.
const MAGIC: &[u8] = b"k8s\0";

/// Deepest message nesting accepted; real objects stay under 20 (pod template in a job template in
/// a cron job), so this only stops stack exhaustion from crafted input.
const MAX_DEPTH: usize = 64;

/// Why a protobuf body could not be turned into JSON.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtobufError {
    /// The body does not start with the `k8s\0` magic, so it is not Kubernetes protobuf at all.
    #[error("body is not kubernetes protobuf: missing k8s\\0 magic prefix")]
    NotProtobuf,
    /// The bytes violate the wire format or the Kubernetes message shapes.
    #[error("malformed protobuf at {path}: {reason}")]
    Malformed {
        /// JSON-style path of the offending field, e.g. `spec.template.spec.containers[0].ports`.
        path: String,
        /// What was wrong.
        reason: String,
    },
    /// The envelope names a kind this decoder has no table for (the server answers 415).
    #[error("protobuf decoding of {kind} in {api_version} is not supported")]
    UnsupportedKind {
        /// `apiVersion` from the envelope.
        api_version: String,
        /// `kind` from the envelope.
        kind: String,
    },
    /// The envelope declares a compressed or non-protobuf payload (the server answers 415).
    #[error("protobuf envelope content encoding {0:?} is not supported")]
    UnsupportedEncoding(String),
}

impl ProtobufError {
    fn malformed(reason: impl Into<String>) -> Self {
        ProtobufError::Malformed {
            path: String::from("object"),
            reason: reason.into(),
        }
    }

    /// Prefixes the path of a malformed-input error with the field it was found under, so errors
    /// read `spec.containers[0].ports` rather than just `ports`.
    fn within(self, segment: &str) -> Self {
        match self {
            ProtobufError::Malformed { path, reason } => {
                let path = if path == "object" {
                    segment.to_string()
                } else if path.starts_with('[') {
                    format!("{segment}{path}")
                } else {
                    format!("{segment}.{path}")
                };
                ProtobufError::Malformed { path, reason }
            }
            other => other,
        }
    }
}

type Result<T> = std::result::Result<T, ProtobufError>;

/// Decodes a Kubernetes protobuf request body into the equivalent JSON object.
///
/// Decode `k8s\0` magic + runtime.Unknown{typeMeta{apiVersion,kind}=1, raw=2, contentEncoding=3,
/// contentType=4}; then decode `raw` as the message for (apiVersion, kind). Returns the JSON object
/// with "apiVersion" and "kind" set first.
pub fn decode(body: &[u8]) -> std::result::Result<Value, ProtobufError> {
    decode_at(body, 0)
}

fn decode_at(body: &[u8], depth: usize) -> Result<Value> {
    let rest = body.strip_prefix(MAGIC).ok_or(ProtobufError::NotProtobuf)?;
    let envelope = Envelope::parse(rest).map_err(|e| e.within("envelope"))?;
    if !envelope.content_encoding.is_empty() {
        return Err(ProtobufError::UnsupportedEncoding(
            envelope.content_encoding,
        ));
    }
    // client-go leaves contentType empty for protobuf; anything else would mean `raw` is not a
    // protobuf message and cannot be read with these tables.
    if !envelope.content_type.is_empty()
        && envelope.content_type != "application/vnd.kubernetes.protobuf"
    {
        return Err(ProtobufError::UnsupportedEncoding(envelope.content_type));
    }
    if envelope.api_version.is_empty() || envelope.kind.is_empty() {
        return Err(
            ProtobufError::malformed("envelope lacks apiVersion or kind").within("envelope"),
        );
    }
    let msg = lookup(&envelope.api_version, &envelope.kind).ok_or_else(|| {
        ProtobufError::UnsupportedKind {
            api_version: envelope.api_version.clone(),
            kind: envelope.kind.clone(),
        }
    })?;
    let fields = decode_message(envelope.raw, msg, depth)?;
    let mut out = Map::new();
    out.insert("apiVersion".into(), Value::String(envelope.api_version));
    out.insert("kind".into(), Value::String(envelope.kind));
    out.extend(fields);
    Ok(Value::Object(out))
}

/// The `runtime.Unknown` wrapper around every protobuf object.
struct Envelope<'a> {
    api_version: String,
    kind: String,
    raw: &'a [u8],
    content_encoding: String,
    content_type: String,
}

impl<'a> Envelope<'a> {
    fn parse(buf: &'a [u8]) -> Result<Self> {
        let mut env = Envelope {
            api_version: String::new(),
            kind: String::new(),
            raw: &[],
            content_encoding: String::new(),
            content_type: String::new(),
        };
        let mut r = Reader::new(buf);
        while let Some((num, wire)) = r.key()? {
            match (num, wire) {
                (1, WIRE_LEN) => {
                    let mut tm = Reader::new(r.bytes()?);
                    while let Some((num, wire)) = tm.key()? {
                        match (num, wire) {
                            (1, WIRE_LEN) => env.api_version = utf8(tm.bytes()?)?,
                            (2, WIRE_LEN) => env.kind = utf8(tm.bytes()?)?,
                            _ => tm.skip(wire)?,
                        }
                    }
                }
                (2, WIRE_LEN) => env.raw = r.bytes()?,
                (3, WIRE_LEN) => env.content_encoding = utf8(r.bytes()?)?,
                (4, WIRE_LEN) => env.content_type = utf8(r.bytes()?)?,
                _ => r.skip(wire)?,
            }
        }
        Ok(env)
    }
}

// ---------------------------------------------------------------------------------------------
// Wire format
// ---------------------------------------------------------------------------------------------

const WIRE_VARINT: u8 = 0;
const WIRE_I64: u8 = 1;
const WIRE_LEN: u8 = 2;
const WIRE_I32: u8 = 5;

/// A cursor over one message's bytes.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64> {
        let mut value = 0u64;
        for i in 0..10 {
            let Some(&byte) = self.buf.get(self.pos) else {
                return Err(ProtobufError::malformed("truncated varint"));
            };
            self.pos += 1;
            // The tenth byte may only carry the single remaining bit of a u64.
            if i == 9 && byte > 1 {
                return Err(ProtobufError::malformed("varint overflows 64 bits"));
            }
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err(ProtobufError::malformed("varint longer than 10 bytes"))
    }

    /// Next field key as (field number, wire type); `None` at the end of the message.
    fn key(&mut self) -> Result<Option<(u64, u8)>> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let num = key >> 3;
        if num == 0 {
            return Err(ProtobufError::malformed("field number 0"));
        }
        // Masked to three bits, so the cast cannot truncate.
        Ok(Some((num, (key & 7) as u8)))
    }

    fn bytes(&mut self) -> Result<&'a [u8]> {
        let len = self.varint()?;
        let remaining = self.buf.len() - self.pos;
        let len = usize::try_from(len)
            .ok()
            .filter(|&len| len <= remaining)
            .ok_or_else(|| ProtobufError::malformed("length runs past the end of the input"))?;
        let out = &self.buf[self.pos..self.pos + len];
        self.pos += len;
        Ok(out)
    }

    fn fixed(&mut self, width: usize) -> Result<()> {
        if self.buf.len() - self.pos < width {
            return Err(ProtobufError::malformed("truncated fixed-width value"));
        }
        self.pos += width;
        Ok(())
    }

    /// Skips a field this decoder does not know, as a JSON decoder skips unknown keys.
    fn skip(&mut self, wire: u8) -> Result<()> {
        match wire {
            WIRE_VARINT => self.varint().map(drop),
            WIRE_I64 => self.fixed(8),
            WIRE_LEN => self.bytes().map(drop),
            WIRE_I32 => self.fixed(4),
            // Groups (3, 4) never appear in Kubernetes messages; 6 and 7 are not wire types.
            other => Err(ProtobufError::malformed(format!(
                "unsupported wire type {other}"
            ))),
        }
    }
}

fn utf8(bytes: &[u8]) -> Result<String> {
    std::str::from_utf8(bytes)
        .map(str::to_owned)
        .map_err(|_| ProtobufError::malformed("string is not valid utf-8"))
}

// ---------------------------------------------------------------------------------------------
// Message tables
// ---------------------------------------------------------------------------------------------

/// What one field holds and how it maps to JSON.
#[derive(Clone, Copy)]
enum Kind {
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
enum Card {
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

struct Field {
    num: u32,
    json: &'static str,
    kind: Kind,
    card: Card,
}

/// One message: its fields in Go declaration order, which is the JSON key order.
struct Msg {
    fields: &'static [Field],
}

/// Value field, zero omitted.
const fn val(num: u32, json: &'static str, kind: Kind) -> Field {
    Field {
        num,
        json,
        kind,
        card: Card::Value,
    }
}

/// Pointer or non-`omitempty` field, kept even when zero.
const fn keep(num: u32, json: &'static str, kind: Kind) -> Field {
    Field {
        num,
        json,
        kind,
        card: Card::Keep,
    }
}

const fn list(num: u32, json: &'static str, kind: Kind) -> Field {
    Field {
        num,
        json,
        kind,
        card: Card::List,
    }
}

const fn map(num: u32, json: &'static str, kind: Kind) -> Field {
    Field {
        num,
        json,
        kind,
        card: Card::Map,
    }
}

/// Embedded struct; the proto name is irrelevant because its fields land in the parent.
const fn inline(num: u32, msg: &'static Msg) -> Field {
    Field {
        num,
        json: "",
        kind: Kind::Msg(msg),
        card: Card::Inline,
    }
}

const fn msg(m: &'static Msg) -> Kind {
    Kind::Msg(m)
}

const STR: Kind = Kind::Str;
const BYTES: Kind = Kind::Bytes;
const BOOL: Kind = Kind::Bool;
const I32: Kind = Kind::Int32;
const I64: Kind = Kind::Int64;
const TIME: Kind = Kind::Time;
const MICRO_TIME: Kind = Kind::MicroTime;
const QUANTITY: Kind = Kind::Quantity;
const INT_OR_STRING: Kind = Kind::IntOrString;
#[allow(dead_code)]
const DURATION: Kind = Kind::Duration;
const RAW_JSON: Kind = Kind::RawJson;
const STRING_LIST: Kind = Kind::StringList;

// ---------------------------------------------------------------------------------------------
// Decoding against the tables
// ---------------------------------------------------------------------------------------------

/// One field's wire payload before conversion.
#[derive(Clone, Copy)]
enum Raw<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

enum Slot {
    Empty,
    One(Value),
    List(Vec<Value>),
    Map(Map<String, Value>),
}

fn decode_message(buf: &[u8], msg: &Msg, depth: usize) -> Result<Map<String, Value>> {
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
                while packed.pos < packed.buf.len() {
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

fn convert(kind: Kind, raw: Raw<'_>, depth: usize) -> Result<Value> {
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

// ---------------------------------------------------------------------------------------------
// Well-known Kubernetes messages with custom JSON forms
// ---------------------------------------------------------------------------------------------

/// Reads the scalar fields of a small fixed message, skipping everything else.
fn small_fields<'a>(buf: &'a [u8], mut each: impl FnMut(u64, Raw<'a>) -> Result<()>) -> Result<()> {
    let mut r = Reader::new(buf);
    while let Some((num, wire)) = r.key()? {
        match wire {
            WIRE_VARINT => each(num, Raw::Varint(r.varint()?))?,
            WIRE_LEN => each(num, Raw::Bytes(r.bytes()?))?,
            other => r.skip(other)?,
        }
    }
    Ok(())
}

/// `Time`/`MicroTime` (`seconds = 1`, `nanos = 2`).
fn timestamp(buf: &[u8], micro: bool) -> Result<Value> {
    let (mut seconds, mut nanos) = (0i64, 0i64);
    small_fields(buf, |num, raw| {
        match (num, raw) {
            (1, Raw::Varint(v)) => seconds = v as i64,
            (2, Raw::Varint(v)) => nanos = i64::from(v as u32 as i32),
            _ => {}
        }
        Ok(())
    })?;
    // Go's zero time.Time is written as an empty message; its Unix form is year 1.
    if nanos == 0 && (seconds == 0 || seconds == GO_ZERO_TIME) {
        return Ok(Value::Null);
    }
    seconds = seconds
        .checked_add(nanos.div_euclid(1_000_000_000))
        .ok_or_else(|| ProtobufError::malformed("timestamp out of range"))?;
    let nanos = nanos.rem_euclid(1_000_000_000);
    format_rfc3339(seconds, nanos, micro).map(Value::String)
}

/// `time.Time{}.Unix()`: 0001-01-01T00:00:00Z.
const GO_ZERO_TIME: i64 = -62_135_596_800;
/// 9999-12-31T23:59:59Z, the last instant RFC 3339 (and Go's MarshalJSON) can write.
const MAX_RFC3339: i64 = 253_402_300_799;

fn format_rfc3339(seconds: i64, nanos: i64, micro: bool) -> Result<String> {
    if !(GO_ZERO_TIME..=MAX_RFC3339).contains(&seconds) {
        return Err(ProtobufError::malformed("timestamp outside years 1-9999"));
    }
    let days = seconds.div_euclid(86_400);
    let secs_of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let (h, m, s) = (secs_of_day / 3600, secs_of_day / 60 % 60, secs_of_day % 60);
    let mut out = format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}");
    if micro {
        out.push_str(&format!(".{:06}", nanos / 1000));
    }
    out.push('Z');
    Ok(out)
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar, using the
/// 400-year era decomposition (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365], March-based
    let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `Quantity` (`string = 1`). Go prints an unset Quantity as "0".
fn quantity(buf: &[u8]) -> Result<Value> {
    let mut s = String::new();
    small_fields(buf, |num, raw| {
        if let (1, Raw::Bytes(b)) = (num, raw) {
            s = utf8(b)?;
        }
        Ok(())
    })?;
    if s.is_empty() {
        s.push('0');
    }
    Ok(Value::String(s))
}

/// `IntOrString` (`type = 1`, `intVal = 2`, `strVal = 3`).
fn int_or_string(buf: &[u8]) -> Result<Value> {
    let (mut ty, mut int_val, mut str_val) = (0u64, 0i32, String::new());
    small_fields(buf, |num, raw| {
        match (num, raw) {
            (1, Raw::Varint(v)) => ty = v,
            (2, Raw::Varint(v)) => int_val = v as u32 as i32,
            (3, Raw::Bytes(b)) => str_val = utf8(b)?,
            _ => {}
        }
        Ok(())
    })?;
    match ty {
        0 => Ok(Value::from(int_val)),
        1 => Ok(Value::String(str_val)),
        other => Err(ProtobufError::malformed(format!(
            "IntOrString type {other}"
        ))),
    }
}

/// `Duration` (`duration = 1`, nanoseconds).
fn duration(buf: &[u8]) -> Result<Value> {
    let mut nanos = 0i64;
    small_fields(buf, |num, raw| {
        if let (1, Raw::Varint(v)) = (num, raw) {
            nanos = v as i64;
        }
        Ok(())
    })?;
    Ok(Value::String(go_duration(nanos)))
}

/// Formats nanoseconds as Go's `time.Duration.String` does: `1h2m3.5s`, `1.5ms`, `0s`.
fn go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let u = nanos.unsigned_abs();
    if u < 1_000 {
        return format!("{sign}{u}ns");
    }
    if u < 1_000_000 {
        return format!("{sign}{}µs", decimal(u, 1_000, 3));
    }
    if u < 1_000_000_000 {
        return format!("{sign}{}ms", decimal(u, 1_000_000, 6));
    }
    let secs = u / 1_000_000_000;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let seconds = decimal(s * 1_000_000_000 + u % 1_000_000_000, 1_000_000_000, 9);
    if h > 0 {
        format!("{sign}{h}h{m}m{seconds}s")
    } else if m > 0 {
        format!("{sign}{m}m{seconds}s")
    } else {
        format!("{sign}{seconds}s")
    }
}

/// `value / scale` with the remainder as trailing-zero-trimmed decimals.
fn decimal(value: u64, scale: u64, digits: usize) -> String {
    let (whole, frac) = (value / scale, value % scale);
    if frac == 0 {
        return whole.to_string();
    }
    let frac = format!("{frac:0digits$}");
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

/// `RawExtension`/`FieldsV1` (`raw = 1`): the bytes are JSON, or (for objects nested by a
/// protobuf client) another `k8s\0` envelope.
fn raw_json(buf: &[u8], depth: usize) -> Result<Value> {
    let mut raw: &[u8] = &[];
    small_fields(buf, |num, value| {
        if let (1, Raw::Bytes(b)) = (num, value) {
            raw = b;
        }
        Ok(())
    })?;
    if raw.is_empty() {
        return Ok(Value::Null);
    }
    if raw.starts_with(MAGIC) {
        if depth >= MAX_DEPTH {
            return Err(ProtobufError::malformed(
                "embedded objects nested too deeply",
            ));
        }
        return decode_at(raw, depth + 1);
    }
    serde_json::from_slice(raw).map_err(|e| ProtobufError::malformed(format!("embedded json: {e}")))
}

/// `ExtraValue` and friends (`repeated string items = 1`): a bare JSON array.
fn string_list(buf: &[u8]) -> Result<Value> {
    let mut items = Vec::new();
    small_fields(buf, |num, raw| {
        if let (1, Raw::Bytes(b)) = (num, raw) {
            items.push(Value::String(utf8(b)?));
        }
        Ok(())
    })?;
    Ok(Value::Array(items))
}

// ---------------------------------------------------------------------------------------------
// Registry: (apiVersion, kind) -> message. Adding a kind is a table plus one line here.
// ---------------------------------------------------------------------------------------------

static KINDS: &[(&str, &str, &Msg)] = &[
    ("v1", "ConfigMap", &CONFIG_MAP),
    ("v1", "Secret", &SECRET),
    ("v1", "Namespace", &NAMESPACE),
    ("v1", "ServiceAccount", &SERVICE_ACCOUNT),
    ("v1", "Service", &SERVICE),
    ("v1", "ResourceQuota", &RESOURCE_QUOTA),
    ("v1", "LimitRange", &LIMIT_RANGE),
    ("v1", "Pod", &POD),
    ("v1", "PodTemplate", &POD_TEMPLATE),
    ("v1", "ReplicationController", &REPLICATION_CONTROLLER),
    ("v1", "PersistentVolumeClaim", &PERSISTENT_VOLUME_CLAIM),
    ("v1", "Event", &EVENT),
    ("v1", "DeleteOptions", &DELETE_OPTIONS),
    ("meta.k8s.io/v1", "DeleteOptions", &DELETE_OPTIONS),
    ("apps/v1", "Deployment", &DEPLOYMENT),
    ("apps/v1", "ReplicaSet", &REPLICA_SET),
    ("apps/v1", "DaemonSet", &DAEMON_SET),
    ("apps/v1", "StatefulSet", &STATEFUL_SET),
    ("batch/v1", "Job", &JOB),
    ("batch/v1", "CronJob", &CRON_JOB),
    ("policy/v1", "Eviction", &EVICTION),
    ("policy/v1", "PodDisruptionBudget", &POD_DISRUPTION_BUDGET),
    (
        "authorization.k8s.io/v1",
        "SelfSubjectAccessReview",
        &SELF_SUBJECT_ACCESS_REVIEW,
    ),
    (
        "authorization.k8s.io/v1",
        "SubjectAccessReview",
        &SUBJECT_ACCESS_REVIEW,
    ),
    (
        "authorization.k8s.io/v1",
        "LocalSubjectAccessReview",
        &SUBJECT_ACCESS_REVIEW,
    ),
    (
        "authorization.k8s.io/v1",
        "SelfSubjectRulesReview",
        &SELF_SUBJECT_RULES_REVIEW,
    ),
    ("authentication.k8s.io/v1", "TokenRequest", &TOKEN_REQUEST),
    ("authentication.k8s.io/v1", "TokenReview", &TOKEN_REVIEW),
    (
        "authentication.k8s.io/v1",
        "SelfSubjectReview",
        &SELF_SUBJECT_REVIEW,
    ),
    ("rbac.authorization.k8s.io/v1", "Role", &ROLE),
    ("rbac.authorization.k8s.io/v1", "ClusterRole", &CLUSTER_ROLE),
    ("rbac.authorization.k8s.io/v1", "RoleBinding", &ROLE_BINDING),
    (
        "rbac.authorization.k8s.io/v1",
        "ClusterRoleBinding",
        &ROLE_BINDING,
    ),
    ("networking.k8s.io/v1", "Ingress", &INGRESS),
    ("networking.k8s.io/v1", "IngressClass", &INGRESS_CLASS),
    ("networking.k8s.io/v1", "NetworkPolicy", &NETWORK_POLICY),
    ("scheduling.k8s.io/v1", "PriorityClass", &PRIORITY_CLASS),
];

fn lookup(api_version: &str, kind: &str) -> Option<&'static Msg> {
    KINDS
        .iter()
        .find(|(v, k, _)| *v == api_version && *k == kind)
        .map(|(_, _, m)| *m)
}

// Field numbers and types below are those of the `generated.proto` files of k8s.io/api and
// k8s.io/apimachinery; `keep` marks Go pointers and fields whose JSON tag lacks `omitempty`.
// Rows are in Go declaration order, which is the key order Go's JSON encoder produces.

// --- meta/v1 ---------------------------------------------------------------------------------

static OBJECT_META: Msg = Msg {
    fields: &[
        val(1, "name", STR),
        val(2, "generateName", STR),
        val(3, "namespace", STR),
        val(4, "selfLink", STR),
        val(5, "uid", STR),
        val(6, "resourceVersion", STR),
        val(7, "generation", I64),
        val(8, "creationTimestamp", TIME),
        keep(9, "deletionTimestamp", TIME),
        keep(10, "deletionGracePeriodSeconds", I64),
        map(11, "labels", STR),
        map(12, "annotations", STR),
        list(13, "ownerReferences", msg(&OWNER_REFERENCE)),
        list(14, "finalizers", STR),
        list(17, "managedFields", msg(&MANAGED_FIELDS_ENTRY)),
    ],
};

static OWNER_REFERENCE: Msg = Msg {
    fields: &[
        keep(5, "apiVersion", STR),
        keep(1, "kind", STR),
        keep(3, "name", STR),
        keep(4, "uid", STR),
        keep(6, "controller", BOOL),
        keep(7, "blockOwnerDeletion", BOOL),
    ],
};

static MANAGED_FIELDS_ENTRY: Msg = Msg {
    fields: &[
        val(1, "manager", STR),
        val(2, "operation", STR),
        val(3, "apiVersion", STR),
        keep(4, "time", TIME),
        val(6, "fieldsType", STR),
        keep(7, "fieldsV1", RAW_JSON),
        val(8, "subresource", STR),
    ],
};

static LABEL_SELECTOR: Msg = Msg {
    fields: &[
        map(1, "matchLabels", STR),
        list(2, "matchExpressions", msg(&LABEL_SELECTOR_REQUIREMENT)),
    ],
};

static LABEL_SELECTOR_REQUIREMENT: Msg = Msg {
    fields: &[
        keep(1, "key", STR),
        keep(2, "operator", STR),
        list(3, "values", STR),
    ],
};

static CONDITION: Msg = Msg {
    fields: &[
        keep(1, "type", STR),
        keep(2, "status", STR),
        val(3, "observedGeneration", I64),
        keep(4, "lastTransitionTime", TIME),
        keep(5, "reason", STR),
        keep(6, "message", STR),
    ],
};

static DELETE_OPTIONS: Msg = Msg {
    fields: &[
        keep(1, "gracePeriodSeconds", I64),
        keep(2, "preconditions", msg(&PRECONDITIONS)),
        keep(3, "orphanDependents", BOOL),
        keep(4, "propagationPolicy", STR),
        list(5, "dryRun", STR),
    ],
};

static PRECONDITIONS: Msg = Msg {
    fields: &[keep(1, "uid", STR), keep(2, "resourceVersion", STR)],
};

// --- core/v1: configuration and identity -----------------------------------------------------

static CONFIG_MAP: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        keep(4, "immutable", BOOL),
        map(2, "data", STR),
        map(3, "binaryData", BYTES),
    ],
};

static SECRET: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        keep(5, "immutable", BOOL),
        map(2, "data", BYTES),
        map(4, "stringData", STR),
        val(3, "type", STR),
    ],
};

static NAMESPACE: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        val(2, "spec", msg(&NAMESPACE_SPEC)),
        val(3, "status", msg(&NAMESPACE_STATUS)),
    ],
};

static NAMESPACE_SPEC: Msg = Msg {
    fields: &[list(1, "finalizers", STR)],
};

static NAMESPACE_STATUS: Msg = Msg {
    fields: &[
        val(1, "phase", STR),
        list(2, "conditions", msg(&NAMESPACE_CONDITION)),
    ],
};

static NAMESPACE_CONDITION: Msg = Msg {
    fields: &[
        keep(1, "type", STR),
        keep(2, "status", STR),
        val(4, "lastTransitionTime", TIME),
        val(5, "reason", STR),
        val(6, "message", STR),
    ],
};

static SERVICE_ACCOUNT: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        list(2, "secrets", msg(&OBJECT_REFERENCE)),
        list(3, "imagePullSecrets", msg(&LOCAL_OBJECT_REFERENCE)),
        keep(4, "automountServiceAccountToken", BOOL),
    ],
};

static OBJECT_REFERENCE: Msg = Msg {
    fields: &[
        val(1, "kind", STR),
        val(2, "namespace", STR),
        val(3, "name", STR),
        val(4, "uid", STR),
        val(5, "apiVersion", STR),
        val(6, "resourceVersion", STR),
        val(7, "fieldPath", STR),
    ],
};

static LOCAL_OBJECT_REFERENCE: Msg = Msg {
    fields: &[val(1, "name", STR)],
};

static TYPED_LOCAL_OBJECT_REFERENCE: Msg = Msg {
    fields: &[
        keep(1, "apiGroup", STR),
        keep(2, "kind", STR),
        keep(3, "name", STR),
    ],
};

static TYPED_OBJECT_REFERENCE: Msg = Msg {
    fields: &[
        keep(1, "apiGroup", STR),
        keep(2, "kind", STR),
        keep(3, "name", STR),
        keep(4, "namespace", STR),
    ],
};

static EVENT: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        keep(2, "involvedObject", msg(&OBJECT_REFERENCE)),
        val(3, "reason", STR),
        val(4, "message", STR),
        val(5, "source", msg(&EVENT_SOURCE)),
        val(6, "firstTimestamp", TIME),
        val(7, "lastTimestamp", TIME),
        val(8, "count", I32),
        val(9, "type", STR),
        val(10, "eventTime", MICRO_TIME),
        keep(11, "series", msg(&EVENT_SERIES)),
        val(12, "action", STR),
        keep(13, "related", msg(&OBJECT_REFERENCE)),
        keep(14, "reportingComponent", STR),
        keep(15, "reportingInstance", STR),
    ],
};

static EVENT_SOURCE: Msg = Msg {
    fields: &[val(1, "component", STR), val(2, "host", STR)],
};

static EVENT_SERIES: Msg = Msg {
    fields: &[val(1, "count", I32), val(2, "lastObservedTime", MICRO_TIME)],
};

// --- core/v1: services and quotas ------------------------------------------------------------

static SERVICE: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        val(2, "spec", msg(&SERVICE_SPEC)),
        val(3, "status", msg(&SERVICE_STATUS)),
    ],
};

static SERVICE_SPEC: Msg = Msg {
    fields: &[
        list(1, "ports", msg(&SERVICE_PORT)),
        map(2, "selector", STR),
        val(3, "clusterIP", STR),
        list(18, "clusterIPs", STR),
        val(4, "type", STR),
        list(5, "externalIPs", STR),
        val(7, "sessionAffinity", STR),
        val(8, "loadBalancerIP", STR),
        list(9, "loadBalancerSourceRanges", STR),
        val(10, "externalName", STR),
        val(11, "externalTrafficPolicy", STR),
        val(12, "healthCheckNodePort", I32),
        val(13, "publishNotReadyAddresses", BOOL),
        keep(14, "sessionAffinityConfig", msg(&SESSION_AFFINITY_CONFIG)),
        list(19, "ipFamilies", STR),
        keep(17, "ipFamilyPolicy", STR),
        keep(20, "allocateLoadBalancerNodePorts", BOOL),
        keep(21, "loadBalancerClass", STR),
        keep(22, "internalTrafficPolicy", STR),
        keep(23, "trafficDistribution", STR),
    ],
};

static SERVICE_PORT: Msg = Msg {
    fields: &[
        val(1, "name", STR),
        val(2, "protocol", STR),
        keep(6, "appProtocol", STR),
        keep(3, "port", I32),
        val(4, "targetPort", INT_OR_STRING),
        val(5, "nodePort", I32),
    ],
};

static SESSION_AFFINITY_CONFIG: Msg = Msg {
    fields: &[keep(1, "clientIP", msg(&CLIENT_IP_CONFIG))],
};

static CLIENT_IP_CONFIG: Msg = Msg {
    fields: &[keep(1, "timeoutSeconds", I32)],
};

static SERVICE_STATUS: Msg = Msg {
    fields: &[
        val(1, "loadBalancer", msg(&LOAD_BALANCER_STATUS)),
        list(2, "conditions", msg(&CONDITION)),
    ],
};

static LOAD_BALANCER_STATUS: Msg = Msg {
    fields: &[list(1, "ingress", msg(&LOAD_BALANCER_INGRESS))],
};

static LOAD_BALANCER_INGRESS: Msg = Msg {
    fields: &[
        val(1, "ip", STR),
        val(2, "hostname", STR),
        keep(3, "ipMode", STR),
        list(4, "ports", msg(&PORT_STATUS)),
    ],
};

/// core/v1 `PortStatus`; networking/v1 `IngressPortStatus` has the same numbers and names.
static PORT_STATUS: Msg = Msg {
    fields: &[
        keep(1, "port", I32),
        keep(2, "protocol", STR),
        keep(3, "error", STR),
    ],
};

static RESOURCE_QUOTA: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        val(2, "spec", msg(&RESOURCE_QUOTA_SPEC)),
        val(3, "status", msg(&RESOURCE_QUOTA_STATUS)),
    ],
};

static RESOURCE_QUOTA_SPEC: Msg = Msg {
    fields: &[
        map(1, "hard", QUANTITY),
        list(2, "scopes", STR),
        keep(3, "scopeSelector", msg(&SCOPE_SELECTOR)),
    ],
};

static SCOPE_SELECTOR: Msg = Msg {
    fields: &[list(
        1,
        "matchExpressions",
        msg(&SCOPED_RESOURCE_SELECTOR_REQUIREMENT),
    )],
};

static SCOPED_RESOURCE_SELECTOR_REQUIREMENT: Msg = Msg {
    fields: &[
        keep(1, "scopeName", STR),
        keep(2, "operator", STR),
        list(3, "values", STR),
    ],
};

static RESOURCE_QUOTA_STATUS: Msg = Msg {
    fields: &[map(1, "hard", QUANTITY), map(2, "used", QUANTITY)],
};

static LIMIT_RANGE: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        val(2, "spec", msg(&LIMIT_RANGE_SPEC)),
    ],
};

static LIMIT_RANGE_SPEC: Msg = Msg {
    fields: &[list(1, "limits", msg(&LIMIT_RANGE_ITEM))],
};

static LIMIT_RANGE_ITEM: Msg = Msg {
    fields: &[
        keep(1, "type", STR),
        map(2, "max", QUANTITY),
        map(3, "min", QUANTITY),
        map(4, "default", QUANTITY),
        map(5, "defaultRequest", QUANTITY),
        map(6, "maxLimitRequestRatio", QUANTITY),
    ],
};

// --- core/v1: pods ---------------------------------------------------------------------------

static POD: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        val(2, "spec", msg(&POD_SPEC)),
    ],
};

static POD_TEMPLATE: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        val(2, "template", msg(&POD_TEMPLATE_SPEC)),
    ],
};

static POD_TEMPLATE_SPEC: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        val(2, "spec", msg(&POD_SPEC)),
    ],
};

static REPLICATION_CONTROLLER: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        val(2, "spec", msg(&REPLICATION_CONTROLLER_SPEC)),
    ],
};

static REPLICATION_CONTROLLER_SPEC: Msg = Msg {
    fields: &[
        keep(1, "replicas", I32),
        val(4, "minReadySeconds", I32),
        map(2, "selector", STR),
        keep(3, "template", msg(&POD_TEMPLATE_SPEC)),
    ],
};

static POD_SPEC: Msg = Msg {
    fields: &[
        list(1, "volumes", msg(&VOLUME)),
        list(20, "initContainers", msg(&CONTAINER)),
        list(2, "containers", msg(&CONTAINER)),
        list(34, "ephemeralContainers", msg(&EPHEMERAL_CONTAINER)),
        val(3, "restartPolicy", STR),
        keep(4, "terminationGracePeriodSeconds", I64),
        keep(5, "activeDeadlineSeconds", I64),
        val(6, "dnsPolicy", STR),
        map(7, "nodeSelector", STR),
        val(8, "serviceAccountName", STR),
        val(9, "serviceAccount", STR),
        keep(21, "automountServiceAccountToken", BOOL),
        val(10, "nodeName", STR),
        val(11, "hostNetwork", BOOL),
        val(12, "hostPID", BOOL),
        val(13, "hostIPC", BOOL),
        keep(27, "shareProcessNamespace", BOOL),
        keep(14, "securityContext", msg(&POD_SECURITY_CONTEXT)),
        list(15, "imagePullSecrets", msg(&LOCAL_OBJECT_REFERENCE)),
        val(16, "hostname", STR),
        val(17, "subdomain", STR),
        keep(18, "affinity", msg(&AFFINITY)),
        val(19, "schedulerName", STR),
        list(22, "tolerations", msg(&TOLERATION)),
        list(23, "hostAliases", msg(&HOST_ALIAS)),
        val(24, "priorityClassName", STR),
        keep(25, "priority", I32),
        keep(26, "dnsConfig", msg(&POD_DNS_CONFIG)),
        list(28, "readinessGates", msg(&POD_READINESS_GATE)),
        keep(29, "runtimeClassName", STR),
        keep(30, "enableServiceLinks", BOOL),
        keep(31, "preemptionPolicy", STR),
        map(32, "overhead", QUANTITY),
        list(
            33,
            "topologySpreadConstraints",
            msg(&TOPOLOGY_SPREAD_CONSTRAINT),
        ),
        keep(35, "setHostnameAsFQDN", BOOL),
        keep(36, "os", msg(&POD_OS)),
        keep(37, "hostUsers", BOOL),
        list(38, "schedulingGates", msg(&POD_SCHEDULING_GATE)),
        list(39, "resourceClaims", msg(&POD_RESOURCE_CLAIM)),
        keep(40, "resources", msg(&RESOURCE_REQUIREMENTS)),
        keep(41, "hostnameOverride", STR),
        keep(42, "workloadRef", msg(&WORKLOAD_REFERENCE)),
    ],
};

static CONTAINER: Msg = Msg {
    fields: &[
        keep(1, "name", STR),
        val(2, "image", STR),
        list(3, "command", STR),
        list(4, "args", STR),
        val(5, "workingDir", STR),
        list(6, "ports", msg(&CONTAINER_PORT)),
        list(19, "envFrom", msg(&ENV_FROM_SOURCE)),
        list(7, "env", msg(&ENV_VAR)),
        val(8, "resources", msg(&RESOURCE_REQUIREMENTS)),
        list(23, "resizePolicy", msg(&CONTAINER_RESIZE_POLICY)),
        keep(24, "restartPolicy", STR),
        list(25, "restartPolicyRules", msg(&CONTAINER_RESTART_RULE)),
        list(9, "volumeMounts", msg(&VOLUME_MOUNT)),
        list(21, "volumeDevices", msg(&VOLUME_DEVICE)),
        keep(10, "livenessProbe", msg(&PROBE)),
        keep(11, "readinessProbe", msg(&PROBE)),
        keep(22, "startupProbe", msg(&PROBE)),
        keep(12, "lifecycle", msg(&LIFECYCLE)),
        val(13, "terminationMessagePath", STR),
        val(20, "terminationMessagePolicy", STR),
        val(14, "imagePullPolicy", STR),
        keep(15, "securityContext", msg(&SECURITY_CONTEXT)),
        val(16, "stdin", BOOL),
        val(17, "stdinOnce", BOOL),
        val(18, "tty", BOOL),
    ],
};

/// `EphemeralContainerCommon` repeats every `Container` field under the same number, so the
/// container table serves for the embedded part.
static EPHEMERAL_CONTAINER: Msg = Msg {
    fields: &[inline(1, &CONTAINER), val(2, "targetContainerName", STR)],
};

static CONTAINER_PORT: Msg = Msg {
    fields: &[
        val(1, "name", STR),
        val(2, "hostPort", I32),
        keep(3, "containerPort", I32),
        val(4, "protocol", STR),
        val(5, "hostIP", STR),
    ],
};

static CONTAINER_RESIZE_POLICY: Msg = Msg {
    fields: &[keep(1, "resourceName", STR), keep(2, "restartPolicy", STR)],
};

static CONTAINER_RESTART_RULE: Msg = Msg {
    fields: &[
        keep(1, "action", STR),
        keep(2, "exitCodes", msg(&CONTAINER_RESTART_RULE_ON_EXIT_CODES)),
    ],
};

static CONTAINER_RESTART_RULE_ON_EXIT_CODES: Msg = Msg {
    fields: &[keep(1, "operator", STR), list(2, "values", I32)],
};

static ENV_FROM_SOURCE: Msg = Msg {
    fields: &[
        val(1, "prefix", STR),
        keep(2, "configMapRef", msg(&OPTIONAL_LOCAL_REFERENCE)),
        keep(3, "secretRef", msg(&OPTIONAL_LOCAL_REFERENCE)),
    ],
};

/// `ConfigMapEnvSource` and `SecretEnvSource`: an embedded `LocalObjectReference` plus `optional`.
static OPTIONAL_LOCAL_REFERENCE: Msg = Msg {
    fields: &[
        inline(1, &LOCAL_OBJECT_REFERENCE),
        keep(2, "optional", BOOL),
    ],
};

static ENV_VAR: Msg = Msg {
    fields: &[
        keep(1, "name", STR),
        val(2, "value", STR),
        keep(3, "valueFrom", msg(&ENV_VAR_SOURCE)),
    ],
};

static ENV_VAR_SOURCE: Msg = Msg {
    fields: &[
        keep(1, "fieldRef", msg(&OBJECT_FIELD_SELECTOR)),
        keep(2, "resourceFieldRef", msg(&RESOURCE_FIELD_SELECTOR)),
        keep(3, "configMapKeyRef", msg(&KEY_SELECTOR)),
        keep(4, "secretKeyRef", msg(&KEY_SELECTOR)),
        keep(5, "fileKeyRef", msg(&FILE_KEY_SELECTOR)),
    ],
};

static OBJECT_FIELD_SELECTOR: Msg = Msg {
    fields: &[val(1, "apiVersion", STR), keep(2, "fieldPath", STR)],
};

static RESOURCE_FIELD_SELECTOR: Msg = Msg {
    fields: &[
        val(1, "containerName", STR),
        keep(2, "resource", STR),
        val(3, "divisor", QUANTITY),
    ],
};

/// `ConfigMapKeySelector` and `SecretKeySelector` share numbers and names.
static KEY_SELECTOR: Msg = Msg {
    fields: &[
        inline(1, &LOCAL_OBJECT_REFERENCE),
        keep(2, "key", STR),
        keep(3, "optional", BOOL),
    ],
};

static FILE_KEY_SELECTOR: Msg = Msg {
    fields: &[
        keep(1, "volumeName", STR),
        keep(2, "path", STR),
        keep(3, "key", STR),
        keep(4, "optional", BOOL),
    ],
};

static RESOURCE_REQUIREMENTS: Msg = Msg {
    fields: &[
        map(1, "limits", QUANTITY),
        map(2, "requests", QUANTITY),
        list(3, "claims", msg(&RESOURCE_CLAIM)),
    ],
};

static RESOURCE_CLAIM: Msg = Msg {
    fields: &[keep(1, "name", STR), val(2, "request", STR)],
};

static VOLUME_MOUNT: Msg = Msg {
    fields: &[
        keep(1, "name", STR),
        val(2, "readOnly", BOOL),
        keep(7, "recursiveReadOnly", STR),
        keep(3, "mountPath", STR),
        val(4, "subPath", STR),
        keep(5, "mountPropagation", STR),
        val(6, "subPathExpr", STR),
    ],
};

static VOLUME_DEVICE: Msg = Msg {
    fields: &[keep(1, "name", STR), keep(2, "devicePath", STR)],
};

static PROBE: Msg = Msg {
    fields: &[
        inline(1, &PROBE_HANDLER),
        val(2, "initialDelaySeconds", I32),
        val(3, "timeoutSeconds", I32),
        val(4, "periodSeconds", I32),
        val(5, "successThreshold", I32),
        val(6, "failureThreshold", I32),
        keep(7, "terminationGracePeriodSeconds", I64),
    ],
};

static PROBE_HANDLER: Msg = Msg {
    fields: &[
        keep(1, "exec", msg(&EXEC_ACTION)),
        keep(2, "httpGet", msg(&HTTP_GET_ACTION)),
        keep(3, "tcpSocket", msg(&TCP_SOCKET_ACTION)),
        keep(4, "grpc", msg(&GRPC_ACTION)),
    ],
};

static EXEC_ACTION: Msg = Msg {
    fields: &[list(1, "command", STR)],
};

static HTTP_GET_ACTION: Msg = Msg {
    fields: &[
        val(1, "path", STR),
        keep(2, "port", INT_OR_STRING),
        val(3, "host", STR),
        val(4, "scheme", STR),
        list(5, "httpHeaders", msg(&HTTP_HEADER)),
    ],
};

static HTTP_HEADER: Msg = Msg {
    fields: &[keep(1, "name", STR), keep(2, "value", STR)],
};

static TCP_SOCKET_ACTION: Msg = Msg {
    fields: &[keep(1, "port", INT_OR_STRING), val(2, "host", STR)],
};

static GRPC_ACTION: Msg = Msg {
    fields: &[keep(1, "port", I32), keep(2, "service", STR)],
};

static LIFECYCLE: Msg = Msg {
    fields: &[
        keep(1, "postStart", msg(&LIFECYCLE_HANDLER)),
        keep(2, "preStop", msg(&LIFECYCLE_HANDLER)),
        keep(3, "stopSignal", STR),
    ],
};

static LIFECYCLE_HANDLER: Msg = Msg {
    fields: &[
        keep(1, "exec", msg(&EXEC_ACTION)),
        keep(2, "httpGet", msg(&HTTP_GET_ACTION)),
        keep(3, "tcpSocket", msg(&TCP_SOCKET_ACTION)),
        keep(4, "sleep", msg(&SLEEP_ACTION)),
    ],
};

static SLEEP_ACTION: Msg = Msg {
    fields: &[keep(1, "seconds", I64)],
};

static SECURITY_CONTEXT: Msg = Msg {
    fields: &[
        keep(1, "capabilities", msg(&CAPABILITIES)),
        keep(2, "privileged", BOOL),
        keep(3, "seLinuxOptions", msg(&SE_LINUX_OPTIONS)),
        keep(10, "windowsOptions", msg(&WINDOWS_SECURITY_CONTEXT_OPTIONS)),
        keep(4, "runAsUser", I64),
        keep(8, "runAsGroup", I64),
        keep(5, "runAsNonRoot", BOOL),
        keep(6, "readOnlyRootFilesystem", BOOL),
        keep(7, "allowPrivilegeEscalation", BOOL),
        keep(9, "procMount", STR),
        keep(11, "seccompProfile", msg(&PROFILE)),
        keep(12, "appArmorProfile", msg(&PROFILE)),
        list(13, "ulimits", msg(&ULIMIT)),
    ],
};

static POD_SECURITY_CONTEXT: Msg = Msg {
    fields: &[
        keep(1, "seLinuxOptions", msg(&SE_LINUX_OPTIONS)),
        keep(8, "windowsOptions", msg(&WINDOWS_SECURITY_CONTEXT_OPTIONS)),
        keep(2, "runAsUser", I64),
        keep(6, "runAsGroup", I64),
        keep(3, "runAsNonRoot", BOOL),
        list(4, "supplementalGroups", I64),
        keep(12, "supplementalGroupsPolicy", STR),
        keep(5, "fsGroup", I64),
        list(7, "sysctls", msg(&SYSCTL)),
        keep(9, "fsGroupChangePolicy", STR),
        keep(10, "seccompProfile", msg(&PROFILE)),
        keep(11, "appArmorProfile", msg(&PROFILE)),
        keep(13, "seLinuxChangePolicy", STR),
    ],
};

static CAPABILITIES: Msg = Msg {
    fields: &[list(1, "add", STR), list(2, "drop", STR)],
};

static SE_LINUX_OPTIONS: Msg = Msg {
    fields: &[
        val(1, "user", STR),
        val(2, "role", STR),
        val(3, "type", STR),
        val(4, "level", STR),
    ],
};

static WINDOWS_SECURITY_CONTEXT_OPTIONS: Msg = Msg {
    fields: &[
        keep(1, "gmsaCredentialSpecName", STR),
        keep(2, "gmsaCredentialSpec", STR),
        keep(3, "runAsUserName", STR),
        keep(4, "hostProcess", BOOL),
    ],
};

/// `SeccompProfile` and `AppArmorProfile` share numbers and names.
static PROFILE: Msg = Msg {
    fields: &[keep(1, "type", STR), keep(2, "localhostProfile", STR)],
};

static ULIMIT: Msg = Msg {
    fields: &[
        keep(1, "name", STR),
        keep(2, "hard", I64),
        keep(3, "soft", I64),
    ],
};

static SYSCTL: Msg = Msg {
    fields: &[keep(1, "name", STR), keep(2, "value", STR)],
};

static TOLERATION: Msg = Msg {
    fields: &[
        val(1, "key", STR),
        val(2, "operator", STR),
        val(3, "value", STR),
        val(4, "effect", STR),
        keep(5, "tolerationSeconds", I64),
    ],
};

static HOST_ALIAS: Msg = Msg {
    fields: &[keep(1, "ip", STR), list(2, "hostnames", STR)],
};

static POD_DNS_CONFIG: Msg = Msg {
    fields: &[
        list(1, "nameservers", STR),
        list(2, "searches", STR),
        list(3, "options", msg(&POD_DNS_CONFIG_OPTION)),
    ],
};

static POD_DNS_CONFIG_OPTION: Msg = Msg {
    fields: &[val(1, "name", STR), keep(2, "value", STR)],
};

static POD_READINESS_GATE: Msg = Msg {
    fields: &[keep(1, "conditionType", STR)],
};

static POD_OS: Msg = Msg {
    fields: &[keep(1, "name", STR)],
};

static POD_SCHEDULING_GATE: Msg = Msg {
    fields: &[keep(1, "name", STR)],
};

static POD_RESOURCE_CLAIM: Msg = Msg {
    fields: &[
        keep(1, "name", STR),
        keep(3, "resourceClaimName", STR),
        keep(4, "resourceClaimTemplateName", STR),
    ],
};

static WORKLOAD_REFERENCE: Msg = Msg {
    fields: &[
        keep(1, "name", STR),
        keep(2, "podGroup", STR),
        val(3, "podGroupReplicaKey", STR),
    ],
};

static TOPOLOGY_SPREAD_CONSTRAINT: Msg = Msg {
    fields: &[
        keep(1, "maxSkew", I32),
        keep(2, "topologyKey", STR),
        keep(3, "whenUnsatisfiable", STR),
        keep(4, "labelSelector", msg(&LABEL_SELECTOR)),
        keep(5, "minDomains", I32),
        keep(6, "nodeAffinityPolicy", STR),
        keep(7, "nodeTaintsPolicy", STR),
        list(8, "matchLabelKeys", STR),
    ],
};

static AFFINITY: Msg = Msg {
    fields: &[
        keep(1, "nodeAffinity", msg(&NODE_AFFINITY)),
        keep(2, "podAffinity", msg(&POD_AFFINITY)),
        keep(3, "podAntiAffinity", msg(&POD_AFFINITY)),
    ],
};

static NODE_AFFINITY: Msg = Msg {
    fields: &[
        keep(
            1,
            "requiredDuringSchedulingIgnoredDuringExecution",
            msg(&NODE_SELECTOR),
        ),
        list(
            2,
            "preferredDuringSchedulingIgnoredDuringExecution",
            msg(&PREFERRED_SCHEDULING_TERM),
        ),
    ],
};

static NODE_SELECTOR: Msg = Msg {
    fields: &[list(1, "nodeSelectorTerms", msg(&NODE_SELECTOR_TERM))],
};

static NODE_SELECTOR_TERM: Msg = Msg {
    fields: &[
        list(1, "matchExpressions", msg(&NODE_SELECTOR_REQUIREMENT)),
        list(2, "matchFields", msg(&NODE_SELECTOR_REQUIREMENT)),
    ],
};

static NODE_SELECTOR_REQUIREMENT: Msg = Msg {
    fields: &[
        keep(1, "key", STR),
        keep(2, "operator", STR),
        list(3, "values", STR),
    ],
};

static PREFERRED_SCHEDULING_TERM: Msg = Msg {
    fields: &[
        keep(1, "weight", I32),
        keep(2, "preference", msg(&NODE_SELECTOR_TERM)),
    ],
};

/// `PodAffinity` and `PodAntiAffinity` share numbers and names.
static POD_AFFINITY: Msg = Msg {
    fields: &[
        list(
            1,
            "requiredDuringSchedulingIgnoredDuringExecution",
            msg(&POD_AFFINITY_TERM),
        ),
        list(
            2,
            "preferredDuringSchedulingIgnoredDuringExecution",
            msg(&WEIGHTED_POD_AFFINITY_TERM),
        ),
    ],
};

static POD_AFFINITY_TERM: Msg = Msg {
    fields: &[
        keep(1, "labelSelector", msg(&LABEL_SELECTOR)),
        list(2, "namespaces", STR),
        keep(3, "topologyKey", STR),
        keep(4, "namespaceSelector", msg(&LABEL_SELECTOR)),
        list(5, "matchLabelKeys", STR),
        list(6, "mismatchLabelKeys", STR),
    ],
};

static WEIGHTED_POD_AFFINITY_TERM: Msg = Msg {
    fields: &[
        keep(1, "weight", I32),
        keep(2, "podAffinityTerm", msg(&POD_AFFINITY_TERM)),
    ],
};

// --- core/v1: volumes and claims -------------------------------------------------------------

static VOLUME: Msg = Msg {
    fields: &[keep(1, "name", STR), inline(2, &VOLUME_SOURCE)],
};

/// The common volume sources; deprecated in-tree cloud plugins are skipped as unknown fields.
static VOLUME_SOURCE: Msg = Msg {
    fields: &[
        keep(1, "hostPath", msg(&HOST_PATH_VOLUME_SOURCE)),
        keep(2, "emptyDir", msg(&EMPTY_DIR_VOLUME_SOURCE)),
        keep(6, "secret", msg(&SECRET_VOLUME_SOURCE)),
        keep(7, "nfs", msg(&NFS_VOLUME_SOURCE)),
        keep(10, "persistentVolumeClaim", msg(&PVC_VOLUME_SOURCE)),
        keep(16, "downwardAPI", msg(&DOWNWARD_API_VOLUME_SOURCE)),
        keep(19, "configMap", msg(&CONFIG_MAP_VOLUME_SOURCE)),
        keep(26, "projected", msg(&PROJECTED_VOLUME_SOURCE)),
        keep(28, "csi", msg(&CSI_VOLUME_SOURCE)),
        keep(29, "ephemeral", msg(&EPHEMERAL_VOLUME_SOURCE)),
        keep(30, "image", msg(&IMAGE_VOLUME_SOURCE)),
    ],
};

static HOST_PATH_VOLUME_SOURCE: Msg = Msg {
    fields: &[keep(1, "path", STR), keep(2, "type", STR)],
};

static EMPTY_DIR_VOLUME_SOURCE: Msg = Msg {
    fields: &[val(1, "medium", STR), keep(2, "sizeLimit", QUANTITY)],
};

static SECRET_VOLUME_SOURCE: Msg = Msg {
    fields: &[
        val(1, "secretName", STR),
        list(2, "items", msg(&KEY_TO_PATH)),
        keep(3, "defaultMode", I32),
        keep(4, "optional", BOOL),
    ],
};

static CONFIG_MAP_VOLUME_SOURCE: Msg = Msg {
    fields: &[
        inline(1, &LOCAL_OBJECT_REFERENCE),
        list(2, "items", msg(&KEY_TO_PATH)),
        keep(3, "defaultMode", I32),
        keep(4, "optional", BOOL),
    ],
};

static KEY_TO_PATH: Msg = Msg {
    fields: &[
        keep(1, "key", STR),
        keep(2, "path", STR),
        keep(3, "mode", I32),
    ],
};

static NFS_VOLUME_SOURCE: Msg = Msg {
    fields: &[
        keep(1, "server", STR),
        keep(2, "path", STR),
        val(3, "readOnly", BOOL),
    ],
};

static PVC_VOLUME_SOURCE: Msg = Msg {
    fields: &[keep(1, "claimName", STR), val(2, "readOnly", BOOL)],
};

static DOWNWARD_API_VOLUME_SOURCE: Msg = Msg {
    fields: &[
        list(1, "items", msg(&DOWNWARD_API_VOLUME_FILE)),
        keep(2, "defaultMode", I32),
    ],
};

static DOWNWARD_API_VOLUME_FILE: Msg = Msg {
    fields: &[
        keep(1, "path", STR),
        keep(2, "fieldRef", msg(&OBJECT_FIELD_SELECTOR)),
        keep(3, "resourceFieldRef", msg(&RESOURCE_FIELD_SELECTOR)),
        keep(4, "mode", I32),
    ],
};

static PROJECTED_VOLUME_SOURCE: Msg = Msg {
    fields: &[
        list(1, "sources", msg(&VOLUME_PROJECTION)),
        keep(2, "defaultMode", I32),
    ],
};

static VOLUME_PROJECTION: Msg = Msg {
    fields: &[
        keep(1, "secret", msg(&KEY_PROJECTION)),
        keep(2, "downwardAPI", msg(&DOWNWARD_API_PROJECTION)),
        keep(3, "configMap", msg(&KEY_PROJECTION)),
        keep(
            4,
            "serviceAccountToken",
            msg(&SERVICE_ACCOUNT_TOKEN_PROJECTION),
        ),
        keep(
            5,
            "clusterTrustBundle",
            msg(&CLUSTER_TRUST_BUNDLE_PROJECTION),
        ),
    ],
};

/// `SecretProjection` and `ConfigMapProjection` share numbers and names.
static KEY_PROJECTION: Msg = Msg {
    fields: &[
        inline(1, &LOCAL_OBJECT_REFERENCE),
        list(2, "items", msg(&KEY_TO_PATH)),
        keep(4, "optional", BOOL),
    ],
};

static DOWNWARD_API_PROJECTION: Msg = Msg {
    fields: &[list(1, "items", msg(&DOWNWARD_API_VOLUME_FILE))],
};

static SERVICE_ACCOUNT_TOKEN_PROJECTION: Msg = Msg {
    fields: &[
        val(1, "audience", STR),
        keep(2, "expirationSeconds", I64),
        keep(3, "path", STR),
    ],
};

static CLUSTER_TRUST_BUNDLE_PROJECTION: Msg = Msg {
    fields: &[
        keep(1, "name", STR),
        keep(2, "signerName", STR),
        keep(3, "labelSelector", msg(&LABEL_SELECTOR)),
        keep(5, "optional", BOOL),
        keep(4, "path", STR),
    ],
};

static CSI_VOLUME_SOURCE: Msg = Msg {
    fields: &[
        keep(1, "driver", STR),
        keep(2, "readOnly", BOOL),
        keep(3, "fsType", STR),
        map(4, "volumeAttributes", STR),
        keep(5, "nodePublishSecretRef", msg(&LOCAL_OBJECT_REFERENCE)),
    ],
};

static EPHEMERAL_VOLUME_SOURCE: Msg = Msg {
    fields: &[keep(1, "volumeClaimTemplate", msg(&PVC_TEMPLATE))],
};

static PVC_TEMPLATE: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        keep(2, "spec", msg(&PERSISTENT_VOLUME_CLAIM_SPEC)),
    ],
};

static IMAGE_VOLUME_SOURCE: Msg = Msg {
    fields: &[val(1, "reference", STR), val(2, "pullPolicy", STR)],
};

static PERSISTENT_VOLUME_CLAIM: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        val(2, "spec", msg(&PERSISTENT_VOLUME_CLAIM_SPEC)),
    ],
};

static PERSISTENT_VOLUME_CLAIM_SPEC: Msg = Msg {
    fields: &[
        list(1, "accessModes", STR),
        keep(4, "selector", msg(&LABEL_SELECTOR)),
        val(2, "resources", msg(&VOLUME_RESOURCE_REQUIREMENTS)),
        val(3, "volumeName", STR),
        keep(5, "storageClassName", STR),
        keep(6, "volumeMode", STR),
        keep(7, "dataSource", msg(&TYPED_LOCAL_OBJECT_REFERENCE)),
        keep(8, "dataSourceRef", msg(&TYPED_OBJECT_REFERENCE)),
        keep(9, "volumeAttributesClassName", STR),
    ],
};

static VOLUME_RESOURCE_REQUIREMENTS: Msg = Msg {
    fields: &[map(1, "limits", QUANTITY), map(2, "requests", QUANTITY)],
};

// --- apps/v1 ---------------------------------------------------------------------------------

static DEPLOYMENT: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        val(2, "spec", msg(&DEPLOYMENT_SPEC)),
        val(3, "status", msg(&DEPLOYMENT_STATUS)),
    ],
};

static DEPLOYMENT_SPEC: Msg = Msg {
    fields: &[
        keep(1, "replicas", I32),
        keep(2, "selector", msg(&LABEL_SELECTOR)),
        keep(3, "template", msg(&POD_TEMPLATE_SPEC)),
        val(4, "strategy", msg(&DEPLOYMENT_STRATEGY)),
        val(5, "minReadySeconds", I32),
        keep(6, "revisionHistoryLimit", I32),
        val(7, "paused", BOOL),
        keep(9, "progressDeadlineSeconds", I32),
    ],
};

static DEPLOYMENT_STRATEGY: Msg = Msg {
    fields: &[
        val(1, "type", STR),
        keep(2, "rollingUpdate", msg(&ROLLING_UPDATE)),
    ],
};

/// `RollingUpdateDeployment` and `RollingUpdateDaemonSet` share numbers and names.
static ROLLING_UPDATE: Msg = Msg {
    fields: &[
        keep(1, "maxUnavailable", INT_OR_STRING),
        keep(2, "maxSurge", INT_OR_STRING),
    ],
};

static DEPLOYMENT_STATUS: Msg = Msg {
    fields: &[
        val(1, "observedGeneration", I64),
        val(2, "replicas", I32),
        val(3, "updatedReplicas", I32),
        val(7, "readyReplicas", I32),
        val(4, "availableReplicas", I32),
        val(5, "unavailableReplicas", I32),
        list(6, "conditions", msg(&DEPLOYMENT_CONDITION)),
        keep(8, "collisionCount", I32),
    ],
};

static DEPLOYMENT_CONDITION: Msg = Msg {
    fields: &[
        keep(1, "type", STR),
        keep(2, "status", STR),
        val(6, "lastUpdateTime", TIME),
        val(7, "lastTransitionTime", TIME),
        val(4, "reason", STR),
        val(5, "message", STR),
    ],
};

static REPLICA_SET: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        val(2, "spec", msg(&REPLICA_SET_SPEC)),
    ],
};

static REPLICA_SET_SPEC: Msg = Msg {
    fields: &[
        keep(1, "replicas", I32),
        val(4, "minReadySeconds", I32),
        keep(2, "selector", msg(&LABEL_SELECTOR)),
        val(3, "template", msg(&POD_TEMPLATE_SPEC)),
    ],
};

static DAEMON_SET: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        val(2, "spec", msg(&DAEMON_SET_SPEC)),
    ],
};

static DAEMON_SET_SPEC: Msg = Msg {
    fields: &[
        keep(1, "selector", msg(&LABEL_SELECTOR)),
        keep(2, "template", msg(&POD_TEMPLATE_SPEC)),
        val(3, "updateStrategy", msg(&DAEMON_SET_UPDATE_STRATEGY)),
        val(4, "minReadySeconds", I32),
        keep(6, "revisionHistoryLimit", I32),
    ],
};

static DAEMON_SET_UPDATE_STRATEGY: Msg = Msg {
    fields: &[
        val(1, "type", STR),
        keep(2, "rollingUpdate", msg(&ROLLING_UPDATE)),
    ],
};

static STATEFUL_SET: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        val(2, "spec", msg(&STATEFUL_SET_SPEC)),
    ],
};

static STATEFUL_SET_SPEC: Msg = Msg {
    fields: &[
        keep(1, "replicas", I32),
        keep(2, "selector", msg(&LABEL_SELECTOR)),
        keep(3, "template", msg(&POD_TEMPLATE_SPEC)),
        list(4, "volumeClaimTemplates", msg(&PERSISTENT_VOLUME_CLAIM)),
        val(5, "serviceName", STR),
        val(6, "podManagementPolicy", STR),
        val(7, "updateStrategy", msg(&STATEFUL_SET_UPDATE_STRATEGY)),
        keep(8, "revisionHistoryLimit", I32),
        val(9, "minReadySeconds", I32),
        keep(
            10,
            "persistentVolumeClaimRetentionPolicy",
            msg(&STATEFUL_SET_PVC_RETENTION_POLICY),
        ),
    ],
};

static STATEFUL_SET_UPDATE_STRATEGY: Msg = Msg {
    fields: &[
        val(1, "type", STR),
        keep(
            2,
            "rollingUpdate",
            msg(&ROLLING_UPDATE_STATEFUL_SET_STRATEGY),
        ),
    ],
};

static ROLLING_UPDATE_STATEFUL_SET_STRATEGY: Msg = Msg {
    fields: &[
        keep(1, "partition", I32),
        keep(2, "maxUnavailable", INT_OR_STRING),
    ],
};

static STATEFUL_SET_PVC_RETENTION_POLICY: Msg = Msg {
    fields: &[val(1, "whenDeleted", STR), val(2, "whenScaled", STR)],
};

// --- batch/v1 --------------------------------------------------------------------------------

static JOB: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        val(2, "spec", msg(&JOB_SPEC)),
        val(3, "status", msg(&JOB_STATUS)),
    ],
};

static JOB_SPEC: Msg = Msg {
    fields: &[
        keep(1, "parallelism", I32),
        keep(2, "completions", I32),
        keep(3, "activeDeadlineSeconds", I64),
        keep(11, "podFailurePolicy", msg(&POD_FAILURE_POLICY)),
        keep(16, "successPolicy", msg(&SUCCESS_POLICY)),
        keep(7, "backoffLimit", I32),
        keep(12, "backoffLimitPerIndex", I32),
        keep(13, "maxFailedIndexes", I32),
        keep(4, "selector", msg(&LABEL_SELECTOR)),
        keep(5, "manualSelector", BOOL),
        keep(6, "template", msg(&POD_TEMPLATE_SPEC)),
        keep(8, "ttlSecondsAfterFinished", I32),
        keep(9, "completionMode", STR),
        keep(10, "suspend", BOOL),
        keep(14, "podReplacementPolicy", STR),
        keep(15, "managedBy", STR),
    ],
};

static POD_FAILURE_POLICY: Msg = Msg {
    fields: &[list(1, "rules", msg(&POD_FAILURE_POLICY_RULE))],
};

static POD_FAILURE_POLICY_RULE: Msg = Msg {
    fields: &[
        keep(4, "name", STR),
        keep(1, "action", STR),
        keep(2, "onExitCodes", msg(&POD_FAILURE_POLICY_ON_EXIT_CODES)),
        list(
            3,
            "onPodConditions",
            msg(&POD_FAILURE_POLICY_ON_POD_CONDITIONS),
        ),
    ],
};

static POD_FAILURE_POLICY_ON_EXIT_CODES: Msg = Msg {
    fields: &[
        keep(1, "containerName", STR),
        keep(2, "operator", STR),
        list(3, "values", I32),
    ],
};

static POD_FAILURE_POLICY_ON_POD_CONDITIONS: Msg = Msg {
    fields: &[keep(1, "type", STR), keep(2, "status", STR)],
};

static SUCCESS_POLICY: Msg = Msg {
    fields: &[list(1, "rules", msg(&SUCCESS_POLICY_RULE))],
};

static SUCCESS_POLICY_RULE: Msg = Msg {
    fields: &[
        keep(1, "succeededIndexes", STR),
        keep(2, "succeededCount", I32),
    ],
};

static JOB_STATUS: Msg = Msg {
    fields: &[
        list(1, "conditions", msg(&JOB_CONDITION)),
        keep(2, "startTime", TIME),
        keep(3, "completionTime", TIME),
        val(4, "active", I32),
        val(5, "succeeded", I32),
        val(6, "failed", I32),
        keep(11, "terminating", I32),
        val(7, "completedIndexes", STR),
        keep(10, "failedIndexes", STR),
        keep(
            8,
            "uncountedTerminatedPods",
            msg(&UNCOUNTED_TERMINATED_PODS),
        ),
        keep(9, "ready", I32),
    ],
};

static JOB_CONDITION: Msg = Msg {
    fields: &[
        keep(1, "type", STR),
        keep(2, "status", STR),
        val(3, "lastProbeTime", TIME),
        val(4, "lastTransitionTime", TIME),
        val(5, "reason", STR),
        val(6, "message", STR),
    ],
};

static UNCOUNTED_TERMINATED_PODS: Msg = Msg {
    fields: &[list(1, "succeeded", STR), list(2, "failed", STR)],
};

static JOB_TEMPLATE_SPEC: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        val(2, "spec", msg(&JOB_SPEC)),
    ],
};

static CRON_JOB: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        val(2, "spec", msg(&CRON_JOB_SPEC)),
        val(3, "status", msg(&CRON_JOB_STATUS)),
    ],
};

static CRON_JOB_SPEC: Msg = Msg {
    fields: &[
        keep(1, "schedule", STR),
        keep(8, "timeZone", STR),
        keep(2, "startingDeadlineSeconds", I64),
        val(3, "concurrencyPolicy", STR),
        keep(4, "suspend", BOOL),
        keep(5, "jobTemplate", msg(&JOB_TEMPLATE_SPEC)),
        keep(6, "successfulJobsHistoryLimit", I32),
        keep(7, "failedJobsHistoryLimit", I32),
    ],
};

static CRON_JOB_STATUS: Msg = Msg {
    fields: &[
        list(1, "active", msg(&OBJECT_REFERENCE)),
        keep(4, "lastScheduleTime", TIME),
        keep(5, "lastSuccessfulTime", TIME),
    ],
};

// --- policy/v1 -------------------------------------------------------------------------------

static EVICTION: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        keep(2, "deleteOptions", msg(&DELETE_OPTIONS)),
    ],
};

static POD_DISRUPTION_BUDGET: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        val(2, "spec", msg(&POD_DISRUPTION_BUDGET_SPEC)),
        val(3, "status", msg(&POD_DISRUPTION_BUDGET_STATUS)),
    ],
};

static POD_DISRUPTION_BUDGET_SPEC: Msg = Msg {
    fields: &[
        keep(1, "minAvailable", INT_OR_STRING),
        keep(2, "selector", msg(&LABEL_SELECTOR)),
        keep(3, "maxUnavailable", INT_OR_STRING),
        keep(4, "unhealthyPodEvictionPolicy", STR),
        keep(5, "availabilityMode", STR),
    ],
};

static POD_DISRUPTION_BUDGET_STATUS: Msg = Msg {
    fields: &[
        val(1, "observedGeneration", I64),
        map(2, "disruptedPods", TIME),
        keep(3, "disruptionsAllowed", I32),
        keep(4, "currentHealthy", I32),
        keep(5, "desiredHealthy", I32),
        keep(6, "expectedPods", I32),
        list(7, "conditions", msg(&CONDITION)),
    ],
};

// --- authentication.k8s.io/v1 ----------------------------------------------------------------

static TOKEN_REQUEST: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        keep(2, "spec", msg(&TOKEN_REQUEST_SPEC)),
        val(3, "status", msg(&TOKEN_REQUEST_STATUS)),
    ],
};

static TOKEN_REQUEST_SPEC: Msg = Msg {
    fields: &[
        list(1, "audiences", STR),
        keep(4, "expirationSeconds", I64),
        keep(3, "boundObjectRef", msg(&BOUND_OBJECT_REFERENCE)),
    ],
};

static BOUND_OBJECT_REFERENCE: Msg = Msg {
    fields: &[
        val(1, "kind", STR),
        val(2, "apiVersion", STR),
        val(3, "name", STR),
        // The proto calls it `uID`; the JSON tag is `uid`.
        val(4, "uid", STR),
    ],
};

static TOKEN_REQUEST_STATUS: Msg = Msg {
    fields: &[keep(1, "token", STR), keep(2, "expirationTimestamp", TIME)],
};

static TOKEN_REVIEW: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        keep(2, "spec", msg(&TOKEN_REVIEW_SPEC)),
        val(3, "status", msg(&TOKEN_REVIEW_STATUS)),
    ],
};

static TOKEN_REVIEW_SPEC: Msg = Msg {
    fields: &[val(1, "token", STR), list(2, "audiences", STR)],
};

static TOKEN_REVIEW_STATUS: Msg = Msg {
    fields: &[
        val(1, "authenticated", BOOL),
        val(2, "user", msg(&USER_INFO)),
        list(4, "audiences", STR),
        val(3, "error", STR),
    ],
};

static USER_INFO: Msg = Msg {
    fields: &[
        val(1, "username", STR),
        val(2, "uid", STR),
        list(3, "groups", STR),
        map(4, "extra", STRING_LIST),
    ],
};

/// Numbers confirmed against the body `kubectl auth whoami` sends (metadata 1, status 2,
/// status.userInfo 1).
static SELF_SUBJECT_REVIEW: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        val(2, "status", msg(&SELF_SUBJECT_REVIEW_STATUS)),
    ],
};

static SELF_SUBJECT_REVIEW_STATUS: Msg = Msg {
    fields: &[val(1, "userInfo", msg(&USER_INFO))],
};

// --- authorization.k8s.io/v1 -----------------------------------------------------------------

static SELF_SUBJECT_ACCESS_REVIEW: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        keep(2, "spec", msg(&SELF_SUBJECT_ACCESS_REVIEW_SPEC)),
        val(3, "status", msg(&SUBJECT_ACCESS_REVIEW_STATUS)),
    ],
};

static SELF_SUBJECT_ACCESS_REVIEW_SPEC: Msg = Msg {
    fields: &[
        keep(1, "resourceAttributes", msg(&RESOURCE_ATTRIBUTES)),
        keep(2, "nonResourceAttributes", msg(&NON_RESOURCE_ATTRIBUTES)),
    ],
};

static RESOURCE_ATTRIBUTES: Msg = Msg {
    fields: &[
        val(1, "namespace", STR),
        val(2, "verb", STR),
        val(3, "group", STR),
        val(4, "version", STR),
        val(5, "resource", STR),
        val(6, "subresource", STR),
        val(7, "name", STR),
    ],
};

static NON_RESOURCE_ATTRIBUTES: Msg = Msg {
    fields: &[val(1, "path", STR), val(2, "verb", STR)],
};

static SUBJECT_ACCESS_REVIEW_STATUS: Msg = Msg {
    fields: &[
        keep(1, "allowed", BOOL),
        val(4, "denied", BOOL),
        val(2, "reason", STR),
        val(3, "evaluationError", STR),
    ],
};

/// `SubjectAccessReview` and `LocalSubjectAccessReview` share one shape.
static SUBJECT_ACCESS_REVIEW: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        keep(2, "spec", msg(&SUBJECT_ACCESS_REVIEW_SPEC)),
        val(3, "status", msg(&SUBJECT_ACCESS_REVIEW_STATUS)),
    ],
};

static SUBJECT_ACCESS_REVIEW_SPEC: Msg = Msg {
    fields: &[
        keep(1, "resourceAttributes", msg(&RESOURCE_ATTRIBUTES)),
        keep(2, "nonResourceAttributes", msg(&NON_RESOURCE_ATTRIBUTES)),
        val(3, "user", STR),
        list(4, "groups", STR),
        map(5, "extra", STRING_LIST),
        val(6, "uid", STR),
    ],
};

static SELF_SUBJECT_RULES_REVIEW: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        keep(2, "spec", msg(&SELF_SUBJECT_RULES_REVIEW_SPEC)),
        val(3, "status", msg(&SUBJECT_RULES_REVIEW_STATUS)),
    ],
};

static SELF_SUBJECT_RULES_REVIEW_SPEC: Msg = Msg {
    fields: &[val(1, "namespace", STR)],
};

static SUBJECT_RULES_REVIEW_STATUS: Msg = Msg {
    fields: &[
        list(1, "resourceRules", msg(&RESOURCE_RULE)),
        list(2, "nonResourceRules", msg(&NON_RESOURCE_RULE)),
        keep(3, "incomplete", BOOL),
        val(4, "evaluationError", STR),
    ],
};

static RESOURCE_RULE: Msg = Msg {
    fields: &[
        list(1, "verbs", STR),
        list(2, "apiGroups", STR),
        list(3, "resources", STR),
        list(4, "resourceNames", STR),
    ],
};

static NON_RESOURCE_RULE: Msg = Msg {
    fields: &[list(1, "verbs", STR), list(2, "nonResourceURLs", STR)],
};

// --- rbac.authorization.k8s.io/v1 ------------------------------------------------------------

static ROLE: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        list(2, "rules", msg(&POLICY_RULE)),
    ],
};

static CLUSTER_ROLE: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        list(2, "rules", msg(&POLICY_RULE)),
        keep(3, "aggregationRule", msg(&AGGREGATION_RULE)),
    ],
};

static AGGREGATION_RULE: Msg = Msg {
    fields: &[list(1, "clusterRoleSelectors", msg(&LABEL_SELECTOR))],
};

static POLICY_RULE: Msg = Msg {
    fields: &[
        list(1, "verbs", STR),
        list(2, "apiGroups", STR),
        list(3, "resources", STR),
        list(4, "resourceNames", STR),
        list(5, "nonResourceURLs", STR),
    ],
};

/// `RoleBinding` and `ClusterRoleBinding` share one shape.
static ROLE_BINDING: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        list(2, "subjects", msg(&SUBJECT)),
        keep(3, "roleRef", msg(&ROLE_REF)),
    ],
};

static ROLE_REF: Msg = Msg {
    fields: &[
        keep(1, "apiGroup", STR),
        keep(2, "kind", STR),
        keep(3, "name", STR),
    ],
};

static SUBJECT: Msg = Msg {
    fields: &[
        keep(1, "kind", STR),
        val(2, "apiGroup", STR),
        keep(3, "name", STR),
        val(4, "namespace", STR),
    ],
};

// --- networking.k8s.io/v1 --------------------------------------------------------------------

static INGRESS: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        val(2, "spec", msg(&INGRESS_SPEC)),
        val(3, "status", msg(&INGRESS_STATUS)),
    ],
};

static INGRESS_SPEC: Msg = Msg {
    fields: &[
        keep(4, "ingressClassName", STR),
        keep(1, "defaultBackend", msg(&INGRESS_BACKEND)),
        list(2, "tls", msg(&INGRESS_TLS)),
        list(3, "rules", msg(&INGRESS_RULE)),
    ],
};

static INGRESS_BACKEND: Msg = Msg {
    fields: &[
        keep(4, "service", msg(&INGRESS_SERVICE_BACKEND)),
        keep(3, "resource", msg(&TYPED_LOCAL_OBJECT_REFERENCE)),
    ],
};

static INGRESS_SERVICE_BACKEND: Msg = Msg {
    fields: &[
        keep(1, "name", STR),
        val(2, "port", msg(&SERVICE_BACKEND_PORT)),
    ],
};

static SERVICE_BACKEND_PORT: Msg = Msg {
    fields: &[val(1, "name", STR), val(2, "number", I32)],
};

static INGRESS_TLS: Msg = Msg {
    fields: &[list(1, "hosts", STR), val(2, "secretName", STR)],
};

static INGRESS_RULE: Msg = Msg {
    fields: &[val(1, "host", STR), inline(2, &INGRESS_RULE_VALUE)],
};

static INGRESS_RULE_VALUE: Msg = Msg {
    fields: &[keep(1, "http", msg(&HTTP_INGRESS_RULE_VALUE))],
};

static HTTP_INGRESS_RULE_VALUE: Msg = Msg {
    fields: &[list(1, "paths", msg(&HTTP_INGRESS_PATH))],
};

static HTTP_INGRESS_PATH: Msg = Msg {
    fields: &[
        val(1, "path", STR),
        keep(3, "pathType", STR),
        keep(2, "backend", msg(&INGRESS_BACKEND)),
    ],
};

static INGRESS_STATUS: Msg = Msg {
    fields: &[val(1, "loadBalancer", msg(&INGRESS_LOAD_BALANCER_STATUS))],
};

static INGRESS_LOAD_BALANCER_STATUS: Msg = Msg {
    fields: &[list(1, "ingress", msg(&INGRESS_LOAD_BALANCER_INGRESS))],
};

static INGRESS_LOAD_BALANCER_INGRESS: Msg = Msg {
    fields: &[
        val(1, "ip", STR),
        val(2, "hostname", STR),
        list(4, "ports", msg(&PORT_STATUS)),
    ],
};

static INGRESS_CLASS: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        val(2, "spec", msg(&INGRESS_CLASS_SPEC)),
    ],
};

static INGRESS_CLASS_SPEC: Msg = Msg {
    fields: &[
        val(1, "controller", STR),
        keep(2, "parameters", msg(&INGRESS_CLASS_PARAMETERS_REFERENCE)),
    ],
};

static INGRESS_CLASS_PARAMETERS_REFERENCE: Msg = Msg {
    fields: &[
        // The proto calls it `aPIGroup`; the JSON tag is `apiGroup`.
        keep(1, "apiGroup", STR),
        keep(2, "kind", STR),
        keep(3, "name", STR),
        keep(4, "scope", STR),
        keep(5, "namespace", STR),
    ],
};

static NETWORK_POLICY: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        val(2, "spec", msg(&NETWORK_POLICY_SPEC)),
    ],
};

static NETWORK_POLICY_SPEC: Msg = Msg {
    fields: &[
        val(1, "podSelector", msg(&LABEL_SELECTOR)),
        list(2, "ingress", msg(&NETWORK_POLICY_INGRESS_RULE)),
        list(3, "egress", msg(&NETWORK_POLICY_EGRESS_RULE)),
        list(4, "policyTypes", STR),
    ],
};

static NETWORK_POLICY_INGRESS_RULE: Msg = Msg {
    fields: &[
        list(1, "ports", msg(&NETWORK_POLICY_PORT)),
        list(2, "from", msg(&NETWORK_POLICY_PEER)),
    ],
};

static NETWORK_POLICY_EGRESS_RULE: Msg = Msg {
    fields: &[
        list(1, "ports", msg(&NETWORK_POLICY_PORT)),
        list(2, "to", msg(&NETWORK_POLICY_PEER)),
    ],
};

static NETWORK_POLICY_PEER: Msg = Msg {
    fields: &[
        keep(1, "podSelector", msg(&LABEL_SELECTOR)),
        keep(2, "namespaceSelector", msg(&LABEL_SELECTOR)),
        keep(3, "ipBlock", msg(&IP_BLOCK)),
    ],
};

static IP_BLOCK: Msg = Msg {
    fields: &[keep(1, "cidr", STR), list(2, "except", STR)],
};

static NETWORK_POLICY_PORT: Msg = Msg {
    fields: &[
        keep(1, "protocol", STR),
        keep(2, "port", INT_OR_STRING),
        keep(3, "endPort", I32),
    ],
};

// --- scheduling.k8s.io/v1 --------------------------------------------------------------------

static PRIORITY_CLASS: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        keep(2, "value", I32),
        val(3, "globalDefault", BOOL),
        val(4, "description", STR),
        keep(5, "preemptionPolicy", STR),
    ],
};

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // --- A minimal encoder, so malformed and edge-case bodies can be built by hand. ---

    fn varint(mut v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(byte);
                return out;
            }
            out.push(byte | 0x80);
        }
    }

    /// Varint field.
    fn vf(num: u64, v: u64) -> Vec<u8> {
        [varint(num << 3), varint(v)].concat()
    }

    /// Length-delimited field.
    fn lf(num: u64, bytes: &[u8]) -> Vec<u8> {
        [
            varint(num << 3 | 2),
            varint(bytes.len() as u64),
            bytes.to_vec(),
        ]
        .concat()
    }

    fn sf(num: u64, s: &str) -> Vec<u8> {
        lf(num, s.as_bytes())
    }

    fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
        let type_meta = [sf(1, api_version), sf(2, kind)].concat();
        [b"k8s\0".to_vec(), lf(1, &type_meta), lf(2, raw)].concat()
    }

    fn meta(name: &str) -> Vec<u8> {
        lf(1, &sf(1, name))
    }

    fn malformed_path(err: ProtobufError) -> String {
        match err {
            ProtobufError::Malformed { path, .. } => path,
            other => panic!("expected a malformed-input error, got {other:?}"),
        }
    }

    /// kubectl's JSON writes `creationTimestamp: null` and nil slices as `null`; the decoder
    /// omits both, so expectations are compared without nulls.
    fn strip_nulls(v: Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.into_iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| (k, strip_nulls(v)))
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.into_iter().map(strip_nulls).collect()),
            other => other,
        }
    }

    macro_rules! fixture {
        ($name:literal) => {
            (
                $name,
                include_bytes!(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/tests/fixtures/protobuf/",
                    $name,
                    ".bin"
                ))
                .as_slice(),
                include_str!(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/tests/fixtures/protobuf/",
                    $name,
                    ".json"
                )),
            )
        };
    }

    /// Bodies kubectl 1.33 POSTs as protobuf, each paired with the JSON the same command
    /// produces with `--dry-run=client -o json` (or, for the review kinds, the JSON body
    /// kubectl 1.31 POSTs): the tests/fixtures/protobuf README lists the commands.
    const FIXTURES: &[(&str, &[u8], &str)] = &[
        fixture!("configmap"),
        fixture!("configmap_files"),
        fixture!("secret_generic"),
        fixture!("secret_docker_registry"),
        fixture!("namespace"),
        fixture!("serviceaccount"),
        fixture!("service_clusterip"),
        fixture!("service_headless"),
        fixture!("service_multi_port"),
        fixture!("service_nodeport"),
        fixture!("service_loadbalancer"),
        fixture!("service_externalname"),
        fixture!("deployment"),
        fixture!("deployment_multi"),
        fixture!("job"),
        fixture!("job_from_cronjob"),
        fixture!("cronjob"),
        fixture!("quota"),
        fixture!("quota_scopes"),
        fixture!("role"),
        fixture!("role_resource_names"),
        fixture!("clusterrole"),
        fixture!("clusterrole_aggregation"),
        fixture!("clusterrole_nonresource"),
        fixture!("rolebinding"),
        fixture!("clusterrolebinding"),
        fixture!("pdb_min_available"),
        fixture!("pdb_max_unavailable"),
        fixture!("ingress"),
        fixture!("priorityclass"),
        fixture!("ssar_get_pods"),
        fixture!("ssar_subresource"),
        fixture!("ssar_nonresource"),
        fixture!("ssrr"),
        fixture!("selfsubjectreview"),
        fixture!("token_request"),
    ];

    #[test]
    fn kubectl_protobuf_bodies_decode_to_the_json_kubectl_sends() {
        for (name, body, json) in FIXTURES {
            let got = decode(body).unwrap_or_else(|e| panic!("{name}: {e}"));
            let want = strip_nulls(serde_json::from_str(json).expect("fixture json"));
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn api_version_and_kind_come_first() {
        let (_, body, _) = fixture!("deployment");
        let got = decode(body).unwrap();
        let keys: Vec<&str> = got
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, ["apiVersion", "kind", "metadata", "spec", "status"]);
    }

    #[test]
    fn configmap_from_two_literals() {
        let (_, body, _) = fixture!("configmap");
        assert_eq!(
            decode(body).unwrap(),
            json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "my-config"},
                "data": {"key1": "value1", "key2": "value2"}
            })
        );
    }

    #[test]
    fn secret_data_and_binary_data_are_base64() {
        let (_, body, _) = fixture!("secret_generic");
        let got = decode(body).unwrap();
        assert_eq!(
            got["data"],
            json!({"password": "czNjcjN0", "username": "YWRtaW4="})
        );
        // kubectl leaves the type to the server's default.
        assert_eq!(got.get("type"), None);

        // `--from-file` of a file that is not UTF-8 lands in binaryData.
        let (_, body, _) = fixture!("configmap_files");
        let got = decode(body).unwrap();
        assert_eq!(got["binaryData"], json!({"blob.bin": "AAH/Ymlu"}));
        assert_eq!(got["data"], json!({"text.txt": "hello\n"}));
    }

    #[test]
    fn deployment_spec_and_pod_template() {
        let (_, body, _) = fixture!("deployment");
        let got = decode(body).unwrap();
        assert_eq!(got["spec"]["replicas"], 2);
        assert_eq!(
            got["spec"]["selector"],
            json!({"matchLabels": {"app": "web"}})
        );
        let container = &got["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(
            container,
            &json!({"name": "nginx", "image": "nginx", "ports": [{"containerPort": 80}], "resources": {}})
        );
        // A zero creationTimestamp is omitted rather than written as null.
        assert_eq!(
            got["metadata"],
            json!({"name": "web", "labels": {"app": "web"}})
        );
    }

    #[test]
    fn service_target_port_is_a_number_or_a_name() {
        let (_, body, _) = fixture!("service_clusterip");
        let port = &decode(body).unwrap()["spec"]["ports"][0];
        assert_eq!(
            port,
            &json!({"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080})
        );

        let (_, body, _) = fixture!("service_loadbalancer");
        assert_eq!(
            decode(body).unwrap()["spec"]["ports"][0]["targetPort"],
            "https"
        );
    }

    #[test]
    fn access_review_from_auth_can_i() {
        let (_, body, _) = fixture!("ssar_subresource");
        assert_eq!(
            decode(body).unwrap(),
            json!({
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SelfSubjectAccessReview",
                "metadata": {},
                "spec": {"resourceAttributes": {
                    "namespace": "kube-system", "verb": "create", "resource": "pods", "subresource": "exec"
                }},
                "status": {"allowed": false}
            })
        );
    }

    #[test]
    fn quantities_and_int_or_string_percentages() {
        let (_, body, _) = fixture!("quota");
        assert_eq!(
            decode(body).unwrap()["spec"]["hard"],
            json!({"cpu": "1", "memory": "1G", "pods": "2", "services": "3"})
        );
        let (_, body, _) = fixture!("pdb_max_unavailable");
        assert_eq!(decode(body).unwrap()["spec"]["maxUnavailable"], "50%");
    }

    #[test]
    fn eviction_keeps_an_explicit_zero_grace_period() {
        // What `kubectl drain --grace-period=0` asks for, in the protobuf form client-go uses.
        let delete_options = [vf(1, 0), lf(2, &sf(1, "uid-1")), sf(4, "Foreground")].concat();
        let raw = [
            lf(1, &[sf(1, "web-1"), sf(3, "default")].concat()),
            lf(2, &delete_options),
        ]
        .concat();
        assert_eq!(
            decode(&envelope("policy/v1", "Eviction", &raw)).unwrap(),
            json!({
                "apiVersion": "policy/v1",
                "kind": "Eviction",
                "metadata": {"name": "web-1", "namespace": "default"},
                "deleteOptions": {
                    "gracePeriodSeconds": 0,
                    "preconditions": {"uid": "uid-1"},
                    "propagationPolicy": "Foreground"
                }
            })
        );
    }

    #[test]
    fn pointer_zeroes_survive_and_omitempty_zeroes_do_not() {
        let container = [sf(1, "c"), sf(2, ""), lf(6, &vf(3, 0))].concat();
        let pod_spec = [lf(2, &container), sf(3, "")].concat();
        let template = lf(2, &pod_spec);
        let strategy = lf(2, &[lf(1, &vf(2, 0))].concat());
        let spec = [
            vf(1, 0),
            lf(3, &template),
            lf(4, &strategy),
            vf(5, 0),
            vf(7, 0),
        ]
        .concat();
        let got = decode(&envelope(
            "apps/v1",
            "Deployment",
            &[meta("d"), lf(2, &spec)].concat(),
        ))
        .unwrap();
        assert_eq!(
            got["spec"],
            json!({
                // replicas is a pointer: an explicit 0 means "scale to zero".
                "replicas": 0,
                // containerPort has no omitempty; image, restartPolicy, minReadySeconds and
                // paused do.
                "template": {"spec": {"containers": [{"name": "c", "ports": [{"containerPort": 0}]}]}},
                "strategy": {"rollingUpdate": {"maxUnavailable": 0}}
            })
        );

        let cm = [meta("c"), vf(4, 0)].concat();
        assert_eq!(
            decode(&envelope("v1", "ConfigMap", &cm)).unwrap()["immutable"],
            false
        );
    }

    #[test]
    fn embedded_structs_are_flattened() {
        let http_get = [
            sf(1, "/healthz"),
            lf(2, &[vf(1, 1), sf(3, "http")].concat()),
        ]
        .concat();
        let probe = [lf(1, &lf(2, &http_get)), vf(4, 5)].concat();
        let secret_ref = [lf(1, &sf(1, "creds")), sf(2, "password")].concat();
        let env = [sf(1, "PW"), lf(3, &lf(4, &secret_ref))].concat();
        let env_from = lf(2, &lf(1, &sf(1, "settings")));
        let container = [sf(1, "c"), lf(7, &env), lf(19, &env_from), lf(10, &probe)].concat();
        let config_map_source = [lf(1, &sf(1, "settings")), vf(3, 0o644)].concat();
        let volume = [sf(1, "cfg"), lf(2, &lf(19, &config_map_source))].concat();
        let pod_spec = [lf(1, &volume), lf(2, &container)].concat();
        let got = decode(&envelope(
            "v1",
            "Pod",
            &[meta("p"), lf(2, &pod_spec)].concat(),
        ))
        .unwrap();
        assert_eq!(
            got["spec"],
            json!({
                "volumes": [{"name": "cfg", "configMap": {"name": "settings", "defaultMode": 420}}],
                "containers": [{
                    "name": "c",
                    "envFrom": [{"configMapRef": {"name": "settings"}}],
                    "env": [{"name": "PW", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}}],
                    "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 5}
                }]
            })
        );
    }

    #[test]
    fn ingress_rule_value_is_flattened_into_the_rule() {
        let (_, body, _) = fixture!("ingress");
        let rule = &decode(body).unwrap()["spec"]["rules"][0];
        assert_eq!(rule["host"], "foo.com");
        assert_eq!(
            rule["http"]["paths"][0]["backend"]["service"]["port"]["number"],
            8080
        );
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let cases = [
            (1_767_323_045, 0, false, "2026-01-02T03:04:05Z"),
            (1_709_208_000, 0, false, "2024-02-29T12:00:00Z"),
            (951_868_800, 0, false, "2000-03-01T00:00:00Z"),
            (-1, 0, false, "1969-12-31T23:59:59Z"),
            (-62_135_596_799, 0, false, "0001-01-01T00:00:01Z"),
            (253_402_300_799, 0, false, "9999-12-31T23:59:59Z"),
            // Time drops the fraction; MicroTime keeps microseconds.
            (1_767_323_045, 999_999_999, false, "2026-01-02T03:04:05Z"),
            (
                1_767_323_045,
                123_456_789,
                true,
                "2026-01-02T03:04:05.123456Z",
            ),
            (1_767_323_045, 0, true, "2026-01-02T03:04:05.000000Z"),
        ];
        for (seconds, nanos, micro, want) in cases {
            assert_eq!(
                format_rfc3339(seconds, nanos, micro).unwrap(),
                want,
                "{seconds}"
            );
        }
        assert!(format_rfc3339(MAX_RFC3339 + 1, 0, false).is_err());
    }

    #[test]
    fn object_times_decode_and_zero_time_is_omitted() {
        let stamp = [vf(1, 1_767_323_045), vf(2, 5)].concat();
        let raw = [
            lf(1, &[sf(1, "e"), lf(8, &stamp), lf(9, &[])].concat()),
            sf(14, "kubelet"),
        ]
        .concat();
        let got = decode(&envelope(
            "v1",
            "Event",
            &[raw, lf(10, &[vf(1, 1), vf(2, 2_000)].concat())].concat(),
        ))
        .unwrap();
        assert_eq!(
            got["metadata"],
            json!({"name": "e", "creationTimestamp": "2026-01-02T03:04:05Z"})
        );
        assert_eq!(got["eventTime"], "1970-01-01T00:00:01.000002Z");
        assert_eq!(got["reportingComponent"], "kubelet");

        let out_of_range = lf(1, &lf(8, &vf(1, 253_402_300_800)));
        let err = decode(&envelope("v1", "ConfigMap", &out_of_range)).unwrap_err();
        assert_eq!(malformed_path(err), "metadata.creationTimestamp");
    }

    #[test]
    fn durations_print_like_go() {
        let cases = [
            (0, "0s"),
            (42, "42ns"),
            (1_500, "1.5µs"),
            (100_000, "100µs"),
            (1_500_000, "1.5ms"),
            (1_500_000_000, "1.5s"),
            (90_000_000_000, "1m30s"),
            (3_600_000_000_000, "1h0m0s"),
            (3_723_004_000_000, "1h2m3.004s"),
            (-2_000_000_000, "-2s"),
            (i64::MIN, "-2562047h47m16.854775808s"),
        ];
        for (nanos, want) in cases {
            assert_eq!(go_duration(nanos), want);
            let value = convert(DURATION, Raw::Bytes(&vf(1, nanos as u64)), 0).unwrap();
            assert_eq!(value, want);
        }
    }

    #[test]
    fn embedded_json_in_managed_fields() {
        let entry = [
            sf(1, "kubectl"),
            sf(2, "Update"),
            sf(3, "v1"),
            sf(6, "FieldsV1"),
            lf(7, &sf(1, r#"{"f:data":{"f:a":{}}}"#)),
        ]
        .concat();
        let got = decode(&envelope(
            "v1",
            "ConfigMap",
            &lf(1, &[sf(1, "c"), lf(17, &entry)].concat()),
        ))
        .unwrap();
        assert_eq!(
            got["metadata"]["managedFields"],
            json!([{
                "manager": "kubectl", "operation": "Update", "apiVersion": "v1",
                "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:a": {}}}
            }])
        );
        let bad = lf(1, &lf(17, &lf(7, &sf(1, "{not json"))));
        let err = decode(&envelope("v1", "ConfigMap", &bad)).unwrap_err();
        assert_eq!(malformed_path(err), "metadata.managedFields[0].fieldsV1");
    }

    #[test]
    fn string_list_maps_are_objects_of_arrays() {
        let extra = [sf(1, "scopes"), lf(2, &[sf(1, "a"), sf(1, "b")].concat())].concat();
        let spec = [
            lf(2, &[sf(1, "/logs"), sf(2, "get")].concat()),
            sf(3, "alice"),
            lf(5, &extra),
        ]
        .concat();
        let got = decode(&envelope(
            "authorization.k8s.io/v1",
            "SubjectAccessReview",
            &lf(2, &spec),
        ))
        .unwrap();
        assert_eq!(
            got["spec"],
            json!({"nonResourceAttributes": {"path": "/logs", "verb": "get"}, "user": "alice", "extra": {"scopes": ["a", "b"]}})
        );
    }

    #[test]
    fn repeated_scalars_packed_or_not() {
        let unpacked = [vf(4, 1), vf(4, 2)].concat();
        let packed = lf(4, &[varint(3), varint(4)].concat());
        for (sc, want) in [(unpacked, json!([1, 2])), (packed, json!([3, 4]))] {
            let spec = [lf(2, &sf(1, "c")), lf(14, &sc)].concat();
            let got = decode(&envelope("v1", "Pod", &lf(2, &spec))).unwrap();
            assert_eq!(got["spec"]["securityContext"]["supplementalGroups"], want);
        }
    }

    #[test]
    fn negative_int32_travels_sign_extended() {
        let spec = [lf(2, &sf(1, "c")), vf(25, (-5i64) as u64)].concat();
        let got = decode(&envelope("v1", "Pod", &lf(2, &spec))).unwrap();
        assert_eq!(got["spec"]["priority"], -5);
    }

    #[test]
    fn map_entries_without_a_value_carry_the_zero_value() {
        let raw = [meta("s"), lf(2, &sf(1, "empty")), lf(4, &sf(1, "also"))].concat();
        let got = decode(&envelope("v1", "Secret", &raw)).unwrap();
        assert_eq!(got["data"], json!({"empty": ""}));
        assert_eq!(got["stringData"], json!({"also": ""}));
    }

    #[test]
    fn unknown_fields_of_every_wire_type_are_skipped() {
        let mut fixed64 = varint(99 << 3 | 1);
        fixed64.extend([0; 8]);
        let mut fixed32 = varint(98 << 3 | 5);
        fixed32.extend([0; 4]);
        let metadata = [sf(1, "c"), vf(97, 7), fixed64.clone(), sf(96, "x")].concat();
        let raw = [
            lf(1, &metadata),
            fixed32,
            fixed64,
            lf(2, &[sf(1, "k"), sf(2, "v")].concat()),
        ]
        .concat();
        let got = decode(&envelope("v1", "ConfigMap", &raw)).unwrap();
        assert_eq!(
            got,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}})
        );
    }

    #[test]
    fn a_repeated_singular_message_merges() {
        let raw = [lf(1, &sf(1, "c")), lf(1, &sf(3, "ns"))].concat();
        let got = decode(&envelope("v1", "ConfigMap", &raw)).unwrap();
        assert_eq!(got["metadata"], json!({"name": "c", "namespace": "ns"}));
    }

    #[test]
    fn not_protobuf() {
        for body in [
            &b""[..],
            b"k8s",
            b"{\"kind\":\"ConfigMap\"}",
            b"K8S\0\x0a\x00",
        ] {
            assert_eq!(decode(body), Err(ProtobufError::NotProtobuf));
        }
    }

    #[test]
    fn unsupported_kind_and_encoding() {
        assert_eq!(
            decode(&envelope("example.com/v1", "Widget", &meta("w"))),
            Err(ProtobufError::UnsupportedKind {
                api_version: "example.com/v1".into(),
                kind: "Widget".into()
            })
        );
        let gzip = [envelope("v1", "ConfigMap", &meta("c")), sf(3, "gzip")].concat();
        assert_eq!(
            decode(&gzip),
            Err(ProtobufError::UnsupportedEncoding("gzip".into()))
        );
        let json_inside = [
            envelope("v1", "ConfigMap", b"{}"),
            sf(4, "application/json"),
        ]
        .concat();
        assert!(matches!(
            decode(&json_inside),
            Err(ProtobufError::UnsupportedEncoding(_))
        ));
        assert!(matches!(
            decode(b"k8s\0"),
            Err(ProtobufError::Malformed { .. })
        ));
    }

    #[test]
    fn malformed_wire_data_is_reported_with_its_path() {
        // Truncated varint in the envelope.
        let err = decode(b"k8s\0\x0a\x80").unwrap_err();
        assert_eq!(
            err.to_string(),
            "malformed protobuf at envelope: truncated varint"
        );
        // Length past the end.
        let err = decode(b"k8s\0\x12\x7f\x01").unwrap_err();
        assert!(
            err.to_string()
                .ends_with("length runs past the end of the input"),
            "{err}"
        );
        // Eleven-byte varint.
        let mut long = b"k8s\0\x08".to_vec();
        long.extend([0xff; 10]);
        assert!(decode(&long).unwrap_err().to_string().contains("varint"));
        // Groups are not used by Kubernetes.
        assert!(decode(&envelope("v1", "ConfigMap", &[0x0b])).is_err());
        // Field number zero.
        assert!(decode(&envelope("v1", "ConfigMap", &[0x02, 0x00])).is_err());

        // A wire type mismatch deep inside a deployment names the field.
        let port = vf(3, 80);
        let container = [sf(1, "c"), lf(6, &[lf(3, &port)].concat())].concat();
        let spec = lf(3, &lf(2, &lf(2, &container)));
        let err = decode(&envelope("apps/v1", "Deployment", &lf(2, &spec))).unwrap_err();
        assert_eq!(
            malformed_path(err),
            "spec.template.spec.containers[0].ports[0].containerPort"
        );

        // Errors inside an embedded struct are reported against the parent's path.
        let probe = lf(1, &lf(2, &vf(1, 3)));
        let pod_spec = lf(2, &[sf(1, "c"), lf(10, &probe)].concat());
        let err = decode(&envelope("v1", "Pod", &lf(2, &pod_spec))).unwrap_err();
        assert_eq!(
            malformed_path(err),
            "spec.containers[0].livenessProbe.httpGet.path"
        );

        // Strings must be UTF-8.
        let err = decode(&envelope(
            "v1",
            "ConfigMap",
            &lf(2, &[sf(1, "k"), lf(2, &[0xff, 0xfe])].concat()),
        ))
        .unwrap_err();
        assert_eq!(malformed_path(err), "data[\"k\"]");
    }

    #[test]
    fn nesting_is_capped() {
        // fieldsV1 may itself hold a k8s\0 envelope; nest one inside another far past the cap.
        let mut body = envelope("v1", "ConfigMap", &meta("leaf"));
        for _ in 0..200 {
            let entry = lf(7, &lf(1, &body));
            body = envelope("v1", "ConfigMap", &lf(1, &lf(17, &entry)));
        }
        let err = decode(&body).unwrap_err();
        assert!(err.to_string().contains("nested"), "{err}");
    }

    #[test]
    fn hostile_input_never_panics() {
        for (name, body, _) in FIXTURES {
            // Every truncation.
            for len in 0..body.len() {
                let _ = decode(&body[..len]);
            }
            // Every single-byte corruption with a few values.
            let mut copy = body.to_vec();
            for i in 4..copy.len() {
                let original = copy[i];
                for v in [0x00, 0x07, 0x80, 0xff, original ^ 0x55] {
                    copy[i] = v;
                    let _ = decode(&copy);
                }
                copy[i] = original;
            }
            assert!(decode(&copy).is_ok(), "{name}");
        }
        // Pseudo-random garbage behind a valid magic (xorshift, fixed seed).
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..2_000 {
            let len = (state % 64) as usize;
            let mut body = b"k8s\0".to_vec();
            for _ in 0..len {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                body.push(state as u8);
            }
            let _ = decode(&body);
        }
    }
}
