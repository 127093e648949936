//! Downward API values and the downwardAPI volume payload, formatted exactly as the kubelet
//! does: `metadata.labels` / `metadata.annotations` become `key="value"` lines sorted by key
//! (Go `%q` quoting, no trailing newline); `resourceFieldRef` values are divided by `divisor`
//! (default 1) and rounded up, CPU in millicores and memory in bytes, with unset limits taking
//! the node's allocatable amount. `field_value` and `resource_value` are public so the kubelet
//! can use the same code for environment variables.

use serde_json::Value;

use crate::payload::{clean_path, default_mode, mode_of, FileProjection, Payload};
use crate::quantity::Quantity;
use crate::VolumeError;

/// Payload of a downwardAPI volume. `pod` is the Pod object, `source` the pod's
/// `volume.downwardAPI` (`items`, `defaultMode`), `node_allocatable` the node's
/// `status.allocatable` map (used for `limits.*` of containers without limits).
pub fn downward_payload(
    pod: &Value,
    source: &Value,
    node_allocatable: &Value,
) -> Result<Payload, VolumeError> {
    collect(pod, source, node_allocatable, default_mode(source)?)
}

/// Shared with projected volumes, which pass the projection's `defaultMode`.
pub(crate) fn collect(
    pod: &Value,
    source: &Value,
    node_allocatable: &Value,
    default_mode: u32,
) -> Result<Payload, VolumeError> {
    let mut payload = Payload::new();
    let items = source
        .get("items")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    for item in items {
        let path = item.get("path").and_then(Value::as_str).ok_or_else(|| {
            VolumeError::InvalidSource(format!("downwardAPI item without path: {item}"))
        })?;
        let mode = mode_of(item, "mode")?.unwrap_or(default_mode);
        let data = if let Some(f) = item.get("fieldRef") {
            let fp = f
                .get("fieldPath")
                .and_then(Value::as_str)
                .unwrap_or_default();
            field_value(pod, fp)?
        } else if let Some(r) = item.get("resourceFieldRef") {
            let s = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or_default();
            resource_value(
                pod,
                s("containerName"),
                s("resource"),
                r.get("divisor"),
                node_allocatable,
            )?
        } else {
            String::new()
        };
        payload.insert(
            clean_path(path),
            FileProjection {
                data: data.into_bytes(),
                mode,
            },
        );
    }
    Ok(payload)
}

/// The value of a downward API `fieldRef.fieldPath` for `pod` (metadata fields only, which
/// are the ones volumes may use).
pub fn field_value(pod: &Value, field_path: &str) -> Result<String, VolumeError> {
    let meta = &pod["metadata"];
    let map = |f: &str| meta.get(f).and_then(Value::as_object);
    if let Some((field, rest)) = field_path.split_once('[') {
        let key = rest
            .strip_suffix(']')
            .and_then(|k| k.strip_prefix('\'').and_then(|k| k.strip_suffix('\'')))
            .ok_or_else(|| VolumeError::UnsupportedFieldPath(field_path.to_string()))?;
        let m = match field {
            "metadata.labels" => map("labels"),
            "metadata.annotations" => map("annotations"),
            _ => return Err(VolumeError::UnsupportedFieldPath(field_path.to_string())),
        };
        return Ok(m
            .and_then(|m| m.get(key))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string());
    }
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    match field_path {
        "metadata.name" => Ok(s(&meta["name"])),
        "metadata.namespace" => Ok(s(&meta["namespace"])),
        "metadata.uid" => Ok(s(&meta["uid"])),
        "metadata.labels" => Ok(format_map(map("labels"))),
        "metadata.annotations" => Ok(format_map(map("annotations"))),
        _ => Err(VolumeError::UnsupportedFieldPath(field_path.to_string())),
    }
}

/// `key="value"` lines, keys sorted, values quoted like Go's `%q`, no trailing newline.
fn format_map(m: Option<&serde_json::Map<String, Value>>) -> String {
    let mut entries: Vec<(&String, &str)> = m
        .into_iter()
        .flatten()
        .map(|(k, v)| (k, v.as_str().unwrap_or_default()))
        .collect();
    entries.sort();
    entries
        .iter()
        .map(|(k, v)| format!("{k}={}", go_quote(v)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Go's `strconv.Quote`: escapes quotes, backslashes and non-printable characters.
fn go_quote(s: &str) -> String {
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
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() || (c.is_whitespace() && c != ' ') => {
                if (c as u32) < 0x10000 {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The value of a `resourceFieldRef` (`limits.cpu`, `requests.memory`,
/// `limits.hugepages-2Mi`, ...) for container `container` of `pod`.
pub fn resource_value(
    pod: &Value,
    container: &str,
    resource: &str,
    divisor: Option<&Value>,
    node_allocatable: &Value,
) -> Result<String, VolumeError> {
    let spec = &pod["spec"];
    let c = ["containers", "initContainers"]
        .iter()
        .filter_map(|list| spec.get(list).and_then(Value::as_array))
        .flatten()
        .find(|c| c.get("name").and_then(Value::as_str) == Some(container))
        .ok_or_else(|| VolumeError::ContainerNotFound(container.to_string()))?;
    let divisor = match divisor.filter(|d| !d.is_null()) {
        Some(d) => Quantity::from_json(d)?,
        None => Quantity::parse("1")?,
    };
    let divisor = if divisor.is_zero() {
        Quantity::parse("1")?
    } else {
        divisor
    };
    let (section, name) = resource
        .split_once('.')
        .ok_or_else(|| VolumeError::UnsupportedResource(resource.to_string()))?;
    let known =
        matches!(name, "cpu" | "memory" | "ephemeral-storage") || name.starts_with("hugepages-");
    if !matches!(section, "limits" | "requests") || !known {
        return Err(VolumeError::UnsupportedResource(resource.to_string()));
    }
    let mut amount = c["resources"][section].get(name);
    // The kubelet fills unset limits with the node's allocatable amount before evaluating.
    if section == "limits" && amount.is_none() && !name.starts_with("hugepages-") {
        amount = node_allocatable.get(name);
    }
    let amount = match amount {
        Some(v) => Quantity::from_json(v)?,
        None => Quantity::parse("0")?,
    };
    let v = if name == "cpu" {
        ceil_div(amount.milli_value(), divisor.milli_value())
    } else {
        ceil_div(amount.value(), divisor.value())
    };
    Ok(v.to_string())
}

fn ceil_div(a: i64, b: i64) -> i64 {
    if b == 0 {
        return 0;
    }
    let q = a / b;
    if a % b != 0 && (a > 0) == (b > 0) {
        q + 1
    } else {
        q
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod() -> Value {
        json!({
            "metadata": {"name": "web", "namespace": "prod", "uid": "u-1",
                "labels": {"tier": "front", "app": "web"},
                "annotations": {"note": "say \"hi\"\nbye", "b": "\\"}},
            "spec": {"containers": [
                {"name": "app", "resources": {"limits": {"memory": "64Mi", "cpu": "250m"},
                                              "requests": {"cpu": "100m", "memory": "32Mi"}}},
                {"name": "side"}
            ]}
        })
    }

    #[test]
    fn metadata_fields_are_formatted_like_kubernetes() {
        let p = pod();
        assert_eq!(field_value(&p, "metadata.name").unwrap(), "web");
        assert_eq!(field_value(&p, "metadata.namespace").unwrap(), "prod");
        assert_eq!(field_value(&p, "metadata.uid").unwrap(), "u-1");
        assert_eq!(
            field_value(&p, "metadata.labels").unwrap(),
            "app=\"web\"\ntier=\"front\""
        );
        assert_eq!(
            field_value(&p, "metadata.annotations").unwrap(),
            "b=\"\\\\\"\nnote=\"say \\\"hi\\\"\\nbye\""
        );
        assert_eq!(field_value(&p, "metadata.labels['tier']").unwrap(), "front");
        assert_eq!(field_value(&p, "metadata.labels['none']").unwrap(), "");
        assert_eq!(
            field_value(&p, "spec.bogus").unwrap_err().to_string(),
            "unsupported fieldPath: spec.bogus"
        );
    }

    #[test]
    fn resource_refs_use_divisor_and_node_allocatable() {
        let p = pod();
        let alloc = json!({"cpu": "2", "memory": "4Gi"});
        let r = |c: &str, res: &str, d: Option<Value>| {
            resource_value(&p, c, res, d.as_ref(), &alloc).unwrap()
        };
        assert_eq!(r("app", "limits.cpu", None), "1");
        assert_eq!(r("app", "limits.cpu", Some(json!("1m"))), "250");
        assert_eq!(r("app", "requests.cpu", Some(json!("1m"))), "100");
        assert_eq!(r("app", "limits.memory", None), (64u64 << 20).to_string());
        assert_eq!(r("app", "limits.memory", Some(json!("1Mi"))), "64");
        assert_eq!(r("app", "requests.memory", Some(json!("1Mi"))), "32");
        assert_eq!(r("side", "limits.cpu", None), "2");
        assert_eq!(r("side", "limits.memory", Some(json!("1Gi"))), "4");
        assert_eq!(r("side", "requests.cpu", None), "0");
        assert!(resource_value(&p, "nope", "limits.cpu", None, &alloc).is_err());
        assert!(resource_value(&p, "app", "limits.gpu", None, &alloc).is_err());
    }

    #[test]
    fn volume_payload_collects_items() {
        let src = json!({"defaultMode": 0o444, "items": [
            {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
            {"path": "./sub/name", "fieldRef": {"fieldPath": "metadata.name"}, "mode": 0o400},
            {"path": "mem", "resourceFieldRef": {"containerName": "app", "resource": "limits.memory", "divisor": "1Mi"}}
        ]});
        let p = downward_payload(&pod(), &src, &json!({})).unwrap();
        assert_eq!(p["labels"].data, b"app=\"web\"\ntier=\"front\"");
        assert_eq!(p["labels"].mode, 0o444);
        assert_eq!(
            p["sub/name"],
            FileProjection {
                data: b"web".to_vec(),
                mode: 0o400
            }
        );
        assert_eq!(p["mem"].data, b"64");
    }
}
