//! `VolumeHost`: where each pod's volumes live on the node and their lifecycle.
//!
//! Layout under `pods_dir` (`<data>/agent/pods`):
//! ```text
//! <uid>/volumes/kubernetes.io~<plugin>/<name>        one directory (or tmpfs) per volume
//! <uid>/volume-subpaths/<volume>/<container>/<index> bind mounts of resolved subPaths
//! ```
//! Invariants: every mount this crate makes is below `<pods_dir>/<uid>`; `teardown_pod`
//! unmounts all of them (whatever the mount table lists there) before deleting anything, and
//! the deletion never descends into a mount point, so a forgotten bind mount can never make it
//! delete files of the host or of another volume. Setup is idempotent (the kubelet calls it on
//! every sync, and again after a restart).

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::atomic_writer::write_payload;
use crate::empty_dir::{EmptyDirSpec, Medium};
use crate::ownership::apply_fs_group;
use crate::payload::Payload;
use crate::subpath::resolve_subpath;
use crate::{mountinfo, sys, VolumeError};

/// Volume plugins, named as the kubelet names their directories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Plugin {
    EmptyDir,
    HostPath,
    ConfigMap,
    Secret,
    DownwardApi,
    Projected,
}

impl Plugin {
    /// `kubernetes.io~empty-dir`, `kubernetes.io~configmap`, ...
    pub fn dir_name(self) -> &'static str {
        match self {
            Plugin::EmptyDir => "kubernetes.io~empty-dir",
            Plugin::HostPath => "kubernetes.io~host-path",
            Plugin::ConfigMap => "kubernetes.io~configmap",
            Plugin::Secret => "kubernetes.io~secret",
            Plugin::DownwardApi => "kubernetes.io~downward-api",
            Plugin::Projected => "kubernetes.io~projected",
        }
    }

    /// Whether the payload lives in memory only: secrets (and volumes that may carry secrets
    /// or tokens) never touch the disk, as in Kubernetes.
    pub fn on_tmpfs(self) -> bool {
        matches!(
            self,
            Plugin::Secret | Plugin::DownwardApi | Plugin::Projected
        )
    }
}

/// The result of writing a configMap/secret/downwardAPI/projected volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Projection {
    pub path: PathBuf,
    /// False when the payload was already up to date (nothing was written).
    pub changed: bool,
}

#[derive(Debug, Clone)]
pub struct VolumeHost {
    /// `<data>/agent/pods`.
    pub pods_dir: PathBuf,
    /// The mount table to consult, `/proc/self/mountinfo` outside tests.
    pub mountinfo: PathBuf,
}

impl VolumeHost {
    pub fn new(pods_dir: impl Into<PathBuf>) -> VolumeHost {
        VolumeHost {
            pods_dir: pods_dir.into(),
            mountinfo: PathBuf::from("/proc/self/mountinfo"),
        }
    }

    pub fn pod_dir(&self, pod_uid: &str) -> PathBuf {
        self.pods_dir.join(pod_uid)
    }

    /// `<pods_dir>/<uid>/volumes/kubernetes.io~<plugin>/<name>`.
    pub fn volume_dir(&self, pod_uid: &str, plugin: Plugin, name: &str) -> PathBuf {
        self.pod_dir(pod_uid)
            .join("volumes")
            .join(plugin.dir_name())
            .join(name)
    }

    /// `<pods_dir>/<uid>/volume-subpaths/<volume>/<container>/<index>`.
    pub fn subpath_dir(
        &self,
        pod_uid: &str,
        volume: &str,
        container: &str,
        index: usize,
    ) -> PathBuf {
        self.pod_dir(pod_uid)
            .join("volume-subpaths")
            .join(volume)
            .join(container)
            .join(index.to_string())
    }

    /// Pod uids that have a directory here (to find orphans after a restart).
    pub fn pods(&self) -> Vec<String> {
        let mut uids: Vec<String> = fs::read_dir(&self.pods_dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .collect();
        uids.sort();
        uids
    }

    /// Sets up emptyDir `name` from the pod's `volume.emptyDir` and returns its path. Memory
    /// volumes are a tmpfs limited to `sizeLimit`. `fs_group` is applied when first created.
    pub fn setup_empty_dir(
        &self,
        pod_uid: &str,
        name: &str,
        source: &serde_json::Value,
        fs_group: Option<u32>,
    ) -> Result<PathBuf, VolumeError> {
        let spec = EmptyDirSpec::from_json(source)?;
        let dir = self.volume_dir(pod_uid, Plugin::EmptyDir, name);
        let created = ensure_dir(&dir)?;
        let fresh = match spec.medium {
            Medium::Memory if !self.is_mount_point(&dir)? => {
                sys::mount_tmpfs(&dir, spec.size_limit, 0o1777)
                    .map_err(VolumeError::io("mount tmpfs on", &dir))?;
                true
            }
            Medium::Memory => false,
            Medium::Disk => {
                if created {
                    set_mode(&dir, 0o777)?;
                }
                created
            }
        };
        if let (true, Some(gid)) = (fresh, fs_group) {
            apply_fs_group(&dir, gid, false).map_err(VolumeError::io("set fsGroup on", &dir))?;
        }
        Ok(dir)
    }

    /// Writes a configMap/secret/downwardAPI/projected volume atomically (see
    /// `atomic_writer`). Secret, downwardAPI and projected volumes are on a tmpfs.
    pub fn setup_projection(
        &self,
        pod_uid: &str,
        plugin: Plugin,
        name: &str,
        payload: &Payload,
        fs_group: Option<u32>,
    ) -> Result<Projection, VolumeError> {
        let dir = self.volume_dir(pod_uid, plugin, name);
        let created = ensure_dir(&dir)?;
        if plugin.on_tmpfs() {
            if !self.is_mount_point(&dir)? {
                sys::mount_tmpfs(&dir, None, 0o1777)
                    .map_err(VolumeError::io("mount tmpfs on", &dir))?;
            }
        } else if created {
            set_mode(&dir, 0o777)?;
        }
        if let Some(gid) = fs_group {
            sys::lchown_group(&dir, gid).map_err(VolumeError::io("set fsGroup on", &dir))?;
        }
        let changed = write_payload(&dir, payload, fs_group)?;
        Ok(Projection { path: dir, changed })
    }

    /// Resolves `sub_path` safely inside `volume_root` and bind-mounts it at a stable path
    /// for container `container`'s `index`-th volume mount; returns that path, to be used as
    /// the bind source in the container spec. Idempotent: an existing bind is reused.
    pub fn mount_subpath(
        &self,
        pod_uid: &str,
        volume: &str,
        volume_root: &Path,
        sub_path: &str,
        container: &str,
        index: usize,
    ) -> Result<PathBuf, VolumeError> {
        let target = self.subpath_dir(pod_uid, volume, container, index);
        if target.exists() && self.is_mount_point(&target)? {
            return Ok(target);
        }
        let resolved = resolve_subpath(volume_root, sub_path)?;
        let parent = target.parent().expect("subpath target has a parent");
        fs::create_dir_all(parent).map_err(VolumeError::io("create directory", parent))?;
        // The mount point must be of the same kind as what is mounted on it.
        if let Ok(meta) = fs::symlink_metadata(&target) {
            if meta.is_dir() != resolved.is_dir {
                remove_dir_or_file(&target)?;
            }
        }
        if resolved.is_dir {
            ensure_dir(&target)?;
        } else if !target.exists() {
            fs::File::create(&target).map_err(VolumeError::io("create file", &target))?;
        }
        sys::bind_fd(&resolved.fd, &target)
            .map_err(VolumeError::io("bind mount subPath at", &target))?;
        Ok(target)
    }

    /// Unmounts and removes one volume of a pod (e.g. when it leaves the pod spec).
    pub fn teardown_volume(
        &self,
        pod_uid: &str,
        plugin: Plugin,
        name: &str,
    ) -> Result<(), VolumeError> {
        self.unmount_and_remove(&self.volume_dir(pod_uid, plugin, name))
    }

    /// Unmounts everything below the pod's directory (tmpfs volumes, subPath binds) and removes
    /// the directory. Idempotent; fails without deleting anything if a mount cannot be removed.
    pub fn teardown_pod(&self, pod_uid: &str) -> Result<(), VolumeError> {
        if pod_uid.is_empty() || pod_uid.contains('/') || pod_uid == "." || pod_uid == ".." {
            return Err(VolumeError::InvalidSource(format!(
                "invalid pod uid {pod_uid:?}"
            )));
        }
        self.unmount_and_remove(&self.pod_dir(pod_uid))
    }

    fn unmount_and_remove(&self, dir: &Path) -> Result<(), VolumeError> {
        let canonical = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        let mut remaining = Vec::new();
        // A few rounds: unmounting a mount can reveal one stacked below it.
        for _ in 0..8 {
            remaining = mountinfo::mounts_under(&self.mountinfo, &canonical)
                .map_err(VolumeError::io("read", &self.mountinfo))?;
            if remaining.is_empty() {
                break;
            }
            for m in &remaining {
                if let Err(e) = sys::unmount(m) {
                    // EINVAL: no longer a mount point (a parent's detach took it along).
                    if rustix::io::Errno::from_io_error(&e) != Some(rustix::io::Errno::INVAL) {
                        return Err(VolumeError::io("unmount", m)(e));
                    }
                }
            }
        }
        if !remaining.is_empty() {
            return Err(VolumeError::MountsRemain {
                path: canonical,
                remaining,
            });
        }
        let root_mnt = match sys::mount_id(&canonical) {
            Ok(id) => id,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(VolumeError::io("stat", canonical)(e)),
        };
        remove_tree(&canonical, root_mnt)
    }

    fn is_mount_point(&self, path: &Path) -> Result<bool, VolumeError> {
        let canonical = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        mountinfo::is_mount_point(&self.mountinfo, &canonical)
            .map_err(VolumeError::io("read", &self.mountinfo))
    }
}

/// Creates `dir` with parents; returns whether it did not exist before.
fn ensure_dir(dir: &Path) -> Result<bool, VolumeError> {
    if dir.is_dir() {
        return Ok(false);
    }
    fs::create_dir_all(dir).map_err(VolumeError::io("create directory", dir))?;
    Ok(true)
}

fn set_mode(path: &Path, mode: u32) -> Result<(), VolumeError> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(VolumeError::io("chmod", path))
}

fn remove_dir_or_file(path: &Path) -> Result<(), VolumeError> {
    let res = if fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
        fs::remove_dir(path)
    } else {
        fs::remove_file(path)
    };
    res.map_err(VolumeError::io("remove", path))
}

/// Removes `path` recursively, refusing to enter anything on another mount than `mnt`.
fn remove_tree(path: &Path, mnt: u64) -> Result<(), VolumeError> {
    let here = sys::mount_id(path).map_err(VolumeError::io("stat", path))?;
    if here != mnt {
        return Err(VolumeError::MountsRemain {
            path: path.to_path_buf(),
            remaining: vec![path.to_path_buf()],
        });
    }
    let meta = fs::symlink_metadata(path).map_err(VolumeError::io("stat", path))?;
    if meta.is_dir() {
        for entry in fs::read_dir(path).map_err(VolumeError::io("read", path))? {
            let entry = entry.map_err(VolumeError::io("read", path))?;
            remove_tree(&entry.path(), mnt)?;
        }
    }
    remove_dir_or_file(path)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::payload::FileProjection;

    #[test]
    fn paths_follow_the_kubelet_layout() {
        let h = VolumeHost::new("/var/lib/kedge/agent/pods");
        assert_eq!(
            h.volume_dir("u1", Plugin::ConfigMap, "cfg"),
            Path::new("/var/lib/kedge/agent/pods/u1/volumes/kubernetes.io~configmap/cfg")
        );
        assert_eq!(
            h.subpath_dir("u1", "data", "app", 2),
            Path::new("/var/lib/kedge/agent/pods/u1/volume-subpaths/data/app/2")
        );
    }

    #[test]
    fn disk_volumes_and_teardown_without_mounts() {
        let t = tempfile::tempdir().unwrap();
        let h = VolumeHost::new(t.path().join("pods"));
        let dir = h.setup_empty_dir("u1", "cache", &json!({}), None).unwrap();
        assert_eq!(
            fs::metadata(&dir).unwrap().permissions().mode() & 0o7777,
            0o777
        );
        fs::write(dir.join("f"), "x").unwrap();
        let payload: Payload = [(
            "k".to_string(),
            FileProjection {
                data: b"v".to_vec(),
                mode: 0o644,
            },
        )]
        .into();
        let p = h
            .setup_projection("u1", Plugin::ConfigMap, "cfg", &payload, None)
            .unwrap();
        assert!(p.changed);
        assert_eq!(fs::read_to_string(p.path.join("k")).unwrap(), "v");
        assert!(
            !h.setup_projection("u1", Plugin::ConfigMap, "cfg", &payload, None)
                .unwrap()
                .changed
        );
        assert_eq!(h.pods(), vec!["u1".to_string()]);
        h.teardown_volume("u1", Plugin::ConfigMap, "cfg").unwrap();
        assert!(!p.path.exists());
        h.teardown_pod("u1").unwrap();
        assert!(!h.pod_dir("u1").exists());
        h.teardown_pod("u1").unwrap();
        assert!(h.teardown_pod("..").is_err());
    }
}
