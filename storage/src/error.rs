//! The crate's error type: every public entry point returns `VolumeError`.
//!
//! Messages follow the kubelet's wording where Kubernetes users know it (hostPath type checks,
//! missing keys, subPath escapes) so events shown by `kubectl describe` read the same.

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// A hostPath `type` check failed; the message is Kubernetes' own.
    #[error("hostPath type check failed: {path} is not {what}")]
    HostPathType { path: PathBuf, what: &'static str },
    #[error("{0} is an invalid volume type")]
    InvalidHostPathType(String),
    /// An API object the volume needs is missing and the volume is not optional.
    #[error("{kind} \"{name}\" not found")]
    NotFound { kind: &'static str, name: String },
    /// `items` names a key that the configMap/secret does not have.
    #[error("{kind} references non-existent {key_kind} key: {key}")]
    MissingKey {
        kind: &'static str,
        key_kind: &'static str,
        key: String,
    },
    #[error("invalid volume source: {0}")]
    InvalidSource(String),
    #[error("invalid payload path {path:?}: {why}")]
    InvalidPath { path: String, why: &'static str },
    #[error("unsupported fieldPath: {0}")]
    UnsupportedFieldPath(String),
    #[error("unsupported container resource : {0}")]
    UnsupportedResource(String),
    #[error("invalid quantity {0:?}")]
    InvalidQuantity(String),
    #[error("container {0:?} not found in pod")]
    ContainerNotFound(String),
    #[error("subPath {sub_path:?} escapes the volume")]
    SubPathEscape { sub_path: String },
    #[error("subPath {sub_path:?} is invalid: {why}")]
    SubPathInvalid { sub_path: String, why: &'static str },
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("mounts remain under {path}: {remaining:?}")]
    MountsRemain {
        path: PathBuf,
        remaining: Vec<PathBuf>,
    },
}

impl VolumeError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| VolumeError::Io { op, path, source }
    }
}
