//! Projected volumes: the union of secret, configMap, downwardAPI and serviceAccountToken
//! sources in one directory, following the kubelet's `collectData`. Every source uses the
//! projection's `defaultMode`; a token file is `0600` when an fsGroup is set (the ownership
//! pass then makes it `0640`). The kubelet supplies object lookups and the token.

use serde_json::Value;

use crate::downward;
use crate::payload::{default_mode, make_payload, FileProjection, Payload};
use crate::VolumeError;

/// What a projected volume needs from the kubelet.
pub struct ProjectedInputs<'a> {
    /// The Pod object (downwardAPI sources).
    pub pod: &'a Value,
    /// ConfigMap of the pod's namespace by name; None when it does not exist.
    pub config_map: &'a dyn Fn(&str) -> Option<Value>,
    /// Secret of the pod's namespace by name; None when it does not exist.
    pub secret: &'a dyn Fn(&str) -> Option<Value>,
    /// The node's `status.allocatable` (downward API limits of containers without limits).
    pub node_allocatable: &'a Value,
    /// The service account token for `serviceAccountToken` sources.
    pub token: Option<&'a str>,
    /// The pod's `securityContext.fsGroup`, which changes the token file mode.
    pub fs_group: Option<u32>,
}

/// Payload of a projected volume; `source` is the pod's `volume.projected`
/// (`sources`, `defaultMode`). Later sources overwrite earlier ones on the same path.
pub fn projected_payload(source: &Value, inputs: &ProjectedInputs) -> Result<Payload, VolumeError> {
    let mode = default_mode(source)?;
    let mut payload = Payload::new();
    let sources = source
        .get("sources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    for s in sources {
        if let Some(src) = s.get("secret") {
            let name = src.get("name").and_then(Value::as_str).unwrap_or_default();
            let obj = (inputs.secret)(name);
            payload.extend(make_payload("secret", obj.as_ref(), src, mode)?);
        } else if let Some(src) = s.get("configMap") {
            let name = src.get("name").and_then(Value::as_str).unwrap_or_default();
            let obj = (inputs.config_map)(name);
            payload.extend(make_payload("configmap", obj.as_ref(), src, mode)?);
        } else if let Some(src) = s.get("downwardAPI") {
            payload.extend(downward::collect(
                inputs.pod,
                src,
                inputs.node_allocatable,
                mode,
            )?);
        } else if let Some(src) = s.get("serviceAccountToken") {
            let path = src.get("path").and_then(Value::as_str).ok_or_else(|| {
                VolumeError::InvalidSource("serviceAccountToken without path".to_string())
            })?;
            let token = inputs.token.ok_or_else(|| {
                VolumeError::InvalidSource("no service account token available".to_string())
            })?;
            let mode = if inputs.fs_group.is_some() {
                0o600
            } else {
                mode
            };
            payload.insert(
                path.to_string(),
                FileProjection {
                    data: token.as_bytes().to_vec(),
                    mode,
                },
            );
        } else {
            return Err(VolumeError::InvalidSource(format!(
                "unsupported projected source: {s}"
            )));
        }
    }
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn combines_all_sources_like_a_service_account_volume() {
        let pod = json!({"metadata": {"name": "p", "namespace": "ns"}, "spec": {"containers": []}});
        let cm = |n: &str| (n == "kube-root-ca.crt").then(|| json!({"data": {"ca.crt": "CERT"}}));
        let secret = |n: &str| (n == "s").then(|| json!({"data": {"k": "dg=="}}));
        let inputs = ProjectedInputs {
            pod: &pod,
            config_map: &cm,
            secret: &secret,
            node_allocatable: &json!({}),
            token: Some("TOKEN"),
            fs_group: None,
        };
        let src = json!({"defaultMode": 0o420, "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}]}},
            {"secret": {"name": "s", "items": [{"key": "k", "path": "k", "mode": 0o400}]}},
            {"secret": {"name": "missing", "optional": true}}
        ]});
        let p = projected_payload(&src, &inputs).unwrap();
        assert_eq!(p.len(), 4);
        assert_eq!(
            p["token"],
            FileProjection {
                data: b"TOKEN".to_vec(),
                mode: 0o420
            }
        );
        assert_eq!(p["ca.crt"].data, b"CERT");
        assert_eq!(p["namespace"].data, b"ns");
        assert_eq!(
            p["k"],
            FileProjection {
                data: b"v".to_vec(),
                mode: 0o400
            }
        );

        let with_group = ProjectedInputs {
            fs_group: Some(2000),
            ..inputs
        };
        assert_eq!(
            projected_payload(&src, &with_group).unwrap()["token"].mode,
            0o600
        );
        let bad = json!({"sources": [{"secret": {"name": "missing"}}]});
        assert_eq!(
            projected_payload(&bad, &with_group)
                .unwrap_err()
                .to_string(),
            "secrets \"missing\" not found"
        );
    }
}
