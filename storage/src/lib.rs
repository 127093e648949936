//! kedge-storage: the node agent's volume plugins. The kubelet resolves API objects and calls
//! in with plain data (JSON values of the pod's volume sources and of the referenced objects);
//! this crate never talks to the API server and never runs the `mount` binary: mounts go
//! through the mount(2) wrappers in `sys`.
//!
//! Contract for the kubelet:
//! - [`VolumeHost`] (rooted at `<data>/agent/pods`) owns `<uid>/volumes/kubernetes.io~<plugin>/<name>`
//!   and `<uid>/volume-subpaths/...`; [`VolumeHost::teardown_pod`] leaves no mount behind.
//! - emptyDir: [`VolumeHost::setup_empty_dir`] (disk directory or sized tmpfs) and [`usage`].
//! - hostPath: [`setup_host_path`] / [`check_host_path`] run Kubernetes' `type` checks.
//! - configMap / secret / downwardAPI / projected: build a [`Payload`] with
//!   [`configmap_payload`], [`secret_payload`], [`downward_payload`], [`projected_payload`],
//!   then [`VolumeHost::setup_projection`] writes it with the kubelet's atomic-writer layout
//!   (`..data` symlink swap), on tmpfs for everything but configMap. Call it on every sync:
//!   unchanged payloads are not rewritten.
//! - subPath: [`VolumeHost::mount_subpath`] resolves beneath the volume root with openat2 and
//!   bind-mounts the result to a stable path to use as the container's bind source.
//! - [`field_value`] / [`resource_value`] are the downward API evaluators, also usable for env.
//!
//! Everything here is blocking (filesystem and mount syscalls): call it from
//! `blocking::unblock` when on the async executor.

mod atomic_writer;
mod downward;
mod empty_dir;
mod error;
mod host;
mod host_path;
pub mod mountinfo;
mod ownership;
mod payload;
mod projected;
mod quantity;
#[cfg(test)]
mod root_tests;
mod subpath;
mod sys;

pub use atomic_writer::write_payload;
pub use downward::{downward_payload, field_value, resource_value};
pub use empty_dir::{usage, EmptyDirSpec, Medium};
pub use error::VolumeError;
pub use host::{Plugin, Projection, VolumeHost};
pub use host_path::{check_host_path, setup_host_path, HostPathType};
pub use ownership::apply_fs_group;
pub use payload::{configmap_payload, secret_payload, FileProjection, Payload, DEFAULT_MODE};
pub use projected::{projected_payload, ProjectedInputs};
pub use quantity::Quantity;
pub use subpath::{resolve_subpath, SubPathMount};
