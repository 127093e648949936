//! Volume payloads (relative path → bytes + mode) and the builders for configMap and secret
//! volumes, following the kubelet's `MakePayload`: without `items` every key becomes a file with
//! `defaultMode`; with `items` only the listed keys are projected, to their `path`, with the
//! item's `mode` or `defaultMode`; a listed key that is missing is an error unless the volume
//! is `optional`. A missing object is an empty volume when `optional`, an error otherwise.

use std::collections::BTreeMap;
use std::path::{Component, Path};

use base64::Engine as _;
use serde_json::Value;

use crate::VolumeError;

/// Kubernetes' default file mode for configMap, secret, downwardAPI and projected volumes.
pub const DEFAULT_MODE: u32 = 0o644;

/// One file of a payload.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileProjection {
    pub data: Vec<u8>,
    /// Permission bits (`0o644`); only `0o7777` is honoured.
    pub mode: u32,
}

/// Relative path (e.g. `key`, `dir/key`) → file. Paths are validated by the atomic writer.
pub type Payload = BTreeMap<String, FileProjection>;

/// One `items[]` entry of a configMap/secret/downwardAPI source.
pub(crate) struct KeyToPath {
    pub key: String,
    pub path: String,
    pub mode: Option<u32>,
}

/// Lexical cleaning like Go's `filepath.Clean` for a relative payload path (`./a//b/` → `a/b`);
/// `..` is kept so that validation can reject it.
pub(crate) fn clean_path(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in Path::new(path).components() {
        match c {
            Component::Normal(p) => parts.push(p.to_str().unwrap_or_default()),
            Component::ParentDir => parts.push(".."),
            Component::RootDir => parts.push(""),
            _ => {}
        }
    }
    parts.join("/")
}

pub(crate) fn mode_of(v: &Value, field: &str) -> Result<Option<u32>, VolumeError> {
    match v.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(m) => m
            .as_u64()
            .filter(|m| *m <= 0o7777)
            .map(|m| Some(m as u32))
            .ok_or_else(|| VolumeError::InvalidSource(format!("{field} {m} is not a file mode"))),
    }
}

pub(crate) fn default_mode(source: &Value) -> Result<u32, VolumeError> {
    Ok(mode_of(source, "defaultMode")?.unwrap_or(DEFAULT_MODE))
}

pub(crate) fn optional(source: &Value) -> bool {
    source
        .get("optional")
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

pub(crate) fn items(source: &Value) -> Result<Vec<KeyToPath>, VolumeError> {
    let Some(list) = source.get("items").and_then(Value::as_array) else {
        return Ok(Vec::new());
    };
    list.iter()
        .map(|item| {
            let s = |f: &str| {
                item.get(f)
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .ok_or_else(|| VolumeError::InvalidSource(format!("item without {f}: {item}")))
            };
            Ok(KeyToPath {
                key: s("key")?,
                path: s("path")?,
                mode: mode_of(item, "mode")?,
            })
        })
        .collect()
}

/// Key → decoded bytes of a configMap (`data` as UTF-8, `binaryData` base64) or a secret
/// (`data` base64; `stringData` too, in case an object was stored without folding it).
fn object_data(kind: &'static str, obj: &Value) -> Result<BTreeMap<String, Vec<u8>>, VolumeError> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let decode = |key: &str, v: &Value| -> Result<Vec<u8>, VolumeError> {
        let s = v.as_str().unwrap_or_default();
        b64.decode(s).map_err(|e| {
            VolumeError::InvalidSource(format!("{kind} key {key}: invalid base64: {e}"))
        })
    };
    let mut out = BTreeMap::new();
    let map = |f: &str| obj.get(f).and_then(Value::as_object).into_iter().flatten();
    if kind == "configmap" {
        for (k, v) in map("data") {
            out.insert(
                k.clone(),
                v.as_str().unwrap_or_default().as_bytes().to_vec(),
            );
        }
        for (k, v) in map("binaryData") {
            out.insert(k.clone(), decode(k, v)?);
        }
    } else {
        for (k, v) in map("data") {
            out.insert(k.clone(), decode(k, v)?);
        }
        for (k, v) in map("stringData") {
            out.insert(
                k.clone(),
                v.as_str().unwrap_or_default().as_bytes().to_vec(),
            );
        }
    }
    Ok(out)
}

/// The shared part of configMap and secret payloads; `default_mode` is passed in because
/// projected volumes use the projection's `defaultMode`, not the source's.
pub(crate) fn make_payload(
    kind: &'static str,
    obj: Option<&Value>,
    source: &Value,
    default_mode: u32,
) -> Result<Payload, VolumeError> {
    let optional = optional(source);
    let name = source
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let data = match obj {
        Some(obj) => object_data(kind, obj)?,
        None if optional => BTreeMap::new(),
        None => {
            let kind = if kind == "configmap" {
                "configmaps"
            } else {
                "secrets"
            };
            return Err(VolumeError::NotFound {
                kind,
                name: name.to_string(),
            });
        }
    };
    let mappings = items(source)?;
    let mut payload = Payload::new();
    if mappings.is_empty() {
        for (k, v) in data {
            payload.insert(
                k,
                FileProjection {
                    data: v,
                    mode: default_mode,
                },
            );
        }
        return Ok(payload);
    }
    for ktp in mappings {
        let Some(bytes) = data.get(&ktp.key) else {
            if optional {
                continue;
            }
            let key_kind = if kind == "configmap" {
                "config"
            } else {
                "secret"
            };
            return Err(VolumeError::MissingKey {
                kind,
                key_kind,
                key: ktp.key,
            });
        };
        payload.insert(
            ktp.path,
            FileProjection {
                data: bytes.clone(),
                mode: ktp.mode.unwrap_or(default_mode),
            },
        );
    }
    Ok(payload)
}

/// Payload of a configMap volume. `cm` is the ConfigMap object (None when it does not exist);
/// `source` is the pod's `volume.configMap` (`name`, `items`, `defaultMode`, `optional`).
pub fn configmap_payload(cm: Option<&Value>, source: &Value) -> Result<Payload, VolumeError> {
    make_payload("configmap", cm, source, default_mode(source)?)
}

/// Payload of a secret volume. `secret` is the Secret object (None when it does not exist);
/// `source` is the pod's `volume.secret` (`secretName`, `items`, `defaultMode`, `optional`).
pub fn secret_payload(secret: Option<&Value>, source: &Value) -> Result<Payload, VolumeError> {
    // The volume source names the secret `secretName`; normalise to `name` for the shared code.
    let mut src = source.clone();
    if let (Some(obj), Some(n)) = (src.as_object_mut(), source.get("secretName").cloned()) {
        obj.insert("name".into(), n);
    }
    make_payload("secret", secret, &src, default_mode(source)?)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn file(data: &str, mode: u32) -> FileProjection {
        FileProjection {
            data: data.as_bytes().to_vec(),
            mode,
        }
    }

    #[test]
    fn configmap_all_keys_with_default_mode() {
        let cm = json!({"data": {"a": "1", "b.conf": "x=y"}, "binaryData": {"bin": "AAEC"}});
        let p = configmap_payload(Some(&cm), &json!({"name": "cm"})).unwrap();
        assert_eq!(p["a"], file("1", 0o644));
        assert_eq!(p["b.conf"], file("x=y", 0o644));
        assert_eq!(p["bin"].data, vec![0, 1, 2]);
        let p = configmap_payload(Some(&cm), &json!({"name": "cm", "defaultMode": 0o400})).unwrap();
        assert_eq!(p["a"].mode, 0o400);
    }

    #[test]
    fn configmap_items_and_modes() {
        let cm = json!({"data": {"a": "1", "b": "2"}});
        let src = json!({"name": "cm", "defaultMode": 0o440,
            "items": [{"key": "a", "path": "dir/a.txt", "mode": 0o600}, {"key": "b", "path": "b"}]});
        let p = configmap_payload(Some(&cm), &src).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p["dir/a.txt"], file("1", 0o600));
        assert_eq!(p["b"], file("2", 0o440));
    }

    #[test]
    fn missing_objects_and_keys() {
        let err = configmap_payload(None, &json!({"name": "cm"})).unwrap_err();
        assert_eq!(err.to_string(), "configmaps \"cm\" not found");
        assert!(
            configmap_payload(None, &json!({"name": "cm", "optional": true}))
                .unwrap()
                .is_empty()
        );
        let cm = json!({"data": {"a": "1"}});
        let src = json!({"name": "cm", "items": [{"key": "zz", "path": "z"}]});
        let err = configmap_payload(Some(&cm), &src).unwrap_err();
        assert_eq!(
            err.to_string(),
            "configmap references non-existent config key: zz"
        );
        let mut opt = src.clone();
        opt["optional"] = json!(true);
        assert!(configmap_payload(Some(&cm), &opt).unwrap().is_empty());
        let err = secret_payload(None, &json!({"secretName": "s"})).unwrap_err();
        assert_eq!(err.to_string(), "secrets \"s\" not found");
        let err = secret_payload(
            Some(&json!({})),
            &json!({"secretName": "s", "items": [{"key": "k", "path": "k"}]}),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "secret references non-existent secret key: k"
        );
    }

    #[test]
    fn secret_data_is_base64() {
        let s = json!({"data": {"password": "aHVudGVyMg=="}});
        let p = secret_payload(Some(&s), &json!({"secretName": "s"})).unwrap();
        assert_eq!(p["password"], file("hunter2", 0o644));
        let bad = json!({"data": {"k": "!!"}});
        assert!(secret_payload(Some(&bad), &json!({"secretName": "s"})).is_err());
    }
}
