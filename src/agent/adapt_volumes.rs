//! [`Volumes`] over the volume plugins (`kedge_storage`): one directory per volume under
//! `<data>/agent/pods/<uid>/volumes`, payloads of configMap/secret/downwardAPI/projected
//! written atomically on every sync, subPaths resolved beneath the volume root.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::deps::{DepError, DepResult, ObjectSource, SubPathReq, VolumePaths, Volumes};
use super::node::SharedFacts;
use kedge_storage::{Plugin, VolumeHost};

pub struct VolumeAdapter {
    pub host: VolumeHost,
    pub facts: SharedFacts,
}

fn err(e: impl std::fmt::Display) -> DepError {
    DepError::new(e.to_string())
}

impl VolumeAdapter {
    fn allocatable(&self) -> Value {
        let f = self.facts.read().unwrap_or_else(|e| e.into_inner());
        json!({"cpu": format!("{}m", f.alloc_milli_cpu), "memory": f.alloc_memory.to_string(),
               "ephemeral-storage": f.alloc_ephemeral.to_string()})
    }
}

impl Volumes for VolumeAdapter {
    fn setup(
        &self,
        pod: &Value,
        _pod_dir: &Path,
        fs_group: Option<u32>,
        objects: &dyn ObjectSource,
    ) -> DepResult<VolumePaths> {
        let uid = pod
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap_or("");
        let ns = pod
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("default");
        let alloc = self.allocatable();
        let mut out = VolumePaths::new();
        for v in pod
            .pointer("/spec/volumes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = v.get("name").and_then(Value::as_str).unwrap_or("");
            let fail = |e: &dyn std::fmt::Display| {
                DepError::new(format!(
                    "MountVolume.SetUp failed for volume \"{name}\" : {e}"
                ))
            };
            let projection = |plugin: Plugin, payload: kedge_storage::Payload| {
                self.host
                    .setup_projection(uid, plugin, name, &payload, fs_group)
                    .map(|p| p.path)
            };
            let path = if let Some(src) = v.get("emptyDir") {
                self.host.setup_empty_dir(uid, name, src, fs_group)
            } else if let Some(src) = v.get("hostPath") {
                kedge_storage::setup_host_path(src)
            } else if let Some(src) = v.get("configMap") {
                let n = src.get("name").and_then(Value::as_str).unwrap_or("");
                let cm = objects.configmap(ns, n);
                kedge_storage::configmap_payload(cm.as_ref(), src)
                    .and_then(|p| projection(Plugin::ConfigMap, p))
            } else if let Some(src) = v.get("secret") {
                let n = src.get("secretName").and_then(Value::as_str).unwrap_or("");
                let s = objects.secret(ns, n);
                kedge_storage::secret_payload(s.as_ref(), src)
                    .and_then(|p| projection(Plugin::Secret, p))
            } else if let Some(src) = v.get("downwardAPI") {
                kedge_storage::downward_payload(pod, src, &alloc)
                    .and_then(|p| projection(Plugin::DownwardApi, p))
            } else if let Some(src) = v.get("projected") {
                let cm = |n: &str| objects.configmap(ns, n);
                let sec = |n: &str| objects.secret(ns, n);
                let inputs = kedge_storage::ProjectedInputs {
                    pod,
                    config_map: &cm,
                    secret: &sec,
                    node_allocatable: &alloc,
                    token: None,
                    fs_group,
                };
                kedge_storage::projected_payload(src, &inputs)
                    .and_then(|p| projection(Plugin::Projected, p))
            } else {
                return Err(fail(&"unsupported volume type"));
            };
            out.insert(name.to_string(), path.map_err(|e| fail(&e))?);
        }
        Ok(out)
    }

    fn teardown(&self, pod_uid: &str, _pod_dir: &Path) -> DepResult<()> {
        self.host.teardown_pod(pod_uid).map_err(err)
    }

    fn sub_path(&self, m: &SubPathReq<'_>) -> DepResult<PathBuf> {
        self.host
            .mount_subpath(
                m.pod_uid,
                m.volume,
                m.volume_root,
                m.sub_path,
                m.container,
                m.index,
            )
            .map_err(err)
    }
}
