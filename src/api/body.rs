//! Request and response bodies: decoding by Content-Type (JSON, YAML, protobuf), the 3 MiB
//! limit, and building JSON/Status/streaming responses.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::{header, Response, StatusCode};
use serde_json::Value;

use super::status::ApiError;

/// Largest request body accepted, as Kubernetes' default.
pub const MAX_BODY: usize = 3 * 1024 * 1024;

pub type Body = BoxBody<Bytes, Infallible>;

/// Which body encodings a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Json,
    Yaml,
    Protobuf,
    MergePatch,
    JsonPatch,
    StrategicPatch,
    ApplyPatch,
}

/// Classify a Content-Type; no Content-Type means JSON.
pub fn encoding(content_type: Option<&str>) -> Result<Encoding, ApiError> {
    let ct = content_type.unwrap_or("application/json");
    let base = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    Ok(match base.as_str() {
        "" | "application/json" | "*/*" => Encoding::Json,
        "application/yaml" | "application/x-yaml" | "text/yaml" => Encoding::Yaml,
        "application/vnd.kubernetes.protobuf" => Encoding::Protobuf,
        "application/merge-patch+json" => Encoding::MergePatch,
        "application/json-patch+json" => Encoding::JsonPatch,
        "application/strategic-merge-patch+json" => Encoding::StrategicPatch,
        "application/apply-patch+yaml" | "application/apply-patch+cbor" => Encoding::ApplyPatch,
        _ => return Err(ApiError::unsupported_media_type(ct)),
    })
}

/// Decode an object body (create/update) of a given encoding.
pub fn decode_object(enc: Encoding, body: &[u8]) -> Result<Value, ApiError> {
    let v: Value = match enc {
        Encoding::Json => serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!("error decoding request body as JSON: {e}"))
        })?,
        Encoding::Yaml | Encoding::ApplyPatch => yaml_to_json(body)?,
        Encoding::Protobuf => super::protobuf::decode(body).map_err(|e| match e {
            super::protobuf::ProtobufError::UnsupportedKind { .. }
            | super::protobuf::ProtobufError::UnsupportedEncoding(_) => {
                ApiError::unsupported_media_type("application/vnd.kubernetes.protobuf")
            }
            other => ApiError::bad_request(format!("error decoding protobuf body: {other}")),
        })?,
        _ => return Err(ApiError::unsupported_media_type("patch content type")),
    };
    if !v.is_object() {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ));
    }
    Ok(v)
}

/// YAML (the apply-patch and plain YAML bodies) to JSON.
pub fn yaml_to_json(body: &[u8]) -> Result<Value, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("error decoding YAML: the body is not UTF-8"))?;
    serde_yaml_ng::from_str::<Value>(text)
        .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))
}

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

/// A JSON response.
pub fn json(code: u16, v: &Value) -> Response<Body> {
    let bytes = serde_json::to_vec(v).unwrap_or_default();
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::OK))
        .header(header::CONTENT_TYPE, "application/json")
        .body(full(bytes))
        .unwrap_or_else(|_| Response::new(full(Bytes::new())))
}

/// A JSON response with an explicit Content-Type (aggregated discovery needs its own).
pub fn json_as(v: &Value, content_type: &str) -> Response<Body> {
    let mut r = json(200, v);
    if let Ok(h) = header::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, h);
    }
    r
}

pub fn text(code: u16, body: &str) -> Response<Body> {
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::OK))
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(full(body.to_string()))
        .unwrap_or_else(|_| Response::new(full(Bytes::new())))
}

/// A `metav1.Status` error response.
pub fn error(e: &ApiError) -> Response<Body> {
    let mut r = json(e.code, &e.to_status());
    if let Some(secs) = e.retry_after {
        r.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
    }
    r
}

/// A streaming response fed through a channel; the sender ends the stream by dropping.
pub fn stream(content_type: &str) -> (smol::channel::Sender<Bytes>, Response<Body>) {
    let (tx, rx) = smol::channel::bounded::<Bytes>(64);
    let frames =
        futures_lite::StreamExt::map(rx, |b| Ok::<_, Infallible>(hyper::body::Frame::data(b)));
    let body = http_body_util::StreamBody::new(frames).boxed();
    let resp = Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CACHE_CONTROL, "no-cache, private")
        .body(body)
        .unwrap_or_else(|_| Response::new(full(Bytes::new())));
    (tx, resp)
}

/// Read a request body, refusing more than [`MAX_BODY`] bytes.
pub async fn read_body(body: hyper::body::Incoming) -> Result<Bytes, ApiError> {
    let limited = http_body_util::Limited::new(body, MAX_BODY);
    match limited.collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(ApiError::too_large(MAX_BODY)),
        Err(e) => Err(ApiError::bad_request(format!("reading request body: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_content_types() {
        assert_eq!(encoding(None).unwrap(), Encoding::Json);
        assert_eq!(
            encoding(Some("application/strategic-merge-patch+json")).unwrap(),
            Encoding::StrategicPatch
        );
        assert_eq!(
            encoding(Some("application/json; charset=utf-8")).unwrap(),
            Encoding::Json
        );
        assert_eq!(encoding(Some("text/html")).unwrap_err().code, 415);
    }

    #[test]
    fn rejects_garbage_and_non_objects() {
        assert_eq!(
            decode_object(Encoding::Json, b"\x00\xff{")
                .unwrap_err()
                .code,
            400
        );
        assert_eq!(
            decode_object(Encoding::Json, b"[1,2]").unwrap_err().code,
            400
        );
        let v = decode_object(Encoding::Yaml, b"kind: ConfigMap\nmetadata:\n  name: a\n").unwrap();
        assert_eq!(v["metadata"]["name"], "a");
    }
}
