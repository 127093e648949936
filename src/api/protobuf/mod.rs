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
//!
//! Layout: [`wire`] reads the wire format, [`table`] is the vocabulary of the message tables,
//! [`message`] decodes a message against its table, [`json`] gives the well-known Kubernetes
//! types their JSON forms, one file per API group holds that group's tables, and [`registry`]
//! maps `(apiVersion, kind)` to the top-level table.

mod apps;
mod auth;
mod batch;
mod core;
#[cfg(test)]
mod fixtures;
mod json;
mod message;
mod meta;
mod networking;
mod pod;
mod policy;
mod rbac;
mod registry;
mod scheduling;
mod table;
#[cfg(test)]
mod tests;
mod volume;
mod wire;

use serde_json::{Map, Value};

use message::decode_message;
use registry::lookup;
use wire::{utf8, Reader, WIRE_LEN};

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
