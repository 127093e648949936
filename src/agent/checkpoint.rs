//! Per-pod checkpoint: which runtime containers belong to which container of a pod, so an
//! agent that restarts re-adopts running containers instead of starting new ones, and reports
//! exits that happened while it was down.
//!
//! Contract: JSON at `<data>/agent/pods/<uid>/checkpoint`, written atomically (temp file +
//! rename) after every container start or exit.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("checkpoint {path}: {source}")]
    Decode {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CtrEntry {
    pub name: String,
    pub init: bool,
    /// Runtime id of the current instance.
    pub id: String,
    pub restart_count: u32,
    pub log_path: PathBuf,
    #[serde(default)]
    pub previous_log_path: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub uid: String,
    pub namespace: String,
    pub name: String,
    pub start_time: Option<i64>,
    pub pod_ips: Vec<String>,
    pub containers: Vec<CtrEntry>,
}

pub fn path(pod_dir: &Path) -> PathBuf {
    pod_dir.join("checkpoint")
}

pub fn save(pod_dir: &Path, c: &Checkpoint) -> Result<(), CheckpointError> {
    let p = path(pod_dir);
    let io = |source| CheckpointError::Io {
        path: p.clone(),
        source,
    };
    std::fs::create_dir_all(pod_dir).map_err(io)?;
    let tmp = pod_dir.join(".checkpoint.tmp");
    let bytes = serde_json::to_vec_pretty(c).unwrap_or_default();
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, &p).map_err(io)
}

/// `Ok(None)` when the pod has no checkpoint.
pub fn load(pod_dir: &Path) -> Result<Option<Checkpoint>, CheckpointError> {
    let p = path(pod_dir);
    match std::fs::read(&p) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|source| CheckpointError::Decode { path: p, source }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CheckpointError::Io { path: p, source }),
    }
}

/// Uids of every pod with a directory under `pods_dir`.
pub fn known_pods(pods_dir: &Path) -> Vec<String> {
    std::fs::read_dir(pods_dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_lists_pods() {
        let d = tempfile::tempdir().unwrap();
        let pod_dir = d.path().join("pods/u1");
        assert!(load(&pod_dir).unwrap().is_none());
        let c = Checkpoint {
            uid: "u1".into(),
            namespace: "ns".into(),
            name: "p".into(),
            start_time: Some(5),
            pod_ips: vec!["10.42.0.3".into()],
            containers: vec![CtrEntry {
                name: "app".into(),
                id: "abc".into(),
                restart_count: 2,
                ..Default::default()
            }],
        };
        save(&pod_dir, &c).unwrap();
        assert_eq!(load(&pod_dir).unwrap(), Some(c));
        assert_eq!(known_pods(&d.path().join("pods")), ["u1"]);
    }
}
